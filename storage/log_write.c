/* log_write.c: the write pipeline of a log.
 *
 * Appends fill write buffers (struct wbuf), one run of batches per segment. The store's
 * before-sleep hook calls log_pump(), which submits the oldest buffer as one io_uring write,
 * so everything appended during a loop turn leaves in one syscall-free submission. One write
 * is in flight per log, which keeps the file free of holes and written offsets monotonic.
 *
 * Durability: GROUP (group_commit_ms 0) and APPEND link an fdatasync behind each write
 * (IOSQE_IO_LINK: it starts only after the write succeeded); GROUP with group_commit_ms > 0
 * syncs at most once per interval, on a timer. A sync covers what was written when it was
 * submitted; the log's synced offset advances only over whole older segments, so a sync that
 * finishes early on a new segment never claims an older segment's unsynced tail.
 *
 * Rolling leaves the old segment to be sealed here once its last write and sync are done:
 * fdatasync, trim the preallocated tail, write the indexes. A sealed segment is trusted by
 * the next start without a scan.
 *
 * Failures. A full disk (ENOSPC or EDQUOT from a write, or a short write followed by one) is
 * not permanent: appends are refused with SL_NO_SPACE until every write in flight has
 * answered, then the log rewinds to its written offset: every batch not yet written fails its
 * waiter with SL_NO_SPACE, the end offset, segment sizes, indexes and the recent-batch ring go
 * back to the written end, segments rolled after it are deleted, and the file is truncated
 * there, so neither the next write nor recovery ever sees bytes of a batch that did not
 * count. The next append retries the disk. Hence the contract the partition layer relies on:
 * a waiter fired with an error means its batch is not in the log, nor is any batch appended
 * after it that was not written.
 *
 * Every other write error, and every fdatasync error, is fail-stop: the log keeps the first
 * in werr and refuses appends until it is reopened. A failed fdatasync may have dropped dirty
 * pages and marked them clean, so a later fdatasync that succeeds proves nothing ("fsyncgate");
 * that holds for ENOSPC from fdatasync too (delayed allocation or thin provisioning failing at
 * writeback), so it is no exception. A recovery scan at the next start decides what is real. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "storage/log_internal.h"
#include "storage/store_internal.h"

#define LOG_ZERO_CHUNK (1u << 20)
#define LOG_ZERO_IOV_MAX 64
/* After preallocation found the disk full, appends write without it for this long. */
#define LOG_PREALLOC_RETRY_MS 1000

/* Shared source of zeros for zero-fill writes; in .bss, so it costs no memory until read. */
static uint8_t log_zeros[LOG_ZERO_CHUNK];

/* Per log, but zero fills are rare and one at a time per log: they live beside the op. */
struct log_zero_fill {
    struct iovec iov[LOG_ZERO_IOV_MAX];
    struct seg *seg;
};

static struct wbuf *log_wbuf_get(struct log *g, uint32_t need) {
    struct wbuf *b = store_wbuf_get(g->store, need);
    b->log = g;
    return b;
}

void log_wbuf_free(struct wbuf *b) {
    if (b->ref) {
        b->ref->release(b->ref);
        free(b);
        return;
    }
    free(b->data);
    free(b);
}

static void log_wbuf_put(struct log *g, struct wbuf *b) {
    if (b->ref) {
        log_wbuf_free(b);
        return;
    }
    store_wbuf_put(g->store, b);
}

static void log_wbuf_enqueue(struct log *g, struct wbuf *t) {
    if (g->wq_tail) g->wq_tail->next = t;
    else g->wq_head = t;
    g->wq_tail = t;
}

void log_wbuf_queue_ref(struct log *g, struct seg *s, uint8_t *batch, uint32_t len, int64_t next_offset,
                        struct log_ref *ref) {
    struct wbuf *t = sl_xcalloc(1, sizeof(*t));
    t->log = g;
    t->ref = ref;
    t->seg = s;
    t->pos = s->size_bytes;
    t->data = batch;
    t->len = t->cap = len;
    t->next_offset = next_offset;
    t->ix_max_ts = s->ix.max_timestamp;
    log_wbuf_enqueue(g, t);
}

