/* js_ingest.c: publishes into streams and their PubAcks (see js_ingest.h). */
#include "broker/nats/js_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/logging.h"
#include "base/loop.h"
#include "broker/core/acl.h"
#include "broker/core/cluster_view.h"
#include "broker/core/partition.h"
#include "broker/core/stream.h"
#include "broker/nats/nats_acl.h"
#include "broker/nats/nats_route.h"
#include "broker/nats/nats_server.h"
#include "broker/nats/sublist.h"

#define JS_HEADERS_MAX 256
#define JS_ACK_BODY_MAX 512
#define JS_SETTLE_MS 10000
#define JS_LEAD_CHECK_MS 50 /* how soon a broker that became a stream's leader serves it */

struct js_istream;

/* One publish waiting for its turn to be answered. */
struct js_ack {
    struct js_ack *next;
    struct js_istream *is;
    bool ready;
    char *reply; /* NULL: no reply */
    uint32_t reply_len;
    uint32_t body_len;
    char body[JS_ACK_BODY_MAX];
    struct stream_append_done ad;
};

struct js_istream {
    struct js_ingest *ji;
    struct stream *s;
    char name[STREAM_NAME_MAX + 1];
    struct nsub *subs[TOPIC_SUBJECTS_MAX];
    uint32_t sub_count;
    struct js_ack *head, *tail; /* in publish order */
    uint32_t inflight;          /* appends whose done has not fired */
    bool dead;                  /* unbound: freed once nothing is in flight */
    bool serving;               /* subscribed and announced: this broker serves the stream */
    char **announced;           /* what the routes were told this broker holds (js_announce) */
    uint32_t announced_count;
};

struct js_ingest {
    struct nats_server *ns;
    struct streams *ss;
    struct js_istream **arr;
    uint32_t count, cap;
    struct js_ack *free_acks;
    struct stream_header hdrs[JS_HEADERS_MAX];
    struct loop_timer lead_timer; /* who serves the cluster's streams (js_stream_served_here) */
    uint64_t lead_gen;            /* what the last pass saw: the placement, readiness, the streams */
    bool lead_ready;
    uint32_t lead_streams;
    uint64_t lead_full_ms;        /* the last pass over every stream whatever changed */
    bool lead_settling;           /* a stream this broker leads waits for its committed end */
    void (*lead_fn)(void *arg, struct stream *s, bool served);
    void *lead_arg;
};

static const struct nats_deliver_ops js_ingest_ops;

/* ---- headers ------------------------------------------------------------------------------------ */

uint32_t js_headers_parse(struct span hdr, struct stream_header *out, uint32_t cap) {
    const uint8_t *p = hdr.p, *end = hdr.p + hdr.len;
    const uint8_t *nl = memchr(p, '\n', hdr.len);
    if (!nl) return 0;
    p = nl + 1; /* the status line is not a header */
    uint32_t n = 0;
    while (p < end) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *line_end = eol ? eol : end;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        if (line_end == p) break; /* the blank line */
        const uint8_t *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p && n < cap) {
            const uint8_t *v = colon + 1;
            while (v < line_end && (*v == ' ' || *v == '\t')) v++;
            out[n].key = (struct span){p, (uint32_t)(colon - p)};
            out[n].value = (struct span){v, (uint32_t)(line_end - v)};
            n++;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return n;
}

static bool span_is(struct span s, const char *lit) { return s.len == strlen(lit) && !memcmp(s.p, lit, s.len); }

/* A Nats-Expected-*-Sequence value: -1 when empty (not asked, as nats-server reads an empty
 * header). nats-server turns a value that is not a number into uint64(-1), a sequence no stream
 * reaches, so the check fails: INT64_MAX does the same here. */
static int64_t span_expected_seq(struct span s) {
    int64_t v = 0;
    if (!s.len) return -1;
    if (s.len > 18) return INT64_MAX;
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return INT64_MAX;
        v = v * 10 + (s.p[i] - '0');
    }
    return v;
}

/* ---- answers in order ----------------------------------------------------------------------------- */

static struct js_ack *js_ack_get(struct js_ingest *ji, struct js_istream *is, struct span reply) {
    struct js_ack *a = ji->free_acks;
    if (a) ji->free_acks = a->next;
    else a = sl_xmalloc(sizeof(*a));
    a->next = NULL;
    a->is = is;
    a->ready = false;
    a->reply = NULL;
    a->reply_len = reply.len;
    a->body_len = 0;
    if (reply.len) {
        a->reply = sl_xmalloc(reply.len);
        memcpy(a->reply, reply.p, reply.len);
    }
    if (is->tail) is->tail->next = a;
    else is->head = a;
    is->tail = a;
    return a;
}

