/* admin_cluster.c: see admin_cluster.h. */
#include "broker/nats/nats_route.h"
#include "broker/admin_cluster.h"

#include <jansson.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/cluster/controller.h"
#include "broker/net/tls_client.h"
#include "broker/http/http_client.h"
#include "broker/http/http_json.h"
#include "broker/http/http_server.h"
#include "broker/broker.h"

/* How long a change may hold the request (on the cluster's worker thread). Adding a voter
 * waits for the new node to catch up; the others take a round trip or an election. */
#define CLUSTER_ADD_WAIT_MS 10000
#define CLUSTER_CHANGE_WAIT_MS 5000


static void cluster_not_leader(struct http_response *rs, uint32_t leader_id, const char *leader_address) {
    http_response_json(rs, 421,
                    json_pack("{s:s,s:I,s:s}", "error",
                              leader_id ? "not the leader: send this to the leader" : "no leader known: try again",
                              "leader_id", (json_int_t)leader_id, "leader_address", leader_address));
}

static json_t *cluster_status_json(const struct controller_status *s, uint32_t node_id) {
    json_t *servers = json_array();
    for (uint32_t i = 0; i < s->server_count; i++)
        json_array_append_new(servers, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)s->servers[i].id, "address",
                                                 s->servers[i].address, "role",
                                                 controller_role_name(s->servers[i].role)));
    json_t *brokers = json_array();
    for (uint32_t i = 0; i < s->fsm.count; i++) {
        json_t *b = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)s->fsm.brokers[i].node_id, "kafka",
                              s->fsm.brokers[i].kafka, "nats", s->fsm.brokers[i].nats, "http", s->fsm.brokers[i].http);
        /* Only a broker with NATS routes has a route address (nothing new for those without). */
        if (s->fsm.brokers[i].route[0]) json_object_set_new(b, "route", json_string(s->fsm.brokers[i].route));
        json_array_append_new(brokers, b);
    }
    return json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:I,s:I,s:o,s:o}", "node_id", (json_int_t)node_id, "state",
                     controller_state_name(s->state), "leader_id", (json_int_t)s->leader_id, "leader_address",
                     s->leader_address, "term", (json_int_t)s->term, "commit_index", (json_int_t)s->commit_index,
                     "last_applied", (json_int_t)s->last_applied, "elections", (json_int_t)s->elections,
                     "servers", servers, "brokers", brokers);
}

/* The routes outlive the controller by a few loop turns of a shutdown (the port closes last). */
static bool cluster_running(struct broker *b, struct http_response *rs) {
    if (b->cluster) return true;
    http_response_error(rs, 503, "the cluster controller has stopped (shutting down)");
    return false;
}

static void route_clusterz(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    (void)rq;
    if (!cluster_running(b, rs)) return;
    struct controller_status *s = sl_xcalloc(1, sizeof(*s)); /* ~18 KiB: off the loop's stack */
    controller_status(b->cluster, s);
    http_response_json(rs, 200, cluster_status_json(s, b->cfg.node_id));
    free(s);
}

/* A node id from JSON: an integer in 1..2^32-1. */
static bool cluster_json_id(json_t *v, uint32_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t id = json_integer_value(v);
    if (id < 1 || id > (json_int_t)UINT32_MAX) return false;
    *out = (uint32_t)id;
    return true;
}

/* Answers a change's outcome. */
static void cluster_answer(struct http_response *rs, enum controller_outcome out, const struct controller_result *res,
                           json_t *ok) {
    if (out == CONTROLLER_BUSY) {
        json_decref(ok);
        http_response_error(rs, 409, "another membership change is running: try again");
        return;
    }
    if (out == CONTROLLER_TIMEOUT) {
        json_decref(ok);
        http_response_error(rs, 504, "the change is still running: see /clusterz");
        return;
    }
    int status;
    switch (res->rc) {
    case 0: http_response_json(rs, 200, ok); return;
    case RAFT_NOTLEADER:
        json_decref(ok);
        cluster_not_leader(rs, res->leader_id, res->leader_address);
        return;
    case RAFT_LEADERSHIPLOST: status = 503; break; /* ok goes below, once (it went twice) */
    case RAFT_BADID:
    case RAFT_NOTFOUND: status = 404; break;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_CANTCHANGE:
    case RAFT_BADROLE: status = 409; break;
    default: status = 500; break;
    }
    json_decref(ok);
    http_response_error(rs, status, res->message);
}

