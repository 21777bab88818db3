/* kafka_server.c: the Kafka listener: frames, request headers, dispatch through the API table,
 * and the small APIs (ApiVersions, Metadata, InitProducerId; a transactional one is
 * kafka_txn.c's). See kafka.h; the response slots
 * are kafka_resp.c's.
 *
 * Limits: a frame is an int32 size then the request; a size <= 0 or above max_request_bytes
 * closes the connection before anything is allocated (Kafka: socket.request.max.bytes). An
 * unknown API key or an unsupported version of any API but ApiVersions closes it too, as
 * Kafka does (kafka-python's version probe relies on that). A connection with
 * KAFKA_INFLIGHT_MAX requests unanswered, or more than max_pending_bytes unsent, is not read
 * until it drains. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/core/cluster_meta.h"
#include "broker/core/txn.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_names.h"
#include "broker/kafka/kafka_resp.h"
#include "broker/kafka/txn_markers.h"
#include "protocol/kafka_msgs_admin.h"
#include "protocol/kafka_msgs_core.h"
#include "storage/store.h"

typedef sl_err (*kafka_handler)(struct kconn *kc, struct kreq *q, struct kr *r);

static sl_err kafka_handle_api_versions(struct kconn *kc, struct kreq *q, struct kr *r);
static sl_err kafka_handle_metadata(struct kconn *kc, struct kreq *q, struct kr *r);
static sl_err kafka_handle_init_producer_id(struct kconn *kc, struct kreq *q, struct kr *r);
static sl_err kafka_handle_describe_cluster(struct kconn *kc, struct kreq *q, struct kr *r);

/* The APIs served now; the ApiVersions answer lists exactly these. */
static const kafka_handler kafka_handlers[KAFKA_API_KEY_MAX + 1] = {
    [KAFKA_PRODUCE] = kafka_handle_produce,
    [KAFKA_FETCH] = kafka_handle_fetch,
    [KAFKA_LIST_OFFSETS] = kafka_handle_list_offsets,
    [KAFKA_METADATA] = kafka_handle_metadata,
    [KAFKA_API_VERSIONS] = kafka_handle_api_versions,
    [KAFKA_CREATE_TOPICS] = kafka_handle_create_topics,
    [KAFKA_DELETE_TOPICS] = kafka_handle_delete_topics,
    [KAFKA_DELETE_RECORDS] = kafka_handle_delete_records,
    [KAFKA_INIT_PRODUCER_ID] = kafka_handle_init_producer_id,
    [KAFKA_ADD_PARTITIONS_TO_TXN] = kafka_handle_add_partitions_to_txn,
    [KAFKA_ADD_OFFSETS_TO_TXN] = kafka_handle_add_offsets_to_txn,
    [KAFKA_END_TXN] = kafka_handle_end_txn,
    [KAFKA_WRITE_TXN_MARKERS] = kafka_handle_write_txn_markers,
    [KAFKA_TXN_OFFSET_COMMIT] = kafka_handle_txn_offset_commit,
    [KAFKA_DESCRIBE_TRANSACTIONS] = kafka_handle_describe_transactions,
    [KAFKA_LIST_TRANSACTIONS] = kafka_handle_list_transactions,
    [KAFKA_DESCRIBE_CONFIGS] = kafka_handle_describe_configs,
    [KAFKA_ALTER_CONFIGS] = kafka_handle_alter_configs,
    [KAFKA_CREATE_PARTITIONS] = kafka_handle_create_partitions,
    [KAFKA_INCREMENTAL_ALTER_CONFIGS] = kafka_handle_incremental_alter_configs,
    [KAFKA_FIND_COORDINATOR] = kafka_handle_find_coordinator,
    [KAFKA_JOIN_GROUP] = kafka_handle_join_group,
    [KAFKA_SYNC_GROUP] = kafka_handle_sync_group,
    [KAFKA_HEARTBEAT] = kafka_handle_heartbeat,
    [KAFKA_LEAVE_GROUP] = kafka_handle_leave_group,
    [KAFKA_OFFSET_COMMIT] = kafka_handle_offset_commit,
    [KAFKA_OFFSET_FETCH] = kafka_handle_offset_fetch,
    [KAFKA_DESCRIBE_GROUPS] = kafka_handle_describe_groups,
    [KAFKA_LIST_GROUPS] = kafka_handle_list_groups,
    [KAFKA_DELETE_GROUPS] = kafka_handle_delete_groups,
    [KAFKA_OFFSET_DELETE] = kafka_handle_offset_delete,
    [KAFKA_DESCRIBE_CLIENT_QUOTAS] = kafka_handle_describe_client_quotas,
    [KAFKA_ALTER_CLIENT_QUOTAS] = kafka_handle_alter_client_quotas,
    [KAFKA_DESCRIBE_CLUSTER] = kafka_handle_describe_cluster,
    [KAFKA_SASL_HANDSHAKE] = kafka_handle_sasl_handshake,
    [KAFKA_SASL_AUTHENTICATE] = kafka_handle_sasl_authenticate,
    [KAFKA_DESCRIBE_USER_SCRAM_CREDENTIALS] = kafka_handle_describe_user_scram_credentials,
    [KAFKA_ALTER_USER_SCRAM_CREDENTIALS] = kafka_handle_alter_user_scram_credentials,
    [KAFKA_DESCRIBE_ACLS] = kafka_handle_describe_acls,
    [KAFKA_CREATE_ACLS] = kafka_handle_create_acls,
    [KAFKA_DELETE_ACLS] = kafka_handle_delete_acls,
};

/* SaslHandshake and SaslAuthenticate are served (and advertised) only when SASL is configured,
 * the ACL APIs only when the authorizer is on (Kafka answers SECURITY_DISABLED without one). */
