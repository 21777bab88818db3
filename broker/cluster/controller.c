/* controller.c: see controller.h.
 *
 * Threads: everything named raft_*, uv_* and c->fsm belongs to the controller thread once it
 * runs (before, controller_start sets them up on the caller's thread; pthread_create orders
 * that). c->mu guards c->status, c->op and c->stop, which the loop, the controller thread and the
 * registrar thread share; the controller thread also changes c->fsm only under c->mu, so that
 * controller_topics can copy the topic table from the loop's side.
 *
 * Why a change blocks the calling thread (the loop) for a bounded time instead of parking the
 * HTTP request: the monitoring port's handlers answer synchronously today. A forwarded
 * registration or a removal takes one Raft commit (milliseconds on a LAN); an add waits for the
 * new node to catch up (0.5-2.5 s in tests/cluster, most of it the new node's first contact); a
 * transfer an election. Every wait is capped (the route's wait_ms); past it the answer is 504
 * and the change finishes on its own. Parking admin answers in http_server, with the result
 * handed back through an eventfd as base/workers.c does, is the change that removes the wait. */
#include "broker/cluster/controller.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/base.h"
#include "base/logging.h"

#define CONTROLLER_ELECTION_MS 1000  /* libraft's default: randomized in [1x, 2x) */
#define CONTROLLER_HEARTBEAT_MS 100
#define CONTROLLER_SNAPSHOT_EVERY 256 /* entries between snapshots */
#define CONTROLLER_SNAPSHOT_TRAILING 64
#define REGISTRAR_PERIOD_MS 1000     /* a follower checks its registration this often */

enum op_state { OP_IDLE, OP_QUEUED, OP_RUNNING, OP_DONE };

/* The Raft leader's account of a voter (fencing, and which replica to elect). */
struct controller_seen {
    uint32_t id;
    uint64_t seen_ms;     /* last heard from */
    uint64_t up_since_ms; /* heard from without a gap since then: a restart or a drain starts it again */
};

struct controller {
    struct controller_config cfg;
    pthread_t thread;
    bool thread_started;
    uv_loop_t uv;
    uv_async_t wake;
    uv_timer_t tick;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft raft;
    struct raft_fsm fsm_ops;
    struct cluster_fsm fsm; /* the replicated state, applied on this thread */

    /* The controller thread's own registration entry in flight. */
    struct raft_apply apply_req;
    bool apply_busy;
    /* A leader's barrier: once an entry of its own term is applied, everything committed
     * before it is too (Raft's leader completeness), so the table it applied is current. */
    struct raft_barrier barrier_req;
    bool barrier_busy;
    uint64_t barrier_term;   /* the term the barrier in flight was proposed in */
    uint64_t current_term;   /* the term whose barrier applied (0: none yet) */
    uint64_t last_term;
    uint64_t elections;
    uint64_t ticks;
    int last_state;

    struct raft_change change_req;
    struct raft_transfer transfer_req;
    struct raft_apply op_apply_req; /* a forwarded registration (CONTROLLER_REGISTER) */

    pthread_t registrar;
    bool registrar_started;
    pthread_cond_t registrar_cv; /* wakes the registrar early at stop */

    /* Fencing (the leader's view): when each voter was last heard from, on this thread's
     * clock; elections of partition leaders, one batch of entries at a time. */
    struct controller_seen seen[CONTROLLER_VOTERS_MAX];
    uint32_t seen_count;
    bool led; /* was the Raft leader at the last tick */
    struct raft_apply elect_req;
    bool elect_busy;
    uint64_t elections_made;
    uint64_t started_ms;      /* this node's start, on this thread's clock: its own up time */
    /* libraft's receive callback, which controller_recv forwards every message to after
     * noting the commit index a leader's AppendEntries carries (heard_commit, of heard_term). */
    int (*uv_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv);
    raft_io_recv_cb raft_recv;
    raft_term heard_term; /* 0: no AppendEntries since this start */
    raft_index heard_commit;
    uint64_t rebalance_at_ms; /* the next leader rebalance pass (the leader's clock; 0: not yet set) */
    uint64_t rebalances_made; /* leaderships the rebalance moved */
    /* Brokers in a controlled shutdown, until when: neither elected nor let back into an ISR. */
    struct {
        uint32_t id;
        uint64_t until_ms;
    } draining[CONTROLLER_VOTERS_MAX];

    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when op reaches OP_DONE */
    bool stop;
    struct controller_status status;
    struct {
        enum op_state state;
        bool abandoned; /* its waiter timed out: the thread resets the slot itself */
        enum controller_change_kind kind;
        uint32_t id;
        char address[CLUSTER_ADDR_MAX];
        struct cluster_broker reg; /* CONTROLLER_REGISTER */
        struct controller_topic_req topic; /* CONTROLLER_TOPIC_* */
        struct controller_result result;
    } op;
};

const char *controller_state_name(int state) {
    switch (state) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    default: return "unavailable";
    }
}

const char *controller_role_name(int role) {
    switch (role) {
    case RAFT_VOTER: return "voter";
    case RAFT_STANDBY: return "standby";
    case RAFT_SPARE: return "spare";
    default: return "unknown";
    }
}

/* ---- the FSM, called by libraft on the controller thread --------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
    struct controller *c = fsm->data;
    struct cluster_cmd cmd;
    char err[160];
    *result = NULL;
    if (cluster_cmd_decode(buf->base, buf->len, &cmd, err, sizeof(err)) != 0) {
        /* A committed entry this version cannot read: stop applying rather than diverge. */
        SL_ERROR("cluster: cannot apply a committed entry: %s", err);
        return RAFT_MALFORMED;
    }
    pthread_mutex_lock(&c->mu);
    int rc = cluster_fsm_apply(&c->fsm, &cmd);
    pthread_mutex_unlock(&c->mu);
    if (rc != 0) {
        if (cmd.type == CLUSTER_CMD_REGISTER)
            SL_ERROR("cluster: cannot register node %u: already %d brokers", cmd.reg.node_id, CLUSTER_BROKERS_MAX);
        else
            SL_ERROR("cluster: cannot place topic %s: %d topics already, or out of memory", cmd.topic.name,
                     CLUSTER_TOPICS_MAX);
        cluster_cmd_free(&cmd);
        return RAFT_TOOMANY;
    }
    switch (cmd.type) {
    case CLUSTER_CMD_REGISTER:
        SL_INFO("cluster: broker %u registered: kafka %s, nats %s", cmd.reg.node_id, cmd.reg.kafka, cmd.reg.nats);
        break;
    case CLUSTER_CMD_TOPIC_PUT:
        SL_INFO("cluster: topic %s placed: %u partition(s)", cmd.topic.name, cmd.topic.partition_count);
        break;
    case CLUSTER_CMD_TOPIC_REMOVE:
        SL_INFO("cluster: topic %s removed", cmd.topic.name);
        break;
    case CLUSTER_CMD_PARTITION_STATE: {
        char isr[96] = "";
        for (uint32_t j = 0, n = 0; j < cmd.state.isr_count && n < sizeof(isr); j++)
            n += (uint32_t)snprintf(isr + n, sizeof(isr) - n, "%s%u", j ? "," : "", cmd.state.isr[j]);
        SL_INFO("cluster: %s[%u]: leader %u, isr [%s] (asked against epoch %u)", cmd.topic.name, cmd.partition,
                cmd.state.replicas[0], isr, cmd.state.leader_epoch);
        break;
    }
    }
    cluster_cmd_free(&cmd);
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    struct controller *c = fsm->data;
    size_t size = cluster_fsm_snapshot_size(&c->fsm);
    struct raft_buffer *b = raft_malloc(sizeof(*b));
    if (!b) return RAFT_NOMEM;
    b->base = raft_malloc(size);
    if (!b->base) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    b->len = cluster_fsm_snapshot_encode(&c->fsm, b->base, size);
    SL_ASSERT(b->len == size);
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
    (void)fsm;
    for (unsigned i = 0; i < *n_bufs; i++) raft_free((*bufs)[i].base);
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
    struct controller *c = fsm->data;
    char err[160];
    pthread_mutex_lock(&c->mu);
    int rc = cluster_fsm_restore(&c->fsm, buf->base, buf->len, err, sizeof(err));
    pthread_mutex_unlock(&c->mu);
    if (rc != 0) {
        SL_ERROR("cluster: cannot restore a snapshot: %s", err);
        return RAFT_MALFORMED;
    }
    raft_free(buf->base); /* restore owns the buffer once it succeeds */
    SL_INFO("cluster: restored a snapshot: %u brokers", c->fsm.count);
    return 0;
}

