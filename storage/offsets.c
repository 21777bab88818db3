/* offsets.c: durable committed offsets (see offsets.h). */
#include "storage/offsets.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "storage/kvlog.h"

#define OFFSETS_VERSION 1
/* Key version of a group's state record, as Kafka's GroupMetadataKey (version 2). */
#define OFFSETS_GROUP_KEY_VERSION 2
/* Key version of an offset staged by a transaction (offsets_txn_stage): the producer id, then
 * the offset's own key fields. Its value is an offset's. */
#define OFFSETS_TXN_KEY_VERSION 3
/* A producer's epoch as the transactions that staged offsets here last named it, and the epoch of
 * the transaction coordinator whose marker came last (key: version, producer id; value: be16
 * producer epoch, be32 coordinator epoch; a 2-byte value, written before the coordinator epoch
 * was kept, has none), so a fenced producer's late TxnOffsetCommit and a deposed coordinator's
 * late marker are refused. */
#define OFFSETS_TXN_EPOCH_KEY_VERSION 4
/* Compact when the log holds this many times more records than live entries (and enough). */
#define OFFSETS_COMPACT_RATIO 4
#define OFFSETS_COMPACT_MIN 10000

struct offset_entry {
    struct offset_entry *next;
    struct offset_entry *pnext; /* chain of pbuckets: the entries of every group, by partition */
    uint64_t hash, phash;
    char *group, *topic;
    int32_t partition;
    struct offset_value v;
};

struct offsets {
    struct kvlog *kv; /* the durable copy: encoded keys and values */
    uint32_t txn_staged; /* staged transactional offsets in kv (skips the scans when 0) */
    struct offset_entry **buckets;
    /* The same entries hashed by (topic, partition) alone, so the groups of one partition are
     * found without a walk of the whole map (work-queue retention asks on every commit). */
    struct offset_entry **pbuckets;
    uint32_t bucket_count, entry_count;
};

static uint64_t offsets_hash(const char *group, const char *topic, int32_t tlen, int32_t partition) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = group; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (int32_t i = 0; i < tlen; i++) h = (h ^ (uint8_t)topic[i]) * 1099511628211ull;
    return (h ^ (uint32_t)partition) * 1099511628211ull;
}

static uint64_t offsets_phash(const char *topic, int32_t tlen, int32_t partition) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t i = 0; i < tlen; i++) h = (h ^ (uint8_t)topic[i]) * 1099511628211ull;
    return (h ^ (uint32_t)partition) * 1099511628211ull;
}

static void offsets_punlink(struct offsets *o, struct offset_entry *e) {
    struct offset_entry **pp = &o->pbuckets[e->phash % o->bucket_count];
    while (*pp && *pp != e) pp = &(*pp)->pnext;
    SL_ASSERT(*pp == e);
    *pp = e->pnext;
}

static struct offset_entry **offsets_slot(const struct offsets *o, const char *group, const char *topic,
                                          int32_t tlen, int32_t partition, uint64_t h) {
    struct offset_entry **pp = &o->buckets[h % o->bucket_count];
    for (; *pp; pp = &(*pp)->next) {
        struct offset_entry *e = *pp;
        if (e->hash == h && e->partition == partition && !strcmp(e->group, group) &&
            (int32_t)strlen(e->topic) == tlen && !memcmp(e->topic, topic, (size_t)tlen))
            return pp;
    }
    return pp;
}

static void offsets_entry_free(struct offset_entry *e) {
    free(e->group);
    free(e->topic);
    free((char *)e->v.metadata);
    free(e);
}

static void offsets_grow(struct offsets *o) {
    uint32_t n = o->bucket_count * 2;
    struct offset_entry **b = sl_xcalloc(n, sizeof(*b));
    struct offset_entry **pb = sl_xcalloc(n, sizeof(*pb));
    for (uint32_t i = 0; i < o->bucket_count; i++) {
        struct offset_entry *e = o->buckets[i];
        while (e) {
            struct offset_entry *next = e->next;
            e->next = b[e->hash % n];
            b[e->hash % n] = e;
            e->pnext = pb[e->phash % n];
            pb[e->phash % n] = e;
            e = next;
        }
    }
    free(o->buckets);
    free(o->pbuckets);
    o->buckets = b;
    o->pbuckets = pb;
    o->bucket_count = n;
}

