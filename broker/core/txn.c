/* txn.c: the transaction coordinator's state machine (see txn.h). Entries live in one array
 * with linear lookup: txns_max bounds it, and lookups happen once per transactional request,
 * not per record. */
#include "broker/core/txn.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "storage/kvlog.h"

struct txn_coord {
    struct txn *txns;
    uint32_t count, max;
    int32_t timeout_ms_max;
};

static char *txn_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = sl_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

struct txn_coord *txn_coord_new(uint32_t txns_max, int32_t timeout_ms_max) {
    SL_ASSERT(txns_max > 0 && timeout_ms_max > 0);
    struct txn_coord *c = sl_xcalloc(1, sizeof(*c));
    c->max = txns_max;
    c->timeout_ms_max = timeout_ms_max;
    return c;
}

static void txn_offset_free(struct txn_offset *o) {
    free(o->group);
    free(o->topic);
    free(o->metadata);
}

static void txn_clear(struct txn *t) {
    for (uint32_t i = 0; i < t->part_count; i++) free(t->parts[i].topic);
    for (uint32_t i = 0; i < t->group_count; i++) free(t->groups[i]);
    for (uint32_t i = 0; i < t->offset_count; i++) txn_offset_free(&t->offsets[i]);
    t->part_count = t->group_count = t->offset_count = 0;
}

/* Frees what t owns but its id. */
static void txn_release(struct txn *t) {
    txn_clear(t);
    free(t->parts);
    free(t->groups);
    free(t->offsets);
}

void txn_coord_free(struct txn_coord *c) {
    if (!c) return;
    for (uint32_t i = 0; i < c->count; i++) {
        txn_release(&c->txns[i]);
        free(c->txns[i].id);
    }
    free(c->txns);
    free(c);
}

static struct txn *txn_find(const struct txn_coord *c, const char *id) {
    for (uint32_t i = 0; i < c->count; i++)
        if (strcmp(c->txns[i].id, id) == 0) return &c->txns[i];
    return NULL;
}

const struct txn *txn_get(const struct txn_coord *c, const char *id) { return txn_find(c, id); }

/* A new epoch for the id; past INT16_MAX - 1 it takes a new producer id at epoch 0, as Kafka
 * does, so the epoch never wraps into one a zombie still holds. */
static void txn_bump_epoch(struct txn *t, int64_t new_producer_id) {
    if (t->epoch >= INT16_MAX - 1) {
        t->producer_id = new_producer_id;
        t->epoch = 0;
    } else {
        t->epoch++;
    }
}

sl_err txn_init_producer(struct txn_coord *c, const char *id, int32_t timeout_ms, int64_t new_producer_id,
                         const struct txn **out) {
    if (timeout_ms <= 0 || timeout_ms > c->timeout_ms_max) return SL_INVALID_TRANSACTION_TIMEOUT;
    struct txn *t = txn_find(c, id);
    if (!t) {
        if (c->count == c->max) return SL_POLICY_VIOLATION;
        c->txns = sl_xrealloc(c->txns, (c->count + 1) * sizeof(*c->txns));
        t = &c->txns[c->count++];
        *t = (struct txn){.id = txn_strdup(id), .producer_id = new_producer_id, .epoch = 0};
        t->state = TXN_EMPTY;
        t->timeout_ms = timeout_ms;
        *out = t;
        return SL_OK;
    }
    switch (t->state) {
    case TXN_PREPARE_COMMIT:
    case TXN_PREPARE_ABORT:
        return SL_CONCURRENT_TRANSACTIONS;
    case TXN_ONGOING:
        /* Fences the old producer before its abort. The producer id stays, even past the last
         * epoch: the abort markers must name the producer whose transaction is open in the
         * partitions; the retry after the abort then moves to the new producer id. */
        if (t->epoch < INT16_MAX - 1) t->epoch++;
        t->state = TXN_PREPARE_ABORT;
        *out = t;
        return SL_CONCURRENT_TRANSACTIONS;
    default:
        txn_bump_epoch(t, new_producer_id);
        t->state = TXN_EMPTY;
        t->timeout_ms = timeout_ms;
        *out = t;
        return SL_OK;
    }
}