/* ---- status ------------------------------------------------------------------------------ */

/* Copies Raft's view into c->status (under mu). Controller thread. */
static bool controller_alive(struct controller *c, uint32_t id, uint64_t now);
static struct controller_seen *controller_seen(struct controller *c, uint32_t id);

static void controller_publish(struct controller *c) {
    struct raft *r = &c->raft;
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader(r, &leader_id, &leader_address);
    int state = raft_state(r);
    if (r->current_term != c->last_term) {
        if (c->last_term) c->elections++;
        c->last_term = r->current_term;
    }
    if (state != c->last_state) {
        SL_INFO("cluster: node %u is now %s (term %llu, leader %llu)", c->cfg.node_id,
                controller_state_name(state), (unsigned long long)r->current_term, (unsigned long long)leader_id);
        c->last_state = state;
    }
    pthread_mutex_lock(&c->mu);
    struct controller_status *s = &c->status;
    s->state = state;
    s->leader_id = (uint32_t)leader_id;
    snprintf(s->leader_address, sizeof(s->leader_address), "%s", leader_address ? leader_address : "");
    s->term = r->current_term;
    s->commit_index = r->commit_index;
    s->last_applied = raft_last_applied(r);
    s->leader_current = state == RAFT_LEADER && c->current_term == r->current_term;
    s->leader_commit_heard = c->heard_term && c->heard_term == r->current_term;
    s->leader_commit = s->leader_commit_heard ? c->heard_commit : 0;
    s->elections = c->elections;
    s->server_count = 0;
    for (unsigned i = 0; i < r->configuration.n && i < CONTROLLER_VOTERS_MAX; i++) {
        struct controller_server *v = &s->servers[s->server_count++];
        v->id = (uint32_t)r->configuration.servers[i].id;
        v->fenced = c->led && !controller_alive(c, v->id, uv_now(&c->uv));
        v->role = r->configuration.servers[i].role;
        snprintf(v->address, sizeof(v->address), "%s", r->configuration.servers[i].address);
    }
    s->fsm = c->fsm;
    /* The status is copied whole by every reader: it carries the table's generation, never its
     * memory (controller_topics copies that). */
    s->fsm.topics = (struct cluster_topics){.gen = c->fsm.topics.gen};
    pthread_mutex_unlock(&c->mu);
}

/* ---- a new leader's barrier ---------------------------------------------------------------- */

static void barrier_done(struct raft_barrier *req, int status) {
    struct controller *c = req->data;
    c->barrier_busy = false;
    if (status == 0) c->current_term = c->barrier_term;
    controller_publish(c);
}

/* While leader of a term whose barrier has not applied yet, proposes one. */
static void barrier_propose(struct controller *c) {
    if (c->barrier_busy || raft_state(&c->raft) != RAFT_LEADER || c->current_term == c->raft.current_term) return;
    c->barrier_req.data = c;
    c->barrier_term = c->raft.current_term;
    int rv = raft_barrier(&c->raft, &c->barrier_req, barrier_done);
    if (rv != 0) {
        SL_DEBUG("cluster: raft_barrier: %s", raft_strerror(rv));
        return;
    }
    c->barrier_busy = true;
}

/* ---- registration ------------------------------------------------------------------------ */

static void register_done(struct raft_apply *req, int status, void *result) {
    struct controller *c = req->data;
    (void)result;
    c->apply_busy = false;
    if (status != 0)
        SL_WARN("cluster: registering node %u failed: %s (tried again while leader)", c->cfg.node_id,
                raft_strerror(status));
    controller_publish(c);
}

/* While leader, makes sure this node's registration is in the FSM as it advertises it. */
static void register_self(struct controller *c) {
    if (c->apply_busy || raft_state(&c->raft) != RAFT_LEADER) return;
    const struct cluster_broker *have = cluster_fsm_find(&c->fsm, c->cfg.node_id);
    if (have && !strcmp(have->kafka, c->cfg.self.kafka) && !strcmp(have->nats, c->cfg.self.nats) &&
        !strcmp(have->http, c->cfg.self.http) && !strcmp(have->route, c->cfg.self.route))
        return;
    struct cluster_cmd cmd = {.type = CLUSTER_CMD_REGISTER, .reg = c->cfg.self};
    uint8_t tmp[16 + 4 * CLUSTER_HOSTPORT_MAX];
    size_t n = cluster_cmd_encode(&cmd, tmp, sizeof(tmp));
    SL_ASSERT(n > 0); /* the registration was checked at start */
    struct raft_buffer buf = {raft_malloc(n), n};
    if (!buf.base) return;
    memcpy(buf.base, tmp, n);
    c->apply_req.data = c;
    int rv = raft_apply(&c->raft, &c->apply_req, &buf, 1, register_done);
    if (rv != 0) {
        raft_free(buf.base);
        SL_DEBUG("cluster: raft_apply: %s", raft_strerror(rv));
        return;
    }
    c->apply_busy = true;
}

/* ---- membership changes ------------------------------------------------------------------ */

