/* topics.c: the topic registry (see topics.h). */
#include "broker/core/topics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/partition.h"
#include "broker/core/txn.h"
#include "protocol/kafka_records.h"
#include "storage/kvlog.h"
#include "storage/offsets.h"
#include "storage/store.h"

#define TOPICS_HASH_SIZE 1024

/* The metadata log: topics under "topic/<name>", the cluster record (cluster_meta.c) beside. */
#define TOPIC_KEY_PREFIX "topic/"
#define TOPIC_VALUE_VERSION 1
enum topic_tag {
    TOPIC_TAG_ID = 1,         /* 16 bytes */
    TOPIC_TAG_PARTITIONS = 2, /* i64 */
    TOPIC_TAG_CONFIG = 3,     /* u16 key length, key, value: one per override */
    TOPIC_TAG_STREAM = 4,     /* the stream record (broker/core/stream.c, its own versioned TLV) */
    /* Next free tag: 5. Old readers skip unknown tags. */
};

struct topics {
    struct store *st;
    struct kvlog *meta;
    char *dir; /* <data_dir>/.topics: the previous version's metadata, imported once */
    struct log_config defaults;
    struct topic *hash[TOPICS_HASH_SIZE];
    struct topic **order;
    uint32_t count, cap;
    struct kafka_records_scratch records_scratch; /* the record walk's buffer, shared by every partition */
    /* Topics whose metadata write failed and was undone in the metadata log (kvlog.h): the
     * registry follows the log on the next loop turn, outside the log's completion (deleting
     * or creating partitions runs the loop). */
    char **undone;
    uint32_t undone_count, undone_cap;
    struct topic **doomed; /* failed creations, already out of the registry: partitions to delete */
    uint32_t doomed_count, doomed_cap;
    struct loop_timer reconcile_timer;
    void (*delete_hook)(void *arg, struct topic *tp);
    void *delete_hook_arg;
    struct topics_job *jobs;  /* creations, growths and deletions under way, in slices */
    uint32_t partitions_max;  /* partitions the open files limit allows (topics_set_partitions_max) */
};

/* A change of many partitions, done a slice per loop turn so other clients never wait long:
 * CREATE makes a new topic's partitions (the topic enters the registry, and its record the
 * metadata log, only once every partition exists and their directories are synced), GROW adds
 * partitions [from, to) the same way (the count moves at the end), DELETE removes the
 * partitions of a topic already gone from the registry and from the metadata log. */
enum topics_job_kind { TOPICS_JOB_CREATE, TOPICS_JOB_GROW, TOPICS_JOB_DELETE };
struct topics_job {
    struct topics *t;
    enum topics_job_kind kind;
    struct topic *tp;
    int32_t from, to, next; /* partitions [from, to); next: the next one to make or remove */
    bool syncing;
    bool waiting;               /* the timer is off until the next partition is made (prep) */
    bool prepping;              /* prep is started and not ended */
    struct store_dir_sync sync;
    struct store_prep prep;     /* CREATE and GROW: directories and segments made ahead, off the loop */
    struct store_rmdirs rmdirs; /* DELETE: directories removed off the loop */
    bool delete_now;            /* DELETE finishing at once: every rmdir on the loop */
    struct loop_timer timer;
    topics_done_fn done;
    void *arg;
    struct topics_job *next_job;
};

/* A slice: at most this long, and at most this many partitions (a fake clock stands still
 * within a turn). Making one partition costs ~50-100 us here (mkdir, create, open). */
#define TOPICS_SLICE_US 2000
#define TOPICS_SLICE_MAX 256
/* A deletion of at most this many partitions is done at once (well under a slice). */
#define TOPICS_DELETE_AT_ONCE_MAX 16
/* The metadata-log key of a deletion under way: "deleting/<name>" (value: the partition
 * count). Written in one batch with the topic record's tombstone and removed once the last
 * partition directory is gone, so a start after a crash finishes the deletion instead of
 * adopting what is left. */
#define TOPIC_DELETING_PREFIX "deleting/"

static void topics_jobs_stop(struct topics *t);
static struct topics_job *topics_job_find(const struct topics *t, const char *name, int32_t len);
static void topics_job_finish_now(struct topics_job *j);

/* The topic-level configs: every standard Kafka one (TopicConfig) plus Sluice's own, checked
 * as Kafka's LogConfig checks them. The storage ones change struct log_config (topic_apply);
 * the others are kept and shown so clients that set them keep working. */
enum cfg_kind {
    CFG_LONG,       /* an integer in [min, max] */
    CFG_BOOL,       /* true / false, any case, as Kafka's ConfigDef parses it */
    CFG_DOUBLE,     /* a number in [0, 1] */
    CFG_CHOICE,     /* one of choices */
    CFG_LIST,       /* a comma-separated list of choices (cleanup.policy) */
    CFG_THROTTLED,  /* "", "*" or partition:broker,... (*.replication.throttled.replicas) */
    CFG_VERSION,    /* a Kafka version, like 2.8 or 3.0-IV1 (message.format.version) */
    CFG_TOPIC_NAME, /* a topic name, or "" for none */
};
/* DescribeConfigs v3+ config types (Kafka's ConfigEntry.ConfigType). */
enum { TYPE_BOOLEAN = 1, TYPE_STRING = 2, TYPE_INT = 3, TYPE_LONG = 5, TYPE_DOUBLE = 6, TYPE_LIST = 7 };
struct cfg_def {
    const char *key;
    enum cfg_kind kind;
    int64_t min, max;
    const char *choices;       /* '|'-separated, CFG_CHOICE and CFG_LIST */
    const char *fixed_default; /* for keys not in struct log_config */
    uint8_t type;              /* TYPE_* */
};

#define LONG_MAX_S "9223372036854775807"
static const struct cfg_def cfg_defs[] = {
    /* compact: storage/compact.h; without delete, time and size retention are off. */
    {"cleanup.policy", CFG_LIST, 0, 0, "delete|compact", "delete", TYPE_LIST},
    {"compression.type", CFG_CHOICE, 0, 0, "producer|uncompressed|gzip|snappy|lz4|zstd", "producer", TYPE_STRING},
    {"delete.retention.ms", CFG_LONG, 0, INT64_MAX, NULL, "86400000", TYPE_LONG},
    {"file.delete.delay.ms", CFG_LONG, 0, INT64_MAX, NULL, "60000", TYPE_LONG},
    {"flush.messages", CFG_LONG, 1, INT64_MAX, NULL, LONG_MAX_S, TYPE_LONG},
    {"flush.ms", CFG_LONG, 0, INT64_MAX, NULL, LONG_MAX_S, TYPE_LONG},
    {"follower.replication.throttled.replicas", CFG_THROTTLED, 0, 0, NULL, "", TYPE_LIST},
    {"index.interval.bytes", CFG_LONG, 1, INT32_MAX, NULL, NULL, TYPE_INT},
    {"leader.replication.throttled.replicas", CFG_THROTTLED, 0, 0, NULL, "", TYPE_LIST},
    {"local.retention.bytes", CFG_LONG, -2, INT64_MAX, NULL, "-2", TYPE_LONG},
    {"local.retention.ms", CFG_LONG, -2, INT64_MAX, NULL, "-2", TYPE_LONG},
    {"max.compaction.lag.ms", CFG_LONG, 1, INT64_MAX, NULL, LONG_MAX_S, TYPE_LONG},
    {"max.message.bytes", CFG_LONG, 61, 1 << 30, NULL, NULL, TYPE_INT},
    {"message.downconversion.enable", CFG_BOOL, 0, 0, NULL, "true", TYPE_BOOLEAN},
    {"message.format.version", CFG_VERSION, 0, 0, NULL, "3.0-IV1", TYPE_STRING},
    {"message.timestamp.after.max.ms", CFG_LONG, 0, INT64_MAX, NULL, LONG_MAX_S, TYPE_LONG},
    {"message.timestamp.before.max.ms", CFG_LONG, 0, INT64_MAX, NULL, LONG_MAX_S, TYPE_LONG},
    {"message.timestamp.difference.max.ms", CFG_LONG, 0, INT64_MAX, NULL, LONG_MAX_S, TYPE_LONG},
    {"message.timestamp.type", CFG_CHOICE, 0, 0, "CreateTime|LogAppendTime", "CreateTime", TYPE_STRING},
    {"min.cleanable.dirty.ratio", CFG_DOUBLE, 0, 0, NULL, "0.5", TYPE_DOUBLE},
    {"min.compaction.lag.ms", CFG_LONG, 0, INT64_MAX, NULL, "0", TYPE_LONG},
    /* Above the in-sync replicas an acks=all produce fails with NOT_ENOUGH_REPLICAS, as Kafka. */
    {"min.insync.replicas", CFG_LONG, 1, 7, NULL, "1", TYPE_INT},
    {"preallocate", CFG_BOOL, 0, 0, NULL, "false", TYPE_BOOLEAN},
    /* Tiered storage is off, as on a Kafka broker without remote.log.storage.system.enable. */
    {"remote.storage.enable", CFG_BOOL, 0, 0, NULL, "false", TYPE_BOOLEAN},
    {"retention.bytes", CFG_LONG, -1, INT64_MAX, NULL, NULL, TYPE_LONG},
    {"retention.ms", CFG_LONG, -1, INT64_MAX, NULL, NULL, TYPE_LONG},
    {"segment.bytes", CFG_LONG, 1024, 1ll << 31, NULL, NULL, TYPE_INT},
    {"segment.index.bytes", CFG_LONG, 4, INT32_MAX, NULL, "10485760", TYPE_INT},
    {"segment.jitter.ms", CFG_LONG, 0, INT64_MAX, NULL, "0", TYPE_LONG},
    {"segment.ms", CFG_LONG, 1, INT64_MAX, NULL, NULL, TYPE_LONG},
    /* Sluice's own: the stream a stream's dead letters go to (broker/core/stream.h), and
     * work-queue retention for Kafka consumer groups (records go once every group that
     * committed offsets for a partition has committed past them). */
    {"sluice.dlq.stream", CFG_TOPIC_NAME, 0, 0, NULL, "", TYPE_STRING},
    {"sluice.retention.policy", CFG_CHOICE, 0, 0, "delete|workqueue", "delete", TYPE_STRING},
    {"unclean.leader.election.enable", CFG_BOOL, 0, 0, NULL, "false", TYPE_BOOLEAN},
};
_Static_assert(SL_ARRAY_LEN(cfg_defs) <= TOPIC_CONFIGS_MAX, "every config must fit a topic's overrides");

