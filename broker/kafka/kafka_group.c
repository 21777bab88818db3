/* kafka_group.c: the Kafka consumer-group APIs, glue between the wire (protocol/
 * kafka_msgs_group.h), the coordinator state machine (broker/group.h) and the durable offset
 * store (storage/offsets.h). This broker coordinates every group, or in a cluster those whose
 * offsets partition it leads (group_offsets.h).
 *
 * JoinGroup and SyncGroup park their request slot as the coordinator's opaque reply handle;
 * the coordinator answers through join_done/sync_done the moment the group decides. One loop
 * timer follows the registry's earliest deadline (sessions, join phases, initial delays).
 * OffsetCommit answers only once its batch in __consumer_offsets is durable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/partition.h"
#include "broker/kafka/group.h"
#include "broker/kafka/group_offsets.h"
#include "broker/kafka/placed_state.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "broker/kafka/txn_coordinator.h"
#include "protocol/kafka_msgs_group.h"
#include "storage/offsets.h"
#include "storage/store.h"

#define GROUP_ID_MAX 1024

/* The wire code of an error of the table (protocol/errors.h). */
static int16_t kcode(sl_err e) { return (int16_t)sl_err_kafka(e); }

static struct kstr kstr_of(const char *s) { return kafka_kstr(s); }
static struct span span_of(struct kstr s) { return (struct span){(const uint8_t *)s.p, (uint32_t)SL_MAX(s.len, 0)}; }
static struct kstr kstr_span(struct span s) { return (struct kstr){(const char *)s.p, (int32_t)s.len}; }

/* ---- the group timer ------------------------------------------------------------------------ */

static void groups_rearm(struct kafka_server *ks) {
    uint64_t next = group_registry_next_deadline(ks->groups);
    if (next == GROUP_NO_DEADLINE) loop_timer_del(ks->loop, &ks->group_timer);
    else loop_timer_add(ks->loop, &ks->group_timer, next);
}

static bool groups_may_expire(void *arg, const char *group) {
    struct kafka_server *ks = arg;
    struct group *g = group_registry_find(ks->groups, group);
    return !g || group_state(g) == GROUP_EMPTY || group_state(g) == GROUP_DEAD;
}

static void groups_on_timer(struct loop_timer *t, uint64_t now_ms) {
    struct kafka_server *ks = sl_container_of(t, struct kafka_server, group_timer);
    group_registry_tick(ks->groups, now_ms);
    groups_rearm(ks);
}

/* The group's offsets when this broker coordinates it (group_offsets.h), else NULL. */
static struct offsets *group_offs(struct kafka_server *ks, const char *gid) {
    return gid ? group_offsets_of(ks, gid, strlen(gid)) : NULL;
}

struct expiry_ctx {
    struct kafka_server *ks;
    uint64_t wall_ms;
    uint32_t n;
};

static void expire_one(void *arg, struct offsets *o) {
    struct expiry_ctx *c = arg;
    c->n += offsets_expire(o, c->wall_ms, c->ks->cfg->offsets_retention_ms, groups_may_expire, c->ks);
}

/* Offsets of empty groups expire; checked with the store's retention cadence. */
static void groups_expiry_hook(void *arg, struct loop_time now) {
    struct kafka_server *ks = arg;
    if (now.mono_ms - ks->last_offsets_expiry_ms < ks->cfg->retention_check_ms) return;
    ks->last_offsets_expiry_ms = now.mono_ms;
    /* Commit times are wall timestamps, so their age is measured on the wall clock. */
    struct expiry_ctx c = {ks, now.wall_ms, 0};
    group_offsets_each(ks, expire_one, &c);
    if (c.n) SL_INFO("offsets: expired %u committed offsets of empty groups", c.n);
}

/* ---- coordinator callbacks ------------------------------------------------------------------- */

static void group_join_done(void *arg, void *reply, const struct group_join_result *res) {
    (void)arg;
    struct kreq *q = reply;
    struct kafka_join_group_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.error_code = kcode(res->error);
    resp.generation_id = res->generation;
    resp.protocol_type = res->protocol_type ? kstr_of(res->protocol_type) : (struct kstr){NULL, -1};
    resp.protocol_name = res->protocol_name ? kstr_of(res->protocol_name) : (struct kstr){NULL, -1};
    if (q->version < 7 && resp.protocol_name.len < 0) resp.protocol_name = kstr_of("");
    resp.leader = kstr_of(res->leader_id ? res->leader_id : "");
    resp.member_id = kstr_of(res->member_id ? res->member_id : "");
    struct kafka_join_group_member *members = NULL;
    if (res->member_count > 0) {
        members = sl_xcalloc((size_t)res->member_count, sizeof(*members));
        for (int32_t i = 0; i < res->member_count; i++) {
            members[i].member_id = kstr_of(res->members[i].member_id);
            members[i].group_instance_id =
                res->members[i].instance_id ? kstr_of(res->members[i].instance_id) : (struct kstr){NULL, -1};
            members[i].metadata = kstr_span(res->members[i].metadata);
        }
    }
    resp.members = members;
    resp.member_count = res->member_count;
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_join_group_resp(&w, q->version, &resp);
    free(members);
    kresp_finish(q, &w);
}

static void group_sync_done(void *arg, void *reply, const struct group_sync_result *res) {
    (void)arg;
    struct kreq *q = reply;
    struct kafka_sync_group_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.error_code = kcode(res->error);
    resp.protocol_type = res->protocol_type ? kstr_of(res->protocol_type) : (struct kstr){NULL, -1};
    resp.protocol_name = res->protocol_name ? kstr_of(res->protocol_name) : (struct kstr){NULL, -1};
    resp.assignment = kstr_span(res->assignment);
    if (!resp.assignment.p) resp.assignment = (struct kstr){"", 0};
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_sync_group_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
}

static void group_park_cancel(struct kreq *q) {
    struct group *g = q->park;
    struct kafka_server *ks = q->kc->ks;
    /* The group may have been deleted; only cancel through a live registry entry. */
    for (uint32_t i = 0; i < group_registry_count(ks->groups); i++)
        if (group_registry_at(ks->groups, i) == g) group_cancel_reply(g, q);
    q->park = NULL;
    q->park_cancel = NULL;
    q->ready = true;
}

