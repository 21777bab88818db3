/* group.h: the classic Kafka consumer-group coordinator (JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, static membership, the offset-commit gate, DescribeGroups, ListGroups,
 * DeleteGroups), as a pure state machine: no I/O, no clock, no sockets. Every entry point takes
 * now_ms, a monotonic time (loop_mono_ms): sessions, rebalance timeouts and the initial delay are
 * durations, which a wall-clock step must not stretch or cut. group_tick(now_ms) expires sessions
 * and ends join phases. The Kafka glue decodes a request, calls in here, and gets answers, as
 * sl_err values whose sl_err_kafka() is the wire code, either as a return value (Heartbeat,
 * LeaveGroup, commits) or through group_ops (JoinGroup, SyncGroup), because those may be PARKED
 * until other members act or a timeout passes.
 *
 * States and transitions follow Kafka's GroupCoordinator (see docs/kafka-subset.md section 6):
 *   Empty --join--> PreparingRebalance --all known members rejoined, or rebalance timeout-->
 *   CompletingRebalance --leader's SyncGroup--> Stable --join of new/changed member, leader
 *   rejoin, leave, session expiry--> PreparingRebalance; last member gone --> Empty;
 *   group_delete on Empty --> Dead.
 *
 * Strings are NUL-terminated; a NULL instance id means a dynamic member. Byte blobs (protocol
 * metadata, assignments) are spans and are copied: the module owns copies of everything it
 * keeps, so requests may be freed as soon as a call returns. Pointers handed to callbacks and
 * filled in by group_describe are borrowed from the group and valid only until the next call
 * that mutates it (for callbacks: until the callback returns). */
#ifndef SL_GROUP_H
#define SL_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "base/prom.h"
#include "protocol/errors.h"

enum group_state {
    GROUP_EMPTY,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
    GROUP_DEAD,
};

/* Kafka's names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead". */
const char *group_state_name(enum group_state s);

#define GROUP_NO_DEADLINE UINT64_MAX

struct group_config {
    uint32_t min_session_timeout_ms;     /* Kafka group.min.session.timeout.ms: 6000 */
    uint32_t max_session_timeout_ms;     /* Kafka group.max.session.timeout.ms: 1800000 */
    uint32_t initial_rebalance_delay_ms; /* only when the group was Empty; Kafka: 3000 */
    uint32_t max_size;                   /* members per group; 0 = unlimited */
    struct group_stats *stats;           /* NULL: not counted */
};

/* Rebalances completed (a join round that ended in Stable) and how long each took, from the
 * first PreparingRebalance to Stable (the group clock has millisecond resolution). */
struct group_stats {
    uint64_t rebalances;
    struct sl_hist rebalance_duration;
};

/* Kafka's session bounds, no size limit, and a 0 ms initial delay (the caller picks its own). */
void group_config_defaults(struct group_config *c);

/* ---- requests (all borrowed for the duration of the call) ---- */

struct group_protocol {
    const char *name;
    struct span metadata; /* opaque, kept byte-exact */
};

struct group_join_req {
    int16_t version;             /* >= 4 with no member id and no instance id: MEMBER_ID_REQUIRED */
    const char *member_id;       /* "" or NULL: unknown */
    const char *instance_id;     /* v5+ group.instance.id; NULL: dynamic member */
    const char *client_id;       /* from the request header; NULL = "" */
    const char *client_host;     /* peer address, for DescribeGroups; NULL = "" */
    const char *protocol_type;   /* "consumer" for consumers */
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* <= 0 (v0, or -1): the session timeout */
    const struct group_protocol *protocols; /* in the member's order of preference */
    int32_t protocol_count;
};

struct group_assignment {
    const char *member_id;
    struct span assignment;
};

struct group_sync_req {
    const char *member_id;
    const char *instance_id;   /* v3+, NULL if absent */
    int32_t generation;
    const char *protocol_type; /* v5+, NULL if absent: checked when given */
    const char *protocol_name; /* v5+, NULL if absent: checked when given */
    const struct group_assignment *assignments; /* the leader's; ignored from followers */
    int32_t assignment_count;
};

