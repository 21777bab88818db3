/* storage_log_test.c: appends, reads, rolls, waiters, offsets, truncation and delete-before of
 * storage/log.c, one body run over every durability policy and several segment/index sizes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "storage_fixture.h"

struct shape {
    enum log_durability durability;
    uint32_t group_commit_ms;
    uint64_t segment_bytes;
    uint32_t index_interval_bytes;
    uint64_t preallocate_bytes;
};

static const struct shape shapes[] = {
    {LOG_DURABILITY_NONE, 0, 1 << 30, 4096, 16 << 20},
    {LOG_DURABILITY_NONE, 0, 4096, 1, 0},
    {LOG_DURABILITY_NONE, 0, 20000, 4096, 8192},
    {LOG_DURABILITY_GROUP, 0, 1 << 30, 4096, 1 << 20},
    {LOG_DURABILITY_GROUP, 0, 8192, 100, 4096},
    {LOG_DURABILITY_GROUP, 5, 30000, 4096, 1 << 20},
    {LOG_DURABILITY_APPEND, 0, 1 << 30, 4096, 1 << 20},
    {LOG_DURABILITY_APPEND, 0, 5000, 1, 0},
};

static void shape_config(int i, struct log_config *c) {
    log_config_defaults(c);
    c->durability = shapes[i].durability;
    c->group_commit_ms = shapes[i].group_commit_ms;
    c->segment_bytes = shapes[i].segment_bytes;
    c->index_interval_bytes = shapes[i].index_interval_bytes;
    c->preallocate_bytes = shapes[i].preallocate_bytes;
}

struct counted_waiter {
    struct log_waiter w;
    int fired;
    sl_err err;
    int64_t written_at_fire, synced_at_fire;
    struct log *g;
};

static void counted_done(struct log_waiter *w, sl_err e) {
    struct counted_waiter *c = (struct counted_waiter *)w;
    c->fired++;
    c->err = e;
    c->written_at_fire = log_written_offset(c->g);
    c->synced_at_fire = log_synced_offset(c->g);
}

#define N_BATCHES 120

START_TEST(test_append_read_across_rolls) {
    struct fx f;
    struct log_config c;
    shape_config(_i, &c);
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "orders", 0, NULL, &g), SL_OK);
    log_set_config(g, &c);

    static uint8_t expect[8 << 20];
    size_t expect_len = 0;
    static struct counted_waiter ws[N_BATCHES];
    int64_t next = 0;
    for (int b = 0; b < N_BATCHES; b++) {
        uint8_t batch[70000];
        uint32_t nrec = 1 + (uint32_t)(b % 7), vlen = (uint32_t)((b * 37) % 900);
        uint32_t len = fx_batch(batch, sizeof(batch), nrec, vlen, (uint64_t)b, 1000 + b * 10);
        int64_t base = -1;
        memset(&ws[b], 0, sizeof(ws[b]));
        ws[b].g = g;
        ws[b].w.done = counted_done;
        ck_assert_int_eq(log_append(g, batch, len, &base, &ws[b].w, b % 2 == 0), SL_OK);
        ck_assert_int_eq(base, next);
        next += nrec;
        ck_assert_int_eq(log_end_offset(g), next);
        memcpy(expect + expect_len, batch, len);
        expect_len += len;
        if (b % 10 == 9) loop_run_once(&f.loop, 0);
    }
    ck_assert_int_eq(log_flush(g, true, 10000), SL_OK);
    ck_assert_int_eq(log_written_offset(g), next);
    if (c.durability != LOG_DURABILITY_NONE) ck_assert_int_eq(log_synced_offset(g), next);
    ck_assert(log_start_offset(g) <= log_synced_offset(g));
    for (int b = 0; b < N_BATCHES; b++) {
        ck_assert_int_eq(ws[b].fired, 1);
        ck_assert_int_eq(ws[b].err, SL_OK);
        ck_assert_int_gt(ws[b].written_at_fire, ws[b].w.offset);
        if (ws[b].w.durable) ck_assert_int_gt(ws[b].synced_at_fire, ws[b].w.offset);
    }
    if (c.segment_bytes < 100000) ck_assert_uint_gt(log_segment_count(g), 2);

    /* Every byte back, whatever the read size, and from every starting offset. */
    uint32_t sizes[] = {1, 100, 5000, 1 << 20};
    for (unsigned s = 0; s < 4; s++) {
        uint8_t *got;
        size_t n = fx_read_all(g, 0, sizes[s], &got);
        ck_assert_uint_eq(n, expect_len);
        ck_assert(memcmp(got, expect, n) == 0);
        free(got);
    }
    for (int64_t o = 0; o < next; o += 3) {
        struct log_span sp;
        ck_assert_int_eq(log_read(g, o, 1, &sp), SL_OK);
        ck_assert_int_le(sp.base_offset, o);
        ck_assert_int_gt(sp.next_offset, o);
        uint8_t head[KAFKA_BATCH_HEADER_BYTES];
        ck_assert_int_eq(pread(sp.fd, head, sizeof(head), (off_t)sp.pos), (ssize_t)sizeof(head));
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(head, sizeof(head), &h), SL_OK);
        ck_assert_int_eq(h.base_offset, sp.base_offset);
        ck_assert_int_eq(kafka_batch_last_offset(&h) + 1, sp.next_offset);
        ck_assert_uint_eq(sp.len, (uint32_t)h.batch_length + 12);
        log_span_release(&sp);
    }
    struct log_span sp;
    ck_assert_int_eq(log_read(g, next, 1000, &sp), SL_OK);
    ck_assert_uint_eq(sp.len, 0);
    ck_assert_int_eq(log_read(g, next + 1, 1000, &sp), SL_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(log_read(g, -1, 1000, &sp), SL_OFFSET_OUT_OF_RANGE);

    /* And again after a clean restart. */
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "orders", 0);
    ck_assert_ptr_nonnull(g);
    ck_assert(store_get_stats(f.st)->clean);
    ck_assert_uint_eq(store_get_stats(f.st)->scanned_bytes, 0);
    ck_assert_int_eq(log_end_offset(g), next);
    uint8_t *got;
    size_t n = fx_read_all(g, 0, 7000, &got);
    ck_assert_uint_eq(n, expect_len);
    ck_assert(memcmp(got, expect, n) == 0);
    free(got);
    fx_end(&f);
}
END_TEST

