/* placed_state.h: a coordinator's state kept in a cluster's replicated internal topic, as Kafka
 * keeps groups in __consumer_offsets and transactions in __transaction_state.
 *
 * The topic (hidden from clients: kafka_topic_hidden) is placed by the controller like any
 * other, with `partitions` partitions, `replication_factor` replicas (at most the voters of
 * cluster_nodes) and cleanup.policy=compact, so each replica's log cleaner compacts it. A key
 * (a group id, a transactional id) lives in partition XXH3(key) mod the count, and the leader
 * of that partition is the key's coordinator. The topic is made on the first lookup once
 * enough brokers are registered (Kafka's lazy creation); until then, while a partition has
 * no leader, and while this broker's table is not current (cluster_view.ready: a start, a
 * stop), placed_state_leader answers SL_COORDINATOR_NOT_AVAILABLE.
 *
 * Each broker loads a partition when it becomes its leader (ops.load, with a kvlog sink that
 * writes through the partition with acks=all: a write completes once the in-sync replicas have
 * it, so the replica elected after a failover holds every completed write) and unloads it when
 * it stops being so (ops.unload: no new request reaches it; ops.close once ops.idle says its
 * writes in flight have settled). The placement is looked at every 50 ms. */
#ifndef SL_BROKER_KAFKA_PLACED_STATE_H
#define SL_BROKER_KAFKA_PLACED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

struct kafka_server;
struct partition;
struct kvlog_sink;
struct prom;
struct placed_state;

struct placed_state_ops {
    /* This broker leads partition index now, whose log is partition_log(p): its handle (NULL:
     * not loaded, tried again at the next look). sink writes through p with acks=all. */
    void *(*load)(void *arg, uint32_t index, struct partition *p, const struct kvlog_sink *sink);
    /* It no longer leads it: h gets no new request from here on. */
    void (*unload)(void *arg, uint32_t index, void *h);
    /* Nothing of h is in flight: close may free it. */
    bool (*idle)(void *arg, void *h);
    void (*close)(void *arg, void *h);
    void *arg;
};

/* name: the internal topic; prefix: for /metrics (sluice_kafka_<prefix>_...). A no-op (NULL)
 * outside a cluster (cluster_nodes unset). */
struct placed_state *placed_state_new(struct kafka_server *ks, const char *name, const char *prefix,
                                      uint32_t partitions, uint32_t replication_factor,
                                      const struct placed_state_ops *ops);
/* Unloads and closes everything (a handle still busy is closed anyway: ops.close decides). */
void placed_state_free(struct placed_state *ps);

/* The key's partition (UINT32_MAX while the topic is not known here). */
uint32_t placed_state_index(const struct placed_state *ps, const char *key, size_t len);
/* Partition index's loaded handle, else NULL. */
void *placed_state_at(struct placed_state *ps, uint32_t index);
/* The key's loaded handle if this broker coordinates it now, else NULL. */
void *placed_state_of(struct placed_state *ps, const char *key, size_t len);
/* The key's coordinator: SL_OK and its node id, or SL_COORDINATOR_NOT_AVAILABLE (no topic yet,
 * whose creation this starts, no leader known, or a table not current yet). */
sl_err placed_state_leader(struct placed_state *ps, const char *key, size_t len, int32_t *node);
/* fn for every handle loaded and not unloaded. */
void placed_state_each(struct placed_state *ps, void (*fn)(void *arg, void *h), void *arg);
/* /metrics: the topic's partitions (0 until made), those led here, loads and unloads. */
void placed_state_metrics(const struct placed_state *ps, struct prom *p);

#endif
