/* js_deliver.c: JetStream consumers wired to NATS (see js_deliver.h). */
#include "broker/nats/js_deliver.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/loop.h"
#include "base/prom.h"
#include "broker/core/acl.h"
#include "broker/core/consumer.h"
#include "broker/core/stream.h"
#include "broker/core/subject.h"
#include "broker/core/topics.h"
#include "broker/nats/js_ingest.h"
#include "broker/nats/jsapi.h"
#include "broker/nats/nats_acl.h"
#include "broker/nats/nats_route.h"
#include "broker/nats/nats_server.h"
#include "broker/nats/sublist.h"
#include "storage/kvlog.h"

#define JSD_TYPE "io.nats.jetstream.api.v1."
#define JSD_NAME_MAX 255
#define JSD_STATE_PACE_MS 10 /* consumer state records: at most one write per this (see struct js_deliver) */

struct jsd_stream;

struct jsd_consumer {
    struct js_deliver *jd;
    struct jsd_stream *st;
    struct consumer *c;
    struct nsub *ack_sub;
    struct nsub *fc_sub; /* $JS.FC.<stream>.<consumer>.*: flow control replies (push with flow_control) */
    /* Those two subjects as announced to the NATS routes (nats_route.h), so that acks and flow
     * control replies of clients on other brokers come here; withdrawn with the consumer. */
    char *ack_announced, *fc_announced;
    struct jsd_consumer *next;
    char name[JSD_NAME_MAX + 1];
    int64_t created_ns;
    int64_t delivered_active_ns, acked_active_ns; /* 0: no activity yet */
    bool doomed; /* inactive: deleted at the next timer turn */
    /* Max deliveries reached but no dead-letter copy made (the DLQ setting changed since the
     * consumer was created, or the append was refused): the remove that follows is skipped,
     * so the message stays in the stream as on nats-server. 0: none. */
    uint64_t keep_seq;
    bool named;  /* the creator gave the name (durable, name, or the subject): config shows it */
};

struct jsd_stream {
    struct stream *s;
    struct jsd_consumer *head;
    uint32_t count;
    uint64_t seen_last_seq, seen_foreign_removals;
    struct log_watch watch; /* the log's written end moved: new messages are readable */
    bool watching;
    struct js_deliver *jd;
    struct jsd_stream *next;
};

/* A queued pull request's inbox. */
struct jsd_target {
    uint32_t len;
    char reply[];
};

/* A CONSUMER.CREATE reply held until the consumer's config is durable in the metadata log. */
struct jsd_park {
    struct log_waiter w;   /* first: the waiter is the park */
    struct js_deliver *jd; /* NULL once js_deliver_stop ran: the reply is dropped */
    struct jsd_park *prev, *next;
    char *body;            /* the create response */
    bool update;           /* a config update: if it is not stored, the consumer stays */
    struct js_sync_waiter sw; /* durable here, a replicated stream's replies wait for the sync hook */
    char stream[STREAM_NAME_MAX + 1], name[JSD_NAME_MAX + 1];
    uint32_t reply_len;
    char reply[];
};

struct js_deliver {
    struct nats_server *ns;
    struct loop *loop;
    struct streams *ss;
    struct kvlog *kv; /* the metadata kvlog: consumer/<stream>/<name>/{config,state} */
    struct jsapi *api;
    bool restoring;   /* creating consumers from their stored configs */
    uint8_t *state_buf;
    size_t state_cap;
    struct jsd_stream *streams;
    uint32_t total;
    struct loop_timer timer;
    uint64_t next_id;
    uint64_t dlq_appends, wq_removals; /* /metrics */
    /* Consumer state records are written at most once per JSD_STATE_PACE_MS (a consumer acked
     * at 10 k/s would otherwise write, and fdatasync, the metadata log every loop turn), at once
     * while AckSync replies wait for them. A crash may bring back a plain ack of the last few
     * milliseconds as a redelivery; never an AckSync'd one. */
    uint64_t last_state_ms;
    struct loop_timer state_timer;
    /* AckSync replies: an ack's reply goes out only once the consumer state that holds the ack
     * is durable, so a reply the client saw never comes back as a redelivery after a crash.
     * held: acked since the last state write; waiting: covered by the write ack_w waits for. */
    struct jsd_ack_reply *held, **held_tail;
    struct jsd_ack_reply *waiting;
    struct log_waiter ack_w;
    bool ack_w_armed;
    struct jsd_park *parks; /* create replies waiting for durability */
    /* Replicated streams: replies durable here wait for the sync hook too (js_deliver_set_sync). */
    js_sync_fn sync_fn;
    void *sync_arg;
    struct jsd_sync *syncs;
};

/* AckSync replies durable here, waiting for the sync hook. */
struct jsd_sync {
    struct js_sync_waiter w; /* first */
    struct js_deliver *jd;   /* NULL once js_deliver_stop ran: the replies are dropped */
    struct jsd_sync *prev, *next;
    struct jsd_ack_reply *replies;
};

struct jsd_ack_reply {
    struct jsd_ack_reply *next;
    uint32_t len;
    char subject[];
};

static int64_t jsd_wall_ns(const struct js_deliver *jd) { return (int64_t)loop_now_ms(jd->loop) * 1000000; }
static uint64_t jsd_mono(const struct js_deliver *jd) { return loop_mono_ms(jd->loop); }

static struct span span_str(const char *s) { return (struct span){(const uint8_t *)s, (uint32_t)strlen(s)}; }

/* ---- the stream view ------------------------------------------------------------------------------- */

/* The last sequence consumers may see: appended AND written (readable back from the log), and
 * below every Kafka transaction still open on the topic (the LSO: its outcome is unknown). */
static uint64_t jsd_ready_seq(const struct jsd_stream *st) {
    uint64_t last = stream_last_seq(st->s);
    int64_t hw = partition_last_stable_offset(stream_partition(st->s));
    return hw < 0 ? 0 : SL_MIN(last, (uint64_t)hw);
}

static uint64_t view_next_seq(void *arg, const char *filter, uint64_t from) {
    struct jsd_stream *st = arg;
    uint64_t seq = stream_next_seq(st->s, filter ? span_str(filter) : (struct span){0}, from);
    return seq > jsd_ready_seq(st) ? 0 : seq;
}
static bool view_exists(void *arg, uint64_t seq) { return stream_exists(((struct jsd_stream *)arg)->s, seq); }
static uint64_t view_first_seq(void *arg) {
    struct stream_state st;
    stream_get_state(((struct jsd_stream *)arg)->s, &st);
    return st.first_seq;
}
static uint64_t view_last_seq(void *arg) { return jsd_ready_seq(arg); }

static char jsd_subject_buf[1024];

/* From the stream's index: a delivery must not read the message from the log twice. */
static bool view_msg_meta(void *arg, uint64_t seq, struct consumer_msg_meta *out) {
    struct span subject;
    uint32_t bytes;
    int64_t ts_ms;
    if (!stream_peek(((struct jsd_stream *)arg)->s, seq, &subject, &bytes, &ts_ms)) return false;
    uint32_t n = SL_MIN(subject.len, (uint32_t)sizeof(jsd_subject_buf) - 1);
    memcpy(jsd_subject_buf, subject.p, n);
    jsd_subject_buf[n] = 0;
    out->subject = jsd_subject_buf;
    out->bytes = bytes;
    out->ts_ns = ts_ms * 1000000;
    return true;
}
static uint64_t view_seq_for_time(void *arg, int64_t ts_ns) {
    struct jsd_stream *st = arg;
    for (uint64_t seq = stream_next_seq(st->s, (struct span){0}, view_first_seq(arg)); seq;
         seq = stream_next_seq(st->s, (struct span){0}, seq + 1)) {
        struct stream_msg m;
        if (stream_get(st->s, seq, &m) == SL_OK && m.time_ms * 1000000 >= ts_ns) return seq;
    }
    return stream_last_seq(st->s) + 1;
}
static uint64_t view_last_for_subject(void *arg, const char *subject) {
    struct jsd_stream *st = arg;
    struct stream_msg m;
    if (stream_get_last_for_subject(st->s, span_str(subject), &m) != SL_OK) return 0;
    return m.seq;
}

/* ---- actions ----------------------------------------------------------------------------------- */

/* $JS.ACK.<stream>.<consumer>.<deliveries>.<stream_seq>.<consumer_seq>.<ts_ns>.<pending>, the
 * reply subject of every delivered message, built by hand: snprintf's format parsing was 15 % of
 * the broker's CPU in a pull consume. out holds 8 bytes, 2 names of up to 255 and 5 numbers of up to 21 with their dots. */
static uint32_t jsd_ack_subject(char out[static 640], const char *stream, const char *consumer,
                                const struct consumer_delivery *d) {
    _Static_assert(sizeof("$JS.ACK.") + STREAM_NAME_MAX + JSD_NAME_MAX + 5 * 21 + 1 <= 640, "ack subject");
    char *p = out;
    memcpy(p, "$JS.ACK.", 8);
    p += 8;
    size_t l = strlen(stream);
    memcpy(p, stream, l);
    p += l;
    *p++ = '.';
    l = strlen(consumer);
    memcpy(p, consumer, l);
    p += l;
    *p++ = '.';
    p += sl_fmt_u64(p, d->deliveries);
    *p++ = '.';
    p += sl_fmt_u64(p, d->stream_seq);
    *p++ = '.';
    p += sl_fmt_u64(p, d->consumer_seq);
    *p++ = '.';
    if (d->ts_ns < 0) *p++ = '-';
    p += sl_fmt_u64(p, d->ts_ns < 0 ? (uint64_t)0 - (uint64_t)d->ts_ns : (uint64_t)d->ts_ns);
    *p++ = '.';
    p += sl_fmt_u64(p, d->pending);
    return (uint32_t)(p - out);
}

static void jsd_deliver(void *arg, const struct consumer_delivery *d) {
    struct jsd_consumer *jc = arg;
    struct stream_msg m;
    if (stream_get(jc->st->s, d->stream_seq, &m) != SL_OK) return;
    char ack[640];
    uint32_t n = jsd_ack_subject(ack, stream_name(jc->st->s), jc->name, d);
    struct span route;
    if (d->target) {
        const struct jsd_target *t = d->target;
        route = (struct span){(const uint8_t *)t->reply, t->len};
    } else {
        const char *ds = consumer_config(jc->c)->deliver_subject;
        if (!ds || !*ds) return;
        route = span_str(ds);
    }
    nats_server_publish_to(jc->jd->ns, route, m.subject, (struct span){(const uint8_t *)ack, n}, m.hdr,
                           m.payload);
    partition_count_out(stream_partition(jc->st->s), (uint64_t)m.hdr.len + m.payload.len, 1);
    jc->delivered_active_ns = jsd_wall_ns(jc->jd);
}

