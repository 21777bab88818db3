/* cluster_fsm.h: the replicated metadata state machine of a cluster and the encoding of its
 * commands and snapshots. Pure: no I/O, no clock; the controller (controller.c) feeds it what
 * libraft commits, on the controller's thread.
 *
 * State: the registered brokers, one per node id: the Kafka and NATS host:port the node
 * advertises; and the placed topics: a topic's name, id, configs and, per partition, its
 * replicas (the first is the leader) and leader epoch. Commands (one per Raft entry), big-endian:
 *
 *   version u8 (1 or 2) | type u8 | body
 *   type 1, broker registered/updated: node_id u32 | kafka_len u16 | kafka | nats_len u16 | nats |
 *           http_len u16 | http [| route_len u16 | route: version 2 only, may be empty]
 *   (a registration with a NATS route address is written as version 2, every other command as
 *   version 1, so a cluster without routes stays readable by brokers that know only version 1)
 *   type 2, topic placed (created, grown or re-placed; replaces the topic of that name whole):
 *           name_len u16 | name | id [16] | partition_count u32 |
 *           partition_count x (replica_count u8 | replica_count x node_id u32) |
 *           config_count u16 | config_count x (key_len u16 | key | value_len u16 | value)
 *   type 3, topic removed: name_len u16 | name
 *   type 4, partition state (a leader elected, an ISR changed: Kafka's AlterPartition):
 *           name_len u16 | name | id [16] | partition u32 | leader_epoch u32 (the epoch the
 *           change is made against) | leader u32 | isr_count u8 | isr_count x node_id u32
 *   then zeros up to a multiple of 8 bytes
 *
 * Leader epochs are not in the command: applying a placement gives a partition that is new, or
 * whose leader (first replica) changed, the epoch one above what it had (0 for a new one), and
 * keeps the others' epochs; a topic put with another id than the one held is a new topic (its
 * epochs start at 0). Every topic change adds one to topics_gen, which is how the broker's loop
 * sees that its copy of the table is stale.
 *
 * In-sync replicas: a new partition's ISR is its replicas; a put that keeps a partition's
 * replicas keeps its ISR. Type 4 sets a partition's leader and ISR, and only if its epoch is
 * the partition's current one (a deposed leader's late change is dropped, as Kafka fences an
 * AlterPartition of an old epoch), the leader is a replica and in the ISR, and the ISR is
 * made of replicas; otherwise it changes nothing (gen unchanged). A new leader moves to the
 * front of the replica list (the others keep their order) and the epoch goes up by one.
 *
 * The padding is libraft's rule, not ours: its on-disk batches store each entry's length and
 * skip to the next 8-byte boundary only when reading a closed segment, so an entry of another
 * length writes fine and makes the log unreadable at the next start ("short read").
 *
 * A snapshot (libraft's snapshot/restore) is versioned on its own:
 *
 *   magic "SLCF" | version u8 (4) | count u32 | count x (node_id u32 | kafka_len u16 | kafka |
 *   nats_len u16 | nats | http_len u16 | http | route_len u16 | route), node ids rising |
 *   topic_count u32 | topic_count x (name_len u16 | name | id [16] | partition_count u32 |
 *   partition_count x (leader_epoch u32 | replica_count u8 | replica_count x node_id u32 |
 *   isr_count u8 | isr_count x node_id u32) | config_count u16 | configs as in type 2), names
 *   rising (memcmp order)
 *
 * Version 3 (no route address: it restores as none), version 2 (no ISR either: it restores as
 * every replica in sync) and version 1 (the brokers only, what the first cluster slice wrote)
 * are still restored.
 *
 * Decoders refuse anything else: an unknown version or type, a length past the end, bytes left
 * over, an empty or over-long address, a NUL inside one, node id 0, a count over
 * CLUSTER_BROKERS_MAX, ids not rising. A newer broker adds a type or a version; an older one
 * refuses it instead of guessing (libraft then stops applying, which is loud, not silent). */
