/* storage_bench.c: append throughput of the storage engine (MB/s, batches/s, CPU) for several
 * batch sizes under each durability policy, next to raw baselines measured in the same run:
 * plain sequential pwrite of the same bytes to a fresh file, without and with an fdatasync
 * per write. Prints a Markdown table and the two targets of the storage issue; --json also
 * writes the cells as JSON. Every cell gets a fresh directory under --dir, removed afterwards,
 * so no cell reads or writes another's file. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/loop.h"
#include "protocol/kafka_batch.h"
#include "storage/log.h"
#include "storage/store.h"

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

#define SIZES_MAX 16
#define REPEAT_MAX 15
#define RING_SLOTS 64              /* copies of the batch the producer cycles through */
#define WINDOW_BATCHES_MAX 256     /* appends not yet completed, like a producer's in-flight cap */
#define WINDOW_BYTES_DEFAULT (64 * MIB)
#define RECORD_VALUE_BYTES 1024    /* batches are made of ~1 KiB records */
#define FSYNC_EACH_SECONDS_MAX 2.0 /* one fdatasync per batch is slow; cap those cells harder */
#define FSYNC_EACH_BATCHES_MAX 2000
#define FLUSH_TIMEOUT_MS 60000
#define STUCK_SECONDS 120.0        /* past the cell's time: something is wrong, not just slow */

enum cell_kind { CELL_RAW_BUFFERED, CELL_RAW_FSYNC_EACH, CELL_SLUICE_NONE, CELL_SLUICE_GROUP,
                 CELL_SLUICE_APPEND, CELL_KINDS };

static const char *const cell_names[CELL_KINDS] = {"raw-buffered", "raw-fsync-each", "sluice-none",
                                                   "sluice-group", "sluice-append"};

struct cell_result {
    bool ran;
    uint64_t bytes, batches;
    double seconds, cpu_seconds;
};

struct opts {
    const char *dir;
    double seconds;
    uint64_t bytes_max;
    uint64_t window_bytes;
    uint32_t repeat;
    uint64_t sizes[SIZES_MAX];
    uint32_t size_count;
    bool policy_on[3]; /* indexed by enum log_durability */
    const char *json_path;
    bool check;
    bool warm; /* see warm_page_cache */
};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "storage_bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double mono_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system time of the whole process. io_uring's io-wq workers are threads of this
 * process, so work the kernel punts to them is counted too. */
static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) die("getrusage: %s", strerror(errno));
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* "16K", "1M", "1GiB", "4096": binary units, since batch sizes are powers of two. */
static bool parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return false;
    uint64_t mult = 1;
    if (*end == 'K' || *end == 'k') mult = KIB;
    else if (*end == 'M' || *end == 'm') mult = MIB;
    else if (*end == 'G' || *end == 'g') mult = GIB;
    if (mult != 1) {
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0) end += strlen(end);
    }
    if (*end || v == 0 || v > UINT64_MAX / mult) return false;
    *out = v * mult;
    return true;
}

static void size_label(uint64_t n, char *out, size_t cap) {
    if (n >= MIB && n % MIB == 0) snprintf(out, cap, "%" PRIu64 " MiB", n / MIB);
    else if (n >= KIB && n % KIB == 0) snprintf(out, cap, "%" PRIu64 " KiB", n / KIB);
    else snprintf(out, cap, "%" PRIu64 " B", n);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: sl_storage_bench [--dir DIR] [--seconds S] [--bytes-max B] [--sizes LIST]\n"
            "                        [--policies LIST] [--repeat N] [--window-bytes B]\n"
            "                        [--json FILE] [--check] [--no-warm]\n"
            "  --dir DIR        scratch directory on the disk under test (default ./bench-data)\n"
            "  --seconds S      time per cell (default 2; fsync-per-batch cells at most 2)\n"
            "  --bytes-max B    bytes per cell at most (default 1GiB, keeps the page cache from filling)\n"
            "  --sizes LIST     batch sizes, comma-separated (default 1K,16K,256K,1M)\n"
            "  --policies LIST  durability policies, comma-separated (default none,group,append)\n"
            "  --repeat N       runs per cell, the median (by MB/s) is reported (default 3)\n"
            "  --window-bytes B appended bytes not yet completed, at most (default 64MiB; and\n"
            "                   never more than 256 batches)\n"
            "  --json FILE      also write every cell as JSON\n"
            "  --check          exit 3 if a target is missed\n"
            "  --no-warm        skip the page-cache warm-up before buffered cells\n");
}

