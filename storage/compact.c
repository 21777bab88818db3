/* compact.c: the store's log cleaner (see compact.h).
 *
 * Threads: the loop owns every struct log and struct seg. The cleaner thread sees only its
 * job: file paths, offsets and sizes copied on the loop, plus the key map and output buffers
 * the job owns. It opens the segment files itself (read-only) and writes the cleaned files; it
 * never touches a log. The hand-over is a mutex-protected job pointer one way and an eventfd
 * the loop reads through io_uring the other way, so the loop never blocks on the thread except
 * when a log that has a pass running goes away (cleaner_forget_log) or the store closes.
 *
 * The swap's renames, index files and directory sync go through the store's I/O edge (sio.h),
 * so fault plans reach them; the thread's own reads and its .tmp file do not: a fault plan is
 * the loop's, not shared across threads, and a .tmp file is only ever removed on failure. */
#include "storage/compact.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "base/logging.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_compress.h"
#include "protocol/kafka_records.h"
#include "storage/log_internal.h"
#include "storage/store_internal.h"

#define CLEANER_READ_BYTES (1u << 20)  /* segment reads: at least this much at a time */
#define CLEANER_WRITE_BYTES (1u << 20) /* cleaned output: written in runs of this much */
#define CLEANER_CHECK_MS 1000          /* how often the loop looks for a log to clean */
#define CLEANER_MAP_LOAD 0.75          /* the key map counts as full beyond this */

/* ---- the key map: 128-bit key hash -> offset of the key's newest record ---------------------- */

struct map_slot {
    uint64_t h1, h2; /* h1 == h2 == 0: empty (a real key hashing to that is kept, not mapped) */
    int64_t offset;
};

struct key_map {
    struct map_slot *slots;
    uint64_t cap, count, limit; /* cap a power of two */
};

static void map_init(struct key_map *m, uint64_t bytes) {
    uint64_t cap = 1024;
    while (cap * 2 * sizeof(struct map_slot) <= bytes) cap *= 2;
    m->slots = sl_xcalloc(cap, sizeof(*m->slots));
    m->cap = cap;
    m->count = 0;
    m->limit = (uint64_t)((double)cap * CLEANER_MAP_LOAD);
}

static XXH128_hash_t map_hash(const struct kafka_bytes *key) {
    return XXH3_128bits(key->p ? key->p : (const uint8_t *)"", (size_t)key->len);
}

static struct map_slot *map_find(struct key_map *m, XXH128_hash_t h) {
    uint64_t i = h.low64 & (m->cap - 1);
    for (;;) {
        struct map_slot *s = &m->slots[i];
        if ((s->h1 == 0 && s->h2 == 0) || (s->h1 == h.low64 && s->h2 == h.high64)) return s;
        i = (i + 1) & (m->cap - 1);
    }
}

/* false when the map is full (the key was not added). */
static bool map_put(struct key_map *m, XXH128_hash_t h, int64_t offset) {
    if (h.low64 == 0 && h.high64 == 0) return true;
    struct map_slot *s = map_find(m, h);
    if (s->h1 == 0 && s->h2 == 0) {
        if (m->count >= m->limit) return false;
        s->h1 = h.low64;
        s->h2 = h.high64;
        m->count++;
    }
    s->offset = offset;
    return true;
}

/* The newest offset of the key in the map, -1 if it is not there. */
static int64_t map_get(struct key_map *m, XXH128_hash_t h) {
    if (h.low64 == 0 && h.high64 == 0) return -1;
    struct map_slot *s = map_find(m, h);
    return s->h1 == 0 && s->h2 == 0 ? -1 : s->offset;
}

/* ---- a job ----------------------------------------------------------------------------------- */

struct job_seg {
    char *stem;          /* "<dir>/<base 20 digits>" */
    struct seg *seg;     /* loop side only: checked at the swap, never dereferenced by the thread */
    int64_t base_offset, next_offset;
    uint64_t size_bytes;
    bool dirty;          /* in the section to map (compaction) or to rewrite (drops) */
    uint32_t drops;      /* the owner's removed offsets in the segment (drops) */
    /* results */
    bool mapped;         /* wholly mapped (dirty ones) */
    bool cleaned;        /* <stem>.log.cleaned.tmp written and synced */
    uint64_t new_size;
    uint64_t removed;    /* records removed */
    struct seg_index ix; /* of the cleaned file */
};

