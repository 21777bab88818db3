/* monitor.c: what the monitoring port serves (see monitor.h). The HTTP wing knows no protocol;
 * this file, at the top of the broker, ties each route to the wing that owns the data. */
#include "broker/monitor.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/prom.h"
#include "broker/admin_cluster.h"
#include "broker/cluster_streams.h"
#include "broker/cluster_topics.h"
#include "broker/admin_users.h"
#include "broker/core/stream.h"
#include "broker/http/http_metrics.h"
#include "broker/nats/nats_route.h"
#include "broker/nats/js_deliver.h"
#include "broker/nats/nats_monitor.h"
#include "storage/store.h"

/* Go's time.Duration.String() for whole seconds, as nats-server's uptime ("1h2m3s"). */
static void go_duration(char *out, size_t cap, uint64_t secs) {
    uint64_t d = secs / 86400, h = secs / 3600 % 24, m = secs / 60 % 60, s = secs % 60;
    if (d) snprintf(out, cap, "%llud%lluh%llum%llus", (unsigned long long)d, (unsigned long long)h,
                    (unsigned long long)m, (unsigned long long)s);
    else if (h) snprintf(out, cap, "%lluh%llum%llus", (unsigned long long)h, (unsigned long long)m, (unsigned long long)s);
    else if (m) snprintf(out, cap, "%llum%llus", (unsigned long long)m, (unsigned long long)s);
    else snprintf(out, cap, "%llus", (unsigned long long)s);
}

static void respond_json(struct http_response *rs, json_t *o) {
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    http_response_set(rs, 200, "application/json", text ? text : "{}");
    free(text);
}

static void respond_error(struct http_response *rs, int status, const char *msg) {
    json_t *o = json_pack("{s:s}", "error", msg);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_response_set(rs, status, "application/json", text);
    free(text);
}

static void route_healthz(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    if (b->monitor_draining) http_response_set(rs, 503, "application/json", "{\"status\":\"unavailable\",\"error\":\"shutting down\"}");
    else if (!b->monitor_ready) http_response_set(rs, 503, "application/json", "{\"status\":\"unavailable\",\"error\":\"starting\"}");
    else http_response_set(rs, 200, "application/json", "{\"status\":\"ok\"}");
}

static void route_varz(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    json_t *o = json_object();
    nats_server_varz(&b->nats, o);
    uint64_t now = loop_clock_ms();
    char ts[40], up[64];
    sl_rfc3339_ms(ts, sizeof(ts), b->start_wall_ms);
    json_object_set_new(o, "start", json_string(ts));
    sl_rfc3339_ms(ts, sizeof(ts), now);
    json_object_set_new(o, "now", json_string(ts));
    go_duration(up, sizeof(up), (now - b->start_wall_ms) / 1000);
    json_object_set_new(o, "uptime", json_string(up));
    json_object_set_new(o, "mem", json_integer((json_int_t)http_process_rss_bytes()));
    json_object_set_new(o, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    double cpu_s = http_process_cpu_seconds(), el = (double)(now - b->start_wall_ms) / 1000.0;
    json_object_set_new(o, "cpu", json_real(el > 0 ? cpu_s / el * 100.0 : 0));
    json_object_set_new(o, "http_host", json_string(b->cfg.host));
    json_object_set_new(o, "http_port", json_integer(b->tls_http.ctx ? 0 : b->http.ls.port));
    if (b->tls_http.ctx) json_object_set_new(o, "https_port", json_integer(b->http.ls.port));
    if (b->tls_nats.ctx) {
        json_object_set_new(o, "tls_required", json_true());
        json_object_set_new(o, "tls_verify", json_boolean(b->tls_nats.verify));
        json_object_set_new(o, "tls_timeout", json_real((double)b->tls_nats.timeout_ms / 1000.0));
    }
    json_object_set_new(o, "kafka_port", json_integer(b->kafka.ls.port));
    if (b->cfg.jetstream) {
        json_object_set_new(o, "jetstream",
                            json_pack("{s:{s:s,s:I,s:I}}", "config", "store_dir", b->cfg.data_dir, "max_memory",
                                      (json_int_t)0, "max_storage", (json_int_t)-1));
    }
    respond_json(rs, o);
}

static bool query_u32(const struct http_request *rq, const char *key, uint32_t dflt, uint32_t *out) {
    char v[32];
    *out = dflt;
    if (!http_query_get(rq->query, key, v, sizeof(v)) || !v[0]) return true;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || v[0] == '-' || n > UINT32_MAX) return false;
    *out = (uint32_t)n;
    return true;
}