void log_wbuf_queue(struct log *g, struct seg *s, const uint8_t *batch, uint32_t len,
                    int64_t next_offset) {
    struct wbuf *t = g->wq_tail;
    bool fits = t && !t->ref && t->seg == s && t->len + len <= t->cap &&
                g->cfg.durability != LOG_DURABILITY_APPEND;
    if (!fits) {
        t = log_wbuf_get(g, len);
        t->seg = s;
        t->pos = s->size_bytes;
        t->ix_max_ts = s->ix.max_timestamp;
        log_wbuf_enqueue(g, t);
    }
    SL_ASSERT(t->pos + t->len == s->size_bytes);
    memcpy(t->data + t->len, batch, len);
    t->len += len;
    t->next_offset = next_offset;
}

static void log_waiter_fire_list(struct log_waiter **head, struct log_waiter **tail, int64_t below,
                                 sl_err e) {
    /* Pop before calling: a waiter's done() may append to this log again. */
    while (*head && (e != SL_OK || (*head)->offset < below)) {
        struct log_waiter *w = *head;
        *head = w->next;
        if (!*head) *tail = NULL;
        w->next = NULL;
        w->done(w, e);
    }
}

void log_waiters_run(struct log *g) {
    log_waiter_fire_list(&g->written_head, &g->written_tail, g->written_offset, SL_OK);
    log_waiter_fire_list(&g->durable_head, &g->durable_tail, g->synced_offset, SL_OK);
}

void log_watch_add(struct log *g, struct log_watch *w) {
    w->log = g;
    w->prev = NULL;
    w->next = g->watches;
    if (g->watches) g->watches->prev = w;
    g->watches = w;
}

void log_watch_del(struct log_watch *w) {
    struct log *g = w->log;
    if (!g) return;
    if (w->prev) w->prev->next = w->next;
    else g->watches = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->log = NULL;
}

void log_watch_notify(struct log *g) { log_watches_fire(g, false); }

void log_watches_fire(struct log *g, bool gone) {
    struct log_watch *w = g->watches;
    for (uint32_t guard = 0; w && guard < (1u << 24); guard++) {
        struct log_watch *next = w->next;
        if (gone) log_watch_del(w);
        w->fire(w, gone);
        w = next;
    }
}

void log_fail(struct log *g, sl_err e) {
    if (!g->werr) {
        SL_ERROR("%s: write failed, the log refuses appends from now on: %s", g->dir, sl_err_str(e));
        g->werr = e;
    }
    log_waiter_fire_list(&g->written_head, &g->written_tail, 0, e);
    log_waiter_fire_list(&g->durable_head, &g->durable_tail, 0, e);
}

void log_update_synced(struct log *g) {
    int64_t synced = g->synced_offset;
    for (uint32_t i = 0; i < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        int64_t upto = s->sealed ? s->next_offset : s->synced_next_offset;
        if (upto > synced) synced = upto;
        if (upto < s->next_offset) break;
    }
    if (synced > g->written_offset) synced = g->written_offset;
    if (synced > g->synced_offset) g->synced_offset = synced;
    log_offsets_check(g, NULL);
}

static bool log_seg_busy(const struct log *g, const struct seg *s) {
    if (s->zero_inflight) return true;
    for (const struct wbuf *b = g->inflight_head; b; b = b->next)
        if (b->seg == s) return true;
    if (g->wq_head && g->wq_head->seg == s) return true;
    for (int i = 0; i < LOG_SYNCS_MAX; i++)
        if (g->syncs[i].in_use && g->syncs[i].seg == s) return true;
    return false;
}

static bool log_io_quiet(const struct log *g);

bool log_write_idle(const struct log *g) {
    /* A failed log writes no more, but what is in flight still points at its memory. */
    if (g->werr) return log_io_quiet(g);
    if (g->nospace || g->inflight_head || g->wq_head) return false;
    for (int i = 0; i < LOG_SYNCS_MAX; i++)
        if (g->syncs[i].in_use) return false;
    for (uint32_t i = 0; i < g->seg_count; i++) {
        const struct seg *s = g->segs[i];
        if (s->zero_inflight) return false;
        if (i + 1 < g->seg_count && !s->sealed) return false;
    }
    if (g->cfg.durability != LOG_DURABILITY_NONE) {
        const struct seg *s = log_active(g);
        if (s->synced_next_offset < s->written_next_offset) return false;
    }
    return true;
}

