/* nats_server.c: the NATS client protocol (see nats_server.h). */
#include "broker/nats/nats_server.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/nats/nats_acl.h"
#include "broker/nats/nats_conn.h"
#include "broker/nats/nats_route.h"
#include "broker/nats/sublist.h"
#include "broker/net/tls.h"
#include "protocol/nats_parse.h"

#define NATS_VERSION "2.9.10" /* what clients gate features on: nats.js needs >= 2.9.4, < 2.10 */
#define NATS_FIRST_PING_MS 2000
#define NATS_OUT_MIN (16u << 10)
#define NATS_SWEEP_MS 1000
/* nats-server's stallDuration bounds (client.go, 2.9): a stalled producer waits at least the
 * minimum, growing by the minimum per tenth of the half of max_pending in use, and the maximum
 * once the subscriber's backlog has reached max_pending. */
#define NATS_STALL_MIN_MS 100
#define NATS_STALL_MAX_MS 1000

/* A publish made from inside a fan-out, routed once the fan-out is over. */
struct nats_deferred {
    struct nats_deferred *next;
    uint32_t route_len, subject_len, reply_len, hdr_len, payload_len; /* route_len 0: by subject */
    uint8_t data[];
};

/* ---- output ------------------------------------------------------------------------------------ */

static void nconn_mark_dirty(struct nconn *nc) {
    if (nc->dirty) return;
    nc->dirty = true;
    nc->dirty_next = nc->ns->dirty;
    nc->ns->dirty = nc;
}

/* With the whole broker's unsent output over max_pending_total, a client holding more than its
 * share of it is a slow consumer too: per-client limits alone let 200 stuck subscribers of 6 MiB
 * each take 1.2 GB. The share: the budget over the connections, at least NATS_FAIR_SHARE_MIN. */
#define NATS_FAIR_SHARE_MIN (256u << 10)

static bool nconn_over_budget(const struct nconn *nc, uint64_t pending) {
    const struct nats_server *ns = nc->ns;
    if (!ns->ls.out_total || *ns->ls.out_total + nc->out_len <= ns->cfg->max_pending_total_bytes) return false;
    uint64_t share = ns->cfg->max_pending_total_bytes / (ns->ls.conn_count ? ns->ls.conn_count : 1);
    return pending > SL_MAX(share, (uint64_t)NATS_FAIR_SHARE_MIN);
}

/* Room for n more bytes; false (and the connection marked slow) past max_pending, or past its
 * share of max_pending_total while the broker is over it. */
uint8_t *nconn_reserve(struct nconn *nc, size_t n) {
    if (nc->kill) return NULL;
    uint64_t pending = nc->c->out_bytes + nc->out_len + n;
    bool own = pending > nc->ns->cfg->max_pending_bytes;
    if (own || nconn_over_budget(nc, pending)) {
        if (own)
            SL_WARN("nats %s: slow consumer detected (%llu bytes pending > max_pending %llu): closing",
                    nc->c->peer, (unsigned long long)pending, (unsigned long long)nc->ns->cfg->max_pending_bytes);
        else
            SL_WARN("nats %s: slow consumer detected (%llu bytes pending while the broker holds %llu unsent > "
                    "max_pending_total %llu): closing",
                    nc->c->peer, (unsigned long long)pending, (unsigned long long)*nc->ns->ls.out_total,
                    (unsigned long long)nc->ns->cfg->max_pending_total_bytes);
        nc->ns->slow_consumers++;
        nc->kill = true;
        nconn_mark_dirty(nc);
        return NULL;
    }
    if (nc->out_len + n > nc->out_cap) {
        size_t cap = nc->out_cap ? nc->out_cap : SL_MAX(nc->out_hint, (size_t)NATS_OUT_MIN);
        while (cap < nc->out_len + n) cap *= 2;
        nc->out = sl_xrealloc(nc->out, cap);
        nc->out_cap = cap;
    }
    uint8_t *at = nc->out + nc->out_len;
    nc->out_len += n;
    nconn_mark_dirty(nc);
    return at;
}

void nconn_write(struct nconn *nc, const void *p, size_t n) {
    uint8_t *at = nconn_reserve(nc, n);
    if (at && n) memcpy(at, p, n);
}

static void nconn_writes(struct nconn *nc, const char *s) { nconn_write(nc, s, strlen(s)); }

/* Queues "-ERR '<text>'" with the error's nats-server text (errors.h); nothing if it has none. */
static void nconn_err(struct nconn *nc, sl_err e) {
    const char *text = sl_err_nats(e);
    if (!text) return;
    char line[512];
    int n = snprintf(line, sizeof(line), "-ERR '%s'\r\n", text);
    nconn_write(nc, line, (size_t)SL_MIN(n, (int)sizeof(line) - 1));
}

/* Sends a last -ERR and closes once it is out (the nats-server order for fatal errors). */
static void nconn_fatal(struct nconn *nc, sl_err e) {
    const char *text = sl_err_nats(e);
    nconn_err(nc, e);
    if (nc->out_len) {
        conn_send_mem(nc->c, nc->out, (uint32_t)nc->out_len);
        nc->out = NULL;
        nc->out_len = nc->out_cap = 0;
    }
    conn_close_after_send(nc->c, text ? text : sl_err_str(e));
}

static uint64_t nconn_pending(const struct nconn *nc) { return nc->c->out_bytes + nc->out_len; }

/* The delivery op of a client subscription: MSG/HMSG into the connection's output, header block
 * passed through byte for byte; a subscriber that did not ask for headers gets the body alone,
 * as nats-server does. */
static void nats_deliver_socket(struct sub *sub, const struct nats_msg *m) {
    struct nsub *ns_sub = sl_container_of(sub, struct nsub, s);
    struct nconn *nc = ns_sub->nc;
    if (nc->user && !nats_perms_deliver_ok(nc->user->perms, (const char *)m->subject.p, m->subject.len)) return;
    if (m->reply.len && nc->user && nc->user->perms && nc->user->perms->has_resp)
        nats_replies_note(&nc->replies, &nc->user->perms->resp, (const char *)m->reply.p, m->reply.len,
                          loop_mono_ms(nc->ns->loop));
    bool hmsg = m->hdr.len && nc->headers;
    uint32_t hdr_len = hmsg ? m->hdr.len : 0;
    uint32_t total_len = hdr_len + m->payload.len;
    size_t need = 5 + m->subject.len + 1 + ns_sub->sid_len + 1 + m->reply.len + 1 + 24 + 24 + 2 + total_len + 2;
    uint8_t *p = nconn_reserve(nc, need);
    if (!p) return;
    uint8_t *start = p;
    if (hmsg) memcpy(p, "HMSG ", 5), p += 5;
    else memcpy(p, "MSG ", 4), p += 4;
    memcpy(p, m->subject.p, m->subject.len), p += m->subject.len;
    *p++ = ' ';
    memcpy(p, ns_sub->sid, ns_sub->sid_len), p += ns_sub->sid_len;
    *p++ = ' ';
    if (m->reply.len) {
        memcpy(p, m->reply.p, m->reply.len), p += m->reply.len;
        *p++ = ' ';
    }
    if (hmsg) {
        p += sl_fmt_u64((char *)p, hdr_len);
        *p++ = ' ';
    }
    p += sl_fmt_u64((char *)p, total_len);
    *p++ = '\r', *p++ = '\n';
    if (hdr_len) memcpy(p, m->hdr.p, hdr_len), p += hdr_len;
    if (m->payload.len) memcpy(p, m->payload.p, m->payload.len), p += m->payload.len;
    *p++ = '\r', *p++ = '\n';
    nc->out_len -= need - (size_t)(p - start); /* give back what the worst case reserved */
    nc->ns->msgs_out++;
    nc->ns->bytes_out += total_len;
    nc->out_msgs++;
    nc->out_bytes += total_len;
    /* Past the stall mark: the client whose PUB this is stops being read after the op. */
    struct nconn *pub = nc->ns->route_pub;
    if (pub && nconn_pending(nc) > nc->ns->cfg->max_pending_bytes / 2) pub->stall_sub = nc;
}