/* Ends the change in the slot (controller thread). */
static void op_finish(struct controller *c, int rc, const char *message) {
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    raft_leader(&c->raft, &leader_id, &leader_address);
    pthread_mutex_lock(&c->mu);
    struct controller_result *res = &c->op.result;
    res->rc = rc;
    res->leader_id = (uint32_t)leader_id;
    snprintf(res->leader_address, sizeof(res->leader_address), "%s", leader_address ? leader_address : "");
    snprintf(res->message, sizeof(res->message), "%s",
             message ? message : rc ? raft_strerror(rc) : "done");
    if (c->op.abandoned) {
        SL_INFO("cluster: a membership change finished after its request gave up: %s", res->message);
        c->op.state = OP_IDLE;
        c->op.abandoned = false;
    } else {
        c->op.state = OP_DONE;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    controller_publish(c);
}

static void change_done(struct raft_change *req, int status) {
    struct controller *c = req->data;
    op_finish(c, status, NULL);
}

static void add_done(struct raft_change *req, int status) {
    struct controller *c = req->data;
    if (status != 0) {
        op_finish(c, status, NULL);
        return;
    }
    /* A spare now; a voter once it has caught up (libraft promotes after the catch-up rounds). */
    int rv = raft_assign(&c->raft, &c->change_req, c->op.id, RAFT_VOTER, change_done);
    if (rv != 0) op_finish(c, rv, NULL);
}

static void transfer_done(struct raft_transfer *req) {
    struct controller *c = req->data;
    raft_id leader_id = 0;
    const char *address = NULL;
    raft_leader(&c->raft, &leader_id, &address);
    bool moved = leader_id != 0 && leader_id != c->cfg.node_id && (!c->op.id || leader_id == c->op.id);
    op_finish(c, moved ? 0 : RAFT_LEADERSHIPLOST, moved ? NULL : "the leadership did not move in time");
}

static void op_apply_done(struct raft_apply *req, int status, void *result) {
    struct controller *c = req->data;
    (void)result;
    op_finish(c, status, NULL);
}

static int op_register(struct controller *c) {
    struct cluster_cmd cmd = {.type = CLUSTER_CMD_REGISTER, .reg = c->op.reg};
    uint8_t tmp[16 + 4 * CLUSTER_HOSTPORT_MAX];
    size_t n = cluster_cmd_encode(&cmd, tmp, sizeof(tmp));
    if (n == 0) return RAFT_INVALID; /* the route checked the fields */
    struct raft_buffer buf = {raft_malloc(n), n};
    if (!buf.base) return RAFT_NOMEM;
    memcpy(buf.base, tmp, n);
    c->op_apply_req.data = c;
    int rv = raft_apply(&c->raft, &c->op_apply_req, &buf, 1, op_apply_done);
    if (rv != 0) raft_free(buf.base);
    return rv;
}

/* Appends an encoded command for the slot's change. */
static int op_apply_cmd(struct controller *c, const struct cluster_cmd *cmd) {
    size_t n = cluster_cmd_size(cmd);
    if (n == 0) return RAFT_INVALID;
    struct raft_buffer buf = {raft_malloc(n), n};
    if (!buf.base) return RAFT_NOMEM;
    if (cluster_cmd_encode(cmd, buf.base, n) != n) {
        raft_free(buf.base);
        return RAFT_INVALID;
    }
    c->op_apply_req.data = c;
    int rv = raft_apply(&c->raft, &c->op_apply_req, &buf, 1, op_apply_done);
    if (rv != 0) raft_free(buf.base);
    return rv;
}

/* A topic change: checked and placed against the FSM this thread applies to. Returns a RAFT_*
 * code or a CONTROLLER_RC_* one with *msg set; 0 once the entry is on its way. */
static int op_topic(struct controller *c, const char **msg) {
    const struct controller_topic_req *rq = &c->op.topic;
    if (raft_state(&c->raft) != RAFT_LEADER) return RAFT_NOTLEADER;
    const struct cluster_topic *have = cluster_topics_find(&c->fsm.topics, rq->name);
    struct cluster_cmd cmd = {.type = CLUSTER_CMD_TOPIC_PUT};
    snprintf(cmd.topic.name, sizeof(cmd.topic.name), "%s", rq->name);
    if (c->op.kind == CONTROLLER_TOPIC_REMOVE) {
        if (!have) {
            *msg = "no such topic";
            return CONTROLLER_RC_NOT_FOUND;
        }
        cmd.type = CLUSTER_CMD_TOPIC_REMOVE;
        return op_apply_cmd(c, &cmd);
    }
    if (c->op.kind == CONTROLLER_TOPIC_CREATE && have) {
        *msg = "topic already exists";
        return CONTROLLER_RC_EXISTS;
    }
    if (c->op.kind == CONTROLLER_TOPIC_GROW || c->op.kind == CONTROLLER_TOPIC_CONFIGS) {
        if (!have) {
            *msg = "no such topic";
            return CONTROLLER_RC_NOT_FOUND;
        }
        if (c->op.kind == CONTROLLER_TOPIC_GROW && rq->partitions <= have->partition_count) {
            *msg = "the partition count can only grow";
            return CONTROLLER_RC_INVALID;
        }
    }
    uint32_t nodes[CLUSTER_BROKERS_MAX];
    for (uint32_t i = 0; i < c->fsm.count; i++) nodes[i] = c->fsm.brokers[i].node_id;
    if (c->fsm.count == 0) {
        *msg = "no broker is registered yet";
        return CONTROLLER_RC_INVALID;
    }
    uint32_t partitions = c->op.kind == CONTROLLER_TOPIC_CONFIGS ? have->partition_count : rq->partitions;
    cmd.topic.partition_count = partitions;
    cmd.topic.parts = calloc(partitions, sizeof(*cmd.topic.parts));
    if (!cmd.topic.parts) return RAFT_NOMEM;
    /* A new topic's replicas per partition as asked; a growth places its new partitions with as
     * many as the topic has; a config change places nothing new. */
    uint32_t rf = have ? have->parts[0].replica_count : SL_MAX(rq->replication_factor, 1u);
    if (rf > c->fsm.count) {
        free(cmd.topic.parts);
        *msg = "the replication factor is larger than the registered brokers";
        return CONTROLLER_RC_REPLICATION;
    }
    if (cluster_place(nodes, c->fsm.count, rq->name, partitions, rf, have, cmd.topic.parts) != 0) {
        free(cmd.topic.parts);
        *msg = "the partition count is out of range";
        return CONTROLLER_RC_INVALID;
    }
    if (have && c->op.kind == CONTROLLER_TOPIC_CONFIGS) {
        memcpy(cmd.topic.id, have->id, 16);
        cmd.topic.config_count = rq->config_count;
        cmd.topic.configs = (struct cluster_config *)rq->configs;
    } else if (have) {
        memcpy(cmd.topic.id, have->id, 16);
        cmd.topic.config_count = have->config_count;
        cmd.topic.configs = have->configs; /* borrowed for the encoding */
    } else {
        memcpy(cmd.topic.id, rq->id, 16);
        cmd.topic.config_count = rq->config_count;
        cmd.topic.configs = (struct cluster_config *)rq->configs;
    }
    int rv = op_apply_cmd(c, &cmd);
    free(cmd.topic.parts);
    return rv;
}

/* A draining broker stays out of ISRs and elections this long: it stops its fetchers before it
 * asks (cluster_replica_quiesce), so the hold only has to outlast a fetch that was in flight
 * and the few hundred milliseconds until it exits; a restarted broker is back in the ISR as
 * soon as it has caught up after that. */
#define DRAIN_HOLD_MS 2000

static bool controller_draining(struct controller *c, uint32_t id, uint64_t now) {
    for (uint32_t i = 0; i < CONTROLLER_VOTERS_MAX; i++)
        if (c->draining[i].id == id && now < c->draining[i].until_ms) return true;
    return false;
}

/* Builds the commands of one pass over the placement into bufs (at most max): every replicated
 * partition whose leader is not live gets the first live, eligible ISR replica as leader, and
 * every ISR loses the brokers that are not live; gone is a broker to treat as not live (a
 * draining one), 0 none. Returns how many. */
static unsigned controller_moves(struct controller *c, uint64_t now, uint32_t gone, struct raft_buffer *bufs,
                                 unsigned max);

/* A leader's ISR change: made against the FSM this thread applies to, only by the partition's
 * leader at its current epoch, and never adding a fenced broker (Kafka refuses those too). */
static int op_partition(struct controller *c, const char **msg) {
    const struct controller_topic_req *rq = &c->op.topic;
    const struct cluster_topic *t = cluster_topics_find(&c->fsm.topics, rq->name);
    if (!t || memcmp(t->id, rq->id, 16) != 0 || rq->partition >= t->partition_count) {
        *msg = "no such partition";
        return CONTROLLER_RC_NOT_FOUND;
    }
    const struct cluster_part *pt = &t->parts[rq->partition];
    if (rq->leader_epoch != pt->leader_epoch || rq->leader != pt->replicas[0]) {
        *msg = "not the partition's leader at its current epoch";
        return CONTROLLER_RC_STALE;
    }
    uint64_t now = uv_now(&c->uv);
    for (uint32_t i = 0; i < rq->isr_count; i++)
        if (!cluster_part_in_isr(pt, rq->isr[i]) &&
            (!controller_alive(c, rq->isr[i], now) || controller_draining(c, rq->isr[i], now))) {
            *msg = "a fenced or stopping broker cannot join the ISR";
            return CONTROLLER_RC_INVALID;
        }
    struct cluster_cmd cmd = {.type = CLUSTER_CMD_PARTITION_STATE, .partition = rq->partition};
    snprintf(cmd.topic.name, sizeof(cmd.topic.name), "%s", rq->name);
    memcpy(cmd.topic.id, rq->id, 16);
    cmd.state.leader_epoch = rq->leader_epoch;
    cmd.state.replicas[0] = rq->leader;
    cmd.state.replica_count = 1;
    cmd.state.isr_count = rq->isr_count;
    memcpy(cmd.state.isr, rq->isr, sizeof(cmd.state.isr));
    return op_apply_cmd(c, &cmd);
}

/* Kafka's controlled shutdown: a broker about to stop asks that the partitions it leads move
 * to another in-sync replica and that it leave every ISR, so its clients fail over at once
 * instead of after the session timeout, and acks=all does not wait for it. */
#define DRAIN_BATCH 256
static int op_drain(struct controller *c) {
    uint32_t id = c->op.topic.leader;
    uint64_t now = uv_now(&c->uv);
    uint32_t slot = 0;
    for (uint32_t i = 0; i < CONTROLLER_VOTERS_MAX; i++)
        if (c->draining[i].id == id || c->draining[i].until_ms <= now) {
            slot = i;
            break;
        }
    c->draining[slot].id = id;
    c->draining[slot].until_ms = now + DRAIN_HOLD_MS;
    struct controller_seen *seen = controller_seen(c, id);
    if (seen) seen->up_since_ms = now; /* it restarts: when back, it is the newest */
    static struct raft_buffer bufs[DRAIN_BATCH];
    unsigned n = controller_moves(c, now, id, bufs, DRAIN_BATCH);
    if (n == 0) {
        op_finish(c, 0, "nothing to move");
        return 0;
    }
    SL_INFO("cluster: broker %u is stopping: %u partition change(s) move its leaderships and ISR places", id, n);
    c->op_apply_req.data = c;
    int rv = raft_apply(&c->raft, &c->op_apply_req, bufs, n, op_apply_done);
    if (rv != 0)
        for (unsigned i = 0; i < n; i++) raft_free(bufs[i].base);
    return rv;
}

static void op_start(struct controller *c) {
    int rv;
    const char *msg = NULL;
    c->change_req.data = c;
    c->transfer_req.data = c;
    switch (c->op.kind) {
    case CONTROLLER_REGISTER:
        rv = op_register(c);
        break;
    case CONTROLLER_TOPIC_CREATE:
    case CONTROLLER_TOPIC_GROW:
    case CONTROLLER_TOPIC_REMOVE:
    case CONTROLLER_TOPIC_CONFIGS:
        rv = op_topic(c, &msg);
        break;
    case CONTROLLER_PARTITION_ISR:
        rv = op_partition(c, &msg);
        break;
    case CONTROLLER_BROKER_DRAIN:
        rv = op_drain(c);
        break;
    case CONTROLLER_ADD:
        rv = raft_add(&c->raft, &c->change_req, c->op.id, c->op.address, add_done);
        break;
    case CONTROLLER_REMOVE:
        rv = raft_remove(&c->raft, &c->change_req, c->op.id, change_done);
        break;
    default:
        rv = raft_transfer(&c->raft, &c->transfer_req, c->op.id, transfer_done);
        break;
    }
    if (rv != 0) op_finish(c, rv, msg);
}

/* ---- the controller thread --------------------------------------------------------------- */

/* ---- the Raft sockets' user timeout ------------------------------------------------------
 * libraft's TCP transport keeps a connection to a peer that stopped answering (a cut cable, a
 * partition) open while the kernel retransmits with an exponential backoff: after a 25 s cut
 * the next retransmission was 13 s away (`ss`: rto 13312, backoff 6), so a healed node was
 * reached again only then, and a cut of minutes took minutes to heal. With TCP_USER_TIMEOUT
 * the kernel closes a connection whose data stays unacknowledged that long (and gives up a
 * connect whose SYNs go unanswered), libraft connects again every second, and a healed peer
 * is back within a few seconds. The transport creates its sockets itself and has no hook for
 * options, so the controller thread sets it on the TCP handles of its loop (libraft's only:
 * the loop is the controller's) once a second; a socket that has it already is set again,
 * which costs one syscall. */
#define RAFT_TCP_USER_TIMEOUT_MS 3000
#define RAFT_SOCKOPT_EVERY_TICKS (1000 / CONTROLLER_TICK_MS)

static void raft_socket_timeout(uv_handle_t *h, void *arg) {
    (void)arg;
    if (h->type != UV_TCP || uv_is_closing(h)) return;
    uv_os_fd_t fd;
    if (uv_fileno(h, &fd) != 0) return; /* not open yet */
    unsigned ms = RAFT_TCP_USER_TIMEOUT_MS;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)); /* a listener ignores it */
}