static char *offsets_strndup(const char *s, int32_t n) {
    char *p = sl_xmalloc((size_t)n + 1);
    memcpy(p, s, (size_t)n);
    p[n] = 0;
    return p;
}

/* Applies one commit (or tombstone) to the map. */
static void offsets_apply(struct offsets *o, const char *group, const struct offset_commit *c, int64_t commit_ms) {
    uint64_t h = offsets_hash(group, c->topic, c->topic_len, c->partition);
    struct offset_entry **pp = offsets_slot(o, group, c->topic, c->topic_len, c->partition, h);
    if (c->tombstone) {
        if (*pp) {
            struct offset_entry *e = *pp;
            *pp = e->next;
            offsets_punlink(o, e);
            offsets_entry_free(e);
            o->entry_count--;
        }
        return;
    }
    struct offset_entry *e = *pp;
    if (!e) {
        e = sl_xcalloc(1, sizeof(*e));
        e->hash = h;
        e->group = strdup(group);
        e->topic = offsets_strndup(c->topic, c->topic_len);
        e->partition = c->partition;
        e->phash = offsets_phash(c->topic, c->topic_len, c->partition);
        *pp = e;
        e->pnext = o->pbuckets[e->phash % o->bucket_count];
        o->pbuckets[e->phash % o->bucket_count] = e;
        o->entry_count++;
    }
    free((char *)e->v.metadata);
    e->v.offset = c->offset;
    e->v.leader_epoch = c->leader_epoch;
    e->v.metadata = c->metadata ? offsets_strndup(c->metadata, c->metadata_len) : NULL;
    e->v.metadata_len = c->metadata ? c->metadata_len : -1;
    e->v.commit_ms = commit_ms;
    if (o->entry_count > o->bucket_count) offsets_grow(o);
}

/* ---- record encoding ------------------------------------------------------------------------ */

static size_t put_str16(uint8_t *p, const char *s, int32_t n) {
    sl_store_be16(p, (uint16_t)n);
    memcpy(p + 2, s, (size_t)n);
    return 2 + (size_t)n;
}

/* The records of the commits (producer_id >= 0: staged for that producer's transaction, under
 * OFFSETS_TXN_KEY_VERSION keys) as one batch. */
static sl_err offsets_append_as(struct offsets *o, int64_t producer_id, const char *group,
                                const struct offset_commit *c, uint32_t n, uint64_t now_ms, struct log_waiter *w) {
    size_t glen = strlen(group);
    if (glen > UINT16_MAX) return SL_INVALID_ARG;
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (c[i].topic_len < 0 || c[i].topic_len > UINT16_MAX || c[i].metadata_len > UINT16_MAX) return SL_INVALID_ARG;
        bytes += 2 + 8 + 2 + glen + 2 + (size_t)c[i].topic_len + 4 + 2 + 8 + 4 + 2 +
                 (size_t)SL_MAX(c[i].metadata_len, 0) + 8;
    }
    uint8_t *kv = sl_xmalloc(bytes ? bytes : 1);
    struct kvlog_op *ops = sl_xcalloc(n ? n : 1, sizeof(*ops));
    uint8_t *p = kv;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *key = p;
        if (producer_id >= 0) {
            sl_store_be16(p, OFFSETS_TXN_KEY_VERSION), p += 2;
            sl_store_be64(p, (uint64_t)producer_id), p += 8;
        } else {
            sl_store_be16(p, OFFSETS_VERSION), p += 2;
        }
        p += put_str16(p, group, (int32_t)glen);
        p += put_str16(p, c[i].topic, c[i].topic_len);
        sl_store_be32(p, (uint32_t)c[i].partition), p += 4;
        ops[i].key = key;
        ops[i].key_len = (uint32_t)(p - key);
        ops[i].value_len = -1;
        if (c[i].tombstone) continue;
        uint8_t *val = p;
        sl_store_be16(p, OFFSETS_VERSION), p += 2;
        sl_store_be64(p, (uint64_t)c[i].offset), p += 8;
        sl_store_be32(p, (uint32_t)c[i].leader_epoch), p += 4;
        int32_t ml = c[i].metadata ? c[i].metadata_len : -1;
        sl_store_be16(p, (uint16_t)(ml < 0 ? 0xffff : ml)), p += 2;
        if (ml > 0) memcpy(p, c[i].metadata, (size_t)ml), p += ml;
        sl_store_be64(p, now_ms), p += 8;
        ops[i].value = val;
        ops[i].value_len = (int32_t)(p - val);
    }
    sl_err e = kvlog_write(o->kv, ops, n, now_ms, w);
    free(ops);
    free(kv);
    return e;
}

