/* jsapi.c: the JetStream API service on $JS.API.> (see jsapi.h). */
#include "broker/nats/jsapi.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/logging.h"
#include "base/loop.h"
#include "broker/core/acl.h"
#include "broker/core/cluster_view.h"
#include "broker/core/stream.h"
#include "broker/core/subject.h"
#include "broker/nats/js_ingest.h"
#include "broker/nats/nats_acl.h"
#include "broker/nats/nats_route.h"
#include "broker/nats/nats_server.h"
#include "broker/nats/sublist.h"

#define JSAPI_PREFIX "$JS.API."
#define JSAPI_TYPE "io.nats.jetstream.api.v1."
#define JSAPI_NAMES_LIMIT 1024
#define JSAPI_LIST_LIMIT 256

struct jsapi {
    struct nats_server *ns;
    struct streams *ss;
    struct js_ingest *ji;
    struct nsub *sub;
    struct jsapi_consumer_ops cops;
    void *cops_arg;
    uint64_t total, errors;
    struct jsapi_create *creates; /* STREAM.CREATEs waiting for their topics */
    struct loop_timer reach_timer; /* created placed streams waiting for their leader's reach */
};

/* ---- answers -------------------------------------------------------------------------------------- */

void jsapi_reply(struct jsapi *api, struct span reply, const char *body, size_t len) {
    if (!reply.len) return;
    nats_server_publish(api->ns, reply, (struct span){0}, (struct span){0},
                        (struct span){(const uint8_t *)body, (uint32_t)len});
}

/* Appends s to out as the inside of a JSON string the way Go's encoder writes it (quotes and
 * backslashes escaped, '<', '>' and '&' as \u003c, \u003e, \u0026), so a description naming a
 * subject matches nats-server byte for byte. */
static void jsapi_go_escape(char *out, size_t cap, const char *s) {
    size_t n = strlen(out);
    for (; *s && n + 7 < cap; s++) {
        if (*s == '"' || *s == '\\') {
            out[n++] = '\\';
            out[n++] = *s;
        } else if (*s == '<' || *s == '>' || *s == '&') {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", (unsigned)*s);
        } else {
            out[n++] = *s;
        }
    }
    out[n] = 0;
}

void jsapi_reply_error(struct jsapi *api, struct span reply, const char *kind, int code, int err_code,
                       const char *desc, const char *extra) {
    api->errors++;
    char text[1024] = "";
    jsapi_go_escape(text, sizeof(text), desc); /* as Go writes it: '>' is \u003e */
    char body[1280];
    int n = snprintf(body, sizeof(body),
                     "{\"type\":\"" JSAPI_TYPE "%s_response\",\"error\":{\"code\":%d,\"err_code\":%d,"
                     "\"description\":\"%s\"}%s}",
                     kind, code, err_code, text, extra ? extra : "");
    jsapi_reply(api, reply, body, (size_t)SL_MIN(n, (int)sizeof(body) - 1));
}

static void jsapi_reply_json(struct jsapi *api, struct span reply, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    jsapi_reply(api, reply, s, strlen(s));
    free(s);
    json_decref(o);
}

static json_t *jsapi_response(const char *kind) {
    json_t *o = json_object();
    char type[128];
    snprintf(type, sizeof(type), JSAPI_TYPE "%s_response", kind);
    json_object_set_new(o, "type", json_string(type));
    return o;
}

struct streams *jsapi_streams(const struct jsapi *api) { return api->ss; }
struct nats_server *jsapi_server(const struct jsapi *api) { return api->ns; }

void jsapi_format_time(int64_t ns, char *out, size_t cap) {
    if (ns == INT64_MIN) {
        snprintf(out, cap, "0001-01-01T00:00:00Z");
        return;
    }
    time_t sec = (time_t)(ns / 1000000000);
    int64_t frac = ns % 1000000000;
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[64];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!frac) {
        snprintf(out, cap, "%sZ", base);
        return;
    }
    char f[16];
    snprintf(f, sizeof(f), "%09lld", (long long)frac);
    size_t fl = 9;
    while (fl > 0 && f[fl - 1] == '0') fl--;
    f[fl] = 0;
    snprintf(out, cap, "%s.%sZ", base, f);
}

static json_t *jsapi_time(int64_t ns) {
    char t[64];
    jsapi_format_time(ns, t, sizeof(t));
    return json_string(t);
}

static char *jsapi_b64(const uint8_t *p, uint32_t len) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = sl_xmalloc((size_t)(len + 2) / 3 * 4 + 1), *w = out;
    uint32_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *w++ = tbl[v >> 18];
        *w++ = tbl[(v >> 12) & 63];
        *w++ = tbl[(v >> 6) & 63];
        *w++ = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *w++ = tbl[v >> 18];
        *w++ = tbl[(v >> 12) & 63];
        *w++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *w++ = '=';
    }
    *w = 0;
    return out;
}

/* ---- stream config <-> JSON ---------------------------------------------------------------------- */

static const char *const retention_names[] = {"limits", "workqueue", "interest"};

static bool json_int_field(json_t *o, const char *key, int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) return false;
    *out = json_integer_value(v);
    return true;
}

static bool json_bool_field(json_t *o, const char *key, bool *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return false;
    *out = json_is_true(v);
    return true;
}

/* A string field that must be one of names (index in *out); false on a wrong type or value. */
static bool json_enum_field(json_t *o, const char *key, const char *const *names, int n, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return false;
    for (int i = 0; i < n; i++)
        if (!strcmp(json_string_value(v), names[i])) {
            *out = i;
            return true;
        }
    return false;
}

