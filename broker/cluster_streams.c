/* cluster_streams.c: a replicated stream's consumers and removals, copied from its leader to
 * its other replicas (see cluster_streams.h). */
#include "broker/cluster_streams.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/broker.h"
#include "broker/core/cluster_view.h"
#include "broker/core/stream.h"
#include "broker/core/topics.h"
#include "broker/http/http_client.h"
#include "broker/http/http_json.h"
#include "broker/http/http_server.h"
#include "broker/nats/js_deliver.h"
#include "broker/nats/js_ingest.h"
#include "storage/kvlog.h"

#define CST_PATH "/v1/cluster/streams/state"
#define CST_POST_MS 2000
#define CST_KEY_MAX 600

/* One other replica of a stream led here: what it took last. */
struct cst_peer {
    uint32_t node;
    uint64_t hash;    /* of the body it took last; 0: none yet */
    uint64_t gen;     /* the newest sync generation its copies cover */
    uint64_t sent_ms; /* monotonic */
    bool busy;        /* a copy to it is under way */
};

/* What the leader copied of one stream. */
struct cst_entry {
    char name[STREAM_NAME_MAX + 1];
    struct cst_peer peers[CLUSTER_REPLICAS_MAX];
    uint32_t npeers;
    bool seen;   /* the stream still exists and is led here (the sweep's mark) */
    bool gone;   /* not seen by the last sweep (its leadership left: the syncs failed) */
    bool warned; /* too large to copy, said once */
};

struct cluster_streams {
    struct broker *b;
    struct workers *w;
    struct loop_timer timer;
    struct cst_entry *v;
    uint32_t count, cap;
    /* Syncs (cluster_streams_sync): gen counts them; a copy built after the n-th carries n, so a
     * waiter of generation n is through once every in-sync replica of every stream led here
     * took a copy of generation n or more. */
    uint64_t gen;
    struct js_sync_waiter *waiters, **waiters_tail;
    uint32_t busy; /* copies under way */
    bool stopping;
    uint64_t copies_ok, copies_failed, applied, refused, syncs_ok, syncs_failed;
};

/* A copy of one stream's keys to one replica, on a worker thread. */
struct cst_job {
    struct work w;
    struct cluster_streams *cst;
    char name[STREAM_NAME_MAX + 1];
    uint32_t node;
    uint64_t hash, gen;
    char *body;
    char token[256];
    void *tls;
    char target[CLUSTER_HOSTPORT_MAX];
    bool ok;
};

static char *hex_of(const uint8_t *p, uint32_t n) {
    char *out = sl_xmalloc((size_t)n * 2 + 1);
    sl_hex_encode(p, n, out);
    return out;
}

/* Decodes s (lowercase hex) into a heap buffer; NULL if malformed. */
static uint8_t *hex_decode(const char *s, uint32_t *n) {
    size_t len = strlen(s);
    uint8_t *out = sl_xmalloc(len / 2 + 1);
    if (!sl_hex_decode(s, len, out)) {
        free(out);
        return NULL;
    }
    *n = (uint32_t)(len / 2);
    return out;
}

/* The keys a stream's copy consists of: its consumers' and its deleted set. */
struct cst_keys {
    char prefix[CST_KEY_MAX];
    size_t plen;
    char dkey[CST_KEY_MAX];
    size_t dlen;
};

static void cst_keys_of(const struct stream *s, struct cst_keys *k) {
    k->plen = (size_t)SL_MAX(js_deliver_key_prefix(stream_name(s), k->prefix, sizeof(k->prefix)), 0);
    k->dlen = stream_deleted_key(s, k->dkey, sizeof(k->dkey));
}

static bool cst_key_is_consumer(const struct cst_keys *k, const uint8_t *key, uint32_t len) {
    return len > k->plen && len < CST_KEY_MAX && !memcmp(key, k->prefix, k->plen);
}

struct cst_collect {
    const struct cst_keys *k;
    json_t *keys;      /* the leader's body: key -> hex value */
    char **names;      /* a replica's own consumer keys */
    uint32_t count, cap;
};

