/* cluster_topics.c: see cluster_topics.h. */
#include "broker/cluster_topics.h"

#include <jansson.h>
#include <stdatomic.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <xxhash.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/cluster/cluster_nodes.h"
#include "broker/cluster/controller.h"
#include "broker/cluster_replica.h"
#include "broker/core/cluster_meta.h"
#include "broker/core/cluster_view.h"
#include "broker/core/stream.h"
#include "broker/core/topics.h"
#include "storage/kvlog.h"
#include "broker/http/http_client.h"
#include "broker/http/http_json.h"
#include "broker/http/http_server.h"
#include "broker/broker.h"

#define SYNC_PERIOD_MS 50          /* how often the loop looks for a new placement table */
#define FWD_WAIT_MS 10000          /* a change's wait at the controller */
#define FWD_TRIES 25               /* a change sent again while the leadership moves... */
#define FWD_RETRY_MS 200           /* ...this far apart (5 s in all) */
/* An ISR change or a drain is the broker's own, not a client's: it is asked again at the next
 * poll anyway, and a stopping broker must not wait on a controller that is gone. */
#define FWD_QUICK_WAIT_MS 2000
#define FWD_QUICK_TRIES 8
#define FWD_LOCAL_WAIT_MS 30000    /* from the commit until this broker's copy exists */

struct fwd {
    struct work w;
    struct cluster_sync *cs;
    enum controller_change_kind kind;
    struct controller_topic_req req;
    /* the outcome, filled by the worker */
    sl_err err;
    const char *why;
    /* after the commit: waiting for the local copy */
    topics_done_fn done;
    void *done_arg;
    uint64_t deadline_ms;
    struct fwd *next;
};

struct cluster_sync {
    struct broker *b;
    struct cluster_view view;
    struct workers *workers; /* forwards and the leader's topic route wait for Raft here */
    struct loop_timer timer;
    struct controller_status *status; /* scratch, 18 KiB: off the loop's stack */
    uint64_t gen;                     /* the placement table the view holds */
    bool dirty;                       /* the local registry may differ from the table */
    uint32_t local_jobs;              /* local creations and growths under way */
    struct fwd *waiters;              /* committed changes waiting for the local copy */
    bool warned_id;                   /* logged a local topic whose id differs, once */
    atomic_bool stopping;             /* cluster_topics_stop began: no new work for the pools (a
                                       * forward's thread reads it too) */
    bool stopped;                     /* cluster_topics_stop ran: the last local job frees cs */
    /* /metrics: topic changes this broker sent to the controller, by outcome */
    uint64_t changes_ok, changes_refused, changes_failed;
    uint64_t isr_changes_ok, isr_changes_failed; /* partition leaders' ISR changes (AlterPartition) */
    uint64_t caught_up_since_ms; /* monotonic: since when this follower has applied all it knows */
    struct cluster_replica *replica; /* partition roles and the replica fetchers (cluster_replica.h) */
    bool swept;                  /* the one sweep of a start has run */
};

/* ---- the "placed" marks -------------------------------------------------------------------
 * A topic this broker made as its copy of a placed topic is marked in the metadata log
 * ("placed/<name>" = its id): what tells it apart from a topic the broker made alone. A placed
 * topic removed while this broker was down is never seen leaving the table, so once per start,
 * when this broker is a follower that has applied everything its leader told it committed
 * (for SYNC_SWEEP_AFTER_MS on end), or a leader once a barrier of its own term has applied
 * (controller_status.leader_current), marked topics the table does not hold with that id are
 * deleted. Not before: a new leader learns what is committed only once an entry of its own
 * term commits, and a stale table would delete a live topic's copy; a follower hears the
 * leader's commit index with every heartbeat. */
#define PLACED_PREFIX "placed/"
#define SYNC_SWEEP_AFTER_MS 2000

static int placed_key(char *out, size_t cap, const char *name) {
    return snprintf(out, cap, PLACED_PREFIX "%s", name);
}

static void sync_mark(struct cluster_sync *cs, const struct topic *tp) {
    struct kvlog *kv = topics_metadata(cs->b->topics);
    char key[CLUSTER_TOPIC_NAME_MAX + 16];
    int n = placed_key(key, sizeof(key), tp->name);
    uint32_t len = 0;
    const uint8_t *v = kvlog_get(kv, key, (uint32_t)n, &len);
    if (v && len == 16 && !memcmp(v, tp->id, 16)) return;
    sl_err e = kvlog_put(kv, key, (uint32_t)n, tp->id, 16, loop_now_ms(&cs->b->loop), NULL);
    if (e) SL_WARN("cluster: topic %s: its placed mark not stored: %s", tp->name, sl_err_str(e));
}

static void sync_unmark(struct cluster_sync *cs, const char *name) {
    struct kvlog *kv = topics_metadata(cs->b->topics);
    char key[CLUSTER_TOPIC_NAME_MAX + 16];
    int n = placed_key(key, sizeof(key), name);
    uint32_t len = 0;
    if (!kvlog_get(kv, key, (uint32_t)n, &len)) return;
    sl_err e = kvlog_del(kv, key, (uint32_t)n, loop_now_ms(&cs->b->loop), NULL);
    if (e) SL_WARN("cluster: topic %s: its placed mark not removed: %s", name, sl_err_str(e));
}

struct placed_mark {
    char name[CLUSTER_TOPIC_NAME_MAX];
    uint8_t id[16];
};

struct placed_marks {
    struct placed_mark *v;
    uint32_t count, cap;
};

