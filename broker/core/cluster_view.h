/* cluster_view.h: what a protocol wing needs to know of the cluster, kept on the loop thread:
 * the brokers clients are told of, the controller, and the placement of every placed topic
 * (a copy of the metadata FSM's topic table, broker/core/cluster_fsm.h). The top of the
 * broker (broker/cluster_topics.c) fills it from the controller and supplies the operations
 * that send a topic change to the controller; the wings only read it and call them, so no wing
 * depends on the cluster wing.
 *
 * Why every broker holds a copy of the placement instead of asking: Metadata, Produce and Fetch
 * read it on every request, and the table changes only when the controller commits a topic
 * change (a generation counter says when). */
#ifndef SL_BROKER_CLUSTER_VIEW_H
#define SL_BROKER_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/core/cluster_fsm.h"
#include "broker/core/topics.h"

struct cluster_view_broker {
    uint32_t id;
    char host[CLUSTER_HOSTPORT_MAX]; /* the advertised Kafka host */
    int32_t port;                    /* the advertised Kafka port */
    char nats[CLUSTER_HOSTPORT_MAX]; /* the advertised NATS host:port */
    char route[CLUSTER_HOSTPORT_MAX]; /* the NATS route host:port; "": the broker serves none */
    char http[CLUSTER_HOSTPORT_MAX];  /* the monitoring port host:port (broker-to-broker POSTs) */
};

/* Sends a topic change to the controller. SL_OK: started, and done fires once on the loop with
 * the outcome (tp: this broker's copy of the topic once it has it; NULL for a removal or an
 * error); anything else: refused at once with why, done never fires. */
struct cluster_view_ops {
    /* replication_factor: 1..the registered brokers. */
    sl_err (*create)(void *arg, const char *name, int32_t partitions, int32_t replication_factor, const char *const *keys,
                     const char *const *values, uint32_t config_count, topics_done_fn done, void *done_arg,
                     const char **why);
    sl_err (*grow)(void *arg, const char *name, int32_t total, topics_done_fn done, void *done_arg,
                   const char **why);
    sl_err (*remove)(void *arg, const char *name, topics_done_fn done, void *done_arg, const char **why);
    /* Replaces the topic's config overrides (every broker's copy), already checked. */
    sl_err (*configs)(void *arg, const char *name, const char *const *keys, const char *const *values, uint32_t n,
                      topics_done_fn done, void *done_arg, const char **why);
    /* A partition leader's new ISR (Kafka's AlterPartition), made against leader_epoch; done
     * fires once the controller committed it or said no (tp NULL either way). */
    sl_err (*alter_isr)(void *arg, const char *name, const uint8_t id[16], uint32_t partition, uint32_t leader_epoch,
                        const uint32_t *isr, uint32_t n, topics_done_fn done, void *done_arg);
    void *arg;
};

struct cluster_view {
    uint32_t self_id;
    uint32_t controller_id; /* the Raft leader; 0 while none is known */
    uint32_t broker_count;  /* registered brokers, ids rising */
    uint32_t voters;        /* the voters of cluster_nodes (what a replication factor may ask) */
    struct cluster_view_broker brokers[CLUSTER_BROKERS_MAX];
    struct cluster_topics topics; /* owned copy of the placement */
    /* The table is the controller's as of after this broker started: until then a topic that
     * is not internal is served by no one here (a restarted replica must not take writes for a
     * partition whose leader moved while it was down). */
    bool ready;
    bool stopped; /* cluster_view_stopped's: never ready, and no use waiting for it */
    struct cluster_view_ops ops;
};

/* A view that is not current yet but will be (a start): worth waiting for. */
static inline bool cluster_view_settling(const struct cluster_view *v) {
    return v && !v->ready && !v->stopped;
}

void cluster_view_free(struct cluster_view *v);
/* The view a broker's wings read once its cluster part has stopped (shutdown): not ready (no
 * placed topic is served), no brokers, and every change refused (REQUEST_TIMED_OUT, which
 * clients retry elsewhere). */
void cluster_view_stopped(struct cluster_view *v, uint32_t self_id);
/* Replaces the broker list from the FSM's registrations (kafka host:port split at the last ':'). */
void cluster_view_set_brokers(struct cluster_view *v, const struct cluster_fsm *f);
const struct cluster_view_broker *cluster_view_broker(const struct cluster_view *v, uint32_t id);
/* The placement of topic name (name_len bytes), or NULL: a topic this broker alone holds (an
 * internal one, a stream's, or one made before the cluster). */
const struct cluster_topic *cluster_view_topic(const struct cluster_view *v, const char *name, int32_t name_len);
/* The broker that coordinates key (a group id or transactional id): the same on every broker
 * that has the same registrations (XXH3 of the key over the ids rising); self while no broker
 * is registered. */
uint32_t cluster_view_coordinator(const struct cluster_view *v, const char *key, size_t len);

#endif
