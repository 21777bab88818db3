/* nats_route.h: NATS routes between the brokers of a cluster, so that NATS clients see one
 * cluster as they do with nats-server's: a subscriber on one broker gets what is published on
 * another, a queue group delivers each message once over the whole cluster, a reply finds its
 * requester's broker.
 *
 * The wire is nats-server's route protocol (protocol/nats_route_parse.h): INFO and CONNECT,
 * RS+/RS- for interest, RMSG/HMSG for messages, PING/PONG, on the port of cluster_listen or
 * cluster_port. The mesh is full and made only between registered brokers: every broker reads
 * the cluster's registrations from the view (broker/core/cluster_view.h, lent by server.c) and
 * dials each broker of a higher node id that registered a route address; it accepts routes
 * only from brokers of a lower id that are registered, and, when the broker has a secret (the
 * cluster's http_token, else the NATS auth token), only with that secret in CONNECT's
 * auth_token.
 *
 * Interest: every client subscription counts once per (subject, queue); the first sends
 * "RS+ $G subject" (a queue's every change "RS+ $G subject queue weight", weight the local
 * members) to every route, the last "RS-". A route that comes up gets the whole table at once.
 * In-process subscribers are not advertised by themselves ($JS.API.> on every broker would
 * draw every request everywhere). What a remote client needs of a JetStream stream is
 * announced explicitly instead (nats_routes_announce): the broker holding the stream announces
 * its subjects, its stream-specific API subjects and its consumers' ack and flow-control
 * subjects, counted in the same table as the clients' interest, and withdraws them when the
 * stream or consumer goes. A broker that gets an API request naming a stream it does not hold
 * stays silent when a route has interest in that subject (nats_routes_has_interest): the
 * holder answers through the route.
 *
 * Forwarding: a route's interest is a subscription in the sublist whose fan-out marks the
 * route instead of delivering; after the fan-out each marked route gets one RMSG/HMSG carrying
 * the queue groups it was picked for (a local member is preferred, as nats-server does).
 * A message that came from a route goes to local subscribers only, never to a route.
 *
 * A route's output is a client connection's (nats_conn.h): it is bounded by max_pending (a
 * route past it is closed as a slow consumer and dialed again) and batched per loop turn. */
#ifndef SL_BROKER_NATS_ROUTE_H
#define SL_BROKER_NATS_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/prom.h"
#include "broker/core/cluster_fsm.h"
#include "broker/nats/nats_server.h"

struct sub;
struct nsub;
struct nats_msg;

/* INFO's ,"cluster":...,"connect_urls":[...] at its longest. */
#define CLUSTER_URLS_JSON_MAX (CLUSTER_BROKERS_MAX * (CLUSTER_HOSTPORT_MAX + 3) + 64)

/* Starts the route listener when the config has a route port (else ns->routes stays NULL).
 * 0, or -1 when the port cannot be bound. */
int nats_routes_start(struct nats_server *ns);
/* Closes every route (their interest leaves the sublist) and the listener. */
void nats_routes_stop(struct nats_server *ns);
/* The route port bound (0: no routes). */
uint16_t nats_routes_port(const struct nats_server *ns);

/* A client subscription s was added (+1) or removed (-1). */
void nats_routes_interest(struct nats_server *ns, const struct sub *s, int delta);
/* In-process interest that remote clients need (a JetStream stream's subjects and API
 * subjects, a consumer's ack subjects): +1 / -1 on subject, counted with the clients' plain
 * interest in it, so "RS+ $G subject" goes out with its first holder and RS- with its last.
 * Nothing without routes. */
void nats_routes_announce(struct nats_server *ns, const char *subject, int delta);
/* Whether a route that is up announced interest matching subject (taken literally). Reads no
 * match cache: safe inside a fan-out. */
bool nats_routes_has_interest(struct nats_server *ns, struct span subject);
/* Inside a fan-out: the route behind s (a route's interest) is to get the message (with s's
 * queue group when queue). False when the route cannot take it now. */
bool nats_routes_pick(struct nats_server *ns, struct nsub *s, bool queue);
/* At the end of a fan-out: one RMSG/HMSG of m to every route picked. */
void nats_routes_forward(struct nats_server *ns, const struct nats_msg *m);

/* Writes ,"cluster":"sluice","connect_urls":[...] for INFO ("" outside a cluster with routes). */
void nats_routes_connect_urls(const struct nats_server *ns, char *out, size_t cap);

/* sluice_nats_routes, sluice_nats_route_msgs_total{direction}, ... */
void nats_routes_metrics(const struct nats_server *ns, struct prom *p);
/* /routez: nats-server's shape (routes: rid, remote_id, ip, port, did_solicit, subscriptions,
 * in_msgs, out_msgs, in_bytes, out_bytes, pending_size). */
void nats_routes_routez(const struct nats_server *ns, json_t *o);

#endif