static struct log_sync *log_sync_slot(struct log *g) {
    for (int i = 0; i < LOG_SYNCS_MAX; i++)
        if (!g->syncs[i].in_use) return &g->syncs[i];
    return NULL;
}

static void log_seal_finish(struct log *g, struct seg *s) {
    s->sealing = false;
    if (sio_ftruncate(store_io(g->store), s->fd, (off_t)s->size_bytes) != 0)
        SL_WARN("%s: cannot trim segment %lld: %s", g->dir, (long long)s->base_offset, strerror(errno));
    s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = s->size_bytes;
    if (index_save(store_io(g->store), &s->ix, s->stem, s->base_offset, s->size_bytes, s->next_offset) != SL_OK)
        SL_WARN("%s: cannot write the index of segment %lld (it is rebuilt when needed)", g->dir,
                (long long)s->base_offset);
    s->sealed = true;
    s->synced_next_offset = s->next_offset;
    log_offsets_check(g, s);
    /* Tail reads move to the new active segment; sealed ones use their index. */
    free(s->recent);
    s->recent = NULL;
    s->recent_count = s->recent_head = 0;
    if (s->refs == 0) store_fd_idle(g->store, s);
}

static void log_sync_done(struct io_op *op, int32_t res) {
    struct log_sync *y = sl_container_of(op, struct log_sync, op);
    struct log *g = y->g;
    struct seg *s = y->seg;
    res = sio_complete(store_io(g->store), op, res);
    y->in_use = false;
    struct store_stats *st = store_stats_mut(g->store);
    if (res >= 0) {
        uint64_t now = loop_mono_us(store_loop(g->store));
        sl_hist_observe(&st->sync_latency, now > y->submit_us ? now - y->submit_us : 0);
        st->syncs++;
    } else if (res != -ECANCELED) {
        st->io_errors++;
    }
    if (res == -ECANCELED) {
        /* Its linked write came up short and will be resubmitted; a new sync follows it. */
        s->sync_requested_next = s->synced_next_offset;
        if (y->seal) s->sealing = false;
    } else if (res < 0) {
        /* Fail-stop whatever the errno, ENOSPC included (see the top of this file). */
        log_fail(g, SL_IO);
        return;
    } else {
        if (y->covers > s->synced_next_offset) s->synced_next_offset = y->covers;
        log_offsets_check(g, s);
        g->last_sync_ms = loop_mono_ms(store_loop(g->store));
        if (y->seal) log_seal_finish(g, s);
        log_update_synced(g);
        log_waiters_run(g);
    }
    store_mark_dirty(g->store, g);
}

static bool log_submit_sync(struct log *g, struct seg *s, int64_t covers, bool seal) {
    struct log_sync *y = log_sync_slot(g);
    if (!y) return false;
    y->in_use = true;
    y->seg = s;
    y->covers = covers;
    y->seal = seal;
    y->op.done = log_sync_done;
    y->submit_us = loop_mono_us(store_loop(g->store));
    struct io_uring_sqe *sqe = loop_sqe(store_loop(g->store), &y->op);
    sio_prep_fdatasync(store_io(g->store), sqe, &y->op, s->fd);
    if (covers > s->sync_requested_next) s->sync_requested_next = covers;
    return true;
}

