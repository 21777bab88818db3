/* nats_route.c: NATS routes between the brokers of a cluster (see nats_route.h). */
#include "broker/nats/nats_route.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/cluster_view.h"
#include "broker/nats/nats_conn.h"
#include "broker/nats/sublist.h"
#include "protocol/nats_route_parse.h"

#define ROUTE_TICK_MS 250
#define ROUTE_REDIAL_MS 1000
#define ROUTE_SUBS_MAX (1u << 20) /* a peer's interest entries: past it the route is refused */
#define ROUTE_QUEUE_LINE_EXTRA 4096 /* queue names an RMSG line may carry beyond a client's line */

/* One (subject, queue) of local interest and how many client subscriptions hold it. */
struct interest {
    struct interest *next;
    uint32_t count;
    uint32_t subject_len, queue_len;
    char key[]; /* subject \0 queue \0 */
};

/* A connect in flight; outlives the routes when they stop first (then rt is NULL). */
struct route_dial {
    struct io_op op;
    struct nats_routes *rt;
    struct route_dial *next;
    int fd;
    uint32_t node_id;
    struct sockaddr_storage sa;
    socklen_t sa_len;
};

struct nroute {
    struct nats_routes *rt;
    struct nconn *nc; /* its output, as a client's */
    struct nroute *next;
    uint32_t node_id;  /* the peer; 0 until its CONNECT (inbound) */
    bool outbound, ready, closing;
    char remote_id[64];
    struct nsub **subs; /* the peer's interest, by (subject, queue); chained through hnext */
    uint32_t sub_cap, sub_count;
    /* The message in hand: whether this route was picked, and for which queue groups. */
    uint64_t fwd_seq;
    struct nroute *fwd_next;
    uint32_t fwd_queue_count;
    struct span fwd_queues[NATS_ROUTE_QUEUES_MAX];
    uint32_t pings_out;
    struct loop_timer ping_timer, handshake_timer;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
};

struct nats_routes {
    struct nats_server *ns;
    struct listener ls;
    char host[SL_CONFIG_HOST_MAX];
    uint16_t port;
    struct loop_timer tick;
    char secret[256];          /* "": routes are not authenticated */
    struct nroute *routes;
    struct route_dial *dials;
    uint32_t adopt_node;       /* set around listener_adopt: the dialed broker */
    struct {
        uint32_t id;
        uint64_t at_ms;
    } redial[CLUSTER_BROKERS_MAX];
    char urls[CLUSTER_URLS_JSON_MAX]; /* connect_urls as last sent */
    struct interest **itab;
    uint32_t icap, icount;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, refused, made;
};

static const struct nats_deliver_ops route_sub_ops; /* never called: see nats_fanout */

/* ---- interest ------------------------------------------------------------------------------------ */

static uint32_t key_hash(const char *a, uint32_t alen, const char *b, uint32_t blen) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < alen; i++) h = (h ^ (uint8_t)a[i]) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (uint32_t i = 0; i < blen; i++) h = (h ^ (uint8_t)b[i]) * 16777619u;
    return h;
}

static void route_write_interest(struct nroute *r, const char *subj, uint32_t slen, const char *queue, uint32_t qlen,
                                 uint32_t count) {
    char line[64 + 2 * NATS_MAX_CONTROL_LINE_DEFAULT];
    int n;
    if (!qlen)
        n = snprintf(line, sizeof(line), "RS%c $G %.*s\r\n", count ? '+' : '-', (int)slen, subj);
    else if (count)
        n = snprintf(line, sizeof(line), "RS+ $G %.*s %.*s %u\r\n", (int)slen, subj, (int)qlen, queue, count);
    else
        n = snprintf(line, sizeof(line), "RS- $G %.*s %.*s\r\n", (int)slen, subj, (int)qlen, queue);
    if (n > 0 && (size_t)n < sizeof(line)) nconn_write(r->nc, line, (size_t)n);
}