static void jsd_status(void *arg, const struct consumer_status *s) {
    struct jsd_consumer *jc = arg;
    struct span to;
    char fc[600];
    if (s->target) {
        const struct jsd_target *t = s->target;
        to = (struct span){(const uint8_t *)t->reply, t->len};
    } else {
        const char *ds = consumer_config(jc->c)->deliver_subject;
        if (!ds || !*ds) return;
        to = span_str(ds);
    }
    char hdr[1024];
    int n = snprintf(hdr, sizeof(hdr), "NATS/1.0 %d %s\r\n", s->code, s->text);
    if (s->has_pending)
        n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Nats-Pending-Messages: %lld\r\nNats-Pending-Bytes: %lld\r\n",
                      (long long)s->pending_msgs, (long long)s->pending_bytes);
    if (s->has_last)
        n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Nats-Last-Consumer: %llu\r\nNats-Last-Stream: %llu\r\n",
                      (unsigned long long)s->last_consumer_seq, (unsigned long long)s->last_stream_seq);
    if (s->stalled_fc_id)
        n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Nats-Consumer-Stalled: $JS.FC.%s.%s.%llu\r\n",
                      stream_name(jc->st->s), jc->name, (unsigned long long)s->stalled_fc_id);
    n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n");
    struct span reply = {0};
    if (s->fc_id) {
        int fl = snprintf(fc, sizeof(fc), "$JS.FC.%s.%s.%llu", stream_name(jc->st->s), jc->name,
                          (unsigned long long)s->fc_id);
        reply = (struct span){(const uint8_t *)fc, (uint32_t)fl};
    }
    nats_server_publish_to(jc->jd->ns, (struct span){0}, to, reply, (struct span){(const uint8_t *)hdr, (uint32_t)n},
                           (struct span){0});
}

static void jsd_random_id(struct js_deliver *jd, char *out) {
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t x = ++jd->next_id * 0x9E3779B97F4A7C15ull ^ (uint64_t)jsd_wall_ns(jd);
    for (int i = 0; i < 22; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out[i] = alphabet[x % 62];
    }
    out[22] = 0;
}

static void jsd_advisory(void *arg, enum consumer_advisory_kind kind, uint64_t stream_seq, uint64_t consumer_seq,
                         uint64_t deliveries) {
    struct jsd_consumer *jc = arg;
    static const char *const subj[] = {"MAX_DELIVERIES", "MSG_TERMINATED", "MSG_NAKED"};
    static const char *const type[] = {"max_deliver", "terminated", "nak"};
    char id[23], ts[64], subject[600], body[1024];
    jsd_random_id(jc->jd, id);
    jsapi_format_time(jsd_wall_ns(jc->jd), ts, sizeof(ts));
    int sl = snprintf(subject, sizeof(subject), "$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", subj[kind],
                      stream_name(jc->st->s), jc->name);
    int n = snprintf(body, sizeof(body),
                     "{\"type\":\"io.nats.jetstream.advisory.v1.%s\",\"id\":\"%s\",\"timestamp\":\"%s\",\"stream\":\"%s\","
                     "\"consumer\":\"%s\",",
                     type[kind], id, ts, stream_name(jc->st->s), jc->name);
    if (kind != CONSUMER_ADVISORY_MAX_DELIVERIES)
        n += snprintf(body + n, sizeof(body) - (size_t)n, "\"consumer_seq\":%llu,", (unsigned long long)consumer_seq);
    n += snprintf(body + n, sizeof(body) - (size_t)n, "\"stream_seq\":%llu,\"deliveries\":%llu}",
                  (unsigned long long)stream_seq, (unsigned long long)deliveries);
    nats_server_publish(jc->jd->ns, (struct span){(const uint8_t *)subject, (uint32_t)sl}, (struct span){0},
                        (struct span){0}, (struct span){(const uint8_t *)body, (uint32_t)n});
}

static void jsd_remove(void *arg, uint64_t stream_seq) {
    struct jsd_consumer *jc = arg;
    struct stream *s = jc->st->s;
    if (jc->keep_seq == stream_seq) {
        jc->keep_seq = 0;
        return;
    }
    if (stream_config(s)->retention == TOPIC_RETENTION_INTEREST) {
        char subject[1024] = "";
        struct stream_msg m;
        if (stream_get(s, stream_seq, &m) != SL_OK) return;
        uint32_t n = SL_MIN(m.subject.len, (uint32_t)sizeof(subject) - 1);
        memcpy(subject, m.subject.p, n);
        subject[n] = 0;
        for (struct jsd_consumer *o = jc->st->head; o; o = o->next)
            if (o != jc && !consumer_acked(o->c, stream_seq, subject)) return;
    }
    if (stream_remove(s, stream_seq) == SL_OK) jc->jd->wq_removals++;
}

static void jsd_dlq_done(struct stream_append_done *d, sl_err err, uint64_t seq) {
    (void)seq;
    if (err) SL_WARN("dead-letter append failed: %s", sl_err_str(err));
    free(d);
}

#define JSD_DLQ_HEADERS_MAX 64

/* Copies stream_seq into the dead-letter stream, byte-exact with its headers, plus its origin. */
static void jsd_dead_letter(void *arg, uint64_t stream_seq, uint64_t deliveries, const char *reason, const char *text) {
    struct jsd_consumer *jc = arg;
    struct js_deliver *jd = jc->jd;
    const char *subject = NULL;
    struct stream *dlq = streams_dlq_of(jd->ss, jc->st->s, &subject);
    struct stream_msg m;
    jc->keep_seq = strcmp(reason, "max_deliveries") ? 0 : stream_seq; /* until the copy is made */
    if (!dlq || stream_get(jc->st->s, stream_seq, &m) != SL_OK) return;
    struct stream_header h[JSD_DLQ_HEADERS_MAX + 6];
    uint32_t n = m.hdr.len ? js_headers_parse(m.hdr, h, JSD_DLQ_HEADERS_MAX) : 0;
    char seq_s[24], del_s[24];
    snprintf(seq_s, sizeof(seq_s), "%llu", (unsigned long long)stream_seq);
    snprintf(del_s, sizeof(del_s), "%llu", (unsigned long long)deliveries);
    const char *kv[][2] = {{"Sluice-Dlq-Stream", stream_name(jc->st->s)}, {"Sluice-Dlq-Sequence", seq_s},
                           {"Sluice-Dlq-Consumer", jc->name},           {"Sluice-Dlq-Deliveries", del_s},
                           {"Sluice-Dlq-Reason", reason},               {"Sluice-Dlq-Text", text}};
    for (size_t i = 0; i < SL_ARRAY_LEN(kv); i++)
        if (kv[i][1] && *kv[i][1]) h[n++] = (struct stream_header){span_str(kv[i][0]), span_str(kv[i][1])};
    struct stream_append_done *d = sl_xcalloc(1, sizeof(*d));
    d->fn = jsd_dlq_done;
    sl_err e = stream_append(dlq, span_str(subject), h, n, m.payload, loop_now_ms(jd->loop), d);
    if (e == SL_OK) jd->dlq_appends++;
    if (e) {
        SL_WARN("dead-letter append to %s refused: %s", stream_name(dlq), sl_err_str(e));
        free(d);
        return;
    }
    jc->keep_seq = 0;
}

static void jsd_release(void *arg, void *target) {
    (void)arg;
    free(target);
}

/* Someone listens on a push consumer's deliver subject (a queue member counts). */
static bool jsd_push_interest(struct jsd_consumer *jc) {
    const char *ds = consumer_config(jc->c)->deliver_subject;
    return ds && nats_server_has_interest(jc->jd->ns, span_str(ds));
}

/* nats-server matches a pull request's reply subject before every delivery to it. */
static bool jsd_interest(void *arg, void *target) {
    struct jsd_consumer *jc = arg;
    const struct jsd_target *t = target;
    if (!t) return jsd_push_interest(jc);
    return nats_server_has_interest(jc->jd->ns, (struct span){(const uint8_t *)t->reply, t->len});
}

static void jsd_rearm(struct js_deliver *jd);

static void jsd_inactive(void *arg) {
    struct jsd_consumer *jc = arg;
    jc->doomed = true;
    loop_timer_add(jc->jd->loop, &jc->jd->timer, jsd_mono(jc->jd));
}

static void jsd_announce(struct jsd_stream *st, uint64_t now_ms) {
    uint64_t ready = jsd_ready_seq(st);
    if (ready == st->seen_last_seq) return;
    st->seen_last_seq = ready;
    for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) consumer_stream_appended(jc->c, ready, now_ms);
    jsd_rearm(st->jd);
}

static void jsd_on_watch(struct log_watch *w, bool gone) {
    struct jsd_stream *st = sl_container_of(w, struct jsd_stream, watch);
    if (gone) {
        st->watching = false;
        return;
    }
    jsd_announce(st, jsd_mono(st->jd));
}

/* ---- durable consumers ----
 * Per consumer two metadata keys: ".../config" (written at create: {"stream","created","config"})
 * and ".../state" (consumer_encode_state, rewritten once per loop turn when it changed; group
 * commit, no waiter: a crash loses at most the last turn's changes, which then redeliver). */

static int jsd_key(char *out, size_t cap, const char *stream, const char *name, const char *what) {
    return snprintf(out, cap, "consumer/%s/%s/%s", stream, name, what);
}

/* Writes the config key; w (may be NULL) fires once it is durable. False: not written (w never
 * fires). */
static bool jsd_persist_config(struct js_deliver *jd, struct jsd_consumer *jc, json_t *cfg, struct log_waiter *w) {
    json_t *o = json_object();
    json_object_set_new(o, "stream", json_string(stream_name(jc->st->s)));
    json_object_set_new(o, "created", json_integer(jc->created_ns));
    if (!jc->named) json_object_set_new(o, "named", json_false());
    json_object_set(o, "config", cfg);
    char *v = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char key[600];
    int kl = jsd_key(key, sizeof(key), stream_name(jc->st->s), jc->name, "config");
    bool ok = kvlog_put(jd->kv, key, (uint32_t)kl, v, (uint32_t)strlen(v), loop_now_ms(jd->loop), w) == SL_OK;
    if (!ok) SL_WARN("consumer %s/%s: config not stored", stream_name(jc->st->s), jc->name);
    free(v);
    json_decref(o);
    return ok;
}

static void jsd_unpersist(struct js_deliver *jd, struct jsd_consumer *jc) {
    static const char *const what[] = {"config", "state"};
    for (int i = 0; i < 2; i++) {
        char key[600];
        int kl = jsd_key(key, sizeof(key), stream_name(jc->st->s), jc->name, what[i]);
        if (kvlog_get(jd->kv, key, (uint32_t)kl, NULL)) kvlog_del(jd->kv, key, (uint32_t)kl, loop_now_ms(jd->loop), NULL);
    }
}

/* Writes the state of every consumer that changed; true if any was written. */
static bool jsd_states_dirty(const struct js_deliver *jd) {
    for (const struct jsd_stream *st = jd->streams; st; st = st->next)
        for (const struct jsd_consumer *jc = st->head; jc; jc = jc->next)
            if (!jc->doomed && consumer_is_dirty(jc->c)) return true;
    return false;
}

