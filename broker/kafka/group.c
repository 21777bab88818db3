/* group.c: the classic consumer-group coordinator (see group.h), following Kafka's
 * GroupCoordinator/GroupMetadata. Members live in an array in join order: the order the leader
 * sees them in, and the order leadership falls back along. Lookups are linear, which is fine
 * for the hundreds of members a group has at most; max_size bounds it.
 *
 * Timers are three deadlines and nothing else: each member's session, each pending member id's
 * expiry, the group's join deadline (PreparingRebalance) and its sync deadline (members that
 * never send SyncGroup after a join). group_tick() checks them; group_next_deadline() reports
 * the earliest. */
#include "broker/kafka/group.h"

#include <string.h>

#include "protocol/kbuf.h"

struct gproto {
    char *name;
    uint8_t *meta;
    uint32_t len;
};

struct member {
    char *id;
    char *instance_id; /* NULL: dynamic */
    char *client_id;
    char *client_host;
    struct gproto *protocols;
    int32_t protocol_count;
    uint32_t session_timeout_ms;
    uint32_t rebalance_timeout_ms;
    uint8_t *assignment;
    uint32_t assignment_len;
    uint64_t session_deadline;
    void *join_reply; /* parked JoinGroup, NULL if none (or cancelled) */
    void *sync_reply; /* parked SyncGroup */
    bool joined;      /* sent JoinGroup in this join phase, even if its reply was cancelled */
    bool synced;      /* sent SyncGroup in this generation */
};

/* A member id handed out with MEMBER_ID_REQUIRED that has not joined yet. */
struct pending {
    char *id;
    uint64_t deadline;
};

struct group {
    char *id;
    struct group_config cfg;
    struct group_ops ops;
    enum group_state state;
    int32_t generation;
    char *protocol_type; /* set by the first member; kept while Empty, as Kafka lists it */
    char *protocol_name; /* selected at each completed join; NULL when Empty */
    struct member *leader;
    struct member **members;
    uint32_t member_count, member_cap;
    struct pending *pending;
    uint32_t pending_count, pending_cap;
    uint64_t join_deadline;        /* PreparingRebalance only */
    bool initial_delay;            /* join_deadline is a step of the initial delay */
    bool new_member_added;         /* a member joined during the current step */
    uint32_t initial_remaining_ms; /* of the rebalance timeout, for further steps */
    uint64_t sync_deadline;        /* until every member has sent SyncGroup */
    uint64_t rebalance_start_ms;   /* when the current rebalance began (metrics) */
    bool rebalancing;
    uint64_t id_state;             /* member id generator */
    struct group *hnext;           /* registry bucket chain */
    uint32_t reg_index;            /* position in the registry's array */
};

/* ---- small helpers ---- */

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = sl_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static uint8_t *xmemdup(struct span b) {
    uint8_t *p = sl_xmalloc(b.len);
    if (b.len) memcpy(p, b.p, b.len);
    return p;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* Clients send null for "no instance id"; an empty one is treated the same. */
static const char *norm_instance(const char *s) { return s && s[0] ? s : NULL; }


static uint64_t deadline_after(uint64_t now_ms, uint32_t ms) { return now_ms + ms; }

/* splitmix64: a bijection of the state, so successive ids of one group never repeat. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Kafka's form: "<client_id or instance_id>-<uuid>", the uuid shaped like a version-4 one. */
static char *new_member_id(struct group *g, const char *prefix) {
    uint64_t hi = next_random(&g->id_state), lo = next_random(&g->id_state);
    size_t n = strlen(prefix) + 1 + 36 + 1;
    char *id = sl_xmalloc(n);
    snprintf(id, n, "%s-%08x-%04x-%04x-%04x-%012llx", prefix, (unsigned)(hi >> 32),
             (unsigned)((hi >> 16) & 0xffff), (unsigned)((hi & 0x0fff) | 0x4000),
             (unsigned)(((lo >> 48) & 0x3fff) | 0x8000),
             (unsigned long long)(lo & 0xffffffffffffULL));
    return id;
}

const char *group_state_name(enum group_state s) {
    switch (s) {
    case GROUP_EMPTY: return "Empty";
    case GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
    case GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
    case GROUP_STABLE: return "Stable";
    case GROUP_DEAD: return "Dead";
    }
    return "Dead";
}

void group_config_defaults(struct group_config *c) {
    c->min_session_timeout_ms = 6000;
    c->max_session_timeout_ms = 1800000;
    c->initial_rebalance_delay_ms = 0;
    c->max_size = 0;
    c->stats = NULL;
}

static void group_changed(struct group *g) {
    if (g->ops.changed) g->ops.changed(g->ops.arg, g);
}

/* ---- members ---- */

static struct member *find_member(const struct group *g, const char *id) {
    for (uint32_t i = 0; i < g->member_count; i++)
        if (strcmp(g->members[i]->id, id) == 0) return g->members[i];
    return NULL;
}

static struct member *find_static(const struct group *g, const char *instance_id) {
    for (uint32_t i = 0; i < g->member_count; i++)
        if (g->members[i]->instance_id && strcmp(g->members[i]->instance_id, instance_id) == 0)
            return g->members[i];
    return NULL;
}

static int32_t find_pending(const struct group *g, const char *id) {
    for (uint32_t i = 0; i < g->pending_count; i++)
        if (strcmp(g->pending[i].id, id) == 0) return (int32_t)i;
    return -1;
}

static void remove_pending_at(struct group *g, uint32_t i) {
    free(g->pending[i].id);
    g->pending[i] = g->pending[--g->pending_count];
}

static bool member_supports(const struct member *m, const char *name) {
    for (int32_t i = 0; i < m->protocol_count; i++)
        if (strcmp(m->protocols[i].name, name) == 0) return true;
    return false;
}

static struct span member_metadata(const struct member *m, const char *name) {
    for (int32_t i = 0; i < m->protocol_count; i++)
        if (name && strcmp(m->protocols[i].name, name) == 0)
            return (struct span){m->protocols[i].meta, m->protocols[i].len};
    return (struct span){NULL, 0};
}

/* Same protocols, same order, same metadata bytes (Kafka's MemberMetadata.matches). */
static bool member_matches(const struct member *m, const struct group_join_req *req) {
    if (m->protocol_count != req->protocol_count) return false;
    for (int32_t i = 0; i < req->protocol_count; i++) {
        const struct gproto *a = &m->protocols[i];
        const struct group_protocol *b = &req->protocols[i];
        if (strcmp(a->name, b->name) != 0 || a->len != b->metadata.len) return false;
        if (a->len && memcmp(a->meta, b->metadata.p, a->len) != 0) return false;
    }
    return true;
}

static void member_free_protocols(struct member *m) {
    for (int32_t i = 0; i < m->protocol_count; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].meta);
    }
    free(m->protocols);
    m->protocols = NULL;
    m->protocol_count = 0;
}