void nats_routes_interest(struct nats_server *ns, const struct sub *s, int delta) {
    struct nats_routes *rt = ns->routes;
    if (!rt) return;
    uint32_t qlen = s->queue ? s->queue_len : 0;
    if ((uint64_t)(rt->icount + 1) * 4 > (uint64_t)rt->icap * 3) { /* keep chains short: grow at 3/4 */
        uint32_t cap = rt->icap ? rt->icap * 2 : 256;
        struct interest **t = sl_xcalloc(cap, sizeof(*t));
        for (uint32_t i = 0; i < rt->icap; i++)
            for (struct interest *e = rt->itab[i], *next; e; e = next) {
                next = e->next;
                uint32_t h = key_hash(e->key, e->subject_len, e->key + e->subject_len + 1, e->queue_len) & (cap - 1);
                e->next = t[h];
                t[h] = e;
            }
        free(rt->itab);
        rt->itab = t;
        rt->icap = cap;
    }
    struct interest **pp = &rt->itab[key_hash(s->subject, s->subject_len, s->queue, qlen) & (rt->icap - 1)];
    while (*pp && !((*pp)->subject_len == s->subject_len && (*pp)->queue_len == qlen &&
                    !memcmp((*pp)->key, s->subject, s->subject_len) &&
                    (!qlen || !memcmp((*pp)->key + s->subject_len + 1, s->queue, qlen))))
        pp = &(*pp)->next;
    struct interest *e = *pp;
    if (!e) {
        if (delta < 0) return; /* not counted (a subscription made before the routes) */
        e = sl_xcalloc(1, sizeof(*e) + s->subject_len + 1 + qlen + 1);
        e->subject_len = s->subject_len;
        e->queue_len = qlen;
        memcpy(e->key, s->subject, s->subject_len);
        if (qlen) memcpy(e->key + s->subject_len + 1, s->queue, qlen);
        *pp = e;
        rt->icount++;
    }
    uint32_t before = e->count;
    e->count = delta > 0 ? e->count + 1 : e->count - 1;
    /* A plain subject is announced on its first subscription and withdrawn with its last; a
     * queue's weight on every change. */
    if (qlen || !before || !e->count)
        for (struct nroute *r = rt->routes; r; r = r->next)
            if (r->ready && !r->closing)
                route_write_interest(r, s->subject, s->subject_len, s->queue, qlen, e->count);
    if (!e->count) {
        *pp = e->next;
        free(e);
        rt->icount--;
    }
}

void nats_routes_announce(struct nats_server *ns, const char *subject, int delta) {
    if (!ns->routes) return;
    size_t len = strlen(subject);
    if (!len || len > UINT32_MAX) return;
    struct sub s = {.subject = subject, .subject_len = (uint32_t)len};
    nats_routes_interest(ns, &s, delta);
}

static bool route_sub_up(const struct sub *s, void *arg) {
    (void)arg;
    const struct nsub *sub = sl_container_of(s, const struct nsub, s);
    return sub->route && sub->route->ready && !sub->route->closing && !sub->route->nc->kill;
}

bool nats_routes_has_interest(struct nats_server *ns, struct span subject) {
    if (!ns->routes || !subject.len) return false;
    return sublist_any(ns->subs, (const char *)subject.p, subject.len, route_sub_up, NULL);
}

static void route_send_all_interest(struct nroute *r) {
    struct nats_routes *rt = r->rt;
    for (uint32_t i = 0; i < rt->icap; i++)
        for (struct interest *e = rt->itab[i]; e; e = e->next)
            route_write_interest(r, e->key, e->subject_len, e->key + e->subject_len + 1, e->queue_len, e->count);
}

/* ---- the peer's interest ---------------------------------------------------------------------------- */

static struct nsub **route_sub_slot(struct nroute *r, struct span subj, struct span queue) {
    if (!r->sub_cap) return NULL;
    uint32_t h = key_hash((const char *)subj.p, subj.len, (const char *)queue.p, queue.len) & (r->sub_cap - 1);
    struct nsub **pp = &r->subs[h];
    while (*pp && !((*pp)->s.subject_len == subj.len && !memcmp((*pp)->s.subject, subj.p, subj.len) &&
                    ((*pp)->s.queue ? (*pp)->s.queue_len : 0) == queue.len &&
                    (!queue.len || !memcmp((*pp)->s.queue, queue.p, queue.len))))
        pp = &(*pp)->hnext;
    return pp;
}

static void route_subs_grow(struct nroute *r) {
    uint32_t cap = r->sub_cap ? r->sub_cap * 2 : 64;
    struct nsub **t = sl_xcalloc(cap, sizeof(*t));
    for (uint32_t i = 0; i < r->sub_cap; i++)
        for (struct nsub *s = r->subs[i], *next; s; s = next) {
            next = s->hnext;
            uint32_t h = key_hash(s->s.subject, s->s.subject_len, s->s.queue, s->s.queue ? s->s.queue_len : 0) &
                         (cap - 1);
            s->hnext = t[h];
            t[h] = s;
        }
    free(r->subs);
    r->subs = t;
    r->sub_cap = cap;
}

/* RS+: false when the route must be closed (an invalid subject, too many entries). */
static bool route_sub_add(struct nroute *r, struct span subj, struct span queue, uint32_t weight) {
    struct nats_server *ns = r->rt->ns;
    if (!sublist_subject_valid((const char *)subj.p, subj.len)) return false;
    struct nsub **pp = route_sub_slot(r, subj, queue);
    if (pp && *pp) {
        (*pp)->weight = weight;
        return true;
    }
    if (r->sub_count >= ROUTE_SUBS_MAX) return false;
    if (r->sub_count + 1 > r->sub_cap) route_subs_grow(r);
    struct nsub *s = sl_xcalloc(1, sizeof(*s) + subj.len + 1 + queue.len + 1);
    char *t = s->text;
    memcpy(t, subj.p, subj.len);
    s->s.subject = t;
    s->s.subject_len = subj.len;
    if (queue.len) {
        memcpy(t + subj.len + 1, queue.p, queue.len);
        s->s.queue = t + subj.len + 1;
        s->s.queue_len = queue.len;
    }
    s->s.ops = &route_sub_ops;
    s->s.owner = r;
    s->route = r;
    s->max_msgs = -1;
    s->weight = weight;
    if (sublist_insert(ns->subs, &s->s) != 0) {
        free(s);
        return false;
    }
    pp = route_sub_slot(r, subj, queue);
    s->hnext = NULL;
    *pp = s;
    r->sub_count++;
    return true;
}