/* ---- a change off the loop ----
 * A change waits for Raft (an add, for the new node to catch up: seconds). The wait runs on a
 * worker thread (controller_change blocks its caller), the request's answer is deferred
 * (http_defer), and the job's done, back on the loop, answers it. One worker: changes go one
 * after the other, as the controller's single slot takes them anyway. */
struct cluster_job {
    struct work w;
    struct broker *b;
    struct http_pending *pending;
    enum controller_change_kind kind;
    uint32_t id, wait_ms;
    char address[CLUSTER_ADDR_MAX];
    struct cluster_broker reg;
    char what[CLUSTER_ADDR_MAX + 96]; /* for the log line; "" logs nothing */
    json_t *ok;                       /* the body of a success */
    enum controller_outcome out;
    struct controller_result res;
};

static void cluster_job_run(struct work *w) {
    struct cluster_job *j = (struct cluster_job *)w;
    if (j->kind == CONTROLLER_REGISTER) j->out = controller_register(j->b->cluster, &j->reg, j->wait_ms, &j->res);
    else j->out = controller_change(j->b->cluster, j->kind, j->id, j->address, j->wait_ms, &j->res);
}

static void cluster_job_done(struct work *w) {
    struct cluster_job *j = (struct cluster_job *)w;
    if (j->what[0])
        SL_INFO("cluster: %s: %s (leader now %u)", j->what,
                j->out == CONTROLLER_DONE ? j->res.message : j->out == CONTROLLER_BUSY ? "busy" : "timed out",
                j->res.leader_id);
    struct http_response rs = {0};
    if (j->kind == CONTROLLER_TRANSFER && j->out == CONTROLLER_DONE && !j->res.rc)
        json_object_set_new(j->ok, "leader_id", json_integer((json_int_t)j->res.leader_id));
    cluster_answer(&rs, j->out, &j->res, j->ok);
    http_pending_answer(j->pending, &rs);
    free(j);
}

/* Defers rq's answer and runs the change on the cluster's worker. ok: the body of a success
 * (taken). */
static void cluster_job_start(struct broker *b, const struct http_request *rq, enum controller_change_kind kind,
                              uint32_t id, const char *address, const struct cluster_broker *reg, uint32_t wait_ms,
                              json_t *ok, const char *what) {
    struct cluster_job *j = sl_xcalloc(1, sizeof(*j));
    j->w.run = cluster_job_run;
    j->w.done = cluster_job_done;
    j->b = b;
    j->kind = kind;
    j->id = id;
    j->wait_ms = wait_ms;
    if (address) snprintf(j->address, sizeof(j->address), "%s", address);
    if (reg) j->reg = *reg;
    snprintf(j->what, sizeof(j->what), "%s", what);
    j->ok = ok;
    j->pending = http_defer(rq);
    workers_submit(b->cluster_jobs, &j->w);
}

/* The leader check done before a change, so a follower answers without touching Raft. */
static bool cluster_on_leader(struct broker *b, struct http_response *rs, struct controller_status *s) {
    controller_status(b->cluster, s);
    if (s->state == RAFT_LEADER) return true;
    cluster_not_leader(rs, s->leader_id, s->leader_address);
    return false;
}

static const struct controller_server *cluster_server(const struct controller_status *s, uint32_t id) {
    for (uint32_t i = 0; i < s->server_count; i++)
        if (s->servers[i].id == id) return &s->servers[i];
    return NULL;
}