static void log_zero_done(struct io_op *op, int32_t res) {
    struct log *g = sl_container_of(op, struct log, zero_op);
    res = sio_complete(store_io(g->store), op, res);
    for (uint32_t i = 0; i < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        if (!s->zero_inflight) continue;
        s->zero_inflight = 0;
        uint64_t want = s->zero_pending_end - s->zeroed_bytes;
        if (res >= 0 && (uint64_t)res >= want) {
            s->zeroed_bytes = s->zero_pending_end;
            continue;
        }
        /* A failed zero fill costs speed, not data: the data writes still go where they go.
         * The space counts as not allocated, so it is asked for again, after a pause. */
        SL_DEBUG("%s: zero fill failed: %s", g->dir, res < 0 ? strerror(-res) : "short write");
        s->zeroed_bytes += res > 0 ? (uint64_t)res : 0;
        s->alloc_bytes = s->zero_pending_end = s->zeroed_bytes;
        g->prealloc_retry_ms = loop_mono_ms(store_loop(g->store)) + LOG_PREALLOC_RETRY_MS;
    }
    store_mark_dirty(g->store, g);
}

/* Makes room for the segment to reach end: allocates ahead and, for fsync policies, zero-fills
 * ahead, because fdatasync on written blocks skips the extent journaling that new or unwritten
 * blocks cost. False: the write must wait for a zero fill over its range. */
static bool log_seg_prepare(struct log *g, struct seg *s, uint64_t end) {
    static struct iovec iov[LOG_ZERO_IOV_MAX];
    uint64_t window = g->cfg.preallocate_bytes;
    if (window == 0) return true;
    if (s->zero_inflight) return end <= s->zeroed_bytes;
    /* The disk was full a moment ago: write without preallocation; what fits still fits. */
    if (loop_mono_ms(store_loop(g->store)) < g->prealloc_retry_ms) return true;
    uint64_t seg_max = SL_MAX(g->cfg.segment_bytes, end);
    if (s->alloc_bytes < end + window / 2 && s->alloc_bytes < seg_max) {
        uint64_t target = SL_MIN(SL_MAX(end, s->alloc_bytes) + window, seg_max);
        if (sio_fallocate(store_io(g->store), s->fd, (off_t)s->alloc_bytes, (off_t)(target - s->alloc_bytes)) != 0) {
            if (errno == ENOSPC || errno == EDQUOT) {
                g->prealloc_retry_ms = loop_mono_ms(store_loop(g->store)) + LOG_PREALLOC_RETRY_MS;
                return true;
            }
            if (errno != EOPNOTSUPP) SL_DEBUG("%s: fallocate: %s", g->dir, strerror(errno));
        }
        s->alloc_bytes = target;
    }
    if (g->cfg.durability == LOG_DURABILITY_NONE) return true;
    uint64_t from = SL_MAX(s->zero_pending_end, s->size_bytes);
    if (from >= s->alloc_bytes) return true;
    uint64_t len = SL_MIN(s->alloc_bytes - from, (uint64_t)LOG_ZERO_CHUNK * LOG_ZERO_IOV_MAX);
    unsigned n = 0;
    for (uint64_t at = 0; at < len; at += LOG_ZERO_CHUNK, n++) {
        iov[n].iov_base = log_zeros;
        iov[n].iov_len = (size_t)SL_MIN((uint64_t)LOG_ZERO_CHUNK, len - at);
    }
    g->zero_op.done = log_zero_done;
    struct io_uring_sqe *sqe = loop_sqe(store_loop(g->store), &g->zero_op);
    /* iov is static: the kernel copies the vector when the request is prepared (io_uring
     * imports iovecs at submission), and only one log zero-fills per submit. */
    sio_prep_writev(store_io(g->store), sqe, &g->zero_op, s->fd, iov, n, from);
    io_uring_submit(&store_loop(g->store)->ring);
    s->zero_inflight = 1;
    s->zeroed_bytes = from;
    s->zero_pending_end = from + len;
    return end <= from;
}

static void log_write_done(struct io_op *op, int32_t res);

static void log_inflight_push(struct log *g, struct wbuf *b) {
    b->next = NULL;
    if (g->inflight_tail) g->inflight_tail->next = b;
    else g->inflight_head = b;
    g->inflight_tail = b;
    g->inflight_count++;
}

static struct io_uring_sqe *log_write_sqe(struct log *g, struct wbuf *b) {
    b->op.done = log_write_done;
    b->submit_us = loop_mono_us(store_loop(g->store));
    g->writes_pending++;
    struct io_uring_sqe *sqe = loop_sqe(store_loop(g->store), &b->op);
    sio_prep_write(store_io(g->store), sqe, &b->op, b->seg->fd, b->data + b->done, b->len - b->done, b->pos + b->done);
    return sqe;
}

