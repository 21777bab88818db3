/* cluster_streams.h: what a replicated stream's leader keeps beside its log, copied to the
 * stream's other replicas, so a broker that takes the leadership over (its partition's, from
 * the controller) serves the stream's consumers where the old leader left them.
 *
 * The log itself is replicated as any partition's (cluster_replica.h): messages, and PubAcks
 * after the in-sync replicas have them. Beside it the leader holds, in its metadata log, each
 * consumer's config and delivery state (js_deliver.h: "consumer/<stream>/<name>/config" and
 * "/state") and the stream's deleted set (stream.h, stream_deleted_key: what acks, limits and
 * purges removed). The leader copies those keys to each other replica's monitoring port
 * (POST /v1/cluster/streams/state, an admin route with the cluster's http_token:
 * {"stream","id","epoch","keys":{key: hex value}}), from worker threads, one copy per replica at
 * a time: at once when js_deliver says the state changed (cluster_streams_sync, at most every
 * 10 ms as it writes the states), every CLUSTER_STREAMS_PERIOD_MS for what changed otherwise
 * (limits, purges), and every CLUSTER_STREAMS_RESEND_MS anyway (a replica that was away). A
 * replica that does not lead the stream makes its keys exactly these (deleting consumers the
 * leader no longer has) and takes the deleted set (stream_apply_deleted); it answers 409 when
 * it leads the stream itself or the sender's epoch is not the placement's (a deposed leader),
 * 404 for a stream it does not have.
 *
 * Syncs: an AckSync's reply, or a consumer create's, waits (js_sync_waiter) until every in-sync
 * replica of every replicated stream led here took a copy made after the ack or the create; the
 * controller elects a new leader only from the ISR, so what such a reply confirmed is where the
 * consumer is served next. A replica out of the ISR is not waited for; one in it that does not
 * answer holds the replies until the ISR drops it or CLUSTER_STREAMS_SYNC_MAX_MS passes (then,
 * as when the leadership goes, the replies are not sent: the client's AckSync times out rather
 * than be told a lie). A replica takes a copy into its page cache (no fdatasync before the 200),
 * as a Kafka follower does its fetch: a copy is lost only if its replica and the leader fail
 * together.
 *
 * A plain ack is copied within one round trip (about a millisecond) of its state write: after a
 * kill -9 of the leader, what was acked in that moment is delivered again by the new leader (at
 * least once, as a consumer whose ack was lost sees it), and nothing unacked is lost. */
#ifndef SL_BROKER_CLUSTER_STREAMS_H
#define SL_BROKER_CLUSTER_STREAMS_H

#include "base/prom.h"

struct broker;
struct cluster_streams;
struct js_sync_waiter;

#define CLUSTER_STREAMS_PERIOD_MS 250
#define CLUSTER_STREAMS_RESEND_MS 5000
#define CLUSTER_STREAMS_BODY_MAX (8u << 20) /* a state larger than this is not copied (warned) */
#define CLUSTER_STREAMS_SYNC_MAX_MS 10000     /* a sync not through by then fails */
#define CLUSTER_STREAMS_SYNC_TICK_MS 50       /* the tick's period while syncs wait */

/* After cluster_topics_start, with JetStream on (b->streams); NULL otherwise. */
struct cluster_streams *cluster_streams_start(struct broker *b);
/* Before cluster_topics_stop; a copy under way finishes first. NULL is fine. */
void cluster_streams_stop(struct cluster_streams *cst);
/* js_deliver's sync hook (js_deliver_set_sync; arg: the cluster_streams): copies soon, and
 * w (NULL: nobody waits) fires once the copies made from now on reached every in-sync replica. */
void cluster_streams_sync(void *arg, struct js_sync_waiter *w);
/* A replicated stream's leadership left this broker: every sync waiting fails. NULL is fine. */
void cluster_streams_lead_lost(struct cluster_streams *cst);
/* sluice_cluster_stream_state_copies_total{outcome}, _applied_total, _syncs_total, _syncs_waiting; nothing
 * for NULL. */
void cluster_streams_metrics(const struct cluster_streams *cst, struct prom *p);

#endif