static kafka_handler kafka_handler_for(const struct kafka_server *ks, int16_t key) {
    if (key < 0 || key > KAFKA_API_KEY_MAX || !kafka_api_info(key)) return NULL;
    if ((key == KAFKA_SASL_HANDSHAKE || key == KAFKA_SASL_AUTHENTICATE) && !kafka_sasl_enabled(ks)) return NULL;
    if ((key == KAFKA_DESCRIBE_ACLS || key == KAFKA_CREATE_ACLS || key == KAFKA_DELETE_ACLS) && !kafka_acl_enabled(ks))
        return NULL;
    return kafka_handlers[key];
}

/* ---- connection callbacks -------------------------------------------------------------------- */

static bool kafka_on_frame(struct kconn *kc, const uint8_t *p, uint32_t len) {
    if (kc->sasl.state == KSASL_RAW) return kafka_sasl_raw_token(kc, p, len); /* after SaslHandshake v0 */
    struct kr r = kr_make(p, len);
    struct kafka_req_header h;
    if (kafka_decode_req_header(&r, &h) != SL_OK) {
        SL_DEBUG("kafka %s: truncated request header", kc->c->peer);
        return false;
    }
    kafka_handler fn = kafka_handler_for(kc->ks, h.api_key);
    if (!fn) {
        SL_DEBUG("kafka %s: unknown API key %d: closing, as Kafka does", kc->c->peer, h.api_key);
        return false;
    }
    if (h.api_key != KAFKA_API_VERSIONS && !kafka_api_supported(h.api_key, h.api_version)) {
        SL_DEBUG("kafka %s: %s v%d is not supported: closing", kc->c->peer, kafka_api_info(h.api_key)->name,
                 h.api_version);
        return false;
    }
    if (!kafka_sasl_allows(kc, h.api_key, loop_mono_ms(kc->ks->loop))) return false;
    kc->ks->requests_total++;
    struct kreq *q = kreq_new(kc, &h);
    karena_reset(&kc->arena);
    q->client_id = h.client_id;
    kafka_quota_note_client(kc, h.client_id);
    sl_err e = fn(kc, q, &r);
    if (e) {
        /* Nothing was started for a request that did not decode: its slot just goes. */
        q->ready = true;
        q->silent = true;
        SL_DEBUG("kafka %s: malformed %s v%d request: %s", kc->c ? kc->c->peer : "?",
                 kafka_api_info(h.api_key)->name, h.api_version, sl_err_str(e));
        return false;
    }
    return true;
}

static void kafka_offload_submit(struct kconn *kc, size_t end);

static bool kafka_on_data(struct conn *c) {
    struct kconn *kc = c->proto;
    if (kc->offloaded) return true; /* a request decoding on a worker: the rest waits */
    size_t off = 0;
    bool ok = true;
    uint32_t max = kc->ks->cfg->max_request_bytes;
    while (ok && !c->closing && !c->close_when_sent && kc->q_count < KAFKA_INFLIGHT_MAX &&
           !kafka_quota_muted(&kc->quota)) {
        size_t have = c->in_len - off;
        if (have < 4) break;
        int32_t size = (int32_t)sl_load_be32(c->in + off);
        if (size <= 0 || (uint32_t)size > max) {
            SL_WARN("kafka %s: request size %d outside 1..%u: closing", c->peer, size, max);
            ok = false;
            break;
        }
        if (have < 4 + (size_t)size) {
            conn_consume(c, off);
            off = 0;
            if (!conn_input_reserve(c, 4 + (size_t)size)) ok = false;
            break;
        }
        ok = kafka_on_frame(kc, c->in + off + 4, (uint32_t)size);
        if (ok) kafka_quota_admit(kc); /* closes after the answer if the principal is at its limit */
        off += 4 + (size_t)size;
        if (ok && kc->offloaded) {
            conn_pause_recv(c);
            kafka_offload_submit(kc, off);
            off = 0; /* the buffer went with the request: what follows it starts the new one */
            break;
        }
    }
    if (ok) conn_consume(c, off);
    if (ok && (kc->q_count >= KAFKA_INFLIGHT_MAX || c->out_bytes > kc->ks->cfg->max_pending_bytes)) {
        kc->paused_for_queue = true;
        conn_pause_recv(c);
    }
    return ok;
}

static void kafka_on_drain(struct conn *c) {
    struct kconn *kc = c->proto;
    if (kc->paused_for_queue && !kc->offloaded && kc->q_count < KAFKA_INFLIGHT_MAX / 2) {
        kc->paused_for_queue = false;
        if (!kafka_quota_muted(&kc->quota)) conn_resume_recv(c);
    }
}

static void kafka_on_close(struct conn *c) {
    struct kconn *kc = c->proto;
    kc->dead = true;
    kc->c = NULL;
    kafka_sasl_conn_free(&kc->sasl);
    kafka_quota_conn_close(kc);
    for (struct kreq *q = kc->q_head, *next; q; q = next) {
        next = q->next;
        if (!q->ready && q->park_cancel) q->park_cancel(q);
    }
    kconn_flush(kc);
}

static void kafka_on_open(struct conn *c) {
    struct listener *ls = c->listener;
    struct kconn *kc = sl_xcalloc(1, sizeof(*kc));
    kc->c = c;
    kc->ks = ls->arg;
    karena_init(&kc->arena, 16384);
    kafka_sasl_conn_init(kc->ks, &kc->sasl);
    kafka_quota_conn_init(kc);
    c->proto = kc;
}

static const struct conn_ops kafka_conn_ops = {kafka_on_data, kafka_on_drain, kafka_on_close, true};

/* ---- ApiVersions ------------------------------------------------------------------------------ */