static void route_sub_del(struct nroute *r, struct span subj, struct span queue) {
    struct nsub **pp = route_sub_slot(r, subj, queue);
    if (!pp || !*pp) return; /* nats-server ignores an unknown RS- too */
    struct nsub *s = *pp;
    *pp = s->hnext;
    r->sub_count--;
    sublist_remove(r->rt->ns->subs, &s->s);
    free(s);
}

/* ---- forwarding -------------------------------------------------------------------------------------- */

static void route_sub_deliver(struct sub *s, const struct nats_msg *m) {
    (void)s;
    (void)m;
    SL_ASSERT(!"a route's interest is forwarded by the fan-out, never delivered");
}
static const struct nats_deliver_ops route_sub_ops = {route_sub_deliver};

bool nats_routes_pick(struct nats_server *ns, struct nsub *s, bool queue) {
    struct nroute *r = s->route;
    if (!r->ready || r->closing || r->nc->kill) return false;
    if (r->fwd_seq != ns->fwd_seq) {
        r->fwd_seq = ns->fwd_seq;
        r->fwd_queue_count = 0;
        r->fwd_next = ns->fwd_head;
        ns->fwd_head = r;
    }
    if (queue) {
        if (r->fwd_queue_count == NATS_ROUTE_QUEUES_MAX) return false;
        r->fwd_queues[r->fwd_queue_count++] = (struct span){(const uint8_t *)s->s.queue, s->s.queue_len};
    }
    return true;
}

/* route.len > 0: m is routed by route while its MSG lines name m->subject: DMSG/DHMSG. */
static void route_forward_one(struct nroute *r, const struct nats_msg *m, struct span route) {
    size_t qbytes = 0;
    for (uint32_t i = 0; i < r->fwd_queue_count; i++) qbytes += r->fwd_queues[i].len + 1;
    uint32_t total = m->hdr.len + m->payload.len;
    size_t need = 9 + route.len + 1 + 3 + m->subject.len + 3 + m->reply.len + 1 + qbytes + 24 + 2 + total + 2;
    uint8_t *p = nconn_reserve(r->nc, need);
    if (!p) return; /* a slow route: closed at the flush, and dialed again */
    uint8_t *start = p;
    if (route.len) {
        memcpy(p, m->hdr.len ? "DHMSG $G " : "DMSG $G ", m->hdr.len ? 9 : 8), p += m->hdr.len ? 9 : 8;
        memcpy(p, route.p, route.len), p += route.len;
        *p++ = ' ';
    } else {
        memcpy(p, m->hdr.len ? "HMSG $G " : "RMSG $G ", 8), p += 8;
    }
    memcpy(p, m->subject.p, m->subject.len), p += m->subject.len;
    *p++ = ' ';
    if (r->fwd_queue_count) {
        if (m->reply.len) {
            *p++ = '+', *p++ = ' ';
            memcpy(p, m->reply.p, m->reply.len), p += m->reply.len;
            *p++ = ' ';
        } else {
            *p++ = '|', *p++ = ' ';
        }
        for (uint32_t i = 0; i < r->fwd_queue_count; i++) {
            memcpy(p, r->fwd_queues[i].p, r->fwd_queues[i].len), p += r->fwd_queues[i].len;
            *p++ = ' ';
        }
    } else if (m->reply.len) {
        memcpy(p, m->reply.p, m->reply.len), p += m->reply.len;
        *p++ = ' ';
    }
    if (m->hdr.len) {
        p += sl_fmt_u64((char *)p, m->hdr.len);
        *p++ = ' ';
    }
    p += sl_fmt_u64((char *)p, total);
    *p++ = '\r', *p++ = '\n';
    if (m->hdr.len) memcpy(p, m->hdr.p, m->hdr.len), p += m->hdr.len;
    if (m->payload.len) memcpy(p, m->payload.p, m->payload.len), p += m->payload.len;
    *p++ = '\r', *p++ = '\n';
    r->nc->out_len -= need - (size_t)(p - start);
    /* Past the stall mark the client whose PUB this is stops being read, as for a local
     * subscriber (nats_server.h): a fast publisher waits for the route instead of losing it. */
    struct nats_server *ns = r->rt->ns;
    if (ns->route_pub && r->nc->c->out_bytes + r->nc->out_len > ns->cfg->max_pending_bytes / 2)
        ns->route_pub->stall_sub = r->nc;
    r->msgs_out++;
    r->bytes_out += total;
    r->rt->msgs_out++;
    r->rt->bytes_out += total;
}

