/* config.h: struct sl_config, every setting and limit of the broker with its unit in its name,
 * and the one parser behind both the command line and the config file.
 *
 * Every key has the same name as a flag and in a file. Flags are spelled as nats-server spells
 * them: one or two leading dashes, dashes or underscores inside (--data-dir == -data_dir), the
 * value as the next argument or after '=' (--port 4222, --port=4222). Boolean flags (-js, -D)
 * take no next argument but accept --jetstream=false.
 *
 * Config file: nats-server's syntax (protocol/nats_conf.h): "key = value", "key: value" or
 * "key value", entries ending at a newline, ',' or ';', blocks "name { ... }", lists "[a, b]",
 * '#' and '//' comments, values bare or quoted ("..." with escapes, '...' raw). Example:
 *
 *     # sluice.conf
 *     data_dir = "/var/lib/sluice"
 *     port: 4222
 *     segment_bytes = 1GiB     // roll segments at 1 GiB
 *     fsync = group
 *
 * Value syntax:
 *   sizes      plain bytes, or a number with K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB, TiB
 *              (case-insensitive). K and KB mean 1024, as nats-server reads max_payload.
 *   durations  a number with ms, s, m or h ("500ms", "10s", "2m", "1h"). A plain number is
 *              milliseconds for *_ms keys and seconds for write_deadline, as in nats-server.
 *   booleans   true/false, yes/no, on/off, 1/0.
 *   ports      0..65535; 0 asks the kernel for a free port (tests).
 *   -1         means unlimited, and only for retention_ms and retention_bytes. */
#ifndef SL_BROKER_CONFIG_H
#define SL_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/log.h"

#define SL_VERSION "0.1.0"
#define SL_CONFIG_WARNINGS_MAX 16
#define SL_CONFIG_PATH_MAX 4096
#define SL_CONFIG_HOST_MAX 256

struct nats_auth;

