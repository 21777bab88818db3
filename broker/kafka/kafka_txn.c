/* kafka_txn.c: the Kafka transaction APIs, glue between the wire (protocol/kafka_msgs_txn.h),
 * the coordinator (txn_coordinator.h, with the state machine of broker/core/txn.h) and the
 * partitions, which receive the markers (partition_append_marker, acks durable). This broker
 * is every transactional id's coordinator.
 *
 * Every request that changes an entry is answered once the entry is durable in
 * __transaction_state (its slot parks meanwhile, holding a response built in its own arena,
 * since the connection's arena serves the next request); EndTxn is answered once the
 * transaction is finished: markers durable in every partition, offsets committed, Complete
 * written. One loop timer follows the earliest transaction timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/partition.h"
#include "broker/core/txn.h"
#include "broker/kafka/group.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "broker/kafka/group_offsets.h"
#include "broker/kafka/txn_coordinator.h"
#include "broker/kafka/txn_markers.h"
#include "broker/kafka/placed_state.h"
#include "storage/offsets.h"
#include "protocol/kafka_msgs_core.h"
#include "protocol/kafka_msgs_txn.h"

#define TXN_ID_MAX 1024
/* Checked again by the timer while transactions are being finished (a failed finish retries). */
#define TXN_POLL_MS 1000

static int16_t kcode(sl_err e) { return (int16_t)sl_err_kafka(e); }

/* What a client gets when the coordinator's log failed to take a change: retriable, as Kafka
 * answers when it cannot append to __transaction_state. */
static sl_err txn_log_error(sl_err e) { return e ? SL_COORDINATOR_NOT_AVAILABLE : SL_OK; }

/* ---- markers and the timer ---- */

static sl_err txn_write_marker(void *arg, const char *topic, int32_t partition, int64_t producer_id, int16_t epoch,
                               int32_t coordinator_epoch, bool commit, struct partition_append_done *done) {
    struct kafka_server *ks = arg;
    struct topic *tp = topics_get(ks->topics, topic, (int32_t)strlen(topic));
    struct partition *p = tp ? topic_partition(tp, partition) : NULL;
    if (!p) return SL_NO_PARTITION;
    const struct cluster_topic *pl = kafka_placement(ks, tp);
    if (pl && !kafka_placed_leads(ks, tp, pl, partition)) {
        /* Another broker leads it: the marker goes there (WriteTxnMarkers). */
        uint32_t leader = (uint32_t)partition < pl->partition_count ? pl->parts[partition].replicas[0] : 0;
        return txn_markers_send(ks, leader, topic, partition, producer_id, epoch, coordinator_epoch, commit, done);
    }
    return partition_append_marker(p, producer_id, epoch, commit, coordinator_epoch, PARTITION_ACKS_DURABLE,
                                   loop_now_ms(ks->loop), done);
}

/* The id's coordinator if this broker is it now: outside a cluster the broker's own, in one the
 * loaded partition of the replicated transaction state the id lives in (placed_state.h). */
struct txn_coordinator *kafka_txns_of(struct kafka_server *ks, const char *id) {
    if (!ks->txn_state) return ks->txns;
    return id ? placed_state_of(ks->txn_state, id, strlen(id)) : NULL;
}

struct txns_each_ctx {
    void (*fn)(void *arg, struct txn_coordinator *tc);
    void *arg;
};

static void txns_each_loaded(void *arg, void *h) {
    struct txns_each_ctx *c = arg;
    c->fn(c->arg, h);
}

void kafka_txns_each(struct kafka_server *ks, void (*fn)(void *arg, struct txn_coordinator *tc), void *arg) {
    if (!ks->txn_state) {
        if (ks->txns) fn(arg, ks->txns);
        return;
    }
    struct txns_each_ctx c = {fn, arg};
    placed_state_each(ks->txn_state, txns_each_loaded, &c);
}

struct tick_ctx {
    uint64_t now, next;
};

