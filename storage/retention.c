/* retention.c: deleting whole segments from the front of a log: by time, by size, and below a
 * start offset (delete-before: Kafka's DeleteRecords, work-queue acks). Only sealed segments go;
 * a segment a reader still holds is unlinked but stays readable until released.
 *
 * Drained logs: once the start reaches the end (every record acked away), the active segment
 * goes too: a new empty segment is created at the end offset, then every older one is deleted
 * (roll-to-empty). Only while nothing of the log is in flight (a write, sync or zero fill
 * still points at the old segment's fd); else the log's next pump, after that I/O answers,
 * tries again. The order on disk makes every crash point recoverable at the right offset: the
 * start_offset file first, the new segment next (its name is the end offset), the unlinks last;
 * a crash between them leaves old segments that recovery reads as before, or none, and then
 * recovery starts the log at start_offset.
 *
 * The start offset may sit inside the first segment, so it is kept in <dir>/start_offset
 * (written by rename, not synced: after a machine crash it may move back to the last value
 * that reached the disk, never forward past data). A work queue moves the start on nearly
 * every ack, and a rename over an existing ext4 file forces that file's writeback, so a move
 * inside the first segment is only marked here and saved at most about once a second
 * (log_save_start, from the store's loop hook) and at close: like Kafka's log-start-offset
 * checkpoint, a crash may bring back a few already-deleted records' offsets, and a stream keeps
 * its own floor in the metadata log for exactly that reason. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "storage/log_internal.h"
#include "storage/segment.h"
#include "storage/store_internal.h"

static bool retention_save_start(struct log *g) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/start_offset", g->dir);
    char text[32];
    int n = snprintf(text, sizeof(text), "%lld\n", (long long)g->start_offset);
    /* Synced: after a drain it is all that says where the log ends if no segment survives. */
    if (!sio_write_file(store_io(g->store), path, text, (size_t)n, true)) return false;
    g->start_unsaved = false;
    return true;
}

/* Before segments are deleted their end is the durable start: a deletion that fails or is cut
 * short by a crash leaves a hole below the start, which recovery removes as leftovers, never
 * one above it, which it would take for a tear and drop every later segment for. */
static bool retention_start_durable(struct log *g) {
    if (!g->start_unsaved) return true;
    if (retention_save_start(g)) return true;
    SL_WARN("%s: cannot write the start offset: old segments stay for now", g->dir);
    return false;
}

/* Deletes the first n segments (never the active one). */
static void retention_drop_front(struct log *g, uint32_t n) {
    SL_ASSERT(n < g->seg_count);
    if (!log_names_sync(g)) return;
    if (g->start_offset < g->segs[n]->base_offset) {
        g->start_offset = g->segs[n]->base_offset;
        g->start_unsaved = true;
        log_offsets_check(g, NULL);
    }
    if (!retention_start_durable(g)) return;
    for (uint32_t i = 0; i < n; i++) {
        SL_INFO("%s: deleting segment %lld (offsets up to %lld)", g->dir,
                (long long)g->segs[i]->base_offset, (long long)g->segs[i]->next_offset - 1);
        seg_delete(g->segs[i]);
    }
    log_segs_remove_front(g, n);
}

/* Whether the log holds no record but still has segment bytes or old segments to delete. */
static bool retention_drain_owed(const struct log *g) {
    if (g->start_offset < g->next_offset) return false;
    return g->seg_count > 1 || log_active(g)->size_bytes > 0;
}

void log_drain_maybe(struct log *g) {
    if (!retention_drain_owed(g)) {
        g->drain_pending = false;
        return;
    }
    /* A work queue whose consumers keep up drains after nearly every ack: rolling a segment
     * each time would cost a file create and delete per message. A small active segment is
     * left until the log has been quiet for a while (the store's tick retries); a big one, or
     * old segments, go at once. */
    uint64_t now_mono = loop_mono_ms(store_loop(g->store));
    if (g->seg_count == 1 && log_active(g)->size_bytes < LOG_DRAIN_EAGER_BYTES &&
        now_mono - g->last_append_ms < LOG_DRAIN_QUIET_MS) {
        store_drain_later(g->store, g->last_append_ms + LOG_DRAIN_QUIET_MS);
        return;
    }
    /* A failed or full log keeps its files: recovery or the rewind decides their fate. The
     * pending flag stays, so an idle pump later finishes the job. */
    if (g->werr || g->nospace || !log_write_idle(g)) return;
    struct seg *a = log_active(g);
    if (a->size_bytes > 0 || a->base_offset != g->next_offset) {
        uint64_t now = loop_now_ms(store_loop(g->store));
        if (log_roll(g, now) != SL_OK) return; /* a full disk: the next delete or pump retries */
    }
    if (!log_names_sync(g) || !retention_start_durable(g)) return;
    uint32_t n = g->seg_count - 1;
    for (uint32_t i = 0; i < n; i++) {
        struct seg *s = g->segs[i];
        SL_ASSERT(s->next_offset <= g->start_offset && !s->sealing);
        SL_INFO("%s: drained: deleting segment %lld (offsets up to %lld)", g->dir, (long long)s->base_offset,
                (long long)s->next_offset - 1);
        seg_delete(s);
    }
    log_segs_remove_front(g, n);
    g->drain_pending = false;
    log_offsets_check(g, NULL);
}