static void parse_args(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof(*o));
    o->dir = "./bench-data";
    o->seconds = 2.0;
    o->bytes_max = GIB;
    o->window_bytes = WINDOW_BYTES_DEFAULT;
    o->repeat = 3;
    o->warm = true;
    static const uint64_t default_sizes[] = {KIB, 16 * KIB, 256 * KIB, MIB};
    for (uint32_t i = 0; i < 4; i++) o->sizes[i] = default_sizes[i];
    o->size_count = 4;
    o->policy_on[LOG_DURABILITY_NONE] = o->policy_on[LOG_DURABILITY_GROUP] =
        o->policy_on[LOG_DURABILITY_APPEND] = true;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--check") == 0) {
            o->check = true;
            continue;
        }
        if (strcmp(a, "--no-warm") == 0) {
            o->warm = false;
            continue;
        }
        static const char *const with_value[] = {"--dir", "--seconds", "--bytes-max", "--sizes",
                                                 "--policies", "--repeat", "--window-bytes", "--json"};
        bool known = false;
        for (size_t j = 0; j < sizeof(with_value) / sizeof(with_value[0]); j++)
            known |= strcmp(a, with_value[j]) == 0;
        if (!known) {
            usage(stderr);
            die("unknown argument: %s", a);
        }
        if (i + 1 >= argc) die("%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--dir") == 0) {
            o->dir = v;
        } else if (strcmp(a, "--seconds") == 0) {
            char *end;
            o->seconds = strtod(v, &end);
            if (*end || !(o->seconds > 0 && o->seconds <= 3600)) die("bad --seconds: %s", v);
        } else if (strcmp(a, "--bytes-max") == 0) {
            if (!parse_size(v, &o->bytes_max)) die("bad --bytes-max: %s", v);
        } else if (strcmp(a, "--window-bytes") == 0) {
            if (!parse_size(v, &o->window_bytes)) die("bad --window-bytes: %s", v);
        } else if (strcmp(a, "--repeat") == 0) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (*end || n < 1 || n > REPEAT_MAX) die("bad --repeat (1..%d): %s", REPEAT_MAX, v);
            o->repeat = (uint32_t)n;
        } else if (strcmp(a, "--json") == 0) {
            o->json_path = v;
        } else if (strcmp(a, "--sizes") == 0 || strcmp(a, "--policies") == 0) {
            bool sizes = a[2] == 's';
            char buf[512];
            if (strlen(v) >= sizeof(buf)) die("list too long: %s", v);
            strcpy(buf, v);
            if (sizes) o->size_count = 0;
            else memset(o->policy_on, 0, sizeof(o->policy_on));
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (sizes) {
                    uint64_t n;
                    if (o->size_count == SIZES_MAX) die("too many sizes: %s", v);
                    /* The smallest v2 batch of one record is about 70 bytes; 1 GiB is the
                     * largest batch_bytes_max the log accepts. */
                    if (!parse_size(t, &n) || n < 128 || n > GIB) die("bad size: %s", t);
                    o->sizes[o->size_count++] = n;
                } else {
                    int p = log_durability_parse(t);
                    if (p < 0) die("bad policy (none, group, append): %s", t);
                    o->policy_on[p] = true;
                }
            }
            if (sizes && o->size_count == 0) die("empty --sizes: %s", v);
        }
    }
}

