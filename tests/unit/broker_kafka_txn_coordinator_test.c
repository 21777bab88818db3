/* broker_kafka_txn_coordinator_test.c: the transaction coordinator's log and finishing
 * (broker/kafka/txn_coordinator.c) on a real store: entries survive a reopen field by field; a
 * commit writes its markers, then the pending offsets, then Complete; a Prepare* entry found
 * at open is finished; a timeout aborts; a failed marker leaves Prepare* and the retry
 * completes it. Markers go to a recording writer (the partitions' side has its own suite). */
#include "storage_fixture.h"

#include "broker/kafka/txn_coordinator.h"
#include "storage/offsets.h"

struct marker_rec {
    char topic[32];
    int32_t partition;
    int64_t producer_id;
    int16_t epoch;
    bool commit;
};

struct fake_parts {
    struct marker_rec recs[64];
    uint32_t count;
    uint32_t fail_left; /* the next this many writes fail with SL_IO */
};

static sl_err fake_write(void *arg, const char *topic, int32_t partition, int64_t producer_id, int16_t epoch,
                         int32_t coordinator_epoch, bool commit, struct partition_append_done *done) {
    (void)coordinator_epoch;
    struct fake_parts *fp = arg;
    if (!strcmp(topic, "gone")) return SL_NO_PARTITION;
    if (fp->fail_left) {
        fp->fail_left--;
        return SL_IO;
    }
    ck_assert_uint_lt(fp->count, 64);
    struct marker_rec *r = &fp->recs[fp->count++];
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    r->partition = partition;
    r->producer_id = producer_id;
    r->epoch = epoch;
    r->commit = commit;
    done->fn(done, SL_OK); /* durable at once: the order of the stages is what is tested */
    return SL_OK;
}

struct fin {
    struct txn_finish_waiter w;
    bool fired;
    sl_err err;
};

static void fin_done(struct txn_finish_waiter *w, sl_err err) {
    struct fin *f = (struct fin *)w;
    f->fired = true;
    f->err = err;
}

static bool fin_fired(void *arg) { return ((struct fin *)arg)->fired; }

struct flag_waiter {
    struct log_waiter w;
    bool fired;
};

static void flag_done(struct log_waiter *w, sl_err err) {
    ck_assert_int_eq(err, SL_OK);
    ((struct flag_waiter *)w)->fired = true;
}

static bool flag_fired(void *arg) { return ((struct flag_waiter *)arg)->fired; }

struct env {
    struct fx f;
    struct offsets *o;
    struct txn_coordinator *tc;
    struct fake_parts parts;
};

static void env_open(struct env *e) {
    ck_assert_int_eq(offsets_open(&e->o, e->f.st, loop_now_ms(&e->f.loop)), SL_OK);
    struct txn_marker_ops ops = {fake_write, &e->parts};
    ck_assert_int_eq(txn_coordinator_open(&e->tc, &e->f.loop, e->f.st, e->o, &ops, 16, 900000), SL_OK);
}

static void env_reopen(struct env *e) {
    txn_coordinator_close(e->tc);
    offsets_close(e->o);
    fx_close(&e->f);
    fx_open(&e->f, NULL);
    env_open(e);
}

static bool tc_idle(void *arg) { return txn_coordinator_finishing(arg) == 0; }

static void run_idle(struct env *e) { ck_assert(loop_run_until(&e->f.loop, tc_idle, e->tc, 5000)); }

static void persist_wait(struct env *e, const char *id) {
    struct flag_waiter fw = {{.done = flag_done}, false};
    ck_assert_int_eq(txn_coordinator_persist(e->tc, id, &fw.w), SL_OK);
    ck_assert(loop_run_until(&e->f.loop, flag_fired, &fw, 5000));
}

static void finish_wait(struct env *e, const char *id, sl_err want) {
    struct fin fin = {{fin_done, NULL}, false, SL_OK};
    txn_coordinator_finish(e->tc, id, &fin.w);
    ck_assert(loop_run_until(&e->f.loop, fin_fired, &fin, 5000));
    ck_assert_int_eq(fin.err, want);
}

/* An ongoing transaction with partitions, a group and pending offsets survives a reopen; its
 * commit marks every partition, then commits the offsets, then completes (durably). */
