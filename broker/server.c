/* server.c: the broker's start, run and stop (see server.h). Up: file limit, signals, loop,
 * storage; down in the reverse order. A signal never interrupts anything: SIGTERM and SIGINT
 * are blocked and arrive on a signalfd polled through the loop, so shutdown starts between two
 * loop turns and the store is closed (flushed, synced, marked clean) on the normal path. */
#include "broker/server.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/admin_cluster.h"
#include "broker/cluster_streams.h"
#include "broker/cluster_topics.h"
#include "broker/core/acl.h"
#include "broker/core/stream.h"
#include "broker/core/topics.h"
#include "broker/monitor.h"
#include "broker/nats/js_ingest.h"
#include "broker/nats/nats_auth.h"
#include "broker/nats/js_deliver.h"
#include "broker/net/tls_client.h"
#include "broker/nats/jsapi.h"
#include "storage/store.h"

/* Submission queue size; the loop doubles as the CQ x4. Listeners will size it from
 * max_connections. */
#define BROKER_RING_ENTRIES 4096
#define BROKER_TURN_MS 1000

/* Every connection and every sealed segment costs a descriptor; the soft limit (often 1024)
 * would be hit long before max_connections, and only the hard limit is a real ceiling. */
static void broker_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        SL_DEBUG("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    unsigned long long soft = rl.rlim_cur, hard = rl.rlim_max;
    if (rl.rlim_cur >= rl.rlim_max) {
        SL_DEBUG("open files limit %llu is already the hard limit", soft);
        return;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        SL_DEBUG("cannot raise the open files limit from %llu to %llu: %s", soft, hard, strerror(errno));
        return;
    }
    SL_DEBUG("open files limit raised from %llu to %llu", soft, hard);
}

/* Descriptors the broker keeps for itself whatever the partitions: the ring, listeners, the
 * signalfd, the internal logs, stdio, and the transient ones (index files, directory syncs). */
#define BROKER_FDS_OWN 64

/* How many partitions the open files limit allows. Every partition holds its active segment
 * open for as long as it exists, so partitions are refused past this (POLICY_VIOLATION) rather
 * than failing on EMFILE halfway, or leaving a data directory a restart cannot open. Reserved
 * besides: the sealed segments kept open (open_files_max) and the connections
 * (max_connections), each at most a quarter of the limit, so neither starves the other. */
static uint32_t broker_partitions_max(const struct sl_config *cfg) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    uint64_t limit = rl.rlim_cur;
    uint64_t reserve = BROKER_FDS_OWN + SL_MIN((uint64_t)cfg->open_files_max, limit / 4) +
                       SL_MIN((uint64_t)cfg->max_connections, limit / 4);
    uint64_t max = limit > reserve + 1 ? limit - reserve : 1;
    return (uint32_t)SL_MIN(max, (uint64_t)UINT32_MAX);
}

static int broker_signals_block(struct broker *b) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP); /* reload */
    /* A peer that closes mid-send must surface as EPIPE on that connection, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &mask, &b->signal_mask_old) != 0) {
        SL_ERROR("cannot block SIGTERM/SIGINT: %s", strerror(errno));
        return -1;
    }
    b->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (b->signal_fd < 0) {
        SL_ERROR("signalfd: %s", strerror(errno));
        sigprocmask(SIG_SETMASK, &b->signal_mask_old, NULL);
        return -1;
    }
    return 0;
}

static void broker_signals_restore(struct broker *b) {
    if (b->signal_fd >= 0) close(b->signal_fd);
    b->signal_fd = -1;
    sigprocmask(SIG_SETMASK, &b->signal_mask_old, NULL);
}

/* A poll, not a read: a read on a signalfd may be punted to an io-wq worker thread, and which
 * thread's signals a signalfd returns depends on the reader. Polling keeps the read here. */