static const struct nats_deliver_ops nats_socket_ops = {nats_deliver_socket};

/* Every delivery, socket or in-process, goes through here: the op, then UNSUB-max accounting. */
static void nats_deliver(struct nats_server *ns, struct nsub *s, const struct nats_msg *m) {
    s->s.ops->deliver(&s->s, m);
    s->delivered++;
    if (s->max_msgs > 0 && s->delivered >= s->max_msgs && !s->expired) {
        /* Removed after the fan-out: the match result being walked must not change under it. */
        s->expired = true;
        s->expired_next = ns->expired;
        ns->expired = s;
    }
}

/* ---- subscriptions ------------------------------------------------------------------------------- */

static uint32_t sid_hash(const char *sid, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)sid[i]) * 16777619u;
    return h;
}

static struct nsub **nconn_sid_slot(struct nconn *nc, const char *sid, size_t len) {
    if (!nc->sid_cap) return NULL;
    struct nsub **pp = &nc->sids[sid_hash(sid, len) & (nc->sid_cap - 1)];
    while (*pp && !((*pp)->sid_len == len && !memcmp((*pp)->sid, sid, len))) pp = &(*pp)->hnext;
    return pp;
}

static void nconn_sids_grow(struct nconn *nc) {
    uint32_t cap = nc->sid_cap ? nc->sid_cap * 2 : 16;
    struct nsub **t = sl_xcalloc(cap, sizeof(*t));
    for (uint32_t i = 0; i < nc->sid_cap; i++) {
        struct nsub *s = nc->sids[i];
        while (s) {
            struct nsub *next = s->hnext;
            uint32_t h = sid_hash(s->sid, s->sid_len) & (cap - 1);
            s->hnext = t[h];
            t[h] = s;
            s = next;
        }
    }
    free(nc->sids);
    nc->sids = t;
    nc->sid_cap = cap;
}

/* Unlinks and frees a sub now: never while a fan-out may still walk a result listing it. */
static void nsub_remove(struct nats_server *ns, struct nsub *s) {
    struct nconn *nc = s->nc;
    if (nc) {
        struct nsub **pp = nconn_sid_slot(nc, s->sid, s->sid_len);
        if (pp && *pp == s) *pp = s->hnext;
        nc->sub_count--;
        nats_routes_interest(ns, &s->s, -1);
    }
    sublist_remove(ns->subs, &s->s);
    free(s);
}

static void nats_reap_expired(struct nats_server *ns) {
    while (ns->expired) {
        struct nsub *s = ns->expired;
        ns->expired = s->expired_next;
        nsub_remove(ns, s);
    }
}

/* ---- routing -------------------------------------------------------------------------------------- */

static bool nats_eligible(const struct nconn *pub, const struct nsub *s) {
    if (s->expired) return false;
    if (s->route) return false; /* forwarded by nats_fanout, never delivered */
    if (!s->nc) return true;
    return !s->nc->kill && (s->nc != pub || pub->echo);
}

/* Whether the route that sent the message in hand named queue group queue. */
static bool nats_route_in_names(const struct nats_server *ns, const char *queue, uint32_t len) {
    for (uint32_t i = 0; i < ns->route_in_queue_count; i++)
        if (ns->route_in_queues[i].len == len && !memcmp(ns->route_in_queues[i].p, queue, len)) return true;
    return false;
}

static void nats_no_responders(struct nconn *pub, struct span reply) {
    const struct sublist_result *r = sublist_match(pub->ns->subs, (const char *)reply.p, reply.len);
    for (uint32_t i = 0; i < r->psub_count; i++) {
        struct nsub *s = sl_container_of(r->psubs[i], struct nsub, s);
        if (s->nc != pub || s->expired) continue;
        static const char status[] = "NATS/1.0 503\r\n\r\n";
        struct nats_msg m = {.subject = reply, .hdr = {(const uint8_t *)status, sizeof(status) - 1}};
        nats_deliver(pub->ns, s, &m);
        return;
    }
}

/* One fan-out over the match r: each eligible plain sub, one member of each queue group. pub is
 * the publishing client (echo, no-responders, back-pressure), NULL for an in-process publish. */
__attribute__((noinline)) /* its register saves stay off the path of a message nobody takes */
static void nats_fanout(struct nats_server *ns, struct nconn *pub, const struct nats_msg *m,
                        const struct sublist_result *r) {
    ns->route_depth++;
    ns->route_pub = pub;
    bool any = false;
    /* A message from a route goes to no route (the mesh is full: its publisher's broker sent it
     * to every broker that wanted it), and to a queue group only if the sender named it. */
    bool from_route = ns->route_in;
    if (ns->routes) ns->fwd_seq++;
    for (uint32_t i = 0; i < r->psub_count; i++) {
        struct nsub *s = sl_container_of(r->psubs[i], struct nsub, s);
        if (s->route) {
            if (!from_route && nats_routes_pick(ns, s, false)) any = true;
            continue;
        }
        if (!nats_eligible(pub, s)) continue;
        nats_deliver(ns, s, m);
        any = true;
    }
    for (uint32_t g = 0; g < r->qgroup_count; g++) {
        const struct sublist_qgroup *q = &r->qgroups[g];
        if (from_route && !nats_route_in_names(ns, q->queue, q->queue_len)) continue;
        /* Each message to one member: rotate, skipping members that cannot take it; a local
         * member first, as nats-server prefers, else one route that has members. */
        uint32_t start = ns->qpick++;
        bool done = false;
        for (uint32_t k = 0; k < q->count && !done; k++) {
            struct nsub *s = sl_container_of(q->members[(start + k) % q->count], struct nsub, s);
            if (!nats_eligible(pub, s)) continue;
            nats_deliver(ns, s, m);
            done = true;
        }
        for (uint32_t k = 0; k < q->count && !done && !from_route; k++) {
            struct nsub *s = sl_container_of(q->members[(start + k) % q->count], struct nsub, s);
            if (s->route && nats_routes_pick(ns, s, true)) done = true;
        }
        any |= done;
    }
    if (ns->fwd_head) nats_routes_forward(ns, m);
    if (!any && pub && m->reply.len && pub->headers && pub->no_responders) nats_no_responders(pub, m->reply);
    ns->route_pub = NULL;
    ns->route_depth--;
    nats_reap_expired(ns);
}

