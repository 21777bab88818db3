/* nats_server.h: the NATS listener: the client protocol as nats-server 2.9 speaks it (INFO,
 * CONNECT, PUB, HPUB, SUB, UNSUB, MSG, HMSG, PING/PONG, +OK/-ERR), subject routing through the
 * sublist with queue groups, request/reply with no-responders, and the limits nats-server
 * users pass (max_payload, max_pending, write_deadline, max_connections, ping interval).
 *
 * Subscribers are client subscriptions or in-process ones (nats_server_subscribe_internal): each
 * carries a delivery op (sublist.h), so routing never assumes a socket behind a match, and queue
 * groups may mix both. In-process code publishes with nats_server_publish, routed exactly as a
 * client PUB/HPUB.
 *
 * Output is batched: deliveries are appended to a per-connection buffer and every connection
 * with output is flushed once per loop turn (one sendmsg), never a syscall per message.
 *
 * Back-pressure, as nats-server's fast-producer stall: when a delivery leaves a subscriber with
 * more than max_pending/2 bytes unsent, the publishing connection stops being read (after the op
 * in hand) until that subscriber is back under max_pending/4, or for at most a stall time that
 * grows with the subscriber's backlog (100 ms to 1.1 s, nats-server's stallDuration); then it
 * reads again and may stall again. A connection stalled on its own output only waits for its
 * own socket to drain. A subscriber whose unsent bytes still pass max_pending, or whose socket
 * has not taken a byte for write_deadline, is a slow consumer and is closed, so broker memory
 * stays bounded. */
#ifndef SL_BROKER_NATS_SERVER_H
#define SL_BROKER_NATS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "base/loop.h"
#include "broker/config.h"
#include "broker/net/conn.h"
#include "broker/net/listener.h"

struct sublist;
struct nconn;
struct nsub;
struct workers;
struct nats_deferred;
struct nats_deliver_ops;
struct acl_set;
struct cluster_view;
struct nats_routes;
struct nroute;

struct nats_server {
    const struct sl_config *cfg;
    struct loop *loop;
    struct listener ls;
    struct sublist *subs;
    char server_id[64];
    char server_name[64]; /* INFO's server_name: the id, or in a cluster nats_server_name_of(node id) */
    uint64_t next_client_id;
    uint32_t conn_count;
    struct nconn *dirty;          /* connections with output to flush this turn */
    struct loop_timer sweep_timer; /* write deadlines */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, slow_consumers, stalls;
    uint32_t qpick;               /* rotates queue-group picks */
    /* Routing state. */
    struct nconn *route_pub;      /* the client whose PUB is being routed; NULL for in-process */
    uint32_t route_depth;         /* > 0 while a fan-out walks a sublist_match result */
    struct nsub *expired;         /* subs to free once the fan-out is over */
    struct nats_deferred *deferred_head, *deferred_tail; /* publishes made from inside a fan-out */
    /* Back-pressure. */
    struct nconn *stalling;       /* subscribers that publishers are waiting on */
    struct nconn *stall_ready;    /* stalled publishers to resume at the next flush */
    struct workers *auth_workers; /* bcrypt checks off the loop; started at the first */
    uint64_t auth_offloaded;      /* bcrypt checks run on them */
    /* JetStream under the ACLs (nats_acl.h): the set is the Kafka wing's, lent by server.c
     * (NULL: none yet, every check by an ordinary principal is denied while the authorizer is on). */
    struct acl_set *acls;
    uint64_t acl_checks, acl_scans;  /* stream checks, and those the cache did not answer */
    uint64_t js_publishes_denied;    /* publishes into a stream refused (with or without a reply) */
    /* The cluster (NULL: none): its registered brokers are INFO's connect_urls, and the route
     * mesh (nats_route.h) connects to them. Lent by server.c, as the Kafka wing's. */
    const struct cluster_view *view;
    struct nats_routes *routes;      /* NULL: no cluster port */
    /* Routing from a route: the queue groups the sender picked this broker for. */
    bool route_in;
    const struct span *route_in_queues;
    uint32_t route_in_queue_count;
    /* Forwarding: one RMSG per route per message; routes picked by the fan-out in hand. */
    uint64_t fwd_seq;
    struct nroute *fwd_head;
    struct span fwd_subject; /* len > 0: the message in hand was routed by this subject */
};

