/* store.h: the data directory: every partition log, the clean-shutdown marker, the budget of
 * open files, and the loop hook that writes dirty logs once per loop turn.
 *
 * store_open() recovers every <topic>-<partition>/ directory under data_dir. If the marker
 * file .clean_shutdown is present the indexes are trusted and no segment is scanned; the
 * marker is removed at once, so a crash after open is never mistaken for a clean stop.
 * store_close() writes everything, syncs, writes indexes and then the marker. */
#ifndef SL_STORAGE_STORE_H
#define SL_STORAGE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "base/prom.h"
#include "storage/log.h"

#define STORE_CLEAN_MARKER ".clean_shutdown"
#define STORE_TOPIC_NAME_MAX 249

struct store_stats {
    uint64_t recovered_logs;
    uint64_t scanned_bytes;      /* bytes walked by recovery scans at open */
    uint64_t truncated_bytes;    /* bytes dropped by recovery */
    uint64_t rebuilt_indexes;
    bool clean;                  /* the marker was found at open */
    bool fresh;                  /* neither marker nor partitions: a new data directory */
    /* I/O, for /metrics: submit-to-completion times of segment writes and fdatasyncs. */
    struct sl_hist write_latency, sync_latency;
    uint64_t bytes_written, writes, syncs, io_errors;
};

struct sio;
struct store_options {
    uint32_t open_files_max;      /* sealed segments' fds kept open (LRU); active ones are extra */
    uint32_t retention_check_ms;  /* how often the hook runs retention */
    uint64_t cleaner_buffer_bytes; /* the log cleaner's key map (storage/compact.h) */
    struct sio *io;               /* NULL: plain system calls; a test's fault plan (storage/sio.h) */
};

void store_options_defaults(struct store_options *o);

sl_err store_open(struct store **out, struct loop *l, const char *data_dir,
                  const struct log_config *defaults, const struct store_options *opts);
/* Flushes, syncs and closes every log, writes the marker and frees the store. */
sl_err store_close(struct store *st);

/* NULL if the partition does not exist. */
struct log *store_log_get(struct store *st, const char *topic, int32_t partition);
/* Creates the partition (cfg NULL: the store's defaults); SL_EXISTS if it exists. Durable on
 * return, except between store_create_begin and store_create_end, which syncs the data
 * directory once for every partition created since begin (call it before telling anyone). */
sl_err store_log_create(struct store *st, const char *topic, int32_t partition,
                        const struct log_config *cfg, struct log **out);
void store_create_begin(struct store *st);
void store_create_end(struct store *st);
/* store_log_create without any directory sync: the caller runs store_sync_dirs before it
 * relies on the partition. */
sl_err store_log_create_unsynced(struct store *st, const char *topic, int32_t partition,
                                 const struct log_config *cfg, struct log **out);

/* Makes partitions [from, to) of topic durable in the directory tree without blocking the loop:
 * an fsync of each partition's directory (its first segment's name), then of the data
 * directory (the partitions' names), submitted through the loop, at most
 * STORE_DIR_SYNCS_INFLIGHT at once (one journal commit covers most of them on ext4; more in
 * flight only adds io-wq threads competing with the loop for the cores). The caller
 * owns the struct until done runs, from a completion, with SL_OK or SL_IO (a directory that
 * could not be opened or synced; logged). */
#define STORE_DIR_SYNCS_INFLIGHT 8
struct store_dir_sync;
struct store_dir_sync_slot {
    struct io_op op;
    int fd;
    struct store_dir_sync *ds;
};
struct store_dir_sync {
    struct store *st;
    char topic[STORE_TOPIC_NAME_MAX + 1];
    int32_t next, to;
    uint32_t inflight;
    bool data_dir_submitted;
    sl_err err;
    void (*done)(struct store_dir_sync *ds, sl_err err);
    struct store_dir_sync_slot slots[STORE_DIR_SYNCS_INFLIGHT];
};
void store_sync_dirs(struct store *st, struct store_dir_sync *ds, const char *topic, int32_t from, int32_t to,
                     void (*done)(struct store_dir_sync *ds, sl_err err));
/* True while a store_sync_dirs has fsyncs in flight (shutdown waits for them). */
bool store_dir_sync_busy(const struct store_dir_sync *ds);
/* Makes partitions [from, to)'s directories and empty first segments ahead of their
 * store_log_create_prepared, through the loop (IORING_OP_MKDIRAT, then IORING_OP_OPENAT: both run
 * on io_uring's own threads), at most STORE_PREPS_INFLIGHT at once and at most
 * STORE_PREPS_AHEAD partitions past the last one taken. A mkdir or a file creation waits for
 * the filesystem's journal now and then (10-40 ms on ext4 under load, measured): on the loop it
 * stalled every client that long. ready runs from a completion whenever a partition is made
 * (or failed). A store with fault injection (opts.io) makes nothing ahead: every partition is
 * STORE_PREP_INLINE, for store_log_create_unsynced on the loop as before. The caller owns the
 * struct until store_prep_busy is false, and ends it with store_prep_end. */