START_TEST(test_refuses_bad_batches) {
    struct fx f;
    fx_start(&f, NULL);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, NULL, &g), SL_OK);
    uint8_t batch[4096];
    uint32_t len = fx_batch(batch, sizeof(batch), 3, 100, 1, 5);
    int64_t base;
    batch[len - 1] ^= 1;
    ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_CORRUPT);
    batch[len - 1] ^= 1;
    ck_assert_int_eq(log_append(g, batch, len - 1, &base, NULL, false), SL_CORRUPT);
    batch[16] = 1;
    ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_CORRUPT);
    batch[16] = 2;
    struct log_config c = *log_get_config(g);
    c.batch_bytes_max = len - 1;
    log_set_config(g, &c);
    ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_TOO_LARGE);
    c.batch_bytes_max = len;
    log_set_config(g, &c);
    ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_OK);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(log_end_offset(g), 3);
    fx_flush(g);
    ck_assert_int_eq(store_log_create(f.st, "t", 0, NULL, &g), SL_EXISTS);
    ck_assert_int_eq(store_log_create(f.st, "bad/name", 0, NULL, &g), SL_INVALID_ARG);
    ck_assert_int_eq(store_log_create(f.st, "..", 0, NULL, &g), SL_INVALID_ARG);
    fx_end(&f);
}
END_TEST

static int64_t append_n(struct log *g, int n, uint32_t nrec, uint32_t vlen, int64_t ts0) {
    int64_t base = -1;
    for (int b = 0; b < n; b++) {
        uint8_t batch[70000];
        uint32_t len = fx_batch(batch, sizeof(batch), nrec, vlen, (uint64_t)b, ts0 + b * 100);
        ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_OK);
    }
    return base;
}