/* How many writes may be in flight for this log. */
static uint32_t log_writes_max(const struct log *g) {
    return g->cfg.durability == LOG_DURABILITY_NONE ? LOG_WRITES_MAX : 1;
}

/* Group commit: at most one sync of the active segment in flight. Writes go on meanwhile, and
 * the next sync covers all of them (log_sync_done marks the log dirty, log_sync_if_owed sends
 * it). A sync per write kept up to LOG_SYNCS_MAX in flight at 10 k small appends/s, about 3
 * fdatasyncs per millisecond here, each one more flush for the device to serve. */
static bool log_sync_inflight(const struct log *g, const struct seg *s) {
    for (int i = 0; i < LOG_SYNCS_MAX; i++)
        if (g->syncs[i].in_use && g->syncs[i].seg == s && !g->syncs[i].seal) return true;
    return false;
}

static bool log_submit_write(struct log *g) {
    struct wbuf *b = g->wq_head;
    struct seg *s = b->seg;
    if (!log_seg_prepare(g, s, b->pos + b->len)) return false;
    g->wq_head = b->next;
    if (!g->wq_head) g->wq_tail = NULL;
    log_inflight_push(g, b);
    bool chain = g->cfg.durability == LOG_DURABILITY_APPEND ||
                 (g->cfg.durability == LOG_DURABILITY_GROUP && g->cfg.group_commit_ms == 0);
    chain = chain && log_sync_slot(g) && !log_sync_inflight(g, s);
    /* A link must not be split across two submissions, or the sync would run on its own. */
    if (chain) loop_sqe_reserve(store_loop(g->store), 2);
    struct io_uring_sqe *sqe = log_write_sqe(g, b);
    if (chain) {
        /* The sync starts only after this write succeeded; with one write in flight under an
         * fsync policy, everything older is already written. */
        sqe->flags |= IOSQE_IO_LINK;
        log_submit_sync(g, s, b->next_offset, false);
    }
    return true;
}

/* Completed writes leave in order, so the written offset only ever covers a gap-free prefix;
 * a failed write (disk full) stops it until the log rewinds. */
static void log_writes_retire(struct log *g) {
    while (g->inflight_head && g->inflight_head->complete && !g->inflight_head->failed) {
        struct wbuf *b = g->inflight_head;
        g->inflight_head = b->next;
        if (!g->inflight_head) g->inflight_tail = NULL;
        g->inflight_count--;
        struct seg *s = b->seg;
        s->written_bytes = b->pos + b->len;
        s->written_next_offset = b->next_offset;
        g->written_offset = b->next_offset;
        log_offsets_check(g, s);
        log_wbuf_put(g, b);
    }
}

/* The disk is full: b never counts. The rewind waits for the other writes in flight. */
static void log_write_nospace(struct log *g, struct wbuf *b) {
    b->complete = true;
    b->failed = true;
    g->nospace = true;
    store_mark_dirty(g->store, g);
}

static void log_write_done(struct io_op *op, int32_t res) {
    struct wbuf *b = sl_container_of(op, struct wbuf, op);
    struct log *g = b->log;
    res = sio_complete(store_io(g->store), op, res);
    g->writes_pending--;
    struct store_stats *st = store_stats_mut(g->store);
    if (res > 0) {
        uint64_t now = loop_mono_us(store_loop(g->store));
        sl_hist_observe(&st->write_latency, now > b->submit_us ? now - b->submit_us : 0);
        st->writes++;
        st->bytes_written += (uint64_t)res;
    } else if (res != -EINTR && res != -EAGAIN) {
        st->io_errors++;
    }
    if (res == -ENOSPC || res == -EDQUOT) {
        log_write_nospace(g, b);
        return;
    }
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        log_fail(g, SL_IO);
        b->complete = true;
        return;
    }
    if (res > 0) b->done += (uint32_t)res;
    if (b->done < b->len) {
        if (res == 0) {
            log_fail(g, SL_IO);
            b->complete = true;
            return;
        }
        if (g->nospace) {
            /* An older write found the disk full: this one is dropped anyway. */
            log_write_nospace(g, b);
            return;
        }
        /* Short or interrupted: the rest goes to the same place; younger writes may finish
         * first, but the written offset waits for this one. */
        log_write_sqe(g, b);
        return;
    }
    b->complete = true;
    if (g->disk_full && !g->nospace) {
        g->disk_full = false;
        SL_INFO("%s: writes succeed again after the disk was full", g->dir);
    }
    log_writes_retire(g);
    log_update_synced(g);
    log_waiters_run(g);
    log_watches_fire(g, false);
    store_mark_dirty(g->store, g);
}

