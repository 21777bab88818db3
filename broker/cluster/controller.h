/* controller.h: this node's member of the cluster's Raft group (canonical/raft, libraft-dev),
 * and through it the cluster's controller when it is the leader.
 *
 * libraft runs on a thread of its own with its own libuv loop (raft_uv_init +
 * raft_uv_tcp_init); the broker's io_uring loop never calls into libraft. The two meet in a
 * mutex-guarded struct: the controller thread publishes a status (Raft state, leader, term,
 * commit index, voters, the metadata FSM's registered brokers) every CONTROLLER_TICK_MS and
 * after each applied command; the loop reads a copy of it (/clusterz, /metrics). A membership
 * change is one slot: the loop fills it, wakes the controller thread (uv_async_send), and waits
 * a bounded time on a condition variable for its result.
 *
 * Registration: every node registers its advertised Kafka and NATS host:port, and its monitoring
 * port, in the FSM. libraft only takes entries on the leader and has no forwarding, so:
 * the leader applies its own registration (at election, and whenever its entry differs from what
 * it advertises); a follower's registrar thread sends its registration to the leader's admin route
 * POST /v1/cluster/brokers (the leader's monitoring port, from the leader's own registration,
 * with http_token), once a second until the FSM holds it as sent. Why over HTTP: it is the one
 * authenticated request path every node already serves, and Raft's transport carries nothing but
 * Raft. The request goes as the monitoring port is served: https when https_port is set (the
 * leader's certificate verified against tls_ca, ours shown if it asks), else http. Without
 * http_token followers cannot send it (logged once), and a node is registered only while it
 * leads. */
#ifndef SL_BROKER_CLUSTER_CONTROLLER_H
#define SL_BROKER_CLUSTER_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/core/cluster_fsm.h"
#include "broker/cluster/cluster_nodes.h"

#define CONTROLLER_TICK_MS 50
#define CONTROLLER_VOTERS_MAX (CLUSTER_NODES_MAX * 2) /* the static list plus nodes added later */

struct controller_config {
    uint32_t node_id;
    char address[CLUSTER_ADDR_MAX]; /* this node's address in nodes (what the others dial) */
    char bind[CLUSTER_ADDR_MAX];    /* cluster_raft_addr: where it listens; "" = address */
    char dir[4096];                 /* <data_dir>/raft, made if missing */
    struct cluster_nodes nodes;     /* the initial configuration, all voters */
    bool join;                      /* not in nodes: never bootstrap; wait to be added */
    struct cluster_broker self;     /* this node's registration */
    char token[256];                /* http_token, for sending it to the leader; "": do not send */
    /* Sends body (this node's registration, JSON) to the leader's registration route at
     * hostport, its monitoring address: the HTTP status, or -1 with why in err. Runs on the
     * registrar thread; the broker supplies it (http or https, as its monitoring port). */
    int (*post)(void *arg, const char *hostport, const char *token, const char *body, char *err, size_t err_len);
    void *post_arg;
    /* A broker the Raft leader has not heard from for this long is fenced: partitions it leads
     * get a new leader from their ISR, and it leaves every ISR (broker_session_timeout_ms). */
    uint32_t session_ms;
    /* Every this long the leader moves leaderships from brokers leading more than their share
     * to in-sync replicas leading fewer (leader_rebalance_interval_ms; 0: never). */
    uint32_t rebalance_ms;
};

struct controller_server {
    uint32_t id;
    bool fenced; /* on the leader: silent for the session time (partitions moved off it) */
    char address[CLUSTER_ADDR_MAX];
    int role; /* RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE */
};

struct controller_status {
    int state;                          /* RAFT_UNAVAILABLE, RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER */
    uint32_t leader_id;                 /* 0: none known */
    char leader_address[CLUSTER_ADDR_MAX];
    uint64_t term, commit_index, last_applied;
    bool leader_current;                /* the leader, and an entry of its term applied: its
                                         * table holds everything committed before its term */
    bool leader_commit_heard;           /* an AppendEntries of this term heard since this start */
    uint64_t leader_commit;             /* the commit index it carried: libraft's own follower
                                         * commit_index is only what its log holds of it */
    uint64_t elections;                 /* terms this node has seen begin since it started */
    uint32_t server_count;
    struct controller_server servers[CONTROLLER_VOTERS_MAX];
    struct cluster_fsm fsm;             /* the registered brokers; fsm.topics holds only its gen
                                         * (controller_topics copies the table) */
};