/* The request's config with nats-server's defaults: false if it does not decode. */
static bool jsapi_parse_config(json_t *o, struct stream_config *c) {
    stream_config_defaults(c);
    if (!json_is_object(o)) return false;
    json_t *name = json_object_get(o, "name");
    if (name && !json_is_null(name)) {
        if (!json_is_string(name) || strlen(json_string_value(name)) > STREAM_NAME_MAX) return false;
        snprintf(c->name, sizeof(c->name), "%s", json_string_value(name));
    }
    json_t *subjects = json_object_get(o, "subjects");
    if (subjects && !json_is_null(subjects)) {
        if (!json_is_array(subjects)) return false;
        size_t i;
        json_t *v;
        json_array_foreach(subjects, i, v) {
            if (!json_is_string(v) || c->subject_count == TOPIC_SUBJECTS_MAX ||
                strlen(json_string_value(v)) >= TOPIC_SUBJECT_BYTES_MAX)
                return false;
            snprintf(c->subjects[c->subject_count++], TOPIC_SUBJECT_BYTES_MAX, "%s", json_string_value(v));
        }
    }
    int retention = 0, discard = 0, storage = 0;
    static const char *const discard_names[] = {"old", "new"};
    static const char *const storage_names[] = {"file", "memory"};
    int64_t max_consumers = 0, max_msgs = 0, max_bytes = 0, max_age = 0, per_subj = 0, max_size = 0, replicas = 0,
            dup = 0;
    if (!json_enum_field(o, "retention", retention_names, 3, &retention) ||
        !json_enum_field(o, "discard", discard_names, 2, &discard) ||
        !json_enum_field(o, "storage", storage_names, 2, &storage) ||
        !json_int_field(o, "max_consumers", &max_consumers) || !json_int_field(o, "max_msgs", &max_msgs) ||
        !json_int_field(o, "max_bytes", &max_bytes) || !json_int_field(o, "max_age", &max_age) ||
        !json_int_field(o, "max_msgs_per_subject", &per_subj) || !json_int_field(o, "max_msg_size", &max_size) ||
        !json_int_field(o, "num_replicas", &replicas) || !json_int_field(o, "duplicate_window", &dup) ||
        !json_bool_field(o, "allow_direct", &c->allow_direct) ||
        !json_bool_field(o, "mirror_direct", &c->mirror_direct) || !json_bool_field(o, "sealed", &c->sealed) ||
        !json_bool_field(o, "deny_delete", &c->deny_delete) || !json_bool_field(o, "deny_purge", &c->deny_purge) ||
        !json_bool_field(o, "allow_rollup_hdrs", &c->allow_rollup_hdrs))
        return false;
    json_t *dlq = json_object_get(o, "dlq");
    if (dlq && json_is_string(dlq)) snprintf(c->dlq, sizeof(c->dlq), "%s", json_string_value(dlq));
    c->retention = (enum topic_retention)retention;
    c->discard = (enum stream_discard)discard;
    c->storage = (enum stream_storage)storage;
    /* 0 means unlimited and reads back as -1 (nats-server's setStreamConfigDefaults). */
    c->max_consumers = max_consumers > 0 ? max_consumers : -1;
    c->max_msgs = max_msgs > 0 ? max_msgs : -1;
    c->max_bytes = max_bytes > 0 ? max_bytes : -1;
    c->max_msgs_per_subject = per_subj > 0 ? per_subj : -1;
    c->max_msg_size = max_size > 0 ? max_size : -1;
    c->max_age_ns = max_age > 0 ? max_age : 0;
    c->num_replicas = replicas > 0 ? replicas : 1;
    if (dup > 0) c->duplicate_window_ns = dup;
    else if (c->max_age_ns && c->max_age_ns < STREAM_DUPLICATE_WINDOW_DEFAULT_NS) c->duplicate_window_ns = c->max_age_ns;
    else c->duplicate_window_ns = STREAM_DUPLICATE_WINDOW_DEFAULT_NS;
    return true;
}

static json_t *jsapi_config_json(const struct stream_config *c) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_t *subs = json_array();
    for (uint32_t i = 0; i < c->subject_count; i++) json_array_append_new(subs, json_string(c->subjects[i]));
    json_object_set_new(o, "subjects", subs);
    json_object_set_new(o, "retention", json_string(retention_names[c->retention]));
    json_object_set_new(o, "max_consumers", json_integer(c->max_consumers));
    json_object_set_new(o, "max_msgs", json_integer(c->max_msgs));
    json_object_set_new(o, "max_bytes", json_integer(c->max_bytes));
    json_object_set_new(o, "max_age", json_integer(c->max_age_ns));
    json_object_set_new(o, "max_msgs_per_subject", json_integer(c->max_msgs_per_subject));
    json_object_set_new(o, "max_msg_size", json_integer(c->max_msg_size));
    json_object_set_new(o, "discard", json_string(c->discard == STREAM_DISCARD_NEW ? "new" : "old"));
    json_object_set_new(o, "storage", json_string(c->storage == STREAM_STORAGE_MEMORY ? "memory" : "file"));
    json_object_set_new(o, "num_replicas", json_integer(c->num_replicas));
    json_object_set_new(o, "duplicate_window", json_integer(c->duplicate_window_ns));
    json_object_set_new(o, "allow_direct", json_boolean(c->allow_direct));
    json_object_set_new(o, "mirror_direct", json_boolean(c->mirror_direct));
    json_object_set_new(o, "sealed", json_boolean(c->sealed));
    json_object_set_new(o, "deny_delete", json_boolean(c->deny_delete));
    json_object_set_new(o, "deny_purge", json_boolean(c->deny_purge));
    json_object_set_new(o, "allow_rollup_hdrs", json_boolean(c->allow_rollup_hdrs));
    if (c->dlq[0]) json_object_set_new(o, "dlq", json_string(c->dlq));
    return o;
}

static uint32_t jsapi_consumer_count(const struct jsapi *api, const struct stream *s) {
    return api->cops.count ? api->cops.count(api->cops_arg, s) : 0;
}

static json_t *jsapi_state_json(const struct jsapi *api, const struct stream *s) {
    struct stream_state st;
    stream_get_state(s, &st);
    json_t *o = json_object();
    json_object_set_new(o, "messages", json_integer((json_int_t)st.messages));
    json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
    json_object_set_new(o, "first_seq", json_integer((json_int_t)st.first_seq));
    /* Never used: Go's zero time; drained: the Unix epoch (nats-server's quirk). */
    json_object_set_new(o, "first_ts", st.messages ? jsapi_time(st.first_ts_ms * 1000000)
                                                   : jsapi_time(st.last_seq ? 0 : INT64_MIN));
    json_object_set_new(o, "last_seq", json_integer((json_int_t)st.last_seq));
    json_object_set_new(o, "last_ts", jsapi_time(st.last_seq ? st.last_ts_ms * 1000000 : INT64_MIN));
    if (st.num_deleted) json_object_set_new(o, "num_deleted", json_integer((json_int_t)st.num_deleted));
    if (st.num_subjects) json_object_set_new(o, "num_subjects", json_integer((json_int_t)st.num_subjects));
    json_object_set_new(o, "consumer_count", json_integer(jsapi_consumer_count(api, s)));
    return o;
}

/* A replicated stream's "cluster" as nats-server gives it: the leader's server name and the
 * other replicas' (name, current: in the ISR, active: 0 as no follower's last contact is kept
 * here). */
