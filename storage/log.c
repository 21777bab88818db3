/* log.c: a partition log's offsets, appends, reads, truncation and lookups (see log.h). The
 * write pipeline is in log_write.c, recovery in recovery.c, retention in retention.c. */
#include "storage/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "protocol/kafka_batch.h"
#include "storage/log_internal.h"
#include "storage/store_internal.h"

/* Kafka's segment.bytes is an int; our index stores positions as u32 as Kafka's does. */
#define LOG_SEGMENT_BYTES_MAX (1ull << 31)

void log_config_defaults(struct log_config *c) {
    c->segment_bytes = 1ull << 30;
    c->segment_ms = 7ll * 24 * 3600 * 1000;
    c->retention_ms = 7ll * 24 * 3600 * 1000;
    c->retention_bytes = -1;
    c->index_interval_bytes = 4096;
    c->batch_bytes_max = 1048588; /* Kafka's message.max.bytes default */
    c->durability = LOG_DURABILITY_NONE;
    c->group_commit_ms = 0;
    c->preallocate_bytes = 16ull << 20;
    c->compact = false;
    c->min_cleanable_ratio = 0.5;
    c->min_compaction_lag_ms = 0;
    c->max_compaction_lag_ms = INT64_MAX;
    c->delete_retention_ms = 86400000;
}

const char *log_config_invalid(const struct log_config *c) {
    if (c->segment_bytes < 1024 || c->segment_bytes > LOG_SEGMENT_BYTES_MAX) return "segment_bytes";
    if (c->segment_ms < 1) return "segment_ms";
    if (c->retention_ms < -1) return "retention_ms";
    if (c->retention_bytes < -1) return "retention_bytes";
    if (c->index_interval_bytes < 1) return "index_interval_bytes";
    if (c->batch_bytes_max < KAFKA_BATCH_HEADER_BYTES || c->batch_bytes_max > (1u << 30))
        return "max_message_bytes";
    if ((unsigned)c->durability > LOG_DURABILITY_APPEND) return "fsync";
    if (c->group_commit_ms > 60000) return "group_commit_ms";
    if (c->preallocate_bytes > (1ull << 30)) return "preallocate_bytes";
    if (!(c->min_cleanable_ratio >= 0 && c->min_cleanable_ratio <= 1)) return "min_cleanable_ratio";
    if (c->min_compaction_lag_ms < 0) return "min_compaction_lag_ms";
    if (c->max_compaction_lag_ms < 1) return "max_compaction_lag_ms";
    if (c->delete_retention_ms < 0) return "delete_retention_ms";
    return NULL;
}

static const char *const log_durability_names[] = {"none", "group", "append"};

const char *log_durability_name(enum log_durability d) {
    return (unsigned)d <= LOG_DURABILITY_APPEND ? log_durability_names[d] : "?";
}

int log_durability_parse(const char *s) {
    for (int i = 0; i <= LOG_DURABILITY_APPEND; i++)
        if (strcmp(s, log_durability_names[i]) == 0) return i;
    return -1;
}

struct log *log_new(struct store *st, const char *dir, const char *topic, int32_t partition,
                    const struct log_config *cfg) {
    struct log *g = sl_xcalloc(1, sizeof(*g));
    g->store = st;
    g->dir = strdup(dir);
    g->topic = strdup(topic);
    SL_ASSERT(g->dir && g->topic);
    g->partition = partition;
    g->cfg = *cfg;
    for (int i = 0; i < LOG_SYNCS_MAX; i++) g->syncs[i].g = g;
    return g;
}

static void log_wbufs_free(struct wbuf *b) {
    while (b) {
        struct wbuf *next = b->next;
        log_wbuf_free(b);
        b = next;
    }
}

