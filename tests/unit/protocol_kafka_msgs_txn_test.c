/* protocol_kafka_msgs_txn_test.c: the transaction API codecs (protocol/kafka_msgs_txn.c)
 * through the shared harness (round trip, truncations, flips at every version), plus bytes
 * written by hand from Kafka's specs for the versions librdkafka 2.0.2 sends. */
#include <check.h>

#include "protocol/kafka_msgs_txn.h"
#include "kafka_msgs_harness.h"

/* ---- AddPartitionsToTxn ---- */

static void fill_add_partitions_to_txn_req(void *m, int16_t v, struct karena *a) {
    struct kafka_add_partitions_to_txn_req *q = m;
    (void)v;
    q->transactional_id = S("txn-1");
    q->producer_id = 0x0102030405060708LL;
    q->producer_epoch = 7;
    q->topic_count = 2;
    q->topics = NEW(a, struct kafka_add_partitions_to_txn_topic, 2);
    q->topics[0].name = S("orders");
    q->topics[0].partition_count = 3;
    q->topics[0].partitions = NEW(a, int32_t, 3);
    q->topics[0].partitions[0] = 0;
    q->topics[0].partitions[1] = 2;
    q->topics[0].partitions[2] = 1;
    q->topics[1].name = S("");
}

static void check_add_partitions_to_txn_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_add_partitions_to_txn_req *w = wp, *g = gp;
    (void)v;
    CK_STR(g->transactional_id, w->transactional_id);
    CK_EQ(g->producer_id, w->producer_id);
    CK_EQ(g->producer_epoch, w->producer_epoch);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        ck_i32s(g->topics[i].partitions, g->topics[i].partition_count, w->topics[i].partitions,
                w->topics[i].partition_count);
    }
}

static void fill_add_partitions_to_txn_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_add_partitions_to_txn_resp *p = m;
    (void)v;
    p->throttle_time_ms = 9;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_add_partitions_to_txn_topic_result, 2);
    p->results[0].name = S("orders");
    p->results[0].result_count = 2;
    p->results[0].results = NEW(a, struct kafka_add_partitions_to_txn_partition_result, 2);
    p->results[0].results[0] = (struct kafka_add_partitions_to_txn_partition_result){0, 0};
    p->results[0].results[1] = (struct kafka_add_partitions_to_txn_partition_result){5, 90};
    p->results[1].name = S("x");
}

static void check_add_partitions_to_txn_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_add_partitions_to_txn_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < g->result_count; i++) {
        CK_STR(g->results[i].name, w->results[i].name);
        CK_EQ(g->results[i].result_count, w->results[i].result_count);
        for (int32_t j = 0; j < g->results[i].result_count; j++) {
            CK_EQ(g->results[i].results[j].partition_index, w->results[i].results[j].partition_index);
            CK_EQ(g->results[i].results[j].error_code, w->results[i].results[j].error_code);
        }
    }
}

/* ---- AddOffsetsToTxn ---- */

static void fill_add_offsets_to_txn_req(void *m, int16_t v, struct karena *a) {
    struct kafka_add_offsets_to_txn_req *q = m;
    (void)v;
    (void)a;
    q->transactional_id = S("txn-2");
    q->producer_id = 4000;
    q->producer_epoch = 3;
    q->group_id = S("my-group");
}

static void check_add_offsets_to_txn_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_add_offsets_to_txn_req *w = wp, *g = gp;
    (void)v;
    CK_STR(g->transactional_id, w->transactional_id);
    CK_EQ(g->producer_id, w->producer_id);
    CK_EQ(g->producer_epoch, w->producer_epoch);
    CK_STR(g->group_id, w->group_id);
}

static void fill_add_offsets_to_txn_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_add_offsets_to_txn_resp *p = m;
    (void)v;
    (void)a;
    p->throttle_time_ms = 11;
    p->error_code = 51; /* CONCURRENT_TRANSACTIONS */
}

static void check_add_offsets_to_txn_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_add_offsets_to_txn_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->error_code, w->error_code);
}

