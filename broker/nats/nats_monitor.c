/* nats_monitor.c: the NATS wing's monitoring views: the NATS part of /varz, /connz and /subsz in
 * nats-server 2.9's JSON shapes (the field names prometheus-nats-exporter and the nats CLI
 * read), and the NATS families of /metrics. Read-only walks over the live connections. */
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/base.h"
#include "base/prom.h"
#include "broker/nats/nats_conn.h"
#include "broker/nats/nats_monitor.h"
#include "broker/nats/nats_route.h"
#include "broker/nats/sublist.h"

void nats_server_varz(struct nats_server *ns, json_t *o) {
    const struct sl_config *cfg = ns->cfg;
    json_object_set_new(o, "server_id", json_string(ns->server_id));
    json_object_set_new(o, "server_name", json_string(ns->server_name));
    json_object_set_new(o, "version", json_string("2.9.10"));
    json_object_set_new(o, "proto", json_integer(1));
    json_object_set_new(o, "host", json_string(cfg->host));
    json_object_set_new(o, "port", json_integer(ns->ls.port));
    json_object_set_new(o, "max_connections", json_integer(cfg->max_connections));
    json_object_set_new(o, "ping_interval", json_integer((json_int_t)cfg->ping_interval_ms * 1000000));
    json_object_set_new(o, "ping_max", json_integer(cfg->ping_max_out));
    json_object_set_new(o, "auth_required", json_boolean(cfg->auth_token[0] || cfg->user[0]));
    json_object_set_new(o, "max_control_line", json_integer((json_int_t)cfg->max_control_line_bytes));
    json_object_set_new(o, "max_payload", json_integer((json_int_t)cfg->max_payload_bytes));
    json_object_set_new(o, "max_pending", json_integer((json_int_t)cfg->max_pending_bytes));
    json_object_set_new(o, "write_deadline", json_integer((json_int_t)cfg->write_deadline_ms * 1000000));
    json_object_set_new(o, "connections", json_integer(ns->conn_count));
    json_object_set_new(o, "total_connections", json_integer((json_int_t)ns->next_client_id));
    json_object_set_new(o, "routes", json_integer(0));
    json_object_set_new(o, "remotes", json_integer(0));
    json_object_set_new(o, "leafnodes", json_integer(0));
    json_object_set_new(o, "in_msgs", json_integer((json_int_t)ns->msgs_in));
    json_object_set_new(o, "out_msgs", json_integer((json_int_t)ns->msgs_out));
    json_object_set_new(o, "in_bytes", json_integer((json_int_t)ns->bytes_in));
    json_object_set_new(o, "out_bytes", json_integer((json_int_t)ns->bytes_out));
    json_object_set_new(o, "slow_consumers", json_integer((json_int_t)ns->slow_consumers));
    json_object_set_new(o, "subscriptions", json_integer(sublist_count(ns->subs)));
}

/* Retransmitted segments of one socket (TCP_INFO), -1 if unknown. */
static int64_t tcp_retrans(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    return ti.tcpi_total_retrans;
}

static int cmp_u64_desc(uint64_t a, uint64_t b) { return a < b ? 1 : a > b ? -1 : 0; }

static const char *connz_sort;
static int connz_cmp(const void *pa, const void *pb) {
    const struct nconn *a = *(const struct nconn *const *)pa, *b = *(const struct nconn *const *)pb;
    if (!strcmp(connz_sort, "msgs_to")) return cmp_u64_desc(a->out_msgs, b->out_msgs);
    if (!strcmp(connz_sort, "msgs_from")) return cmp_u64_desc(a->in_msgs, b->in_msgs);
    if (!strcmp(connz_sort, "bytes_to")) return cmp_u64_desc(a->out_bytes, b->out_bytes);
    if (!strcmp(connz_sort, "bytes_from")) return cmp_u64_desc(a->in_bytes, b->in_bytes);
    if (!strcmp(connz_sort, "subs")) return cmp_u64_desc(a->sub_count, b->sub_count);
    if (!strcmp(connz_sort, "pending")) return cmp_u64_desc(a->out_len, b->out_len);
    if (!strcmp(connz_sort, "start")) return a->start_ms < b->start_ms ? -1 : a->start_ms > b->start_ms;
    return a->cid < b->cid ? -1 : a->cid > b->cid; /* "cid", nats-server's default */
}

bool nats_connz_sort_valid(const char *sort) {
    static const char *const ok[] = {"cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from"};
    for (size_t i = 0; i < SL_ARRAY_LEN(ok); i++)
        if (!strcmp(sort, ok[i])) return true;
    return false;
}