static sl_err offsets_append(struct offsets *o, const char *group, const struct offset_commit *c, uint32_t n,
                             uint64_t now_ms, struct log_waiter *w) {
    return offsets_append_as(o, -1, group, c, n, now_ms, w);
}

static bool get_str16(const uint8_t **p, const uint8_t *end, const char **s, int32_t *n) {
    if (end - *p < 2) return false;
    uint16_t l = sl_load_be16(*p);
    if (l == 0xffff) {
        *s = NULL;
        *n = -1;
        *p += 2;
        return true;
    }
    if (end - *p < 2 + l) return false;
    *s = (const char *)*p + 2;
    *n = l;
    *p += 2 + l;
    return true;
}

/* The group (copied into g, NUL-terminated) and partition of a key; false if malformed. */
static bool offsets_decode_key(const uint8_t *key, uint32_t key_len, char **g, struct offset_commit *c) {
    const uint8_t *p = key, *end = key + key_len;
    const char *group, *topic;
    int32_t glen, tlen;
    if (key_len < 2 || sl_load_be16(p) != OFFSETS_VERSION) return false;
    p += 2;
    if (!get_str16(&p, end, &group, &glen) || !get_str16(&p, end, &topic, &tlen) || glen < 0 || tlen < 0 ||
        end - p != 4)
        return false;
    *c = (struct offset_commit){.topic = topic, .topic_len = tlen, .partition = (int32_t)sl_load_be32(p)};
    *g = offsets_strndup(group, glen);
    return true;
}

/* One live entry of the log back into the map (val NULL: the key has no offset); false if
 * malformed. */
static bool offsets_replay_entry(struct offsets *o, const uint8_t *key, uint32_t key_len, const uint8_t *val,
                                 uint32_t val_len) {
    char *g;
    struct offset_commit c;
    if (!offsets_decode_key(key, key_len, &g, &c)) return false;
    int64_t commit_ms = 0;
    bool ok = true;
    if (!val) {
        c.tombstone = true;
    } else {
        const uint8_t *v = val, *vend = val + val_len;
        const char *md;
        int32_t mlen;
        ok = val_len >= 2 + 8 + 4 + 2 + 8 && sl_load_be16(v) == OFFSETS_VERSION;
        if (ok) {
            c.offset = (int64_t)sl_load_be64(v + 2);
            c.leader_epoch = (int32_t)sl_load_be32(v + 10);
            v += 14;
            ok = get_str16(&v, vend, &md, &mlen) && vend - v == 8;
        }
        if (ok) {
            c.metadata = md;
            c.metadata_len = mlen;
            commit_ms = (int64_t)sl_load_be64(v);
        } else {
            c.tombstone = true; /* a malformed value shows as no offset, as at open */
        }
    }
    offsets_apply(o, g, &c, commit_ms);
    free(g);
    return ok;
}

/* A failed commit was undone in the kvlog: the decoded view follows the kvlog's value. */
/* Group state records (offsets_store_group) and staged transactional offsets live beside the
 * offsets: the map skips them (they are read from the kvlog itself). */
static bool offsets_is_group_key(const uint8_t *key, uint32_t key_len) {
    return key_len >= 2 && (sl_load_be16(key) == OFFSETS_GROUP_KEY_VERSION || sl_load_be16(key) == OFFSETS_TXN_KEY_VERSION ||
                            sl_load_be16(key) == OFFSETS_TXN_EPOCH_KEY_VERSION);
}

static void offsets_recount_staged(struct offsets *o);

static bool offsets_is_txn_key(const uint8_t *key, uint32_t key_len) {
    return key_len >= 10 && sl_load_be16(key) == OFFSETS_TXN_KEY_VERSION;
}

static void offsets_undo(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len) {
    /* A staged record back after a failed end: the count stays an upper bound. */
    if (val && offsets_is_txn_key(key, key_len)) ((struct offsets *)arg)->txn_staged++;
    if (offsets_is_group_key(key, key_len)) return; /* read from the kvlog itself: nothing to undo */
    offsets_replay_entry(arg, key, key_len, val, val_len);
}

