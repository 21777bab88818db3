/* kafka_txn_admin.c: the admin view of the transaction coordinator, DescribeTransactions and
 * ListTransactions (kafka-transactions.sh describe / list), read from the state machine as it
 * is now. Both answer at once: nothing changes. */
#include <string.h>

#include "base/base.h"
#include "broker/core/txn.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "broker/kafka/txn_coordinator.h"
#include "protocol/kafka_msgs_txn_admin.h"

static struct kstr kstr_cstr(const char *s) { return (struct kstr){s, (int32_t)strlen(s)}; }

/* Kafka reports the start as a wall-clock time; the coordinator keeps it on the monotonic
 * clock (timeouts), so it is carried over by its age. -1 when no transaction is open. */
static int64_t txn_start_wall_ms(const struct kafka_server *ks, const struct txn *t) {
    if (t->state != TXN_ONGOING && t->state != TXN_PREPARE_COMMIT && t->state != TXN_PREPARE_ABORT) return -1;
    uint64_t age = loop_mono_ms(ks->loop) - SL_MIN(t->started_ms, loop_mono_ms(ks->loop));
    return (int64_t)(loop_now_ms(ks->loop) - age);
}

/* The transaction's partitions grouped by topic, in the order they were added. */
static void describe_partitions(struct karena *a, const struct txn *t, struct kafka_describe_transactions_state *out) {
    out->topics = KARENA_NEW_ARRAY(a, struct kafka_describe_transactions_topic, SL_MAX(t->part_count, 1u));
    out->topic_count = 0;
    for (uint32_t i = 0; i < t->part_count; i++) {
        struct kafka_describe_transactions_topic *tt = NULL;
        struct kstr name = kstr_cstr(t->parts[i].topic);
        for (int32_t j = 0; j < out->topic_count && !tt; j++)
            if (out->topics[j].name.len == name.len && !memcmp(out->topics[j].name.p, name.p, (size_t)name.len))
                tt = &out->topics[j];
        if (!tt) {
            tt = &out->topics[out->topic_count++];
            tt->name = kafka_arena_kstr(a, t->parts[i].topic);
            tt->partitions = KARENA_NEW_ARRAY(a, int32_t, t->part_count);
            tt->partition_count = 0;
        }
        tt->partitions[tt->partition_count++] = t->parts[i].partition;
    }
}

sl_err kafka_handle_describe_transactions(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_describe_transactions_req req;
    sl_err e = kafka_decode_describe_transactions(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct kafka_describe_transactions_resp resp = {0, NULL, req.transactional_id_count};
    resp.states = KARENA_NEW_ARRAY(&kc->arena, struct kafka_describe_transactions_state,
                                   SL_MAX(req.transactional_id_count, 1));
    for (int32_t i = 0; i < req.transactional_id_count; i++) {
        struct kafka_describe_transactions_state *s = &resp.states[i];
        const char *id = kafka_arena_cstr(&kc->arena, req.transactional_ids[i]);
        struct txn_coordinator *tc = id ? kafka_txns_of(ks, id) : NULL;
        const struct txn *t = tc ? txn_get(txn_coordinator_state(tc), id) : NULL;
        *s = (struct kafka_describe_transactions_state){0, req.transactional_ids[i], kstr_cstr(""), -1, -1, -1, -1,
                                                        NULL, 0};
        if (!kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TRANSACTIONAL_ID, req.transactional_ids[i])) {
            s->error_code = (int16_t)sl_err_kafka(SL_TRANSACTIONAL_ID_AUTHORIZATION);
            continue;
        }
        if (id && !tc) {
            s->error_code = (int16_t)sl_err_kafka(SL_NOT_COORDINATOR); /* another broker coordinates it */
            continue;
        }
        if (!t) {
            s->error_code = (int16_t)sl_err_kafka(SL_TRANSACTIONAL_ID_NOT_FOUND);
            continue;
        }
        s->transaction_state = kstr_cstr(txn_state_name(t->state));
        s->transaction_timeout_ms = t->timeout_ms;
        s->transaction_start_time_ms = txn_start_wall_ms(ks, t);
        s->producer_id = t->producer_id;
        s->producer_epoch = t->epoch;
        describe_partitions(&kc->arena, t, s);
        /* ACLs: the topics the principal may not DESCRIBE are left out, as Kafka does. */
        int32_t kept = 0;
        for (int32_t j = 0; j < s->topic_count; j++)
            if (kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, s->topics[j].name)) s->topics[kept++] = s->topics[j];
        s->topic_count = kept;
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_describe_transactions_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* Kafka's filters: each one empty (or negative) lets everything through. */
static bool list_wanted(const struct kafka_server *ks, const struct kafka_list_transactions_req *req,
                        const struct txn *t) {
    bool ok = req->state_filter_count <= 0;
    const char *name = txn_state_name(t->state);
    for (int32_t i = 0; i < req->state_filter_count && !ok; i++)
        ok = req->state_filters[i].len == (int32_t)strlen(name) &&
             !memcmp(req->state_filters[i].p, name, (size_t)req->state_filters[i].len);
    if (!ok) return false;
    ok = req->producer_id_filter_count <= 0;
    for (int32_t i = 0; i < req->producer_id_filter_count && !ok; i++) ok = req->producer_id_filters[i] == t->producer_id;
    if (!ok || req->duration_filter_ms < 0) return ok;
    int64_t start = txn_start_wall_ms(ks, t);
    return start < 0 || (int64_t)loop_now_ms(ks->loop) - start >= req->duration_filter_ms;
}

/* Kafka's ListTransactions answers the ids this broker coordinates: every coordinator here. */
struct list_ctx {
    struct kconn *kc;
    const struct kafka_list_transactions_req *req;
    struct kafka_list_transactions_resp resp;
    uint32_t total;
};

static void list_count(void *arg, struct txn_coordinator *tc) {
    ((struct list_ctx *)arg)->total += txn_count(txn_coordinator_state(tc));
}

static void list_add(void *arg, struct txn_coordinator *tc) {
    struct list_ctx *c = arg;
    const struct txn_coord *sm = txn_coordinator_state(tc);
    for (uint32_t i = 0; i < txn_count(sm); i++) {
        const struct txn *t = txn_at(sm, i);
        if (!list_wanted(c->kc->ks, c->req, t)) continue;
        if (!kafka_authorized(c->kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TRANSACTIONAL_ID, kstr_cstr(t->id))) continue;
        c->resp.states[c->resp.state_count++] = (struct kafka_list_transactions_state){
            kafka_arena_kstr(&c->kc->arena, t->id), t->producer_id, kstr_cstr(txn_state_name(t->state))};
    }
}

sl_err kafka_handle_list_transactions(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_list_transactions_req req;
    sl_err e = kafka_decode_list_transactions(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct list_ctx c = {kc, &req, {0, 0, NULL, 0}, 0};
    kafka_txns_each(ks, list_count, &c);
    c.resp.states = KARENA_NEW_ARRAY(&kc->arena, struct kafka_list_transactions_state, SL_MAX(c.total, 1u));
    kafka_txns_each(ks, list_add, &c);
    struct kafka_list_transactions_resp resp = c.resp;
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_list_transactions_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}
