/* cluster_streams.h: what a replicated stream's leader keeps beside its log, copied to the
 * stream's other replicas, so a broker that takes the leadership over (its partition's, from
 * the controller) serves the stream's consumers where the old leader left them.
 *
 * The log itself is replicated as any partition's (cluster_replica.h): messages, and PubAcks
 * after the in-sync replicas have them. Beside it the leader holds, in its metadata log, each
 * consumer's config and delivery state (js_deliver.h: "consumer/<stream>/<name>/config" and
 * "/state") and the stream's deleted set (stream.h, stream_deleted_key: what acks, limits and
 * purges removed). Every CLUSTER_STREAMS_PERIOD_MS the leader reads those keys and, when they
 * changed (or every CLUSTER_STREAMS_RESEND_MS anyway, for a replica that was away), POSTs them
 * to each other replica's monitoring port (POST /v1/cluster/streams/state, an admin route with
 * the cluster's http_token: {"stream","id","epoch","keys":{key: hex value}}), from a worker
 * thread. A replica that does not lead the stream makes its keys exactly these (deleting
 * consumers the leader no longer has) and takes the deleted set (stream_apply_deleted); it
 * answers 409 when it leads the stream itself or the sender's epoch is not the placement's
 * (a deposed leader), 404 for a stream it does not have.
 *
 * The copy trails the leader by up to a period plus the leader's own pacing of its deleted set
 * (about a second): after a kill -9 of the leader, what was acked in that last moment is
 * delivered again by the new leader (at least once, as a consumer whose ack was lost sees it),
 * and nothing unacked is lost. */
#ifndef SL_BROKER_CLUSTER_STREAMS_H
#define SL_BROKER_CLUSTER_STREAMS_H

#include "base/prom.h"

struct broker;
struct cluster_streams;

#define CLUSTER_STREAMS_PERIOD_MS 250
#define CLUSTER_STREAMS_RESEND_MS 5000
#define CLUSTER_STREAMS_BODY_MAX (8u << 20) /* a state larger than this is not copied (warned) */

/* After cluster_topics_start, with JetStream on (b->streams); NULL otherwise. */
struct cluster_streams *cluster_streams_start(struct broker *b);
/* Before cluster_topics_stop; a copy under way finishes first. NULL is fine. */
void cluster_streams_stop(struct cluster_streams *cst);
/* sluice_cluster_stream_state_copies_total{outcome}, _applied_total; nothing for NULL. */
void cluster_streams_metrics(const struct cluster_streams *cst, struct prom *p);

#endif