struct offsets_replay {
    struct offsets *o;
    uint32_t bad;
};

static void offsets_replay_one(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *val,
                               uint32_t val_len) {
    struct offsets_replay *r = arg;
    if (offsets_is_group_key(key, key_len)) return;
    if (!offsets_replay_entry(r->o, key, key_len, val, val_len)) r->bad++;
}

sl_err offsets_open(struct offsets **out, struct store *st, uint64_t now_ms) {
    struct kvlog_options opts = {.segment_bytes = 16u << 20,
                                 .compact_min_records = OFFSETS_COMPACT_MIN,
                                 .compact_ratio = OFFSETS_COMPACT_RATIO};
    struct kvlog *kv;
    sl_err e = kvlog_open(&kv, st, OFFSETS_TOPIC, &opts, now_ms);
    if (e) return e;
    *out = offsets_open_kvlog(kv);
    return SL_OK;
}

sl_err offsets_open_log(struct offsets **out, struct log *g, const struct kvlog_sink *sink) {
    struct kvlog *kv;
    sl_err e = kvlog_open_log(&kv, g, sink);
    if (e) return e;
    *out = offsets_open_kvlog(kv);
    return SL_OK;
}

struct offsets *offsets_open_kvlog(struct kvlog *kv) {
    struct offsets *o = sl_xcalloc(1, sizeof(*o));
    o->kv = kv;
    o->bucket_count = 256;
    o->buckets = sl_xcalloc(o->bucket_count, sizeof(*o->buckets));
    o->pbuckets = sl_xcalloc(o->bucket_count, sizeof(*o->pbuckets));
    struct offsets_replay r = {o, 0};
    kvlog_foreach(o->kv, offsets_replay_one, &r);
    offsets_recount_staged(o);
    kvlog_set_undo_hook(o->kv, offsets_undo, o);
    if (r.bad) {
        struct log *g = kvlog_log(o->kv);
        SL_WARN("offsets: skipped %u malformed records in %s", r.bad, g ? log_dir(g) : "memory");
    }
    return o;
}

bool offsets_writes_pending(const struct offsets *o) { return kvlog_writes_pending(o->kv); }

struct kvlog *offsets_kvlog(const struct offsets *o) { return o->kv; }

void offsets_close(struct offsets *o) {
    /* First: closing flushes, and a write failing then undoes its commits through the hook
     * into this map, which must still be here. */
    if (!kvlog_close(o->kv)) return; /* writes unanswered: the kvlog is leaked, so is its undo hook's map */
    for (uint32_t b = 0; b < o->bucket_count; b++) {
        struct offset_entry *e = o->buckets[b];
        while (e) {
            struct offset_entry *next = e->next;
            offsets_entry_free(e);
            e = next;
        }
    }
    free(o->buckets);
    free(o->pbuckets);
    free(o);
}

sl_err offsets_commit(struct offsets *o, const char *group, const struct offset_commit *c, uint32_t n,
                      uint64_t now_ms, struct log_waiter *w) {
    if (n == 0) return SL_INVALID_ARG;
    sl_err e = offsets_append(o, group, c, n, now_ms, w);
    if (e) return e;
    for (uint32_t i = 0; i < n; i++) offsets_apply(o, group, &c[i], (int64_t)now_ms);
    return SL_OK;
}

const struct offset_value *offsets_get(const struct offsets *o, const char *group, const char *topic,
                                       int32_t topic_len, int32_t partition) {
    uint64_t h = offsets_hash(group, topic, topic_len, partition);
    struct offset_entry *const *pp = offsets_slot(o, group, topic, topic_len, partition, h);
    return *pp ? &(*pp)->v : NULL;
}

int64_t offsets_min_for_partition(const struct offsets *o, const char *topic, int32_t topic_len, int32_t partition,
                                  uint32_t *groups) {
    uint64_t ph = offsets_phash(topic, topic_len, partition);
    int64_t min = -1;
    uint32_t n = 0;
    for (const struct offset_entry *e = o->pbuckets[ph % o->bucket_count]; e; e = e->pnext) {
        if (e->phash != ph || e->partition != partition || (int32_t)strlen(e->topic) != topic_len ||
            memcmp(e->topic, topic, (size_t)topic_len))
            continue;
        if (n == 0 || e->v.offset < min) min = e->v.offset;
        n++;
    }
    if (groups) *groups = n;
    return min;
}