static const struct cfg_def *cfg_find(const char *key) {
    for (size_t i = 0; i < SL_ARRAY_LEN(cfg_defs); i++)
        if (strcmp(cfg_defs[i].key, key) == 0) return &cfg_defs[i];
    return NULL;
}

static bool cfg_parse_long(const char *s, int64_t *out) {
    if (!*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool cfg_choice_in(const char *choices, const char *value, size_t n) {
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static bool cfg_choice_ok(const char *choices, const char *value) {
    return cfg_choice_in(choices, value, strlen(value));
}

/* "", "*", or partition:broker pairs separated by commas (Kafka's ThrottledReplicaListValidator;
 * spaces around the items are allowed). */
static bool cfg_throttled_ok(const char *v) {
    while (*v == ' ') v++;
    if (!*v || (v[0] == '*' && !v[1 + strspn(v + 1, " ")])) return true;
    for (;;) {
        while (*v == ' ') v++;
        size_t a = strspn(v, "0123456789");
        if (!a || v[a] != ':') return false;
        v += a + 1;
        size_t b = strspn(v, "0123456789");
        if (!b) return false;
        v += b;
        while (*v == ' ') v++;
        if (!*v) return true;
        if (*v++ != ',') return false;
    }
}

/* A Kafka release as message.format.version takes it: 0.8.0 to 0.11.0, or major.minor for 1.0
 * on, with an optional -IVn; a third component is allowed (2.8.1). */
static bool cfg_version_ok(const char *v) {
    size_t a = strspn(v, "0123456789");
    if (!a || v[a] != '.') return false;
    long major = strtol(v, NULL, 10);
    v += a + 1;
    size_t b = strspn(v, "0123456789");
    if (!b) return false;
    v += b;
    if (*v == '.') {
        size_t c = strspn(v + 1, "0123456789");
        if (!c) return false;
        v += 1 + c;
    } else if (major == 0) {
        return false; /* 0.x.y needs all three */
    }
    if (!strncmp(v, "-IV", 3)) {
        size_t d = strspn(v + 3, "0123456789");
        if (!d) return false;
        v += 3 + d;
    }
    return *v == 0 && major <= 3;
}

/* The message of the last refused value: the registry runs on one thread, and callers use
 * *why before the next check. */
static char cfg_why[320];

static sl_err cfg_refuse(const char **why, const char *key, const char *value, const char *reason) {
    snprintf(cfg_why, sizeof(cfg_why), "Invalid value %.100s for configuration %s: %s", value, key, reason);
    *why = cfg_why;
    return SL_INVALID_CONFIG;
}

sl_err topics_config_check(const char *key, const char *value, const char **why) {
    const struct cfg_def *d = cfg_find(key);
    if (!d) {
        snprintf(cfg_why, sizeof(cfg_why), "Unknown topic config name: %.200s", key);
        *why = cfg_why;
        return SL_INVALID_CONFIG;
    }
    if (!value) return SL_OK;
    switch (d->kind) {
    case CFG_TOPIC_NAME:
        if (*value && !topics_name_valid(value, (int32_t)strlen(value)))
            return cfg_refuse(why, key, value, "not a valid topic name");
        return SL_OK;
    case CFG_CHOICE:
        if (cfg_choice_ok(d->choices, value)) return SL_OK;
        snprintf(cfg_why, sizeof(cfg_why), "Invalid value %.100s for configuration %s: String must be one of: %s",
                 value, key, d->choices);
        for (char *p = cfg_why; *p; p++)
            if (*p == '|') *p = ',';
        *why = cfg_why;
        return SL_INVALID_CONFIG;
    case CFG_LIST:
        for (const char *p = value;;) {
            while (*p == ' ') p++;
            size_t n = strcspn(p, ",");
            size_t t = n;
            while (t && p[t - 1] == ' ') t--;
            if (!cfg_choice_in(d->choices, p, t))
                return cfg_refuse(why, key, value, "String must be one of: compact, delete");
            if (!p[n]) return SL_OK;
            p += n + 1;
        }
    case CFG_BOOL:
        if (strcasecmp(value, "true") && strcasecmp(value, "false"))
            return cfg_refuse(why, key, value, "Expected value to be either true or false");
        if (!strcmp(key, "remote.storage.enable") && !strcasecmp(value, "true"))
            return cfg_refuse(why, key, value, "tiered storage is not enabled on this broker");
        return SL_OK;
    case CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno) return cfg_refuse(why, key, value, "Not a number of type DOUBLE");
        if (!(v >= 0.0 && v <= 1.0)) return cfg_refuse(why, key, value, "Value must be between 0 and 1");
        return SL_OK;
    }
    case CFG_THROTTLED:
        if (cfg_throttled_ok(value)) return SL_OK;
        return cfg_refuse(why, key, value,
                          "must be the literal '*' or a list of replicas in the format [partitionId]:[brokerId],...");
    case CFG_VERSION:
        if (cfg_version_ok(value)) return SL_OK;
        return cfg_refuse(why, key, value, "not a Kafka version (like 2.8 or 3.0-IV1)");
    case CFG_LONG: break;
    }
    int64_t v;
    if (!cfg_parse_long(value, &v)) {
        return cfg_refuse(why, key, value,
                          d->type == TYPE_INT ? "Not a number of type INT" : "Not a number of type LONG");
    }
    char reason[96];
    if (v < d->min || v > d->max) {
        if (d->max == INT64_MAX || (d->type == TYPE_INT && d->max == INT32_MAX))
            snprintf(reason, sizeof(reason), "Value must be at least %lld", (long long)d->min);
        else
            snprintf(reason, sizeof(reason), "Value must be in the range [%lld, %lld]", (long long)d->min,
                     (long long)d->max);
        return cfg_refuse(why, key, value, reason);
    }
    return SL_OK;
}

/* The effective storage config: the broker defaults, then the topic's overrides. */
/* Whether the comma-separated list holds item (spaces around items ignored). */
static bool cfg_list_has(const char *list, const char *item) {
    size_t il = strlen(item);
    for (const char *p = list;;) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && p[t - 1] == ' ') t--;
        if (t == il && !strncmp(p, item, il)) return true;
        if (!p[n]) return false;
        p += n + 1;
    }
}

sl_err topics_config_list_op(const struct topic *tp, const char *key, const char *value, bool append, char *out,
                             size_t cap, const char **why) {
    const struct cfg_def *d = cfg_find(key);
    if (!d || d->type != TYPE_LIST) {
        snprintf(cfg_why, sizeof(cfg_why), "Config value %s is not allowed for config key: %.200s",
                 append ? "append" : "subtract", key);
        *why = cfg_why;
        return SL_INVALID_CONFIG;
    }
    const char *cur = topic_config_value(tp, key);
    if (!cur) cur = d->fixed_default ? d->fixed_default : "";
    size_t n = 0;
    out[0] = 0;
    /* Kafka: APPEND adds the values the list lacks, SUBTRACT removes those it has. */
    for (int pass = 0; pass < 2; pass++) {
        const char *src = pass == 0 ? cur : (append ? value : "");
        for (const char *p = src; *p;) {
            while (*p == ' ') p++;
            size_t l = strcspn(p, ",");
            size_t t = l;
            while (t && p[t - 1] == ' ') t--;
            char item[256];
            if (t && t < sizeof(item)) {
                memcpy(item, p, t);
                item[t] = 0;
                bool drop = !append && cfg_list_has(value, item);
                bool dup = n && cfg_list_has(out, item);
                if (!drop && !dup) {
                    int w = snprintf(out + n, cap - n, "%s%s", n ? "," : "", item);
                    if (w < 0 || (size_t)w >= cap - n) {
                        *why = "the list is too long";
                        return SL_INVALID_CONFIG;
                    }
                    n += (size_t)w;
                }
            }
            p += l;
            if (*p == ',') p++;
        }
    }
    return SL_OK;
}

/* What the topic's configs ask of each of its partitions. */
static void topic_partition_config(const struct topic *tp, struct partition *part) {
    partition_set_config(part, &tp->cfg, tp->log_append_time);
    partition_set_min_insync(part, tp->min_insync);
}

