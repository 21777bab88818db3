/* offsets.h: committed consumer-group offsets, durable before OffsetCommit is answered.
 *
 * Every commit is one RecordBatch appended to the internal log __consumer_offsets-0 (hidden
 * from clients) with one record per partition, under group commit; the commit
 * completes when that batch is durable. Key: u16 version=1, u16+group, u16+topic, i32
 * partition. Value: u16 version=1, i64 offset, i32 leader epoch, u16+metadata, i64 commit
 * time, or null: a tombstone (OffsetDelete, DeleteGroups, expiry). The log is a kvlog
 * (storage/kvlog.h): it is replayed at open into a hash map of decoded values, and compacted
 * when it holds far more records than live entries. The decoded map follows the kvlog's: a
 * commit whose batch fails is undone there (kvlog.h, Failures) and here, before its waiter
 * fires, so OffsetFetch never shows an offset whose commit was answered with an error. */
#ifndef SL_STORAGE_OFFSETS_H
#define SL_STORAGE_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "storage/log.h"

struct store;
struct offsets;

#define OFFSETS_TOPIC "__consumer_offsets"

struct offset_commit {
    const char *topic;
    int32_t topic_len;
    int32_t partition;
    int64_t offset;        /* -1 with tombstone */
    int32_t leader_epoch;
    const char *metadata;  /* NULL: null metadata */
    int32_t metadata_len;
    bool tombstone;        /* delete this partition's offset */
};

struct offset_value {
    int64_t offset;
    int32_t leader_epoch;
    /* Bytes, which may hold NULs (clients store binary state there): always use metadata_len.
     * A NUL follows them for readers that print it. NULL (and metadata_len -1) if null. */
    const char *metadata;
    int32_t metadata_len;
    int64_t commit_ms;
};

sl_err offsets_open(struct offsets **out, struct store *st, uint64_t now_ms);
/* The same over a log the caller keeps, written through sink: a replicated partition of a
 * cluster's offsets topic, whose writes commit once its in-sync replicas have them
 * (kvlog_open_log). */
struct kvlog_sink;
sl_err offsets_open_log(struct offsets **out, struct log *g, const struct kvlog_sink *sink);
/* The same over a kvlog already open (its replayed map decoded as offsets); owns kv from here,
 * offsets_close closes it. offsets_open's second half; the fuzz target gives it kvlog_open_mem's. */
struct kvlog;
struct offsets *offsets_open_kvlog(struct kvlog *kv);
void offsets_close(struct offsets *o);
/* Commits whose waiters have not fired yet. */
bool offsets_writes_pending(const struct offsets *o);
/* Its kvlog (tests flush it). */
struct kvlog *offsets_kvlog(const struct offsets *o);

/* Writes the commits as one batch; w fires once it is durable (or failed). The in-memory view
 * changes at once, so an OffsetFetch after an acknowledged commit always sees it; if the batch
 * fails, the view is back to the previous commits when w fires. */
sl_err offsets_commit(struct offsets *o, const char *group, const struct offset_commit *c, uint32_t n,
                      uint64_t now_ms, struct log_waiter *w);

/* NULL if nothing is committed. */
const struct offset_value *offsets_get(const struct offsets *o, const char *group, const char *topic,
                                       int32_t topic_len, int32_t partition);

/* The lowest offset any group has committed for the partition (work-queue retention: what
 * every group is done with), -1 if no group has; *groups (may be NULL) gets how many groups
 * have. Costs the partition's groups, not the whole map. */
int64_t offsets_min_for_partition(const struct offsets *o, const char *topic, int32_t topic_len, int32_t partition,
                                  uint32_t *groups);

/* Calls fn for every committed partition of the group; returns how many. */
uint32_t offsets_for_group(const struct offsets *o, const char *group,
                           void (*fn)(void *arg, const char *topic, int32_t partition,
                                      const struct offset_value *v),
                           void *arg);
bool offsets_group_known(const struct offsets *o, const char *group);
/* Every group with committed offsets (for ListGroups): fn per distinct group. */
void offsets_groups(const struct offsets *o, void (*fn)(void *arg, const char *group), void *arg);

/* Tombstones every offset of the group (DeleteGroups). */
sl_err offsets_delete_group(struct offsets *o, const char *group, uint64_t now_ms, struct log_waiter *w);
/* Tombstones offsets older than retention_ms of groups that may_expire() says have no live
 * members (Kafka's offsets.retention.minutes). Returns how many went. */
uint32_t offsets_expire(struct offsets *o, uint64_t now_ms, uint64_t retention_ms,
                        bool (*may_expire)(void *arg, const char *group), void *arg);

/* A consumer group's state, as the coordinator encodes it (opaque here), kept in the same log as
 * its offsets (Kafka keeps GroupMetadata records in __consumer_offsets), so a restarted broker
 * still knows the group's generation and members. state NULL: forget it. w may be NULL. */
sl_err offsets_store_group(struct offsets *o, const char *group, const uint8_t *state, uint32_t len, uint64_t now_ms,
                           struct log_waiter *w);
/* Every stored group state, for the coordinator at start. */
void offsets_group_states(const struct offsets *o,
                          void (*fn)(void *arg, const char *group, const uint8_t *state, uint32_t len), void *arg);

/* ---- offsets staged by a transaction (Kafka's TxnOffsetCommit to a group coordinator that is
 * not the transaction's coordinator) ----
 * Staged offsets are records of their own beside the offsets (key version 3: the producer id,
 * then the offset's key), durable like a commit but not committed: OffsetFetch does not show
 * them. The transaction's marker decides: offsets_txn_end commits them as the groups' offsets
 * (commit) or drops them (abort), then deletes the staged records. */
/* The producer's epoch is kept beside them (key version 4, one small record per producer
 * id, never removed: a transactional id keeps its producer id): a stage under an older epoch
 * than the last one seen here is SL_PRODUCER_FENCED, an end under one SL_INVALID_PRODUCER_EPOCH,
 * as Kafka's offsets partition fences them through its producer state. */
sl_err offsets_txn_stage(struct offsets *o, int64_t producer_id, int16_t epoch, const char *group,
                         const struct offset_commit *c, uint32_t n, uint64_t now_ms, struct log_waiter *w);
/* w fires once the staged records are gone (at once if the producer staged nothing here).
 * epoch -1: not checked. coordinator_epoch: the marker's (its transaction coordinator's leader
 * epoch; -1: not checked); one older than an earlier marker's here is
 * SL_TRANSACTION_COORDINATOR_FENCED. */
sl_err offsets_txn_end(struct offsets *o, int64_t producer_id, int16_t epoch, int32_t coordinator_epoch, bool commit,
                       uint64_t now_ms, struct log_waiter *w);
/* Whether some transaction staged an offset for the partition (UNSTABLE_OFFSET_COMMIT). */
bool offsets_txn_pending(const struct offsets *o, const char *group, const char *topic, int32_t topic_len,
                         int32_t partition);

/* Consumer lag: the log's high watermark minus the committed offset (never negative); -1 when
 * nothing is committed. The one function the CLI and /metrics use. */
int64_t offsets_lag(const struct offsets *o, const char *group, const char *topic, int32_t partition,
                    struct log *partition_log);

#endif