static json_t *jsapi_cluster_json(const struct jsapi *api, const struct stream *s) {
    const struct cluster_view *v = api->ns->view;
    const struct cluster_topic *t = stream_placement(s);
    if (!v || !t || !t->partition_count) return NULL;
    const struct cluster_part *pt = &t->parts[0];
    char name[32];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(NATS_CLUSTER_NAME));
    nats_server_name_of(pt->replicas[0], name, sizeof(name));
    json_object_set_new(o, "leader", json_string(name));
    json_t *reps = json_array();
    for (uint32_t i = 1; i < pt->replica_count; i++) {
        bool current = false;
        for (uint32_t j = 0; j < pt->isr_count; j++) current |= pt->isr[j] == pt->replicas[i];
        nats_server_name_of(pt->replicas[i], name, sizeof(name));
        json_t *r = json_object();
        json_object_set_new(r, "name", json_string(name));
        json_object_set_new(r, "current", json_boolean(current));
        json_object_set_new(r, "active", json_integer(0));
        json_array_append_new(reps, r);
    }
    if (json_array_size(reps)) json_object_set_new(o, "replicas", reps); /* omitted alone, as nats-server */
    else json_decref(reps);
    return o;
}

static void jsapi_add_info(const struct jsapi *api, json_t *o, const struct stream *s) {
    json_object_set_new(o, "config", jsapi_config_json(stream_config(s)));
    json_object_set_new(o, "created", jsapi_time(stream_created_ns(s)));
    json_object_set_new(o, "state", jsapi_state_json(api, s));
    json_t *c = jsapi_cluster_json(api, s);
    if (c) json_object_set_new(o, "cluster", c);
}

/* ---- requests ------------------------------------------------------------------------------------- */

struct jsapi_req {
    struct jsapi *api;
    const struct nats_msg *m;
    struct span reply;
    const char *arg; /* the stream name token(s) after the operation, NUL-terminated */
    json_t *body;    /* NULL when the body is empty or not a JSON object */
    bool body_bad;   /* a non-empty body that is not a JSON object (or JSON null) */
    bool body_null;  /* the body is JSON null: Go decodes it as an empty request */
};

static struct stream *jsapi_stream(struct jsapi_req *r) {
    return streams_get(r->api->ss, r->arg, (uint32_t)strlen(r->arg));
}

static void jsapi_not_found(struct jsapi_req *r, const char *kind, const char *extra) {
    jsapi_reply_error(r->api, r->reply, kind, 404, 10059, "stream not found", extra);
}

static void jsapi_account_info(struct jsapi_req *r) {
    struct jsapi *api = r->api;
    /* As NAMES and LIST: with the authorizer on, only the streams the principal may DESCRIBE
     * (and their consumers and bytes) are counted, so the totals tell nothing of the others. */
    bool all = !api->ns->cfg->kafka_authorizer;
    uint64_t storage = 0;
    uint32_t streams = 0, consumers = all && api->cops.total ? api->cops.total(api->cops_arg) : 0;
    for (uint32_t i = 0; i < streams_count(api->ss); i++) {
        struct stream *s = streams_at(api->ss, i);
        const char *name = stream_name(s);
        if (!all && !nats_acl_stream_allowed(api->ns, KAFKA_OP_DESCRIBE, name, strlen(name))) continue;
        struct stream_state st;
        stream_get_state(s, &st);
        storage += st.bytes;
        streams++;
        if (!all) consumers += jsapi_consumer_count(api, s);
    }
    json_t *o = jsapi_response("account_info");
    json_object_set_new(o, "memory", json_integer(0));
    json_object_set_new(o, "storage", json_integer((json_int_t)storage));
    json_object_set_new(o, "streams", json_integer(streams));
    json_object_set_new(o, "consumers", json_integer(consumers));
    json_t *lim = json_object();
    const char *keys[] = {"max_memory", "max_storage", "max_streams", "max_consumers", "max_ack_pending",
                          "memory_max_stream_bytes", "storage_max_stream_bytes"};
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) json_object_set_new(lim, keys[i], json_integer(-1));
    json_object_set_new(lim, "max_bytes_required", json_false());
    json_object_set_new(o, "limits", lim);
    json_t *a = json_object();
    json_object_set_new(a, "total", json_integer((json_int_t)api->total));
    json_object_set_new(a, "errors", json_integer((json_int_t)api->errors));
    json_object_set_new(o, "api", a);
    jsapi_reply_json(api, r->reply, o);
}

static bool jsapi_admin_error_to(struct jsapi *api, struct span reply, const char *kind, enum stream_admin_result res,
                                 const char *why) {
    char desc[300];
    switch (res) {
    case STREAM_ADMIN_OK: return false;
    case STREAM_ADMIN_NOT_FOUND: jsapi_reply_error(api, reply, kind, 404, 10059, "stream not found", NULL); break;
    case STREAM_ADMIN_NAME_IN_USE:
    case STREAM_ADMIN_TOPIC_EXISTS:
        jsapi_reply_error(api, reply, kind, 400, 10058, "stream name already in use with a different configuration",
                          NULL);
        break;
    case STREAM_ADMIN_SUBJECT_OVERLAP:
        jsapi_reply_error(api, reply, kind, 400, 10065, "subjects overlap with an existing stream", NULL);
        break;
    case STREAM_ADMIN_NO_PEERS:
        jsapi_reply_error(api, reply, kind, 400, 10005, "no suitable peers for placement", NULL);
        break;
    case STREAM_ADMIN_INVALID:
        snprintf(desc, sizeof(desc), "%s", why ? why : "invalid stream configuration");
        jsapi_reply_error(api, reply, kind, 500, 10052, desc, NULL); /* JSStreamInvalidConfigF is a 500 */
        break;
    case STREAM_ADMIN_STORAGE:
    case STREAM_ADMIN_PENDING: /* never an answer: the callers answer once it is done */
        snprintf(desc, sizeof(desc), "%s", why ? why : "storage error");
        jsapi_reply_error(api, reply, kind, 500, 10049, desc, NULL);
        break;
    }
    return true;
}

static bool jsapi_admin_error(struct jsapi_req *r, const char *kind, enum stream_admin_result res, const char *why) {
    return jsapi_admin_error_to(r->api, r->reply, kind, res, why);
}

/* nats-server's checkStreamCfg on the subjects, in its order: per subject a duplicate, the API
 * space, validity; then any two that overlap (the earlier one named first). False after the
 * 10052 answer. */
static bool jsapi_check_subjects(struct jsapi_req *r, const char *kind, const struct stream_config *c) {
    for (uint32_t i = 0; i < c->subject_count; i++) {
        const char *why = NULL;
        for (uint32_t j = 0; j < i && !why; j++)
            if (!strcmp(c->subjects[i], c->subjects[j])) why = "duplicate subjects detected";
        if (!why && stream_subjects_overlap(c->subjects[i], "$JS.API.>")) why = "subjects overlap with jetstream api";
        if (!why && !subject_valid(c->subjects[i])) why = "invalid subject";
        if (why) {
            jsapi_reply_error(r->api, r->reply, kind, 500, 10052, why, NULL);
            return false;
        }
    }
    for (uint32_t i = 0; i < c->subject_count; i++)
        for (uint32_t j = i + 1; j < c->subject_count; j++) {
            if (!stream_subjects_overlap(c->subjects[i], c->subjects[j])) continue;
            char desc[2 * TOPIC_SUBJECT_BYTES_MAX + 64];
            snprintf(desc, sizeof(desc), "subject \"%s\" overlaps with \"%s\"", c->subjects[i], c->subjects[j]);
            jsapi_reply_error(r->api, r->reply, kind, 500, 10052, desc, NULL);
            return false;
        }
    return true;
}