static uint64_t rng_next(uint64_t *s) {
    /* xorshift64: incompressible-looking values without a dependency. */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One valid v2 batch of exactly `size` bytes made of ~1 KiB records (one record for the
 * smallest sizes). The last record's value absorbs the difference; a varint boundary can make
 * that overshoot by a byte, which a shorter key then takes back. */
static uint8_t *make_batch(uint64_t size) {
    uint32_t n = (uint32_t)(size / (RECORD_VALUE_BYTES + 64));
    if (n == 0) n = 1;
    struct kafka_record_in *recs = calloc(n, sizeof(*recs));
    uint8_t *values = malloc(size);
    uint8_t *out = malloc(size);
    if (!recs || !values || !out) die("out of memory for a %" PRIu64 "-byte batch", size);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
    for (uint64_t i = 0; i < size; i++) values[i] = (uint8_t)rng_next(&seed);
    static const char key[] = "bench-key-000000";
    int64_t now = (int64_t)loop_clock_ms();
    uint64_t per = size / n;
    for (uint32_t i = 0; i < n; i++)
        recs[i] = (struct kafka_record_in){.key = key, .key_len = 16, .value = values,
                                           .value_len = (int32_t)(per > 100 ? per - 100 : 1),
                                           .timestamp_ms = now + i};
    struct kafka_record_in *last = &recs[n - 1];
    bool exact = false;
    for (int attempt = 0; attempt < 32 && !exact; attempt++) {
        size_t enc = kafka_batch_encoded_bytes_max(recs, n);
        if (enc == 0) die("cannot size a batch of %u records", n);
        if (enc == size) {
            exact = true;
        } else if (attempt % 4 == 3 && last->key_len > 0) {
            last->key_len--; /* stuck on a varint boundary: step off it */
        } else {
            int64_t v = (int64_t)last->value_len + ((int64_t)size - (int64_t)enc);
            if (v < 0 || (uint64_t)v > size) die("batch size %" PRIu64 " is too small", size);
            last->value_len = (int32_t)v;
        }
    }
    if (!exact) die("cannot build a batch of exactly %" PRIu64 " bytes", size);
    size_t got = kafka_batch_encode(out, size, recs, n, -1, -1, -1);
    if (got != size || kafka_batch_check(out, got, NULL) != SL_OK)
        die("kafka_batch_encode failed for %" PRIu64 " bytes", size);
    free(recs);
    free(values);
    return out;
}

/* RING_SLOTS copies of the batch, so the source bytes are not always hot in the cache (a
 * broker appends from request buffers that just came off sockets). */
static uint8_t *make_ring(uint64_t size) {
    uint8_t *one = make_batch(size);
    uint8_t *ring = malloc(size * RING_SLOTS);
    if (!ring) die("out of memory for the batch ring");
    for (uint32_t i = 0; i < RING_SLOTS; i++) memcpy(ring + i * size, one, size);
    free(one);
    return ring;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc != 0) fprintf(stderr, "storage_bench: cannot remove %s: %s\n", path, strerror(errno));
    return 0; /* keep going: a leftover file is worth a warning, not an aborted run */
}

static void rm_tree(const char *dir) {
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "storage_bench: cannot walk %s: %s\n", dir, strerror(errno));
}

static void make_cell_dir(const char *root, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/cell-XXXXXX", root);
    if (n < 0 || (size_t)n >= cap) die("--dir too long: %s", root);
    if (!mkdtemp(out)) die("mkdtemp under --dir: %s", strerror(errno));
}

/* Starts every cell from a quiet disk: dirty pages of the previous cell (or anything else)
 * must not be written back while this one is timed. Not part of any measurement. */
static void settle(void) { sync(); }

/* Buffered cells mostly measure page allocation. On a VM whose balloon reports free pages to
 * the host, a page the guest has not touched lately costs a host fault first: a 1 GiB write
 * runs at ~0.5 GB/s into such pages and ~5 GB/s into recently freed ones, which would make the
 * cell's outcome depend on what ran seconds before. Writing and deleting `bytes` just before
 * the cell leaves recently freed pages for the cell to take, as a long-running broker has. */