static void member_set_assignment(struct member *m, struct span a) {
    free(m->assignment);
    m->assignment = xmemdup(a);
    m->assignment_len = a.len;
}

/* Everything a JoinGroup carries about the member; ids are the caller's business. */
static void member_update(struct member *m, const struct group_join_req *req) {
    member_free_protocols(m);
    m->protocols = sl_xcalloc((size_t)req->protocol_count, sizeof(*m->protocols));
    for (int32_t i = 0; i < req->protocol_count; i++) {
        m->protocols[i].name = xstrdup(req->protocols[i].name);
        m->protocols[i].meta = xmemdup(req->protocols[i].metadata);
        m->protocols[i].len = req->protocols[i].metadata.len;
    }
    m->protocol_count = req->protocol_count;
    m->session_timeout_ms = (uint32_t)req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms > 0 ? (uint32_t)req->rebalance_timeout_ms
                                                            : (uint32_t)req->session_timeout_ms;
    free(m->client_id);
    free(m->client_host);
    m->client_id = xstrdup(nz(req->client_id));
    m->client_host = xstrdup(nz(req->client_host));
}

static void member_free(struct member *m) {
    member_free_protocols(m);
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->assignment);
    free(m);
}

static void touch(struct member *m, uint64_t now_ms) {
    m->session_deadline = deadline_after(now_ms, m->session_timeout_ms);
}

/* Unlinks and frees without answering anything: callers answer parked replies first. Leadership
 * falls to the earliest remaining member, as Kafka's does to the first remaining key. */
static void detach_member(struct group *g, struct member *m) {
    uint32_t i = 0;
    while (i < g->member_count && g->members[i] != m) i++;
    SL_ASSERT(i < g->member_count);
    memmove(&g->members[i], &g->members[i + 1], (g->member_count - i - 1) * sizeof(*g->members));
    g->member_count--;
    if (g->leader == m) g->leader = g->member_count ? g->members[0] : NULL;
    member_free(m);
}

static uint32_t max_rebalance_timeout(const struct group *g) {
    uint32_t t = 0;
    for (uint32_t i = 0; i < g->member_count; i++) t = SL_MAX(t, g->members[i]->rebalance_timeout_ms);
    return t;
}

/* ---- answers ---- */

static void join_answer_error(struct group *g, void *reply, sl_err error, const char *member_id) {
    struct group_join_result r = {.error = error, .generation = -1, .leader_id = "",
                                  .member_id = nz(member_id)};
    g->ops.join_done(g->ops.arg, reply, &r);
}

static void sync_answer(struct group *g, void *reply, sl_err error, struct span assignment) {
    struct group_sync_result r = {.error = error, .assignment = assignment};
    if (error == SL_OK) {
        r.protocol_type = nz(g->protocol_type);
        r.protocol_name = nz(g->protocol_name);
    } else {
        r.assignment = (struct span){NULL, 0};
    }
    g->ops.sync_done(g->ops.arg, reply, &r);
}

static void sync_answer_parked(struct group *g, struct member *m, sl_err error) {
    void *reply = m->sync_reply;
    if (!reply) return;
    m->sync_reply = NULL;
    sync_answer(g, reply, error, (struct span){m->assignment, m->assignment_len});
}

static void join_answer_parked_error(struct group *g, struct member *m, sl_err error, const char *id) {
    void *reply = m->join_reply;
    if (!reply) return;
    m->join_reply = NULL;
    join_answer_error(g, reply, error, id);
}

/* The current generation, as Kafka answers a member that needs no rebalance. leader_id is
 * passed in because a replaced static leader is told the old id (see static_rejoin). */
static void join_answer_current(struct group *g, void *reply, const char *member_id,
                                const char *leader_id, const struct group_join_member *members,
                                int32_t member_count) {
    struct group_join_result r = {
        .error = SL_OK,
        .generation = g->generation,
        .protocol_type = nz(g->protocol_type),
        .protocol_name = nz(g->protocol_name),
        .leader_id = leader_id,
        .member_id = member_id,
        .members = members,
        .member_count = member_count,
    };
    g->ops.join_done(g->ops.arg, reply, &r);
}

/* What the leader receives: every member's metadata for the selected protocol, in join order.
 * Caller frees. */
static struct group_join_member *leader_member_list(const struct group *g) {
    struct group_join_member *list = sl_xcalloc(g->member_count, sizeof(*list));
    for (uint32_t i = 0; i < g->member_count; i++) {
        const struct member *m = g->members[i];
        list[i] = (struct group_join_member){m->id, m->instance_id, member_metadata(m, g->protocol_name)};
    }
    return list;
}

static void join_answer_current_member(struct group *g, struct member *m, void *reply) {
    struct group_join_member *list = NULL;
    int32_t n = 0;
    if (m == g->leader) {
        list = leader_member_list(g);
        n = (int32_t)g->member_count;
    }
    join_answer_current(g, reply, m->id, g->leader ? g->leader->id : "", list, n);
    free(list);
}

/* ---- protocol selection ---- */

static bool supported_by_all(const struct group *g, const char *name, const struct member *except) {
    for (uint32_t i = 0; i < g->member_count; i++)
        if (g->members[i] != except && !member_supports(g->members[i], name)) return false;
    return true;
}

/* Kafka's GroupMetadata.selectProtocol: the candidates are the protocols every member supports;
 * each member votes for the first candidate in its own preference order; most votes wins. Ties
 * go to the earliest in the first member's order, so the choice is deterministic. */
