/* topics.h: the topic registry: names, ids, partition counts and per-topic configs. A topic is
 * a stream of partitions (struct partition: log, producer state, ack waiters), protocol-neutral:
 * Kafka topics, and NATS streams bound to subjects, are both topics.
 *
 * Topic metadata lives in the metadata log, the internal partition __sluice_metadata-0 (a
 * kvlog, storage/kvlog.h, hidden from clients like __consumer_offsets): key "topic/<name>",
 * value a versioned tag/length/value record (id, partition count, one field per config
 * override; readers skip unknown tags, so fields can be added). A change is applied in memory
 * at once and is durable after the log's next group commit; topics_wait_durable() says when.
 * A change whose record fails (a full disk) is undone in the log, and the registry follows on
 * the next loop turn: a failed creation goes with its (empty) partition directories, a failed
 * delete comes back with empty partitions, configs and partition counts go back.
 * Opening replays the log; the previous version's <data_dir>/.topics/<name> files are imported
 * once and then removed. Partition directories without a record (hand-made directories) are
 * adopted with default configs, unless they are empty: an empty one is what a creation cut
 * short leaves (the record comes last), and it is removed. Configs use Kafka's topic-level names (retention.ms,
 * segment.bytes, ...); the ones that drive storage map onto struct log_config. */
#ifndef SL_BROKER_TOPICS_H
#define SL_BROKER_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "storage/log.h"

struct store;
struct partition;
struct kvlog;

#define TOPIC_CONFIGS_MAX 40
#define TOPICS_METADATA_TOPIC "__sluice_metadata"
#define TOPIC_SUBJECTS_MAX 16
#define TOPIC_SUBJECT_BYTES_MAX 256

/* What removes messages. LIMITS: age and size (Kafka's delete policy, NATS's LimitsPolicy).
 * WORKQUEUE and INTEREST (acknowledged or unwanted messages go) only for streams (a topic with
 * a stream record, broker/core/stream.h). */
enum topic_retention {
    TOPIC_RETENTION_LIMITS,
    TOPIC_RETENTION_WORKQUEUE,
    TOPIC_RETENTION_INTEREST,
};

struct topic_config_entry {
    char key[64];
    char value[256];
};

struct topic {
    char *name;
    uint8_t id[16];
    int32_t partition_count;
    struct partition **parts;
    enum topic_retention retention;
    /* NATS subject patterns whose messages the topic stores; kept, not yet used for routing
     * (and, like the retention policy, not yet persisted). */
    uint32_t subject_count;
    char *subjects[TOPIC_SUBJECTS_MAX];
    struct log_config cfg;  /* effective storage config */
    bool log_append_time;   /* message.timestamp.type = LogAppendTime */
    uint32_t min_insync;    /* min.insync.replicas */
    /* sluice.retention.policy = workqueue: a plain topic's records go once the consumer groups
     * that committed offsets for a partition have all committed past them (the Kafka side
     * applies it on every durable OffsetCommit; a stream's topic ignores it). */
    bool group_workqueue;
    uint32_t override_count;
    struct topic_config_entry overrides[TOPIC_CONFIGS_MAX]; /* set explicitly */
    /* A stream's record (broker/core/stream.c encodes it; opaque here), kept in the topic's
     * metadata record; NULL for a plain topic. */
    uint8_t *stream_rec;
    uint32_t stream_rec_len;
    struct topic *hash_next;
};

struct topics;

/* One config key as DescribeConfigs shows it. */
struct topic_config_view {
    const char *key;
    char value[256];
    bool is_default;
    uint8_t type; /* DescribeConfigs' config type: 1 boolean, 2 string, 3 int, 5 long, 6 double, 7 list */
    bool read_only;
    bool sensitive;
};

sl_err topics_open(struct topics **out, struct store *st, const char *data_dir,
                   const struct log_config *defaults);
/* Closes every partition (waiting for its batches in flight and saving its producer state):
 * call before the store closes. */
void topics_close(struct topics *t);

/* The metadata log, shared with the cluster record (broker/core/cluster_meta.h). */
struct kvlog *topics_metadata(const struct topics *t);
/* w fires once every metadata change made so far is durable (at once if it already is):
 * admin requests answer after it. */
void topics_wait_durable(struct topics *t, struct log_waiter *w);

struct topic *topics_get(struct topics *t, const char *name, int32_t name_len);
uint32_t topics_count(const struct topics *t);
/* Topics in creation order; NULL past the end. */
struct topic *topics_at(const struct topics *t, uint32_t i);

/* Kafka's rules: 1..249 chars of [a-zA-Z0-9._-], not "." or "..". */
bool topics_name_valid(const char *name, int32_t len);
/* Kafka's collision rule: the names are equal once every '.' is read as '_'. topics_create
 * refuses a new topic that collides with an existing one (INVALID_TOPIC). */
bool topics_names_collide(const char *a, int32_t alen, const char *b, int32_t blen);

/* Checks a config pair: SL_OK, or SL_INVALID_CONFIG with a reason in why. */
sl_err topics_config_check(const char *key, const char *value, const char **why);

/* Creates a topic; configs are key/value pairs already checked or not (checked here). With
 * validate_only nothing is created. why gets a human reason on error. */