void log_free(struct log *g) {
    log_watches_fire(g, true);
    /* Only a failed log still has buffers here: its writes were abandoned. */
    log_wbufs_free(g->wq_head);
    log_wbufs_free(g->inflight_head);
    for (uint32_t i = 0; i < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        s->log = NULL;
        if (s->refs) {
            /* A reader still holds it: it frees itself on the last release. */
            seg_close_fd(s);
            s->deleted = true;
        } else {
            seg_free(s);
        }
    }
    free(g->segs);
    free(g->dir);
    free(g->topic);
    free(g);
}

void log_segs_push(struct log *g, struct seg *s) {
    if (g->seg_count == g->seg_cap) {
        g->seg_cap = g->seg_cap ? g->seg_cap * 2 : 8;
        g->segs = sl_xrealloc(g->segs, g->seg_cap * sizeof(*g->segs));
    }
    SL_ASSERT(g->seg_count == 0 || log_active(g)->base_offset <= s->base_offset);
    g->segs[g->seg_count++] = s;
}

void log_segs_remove_front(struct log *g, uint32_t n) {
    SL_ASSERT(n < g->seg_count);
    memmove(g->segs, g->segs + n, (g->seg_count - n) * sizeof(*g->segs));
    g->seg_count -= n;
}

int32_t log_seg_find(const struct log *g, int64_t offset) {
    uint32_t lo = 0, hi = g->seg_count; /* first segment with base > offset */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->segs[mid]->base_offset <= offset) lo = mid + 1;
        else hi = mid;
    }
    return (int32_t)lo - 1;
}

sl_err log_seg_ensure_index(struct log *g, struct seg *s) {
    if (s->index_loaded) return SL_OK;
    uint64_t bytes = 0;
    int64_t next = 0;
    sl_err e = index_load(&s->ix, s->stem, s->base_offset, &bytes, &next);
    if (e == SL_OK && bytes == s->size_bytes && next == s->next_offset) {
        s->index_loaded = true;
        return SL_OK;
    }
    SL_WARN("%s: index of segment %lld is %s; rebuilding it", g->dir, (long long)s->base_offset,
            e == SL_NOT_FOUND ? "missing" : "stale or corrupt");
    struct recovery_report rep;
    memset(&rep, 0, sizeof(rep));
    e = recovery_scan_segment(g, s, &rep);
    if (e) return e;
    if (s->sealed) index_save(store_io(g->store), &s->ix, s->stem, s->base_offset, s->size_bytes, s->next_offset);
    return SL_OK;
}

/* A new file's name is durable only once its directory is synced; without this a power loss
 * could lose a freshly rolled segment whose batches were already acknowledged as durable. */
void log_sync_dir(struct sio *io, const char *dir) {
    if (sio_sync_dir(io, dir, false) != 0) SL_WARN("%s: fsync of the directory failed: %s", dir, strerror(errno));
}

bool log_names_sync(struct log *g) {
    if (!g->names_unsynced) return true;
    if (sio_sync_dir(store_io(g->store), g->dir, false) != 0) {
        SL_WARN("%s: fsync of the directory failed: %s; old segments stay for now", g->dir, strerror(errno));
        return false;
    }
    g->names_unsynced = false;
    return true;
}

sl_err log_roll(struct log *g, uint64_t now_ms) {
    struct seg *s = seg_new(g->store, g, g->dir, g->next_offset);
    sl_err e = seg_create_file(s);
    if (e) {
        /* The append fails and the log stays as it was: a full disk is retried by the next. */
        int err = errno;
        if (e == SL_NO_SPACE)
            SL_WARN("%s: cannot create segment %lld: %s", g->dir, (long long)g->next_offset, strerror(err));
        else
            SL_ERROR("%s: cannot create segment %lld: %s", g->dir, (long long)g->next_offset, strerror(err));
        seg_free(s);
        return e;
    }
    s->index_loaded = true;
    s->created_ms = -1;
    (void)now_ms;
    if (g->cfg.durability != LOG_DURABILITY_NONE) {
        /* A failed directory fsync is not retried as if it had worked: the name of the segment
         * that would hold acknowledged-durable batches may be lost, so the roll fails. */
        if (sio_sync_dir(store_io(g->store), g->dir, false) != 0) {
            SL_ERROR("%s: cannot make segment %lld durable (directory fsync: %s)", g->dir,
                     (long long)g->next_offset, strerror(errno));
            seg_delete(s);
            return SL_IO;
        }
    } else {
        g->names_unsynced = true;
    }
    log_segs_push(g, s);
    /* The old segment is sealed by the write pipeline once its last write completes. */
    store_mark_dirty(g->store, g);
    return SL_OK;
}