static void route_connz(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    uint32_t offset, limit;
    char sort[32] = "cid";
    if (!query_u32(rq, "offset", 0, &offset) || !query_u32(rq, "limit", 1024, &limit)) {
        respond_error(rs, 400, "offset and limit must be non-negative integers");
        return;
    }
    if (http_query_get(rq->query, "sort", sort, sizeof(sort)) && !nats_connz_sort_valid(sort)) {
        respond_error(rs, 400, "invalid sorting option");
        return;
    }
    json_t *o = json_object();
    nats_server_connz(&b->nats, o, offset, limit ? limit : 1024, sort, loop_clock_ms());
    respond_json(rs, o);
}

static void route_subsz(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    json_t *o = json_object();
    nats_server_subsz(&b->nats, o);
    respond_json(rs, o);
}

/* nats-server's /routez: the NATS routes to the cluster's other brokers. */
static void route_routez(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    json_t *o = json_object();
    json_object_set_new(o, "server_id", json_string(b->nats.server_id));
    nats_routes_routez(&b->nats, o);
    respond_json(rs, o);
}

static void route_jsz(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    if (!b->streams) {
        respond_error(rs, 503, "JetStream is not enabled (start with --jetstream)");
        return;
    }
    uint64_t msgs = 0, bytes = 0;
    uint32_t n = streams_count(b->streams);
    json_t *list = json_array();
    for (uint32_t i = 0; i < n; i++) {
        struct stream *s = streams_at(b->streams, i);
        struct stream_state st;
        stream_get_state(s, &st);
        msgs += st.messages;
        bytes += st.bytes;
        json_array_append_new(list, json_pack("{s:s,s:{s:I,s:I,s:I,s:I}}", "name", stream_name(s), "state", "messages",
                                              (json_int_t)st.messages, "bytes", (json_int_t)st.bytes, "first_seq",
                                              (json_int_t)st.first_seq, "last_seq", (json_int_t)st.last_seq));
    }
    char ts[40];
    sl_rfc3339_ms(ts, sizeof(ts), loop_clock_ms());
    json_t *o = json_object();
    json_object_set_new(o, "server_id", json_string(b->nats.server_id));
    json_object_set_new(o, "now", json_string(ts));
    json_object_set_new(o, "config", json_pack("{s:s,s:I,s:I}", "store_dir", b->cfg.data_dir, "max_memory", (json_int_t)0,
                                               "max_storage", (json_int_t)-1));
    json_object_set_new(o, "memory", json_integer(0));
    json_object_set_new(o, "storage", json_integer((json_int_t)bytes));
    json_object_set_new(o, "streams", json_integer(n));
    json_object_set_new(o, "consumers", json_integer(js_deliver_consumer_count(b->js_deliver)));
    json_object_set_new(o, "messages", json_integer((json_int_t)msgs));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "stream_detail", list);
    respond_json(rs, o);
}