/* The pacing timer only wakes the loop: its before-sleep hook writes the states. */
static void jsd_state_timer_fire(struct loop_timer *t, uint64_t now_ms) {
    (void)t;
    (void)now_ms;
}

static bool jsd_persist_states(struct js_deliver *jd) {
    bool any = false;
    for (struct jsd_stream *st = jd->streams; st; st = st->next)
        for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) {
            if (jc->doomed || !consumer_take_dirty(jc->c)) continue;
            size_t need = consumer_state_size_max(jc->c);
            if (need > jd->state_cap) {
                jd->state_buf = sl_xrealloc(jd->state_buf, need);
                jd->state_cap = need;
            }
            size_t n = consumer_encode_state(jc->c, jd->state_buf, jd->state_cap);
            char key[600];
            int kl = jsd_key(key, sizeof(key), stream_name(st->s), jc->name, "state");
            if (!n || kvlog_put(jd->kv, key, (uint32_t)kl, jd->state_buf, (uint32_t)n, loop_now_ms(jd->loop), NULL))
                SL_WARN("consumer %s/%s: state not stored", stream_name(st->s), jc->name);
            any = true;
        }
    return any;
}

/* ---- consumers per stream ----------------------------------------------------------------------- */

static struct jsd_stream *jsd_stream_find(struct js_deliver *jd, const struct stream *s, bool create) {
    for (struct jsd_stream *st = jd->streams; st; st = st->next)
        if (st->s == s) return st;
    if (!create) return NULL;
    struct jsd_stream *st = sl_xcalloc(1, sizeof(*st));
    st->s = (struct stream *)s;
    st->jd = jd;
    st->seen_last_seq = jsd_ready_seq(st);
    st->seen_foreign_removals = stream_foreign_removals(st->s);
    st->watch.fire = jsd_on_watch;
    partition_watch_add(stream_partition(st->s), &st->watch);
    st->watching = true;
    st->next = jd->streams;
    jd->streams = st;
    return st;
}

static struct jsd_consumer *jsd_consumer_find(struct jsd_stream *st, const char *name, uint32_t len) {
    if (!st) return NULL;
    for (struct jsd_consumer *jc = st->head; jc; jc = jc->next)
        if (strlen(jc->name) == len && !memcmp(jc->name, name, len)) return jc;
    return NULL;
}

/* *slot (announced, or NULL) becomes subject (NULL: withdrawn), on the routes too. */
static void jsd_route_announce(struct js_deliver *jd, char **slot, const char *subject) {
    if (*slot) {
        nats_routes_announce(jd->ns, *slot, -1);
        free(*slot);
        *slot = NULL;
    }
    if (!subject) return;
    size_t n = strlen(subject) + 1;
    *slot = memcpy(sl_xmalloc(n), subject, n);
    nats_routes_announce(jd->ns, *slot, +1);
}

static void jsd_consumer_free(struct js_deliver *jd, struct jsd_consumer *jc) {
    struct jsd_stream *st = jc->st;
    for (struct jsd_consumer **pp = &st->head; *pp; pp = &(*pp)->next)
        if (*pp == jc) {
            *pp = jc->next;
            break;
        }
    st->count--;
    jd->total--;
    nats_server_unsubscribe_internal(jd->ns, jc->ack_sub);
    nats_server_unsubscribe_internal(jd->ns, jc->fc_sub);
    jsd_route_announce(jd, &jc->ack_announced, NULL);
    jsd_route_announce(jd, &jc->fc_announced, NULL);
    consumer_free(jc->c);
    free(jc);
}

/* Deleted for good (API delete, inactivity, its stream gone): waiting pulls get 409 Consumer
 * Deleted (routed before the API reply that follows), and its keys go too. */
static void jsd_consumer_delete(struct js_deliver *jd, struct jsd_consumer *jc) {
    consumer_deleted(jc->c);
    if (jd->kv) jsd_unpersist(jd, jc);
    if (jd->sync_fn) jd->sync_fn(jd->sync_arg, NULL);
    jsd_consumer_free(jd, jc);
}

static void jsd_stream_drop(struct js_deliver *jd, struct jsd_stream *st, bool forget) {
    while (st->head) {
        if (forget) jsd_consumer_delete(jd, st->head);
        else jsd_consumer_free(jd, st->head);
    }
    if (st->watching) partition_watch_del(&st->watch);
    for (struct jsd_stream **pp = &jd->streams; *pp; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            break;
        }
    free(st);
}

/* ---- timer and new messages ----------------------------------------------------------------------- */

/* Called at the end of every event that ran consumers. */
static void jsd_rearm(struct js_deliver *jd) {
    uint64_t best = CONSUMER_NO_DEADLINE;
    for (struct jsd_stream *st = jd->streams; st; st = st->next)
        for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) {
            if (jc->doomed) best = 0;
            uint64_t d = consumer_next_deadline_ms(jc->c);
            if (d < best) best = d;
        }
    if (best == CONSUMER_NO_DEADLINE) {
        loop_timer_del(jd->loop, &jd->timer);
        return;
    }
    uint64_t now = jsd_mono(jd);
    loop_timer_add(jd->loop, &jd->timer, best < now ? now : best);
}

static void jsd_on_timer(struct loop_timer *t, uint64_t now_ms) {
    struct js_deliver *jd = sl_container_of(t, struct js_deliver, timer);
    for (struct jsd_stream *st = jd->streams; st; st = st->next) {
        for (struct jsd_consumer *jc = st->head, *next; jc; jc = next) {
            next = jc->next;
            if (jc->doomed) {
                jsd_consumer_delete(jd, jc);
                continue;
            }
            if (consumer_next_deadline_ms(jc->c) <= now_ms) consumer_tick(jc->c, now_ms);
        }
    }
    jsd_rearm(jd);
}

static void jsd_ack_replies_send(struct js_deliver *jd, struct jsd_ack_reply *r, bool send) {
    while (r) {
        struct jsd_ack_reply *next = r->next;
        if (send)
            nats_server_publish(jd->ns, (struct span){(const uint8_t *)r->subject, r->len}, (struct span){0},
                                (struct span){0}, (struct span){0});
        free(r);
        r = next;
    }
}

/* A replicated stream's replicas took the state that holds these acks (ok), or it could not be
 * told (the leadership went, or the limit passed): the replies go, or are dropped. */
static void jsd_sync_done(struct js_sync_waiter *w, bool ok) {
    struct jsd_sync *y = (struct jsd_sync *)w;
    struct js_deliver *jd = y->jd;
    if (jd) {
        if (y->prev) y->prev->next = y->next;
        else jd->syncs = y->next;
        if (y->next) y->next->prev = y->prev;
        jsd_ack_replies_send(jd, y->replies, ok);
    } else {
        jsd_ack_replies_send(NULL, y->replies, false);
    }
    free(y);
}

/* The metadata log holds the state writes of this turn: every reply held so far goes once all of
 * it is durable. On a log error the replies are dropped (the acks may be lost: the client's
 * AckSync times out rather than being told a lie). */
static void jsd_ack_replies_done(struct log_waiter *w, sl_err err) {
    struct js_deliver *jd = sl_container_of(w, struct js_deliver, ack_w);
    struct jsd_ack_reply *r = jd->waiting;
    jd->waiting = NULL;
    jd->ack_w_armed = false;
    if (err == SL_OK && r && jd->sync_fn) {
        /* Durable here; a replicated stream's replicas take the state next (cluster_streams.h). */
        struct jsd_sync *y = sl_xcalloc(1, sizeof(*y));
        y->w.done = jsd_sync_done;
        y->jd = jd;
        y->replies = r;
        y->next = jd->syncs;
        if (jd->syncs) jd->syncs->prev = y;
        jd->syncs = y;
        jd->sync_fn(jd->sync_arg, &y->w);
    } else {
        jsd_ack_replies_send(jd, r, err == SL_OK);
    }
    loop_timer_add(jd->loop, &jd->timer, jsd_mono(jd)); /* replies held meanwhile: next turn */
}

static void jsd_ack_replies_arm(struct js_deliver *jd) {
    struct log *g = kvlog_log(jd->kv);
    jd->waiting = jd->held;
    jd->held = NULL;
    jd->held_tail = &jd->held;
    int64_t end = log_end_offset(g);
    if (end <= 0) {
        struct jsd_ack_reply *r = jd->waiting;
        jd->waiting = NULL;
        jsd_ack_replies_send(jd, r, true);
        return;
    }
    jd->ack_w_armed = true;
    jd->ack_w.done = jsd_ack_replies_done;
    log_wait(g, &jd->ack_w, end - 1, true);
}

/* Once per loop turn: appends (any protocol) and removals by limits reach the consumers. The
 * NATS flush hook may already have run this turn, so deliveries made here arm the timer at once
 * for the loop not to sleep on them. */
static void jsd_before_sleep(void *arg, struct loop_time now) {
    struct js_deliver *jd = arg;
    bool any = false;
    for (struct jsd_stream *st = jd->streams; st; st = st->next) {
        if (!st->head) continue;
        /* Push consumers follow their deliver subject's interest (nats-server is told of each
         * change; once a turn here, and delivery runs check it too). */
        for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) {
            if (!consumer_is_push(jc->c)) continue;
            bool active = jsd_push_interest(jc);
            if (active == consumer_push_active(jc->c)) continue;
            consumer_push_set_active(jc->c, active, now.mono_ms);
            any = true;
        }
        /* Only removals the consumers did not make (limits, age, purge, MSG.DELETE): a resync
         * recounts pending over the whole stream, too much for every turn of acks. */
        uint64_t fr = stream_foreign_removals(st->s);
        if (fr != st->seen_foreign_removals) {
            for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) consumer_stream_resync(jc->c, now.mono_ms);
            any = true;
        }
        st->seen_foreign_removals = fr;
    }
    if (jd->kv) {
        if (jd->held || now.mono_ms - jd->last_state_ms >= JSD_STATE_PACE_MS) {
            /* The removals those acks made go in the same metadata batch (and, replicated, in
             * the same copy to the replicas). */
            if (jd->held || jd->sync_fn) streams_persist_now(jd->ss);
            if (jsd_persist_states(jd)) {
                any = true;
                jd->last_state_ms = now.mono_ms;
                if (jd->sync_fn) jd->sync_fn(jd->sync_arg, NULL);
            }
        } else if (!loop_timer_armed(&jd->state_timer) && jsd_states_dirty(jd)) {
            loop_timer_add(jd->loop, &jd->state_timer, jd->last_state_ms + JSD_STATE_PACE_MS);
        }
    }
    if (jd->held && !jd->ack_w_armed) jsd_ack_replies_arm(jd);
    if (any) loop_timer_add(jd->loop, &jd->timer, now.mono_ms);
}