static void cst_collect_body(void *arg, const uint8_t *key, uint32_t klen, const uint8_t *v, uint32_t vlen) {
    struct cst_collect *c = arg;
    bool deleted = klen == c->k->dlen && !memcmp(key, c->k->dkey, klen);
    if (!deleted && !cst_key_is_consumer(c->k, key, klen)) return;
    char name[CST_KEY_MAX];
    memcpy(name, key, klen);
    name[klen] = 0;
    char *hex = hex_of(v, vlen);
    json_object_set_new(c->keys, name, json_string(hex));
    free(hex);
}

/* ---- the leader: copies out ---------------------------------------------------------------- */

static struct cst_entry *cst_entry(struct cluster_streams *cst, const char *name) {
    for (uint32_t i = 0; i < cst->count; i++)
        if (!strcmp(cst->v[i].name, name)) return &cst->v[i];
    if (cst->count == cst->cap) {
        cst->cap = cst->cap ? cst->cap * 2 : 8;
        cst->v = sl_xrealloc(cst->v, cst->cap * sizeof(*cst->v));
    }
    struct cst_entry *e = &cst->v[cst->count++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    return e;
}

static struct cst_peer *cst_peer(struct cst_entry *e, uint32_t node, bool add) {
    for (uint32_t i = 0; i < e->npeers; i++)
        if (e->peers[i].node == node) return &e->peers[i];
    if (!add || e->npeers == CLUSTER_REPLICAS_MAX) return NULL;
    struct cst_peer *p = &e->peers[e->npeers++];
    memset(p, 0, sizeof(*p));
    p->node = node;
    return p;
}

static bool cst_entry_busy(const struct cst_entry *e) {
    for (uint32_t i = 0; i < e->npeers; i++)
        if (e->peers[i].busy) return true;
    return false;
}

/* A tick at once (a sync, or a copy ended while changes waited). */
static void cst_soon(struct cluster_streams *cst) {
    if (cst->stopping) return;
    uint64_t now = loop_mono_ms(&cst->b->loop);
    if (!loop_timer_armed(&cst->timer) || cst->timer.deadline_ms > now) loop_timer_add(&cst->b->loop, &cst->timer, now);
}

static void cst_waiter_fire(struct cluster_streams *cst, struct js_sync_waiter *w, bool ok) {
    if (ok) cst->syncs_ok++;
    else cst->syncs_failed++;
    w->done(w, ok);
}

/* True once every in-sync replica of every replicated stream led here took a copy of
 * generation gen or later. */
static bool cst_synced(struct cluster_streams *cst, uint64_t gen) {
    const struct cluster_view *v = cst->b->kafka.view;
    /* A stream copied until now whose leadership just left: the next sweep fails the syncs. */
    for (uint32_t i = 0; i < cst->count; i++) {
        struct stream *s = streams_get(cst->b->streams, cst->v[i].name, (uint32_t)strlen(cst->v[i].name));
        if (!s || !js_stream_served_here(&cst->b->nats, s)) return false;
    }
    for (uint32_t i = 0; v && v->ready && i < streams_count(cst->b->streams); i++) {
        struct stream *s = streams_at(cst->b->streams, i);
        const struct cluster_topic *t = stream_placement(s);
        if (!t || !t->partition_count || !js_stream_served_here(&cst->b->nats, s)) continue;
        const struct cluster_part *pt = &t->parts[0];
        struct cst_entry *e = NULL;
        for (uint32_t k = 0; k < cst->count && !e; k++)
            if (!strcmp(cst->v[k].name, stream_name(s))) e = &cst->v[k];
        for (uint32_t r = 0; r < pt->isr_count; r++) {
            if (pt->isr[r] == v->self_id) continue;
            const struct cst_peer *p = e ? cst_peer(e, pt->isr[r], false) : NULL;
            if (!p || p->gen < gen) return false;
        }
    }
    return true;
}

/* Fires the waiters that are through (in order: generations only grow along the list), and
 * fails those past their deadline. */
static void cst_waiters_check(struct cluster_streams *cst) {
    uint64_t now = loop_mono_ms(&cst->b->loop);
    struct js_sync_waiter **pp = &cst->waiters;
    while (*pp) {
        struct js_sync_waiter *w = *pp;
        bool ok = cst_synced(cst, w->gen);
        if (!ok && now < w->deadline_ms) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        if (!*pp) cst->waiters_tail = pp;
        if (!ok)
            SL_WARN("AckSync replies not sent: the in-sync replicas of the streams led here did not take the "
                    "consumers' state within %u ms", CLUSTER_STREAMS_SYNC_MAX_MS);
        cst_waiter_fire(cst, w, ok);
    }
}

static void cst_job_run(struct work *w) {
    struct cst_job *j = sl_container_of(w, struct cst_job, w);
    char err[200] = "";
    j->ok = http_client_post(j->target, CST_PATH, j->token, j->body, j->tls, CST_POST_MS, err, sizeof(err)) == 200;
}

static void cst_job_done(struct work *w) {
    struct cst_job *j = sl_container_of(w, struct cst_job, w);
    struct cluster_streams *cst = j->cst;
    cst->busy--;
    struct cst_peer *p = NULL;
    for (uint32_t i = 0; i < cst->count && !p; i++)
        if (!strcmp(cst->v[i].name, j->name)) p = cst_peer(&cst->v[i], j->node, false);
    if (p) {
        p->busy = false;
        if (j->ok) {
            p->hash = j->hash;
            p->gen = SL_MAX(p->gen, j->gen);
            p->sent_ms = loop_mono_ms(&cst->b->loop);
        }
    }
    if (j->ok) cst->copies_ok++;
    else cst->copies_failed++;
    /* Changes made while this copy ran go at once (a failed copy waits for the period). */
    if (j->ok && cst->gen > j->gen) cst_soon(cst);
    cst_waiters_check(cst);
    free(j->body);
    free(j);
}

/* The body for stream s led here. */
static char *cst_body(struct cluster_streams *cst, struct stream *s, const struct cluster_topic *t) {
    struct cst_keys k;
    cst_keys_of(s, &k);
    struct cst_collect c = {.k = &k, .keys = json_object()};
    kvlog_foreach(topics_metadata(cst->b->topics), cst_collect_body, &c);
    json_t *o = json_object();
    json_object_set_new(o, "stream", json_string(stream_name(s)));
    char *id = hex_of(t->id, 16);
    json_object_set_new(o, "id", json_string(id));
    free(id);
    json_object_set_new(o, "epoch", json_integer(t->parts[0].leader_epoch));
    json_object_set_new(o, "keys", c.keys);
    char *body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return body;
}

/* Copies stream s (led here) to each other replica that is not taking one already and lacks
 * this state, or took it more than CLUSTER_STREAMS_RESEND_MS ago (a replica that was away). */
static void cst_copy(struct cluster_streams *cst, struct stream *s, const struct cluster_topic *t, uint64_t now_ms) {
    struct broker *b = cst->b;
    const struct cluster_view *v = b->kafka.view;
    struct cst_entry *e = cst_entry(cst, stream_name(s));
    e->seen = true;
    const struct cluster_part *pt = &t->parts[0];
    for (uint32_t i = 0; i < e->npeers;) { /* replicas no longer in the placement */
        bool kept = e->peers[i].busy;
        for (uint32_t r = 0; r < pt->replica_count && !kept; r++) kept = pt->replicas[r] == e->peers[i].node;
        if (kept) i++;
        else e->peers[i] = e->peers[--e->npeers];
    }
    char *body = NULL;
    size_t len = 0;
    uint64_t h = 0;
    for (uint32_t r = 0; r < pt->replica_count; r++) {
        if (pt->replicas[r] == v->self_id) continue;
        struct cst_peer *p = cst_peer(e, pt->replicas[r], true);
        if (!p || p->busy) continue;
        if (!body) {
            body = cst_body(cst, s, t);
            len = strlen(body);
            h = XXH3_64bits(body, len) | 1;
            if (len > CLUSTER_STREAMS_BODY_MAX) {
                if (!e->warned)
                    SL_WARN("stream %s: its consumers' state (%zu bytes) is too large to copy to its replicas", e->name, len);
                e->warned = true;
                break;
            }
        }
        if (p->hash == h && now_ms < p->sent_ms + CLUSTER_STREAMS_RESEND_MS) {
            p->gen = cst->gen; /* it has this state already */
            continue;
        }
        const struct cluster_view_broker *rb = cluster_view_broker(v, p->node);
        if (!rb || !rb->http[0]) continue;
        struct cst_job *j = sl_xcalloc(1, sizeof(*j));
        j->w.run = cst_job_run;
        j->w.done = cst_job_done;
        j->cst = cst;
        snprintf(j->name, sizeof(j->name), "%s", e->name);
        j->node = p->node;
        j->hash = h;
        j->gen = cst->gen;
        j->body = sl_xmalloc(len + 1);
        memcpy(j->body, body, len + 1);
        snprintf(j->token, sizeof(j->token), "%s", b->cfg.http_token);
        j->tls = b->cluster_tls;
        snprintf(j->target, sizeof(j->target), "%s", rb->http);
        p->busy = true;
        cst->busy++;
        workers_submit(cst->w, &j->w);
    }
    free(body);
}

static void cst_tick(struct loop_timer *timer, uint64_t now_ms) {
    struct cluster_streams *cst = sl_container_of(timer, struct cluster_streams, timer);
    struct broker *b = cst->b;
    const struct cluster_view *v = b->kafka.view;
    for (uint32_t i = 0; i < cst->count; i++) cst->v[i].seen = false;
    for (uint32_t i = 0; v && v->ready && i < streams_count(b->streams); i++) {
        struct stream *s = streams_at(b->streams, i);
        const struct cluster_topic *t = stream_placement(s);
        if (t && t->partition_count && js_stream_served_here(&b->nats, s)) cst_copy(cst, s, t, now_ms);
    }
    bool lost = false;
    for (uint32_t i = 0; i < cst->count;) { /* streams gone or no longer led here */
        struct cst_entry *e = &cst->v[i];
        lost |= !e->seen && !e->gone;
        e->gone = !e->seen;
        if (!e->seen && !cst_entry_busy(e)) *e = cst->v[--cst->count];
        else i++;
    }
    if (lost) cluster_streams_lead_lost(cst);
    cst_waiters_check(cst);
    loop_timer_add(&b->loop, timer, now_ms + (cst->waiters ? CLUSTER_STREAMS_SYNC_TICK_MS : CLUSTER_STREAMS_PERIOD_MS));
}

void cluster_streams_sync(void *arg, struct js_sync_waiter *w) {
    struct cluster_streams *cst = arg;
    cst->gen++;
    if (w) {
        w->gen = cst->gen;
        w->deadline_ms = loop_mono_ms(&cst->b->loop) + CLUSTER_STREAMS_SYNC_MAX_MS;
        w->next = NULL;
        *cst->waiters_tail = w;
        cst->waiters_tail = &w->next;
    }
    cst_soon(cst);
}

void cluster_streams_lead_lost(struct cluster_streams *cst) {
    if (!cst) return;
    /* What the waiters wait for may not be on the new leader: their AckSyncs time out rather
     * than be told a lie. */
    struct js_sync_waiter *w = cst->waiters;
    cst->waiters = NULL;
    cst->waiters_tail = &cst->waiters;
    while (w) {
        struct js_sync_waiter *next = w->next;
        cst_waiter_fire(cst, w, false);
        w = next;
    }
}

/* ---- a replica: takes the copy --------------------------------------------------------------- */

static void cst_collect_names(void *arg, const uint8_t *key, uint32_t klen, const uint8_t *v, uint32_t vlen) {
    (void)v;
    (void)vlen;
    struct cst_collect *c = arg;
    if (!cst_key_is_consumer(c->k, key, klen)) return;
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->names = sl_xrealloc(c->names, c->cap * sizeof(*c->names));
    }
    char *n = sl_xmalloc(klen + 1);
    memcpy(n, key, klen);
    n[klen] = 0;
    c->names[c->count++] = n;
}

