/* log_internal.h: the struct behind struct log, shared by the storage files (log.c,
 * log_write.c, recovery.c, retention.c, store.c) and nobody else. */
#ifndef SL_STORAGE_LOG_INTERNAL_H
#define SL_STORAGE_LOG_INTERNAL_H

#include "base/base.h"
#include "base/loop.h"
#include "storage/log.h"
#include "storage/segment.h"

/* A run of appended batches for one segment, written by one io_uring write. */
struct wbuf {
    struct io_op op;     /* its write */
    struct log *log;
    struct wbuf *next;
    struct seg *seg;
    bool complete;       /* fully written, waiting for older writes to complete */
    bool failed;         /* the disk was full: it never counts, the log rewinds before it */
    struct log_ref *ref; /* data is the caller's (log_append_ref), released when written */
    uint64_t pos;        /* where data[0] goes in the segment */
    uint32_t len, cap;
    uint32_t done;       /* bytes written so far (short writes resume here) */
    int64_t next_offset; /* one past the last offset in the buffer */
    int64_t ix_max_ts;   /* the segment index's newest timestamp before this buffer's batches */
    uint64_t submit_us;  /* when its write was submitted (latency metrics) */
    uint8_t *data;
};

#define LOG_SYNCS_MAX 4
#define LOG_WBUF_BYTES (1u << 20)
/* Writes in flight per log: several overlap the kernel's page-cache copy with the next
 * appends, but only without fsync: a linked fdatasync must never run ahead of an older write. */
#define LOG_WRITES_MAX 8

struct log_sync {
    struct io_op op;
    struct log *g;
    struct seg *seg;
    int64_t covers;   /* the segment's written offset when the sync was submitted */
    uint64_t submit_us; /* latency metrics */
    bool in_use;
    bool seal;        /* the segment's last sync before it is trimmed and indexed */
};

struct log {
    struct store *store;
    char *dir;
    char *topic;
    int32_t partition;
    struct log *hash_next; /* the store's lookup by topic and partition */
    struct log_config cfg;

    struct seg **segs; /* oldest first; the last is the active segment */
    uint32_t seg_count, seg_cap;

    int64_t start_offset, next_offset, written_offset, synced_offset;
    bool start_unsaved; /* start_offset moved; <dir>/start_offset not rewritten yet */

    struct wbuf *wq_head, *wq_tail; /* appended, not yet submitted; the tail may still fill */
    struct wbuf *inflight_head, *inflight_tail; /* submitted, oldest first */
    uint32_t inflight_count;
    uint32_t writes_pending; /* write SQEs whose CQE has not arrived */
    struct io_op zero_op;
    struct log_sync syncs[LOG_SYNCS_MAX];
    struct io_op timer_op;
    struct __kernel_timespec timer_ts;
    bool timer_armed;
    uint64_t last_sync_ms; /* monotonic: paces group_commit_ms */

    struct log_watch *watches;
    struct log_waiter *written_head, *written_tail;
    struct log_waiter *durable_head, *durable_tail;

    sl_err werr; /* sticky (fail-stop): the first write error that is not ENOSPC, or any sync error */
    /* A write found the disk full: appends are refused until every write in flight has
     * answered, then the log rewinds to its written offset and accepts appends again. */
    bool nospace;
    bool disk_full;             /* the last write attempt found the disk full (for logging) */
    uint32_t rewinds;           /* how many times the log rewound after ENOSPC */
    uint64_t prealloc_retry_ms; /* preallocation found the disk full: none before this (monotonic) time */
    bool dirty;
    struct log *dirty_next;
    /* Every record is gone (start == end) but the active segment still holds bytes: it is
     * replaced by an empty one once no I/O of the log is in flight (retention.c). */
    bool drain_pending;
    /* A segment was created without syncing the directory (fsync none): its name may not
     * survive a power loss. Deleting older segments first syncs it (log_names_sync), or a
     * power loss could leave no segment at all and the log would forget its end offset. */
    bool names_unsynced;
    uint64_t last_append_ms; /* monotonic: a small drained log waits for a quiet moment */
    /* Compaction (compact.c): offsets below clean_upto were mapped by a finished pass (kept
     * in <dir>/cleaner_offset, read on the first look); cleaning while a pass runs. */
    int64_t clean_upto;
    bool clean_loaded;
    bool cleaning;
    log_cleaner_keep_fn cleaner_keep; /* see log_set_cleaner_keep */
    void *cleaner_keep_arg;
    log_cleaner_drop_fn cleaner_drop; /* see log_set_cleaner_drop */
    void *cleaner_drop_arg;
    log_stable_end_fn cleaner_stable_end; /* see log_set_cleaner_txn */
    log_aborted_fn cleaner_aborted;
    void *cleaner_txn_arg;
};