/* ---- fencing and partition leader elections ----------------------------------------------
 * Only the Raft leader acts. libraft marks a voter's progress recent_recv when an answer of it
 * arrives and clears every mark once per election timeout, so sampling it every tick tells
 * when each voter was last heard from (a live one answers the 100 ms heartbeats). A voter
 * silent for session_ms is fenced: every partition it leads gets as leader the first replica
 * (in replica order) that is in the ISR and not fenced, and it leaves every ISR, so acks=all
 * and the high watermark stop waiting for it. A partition whose ISR holds no live broker stays
 * as it is (offline: no unclean election). A new Raft leader starts every clock afresh. */

/* A voter silent this long has been away (heartbeats are 100 ms apart, and libraft's marks
 * reset once per election timeout): when it answers again it is up only from then. */
#define UP_GAP_MS 600

static struct controller_seen *controller_seen(struct controller *c, uint32_t id) {
    for (uint32_t i = 0; i < c->seen_count; i++)
        if (c->seen[i].id == id) return &c->seen[i];
    return NULL;
}

/* Since when id has been up without a gap: the controller's own node since it started (a
 * broker restarted seconds ago often takes the Raft leadership handed over by the next one
 * stopping in a rolling restart, and clients still back off from it all the same). */
static uint64_t controller_up_since(struct controller *c, uint32_t id) {
    if (id == c->cfg.node_id) return c->started_ms;
    struct controller_seen *s = controller_seen(c, id);
    return s ? s->up_since_ms : 0;
}

