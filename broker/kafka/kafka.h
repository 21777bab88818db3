/* kafka.h: the Kafka listener's shared state, for kafka_server.c (framing, ordering, dispatch,
 * ApiVersions, Metadata, InitProducerId), kafka_produce.c, kafka_fetch.c and kafka_admin.c.
 *
 * Ordering: every request gets a slot (struct kreq) in its connection's queue when it is read.
 * A handler either answers at once or parks its slot (Produce waiting for acks, Fetch waiting
 * for data); responses leave strictly in slot order, so a parked request holds back the
 * answers behind it but not their processing. acks=0 Produce slots are silent. A connection
 * whose socket closes while slots are parked stays allocated (dead) until they finish. The
 * slot queue and the response builders are kafka_resp.h's. */
#ifndef SL_BROKER_KAFKA_H
#define SL_BROKER_KAFKA_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/loop.h"
#include "base/prom.h"
#include "broker/config.h"
#include "broker/core/cluster_meta.h"
#include "broker/core/cluster_view.h"
#include "broker/core/topics.h"
#include "broker/kafka/group.h"
#include "broker/kafka/kafka_acl.h"
#include "broker/kafka/kafka_quota.h"
#include "broker/kafka/kafka_sasl.h"
#include "broker/kafka/peer_login.h"
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
struct placed_state;
struct txn_coordinator;
struct kafka_init_producer_id_req;

struct kafka_server {
    const struct sl_config *cfg;
    /* To the other brokers' Kafka ports (replica fetches, markers: broker/net/peer.h): a TLS
     * client context when they speak TLS (kafka_tls; admin_cluster.c makes it), and the login. */
    void *peer_tls;
    struct peer_login peer_login;
    struct loop *loop;
    struct store *store;
    struct topics *topics;
    struct listener ls;
    struct cluster_meta cluster; /* cluster id, producer ids */
    int32_t node_id;
    char advertised_host[256];
    int32_t advertised_port;
    uint64_t requests_total;
    /* /metrics: per API key, requests answered and their receive-to-queued-response time. */
    uint64_t api_requests[KAFKA_API_KEY_MAX + 1];
    struct sl_hist api_latency[KAFKA_API_KEY_MAX + 1];
    /* Error codes sent, per API key and code (kw_error counts them as responses are encoded). */
    uint64_t api_errors[KAFKA_API_KEY_MAX + 1][KW_ERR_SLOTS];
    struct group_registry *groups;
    struct group_stats group_stats; /* rebalances, for /metrics */
    struct offsets *offsets;       /* outside a cluster: every group's (group_offsets.h) */
    struct placed_state *gofs;     /* in a cluster: the replicated offsets partitions (group_offsets.h) */
    struct loop_timer group_timer;
    uint64_t last_offsets_expiry_ms; /* monotonic: paces retention_check_ms */
    struct txn_coordinator *txns;    /* transactions outside a cluster (kafka_txn.c) */
    struct placed_state *txn_state;  /* in a cluster: the replicated transaction state (kafka_txns_of) */
    struct loop_timer txn_timer;     /* the earliest transaction timeout */
    bool txn_stopping;               /* shutdown: finishes still complete, nothing new starts */
    struct kafka_sasl *sasl;         /* mechanisms, PLAIN users, SCRAM store (kafka_sasl.c) */
    struct workers *workers;         /* huge requests decoded off the loop; started at the first */
    struct workers *marker_workers;  /* transaction markers sent to other brokers (txn_markers.c) */
    uint64_t requests_offloaded;
    struct acl_set *acls;            /* the ACL set (core/acl.c), loaded by kafka_acl_start */
    struct kafka_quotas *quotas;     /* byte-rate quotas, connections per principal (kafka_quota.c) */
    /* The cluster: brokers, controller, placed topics (core/cluster_view.h); NULL on a broker
     * that is not in one. Set by the server after the cluster starts. */
    const struct cluster_view *view;
};

/* A cluster's replicated topic of committed offsets (group_offsets.h): internal, so no client
 * sees it (Metadata, Produce, Fetch but a follower's, configs...), or may create it. */
#define KAFKA_GROUP_OFFSETS_TOPIC "__sluice_offsets"
/* ... and of transaction state (kafka_txn.c), the same way. */
#define KAFKA_TXN_STATE_TOPIC "__sluice_txn_state"
static inline bool kafka_topic_hidden(const char *name, int32_t len) {
    return name && ((len == (int32_t)sizeof(KAFKA_GROUP_OFFSETS_TOPIC) - 1 &&
                     !memcmp(name, KAFKA_GROUP_OFFSETS_TOPIC, sizeof(KAFKA_GROUP_OFFSETS_TOPIC) - 1)) ||
                    (len == (int32_t)sizeof(KAFKA_TXN_STATE_TOPIC) - 1 &&
                     !memcmp(name, KAFKA_TXN_STATE_TOPIC, sizeof(KAFKA_TXN_STATE_TOPIC) - 1)));
}
/* The topic a client's request names: NULL for an internal one, as if it did not exist. */
static inline struct topic *kafka_topic_visible(const struct kafka_server *ks, const char *name, int32_t len) {
    return kafka_topic_hidden(name, len) ? NULL : topics_get(ks->topics, name, len);
}

/* tp's placement in a cluster: NULL outside one, for a topic the cluster did not place, and for
 * a topic of this broker's own that has a placed one's name but not its id. Looked up once per
 * topic of a request (a name copy and a binary search), then asked per partition. */