START_TEST(test_ongoing_survives_reopen_then_commits) {
    struct env e = {0};
    fx_start(&e.f, NULL);
    env_open(&e);
    struct txn_coord *sm = txn_coordinator_state(e.tc);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(sm, "tx", 60000, 77, &t), SL_OK);
    ck_assert_int_eq(txn_add_partition(sm, "tx", 77, 0, "out", 0, 1), SL_OK);
    ck_assert_int_eq(txn_add_partition(sm, "tx", 77, 0, "out", 2, 1), SL_OK);
    ck_assert_int_eq(txn_add_partition(sm, "tx", 77, 0, "gone", 0, 1), SL_OK);
    ck_assert_int_eq(txn_add_group(sm, "tx", 77, 0, "grp", 1), SL_OK);
    ck_assert_int_eq(txn_add_offset(sm, "tx", 77, 0, "grp", "in", 3, 1234, 5, "meta", 4), SL_OK);
    persist_wait(&e, "tx");

    env_reopen(&e);
    sm = txn_coordinator_state(e.tc);
    t = txn_get(sm, "tx");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->state, TXN_ONGOING);
    ck_assert_int_eq(t->producer_id, 77);
    ck_assert_int_eq(t->timeout_ms, 60000);
    ck_assert_uint_eq(t->started_ms, loop_mono_ms(&e.f.loop));
    ck_assert_uint_eq(t->part_count, 3);
    ck_assert_uint_eq(t->offset_count, 1);
    ck_assert(txn_offset_pending(sm, "grp", "in", 2, 3));
    ck_assert_ptr_null(offsets_get(e.o, "grp", "in", 2, 3)); /* pending, not committed */
    ck_assert_uint_eq(e.parts.count, 0);

    ck_assert_int_eq(txn_end(sm, "tx", 77, 0, true, &t), SL_OK);
    finish_wait(&e, "tx", SL_OK);
    ck_assert_uint_eq(e.parts.count, 2); /* "gone" has no partition any more */
    ck_assert_str_eq(e.parts.recs[0].topic, "out");
    ck_assert_int_eq(e.parts.recs[0].partition, 0);
    ck_assert_int_eq(e.parts.recs[1].partition, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert(e.parts.recs[i].commit);
        ck_assert_int_eq(e.parts.recs[i].producer_id, 77);
        ck_assert_int_eq(e.parts.recs[i].epoch, 0);
    }
    const struct offset_value *v = offsets_get(e.o, "grp", "in", 2, 3);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->offset, 1234);
    ck_assert_int_eq(v->leader_epoch, 5);
    ck_assert_int_eq(v->metadata_len, 4);
    ck_assert_mem_eq(v->metadata, "meta", 4);
    ck_assert(!txn_offset_pending(sm, "grp", "in", 2, 3));
    ck_assert_int_eq(txn_get(sm, "tx")->state, TXN_COMPLETE_COMMIT);
    ck_assert_uint_eq(txn_coordinator_stats(e.tc)->committed, 1);

    /* Complete and the offsets were durable before the answer: both are there after a reopen. */
    env_reopen(&e);
    sm = txn_coordinator_state(e.tc);
    ck_assert_int_eq(txn_get(sm, "tx")->state, TXN_COMPLETE_COMMIT);
    ck_assert_uint_eq(txn_get(sm, "tx")->part_count, 0);
    ck_assert_int_eq(offsets_get(e.o, "grp", "in", 2, 3)->offset, 1234);
    ck_assert_uint_eq(txn_coordinator_finishing(e.tc), 0);
    ck_assert_uint_eq(e.parts.count, 2);
    ck_assert_int_gt(txn_get(sm, "tx")->updated_ms, 0); /* the wall time of its last change */

    /* An idle id expires at the first look past its expiration, and its record goes too. */
    uint64_t now = loop_mono_ms(&e.f.loop);
    txn_coordinator_tick(e.tc, now);
    ck_assert_ptr_nonnull(txn_get(sm, "tx")); /* not looked at yet */
    txn_coordinator_set_id_expiration(e.tc, 0);
    txn_coordinator_tick(e.tc, now + TXN_ID_EXPIRY_CHECK_MS);
    ck_assert_ptr_null(txn_get(sm, "tx"));
    env_reopen(&e);
    ck_assert_ptr_null(txn_get(txn_coordinator_state(e.tc), "tx"));
    ck_assert_int_eq(offsets_get(e.o, "grp", "in", 2, 3)->offset, 1234);
    txn_coordinator_close(e.tc);
    offsets_close(e.o);
    fx_end(&e.f);
}
END_TEST

/* A Prepare* entry found at open (the broker died before its markers) is finished: markers
 * written, Complete durable; an abort drops its pending offsets. */
