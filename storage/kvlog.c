/* kvlog.c: the compacted key/value log (see kvlog.h). */
#include "storage/kvlog.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "protocol/kafka_batch.h"
#include "storage/index.h"
#include "storage/log.h"
#include "storage/store.h"

#define KVLOG_KEY_MAX 65535u
/* A compaction writes the live set in batches of at most this many records or bytes. */
#define KVLOG_COMPACT_BATCH_RECORDS 512
#define KVLOG_COMPACT_BATCH_BYTES (1u << 20)

struct kv_entry {
    struct kv_entry *hash_next;
    struct kv_entry *prev, *next; /* first-put order */
    uint64_t hash;
    uint8_t *value; /* value_len bytes and a NUL */
    uint32_t value_len;
    uint32_t key_len;
    uint8_t key[]; /* key_len bytes and a NUL */
};

/* How to take back one change of a write in flight. The entries and values it names are
 * the map's own objects, kept instead of freed until the write is durable: undoing puts the
 * very same objects back, so pointers held by older undo records stay valid. */
enum kv_undo_kind {
    KV_UNDO_CREATED,  /* the key was absent: remove e */
    KV_UNDO_REPLACED, /* e held old_value: put it back */
    KV_UNDO_DELETED,  /* e was unlinked: link it again after old_prev (NULL: at the head) */
};

struct kv_undo {
    enum kv_undo_kind kind;
    struct kv_entry *e;
    uint8_t *old_value;
    uint32_t old_value_len;
    struct kv_entry *old_prev;
};

/* A kvlog_write() whose batch is not yet durable: the internal waiter on its batch, the
 * caller's waiter, and the undo of each change it made to the map, in application order. */
struct kv_write {
    struct log_waiter w; /* on the batch */
    struct kvlog *kv;
    struct log_waiter *caller;
    struct kv_write *prev, *next; /* in append order */
    struct kv_undo *undo;
    uint32_t undo_count, undo_cap;
    bool undone; /* its batch failed and the map no longer shows it */
};

/* Records kept for reuse: writes in flight at once are few (one per loop turn and caller). */
#define KVLOG_FREE_WRITES_MAX 8

struct kvlog {
    struct log *log;
    struct kvlog_sink sink; /* append NULL: the log itself (kv_append) */
    struct kvlog_options opt;
    struct kv_entry **buckets;
    uint32_t bucket_count, count;
    struct kv_entry *head, *tail;
    /* Records in the log = end offset - records_base: every record has its own offset, so a
     * rewind after a full disk takes back exactly the records that did not count. */
    int64_t records_base;
    struct kv_write *inflight_head, *inflight_tail;
    struct kv_write *free_writes;
    uint32_t free_write_count;
    kvlog_undo_fn undo_fn;
    void *undo_arg;
    bool compacting;
    int64_t compact_from;
    struct log_waiter compact_w;
};

static uint64_t kv_hash(const uint8_t *k, uint32_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++) h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

static struct kv_entry **kv_slot(const struct kvlog *kv, const uint8_t *key, uint32_t n, uint64_t h) {
    struct kv_entry **pp = &kv->buckets[h % kv->bucket_count];
    for (; *pp; pp = &(*pp)->hash_next)
        if ((*pp)->hash == h && (*pp)->key_len == n && !memcmp((*pp)->key, key, n)) return pp;
    return pp;
}

static void kv_grow(struct kvlog *kv) {
    uint32_t n = kv->bucket_count * 2;
    struct kv_entry **b = sl_xcalloc(n, sizeof(*b));
    for (struct kv_entry *e = kv->head; e; e = e->next) {
        e->hash_next = b[e->hash % n];
        b[e->hash % n] = e;
    }
    free(kv->buckets);
    kv->buckets = b;
    kv->bucket_count = n;
}

static void kv_unlink_order(struct kvlog *kv, struct kv_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else kv->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else kv->tail = e->prev;
}