static void placed_collect(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    struct placed_marks *m = arg;
    size_t pl = strlen(PLACED_PREFIX);
    if (key_len <= pl || key_len - pl >= CLUSTER_TOPIC_NAME_MAX || memcmp(key, PLACED_PREFIX, pl) || value_len != 16)
        return;
    if (m->count == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->v = sl_xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    struct placed_mark *pm = &m->v[m->count++];
    memcpy(pm->name, key + pl, key_len - pl);
    pm->name[key_len - pl] = '\0';
    memcpy(pm->id, value, 16);
}

static void sync_sweep(struct cluster_sync *cs) {
    struct placed_marks m = {0};
    kvlog_foreach(topics_metadata(cs->b->topics), placed_collect, &m);
    for (uint32_t i = 0; i < m.count; i++) {
        const struct cluster_topic *t = cluster_topics_find(&cs->view.topics, m.v[i].name);
        if (t && !memcmp(t->id, m.v[i].id, 16)) continue;
        struct topic *tp = topics_get(cs->b->topics, m.v[i].name, (int32_t)strlen(m.v[i].name));
        if (tp && !memcmp(tp->id, m.v[i].id, 16)) {
            sl_err e = topics_delete(cs->b->topics, tp);
            if (e) {
                SL_WARN("cluster: topic %s, removed while this broker was away, not deleted: %s", m.v[i].name,
                        sl_err_str(e));
                continue;
            }
            SL_INFO("cluster: topic %s deleted here: the cluster removed it while this broker was away", m.v[i].name);
        }
        sync_unmark(cs, m.v[i].name);
    }
    free(m.v);
}

/* ---- the change, at the controller -------------------------------------------------------- */

static sl_err fwd_map_rc(int rc, const char **why) {
    switch (rc) {
    case 0: return SL_OK;
    case CONTROLLER_RC_EXISTS: *why = "topic already exists"; return SL_TOPIC_EXISTS;
    case CONTROLLER_RC_NOT_FOUND: *why = "no such topic"; return SL_NO_PARTITION;
    case CONTROLLER_RC_INVALID: *why = "the controller refused the partition count"; return SL_INVALID_PARTITIONS;
    case CONTROLLER_RC_REPLICATION:
        *why = "the replication factor is larger than the registered brokers";
        return SL_INVALID_REPLICATION;
    case CONTROLLER_RC_STALE: *why = "not the partition's leader at its current epoch"; return SL_NOT_LEADER;
    default: *why = "the cluster's controller could not commit the change"; return SL_REQUEST_TIMED_OUT;
    }
}

static json_t *fwd_body(const struct fwd *f) {
    static const char *const actions[] = {[CONTROLLER_TOPIC_CREATE] = "create", [CONTROLLER_TOPIC_GROW] = "grow",
                                          [CONTROLLER_TOPIC_REMOVE] = "remove", [CONTROLLER_TOPIC_CONFIGS] = "configs",
                                          [CONTROLLER_PARTITION_ISR] = "isr", [CONTROLLER_BROKER_DRAIN] = "drain"};
    char id[33];
    for (int i = 0; i < 16; i++) snprintf(id + 2 * i, 3, "%02x", f->req.id[i]);
    if (f->kind == CONTROLLER_BROKER_DRAIN)
        return json_pack("{s:s,s:s,s:I}", "action", "drain", "name", "-", "leader", (json_int_t)f->req.leader);
    if (f->kind == CONTROLLER_PARTITION_ISR) {
        json_t *isr = json_array();
        for (uint32_t i = 0; i < f->req.isr_count; i++) json_array_append_new(isr, json_integer(f->req.isr[i]));
        return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o}", "action", "isr", "name", f->req.name, "id", id, "partition",
                         (json_int_t)f->req.partition, "leader_epoch", (json_int_t)f->req.leader_epoch, "leader",
                         (json_int_t)f->req.leader, "isr", isr);
    }
    json_t *configs = json_object();
    for (uint32_t i = 0; i < f->req.config_count; i++)
        json_object_set_new(configs, f->req.configs[i].key, json_string(f->req.configs[i].value));
    return json_pack("{s:s,s:s,s:I,s:I,s:s,s:o}", "action", actions[f->kind], "name", f->req.name, "partitions",
                     (json_int_t)f->req.partitions, "replication_factor", (json_int_t)f->req.replication_factor,
                     "id", id, "configs", configs);
}

/* Worker thread: the change, at the controller, whichever node leads; sent again while no
 * leader is known or the one asked has just lost the leadership. */
static void fwd_run(struct work *w) {
    struct fwd *f = (struct fwd *)w;
    struct broker *b = f->cs->b;
    struct controller_status *s = sl_xcalloc(1, sizeof(*s));
    f->err = SL_REQUEST_TIMED_OUT;
    f->why = "no controller answered: the cluster has no leader";
    bool quick = f->kind == CONTROLLER_PARTITION_ISR || f->kind == CONTROLLER_BROKER_DRAIN;
    int tries = quick ? FWD_QUICK_TRIES : FWD_TRIES;
    uint32_t wait_ms = quick ? FWD_QUICK_WAIT_MS : FWD_WAIT_MS;
    for (int attempt = 0; attempt < tries; attempt++) {
        if (attempt && quick && atomic_load(&f->cs->stopping)) break; /* the stop waits for this thread */
        if (attempt) nanosleep(&(struct timespec){0, FWD_RETRY_MS * 1000000L}, NULL);
        controller_status(b->cluster, s);
        if (s->state == RAFT_LEADER) {
            struct controller_result res;
            enum controller_outcome out = controller_topic(b->cluster, f->kind, &f->req, wait_ms, &res);
            if (out == CONTROLLER_DONE && (res.rc == RAFT_NOTLEADER || res.rc == RAFT_LEADERSHIPLOST)) continue;
            if (out != CONTROLLER_DONE) {
                f->why = "the controller did not commit the change in time";
                break;
            }
            f->err = fwd_map_rc(res.rc, &f->why);
            break;
        }
        const struct cluster_broker *leader = s->leader_id ? cluster_fsm_find(&s->fsm, s->leader_id) : NULL;
        if (!leader) continue;
        json_t *o = fwd_body(f);
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        char err[200];
        int status = body ? http_client_post(leader->http, "/v1/cluster/topics", b->cfg.http_token, body,
                                             b->cluster_tls, wait_ms + (quick ? 500 : 2000), err, sizeof(err))
                          : -1;
        free(body);
        if (status == 421 || status < 0) { /* the leadership moved, or the leader is unreachable */
            if (attempt == 0 || attempt == tries - 1)
                SL_WARN("cluster: topic %s: the change sent to leader %u at %s: %s (attempt %d of %d)", f->req.name,
                        s->leader_id, leader->http, status < 0 ? err : "421, not the leader", attempt + 1, tries);
            continue;
        }
        if (status == 200) f->err = SL_OK;
        else if (status == 409) f->err = fwd_map_rc(CONTROLLER_RC_EXISTS, &f->why);
        else if (status == 404) f->err = fwd_map_rc(CONTROLLER_RC_NOT_FOUND, &f->why);
        else if (status == 400) f->err = fwd_map_rc(CONTROLLER_RC_INVALID, &f->why);
        else if (status == 422) f->err = fwd_map_rc(CONTROLLER_RC_REPLICATION, &f->why);
        else if (status == 412) f->err = fwd_map_rc(CONTROLLER_RC_STALE, &f->why);
        else if (status == 403 || status == 401) f->why = "the controller refused this broker's http_token";
        else f->why = "the controller did not commit the change in time";
        break;
    }
    free(s);
}