/* Counts and matches one message; NULL when there is nothing to fan out: a message nobody takes
 * and that owes no no-responders status (publish-only traffic) touches no fan-out state, since
 * nothing can have been delivered, expired or deferred by it. Takes the subject and sizes as
 * values so that a PUB builds its nats_msg only when there is a fan-out. */
static inline const struct sublist_result *nats_route_match(struct nats_server *ns, struct nconn *pub,
                                                             struct span subject, uint32_t reply_len,
                                                             uint64_t bytes) {
    ns->msgs_in++;
    ns->bytes_in += bytes;
    if (pub) {
        pub->in_msgs++;
        pub->in_bytes += bytes;
    }
    SL_ASSERT(ns->route_depth == 0);
    const struct sublist_result *r = sublist_match(ns->subs, (const char *)subject.p, subject.len);
    if (!r->psub_count && !r->qgroup_count && !(pub && reply_len && pub->headers && pub->no_responders)) return NULL;
    return r;
}

/* Routes m by its subject, or by route when route.len > 0 (a delivery addressed to one inbox
 * whose MSG line names another subject). */
static inline void nats_route(struct nats_server *ns, struct nconn *pub, const struct nats_msg *m, struct span route) {
    const struct sublist_result *r = nats_route_match(ns, pub, route.len ? route : m->subject, m->reply.len,
                                                      (uint64_t)m->hdr.len + m->payload.len);
    if (!r) return;
    ns->fwd_subject = route;
    nats_fanout(ns, pub, m, r);
    ns->fwd_subject = (struct span){0};
}

/* Routes the publishes in-process subscribers made from inside fan-outs, oldest first; routing
 * one may defer more, which join the end of the queue. */
static void nats_route_deferred_all(struct nats_server *ns) {
    while (ns->deferred_head) {
        struct nats_deferred *d = ns->deferred_head;
        ns->deferred_head = d->next;
        if (!ns->deferred_head) ns->deferred_tail = NULL;
        const uint8_t *p = d->data;
        struct nats_msg m;
        struct span route = {p, d->route_len};
        p += d->route_len;
        m.subject = (struct span){p, d->subject_len}, p += d->subject_len;
        m.reply = (struct span){p, d->reply_len}, p += d->reply_len;
        m.hdr = (struct span){p, d->hdr_len}, p += d->hdr_len;
        m.payload = (struct span){p, d->payload_len};
        nats_route(ns, NULL, &m, route);
        free(d);
    }
}

/* After every top-level route: the queue is almost always empty, so only its head is read. */
static inline void nats_route_deferred(struct nats_server *ns) {
    if (ns->deferred_head) nats_route_deferred_all(ns);
}

void nats_server_route_in(struct nats_server *ns, const struct nats_msg *m, struct span route,
                          const struct span *queues, uint32_t queue_count) {
    ns->route_in = true;
    ns->route_in_queues = queues;
    ns->route_in_queue_count = queue_count;
    nats_route(ns, NULL, m, route);
    ns->route_in = false;
    ns->route_in_queues = NULL;
    ns->route_in_queue_count = 0;
    nats_route_deferred(ns);
}

/* The message view of a parsed PUB/HPUB, copied field by field: the parser has just stored these
 * as separate 8- and 4-byte fields, and a struct copy compiles to 16-byte loads that cannot be
 * forwarded from those stores (a stall of the whole pipeline on every PUB). */
static struct nats_msg nats_op_msg(const struct nats_op *op) {
    struct nats_msg m;
    m.subject.p = op->subject.p;
    m.subject.len = op->subject.len;
    m.reply.p = op->reply.p;
    m.reply.len = op->reply.len;
    m.hdr.p = op->payload.p;
    m.hdr.len = op->hdr_len;
    m.payload.p = op->payload.p + op->hdr_len;
    m.payload.len = op->total_len - op->hdr_len;
    return m;
}

/* ---- in-process subscribers and publishers ------------------------------------------------------ */