static bool log_roll_due(const struct log *g, const struct seg *s, uint32_t len, int64_t records,
                         uint64_t now_ms) {
    if (s->size_bytes == 0) return false;
    if (s->size_bytes + len > g->cfg.segment_bytes) return true;
    if (g->next_offset + records - s->base_offset > (int64_t)UINT32_MAX) return true;
    return s->created_ms >= 0 && (int64_t)now_ms - s->created_ms >= g->cfg.segment_ms;
}

static void log_waiter_push(struct log_waiter **head, struct log_waiter **tail, struct log_waiter *w) {
    w->next = NULL;
    if (*tail) (*tail)->next = w;
    else *head = w;
    *tail = w;
}

static sl_err log_append_common(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                                struct log_waiter *w, bool durable, struct log_ref *ref, bool verified) {
    if (g->werr) return g->werr;
    g->last_append_ms = loop_mono_ms(store_loop(g->store));
    /* A write found the disk full and the log has not rewound yet: nothing queued now counts. */
    if (g->nospace) return SL_NO_SPACE;
    if (len > g->cfg.batch_bytes_max) return SL_TOO_LARGE;
    struct kafka_batch_header h;
    /* A verified batch had its CRC32C and records checked by the caller on these very bytes:
     * reading the header again is enough, and saves a pass over a batch of up to 1 MiB. */
    sl_err e = verified ? kafka_batch_header_read(batch, len, &h) : kafka_batch_check(batch, len, &h);
    if (e) return e;
    SL_ASSERT(!verified || (size_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD == len);

    uint64_t now = loop_now_ms(store_loop(g->store)); /* segment.ms ages by wall time, as Kafka's */
    struct seg *s = log_active(g);
    if (log_roll_due(g, s, len, (int64_t)h.last_offset_delta + 1, now)) {
        e = log_roll(g, now);
        if (e) return e;
        s = log_active(g);
    }
    if (s->size_bytes + len > UINT32_MAX) return SL_TOO_LARGE;

    int64_t base = g->next_offset;
    int64_t next = base + h.last_offset_delta + 1;
    kafka_batch_set_base_offset(batch, base);
    if (!s->recent) s->recent = sl_xmalloc(SEG_RECENT * sizeof(*s->recent));
    s->recent[s->recent_head] = (struct seg_recent){base, next, (uint32_t)s->size_bytes, len};
    s->recent_head = (s->recent_head + 1) % SEG_RECENT;
    if (s->recent_count < SEG_RECENT) s->recent_count++;
    /* Queued before it is indexed: a new write buffer notes the index's newest timestamp
     * without this batch, which a rewind after a full disk goes back to. */
    if (ref) log_wbuf_queue_ref(g, s, batch, len, next, ref);
    else log_wbuf_queue(g, s, batch, len, next);
    index_track(&s->ix, s->base_offset, s->size_bytes, len, base, h.max_timestamp,
                g->cfg.index_interval_bytes);
    s->size_bytes += len;
    s->next_offset = next;
    g->next_offset = next;
    log_offsets_check(g, s);
    if (s->created_ms < 0) s->created_ms = (int64_t)now;

    if (w) {
        w->offset = next - 1;
        w->durable = durable && g->cfg.durability != LOG_DURABILITY_NONE;
        if (w->durable) log_waiter_push(&g->durable_head, &g->durable_tail, w);
        else log_waiter_push(&g->written_head, &g->written_tail, w);
    }
    store_mark_dirty(g->store, g);
    *base_offset = base;
    return SL_OK;
}

void log_wait(struct log *g, struct log_waiter *w, int64_t offset, bool durable) {
    w->offset = offset;
    w->durable = durable && g->cfg.durability != LOG_DURABILITY_NONE;
    SL_ASSERT(offset < g->next_offset);
    if (g->werr || offset < (w->durable ? g->synced_offset : g->written_offset)) {
        w->next = NULL;
        w->done(w, g->werr);
        return;
    }
    /* Inserted in offset order: the lists fire from the head while the head is covered. */
    struct log_waiter **pp = w->durable ? &g->durable_head : &g->written_head;
    while (*pp && (*pp)->offset <= offset) pp = &(*pp)->next;
    w->next = *pp;
    *pp = w;
    if (!w->next) {
        if (w->durable) g->durable_tail = w;
        else g->written_tail = w;
    }
}

sl_err log_append(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                  struct log_waiter *w, bool durable) {
    return log_append_common(g, batch, len, base_offset, w, durable, NULL, false);
}

sl_err log_append_ref(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                      struct log_waiter *w, bool durable, struct log_ref *ref) {
    return log_append_common(g, batch, len, base_offset, w, durable, ref, false);
}

sl_err log_append_verified(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                           struct log_waiter *w, bool durable) {
    return log_append_common(g, batch, len, base_offset, w, durable, NULL, true);
}

sl_err log_append_verified_ref(struct log *g, uint8_t *batch, uint32_t len, int64_t *base_offset,
                               struct log_waiter *w, bool durable, struct log_ref *ref) {
    return log_append_common(g, batch, len, base_offset, w, durable, ref, true);
}

/* Walks batch headers from pos (a batch start) to the batch holding offset. */
static sl_err log_seek_in_seg(struct seg *s, int64_t offset, uint64_t *pos, uint32_t *len,
                              int64_t *base, int64_t *next) {
    int64_t entry;
    uint64_t p = index_lookup(&s->ix, s->base_offset, offset, &entry);
    struct seg_recent *lr = &s->last_read;
    if (lr->len && (uint64_t)lr->pos + lr->len <= s->written_bytes && offset >= lr->base) {
        if (offset < lr->next) {
            *pos = lr->pos;
            *len = lr->len;
            *base = lr->base;
            *next = lr->next;
            return SL_OK;
        }
        if ((uint64_t)lr->pos + lr->len > p) p = (uint64_t)lr->pos + lr->len; /* the batch after it */
    }
    while (p < s->written_bytes) {
        sl_err e = seg_read_batch_head(s, p, base, len, next);
        if (e) return e;
        if (*next > offset) {
            *pos = p;
            *lr = (struct seg_recent){*base, *next, (uint32_t)p, *len};
            return SL_OK;
        }
        p += *len;
    }
    return SL_OFFSET_OUT_OF_RANGE;
}

/* The i-th oldest entry of the segment's recent-batch ring. */
static const struct seg_recent *seg_recent_at(const struct seg *s, uint32_t i) {
    return &s->recent[(s->recent_head + SEG_RECENT - s->recent_count + i) % SEG_RECENT];
}

/* A span served from the recent-batch ring, with no file reads; false if offset is older
 * than the ring (the caller walks the index). The caller holds a reference on s. */
static bool log_read_recent(struct seg *s, int64_t offset, uint32_t bytes_max, struct log_span *out) {
    if (!s->recent_count || offset < seg_recent_at(s, 0)->base) return false;
    uint32_t lo = 0, hi = s->recent_count; /* first entry with next > offset */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (seg_recent_at(s, mid)->next <= offset) lo = mid + 1;
        else hi = mid;
    }
    if (lo == s->recent_count) return false;
    const struct seg_recent *first = seg_recent_at(s, lo);
    if (first->base > offset || (uint64_t)first->pos + first->len > s->written_bytes) return false;
    uint64_t end = (uint64_t)first->pos + first->len;
    int64_t next = first->next;
    for (uint32_t k = lo + 1; k < s->recent_count; k++) {
        const struct seg_recent *r = seg_recent_at(s, k);
        uint64_t rend = (uint64_t)r->pos + r->len;
        if (rend > s->written_bytes || rend - first->pos > bytes_max) break;
        end = rend;
        next = r->next;
    }
    out->seg = s;
    out->fd = s->fd;
    out->pos = first->pos;
    out->len = (uint32_t)(end - first->pos);
    out->base_offset = first->base;
    out->next_offset = next;
    return true;
}

