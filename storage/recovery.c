/* recovery.c: opening a log directory at startup.
 *
 * Sealed segments carry a checksummed .index naming their length and next offset; with the
 * store's clean-shutdown marker those are trusted and nothing is scanned. Without it, every
 * segment lacking a good index (the active one, one caught mid-seal) is walked batch by
 * batch: size, magic, CRC32C and offset continuity. The first batch that fails ends the
 * segment: the file is truncated there, later segments are deleted (nothing after a tear is
 * ever visible), the index is rebuilt, and what was dropped is logged. */
#include <dirent.h>
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

#define RECOVERY_BUF_BYTES (1u << 20)

/* Where a scan reads: a segment file (fd, read in RECOVERY_BUF_BYTES windows) or, with mem
 * set, bytes already in memory (the fuzz target feeds a segment without a file). */
struct scan_buf {
    int fd;
    const uint8_t *mem;
    uint64_t size; /* file or memory length */
    uint8_t *own;  /* the window's storage (fd only) */
    const uint8_t *p;
    uint32_t cap;
    uint64_t at;  /* file position of p[0] */
    uint32_t len; /* valid bytes in p */
};

/* Makes [pos, pos+need) readable in b; false if the file ends first or reading fails. */
static bool scan_fill(struct scan_buf *b, uint64_t pos, uint32_t need) {
    if (pos + need > b->size) return false;
    if (b->mem) {
        b->p = b->mem, b->at = 0, b->len = (uint32_t)SL_MIN(b->size, UINT32_MAX);
        return pos + need <= b->len;
    }
    if (pos >= b->at && pos + need <= b->at + b->len) return true;
    if (need > b->cap) {
        b->cap = need;
        b->own = sl_xrealloc(b->own, b->cap);
    }
    uint32_t want = (uint32_t)SL_MIN((uint64_t)b->cap, b->size - pos);
    uint32_t got = 0;
    while (got < want) {
        ssize_t n = pread(b->fd, b->own + got, want - got, (off_t)(pos + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (uint32_t)n;
    }
    b->p = b->own;
    b->at = pos;
    b->len = got;
    return got >= need;
}

/* The end of the data in [pos, size): just past its last non-zero byte, pos if it is all
 * zero. What follows is zero fill (preallocation), not lost data. On a read error the whole
 * range counts as data. */
static uint64_t scan_data_end(struct scan_buf *b, uint64_t pos) {
    uint64_t end = pos;
    while (pos < b->size) {
        uint32_t n = (uint32_t)SL_MIN((uint64_t)(b->mem ? UINT32_MAX : b->cap), b->size - pos);
        if (!scan_fill(b, pos, n)) return b->size;
        const uint8_t *q = b->p + (pos - b->at);
        for (uint32_t i = n; i > 0; i--) {
            if (q[i - 1]) {
                end = pos + i;
                break;
            }
        }
        pos += n;
    }
    return end;
}

/* The walk itself: whole batches from pos 0 whose offsets start at base_offset or later and
 * rise (a compacted segment has gaps), each checked (size, magic, CRC32C) and tracked in ix. Returns where the valid prefix ends;
 * *next is the offset after it. */
static uint64_t scan_batches(struct scan_buf *b, int64_t base_offset, struct seg_index *ix, uint32_t interval,
                             int64_t *next) {
    uint64_t pos = 0;
    int64_t expect = base_offset;
    for (;;) {
        struct kafka_batch_header h;
        if (!scan_fill(b, pos, KAFKA_BATCH_HEADER_BYTES)) break;
        if (kafka_batch_header_read(b->p + (pos - b->at), KAFKA_BATCH_HEADER_BYTES, &h) != SL_OK) break;
        uint64_t len = (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        /* Compaction leaves gaps between batches, never overlaps; a segment's offsets stay
         * within 2^32 of its base (the index keeps 32-bit deltas, as Kafka's does). */
        if (h.base_offset < expect || h.base_offset - base_offset > (int64_t)UINT32_MAX || len > (1u << 30)) break;
        if (!scan_fill(b, pos, (uint32_t)len)) break;
        if (kafka_batch_check_log(b->p + (pos - b->at), (size_t)len, &h) != SL_OK) break;
        index_track(ix, base_offset, pos, (uint32_t)len, h.base_offset, h.max_timestamp, interval);
        expect = kafka_batch_last_offset(&h) + 1;
        pos += len;
    }
    *next = expect;
    return pos;
}

uint64_t recovery_scan_mem(const uint8_t *p, size_t len, int64_t base_offset, struct seg_index *ix,
                           uint32_t interval, int64_t *next, uint64_t *data_end) {
    struct scan_buf b = {.fd = -1, .mem = p, .size = len};
    uint64_t pos = scan_batches(&b, base_offset, ix, interval, next);
    *data_end = pos < len ? scan_data_end(&b, pos) : pos;
    return pos;
}

sl_err recovery_scan_segment(struct log *g, struct seg *s, struct recovery_report *rep) {
    struct stat st;
    if (s->fd < 0 && seg_open_fd(s) != SL_OK) return SL_IO;
    if (fstat(s->fd, &st) != 0) return SL_IO;
    uint64_t file_size = (uint64_t)st.st_size;
    struct scan_buf b = {.fd = s->fd, .size = file_size, .own = sl_xmalloc(RECOVERY_BUF_BYTES),
                         .cap = RECOVERY_BUF_BYTES};
    index_free(&s->ix);
    int64_t expect;
    uint64_t pos = scan_batches(&b, s->base_offset, &s->ix, g->cfg.index_interval_bytes, &expect);
    rep->scanned_bytes += pos;
    rep->index_rebuilt = true;
    if (pos < file_size) {
        /* A torn batch is usually followed by the segment's preallocated zero fill: only the
         * bytes up to the last non-zero one were data, the rest is reported apart. */
        uint64_t data_end = scan_data_end(&b, pos);
        rep->zero_tail_bytes += file_size - data_end;
        if (data_end > pos) {
            rep->dropped_bytes += data_end - pos;
            SL_WARN("%s: segment %lld: dropped %llu bytes after the last valid batch (offset %lld, "
                    "position %llu): torn write or garbage; %llu bytes of zero fill after them",
                    g->dir, (long long)s->base_offset, (unsigned long long)(data_end - pos), (long long)expect,
                    (unsigned long long)pos, (unsigned long long)(file_size - data_end));
        }
        if (sio_ftruncate(store_io(g->store), s->fd, (off_t)pos) != 0) {
            SL_WARN("%s: cannot truncate segment %lld: %s", g->dir, (long long)s->base_offset,
                    strerror(errno));
            /* A segment that takes appends must not go on over the bytes: the offsets after pos
             * are handed out again, and a later recovery would find the old batches there valid
             * and bring them back. (A sealed one, opened read-only, is followed by the next.) */
            if (!s->sealed) {
                free(b.own);
                return SL_IO;
            }
        }
    }
    free(b.own);
    s->size_bytes = s->written_bytes = s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = pos;
    s->next_offset = s->written_next_offset = s->synced_next_offset = s->sync_requested_next = expect;
    s->index_loaded = true;
    return SL_OK;
}

static int recovery_cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted base offsets of the directory's segments; removes leftover temporary files. */
static sl_err recovery_list(struct sio *io, const char *dir, int64_t **bases, uint32_t *count) {
    DIR *d = opendir(dir);
    if (!d) return SL_IO;
    uint32_t cap = 16;
    *bases = sl_xmalloc(cap * sizeof(**bases));
    *count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t base;
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
            char path[4400];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            sio_unlink(io, path);
            continue;
        }
        if (!seg_parse_name(de->d_name, &base)) continue;
        if (*count == cap) *bases = sl_xrealloc(*bases, (cap *= 2) * sizeof(**bases));
        (*bases)[(*count)++] = base;
    }
    closedir(d);
    qsort(*bases, *count, sizeof(**bases), recovery_cmp_i64);
    return SL_OK;
}

static int64_t recovery_read_start(const char *dir) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/start_offset", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long v = -1;
    if (fscanf(f, "%lld", &v) != 1) v = -1;
    fclose(f);
    return v;
}