static bool controller_alive(struct controller *c, uint32_t id, uint64_t now) {
    if (id == c->cfg.node_id) return true;
    struct controller_seen *seen = controller_seen(c, id);
    /* A broker that is not a voter is not watched: never fenced. */
    return !seen || c->cfg.session_ms == 0 || now - seen->seen_ms <= c->cfg.session_ms;
}

static void controller_watch(struct controller *c, uint64_t now) {
    struct raft *r = &c->raft;
    bool leader = raft_state(r) == RAFT_LEADER;
    if (!leader) {
        c->led = false;
        return;
    }
    for (unsigned i = 0; i < r->configuration.n; i++) {
        uint32_t id = (uint32_t)r->configuration.servers[i].id;
        struct controller_seen *seen = controller_seen(c, id);
        if (!seen && c->seen_count < CONTROLLER_VOTERS_MAX) {
            seen = &c->seen[c->seen_count++];
            *seen = (struct controller_seen){.id = id, .seen_ms = now, .up_since_ms = 0};
        }
        if (!seen) continue;
        bool heard = !c->led || (r->leader_state.progress && r->leader_state.progress[i].recent_recv);
        if (!heard) continue;
        /* Back after a silence (a restart, a cut): it counts as up from now. */
        if (c->led && now - seen->seen_ms > UP_GAP_MS) seen->up_since_ms = now;
        seen->seen_ms = now;
    }
    c->led = true;
}

static void elect_done(struct raft_apply *req, int status, void *result) {
    struct controller *c = req->data;
    (void)result;
    c->elect_busy = false;
    if (status != 0) SL_WARN("cluster: partition leader changes not committed: %s", raft_strerror(status));
    controller_publish(c);
}

#define ELECT_BATCH 64

/* cmd (a PARTITION_STATE with its ISR filled in) made against the partition's epoch with leader,
 * encoded into a Raft buffer; false if it could not be. */
static bool partition_state_cmd(struct cluster_cmd *cmd, const struct cluster_topic *t, const struct cluster_part *pt,
                                uint32_t leader, struct raft_buffer *out) {
    snprintf(cmd->topic.name, sizeof(cmd->topic.name), "%s", t->name);
    memcpy(cmd->topic.id, t->id, 16);
    cmd->state.leader_epoch = pt->leader_epoch;
    cmd->state.replicas[0] = leader;
    cmd->state.replica_count = 1;
    size_t len = cluster_cmd_size(cmd);
    void *base = len ? raft_malloc(len) : NULL;
    if (!base) return false;
    if (cluster_cmd_encode(cmd, base, len) != len) {
        raft_free(base);
        return false;
    }
    *out = (struct raft_buffer){base, len};
    return true;
}

static unsigned controller_moves(struct controller *c, uint64_t now, uint32_t gone, struct raft_buffer *bufs,
                                 unsigned max) {
    unsigned n = 0;
    const struct cluster_topics *ts = &c->fsm.topics;
    for (uint32_t i = 0; i < ts->count && n < max; i++) {
        const struct cluster_topic *t = &ts->v[i];
        for (uint32_t p = 0; p < t->partition_count && n < max; p++) {
            const struct cluster_part *pt = &t->parts[p];
            if (pt->replica_count < 2) continue;
            struct cluster_cmd cmd = {.type = CLUSTER_CMD_PARTITION_STATE, .partition = p};
            struct cluster_part *st = &cmd.state;
            for (uint32_t j = 0; j < pt->isr_count; j++)
                if (pt->isr[j] != gone && controller_alive(c, pt->isr[j], now)) st->isr[st->isr_count++] = pt->isr[j];
            bool leader_alive = pt->replicas[0] != gone && controller_alive(c, pt->replicas[0], now);
            if (leader_alive && st->isr_count == pt->isr_count) continue; /* nothing fenced here */
            if (st->isr_count == 0) continue;                            /* offline: wait */
            uint32_t leader = leader_alive ? pt->replicas[0] : 0;
            /* Not a draining broker (the one leaving, or one still in its hold); of the others
             * the one up the longest: a broker just back has clients still waiting out their
             * reconnect backoff to it (librdkafka's grows to 10 s while it was down), and would
             * keep them from producing. Replica order breaks ties. */
            for (uint32_t j = 0; j < pt->replica_count && !leader_alive; j++) {
                uint32_t id = pt->replicas[j];
                if (!cluster_part_in_isr(st, id) || controller_draining(c, id, now)) continue;
                if (!leader || controller_up_since(c, id) < controller_up_since(c, leader)) leader = id;
            }
            for (uint32_t j = 0; j < pt->replica_count && !leader; j++)
                if (cluster_part_in_isr(st, pt->replicas[j])) leader = pt->replicas[j];
            if (!leader || !partition_state_cmd(&cmd, t, pt, leader, &bufs[n])) continue;
            if (!leader_alive)
                SL_INFO("cluster: %s[%u]: leader %u %s, %u elected (epoch %u)", t->name, p, pt->replicas[0],
                        pt->replicas[0] == gone ? "stopping" : "fenced", leader, pt->leader_epoch + 1);
            n++;
        }
    }
    return n;
}

/* Commits a batch of partition leader changes (one at a time: elect_busy); false if Raft
 * refused it (the buffers are freed, the next tick builds them again). */