static void js_istream_free(struct js_istream *is) {
    struct js_ingest *ji = is->ji;
    for (uint32_t i = 0; i < ji->count; i++) {
        if (ji->arr[i] != is) continue;
        ji->arr[i] = ji->arr[--ji->count];
        break;
    }
    free(is);
}

static void js_flush(struct js_istream *is) {
    struct js_ingest *ji = is->ji;
    while (is->head && is->head->ready) {
        struct js_ack *a = is->head;
        is->head = a->next;
        if (!is->head) is->tail = NULL;
        if (a->reply) {
            nats_server_publish(ji->ns, (struct span){(const uint8_t *)a->reply, a->reply_len}, (struct span){0},
                                (struct span){0}, (struct span){(const uint8_t *)a->body, a->body_len});
            free(a->reply);
        }
        a->next = ji->free_acks;
        ji->free_acks = a;
    }
    if (is->dead && !is->head && !is->inflight) js_istream_free(is);
}

static void js_ack_error(struct js_ack *a, int code, int err_code, const char *desc) {
    int n = snprintf(a->body, sizeof(a->body),
                     "{\"error\":{\"code\":%d,\"err_code\":%d,\"description\":\"%s\"},\"stream\":\"%s\",\"seq\":0}", code,
                     err_code, desc, a->is->name);
    a->body_len = (uint32_t)SL_MIN(n, (int)sizeof(a->body) - 1);
    a->ready = true;
}

/* {"stream":"<name>", "seq":N} as nats-server 2.9.10 writes it, built by hand: snprintf was 5 %
 * of the broker's CPU in an async publish (one PubAck per message). */
static void js_ack_ok(struct js_ack *a, uint64_t seq, bool duplicate) {
    static const char head[] = "{\"stream\":\"", mid[] = "\", \"seq\":", dup[] = ",\"duplicate\": true";
    size_t nl = strlen(a->is->name);
    _Static_assert(sizeof(head) + sizeof(mid) + sizeof(dup) + 21 + 1 <= JS_ACK_BODY_MAX - STREAM_NAME_MAX, "ack body");
    char *p = a->body;
    memcpy(p, head, sizeof(head) - 1), p += sizeof(head) - 1;
    memcpy(p, a->is->name, nl), p += nl;
    memcpy(p, mid, sizeof(mid) - 1), p += sizeof(mid) - 1;
    p += sl_fmt_u64(p, seq);
    if (duplicate) memcpy(p, dup, sizeof(dup) - 1), p += sizeof(dup) - 1;
    *p++ = '}';
    *p = 0;
    a->body_len = (uint32_t)(p - a->body);
    a->ready = true;
}

static void js_append_done(struct stream_append_done *d, sl_err err, uint64_t seq) {
    struct js_ack *a = sl_container_of(d, struct js_ack, ad);
    struct js_istream *is = a->is;
    is->inflight--;
    if (err) {
        char desc[128];
        snprintf(desc, sizeof(desc), "%s", sl_err_str(err));
        js_ack_error(a, 503, 10077, desc);
    } else {
        js_ack_ok(a, seq, false);
    }
    js_flush(is);
}

/* ---- a publish ------------------------------------------------------------------------------------ */

