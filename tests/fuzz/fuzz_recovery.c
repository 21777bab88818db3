/* fuzz_recovery.c: opening a data directory after a crash: recovery's segment scan, the
 * sealed-segment index check, truncation after a tear, and a clean reopen.
 *
 * Input: a flags byte, then up to three files split at FZ_SEP: segment 0's .log, segment 0's
 * .index, segment 1's .log (its base offset taken from the flags). Unless flag bit 0 is set,
 * the CRC of every whole batch is patched, so the scan's offset and length rules get fuzzed.
 * After the open every record the log serves must be whole, valid batches with consecutive
 * offsets; a clean close and reopen (indexes trusted, no scan) must serve the same range.
 *
 * That is the FUZZ_WHOLE_STORE=1 mode (fuzz_store.h). By default only segment 0 is used and
 * scanned from memory (recovery_scan_mem, the walk store_open runs on a file): the prefix it
 * keeps must be whole batches that check, with consecutive offsets from the base taken from
 * the flags; past it, only zero fill may follow the data end it reports; every index entry it
 * built must point at one of those batches. */
#include "fuzz_fs.h"
#include "fuzz_store.h"
#include "storage/index.h"
#include "storage/log.h"
#include "storage/store.h"

static void finding(const char *what) {
    fprintf(stderr, "fuzz_recovery: %s\n", what);
    abort();
}

/* Reads the whole log back: every batch passes the log's batch check (kafka_batch_check_log:
 * compaction thins batches) and offsets rise (compaction leaves gaps, never overlaps). */
static void read_all(struct log *g) {
    int64_t at = log_start_offset(g), end = log_written_offset(g);
    for (int guard = 0; at < end; guard++) {
        if (guard > 100000) finding("reading the log does not end");
        struct log_span sp;
        if (log_read(g, at, 1u << 20, &sp) != SL_OK) finding("a recovered offset cannot be read");
        if (sp.len == 0 && sp.base_offset >= end) break; /* only emptied batches were left */
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
            if (blen > sp.len - off || kafka_batch_check_log(buf + off, blen, NULL) != SL_OK)
                finding("recovery kept a batch that does not check");
            if (h.base_offset < expect) finding("recovered offsets go back");
            expect = kafka_batch_last_offset(&h) + 1;
            off += blen;
        }
        if (expect != sp.next_offset) finding("a span's next offset is not its last batch's");
        free(buf);
        at = sp.next_offset;
        log_span_release(&sp);
    }
}

/* The memory mode: the scan of segment 0 and what it kept. */
static void scan_mem(uint8_t flags, const uint8_t *p, size_t n) {
    uint8_t *f = malloc(n ? n : 1);
    if (n) memcpy(f, p, n);
    if (!(flags & 1)) fz_fix_crcs(f, n);
    int64_t base = (int64_t)(flags >> 1) * 1000;
    struct seg_index ix;
    index_init(&ix);
    int64_t next;
    uint64_t data_end;
    /* A small interval, so even short inputs get several index entries. */
    uint64_t valid = recovery_scan_mem(f, n, base, &ix, 64, &next, &data_end);
    if (valid > n || data_end < valid || data_end > n) finding("the scan reports positions outside the segment");
    for (uint64_t i = data_end; i < n; i++)
        if (f[i]) finding("a non-zero byte after the reported data end");
    if (data_end > valid && !f[data_end - 1]) finding("the reported data end is not after a non-zero byte");
    uint64_t pos = 0;
    int64_t expect = base;
    uint32_t e = 0;
    while (pos < valid) {
        struct kafka_batch_header h;
        if (valid - pos < KAFKA_BATCH_HEADER_BYTES || kafka_batch_header_read(f + pos, valid - pos, &h) != SL_OK)
            finding("the scan kept a broken batch header");
        uint64_t blen = (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        if (blen > valid - pos || kafka_batch_check_log(f + pos, (size_t)blen, NULL) != SL_OK)
            finding("the scan kept a batch that does not check");
        if (h.base_offset < expect) finding("the scan kept offsets that go back");
        /* Index entries are batch starts, in order. */
        while (e < ix.off_count && ix.off[e].pos < pos) finding("an index entry inside a batch");
        if (e < ix.off_count && ix.off[e].pos == pos) {
            if ((int64_t)ix.off[e].offset_delta + base != h.base_offset) finding("an index entry names another offset");
            e++;
        }
        expect = kafka_batch_last_offset(&h) + 1;
        pos += blen;
    }
    if (e != ix.off_count) finding("an index entry past the kept batches");
    if (expect != next) finding("the scan's next offset is not its last batch's");
    index_free(&ix);
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t flags = data[0];
    const uint8_t *part[3];
    size_t len[3];
    size_t n = fz_split(data + 1, size - 1, part, len, 3);
    if (!fz_whole_store) {
        sl_log_level_max = SL_LOG_ERROR;
        scan_mem(flags, part[0], len[0]);
        return 0;
    }
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
    if (store_open(&st, &fz_loop, dir, &cfg, NULL) != SL_OK) return 0;
    struct log *g = store_log_get(st, "t", 0);
    if (!g) finding("the partition is gone after recovery");
    int64_t start = log_start_offset(g), end = log_written_offset(g);
    read_all(g);
    if (store_close(st) != SL_OK) finding("a recovered store does not close cleanly");
    if (store_open(&st, &fz_loop, dir, &cfg, NULL) != SL_OK) finding("a clean store does not reopen");
    g = store_log_get(st, "t", 0);
    if (!g || log_start_offset(g) != start || log_written_offset(g) != end)
        finding("a clean reopen serves another range");
    read_all(g);
    store_close(st);
    return 0;
}