static bool controller_apply_moves(struct controller *c, struct raft_buffer *bufs, unsigned n) {
    c->elect_req.data = c;
    int rv = raft_apply(&c->raft, &c->elect_req, bufs, n, elect_done);
    if (rv != 0) {
        for (unsigned i = 0; i < n; i++) raft_free(bufs[i].base);
        return false;
    }
    c->elect_busy = true;
    return true;
}

static void controller_elect(struct controller *c, uint64_t now) {
    if (!c->led || c->elect_busy || c->cfg.session_ms == 0) return;
    struct raft_buffer bufs[ELECT_BATCH];
    unsigned n = controller_moves(c, now, 0, bufs, ELECT_BATCH);
    if (n && controller_apply_moves(c, bufs, n)) c->elections_made += n;
}

/* ---- leader rebalance ----------------------------------------------------------------------
 * Failovers and controlled shutdowns leave the leaderships with the brokers that stayed up:
 * after a rolling restart of every broker, most of them end on one. As Kafka's
 * auto.leader.rebalance, every rebalance_ms the Raft leader moves leaderships from a broker
 * leading more than its share of the replicated partitions to an in-sync replica of the same
 * partition leading fewer (the next leader epoch, the same ISR: that replica holds everything
 * committed), while that narrows the gap. It moves them only to brokers that are live, not
 * draining, and up for a whole interval (clients still back off from a broker that was away),
 * and never while failover elections are being committed. */

static bool rebalance_eligible(struct controller *c, uint32_t id, uint64_t now) {
    if (!controller_alive(c, id, now) || controller_draining(c, id, now)) return false;
    return now - controller_up_since(c, id) >= c->cfg.rebalance_ms;
}

static unsigned controller_rebalance_moves(struct controller *c, uint64_t now, struct raft_buffer *bufs,
                                           unsigned max) {
    const struct cluster_topics *ts = &c->fsm.topics;
    uint32_t ids[CLUSTER_BROKERS_MAX], led[CLUSTER_BROKERS_MAX];
    uint32_t nb = 0, total = 0;
    for (uint32_t i = 0; i < c->fsm.count && nb < CLUSTER_BROKERS_MAX; i++) {
        if (!rebalance_eligible(c, c->fsm.brokers[i].node_id, now)) continue;
        ids[nb] = c->fsm.brokers[i].node_id;
        led[nb++] = 0;
    }
    if (nb < 2) return 0;
    for (uint32_t i = 0; i < ts->count; i++)
        for (uint32_t p = 0; p < ts->v[i].partition_count; p++) {
            const struct cluster_part *pt = &ts->v[i].parts[p];
            if (pt->replica_count < 2) continue;
            total++;
            for (uint32_t k = 0; k < nb; k++) led[k] += ids[k] == pt->replicas[0];
        }
    uint32_t share = (total + nb - 1) / nb;
    unsigned n = 0;
    for (uint32_t i = 0; i < ts->count && n < max; i++) {
        const struct cluster_topic *t = &ts->v[i];
        for (uint32_t p = 0; p < t->partition_count && n < max; p++) {
            const struct cluster_part *pt = &t->parts[p];
            if (pt->replica_count < 2) continue;
            uint32_t from = nb;
            for (uint32_t k = 0; k < nb; k++)
                if (ids[k] == pt->replicas[0]) from = k;
            if (from == nb || led[from] <= share) continue;
            uint32_t to = nb;
            for (uint32_t j = 0; j < pt->isr_count; j++)
                for (uint32_t k = 0; k < nb; k++)
                    if (ids[k] == pt->isr[j] && k != from && led[k] + 1 < led[from] && (to == nb || led[k] < led[to]))
                        to = k;
            if (to == nb) continue;
            struct cluster_cmd cmd = {.type = CLUSTER_CMD_PARTITION_STATE, .partition = p};
            cmd.state.isr_count = pt->isr_count;
            memcpy(cmd.state.isr, pt->isr, pt->isr_count * sizeof(pt->isr[0]));
            if (!partition_state_cmd(&cmd, t, pt, ids[to], &bufs[n])) continue;
            SL_INFO("cluster: %s[%u]: leadership moved from %u (leads %u) to %u (leads %u) to balance (epoch %u)",
                    t->name, p, ids[from], led[from], ids[to], led[to], pt->leader_epoch + 1);
            led[from]--;
            led[to]++;
            n++;
        }
    }
    return n;
}

static void controller_rebalance(struct controller *c, uint64_t now) {
    if (!c->led || c->cfg.rebalance_ms == 0) {
        c->rebalance_at_ms = 0;
        return;
    }
    if (c->rebalance_at_ms == 0) c->rebalance_at_ms = now + c->cfg.rebalance_ms; /* a new leader waits a turn */
    if (c->elect_busy || now < c->rebalance_at_ms) return;
    c->rebalance_at_ms = now + c->cfg.rebalance_ms;
    struct raft_buffer bufs[ELECT_BATCH];
    unsigned n = controller_rebalance_moves(c, now, bufs, ELECT_BATCH);
    if (n && controller_apply_moves(c, bufs, n)) c->rebalances_made += n;
}

static void on_tick(uv_timer_t *t) {
    struct controller *c = t->data;
    register_self(c);
    barrier_propose(c);
    uint64_t now = uv_now(&c->uv);
    controller_watch(c, now);
    controller_elect(c, now);
    controller_rebalance(c, now);
    controller_publish(c);
    if (++c->ticks % RAFT_SOCKOPT_EVERY_TICKS == 0) uv_walk(&c->uv, raft_socket_timeout, c);
}

static void on_raft_close(struct raft *r) {
    struct controller *c = r->data;
    raft_uv_close(&c->io);
    raft_uv_tcp_close(&c->transport);
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_close((uv_handle_t *)&c->wake, NULL);
}

static void on_wake(uv_async_t *a) {
    struct controller *c = a->data;
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop;
    bool start = c->op.state == OP_QUEUED && !stop;
    if (start) c->op.state = OP_RUNNING;
    pthread_mutex_unlock(&c->mu);
    if (stop) {
        uv_timer_stop(&c->tick);
        raft_close(&c->raft, on_raft_close);
        return;
    }
    if (start) op_start(c);
}