static struct kv_undo *kv_undo_push(struct kv_write *wr) {
    if (wr->undo_count == wr->undo_cap) {
        wr->undo_cap = wr->undo_cap ? wr->undo_cap * 2 : 4;
        wr->undo = sl_xrealloc(wr->undo, wr->undo_cap * sizeof(*wr->undo));
    }
    return &wr->undo[wr->undo_count++];
}

static void kv_entry_free(struct kv_entry *e) {
    free(e->value);
    free(e);
}

/* One change into the map. wr (NULL when replaying) gets how to take it back, and then owns
 * what the change removed (a value, an entry) until the write is durable or undone. */
static void kv_apply(struct kvlog *kv, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                     int32_t value_len, struct kv_write *wr) {
    uint64_t h = kv_hash(key, key_len);
    struct kv_entry **pp = kv_slot(kv, key, key_len, h);
    struct kv_entry *e = *pp;
    if (value_len < 0) {
        if (!e) return;
        *pp = e->hash_next;
        if (wr) *kv_undo_push(wr) = (struct kv_undo){.kind = KV_UNDO_DELETED, .e = e, .old_prev = e->prev};
        kv_unlink_order(kv, e);
        e->prev = e->next = e->hash_next = NULL;
        if (!wr) kv_entry_free(e);
        kv->count--;
        return;
    }
    if (!e) {
        e = sl_xcalloc(1, sizeof(*e) + key_len + 1);
        e->hash = h;
        e->key_len = key_len;
        memcpy(e->key, key, key_len);
        *pp = e;
        e->prev = kv->tail;
        if (kv->tail) kv->tail->next = e;
        else kv->head = e;
        kv->tail = e;
        kv->count++;
        if (wr) *kv_undo_push(wr) = (struct kv_undo){.kind = KV_UNDO_CREATED, .e = e};
    } else if (wr) {
        *kv_undo_push(wr) = (struct kv_undo){.kind = KV_UNDO_REPLACED, .e = e, .old_value = e->value,
                                             .old_value_len = e->value_len};
        e->value = NULL;
    }
    free(e->value);
    e->value = sl_xmalloc((size_t)value_len + 1);
    if (value_len) memcpy(e->value, value, (size_t)value_len);
    e->value[value_len] = 0;
    e->value_len = (uint32_t)value_len;
    if (kv->count > kv->bucket_count) kv_grow(kv);
}

/* Takes back one change; the map is then exactly as it was just before it. CREATED entries
 * are unlinked but not freed: the caller frees them once nothing names them (kv_write_fail). */
static void kv_undo_one(struct kvlog *kv, const struct kv_undo *u) {
    struct kv_entry *e = u->e;
    switch (u->kind) {
    case KV_UNDO_CREATED: {
        struct kv_entry **pp = &kv->buckets[e->hash % kv->bucket_count];
        while (*pp != e) pp = &(*pp)->hash_next;
        *pp = e->hash_next;
        kv_unlink_order(kv, e);
        e->prev = e->next = e->hash_next = NULL;
        kv->count--;
        break;
    }
    case KV_UNDO_REPLACED:
        free(e->value);
        e->value = u->old_value;
        e->value_len = u->old_value_len;
        break;
    case KV_UNDO_DELETED: {
        struct kv_entry **slot = &kv->buckets[e->hash % kv->bucket_count];
        e->hash_next = *slot;
        *slot = e;
        /* The map is as it was right after the delete, so old_prev is linked. */
        e->prev = u->old_prev;
        e->next = u->old_prev ? u->old_prev->next : kv->head;
        if (e->prev) e->prev->next = e;
        else kv->head = e;
        if (e->next) e->next->prev = e;
        else kv->tail = e;
        kv->count++;
        if (kv->count > kv->bucket_count) kv_grow(kv);
        break;
    }
    }
}