#ifndef SL_BROKER_CLUSTER_FSM_H
#define SL_BROKER_CLUSTER_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_BROKERS_MAX 64
#define CLUSTER_HOSTPORT_MAX 128 /* "host:port" of a registration, NUL included */

#define CLUSTER_CMD_VERSION 2
#define CLUSTER_SNAP_VERSION 4
#define CLUSTER_TOPIC_NAME_MAX 250      /* Kafka's 249 characters and the NUL */
#define CLUSTER_TOPIC_PARTITIONS_MAX 200000
#define CLUSTER_TOPICS_MAX 200000
#define CLUSTER_REPLICAS_MAX 7
#define CLUSTER_TOPIC_CONFIGS_MAX 40
#define CLUSTER_CONFIG_KEY_MAX 64       /* NUL included */
#define CLUSTER_CONFIG_VALUE_MAX 256    /* NUL included */
enum cluster_cmd_type {
    CLUSTER_CMD_REGISTER = 1,
    CLUSTER_CMD_TOPIC_PUT = 2,
    CLUSTER_CMD_TOPIC_REMOVE = 3,
    CLUSTER_CMD_PARTITION_STATE = 4,
};

struct cluster_broker {
    uint32_t node_id;
    char kafka[CLUSTER_HOSTPORT_MAX]; /* advertised Kafka host:port */
    char nats[CLUSTER_HOSTPORT_MAX];  /* advertised NATS host:port */
    char http[CLUSTER_HOSTPORT_MAX];  /* monitoring port host:port (followers send registrations there) */
    char route[CLUSTER_HOSTPORT_MAX]; /* NATS route host:port (cluster_listen); "": no routes */
};

struct cluster_part {
    uint32_t leader_epoch;
    uint8_t replica_count;                     /* 1..CLUSTER_REPLICAS_MAX, distinct, none 0 */
    uint32_t replicas[CLUSTER_REPLICAS_MAX];   /* replicas[0] leads */
    uint8_t isr_count;                         /* 1..replica_count: the leader and who keeps up */
    uint32_t isr[CLUSTER_REPLICAS_MAX];
};

struct cluster_config {
    char key[CLUSTER_CONFIG_KEY_MAX];     /* non-empty */
    char value[CLUSTER_CONFIG_VALUE_MAX]; /* may be empty */
};

/* One placed topic. Owns parts and configs (heap, freed by cluster_topic_free). */
struct cluster_topic {
    char name[CLUSTER_TOPIC_NAME_MAX]; /* non-empty */
    uint8_t id[16];
    uint32_t partition_count;          /* 1..CLUSTER_TOPIC_PARTITIONS_MAX */
    struct cluster_part *parts;
    uint32_t config_count;             /* 0..CLUSTER_TOPIC_CONFIGS_MAX */
    struct cluster_config *configs;
};

/* The placed topics, sorted by name (strcmp), and the change counter. Owns its topics. */
struct cluster_topics {
    uint32_t count, cap;
    struct cluster_topic *v;
    uint64_t gen; /* +1 on every topic change applied (a restore sets it one above what it was) */
};

/* A decoded command. For CLUSTER_CMD_TOPIC_PUT, topic owns heap memory: cluster_cmd_free. For
 * CLUSTER_CMD_TOPIC_REMOVE only topic.name is set. */
struct cluster_cmd {
    enum cluster_cmd_type type;
    struct cluster_broker reg;  /* CLUSTER_CMD_REGISTER */
    struct cluster_topic topic; /* CLUSTER_CMD_TOPIC_PUT / _REMOVE (epochs, ISRs ignored on encode);
                                 * _PARTITION_STATE: name and id only */
    /* CLUSTER_CMD_PARTITION_STATE: the partition, and in state the epoch it is made against,
     * the leader (replicas[0]; replica_count 1) and the ISR. */
    uint32_t partition;
    struct cluster_part state;
};

