/* log.h: one partition's commit log, the storage engine's public API.
 *
 * A log is a directory <data_dir>/<topic>-<partition>/ of segments named by their base offset
 * (20 digits). Appends are asynchronous: log_append() checks the batch, gives it its offsets
 * and copies it into the log's write buffer; the store's before-sleep hook writes the buffer
 * through io_uring (one write in flight per log), then fdatasyncs it as the durability policy
 * says. Offsets move in this order, always:
 *
 *     start <= synced <= written <= end
 *
 * end is the next offset to assign, written the end of what reached the file (readable: the
 * high watermark), synced the end of what is known durable. A waiter handed to log_append()
 * fires when its batch is written (acks=1) or durable under the policy (acks=-1). */
#ifndef SL_STORAGE_LOG_H
#define SL_STORAGE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

enum log_durability {
    LOG_DURABILITY_NONE,   /* complete on write completion; the OS flushes (Kafka's default) */
    LOG_DURABILITY_GROUP,  /* one fdatasync per log per loop turn (or per group_commit_ms) */
    LOG_DURABILITY_APPEND, /* one fdatasync per append */
};

struct log_config {
    uint64_t segment_bytes;         /* roll before a segment would grow past this */
    int64_t segment_ms;             /* roll when the active segment's first append is older */
    int64_t retention_ms;           /* delete segments whose newest timestamp is older; -1: never */
    int64_t retention_bytes;        /* delete oldest segments while the log is larger; -1: never */
    uint32_t index_interval_bytes;  /* one sparse index entry per this many .log bytes */
    uint32_t batch_bytes_max;       /* Kafka's max.message.bytes: the largest batch accepted */
    enum log_durability durability;
    uint32_t group_commit_ms;       /* GROUP: 0 = every loop turn, else at most one sync per N ms */
    uint64_t preallocate_bytes;     /* file space allocated ahead of the write head (zeroed for
                                       GROUP and APPEND, where fdatasync on zeroed blocks is cheaper) */
    /* Compaction (storage/compact.h): cleanup.policy has compact. Time and size retention are
     * retention_ms and retention_bytes (-1 for a policy without delete). */
    bool compact;
    double min_cleanable_ratio;     /* min.cleanable.dirty.ratio, 0.5 */
    int64_t min_compaction_lag_ms;  /* 0 */
    int64_t max_compaction_lag_ms;  /* INT64_MAX */
    int64_t delete_retention_ms;    /* how long a tombstone outlives its key's older values: 1 day */
};

void log_config_defaults(struct log_config *c);
/* NULL if valid, else the name of the first field out of range. */
const char *log_config_invalid(const struct log_config *c);
const char *log_durability_name(enum log_durability d);
/* Parses "none", "group", "append"; -1 otherwise. */
int log_durability_parse(const char *s);

struct log;
struct seg;
struct store;

/* A file range of whole batches. It holds a reference on its segment, so the fd stays open and
 * the bytes readable even if retention unlinks the file; release it exactly once. */
struct log_span {
    struct seg *seg;
    int fd;
    uint64_t pos;
    uint32_t len;
    int64_t base_offset; /* of the first batch in the span */
    int64_t next_offset; /* one past the last offset of the last batch in the span */
};

struct log_waiter {
    void (*done)(struct log_waiter *w, sl_err err);
    int64_t offset;   /* fires once every offset <= this one is written or durable */
    bool durable;     /* false: written; true: durable under the log's policy */
    struct log_waiter *next;
};

/* A watch fires whenever the log's written offset advances (new data to read), and once with
 * gone = true when the log is deleted or closed (the watch is then detached). Fetch long-polls
 * are watches. A watch may delete itself from its callback. */
struct log_watch {
    void (*fire)(struct log_watch *w, bool gone);
    struct log *log;
    struct log_watch *prev, *next;
};
void log_watch_add(struct log *g, struct log_watch *w);
void log_watch_del(struct log_watch *w);
/* Fires the watches as new data would: what readers may read grew without a write (a
 * replicated partition's high watermark moved). */
