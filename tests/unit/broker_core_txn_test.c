/* broker_core_txn_test.c: the transaction coordinator's state machine (broker/core/txn.c):
 * a commit and an abort cycle, fencing of a zombie by InitProducerId, the abort an
 * InitProducerId forces on an ongoing transaction, retries of EndTxn, timeouts, epoch
 * exhaustion and the limits. Time is stepped, never slept. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/txn.h"
#include "storage/kvlog.h"

START_TEST(test_commit_then_abort_cycle) {
    struct txn_coord *c = txn_coord_new(8, 900000);
    const struct txn *t;
    ck_assert_ptr_null(txn_get(c, "t1"));
    ck_assert_int_eq(txn_init_producer(c, "t1", 60000, 1000, &t), SL_OK);
    ck_assert_int_eq(t->producer_id, 1000);
    ck_assert_int_eq(t->epoch, 0);
    ck_assert_int_eq(t->state, TXN_EMPTY);
    ck_assert_int_eq(txn_add_partition(c, "t1", 1000, 0, "out", 0, 10), SL_OK);
    ck_assert_int_eq(txn_add_partition(c, "t1", 1000, 0, "out", 2, 11), SL_OK);
    ck_assert_int_eq(txn_add_partition(c, "t1", 1000, 0, "out", 0, 12), SL_OK); /* again: once */
    ck_assert_int_eq(txn_check_offsets(c, "t1", 1000, 0, "g"), SL_INVALID_TXN_STATE); /* not added */
    ck_assert_int_eq(txn_add_group(c, "t1", 1000, 0, "g", 13), SL_OK);
    ck_assert_int_eq(txn_check_offsets(c, "t1", 1000, 0, "g"), SL_OK);
    t = txn_get(c, "t1");
    ck_assert_int_eq(t->state, TXN_ONGOING);
    ck_assert_uint_eq(t->started_ms, 10);
    ck_assert_uint_eq(t->part_count, 2);
    ck_assert_str_eq(t->parts[0].topic, "out");
    ck_assert_int_eq(t->parts[0].partition, 0);
    ck_assert_int_eq(t->parts[1].partition, 2);
    ck_assert_uint_eq(t->group_count, 1);
    ck_assert_str_eq(t->groups[0], "g");

    ck_assert_int_eq(txn_end(c, "t1", 1000, 0, true, &t), SL_OK);
    ck_assert_int_eq(t->state, TXN_PREPARE_COMMIT);
    ck_assert_int_eq(txn_end(c, "t1", 1000, 0, true, &t), SL_CONCURRENT_TRANSACTIONS); /* markers in flight */
    ck_assert_int_eq(txn_end(c, "t1", 1000, 0, false, &t), SL_INVALID_TXN_STATE);
    ck_assert_int_eq(txn_add_partition(c, "t1", 1000, 0, "out", 1, 14), SL_CONCURRENT_TRANSACTIONS);
    txn_complete(c, "t1");
    t = txn_get(c, "t1");
    ck_assert_int_eq(t->state, TXN_COMPLETE_COMMIT);
    ck_assert_uint_eq(t->part_count, 0);
    ck_assert_uint_eq(t->group_count, 0);
    ck_assert_int_eq(txn_end(c, "t1", 1000, 0, true, &t), SL_OK); /* a retry: done already */
    ck_assert_int_eq(t->state, TXN_COMPLETE_COMMIT);
    ck_assert_int_eq(txn_end(c, "t1", 1000, 0, false, &t), SL_INVALID_TXN_STATE);

    ck_assert_int_eq(txn_add_partition(c, "t1", 1000, 0, "out", 1, 20), SL_OK);
    t = txn_get(c, "t1");
    ck_assert_uint_eq(t->started_ms, 20);
    ck_assert_int_eq(txn_end(c, "t1", 1000, 0, false, &t), SL_OK);
    ck_assert_int_eq(t->state, TXN_PREPARE_ABORT);
    ck_assert_uint_eq(t->part_count, 1);
    ck_assert_int_eq(t->parts[0].partition, 1);
    txn_complete(c, "t1");
    ck_assert_int_eq(txn_get(c, "t1")->state, TXN_COMPLETE_ABORT);
    txn_coord_free(c);
}
END_TEST