START_TEST(test_truncate) {
    struct fx f;
    struct log_config c;
    log_config_defaults(&c);
    c.segment_bytes = 3000;
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, NULL, &g), SL_OK);
    append_n(g, 40, 4, 100, 0); /* offsets 0..159, batches of 4 */
    fx_flush(g);
    uint32_t segs = log_segment_count(g);
    ck_assert_uint_gt(segs, 3);
    uint8_t *before;
    size_t before_len = fx_read_all(g, 0, 1 << 20, &before);

    /* Truncating inside a batch removes the whole batch. */
    ck_assert_int_eq(log_truncate(g, 61), SL_OK);
    ck_assert_int_eq(log_end_offset(g), 60);
    ck_assert_int_eq(log_written_offset(g), 60);
    ck_assert_uint_lt(log_segment_count(g), segs);
    uint8_t *after;
    size_t after_len = fx_read_all(g, 0, 1 << 20, &after);
    ck_assert_uint_lt(after_len, before_len);
    ck_assert(memcmp(before, after, after_len) == 0);
    /* Appends continue at the truncation point, and survive a restart. */
    int64_t base = append_n(g, 1, 2, 10, 0);
    ck_assert_int_eq(base, 60);
    fx_flush(g);
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "t", 0);
    ck_assert_int_eq(log_end_offset(g), 62);
    free(before);
    free(after);
    ck_assert_int_eq(log_truncate(g, 0), SL_OK);
    ck_assert_int_eq(log_end_offset(g), 0);
    ck_assert_int_eq(append_n(g, 1, 1, 1, 0), 0);
    fx_end(&f);
}
END_TEST

/* A follower whose leader's log starts past its end empties its log and starts there. */
START_TEST(test_reset_starts_again_beyond_the_end) {
    struct fx f;
    struct log_config c;
    log_config_defaults(&c);
    c.segment_bytes = 3000;
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, NULL, &g), SL_OK);
    append_n(g, 40, 4, 100, 0); /* offsets 0..159, several segments */
    fx_flush(g);
    ck_assert_uint_gt(log_segment_count(g), 3);
    ck_assert_int_eq(log_reset(g, 100), SL_INVALID_ARG); /* at or below the end: not a reset */
    ck_assert_int_eq(log_reset(g, 1000), SL_OK);
    ck_assert_uint_eq(log_segment_count(g), 1);
    ck_assert_int_eq(log_start_offset(g), 1000);
    ck_assert_int_eq(log_end_offset(g), 1000);
    struct log_span sp;
    ck_assert_int_eq(log_read(g, 150, 1 << 20, &sp), SL_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(append_n(g, 2, 3, 10, 0), 1003);
    fx_flush(g);
    uint8_t *before;
    size_t before_len = fx_read_all(g, 1000, 1 << 20, &before);
    ck_assert_uint_gt(before_len, 0);
    /* It survives a restart: the same start, end and bytes. */
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "t", 0);
    ck_assert_int_eq(log_start_offset(g), 1000);
    ck_assert_int_eq(log_end_offset(g), 1006);
    uint8_t *after;
    size_t after_len = fx_read_all(g, 1000, 1 << 20, &after);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert(memcmp(before, after, after_len) == 0);
    free(before);
    free(after);
    fx_end(&f);
}
END_TEST

START_TEST(test_delete_before_and_span_survives) {
    struct fx f;
    struct log_config c;
    log_config_defaults(&c);
    c.segment_bytes = 2048;
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 3, NULL, &g), SL_OK);
    append_n(g, 30, 2, 200, 0); /* 60 offsets */
    fx_flush(g);
    uint32_t segs = log_segment_count(g);

    struct log_span held;
    ck_assert_int_eq(log_read(g, 0, 1 << 20, &held), SL_OK);
    ck_assert_uint_gt(held.len, 0);
    uint8_t *copy = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, copy, held.len, (off_t)held.pos), (ssize_t)held.len);

    ck_assert_int_eq(log_delete_before(g, 31), SL_OK);
    ck_assert_int_eq(log_start_offset(g), 31);
    ck_assert_uint_lt(log_segment_count(g), segs);
    struct log_span sp;
    ck_assert_int_eq(log_read(g, 30, 100, &sp), SL_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(log_read(g, 31, 100, &sp), SL_OK);
    ck_assert_int_le(sp.base_offset, 31);
    log_span_release(&sp);

    /* The first segment is unlinked, but the held span still reads its bytes. */
    char path[512];
    snprintf(path, sizeof(path), "%s/t-3/%020d.log", f.dir, 0);
    ck_assert_int_ne(access(path, F_OK), 0);
    uint8_t *again = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, again, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert(memcmp(copy, again, held.len) == 0);
    log_span_release(&held);
    free(copy);
    free(again);

    /* The start offset persists, even inside a segment; it never moves back. */
    ck_assert_int_eq(log_delete_before(g, 5), SL_OK);
    ck_assert_int_eq(log_start_offset(g), 31);
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "t", 3);
    ck_assert_int_eq(log_start_offset(g), 31);
    ck_assert_int_eq(log_end_offset(g), 60);
    ck_assert_int_eq(log_delete_before(g, 1000), SL_OK);
    ck_assert_int_eq(log_start_offset(g), 60);
    fx_end(&f);
}
END_TEST