/* The checks every request of a transactional producer passes first. */
static sl_err txn_check_producer(const struct txn *t, int64_t producer_id, int16_t epoch) {
    if (!t || t->producer_id != producer_id) return SL_INVALID_PRODUCER_ID_MAPPING;
    if (t->epoch != epoch) return SL_PRODUCER_FENCED;
    return SL_OK;
}

/* Add*: the transaction begins (or goes on) unless it is still completing. */
static sl_err txn_begin(struct txn *t, uint64_t now_ms) {
    if (t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT) return SL_CONCURRENT_TRANSACTIONS;
    if (t->state != TXN_ONGOING) {
        t->state = TXN_ONGOING;
        t->started_ms = now_ms;
    }
    return SL_OK;
}

sl_err txn_add_partition(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch,
                         const char *topic, int32_t partition, uint64_t now_ms) {
    struct txn *t = txn_find(c, id);
    sl_err e = txn_check_producer(t, producer_id, epoch);
    if (e == SL_OK) e = txn_begin(t, now_ms);
    if (e) return e;
    for (uint32_t i = 0; i < t->part_count; i++)
        if (t->parts[i].partition == partition && strcmp(t->parts[i].topic, topic) == 0) return SL_OK;
    if (t->part_count == t->part_cap) {
        t->part_cap = t->part_cap ? 2 * t->part_cap : 4;
        t->parts = sl_xrealloc(t->parts, t->part_cap * sizeof(*t->parts));
    }
    t->parts[t->part_count++] = (struct txn_part){txn_strdup(topic), partition};
    return SL_OK;
}

sl_err txn_add_group(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch,
                     const char *group, uint64_t now_ms) {
    struct txn *t = txn_find(c, id);
    sl_err e = txn_check_producer(t, producer_id, epoch);
    if (e == SL_OK) e = txn_begin(t, now_ms);
    if (e) return e;
    for (uint32_t i = 0; i < t->group_count; i++)
        if (strcmp(t->groups[i], group) == 0) return SL_OK;
    if (t->group_count == t->group_cap) {
        t->group_cap = t->group_cap ? 2 * t->group_cap : 2;
        t->groups = sl_xrealloc(t->groups, t->group_cap * sizeof(*t->groups));
    }
    t->groups[t->group_count++] = txn_strdup(group);
    return SL_OK;
}

sl_err txn_check_offsets(const struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch,
                         const char *group) {
    const struct txn *t = txn_find(c, id);
    sl_err e = txn_check_producer(t, producer_id, epoch);
    if (e) return e;
    if (t->state != TXN_ONGOING) return SL_INVALID_TXN_STATE;
    for (uint32_t i = 0; i < t->group_count; i++)
        if (strcmp(t->groups[i], group) == 0) return SL_OK;
    return SL_INVALID_TXN_STATE; /* TxnOffsetCommit before AddOffsetsToTxn */
}

static char *txn_memdup(const char *p, int32_t n) {
    if (n < 0) return NULL;
    char *s = sl_xmalloc((size_t)n + 1);
    if (n) memcpy(s, p, (size_t)n);
    s[n] = 0;
    return s;
}

/* Takes ownership of o's strings. */
static void txn_put_offset(struct txn *t, struct txn_offset o) {
    for (uint32_t i = 0; i < t->offset_count; i++) {
        struct txn_offset *x = &t->offsets[i];
        if (x->partition == o.partition && !strcmp(x->group, o.group) && !strcmp(x->topic, o.topic)) {
            txn_offset_free(x);
            *x = o;
            return;
        }
    }
    if (t->offset_count == t->offset_cap) {
        t->offset_cap = t->offset_cap ? 2 * t->offset_cap : 4;
        t->offsets = sl_xrealloc(t->offsets, t->offset_cap * sizeof(*t->offsets));
    }
    t->offsets[t->offset_count++] = o;
}

sl_err txn_add_offset(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch, const char *group,
                      const char *topic, int32_t partition, int64_t offset, int32_t leader_epoch,
                      const char *metadata, int32_t metadata_len) {
    sl_err e = txn_check_offsets(c, id, producer_id, epoch, group);
    if (e) return e;
    struct txn_offset o = {txn_strdup(group), txn_strdup(topic), partition, offset, leader_epoch,
                           txn_memdup(metadata, metadata_len), metadata_len < 0 ? -1 : metadata_len};
    txn_put_offset(txn_find(c, id), o);
    return SL_OK;
}