static sl_err kafka_handle_api_versions(struct kconn *kc, struct kreq *q, struct kr *r) {
    int16_t answer = kafka_api_versions_answer_version(q->version);
    int16_t error = 0;
    if (answer != q->version) {
        error = (int16_t)sl_err_kafka(SL_UNSUPPORTED_VERSION);
        q->version = answer;
    } else {
        struct kafka_api_versions_req req;
        /* A v3 body Kafka would refuse still gets the list: every client then proceeds. */
        if (kafka_decode_api_versions(r, q->version, &req) != SL_OK) r->err = SL_OK;
    }
    bool flex = q->version >= 3;
    struct kw w;
    kresp_begin(q, &w);
    kw_error(&w, error);
    uint32_t n = 0;
    for (uint32_t i = 0; i < kafka_api_count(); i++)
        if (kafka_handler_for(kc->ks, kafka_api_at(i)->key)) n++;
    kw_array(&w, flex, (int32_t)n);
    for (uint32_t i = 0; i < kafka_api_count(); i++) {
        const struct kafka_api_info *a = kafka_api_at(i);
        if (!kafka_handler_for(kc->ks, a->key)) continue;
        kw_i16(&w, a->key);
        kw_i16(&w, a->min_version);
        kw_i16(&w, a->max_version);
        kw_tags(&w, flex);
    }
    if (q->version >= 1) kw_i32(&w, 0); /* throttle_time_ms */
    kw_tags(&w, flex);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- Metadata ---------------------------------------------------------------------------------- */

static void kafka_autocreate_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    (void)arg;
    (void)tp;
    /* In a cluster two brokers may ask for the same topic at once: one of them is told it exists. */
    if (err && err != SL_TOPIC_EXISTS) SL_WARN("kafka: auto-creating a topic failed: %s", why ? why : sl_err_str(err));
}

struct topic *kafka_topic_get(struct kafka_server *ks, struct kstr name, bool may_create, sl_err *err) {
    *err = SL_OK;
    if (!topics_name_valid(name.p, name.len) || kafka_topic_hidden(name.p, name.len)) {
        *err = SL_INVALID_TOPIC;
        return NULL;
    }
    struct topic *tp = topics_get(ks->topics, name.p, name.len);
    if (tp) return tp;
    if (topics_creating(ks->topics, name.p, name.len) || (ks->view && cluster_view_topic(ks->view, name.p, name.len))) {
        /* A CreateTopics still making its partitions: Kafka's answer for a topic not ready. */
        *err = SL_LEADER_NOT_AVAILABLE;
        return NULL;
    }
    if (!may_create || !ks->cfg->auto_create_topics) {
        *err = SL_NO_PARTITION;
        return NULL;
    }
    /* Made in the background, as CreateTopics makes topics (slices, directory syncs through
     * io_uring): a Produce is answered LEADER_NOT_AVAILABLE meanwhile, Kafka's answer for a
     * topic it is auto-creating, and the client retries. */
    const char *why = NULL;
    if (ks->view) {
        /* In a cluster the controller places it; until this broker has its copy, the same answer. */
        if (!cluster_view_topic(ks->view, name.p, name.len)) {
            char n[CLUSTER_TOPIC_NAME_MAX];
            snprintf(n, sizeof(n), "%.*s", (int)name.len, name.p);
            *err = ks->view->ops.create(ks->view->ops.arg, n, (int32_t)ks->cfg->num_partitions,
                                        (int32_t)ks->cfg->default_replication_factor, NULL, NULL, 0,
                                        kafka_autocreate_done, NULL, &why);
            if (*err == SL_TOPIC_EXISTS) *err = SL_OK;
        }
    } else {
        *err = topics_create_start(ks->topics, name.p, name.len, (int32_t)ks->cfg->num_partitions, NULL, NULL, 0,
                                   kafka_autocreate_done, NULL, &why);
    }
    if (*err == SL_OK) *err = SL_LEADER_NOT_AVAILABLE;
    return NULL;
}

static void kafka_metadata_fill_topic(struct kafka_server *ks, struct karena *a, struct topic *tp,
                                      struct kafka_metadata_topic_resp *out) {
    out->name = kafka_kstr(tp->name);
    memcpy(out->topic_id, tp->id, 16);
    out->partition_count = tp->partition_count;
    out->partitions = kafka_alloc_array(a, tp->partition_count, sizeof(*out->partitions));
    int32_t *node = karena_alloc(a, sizeof(int32_t));
    *node = ks->node_id;
    const struct cluster_topic *placed = kafka_placement(ks, tp);
    /* A cluster broker whose table is not current (a start past META_VIEW_WAIT_MS, a stop)
     * does not know who leads: it says no one does, as Kafka says of a partition without a
     * leader, rather than name one from a table that may be stale. */
    bool pending = kafka_view_pending(ks, tp);
    for (int32_t p = 0; p < tp->partition_count; p++) {
        struct kafka_metadata_part *mp = &out->partitions[p];
        mp->partition_index = p;
        mp->leader_id = ks->node_id;
        mp->leader_epoch = 0;
        mp->replica_count = mp->isr_count = 1;
        mp->replica_nodes = mp->isr_nodes = node;
        if (pending) {
            mp->error_code = (int16_t)sl_err_kafka(SL_LEADER_NOT_AVAILABLE);
            mp->leader_id = -1;
            mp->leader_epoch = -1;
            mp->isr_count = 0;
            continue;
        }
        if (placed && (uint32_t)p < placed->partition_count) {
            const struct cluster_part *cp = &placed->parts[p];
            int32_t *nodes = karena_alloc(a, sizeof(int32_t) * cp->replica_count);
            for (uint32_t r = 0; r < cp->replica_count; r++) nodes[r] = (int32_t)cp->replicas[r];
            mp->leader_id = nodes[0];
            mp->leader_epoch = (int32_t)cp->leader_epoch;
            mp->replica_count = cp->replica_count;
            mp->replica_nodes = nodes;
            /* The ISR the controller committed, as Kafka's Metadata reports it. */
            int32_t *in = karena_alloc(a, sizeof(int32_t) * SL_MAX(cp->isr_count, 1));
            for (uint32_t r = 0; r < cp->isr_count; r++) in[r] = (int32_t)cp->isr[r];
            mp->isr_count = cp->isr_count;
            mp->isr_nodes = in;
        }
    }
}

