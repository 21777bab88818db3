/* config.c: the key table behind sl_config_set(), the value parsers (sizes, durations,
 * booleans, ports), the config file reader and the command line. The syntax is in config.h.
 *
 * One table lists every key once; flags and file lines both end in cfg_apply(), so a key can
 * never parse differently in the two places. Numeric fields are written through their offset
 * and a type tag taken from the field itself (_Generic), so a field's type can change without
 * the table silently writing the wrong width. */
#include "broker/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/cluster/cluster_nodes.h"
#include "broker/core/cluster_fsm.h"
#include "broker/nats_users.h"
#include "protocol/nats_conf.h"

enum cfg_kind {
    CFG_STRING,    /* char array */
    CFG_PORT,      /* 0..65535 */
    CFG_COUNT,     /* a plain number */
    CFG_SIZE,      /* bytes, with optional K/M/G/T suffixes */
    CFG_MS,        /* duration; a plain number is milliseconds */
    CFG_SECONDS,   /* duration; a plain number is seconds (nats write_deadline); stored in ms */
    CFG_BOOL,
    CFG_LOG_LEVEL,
    CFG_DEBUG,     /* boolean; true sets log_level to debug (nats -D, -V) */
    CFG_FSYNC,
    CFG_CONFIG,    /* the config file itself: a flag, never a file key */
    CFG_HELP,
    CFG_VERSION,
};

enum cfg_type { CFG_T_NONE, CFG_T_U16, CFG_T_U32, CFG_T_U64, CFG_T_I64 };

enum { CFG_F_UNLIMITED = 1, /* "-1" is accepted and stored as -1 */
       CFG_F_EMPTY_OK = 2,
       CFG_F_LIST = 4 };    /* a file may give a list: its items are joined with ':' */

struct cfg_key {
    const char *name;
    const char *aliases[2];  /* nats-server's long spellings, or NULL */
    enum cfg_kind kind;
    enum cfg_type type;
    size_t off;
    size_t size;
    unsigned flags;
};

#define CFG_FIELD_TYPE(field)                                                                     \
    _Generic(((struct sl_config *)0)->field, uint16_t: CFG_T_U16, uint32_t: CFG_T_U32,            \
             uint64_t: CFG_T_U64, int64_t: CFG_T_I64, default: CFG_T_NONE)
#define CFG_KEY(name, a1, a2, kind, field, flags)                                                 \
    {name, {a1, a2}, kind, CFG_FIELD_TYPE(field), offsetof(struct sl_config, field),              \
     sizeof(((struct sl_config *)0)->field), flags}
#define CFG_FLAG(name, kind) {name, {NULL, NULL}, kind, CFG_T_NONE, 0, 0, 0}

