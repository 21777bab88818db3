/* storage_retention_test.c: storage/retention.c: time and size retention with an injected
 * clock (no sleeping), whole segments only, never the active one, readers keep their bytes;
 * a drained log (start == end) replaces every segment, the active one included, by one empty
 * segment at the end offset, after clean restarts and crashes too. */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "storage_fixture.h"

#define BATCHES 40

static uint64_t later_wall(void *a) {
    (void)a;
    return loop_clock_ms();
}
static uint64_t later_mono(void *a) {
    (void)a;
    return loop_monotonic_ms() + 5000;
}
/* Five seconds later, as the loop sees it, and a few turns: a small drained active segment
 * waits for a quiet log (LOG_DRAIN_QUIET_MS), which the store's tick then drains. */
static void fx_later(struct fx *f) {
    static const struct loop_clock c = {later_wall, later_mono, NULL, NULL};
    loop_set_clock(&f->loop, &c);
    for (int i = 0; i < 3; i++) loop_run_once(&f->loop, 0);
}

static struct log *fill(struct fx *f, struct log_config *c, int64_t ts_step) {
    struct log *g;
    ck_assert_int_eq(store_log_create(f->st, "ret", 0, c, &g), SL_OK);
    for (int b = 0; b < BATCHES; b++) {
        uint8_t batch[4096];
        /* one record each, timestamp b * ts_step: batch b is offset b */
        uint32_t len = fx_batch(batch, sizeof(batch), 1, 300, (uint64_t)b, (int64_t)b * ts_step);
        int64_t base;
        ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_OK);
        ck_assert_int_eq(base, b);
    }
    fx_flush(g);
    return g;
}

static void config(struct log_config *c) {
    log_config_defaults(c);
    c->segment_bytes = 2000; /* about 5 batches per segment */
    c->retention_ms = -1;
    c->retention_bytes = -1;
}

START_TEST(test_time_retention) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.retention_ms = 10000;
    fx_start(&f, &c);
    struct log *g = fill(&f, &c, 1000); /* timestamps 0 .. 39000 */
    uint32_t segs = log_segment_count(g);
    ck_assert_uint_gt(segs, 5);

    /* Nothing is old enough yet. */
    ck_assert_uint_eq(log_retention_run(g, 10000), 0);
    ck_assert_int_eq(log_start_offset(g), 0);

    /* At now = 30000 every segment whose newest record is older than 20000 goes. */
    uint32_t gone = log_retention_run(g, 30000);
    ck_assert_uint_gt(gone, 0);
    int64_t start = log_start_offset(g);
    ck_assert_int_gt(start, 0);
    ck_assert_int_le(start, 21);  /* offsets 0..20 have timestamps <= 20000 */
    ck_assert_int_ge(start, 15);  /* whole segments of ~5 batches */
    /* What is left is exactly what was there. */
    struct log_span sp;
    ck_assert_int_eq(log_read(g, start - 1, 100, &sp), SL_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(log_read(g, start, 100, &sp), SL_OK);
    ck_assert_int_eq(sp.base_offset, start);
    log_span_release(&sp);

    /* Far in the future, all but the active segment go. */
    log_retention_run(g, 1000000000);
    ck_assert_uint_eq(log_segment_count(g), 1);
    ck_assert_int_eq(log_end_offset(g), BATCHES);
    ck_assert_int_le(log_start_offset(g), BATCHES);
    fx_end(&f);
}
END_TEST

START_TEST(test_size_retention) {
    struct fx f;
    struct log_config c;
    config(&c);
    fx_start(&f, &c);
    struct log *g = fill(&f, &c, 1);
    uint64_t total = log_size_bytes(g);
    c.retention_bytes = (int64_t)(total / 2);
    log_set_config(g, &c);
    uint32_t gone = log_retention_run(g, 0);
    ck_assert_uint_gt(gone, 0);
    /* Kafka's rule: the log stays at or above retention_bytes; one more segment would cut into it. */
    ck_assert_uint_ge(log_size_bytes(g), (uint64_t)c.retention_bytes);
    ck_assert_uint_lt(log_size_bytes(g), (uint64_t)c.retention_bytes + 2000);
    ck_assert_uint_eq(log_retention_run(g, 0), 0);
    c.retention_bytes = 0;
    log_set_config(g, &c);
    log_retention_run(g, 0);
    ck_assert_uint_eq(log_segment_count(g), 1);
    fx_end(&f);
}
END_TEST

