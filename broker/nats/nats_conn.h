/* nats_conn.h: the NATS wing's private per-connection and per-subscription structs, shared by
 * the protocol (nats_server.c) and the monitoring views (nats_monitor.c). Not for other wings. */
#ifndef SL_BROKER_NATS_CONN_H
#define SL_BROKER_NATS_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "broker/nats/nats_auth.h"
#include "broker/nats/nats_server.h"
#include "broker/nats/sublist.h"
#include "protocol/nats_parse.h"

struct nroute;

struct nsub {
    struct sub s;
    struct nconn *nc; /* NULL: an in-process subscriber (s.ops and s.owner are the caller's) or a route's */
    struct nroute *route; /* a route's interest (nats_route.c): forwarded there, never delivered here */
    int64_t max_msgs; /* -1: unlimited */
    int64_t delivered;
    struct nsub *hnext;  /* sid hash chain */
    struct nsub *expired_next;
    bool expired;
    uint32_t sid_len;
    char *sid;
    uint32_t weight; /* a route's queue interest: the members the peer has */
    char text[]; /* subject \0 queue \0 sid \0 */
};

struct nconn {
    struct conn *c;
    struct nats_server *ns;
    struct nats_parser p;
    uint64_t cid;
    bool connected, verbose, pedantic, echo, headers, no_responders;
    bool kill;  /* slow consumer: close at the next flush, never in the middle of a fan-out */
    bool info_async; /* CONNECT said "protocol":1: INFO updates (connect_urls) are sent to it */
    struct nroute *route; /* a route to another broker (nats_route.c); NULL: a client */
    bool dirty;
    struct nconn *dirty_next;
    uint8_t *out;
    size_t out_len, out_cap, out_hint;
    struct nsub **sids;
    uint32_t sid_cap, sub_count;
    uint32_t pings_out;
    struct loop_timer ping_timer;
    struct loop_timer auth_timer;
    /* Authentication: the user CONNECT matched (NULL: no users configured, or the single
     * user/token; every permission), the nonce INFO carried, and what CONNECT said, kept so a
     * reload can check the connection again as nats-server does. */
    const struct nats_user *user;
    char nonce[NATS_NONCE_LEN + 1];
    char *cred_user, *cred_pass, *cred_token, *cred_nkey, *cred_sig;
    /* A bcrypt check of cred_pass runs on a worker (nats_server.c): the CONNECT waits, and
     * reading stops, until its verdict is in. The verdict is kept, so a reload that leaves the
     * user's hash as it was needs no second bcrypt. */
    struct nconn_auth_work *auth_work;
    int64_t auth_protocol; /* the waiting CONNECT's "protocol" */
    struct nats_bcrypt_verdict verdict;
    struct nats_replies *replies; /* allow_responses: reply subjects delivered here */
    struct nats_acl_cache *acl_cache; /* stream ACL verdicts (nats_acl.c); NULL until the first */
    struct nats_hold *hold;           /* reading waits for an in-process answer (nats_server_hold_publisher) */
    /* Back-pressure (see nats_server.h). A connection is at most one of: reading, waiting on
     * one subscriber (stall_on, linked in its waiters), or released and queued to resume
     * (stall_ready, linked in ns->stall_ready); waiter_next serves both lists. */
    struct nconn *stall_sub;  /* set by a delivery of the op in hand: a subscriber past the mark */
    struct nconn *stall_on;
    bool stall_ready;
    struct nconn *waiter_next;
    struct loop_timer stall_timer;
    struct nconn *waiters;    /* publishers waiting for this connection's output to drain */
    bool stalling_listed;     /* on ns->stalling */
    struct nconn *stalling_next;
    /* For /connz: what the client said in CONNECT, when it came, and its traffic. */
    char name[64], lang[16], version[16];
    uint64_t start_ms; /* wall clock */
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
};

/* Shared with nats_route.c (the route connections use a client connection's output). */
uint8_t *nconn_reserve(struct nconn *nc, size_t n);
void nconn_write(struct nconn *nc, const void *p, size_t n);
/* The output and back-pressure state of a connection going away (its on_close). */
void nconn_release(struct nconn *nc);
/* Routes a message that came from a route: plain local subscribers, and the local members of the
 * queue groups named (one each); nothing goes back out to a route. route.len > 0: matched by
 * route while the MSG lines name m->subject (a DMSG/DHMSG). */
void nats_server_route_in(struct nats_server *ns, const struct nats_msg *m, struct span route,
                          const struct span *queues, uint32_t queue_count);
/* Sends INFO again to the clients that said "protocol":1 (the cluster's connect_urls changed). */
void nats_server_info_update(struct nats_server *ns);

#endif
