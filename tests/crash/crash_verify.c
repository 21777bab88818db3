/* crash_verify.c: the judge of the kill -9 crash test (see kill9_append.sh).
 *
 *   crash_verify [--no-close] DIR SEED LAST_DURABLE_NEXT [REPORT_FILE]
 *   crash_verify --print-batch SEED OFFSET
 *
 * Opens the store at DIR, which runs recovery as a broker restart would, then reads the whole
 * partition through log_read and pread and holds it to three promises:
 *   - every batch is byte-for-byte the deterministic batch for its base offset (crash_batch.h),
 *     and offsets run contiguously from 0: nothing torn, reordered or invented is visible;
 *   - the log reaches LAST_DURABLE_NEXT, and every "durable B N ok" line of REPORT_FILE names
 *     exactly one stored batch [B, N): nothing reported durable was lost;
 *   - the .log files hold exactly the verified bytes: recovery left no tail behind.
 * Prints "verify: end E batches B bytes Y clean C scanned S dropped D" and exits 0, or prints
 * the first violation and exits 1 without closing the store, so the directory stays as found.
 * --no-close exits without store_close, so no clean marker is written and the next open
 * recovers again; otherwise the store is closed cleanly. --print-batch writes the batch that
 * belongs at OFFSET to stdout, which the driver uses to fake torn and orphaned writes. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/loop.h"
#include "crash_batch.h"
#include "storage/log.h"
#include "storage/store.h"

#define VERIFY_READ_BYTES (1u << 20)
#define VERIFY_SPANS_MAX 10000000
#define VERIFY_REPORT_LINES_MAX 100000000

/* Batch boundaries seen, in order: bases[i] is batch i's base, bases[count] the end. */
struct bounds {
    int64_t *bases;
    size_t count, cap;
};

static void bounds_push(struct bounds *b, int64_t v) {
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4096;
        b->bases = realloc(b->bases, b->cap * sizeof(*b->bases));
        if (!b->bases) abort();
    }
    b->bases[b->count++] = v;
}

/* Index of v among the boundaries, or -1. */
static ssize_t bounds_find(const struct bounds *b, int64_t v) {
    size_t lo = 0, hi = b->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->bases[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo < b->count && b->bases[lo] == v ? (ssize_t)lo : -1;
}

/* A violation: say what and where, then leave without touching the directory again. */
static void bad(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "verify: FAIL: ");
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    va_end(ap);
    fflush(stdout);
    _exit(1);
}