START_TEST(test_zombie_fenced) {
    struct txn_coord *c = txn_coord_new(8, 900000);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(c, "t", 1000, 7, &t), SL_OK);
    ck_assert_int_eq(txn_add_partition(c, "t", 7, 0, "a", 0, 1), SL_OK);
    /* A second producer with the same id: the ongoing transaction is aborted under epoch 1. */
    ck_assert_int_eq(txn_init_producer(c, "t", 1000, 99, &t), SL_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(t->producer_id, 7);
    ck_assert_int_eq(t->epoch, 1);
    ck_assert_int_eq(t->state, TXN_PREPARE_ABORT);
    ck_assert_uint_eq(t->part_count, 1);
    ck_assert_int_eq(txn_init_producer(c, "t", 1000, 99, &t), SL_CONCURRENT_TRANSACTIONS); /* still aborting */
    txn_complete(c, "t");
    ck_assert_int_eq(txn_init_producer(c, "t", 1000, 99, &t), SL_OK);
    ck_assert_int_eq(t->producer_id, 7);
    ck_assert_int_eq(t->epoch, 2);
    ck_assert_int_eq(t->state, TXN_EMPTY);
    /* The zombie (epoch 0) is fenced everywhere; a stranger's producer id is not the id's. */
    ck_assert_int_eq(txn_add_partition(c, "t", 7, 0, "a", 0, 2), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_add_group(c, "t", 7, 0, "g", 2), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_end(c, "t", 7, 0, true, &t), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_check_offsets(c, "t", 7, 0, "g"), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_add_partition(c, "t", 8, 2, "a", 0, 2), SL_INVALID_PRODUCER_ID_MAPPING);
    ck_assert_int_eq(txn_add_partition(c, "nope", 7, 2, "a", 0, 2), SL_INVALID_PRODUCER_ID_MAPPING);
    ck_assert_int_eq(txn_end(c, "t", 7, 2, true, &t), SL_INVALID_TXN_STATE); /* nothing begun */
    ck_assert_int_eq(txn_add_partition(c, "t", 7, 2, "a", 0, 2), SL_OK);
    txn_coord_free(c);
}
END_TEST

START_TEST(test_timeout_aborts_and_fences) {
    struct txn_coord *c = txn_coord_new(8, 900000);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(c, "slow", 5000, 1, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "idle", 5000, 2, &t), SL_OK);
    ck_assert_int_eq(txn_add_partition(c, "slow", 1, 0, "a", 3, 1000), SL_OK);
    ck_assert_ptr_null(txn_expire_next(c, 5999));
    t = txn_expire_next(c, 6000);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->id, "slow");
    ck_assert_int_eq(t->state, TXN_PREPARE_ABORT);
    ck_assert_int_eq(t->epoch, 1);
    ck_assert_ptr_null(txn_expire_next(c, 6000)); /* idle has no transaction */
    txn_complete(c, "slow");
    ck_assert_int_eq(txn_end(c, "slow", 1, 0, true, &t), SL_PRODUCER_FENCED);
    txn_coord_free(c);
}
END_TEST

START_TEST(test_epoch_exhaustion_and_limits) {
    struct txn_coord *c = txn_coord_new(2, 60000);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(c, "t", 60001, 1, &t), SL_INVALID_TRANSACTION_TIMEOUT);
    ck_assert_int_eq(txn_init_producer(c, "t", 0, 1, &t), SL_INVALID_TRANSACTION_TIMEOUT);
    ck_assert_int_eq(txn_init_producer(c, "t", 60000, 1, &t), SL_OK);
    for (int i = 1; i <= INT16_MAX - 1; i++) {
        ck_assert_int_eq(txn_init_producer(c, "t", 60000, 2, &t), SL_OK);
        ck_assert_int_eq(t->producer_id, 1);
        ck_assert_int_eq(t->epoch, i);
    }
    /* Past epoch 32766 the id moves to the new producer id at epoch 0. */
    ck_assert_int_eq(txn_init_producer(c, "t", 60000, 2, &t), SL_OK);
    ck_assert_int_eq(t->producer_id, 2);
    ck_assert_int_eq(t->epoch, 0);
    /* An ongoing transaction at the last epoch is aborted under its own producer id (its
     * markers name it); the retry then moves to the new id. */
    for (int i = 0; i < INT16_MAX - 2; i++) ck_assert_int_eq(txn_init_producer(c, "t", 60000, 5, &t), SL_OK);
    ck_assert_int_eq(t->epoch, INT16_MAX - 2);
    ck_assert_int_eq(txn_add_partition(c, "t", 2, INT16_MAX - 2, "a", 0, 1), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "t", 60000, 5, &t), SL_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(t->producer_id, 2);
    ck_assert_int_eq(t->epoch, INT16_MAX - 1);
    ck_assert_int_eq(txn_add_partition(c, "t", 2, INT16_MAX - 1, "a", 0, 1), SL_CONCURRENT_TRANSACTIONS);
    txn_complete(c, "t");
    ck_assert_int_eq(txn_init_producer(c, "t", 60000, 5, &t), SL_OK);
    ck_assert_int_eq(t->producer_id, 5);
    ck_assert_int_eq(t->epoch, 0);
    ck_assert_int_eq(txn_init_producer(c, "u", 1, 3, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "v", 1, 4, &t), SL_POLICY_VIOLATION);
    txn_coord_free(c);
}
END_TEST