void log_watch_notify(struct log *g);

/* Checks the batch (length, magic 2, CRC32C, counts, size), rewrites its base offset in place
 * and queues it. *base_offset gets the batch's first offset. w may be NULL; if given it is
 * filled in (offset, durable as passed) and fires exactly once, possibly with an error.
 *
 * A full disk is not permanent: the append itself (a segment roll) or its waiter fails with
 * SL_NO_SPACE, which is retriable, the log's end goes back to its written offset, and later
 * appends try the disk again. A waiter fired with any error means its batch is not in the
 * log, nor any batch appended after it that was not written; batches before it are. Other
 * write errors and every fdatasync error are fail-stop (log_error()). */
sl_err log_append(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                  struct log_waiter *w, bool durable);
/* log_append for a batch whose caller has just run kafka_batch_check (or a stricter check) on
 * these exact bytes (the partition's write path): only the header is read again. */
sl_err log_append_verified(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                           struct log_waiter *w, bool durable);

/* Queues w to fire once every offset <= offset is written (durable: durable under the
 * policy), exactly as an append's waiter would, including the error if the log fails or
 * rewinds first. For waiting on batches appended earlier: a producer's retry of a batch still
 * in flight, a metadata write that must be durable. Fires at once, inside the call, when the
 * offset is already covered (SL_OK) or the log has failed (its error). offset < end. */
void log_wait(struct log *g, struct log_waiter *w, int64_t offset, bool durable);

/* Zero-copy appends: the log writes straight from the caller's memory, which must stay
 * unchanged until release() is called (once the write completed, or the log failed). Worth it
 * for large batches, where the staging copy would cost as much as the write itself. */
struct log_ref {
    void (*release)(struct log_ref *ref);
};

sl_err log_append_ref(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                      struct log_waiter *w, bool durable, struct log_ref *ref);
/* Both: checked by the caller, written from the caller's memory. */
sl_err log_append_verified_ref(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                               struct log_waiter *w, bool durable, struct log_ref *ref);

/* Whole batches from the one holding offset, up to bytes_max (but at least one batch), within
 * one segment and only what is written. offset == written end: SL_OK with len 0. Outside
 * [start, written]: SL_OFFSET_OUT_OF_RANGE. */
sl_err log_read(struct log *g, int64_t offset, uint32_t bytes_max, struct log_span *out);
void log_span_release(struct log_span *s);

int64_t log_start_offset(const struct log *g);
int64_t log_end_offset(const struct log *g);
int64_t log_written_offset(const struct log *g);
int64_t log_synced_offset(const struct log *g);
uint64_t log_size_bytes(const struct log *g);
uint32_t log_segment_count(const struct log *g);
const char *log_dir(const struct log *g);
const struct log_config *log_get_config(const struct log *g);
void log_set_config(struct log *g, const struct log_config *c);

/* The first offset whose record timestamp is >= ts_ms, and that record's timestamp (for
 * compressed batches: the batch's first offset and newest timestamp); SL_NOT_FOUND if every
 * record is older. */
sl_err log_offset_for_time(struct log *g, int64_t ts_ms, int64_t *offset, int64_t *found_ts);

/* The newest record timestamp in the log and the first record that has it (ListOffsets
 * MAX_TIMESTAMP; for a compressed batch, its first offset); SL_NOT_FOUND if no record has a
 * timestamp (an empty log). */
sl_err log_max_timestamp(struct log *g, int64_t *offset, int64_t *found_ts);

/* Batches the cleaner must keep even when every record in them goes: the base offsets of each
 * producer's last batch (Kafka keeps them, so a producer's sequence state survives cleaning and
 * a retry of that batch after a restart is still known as a duplicate). The owner of the
 * producer state (the partition) answers, on the loop, when a pass is planned: up to max
 * offsets into out, returning how many there are. fn NULL: none. */