/* Makes this replica's keys of s exactly keys (validated), and its deleted set the leader's. */
static void cst_apply(struct cluster_streams *cst, struct stream *s, const struct cst_keys *k, json_t *keys) {
    struct kvlog *kv = topics_metadata(cst->b->topics);
    uint64_t now_ms = loop_now_ms(&cst->b->loop);
    struct cst_collect c = {.k = k};
    kvlog_foreach(kv, cst_collect_names, &c);
    for (uint32_t i = 0; i < c.count; i++) {
        if (!json_object_get(keys, c.names[i])) kvlog_del(kv, c.names[i], (uint32_t)strlen(c.names[i]), now_ms, NULL);
        free(c.names[i]);
    }
    free(c.names);
    const char *key;
    json_t *val;
    uint8_t *deleted = NULL;
    uint32_t deleted_len = 0;
    json_object_foreach(keys, key, val) {
        uint32_t n = 0;
        uint8_t *bytes = hex_decode(json_string_value(val), &n);
        if (!strcmp(key, k->dkey)) {
            deleted = bytes;
            deleted_len = n;
            continue;
        }
        uint32_t ol = 0;
        const uint8_t *old = kvlog_get(kv, key, (uint32_t)strlen(key), &ol);
        if (!old || ol != n || memcmp(old, bytes, n))
            if (kvlog_put(kv, key, (uint32_t)strlen(key), bytes, n, now_ms, NULL) != SL_OK)
                SL_WARN("stream %s: the leader's %s not stored here", stream_name(s), key);
        free(bytes);
    }
    sl_err e = stream_apply_deleted(s, deleted, deleted_len);
    if (e) SL_WARN("stream %s: the leader's removals not taken here: %s", stream_name(s), sl_err_str(e));
    free(deleted);
}

