/* txn_markers.c: WriteTxnMarkers between brokers, both ends (see txn_markers.h). */
#include "broker/kafka/txn_markers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/core/cluster_view.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "broker/kafka/group_offsets.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "broker/net/peer.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_msgs_txn.h"
#include "storage/offsets.h"

#define MARKERS_VERSION 0         /* what every Kafka since 0.11 takes */
#define MARKERS_IO_TIMEOUT_MS 10000 /* connect, send, and the answer: the leader waits for its ISR */
#define MARKERS_FRAME_MAX (1u << 20)

static int16_t kcode(sl_err e) { return (int16_t)sl_err_kafka(e); }

/* ---- the coordinator's side --------------------------------------------------------------- */

struct marker_send {
    struct work w;
    struct kafka_server *ks;
    char host[CLUSTER_HOSTPORT_MAX];
    char port[8];
    char topic[CLUSTER_TOPIC_NAME_MAX];
    int32_t partition;
    struct partition_append_done *done;
    struct kw req;
    uint8_t *frame; /* the answer (after its size prefix), or NULL with err */
    uint32_t frame_len;
    char err[300];
};

static void marker_exchange(struct work *w) {
    struct marker_send *m = (struct marker_send *)w;
    struct peer conn;
    if (!peer_open(&conn, m->host, m->port, m->ks->peer_tls, MARKERS_IO_TIMEOUT_MS, m->err, sizeof(m->err))) return;
    if (peer_login(&conn, &m->ks->peer_login, m->err, sizeof(m->err)))
        peer_exchange(&conn, m->req.p, m->req.len, MARKERS_FRAME_MAX, &m->frame, &m->frame_len, m->err,
                      sizeof(m->err));
    peer_close(&conn);
}

/* The partition's code in the answer, or why there is none. */
static sl_err marker_outcome(struct marker_send *m) {
    if (!m->frame) return SL_NOT_LEADER; /* unreachable: the coordinator tries again later */
    struct karena a;
    karena_init(&a, 0);
    struct kr r = {m->frame, m->frame + m->frame_len, SL_OK};
    int32_t corr;
    struct kafka_write_txn_markers_resp resp;
    sl_err e = kafka_decode_resp_header(&r, KAFKA_WRITE_TXN_MARKERS, MARKERS_VERSION, &corr);
    if (!e) e = kafka_decode_write_txn_markers_resp(&r, MARKERS_VERSION, &a, &resp);
    sl_err out = e ? SL_CORRUPT : SL_UNKNOWN_SERVER;
    for (int32_t i = 0; !e && i < resp.marker_count; i++)
        for (int32_t j = 0; j < resp.markers[i].topic_count; j++) {
            const struct kafka_write_txn_markers_topic_result *t = &resp.markers[i].topics[j];
            if (t->name.len != (int32_t)strlen(m->topic) || memcmp(t->name.p, m->topic, (size_t)t->name.len) != 0)
                continue;
            for (int32_t k = 0; k < t->partition_count; k++)
                if (t->partitions[k].partition_index == m->partition)
                    out = sl_err_of_kafka(t->partitions[k].error_code);
        }
    if (e) snprintf(m->err, sizeof(m->err), "a malformed answer: %s", sl_err_str(e));
    karena_free(&a);
    return out;
}

static void marker_answered(struct work *w) {
    struct marker_send *m = (struct marker_send *)w;
    sl_err e = marker_outcome(m);
    if (e)
        SL_WARN("transactions: marker for %s[%d] through %s:%s: %s", m->topic, m->partition, m->host, m->port,
                m->err[0] ? m->err : sl_err_str(e));
    struct partition_append_done *done = m->done;
    free(m->frame);
    kw_free(&m->req);
    free(m);
    done->fn(done, e);
}

static struct workers *markers_workers(struct kafka_server *ks) {
    /* Two threads: a send waits for the leader's ISR while another partition's goes out. */
    if (!ks->marker_workers) ks->marker_workers = workers_new(ks->loop, 2, "kafka-markers");
    return ks->marker_workers;
}