/* ---- EndTxn ---- */

static void fill_end_txn_req(void *m, int16_t v, struct karena *a) {
    struct kafka_end_txn_req *q = m;
    (void)v;
    (void)a;
    q->transactional_id = S("txn-3");
    q->producer_id = 77;
    q->producer_epoch = 32000;
    q->committed = true;
}

static void check_end_txn_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_end_txn_req *w = wp, *g = gp;
    (void)v;
    CK_STR(g->transactional_id, w->transactional_id);
    CK_EQ(g->producer_id, w->producer_id);
    CK_EQ(g->producer_epoch, w->producer_epoch);
    CK_EQ(g->committed, w->committed);
}

static void fill_end_txn_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_end_txn_resp *p = m;
    (void)v;
    (void)a;
    p->throttle_time_ms = 0;
    p->error_code = 90; /* PRODUCER_FENCED */
}

static void check_end_txn_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_end_txn_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->error_code, w->error_code);
}

/* ---- TxnOffsetCommit ---- */

static void fill_txn_offset_commit_req(void *m, int16_t v, struct karena *a) {
    struct kafka_txn_offset_commit_req *q = m;
    q->transactional_id = S("txn-4");
    q->group_id = S("ctp");
    q->producer_id = 12345;
    q->producer_epoch = 2;
    q->generation_id = v >= 3 ? 6 : -1;
    q->member_id = v >= 3 ? S("member-1") : S("");
    q->group_instance_id = v >= 3 ? S("inst") : SNULL;
    q->topic_count = 1;
    q->topics = NEW(a, struct kafka_txn_offset_commit_topic, 1);
    q->topics[0].name = S("in");
    q->topics[0].partition_count = 2;
    q->topics[0].partitions = NEW(a, struct kafka_txn_offset_commit_partition, 2);
    q->topics[0].partitions[0] =
        (struct kafka_txn_offset_commit_partition){0, 1LL << 40, v >= 2 ? 4 : -1, S("meta")};
    q->topics[0].partitions[1] = (struct kafka_txn_offset_commit_partition){2, 0, -1, SNULL};
}

static void check_txn_offset_commit_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_txn_offset_commit_req *w = wp, *g = gp;
    (void)v;
    CK_STR(g->transactional_id, w->transactional_id);
    CK_STR(g->group_id, w->group_id);
    CK_EQ(g->producer_id, w->producer_id);
    CK_EQ(g->producer_epoch, w->producer_epoch);
    CK_EQ(g->generation_id, w->generation_id);
    CK_STR(g->member_id, w->member_id);
    CK_STR(g->group_instance_id, w->group_instance_id);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            const struct kafka_txn_offset_commit_partition *gq = &g->topics[i].partitions[j];
            const struct kafka_txn_offset_commit_partition *wq = &w->topics[i].partitions[j];
            CK_EQ(gq->partition_index, wq->partition_index);
            CK_EQ(gq->committed_offset, wq->committed_offset);
            CK_EQ(gq->committed_leader_epoch, wq->committed_leader_epoch);
            CK_STR(gq->committed_metadata, wq->committed_metadata);
        }
    }
}

static void fill_txn_offset_commit_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_txn_offset_commit_resp *p = m;
    (void)v;
    p->throttle_time_ms = 5;
    p->topic_count = 2;
    p->topics = NEW(a, struct kafka_txn_offset_commit_topic_resp, 2);
    p->topics[0].name = S("in");
    p->topics[0].partition_count = 2;
    p->topics[0].partitions = NEW(a, struct kafka_txn_offset_commit_partition_resp, 2);
    p->topics[0].partitions[0] = (struct kafka_txn_offset_commit_partition_resp){0, 0};
    p->topics[0].partitions[1] = (struct kafka_txn_offset_commit_partition_resp){2, 22};
    p->topics[1].name = S("");
}