static void txn_tick_one(void *arg, struct txn_coordinator *tc) {
    struct tick_ctx *c = arg;
    c->next = SL_MIN(c->next, txn_coordinator_tick(tc, c->now));
    if (txn_coordinator_finishing(tc)) c->next = SL_MIN(c->next, c->now + TXN_POLL_MS);
}

static void txn_rearm(struct kafka_server *ks) {
    if (ks->txn_stopping) return; /* the timer stays off: no abort starts during shutdown */
    struct tick_ctx c = {loop_mono_ms(ks->loop), UINT64_MAX};
    kafka_txns_each(ks, txn_tick_one, &c);
    /* In a cluster the partitions this broker leads change: look again now and then. */
    if (ks->txn_state) c.next = SL_MIN(c.next, c.now + TXN_POLL_MS);
    if (c.next == UINT64_MAX) loop_timer_del(ks->loop, &ks->txn_timer);
    else loop_timer_add(ks->loop, &ks->txn_timer, c.next);
}

static void txn_on_timer(struct loop_timer *t, uint64_t now_ms) {
    (void)now_ms;
    txn_rearm(sl_container_of(t, struct kafka_server, txn_timer));
}

static struct offsets *txn_offsets_of(void *arg, const char *group) {
    return group_offsets_of(arg, group, strlen(group));
}

/* A group another broker coordinates: the marker goes to the leader of the group's partition
 * of the offsets topic, which commits or drops what the transaction staged there. */
static sl_err txn_offsets_marker(void *arg, const char *group, int64_t producer_id, int16_t epoch,
                                 int32_t coordinator_epoch, bool commit, struct partition_append_done *done) {
    struct kafka_server *ks = arg;
    int32_t leader;
    sl_err e = group_offsets_coordinator(ks, group, strlen(group), &leader);
    if (e) return e;
    uint32_t index = group_offsets_index(ks, group, strlen(group));
    if (index == UINT32_MAX) return SL_COORDINATOR_NOT_AVAILABLE;
    return txn_markers_send(ks, (uint32_t)leader, KAFKA_GROUP_OFFSETS_TOPIC, (int32_t)index, producer_id, epoch,
                            coordinator_epoch, commit,
                            done);
}

/* ---- a cluster's replicated transaction state: a partition's load and unload ---- */

static void *txn_state_load(void *arg, uint32_t index, struct partition *p, const struct kvlog_sink *sink) {
    struct kafka_server *ks = arg;
    struct txn_marker_ops ops = {txn_write_marker, ks, txn_offsets_of, txn_offsets_marker};
    struct txn_coordinator *tc;
    sl_err e = txn_coordinator_open_log(&tc, ks->loop, partition_log(p), sink, &ops, KAFKA_TXNS_MAX,
                                        (int32_t)ks->cfg->transaction_max_timeout_ms);
    if (e) {
        SL_WARN("transactions: %s-%u not loaded: %s", KAFKA_TXN_STATE_TOPIC, index, sl_err_str(e));
        return NULL;
    }
    /* Kafka's coordinator epoch: the state partition's leader epoch at the load, which rises
     * with every new leader, so markers of a coordinator deposed since are fenced. */
    txn_coordinator_set_epoch(tc, SL_MAX(partition_leader_epoch(p), 0));
    SL_INFO("transactions: %s-%u loaded as its leader (%u transactional ids)", KAFKA_TXN_STATE_TOPIC, index,
            txn_count(txn_coordinator_state(tc)));
    txn_rearm(ks); /* its open transactions' timeouts */
    return tc;
}

/* Its transactions being finished go on until they settle; the new leader finishes them again
 * from the Prepare* entries it replays (markers written twice are harmless). */
static void txn_state_unload(void *arg, uint32_t index, void *h) {
    (void)arg;
    (void)index;
    (void)h;
}

static bool txn_state_idle(void *arg, void *h) {
    (void)arg;
    return txn_coordinator_idle(h);
}

static void txn_state_close(void *arg, void *h) {
    (void)arg;
    txn_coordinator_close(h);
}