/* The group's state goes to __consumer_offsets beside its offsets (no waiter: a crash before it
 * is durable costs the members one rebalance after the restart, nothing else). */
static void group_changed(void *arg, struct group *g) {
    struct kafka_server *ks = arg;
    struct offsets *o = group_offs(ks, group_id(g));
    if (!o) return;
    struct kw w;
    kw_init(&w, 256);
    if (group_encode_state(g, &w) &&
        offsets_store_group(o, group_id(g), w.p, (uint32_t)w.len, loop_now_ms(ks->loop), NULL) != SL_OK)
        SL_WARN("group %s: its state was not stored: a restart will rebalance it", group_id(g));
    kw_free(&w);
}

static void group_restore_one(void *arg, const char *group, const uint8_t *state, uint32_t len) {
    struct kafka_server *ks = arg;
    if (!group_registry_restore(ks->groups, group, state, len, loop_mono_ms(ks->loop)))
        SL_WARN("group %s: its stored state is malformed: it starts Empty", group);
}

sl_err kafka_groups_start(struct kafka_server *ks) {
    struct group_config gc;
    group_config_defaults(&gc);
    gc.initial_rebalance_delay_ms = ks->cfg->group_initial_rebalance_delay_ms;
    gc.min_session_timeout_ms = ks->cfg->group_min_session_timeout_ms;
    gc.max_session_timeout_ms = ks->cfg->group_max_session_timeout_ms;
    gc.stats = &ks->group_stats;
    const struct group_ops ops = {group_join_done, group_sync_done, ks, group_changed};
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) seed = loop_clock_ms();
    ks->groups = group_registry_create(&gc, &ops, seed);
    ks->group_timer.fire = groups_on_timer;
    ks->last_offsets_expiry_ms = loop_mono_ms(ks->loop);
    if (group_offsets_placed(ks)) {
        group_offsets_start(ks); /* loads partitions as this broker comes to lead them */
    } else {
        sl_err e = offsets_open(&ks->offsets, ks->store, loop_now_ms(ks->loop));
        if (e) return e;
        offsets_group_states(ks->offsets, group_restore_one, ks);
    }
    loop_add_before_sleep(ks->loop, groups_expiry_hook, ks);
    groups_rearm(ks);
    return SL_OK;
}

void kafka_groups_stop(struct kafka_server *ks) {
    loop_timer_del(ks->loop, &ks->group_timer);
    group_offsets_stop(ks);
    if (ks->groups) group_registry_destroy(ks->groups);
    ks->groups = NULL;
    if (ks->offsets) offsets_close(ks->offsets);
    ks->offsets = NULL;
    loop_remove_before_sleep(ks->loop, ks);
}

static bool group_id_ok(struct kstr id) { return id.len > 0 && id.len <= GROUP_ID_MAX; }

/* ACLs (kafka_acl.c): the op on the group, or GROUP_AUTHORIZATION_FAILED. */
static bool group_allowed(struct kconn *kc, int8_t op, struct kstr group) {
    return kafka_authorized(kc, op, KAFKA_RES_GROUP, group);
}

/* FindCoordinator needs DESCRIBE on the group (key type 0) or the transactional id (1). */
static sl_err coordinator_denied(struct kconn *kc, int8_t key_type, struct kstr key) {
    if (key_type == 1)
        return kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TRANSACTIONAL_ID, key) ? SL_OK
                                                                                          : SL_TRANSACTIONAL_ID_AUTHORIZATION;
    return group_allowed(kc, KAFKA_OP_DESCRIBE, key) ? SL_OK : SL_GROUP_AUTHORIZATION;
}

/* ---- FindCoordinator ----------------------------------------------------------------------------- */

/* Where key's coordinator is: this broker, or in a cluster the leader of the key's partition of
 * the replicated offsets (a group, group_offsets.h) or transaction state (a transactional id,
 * kafka_txn.c). SL_COORDINATOR_NOT_AVAILABLE: none yet. */
static sl_err coordinator_place(struct kafka_server *ks, int8_t key_type, struct kstr key, int32_t *node,
                                struct kstr *host, int32_t *port) {
    *node = ks->node_id;
    *host = kstr_of(ks->advertised_host);
    *port = ks->advertised_port;
    if (!ks->view) return SL_OK;
    const char *k = key.p ? key.p : "";
    size_t len = key.len > 0 ? (size_t)key.len : 0;
    uint32_t id;
    if (key_type == 0) {
        int32_t leader;
        sl_err e = group_offsets_coordinator(ks, k, len, &leader);
        if (e) return e;
        id = (uint32_t)leader;
    } else if (ks->txn_state) {
        int32_t leader;
        sl_err e = placed_state_leader(ks->txn_state, k, len, &leader);
        if (e) return e;
        id = (uint32_t)leader;
    } else {
        id = cluster_view_coordinator(ks->view, k, len);
    }
    const struct cluster_view_broker *vb = cluster_view_broker(ks->view, id);
    if (!vb || vb->id == (uint32_t)ks->node_id) return SL_OK;
    *node = (int32_t)vb->id;
    *host = kstr_of(vb->host);
    *port = vb->port;
    return SL_OK;
}

/* Whether this broker coordinates the group now (always, outside a cluster). */
static bool coordinates(struct kafka_server *ks, struct kstr group) {
    return group_offsets_of(ks, group.p ? group.p : "", group.len > 0 ? (size_t)group.len : 0) != NULL;
}