static const struct cfg_key cfg_keys[] = {
    CFG_KEY("data_dir", "store_dir", NULL, CFG_STRING, data_dir, 0),
    CFG_KEY("config", NULL, NULL, CFG_CONFIG, config_file, 0),
    CFG_KEY("log_level", NULL, NULL, CFG_LOG_LEVEL, log_level, 0),
    CFG_KEY("log_format", NULL, NULL, CFG_STRING, log_format, 0),
    CFG_KEY("check_config", NULL, NULL, CFG_BOOL, check_config, 0),
    CFG_KEY("debug", NULL, NULL, CFG_DEBUG, log_level, 0),
    CFG_KEY("trace", NULL, NULL, CFG_DEBUG, log_level, 0),
    CFG_KEY("host", "addr", "net", CFG_STRING, host, 0),
    CFG_KEY("kafka_port", NULL, NULL, CFG_PORT, kafka_port, 0),
    CFG_KEY("port", "nats_port", NULL, CFG_PORT, nats_port, 0),
    CFG_KEY("http_port", NULL, NULL, CFG_PORT, http_port, 0),
    CFG_KEY("advertised_host", NULL, NULL, CFG_STRING, advertised_host, CFG_F_EMPTY_OK),
    CFG_KEY("advertised_port", NULL, NULL, CFG_PORT, advertised_port, 0),
    CFG_KEY("node_id", "broker_id", NULL, CFG_COUNT, node_id, 0),
    CFG_KEY("cluster_raft_addr", NULL, NULL, CFG_STRING, cluster_raft_addr, CFG_F_EMPTY_OK),
    CFG_KEY("cluster_nodes", NULL, NULL, CFG_STRING, cluster_nodes, CFG_F_EMPTY_OK),
    CFG_KEY("default_replication_factor", NULL, NULL, CFG_COUNT, default_replication_factor, 0),
    CFG_KEY("offsets_topic_num_partitions", NULL, NULL, CFG_COUNT, offsets_topic_num_partitions, 0),
    CFG_KEY("offsets_topic_replication_factor", NULL, NULL, CFG_COUNT, offsets_topic_replication_factor, 0),
    CFG_KEY("transaction_state_num_partitions", NULL, NULL, CFG_COUNT, transaction_state_num_partitions, 0),
    CFG_KEY("transaction_state_replication_factor", NULL, NULL, CFG_COUNT, transaction_state_replication_factor, 0),
    CFG_KEY("cluster_listen", "cluster", NULL, CFG_STRING, cluster_listen, CFG_F_EMPTY_OK),
    CFG_KEY("cluster_port", NULL, NULL, CFG_PORT, cluster_port, 0),
    CFG_KEY("replica_lag_time_max_ms", NULL, NULL, CFG_MS, replica_lag_time_max_ms, 0),
    CFG_KEY("broker_session_timeout_ms", NULL, NULL, CFG_MS, broker_session_timeout_ms, 0),
    CFG_KEY("leader_rebalance_interval_ms", NULL, NULL, CFG_MS, leader_rebalance_interval_ms, 0),
    CFG_KEY("auto_create_topics", "auto_create_topics_enable", NULL, CFG_BOOL, auto_create_topics, 0),
    CFG_KEY("num_partitions", NULL, NULL, CFG_COUNT, num_partitions, 0),
    CFG_KEY("max_payload", "maxpayload", NULL, CFG_SIZE, max_payload_bytes, 0),
    CFG_KEY("max_connections", "maxconnections", "max_conn", CFG_COUNT, max_connections, 0),
    CFG_KEY("write_deadline", "writedeadline", NULL, CFG_SECONDS, write_deadline_ms, 0),
    CFG_KEY("max_pending", NULL, NULL, CFG_SIZE, max_pending_bytes, 0),
    CFG_KEY("max_pending_total", NULL, NULL, CFG_SIZE, max_pending_total_bytes, 0),
    CFG_KEY("max_request_bytes", NULL, NULL, CFG_SIZE, max_request_bytes, 0),
    CFG_KEY("connections_max_idle_ms", NULL, NULL, CFG_MS, connections_max_idle_ms, 0),
    CFG_KEY("group_initial_rebalance_delay_ms", NULL, NULL, CFG_MS, group_initial_rebalance_delay_ms, 0),
    CFG_KEY("group_min_session_timeout_ms", NULL, NULL, CFG_MS, group_min_session_timeout_ms, 0),
    CFG_KEY("group_max_session_timeout_ms", NULL, NULL, CFG_MS, group_max_session_timeout_ms, 0),
    CFG_KEY("offsets_retention_ms", NULL, NULL, CFG_MS, offsets_retention_ms, 0),
    CFG_KEY("transaction_max_timeout_ms", NULL, NULL, CFG_MS, transaction_max_timeout_ms, 0),
    CFG_KEY("jetstream", NULL, NULL, CFG_BOOL, jetstream, 0),
    CFG_KEY("jetstream_dlq", NULL, NULL, CFG_STRING, jetstream_dlq, CFG_F_EMPTY_OK),
    CFG_KEY("user", NULL, NULL, CFG_STRING, user, CFG_F_EMPTY_OK),
    CFG_KEY("pass", NULL, NULL, CFG_STRING, pass, CFG_F_EMPTY_OK),
    CFG_KEY("auth_token", "auth", NULL, CFG_STRING, auth_token, CFG_F_EMPTY_OK),
    CFG_KEY("auth_timeout", NULL, NULL, CFG_SECONDS, auth_timeout_ms, 0),
    CFG_KEY("ping_interval", NULL, NULL, CFG_SECONDS, ping_interval_ms, 0),
    CFG_KEY("ping_max", "ping_max_out", NULL, CFG_COUNT, ping_max_out, 0),
    CFG_KEY("max_control_line", NULL, NULL, CFG_SIZE, max_control_line_bytes, 0),
    CFG_KEY("max_subscriptions", NULL, NULL, CFG_COUNT, max_subscriptions, 0),
    CFG_KEY("segment_bytes", NULL, NULL, CFG_SIZE, log.segment_bytes, 0),
    CFG_KEY("segment_ms", NULL, NULL, CFG_MS, log.segment_ms, 0),
    CFG_KEY("retention_ms", NULL, NULL, CFG_MS, log.retention_ms, CFG_F_UNLIMITED),
    CFG_KEY("retention_bytes", NULL, NULL, CFG_SIZE, log.retention_bytes, CFG_F_UNLIMITED),
    CFG_KEY("index_interval_bytes", NULL, NULL, CFG_SIZE, log.index_interval_bytes, 0),
    CFG_KEY("max_message_bytes", NULL, NULL, CFG_SIZE, log.batch_bytes_max, 0),
    CFG_KEY("fsync", NULL, NULL, CFG_FSYNC, log.durability, 0),
    CFG_KEY("group_commit_ms", NULL, NULL, CFG_MS, log.group_commit_ms, 0),
    CFG_KEY("preallocate_bytes", NULL, NULL, CFG_SIZE, log.preallocate_bytes, 0),
    CFG_KEY("open_files_max", NULL, NULL, CFG_COUNT, open_files_max, 0),
    CFG_KEY("retention_check_ms", NULL, NULL, CFG_MS, retention_check_ms, 0),
    CFG_KEY("cleaner_buffer_bytes", NULL, NULL, CFG_SIZE, cleaner_buffer_bytes, 0),
    CFG_KEY("tls", NULL, NULL, CFG_BOOL, tls, 0),
    CFG_KEY("kafka_tls", NULL, NULL, CFG_BOOL, kafka_tls, 0),
    CFG_KEY("https_port", NULL, NULL, CFG_PORT, https_port, 0),
    CFG_KEY("http_token", NULL, NULL, CFG_STRING, http_token, CFG_F_EMPTY_OK),
    CFG_KEY("http_read_token", NULL, NULL, CFG_STRING, http_read_token, CFG_F_EMPTY_OK),
    CFG_KEY("tls_cert", "tlscert", NULL, CFG_STRING, tls_cert, CFG_F_EMPTY_OK),
    CFG_KEY("tls_key", "tlskey", NULL, CFG_STRING, tls_key, CFG_F_EMPTY_OK),
    CFG_KEY("tls_ca", "tlscacert", NULL, CFG_STRING, tls_ca, CFG_F_EMPTY_OK),
    CFG_KEY("tls_verify", "tlsverify", NULL, CFG_BOOL, tls_verify, 0),
    CFG_KEY("tls_timeout", NULL, NULL, CFG_SECONDS, tls_timeout_ms, 0),
    CFG_KEY("tls_min_version", NULL, NULL, CFG_STRING, tls_min_version, 0),
    CFG_KEY("tls_cipher_suites", NULL, NULL, CFG_STRING, tls_cipher_suites, CFG_F_EMPTY_OK | CFG_F_LIST),
    CFG_KEY("tls_cipher_suites_tls13", NULL, NULL, CFG_STRING, tls_cipher_suites_tls13, CFG_F_EMPTY_OK | CFG_F_LIST),
    CFG_KEY("tls_curve_preferences", NULL, NULL, CFG_STRING, tls_curve_preferences, CFG_F_EMPTY_OK | CFG_F_LIST),
    CFG_KEY("kafka_sasl_mechanisms", NULL, NULL, CFG_STRING, kafka_sasl_mechanisms, CFG_F_EMPTY_OK),
    CFG_KEY("cluster_sasl_mechanism", NULL, NULL, CFG_STRING, cluster_sasl_mechanism, CFG_F_EMPTY_OK),
    CFG_KEY("cluster_sasl_username", NULL, NULL, CFG_STRING, cluster_sasl_username, CFG_F_EMPTY_OK),
    CFG_KEY("cluster_sasl_password", NULL, NULL, CFG_STRING, cluster_sasl_password, CFG_F_EMPTY_OK),
    CFG_KEY("kafka_sasl_users_file", NULL, NULL, CFG_STRING, kafka_sasl_users_file, CFG_F_EMPTY_OK),
    CFG_KEY("kafka_sasl_scram_bootstrap", NULL, NULL, CFG_STRING, kafka_sasl_scram_bootstrap, CFG_F_EMPTY_OK),
    CFG_KEY("kafka_sasl_session_lifetime_ms", NULL, NULL, CFG_MS, kafka_sasl_session_lifetime_ms, 0),
    CFG_KEY("kafka_authorizer", "authorizer", NULL, CFG_BOOL, kafka_authorizer, 0), /* Kafka and NATS streams */
    CFG_KEY("kafka_super_users", "super_users", NULL, CFG_STRING, kafka_super_users, CFG_F_EMPTY_OK),
    CFG_KEY("kafka_quota_producer_byte_rate", NULL, NULL, CFG_SIZE, kafka_quota_producer_byte_rate, 0),
    CFG_KEY("kafka_quota_consumer_byte_rate", NULL, NULL, CFG_SIZE, kafka_quota_consumer_byte_rate, 0),
    CFG_KEY("kafka_quota_file", NULL, NULL, CFG_STRING, kafka_quota_file, CFG_F_EMPTY_OK),
    CFG_KEY("kafka_quota_window_num", NULL, NULL, CFG_COUNT, kafka_quota_window_num, 0),
    CFG_KEY("kafka_quota_window_size_ms", NULL, NULL, CFG_MS, kafka_quota_window_size_ms, 0),
    CFG_KEY("kafka_max_connections_per_principal", NULL, NULL, CFG_COUNT, kafka_max_connections_per_principal, 0),
    CFG_FLAG("help", CFG_HELP),
    CFG_FLAG("version", CFG_VERSION),
};