static void route_nodes_add(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    static const char *const fields[] = {"id", "address", NULL};
    if (!cluster_running(b, rs)) return;
    json_t *o = http_request_json(rq, rs, fields, true);
    if (!o) return;
    uint32_t id;
    json_t *addr = json_object_get(o, "address");
    char why[160];
    if (!cluster_json_id(json_object_get(o, "id"), &id)) {
        http_response_error(rs, 400, "\"id\" must be an integer in 1..4294967295");
    } else if (!json_is_string(addr) || cluster_addr_check(json_string_value(addr), NULL, why, sizeof(why)) != 0) {
        http_response_error(rs, 400, json_is_string(addr) ? why : "\"address\" must be a string host:port");
    } else {
        struct controller_status *s = sl_xcalloc(1, sizeof(*s));
        if (cluster_on_leader(b, rs, s)) {
            char what[CLUSTER_ADDR_MAX + 96];
            snprintf(what, sizeof(what), "add node %u at %.*s (from %s)", id, CLUSTER_ADDR_MAX - 1,
                     json_string_value(addr), rq->peer);
            cluster_job_start(b, rq, CONTROLLER_ADD, id, json_string_value(addr), NULL, CLUSTER_ADD_WAIT_MS,
                              json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "address", json_string_value(addr),
                                        "role", "voter"),
                              what);
        }
        free(s);
    }
    json_decref(o);
}

static void route_nodes_remove(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    if (!cluster_running(b, rs)) return;
    char text[16];
    char *end = NULL;
    unsigned long long v = 0;
    if (http_path_decode(rq->rest, strlen(rq->rest), text, sizeof(text)) && text[0] >= '1' && text[0] <= '9')
        v = strtoull(text, &end, 10);
    if (!end || *end || v > UINT32_MAX) {
        http_response_error(rs, 400, "the node id in the path must be an integer in 1..4294967295");
        return;
    }
    uint32_t id = (uint32_t)v;
    struct controller_status *s = sl_xcalloc(1, sizeof(*s));
    if (cluster_on_leader(b, rs, s)) {
        if (!cluster_server(s, id)) {
            http_response_error(rs, 404, "no such node in the configuration");
        } else if (id == b->cfg.node_id) {
            http_response_error(rs, 409, "this node is the leader: transfer the leadership first");
        } else {
            char what[96];
            snprintf(what, sizeof(what), "remove node %u (from %s)", id, rq->peer);
            cluster_job_start(b, rq, CONTROLLER_REMOVE, id, NULL, NULL, CLUSTER_CHANGE_WAIT_MS,
                              json_pack("{s:I,s:b}", "id", (json_int_t)id, "removed", 1), what);
        }
    }
    free(s);
}

static void route_leader_transfer(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    static const char *const fields[] = {"id", NULL};
    if (!cluster_running(b, rs)) return;
    json_t *o = http_request_json(rq, rs, fields, true);
    if (!o) return;
    uint32_t id = 0;
    json_t *jid = json_object_get(o, "id");
    struct controller_status *s = sl_xcalloc(1, sizeof(*s));
    const struct controller_server *target = NULL;
    if (jid && !cluster_json_id(jid, &id)) {
        http_response_error(rs, 400, "\"id\" must be an integer in 1..4294967295 (or absent: any voter)");
    } else if (cluster_on_leader(b, rs, s)) {
        if (id && !(target = cluster_server(s, id))) {
            http_response_error(rs, 404, "no such node in the configuration");
        } else if (id == b->cfg.node_id) {
            http_response_error(rs, 409, "this node is already the leader");
        } else if (target && target->role != RAFT_VOTER) {
            http_response_error(rs, 409, "that node is not a voter");
        } else {
            char what[96];
            snprintf(what, sizeof(what), "leadership transfer to %u (from %s)", id, rq->peer);
            cluster_job_start(b, rq, CONTROLLER_TRANSFER, id, NULL, NULL, CLUSTER_CHANGE_WAIT_MS, json_object(), what);
        }
    }
    free(s);
    json_decref(o);
}

/* A host:port field of a registration: printable, no spaces, a host, a port in 1..65535, and
 * shorter than cap (CLUSTER_HOSTPORT_MAX: longer than a Raft address, as advertised names may be). */
