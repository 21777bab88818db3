/* cluster_fsm.h: the replicated metadata state machine of a cluster and the encoding of its
 * commands and snapshots. Pure: no I/O, no clock; the controller (controller.c) feeds it what
 * libraft commits, on the controller's thread.
 *
 * State: the registered brokers, one per node id: the Kafka and NATS host:port the node
 * advertises. Commands (one per Raft entry), big-endian:
 *
 *   version u8 (1) | type u8 | body
 *   type 1, broker registered/updated: node_id u32 | kafka_len u16 | kafka | nats_len u16 | nats |
 *           http_len u16 | http
 *   then zeros up to a multiple of 8 bytes
 *
 * The padding is libraft's rule, not ours: its on-disk batches store each entry's length and
 * skip to the next 8-byte boundary only when reading a closed segment, so an entry of another
 * length writes fine and makes the log unreadable at the next start ("short read").
 *
 * A snapshot (libraft's snapshot/restore) is versioned on its own:
 *
 *   magic "SLCF" | version u8 (1) | count u32 | count x (node_id u32 | kafka_len u16 | kafka |
 *   nats_len u16 | nats | http_len u16 | http), node ids rising
 *
 * Decoders refuse anything else: an unknown version or type, a length past the end, bytes left
 * over, an empty or over-long address, a NUL inside one, node id 0, a count over
 * CLUSTER_BROKERS_MAX, ids not rising. A newer broker adds a type or a version; an older one
 * refuses it instead of guessing (libraft then stops applying, which is loud, not silent). */
#ifndef SL_BROKER_CLUSTER_FSM_H
#define SL_BROKER_CLUSTER_FSM_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_BROKERS_MAX 64
#define CLUSTER_HOSTPORT_MAX 128 /* "host:port" of a registration, NUL included */

#define CLUSTER_CMD_VERSION 1
#define CLUSTER_SNAP_VERSION 1
enum cluster_cmd_type { CLUSTER_CMD_REGISTER = 1 };

struct cluster_broker {
    uint32_t node_id;
    char kafka[CLUSTER_HOSTPORT_MAX]; /* advertised Kafka host:port */
    char nats[CLUSTER_HOSTPORT_MAX];  /* advertised NATS host:port */
    char http[CLUSTER_HOSTPORT_MAX];  /* monitoring port host:port (followers send registrations there) */
};

struct cluster_cmd {
    enum cluster_cmd_type type;
    struct cluster_broker reg; /* CLUSTER_CMD_REGISTER */
};

struct cluster_fsm {
    uint32_t count;                                   /* brokers, sorted by node id */
    struct cluster_broker brokers[CLUSTER_BROKERS_MAX];
    uint64_t applied;                                 /* commands applied since start or restore */
};

/* Encoders write into buf (cap bytes) and return the length, or 0 if it does not fit or a
 * field is out of range (the caller's bug, or a registration too long). */
size_t cluster_cmd_encode(const struct cluster_cmd *c, uint8_t *buf, size_t cap);
/* 0, or -1 with the reason in err. */
int cluster_cmd_decode(const uint8_t *p, size_t len, struct cluster_cmd *out, char *err, size_t err_len);

/* Applies a decoded command. 0, or -1 when the table is full (CLUSTER_BROKERS_MAX). */
int cluster_fsm_apply(struct cluster_fsm *f, const struct cluster_cmd *c);
/* The registration of node_id, or NULL. */
const struct cluster_broker *cluster_fsm_find(const struct cluster_fsm *f, uint32_t node_id);

/* The snapshot's exact size, then its bytes (cap must be at least that size). */
size_t cluster_fsm_snapshot_size(const struct cluster_fsm *f);
size_t cluster_fsm_snapshot_encode(const struct cluster_fsm *f, uint8_t *buf, size_t cap);
/* Replaces *f by the snapshot's state only if the whole snapshot decodes: 0, or -1 with the
 * reason in err and *f untouched. */
int cluster_fsm_restore(struct cluster_fsm *f, const uint8_t *p, size_t len, char *err, size_t err_len);

#endif