/* nats-server's short flags; command line only, and case-sensitive (-D is not -d). */
static const struct {
    const char *flag, *key;
} cfg_short_flags[] = {
    {"a", "host"},  {"p", "port"},       {"m", "http_port"}, {"c", "config"},
    {"sd", "data_dir"}, {"js", "jetstream"}, {"D", "debug"}, {"V", "trace"},
    {"DV", "trace"}, {"h", "help"},      {"v", "version"},   {"t", "check_config"},
    {"ms", "https_port"},
};

/* Structs of a log's config are named after the fields; users know the keys. */
static const struct {
    const char *field, *key;
} cfg_log_fields[] = {{"batch_bytes_max", "max_message_bytes"}, {"durability", "fsync"}};

enum cfg_verdict { CFG_OK, CFG_SYNTAX, CFG_OVERFLOW };

static int cfg_fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cfg_fail(char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void sl_config_defaults(struct sl_config *c) {
    memset(c, 0, sizeof(*c));
    snprintf(c->data_dir, sizeof(c->data_dir), "./data");
    snprintf(c->host, sizeof(c->host), "0.0.0.0");
    c->log_level = SL_LOG_INFO;
    c->kafka_port = 9092;
    c->node_id = 1;
    c->auto_create_topics = true;
    c->default_replication_factor = 1;
    c->offsets_topic_num_partitions = 16;
    c->offsets_topic_replication_factor = 3;
    c->transaction_state_num_partitions = 16;
    c->transaction_state_replication_factor = 3;
    c->replica_lag_time_max_ms = 30000; /* Kafka's replica.lag.time.max.ms */
    /* Kafka's broker.session.timeout.ms is 9 s; three make a failover of a few seconds. */
    c->broker_session_timeout_ms = 3000;
    c->leader_rebalance_interval_ms = 300000;
    c->num_partitions = 1;
    c->nats_port = 4222;
    c->http_port = 8222;
    c->max_payload_bytes = 1u << 20;
    c->max_connections = 65536;
    c->write_deadline_ms = 10000;
    c->max_pending_bytes = 64u << 20;
    c->max_pending_total_bytes = 256u << 20;
    c->max_request_bytes = 100u << 20;
    c->connections_max_idle_ms = 600000;
    c->auth_timeout_ms = 2000;
    c->ping_interval_ms = 120000;
    c->ping_max_out = 2;
    c->max_control_line_bytes = 4096;
    c->group_initial_rebalance_delay_ms = 100;
    c->group_min_session_timeout_ms = 6000;
    c->group_max_session_timeout_ms = 1800000;
    c->offsets_retention_ms = 7ull * 24 * 3600 * 1000;
    c->transaction_max_timeout_ms = 900000; /* Kafka's default */
    c->jetstream = false;
    snprintf(c->log_format, sizeof(c->log_format), "text");
    snprintf(c->jetstream_dlq, sizeof(c->jetstream_dlq), "{stream}_DLQ");
    log_config_defaults(&c->log);
    c->open_files_max = 1024;
    c->retention_check_ms = 300000;
    c->cleaner_buffer_bytes = 32ull << 20;
    c->tls_timeout_ms = 2000;
    c->kafka_quota_window_num = 11;
    c->kafka_quota_window_size_ms = 1000;
    snprintf(c->tls_min_version, sizeof(c->tls_min_version), "1.2");
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* Dashes become underscores, so --data-dir, -data_dir and "data-dir =" all name data_dir. */
static bool cfg_normalize(const char *name, size_t len, char *out, size_t out_len) {
    if (len == 0 || len >= out_len) return false;
    for (size_t i = 0; i < len; i++) out[i] = name[i] == '-' ? '_' : name[i];
    out[len] = 0;
    return true;
}

static const struct cfg_key *cfg_key_find_normal(const char *name) {
    for (size_t i = 0; i < SL_ARRAY_LEN(cfg_keys); i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (strcasecmp(name, k->name) == 0) return k;
        for (size_t a = 0; a < SL_ARRAY_LEN(k->aliases); a++)
            if (k->aliases[a] && strcasecmp(name, k->aliases[a]) == 0) return k;
    }
    return NULL;
}

static const struct cfg_key *cfg_key_find(const char *name, size_t len) {
    char buf[64];
    if (!cfg_normalize(name, len, buf, sizeof(buf))) return NULL;
    return cfg_key_find_normal(buf);
}

static const struct cfg_key *cfg_flag_find(const char *name, size_t len) {
    for (size_t i = 0; i < SL_ARRAY_LEN(cfg_short_flags); i++)
        if (strlen(cfg_short_flags[i].flag) == len && memcmp(name, cfg_short_flags[i].flag, len) == 0)
            return cfg_key_find_normal(cfg_short_flags[i].key);
    return cfg_key_find(name, len);
}

/* ---- values -------------------------------------------------------------------------------- */

/* Decimal digits only: no sign, no space, no 0x. *end points past the last digit. */
static enum cfg_verdict cfg_digits(const char *s, uint64_t *out, const char **end) {
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return CFG_OVERFLOW;
        v = v * 10 + d;
    }
    if (p == s) return CFG_SYNTAX;
    *out = v;
    *end = p;
    return CFG_OK;
}

static enum cfg_verdict cfg_scaled(uint64_t v, uint64_t mult, uint64_t *out) {
    if (mult == 0) return CFG_SYNTAX;
    if (v > UINT64_MAX / mult) return CFG_OVERFLOW;
    *out = v * mult;
    return CFG_OK;
}

static uint64_t cfg_size_unit(const char *s) {
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},  {"b", 1},
        {"k", 1ull << 10}, {"kb", 1ull << 10}, {"kib", 1ull << 10},
        {"m", 1ull << 20}, {"mb", 1ull << 20}, {"mib", 1ull << 20},
        {"g", 1ull << 30}, {"gb", 1ull << 30}, {"gib", 1ull << 30},
        {"t", 1ull << 40}, {"tb", 1ull << 40}, {"tib", 1ull << 40},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(units); i++)
        if (strcasecmp(s, units[i].suffix) == 0) return units[i].mult;
    return 0;
}

static uint64_t cfg_duration_unit(const char *s, uint64_t plain_ms) {
    if (*s == 0) return plain_ms;
    if (strcasecmp(s, "ms") == 0) return 1;
    if (strcasecmp(s, "s") == 0) return 1000;
    if (strcasecmp(s, "m") == 0) return 60 * 1000;
    if (strcasecmp(s, "h") == 0) return 3600 * 1000;
    return 0;
}

/* A number and an optional unit; one space between them is tolerated ("64 MiB"). */
static enum cfg_verdict cfg_parse_number(enum cfg_kind kind, const char *v, uint64_t *out) {
    uint64_t n;
    const char *unit;
    enum cfg_verdict r = cfg_digits(v, &n, &unit);
    if (r != CFG_OK) return r;
    if ((kind == CFG_PORT || kind == CFG_COUNT) && *unit) return CFG_SYNTAX;
    if (kind == CFG_PORT || kind == CFG_COUNT) return cfg_scaled(n, 1, out);
    if (*unit == ' ' && unit[1]) unit++;
    if (kind == CFG_SIZE) return cfg_scaled(n, cfg_size_unit(unit), out);
    return cfg_scaled(n, cfg_duration_unit(unit, kind == CFG_SECONDS ? 1000 : 1), out);
}