static const char *select_protocol(const struct group *g) {
    const struct member *first = g->members[0];
    int32_t n = first->protocol_count, best = -1;
    uint32_t *votes = sl_xcalloc((size_t)n, sizeof(*votes));
    bool *candidate = sl_xcalloc((size_t)n, sizeof(*candidate));
    for (int32_t c = 0; c < n; c++) candidate[c] = supported_by_all(g, first->protocols[c].name, NULL);
    for (uint32_t i = 0; i < g->member_count; i++) {
        const struct member *m = g->members[i];
        for (int32_t p = 0; p < m->protocol_count; p++) {
            int32_t c = 0;
            while (c < n && !(candidate[c] && strcmp(first->protocols[c].name, m->protocols[p].name) == 0))
                c++;
            if (c < n) {
                votes[c]++;
                break;
            }
        }
    }
    for (int32_t c = 0; c < n; c++)
        if (candidate[c] && (best < 0 || votes[c] > votes[best])) best = c;
    free(votes);
    free(candidate);
    SL_ASSERT(best >= 0); /* joins are refused unless a common protocol remains */
    return first->protocols[best].name;
}

/* May this JoinGroup's protocols join the group (Kafka's supportsProtocols)? `self` is the
 * joiner if it is already a member: its own old protocols do not count. */
static bool protocols_acceptable(const struct group *g, const struct group_join_req *req,
                                 const struct member *self) {
    if (!req->protocol_type || !req->protocol_type[0] || req->protocol_count <= 0) return false;
    for (int32_t i = 0; i < req->protocol_count; i++)
        if (!req->protocols[i].name) return false;
    if (g->member_count == 0) return true;
    if (!sl_streq_opt(g->protocol_type, req->protocol_type)) return false;
    if (g->member_count == 1 && self) return true;
    for (int32_t i = 0; i < req->protocol_count; i++)
        if (supported_by_all(g, req->protocols[i].name, self)) return true;
    return false;
}

/* ---- the join phase ---- */

static bool all_joined(const struct group *g) {
    if (g->pending_count) return false; /* a MEMBER_ID_REQUIRED joiner is about to come back */
    for (uint32_t i = 0; i < g->member_count; i++)
        if (!g->members[i]->joined) return false;
    return true;
}

/* Kafka's prepareRebalance: members waiting in SyncGroup learn that they must rejoin; the join
 * phase lasts at most the longest rebalance timeout, or starts with the initial delay if the
 * group was Empty (so a burst of starting consumers lands in one generation). */
static void prepare_rebalance(struct group *g, uint64_t now_ms) {
    if (g->state == GROUP_COMPLETING_REBALANCE) {
        for (uint32_t i = 0; i < g->member_count; i++) {
            member_set_assignment(g->members[i], (struct span){NULL, 0});
            sync_answer_parked(g, g->members[i], SL_REBALANCE_IN_PROGRESS);
        }
    }
    g->sync_deadline = GROUP_NO_DEADLINE;
    uint32_t rt = max_rebalance_timeout(g);
    if (g->state == GROUP_EMPTY) {
        uint32_t d = g->cfg.initial_rebalance_delay_ms;
        g->initial_delay = true;
        g->new_member_added = false;
        g->join_deadline = deadline_after(now_ms, d);
        g->initial_remaining_ms = rt > d ? rt - d : 0;
    } else {
        g->initial_delay = false;
        g->join_deadline = deadline_after(now_ms, rt);
    }
    g->state = GROUP_PREPARING_REBALANCE;
    if (!g->rebalancing) {
        g->rebalancing = true;
        g->rebalance_start_ms = now_ms;
    }
}

/* Kafka's onCompleteJoin. Dynamic members that did not rejoin are dropped; static ones stay
 * (their session decides), which is what lets a restarting static member skip rebalances. */
static void complete_join(struct group *g, uint64_t now_ms) {
    for (uint32_t i = 0; i < g->member_count;) {
        struct member *m = g->members[i];
        if (!m->joined && !m->instance_id)
            detach_member(g, m);
        else
            i++;
    }
    g->initial_delay = false;
    if (g->member_count == 0) {
        g->generation++;
        free(g->protocol_name);
        g->protocol_name = NULL;
        g->state = GROUP_EMPTY;
        group_changed(g);
        return;
    }
    if (!g->leader->joined) {
        struct member *next = NULL;
        for (uint32_t i = 0; i < g->member_count && !next; i++)
            if (g->members[i]->joined) next = g->members[i];
        if (!next) { /* only absent static members: wait for them or their sessions */
            g->join_deadline = deadline_after(now_ms, max_rebalance_timeout(g));
            return;
        }
        g->leader = next;
    }
    g->generation++;
    free(g->protocol_name);
    g->protocol_name = xstrdup(select_protocol(g));
    g->state = GROUP_COMPLETING_REBALANCE;
    g->sync_deadline = deadline_after(now_ms, max_rebalance_timeout(g));
    struct group_join_member *list = leader_member_list(g);
    for (uint32_t i = 0; i < g->member_count; i++) {
        struct member *m = g->members[i];
        void *reply = m->join_reply;
        m->join_reply = NULL;
        m->joined = false;
        m->synced = false;
        touch(m, now_ms);
        if (!reply) continue;
        bool is_leader = m == g->leader;
        join_answer_current(g, reply, m->id, g->leader->id, is_leader ? list : NULL,
                            is_leader ? (int32_t)g->member_count : 0);
    }
    free(list);
}

/* The join deadline passed: either one more initial-delay step (members are still arriving,
 * as Kafka's InitialDelayedJoin) or the end of the join phase. */
static void join_deadline_passed(struct group *g, uint64_t now_ms) {
    while (g->initial_delay && g->new_member_added && g->initial_remaining_ms > 0) {
        uint32_t d = SL_MIN(g->cfg.initial_rebalance_delay_ms, g->initial_remaining_ms);
        g->new_member_added = false;
        g->initial_remaining_ms -= d;
        g->join_deadline += d;
        if (g->join_deadline > now_ms) return;
    }
    complete_join(g, now_ms);
}

/* Called after anything that may end the join phase. Completion is immediate once every known
 * member has rejoined: waiting for the timeout is what makes rebalances slow. The initial
 * delay alone always runs its course, since its point is to wait for members not yet known. */
static void maybe_complete_join(struct group *g, uint64_t now_ms) {
    if (g->state != GROUP_PREPARING_REBALANCE) return;
    if (!g->initial_delay && all_joined(g))
        complete_join(g, now_ms);
    else if (now_ms >= g->join_deadline)
        join_deadline_passed(g, now_ms);
}