/* One batch of the changes, appended; no map change. */
static sl_err kv_append(struct kvlog *kv, const struct kvlog_op *ops, uint32_t n, uint64_t now_ms,
                        struct log_waiter *w) {
    struct kafka_record_in *recs = sl_xcalloc(n, sizeof(*recs));
    for (uint32_t i = 0; i < n; i++) {
        if (ops[i].key_len > KVLOG_KEY_MAX || (ops[i].key_len && !ops[i].key)) {
            free(recs);
            return SL_INVALID_ARG;
        }
        recs[i] = (struct kafka_record_in){.key = ops[i].key_len ? ops[i].key : "",
                                           .key_len = (int32_t)ops[i].key_len,
                                           .value = ops[i].value_len > 0 ? ops[i].value : "",
                                           .value_len = ops[i].value_len < 0 ? -1 : ops[i].value_len,
                                           .timestamp_ms = (int64_t)now_ms};
    }
    size_t cap = kafka_batch_encoded_bytes_max(recs, n);
    sl_err e = SL_INVALID_ARG;
    if (cap) {
        uint8_t *batch = sl_xmalloc(cap);
        size_t len = kafka_batch_encode(batch, cap, recs, n, -1, -1, -1);
        int64_t base;
        if (len && kv->sink.append) e = kv->sink.append(kv->sink.arg, batch, (uint32_t)len, w);
        else if (len) e = log_append(kv->log, batch, (uint32_t)len, &base, w, true);
        free(batch);
    }
    free(recs);
    return e;
}

/* ---- compaction ---------------------------------------------------------------------------- */

static void kv_compact_done(struct log_waiter *w, sl_err err) {
    struct kvlog *kv = sl_container_of(w, struct kvlog, compact_w);
    kv->compacting = false;
    if (err) {
        /* The copy of the live set is not (all) in the log: nothing before it may go. The
         * next write that finds the log too large starts over. */
        SL_WARN("%s: compaction did not become durable: %s", log_dir(kv->log), sl_err_str(err));
        return;
    }
    /* The live set is durable after compact_from: nothing before it is needed. */
    log_delete_before(kv->log, kv->compact_from);
    SL_INFO("%s: compacted %lld records to %u live entries", log_dir(kv->log),
            (long long)(kv->compact_from - kv->records_base), kv->count);
    kv->records_base = kv->compact_from;
}

/* Appends the live set; everything before it goes once it is durable (kv_compact_done). The
 * live set may include writes still in flight: the copy comes after them in the log, so if
 * one of them fails, the copy fails with it and nothing is deleted. */
static void kv_compact_start(struct kvlog *kv, uint64_t now_ms) {
    kv->compact_from = log_end_offset(kv->log);
    struct kvlog_op ops[KVLOG_COMPACT_BATCH_RECORDS];
    uint32_t n = 0;
    size_t bytes = 0;
    for (struct kv_entry *e = kv->head; e; e = e->next) {
        ops[n++] = (struct kvlog_op){e->key, e->key_len, e->value, (int32_t)e->value_len};
        bytes += e->key_len + e->value_len;
        bool last = !e->next;
        if (!last && n < KVLOG_COMPACT_BATCH_RECORDS && bytes < KVLOG_COMPACT_BATCH_BYTES) continue;
        kv->compact_w = (struct log_waiter){.done = kv_compact_done};
        if (kv_append(kv, ops, n, now_ms, last ? &kv->compact_w : NULL) != SL_OK) {
            /* A full disk or a failed log: no delete, the old records stay valid. */
            return;
        }
        if (last) kv->compacting = true;
        n = 0;
        bytes = 0;
    }
}

static void kv_compact_maybe(struct kvlog *kv, uint64_t now_ms) {
    if (kv->sink.append) return; /* the log's own cleaner compacts it (kvlog_open_log) */
    uint64_t records = kvlog_records(kv);
    if (kv->compacting || records <= kv->opt.compact_min_records) return;
    if (records <= (uint64_t)kv->count * kv->opt.compact_ratio) return;
    if (kv->count == 0) {
        /* Nothing live: the whole log can go once its tail is durable. */
        kv->compact_from = log_end_offset(kv->log);
        kv->compacting = true;
        kv->compact_w = (struct log_waiter){.done = kv_compact_done};
        kvlog_wait(kv, &kv->compact_w);
        return;
    }
    kv_compact_start(kv, now_ms);
}