uint32_t offsets_for_group(const struct offsets *o, const char *group,
                           void (*fn)(void *arg, const char *topic, int32_t partition, const struct offset_value *v),
                           void *arg) {
    uint32_t n = 0;
    for (uint32_t b = 0; b < o->bucket_count; b++)
        for (struct offset_entry *e = o->buckets[b]; e; e = e->next)
            if (!strcmp(e->group, group)) {
                if (fn) fn(arg, e->topic, e->partition, &e->v);
                n++;
            }
    return n;
}

bool offsets_group_known(const struct offsets *o, const char *group) {
    for (uint32_t b = 0; b < o->bucket_count; b++)
        for (struct offset_entry *e = o->buckets[b]; e; e = e->next)
            if (!strcmp(e->group, group)) return true;
    return false;
}

void offsets_groups(const struct offsets *o, void (*fn)(void *arg, const char *group), void *arg) {
    /* Distinct groups: an O(n^2) walk is fine for ListGroups on a single broker's scale, but
     * keep it linear-ish by remembering the groups already reported in a small table. */
    const char **seen = NULL;
    uint32_t nseen = 0, cap = 0;
    for (uint32_t b = 0; b < o->bucket_count; b++) {
        for (struct offset_entry *e = o->buckets[b]; e; e = e->next) {
            bool dup = false;
            for (uint32_t i = 0; i < nseen && !dup; i++) dup = !strcmp(seen[i], e->group);
            if (dup) continue;
            if (nseen == cap) seen = sl_xrealloc(seen, (cap = cap ? cap * 2 : 16) * sizeof(*seen));
            seen[nseen++] = e->group;
            fn(arg, e->group);
        }
    }
    free(seen);
}

struct offsets_doomed {
    struct offset_commit *c;
    uint32_t n, cap;
};

static void offsets_collect(void *arg, const char *topic, int32_t partition, const struct offset_value *v) {
    struct offsets_doomed *d = arg;
    (void)v;
    if (d->n == d->cap) d->c = sl_xrealloc(d->c, (d->cap = d->cap ? d->cap * 2 : 16) * sizeof(*d->c));
    d->c[d->n++] = (struct offset_commit){.topic = topic, .topic_len = (int32_t)strlen(topic), .partition = partition,
                                         .offset = -1, .tombstone = true};
}

sl_err offsets_delete_group(struct offsets *o, const char *group, uint64_t now_ms, struct log_waiter *w) {
    struct offsets_doomed d = {0};
    offsets_for_group(o, group, offsets_collect, &d);
    sl_err e = SL_OK;
    if (d.n) {
        /* Copy the names: applying tombstones frees the entries they point into. */
        for (uint32_t i = 0; i < d.n; i++) d.c[i].topic = offsets_strndup(d.c[i].topic, d.c[i].topic_len);
        e = offsets_commit(o, group, d.c, d.n, now_ms, w);
        for (uint32_t i = 0; i < d.n; i++) free((char *)d.c[i].topic);
    } else if (w) {
        w->done(w, SL_OK);
    }
    free(d.c);
    return e;
}

uint32_t offsets_expire(struct offsets *o, uint64_t now_ms, uint64_t retention_ms,
                        bool (*may_expire)(void *arg, const char *group), void *arg) {
    uint32_t gone = 0;
    for (uint32_t b = 0; b < o->bucket_count; b++) {
        struct offset_entry *e = o->buckets[b];
        while (e) {
            struct offset_entry *next = e->next;
            if ((int64_t)now_ms - e->v.commit_ms > (int64_t)retention_ms && may_expire(arg, e->group)) {
                char *group = strdup(e->group);
                char *topic = strdup(e->topic);
                struct offset_commit c = {.topic = topic, .topic_len = (int32_t)strlen(topic),
                                          .partition = e->partition, .offset = -1, .tombstone = true};
                bool ok = offsets_commit(o, group, &c, 1, now_ms, NULL) == SL_OK;
                free(group);
                free(topic);
                if (!ok) return gone; /* the log failed: try again next time */
                gone++;
                next = o->buckets[b]; /* the chain changed: rescan it */
            }
            e = next;
        }
    }
    return gone;
}