/* A member leaves or expires: its parked requests are answered, and the others rebalance. */
static void remove_member(struct group *g, struct member *m, uint64_t now_ms) {
    join_answer_parked_error(g, m, SL_UNKNOWN_MEMBER_ID, "");
    sync_answer_parked(g, m, SL_UNKNOWN_MEMBER_ID);
    detach_member(g, m);
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE) prepare_rebalance(g, now_ms);
    maybe_complete_join(g, now_ms);
}

/* ---- JoinGroup ---- */

/* A JoinGroup parks: the member has joined this phase; the reply waits for completion. A
 * second JoinGroup from the same member supersedes the first (the client gave up on it). */
static void park_join(struct group *g, struct member *m, void *reply, uint64_t now_ms) {
    join_answer_parked_error(g, m, SL_REBALANCE_IN_PROGRESS, m->id);
    m->join_reply = reply;
    m->joined = true;
    touch(m, now_ms);
}

static bool group_full(const struct group *g) {
    return g->cfg.max_size && g->member_count >= g->cfg.max_size;
}

static void add_member(struct group *g, char *id, const char *instance_id,
                       const struct group_join_req *req, void *reply, uint64_t now_ms) {
    struct member *m = sl_xcalloc(1, sizeof(*m));
    m->id = id;
    m->instance_id = instance_id ? xstrdup(instance_id) : NULL;
    member_update(m, req);
    if (g->member_count == g->member_cap) {
        g->member_cap = g->member_cap ? g->member_cap * 2 : 4;
        g->members = sl_xrealloc(g->members, g->member_cap * sizeof(*g->members));
    }
    if (g->member_count == 0) {
        free(g->protocol_type);
        g->protocol_type = xstrdup(req->protocol_type);
    }
    g->members[g->member_count++] = m;
    if (!g->leader) g->leader = m;
    park_join(g, m, reply, now_ms);
    if (g->state == GROUP_PREPARING_REBALANCE)
        g->new_member_added = true;
    else
        prepare_rebalance(g, now_ms);
}

/* Kafka's updateStaticMemberAndRebalance: a known group.instance.id with a new member id takes
 * over the old member in place. The old id is fenced, and any request it had parked is
 * answered FENCED_INSTANCE_ID. In Stable nothing else happens unless the selected protocol
 * would change: the metadata itself may differ (a restarted cooperative consumer no longer
 * lists owned partitions), and a rebalance for that would defeat static membership. The reply
 * names the old leader id, so a replaced leader does not run its assignor for a generation
 * whose assignment is already settled. */
static void static_rejoin(struct group *g, struct member *m, const struct group_join_req *req,
                          void *reply, uint64_t now_ms) {
    char *old_id = m->id;
    bool was_leader = g->leader == m;
    join_answer_parked_error(g, m, SL_FENCED_INSTANCE_ID, old_id);
    sync_answer_parked(g, m, SL_FENCED_INSTANCE_ID);
    m->id = new_member_id(g, m->instance_id);
    member_update(m, req);
    touch(m, now_ms);
    if (g->state == GROUP_STABLE && strcmp(select_protocol(g), g->protocol_name) == 0) {
        group_changed(g);
        join_answer_current(g, reply, m->id, was_leader ? old_id : g->leader->id, NULL, 0);
    } else {
        enum group_state was = g->state;
        park_join(g, m, reply, now_ms);
        if (was != GROUP_PREPARING_REBALANCE) prepare_rebalance(g, now_ms);
    }
    free(old_id);
}

static void join_unknown_member(struct group *g, const struct group_join_req *req,
                                const char *instance_id, void *reply, uint64_t now_ms) {
    struct member *known = instance_id ? find_static(g, instance_id) : NULL;
    if (!protocols_acceptable(g, req, known)) {
        join_answer_error(g, reply, SL_INCONSISTENT_GROUP_PROTOCOL, "");
        return;
    }
    if (known) {
        static_rejoin(g, known, req, reply, now_ms);
        return;
    }
    if (group_full(g)) {
        join_answer_error(g, reply, SL_GROUP_MAX_SIZE_REACHED, "");
        return;
    }
    char *id = new_member_id(g, instance_id ? instance_id : nz(req->client_id));
    if (!instance_id && req->version >= 4) {
        /* Kafka's KIP-394: the id is known before the member counts, so a client that times
         * out and retries does not leave a ghost member behind. */
        if (g->pending_count == g->pending_cap) {
            g->pending_cap = g->pending_cap ? g->pending_cap * 2 : 4;
            g->pending = sl_xrealloc(g->pending, g->pending_cap * sizeof(*g->pending));
        }
        g->pending[g->pending_count++] =
            (struct pending){id, deadline_after(now_ms, (uint32_t)req->session_timeout_ms)};
        join_answer_error(g, reply, SL_MEMBER_ID_REQUIRED, id);
        return;
    }
    add_member(g, id, instance_id, req, reply, now_ms);
}

/* Kafka's validateCurrentMember: an instance id must map to this member id. */
static sl_err validate_member(const struct group *g, const char *member_id, const char *instance_id,
                               struct member **out) {
    struct member *m;
    if (instance_id) {
        m = find_static(g, instance_id);
        if (!m) return SL_UNKNOWN_MEMBER_ID;
        if (strcmp(m->id, member_id) != 0) return SL_FENCED_INSTANCE_ID;
    } else {
        m = find_member(g, member_id);
        if (!m) return SL_UNKNOWN_MEMBER_ID;
    }
    *out = m;
    return SL_OK;
}