static void check_txn_offset_commit_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_txn_offset_commit_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            CK_EQ(g->topics[i].partitions[j].partition_index, w->topics[i].partitions[j].partition_index);
            CK_EQ(g->topics[i].partitions[j].error_code, w->topics[i].partitions[j].error_code);
        }
    }
}

/* ---- WriteTxnMarkers ---- */

static void fill_write_txn_markers_req(void *m, int16_t v, struct karena *a) {
    struct kafka_write_txn_markers_req *q = m;
    (void)v;
    q->marker_count = 2;
    q->markers = NEW(a, struct kafka_write_txn_marker, 2);
    q->markers[0].producer_id = 0x0102030405060708LL;
    q->markers[0].producer_epoch = 4;
    q->markers[0].transaction_result = true;
    q->markers[0].coordinator_epoch = 7;
    q->markers[0].topic_count = 2;
    q->markers[0].topics = NEW(a, struct kafka_write_txn_markers_topic, 2);
    q->markers[0].topics[0].name = S("orders");
    q->markers[0].topics[0].partition_index_count = 2;
    q->markers[0].topics[0].partition_indexes = NEW(a, int32_t, 2);
    q->markers[0].topics[0].partition_indexes[0] = 3;
    q->markers[0].topics[0].partition_indexes[1] = 1;
    q->markers[0].topics[1].name = S("x");
    q->markers[1].producer_id = 9;
    q->markers[1].coordinator_epoch = -1;
}

static void check_write_txn_markers_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_write_txn_markers_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->marker_count, w->marker_count);
    for (int32_t i = 0; i < g->marker_count; i++) {
        const struct kafka_write_txn_marker *gm = &g->markers[i], *wm = &w->markers[i];
        CK_EQ(gm->producer_id, wm->producer_id);
        CK_EQ(gm->producer_epoch, wm->producer_epoch);
        CK_EQ(gm->transaction_result, wm->transaction_result);
        CK_EQ(gm->coordinator_epoch, wm->coordinator_epoch);
        CK_EQ(gm->topic_count, wm->topic_count);
        for (int32_t j = 0; j < gm->topic_count; j++) {
            CK_STR(gm->topics[j].name, wm->topics[j].name);
            ck_i32s(gm->topics[j].partition_indexes, gm->topics[j].partition_index_count,
                    wm->topics[j].partition_indexes, wm->topics[j].partition_index_count);
        }
    }
}

static void fill_write_txn_markers_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_write_txn_markers_resp *p = m;
    (void)v;
    p->marker_count = 1;
    p->markers = NEW(a, struct kafka_write_txn_marker_result, 1);
    p->markers[0].producer_id = 77;
    p->markers[0].topic_count = 2;
    p->markers[0].topics = NEW(a, struct kafka_write_txn_markers_topic_result, 2);
    p->markers[0].topics[0].name = S("orders");
    p->markers[0].topics[0].partition_count = 2;
    p->markers[0].topics[0].partitions = NEW(a, struct kafka_write_txn_markers_partition_result, 2);
    p->markers[0].topics[0].partitions[0] = (struct kafka_write_txn_markers_partition_result){3, 0};
    p->markers[0].topics[0].partitions[1] = (struct kafka_write_txn_markers_partition_result){1, 6};
    p->markers[0].topics[1].name = S("");
}

static void check_write_txn_markers_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_write_txn_markers_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->marker_count, w->marker_count);
    for (int32_t i = 0; i < g->marker_count; i++) {
        CK_EQ(g->markers[i].producer_id, w->markers[i].producer_id);
        CK_EQ(g->markers[i].topic_count, w->markers[i].topic_count);
        for (int32_t j = 0; j < g->markers[i].topic_count; j++) {
            const struct kafka_write_txn_markers_topic_result *gt = &g->markers[i].topics[j], *wt = &w->markers[i].topics[j];
            CK_STR(gt->name, wt->name);
            CK_EQ(gt->partition_count, wt->partition_count);
            for (int32_t k = 0; k < gt->partition_count; k++) {
                CK_EQ(gt->partitions[k].partition_index, wt->partitions[k].partition_index);
                CK_EQ(gt->partitions[k].error_code, wt->partitions[k].error_code);
            }
        }
    }
}