static void log_timer_done(struct io_op *op, int32_t res) {
    struct log *g = sl_container_of(op, struct log, timer_op);
    (void)res;
    g->timer_armed = false;
    store_mark_dirty(g->store, g);
}

static void log_arm_timer(struct log *g, uint64_t wait_ms) {
    g->timer_armed = true;
    g->timer_ts.tv_sec = (long long)(wait_ms / 1000);
    g->timer_ts.tv_nsec = (long long)(wait_ms % 1000) * 1000000;
    g->timer_op.done = log_timer_done;
    struct io_uring_sqe *sqe = loop_sqe(store_loop(g->store), &g->timer_op);
    io_uring_prep_timeout(sqe, &g->timer_ts, 0, 0);
}

static void log_seal_ready(struct log *g) {
    for (uint32_t i = 0; i + 1 < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        if (s->sealed) continue;
        if (s->sealing || log_seg_busy(g, s)) return;
        if (!log_submit_sync(g, s, s->next_offset, true)) return;
        s->sealing = true;
    }
}

static void log_sync_if_owed(struct log *g) {
    if (g->cfg.durability == LOG_DURABILITY_NONE) return;
    struct seg *s = log_active(g);
    if (s->written_next_offset <= s->sync_requested_next) return;
    if (log_sync_inflight(g, s)) return;
    uint64_t now = loop_mono_ms(store_loop(g->store));
    uint64_t since = now - g->last_sync_ms;
    if (g->cfg.durability == LOG_DURABILITY_GROUP && g->cfg.group_commit_ms > 0 &&
        since < g->cfg.group_commit_ms) {
        if (!g->timer_armed) log_arm_timer(g, g->cfg.group_commit_ms - since);
        return;
    }
    log_submit_sync(g, s, s->written_next_offset, false);
}

/* Nothing of the log's is in the kernel's hands: no write, sync or zero fill in flight. */
static bool log_io_quiet(const struct log *g) {
    if (g->writes_pending) return false;
    for (int i = 0; i < LOG_SYNCS_MAX; i++)
        if (g->syncs[i].in_use) return false;
    for (uint32_t i = 0; i < g->seg_count; i++)
        if (g->segs[i]->zero_inflight) return false;
    return true;
}

/* Detaches the waiters for offsets >= from (the lists are in offset order). */
static struct log_waiter *log_waiters_cut(struct log_waiter **head, struct log_waiter **tail,
                                          int64_t from) {
    struct log_waiter **pp = head, *prev = NULL;
    while (*pp && (*pp)->offset < from) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    struct log_waiter *cut = *pp;
    *pp = NULL;
    *tail = prev;
    return cut;
}

/* Fires two detached waiter chains with e, lowest offset first. */
static void log_waiters_fail(struct log_waiter *a, struct log_waiter *b, sl_err e) {
    while (a || b) {
        struct log_waiter **pick = !b || (a && a->offset <= b->offset) ? &a : &b;
        struct log_waiter *w = *pick;
        *pick = w->next;
        w->next = NULL;
        w->done(w, e);
    }
}

static void log_wbufs_put(struct log *g, struct wbuf *b) {
    while (b) {
        struct wbuf *next = b->next;
        log_wbuf_put(g, b);
        b = next;
    }
}