static void monitor_tls_metrics(struct broker *b, struct prom *p) {
    const struct {
        const struct tls_server *t;
        const char *port;
    } ports[] = {{&b->tls_kafka, "kafka"}, {&b->tls_nats, "nats"}, {&b->tls_http, "https"}};
    prom_family(p, "sluice_tls_handshakes_total", "counter", "TLS handshakes on each TLS port, by result.");
    for (size_t i = 0; i < SL_ARRAY_LEN(ports); i++) {
        if (!ports[i].t->ctx) continue;
        char labels[96];
        prom_u64(p, "sluice_tls_handshakes_total", prom_labels(labels, sizeof(labels), "port", ports[i].port, "result", "ok", NULL),
                 ports[i].t->handshakes_ok);
        prom_u64(p, "sluice_tls_handshakes_total",
                 prom_labels(labels, sizeof(labels), "port", ports[i].port, "result", "failed", NULL),
                 ports[i].t->handshakes_failed);
    }
    prom_family(p, "sluice_tls_connections", "gauge", "Open connections on each TLS port.");
    for (size_t i = 0; i < SL_ARRAY_LEN(ports); i++) {
        if (!ports[i].t->ctx) continue;
        char labels[64];
        prom_u64(p, "sluice_tls_connections", prom_labels(labels, sizeof(labels), "port", ports[i].port, NULL),
                 ports[i].t->live);
    }
}

static void route_metrics(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    struct prom p;
    prom_init(&p);
    http_metrics_process(&p, b->start_wall_ms, SL_VERSION);
    http_metrics_tcp(&p);
    http_metrics_storage(&p, b->store);
    http_metrics_topics(&p, b->topics);
    kafka_server_metrics(&b->kafka, &p);
    nats_server_metrics(&b->nats, &p);
    monitor_tls_metrics(b, &p);
    if (b->js_deliver) js_deliver_metrics(b->js_deliver, &p);
    admin_cluster_metrics(b, &p);
    cluster_topics_metrics(b->cluster_sync, &p);
    cluster_streams_metrics(b->cluster_streams, &p);
    prom_family(&p, "sluice_http_requests_total", "counter", "Requests answered on the monitoring port.");
    prom_u64(&p, "sluice_http_requests_total", NULL, b->http.requests);
    free(rs->body);
    rs->status = 200;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rs->body = p.buf ? p.buf : sl_xcalloc(1, 1); /* the response takes the buffer */
    rs->len = p.len;
}

static void route_index(void *arg, const struct http_request *rq, struct http_response *rs) {
    (void)arg;
    (void)rq;
    http_response_set(rs, 200, "application/json",
                      "{\"endpoints\":[\"/healthz\",\"/varz\",\"/connz\",\"/subsz\",\"/routez\",\"/jsz\",\"/metrics\",\"/v1/security/users\"]}\n");
}

int monitor_start(struct broker *b) {
    b->start_wall_ms = loop_clock_ms();
    /* https_port replaces http_port, as in nats-server where only one of them serves. */
    uint16_t port = b->cfg.https_port ? b->cfg.https_port : (uint16_t)b->cfg.http_port;
    int rc = http_server_start(&b->http, &b->loop, b->cfg.host, port, 1024);
    if (rc < 0) {
        SL_ERROR("cannot listen on %s:%u for monitoring: %s", b->cfg.host, port, strerror(-rc));
        return -1;
    }
    if (b->tls_http.ctx) listener_set_tls(&b->http.ls, &b->tls_http, false);
    http_server_route(&b->http, "/", route_index, b);
    /* http_token guards every route but /healthz: a load balancer or a container's
     * HEALTHCHECK probes it without a secret, and it tells nothing but up or down. */
    http_server_set_token(&b->http, b->cfg.http_token);
    http_server_set_read_token(&b->http, b->cfg.http_read_token);
    http_server_route_open(&b->http, "/healthz", route_healthz, b);
    http_server_route(&b->http, "/varz", route_varz, b);
    http_server_route(&b->http, "/connz", route_connz, b);
    http_server_route(&b->http, "/subsz", route_subsz, b);
    http_server_route(&b->http, "/routez", route_routez, b);
    http_server_route(&b->http, "/subscriptionsz", route_subsz, b);
    http_server_route(&b->http, "/jsz", route_jsz, b);
    http_server_route(&b->http, "/metrics", route_metrics, b);
    /* Admin routes: never open (the token, or mTLS; see http_server.h). */
    admin_users_register(b);
    SL_INFO("monitoring listening on %s:%u%s", b->cfg.host, b->http.ls.port, b->tls_http.ctx ? " (https)" : "");
    return 0;
}

void monitor_stop(struct broker *b) { http_server_stop(&b->http); }