/* ---- writes in flight ------------------------------------------------------------------------ */

static struct kv_write *kv_write_get(struct kvlog *kv) {
    struct kv_write *wr = kv->free_writes;
    if (wr) {
        kv->free_writes = wr->next;
        kv->free_write_count--;
    } else {
        wr = sl_xcalloc(1, sizeof(*wr));
    }
    wr->kv = kv;
    wr->undo_count = 0;
    wr->undone = false;
    wr->prev = wr->next = NULL;
    return wr;
}

static void kv_write_put(struct kvlog *kv, struct kv_write *wr) {
    if (kv->free_write_count >= KVLOG_FREE_WRITES_MAX) {
        free(wr->undo);
        free(wr);
        return;
    }
    wr->next = kv->free_writes;
    kv->free_writes = wr;
    kv->free_write_count++;
}

static void kv_inflight_unlink(struct kvlog *kv, struct kv_write *wr) {
    if (wr->prev) wr->prev->next = wr->next;
    else kv->inflight_head = wr->next;
    if (wr->next) wr->next->prev = wr->prev;
    else kv->inflight_tail = wr->prev;
    wr->prev = wr->next = NULL;
}

/* The batch is durable: what its changes replaced is garbage now. */
static void kv_write_durable(struct kv_write *wr) {
    for (uint32_t i = 0; i < wr->undo_count; i++) {
        const struct kv_undo *u = &wr->undo[i];
        if (u->kind == KV_UNDO_REPLACED) free(u->old_value);
        else if (u->kind == KV_UNDO_DELETED) kv_entry_free(u->e);
    }
}

/* The batch of `from` failed, and with it every batch appended after it (log.h): every such
 * write still shown by the map is undone, newest change first, so the map is exactly what
 * the log holds; then the owner hears of every key that changed back. */
static void kv_write_fail(struct kvlog *kv, struct kv_write *from) {
    for (struct kv_write *wr = kv->inflight_tail; wr; wr = wr->prev) {
        if (!wr->undone) {
            for (uint32_t i = wr->undo_count; i-- > 0;) kv_undo_one(kv, &wr->undo[i]);
            wr->undone = true;
        }
        if (wr == from) break;
    }
    for (struct kv_write *wr = from; wr; wr = wr->next) {
        if (!kv->undo_fn) break;
        for (uint32_t i = 0; i < wr->undo_count; i++) {
            const struct kv_entry *e = wr->undo[i].e;
            uint32_t len = 0;
            const uint8_t *v = kvlog_get(kv, e->key, e->key_len, &len);
            kv->undo_fn(kv->undo_arg, e->key, e->key_len, v, len);
        }
    }
    /* Entries a write created are gone from the map; nothing else names them. The rest of an
     * undone record is empty: its values and entries are back in the map. */
    for (struct kv_write *wr = from; wr; wr = wr->next) {
        for (uint32_t i = 0; i < wr->undo_count; i++)
            if (wr->undo[i].kind == KV_UNDO_CREATED) kv_entry_free(wr->undo[i].e);
        wr->undo_count = 0;
    }
}

static void kv_write_done(struct log_waiter *w, sl_err err) {
    struct kv_write *wr = sl_container_of(w, struct kv_write, w);
    struct kvlog *kv = wr->kv;
    if (err) {
        if (!wr->undone) kv_write_fail(kv, wr);
    } else {
        SL_ASSERT(!wr->undone);
        kv_write_durable(wr);
    }
    /* Read w before the write goes back: kv_write_put frees it when the free list is full. */
    struct log_waiter *caller = wr->caller;
    int64_t offset = w->offset;
    bool durable = w->durable;
    kv_inflight_unlink(kv, wr);
    kv_write_put(kv, wr);
    if (caller) {
        caller->offset = offset;
        caller->durable = durable;
        caller->next = NULL;
        caller->done(caller, err);
    }
}

