/* protocol_kafka_msgs_txn_admin_test.c: the DescribeTransactions and ListTransactions codecs
 * (protocol/kafka_msgs_txn_admin.c) through the shared harness (round trip, truncations,
 * flips at every version), plus request bytes written by hand from Kafka's specs. */
#include <check.h>

#include "protocol/kafka_msgs_txn_admin.h"
#include "kafka_msgs_harness.h"

/* ---- DescribeTransactions ---- */

static void fill_describe_transactions_req(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_transactions_req *q = m;
    (void)v;
    q->transactional_id_count = 3;
    q->transactional_ids = NEW(a, struct kstr, 3);
    q->transactional_ids[0] = S("tx-a");
    q->transactional_ids[1] = S("");
    q->transactional_ids[2] = S("tx-c");
}

static void check_describe_transactions_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_transactions_req *w = wp, *g = gp;
    (void)v;
    ck_strs(g->transactional_ids, g->transactional_id_count, w->transactional_ids, w->transactional_id_count);
}

static void fill_describe_transactions_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_transactions_resp *p = m;
    (void)v;
    p->throttle_time_ms = 3;
    p->state_count = 2;
    p->states = NEW(a, struct kafka_describe_transactions_state, 2);
    struct kafka_describe_transactions_state *s = &p->states[0];
    *s = (struct kafka_describe_transactions_state){0, S("tx-a"), S("Ongoing"), 60000, 1700000000123LL,
                                                    0x0102030405LL, 7, NULL, 2};
    s->topics = NEW(a, struct kafka_describe_transactions_topic, 2);
    s->topics[0].name = S("orders");
    s->topics[0].partition_count = 2;
    s->topics[0].partitions = NEW(a, int32_t, 2);
    s->topics[0].partitions[0] = 4;
    s->topics[0].partitions[1] = 0;
    s->topics[1].name = S("x");
    p->states[1] = (struct kafka_describe_transactions_state){105, S("nope"), S(""), -1, -1, -1, -1, NULL, 0};
}

static void check_describe_transactions_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_transactions_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->state_count, w->state_count);
    for (int32_t i = 0; i < g->state_count; i++) {
        const struct kafka_describe_transactions_state *gs = &g->states[i], *ws = &w->states[i];
        CK_EQ(gs->error_code, ws->error_code);
        CK_STR(gs->transactional_id, ws->transactional_id);
        CK_STR(gs->transaction_state, ws->transaction_state);
        CK_EQ(gs->transaction_timeout_ms, ws->transaction_timeout_ms);
        CK_EQ(gs->transaction_start_time_ms, ws->transaction_start_time_ms);
        CK_EQ(gs->producer_id, ws->producer_id);
        CK_EQ(gs->producer_epoch, ws->producer_epoch);
        CK_EQ(gs->topic_count, ws->topic_count);
        for (int32_t t = 0; t < gs->topic_count; t++) {
            CK_STR(gs->topics[t].name, ws->topics[t].name);
            ck_i32s(gs->topics[t].partitions, gs->topics[t].partition_count, ws->topics[t].partitions,
                    ws->topics[t].partition_count);
        }
    }
}

/* ---- ListTransactions ---- */

static void fill_list_transactions_req(void *m, int16_t v, struct karena *a) {
    struct kafka_list_transactions_req *q = m;
    q->state_filter_count = 2;
    q->state_filters = NEW(a, struct kstr, 2);
    q->state_filters[0] = S("Ongoing");
    q->state_filters[1] = S("PrepareAbort");
    q->producer_id_filter_count = 2;
    q->producer_id_filters = NEW(a, int64_t, 2);
    q->producer_id_filters[0] = 1000;
    q->producer_id_filters[1] = 0x7fffffffffffLL;
    q->duration_filter_ms = v >= 1 ? 5000 : -1;
}

static void check_list_transactions_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_list_transactions_req *w = wp, *g = gp;
    (void)v;
    ck_strs(g->state_filters, g->state_filter_count, w->state_filters, w->state_filter_count);
    CK_EQ(g->producer_id_filter_count, w->producer_id_filter_count);
    for (int32_t i = 0; i < g->producer_id_filter_count; i++) CK_EQ(g->producer_id_filters[i], w->producer_id_filters[i]);
    CK_EQ(g->duration_filter_ms, w->duration_filter_ms);
}

static void fill_list_transactions_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_list_transactions_resp *p = m;
    (void)v;
    p->throttle_time_ms = 1;
    p->error_code = 0;
    p->state_count = 2;
    p->states = NEW(a, struct kafka_list_transactions_state, 2);
    p->states[0] = (struct kafka_list_transactions_state){S("tx-a"), 1000, S("Ongoing")};
    p->states[1] = (struct kafka_list_transactions_state){S("tx-b"), 1001, S("CompleteCommit")};
}

static void check_list_transactions_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_list_transactions_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->error_code, w->error_code);
    CK_EQ(g->state_count, w->state_count);
    for (int32_t i = 0; i < g->state_count; i++) {
        CK_STR(g->states[i].transactional_id, w->states[i].transactional_id);
        CK_EQ(g->states[i].producer_id, w->states[i].producer_id);
        CK_STR(g->states[i].transaction_state, w->states[i].transaction_state);
    }
}

CODEC_ADAPTERS(describe_transactions)
CODEC_ADAPTERS(list_transactions)

enum { LIST_REQ = 2 };

static const struct msg_codec codecs[] = {
    CODEC_REQ(describe_transactions, 0, 0), CODEC_RESP(describe_transactions, 0, 0),
    CODEC_REQ(list_transactions, 0, 1),     CODEC_RESP(list_transactions, 0, 1),
};

/* ListTransactions v1, from ListTransactionsRequest.json: StateFilters (compact array of
 * compact strings), ProducerIdFilters (compact array of int64), DurationFilter, tags. */
static const uint8_t list_v1[] = {
    0x02, 0x08, 'O', 'n', 'g', 'o', 'i', 'n', 'g',  /* StateFilters: ["Ongoing"] */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* ProducerIdFilters: [1000] */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x88, /* DurationFilter 5000 */
    0x00,                                           /* tags */
};

START_TEST(test_known_list_v1) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_list_transactions_req q;
    ck_known_bytes(&codecs[LIST_REQ], 1, list_v1, sizeof(list_v1), &a, &q);
    ck_assert_int_eq(q.state_filter_count, 1);
    ck_assert(kstr_eq(q.state_filters[0], S("Ongoing")));
    ck_assert_int_eq(q.producer_id_filter_count, 1);
    ck_assert_int_eq(q.producer_id_filters[0], 1000);
    ck_assert_int_eq(q.duration_filter_ms, 5000);
    karena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_txn_admin");
    TCase *tc = tcase_create("txn_admin");
    tcase_set_timeout(tc, 300);
    add_codec_tests(tc, codecs, (int)(sizeof(codecs) / sizeof(codecs[0])));
    tcase_add_test(tc, test_known_list_v1);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