static inline struct seg *log_active(const struct log *g) { return g->segs[g->seg_count - 1]; }

/* The offsets' order, checked wherever one of them moves (on in release builds): synced data is
 * a prefix of written data, written of appended, in the log and in segment s (NULL: the active
 * one). The start is only bounded by the end: DeleteRecords and the offsets log's compaction may
 * drop records that are appended but not yet written or synced, so start <= synced is not an
 * invariant here. */
static inline void log_offsets_check(const struct log *g, const struct seg *s) {
    SL_ASSERT(g->start_offset <= g->next_offset);
    SL_ASSERT(g->synced_offset <= g->written_offset && g->written_offset <= g->next_offset);
    if (!s) s = log_active(g);
    SL_ASSERT(s->synced_next_offset <= s->written_next_offset && s->written_next_offset <= s->next_offset);
}

/* log.c */
struct log *log_new(struct store *st, const char *dir, const char *topic, int32_t partition,
                    const struct log_config *cfg);
void log_free(struct log *g);
void log_segs_push(struct log *g, struct seg *s);
void log_segs_remove_front(struct log *g, uint32_t n);
/* Index of the segment holding offset (the last with base <= offset), or -1. */
int32_t log_seg_find(const struct log *g, int64_t offset);
sl_err log_seg_ensure_index(struct log *g, struct seg *s);
sl_err log_roll(struct log *g, uint64_t now_ms);
struct sio;
void log_sync_dir(struct sio *io, const char *dir);
/* Makes every segment name of the log durable (see names_unsynced); false if the directory
 * fsync failed, and then no segment may be deleted. */
bool log_names_sync(struct log *g);

/* log_write.c */
void log_pump(struct log *g);
void log_wbuf_queue(struct log *g, struct seg *s, const uint8_t *batch, uint32_t len,
                    int64_t next_offset);
void log_wbuf_queue_ref(struct log *g, struct seg *s, uint8_t *batch, uint32_t len, int64_t next_offset,
                        struct log_ref *ref);
void log_wbuf_free(struct wbuf *b);
void log_waiters_run(struct log *g);
void log_fail(struct log *g, sl_err e);
bool log_write_idle(const struct log *g);
void log_update_synced(struct log *g);
void log_watches_fire(struct log *g, bool gone);

/* retention.c */
/* Replaces a drained log's segments by one empty segment at the end offset, if the log asked
 * for it and nothing of it is in flight; else leaves it for a later loop turn. */
void log_drain_maybe(struct log *g);
#define LOG_DRAIN_EAGER_BYTES (4u << 20) /* a drained active segment this big goes at once */
#define LOG_DRAIN_QUIET_MS 1000          /* a smaller one after this long without appends */

/* recovery.c */
struct recovery_report {
    uint64_t scanned_bytes;
    uint64_t dropped_bytes;     /* non-zero bytes past the last valid batch */
    uint64_t zero_tail_bytes;   /* zero fill past it (preallocation, not data loss) */
    bool index_rebuilt;
};
/* Walks the segment's batches from the start, checking every CRC32C, rebuilds its index, and
 * truncates the file after the last valid batch. */
sl_err recovery_scan_segment(struct log *g, struct seg *s, struct recovery_report *rep);
/* Opens a log directory: lists segments, trusts or scans each, truncates after a tear. */
sl_err recovery_open_log(struct log *g, bool clean, struct recovery_report *rep);
/* A log in a directory just made: one empty active segment at offset 0, already created and open
 * read-write on fd (store_prep). What recovery_open_log finds in an empty directory, without its
 * syscalls on the loop. */
void recovery_new_log(struct log *g, int fd);

#endif