bool txn_offset_pending(const struct txn_coord *c, const char *group, const char *topic, int32_t topic_len,
                        int32_t partition) {
    for (uint32_t i = 0; i < c->count; i++) {
        const struct txn *t = &c->txns[i];
        for (uint32_t j = 0; j < t->offset_count; j++) {
            const struct txn_offset *o = &t->offsets[j];
            if (o->partition == partition && (int32_t)strlen(o->topic) == topic_len &&
                !memcmp(o->topic, topic, (size_t)topic_len) && !strcmp(o->group, group))
                return true;
        }
    }
    return false;
}

sl_err txn_check_init(const struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch) {
    const struct txn *t = txn_find(c, id);
    if (!t) return SL_OK;
    return t->producer_id == producer_id && t->epoch == epoch ? SL_OK : SL_PRODUCER_FENCED;
}

sl_err txn_end(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch, bool commit,
               const struct txn **out) {
    struct txn *t = txn_find(c, id);
    sl_err e = txn_check_producer(t, producer_id, epoch);
    if (e) return e;
    *out = t;
    switch (t->state) {
    case TXN_ONGOING:
        t->state = commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT;
        return SL_OK;
    case TXN_PREPARE_COMMIT:
    case TXN_PREPARE_ABORT:
        return (t->state == TXN_PREPARE_COMMIT) == commit ? SL_CONCURRENT_TRANSACTIONS : SL_INVALID_TXN_STATE;
    case TXN_COMPLETE_COMMIT:
    case TXN_COMPLETE_ABORT:
        return (t->state == TXN_COMPLETE_COMMIT) == commit ? SL_OK : SL_INVALID_TXN_STATE;
    default:
        return SL_INVALID_TXN_STATE;
    }
}

void txn_complete(struct txn_coord *c, const char *id) {
    struct txn *t = txn_find(c, id);
    SL_ASSERT(t && (t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT));
    t->state = t->state == TXN_PREPARE_COMMIT ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT;
    txn_clear(t);
}

const struct txn *txn_expire_next(struct txn_coord *c, uint64_t now_ms) {
    for (uint32_t i = 0; i < c->count; i++) {
        struct txn *t = &c->txns[i];
        if (t->state != TXN_ONGOING || now_ms < t->started_ms + (uint64_t)t->timeout_ms) continue;
        /* The expired producer keeps its id; a bump past the last epoch keeps it too, and the
         * id's next InitProducerId moves to a new producer id then. */
        if (t->epoch < INT16_MAX - 1) t->epoch++;
        t->state = TXN_PREPARE_ABORT;
        return t;
    }
    return NULL;
}

uint64_t txn_next_deadline(const struct txn_coord *c) {
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < c->count; i++) {
        const struct txn *t = &c->txns[i];
        if (t->state == TXN_ONGOING) next = SL_MIN(next, t->started_ms + (uint64_t)t->timeout_ms);
    }
    return next;
}

void txn_touch(struct txn_coord *c, const char *id, int64_t wall_ms) {
    struct txn *t = txn_find(c, id);
    SL_ASSERT(t);
    t->updated_ms = wall_ms;
}

uint32_t txn_expire_ids(struct txn_coord *c, int64_t now_wall_ms, int64_t expiration_ms,
                        void (*gone)(void *arg, const char *id), void *arg) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->count;) {
        struct txn *t = &c->txns[i];
        bool idle = t->state == TXN_EMPTY || t->state == TXN_COMPLETE_COMMIT || t->state == TXN_COMPLETE_ABORT;
        if (idle && t->updated_ms == 0) t->updated_ms = now_wall_ms;
        if (!idle || now_wall_ms - t->updated_ms < expiration_ms) {
            i++;
            continue;
        }
        gone(arg, t->id);
        txn_release(t);
        free(t->id);
        c->txns[i] = c->txns[--c->count]; /* order does not matter: lookups are by id */
        n++;
    }
    return n;
}

const char *txn_state_name(enum txn_state s) {
    static const char *const names[] = {"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
                                        "CompleteAbort"};
    SL_ASSERT((unsigned)s < sizeof(names) / sizeof(names[0]));
    return names[s];
}