static void route_state(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    struct cluster_streams *cst = b->cluster_streams;
    if (!cst || !b->streams) return http_response_error(rs, 503, "this broker copies no streams (shutting down?)");
    if (rq->method != HTTP_M_POST) return http_response_error(rs, 405, "POST only");
    static const char *const fields[] = {"stream", "id", "epoch", "keys", NULL};
    json_t *o = http_request_json(rq, rs, fields, false);
    if (!o) return;
    const char *name = json_string_value(json_object_get(o, "stream"));
    const char *id = json_string_value(json_object_get(o, "id"));
    json_t *epoch = json_object_get(o, "epoch"), *keys = json_object_get(o, "keys");
    struct stream *s = name ? streams_get(b->streams, name, (uint32_t)strlen(name)) : NULL;
    const struct cluster_topic *t = s ? stream_placement(s) : NULL;
    char *tid = t ? hex_of(t->id, 16) : NULL;
    struct cst_keys k;
    const char *bad = NULL;
    int status = 400;
    if (!name || !id || !json_is_integer(epoch) || !json_is_object(keys)) {
        bad = "\"stream\", \"id\", \"epoch\" and \"keys\" are required";
    } else if (!t || !t->partition_count || strcmp(tid, id)) {
        status = 404;
        bad = "no such replicated stream here";
    } else if (js_stream_served_here(&b->nats, s)) {
        status = 409;
        bad = "this broker leads the stream";
    } else if (json_integer_value(epoch) != (json_int_t)t->parts[0].leader_epoch) {
        status = 409;
        bad = "not the leader epoch of the placement here";
    } else {
        cst_keys_of(s, &k);
        const char *key;
        json_t *val;
        json_object_foreach(keys, key, val) {
            size_t kl = strlen(key);
            uint32_t n;
            uint8_t *bytes = json_is_string(val) ? hex_decode(json_string_value(val), &n) : NULL;
            if (!bytes || (strcmp(key, k.dkey) && !cst_key_is_consumer(&k, (const uint8_t *)key, (uint32_t)kl)))
                bad = "\"keys\" must map the stream's consumer keys and deleted set to hex values";
            free(bytes);
            if (bad) break;
        }
    }
    free(tid);
    if (bad) {
        cst->refused++;
        http_response_error(rs, status, bad);
    } else {
        cst_apply(cst, s, &k, keys);
        cst->applied++;
        http_response_json(rs, 200, NULL);
    }
    json_decref(o);
}