/* CREATE and UPDATE share the body rules: a JSON object (or null, Go's empty config), the name
 * equal to the subject's (a missing one too: nats-server does not take it from the subject),
 * valid subjects. */
static bool jsapi_config_from_request(struct jsapi_req *r, const char *kind, struct stream_config *c) {
    json_t *empty = NULL;
    json_t *body = r->body;
    if (!body && r->body_null) body = empty = json_object();
    bool ok = body && jsapi_parse_config(body, c);
    if (empty) json_decref(empty);
    if (!ok) {
        jsapi_reply_error(r->api, r->reply, kind, 400, 10025, "invalid JSON", NULL);
        return false;
    }
    if (!c->name[0] && !strcmp(kind, "stream_update")) { /* update checks the config before the name */
        jsapi_reply_error(r->api, r->reply, kind, 500, 10052,
                          "stream name is required and can not contain '.', '*', '>'", NULL);
        return false;
    }
    if (strcmp(c->name, r->arg)) {
        jsapi_reply_error(r->api, r->reply, kind, 400, 10056, "stream name in subject does not match request", NULL);
        return false;
    }
    return jsapi_check_subjects(r, kind, c);
}

/* nats-server's isEmptyRequest: no body, or a JSON object without members. */
static bool jsapi_empty_request(const struct jsapi_req *r) {
    if (!r->m->payload.len) return true;
    return r->body && json_object_size(r->body) == 0;
}

static void jsapi_stream_created_reply(struct jsapi *api, struct span reply, struct stream *s) {
    json_t *o = jsapi_response("stream_create");
    jsapi_add_info(api, o, s);
    json_object_set_new(o, "did_create", json_true()); /* nats-server 2.9.10 says so for an identical create too */
    jsapi_reply_json(api, reply, o);
}

/* A STREAM.CREATE waiting for its topic (streams_create_start), or a placed stream's
 * STREAM.UPDATE or DELETE waiting for the controller (streams_update_start,
 * streams_delete_start): the reply subject, copied. */
struct jsapi_create {
    struct jsapi_create *next;
    struct jsapi *api;       /* NULL once the API stopped: nothing to answer */
    struct nats_hold *hold;  /* the requester reads nothing more until answered (NULL: none) */
    struct stream *made;     /* created, its answer waiting for the leader's reach (jsapi_reach_fire) */
    uint64_t deadline_ms;    /* monotonic: answered then whatever the reach */
    uint32_t reply_len;
    uint8_t reply[];
};

/* A request waiting for its outcome, listed (the done may fire before the start returns). */
static struct jsapi_create *jsapi_waiter_new(struct jsapi *api, struct span reply) {
    struct jsapi_create *w = sl_xmalloc(sizeof(*w) + reply.len);
    w->api = api;
    w->hold = NULL;
    w->made = NULL;
    w->reply_len = reply.len;
    if (reply.len) memcpy(w->reply, reply.p, reply.len);
    w->next = api->creates;
    api->creates = w;
    return w;
}

/* Off the list (while the API runs), the requester released, freed. */
static void jsapi_waiter_free(struct jsapi_create *w) {
    if (w->api) {
        struct jsapi_create **pp = &w->api->creates;
        while (*pp != w) pp = &(*pp)->next;
        *pp = w->next;
    }
    if (w->hold) nats_hold_release(w->hold);
    free(w);
}


/* A placed stream this broker does not lead is usable from here once its leader announced it
 * over the routes (nats-server answers a create once the stream's group has a leader): a
 * publish pipelined behind the create then reaches it instead of getting no responders. */
#define JSAPI_REACH_WAIT_MS 3000
#define JSAPI_REACH_POLL_MS 10

static bool jsapi_reachable(struct jsapi *api, struct stream *s) {
    if (js_stream_served_here(api->ns, s) || !api->ns->routes) return true;
    char subj[64 + STREAM_NAME_MAX];
    int n = snprintf(subj, sizeof(subj), "$JS.API.STREAM.INFO.%s", stream_name(s));
    return nats_routes_has_interest(api->ns, (struct span){(const uint8_t *)subj, (uint32_t)n});
}

static void jsapi_reach_fire(struct loop_timer *t, uint64_t now_ms) {
    struct jsapi *api = sl_container_of(t, struct jsapi, reach_timer);
    bool waiting = false;
    for (struct jsapi_create *w = api->creates, *next; w; w = next) {
        next = w->next;
        if (!w->made) continue;
        if (!jsapi_reachable(api, w->made) && now_ms < w->deadline_ms) {
            waiting = true;
            continue;
        }
        jsapi_stream_created_reply(api, (struct span){w->reply, w->reply_len}, w->made);
        jsapi_waiter_free(w);
    }
    if (waiting) loop_timer_add(api->ns->loop, t, now_ms + JSAPI_REACH_POLL_MS);
}

static void jsapi_stream_create_done(void *arg, enum stream_admin_result res, struct stream *s, const char *why) {
    struct jsapi_create *w = arg;
    struct jsapi *api = w->api;
    struct span reply = {w->reply, w->reply_len};
    if (api && !jsapi_admin_error_to(api, reply, "stream_create", res, why)) {
        js_ingest_bind(api->ji, s);
        if (!jsapi_reachable(api, s)) { /* answered once the leader announced it */
            w->made = s;
            w->deadline_ms = loop_mono_ms(api->ns->loop) + JSAPI_REACH_WAIT_MS;
            if (!loop_timer_armed(&api->reach_timer))
                loop_timer_add(api->ns->loop, &api->reach_timer, loop_mono_ms(api->ns->loop) + JSAPI_REACH_POLL_MS);
            return;
        }
        jsapi_stream_created_reply(api, reply, s);
    }
    jsapi_waiter_free(w);
}

static void jsapi_stream_updated_reply(struct jsapi *api, struct span reply, struct stream *s) {
    js_ingest_bind(api->ji, s);
    json_t *o = jsapi_response("stream_update");
    jsapi_add_info(api, o, s);
    jsapi_reply_json(api, reply, o);
}