sl_err kafka_txn_start(struct kafka_server *ks) {
    ks->txn_timer.fire = txn_on_timer;
    if (ks->cfg->cluster_nodes[0]) {
        const struct placed_state_ops pops = {txn_state_load, txn_state_unload, txn_state_idle, txn_state_close, ks};
        ks->txn_state = placed_state_new(ks, KAFKA_TXN_STATE_TOPIC, "txn_state",
                                         ks->cfg->transaction_state_num_partitions,
                                         ks->cfg->transaction_state_replication_factor, &pops);
        txn_rearm(ks);
        return SL_OK;
    }
    struct txn_marker_ops ops = {txn_write_marker, ks, txn_offsets_of, txn_offsets_marker};
    sl_err e = txn_coordinator_open(&ks->txns, ks->loop, ks->store, ks->offsets, &ops, KAFKA_TXNS_MAX,
                                    (int32_t)ks->cfg->transaction_max_timeout_ms);
    if (e) return e;
    txn_rearm(ks);
    return SL_OK;
}

void kafka_txn_stop(struct kafka_server *ks) {
    ks->txn_stopping = true;
    loop_timer_del(ks->loop, &ks->txn_timer);
    txn_markers_stop(ks); /* the markers sent to other brokers answer first */
    placed_state_free(ks->txn_state);
    ks->txn_state = NULL;
    txn_coordinator_close(ks->txns);
    ks->txns = NULL;
}

/* ---- parked answers ---- */

enum txn_api { TXN_API_INIT, TXN_API_ADD_PARTITIONS, TXN_API_ADD_OFFSETS, TXN_API_END, TXN_API_OFFSET_COMMIT };

/* A request waiting for the coordinator's log (lw) or for a finish (fw). Its response lives in
 * its own arena. */
struct txn_park {
    struct log_waiter lw;
    struct txn_finish_waiter fw;
    struct kafka_server *ks;
    struct txn_coordinator *tc; /* the id's coordinator, set once the id is known to be here */
    struct kreq *q;
    enum txn_api api;
    struct karena arena;
    union {
        struct kafka_init_producer_id_resp init;
        struct kafka_add_partitions_to_txn_resp add_partitions;
        struct kafka_add_offsets_to_txn_resp add_offsets;
        struct kafka_end_txn_resp end;
        struct kafka_txn_offset_commit_resp offset_commit;
    } resp;
};

static struct txn_park *txn_park_new(struct kafka_server *ks, struct kreq *q, enum txn_api api) {
    struct txn_park *pk = sl_xcalloc(1, sizeof(*pk));
    pk->ks = ks;
    pk->q = q;
    pk->api = api;
    karena_init(&pk->arena, 1024);
    q->park = pk;
    return pk;
}

static struct kstr txn_park_str(struct txn_park *pk, struct kstr s) {
    if (s.len <= 0) return s;
    char *p = karena_alloc(&pk->arena, (size_t)s.len);
    memcpy(p, s.p, (size_t)s.len);
    return (struct kstr){p, s.len};
}

/* Sets every result's code that is still 0 to err's. */
static void txn_park_fail(struct txn_park *pk, sl_err err) {
    int16_t code = kcode(err);
    switch (pk->api) {
    case TXN_API_INIT:
        pk->resp.init.error_code = code;
        pk->resp.init.producer_id = -1;
        pk->resp.init.producer_epoch = -1;
        break;
    case TXN_API_ADD_PARTITIONS:
        for (int32_t t = 0; t < pk->resp.add_partitions.result_count; t++) {
            struct kafka_add_partitions_to_txn_topic_result *tr = &pk->resp.add_partitions.results[t];
            for (int32_t i = 0; i < tr->result_count; i++)
                if (!tr->results[i].error_code) tr->results[i].error_code = code;
        }
        break;
    case TXN_API_ADD_OFFSETS:
        pk->resp.add_offsets.error_code = code;
        break;
    case TXN_API_END:
        pk->resp.end.error_code = code;
        break;
    case TXN_API_OFFSET_COMMIT:
        for (int32_t t = 0; t < pk->resp.offset_commit.topic_count; t++) {
            struct kafka_txn_offset_commit_topic_resp *tr = &pk->resp.offset_commit.topics[t];
            for (int32_t i = 0; i < tr->partition_count; i++)
                if (!tr->partitions[i].error_code) tr->partitions[i].error_code = code;
        }
        break;
    }
}