static void topic_apply(struct topics *t, struct topic *tp) {
    struct log_config c = t->defaults;
    for (uint32_t i = 0; i < tp->override_count; i++) {
        const char *k = tp->overrides[i].key, *v = tp->overrides[i].value;
        int64_t n = 0;
        cfg_parse_long(v, &n);
        if (!strcmp(k, "retention.ms")) c.retention_ms = n;
        else if (!strcmp(k, "retention.bytes")) c.retention_bytes = n;
        else if (!strcmp(k, "segment.bytes")) c.segment_bytes = (uint64_t)n;
        else if (!strcmp(k, "segment.ms")) c.segment_ms = n;
        else if (!strcmp(k, "max.message.bytes")) c.batch_bytes_max = (uint32_t)n;
        else if (!strcmp(k, "index.interval.bytes")) c.index_interval_bytes = (uint32_t)n;
        else if (!strcmp(k, "delete.retention.ms")) c.delete_retention_ms = n;
        else if (!strcmp(k, "min.compaction.lag.ms")) c.min_compaction_lag_ms = n;
        else if (!strcmp(k, "max.compaction.lag.ms")) c.max_compaction_lag_ms = n;
        else if (!strcmp(k, "min.cleanable.dirty.ratio")) c.min_cleanable_ratio = strtod(v, NULL);
        else if (!strcmp(k, "flush.messages") && n == 1) c.durability = LOG_DURABILITY_APPEND;
        else if (!strcmp(k, "flush.ms") && n < 60000 && c.durability == LOG_DURABILITY_NONE) {
            c.durability = LOG_DURABILITY_GROUP;
            c.group_commit_ms = (uint32_t)n;
        }
    }
    const char *cp = topic_config_value(tp, "cleanup.policy");
    if (cp) {
        c.compact = cfg_list_has(cp, "compact");
        if (!cfg_list_has(cp, "delete")) c.retention_ms = c.retention_bytes = -1;
    }
    tp->cfg = c;
    const char *ts = topic_config_value(tp, "message.timestamp.type");
    tp->log_append_time = ts && !strcmp(ts, "LogAppendTime");
    const char *mi = topic_config_value(tp, "min.insync.replicas");
    tp->min_insync = mi ? (uint32_t)strtoul(mi, NULL, 10) : 1;
    const char *rp = topic_config_value(tp, "sluice.retention.policy");
    tp->group_workqueue = rp && !strcmp(rp, "workqueue");
    for (int32_t p = 0; p < tp->partition_count; p++)
        if (tp->parts[p]) topic_partition_config(tp, tp->parts[p]);
}

const char *topic_config_value(const struct topic *tp, const char *key) {
    for (uint32_t i = 0; i < tp->override_count; i++)
        if (!strcmp(tp->overrides[i].key, key)) return tp->overrides[i].value;
    return NULL;
}

bool topics_name_valid(const char *name, int32_t len) {
    if (len <= 0 || len > STORE_TOPIC_NAME_MAX) return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) return false;
    for (int32_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool topics_names_collide(const char *a, int32_t alen, const char *b, int32_t blen) {
    if (alen != blen) return false;
    for (int32_t i = 0; i < alen; i++) {
        char x = a[i] == '.' ? '_' : a[i], y = b[i] == '.' ? '_' : b[i];
        if (x != y) return false;
    }
    return true;
}

/* Whether a new name collides with an existing topic (Kafka's Topic.hasCollision). A name
 * without '.' or '_' collides only with itself, which the caller has already ruled out. */
static bool topics_colliding(const struct topics *t, const char *name, int32_t len) {
    if (!memchr(name, '.', (size_t)len) && !memchr(name, '_', (size_t)len)) return false;
    for (uint32_t i = 0; i < t->count; i++) {
        const struct topic *tp = t->order[i];
        if (topics_names_collide(tp->name, (int32_t)strlen(tp->name), name, len)) return true;
    }
    return false;
}

static uint32_t topics_hash(const char *name, int32_t len) {
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < len; i++) h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h % TOPICS_HASH_SIZE;
}

struct topic *topics_get(struct topics *t, const char *name, int32_t len) {
    if (len < 0) return NULL;
    for (struct topic *tp = t->hash[topics_hash(name, len)]; tp; tp = tp->hash_next)
        if ((int32_t)strlen(tp->name) == len && memcmp(tp->name, name, (size_t)len) == 0) return tp;
    return NULL;
}

uint32_t topics_count(const struct topics *t) { return t->count; }
struct topic *topics_at(const struct topics *t, uint32_t i) { return i < t->count ? t->order[i] : NULL; }

static void topics_insert(struct topics *t, struct topic *tp) {
    uint32_t h = topics_hash(tp->name, (int32_t)strlen(tp->name));
    tp->hash_next = t->hash[h];
    t->hash[h] = tp;
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->order = sl_xrealloc(t->order, t->cap * sizeof(*t->order));
    }
    t->order[t->count++] = tp;
}

static void topics_unlink(struct topics *t, struct topic *tp) {
    struct topic **pp = &t->hash[topics_hash(tp->name, (int32_t)strlen(tp->name))];
    while (*pp && *pp != tp) pp = &(*pp)->hash_next;
    if (*pp) *pp = tp->hash_next;
    for (uint32_t i = 0; i < t->count; i++) {
        if (t->order[i] != tp) continue;
        memmove(t->order + i, t->order + i + 1, (t->count - i - 1) * sizeof(*t->order));
        t->count--;
        break;
    }
}

/* Closes the partitions still attached (saving their producer state) and frees the topic. */
static void topic_free(struct topic *tp) {
    for (int32_t p = 0; tp->parts && p < tp->partition_count; p++)
        if (tp->parts[p]) partition_close(tp->parts[p]);
    for (uint32_t i = 0; i < tp->subject_count; i++) free(tp->subjects[i]);
    free(tp->stream_rec);
    free(tp->parts);
    free(tp->name);
    free(tp);
}

static struct topic *topic_new(const char *name, int32_t len) {
    struct topic *tp = sl_xcalloc(1, sizeof(*tp));
    tp->name = sl_xmalloc((size_t)len + 1);
    memcpy(tp->name, name, (size_t)len);
    tp->name[len] = 0;
    return tp;
}

static void topic_grow(struct topic *tp, int32_t total) {
    tp->parts = sl_xrealloc(tp->parts, (size_t)total * sizeof(*tp->parts));
    for (int32_t p = tp->partition_count; p < total; p++) tp->parts[p] = NULL;
}

static uint64_t topics_now_ms(const struct topics *t) { return loop_now_ms(store_loop(t->st)); }

static size_t topic_key(char *out, size_t cap, const char *name) {
    return (size_t)snprintf(out, cap, TOPIC_KEY_PREFIX "%s", name);
}

/* The topic's record: see the TOPIC_TAG_* fields. */
static void topic_encode(const struct topic *tp, struct kvlog_tlv_writer *w) {
    kvlog_tlv_begin(w, TOPIC_VALUE_VERSION);
    kvlog_tlv_put(w, TOPIC_TAG_ID, tp->id, 16);
    kvlog_tlv_put_i64(w, TOPIC_TAG_PARTITIONS, tp->partition_count);
    for (uint32_t i = 0; i < tp->override_count; i++) {
        uint8_t buf[2 + 64 + 256];
        size_t kl = strlen(tp->overrides[i].key), vl = strlen(tp->overrides[i].value);
        sl_store_be16(buf, (uint16_t)kl);
        memcpy(buf + 2, tp->overrides[i].key, kl);
        memcpy(buf + 2 + kl, tp->overrides[i].value, vl);
        kvlog_tlv_put(w, TOPIC_TAG_CONFIG, buf, (uint32_t)(2 + kl + vl));
    }
    if (tp->stream_rec) kvlog_tlv_put(w, TOPIC_TAG_STREAM, tp->stream_rec, tp->stream_rec_len);
}

/* Queues the topic's record in the metadata log; topics_wait_durable() says when it is safe. */
static sl_err topic_save(struct topics *t, const struct topic *tp) {
    char key[STORE_TOPIC_NAME_MAX + sizeof(TOPIC_KEY_PREFIX)];
    size_t kl = topic_key(key, sizeof(key), tp->name);
    struct kvlog_tlv_writer w = {0};
    topic_encode(tp, &w);
    sl_err e = kvlog_put(t->meta, key, (uint32_t)kl, w.p, (uint32_t)w.len, topics_now_ms(t), NULL);
    kvlog_tlv_free(&w);
    return e;
}

static bool topic_parse_hex_id(const char *s, uint8_t id[16]) {
    if (strlen(s) != 32) return false;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return false;
        id[i] = (uint8_t)v;
    }
    return true;
}

