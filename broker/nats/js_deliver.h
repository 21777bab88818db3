/* js_deliver.h: JetStream consumers on the NATS side. It answers $JS.API.CONSUMER.* (through
 * jsapi's consumer plug-in: CREATE in its three subject forms, DURABLE.CREATE, INFO, DELETE,
 * NAMES, LIST, MSG.NEXT) with nats-server 2.9.10's JSON, keeps the consumers of each stream
 * (broker/core/consumer.h state machines), and does their I/O: pull deliveries to the request's
 * inbox with the stream subject and the $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.
 * <ts_ns>.<pending> reply, push deliveries to deliver_subject, status HMSGs (404/408/409/400/100),
 * acks on $JS.ACK.<stream>.<consumer>.> (one in-process subscription per consumer, so an ack
 * for a missing consumer gets the no-responders 503 as from nats-server), work-queue removals
 * and the consumer advisories on $JS.EVENT.ADVISORY.CONSUMER.*.
 *
 * Time: consumer deadlines run on one loop timer (monotonic), armed at the earliest
 * consumer_next_deadline_ms. New messages reach the consumers once they are readable (a watch on
 * each stream's log: its written end), whichever protocol appended them; consumers never see a
 * sequence beyond it.
 *
 * Durable: each consumer's config and delivery state are metadata kvlog keys
 * (consumer/<stream>/<name>/config and /state, the state rewritten once per loop turn when it
 * changed), restored at start.
 *
 * ACLs: with kafka_authorizer on, a durable consumer's name is a Kafka group resource on top of
 * the stream's READ that jsapi checked: READ to create and pull, DESCRIBE for INFO, DELETE for
 * DELETE, and NAMES / LIST and the consumer counts leave out the durables whose group is not
 * DESCRIBE-able (js_deliver.c). */
#ifndef SL_BROKER_JS_DELIVER_H
#define SL_BROKER_JS_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nats_server;
struct streams;
struct jsapi;
struct loop;
struct topics;
struct js_deliver;
struct prom;

/* Registers the consumer side with api (jsapi_set_consumer_ops) and recreates the consumers
 * stored in t's metadata kvlog with their delivery state (t NULL: nothing is stored). */
struct js_deliver *js_deliver_start(struct nats_server *ns, struct loop *l, struct streams *ss, struct jsapi *api,
                                    struct topics *t);
/* Drops every consumer and subscription; call before jsapi_stop. NULL is fine. */
void js_deliver_stop(struct js_deliver *jd);
/* Appends the JetStream consumers' /metrics families (pending, ack pending, DLQ appends...). */
void js_deliver_metrics(struct js_deliver *jd, struct prom *p);
uint32_t js_deliver_consumer_count(const struct js_deliver *jd);
/* A replicated stream's leadership came here (served: its stored consumers are recreated with
 * their delivery state, as at a start) or went (they leave memory; their keys stay). */
struct stream;
void js_deliver_lead(struct js_deliver *jd, struct stream *s, bool served);
/* Replicated streams (cluster_streams.h): past this broker's metadata log, an AckSync's reply
 * and a consumer create's wait for the sync hook too. fn(arg, w) fires w->done(w, ok) once
 * every stream led here has its consumers' state as of the call on its in-sync replicas (ok
 * false: it could not, the reply is not sent); fn(arg, NULL): the state changed, nobody waits.
 * fn NULL: no hook (a single broker, or the cluster's side stopping). */
struct js_sync_waiter {
    void (*done)(struct js_sync_waiter *w, bool ok);
    struct js_sync_waiter *next; /* the hook's, while w waits */
    uint64_t gen, deadline_ms;   /* the hook's */
};
typedef void (*js_sync_fn)(void *arg, struct js_sync_waiter *w);
void js_deliver_set_sync(struct js_deliver *jd, js_sync_fn fn, void *arg);
/* "consumer/<stream>/": the metadata keys of a stream's consumers start so. */
int js_deliver_key_prefix(const char *stream, char *out, size_t cap);

#endif