struct job {
    struct log *log;
    uint64_t start_us;        /* loop's monotonic clock when handed to the thread */
    struct job_seg *segs;
    uint32_t seg_count;
    uint32_t index_interval_bytes;
    int64_t now_ms, delete_retention_ms;
    struct key_map map;
    struct kafka_records_scratch scratch;
    uint8_t *cbuf; /* a thinned compressed batch, compressed again */
    size_t ccap;
    int64_t *keep; /* base offsets of batches kept even when emptied, ascending */
    uint32_t keep_count;
    /* Drops (log_set_cleaner_drop) for a log that is not compacted: no key map, the records at
     * these offsets go from the dirty segments. */
    bool drop_only;
    int64_t *drop; /* ascending */
    uint32_t drop_count;
    /* Aborted transactions in the pass's segments (log_set_cleaner_txn), by last offset. */
    struct log_aborted_txn *aborted;
    uint32_t aborted_count;
    /* results */
    uint32_t rewrite_count;   /* segments [0, rewrite_count) were rewritten (or needed nothing) */
    int64_t mapped_end;       /* one past the last offset mapped: the next clean point */
    bool partial;             /* the map filled before the end of the dirty section */
    bool failed;
    char err[4400];
};

static void job_free(struct job *j) {
    for (uint32_t i = 0; i < j->seg_count; i++) {
        free(j->segs[i].stem);
        index_free(&j->segs[i].ix);
    }
    free(j->segs);
    free(j->map.slots);
    kafka_records_scratch_free(&j->scratch);
    free(j->cbuf);
    free(j->keep);
    free(j->drop);
    free(j->aborted);
    free(j);
}

/* A sequential reader of one segment's batches. */
struct seg_reader {
    int fd;
    uint64_t size, pos; /* pos: the next batch's start */
    uint8_t *buf;
    uint64_t at;        /* file position of buf[0] */
    uint32_t len, cap;
};