/* Decodes a Metadata request and folds its names as Kafka reads them, into a set: a name given
 * twice is answered once, in the order of its first mention (req->topics is compacted to the
 * distinct names). Pure: it may run on a worker thread, with an arena of its own. */
static sl_err kafka_metadata_decode(struct kr *r, int16_t version, struct karena *a, struct kafka_metadata_req *req) {
    sl_err e = kafka_decode_metadata(r, version, a, req);
    if (e || req->all_topics || req->topic_count <= 1) return e;
    struct kname_set seen;
    kname_set_init(&seen, (uint32_t)req->topic_count);
    for (int32_t i = 0; i < req->topic_count; i++) kname_set_add(&seen, req->topics[i].name);
    int32_t n = 0;
    for (int32_t i = 0; i < req->topic_count && n < (int32_t)seen.count; i++) {
        if (!kname_set_count(&seen, req->topics[i].name)) continue;
        kname_set_forget(&seen, req->topics[i].name);
        req->topics[n++] = req->topics[i];
    }
    req->topic_count = n;
    kname_set_free(&seen);
    return SL_OK;
}

/* Encodes the answer into a (the connection's arena, or a parked request's own); made[i], if
 * given, is the outcome of the auto-creation of req->topics[i] (SL_OK: made or not tried). */
static void kafka_metadata_encode(struct kconn *kc, struct kreq *q, const struct kafka_metadata_req *req,
                                  const sl_err *made, struct karena *a) {
    struct kafka_server *ks = kc->ks;
    struct kafka_metadata_resp resp;
    memset(&resp, 0, sizeof(resp));
    struct kafka_metadata_broker broker = {ks->node_id, kafka_kstr(ks->advertised_host), ks->advertised_port,
                                           {NULL, -1}};
    resp.broker_count = 1;
    resp.brokers = &broker;
    resp.cluster_id = kafka_kstr(ks->cluster.cluster_id);
    resp.controller_id = ks->node_id;
    if (ks->view && ks->view->broker_count > 0) {
        /* Every registered broker, and this one even before its own registration is in: it
         * names itself as the controller, and a client waits for a controller the list lacks. */
        bool self_listed = cluster_view_broker(ks->view, (uint32_t)ks->node_id) != NULL;
        resp.broker_count = (int32_t)ks->view->broker_count + (self_listed ? 0 : 1);
        resp.brokers = kafka_alloc_array(a, resp.broker_count, sizeof(*resp.brokers));
        for (uint32_t i = 0; i < ks->view->broker_count; i++) {
            const struct cluster_view_broker *vb = &ks->view->brokers[i];
            resp.brokers[i] = (struct kafka_metadata_broker){(int32_t)vb->id, kafka_kstr(vb->host), vb->port,
                                                             {NULL, -1}};
        }
        if (!self_listed) resp.brokers[resp.broker_count - 1] = broker;
        /* The controller named is this broker, as a KRaft broker names a live broker rather than
         * the quorum's leader: every broker takes admin requests and sends them on to the Raft
         * leader (cluster_topics.h), so a client never waits on a controller that just died. */
        resp.controller_id = ks->node_id;
    }
    resp.cluster_authorized_operations =
        req->include_cluster_authorized_operations
            ? kafka_authorized_ops(kc, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE), KAFKA_OPS_CLUSTER)
            : INT32_MIN;
    if (req->all_topics) {
        /* ACLs: listing every topic shows only those the principal may DESCRIBE, as Kafka. */
        int32_t n = (int32_t)topics_count(ks->topics);
        resp.topics = kafka_alloc_array(a, n, sizeof(*resp.topics));
        for (int32_t i = 0; i < n; i++) {
            struct topic *tp = topics_at(ks->topics, (uint32_t)i);
            if (kafka_topic_hidden(tp->name, (int32_t)strlen(tp->name))) continue;
            if (kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, kafka_kstr(tp->name)))
                kafka_metadata_fill_topic(ks, a, tp, &resp.topics[resp.topic_count++]);
        }
    } else {
        resp.topics = kafka_alloc_array(a, req->topic_count, sizeof(*resp.topics));
        for (int32_t i = 0; i < req->topic_count; i++) {
            struct kafka_metadata_topic_resp *t = &resp.topics[resp.topic_count++];
            sl_err te;
            struct topic *tp = NULL;
            struct kstr name = req->topics[i].name;
            if (!kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, name)) {
                te = SL_TOPIC_AUTHORIZATION;
            } else if (made && made[i]) {
                te = made[i];
            } else {
                /* Auto-creation needs CREATE on the cluster or the topic; Kafka answers a
                 * missing topic the principal may not create with TOPIC_AUTHORIZATION_FAILED. */
                bool create = req->allow_auto_topic_creation && ks->cfg->auto_create_topics;
                if (create && !topics_get(ks->topics, name.p, name.len) &&
                    !kafka_authorized_cluster_or_topic(kc, KAFKA_OP_CREATE, name))
                    te = SL_TOPIC_AUTHORIZATION;
                else
                    tp = kafka_topic_get(ks, name, false, &te); /* kafka_metadata_autocreate made it */
            }
            if (tp) {
                kafka_metadata_fill_topic(ks, a, tp, t);
                continue;
            }
            t->name = req->topics[i].name;
            t->error_code = (int16_t)sl_err_kafka(te);
        }
    }
    for (int32_t i = 0; i < resp.topic_count; i++)
        resp.topics[i].topic_authorized_operations =
            req->include_topic_authorized_operations
                ? kafka_authorized_ops(kc, KAFKA_RES_TOPIC, resp.topics[i].name, KAFKA_OPS_TOPIC)
                : INT32_MIN;
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_metadata_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
}