START_TEST(test_reader_keeps_bytes_across_retention) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.retention_ms = 1;
    fx_start(&f, &c);
    struct log *g = fill(&f, &c, 1);
    struct log_span held;
    ck_assert_int_eq(log_read(g, 0, 1 << 20, &held), SL_OK);
    uint8_t *before = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, before, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert_uint_gt(log_retention_run(g, 1000000), 0);
    ck_assert_int_gt(log_start_offset(g), 0);
    uint8_t *after = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, after, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert(memcmp(before, after, held.len) == 0);
    log_span_release(&held);
    free(before);
    free(after);
    fx_end(&f);
}
END_TEST

START_TEST(test_retention_after_restart_and_by_store) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.retention_ms = 10000;
    fx_start(&f, &c);
    fill(&f, &c, 1000);
    fx_close(&f);
    fx_open(&f, &c); /* sealed indexes load lazily: their newest timestamps come from the files */
    struct log *g = store_log_get(f.st, "ret", 0);
    ck_assert_int_eq(log_start_offset(g), 0);
    store_retention_run(f.st, 30000);
    ck_assert_int_ge(log_start_offset(g), 15);
    ck_assert_int_le(log_start_offset(g), 21);
    int64_t start = log_start_offset(g);
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "ret", 0);
    ck_assert_int_eq(log_start_offset(g), start);
    fx_end(&f);
}
END_TEST

/* The .log files of the test log's directory: how many, their total size, and the base offset
 * of the last one (by name). */
static int log_files(struct fx *f, long *bytes, long long *last_base) {
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/ret-0", f->dir);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    *bytes = 0;
    *last_base = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".log")) continue;
        char path[1024];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ck_assert_int_eq(stat(path, &st), 0);
        *bytes += (long)st.st_size;
        long long base = atoll(e->d_name);
        if (base > *last_base) *last_base = base;
        n++;
    }
    closedir(d);
    return n;
}

static bool drained(void *arg) {
    struct log *g = arg;
    return log_segment_count(g) == 1 && log_size_bytes(g) == 0;
}

static int64_t append1(struct log *g, uint64_t tag) {
    uint8_t batch[4096];
    uint32_t len = fx_batch(batch, sizeof(batch), 1, 300, tag, 0);
    int64_t base;
    ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_OK);
    return base;
}

static void assert_drained_files(struct fx *f, long long base) {
    long bytes;
    long long last;
    ck_assert_int_eq(log_files(f, &bytes, &last), 1);
    ck_assert_int_eq(bytes, 0);
    ck_assert_int_eq(last, base);
}