struct sl_config {
    char data_dir[SL_CONFIG_PATH_MAX];           /* "./data" */
    char config_file[SL_CONFIG_PATH_MAX];        /* "" if none */
    int log_level;                               /* enum sl_log_level, SL_LOG_INFO */
    char host[SL_CONFIG_HOST_MAX];               /* listen address, "0.0.0.0" */
    uint16_t kafka_port;                         /* 9092 */
    uint16_t nats_port;                          /* 4222 */
    uint16_t http_port;                          /* 8222, monitoring */
    char advertised_host[SL_CONFIG_HOST_MAX];    /* "": the listener's */
    uint16_t advertised_port;                    /* 0: the Kafka listener's */
    uint32_t node_id;                            /* Kafka broker id in Metadata, 1; the Raft id when clustered */
    char cluster_raft_addr[SL_CONFIG_HOST_MAX];  /* "": this node's entry of cluster_nodes; else the bind address */
    char cluster_nodes[2048];                    /* "": no cluster; "1@host:port,2@host:port,..." */
    uint32_t default_replication_factor;         /* replicas of a topic made without one (cluster), 1 */
    uint32_t offsets_topic_num_partitions;       /* partitions of a cluster's __sluice_offsets, 16 */
    uint32_t offsets_topic_replication_factor;   /* its replicas (at most the voters), 3 */
    uint32_t transaction_state_num_partitions;   /* partitions of a cluster's __sluice_txn_state, 16 */
    uint32_t transaction_state_replication_factor; /* its replicas (at most the voters), 3 */
    /* NATS routes between the brokers of a cluster (broker/nats/nats_route.h): nats-server's
     * --cluster URL ("nats://host:port" or "host:port"), or only cluster_port (bound on host). */
    char cluster_listen[SL_CONFIG_HOST_MAX];     /* "": cluster_port alone decides */
    uint16_t cluster_port;                       /* 0: no routes */
    uint32_t replica_lag_time_max_ms;            /* a follower silent or behind this long leaves the ISR, 30000 */
    uint32_t broker_session_timeout_ms;          /* a broker the controller has not heard from this long is fenced, 3000 */
    uint32_t leader_rebalance_interval_ms;       /* leaderships rebalanced over the brokers this often, 300000 (0: never) */
    bool auto_create_topics;                     /* Metadata/Produce create unknown topics, true */
    uint32_t num_partitions;                     /* partitions of auto-created topics, 1 */
    uint32_t max_payload_bytes;                  /* NATS, 1 MiB */
    uint32_t max_connections;                    /* 65536 */
    uint32_t write_deadline_ms;                  /* 10000 */
    uint64_t max_pending_bytes;                  /* 64 MiB */
    uint64_t max_pending_total_bytes;            /* unsent output of the whole broker, 256 MiB */
    uint32_t max_request_bytes;                  /* Kafka, 100 MiB */
    uint32_t connections_max_idle_ms;            /* close connections silent this long, 600000 */
    uint32_t group_initial_rebalance_delay_ms;   /* first rebalance of an empty group waits, 100 */
    uint32_t group_min_session_timeout_ms;       /* 6000, as Kafka */
    uint32_t group_max_session_timeout_ms;       /* 1800000, as Kafka */
    uint64_t offsets_retention_ms;               /* offsets of empty groups expire, 7 days */
    uint64_t transaction_max_timeout_ms;         /* Kafka's transaction.max.timeout.ms, 15 min */
    bool jetstream;                              /* -js */
    char jetstream_dlq[256];                     /* default dead-letter stream, "{stream}_DLQ"; "" none */
    bool check_config;                           /* -t: validate the configuration and exit */
    char log_format[8];                          /* "text" (default) or "json" */
    /* Config-file warnings (unknown keys...), logged by main once the log format is known. */
    char warnings[SL_CONFIG_WARNINGS_MAX][256];
    uint32_t warning_count;
    char user[256];                              /* NATS: --user/--pass auth when set */
    char pass[256];
    char auth_token[256];                        /* NATS: --auth token auth when set */
    /* NATS: authorization { users = [...] } (broker/nats_users.h); NULL: none. Owned by this
     * config: sl_config_free() frees it, and a reload moves it over (broker_reload). */
    struct nats_auth *nats_auth;
    uint32_t auth_timeout_ms;                    /* NATS: CONNECT must arrive within, 2000 */
    uint32_t ping_interval_ms;                   /* NATS: server PING period, 120000 */
    uint32_t ping_max_out;                       /* NATS: unanswered PINGs before 'Stale Connection', 2 */
    uint32_t max_control_line_bytes;             /* NATS: 4096 */
    uint32_t max_subscriptions;                  /* NATS: per connection, 0 = unlimited */
    struct log_config log;                       /* storage: log_config_defaults() */
    uint32_t open_files_max;                     /* sealed-segment fd cache, 1024 */
    uint32_t retention_check_ms;                 /* 300000, Kafka's log.retention.check.interval.ms */
    uint64_t cleaner_buffer_bytes;               /* the log cleaner's key map, 32 MiB (24 bytes a key) */
    /* TLS (nats-server's names): --tls or a tls { } block turns it on for the NATS port;
     * kafka_tls for the Kafka port (security.protocol=SSL); https_port serves monitoring over
     * TLS instead of http_port. All three use the same certificate, key, CA and verify. */
    bool tls;                                    /* NATS port over TLS, false */
    bool kafka_tls;                              /* Kafka port over TLS, false */
    uint16_t https_port;                         /* monitoring over TLS; 0: off */
    char http_token[256];                        /* monitoring: "Authorization: Bearer" needed; "": off */
    char http_read_token[256];                   /* monitoring: a token for the read routes only */
    char tls_cert[SL_CONFIG_PATH_MAX];           /* PEM certificate chain */
    char tls_key[SL_CONFIG_PATH_MAX];            /* PEM private key */
    char tls_ca[SL_CONFIG_PATH_MAX];             /* PEM CAs that sign client certificates */
    bool tls_verify;                             /* mTLS: require and verify a client certificate */
    uint32_t tls_timeout_ms;                     /* the handshake must finish within, 2000 */
    char tls_min_version[8];                     /* "1.2" (default) or "1.3" */
    /* Cipher choice, server preference first; "" = Sluice's defaults (tls.c): AES-128-GCM, then
     * ChaCha20-Poly1305 and AES-256-GCM, ECDHE and AEAD only. Names as nats-server's (IANA,
     * "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") or OpenSSL's; a file list is joined with ':'. */
    char tls_cipher_suites[1024];                /* TLS 1.2 */
    char tls_cipher_suites_tls13[256];           /* TLS 1.3, "TLS_AES_128_GCM_SHA256:..." */
    char tls_curve_preferences[256];             /* key exchange groups, "X25519,CurveP256" */
    /* Kafka SASL (broker/kafka/kafka_sasl.c): "" = off, else e.g. "PLAIN,SCRAM-SHA-512". */
    char kafka_sasl_mechanisms[128];
    char kafka_sasl_users_file[SL_CONFIG_PATH_MAX]; /* PLAIN users, user:password lines; SIGHUP rereads */
    char kafka_sasl_scram_bootstrap[1024];          /* "SCRAM-SHA-512=user:password,..." made if absent */
    uint32_t kafka_sasl_session_lifetime_ms;        /* KIP-368 re-authentication; 0 = never expires */
    /* The login a broker makes on its connections to the other brokers' Kafka ports (replica
     * fetches, transaction markers) when they ask for SASL (broker/kafka/peer_login.h). */
    char cluster_sasl_mechanism[16];                /* "" = none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 */
    char cluster_sasl_username[256];
    char cluster_sasl_password[256];
    /* Kafka ACLs (broker/kafka/kafka_acl.c): off = everything allowed; on = no matching ACL, denied. */
    bool kafka_authorizer;
    char kafka_super_users[1024]; /* "User:admin,User:ops": allowed everything */
    /* Kafka quotas (broker/kafka/kafka_quota.c): byte rates every principal gets unless a
     * quota entity says otherwise (0: none), the entity file, Kafka's sample window, and the
     * most connections one authenticated principal may hold (0: no limit). */
    uint64_t kafka_quota_producer_byte_rate;     /* bytes/s */
    uint64_t kafka_quota_consumer_byte_rate;     /* bytes/s */
    char kafka_quota_file[SL_CONFIG_PATH_MAX];   /* "user=... client-id=... producer_byte_rate=..." lines */
    uint32_t kafka_quota_window_num;             /* quota.window.num, 11 */
    uint32_t kafka_quota_window_size_ms;         /* quota.window.size.seconds, 1000 ms */
    uint32_t kafka_max_connections_per_principal;
};