static void join_known_member(struct group *g, const struct group_join_req *req, const char *member_id,
                              const char *instance_id, void *reply, uint64_t now_ms) {
    if (!protocols_acceptable(g, req, find_member(g, member_id))) {
        join_answer_error(g, reply, SL_INCONSISTENT_GROUP_PROTOCOL, member_id);
        return;
    }
    int32_t p = instance_id ? -1 : find_pending(g, member_id);
    if (p >= 0) {
        char *id = g->pending[p].id;
        g->pending[p].id = NULL;
        remove_pending_at(g, (uint32_t)p);
        if (group_full(g)) {
            free(id);
            join_answer_error(g, reply, SL_GROUP_MAX_SIZE_REACHED, "");
            maybe_complete_join(g, now_ms);
            return;
        }
        add_member(g, id, NULL, req, reply, now_ms);
        return;
    }
    struct member *m = NULL;
    sl_err err = validate_member(g, member_id, instance_id, &m);
    if (err) {
        join_answer_error(g, reply, err, member_id);
        return;
    }
    bool same = member_matches(m, req);
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
        member_update(m, req);
        park_join(g, m, reply, now_ms);
        break;
    case GROUP_COMPLETING_REBALANCE:
    case GROUP_STABLE:
        /* The leader rejoining in Stable always rebalances: that is how a consumer leader
         * asks for a new assignment after topic metadata changes (Kafka does the same). */
        if (same && (g->state == GROUP_COMPLETING_REBALANCE || m != g->leader)) {
            touch(m, now_ms);
            join_answer_current_member(g, m, reply);
        } else {
            member_update(m, req);
            park_join(g, m, reply, now_ms);
            prepare_rebalance(g, now_ms);
        }
        break;
    case GROUP_EMPTY:
    case GROUP_DEAD:
        join_answer_error(g, reply, SL_UNKNOWN_MEMBER_ID, member_id);
        break;
    }
}

void group_join(struct group *g, const struct group_join_req *req, void *reply, uint64_t now_ms) {
    SL_ASSERT(reply);
    const char *member_id = nz(req->member_id);
    const char *instance_id = norm_instance(req->instance_id);
    sl_err err = SL_OK;
    if (!g->id[0])
        err = SL_INVALID_GROUP_ID;
    else if (req->session_timeout_ms < 0 ||
             (uint32_t)req->session_timeout_ms < g->cfg.min_session_timeout_ms ||
             (uint32_t)req->session_timeout_ms > g->cfg.max_session_timeout_ms)
        err = SL_INVALID_SESSION_TIMEOUT;
    else if (g->state == GROUP_DEAD)
        err = SL_COORDINATOR_NOT_AVAILABLE;
    if (err) {
        join_answer_error(g, reply, err, member_id);
        return;
    }
    if (!member_id[0])
        join_unknown_member(g, req, instance_id, reply, now_ms);
    else
        join_known_member(g, req, member_id, instance_id, reply, now_ms);
    maybe_complete_join(g, now_ms);
}

/* ---- SyncGroup ---- */

static bool all_synced(const struct group *g) {
    for (uint32_t i = 0; i < g->member_count; i++)
        if (!g->members[i]->synced) return false;
    return true;
}

/* The leader's assignments are stored (members it left out get empty ones) and every parked
 * SyncGroup is answered at once. */
static void apply_assignments(struct group *g, const struct group_sync_req *req, uint64_t now_ms) {
    for (uint32_t i = 0; i < g->member_count; i++)
        member_set_assignment(g->members[i], (struct span){NULL, 0});
    for (int32_t a = 0; a < req->assignment_count; a++) {
        struct member *m = find_member(g, nz(req->assignments[a].member_id));
        if (m) member_set_assignment(m, req->assignments[a].assignment);
    }
    g->state = GROUP_STABLE;
    if (g->rebalancing && g->cfg.stats) {
        g->cfg.stats->rebalances++;
        sl_hist_observe(&g->cfg.stats->rebalance_duration, (now_ms - g->rebalance_start_ms) * 1000);
    }
    g->rebalancing = false;
    group_changed(g);
    for (uint32_t i = 0; i < g->member_count; i++) {
        struct member *m = g->members[i];
        if (!m->sync_reply) continue;
        touch(m, now_ms);
        sync_answer_parked(g, m, SL_OK);
    }
}

static sl_err sync_check(const struct group *g, const struct group_sync_req *req, struct member **m) {
    if (!g->id[0]) return SL_INVALID_GROUP_ID;
    if (g->state == GROUP_DEAD) return SL_COORDINATOR_NOT_AVAILABLE;
    sl_err err = validate_member(g, nz(req->member_id), norm_instance(req->instance_id), m);
    if (err) return err;
    if (req->generation != g->generation) return SL_ILLEGAL_GENERATION;
    if (req->protocol_type && !sl_streq_opt(req->protocol_type, g->protocol_type))
        return SL_INCONSISTENT_GROUP_PROTOCOL;
    if (req->protocol_name && (!g->protocol_name || strcmp(req->protocol_name, g->protocol_name) != 0))
        return SL_INCONSISTENT_GROUP_PROTOCOL;
    return SL_OK;
}

void group_sync(struct group *g, const struct group_sync_req *req, void *reply, uint64_t now_ms) {
    SL_ASSERT(reply);
    struct member *m = NULL;
    sl_err err = sync_check(g, req, &m);
    if (!err && g->state == GROUP_EMPTY) err = SL_UNKNOWN_MEMBER_ID;
    if (!err && g->state == GROUP_PREPARING_REBALANCE) err = SL_REBALANCE_IN_PROGRESS;
    if (err) {
        sync_answer(g, reply, err, (struct span){NULL, 0});
        return;
    }
    m->synced = true;
    touch(m, now_ms);
    if (g->state == GROUP_STABLE) {
        sync_answer(g, reply, SL_OK, (struct span){m->assignment, m->assignment_len});
    } else { /* CompletingRebalance: wait for the leader */
        sync_answer_parked(g, m, SL_REBALANCE_IN_PROGRESS); /* superseded retry */
        m->sync_reply = reply;
        if (m == g->leader) apply_assignments(g, req, now_ms);
    }
    if (all_synced(g)) g->sync_deadline = GROUP_NO_DEADLINE;
}

/* ---- Heartbeat, LeaveGroup, commits ---- */

sl_err group_heartbeat(struct group *g, const char *member_id, const char *instance_id,
                        int32_t generation, uint64_t now_ms) {
    struct member *m = NULL;
    if (!g->id[0]) return SL_INVALID_GROUP_ID;
    if (g->state == GROUP_DEAD) return SL_COORDINATOR_NOT_AVAILABLE;
    sl_err err = validate_member(g, nz(member_id), norm_instance(instance_id), &m);
    if (err) return err;
    if (generation != g->generation) return SL_ILLEGAL_GENERATION;
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
        touch(m, now_ms);
        return SL_REBALANCE_IN_PROGRESS; /* how members learn to rejoin */
    case GROUP_COMPLETING_REBALANCE:
    case GROUP_STABLE:
        touch(m, now_ms);
        return SL_OK;
    case GROUP_EMPTY:
    case GROUP_DEAD:
        break;
    }
    return SL_UNKNOWN_MEMBER_ID;
}