/* ---- life ------------------------------------------------------------------------------------ */

struct cluster_streams *cluster_streams_start(struct broker *b) {
    if (!b->streams || !b->cluster) return NULL;
    struct cluster_streams *cst = sl_xcalloc(1, sizeof(*cst));
    cst->b = b;
    cst->waiters_tail = &cst->waiters;
    /* A thread per other replica: a replica that does not answer holds up only its own copies. */
    cst->w = workers_new(&b->loop, CLUSTER_REPLICAS_MAX, "cl-streams");
    cst->timer.fire = cst_tick;
    http_server_route_admin(&b->http, CST_PATH, HTTP_M_POST, false, route_state, b);
    http_server_route_body_max(&b->http, CLUSTER_STREAMS_BODY_MAX);
    loop_timer_add(&b->loop, &cst->timer, loop_mono_ms(&b->loop) + CLUSTER_STREAMS_PERIOD_MS);
    return cst;
}

void cluster_streams_stop(struct cluster_streams *cst) {
    if (!cst) return;
    cst->stopping = true;
    if (loop_timer_armed(&cst->timer)) loop_timer_del(&cst->b->loop, &cst->timer);
    workers_free(cst->w); /* the copies under way end, their dones run */
    cluster_streams_lead_lost(cst);
    free(cst->v);
    free(cst);
}