static bool cluster_json_hostport(json_t *v, char *out, size_t cap) {
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap) return false;
    const char *t = json_string_value(v);
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) return false;
    const char *colon = strrchr(t, ':');
    if (!colon || colon == t || !colon[1] || strlen(colon + 1) > 5) return false;
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535 || colon[1] < '0' || colon[1] > '9') return false;
    snprintf(out, cap, "%s", t);
    return true;
}

/* POST /v1/cluster/brokers: a follower's registration (controller.h), applied by the leader. */
static void route_brokers_register(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    static const char *const fields[] = {"id", "kafka", "nats", "http", "route", NULL};
    if (!cluster_running(b, rs)) return;
    json_t *o = http_request_json(rq, rs, fields, true);
    if (!o) return;
    struct cluster_broker reg = {0};
    if (!cluster_json_id(json_object_get(o, "id"), &reg.node_id)) {
        http_response_error(rs, 400, "\"id\" must be an integer in 1..4294967295");
    } else if (!cluster_json_hostport(json_object_get(o, "kafka"), reg.kafka, sizeof(reg.kafka)) ||
               !cluster_json_hostport(json_object_get(o, "nats"), reg.nats, sizeof(reg.nats)) ||
               !cluster_json_hostport(json_object_get(o, "http"), reg.http, sizeof(reg.http))) {
        http_response_error(rs, 400, "\"kafka\", \"nats\" and \"http\" must be strings host:port");
    } else if (json_object_get(o, "route") && !(json_is_string(json_object_get(o, "route")) &&
                                                 json_string_length(json_object_get(o, "route")) == 0) &&
               !cluster_json_hostport(json_object_get(o, "route"), reg.route, sizeof(reg.route))) {
        /* Optional: a broker that predates routes sends none, one without a route port "". */
        http_response_error(rs, 400, "\"route\" must be a string host:port or empty");
    } else {
        struct controller_status *s = sl_xcalloc(1, sizeof(*s));
        if (cluster_on_leader(b, rs, s)) {
            if (!cluster_server(s, reg.node_id)) {
                http_response_error(rs, 404, "no such node in the configuration");
            } else {
                json_t *answer = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)reg.node_id, "kafka", reg.kafka,
                                           "nats", reg.nats, "http", reg.http);
                if (reg.route[0]) json_object_set_new(answer, "route", json_string(reg.route));
                cluster_job_start(b, rq, CONTROLLER_REGISTER, reg.node_id, NULL, &reg, CLUSTER_CHANGE_WAIT_MS, answer,
                                  "");
            }
        }
        free(s);
    }
    json_decref(o);
}

/* This node's registration: the Kafka and NATS host:port clients are told, and the monitoring
 * port on the host of its Raft address (the peers reach that host already; the advertised host
 * is for clients and may be a name only they resolve). */
/* The controller's way to the leader's registration route: http or https as ours is served.
 * Registrar thread: it reads only what is fixed after start (b->cluster_tls). */
#define CLUSTER_POST_MS 2000 /* one attempt's whole budget: connect, handshake, send, answer */
static int cluster_post(void *arg, const char *hostport, const char *token, const char *body, char *err,
                        size_t err_len) {
    struct broker *b = arg;
    return http_client_post(hostport, "/v1/cluster/brokers", token, body, b->cluster_tls, CLUSTER_POST_MS, err,
                            err_len);
}

static int cluster_self(struct broker *b, const char *raft_address, struct cluster_broker *self) {
    self->node_id = b->cfg.node_id;
    int k = snprintf(self->kafka, sizeof(self->kafka), "%s:%d", b->kafka.advertised_host, b->kafka.advertised_port);
    int n = snprintf(self->nats, sizeof(self->nats), "%s:%u", b->kafka.advertised_host, b->nats.ls.port);
    /* The NATS route address, on the host clients are told, as the NATS one. */
    int r = nats_routes_port(&b->nats)
                ? snprintf(self->route, sizeof(self->route), "%s:%u", b->kafka.advertised_host, nats_routes_port(&b->nats))
                : 0;
    const char *colon = strrchr(raft_address, ':');
    SL_ASSERT(colon); /* validated */
    int h = snprintf(self->http, sizeof(self->http), "%.*s:%u", (int)(colon - raft_address), raft_address,
                     b->http.ls.port);
    SL_ASSERT(h > 0 && (size_t)h < sizeof(self->http)); /* a Raft address is shorter than CLUSTER_ADDR_MAX */
    if (k <= 0 || (size_t)k >= sizeof(self->kafka) || n <= 0 || (size_t)n >= sizeof(self->nats) || r < 0 ||
        (size_t)r >= sizeof(self->route)) {
        SL_ERROR("cluster: the advertised host %.64s... is too long to register (at most %d bytes with the port)",
                 b->kafka.advertised_host, CLUSTER_HOSTPORT_MAX - 1);
        return -1;
    }
    return 0;
}