static void broker_signal_arm(struct broker *b) {
    struct io_uring_sqe *sqe = loop_sqe(&b->loop, &b->signal_op);
    io_uring_prep_poll_add(sqe, b->signal_fd, POLLIN);
}

static void broker_on_signal(struct io_op *op, int32_t res) {
    struct broker *b = sl_container_of(op, struct broker, signal_op);
    if (res < 0) {
        SL_ERROR("poll on the signalfd failed: %s; stopping", strerror(-res));
        b->signal_received = SIGTERM;
        return;
    }
    struct signalfd_siginfo si;
    if (read(b->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            broker_reload(b);
            broker_signal_arm(b);
            return;
        }
        b->signal_received = (int)si.ssi_signo;
        const char *name = sigabbrev_np((int)si.ssi_signo);
        SL_INFO("received SIG%s", name ? name : "?");
        return;
    }
    broker_signal_arm(b); /* woken with nothing to read: keep listening */
}

static void broker_tls_reload(struct broker *b);

/* SIGHUP: reads the flags and config file again. What the running broker reads from its config
 * at each use changes now (for new connections where it is fixed per connection: max_payload,
 * auth); everything else is compared and named in a log line saying it needs a restart. A
 * config that does not parse or validate changes nothing. */
void broker_reload(struct broker *b) {
    static struct sl_config next; /* static: large, and reloads run one at a time on the loop */
    char err[1024];
    sl_config_free(&next);
    memset(&next, 0, sizeof(next)); /* padding too: settings are compared with memcmp */
    sl_config_defaults(&next);
    int rc = b->argv ? sl_config_parse_args(&next, b->argc, b->argv, err, sizeof(err)) : -1;
    if (!b->argv) snprintf(err, sizeof(err), "no command line to reload from");
    if (rc == 0) rc = sl_config_validate(&next, err, sizeof(err));
    if (rc != 0) {
        SL_ERROR("reload refused, nothing changed: %s", err);
        sl_config_free(&next);
        return;
    }
    for (uint32_t i = 0; i < next.warning_count; i++) SL_WARN("%s", next.warnings[i]);
    struct sl_config *c = &b->cfg;
    uint32_t changed = 0;
#define RELOAD(field, key)                                                                        \
    do {                                                                                          \
        if (memcmp(&c->field, &next.field, sizeof(c->field)) != 0) {                              \
            memcpy(&c->field, &next.field, sizeof(c->field));                                     \
            SL_INFO("reload: %s changed", key);                                                   \
            changed++;                                                                            \
        }                                                                                         \
    } while (0)
#define RESTART(field, key)                                                                       \
    do {                                                                                          \
        if (memcmp(&c->field, &next.field, sizeof(c->field)) != 0)                                \
            SL_WARN("reload: %s changed in the configuration but needs a restart: still the old value", key); \
    } while (0)
    RELOAD(log_level, "log_level");
    RELOAD(log_format, "log_format");
    RELOAD(max_payload_bytes, "max_payload");
    RELOAD(max_connections, "max_connections");
    RELOAD(write_deadline_ms, "write_deadline");
    RELOAD(max_pending_bytes, "max_pending");
    RELOAD(max_pending_total_bytes, "max_pending_total");
    RELOAD(max_control_line_bytes, "max_control_line");
    RELOAD(ping_interval_ms, "ping_interval");
    RELOAD(ping_max_out, "ping_max");
    RELOAD(auth_timeout_ms, "auth_timeout");
    RELOAD(user, "user");
    RELOAD(pass, "pass");
    RELOAD(auth_token, "auth_token");
    /* The users list is always taken (comparing two lists buys nothing), and every connected
     * NATS client is checked against it before the old list, which they point into, goes. */
    struct nats_auth *old_auth = c->nats_auth;
    c->nats_auth = next.nats_auth;
    next.nats_auth = NULL;
    RELOAD(max_request_bytes, "max_request_bytes");
    RELOAD(offsets_retention_ms, "offsets_retention_ms");
    RELOAD(kafka_authorizer, "kafka_authorizer"); /* both read at every check (kafka_acl.c) */
    RELOAD(kafka_super_users, "kafka_super_users");
    RELOAD(tls_cert, "tls_cert");
    RELOAD(tls_key, "tls_key");
    RELOAD(tls_ca, "tls_ca");
    RELOAD(tls_verify, "tls_verify");
    RELOAD(tls_timeout_ms, "tls_timeout");
    RELOAD(tls_min_version, "tls_min_version");
    RELOAD(tls_cipher_suites, "tls_cipher_suites");
    RELOAD(tls_cipher_suites_tls13, "tls_cipher_suites_tls13");
    RELOAD(tls_curve_preferences, "tls_curve_preferences");
    RESTART(tls, "tls");
    RESTART(kafka_tls, "kafka_tls");
    RESTART(https_port, "https_port");
    RELOAD(http_token, "http_token"); /* the monitoring port reads it at each request */
    RELOAD(http_read_token, "http_read_token");
    RELOAD(kafka_sasl_users_file, "kafka_sasl_users_file");
    RELOAD(kafka_sasl_session_lifetime_ms, "kafka_sasl_session_lifetime_ms");
    RESTART(kafka_sasl_mechanisms, "kafka_sasl_mechanisms");
    RESTART(data_dir, "data_dir");
    RESTART(host, "host");
    RESTART(kafka_port, "kafka_port");
    RESTART(nats_port, "port");
    RESTART(http_port, "http_port");
    RESTART(jetstream, "jetstream");
    RESTART(cluster_nodes, "cluster_nodes");
    RESTART(cluster_raft_addr, "cluster_raft_addr");
    RESTART(log, "segment, retention and fsync settings");
#undef RELOAD
#undef RESTART
    sl_log_level_max = (enum sl_log_level)c->log_level;
    sl_log_json = !strcmp(c->log_format, "json");
    /* Fixed per connection at accept: the new values hold for connections made from now on. */
    b->nats.ls.in_max = (size_t)c->max_payload_bytes + c->max_control_line_bytes + 64;
    b->nats.ls.conn_max = c->max_connections + 1024;
    broker_tls_reload(b);
    nats_server_reauth(&b->nats);
    nats_auth_free(old_auth);
    /* Super users, the authorizer switch or a NATS connection's user may have changed: the
     * verdicts NATS connections keep are made again. */
    if (b->kafka.acls) acl_set_changed(b->kafka.acls);
    kafka_sasl_reload(&b->kafka); /* the PLAIN users file may have changed even if its name did not */
    SL_INFO("reloaded the configuration: %u setting(s) changed", changed);
}