static sl_err log_read_one(struct log *g, int64_t offset, uint32_t bytes_max, struct log_span *out) {
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (offset < g->start_offset || offset > g->written_offset) return SL_OFFSET_OUT_OF_RANGE;
    out->base_offset = out->next_offset = offset;
    if (offset == g->written_offset) return SL_OK;

    int32_t i = log_seg_find(g, offset);
    SL_ASSERT(i >= 0);
    struct seg *s = g->segs[i];
    seg_ref(s);
    sl_err e = seg_open_fd(s);
    if (!e && log_read_recent(s, offset, bytes_max, out)) return SL_OK;
    if (!e) e = log_seg_ensure_index(g, s);
    uint64_t start = 0;
    uint32_t len = 0;
    int64_t base = 0, next = 0;
    if (!e) e = log_seek_in_seg(s, offset, &start, &len, &base, &next);
    if (e) {
        seg_unref(s);
        return e == SL_OFFSET_OUT_OF_RANGE ? e : SL_IO;
    }

    uint64_t end = start + len;
    uint64_t limit = SL_MIN(start + (uint64_t)bytes_max, s->written_bytes);
    if (end < limit) {
        /* Jump to the last indexed batch start that fits, then walk the few batches after it. */
        uint64_t cand = index_last_pos_within(&s->ix, end, limit);
        if (cand) {
            uint32_t l;
            int64_t b, n;
            if (cand == s->written_bytes) {
                end = cand;
                next = s->written_next_offset;
            } else if (seg_read_batch_head(s, cand, &b, &l, &n) == SL_OK) {
                end = cand;
                next = b;
            }
        }
        while (end < limit) {
            uint32_t l;
            int64_t b, n;
            if (seg_read_batch_head(s, end, &b, &l, &n) != SL_OK || end + l > limit) break;
            end += l;
            next = n;
        }
    }
    out->seg = s;
    out->fd = s->fd;
    out->pos = start;
    out->len = (uint32_t)(end - start);
    out->base_offset = base;
    out->next_offset = next;
    return SL_OK;
}