sl_err txn_markers_send(struct kafka_server *ks, uint32_t leader, const char *topic, int32_t partition,
                        int64_t producer_id, int16_t epoch, int32_t coordinator_epoch, bool commit,
                        struct partition_append_done *done) {
    const struct cluster_view_broker *vb = ks->view ? cluster_view_broker(ks->view, leader) : NULL;
    if (!vb || strlen(topic) >= CLUSTER_TOPIC_NAME_MAX) return SL_NOT_LEADER;
    struct marker_send *m = sl_xcalloc(1, sizeof(*m));
    m->ks = ks;
    snprintf(m->host, sizeof(m->host), "%s", vb->host);
    snprintf(m->port, sizeof(m->port), "%d", (int)vb->port);
    snprintf(m->topic, sizeof(m->topic), "%s", topic);
    m->partition = partition;
    m->done = done;
    int32_t part = partition;
    struct kafka_write_txn_markers_topic t = {{m->topic, (int32_t)strlen(m->topic)}, &part, 1};
    struct kafka_write_txn_marker mk = {producer_id, epoch, commit, &t, 1, coordinator_epoch};
    struct kafka_write_txn_markers_req req = {&mk, 1};
    char client_id[32];
    snprintf(client_id, sizeof(client_id), "sluice-txn-%d", (int)ks->node_id);
    struct kafka_req_header h = {.api_key = KAFKA_WRITE_TXN_MARKERS, .api_version = MARKERS_VERSION,
                                 .correlation_id = 1, .client_id = {client_id, (int32_t)strlen(client_id)}};
    kw_init(&m->req, 256);
    kw_i32(&m->req, 0);
    kafka_encode_req_header(&m->req, &h);
    kafka_encode_write_txn_markers_req(&m->req, MARKERS_VERSION, &req);
    kw_patch_i32(&m->req, 0, (int32_t)(m->req.len - 4));
    m->w.run = marker_exchange;
    m->w.done = marker_answered;
    workers_submit(markers_workers(ks), &m->w);
    return SL_OK;
}

void txn_markers_stop(struct kafka_server *ks) {
    if (ks->marker_workers) workers_free(ks->marker_workers);
    ks->marker_workers = NULL;
}

/* ---- the partition leader's side ---------------------------------------------------------- */

struct markers_park;

struct marker_wait {
    struct partition_append_done d; /* first: the done pointer is the wait */
    struct log_waiter lw;           /* a partition of the offsets topic: its staged offsets' end */
    struct markers_park *pk;
    int16_t *code;
};

struct markers_park {
    struct kreq *q;
    struct kafka_write_txn_markers_resp resp; /* heap: the request's bytes go once it parks */
    struct marker_wait *waits;
    char *names;
    uint32_t pending;
};

static void markers_answer(struct markers_park *pk) {
    struct kw w;
    kresp_begin(pk->q, &w);
    kafka_encode_write_txn_markers_resp(&w, pk->q->version, &pk->resp);
    kresp_finish(pk->q, &w);
    for (int32_t i = 0; i < pk->resp.marker_count; i++) {
        for (int32_t j = 0; j < pk->resp.markers[i].topic_count; j++) free(pk->resp.markers[i].topics[j].partitions);
        free(pk->resp.markers[i].topics);
    }
    free(pk->resp.markers);
    free(pk->waits);
    free(pk->names);
    free(pk);
}

static void marker_settled(struct marker_wait *mw, sl_err err) {
    *mw->code = kcode(err);
    struct markers_park *pk = mw->pk;
    if (--pk->pending == 0) markers_answer(pk);
}

static void marker_written(struct partition_append_done *d, sl_err err) {
    marker_settled((struct marker_wait *)d, err);
}

static void marker_offsets_done(struct log_waiter *w, sl_err err) {
    marker_settled(sl_container_of(w, struct marker_wait, lw), err);
}

/* A marker for a partition of the offsets topic: the producer's offsets staged in it are
 * committed or dropped (the group coordinator's side of a transaction's offsets). */
static bool marker_offsets(struct kafka_server *ks, const struct kafka_write_txn_markers_topic *t, int32_t p,
                           const struct kafka_write_txn_marker *mk, bool allowed, struct marker_wait *mw,
                           int16_t *code) {
    if (t->name.len != (int32_t)strlen(KAFKA_GROUP_OFFSETS_TOPIC) ||
        memcmp(t->name.p, KAFKA_GROUP_OFFSETS_TOPIC, (size_t)t->name.len) != 0)
        return false;
    struct offsets *o = p >= 0 ? group_offsets_partition(ks, (uint32_t)p) : NULL;
    if (!allowed) *code = kcode(SL_CLUSTER_AUTHORIZATION);
    else if (!o) *code = kcode(SL_NOT_LEADER);
    if (*code) return true;
    mw->lw = (struct log_waiter){.done = marker_offsets_done};
    mw->code = code;
    mw->pk->pending++;
    sl_err e = offsets_txn_end(o, mk->producer_id, mk->producer_epoch, mk->coordinator_epoch, mk->transaction_result,
                               loop_now_ms(ks->loop), &mw->lw);
    if (e) {
        mw->pk->pending--;
        *code = kcode(e);
    }
    return true;
}