static uint64_t cfg_type_max(enum cfg_type t) {
    switch (t) {
    case CFG_T_U16: return UINT16_MAX;
    case CFG_T_U32: return UINT32_MAX;
    case CFG_T_U64: return UINT64_MAX;
    case CFG_T_I64: return INT64_MAX;
    case CFG_T_NONE: break;
    }
    SL_ASSERT(!"numeric key without a numeric field");
    return 0;
}

static const char *cfg_kind_noun(enum cfg_kind kind) {
    switch (kind) {
    case CFG_PORT: return "port (0-65535)";
    case CFG_SIZE: return "size";
    case CFG_MS:
    case CFG_SECONDS: return "duration";
    default: return "number";
    }
}

static const char *cfg_kind_unit(enum cfg_kind kind) {
    if (kind == CFG_SIZE) return " bytes";
    if (kind == CFG_MS || kind == CFG_SECONDS) return " ms";
    return "";
}

static void cfg_store(struct sl_config *c, const struct cfg_key *k, uint64_t u, bool minus_one) {
    char *f = (char *)c + k->off;
    switch (k->type) {
    case CFG_T_U16: *(uint16_t *)(void *)f = (uint16_t)u; break;
    case CFG_T_U32: *(uint32_t *)(void *)f = (uint32_t)u; break;
    case CFG_T_U64: *(uint64_t *)(void *)f = u; break;
    case CFG_T_I64: *(int64_t *)(void *)f = minus_one ? -1 : (int64_t)u; break;
    case CFG_T_NONE: SL_ASSERT(!"numeric key without a numeric field");
    }
}

static int cfg_apply_number(struct sl_config *c, const struct cfg_key *k, const char *v, char *why,
                            size_t why_len) {
    if (v[0] == '-' && (k->flags & CFG_F_UNLIMITED) && strcmp(v, "-1") == 0) {
        cfg_store(c, k, 0, true);
        return 0;
    }
    if (v[0] == '-')
        return cfg_fail(why, why_len, (k->flags & CFG_F_UNLIMITED)
                                          ? "'%s': the only negative value is -1 (unlimited)"
                                          : "'%s' must not be negative", v);
    uint64_t u = 0;
    enum cfg_verdict r = cfg_parse_number(k->kind, v, &u);
    if (r == CFG_SYNTAX || (k->kind == CFG_PORT && (r == CFG_OVERFLOW || u > UINT16_MAX)))
        return cfg_fail(why, why_len, "'%s' is not a %s", v, cfg_kind_noun(k->kind));
    uint64_t max = cfg_type_max(k->type);
    if (r == CFG_OVERFLOW || u > max)
        return cfg_fail(why, why_len, "'%s' is too large (at most %" PRIu64 "%s)", v, max,
                        cfg_kind_unit(k->kind));
    cfg_store(c, k, u, false);
    return 0;
}

/* 1 true, 0 false, -1 neither. */
static int cfg_parse_bool(const char *v) {
    /* "enabled" / "disabled": nats-server's config says "jetstream: enabled". */
    static const char *const yes[] = {"true", "yes", "on", "1", "enabled"},
                             *const no[] = {"false", "no", "off", "0", "disabled"};
    for (size_t i = 0; i < SL_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) return 1;
        if (strcasecmp(v, no[i]) == 0) return 0;
    }
    return -1;
}

static int cfg_apply_string(struct sl_config *c, const struct cfg_key *k, const char *v, char *why,
                            size_t why_len) {
    size_t len = strlen(v);
    if (len >= k->size)
        return cfg_fail(why, why_len, "value is too long (%zu bytes, at most %zu)", len, k->size - 1);
    memcpy((char *)c + k->off, v, len + 1);
    return 0;
}

/* Log levels and fsync policies are matched case-insensitively, so lower-case a copy. */
static void cfg_lower(const char *v, char *out, size_t out_len) {
    size_t i = 0;
    for (; v[i] && i + 1 < out_len; i++) out[i] = (char)tolower((unsigned char)v[i]);
    out[i] = 0;
}

static int cfg_apply_log_level(struct sl_config *c, const char *v, char *why, size_t why_len) {
    char low[16];
    cfg_lower(v, low, sizeof(low));
    int level = -1;
    if (strlen(v) < sizeof(low)) level = sl_log_level_parse(low);
    if (strcmp(low, "trace") == 0) level = SL_LOG_DEBUG; /* nats-server's finest level */
    if (strcmp(low, "warning") == 0) level = SL_LOG_WARN;
    if (level < 0) return cfg_fail(why, why_len, "'%s' is not a log level (error, warn, info, debug)", v);
    c->log_level = level;
    return 0;
}

static int cfg_apply_fsync(struct sl_config *c, const char *v, char *why, size_t why_len) {
    char low[16];
    cfg_lower(v, low, sizeof(low));
    int d = strlen(v) < sizeof(low) ? log_durability_parse(low) : -1;
    if (d < 0) return cfg_fail(why, why_len, "'%s' is not an fsync policy (none, group, append)", v);
    c->log.durability = (enum log_durability)d;
    return 0;
}