/* ---- acks ------------------------------------------------------------------------------------------ */

static bool parse_u64(const char *p, size_t n, uint64_t *out) {
    if (!n || n > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* A Go duration ("5s", "1.5s", "300ms", "1m30s") in ms; -1 if it does not parse. */
static int64_t parse_go_duration_ms(const char *p, size_t n) {
    double total_ns = 0;
    size_t i = 0;
    if (!n) return -1;
    while (i < n) {
        size_t st = i;
        while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.')) i++;
        if (st == i) return -1;
        char num[32];
        if (i - st >= sizeof(num)) return -1;
        memcpy(num, p + st, i - st);
        num[i - st] = 0;
        double v = atof(num);
        size_t us = i;
        while (i < n && !((p[i] >= '0' && p[i] <= '9') || p[i] == '.')) i++;
        size_t ul = i - us;
        double mul;
        if (ul == 2 && !memcmp(p + us, "ns", 2)) mul = 1;
        else if (ul == 2 && (!memcmp(p + us, "us", 2))) mul = 1e3;
        else if (ul == 2 && !memcmp(p + us, "ms", 2)) mul = 1e6;
        else if (ul == 1 && p[us] == 's') mul = 1e9;
        else if (ul == 1 && p[us] == 'm') mul = 60e9;
        else if (ul == 1 && p[us] == 'h') mul = 3600e9;
        else return -1;
        total_ns += v * mul;
    }
    return (int64_t)(total_ns / 1e6);
}

static bool jsd_parse_pull(const uint8_t *p, size_t n, struct consumer_pull_req *req);

static void jsd_pull(struct jsd_consumer *jc, struct span reply, const struct consumer_pull_req *in) {
    if (!reply.len) return;
    struct jsd_target *t = sl_xmalloc(sizeof(*t) + reply.len + 1);
    t->len = reply.len;
    memcpy(t->reply, reply.p, reply.len);
    t->reply[reply.len] = 0;
    struct consumer_pull_req req = *in;
    req.target = t;
    if (!consumer_pull(jc->c, &req, jsd_mono(jc->jd))) free(t);
}

static void jsd_on_ack(struct sub *sub, const struct nats_msg *m) {
    struct jsd_consumer *jc = sub->owner;
    struct js_deliver *jd = jc->jd;
    /* $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> */
    const char *s = (const char *)m->subject.p;
    size_t len = m->subject.len;
    const char *tok[16];
    size_t tl[16], nt = 0;
    for (const char *p = s, *end = s + len; nt < 16;) { /* memchr: the byte loop was this function's cost */
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *stop = dot ? dot : end;
        tok[nt] = p;
        tl[nt++] = (size_t)(stop - p);
        if (!dot) break;
        p = dot + 1;
    }
    uint64_t deliveries, sseq, cseq;
    bool ok = nt == 9 && parse_u64(tok[4], tl[4], &deliveries) && parse_u64(tok[5], tl[5], &sseq) &&
              parse_u64(tok[6], tl[6], &cseq);
    const char *b = (const char *)m->payload.p;
    size_t bl = m->payload.len;
    uint64_t now = jsd_mono(jd);
    bool nxt = false, answered = false;
    if (ok) {
        /* Exactly "+ACK" or "+OK" (nats-server compares whole bodies): "+ACKX" is no ack. */
        if (bl == 0 || (bl == 4 && !memcmp(b, "+ACK", 4)) || (bl == 3 && !memcmp(b, "+OK", 3))) {
            consumer_ack(jc->c, CONSUMER_ACK, sseq, cseq, deliveries, 0, NULL, now);
        } else if (bl >= 4 && !memcmp(b, "+NXT", 4)) {
            consumer_ack(jc->c, CONSUMER_ACK, sseq, cseq, deliveries, 0, NULL, now);
            nxt = true;
        } else if (bl >= 4 && !memcmp(b, "-NAK", 4)) {
            int64_t delay_ms = -1;
            const char *r = b + 4;
            size_t rl = bl - 4;
            while (rl && *r == ' ') r++, rl--;
            if (rl && *r == '{') {
                json_error_t err;
                json_t *j = json_loadb(r, rl, 0, &err);
                json_t *d = j ? json_object_get(j, "delay") : NULL;
                if (json_is_integer(d) && json_integer_value(d) > 0) delay_ms = json_integer_value(d) / 1000000;
                if (j) json_decref(j);
            } else if (rl) {
                delay_ms = parse_go_duration_ms(r, rl);
            }
            consumer_ack(jc->c, CONSUMER_NAK, sseq, cseq, deliveries, delay_ms, NULL, now);
        } else if (bl >= 4 && !memcmp(b, "+WPI", 4)) {
            consumer_ack(jc->c, CONSUMER_PROGRESS, sseq, cseq, deliveries, 0, NULL, now);
        } else if (bl >= 5 && !memcmp(b, "+TERM", 5)) {
            char text[256] = "";
            const char *r = b + 5;
            size_t rl = bl - 5;
            while (rl && *r == ' ') r++, rl--;
            rl = SL_MIN(rl, sizeof(text) - 1);
            memcpy(text, r, rl);
            text[rl] = 0;
            consumer_ack(jc->c, CONSUMER_TERM, sseq, cseq, deliveries, 0, rl ? text : NULL, now);
        }
        jc->acked_active_ns = jsd_wall_ns(jd);
    }
    if (nxt && m->reply.len) {
        struct consumer_pull_req req;
        const uint8_t *p = m->payload.p + 4;
        size_t pl = m->payload.len - 4;
        while (pl && *p == ' ') p++, pl--;
        if (jsd_parse_pull(p, pl, &req)) jsd_pull(jc, m->reply, &req);
        answered = true;
    }
    if (!answered && m->reply.len) {
        if (jd->kv && ok) {
            struct jsd_ack_reply *r = sl_xmalloc(sizeof(*r) + m->reply.len);
            r->next = NULL;
            r->len = m->reply.len;
            memcpy(r->subject, m->reply.p, m->reply.len);
            *jd->held_tail = r;
            jd->held_tail = &r->next;
        } else {
            nats_server_publish(jd->ns, m->reply, (struct span){0}, (struct span){0}, (struct span){0});
        }
    }
    jsd_rearm(jd);
}

static const struct nats_deliver_ops jsd_ack_ops = {jsd_on_ack};

/* The answer to a FlowControl Request: $JS.FC.<stream>.<consumer>.<fc id>, any payload. */
static void jsd_on_fc(struct sub *sub, const struct nats_msg *m) {
    struct jsd_consumer *jc = sub->owner;
    const char *s = (const char *)m->subject.p;
    size_t len = m->subject.len, i = len;
    while (i > 0 && s[i - 1] != '.') i--;
    uint64_t id;
    if (!parse_u64(s + i, len - i, &id)) return;
    consumer_flow_control_ack(jc->c, id, jsd_mono(jc->jd));
    jsd_rearm(jc->jd);
}

static const struct nats_deliver_ops jsd_fc_ops = {jsd_on_fc};

/* ---- MSG.NEXT bodies ----------------------------------------------------------------------------- */

/* Empty: batch 1; a bare integer: batch; else JSON. False: not parseable. */
static bool jsd_parse_pull(const uint8_t *p, size_t n, struct consumer_pull_req *req) {
    memset(req, 0, sizeof(*req));
    req->batch = 1;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\r' || p[n - 1] == '\n')) n--;
    if (!n) return true;
    uint64_t v;
    if (parse_u64((const char *)p, n, &v)) {
        req->batch = (int64_t)v;
        return true;
    }
    json_error_t err;
    json_t *j = json_loadb((const char *)p, n, 0, &err);
    if (!j || !json_is_object(j)) {
        if (j) json_decref(j);
        return false;
    }
    json_t *x;
    if ((x = json_object_get(j, "batch")) && json_is_integer(x)) req->batch = json_integer_value(x);
    if ((x = json_object_get(j, "expires")) && json_is_integer(x)) req->expires_ns = json_integer_value(x);
    if ((x = json_object_get(j, "max_bytes")) && json_is_integer(x)) req->max_bytes = json_integer_value(x);
    if ((x = json_object_get(j, "idle_heartbeat")) && json_is_integer(x))
        req->idle_heartbeat_ns = json_integer_value(x);
    if ((x = json_object_get(j, "no_wait"))) req->no_wait = json_is_true(x);
    json_decref(j);
    return true;
}

/* ---- CONSUMER.* API ------------------------------------------------------------------------------ */

static const char *const deliver_names[] = {"all", "last", "new", "by_start_sequence", "by_start_time",
                                            "last_per_subject"};
static const char *const ack_names[] = {"none", "all", "explicit"};

static json_t *jsd_time(int64_t ns) {
    char t[64];
    jsapi_format_time(ns, t, sizeof(t));
    return json_string(t);
}

static void jsd_reply_json(struct js_deliver *jd, struct span reply, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    jsapi_reply(jd->api, reply, s, strlen(s));
    free(s);
    json_decref(o);
}

/* The config as CONSUMER.INFO shows it; store: as the metadata key keeps it (always named). */
static json_t *jsd_config_json(const struct jsd_consumer *jc, bool store) {
    const struct consumer_config *c = consumer_config(jc->c);
    json_t *o = json_object();
    if (c->durable) json_object_set_new(o, "durable_name", json_string(c->name));
    if (store || jc->named) json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "deliver_policy", json_string(deliver_names[c->deliver_policy]));
    if (c->opt_start_seq) json_object_set_new(o, "opt_start_seq", json_integer((json_int_t)c->opt_start_seq));
    if (c->opt_start_time_ns) json_object_set_new(o, "opt_start_time", jsd_time(c->opt_start_time_ns));
    json_object_set_new(o, "ack_policy", json_string(ack_names[c->ack_policy]));
    if (c->ack_wait_ms) json_object_set_new(o, "ack_wait", json_integer(c->ack_wait_ms * 1000000));
    if (c->max_deliver) json_object_set_new(o, "max_deliver", json_integer(c->max_deliver));
    if (c->backoff_count) {
        json_t *a = json_array();
        for (uint32_t i = 0; i < c->backoff_count; i++) json_array_append_new(a, json_integer(c->backoff_ms[i] * 1000000));
        json_object_set_new(o, "backoff", a);
    }
    if (c->filter_subject && *c->filter_subject) json_object_set_new(o, "filter_subject", json_string(c->filter_subject));
    json_object_set_new(o, "replay_policy", json_string(c->replay_original ? "original" : "instant"));
    if (c->max_waiting) json_object_set_new(o, "max_waiting", json_integer(c->max_waiting));
    if (c->max_ack_pending) json_object_set_new(o, "max_ack_pending", json_integer(c->max_ack_pending));
    if (c->idle_heartbeat_ms) json_object_set_new(o, "idle_heartbeat", json_integer(c->idle_heartbeat_ms * 1000000));
    if (c->flow_control) json_object_set_new(o, "flow_control", json_true());
    if (c->deliver_subject && *c->deliver_subject)
        json_object_set_new(o, "deliver_subject", json_string(c->deliver_subject));
    if (c->deliver_group && *c->deliver_group) json_object_set_new(o, "deliver_group", json_string(c->deliver_group));
    if (c->inactive_threshold_ms)
        json_object_set_new(o, "inactive_threshold", json_integer(c->inactive_threshold_ms * 1000000));
    json_object_set_new(o, "num_replicas", json_integer(0));
    return o;
}

static json_t *jsd_seq_json(uint64_t cseq, uint64_t sseq, int64_t active_ns) {
    json_t *o = json_object();
    json_object_set_new(o, "consumer_seq", json_integer((json_int_t)cseq));
    json_object_set_new(o, "stream_seq", json_integer((json_int_t)sseq));
    if (active_ns) json_object_set_new(o, "last_active", jsd_time(active_ns));
    return o;
}

static json_t *jsd_info_json(const struct jsd_consumer *jc, const char *type) {
    json_t *o = json_object();
    if (type) json_object_set_new(o, "type", json_string(type));
    struct consumer_info ci;
    consumer_info(jc->c, &ci);
    json_object_set_new(o, "stream_name", json_string(stream_name(jc->st->s)));
    json_object_set_new(o, "name", json_string(jc->name));
    json_object_set_new(o, "created", jsd_time(jc->created_ns));
    json_object_set_new(o, "config", jsd_config_json(jc, false));
    json_object_set_new(o, "delivered",
                        jsd_seq_json(ci.delivered_consumer_seq, ci.delivered_stream_seq, jc->delivered_active_ns));
    json_object_set_new(o, "ack_floor",
                        jsd_seq_json(ci.ack_floor_consumer_seq, ci.ack_floor_stream_seq, jc->acked_active_ns));
    json_object_set_new(o, "num_ack_pending", json_integer((json_int_t)ci.num_ack_pending));
    json_object_set_new(o, "num_redelivered", json_integer((json_int_t)ci.num_redelivered));
    json_object_set_new(o, "num_waiting", json_integer((json_int_t)ci.num_waiting));
    json_object_set_new(o, "num_pending", json_integer((json_int_t)ci.num_pending));
    if (consumer_push_active(jc->c)) json_object_set_new(o, "push_bound", json_true());
    return o;
}

static void jsd_err(struct js_deliver *jd, struct span reply, const char *kind, int code, int err_code,
                    const char *desc) {
    jsapi_reply_error(jd->api, reply, kind, code, err_code, desc, NULL);
}

static int json_enum(json_t *o, const char *key, const char *const *names, int n, int dflt, bool *bad) {
    json_t *x = json_object_get(o, key);
    if (!x) return dflt;
    if (!json_is_string(x)) {
        *bad = true;
        return dflt;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(json_string_value(x), names[i])) return i;
    *bad = true;
    return dflt;
}

static int64_t json_i64(json_t *o, const char *key) {
    json_t *x = json_object_get(o, key);
    return json_is_integer(x) ? json_integer_value(x) : 0;
}

static const char *json_str(json_t *o, const char *key) {
    json_t *x = json_object_get(o, key);
    return json_is_string(x) ? json_string_value(x) : NULL;
}

static const struct consumer_view jsd_view_proto = {
    view_next_seq, view_exists, view_first_seq, view_last_seq, view_msg_meta, view_seq_for_time,
    view_last_for_subject, NULL, NULL};

/* Every config field nats-server decodes has its Go type: a wrong one is "invalid JSON"
 * (10025) there, before any other check. null is Go's zero value. */
static bool jsd_config_types_ok(json_t *cj) {
    static const char *const ints[] = {"ack_wait",        "max_deliver", "opt_start_seq", "max_ack_pending",
                                       "max_waiting",     "idle_heartbeat", "inactive_threshold", "rate_limit_bps",
                                       "max_batch",       "max_expires", "max_bytes", "num_replicas"};
    static const char *const strs[] = {"durable_name",    "name",          "description", "deliver_subject",
                                       "deliver_group",   "filter_subject", "opt_start_time", "sample_freq"};
    static const char *const bools[] = {"flow_control", "headers_only", "mem_storage"};
    for (size_t i = 0; i < SL_ARRAY_LEN(ints); i++) {
        json_t *v = json_object_get(cj, ints[i]);
        if (v && !json_is_null(v) && !json_is_integer(v)) return false;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(strs); i++) {
        json_t *v = json_object_get(cj, strs[i]);
        if (v && !json_is_null(v) && !json_is_string(v)) return false;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(bools); i++) {
        json_t *v = json_object_get(cj, bools[i]);
        if (v && !json_is_null(v) && !json_is_boolean(v)) return false;
    }
    json_t *bo = json_object_get(cj, "backoff");
    if (bo && !json_is_null(bo)) {
        if (!json_is_array(bo)) return false;
        size_t i;
        json_t *v;
        json_array_foreach(bo, i, v) if (!json_is_integer(v)) return false;
    }
    return true;
}

/* What nats-server checks against the stream's subjects: a push consumer's deliver subject must
 * not be one the stream stores (10081), a filter must be within them (10093), and a pull
 * consumer has no rate limit (10086). NULL when fine. */
static const char *jsd_stream_rules(const struct stream_config *sc, const struct consumer_config *cfg,
                                    int64_t rate_limit, int *err_code) {
    if (cfg->deliver_subject && *cfg->deliver_subject) {
        for (uint32_t i = 0; i < sc->subject_count; i++)
            if (stream_subjects_overlap(cfg->deliver_subject, sc->subjects[i])) {
                *err_code = 10081;
                return "consumer deliver subject forms a cycle";
            }
    } else if (rate_limit > 0) {
        *err_code = 10086;
        return "consumer in pull mode can not have rate limit set";
    }
    /* ">" filters nothing out (nats.js's ordered consumers send it): nats-server takes it. */
    if (cfg->filter_subject && *cfg->filter_subject && strcmp(cfg->filter_subject, ">") != 0) {
        bool within = false;
        for (uint32_t i = 0; i < sc->subject_count && !within; i++)
            within = subject_valid(cfg->filter_subject) && subject_is_subset(cfg->filter_subject, sc->subjects[i]);
        if (!within) {
            *err_code = 10093;
            return "consumer filter subject is not a valid subset of the interest subjects";
        }
    }
    return NULL;
}

/* nats-server's checkNewConsumerConfig, for a create naming a consumer that exists with another
 * config: what can not change. NULL when only updatable fields differ. */
/* checkNewConsumerConfig: what an update may not change (500, 10012, this text), NULL if it may
 * go ahead. A deliver subject someone still listens on is refused by the caller (10013). */
static const char *jsd_update_refused(const struct consumer_config *ec, const struct consumer_config *nc) {
    if (ec->deliver_policy != nc->deliver_policy) return "deliver policy can not be updated";
    if (ec->opt_start_seq != nc->opt_start_seq) return "start sequence can not be updated";
    if (ec->opt_start_time_ns != nc->opt_start_time_ns) return "start time can not be updated";
    if (ec->ack_policy != nc->ack_policy) return "ack policy can not be updated";
    if (ec->replay_original != nc->replay_original) return "replay policy can not be updated";
    if (ec->idle_heartbeat_ms != nc->idle_heartbeat_ms) return "heart beats can not be updated";
    if (ec->flow_control != nc->flow_control) return "flow control can not be updated";
    if (ec->max_waiting != nc->max_waiting) return "max waiting can not be updated";
    bool epush = ec->deliver_subject && *ec->deliver_subject, npush = nc->deliver_subject && *nc->deliver_subject;
    if (epush && !npush) return "can not update push consumer to pull based";
    if (!epush && npush) return "can not update pull consumer to push based";
    return NULL;
}

static void jsd_consumer_delete(struct js_deliver *jd, struct jsd_consumer *jc);

static void jsd_park_unlink(struct jsd_park *p) {
    if (p->prev) p->prev->next = p->next;
    else if (p->jd) p->jd->parks = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

/* A replicated stream's replicas have the config too (ok), or could not be told: no reply then
 * (the client times out; the consumer stays where it was made). */
static void jsd_park_synced(struct js_sync_waiter *w, bool ok) {
    struct jsd_park *p = sl_container_of(w, struct jsd_park, sw);
    struct js_deliver *jd = p->jd;
    jsd_park_unlink(p);
    if (jd && ok) jsapi_reply(jd->api, (struct span){(const uint8_t *)p->reply, p->reply_len}, p->body, strlen(p->body));
    free(p->body);
    free(p);
}

/* The config is durable (or its write failed: the consumer goes, as if never created). */
static void jsd_park_fired(struct log_waiter *w, sl_err err) {
    struct jsd_park *p = (struct jsd_park *)w;
    struct js_deliver *jd = p->jd;
    if (jd && err == SL_OK && jd->sync_fn) {
        p->sw.done = jsd_park_synced;
        jd->sync_fn(jd->sync_arg, &p->sw);
        return;
    }
    jsd_park_unlink(p);
    struct span reply = {(const uint8_t *)p->reply, p->reply_len};
    if (jd && err == SL_OK) {
        jsapi_reply(jd->api, reply, p->body, strlen(p->body));
    } else if (jd && p->update) {
        SL_WARN("consumer %s/%s: updated config not stored (%s)", p->stream, p->name, sl_err_str(err));
        jsd_err(jd, reply, "consumer_create", 500, 10012, "insufficient resources");
    } else if (jd) {
        SL_WARN("consumer %s/%s: config not durable (%s): removed", p->stream, p->name, sl_err_str(err));
        struct stream *s = streams_get(jd->ss, p->stream, (uint32_t)strlen(p->stream));
        struct jsd_consumer *jc =
            s ? jsd_consumer_find(jsd_stream_find(jd, s, false), p->name, (uint32_t)strlen(p->name)) : NULL;
        if (jc) jsd_consumer_delete(jd, jc);
        jsd_err(jd, reply, "consumer_create", 500, 10012, "insufficient resources");
        jsd_rearm(jd);
    }
    free(p->body);
    free(p);
}

/* nats-server answers CONSUMER.CREATE once the consumer is stored: the reply waits for the
 * metadata write to be durable (group commit: the next sync). */
static void jsd_create_durable(struct js_deliver *jd, struct jsd_consumer *jc, struct span reply, bool update) {
    json_t *info = jsd_info_json(jc, JSD_TYPE "consumer_create_response");
    char *body = json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(info);
    struct jsd_park *p = sl_xcalloc(1, sizeof(*p) + reply.len + 1);
    p->w.done = jsd_park_fired;
    p->jd = jd;
    p->body = body;
    p->update = update;
    snprintf(p->stream, sizeof(p->stream), "%s", stream_name(jc->st->s));
    snprintf(p->name, sizeof(p->name), "%s", jc->name);
    p->reply_len = reply.len;
    if (reply.len) memcpy(p->reply, reply.p, reply.len);
    p->next = jd->parks;
    if (jd->parks) jd->parks->prev = p;
    jd->parks = p;
    json_t *cfg = jsd_config_json(jc, true);
    bool queued = jsd_persist_config(jd, jc, cfg, &p->w);
    json_decref(cfg);
    if (!queued) jsd_park_fired(&p->w, SL_IO);
}

/* CREATE for a consumer that exists: nats-server 2.9 updates it (updateConfig) after the checks
 * of checkNewConsumerConfig; the same config answers the consumer as it is. */
static void jsd_update(struct js_deliver *jd, struct jsd_consumer *jc, const struct consumer_config *cfg,
                       struct span reply) {
    static const char kind[] = "consumer_create";
    const struct consumer_config *ec = consumer_config(jc->c);
    const char *refused = jsd_update_refused(ec, cfg);
    if (refused) return jsd_err(jd, reply, kind, 500, 10012, refused);
    bool same = ec->ack_wait_ms == cfg->ack_wait_ms && ec->backoff_count == cfg->backoff_count &&
                !memcmp(ec->backoff_ms, cfg->backoff_ms, sizeof(ec->backoff_ms)) &&
                ec->max_deliver == cfg->max_deliver && ec->max_ack_pending == cfg->max_ack_pending &&
                ec->inactive_threshold_ms == cfg->inactive_threshold_ms &&
                sl_streq_opt(ec->filter_subject, cfg->filter_subject) &&
                sl_streq_opt(ec->deliver_subject, cfg->deliver_subject) && sl_streq_opt(ec->deliver_group, cfg->deliver_group);
    if (same) return jsd_reply_json(jd, reply, jsd_info_json(jc, JSD_TYPE "consumer_create_response"));
    /* A push consumer may move to another deliver subject only while nobody listens on its own. */
    if (!sl_streq_opt(ec->deliver_subject, cfg->deliver_subject) && jsd_push_interest(jc))
        return jsd_err(jd, reply, kind, 400, 10013, "consumer name already in use");
    /* On a work queue a new filter must not overlap another consumer's (nats-server 2.9 skips this
     * check on update; each message must still go to one consumer only). */
    if (!sl_streq_opt(ec->filter_subject, cfg->filter_subject) &&
        stream_config(jc->st->s)->retention == TOPIC_RETENTION_WORKQUEUE) {
        const char *others[256];
        uint32_t n = 0;
        for (struct jsd_consumer *o = jc->st->head; o && n < 256; o = o->next)
            if (o != jc) others[n++] = consumer_config(o->c)->filter_subject;
        struct consumer_cfg_error ce;
        if (consumer_check_workqueue(cfg, others, n, &ce) != SL_OK)
            return jsd_err(jd, reply, kind, ce.code, ce.err_code, ce.description);
    }
    uint64_t now = jsd_mono(jd);
    consumer_update(jc->c, cfg, now);
    if (consumer_is_push(jc->c)) consumer_push_set_active(jc->c, jsd_push_interest(jc), now);
    if (jd->kv && !jd->restoring) jsd_create_durable(jd, jc, reply, true);
    else jsd_reply_json(jd, reply, jsd_info_json(jc, JSD_TYPE "consumer_create_response"));
    jsd_rearm(jd);
}

/* CREATE.<stream>[.<consumer>[.<filter>]] and DURABLE.CREATE.<stream>.<durable>. */
static void jsd_create(struct js_deliver *jd, const char *args, size_t alen, bool durable_form,
                       const struct nats_msg *m) {
    static const char kind[] = "consumer_create";
    char sname[STREAM_NAME_MAX + 1] = "", cname[JSD_NAME_MAX + 1] = "", filter[1024] = "";
    const char *dot = memchr(args, '.', alen);
    size_t sl = dot ? (size_t)(dot - args) : alen;
    if (sl > STREAM_NAME_MAX) sl = STREAM_NAME_MAX;
    memcpy(sname, args, sl);
    if (dot) {
        const char *c = dot + 1;
        size_t rest = alen - sl - 1;
        const char *dot2 = durable_form ? NULL : memchr(c, '.', rest);
        size_t cl = dot2 ? (size_t)(dot2 - c) : rest;
        memcpy(cname, c, SL_MIN(cl, (size_t)JSD_NAME_MAX));
        if (dot2) {
            size_t fl = SL_MIN(rest - cl - 1, sizeof(filter) - 1);
            memcpy(filter, dot2 + 1, fl);
        }
    }
    /* nats-server's order: the body decodes (every field of its type), then the stream name and
     * the durable name rules, then the stream is looked up. */
    json_error_t jerr;
    json_t *body = m->payload.len ? json_loadb((const char *)m->payload.p, m->payload.len, 0, &jerr) : NULL;
    json_t *cj = body && json_is_object(body) ? json_object_get(body, "config") : NULL;
    json_t *bsj = body && json_is_object(body) ? json_object_get(body, "stream_name") : NULL;
    if (!body || !json_is_object(body) || (cj && !json_is_object(cj) && !json_is_null(cj)) ||
        (bsj && !json_is_string(bsj) && !json_is_null(bsj)) || (json_is_object(cj) && !jsd_config_types_ok(cj))) {
        if (body) json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, 10025, "invalid JSON");
    }
    const char *bstream = json_str(body, "stream_name");
    if (!bstream || strcmp(bstream, sname)) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, 10056, "stream name in subject does not match request");
    }
    if (!json_is_object(cj)) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, 10025, "invalid JSON");
    }
    struct consumer_config cfg = {0};
    bool bad = false;
    const char *durable = json_str(cj, "durable_name");
    const char *name = json_str(cj, "name");
    if (durable && !*durable) durable = NULL;
    const char *name_err = NULL;
    int name_code = 10017;
    if (durable_form && !durable) {
        name_err = "consumer expected to be durable but a durable name was not set";
        name_code = 10018;
    } else if (durable_form && strcmp(durable, cname)) {
        name_err = "consumer name in subject does not match durable name in request";
    } else if (!durable_form && cname[0] && ((name && strcmp(name, cname)) || (durable && strcmp(durable, cname)))) {
        name_err = "consumer name in subject does not match durable name in request";
    } else if (!durable_form && !cname[0] && durable) {
        name_err = "consumer expected to be ephemeral but a durable name was set in request";
        name_code = 10020;
    }
    if (name_err) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, name_code, name_err);
    }
    /* A durable's name is its group (see jsd_group_refused); the rules above made it cname. A
     * stored consumer comes back whatever the ACLs say now. */
    if ((durable_form || durable) && !jd->restoring &&
        !nats_acl_group_allowed(jd->ns, KAFKA_OP_READ, cname, strlen(cname))) {
        json_decref(body);
        return jsapi_reply_denied(jd->api, m->reply, kind, KAFKA_OP_READ, KAFKA_RES_GROUP, cname, strlen(cname));
    }
    struct stream *s = streams_get(jd->ss, sname, (uint32_t)strlen(sname));
    if (!s) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 404, 10059, "stream not found");
    }
    char gen[23]; /* jsd_random_id writes 22 characters and a NUL; a consumer name keeps 8 */
    if (durable && *durable) {
        cfg.name = durable;
        cfg.durable = true;
    } else if (name && *name) {
        cfg.name = name;
    } else if (cname[0]) {
        cfg.name = cname;
        cfg.durable = durable_form;
    } else {
        jsd_random_id(jd, gen);
        gen[8] = 0;
        cfg.name = gen;
    }
    if (durable_form) cfg.durable = true;
    cfg.deliver_policy = (enum consumer_deliver_policy)json_enum(cj, "deliver_policy", deliver_names, 6, 0, &bad);
    cfg.ack_policy = (enum consumer_ack_policy)json_enum(cj, "ack_policy", ack_names, 3, 0, &bad);
    static const char *const replay_names[] = {"instant", "original"};
    cfg.replay_original = json_enum(cj, "replay_policy", replay_names, 2, 0, &bad) == 1;
    cfg.opt_start_seq = (uint64_t)json_i64(cj, "opt_start_seq");
    cfg.ack_wait_ms = json_i64(cj, "ack_wait") / 1000000;
    cfg.max_deliver = json_i64(cj, "max_deliver");
    json_t *bo = json_object_get(cj, "backoff");
    if (json_is_array(bo)) {
        size_t i;
        json_t *v;
        json_array_foreach(bo, i, v) {
            if (i >= CONSUMER_BACKOFF_MAX) break;
            cfg.backoff_ms[i] = json_integer_value(v) / 1000000;
            cfg.backoff_count = (uint32_t)i + 1;
        }
    }
    const char *fs = json_str(cj, "filter_subject");
    if (filter[0] && fs && strcmp(fs, filter)) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, 10093, "consumer create request did not match filtered subject from create subject");
    }
    cfg.filter_subject = fs ? fs : (filter[0] ? filter : NULL);
    cfg.max_ack_pending = json_i64(cj, "max_ack_pending");
    cfg.max_waiting = json_i64(cj, "max_waiting");
    cfg.deliver_subject = json_str(cj, "deliver_subject");
    cfg.deliver_group = json_str(cj, "deliver_group");
    cfg.flow_control = json_is_true(json_object_get(cj, "flow_control"));
    cfg.idle_heartbeat_ms = json_i64(cj, "idle_heartbeat") / 1000000;
    cfg.inactive_threshold_ms = json_i64(cj, "inactive_threshold") / 1000000;
    if (bad) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, 10025, "invalid JSON");
    }
    const struct stream_config *sc = stream_config(s);
    struct consumer_stream_params sp = {
        .retention = sc->retention == TOPIC_RETENTION_WORKQUEUE  ? CONSUMER_RETENTION_WORKQUEUE
                     : sc->retention == TOPIC_RETENTION_INTEREST ? CONSUMER_RETENTION_INTEREST
                                                                 : CONSUMER_RETENTION_LIMITS,
        /* Always: the dead-letter stream is looked up when a message dead-letters
         * (streams_dlq_of), so a DLQ configured later counts; with none it stays (keep_seq). */
        .dead_letter = true,
    };
    struct consumer_cfg_error ce;
    if (consumer_config_check(&cfg, &sp, &ce) != SL_OK) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, ce.code, ce.err_code, ce.description);
    }
    int rule_code = 0;
    const char *rule = jsd_stream_rules(sc, &cfg, json_i64(cj, "rate_limit_bps"), &rule_code);
    if (rule) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, rule_code, rule);
    }
    struct jsd_stream *st = jsd_stream_find(jd, s, true);
    struct jsd_consumer *existing = jsd_consumer_find(st, cfg.name, (uint32_t)strlen(cfg.name));
    if (existing) {
        jsd_update(jd, existing, &cfg, m->reply);
        json_decref(body); /* cfg's strings point into it */
        return;
    }
    if (sp.retention == CONSUMER_RETENTION_WORKQUEUE) {
        const char *others[256];
        uint32_t n = 0;
        for (struct jsd_consumer *o = st->head; o && n < 256; o = o->next) others[n++] = consumer_config(o->c)->filter_subject;
        if (consumer_check_workqueue(&cfg, others, n, &ce) != SL_OK) {
            json_decref(body);
            return jsd_err(jd, m->reply, kind, ce.code, ce.err_code, ce.description);
        }
    }
    if (sc->max_consumers > 0 && st->count >= (uint64_t)sc->max_consumers) {
        json_decref(body);
        return jsd_err(jd, m->reply, kind, 400, 10026, "maximum consumers limit reached");
    }
    struct jsd_consumer *jc = sl_xcalloc(1, sizeof(*jc));
    jc->jd = jd;
    jc->st = st;
    snprintf(jc->name, sizeof(jc->name), "%s", cfg.name);
    jc->named = cfg.name != gen;
    jc->created_ns = jsd_wall_ns(jd);
    struct consumer_view view = jsd_view_proto;
    view.arg = st;
    struct consumer_ops ops = {jsd_deliver, jsd_status, jsd_advisory, jsd_remove, jsd_dead_letter,
                               jsd_release, jsd_inactive, jc,          jsd_interest};
    jc->c = consumer_new(&cfg, &sp, &view, &ops, jsd_mono(jd));
    json_decref(body);
    if (!jc->c) {
        free(jc);
        return jsd_err(jd, m->reply, kind, 500, 10012, "insufficient resources");
    }
    char ack[600];
    snprintf(ack, sizeof(ack), "$JS.ACK.%s.%s.>", stream_name(s), jc->name);
    jc->ack_sub = nats_server_subscribe_internal(jd->ns, ack, NULL, &jsd_ack_ops, jc);
    if (jc->ack_sub) jsd_route_announce(jd, &jc->ack_announced, ack);
    if (cfg.flow_control) {
        char fc[600];
        snprintf(fc, sizeof(fc), "$JS.FC.%s.%s.*", stream_name(s), jc->name);
        jc->fc_sub = nats_server_subscribe_internal(jd->ns, fc, NULL, &jsd_fc_ops, jc);
        if (jc->fc_sub) jsd_route_announce(jd, &jc->fc_announced, fc);
    }
    jc->next = st->head;
    st->head = jc;
    st->count++;
    jd->total++;
    if (consumer_is_push(jc->c)) consumer_push_set_active(jc->c, jsd_push_interest(jc), jsd_mono(jd));
    if (jd->kv && !jd->restoring) {
        jsd_create_durable(jd, jc, m->reply, false);
    } else {
        jsd_reply_json(jd, m->reply, jsd_info_json(jc, JSD_TYPE "consumer_create_response"));
    }
    jsd_rearm(jd);
}