static void topic_new_id(uint8_t id[16]) {
    if (getrandom(id, 16, 0) != 16) {
        for (int i = 0; i < 16; i++) id[i] = (uint8_t)rand();
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* a version-4 UUID, as Kafka's are */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

static sl_err topic_set_override(struct topic *tp, const char *key, const char *value) {
    for (uint32_t i = 0; i < tp->override_count; i++) {
        if (strcmp(tp->overrides[i].key, key) != 0) continue;
        if (!value) {
            tp->overrides[i] = tp->overrides[--tp->override_count];
            return SL_OK;
        }
        snprintf(tp->overrides[i].value, sizeof(tp->overrides[i].value), "%s", value);
        return SL_OK;
    }
    if (!value) return SL_OK;
    if (tp->override_count == TOPIC_CONFIGS_MAX || strlen(key) >= 64 || strlen(value) >= 256)
        return SL_INVALID_CONFIG;
    struct topic_config_entry *e = &tp->overrides[tp->override_count++];
    snprintf(e->key, sizeof(e->key), "%s", key);
    snprintf(e->value, sizeof(e->value), "%s", value);
    return SL_OK;
}

static struct partition *topics_partition_new(struct topics *t, struct log *g) {
    struct partition *p = partition_new(g);
    partition_set_records_scratch(p, &t->records_scratch);
    return p;
}

/* Opens or creates partitions [from, to) in the store. */
static sl_err topic_attach(struct topics *t, struct topic *tp, int32_t from, int32_t to) {
    sl_err e = SL_OK;
    store_create_begin(t->st);
    for (int32_t p = from; p < to && !e; p++) {
        struct log *g = store_log_get(t->st, tp->name, p);
        if (!g) e = store_log_create(t->st, tp->name, p, &tp->cfg, &g);
        if (e) break;
        tp->parts[p] = topics_partition_new(t, g);
        topic_partition_config(tp, tp->parts[p]);
    }
    store_create_end(t->st);
    return e;
}

/* Deletes partitions [from, to) that exist (their logs and directories). */
static void topic_delete_partitions(struct topics *t, struct topic *tp, int32_t from, int32_t to) {
    for (int32_t p = from; p < to; p++) {
        if (!tp->parts[p]) continue;
        if (partition_delete(tp->parts[p], t->st)) SL_WARN("%s-%d: cannot remove the partition", tp->name, p);
        tp->parts[p] = NULL;
    }
}

/* Partitions [from, to) hold no record and never did: nothing is lost by deleting them. */
static bool topic_partitions_empty(const struct topic *tp, int32_t from, int32_t to) {
    for (int32_t p = from; p < to; p++) {
        struct log *g = tp->parts[p] ? partition_log(tp->parts[p]) : NULL;
        if (g && log_end_offset(g) > 0) return false;
    }
    return true;
}

/* One topic record back into a topic (not yet attached); false if malformed. */
static bool topic_decode(struct topic *tp, const uint8_t *v, uint32_t len) {
    struct kvlog_tlv_reader r;
    if (!kvlog_tlv_open(&r, v, len) || r.version != TOPIC_VALUE_VERSION) return false;
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    int64_t partitions = 0;
    while (kvlog_tlv_next(&r, &tag, &p, &n)) {
        if (tag == TOPIC_TAG_ID && n == 16) memcpy(tp->id, p, 16);
        else if (tag == TOPIC_TAG_PARTITIONS && !kvlog_tlv_i64(p, n, &partitions)) return false;
        else if (tag == TOPIC_TAG_CONFIG) {
            if (n < 2 || sl_load_be16(p) > n - 2) return false;
            uint32_t kl = sl_load_be16(p);
            char key[64], value[256];
            if (kl >= sizeof(key) || n - 2 - kl >= sizeof(value)) return false;
            memcpy(key, p + 2, kl);
            key[kl] = 0;
            memcpy(value, p + 2 + kl, n - 2 - kl);
            value[n - 2 - kl] = 0;
            topic_set_override(tp, key, value);
        } else if (tag == TOPIC_TAG_STREAM) {
            free(tp->stream_rec);
            tp->stream_rec = sl_xmalloc(n ? n : 1);
            memcpy(tp->stream_rec, p, n);
            tp->stream_rec_len = n;
        }
    }
    if (partitions <= 0 || partitions > 100000) return false;
    topic_grow(tp, (int32_t)partitions);
    tp->partition_count = (int32_t)partitions;
    return true;
}

struct topics_replay {
    struct topics *t;
    sl_err err;
    uint32_t bad;
};

static void topics_replay_one(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                              uint32_t value_len) {
    struct topics_replay *r = arg;
    size_t pl = strlen(TOPIC_KEY_PREFIX);
    if (r->err || key_len <= pl || memcmp(key, TOPIC_KEY_PREFIX, pl)) return;
    const char *name = (const char *)key + pl;
    int32_t name_len = (int32_t)(key_len - pl);
    if (!topics_name_valid(name, name_len) || topics_get(r->t, name, name_len)) {
        r->bad++;
        return;
    }
    struct topic *tp = topic_new(name, name_len);
    if (!topic_decode(tp, value, value_len)) {
        r->bad++;
        topic_free(tp);
        return;
    }
    topic_apply(r->t, tp);
    r->err = topic_attach(r->t, tp, 0, tp->partition_count);
    if (r->err) {
        topic_free(tp);
        return;
    }
    topics_insert(r->t, tp);
}

/* A topic file of the previous version (key = value lines) into the metadata log. */
static sl_err topics_import_file(struct topics *t, const char *name) {
    char path[4400], line[512];
    snprintf(path, sizeof(path), "%s/%s", t->dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return SL_IO;
    struct topic *tp = topic_new(name, (int32_t)strlen(name));
    int32_t partitions = 0;
    while (fgets(line, sizeof(line), f)) {
        char key[128], value[300];
        if (sscanf(line, " %127[^= ] = %299[^\n]", key, value) != 2) continue;
        if (!strcmp(key, "id")) topic_parse_hex_id(value, tp->id);
        else if (!strcmp(key, "partitions")) partitions = atoi(value);
        else if (!strncmp(key, "config.", 7)) topic_set_override(tp, key + 7, value);
    }
    fclose(f);
    sl_err e = SL_OK;
    if (partitions <= 0) {
        SL_WARN("%s: no partition count; ignoring this topic file", path);
    } else {
        tp->partition_count = partitions;
        e = topic_save(t, tp);
    }
    topic_free(tp);
    return e;
}

/* Data directories of the previous version keep <data_dir>/.topics/<name> files: they go into
 * the metadata log once, and are removed only after that is durable (a crash in between
 * imports the same files again). */
static sl_err topics_import_legacy(struct topics *t) {
    DIR *d = opendir(t->dir);
    if (!d) return errno == ENOENT ? SL_OK : SL_IO;
    struct dirent *de;
    sl_err e = SL_OK;
    uint32_t n = 0;
    while (!e && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' && (len == 1 || (len == 2 && de->d_name[1] == '.'))) continue;
        /* The old writer's temporary files were <name>.tmp, never a committed version; but a
         * topic may itself be named like one. Only the real topic has partition directories
         * under that exact name, so those decide. */
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0 && !store_log_get(t->st, de->d_name, 0))
            continue;
        if (!topics_name_valid(de->d_name, (int32_t)len)) continue;
        e = topics_import_file(t, de->d_name);
        n++;
    }
    if (!e) e = kvlog_flush(t->meta);
    if (e) {
        closedir(d);
        return e;
    }
    rewinddir(d);
    char path[4400];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2]))) continue;
        snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    if (rmdir(t->dir) != 0) SL_WARN("%s: cannot remove the imported directory: %s", t->dir, strerror(errno));
    SL_INFO("imported %u topic(s) from %s into the metadata log", n, t->dir);
    return SL_OK;
}

/* Partition directories with no topic file become topics with default configs. */
static sl_err topics_adopt(struct topics *t) {
    bool adopted = false;
    uint32_t removed = 0;
    for (uint32_t i = 0; i < store_log_count(t->st); i++) {
        struct log *g = store_log_at(t->st, i);
        const char *name = store_log_topic(g);
        /* Internal logs (committed offsets, metadata) are not topics clients see. */
        if (!strcmp(name, OFFSETS_TOPIC) || !strcmp(name, TOPICS_METADATA_TOPIC) || !strcmp(name, TXN_STATE_TOPIC))
            continue;
        struct topic *tp = topics_get(t, name, (int32_t)strlen(name));
        int32_t p = store_log_partition(g);
        if ((!tp || p >= tp->partition_count) && log_end_offset(g) == 0) {
            /* No record names it and it never held a record: what a creation cut short by a
             * crash leaves (its record comes last). Removed, so a creation is all or nothing. */
            SL_DEBUG("%s-%d: an empty partition without a topic record: removed", name, p);
            if (store_log_delete(t->st, g)) SL_WARN("%s: cannot remove an empty leftover partition", t->dir);
            removed++;
            i--;
            continue;
        }
        if (!tp) {
            tp = topic_new(name, (int32_t)strlen(name));
            topic_new_id(tp->id);
            topic_apply(t, tp);
            topics_insert(t, tp);
            adopted = true;
        }
        if (p >= tp->partition_count) {
            adopted = true;
            topic_grow(tp, p + 1);
            tp->partition_count = p + 1;
        }
        if (!tp->parts[p]) tp->parts[p] = topics_partition_new(t, g);
        SL_ASSERT(partition_log(tp->parts[p]) == g);
    }
    if (removed)
        SL_WARN("removed %u empty partition director%s that no topic record names (creations cut short)",
                removed, removed == 1 ? "y" : "ies");
    for (uint32_t i = 0; i < t->count; i++) {
        struct topic *tp = t->order[i];
        for (int32_t p = 0; p < tp->partition_count; p++) {
            if (tp->parts[p]) continue;
            sl_err e = topic_attach(t, tp, p, p + 1);
            if (e) return e;
        }
        topic_apply(t, tp);
        if (adopted) topic_save(t, tp);
    }
    return SL_OK;
}

/* Deletions a crash cut short: their markers are still in the metadata log, and whatever
 * directories are left go now, before adoption could bring them back. */
struct topics_marks {
    char **names;
    uint32_t n, cap;
};

static void topics_collect_deleting(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                                    uint32_t value_len) {
    struct topics_marks *m = arg;
    size_t pl = strlen(TOPIC_DELETING_PREFIX);
    (void)value;
    (void)value_len;
    if (key_len <= pl || key_len - pl > STORE_TOPIC_NAME_MAX || memcmp(key, TOPIC_DELETING_PREFIX, pl)) return;
    if (m->n == m->cap) m->names = sl_xrealloc(m->names, (m->cap = m->cap ? m->cap * 2 : 4) * sizeof(*m->names));
    char *name = sl_xmalloc(key_len - pl + 1);
    memcpy(name, key + pl, key_len - pl);
    name[key_len - pl] = 0;
    m->names[m->n++] = name;
}