/* ---- replay -------------------------------------------------------------------------------- */

static void kv_replay_batch(struct kvlog *kv, const uint8_t *batch, uint32_t len, uint32_t *bad,
                            uint64_t *replayed) {
    struct kafka_record_iter it;
    struct kafka_record r;
    if (kafka_record_iter_init(&it, batch, len) != SL_OK) {
        (*bad)++;
        return;
    }
    while (kafka_record_next(&it, &r) == SL_OK) {
        (*replayed)++;
        if (r.key_len < 0 || (uint32_t)r.key_len > KVLOG_KEY_MAX) {
            (*bad)++;
            continue;
        }
        kv_apply(kv, r.key, (uint32_t)r.key_len, r.value, r.value_len, NULL);
    }
}

/* The batches of [buf, buf+len), one after the other (what the log serves: whole batches). */
static void kv_replay_bytes(struct kvlog *kv, const uint8_t *buf, uint32_t len, uint32_t *bad, uint64_t *replayed) {
    uint32_t off = 0;
    while (off + KAFKA_BATCH_LOG_OVERHEAD <= len) {
        uint32_t blen = sl_load_be32(buf + off + 8) + KAFKA_BATCH_LOG_OVERHEAD;
        if (blen > len - off) break;
        kv_replay_batch(kv, buf + off, blen, bad, replayed);
        off += blen;
    }
}

static sl_err kv_replay(struct kvlog *kv) {
    struct log *g = kv->log;
    int64_t at = log_start_offset(g);
    uint32_t bad = 0;
    uint64_t replayed = 0;
    while (at < log_written_offset(g)) {
        struct log_span sp;
        sl_err e = log_read(g, at, 1u << 20, &sp);
        if (e) return e;
        if (sp.len == 0) break;
        uint8_t *buf = sl_xmalloc(sp.len);
        ssize_t n = pread(sp.fd, buf, sp.len, (off_t)sp.pos);
        if (n == (ssize_t)sp.len) kv_replay_bytes(kv, buf, sp.len, &bad, &replayed);
        free(buf);
        at = sp.next_offset;
        log_span_release(&sp);
        if (n != (ssize_t)sp.len) return SL_IO;
    }
    if (bad) SL_WARN("%s: skipped %u malformed records", log_dir(g), bad);
    kv->records_base = log_end_offset(g) - (int64_t)replayed;
    return SL_OK;
}

/* ---- public -------------------------------------------------------------------------------- */

static struct kvlog *kv_new(struct log *g, const struct kvlog_options *o) {
    struct kvlog *kv = sl_xcalloc(1, sizeof(*kv));
    kv->log = g;
    kv->opt = *o;
    kv->bucket_count = 256;
    kv->buckets = sl_xcalloc(kv->bucket_count, sizeof(*kv->buckets));
    return kv;
}

sl_err kvlog_open(struct kvlog **out, struct store *st, const char *topic, const struct kvlog_options *opts,
                  uint64_t now_ms) {
    struct kvlog_options o = {16u << 20, 10000, 4};
    if (opts) o = *opts;
    if (o.compact_ratio < 2) o.compact_ratio = 2;
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = o.segment_bytes;
    cfg.retention_ms = -1;
    cfg.retention_bytes = -1;
    cfg.batch_bytes_max = 64u << 20;
    cfg.durability = LOG_DURABILITY_GROUP;
    cfg.group_commit_ms = 0;
    cfg.preallocate_bytes = SL_MIN(o.segment_bytes, 1u << 20);
    struct log *g = store_log_get(st, topic, 0);
    if (!g) {
        sl_err e = store_log_create(st, topic, 0, &cfg, &g);
        if (e) return e;
    }
    log_set_config(g, &cfg);
    struct kvlog *kv = kv_new(g, &o);
    sl_err e = kv_replay(kv);
    if (e) {
        kvlog_close(kv);
        return e;
    }
    kv_compact_maybe(kv, now_ms);
    *out = kv;
    return SL_OK;
}