/* An entry survives encode and restore field by field; a damaged value is refused. */
START_TEST(test_persist_round_trip) {
    struct txn_coord *c = txn_coord_new(2, 900000);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(c, "t", 30000, 42, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "t", 30000, 43, &t), SL_OK); /* epoch 1 */
    ck_assert_int_eq(txn_add_partition(c, "t", 42, 1, "orders", 2, 5), SL_OK);
    ck_assert_int_eq(txn_add_partition(c, "t", 42, 1, "x", 0, 5), SL_OK);
    ck_assert_int_eq(txn_add_group(c, "t", 42, 1, "grp", 5), SL_OK);
    ck_assert_int_eq(txn_end(c, "t", 42, 1, true, &t), SL_OK);
    struct kvlog_tlv_writer w = {0};
    txn_encode(txn_get(c, "t"), &w);

    struct txn_coord *d = txn_coord_new(1, 900000);
    ck_assert_int_eq(txn_restore(d, "t", w.p, (uint32_t)w.len, 777), SL_OK);
    t = txn_get(d, "t");
    ck_assert_int_eq(t->producer_id, 42);
    ck_assert_int_eq(t->epoch, 1);
    ck_assert_int_eq(t->state, TXN_PREPARE_COMMIT);
    ck_assert_int_eq(t->timeout_ms, 30000);
    ck_assert_uint_eq(t->started_ms, 777);
    ck_assert_uint_eq(t->part_count, 2);
    ck_assert_str_eq(t->parts[0].topic, "orders");
    ck_assert_int_eq(t->parts[0].partition, 2);
    ck_assert_str_eq(t->parts[1].topic, "x");
    ck_assert_int_eq(t->parts[1].partition, 0);
    ck_assert_uint_eq(t->group_count, 1);
    ck_assert_str_eq(t->groups[0], "grp");
    txn_complete(d, "t");
    ck_assert_int_eq(txn_init_producer(d, "t", 30000, 1, &t), SL_OK);
    ck_assert_int_eq(t->epoch, 2);

    /* A later record replaces the entry; the limit holds; damage is refused. */
    ck_assert_int_eq(txn_restore(d, "t", w.p, (uint32_t)w.len, 1), SL_OK);
    ck_assert_int_eq(txn_get(d, "t")->epoch, 1);
    ck_assert_int_eq(txn_restore(d, "other", w.p, (uint32_t)w.len, 1), SL_POLICY_VIOLATION);
    /* Cut inside the four required fields (2 + 4 * 14 bytes) or inside the last field. */
    for (uint32_t cut = 0; cut < 58; cut++) ck_assert_int_eq(txn_restore(d, "t", w.p, cut, 1), SL_CORRUPT);
    ck_assert_int_eq(txn_restore(d, "t", w.p, (uint32_t)w.len - 1, 1), SL_CORRUPT);
    uint8_t *bad = malloc(w.len);
    memcpy(bad, w.p, w.len);
    bad[1] = 2; /* version 2 */
    ck_assert_int_eq(txn_restore(d, "t", bad, (uint32_t)w.len, 1), SL_CORRUPT);
    free(bad);
    ck_assert_int_eq(txn_get(d, "t")->epoch, 1); /* unchanged by the refusals */
    kvlog_tlv_free(&w);
    txn_coord_free(d);
    txn_coord_free(c);
}
END_TEST

/* TxnOffsetCommit's offsets wait in the transaction, survive encode and restore (with binary
 * and null metadata), and go with txn_complete. */
