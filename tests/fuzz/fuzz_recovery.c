/* fuzz_recovery.c: opening a data directory after a crash: recovery's segment scan, the
 * sealed-segment index check, truncation after a tear, and a clean reopen.
 *
 * Input: a flags byte, then up to three files split at FZ_SEP: segment 0's .log, segment 0's
 * .index, segment 1's .log (its base offset taken from the flags). Unless flag bit 0 is set,
 * the CRC of every whole batch is patched, so the scan's offset and length rules get fuzzed.
 * After the open every record the log serves must be whole, valid batches with consecutive
 * offsets; a clean close and reopen (indexes trusted, no scan) must serve the same range. */
#include "base/loop.h"
#include "fuzz_fs.h"
#include "storage/log.h"
#include "storage/store.h"

static struct loop loop;

static void finding(const char *what) {
    fprintf(stderr, "fuzz_recovery: %s\n", what);
    abort();
}

/* Reads the whole log back: every batch passes kafka_batch_check and offsets follow on. */
static void read_all(struct log *g) {
    int64_t at = log_start_offset(g), end = log_written_offset(g);
    for (int guard = 0; at < end; guard++) {
        if (guard > 100000) finding("reading the log does not end");
        struct log_span sp;
        if (log_read(g, at, 1u << 20, &sp) != SL_OK) finding("a recovered offset cannot be read");
        if (sp.len == 0) finding("an empty read before the end");
        uint8_t *buf = malloc(sp.len);
        if (pread(sp.fd, buf, sp.len, (off_t)sp.pos) != (ssize_t)sp.len) finding("short read");
        uint32_t off = 0;
        int64_t expect = sp.base_offset;
        while (off < sp.len) {
            struct kafka_batch_header h;
            if (sp.len - off < KAFKA_BATCH_HEADER_BYTES ||
                kafka_batch_header_read(buf + off, sp.len - off, &h) != SL_OK)
                finding("a span holds a broken batch header");
            uint32_t blen = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
            if (blen > sp.len - off || kafka_batch_check(buf + off, blen, NULL) != SL_OK)
                finding("recovery kept a batch that does not check");
            if (h.base_offset != expect) finding("recovered offsets are not consecutive");
            expect = kafka_batch_last_offset(&h) + 1;
            off += blen;
        }
        if (expect != sp.next_offset) finding("a span's next offset is not its last batch's");
        free(buf);
        at = sp.next_offset;
        log_span_release(&sp);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t flags = data[0];
    const uint8_t *part[3];
    size_t len[3];
    size_t n = fz_split(data + 1, size - 1, part, len, 3);
    const char *dir = fz_scratch();
    char ldir[300], path[400];
    snprintf(ldir, sizeof(ldir), "%s/t-0", dir);
    if (mkdir(ldir, 0755) != 0) abort();
    int64_t base1 = 1 + (flags >> 2);
    for (size_t i = 0; i < n; i++) {
        uint8_t *f = malloc(len[i] ? len[i] : 1);
        if (len[i]) memcpy(f, part[i], len[i]);
        if (i != 1 && !(flags & 1)) fz_fix_crcs(f, len[i]);
        if (i == 0) snprintf(path, sizeof(path), "%s/%020d.log", ldir, 0);
        else if (i == 1) snprintf(path, sizeof(path), "%s/%020d.index", ldir, 0);
        else snprintf(path, sizeof(path), "%s/%020lld.log", ldir, (long long)base1);
        fz_write(path, f, len[i]);
        free(f);
    }
    if (flags & 2) {
        snprintf(path, sizeof(path), "%s/start_offset", ldir);
        char s[32];
        int k = snprintf(s, sizeof(s), "%d\n", flags >> 3);
        fz_write(path, s, (size_t)k);
    }
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.preallocate_bytes = 0;
    struct store *st;
    if (store_open(&st, &loop, dir, &cfg, NULL) != SL_OK) return 0;
    struct log *g = store_log_get(st, "t", 0);
    if (!g) finding("the partition is gone after recovery");
    int64_t start = log_start_offset(g), end = log_written_offset(g);
    read_all(g);
    if (store_close(st) != SL_OK) finding("a recovered store does not close cleanly");
    if (store_open(&st, &loop, dir, &cfg, NULL) != SL_OK) finding("a clean store does not reopen");
    g = store_log_get(st, "t", 0);
    if (!g || log_start_offset(g) != start || log_written_offset(g) != end)
        finding("a clean reopen serves another range");
    read_all(g);
    store_close(st);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (loop_init(&loop, 64) != 0) abort();
    return 0;
}