/* ---- ACLs: a durable consumer's name is a group resource ----
 * With kafka_authorizer on, besides READ on the stream's topic (jsapi.c), a durable consumer is
 * the Kafka consumer group of its name: creating or updating it and pulling from it need READ on
 * the group (JoinGroup, Fetch in a group), deleting it DELETE (DeleteGroups), its info DESCRIBE
 * (DescribeGroups), and NAMES / LIST leave out the durables whose group the principal may not
 * DESCRIBE (ListGroups), and from the counts (STREAM.INFO, $JS.API.INFO). Ephemerals need only
 * the stream's. A name that is no consumer is
 * checked as a group, so a refusal tells nothing of whether the consumer exists (as Kafka refuses
 * a group it may not see whether or not the group exists). */

static bool jsd_durable(const struct jsd_consumer *jc) { return consumer_config(jc->c)->durable; }

/* May the requesting principal see jc (NAMES, LIST, the counts)? As ListGroups: a durable if its
 * group may be DESCRIBEd; an ephemeral always. */
static bool jsd_visible(struct js_deliver *jd, const struct jsd_consumer *jc) {
    return !jsd_durable(jc) || nats_acl_group_allowed(jd->ns, KAFKA_OP_DESCRIBE, jc->name, strlen(jc->name));
}