static void warm_page_cache(const char *dir, const uint8_t *ring, uint64_t size, uint64_t bytes) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/warm", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open warm-up file: %s", strerror(errno));
    uint64_t slots = RING_SLOTS * size;
    for (uint64_t pos = 0; pos < bytes;) {
        uint64_t n = bytes - pos < slots ? bytes - pos : slots;
        ssize_t w = pwrite(fd, ring, n, (off_t)pos);
        if (w <= 0) die("warm-up write: %s", w < 0 ? strerror(errno) : "wrote nothing");
        pos += (uint64_t)w;
    }
    if (close(fd) != 0 || unlink(path) != 0) die("warm-up file: %s", strerror(errno));
}

struct cell_caps {
    double seconds;
    uint64_t bytes_max;
    uint64_t batches_max;
};

static struct cell_caps caps_for(const struct opts *o, bool fsync_each) {
    struct cell_caps c = {o->seconds, o->bytes_max, UINT64_MAX};
    if (fsync_each) {
        if (c.seconds > FSYNC_EACH_SECONDS_MAX) c.seconds = FSYNC_EACH_SECONDS_MAX;
        c.batches_max = FSYNC_EACH_BATCHES_MAX;
    }
    return c;
}

static bool caps_reached(const struct cell_caps *c, double elapsed, uint64_t bytes, uint64_t batches) {
    return elapsed >= c->seconds || bytes >= c->bytes_max || batches >= c->batches_max;
}

