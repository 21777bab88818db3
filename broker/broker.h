/* broker.h: struct broker, the running process's parts: its config, its io_uring loop, its
 * store, its listeners (Kafka, NATS, monitoring) and the cluster's pieces, and the signalfd that
 * ends it. server.c owns it and brings it up and down (server.h); the parts of the top floor
 * that hang off it (monitor, admin_cluster, admin_users, cluster_topics, cluster_replica) read
 * it through this header, so none of them depends on the start and stop sequence that calls
 * them. */
#ifndef SL_BROKER_BROKER_H
#define SL_BROKER_BROKER_H

#include <signal.h>
#include <stdbool.h>
#include <sys/signalfd.h>

#include "base/loop.h"
#include "broker/config.h"
#include "broker/http/http_server.h"
#include "broker/kafka/kafka.h"
#include "broker/nats/nats_server.h"
#include "broker/net/tls.h"

struct store;
struct topics;
struct streams;
struct js_ingest;
struct jsapi;
struct js_deliver;

struct controller;

struct broker {
    struct sl_config cfg;
    struct loop loop;
    struct store *store;
    struct topics *topics;
    struct streams *streams;     /* jetstream only */
    struct js_ingest *js_ingest; /* jetstream only */
    struct jsapi *jsapi;         /* jetstream only */
    struct js_deliver *js_deliver; /* jetstream only */
    struct kafka_server kafka;
    bool kafka_running;
    struct nats_server nats;
    bool nats_running;
    struct http_server http;      /* the monitoring port (monitor.c) */
    bool http_running;
    bool monitor_ready;           /* /healthz: 200 once everything is up */
    bool monitor_draining;        /* /healthz: 503 from the start of shutdown */
    uint64_t start_wall_ms;
    uint64_t out_total;           /* unsent output over every listener (conn.c keeps it) */
    /* One TLS context per listener (ctx NULL: that port is plaintext); SIGHUP reloads them. */
    struct tls_server tls_kafka, tls_nats, tls_http;
    struct controller *cluster;   /* NULL unless cluster_nodes is set (admin_cluster.c) */
    struct workers *cluster_jobs; /* where membership changes wait for Raft (admin_cluster.c) */
    void *cluster_tls;            /* client SSL_CTX for the leader's https port, or NULL (admin_cluster.c) */
    struct cluster_sync *cluster_sync; /* placed topics: the view and its poll (cluster_topics.c) */
    struct cluster_streams *cluster_streams; /* replicated streams' consumers copied (cluster_streams.c) */
    /* What the Kafka wing reads once the cluster has stopped and the broker is going: a view
     * that is not ready, so no placed topic is served here any more (NULL would mean "not in a
     * cluster": every topic served as this broker's own). */
    struct cluster_view stopped_view;

    /* SIGTERM and SIGINT are blocked and read from signal_fd, so shutdown runs on the loop
     * like everything else instead of in a handler. */
    int signal_fd;
    struct io_op signal_op;       /* a poll on signal_fd, always armed while running */
    sigset_t signal_mask_old;
    int signal_received;          /* 0 until the first SIGTERM or SIGINT */
    int argc;                     /* the command line, for SIGHUP's reload (main sets them) */
    char **argv;
};

#endif
