/* cluster_replica.h: a broker's side of partition replication in a cluster (Kafka's ISR fetch
 * replication; partition.h, replication, has the rules of one partition).
 *
 * Every tick (cluster_topics.c calls it on its 50 ms poll) it gives each local partition of a
 * placed topic its role from the placement: leader (replicas[0] is this broker) with the other
 * replicas as followers, follower, or alone (replication factor 1, or not a replica here), and
 * lets leaders drop followers that fell silent. For every broker that leads partitions this one
 * follows it keeps one fetcher: a connection to that broker's Kafka port that asks, with Fetch
 * v11 and this broker's id as ReplicaId, for everything after this broker's log end of each of
 * those partitions. The leader long-polls the fetch (500 ms) until it has data; the answer's
 * batches are appended here at the leader's offsets, and once they are durable under the log's
 * policy the next fetch goes out at once, telling the leader how far this replica reaches.
 *
 * Why Kafka's design, one Raft log for metadata and fetch replication for data, rather than a
 * Raft group per partition as Redpanda runs: the log stays Kafka's record batches verbatim
 * (a Raft log would wrap them, or need its own index over the segments), the follower's
 * request is a Kafka Fetch that the leader already serves from the segment files with
 * sendfile, and what clients see (ISR, high watermark, acks=all against min.insync.replicas)
 * is Kafka's own, so their failure handling fits. The price is that leader election must come
 * from the controller (which knows the ISR), not from the partition's own quorum.
 *
 * The fetch runs on a worker thread with a blocking socket (one thread per leader fetched
 * from, so one leader's long poll never delays another's), and its answer is applied on the
 * loop, which owns the partitions. Not built yet: OFFSET_OUT_OF_RANGE handling (a diverged or
 * truncated follower is logged and retried, never repaired), fetches over TLS or SASL (the
 * fetcher speaks plaintext Kafka), and fetch sessions (each fetch lists every partition). */
#ifndef SL_BROKER_CLUSTER_REPLICA_H
#define SL_BROKER_CLUSTER_REPLICA_H

#include <stdint.h>

struct broker;
struct cluster_view;
struct cluster_replica;
struct prom;

struct cluster_replica *cluster_replica_start(struct broker *b, const struct cluster_view *view);
/* Roles from the view's placement (when it changed, or a local copy appeared), leaders' lag
 * checks, and fetchers that are idle start their next fetch. now_ms: the monotonic clock. */
void cluster_replica_tick(struct cluster_replica *cr, uint64_t now_ms, uint64_t placement_gen);
void cluster_replica_metrics(const struct cluster_replica *cr, struct prom *p);
/* Roles from the view's placement now (a local copy of a placed topic was just made). */
void cluster_replica_roles_now(struct cluster_replica *cr, uint64_t now_ms);
/* A controlled shutdown begins: this broker's followers fetch no more, so no leader sees them
 * caught up and asks the controller to put this broker back into an ISR it is leaving (the
 * controller's hold on a stopping broker lives on the Raft leader that took the drain only). */
void cluster_replica_quiesce(struct cluster_replica *cr);
/* Waits for the fetches in flight (their answers are applied), then frees. */
void cluster_replica_stop(struct cluster_replica *cr);

#endif