START_TEST(test_offset_for_time) {
    struct fx f;
    struct log_config c;
    log_config_defaults(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 500;
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, NULL, &g), SL_OK);
    /* Batch b holds 5 records with timestamps 10000 + b*100 + i. */
    append_n(g, 50, 5, 50, 10000);
    fx_flush(g);
    int64_t off, fts;
    ck_assert_int_eq(log_offset_for_time(g, 0, &off, &fts), SL_OK);
    ck_assert_int_eq(off, 0);
    for (int b = 0; b < 50; b++) {
        for (int i = 0; i < 5; i++) {
            ck_assert_int_eq(log_offset_for_time(g, 10000 + b * 100 + i, &off, &fts), SL_OK);
            ck_assert_int_eq(off, b * 5 + i);
            ck_assert_int_eq(fts, 10000 + b * 100 + i);
        }
        ck_assert_int_eq(log_offset_for_time(g, 10000 + b * 100 + 50, &off, &fts), b == 49 ? SL_NOT_FOUND : SL_OK);
        if (b < 49) ck_assert_int_eq(off, (b + 1) * 5);
    }
    /* Lazily loaded indexes after a clean restart give the same answers. */
    fx_close(&f);
    fx_open(&f, &c);
    g = store_log_get(f.st, "t", 0);
    ck_assert_int_eq(log_offset_for_time(g, 10000 + 2500 + 3, &off, &fts), SL_OK);
    ck_assert_int_eq(off, 25 * 5 + 3);
    fx_end(&f);
}
END_TEST

START_TEST(test_many_partitions_few_fds) {
    struct fx f;
    struct log_config c;
    log_config_defaults(&c);
    c.segment_bytes = 1024;
    c.preallocate_bytes = 0;
    snprintf(f.dir, sizeof(f.dir), "%s", t_tmpdir());
    ck_assert_int_eq(loop_init(&f.loop, 256), 0);
    struct store_options o;
    store_options_defaults(&o);
    o.open_files_max = 8;
    ck_assert_int_eq(store_open(&f.st, &f.loop, f.dir, &c, &o), SL_OK);
    enum { PARTS = 300 };
    for (int p = 0; p < PARTS; p++) {
        struct log *g;
        ck_assert_int_eq(store_log_create(f.st, "wide", p, NULL, &g), SL_OK);
        append_n(g, 4, 1, 400, 0); /* 4 segments each */
        if (p % 50 == 49) loop_run_once(&f.loop, 0);
    }
    for (int p = 0; p < PARTS; p++) fx_flush(store_log_get(f.st, "wide", p));
    /* Reading every sealed segment of every partition keeps at most 8 idle fds open. */
    for (int p = 0; p < PARTS; p++) {
        uint8_t *got;
        size_t n = fx_read_all(store_log_get(f.st, "wide", p), 0, 1 << 20, &got);
        ck_assert_uint_gt(n, 1600);
        free(got);
    }
    int open_fds = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1) open_fds++;
    ck_assert_int_lt(open_fds, PARTS + 64);
    fx_end(&f);
}
END_TEST

struct counted_ref {
    struct log_ref ref;
    int released;
};

static void counted_release(struct log_ref *ref) { ((struct counted_ref *)ref)->released++; }