static void js_ingest_deliver(struct sub *sub, const struct nats_msg *m) {
    struct js_istream *is = sub->owner;
    if (is->dead) return;
    struct js_ingest *ji = is->ji;
    struct stream *s = is->s;
    size_t name_len = strlen(is->name);
    if (!nats_acl_stream_allowed(ji->ns, KAFKA_OP_WRITE, is->name, name_len)) {
        /* Not stored; core NATS subscribers of the subject got it all the same. */
        ji->ns->js_publishes_denied++;
        if (!m->reply.len) return;
        char desc[160]; /* with the stream name, within JS_ACK_BODY_MAX */
        nats_acl_denied_text(ji->ns, KAFKA_OP_WRITE, is->name, name_len, desc, sizeof(desc));
        for (char *c = desc; *c; c++) /* the body is not escaped: a principal is any text */
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
        js_ack_error(js_ack_get(ji, is, m->reply), NATS_ACL_ERR_CODE, NATS_ACL_JS_ERR_CODE, desc);
        js_flush(is);
        return;
    }
    uint32_t hn = m->hdr.len ? js_headers_parse(m->hdr, ji->hdrs, JS_HEADERS_MAX) : 0;
    struct stream_publish_checks c = {.expected_last_seq = -1, .expected_last_subj_seq = -1};
    for (uint32_t i = 0; i < hn; i++) {
        struct span k = ji->hdrs[i].key, v = ji->hdrs[i].value;
        if (span_is(k, "Nats-Msg-Id")) c.msg_id = v;
        else if (span_is(k, "Nats-Expected-Stream")) c.expected_stream = v;
        else if (span_is(k, "Nats-Expected-Last-Sequence")) c.expected_last_seq = span_expected_seq(v);
        else if (span_is(k, "Nats-Expected-Last-Subject-Sequence")) c.expected_last_subj_seq = span_expected_seq(v);
        else if (span_is(k, "Nats-Expected-Last-Msg-Id")) c.expected_last_msg_id = v;
    }
    uint64_t now_ms = loop_now_ms(ji->ns->loop);
    uint64_t seq = 0;
    char last_id[256] = "";
    char desc[320];
    enum stream_publish_verdict v =
        stream_check_publish(s, m->subject, &c, m->hdr.len, m->payload.len, now_ms, &seq, last_id, sizeof(last_id));
    struct js_ack *a = js_ack_get(ji, is, m->reply);
    switch (v) {
    case STREAM_PUBLISH_OK: break;
    case STREAM_PUBLISH_DUPLICATE: js_ack_ok(a, seq, true); break;
    case STREAM_PUBLISH_WRONG_STREAM: js_ack_error(a, 400, 10060, "expected stream does not match"); break;
    case STREAM_PUBLISH_WRONG_LAST_SEQ:
    case STREAM_PUBLISH_WRONG_LAST_SUBJ_SEQ:
        snprintf(desc, sizeof(desc), "wrong last sequence: %llu", (unsigned long long)seq);
        js_ack_error(a, 400, 10071, desc);
        break;
    case STREAM_PUBLISH_WRONG_LAST_MSG_ID:
        snprintf(desc, sizeof(desc), "wrong last msg ID: %s", last_id);
        js_ack_error(a, 400, 10070, desc);
        break;
    case STREAM_PUBLISH_TOO_LARGE: js_ack_error(a, 400, 10054, "message size exceeds maximum allowed"); break;
    case STREAM_PUBLISH_MAX_MSGS: js_ack_error(a, 503, 10077, "maximum messages exceeded"); break;
    case STREAM_PUBLISH_MAX_BYTES: js_ack_error(a, 503, 10077, "maximum bytes exceeded"); break;
    case STREAM_PUBLISH_MAX_MSGS_PER_SUBJECT:
        js_ack_error(a, 503, 10077, "maximum messages per subject exceeded");
        break;
    }
    if (v == STREAM_PUBLISH_OK) {
        a->ad.fn = js_append_done;
        sl_err e = stream_append(s, m->subject, ji->hdrs, hn, m->payload, now_ms, &a->ad);
        if (e) js_ack_error(a, 503, 10077, sl_err_str(e));
        else is->inflight++;
    }
    js_flush(is);
}

static const struct nats_deliver_ops js_ingest_ops = {js_ingest_deliver};

/* ---- binding ------------------------------------------------------------------------------------ */

static struct js_istream *js_find(struct js_ingest *ji, const struct stream *s) {
    for (uint32_t i = 0; i < ji->count; i++)
        if (ji->arr[i]->s == s && !ji->arr[i]->dead) return ji->arr[i];
    return NULL;
}

/* The stream-specific JetStream API subjects a client on another broker sends to (the
 * CONSUMER ones as nats.go 1.22 and nats.js 3 form them, with nats-server 2.9's filter and
 * durable forms); %s is the stream name. Literal names, not wildcards over the operation
 * token: "$JS.API.CONSUMER.*.S.>" would also catch MSG.NEXT of every stream were S "NEXT". */