/* ---- auto-creation ------------------------------------------------------------------------------
 * A Metadata request that names topics to auto-create starts their making as CreateTopics does
 * (topics_create_start: slices, directory fsyncs through io_uring; a synchronous creation's
 * directory syncs held the loop 40-300 ms, up to a second, under a produce load) and parks
 * until each has its outcome and the metadata log has the records durably; then it is
 * answered with the topics, so the client needs no retry. */

struct meta_park {
    struct log_waiter w; /* first: the metadata log's durability */
    struct kconn *kc;
    struct kreq *q;
    struct kafka_metadata_req req; /* a copy: the request's bytes belong to the next one */
    sl_err *made;                  /* per topic of req: its creation's outcome */
    struct meta_made {
        struct meta_park *mp;
        int32_t i;
    } *slots;
    int32_t pending;
    bool started;
    struct karena arena;
};

static void meta_park_durable(struct log_waiter *lw, sl_err err) {
    struct meta_park *mp = (struct meta_park *)lw;
    struct kreq *q = mp->q;
    struct kconn *kc = mp->kc;
    if (err) SL_ERROR("metadata log: an auto-created topic did not become durable: %s", sl_err_str(err));
    q->park = NULL;
    if (kc->dead || !kc->c) kresp_silent(q);
    else kafka_metadata_encode(kc, q, &mp->req, mp->made, &mp->arena);
    karena_free(&mp->arena);
    free(mp->made);
    free(mp->slots);
    free(mp);
}

static void meta_park_maybe_answer(struct meta_park *mp) {
    if (!mp->started || mp->pending) return;
    mp->w.done = meta_park_durable;
    topics_wait_durable(mp->kc->ks->topics, &mp->w);
}

static void meta_park_made(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct meta_made *m = arg;
    struct meta_park *mp = m->mp;
    (void)tp;
    if (err == SL_TOPIC_EXISTS) {
        /* In a cluster, another broker's request placed it first: not ready here yet. */
        mp->made[m->i] = SL_LEADER_NOT_AVAILABLE;
    } else if (err) {
        SL_WARN("kafka: auto-creating topic %.*s failed: %s", mp->req.topics[m->i].name.len,
                mp->req.topics[m->i].name.p, why ? why : sl_err_str(err));
        mp->made[m->i] = err;
    }
    mp->pending--;
    meta_park_maybe_answer(mp);
}

/* Would the answer auto-create this topic? (the checks kafka_metadata_encode makes) */
static bool meta_wants_topic(struct kconn *kc, const struct kafka_metadata_req *req, struct kstr name) {
    struct kafka_server *ks = kc->ks;
    return req->allow_auto_topic_creation && ks->cfg->auto_create_topics && topics_name_valid(name.p, name.len) &&
           !kafka_topic_hidden(name.p, name.len) &&
           !topics_get(ks->topics, name.p, name.len) && !topics_creating(ks->topics, name.p, name.len) &&
           !(ks->view && cluster_view_topic(ks->view, name.p, name.len)) &&
           kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, name) &&
           kafka_authorized_cluster_or_topic(kc, KAFKA_OP_CREATE, name);
}

/* *dst = src with its topic names copied into a: a parked request outlives its bytes. */
static void meta_req_copy(struct karena *a, struct kafka_metadata_req *dst, const struct kafka_metadata_req *src) {
    *dst = *src;
    dst->topics = kafka_alloc_array(a, src->topic_count, sizeof(*src->topics));
    for (int32_t i = 0; i < src->topic_count; i++) {
        dst->topics[i] = src->topics[i];
        struct kstr n = src->topics[i].name;
        if (n.len > 0) {
            char *copy = karena_alloc(a, (size_t)n.len);
            memcpy(copy, n.p, (size_t)n.len);
            dst->topics[i].name.p = copy;
        }
    }
}

/* The park of q, with a copy of req: the answer is encoded once the topics exist. */
static struct meta_park *meta_park_new(struct kconn *kc, struct kreq *q, const struct kafka_metadata_req *req) {
    struct meta_park *mp = sl_xcalloc(1, sizeof(*mp));
    mp->kc = kc;
    mp->q = q;
    karena_init(&mp->arena, 16384);
    meta_req_copy(&mp->arena, &mp->req, req);
    mp->made = sl_xcalloc((size_t)req->topic_count, sizeof(*mp->made));
    mp->slots = sl_xcalloc((size_t)req->topic_count, sizeof(*mp->slots));
    q->park = mp;
    return mp;
}

/* True if q parked: topics to auto-create were started. req's names are distinct (folded by
 * kafka_metadata_decode), so one pass decides and starts each. */
static bool kafka_metadata_autocreate(struct kconn *kc, struct kreq *q, const struct kafka_metadata_req *req) {
    struct kafka_server *ks = kc->ks;
    if (req->all_topics || !req->allow_auto_topic_creation || !ks->cfg->auto_create_topics) return false;
    struct meta_park *mp = NULL;
    for (int32_t i = 0; i < req->topic_count; i++) {
        if (!meta_wants_topic(kc, req, req->topics[i].name)) continue;
        if (!mp) mp = meta_park_new(kc, q, req);
        struct kstr n = mp->req.topics[i].name;
        mp->slots[i] = (struct meta_made){mp, i};
        const char *why = NULL;
        sl_err e;
        if (ks->view) { /* the controller places it (cluster_view.h) */
            char name[CLUSTER_TOPIC_NAME_MAX];
            snprintf(name, sizeof(name), "%.*s", (int)n.len, n.p);
            e = ks->view->ops.create(ks->view->ops.arg, name, (int32_t)ks->cfg->num_partitions,
                                     (int32_t)ks->cfg->default_replication_factor, NULL, NULL, 0,
                                     meta_park_made, &mp->slots[i], &why);
            if (e == SL_TOPIC_EXISTS) e = SL_LEADER_NOT_AVAILABLE;
        } else {
            e = topics_create_start(ks->topics, n.p, n.len, (int32_t)ks->cfg->num_partitions, NULL, NULL, 0,
                                    meta_park_made, &mp->slots[i], &why);
        }
        if (e) mp->made[i] = e;
        else mp->pending++;
    }
    if (!mp) return false;
    mp->started = true;
    meta_park_maybe_answer(mp);
    return true;
}