void nats_server_connz(struct nats_server *ns, json_t *o, uint32_t offset, uint32_t limit, const char *sort,
                       uint64_t now_ms) {
    uint32_t n = 0;
    for (struct conn *c = ns->ls.conns; c; c = c->list_next) n++;
    struct nconn **v = sl_xmalloc((n ? n : 1) * sizeof(*v));
    uint32_t k = 0;
    for (struct conn *c = ns->ls.conns; c && k < n; c = c->list_next)
        if (c->proto) v[k++] = c->proto;
    connz_sort = sort;
    qsort(v, k, sizeof(*v), connz_cmp);
    char ts[40];
    sl_rfc3339_ms(ts, sizeof(ts), now_ms);
    json_object_set_new(o, "server_id", json_string(ns->server_id));
    json_object_set_new(o, "now", json_string(ts));
    json_object_set_new(o, "num_connections", json_integer(offset < k ? SL_MIN(limit, k - offset) : 0));
    json_object_set_new(o, "total", json_integer(k));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_t *arr = json_array();
    for (uint32_t i = offset; i < k && i - offset < limit; i++) {
        struct nconn *nc = v[i];
        json_t *e = json_object();
        char ip[64] = "";
        int port = 0;
        const char *colon = strrchr(nc->c->peer, ':');
        if (colon) {
            snprintf(ip, sizeof(ip), "%.*s", (int)(colon - nc->c->peer), nc->c->peer);
            port = atoi(colon + 1);
        }
        json_object_set_new(e, "cid", json_integer((json_int_t)nc->cid));
        json_object_set_new(e, "kind", json_string("Client"));
        json_object_set_new(e, "type", json_string("nats"));
        json_object_set_new(e, "ip", json_string(ip));
        json_object_set_new(e, "port", json_integer(port));
        sl_rfc3339_ms(ts, sizeof(ts), nc->start_ms);
        json_object_set_new(e, "start", json_string(ts));
        json_object_set_new(e, "pending_bytes", json_integer((json_int_t)(nc->out_len + nc->c->out_bytes)));
        json_object_set_new(e, "in_msgs", json_integer((json_int_t)nc->in_msgs));
        json_object_set_new(e, "out_msgs", json_integer((json_int_t)nc->out_msgs));
        json_object_set_new(e, "in_bytes", json_integer((json_int_t)nc->in_bytes));
        json_object_set_new(e, "out_bytes", json_integer((json_int_t)nc->out_bytes));
        json_object_set_new(e, "subscriptions", json_integer(nc->sub_count));
        if (nc->name[0]) json_object_set_new(e, "name", json_string(nc->name));
        if (nc->lang[0]) json_object_set_new(e, "lang", json_string(nc->lang));
        if (nc->version[0]) json_object_set_new(e, "version", json_string(nc->version));
        int64_t rt = tcp_retrans(nc->c->fd);
        if (rt >= 0) json_object_set_new(e, "tcp_retransmits", json_integer(rt));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "connections", arr);
    free(v);
}

void nats_server_subsz(struct nats_server *ns, json_t *o) {
    json_object_set_new(o, "server_id", json_string(ns->server_id));
    json_object_set_new(o, "num_subscriptions", json_integer(sublist_count(ns->subs)));
    json_object_set_new(o, "num_cache", json_integer(0));
    json_object_set_new(o, "num_inserts", json_integer(0));
    json_object_set_new(o, "num_removes", json_integer(0));
    json_object_set_new(o, "num_matches", json_integer((json_int_t)ns->msgs_in));
    json_object_set_new(o, "cache_hit_rate", json_real(0));
    json_object_set_new(o, "max_fanout", json_integer(0));
    json_object_set_new(o, "avg_fanout", json_real(0));
}

void nats_server_metrics(struct nats_server *ns, struct prom *p) {
    static const struct {
        const char *name, *help;
    } c[] = {
        {"sluice_nats_messages_received_total", "NATS messages published to the server (PUB, HPUB, in-process)."},
        {"sluice_nats_messages_sent_total", "NATS messages delivered to client subscriptions."},
        {"sluice_nats_received_bytes_total", "Payload and header bytes of NATS messages received."},
        {"sluice_nats_sent_bytes_total", "Payload and header bytes of NATS messages delivered."},
        {"sluice_nats_slow_consumers_total", "NATS subscribers closed as slow consumers."},
        {"sluice_nats_stalls_total", "Times a NATS publisher was paused for a slow subscriber."},
        {"sluice_nats_js_acl_checks_total", "JetStream stream ACL checks of NATS clients (kafka_authorizer on)."},
        {"sluice_nats_js_acl_scans_total", "Those of them not answered by the connection's kept verdicts."},
        {"sluice_nats_js_publishes_denied_total", "NATS publishes into a stream refused by its topic's ACLs."},
    };
    const uint64_t v[] = {ns->msgs_in,        ns->msgs_out, ns->bytes_in,  ns->bytes_out,
                          ns->slow_consumers, ns->stalls,   ns->acl_checks, ns->acl_scans,
                          ns->js_publishes_denied};
    for (size_t i = 0; i < SL_ARRAY_LEN(c); i++) {
        prom_family(p, c[i].name, "counter", c[i].help);
        prom_u64(p, c[i].name, NULL, v[i]);
    }
    prom_family(p, "sluice_nats_connections", "gauge", "Open connections on the NATS listener.");
    prom_u64(p, "sluice_nats_connections", NULL, ns->conn_count);
    prom_family(p, "sluice_nats_subscriptions", "gauge", "NATS subscriptions, client and in-process.");
    prom_u64(p, "sluice_nats_subscriptions", NULL, sublist_count(ns->subs));
    nats_routes_metrics(ns, p);
}