static int cfg_apply_bool(struct sl_config *c, const struct cfg_key *k, const char *v, char *why,
                          size_t why_len) {
    int b = cfg_parse_bool(v);
    if (b < 0) return cfg_fail(why, why_len, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", v);
    if (k->kind == CFG_BOOL) *(bool *)(void *)((char *)c + k->off) = b;
    else if (b) c->log_level = SL_LOG_DEBUG;
    return 0;
}

/* Applies v to the key, or writes why (without the key's name) and returns -1. */
static int cfg_apply(struct sl_config *c, const struct cfg_key *k, const char *v, char *why, size_t why_len) {
    SL_ASSERT(v);
    if (k->kind == CFG_HELP || k->kind == CFG_VERSION)
        return cfg_fail(why, why_len, "a command-line flag, not a setting");
    if (v[0] == 0 && !(k->flags & CFG_F_EMPTY_OK)) return cfg_fail(why, why_len, "empty value");
    switch (k->kind) {
    case CFG_STRING:
    case CFG_CONFIG: return cfg_apply_string(c, k, v, why, why_len);
    case CFG_LOG_LEVEL: return cfg_apply_log_level(c, v, why, why_len);
    case CFG_FSYNC: return cfg_apply_fsync(c, v, why, why_len);
    case CFG_BOOL:
    case CFG_DEBUG: return cfg_apply_bool(c, k, v, why, why_len);
    default: return cfg_apply_number(c, k, v, why, why_len);
    }
}

int sl_config_set(struct sl_config *c, const char *key, const char *value, char *err, size_t err_len) {
    const struct cfg_key *k = cfg_key_find(key, strlen(key));
    if (!k) return cfg_fail(err, err_len, "%s: unknown key", key);
    char why[512];
    if (cfg_apply(c, k, value, why, sizeof(why)) != 0) return cfg_fail(err, err_len, "%s: %s", key, why);
    return 0;
}

/* ---- config file --------------------------------------------------------------------------- */

/* nats-server's config blocks whose keys Sluice shares ("jetstream { store_dir: ... }"), mapped
 * to Sluice's keys; NULL: understood by nats-server, accepted and ignored here (said once). */
static const struct {
    const char *block, *key, *sluice;
} cfg_block_keys[] = {
    {"jetstream", "store_dir", "data_dir"},      {"jetstream", "store", "data_dir"},
    {"jetstream", "max_memory_store", NULL},     {"jetstream", "max_mem", NULL},
    {"jetstream", "max_file_store", NULL},       {"jetstream", "max_file", NULL},
    {"jetstream", "domain", NULL},               {"authorization", "user", "user"},
    {"authorization", "password", "pass"},       {"authorization", "pass", "pass"},
    {"authorization", "token", "auth_token"},    {"authorization", "timeout", "auth_timeout"},
    {"tls", "cert_file", "tls_cert"},            {"tls", "key_file", "tls_key"},
    {"tls", "ca_file", "tls_ca"},                {"tls", "verify", "tls_verify"},
    {"tls", "timeout", "tls_timeout"},           {"tls", "min_version", "tls_min_version"},
    {"tls", "cipher_suites", "tls_cipher_suites"}, {"tls", "curve_preferences", "tls_curve_preferences"},
    {"tls", "cipher_suites_tls13", "tls_cipher_suites_tls13"},
};

static void cfg_warn(struct sl_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfg_warn(struct sl_config *c, const char *fmt, ...) {
    if (c->warning_count == SL_CONFIG_WARNINGS_MAX) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->warnings[c->warning_count++], sizeof(c->warnings[0]), fmt, ap);
    va_end(ap);
}

/* One scalar setting, by Sluice's key name; spelled is the key as the file wrote it. */
static int cfg_file_set(struct sl_config *c, const char *name, const char *spelled, const struct nats_conf_node *v,
                        const char *path, char *err, size_t err_len) {
    const struct cfg_key *k = cfg_key_find(name, strlen(name));
    if (!k) {
        cfg_warn(c, "%s:%u: %s is not a Sluice setting: ignored", path, v->line, spelled);
        return 0;
    }
    if (k->kind == CFG_CONFIG)
        return cfg_fail(err, err_len, "%s:%u: %s: not allowed in a config file", path, v->line, spelled);
    char joined[1024];
    const char *val = v->str;
    if (v->type == NATS_CONF_ARRAY && (k->flags & CFG_F_LIST)) {
        size_t n = 0;
        joined[0] = 0;
        for (const struct nats_conf_node *it = v->child; it; it = it->next) {
            if (it->type != NATS_CONF_STRING)
                return cfg_fail(err, err_len, "%s:%u: %s: a list of names", path, it->line, spelled);
            int w = snprintf(joined + n, sizeof(joined) - n, "%s%s", n ? ":" : "", it->str);
            if (w < 0 || (size_t)w >= sizeof(joined) - n)
                return cfg_fail(err, err_len, "%s:%u: %s: list too long", path, v->line, spelled);
            n += (size_t)w;
        }
        val = joined;
    } else if (v->type != NATS_CONF_STRING) {
        return cfg_fail(err, err_len, "%s:%u: %s: expected a single value, not a %s", path, v->line, spelled,
                        v->type == NATS_CONF_MAP ? "block" : "list");
    }
    char why[512];
    if (sl_config_set(c, name, val, why, sizeof(why)) != 0)
        return cfg_fail(err, err_len, "%s:%u: %s", path, v->line, why);
    return 0;
}

/* A block Sluice knows: its keys map through cfg_block_keys. In authorization, a key Sluice
 * does not enforce is an error rather than a warning: ignoring a security setting would open
 * what the operator meant to close. */
static int cfg_file_block(struct sl_config *c, const struct nats_conf_node *blk, const char *path, char *err,
                          size_t err_len) {
    bool authz = !strcasecmp(blk->key, "authorization");
    for (const struct nats_conf_node *e = blk->child; e; e = e->next) {
        if (authz && (!strcasecmp(e->key, "users") || !strcasecmp(e->key, "default_permissions"))) continue;
        const char *name = NULL;
        bool found = false;
        for (size_t i = 0; i < SL_ARRAY_LEN(cfg_block_keys) && !found; i++)
            if (!strcasecmp(cfg_block_keys[i].block, blk->key) && !strcasecmp(cfg_block_keys[i].key, e->key)) {
                name = cfg_block_keys[i].sluice;
                found = true;
            }
        if (!found && authz)
            return cfg_fail(err, err_len, "%s:%u: authorization.%s: not supported by Sluice", path, e->line, e->key);
        if (!found) {
            cfg_warn(c, "%s:%u: %s.%s is not a Sluice setting: ignored", path, e->line, blk->key, e->key);
            continue;
        }
        if (!name) {
            cfg_warn(c, "%s:%u: %s.%s is accepted but not enforced by Sluice", path, e->line, blk->key, e->key);
            continue;
        }
        if (cfg_file_set(c, name, e->key, e, path, err, err_len) != 0) return -1;
    }
    if (!authz) return 0;
    struct nats_auth *a = NULL;
    uint32_t line = 0;
    char why[512];
    if (nats_auth_from_conf(blk, &a, &line, why, sizeof(why)) != 0)
        return cfg_fail(err, err_len, "%s:%u: authorization.%s", path, line, why);
    if (a && a->user_count && (nats_conf_get(blk, "user") || nats_conf_get(blk, "token"))) {
        nats_auth_free(a);
        return cfg_fail(err, err_len, "%s:%u: authorization: users cannot be combined with user or token", path,
                        blk->line);
    }
    nats_auth_free(c->nats_auth);
    c->nats_auth = a;
    return 0;
}

/* The nats-server config format (protocol/nats_conf.h), for the keys Sluice shares. An
 * unknown key or block is a warning naming the line, never a silent ignore, so a nats-server
 * file works as it is. */
static int cfg_file_tree(struct sl_config *c, const struct nats_conf_node *root, const char *path, char *err,
                         size_t err_len) {
    for (const struct nats_conf_node *e = root->child; e; e = e->next) {
        if (e->type == NATS_CONF_MAP) {
            bool known = !strcasecmp(e->key, "jetstream") || !strcasecmp(e->key, "authorization") ||
                         !strcasecmp(e->key, "tls");
            if (!known) {
                cfg_warn(c, "%s:%u: block '%s' is not a Sluice setting: ignored", path, e->line, e->key);
                continue;
            }
            if (!strcasecmp(e->key, "jetstream")) c->jetstream = true; /* a jetstream block turns it on, as in nats-server */
            if (!strcasecmp(e->key, "tls")) c->tls = true; /* so does a tls block for the client port */
            if (cfg_file_block(c, e, path, err, err_len) != 0) return -1;
            continue;
        }
        if (cfg_file_set(c, e->key, e->key, e, path, err, err_len) != 0) return -1;
    }
    return 0;
}

int sl_config_load_file(struct sl_config *c, const char *path, char *err, size_t err_len) {
    FILE *f = fopen(path, "r");
    if (!f) return cfg_fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[8192];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof(buf), f)) > 0) fwrite(buf, 1, n, mem);
    int rc = 0;
    if (!mem) rc = cfg_fail(err, err_len, "%s: out of memory", path);
    else if (ferror(f)) rc = cfg_fail(err, err_len, "%s: read error: %s", path, strerror(errno));
    if (mem) fclose(mem);
    fclose(f);
    struct nats_conf_node *root = NULL;
    uint32_t line = 0;
    char why[512];
    if (rc == 0 && nats_conf_parse(text, len, &root, &line, why, sizeof(why)) != 0)
        rc = cfg_fail(err, err_len, "%s:%u: %s", path, line, why);
    free(text);
    if (rc == 0) rc = cfg_file_tree(c, root, path, err, err_len);
    nats_conf_free(root);
    if (rc == 0 && strlen(path) >= sizeof(c->config_file))
        return cfg_fail(err, err_len, "%s: path too long", path);
    if (rc == 0) snprintf(c->config_file, sizeof(c->config_file), "%s", path);
    return rc;
}