static void txn_park_answer(struct txn_park *pk, sl_err err) {
    if (err) txn_park_fail(pk, err);
    struct kreq *q = pk->q;
    struct kw w;
    kresp_begin(q, &w);
    switch (pk->api) {
    case TXN_API_INIT:
        kafka_encode_init_producer_id_resp(&w, q->version, &pk->resp.init);
        break;
    case TXN_API_ADD_PARTITIONS:
        kafka_encode_add_partitions_to_txn_resp(&w, q->version, &pk->resp.add_partitions);
        break;
    case TXN_API_ADD_OFFSETS:
        kafka_encode_add_offsets_to_txn_resp(&w, q->version, &pk->resp.add_offsets);
        break;
    case TXN_API_END:
        kafka_encode_end_txn_resp(&w, q->version, &pk->resp.end);
        break;
    case TXN_API_OFFSET_COMMIT:
        kafka_encode_txn_offset_commit_resp(&w, q->version, &pk->resp.offset_commit);
        break;
    }
    q->park = NULL;
    karena_free(&pk->arena);
    free(pk);
    kresp_finish(q, &w);
}

static void txn_park_persisted(struct log_waiter *w, sl_err err) {
    struct txn_park *pk = sl_container_of(w, struct txn_park, lw);
    if (err) SL_WARN("transactions: %s was not stored: %s", TXN_STATE_TOPIC, sl_err_str(err));
    txn_park_answer(pk, txn_log_error(err));
}

/* Answers once the id's entry, as it is now, is durable. */
static void txn_park_persist(struct txn_park *pk, const char *id) {
    pk->lw = (struct log_waiter){.done = txn_park_persisted};
    sl_err e = txn_coordinator_persist(pk->tc, id, &pk->lw);
    if (e) txn_park_answer(pk, txn_log_error(e));
}

/* A transition's outcome: refused (answered now), or made (the timer follows the new deadline,
 * the entry is persisted, and the answer goes once it is durable). */
static void txn_park_settle(struct txn_park *pk, const char *id, sl_err e) {
    if (e) {
        txn_park_answer(pk, e);
        return;
    }
    txn_rearm(pk->ks);
    txn_park_persist(pk, id);
}

static void txn_park_finished(struct txn_finish_waiter *w, sl_err err) {
    struct txn_park *pk = sl_container_of(w, struct txn_park, fw);
    struct kafka_server *ks = pk->ks;
    txn_park_answer(pk, txn_log_error(err));
    txn_rearm(ks);
}

/* ---- InitProducerId with a transactional id ---- */

static bool txn_id_ok(struct kstr id) { return id.len > 0 && id.len <= TXN_ID_MAX; }

