/* group_offsets.h: where a consumer group's committed offsets and state live, and so which
 * broker coordinates it.
 *
 * Outside a cluster: the broker's own internal log __consumer_offsets-0 (ks->offsets), and
 * this broker coordinates every group.
 *
 * In a cluster, as Kafka does it: a placed, replicated, compacted topic __sluice_offsets of
 * `offsets_topic_num_partitions` partitions holds them (hidden from clients; its records are
 * storage/offsets.h's). A group lives in partition XXH3(group id) mod the count, and the
 * leader of that partition is the group's coordinator. A commit is answered once the
 * partition's in-sync replicas have it (acks=all through the one write path,
 * partition_append), so a new leader chosen from the ISR after a failover holds every offset
 * an OffsetCommit was answered for. A broker loads a partition (replays its log into a map and
 * restores its groups) when it becomes the partition's leader, and unloads it (its groups'
 * parked joins answered COORDINATOR_NOT_AVAILABLE, its map dropped) when it stops being so; the
 * clients ask FindCoordinator again. The topic is made on the first FindCoordinator once
 * enough brokers are registered for its replication factor (Kafka's lazy creation), and until
 * it exists FindCoordinator answers COORDINATOR_NOT_AVAILABLE. */
#ifndef SL_BROKER_KAFKA_GROUP_OFFSETS_H
#define SL_BROKER_KAFKA_GROUP_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

struct kafka_server;
struct offsets;

/* Starts the loader (a cluster only: cluster_nodes set; it waits for ks->view). */
void group_offsets_start(struct kafka_server *ks);
/* Unloads everything (the groups registry stays): before the groups and partitions go. */
void group_offsets_stop(struct kafka_server *ks);

/* The group's offsets if this broker coordinates it now, else NULL. */
struct offsets *group_offsets_of(struct kafka_server *ks, const char *group, size_t len);
/* The group's coordinator: SL_OK and its node id, or SL_COORDINATOR_NOT_AVAILABLE (no offsets
 * topic yet, whose creation this starts, or no leader). */
sl_err group_offsets_coordinator(struct kafka_server *ks, const char *group, size_t len, int32_t *node);
/* The group's partition of the offsets topic (UINT32_MAX while it is not known here; 0 outside
 * a cluster), and a partition's offsets if this broker leads it now (a transaction's marker). */
uint32_t group_offsets_index(struct kafka_server *ks, const char *group, size_t len);
struct offsets *group_offsets_partition(struct kafka_server *ks, uint32_t index);
/* Every offsets map this broker holds now (ListGroups, lag metrics, expiry). */
void group_offsets_each(struct kafka_server *ks, void (*fn)(void *arg, struct offsets *o), void *arg);
/* /metrics: the offsets topic's partitions, those led here, loads and unloads (a cluster only). */
struct prom;
void group_offsets_metrics(struct kafka_server *ks, struct prom *p);
/* Whether offsets live in the placed topic (cluster_nodes set) rather than ks->offsets. */
bool group_offsets_placed(const struct kafka_server *ks);

#endif