/* Acking everything away (work queues): every segment goes, the active one too. */
START_TEST(test_drain_deletes_active_segment) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.durability = LOG_DURABILITY_GROUP;
    fx_start(&f, &c);
    struct log *g = fill(&f, &c, 1);
    ck_assert_uint_gt(log_segment_count(g), 5);
    /* Part way: sealed segments below the start go, the active one stays. */
    ck_assert_int_eq(log_delete_before(g, BATCHES - 1), SL_OK);
    ck_assert_uint_eq(log_segment_count(g), 1);
    ck_assert_uint_gt(log_size_bytes(g), 0);
    /* All of it: a small active segment waits until the log has been quiet for a while (a
     * work queue that keeps up drains after nearly every ack), then goes. */
    ck_assert_int_eq(log_delete_before(g, BATCHES), SL_OK);
    ck_assert(!drained(g));
    fx_later(&f);
    ck_assert(drained(g));
    ck_assert_int_eq(log_start_offset(g), BATCHES);
    ck_assert_int_eq(log_end_offset(g), BATCHES);
    ck_assert_int_eq(log_written_offset(g), BATCHES);
    assert_drained_files(&f, BATCHES);
    struct log_span sp;
    ck_assert_int_eq(log_read(g, BATCHES, 100, &sp), SL_OK);
    ck_assert_uint_eq(sp.len, 0);
    ck_assert_int_eq(log_read(g, BATCHES - 1, 100, &sp), SL_OFFSET_OUT_OF_RANGE);

    /* Offsets continue; the new record reads back. */
    ck_assert_int_eq(append1(g, 77), BATCHES);
    fx_flush(g);
    ck_assert_int_eq(log_read(g, BATCHES, 1 << 20, &sp), SL_OK);
    ck_assert_int_eq(sp.base_offset, BATCHES);
    ck_assert_int_eq(sp.next_offset, BATCHES + 1);
    log_span_release(&sp);

    /* Clean restart with one record left, then drained again, then restarts keep the offset. */
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "ret", 0);
    ck_assert_int_eq(log_start_offset(g), BATCHES);
    ck_assert_int_eq(log_end_offset(g), BATCHES + 1);
    ck_assert_int_eq(log_delete_before(g, BATCHES + 1), SL_OK);
    ck_assert(drained(g));
    assert_drained_files(&f, BATCHES + 1);
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "ret", 0);
    ck_assert_int_eq(log_start_offset(g), BATCHES + 1);
    ck_assert_int_eq(log_end_offset(g), BATCHES + 1);
    ck_assert(drained(g));
    ck_assert_int_eq(append1(g, 78), BATCHES + 1);
    fx_flush(g);
    fx_end(&f);
}
END_TEST

/* Writes in flight hold the active segment: the drain waits for them, then happens by itself. */
START_TEST(test_drain_waits_for_writes_in_flight) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.durability = LOG_DURABILITY_GROUP;
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "ret", 0, &c, &g), SL_OK);
    for (int b = 0; b < BATCHES; b++) ck_assert_int_eq(append1(g, (uint64_t)b), b);
    /* Queued, not written: nothing may be unlinked under the writes. */
    ck_assert_int_eq(log_delete_before(g, BATCHES), SL_OK);
    ck_assert_int_eq(log_start_offset(g), BATCHES);
    ck_assert(!drained(g));
    ck_assert(loop_run_until(&f.loop, drained, g, 10000));
    ck_assert_int_eq(log_written_offset(g), BATCHES);
    assert_drained_files(&f, BATCHES);
    ck_assert_int_eq(append1(g, 99), BATCHES);
    fx_flush(g);
    fx_end(&f);
}
END_TEST

/* kill -9 after draining, and after a record appended to the drained log: the end offset is
 * exact, never back to 0. */
START_TEST(test_drain_survives_crash) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.durability = LOG_DURABILITY_GROUP;
    snprintf(f.dir, sizeof(f.dir), "%s", t_tmpdir());
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            struct loop l;
            struct store *st;
            struct log *g;
            if (loop_init(&l, 64) || store_open(&st, &l, f.dir, &c, NULL)) _exit(3);
            g = store_log_get(st, "ret", 0);
            if (!g && store_log_create(st, "ret", 0, &c, &g)) _exit(4);
            int64_t end = log_end_offset(g);
            for (int b = 0; b < BATCHES; b++) {
                uint8_t batch[4096];
                uint32_t len = fx_batch(batch, sizeof(batch), 1, 300, (uint64_t)b, 0);
                int64_t base;
                if (log_append(g, batch, len, &base, NULL, false) || base != end + b) _exit(5);
            }
            if (log_delete_before(g, end + BATCHES) ||
                !loop_run_until(&l, drained, g, 10000))
                _exit(6);
            if (round == 1) {
                /* One more record, durable, left in the drained log's new segment. */
                uint8_t batch[4096];
                uint32_t len = fx_batch(batch, sizeof(batch), 1, 300, 1000, 0);
                int64_t base;
                if (log_append(g, batch, len, &base, NULL, false) || log_flush(g, true, 10000)) _exit(7);
            }
            _exit(0); /* no close: a crash */
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        fx_open(&f, &c);
        ck_assert(!store_get_stats(f.st)->clean);
        struct log *g = store_log_get(f.st, "ret", 0);
        ck_assert_ptr_nonnull(g);
        if (round == 0) {
            ck_assert_int_eq(log_start_offset(g), BATCHES);
            ck_assert_int_eq(log_end_offset(g), BATCHES);
            assert_drained_files(&f, BATCHES);
        } else {
            ck_assert_int_eq(log_start_offset(g), 2 * BATCHES);
            ck_assert_int_eq(log_end_offset(g), 2 * BATCHES + 1);
            struct log_span sp;
            ck_assert_int_eq(log_read(g, 2 * BATCHES, 1 << 20, &sp), SL_OK);
            ck_assert_int_eq(sp.base_offset, 2 * BATCHES);
            ck_assert_int_eq(sp.next_offset, 2 * BATCHES + 1);
            log_span_release(&sp);
        }
        fx_close(&f);
    }
    t_rmdir(f.dir);
}
END_TEST