enum controller_change_kind {
    CONTROLLER_ADD,
    CONTROLLER_REMOVE,
    CONTROLLER_TRANSFER,
    CONTROLLER_REGISTER,
    CONTROLLER_TOPIC_CREATE, /* place a new topic over the registered brokers */
    CONTROLLER_TOPIC_GROW,   /* place the partitions added to one */
    CONTROLLER_TOPIC_REMOVE,
    CONTROLLER_TOPIC_CONFIGS, /* replace a placed topic's config overrides */
    CONTROLLER_PARTITION_ISR, /* a partition leader's new ISR (Kafka's AlterPartition) */
    CONTROLLER_BROKER_DRAIN,  /* a broker about to stop: its leaderships move, it leaves the ISRs */
};

/* A topic change's refusals, in controller_result.rc beside the RAFT_* codes (which are below
 * 1000). */
#define CONTROLLER_RC_EXISTS 1001    /* the topic is placed already */
#define CONTROLLER_RC_NOT_FOUND 1002 /* no such placed topic */
#define CONTROLLER_RC_INVALID 1003   /* the partition count cannot be, or no broker is registered */
#define CONTROLLER_RC_REPLICATION 1004 /* more replicas asked than brokers are registered */
#define CONTROLLER_RC_STALE 1005       /* an ISR change of an older epoch, or not from the leader */

struct controller_topic_req {
    char name[CLUSTER_TOPIC_NAME_MAX];
    uint8_t id[16];        /* CREATE: the new topic's id (the caller draws it) */
    uint32_t partitions;   /* CREATE: the count; GROW: the new total */
    uint32_t replication_factor; /* CREATE: replicas per partition (at most the registered brokers) */
    /* PARTITION_ISR: the partition of the topic (name, id), the epoch the leader holds, the
     * leader (who asks) and the ISR it wants. BROKER_DRAIN: leader is the broker stopping. */
    uint32_t partition, leader_epoch, leader;
    uint8_t isr_count;
    uint32_t isr[CLUSTER_REPLICAS_MAX];
    uint32_t config_count; /* CREATE, CONFIGS */
    struct cluster_config configs[CLUSTER_TOPIC_CONFIGS_MAX];
};

enum controller_outcome {
    CONTROLLER_DONE,    /* result.rc says how it went (0: done) */
    CONTROLLER_BUSY,    /* another change is still running */
    CONTROLLER_TIMEOUT, /* still running after wait_ms: it finishes on its own */
};

struct controller_result {
    int rc;            /* 0, or a RAFT_* error code */
    uint32_t leader_id; /* with RAFT_NOTLEADER: who is (0: nobody known) */
    char leader_address[CLUSTER_ADDR_MAX];
    char message[256];
};

struct controller;

/* Opens <dir>, bootstraps it with cfg->nodes on first start (a restart finds state and goes
 * on), starts Raft and its thread. NULL on failure, logged. */
struct controller *controller_start(const struct controller_config *cfg);
/* Closes Raft, stops and joins the thread, frees. NULL is fine. */
void controller_stop(struct controller *c);
/* A copy of the last published status. */
void controller_status(struct controller *c, struct controller_status *out);
/* One membership change, run on the leader: ADD (raft_add as a spare, then raft_assign voter;
 * id, address), REMOVE (raft_remove; id), TRANSFER (raft_transfer; id, 0 = any voter). Waits
 * at most wait_ms. Blocks the calling thread meanwhile (see controller.c for why). */
enum controller_outcome controller_change(struct controller *c, enum controller_change_kind kind, uint32_t id,
                                          const char *address, uint32_t wait_ms, struct controller_result *out);
/* Applies a registration on the leader (a follower's, sent to POST /v1/cluster/brokers), through
 * the same slot and wait as a change. */
enum controller_outcome controller_register(struct controller *c, const struct cluster_broker *reg, uint32_t wait_ms,
                                            struct controller_result *out);
/* A topic change, run on the leader through the same slot as a change; a change already
 * running is waited for (within wait_ms) instead of answered BUSY: topic changes come from
 * clients, many at once. The placement is made on the controller thread from the FSM it
 * applies to, so two changes cannot place from the same stale table. */
enum controller_outcome controller_topic(struct controller *c, enum controller_change_kind kind,
                                         const struct controller_topic_req *req, uint32_t wait_ms,
                                         struct controller_result *out);
/* The placement table: when its generation is not have_gen, a deep copy into *out (which the
 * caller frees with cluster_topics_free) and 1; else 0 and *out untouched. -1 out of memory. */
int controller_topics(struct controller *c, uint64_t have_gen, struct cluster_topics *out);
/* "follower", "candidate", "leader", "unavailable". */
const char *controller_state_name(int state);
const char *controller_role_name(int role);

#endif