static sl_err leave_one(struct group *g, const struct group_member_ident *who, uint64_t now_ms) {
    const char *member_id = nz(who->member_id);
    const char *instance_id = norm_instance(who->instance_id);
    struct member *m = NULL;
    if (!member_id[0]) { /* administrative removal by instance id */
        m = instance_id ? find_static(g, instance_id) : NULL;
        if (!m) return SL_UNKNOWN_MEMBER_ID;
        remove_member(g, m, now_ms);
        return SL_OK;
    }
    int32_t p = find_pending(g, member_id);
    if (p >= 0) {
        remove_pending_at(g, (uint32_t)p);
        maybe_complete_join(g, now_ms);
        return SL_OK;
    }
    sl_err err = validate_member(g, member_id, instance_id, &m);
    if (err) return err;
    remove_member(g, m, now_ms);
    return SL_OK;
}

sl_err group_leave(struct group *g, const struct group_member_ident *members, int32_t count,
                    sl_err *errors, uint64_t now_ms) {
    sl_err top = SL_OK;
    if (!g->id[0])
        top = SL_INVALID_GROUP_ID;
    else if (g->state == GROUP_DEAD)
        top = SL_COORDINATOR_NOT_AVAILABLE;
    for (int32_t i = 0; i < count; i++) errors[i] = top ? top : leave_one(g, &members[i], now_ms);
    return top;
}

/* Kafka's validateOffsetCommit + doCommitOffsets, minus the storing. */
sl_err group_check_commit(struct group *g, const char *member_id, const char *instance_id,
                           int32_t generation, uint64_t now_ms) {
    member_id = nz(member_id);
    instance_id = norm_instance(instance_id);
    if (g->state == GROUP_DEAD) return SL_COORDINATOR_NOT_AVAILABLE;
    if (generation < 0 && !member_id[0] && !instance_id) /* simple commit: only with no members */
        return g->state == GROUP_EMPTY ? SL_OK : SL_UNKNOWN_MEMBER_ID;
    struct member *m = NULL;
    sl_err err = validate_member(g, member_id, instance_id, &m);
    if (err) return err;
    if (generation != g->generation) return SL_ILLEGAL_GENERATION;
    if (g->state == GROUP_COMPLETING_REBALANCE) return SL_REBALANCE_IN_PROGRESS;
    /* Stable, or PreparingRebalance: members commit what they are about to revoke. */
    touch(m, now_ms);
    return SL_OK;
}

void group_cancel_reply(struct group *g, void *reply) {
    if (!reply) return;
    for (uint32_t i = 0; i < g->member_count; i++) {
        struct member *m = g->members[i];
        if (m->join_reply == reply) m->join_reply = NULL;
        if (m->sync_reply == reply) m->sync_reply = NULL;
    }
}

sl_err group_delete(struct group *g) {
    if (g->state == GROUP_DEAD) return SL_GROUP_ID_NOT_FOUND;
    if (g->state != GROUP_EMPTY) return SL_NON_EMPTY_GROUP;
    g->state = GROUP_DEAD;
    return SL_OK;
}

/* ---- time ---- */

/* A member waiting in a join phase (bounded by the rebalance timeout) or in SyncGroup (bounded
 * by the leader, who is not) cannot heartbeat over its parked connection, so its session does
 * not run out there; Kafka's hasSatisfiedHeartbeat. */
static bool session_runs(const struct group *g, const struct member *m) {
    if (g->state == GROUP_PREPARING_REBALANCE && m->joined) return false;
    return m->sync_reply == NULL;
}

/* Members that never sent SyncGroup after the join are dropped and the rest rebalance (Kafka's
 * DelayedSync): otherwise a member that lost its JoinGroup answer holds everyone's sync. */
static void sync_deadline_passed(struct group *g, uint64_t now_ms) {
    g->sync_deadline = GROUP_NO_DEADLINE;
    bool removed = false;
    for (uint32_t i = 0; i < g->member_count;) {
        struct member *m = g->members[i];
        if (!m->synced) {
            join_answer_parked_error(g, m, SL_UNKNOWN_MEMBER_ID, "");
            detach_member(g, m);
            removed = true;
        } else {
            i++;
        }
    }
    if (!removed) return;
    prepare_rebalance(g, now_ms);
    maybe_complete_join(g, now_ms);
}

void group_tick(struct group *g, uint64_t now_ms) {
    if (g->state == GROUP_DEAD) return;
    for (uint32_t i = 0; i < g->pending_count;) {
        if (g->pending[i].deadline <= now_ms)
            remove_pending_at(g, i);
        else
            i++;
    }
    /* A removal can end a join phase, which renews every session: rescan from the start. */
    for (uint32_t i = 0; i < g->member_count;) {
        struct member *m = g->members[i];
        if (session_runs(g, m) && m->session_deadline <= now_ms) {
            remove_member(g, m, now_ms);
            i = 0;
        } else {
            i++;
        }
    }
    maybe_complete_join(g, now_ms);
    if ((g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_STABLE) && g->sync_deadline <= now_ms)
        sync_deadline_passed(g, now_ms);
}

uint64_t group_next_deadline(const struct group *g) {
    uint64_t t = GROUP_NO_DEADLINE;
    if (g->state == GROUP_DEAD) return t;
    for (uint32_t i = 0; i < g->pending_count; i++) t = SL_MIN(t, g->pending[i].deadline);
    for (uint32_t i = 0; i < g->member_count; i++)
        if (session_runs(g, g->members[i])) t = SL_MIN(t, g->members[i]->session_deadline);
    if (g->state == GROUP_PREPARING_REBALANCE) t = SL_MIN(t, g->join_deadline);
    if (g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_STABLE) t = SL_MIN(t, g->sync_deadline);
    return t;
}

/* ---- life cycle and views ---- */