int nats_server_start(struct nats_server *ns, const struct sl_config *cfg, struct loop *l);
void nats_server_stop(struct nats_server *ns);

/* After a reload changed authentication (cfg->nats_auth, user, pass, auth_token): checks every
 * connected client again with what its CONNECT said, as nats-server does. One no longer
 * authorized gets -ERR 'Authorization Violation' and is closed; the others take the new
 * permissions, and lose the subscriptions those refuse (each with its Permissions Violation).
 * Must run before the old cfg->nats_auth is freed: connections point into it until then. */
void nats_server_reauth(struct nats_server *ns);

/* Subscribes in-process code to subject (wildcards allowed), in queue group queue (NULL: none).
 * Every matching publish calls ops->deliver(sub, msg) with sub->owner == arg, synchronously
 * inside the fan-out. Returns the subscription, or NULL when subject is not a valid subscription
 * subject. May be called from inside a deliver. The caller owns the subscription: unsubscribe
 * it before nats_server_stop. */
struct nsub *nats_server_subscribe_internal(struct nats_server *ns, const char *subject, const char *queue,
                                            const struct nats_deliver_ops *ops, void *arg);
/* Removes and frees s. From inside a deliver (even s's own) the free waits for the end of the
 * fan-out, and s receives nothing more. */
void nats_server_unsubscribe_internal(struct nats_server *ns, struct nsub *s);

/* Holds the client whose publish is being delivered now (call it from inside a deliver): it
 * reads nothing more until nats_hold_release, so what it sent after the publish waits, as it
 * would behind a request nats-server answers inline (a STREAM.CREATE and the publish pipelined
 * after it). NULL for an in-process publish, or when the client is held already. The hold is
 * the caller's to release, exactly once, also after the client closed (then it only frees). */
struct nats_hold;
struct nats_hold *nats_server_hold_publisher(struct nats_server *ns);
void nats_hold_release(struct nats_hold *h);

/* Whether a publish to subject (a literal subject) would reach a subscriber now, a client's or
 * an in-process one: JetStream checks a pull request's reply subject before delivering to it,
 * as nats-server does, so a requester that closed or unsubscribed gets nothing. */
bool nats_server_has_interest(struct nats_server *ns, struct span subject);

/* Publishes as a client PUB (hdr.len 0) or HPUB would, with echo and no-responders not applying
 * (there is no publishing connection): plain and queue subscribers alike, headers stripped for
 * clients that did not ask for them. Returns 0, or -1 (nothing routed) when subject is empty or
 * hdr.len + payload.len passes max_payload. Called from inside a deliver, the publish is copied
 * and routed right after the current fan-out, in order. */
int nats_server_publish(struct nats_server *ns, struct span subject, struct span reply, struct span hdr,
                        struct span payload);
/* The same, routed by `route` (route.len 0: by subject) while the MSG line carries `subject`:
 * a JetStream delivery to a pull request's inbox names the stream subject. */
int nats_server_publish_to(struct nats_server *ns, struct span route, struct span subject, struct span reply,
                           struct span hdr, struct span payload);

/* The cluster name routes and a replicated stream's "cluster" give (nats-server's
 * cluster_name). */
#define NATS_CLUSTER_NAME "sluice"
/* A clustered broker's NATS server name, "sluice-<node id>": what INFO, /varz and a
 * replicated stream's leader and replicas say, so a client tells which broker leads. */
void nats_server_name_of(uint32_t node_id, char *out, size_t cap);

#endif