int64_t offsets_lag(const struct offsets *o, const char *group, const char *topic, int32_t partition,
                    struct log *partition_log) {
    const struct offset_value *v = offsets_get(o, group, topic, (int32_t)strlen(topic), partition);
    if (!v || !partition_log) return -1;
    int64_t lag = log_written_offset(partition_log) - v->offset;
    return lag < 0 ? 0 : lag;
}

/* ---- group state ---------------------------------------------------------------------------- */

static uint32_t offsets_group_key(uint8_t *out, const char *group, size_t glen) {
    sl_store_be16(out, OFFSETS_GROUP_KEY_VERSION);
    return 2 + (uint32_t)put_str16(out + 2, group, (int32_t)glen);
}

sl_err offsets_store_group(struct offsets *o, const char *group, const uint8_t *state, uint32_t len, uint64_t now_ms,
                           struct log_waiter *w) {
    size_t glen = strlen(group);
    if (glen > UINT16_MAX) return SL_INVALID_ARG;
    uint8_t *key = sl_xmalloc(4 + glen);
    uint32_t kl = offsets_group_key(key, group, glen);
    sl_err e;
    if (state) {
        e = kvlog_put(o->kv, key, kl, state, len, now_ms, w);
    } else if (kvlog_get(o->kv, key, kl, NULL)) {
        e = kvlog_del(o->kv, key, kl, now_ms, w);
    } else {
        e = SL_OK;
        if (w) w->done(w, SL_OK);
    }
    free(key);
    return e;
}

struct offsets_group_walk {
    void (*fn)(void *arg, const char *group, const uint8_t *state, uint32_t len);
    void *arg;
};

static void offsets_group_one(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *val, uint32_t val_len) {
    struct offsets_group_walk *gw = arg;
    if (!val || !offsets_is_group_key(key, key_len)) return;
    const uint8_t *p = key + 2;
    const char *g;
    int32_t glen;
    if (!get_str16(&p, key + key_len, &g, &glen) || glen < 0 || p != key + key_len) return;
    char *name = offsets_strndup(g, glen);
    gw->fn(gw->arg, name, val, val_len);
    free(name);
}

void offsets_group_states(const struct offsets *o,
                          void (*fn)(void *arg, const char *group, const uint8_t *state, uint32_t len), void *arg) {
    struct offsets_group_walk gw = {fn, arg};
    kvlog_foreach(o->kv, offsets_group_one, &gw);
}

/* ---- offsets staged by transactions ---------------------------------------------------------- */

static void offsets_count_staged(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *val,
                                 uint32_t val_len) {
    (void)val;
    (void)val_len;
    if (offsets_is_txn_key(key, key_len)) (*(uint32_t *)arg)++;
}

static void offsets_recount_staged(struct offsets *o) {
    o->txn_staged = 0;
    kvlog_foreach(o->kv, offsets_count_staged, &o->txn_staged);
}

/* The producer's last epoch here, -1 if none. */
/* The producer's epoch here (-1: none) and the last marker's coordinator epoch (-1: none). */
static int32_t offsets_txn_epoch(const struct offsets *o, int64_t producer_id, int32_t *coordinator_epoch) {
    uint8_t k[10];
    sl_store_be16(k, OFFSETS_TXN_EPOCH_KEY_VERSION);
    sl_store_be64(k + 2, (uint64_t)producer_id);
    uint32_t vl = 0;
    const uint8_t *v = kvlog_get(o->kv, k, sizeof(k), &vl);
    *coordinator_epoch = v && vl == 6 ? (int32_t)sl_load_be32(v + 2) : -1;
    return v && (vl == 2 || vl == 6) ? (int32_t)(int16_t)sl_load_be16(v) : -1;
}

/* Moves the producer's epoch here up to epoch, and the coordinator epoch up to
 * coordinator_epoch (-1: a TxnOffsetCommit, which names none): SL_TRANSACTION_COORDINATOR_FENCED
 * if a newer coordinator's marker came already, SL_INVALID_PRODUCER_EPOCH (fenced) if the
 * producer is already past epoch, as Kafka's producer state checks them, in that order. Written
 * before what it guards, in the same log. */