sl_err log_read(struct log *g, int64_t offset, uint32_t bytes_max, struct log_span *out) {
    /* Compaction keeps a segment's last batch even when every record of it went, so the segment
     * still ends where it ended (compact.c); such a batch is a bare 61-byte header. Sent alone,
     * librdkafka takes it for a message too large to fetch, so a read that would return only
     * that batch goes on to what follows it: a gap, which every client handles. */
    for (uint32_t guard = 0;; guard++) {
        sl_err e = log_read_one(g, offset, bytes_max, out);
        if (e || out->len != KAFKA_BATCH_HEADER_BYTES || guard > g->seg_count) return e;
        int64_t next = out->next_offset;
        log_span_release(out);
        offset = next;
    }
}

void log_span_release(struct log_span *sp) {
    if (sp->seg) seg_unref(sp->seg);
    sp->seg = NULL;
    sp->fd = -1;
}

int64_t log_start_offset(const struct log *g) { return g->start_offset; }
int64_t log_end_offset(const struct log *g) { return g->next_offset; }
int64_t log_written_offset(const struct log *g) { return g->written_offset; }
int64_t log_synced_offset(const struct log *g) { return g->synced_offset; }
uint32_t log_segment_count(const struct log *g) { return g->seg_count; }
const char *log_dir(const struct log *g) { return g->dir; }
const struct log_config *log_get_config(const struct log *g) { return &g->cfg; }
void log_set_config(struct log *g, const struct log_config *c) { g->cfg = *c; }
void log_set_cleaner_keep(struct log *g, log_cleaner_keep_fn fn, void *arg) {
    g->cleaner_keep = fn;
    g->cleaner_keep_arg = arg;
}
void log_set_cleaner_txn(struct log *g, log_stable_end_fn stable_end, log_aborted_fn aborted, void *arg) {
    g->cleaner_stable_end = stable_end;
    g->cleaner_aborted = aborted;
    g->cleaner_txn_arg = arg;
}
void log_set_cleaner_drop(struct log *g, log_cleaner_drop_fn fn, void *arg) {
    g->cleaner_drop = fn;
    g->cleaner_drop_arg = arg;
}
sl_err log_error(const struct log *g) { return g->werr; }