static void broker_tls_settings(const struct sl_config *c, struct tls_settings *s) {
    s->cert_file = c->tls_cert;
    s->key_file = c->tls_key;
    s->ca_file = c->tls_ca;
    s->verify = c->tls_verify;
    s->min_version = c->tls_min_version;
    s->cipher_suites = c->tls_cipher_suites;
    s->cipher_suites_tls13 = c->tls_cipher_suites_tls13;
    s->curve_preferences = c->tls_curve_preferences;
}

/* The contexts of the ports that speak TLS, loaded before anything opens: a certificate that
 * does not load stops the start with a message naming the file. */
static int broker_tls_open(struct broker *b) {
    struct tls_settings s;
    broker_tls_settings(&b->cfg, &s);
    const struct {
        bool on;
        struct tls_server *t;
        const char *port;
    } ports[] = {{b->cfg.kafka_tls, &b->tls_kafka, "kafka"},
                 {b->cfg.tls, &b->tls_nats, "nats"},
                 {b->cfg.https_port != 0, &b->tls_http, "https"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(ports); i++) {
        char err[512];
        if (!ports[i].on) continue;
        if (tls_server_init(ports[i].t, &s, b->cfg.tls_timeout_ms, err, sizeof(err)) != 0) {
            SL_ERROR("TLS for the %s port: %s", ports[i].port, err);
            return -1;
        }
    }
    return 0;
}

static void broker_tls_close(struct broker *b) {
    tls_server_free(&b->tls_kafka);
    tls_server_free(&b->tls_nats);
    tls_server_free(&b->tls_http);
}

/* SIGHUP: certificate files are read again (a renewed certificate at the same path is the usual
 * case). A context that fails to load keeps the old one. */
static void broker_tls_reload(struct broker *b) {
    struct tls_settings s;
    broker_tls_settings(&b->cfg, &s);
    struct tls_server *ts[] = {&b->tls_kafka, &b->tls_nats, &b->tls_http};
    const char *names[] = {"kafka", "nats", "https"};
    for (size_t i = 0; i < SL_ARRAY_LEN(ts); i++) {
        char err[512];
        if (!ts[i]->ctx) continue;
        ts[i]->timeout_ms = b->cfg.tls_timeout_ms;
        if (tls_server_reload(ts[i], &s, err, sizeof(err)) != 0)
            SL_ERROR("reload: TLS for the %s port keeps its old certificate: %s", names[i], err);
        else
            SL_INFO("reload: TLS certificate of the %s port loaded from %s", names[i], s.cert_file);
    }
}

static int broker_store_open(struct broker *b) {
    struct store_options opts;
    store_options_defaults(&opts);
    opts.open_files_max = b->cfg.open_files_max;
    opts.retention_check_ms = b->cfg.retention_check_ms;
    opts.cleaner_buffer_bytes = b->cfg.cleaner_buffer_bytes;
    errno = 0;
    sl_err e = store_open(&b->store, &b->loop, b->cfg.data_dir, &b->cfg.log, &opts);
    if (e != SL_OK && errno == EMFILE) {
        struct rlimit rl = {0, 0};
        getrlimit(RLIMIT_NOFILE, &rl);
        SL_ERROR("cannot open the data directory %s: it holds more partitions than the open files limit "
                 "(ulimit -n %llu) lets the broker keep open, one file each: raise the limit",
                 b->cfg.data_dir, (unsigned long long)rl.rlim_cur);
        b->store = NULL;
        return -1;
    }
    if (e != SL_OK) {
        SL_ERROR("cannot open the data directory %s: %s", b->cfg.data_dir, sl_err_str(e));
        b->store = NULL;
        return -1;
    }
    return 0;
}

/* A replicated stream's leadership moved (js_ingest saw it): its consumers follow. */
static void broker_js_lead(void *arg, struct stream *s, bool served) {
    struct broker *b = arg;
    if (!served) cluster_streams_lead_lost(b->cluster_streams);
    if (b->js_deliver) js_deliver_lead(b->js_deliver, s, served);
}

/* JetStream's three parts, in the order their references run (NULLs are fine). */
static void broker_js_stop(struct broker *b) {
    js_deliver_stop(b->js_deliver);
    b->js_deliver = NULL;
    jsapi_stop(b->jsapi);
    b->jsapi = NULL;
    js_ingest_free(b->js_ingest);
    b->js_ingest = NULL;
}

int broker_start(struct broker *b, const struct sl_config *cfg) {
    memset(b, 0, sizeof(*b));
    b->cfg = *cfg;
    b->signal_fd = -1;
    b->signal_op.done = broker_on_signal;
    broker_raise_nofile();
    if (broker_signals_block(b) != 0) return -1;
    int rc = loop_init(&b->loop, BROKER_RING_ENTRIES);
    /* The rings are physically contiguous kernel memory (256 KiB each at 4096 entries): on a
     * machine whose memory is fragmented that can fail with ENOMEM while a smaller ring would
     * not (seen on a loaded test machine at a restart after kill -9). A smaller ring only
     * means more io_uring_enter calls under load. */
    for (uint32_t entries = BROKER_RING_ENTRIES / 2; rc == -ENOMEM && entries >= 256; entries /= 2) {
        SL_WARN("io_uring: no memory for %u entries; trying %u", entries * 2, entries);
        rc = loop_init(&b->loop, entries);
    }
    if (rc < 0) {
        SL_ERROR("io_uring unavailable: %s", strerror(-rc));
        broker_signals_restore(b);
        return -1;
    }
    /* Each step that fails undoes the ones before it, in reverse (the labels at the end). */
    if (broker_tls_open(b) != 0) goto fail_loop;
    if (broker_store_open(b) != 0) goto fail_loop;
    sl_err te = topics_open(&b->topics, b->store, b->cfg.data_dir, &b->cfg.log);
    if (te != SL_OK) {
        SL_ERROR("cannot open the topic registry: %s", sl_err_str(te));
        goto fail_store;
    }
    if (b->cfg.jetstream && streams_open(&b->streams, b->store, b->topics) != SL_OK) {
        SL_ERROR("cannot open the streams");
        goto fail_topics;
    }
    if (b->streams) streams_set_dlq_default(b->streams, b->cfg.jetstream_dlq);
    if (kafka_server_start(&b->kafka, &b->cfg, &b->loop, b->store, b->topics) != 0) goto fail_streams;
    /* After the internal logs opened (committed offsets), before any request. */
    uint32_t partitions_max = broker_partitions_max(&b->cfg);
    topics_set_partitions_max(b->topics, partitions_max);
    if (partitions_max && topics_partitions_used(b->topics) > partitions_max)
        SL_WARN("the data directory holds %u partitions, more than the %u the open files limit allows with room "
                "for connections: new partitions are refused until the limit is raised (ulimit -n)",
                topics_partitions_used(b->topics), partitions_max);
    else if (partitions_max)
        SL_INFO("partitions: %u open, at most %u (from the open files limit)", topics_partitions_used(b->topics),
                partitions_max);
    b->kafka_running = true;
    b->kafka.ls.out_total = &b->out_total; /* before the loop runs: no connection yet */
    if (b->tls_kafka.ctx) listener_set_tls(&b->kafka.ls, &b->tls_kafka, false);
    if (nats_server_start(&b->nats, &b->cfg, &b->loop) != 0) goto fail_kafka;
    b->nats_running = true;
    b->nats.ls.out_total = &b->out_total;
    b->nats.acls = b->kafka.acls; /* JetStream streams obey the topics' ACLs (nats_acl.h) */
    /* nats-server's order: INFO in the clear (with tls_required), then the client's handshake. */
    if (b->tls_nats.ctx) listener_set_tls(&b->nats.ls, &b->tls_nats, true);
    if (monitor_start(b) != 0) goto fail_nats;
    b->http_running = true;
    b->http.ls.out_total = &b->out_total;
    if (b->streams) {
        b->js_ingest = js_ingest_new(&b->nats, b->streams);
        b->jsapi = jsapi_start(&b->nats, b->streams, b->js_ingest);
        b->js_deliver = js_deliver_start(&b->nats, &b->loop, b->streams, b->jsapi, b->topics);
        js_ingest_set_lead_hook(b->js_ingest, broker_js_lead, b);
    }
    /* Last: the registration carries the listeners' bound ports (port 0 picks one). */
    if (b->cfg.cluster_nodes[0] && admin_cluster_start(b) != 0) goto fail_js;
    if (b->cluster) {
        b->cluster_sync = cluster_topics_start(b);
        b->kafka.view = cluster_topics_view(b->cluster_sync);
        b->nats.view = b->kafka.view; /* connect_urls and the route mesh (nats_route.h) */
        if (b->streams) streams_set_view(b->streams, b->kafka.view); /* replicated streams */
        b->cluster_streams = cluster_streams_start(b);
        if (b->cluster_streams) js_deliver_set_sync(b->js_deliver, cluster_streams_sync, b->cluster_streams);
    }
    broker_signal_arm(b);
    b->monitor_ready = true;
    const struct store_stats *stats = store_get_stats(b->store);
    if (stats->fresh)
        SL_INFO("sluice-server " SL_VERSION " started: data_dir=%s (new data directory)", b->cfg.data_dir);
    else if (stats->clean)
        SL_INFO("sluice-server " SL_VERSION " started: data_dir=%s (clean shutdown, %llu partitions)",
                b->cfg.data_dir, (unsigned long long)stats->recovered_logs);
    else
        SL_INFO("sluice-server " SL_VERSION " started: data_dir=%s (recovered after a crash: %llu partitions, "
                "%llu bytes scanned, %llu bytes truncated, %llu indexes rebuilt)",
                b->cfg.data_dir, (unsigned long long)stats->recovered_logs,
                (unsigned long long)stats->scanned_bytes, (unsigned long long)stats->truncated_bytes,
                (unsigned long long)stats->rebuilt_indexes);
    return 0;

fail_js:
    broker_js_stop(b);
    monitor_stop(b);
    b->http_running = false;
fail_nats:
    nats_server_stop(&b->nats);
    b->nats_running = false;
fail_kafka:
    kafka_server_stop(&b->kafka);
    b->kafka_running = false;
fail_streams:
    streams_close(b->streams);
    b->streams = NULL;
fail_topics:
    topics_close(b->topics);
fail_store:
    store_close(b->store);
fail_loop:
    broker_tls_close(b);
    loop_close(&b->loop);
    broker_signals_restore(b);
    return -1;
}

void broker_run(struct broker *b) {
    while (!b->signal_received) loop_run_once(&b->loop, BROKER_TURN_MS);
}

int broker_stop(struct broker *b) {
    SL_INFO("shutting down");
    b->monitor_draining = true; /* /healthz answers 503 until the port closes, last */
    cluster_topics_drain(b->cluster_sync, 5000); /* clients move to the new leaders at once */
    admin_cluster_handover(b);                   /* and the controller to another node */
    if (b->kafka.view) {
        cluster_view_stopped(&b->stopped_view, b->cfg.node_id);
        b->kafka.view = &b->stopped_view;
        b->nats.view = &b->stopped_view; /* no brokers: no new routes */
        if (b->streams) streams_set_view(b->streams, &b->stopped_view);
    }
    js_deliver_set_sync(b->js_deliver, NULL, NULL); /* the replies it holds are dropped next */
    cluster_streams_stop(b->cluster_streams);
    b->cluster_streams = NULL;
    cluster_topics_stop(b->cluster_sync); /* its changes under way are answered first */
    b->cluster_sync = NULL;
    admin_cluster_stop(b); /* leaves the Raft group's thread; the others elect without us */
    /* JetStream first: its PubAcks in flight go out while NATS still runs. */
    broker_js_stop(b);
    if (b->nats_running) nats_server_stop(&b->nats);
    b->nats_running = false;
    if (b->kafka_running) kafka_server_stop(&b->kafka);
    b->kafka_running = false;
    tls_client_ctx_free(b->kafka.peer_tls); /* after the marker sends that used it */
    b->kafka.peer_tls = NULL;
    if (b->http_running) monitor_stop(b);
    b->http_running = false;
    streams_close(b->streams);
    b->streams = NULL;
    topics_close(b->topics);
    b->topics = NULL;
    sl_err e = store_close(b->store);
    b->store = NULL;
    if (e != SL_OK) SL_ERROR("storage did not close cleanly: %s", sl_err_str(e));
    broker_tls_close(b);
    loop_close(&b->loop);
    broker_signals_restore(b);
    SL_INFO("stopped");
    return e == SL_OK ? 0 : -1;
}