static void fwd_free(struct fwd *f) { free(f); }

static void sync_check_waiters(struct cluster_sync *cs, uint64_t now_ms);

static void fwd_done(struct work *w) {
    struct fwd *f = (struct fwd *)w;
    struct cluster_sync *cs = f->cs;
    if (f->kind == CONTROLLER_PARTITION_ISR || f->kind == CONTROLLER_BROKER_DRAIN) { /* nothing to wait for here */
        if (f->err) cs->isr_changes_failed++;
        else cs->isr_changes_ok++;
        f->done(f->done_arg, f->err, NULL, f->why);
        fwd_free(f);
        return;
    }
    /* Refused: the controller answered no (it exists, no such topic, a bad count); failed: no
     * controller committed it (no leader, unreachable, timed out, a token refused). */
    if (!f->err) cs->changes_ok++;
    else if (f->err == SL_TOPIC_EXISTS || f->err == SL_NO_PARTITION || f->err == SL_INVALID_PARTITIONS ||
             f->err == SL_INVALID_REPLICATION)
        cs->changes_refused++;
    else cs->changes_failed++;
    if (f->err) {
        f->done(f->done_arg, f->err, NULL, f->why);
        fwd_free(f);
        return;
    }
    /* Committed: the answer waits for this broker's own copy, so a client that produces next
     * finds the topic here. */
    f->deadline_ms = loop_mono_ms(&cs->b->loop) + FWD_LOCAL_WAIT_MS;
    f->next = cs->waiters;
    cs->waiters = f;
    sync_check_waiters(cs, loop_mono_ms(&cs->b->loop));
}

static struct fwd *fwd_new(struct cluster_sync *cs, enum controller_change_kind kind, const char *name,
                           topics_done_fn done, void *done_arg) {
    struct fwd *f = sl_xcalloc(1, sizeof(*f));
    f->w.run = fwd_run;
    f->w.done = fwd_done;
    f->cs = cs;
    f->kind = kind;
    snprintf(f->req.name, sizeof(f->req.name), "%s", name);
    f->done = done;
    f->done_arg = done_arg;
    return f;
}

/* A placement's configs as a broker's topic takes them: without a stream's record chunks
 * (stream.h, streams_adopt reads them from the placement). Returns the count kept. */
static uint32_t topic_configs_of(const struct cluster_config *c, uint32_t n, const char **keys, const char **values) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (streams_placed_key(c[i].key)) continue;
        keys[m] = c[i].key;
        values[m++] = c[i].value;
    }
    return m;
}

/* A topic copy made or found here: a stream's, attached to the stream registry. */
static void sync_adopt(struct cluster_sync *cs, struct topic *tp) {
    if (cs->b->streams) streams_adopt(cs->b->streams, tp);
}

static sl_err view_create(void *arg, const char *name, int32_t partitions, int32_t replication_factor,
                          const char *const *keys,
                          const char *const *values, uint32_t config_count, topics_done_fn done, void *done_arg,
                          const char **why) {
    struct cluster_sync *cs = arg;
    int32_t name_len = (int32_t)strlen(name);
    if (cluster_view_topic(&cs->view, name, name_len)) {
        *why = "topic already exists";
        return SL_TOPIC_EXISTS;
    }
    /* The name, the count and the configs, checked here as a one-broker creation would be
     * (a stream's record chunks aside). */
    const char *tkeys[CLUSTER_TOPIC_CONFIGS_MAX], *tvalues[CLUSTER_TOPIC_CONFIGS_MAX];
    uint32_t tn = 0;
    for (uint32_t i = 0; i < config_count && tn < CLUSTER_TOPIC_CONFIGS_MAX; i++) {
        if (streams_placed_key(keys[i])) continue;
        tkeys[tn] = keys[i];
        tvalues[tn++] = values[i];
    }
    sl_err e = topics_create(cs->b->topics, name, name_len, partitions, tkeys, tvalues, tn, true, NULL, why);
    if (e) return e;
    if (config_count > CLUSTER_TOPIC_CONFIGS_MAX) {
        *why = "too many configs";
        return SL_INVALID_CONFIG;
    }
    struct fwd *f = fwd_new(cs, CONTROLLER_TOPIC_CREATE, name, done, done_arg);
    f->req.partitions = (uint32_t)partitions;
    f->req.replication_factor = (uint32_t)SL_MAX(replication_factor, 1);
    if (getrandom(f->req.id, 16, 0) != 16)
        for (int i = 0; i < 16; i++) f->req.id[i] = (uint8_t)rand();
    f->req.id[6] = (uint8_t)((f->req.id[6] & 0x0f) | 0x40); /* a version-4 UUID, as Kafka's */
    f->req.id[8] = (uint8_t)((f->req.id[8] & 0x3f) | 0x80);
    for (uint32_t i = 0; i < config_count; i++) {
        snprintf(f->req.configs[i].key, sizeof(f->req.configs[i].key), "%s", keys[i]);
        snprintf(f->req.configs[i].value, sizeof(f->req.configs[i].value), "%s", values[i]);
    }
    f->req.config_count = config_count;
    workers_submit(cs->workers, &f->w);
    return SL_OK;
}

static sl_err view_grow(void *arg, const char *name, int32_t total, topics_done_fn done, void *done_arg,
                        const char **why) {
    struct cluster_sync *cs = arg;
    const struct cluster_topic *t = cluster_view_topic(&cs->view, name, (int32_t)strlen(name));
    if (!t) {
        *why = "no such topic";
        return SL_NO_PARTITION;
    }
    if (total <= (int32_t)t->partition_count || total > 100000) {
        *why = total <= (int32_t)t->partition_count ? "the partition count can only grow"
                                                    : "the number of partitions must be at most 100000";
        return SL_INVALID_PARTITIONS;
    }
    struct fwd *f = fwd_new(cs, CONTROLLER_TOPIC_GROW, name, done, done_arg);
    f->req.partitions = (uint32_t)total;
    workers_submit(cs->workers, &f->w);
    return SL_OK;
}