static sl_err recovery_seg_size(struct seg *s, uint64_t *size) {
    char path[4200];
    struct stat st;
    seg_path(s, ".log", path, sizeof(path));
    if (stat(path, &st) != 0) return SL_IO;
    *size = (uint64_t)st.st_size;
    return SL_OK;
}

/* A sealed (not last) segment: trust its index if clean or if it checks out, else scan. */
static sl_err recovery_open_sealed(struct log *g, struct seg *s, int64_t next_base, bool clean,
                                   struct recovery_report *rep) {
    uint64_t size;
    if (recovery_seg_size(s, &size)) return SL_IO;
    s->sealed = true;
    if (clean) {
        s->size_bytes = s->written_bytes = s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = size;
        s->next_offset = s->written_next_offset = s->synced_next_offset = s->sync_requested_next = next_base;
        return SL_OK; /* the index loads on first use */
    }
    uint64_t bytes;
    int64_t next;
    if (index_load(&s->ix, s->stem, s->base_offset, &bytes, &next) == SL_OK && bytes == size &&
        next == next_base) {
        s->size_bytes = s->written_bytes = s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = size;
        s->next_offset = s->written_next_offset = s->synced_next_offset = s->sync_requested_next = next;
        s->index_loaded = true;
        return SL_OK;
    }
    s->sealed = false;
    sl_err e = seg_open_fd(s);
    if (!e) e = recovery_scan_segment(g, s, rep);
    if (e) return e;
    if (sio_fdatasync(store_io(g->store), s->fd) != 0) return SL_IO;
    s->sealed = true;
    index_save(store_io(g->store), &s->ix, s->stem, s->base_offset, s->size_bytes, s->next_offset);
    seg_close_fd(s);
    return SL_OK;
}