static int print_batch(uint64_t seed, int64_t offset) {
    static uint8_t batch[CRASH_BATCH_BYTES_MAX];
    uint32_t len = crash_batch_build(batch, sizeof(batch), seed, offset);
    if (len == 0) return 2;
    return fwrite(batch, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 2;
}

/* Checks the n bytes at buf, read from file position pos, as whole batches starting at *at. */
static void check_span(const uint8_t *buf, uint32_t n, uint64_t pos, uint64_t seed, int64_t *at,
                       struct bounds *b) {
    static uint8_t want[CRASH_BATCH_BYTES_MAX];
    uint32_t off = 0;
    while (off < n) {
        struct kafka_batch_header h;
        if (kafka_batch_header_read(buf + off, n - off, &h) != SL_OK)
            bad("offset %lld: unreadable batch header at file position %llu", (long long)*at,
                (unsigned long long)(pos + off));
        uint64_t len = (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        if (len > n - off)
            bad("offset %lld: batch of %llu bytes runs past its span (%u left)", (long long)*at,
                (unsigned long long)len, n - off);
        if (h.base_offset != *at)
            bad("expected a batch at offset %lld, found base offset %lld (file position %llu)",
                (long long)*at, (long long)h.base_offset, (unsigned long long)(pos + off));
        uint32_t wlen = crash_batch_build(want, sizeof(want), seed, *at);
        if (wlen != len)
            bad("offset %lld: batch is %llu bytes, the deterministic one %u", (long long)*at,
                (unsigned long long)len, wlen);
        if (memcmp(buf + off, want, wlen) != 0) {
            uint32_t i = 0;
            while (i < wlen && buf[off + i] == want[i]) i++;
            bad("offset %lld: byte %u of the %u-byte batch differs (0x%02x, want 0x%02x; file "
                "position %llu)", (long long)*at, i, wlen, buf[off + i], want[i],
                (unsigned long long)(pos + off + i));
        }
        bounds_push(b, *at);
        *at = kafka_batch_last_offset(&h) + 1;
        off += (uint32_t)len;
    }
}

/* Every reported durable batch must be a stored batch with exactly those bounds. */
static uint64_t check_report(const char *path, const struct bounds *b) {
    FILE *f = fopen(path, "r");
    if (!f) bad("cannot open report %s: %s", path, strerror(errno));
    char line[256];
    uint64_t lines = 0;
    for (uint64_t i = 0; i < VERIFY_REPORT_LINES_MAX && fgets(line, sizeof(line), f); i++) {
        long long base, next;
        char tail[8];
        /* A line the kill cut short lacks "ok\n"; it promised nothing. */
        if (sscanf(line, "durable %lld %lld %7s", &base, &next, tail) != 3 || strcmp(tail, "ok") != 0 ||
            !strchr(line, '\n'))
            continue;
        ssize_t k = bounds_find(b, base);
        if (k < 0 || (size_t)k + 1 >= b->count || b->bases[k + 1] != next)
            bad("reported durable batch [%lld, %lld) is not in the log (end %lld)", base, next,
                (long long)b->bases[b->count - 1]);
        lines++;
    }
    fclose(f);
    return lines;
}

/* Sum of the partition's .log file sizes. */
static uint64_t log_files_bytes(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) bad("cannot list %s: %s", dir, strerror(errno));
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".log") != 0) continue;
        char path[4400];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &sb) != 0) bad("cannot stat %s: %s", path, strerror(errno));
        total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--print-batch") == 0)
        return print_batch(strtoull(argv[2], NULL, 10), strtoll(argv[3], NULL, 10));
    bool no_close = argc > 1 && strcmp(argv[1], "--no-close") == 0;
    int a = no_close ? 2 : 1;
    if (argc - a < 3 || argc - a > 4) {
        fprintf(stderr, "usage: crash_verify [--no-close] DIR SEED LAST_DURABLE_NEXT [REPORT_FILE]\n"
                        "       crash_verify --print-batch SEED OFFSET\n");
        return 2;
    }
    const char *dir = argv[a];
    uint64_t seed = strtoull(argv[a + 1], NULL, 10);
    int64_t last_durable = strtoll(argv[a + 2], NULL, 10);
    const char *report = argc - a == 4 ? argv[a + 3] : NULL;

    struct loop loop;
    int r = loop_init(&loop, 256);
    if (r < 0) {
        fprintf(stderr, "crash_verify: io_uring unavailable: %s\n", strerror(-r));
        return 77;
    }
    struct log_config cfg;
    crash_log_config(&cfg, CRASH_SEGMENT_BYTES_DEFAULT); /* it never appends: any size does */
    struct store *st;
    sl_err e = store_open(&st, &loop, dir, &cfg, NULL);
    if (e) bad("store_open: %s", sl_err_str(e));
    const struct store_stats *ss = store_get_stats(st);
    struct log *g = store_log_get(st, CRASH_TOPIC, CRASH_PARTITION);
    struct bounds b = {0};
    int64_t at = 0;
    uint64_t bytes = 0;
    if (g) {
        if (log_start_offset(g) != 0) bad("start offset %lld, want 0", (long long)log_start_offset(g));
        uint8_t *buf = NULL;
        uint32_t cap = 0;
        for (uint32_t i = 0;; i++) {
            if (i == VERIFY_SPANS_MAX) bad("more than %u spans: log_read does not advance", i);
            struct log_span sp;
            e = log_read(g, at, VERIFY_READ_BYTES, &sp);
            if (e) bad("log_read at %lld: %s", (long long)at, sl_err_str(e));
            if (sp.len == 0) {
                log_span_release(&sp);
                break;
            }
            if (sp.base_offset != at)
                bad("log_read at %lld returned a span starting at %lld", (long long)at, (long long)sp.base_offset);
            if (sp.len > cap) {
                cap = sp.len;
                buf = realloc(buf, cap);
                if (!buf) abort();
            }
            ssize_t got = pread(sp.fd, buf, sp.len, (off_t)sp.pos);
            if (got != (ssize_t)sp.len)
                bad("pread of %u bytes at %llu returned %zd", sp.len, (unsigned long long)sp.pos, got);
            check_span(buf, sp.len, sp.pos, seed, &at, &b);
            if (at != sp.next_offset)
                bad("span [%lld, %lld) holds batches up to %lld", (long long)sp.base_offset,
                    (long long)sp.next_offset, (long long)at);
            bytes += sp.len;
            log_span_release(&sp);
        }
        free(buf);
        if (log_end_offset(g) != at || log_written_offset(g) != at)
            bad("read ended at %lld but end offset is %lld, written %lld", (long long)at,
                (long long)log_end_offset(g), (long long)log_written_offset(g));
        struct log_span past;
        if (log_read(g, at + 1, VERIFY_READ_BYTES, &past) != SL_OFFSET_OUT_OF_RANGE)
            bad("log_read past the end (%lld) did not fail", (long long)(at + 1));
        uint64_t on_disk = log_files_bytes(log_dir(g));
        if (on_disk != bytes)
            bad(".log files hold %llu bytes, the log %llu: a tail survived recovery",
                (unsigned long long)on_disk, (unsigned long long)bytes);
    }
    bounds_push(&b, at); /* the end, so the last batch has a successor boundary */
    if (at < last_durable)
        bad("log ends at %lld but offsets up to %lld were reported durable", (long long)at,
            (long long)last_durable);
    if (bounds_find(&b, last_durable) < 0)
        bad("reported durable end %lld is not a batch boundary", (long long)last_durable);
    uint64_t reported = report ? check_report(report, &b) : 0;

    printf("verify: end %lld batches %zu bytes %llu reported %llu clean %d scanned %llu dropped %llu\n",
           (long long)at, b.count - 1, (unsigned long long)bytes, (unsigned long long)reported,
           ss->clean, (unsigned long long)ss->scanned_bytes, (unsigned long long)ss->truncated_bytes);
    fflush(stdout);
    free(b.bases);
    if (no_close) _exit(0);
    e = store_close(st);
    loop_close(&loop);
    if (e) bad("store_close: %s", sl_err_str(e));
    return 0;
}