static void topics_finish_deletions(struct topics *t) {
    struct topics_marks m = {0};
    kvlog_foreach(t->meta, topics_collect_deleting, &m);
    for (uint32_t i = 0; i < m.n; i++) {
        const char *name = m.names[i];
        uint32_t gone = 0;
        if (!topics_get(t, name, (int32_t)strlen(name))) {
            for (uint32_t k = store_log_count(t->st); k > 0; k--) {
                struct log *g = store_log_at(t->st, k - 1);
                if (strcmp(store_log_topic(g), name) != 0) continue;
                if (store_log_delete(t->st, g))
                    SL_WARN("%s: cannot remove a partition of deleted topic %s", t->dir, name);
                gone++;
            }
        }
        char key[STORE_TOPIC_NAME_MAX + sizeof(TOPIC_DELETING_PREFIX)];
        int kl = snprintf(key, sizeof(key), TOPIC_DELETING_PREFIX "%s", name);
        kvlog_del(t->meta, key, (uint32_t)kl, topics_now_ms(t), NULL);
        SL_WARN("finished deleting topic %s, cut short by a crash: %u partition director%s removed", name, gone,
                gone == 1 ? "y" : "ies");
        free(m.names[i]);
    }
    free(m.names);
}

/* ---- a failed metadata write ----------------------------------------------------------------
 * The metadata log undid the write (kvlog.h, Failures); the registry follows what the log
 * holds now, as a restart would build it: a topic without a record whose partitions are all
 * empty was a failed creation and goes with its directories (partitions holding records stay:
 * a restart would adopt them); a record without a topic (a failed delete) brings the topic
 * back with empty partitions, its old ones are gone; otherwise the partition count and configs
 * go back to the record's, and partitions added past it go if empty. */

static void topics_reconcile_one(struct topics *t, const char *name) {
    char key[STORE_TOPIC_NAME_MAX + sizeof(TOPIC_KEY_PREFIX)];
    size_t kl = topic_key(key, sizeof(key), name);
    uint32_t len = 0;
    const uint8_t *v = kvlog_get(t->meta, key, (uint32_t)kl, &len);
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > STORE_TOPIC_NAME_MAX) return;
    int32_t name_len = (int32_t)nlen;
    struct topic *tp = topics_get(t, name, name_len);
    if (!v) {
        if (!tp || !topic_partitions_empty(tp, 0, tp->partition_count)) return;
        topics_unlink(t, tp);
        SL_WARN("metadata log: creating topic %s failed; it is removed", name);
        topic_delete_partitions(t, tp, 0, tp->partition_count);
        topic_free(tp);
        return;
    }
    struct topic *rec = topic_new(name, name_len);
    if (!topic_decode(rec, v, len)) {
        SL_WARN("metadata log: the record of topic %s is malformed", name);
        topic_free(rec);
        return;
    }
    if (!tp) {
        struct topics_job *j = topics_job_find(t, name, name_len);
        if (j && j->kind == TOPICS_JOB_DELETE) topics_job_finish_now(j);
        topic_apply(t, rec);
        sl_err e = topic_attach(t, rec, 0, rec->partition_count);
        if (e) {
            SL_ERROR("metadata log: deleting topic %s failed, and so did bringing it back: %s", name,
                     sl_err_str(e));
            topic_delete_partitions(t, rec, 0, rec->partition_count);
            topic_free(rec);
            return;
        }
        topics_insert(t, rec);
        SL_WARN("metadata log: deleting topic %s failed; it is back, empty", name);
        return;
    }
    memcpy(tp->id, rec->id, 16);
    tp->override_count = rec->override_count;
    memcpy(tp->overrides, rec->overrides, sizeof(tp->overrides));
    free(tp->stream_rec);
    tp->stream_rec = rec->stream_rec;
    tp->stream_rec_len = rec->stream_rec_len;
    rec->stream_rec = NULL;
    if (rec->partition_count < tp->partition_count &&
        topic_partitions_empty(tp, rec->partition_count, tp->partition_count)) {
        topic_delete_partitions(t, tp, rec->partition_count, tp->partition_count);
        tp->partition_count = rec->partition_count;
    } else if (rec->partition_count > tp->partition_count) {
        int32_t old = tp->partition_count;
        topic_grow(tp, rec->partition_count);
        tp->partition_count = rec->partition_count;
        if (topic_attach(t, tp, old, rec->partition_count)) tp->partition_count = old;
    }
    topic_apply(t, tp);
    topic_free(rec);
}

static void topics_reconcile(struct topics *t) {
    /* Taken first: deleting partitions runs the loop, which may undo more. */
    while (t->doomed_count || t->undone_count) {
        if (t->doomed_count) {
            struct topic *tp = t->doomed[--t->doomed_count];
            SL_WARN("metadata log: creating topic %s failed; its partitions are removed", tp->name);
            if (t->delete_hook) t->delete_hook(t->delete_hook_arg, tp);
            topic_delete_partitions(t, tp, 0, tp->partition_count);
            topic_free(tp);
            continue;
        }
        char *name = t->undone[--t->undone_count];
        topics_reconcile_one(t, name);
        free(name);
    }
}

static void topics_reconcile_fire(struct loop_timer *lt, uint64_t mono_ms) {
    (void)mono_ms;
    topics_reconcile(sl_container_of(lt, struct topics, reconcile_timer));
}

/* The metadata log's undo hook: inside the log's completion, so memory only. */
static void topics_undone(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                          uint32_t value_len) {
    struct topics *t = arg;
    size_t pl = strlen(TOPIC_KEY_PREFIX);
    (void)value_len;
    if (key_len <= pl || key_len - pl > STORE_TOPIC_NAME_MAX || memcmp(key, TOPIC_KEY_PREFIX, pl)) return;
    const char *name = (const char *)key + pl;
    int32_t name_len = (int32_t)(key_len - pl);
    for (uint32_t i = 0; i < t->undone_count; i++)
        if ((int32_t)strlen(t->undone[i]) == name_len && !memcmp(t->undone[i], name, (size_t)name_len)) return;
    /* A failed creation leaves the registry now: no request sees it after its error. */
    struct topic *tp = topics_get(t, name, name_len);
    if (!value && tp && topic_partitions_empty(tp, 0, tp->partition_count)) {
        topics_unlink(t, tp);
        if (t->doomed_count == t->doomed_cap)
            t->doomed = sl_xrealloc(t->doomed, (t->doomed_cap = t->doomed_cap ? t->doomed_cap * 2 : 4) * sizeof(*t->doomed));
        t->doomed[t->doomed_count++] = tp;
    } else {
        if (t->undone_count == t->undone_cap)
            t->undone = sl_xrealloc(t->undone, (t->undone_cap = t->undone_cap ? t->undone_cap * 2 : 4) * sizeof(*t->undone));
        char *copy = sl_xmalloc((size_t)name_len + 1);
        memcpy(copy, name, (size_t)name_len);
        copy[name_len] = 0;
        t->undone[t->undone_count++] = copy;
    }
    struct loop *l = store_loop(t->st);
    if (!loop_timer_armed(&t->reconcile_timer)) loop_timer_add(l, &t->reconcile_timer, loop_mono_ms(l));
}

sl_err topics_open(struct topics **out, struct store *st, const char *data_dir,
                   const struct log_config *defaults) {
    struct topics *t = sl_xcalloc(1, sizeof(*t));
    t->st = st;
    t->defaults = *defaults;
    /* Decompressed batches are bounded by 64 MiB (a decompression bomb is refused there). */
    kafka_records_scratch_init(&t->records_scratch, 0);
    size_t n = strlen(data_dir) + sizeof("/.topics");
    t->dir = sl_xmalloc(n);
    snprintf(t->dir, n, "%s/.topics", data_dir);
    struct kvlog_options opts = {.segment_bytes = 4u << 20, .compact_min_records = 1000, .compact_ratio = 4};
    sl_err e = kvlog_open(&t->meta, st, TOPICS_METADATA_TOPIC, &opts, topics_now_ms(t));
    if (!e) e = topics_import_legacy(t);
    struct topics_replay r = {t, SL_OK, 0};
    if (!e) {
        kvlog_foreach(t->meta, topics_replay_one, &r);
        e = r.err;
    }
    if (r.bad) SL_WARN("metadata log: skipped %u malformed topic records", r.bad);
    if (!e) {
        t->reconcile_timer.fire = topics_reconcile_fire;
        kvlog_set_undo_hook(t->meta, topics_undone, t);
    }
    if (!e) topics_finish_deletions(t);
    if (!e) e = topics_adopt(t);
    if (e) {
        topics_close(t);
        return e;
    }
    *out = t;
    return SL_OK;
}

void topics_close(struct topics *t) {
    topics_jobs_stop(t);
    if (t->meta) {
        /* Failures still to come must find the registry: settle them first. */
        kvlog_flush(t->meta);
        kvlog_set_undo_hook(t->meta, NULL, NULL);
    }
    if (loop_timer_armed(&t->reconcile_timer)) loop_timer_del(store_loop(t->st), &t->reconcile_timer);
    topics_reconcile(t);
    free(t->undone);
    free(t->doomed);
    for (uint32_t i = 0; i < t->count; i++) topic_free(t->order[i]);
    if (t->meta) kvlog_close(t->meta);
    free(t->order);
    free(t->dir);
    kafka_records_scratch_free(&t->records_scratch);
    free(t);
}

struct kvlog *topics_metadata(const struct topics *t) { return t->meta; }

void topics_wait_durable(struct topics *t, struct log_waiter *w) { kvlog_wait(t->meta, w); }

/* ---- sliced creations, growths and deletions ------------------------------------------------ */

static struct topics_job *topics_job_find(const struct topics *t, const char *name, int32_t len) {
    for (struct topics_job *j = t->jobs; j; j = j->next_job)
        if ((int32_t)strlen(j->tp->name) == len && !memcmp(j->tp->name, name, (size_t)len)) return j;
    return NULL;
}