static sl_err view_configs(void *arg, const char *name, const char *const *keys, const char *const *values,
                           uint32_t n, topics_done_fn done, void *done_arg, const char **why) {
    struct cluster_sync *cs = arg;
    const struct cluster_topic *t = cluster_view_topic(&cs->view, name, (int32_t)strlen(name));
    if (!t) {
        *why = "no such topic";
        return SL_NO_PARTITION;
    }
    /* A stream's record chunks stay, unless the change brings new ones (a stream's update,
     * streams_update_start; Kafka's AlterConfigs never names them: topics_config_check refuses
     * them): the overrides replaced are the topic's own. */
    bool new_record = false;
    for (uint32_t i = 0; i < n; i++) new_record |= streams_placed_key(keys[i]);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < t->config_count && !new_record; i++) kept += streams_placed_key(t->configs[i].key);
    if (n + kept > CLUSTER_TOPIC_CONFIGS_MAX) {
        *why = "too many configs";
        return SL_INVALID_CONFIG;
    }
    struct fwd *f = fwd_new(cs, CONTROLLER_TOPIC_CONFIGS, name, done, done_arg);
    for (uint32_t i = 0; i < n; i++) {
        if (strlen(keys[i]) >= CLUSTER_CONFIG_KEY_MAX || strlen(values[i]) >= CLUSTER_CONFIG_VALUE_MAX) {
            free(f);
            *why = "a config key or value is too long";
            return SL_INVALID_CONFIG;
        }
        snprintf(f->req.configs[i].key, sizeof(f->req.configs[i].key), "%s", keys[i]);
        snprintf(f->req.configs[i].value, sizeof(f->req.configs[i].value), "%s", values[i]);
    }
    for (uint32_t i = 0, j = n; i < t->config_count && !new_record; i++)
        if (streams_placed_key(t->configs[i].key)) f->req.configs[j++] = t->configs[i];
    f->req.config_count = n + kept;
    workers_submit(cs->workers, &f->w);
    return SL_OK;
}

static sl_err view_alter_isr(void *arg, const char *name, const uint8_t id[16], uint32_t partition,
                             uint32_t leader_epoch, const uint32_t *isr, uint32_t n, topics_done_fn done,
                             void *done_arg) {
    struct cluster_sync *cs = arg;
    if (n == 0 || n > CLUSTER_REPLICAS_MAX) return SL_INVALID_ARG;
    struct fwd *f = fwd_new(cs, CONTROLLER_PARTITION_ISR, name, done, done_arg);
    memcpy(f->req.id, id, 16);
    f->req.partition = partition;
    f->req.leader_epoch = leader_epoch;
    f->req.leader = cs->b->cfg.node_id;
    f->req.isr_count = (uint8_t)n;
    memcpy(f->req.isr, isr, n * sizeof(isr[0]));
    workers_submit(cs->workers, &f->w);
    return SL_OK;
}

static sl_err view_remove(void *arg, const char *name, topics_done_fn done, void *done_arg, const char **why) {
    struct cluster_sync *cs = arg;
    if (!cluster_view_topic(&cs->view, name, (int32_t)strlen(name))) {
        *why = "no such topic";
        return SL_NO_PARTITION;
    }
    workers_submit(cs->workers, &fwd_new(cs, CONTROLLER_TOPIC_REMOVE, name, done, done_arg)->w);
    return SL_OK;
}

/* ---- the local copy ----------------------------------------------------------------------- */

static void sync_local_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct cluster_sync *cs = arg;
    cs->local_jobs--;
    cs->dirty = true;
    if (cs->stopped) {
        if (!cs->local_jobs) free(cs); /* topics_close ended it (SL_CLOSED) after the stop */
        return;
    }
    if (err) SL_WARN("cluster: a placed topic could not be made here: %s", why ? why : sl_err_str(err));
    else if (tp) {
        sync_mark(cs, tp);
        sync_adopt(cs, tp);
    }
    /* Roles at once, not at the next poll: the copy serves requests from now on, and a
     * replicated partition's leader without its role would refuse acks=all as if alone. */
    if (!err) cluster_replica_roles_now(cs->replica, loop_mono_ms(&cs->b->loop));
}

/* Whether the local topic's overrides are exactly these (any order). */
static bool sync_configs_equal(const struct topic *tp, const struct cluster_config *c, uint32_t n) {
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (streams_placed_key(c[i].key)) continue;
        const char *v = topic_config_value(tp, c[i].key);
        if (!v || strcmp(v, c[i].value) != 0) return false;
        m++;
    }
    return tp->override_count == m;
}

static void sync_configs(struct cluster_sync *cs, struct topic *tp, const struct cluster_topic *t) {
    if (sync_configs_equal(tp, t->configs, t->config_count)) return;
    const char *keys[CLUSTER_TOPIC_CONFIGS_MAX], *values[CLUSTER_TOPIC_CONFIGS_MAX];
    uint32_t n = topic_configs_of(t->configs, t->config_count, keys, values);
    const char *why = NULL;
    sl_err e = topics_replace_configs(cs->b->topics, tp, keys, values, n, &why);
    if (e) SL_WARN("cluster: topic %s: the placed configs not applied here: %s", t->name, why ? why : sl_err_str(e));
}

/* Makes the local registry hold every placed topic, as placed: creations and growths start
 * here and finish over later loop turns (dirty stays set until a pass finds nothing to do). */
