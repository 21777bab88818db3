/* kvlog.h: a compacted key/value log on an internal partition of the store.
 *
 * The log is <topic>-0 in the data directory, Kafka RecordBatch v2 batches as any partition.
 * Every record is one change: key bytes -> value bytes, or a null value (a tombstone) that
 * deletes the key. A kvlog_write() of n changes is one batch, so it is atomic across a crash.
 *
 * Memory: the live set (every key whose last record is not a tombstone) is kept in a hash map
 * in first-put order (an overwrite keeps the key's place; a delete and a new put moves it to
 * the end). Opening replays every record in log order into that map; the owner then reads the
 * live entries with kvlog_foreach() or kvlog_get(). Values are stored with a NUL after their
 * last byte, so string values can be used in place; they may contain NUL bytes themselves.
 *
 * Durability: the internal log uses group commit (LOG_DURABILITY_GROUP, a sync every loop
 * turn). A waiter passed to kvlog_write() fires once the batch is durable; kvlog_wait()
 * fires once every write made so far is. The map changes at once, before durability, so a
 * read after a write always sees it.
 *
 * Failures: a write whose batch fails (a full disk, SL_NO_SPACE, or a fail-stop I/O error)
 * leaves no trace in the map. Until its batch is durable, a write keeps how to undo each of
 * its changes (the key's previous value, or its absence, and its place in first-put order).
 * When a batch fails, so does every batch appended after it (log.h): that write and every
 * later one still in flight are undone, newest change first, so the map is again exactly
 * what the log holds; then the owner's undo hook hears of each key that changed back, then
 * the writes' waiters fire with the error, oldest first. A durable write drops its undo
 * record. Memory: one record per write in flight (a few are kept for reuse), and what its
 * changes replaced, freed once the write is durable.
 *
 * Compaction: when the log holds more than compact_min_records records and more than
 * compact_ratio times the live entries, the live set is appended again and, once that is
 * durable, everything before it is deleted (log_delete_before, whole segments). It runs after
 * a write and at open, without blocking: the loop carries it. A compaction whose copy fails
 * deletes nothing; the next write that finds the log too large starts it again. */
#ifndef SL_STORAGE_KVLOG_H
#define SL_STORAGE_KVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "storage/log.h"

struct store;
struct kvlog;

struct kvlog_options {
    uint64_t segment_bytes;
    uint64_t compact_min_records; /* never compact a log of this many records or fewer */
    uint32_t compact_ratio;       /* compact when records > ratio x live entries */
};

/* One change: value_len -1 (value ignored) is a tombstone. */
struct kvlog_op {
    const void *key;
    uint32_t key_len;
    const void *value;
    int32_t value_len;
};

/* Where a kvlog_open_log writes: append puts the batch (len bytes, the callee may change them
 * but not keep them) into the log, as log_append would, and w fires once it is committed by the
 * sink's rule, with w->offset set to the batch's last offset, or with an error. As with the log
 * (Failures above), a failed batch must fail every batch the sink took after it, and batches
 * must complete in the order they were taken. An error returned: nothing was appended. */
struct kvlog_sink {
    sl_err (*append)(void *arg, uint8_t *batch, uint32_t len, struct log_waiter *w);
    void *arg;
};

/* Opens (or creates) the internal log <topic>-0 and replays it. opts NULL: defaults (16 MiB
 * segments, compaction at 4x live past 10,000 records). now_ms stamps a compaction's records. */
sl_err kvlog_open(struct kvlog **out, struct store *st, const char *topic, const struct kvlog_options *opts,
                  uint64_t now_ms);
/* A kvlog over a log it does not own (a replicated partition's: broker/kafka/group_offsets.c):
 * replays g, then writes through sink. It never compacts g itself (the log's cleaner does, for
 * a compacted topic) and kvlog_close does not wait for the sink's writes: the owner settles them
 * first (a write still in flight at close is leaked, not freed under the sink). */
sl_err kvlog_open_log(struct kvlog **out, struct log *g, const struct kvlog_sink *sink);
/* A read-only kvlog of one segment's bytes in memory, without a log or a store: the bytes go
 * through recovery's segment scan (recovery_scan_mem, what a store keeps of a crashed segment)
 * and then the same replay as kvlog_open. Only kvlog_get, kvlog_foreach, kvlog_count and
 * kvlog_close may be used on it. For the fuzz target, which reaches the replay without a file. */
