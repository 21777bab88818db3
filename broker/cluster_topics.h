/* cluster_topics.h: topics placed by the cluster's controller (replication factor 1: each
 * partition lives on one broker, which leads it).
 *
 * A topic change made on any broker (CreateTopics, CreatePartitions, DeleteTopics) is checked
 * there as a one-broker change would be, then sent to the controller: the Raft leader takes it
 * itself (controller_topic), any other broker POSTs it to the leader's monitoring port with
 * http_token, as followers send their registration (POST /v1/cluster/topics, an admin route:
 * {"action":"create"|"grow"|"remove","name","partitions","id","configs"}; 200, 400, 404 no such
 * topic, 409 it exists, 421 not the leader, 504). The leader places the partitions over the
 * registered brokers (cluster_place, round-robin from a hash of the name) and commits the
 * placement through Raft; every broker's loop polls the table every 50 ms and makes its own
 * copy of each placed topic, with the placed id and configs: all of its partitions, those it
 * leads and those it does not (which stay empty until partition replication is built). A
 * change is answered once it is committed and the broker that took it has its copy. A topic
 * the table drops is deleted where its id matches. */
#ifndef SL_BROKER_CLUSTER_TOPICS_H
#define SL_BROKER_CLUSTER_TOPICS_H

#include "base/prom.h"

struct broker;
struct cluster_sync;
struct cluster_view;

/* After admin_cluster_start: the view, its poll timer and the leader's route. */
struct cluster_sync *cluster_topics_start(struct broker *b);
/* What the protocol wings read; NULL for NULL. */
const struct cluster_view *cluster_topics_view(const struct cluster_sync *cs);
/* sluice_cluster_topics_placed, _placement_generation, _topic_changes_total{outcome},
 * _local_copies_pending; nothing for NULL. */
void cluster_topics_metrics(const struct cluster_sync *cs, struct prom *p);
/* Before admin_cluster_stop (changes under way finish first, answered). NULL is fine. */
void cluster_topics_stop(struct cluster_sync *cs);
/* Kafka's controlled shutdown, before a stop: asks the controller to move the leaderships of
 * replicated partitions off this broker and take it out of their ISRs, and turns the loop
 * until its view shows that (at most wait_ms; nothing to do outside a cluster). */
void cluster_topics_drain(struct cluster_sync *cs, uint32_t wait_ms);

#endif