/* A crash in the middle of a drain: after the start was saved (old segments all there), and
 * after the new empty segment was created too (before the unlinks). Opening finishes it. */
START_TEST(test_drain_finishes_after_crash_midway) {
    for (int stage = 0; stage < 2; stage++) {
        struct fx f;
        struct log_config c;
        config(&c);
        fx_start(&f, &c);
        struct log *g = fill(&f, &c, 1);
        ck_assert_uint_gt(log_segment_count(g), 5);
        fx_close(&f);
        char path[600];
        snprintf(path, sizeof(path), "%s/ret-0/start_offset", f.dir);
        FILE *fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fprintf(fp, "%d\n", BATCHES);
        fclose(fp);
        if (stage == 1) {
            snprintf(path, sizeof(path), "%s/ret-0/%020d.log", f.dir, BATCHES);
            fp = fopen(path, "w");
            ck_assert_ptr_nonnull(fp);
            fclose(fp);
        }
        fx_open(&f, &c);
        g = store_log_get(f.st, "ret", 0);
        ck_assert_int_eq(log_start_offset(g), BATCHES);
        ck_assert_int_eq(log_end_offset(g), BATCHES);
        ck_assert(loop_run_until(&f.loop, drained, g, 10000));
        assert_drained_files(&f, BATCHES);
        ck_assert_int_eq(append1(g, 5), BATCHES);
        fx_flush(g);
        fx_end(&f);
    }
}
END_TEST

/* A reader holding a span of the drained active segment keeps its bytes. */
START_TEST(test_drain_reader_keeps_bytes) {
    struct fx f;
    struct log_config c;
    config(&c);
    c.segment_bytes = 1 << 20; /* one segment */
    fx_start(&f, &c);
    struct log *g = fill(&f, &c, 1);
    ck_assert_uint_eq(log_segment_count(g), 1);
    struct log_span held;
    ck_assert_int_eq(log_read(g, 0, 1 << 20, &held), SL_OK);
    uint8_t *before = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, before, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert_int_eq(log_delete_before(g, BATCHES), SL_OK);
    fx_later(&f);
    ck_assert(drained(g));
    uint8_t *after = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, after, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert(memcmp(before, after, held.len) == 0);
    log_span_release(&held);
    free(before);
    free(after);
    fx_end(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage/retention");
    TCase *tc = tcase_create("retention");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_time_retention);
    tcase_add_test(tc, test_size_retention);
    tcase_add_test(tc, test_reader_keeps_bytes_across_retention);
    tcase_add_test(tc, test_retention_after_restart_and_by_store);
    tcase_add_test(tc, test_drain_deletes_active_segment);
    tcase_add_test(tc, test_drain_waits_for_writes_in_flight);
    tcase_add_test(tc, test_drain_survives_crash);
    tcase_add_test(tc, test_drain_reader_keeps_bytes);
    tcase_add_test(tc, test_drain_finishes_after_crash_midway);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