struct group *group_create(const char *group_id, const struct group_config *cfg,
                           const struct group_ops *ops, uint64_t id_seed) {
    SL_ASSERT(ops->join_done && ops->sync_done);
    struct group *g = sl_xcalloc(1, sizeof(*g));
    g->id = xstrdup(nz(group_id));
    g->cfg = *cfg;
    g->ops = *ops;
    g->state = GROUP_EMPTY;
    g->join_deadline = GROUP_NO_DEADLINE;
    g->sync_deadline = GROUP_NO_DEADLINE;
    g->id_state = id_seed;
    return g;
}

void group_destroy(struct group *g) {
    if (!g) return;
    for (uint32_t i = 0; i < g->member_count; i++) {
        struct member *m = g->members[i];
        join_answer_parked_error(g, m, SL_COORDINATOR_NOT_AVAILABLE, m->id);
        sync_answer_parked(g, m, SL_COORDINATOR_NOT_AVAILABLE);
        member_free(m);
    }
    for (uint32_t i = 0; i < g->pending_count; i++) free(g->pending[i].id);
    free(g->members);
    free(g->pending);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->id);
    free(g);
}

void group_describe(const struct group *g, struct group_desc *out, struct group_member_desc *members,
                    int32_t cap) {
    bool stable = g->state == GROUP_STABLE;
    out->group_id = g->id;
    out->state = group_state_name(g->state);
    out->protocol_type = nz(g->protocol_type);
    out->protocol_name = stable ? nz(g->protocol_name) : "";
    out->member_count = 0;
    for (uint32_t i = 0; i < g->member_count && out->member_count < cap; i++) {
        const struct member *m = g->members[i];
        members[out->member_count++] = (struct group_member_desc){
            .member_id = m->id,
            .instance_id = m->instance_id,
            .client_id = m->client_id,
            .client_host = m->client_host,
            .metadata = stable ? member_metadata(m, g->protocol_name) : (struct span){NULL, 0},
            .assignment = stable ? (struct span){m->assignment, m->assignment_len} : (struct span){NULL, 0},
        };
    }
}

const char *group_id(const struct group *g) { return g->id; }
enum group_state group_state(const struct group *g) { return g->state; }
int32_t group_generation(const struct group *g) { return g->generation; }
const char *group_protocol_type(const struct group *g) { return nz(g->protocol_type); }
const char *group_protocol_name(const struct group *g) { return nz(g->protocol_name); }
const char *group_leader(const struct group *g) { return g->leader ? g->leader->id : ""; }
int32_t group_member_count(const struct group *g) { return (int32_t)g->member_count; }

/* ---- durable state ---- */

#define GROUP_STATE_VERSION 1
/* A member's least bytes: four int16-length strings, two int32 timeouts, two int32-length byte
 * strings. */
#define GROUP_STATE_MEMBER_MIN (4 * 2 + 2 * 4 + 2 * 4)

bool group_encode_state(const struct group *g, struct kw *w) {
    bool stable = g->state == GROUP_STABLE;
    if (!stable && g->state != GROUP_EMPTY) return false;
    kw_i16(w, GROUP_STATE_VERSION);
    kw_i8(w, stable ? 1 : 0);
    kw_i32(w, g->generation);
    kw_cstr(w, false, g->protocol_type);
    if (!stable) return true;
    kw_cstr(w, false, g->protocol_name);
    kw_cstr(w, false, g->leader->id);
    kw_i32(w, (int32_t)g->member_count);
    for (uint32_t i = 0; i < g->member_count; i++) {
        const struct member *m = g->members[i];
        struct span md = member_metadata(m, g->protocol_name);
        kw_cstr(w, false, m->id);
        kw_cstr(w, false, m->instance_id);
        kw_cstr(w, false, m->client_id);
        kw_cstr(w, false, m->client_host);
        kw_i32(w, (int32_t)m->session_timeout_ms);
        kw_i32(w, (int32_t)m->rebalance_timeout_ms);
        kw_bytes(w, false, md.p, (int32_t)md.len);
        kw_bytes(w, false, m->assignment, (int32_t)m->assignment_len);
    }
    return true;
}