/* ---- the table ---- */

CODEC_ADAPTERS(add_partitions_to_txn)
CODEC_ADAPTERS(add_offsets_to_txn)
CODEC_ADAPTERS(end_txn)
CODEC_ADAPTERS(txn_offset_commit)
CODEC_ADAPTERS(write_txn_markers)

enum { ADD_PARTITIONS_REQ = 0, END_TXN_REQ = 4, TXN_OFFSET_COMMIT_REQ = 6, WRITE_TXN_MARKERS_REQ = 8 };

static const struct msg_codec codecs[] = {
    CODEC_REQ(add_partitions_to_txn, 0, 3), CODEC_RESP(add_partitions_to_txn, 0, 3),
    CODEC_REQ(add_offsets_to_txn, 0, 3),    CODEC_RESP(add_offsets_to_txn, 0, 3),
    CODEC_REQ(end_txn, 0, 3),               CODEC_RESP(end_txn, 0, 3),
    CODEC_REQ(txn_offset_commit, 0, 3),     CODEC_RESP(txn_offset_commit, 0, 3),
    CODEC_REQ(write_txn_markers, 0, 1),     CODEC_RESP(write_txn_markers, 0, 1),
};

/* WriteTxnMarkers v0 as a Kafka coordinator sends it: Markers [ProducerId, ProducerEpoch,
 * TransactionResult, Topics [Name, PartitionIndexes [int32]], CoordinatorEpoch]. */
static const uint8_t write_txn_markers_v0[] = {
    0x00, 0x00, 0x00, 0x01,                         /* Markers: 1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, /* ProducerId 11 */
    0x00, 0x03,                                     /* ProducerEpoch 3 */
    0x01,                                           /* TransactionResult: commit */
    0x00, 0x00, 0x00, 0x01,                         /* Topics: 1 */
    0x00, 0x01, 'a',                                /* Name */
    0x00, 0x00, 0x00, 0x01,                         /* PartitionIndexes: 1 */
    0x00, 0x00, 0x00, 0x04,                         /* 4 */
    0x00, 0x00, 0x00, 0x02,                         /* CoordinatorEpoch 2 */
};

START_TEST(test_known_write_txn_markers_v0) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_write_txn_markers_req q;
    ck_known_bytes(&codecs[WRITE_TXN_MARKERS_REQ], 0, write_txn_markers_v0, sizeof(write_txn_markers_v0), &a, &q);
    ck_assert_int_eq(q.marker_count, 1);
    ck_assert_int_eq(q.markers[0].producer_id, 11);
    ck_assert_int_eq(q.markers[0].producer_epoch, 3);
    ck_assert(q.markers[0].transaction_result);
    ck_assert_int_eq(q.markers[0].coordinator_epoch, 2);
    ck_assert(kstr_eq(q.markers[0].topics[0].name, S("a")));
    ck_assert_int_eq(q.markers[0].topics[0].partition_index_count, 1);
    ck_assert_int_eq(q.markers[0].topics[0].partition_indexes[0], 4);
    karena_free(&a);
}
END_TEST

/* AddPartitionsToTxn v0, as librdkafka 2.0.2 sends it: TransactionalId, ProducerId,
 * ProducerEpoch, Topics [Name, Partitions [int32]]. */
static const uint8_t add_partitions_v0[] = {
    0x00, 0x02, 't', '1',                           /* TransactionalId */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* ProducerId 1000 */
    0x00, 0x02,                                     /* ProducerEpoch 2 */
    0x00, 0x00, 0x00, 0x01,                         /* Topics: 1 */
    0x00, 0x01, 'a',                                /* Name */
    0x00, 0x00, 0x00, 0x02,                         /* Partitions: 2 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /* 0, 2 */
};