static void *controller_main(void *arg) {
    struct controller *c = arg;
    pthread_setname_np(pthread_self(), "sl-raft");
    uv_run(&c->uv, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- the registrar: a follower's registration, sent to the leader ------------------------ */

/* The follower's check: sends its registration when the leader lacks it. Registrar thread. */
static void registrar_check(struct controller *c, struct controller_status *s, bool *warned) {
    controller_status(c, s);
    if (s->state != RAFT_FOLLOWER || !s->leader_id) return;
    const struct cluster_broker *have = cluster_fsm_find(&s->fsm, c->cfg.node_id);
    const struct cluster_broker *me = &c->cfg.self;
    if (have && !strcmp(have->kafka, me->kafka) && !strcmp(have->nats, me->nats) && !strcmp(have->http, me->http) &&
        !strcmp(have->route, me->route))
        return;
    const struct cluster_broker *leader = cluster_fsm_find(&s->fsm, s->leader_id);
    if (!leader) return; /* the leader registers itself first: then its port is known */
    char err[200];
    json_t *o = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)me->node_id, "kafka", me->kafka, "nats", me->nats,
                          "http", me->http);
    if (o && me->route[0]) json_object_set_new(o, "route", json_string(me->route)); /* a leader without routes
                                                                                     * may predate them */
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL; /* escapes whatever the advertised host holds */
    json_decref(o);
    if (!body) return;
    int status = c->cfg.post(c->cfg.post_arg, leader->http, c->cfg.token, body, err, sizeof(err));
    free(body);
    if (status == 200) {
        SL_INFO("cluster: registration sent to leader %u at %s", s->leader_id, leader->http);
        *warned = false;
    } else if (!*warned) {
        /* Once per failure streak: a leader changing or busy retries on its own. */
        SL_WARN("cluster: sending the registration to leader %u at %s failed: %s (retrying every %d ms)",
                s->leader_id, leader->http, status < 0 ? err : status == 403 ? "403 (http_token differs?)" : "refused",
                REGISTRAR_PERIOD_MS);
        *warned = true;
    }
}

static void *registrar_main(void *arg) {
    struct controller *c = arg;
    pthread_setname_np(pthread_self(), "sl-raft-reg");
    struct controller_status *s = sl_xcalloc(1, sizeof(*s));
    bool warned = false;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += REGISTRAR_PERIOD_MS / 1000;
        while (!c->stop && pthread_cond_timedwait(&c->registrar_cv, &c->mu, &deadline) != ETIMEDOUT) {}
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        registrar_check(c, s, &warned);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    free(s);
    return NULL;
}

static int mkdir_p(const char *dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* raft_bootstrap on a pristine directory; RAFT_CANTBOOTSTRAP means state is there: a restart. */
static int controller_bootstrap(struct controller *c) {
    if (c->cfg.join) {
        /* A bootstrapped log of its own would clash at index 1 with the cluster's. */
        SL_INFO("cluster: node %u is not in cluster_nodes: joining, waiting for the leader to add %s",
                c->cfg.node_id, c->cfg.address);
        return 0;
    }
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = 0;
    for (uint32_t i = 0; i < c->cfg.nodes.count && !rv; i++)
        rv = raft_configuration_add(&conf, c->cfg.nodes.nodes[i].id, c->cfg.nodes.nodes[i].address, RAFT_VOTER);
    if (!rv) rv = raft_bootstrap(&c->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        SL_INFO("cluster: %s holds Raft state: restarting from it", c->cfg.dir);
        return 0;
    }
    if (rv != 0) {
        SL_ERROR("cluster: cannot bootstrap %s: %s", c->cfg.dir, raft_strerror(rv));
        return -1;
    }
    SL_INFO("cluster: bootstrapped %s with %u voters", c->cfg.dir, c->cfg.nodes.count);
    return 0;
}

/* A follower's commit index in libraft is min(the leader's, its own log's end): just after a
 * start, with the entries committed while it was away not yet received, it can equal what the
 * follower holds and make an old table look current (it once named a restarted broker the
 * leader of partitions others had led since its kill). The leader's own commit index rides on
 * every AppendEntries, heartbeats included; libraft keeps no copy, so every message it
 * receives passes here first. KRaft's broker waits the same way for the metadata log's high
 * watermark a fetch answer carries. */
static void controller_recv(struct raft_io *io, struct raft_message *m) {
    struct controller *c = ((struct raft *)io->data)->data;
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        const struct raft_append_entries *a = &m->append_entries;
        if (a->term > c->heard_term) {
            c->heard_term = a->term;
            c->heard_commit = a->leader_commit;
        } else if (a->term == c->heard_term && a->leader_commit > c->heard_commit) {
            c->heard_commit = a->leader_commit;
        }
    }
    c->raft_recv(io, m);
}

static int controller_io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv) {
    struct controller *c = ((struct raft *)io->data)->data;
    c->raft_recv = recv;
    return c->uv_start(io, msecs, tick, controller_recv);
}

/* Runs the uv loop here until raft and every handle have closed (a failed start). */
static void controller_close_here(struct controller *c, bool raft_inited) {
    if (raft_inited) {
        raft_close(&c->raft, on_raft_close);
    } else {
        raft_uv_close(&c->io);
        raft_uv_tcp_close(&c->transport);
        uv_close((uv_handle_t *)&c->tick, NULL);
        uv_close((uv_handle_t *)&c->wake, NULL);
    }
    uv_run(&c->uv, UV_RUN_DEFAULT);
}

static int controller_open_raft(struct controller *c) {
    int rv;
    if ((rv = raft_uv_tcp_init(&c->transport, &c->uv)) != 0) {
        SL_ERROR("cluster: raft_uv_tcp_init: %s", raft_strerror(rv));
        return -1;
    }
    if (c->cfg.bind[0] && (rv = raft_uv_tcp_set_bind_address(&c->transport, c->cfg.bind)) != 0) {
        SL_ERROR("cluster: cluster_raft_addr %s: %s", c->cfg.bind, raft_strerror(rv));
        raft_uv_tcp_close(&c->transport);
        return -1;
    }
    if ((rv = raft_uv_init(&c->io, &c->uv, c->cfg.dir, &c->transport)) != 0) {
        SL_ERROR("cluster: cannot open %s: %s", c->cfg.dir, raft_strerror(rv));
        raft_uv_tcp_close(&c->transport);
        return -1;
    }
    return 0;
}