/* ---- a start's Metadata waits for a current table --------------------------------------------
 * KRaft's brokers serve no client before they have caught up with the metadata log. A broker
 * of a Sluice cluster that has just started answers Metadata once its copy of the table is
 * current (cluster_view.ready), or after META_VIEW_WAIT_MS (its partitions then say
 * LEADER_NOT_AVAILABLE, as they do at once while it stops). Both answers given at once went
 * wrong with librdkafka, whose watermark queries do not refresh metadata: the table the
 * broker stopped with named it the leader, and the queries went on getting NOT_LEADER for
 * 20 s; LEADER_NOT_AVAILABLE made them fail as an unknown partition until the next periodic
 * refresh. */
#define META_VIEW_WAIT_MS 5000
#define META_VIEW_POLL_MS 20

struct meta_wait {
    struct loop_timer timer;
    struct kconn *kc;
    struct kreq *q;
    struct kafka_metadata_req req; /* a copy: the request's bytes belong to the next one */
    struct karena arena;
    uint64_t deadline_ms;
};

static void meta_wait_free(struct meta_wait *w) {
    karena_free(&w->arena);
    free(w);
}

static void meta_wait_cancel(struct kreq *q) {
    struct meta_wait *w = q->park;
    q->park = NULL;
    q->park_cancel = NULL;
    loop_timer_del(w->kc->ks->loop, &w->timer);
    meta_wait_free(w);
    q->ready = true; /* nothing to send: the connection is gone */
}

static void meta_wait_fire(struct loop_timer *t, uint64_t now_ms) {
    struct meta_wait *w = sl_container_of(t, struct meta_wait, timer);
    struct kconn *kc = w->kc;
    if (cluster_view_settling(kc->ks->view) && now_ms < w->deadline_ms) {
        loop_timer_add(kc->ks->loop, &w->timer, now_ms + META_VIEW_POLL_MS);
        return;
    }
    struct kreq *q = w->q;
    q->park = NULL;
    q->park_cancel = NULL;
    if (!kafka_metadata_autocreate(kc, q, &w->req)) kafka_metadata_encode(kc, q, &w->req, NULL, &w->arena);
    meta_wait_free(w);
}

static void meta_wait_start(struct kconn *kc, struct kreq *q, const struct kafka_metadata_req *req) {
    struct meta_wait *w = sl_xcalloc(1, sizeof(*w));
    w->kc = kc;
    w->q = q;
    karena_init(&w->arena, 4096);
    meta_req_copy(&w->arena, &w->req, req);
    uint64_t now_ms = loop_mono_ms(kc->ks->loop);
    w->deadline_ms = now_ms + META_VIEW_WAIT_MS;
    w->timer.fire = meta_wait_fire;
    q->park = w;
    q->park_cancel = meta_wait_cancel;
    loop_timer_add(kc->ks->loop, &w->timer, now_ms + META_VIEW_POLL_MS);
}

static void kafka_metadata_answer(struct kconn *kc, struct kreq *q, const struct kafka_metadata_req *req) {
    if (cluster_view_settling(kc->ks->view)) {
        meta_wait_start(kc, q, req);
        return;
    }
    if (kafka_metadata_autocreate(kc, q, req)) return;
    kafka_metadata_encode(kc, q, req, NULL, &kc->arena);
}

/* ---- a huge request decoded off the loop -------------------------------------------------------
 * Walking one huge request holds the loop: 18 MB of Metadata names (a million mentions of one
 * topic, folded) take 45-100 ms; a 100 MiB Produce's CRC32Cs, record walks and the copy into
 * the log's write buffers took 150 ms to over a second. A Metadata or Produce request past
 * KAFKA_OFFLOAD_MIN_BYTES is decoded (and a Produce's batches checked) on a worker thread
 * instead. The worker gets the connection's input buffer itself (conn_input_take: copying
 * 18 MB into fresh pages would cost the loop ~40 ms on this VM); a Produce's batches are then
 * appended on the loop with the worker's verdicts and written straight from that buffer. The
 * connection reads nothing more until the request is handled back on the loop, so its
 * requests still act in order while other clients go on. */

#define KAFKA_OFFLOAD_MIN_BYTES (1u << 20)

struct kafka_offload {
    struct work w;
    struct kreq *q;
    atomic_bool gone; /* the connection died: skip the decode */
    uint8_t *buf;     /* the connection's input buffer, taken (ours to free) */
    size_t body_off;  /* where the request's body starts in it, and its length */
    size_t len;
    struct karena arena;
    int16_t key, version;
    struct kafka_metadata_req req;       /* Metadata */
    struct kafka_produce_req preq;       /* Produce, and its batches' verdicts */
    struct partition_batch_check *checks;
    sl_err err;
};

static void kafka_offload_run(struct work *w) {
    struct kafka_offload *o = (struct kafka_offload *)w;
    if (atomic_load(&o->gone)) return;
    struct kr r = kr_make(o->buf + o->body_off, o->len);
    if (o->key == KAFKA_METADATA) {
        o->err = kafka_metadata_decode(&r, o->version, &o->arena, &o->req);
        return;
    }
    o->err = kafka_decode_produce(&r, o->version, &o->arena, &o->preq);
    if (!o->err) kafka_produce_precheck(&o->preq, &o->checks);
}