uint32_t txn_count(const struct txn_coord *c) { return c->count; }

const struct txn *txn_at(const struct txn_coord *c, uint32_t i) { return i < c->count ? &c->txns[i] : NULL; }

/* ---- persistence ---- */

enum { TXN_REC_VERSION = 1 };
enum {
    TXN_TAG_PRODUCER_ID = 1,
    TXN_TAG_EPOCH = 2,
    TXN_TAG_STATE = 3,
    TXN_TAG_TIMEOUT_MS = 4,
    TXN_TAG_PART = 5,  /* be32 partition, then the topic's bytes */
    TXN_TAG_GROUP = 6, /* the group id's bytes */
    /* A pending offset: be32 partition, be64 offset, be32 leader epoch, be32 metadata length
     * (-1: null), be16 group length, be16 topic length, then group, topic and metadata bytes. */
    TXN_TAG_OFFSET = 7,
    TXN_TAG_UPDATED_MS = 8, /* optional: entries written before it have an unknown age */
};
enum { TXN_OFFSET_FIXED = 4 + 8 + 4 + 4 + 2 + 2 };

static void txn_encode_offset(const struct txn_offset *o, struct kvlog_tlv_writer *w) {
    size_t gl = strlen(o->group), tl = strlen(o->topic), ml = o->metadata_len < 0 ? 0 : (size_t)o->metadata_len;
    uint8_t *buf = sl_xmalloc(TXN_OFFSET_FIXED + gl + tl + ml);
    sl_store_be32(buf, (uint32_t)o->partition);
    sl_store_be64(buf + 4, (uint64_t)o->offset);
    sl_store_be32(buf + 12, (uint32_t)o->leader_epoch);
    sl_store_be32(buf + 16, (uint32_t)o->metadata_len);
    sl_store_be16(buf + 20, (uint16_t)gl);
    sl_store_be16(buf + 22, (uint16_t)tl);
    memcpy(buf + TXN_OFFSET_FIXED, o->group, gl);
    memcpy(buf + TXN_OFFSET_FIXED + gl, o->topic, tl);
    if (ml) memcpy(buf + TXN_OFFSET_FIXED + gl + tl, o->metadata, ml);
    kvlog_tlv_put(w, TXN_TAG_OFFSET, buf, (uint32_t)(TXN_OFFSET_FIXED + gl + tl + ml));
    free(buf);
}

/* false if the field is not a whole pending offset. */
static bool txn_decode_offset(struct txn *t, const uint8_t *p, uint32_t n) {
    if (n < TXN_OFFSET_FIXED) return false;
    int32_t ml = (int32_t)sl_load_be32(p + 16);
    uint32_t gl = sl_load_be16(p + 20), tl = sl_load_be16(p + 22);
    if (ml < -1 || gl == 0 || tl == 0 || (uint64_t)TXN_OFFSET_FIXED + gl + tl + (uint32_t)SL_MAX(ml, 0) != n)
        return false;
    const char *at = (const char *)p + TXN_OFFSET_FIXED;
    if (memchr(at, 0, gl + tl)) return false;
    struct txn_offset o = {txn_memdup(at, (int32_t)gl), txn_memdup(at + gl, (int32_t)tl), (int32_t)sl_load_be32(p),
                           (int64_t)sl_load_be64(p + 4), (int32_t)sl_load_be32(p + 12),
                           txn_memdup(at + gl + tl, ml), ml};
    txn_put_offset(t, o);
    return true;
}

void txn_encode(const struct txn *t, struct kvlog_tlv_writer *w) {
    kvlog_tlv_begin(w, TXN_REC_VERSION);
    kvlog_tlv_put_i64(w, TXN_TAG_PRODUCER_ID, t->producer_id);
    kvlog_tlv_put_i64(w, TXN_TAG_EPOCH, t->epoch);
    kvlog_tlv_put_i64(w, TXN_TAG_STATE, t->state);
    kvlog_tlv_put_i64(w, TXN_TAG_TIMEOUT_MS, t->timeout_ms);
    if (t->updated_ms > 0) kvlog_tlv_put_i64(w, TXN_TAG_UPDATED_MS, t->updated_ms);
    for (uint32_t i = 0; i < t->part_count; i++) {
        size_t n = strlen(t->parts[i].topic);
        uint8_t *buf = sl_xmalloc(4 + n);
        sl_store_be32(buf, (uint32_t)t->parts[i].partition);
        memcpy(buf + 4, t->parts[i].topic, n);
        kvlog_tlv_put(w, TXN_TAG_PART, buf, (uint32_t)(4 + n));
        free(buf);
    }
    for (uint32_t i = 0; i < t->group_count; i++)
        kvlog_tlv_put(w, TXN_TAG_GROUP, t->groups[i], (uint32_t)strlen(t->groups[i]));
    for (uint32_t i = 0; i < t->offset_count; i++) txn_encode_offset(&t->offsets[i], w);
}