struct group_member_ident { /* one LeaveGroup entry; v0-2 send member_id only */
    const char *member_id;   /* "" or NULL with an instance id: leave by instance id */
    const char *instance_id; /* NULL if absent */
};

/* ---- results (borrowed from the group, valid during the callback only) ---- */

struct group_join_member {
    const char *member_id;
    const char *instance_id; /* NULL for dynamic members */
    struct span metadata;    /* of the selected protocol */
};

struct group_join_result {
    sl_err error; /* SL_OK or a group error of protocol/errors.h */
    int32_t generation;        /* -1 on error */
    const char *protocol_type; /* NULL on error */
    const char *protocol_name; /* NULL on error */
    const char *leader_id;     /* "" on error */
    const char *member_id;     /* the member's id; the generated one with MEMBER_ID_REQUIRED */
    const struct group_join_member *members; /* the leader's only, in join order; else none */
    int32_t member_count;
};

struct group_sync_result {
    sl_err error; /* SL_OK or a group error of protocol/errors.h */
    const char *protocol_type; /* NULL on error */
    const char *protocol_name; /* NULL on error */
    struct span assignment;    /* empty on error, or when the leader gave this member none */
};

struct group;

/* How answers reach the glue. `reply` is the glue's opaque handle for one parked request, as
 * passed to group_join/group_sync; each handle is answered exactly once unless cancelled.
 * Callbacks may run inside the call that received the request (immediate answers), inside
 * another member's call, or inside group_tick/group_destroy. They must not call back into the
 * group's module for the same group. */
struct group_ops {
    void (*join_done)(void *arg, void *reply, const struct group_join_result *res);
    void (*sync_done)(void *arg, void *reply, const struct group_sync_result *res);
    void *arg;
    /* Optional: the group reached a state worth keeping across a restart (Stable with its
     * assignments, Empty, a static member's new id): store group_encode_state's record, as
     * Kafka writes GroupMetadata to __consumer_offsets at these points. */
    void (*changed)(void *arg, struct group *g);
};

/* ---- describe ---- */

struct group_member_desc {
    const char *member_id;
    const char *instance_id; /* NULL for dynamic members */
    const char *client_id;
    const char *client_host;
    struct span metadata;    /* selected protocol's; empty unless Stable (as Kafka) */
    struct span assignment;  /* empty unless Stable (as Kafka) */
};

struct group_desc {
    const char *group_id;
    const char *state;         /* group_state_name() */
    const char *protocol_type; /* "" if never set */
    const char *protocol_name; /* "" unless Stable (as Kafka) */
    int32_t member_count;      /* entries written to the caller's array */
};

/* ---- one group ---- */

struct group;

/* id_seed makes generated member ids unique across restarts: pass random bytes. */
struct group *group_create(const char *group_id, const struct group_config *cfg,
                           const struct group_ops *ops, uint64_t id_seed);
/* Answers every parked JoinGroup/SyncGroup with COORDINATOR_NOT_AVAILABLE (as Kafka does when a
 * group is unloaded), then frees. Cancel the replies first to drop them silently. */
void group_destroy(struct group *g);

/* Answers through ops->join_done, now or later. */
void group_join(struct group *g, const struct group_join_req *req, void *reply, uint64_t now_ms);
/* Answers through ops->sync_done, now or later. */
void group_sync(struct group *g, const struct group_sync_req *req, void *reply, uint64_t now_ms);
/* Immediate answer; a valid heartbeat extends the member's session. */
sl_err group_heartbeat(struct group *g, const char *member_id, const char *instance_id,
                        int32_t generation, uint64_t now_ms);
/* LeaveGroup: errors[i] gets the code for members[i]; returns the top-level code (if set, every
 * errors[i] holds it too). v0-2 pass their one member id as a single entry and send errors[0]
 * as the top-level code. A leave rebalances the remaining members (Empty if none remain). */