void nats_routes_forward(struct nats_server *ns, const struct nats_msg *m) {
    /* A message routed by another subject than its MSG line names (a JetStream delivery to a
     * pull request's inbox, which names the stream subject) goes as DMSG/DHMSG with both: the
     * peer matches the first and names the second, as a local delivery would. */
    while (ns->fwd_head) {
        struct nroute *r = ns->fwd_head;
        ns->fwd_head = r->fwd_next;
        r->fwd_next = NULL;
        route_forward_one(r, m, ns->fwd_subject);
        r->fwd_queue_count = 0;
    }
}

/* ---- connections ----------------------------------------------------------------------------------- */

static void route_close(struct nroute *r, const char *why) {
    if (r->closing) return;
    r->closing = true;
    conn_close(r->nc->c, why);
}

/* -ERR 'text', then the route closes once it is sent. */
static void route_fatal(struct nroute *r, const char *text) {
    if (r->closing) return;
    char line[256];
    int n = snprintf(line, sizeof(line), "-ERR '%s'\r\n", text);
    nconn_write(r->nc, line, (size_t)SL_MIN(n, (int)sizeof(line) - 1));
    struct nconn *nc = r->nc;
    if (nc->out_len) {
        conn_send_mem(nc->c, nc->out, (uint32_t)nc->out_len);
        nc->out = NULL;
        nc->out_len = nc->out_cap = 0;
    }
    r->closing = true;
    SL_WARN("nats route %s (node %u): %s: closing", nc->c->peer, r->node_id, text);
    conn_close_after_send(nc->c, text);
}

static void route_send_info(struct nroute *r) {
    const struct nats_routes *rt = r->rt;
    const struct nats_server *ns = rt->ns;
    char line[1024];
    int n = snprintf(line, sizeof(line),
                     "INFO {\"server_id\":\"%s\",\"name\":\"%s\",\"version\":\"2.9.10\",\"proto\":1,\"go\":\"sluice "
                     SL_VERSION "\",\"host\":\"%s\",\"port\":%u,\"headers\":true,\"cluster\":\"" NATS_CLUSTER_NAME
                     "\",\"auth_required\":%s,\"max_payload\":%u,\"sluice_node\":%u} \r\n",
                     ns->server_id, ns->server_id, rt->host, rt->port, rt->secret[0] ? "true" : "false",
                     ns->cfg->max_payload_bytes, ns->cfg->node_id);
    nconn_write(r->nc, line, (size_t)SL_MIN(n, (int)sizeof(line) - 1));
}

static void route_send_connect(struct nroute *r) {
    const struct nats_routes *rt = r->rt;
    json_t *o = json_pack("{s:b,s:b,s:b,s:b,s:b,s:s,s:s,s:I,s:s}", "echo", 0, "verbose", 0, "pedantic", 0,
                          "tls_required", 0, "headers", 1, "name", rt->ns->server_id, "cluster", NATS_CLUSTER_NAME,
                          "sluice_node", (json_int_t)rt->ns->cfg->node_id, "auth_token", rt->secret);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        route_close(r, "out of memory");
        return;
    }
    nconn_write(r->nc, "CONNECT ", 8);
    nconn_write(r->nc, s, strlen(s));
    nconn_write(r->nc, "\r\n", 2);
    free(s);
}

static void route_on_ping_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nroute *r = sl_container_of(t, struct nroute, ping_timer);
    const struct sl_config *cfg = r->rt->ns->cfg;
    if (r->pings_out >= cfg->ping_max_out) {
        route_fatal(r, "Stale Connection");
        return;
    }
    r->pings_out++;
    nconn_write(r->nc, "PING\r\n", 6);
    loop_timer_add(r->rt->ns->loop, &r->ping_timer, now_ms + cfg->ping_interval_ms);
}

static void route_on_handshake_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nroute *r = sl_container_of(t, struct nroute, handshake_timer);
    (void)now_ms;
    if (!r->ready) route_fatal(r, "Authentication Timeout");
}

/* The next dial of node id waits ROUTE_REDIAL_MS. */
static void route_redial_later(struct nats_routes *rt, uint32_t id) {
    for (uint32_t i = 0; i < CLUSTER_BROKERS_MAX; i++)
        if (rt->redial[i].id == id || !rt->redial[i].id) {
            rt->redial[i].id = id;
            rt->redial[i].at_ms = loop_mono_ms(rt->ns->loop) + ROUTE_REDIAL_MS;
            return;
        }
}

static struct nroute *route_by_node(struct nats_routes *rt, uint32_t id) {
    for (struct nroute *r = rt->routes; r; r = r->next)
        if (r->node_id == id && !r->closing) return r;
    return NULL;
}