sl_err kafka_handle_find_coordinator(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_find_coordinator_req req;
    sl_err e = kafka_decode_find_coordinator(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct kafka_find_coordinator_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.error_message = (struct kstr){NULL, -1};
    /* Groups (key type 0) and transactional ids (1) alike: this node coordinates them all, or,
     * in a cluster, coordinator_place says which. */
    if (q->version < 4) {
        sl_err err = coordinator_denied(kc, req.key_type, req.key);
        if (!err) err = coordinator_place(ks, req.key_type, req.key, &resp.node_id, &resp.host, &resp.port);
        if (err) {
            resp.error_code = kcode(err);
            resp.node_id = -1;
            resp.host = kstr_of("");
            resp.port = -1;
        }
    } else {
        resp.coordinator_count = req.coordinator_key_count;
        resp.coordinators = kafka_alloc_array(&kc->arena, req.coordinator_key_count, sizeof(*resp.coordinators));
        for (int32_t i = 0; i < req.coordinator_key_count; i++) {
            struct kafka_find_coordinator_coordinator *c = &resp.coordinators[i];
            c->key = req.coordinator_keys[i];
            c->error_message = (struct kstr){NULL, -1};
            sl_err err = coordinator_denied(kc, req.key_type, c->key);
            if (!err) err = coordinator_place(ks, req.key_type, c->key, &c->node_id, &c->host, &c->port);
            if (err) {
                c->error_code = kcode(err);
                c->node_id = -1;
                c->host = kstr_of("");
                c->port = -1;
            }
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_find_coordinator_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- JoinGroup / SyncGroup / Heartbeat / LeaveGroup ------------------------------------------------ */

static void group_error_join(struct kreq *q, sl_err err, struct kstr member_id) {
    struct group_join_result res;
    memset(&res, 0, sizeof(res));
    res.error = err;
    res.generation = -1;
    res.leader_id = "";
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", SL_MAX(member_id.len, 0), member_id.p ? member_id.p : "");
    res.member_id = buf;
    group_join_done(NULL, q, &res);
}

sl_err kafka_handle_join_group(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_join_group_req req;
    sl_err e = kafka_decode_join_group(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    if (!group_allowed(kc, KAFKA_OP_READ, req.group_id)) {
        group_error_join(q, SL_GROUP_AUTHORIZATION, req.member_id);
        return SL_OK;
    }
    if (!group_id_ok(req.group_id)) {
        group_error_join(q, SL_INVALID_GROUP_ID, req.member_id);
        return SL_OK;
    }
    if (!coordinates(ks, req.group_id)) { /* the client finds the coordinator again */
        group_error_join(q, SL_NOT_COORDINATOR, req.member_id);
        return SL_OK;
    }
    if (req.reason.len > 0) /* KIP-800 (v8+): for the operator, as Kafka logs it */
        SL_DEBUG("group %.*s: member %.*s joins: %.*s", (int)SL_MIN(req.group_id.len, 255), req.group_id.p,
                 (int)SL_MIN(req.member_id.len, 255), req.member_id.p, (int)SL_MIN(req.reason.len, 255),
                 req.reason.p);
    struct group_protocol *protos = karena_alloc(a, sizeof(*protos) * (size_t)SL_MAX(req.protocol_count, 1));
    for (int32_t i = 0; i < req.protocol_count; i++) {
        protos[i].name = kafka_arena_cstr(a, req.protocols[i].name);
        protos[i].metadata = span_of(req.protocols[i].metadata);
    }
    char host[80];
    snprintf(host, sizeof(host), "/%s", kc->c ? kc->c->peer : "");
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    struct group_join_req jr = {
        .version = q->version,
        .member_id = kafka_arena_cstr(a, req.member_id),
        .instance_id = kafka_arena_cstr(a, req.group_instance_id),
        .client_id = kafka_arena_cstr(a, q->client_id),
        .client_host = host,
        .protocol_type = kafka_arena_cstr(a, req.protocol_type),
        .session_timeout_ms = req.session_timeout_ms,
        .rebalance_timeout_ms = req.rebalance_timeout_ms,
        .protocols = protos,
        .protocol_count = req.protocol_count,
    };
    struct group *g = group_registry_get(ks->groups, kafka_arena_cstr(a, req.group_id));
    q->park = g;
    q->park_cancel = group_park_cancel;
    group_join(g, &jr, q, loop_mono_ms(ks->loop));
    groups_rearm(ks);
    return SL_OK;
}

sl_err kafka_handle_sync_group(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_sync_group_req req;
    sl_err e = kafka_decode_sync_group(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    bool allowed = group_allowed(kc, KAFKA_OP_READ, req.group_id);
    struct group *g = allowed && group_id_ok(req.group_id) ? group_registry_find(ks->groups, kafka_arena_cstr(a, req.group_id)) : NULL;
    if (!g) {
        sl_err why = !allowed                                                 ? SL_GROUP_AUTHORIZATION
                     : group_id_ok(req.group_id) && !coordinates(ks, req.group_id) ? SL_NOT_COORDINATOR
                                                                              : SL_UNKNOWN_MEMBER_ID;
        struct group_sync_result res = {why, NULL, NULL, {NULL, 0}};
        group_sync_done(NULL, q, &res);
        return SL_OK;
    }
    struct group_assignment *as = karena_alloc(a, sizeof(*as) * (size_t)SL_MAX(req.assignment_count, 1));
    for (int32_t i = 0; i < req.assignment_count; i++) {
        as[i].member_id = kafka_arena_cstr(a, req.assignments[i].member_id);
        as[i].assignment = span_of(req.assignments[i].assignment);
    }
    struct group_sync_req sr = {
        .member_id = kafka_arena_cstr(a, req.member_id),
        .instance_id = kafka_arena_cstr(a, req.group_instance_id),
        .generation = req.generation_id,
        .protocol_type = kafka_arena_cstr(a, req.protocol_type),
        .protocol_name = kafka_arena_cstr(a, req.protocol_name),
        .assignments = as,
        .assignment_count = SL_MAX(req.assignment_count, 0),
    };
    q->park = g;
    q->park_cancel = group_park_cancel;
    group_sync(g, &sr, q, loop_mono_ms(ks->loop));
    groups_rearm(ks);
    return SL_OK;
}

sl_err kafka_handle_heartbeat(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_heartbeat_req req;
    sl_err e = kafka_decode_heartbeat(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    bool allowed = group_allowed(kc, KAFKA_OP_READ, req.group_id);
    struct kafka_heartbeat_resp resp = {0, kcode(allowed ? SL_UNKNOWN_MEMBER_ID : SL_GROUP_AUTHORIZATION)};
    struct group *g = allowed && group_id_ok(req.group_id) ? group_registry_find(ks->groups, kafka_arena_cstr(a, req.group_id)) : NULL;
    if (g) {
        resp.error_code = kcode(group_heartbeat(g, kafka_arena_cstr(a, req.member_id),
                                                kafka_arena_cstr(a, req.group_instance_id), req.generation_id,
                                                loop_mono_ms(ks->loop)));
        groups_rearm(ks);
    } else if (allowed && group_id_ok(req.group_id) && !coordinates(ks, req.group_id)) {
        resp.error_code = kcode(SL_NOT_COORDINATOR); /* the group moved: the member finds it again */
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_heartbeat_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

sl_err kafka_handle_leave_group(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_leave_group_req req;
    sl_err e = kafka_decode_leave_group(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    int32_t n = q->version >= 3 ? SL_MAX(req.member_count, 0) : 1;
    struct group_member_ident *ids = karena_alloc(a, sizeof(*ids) * (size_t)SL_MAX(n, 1));
    sl_err *errs = karena_alloc(a, sizeof(*errs) * (size_t)SL_MAX(n, 1));
    if (q->version >= 3) {
        for (int32_t i = 0; i < n; i++) {
            ids[i].member_id = kafka_arena_cstr(a, req.members[i].member_id);
            ids[i].instance_id = kafka_arena_cstr(a, req.members[i].group_instance_id);
            /* KIP-800: the client's reason is for the operator, as Kafka logs it. */
            const struct kstr why = req.members[i].reason;
            if (why.len > 0)
                SL_DEBUG("group %.*s: member %.*s leaves: %.*s", (int)SL_MIN(req.group_id.len, 255), req.group_id.p,
                         (int)SL_MIN(req.members[i].member_id.len, 255), req.members[i].member_id.p,
                         (int)SL_MIN(why.len, 255), why.p);
        }
    } else {
        ids[0].member_id = kafka_arena_cstr(a, req.member_id);
    }
    struct kafka_leave_group_resp resp;
    memset(&resp, 0, sizeof(resp));
    bool allowed = group_allowed(kc, KAFKA_OP_READ, req.group_id);
    struct group *g = allowed && group_id_ok(req.group_id) ? group_registry_find(ks->groups, kafka_arena_cstr(a, req.group_id)) : NULL;
    if (!allowed) {
        resp.error_code = kcode(SL_GROUP_AUTHORIZATION);
        n = 0;
    } else if (g) {
        resp.error_code = kcode(group_leave(g, ids, n, errs, loop_mono_ms(ks->loop)));
        groups_rearm(ks);
    } else {
        sl_err why = group_id_ok(req.group_id) && !coordinates(ks, req.group_id) ? SL_NOT_COORDINATOR
                                                                                 : SL_UNKNOWN_MEMBER_ID;
        resp.error_code = kcode(why);
        for (int32_t i = 0; i < n; i++) errs[i] = why;
    }
    if (q->version >= 3) {
        resp.member_count = n;
        resp.members = kafka_alloc_array(a, n, sizeof(*resp.members));
        for (int32_t i = 0; i < n; i++) {
            resp.members[i].member_id = req.members[i].member_id;
            resp.members[i].group_instance_id = req.members[i].group_instance_id;
            resp.members[i].error_code = kcode(errs[i]);
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_leave_group_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- OffsetCommit ---------------------------------------------------------------------------------- */

struct commit_park {
    struct log_waiter w;
    struct kafka_server *ks;
    struct kreq *q;
    struct kafka_offset_commit_resp resp; /* malloc'ed: the arena is reused by later requests */
    char *names;
};

static void commit_answer(struct commit_park *cp, sl_err err) {
    if (err) {
        /* Kafka's mapping of a failed append to __consumer_offsets: the replicas' errors send the
         * client to FindCoordinator again. */
        sl_err as = err == SL_IO || err == SL_NO_SPACE                         ? err
                    : err == SL_NOT_LEADER                                     ? SL_NOT_COORDINATOR
                    : err == SL_NOT_ENOUGH_REPLICAS || err == SL_REQUEST_TIMED_OUT ? SL_COORDINATOR_NOT_AVAILABLE
                                                                               : SL_UNKNOWN_SERVER;
        int16_t code = (int16_t)sl_err_kafka(as);
        for (int32_t t = 0; t < cp->resp.topic_count; t++)
            for (int32_t i = 0; i < cp->resp.topics[t].partition_count; i++)
                if (cp->resp.topics[t].partitions[i].error_code == 0) cp->resp.topics[t].partitions[i].error_code = code;
    }
    struct kw w;
    kresp_begin(cp->q, &w);
    kafka_encode_offset_commit_resp(&w, cp->q->version, &cp->resp);
    for (int32_t t = 0; t < cp->resp.topic_count; t++) free(cp->resp.topics[t].partitions);
    free(cp->resp.topics);
    free(cp->names);
    kresp_finish(cp->q, &w);
    free(cp);
}

/* Work-queue retention (sluice.retention.policy=workqueue): once a commit is durable, each
 * committed partition's log start moves up to the lowest offset any group has committed
 * there, and whole segments below it go. After durability, so a crash never leaves records
 * deleted under a commit that was lost. Costs the partition's groups, per partition. */
static void commit_workqueue(struct kafka_server *ks, const struct kafka_offset_commit_resp *resp) {
    /* In a cluster the groups' offsets are spread over the coordinators: no broker knows the
     * lowest, so nothing is deleted for them (README, Not built yet). */
    if (group_offsets_placed(ks)) return;
    for (int32_t t = 0; t < resp->topic_count; t++) {
        const struct kafka_offset_commit_topic_resp *tr = &resp->topics[t];
        struct topic *tp = topics_get(ks->topics, tr->name.p, tr->name.len);
        if (!tp || !tp->group_workqueue || tp->stream_rec) continue;
        for (int32_t i = 0; i < tr->partition_count; i++) {
            if (tr->partitions[i].error_code) continue;
            int32_t p = tr->partitions[i].partition_index;
            struct partition *part = topic_partition(tp, p);
            int64_t floor = offsets_min_for_partition(ks->offsets, tr->name.p, tr->name.len, p, NULL);
            if (!part || floor <= 0) continue;
            sl_err e = partition_delete_before(part, floor);
            if (e) SL_WARN("%s-%d: work-queue retention: %s", tp->name, p, sl_err_str(e));
        }
    }
}

static void commit_durable(struct log_waiter *w, sl_err err) {
    struct commit_park *cp = (struct commit_park *)w;
    if (!err) commit_workqueue(cp->ks, &cp->resp);
    commit_answer(cp, err);
}

sl_err kafka_handle_offset_commit(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_offset_commit_req req;
    sl_err e = kafka_decode_offset_commit(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    uint64_t now = loop_now_ms(ks->loop);
    const char *group_id = kafka_arena_cstr(a, req.group_id);
    struct offsets *o = group_offs(ks, group_id);
    sl_err group_err = !group_allowed(kc, KAFKA_OP_READ, req.group_id) ? SL_GROUP_AUTHORIZATION
                       : !group_id_ok(req.group_id)                    ? SL_INVALID_GROUP_ID
                       : !o                                            ? SL_NOT_COORDINATOR
                                                                       : SL_OK;
    if (!group_err) {
        struct group *g = group_registry_find(ks->groups, group_id);
        if (g) {
            group_err = group_check_commit(g, kafka_arena_cstr(a, req.member_id), kafka_arena_cstr(a, req.group_instance_id),
                                           req.generation_id_or_member_epoch, loop_mono_ms(ks->loop));
        } else if (req.generation_id_or_member_epoch >= 0) {
            group_err = SL_ILLEGAL_GENERATION; /* a member commit for a group that has no members */
        }
    }
    struct commit_park *cp = sl_xcalloc(1, sizeof(*cp));
    cp->q = q;
    cp->ks = ks;
    cp->w.done = commit_durable;
    size_t names = 0;
    int32_t total = 0;
    for (int32_t t = 0; t < req.topic_count; t++) {
        names += (size_t)SL_MAX(req.topics[t].name.len, 0) + 1;
        total += req.topics[t].partition_count;
    }
    cp->names = sl_xmalloc(names ? names : 1);
    cp->resp.topic_count = req.topic_count;
    cp->resp.topics = sl_xcalloc((size_t)SL_MAX(req.topic_count, 1), sizeof(*cp->resp.topics));
    struct offset_commit *commits = karena_alloc(a, sizeof(*commits) * (size_t)SL_MAX(total, 1));
    uint32_t n = 0;
    char *at = cp->names;
    for (int32_t t = 0; t < req.topic_count; t++) {
        const struct kafka_offset_commit_topic *rt = &req.topics[t];
        struct kafka_offset_commit_topic_resp *tr = &cp->resp.topics[t];
        memcpy(at, rt->name.p, (size_t)SL_MAX(rt->name.len, 0));
        tr->name = (struct kstr){at, rt->name.len};
        at += SL_MAX(rt->name.len, 0) + 1;
        tr->partition_count = rt->partition_count;
        tr->partitions = sl_xcalloc((size_t)SL_MAX(rt->partition_count, 1), sizeof(*tr->partitions));
        struct topic *tp = kafka_topic_visible(ks, rt->name.p, rt->name.len);
        bool topic_denied = !group_err && !kafka_authorized(kc, KAFKA_OP_READ, KAFKA_RES_TOPIC, rt->name);
        for (int32_t i = 0; i < rt->partition_count; i++) {
            const struct kafka_offset_commit_partition *rp = &rt->partitions[i];
            tr->partitions[i].partition_index = rp->partition_index;
            if (group_err) {
                tr->partitions[i].error_code = kcode(group_err);
            } else if (topic_denied) {
                tr->partitions[i].error_code = kcode(SL_TOPIC_AUTHORIZATION);
            } else if (!tp || rp->partition_index < 0 || rp->partition_index >= tp->partition_count) {
                tr->partitions[i].error_code = kcode(SL_NO_PARTITION);
            } else {
                commits[n++] = (struct offset_commit){rt->name.p, rt->name.len, rp->partition_index,
                                                      rp->committed_offset, rp->committed_leader_epoch,
                                                      rp->committed_metadata.p, rp->committed_metadata.len, false};
            }
        }
    }
    if (n == 0) {
        commit_answer(cp, SL_OK);
        return SL_OK;
    }
    e = offsets_commit(o, group_id, commits, n, now, &cp->w);
    if (e) commit_answer(cp, e);
    return SL_OK;
}

/* ---- OffsetFetch ------------------------------------------------------------------------------------ */

struct fetch_all_ctx {
    struct karena *a;
    struct kafka_offset_fetch_topic_resp *topics;
    int32_t count, cap;
};

static void offset_fetch_all_cb(void *arg, const char *topic, int32_t partition, const struct offset_value *v) {
    struct fetch_all_ctx *c = arg;
    struct kafka_offset_fetch_topic_resp *t = NULL;
    for (int32_t i = 0; i < c->count && !t; i++)
        if (c->topics[i].name.len == (int32_t)strlen(topic) && !memcmp(c->topics[i].name.p, topic, strlen(topic)))
            t = &c->topics[i];
    if (!t) {
        if (c->count == c->cap) {
            int32_t cap = c->cap ? c->cap * 2 : 8;
            struct kafka_offset_fetch_topic_resp *n = karena_alloc(c->a, sizeof(*n) * (size_t)cap);
            if (c->count) memcpy(n, c->topics, sizeof(*n) * (size_t)c->count);
            c->topics = n;
            c->cap = cap;
        }
        t = &c->topics[c->count++];
        memset(t, 0, sizeof(*t));
        t->name = kafka_arena_kstr(c->a, topic);
    }
    struct kafka_offset_fetch_partition_resp *np =
        karena_alloc(c->a, sizeof(*np) * (size_t)(t->partition_count + 1));
    if (t->partition_count) memcpy(np, t->partitions, sizeof(*np) * (size_t)t->partition_count);
    struct kafka_offset_fetch_partition_resp *p = &np[t->partition_count++];
    t->partitions = np;
    p->partition_index = partition;
    p->committed_offset = v->offset;
    p->committed_leader_epoch = v->leader_epoch;
    p->metadata = (struct kstr){NULL, -1};
    if (v->metadata) {
        char *md = karena_alloc(c->a, (size_t)v->metadata_len + 1);
        memcpy(md, v->metadata, (size_t)v->metadata_len + 1);
        p->metadata = (struct kstr){md, v->metadata_len};
    }
}

/* require_stable (KIP-447): a partition with an offset pending in a transaction answers
 * UNSTABLE_OFFSET_COMMIT, and the consumer asks again once the transaction is over. */
struct unstable_ctx {
    const char *gid;
    struct kafka_offset_fetch_topic_resp *topics;
    int32_t topic_count;
};

static void offset_fetch_unstable_in(void *arg, struct txn_coordinator *tc) {
    struct unstable_ctx *c = arg;
    struct txn_coord *sm = txn_coordinator_state(tc);
    for (int32_t t = 0; t < c->topic_count; t++) {
        for (int32_t i = 0; i < c->topics[t].partition_count; i++) {
            struct kafka_offset_fetch_partition_resp *p = &c->topics[t].partitions[i];
            if (!txn_offset_pending(sm, c->gid, c->topics[t].name.p, c->topics[t].name.len, p->partition_index))
                continue;
            p->error_code = kcode(SL_UNSTABLE_OFFSET_COMMIT);
            p->committed_offset = -1;
            p->committed_leader_epoch = -1;
        }
    }
}

/* Over every transaction coordinator here: the group's transactions are on this broker (a
 * transaction's offsets need both coordinators on one: AddOffsetsToTxn). */
static void offset_fetch_unstable(struct kafka_server *ks, const char *gid, struct kafka_offset_fetch_topic_resp *topics,
                                  int32_t topic_count) {
    if (!gid) return;
    struct unstable_ctx c = {gid, topics, topic_count};
    kafka_txns_each(ks, offset_fetch_unstable_in, &c);
    /* And offsets staged in the group's log by a transaction another broker coordinates. */
    struct offsets *o = group_offs(ks, gid);
    for (int32_t t = 0; o && t < topic_count; t++)
        for (int32_t i = 0; i < topics[t].partition_count; i++) {
            struct kafka_offset_fetch_partition_resp *p = &topics[t].partitions[i];
            if (!offsets_txn_pending(o, gid, topics[t].name.p, topics[t].name.len, p->partition_index)) continue;
            p->error_code = kcode(SL_UNSTABLE_OFFSET_COMMIT);
            p->committed_offset = -1;
            p->committed_leader_epoch = -1;
        }
}

/* SL_NOT_COORDINATOR when another broker coordinates the group: then named topics answer it per
 * partition (v0-1 have no group-level code). */
static sl_err offset_fetch_group(struct kafka_server *ks, struct karena *a, struct kstr group_id,
                                 const struct kafka_offset_fetch_topic *topics, int32_t topic_count, bool require_stable,
                                 struct kafka_offset_fetch_topic_resp **out, int32_t *out_count) {
    const char *gid = kafka_arena_cstr(a, group_id);
    struct offsets *o = group_offs(ks, gid ? gid : "");
    if (topic_count < 0) {
        struct fetch_all_ctx c = {a, NULL, 0, 0};
        if (o) offsets_for_group(o, gid ? gid : "", offset_fetch_all_cb, &c);
        *out = c.topics;
        *out_count = c.count;
        if (require_stable) offset_fetch_unstable(ks, gid, *out, *out_count);
        return o ? SL_OK : SL_NOT_COORDINATOR;
    }
    *out_count = topic_count;
    *out = kafka_alloc_array(a, topic_count, sizeof(**out));
    for (int32_t t = 0; t < topic_count; t++) {
        struct kafka_offset_fetch_topic_resp *tr = &(*out)[t];
        tr->name = topics[t].name;
        tr->partition_count = topics[t].partition_index_count;
        tr->partitions = kafka_alloc_array(a, tr->partition_count, sizeof(*tr->partitions));
        for (int32_t i = 0; i < tr->partition_count; i++) {
            struct kafka_offset_fetch_partition_resp *p = &tr->partitions[i];
            p->partition_index = topics[t].partition_indexes[i];
            const struct offset_value *v = gid && o ? offsets_get(o, gid, topics[t].name.p, topics[t].name.len,
                                                                  p->partition_index)
                                                    : NULL;
            if (!o) p->error_code = kcode(SL_NOT_COORDINATOR);
            p->committed_offset = v ? v->offset : -1;
            p->committed_leader_epoch = v ? v->leader_epoch : -1;
            p->metadata = v && v->metadata ? (struct kstr){v->metadata, v->metadata_len} : kstr_of("");
        }
    }
    if (require_stable) offset_fetch_unstable(ks, gid, *out, *out_count);
    return o ? SL_OK : SL_NOT_COORDINATOR;
}

/* ACLs: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED and no topics), and on each
 * topic: one asked for by name answers TOPIC_AUTHORIZATION_FAILED, and "all topics" leaves it
 * out, as Kafka. */
static sl_err offset_fetch_authorize(struct kconn *kc, struct kstr group, bool all,
                                     struct kafka_offset_fetch_topic_resp **topics, int32_t *count) {
    if (!group_allowed(kc, KAFKA_OP_DESCRIBE, group)) {
        *topics = NULL;
        *count = 0;
        return SL_GROUP_AUTHORIZATION;
    }
    int32_t kept = 0;
    for (int32_t t = 0; t < *count; t++) {
        struct kafka_offset_fetch_topic_resp *tr = &(*topics)[t];
        if (kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, tr->name)) {
            (*topics)[kept++] = *tr;
            continue;
        }
        if (all) continue;
        for (int32_t i = 0; i < tr->partition_count; i++) {
            tr->partitions[i].error_code = kcode(SL_TOPIC_AUTHORIZATION);
            tr->partitions[i].committed_offset = -1;
            tr->partitions[i].committed_leader_epoch = -1;
            tr->partitions[i].metadata = kstr_of("");
        }
        (*topics)[kept++] = *tr;
    }
    *count = kept;
    return SL_OK;
}

sl_err kafka_handle_offset_fetch(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_offset_fetch_req req;
    sl_err e = kafka_decode_offset_fetch(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct karena *a = &kc->arena;
    struct kafka_offset_fetch_resp resp;
    memset(&resp, 0, sizeof(resp));
    if (q->version < 8) {
        sl_err coord = offset_fetch_group(kc->ks, a, req.group_id, req.topics, req.topic_count, req.require_stable,
                                          &resp.topics, &resp.topic_count);
        sl_err auth = offset_fetch_authorize(kc, req.group_id, req.topic_count < 0, &resp.topics, &resp.topic_count);
        resp.error_code = kcode(auth ? auth : coord);
    } else {
        resp.group_count = req.group_count;
        resp.groups = kafka_alloc_array(a, req.group_count, sizeof(*resp.groups));
        for (int32_t i = 0; i < req.group_count; i++) {
            resp.groups[i].group_id = req.groups[i].group_id;
            sl_err coord = offset_fetch_group(kc->ks, a, req.groups[i].group_id, req.groups[i].topics,
                                              req.groups[i].topic_count, req.require_stable, &resp.groups[i].topics,
                                              &resp.groups[i].topic_count);
            sl_err auth = offset_fetch_authorize(kc, req.groups[i].group_id, req.groups[i].topic_count < 0,
                                                 &resp.groups[i].topics, &resp.groups[i].topic_count);
            resp.groups[i].error_code = kcode(auth ? auth : coord);
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_offset_fetch_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* ---- DescribeGroups / ListGroups / DeleteGroups / OffsetDelete ------------------------------------ */

sl_err kafka_handle_describe_groups(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_describe_groups_req req;
    sl_err e = kafka_decode_describe_groups(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct karena *a = &kc->arena;
    struct kafka_describe_groups_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.group_count = req.group_count;
    resp.groups = kafka_alloc_array(a, req.group_count, sizeof(*resp.groups));
    for (int32_t i = 0; i < req.group_count; i++) {
        struct kafka_describe_groups_group *out = &resp.groups[i];
        out->group_id = req.groups[i];
        out->authorized_operations =
            req.include_authorized_operations ? kafka_authorized_ops(kc, KAFKA_RES_GROUP, req.groups[i], KAFKA_OPS_GROUP)
                                              : INT32_MIN;
        const char *gid = kafka_arena_cstr(a, req.groups[i]);
        if (!group_allowed(kc, KAFKA_OP_DESCRIBE, req.groups[i])) {
            out->error_code = kcode(SL_GROUP_AUTHORIZATION);
            out->group_state = out->protocol_type = out->protocol_data = kstr_of("");
            continue;
        }
        struct offsets *o = group_offs(kc->ks, gid);
        if (!o) {
            out->error_code = kcode(SL_NOT_COORDINATOR);
            out->group_state = out->protocol_type = out->protocol_data = kstr_of("");
            continue;
        }
        struct group *g = gid ? group_registry_find(kc->ks->groups, gid) : NULL;
        if (!g) {
            /* Kafka: an unknown group is described as Dead (or Empty if it has offsets). */
            out->group_state = kstr_of(gid && offsets_group_known(o, gid) ? "Empty" : "Dead");
            out->protocol_type = kstr_of("");
            out->protocol_data = kstr_of("");
            continue;
        }
        int32_t cap = group_member_count(g);
        struct group_member_desc *md = karena_alloc(a, sizeof(*md) * (size_t)SL_MAX(cap, 1));
        struct group_desc d;
        group_describe(g, &d, md, cap);
        out->group_state = kstr_of(d.state);
        out->protocol_type = kstr_of(d.protocol_type);
        out->protocol_data = kstr_of(d.protocol_name);
        out->member_count = d.member_count;
        out->members = kafka_alloc_array(a, d.member_count, sizeof(*out->members));
        for (int32_t m = 0; m < d.member_count; m++) {
            out->members[m].member_id = kstr_of(md[m].member_id);
            out->members[m].group_instance_id = md[m].instance_id ? kstr_of(md[m].instance_id) : (struct kstr){NULL, -1};
            out->members[m].client_id = kstr_of(md[m].client_id);
            out->members[m].client_host = kstr_of(md[m].client_host);
            out->members[m].member_metadata = kstr_span(md[m].metadata);
            out->members[m].member_assignment = kstr_span(md[m].assignment);
            if (!out->members[m].member_metadata.p) out->members[m].member_metadata = kstr_of("");
            if (!out->members[m].member_assignment.p) out->members[m].member_assignment = kstr_of("");
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_describe_groups_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

struct list_ctx {
    struct kconn *kc;
    bool all; /* DESCRIBE on the cluster: every group; else those the principal may DESCRIBE */
    struct kafka_server *ks;
    struct karena *a;
    const struct kafka_list_groups_req *req;
    struct kafka_list_groups_group *out;
    int32_t count, cap;
};

static bool list_state_wanted(const struct kafka_list_groups_req *req, const char *state) {
    if (req->states_filter_count <= 0) return true;
    for (int32_t i = 0; i < req->states_filter_count; i++)
        if (req->states_filter[i].len == (int32_t)strlen(state) && !memcmp(req->states_filter[i].p, state, strlen(state)))
            return true;
    return false;
}

/* Every group here is a classic one (JoinGroup/SyncGroup): it is listed unless a TypesFilter
 * (v5) names only other types. Kafka parses the names without regard to case. */
static bool list_type_wanted(const struct kafka_list_groups_req *req) {
    if (req->types_filter_count <= 0) return true;
    for (int32_t i = 0; i < req->types_filter_count; i++)
        if (req->types_filter[i].len == 7 && !strncasecmp(req->types_filter[i].p, "classic", 7)) return true;
    return false;
}

static void list_add(struct list_ctx *c, const char *gid, const char *type, const char *state) {
    if (!list_state_wanted(c->req, state) || !list_type_wanted(c->req)) return;
    if (!c->all && !group_allowed(c->kc, KAFKA_OP_DESCRIBE, kstr_of(gid))) return;
    if (c->count == c->cap) {
        int32_t cap = c->cap ? c->cap * 2 : 16;
        struct kafka_list_groups_group *n = karena_alloc(c->a, sizeof(*n) * (size_t)cap);
        if (c->count) memcpy(n, c->out, sizeof(*n) * (size_t)c->count);
        c->out = n;
        c->cap = cap;
    }
    c->out[c->count++] = (struct kafka_list_groups_group){kstr_of(gid), kstr_of(type), kstr_of(state), kstr_of("classic")};
}

static void list_offsets_only(void *arg, const char *group) {
    struct list_ctx *c = arg;
    if (!group_registry_find(c->ks->groups, group)) list_add(c, group, "consumer", "Empty");
}

/* Kafka's ListGroups answers the groups this broker coordinates: every map it holds. */
static void list_offsets_map(void *arg, struct offsets *o) { offsets_groups(o, list_offsets_only, arg); }

sl_err kafka_handle_list_groups(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_list_groups_req req;
    sl_err e = kafka_decode_list_groups(r, q->version, &kc->arena, &req);
    if (e) return e;
    bool all = kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_CLUSTER, kstr_of(KAFKA_CLUSTER_RESOURCE));
    struct list_ctx c = {kc, all, kc->ks, &kc->arena, &req, NULL, 0, 0};
    for (uint32_t i = 0; i < group_registry_count(kc->ks->groups); i++) {
        struct group *g = group_registry_at(kc->ks->groups, i);
        if (group_state(g) == GROUP_DEAD) continue;
        const char *type = group_protocol_type(g);
        list_add(&c, group_id(g), type[0] ? type : "consumer", group_state_name(group_state(g)));
    }
    group_offsets_each(kc->ks, list_offsets_map, &c);
    struct kafka_list_groups_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.groups = c.out;
    resp.group_count = c.count;
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_list_groups_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

sl_err kafka_handle_delete_groups(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_delete_groups_req req;
    sl_err e = kafka_decode_delete_groups(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    struct kafka_delete_groups_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.result_count = req.groups_names_count;
    resp.results = kafka_alloc_array(a, req.groups_names_count, sizeof(*resp.results));
    for (int32_t i = 0; i < req.groups_names_count; i++) {
        const char *gid = kafka_arena_cstr(a, req.groups_names[i]);
        resp.results[i].group_id = req.groups_names[i];
        if (!group_allowed(kc, KAFKA_OP_DELETE, req.groups_names[i])) {
            resp.results[i].error_code = kcode(SL_GROUP_AUTHORIZATION);
            continue;
        }
        struct offsets *o = group_offs(ks, gid);
        if (gid && !o) {
            resp.results[i].error_code = kcode(SL_NOT_COORDINATOR);
            continue;
        }
        bool has_offsets = gid && offsets_group_known(o, gid);
        sl_err err = gid ? group_registry_delete(ks->groups, gid) : SL_INVALID_GROUP_ID;
        if (err == SL_GROUP_ID_NOT_FOUND && has_offsets) err = SL_OK;
        if (!err && has_offsets) offsets_delete_group(o, gid, loop_now_ms(ks->loop), NULL);
        if (!err) offsets_store_group(o, gid, NULL, 0, loop_now_ms(ks->loop), NULL);
        resp.results[i].error_code = kcode(err);
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_delete_groups_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

sl_err kafka_handle_offset_delete(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_offset_delete_req req;
    sl_err e = kafka_decode_offset_delete(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_server *ks = kc->ks;
    struct karena *a = &kc->arena;
    const char *gid = kafka_arena_cstr(a, req.group_id);
    struct group *g = gid ? group_registry_find(ks->groups, gid) : NULL;
    bool live = g && group_state(g) != GROUP_EMPTY && group_state(g) != GROUP_DEAD;
    struct kafka_offset_delete_resp resp;
    memset(&resp, 0, sizeof(resp));
    struct offsets *o = group_offs(ks, gid);
    if (!group_allowed(kc, KAFKA_OP_DELETE, req.group_id)) resp.error_code = kcode(SL_GROUP_AUTHORIZATION);
    else if (gid && !o) resp.error_code = kcode(SL_NOT_COORDINATOR);
    else if (!gid || (!g && !offsets_group_known(o, gid))) resp.error_code = kcode(SL_GROUP_ID_NOT_FOUND);
    resp.topic_count = req.topic_count;
    resp.topics = kafka_alloc_array(a, req.topic_count, sizeof(*resp.topics));
    for (int32_t t = 0; t < req.topic_count && !resp.error_code; t++) {
        const struct kafka_offset_delete_topic *rt = &req.topics[t];
        struct kafka_offset_delete_topic_resp *tr = &resp.topics[t];
        tr->name = rt->name;
        tr->partition_count = rt->partition_count;
        tr->partitions = kafka_alloc_array(a, rt->partition_count, sizeof(*tr->partitions));
        for (int32_t i = 0; i < rt->partition_count; i++) {
            tr->partitions[i].partition_index = rt->partitions[i].partition_index;
            if (live) {
                /* Members may be consuming it: Kafka refuses while the group subscribes to it. */
                tr->partitions[i].error_code = kcode(SL_GROUP_SUBSCRIBED_TO_TOPIC);
                continue;
            }
            struct offset_commit c = {rt->name.p, rt->name.len, rt->partitions[i].partition_index, -1, -1, NULL, -1, true};
            if (offsets_get(o, gid, rt->name.p, rt->name.len, c.partition))
                offsets_commit(o, gid, &c, 1, loop_now_ms(ks->loop), NULL);
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_offset_delete_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}