void sl_config_free(struct sl_config *c) {
    nats_auth_free(c->nats_auth);
    c->nats_auth = NULL;
}

/* ---- command line -------------------------------------------------------------------------- */

struct cfg_flag {
    const struct cfg_key *key;
    char spelled[80];   /* the flag as typed, without "=value": for messages */
    const char *value;
};

static bool cfg_is_switch(enum cfg_kind kind) {
    return kind == CFG_BOOL || kind == CFG_DEBUG || kind == CFG_HELP || kind == CFG_VERSION;
}

/* Reads the flag at argv[*i] and its value, which may be argv[*i + 1] (then *i moves on). As in
 * Go's flag package a value is taken whatever it looks like, so "--retention-ms -1" works. A
 * boolean flag alone means true; it takes the next argument only if that is a boolean word
 * ("--auto-create-topics false"), so "-js -c FILE" still reads -c as a flag. */
static int cfg_flag_next(int argc, char **argv, int *i, struct cfg_flag *f, char *err, size_t err_len) {
    const char *arg = argv[*i];
    if (arg[0] != '-' || arg[1] == 0) return cfg_fail(err, err_len, "unexpected argument '%s' (see --help)", arg);
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    snprintf(f->spelled, sizeof(f->spelled), "%.*s", (int)(name - arg + name_len), arg);
    f->key = cfg_flag_find(name, name_len);
    if (!f->key) return cfg_fail(err, err_len, "%s: unknown flag (see --help)", f->spelled);
    if (eq)
        f->value = eq + 1;
    else if ((f->key->kind == CFG_BOOL || f->key->kind == CFG_DEBUG) && *i + 1 < argc &&
             cfg_parse_bool(argv[*i + 1]) >= 0)
        f->value = argv[++*i];
    else if (cfg_is_switch(f->key->kind))
        f->value = "true";
    else if (*i + 1 < argc)
        f->value = argv[++*i];
    else
        return cfg_fail(err, err_len, "%s: missing value", f->spelled);
    return 0;
}

/* First pass: syntax, help and version, and which config file to load before everything else. */
static int cfg_args_scan(int argc, char **argv, const char **config, char *err, size_t err_len) {
    for (int i = 1; i < argc; i++) {
        struct cfg_flag f;
        if (cfg_flag_next(argc, argv, &i, &f, err, err_len) != 0) return -1;
        if (f.key->kind == CFG_HELP) {
            sl_config_usage(stdout);
            return 1;
        }
        if (f.key->kind == CFG_VERSION) {
            printf("sluice-server " SL_VERSION "\n");
            return 1;
        }
        if (f.key->kind == CFG_CONFIG && f.value[0] == 0) return cfg_fail(err, err_len, "%s: empty value", f.spelled);
        if (f.key->kind == CFG_CONFIG) *config = f.value;
    }
    return 0;
}

int sl_config_parse_args(struct sl_config *c, int argc, char **argv, char *err, size_t err_len) {
    const char *config = NULL;
    int rc = cfg_args_scan(argc, argv, &config, err, err_len);
    if (rc != 0) return rc;
    if (config && sl_config_load_file(c, config, err, err_len) != 0) return -1;
    for (int i = 1; i < argc; i++) {
        struct cfg_flag f;
        char why[512];
        if (cfg_flag_next(argc, argv, &i, &f, err, err_len) != 0) return -1;
        if (cfg_apply(c, f.key, f.value, why, sizeof(why)) != 0)
            return cfg_fail(err, err_len, "%s: %s", f.spelled, why);
    }
    return 0;
}

/* ---- validation ---------------------------------------------------------------------------- */

static const char *cfg_log_field_key(const char *field) {
    for (size_t i = 0; i < SL_ARRAY_LEN(cfg_log_fields); i++)
        if (strcmp(field, cfg_log_fields[i].field) == 0) return cfg_log_fields[i].key;
    return field;
}

int sl_config_route_addr(const struct sl_config *c, char *host, size_t host_cap, uint16_t *port, char *why,
                         size_t why_len) {
    snprintf(host, host_cap, "%s", c->host);
    *port = c->cluster_port;
    if (!c->cluster_listen[0]) return 0;
    const char *s = c->cluster_listen;
    if (!strncmp(s, "nats://", 7)) s += 7;
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    unsigned long v = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || !colon[1] || *end || colon[1] < '0' || colon[1] > '9' || v > 65535 ||
        (size_t)(colon - s) >= host_cap) {
        snprintf(why, why_len, "'%s' is not nats://host:port", c->cluster_listen);
        return -1;
    }
    if (c->cluster_port && c->cluster_port != v) {
        snprintf(why, why_len, "port %lu is not cluster_port %u", v, c->cluster_port);
        return -1;
    }
    if (colon > s) snprintf(host, host_cap, "%.*s", (int)(colon - s), s);
    *port = (uint16_t)v;
    /* --cluster nats://host:0 asks for no routes the same way --cluster_port 0 does. */
    return 0;
}

static int cfg_validate_ports(const struct sl_config *c, char *err, size_t err_len) {
    const struct {
        const char *key;
        uint16_t port;
    } p[] = {{"kafka_port", c->kafka_port}, {"port", c->nats_port}, {"http_port", c->https_port ? 0 : c->http_port},
             {"https_port", c->https_port}, {"cluster_port", c->cluster_port}};
    for (size_t i = 0; i < SL_ARRAY_LEN(p); i++)
        for (size_t j = i + 1; j < SL_ARRAY_LEN(p); j++)
            if (p[i].port && p[i].port == p[j].port)
                return cfg_fail(err, err_len, "%s: %u is also %s", p[j].key, p[j].port, p[i].key);
    return 0;
}

bool sl_config_peer_mechanism_ok(const char *m) {
    return !m[0] || !strcmp(m, "PLAIN") || !strcmp(m, "SCRAM-SHA-256") || !strcmp(m, "SCRAM-SHA-512");
}

