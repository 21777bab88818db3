/* compact.h: log compaction (Kafka's cleanup.policy=compact): the store's cleaner.
 *
 * A compacted log keeps, for every key, at least its newest record. One cleaner thread per store
 * does the file work, so the loop never waits on it; the loop only picks the log, hands the
 * thread a job (the sealed segments to rewrite and the part of them to map) and, once the
 * thread is done, swaps the rewritten segments in. The active segment is never touched.
 *
 * A pass, as Kafka's LogCleaner does it:
 *   1. Map: walk the dirty section (sealed segments from the log's clean point on, stopping
 *      before any segment newer than min_compaction_lag_ms) and note, per key, the offset of its
 *      newest record. The map has a fixed size (cleaner_buffer_bytes): if it fills, the pass
 *      stops at the last segment it mapped whole, says so in the log, and the next pass goes on.
 *   2. Rewrite every sealed segment up to the mapped end, oldest first, into <stem>.log.cleaned.tmp:
 *      a record goes if a newer record of its key is in the map; a tombstone (null value) also
 *      goes once it is older than delete_retention_ms and nothing older of its key can remain.
 *      Records without a key and control batches stay. Survivors keep their offsets (gaps
 *      appear, as in Kafka), timestamps and their batch's producer id, epoch and sequence; a
 *      batch with survivors is rewritten under its own codec, one with all its records kept is
 *      copied verbatim, one with none is dropped, except the segment's last batch and each
 *      producer's last batch (log_set_cleaner_keep), kept empty: the segment still ends where
 *      it ended, and the producer's sequence state survives. The file is fdatasynced before the
 *      thread answers.
 *   3. Swap, on the loop, oldest segment first: the old index files go, the cleaned file is
 *      renamed over the .log (atomic), the new index is written, the directory synced at the
 *      end. A kill -9 at any point leaves each segment either old or cleaned, and since older
 *      segments are swapped first, a cleaned segment never drops a tombstone whose older values
 *      survive in an uncleaned one. Leftover .tmp files are removed by recovery. Readers holding
 *      the old segment keep reading its (unlinked) file until they let go.
 *
 * Drops: a log that is not compacted but whose owner removes records in its middle (a stream:
 * a per-subject limit such as a KV bucket's history, MSG.DELETE, out-of-order work-queue acks;
 * log_set_cleaner_drop) gets passes of step 2 alone: a sealed segment is rewritten without the
 * removed records once those still in it reach min_cleanable_ratio of the offsets still in it
 * (and at least CLEANER_DROP_MIN). So a KV bucket's history limit and a compacted topic free
 * their disk through the same rewrite and swap.
 *
 * Scheduling: at most one pass at a time per store; a log is cleaned when its dirty bytes
 * reach min_cleanable_ratio of its sealed bytes, or when a dirty segment is older than
 * max_compaction_lag_ms. The clean point is kept in <dir>/cleaner_offset (not synced: a lost
 * update only makes the next pass map more). */
#ifndef SL_STORAGE_COMPACT_H
#define SL_STORAGE_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"

struct store;
struct log;

struct cleaner_stats {
    uint64_t passes;          /* passes that swapped segments in */
    uint64_t segments;        /* segments rewritten */
    uint64_t bytes_read;      /* bytes of the sealed segments rewritten */
    uint64_t bytes_reclaimed; /* their size before minus after */
    uint64_t records_removed;
    uint64_t partial_passes;  /* passes the key map could not cover to the end of the dirty section */
    uint64_t pass_us;         /* wall time of the passes, handed out to swapped in (monotonic) */
};

struct cleaner;

/* map_bytes: the key map's size (24 bytes a key). */
struct cleaner *cleaner_new(struct store *st, uint64_t map_bytes);
/* Waits for a pass in progress (its result is dropped: the segments stay as they were). */
void cleaner_free(struct cleaner *c);
/* The loop side: finishes a pass the thread completed, or starts the next one if a log needs
 * it. now_ms is the wall clock (record times, lags), mono_ms the monotonic clock (pacing). */
void cleaner_tick(struct cleaner *c, uint64_t now_ms, uint64_t mono_ms);
/* The log goes away (closed or deleted): a pass on it is waited for and dropped. */
void cleaner_forget_log(struct cleaner *c, struct log *g);
/* Runs passes now, on the calling thread's loop, until no log needs one or timeout_ms passes
 * (tests and tools). Returns the passes made. */
uint32_t cleaner_run_now(struct cleaner *c, int32_t timeout_ms);
const struct cleaner_stats *cleaner_get_stats(const struct cleaner *c);
/* One past the last offset a finished pass mapped: below it, each key keeps only its newest
 * record (0 before the first pass; read from disk on the cleaner's first look at the log). */
int64_t cleaner_clean_point(const struct log *g);
/* A log's dirty ratio (dirty sealed bytes over sealed bytes, 0 when it has no sealed bytes). */
double cleaner_dirty_ratio(const struct log *g);

#endif