static void route_ready(struct nroute *r) {
    struct nats_routes *rt = r->rt;
    r->ready = true;
    rt->made++;
    loop_timer_del(rt->ns->loop, &r->handshake_timer);
    loop_timer_add(rt->ns->loop, &r->ping_timer, loop_mono_ms(rt->ns->loop) + rt->ns->cfg->ping_interval_ms);
    SL_INFO("nats route to node %u (%s, %s) up", r->node_id, r->nc->c->peer, r->outbound ? "dialed" : "accepted");
    route_send_all_interest(r);
    nconn_write(r->nc, "PING\r\n", 6);
}

/* Equal in time whatever the first difference (a secret is not found byte by byte). */
static bool secret_eq(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* The node id a route's INFO/CONNECT names ("sluice_node"), or 0. */
static uint32_t json_node(json_t *j) {
    json_t *v = json_object_get(j, "sluice_node");
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > UINT32_MAX) return 0;
    return (uint32_t)json_integer_value(v);
}

static bool route_registered(const struct nats_routes *rt, uint32_t id) {
    const struct cluster_view *v = rt->ns->view;
    if (!v) return false;
    const struct cluster_view_broker *b = cluster_view_broker(v, id);
    return b && b->route[0];
}

/* CONNECT on an accepted route: who it is (a registered broker of a lower id) and its secret. */
static void route_on_connect(struct nroute *r, struct span arg) {
    struct nats_routes *rt = r->rt;
    if (r->outbound || r->ready) {
        route_fatal(r, "Unknown Protocol Operation");
        return;
    }
    json_t *j = json_loadb((const char *)arg.p, arg.len, 0, NULL);
    uint32_t id = j ? json_node(j) : 0;
    const char *token = j && json_is_string(json_object_get(j, "auth_token"))
                            ? json_string_value(json_object_get(j, "auth_token"))
                            : "";
    bool secret_ok = !rt->secret[0] || secret_eq(token, rt->secret);
    const char *name = j && json_is_string(json_object_get(j, "name")) ? json_string_value(json_object_get(j, "name")) : "";
    snprintf(r->remote_id, sizeof(r->remote_id), "%s", name);
    json_decref(j);
    if (!secret_ok) {
        rt->refused++;
        route_fatal(r, "Authorization Violation");
        return;
    }
    if (!id || id >= rt->ns->cfg->node_id || !route_registered(rt, id)) {
        rt->refused++;
        route_fatal(r, "Authorization Violation"); /* not a registered broker that dials us */
        return;
    }
    struct nroute *old = route_by_node(rt, id);
    if (old) route_close(old, "replaced by a new route from the same broker");
    r->node_id = id;
    route_ready(r);
}

/* INFO on a dialed route: the broker we meant to reach. */
static void route_on_info(struct nroute *r, struct span arg) {
    if (!r->outbound || r->ready) return; /* an accepted route's peer INFO, or an update: nothing to do */
    json_t *j = json_loadb((const char *)arg.p, arg.len, 0, NULL);
    uint32_t id = j ? json_node(j) : 0;
    const char *sid = j && json_is_string(json_object_get(j, "server_id"))
                          ? json_string_value(json_object_get(j, "server_id"))
                          : "";
    snprintf(r->remote_id, sizeof(r->remote_id), "%s", sid);
    json_decref(j);
    if (id != r->node_id) {
        route_fatal(r, "Route Is Not The Broker Dialed");
        return;
    }
    route_ready(r);
}

static void route_on_msg(struct nroute *r, const struct nats_route_op *op) {
    struct nats_msg m = {.subject = op->deliver_as.len ? op->deliver_as : op->subject, .reply = op->reply,
                         .hdr = {op->payload.p, op->hdr_len},
                         .payload = {op->payload.p + op->hdr_len, op->total_len - op->hdr_len}};
    struct span route = op->deliver_as.len ? op->subject : (struct span){0};
    r->msgs_in++;
    r->bytes_in += op->total_len;
    r->rt->msgs_in++;
    r->rt->bytes_in += op->total_len;
    nats_server_route_in(r->rt->ns, &m, route, op->queues, op->queue_count);
}

