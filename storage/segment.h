/* segment.h: one segment of a partition log: <base offset, 20 digits>.log plus its indexes.
 *
 * The .log holds Kafka RecordBatch v2 bytes, verbatim, back to back, and nothing else, so a
 * Fetch can send file ranges straight to a socket. The file may be longer than its batches
 * (space allocated ahead of the write head, zero-filled): the true end is where the last valid
 * batch ends, kept in memory and, once sealed, in the .index. Never trust the file size.
 *
 * Ownership: the log owns its segments. A span (struct log_span) holds a reference; retention
 * may unlink a referenced segment, but its fd closes and its memory goes only on the last
 * release, so a reader always finishes reading the bytes it was given. */
#ifndef SL_STORAGE_SEGMENT_H
#define SL_STORAGE_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "storage/index.h"

struct store;
struct log;

/* The latest batches of the active segment, so a consumer at the tail finds its batch and the
 * span after it without reading headers from the file (the sparse index would leave a walk of
 * up to index_interval_bytes of small batches). */
#define SEG_RECENT 128
struct seg_recent {
    int64_t base, next;
    uint32_t pos, len;
};

struct seg {
    int64_t base_offset;
    int64_t next_offset;         /* one past the last offset appended (queued or written) */
    int64_t written_next_offset; /* one past the last offset whose bytes reached the file */
    int64_t synced_next_offset;  /* one past the last offset known durable in this segment */
    int64_t sync_requested_next; /* the most a sync submitted so far will cover */
    uint64_t size_bytes;         /* bytes appended: the logical end of the .log */
    uint64_t written_bytes;      /* bytes that reached the file */
    uint64_t alloc_bytes;        /* file space allocated (and possibly zeroed) */
    uint64_t zeroed_bytes;       /* file prefix written with data or zeros */
    uint64_t zero_pending_end;   /* end of zero writes submitted, >= zeroed_bytes */
    int64_t created_ms;          /* time of the first append, for segment_ms; -1 if empty */
    int fd;                      /* -1 while closed (sealed segments open lazily) */
    uint32_t refs;               /* spans holding this segment */
    uint32_t zero_inflight;      /* zero-fill writes in flight */
    uint32_t dropped;            /* the owner's removed offsets here when the cleaner last looked */
    bool sealed;                 /* synced, trimmed and indexed: no more appends */
    bool sealing;                /* seal fsync in flight */
    bool deleted;                /* unlinked; freed on the last release */
    bool index_loaded;           /* ix is valid (sealed segments load it on first use) */
    bool fd_cached;              /* on the store's LRU of idle sealed fds */
    struct seg_index ix;
    struct seg_recent *recent; /* ring of SEG_RECENT, allocated on the first append */
    uint32_t recent_head, recent_count;
    /* The batch the last read found (len 0: none): consumers read on from where they were, so
     * the next seek walks from here, not from the sparse index's entry. Written bytes only. */
    struct seg_recent last_read;
    struct log *log;             /* NULL once deleted */
    struct store *store;
    struct seg *lru_prev, *lru_next;
    char stem[];                 /* "<dir>/<base offset>", the files add .log/.index/.timeindex */
};

/* Allocates the in-memory segment; opens nothing. */
struct seg *seg_new(struct store *st, struct log *g, const char *dir, int64_t base_offset);
/* Creates the .log file (empty) and opens it. SL_NO_SPACE if the disk is full (errno set). */
sl_err seg_create_file(struct seg *s);
/* Opens the .log if closed (through the store's fd budget). */
sl_err seg_open_fd(struct seg *s);
void seg_close_fd(struct seg *s);
void seg_path(const struct seg *s, const char *ext, char *out, size_t cap);

void seg_ref(struct seg *s);
/* Drops a reference; frees a deleted segment on its last one. */
void seg_unref(struct seg *s);
/* Unlinks the files and detaches the segment from its log; frees it now if unreferenced. */
void seg_delete(struct seg *s);
/* Detaches a segment whose file was replaced under its name (log compaction's swap): like
 * seg_delete, but nothing is unlinked; readers keep the old file through its open fd. */
void seg_retire(struct seg *s);
/* Frees a segment that no span references (log close). */
void seg_free(struct seg *s);

/* Reads the first bytes of the batch at pos: base offset, length and last offset.
 * SL_CORRUPT if the header is not a v2 batch header. */
sl_err seg_read_batch_head(struct seg *s, uint64_t pos, int64_t *base_offset, uint32_t *len,
                           int64_t *next_offset);

/* Parses "<20 digits>.log" into a base offset; false for any other name. */
bool seg_parse_name(const char *name, int64_t *base_offset);

#endif