START_TEST(test_known_add_partitions_v0) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_add_partitions_to_txn_req q;
    ck_known_bytes(&codecs[ADD_PARTITIONS_REQ], 0, add_partitions_v0, sizeof(add_partitions_v0), &a, &q);
    ck_assert(kstr_eq(q.transactional_id, S("t1")));
    ck_assert_int_eq(q.producer_id, 1000);
    ck_assert_int_eq(q.producer_epoch, 2);
    ck_assert_int_eq(q.topic_count, 1);
    ck_assert(kstr_eq(q.topics[0].name, S("a")));
    ck_assert_int_eq(q.topics[0].partition_count, 2);
    ck_assert_int_eq(q.topics[0].partitions[0], 0);
    ck_assert_int_eq(q.topics[0].partitions[1], 2);
    karena_free(&a);
}
END_TEST

/* EndTxn v3 (flexible): compact string, then the tag section. */
static const uint8_t end_txn_v3[] = {
    0x03, 't', '1',                                 /* TransactionalId */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* ProducerId 5 */
    0x00, 0x01,                                     /* ProducerEpoch 1 */
    0x00,                                           /* Committed false */
    0x00,                                           /* tags */
};

START_TEST(test_known_end_txn_v3) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_end_txn_req q;
    ck_known_bytes(&codecs[END_TXN_REQ], 3, end_txn_v3, sizeof(end_txn_v3), &a, &q);
    ck_assert(kstr_eq(q.transactional_id, S("t1")));
    ck_assert_int_eq(q.producer_id, 5);
    ck_assert_int_eq(q.producer_epoch, 1);
    ck_assert(!q.committed);
    karena_free(&a);
}
END_TEST

/* TxnOffsetCommit v2 (not flexible): CommittedLeaderEpoch present, v3 group fields absent
 * and defaulted; a null CommittedMetadata. */
static const uint8_t txn_offset_commit_v2[] = {
    0x00, 0x02, 't', '1',                           /* TransactionalId */
    0x00, 0x01, 'g',                                /* GroupId */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* ProducerId 9 */
    0x00, 0x00,                                     /* ProducerEpoch 0 */
    0x00, 0x00, 0x00, 0x01,                         /* Topics: 1 */
    0x00, 0x02, 'i', 'n',                           /* Name */
    0x00, 0x00, 0x00, 0x01,                         /* Partitions: 1 */
    0x00, 0x00, 0x00, 0x01,                         /* PartitionIndex 1 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* CommittedOffset 42 */
    0xff, 0xff, 0xff, 0xff,                         /* CommittedLeaderEpoch -1 */
    0xff, 0xff,                                     /* CommittedMetadata null */
};

START_TEST(test_known_txn_offset_commit_v2) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_txn_offset_commit_req q;
    ck_known_bytes(&codecs[TXN_OFFSET_COMMIT_REQ], 2, txn_offset_commit_v2, sizeof(txn_offset_commit_v2), &a, &q);
    ck_assert(kstr_eq(q.group_id, S("g")));
    ck_assert_int_eq(q.producer_id, 9);
    ck_assert_int_eq(q.generation_id, -1);
    ck_assert_int_eq(q.member_id.len, 0);
    ck_assert_int_eq(q.group_instance_id.len, -1);
    ck_assert_int_eq(q.topics[0].partitions[0].partition_index, 1);
    ck_assert_int_eq(q.topics[0].partitions[0].committed_offset, 42);
    ck_assert_int_eq(q.topics[0].partitions[0].committed_leader_epoch, -1);
    ck_assert_int_eq(q.topics[0].partitions[0].committed_metadata.len, -1);
    karena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_txn");
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 300);
    add_codec_tests(tc, codecs, (int)(sizeof(codecs) / sizeof(codecs[0])));
    tcase_add_test(tc, test_known_add_partitions_v0);
    tcase_add_test(tc, test_known_end_txn_v3);
    tcase_add_test(tc, test_known_txn_offset_commit_v2);
    tcase_add_test(tc, test_known_write_txn_markers_v0);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