/* Zero-initialised is a valid empty state; cluster_fsm_free releases the topics. A plain copy
 * of the struct shares the topics' memory: copy the brokers and cluster_topics_clone the rest. */
struct cluster_fsm {
    uint32_t count;                                   /* brokers, sorted by node id */
    struct cluster_broker brokers[CLUSTER_BROKERS_MAX];
    uint64_t applied;                                 /* commands applied since start or restore */
    struct cluster_topics topics;
};

/* Encoders write into buf (cap bytes) and return the length, or 0 if it does not fit or a
 * field is out of range (the caller's bug, or a registration too long). */
size_t cluster_cmd_encode(const struct cluster_cmd *c, uint8_t *buf, size_t cap);
/* The exact encoded size of c (padding included), for sizing buf; 0 if a field is out of range. */
size_t cluster_cmd_size(const struct cluster_cmd *c);
/* 0, or -1 with the reason in err (and nothing to free). Refuses, besides the above: an empty or
 * over-long name or config key, a NUL in one, partition count 0 or over the max, a replica
 * count 0 or over the max, node id 0 or a repeated one in a replica list, too many configs. */
int cluster_cmd_decode(const uint8_t *p, size_t len, struct cluster_cmd *out, char *err, size_t err_len);
/* Frees what a decoded CLUSTER_CMD_TOPIC_PUT holds; any command, any number of times. */
void cluster_cmd_free(struct cluster_cmd *c);

/* Applies a decoded command (a TOPIC_PUT's topic is copied; c stays the caller's). 0, or -1
 * when a table is full (CLUSTER_BROKERS_MAX, CLUSTER_TOPICS_MAX) or memory ran out; removing a
 * topic that is not there is 0 and changes nothing (gen unchanged). */
int cluster_fsm_apply(struct cluster_fsm *f, const struct cluster_cmd *c);
void cluster_fsm_free(struct cluster_fsm *f);
/* The registration of node_id, or NULL. */
const struct cluster_broker *cluster_fsm_find(const struct cluster_fsm *f, uint32_t node_id);

/* The topic named name (NUL-terminated), or NULL. Binary search. */
const struct cluster_topic *cluster_topics_find(const struct cluster_topics *t, const char *name);
/* A deep copy of src into *dst (which is overwritten, not freed). 0, or -1 out of memory
 * (then *dst is empty). */
int cluster_topics_clone(struct cluster_topics *dst, const struct cluster_topics *src);
void cluster_topics_free(struct cluster_topics *t);
void cluster_topic_free(struct cluster_topic *tp);

/* Whether node is in the partition's ISR. */
bool cluster_part_in_isr(const struct cluster_part *pt, uint32_t node);

/* Placement (pure): fills out[0..partitions) for a topic of that many partitions over the
 * brokers nodes[0..n) (n >= 1), rf replicas each (1 <= rf <= min(n, CLUSTER_REPLICAS_MAX)).
 * Partitions below have->partition_count (have may be NULL) keep have's replicas and epochs;
 * the new ones go round-robin over the brokers sorted by id, starting at a position derived
 * from the name (XXH3), replica j of partition p on the broker after replica j-1's: leaders
 * spread over every broker. Epochs of new partitions 0. 0, or -1 for bad arguments. */
int cluster_place(const uint32_t *nodes, uint32_t n, const char *name, uint32_t partitions, uint32_t rf,
                  const struct cluster_topic *have, struct cluster_part *out);

/* The snapshot's exact size, then its bytes (cap must be at least that size). */
size_t cluster_fsm_snapshot_size(const struct cluster_fsm *f);
size_t cluster_fsm_snapshot_encode(const struct cluster_fsm *f, uint8_t *buf, size_t cap);
/* Replaces *f by the snapshot's state only if the whole snapshot decodes: 0, or -1 with the
 * reason in err and *f untouched. */
int cluster_fsm_restore(struct cluster_fsm *f, const uint8_t *p, size_t len, char *err, size_t err_len);

#endif