/* True (and answered: a 403 for kind, a 403 status for a pull) when op on the group of the
 * consumer named c (jc, or NULL if there is none) is refused. */
static bool jsd_group_refused(struct js_deliver *jd, const struct jsd_consumer *jc, const char *c, size_t cl,
                              int8_t op, const char *kind, const struct nats_msg *m) {
    if ((jc && !jsd_durable(jc)) || nats_acl_group_allowed(jd->ns, op, c, cl)) return false;
    if (kind) jsapi_reply_denied(jd->api, m->reply, kind, op, KAFKA_RES_GROUP, c, cl);
    else jsapi_reply_denied_pull(jd->api, m->reply, op, KAFKA_RES_GROUP, c, cl);
    return true;
}

/* Splits "<stream>.<consumer>" (nothing after) and finds both, answering a 404 for kind (none
 * when kind is NULL); group_op on the consumer's group is checked before "consumer not found". */
static bool jsd_two(const char *args, size_t alen, struct js_deliver *jd, struct stream **s, struct jsd_consumer **jc,
                    const char *kind, int8_t group_op, const struct nats_msg *m) {
    const char *dot = memchr(args, '.', alen);
    if (!dot) return false;
    uint32_t sl = (uint32_t)(dot - args);
    *s = streams_get(jd->ss, args, sl);
    if (!*s) {
        if (kind) jsd_err(jd, m->reply, kind, 404, 10059, "stream not found");
        return false;
    }
    const char *c = dot + 1;
    size_t cl = alen - sl - 1;
    if (memchr(c, '.', cl)) return false;
    *jc = jsd_consumer_find(jsd_stream_find(jd, *s, false), c, (uint32_t)cl);
    if (jsd_group_refused(jd, *jc, c, cl, group_op, kind, m)) return false;
    if (!*jc) {
        if (kind) jsd_err(jd, m->reply, kind, 404, 10014, "consumer not found");
        return false;
    }
    return true;
}

