/* storage_retention_test.c: storage/retention.c: time and size retention with an injected
 * clock (no sleeping), whole segments only, never the active one, readers keep their bytes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "storage_fixture.h"

#define BATCHES 40

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

int main(void) {
    Suite *s = suite_create("storage/retention");
    TCase *tc = tcase_create("retention");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_time_retention);
    tcase_add_test(tc, test_size_retention);
    tcase_add_test(tc, test_reader_keeps_bytes_across_retention);
    tcase_add_test(tc, test_retention_after_restart_and_by_store);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