sl_err topics_create(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                     const char *const *keys, const char *const *values, uint32_t config_count,
                     bool validate_only, struct topic **out, const char **why);
/* Takes the topic out of the registry and queues its record's removal at once; its partition
 * directories go a slice per loop turn afterwards (a crash in between finishes the removal at
 * the next start). SL_REASSIGNMENT_IN_PROGRESS while partitions are being added to it. */
sl_err topics_delete(struct topics *t, struct topic *tp);
/* Grows the topic to total partitions (never shrinks). */
sl_err topics_add_partitions(struct topics *t, struct topic *tp, int32_t total, bool validate_only,
                             const char **why);

/* The sliced versions, for requests of any size: the partitions are made a slice per loop
 * turn (a few milliseconds at most), their directories synced through the loop, and only then
 * does the topic (or its new partition count) appear, its record queued in the metadata log:
 * a creation is all or nothing, also across kill -9 (the next start removes the empty
 * partitions a cut-short creation left, see topics_open). SL_OK: started, and done fires once
 * with the outcome (tp: the topic, NULL on error; why: a reason on error); then
 * topics_wait_durable says when the record is durable. Any other return: refused at once,
 * done never fires. While a topic is being created its name is taken (TOPIC_EXISTS) but
 * topics_get does not find it; while partitions are being added, another growth or a delete
 * of it is refused with SL_REASSIGNMENT_IN_PROGRESS. topics_close ends what is under way
 * with SL_CLOSED. */
typedef void (*topics_done_fn)(void *arg, sl_err err, struct topic *tp, const char *why);
sl_err topics_create_start(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                           const char *const *keys, const char *const *values, uint32_t config_count,
                           topics_done_fn done, void *arg, const char **why);
/* The same with the topic id given (a cluster's controller chose it: every broker's copy of a
 * placed topic has the same id); id NULL makes one. */
sl_err topics_create_start_id(struct topics *t, const char *name, int32_t name_len, int32_t partitions,
                              const char *const *keys, const char *const *values, uint32_t config_count,
                              const uint8_t id[16], topics_done_fn done, void *arg, const char **why);
sl_err topics_add_partitions_start(struct topics *t, struct topic *tp, int32_t total, topics_done_fn done,
                                   void *arg, const char **why);
/* True while the name's topic is being created (Metadata answers LEADER_NOT_AVAILABLE then, as
 * Kafka does for a topic not yet ready). */
bool topics_creating(const struct topics *t, const char *name, int32_t name_len);

/* Every partition holds its active segment open, so the open files limit bounds them: the
 * server computes how many partitions its limit allows (RLIMIT_NOFILE less a reserve for
 * connections, cached segments and its own files) and sets it here; a creation or growth past
 * it is refused with SL_POLICY_VIOLATION and a reason naming the numbers. 0: no limit. */
void topics_set_partitions_max(struct topics *t, uint32_t partitions_max);
/* Partitions open now plus those being made (internal logs included). */
uint32_t topics_partitions_used(const struct topics *t);
/* Sets (value non-NULL) or removes (NULL) one override, then persists and applies it. */
/* IncrementalAlterConfigs APPEND (append true) or SUBTRACT on a list config: the new value of
 * key for tp, from its current one (or its default) and value, into out. SL_INVALID_CONFIG for
 * a key that is not a list. */
sl_err topics_config_list_op(const struct topic *tp, const char *key, const char *value, bool append, char *out,
                             size_t cap, const char **why);
sl_err topics_set_config(struct topics *t, struct topic *tp, const char *key, const char *value,
                         const char **why);
/* Replaces every override (AlterConfigs' semantics). */
sl_err topics_replace_configs(struct topics *t, struct topic *tp, const char *const *keys,
                              const char *const *values, uint32_t n, const char **why);

/* The explicit override of key, NULL if the topic has none. */
const char *topic_config_value(const struct topic *tp, const char *key);

/* The partition, or NULL if the topic has no such partition. */
struct partition *topic_partition(const struct topic *tp, int32_t partition);

/* WORKQUEUE and INTEREST only for a topic with a stream record: else SL_INVALID_CONFIG and a why. */
sl_err topics_set_retention(struct topic *tp, enum topic_retention r, const char **why);
/* Binds a NATS subject pattern (tokens separated by '.', '*' a token, '>' the last token).
 * SL_EXISTS if bound already; SL_INVALID_ARG for a malformed pattern or too many bindings. */
sl_err topics_bind_subject(struct topic *tp, const char *pattern, const char **why);
/* SL_NOT_FOUND if the pattern was not bound. */
sl_err topics_unbind_subject(struct topic *tp, const char *pattern);

/* Sets (rec non-NULL) or clears the topic's stream record and persists the topic's record. */
sl_err topics_set_stream_record(struct topics *t, struct topic *tp, const void *rec, uint32_t len);
/* fn hears of every topic deleted (topics_delete, a failed creation undone) before it is freed:
 * the stream registry drops its stream. One hook; fn NULL removes it. */
void topics_set_delete_hook(struct topics *t, void (*fn)(void *arg, struct topic *tp), void *arg);

/* Every supported config key of the topic, for DescribeConfigs. Returns the count. */
uint32_t topics_describe(const struct topics *t, const struct topic *tp,
                         struct topic_config_view *out, uint32_t cap);

#endif