/* cluster_nodes parses; a node it names may set cluster_raft_addr only as a bind address on the
 * same port (libraft binds where it says it is reached); a node it does not name joins an
 * existing cluster and needs cluster_raft_addr, the address the leader is told to add. */
static int cfg_validate_cluster(const struct sl_config *c, char *err, size_t err_len) {
    if (c->default_replication_factor < 1 || c->default_replication_factor > CLUSTER_REPLICAS_MAX)
        return cfg_fail(err, err_len, "default_replication_factor: %u is outside 1..%u", c->default_replication_factor,
                        CLUSTER_REPLICAS_MAX);
    const struct {
        const char *key;
        uint32_t v, max;
    } counts[] = {{"offsets_topic_replication_factor", c->offsets_topic_replication_factor, CLUSTER_REPLICAS_MAX},
                  {"offsets_topic_num_partitions", c->offsets_topic_num_partitions, 1000},
                  {"transaction_state_replication_factor", c->transaction_state_replication_factor, CLUSTER_REPLICAS_MAX},
                  {"transaction_state_num_partitions", c->transaction_state_num_partitions, 1000}};
    for (size_t i = 0; i < SL_ARRAY_LEN(counts); i++)
        if (counts[i].v < 1 || counts[i].v > counts[i].max)
            return cfg_fail(err, err_len, "%s: %u is outside 1..%u", counts[i].key, counts[i].v, counts[i].max);
    if (!sl_config_peer_mechanism_ok(c->cluster_sasl_mechanism))
        return cfg_fail(err, err_len, "cluster_sasl_mechanism: %s is none of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
                        c->cluster_sasl_mechanism);
    if (c->cluster_sasl_mechanism[0] && !c->cluster_sasl_username[0])
        return cfg_fail(err, err_len, "cluster_sasl_mechanism: needs cluster_sasl_username");
    char rhost[SL_CONFIG_HOST_MAX], rwhy[200];
    uint16_t rport;
    if (sl_config_route_addr(c, rhost, sizeof(rhost), &rport, rwhy, sizeof(rwhy)) != 0)
        return cfg_fail(err, err_len, "cluster_listen: %s", rwhy);
    if (!c->cluster_nodes[0]) {
        if (c->cluster_raft_addr[0]) return cfg_fail(err, err_len, "cluster_raft_addr: needs cluster_nodes");
        /* Routes are made only between the registered brokers of a cluster. */
        if (rport) return cfg_fail(err, err_len, "cluster_listen/cluster_port: needs cluster_nodes");
        return 0;
    }
    struct cluster_nodes nodes;
    char why[200];
    if (cluster_nodes_parse(c->cluster_nodes, &nodes, why, sizeof(why)) != 0)
        return cfg_fail(err, err_len, "cluster_nodes: %s (expected id@host:port,... as 1@10.0.0.1:7001)", why);
    const struct cluster_node *self = cluster_nodes_find(&nodes, c->node_id);
    if (!self && !c->cluster_raft_addr[0])
        return cfg_fail(err, err_len,
                        "cluster_nodes: node_id %u is not in the list (a node joining a cluster needs "
                        "cluster_raft_addr)", c->node_id);
    if (!c->cluster_raft_addr[0]) return 0;
    uint16_t bind_port, port;
    if (cluster_addr_check(c->cluster_raft_addr, &bind_port, why, sizeof(why)) != 0)
        return cfg_fail(err, err_len, "cluster_raft_addr: %s", why);
    if (!self) return 0;
    (void)cluster_addr_check(self->address, &port, why, sizeof(why));
    if (bind_port != port)
        return cfg_fail(err, err_len, "cluster_raft_addr: port %u is not node %u's port in cluster_nodes (%s)",
                        bind_port, c->node_id, self->address);
    return 0;
}

int sl_config_validate(const struct sl_config *c, char *err, size_t err_len) {
    const char *bad = log_config_invalid(&c->log);
    if (bad) return cfg_fail(err, err_len, "%s: out of range", cfg_log_field_key(bad));
    if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0)
        return cfg_fail(err, err_len, "log_format: '%s' is not text or json", c->log_format);
    /* A partition's paths are data_dir, its directory (a topic of at most 249 bytes and the
     * partition number) and a segment's name: they must fit the store's 4200-byte buffers. */
    if (strlen(c->data_dir) > 3800) return cfg_fail(err, err_len, "data_dir: longer than 3800 bytes");
    /* A client's transaction.timeout.ms is an INT32 of milliseconds; Kafka's floor is 1 ms. */
    if (c->transaction_max_timeout_ms < 1 || c->transaction_max_timeout_ms > INT32_MAX)
        return cfg_fail(err, err_len, "transaction_max_timeout_ms: out of range (1 ms to %d ms)", INT32_MAX);
    /* One string in both would make every reader an admin. */
    if (c->http_read_token[0] && !strcmp(c->http_read_token, c->http_token))
        return cfg_fail(err, err_len, "http_read_token: must differ from http_token");
    const struct {
        const char *key;
        uint64_t value;
    } at_least_one[] = {
        {"data_dir", c->data_dir[0]},          {"host", c->host[0]},
        {"max_payload", c->max_payload_bytes}, {"max_connections", c->max_connections},
        {"write_deadline", c->write_deadline_ms}, {"max_pending", c->max_pending_bytes},
        {"max_pending_total", c->max_pending_total_bytes},
        {"max_request_bytes", c->max_request_bytes}, {"open_files_max", c->open_files_max},
        {"retention_check_ms", c->retention_check_ms}, {"cleaner_buffer_bytes", c->cleaner_buffer_bytes},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(at_least_one); i++)
        if (at_least_one[i].value == 0)
            return cfg_fail(err, err_len, "%s: must not be empty or 0", at_least_one[i].key);
    if (c->kafka_quota_window_num < 2 || c->kafka_quota_window_num > 32 || c->kafka_quota_window_size_ms == 0)
        return cfg_fail(err, err_len, "kafka_quota_window_num: 2..32 samples of kafka_quota_window_size_ms >= 1 ms");
    if (c->max_payload_bytes > c->max_pending_bytes)
        return cfg_fail(err, err_len, "max_payload: %" PRIu32 " bytes exceeds max_pending (%" PRIu64 " bytes)",
                        c->max_payload_bytes, c->max_pending_bytes);
    /* A Produce request must be able to carry the largest batch the log accepts. */
    if (c->log.batch_bytes_max > c->max_request_bytes)
        return cfg_fail(err, err_len, "max_message_bytes: %" PRIu32 " bytes exceeds max_request_bytes (%" PRIu32 " bytes)",
                        c->log.batch_bytes_max, c->max_request_bytes);
    if (strcmp(c->tls_min_version, "1.2") != 0 && strcmp(c->tls_min_version, "1.3") != 0)
        return cfg_fail(err, err_len, "tls_min_version: '%s' is not 1.2 or 1.3", c->tls_min_version);
    bool tls_used = c->tls || c->kafka_tls || c->https_port;
    if (tls_used && (!c->tls_cert[0] || !c->tls_key[0]))
        return cfg_fail(err, err_len, "%s: TLS needs tls_cert and tls_key (tls.cert_file, tls.key_file)",
                        c->tls ? "tls" : c->kafka_tls ? "kafka_tls" : "https_port");
    if (tls_used && c->tls_verify && !c->tls_ca[0])
        return cfg_fail(err, err_len, "tls_verify: verifying client certificates needs tls_ca (tls.ca_file)");
    if (cfg_validate_cluster(c, err, err_len) != 0) return -1;
    return cfg_validate_ports(c, err, err_len);
}