sl_err kvlog_open_mem(struct kvlog **out, const uint8_t *seg, size_t len);
/* Waits for every write to be durable (waiters fire), then frees the map; the log stays in
 * the store. False: a write was never answered, and the kvlog is left allocated (its waiter
 * still points into it), as must be whatever its undo hook writes to; once it is answered,
 * kvlog_close may be called again. */
bool kvlog_close(struct kvlog *kv);

/* For owners that keep a view derived from the map (decoded values): called once a failed
 * write's changes are undone, for every key they changed (a key may come more than once),
 * with the key's value now (NULL: absent), before any failed write's waiter fires. It runs
 * inside the log's completion: it must not write to this kvlog nor run the loop. */
typedef void (*kvlog_undo_fn)(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                              uint32_t value_len);
void kvlog_set_undo_hook(struct kvlog *kv, kvlog_undo_fn fn, void *arg);

/* Appends the changes as one batch and applies them to the map. w (may be NULL) fires once the
 * batch is durable, or with the log's error, the map already without the changes (see
 * Failures above). An error returned here: nothing was appended or applied, w never fires.
 * Keys up to 64 KiB; n >= 1. */
sl_err kvlog_write(struct kvlog *kv, const struct kvlog_op *ops, uint32_t n, uint64_t now_ms, struct log_waiter *w);
sl_err kvlog_put(struct kvlog *kv, const void *key, uint32_t key_len, const void *value, uint32_t value_len,
                 uint64_t now_ms, struct log_waiter *w);
sl_err kvlog_del(struct kvlog *kv, const void *key, uint32_t key_len, uint64_t now_ms, struct log_waiter *w);

/* w fires once every write made so far is durable: at once (inside this call) if it is. */
void kvlog_wait(struct kvlog *kv, struct log_waiter *w);
/* Runs the loop until every write is durable (open, close, migrations, and the rare caller
 * that may block). */
sl_err kvlog_flush(struct kvlog *kv);

/* The live value of key (NUL-terminated after value_len bytes), NULL if none. */
const uint8_t *kvlog_get(const struct kvlog *kv, const void *key, uint32_t key_len, uint32_t *value_len);
/* Calls fn for every live entry in first-put order. fn must not write to this kvlog. */
void kvlog_foreach(const struct kvlog *kv,
                   void (*fn)(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                              uint32_t value_len),
                   void *arg);
uint32_t kvlog_count(const struct kvlog *kv);
/* Records in the log: live, superseded and tombstones. */
uint64_t kvlog_records(const struct kvlog *kv);
struct log *kvlog_log(const struct kvlog *kv);
/* Writes whose waiters have not fired yet. */
bool kvlog_writes_pending(const struct kvlog *kv);

/* ---- values that grow ---------------------------------------------------------------------
 * A small versioned, length-prefixed encoding for values that gain fields over time:
 *     u16 version, then fields: u16 tag, u32 length, length bytes (big endian)
 * Readers skip tags they do not know, so a new field needs a new tag, not a new version. */
struct kvlog_tlv_writer {
    uint8_t *p;
    size_t len, cap;
};
void kvlog_tlv_begin(struct kvlog_tlv_writer *w, uint16_t version);
void kvlog_tlv_put(struct kvlog_tlv_writer *w, uint16_t tag, const void *p, uint32_t len);
void kvlog_tlv_put_i64(struct kvlog_tlv_writer *w, uint16_t tag, int64_t v);
void kvlog_tlv_free(struct kvlog_tlv_writer *w);

struct kvlog_tlv_reader {
    const uint8_t *p, *end;
    uint16_t version;
};
/* false if shorter than the version. */
bool kvlog_tlv_open(struct kvlog_tlv_reader *r, const uint8_t *p, uint32_t len);
/* The next field; false at the end or on a truncated field. */
bool kvlog_tlv_next(struct kvlog_tlv_reader *r, uint16_t *tag, const uint8_t **p, uint32_t *len);
/* A field's value as i64 (false unless exactly 8 bytes). */
bool kvlog_tlv_i64(const uint8_t *p, uint32_t len, int64_t *out);

#endif