static void kafka_offload_cancel(struct kreq *q) {
    struct kafka_offload *o = q->park;
    atomic_store(&o->gone, true);
}

static void kafka_offload_done(struct work *w) {
    struct kafka_offload *o = (struct kafka_offload *)w;
    struct kreq *q = o->q;
    struct kconn *kc = q->kc;
    kc->offloaded = NULL;
    q->park = NULL;
    q->park_cancel = NULL;
    bool alive = !kc->dead && kc->c && !kc->c->closing;
    if (alive && o->err) {
        SL_DEBUG("kafka %s: malformed %s v%d request: %s", kc->c->peer, kafka_api_info(o->key)->name, q->version,
                 sl_err_str(o->err));
        conn_close(kc->c, "malformed request");
        alive = false;
    }
    if (alive) {
        karena_reset(&kc->arena);
        if (o->key == KAFKA_METADATA) {
            kafka_metadata_answer(kc, q, &o->req);
        } else {
            kafka_produce_offloaded(kc, q, &o->preq, o->len, o->checks, o->buf);
            o->buf = NULL; /* the produce's now: freed once its writes are done */
        }
    } else {
        kresp_silent(q);
    }
    karena_free(&o->arena);
    free(o->checks);
    workers_free_off_loop(o->buf, o->len);
    free(o);
    /* What the client sent after it waited in the buffer (unless the queue pause holds it). */
    if (alive && kc->c) {
        if (kc->paused_for_queue) kafka_on_drain(kc->c);
        else if (!kafka_quota_muted(&kc->quota)) conn_resume_recv(kc->c); /* else the unmute timer does */
    }
}

/* From kafka_on_data once the handler parked q for a worker: the input buffer goes with the
 * request (the bytes after its frame, from `end`, stay with the connection). */
static void kafka_offload_submit(struct kconn *kc, size_t end) {
    struct kafka_offload *o = kc->offloaded->park;
    o->buf = conn_input_take(kc->c, end);
    workers_submit(kc->ks->workers, &o->w);
}

bool kafka_offload(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_server *ks = kc->ks;
    size_t len = kr_left(r);
    if (len < KAFKA_OFFLOAD_MIN_BYTES) return false;
    if (!ks->workers) ks->workers = workers_new(ks->loop, 1, "kafka decode");
    if (!ks->workers) return false;
    struct kafka_offload *o = sl_xcalloc(1, sizeof(*o));
    o->w.run = kafka_offload_run;
    o->w.done = kafka_offload_done;
    o->q = q;
    o->key = q->key;
    o->version = q->version;
    o->body_off = (size_t)(r->p - conn_input(kc->c));
    o->len = len;
    karena_init(&o->arena, 65536);
    q->park = o;
    q->park_cancel = kafka_offload_cancel;
    kc->offloaded = q; /* kafka_on_data hands it the buffer and submits it */
    ks->requests_offloaded++;
    return true;
}

static sl_err kafka_handle_metadata(struct kconn *kc, struct kreq *q, struct kr *r) {
    if (kafka_offload(kc, q, r)) return SL_OK;
    struct kafka_metadata_req req;
    sl_err e = kafka_metadata_decode(r, q->version, &kc->arena, &req);
    if (e) return e;
    kafka_metadata_answer(kc, q, &req);
    return SL_OK;
}

/* ---- DescribeCluster ------------------------------------------------------------------------------ */

#define ENDPOINT_TYPE_BROKER 1