static inline const struct cluster_topic *kafka_placement(const struct kafka_server *ks, const struct topic *tp) {
    if (!ks->view) return NULL;
    const struct cluster_topic *t = cluster_view_topic(ks->view, tp->name, (int32_t)strlen(tp->name));
    return t && !memcmp(t->id, tp->id, 16) ? t : NULL;
}

/* True while this broker's table is not current (a start, a stop) for tp, a topic that is not
 * internal: who leads it, and whether it is placed at all, is not known here yet. */
static inline bool kafka_view_pending(const struct kafka_server *ks, const struct topic *tp) {
    return ks->view && !ks->view->ready && strncmp(tp->name, "__", 2) != 0;
}

/* True when this broker leads partition p of topic tp, whose placement (kafka_placement) is
 * pl: always for an unplaced topic (NULL), but never while this broker's view of the placement
 * is not current (a start, a stop) for a topic that is not internal: it may be placed
 * elsewhere with leaders this broker does not know yet. */
static inline bool kafka_placed_leads(const struct kafka_server *ks, const struct topic *tp,
                                      const struct cluster_topic *pl, int32_t p) {
    if (kafka_view_pending(ks, tp)) return false;
    return !pl || (p >= 0 && (uint32_t)p < pl->partition_count && pl->parts[p].replicas[0] == (uint32_t)ks->node_id);
}

static inline bool kafka_leads(const struct kafka_server *ks, const struct topic *tp, int32_t p) {
    return kafka_placed_leads(ks, tp, kafka_placement(ks, tp), p);
}

struct kreq {
    struct kreq *next;
    struct kconn *kc;
    int16_t key, version;
    int32_t correlation_id;
    uint64_t start_us; /* when the request was read (latency metrics) */
    struct kstr client_id; /* borrowed from the request frame: valid only while its handler runs */
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
    struct kreq *offloaded;  /* a request out with a worker: reading waits for it */
    struct kafka_sasl_conn sasl; /* the SASL exchange and the principal (kafka_sasl.c) */
    struct kafka_quota_conn quota; /* client id, throttle mute, principal limit (kafka_quota.c) */
};

#define KAFKA_INFLIGHT_MAX 256

/* Transactions: Kafka's transaction.max.timeout.ms (a longer transaction_timeout_ms gets
 * INVALID_TRANSACTION_TIMEOUT), and the most transactional ids the coordinator keeps (a new
 * one past it gets POLICY_VIOLATION; lookups are linear in them, once per request). */
#define KAFKA_TXNS_MAX 10000

/* Authorized operations as Kafka reports them with no authorizer: every operation a resource
 * type supports (AclEntry.supportedOperations), one bit per AclOperation code (READ 3, WRITE 4,
 * CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
 * ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12). Sent only when the client asks; else INT32_MIN. */
#define KAFKA_OPS_TOPIC 3576   /* READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS */
#define KAFKA_OPS_CLUSTER 8096 /* CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE */
#define KAFKA_OPS_GROUP 3400   /* READ DELETE DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS (Kafka 3.9) */

int kafka_server_start(struct kafka_server *ks, const struct sl_config *cfg, struct loop *l,
                       struct store *st, struct topics *topics);
void kafka_server_stop(struct kafka_server *ks);
/* Appends the Kafka wing's /metrics families (kafka_metrics.c). */
void kafka_server_metrics(struct kafka_server *ks, struct prom *p);

/* Topic lookup with auto-creation per config (Produce and Metadata). */
struct topic *kafka_topic_get(struct kafka_server *ks, struct kstr name, bool may_create, sl_err *err);

/* Handlers: decode, act, answer or park. An error return closes the connection (malformed). */
sl_err kafka_handle_produce(struct kconn *kc, struct kreq *q, struct kr *r);
/* A request of KAFKA_OFFLOAD_MIN_BYTES or more (Metadata, Produce) is decoded, and a Produce's
 * batches checked, on a worker thread: true if q went there (it parks until answered). */
bool kafka_offload(struct kconn *kc, struct kreq *q, struct kr *r);
/* For the worker: every batch of req checked (partition_batch_check), in request order, into
 * a new array *out (the caller frees it). Returns the count. */
struct partition_batch_check;
struct kafka_produce_req;
uint32_t kafka_produce_precheck(const struct kafka_produce_req *req, struct partition_batch_check **out);
/* Back on the loop: the Produce handled with those verdicts, its batches written straight
 * from buf (the request's buffer, taken over: freed once every write is done). */
void kafka_produce_offloaded(struct kconn *kc, struct kreq *q, const struct kafka_produce_req *req,
                             uint64_t request_bytes, const struct partition_batch_check *checks, uint8_t *buf);
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

/* Transactions (kafka_txn.c). */
sl_err kafka_txn_start(struct kafka_server *ks);
/* The transactional id's coordinator if this broker is it now (always, outside a cluster),
 * else NULL; every coordinator this broker holds. */
struct txn_coordinator *kafka_txns_of(struct kafka_server *ks, const char *id);
void kafka_txns_each(struct kafka_server *ks, void (*fn)(void *arg, struct txn_coordinator *tc), void *arg);
void kafka_txn_stop(struct kafka_server *ks);
/* InitProducerId with a transactional id (kafka_server.c decodes, this answers). */
sl_err kafka_txn_init_producer_id(struct kconn *kc, struct kreq *q, const struct kafka_init_producer_id_req *req);
sl_err kafka_handle_add_partitions_to_txn(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_add_offsets_to_txn(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_end_txn(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_txn_offset_commit(struct kconn *kc, struct kreq *q, struct kr *r);
/* DescribeTransactions and ListTransactions (kafka_txn_admin.c). */
sl_err kafka_handle_describe_transactions(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_list_transactions(struct kconn *kc, struct kreq *q, struct kr *r);


#endif