static const char *const js_api_subjects[] = {
    "$JS.API.STREAM.CREATE.%s",          "$JS.API.STREAM.UPDATE.%s",
    "$JS.API.STREAM.INFO.%s",            "$JS.API.STREAM.DELETE.%s",
    "$JS.API.STREAM.PURGE.%s",           "$JS.API.STREAM.MSG.GET.%s",
    "$JS.API.STREAM.MSG.DELETE.%s",      "$JS.API.CONSUMER.CREATE.%s",
    "$JS.API.CONSUMER.CREATE.%s.>",      "$JS.API.CONSUMER.DURABLE.CREATE.%s.>",
    "$JS.API.CONSUMER.INFO.%s.>",        "$JS.API.CONSUMER.DELETE.%s.>",
    "$JS.API.CONSUMER.NAMES.%s",         "$JS.API.CONSUMER.LIST.%s",
    "$JS.API.CONSUMER.MSG.NEXT.%s.>",
};

static char *js_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(sl_xmalloc(n), s, n);
}

/* In a cluster with routes, the broker holding a stream tells the other brokers what their
 * clients need to reach it (nats_route.h): its subjects (a publish there is forwarded here and
 * the PubAck goes back to the publisher's inbox, which its broker announces) and the API
 * subjects naming it; its consumers' ack subjects are js_deliver.c's. The new set is announced
 * before the old one is withdrawn, so a subject an update keeps never leaves the routes.
 * c NULL (the stream goes, or the broker stops): withdraw all. Announcing is counted, so a
 * client's own SUB to the same subject on this broker and the stream's never cancel each
 * other. */
static void js_announce(struct js_ingest *ji, struct js_istream *is, const struct stream_config *c) {
    uint32_t n = 0, cap = (c ? c->subject_count : 0) + (uint32_t)SL_ARRAY_LEN(js_api_subjects);
    char **now = c ? sl_xcalloc(cap, sizeof(*now)) : NULL;
    if (c) {
        for (uint32_t i = 0; i < c->subject_count; i++) now[n++] = js_strdup(c->subjects[i]);
        for (size_t i = 0; i < SL_ARRAY_LEN(js_api_subjects); i++) {
            char subj[64 + STREAM_NAME_MAX];
            snprintf(subj, sizeof(subj), js_api_subjects[i], c->name);
            now[n++] = js_strdup(subj);
        }
    }
    for (uint32_t i = 0; i < n; i++) nats_routes_announce(ji->ns, now[i], +1);
    for (uint32_t i = 0; i < is->announced_count; i++) {
        nats_routes_announce(ji->ns, is->announced[i], -1);
        free(is->announced[i]);
    }
    free(is->announced);
    is->announced = now;
    is->announced_count = n;
}

static void js_unsubscribe(struct js_ingest *ji, struct js_istream *is) {
    for (uint32_t i = 0; i < is->sub_count; i++) nats_server_unsubscribe_internal(ji->ns, is->subs[i]);
    is->sub_count = 0;
}

void js_ingest_set_lead_hook(struct js_ingest *ji, void (*fn)(void *arg, struct stream *s, bool served), void *arg) {
    ji->lead_fn = fn;
    ji->lead_arg = arg;
}

bool js_stream_served_here(const struct nats_server *ns, const struct stream *s) {
    const struct cluster_view *v = ns->view;
    if (!v || !stream_is_placed(s)) return true; /* made before the cluster: this broker's alone */
    if (!v->ready) return false; /* the placement is not known yet, or the broker stops */
    const struct cluster_topic *t = stream_placement(s);
    if (!t) return false; /* being removed */
    /* A new leader serves once its committed end reached where its lead began: its consumers
     * then start from the whole stream its predecessor acknowledged (num_pending, the pulls),
     * not from the older end it was last told. Until then its requests are answered as while
     * the stream has no leader (jsapi.c); the followers' first fetches settle it
     * (partition_leader_settled). */
    return t->partition_count && t->parts[0].replicas[0] == v->self_id &&
           partition_role(stream_partition(s)) != PARTITION_FOLLOWER && partition_leader_settled(stream_partition(s));
}