START_TEST(test_pending_offsets) {
    struct txn_coord *c = txn_coord_new(4, 900000);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(c, "t", 30000, 5, &t), SL_OK);
    ck_assert_int_eq(txn_add_offset(c, "t", 5, 0, "g", "in", 1, 10, -1, NULL, -1), SL_INVALID_TXN_STATE);
    ck_assert_int_eq(txn_add_group(c, "t", 5, 0, "g", 1), SL_OK);
    ck_assert_int_eq(txn_add_offset(c, "t", 5, 1, "g", "in", 1, 10, -1, NULL, -1), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_add_offset(c, "t", 5, 0, "h", "in", 1, 10, -1, NULL, -1), SL_INVALID_TXN_STATE);
    ck_assert_int_eq(txn_add_offset(c, "t", 5, 0, "g", "in", 1, 10, -1, NULL, -1), SL_OK);
    ck_assert_int_eq(txn_add_offset(c, "t", 5, 0, "g", "in", 2, 20, 3, "m\0d", 3), SL_OK);
    ck_assert_int_eq(txn_add_offset(c, "t", 5, 0, "g", "in", 1, 11, 4, "", 0), SL_OK); /* replaces */
    t = txn_get(c, "t");
    ck_assert_uint_eq(t->offset_count, 2);
    ck_assert_int_eq(t->offsets[0].offset, 11);
    ck_assert_int_eq(t->offsets[0].leader_epoch, 4);
    ck_assert_int_eq(t->offsets[0].metadata_len, 0);
    ck_assert(txn_offset_pending(c, "g", "in", 2, 1));
    ck_assert(txn_offset_pending(c, "g", "in", 2, 2));
    ck_assert(!txn_offset_pending(c, "g", "in", 2, 3));
    ck_assert(!txn_offset_pending(c, "h", "in", 2, 1));
    ck_assert(!txn_offset_pending(c, "g", "inx", 3, 1));

    ck_assert_int_eq(txn_end(c, "t", 5, 0, true, &t), SL_OK);
    struct kvlog_tlv_writer w = {0};
    txn_encode(t, &w);
    struct txn_coord *d = txn_coord_new(4, 900000);
    ck_assert_int_eq(txn_restore(d, "t", w.p, (uint32_t)w.len, 1), SL_OK);
    t = txn_get(d, "t");
    ck_assert_int_eq(t->state, TXN_PREPARE_COMMIT);
    ck_assert_uint_eq(t->offset_count, 2);
    ck_assert_str_eq(t->offsets[0].group, "g");
    ck_assert_str_eq(t->offsets[0].topic, "in");
    ck_assert_int_eq(t->offsets[0].partition, 1);
    ck_assert_int_eq(t->offsets[0].offset, 11);
    ck_assert_int_eq(t->offsets[0].leader_epoch, 4);
    ck_assert_int_eq(t->offsets[0].metadata_len, 0);
    ck_assert_ptr_nonnull(t->offsets[0].metadata);
    ck_assert_int_eq(t->offsets[1].partition, 2);
    ck_assert_int_eq(t->offsets[1].offset, 20);
    ck_assert_int_eq(t->offsets[1].leader_epoch, 3);
    ck_assert_int_eq(t->offsets[1].metadata_len, 3);
    ck_assert_mem_eq(t->offsets[1].metadata, "m\0d", 3);
    /* A damaged offset field is refused as a whole. */
    for (uint32_t cut = 1; cut < 20; cut++) ck_assert_int_eq(txn_restore(d, "t", w.p, (uint32_t)w.len - cut, 1), SL_CORRUPT);
    txn_complete(d, "t");
    ck_assert_uint_eq(txn_get(d, "t")->offset_count, 0);
    ck_assert(!txn_offset_pending(d, "g", "in", 2, 1));
    kvlog_tlv_free(&w);
    txn_coord_free(d);
    txn_coord_free(c);
}
END_TEST