/* A placed stream's update, once the controller committed it and this broker's copy took it. */
static void jsapi_stream_update_done(void *arg, enum stream_admin_result res, struct stream *s, const char *why) {
    struct jsapi_create *w = arg;
    struct span reply = {w->reply, w->reply_len};
    if (w->api && !jsapi_admin_error_to(w->api, reply, "stream_update", res, why))
        jsapi_stream_updated_reply(w->api, reply, s);
    jsapi_waiter_free(w);
}

static void jsapi_stream_deleted_reply(struct jsapi *api, struct span reply, bool ok) {
    if (!ok) return jsapi_reply_error(api, reply, "stream_delete", 500, 10050, "stream delete failed", NULL);
    static const char body[] = "{\"type\":\"" JSAPI_TYPE "stream_delete_response\",\"success\":true}";
    jsapi_reply(api, reply, body, sizeof(body) - 1);
}

/* A replicated stream's delete, once the controller removed it and this broker's copy went. */
static void jsapi_stream_delete_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    (void)tp;
    (void)why;
    struct jsapi_create *w = arg;
    if (w->api) jsapi_stream_deleted_reply(w->api, (struct span){w->reply, w->reply_len}, !err);
    jsapi_waiter_free(w);
}

static void jsapi_stream_create(struct jsapi_req *r) {
    struct stream_config c;
    if (!jsapi_config_from_request(r, "stream_create", &c)) return;
    struct jsapi *api = r->api;
    struct stream *s = NULL;
    const char *why = NULL;
    struct jsapi_create *w = jsapi_waiter_new(api, r->reply);
    enum stream_admin_result res =
        streams_create_start(api->ss, &c, loop_now_ms(api->ns->loop), jsapi_stream_create_done, w, &s, &why);
    if (res == STREAM_ADMIN_PENDING) {
        /* Answered by jsapi_stream_create_done. Meanwhile the requester is held, as nats-server
         * answers a create inline: a publish it pipelined behind the create finds the stream. */
        w->hold = nats_server_hold_publisher(api->ns);
        return;
    }
    jsapi_waiter_free(w);
    if (jsapi_admin_error(r, "stream_create", res, why)) return;
    jsapi_stream_created_reply(api, r->reply, s); /* an equal stream exists */
}

static void jsapi_stream_update(struct jsapi_req *r) {
    struct stream_config c;
    if (!jsapi_config_from_request(r, "stream_update", &c)) return;
    struct stream *s = jsapi_stream(r);
    if (!s) return jsapi_not_found(r, "stream_update", NULL);
    if (c.storage != stream_config(s)->storage)
        return jsapi_reply_error(r->api, r->reply, "stream_update", 500, 10052,
                                 "stream configuration update can not change storage type", NULL);
    const char *why = NULL;
    struct jsapi_create *w = jsapi_waiter_new(r->api, r->reply);
    enum stream_admin_result res = streams_update_start(r->api->ss, s, &c, loop_now_ms(r->api->ns->loop),
                                                        jsapi_stream_update_done, w, &why);
    if (res == STREAM_ADMIN_PENDING) {
        w->hold = nats_server_hold_publisher(r->api->ns);
        return;
    }
    jsapi_waiter_free(w);
    if (jsapi_admin_error(r, "stream_update", res, why)) return;
    jsapi_stream_updated_reply(r->api, r->reply, s);
}

static void jsapi_stream_info(struct jsapi_req *r) {
    static const char extra[] = ",\"total\":0,\"offset\":0,\"limit\":0";
    if (r->body_bad) return jsapi_reply_error(r->api, r->reply, "stream_info", 400, 10025, "invalid JSON", extra);
    struct stream *s = jsapi_stream(r);
    if (!s) return jsapi_not_found(r, "stream_info", extra);
    json_t *o = jsapi_response("stream_info");
    json_object_set_new(o, "total", json_integer(0));
    json_object_set_new(o, "offset", json_integer(0));
    json_object_set_new(o, "limit", json_integer(0));
    jsapi_add_info(r->api, o, s);
    jsapi_reply_json(r->api, r->reply, o);
}

static void jsapi_stream_delete(struct jsapi_req *r) {
    if (!jsapi_empty_request(r))
        return jsapi_reply_error(r->api, r->reply, "stream_delete", 400, 10038, "expected an empty request payload",
                                 NULL);
    struct stream *s = jsapi_stream(r);
    if (!s) return jsapi_not_found(r, "stream_delete", NULL);
    struct jsapi_create *w = jsapi_waiter_new(r->api, r->reply);
    enum stream_admin_result res = streams_delete_start(r->api->ss, s, jsapi_stream_delete_done, w);
    if (res == STREAM_ADMIN_PENDING) {
        w->hold = nats_server_hold_publisher(r->api->ns);
        return;
    }
    jsapi_waiter_free(w);
    jsapi_stream_deleted_reply(r->api, r->reply, res == STREAM_ADMIN_OK);
}

static void jsapi_stream_purge(struct jsapi_req *r) {
    static const char extra[] = ",\"purged\":0";
    struct span filter = {0};
    json_t *f = r->body ? json_object_get(r->body, "filter") : NULL;
    if (r->body_bad || (f && !json_is_string(f) && !json_is_null(f)))
        return jsapi_reply_error(r->api, r->reply, "stream_purge", 400, 10025, "invalid JSON", extra);
    struct stream *s = jsapi_stream(r);
    if (!s) return jsapi_not_found(r, "stream_purge", extra);
    if (f && json_is_string(f) && json_string_length(f))
        filter = (struct span){(const uint8_t *)json_string_value(f), (uint32_t)json_string_length(f)};
    uint64_t purged = 0;
    stream_purge(s, filter, &purged);
    if (r->api->cops.stream_purged) r->api->cops.stream_purged(r->api->cops_arg, s);
    json_t *o = jsapi_response("stream_purge");
    json_object_set_new(o, "success", json_true());
    json_object_set_new(o, "purged", json_integer((json_int_t)purged));
    jsapi_reply_json(r->api, r->reply, o);
}

static int jsapi_cmp_names(const void *a, const void *b) {
    return strcmp(stream_name(*(struct stream *const *)a), stream_name(*(struct stream *const *)b));
}

/* The streams a NAMES / LIST request selects (its "subject" filter), sorted by name. */
/* The NAMES / LIST request fields nats-server decodes: false when one has the wrong type. */
static bool jsapi_list_request_ok(const struct jsapi_req *r) {
    if (r->body_bad) return false;
    if (!r->body) return true;
    json_t *offset = json_object_get(r->body, "offset"), *subject = json_object_get(r->body, "subject");
    return (!offset || json_is_integer(offset) || json_is_null(offset)) &&
           (!subject || json_is_string(subject) || json_is_null(subject));
}

