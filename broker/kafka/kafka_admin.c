/* kafka_admin.c: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, DeleteRecords. A single broker: replication factor 1 (or -1 for the
 * default) is the only one accepted; manual assignments may only name this broker. Requests
 * that change topics answer once the metadata log has made the change durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/config.h"
#include "broker/core/partition.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_names.h"
#include "broker/kafka/kafka_resp.h"
#include "protocol/kafka_msgs_admin.h"
#include "storage/log.h"

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4
#define RESOURCE_GROUP 32
#define CONFIG_SOURCE_DYNAMIC_TOPIC 1
#define CONFIG_SOURCE_STATIC_BROKER 4
#define CONFIG_SOURCE_DEFAULT 5

/* Copied: a message may live in a buffer the next check of the same request overwrites
 * (topics_config_check). */
static struct kstr why_kstr(struct karena *a, const char *why) {
    return why ? kafka_arena_kstr(a, why) : (struct kstr){NULL, -1};
}

/* ---- answering once the metadata log is durable ------------------------------------------- */

struct admin_park {
    struct log_waiter w; /* first: the waiter is the park */
    struct kreq *q;
    struct kw out;       /* the response, encoded when the request was handled */
    struct kw failed;    /* the response if the change does not become durable (p NULL: none) */
};

static void admin_durable(struct log_waiter *lw, sl_err err) {
    struct admin_park *ap = (struct admin_park *)lw;
    struct kreq *q = ap->q;
    if (err) {
        /* The metadata log undid the change (and the registry follows it): answer with the
         * errors, or, with no such answer, not at all. */
        SL_ERROR("metadata log: a topic change did not become durable: %s", sl_err_str(err));
        kw_free(&ap->out);
        if (ap->failed.p) {
            /* Its results were counted as the success answer was encoded; the storage error
             * that replaces them is counted once per request. */
            q->kc->ks->api_errors[q->key][sl_err_kafka(SL_NO_SPACE) - KW_ERR_MIN]++;
            kresp_finish(q, &ap->failed);
            free(ap);
            return;
        }
        free(ap);
        if (q->kc->c) conn_close(q->kc->c, "metadata log failed");
        kresp_silent(q);
        return;
    }
    if (ap->failed.p) kw_free(&ap->failed);
    kresp_finish(q, &ap->out);
    free(ap);
}

/* Topic changes are answered once their metadata records are durable (an answer with nothing
 * changed waits only for earlier changes still in flight, usually not at all); failed (may be
 * NULL) is the answer if they fail. */
static void admin_finish(struct kconn *kc, struct kreq *q, struct kw *w, struct kw *failed) {
    struct admin_park *ap = sl_xcalloc(1, sizeof(*ap));
    ap->w.done = admin_durable;
    ap->q = q;
    ap->out = *w;
    w->p = NULL;
    if (failed) {
        ap->failed = *failed;
        failed->p = NULL;
    }
    q->park = ap;
    topics_wait_durable(kc->ks->topics, &ap->w);
}

/* The answer sent only if the metadata log fails: not counted as it is encoded (the answer
 * encoded first is; admin_durable counts the swap). */
static void admin_begin_failed(struct kreq *q, struct kw *failed) {
    kresp_begin(q, failed);
    failed->err_counts = NULL;
}

/* A result that reported a change reports KAFKA_STORAGE_ERROR instead, for the answer sent
 * if the change does not become durable. True if it did report one. */
static bool admin_result_failed(int16_t *error_code, struct kstr *error_message) {
    if (*error_code) return false;
    *error_code = (int16_t)sl_err_kafka(SL_NO_SPACE);
    *error_message = kafka_kstr("the metadata log could not store the change");
    return true;
}

/* ---- answering once every slice is done ------------------------------------------------------
 * CreateTopics and CreatePartitions make their partitions a slice per loop turn (topics.h,
 * topics_create_start): the request parks until every topic it names has its outcome, then its
 * answer is encoded and, like every topic change, sent once the metadata log is durable. What
 * the answer needs is copied out of the request first: the request's bytes and the
 * connection's arena belong to the next request by then.
 *
 * The request's timeout_ms bounds the wait, as Kafka's controller does: what is still being
 * made when it runs out is answered REQUEST_TIMED_OUT, and the making goes on (the topic
 * appears later, as on Kafka). A timeout of 0 or less, librdkafka's default, waits for the
 * outcome instead of answering "triggered" at once: a one-broker cluster knows it within
 * milliseconds, and an answer before the topic exists would send the client that produces
 * next into UNKNOWN_TOPIC_OR_PARTITION retries. */

struct admin_async;

struct admin_result {
    struct admin_async *aa;
    char *name;
    int32_t name_len;    /* -1: null */
    int16_t error_code;
    char *error_message; /* NULL: null */
    int32_t num_partitions;
    bool created;        /* a topic made or grown: what the failed answer reports as a storage error */
    bool waiting;        /* its making was started and has not finished */
    uint8_t id[16];
};

struct admin_async {
    struct kconn *kc;
    struct kreq *q;
    bool validate_only;
    struct admin_result *res;
    int32_t n, pending;
    bool started;
    bool answered;          /* at the timeout, before every result was in */
    struct loop_timer timer; /* timeout_ms (armed only while results are pending) */
    struct loop *loop;
    void (*answer)(struct admin_async *aa);
};

static struct admin_async *admin_async_new(struct kconn *kc, struct kreq *q, int32_t n, bool validate_only,
                                           void (*answer)(struct admin_async *aa)) {
    struct admin_async *aa = sl_xcalloc(1, sizeof(*aa));
    aa->kc = kc;
    aa->q = q;
    aa->validate_only = validate_only;
    aa->res = sl_xcalloc((size_t)SL_MAX(n, 1), sizeof(*aa->res));
    aa->answer = answer;
    q->park = aa;
    return aa;
}

static void admin_async_free(struct admin_async *aa) {
    for (int32_t i = 0; i < aa->n; i++) {
        free(aa->res[i].name);
        free(aa->res[i].error_message);
    }
    free(aa->res);
    free(aa);
}

static struct admin_result *admin_result_add(struct admin_async *aa, struct kstr name) {
    struct admin_result *r = &aa->res[aa->n++];
    r->aa = aa;
    r->name_len = name.len < 0 ? -1 : name.len;
    r->name = sl_xmalloc((size_t)SL_MAX(name.len, 0) + 1);
    if (name.len > 0) memcpy(r->name, name.p, (size_t)name.len);
    r->name[SL_MAX(name.len, 0)] = 0;
    r->num_partitions = -1;
    return r;
}

static void admin_result_error(struct admin_result *r, sl_err e, const char *why) {
    r->error_code = (int16_t)sl_err_kafka(e);
    free(r->error_message);
    r->error_message = why ? strdup(why) : NULL;
}

static struct kstr admin_result_name(const struct admin_result *r) {
    return r->name_len < 0 ? (struct kstr){NULL, -1} : (struct kstr){r->name, r->name_len};
}

static struct kstr admin_result_message(const struct admin_result *r) {
    return r->error_message ? kafka_kstr(r->error_message) : (struct kstr){NULL, -1};
}

/* Every result in: answer (unless the timeout did), then free. */
static void admin_async_maybe_answer(struct admin_async *aa) {
    if (!aa->started || aa->pending) return;
    if (loop_timer_armed(&aa->timer)) loop_timer_del(aa->loop, &aa->timer);
    if (!aa->answered) {
        aa->q->park = NULL;
        aa->answer(aa);
    }
    admin_async_free(aa);
}