static int jsd_cmp_names(const void *a, const void *b) {
    return strcmp((*(struct jsd_consumer *const *)a)->name, (*(struct jsd_consumer *const *)b)->name);
}

static void jsd_names_list(struct js_deliver *jd, const char *args, size_t alen, bool list, const struct nats_msg *m) {
    const char *kind = list ? "consumer_list" : "consumer_names";
    static const char extra[] = ",\"total\":0,\"offset\":0,\"limit\":0,\"consumers\":[]";
    if (memchr(args, '.', alen)) return;
    int64_t offset = 0;
    if (m->payload.len) {
        json_error_t jerr;
        json_t *b = json_loadb((const char *)m->payload.p, m->payload.len, 0, &jerr);
        json_t *off = b && json_is_object(b) ? json_object_get(b, "offset") : NULL;
        if (!b || !json_is_object(b) || (off && !json_is_integer(off) && !json_is_null(off))) {
            if (b) json_decref(b);
            return jsapi_reply_error(jd->api, m->reply, kind, 400, 10025, "invalid JSON", extra);
        }
        offset = json_i64(b, "offset");
        json_decref(b);
    }
    struct stream *s = streams_get(jd->ss, args, (uint32_t)alen);
    if (!s) return jsapi_reply_error(jd->api, m->reply, kind, 404, 10059, "stream not found", extra);
    struct jsd_stream *st = jsd_stream_find(jd, s, false);
    uint32_t n = st ? st->count : 0;
    struct jsd_consumer **all = sl_xcalloc(n ? n : 1, sizeof(*all));
    uint32_t k = 0;
    for (struct jsd_consumer *jc = st ? st->head : NULL; jc; jc = jc->next)
        if (jsd_visible(jd, jc)) all[k++] = jc;
    n = k;
    qsort(all, n, sizeof(*all), jsd_cmp_names);
    int64_t limit = list ? 256 : 1024;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(list ? JSD_TYPE "consumer_list_response" : JSD_TYPE "consumer_names_response"));
    json_object_set_new(o, "total", json_integer(n));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_t *a = json_array();
    for (int64_t i = offset < 0 ? 0 : offset; i < n && i - offset < limit; i++)
        json_array_append_new(a, list ? jsd_info_json(all[i], NULL) : json_string(all[i]->name));
    json_object_set_new(o, list ? "consumers" : "consumers", a);
    free(all);
    jsd_reply_json(jd, m->reply, o);
}

static bool starts(const char *p, size_t n, const char *pre, const char **rest, size_t *rl) {
    size_t l = strlen(pre);
    if (n <= l || memcmp(p, pre, l)) return false;
    *rest = p + l;
    *rl = n - l;
    return true;
}

/* nats-server's isEmptyRequest: no body, or a JSON object without members. */
static bool jsd_empty_request(const struct nats_msg *m) {
    if (!m->payload.len) return true;
    json_error_t jerr;
    json_t *b = json_loadb((const char *)m->payload.p, m->payload.len, 0, &jerr);
    bool empty = b && json_is_object(b) && json_object_size(b) == 0;
    if (b) json_decref(b);
    return empty;
}

static void jsd_request(void *arg, struct jsapi *api, struct span rest, const struct nats_msg *m) {
    struct js_deliver *jd = arg;
    (void)api;
    const char *p = (const char *)rest.p, *a;
    size_t n = rest.len, al;
    struct stream *s;
    struct jsd_consumer *jc;
    if (starts(p, n, "CREATE.", &a, &al)) {
        jsd_create(jd, a, al, false, m);
    } else if (starts(p, n, "DURABLE.CREATE.", &a, &al)) {
        jsd_create(jd, a, al, true, m);
    } else if (starts(p, n, "INFO.", &a, &al)) {
        if (!jsd_empty_request(m))
            jsd_err(jd, m->reply, "consumer_info", 400, 10038, "expected an empty request payload");
        else if (jsd_two(a, al, jd, &s, &jc, "consumer_info", KAFKA_OP_DESCRIBE, m)) {
            consumer_check_waiting(jc->c, jsd_mono(jd)); /* num_waiting counts live requests only */
            jsd_reply_json(jd, m->reply, jsd_info_json(jc, JSD_TYPE "consumer_info_response"));
        }
    } else if (starts(p, n, "DELETE.", &a, &al)) {
        if (!jsd_empty_request(m))
            jsd_err(jd, m->reply, "consumer_delete", 400, 10038, "expected an empty request payload");
        else if (jsd_two(a, al, jd, &s, &jc, "consumer_delete", KAFKA_OP_DELETE, m)) {
            jsd_consumer_delete(jd, jc);
            static const char ok[] = "{\"type\":\"" JSD_TYPE "consumer_delete_response\",\"success\":true}";
            jsapi_reply(jd->api, m->reply, ok, sizeof(ok) - 1);
        }
    } else if (starts(p, n, "NAMES.", &a, &al)) {
        jsd_names_list(jd, a, al, false, m);
    } else if (starts(p, n, "LIST.", &a, &al)) {
        jsd_names_list(jd, a, al, true, m);
    } else if (starts(p, n, "MSG.NEXT.", &a, &al)) {
        if (!jsd_two(a, al, jd, &s, &jc, NULL, KAFKA_OP_READ, m)) return;
        struct consumer_pull_req req;
        if (!jsd_parse_pull(m->payload.p, m->payload.len, &req)) {
            struct consumer_pull_req one = {.batch = 1};
            req = one;
        }
        jsd_pull(jc, m->reply, &req);
    }
    jsd_rearm(jd);
}