static bool route_on_data(struct conn *c) {
    struct nroute *r = c->proto;
    const struct sl_config *cfg = r->rt->ns->cfg;
    uint32_t line_max = SL_MAX(cfg->max_control_line_bytes, NATS_MAX_CONTROL_LINE_DEFAULT) + ROUTE_QUEUE_LINE_EXTRA;
    size_t off = 0;
    for (uint32_t guard = 0; guard < (1u << 20) && !r->closing && !c->closing && !c->close_when_sent; guard++) {
        struct nats_route_op op;
        size_t used = 0;
        enum nats_perr e = nats_route_parse(c->in + off, c->in_len - off, cfg->max_payload_bytes, line_max, &used, &op);
        if (e == NATS_PERR_AGAIN) break;
        if (e != NATS_PERR_NONE) {
            const char *text = nats_perr_text(e);
            route_fatal(r, text ? text : "Protocol Error");
            break;
        }
        off += used;
        bool ok_before_ready = op.kind == NATS_ROUTE_INFO || op.kind == NATS_ROUTE_CONNECT ||
                               op.kind == NATS_ROUTE_PING || op.kind == NATS_ROUTE_PONG || op.kind == NATS_ROUTE_ERR ||
                               op.kind == NATS_ROUTE_OK;
        if (!r->ready && !ok_before_ready) {
            route_fatal(r, "Authorization Violation");
            break;
        }
        switch (op.kind) {
        case NATS_ROUTE_CONNECT: route_on_connect(r, op.arg); break;
        case NATS_ROUTE_INFO: route_on_info(r, op.arg); break;
        case NATS_ROUTE_PING: nconn_write(r->nc, "PONG\r\n", 6); break;
        case NATS_ROUTE_PONG: r->pings_out = 0; break;
        case NATS_ROUTE_OK: break;
        case NATS_ROUTE_ERR:
            SL_WARN("nats route %s (node %u): peer said -ERR %.*s", c->peer, r->node_id, (int)SL_MIN(op.arg.len, 200u),
                    (const char *)op.arg.p);
            break;
        case NATS_ROUTE_SUB:
            if (!route_sub_add(r, op.subject, op.queue, op.weight)) route_fatal(r, "Invalid Subject");
            break;
        case NATS_ROUTE_UNSUB: route_sub_del(r, op.subject, op.queue); break;
        case NATS_ROUTE_MSG:
        case NATS_ROUTE_HMSG: route_on_msg(r, &op); break;
        }
    }
    if (!c->closing) conn_consume(c, off);
    return true;
}

static void route_on_drain(struct conn *c) { (void)c; }

static void route_on_close(struct conn *c) {
    struct nroute *r = c->proto;
    struct nats_routes *rt = r->rt;
    struct nats_server *ns = rt->ns;
    SL_ASSERT(ns->route_depth == 0); /* closes come from the loop, never from inside a fan-out */
    if (r->ready) SL_INFO("nats route to node %u (%s) down", r->node_id, c->peer);
    for (uint32_t i = 0; i < r->sub_cap; i++)
        for (struct nsub *s = r->subs[i], *next; s; s = next) {
            next = s->hnext;
            sublist_remove(ns->subs, &s->s);
            free(s);
        }
    free(r->subs);
    for (struct nroute **pp = &ns->fwd_head; *pp; pp = &(*pp)->fwd_next)
        if (*pp == r) {
            *pp = r->fwd_next;
            break;
        }
    for (struct nroute **pp = &rt->routes; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    loop_timer_del(ns->loop, &r->ping_timer);
    loop_timer_del(ns->loop, &r->handshake_timer);
    nconn_release(r->nc);
    free(r->nc);
    if (r->outbound) route_redial_later(rt, r->node_id); /* dialed again after a pause */
    free(r);
    c->proto = NULL;
}

static const struct conn_ops route_conn_ops = {route_on_data, route_on_drain, route_on_close, false};

static void route_on_open(struct conn *c) {
    struct nats_routes *rt = c->listener->arg;
    struct nroute *r = sl_xcalloc(1, sizeof(*r));
    r->rt = rt;
    r->nc = sl_xcalloc(1, sizeof(*r->nc));
    r->nc->c = c;
    r->nc->ns = rt->ns;
    r->nc->route = r;
    r->nc->connected = true;
    r->outbound = rt->adopt_node != 0;
    r->node_id = rt->adopt_node;
    r->ping_timer.fire = route_on_ping_timer;
    r->handshake_timer.fire = route_on_handshake_timer;
    r->next = rt->routes;
    rt->routes = r;
    c->proto = r;
    if (r->outbound) route_send_connect(r);
    route_send_info(r);
    loop_timer_add(rt->ns->loop, &r->handshake_timer, loop_mono_ms(rt->ns->loop) + rt->ns->cfg->auth_timeout_ms);
}

/* ---- dialing ---------------------------------------------------------------------------------------- */

static void route_dial_done(struct io_op *op, int32_t res) {
    struct route_dial *d = sl_container_of(op, struct route_dial, op);
    struct nats_routes *rt = d->rt;
    if (rt) {
        for (struct route_dial **pp = &rt->dials; *pp; pp = &(*pp)->next)
            if (*pp == d) {
                *pp = d->next;
                break;
            }
    }
    if (!rt || res < 0) {
        if (rt) {
            SL_DEBUG("nats route to node %u: connect: %s", d->node_id, strerror(-res));
            route_redial_later(rt, d->node_id);
        }
        close(d->fd);
        free(d);
        return;
    }
    rt->adopt_node = d->node_id;
    listener_adopt(&rt->ls, d->fd);
    rt->adopt_node = 0;
    free(d);
}

static bool route_dialing(const struct nats_routes *rt, uint32_t id) {
    for (const struct route_dial *d = rt->dials; d; d = d->next)
        if (d->node_id == id) return true;
    return false;
}

static void route_dial(struct nats_routes *rt, const struct cluster_view_broker *b) {
    char host[CLUSTER_HOSTPORT_MAX];
    snprintf(host, sizeof(host), "%s", b->route);
    char *colon = strrchr(host, ':');
    if (!colon) return;
    *colon = 0;
    char *name = host;
    if (name[0] == '[' && colon > name + 1 && colon[-1] == ']') name++, colon[-1] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    if (getaddrinfo(name, colon + 1, &hints, &ai) != 0 || !ai) {
        SL_WARN("nats route to node %u: cannot resolve %s", b->id, b->route);
        return;
    }
    struct route_dial *d = sl_xcalloc(1, sizeof(*d));
    d->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memcpy(&d->sa, ai->ai_addr, ai->ai_addrlen);
    d->sa_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (d->fd < 0) {
        free(d);
        return;
    }
    d->rt = rt;
    d->node_id = b->id;
    d->op.done = route_dial_done;
    d->next = rt->dials;
    rt->dials = d;
    struct io_uring_sqe *sqe = loop_sqe(rt->ns->loop, &d->op);
    io_uring_prep_connect(sqe, d->fd, (struct sockaddr *)&d->sa, d->sa_len);
}

static bool redial_due(struct nats_routes *rt, uint32_t id, uint64_t now) {
    for (uint32_t i = 0; i < CLUSTER_BROKERS_MAX; i++)
        if (rt->redial[i].id == id) return now >= rt->redial[i].at_ms;
    return true;
}

void nats_routes_connect_urls(const struct nats_server *ns, char *out, size_t cap) {
    out[0] = 0;
    const struct cluster_view *v = ns->view;
    if (!ns->routes || !v || !v->broker_count) return;
    size_t n = (size_t)snprintf(out, cap, ",\"cluster\":\"" NATS_CLUSTER_NAME "\",\"connect_urls\":[");
    bool first = true;
    for (uint32_t i = 0; i < v->broker_count && n < cap; i++) {
        const struct cluster_view_broker *b = &v->brokers[i];
        if (!b->route[0] || !b->nats[0] || strpbrk(b->nats, "\"\\")) continue; /* in the mesh only */
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"", first ? "" : ",", b->nats);
        first = false;
    }
    if (n + 2 >= cap) {
        out[0] = 0; /* cannot happen with CLUSTER_URLS_JSON_MAX; never send half a list */
        return;
    }
    snprintf(out + n, cap - n, "]");
}