static char *kstr_dup(struct kstr s) {
    if (s.len < 0) return NULL;
    char *p = sl_xmalloc((size_t)s.len + 1);
    memcpy(p, s.p, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

/* group_encode_state writes C strings: a NUL inside one is a malformed record (kept, it would
 * come back as a shorter string, a member id "" among them). */
static bool kstr_clean(struct kstr s) { return s.len <= 0 || !memchr(s.p, 0, (size_t)s.len); }

static bool kstr_eq(struct kstr s, const char *c) {
    return s.len >= 0 && strlen(c) == (size_t)s.len && !memcmp(s.p, c, (size_t)s.len);
}

bool group_registry_restore(struct group_registry *reg, const char *group_id, const uint8_t *state, uint32_t len,
                            uint64_t now_ms) {
    struct kr r = kr_make(state, len);
    int16_t version = kr_i16(&r);
    int8_t stable = kr_i8(&r);
    int32_t generation = kr_i32(&r);
    struct kstr ptype = kr_str(&r, false);
    struct kstr pname = {NULL, -1}, leader = {NULL, -1};
    int32_t n = 0;
    if (stable) {
        pname = kr_str(&r, false);
        leader = kr_str(&r, false);
        n = kr_i32(&r);
    }
    if (r.err || version != GROUP_STATE_VERSION || (stable != 0 && stable != 1) || generation < 0 || n < 0 ||
        (stable && (n == 0 || pname.len < 0 || leader.len < 0)) || !kstr_clean(ptype) || !kstr_clean(pname) ||
        !kstr_clean(leader) || group_registry_find(reg, group_id))
        return false;
    /* A member takes at least GROUP_STATE_MEMBER_MIN bytes: a count the record cannot hold is
     * malformed, not an allocation of n slots (a flipped bit once asked for 6 GiB at start-up). */
    if ((uint64_t)n > kr_left(&r) / GROUP_STATE_MEMBER_MIN) return false;
    /* Decode every member first: a malformed record creates nothing. */
    struct member **ms = sl_xcalloc((size_t)n + 1, sizeof(*ms));
    struct member *lead = NULL;
    int32_t got = 0;
    for (; got < n; got++) {
        struct kstr id = kr_str(&r, false), inst = kr_str(&r, false), cid = kr_str(&r, false),
                    host = kr_str(&r, false);
        int32_t st = kr_i32(&r), rt = kr_i32(&r);
        struct kstr md = kr_bytes(&r, false), as = kr_bytes(&r, false);
        if (r.err || id.len <= 0 || st <= 0 || rt <= 0 || !kstr_clean(id) || !kstr_clean(inst) || !kstr_clean(cid) ||
            !kstr_clean(host))
            break;
        struct member *m = sl_xcalloc(1, sizeof(*m));
        m->id = kstr_dup(id);
        m->instance_id = kstr_dup(inst);
        m->client_id = cid.len >= 0 ? kstr_dup(cid) : xstrdup("");
        m->client_host = host.len >= 0 ? kstr_dup(host) : xstrdup("");
        m->protocols = sl_xcalloc(1, sizeof(*m->protocols));
        m->protocols[0].name = kstr_dup(pname);
        m->protocols[0].len = md.len > 0 ? (uint32_t)md.len : 0;
        m->protocols[0].meta = xmemdup((struct span){(const uint8_t *)md.p, m->protocols[0].len});
        m->protocol_count = 1;
        m->assignment_len = as.len > 0 ? (uint32_t)as.len : 0;
        m->assignment = xmemdup((struct span){(const uint8_t *)as.p, m->assignment_len});
        m->session_timeout_ms = (uint32_t)st;
        m->rebalance_timeout_ms = (uint32_t)rt;
        m->synced = true;
        m->session_deadline = deadline_after(now_ms, m->session_timeout_ms);
        if (kstr_eq(leader, m->id)) lead = m;
        ms[got] = m;
    }
    if (got < n || kr_left(&r) != 0 || (stable && !lead)) {
        for (int32_t i = 0; i < got; i++) member_free(ms[i]);
        free(ms);
        return false;
    }
    struct group *g = group_registry_get(reg, group_id);
    g->generation = generation;
    g->protocol_type = kstr_dup(ptype);
    if (stable) {
        g->protocol_name = kstr_dup(pname);
        g->members = ms;
        g->member_count = g->member_cap = (uint32_t)n;
        g->leader = lead;
        g->state = GROUP_STABLE;
    } else {
        free(ms);
    }
    return true;
}

/* ---- registry: a chained hash by group id plus a dense array for iteration ---- */

struct group_registry {
    struct group_config cfg;
    struct group_ops ops;
    uint64_t seed_state;
    struct group **buckets;
    uint32_t bucket_count; /* a power of two */
    struct group **all;
    uint32_t count, cap;
};

static uint64_t hash_id(const char *s) { /* FNV-1a */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static struct group **bucket_of(const struct group_registry *reg, const char *id) {
    return &reg->buckets[hash_id(id) & (reg->bucket_count - 1)];
}

static void registry_grow(struct group_registry *reg) {
    free(reg->buckets);
    reg->bucket_count *= 2;
    reg->buckets = sl_xcalloc(reg->bucket_count, sizeof(*reg->buckets));
    for (uint32_t i = 0; i < reg->count; i++) {
        struct group **b = bucket_of(reg, reg->all[i]->id);
        reg->all[i]->hnext = *b;
        *b = reg->all[i];
    }
}

struct group_registry *group_registry_create(const struct group_config *cfg,
                                             const struct group_ops *ops, uint64_t id_seed) {
    struct group_registry *reg = sl_xcalloc(1, sizeof(*reg));
    reg->cfg = *cfg;
    reg->ops = *ops;
    reg->seed_state = id_seed;
    reg->bucket_count = 16;
    reg->buckets = sl_xcalloc(reg->bucket_count, sizeof(*reg->buckets));
    return reg;
}

void group_registry_destroy(struct group_registry *reg) {
    if (!reg) return;
    for (uint32_t i = 0; i < reg->count; i++) group_destroy(reg->all[i]);
    free(reg->all);
    free(reg->buckets);
    free(reg);
}

struct group *group_registry_find(struct group_registry *reg, const char *group_id) {
    for (struct group *g = *bucket_of(reg, nz(group_id)); g; g = g->hnext)
        if (strcmp(g->id, nz(group_id)) == 0) return g;
    return NULL;
}

struct group *group_registry_get(struct group_registry *reg, const char *group_id) {
    struct group *g = group_registry_find(reg, group_id);
    if (g) return g;
    g = group_create(group_id, &reg->cfg, &reg->ops, next_random(&reg->seed_state));
    if (reg->count == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 16;
        reg->all = sl_xrealloc(reg->all, reg->cap * sizeof(*reg->all));
    }
    g->reg_index = reg->count;
    reg->all[reg->count++] = g;
    if (reg->count > reg->bucket_count) {
        registry_grow(reg);
    } else {
        struct group **b = bucket_of(reg, g->id);
        g->hnext = *b;
        *b = g;
    }
    return g;
}

/* Takes g out of the registry (its bucket chain and the dense array) and destroys it. */
static void registry_drop(struct group_registry *reg, struct group *g) {
    struct group **pp = bucket_of(reg, g->id);
    while (*pp != g) pp = &(*pp)->hnext;
    *pp = g->hnext;
    struct group *last = reg->all[--reg->count];
    reg->all[g->reg_index] = last;
    last->reg_index = g->reg_index;
    group_destroy(g);
}

sl_err group_registry_delete(struct group_registry *reg, const char *group_id) {
    struct group *g = group_registry_find(reg, group_id);
    if (!g) return SL_GROUP_ID_NOT_FOUND;
    sl_err err = group_delete(g);
    if (err) return err;
    registry_drop(reg, g);
    return SL_OK;
}

void group_registry_unload(struct group_registry *reg, const char *group_id) {
    struct group *g = group_registry_find(reg, group_id);
    if (g) registry_drop(reg, g);
}

uint32_t group_registry_count(const struct group_registry *reg) { return reg->count; }

struct group *group_registry_at(struct group_registry *reg, uint32_t i) {
    SL_ASSERT(i < reg->count);
    return reg->all[i];
}

void group_registry_tick(struct group_registry *reg, uint64_t now_ms) {
    for (uint32_t i = 0; i < reg->count; i++) group_tick(reg->all[i], now_ms);
}

uint64_t group_registry_next_deadline(const struct group_registry *reg) {
    uint64_t t = GROUP_NO_DEADLINE;
    for (uint32_t i = 0; i < reg->count; i++) t = SL_MIN(t, group_next_deadline(reg->all[i]));
    return t;
}