uint64_t log_size_bytes(const struct log *g) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < g->seg_count; i++) n += g->segs[i]->size_bytes;
    return n;
}

/* The first record at or after ts in the batch at pos, or the batch's base offset when its
 * records are compressed (finding the exact record would need the codec; Kafka clients skip
 * records older than they asked for). */
static sl_err log_time_in_batch(struct seg *s, uint64_t pos, uint32_t len, int64_t ts, int64_t *offset,
                                int64_t *found_ts) {
    uint8_t *buf = sl_xmalloc(len);
    sl_err e = SL_IO;
    ssize_t n = pread(s->fd, buf, len, (off_t)pos);
    if (n == (ssize_t)len) {
        struct kafka_batch_header h;
        e = kafka_batch_header_read(buf, len, &h);
        *offset = h.base_offset;
        *found_ts = h.max_timestamp;
        struct kafka_record_iter it;
        if (!e && kafka_record_iter_init(&it, buf, len) == SL_OK) {
            struct kafka_record r;
            while (kafka_record_next(&it, &r) == SL_OK) {
                if (r.timestamp >= ts) {
                    *offset = r.offset;
                    *found_ts = r.timestamp;
                    break;
                }
            }
        }
    }
    free(buf);
    return e;
}

/* Pins segment s with its fd open and its index loaded (for max_timestamp and time lookups);
 * on an error it is unpinned again. */
static sl_err log_seg_pin_indexed(struct log *g, struct seg *s) {
    seg_ref(s);
    sl_err e = seg_open_fd(s);
    if (!e) e = log_seg_ensure_index(g, s);
    if (e) seg_unref(s);
    return e;
}

sl_err log_offset_for_time(struct log *g, int64_t ts, int64_t *offset, int64_t *found_ts) {
    for (uint32_t i = 0; i < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        if (s->written_bytes == 0) continue;
        sl_err e = log_seg_pin_indexed(g, s);
        if (e) return e;
        if (s->ix.max_timestamp < ts) {
            seg_unref(s);
            continue;
        }
        int64_t from = SL_MAX(index_time_lookup(&s->ix, s->base_offset, ts), g->start_offset);
        uint64_t pos;
        uint32_t len;
        int64_t base, next;
        e = log_seek_in_seg(s, from, &pos, &len, &base, &next);
        while (!e && pos < s->written_bytes) {
            uint8_t head[KAFKA_BATCH_HEADER_BYTES];
            struct kafka_batch_header h;
            if (pread(s->fd, head, sizeof(head), (off_t)pos) != (ssize_t)sizeof(head) ||
                kafka_batch_header_read(head, sizeof(head), &h) != SL_OK) {
                e = SL_IO;
                break;
            }
            uint32_t blen = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
            if (h.max_timestamp >= ts) {
                e = log_time_in_batch(s, pos, blen, ts, offset, found_ts);
                if (!e && *offset < g->start_offset) *offset = g->start_offset;
                seg_unref(s);
                return e;
            }
            pos += blen;
        }
        seg_unref(s);
        if (e && e != SL_OFFSET_OUT_OF_RANGE) return e;
    }
    return SL_NOT_FOUND;
}