static sl_err offsets_txn_epoch_advance(struct offsets *o, int64_t producer_id, int16_t epoch, int32_t coordinator_epoch,
                                        uint64_t now_ms) {
    int32_t cur_ce;
    int32_t cur = offsets_txn_epoch(o, producer_id, &cur_ce);
    if (coordinator_epoch >= 0 && coordinator_epoch < cur_ce) return SL_TRANSACTION_COORDINATOR_FENCED;
    if (epoch < cur) return SL_INVALID_PRODUCER_EPOCH;
    int32_t ce = SL_MAX(coordinator_epoch, cur_ce);
    if (epoch == cur && ce == cur_ce) return SL_OK;
    uint8_t k[10], v[6];
    sl_store_be16(k, OFFSETS_TXN_EPOCH_KEY_VERSION);
    sl_store_be64(k + 2, (uint64_t)producer_id);
    sl_store_be16(v, (uint16_t)epoch);
    sl_store_be32(v + 2, (uint32_t)ce);
    return kvlog_put(o->kv, k, sizeof(k), v, ce >= 0 ? 6 : 2, now_ms, NULL);
}

sl_err offsets_txn_stage(struct offsets *o, int64_t producer_id, int16_t epoch, const char *group,
                         const struct offset_commit *c, uint32_t n, uint64_t now_ms, struct log_waiter *w) {
    if (n == 0 || producer_id < 0 || epoch < 0) return SL_INVALID_ARG;
    sl_err e = offsets_txn_epoch_advance(o, producer_id, epoch, -1, now_ms);
    if (e) return e == SL_INVALID_PRODUCER_EPOCH ? SL_PRODUCER_FENCED : e;
    e = offsets_append_as(o, producer_id, group, c, n, now_ms, w);
    /* An upper bound (a record may replace one staged before): it only says whether to look. */
    if (!e) o->txn_staged += n;
    return e;
}

/* A staged record, decoded: its group (copied) and commit (pointing into the kvlog's bytes). */
struct offsets_staged {
    char *group;
    struct offset_commit c;
    const uint8_t *key;
    uint32_t key_len;
};

struct offsets_staged_walk {
    int64_t producer_id; /* -1: every producer */
    struct offsets_staged *v;
    uint32_t n, cap;
    uint32_t staged; /* every staged record seen, whoever's */
};

static void offsets_staged_one(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *val,
                               uint32_t val_len) {
    struct offsets_staged_walk *sw = arg;
    if (!val || !offsets_is_txn_key(key, key_len)) return;
    sw->staged++;
    int64_t pid = (int64_t)sl_load_be64(key + 2);
    if (sw->producer_id >= 0 && pid != sw->producer_id) return;
    /* The rest of the key and the value are an offset's: decode them as one. */
    uint8_t *plain = sl_xmalloc(key_len - 8);
    sl_store_be16(plain, OFFSETS_VERSION);
    memcpy(plain + 2, key + 10, key_len - 10);
    char *g = NULL;
    struct offset_commit c;
    bool ok = offsets_decode_key(plain, key_len - 8, &g, &c);
    const uint8_t *v = val, *vend = val + val_len;
    const char *md = NULL;
    int32_t mlen = -1;
    ok = ok && val_len >= 2 + 8 + 4 + 2 + 8 && sl_load_be16(v) == OFFSETS_VERSION;
    if (ok) {
        c.offset = (int64_t)sl_load_be64(v + 2);
        c.leader_epoch = (int32_t)sl_load_be32(v + 10);
        v += 14;
        ok = get_str16(&v, vend, &md, &mlen) && vend - v == 8;
    }
    if (!ok) {
        if (g) free(g);
        free(plain);
        return;
    }
    /* The topic points into plain: point it into the kvlog's own key instead. */
    c.topic = (const char *)key + 10 + 2 + strlen(g) + 2;
    c.metadata = md;
    c.metadata_len = mlen;
    free(plain);
    if (sw->n == sw->cap) sw->v = sl_xrealloc(sw->v, (sw->cap = sw->cap ? sw->cap * 2 : 8) * sizeof(*sw->v));
    sw->v[sw->n++] = (struct offsets_staged){g, c, key, key_len};
}