typedef uint32_t (*log_cleaner_keep_fn)(void *arg, int64_t *out, uint32_t max);
void log_set_cleaner_keep(struct log *g, log_cleaner_keep_fn fn, void *arg);

/* Records the log's owner removed without moving the log start (a stream's messages deleted
 * by a per-subject limit, MSG.DELETE or an out-of-order work-queue ack): the cleaner drops them
 * from sealed segments, so such removals free disk the way compaction does, whatever the
 * cleanup policy. The owner answers on the loop, when a pass is planned: the removed offsets in
 * [from, to), ascending, up to max into out (out may be NULL with max 0); returns how many
 * there are. fn NULL: none. */
typedef uint32_t (*log_cleaner_drop_fn)(void *arg, int64_t from, int64_t to, int64_t *out, uint32_t max);
void log_set_cleaner_drop(struct log *g, log_cleaner_drop_fn fn, void *arg);

/* Kafka transactions, for the cleaner of a compacted log: stable_end gives the last stable
 * offset (the cleaner maps and rewrites nothing at or above it: an open transaction may still
 * abort), aborted the aborted transactions whose range [first_offset, last_offset] overlaps
 * [from, to), oldest first, up to max into out, returning how many there are. An aborted
 * transaction's records are no key's newest value and go in the rewrite, as Kafka's cleaner
 * discards them. Both answer on the loop when a pass is planned. */
struct log_aborted_txn {
    int64_t producer_id, first_offset, last_offset;
};
typedef int64_t (*log_stable_end_fn)(void *arg);
typedef uint32_t (*log_aborted_fn)(void *arg, int64_t from, int64_t to, struct log_aborted_txn *out, uint32_t max);
void log_set_cleaner_txn(struct log *g, log_stable_end_fn stable_end, log_aborted_fn aborted, void *arg);

/* Removes the batch holding offset and everything after it. Waits for writes in flight. */
sl_err log_truncate(struct log *g, int64_t offset);

/* Empties the log and starts it again at offset, beyond its end (Kafka's truncateFullyAndStartAt:
 * a follower whose leader no longer holds what comes after the follower's end). Waits for
 * writes in flight. SL_INVALID_ARG for an offset at or below the end. */
sl_err log_reset(struct log *g, int64_t offset);

/* Advances the start offset to offset (never backwards, never past end) and deletes every
 * segment wholly below it. Retention now, work-queue acks later. */
sl_err log_delete_before(struct log *g, int64_t offset);
/* Writes <dir>/start_offset if log_delete_before moved the start since the last save (the
 * store does this about once a second and at close). */
void log_save_start(struct log *g);

/* Time and size retention, whole segments only, never the active one. Returns how many
 * segments were deleted. */
uint32_t log_retention_run(struct log *g, uint64_t now_ms);

/* Runs the loop until every queued append is written and, if sync, fdatasynced. SL_NO_SPACE:
 * the disk was full meanwhile, some of what was queued failed and the log rewound. */
sl_err log_flush(struct log *g, bool sync, int32_t timeout_ms);

/* The sticky (fail-stop) I/O error of the log, SL_OK if none: once a write fails with anything
 * but a full disk, or an fdatasync fails, appends fail too until the log is reopened. A full
 * disk never shows here. */
sl_err log_error(const struct log *g);

/* Recovery's segment scan (recovery.c) on a segment's bytes in memory, as it walks a file after
 * a crash: whole valid batches from base_offset on, tracked in ix (index_init'ed by the caller).
 * Returns where the valid prefix ends (the file would be truncated there), *next the offset
 * after it, *data_end the end of the non-zero bytes past it (the rest is zero fill). The broker
 * scans files; this entry lets a fuzzer reach the same walk without one. */
struct seg_index;
uint64_t recovery_scan_mem(const uint8_t *p, size_t len, int64_t base_offset, struct seg_index *ix,
                           uint32_t interval, int64_t *next, uint64_t *data_end);

#endif