sl_err log_delete_before(struct log *g, int64_t offset) {
    if (offset > g->next_offset) offset = g->next_offset;
    if (offset <= g->start_offset) return SL_OK;
    g->start_offset = offset;
    log_offsets_check(g, NULL);
    g->start_unsaved = true;
    uint32_t n = 0;
    while (n + 1 < g->seg_count && g->segs[n]->sealed && g->segs[n + 1]->base_offset <= offset) n++;
    if (n) retention_drop_front(g, n);
    if (retention_drain_owed(g)) {
        g->drain_pending = true;
        log_drain_maybe(g);
        if (g->drain_pending) store_mark_dirty(g->store, g);
    }
    return SL_OK;
}

sl_err log_reset(struct log *g, int64_t offset) {
    SL_ASSERT(offset >= 0);
    sl_err e = log_flush(g, false, 60000);
    if (e && e != SL_NO_SPACE) return e;
    if (offset <= g->next_offset) return SL_INVALID_ARG; /* log_truncate's or log_delete_before's job */
    if (g->cleaning) return SL_REQUEST_TIMED_OUT; /* a compaction pass holds the segments: later */
    /* The new segment first, then the start that makes everything before it leftovers, then the
     * old segments: a crash at any point leaves either the old log or the new one (recovery
     * removes segments below the saved start as leftovers). */
    struct seg *s = seg_new(g->store, g, g->dir, offset);
    e = seg_create_file(s);
    if (e) {
        seg_free(s);
        return e;
    }
    s->index_loaded = true;
    s->created_ms = -1;
    if (sio_sync_dir(store_io(g->store), g->dir, false) != 0) {
        seg_delete(s);
        return SL_IO;
    }
    int64_t old_start = g->start_offset;
    g->start_offset = offset;
    if (!retention_save_start(g)) {
        g->start_offset = old_start;
        seg_delete(s);
        return SL_IO;
    }
    SL_INFO("%s: emptied, starts again at offset %lld (it held %lld..%lld)", g->dir, (long long)offset,
            (long long)old_start, (long long)g->next_offset - 1);
    for (uint32_t i = 0; i < g->seg_count; i++) seg_delete(g->segs[i]);
    g->seg_count = 0;
    log_segs_push(g, s);
    g->next_offset = g->written_offset = g->synced_offset = offset;
    log_offsets_check(g, NULL);
    log_watch_notify(g);
    return SL_OK;
}

void log_save_start(struct log *g) {
    if (g->start_unsaved) retention_save_start(g);
}

/* The newest record time of a sealed segment; its file's mtime if no record had a timestamp. */
static int64_t retention_seg_time(struct log *g, struct seg *s) {
    if (log_seg_ensure_index(g, s) == SL_OK && s->ix.max_timestamp >= 0) return s->ix.max_timestamp;
    char path[4200];
    struct stat st;
    seg_path(s, ".log", path, sizeof(path));
    if (stat(path, &st) != 0) return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

uint32_t log_retention_run(struct log *g, uint64_t now_ms) {
    uint32_t n = 0;
    if (g->cfg.retention_ms >= 0) {
        while (n + 1 < g->seg_count && g->segs[n]->sealed) {
            int64_t t = retention_seg_time(g, g->segs[n]);
            if (t < 0 || (int64_t)now_ms - t <= g->cfg.retention_ms) break;
            n++;
        }
    }
    if (g->cfg.retention_bytes >= 0) {
        uint64_t size = log_size_bytes(g);
        for (uint32_t i = 0; i < n; i++) size -= g->segs[i]->size_bytes;
        while (n + 1 < g->seg_count && g->segs[n]->sealed &&
               size - g->segs[n]->size_bytes >= (uint64_t)g->cfg.retention_bytes) {
            size -= g->segs[n]->size_bytes;
            n++;
        }
    }
    if (n) retention_drop_front(g, n);
    return n;
}