sl_err kvlog_open_log(struct kvlog **out, struct log *g, const struct kvlog_sink *sink) {
    SL_ASSERT(g && sink && sink->append);
    const struct kvlog_options o = {0, UINT64_MAX, 2};
    struct kvlog *kv = kv_new(g, &o);
    kv->sink = *sink;
    sl_err e = kv_replay(kv);
    if (e) {
        kvlog_close(kv);
        return e;
    }
    *out = kv;
    return SL_OK;
}

sl_err kvlog_open_mem(struct kvlog **out, const uint8_t *seg, size_t len) {
    if (len > UINT32_MAX) return SL_TOO_LARGE;
    const struct kvlog_options o = {16u << 20, 10000, 4};
    struct kvlog *kv = kv_new(NULL, &o);
    /* What a store's recovery keeps of the segment, then the replay of kvlog_open. */
    struct seg_index ix;
    index_init(&ix);
    int64_t next;
    uint64_t data_end;
    uint64_t valid = recovery_scan_mem(seg, len, 0, &ix, 4096, &next, &data_end);
    index_free(&ix);
    uint32_t bad = 0;
    uint64_t replayed = 0;
    kv_replay_bytes(kv, seg, (uint32_t)valid, &bad, &replayed);
    *out = kv;
    return SL_OK;
}

bool kvlog_close(struct kvlog *kv) {
    /* Waiters (a compaction's among them) point into their owners: fire them all now. A sink's
     * writes are its owner's to settle (kvlog_open_log). */
    if (kv->log && !kv->sink.append) kvlog_flush(kv); /* none for kvlog_open_mem's: read only */
    if (kv->inflight_head) {
        /* The log (or the sink) never answered: its waiters still point here. Leak rather than corrupt. */
        SL_ERROR("%s: closed with writes in flight", log_dir(kv->log));
        return false;
    }
    struct kv_entry *e = kv->head;
    while (e) {
        struct kv_entry *next = e->next;
        kv_entry_free(e);
        e = next;
    }
    while (kv->free_writes) {
        struct kv_write *wr = kv->free_writes;
        kv->free_writes = wr->next;
        free(wr->undo);
        free(wr);
    }
    free(kv->buckets);
    free(kv);
    return true;
}

void kvlog_set_undo_hook(struct kvlog *kv, kvlog_undo_fn fn, void *arg) {
    kv->undo_fn = fn;
    kv->undo_arg = arg;
}

sl_err kvlog_write(struct kvlog *kv, const struct kvlog_op *ops, uint32_t n, uint64_t now_ms, struct log_waiter *w) {
    if (n == 0) return SL_INVALID_ARG;
    struct kv_write *wr = kv_write_get(kv);
    wr->w = (struct log_waiter){.done = kv_write_done};
    wr->caller = w;
    sl_err e = kv_append(kv, ops, n, now_ms, &wr->w);
    if (e) {
        kv_write_put(kv, wr);
        return e;
    }
    wr->prev = kv->inflight_tail;
    if (kv->inflight_tail) kv->inflight_tail->next = wr;
    else kv->inflight_head = wr;
    kv->inflight_tail = wr;
    for (uint32_t i = 0; i < n; i++)
        kv_apply(kv, ops[i].key, ops[i].key_len, ops[i].value, ops[i].value_len, wr);
    kv_compact_maybe(kv, now_ms);
    return SL_OK;
}

sl_err kvlog_put(struct kvlog *kv, const void *key, uint32_t key_len, const void *value, uint32_t value_len,
                 uint64_t now_ms, struct log_waiter *w) {
    if (value_len > INT32_MAX) return SL_INVALID_ARG;
    struct kvlog_op op = {key, key_len, value, (int32_t)value_len};
    return kvlog_write(kv, &op, 1, now_ms, w);
}