/* STREAM.INFO's consumer_count and $JS.API.INFO's consumers: with the authorizer on, only the
 * consumers the principal may see, so a count tells nothing of the others. */
static uint32_t jsd_count(void *arg, const struct stream *s) {
    struct js_deliver *jd = arg;
    struct jsd_stream *st = jsd_stream_find(jd, s, false);
    if (!st || !jd->ns->cfg->kafka_authorizer) return st ? st->count : 0;
    uint32_t n = 0;
    for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) n += jsd_visible(jd, jc);
    return n;
}

static uint32_t jsd_total(void *arg) { return ((struct js_deliver *)arg)->total; }

static void jsd_stream_gone(void *arg, struct stream *s) {
    struct jsd_stream *st = jsd_stream_find(arg, s, false);
    if (st) jsd_stream_drop(arg, st, true);
}

static void jsd_stream_purged(void *arg, struct stream *s) {
    struct js_deliver *jd = arg;
    struct jsd_stream *st = jsd_stream_find(jd, s, false);
    for (struct jsd_consumer *jc = st ? st->head : NULL; jc; jc = jc->next) consumer_stream_purged(jc->c, jsd_mono(jd));
    jsd_rearm(jd);
}

static void jsd_msg_removed(void *arg, struct stream *s, uint64_t seq, const char *subject) {
    struct js_deliver *jd = arg;
    struct jsd_stream *st = jsd_stream_find(jd, s, false);
    for (struct jsd_consumer *jc = st ? st->head : NULL; jc; jc = jc->next)
        consumer_stream_removed(jc->c, seq, subject, jsd_mono(jd));
    jsd_rearm(jd);
}

struct jsd_restore {
    char **values;
    uint32_t count, cap;
};

static void jsd_collect(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    struct jsd_restore *r = arg;
    static const char pre[] = "consumer/", suf[] = "/config";
    if (key_len < sizeof(pre) + sizeof(suf) - 2 || memcmp(key, pre, sizeof(pre) - 1) ||
        memcmp(key + key_len - (sizeof(suf) - 1), suf, sizeof(suf) - 1))
        return;
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->values = sl_xrealloc(r->values, r->cap * sizeof(*r->values));
    }
    char *v = sl_xmalloc(value_len + 1);
    memcpy(v, value, value_len);
    v[value_len] = 0;
    r->values[r->count++] = v;
}

/* Recreates the stored consumers (only's, or every stream's), then puts back their delivery
 * state. A replicated stream's consumers run on its leader alone (js_stream_served_here): on
 * the other brokers their keys wait, kept current by the leader (cluster_streams.h), for
 * js_deliver_lead. */
static void jsd_restore_all(struct js_deliver *jd, const struct stream *only) {
    struct jsd_restore r = {0};
    kvlog_foreach(jd->kv, jsd_collect, &r);
    jd->restoring = true;
    for (uint32_t i = 0; i < r.count; i++) {
        json_error_t jerr;
        json_t *o = json_loads(r.values[i], 0, &jerr);
        const char *sname = o ? json_str(o, "stream") : NULL;
        json_t *cfg = o ? json_object_get(o, "config") : NULL;
        struct stream *s = sname ? streams_get(jd->ss, sname, (uint32_t)strlen(sname)) : NULL;
        const char *cname = cfg ? json_str(cfg, "name") : NULL;
        if (s && cname && ((only && s != only) || !js_stream_served_here(jd->ns, s))) {
            /* another stream's, or one another broker leads */
        } else if (!s || !cname) {
            SL_WARN("stored consumer config not restored: %s", r.values[i]);
        } else {
            json_t *body = json_object();
            json_object_set_new(body, "stream_name", json_string(sname));
            json_object_set(body, "config", cfg);
            char *b = json_dumps(body, JSON_COMPACT);
            struct nats_msg m = {.payload = {(const uint8_t *)b, (uint32_t)strlen(b)}};
            /* As CREATE.<stream>.<name>: the form whose name rules a stored config meets. */
            char args[STREAM_NAME_MAX + JSD_NAME_MAX + 2];
            int al = snprintf(args, sizeof(args), "%s.%s", sname, cname);
            jsd_create(jd, args, (size_t)SL_MIN(al, (int)sizeof(args) - 1), false, &m);
            free(b);
            json_decref(body);
            struct jsd_consumer *jc = jsd_consumer_find(jsd_stream_find(jd, s, false), cname, (uint32_t)strlen(cname));
            if (!jc) {
                SL_WARN("stored consumer %s/%s not restored", sname, cname);
            } else {
                jc->created_ns = json_i64(o, "created");
                jc->named = !json_is_false(json_object_get(o, "named"));
                char key[600];
                int kl = jsd_key(key, sizeof(key), sname, cname, "state");
                uint32_t vl;
                const uint8_t *v = kvlog_get(jd->kv, key, (uint32_t)kl, &vl);
                if (v && consumer_decode_state(jc->c, v, vl, jsd_mono(jd)) != SL_OK)
                    SL_WARN("consumer %s/%s: stored state unreadable, starting over", sname, cname);
                consumer_take_dirty(jc->c);
            }
        }
        if (o) json_decref(o);
        free(r.values[i]);
    }
    free(r.values);
    jd->restoring = false;
    jsd_rearm(jd);
}

struct js_deliver *js_deliver_start(struct nats_server *ns, struct loop *l, struct streams *ss, struct jsapi *api,
                                    struct topics *t) {
    struct js_deliver *jd = sl_xcalloc(1, sizeof(*jd));
    jd->ns = ns;
    jd->loop = l;
    jd->ss = ss;
    jd->api = api;
    jd->held_tail = &jd->held;
    jd->timer.fire = jsd_on_timer;
    jd->state_timer.fire = jsd_state_timer_fire;
    static const struct jsapi_consumer_ops ops = {jsd_request,     jsd_count,         jsd_total,
                                                  jsd_stream_gone, jsd_stream_purged, jsd_msg_removed};
    jsapi_set_consumer_ops(api, &ops, jd);
    loop_add_before_sleep(l, jsd_before_sleep, jd);
    jd->kv = t ? topics_metadata(t) : NULL;
    if (jd->kv) jsd_restore_all(jd, NULL);
    return jd;
}

void js_deliver_lead(struct js_deliver *jd, struct stream *s, bool served) {
    struct jsd_stream *st = jsd_stream_find(jd, s, false);
    if (served) {
        if (jd->kv && (!st || !st->head)) jsd_restore_all(jd, s);
        return;
    }
    if (!st) return;
    /* Another broker leads it now: what changed here is written (the new leader's copy will
     * overwrite it), and the consumers go from memory, their keys kept. */
    if (jd->kv) jsd_persist_states(jd);
    jsd_stream_drop(jd, st, false);
    jsd_rearm(jd);
}

void js_deliver_set_sync(struct js_deliver *jd, js_sync_fn fn, void *arg) {
    if (!jd) return;
    jd->sync_fn = fn;
    jd->sync_arg = arg;
}

int js_deliver_key_prefix(const char *stream, char *out, size_t cap) {
    return snprintf(out, cap, "consumer/%s/", stream);
}

void js_deliver_stop(struct js_deliver *jd) {
    if (!jd) return;
    static const struct jsapi_consumer_ops none = {0};
    jsapi_set_consumer_ops(jd->api, &none, NULL);
    loop_remove_before_sleep(jd->loop, jd);
    loop_timer_del(jd->loop, &jd->state_timer);
    loop_timer_del(jd->loop, &jd->timer);
    /* Create replies still waiting are dropped: their waiters fire later, detached. */
    while (jd->parks) {
        struct jsd_park *p = jd->parks;
        jsd_park_unlink(p);
        p->jd = NULL;
    }
    for (struct jsd_sync *y = jd->syncs; y; y = y->next) y->jd = NULL; /* their hook fires later */
    jd->syncs = NULL;
    if (jd->kv) {
        jsd_persist_states(jd);
        /* Settle the AckSync replies while the server still runs (as js_ingest does PubAcks). */
        if (jd->held && !jd->ack_w_armed) jsd_ack_replies_arm(jd);
        if (jd->ack_w_armed) log_flush(kvlog_log(jd->kv), true, 10000);
        if (jd->ack_w_armed) SL_WARN("AckSync replies not sent: the metadata log did not settle");
        jsd_ack_replies_send(jd, jd->held, false);
    }
    while (jd->streams) jsd_stream_drop(jd, jd->streams, false);
    free(jd->state_buf);
    free(jd);
}

/* ---- /metrics ------------------------------------------------------------------------------------- */

uint32_t js_deliver_consumer_count(const struct js_deliver *jd) { return jd ? jd->total : 0; }

void js_deliver_metrics(struct js_deliver *jd, struct prom *p) {
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"sluice_jetstream_consumer_pending_messages", "Messages matching the consumer's filter not yet delivered (num_pending)."},
        {"sluice_jetstream_consumer_ack_pending_messages", "Messages delivered and not yet acknowledged (num_ack_pending)."},
        {"sluice_jetstream_consumer_redelivered_messages", "Pending messages delivered more than once (num_redelivered)."},
        {"sluice_jetstream_consumer_waiting_requests", "Pull requests waiting (num_waiting)."},
    };
    char labels[512];
    for (size_t f = 0; f < SL_ARRAY_LEN(fam); f++) {
        prom_family(p, fam[f].name, "gauge", fam[f].help);
        for (struct jsd_stream *st = jd->streams; st; st = st->next)
            for (struct jsd_consumer *jc = st->head; jc; jc = jc->next) {
                struct consumer_info ci;
                consumer_info(jc->c, &ci);
                uint64_t v = f == 0 ? ci.num_pending : f == 1 ? ci.num_ack_pending : f == 2 ? ci.num_redelivered : ci.num_waiting;
                prom_labels(labels, sizeof(labels), "stream", stream_name(st->s), "consumer", jc->name, NULL);
                prom_u64(p, fam[f].name, labels, v);
            }
    }
    prom_family(p, "sluice_jetstream_dlq_appends_total", "counter",
                "Messages copied to a dead-letter stream (max deliveries reached or terminated).");
    prom_u64(p, "sluice_jetstream_dlq_appends_total", NULL, jd->dlq_appends);
    prom_family(p, "sluice_jetstream_workqueue_removals_total", "counter",
                "Messages removed from work-queue and interest streams once acknowledged.");
    prom_u64(p, "sluice_jetstream_workqueue_removals_total", NULL, jd->wq_removals);
}