static void sync_reconcile(struct cluster_sync *cs) {
    struct topics *reg = cs->b->topics;
    bool pending = false;
    for (uint32_t i = 0; i < cs->view.topics.count; i++) {
        const struct cluster_topic *t = &cs->view.topics.v[i];
        int32_t len = (int32_t)strlen(t->name);
        struct topic *tp = topics_get(reg, t->name, len);
        const char *why = NULL;
        sl_err e = SL_OK;
        if (!tp) {
            if (topics_creating(reg, t->name, len)) {
                pending = true;
                continue;
            }
            const char *keys[CLUSTER_TOPIC_CONFIGS_MAX], *values[CLUSTER_TOPIC_CONFIGS_MAX];
            uint32_t n = topic_configs_of(t->configs, t->config_count, keys, values);
            e = topics_create_start_id(reg, t->name, len, (int32_t)t->partition_count, keys, values, n, t->id,
                                       sync_local_done, cs, &why);
            if (!e) {
                cs->local_jobs++;
                pending = true;
            }
        } else if (memcmp(tp->id, t->id, 16) != 0) {
            /* A topic of this name that this broker had before the cluster placed one: its
             * records stay, and it is not served as the placed topic's copy (logged once). */
            if (!cs->warned_id)
                SL_ERROR("cluster: topic %s here has another id than the one the cluster placed: left alone", t->name);
            cs->warned_id = true;
        } else {
            sync_mark(cs, tp); /* made before the marks existed, or its mark's put failed */
            sync_configs(cs, tp, t);
            sync_adopt(cs, tp); /* a stream's copy whose adoption failed or came before the view had it */
            if (tp->partition_count < (int32_t)t->partition_count) {
                e = topics_add_partitions_start(reg, tp, (int32_t)t->partition_count, sync_local_done, cs, &why);
                if (!e) cs->local_jobs++;
                if (!e || e == SL_REASSIGNMENT_IN_PROGRESS) {
                    pending = true;
                    e = SL_OK;
                }
            }
        }
        if (e) SL_WARN("cluster: placed topic %s not made here: %s", t->name, why ? why : sl_err_str(e));
    }
    cs->dirty = pending;
}

/* Topics the new table no longer has, that this broker holds as placed (same id): deleted. */
static void sync_removed(struct cluster_sync *cs, const struct cluster_topics *old, const struct cluster_topics *now) {
    for (uint32_t i = 0; i < old->count; i++) {
        const struct cluster_topic *t = &old->v[i];
        const struct cluster_topic *still = cluster_topics_find(now, t->name);
        if (still && !memcmp(still->id, t->id, 16)) continue;
        struct topic *tp = topics_get(cs->b->topics, t->name, (int32_t)strlen(t->name));
        if (!tp || memcmp(tp->id, t->id, 16) != 0) continue;
        sl_err e = topics_delete(cs->b->topics, tp);
        if (e) SL_WARN("cluster: removed topic %s not deleted here: %s", t->name, sl_err_str(e));
        else SL_INFO("cluster: topic %s deleted here (the cluster removed it)", t->name);
        if (!e) sync_unmark(cs, t->name);
        cs->dirty = true;
    }
}

/* Whether the placement's configs are exactly c (any order). */
static bool placement_has_configs(const struct cluster_topic *t, const struct cluster_config *c, uint32_t n) {
    if (t->config_count != n) return false;
    for (uint32_t i = 0; i < n; i++) {
        bool found = false;
        for (uint32_t j = 0; j < t->config_count && !found; j++)
            found = !strcmp(t->configs[j].key, c[i].key) && !strcmp(t->configs[j].value, c[i].value);
        if (!found) return false;
    }
    return true;
}

static bool sync_waiter_ready(struct cluster_sync *cs, const struct fwd *f, struct topic **tp) {
    *tp = topics_get(cs->b->topics, f->req.name, (int32_t)strlen(f->req.name));
    const struct cluster_topic *t = cluster_topics_find(&cs->view.topics, f->req.name);
    if (f->kind == CONTROLLER_TOPIC_REMOVE) return !t && (!*tp || !cs->dirty);
    if (f->kind == CONTROLLER_TOPIC_CONFIGS) /* the placement has the change too (a stream's record) */
        return t && *tp && !memcmp((*tp)->id, t->id, 16) && sync_configs_equal(*tp, f->req.configs, f->req.config_count) &&
               placement_has_configs(t, f->req.configs, f->req.config_count);
    return t && *tp && !memcmp((*tp)->id, t->id, 16) && (*tp)->partition_count >= (int32_t)f->req.partitions &&
           (uint32_t)(*tp)->partition_count == t->partition_count;
}

static void sync_check_waiters(struct cluster_sync *cs, uint64_t now_ms) {
    struct fwd **pp = &cs->waiters;
    while (*pp) {
        struct fwd *f = *pp;
        struct topic *tp = NULL;
        bool ready = sync_waiter_ready(cs, f, &tp);
        if (!ready && now_ms < f->deadline_ms) {
            pp = &f->next;
            continue;
        }
        *pp = f->next;
        if (ready) f->done(f->done_arg, SL_OK, f->kind == CONTROLLER_TOPIC_REMOVE ? NULL : tp, NULL);
        else f->done(f->done_arg, SL_REQUEST_TIMED_OUT, NULL, "committed, but this broker's copy is not ready yet");
        fwd_free(f);
    }
}

static void sync_tick(struct loop_timer *t, uint64_t now_ms) {
    struct cluster_sync *cs = (struct cluster_sync *)((char *)t - offsetof(struct cluster_sync, timer));
    struct broker *b = cs->b;
    controller_status(b->cluster, cs->status);
    cs->view.controller_id = cs->status->leader_id;
    cluster_view_set_brokers(&cs->view, &cs->status->fsm);
    struct cluster_topics fresh = {0};
    int rc = controller_topics(b->cluster, cs->gen, &fresh);
    if (rc == 1) {
        struct cluster_topics old = cs->view.topics;
        cs->view.topics = fresh;
        cs->gen = fresh.gen;
        sync_removed(cs, &old, &cs->view.topics);
        cluster_topics_free(&old);
        cs->dirty = true;
    }
    if (cs->dirty) sync_reconcile(cs);
    const struct controller_status *s = cs->status;
    bool caught_up = s->state == RAFT_FOLLOWER && s->leader_id && s->last_applied >= s->commit_index &&
                     s->leader_commit_heard && s->last_applied >= s->leader_commit;
    if (!caught_up) cs->caught_up_since_ms = 0;
    else if (!cs->caught_up_since_ms) cs->caught_up_since_ms = now_ms;
    /* The status (read before the table above) says this node had applied all its leader
     * had committed when it last heard from it (a leader: all it committed): the table taken
     * after it is current, and stays so from now on. A follower just started knows a leader
     * from its first heartbeat, which carries the leader's commit index (controller_recv);
     * until it has applied that far its table is the one it stopped with, which may name it
     * the leader of partitions others lead now. */
    bool leader_applied = s->state == RAFT_LEADER && s->last_applied >= s->commit_index;
    if (!cs->view.ready && (caught_up || leader_applied)) {
        SL_INFO("cluster: this broker's table is current (%s, applied %llu, the leader's commit %llu)",
                caught_up ? "follower" : "leader", (unsigned long long)s->last_applied,
                (unsigned long long)(caught_up ? s->leader_commit : s->commit_index));
        cs->view.ready = true;
    }
    if (!cs->swept && !cs->dirty &&
        ((caught_up && now_ms - cs->caught_up_since_ms >= SYNC_SWEEP_AFTER_MS) || s->leader_current)) {
        cs->swept = true;
        sync_sweep(cs);
    }
    sync_check_waiters(cs, now_ms);
    cluster_replica_tick(cs->replica, now_ms, cs->gen);
    loop_timer_add(&b->loop, &cs->timer, now_ms + SYNC_PERIOD_MS);
}