/* ---- usage --------------------------------------------------------------------------------- */

void sl_config_usage(FILE *out) {
    fputs("Usage: sluice-server [options]\n"
          "\n"
          "Every option is also a config file key (without the dashes); dashes and underscores\n"
          "are interchangeable; values go as '--key value' or '--key=value'.\n"
          "\n"
          "General:\n"
          "  -c, --config FILE              config file, loaded first; flags override it\n"
          "  -sd, --data-dir, --store-dir DIR  data directory (./data)\n"
          "  --log-level LEVEL              error, warn, info, debug (info)\n"
          "  --log-format FORMAT            text or json (one JSON object per line) (text)\n"
          "  -t, --check-config             validate flags and config file, then exit\n"
          "  -D, --debug; -V, --trace       log at debug level\n"
          "  -h, --help                     this text\n"
          "  -v, --version                  print the version\n"
          "\n"
          "Listeners:\n"
          "  -a, --host, --addr, --net HOST listen address (0.0.0.0)\n"
          "  --kafka-port PORT              Kafka port (9092); 0 picks a free port\n"
          "  --kafka-sasl-mechanisms LIST   Kafka SASL: PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 (off)\n"
          "  --kafka-sasl-users-file FILE   Kafka PLAIN users, user:password lines\n"
          "  --kafka-sasl-scram-bootstrap S SCRAM-SHA-512=user:password,... made if absent\n"
          "  -p, --port PORT                NATS port (4222)\n"
          "  -m, --http-port PORT           monitoring port (8222)\n"
          "  -ms, --https-port PORT         monitoring over TLS on this port instead of http_port (off)\n"
          "  --http-token TOKEN             monitoring needs Authorization: Bearer TOKEN, /healthz\n"
          "                                 excepted (off)\n"
          "  --tls                          NATS port over TLS (a tls { } block in a file also)\n"
          "  --kafka-tls                    Kafka port over TLS (security.protocol=SSL)\n"
          "  --tlscert, --tls-cert FILE     PEM certificate chain for every TLS port\n"
          "  --tlskey, --tls-key FILE       PEM private key\n"
          "  --tlscacert, --tls-ca FILE     PEM CAs that sign client certificates\n"
          "  --tlsverify, --tls-verify      require and verify a client certificate (mTLS)\n"
          "  --tls-timeout DURATION         the TLS handshake must finish within (2s)\n"
          "  --tls-min-version V            1.2 or 1.3 (1.2)\n"
          "  --tls-cipher-suites LIST       TLS 1.2 ciphers, server's order (AES-128-GCM first)\n"
          "  --tls-cipher-suites-tls13 LIST TLS 1.3 suites, server's order (TLS_AES_128_GCM_SHA256 first)\n"
          "  --tls-curve-preferences LIST   key exchange groups (X25519, CurveP256, ...; OpenSSL's order)\n"
          "  --advertised-host HOST         host told to clients (the listener's)\n"
          "  --advertised-port N            port told to Kafka clients (the listener's)\n"
          "  --node-id N                    Kafka broker id shown in Metadata (1); the Raft id in a cluster\n"
          "  --cluster-nodes LIST           cluster voters: id@host:port,... (empty: no cluster)\n"
          "  --cluster-raft-addr HOST:PORT  Raft bind address, or the address a joining node is added as\n"
          "  --cluster nats://HOST:PORT     NATS route listener between the cluster's brokers (off)\n"
          "  --cluster-port PORT            the same, on --host (off)\n"
          "  --auto-create-topics BOOL      create unknown topics on Metadata/Produce (true)\n"
          "  --num-partitions N             partitions of auto-created topics (1)\n"
          "  --connections-max-idle-ms MS   close connections idle this long (600000)\n"
          "  --user USER --pass PASS        NATS user/password authentication\n"
          "  --auth TOKEN                   NATS token authentication\n"
          "  --auth-timeout DURATION        NATS: CONNECT must arrive within (2s)\n"
          "  --ping-interval DURATION       NATS: server PING period (2m)\n"
          "  --ping-max N                   NATS: unanswered PINGs before the connection is stale (2)\n"
          "  --max-control-line SIZE        NATS: longest control line (4KiB)\n"
          "  --max-subscriptions N          NATS: subscriptions per connection (0 = unlimited)\n"
          "  --group-initial-rebalance-delay-ms MS  first rebalance of an empty group waits (100)\n"
          "  --group-min-session-timeout-ms MS      smallest session timeout accepted (6000)\n"
          "  --group-max-session-timeout-ms MS      largest session timeout accepted (1800000)\n"
          "  --offsets-retention-ms MS      committed offsets of empty groups expire (7d)\n"
          "  --max-connections, --max_conn N  connections at once (65536)\n"
          "  --write-deadline, --writedeadline DURATION  close a client that blocks a write this long (10s)\n"
          "  --max-pending SIZE             a client's unsent bytes before it is closed (64MiB)\n"
          "  --max-payload, --maxpayload SIZE  largest NATS payload (1MiB)\n"
          "  --max-request-bytes SIZE       largest Kafka request (100MiB)\n"
          "  -js, --jetstream[=BOOL]        enable JetStream streams (false)\n"
          "  --jetstream-dlq NAME           default dead-letter stream of stream S; {stream} is S's\n"
          "                                 name; \"\" none ({stream}_DLQ). A stream's topic config\n"
          "                                 sluice.dlq.stream overrides it\n"
          "\n"
          "Storage:\n"
          "  --segment-bytes SIZE           roll a segment at this size\n"
          "  --segment-ms DURATION          roll a segment this old\n"
          "  --retention-ms DURATION        delete segments older than this; -1 never\n"
          "  --retention-bytes SIZE         delete old segments past this size; -1 never\n"
          "  --index-interval-bytes SIZE    one index entry per this many log bytes\n"
          "  --max-message-bytes SIZE       largest record batch accepted\n"
          "  --fsync POLICY                 none, group (one fdatasync per tick), append\n"
          "  --group-commit-ms DURATION     group: at most one fdatasync per this period\n"
          "  --preallocate-bytes SIZE       file space reserved ahead of the write head\n"
          "  --open-files-max N             sealed segment files kept open (1024)\n"
          "  --retention-check-ms DURATION  how often retention runs (5m)\n"
          "\n"
          "SIZE: bytes, or a number with K, KB, KiB, M, MB, MiB, G, GB, GiB (K = KB = 1024).\n"
          "DURATION: a number with ms, s, m or h; a plain number is ms for *-ms keys and\n"
          "seconds for --write-deadline. BOOL: true/false, yes/no, on/off, 1/0.\n"
          "Storage defaults are those of the storage engine (see storage/log.h).\n",
          out);
}