struct nsub *nats_server_subscribe_internal(struct nats_server *ns, const char *subject, const char *queue,
                                            const struct nats_deliver_ops *ops, void *arg) {
    SL_ASSERT(ops && ops->deliver);
    size_t slen = strlen(subject), qlen = queue ? strlen(queue) : 0;
    if (slen > UINT32_MAX || qlen > UINT32_MAX) return NULL;
    struct nsub *s = sl_xcalloc(1, sizeof(*s) + slen + 1 + qlen + 1);
    char *t = s->text;
    memcpy(t, subject, slen);
    s->s.subject = t;
    s->s.subject_len = (uint32_t)slen;
    t += slen + 1;
    if (qlen) {
        memcpy(t, queue, qlen);
        s->s.queue = t;
        s->s.queue_len = (uint32_t)qlen;
    }
    s->s.ops = ops;
    s->s.owner = arg;
    s->max_msgs = -1;
    if (sublist_insert(ns->subs, &s->s) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void nats_server_unsubscribe_internal(struct nats_server *ns, struct nsub *s) {
    if (!s) return;
    SL_ASSERT(!s->nc);
    if (ns->route_depth == 0) {
        nsub_remove(ns, s);
        return;
    }
    if (s->expired) return; /* already queued by its own delivery limit */
    s->expired = true;
    s->expired_next = ns->expired;
    ns->expired = s;
}

static bool nsub_alive(const struct sub *s, void *arg) {
    (void)arg;
    return !sl_container_of(s, const struct nsub, s)->expired;
}

bool nats_server_has_interest(struct nats_server *ns, struct span subject) {
    if (!subject.len) return false;
    /* Inside a fan-out the result being walked must stay valid: no cached match then. */
    if (ns->route_depth > 0) return sublist_any(ns->subs, (const char *)subject.p, subject.len, nsub_alive, NULL);
    const struct sublist_result *r = sublist_match(ns->subs, (const char *)subject.p, subject.len);
    for (uint32_t i = 0; i < r->psub_count; i++)
        if (!sl_container_of(r->psubs[i], struct nsub, s)->expired) return true;
    for (uint32_t g = 0; g < r->qgroup_count; g++)
        for (uint32_t k = 0; k < r->qgroups[g].count; k++)
            if (!sl_container_of(r->qgroups[g].members[k], struct nsub, s)->expired) return true;
    return false;
}

int nats_server_publish(struct nats_server *ns, struct span subject, struct span reply, struct span hdr,
                        struct span payload) {
    return nats_server_publish_to(ns, (struct span){0}, subject, reply, hdr, payload);
}

int nats_server_publish_to(struct nats_server *ns, struct span route, struct span subject, struct span reply,
                           struct span hdr, struct span payload) {
    if (!subject.len || (uint64_t)hdr.len + payload.len > ns->cfg->max_payload_bytes) return -1;
    struct nats_msg m = {.subject = subject, .reply = reply, .hdr = hdr, .payload = payload};
    if (ns->route_depth == 0) {
        nats_route(ns, NULL, &m, route);
        nats_route_deferred(ns);
        return 0;
    }
    /* Inside a fan-out the match result being walked must stay valid: copy and route later. */
    size_t n = (size_t)route.len + subject.len + reply.len + hdr.len + payload.len;
    struct nats_deferred *d = sl_xmalloc(sizeof(*d) + n);
    d->next = NULL;
    d->route_len = route.len;
    d->subject_len = subject.len;
    d->reply_len = reply.len;
    d->hdr_len = hdr.len;
    d->payload_len = payload.len;
    uint8_t *p = d->data;
    const struct span parts[5] = {route, subject, reply, hdr, payload};
    for (int i = 0; i < 5; i++)
        if (parts[i].len) memcpy(p, parts[i].p, parts[i].len), p += parts[i].len;
    if (ns->deferred_tail) ns->deferred_tail->next = d;
    else ns->deferred_head = d;
    ns->deferred_tail = d;
    return 0;
}

/* ---- back-pressure -------------------------------------------------------------------------------- */

/* nats-server's stallDuration: longer the deeper the subscriber is into its max_pending. */
static uint64_t nats_stall_ms(uint64_t pending, uint64_t max_pending) {
    if (pending >= max_pending) return NATS_STALL_MAX_MS;
    uint64_t half = max_pending / 2, ms = NATS_STALL_MIN_MS;
    if (half >= 10 && pending > half) ms += NATS_STALL_MIN_MS * ((pending - half) / (half / 10));
    return ms;
}

/* Stops reading pub until sub drains (or the stall time passes). pub may be sub itself: its
 * output keeps draining while its input waits. */
static void nats_stall(struct nconn *pub, struct nconn *sub) {
    struct nats_server *ns = pub->ns;
    SL_ASSERT(!pub->stall_on && !pub->stall_ready);
    if (sub->kill || sub->c->closing) return; /* it is going away: nothing to wait for */
    conn_pause_recv(pub->c);
    pub->stall_on = sub;
    pub->waiter_next = sub->waiters;
    sub->waiters = pub;
    if (!sub->stalling_listed) {
        sub->stalling_listed = true;
        sub->stalling_next = ns->stalling;
        ns->stalling = sub;
    }
    uint64_t ms = nats_stall_ms(nconn_pending(sub), ns->cfg->max_pending_bytes);
    loop_timer_add(ns->loop, &pub->stall_timer, loop_mono_ms(ns->loop) + ms);
    ns->stalls++;
}

/* Ends pub's wait: it is resumed by the next flush, outside any fan-out or callback. */
static void nats_stall_release(struct nconn *pub) {
    struct nconn *sub = pub->stall_on;
    if (!sub) return;
    struct nconn **pp = &sub->waiters;
    while (*pp != pub) pp = &(*pp)->waiter_next;
    *pp = pub->waiter_next;
    pub->stall_on = NULL;
    loop_timer_del(pub->ns->loop, &pub->stall_timer);
    pub->stall_ready = true;
    pub->waiter_next = pub->ns->stall_ready;
    pub->ns->stall_ready = pub;
}

static void nats_on_stall_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nconn *pub = sl_container_of(t, struct nconn, stall_timer);
    (void)now_ms;
    SL_DEBUG("nats %s: fast producer stall timed out", pub->c->peer);
    nats_stall_release(pub);
}

/* Releases the waiters of every subscriber back under max_pending/4 (or going away), then
 * resumes every released publisher. */
static void nats_stall_check(struct nats_server *ns) {
    uint64_t resume_mark = ns->cfg->max_pending_bytes / 4;
    for (struct nconn **pp = &ns->stalling; *pp;) {
        struct nconn *sub = *pp;
        if (sub->waiters && !sub->kill && nconn_pending(sub) >= resume_mark) {
            pp = &sub->stalling_next;
            continue;
        }
        while (sub->waiters) nats_stall_release(sub->waiters);
        *pp = sub->stalling_next;
        sub->stalling_listed = false;
    }
    while (ns->stall_ready) {
        struct nconn *pub = ns->stall_ready;
        ns->stall_ready = pub->waiter_next;
        pub->waiter_next = NULL;
        pub->stall_ready = false;
        /* Reads what waited in its buffer (which may stall it again), then arms a recv. */
        if (!pub->c->closing && !pub->c->close_when_sent) conn_resume_recv(pub->c);
    }
}

/* A connection going away leaves every back-pressure list. */
static void nats_stall_forget(struct nconn *nc) {
    struct nats_server *ns = nc->ns;
    nats_stall_release(nc);
    if (nc->stall_ready) {
        struct nconn **pp = &ns->stall_ready;
        while (*pp != nc) pp = &(*pp)->waiter_next;
        *pp = nc->waiter_next;
        nc->stall_ready = false;
    }
    while (nc->waiters) nats_stall_release(nc->waiters);
    if (nc->stalling_listed) {
        struct nconn **pp = &ns->stalling;
        while (*pp != nc) pp = &(*pp)->stalling_next;
        *pp = nc->stalling_next;
        nc->stalling_listed = false;
    }
    loop_timer_del(ns->loop, &nc->stall_timer);
}

/* ---- operations ------------------------------------------------------------------------------------ */

static bool json_bool(json_t *o, const char *key, bool dflt) {
    json_t *v = json_object_get(o, key);
    return v && json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *json_str(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && json_is_string(v) ? json_string_value(v) : NULL;
}

static char *json_str_dup(json_t *o, const char *key) {
    const char *v = json_str(o, key);
    if (!v) return NULL;
    size_t n = strlen(v) + 1;
    char *d = sl_xmalloc(n);
    memcpy(d, v, n);
    return d;
}

static void nconn_creds_free(struct nconn *nc) {
    char **all[] = {&nc->cred_user, &nc->cred_pass, &nc->cred_token, &nc->cred_nkey, &nc->cred_sig};
    for (size_t i = 0; i < SL_ARRAY_LEN(all); i++) {
        if (*all[i]) explicit_bzero(*all[i], strlen(*all[i]));
        free(*all[i]);
        *all[i] = NULL;
    }
}

/* Checks what the connection's CONNECT carried against the configuration now in force; sets
 * nc->user. Run at CONNECT and again for every connection on reload. */
static bool nconn_authenticate(struct nconn *nc) {
    struct nats_creds cr = {nc->cred_user, nc->cred_pass, nc->cred_token, nc->cred_nkey, nc->cred_sig};
    const struct nats_user *u = NULL;
    bool ok = nats_auth_check(nc->ns->cfg, &cr, nc->nonce, &nc->verdict, &u);
    nc->user = ok ? u : NULL;
    return ok;
}

/* "-ERR 'Permissions Violation for Publish to "subj"'", nats-server's words; a subscription a
 * reload took away also names its sid ("... to "subj" (sid "8")"), as nats-server 2.9.10. */
static void nconn_perm_err(struct nconn *nc, const char *what, struct span subject, struct span queue,
                           struct span sid) {
    char q[300] = "", s[300] = "", line[NATS_MAX_CONTROL_LINE_DEFAULT + 700];
    if (queue.len) snprintf(q, sizeof(q), " using queue \"%.*s\"", (int)SL_MIN(queue.len, 256u), (const char *)queue.p);
    if (sid.len) snprintf(s, sizeof(s), " (sid \"%.*s\")", (int)SL_MIN(sid.len, 256u), (const char *)sid.p);
    int n = snprintf(line, sizeof(line), "-ERR '%s for %s to \"%.*s\"%s%s'\r\n", sl_err_nats(SL_PERMISSION_VIOLATION),
                     what, (int)SL_MIN(subject.len, (uint32_t)NATS_MAX_CONTROL_LINE_DEFAULT), (const char *)subject.p, q, s);
    nconn_write(nc, line, (size_t)SL_MIN(n, (int)sizeof(line) - 1));
}

static const struct nats_perms *nconn_perms(const struct nconn *nc) { return nc->user ? nc->user->perms : NULL; }

/* ---- bcrypt off the loop ----------------------------------------------------------------------------
 * A bcrypt comparison costs what its hash's cost says (115 ms at cost 11 here): run on the
 * loop, every CONNECT of such a user would stall every other client that long. It runs on a
 * worker thread instead, as nats-server runs it in a goroutine; the connection reads nothing
 * more until the verdict is in, then its CONNECT finishes and what it sent after is read. */

struct nconn_auth_work {
    struct work w;
    struct nconn *nc; /* NULL once the connection closed: the verdict is dropped */
    atomic_bool gone; /* set with nc = NULL: a check not yet begun is skipped */
    struct nats_bcrypt_verdict v;
    char *pass;
};

static void nats_connect_finish(struct nconn *nc, json_int_t protocol);

static void nconn_auth_run(struct work *w) {
    struct nconn_auth_work *aw = (struct nconn_auth_work *)w;
    /* A client that gave up (or was closed) while its check waited costs no bcrypt. */
    aw->v.ok = !atomic_load(&aw->gone) && nats_auth_password_ok(aw->v.hash, aw->pass);
}

static void nconn_auth_done(struct work *w) {
    struct nconn_auth_work *aw = (struct nconn_auth_work *)w;
    struct nconn *nc = aw->nc;
    explicit_bzero(aw->pass, strlen(aw->pass));
    free(aw->pass);
    if (nc) {
        nc->auth_work = NULL;
        nc->verdict = aw->v;
    }
    free(aw);
    if (!nc) return;
    struct conn *c = nc->c;
    nats_connect_finish(nc, nc->auth_protocol);
    /* What the client sent after CONNECT waited in the buffer. */
    if (!c->closing && !c->close_when_sent) conn_resume_recv(c);
}

/* True if the CONNECT now waits for a worker's bcrypt verdict. */
static bool nconn_auth_offload(struct nconn *nc, json_int_t protocol) {
    struct nats_server *ns = nc->ns;
    struct nats_creds cr = {nc->cred_user, nc->cred_pass, nc->cred_token, nc->cred_nkey, nc->cred_sig};
    const char *hash = nats_auth_slow_hash(ns->cfg, &cr);
    if (!hash || strlen(hash) >= sizeof(nc->verdict.hash)) return false;
    if (!ns->auth_workers) ns->auth_workers = workers_new(ns->loop, 2, "nats auth");
    if (!ns->auth_workers) return false; /* no threads: checked on the loop, as before */
    struct nconn_auth_work *aw = sl_xcalloc(1, sizeof(*aw));
    aw->w.run = nconn_auth_run;
    aw->w.done = nconn_auth_done;
    aw->nc = nc;
    snprintf(aw->v.hash, sizeof(aw->v.hash), "%s", hash);
    aw->pass = sl_xmalloc(strlen(nc->cred_pass) + 1);
    memcpy(aw->pass, nc->cred_pass, strlen(nc->cred_pass) + 1);
    nc->auth_work = aw;
    nc->auth_protocol = protocol;
    conn_pause_recv(nc->c);
    ns->auth_offloaded++;
    workers_submit(ns->auth_workers, &aw->w);
    return true;
}

/* ---- a client held for an in-process answer ------------------------------------------------------ */

struct nats_hold {
    struct nconn *nc; /* NULL once the connection closed */
};

struct nats_hold *nats_server_hold_publisher(struct nats_server *ns) {
    struct nconn *nc = ns->route_pub;
    if (!nc || nc->hold || nc->c->closing) return NULL;
    struct nats_hold *h = sl_xcalloc(1, sizeof(*h));
    h->nc = nc;
    nc->hold = h;
    conn_pause_recv(nc->c);
    return h;
}

void nats_hold_release(struct nats_hold *h) {
    struct nconn *nc = h->nc;
    free(h);
    if (!nc) return;
    nc->hold = NULL;
    /* What the client sent after the held publish waited in the buffer. */
    if (!nc->c->closing && !nc->c->close_when_sent && !nc->stall_on && !nc->stall_ready && !nc->auth_work)
        conn_resume_recv(nc->c);
}

static void nats_op_connect(struct nconn *nc, const struct nats_op *op) {
    json_error_t jerr;
    json_t *j = json_loadb((const char *)op->arg.p, op->arg.len, 0, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        nconn_fatal(nc, SL_INVALID_ARG); /* malformed CONNECT: nats-server closes without a word */
        return;
    }
    /* A credential of the wrong type is JSON nats-server cannot decode into its options: it
     * closes without a word, as for malformed JSON. */
    static const char *const str_keys[] = {"user", "pass", "auth_token", "nkey", "sig", "name", "lang", "version"};
    for (size_t i = 0; i < SL_ARRAY_LEN(str_keys); i++) {
        json_t *v = json_object_get(j, str_keys[i]);
        if (v && !json_is_string(v) && !json_is_null(v)) {
            json_decref(j);
            nconn_fatal(nc, SL_INVALID_ARG);
            return;
        }
    }
    /* Omitted booleans default as nats-server's do: verbose and pedantic on. */
    nc->verbose = json_bool(j, "verbose", true);
    nc->pedantic = json_bool(j, "pedantic", true);
    nc->echo = json_bool(j, "echo", true);
    nc->headers = json_bool(j, "headers", false);
    nc->no_responders = json_bool(j, "no_responders", false);
    snprintf(nc->name, sizeof(nc->name), "%s", json_str(j, "name") ? json_str(j, "name") : "");
    snprintf(nc->lang, sizeof(nc->lang), "%s", json_str(j, "lang") ? json_str(j, "lang") : "");
    snprintf(nc->version, sizeof(nc->version), "%s", json_str(j, "version") ? json_str(j, "version") : "");
    json_t *proto = json_object_get(j, "protocol");
    json_int_t protocol = proto && json_is_integer(proto) ? json_integer_value(proto) : 0;
    /* Kept for a reload's second check; a CONNECT sent twice replaces them. */
    nconn_creds_free(nc);
    nc->cred_user = json_str_dup(j, "user");
    nc->cred_pass = json_str_dup(j, "pass");
    nc->cred_token = json_str_dup(j, "auth_token");
    nc->cred_nkey = json_str_dup(j, "nkey");
    nc->cred_sig = json_str_dup(j, "sig");
    json_decref(j);
    memset(&nc->verdict, 0, sizeof(nc->verdict));
    if (nconn_auth_offload(nc, protocol)) return;
    nats_connect_finish(nc, protocol);
}

/* The rest of a CONNECT, once its password's bcrypt verdict (if it needed one) is in. */
static void nats_connect_finish(struct nconn *nc, json_int_t protocol) {
    bool auth = nconn_authenticate(nc);
    if (!auth) {
        nconn_fatal(nc, SL_AUTH_VIOLATION);
        return;
    }
    if (protocol > 1) {
        nconn_fatal(nc, SL_INVALID_PROTOCOL);
        return;
    }
    if (nc->no_responders && !nc->headers) {
        nconn_fatal(nc, SL_NO_RESPONDERS_NEEDS_HEADERS);
        return;
    }
    nc->connected = true;
    nc->info_async = protocol >= 1;
    loop_timer_del(nc->ns->loop, &nc->auth_timer);
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

static void nats_op_sub(struct nconn *nc, const struct nats_op *op) {
    /* Queue names are not checked: nats-server 2.9.10 takes "q.*" or "a..b" as a name. One
     * known difference: a form feed or vertical tab inside a subject is refused here
     * (sublist_subject_valid), where 2.9.10 only checks the tokens. */
    if (!sublist_subject_valid((const char *)op->subject.p, op->subject.len)) {
        nconn_err(nc, SL_INVALID_SUBJECT);
        return;
    }
    const struct nats_perms *perms = nconn_perms(nc);
    if (perms && !nats_perms_sub_ok(perms, (const char *)op->subject.p, op->subject.len, (const char *)op->queue.p,
                                    op->queue.len)) {
        nconn_perm_err(nc, "Subscription", op->subject, op->queue, (struct span){0});
        return;
    }
    uint32_t max = nc->ns->cfg->max_subscriptions;
    if (max && nc->sub_count >= max) {
        nconn_err(nc, SL_TOO_MANY_SUBSCRIPTIONS);
        return;
    }
    struct nsub **slot = nconn_sid_slot(nc, (const char *)op->sid.p, op->sid.len);
    if (slot && *slot) {
        /* nats-server replaces nothing: a duplicate sid is a second, independent interest. We
         * keep one per sid, as clients never reuse a live sid. */
        if (nc->verbose) nconn_writes(nc, "+OK\r\n");
        return;
    }
    size_t n = op->subject.len + 1 + op->queue.len + 1 + op->sid.len + 1;
    struct nsub *s = sl_xcalloc(1, sizeof(*s) + n);
    char *t = s->text;
    memcpy(t, op->subject.p, op->subject.len);
    s->s.subject = t;
    s->s.subject_len = op->subject.len;
    t += op->subject.len + 1;
    if (op->queue.len) {
        memcpy(t, op->queue.p, op->queue.len);
        s->s.queue = t;
        s->s.queue_len = op->queue.len;
    }
    t += op->queue.len + 1;
    memcpy(t, op->sid.p, op->sid.len);
    s->sid = t;
    s->sid_len = op->sid.len;
    s->s.ops = &nats_socket_ops;
    s->s.owner = nc;
    s->nc = nc;
    s->max_msgs = -1;
    if (sublist_insert(nc->ns->subs, &s->s) != 0) {
        free(s);
        nconn_err(nc, SL_INVALID_SUBJECT);
        return;
    }
    if (nc->sub_count + 1 > nc->sid_cap) nconn_sids_grow(nc);
    slot = nconn_sid_slot(nc, s->sid, s->sid_len);
    s->hnext = NULL;
    *slot = s;
    nc->sub_count++;
    nats_routes_interest(nc->ns, &s->s, +1);
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

static void nats_op_unsub(struct nconn *nc, const struct nats_op *op) {
    struct nsub **slot = nconn_sid_slot(nc, (const char *)op->sid.p, op->sid.len);
    struct nsub *s = slot ? *slot : NULL;
    /* An unknown sid is ignored: nats.js sends UNSUB after an auto-unsubscribe already fired. */
    if (s) {
        if (op->max_msgs > 0 && s->delivered < op->max_msgs) s->max_msgs = op->max_msgs;
        else nsub_remove(nc->ns, s);
    }
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

/* nats-server 2.9.10's IsValidLiteralSubject as its pedantic PUB check uses it: no empty token
 * and no wildcard token. Unlike a SUB subject, whitespace inside a token (a form feed: space
 * and tab split arguments) passes. */
static bool nats_pub_subject_pedantic_ok(struct span subj) {
    const char *p = (const char *)subj.p;
    if (!subj.len || p[0] == '.' || p[subj.len - 1] == '.') return false;
    for (uint32_t i = 1; i < subj.len; i++)
        if (p[i] == '.' && p[i - 1] == '.') return false;
    return sublist_subject_literal(p, subj.len);
}

static void nats_op_pub(struct nconn *nc, const struct nats_op *op) {
    /* nats-server's order: the pedantic -ERR, then +OK, then the fan-out (the client's own echo
     * included); the -ERR does not stop the message. */
    if (nc->pedantic && !nats_pub_subject_pedantic_ok(op->subject)) nconn_err(nc, SL_INVALID_PUB_SUBJECT);
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
    /* Not a protocol error: the connection stays, as with nats-server. JetStream API calls are
     * publishes to $JS.API.>, so they are checked here too. */
    const struct nats_perms *perms = nconn_perms(nc);
    if (perms && !nats_perms_pub_ok(perms, (const char *)op->subject.p, op->subject.len) &&
        !(perms->has_resp && nats_replies_use(nc->replies, &perms->resp, (const char *)op->subject.p, op->subject.len,
                                              loop_mono_ms(nc->ns->loop)))) {
        nconn_perm_err(nc, "Publish", op->subject, (struct span){0}, (struct span){0});
        return;
    }
    const struct sublist_result *r = nats_route_match(nc->ns, nc, op->subject, op->reply.len, op->total_len);
    if (r) {
        struct nats_msg m = nats_op_msg(op);
        nats_fanout(nc->ns, nc, &m, r);
    }
    nats_route_deferred(nc->ns);
}

static void nats_handle(struct nconn *nc, const struct nats_op *op) {
    if (!nc->connected && nats_auth_required(nc->ns->cfg) && op->kind != NATS_OP_CONNECT) {
        nconn_fatal(nc, SL_AUTH_VIOLATION);
        return;
    }
    switch (op->kind) {
    case NATS_OP_CONNECT: nats_op_connect(nc, op); break;
    case NATS_OP_PUB:
    case NATS_OP_HPUB: nats_op_pub(nc, op); break;
    case NATS_OP_SUB: nats_op_sub(nc, op); break;
    case NATS_OP_UNSUB: nats_op_unsub(nc, op); break;
    case NATS_OP_PING: nconn_writes(nc, "PONG\r\n"); break;
    case NATS_OP_PONG: nc->pings_out = 0; break;
    default: nconn_fatal(nc, SL_UNKNOWN_OP); break;
    }
}

/* ---- connection callbacks ----------------------------------------------------------------------- */

static bool nats_on_data(struct conn *c) {
    struct nconn *nc = c->proto;
    /* Stalled, or a CONNECT waiting for its bcrypt verdict: the bytes wait in the buffer. */
    if (nc->stall_on || nc->stall_ready || nc->auth_work || nc->hold) return true;
    size_t off = 0;
    for (uint32_t guard = 0; guard < (1u << 24) && !c->closing && !c->close_when_sent; guard++) {
        size_t used = 0;
        struct nats_op op;
        enum nats_perr e = nats_parse(&nc->p, c->in + off, c->in_len - off, &used, &op);
        if (e == NATS_PERR_AGAIN) break;
        if (e != NATS_PERR_NONE) {
            SL_DEBUG("nats %s: protocol error %d", c->peer, (int)e);
            nconn_fatal(nc, nats_perr_err(e));
            break;
        }
        nats_handle(nc, &op);
        off += used;
        if (c->closing) break; /* a fatal error closed it at once: nc is freed */
        if (nc->auth_work) break;
        if (nc->stall_sub) {
            struct nconn *sub = nc->stall_sub;
            nc->stall_sub = NULL;
            nats_stall(nc, sub);
            if (nc->stall_on) break;
        }
        if (nc->hold) break;
    }
    conn_consume(c, off);
    return true;
}

static void nats_on_drain(struct conn *c) { (void)c; }

static void nats_unlink_dirty(struct nconn *nc) {
    if (!nc->dirty) return;
    struct nconn **pp = &nc->ns->dirty;
    while (*pp && *pp != nc) pp = &(*pp)->dirty_next;
    if (*pp) *pp = nc->dirty_next;
    nc->dirty = false;
}

void nconn_release(struct nconn *nc) {
    nats_unlink_dirty(nc);
    nats_stall_forget(nc);
    loop_timer_del(nc->ns->loop, &nc->stall_timer);
    free(nc->out);
    nc->out = NULL;
    nc->out_len = nc->out_cap = 0;
}

static void nats_on_close(struct conn *c) {
    struct nconn *nc = c->proto;
    struct nats_server *ns = nc->ns;
    nats_unlink_dirty(nc);
    nats_stall_forget(nc);
    if (nc->hold) { /* its release finds no one */
        nc->hold->nc = NULL;
        nc->hold = NULL;
    }
    if (nc->auth_work) { /* its verdict finds no one */
        nc->auth_work->nc = NULL;
        atomic_store(&nc->auth_work->gone, true);
    }
    loop_timer_del(ns->loop, &nc->ping_timer);
    loop_timer_del(ns->loop, &nc->auth_timer);
    for (uint32_t i = 0; i < nc->sid_cap; i++) {
        struct nsub *s = nc->sids[i];
        while (s) {
            struct nsub *next = s->hnext;
            nats_routes_interest(ns, &s->s, -1);
            sublist_remove(ns->subs, &s->s);
            free(s);
            s = next;
        }
    }
    free(nc->sids);
    free(nc->out);
    nats_replies_free(nc->replies);
    nats_acl_cache_free(nc->acl_cache);
    nconn_creds_free(nc);
    ns->conn_count--;
    free(nc);
    c->proto = NULL;
}

static void nats_on_ping_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nconn *nc = sl_container_of(t, struct nconn, ping_timer);
    if (nc->pings_out >= nc->ns->cfg->ping_max_out) {
        nconn_fatal(nc, SL_STALE_CONNECTION);
        return;
    }
    nc->pings_out++;
    nconn_writes(nc, "PING\r\n");
    loop_timer_add(nc->ns->loop, &nc->ping_timer, now_ms + nc->ns->cfg->ping_interval_ms);
}

static void nats_on_auth_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nconn *nc = sl_container_of(t, struct nconn, auth_timer);
    (void)now_ms;
    if (!nc->connected) nconn_fatal(nc, SL_AUTH_TIMEOUT);
}

/* async: an update to a connected client (connect_urls changed): no nonce, the same fields
 * otherwise, since nats.go replaces what it knows of the server with each INFO. */
static void nats_send_info(struct nconn *nc, bool async) {
    const struct nats_server *ns = nc->ns;
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", nc->c->peer);
    char *colon = strrchr(ip, ':');
    if (colon) *colon = 0;
    /* nats-server 2.9.10 sends a nonce only when nkey users are configured. */
    char nonce[NATS_NONCE_LEN + 16] = "";
    if (!async && nats_auth_nonce_required(ns->cfg)) {
        uint8_t raw[NATS_NONCE_RAW];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
            nconn_fatal(nc, SL_AUTH_VIOLATION); /* no randomness, no challenge: refuse rather than reuse */
            return;
        }
        nats_auth_nonce(raw, nc->nonce);
        snprintf(nonce, sizeof(nonce), "\"nonce\":\"%s\",", nc->nonce);
    }
    /* In a cluster: nats-server's "cluster" and "connect_urls" (every registered broker's NATS
     * address, this one's included, as nats-server lists its own with its routes'). */
    char urls[CLUSTER_URLS_JSON_MAX] = "";
    nats_routes_connect_urls(ns, urls, sizeof(urls));
    char info[1024 + CLUSTER_URLS_JSON_MAX];
    int n = snprintf(info, sizeof(info),
                     "INFO {\"server_id\":\"%s\",\"server_name\":\"%s\",\"version\":\"" NATS_VERSION "\","
                     "\"proto\":1,\"go\":\"sluice " SL_VERSION "\",\"host\":\"%s\",\"port\":%u,\"headers\":true,%s"
                     "\"max_payload\":%u,%s%s%s\"client_id\":%llu,\"client_ip\":\"%s\"%s} \r\n",
                     ns->server_id, ns->server_name, ns->cfg->host, ns->ls.port,
                     !ns->ls.tls ? "" : ns->ls.tls->verify ? "\"tls_required\":true,\"tls_verify\":true," : "\"tls_required\":true,",
                     ns->cfg->max_payload_bytes,
                     nats_auth_required(ns->cfg) ? "\"auth_required\":true," : "", nonce,
                     ns->cfg->jetstream ? "\"jetstream\":true," : "", (unsigned long long)nc->cid, ip, urls);
    /* Under TLS the INFO goes in the clear now, ahead of the handshake (listener_set_tls). */
    if (!async && nc->c->listener->tls) conn_send_copy(nc->c, info, (uint32_t)SL_MIN(n, (int)sizeof(info) - 1));
    else nconn_write(nc, info, (size_t)SL_MIN(n, (int)sizeof(info) - 1));
}

static void nats_on_open(struct conn *c) {
    struct nats_server *ns = c->listener->arg;
    struct nconn *nc = sl_xcalloc(1, sizeof(*nc));
    nc->c = c;
    nc->ns = ns;
    nc->cid = ++ns->next_client_id;
    nc->start_ms = loop_now_ms(ns->loop);
    nc->echo = true;
    nc->verbose = false;
    nats_parser_init(&nc->p, true, ns->cfg->max_payload_bytes, ns->cfg->max_control_line_bytes);
    nc->ping_timer.fire = nats_on_ping_timer;
    nc->auth_timer.fire = nats_on_auth_timer;
    nc->stall_timer.fire = nats_on_stall_timer;
    c->proto = nc;
    ns->conn_count++;
    nats_send_info(nc, false);
    if (c->closing || c->close_when_sent) return;
    if (ns->conn_count > ns->cfg->max_connections) {
        nconn_fatal(nc, SL_TOO_MANY_CONNECTIONS);
        return;
    }
    uint64_t now = loop_mono_ms(ns->loop);
    loop_timer_add(ns->loop, &nc->ping_timer, now + SL_MIN((uint64_t)NATS_FIRST_PING_MS, ns->cfg->ping_interval_ms));
    if (nats_auth_required(ns->cfg)) loop_timer_add(ns->loop, &nc->auth_timer, now + ns->cfg->auth_timeout_ms);
}

static const struct conn_ops nats_conn_ops = {nats_on_data, nats_on_drain, nats_on_close, false};

void nats_server_info_update(struct nats_server *ns) {
    uint32_t sent = 0;
    for (struct conn *c = ns->ls.conns; c; c = c->list_next) {
        struct nconn *nc = c->proto;
        if (!nc || c->closing || c->close_when_sent || !nc->connected || !nc->info_async || nc->kill) continue;
        nats_send_info(nc, true);
        sent++;
    }
    if (sent) SL_INFO("nats: cluster changed: INFO with the new connect_urls sent to %u client(s)", sent);
}

static void nats_flush_dirty(struct nats_server *ns) {
    while (ns->dirty) {
        struct nconn *nc = ns->dirty;
        ns->dirty = nc->dirty_next;
        nc->dirty = false;
        if (nc->kill) {
            conn_close(nc->c, "slow consumer");
            continue;
        }
        if (!nc->out_len) continue;
        nc->out_hint = nc->out_cap;
        uint8_t *out = nc->out;
        uint32_t len = (uint32_t)nc->out_len;
        nc->out = NULL;
        nc->out_len = nc->out_cap = 0;
        conn_send_mem(nc->c, out, len);
    }
}

/* Once per loop turn: stalled publishers whose subscribers drained are resumed, every connection
 * with output gets one send, and slow ones are closed here, outside any fan-out. Closing a
 * subscriber releases its waiting publishers and resuming them produces output, so the steps
 * repeat while a close released someone. */
static void nats_flush(void *arg, struct loop_time now) {
    struct nats_server *ns = arg;
    (void)now;
    for (uint32_t round = 0; round < 64; round++) {
        nats_stall_check(ns);
        nats_flush_dirty(ns);
        if (!ns->stall_ready) break;
    }
}

static void nats_sweep(struct loop_timer *t, uint64_t now_ms) {
    struct nats_server *ns = sl_container_of(t, struct nats_server, sweep_timer);
    for (struct conn *c = ns->ls.conns, *next; c; c = next) {
        next = c->list_next;
        if (c->closing || !c->out_head || now_ms - c->last_send_ms < ns->cfg->write_deadline_ms) continue;
        SL_WARN("nats %s: slow consumer: no write progress for %u ms: closing", c->peer, ns->cfg->write_deadline_ms);
        ns->slow_consumers++;
        conn_close(c, "write deadline exceeded");
    }
    loop_timer_add(ns->loop, &ns->sweep_timer, now_ms + NATS_SWEEP_MS);
}

void nats_server_name_of(uint32_t node_id, char *out, size_t cap) { snprintf(out, cap, "sluice-%u", node_id); }

int nats_server_start(struct nats_server *ns, const struct sl_config *cfg, struct loop *l) {
    memset(ns, 0, sizeof(*ns));
    ns->cfg = cfg;
    ns->loop = l;
    ns->subs = sublist_new();
    /* nats-server ids are 56 base32 characters; clients only need a stable, unique string. */
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t raw[56];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) memset(raw, 3, sizeof(raw));
    ns->server_id[0] = 'N';
    for (int i = 1; i < 56; i++) ns->server_id[i] = b32[raw[i] & 31];
    ns->server_id[56] = 0;
    if (cfg->cluster_nodes[0]) nats_server_name_of(cfg->node_id, ns->server_name, sizeof(ns->server_name));
    else snprintf(ns->server_name, sizeof(ns->server_name), "%s", ns->server_id);
    /* max_connections is enforced here, after INFO, with nats-server's -ERR; the listener's own
     * cap is a backstop far above it. */
    int rc = listener_start(&ns->ls, l, "nats", cfg->host, cfg->nats_port, &nats_conn_ops, nats_on_open, ns,
                            cfg->max_connections + 1024,
                            (size_t)cfg->max_payload_bytes + cfg->max_control_line_bytes + 64);
    if (rc < 0) {
        SL_ERROR("nats: cannot listen on %s:%u: %s", cfg->host, cfg->nats_port, strerror(-rc));
        sublist_free(ns->subs);
        return -1;
    }
    if (nats_routes_start(ns) != 0) {
        listener_stop(&ns->ls);
        sublist_free(ns->subs);
        return -1;
    }
    loop_add_before_sleep(l, nats_flush, ns);
    ns->sweep_timer.fire = nats_sweep;
    loop_timer_add(l, &ns->sweep_timer, loop_mono_ms(l) + NATS_SWEEP_MS);
    SL_INFO("nats listening on %s:%u (server id %s)", cfg->host, ns->ls.port, ns->server_id);
    return 0;
}

void nats_server_reauth(struct nats_server *ns) {
    uint32_t closed = 0, dropped = 0;
    for (struct conn *c = ns->ls.conns; c; c = c->list_next) {
        struct nconn *nc = c->proto;
        if (!nc || c->closing || c->close_when_sent || !nc->connected) continue;
        if (!nconn_authenticate(nc)) {
            nconn_fatal(nc, SL_AUTH_VIOLATION);
            closed++;
            continue;
        }
        const struct nats_perms *perms = nconn_perms(nc);
        if (!perms) continue;
        /* Subscriptions the new permissions refuse go, each with its -ERR. Collected first: the
         * removal edits the sid table being walked. */
        struct nsub **gone = NULL;
        uint32_t n = 0;
        for (uint32_t i = 0; i < nc->sid_cap; i++)
            for (struct nsub *s = nc->sids[i]; s; s = s->hnext)
                if (!nats_perms_sub_ok(perms, s->s.subject, s->s.subject_len, s->s.queue, s->s.queue_len)) {
                    gone = sl_xrealloc(gone, (n + 1) * sizeof(*gone));
                    gone[n++] = s;
                }
        for (uint32_t i = 0; i < n; i++) {
            struct span subj = {(const uint8_t *)gone[i]->s.subject, gone[i]->s.subject_len};
            struct span q = {(const uint8_t *)gone[i]->s.queue, gone[i]->s.queue ? gone[i]->s.queue_len : 0};
            struct span sid = {(const uint8_t *)gone[i]->sid, gone[i]->sid_len};
            nconn_perm_err(nc, "Subscription", subj, q, sid);
            nsub_remove(ns, gone[i]);
        }
        dropped += n;
        free(gone);
    }
    if (closed || dropped)
        SL_INFO("nats reload: %u connection(s) no longer authorized closed, %u subscription(s) no longer permitted removed",
                closed, dropped);
}

void nats_server_stop(struct nats_server *ns) {
    loop_timer_del(ns->loop, &ns->sweep_timer);
    nats_flush(ns, loop_time(ns->loop));
    nats_routes_stop(ns); /* its subscriptions leave the sublist before it goes */
    listener_stop(&ns->ls);
    workers_free(ns->auth_workers); /* after the connections: their checks are orphans now */
    ns->auth_workers = NULL;
    loop_remove_before_sleep(ns->loop, ns);
    sublist_free(ns->subs);
}