static char *txn_strndup(const uint8_t *p, uint32_t n) {
    char *s = sl_xmalloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Reads the value into t (ids and arrays owned by t); false if it is not a whole entry. */
static bool txn_decode(struct txn *t, const uint8_t *value, uint32_t value_len) {
    struct kvlog_tlv_reader r;
    if (!kvlog_tlv_open(&r, value, value_len) || r.version != TXN_REC_VERSION) return false;
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    int64_t v, pid = -1, epoch = -1, state = -1, timeout = -1;
    while (kvlog_tlv_next(&r, &tag, &p, &n)) {
        if (tag == TXN_TAG_PART) {
            if (n < 5 || memchr(p + 4, 0, n - 4)) return false; /* names are C strings here */
            if (t->part_count == t->part_cap) {
                t->part_cap = t->part_cap ? 2 * t->part_cap : 4;
                t->parts = sl_xrealloc(t->parts, t->part_cap * sizeof(*t->parts));
            }
            t->parts[t->part_count++] = (struct txn_part){txn_strndup(p + 4, n - 4), (int32_t)sl_load_be32(p)};
        } else if (tag == TXN_TAG_GROUP) {
            if (n && memchr(p, 0, n)) return false;
            if (t->group_count == t->group_cap) {
                t->group_cap = t->group_cap ? 2 * t->group_cap : 2;
                t->groups = sl_xrealloc(t->groups, t->group_cap * sizeof(*t->groups));
            }
            t->groups[t->group_count++] = txn_strndup(p, n);
        } else if (tag == TXN_TAG_OFFSET) {
            if (!txn_decode_offset(t, p, n)) return false;
        } else if (tag == TXN_TAG_UPDATED_MS) {
            if (!kvlog_tlv_i64(p, n, &v) || v < 0) return false;
            t->updated_ms = v;
        } else if (tag >= TXN_TAG_PRODUCER_ID && tag <= TXN_TAG_TIMEOUT_MS) {
            if (!kvlog_tlv_i64(p, n, &v)) return false;
            if (tag == TXN_TAG_PRODUCER_ID) pid = v;
            else if (tag == TXN_TAG_EPOCH) epoch = v;
            else if (tag == TXN_TAG_STATE) state = v;
            else timeout = v;
        }
    }
    if (r.p != r.end) return false; /* a truncated field */
    if (pid < 0 || epoch < 0 || epoch > INT16_MAX || state < TXN_EMPTY || state > TXN_COMPLETE_ABORT ||
        timeout <= 0 || timeout > INT32_MAX)
        return false;
    t->producer_id = pid;
    t->epoch = (int16_t)epoch;
    t->state = (enum txn_state)state;
    t->timeout_ms = (int32_t)timeout;
    return true;
}

sl_err txn_restore(struct txn_coord *c, const char *id, const uint8_t *value, uint32_t value_len, uint64_t now_ms) {
    struct txn fresh = {0};
    if (!txn_decode(&fresh, value, value_len)) {
        txn_release(&fresh);
        return SL_CORRUPT;
    }
    struct txn *t = txn_find(c, id);
    if (!t) {
        if (c->count == c->max) {
            txn_release(&fresh);
            return SL_POLICY_VIOLATION;
        }
        c->txns = sl_xrealloc(c->txns, (c->count + 1) * sizeof(*c->txns));
        t = &c->txns[c->count++];
        fresh.id = txn_strdup(id);
    } else {
        fresh.id = t->id;
        txn_release(t);
    }
    fresh.started_ms = now_ms;
    *t = fresh;
    return SL_OK;
}