void sl_config_defaults(struct sl_config *c);
/* The NATS route listener's host and port from cluster_listen or cluster_port (port 0: no
 * routes). 0, or -1 with why (a bad cluster_listen). */
int sl_config_route_addr(const struct sl_config *c, char *host, size_t host_cap, uint16_t *port, char *why,
                         size_t why_len);
/* Frees what a loaded config owns (nats_auth); c keeps its other settings. */
void sl_config_free(struct sl_config *c);

/* Parses argv (argv[0] skipped) over what c holds (normally sl_config_defaults()). Returns 0 if
 * the broker should start, 1 if the program should exit 0 (help or version printed to stdout),
 * -1 on error with a message naming the flag and the bad value in err. A --config/-c FILE is
 * loaded first and every other flag overrides it, wherever it stands on the line. Does not run
 * sl_config_validate(). */
int sl_config_parse_args(struct sl_config *c, int argc, char **argv, char *err, size_t err_len);

/* Loads a config file over c; -1 on error with "FILE:LINE: key: message" in err. Keys are
 * applied in file order; the last of a repeated key wins. An authorization block's users list
 * replaces c->nats_auth (freeing the old one). */
int sl_config_load_file(struct sl_config *c, const char *path, char *err, size_t err_len);

/* Applies one key/value, the step shared by flags and files: 0, or -1 with "key: reason" in
 * err. key may use dashes for underscores; an unknown key is an error. */
int sl_config_set(struct sl_config *c, const char *key, const char *value, char *err, size_t err_len);

/* Checks what single keys cannot: storage limits (log_config_invalid()), limits that must fit
 * inside other limits, distinct ports. -1 with a message naming the key. */
int sl_config_validate(const struct sl_config *c, char *err, size_t err_len);
/* True if m is a cluster_sasl_mechanism a broker logs in with ("", PLAIN, SCRAM-SHA-256,
 * SCRAM-SHA-512: broker/kafka/peer_login.h). */
bool sl_config_peer_mechanism_ok(const char *m);

void sl_config_usage(FILE *out);

#endif