sl_err offsets_txn_end(struct offsets *o, int64_t producer_id, int16_t epoch, int32_t coordinator_epoch, bool commit,
                       uint64_t now_ms, struct log_waiter *w) {
    /* A marker of an older epoch than the producer's here, or from an older coordinator than the
     * last marker's, is refused, as a partition refuses it; a newer one (an abort that fences a
     * zombie) moves the epoch first, so the zombie's next TxnOffsetCommit is refused. */
    sl_err ee = epoch >= 0 ? offsets_txn_epoch_advance(o, producer_id, epoch, coordinator_epoch, now_ms) : SL_OK;
    if (ee) return ee;
    struct offsets_staged_walk sw = {producer_id, NULL, 0, 0, 0};
    if (o->txn_staged) kvlog_foreach(o->kv, offsets_staged_one, &sw);
    o->txn_staged = sw.staged; /* exact again, from the walk this needs anyway */
    if (sw.n == 0) {
        if (w) kvlog_wait(o->kv, w); /* the epoch record, if one was written (at once if not) */
        return SL_OK;
    }
    /* Copies first: the writes below change the kvlog the records point into. */
    struct kvlog_op *dels = sl_xcalloc(sw.n, sizeof(*dels));
    for (uint32_t i = 0; i < sw.n; i++) {
        struct offsets_staged *st = &sw.v[i];
        uint8_t *k = sl_xmalloc(st->key_len);
        memcpy(k, st->key, st->key_len);
        dels[i] = (struct kvlog_op){k, st->key_len, NULL, -1};
        st->c.topic = offsets_strndup(st->c.topic, st->c.topic_len);
        if (st->c.metadata) st->c.metadata = offsets_strndup(st->c.metadata, st->c.metadata_len);
    }
    sl_err e = SL_OK;
    /* The commits become the groups' offsets (one batch per group), then the staged records
     * go: a crash between leaves them staged, and the coordinator's marker, sent again, commits
     * the same values again. */
    for (uint32_t i = 0; commit && i < sw.n && !e; i++) {
        if (!sw.v[i].group) continue; /* done with an earlier one of its group */
        struct offset_commit *cs = sl_xcalloc(sw.n, sizeof(*cs));
        uint32_t k = 0;
        for (uint32_t j = i; j < sw.n; j++)
            if (sw.v[j].group && !strcmp(sw.v[j].group, sw.v[i].group)) cs[k++] = sw.v[j].c;
        e = offsets_commit(o, sw.v[i].group, cs, k, now_ms, NULL);
        free(cs);
        char *done = sw.v[i].group;
        for (uint32_t j = i + 1; j < sw.n; j++)
            if (sw.v[j].group && !strcmp(sw.v[j].group, done)) {
                free(sw.v[j].group);
                sw.v[j].group = NULL;
            }
        free(done);
        sw.v[i].group = NULL;
    }
    if (!e) e = kvlog_write(o->kv, dels, sw.n, now_ms, w);
    for (uint32_t i = 0; i < sw.n; i++) {
        free((void *)dels[i].key);
        free(sw.v[i].group);
        free((char *)sw.v[i].c.topic);
        free((char *)sw.v[i].c.metadata);
    }
    free(dels);
    free(sw.v);
    if (!e) o->txn_staged -= sw.n;
    return e;
}

struct offsets_staged_find {
    const char *group, *topic;
    int32_t topic_len, partition;
    bool found;
};

static void offsets_staged_match(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *val,
                                 uint32_t val_len) {
    struct offsets_staged_find *f = arg;
    if (f->found || !val || !offsets_is_txn_key(key, key_len)) return;
    (void)val_len;
    const uint8_t *p = key + 10, *end = key + key_len;
    const char *g, *t;
    int32_t gl, tl;
    if (!get_str16(&p, end, &g, &gl) || !get_str16(&p, end, &t, &tl) || gl < 0 || tl < 0 || end - p != 4) return;
    f->found = (size_t)gl == strlen(f->group) && !memcmp(g, f->group, (size_t)gl) && tl == f->topic_len &&
               !memcmp(t, f->topic, (size_t)tl) && (int32_t)sl_load_be32(p) == f->partition;
}

bool offsets_txn_pending(const struct offsets *o, const char *group, const char *topic, int32_t topic_len,
                         int32_t partition) {
    if (!o->txn_staged) return false;
    struct offsets_staged_find f = {group, topic, topic_len, partition, false};
    kvlog_foreach(o->kv, offsets_staged_match, &f);
    return f.found;
}
