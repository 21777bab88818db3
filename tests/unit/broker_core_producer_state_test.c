/* broker_core_producer_state_test.c: verdicts, forgetting a failed batch, and the snapshot and
 * replay that rebuild the state on open. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core/producer_state.h"
#include "storage_fixture.h"

static enum pstate_verdict t_check(struct pstate *ps, int64_t pid, int16_t epoch, int32_t first, int32_t last,
                                   int64_t *f, int64_t *l) {
    *f = *l = -1;
    return pstate_check(ps, pid, epoch, first, last, f, l);
}

START_TEST(test_verdicts) {
    struct pstate *ps = pstate_new();
    int64_t f, l;
    ck_assert_int_eq(t_check(ps, -1, -1, -1, -1, &f, &l), PSTATE_APPEND); /* not idempotent */
    ck_assert_int_eq(t_check(ps, 5, 0, 3, 4, &f, &l), PSTATE_UNKNOWN);
    ck_assert_int_eq(t_check(ps, 5, 0, 0, 2, &f, &l), PSTATE_APPEND);
    pstate_record(ps, 5, 0, 0, 2, 100, 102);
    ck_assert_uint_eq(pstate_producer_count(ps), 1);
    ck_assert_int_eq(t_check(ps, 5, 0, 0, 2, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(f, 100);
    ck_assert_int_eq(l, 102);
    ck_assert_int_eq(t_check(ps, 5, 0, 3, 3, &f, &l), PSTATE_APPEND);
    ck_assert_int_eq(t_check(ps, 5, 0, 4, 4, &f, &l), PSTATE_OUT_OF_ORDER);
    ck_assert_int_eq(t_check(ps, 5, 0, 1, 2, &f, &l), PSTATE_OUT_OF_ORDER);
    ck_assert_int_eq(t_check(ps, 5, 1, 0, 0, &f, &l), PSTATE_APPEND);       /* a new epoch restarts at 0 */
    ck_assert_int_eq(t_check(ps, 5, 1, 3, 3, &f, &l), PSTATE_OUT_OF_ORDER); /* ... and only there */
    pstate_record(ps, 5, 1, 0, 0, 103, 103);
    ck_assert_int_eq(t_check(ps, 5, 0, 3, 3, &f, &l), PSTATE_FENCED);
    ck_assert_int_eq(t_check(ps, 5, 0, 0, 2, &f, &l), PSTATE_FENCED);
    /* Only the last five batches are retained. */
    for (int32_t s = 1; s <= 6; s++) pstate_record(ps, 5, 1, s, s, 103 + s, 103 + s);
    ck_assert_int_eq(t_check(ps, 5, 1, 1, 1, &f, &l), PSTATE_OUT_OF_ORDER);
    ck_assert_int_eq(t_check(ps, 5, 1, 2, 2, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(f, 105);
    ck_assert_int_eq(t_check(ps, 5, 1, 7, 7, &f, &l), PSTATE_APPEND);
    /* Sequences wrap at INT32_MAX. */
    ck_assert_int_eq(pstate_seq_add(INT32_MAX - 1, 3), 1);
    pstate_record(ps, 9, 0, INT32_MAX - 1, INT32_MAX, 200, 201);
    ck_assert_int_eq(t_check(ps, 9, 0, 0, 0, &f, &l), PSTATE_APPEND);
    ck_assert_uint_eq(pstate_producer_count(ps), 2);
    pstate_free(ps);
}
END_TEST

START_TEST(test_forget) {
    struct pstate *ps = pstate_new();
    int64_t f, l;
    pstate_record(ps, 1, 0, 0, 0, 10, 10);
    pstate_record(ps, 1, 0, 1, 2, 11, 12);
    pstate_record(ps, 1, 0, 3, 3, 13, 13);
    pstate_record(ps, 2, 0, 0, 0, 14, 14);
    /* Batch 1-2 failed: it and the later 3 go, 0 and the other producer stay. */
    pstate_forget(ps, 1, 0, 1);
    ck_assert_int_eq(t_check(ps, 1, 0, 0, 0, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(f, 10);
    ck_assert_int_eq(t_check(ps, 1, 0, 1, 2, &f, &l), PSTATE_APPEND);
    ck_assert_int_eq(t_check(ps, 1, 0, 3, 3, &f, &l), PSTATE_OUT_OF_ORDER);
    ck_assert_int_eq(t_check(ps, 2, 0, 0, 0, &f, &l), PSTATE_DUPLICATE);
    /* Already forgotten, or another epoch: nothing happens. */
    pstate_forget(ps, 1, 0, 3);
    pstate_forget(ps, 1, 1, 0);
    pstate_forget(ps, 77, 0, 0);
    ck_assert_int_eq(t_check(ps, 1, 0, 0, 0, &f, &l), PSTATE_DUPLICATE);
    /* Recording after a forget continues the ring where the failed batch was. */
    pstate_record(ps, 1, 0, 1, 2, 20, 21);
    ck_assert_int_eq(t_check(ps, 1, 0, 1, 2, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(f, 20);
    ck_assert_int_eq(t_check(ps, 1, 0, 3, 3, &f, &l), PSTATE_APPEND);
    /* The first batch of a producer failed: the producer is unknown again. */
    pstate_forget(ps, 2, 0, 0);
    ck_assert_uint_eq(pstate_producer_count(ps), 1);
    ck_assert_int_eq(t_check(ps, 2, 0, 1, 1, &f, &l), PSTATE_UNKNOWN);
    /* A full ring: forgetting the newest keeps the four before it. */
    for (int32_t s = 0; s < 7; s++) pstate_record(ps, 3, 0, s, s, 100 + s, 100 + s);
    pstate_forget(ps, 3, 0, 6);
    ck_assert_int_eq(t_check(ps, 3, 0, 6, 6, &f, &l), PSTATE_APPEND);
    ck_assert_int_eq(t_check(ps, 3, 0, 5, 5, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(t_check(ps, 3, 0, 2, 2, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(t_check(ps, 3, 0, 1, 1, &f, &l), PSTATE_OUT_OF_ORDER);
    pstate_free(ps);
}
END_TEST

/* Appends an idempotent batch of nrec records straight to the log; returns its base offset. */
static int64_t t_append(struct log *g, int64_t pid, int16_t epoch, int32_t seq, uint32_t nrec) {
    struct kafka_record_in recs[8];
    for (uint32_t i = 0; i < nrec; i++)
        recs[i] = (struct kafka_record_in){.key = "k", .key_len = 1, .value = "v", .value_len = 1, .timestamp_ms = 1};
    uint8_t b[1024];
    size_t n = kafka_batch_encode(b, sizeof(b), recs, nrec, pid, epoch, seq);
    ck_assert_uint_gt(n, 0);
    int64_t base;
    ck_assert_int_eq(log_append(g, b, (uint32_t)n, &base, NULL, false), SL_OK);
    return base;
}

START_TEST(test_snapshot_and_replay) {
    struct fx f;
    fx_start(&f, NULL);
    struct log *g;
    struct log_config c;
    log_config_defaults(&c);
    ck_assert_int_eq(store_log_create(f.st, "p", 0, &c, &g), SL_OK);
    ck_assert_int_eq(t_append(g, 1, 0, 0, 2), 0);
    ck_assert_int_eq(t_append(g, -1, -1, -1, 1), 2);
    ck_assert_int_eq(t_append(g, 2, 3, 0, 1), 3);
    fx_flush(g);
    /* Replay from the log alone. */
    struct pstate *ps;
    ck_assert_int_eq(pstate_load(&ps, g), SL_OK);
    int64_t fo, lo;
    ck_assert_uint_eq(pstate_producer_count(ps), 2);
    ck_assert_int_eq(t_check(ps, 1, 0, 0, 1, &fo, &lo), PSTATE_DUPLICATE);
    ck_assert_int_eq(fo, 0);
    ck_assert_int_eq(lo, 1);
    ck_assert_int_eq(t_check(ps, 2, 3, 0, 0, &fo, &lo), PSTATE_DUPLICATE);
    ck_assert_int_eq(fo, 3);
    /* A snapshot at offset 4, then more batches after it: both are seen on load. */
    ck_assert_int_eq(pstate_save(ps, log_dir(g), log_end_offset(g)), SL_OK);
    pstate_free(ps);
    ck_assert_int_eq(t_append(g, 1, 0, 2, 3), 4);
    fx_flush(g);
    char snap[512];
    snprintf(snap, sizeof(snap), "%s/producer_state", log_dir(g));
    uint8_t *text;
    long len = t_read_file(snap, &text);
    const char expect_head[] = "end 4\n";
    ck_assert_int_ge(len, (long)strlen(expect_head));
    ck_assert_mem_eq(text, expect_head, strlen(expect_head));
    free(text);
    ck_assert_int_eq(pstate_load(&ps, g), SL_OK);
    ck_assert_int_eq(access(snap, F_OK), -1); /* consumed: the log is the truth from here on */
    ck_assert_int_eq(t_check(ps, 1, 0, 0, 1, &fo, &lo), PSTATE_DUPLICATE);
    ck_assert_int_eq(t_check(ps, 1, 0, 2, 4, &fo, &lo), PSTATE_DUPLICATE);
    ck_assert_int_eq(fo, 4);
    ck_assert_int_eq(lo, 6);
    ck_assert_int_eq(t_check(ps, 1, 0, 5, 5, &fo, &lo), PSTATE_APPEND);
    ck_assert_int_eq(t_check(ps, 2, 3, 0, 0, &fo, &lo), PSTATE_DUPLICATE);
    pstate_free(ps);
    /* A snapshot claiming more than the log holds is ignored: replay from the start. */
    struct pstate *bogus = pstate_new();
    pstate_record(bogus, 9, 0, 0, 0, 50, 50);
    ck_assert_int_eq(pstate_save(bogus, log_dir(g), 99), SL_OK);
    pstate_free(bogus);
    ck_assert_int_eq(pstate_load(&ps, g), SL_OK);
    ck_assert_uint_eq(pstate_producer_count(ps), 2);
    ck_assert_int_eq(t_check(ps, 9, 0, 1, 1, &fo, &lo), PSTATE_UNKNOWN);
    ck_assert_int_eq(t_check(ps, 1, 0, 2, 4, &fo, &lo), PSTATE_DUPLICATE);
    pstate_free(ps);
    fx_end(&f);
}
END_TEST

static Suite *pstate_suite(void) {
    Suite *s = suite_create("broker/core/producer_state");
    TCase *tc = tcase_create("state");
    tcase_add_test(tc, test_verdicts);
    tcase_add_test(tc, test_forget);
    tcase_add_test(tc, test_snapshot_and_replay);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *r = srunner_create(pstate_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