/* ---- the leader's route ------------------------------------------------------------------- */

struct route_job {
    struct work w;
    struct broker *b;
    struct http_pending *pending;
    enum controller_change_kind kind;
    struct controller_topic_req req;
    enum controller_outcome out;
    struct controller_result res;
};

static void route_job_run(struct work *w) {
    struct route_job *j = (struct route_job *)w;
    j->out = controller_topic(j->b->cluster, j->kind, &j->req, FWD_WAIT_MS, &j->res);
}

static void route_job_done(struct work *w) {
    struct route_job *j = (struct route_job *)w;
    struct http_response rs = {0};
    if (j->out != CONTROLLER_DONE) {
        http_response_error(&rs, 504, "the change is still running");
    } else {
        switch (j->res.rc) {
        case 0: http_response_json(&rs, 200, json_pack("{s:s}", "name", j->req.name)); break;
        case RAFT_NOTLEADER:
            http_response_json(&rs, 421, json_pack("{s:s,s:I,s:s}", "error", "not the leader", "leader_id",
                                                   (json_int_t)j->res.leader_id, "leader_address",
                                                   j->res.leader_address));
            break;
        case CONTROLLER_RC_EXISTS: http_response_error(&rs, 409, j->res.message); break;
        case CONTROLLER_RC_NOT_FOUND: http_response_error(&rs, 404, j->res.message); break;
        case CONTROLLER_RC_INVALID: http_response_error(&rs, 400, j->res.message); break;
        case CONTROLLER_RC_REPLICATION: http_response_error(&rs, 422, j->res.message); break;
        case CONTROLLER_RC_STALE: http_response_error(&rs, 412, j->res.message); break;
        default: http_response_error(&rs, 503, j->res.message); break;
        }
    }
    http_pending_answer(j->pending, &rs);
    free(j);
}

static bool route_hex_id(const char *s, uint8_t id[16]) {
    if (!s || strlen(s) != 32) return false;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return false;
        id[i] = (uint8_t)v;
    }
    return true;
}

/* {"action":"isr","name","id","partition","leader_epoch","leader","isr":[ids]}: NULL, or why not. */
static const char *route_isr(json_t *o, struct controller_topic_req *req) {
    json_t *v;
    if (!route_hex_id(json_string_value(json_object_get(o, "id")), req->id)) return "\"id\" must be 32 hex digits";
    static const char *const ints[] = {"partition", "leader_epoch", "leader"};
    uint32_t *dst[] = {&req->partition, &req->leader_epoch, &req->leader};
    for (int i = 0; i < 3; i++) {
        v = json_object_get(o, ints[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
            return "\"partition\", \"leader_epoch\" and \"leader\" must be integers in 0..2^32-1";
        *dst[i] = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "isr");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CLUSTER_REPLICAS_MAX)
        return "\"isr\" must be an array of 1..7 node ids";
    size_t i;
    json_t *id;
    json_array_foreach(v, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 1 || json_integer_value(id) > UINT32_MAX)
            return "\"isr\" must be an array of 1..7 node ids";
        req->isr[i] = (uint32_t)json_integer_value(id);
        for (size_t k = 0; k < i; k++)
            if (req->isr[k] == req->isr[i]) return "\"isr\" names a node twice";
    }
    req->isr_count = (uint8_t)json_array_size(v);
    return NULL;
}

/* POST /v1/cluster/topics {"action":"create"|"grow"|"remove"|"configs"|"isr","name",...}: a
 * broker's topic change, or a partition leader's ISR change, sent to the leader
 * (cluster_topics.h). */