static void route_tick(struct loop_timer *t, uint64_t now_ms) {
    struct nats_routes *rt = sl_container_of(t, struct nats_routes, tick);
    struct nats_server *ns = rt->ns;
    const struct cluster_view *v = ns->view;
    /* A view with no broker is the stopped one (shutdown): nothing to tell clients then. */
    if (v && v->broker_count) {
        char urls[CLUSTER_URLS_JSON_MAX];
        nats_routes_connect_urls(ns, urls, sizeof(urls));
        if (strcmp(urls, rt->urls) != 0) {
            memcpy(rt->urls, urls, sizeof(urls));
            nats_server_info_update(ns);
        }
        for (uint32_t i = 0; i < v->broker_count; i++) {
            const struct cluster_view_broker *b = &v->brokers[i];
            if (b->id <= ns->cfg->node_id || !b->route[0]) continue;
            if (route_by_node(rt, b->id) || route_dialing(rt, b->id) || !redial_due(rt, b->id, now_ms)) continue;
            route_dial(rt, b);
        }
    }
    /* A route whose socket has taken nothing for write_deadline is closed, as a client is. */
    for (struct conn *c = rt->ls.conns, *next; c; c = next) {
        next = c->list_next;
        if (c->closing || !c->out_head || now_ms - c->last_send_ms < ns->cfg->write_deadline_ms) continue;
        SL_WARN("nats route %s: no write progress for %u ms: closing", c->peer, ns->cfg->write_deadline_ms);
        ns->slow_consumers++;
        struct nroute *r = c->proto;
        if (r) route_close(r, "write deadline exceeded");
        else conn_close(c, "write deadline exceeded");
    }
    loop_timer_add(ns->loop, &rt->tick, now_ms + ROUTE_TICK_MS);
}

/* ---- start, stop, views ------------------------------------------------------------------------------ */