static sl_err kafka_handle_describe_cluster(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_server *ks = kc->ks;
    struct kafka_describe_cluster_req req;
    sl_err e = kafka_decode_describe_cluster(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_describe_cluster_broker broker = {(int32_t)ks->node_id, kafka_kstr(ks->advertised_host),
                                                   ks->advertised_port, {NULL, -1}};
    struct kafka_describe_cluster_resp resp = {
        .error_message = {NULL, -1},
        .endpoint_type = req.endpoint_type,
        .cluster_id = kafka_kstr(ks->cluster.cluster_id),
        .controller_id = (int32_t)ks->node_id,
        .brokers = &broker,
        .broker_count = 1,
        .cluster_authorized_operations =
            req.include_cluster_authorized_operations
                ? kafka_authorized_ops(kc, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE), KAFKA_OPS_CLUSTER)
                : INT32_MIN,
    };
    if (ks->view && ks->view->broker_count > 0) { /* every registered broker and this one, as Metadata */
        bool self_listed = cluster_view_broker(ks->view, (uint32_t)ks->node_id) != NULL;
        int32_t n = (int32_t)ks->view->broker_count + (self_listed ? 0 : 1);
        struct kafka_describe_cluster_broker *all = kafka_alloc_array(&kc->arena, n, sizeof(*all));
        for (uint32_t i = 0; i < ks->view->broker_count; i++) {
            const struct cluster_view_broker *vb = &ks->view->brokers[i];
            all[i] = (struct kafka_describe_cluster_broker){(int32_t)vb->id, kafka_kstr(vb->host), vb->port, {NULL, -1}};
        }
        if (!self_listed) all[n - 1] = broker;
        resp.brokers = all;
        resp.broker_count = n;
    }
    if (req.endpoint_type != ENDPOINT_TYPE_BROKER) {
        /* Kafka answers UNSUPPORTED_ENDPOINT_TYPE; the controller endpoint does not exist here. */
        resp.error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        resp.error_message = kafka_kstr("only the broker endpoint type (1) is served");
        resp.broker_count = 0;
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_describe_cluster_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- InitProducerId ------------------------------------------------------------------------------ */

static sl_err kafka_handle_init_producer_id(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_init_producer_id_req req;
    sl_err e = kafka_decode_init_producer_id(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_init_producer_id_resp resp = {0, 0, -1, -1};
    /* ACLs as Kafka 3.x: WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the
     * cluster or WRITE on some topic. */
    if (req.transactional_id.len >= 0 &&
        !kafka_authorized(kc, KAFKA_OP_WRITE, KAFKA_RES_TRANSACTIONAL_ID, req.transactional_id))
        resp.error_code = (int16_t)sl_err_kafka(SL_TRANSACTIONAL_ID_AUTHORIZATION);
    else if (req.transactional_id.len < 0 &&
             !kafka_authorized(kc, KAFKA_OP_IDEMPOTENT_WRITE, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE)) &&
             !kafka_authorized_any(kc, KAFKA_OP_WRITE, KAFKA_RES_TOPIC))
        resp.error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
    else if (req.transactional_id.len >= 0)
        return kafka_txn_init_producer_id(kc, q, &req);
    else if (req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_id < kc->ks->cluster.next_producer_id) {
        /* KIP-360: an existing producer bumps its epoch. */
        resp.producer_id = req.producer_id;
        resp.producer_epoch = (int16_t)(req.producer_epoch + 1);
    } else if (cluster_meta_next_producer_id(&kc->ks->cluster, loop_now_ms(kc->ks->loop), &resp.producer_id) == SL_OK) {
        resp.producer_epoch = 0;
    } else {
        resp.error_code = (int16_t)sl_err_kafka(SL_IO);
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_init_producer_id_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- start/stop ---------------------------------------------------------------------------------- */

int kafka_server_start(struct kafka_server *ks, const struct sl_config *cfg, struct loop *l,
                       struct store *st, struct topics *topics) {
    memset(ks, 0, sizeof(*ks));
    ks->cfg = cfg;
    ks->loop = l;
    ks->store = st;
    ks->topics = topics;
    ks->node_id = (int32_t)cfg->node_id;
    if (cluster_meta_open(&ks->cluster, topics_metadata(topics), cfg->data_dir, loop_now_ms(l)) != SL_OK) {
        SL_ERROR("kafka: cannot load the cluster record from the metadata log");
        return -1;
    }
    if (kafka_groups_start(ks) != SL_OK) {
        SL_ERROR("kafka: cannot open the committed offsets");
        return -1;
    }
    if (kafka_txn_start(ks) != SL_OK) {
        SL_ERROR("kafka: cannot open %s", TXN_STATE_TOPIC);
        return -1;
    }
    if (kafka_sasl_start(ks) != SL_OK) {
        SL_ERROR("kafka: cannot set up SASL (kafka_sasl_* settings)");
        return -1;
    }
    if (kafka_acl_start(ks) != SL_OK) {
        SL_ERROR("kafka: cannot load the ACLs from the data directory");
        return -1;
    }
    if (kafka_quotas_start(ks) != SL_OK) return -1;
    int rc = listener_start(&ks->ls, l, "kafka", cfg->host, cfg->kafka_port, &kafka_conn_ops, kafka_on_open, ks,
                            cfg->max_connections, (size_t)cfg->max_request_bytes + 4);
    if (rc < 0) {
        SL_ERROR("kafka: cannot listen on %s:%u: %s", cfg->host, cfg->kafka_port, strerror(-rc));
        return -1;
    }
    listener_set_idle(&ks->ls, cfg->connections_max_idle_ms);
    const char *host = cfg->advertised_host[0] ? cfg->advertised_host : cfg->host;
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) host = "127.0.0.1";
    if (!cfg->advertised_host[0] && (!strcmp(cfg->host, "0.0.0.0") || !strcmp(cfg->host, "::"))) {
        char name[256];
        if (gethostname(name, sizeof(name)) == 0 && name[0]) host = name;
        snprintf(ks->advertised_host, sizeof(ks->advertised_host), "%s", host);
    } else {
        snprintf(ks->advertised_host, sizeof(ks->advertised_host), "%s", host);
    }
    ks->advertised_port = cfg->advertised_port ? cfg->advertised_port : ks->ls.port;
    SL_INFO("kafka listening on %s:%u (advertised %s:%d, cluster %s, node %d)", cfg->host, ks->ls.port,
            ks->advertised_host, ks->advertised_port, ks->cluster.cluster_id, ks->node_id);
    return 0;
}

static bool kafka_drained(void *arg) {
    struct kafka_server *ks = arg;
    for (struct conn *c = ks->ls.conns; c; c = c->list_next) {
        struct kconn *kc = c->proto;
        if (kc->q_head || c->out_head) return false;
    }
    return true;
}

/* Graceful stop: no new connections or requests; parked fetches answer with what they have,
 * produce acks complete as their writes do, responses drain (bounded), then everything closes. */
void kafka_server_stop(struct kafka_server *ks) {
    listener_stop_accepting(&ks->ls);
    for (struct conn *c = ks->ls.conns; c; c = c->list_next) {
        struct kconn *kc = c->proto;
        conn_pause_recv(c);
        /* Collected first: answering one flushes the queue, which frees the ready slots. */
        struct kreq *parked[KAFKA_INFLIGHT_MAX];
        uint32_t n = 0;
        for (struct kreq *q = kc->q_head; q && n < KAFKA_INFLIGHT_MAX; q = q->next)
            if (!q->ready && q->key == KAFKA_FETCH && q->park) parked[n++] = q;
        for (uint32_t i = 0; i < n; i++) kafka_fetch_force(parked[i]);
    }
    if (!loop_run_until(ks->loop, kafka_drained, ks, 5000))
        SL_WARN("kafka: some responses were not delivered within 5 s of shutdown");
    listener_stop(&ks->ls);
    workers_free(ks->workers); /* after the drain: nothing is out with it */
    ks->workers = NULL;
    kafka_txn_stop(ks);
    kafka_groups_stop(ks);
    kafka_sasl_stop(ks);
    kafka_acl_stop(ks);
    kafka_quotas_stop(ks);
    cluster_meta_close(&ks->cluster);
}