sl_err group_leave(struct group *g, const struct group_member_ident *members, int32_t count,
                   sl_err *errors, uint64_t now_ms);
/* May an OffsetCommit with these fields be stored? generation -1, no member id and no instance
 * id is a simple (admin/standalone) commit, accepted only while the group is Empty. A member's
 * commit is accepted in Stable and PreparingRebalance (commit-on-revoke) and extends its
 * session. */
sl_err group_check_commit(struct group *g, const char *member_id, const char *instance_id,
                           int32_t generation, uint64_t now_ms);
/* Forgets a parked reply whose connection died; the member stays. Unknown handles: no-op. */
void group_cancel_reply(struct group *g, void *reply);
/* Empty -> Dead: NONE; Dead: GROUP_ID_NOT_FOUND; otherwise NON_EMPTY_GROUP. */
sl_err group_delete(struct group *g);

/* Expires sessions and pending member ids, ends join phases at their deadline, removes
 * members that never sent SyncGroup. */
void group_tick(struct group *g, uint64_t now_ms);
/* The earliest now_ms at which group_tick has work, or GROUP_NO_DEADLINE. */
uint64_t group_next_deadline(const struct group *g);

/* Fills *out and up to cap entries of members (group_member_count() is enough). */
void group_describe(const struct group *g, struct group_desc *out, struct group_member_desc *members,
                    int32_t cap);

const char *group_id(const struct group *g);
enum group_state group_state(const struct group *g);
int32_t group_generation(const struct group *g);
const char *group_protocol_type(const struct group *g); /* "" if never set */
const char *group_protocol_name(const struct group *g); /* "" if none selected */
const char *group_leader(const struct group *g);        /* "" if none */
int32_t group_member_count(const struct group *g);

/* ---- durable state ---- */

struct kw;
/* What a restart needs to carry on without a rebalance: the generation and protocol type, and
 * when Stable the selected protocol, the leader and each member (ids, client, timeouts, its
 * metadata for the selected protocol and its assignment). False (nothing written) in the states
 * that are in flux, PreparingRebalance and CompletingRebalance, and Dead. */
bool group_encode_state(const struct group *g, struct kw *w);

/* ---- the registry: every group of this broker, by id ---- */

struct group_registry;

struct group_registry *group_registry_create(const struct group_config *cfg,
                                             const struct group_ops *ops, uint64_t id_seed);
/* group_destroy()s every group. */
void group_registry_destroy(struct group_registry *reg);
/* NULL if absent. */
struct group *group_registry_find(struct group_registry *reg, const char *group_id);
/* Get-or-create (a new group is Empty, generation 0). */
struct group *group_registry_get(struct group_registry *reg, const char *group_id);
/* DeleteGroups: NONE (group freed), GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP. Offsets are the
 * caller's to delete. */
sl_err group_registry_delete(struct group_registry *reg, const char *group_id);
/* Iteration by index in [0, count); deleting reorders. */
/* Brings back a group from group_encode_state's record (start-up): a Stable group comes back
 * Stable with the same generation, leader and assignments, each member's session starting at
 * now_ms, so members that heartbeat in time carry on; the others expire as usual. False if the
 * record is malformed (nothing is created). */
bool group_registry_restore(struct group_registry *reg, const char *group_id, const uint8_t *state, uint32_t len,
                            uint64_t now_ms);
/* Drops the group without touching its stored state (this broker stopped coordinating it):
 * group_destroy answers its parked requests COORDINATOR_NOT_AVAILABLE. */
void group_registry_unload(struct group_registry *reg, const char *group_id);
uint32_t group_registry_count(const struct group_registry *reg);
struct group *group_registry_at(struct group_registry *reg, uint32_t i);
void group_registry_tick(struct group_registry *reg, uint64_t now_ms);
/* Min of group_next_deadline over all groups: arm one loop timer for it. O(members). */
uint64_t group_registry_next_deadline(const struct group_registry *reg);

#endif