static bool reader_fill(struct seg_reader *r, uint64_t pos, uint32_t need) {
    if (pos >= r->at && pos + need <= r->at + r->len) return true;
    if (need > r->cap) {
        r->cap = need;
        r->buf = sl_xrealloc(r->buf, r->cap);
    }
    uint32_t want = (uint32_t)SL_MIN((uint64_t)r->cap, r->size - pos);
    if (want < need) return false;
    uint32_t done = 0;
    while (done < want) {
        ssize_t n = pread(r->fd, r->buf + done, want - done, (off_t)(pos + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += (uint32_t)n;
    }
    r->at = pos;
    r->len = want;
    return true;
}

/* The next batch: SL_OK with p and len set, SL_NOT_FOUND at the end, SL_CORRUPT otherwise. */
static sl_err reader_next(struct seg_reader *r, const uint8_t **p, uint32_t *len) {
    if (r->pos >= r->size) return SL_NOT_FOUND;
    if (!reader_fill(r, r->pos, KAFKA_BATCH_HEADER_BYTES)) return SL_CORRUPT;
    struct kafka_batch_header h;
    if (kafka_batch_header_read(r->buf + (r->pos - r->at), KAFKA_BATCH_HEADER_BYTES, &h)) return SL_CORRUPT;
    uint64_t l = (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    if (r->pos + l > r->size || l > (1u << 30)) return SL_CORRUPT;
    if (!reader_fill(r, r->pos, (uint32_t)l)) return SL_CORRUPT;
    *p = r->buf + (r->pos - r->at);
    *len = (uint32_t)l;
    r->pos += l;
    return SL_OK;
}

static bool reader_open(struct seg_reader *r, struct job *j, const struct job_seg *s) {
    char path[4200];
    snprintf(path, sizeof(path), "%s.log", s->stem);
    memset(r, 0, sizeof(*r));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        snprintf(j->err, sizeof(j->err), "%s: %s", path, strerror(errno));
        return false;
    }
    r->size = s->size_bytes;
    r->cap = CLEANER_READ_BYTES;
    r->buf = sl_xmalloc(r->cap);
    return true;
}

static void reader_close(struct seg_reader *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
}

/* Whether a transactional batch of producer pid at offset belongs to an aborted transaction.
 * The list is short (aborted transactions in the pass's segments): a linear walk. */
static bool job_aborted(const struct job *j, const struct kafka_batch_header *h) {
    if (!(h->attributes & KAFKA_ATTR_TRANSACTIONAL) || (h->attributes & KAFKA_ATTR_CONTROL)) return false;
    for (uint32_t i = 0; i < j->aborted_count; i++) {
        const struct log_aborted_txn *a = &j->aborted[i];
        if (a->producer_id == h->producer_id && a->first_offset <= h->base_offset && h->base_offset < a->last_offset)
            return true;
    }
    return false;
}

/* Step 1: the newest offset of every key of the dirty segments. false if a file failed. */
static bool job_map(struct job *j) {
    j->mapped_end = -1;
    if (j->drop_only) { /* nothing to map: the owner named what goes */
        j->mapped_end = j->segs[j->seg_count - 1].next_offset;
        return true;
    }
    for (uint32_t i = 0; i < j->seg_count; i++) {
        struct job_seg *s = &j->segs[i];
        if (!s->dirty) continue;
        struct seg_reader r;
        if (!reader_open(&r, j, s)) return false;
        /* A segment only counts as mapped once all of it is: a half-mapped one would make the
         * rewrite keep an older value whose newer one the map missed, which is harmless, but
         * the clean point must not pass records that were never looked at. */
        const uint8_t *p;
        uint32_t len;
        sl_err e;
        bool full = false;
        while (!full && (e = reader_next(&r, &p, &len)) == SL_OK) {
            struct kafka_records_iter it;
            struct kafka_records_rec rec;
            if (kafka_records_open(&it, p, len, &j->scratch)) {
                e = SL_CORRUPT;
                break;
            }
            /* Markers hold no key's value; an aborted transaction's records are no key's
             * newest: they go in the rewrite, and older values must stay. */
            if ((it.h.attributes & KAFKA_ATTR_CONTROL) || job_aborted(j, &it.h)) continue;
            while ((e = kafka_records_next(&it, &rec)) == SL_OK) {
                if (rec.key.len < 0) continue;
                if (!map_put(&j->map, map_hash(&rec.key), rec.offset)) {
                    full = true;
                    break;
                }
            }
            if (e != SL_NOT_FOUND && !full) break;
            e = SL_OK;
        }
        reader_close(&r);
        if (full) {
            j->partial = true;
            break;
        }
        if (e != SL_NOT_FOUND) {
            snprintf(j->err, sizeof(j->err), "%s.log: unreadable batch while mapping", s->stem);
            return false;
        }
        s->mapped = true;
        j->mapped_end = s->next_offset;
    }
    return true;
}

struct keep_ctx {
    struct job *j;
    uint64_t removed;
    bool aborted; /* the batch is an aborted transaction's: every record goes */
};

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool keep_record(void *arg, const struct kafka_records_rec *rec) {
    struct keep_ctx *k = arg;
    if (k->aborted) {
        k->removed++;
        return false;
    }
    if (k->j->drop_only) {
        bool gone = bsearch(&rec->offset, k->j->drop, k->j->drop_count, sizeof(int64_t), cmp_i64) != NULL;
        k->removed += gone;
        return !gone;
    }
    if (rec->key.len < 0) return true;
    /* The map holds the newest offset of every key of the mapped segments: an older record of
     * such a key goes. A key it does not have (a record of the clean section whose key the
     * dirty section never wrote again) is still at its newest. */
    int64_t newest = map_get(&k->j->map, map_hash(&rec->key));
    if (newest >= 0 && rec->offset < newest) {
        k->removed++;
        return false;
    }
    /* The newest record of its key, a tombstone: its older values went in this pass or an
     * earlier one (the clean point never passes unmapped records), so once consumers had
     * delete_retention_ms to see it, it goes too. */
    /* Written without an addition: delete.retention.ms may be Long.MAX_VALUE, and a record's
     * timestamp is whatever its producer sent. */
    int64_t ts = rec->timestamp, now = k->j->now_ms;
    if (rec->value.len < 0 && ts < now && (uint64_t)now - (uint64_t)ts > (uint64_t)k->j->delete_retention_ms) {
        k->removed++;
        return false;
    }
    return true;
}

struct out_file {
    int fd;
    uint8_t *buf;
    uint32_t len;
    uint64_t pos; /* file position of buf[0] */
};

static bool out_flush(struct out_file *o) {
    uint32_t done = 0;
    while (done < o->len) {
        ssize_t n = pwrite(o->fd, o->buf + done, o->len - done, (off_t)(o->pos + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += (uint32_t)n;
    }
    o->pos += o->len;
    o->len = 0;
    return true;
}

static bool out_put(struct out_file *o, const uint8_t *p, uint32_t len) {
    if (o->len + len > CLEANER_WRITE_BYTES && !out_flush(o)) return false;
    if (len > CLEANER_WRITE_BYTES) {
        o->len = 0;
        uint32_t done = 0;
        while (done < len) {
            ssize_t n = pwrite(o->fd, p + done, len - done, (off_t)(o->pos + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            done += (uint32_t)n;
        }
        o->pos += len;
        return true;
    }
    memcpy(o->buf + o->len, p, len);
    o->len += len;
    return true;
}

/* The batch held back by job_rewrite: its own copy, since the reader's window moves on. */
struct held {
    uint8_t *p;
    uint32_t len, cap;
};

static void held_set(struct held *b, const uint8_t *p, uint32_t len) {
    if (b->cap < len) b->p = sl_xrealloc(b->p, b->cap = len);
    memcpy(b->p, p, len);
    b->len = len;
}

/* On the loop, while planning: the producers' last batches, from the log's owner. */
static void job_keep_list(struct job *j, struct log *g) {
    if (!g->cleaner_keep) return;
    uint32_t cap = 64;
    for (int round = 0; round < 4; round++) {
        j->keep = sl_xrealloc(j->keep, cap * sizeof(*j->keep));
        uint32_t n = g->cleaner_keep(g->cleaner_keep_arg, j->keep, cap);
        if (n <= cap) {
            j->keep_count = n;
            qsort(j->keep, n, sizeof(*j->keep), cmp_i64);
            return;
        }
        cap = n;
    }
}

static bool job_keeps(const struct job *j, int64_t base) {
    return j->keep_count && bsearch(&base, j->keep, j->keep_count, sizeof(*j->keep), cmp_i64);
}

/* Step 2 for one segment: <stem>.log.cleaned.tmp, synced, and its index; nothing is written if
 * no record goes. false on an I/O error (the pass stops; nothing is swapped from here on). */
static bool job_rewrite(struct job *j, struct job_seg *s, uint8_t **fbuf, size_t *fcap) {
    struct seg_reader r;
    if (!reader_open(&r, j, s)) return false;
    char path[4200];
    snprintf(path, sizeof(path), "%s.log.cleaned.tmp", s->stem);
    struct out_file o = {.fd = -1};
    struct keep_ctx k = {.j = j};
    const uint8_t *p;
    uint32_t len;
    sl_err e;
    bool ok = true, any_removed = false;
    /* The batches are held back by one, so the segment's last batch is known when it comes:
     * it stays even when empty. */
    struct held pend = {0};
    int32_t pend_kept = 0;
    int64_t pend_base = 0, pend_max_ts = -1;
    index_init(&s->ix);
    uint64_t out_pos = 0;
    for (;;) {
        e = reader_next(&r, &p, &len);
        bool last = e != SL_OK;
        if (pend.len && (pend_kept > 0 || last)) {
            if (o.fd < 0) {
                o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                o.buf = sl_xmalloc(CLEANER_WRITE_BYTES);
                if (o.fd < 0) {
                    snprintf(j->err, sizeof(j->err), "%s: %s", path, strerror(errno));
                    ok = false;
                    break;
                }
            }
            index_track(&s->ix, s->base_offset, out_pos, pend.len, pend_base, pend_max_ts, j->index_interval_bytes);
            if (!out_put(&o, pend.p, pend.len)) {
                snprintf(j->err, sizeof(j->err), "%s: %s", path, strerror(errno));
                ok = false;
                break;
            }
            out_pos += pend.len;
        }
        pend.len = 0;
        if (last) break;
        struct kafka_batch_header h;
        if (kafka_batch_header_read(p, len, &h)) {
            e = SL_CORRUPT;
            break;
        }
        pend_base = h.base_offset;
        pend_max_ts = h.max_timestamp;
        if (h.attributes & KAFKA_ATTR_CONTROL) {
            held_set(&pend, p, len);
            pend_kept = 1;
            continue;
        }
        /* The survivors of a compressed batch take at most its decompressed size; the walk in
         * filter decompresses into the scratch, so that size is known only there: start with
         * a generous guess and grow on SL_TOO_LARGE. */
        size_t need = (size_t)len * 4 + KAFKA_BATCH_HEADER_BYTES;
        uint64_t removed_before = k.removed;
        uint32_t out_len = 0;
        int32_t kept = 0;
        k.aborted = job_aborted(j, &h);
        for (;;) {
            if (*fcap < need) *fbuf = sl_xrealloc(*fbuf, *fcap = need);
            k.removed = removed_before;
            e = kafka_records_filter(p, len, &j->scratch, keep_record, &k, *fbuf, *fcap, &out_len, &kept);
            if (e != SL_TOO_LARGE || need >= (256u << 20)) break;
            need *= 4;
        }
        if (e) break;
        /* A producer's last batch stays, emptied to its header if need be. */
        bool keep_empty = kept == 0 && h.producer_id >= 0 && job_keeps(j, h.base_offset);
        if (k.removed == removed_before) { /* nothing goes: the batch verbatim, codec and all */
            held_set(&pend, p, len);
        } else if (kept > 0 && kafka_batch_compression(&h) != 0) {
            /* Survivors of a compressed batch go back under its codec, as Kafka's cleaner
             * writes them; a codec that fails keeps them uncompressed (still a valid batch). */
            any_removed = true;
            size_t cneed = KAFKA_BATCH_HEADER_BYTES + kafka_compress_bound(kafka_batch_compression(&h), out_len);
            if (j->ccap < cneed) j->cbuf = sl_xrealloc(j->cbuf, j->ccap = cneed);
            uint32_t clen;
            if (kafka_batch_compress(*fbuf, out_len, kafka_batch_compression(&h), j->cbuf, j->ccap, &clen) == SL_OK)
                held_set(&pend, j->cbuf, clen);
            else
                held_set(&pend, *fbuf, out_len);
        } else {
            any_removed = true;
            held_set(&pend, *fbuf, out_len);
        }
        pend_kept = keep_empty ? 1 : kept;
    }
    if (ok && e != SL_NOT_FOUND) {
        snprintf(j->err, sizeof(j->err), "%s.log: unreadable batch while cleaning", s->stem);
        ok = false;
    }
    if (ok && o.fd >= 0 && !out_flush(&o)) {
        snprintf(j->err, sizeof(j->err), "%s: %s", path, strerror(errno));
        ok = false;
    }
    if (ok && o.fd >= 0 && fdatasync(o.fd) != 0) {
        snprintf(j->err, sizeof(j->err), "%s: fdatasync: %s", path, strerror(errno));
        ok = false;
    }
    if (o.fd >= 0) close(o.fd);
    free(o.buf);
    free(pend.p);
    reader_close(&r);
    if (!ok || !any_removed) {
        unlink(path);
        index_free(&s->ix);
        index_init(&s->ix);
        return ok;
    }
    s->cleaned = true;
    s->new_size = out_pos;
    s->removed = k.removed;
    return true;
}

static void job_run(struct job *j) {
    if (!job_map(j)) {
        j->failed = true;
        return;
    }
    if (j->mapped_end < 0) return; /* not even one dirty segment fit in the map */
    uint8_t *fbuf = NULL;
    size_t fcap = 0;
    for (uint32_t i = 0; i < j->seg_count; i++) {
        struct job_seg *s = &j->segs[i];
        if (s->base_offset >= j->mapped_end) break;
        if (j->drop_only && !s->dirty) {
            j->rewrite_count = i + 1;
            continue;
        }
        if (!job_rewrite(j, s, &fbuf, &fcap)) {
            j->failed = true;
            break;
        }
        j->rewrite_count = i + 1;
    }
    free(fbuf);
}

/* ---- the thread ------------------------------------------------------------------------------ */

struct cleaner {
    struct store *store;
    uint64_t map_bytes;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *todo; /* handed to the thread */
    struct job *done; /* handed back */
    bool stop;
    int efd;
    uint64_t efd_val;
    struct io_op efd_op;
    bool efd_armed;
    struct job *running; /* loop side: the job out with the thread */
    bool closing;        /* cleaner_free has begun: no new pass (its loop turns run the hooks) */
    uint64_t last_check_ms;
    struct cleaner_stats stats;
};

static void *cleaner_main(void *arg) {
    struct cleaner *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->todo && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop) break;
        struct job *j = c->todo;
        c->todo = NULL;
        pthread_mutex_unlock(&c->mu);
        job_run(j);
        pthread_mutex_lock(&c->mu);
        c->done = j;
        pthread_cond_broadcast(&c->cv);
        uint64_t one = 1;
        ssize_t n = write(c->efd, &one, sizeof(one));
        (void)n; /* an eventfd write of 1 cannot fail short of overflow */
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void cleaner_efd_done(struct io_op *op, int32_t res);

static void cleaner_efd_arm(struct cleaner *c) {
    if (c->efd_armed) return;
    c->efd_armed = true;
    struct io_uring_sqe *sqe = loop_sqe(store_loop(c->store), &c->efd_op);
    io_uring_prep_read(sqe, c->efd, &c->efd_val, sizeof(c->efd_val), 0);
}

struct cleaner *cleaner_new(struct store *st, uint64_t map_bytes) {
    struct cleaner *c = sl_xcalloc(1, sizeof(*c));
    c->store = st;
    c->map_bytes = map_bytes;
    c->efd = eventfd(0, EFD_CLOEXEC);
    c->efd_op.done = cleaner_efd_done;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (c->efd < 0 || pthread_create(&c->thread, NULL, cleaner_main, c) != 0) {
        SL_ERROR("cannot start the log cleaner: %s; compacted topics are not cleaned", strerror(errno));
        if (c->efd >= 0) close(c->efd);
        c->efd = -1;
        c->stop = true;
    }
    return c;
}

/* Waits for the job out with the thread; the caller owns it then. */
static struct job *cleaner_wait(struct cleaner *c) {
    pthread_mutex_lock(&c->mu);
    while (c->running && c->done != c->running) pthread_cond_wait(&c->cv, &c->mu);
    struct job *j = c->done;
    c->done = NULL;
    pthread_mutex_unlock(&c->mu);
    c->running = NULL;
    return j;
}

static void job_discard(struct job *j) {
    for (uint32_t i = 0; i < j->seg_count; i++) {
        if (!j->segs[i].cleaned) continue;
        char path[4200];
        snprintf(path, sizeof(path), "%s.log.cleaned.tmp", j->segs[i].stem);
        unlink(path);
    }
    if (j->log) j->log->cleaning = false;
    job_free(j);
}

void cleaner_free(struct cleaner *c) {
    if (!c) return;
    c->closing = true;
    if (c->running) job_discard(cleaner_wait(c));
    if (c->efd >= 0) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        /* The armed read of the eventfd is in the ring and its op lives in c: make it complete
         * (a write to the eventfd), and let the loop reap it before c goes. */
        if (c->efd_armed) {
            struct loop *l = store_loop(c->store);
            uint64_t one = 1;
            ssize_t n = write(c->efd, &one, sizeof(one));
            (void)n;
            for (int i = 0; i < 100 && c->efd_armed; i++) loop_run_once(l, 10);
        }
        close(c->efd);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

void cleaner_forget_log(struct cleaner *c, struct log *g) {
    if (!c || !c->running || c->running->log != g) return;
    struct job *j = cleaner_wait(c);
    j->log = NULL;
    g->cleaning = false;
    job_discard(j);
}

/* ---- the clean point on disk ----------------------------------------------------------------- */

/* <dir>/cleaner_offset: where the last pass's map ended, so a restart does not clean the whole
 * log again. Written by rename, not synced: a value that did not reach the disk only costs a
 * pass more work. A value past the log's end (a crash cut the tail) is bounded by it. */
static void clean_point_save(struct log *g) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/cleaner_offset", g->dir);
    FILE *f = sl_file_begin(path);
    if (!f) return;
    fprintf(f, "%lld\n", (long long)g->clean_upto);
    sl_file_commit(f, path, false);
}

static void clean_point_load(struct log *g) {
    g->clean_loaded = true;
    char path[4200];
    snprintf(path, sizeof(path), "%s/cleaner_offset", g->dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    long long v = 0;
    if (fscanf(f, "%lld", &v) == 1 && v > 0) g->clean_upto = SL_MIN((int64_t)v, g->written_offset);
    fclose(f);
}

/* ---- the swap (loop) ------------------------------------------------------------------------- */

static int32_t log_seg_index_of(const struct log *g, const struct seg *s) {
    for (uint32_t i = 0; i < g->seg_count; i++)
        if (g->segs[i] == s) return (int32_t)i;
    return -1;
}

static void cleaner_swap(struct cleaner *c, struct job *j) {
    struct log *g = j->log;
    g->cleaning = false;
    if (j->failed) SL_WARN("%s: log cleaning failed: %s", g->dir, j->err);
    if (j->partial)
        SL_WARN("%s: the cleaner's key map (cleaner_buffer_bytes) filled before the end of the dirty "
                "section: cleaned up to offset %lld, the next pass goes on from there",
                g->dir, (long long)j->mapped_end);
    uint32_t swapped = 0;
    uint64_t before = 0, after = 0, removed = 0;
    bool stop = false;
    for (uint32_t i = 0; i < j->rewrite_count; i++) {
        struct job_seg *js = &j->segs[i];
        char tmp[4200], path[4200];
        snprintf(tmp, sizeof(tmp), "%s.log.cleaned.tmp", js->stem);
        int32_t at = log_seg_index_of(g, js->seg);
        if (j->drop_only) {
            /* Drops have no order to keep: a segment the log start passed meanwhile is skipped,
             * one looked at but with nothing to drop remembers that it was. */
            if (at < 0) {
                if (js->cleaned) unlink(tmp);
                continue;
            }
            if (js->dirty && !js->cleaned) js->seg->dropped = js->drops;
        }
        /* Oldest first, and never past a segment that could not be swapped: a cleaned segment
         * may rely on older ones having lost their older values of its tombstones' keys. */
        if (stop || at < 0 || at + 1 >= (int32_t)g->seg_count || !js->seg->sealed) {
            stop = true;
            if (js->cleaned) unlink(tmp);
            continue;
        }
        if (!js->cleaned) continue;
        struct seg *old = js->seg;
        snprintf(path, sizeof(path), "%s.log", js->stem);
        struct sio *io = store_io(g->store);
        index_remove_files(io, old->stem); /* a crash after the rename must scan, not trust */
        if (sio_rename(io, tmp, path) != 0) {
            SL_WARN("%s: cannot swap in the cleaned segment %lld: %s", g->dir, (long long)old->base_offset,
                    strerror(errno));
            unlink(tmp);
            stop = true;
            continue;
        }
        struct seg *s = seg_new(g->store, g, g->dir, old->base_offset);
        s->sealed = true;
        s->size_bytes = s->written_bytes = s->alloc_bytes = s->zeroed_bytes = s->zero_pending_end = js->new_size;
        s->next_offset = s->written_next_offset = s->synced_next_offset = s->sync_requested_next = old->next_offset;
        s->created_ms = old->created_ms;
        s->dropped = js->drops;
        index_free(&s->ix);
        s->ix = js->ix;
        index_init(&js->ix);
        s->index_loaded = true;
        if (index_save(io, &s->ix, s->stem, s->base_offset, s->size_bytes, s->next_offset) != SL_OK)
            index_remove_files(io, s->stem); /* rebuilt from a scan when needed */
        g->segs[at] = s;
        seg_retire(old);
        before += js->size_bytes;
        after += js->new_size;
        removed += js->removed;
        swapped++;
    }
    if (swapped) log_sync_dir(store_io(g->store), g->dir);
    if (!j->drop_only && !j->failed && !stop && j->mapped_end > g->clean_upto) {
        g->clean_upto = j->mapped_end;
        clean_point_save(g);
    }
    if (swapped) {
        c->stats.passes++;
        c->stats.segments += swapped;
        c->stats.bytes_read += before;
        c->stats.bytes_reclaimed += before - after;
        c->stats.records_removed += removed;
        SL_INFO("%s: cleaned %u segment(s): %llu -> %llu bytes, %llu records removed", g->dir, swapped,
                (unsigned long long)before, (unsigned long long)after, (unsigned long long)removed);
    }
    if (j->partial) c->stats.partial_passes++;
    uint64_t now_us = loop_mono_us(store_loop(c->store));
    c->stats.pass_us += now_us > j->start_us ? now_us - j->start_us : 0;
    j->log = NULL;
    job_discard(j);
}

static void cleaner_efd_done(struct io_op *op, int32_t res) {
    struct cleaner *c = sl_container_of(op, struct cleaner, efd_op);
    (void)res;
    c->efd_armed = false;
    if (c->stop) return;
    pthread_mutex_lock(&c->mu);
    struct job *j = c->done;
    if (j) c->done = NULL;
    pthread_mutex_unlock(&c->mu);
    if (j) {
        c->running = NULL;
        if (j->log) cleaner_swap(c, j);
        else job_discard(j);
    }
    if (c->running) cleaner_efd_arm(c);
}

/* ---- choosing a log (loop) ------------------------------------------------------------------- */

static uint64_t log_sealed_bytes(const struct log *g, uint64_t *dirty, int64_t clean_upto) {
    uint64_t total = 0;
    *dirty = 0;
    for (uint32_t i = 0; i + 1 < g->seg_count; i++) {
        const struct seg *s = g->segs[i];
        total += s->size_bytes;
        if (s->next_offset > clean_upto) *dirty += s->size_bytes;
    }
    return total;
}

int64_t cleaner_clean_point(const struct log *g) { return g->clean_upto; }

double cleaner_dirty_ratio(const struct log *g) {
    uint64_t dirty;
    uint64_t total = log_sealed_bytes(g, &dirty, g->clean_upto);
    return total ? (double)dirty / (double)total : 0.0;
}

static struct job *job_new(struct cleaner *c, struct log *g, uint64_t now_ms, uint32_t end) {
    struct job *j = sl_xcalloc(1, sizeof(*j));
    j->log = g;
    j->segs = sl_xcalloc(end, sizeof(*j->segs));
    j->seg_count = end;
    j->index_interval_bytes = g->cfg.index_interval_bytes;
    j->now_ms = (int64_t)now_ms;
    j->delete_retention_ms = g->cfg.delete_retention_ms;
    map_init(&j->map, g->cfg.compact ? c->map_bytes : 0);
    kafka_records_scratch_init(&j->scratch, 0);
    job_keep_list(j, g);
    for (uint32_t i = 0; i < end; i++) {
        struct seg *s = g->segs[i];
        struct job_seg *js = &j->segs[i];
        size_t sl = strlen(s->stem) + 1;
        js->stem = memcpy(sl_xmalloc(sl), s->stem, sl);
        js->seg = s;
        js->base_offset = s->base_offset;
        js->next_offset = s->next_offset;
        js->size_bytes = s->size_bytes;
        js->dirty = s->next_offset > g->clean_upto;
        index_init(&js->ix);
    }
    return j;
}

/* Fewer new drops than this in a segment are left for later, whatever the ratio. */
#define CLEANER_DROP_MIN 64

/* A log that is not compacted but whose owner removes records (log_set_cleaner_drop): a sealed
 * segment is rewritten when the removed offsets in it that are still there reach
 * min_cleanable_ratio of the offsets still there (or, forced, when there is any). */
static struct job *cleaner_plan_drop(struct cleaner *c, struct log *g, uint64_t now_ms, bool force) {
    uint32_t end = 0, pick = 0;
    for (uint32_t i = 0; i + 1 < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        if (!s->sealed || s->sealing || log_seg_ensure_index(g, s) != SL_OK) break;
        end = i + 1;
    }
    if (end == 0) return NULL;
    uint32_t *drops = sl_xcalloc(end, sizeof(*drops));
    uint64_t total = 0;
    for (uint32_t i = 0; i < end; i++) {
        struct seg *s = g->segs[i];
        uint32_t n = g->cleaner_drop(g->cleaner_drop_arg, s->base_offset, s->next_offset, NULL, 0);
        if (n < s->dropped) s->dropped = n; /* the owner forgot some (its floor moved) */
        uint64_t fresh = n - s->dropped, there = (uint64_t)(s->next_offset - s->base_offset) - s->dropped;
        bool due = force ? fresh > 0
                         : fresh >= CLEANER_DROP_MIN && (double)fresh >= g->cfg.min_cleanable_ratio * (double)there;
        drops[i] = due ? n : UINT32_MAX;
        if (due) {
            pick++;
            total += n;
        }
    }
    if (!pick || total > UINT32_MAX) {
        free(drops);
        return NULL;
    }
    struct job *j = job_new(c, g, now_ms, end);
    j->drop_only = true;
    j->drop = sl_xmalloc(SL_MAX(total, 1) * sizeof(*j->drop));
    for (uint32_t i = 0; i < end; i++) {
        struct job_seg *js = &j->segs[i];
        js->dirty = drops[i] != UINT32_MAX;
        if (!js->dirty) continue;
        js->drops = drops[i];
        uint32_t got = g->cleaner_drop(g->cleaner_drop_arg, js->base_offset, js->next_offset,
                                       j->drop + j->drop_count, drops[i]);
        j->drop_count += SL_MIN(got, drops[i]);
    }
    free(drops);
    return j;
}

/* The job for g, or NULL if it needs none now. */
static struct job *cleaner_plan(struct cleaner *c, struct log *g, uint64_t now_ms, bool force) {
    if (g->cleaning || g->werr || g->seg_count < 2) return NULL;
    if (!g->cfg.compact) return g->cleaner_drop ? cleaner_plan_drop(c, g, now_ms, force) : NULL;
    if (!g->clean_loaded) clean_point_load(g);
    uint64_t dirty;
    uint64_t total = log_sealed_bytes(g, &dirty, g->clean_upto);
    if (!dirty) return NULL;
    /* Segments newer than min_compaction_lag_ms stay dirty and unmapped: the dirty section
     * ends before the first of them. max_compaction_lag_ms makes a pass due whatever the ratio. */
    bool overdue = false;
    uint32_t end = 0; /* sealed segments [0, end) are in the pass */
    /* Nothing at or above the last stable offset: an open transaction may still abort. */
    int64_t stable = g->cleaner_stable_end ? g->cleaner_stable_end(g->cleaner_txn_arg) : INT64_MAX;
    for (uint32_t i = 0; i + 1 < g->seg_count; i++) {
        struct seg *s = g->segs[i];
        if (!s->sealed || s->sealing || s->next_offset > stable) break;
        if (log_seg_ensure_index(g, s) != SL_OK) break;
        int64_t newest = s->ix.max_timestamp;
        if (g->cfg.min_compaction_lag_ms > 0 && newest >= 0 && newest > (int64_t)now_ms - g->cfg.min_compaction_lag_ms)
            break;
        if (s->next_offset > g->clean_upto && s->created_ms >= 0 &&
            (int64_t)now_ms - s->created_ms >= g->cfg.max_compaction_lag_ms)
            overdue = true;
        if (s->next_offset > g->clean_upto && newest >= 0 &&
            (int64_t)now_ms - newest >= g->cfg.max_compaction_lag_ms)
            overdue = true;
        end = i + 1;
    }
    if (end == 0 || g->segs[end - 1]->next_offset <= g->clean_upto) return NULL;
    if (!force && !overdue && (double)dirty < g->cfg.min_cleanable_ratio * (double)total) return NULL;
    struct job *j = job_new(c, g, now_ms, end);
    if (g->cleaner_aborted) {
        int64_t from = g->segs[0]->base_offset, to = g->segs[end - 1]->next_offset;
        uint32_t n = g->cleaner_aborted(g->cleaner_txn_arg, from, to, NULL, 0);
        if (n) {
            j->aborted = sl_xmalloc(n * sizeof(*j->aborted));
            j->aborted_count = SL_MIN(n, g->cleaner_aborted(g->cleaner_txn_arg, from, to, j->aborted, n));
        }
    }
    return j;
}

static bool cleaner_start(struct cleaner *c, uint64_t now_ms, bool force) {
    if (c->running || c->efd < 0 || c->closing) return false;
    for (uint32_t i = 0; i < store_log_count(c->store); i++) {
        struct log *g = store_log_at(c->store, i);
        struct job *j = cleaner_plan(c, g, now_ms, force);
        if (!j) continue;
        g->cleaning = true;
        j->start_us = loop_mono_us(store_loop(c->store));
        c->running = j;
        pthread_mutex_lock(&c->mu);
        c->todo = j;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        cleaner_efd_arm(c);
        return true;
    }
    return false;
}

void cleaner_tick(struct cleaner *c, uint64_t now_ms, uint64_t mono_ms) {
    if (!c || c->running || mono_ms - c->last_check_ms < CLEANER_CHECK_MS) return;
    c->last_check_ms = mono_ms;
    cleaner_start(c, now_ms, false);
}

static bool cleaner_idle(void *arg) { return ((struct cleaner *)arg)->running == NULL; }

uint32_t cleaner_run_now(struct cleaner *c, int32_t timeout_ms) {
    uint32_t n = 0;
    struct loop *l = store_loop(c->store);
    for (int i = 0; i < 64; i++) {
        /* A pass the tick started counts too: wait for it, then look again. */
        if (!c->running && !cleaner_start(c, loop_now_ms(l), true)) break;
        if (!loop_run_until(l, cleaner_idle, c, timeout_ms)) break;
        n++;
    }
    return n;
}

const struct cleaner_stats *cleaner_get_stats(const struct cleaner *c) { return &c->stats; }