sl_err kafka_txn_init_producer_id(struct kconn *kc, struct kreq *q, const struct kafka_init_producer_id_req *req) {
    struct kafka_server *ks = kc->ks;
    struct txn_park *pk = txn_park_new(ks, q, TXN_API_INIT);
    struct kafka_init_producer_id_resp *resp = &pk->resp.init;
    *resp = (struct kafka_init_producer_id_resp){0, 0, -1, -1};
    if (!txn_id_ok(req->transactional_id)) {
        txn_park_answer(pk, SL_INVALID_REQUEST);
        return SL_OK;
    }
    const char *id = kafka_arena_cstr(&kc->arena, req->transactional_id);
    if (!(pk->tc = kafka_txns_of(ks, id))) {
        txn_park_answer(pk, SL_NOT_COORDINATOR);
        return SL_OK;
    }
    struct txn_coord *sm = txn_coordinator_state(pk->tc);
    sl_err e = SL_OK;
    if (req->producer_id >= 0 && req->producer_epoch >= 0) e = txn_check_init(sm, id, req->producer_id, req->producer_epoch);
    const struct txn *t = txn_get(sm, id);
    enum txn_state before = t ? t->state : TXN_EMPTY;
    int64_t new_pid = -1;
    /* An id is needed only for a new entry or past the last epoch: ids are never reused. */
    if (!e && (!t || t->epoch >= INT16_MAX - 1))
        e = cluster_meta_next_producer_id(&ks->cluster, loop_now_ms(ks->loop), &new_pid) ? SL_COORDINATOR_NOT_AVAILABLE
                                                                                       : SL_OK;
    if (!e) e = txn_init_producer(sm, id, req->transaction_timeout_ms, new_pid, &t);
    if (e == SL_CONCURRENT_TRANSACTIONS && t && before == TXN_ONGOING) {
        /* Kafka aborts the id's ongoing transaction (fencing its producer) and has the new
         * producer retry until the abort is complete. */
        SL_INFO("transaction %s: aborted by a new producer of its transactional id", id);
        txn_coordinator_finish(pk->tc, id, NULL);
        txn_rearm(ks);
    }
    if (e) {
        txn_park_answer(pk, e);
        return SL_OK;
    }
    resp->producer_id = t->producer_id;
    resp->producer_epoch = t->epoch;
    txn_park_persist(pk, id);
    return SL_OK;
}

/* ---- AddPartitionsToTxn ---- */

/* Kafka's answer when some partitions are unknown: those get UNKNOWN_TOPIC_OR_PARTITION, the
 * rest OPERATION_NOT_ATTEMPTED, and nothing is added. */
/* ACLs (kafka_acl.c): every transactional API needs WRITE on the transactional id. */
static bool txn_id_allowed(struct kconn *kc, struct kstr id) {
    return kafka_authorized(kc, KAFKA_OP_WRITE, KAFKA_RES_TRANSACTIONAL_ID, id);
}

/* AddPartitionsToTxn needs WRITE on each topic: the others get OPERATION_NOT_ATTEMPTED. */
static bool txn_partitions_writable(struct kconn *kc, struct kafka_add_partitions_to_txn_resp *resp) {
    bool ok = true;
    for (int32_t t = 0; t < resp->result_count; t++) {
        struct kafka_add_partitions_to_txn_topic_result *tr = &resp->results[t];
        if (kafka_authorized(kc, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, tr->name)) continue;
        for (int32_t i = 0; i < tr->result_count; i++) tr->results[i].error_code = kcode(SL_TOPIC_AUTHORIZATION);
        ok = false;
    }
    return ok;
}

static bool txn_partitions_known(struct kafka_server *ks, struct kafka_add_partitions_to_txn_resp *resp) {
    bool known = true;
    for (int32_t t = 0; t < resp->result_count; t++) {
        struct kafka_add_partitions_to_txn_topic_result *tr = &resp->results[t];
        struct topic *tp = kafka_topic_visible(ks, tr->name.p, tr->name.len);
        for (int32_t i = 0; i < tr->result_count; i++) {
            int32_t p = tr->results[i].partition_index;
            /* A partition another broker leads gets its marker through WriteTxnMarkers. */
            if (tp && topic_partition(tp, p)) continue;
            tr->results[i].error_code = kcode(SL_NO_PARTITION);
            known = false;
        }
    }
    return known;
}