void cluster_streams_metrics(const struct cluster_streams *cst, struct prom *p) {
    if (!cst) return;
    prom_family(p, "sluice_cluster_stream_state_copies_total", "counter",
                "Copies of a replicated stream's consumers and removals this leader sent its replicas (one per "
                "replica), by outcome: ok (the replica took it), failed (it did not: sent again).");
    prom_u64(p, "sluice_cluster_stream_state_copies_total", "outcome=\"ok\"", cst->copies_ok);
    prom_u64(p, "sluice_cluster_stream_state_copies_total", "outcome=\"failed\"", cst->copies_failed);
    prom_family(p, "sluice_cluster_stream_state_applied_total", "counter",
                "Copies of a leader's stream state this replica took (applied) or refused (it leads the "
                "stream, another epoch, an unknown stream or a malformed copy).");
    prom_u64(p, "sluice_cluster_stream_state_applied_total", "outcome=\"applied\"", cst->applied);
    prom_u64(p, "sluice_cluster_stream_state_applied_total", "outcome=\"refused\"", cst->refused);
    prom_family(p, "sluice_cluster_stream_syncs_total", "counter",
                "AckSyncs and consumer creates of replicated streams led here, by outcome: ok (their state "
                "reached every in-sync replica before the reply), failed (it did not within the limit, or the "
                "leadership went: no reply, the client times out).");
    prom_u64(p, "sluice_cluster_stream_syncs_total", "outcome=\"ok\"", cst->syncs_ok);
    prom_u64(p, "sluice_cluster_stream_syncs_total", "outcome=\"failed\"", cst->syncs_failed);
    prom_family(p, "sluice_cluster_stream_syncs_waiting", "gauge",
                "Replies of replicated streams waiting for their state to reach the in-sync replicas.");
    uint64_t waiting = 0;
    for (const struct js_sync_waiter *w = cst->waiters; w; w = w->next) waiting++;
    prom_u64(p, "sluice_cluster_stream_syncs_waiting", NULL, waiting);
}
