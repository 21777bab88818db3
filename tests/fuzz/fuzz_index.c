/* fuzz_index.c: the .index and .timeindex reader of a sealed segment (storage/index.c).
 *
 * Input: a flags byte, then the .index file, FZ_SEP, the .timeindex file. Unless flag bit 0 is
 * set the xxhash64 trailers are patched to match, so the checks behind the checksum get fuzzed.
 * Whatever loads is looked up, truncated, saved and loaded again: the second load must give
 * the same entries. */
#include <xxhash.h>

#include "fuzz_fs.h"
#include "storage/index.h"

static void fix_xxh(uint8_t *p, size_t n) {
    if (n >= 8) sl_store_be64(p + n - 8, XXH64(p, n - 8, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t flags = data[0];
    const uint8_t *part[2];
    size_t len[2];
    size_t n = fz_split(data + 1, size - 1, part, len, 2);
    const char *dir = fz_scratch();
    char stem[300], path[320];
    snprintf(stem, sizeof(stem), "%s/00000000000000000000", dir);
    for (size_t i = 0; i < n; i++) {
        uint8_t *f = malloc(len[i] ? len[i] : 1);
        if (len[i]) memcpy(f, part[i], len[i]);
        if (!(flags & 1)) fix_xxh(f, len[i]);
        snprintf(path, sizeof(path), "%s%s", stem, i ? ".timeindex" : ".index");
        fz_write(path, f, len[i]);
        free(f);
    }
    struct seg_index ix, ix2;
    index_init(&ix);
    index_init(&ix2);
    uint64_t bytes, bytes2;
    int64_t next, next2, at;
    if (index_load(&ix, stem, 0, &bytes, &next) == SL_OK) {
        int64_t probe = (int64_t)(flags >> 1) * 97;
        index_lookup(&ix, 0, probe, &at);
        index_time_lookup(&ix, 0, probe);
        index_last_pos_within(&ix, (uint64_t)probe, (uint64_t)probe * 3);
        if (flags & 0x80) index_truncate(&ix, (uint64_t)probe);
        char stem2[320];
        snprintf(stem2, sizeof(stem2), "%s/copy-00000000000000000000", dir);
        if (index_save(NULL, &ix, stem2, 0, bytes, next) == SL_OK) {
            if (index_load(&ix2, stem2, 0, &bytes2, &next2) != SL_OK || bytes2 != bytes || next2 != next ||
                ix2.off_count != ix.off_count || ix2.time_count != ix.time_count ||
                (ix.off_count && memcmp(ix.off, ix2.off, ix.off_count * sizeof(*ix.off))) ||
                (ix.time_count && memcmp(ix.time, ix2.time, ix.time_count * sizeof(*ix.time)))) {
                fprintf(stderr, "fuzz_index: a saved index does not load back the same\n");
                abort();
            }
        }
    }
    index_free(&ix);
    index_free(&ix2);
    return 0;
}