int nats_routes_start(struct nats_server *ns) {
    const struct sl_config *cfg = ns->cfg;
    char host[SL_CONFIG_HOST_MAX], why[200];
    uint16_t port = 0;
    if (sl_config_route_addr(cfg, host, sizeof(host), &port, why, sizeof(why)) != 0) {
        SL_ERROR("nats routes: %s", why);
        return -1;
    }
    if (!port || !cfg->cluster_nodes[0]) return 0;
    struct nats_routes *rt = sl_xcalloc(1, sizeof(*rt));
    rt->ns = ns;
    snprintf(rt->host, sizeof(rt->host), "%s", host);
    /* The secret the brokers share: the cluster's admin token, else the NATS token. */
    snprintf(rt->secret, sizeof(rt->secret), "%s", cfg->http_token[0] ? cfg->http_token : cfg->auth_token);
    uint32_t line_max = SL_MAX(cfg->max_control_line_bytes, NATS_MAX_CONTROL_LINE_DEFAULT) + ROUTE_QUEUE_LINE_EXTRA;
    int rc = listener_start(&rt->ls, ns->loop, "nats-route", host, port, &route_conn_ops, route_on_open, rt,
                            CLUSTER_BROKERS_MAX * 4, (size_t)cfg->max_payload_bytes + line_max + 64);
    if (rc < 0) {
        SL_ERROR("nats routes: cannot listen on %s:%u: %s", host, port, strerror(-rc));
        free(rt);
        return -1;
    }
    rt->port = rt->ls.port;
    rt->tick.fire = route_tick;
    loop_timer_add(ns->loop, &rt->tick, loop_mono_ms(ns->loop) + ROUTE_TICK_MS);
    ns->routes = rt;
    SL_INFO("nats routes listening on %s:%u (%s)", host, rt->port,
            rt->secret[0] ? "authenticated with the cluster's token" : "no token: not authenticated");
    return 0;
}

void nats_routes_stop(struct nats_server *ns) {
    struct nats_routes *rt = ns->routes;
    if (!rt) return;
    loop_timer_del(ns->loop, &rt->tick);
    for (struct route_dial *d = rt->dials; d; d = d->next) d->rt = NULL; /* their completions free them */
    rt->dials = NULL;
    listener_stop(&rt->ls); /* every route's on_close: their interest leaves the sublist */
    for (uint32_t i = 0; i < rt->icap; i++)
        for (struct interest *e = rt->itab[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(rt->itab);
    free(rt);
    ns->routes = NULL;
}

uint16_t nats_routes_port(const struct nats_server *ns) { return ns->routes ? ns->routes->port : 0; }

void nats_routes_metrics(const struct nats_server *ns, struct prom *p) {
    const struct nats_routes *rt = ns->routes;
    if (!rt) return;
    uint64_t up = 0, subs = 0;
    for (const struct nroute *r = rt->routes; r; r = r->next)
        if (r->ready && !r->closing) up++, subs += r->sub_count;
    prom_family(p, "sluice_nats_routes", "gauge", "NATS routes to other brokers of the cluster that are up");
    prom_u64(p, "sluice_nats_routes", NULL, up);
    prom_family(p, "sluice_nats_route_subscriptions", "gauge", "interest entries the routes' peers announced");
    prom_u64(p, "sluice_nats_route_subscriptions", NULL, subs);
    prom_family(p, "sluice_nats_route_msgs_total", "counter", "messages over NATS routes");
    prom_u64(p, "sluice_nats_route_msgs_total", "direction=\"in\"", rt->msgs_in);
    prom_u64(p, "sluice_nats_route_msgs_total", "direction=\"out\"", rt->msgs_out);
    prom_family(p, "sluice_nats_route_bytes_total", "counter", "message bytes (headers and payload) over NATS routes");
    prom_u64(p, "sluice_nats_route_bytes_total", "direction=\"in\"", rt->bytes_in);
    prom_u64(p, "sluice_nats_route_bytes_total", "direction=\"out\"", rt->bytes_out);
    prom_family(p, "sluice_nats_routes_refused_total", "counter", "route connections refused (secret or broker unknown)");
    prom_u64(p, "sluice_nats_routes_refused_total", NULL, rt->refused);
}

void nats_routes_routez(const struct nats_server *ns, json_t *o) {
    const struct nats_routes *rt = ns->routes;
    json_t *a = json_array();
    uint64_t n = 0;
    for (const struct nroute *r = rt ? rt->routes : NULL; r; r = r->next) {
        if (!r->ready || r->closing) continue;
        char ip[64];
        snprintf(ip, sizeof(ip), "%s", r->nc->c->peer);
        char *colon = strrchr(ip, ':');
        int port = colon ? atoi(colon + 1) : 0;
        if (colon) *colon = 0;
        json_array_append_new(a, json_pack("{s:I,s:s,s:I,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "rid",
                                           (json_int_t)r->nc->c->id, "remote_id", r->remote_id, "sluice_node",
                                           (json_int_t)r->node_id, "ip", ip, "port", port, "did_solicit", r->outbound,
                                           "subscriptions", (json_int_t)r->sub_count, "in_msgs", (json_int_t)r->msgs_in,
                                           "out_msgs", (json_int_t)r->msgs_out, "in_bytes", (json_int_t)r->bytes_in,
                                           "out_bytes", (json_int_t)r->bytes_out, "pending_size",
                                           (json_int_t)(r->nc->c->out_bytes + r->nc->out_len)));
        n++;
    }
    json_object_set_new(o, "num_routes", json_integer((json_int_t)n));
    json_object_set_new(o, "routes", a);
}