/* timeout_ms ran out: those still being made answer REQUEST_TIMED_OUT now; aa lives on until
 * the last of them finishes (admin_async_done writes into its results). */
static void admin_async_timed_out(struct loop_timer *t, uint64_t now_ms) {
    (void)now_ms;
    struct admin_async *aa = (struct admin_async *)((char *)t - offsetof(struct admin_async, timer));
    SL_ASSERT(aa->started && aa->pending > 0 && !aa->answered);
    for (int32_t i = 0; i < aa->n; i++)
        if (aa->res[i].waiting)
            admin_result_error(&aa->res[i], SL_REQUEST_TIMED_OUT, "the operation timed out; it goes on in the background");
    aa->answered = true;
    aa->q->park = NULL;
    aa->answer(aa);
}

/* All started: answer what is done, or wait, at most timeout_ms if that is positive. */
static void admin_async_started(struct admin_async *aa, int32_t timeout_ms) {
    aa->started = true;
    if (aa->pending > 0 && timeout_ms > 0) {
        aa->loop = aa->kc->ks->loop;
        aa->timer.fire = admin_async_timed_out;
        loop_timer_add(aa->loop, &aa->timer, loop_mono_ms(aa->loop) + (uint64_t)timeout_ms);
    }
    admin_async_maybe_answer(aa);
}

static void admin_async_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct admin_result *r = arg;
    struct admin_async *aa = r->aa;
    r->waiting = false;
    if (aa->answered) { /* answered REQUEST_TIMED_OUT already; the outcome goes to the log */
        if (err) SL_WARN("topic %s: finished after its request timed out: %s", r->name, why ? why : sl_err_str(err));
        aa->pending--;
        admin_async_maybe_answer(aa);
        return;
    }
    if (err) {
        admin_result_error(r, err, why);
    } else if (tp) { /* made or grown; a removal has no topic left to report */
        r->created = true;
        r->num_partitions = tp->partition_count;
        memcpy(r->id, tp->id, 16);
    }
    aa->pending--;
    admin_async_maybe_answer(aa);
}

/* Names listed more than once, as Kafka's ControllerApis answers them: once each, with
 * INVALID_REQUEST "Duplicate topic name.", and none of their entries acted on. This counts
 * every name (n of them, stride bytes apart from names; NULL when n is 0) into set (caller
 * frees). */
static void admin_names_count(struct kname_set *set, const struct kstr *names, size_t stride, int32_t n) {
    kname_set_init(set, (uint32_t)SL_MAX(n, 0));
    for (int32_t i = 0; i < n; i++)
        kname_set_add(set, *(const struct kstr *)((const char *)names + stride * (size_t)i));
}

static void admin_duplicates_add(struct admin_async *aa, struct kname_set *set, struct kstr name) {
    if (kname_set_count(set, name) < 2) return;
    struct admin_result *r = admin_result_add(aa, name);
    admin_result_error(r, SL_INVALID_REQUEST, "Duplicate topic name.");
    kname_set_forget(set, name); /* answered once */
}

/* ACLs on a config resource (kafka_acl.c): op on the topic, the cluster (a broker) or the
 * group; the error Kafka answers for each, or SL_OK. */
static sl_err config_denied(struct kconn *kc, int8_t op, int8_t type, struct kstr name) {
    if (type == RESOURCE_TOPIC)
        return kafka_authorized(kc, op, KAFKA_RES_TOPIC, name) ? SL_OK : SL_TOPIC_AUTHORIZATION;
    if (type == RESOURCE_GROUP)
        return kafka_authorized(kc, op, KAFKA_RES_GROUP, name) ? SL_OK : SL_GROUP_AUTHORIZATION;
    return kafka_authorized(kc, op, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE)) ? SL_OK
                                                                                           : SL_CLUSTER_AUTHORIZATION;
}

/* ---- CreateTopics --------------------------------------------------------------------------- */

/* The checks of one topic before anything is made; SL_OK and the partition count, or an error
 * in r. */
static bool create_topic_check(struct kconn *kc, const struct kafka_create_topics_topic *t, struct admin_result *r,
                               int32_t *partitions_out, int32_t *rf_out) {
    int32_t partitions = t->num_partitions;
    if (t->assignment_count > 0 && kc->ks->view) {
        /* The controller places every partition (cluster_topics.h); it takes no hand placement. */
        admin_result_error(r, SL_INVALID_REPLICATION, "a cluster places partitions itself: give no assignments");
        return false;
    }
    if (t->assignment_count > 0) {
        partitions = t->assignment_count;
        for (int32_t i = 0; i < t->assignment_count; i++) {
            const struct kafka_create_topics_assignment *as = &t->assignments[i];
            if (as->broker_id_count != 1 || as->broker_ids[0] != kc->ks->node_id) {
                admin_result_error(r, SL_INVALID_REPLICATION, "assignments may only name this broker, once");
                return false;
            }
        }
    }
    if (partitions == -1) partitions = (int32_t)kc->ks->cfg->num_partitions;
    const struct cluster_view *v = kc->ks->view;
    int32_t rf = t->replication_factor == -1 ? (v ? (int32_t)kc->ks->cfg->default_replication_factor : 1)
                                             : t->replication_factor;
    if (t->assignment_count <= 0 && !v && rf != 1) {
        admin_result_error(r, SL_INVALID_REPLICATION, "a single broker serves replication factor 1 only");
        return false;
    }
    /* More than the registered brokers is the controller's to refuse: this broker's list of
     * them may be a moment behind its own. */
    if (v && (rf < 1 || rf > CLUSTER_REPLICAS_MAX)) {
        admin_result_error(r, SL_INVALID_REPLICATION,
                           rf < 1 ? "Replication factor must be larger than 0, or -1 to use the default."
                                  : "Replication factor is above 7, the most a partition may have.");
        return false;
    }
    *partitions_out = partitions;
    *rf_out = rf;
    return true;
}

static void create_topic_start(struct kconn *kc, const struct kafka_create_topics_topic *t, struct admin_async *aa) {
    struct karena *a = &kc->arena;
    struct admin_result *r = admin_result_add(aa, t->name);
    int32_t partitions, rf = 1;
    if (!kafka_authorized_cluster_or_topic(kc, KAFKA_OP_CREATE, t->name)) {
        admin_result_error(r, SL_TOPIC_AUTHORIZATION, NULL);
        return;
    }
    if (!create_topic_check(kc, t, r, &partitions, &rf)) return;
    int32_t n = SL_MAX(t->config_count, 0);
    const char **keys = karena_alloc(a, sizeof(char *) * (size_t)SL_MAX(n, 1));
    const char **values = karena_alloc(a, sizeof(char *) * (size_t)SL_MAX(n, 1));
    for (int32_t i = 0; i < n; i++) {
        keys[i] = kafka_arena_cstr(a, t->configs[i].name);
        values[i] = kafka_arena_cstr(a, t->configs[i].value);
    }
    const char *why = NULL;
    sl_err e;
    if (kafka_topic_hidden(t->name.p, t->name.len)) {
        e = SL_INVALID_TOPIC;
        why = "this topic name is internal";
    } else if (aa->validate_only) {
        e = topics_create(kc->ks->topics, t->name.p, t->name.len, partitions, keys, values, (uint32_t)n, true, NULL,
                          &why);
        if (!e) r->num_partitions = partitions;
    } else {
        const struct cluster_view *v = kc->ks->view;
        if (v) /* the controller places it; answered once this broker has its copy */
            e = v->ops.create(v->ops.arg, kafka_arena_cstr(a, t->name), partitions, rf, keys, values, (uint32_t)n,
                              admin_async_done, r, &why);
        else
            e = topics_create_start(kc->ks->topics, t->name.p, t->name.len, partitions, keys, values, (uint32_t)n,
                                    admin_async_done, r, &why);
        if (!e) {
            aa->pending++;
            r->waiting = true;
        }
    }
    if (e) admin_result_error(r, e, why);
}