static uint32_t jsapi_select(struct jsapi_req *r, struct stream ***out) {
    struct streams *ss = r->api->ss;
    const char *subject = NULL;
    if (r->body) {
        json_t *v = json_object_get(r->body, "subject");
        if (v && json_is_string(v) && json_string_length(v)) subject = json_string_value(v);
    }
    struct stream **arr = sl_xmalloc((streams_count(ss) + 1) * sizeof(*arr));
    uint32_t n = 0;
    for (uint32_t i = 0; i < streams_count(ss); i++) {
        struct stream *s = streams_at(ss, i);
        const struct stream_config *c = stream_config(s);
        bool keep = !subject;
        for (uint32_t j = 0; !keep && j < c->subject_count; j++)
            keep = stream_subjects_overlap(subject, c->subjects[j]);
        /* As Kafka's Metadata hides topics: only the streams the principal may DESCRIBE. */
        if (keep) keep = nats_acl_stream_allowed(r->api->ns, KAFKA_OP_DESCRIBE, c->name, strlen(c->name));
        if (keep) arr[n++] = s;
    }
    qsort(arr, n, sizeof(*arr), jsapi_cmp_names);
    *out = arr;
    return n;
}

static void jsapi_stream_names(struct jsapi_req *r) {
    if (!jsapi_list_request_ok(r))
        return jsapi_reply_error(r->api, r->reply, "stream_names", 400, 10025, "invalid JSON",
                                 ",\"total\":0,\"offset\":0,\"limit\":0,\"streams\":null");
    struct stream **arr;
    uint32_t n = jsapi_select(r, &arr);
    json_t *o = jsapi_response("stream_names");
    json_object_set_new(o, "total", json_integer(n));
    json_object_set_new(o, "offset", json_integer(0));
    json_object_set_new(o, "limit", json_integer(JSAPI_NAMES_LIMIT));
    json_t *names = n ? json_array() : json_null();
    for (uint32_t i = 0; i < n; i++) json_array_append_new(names, json_string(stream_name(arr[i])));
    json_object_set_new(o, "streams", names);
    free(arr);
    jsapi_reply_json(r->api, r->reply, o);
}

static void jsapi_stream_list(struct jsapi_req *r) {
    if (!jsapi_list_request_ok(r))
        return jsapi_reply_error(r->api, r->reply, "stream_list", 400, 10025, "invalid JSON",
                                 ",\"total\":0,\"offset\":0,\"limit\":0,\"streams\":[]");
    struct stream **arr;
    uint32_t n = jsapi_select(r, &arr);
    json_t *o = jsapi_response("stream_list");
    json_object_set_new(o, "total", json_integer(n));
    json_object_set_new(o, "offset", json_integer(0));
    json_object_set_new(o, "limit", json_integer(JSAPI_LIST_LIMIT));
    json_t *list = json_array();
    for (uint32_t i = 0; i < n; i++) {
        json_t *si = json_object();
        jsapi_add_info(r->api, si, arr[i]);
        json_array_append_new(list, si);
    }
    json_object_set_new(o, "streams", list);
    free(arr);
    jsapi_reply_json(r->api, r->reply, o);
}

static void jsapi_msg_get(struct jsapi_req *r) {
    struct stream *s = jsapi_stream(r);
    if (!s) return jsapi_not_found(r, "stream_msg_get", NULL);
    int64_t seq = 0;
    json_t *last = r->body ? json_object_get(r->body, "last_by_subj") : NULL;
    if (r->body_bad || (r->body && !json_int_field(r->body, "seq", &seq)) ||
        (last && !json_is_string(last) && !json_is_null(last)))
        return jsapi_reply_error(r->api, r->reply, "stream_msg_get", 400, 10025, "invalid JSON", NULL);
    if (seq <= 0 && !(last && json_is_string(last) && json_string_length(last)))
        return jsapi_reply_error(r->api, r->reply, "stream_msg_get", 400, 10003, "bad request", NULL);
    struct stream_msg m;
    sl_err e;
    if (last && json_is_string(last) && json_string_length(last))
        e = stream_get_last_for_subject(
            s, (struct span){(const uint8_t *)json_string_value(last), (uint32_t)json_string_length(last)}, &m);
    else
        e = seq > 0 ? stream_get(s, (uint64_t)seq, &m) : SL_NOT_FOUND;
    if (e) return jsapi_reply_error(r->api, r->reply, "stream_msg_get", 404, 10037, "no message found", NULL);
    json_t *o = jsapi_response("stream_msg_get");
    json_t *msg = json_object();
    json_object_set_new(msg, "subject", json_stringn((const char *)m.subject.p, m.subject.len));
    json_object_set_new(msg, "seq", json_integer((json_int_t)m.seq));
    if (m.hdr.len) {
        char *h = jsapi_b64(m.hdr.p, m.hdr.len);
        json_object_set_new(msg, "hdrs", json_string(h));
        free(h);
    }
    if (m.payload.len) {
        char *d = jsapi_b64(m.payload.p, m.payload.len);
        json_object_set_new(msg, "data", json_string(d));
        free(d);
    }
    json_object_set_new(msg, "time", jsapi_time(m.time_ms * 1000000));
    json_object_set_new(o, "message", msg);
    jsapi_reply_json(r->api, r->reply, o);
}

static void jsapi_msg_delete(struct jsapi_req *r) {
    struct stream *s = jsapi_stream(r);
    if (!s) return jsapi_not_found(r, "stream_msg_delete", NULL);
    int64_t seq = 0;
    if (!r->body || !json_int_field(r->body, "seq", &seq))
        return jsapi_reply_error(r->api, r->reply, "stream_msg_delete", 400, 10025, "invalid JSON", NULL);
    /* Its subject, for the consumers' num_pending (filters), read before it goes. */
    char subject[1024] = "";
    struct stream_msg m;
    if (seq > 0 && stream_get(s, (uint64_t)seq, &m) == SL_OK) {
        uint32_t n = SL_MIN(m.subject.len, (uint32_t)sizeof(subject) - 1);
        memcpy(subject, m.subject.p, n);
        subject[n] = 0;
    }
    if (seq <= 0 || stream_delete_msg(s, (uint64_t)seq) != SL_OK) {
        /* The store's error text: past the last sequence is EOF, below it a message not found. */
        struct stream_state st;
        stream_get_state(s, &st);
        return jsapi_reply_error(r->api, r->reply, "stream_msg_delete", 500, 10057,
                                 seq > 0 && (uint64_t)seq > st.last_seq ? "stream store EOF" : "no message found",
                                 NULL);
    }
    if (r->api->cops.msg_removed) r->api->cops.msg_removed(r->api->cops_arg, s, (uint64_t)seq, subject);
    static const char ok[] = "{\"type\":\"" JSAPI_TYPE "stream_msg_delete_response\",\"success\":true}";
    jsapi_reply(r->api, r->reply, ok, sizeof(ok) - 1);
}