START_TEST(test_append_ref_zero_copy) {
    struct fx f;
    struct log_config c;
    shape_config(_i, &c);
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "z", 0, &c, &g), SL_OK);
    enum { N = 40 };
    static uint8_t bufs[N][70000];
    static struct counted_ref refs[N];
    uint32_t lens[N];
    static uint8_t expect[N * 70000];
    size_t expect_len = 0;
    for (int b = 0; b < N; b++) {
        lens[b] = fx_batch(bufs[b], sizeof(bufs[b]), 1 + (uint32_t)(b % 3), 100 + (uint32_t)b * 500, (uint64_t)b, b);
        refs[b].ref.release = counted_release;
        refs[b].released = 0;
        int64_t base;
        /* Zero-copy and copied appends mixed, as a broker would mix large and small batches. */
        if (b % 3) ck_assert_int_eq(log_append_ref(g, bufs[b], lens[b], &base, NULL, false, &refs[b].ref), SL_OK);
        else ck_assert_int_eq(log_append(g, bufs[b], lens[b], &base, NULL, false), SL_OK);
        memcpy(expect + expect_len, bufs[b], lens[b]);
        expect_len += lens[b];
    }
    ck_assert_int_eq(log_flush(g, true, 10000), SL_OK);
    for (int b = 0; b < N; b++) ck_assert_int_eq(refs[b].released, b % 3 ? 1 : 0);
    uint8_t *got;
    size_t n = fx_read_all(g, 0, 100000, &got);
    ck_assert_uint_eq(n, expect_len);
    ck_assert(memcmp(got, expect, n) == 0);
    free(got);
    fx_end(&f);
}
END_TEST

START_TEST(test_roll_by_time) {
    struct fx f;
    struct log_config c;
    log_config_defaults(&c);
    c.segment_ms = 60000;
    fx_start(&f, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, NULL, &g), SL_OK);
    /* The loop's clock is the only clock: stepping it stands in for waiting a minute. */
    f.loop.now_ms = 1000000;
    append_n(g, 3, 1, 10, 0);
    f.loop.now_ms += 59999;
    append_n(g, 1, 1, 10, 0);
    ck_assert_uint_eq(log_segment_count(g), 1);
    f.loop.now_ms += 2;
    append_n(g, 1, 1, 10, 0);
    ck_assert_uint_eq(log_segment_count(g), 2);
    fx_flush(g);
    uint8_t *got;
    ck_assert_uint_gt(fx_read_all(g, 0, 1 << 20, &got), 0);
    free(got);
    ck_assert_int_eq(log_end_offset(g), 5);
    fx_end(&f);
}
END_TEST


static void prep_ready(struct store_prep *sp, int32_t partition) {
    (void)sp;
    (void)partition;
}

static int32_t prep_take_waiting(struct fx *f, struct store_prep *sp, int32_t p) {
    int32_t v = store_prep_take(sp, p);
    for (int i = 0; i < 10000 && v == STORE_PREP_PENDING; i++) {
        loop_run_once(&f->loop, 5);
        v = store_prep_take(sp, p);
    }
    return v;
}

static bool dir_exists(const struct fx *f, const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    return access(path, F_OK) == 0;
}

/* store_prep makes partition directories and first segments ahead through io_uring, at most
 * STORE_PREPS_AHEAD past the last one taken; store_log_create_prepared adopts them as logs that
 * take appends and survive a restart; what is made and not taken goes at store_prep_end. */