bool topics_creating(const struct topics *t, const char *name, int32_t name_len) {
    const struct topics_job *j = name_len >= 0 ? topics_job_find(t, name, name_len) : NULL;
    return j && j->kind == TOPICS_JOB_CREATE;
}

void topics_set_partitions_max(struct topics *t, uint32_t partitions_max) { t->partitions_max = partitions_max; }

uint32_t topics_partitions_used(const struct topics *t) {
    uint32_t n = store_log_count(t->st);
    for (const struct topics_job *j = t->jobs; j; j = j->next_job)
        if (j->kind != TOPICS_JOB_DELETE) n += (uint32_t)(j->to - j->next);
    return n;
}

/* The reason of the last refusal for want of file descriptors (one thread; read before the
 * next check). */
static char topics_fd_why[256];

static sl_err topics_fd_check(struct topics *t, int32_t more, const char **why) {
    if (!t->partitions_max) return SL_OK;
    uint32_t used = topics_partitions_used(t);
    if (used + (uint64_t)more <= t->partitions_max) return SL_OK;
    snprintf(topics_fd_why, sizeof(topics_fd_why),
             "%d more partition(s) would exceed what this broker can keep open: each partition holds one "
             "open file, %u of at most %u are in use (from the open files limit, ulimit -n); raise the limit "
             "or use fewer partitions",
             more, used, t->partitions_max);
    *why = topics_fd_why;
    return SL_POLICY_VIOLATION;
}

static void topics_job_unlink(struct topics *t, struct topics_job *j) {
    struct topics_job **pp = &t->jobs;
    while (*pp && *pp != j) pp = &(*pp)->next_job;
    if (*pp) *pp = j->next_job;
}

static void topics_job_fire(struct loop_timer *lt, uint64_t mono_ms);
static bool topics_prep_idle(void *arg) { return !store_prep_busy(arg); }

/* A job's end. One whose partitions are still being made ahead (a filesystem stuck for
 * seconds) stays allocated: those completions still point at it, and do nothing (what they make
 * is removed at the next start, as any partition directory without a topic). */
static void topics_job_free(struct topics_job *j) {
    if (!j->prepping) free(j); /* topics_job_prep_end said why not */
}

/* A partition made ahead (or failed): the job goes on if it was waiting for that one. */
static void topics_job_prep_ready(struct store_prep *sp, int32_t partition) {
    struct topics_job *j = sl_container_of(sp, struct topics_job, prep);
    if (!j->waiting || partition != j->next) return;
    j->waiting = false;
    struct loop *l = store_loop(j->t->st);
    loop_timer_add(l, &j->timer, loop_mono_ms(l));
}

/* A directory removed: the job goes on if it was waiting for a free slot or for the last. */
static void topics_job_rmdir_ready(struct store_rmdirs *rd) {
    struct topics_job *j = sl_container_of(rd, struct topics_job, rmdirs);
    if (!j->waiting) return;
    j->waiting = false;
    struct loop *l = store_loop(j->t->st);
    loop_timer_add(l, &j->timer, loop_mono_ms(l));
}

static bool topics_rmdirs_idle(void *arg) { return !store_rmdirs_busy(arg); }

static void topics_job_start(struct topics *t, struct topics_job *j) {
    j->t = t;
    j->next = j->from;
    j->timer.fire = topics_job_fire;
    j->next_job = t->jobs;
    t->jobs = j;
    if (j->kind == TOPICS_JOB_DELETE) store_rmdirs_init(t->st, &j->rmdirs, topics_job_rmdir_ready);
    if (j->kind != TOPICS_JOB_DELETE) {
        store_prep_start(t->st, &j->prep, j->tp->name, j->from, j->to, topics_job_prep_ready);
        j->prepping = true;
    }
    struct loop *l = store_loop(t->st);
    loop_timer_add(l, &j->timer, loop_mono_ms(l));
}

/* What was made ahead and not taken: closed, and with remove_made (a failure) removed. Waits
 * for what is still in flight (a few mkdirs and creates, milliseconds). */
static void topics_job_prep_end(struct topics_job *j, bool remove_made) {
    if (!j->prepping) return;
    struct loop *l = store_loop(j->t->st);
    j->waiting = false;
    store_prep_stop(&j->prep);
    if (store_prep_busy(&j->prep) && !loop_run_until(l, topics_prep_idle, &j->prep, 10000))
        SL_WARN("topic %s: partitions still being made after 10 s; left to the next start", j->tp->name);
    if (loop_timer_armed(&j->timer)) loop_timer_del(l, &j->timer);
    if (store_prep_busy(&j->prep)) return; /* left allocated: its completions still point at it */
    store_prep_end(&j->prep, remove_made);
    j->prepping = false;
}

/* A creation or growth that cannot finish: the partitions it made go (they never held a
 * record), the topic stays as it was, and done hears why. */
static void topics_job_fail(struct topics_job *j, sl_err e, const char *why) {
    struct topics *t = j->t;
    topics_job_prep_end(j, true);
    topics_job_unlink(t, j);
    topic_delete_partitions(t, j->tp, j->from, j->next);
    if (j->kind == TOPICS_JOB_CREATE) topic_free(j->tp);
    SL_WARN("%s %s: %s", j->kind == TOPICS_JOB_CREATE ? "creating topic" : "adding partitions to", j->tp->name, why);
    j->done(j->arg, e, NULL, why);
    topics_job_free(j);
}

static void topics_job_synced(struct store_dir_sync *ds, sl_err err) {
    struct topics_job *j = sl_container_of(ds, struct topics_job, sync);
    struct topics *t = j->t;
    struct topic *tp = j->tp;
    j->syncing = false;
    if (err) {
        topics_job_fail(j, err, "storage error syncing the new partition directories");
        return;
    }
    int32_t old = tp->partition_count;
    if (j->kind == TOPICS_JOB_GROW) tp->partition_count = j->to;
    topic_apply(t, tp);
    sl_err e = topic_save(t, tp);
    if (e) {
        tp->partition_count = j->kind == TOPICS_JOB_GROW ? old : tp->partition_count;
        topics_job_fail(j, e,
                        e == SL_NO_SPACE ? "no space left to store the topic record"
                                         : "storage error storing the topic record");
        return;
    }
    topics_job_unlink(t, j);
    if (j->kind == TOPICS_JOB_CREATE) {
        topics_insert(t, tp);
        SL_INFO("created topic %s with %d partition(s)", tp->name, tp->partition_count);
    } else {
        SL_INFO("topic %s: %d partition(s) now (was %d)", tp->name, j->to, j->from);
    }
    j->done(j->arg, SL_OK, tp, NULL);
    free(j);
}

/* A deletion's last directory is gone: so is its marker. */
static void topics_job_deleted(struct topics_job *j) {
    struct topics *t = j->t;
    char key[STORE_TOPIC_NAME_MAX + sizeof(TOPIC_DELETING_PREFIX)];
    int kl = snprintf(key, sizeof(key), TOPIC_DELETING_PREFIX "%s", j->tp->name);
    kvlog_del(t->meta, key, (uint32_t)kl, topics_now_ms(t), NULL);
    topics_job_unlink(t, j);
    SL_INFO("deleted topic %s: its %d partition director%s removed", j->tp->name, j->to,
            j->to == 1 ? "y is" : "ies are");
    topic_free(j->tp);
    free(j);
}

/* One partition made or removed; *wait when the next one is not made yet (its directory and
 * segment are being made ahead). */
static sl_err topics_job_step(struct topics_job *j, bool *wait) {
    struct topics *t = j->t;
    struct topic *tp = j->tp;
    int32_t p = j->next;
    if (j->kind == TOPICS_JOB_DELETE) {
        if (!j->delete_now && store_rmdirs_full(&j->rmdirs)) {
            *wait = true;
            return SL_OK;
        }
        if (tp->parts[p] && (j->delete_now ? partition_delete(tp->parts[p], t->st)
                                           : partition_delete_async(tp->parts[p], t->st, &j->rmdirs)))
            SL_WARN("%s-%d: cannot remove the partition", tp->name, p);
        tp->parts[p] = NULL;
        j->next++;
        return SL_OK;
    }
    int32_t made = store_prep_take(&j->prep, p);
    if (made == STORE_PREP_PENDING) {
        *wait = true;
        return SL_OK;
    }
    struct log *g = store_log_get(t->st, tp->name, p);
    sl_err e;
    if (made >= 0 && !g) {
        e = store_log_create_prepared(t->st, tp->name, p, &tp->cfg, made, &g);
    } else if (made >= 0 || made == STORE_PREP_INLINE) {
        if (made >= 0) close(made);
        e = g ? SL_OK : store_log_create_unsynced(t->st, tp->name, p, &tp->cfg, &g);
    } else {
        e = made == -ENOSPC || made == -EDQUOT ? SL_NO_SPACE : SL_IO;
    }
    if (e) return e;
    tp->parts[p] = topics_partition_new(t, g);
    topic_partition_config(tp, tp->parts[p]);
    j->next++;
    return SL_OK;
}

