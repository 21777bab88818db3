/* nats_server.c: the NATS client protocol (see nats_server.h). */
#include "broker/nats/nats_server.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/nats/sublist.h"
#include "protocol/nats_parse.h"

#define NATS_VERSION "2.9.10" /* what clients gate features on: nats.js needs >= 2.9.4, < 2.10 */
#define NATS_FIRST_PING_MS 2000
#define NATS_OUT_MIN (16u << 10)
#define NATS_SWEEP_MS 1000

struct nsub {
    struct sub s;
    struct nconn *nc;
    int64_t max_msgs; /* -1: unlimited */
    int64_t delivered;
    struct nsub *hnext;  /* sid hash chain */
    struct nsub *expired_next;
    bool expired;
    uint32_t sid_len;
    char *sid;
    char text[]; /* subject \0 queue \0 sid \0 */
};

struct nconn {
    struct conn *c;
    struct nats_server *ns;
    struct nats_parser p;
    uint64_t cid;
    bool connected, verbose, pedantic, echo, headers, no_responders;
    bool kill;  /* slow consumer: close at the next flush, never in the middle of a fan-out */
    bool dirty;
    struct nconn *dirty_next;
    uint8_t *out;
    size_t out_len, out_cap, out_hint;
    struct nsub **sids;
    uint32_t sid_cap, sub_count;
    uint32_t pings_out;
    struct loop_timer ping_timer;
    struct loop_timer auth_timer;
};

static struct nsub *nats_expired_head;

/* ---- output ------------------------------------------------------------------------------------ */

static void nconn_mark_dirty(struct nconn *nc) {
    if (nc->dirty) return;
    nc->dirty = true;
    nc->dirty_next = nc->ns->dirty;
    nc->ns->dirty = nc;
}

