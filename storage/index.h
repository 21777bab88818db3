/* index.h: the sparse indexes of one segment, in memory while the segment is in use and in two
 * files beside its .log:
 *
 *   .index      offset -> file position: one entry per index_interval_bytes of .log, at the start
 *               of the batch that crossed the interval (entries are batch starts, never mid-batch)
 *   .timeindex  newest-timestamp-so-far -> the batch where it was reached, added at the same
 *               cadence whenever the newest timestamp grew
 *
 * File formats (all integers big-endian):
 *   .index      "SLIX" u32 version=1 | i64 base_offset | u64 log_bytes | i64 next_offset |
 *               i64 max_timestamp | u32 count | count x (u32 offset_delta, u32 position) | u64 xxh64
 *   .timeindex  "SLTI" u32 version=1 | i64 base_offset | u32 count |
 *               count x (i64 timestamp, u32 offset_delta) | u64 xxh64
 * The trailing xxhash64 covers every byte before it. A sealed segment's .index also records how
 * long its .log is and its next offset, so a restart trusts it without scanning the log. */
#ifndef SL_STORAGE_INDEX_H
#define SL_STORAGE_INDEX_H

#include <stdint.h>

#include "protocol/errors.h"

struct index_entry {
    uint32_t offset_delta; /* batch base offset - segment base offset */
    uint32_t pos;          /* batch start in the .log */
};

struct time_entry {
    int64_t timestamp;     /* newest timestamp up to and including this batch */
    uint32_t offset_delta; /* the batch where that timestamp was reached */
};

struct seg_index {
    struct index_entry *off;
    uint32_t off_count, off_cap;
    struct time_entry *time;
    uint32_t time_count, time_cap;
    uint64_t bytes_since_entry;
    int64_t max_timestamp; /* newest record timestamp in the segment, -1 if none */
    int64_t time_indexed;  /* max_timestamp at the last time entry */
};

void index_init(struct seg_index *ix);
void index_free(struct seg_index *ix);

/* Records a batch of len bytes at pos whose offsets start at base_offset. */
void index_track(struct seg_index *ix, int64_t seg_base, uint64_t pos, uint32_t len,
                 int64_t base_offset, int64_t max_timestamp, uint32_t interval_bytes);

/* The last entry at or before offset: its batch position (0 if none) and base offset. */
uint64_t index_lookup(const struct seg_index *ix, int64_t seg_base, int64_t offset,
                      int64_t *entry_offset);

/* The last entry whose position is in (after_pos, pos_max]; 0 if none. */
uint64_t index_last_pos_within(const struct seg_index *ix, uint64_t after_pos, uint64_t pos_max);

/* Where a scan for the first record with timestamp >= ts may start: the batch base offset of the
 * last time entry older than ts, or seg_base. */
int64_t index_time_lookup(const struct seg_index *ix, int64_t seg_base, int64_t ts);

/* Drops entries at or past pos (truncation). */
void index_truncate(struct seg_index *ix, uint64_t pos);

struct sio;
sl_err index_save(struct sio *io, const struct seg_index *ix, const char *log_path_stem, int64_t base_offset,
                  uint64_t log_bytes, int64_t next_offset);
/* SL_NOT_FOUND: no file; SL_CORRUPT: bad magic, size, base or checksum. On error ix is empty. */
sl_err index_load(struct seg_index *ix, const char *log_path_stem, int64_t base_offset,
                  uint64_t *log_bytes, int64_t *next_offset);
void index_remove_files(struct sio *io, const char *log_path_stem);

#endif