static void topics_job_fire(struct loop_timer *lt, uint64_t mono_ms) {
    struct topics_job *j = sl_container_of(lt, struct topics_job, timer);
    struct loop *l = store_loop(j->t->st);
    uint64_t start_us = loop_mono_us(l);
    (void)mono_ms;
    for (uint32_t n = 0; j->next < j->to && n < TOPICS_SLICE_MAX; n++) {
        /* loop_mono_us reads the clock now: the slice's own duration, not a deadline. */
        if (n && loop_mono_us(l) - start_us >= TOPICS_SLICE_US) break;
        bool wait = false;
        sl_err e = topics_job_step(j, &wait);
        if (wait) {
            j->waiting = true; /* topics_job_prep_ready arms the timer again */
            return;
        }
        if (e) {
            topics_job_fail(j, e, e == SL_NO_SPACE ? "no space left to create the partitions"
                                                   : "storage error creating the partitions");
            return;
        }
    }
    if (j->next < j->to) {
        loop_timer_add(l, &j->timer, loop_mono_ms(l)); /* the next turn, after other clients */
        return;
    }
    if (j->kind == TOPICS_JOB_DELETE) {
        if (store_rmdirs_busy(&j->rmdirs)) {
            j->waiting = true; /* the last directories are being removed */
            return;
        }
        topics_job_deleted(j);
        return;
    }
    topics_job_prep_end(j, false); /* every partition taken: nothing left open */
    j->syncing = true;
    store_sync_dirs(j->t->st, &j->sync, j->tp->name, j->from, j->to, topics_job_synced);
}

/* A deletion finished at once: the metadata log brought the topic back (a failed write) and
 * its new partitions need the names. */
static void topics_job_finish_now(struct topics_job *j) {
    SL_ASSERT(j->kind == TOPICS_JOB_DELETE);
    struct loop *l = store_loop(j->t->st);
    if (loop_timer_armed(&j->timer)) loop_timer_del(l, &j->timer);
    bool wait = false;
    j->waiting = false;
    j->delete_now = true;
    while (j->next < j->to) topics_job_step(j, &wait);
    if (store_rmdirs_busy(&j->rmdirs) && !loop_run_until(l, topics_rmdirs_idle, &j->rmdirs, 10000)) {
        /* Left as it is, marker and all, for the next start: those completions point at it. */
        SL_WARN("topic %s: directories still being removed after 10 s", j->tp->name);
        return;
    }
    topics_job_deleted(j);
}

static void topics_job_sync_ignored(struct store_dir_sync *ds, sl_err err) {
    (void)ds;
    (void)err;
}

static bool topics_dir_sync_idle(void *arg) { return !store_dir_sync_busy(arg); }

/* topics_close: what is under way ends. Creations and growths give up (their empty partitions
 * are removed at the next start); deletions keep their marker and finish at the next start. */
static void topics_jobs_stop(struct topics *t) {
    struct loop *l = store_loop(t->st);
    while (t->jobs) {
        struct topics_job *j = t->jobs;
        if (loop_timer_armed(&j->timer)) loop_timer_del(l, &j->timer);
        if (j->syncing && !loop_run_until(l, topics_dir_sync_idle, &j->sync, 10000)) {
            /* Its fsyncs still point at it: left allocated, and their end does nothing. */
            SL_WARN("topic %s: directory syncs still in flight at shutdown", j->tp->name);
            j->sync.done = topics_job_sync_ignored;
            t->jobs = j->next_job;
            continue;
        }
        if (!t->jobs || t->jobs != j) continue; /* the sync's completion finished it */
        topics_job_prep_end(j, false);
        t->jobs = j->next_job;
        if (j->kind == TOPICS_JOB_DELETE) {
            /* Its marker stays: the next start finishes it. What is being removed ends first. */
            j->waiting = false;
            if (store_rmdirs_busy(&j->rmdirs) && !loop_run_until(l, topics_rmdirs_idle, &j->rmdirs, 10000)) {
                SL_WARN("topic %s: directories still being removed at shutdown", j->tp->name);
                continue; /* left allocated: those completions still point at it */
            }
            topic_free(j->tp);
            free(j);
            continue;
        }
        for (int32_t p = j->from; p < j->next; p++) {
            partition_close(j->tp->parts[p]);
            j->tp->parts[p] = NULL;
        }
        if (j->kind == TOPICS_JOB_CREATE) topic_free(j->tp);
        j->done(j->arg, SL_CLOSED, NULL, "the broker is shutting down");
        topics_job_free(j);
    }
}

/* The checks every creation passes, sliced or not. */
static sl_err topics_create_check(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                                  const char **why) {
    if (!topics_name_valid(name, name_len)) {
        *why = "topic names are 1 to 249 characters of [a-zA-Z0-9._-], not '.' or '..'";
        return SL_INVALID_TOPIC;
    }
    if ((name_len == (int32_t)strlen(OFFSETS_TOPIC) && !memcmp(name, OFFSETS_TOPIC, (size_t)name_len)) ||
        (name_len == (int32_t)strlen(TOPICS_METADATA_TOPIC) &&
         !memcmp(name, TOPICS_METADATA_TOPIC, (size_t)name_len)) ||
        (name_len == (int32_t)strlen(TXN_STATE_TOPIC) && !memcmp(name, TXN_STATE_TOPIC, (size_t)name_len))) {
        *why = "this topic name is internal";
        return SL_INVALID_TOPIC;
    }
    if (topics_get(t, name, name_len)) {
        *why = "topic already exists";
        return SL_TOPIC_EXISTS;
    }
    const struct topics_job *j = topics_job_find(t, name, name_len);
    if (j) {
        /* Kafka's words for a name whose deletion is not finished (ZooKeeper-era AdminZkClient). */
        *why = j->kind == TOPICS_JOB_DELETE ? "topic is marked for deletion" : "topic already exists (being created)";
        return SL_TOPIC_EXISTS;
    }
    /* Kafka refuses a name that equals an existing one once '.' and '_' are the same
     * character (their metric names would be one), with INVALID_TOPIC_EXCEPTION: KRaft's
     * ReplicationControlManager and the ZooKeeper-era AdminZkClient both do.
     * The reason is a constant: the answer may be parked and outlive the other topic. */
    if (topics_colliding(t, name, name_len)) {
        *why = "topic collides with an existing topic whose name differs only in '.' versus '_'";
        return SL_INVALID_TOPIC;
    }
    if (partitions <= 0 || partitions > 100000) {
        *why = "the number of partitions must be between 1 and 100000";
        return SL_INVALID_PARTITIONS;
    }
    return topics_fd_check(t, partitions, why);
}

/* A new topic with its configs checked, not yet attached nor registered. */
static sl_err topics_new_checked(const char *name, int32_t name_len, const char *const *keys,
                                 const char *const *values, uint32_t config_count, struct topic **out,
                                 const char **why) {
    struct topic *tp = topic_new(name, name_len);
    for (uint32_t i = 0; i < config_count; i++) {
        sl_err e = topics_config_check(keys[i], values[i], why);
        if (!e && topic_set_override(tp, keys[i], values[i])) {
            *why = "too many configs";
            e = SL_INVALID_CONFIG;
        }
        if (e) {
            topic_free(tp);
            return e;
        }
    }
    *out = tp;
    return SL_OK;
}

sl_err topics_create_start(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                           const char *const *keys, const char *const *values, uint32_t config_count,
                           topics_done_fn done, void *arg, const char **why) {
    return topics_create_start_id(t, name, name_len, partitions, keys, values, config_count, NULL, done, arg, why);
}

sl_err topics_create_start_id(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                              const char *const *keys, const char *const *values, uint32_t config_count,
                              const uint8_t id[16], topics_done_fn done, void *arg, const char **why) {
    sl_err e = topics_create_check(t, name, name_len, partitions, why);
    struct topic *tp = NULL;
    if (!e) e = topics_new_checked(name, name_len, keys, values, config_count, &tp, why);
    if (e) return e;
    if (id) memcpy(tp->id, id, 16);
    else topic_new_id(tp->id);
    topic_grow(tp, partitions);
    tp->partition_count = partitions;
    topic_apply(t, tp);
    struct topics_job *j = sl_xcalloc(1, sizeof(*j));
    j->kind = TOPICS_JOB_CREATE;
    j->tp = tp;
    j->from = 0;
    j->to = partitions;
    j->done = done;
    j->arg = arg;
    topics_job_start(t, j);
    return SL_OK;
}

sl_err topics_add_partitions_start(struct topics *t, struct topic *tp, int32_t total, topics_done_fn done,
                                   void *arg, const char **why) {
    if (total <= tp->partition_count || total > 100000) {
        *why = total <= tp->partition_count ? "the partition count can only grow"
                                            : "the number of partitions must be at most 100000";
        return SL_INVALID_PARTITIONS;
    }
    if (topics_job_find(t, tp->name, (int32_t)strlen(tp->name))) {
        *why = "partitions are being added to this topic: retry once that request has answered";
        return SL_REASSIGNMENT_IN_PROGRESS;
    }
    sl_err e = topics_fd_check(t, total - tp->partition_count, why);
    if (e) return e;
    topic_grow(tp, total); /* the count moves only once every new partition exists */
    struct topics_job *j = sl_xcalloc(1, sizeof(*j));
    j->kind = TOPICS_JOB_GROW;
    j->tp = tp;
    j->from = tp->partition_count;
    j->to = total;
    j->done = done;
    j->arg = arg;
    topics_job_start(t, j);
    return SL_OK;
}

sl_err topics_create(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                     const char *const *keys, const char *const *values, uint32_t config_count,
                     bool validate_only, struct topic **out, const char **why) {
    sl_err ce = topics_create_check(t, name, name_len, partitions, why);
    struct topic *tp = NULL;
    if (!ce) ce = topics_new_checked(name, name_len, keys, values, config_count, &tp, why);
    if (ce) return ce;
    if (validate_only) {
        topic_free(tp);
        return SL_OK;
    }
    topic_new_id(tp->id);
    topic_grow(tp, partitions);
    tp->partition_count = partitions;
    topic_apply(t, tp);
    /* Partitions first, the record last: a record is never queued for a topic whose
     * partitions could not be made, and a failure leaves no directory behind. */
    sl_err e = topic_attach(t, tp, 0, partitions);
    if (!e) e = topic_save(t, tp);
    if (e) {
        *why = e == SL_NO_SPACE ? "no space left to create the topic" : "storage error creating the partitions";
        topic_delete_partitions(t, tp, 0, partitions);
        topic_free(tp);
        return e;
    }
    topics_insert(t, tp);
    SL_INFO("created topic %s with %d partition(s)", tp->name, partitions);
    if (out) *out = tp;
    return SL_OK;
}