static void run_raw(const struct opts *o, const uint8_t *ring, uint64_t size, bool fsync_each,
                    struct cell_result *r) {
    char dir[PATH_MAX], path[PATH_MAX + 16];
    make_cell_dir(o->dir, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/raw.log", dir);
    struct cell_caps caps = caps_for(o, fsync_each);
    settle();
    if (!fsync_each && o->warm) warm_page_cache(dir, ring, size, caps.bytes_max);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die("open raw file: %s", strerror(errno));

    double cpu0 = cpu_seconds(), t0 = mono_seconds(), elapsed = 0;
    uint64_t pos = 0, batches = 0;
    while (!caps_reached(&caps, elapsed, pos, batches)) {
        const uint8_t *src = ring + (batches % RING_SLOTS) * size;
        uint64_t done = 0;
        /* A regular file takes the whole write at once; the bound only guards a broken one. */
        for (int tries = 0; done < size; tries++) {
            if (tries == 1000) die("raw pwrite makes no progress");
            ssize_t n = pwrite(fd, src + done, size - done, (off_t)(pos + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) die("raw pwrite: %s", n < 0 ? strerror(errno) : "wrote nothing");
            done += (uint64_t)n;
        }
        if (fsync_each && fdatasync(fd) != 0) die("raw fdatasync: %s", strerror(errno));
        pos += size;
        batches++;
        elapsed = mono_seconds() - t0;
    }
    r->seconds = elapsed;
    r->cpu_seconds = cpu_seconds() - cpu0;
    r->bytes = pos;
    r->batches = batches;
    r->ran = true;
    if (close(fd) != 0) die("close raw file: %s", strerror(errno));
    rm_tree(dir);
}

struct bench_waiter {
    struct log_waiter w;
    uint32_t *outstanding;
    sl_err *err;
};

/* Zero-copy appends (log_append_ref) from the ring: a slot is rewritten only after the window
 * has moved past it, by which time its write completed, so there is nothing to release. */
static void bench_ref_release(struct log_ref *ref) { (void)ref; }
static struct log_ref bench_ref = {bench_ref_release};
#define ZERO_COPY_MIN_BYTES (64u << 10)

static void bench_waiter_done(struct log_waiter *w, sl_err e) {
    struct bench_waiter *b = (struct bench_waiter *)w;
    (*b->outstanding)--;
    if (e != SL_OK && *b->err == SL_OK) *b->err = e;
}

/* ring is not const: log_append rewrites each batch's base offset in place. */
static void run_sluice(const struct opts *o, uint8_t *ring, uint64_t size,
                       enum log_durability policy, struct cell_result *r) {
    char dir[PATH_MAX];
    make_cell_dir(o->dir, dir, sizeof(dir));
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.durability = policy;
    if (cfg.batch_bytes_max < size) cfg.batch_bytes_max = (uint32_t)size;
    const char *bad = log_config_invalid(&cfg);
    if (bad) die("log config: bad %s", bad);

    struct loop loop;
    int rc = loop_init(&loop, 256);
    if (rc < 0) die("loop_init (io_uring): %s", strerror(-rc));
    struct store *st;
    sl_err e = store_open(&st, &loop, dir, &cfg, NULL);
    if (e) die("store_open: %s", sl_err_str(e));
    struct log *g;
    e = store_log_create(st, "bench", 0, NULL, &g);
    if (e) die("store_log_create: %s", sl_err_str(e));

    /* The window is a ring: waiters fire in offset order, so slot (n % window) is free again
     * whenever fewer than window appends are outstanding. */
    uint32_t window = (uint32_t)(o->window_bytes / size > WINDOW_BATCHES_MAX ? WINDOW_BATCHES_MAX
                                                                              : o->window_bytes / size);
    if (window == 0) window = 1;
    /* Zero-copy needs a slot to outlive its write: never more outstanding than ring slots. */
    bool zero_copy = size >= ZERO_COPY_MIN_BYTES;
    if (zero_copy && window > RING_SLOTS) window = RING_SLOTS;
    struct bench_waiter *ws = calloc(window, sizeof(*ws));
    if (!ws) die("out of memory for waiters");
    uint32_t outstanding = 0;
    sl_err werr = SL_OK;
    for (uint32_t i = 0; i < window; i++) {
        ws[i].w.done = bench_waiter_done;
        ws[i].outstanding = &outstanding;
        ws[i].err = &werr;
    }
    bool durable = policy != LOG_DURABILITY_NONE;
    struct cell_caps caps = caps_for(o, policy == LOG_DURABILITY_APPEND);
    settle();
    if (policy == LOG_DURABILITY_NONE && o->warm) warm_page_cache(dir, ring, size, caps.bytes_max);

    double cpu0 = cpu_seconds(), t0 = mono_seconds(), elapsed = 0;
    uint64_t bytes = 0, batches = 0;
    while (!caps_reached(&caps, elapsed, bytes, batches)) {
        while (outstanding < window && !caps_reached(&caps, elapsed, bytes, batches)) {
            uint8_t *src = ring + (batches % RING_SLOTS) * size;
            int64_t base;
            outstanding++;
            e = zero_copy ? log_append_ref(g, src, (uint32_t)size, &base, &ws[batches % window].w, durable,
                                           &bench_ref)
                          : log_append(g, src, (uint32_t)size, &base, &ws[batches % window].w, durable);
            if (e) die("log_append: %s", sl_err_str(e));
            bytes += size;
            batches++;
        }
        /* Waits for at least one completion (or 1 ms): the writes and syncs of the window. */
        loop_run_once(&loop, 1);
        if (werr) die("append completed with an error: %s", sl_err_str(werr));
        elapsed = mono_seconds() - t0;
        if (elapsed > caps.seconds + STUCK_SECONDS)
            die("appends stopped completing (%u outstanding)", outstanding);
    }
    /* What was appended is only counted once it is written (none) or durable (group, append). */
    e = log_flush(g, durable, FLUSH_TIMEOUT_MS);
    if (e) die("log_flush: %s", sl_err_str(e));
    r->seconds = mono_seconds() - t0;
    r->cpu_seconds = cpu_seconds() - cpu0;
    r->bytes = bytes;
    r->batches = batches;
    r->ran = true;
    if (werr) die("append completed with an error: %s", sl_err_str(werr));
    if (outstanding != 0) die("%u waiters still outstanding after log_flush", outstanding);

    /* Deleting the log skips store_close's final fdatasync of possibly a GiB of page cache. */
    e = store_log_delete(st, g);
    if (e) die("store_log_delete: %s", sl_err_str(e));
    e = store_close(st);
    if (e) die("store_close: %s", sl_err_str(e));
    loop_close(&loop);
    free(ws);
    rm_tree(dir);
}

static double mb_per_s(const struct cell_result *r) {
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0;
}
static double batches_per_s(const struct cell_result *r) {
    return r->seconds > 0 ? (double)r->batches / r->seconds : 0;
}
static double cpu_pct(const struct cell_result *r) {
    return r->seconds > 0 ? 100.0 * r->cpu_seconds / r->seconds : 0;
}

static int cmp_mb_per_s(const void *a, const void *b) {
    double x = mb_per_s(a), y = mb_per_s(b);
    return (x > y) - (x < y);
}

/* The run with the median MB/s (the lower middle one for an even count): this machine's
 * throughput jumps between runs, and a median is robust to one odd run either way. */
static struct cell_result median_run(const struct cell_result *runs, uint32_t n) {
    struct cell_result sorted[REPEAT_MAX];
    memcpy(sorted, runs, n * sizeof(*runs));
    qsort(sorted, n, sizeof(*sorted), cmp_mb_per_s);
    return sorted[(n - 1) / 2];
}

/* Which raw cell a Sluice cell is compared with: the one with the same fsync behaviour. */
static int baseline_of(int k) {
    if (k == CELL_SLUICE_NONE) return CELL_RAW_BUFFERED;
    if (k == CELL_SLUICE_GROUP || k == CELL_SLUICE_APPEND) return CELL_RAW_FSYNC_EACH;
    return -1;
}

static double ratio(const struct cell_result *a, const struct cell_result *b) {
    double d = mb_per_s(b);
    return d > 0 ? mb_per_s(a) / d : 0;
}

static void write_json(const char *path, const struct opts *o, struct cell_result (*res)[CELL_KINDS]) {
    FILE *f = fopen(path, "w");
    if (!f) die("open --json file: %s", strerror(errno));
    fprintf(f,
            "{\"seconds\": %.3f, \"bytes_max\": %" PRIu64 ", \"window_bytes\": %" PRIu64
            ", \"repeat\": %u, \"warm\": %s, \"cells\": [",
            o->seconds, o->bytes_max, o->window_bytes, o->repeat, o->warm ? "true" : "false");
    bool first = true;
    for (uint32_t s = 0; s < o->size_count; s++) {
        for (int k = 0; k < CELL_KINDS; k++) {
            const struct cell_result *r = &res[s][k];
            if (!r->ran) continue;
            fprintf(f,
                    "%s\n  {\"batch_bytes\": %" PRIu64 ", \"policy\": \"%s\", \"bytes\": %" PRIu64
                    ", \"batches\": %" PRIu64 ", \"seconds\": %.6f, \"mb_per_s\": %.3f, "
                    "\"batches_per_s\": %.1f, \"cpu_pct\": %.1f",
                    first ? "" : ",", o->sizes[s], cell_names[k], r->bytes, r->batches, r->seconds,
                    mb_per_s(r), batches_per_s(r), cpu_pct(r));
            int b = baseline_of(k);
            if (b >= 0 && res[s][b].ran)
                fprintf(f, ", \"vs_baseline\": %.4f, \"baseline\": \"%s\"", ratio(r, &res[s][b]),
                        cell_names[b]);
            fprintf(f, "}");
            first = false;
        }
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) die("write --json file: %s", strerror(errno));
}

int main(int argc, char **argv) {
    struct opts o;
    parse_args(argc, argv, &o);
    if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) die("mkdir --dir: %s", strerror(errno));

    struct cell_result(*res)[CELL_KINDS] = calloc(o.size_count, sizeof(*res));
    if (!res) die("out of memory for results");

    for (uint32_t s = 0; s < o.size_count; s++) {
        uint64_t size = o.sizes[s];
        char label[32];
        size_label(size, label, sizeof(label));
        uint8_t *ring = make_ring(size);
        struct cell_result runs[CELL_KINDS][REPEAT_MAX];
        memset(runs, 0, sizeof(runs));
        /* Each Sluice cell right after its baseline, so both see the same state of the disk,
         * and the repeats interleaved, so a slow spell of the machine hits every kind alike. */
        static const int run_order[CELL_KINDS] = {CELL_RAW_BUFFERED, CELL_SLUICE_NONE, CELL_RAW_FSYNC_EACH,
                                                  CELL_SLUICE_GROUP, CELL_SLUICE_APPEND};
        for (uint32_t n = 0; n < o.repeat * CELL_KINDS; n++) {
            int k = run_order[n % CELL_KINDS];
            uint32_t rep = n / CELL_KINDS;
            bool want = k == CELL_RAW_BUFFERED ? o.policy_on[LOG_DURABILITY_NONE]
                      : k == CELL_RAW_FSYNC_EACH ? o.policy_on[LOG_DURABILITY_GROUP] ||
                                                       o.policy_on[LOG_DURABILITY_APPEND]
                      : k == CELL_SLUICE_NONE    ? o.policy_on[LOG_DURABILITY_NONE]
                      : k == CELL_SLUICE_GROUP   ? o.policy_on[LOG_DURABILITY_GROUP]
                                                 : o.policy_on[LOG_DURABILITY_APPEND];
            if (!want) continue;
            struct cell_result *r = &runs[k][rep];
            if (k == CELL_RAW_BUFFERED) run_raw(&o, ring, size, false, r);
            else if (k == CELL_RAW_FSYNC_EACH) run_raw(&o, ring, size, true, r);
            else
                run_sluice(&o, ring, size,
                           k == CELL_SLUICE_NONE    ? LOG_DURABILITY_NONE
                           : k == CELL_SLUICE_GROUP ? LOG_DURABILITY_GROUP
                                                    : LOG_DURABILITY_APPEND,
                           r);
            fprintf(stderr, "storage_bench: %s %s run %u: %.1f MB/s\n", label, cell_names[k], rep + 1,
                    mb_per_s(r));
        }
        for (int k = 0; k < CELL_KINDS; k++)
            if (runs[k][0].ran) res[s][k] = median_run(runs[k], o.repeat);
        free(ring);
    }

    printf("| size | policy | MB/s | batches/s | CPU%% | vs baseline |\n");
    printf("|---|---|---:|---:|---:|---:|\n");
    for (uint32_t s = 0; s < o.size_count; s++) {
        char label[32];
        size_label(o.sizes[s], label, sizeof(label));
        for (int k = 0; k < CELL_KINDS; k++) {
            const struct cell_result *r = &res[s][k];
            if (!r->ran) continue;
            char vs[32] = "";
            int b = baseline_of(k);
            if (b >= 0 && res[s][b].ran) snprintf(vs, sizeof(vs), "%.2f×", ratio(r, &res[s][b]));
            printf("| %s | %s | %.1f | %.0f | %.0f | %s |\n", label, cell_names[k], mb_per_s(r),
                   batches_per_s(r), cpu_pct(r), vs);
        }
    }
    printf("\n");

    bool missed = false;
    for (uint32_t s = 0; s < o.size_count; s++) {
        const struct cell_result *a = &res[s][CELL_SLUICE_NONE], *b = &res[s][CELL_RAW_BUFFERED];
        if (!a->ran || !b->ran) continue;
        char label[32];
        size_label(o.sizes[s], label, sizeof(label));
        double pct = 100.0 * ratio(a, b);
        printf("target none >= 90%% of raw buffered: %s: %.1f%% %s\n", label, pct,
               pct >= 90.0 ? "PASS" : "MISS");
        missed |= pct < 90.0;
    }
    bool found_16k = false;
    for (uint32_t s = 0; s < o.size_count; s++) {
        const struct cell_result *a = &res[s][CELL_SLUICE_GROUP], *b = &res[s][CELL_RAW_FSYNC_EACH];
        if (o.sizes[s] != 16 * KIB || !a->ran || !b->ran) continue;
        double x = ratio(a, b);
        printf("target group >= 2x raw fsync-per-batch at 16 KiB: %.2f x %s\n", x,
               x >= 2.0 ? "PASS" : "MISS");
        missed |= x < 2.0;
        found_16k = true;
    }
    if (!found_16k && o.policy_on[LOG_DURABILITY_GROUP])
        printf("target group >= 2x raw fsync-per-batch at 16 KiB: n/a (16 KiB not measured)\n");

    if (o.json_path) write_json(o.json_path, &o, res);
    free(res);
    return o.check && missed ? 3 : 0;
}