struct controller *controller_start(const struct controller_config *cfg) {
    struct controller *c = sl_xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_cond_init(&c->registrar_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (mkdir_p(c->cfg.dir) != 0) {
        SL_ERROR("cluster: cannot make %s: %s", c->cfg.dir, strerror(errno));
        goto fail_free;
    }
    if (uv_loop_init(&c->uv) != 0) {
        SL_ERROR("cluster: uv_loop_init failed");
        goto fail_free;
    }
    if (controller_open_raft(c) != 0) goto fail_uv;
    uv_async_init(&c->uv, &c->wake, on_wake);
    c->wake.data = c;
    uv_timer_init(&c->uv, &c->tick);
    c->tick.data = c;

    c->fsm_ops = (struct raft_fsm){.version = 2, .data = c, .apply = fsm_apply, .snapshot = fsm_snapshot,
                                   .restore = fsm_restore, .snapshot_finalize = fsm_snapshot_finalize};
    int rv = raft_init(&c->raft, &c->io, &c->fsm_ops, cfg->node_id, cfg->address);
    if (rv != 0) {
        SL_ERROR("cluster: raft_init: %s", raft_strerror(rv));
        controller_close_here(c, false);
        goto fail_uv;
    }
    c->raft.data = c;
    c->uv_start = c->io.start;
    c->io.start = controller_io_start;
    raft_set_election_timeout(&c->raft, CONTROLLER_ELECTION_MS);
    raft_set_heartbeat_timeout(&c->raft, CONTROLLER_HEARTBEAT_MS);
    raft_set_snapshot_threshold(&c->raft, CONTROLLER_SNAPSHOT_EVERY);
    raft_set_snapshot_trailing(&c->raft, CONTROLLER_SNAPSHOT_TRAILING);
    /* Pre-vote: a node coming back from a kill -9 or a partition does not depose a healthy
     * leader by bumping the term. */
    raft_set_pre_vote(&c->raft, true);
    if (controller_bootstrap(c) != 0 || (rv = raft_start(&c->raft)) != 0) {
        if (rv)
            SL_ERROR("cluster: cannot start Raft on %s (is the port taken?): %s%s%s%s", cfg->bind[0] ? cfg->bind : cfg->address,
                     raft_strerror(rv), raft_errmsg(&c->raft)[0] ? " (" : "", raft_errmsg(&c->raft),
                     raft_errmsg(&c->raft)[0] ? ")" : "");
        controller_close_here(c, true);
        goto fail_uv;
    }
    c->last_term = c->raft.current_term;
    c->last_state = -1;
    controller_publish(c);
    c->started_ms = uv_now(&c->uv);
    uv_timer_start(&c->tick, on_tick, CONTROLLER_TICK_MS, CONTROLLER_TICK_MS);
    if ((rv = pthread_create(&c->thread, NULL, controller_main, c)) != 0) {
        SL_ERROR("cluster: cannot start the controller thread: %s", strerror(rv));
        uv_timer_stop(&c->tick);
        controller_close_here(c, true);
        goto fail_uv;
    }
    c->thread_started = true;
    if (c->cfg.token[0] && c->cfg.post) {
        if ((rv = pthread_create(&c->registrar, NULL, registrar_main, c)) == 0) c->registrar_started = true;
        else SL_WARN("cluster: no registrar thread (%s): registered only while leading", strerror(rv));
    } else {
        SL_WARN("cluster: %s: followers cannot send their registration to the leader; node %u is "
                "registered only while it leads", c->cfg.token[0] ? "no way to reach the leader's monitoring port"
                : "no http_token", cfg->node_id);
    }
    SL_INFO("cluster: node %u, Raft on %s (%u nodes configured), data in %s", cfg->node_id,
            cfg->bind[0] ? cfg->bind : cfg->address, cfg->nodes.count, cfg->dir);
    return c;

fail_uv:
    uv_loop_close(&c->uv);
fail_free:
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->registrar_cv);
    free(c);
    return NULL;
}

void controller_stop(struct controller *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->registrar_cv);
    pthread_mutex_unlock(&c->mu);
    if (c->registrar_started) pthread_join(c->registrar, NULL);
    uv_async_send(&c->wake);
    pthread_join(c->thread, NULL);
    int rv = uv_loop_close(&c->uv);
    if (rv != 0) SL_WARN("cluster: the Raft loop closed with handles open: %s", uv_strerror(rv));
    cluster_fsm_free(&c->fsm);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->registrar_cv);
    free(c);
}

void controller_status(struct controller *c, struct controller_status *out) {
    pthread_mutex_lock(&c->mu);
    *out = c->status;
    pthread_mutex_unlock(&c->mu);
}

static enum controller_outcome controller_run(struct controller *c, enum controller_change_kind kind, uint32_t id,
                                              const char *address, const struct cluster_broker *reg,
                                              const struct controller_topic_req *topic, uint32_t wait_ms,
                                              struct controller_result *out);

enum controller_outcome controller_change(struct controller *c, enum controller_change_kind kind, uint32_t id,
                                          const char *address, uint32_t wait_ms, struct controller_result *out) {
    SL_ASSERT(kind != CONTROLLER_REGISTER);
    return controller_run(c, kind, id, address, NULL, NULL, wait_ms, out);
}

enum controller_outcome controller_register(struct controller *c, const struct cluster_broker *reg, uint32_t wait_ms,
                                            struct controller_result *out) {
    return controller_run(c, CONTROLLER_REGISTER, reg->node_id, NULL, reg, NULL, wait_ms, out);
}

enum controller_outcome controller_topic(struct controller *c, enum controller_change_kind kind,
                                         const struct controller_topic_req *req, uint32_t wait_ms,
                                         struct controller_result *out) {
    SL_ASSERT(kind == CONTROLLER_TOPIC_CREATE || kind == CONTROLLER_TOPIC_GROW || kind == CONTROLLER_TOPIC_REMOVE ||
              kind == CONTROLLER_TOPIC_CONFIGS || kind == CONTROLLER_PARTITION_ISR || kind == CONTROLLER_BROKER_DRAIN);
    return controller_run(c, kind, 0, NULL, NULL, req, wait_ms, out);
}

int controller_topics(struct controller *c, uint64_t have_gen, struct cluster_topics *out) {
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->fsm.topics.gen != have_gen) rc = cluster_topics_clone(out, &c->fsm.topics) == 0 ? 1 : -1;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static enum controller_outcome controller_run(struct controller *c, enum controller_change_kind kind, uint32_t id,
                                              const char *address, const struct cluster_broker *reg,
                                              const struct controller_topic_req *topic, uint32_t wait_ms,
                                              struct controller_result *out) {
    memset(out, 0, sizeof(*out));
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    /* A topic change waits its turn; a membership change is answered BUSY (an operator's). */
    while (topic && c->op.state != OP_IDLE && !c->stop) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT && c->op.state != OP_IDLE) {
            pthread_mutex_unlock(&c->mu);
            return CONTROLLER_TIMEOUT;
        }
    }
    if (c->op.state != OP_IDLE) {
        pthread_mutex_unlock(&c->mu);
        return CONTROLLER_BUSY;
    }
    c->op.state = OP_QUEUED;
    c->op.abandoned = false;
    c->op.kind = kind;
    c->op.id = id;
    snprintf(c->op.address, sizeof(c->op.address), "%s", address ? address : "");
    if (reg) c->op.reg = *reg;
    if (topic) c->op.topic = *topic;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->wake);

    pthread_mutex_lock(&c->mu);
    while (c->op.state != OP_DONE) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT && c->op.state != OP_DONE) {
            if (c->op.state == OP_QUEUED) {
                c->op.state = OP_IDLE; /* never started: withdraw it */
                pthread_cond_broadcast(&c->cv);
            } else {
                c->op.abandoned = true;
            }
            pthread_mutex_unlock(&c->mu);
            return CONTROLLER_TIMEOUT;
        }
    }
    *out = c->op.result;
    c->op.state = OP_IDLE;
    pthread_cond_broadcast(&c->cv); /* a topic change waiting for the slot */
    pthread_mutex_unlock(&c->mu);
    return CONTROLLER_DONE;
}