static void log_recent_truncate(struct seg *s, uint64_t pos) {
    while (s->recent_count) {
        uint32_t newest = (s->recent_head + SEG_RECENT - 1) % SEG_RECENT;
        if (s->recent[newest].pos < pos) break;
        s->recent_head = newest;
        s->recent_count--;
    }
}

/* After a write found the disk full and every write in flight has answered: the log goes back
 * to its written offset (see the top of this file), then accepts appends again. */
static void log_nospace_rewind(struct log *g) {
    SL_ASSERT(g->nospace && !g->werr && log_io_quiet(g));
    int64_t written_before = g->written_offset;
    log_writes_retire(g);
    int64_t from = g->written_offset;
    /* The first buffer that did not count; every later buffer follows it in the file. */
    struct wbuf *first = g->inflight_head ? g->inflight_head : g->wq_head;
    sl_err fail = SL_OK;
    if (first) {
        struct seg *s = first->seg;
        SL_ASSERT(first->pos == s->written_bytes && s->written_next_offset == from);
        SL_ASSERT(!s->sealed && !s->sealing);
        /* Segments rolled after it hold nothing written. */
        while (log_active(g) != s) {
            struct seg *gone = g->segs[--g->seg_count];
            SL_ASSERT(gone->written_bytes == 0 && gone->base_offset > from);
            seg_delete(gone);
        }
        s->size_bytes = s->written_bytes;
        s->next_offset = from;
        index_truncate(&s->ix, s->size_bytes);
        s->ix.max_timestamp = first->ix_max_ts;
        log_recent_truncate(s, s->size_bytes);
        if (s->sync_requested_next > from) s->sync_requested_next = from;
        if (s->size_bytes == 0) s->created_ms = -1;
        /* A short write may have left part of a batch past the end, or a whole one: gone, so
         * a recovery scan can never take it for data. It also returns the preallocation. */
        if (sio_ftruncate(store_io(g->store), s->fd, (off_t)s->size_bytes) != 0) {
            SL_ERROR("%s: cannot cut segment %lld back to %llu bytes after a full disk: %s", g->dir,
                     (long long)s->base_offset, (unsigned long long)s->size_bytes, strerror(errno));
            fail = SL_IO;
        }
        s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = s->size_bytes;
    }
    log_wbufs_put(g, g->inflight_head);
    log_wbufs_put(g, g->wq_head);
    g->inflight_head = g->inflight_tail = g->wq_head = g->wq_tail = NULL;
    g->inflight_count = 0;
    g->next_offset = from;
    /* DeleteRecords (or a work queue's floor) may have moved the start past what was written:
     * those records never were, so the start comes back to the end. */
    if (g->start_offset > from) {
        g->start_offset = from;
        g->start_unsaved = true;
    }
    g->nospace = false;
    g->rewinds++;
    if (!g->disk_full)
        SL_WARN("%s: disk full: appends from offset %lld fail and are retried by their producers",
                g->dir, (long long)from);
    g->disk_full = true;

    struct log_waiter *w = log_waiters_cut(&g->written_head, &g->written_tail, from);
    struct log_waiter *d = log_waiters_cut(&g->durable_head, &g->durable_tail, from);
    if (fail) {
        log_fail(g, fail); /* fires the waiters still listed: written ones, not yet durable */
    } else {
        log_update_synced(g);
        log_waiters_run(g);
        if (g->written_offset > written_before) log_watches_fire(g, false);
    }
    log_waiters_fail(w, d, fail ? fail : SL_NO_SPACE);
    store_mark_dirty(g->store, g);
}

void log_pump(struct log *g) {
    if (g->nospace && !g->werr) {
        if (!log_io_quiet(g)) return;
        log_nospace_rewind(g);
    }
    if (g->werr) {
        log_fail(g, g->werr);
        return;
    }
    log_seal_ready(g);
    uint32_t max = log_writes_max(g);
    for (uint32_t i = 0; i < LOG_WRITES_MAX && g->wq_head && g->inflight_count < max; i++)
        if (!log_submit_write(g)) break;
    log_sync_if_owed(g);
    if (g->drain_pending) log_drain_maybe(g);
}