sl_err kafka_handle_add_partitions_to_txn(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_add_partitions_to_txn_req req;
    sl_err e = kafka_decode_add_partitions_to_txn(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct txn_park *pk = txn_park_new(ks, q, TXN_API_ADD_PARTITIONS);
    struct kafka_add_partitions_to_txn_resp *resp = &pk->resp.add_partitions;
    resp->result_count = SL_MAX(req.topic_count, 0);
    resp->results = KARENA_NEW_ARRAY(&pk->arena, struct kafka_add_partitions_to_txn_topic_result,
                                     SL_MAX(resp->result_count, 1));
    for (int32_t t = 0; t < resp->result_count; t++) {
        struct kafka_add_partitions_to_txn_topic_result *tr = &resp->results[t];
        tr->name = txn_park_str(pk, req.topics[t].name);
        tr->result_count = SL_MAX(req.topics[t].partition_count, 0);
        tr->results = KARENA_NEW_ARRAY(&pk->arena, struct kafka_add_partitions_to_txn_partition_result,
                                       SL_MAX(tr->result_count, 1));
        for (int32_t i = 0; i < tr->result_count; i++)
            tr->results[i] = (struct kafka_add_partitions_to_txn_partition_result){req.topics[t].partitions[i], 0};
    }
    if (!txn_id_ok(req.transactional_id)) {
        txn_park_answer(pk, SL_INVALID_REQUEST);
        return SL_OK;
    }
    if (!txn_id_allowed(kc, req.transactional_id)) {
        txn_park_answer(pk, SL_TRANSACTIONAL_ID_AUTHORIZATION);
        return SL_OK;
    }
    if (!txn_partitions_writable(kc, resp)) {
        txn_park_answer(pk, SL_OPERATION_NOT_ATTEMPTED);
        return SL_OK;
    }
    if (!txn_partitions_known(ks, resp)) {
        txn_park_answer(pk, SL_OPERATION_NOT_ATTEMPTED);
        return SL_OK;
    }
    const char *id = kafka_arena_cstr(&kc->arena, req.transactional_id);
    if (!(pk->tc = kafka_txns_of(ks, id))) {
        txn_park_answer(pk, SL_NOT_COORDINATOR);
        return SL_OK;
    }
    struct txn_coord *sm = txn_coordinator_state(pk->tc);
    uint64_t now = loop_mono_ms(ks->loop);
    /* The checks are the id's, not the partition's: the first error is every partition's. */
    for (int32_t t = 0; t < resp->result_count && !e; t++) {
        const struct kafka_add_partitions_to_txn_topic_result *tr = &resp->results[t];
        const char *topic = kafka_arena_cstr(&kc->arena, tr->name);
        for (int32_t i = 0; i < tr->result_count && !e; i++)
            e = txn_add_partition(sm, id, req.producer_id, req.producer_epoch, topic, tr->results[i].partition_index,
                                  now);
    }
    txn_park_settle(pk, id, e);
    return SL_OK;
}

/* ---- AddOffsetsToTxn ---- */

sl_err kafka_handle_add_offsets_to_txn(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_add_offsets_to_txn_req req;
    sl_err e = kafka_decode_add_offsets_to_txn(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct txn_park *pk = txn_park_new(ks, q, TXN_API_ADD_OFFSETS);
    if (!txn_id_ok(req.transactional_id)) {
        txn_park_answer(pk, SL_INVALID_REQUEST);
        return SL_OK;
    }
    if (!txn_id_allowed(kc, req.transactional_id)) {
        txn_park_answer(pk, SL_TRANSACTIONAL_ID_AUTHORIZATION);
        return SL_OK;
    }
    if (!kafka_authorized(kc, KAFKA_OP_READ, KAFKA_RES_GROUP, req.group_id)) {
        txn_park_answer(pk, SL_GROUP_AUTHORIZATION);
        return SL_OK;
    }
    if (req.group_id.len <= 0 || req.group_id.len > TXN_ID_MAX) {
        txn_park_answer(pk, SL_INVALID_GROUP_ID);
        return SL_OK;
    }
    const char *id = kafka_arena_cstr(&kc->arena, req.transactional_id);
    if (!(pk->tc = kafka_txns_of(ks, id))) {
        txn_park_answer(pk, SL_NOT_COORDINATOR);
        return SL_OK;
    }
    e = txn_add_group(txn_coordinator_state(pk->tc), id, req.producer_id, req.producer_epoch,
                      kafka_arena_cstr(&kc->arena, req.group_id), loop_mono_ms(ks->loop));
    txn_park_settle(pk, id, e);
    return SL_OK;
}

/* ---- EndTxn ---- */

sl_err kafka_handle_end_txn(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_end_txn_req req;
    sl_err e = kafka_decode_end_txn(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct txn_park *pk = txn_park_new(ks, q, TXN_API_END);
    if (!txn_id_ok(req.transactional_id)) {
        txn_park_answer(pk, SL_INVALID_REQUEST);
        return SL_OK;
    }
    if (!txn_id_allowed(kc, req.transactional_id)) {
        txn_park_answer(pk, SL_TRANSACTIONAL_ID_AUTHORIZATION);
        return SL_OK;
    }
    const char *id = kafka_arena_cstr(&kc->arena, req.transactional_id);
    if (!(pk->tc = kafka_txns_of(ks, id))) {
        txn_park_answer(pk, SL_NOT_COORDINATOR);
        return SL_OK;
    }
    const struct txn *t;
    e = txn_end(txn_coordinator_state(pk->tc), id, req.producer_id, req.producer_epoch, req.committed, &t);
    if (e || t->state == TXN_COMPLETE_COMMIT || t->state == TXN_COMPLETE_ABORT) {
        txn_park_answer(pk, e); /* refused, or a retry of a decision already complete */
        return SL_OK;
    }
    pk->fw.fn = txn_park_finished;
    txn_coordinator_finish(pk->tc, id, &pk->fw);
    return SL_OK;
}

/* ---- TxnOffsetCommit ---- */

/* v3 (KIP-447) carries the member's generation: checked as OffsetCommit checks it. Older
 * versions (generation -1, no member) commit as the producer alone. */
static sl_err txn_offset_group_check(struct kafka_server *ks, struct karena *a,
                                     const struct kafka_txn_offset_commit_req *req, const char *group) {
    if (req->generation_id < 0 && req->member_id.len <= 0) return SL_OK;
    struct group *g = group_registry_find(ks->groups, group);
    if (!g) return req->generation_id >= 0 ? SL_ILLEGAL_GENERATION : SL_OK;
    return group_check_commit(g, kafka_arena_cstr(a, req->member_id), kafka_arena_cstr(a, req->group_instance_id),
                              req->generation_id, loop_mono_ms(ks->loop));
}

/* Kafka's path: the transaction is coordinated on another broker and this one coordinates the
 * group, so the offsets are staged in the group's log under the producer id, and the
 * transaction's marker commits or drops them (storage/offsets.h). The producer's epoch is not
 * checked here (Kafka checks it through the offsets partition's producer state): a fenced
 * producer's staged offsets are dropped by its transaction's abort. */
static void txn_offset_stage(struct kconn *kc, struct txn_park *pk, const struct kafka_txn_offset_commit_req *req,
                             const char *group) {
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    struct kafka_txn_offset_commit_resp *resp = &pk->resp.offset_commit;
    struct offsets *o = group_offsets_of(ks, group, strlen(group));
    int32_t total = 0;
    for (int32_t t = 0; t < req->topic_count; t++) total += SL_MAX(req->topics[t].partition_count, 0);
    struct offset_commit *cs = karena_alloc(a, sizeof(*cs) * (size_t)SL_MAX(total, 1));
    uint32_t n = 0;
    for (int32_t t = 0; t < req->topic_count; t++) {
        const struct kafka_txn_offset_commit_topic *rt = &req->topics[t];
        struct topic *tp = kafka_topic_visible(ks, rt->name.p, rt->name.len);
        for (int32_t i = 0; i < rt->partition_count; i++) {
            const struct kafka_txn_offset_commit_partition *rp = &rt->partitions[i];
            if (!tp || !topic_partition(tp, rp->partition_index)) {
                resp->topics[t].partitions[i].error_code = kcode(SL_NO_PARTITION);
                continue;
            }
            cs[n++] = (struct offset_commit){rt->name.p, rt->name.len, rp->partition_index, rp->committed_offset,
                                             rp->committed_leader_epoch, rp->committed_metadata.p,
                                             rp->committed_metadata.len, false};
        }
    }
    if (n == 0) {
        txn_park_answer(pk, SL_OK);
        return;
    }
    pk->lw = (struct log_waiter){.done = txn_park_persisted};
    sl_err e = offsets_txn_stage(o, req->producer_id, req->producer_epoch, group, cs, n, loop_now_ms(ks->loop), &pk->lw);
    if (e) txn_park_answer(pk, txn_log_error(e));
}

sl_err kafka_handle_txn_offset_commit(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_txn_offset_commit_req req;
    sl_err e = kafka_decode_txn_offset_commit(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    struct txn_park *pk = txn_park_new(ks, q, TXN_API_OFFSET_COMMIT);
    struct kafka_txn_offset_commit_resp *resp = &pk->resp.offset_commit;
    resp->topic_count = SL_MAX(req.topic_count, 0);
    resp->topics = KARENA_NEW_ARRAY(&pk->arena, struct kafka_txn_offset_commit_topic_resp, SL_MAX(resp->topic_count, 1));
    for (int32_t t = 0; t < resp->topic_count; t++) {
        struct kafka_txn_offset_commit_topic_resp *tr = &resp->topics[t];
        tr->name = txn_park_str(pk, req.topics[t].name);
        tr->partition_count = SL_MAX(req.topics[t].partition_count, 0);
        tr->partitions = KARENA_NEW_ARRAY(&pk->arena, struct kafka_txn_offset_commit_partition_resp,
                                          SL_MAX(tr->partition_count, 1));
        for (int32_t i = 0; i < tr->partition_count; i++)
            tr->partitions[i] = (struct kafka_txn_offset_commit_partition_resp){
                req.topics[t].partitions[i].partition_index, 0};
    }
    const char *id = kafka_arena_cstr(a, req.transactional_id);
    const char *group = kafka_arena_cstr(a, req.group_id);
    if (!txn_id_ok(req.transactional_id)) e = SL_INVALID_REQUEST;
    else if (!txn_id_allowed(kc, req.transactional_id)) e = SL_TRANSACTIONAL_ID_AUTHORIZATION;
    else if (!kafka_authorized(kc, KAFKA_OP_READ, KAFKA_RES_GROUP, req.group_id)) e = SL_GROUP_AUTHORIZATION;
    else if (req.group_id.len <= 0 || req.group_id.len > TXN_ID_MAX) e = SL_INVALID_GROUP_ID;
    else if (!(pk->tc = kafka_txns_of(ks, id)) && !group_offsets_of(ks, group, strlen(group))) e = SL_NOT_COORDINATOR;
    else e = txn_offset_group_check(ks, a, &req, group);
    if (e) {
        txn_park_answer(pk, e);
        return SL_OK;
    }
    if (!pk->tc) {
        txn_offset_stage(kc, pk, &req, group);
        return SL_OK;
    }
    struct txn_coord *sm = txn_coordinator_state(pk->tc);
    bool changed = false;
    for (int32_t t = 0; t < req.topic_count; t++) {
        const struct kafka_txn_offset_commit_topic *rt = &req.topics[t];
        struct topic *tp = kafka_topic_visible(ks, rt->name.p, rt->name.len);
        const char *topic = kafka_arena_cstr(a, rt->name);
        for (int32_t i = 0; i < rt->partition_count; i++) {
            const struct kafka_txn_offset_commit_partition *rp = &rt->partitions[i];
            sl_err pe = !tp || !topic_partition(tp, rp->partition_index)
                            ? SL_NO_PARTITION
                            : txn_add_offset(sm, id, req.producer_id, req.producer_epoch, group, topic,
                                             rp->partition_index, rp->committed_offset, rp->committed_leader_epoch,
                                             rp->committed_metadata.p, rp->committed_metadata.len);
            resp->topics[t].partitions[i].error_code = kcode(pe);
            changed |= pe == SL_OK;
        }
    }
    if (!changed) txn_park_answer(pk, SL_OK);
    else txn_park_persist(pk, id);
    return SL_OK;
}