static void route_topics(void *arg, const struct http_request *rq, struct http_response *rs) {
    /* The route outlives the sync (the port serves on while the broker stops): it finds the
     * sync through the broker, which forgets it when it stops. */
    struct broker *b = arg;
    struct cluster_sync *cs = b->cluster_sync;
    if (!cs || atomic_load(&cs->stopping)) {
        http_response_error(rs, 503, "the cluster's topic changes have stopped (shutting down)");
        return;
    }
    static const char *const fields[] = {"action", "name", "partitions", "replication_factor", "id", "configs",
                                         "partition", "leader_epoch", "leader", "isr", NULL};
    if (!b->cluster) {
        http_response_error(rs, 503, "the cluster controller has stopped (shutting down)");
        return;
    }
    json_t *o = http_request_json(rq, rs, fields, true);
    if (!o) return;
    struct route_job *j = sl_xcalloc(1, sizeof(*j));
    const char *action = json_string_value(json_object_get(o, "action"));
    const char *name = json_string_value(json_object_get(o, "name"));
    json_t *parts = json_object_get(o, "partitions");
    json_t *configs = json_object_get(o, "configs");
    const char *bad = NULL;
    bool drain = action && !strcmp(action, "drain");
    if (!action || (strcmp(action, "create") && strcmp(action, "grow") && strcmp(action, "remove") &&
                    strcmp(action, "configs") && strcmp(action, "isr") && !drain))
        bad = "\"action\" must be \"create\", \"grow\", \"remove\", \"configs\", \"isr\" or \"drain\"";
    else if (!drain && (!name || !topics_name_valid(name, (int32_t)strlen(name))))
        bad = "\"name\" must be a valid topic name";
    j->kind = !action ? CONTROLLER_TOPIC_CREATE
              : !strcmp(action, "grow")    ? CONTROLLER_TOPIC_GROW
              : !strcmp(action, "remove")  ? CONTROLLER_TOPIC_REMOVE
              : !strcmp(action, "configs") ? CONTROLLER_TOPIC_CONFIGS
              : !strcmp(action, "isr")     ? CONTROLLER_PARTITION_ISR
              : drain                      ? CONTROLLER_BROKER_DRAIN
                                           : CONTROLLER_TOPIC_CREATE;
    if (!bad && j->kind == CONTROLLER_PARTITION_ISR) bad = route_isr(o, &j->req);
    if (!bad && drain) {
        json_t *id = json_object_get(o, "leader");
        if (!json_is_integer(id) || json_integer_value(id) < 1 || json_integer_value(id) > UINT32_MAX)
            bad = "\"leader\" must be the node id of the broker stopping";
        else j->req.leader = (uint32_t)json_integer_value(id);
    }
    if (!bad && j->kind != CONTROLLER_TOPIC_REMOVE && j->kind != CONTROLLER_TOPIC_CONFIGS &&
        j->kind != CONTROLLER_PARTITION_ISR && !drain) {
        json_int_t n = json_is_integer(parts) ? json_integer_value(parts) : 0;
        if (n < 1 || n > 100000) bad = "\"partitions\" must be an integer in 1..100000";
        else j->req.partitions = (uint32_t)n;
    }
    if (!bad && (j->kind == CONTROLLER_TOPIC_CREATE || j->kind == CONTROLLER_TOPIC_CONFIGS)) {
        json_t *rf = json_object_get(o, "replication_factor");
        json_int_t rfn = !rf ? 1 : json_is_integer(rf) ? json_integer_value(rf) : 0;
        if (j->kind == CONTROLLER_TOPIC_CREATE && !route_hex_id(json_string_value(json_object_get(o, "id")), j->req.id))
            bad = "\"id\" must be 32 hex digits";
        else if (j->kind == CONTROLLER_TOPIC_CREATE && (rfn < 1 || rfn > CLUSTER_REPLICAS_MAX))
            bad = "\"replication_factor\" must be an integer in 1..7";
        else if (configs && !json_is_object(configs))
            bad = "\"configs\" must be an object of strings";
        else if (configs && json_object_size(configs) > CLUSTER_TOPIC_CONFIGS_MAX)
            bad = "too many configs";
        const char *key;
        json_t *v;
        if (!bad && configs) {
            json_object_foreach(configs, key, v) {
                const char *why = NULL;
                if (!json_is_string(v) || strlen(key) >= CLUSTER_CONFIG_KEY_MAX ||
                    strlen(json_string_value(v)) >= CLUSTER_CONFIG_VALUE_MAX) {
                    bad = "\"configs\" must be an object of strings";
                    break;
                }
                /* A stream's record chunk (stream.h) is hex, not a topic config. */
                const char *hv = json_string_value(v);
                if (streams_placed_key(key) ? strspn(hv, "0123456789abcdef") != strlen(hv) || strlen(hv) % 2
                                            : topics_config_check(key, hv, &why) != SL_OK) {
                    bad = why ? why : "invalid config";
                    break;
                }
                struct cluster_config *c = &j->req.configs[j->req.config_count++];
                snprintf(c->key, sizeof(c->key), "%s", key);
                snprintf(c->value, sizeof(c->value), "%s", json_string_value(v));
            }
        }
    }
    if (bad) {
        http_response_error(rs, 400, bad);
        free(j);
    } else {
        snprintf(j->req.name, sizeof(j->req.name), "%s", name ? name : "-");
        json_t *rf = json_object_get(o, "replication_factor");
        j->req.replication_factor = rf ? (uint32_t)json_integer_value(rf) : 1;
        j->w.run = route_job_run;
        j->w.done = route_job_done;
        j->b = b;
        j->pending = http_defer(rq);
        workers_submit(cs->workers, &j->w);
    }
    json_decref(o);
}

/* ---- start and stop ----------------------------------------------------------------------- */

/* The cluster id every broker of the cluster tells clients: derived from cluster_nodes (the same
 * list on every node, sorted by id) with XXH3, in cluster_meta's form. librdkafka warns about,
 * and Kafka clients distrust, brokers of one cluster reporting different ids; each broker's own
 * record keeps the id it had alone. */
static void cluster_id_derive(const struct cluster_nodes *n, char out[32]) {
    char norm[CLUSTER_NODES_MAX * (CLUSTER_ADDR_MAX + 16)] = "";
    for (uint32_t pass = 0, last = 0; pass < n->count; pass++) { /* ids rising (selection: few nodes) */
        const struct cluster_node *best = NULL;
        for (uint32_t i = 0; i < n->count; i++)
            if (n->nodes[i].id > last && (!best || n->nodes[i].id < best->id)) best = &n->nodes[i];
        if (!best) break;
        size_t at = strlen(norm);
        snprintf(norm + at, sizeof(norm) - at, "%u@%s,", best->id, best->address);
        last = best->id;
    }
    /* 22 bytes: the 128-bit hash and 6 of a second, seeded one. */
    XXH128_hash_t h = XXH3_128bits(norm, strlen(norm));
    uint64_t h2 = XXH3_64bits_withSeed(norm, strlen(norm), 1);
    uint8_t raw[CLUSTER_META_ID_BYTES];
    for (int i = 0; i < 8; i++) {
        raw[i] = (uint8_t)(h.low64 >> (8 * i));
        raw[8 + i] = (uint8_t)(h.high64 >> (8 * i));
    }
    for (int i = 0; i < 6; i++) raw[16 + i] = (uint8_t)(h2 >> (8 * i));
    cluster_meta_id_encode(raw, out);
}

struct cluster_sync *cluster_topics_start(struct broker *b) {
    struct cluster_sync *cs = sl_xcalloc(1, sizeof(*cs));
    cs->b = b;
    cs->status = sl_xcalloc(1, sizeof(*cs->status));
    cs->view.self_id = b->cfg.node_id;
    char id[32], why[160];
    struct cluster_nodes nodes = {0};
    if (cluster_nodes_parse(b->cfg.cluster_nodes, &nodes, why, sizeof(why)) != 0) nodes.count = 0; /* checked at load */
    cs->view.voters = nodes.count;
    cluster_id_derive(&nodes, id);
    SL_INFO("cluster: clients are told cluster id %s (derived from cluster_nodes; this broker's own is %s)", id,
            b->kafka.cluster.cluster_id);
    cluster_meta_set_id(&b->kafka.cluster, id);
    cluster_meta_node_range(&b->kafka.cluster, b->cfg.node_id);
    cs->view.ops = (struct cluster_view_ops){view_create, view_grow, view_remove, view_configs, view_alter_isr, cs};
    /* Two threads: a forward waits for the commit (milliseconds) while another arrives. */
    cs->workers = workers_new(&b->loop, 2, "cl-topics");
    cs->timer.fire = sync_tick;
    cs->replica = cluster_replica_start(b, &cs->view);
    sync_tick(&cs->timer, loop_mono_ms(&b->loop));
    http_server_route_admin(&b->http, "/v1/cluster/topics", HTTP_M_POST, false, route_topics, b);
    return cs;
}