START_TEST(test_prepared_entry_finished_at_open) {
    struct env e = {0};
    fx_start(&e.f, NULL);
    env_open(&e);
    struct txn_coord *sm = txn_coordinator_state(e.tc);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(sm, "ab", 60000, 5, &t), SL_OK);
    ck_assert_int_eq(txn_add_partition(sm, "ab", 5, 0, "x", 1, 1), SL_OK);
    ck_assert_int_eq(txn_add_group(sm, "ab", 5, 0, "g", 1), SL_OK);
    ck_assert_int_eq(txn_add_offset(sm, "ab", 5, 0, "g", "x", 0, 9, -1, NULL, -1), SL_OK);
    ck_assert_int_eq(txn_end(sm, "ab", 5, 0, false, &t), SL_OK);
    persist_wait(&e, "ab");

    env_reopen(&e); /* opening starts the finish */
    sm = txn_coordinator_state(e.tc);
    run_idle(&e);
    ck_assert_uint_eq(txn_coordinator_finishing(e.tc), 0);
    ck_assert_uint_eq(e.parts.count, 1);
    ck_assert(!e.parts.recs[0].commit);
    ck_assert_str_eq(e.parts.recs[0].topic, "x");
    ck_assert_int_eq(txn_get(sm, "ab")->state, TXN_COMPLETE_ABORT);
    ck_assert_ptr_null(offsets_get(e.o, "g", "x", 1, 0));
    ck_assert_uint_eq(txn_coordinator_stats(e.tc)->aborted, 1);
    env_reopen(&e);
    ck_assert_int_eq(txn_get(txn_coordinator_state(e.tc), "ab")->state, TXN_COMPLETE_ABORT);
    txn_coordinator_close(e.tc);
    offsets_close(e.o);
    fx_end(&e.f);
}
END_TEST

/* The tick aborts a transaction past its timeout under a bumped epoch; a marker that fails
 * leaves Prepare* and the tick after TXN_RETRY_MS completes it. */
START_TEST(test_timeout_and_retry) {
    struct env e = {0};
    fx_start(&e.f, NULL);
    env_open(&e);
    struct txn_coord *sm = txn_coordinator_state(e.tc);
    const struct txn *t;
    uint64_t now = loop_mono_ms(&e.f.loop);
    ck_assert_int_eq(txn_init_producer(sm, "slow", 1000, 8, &t), SL_OK);
    ck_assert_int_eq(txn_add_partition(sm, "slow", 8, 0, "y", 0, now), SL_OK);
    ck_assert_uint_eq(txn_coordinator_tick(e.tc, now + 999), now + 1000);
    e.parts.fail_left = 1;
    ck_assert_uint_eq(txn_coordinator_tick(e.tc, now + 1000) >= now + 1000, true);
    run_idle(&e);
    ck_assert_int_eq(txn_get(sm, "slow")->state, TXN_PREPARE_ABORT);
    ck_assert_int_eq(txn_get(sm, "slow")->epoch, 1);
    ck_assert_uint_eq(e.parts.count, 0);
    /* The retry is due TXN_RETRY_MS after the failure on the loop's clock; a tick at the loop's
     * time now names it (a tick at now + 1001 ran it at once whenever the failure came within
     * the millisecond `now` was read in, and the idle-id check became the next deadline). */
    uint64_t retry = txn_coordinator_tick(e.tc, loop_mono_ms(&e.f.loop));
    ck_assert_uint_ne(retry, UINT64_MAX);
    txn_coordinator_tick(e.tc, retry);
    run_idle(&e);
    ck_assert_int_eq(txn_get(sm, "slow")->state, TXN_COMPLETE_ABORT);
    ck_assert_uint_eq(e.parts.count, 1);
    ck_assert_int_eq(e.parts.recs[0].epoch, 1);
    ck_assert(!e.parts.recs[0].commit);
    ck_assert_uint_eq(txn_coordinator_stats(e.tc)->timed_out, 1);
    ck_assert_uint_eq(txn_coordinator_stats(e.tc)->aborted, 1);
    uint64_t next = txn_coordinator_tick(e.tc, retry + 1); /* only the look at idle ids is left */
    ck_assert_uint_gt(next, retry + 1);
    ck_assert_uint_le(next, now + TXN_ID_EXPIRY_CHECK_MS);
    /* A failure reported to the waiter of an EndTxn. */
    ck_assert_int_eq(txn_init_producer(sm, "slow", 1000, 8, &t), SL_OK);
    ck_assert_int_eq(txn_add_partition(sm, "slow", 8, 2, "y", 1, now), SL_OK);
    ck_assert_int_eq(txn_end(sm, "slow", 8, 2, true, &t), SL_OK);
    e.parts.fail_left = 1;
    finish_wait(&e, "slow", SL_IO);
    ck_assert_int_eq(txn_get(sm, "slow")->state, TXN_PREPARE_COMMIT);
    ck_assert_int_eq(txn_end(sm, "slow", 8, 2, true, &t), SL_CONCURRENT_TRANSACTIONS);
    finish_wait(&e, "slow", SL_OK);
    ck_assert_int_eq(txn_end(sm, "slow", 8, 2, true, &t), SL_OK);
    ck_assert_int_eq(t->state, TXN_COMPLETE_COMMIT);
    txn_coordinator_close(e.tc);
    offsets_close(e.o);
    fx_end(&e.f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/kafka/txn_coordinator");
    TCase *tc = tcase_create("txn_coordinator");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ongoing_survives_reopen_then_commits);
    tcase_add_test(tc, test_prepared_entry_finished_at_open);
    tcase_add_test(tc, test_timeout_and_retry);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