static void create_topics_fill(struct kafka_server *ks, struct karena *a, const struct admin_result *r,
                               struct kafka_create_topics_result *res) {
    res->name = admin_result_name(r);
    res->error_code = r->error_code;
    res->error_message = admin_result_message(r);
    res->num_partitions = -1;
    res->replication_factor = -1;
    res->config_count = -1;
    if (r->error_code) return;
    res->num_partitions = r->num_partitions;
    res->replication_factor = 1;
    const struct cluster_topic *placed = ks->view ? cluster_view_topic(ks->view, r->name, r->name_len) : NULL;
    if (placed && placed->partition_count) res->replication_factor = placed->parts[0].replica_count;
    if (!r->created) return; /* validate_only */
    memcpy(res->topic_id, r->id, 16);
    struct topic *tp = topics_get(ks->topics, r->name, r->name_len);
    if (!tp || memcmp(tp->id, r->id, 16)) return; /* already deleted again */
    struct topic_config_view views[TOPIC_CONFIGS_MAX];
    uint32_t nv = topics_describe(ks->topics, tp, views, TOPIC_CONFIGS_MAX);
    res->configs = kafka_alloc_array(a, (int32_t)nv, sizeof(*res->configs));
    res->config_count = (int32_t)nv;
    for (uint32_t i = 0; i < nv; i++) {
        res->configs[i].name = kafka_kstr(views[i].key);
        res->configs[i].value = kafka_arena_kstr(a, views[i].value);
        res->configs[i].config_source = views[i].is_default ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_DYNAMIC_TOPIC;
    }
}

static void create_topics_answer(struct admin_async *aa) {
    struct kconn *kc = aa->kc;
    struct kreq *q = aa->q;
    struct karena a;
    karena_init(&a, 16384);
    struct kafka_create_topics_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.topic_count = aa->n;
    resp.topics = kafka_alloc_array(&a, aa->n, sizeof(*resp.topics));
    for (int32_t i = 0; i < aa->n; i++) create_topics_fill(kc->ks, &a, &aa->res[i], &resp.topics[i]);
    struct kw w, failed;
    kresp_begin(q, &w);
    kafka_encode_create_topics_resp(&w, q->version, &resp);
    for (int32_t i = 0; i < resp.topic_count; i++) {
        struct kafka_create_topics_result *res = &resp.topics[i];
        if (!aa->res[i].created || !admin_result_failed(&res->error_code, &res->error_message)) continue;
        memset(res->topic_id, 0, sizeof(res->topic_id));
        res->num_partitions = -1;
        res->replication_factor = -1;
        res->configs = NULL;
        res->config_count = -1;
    }
    admin_begin_failed(q, &failed);
    kafka_encode_create_topics_resp(&failed, q->version, &resp);
    admin_finish(kc, q, &w, &failed);
    karena_free(&a);
}