sl_err topics_delete(struct topics *t, struct topic *tp) {
    if (topics_job_find(t, tp->name, (int32_t)strlen(tp->name))) return SL_REASSIGNMENT_IN_PROGRESS;
    char key[STORE_TOPIC_NAME_MAX + sizeof(TOPIC_KEY_PREFIX)];
    char mark[STORE_TOPIC_NAME_MAX + sizeof(TOPIC_DELETING_PREFIX)];
    size_t kl = topic_key(key, sizeof(key), tp->name);
    int ml = snprintf(mark, sizeof(mark), TOPIC_DELETING_PREFIX "%s", tp->name);
    uint8_t count[8];
    sl_store_be64(count, (uint64_t)tp->partition_count);
    /* One batch: the record goes and the deletion marker comes together. A crash that beats
     * its group commit, or a failure of the write, brings the topic back (DeleteTopics answers
     * only once it is durable); after it, the next start finishes removing the directories.
     * Refused at once: nothing is deleted. */
    struct kvlog_op ops[2] = {{key, (uint32_t)kl, NULL, -1}, {mark, (uint32_t)ml, count, 8}};
    sl_err result = kvlog_write(t->meta, ops, 2, topics_now_ms(t), NULL);
    if (result) return result;
    if (t->delete_hook) t->delete_hook(t->delete_hook_arg, tp);
    topics_unlink(t, tp);
    SL_INFO("deleted topic %s (%d partition(s) to remove)", tp->name, tp->partition_count);
    struct topics_job *j = sl_xcalloc(1, sizeof(*j));
    j->kind = TOPICS_JOB_DELETE;
    j->tp = tp;
    j->from = 0;
    j->to = tp->partition_count;
    topics_job_start(t, j);
    /* A small topic goes at once, as before slicing: the name is free again for the next
     * request (a stream deleted and made again). */
    if (j->to <= TOPICS_DELETE_AT_ONCE_MAX) topics_job_finish_now(j);
    return SL_OK;
}

sl_err topics_add_partitions(struct topics *t, struct topic *tp, int32_t total, bool validate_only,
                             const char **why) {
    if (total <= tp->partition_count || total > 100000) {
        *why = total <= tp->partition_count ? "the partition count can only grow"
                                            : "the number of partitions must be at most 100000";
        return SL_INVALID_PARTITIONS;
    }
    if (topics_job_find(t, tp->name, (int32_t)strlen(tp->name))) {
        *why = "partitions are being added to this topic: retry once that request has answered";
        return SL_REASSIGNMENT_IN_PROGRESS;
    }
    sl_err fe = topics_fd_check(t, total - tp->partition_count, why);
    if (fe) return fe;
    if (validate_only) return SL_OK;
    int32_t old = tp->partition_count;
    topic_grow(tp, total);
    tp->partition_count = total;
    sl_err e = topic_attach(t, tp, old, total);
    if (!e) e = topic_save(t, tp);
    if (e) {
        /* Nothing queued: back to the old count, without the new directories. */
        *why = "storage error creating the partitions";
        topic_delete_partitions(t, tp, old, total);
        tp->partition_count = old;
    }
    return e;
}

sl_err topics_set_config(struct topics *t, struct topic *tp, const char *key, const char *value,
                         const char **why) {
    sl_err e = topics_config_check(key, value, why);
    if (e) return e;
    if (topic_set_override(tp, key, value)) {
        *why = "too many configs";
        return SL_INVALID_CONFIG;
    }
    topic_apply(t, tp);
    return topic_save(t, tp);
}

sl_err topics_replace_configs(struct topics *t, struct topic *tp, const char *const *keys,
                              const char *const *values, uint32_t n, const char **why) {
    for (uint32_t i = 0; i < n; i++) {
        sl_err e = topics_config_check(keys[i], values[i], why);
        if (e) return e;
    }
    tp->override_count = 0;
    for (uint32_t i = 0; i < n; i++) topic_set_override(tp, keys[i], values[i]);
    topic_apply(t, tp);
    return topic_save(t, tp);
}

struct partition *topic_partition(const struct topic *tp, int32_t partition) {
    if (partition < 0 || partition >= tp->partition_count) return NULL;
    return tp->parts[partition];
}

sl_err topics_set_stream_record(struct topics *t, struct topic *tp, const void *rec, uint32_t len) {
    uint8_t *old = tp->stream_rec;
    uint32_t old_len = tp->stream_rec_len;
    tp->stream_rec = NULL;
    tp->stream_rec_len = 0;
    if (rec) {
        tp->stream_rec = sl_xmalloc(len ? len : 1);
        memcpy(tp->stream_rec, rec, len);
        tp->stream_rec_len = len;
    }
    sl_err e = topic_save(t, tp);
    if (e) {
        free(tp->stream_rec);
        tp->stream_rec = old;
        tp->stream_rec_len = old_len;
        return e;
    }
    free(old);
    return SL_OK;
}

void topics_set_delete_hook(struct topics *t, void (*fn)(void *arg, struct topic *tp), void *arg) {
    t->delete_hook = fn;
    t->delete_hook_arg = arg;
}

sl_err topics_set_retention(struct topic *tp, enum topic_retention r, const char **why) {
    if (r != TOPIC_RETENTION_LIMITS && !tp->stream_rec) {
        *why = "the work-queue and interest retention policies are for streams only";
        return SL_INVALID_CONFIG;
    }
    tp->retention = r;
    return SL_OK;
}

/* NATS subject syntax: non-empty tokens of printable non-space bytes separated by '.'; a
 * wildcard is a whole token, '>' only the last. */
static bool topics_subject_valid(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= TOPIC_SUBJECT_BYTES_MAX) return false;
    size_t token_start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f) return false;
            continue;
        }
        size_t len = i - token_start;
        if (len == 0) return false;
        const char *tok = s + token_start;
        bool wild = memchr(tok, '*', len) || memchr(tok, '>', len);
        if (wild && len != 1) return false;
        if (tok[0] == '>' && i != n) return false;
        token_start = i + 1;
    }
    return true;
}

sl_err topics_bind_subject(struct topic *tp, const char *pattern, const char **why) {
    if (!topics_subject_valid(pattern)) {
        *why = "not a valid subject pattern";
        return SL_INVALID_ARG;
    }
    for (uint32_t i = 0; i < tp->subject_count; i++) {
        if (strcmp(tp->subjects[i], pattern) != 0) continue;
        *why = "subject already bound to this topic";
        return SL_EXISTS;
    }
    if (tp->subject_count == TOPIC_SUBJECTS_MAX) {
        *why = "too many subjects bound to this topic";
        return SL_INVALID_ARG;
    }
    size_t n = strlen(pattern) + 1;
    char *copy = sl_xmalloc(n);
    memcpy(copy, pattern, n);
    tp->subjects[tp->subject_count++] = copy;
    return SL_OK;
}

sl_err topics_unbind_subject(struct topic *tp, const char *pattern) {
    for (uint32_t i = 0; i < tp->subject_count; i++) {
        if (strcmp(tp->subjects[i], pattern) != 0) continue;
        free(tp->subjects[i]);
        tp->subjects[i] = tp->subjects[--tp->subject_count];
        tp->subjects[tp->subject_count] = NULL;
        return SL_OK;
    }
    return SL_NOT_FOUND;
}

static void topics_default_value(const struct topics *t, const struct cfg_def *d, char *out, size_t cap) {
    const struct log_config *c = &t->defaults;
    if (!strcmp(d->key, "retention.ms")) snprintf(out, cap, "%lld", (long long)c->retention_ms);
    else if (!strcmp(d->key, "retention.bytes")) snprintf(out, cap, "%lld", (long long)c->retention_bytes);
    else if (!strcmp(d->key, "segment.bytes")) snprintf(out, cap, "%llu", (unsigned long long)c->segment_bytes);
    else if (!strcmp(d->key, "segment.ms")) snprintf(out, cap, "%lld", (long long)c->segment_ms);
    else if (!strcmp(d->key, "max.message.bytes")) snprintf(out, cap, "%u", c->batch_bytes_max);
    else if (!strcmp(d->key, "index.interval.bytes")) snprintf(out, cap, "%u", c->index_interval_bytes);
    else snprintf(out, cap, "%s", d->fixed_default ? d->fixed_default : "");
}

uint32_t topics_describe(const struct topics *t, const struct topic *tp, struct topic_config_view *out,
                         uint32_t cap) {
    uint32_t n = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(cfg_defs) && n < cap; i++, n++) {
        const struct cfg_def *d = &cfg_defs[i];
        struct topic_config_view *v = &out[n];
        memset(v, 0, sizeof(*v));
        v->key = d->key;
        v->type = d->type;
        v->is_default = true;
        topics_default_value(t, d, v->value, sizeof(v->value));
        for (uint32_t j = 0; j < tp->override_count; j++) {
            if (strcmp(tp->overrides[j].key, d->key) != 0) continue;
            snprintf(v->value, sizeof(v->value), "%s", tp->overrides[j].value);
            v->is_default = false;
        }
    }
    return n;
}