/* ---- ACLs ---------------------------------------------------------------------------------------- */

static void jsapi_denied_text(struct jsapi *api, int8_t op, int8_t resource_type, const char *name, size_t len,
                              char *out, size_t cap) {
    if (resource_type == KAFKA_RES_GROUP) nats_acl_group_denied_text(api->ns, op, name, len, out, cap);
    else nats_acl_denied_text(api->ns, op, name, len, out, cap);
}

void jsapi_reply_denied(struct jsapi *api, struct span reply, const char *kind, int8_t op, int8_t resource_type,
                        const char *name, size_t len) {
    char desc[600];
    jsapi_denied_text(api, op, resource_type, name, len, desc, sizeof(desc));
    jsapi_reply_error(api, reply, kind, NATS_ACL_ERR_CODE, NATS_ACL_JS_ERR_CODE, desc, NULL);
}

void jsapi_reply_denied_pull(struct jsapi *api, struct span reply, int8_t op, int8_t resource_type, const char *name,
                             size_t len) {
    char desc[600], hdr[700];
    jsapi_denied_text(api, op, resource_type, name, len, desc, sizeof(desc));
    int n = snprintf(hdr, sizeof(hdr), "NATS/1.0 %d %s\r\n\r\n", NATS_ACL_ERR_CODE, desc);
    api->errors++;
    if (reply.len && n > 0 && (size_t)n < sizeof(hdr))
        nats_server_publish(api->ns, reply, (struct span){0}, (struct span){(const uint8_t *)hdr, (uint32_t)n},
                            (struct span){0});
}

/* Every CONSUMER.* request (create, durable create, info, delete, names, list, MSG.NEXT) needs
 * READ on the stream's topic, as a Kafka consumer does; false after the refusal. What a durable
 * consumer's group needs besides is the consumer side's (js_deliver.c), which knows the names. */
static bool jsapi_consumer_allowed(struct jsapi *api, struct span rest, const struct nats_msg *m) {
    static const struct {
        const char *op, *kind;
    } ops[] = {{"CREATE.", "consumer_create"}, {"DURABLE.CREATE.", "consumer_create"},
               {"INFO.", "consumer_info"},     {"DELETE.", "consumer_delete"},
               {"NAMES.", "consumer_names"},   {"LIST.", "consumer_list"},
               {"MSG.NEXT.", NULL}};
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++) {
        size_t ol = strlen(ops[i].op);
        if (rest.len <= ol || memcmp(rest.p, ops[i].op, ol)) continue;
        const char *name = (const char *)rest.p + ol;
        const char *dot = memchr(name, '.', rest.len - ol);
        size_t nl = dot ? (size_t)(dot - name) : rest.len - ol;
        if (nats_acl_stream_allowed(api->ns, KAFKA_OP_READ, name, nl)) return true;
        if (ops[i].kind) jsapi_reply_denied(api, m->reply, ops[i].kind, KAFKA_OP_READ, KAFKA_RES_TOPIC, name, nl);
        else jsapi_reply_denied_pull(api, m->reply, KAFKA_OP_READ, KAFKA_RES_TOPIC, name, nl);
        return false;
    }
    return true; /* not a consumer operation: answered as before */
}

/* ---- streams held by another broker ------------------------------------------------------------- */

/* A request from a local client naming a stream this broker does not hold is the holder's to
 * answer when a route has interest in its very subject: the holder announced it (js_ingest.c,
 * nats_route.h) and the fan-out forwards the request there; an answer from here as well would
 * give the client two, the first a wrong "stream not found". With no such route the request is
 * answered here as before. A request that came over a route is always answered here: its
 * sender forwarded it because this broker announced the subject.
 * STREAM.CREATE too: the holder announces CREATE.<name>, so a create of a name another broker
 * holds is answered by the one broker that knows the stream's config, as nats-server answers
 * an existing stream (its info for an equal config, 10058 otherwise), and never makes a second
 * copy here; refusing it here with 10058 would break nats.go's idempotent AddStream. */
static bool jsapi_held_elsewhere(struct jsapi *api, const struct nats_msg *m, const char *name, size_t len,
                                 const char *kind) {
    if (api->ns->route_in) return false;
    struct stream *s = streams_get(api->ss, name, (uint32_t)len);
    if (s && js_stream_served_here(api->ns, s)) return false;
    if (api->ns->routes && nats_routes_has_interest(api->ns, m->subject)) return true;
    if (!s) return false;
    /* This broker's copy has the stream's config (and its replica's messages): a create or an
     * info while the leader's announce is on its way is answered from it. */
    if (kind && (!strcmp(kind, "stream_create") || !strcmp(kind, "stream_info"))) return false;
    /* A replicated stream whose leader is not known here yet (an election, or its announce
     * still on the way): what nats-server answers while its stream has no leader. */
    if (kind && m->reply.len)
        jsapi_reply_error(api, m->reply, kind, 503, 10008, "JetStream system temporarily unavailable", NULL);
    return true;
}

static const char *const jsapi_consumer_ops_named[] = {"CREATE.", "DURABLE.CREATE.", "INFO.",    "DELETE.",
                                                       "NAMES.",  "LIST.",           "MSG.NEXT."};

static bool jsapi_consumer_held_elsewhere(struct jsapi *api, struct span rest, const struct nats_msg *m) {
    for (size_t i = 0; i < SL_ARRAY_LEN(jsapi_consumer_ops_named); i++) {
        size_t ol = strlen(jsapi_consumer_ops_named[i]);
        if (rest.len <= ol || memcmp(rest.p, jsapi_consumer_ops_named[i], ol)) continue;
        const char *name = (const char *)rest.p + ol;
        const char *dot = memchr(name, '.', rest.len - ol);
        size_t nl = dot ? (size_t)(dot - name) : rest.len - ol;
        return nl <= STREAM_NAME_MAX && jsapi_held_elsewhere(api, m, name, nl, NULL);
    }
    return false;
}

/* ---- CONSUMER.*: the consumer side's, or placeholders ----------------------------------------------- */