/* Room for n more bytes; false (and the connection marked slow) past max_pending. */
static uint8_t *nconn_reserve(struct nconn *nc, size_t n) {
    if (nc->kill) return NULL;
    uint64_t pending = nc->c->out_bytes + nc->out_len + n;
    if (pending > nc->ns->cfg->max_pending_bytes) {
        if (!nc->kill) {
            SL_WARN("nats %s: slow consumer detected (%llu bytes pending > max_pending %llu): closing",
                    nc->c->peer, (unsigned long long)pending, (unsigned long long)nc->ns->cfg->max_pending_bytes);
            nc->ns->slow_consumers++;
        }
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

static void nconn_write(struct nconn *nc, const void *p, size_t n) {
    uint8_t *at = nconn_reserve(nc, n);
    if (at && n) memcpy(at, p, n);
}

static void nconn_writes(struct nconn *nc, const char *s) { nconn_write(nc, s, strlen(s)); }

static void nconn_err(struct nconn *nc, const char *text) {
    char line[512];
    int n = snprintf(line, sizeof(line), "-ERR '%s'\r\n", text);
    nconn_write(nc, line, (size_t)SL_MIN(n, (int)sizeof(line) - 1));
}

/* Sends a last -ERR and closes once it is out (the nats-server order for fatal errors). */
static void nconn_fatal(struct nconn *nc, const char *text) {
    if (text) nconn_err(nc, text);
    if (nc->out_len) {
        conn_send_mem(nc->c, nc->out, (uint32_t)nc->out_len);
        nc->out = NULL;
        nc->out_len = nc->out_cap = 0;
    }
    conn_close_after_send(nc->c, text ? text : "protocol error");
}

static size_t fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* MSG/HMSG to one subscription, header block passed through byte for byte; a subscriber that
 * did not ask for headers gets the body alone, as nats-server does. */
static void nats_deliver(struct nsub *ns_sub, struct span subj, struct span reply, const uint8_t *payload,
                         uint32_t hdr_len, uint32_t total_len) {
    struct nconn *nc = ns_sub->nc;
    bool hmsg = hdr_len && nc->headers;
    if (hdr_len && !hmsg) {
        payload += hdr_len;
        total_len -= hdr_len;
        hdr_len = 0;
    }
    size_t need = 5 + subj.len + 1 + ns_sub->sid_len + 1 + reply.len + 1 + 24 + 24 + 2 + total_len + 2;
    uint8_t *p = nconn_reserve(nc, need);
    if (!p) return;
    uint8_t *start = p;
    if (hmsg) memcpy(p, "HMSG ", 5), p += 5;
    else memcpy(p, "MSG ", 4), p += 4;
    memcpy(p, subj.p, subj.len), p += subj.len;
    *p++ = ' ';
    memcpy(p, ns_sub->sid, ns_sub->sid_len), p += ns_sub->sid_len;
    *p++ = ' ';
    if (reply.len) {
        memcpy(p, reply.p, reply.len), p += reply.len;
        *p++ = ' ';
    }
    if (hmsg) {
        p += fmt_u64((char *)p, hdr_len);
        *p++ = ' ';
    }
    p += fmt_u64((char *)p, total_len);
    *p++ = '\r', *p++ = '\n';
    memcpy(p, payload, total_len), p += total_len;
    *p++ = '\r', *p++ = '\n';
    nc->out_len -= need - (size_t)(p - start); /* give back what the worst case reserved */
    nc->ns->msgs_out++;
    nc->ns->bytes_out += total_len;
    ns_sub->delivered++;
    if (ns_sub->max_msgs > 0 && ns_sub->delivered >= ns_sub->max_msgs && !ns_sub->expired) {
        /* Removed after the fan-out: the match result being walked must not change under it. */
        ns_sub->expired = true;
        ns_sub->expired_next = nats_expired_head;
        nats_expired_head = ns_sub;
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

static void nsub_remove(struct nconn *nc, struct nsub *s) {
    struct nsub **pp = nconn_sid_slot(nc, s->sid, s->sid_len);
    if (pp && *pp == s) *pp = s->hnext;
    sublist_remove(nc->ns->subs, &s->s);
    nc->sub_count--;
    free(s);
}

static void nats_reap_expired(void) {
    while (nats_expired_head) {
        struct nsub *s = nats_expired_head;
        nats_expired_head = s->expired_next;
        nsub_remove(s->nc, s);
    }
}

/* ---- routing -------------------------------------------------------------------------------------- */

static bool nats_eligible(const struct nconn *pub, const struct nsub *s) {
    return !s->expired && !s->nc->kill && (s->nc != pub || pub->echo);
}

static void nats_no_responders(struct nconn *pub, struct span reply) {
    const struct sublist_result *r = sublist_match(pub->ns->subs, (const char *)reply.p, reply.len);
    for (uint32_t i = 0; i < r->psub_count; i++) {
        struct nsub *s = sl_container_of(r->psubs[i], struct nsub, s);
        if (s->nc != pub) continue;
        static const char status[] = "NATS/1.0 503\r\n\r\n";
        nats_deliver(s, reply, (struct span){NULL, 0}, (const uint8_t *)status, sizeof(status) - 1,
                     sizeof(status) - 1);
        return;
    }
}

static void nats_route(struct nconn *pub, struct span subj, struct span reply, const uint8_t *payload,
                       uint32_t hdr_len, uint32_t total_len) {
    struct nats_server *ns = pub->ns;
    ns->msgs_in++;
    ns->bytes_in += total_len;
    const struct sublist_result *r = sublist_match(ns->subs, (const char *)subj.p, subj.len);
    bool any = false;
    for (uint32_t i = 0; i < r->psub_count; i++) {
        struct nsub *s = sl_container_of(r->psubs[i], struct nsub, s);
        if (!nats_eligible(pub, s)) continue;
        nats_deliver(s, subj, reply, payload, hdr_len, total_len);
        any = true;
    }
    for (uint32_t g = 0; g < r->qgroup_count; g++) {
        const struct sublist_qgroup *q = &r->qgroups[g];
        /* Each message to one member: rotate, skipping members that cannot take it. */
        uint32_t start = ns->qpick++;
        for (uint32_t k = 0; k < q->count; k++) {
            struct nsub *s = sl_container_of(q->members[(start + k) % q->count], struct nsub, s);
            if (!nats_eligible(pub, s)) continue;
            nats_deliver(s, subj, reply, payload, hdr_len, total_len);
            any = true;
            break;
        }
    }
    if (!any && reply.len && pub->headers && pub->no_responders) nats_no_responders(pub, reply);
    nats_reap_expired();
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

static bool nats_auth_ok(const struct nats_server *ns, json_t *j) {
    const struct sl_config *cfg = ns->cfg;
    if (cfg->auth_token[0]) {
        const char *t = json_str(j, "auth_token");
        return t && !strcmp(t, cfg->auth_token);
    }
    if (cfg->user[0]) {
        const char *u = json_str(j, "user"), *p = json_str(j, "pass");
        return u && p && !strcmp(u, cfg->user) && !strcmp(p, cfg->pass);
    }
    return true;
}

static bool nats_auth_required(const struct nats_server *ns) { return ns->cfg->auth_token[0] || ns->cfg->user[0]; }

static void nats_op_connect(struct nconn *nc, const struct nats_op *op) {
    json_error_t jerr;
    json_t *j = json_loadb((const char *)op->arg.p, op->arg.len, 0, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        nconn_fatal(nc, NULL); /* malformed CONNECT: nats-server closes without a word */
        return;
    }
    /* Omitted booleans default as nats-server's do: verbose and pedantic on. */
    nc->verbose = json_bool(j, "verbose", true);
    nc->pedantic = json_bool(j, "pedantic", true);
    nc->echo = json_bool(j, "echo", true);
    nc->headers = json_bool(j, "headers", false);
    nc->no_responders = json_bool(j, "no_responders", false);
    json_t *proto = json_object_get(j, "protocol");
    json_int_t protocol = proto && json_is_integer(proto) ? json_integer_value(proto) : 0;
    bool auth = nats_auth_ok(nc->ns, j);
    json_decref(j);
    if (!auth) {
        nconn_fatal(nc, "Authorization Violation");
        return;
    }
    if (protocol > 1) {
        nconn_fatal(nc, "invalid client protocol");
        return;
    }
    if (nc->no_responders && !nc->headers) {
        nconn_fatal(nc, "no responders requires headers support");
        return;
    }
    nc->connected = true;
    loop_timer_del(nc->ns->loop, &nc->auth_timer);
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

static void nats_op_sub(struct nconn *nc, const struct nats_op *op) {
    if (!sublist_subject_valid((const char *)op->subject.p, op->subject.len) ||
        (op->queue.len && !sublist_subject_literal((const char *)op->queue.p, op->queue.len))) {
        nconn_err(nc, "Invalid Subject");
        return;
    }
    uint32_t max = nc->ns->cfg->max_subscriptions;
    if (max && nc->sub_count >= max) {
        nconn_err(nc, "maximum subscriptions exceeded");
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
    s->s.owner = nc;
    s->nc = nc;
    s->max_msgs = -1;
    if (sublist_insert(nc->ns->subs, &s->s) != 0) {
        free(s);
        nconn_err(nc, "Invalid Subject");
        return;
    }
    if (nc->sub_count + 1 > nc->sid_cap) nconn_sids_grow(nc);
    slot = nconn_sid_slot(nc, s->sid, s->sid_len);
    s->hnext = NULL;
    *slot = s;
    nc->sub_count++;
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

static void nats_op_unsub(struct nconn *nc, const struct nats_op *op) {
    struct nsub **slot = nconn_sid_slot(nc, (const char *)op->sid.p, op->sid.len);
    struct nsub *s = slot ? *slot : NULL;
    /* An unknown sid is ignored: nats.js sends UNSUB after an auto-unsubscribe already fired. */
    if (s) {
        if (op->max_msgs > 0 && s->delivered < op->max_msgs) s->max_msgs = op->max_msgs;
        else nsub_remove(nc, s);
    }
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

static void nats_op_pub(struct nconn *nc, const struct nats_op *op) {
    if (nc->pedantic && !sublist_subject_literal((const char *)op->subject.p, op->subject.len)) {
        nconn_err(nc, "Invalid Publish Subject");
        return;
    }
    nats_route(nc, op->subject, op->reply, op->payload.p, op->hdr_len, op->total_len);
    if (nc->verbose) nconn_writes(nc, "+OK\r\n");
}

static void nats_handle(struct nconn *nc, const struct nats_op *op) {
    if (!nc->connected && nats_auth_required(nc->ns) && op->kind != NATS_OP_CONNECT) {
        nconn_fatal(nc, "Authorization Violation");
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
    default: nconn_fatal(nc, "Unknown Protocol Operation"); break;
    }
}

/* ---- connection callbacks ----------------------------------------------------------------------- */

static bool nats_on_data(struct conn *c) {
    struct nconn *nc = c->proto;
    size_t off = 0;
    for (uint32_t guard = 0; guard < (1u << 24) && !c->closing && !c->close_when_sent; guard++) {
        size_t used = 0;
        struct nats_op op;
        enum nats_perr e = nats_parse(&nc->p, c->in + off, c->in_len - off, &used, &op);
        if (e == NATS_PERR_AGAIN) break;
        if (e != NATS_PERR_NONE) {
            SL_DEBUG("nats %s: protocol error %d", c->peer, (int)e);
            nconn_fatal(nc, nats_perr_text(e));
            break;
        }
        nats_handle(nc, &op);
        off += used;
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

static void nats_on_close(struct conn *c) {
    struct nconn *nc = c->proto;
    struct nats_server *ns = nc->ns;
    nats_unlink_dirty(nc);
    loop_timer_del(ns->loop, &nc->ping_timer);
    loop_timer_del(ns->loop, &nc->auth_timer);
    for (uint32_t i = 0; i < nc->sid_cap; i++) {
        struct nsub *s = nc->sids[i];
        while (s) {
            struct nsub *next = s->hnext;
            sublist_remove(ns->subs, &s->s);
            free(s);
            s = next;
        }
    }
    free(nc->sids);
    free(nc->out);
    ns->conn_count--;
    free(nc);
    c->proto = NULL;
}

static void nats_on_ping_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nconn *nc = sl_container_of(t, struct nconn, ping_timer);
    if (nc->pings_out >= nc->ns->cfg->ping_max_out) {
        nconn_fatal(nc, "Stale Connection");
        return;
    }
    nc->pings_out++;
    nconn_writes(nc, "PING\r\n");
    loop_timer_add(nc->ns->loop, &nc->ping_timer, now_ms + nc->ns->cfg->ping_interval_ms);
}

static void nats_on_auth_timer(struct loop_timer *t, uint64_t now_ms) {
    struct nconn *nc = sl_container_of(t, struct nconn, auth_timer);
    (void)now_ms;
    if (!nc->connected) nconn_fatal(nc, "Authentication Timeout");
}

static void nats_send_info(struct nconn *nc) {
    const struct nats_server *ns = nc->ns;
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", nc->c->peer);
    char *colon = strrchr(ip, ':');
    if (colon) *colon = 0;
    char info[1024];
    int n = snprintf(info, sizeof(info),
                     "INFO {\"server_id\":\"%s\",\"server_name\":\"%s\",\"version\":\"" NATS_VERSION "\","
                     "\"proto\":1,\"go\":\"sluice " SL_VERSION "\",\"host\":\"%s\",\"port\":%u,\"headers\":true,"
                     "\"max_payload\":%u,\"jetstream\":%s,%s\"client_id\":%llu,\"client_ip\":\"%s\"} \r\n",
                     ns->server_id, ns->server_id, ns->cfg->host, ns->ls.port, ns->cfg->max_payload_bytes,
                     ns->cfg->jetstream ? "true" : "false", nats_auth_required(ns) ? "\"auth_required\":true," : "",
                     (unsigned long long)nc->cid, ip);
    nconn_write(nc, info, (size_t)SL_MIN(n, (int)sizeof(info) - 1));
}

static void nats_on_open(struct conn *c) {
    struct nats_server *ns = c->listener->arg;
    struct nconn *nc = sl_xcalloc(1, sizeof(*nc));
    nc->c = c;
    nc->ns = ns;
    nc->cid = ++ns->next_client_id;
    nc->echo = true;
    nc->verbose = false;
    nats_parser_init(&nc->p, true, ns->cfg->max_payload_bytes, ns->cfg->max_control_line_bytes);
    nc->ping_timer.fire = nats_on_ping_timer;
    nc->auth_timer.fire = nats_on_auth_timer;
    c->proto = nc;
    ns->conn_count++;
    nats_send_info(nc);
    if (ns->conn_count > ns->cfg->max_connections) {
        nconn_fatal(nc, "maximum connections exceeded");
        return;
    }
    uint64_t now = loop_mono_ms(ns->loop);
    loop_timer_add(ns->loop, &nc->ping_timer, now + SL_MIN((uint64_t)NATS_FIRST_PING_MS, ns->cfg->ping_interval_ms));
    if (nats_auth_required(ns)) loop_timer_add(ns->loop, &nc->auth_timer, now + ns->cfg->auth_timeout_ms);
}

static const struct conn_ops nats_conn_ops = {nats_on_data, nats_on_drain, nats_on_close};

/* Once per loop turn: every connection with output gets one send; slow ones are closed here,
 * outside any fan-out. */
static void nats_flush(void *arg, struct loop_time now) {
    struct nats_server *ns = arg;
    (void)now;
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
    loop_add_before_sleep(l, nats_flush, ns);
    ns->sweep_timer.fire = nats_sweep;
    loop_timer_add(l, &ns->sweep_timer, loop_mono_ms(l) + NATS_SWEEP_MS);
    SL_INFO("nats listening on %s:%u (server id %s)", cfg->host, ns->ls.port, ns->server_id);
    return 0;
}

void nats_server_stop(struct nats_server *ns) {
    loop_timer_del(ns->loop, &ns->sweep_timer);
    nats_flush(ns, loop_time(ns->loop));
    listener_stop(&ns->ls);
    loop_remove_before_sleep(ns->loop, ns);
    sublist_free(ns->subs);
}