#define STORE_PREPS_INFLIGHT 8
#define STORE_PREPS_AHEAD 256
#define STORE_PREP_PENDING INT32_MIN     /* not made yet */
#define STORE_PREP_INLINE (INT32_MIN + 1) /* not made ahead: make it on the loop */
struct store_prep;
struct store_prep_slot {
    struct io_op op;
    struct store_prep *sp;
    int32_t partition; /* -1: free */
    bool opening;      /* the mkdir is done, the segment's open is in flight */
    char path[4200];
};
struct store_prep {
    struct store *st;
    char topic[STORE_TOPIC_NAME_MAX + 1];
    int32_t from, to;
    int32_t next;    /* the next partition to submit */
    int32_t taken;   /* partitions below this one were taken */
    int32_t *state;  /* per partition from `from`: an open fd, -errno, or STORE_PREP_PENDING */
    uint32_t inflight;
    bool inline_only;
    void (*ready)(struct store_prep *sp, int32_t partition);
    struct store_prep_slot slots[STORE_PREPS_INFLIGHT];
};
void store_prep_start(struct store *st, struct store_prep *sp, const char *topic, int32_t from, int32_t to,
                      void (*ready)(struct store_prep *sp, int32_t partition));
/* Partition p's state: an open fd of its empty first segment (handed over: the caller passes
 * it to store_log_create_prepared), -errno (its mkdir or create failed), STORE_PREP_PENDING
 * or STORE_PREP_INLINE. Partitions are taken in order; taking one lets the next be made. */
int32_t store_prep_take(struct store_prep *sp, int32_t p);
bool store_prep_busy(const struct store_prep *sp);
/* Submits nothing more: what is in flight still completes (then store_prep_end). */
void store_prep_stop(struct store_prep *sp);
/* Closes what was made and not taken; remove_made also removes those partitions' segments and
 * directories (a creation that failed; otherwise they stay for the next start to remove). Call
 * it once nothing is in flight. */
void store_prep_end(struct store_prep *sp, bool remove_made);
/* store_log_create_unsynced for a partition store_prep made: its directory exists and fd is its
 * empty first segment, open read-write (owned by the log from here, closed on failure). */
sl_err store_log_create_prepared(struct store *st, const char *topic, int32_t partition,
                                 const struct log_config *cfg, int fd, struct log **out);
/* Closes the log and removes its directory. */
sl_err store_log_delete(struct store *st, struct log *g);
/* store_log_delete whose last step, the directory's rmdir, goes through the loop
 * (IORING_OP_UNLINKAT, on io_uring's threads), at most STORE_RMDIRS_INFLIGHT at once: timing
 * the removal of 12,000 partitions showed the rmdir was nearly all of it (5.2 s of 5.4 s, up to
 * 12 ms for one) and held the loop while it waited for ext4's journal. The caller owns rd until
 * store_rmdirs_busy is false; ready runs from each completion. Only while !store_rmdirs_full.
 * A store with fault injection (opts.io) removes the directory at once, as store_log_delete. */
#define STORE_RMDIRS_INFLIGHT 8
struct store_rmdirs;
struct store_rmdir_slot {
    struct io_op op;
    struct store_rmdirs *rd;
    bool busy;
    char path[4200];
};
struct store_rmdirs {
    struct store *st;
    uint32_t inflight;
    void (*ready)(struct store_rmdirs *rd);
    struct store_rmdir_slot slots[STORE_RMDIRS_INFLIGHT];
};
void store_rmdirs_init(struct store *st, struct store_rmdirs *rd, void (*ready)(struct store_rmdirs *rd));
bool store_rmdirs_full(const struct store_rmdirs *rd);
bool store_rmdirs_busy(const struct store_rmdirs *rd);
sl_err store_log_delete_async(struct store *st, struct log *g, struct store_rmdirs *rd);

uint32_t store_log_count(const struct store *st);
struct log *store_log_at(const struct store *st, uint32_t i);
const char *store_log_topic(const struct log *g);
int32_t store_log_partition(const struct log *g);

const struct store_stats *store_get_stats(const struct store *st);
/* For the logs: the counters they bump. */
struct store_stats *store_stats_mut(struct store *st);

struct loop *store_loop(const struct store *st);

/* The store's log cleaner (storage/compact.h). */
struct cleaner *store_cleaner(const struct store *st);
/* Runs retention on every log now (the hook also runs it every retention_check_ms). */
void store_retention_run(struct store *st, uint64_t now_ms);

#endif