const struct cluster_view *cluster_topics_view(const struct cluster_sync *cs) { return cs ? &cs->view : NULL; }

/* ---- controlled shutdown ------------------------------------------------------------------ */

/* Heap: a forward the stop stops waiting for still answers into it, and frees it then. */
struct drain_wait {
    struct cluster_sync *cs;
    bool answered;
    bool abandoned;
    sl_err err;
};

static void drain_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct drain_wait *dw = arg;
    (void)tp;
    if (err) SL_WARN("cluster: the controller did not move this broker's leaderships: %s", why ? why : sl_err_str(err));
    if (dw->abandoned) {
        free(dw);
        return;
    }
    dw->answered = true;
    dw->err = err;
}

/* Whether this broker still leads, or is in the ISR of, a replicated partition. */
static bool drain_holds(const struct cluster_sync *cs) {
    const struct cluster_topics *ts = &cs->view.topics;
    for (uint32_t i = 0; i < ts->count; i++)
        for (uint32_t p = 0; p < ts->v[i].partition_count; p++) {
            const struct cluster_part *cp = &ts->v[i].parts[p];
            if (cp->replica_count > 1 && cluster_part_in_isr(cp, cs->view.self_id)) return true;
        }
    return false;
}

static bool drain_finished(void *arg) {
    struct drain_wait *dw = arg;
    return dw->answered && (dw->err || !drain_holds(dw->cs));
}

void cluster_topics_drain(struct cluster_sync *cs, uint32_t wait_ms) {
    if (!cs || !cs->view.ready || !drain_holds(cs)) return;
    struct broker *b = cs->b;
    /* No controller known (the others are gone): nobody could move anything. */
    controller_status(b->cluster, cs->status);
    if (!cs->status->leader_id) {
        SL_INFO("cluster: no controller known: this broker's leaderships stay until it is fenced");
        return;
    }
    uint64_t t0 = loop_mono_ms(&b->loop);
    struct drain_wait *dw = sl_xcalloc(1, sizeof(*dw));
    dw->cs = cs;
    cluster_replica_quiesce(cs->replica);
    struct fwd *f = fwd_new(cs, CONTROLLER_BROKER_DRAIN, "-", drain_done, dw);
    f->req.leader = b->cfg.node_id;
    workers_submit(cs->workers, &f->w);
    /* The loop serves on meanwhile: the placement moves (50 ms polls), this broker's leader
     * partitions become followers and answer their waiting acks=all batches NOT_LEADER, which
     * sends the producers to the new leaders. */
    bool done = loop_run_until(&b->loop, drain_finished, dw, (int32_t)wait_ms);
    SL_INFO("cluster: leaderships and ISR places of this broker %s in %llu ms", done ? "moved" : "not all moved",
            (unsigned long long)(loop_mono_ms(&b->loop) - t0));
    if (dw->answered) free(dw);
    else dw->abandoned = true; /* its forward ends within its quick tries, at the latest at stop */
}

void cluster_topics_metrics(const struct cluster_sync *cs, struct prom *p) {
    if (!cs) return;
    prom_family(p, "sluice_cluster_topics_placed", "gauge", "Topics in this broker's copy of the cluster's placement.");
    prom_u64(p, "sluice_cluster_topics_placed", NULL, cs->view.topics.count);
    prom_family(p, "sluice_cluster_placement_generation", "gauge",
                "The generation of the placement table this broker holds (it rises with every topic change).");
    prom_u64(p, "sluice_cluster_placement_generation", NULL, cs->gen);
    prom_family(p, "sluice_cluster_topic_changes_total", "counter",
                "Topic changes this broker sent to the controller, by outcome: ok, refused (the controller "
                "said no), failed (no controller committed it).");
    prom_u64(p, "sluice_cluster_topic_changes_total", "outcome=\"ok\"", cs->changes_ok);
    prom_u64(p, "sluice_cluster_topic_changes_total", "outcome=\"refused\"", cs->changes_refused);
    prom_u64(p, "sluice_cluster_topic_changes_total", "outcome=\"failed\"", cs->changes_failed);
    prom_family(p, "sluice_cluster_isr_changes_total", "counter",
                "ISR changes this broker's partition leaders sent to the controller, by outcome: ok "
                "(committed), failed (refused as stale, or not committed).");
    prom_u64(p, "sluice_cluster_isr_changes_total", "outcome=\"ok\"", cs->isr_changes_ok);
    prom_u64(p, "sluice_cluster_isr_changes_total", "outcome=\"failed\"", cs->isr_changes_failed);
    prom_family(p, "sluice_cluster_local_copies_pending", "gauge",
                "Placed topics (or growths) this broker is still making its copy of.");
    prom_u64(p, "sluice_cluster_local_copies_pending", NULL, cs->local_jobs);
    cluster_replica_metrics(cs->replica, p);
}

void cluster_topics_stop(struct cluster_sync *cs) {
    if (!cs) return;
    atomic_store(&cs->stopping, true);
    /* The poll first: the loop turns below (the replica fetchers' last appends) must not run a
     * tick that sends a change into a pool that is closing. */
    if (loop_timer_armed(&cs->timer)) loop_timer_del(&cs->b->loop, &cs->timer);
    workers_free(cs->workers); /* every forward's done has run: some are waiters now */
    cluster_replica_stop(cs->replica); /* after: a leader's ISR change's done points into it */
    cs->replica = NULL;
    while (cs->waiters) {
        struct fwd *f = cs->waiters;
        cs->waiters = f->next;
        f->done(f->done_arg, SL_CLOSED, NULL, "the broker is shutting down");
        fwd_free(f);
    }
    cluster_view_free(&cs->view);
    free(cs->status);
    cs->status = NULL;
    /* Local creations still running end at topics_close, which calls sync_local_done. */
    cs->stopped = true;
    if (!cs->local_jobs) free(cs);
}