void js_ingest_bind(struct js_ingest *ji, struct stream *s) {
    struct js_istream *is = js_find(ji, s);
    if (!is) {
        is = sl_xcalloc(1, sizeof(*is));
        is->ji = ji;
        is->s = s;
        snprintf(is->name, sizeof(is->name), "%s", stream_name(s));
        if (ji->count == ji->cap) {
            ji->cap = ji->cap ? ji->cap * 2 : 8;
            ji->arr = sl_xrealloc(ji->arr, ji->cap * sizeof(*ji->arr));
        }
        ji->arr[ji->count++] = is;
    }
    js_unsubscribe(ji, is);
    bool was = is->serving;
    is->serving = js_stream_served_here(ji->ns, s);
    if (was != is->serving && ji->lead_fn) ji->lead_fn(ji->lead_arg, s, is->serving);
    if (!is->serving) { /* another broker leads the stream: its publishes reach it over the routes */
        js_announce(ji, is, NULL);
        return;
    }
    const struct stream_config *c = stream_config(s);
    for (uint32_t i = 0; i < c->subject_count; i++) {
        struct nsub *sub = nats_server_subscribe_internal(ji->ns, c->subjects[i], NULL, &js_ingest_ops, is);
        if (!sub) {
            SL_WARN("stream %s: cannot subscribe to %s", c->name, c->subjects[i]);
            continue;
        }
        is->subs[is->sub_count++] = sub;
    }
    js_announce(ji, is, c);
}

void js_ingest_unbind(struct js_ingest *ji, struct stream *s) {
    struct js_istream *is = js_find(ji, s);
    if (!is) return;
    js_unsubscribe(ji, is);
    js_announce(ji, is, NULL);
    is->dead = true;
    is->s = NULL;
    js_flush(is);
}

/* Leadership of a replicated stream moves with its partition's (the controller's elections):
 * each pass binds the streams this broker now leads and unbinds those it no longer does, and
 * binds the streams other brokers' creations added here (streams_adopt). A pass runs when the
 * placement, its readiness or the number of streams changed, on every check while a stream led
 * here has not settled (js_stream_served_here), and once a second anyway (a role the partition
 * takes after the view moved). */
static void js_lead_fire(struct loop_timer *t, uint64_t now_ms) {
    struct js_ingest *ji = sl_container_of(t, struct js_ingest, lead_timer);
    const struct cluster_view *v = ji->ns->view;
    uint64_t gen = v ? v->topics.gen : 0;
    bool ready = v && v->ready;
    uint32_t n = streams_count(ji->ss);
    if (gen != ji->lead_gen || ready != ji->lead_ready || n != ji->lead_streams || ji->lead_settling ||
        now_ms >= ji->lead_full_ms + 1000) {
        ji->lead_gen = gen;
        ji->lead_ready = ready;
        ji->lead_streams = n;
        ji->lead_full_ms = now_ms;
        ji->lead_settling = false;
        for (uint32_t i = 0; i < n; i++) {
            struct stream *s = streams_at(ji->ss, i);
            struct js_istream *is = js_find(ji, s);
            if (!is || is->serving != js_stream_served_here(ji->ns, s)) js_ingest_bind(ji, s);
            if (!partition_leader_settled(stream_partition(s))) ji->lead_settling = true;
        }
    }
    loop_timer_add(ji->ns->loop, t, now_ms + JS_LEAD_CHECK_MS);
}

struct js_ingest *js_ingest_new(struct nats_server *ns, struct streams *ss) {
    struct js_ingest *ji = sl_xcalloc(1, sizeof(*ji));
    ji->ns = ns;
    ji->ss = ss;
    for (uint32_t i = 0; i < streams_count(ss); i++) js_ingest_bind(ji, streams_at(ss, i));
    ji->lead_streams = streams_count(ss);
    ji->lead_full_ms = loop_mono_ms(ns->loop);
    ji->lead_timer.fire = js_lead_fire;
    loop_timer_add(ns->loop, &ji->lead_timer, ji->lead_full_ms + JS_LEAD_CHECK_MS);
    return ji;
}

void js_ingest_free(struct js_ingest *ji) {
    if (!ji) return;
    if (loop_timer_armed(&ji->lead_timer)) loop_timer_del(ji->ns->loop, &ji->lead_timer);
    /* Settle what is in flight, so every PubAck goes out while the server still runs. */
    for (uint32_t i = 0; i < ji->count; i++) {
        struct js_istream *is = ji->arr[i];
        js_unsubscribe(ji, is);
        js_announce(ji, is, NULL);
        if (is->inflight && is->s) log_flush(partition_log(stream_partition(is->s)), true, JS_SETTLE_MS);
    }
    while (ji->count) {
        struct js_istream *is = ji->arr[0];
        while (is->head) { /* never answered: the log failed to settle */
            struct js_ack *a = is->head;
            is->head = a->next;
            free(a->reply);
            free(a);
        }
        js_istream_free(is);
    }
    while (ji->free_acks) {
        struct js_ack *a = ji->free_acks;
        ji->free_acks = a->next;
        free(a);
    }
    free(ji->arr);
    free(ji);
}
