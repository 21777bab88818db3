/* reopen_bench.c: how long a large log takes to reopen. Appends --gib GiB of 1 MiB batches
 * (segment_bytes 1 GiB, no fsync policy) to one partition, closes the store cleanly, and times
 * store_open: after a clean shutdown nothing is scanned, so reopening must take well under a
 * second whatever the size. Then it removes the clean-shutdown marker and times the open that
 * a crash would need (only the active segment is scanned), and cleans up.
 * Usage: sl_reopen_bench [--dir DIR] [--gib N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/loop.h"
#include "protocol/kafka_batch.h"
#include "storage/log.h"
#include "storage/store.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, sl_err e) {
    fprintf(stderr, "reopen_bench: %s: %s\n", what, sl_err_str(e));
    exit(1);
}

static void ref_release(struct log_ref *r) { (void)r; }

static double time_open(const char *dir, const struct log_config *cfg, const struct store_stats **stats,
                        struct loop *l, struct store **st) {
    double t0 = mono();
    sl_err e = store_open(st, l, dir, cfg, NULL);
    double t = mono() - t0;
    if (e) die("store_open", e);
    *stats = store_get_stats(*st);
    return t;
}

int main(int argc, char **argv) {
    const char *dir = "./reopen-bench-data";
    int gib = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--gib")) gib = atoi(argv[i + 1]);
    }
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.batch_bytes_max = 2u << 20;
    struct loop l;
    if (loop_init(&l, 256) < 0) return 77;
    struct store *st;
    sl_err e = store_open(&st, &l, dir, &cfg, NULL);
    if (e) die("store_open", e);
    struct log *g;
    if ((e = store_log_create(st, "big", 0, NULL, &g))) die("store_log_create", e);

    /* 1 MiB batches of one record each, written zero-copy from a ring the window never laps. */
    enum { SLOTS = 64, BATCH = 1 << 20 };
    uint8_t *ring = malloc((size_t)SLOTS * BATCH);
    static uint8_t value[BATCH];
    memset(value, 'v', sizeof(value));
    struct kafka_record_in rec = {.key = NULL, .key_len = -1, .value = value, .value_len = BATCH - 100,
                                  .timestamp_ms = 1};
    size_t len = kafka_batch_encode(ring, BATCH, &rec, 1, -1, -1, -1);
    for (int i = 1; i < SLOTS; i++) memcpy(ring + (size_t)i * BATCH, ring, len);
    struct log_ref ref = {ref_release};
    uint64_t batches = (uint64_t)gib * 1024 * 1024 * 1024 / len;
    double t0 = mono();
    for (uint64_t b = 0; b < batches; b++) {
        int64_t base;
        if ((e = log_append_ref(g, ring + (b % SLOTS) * BATCH, (uint32_t)len, &base, NULL, false, &ref)))
            die("log_append", e);
        /* Keep the window below the ring: wait until what was appended is written. */
        if (b % (SLOTS / 2) == SLOTS / 2 - 1 && (e = log_flush(g, false, 60000))) die("log_flush", e);
    }
    if ((e = log_flush(g, false, 600000))) die("log_flush", e);
    double wrote = mono() - t0;
    uint32_t segs = log_segment_count(g);
    int64_t end = log_end_offset(g);
    double t1 = mono();
    if ((e = store_close(st))) die("store_close", e);
    double closed = mono() - t1;
    printf("wrote %.2f GiB (%llu batches, %u segments) in %.1f s; clean close %.2f s\n",
           (double)batches * (double)len / (1 << 30), (unsigned long long)batches, segs, wrote, closed);

    const struct store_stats *stats;
    double clean = time_open(dir, &cfg, &stats, &l, &st);
    g = store_log_get(st, "big", 0);
    printf("reopen after a clean shutdown: %.1f ms (scanned %llu bytes, end offset %lld %s)\n", clean * 1000,
           (unsigned long long)stats->scanned_bytes, (long long)log_end_offset(g),
           log_end_offset(g) == end ? "ok" : "MISMATCH");
    if (log_end_offset(g) != end) return 1;
    /* A crash: no marker. Only segments without a valid index (the active one) are scanned. */
    store_close(st);
    char marker[4200];
    snprintf(marker, sizeof(marker), "%s/%s", dir, STORE_CLEAN_MARKER);
    unlink(marker);
    double crash = time_open(dir, &cfg, &stats, &l, &st);
    g = store_log_get(st, "big", 0);
    printf("reopen without the marker (as after a crash): %.1f ms (scanned %llu bytes, end offset %lld %s)\n",
           crash * 1000, (unsigned long long)stats->scanned_bytes, (long long)log_end_offset(g),
           log_end_offset(g) == end ? "ok" : "MISMATCH");
    int rc = log_end_offset(g) == end ? 0 : 1;
    store_log_delete(st, g);
    store_close(st);
    loop_close(&l);
    free(ring);
    return rc;
}