static void jsapi_consumer(struct jsapi *api, struct span rest, const struct nats_msg *m) {
    if (jsapi_consumer_held_elsewhere(api, rest, m)) return;
    if (!jsapi_consumer_allowed(api, rest, m)) return;
    if (api->cops.request) {
        api->cops.request(api->cops_arg, api, rest, m);
        return;
    }
    /* No consumer side: what a server with no consumers answers. */
    static const struct {
        const char *op, *kind;
    } ops[] = {{"INFO.", "consumer_info"}, {"DELETE.", "consumer_delete"}, {"CREATE.", "consumer_create"},
               {"DURABLE.CREATE.", "consumer_create"}, {"NAMES.", "consumer_names"}, {"LIST.", "consumer_list"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(ops); i++) {
        size_t ol = strlen(ops[i].op);
        if (rest.len <= ol || memcmp(rest.p, ops[i].op, ol)) continue;
        const uint8_t *name = rest.p + ol, *dot = memchr(name, '.', rest.len - ol);
        uint32_t nl = dot ? (uint32_t)(dot - name) : (uint32_t)(rest.len - ol);
        if (!streams_get(api->ss, (const char *)name, nl))
            return jsapi_reply_error(api, m->reply, ops[i].kind, 404, 10059, "stream not found", NULL);
        return jsapi_reply_error(api, m->reply, ops[i].kind, 404, 10014, "consumer not found", NULL);
    }
    /* MSG.NEXT and anything else: no answer (a missing consumer gets none from nats-server). */
}

/* ---- dispatch ------------------------------------------------------------------------------------- */

static void jsapi_deliver(struct sub *sub, const struct nats_msg *m) {
    struct jsapi *api = sub->owner;
    size_t pl = strlen(JSAPI_PREFIX);
    if (m->subject.len <= pl) return;
    const char *op = (const char *)m->subject.p + pl;
    uint32_t oplen = m->subject.len - (uint32_t)pl;
    api->total++;
    if (oplen > 9 && !memcmp(op, "CONSUMER.", 9)) {
        jsapi_consumer(api, (struct span){(const uint8_t *)op + 9, oplen - 9}, m);
        return;
    }
    /* op: what the stream's topic ACLs must allow (nats_acl.h); 0: nothing, or (NAMES, LIST)
     * the handler leaves out the streams the principal may not DESCRIBE. */
    static const struct {
        const char *name; /* with the trailing '.' when a stream name follows */
        void (*fn)(struct jsapi_req *r);
        const char *kind;
        int8_t op;
    } table[] = {
        {"INFO", jsapi_account_info, "account_info", 0},
        {"STREAM.CREATE.", jsapi_stream_create, "stream_create", KAFKA_OP_CREATE},
        {"STREAM.UPDATE.", jsapi_stream_update, "stream_update", KAFKA_OP_ALTER},
        {"STREAM.INFO.", jsapi_stream_info, "stream_info", KAFKA_OP_DESCRIBE},
        {"STREAM.DELETE.", jsapi_stream_delete, "stream_delete", KAFKA_OP_DELETE},
        {"STREAM.PURGE.", jsapi_stream_purge, "stream_purge", KAFKA_OP_DELETE},
        {"STREAM.NAMES", jsapi_stream_names, "stream_names", 0},
        {"STREAM.LIST", jsapi_stream_list, "stream_list", 0},
        {"STREAM.MSG.GET.", jsapi_msg_get, "stream_msg_get", KAFKA_OP_READ},
        {"STREAM.MSG.DELETE.", jsapi_msg_delete, "stream_msg_delete", KAFKA_OP_DELETE},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(table); i++) {
        size_t nl = strlen(table[i].name);
        bool with_arg = table[i].name[nl - 1] == '.';
        if (with_arg ? (oplen <= nl || memcmp(op, table[i].name, nl)) : (oplen != nl || memcmp(op, table[i].name, nl)))
            continue;
        char arg[STREAM_NAME_MAX + 1] = "";
        if (with_arg) {
            uint32_t al = oplen - (uint32_t)nl;
            if (al > STREAM_NAME_MAX || memchr(op + nl, '.', al)) return;
            memcpy(arg, op + nl, al);
            arg[al] = 0;
            if (jsapi_held_elsewhere(api, m, arg, al, table[i].kind)) return;
            int8_t need = table[i].op;
            bool ok = !need ? true
                      : need == KAFKA_OP_CREATE ? nats_acl_stream_create_allowed(api->ns, arg, al)
                                                : nats_acl_stream_allowed(api->ns, need, arg, al);
            if (!ok) return jsapi_reply_denied(api, m->reply, table[i].kind, need, KAFKA_RES_TOPIC, arg, al);
        }
        struct jsapi_req r = {.api = api, .m = m, .reply = m->reply, .arg = arg};
        if (m->payload.len) {
            json_error_t err;
            r.body = json_loadb((const char *)m->payload.p, m->payload.len, JSON_DECODE_ANY, &err);
            r.body_bad = !r.body;
            if (r.body && !json_is_object(r.body)) {
                r.body_null = json_is_null(r.body);
                r.body_bad = !r.body_null;
                json_decref(r.body);
                r.body = NULL;
            }
        }
        table[i].fn(&r);
        if (r.body) json_decref(r.body);
        return;
    }
}

static const struct nats_deliver_ops jsapi_ops = {jsapi_deliver};

static void jsapi_stream_gone(void *arg, struct stream *s) {
    struct jsapi *api = arg;
    for (struct jsapi_create *w = api->creates, *next; w; w = next) { /* made and gone at once */
        next = w->next;
        if (w->made != s) continue;
        jsapi_stream_created_reply(api, (struct span){w->reply, w->reply_len}, s);
        jsapi_waiter_free(w);
    }
    if (api->cops.stream_gone) api->cops.stream_gone(api->cops_arg, s);
    js_ingest_unbind(api->ji, s);
}

struct jsapi *jsapi_start(struct nats_server *ns, struct streams *ss, struct js_ingest *ji) {
    struct jsapi *api = sl_xcalloc(1, sizeof(*api));
    api->ns = ns;
    api->ss = ss;
    api->ji = ji;
    api->sub = nats_server_subscribe_internal(ns, JSAPI_PREFIX ">", NULL, &jsapi_ops, api);
    SL_ASSERT(api->sub);
    api->reach_timer.fire = jsapi_reach_fire;
    streams_set_gone_hook(ss, jsapi_stream_gone, api);
    return api;
}

void jsapi_stop(struct jsapi *api) {
    if (!api) return;
    streams_set_gone_hook(api->ss, NULL, NULL);
    nats_server_unsubscribe_internal(api->ns, api->sub);
    if (loop_timer_armed(&api->reach_timer)) loop_timer_del(api->ns->loop, &api->reach_timer);
    /* Creations still under way answer no one: their done (from streams_close at the latest)
     * frees them; those already made and waiting for their leader's reach go now. */
    for (struct jsapi_create *w = api->creates, *next; w; w = next) {
        next = w->next;
        w->api = NULL;
        if (w->hold) nats_hold_release(w->hold);
        w->hold = NULL;
        if (w->made) free(w);
    }
    free(api);
}

void jsapi_set_consumer_ops(struct jsapi *api, const struct jsapi_consumer_ops *ops, void *arg) {
    api->cops = *ops;
    api->cops_arg = arg;
}