sl_err kafka_handle_write_txn_markers(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_write_txn_markers_req req;
    sl_err e = kafka_decode_write_txn_markers(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    bool allowed = kafka_authorized(kc, KAFKA_OP_CLUSTER_ACTION, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE));
    struct markers_park *pk = sl_xcalloc(1, sizeof(*pk));
    pk->q = q;
    size_t names = 1, parts = 1;
    for (int32_t i = 0; i < req.marker_count; i++)
        for (int32_t j = 0; j < req.markers[i].topic_count; j++) {
            names += (size_t)SL_MAX(req.markers[i].topics[j].name.len, 0) + 1;
            parts += (size_t)SL_MAX(req.markers[i].topics[j].partition_index_count, 0);
        }
    pk->names = sl_xmalloc(names);
    pk->waits = sl_xcalloc(parts, sizeof(*pk->waits));
    pk->resp.marker_count = req.marker_count;
    pk->resp.markers = sl_xcalloc((size_t)SL_MAX(req.marker_count, 1), sizeof(*pk->resp.markers));
    pk->pending = 1; /* held until every append below is started */
    char *at = pk->names;
    uint32_t k = 0;
    uint64_t now = loop_now_ms(ks->loop);
    for (int32_t i = 0; i < req.marker_count; i++) {
        const struct kafka_write_txn_marker *mk = &req.markers[i];
        struct kafka_write_txn_marker_result *mr = &pk->resp.markers[i];
        mr->producer_id = mk->producer_id;
        mr->topic_count = mk->topic_count;
        mr->topics = sl_xcalloc((size_t)SL_MAX(mk->topic_count, 1), sizeof(*mr->topics));
        for (int32_t j = 0; j < mk->topic_count; j++) {
            const struct kafka_write_txn_markers_topic *t = &mk->topics[j];
            struct kafka_write_txn_markers_topic_result *tr = &mr->topics[j];
            int32_t len = SL_MAX(t->name.len, 0);
            memcpy(at, t->name.p, (size_t)len);
            at[len] = 0;
            tr->name = (struct kstr){at, len};
            at += len + 1;
            tr->partition_count = t->partition_index_count;
            tr->partitions = sl_xcalloc((size_t)SL_MAX(t->partition_index_count, 1), sizeof(*tr->partitions));
            struct topic *tp = kafka_topic_visible(ks, t->name.p, t->name.len);
            for (int32_t n = 0; n < t->partition_index_count; n++) {
                int32_t p = t->partition_indexes[n];
                struct kafka_write_txn_markers_partition_result *pr = &tr->partitions[n];
                pr->partition_index = p;
                pk->waits[k].pk = pk;
                if (marker_offsets(ks, t, p, mk, allowed, &pk->waits[k], &pr->error_code)) {
                    k++;
                    continue;
                }
                struct partition *part = tp ? topic_partition(tp, p) : NULL;
                if (!allowed) pr->error_code = kcode(SL_CLUSTER_AUTHORIZATION);
                else if (!part) pr->error_code = kcode(SL_NO_PARTITION);
                else if (!kafka_leads(ks, tp, p)) pr->error_code = kcode(SL_NOT_LEADER);
                if (pr->error_code) continue;
                struct marker_wait *mw = &pk->waits[k++];
                mw->d.fn = marker_written;
                mw->pk = pk;
                mw->code = &pr->error_code;
                pk->pending++;
                e = partition_append_marker(part, mk->producer_id, mk->producer_epoch, mk->transaction_result,
                                            mk->coordinator_epoch, PARTITION_ACKS_DURABLE, now, &mw->d);
                if (e) {
                    pk->pending--;
                    pr->error_code = kcode(e);
                }
            }
        }
    }
    if (--pk->pending == 0) markers_answer(pk);
    return SL_OK;
}