/* KIP-360's check, and the deadline the timer follows. */
START_TEST(test_init_check_and_deadline) {
    struct txn_coord *c = txn_coord_new(4, 900000);
    const struct txn *t;
    ck_assert_int_eq(txn_check_init(c, "t", 9, 3), SL_OK); /* no entry: a new one */
    ck_assert_uint_eq(txn_next_deadline(c), UINT64_MAX);
    ck_assert_int_eq(txn_init_producer(c, "t", 1000, 9, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "u", 500, 10, &t), SL_OK);
    ck_assert_int_eq(txn_check_init(c, "t", 9, 0), SL_OK);
    ck_assert_int_eq(txn_check_init(c, "t", 9, 1), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_check_init(c, "t", 8, 0), SL_PRODUCER_FENCED);
    ck_assert_int_eq(txn_add_partition(c, "t", 9, 0, "a", 0, 100), SL_OK);
    ck_assert_uint_eq(txn_next_deadline(c), 1100);
    ck_assert_int_eq(txn_add_partition(c, "u", 10, 0, "a", 0, 200), SL_OK);
    ck_assert_uint_eq(txn_next_deadline(c), 700);
    ck_assert_uint_eq(txn_count(c), 2);
    ck_assert_str_eq(txn_state_name(txn_at(c, 0)->state), "Ongoing");
    ck_assert_str_eq(txn_state_name(TXN_EMPTY), "Empty");
    ck_assert_str_eq(txn_state_name(TXN_PREPARE_COMMIT), "PrepareCommit");
    ck_assert_str_eq(txn_state_name(TXN_COMPLETE_ABORT), "CompleteAbort");
    ck_assert_str_eq(txn_at(c, 1)->id, "u");
    ck_assert_ptr_null(txn_at(c, 2));
    txn_coord_free(c);
}
END_TEST

static void record_gone(void *arg, const char *id) {
    char(*gone)[16] = arg;
    int i = 0;
    while (gone[i][0]) i++;
    snprintf(gone[i], sizeof(gone[i]), "%s", id);
}

/* Idle ids expire by the time of their last change, which survives encode and restore; an
 * open transaction never expires. */
START_TEST(test_id_expiration) {
    struct txn_coord *c = txn_coord_new(8, 900000);
    const struct txn *t;
    ck_assert_int_eq(txn_init_producer(c, "old", 1000, 1, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "open", 1000, 2, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "new", 1000, 3, &t), SL_OK);
    ck_assert_int_eq(txn_init_producer(c, "unknown", 1000, 4, &t), SL_OK);
    txn_touch(c, "old", 1000);
    txn_touch(c, "open", 1000);
    txn_touch(c, "new", 5000);
    ck_assert_int_eq(txn_add_partition(c, "open", 2, 0, "a", 0, 1), SL_OK);
    struct kvlog_tlv_writer w = {0};
    txn_encode(txn_get(c, "old"), &w);
    struct txn_coord *d = txn_coord_new(8, 900000);
    ck_assert_int_eq(txn_restore(d, "old", w.p, (uint32_t)w.len, 1), SL_OK);
    ck_assert_int_eq(txn_get(d, "old")->updated_ms, 1000);
    kvlog_tlv_free(&w);
    txn_coord_free(d);

    char gone[4][16] = {{0}};
    ck_assert_uint_eq(txn_expire_ids(c, 3999, 3000, record_gone, gone), 0);
    ck_assert_uint_eq(txn_expire_ids(c, 4000, 3000, record_gone, gone), 1);
    ck_assert_str_eq(gone[0], "old");
    ck_assert_ptr_null(txn_get(c, "old"));
    ck_assert_ptr_nonnull(txn_get(c, "open"));
    ck_assert_int_eq(txn_get(c, "unknown")->updated_ms, 3999); /* its age counts from the first look */
    ck_assert_uint_eq(txn_expire_ids(c, 6998, 3000, record_gone, gone), 0);
    ck_assert_uint_eq(txn_expire_ids(c, 6999, 3000, record_gone, gone), 1);
    ck_assert_str_eq(gone[1], "unknown");
    ck_assert_uint_eq(txn_expire_ids(c, 8000, 3000, record_gone, gone), 1);
    ck_assert_str_eq(gone[2], "new");
    ck_assert_uint_eq(txn_count(c), 1);
    ck_assert_ptr_nonnull(txn_get(c, "open"));
    ck_assert_int_eq(txn_add_partition(c, "open", 2, 0, "a", 1, 2), SL_OK); /* still works */
    txn_coord_free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/core/txn");
    TCase *tc = tcase_create("txn");
    tcase_add_test(tc, test_commit_then_abort_cycle);
    tcase_add_test(tc, test_zombie_fenced);
    tcase_add_test(tc, test_timeout_aborts_and_fences);
    tcase_add_test(tc, test_epoch_exhaustion_and_limits);
    tcase_add_test(tc, test_persist_round_trip);
    tcase_add_test(tc, test_pending_offsets);
    tcase_add_test(tc, test_init_check_and_deadline);
    tcase_add_test(tc, test_id_expiration);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