static sl_err recovery_open_active(struct log *g, struct seg *s, bool clean,
                                   struct recovery_report *rep) {
    sl_err e = seg_open_fd(s);
    if (e) return e;
    uint64_t size, bytes;
    int64_t next;
    if (recovery_seg_size(s, &size)) return SL_IO;
    if (clean && index_load(&s->ix, s->stem, s->base_offset, &bytes, &next) == SL_OK && bytes == size) {
        s->size_bytes = s->written_bytes = s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = size;
        s->next_offset = s->written_next_offset = s->synced_next_offset = s->sync_requested_next = next;
        s->index_loaded = true;
    } else {
        e = recovery_scan_segment(g, s, rep);
        if (e) return e;
        /* What survived a crash in the page cache is made durable before anyone relies on it.
         * An empty segment holds nothing to make durable: skipping it spares a journal commit
         * per partition when thousands of new, empty ones are found after a crash. */
        if (s->size_bytes > 0 && sio_fdatasync(store_io(g->store), s->fd) != 0) return SL_IO;
    }
    /* Appends follow, so its index files go stale: a crash must find none and scan. */
    index_remove_files(store_io(g->store), s->stem);
    return SL_OK;
}

void recovery_new_log(struct log *g, int fd) {
    SL_ASSERT(fd >= 0 && g->seg_count == 0);
    struct seg *s = seg_new(g->store, g, g->dir, 0);
    s->fd = fd;
    s->index_loaded = true;
    log_segs_push(g, s);
    g->next_offset = g->written_offset = g->synced_offset = s->next_offset;
    g->start_offset = s->base_offset;
    log_offsets_check(g, NULL);
}

sl_err recovery_open_log(struct log *g, bool clean, struct recovery_report *rep) {
    int64_t *bases;
    uint32_t n;
    sl_err e = recovery_list(store_io(g->store), g->dir, &bases, &n);
    if (e) return e;
    int64_t start = recovery_read_start(g->dir);
    if (n == 0) {
        struct seg *s = seg_new(g->store, g, g->dir, start > 0 ? start : 0);
        e = seg_create_file(s);
        if (e) {
            seg_free(s);
            free(bases);
            return e;
        }
        s->index_loaded = true;
        log_segs_push(g, s);
    }
    for (uint32_t i = 0; i < n && !e; i++) {
        struct seg *s = seg_new(g->store, g, g->dir, bases[i]);
        log_segs_push(g, s);
        e = i + 1 < n ? recovery_open_sealed(g, s, bases[i + 1], clean, rep)
                      : recovery_open_active(g, s, clean, rep);
        if (e || i + 1 == n || s->next_offset == bases[i + 1]) continue;
        if (bases[i + 1] <= start) {
            /* The hole lies below the log's start: these segments are leftovers of a deletion
             * that failed or was cut short (retention deletes oldest first), not a tear. They
             * go, not the segments after them, which hold the log. */
            SL_WARN("%s: segment %lld ends at offset %lld, before the next segment's base %lld, all below "
                    "the start offset %lld: removing %u leftover segment(s)", g->dir, (long long)s->base_offset,
                    (long long)s->next_offset, (long long)bases[i + 1], (long long)start, g->seg_count);
            for (uint32_t j = 0; j < g->seg_count; j++) seg_delete(g->segs[j]);
            g->seg_count = 0;
            continue;
        }
        /* A tear inside a segment that has successors: they can only follow a hole, so they
         * go, and this segment becomes the active one again. */
        SL_WARN("%s: segment %lld ends at offset %lld, before the next segment's base %lld: "
                "dropping %u later segment(s)", g->dir, (long long)s->base_offset,
                (long long)s->next_offset, (long long)bases[i + 1], n - i - 1);
        for (uint32_t j = i + 1; j < n; j++) {
            struct seg *gone = seg_new(g->store, NULL, g->dir, bases[j]);
            seg_delete(gone);
        }
        n = i + 1;
        index_remove_files(store_io(g->store), s->stem);
        seg_close_fd(s);
        s->sealed = false;
        e = seg_open_fd(s);
    }
    free(bases);
    if (e) return e;
    struct seg *a = log_active(g);
    a->sealed = false;
    if (a->fd < 0) e = seg_open_fd(a);
    g->next_offset = g->written_offset = g->synced_offset = a->next_offset;
    g->start_offset = SL_MIN(SL_MAX(g->segs[0]->base_offset, start), g->next_offset);
    log_offsets_check(g, NULL);
    /* A crash in the middle of a drain (retention.c) left the start at the end but old
     * segments on disk: the first loop turn finishes it. */
    if (!e && g->start_offset == g->next_offset && (g->seg_count > 1 || a->size_bytes > 0)) {
        g->drain_pending = true;
        store_mark_dirty(g->store, g);
    }
    return e;
}