START_TEST(test_partitions_made_ahead) {
    struct fx f;
    fx_start(&f, NULL);
    static struct store_prep sp;
    enum { PARTS = 600 };
    store_prep_start(f.st, &sp, "ahead", 0, PARTS, prep_ready);
    for (int32_t p = 0; p < PARTS; p++) {
        int32_t fd = prep_take_waiting(&f, &sp, p);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_le(sp.next - sp.taken, STORE_PREPS_AHEAD);
        struct log *g;
        ck_assert_int_eq(store_log_create_prepared(f.st, "ahead", p, NULL, fd, &g), SL_OK);
        if (p == 0 || p == PARTS - 1) append_n(g, 2, 3, 100, 0);
    }
    ck_assert(!store_prep_busy(&sp));
    store_prep_end(&sp, false);
    fx_flush(store_log_get(f.st, "ahead", 0));
    fx_flush(store_log_get(f.st, "ahead", PARTS - 1));
    /* A creation given up after 5: the 35 others made ahead are removed. */
    store_prep_start(f.st, &sp, "gone", 0, 40, prep_ready);
    for (int32_t p = 0; p < 5; p++) {
        int32_t fd = prep_take_waiting(&f, &sp, p);
        ck_assert_int_ge(fd, 0);
        struct log *g;
        ck_assert_int_eq(store_log_create_prepared(f.st, "gone", p, NULL, fd, &g), SL_OK);
    }
    store_prep_stop(&sp);
    for (int i = 0; i < 10000 && store_prep_busy(&sp); i++) loop_run_once(&f.loop, 5);
    ck_assert(!store_prep_busy(&sp));
    store_prep_end(&sp, true);
    ck_assert(dir_exists(&f, "gone-4"));
    for (int p = 5; p < 40; p++) {
        char name[32];
        snprintf(name, sizeof(name), "gone-%d", p);
        ck_assert_msg(!dir_exists(&f, name), "%s is left", name);
    }
    /* The adopted logs are logs like any other after a restart. */
    fx_close(&f);
    fx_open(&f, NULL);
    ck_assert_int_eq(log_end_offset(store_log_get(f.st, "ahead", 0)), 6);
    ck_assert_int_eq(log_end_offset(store_log_get(f.st, "ahead", PARTS - 1)), 6);
    ck_assert_int_eq(log_end_offset(store_log_get(f.st, "ahead", 300)), 0);
    ck_assert_ptr_nonnull(store_log_get(f.st, "gone", 4));
    ck_assert_ptr_null(store_log_get(f.st, "gone", 5));
    fx_end(&f);
}
END_TEST


static int rmdirs_ready_count;
static void rmdirs_ready(struct store_rmdirs *rd) {
    (void)rd;
    rmdirs_ready_count++;
}

/* store_log_delete_async: the log goes at once, its directory through io_uring, at most
 * STORE_RMDIRS_INFLIGHT at a time. */
START_TEST(test_delete_async) {
    struct fx f;
    fx_start(&f, NULL);
    enum { PARTS = 30 };
    for (int p = 0; p < PARTS; p++) {
        struct log *g;
        ck_assert_int_eq(store_log_create(f.st, "del", p, NULL, &g), SL_OK);
        append_n(g, 2, 1, 100, 0);
        fx_flush(g);
    }
    static struct store_rmdirs rd;
    store_rmdirs_init(f.st, &rd, rmdirs_ready);
    rmdirs_ready_count = 0;
    for (int p = 0; p < PARTS; p++) {
        for (int i = 0; i < 10000 && store_rmdirs_full(&rd); i++) loop_run_once(&f.loop, 5);
        ck_assert(!store_rmdirs_full(&rd));
        ck_assert_int_eq(store_log_delete_async(f.st, store_log_get(f.st, "del", p), &rd), SL_OK);
        ck_assert_ptr_null(store_log_get(f.st, "del", p));
        ck_assert_uint_le(rd.inflight, STORE_RMDIRS_INFLIGHT);
    }
    for (int i = 0; i < 10000 && store_rmdirs_busy(&rd); i++) loop_run_once(&f.loop, 5);
    ck_assert(!store_rmdirs_busy(&rd));
    ck_assert_int_eq(rmdirs_ready_count, PARTS);
    for (int p = 0; p < PARTS; p++) {
        char name[32];
        snprintf(name, sizeof(name), "del-%d", p);
        ck_assert_msg(!dir_exists(&f, name), "%s is left", name);
    }
    fx_end(&f);
}
END_TEST

static Suite *log_suite(void) {
    Suite *s = suite_create("storage/log");
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_append_read_across_rolls, 0, (int)(sizeof(shapes) / sizeof(shapes[0])));
    tcase_add_test(tc, test_refuses_bad_batches);
    tcase_add_test(tc, test_truncate);
    tcase_add_test(tc, test_reset_starts_again_beyond_the_end);
    tcase_add_test(tc, test_delete_before_and_span_survives);
    tcase_add_test(tc, test_offset_for_time);
    tcase_add_test(tc, test_many_partitions_few_fds);
    tcase_add_test(tc, test_partitions_made_ahead);
    tcase_add_test(tc, test_delete_async);
    tcase_add_test(tc, test_roll_by_time);
    tcase_add_loop_test(tc, test_append_ref_zero_copy, 0, (int)(sizeof(shapes) / sizeof(shapes[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *r = srunner_create(log_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