sl_err kafka_handle_create_topics(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_create_topics_req req;
    sl_err e = kafka_decode_create_topics(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kname_set names;
    admin_names_count(&names, req.topic_count > 0 ? &req.topics[0].name : NULL, sizeof(req.topics[0]),
                      req.topic_count);
    struct admin_async *aa = admin_async_new(kc, q, (int32_t)names.count, req.validate_only, create_topics_answer);
    for (int32_t i = 0; i < req.topic_count; i++)
        if (kname_set_count(&names, req.topics[i].name) == 1) create_topic_start(kc, &req.topics[i], aa);
    for (int32_t i = 0; i < req.topic_count; i++) admin_duplicates_add(aa, &names, req.topics[i].name);
    kname_set_free(&names);
    admin_async_started(aa, req.timeout_ms);
    return SL_OK;
}

/* ---- DeleteTopics --------------------------------------------------------------------------- */

static struct topic *topic_by_id(struct kafka_server *ks, const uint8_t id[16]) {
    for (uint32_t i = 0; i < topics_count(ks->topics); i++) {
        struct topic *tp = topics_at(ks->topics, i);
        if (kafka_topic_hidden(tp->name, (int32_t)strlen(tp->name))) continue;
        if (!memcmp(tp->id, id, 16)) return tp;
    }
    return NULL;
}

static int16_t delete_topic(struct kafka_server *ks, struct topic *tp) {
    return (int16_t)sl_err_kafka(topics_delete(ks->topics, tp));
}

/* In a cluster a placed topic is removed by the controller: the answer waits for the commit and
 * for this broker's copy to go (admin_async, as CreateTopics). */
static void delete_topics_answer(struct admin_async *aa) {
    struct kconn *kc = aa->kc;
    struct kreq *q = aa->q;
    struct karena a;
    karena_init(&a, 4096);
    struct kafka_delete_topics_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.response_count = aa->n;
    resp.responses = kafka_alloc_array(&a, aa->n, sizeof(*resp.responses));
    for (int32_t i = 0; i < aa->n; i++) {
        struct kafka_delete_topics_result *res = &resp.responses[i];
        res->name = admin_result_name(&aa->res[i]);
        res->error_code = aa->res[i].error_code;
        res->error_message = admin_result_message(&aa->res[i]);
        memcpy(res->topic_id, aa->res[i].id, 16);
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_delete_topics_resp(&w, q->version, &resp);
    admin_finish(kc, q, &w, NULL);
    karena_free(&a);
}

static sl_err delete_topics_cluster(struct kconn *kc, struct kreq *q, const struct kafka_delete_topics_req *req) {
    struct kafka_server *ks = kc->ks;
    bool v6 = q->version >= 6;
    int32_t n = v6 ? req->topic_count : req->topic_name_count;
    struct kname_set names;
    if (v6) admin_names_count(&names, n > 0 ? &req->topics[0].name : NULL, sizeof(req->topics[0]), n);
    else admin_names_count(&names, req->topic_names, sizeof(req->topic_names[0]), n);
    struct admin_async *aa = admin_async_new(kc, q, SL_MAX(n, 0), false, delete_topics_answer);
    static const uint8_t zero_id[16];
    for (int32_t i = 0; i < n; i++) {
        struct kstr name = v6 ? req->topics[i].name : req->topic_names[i];
        uint32_t seen = name.len >= 0 ? kname_set_count(&names, name) : 1;
        if (seen != 1) continue; /* duplicates: answered below */
        struct topic *tp = NULL;
        if (name.len >= 0) tp = kafka_topic_visible(ks, name.p, name.len);
        else if (v6 && memcmp(req->topics[i].topic_id, zero_id, 16)) tp = topic_by_id(ks, req->topics[i].topic_id);
        struct admin_result *r = admin_result_add(aa, tp && name.len < 0 ? kafka_kstr(tp->name) : name);
        if (!kafka_authorized(kc, KAFKA_OP_DELETE, KAFKA_RES_TOPIC, tp ? kafka_kstr(tp->name) : name)) {
            admin_result_error(r, SL_TOPIC_AUTHORIZATION, NULL);
            continue;
        }
        if (!tp) {
            admin_result_error(r, SL_NO_PARTITION, NULL);
            continue;
        }
        memcpy(r->id, tp->id, 16);
        const char *why = NULL;
        sl_err e;
        if (cluster_view_topic(ks->view, tp->name, (int32_t)strlen(tp->name))) {
            e = ks->view->ops.remove(ks->view->ops.arg, tp->name, admin_async_done, r, &why);
            if (!e) {
                aa->pending++;
                r->waiting = true;
                continue;
            }
        } else {
            e = topics_delete(ks->topics, tp); /* a topic only this broker has */
            if (e == SL_REASSIGNMENT_IN_PROGRESS)
                why = "partitions are being added to this topic: retry once that request has answered";
        }
        if (e) admin_result_error(r, e, why);
    }
    for (int32_t i = 0; i < n; i++)
        if (v6 || req->topic_names) admin_duplicates_add(aa, &names, v6 ? req->topics[i].name : req->topic_names[i]);
    kname_set_free(&names);
    admin_async_started(aa, req->timeout_ms);
    return SL_OK;
}

sl_err kafka_handle_delete_topics(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_delete_topics_req req;
    sl_err e = kafka_decode_delete_topics(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    if (ks->view) return delete_topics_cluster(kc, q, &req);
    struct kafka_delete_topics_resp resp;
    memset(&resp, 0, sizeof(resp));
    bool v6 = q->version >= 6;
    int32_t n = v6 ? req.topic_count : req.topic_name_count;
    struct kname_set names;
    if (v6) admin_names_count(&names, n > 0 ? &req.topics[0].name : NULL, sizeof(req.topics[0]), n);
    else admin_names_count(&names, req.topic_names, sizeof(req.topic_names[0]), n);
    resp.responses = kafka_alloc_array(&kc->arena, n, sizeof(*resp.responses));
    static const uint8_t zero_id[16];
    for (int32_t i = 0; i < n; i++) {
        struct kstr name = v6 ? req.topics[i].name : req.topic_names[i];
        uint32_t seen = name.len >= 0 ? kname_set_count(&names, name) : 1;
        if (seen == 0) continue; /* a duplicate already answered */
        if (seen >= 2) {
            /* Kafka: one answer per name listed more than once, and that name left alone. */
            struct kafka_delete_topics_result *res = &resp.responses[resp.response_count++];
            res->name = name;
            res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
            res->error_message = kafka_kstr("Duplicate topic name.");
            kname_set_forget(&names, name);
            continue;
        }
        struct kafka_delete_topics_result *res = &resp.responses[resp.response_count++];
        res->error_message = (struct kstr){NULL, -1};
        struct topic *tp = NULL;
        if (name.len >= 0) tp = kafka_topic_visible(ks, name.p, name.len);
        else if (v6 && memcmp(req.topics[i].topic_id, zero_id, 16)) tp = topic_by_id(ks, req.topics[i].topic_id);
        res->name = name;
        if (name.len >= 0 && !kafka_authorized(kc, KAFKA_OP_DELETE, KAFKA_RES_TOPIC, name)) {
            res->error_code = (int16_t)sl_err_kafka(SL_TOPIC_AUTHORIZATION);
            continue;
        }
        if (!tp) {
            res->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
            continue;
        }
        if (name.len < 0 && !kafka_authorized(kc, KAFKA_OP_DELETE, KAFKA_RES_TOPIC, kafka_kstr(tp->name))) {
            res->error_code = (int16_t)sl_err_kafka(SL_TOPIC_AUTHORIZATION);
            continue;
        }
        memcpy(res->topic_id, tp->id, 16);
        if (name.len < 0) res->name = kafka_arena_kstr(&kc->arena, tp->name);
        res->error_code = delete_topic(ks, tp);
        if (res->error_code == sl_err_kafka(SL_REASSIGNMENT_IN_PROGRESS))
            res->error_message =
                kafka_kstr("partitions are being added to this topic: retry once that request has answered");
    }
    kname_set_free(&names);
    struct kw w, failed;
    kresp_begin(q, &w);
    kafka_encode_delete_topics_resp(&w, q->version, &resp);
    for (int32_t i = 0; i < resp.response_count; i++)
        admin_result_failed(&resp.responses[i].error_code, &resp.responses[i].error_message);
    admin_begin_failed(q, &failed);
    kafka_encode_delete_topics_resp(&failed, q->version, &resp);
    admin_finish(kc, q, &w, &failed);
    return SL_OK;
}

/* ---- CreatePartitions ----------------------------------------------------------------------- */

static void create_partitions_answer(struct admin_async *aa) {
    struct kreq *q = aa->q;
    struct kafka_create_partitions_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.result_count = aa->n;
    resp.results = sl_xcalloc((size_t)SL_MAX(aa->n, 1), sizeof(*resp.results));
    for (int32_t i = 0; i < aa->n; i++) {
        resp.results[i].name = admin_result_name(&aa->res[i]);
        resp.results[i].error_code = aa->res[i].error_code;
        resp.results[i].error_message = admin_result_message(&aa->res[i]);
    }
    struct kw w, failed;
    kresp_begin(q, &w);
    kafka_encode_create_partitions_resp(&w, q->version, &resp);
    for (int32_t i = 0; i < resp.result_count; i++)
        if (aa->res[i].created) admin_result_failed(&resp.results[i].error_code, &resp.results[i].error_message);
    admin_begin_failed(q, &failed);
    kafka_encode_create_partitions_resp(&failed, q->version, &resp);
    free(resp.results);
    admin_finish(aa->kc, q, &w, &failed);
}

sl_err kafka_handle_create_partitions(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_create_partitions_req req;
    sl_err e = kafka_decode_create_partitions(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kname_set names;
    admin_names_count(&names, req.topic_count > 0 ? &req.topics[0].name : NULL, sizeof(req.topics[0]),
                      req.topic_count);
    struct admin_async *aa =
        admin_async_new(kc, q, (int32_t)names.count, req.validate_only, create_partitions_answer);
    for (int32_t i = 0; i < req.topic_count; i++) {
        const struct kafka_create_partitions_topic *t = &req.topics[i];
        if (kname_set_count(&names, t->name) != 1) continue;
        struct admin_result *res = admin_result_add(aa, t->name);
        if (!kafka_authorized(kc, KAFKA_OP_ALTER, KAFKA_RES_TOPIC, t->name)) {
            admin_result_error(res, SL_TOPIC_AUTHORIZATION, NULL);
            continue;
        }
        struct topic *tp = kafka_topic_visible(kc->ks, t->name.p, t->name.len);
        if (!tp) {
            admin_result_error(res, SL_NO_PARTITION, NULL);
            continue;
        }
        const char *why = NULL;
        const struct cluster_view *v = kc->ks->view;
        bool placed = v && cluster_view_topic(v, tp->name, (int32_t)strlen(tp->name));
        if (req.validate_only) e = topics_add_partitions(kc->ks->topics, tp, t->count, true, &why);
        else if (placed) e = v->ops.grow(v->ops.arg, tp->name, t->count, admin_async_done, res, &why);
        else e = topics_add_partitions_start(kc->ks->topics, tp, t->count, admin_async_done, res, &why);
        if (e) {
            admin_result_error(res, e, why);
        } else if (!req.validate_only) {
            aa->pending++;
            res->waiting = true;
        }
    }
    for (int32_t i = 0; i < req.topic_count; i++) admin_duplicates_add(aa, &names, req.topics[i].name);
    kname_set_free(&names);
    admin_async_started(aa, req.timeout_ms);
    return SL_OK;
}

/* ---- DescribeConfigs ------------------------------------------------------------------------ */

static bool describe_wanted(const struct kafka_describe_configs_resource *res, const char *key) {
    if (res->configuration_key_count < 0) return true;
    size_t n = strlen(key);
    for (int32_t i = 0; i < res->configuration_key_count; i++)
        if ((size_t)res->configuration_keys[i].len == n && !memcmp(res->configuration_keys[i].p, key, n)) return true;
    return false;
}

static void describe_topic(struct kconn *kc, int16_t version, const struct kafka_describe_configs_resource *rr,
                           struct kafka_describe_configs_result *res) {
    struct karena *a = &kc->arena;
    struct topic *tp = kafka_topic_visible(kc->ks, rr->resource_name.p, rr->resource_name.len);
    if (!tp) {
        res->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
        res->error_message = kafka_kstr("unknown topic");
        return;
    }
    struct topic_config_view views[TOPIC_CONFIGS_MAX];
    uint32_t nv = topics_describe(kc->ks->topics, tp, views, TOPIC_CONFIGS_MAX);
    res->configs = kafka_alloc_array(a, (int32_t)nv, sizeof(*res->configs));
    for (uint32_t i = 0; i < nv; i++) {
        if (!describe_wanted(rr, views[i].key)) continue;
        struct kafka_describe_configs_config *c = &res->configs[res->config_count++];
        c->name = kafka_kstr(views[i].key);
        c->value = kafka_arena_kstr(a, views[i].value);
        c->is_default = views[i].is_default;
        c->config_source = views[i].is_default ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_DYNAMIC_TOPIC;
        c->documentation = (struct kstr){NULL, -1};
        c->config_type = (int8_t)views[i].type;
        (void)version;
    }
}

/* The broker's own configs under Kafka's broker config names. Sluice changes none of them at
 * runtime, so all are read-only; a value equal to Sluice's default shows as DEFAULT_CONFIG,
 * any other as STATIC_BROKER_CONFIG (set by flag or file). */
struct broker_cfg {
    const char *key;
    char value[SL_CONFIG_PATH_MAX + 32];
    char dflt[SL_CONFIG_PATH_MAX + 32];
    int8_t type;
};
#define BROKER_CFGS_MAX 32

static void broker_cfg_values(const struct sl_config *c, uint32_t node_id, char out[][SL_CONFIG_PATH_MAX + 32]) {
    const struct log_config *l = &c->log;
    int i = 0;
    snprintf(out[i++], sizeof(out[0]), "%u", node_id);
    snprintf(out[i++], sizeof(out[0]), "%u", node_id);
    snprintf(out[i++], sizeof(out[0]), "%s", c->auto_create_topics ? "true" : "false");
    snprintf(out[i++], sizeof(out[0]), "%u", c->num_partitions);
    snprintf(out[i++], sizeof(out[0]), "%s", "1");
    snprintf(out[i++], sizeof(out[0]), "%s", "1");
    snprintf(out[i++], sizeof(out[0]), "%u", l->batch_bytes_max);
    snprintf(out[i++], sizeof(out[0]), "%lld", (long long)l->retention_ms);
    snprintf(out[i++], sizeof(out[0]), "%lld", (long long)l->retention_bytes);
    snprintf(out[i++], sizeof(out[0]), "%llu", (unsigned long long)l->segment_bytes);
    snprintf(out[i++], sizeof(out[0]), "%lld", (long long)l->segment_ms);
    snprintf(out[i++], sizeof(out[0]), "%u", l->index_interval_bytes);
    snprintf(out[i++], sizeof(out[0]), "%u", c->retention_check_ms);
    /* fsync policy as Kafka's flush settings: append syncs every batch, group at most every
     * group_commit_ms; none leaves it to the OS (Kafka's defaults). */
    snprintf(out[i++], sizeof(out[0]), "%s", l->durability == LOG_DURABILITY_APPEND ? "1" : "9223372036854775807");
    if (l->durability == LOG_DURABILITY_GROUP) snprintf(out[i++], sizeof(out[0]), "%u", l->group_commit_ms);
    else snprintf(out[i++], sizeof(out[0]), "%s", "9223372036854775807");
    snprintf(out[i++], sizeof(out[0]), "%s", c->data_dir);
    snprintf(out[i++], sizeof(out[0]), "%llu", (unsigned long long)(c->offsets_retention_ms / 60000));
    snprintf(out[i++], sizeof(out[0]), "%u", c->group_min_session_timeout_ms);
    snprintf(out[i++], sizeof(out[0]), "%u", c->group_max_session_timeout_ms);
    snprintf(out[i++], sizeof(out[0]), "%u", c->group_initial_rebalance_delay_ms);
    snprintf(out[i++], sizeof(out[0]), "%u", c->max_request_bytes);
    snprintf(out[i++], sizeof(out[0]), "%u", c->connections_max_idle_ms);
    snprintf(out[i++], sizeof(out[0]), "%u", c->max_connections);
}

/* Kafka names, in the order broker_cfg_values() fills them, with ConfigType codes. */
static const struct {
    const char *key;
    int8_t type;
} broker_cfg_names[] = {
    {"broker.id", 3}, {"node.id", 3}, {"auto.create.topics.enable", 1}, {"num.partitions", 3},
    {"default.replication.factor", 3}, {"min.insync.replicas", 3}, {"message.max.bytes", 3},
    {"log.retention.ms", 5}, {"log.retention.bytes", 5}, {"log.segment.bytes", 3}, {"log.roll.ms", 5},
    {"log.index.interval.bytes", 3}, {"log.retention.check.interval.ms", 5}, {"log.flush.interval.messages", 5},
    {"log.flush.interval.ms", 5}, {"log.dirs", 2}, {"offsets.retention.minutes", 3},
    {"group.min.session.timeout.ms", 3}, {"group.max.session.timeout.ms", 3},
    {"group.initial.rebalance.delay.ms", 3}, {"socket.request.max.bytes", 3}, {"connections.max.idle.ms", 5},
    {"max.connections", 3},
};
_Static_assert(SL_ARRAY_LEN(broker_cfg_names) <= BROKER_CFGS_MAX, "broker configs");

static bool broker_cfg_known(const char *key) {
    for (size_t i = 0; i < SL_ARRAY_LEN(broker_cfg_names); i++)
        if (!strcmp(broker_cfg_names[i].key, key)) return true;
    return false;
}

/* The resource name of a BROKER config: this broker's id, or "" for the cluster-wide dynamic
 * defaults (none here). Anything else is refused as Kafka refuses it. */
static bool broker_name_check(struct kconn *kc, struct kstr name, bool *cluster_default, int16_t *error_code,
                              struct kstr *error_message) {
    char want[16];
    snprintf(want, sizeof(want), "%u", kc->ks->node_id);
    *cluster_default = name.len <= 0;
    if (*cluster_default || ((size_t)name.len == strlen(want) && !memcmp(name.p, want, (size_t)name.len))) return true;
    char *msg = karena_alloc(&kc->arena, 96);
    snprintf(msg, 96, "Unexpected broker id, expected %s or empty string, but received %.*s", want,
             (int)SL_MIN(name.len, 32), name.p);
    *error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
    *error_message = kafka_kstr(msg);
    return false;
}

static void describe_broker(struct kconn *kc, const struct kafka_describe_configs_resource *rr,
                            struct kafka_describe_configs_result *res) {
    struct karena *a = &kc->arena;
    bool cluster_default;
    if (!broker_name_check(kc, rr->resource_name, &cluster_default, &res->error_code, &res->error_message)) return;
    if (cluster_default) return; /* no dynamic cluster-wide defaults */
    static char v[BROKER_CFGS_MAX][SL_CONFIG_PATH_MAX + 32], d[BROKER_CFGS_MAX][SL_CONFIG_PATH_MAX + 32];
    static struct sl_config defaults;
    sl_config_defaults(&defaults);
    broker_cfg_values(kc->ks->cfg, kc->ks->node_id, v);
    broker_cfg_values(&defaults, 1, d);
    size_t n = SL_ARRAY_LEN(broker_cfg_names);
    res->configs = kafka_alloc_array(a, (int32_t)n, sizeof(*res->configs));
    for (size_t i = 0; i < n; i++) {
        if (!describe_wanted(rr, broker_cfg_names[i].key)) continue;
        struct kafka_describe_configs_config *c = &res->configs[res->config_count++];
        bool dflt = i >= 2 && !strcmp(v[i], d[i]); /* the ids are always given */
        c->name = kafka_kstr(broker_cfg_names[i].key);
        c->value = kafka_arena_kstr(a, v[i]);
        c->read_only = true;
        c->is_default = dflt;
        c->config_source = dflt ? CONFIG_SOURCE_DEFAULT : CONFIG_SOURCE_STATIC_BROKER;
        c->config_type = broker_cfg_names[i].type;
        c->documentation = (struct kstr){NULL, -1};
    }
}

/* GROUP configs (Kafka 3.9, KIP-848): Kafka describes them for any group name, known or not,
 * with the broker's defaults. Sluice has classic groups only, so they stay at Kafka's defaults. */
static const struct {
    const char *key, *value;
} group_cfgs[] = {
    {"consumer.heartbeat.interval.ms", "5000"},
    {"consumer.session.timeout.ms", "45000"},
};

static void describe_group(struct kconn *kc, const struct kafka_describe_configs_resource *rr,
                           struct kafka_describe_configs_result *res) {
    if (rr->resource_name.len <= 0) {
        res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        res->error_message = kafka_kstr("Group name must not be empty");
        return;
    }
    res->configs = kafka_alloc_array(&kc->arena, (int32_t)SL_ARRAY_LEN(group_cfgs), sizeof(*res->configs));
    for (size_t i = 0; i < SL_ARRAY_LEN(group_cfgs); i++) {
        if (!describe_wanted(rr, group_cfgs[i].key)) continue;
        struct kafka_describe_configs_config *c = &res->configs[res->config_count++];
        c->name = kafka_kstr(group_cfgs[i].key);
        c->value = kafka_kstr(group_cfgs[i].value);
        c->is_default = true;
        c->config_source = CONFIG_SOURCE_DEFAULT;
        c->config_type = 3; /* INT */
        c->documentation = (struct kstr){NULL, -1};
    }
}

/* Alter of a BROKER or GROUP resource: nothing here changes at runtime. The answer is Kafka's
 * for a config that cannot change dynamically (INVALID_REQUEST naming it), or INVALID_CONFIG
 * for a name Kafka does not know. Returns false if the resource is not one of these. */
static bool alter_other(struct kconn *kc, int8_t type, struct kstr name, const struct kstr *keys, int32_t n,
                        struct kafka_alter_configs_result *res) {
    res->resource_type = type;
    res->resource_name = name;
    res->error_message = (struct kstr){NULL, -1};
    if (type != RESOURCE_BROKER && type != RESOURCE_GROUP) return false;
    struct karena *a = &kc->arena;
    if (type == RESOURCE_BROKER) {
        bool cluster_default;
        if (!broker_name_check(kc, name, &cluster_default, &res->error_code, &res->error_message)) return true;
    } else if (name.len <= 0) {
        res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        res->error_message = kafka_kstr("Group name must not be empty");
        return true;
    }
    if (n <= 0) return true; /* nothing to change */
    for (int32_t j = 0; j < n; j++) {
        const char *key = kafka_arena_cstr(a, keys[j]);
        bool known = false;
        if (type == RESOURCE_BROKER) known = key && broker_cfg_known(key);
        for (size_t i = 0; type == RESOURCE_GROUP && key && i < SL_ARRAY_LEN(group_cfgs); i++)
            known = known || !strcmp(group_cfgs[i].key, key);
        char *msg = karena_alloc(a, 160);
        if (!known && type == RESOURCE_GROUP) {
            snprintf(msg, 160, "Unknown group config name: %.100s", key ? key : "");
            res->error_code = (int16_t)sl_err_kafka(SL_INVALID_CONFIG);
        } else {
            snprintf(msg, 160, "Cannot update these configs dynamically: Set(%.100s)", key ? key : "");
            res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        }
        res->error_message = kafka_kstr(msg);
        return true;
    }
    return true;
}

sl_err kafka_handle_describe_configs(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_describe_configs_req req;
    sl_err e = kafka_decode_describe_configs(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_describe_configs_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.result_count = req.resource_count;
    resp.results = kafka_alloc_array(&kc->arena, req.resource_count, sizeof(*resp.results));
    for (int32_t i = 0; i < req.resource_count; i++) {
        const struct kafka_describe_configs_resource *rr = &req.resources[i];
        struct kafka_describe_configs_result *res = &resp.results[i];
        res->resource_type = rr->resource_type;
        res->resource_name = rr->resource_name;
        res->error_message = (struct kstr){NULL, -1};
        sl_err denied = config_denied(kc, KAFKA_OP_DESCRIBE_CONFIGS, rr->resource_type, rr->resource_name);
        if (denied) res->error_code = (int16_t)sl_err_kafka(denied);
        else if (rr->resource_type == RESOURCE_TOPIC) describe_topic(kc, q->version, rr, res);
        else if (rr->resource_type == RESOURCE_BROKER) describe_broker(kc, rr, res);
        else if (rr->resource_type == RESOURCE_GROUP) describe_group(kc, rr, res);
        else {
            res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
            res->error_message = kafka_kstr("only topic, broker and group resources are described");
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_describe_configs_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- AlterConfigs / IncrementalAlterConfigs --------------------------------------------------- */

static struct topic *alter_target(struct kconn *kc, int8_t type, struct kstr name,
                                  struct kafka_alter_configs_result *res) {
    res->resource_type = type;
    res->resource_name = name;
    res->error_message = (struct kstr){NULL, -1};
    if (type != RESOURCE_TOPIC) {
        res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        res->error_message = kafka_kstr("only topic, broker and group configs can be altered");
        return NULL;
    }
    struct topic *tp = kafka_topic_visible(kc->ks, name.p, name.len);
    if (!tp) res->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
    return tp;
}

/* ---- in a cluster: a placed topic's configs change through the controller ----
 * The change is checked here, then sent as the topic's whole new set of overrides; the answer
 * waits for every such change of the request (committed, and this broker's copy changed), and
 * goes out as AlterConfigs' or IncrementalAlterConfigs' answer. */
struct alter_park {
    struct kconn *kc;
    struct kreq *q;
    bool incremental;
    struct karena arena; /* the answer's names and messages, copied out of the request */
    struct kafka_alter_configs_result *results;
    int32_t result_count;
    int32_t *slot_index;
    struct alter_slot {
        struct alter_park *ap;
        int32_t i;
    } *slots;
    int32_t pending;
    bool started;
};

static struct alter_park *alter_park_new(struct kconn *kc, struct kreq *q, bool incremental, int32_t n) {
    struct alter_park *ap = sl_xcalloc(1, sizeof(*ap));
    ap->kc = kc;
    ap->q = q;
    ap->incremental = incremental;
    karena_init(&ap->arena, 4096);
    ap->slots = sl_xcalloc((size_t)SL_MAX(n, 1), sizeof(*ap->slots));
    q->park = ap;
    return ap;
}

static void alter_park_maybe_answer(struct alter_park *ap) {
    if (!ap->started || ap->pending) return;
    struct kreq *q = ap->q;
    q->park = NULL;
    struct kafka_alter_configs_resp resp = {0, ap->results, ap->result_count};
    struct kafka_incremental_alter_configs_resp iresp = {0, ap->results, ap->result_count};
    struct kw w, failed;
    kresp_begin(q, &w);
    if (ap->incremental) kafka_encode_incremental_alter_configs_resp(&w, q->version, &iresp);
    else kafka_encode_alter_configs_resp(&w, q->version, &resp);
    for (int32_t i = 0; i < ap->result_count; i++)
        admin_result_failed(&ap->results[i].error_code, &ap->results[i].error_message);
    admin_begin_failed(q, &failed);
    if (ap->incremental) kafka_encode_incremental_alter_configs_resp(&failed, q->version, &iresp);
    else kafka_encode_alter_configs_resp(&failed, q->version, &resp);
    admin_finish(ap->kc, q, &w, &failed);
    karena_free(&ap->arena);
    free(ap->slots);
    free(ap);
}

static void alter_park_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct alter_slot *s = arg;
    struct alter_park *ap = s->ap;
    (void)tp;
    struct kafka_alter_configs_result *res = &ap->results[s->i];
    res->error_code = (int16_t)sl_err_kafka(err);
    if (err) res->error_message = kafka_arena_kstr(&ap->arena, why ? why : sl_err_str(err));
    ap->pending--;
    alter_park_maybe_answer(ap);
}

/* Sends resource i's new overrides to the controller when tp is placed; true if it did (the
 * request is parked in *ap, made at the first). */
static bool alter_placed(struct kconn *kc, struct kreq *q, bool incremental, int32_t count, struct alter_park **ap,
                         int32_t i, struct topic *tp, const char *const *keys, const char *const *values, uint32_t n,
                         struct kafka_alter_configs_result *res) {
    const struct cluster_view *v = kc->ks->view;
    if (!v || !cluster_view_topic(v, tp->name, (int32_t)strlen(tp->name))) return false;
    if (!*ap) *ap = alter_park_new(kc, q, incremental, count);
    struct alter_slot *slot = &(*ap)->slots[i];
    *slot = (struct alter_slot){*ap, i};
    const char *why = NULL;
    sl_err e = v->ops.configs(v->ops.arg, tp->name, keys, values, n, alter_park_done, slot, &why);
    if (!e) {
        (*ap)->pending++;
        return true;
    }
    res->error_code = (int16_t)sl_err_kafka(e);
    res->error_message = why_kstr(&kc->arena, why);
    return true;
}

/* The answer so far into the park's own memory; it goes once every change is in. */
static void alter_park_start(struct alter_park *ap, const struct kafka_alter_configs_result *results, int32_t n) {
    ap->result_count = n;
    ap->results = kafka_alloc_array(&ap->arena, n, sizeof(*results));
    for (int32_t i = 0; i < n; i++) {
        struct kafka_alter_configs_result *d = &ap->results[i];
        *d = results[i];
        if (d->resource_name.len > 0) d->resource_name = kafka_kstr(kafka_arena_cstr(&ap->arena, d->resource_name));
        if (d->error_message.len > 0) d->error_message = kafka_kstr(kafka_arena_cstr(&ap->arena, d->error_message));
    }
    ap->started = true;
    alter_park_maybe_answer(ap);
}

sl_err kafka_handle_alter_configs(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_alter_configs_req req;
    sl_err e = kafka_decode_alter_configs(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct karena *a = &kc->arena;
    struct kafka_alter_configs_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.response_count = req.resource_count;
    resp.responses = kafka_alloc_array(a, req.resource_count, sizeof(*resp.responses));
    struct alter_park *ap = NULL;
    for (int32_t i = 0; i < req.resource_count; i++) {
        const struct kafka_alter_configs_resource *rr = &req.resources[i];
        struct kafka_alter_configs_result *res = &resp.responses[i];
        int32_t n = SL_MAX(rr->config_count, 0);
        struct kstr *names = karena_alloc(a, sizeof(struct kstr) * (size_t)SL_MAX(n, 1));
        for (int32_t j = 0; j < n; j++) names[j] = rr->configs[j].name;
        sl_err denied = config_denied(kc, KAFKA_OP_ALTER_CONFIGS, rr->resource_type, rr->resource_name);
        if (denied) {
            *res = (struct kafka_alter_configs_result){(int16_t)sl_err_kafka(denied), {NULL, -1}, rr->resource_type,
                                                       rr->resource_name};
            continue;
        }
        if (alter_other(kc, rr->resource_type, rr->resource_name, names, n, res)) continue;
        struct topic *tp = alter_target(kc, rr->resource_type, rr->resource_name, res);
        if (!tp) continue;
        const char **keys = karena_alloc(a, sizeof(char *) * (size_t)SL_MAX(n, 1));
        const char **values = karena_alloc(a, sizeof(char *) * (size_t)SL_MAX(n, 1));
        const char *why = NULL;
        e = SL_OK;
        for (int32_t j = 0; j < n && !e; j++) {
            keys[j] = kafka_arena_cstr(a, rr->configs[j].name);
            values[j] = kafka_arena_cstr(a, rr->configs[j].value);
            e = topics_config_check(keys[j] ? keys[j] : "", values[j], &why);
        }
        if (!e && !req.validate_only &&
            alter_placed(kc, q, false, req.resource_count, &ap, i, tp, keys, values, (uint32_t)n, res))
            continue;
        if (!e && !req.validate_only) e = topics_replace_configs(kc->ks->topics, tp, keys, values, (uint32_t)n, &why);
        res->error_code = (int16_t)sl_err_kafka(e);
        if (e) res->error_message = why_kstr(a, why);
    }
    if (ap) {
        alter_park_start(ap, resp.responses, resp.response_count);
        return SL_OK;
    }
    struct kw w, failed;
    kresp_begin(q, &w);
    kafka_encode_alter_configs_resp(&w, q->version, &resp);
    for (int32_t i = 0; i < resp.response_count && !req.validate_only; i++)
        admin_result_failed(&resp.responses[i].error_code, &resp.responses[i].error_message);
    admin_begin_failed(q, &failed);
    kafka_encode_alter_configs_resp(&failed, q->version, &resp);
    admin_finish(kc, q, &w, &failed);
    return SL_OK;
}

#define INCREMENTAL_SET 0
#define INCREMENTAL_DELETE 1
#define INCREMENTAL_APPEND 2
#define INCREMENTAL_SUBTRACT 3

sl_err kafka_handle_incremental_alter_configs(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_incremental_alter_configs_req req;
    sl_err e = kafka_decode_incremental_alter_configs(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct karena *a = &kc->arena;
    struct kafka_incremental_alter_configs_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.response_count = req.resource_count;
    resp.responses = kafka_alloc_array(a, req.resource_count, sizeof(*resp.responses));
    struct alter_park *ap = NULL;
    for (int32_t i = 0; i < req.resource_count; i++) {
        const struct kafka_incremental_alter_configs_resource *rr = &req.resources[i];
        struct kafka_alter_configs_result *res = &resp.responses[i];
        int32_t n = SL_MAX(rr->config_count, 0);
        struct kstr *names = karena_alloc(a, sizeof(struct kstr) * (size_t)SL_MAX(n, 1));
        for (int32_t j = 0; j < n; j++) names[j] = rr->configs[j].name;
        sl_err denied = config_denied(kc, KAFKA_OP_ALTER_CONFIGS, rr->resource_type, rr->resource_name);
        if (denied) {
            *res = (struct kafka_alter_configs_result){(int16_t)sl_err_kafka(denied), {NULL, -1}, rr->resource_type,
                                                       rr->resource_name};
            continue;
        }
        if (alter_other(kc, rr->resource_type, rr->resource_name, names, n, res)) continue;
        struct topic *tp = alter_target(kc, rr->resource_type, rr->resource_name, res);
        if (!tp) continue;
        const char *why = NULL;
        e = SL_OK;
        /* Each operation as the value it sets (NULL: back to the default); APPEND and SUBTRACT
         * work on list configs from their current value. Every one is checked first, so a
         * request applies whole or not at all. */
        const char **vals = karena_alloc(a, sizeof(char *) * (size_t)SL_MAX(n, 1));
        for (int32_t j = 0; j < rr->config_count && !e; j++) {
            const struct kafka_incremental_alter_configs_config *c = &rr->configs[j];
            const char *key = kafka_arena_cstr(a, c->name);
            if (!key) key = "";
            vals[j] = NULL;
            if (c->config_operation == INCREMENTAL_SET) {
                vals[j] = kafka_arena_cstr(a, c->value);
            } else if (c->config_operation == INCREMENTAL_APPEND || c->config_operation == INCREMENTAL_SUBTRACT) {
                const char *v = kafka_arena_cstr(a, c->value);
                char *out = karena_alloc(a, 1024);
                e = topics_config_list_op(tp, key, v ? v : "", c->config_operation == INCREMENTAL_APPEND, out, 1024,
                                          &why);
                vals[j] = out;
            } else if (c->config_operation != INCREMENTAL_DELETE) {
                e = SL_INVALID_CONFIG;
                why = "unknown config operation";
            }
            if (!e) e = topics_config_check(key, vals[j], &why);
        }
        if (!e && !req.validate_only && kc->ks->view) {
            /* The topic's whole new set: its overrides with each operation applied in order. */
            uint32_t m = tp->override_count;
            const char **keys = karena_alloc(a, sizeof(char *) * (TOPIC_CONFIGS_MAX + (size_t)SL_MAX(n, 1)));
            const char **values = karena_alloc(a, sizeof(char *) * (TOPIC_CONFIGS_MAX + (size_t)SL_MAX(n, 1)));
            for (uint32_t k = 0; k < m; k++) {
                keys[k] = tp->overrides[k].key;
                values[k] = tp->overrides[k].value;
            }
            for (int32_t j = 0; j < rr->config_count; j++) {
                const char *key = kafka_arena_cstr(a, rr->configs[j].name);
                uint32_t k = 0;
                while (k < m && strcmp(keys[k], key ? key : "")) k++;
                if (!vals[j]) { /* back to the default: out of the set */
                    if (k < m) {
                        keys[k] = keys[m - 1];
                        values[k] = values[m - 1];
                        m--;
                    }
                    continue;
                }
                keys[k] = key ? key : "";
                values[k] = vals[j];
                if (k == m) m++;
            }
            if (alter_placed(kc, q, true, req.resource_count, &ap, i, tp, keys, values, m, res))
                continue;
        }
        for (int32_t j = 0; j < rr->config_count && !e && !req.validate_only; j++) {
            const struct kafka_incremental_alter_configs_config *c = &rr->configs[j];
            e = topics_set_config(kc->ks->topics, tp, kafka_arena_cstr(a, c->name), vals[j], &why);
        }
        res->error_code = (int16_t)sl_err_kafka(e);
        if (e) res->error_message = why_kstr(a, why);
    }
    if (ap) {
        alter_park_start(ap, resp.responses, resp.response_count);
        return SL_OK;
    }
    struct kw w, failed;
    kresp_begin(q, &w);
    kafka_encode_incremental_alter_configs_resp(&w, q->version, &resp);
    for (int32_t i = 0; i < resp.response_count && !req.validate_only; i++)
        admin_result_failed(&resp.responses[i].error_code, &resp.responses[i].error_message);
    admin_begin_failed(q, &failed);
    kafka_encode_incremental_alter_configs_resp(&failed, q->version, &resp);
    admin_finish(kc, q, &w, &failed);
    return SL_OK;
}

/* ---- DeleteRecords ------------------------------------------------------------------------------ */

sl_err kafka_handle_delete_records(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_delete_records_req req;
    sl_err e = kafka_decode_delete_records(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct karena *a = &kc->arena;
    struct kafka_delete_records_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.topic_count = req.topic_count;
    resp.topics = kafka_alloc_array(a, req.topic_count, sizeof(*resp.topics));
    for (int32_t t = 0; t < req.topic_count; t++) {
        const struct kafka_delete_records_topic *rt = &req.topics[t];
        struct kafka_delete_records_topic_result *tr = &resp.topics[t];
        tr->name = rt->name;
        tr->partition_count = rt->partition_count;
        tr->partitions = kafka_alloc_array(a, rt->partition_count, sizeof(*tr->partitions));
        struct topic *tp = kafka_topic_visible(kc->ks, rt->name.p, rt->name.len);
        bool denied = !kafka_authorized(kc, KAFKA_OP_DELETE, KAFKA_RES_TOPIC, rt->name);
        for (int32_t i = 0; i < rt->partition_count; i++) {
            struct kafka_delete_records_partition_result *pr = &tr->partitions[i];
            int32_t p = rt->partitions[i].partition_index;
            pr->partition_index = p;
            pr->low_watermark = -1;
            if (denied) {
                pr->error_code = (int16_t)sl_err_kafka(SL_TOPIC_AUTHORIZATION);
                continue;
            }
            if (!tp || p < 0 || p >= tp->partition_count) {
                pr->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
                continue;
            }
            struct partition *part = tp->parts[p];
            int64_t off = rt->partitions[i].offset;
            if (off == -1) off = partition_high_watermark(part);
            if (off < 0 || off > partition_high_watermark(part)) {
                pr->error_code = (int16_t)sl_err_kafka(SL_OFFSET_OUT_OF_RANGE);
                continue;
            }
            pr->error_code = (int16_t)sl_err_kafka(partition_delete_records(part, off));
            pr->low_watermark = partition_start_offset(part);
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_delete_records_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}