sl_err log_max_timestamp(struct log *g, int64_t *offset, int64_t *found_ts) {
    int64_t max = -1;
    for (uint32_t i = 0; i < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        if (s->written_bytes == 0) continue;
        sl_err e = log_seg_pin_indexed(g, s);
        if (e) return e;
        if (s->ix.max_timestamp > max) max = s->ix.max_timestamp;
        seg_unref(s);
    }
    if (max < 0) return SL_NOT_FOUND;
    /* The first record at or after the newest time is the first one at it. */
    return log_offset_for_time(g, max, offset, found_ts);
}

static bool log_idle_pred(void *arg) { return log_write_idle(arg); }

sl_err log_flush(struct log *g, bool sync, int32_t timeout_ms) {
    struct loop *l = store_loop(g->store);
    uint32_t rewinds = g->rewinds;
    store_mark_dirty(g->store, g);
    if (!loop_run_until(l, log_idle_pred, g, timeout_ms)) return g->werr ? g->werr : SL_IO;
    if (g->werr) return g->werr;
    /* The disk was full: some of what was queued failed its waiters and is not in the log. */
    if (g->rewinds != rewinds) return SL_NO_SPACE;
    if (sync && g->cfg.durability == LOG_DURABILITY_NONE) {
        struct seg *s = log_active(g);
        if (s->fd >= 0 && sio_fdatasync(store_io(g->store), s->fd) != 0) {
            /* Never retried: a later fdatasync that succeeds proves nothing (log_write.c). */
            log_fail(g, SL_IO);
            return SL_IO;
        }
        s->synced_next_offset = s->written_next_offset;
        log_update_synced(g);
    }
    return SL_OK;
}

sl_err log_truncate(struct log *g, int64_t offset) {
    sl_err e = log_flush(g, false, 60000);
    if (e && e != SL_NO_SPACE) return e; /* after a rewind the log is consistent: go on */
    if (offset >= g->next_offset) return SL_OK;
    if (offset < g->start_offset) offset = g->start_offset;
    int32_t i = log_seg_find(g, offset);
    SL_ASSERT(i >= 0);
    while (g->seg_count > (uint32_t)i + 1) {
        struct seg *gone = g->segs[--g->seg_count];
        seg_delete(gone);
    }
    struct seg *s = g->segs[i];
    e = seg_open_fd(s);
    if (!e) e = log_seg_ensure_index(g, s);
    uint64_t pos = 0;
    uint32_t len;
    int64_t base = s->base_offset, next;
    if (!e && offset > s->base_offset) e = log_seek_in_seg(s, offset, &pos, &len, &base, &next);
    if (e) return e == SL_OFFSET_OUT_OF_RANGE ? SL_OK : e;
    if (s->sealed) {
        /* It becomes the active segment again: writable, and its index files are stale. */
        index_remove_files(store_io(g->store), s->stem);
        seg_close_fd(s);
        s->sealed = false;
        if ((e = seg_open_fd(s))) return e;
    }
    if (sio_ftruncate(store_io(g->store), s->fd, (off_t)pos) != 0) return SL_IO;
    index_truncate(&s->ix, pos);
    s->recent_count = 0;
    s->last_read.len = 0;
    s->size_bytes = s->written_bytes = s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = pos;
    s->next_offset = s->written_next_offset = base;
    if (s->synced_next_offset > base) s->synced_next_offset = base;
    g->next_offset = g->written_offset = base;
    if (g->synced_offset > base) g->synced_offset = base;
    if (g->start_offset > base) g->start_offset = base;
    log_offsets_check(g, s);
    return SL_OK;
}