int admin_cluster_start(struct broker *b) {
    struct controller_config *cc = sl_xcalloc(1, sizeof(*cc));
    char why[200];
    int rc = -1;
    if (cluster_nodes_parse(b->cfg.cluster_nodes, &cc->nodes, why, sizeof(why)) != 0) {
        SL_ERROR("cluster_nodes: %s", why); /* sl_config_validate refused it already */
        goto out;
    }
    const struct cluster_node *me = cluster_nodes_find(&cc->nodes, b->cfg.node_id);
    size_t raft_addr_len = strlen(b->cfg.cluster_raft_addr);
    SL_ASSERT(raft_addr_len < sizeof(cc->bind) && (me || raft_addr_len)); /* validated */
    cc->node_id = b->cfg.node_id;
    if (me) {
        snprintf(cc->address, sizeof(cc->address), "%s", me->address);
        memcpy(cc->bind, b->cfg.cluster_raft_addr, raft_addr_len + 1);
    } else {
        /* Not in the list: a node joining a running cluster, reached at cluster_raft_addr. */
        cc->join = true;
        memcpy(cc->address, b->cfg.cluster_raft_addr, raft_addr_len + 1);
    }
    int n = snprintf(cc->dir, sizeof(cc->dir), "%s/raft", b->cfg.data_dir);
    if (n <= 0 || (size_t)n >= sizeof(cc->dir)) {
        SL_ERROR("cluster: data_dir is too long");
        goto out;
    }
    if (cluster_self(b, cc->address, &cc->self) != 0) goto out;
    /* Followers send their registration to the leader's admin route with the token, as the
     * monitoring port is served: every node of a cluster serves it the same way. Over https
     * the leader's certificate must verify against tls_ca (the system's CAs without one): the
     * request carries the token. Our own certificate goes along for a leader with tls_verify. */
    snprintf(cc->token, sizeof(cc->token), "%s", b->cfg.http_token);
    if (b->cfg.https_port) {
        struct tls_client_settings ts = {.ca_file = b->cfg.tls_ca, .cert_file = b->cfg.tls_cert,
                                         .key_file = b->cfg.tls_key, .min_version = b->cfg.tls_min_version};
        b->cluster_tls = tls_client_ctx_new(&ts, why, sizeof(why));
        if (!b->cluster_tls) {
            SL_ERROR("cluster: TLS for sending the registration to the leader: %s", why);
            goto out;
        }
    }
    /* Replica fetches and transaction markers go to the other brokers' Kafka ports as a client
     * would: over TLS when those speak it (the certificate checked against tls_ca, ours sent
     * for tls_verify), logged in with the cluster's own SASL user when set. */
    if (b->cfg.kafka_tls) {
        struct tls_client_settings ts = {.ca_file = b->cfg.tls_ca, .cert_file = b->cfg.tls_cert,
                                         .key_file = b->cfg.tls_key, .min_version = b->cfg.tls_min_version};
        b->kafka.peer_tls = tls_client_ctx_new(&ts, why, sizeof(why));
        if (!b->kafka.peer_tls) {
            SL_ERROR("cluster: TLS to the other brokers' Kafka ports: %s", why);
            tls_client_ctx_free(b->cluster_tls);
            b->cluster_tls = NULL;
            goto out;
        }
    }
    snprintf(b->kafka.peer_login.mechanism, sizeof(b->kafka.peer_login.mechanism), "%s", b->cfg.cluster_sasl_mechanism);
    snprintf(b->kafka.peer_login.username, sizeof(b->kafka.peer_login.username), "%s", b->cfg.cluster_sasl_username);
    snprintf(b->kafka.peer_login.password, sizeof(b->kafka.peer_login.password), "%s", b->cfg.cluster_sasl_password);
    cc->post = cluster_post;
    cc->post_arg = b;
    cc->session_ms = b->cfg.broker_session_timeout_ms;
    cc->rebalance_ms = b->cfg.leader_rebalance_interval_ms;
    b->cluster = controller_start(cc);
    if (!b->cluster) {
        tls_client_ctx_free(b->cluster_tls);
        b->cluster_tls = NULL;
        tls_client_ctx_free(b->kafka.peer_tls);
        b->kafka.peer_tls = NULL;
        goto out;
    }
    /* No thread: workers_submit runs a change inline, on the loop, as before (only slower). */
    b->cluster_jobs = workers_new(&b->loop, 1, "cluster");
    http_server_route(&b->http, "/clusterz", route_clusterz, b);
    http_server_route_admin(&b->http, "/v1/cluster/nodes", HTTP_M_POST, false, route_nodes_add, b);
    http_server_route_admin(&b->http, "/v1/cluster/nodes", HTTP_M_DELETE, true, route_nodes_remove, b);
    http_server_route_admin(&b->http, "/v1/cluster/leader/transfer", HTTP_M_POST, false, route_leader_transfer, b);
    http_server_route_admin(&b->http, "/v1/cluster/brokers", HTTP_M_POST, false, route_brokers_register, b);
    rc = 0;
out:
    free(cc);
    return rc;
}

