/* kafka.h: the Kafka listener's shared state, for kafka_server.c (framing, ordering, dispatch,
 * ApiVersions, Metadata, InitProducerId), kafka_produce.c, kafka_fetch.c and kafka_admin.c.
 *
 * Ordering: every request gets a slot (struct kreq) in its connection's queue when it is read.
 * A handler either answers at once or parks its slot (Produce waiting for acks, Fetch waiting
 * for data); responses leave strictly in slot order, so a parked request holds back the
 * answers behind it but not their processing. acks=0 Produce slots are silent. A connection
 * whose socket closes while slots are parked stays allocated (dead) until they finish. */
#ifndef SL_BROKER_KAFKA_H
#define SL_BROKER_KAFKA_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "broker/config.h"
#include "broker/core/topics.h"
#include "broker/net/conn.h"
#include "broker/net/listener.h"
#include "protocol/errors.h"
#include "protocol/kafka_api.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

struct store;
struct kconn;
struct kreq;
struct group_registry;
struct offsets;

struct kafka_server {
    const struct sl_config *cfg;
    struct loop *loop;
    struct store *store;
    struct topics *topics;
    struct listener ls;
    char cluster_id[32];
    int32_t node_id;
    char advertised_host[256];
    int32_t advertised_port;
    int64_t next_producer_id, producer_id_block_end;
    char meta_path[4200];
    uint64_t requests_total;
    struct group_registry *groups;
    struct offsets *offsets;
    struct loop_timer group_timer;
    uint64_t last_offsets_expiry_ms; /* monotonic: paces retention_check_ms */
};

/* A cut in a response: after `at` bytes of the response's memory, a file span goes out. */
struct kresp_cut {
    size_t at;
    struct log_span span;
};

struct kreq {
    struct kreq *next;
    struct kconn *kc;
    int16_t key, version;
    int32_t correlation_id;
    bool ready;
    bool silent;       /* acks=0: no response at all */
    struct out_chunk *head, *tail;
    uint64_t bytes;
    void *park;                          /* the handler's state while parked */
    void (*park_cancel)(struct kreq *q); /* the connection died while parked */
};

struct kconn {
    struct conn *c; /* NULL once the socket is gone */
    struct kafka_server *ks;
    struct karena arena;
    struct kreq *q_head, *q_tail;
    uint32_t q_count;
    bool dead;
    bool paused_for_queue;
};

#define KAFKA_INFLIGHT_MAX 256

int kafka_server_start(struct kafka_server *ks, const struct sl_config *cfg, struct loop *l,
                       struct store *st, struct topics *topics);
void kafka_server_stop(struct kafka_server *ks);

/* Response building: begin writes the frame size placeholder and the response header. */
void kresp_begin(struct kreq *q, struct kw *w);
/* Finishes a response whose bytes are all in w (takes w's buffer) and marks it ready. */
void kresp_finish(struct kreq *q, struct kw *w);
/* Finishes a response interleaving w's bytes with file spans (takes the spans). */
void kresp_finish_cuts(struct kreq *q, struct kw *w, struct kresp_cut *cuts, uint32_t n);
/* Marks a slot done without a response (acks=0). */
void kresp_silent(struct kreq *q);
/* Sends every ready response at the head of the connection's queue. */
void kconn_flush(struct kconn *kc);

/* A NUL-terminated copy of s in the request's arena (NULL for a null string): the registries
 * take C strings, the wire gives length-prefixed ones. */
const char *kafka_arena_cstr(struct karena *a, struct kstr s);
/* A copy of a C string in the request's arena, as a kstr (for responses built from state that
 * may change before the response is encoded). */
struct kstr kafka_arena_kstr(struct karena *a, const char *s);

/* Topic lookup with auto-creation per config (Produce and Metadata). */
struct topic *kafka_topic_get(struct kafka_server *ks, struct kstr name, bool may_create, sl_err *err);

/* Handlers: decode, act, answer or park. An error return closes the connection (malformed). */
sl_err kafka_handle_produce(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_fetch(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_list_offsets(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_create_topics(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_delete_topics(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_create_partitions(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_describe_configs(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_alter_configs(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_incremental_alter_configs(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_delete_records(struct kconn *kc, struct kreq *q, struct kr *r);

/* Answers a parked Fetch now with what there is (shutdown). */
void kafka_fetch_force(struct kreq *q);

/* Consumer groups (kafka_group.c). */
sl_err kafka_groups_start(struct kafka_server *ks);
void kafka_groups_stop(struct kafka_server *ks);
sl_err kafka_handle_find_coordinator(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_join_group(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_sync_group(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_heartbeat(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_leave_group(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_offset_commit(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_offset_fetch(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_describe_groups(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_list_groups(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_delete_groups(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_offset_delete(struct kconn *kc, struct kreq *q, struct kr *r);

/* The client id of the request being handled (for JoinGroup's member ids). */
extern struct kstr kafka_current_client_id;

/* Producer state of a partition, loaded on first use. */
struct pstate *kafka_pstate(struct topic *tp, int32_t partition);
/* Saves every partition's producer state (clean shutdown). */
void kafka_pstate_save_all(struct kafka_server *ks);

#endif