sl_err kvlog_del(struct kvlog *kv, const void *key, uint32_t key_len, uint64_t now_ms, struct log_waiter *w) {
    struct kvlog_op op = {key, key_len, NULL, -1};
    return kvlog_write(kv, &op, 1, now_ms, w);
}

void kvlog_wait(struct kvlog *kv, struct log_waiter *w) {
    int64_t last = log_end_offset(kv->log) - 1;
    if (last < 0) {
        w->done(w, log_error(kv->log));
        return;
    }
    log_wait(kv->log, w, last, true);
}

sl_err kvlog_flush(struct kvlog *kv) { return log_flush(kv->log, true, 60000); }

const uint8_t *kvlog_get(const struct kvlog *kv, const void *key, uint32_t key_len, uint32_t *value_len) {
    struct kv_entry *e = *kv_slot(kv, key, key_len, kv_hash(key, key_len));
    if (!e) return NULL;
    if (value_len) *value_len = e->value_len;
    return e->value;
}

void kvlog_foreach(const struct kvlog *kv,
                   void (*fn)(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                              uint32_t value_len),
                   void *arg) {
    for (struct kv_entry *e = kv->head; e; e = e->next) fn(arg, e->key, e->key_len, e->value, e->value_len);
}

uint32_t kvlog_count(const struct kvlog *kv) { return kv->count; }
uint64_t kvlog_records(const struct kvlog *kv) { return (uint64_t)(log_end_offset(kv->log) - kv->records_base); }
struct log *kvlog_log(const struct kvlog *kv) { return kv->log; }

bool kvlog_writes_pending(const struct kvlog *kv) { return kv->inflight_head != NULL; }

/* ---- values that grow ------------------------------------------------------------------------ */

static void tlv_reserve(struct kvlog_tlv_writer *w, size_t n) {
    if (w->len + n <= w->cap) return;
    while (w->len + n > w->cap) w->cap = w->cap ? w->cap * 2 : 256;
    w->p = sl_xrealloc(w->p, w->cap);
}

void kvlog_tlv_begin(struct kvlog_tlv_writer *w, uint16_t version) {
    w->len = 0;
    tlv_reserve(w, 2);
    sl_store_be16(w->p, version);
    w->len = 2;
}

void kvlog_tlv_put(struct kvlog_tlv_writer *w, uint16_t tag, const void *p, uint32_t len) {
    tlv_reserve(w, 6 + (size_t)len);
    sl_store_be16(w->p + w->len, tag);
    sl_store_be32(w->p + w->len + 2, len);
    if (len) memcpy(w->p + w->len + 6, p, len);
    w->len += 6 + (size_t)len;
}

void kvlog_tlv_put_i64(struct kvlog_tlv_writer *w, uint16_t tag, int64_t v) {
    uint8_t b[8];
    sl_store_be64(b, (uint64_t)v);
    kvlog_tlv_put(w, tag, b, 8);
}

void kvlog_tlv_free(struct kvlog_tlv_writer *w) {
    free(w->p);
    *w = (struct kvlog_tlv_writer){0};
}

bool kvlog_tlv_open(struct kvlog_tlv_reader *r, const uint8_t *p, uint32_t len) {
    if (len < 2) return false;
    r->version = sl_load_be16(p);
    r->p = p + 2;
    r->end = p + len;
    return true;
}

bool kvlog_tlv_next(struct kvlog_tlv_reader *r, uint16_t *tag, const uint8_t **p, uint32_t *len) {
    if (r->end - r->p < 6) return false;
    uint32_t n = sl_load_be32(r->p + 2);
    if ((uint64_t)(r->end - r->p - 6) < n) return false;
    *tag = sl_load_be16(r->p);
    *p = r->p + 6;
    *len = n;
    r->p += 6 + (size_t)n;
    return true;
}

bool kvlog_tlv_i64(const uint8_t *p, uint32_t len, int64_t *out) {
    if (len != 8) return false;
    *out = (int64_t)sl_load_be64(p);
    return true;
}