void admin_cluster_handover(struct broker *b) {
    if (!b->cluster) return;
    struct controller_status *s = sl_xcalloc(1, sizeof(*s));
    controller_status(b->cluster, s);
    if (s->state == RAFT_LEADER && s->server_count > 1) {
        struct controller_result res;
        enum controller_outcome out = controller_change(b->cluster, CONTROLLER_TRANSFER, 0, NULL, 3000, &res);
        SL_INFO("cluster: Raft leadership %s before stopping (%s)",
                out == CONTROLLER_DONE && res.rc == 0 ? "handed over" : "not handed over", res.message);
    }
    free(s);
}

void admin_cluster_stop(struct broker *b) {
    /* The changes under way finish first (bounded by their waits) and answer, if their
     * connections are still there; then the controller goes. */
    workers_free(b->cluster_jobs);
    b->cluster_jobs = NULL;
    controller_stop(b->cluster);
    b->cluster = NULL;
    tls_client_ctx_free(b->cluster_tls); /* after the registrar thread is gone */
    b->cluster_tls = NULL;
}

void admin_cluster_metrics(struct broker *b, struct prom *p) {
    if (!b->cluster) return;
    struct controller_status *s = sl_xcalloc(1, sizeof(*s));
    controller_status(b->cluster, s);
    prom_family(p, "sluice_cluster_raft_state", "gauge",
                "This node's Raft state: 0 unavailable, 1 follower, 2 candidate, 3 leader.");
    prom_u64(p, "sluice_cluster_raft_state", NULL, (uint64_t)s->state);
    prom_family(p, "sluice_cluster_leader_id", "gauge", "The node id of the leader this node knows; 0 if none.");
    prom_u64(p, "sluice_cluster_leader_id", NULL, s->leader_id);
    prom_family(p, "sluice_cluster_term", "gauge", "The Raft term this node is in.");
    prom_u64(p, "sluice_cluster_term", NULL, s->term);
    prom_family(p, "sluice_cluster_commit_index", "gauge", "The highest Raft log index this node knows committed.");
    prom_u64(p, "sluice_cluster_commit_index", NULL, s->commit_index);
    prom_family(p, "sluice_cluster_elections_total", "counter", "Raft terms this node has seen begin since it started.");
    prom_u64(p, "sluice_cluster_elections_total", NULL, s->elections);
    free(s);
}
