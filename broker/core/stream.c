/* stream.c: streams on the commit log (see stream.h): the registry, the per-stream index
 * (sequence -> subject, size, time), counters, the deleted set, the msg-id window, limits, and
 * the record mapping of a message onto a one-record RecordBatch v2. */
#include "broker/core/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/logging.h"
#include "base/loop.h"
#include "broker/core/cluster_view.h"
#include "broker/core/partition.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_records.h"
#include "storage/kvlog.h"
#include "storage/store.h"

#define STREAM_REC_VERSION 1
enum stream_tag {
    STREAM_TAG_SUBJECT = 1, /* one per subject */
    STREAM_TAG_RETENTION = 2,
    STREAM_TAG_MAX_CONSUMERS = 3,
    STREAM_TAG_MAX_MSGS = 4,
    STREAM_TAG_MAX_BYTES = 5,
    STREAM_TAG_MAX_AGE_NS = 6,
    STREAM_TAG_MAX_MSGS_PER_SUBJECT = 7,
    STREAM_TAG_MAX_MSG_SIZE = 8,
    STREAM_TAG_DISCARD = 9,
    STREAM_TAG_STORAGE = 10,
    STREAM_TAG_REPLICAS = 11,
    STREAM_TAG_DUPLICATE_WINDOW_NS = 12,
    STREAM_TAG_FLAGS = 13, /* bit 0 allow_direct, 1 mirror_direct, 2 sealed, 3 deny_delete, ... */
    STREAM_TAG_DLQ = 14,
    STREAM_TAG_CREATED_NS = 15,
    STREAM_TAG_PLACED = 16, /* this broker's copy of a stream the cluster placed (streams_adopt) */
};

/* The deleted set's record: "stream/<name>/deleted" -> floor (first_seq) and removed seqs. */
#define STREAM_DELETED_KEY_PREFIX "stream/"
#define STREAM_DELETED_KEY_SUFFIX "/deleted"
/* SEQS: one be64 per removed sequence (written before ranges; still read). RANGES: be64 first,
 * be64 last per run of removed sequences. */
enum stream_deleted_tag { STREAM_DTAG_FLOOR = 1, STREAM_DTAG_SEQS = 2, STREAM_DTAG_RANGES = 3 };

#define STREAM_SUBJ_NONE UINT32_MAX
#define STREAM_AGE_CHECK_MS 1000
/* A work queue acked at 10 k/s would write its deleted-set record, and fdatasync the metadata
 * log, on every loop turn: at most one write per this period instead. Acks that must be durable
 * (AckSync) flush at once through streams_persist_now. */
#define STREAM_PERSIST_PACE_MS 10
#define STREAM_READ_AHEAD_BYTES (64u << 10) /* stream_get reads whole batches up to this much at once */
#define STREAM_MSGID_BUCKETS_MIN 256

struct stream_meta {
    uint32_t subj;        /* index into subjs; STREAM_SUBJ_NONE: deleted */
    uint32_t size : 31;   /* stored size as nats-server counts it (max_payload is far below 2 GiB) */
    uint32_t has_hdr : 1; /* the size includes a header block (stream_peek needs to know) */
    int64_t ts_ms;
};

struct stream_subj {
    char *name;
    uint32_t len;
    uint64_t count;
    uint64_t last_seq;
    uint64_t first_hint; /* no live message of this subject below it */
};

struct stream_msgid {
    struct stream_msgid *hnext, *next;
    uint64_t seq;
    int64_t ts_ms;
    uint32_t len;
    char id[];
};

struct stream {
    struct streams *ss;
    struct topic *tp;
    struct partition *part;
    struct stream_config cfg;
    int64_t created_ns;
    bool placed; /* a copy of a stream the cluster placed: its partition's leader serves it */
    void *user;
    /* index: metas[i] is sequence base_seq + i, for i < meta_len */
    struct stream_meta *metas;
    uint64_t base_seq;
    uint64_t meta_len, meta_cap;
    uint64_t first_seq, last_seq;
    uint64_t messages, bytes, num_subjects;
    int64_t last_ts_ms;
    uint64_t removals, consumer_removals; /* all removals; those made through stream_remove */
    /* removed sequences above first_seq, as sorted runs that neither overlap nor touch: a KV
     * bucket's history limit removes all but a few sequences, which take a few runs */
    struct stream_drange *deleted;
    uint32_t deleted_count, deleted_cap; /* runs */
    uint64_t deleted_total;              /* sequences in them */
    bool dirty; /* the deleted record needs writing */
    /* subjects */
    struct stream_subj *subjs;
    uint32_t subj_count, subj_cap;
    uint32_t *subj_hash; /* index + 1, open addressing */
    uint32_t subj_hash_cap;
    /* msg ids, oldest first */
    struct stream_msgid **msgid_buckets;
    uint32_t msgid_bucket_count, msgid_count;
    struct stream_msgid *msgid_head, *msgid_tail;
    char last_msg_id[256];
    /* Kafka transactions still open on the stream's topic: the sequences each producer's
     * transactional batches took, so an abort marker removes exactly those (consumers read
     * below the partition's LSO, so they never see them before the outcome is known). */
    struct stream_txn *txns;
    uint32_t txn_count, txn_cap;
};

struct stream_drange {
    uint64_t lo, hi;
};

struct stream_txn {
    int64_t producer_id;
    uint64_t *ranges; /* first, last sequence pairs */
    uint32_t range_count, range_cap;
};

struct streams {
    struct store *st;
    struct topics *t;
    struct stream **arr;
    uint32_t count, cap;
    struct kafka_records_scratch scratch;
    /* Read-back (stream_get's spans point here): a chunk of whole batches read ahead from one
     * stream's log, [rc_base, rc_next) in offsets, so a consumer reading on costs no syscall
     * per message; and the batch last opened in it, inflated into its own scratch (appends
     * use the other one) and walked on from the record last returned. */
    uint8_t *buf;
    size_t buf_cap;
    const struct stream *rc_stream; /* NULL: nothing cached */
    int64_t rc_base, rc_next;
    uint32_t rc_len;
    struct kafka_records_scratch rscratch;
    bool rb_open;
    uint32_t rb_pos;        /* the open batch's place in buf */
    int64_t rb_last_offset; /* the record it returned last */
    struct kafka_records_iter rb_it;
    /* Batch build, apart from buf: an append may copy a message just read back (the
     * dead-letter copy), so building must not overwrite or move what it reads from. */
    uint8_t *abuf;
    size_t abuf_cap;
    uint8_t *hdr; /* a rebuilt header block */
    size_t hdr_cap;
    struct kafka_header_in *hin;
    uint32_t hin_cap;
    void (*gone)(void *arg, struct stream *s);
    void *gone_arg;
    char dlq_default[STREAM_NAME_MAX + 1]; /* template of the default dead-letter stream's name */
    struct loop_timer age_timer;
    struct loop_timer persist_timer;
    uint64_t last_persist_ms; /* monotonic: paces the deleted-set records (STREAM_PERSIST_PACE_MS) */
    struct stream_creating *creating; /* streams whose topics are being made (streams_create_start) */
    const struct cluster_view *view;  /* NULL outside a cluster: every stream is this broker's alone */
};

/* One stream being made: its topic's partition is created and its directories synced through
 * the loop's background path (topics_create_start), and only then is the stream attached. Its
 * name and subjects count as taken meanwhile; a second identical create joins the waiters. */
struct stream_creating_waiter {
    streams_create_fn fn;
    void *arg;
};

#define STREAM_CREATING_WAITERS_MAX 64

struct stream_creating {
    struct stream_creating *next;
    struct streams *ss; /* NULL once the registry closed: the last callback only frees this */
    struct log_waiter durable; /* once attached: fires when its records are durable */
    struct stream *s;          /* attached, waiting for durable (NULL before, or if it went) */
    bool attached;             /* the topic is made and the stream attached */
    struct stream_config cfg;
    uint64_t now_ms;
    uint32_t nwaiters;
    struct stream_creating_waiter waiters[STREAM_CREATING_WAITERS_MAX];
};

static void streams_read_forget(struct streams *ss, const struct stream *s);

static struct loop *streams_loop(const struct streams *ss) { return store_loop(ss->st); }

/* ---- subjects ----------------------------------------------------------------------------------- */

static bool subject_token_end(const char *s, uint32_t len, uint32_t i) { return i == len || s[i] == '.'; }

bool stream_subject_matches(const char *pat, uint32_t plen, const char *sub, uint32_t slen) {
    uint32_t i = 0, j = 0;
    while (i < plen && j <= slen) {
        uint32_t pe = i;
        while (!subject_token_end(pat, plen, pe)) pe++;
        if (j == slen) return false;
        uint32_t se = j;
        while (!subject_token_end(sub, slen, se)) se++;
        if (pe - i == 1 && pat[i] == '>') return true;
        if (!(pe - i == 1 && pat[i] == '*') && (pe - i != se - j || memcmp(pat + i, sub + j, pe - i))) return false;
        i = pe + 1;
        j = se + 1;
        if (pe == plen) return se == slen;
        if (se == slen) return false;
    }
    return false;
}

bool stream_subjects_overlap(const char *a, const char *b) {
    const char *pa = a, *pb = b;
    for (;;) {
        const char *ea = strchr(pa, '.'), *eb = strchr(pb, '.');
        size_t la = ea ? (size_t)(ea - pa) : strlen(pa), lb = eb ? (size_t)(eb - pb) : strlen(pb);
        if ((la == 1 && *pa == '>') || (lb == 1 && *pb == '>')) return true;
        bool wild = (la == 1 && *pa == '*') || (lb == 1 && *pb == '*');
        if (!wild && (la != lb || memcmp(pa, pb, la))) return false;
        if (!ea || !eb) return !ea && !eb;
        pa = ea + 1;
        pb = eb + 1;
    }
}

static bool subject_literal(const char *s, uint32_t len) {
    if (len == 0) return false;
    for (uint32_t i = 0, start = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if ((unsigned char)s[i] <= ' ') return false;
            continue;
        }
        if (i == start) return false;
        if (i - start == 1 && (s[start] == '*' || s[start] == '>')) return false;
        start = i + 1;
    }
    return true;
}

static uint32_t hash_bytes(const void *p, uint32_t len) {
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

static uint32_t subj_lookup(const struct stream *s, const char *name, uint32_t len) {
    if (!s->subj_hash_cap) return STREAM_SUBJ_NONE;
    uint32_t mask = s->subj_hash_cap - 1;
    for (uint32_t i = hash_bytes(name, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = s->subj_hash[i];
        if (!v) return STREAM_SUBJ_NONE;
        const struct stream_subj *sj = &s->subjs[v - 1];
        if (sj->len == len && !memcmp(sj->name, name, len)) return v - 1;
    }
}

static void subj_hash_put(struct stream *s, uint32_t idx) {
    uint32_t mask = s->subj_hash_cap - 1;
    uint32_t i = hash_bytes(s->subjs[idx].name, s->subjs[idx].len) & mask;
    while (s->subj_hash[i]) i = (i + 1) & mask;
    s->subj_hash[i] = idx + 1;
}

static uint32_t subj_intern(struct stream *s, const char *name, uint32_t len) {
    uint32_t idx = subj_lookup(s, name, len);
    if (idx != STREAM_SUBJ_NONE) return idx;
    if ((s->subj_count + 1) * 2 > s->subj_hash_cap) {
        free(s->subj_hash);
        s->subj_hash_cap = s->subj_hash_cap ? s->subj_hash_cap * 2 : 64;
        s->subj_hash = sl_xcalloc(s->subj_hash_cap, sizeof(*s->subj_hash));
        for (uint32_t i = 0; i < s->subj_count; i++) subj_hash_put(s, i);
    }
    if (s->subj_count == s->subj_cap) {
        s->subj_cap = s->subj_cap ? s->subj_cap * 2 : 16;
        s->subjs = sl_xrealloc(s->subjs, s->subj_cap * sizeof(*s->subjs));
    }
    idx = s->subj_count++;
    struct stream_subj *sj = &s->subjs[idx];
    memset(sj, 0, sizeof(*sj));
    sj->name = sl_xmalloc((size_t)len + 1);
    memcpy(sj->name, name, len);
    sj->name[len] = 0;
    sj->len = len;
    subj_hash_put(s, idx);
    return idx;
}

/* ---- msg ids ------------------------------------------------------------------------------------ */

static struct stream_msgid **msgid_slot(struct stream *s, const char *id, uint32_t len) {
    struct stream_msgid **pp = &s->msgid_buckets[hash_bytes(id, len) & (s->msgid_bucket_count - 1)];
    while (*pp && ((*pp)->len != len || memcmp((*pp)->id, id, len))) pp = &(*pp)->hnext;
    return pp;
}

static void msgid_unlink_head(struct stream *s) {
    struct stream_msgid *m = s->msgid_head;
    struct stream_msgid **pp = msgid_slot(s, m->id, m->len);
    if (*pp == m) *pp = m->hnext;
    s->msgid_head = m->next;
    if (!s->msgid_head) s->msgid_tail = NULL;
    s->msgid_count--;
    free(m);
}

static int64_t stream_window_ms(const struct stream *s) { return s->cfg.duplicate_window_ns / 1000000; }

static void msgid_expire(struct stream *s, uint64_t now_ms) {
    int64_t w = stream_window_ms(s);
    while (s->msgid_head && s->msgid_head->ts_ms + w <= (int64_t)now_ms) msgid_unlink_head(s);
}

static void msgid_grow(struct stream *s) {
    uint32_t n = s->msgid_bucket_count ? s->msgid_bucket_count * 2 : STREAM_MSGID_BUCKETS_MIN;
    free(s->msgid_buckets);
    s->msgid_buckets = sl_xcalloc(n, sizeof(*s->msgid_buckets));
    s->msgid_bucket_count = n;
    for (struct stream_msgid *m = s->msgid_head; m; m = m->next) {
        struct stream_msgid **b = &s->msgid_buckets[hash_bytes(m->id, m->len) & (n - 1)];
        m->hnext = *b;
        *b = m;
    }
}

static void msgid_add(struct stream *s, const char *id, uint32_t len, uint64_t seq, int64_t ts_ms) {
    if (!s->msgid_bucket_count || s->msgid_count >= s->msgid_bucket_count * 2) msgid_grow(s);
    struct stream_msgid **pp = msgid_slot(s, id, len);
    if (*pp) return; /* the first one stays the original */
    struct stream_msgid *m = sl_xmalloc(sizeof(*m) + len);
    m->hnext = NULL;
    m->next = NULL;
    m->seq = seq;
    m->ts_ms = ts_ms;
    m->len = len;
    memcpy(m->id, id, len);
    *pp = m;
    if (s->msgid_tail) s->msgid_tail->next = m;
    else s->msgid_head = m;
    s->msgid_tail = m;
    s->msgid_count++;
}

static void msgid_clear(struct stream *s) {
    while (s->msgid_head) msgid_unlink_head(s);
    free(s->msgid_buckets);
    s->msgid_buckets = NULL;
    s->msgid_bucket_count = 0;
}

/* ---- config record ------------------------------------------------------------------------------ */

void stream_config_defaults(struct stream_config *c) {
    memset(c, 0, sizeof(*c));
    c->retention = TOPIC_RETENTION_LIMITS;
    c->max_consumers = c->max_msgs = c->max_bytes = c->max_msgs_per_subject = c->max_msg_size = -1;
    c->discard = STREAM_DISCARD_OLD;
    c->storage = STREAM_STORAGE_FILE;
    c->num_replicas = 1;
    c->duplicate_window_ns = STREAM_DUPLICATE_WINDOW_DEFAULT_NS;
}

bool stream_config_equal(const struct stream_config *a, const struct stream_config *b) {
    if (strcmp(a->name, b->name) || a->subject_count != b->subject_count) return false;
    for (uint32_t i = 0; i < a->subject_count; i++)
        if (strcmp(a->subjects[i], b->subjects[i])) return false;
    return a->retention == b->retention && a->max_consumers == b->max_consumers && a->max_msgs == b->max_msgs &&
           a->max_bytes == b->max_bytes && a->max_age_ns == b->max_age_ns &&
           a->max_msgs_per_subject == b->max_msgs_per_subject && a->max_msg_size == b->max_msg_size &&
           a->discard == b->discard && a->storage == b->storage && a->num_replicas == b->num_replicas &&
           a->duplicate_window_ns == b->duplicate_window_ns && a->allow_direct == b->allow_direct &&
           a->mirror_direct == b->mirror_direct && a->sealed == b->sealed && a->deny_delete == b->deny_delete &&
           a->deny_purge == b->deny_purge && a->allow_rollup_hdrs == b->allow_rollup_hdrs && !strcmp(a->dlq, b->dlq);
}

static void stream_encode(const struct stream_config *c, int64_t created_ns, bool placed, struct kvlog_tlv_writer *w) {
    kvlog_tlv_begin(w, STREAM_REC_VERSION);
    for (uint32_t i = 0; i < c->subject_count; i++)
        kvlog_tlv_put(w, STREAM_TAG_SUBJECT, c->subjects[i], (uint32_t)strlen(c->subjects[i]));
    kvlog_tlv_put_i64(w, STREAM_TAG_RETENTION, c->retention);
    kvlog_tlv_put_i64(w, STREAM_TAG_MAX_CONSUMERS, c->max_consumers);
    kvlog_tlv_put_i64(w, STREAM_TAG_MAX_MSGS, c->max_msgs);
    kvlog_tlv_put_i64(w, STREAM_TAG_MAX_BYTES, c->max_bytes);
    kvlog_tlv_put_i64(w, STREAM_TAG_MAX_AGE_NS, c->max_age_ns);
    kvlog_tlv_put_i64(w, STREAM_TAG_MAX_MSGS_PER_SUBJECT, c->max_msgs_per_subject);
    kvlog_tlv_put_i64(w, STREAM_TAG_MAX_MSG_SIZE, c->max_msg_size);
    kvlog_tlv_put_i64(w, STREAM_TAG_DISCARD, c->discard);
    kvlog_tlv_put_i64(w, STREAM_TAG_STORAGE, c->storage);
    kvlog_tlv_put_i64(w, STREAM_TAG_REPLICAS, c->num_replicas);
    kvlog_tlv_put_i64(w, STREAM_TAG_DUPLICATE_WINDOW_NS, c->duplicate_window_ns);
    int64_t flags = (c->allow_direct ? 1 : 0) | (c->mirror_direct ? 2 : 0) | (c->sealed ? 4 : 0) |
                    (c->deny_delete ? 8 : 0) | (c->deny_purge ? 16 : 0) | (c->allow_rollup_hdrs ? 32 : 0);
    kvlog_tlv_put_i64(w, STREAM_TAG_FLAGS, flags);
    if (c->dlq[0]) kvlog_tlv_put(w, STREAM_TAG_DLQ, c->dlq, (uint32_t)strlen(c->dlq));
    kvlog_tlv_put_i64(w, STREAM_TAG_CREATED_NS, created_ns);
    if (placed) kvlog_tlv_put_i64(w, STREAM_TAG_PLACED, 1);
}

static bool stream_decode(struct stream *s, const char *name, const uint8_t *v, uint32_t len) {
    struct stream_config *c = &s->cfg;
    stream_config_defaults(c);
    snprintf(c->name, sizeof(c->name), "%s", name);
    struct kvlog_tlv_reader r;
    if (!kvlog_tlv_open(&r, v, len) || r.version != STREAM_REC_VERSION) return false;
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    while (kvlog_tlv_next(&r, &tag, &p, &n)) {
        int64_t x = 0;
        if (tag == STREAM_TAG_SUBJECT) {
            if (c->subject_count == TOPIC_SUBJECTS_MAX || n >= TOPIC_SUBJECT_BYTES_MAX) return false;
            memcpy(c->subjects[c->subject_count], p, n);
            c->subjects[c->subject_count++][n] = 0;
            continue;
        }
        if (tag == STREAM_TAG_DLQ) {
            if (n >= sizeof(c->dlq)) return false;
            memcpy(c->dlq, p, n);
            c->dlq[n] = 0;
            continue;
        }
        if (!kvlog_tlv_i64(p, n, &x)) continue;
        switch (tag) {
        case STREAM_TAG_RETENTION: c->retention = (enum topic_retention)x; break;
        case STREAM_TAG_MAX_CONSUMERS: c->max_consumers = x; break;
        case STREAM_TAG_MAX_MSGS: c->max_msgs = x; break;
        case STREAM_TAG_MAX_BYTES: c->max_bytes = x; break;
        case STREAM_TAG_MAX_AGE_NS: c->max_age_ns = x; break;
        case STREAM_TAG_MAX_MSGS_PER_SUBJECT: c->max_msgs_per_subject = x; break;
        case STREAM_TAG_MAX_MSG_SIZE: c->max_msg_size = x; break;
        case STREAM_TAG_DISCARD: c->discard = (enum stream_discard)x; break;
        case STREAM_TAG_STORAGE: c->storage = (enum stream_storage)x; break;
        case STREAM_TAG_REPLICAS: c->num_replicas = x; break;
        case STREAM_TAG_DUPLICATE_WINDOW_NS: c->duplicate_window_ns = x; break;
        case STREAM_TAG_FLAGS:
            c->allow_direct = x & 1;
            c->mirror_direct = x & 2;
            c->sealed = x & 4;
            c->deny_delete = x & 8;
            c->deny_purge = x & 16;
            c->allow_rollup_hdrs = x & 32;
            break;
        case STREAM_TAG_CREATED_NS: s->created_ns = x; break;
        case STREAM_TAG_PLACED: s->placed = x != 0; break;
        default: break;
        }
    }
    return true;
}

/* ---- the deleted set ---------------------------------------------------------------------------- */

static size_t deleted_key(const struct stream *s, char *out, size_t cap) {
    return (size_t)snprintf(out, cap, STREAM_DELETED_KEY_PREFIX "%s" STREAM_DELETED_KEY_SUFFIX, s->cfg.name);
}

static void stream_persist(struct stream *s) {
    if (!s->dirty) return;
    s->dirty = false;
    struct kvlog_tlv_writer w = {0};
    kvlog_tlv_begin(&w, 1);
    kvlog_tlv_put_i64(&w, STREAM_DTAG_FLOOR, (int64_t)s->first_seq);
    if (s->deleted_count) {
        uint8_t *b = sl_xmalloc((size_t)s->deleted_count * 16);
        for (uint32_t i = 0; i < s->deleted_count; i++) {
            sl_store_be64(b + 16 * i, s->deleted[i].lo);
            sl_store_be64(b + 16 * i + 8, s->deleted[i].hi);
        }
        kvlog_tlv_put(&w, STREAM_DTAG_RANGES, b, s->deleted_count * 16);
        free(b);
    }
    char key[STREAM_NAME_MAX + 32];
    size_t kl = deleted_key(s, key, sizeof(key));
    struct kvlog *kv = topics_metadata(s->ss->t);
    sl_err e = kvlog_put(kv, key, (uint32_t)kl, w.p, (uint32_t)w.len, loop_now_ms(streams_loop(s->ss)), NULL);
    if (e) {
        SL_WARN("stream %s: cannot save the deleted set: %s", s->cfg.name, sl_err_str(e));
        s->dirty = true;
    }
    kvlog_tlv_free(&w);
}

static void stream_mark_dirty(struct stream *s) {
    s->dirty = true;
    struct loop *l = streams_loop(s->ss);
    uint64_t at = SL_MAX(loop_mono_ms(l), s->ss->last_persist_ms + STREAM_PERSIST_PACE_MS);
    if (!loop_timer_armed(&s->ss->persist_timer)) loop_timer_add(l, &s->ss->persist_timer, at);
}

/* The first run that ends at or after seq - 1 (so it holds seq, touches it, or lies above). */
static uint32_t deleted_find(const struct stream *s, uint64_t seq) {
    uint32_t lo = 0, hi = s->deleted_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->deleted[mid].hi + 1 < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* false only when a new run would pass STREAM_DELETED_MAX runs. */
static bool deleted_insert(struct stream *s, uint64_t seq) {
    /* Sequences start at 1 and never reach UINT64_MAX; a record saying otherwise is corrupt,
     * and taking it would wrap a run's ends. */
    if (seq == 0 || seq == UINT64_MAX) return true;
    uint32_t i = deleted_find(s, seq), n = s->deleted_count;
    struct stream_drange *d = s->deleted;
    if (i < n && d[i].lo <= seq && seq <= d[i].hi) return true; /* already */
    if (i < n && d[i].hi + 1 == seq) {                       /* extends run i up */
        d[i].hi = seq;
        if (i + 1 < n && d[i + 1].lo == seq + 1) {              /* and joins it to the next */
            d[i].hi = d[i + 1].hi;
            memmove(d + i + 1, d + i + 2, (n - i - 2) * sizeof(*d));
            s->deleted_count--;
        }
    } else if (i < n && d[i].lo == seq + 1) { /* extends run i down */
        d[i].lo = seq;
    } else {
        if (n == STREAM_DELETED_MAX) return false;
        if (n == s->deleted_cap) {
            s->deleted_cap = s->deleted_cap ? s->deleted_cap * 2 : 64;
            s->deleted = d = sl_xrealloc(s->deleted, s->deleted_cap * sizeof(*d));
        }
        memmove(d + i + 1, d + i, (n - i) * sizeof(*d));
        d[i] = (struct stream_drange){seq, seq};
        s->deleted_count++;
    }
    s->deleted_total++;
    return true;
}

/* Adds the run [lo, hi] (1 <= lo <= hi < UINT64_MAX) at once, merged with every run it
 * overlaps or touches: one search and one move, whatever the run's length. false only when a
 * new run would pass STREAM_DELETED_MAX runs. */
static bool deleted_insert_range(struct stream *s, uint64_t lo, uint64_t hi) {
    SL_ASSERT(lo >= 1 && lo <= hi && hi < UINT64_MAX);
    uint32_t i = deleted_find(s, lo), j = i, n = s->deleted_count;
    struct stream_drange *d = s->deleted;
    uint64_t nlo = lo, nhi = hi, had = 0;
    for (; j < n && d[j].lo <= hi + 1; j++) { /* runs i..j-1 overlap or touch [lo, hi] */
        nlo = SL_MIN(nlo, d[j].lo);
        nhi = SL_MAX(nhi, d[j].hi);
        had += d[j].hi - d[j].lo + 1;
    }
    if (j == i) { /* none: a new run at i */
        if (n == STREAM_DELETED_MAX) return false;
        if (n == s->deleted_cap) {
            s->deleted_cap = s->deleted_cap ? s->deleted_cap * 2 : 64;
            s->deleted = d = sl_xrealloc(s->deleted, s->deleted_cap * sizeof(*d));
        }
        memmove(d + i + 1, d + i, (n - i) * sizeof(*d));
        s->deleted_count++;
    } else if (j > i + 1) { /* several merge into run i */
        memmove(d + i + 1, d + j, (n - j) * sizeof(*d));
        s->deleted_count -= j - i - 1;
    }
    d[i] = (struct stream_drange){nlo, nhi};
    s->deleted_total += (nhi - nlo + 1) - had;
    return true;
}

static int deleted_seq_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Drops the deleted sequences below the floor. */
static void deleted_trim(struct stream *s) {
    uint32_t n = 0;
    while (n < s->deleted_count && s->deleted[n].hi < s->first_seq) {
        s->deleted_total -= s->deleted[n].hi - s->deleted[n].lo + 1;
        n++;
    }
    if (n) {
        memmove(s->deleted, s->deleted + n, (s->deleted_count - n) * sizeof(*s->deleted));
        s->deleted_count -= n;
    }
    if (s->deleted_count && s->deleted[0].lo < s->first_seq) {
        s->deleted_total -= s->first_seq - s->deleted[0].lo;
        s->deleted[0].lo = s->first_seq;
    }
}

/* ---- the index ---------------------------------------------------------------------------------- */

static struct stream_meta *meta_at(const struct stream *s, uint64_t seq) {
    if (seq < s->base_seq || seq > s->last_seq) return NULL;
    return &s->metas[seq - s->base_seq];
}

static bool meta_live(const struct stream *s, uint64_t seq) {
    const struct stream_meta *m = meta_at(s, seq);
    return m && seq >= s->first_seq && m->subj != STREAM_SUBJ_NONE;
}

static void meta_push(struct stream *s, struct stream_meta m) {
    /* Reclaim the slots below the floor once they are the larger part. */
    uint64_t dead = s->first_seq > s->base_seq ? s->first_seq - s->base_seq : 0;
    if (dead > 1024 && dead * 2 > s->meta_len) {
        memmove(s->metas, s->metas + dead, (s->meta_len - dead) * sizeof(*s->metas));
        s->meta_len -= dead;
        s->base_seq += dead;
    }
    if (s->meta_len == s->meta_cap) {
        s->meta_cap = s->meta_cap ? s->meta_cap * 2 : 256;
        s->metas = sl_xrealloc(s->metas, s->meta_cap * sizeof(*s->metas));
    }
    s->metas[s->meta_len++] = m;
    s->last_seq = s->base_seq + s->meta_len - 1;
}

/* Moves the floor past deleted slots; the log start follows. */
static void stream_advance_floor(struct stream *s) {
    uint64_t before = s->first_seq;
    while (s->first_seq <= s->last_seq && s->metas[s->first_seq - s->base_seq].subj == STREAM_SUBJ_NONE)
        s->first_seq++;
    if (s->first_seq == before) return;
    deleted_trim(s);
    if (s->part) {
        sl_err e = partition_delete_before(s->part, (int64_t)s->first_seq - 1);
        if (e) SL_WARN("stream %s: cannot advance the log start: %s", s->cfg.name, sl_err_str(e));
    }
}

static void stream_unindex(struct stream *s, uint64_t seq) {
    struct stream_meta *m = meta_at(s, seq);
    struct stream_subj *sj = &s->subjs[m->subj];
    sj->count--;
    if (sj->count == 0) s->num_subjects--;
    s->messages--;
    s->bytes -= m->size;
    s->removals++;
    m->subj = STREAM_SUBJ_NONE;
}

static sl_err stream_remove_one(struct stream *s, uint64_t seq) {
    if (!meta_live(s, seq)) return SL_NOT_FOUND;
    if (seq != s->first_seq && !deleted_insert(s, seq)) return SL_TOO_LARGE;
    stream_unindex(s, seq);
    stream_advance_floor(s);
    stream_mark_dirty(s);
    return SL_OK;
}

/* The stored size, as nats-server's file store counts a message. */
static uint32_t stream_msg_size(uint32_t subj_len, uint32_t hdr_len, uint32_t payload_len) {
    return 22 + subj_len + (hdr_len ? 4 + hdr_len : 0) + payload_len + 8;
}

/* The subject a record is indexed and delivered under (see stream.h). */
static void stream_record_subject(const struct stream *s, const struct kafka_records_rec *r, const char **subj,
                                  uint32_t *len) {
    if (r->key.len > 0 && subject_literal((const char *)r->key.p, (uint32_t)r->key.len)) {
        for (uint32_t i = 0; i < s->cfg.subject_count; i++) {
            if (stream_subject_matches(s->cfg.subjects[i], (uint32_t)strlen(s->cfg.subjects[i]),
                                       (const char *)r->key.p, (uint32_t)r->key.len)) {
                *subj = (const char *)r->key.p;
                *len = (uint32_t)r->key.len;
                return;
            }
        }
    }
    for (uint32_t i = 0; i < s->cfg.subject_count; i++) {
        uint32_t l = (uint32_t)strlen(s->cfg.subjects[i]);
        if (subject_literal(s->cfg.subjects[i], l)) {
            *subj = s->cfg.subjects[i];
            *len = l;
            return;
        }
    }
    *subj = s->cfg.name;
    *len = (uint32_t)strlen(s->cfg.name);
}

/* The NATS header block a record's headers make: "NATS/1.0\r\n" + "K: V\r\n"... + "\r\n". */
static uint32_t stream_hdr_block_len(const struct kafka_records_rec *r, struct span *msg_id) {
    if (r->header_count <= 0) return 0;
    uint32_t n = 10 + 2;
    struct kafka_records_header_iter hi;
    struct kafka_records_header h;
    kafka_records_headers_open(&hi, r);
    while (kafka_records_header_next(&hi, &h)) {
        uint32_t vl = h.value.len > 0 ? (uint32_t)h.value.len : 0;
        n += (uint32_t)h.key.len + 2 + vl + 2;
        if (msg_id && h.key.len == 11 && !memcmp(h.key.p, "Nats-Msg-Id", 11))
            *msg_id = (struct span){h.value.p, vl};
    }
    return n;
}

/* Sequences below seq that no record took (compaction gaps, Kafka transaction markers) are
 * deleted slots. */
static void stream_index_gap(struct stream *s, uint64_t seq) {
    if (s->first_seq > s->last_seq + 1) s->first_seq = s->last_seq + 1;
    while (s->last_seq + 1 < seq) { /* a gap: nothing there */
        meta_push(s, (struct stream_meta){STREAM_SUBJ_NONE, 0, 0, 0});
        if (s->last_seq >= s->first_seq) deleted_insert(s, s->last_seq);
    }
}

static void stream_index_record(struct stream *s, const struct kafka_records_rec *r, uint64_t now_ms, bool live) {
    uint64_t seq = (uint64_t)r->offset + 1;
    if (s->last_seq >= seq) streams_read_forget(s->ss, s);
    /* A write that failed rewound the log: forget what was indexed from there on. */
    while (s->last_seq >= seq && s->last_seq >= s->base_seq) {
        if (meta_live(s, s->last_seq)) stream_unindex(s, s->last_seq);
        s->meta_len--;
        s->last_seq--;
    }
    stream_index_gap(s, seq);
    struct span msg_id = {0};
    uint32_t hdr_len = stream_hdr_block_len(r, &msg_id);
    /* A removed message's id still deduplicates within the window (as nats-server's). */
    if (msg_id.len && r->timestamp + stream_window_ms(s) > (int64_t)now_ms)
        msgid_add(s, (const char *)msg_id.p, msg_id.len, seq, r->timestamp);
    if (!live) {
        meta_push(s, (struct stream_meta){STREAM_SUBJ_NONE, 0, 0, r->timestamp});
        return;
    }
    const char *subj;
    uint32_t subj_len;
    stream_record_subject(s, r, &subj, &subj_len);
    uint32_t idx = subj_intern(s, subj, subj_len);
    uint32_t vl = r->value.len > 0 ? (uint32_t)r->value.len : 0;
    uint32_t size = stream_msg_size(subj_len, hdr_len, vl);
    meta_push(s, (struct stream_meta){idx, size, hdr_len != 0, r->timestamp});
    struct stream_subj *sj = &s->subjs[idx];
    if (sj->count++ == 0) {
        s->num_subjects++;
        sj->first_hint = seq;
    }
    sj->last_seq = seq;
    s->messages++;
    s->bytes += size;
    s->last_ts_ms = r->timestamp;
    uint32_t idl = SL_MIN(msg_id.len, (uint32_t)sizeof(s->last_msg_id) - 1);
    memcpy(s->last_msg_id, msg_id.p ? (const char *)msg_id.p : "", idl);
    s->last_msg_id[idl] = 0;
}

/* The oldest live message of subject idx. */
static uint64_t subj_first_seq(struct stream *s, uint32_t idx) {
    struct stream_subj *sj = &s->subjs[idx];
    uint64_t q = SL_MAX(sj->first_hint, s->first_seq);
    for (; q <= s->last_seq; q++) {
        if (s->metas[q - s->base_seq].subj == idx) {
            sj->first_hint = q;
            return q;
        }
    }
    return 0;
}

static void stream_enforce_age(struct stream *s, uint64_t now_ms) {
    if (s->cfg.max_age_ns <= 0) return;
    int64_t age_ms = s->cfg.max_age_ns / 1000000;
    while (s->messages && s->metas[s->first_seq - s->base_seq].ts_ms + age_ms <= (int64_t)now_ms)
        stream_remove_one(s, s->first_seq);
}

/* Limits after an append (discard new was refused before it, for NATS publishes; a Kafka
 * produce past a limit pushes the oldest out either way). */
static void stream_enforce_limits(struct stream *s, uint32_t last_subj, uint64_t now_ms) {
    const struct stream_config *c = &s->cfg;
    if (c->max_msgs_per_subject > 0 && last_subj != STREAM_SUBJ_NONE) {
        while (s->subjs[last_subj].count > (uint64_t)c->max_msgs_per_subject) {
            uint64_t q = subj_first_seq(s, last_subj);
            if (!q || stream_remove_one(s, q)) break;
        }
    }
    while (c->max_msgs > 0 && s->messages > (uint64_t)c->max_msgs) stream_remove_one(s, s->first_seq);
    while (c->max_bytes > 0 && s->bytes > (uint64_t)c->max_bytes && s->messages)
        stream_remove_one(s, s->first_seq);
    stream_enforce_age(s, now_ms);
}

/* ---- Kafka transactions on the stream's topic ---------------------------------------------------- */

static struct stream_txn *stream_txn_find(struct stream *s, int64_t pid) {
    for (uint32_t i = 0; i < s->txn_count; i++)
        if (s->txns[i].producer_id == pid) return &s->txns[i];
    return NULL;
}

/* A transactional batch took sequences [first, last]. */
static void stream_txn_add(struct stream *s, int64_t pid, uint64_t first, uint64_t last) {
    struct stream_txn *t = stream_txn_find(s, pid);
    if (!t) {
        if (s->txn_count == s->txn_cap) {
            s->txn_cap = s->txn_cap ? s->txn_cap * 2 : 4;
            s->txns = sl_xrealloc(s->txns, s->txn_cap * sizeof(*s->txns));
        }
        t = &s->txns[s->txn_count++];
        *t = (struct stream_txn){.producer_id = pid};
    }
    if (t->range_count && t->ranges[2 * t->range_count - 1] + 1 == first) {
        t->ranges[2 * t->range_count - 1] = last; /* batches back to back: one range */
        return;
    }
    if (t->range_count == t->range_cap) {
        t->range_cap = t->range_cap ? t->range_cap * 2 : 4;
        t->ranges = sl_xrealloc(t->ranges, 2 * t->range_cap * sizeof(*t->ranges));
    }
    t->ranges[2 * t->range_count] = first;
    t->ranges[2 * t->range_count + 1] = last;
    t->range_count++;
}

/* A marker ends the producer's transaction: an abort removes what it wrote. */
static void stream_txn_end(struct stream *s, int64_t pid, bool commit) {
    struct stream_txn *t = stream_txn_find(s, pid);
    if (!t) return;
    for (uint32_t i = 0; i < t->range_count && !commit; i++)
        for (uint64_t q = t->ranges[2 * i]; q <= t->ranges[2 * i + 1]; q++)
            if (q >= s->first_seq && q <= s->last_seq && meta_live(s, q)) stream_remove_one(s, q);
    free(t->ranges);
    *t = s->txns[--s->txn_count];
}

/* Control batches carry no messages: a marker only ends its producer's transaction. */
static void stream_on_control(struct stream *s, const struct kafka_batch_header *h, const uint8_t *batch,
                              uint32_t len) {
    enum kafka_control_type type;
    if (h->producer_id < 0 || kafka_control_batch_type(batch, len, &type) != SL_OK) return;
    stream_txn_end(s, h->producer_id, type == KAFKA_CONTROL_COMMIT);
}

/* The partition's append observer: every batch appended to the stream's topic. */
static void stream_reindex(struct stream *s);

static void stream_on_append(void *arg, int64_t base_offset, const uint8_t *batch, uint32_t len) {
    struct stream *s = arg;
    if (!batch) return stream_reindex(s); /* a replica's log was cut: index it again */
    uint64_t now_ms = loop_now_ms(streams_loop(s->ss));
    struct kafka_records_iter it;
    struct kafka_records_rec r;
    if (kafka_records_open(&it, batch, len, &s->ss->scratch)) return;
    if (it.h.attributes & KAFKA_ATTR_CONTROL) {
        /* The marker's sequence is a slot no message takes, as a restart's rebuild sees it. */
        stream_index_gap(s, (uint64_t)base_offset + 2);
        stream_on_control(s, &it.h, batch, len);
        return;
    }
    uint32_t subj = STREAM_SUBJ_NONE;
    while (kafka_records_next(&it, &r) == SL_OK) {
        stream_index_record(s, &r, now_ms, true);
        subj = meta_at(s, s->last_seq)->subj;
        stream_enforce_limits(s, subj, now_ms);
    }
    if ((it.h.attributes & KAFKA_ATTR_TRANSACTIONAL) && it.h.producer_id >= 0)
        stream_txn_add(s, it.h.producer_id, (uint64_t)base_offset + 1,
                       (uint64_t)base_offset + 1 + (uint64_t)it.h.last_offset_delta);
}

/* ---- reading back ------------------------------------------------------------------------------- */

static uint8_t *streams_buf(struct streams *ss, size_t n) {
    if (n > ss->buf_cap) {
        ss->buf_cap = SL_MAX(n, ss->buf_cap * 2);
        ss->buf = sl_xrealloc(ss->buf, ss->buf_cap);
    }
    return ss->buf;
}

/* Forgets what stream_get read ahead (the log was rewound, or the stream goes). */
static void streams_read_forget(struct streams *ss, const struct stream *s) {
    if (!s || ss->rc_stream == s) {
        ss->rc_stream = NULL;
        ss->rb_open = false;
    }
}

/* Finds the record at offset in the cached chunk: headers only up to its batch, which is
 * opened (inflated) once and walked on while reads go forward. */
static sl_err stream_find_record(struct streams *ss, int64_t offset, struct kafka_records_rec *out) {
    const uint8_t *p = ss->buf;
    uint32_t len = ss->rc_len, off = 0;
    sl_err e;
    if (ss->rb_open && offset > ss->rb_last_offset && offset <= kafka_batch_last_offset(&ss->rb_it.h)) {
        off = ss->rb_pos;
    } else {
        /* Reading on past the open batch: walk from the batch after it, not the chunk's start. */
        if (ss->rb_open && offset > kafka_batch_last_offset(&ss->rb_it.h))
            off = ss->rb_pos + (uint32_t)ss->rb_it.h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        ss->rb_open = false;
        for (;;) {
            if (off + KAFKA_BATCH_HEADER_BYTES > len) return SL_NOT_FOUND;
            uint32_t blen = sl_load_be32(p + off + 8) + KAFKA_BATCH_LOG_OVERHEAD;
            struct kafka_batch_header h;
            if (off + blen > len || kafka_batch_header_read(p + off, blen, &h) != SL_OK) return SL_CORRUPT;
            if (offset < h.base_offset) return SL_NOT_FOUND;
            if (offset <= kafka_batch_last_offset(&h)) {
                if ((e = kafka_records_open(&ss->rb_it, p + off, blen, &ss->rscratch))) return e;
                ss->rb_open = true;
                ss->rb_pos = off;
                ss->rb_last_offset = -1;
                break;
            }
            off += blen;
        }
    }
    while ((e = kafka_records_next(&ss->rb_it, out)) == SL_OK) {
        ss->rb_last_offset = out->offset;
        if (out->offset == offset) return SL_OK;
        if (out->offset > offset) break;
    }
    ss->rb_open = false;
    return e == SL_OK || e == SL_NOT_FOUND ? SL_NOT_FOUND : e;
}

static void stream_build_hdr(struct streams *ss, const struct kafka_records_rec *r, struct span *out) {
    uint32_t n = stream_hdr_block_len(r, NULL);
    *out = (struct span){NULL, 0};
    if (!n) return;
    if (n > ss->hdr_cap) {
        ss->hdr_cap = SL_MAX(n, ss->hdr_cap * 2);
        ss->hdr = sl_xrealloc(ss->hdr, ss->hdr_cap);
    }
    uint8_t *w = ss->hdr;
    memcpy(w, "NATS/1.0\r\n", 10);
    w += 10;
    struct kafka_records_header_iter hi;
    struct kafka_records_header h;
    kafka_records_headers_open(&hi, r);
    while (kafka_records_header_next(&hi, &h)) {
        memcpy(w, h.key.p, (size_t)h.key.len);
        w += h.key.len;
        *w++ = ':';
        *w++ = ' ';
        if (h.value.len > 0) {
            memcpy(w, h.value.p, (size_t)h.value.len);
            w += h.value.len;
        }
        *w++ = '\r';
        *w++ = '\n';
    }
    *w++ = '\r';
    *w++ = '\n';
    *out = (struct span){ss->hdr, n};
}

sl_err stream_get(struct stream *s, uint64_t seq, struct stream_msg *out) {
    if (!meta_live(s, seq)) return SL_NOT_FOUND;
    struct streams *ss = s->ss;
    int64_t offset = (int64_t)seq - 1;
    if (ss->rc_stream != s || offset < ss->rc_base || offset >= ss->rc_next) {
        streams_read_forget(ss, NULL);
        struct log_span sp;
        sl_err e = partition_read(s->part, offset, STREAM_READ_AHEAD_BYTES, &sp);
        if (e) return e == SL_OFFSET_OUT_OF_RANGE ? SL_NOT_FOUND : e;
        if (sp.len == 0) {
            log_span_release(&sp);
            return SL_NOT_FOUND; /* appended, not yet written */
        }
        uint8_t *buf = streams_buf(ss, sp.len);
        ssize_t n = pread(sp.fd, buf, sp.len, (off_t)sp.pos);
        log_span_release(&sp);
        if (n != (ssize_t)sp.len) return SL_IO;
        ss->rc_stream = s;
        ss->rc_base = sp.base_offset;
        ss->rc_next = sp.next_offset;
        ss->rc_len = sp.len;
    }
    struct kafka_records_rec r;
    sl_err e = stream_find_record(ss, offset, &r);
    if (e) {
        streams_read_forget(ss, NULL);
        return e == SL_NOT_FOUND ? e : SL_CORRUPT;
    }
    const struct stream_meta *m = meta_at(s, seq);
    const struct stream_subj *sj = &s->subjs[m->subj];
    out->seq = seq;
    out->subject = (struct span){(const uint8_t *)sj->name, sj->len};
    stream_build_hdr(s->ss, &r, &out->hdr);
    out->payload = (struct span){r.value.p, r.value.len > 0 ? (uint32_t)r.value.len : 0};
    out->time_ms = r.timestamp;
    return SL_OK;
}

sl_err stream_get_last_for_subject(struct stream *s, struct span subject, struct stream_msg *out) {
    uint32_t idx = subj_lookup(s, (const char *)subject.p, subject.len);
    if (idx == STREAM_SUBJ_NONE || !s->subjs[idx].count) return SL_NOT_FOUND;
    return stream_get(s, s->subjs[idx].last_seq, out);
}

bool stream_exists(const struct stream *s, uint64_t seq) { return meta_live(s, seq); }
uint64_t stream_last_seq(const struct stream *s) { return s->last_seq; }

uint64_t stream_next_seq(struct stream *s, struct span filter, uint64_t from_seq) {
    bool any = filter.len == 0 || (filter.len == 1 && filter.p[0] == '>');
    uint32_t cached = STREAM_SUBJ_NONE;
    bool cached_match = false;
    for (uint64_t q = SL_MAX(from_seq, s->first_seq); q <= s->last_seq; q++) {
        uint32_t idx = s->metas[q - s->base_seq].subj;
        if (idx == STREAM_SUBJ_NONE) continue;
        if (any) return q;
        if (idx != cached) {
            cached = idx;
            cached_match = stream_subject_matches((const char *)filter.p, filter.len, s->subjs[idx].name,
                                                  s->subjs[idx].len);
        }
        if (cached_match) return q;
    }
    return 0;
}

sl_err stream_remove(struct stream *s, uint64_t seq) {
    sl_err e = stream_remove_one(s, seq);
    if (e == SL_OK) s->consumer_removals++;
    return e;
}

uint64_t stream_foreign_removals(const struct stream *s) { return s->removals - s->consumer_removals; }

bool stream_peek(const struct stream *s, uint64_t seq, struct span *subject, uint32_t *bytes, int64_t *ts_ms) {
    if (!meta_live(s, seq)) return false;
    const struct stream_meta *m = meta_at(s, seq);
    const struct stream_subj *sj = &s->subjs[m->subj];
    *subject = (struct span){(const uint8_t *)sj->name, sj->len};
    /* stream_msg_size backwards: what is left is subject + header block + payload. */
    *bytes = m->size - 30 - (m->has_hdr ? 4 : 0);
    *ts_ms = m->ts_ms;
    return true;
}
sl_err stream_delete_msg(struct stream *s, uint64_t seq) { return stream_remove_one(s, seq); }

sl_err stream_purge(struct stream *s, struct span filter, uint64_t *purged) {
    uint64_t n = 0;
    if (filter.len == 0) {
        /* Everything: the floor jumps past the end in one step. */
        for (uint64_t q = s->first_seq; q <= s->last_seq; q++)
            if (meta_live(s, q)) {
                stream_unindex(s, q);
                n++;
            }
        stream_advance_floor(s);
        if (s->first_seq <= s->last_seq) { /* cannot happen: every slot is now deleted */
            SL_WARN("stream %s: purge left sequence %llu", s->cfg.name, (unsigned long long)s->first_seq);
        }
        stream_mark_dirty(s);
    } else {
        for (uint64_t q = s->first_seq; q <= s->last_seq; q++) {
            if (!meta_live(s, q)) continue;
            const struct stream_subj *sj = &s->subjs[s->metas[q - s->base_seq].subj];
            if (!stream_subject_matches((const char *)filter.p, filter.len, sj->name, sj->len)) continue;
            if (stream_remove_one(s, q) == SL_OK) n++;
        }
    }
    if (purged) *purged = n;
    return SL_OK;
}

/* ---- checks and appends ------------------------------------------------------------------------- */

static bool span_eq_str(struct span a, const char *s) { return a.len == strlen(s) && !memcmp(a.p, s, a.len); }

enum stream_publish_verdict stream_check_publish(struct stream *s, struct span subject,
                                                 const struct stream_publish_checks *c, uint32_t hdr_len,
                                                 uint32_t payload_len, uint64_t now_ms, uint64_t *seq_out,
                                                 char *last_id, uint32_t last_id_cap) {
    *seq_out = 0;
    if (c->expected_stream.len && !span_eq_str(c->expected_stream, s->cfg.name)) return STREAM_PUBLISH_WRONG_STREAM;
    msgid_expire(s, now_ms);
    if (c->msg_id.len && s->msgid_bucket_count) {
        struct stream_msgid *m = *msgid_slot(s, (const char *)c->msg_id.p, c->msg_id.len);
        if (m) {
            *seq_out = m->seq;
            return STREAM_PUBLISH_DUPLICATE;
        }
    }
    if (c->expected_last_seq >= 0 && (uint64_t)c->expected_last_seq != s->last_seq) {
        *seq_out = s->last_seq;
        return STREAM_PUBLISH_WRONG_LAST_SEQ;
    }
    if (c->expected_last_subj_seq >= 0) {
        uint32_t idx = subj_lookup(s, (const char *)subject.p, subject.len);
        uint64_t last = idx != STREAM_SUBJ_NONE && s->subjs[idx].count ? s->subjs[idx].last_seq : 0;
        if (last != (uint64_t)c->expected_last_subj_seq) {
            *seq_out = last;
            return STREAM_PUBLISH_WRONG_LAST_SUBJ_SEQ;
        }
    }
    if (c->expected_last_msg_id.len && !span_eq_str(c->expected_last_msg_id, s->last_msg_id)) {
        if (last_id && last_id_cap) snprintf(last_id, last_id_cap, "%s", s->last_msg_id);
        return STREAM_PUBLISH_WRONG_LAST_MSG_ID;
    }
    if (s->cfg.max_msg_size >= 0 && (int64_t)hdr_len + payload_len > s->cfg.max_msg_size)
        return STREAM_PUBLISH_TOO_LARGE;
    if (s->cfg.discard == STREAM_DISCARD_NEW) {
        if (s->cfg.max_msgs > 0 && s->messages >= (uint64_t)s->cfg.max_msgs) return STREAM_PUBLISH_MAX_MSGS;
        if (s->cfg.max_bytes > 0 &&
            s->bytes + stream_msg_size(subject.len, hdr_len, payload_len) > (uint64_t)s->cfg.max_bytes)
            return STREAM_PUBLISH_MAX_BYTES;
    }
    return STREAM_PUBLISH_OK;
}

static void stream_append_fired(struct partition_append_done *pd, sl_err err) {
    struct stream_append_done *d = sl_container_of(pd, struct stream_append_done, pd);
    d->fn(d, err, err ? 0 : d->seq);
}

sl_err stream_append(struct stream *s, struct span subject, const struct stream_header *hdrs, uint32_t hdr_count,
                     struct span payload, uint64_t now_ms, struct stream_append_done *done) {
    struct streams *ss = s->ss;
    if (hdr_count > ss->hin_cap) {
        ss->hin_cap = SL_MAX(hdr_count, ss->hin_cap * 2);
        ss->hin = sl_xrealloc(ss->hin, ss->hin_cap * sizeof(*ss->hin));
    }
    for (uint32_t i = 0; i < hdr_count; i++)
        ss->hin[i] = (struct kafka_header_in){hdrs[i].key.p, (int32_t)hdrs[i].key.len, hdrs[i].value.p,
                                             (int32_t)hdrs[i].value.len};
    struct kafka_record_in rec = {subject.p, (int32_t)subject.len, payload.p, (int32_t)payload.len,
                                  (int64_t)now_ms, ss->hin, hdr_count};
    size_t cap = kafka_batch_encoded_bytes_max(&rec, 1);
    if (!cap) return SL_TOO_LARGE;
    if (cap > ss->abuf_cap) {
        ss->abuf_cap = SL_MAX(cap, ss->abuf_cap * 2);
        ss->abuf = sl_xrealloc(ss->abuf, ss->abuf_cap);
    }
    uint8_t *buf = ss->abuf;
    size_t len = kafka_batch_encode(buf, cap, &rec, 1, -1, -1, -1);
    SL_ASSERT(len > 0);
    done->pd.fn = stream_append_fired;
    sl_err e = partition_append(s->part, buf, (uint32_t)len, PARTITION_ACKS_DURABLE, now_ms, &done->pd);
    if (e) return e;
    done->seq = (uint64_t)done->pd.base_offset + 1;
    return SL_OK;
}

/* ---- one stream: life ------------------------------------------------------------------------- */

const struct stream_config *stream_config(const struct stream *s) { return &s->cfg; }
const char *stream_name(const struct stream *s) { return s->cfg.name; }
int64_t stream_created_ns(const struct stream *s) { return s->created_ns; }
struct topic *stream_topic(const struct stream *s) { return s->tp; }
struct partition *stream_partition(const struct stream *s) { return s->part; }
void stream_set_user(struct stream *s, void *user) { s->user = user; }
void *stream_user(const struct stream *s) { return s->user; }

void stream_get_state(const struct stream *s, struct stream_state *out) {
    memset(out, 0, sizeof(*out));
    out->messages = s->messages;
    out->bytes = s->bytes;
    out->last_seq = s->last_seq;
    out->first_seq = s->last_seq == 0 && s->first_seq <= 1 ? 0 : s->first_seq;
    out->first_ts_ms = s->messages ? s->metas[s->first_seq - s->base_seq].ts_ms : 0;
    out->last_ts_ms = s->last_ts_ms;
    out->num_subjects = s->num_subjects;
    out->num_deleted = s->deleted_total;
}

/* The log cleaner's question (log_set_cleaner_drop): the removed messages in [from, to), as
 * offsets (seq - 1), so deletions in the middle of the stream (a per-subject limit such as a KV
 * bucket's history, MSG.DELETE, an out-of-order work-queue ack) free their disk as compaction
 * does. Below the floor there is nothing to tell: the log start moved past it. */
static uint32_t stream_cleaner_drop(void *arg, int64_t from, int64_t to, int64_t *out, uint32_t max) {
    const struct stream *s = arg;
    uint64_t lo_seq = (uint64_t)SL_MAX(from, 0) + 1, hi_seq = (uint64_t)SL_MAX(to, 0) + 1;
    uint32_t n = 0;
    for (uint32_t i = deleted_find(s, lo_seq); i < s->deleted_count && s->deleted[i].lo < hi_seq; i++) {
        uint64_t a = SL_MAX(s->deleted[i].lo, lo_seq), b = SL_MIN(s->deleted[i].hi, hi_seq - 1);
        for (uint64_t q = a; q <= b && n < UINT32_MAX; q++, n++)
            if (n < max) out[n] = (int64_t)q - 1;
    }
    return n;
}

/* Every append to the partition is indexed; its cleaner drops what the stream removed. */
static void stream_attach_partition(struct stream *s) {
    partition_set_append_observer(s->part, stream_on_append, s);
    log_set_cleaner_drop(partition_log(s->part), stream_cleaner_drop, s);
}

static void stream_free(struct stream *s) {
    streams_read_forget(s->ss, s);
    if (s->part) {
        partition_set_append_observer(s->part, NULL, NULL);
        log_set_cleaner_drop(partition_log(s->part), NULL, NULL);
    }
    for (uint32_t i = 0; i < s->subj_count; i++) free(s->subjs[i].name);
    free(s->subjs);
    free(s->subj_hash);
    msgid_clear(s);
    free(s->metas);
    free(s->deleted);
    for (uint32_t i = 0; i < s->txn_count; i++) free(s->txns[i].ranges);
    free(s->txns);
    free(s);
}

/* The index freed and emptied (counters of removals kept), for a rebuild. */
static void stream_index_clear(struct stream *s) {
    streams_read_forget(s->ss, s);
    for (uint32_t i = 0; i < s->subj_count; i++) free(s->subjs[i].name);
    free(s->subjs);
    free(s->subj_hash);
    msgid_clear(s);
    free(s->metas);
    free(s->deleted);
    for (uint32_t i = 0; i < s->txn_count; i++) free(s->txns[i].ranges);
    free(s->txns);
    s->subjs = NULL;
    s->subj_hash = NULL;
    s->subj_count = s->subj_cap = s->subj_hash_cap = 0;
    s->msgid_head = s->msgid_tail = NULL;
    s->msgid_count = 0;
    s->last_msg_id[0] = 0;
    s->metas = NULL;
    s->meta_len = s->meta_cap = 0;
    s->deleted = NULL;
    s->deleted_count = s->deleted_cap = 0;
    s->deleted_total = 0;
    s->dirty = false;
    s->txns = NULL;
    s->txn_count = s->txn_cap = 0;
    s->messages = s->bytes = s->num_subjects = 0;
    s->last_ts_ms = 0;
    s->base_seq = s->first_seq = 1;
    s->last_seq = 0;
}

static sl_err stream_rebuild(struct stream *s);

/* A follower's log was cut at its divergence from a new leader (or emptied and started past
 * its end): the index names sequences that are gone, so it is built again from the log, as a
 * restart builds it. Only a replica of a replicated stream gets here, whose readers are on the
 * leader. */
static void stream_reindex(struct stream *s) {
    stream_index_clear(s);
    sl_err e = stream_rebuild(s);
    if (e) SL_WARN("stream %s: reading the log back after a truncation failed: %s", s->cfg.name, sl_err_str(e));
    SL_INFO("stream %s: this replica's log was cut; %llu messages, sequences %llu..%llu", s->cfg.name,
            (unsigned long long)s->messages, (unsigned long long)s->first_seq, (unsigned long long)s->last_seq);
}

size_t stream_deleted_key(const struct stream *s, char *out, size_t cap) { return deleted_key(s, out, cap); }

sl_err stream_apply_deleted(struct stream *s, const uint8_t *v, uint32_t len) {
    char key[STREAM_NAME_MAX + 32];
    size_t kl = deleted_key(s, key, sizeof(key));
    struct kvlog *kv = topics_metadata(s->ss->t);
    uint32_t ol = 0;
    const uint8_t *old = kvlog_get(kv, key, (uint32_t)kl, &ol);
    if (old ? ol == len && !memcmp(old, v, len) : !len) return SL_OK;
    uint64_t now_ms = loop_now_ms(streams_loop(s->ss));
    sl_err e = len ? kvlog_put(kv, key, (uint32_t)kl, v, len, now_ms, NULL) : kvlog_del(kv, key, (uint32_t)kl, now_ms, NULL);
    if (e) return e;
    stream_index_clear(s);
    e = stream_rebuild(s);
    if (e) SL_WARN("stream %s: reading the log back for the leader's removals failed: %s", s->cfg.name, sl_err_str(e));
    /* The disk below the floor goes here too, as on the leader. */
    if (s->part && (int64_t)s->first_seq - 1 > partition_start_offset(s->part)) {
        sl_err de = partition_delete_before(s->part, (int64_t)s->first_seq - 1);
        if (de) SL_WARN("stream %s: cannot advance the log start: %s", s->cfg.name, sl_err_str(de));
    }
    return SL_OK;
}

/* The persisted deleted set (stream_persist's record) into s->deleted; returns its floor (1
 * if it has none). */
static uint64_t deleted_decode(struct stream *s, const uint8_t *v, uint32_t vlen) {
    uint64_t floor = 1;
    struct kvlog_tlv_reader r;
    if (!kvlog_tlv_open(&r, v, vlen)) return floor;
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    while (kvlog_tlv_next(&r, &tag, &p, &n)) {
        int64_t x;
        if (tag == STREAM_DTAG_FLOOR && kvlog_tlv_i64(p, n, &x) && x > 0) floor = (uint64_t)x;
        if (tag == STREAM_DTAG_SEQS && n >= 8) {
            /* Sorted first: inserted in order each is an append, where a reversed list would
             * move the whole set once per sequence. */
            uint64_t *q = sl_xmalloc(n / 8 * sizeof(*q));
            for (uint32_t i = 0; i + 8 <= n; i += 8) q[i / 8] = sl_load_be64(p + i);
            qsort(q, n / 8, sizeof(*q), deleted_seq_cmp);
            for (uint32_t i = 0; i < n / 8; i++) deleted_insert(s, q[i]);
            free(q);
        }
        if (tag == STREAM_DTAG_RANGES) {
            for (uint32_t i = 0; i + 16 <= n; i += 16) {
                uint64_t lo = sl_load_be64(p + i), hi = sl_load_be64(p + i + 8);
                /* Our own record, so sorted and disjoint: each run is appended. A run that is
                 * not (corruption) is merged with what it overlaps, in one step all the same;
                 * one that cannot be a run (0, past UINT64_MAX - 1, reversed) is dropped. */
                if (lo == 0 || lo > hi || hi == UINT64_MAX) continue;
                deleted_insert_range(s, lo, hi);
            }
        }
    }
    return floor;
}

/* Reads the log from its start into the index, honouring the persisted deleted set. */
static sl_err stream_rebuild(struct stream *s) {
    uint64_t floor = 1;
    uint32_t vlen;
    char key[STREAM_NAME_MAX + 32];
    size_t kl = deleted_key(s, key, sizeof(key));
    const uint8_t *v = kvlog_get(topics_metadata(s->ss->t), key, (uint32_t)kl, &vlen);
    if (v) floor = deleted_decode(s, v, vlen);
    int64_t start = partition_start_offset(s->part);
    s->base_seq = SL_MAX(floor, (uint64_t)start + 1);
    s->first_seq = s->base_seq;
    s->last_seq = s->base_seq - 1;
    uint64_t now_ms = loop_now_ms(streams_loop(s->ss));
    int64_t at = (int64_t)s->base_seq - 1;
    /* A follower indexes all it has (its high watermark trails the leader's), as its appends do. */
    int64_t end = partition_role(s->part) == PARTITION_FOLLOWER ? partition_log_end(s->part)
                                                                 : partition_high_watermark(s->part);
    uint32_t di = 0;
    while (at < end) {
        struct log_span sp;
        sl_err e = partition_read(s->part, at, 1u << 20, &sp);
        if (e) return e;
        if (sp.len == 0) {
            log_span_release(&sp);
            break;
        }
        uint8_t *buf = sl_xmalloc(sp.len);
        ssize_t n = pread(sp.fd, buf, sp.len, (off_t)sp.pos);
        uint32_t len = sp.len;
        at = sp.next_offset;
        log_span_release(&sp);
        if (n != (ssize_t)len) {
            free(buf);
            return SL_IO;
        }
        uint32_t off = 0;
        while (off + KAFKA_BATCH_LOG_OVERHEAD <= len) {
            uint32_t blen = sl_load_be32(buf + off + 8) + KAFKA_BATCH_LOG_OVERHEAD;
            if (off + blen > len) break;
            struct kafka_records_iter it;
            struct kafka_records_rec rec;
            if (!kafka_records_open(&it, buf + off, blen, &s->ss->scratch)) {
                /* Markers and transactional batches replay as they were appended, so the open
                 * transactions are known again and aborted ones stay removed. */
                if (it.h.attributes & KAFKA_ATTR_CONTROL) {
                    stream_on_control(s, &it.h, buf + off, blen);
                    off += blen;
                    continue;
                }
                while (kafka_records_next(&it, &rec) == SL_OK) {
                    uint64_t seq = (uint64_t)rec.offset + 1;
                    if (seq < s->base_seq) continue;
                    while (di < s->deleted_count && s->deleted[di].hi < seq) di++;
                    bool gone = di < s->deleted_count && s->deleted[di].lo <= seq;
                    stream_index_record(s, &rec, now_ms, !gone);
                }
                if ((it.h.attributes & KAFKA_ATTR_TRANSACTIONAL) && it.h.producer_id >= 0)
                    stream_txn_add(s, it.h.producer_id, (uint64_t)it.h.base_offset + 1,
                                   (uint64_t)kafka_batch_last_offset(&it.h) + 1);
            }
            off += blen;
        }
        free(buf);
    }
    /* The log's end may be past the last record (the tail deleted): sequences continue there. */
    while (s->last_seq < (uint64_t)end) meta_push(s, (struct stream_meta){STREAM_SUBJ_NONE, 0, 0, 0});
    stream_advance_floor(s);
    return SL_OK;
}

static struct stream *stream_attach(struct streams *ss, struct topic *tp) {
    struct stream *s = sl_xcalloc(1, sizeof(*s));
    s->ss = ss;
    s->tp = tp;
    s->part = topic_partition(tp, 0);
    s->base_seq = s->first_seq = 1;
    if (ss->count == ss->cap) {
        ss->cap = ss->cap ? ss->cap * 2 : 8;
        ss->arr = sl_xrealloc(ss->arr, ss->cap * sizeof(*ss->arr));
    }
    ss->arr[ss->count++] = s;
    return s;
}

static void streams_unlink(struct streams *ss, struct stream *s) {
    for (struct stream_creating *c = ss->creating; c; c = c->next)
        if (c->s == s) c->s = NULL; /* deleted before its creation was durable */
    for (uint32_t i = 0; i < ss->count; i++) {
        if (ss->arr[i] != s) continue;
        memmove(ss->arr + i, ss->arr + i + 1, (ss->count - i - 1) * sizeof(*ss->arr));
        ss->count--;
        return;
    }
}

static void streams_drop(struct streams *ss, struct stream *s) {
    if (ss->gone) ss->gone(ss->gone_arg, s);
    streams_unlink(ss, s);
    stream_free(s);
}

/* ---- the registry ------------------------------------------------------------------------------ */

uint32_t streams_count(const struct streams *ss) { return ss->count; }
struct stream *streams_at(const struct streams *ss, uint32_t i) { return i < ss->count ? ss->arr[i] : NULL; }

struct stream *streams_get(const struct streams *ss, const char *name, uint32_t len) {
    for (uint32_t i = 0; i < ss->count; i++)
        if (strlen(ss->arr[i]->cfg.name) == len && !memcmp(ss->arr[i]->cfg.name, name, len)) return ss->arr[i];
    return NULL;
}

void streams_set_dlq_default(struct streams *ss, const char *tmpl) {
    snprintf(ss->dlq_default, sizeof(ss->dlq_default), "%s", tmpl ? tmpl : "");
}

/* The default template with every "{stream}" replaced by name; false if it does not fit. */
static bool streams_dlq_name(const struct streams *ss, const char *name, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = ss->dlq_default; *p;) {
        const char *piece = p;
        size_t len = 1;
        if (!strncmp(p, "{stream}", 8)) {
            piece = name;
            len = strlen(name);
            p += 8;
        } else {
            p++;
        }
        if (n + len >= cap) return false;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = 0;
    return n > 0;
}

/* The subject a dead letter is stored under in d: its first literal subject, else its name. */
static const char *streams_dlq_subject(const struct stream *d) {
    for (uint32_t i = 0; i < d->cfg.subject_count; i++)
        if (subject_literal(d->cfg.subjects[i], (uint32_t)strlen(d->cfg.subjects[i]))) return d->cfg.subjects[i];
    return d->cfg.name;
}

struct stream *streams_dlq_of(const struct streams *ss, const struct stream *s, const char **subject) {
    struct stream *d = NULL;
    const char *subj = NULL;
    const char *named = topic_config_value(s->tp, "sluice.dlq.stream");
    if (named) {
        /* Set on the topic, even to "": it wins over the rest ("" turns dead letters off). */
        if (*named) d = streams_get(ss, named, (uint32_t)strlen(named));
    } else if (s->cfg.dlq[0]) {
        d = streams_find_subject(ss, s->cfg.dlq, (uint32_t)strlen(s->cfg.dlq));
        subj = s->cfg.dlq;
    } else {
        char name[STREAM_NAME_MAX + 1];
        if (streams_dlq_name(ss, s->cfg.name, name, sizeof(name))) d = streams_get(ss, name, (uint32_t)strlen(name));
    }
    if (d == s) d = NULL; /* its own dead letters would come back to it forever */
    if (d && subject) *subject = subj ? subj : streams_dlq_subject(d);
    return d;
}

struct stream *streams_find_subject(const struct streams *ss, const char *subject, uint32_t len) {
    for (uint32_t i = 0; i < ss->count; i++) {
        const struct stream_config *c = &ss->arr[i]->cfg;
        for (uint32_t j = 0; j < c->subject_count; j++)
            if (stream_subject_matches(c->subjects[j], (uint32_t)strlen(c->subjects[j]), subject, len))
                return ss->arr[i];
    }
    return NULL;
}

void streams_set_gone_hook(struct streams *ss, void (*fn)(void *arg, struct stream *s), void *arg) {
    ss->gone = fn;
    ss->gone_arg = arg;
}

void streams_enforce_age(struct streams *ss, uint64_t now_ms) {
    for (uint32_t i = 0; i < ss->count; i++) stream_enforce_age(ss->arr[i], now_ms);
}

static void streams_age_fire(struct loop_timer *t, uint64_t mono_ms) {
    struct streams *ss = sl_container_of(t, struct streams, age_timer);
    streams_enforce_age(ss, loop_now_ms(streams_loop(ss)));
    loop_timer_add(streams_loop(ss), t, mono_ms + STREAM_AGE_CHECK_MS);
}

static void streams_persist_fire(struct loop_timer *t, uint64_t mono_ms) {
    struct streams *ss = sl_container_of(t, struct streams, persist_timer);
    for (uint32_t i = 0; i < ss->count; i++) stream_persist(ss->arr[i]);
    ss->last_persist_ms = mono_ms;
}

void streams_persist_now(struct streams *ss) {
    if (!ss || !loop_timer_armed(&ss->persist_timer)) return; /* armed exactly while a stream is dirty */
    struct loop *l = streams_loop(ss);
    loop_timer_del(l, &ss->persist_timer);
    streams_persist_fire(&ss->persist_timer, loop_mono_ms(l));
}

static void streams_topic_deleted(void *arg, struct topic *tp) {
    struct streams *ss = arg;
    for (uint32_t i = 0; i < ss->count; i++) {
        if (ss->arr[i]->tp != tp) continue;
        streams_drop(ss, ss->arr[i]);
        return;
    }
}

static void stream_bind_topic(struct stream *s) {
    while (s->tp->subject_count) topics_unbind_subject(s->tp, s->tp->subjects[0]);
    const char *why;
    for (uint32_t i = 0; i < s->cfg.subject_count; i++) topics_bind_subject(s->tp, s->cfg.subjects[i], &why);
    topics_set_retention(s->tp, s->cfg.retention, &why);
}

sl_err streams_open(struct streams **out, struct store *st, struct topics *t) {
    struct streams *ss = sl_xcalloc(1, sizeof(*ss));
    ss->st = st;
    ss->t = t;
    snprintf(ss->dlq_default, sizeof(ss->dlq_default), "%s", STREAM_DLQ_DEFAULT);
    kafka_records_scratch_init(&ss->scratch, 0);
    kafka_records_scratch_init(&ss->rscratch, 0);
    ss->age_timer.fire = streams_age_fire;
    ss->persist_timer.fire = streams_persist_fire;
    for (uint32_t i = 0; i < topics_count(t); i++) {
        struct topic *tp = topics_at(t, i);
        if (!tp->stream_rec || tp->partition_count < 1 || !topic_partition(tp, 0)) continue;
        struct stream *s = stream_attach(ss, tp);
        if (!stream_decode(s, tp->name, tp->stream_rec, tp->stream_rec_len)) {
            SL_WARN("stream %s: malformed stream record; served as a plain topic", tp->name);
            streams_unlink(ss, s);
            stream_free(s);
            continue;
        }
        stream_bind_topic(s);
        sl_err e = stream_rebuild(s);
        if (e) SL_WARN("stream %s: reading the log back failed: %s", tp->name, sl_err_str(e));
        stream_attach_partition(s);
        SL_INFO("stream %s: %llu messages, sequences %llu..%llu", tp->name, (unsigned long long)s->messages,
                (unsigned long long)s->first_seq, (unsigned long long)s->last_seq);
    }
    topics_set_delete_hook(t, streams_topic_deleted, ss);
    struct loop *l = streams_loop(ss);
    loop_timer_add(l, &ss->age_timer, loop_mono_ms(l) + STREAM_AGE_CHECK_MS);
    *out = ss;
    return SL_OK;
}

void streams_close(struct streams *ss) {
    if (!ss) return;
    struct loop *l = streams_loop(ss);
    if (loop_timer_armed(&ss->age_timer)) loop_timer_del(l, &ss->age_timer);
    if (loop_timer_armed(&ss->persist_timer)) loop_timer_del(l, &ss->persist_timer);
    for (uint32_t i = 0; i < ss->count; i++) stream_persist(ss->arr[i]);
    topics_set_delete_hook(ss->t, NULL, NULL);
    /* Creations under way end with the registry: their waiters hear so now; each topic job
     * still holds its record and frees it when topics_close ends the job (SL_CLOSED: the
     * topic's record was never written, so the next start removes its empty directory). */
    for (struct stream_creating *c = ss->creating, *next; c; c = next) {
        next = c->next;
        c->ss = NULL;
        c->next = NULL;
        for (uint32_t i = 0; i < c->nwaiters; i++)
            c->waiters[i].fn(c->waiters[i].arg, STREAM_ADMIN_STORAGE, NULL, "the server is shutting down");
        c->nwaiters = 0;
    }
    ss->creating = NULL;
    for (uint32_t i = 0; i < ss->count; i++) stream_free(ss->arr[i]);
    free(ss->arr);
    kafka_records_scratch_free(&ss->scratch);
    kafka_records_scratch_free(&ss->rscratch);
    free(ss->buf);
    free(ss->abuf);
    free(ss->hdr);
    free(ss->hin);
    free(ss);
}

/* NATS stream names: no '.', '*', '>', whitespace or path separators; and a Kafka topic name. */
static bool stream_name_valid(const char *name) {
    size_t n = strlen(name);
    if (!topics_name_valid(name, (int32_t)n)) return false;
    return !strchr(name, '.');
}

static bool streams_subjects_overlap_any(const struct stream_config *a, const struct stream_config *b) {
    for (uint32_t i = 0; i < a->subject_count; i++)
        for (uint32_t j = 0; j < b->subject_count; j++)
            if (stream_subjects_overlap(a->subjects[i], b->subjects[j])) return true;
    return false;
}

static enum stream_admin_result streams_check_config(struct streams *ss, const struct stream *self,
                                                     const struct stream_config *c, const char **why) {
    if (!stream_name_valid(c->name)) {
        *why = "invalid stream name";
        return STREAM_ADMIN_INVALID;
    }
    for (uint32_t i = 0; i < c->subject_count; i++) {
        const char *subj = c->subjects[i];
        size_t n = strlen(subj);
        if (!n || subj[0] == '.' || subj[n - 1] == '.' || strstr(subj, "..") || strpbrk(subj, " \t\r\n")) {
            *why = "invalid subject";
            return STREAM_ADMIN_INVALID;
        }
        for (uint32_t j = 0; j < i; j++)
            if (stream_subjects_overlap(subj, c->subjects[j])) {
                *why = "duplicate subjects detected";
                return STREAM_ADMIN_INVALID;
            }
    }
    for (uint32_t k = 0; k < ss->count; k++) {
        const struct stream *o = ss->arr[k];
        if (o == self) continue;
        if (streams_subjects_overlap_any(c, &o->cfg)) {
            *why = "subjects overlap with an existing stream";
            return STREAM_ADMIN_SUBJECT_OVERLAP;
        }
    }
    for (const struct stream_creating *k = ss->creating; k; k = k->next)
        if (!k->attached && streams_subjects_overlap_any(c, &k->cfg)) { /* attached: in arr */
            *why = "subjects overlap with an existing stream";
            return STREAM_ADMIN_SUBJECT_OVERLAP;
        }
    return STREAM_ADMIN_OK;
}

static sl_err stream_save_record(struct stream *s) {
    struct kvlog_tlv_writer w = {0};
    stream_encode(&s->cfg, s->created_ns, s->placed, &w);
    sl_err e = topics_set_stream_record(s->ss->t, s->tp, w.p, (uint32_t)w.len);
    kvlog_tlv_free(&w);
    return e;
}

/* The config as stored: nats-server gives a stream without subjects its name as subject. */
static void streams_config_norm(struct stream_config *cfg) {
    if (cfg->subject_count == 0) {
        snprintf(cfg->subjects[0], sizeof(cfg->subjects[0]), "%s", cfg->name);
        cfg->subject_count = 1;
    }
}

/* What a create decides before any topic is made. STREAM_ADMIN_OK with *out set: an equal
 * stream exists (nothing to make). */
static enum stream_admin_result streams_create_check(struct streams *ss, const struct stream_config *cfg,
                                                     struct stream **out, const char **why) {
    *out = NULL;
    struct stream *old = streams_get(ss, cfg->name, (uint32_t)strlen(cfg->name));
    if (old) {
        if (!stream_config_equal(&old->cfg, cfg)) {
            *why = "stream name already in use with a different configuration";
            return STREAM_ADMIN_NAME_IN_USE;
        }
        *out = old;
        return STREAM_ADMIN_OK;
    }
    enum stream_admin_result r = streams_check_config(ss, NULL, cfg, why);
    if (r) return r;
    if (topics_get(ss->t, cfg->name, (int32_t)strlen(cfg->name))) {
        *why = "a topic of that name exists";
        return STREAM_ADMIN_TOPIC_EXISTS;
    }
    return STREAM_ADMIN_OK;
}

/* The stream's limits govern what goes, not the broker's topic retention defaults. */
static const char *const stream_topic_keys[] = {"retention.ms", "retention.bytes"};
static const char *const stream_topic_values[] = {"-1", "-1"};

/* Once its topic exists: the stream, its record (queued in the metadata log) and its binding. */
static enum stream_admin_result streams_create_finish(struct streams *ss, const struct stream_config *cfg,
                                                      struct topic *tp, uint64_t now_ms, struct stream **out,
                                                      const char **why) {
    struct stream *s = stream_attach(ss, tp);
    s->cfg = *cfg;
    s->created_ns = (int64_t)now_ms * 1000000;
    /* A deleted set left by an earlier stream of this name (its topic deleted by Kafka). */
    char key[STREAM_NAME_MAX + 32];
    size_t kl = deleted_key(s, key, sizeof(key));
    if (kvlog_get(topics_metadata(ss->t), key, (uint32_t)kl, NULL))
        kvlog_del(topics_metadata(ss->t), key, (uint32_t)kl, now_ms, NULL);
    sl_err e = stream_save_record(s);
    if (e) {
        *why = "storage error saving the stream";
        streams_unlink(ss, s);
        stream_free(s);
        topics_delete(ss->t, tp);
        return STREAM_ADMIN_STORAGE;
    }
    stream_bind_topic(s);
    stream_attach_partition(s);
    *out = s;
    return STREAM_ADMIN_OK;
}

enum stream_admin_result streams_create(struct streams *ss, const struct stream_config *c, uint64_t now_ms,
                                        struct stream **out, bool *created, const char **why) {
    *created = false;
    struct stream_config cfg = *c;
    streams_config_norm(&cfg);
    for (const struct stream_creating *k = ss->creating; k; k = k->next)
        if (!strcmp(k->cfg.name, cfg.name)) {
            *why = "the stream is being created";
            return STREAM_ADMIN_NAME_IN_USE;
        }
    enum stream_admin_result r = streams_create_check(ss, &cfg, out, why);
    if (r || *out) return r;
    struct topic *tp;
    sl_err e = topics_create(ss->t, cfg.name, (int32_t)strlen(cfg.name), 1, stream_topic_keys, stream_topic_values,
                             2, false, &tp, why);
    if (e) return STREAM_ADMIN_STORAGE;
    r = streams_create_finish(ss, &cfg, tp, now_ms, out, why);
    *created = r == STREAM_ADMIN_OK;
    return r;
}

/* The end of a creation: off the list, every waiter told, freed. */
static void streams_creating_end(struct stream_creating *c, enum stream_admin_result r, struct stream *s,
                                 const char *why) {
    struct stream_creating **pp = &c->ss->creating;
    while (*pp != c) pp = &(*pp)->next;
    *pp = c->next;
    if (r && !why) why = "storage error creating the stream";
    for (uint32_t i = 0; i < c->nwaiters; i++) c->waiters[i].fn(c->waiters[i].arg, r, s, r ? why : NULL);
    free(c);
}

/* The topic record and the stream record are durable (or could not be written). */
static void streams_creating_durable(struct log_waiter *w, sl_err err) {
    struct stream_creating *c = sl_container_of(w, struct stream_creating, durable);
    if (!c->ss) { /* the registry closed first: its waiters have heard */
        free(c);
        return;
    }
    if (err) return streams_creating_end(c, STREAM_ADMIN_STORAGE, NULL, "storage error saving the stream");
    if (!c->s) return streams_creating_end(c, STREAM_ADMIN_NOT_FOUND, NULL, "the stream was deleted");
    streams_creating_end(c, STREAM_ADMIN_OK, c->s, NULL);
}

/* The topic's partition exists (or could not be made): attach the stream and queue its record,
 * then answer once both records are durable, as a consumer's create does. */
static void streams_creating_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct stream_creating *c = arg;
    struct streams *ss = c->ss;
    if (!ss) { /* the registry closed first: its waiters have heard */
        free(c);
        return;
    }
    if (err) return streams_creating_end(c, err == SL_TOPIC_EXISTS ? STREAM_ADMIN_TOPIC_EXISTS : STREAM_ADMIN_STORAGE,
                                         NULL, why);
    struct stream *s = NULL;
    enum stream_admin_result r = streams_create_finish(ss, &c->cfg, tp, c->now_ms, &s, &why);
    if (r) return streams_creating_end(c, r, NULL, why);
    c->s = s;
    c->attached = true;
    c->durable.done = streams_creating_durable;
    topics_wait_durable(ss->t, &c->durable); /* may fire at once */
}

/* ---- streams the cluster places ---------------------------------------------------------------- */

/* In a cluster a stream is a placed topic (cluster_view.h): one partition, replication
 * factor num_replicas, min.insync.replicas a majority; a PubAck is the
 * append's PARTITION_ACKS_DURABLE, which on a leader waits for the high watermark, so it means
 * a majority of the replicas has the message. The stream's record rides in the placement as
 * configs STREAM_PLACED_PREFIX "0", "1", ... (the record in hex, in chunks a config value
 * holds): every broker's copy of the topic is made without them (the cluster part strips them)
 * and the stream attached from them (streams_adopt), so every broker knows the stream, its
 * config and creation time, and indexes what its replica receives. */
#define STREAM_PLACED_CHUNK ((CLUSTER_CONFIG_VALUE_MAX - 1) / 2)
#define STREAM_PLACED_TOPIC_KEYS 3 /* retention.ms, retention.bytes, min.insync.replicas */
#define STREAM_PLACED_CHUNKS_MAX (CLUSTER_TOPIC_CONFIGS_MAX - STREAM_PLACED_TOPIC_KEYS)

void streams_set_view(struct streams *ss, const struct cluster_view *v) { ss->view = v; }

bool streams_placed_key(const char *key) { return !strncmp(key, STREAM_PLACED_PREFIX, strlen(STREAM_PLACED_PREFIX)); }

bool stream_is_placed(const struct stream *s) { return s->placed; }

const struct cluster_topic *stream_placement(const struct stream *s) {
    const struct cluster_view *v = s->ss->view;
    if (!v) return NULL;
    const struct cluster_topic *t = cluster_view_topic(v, s->cfg.name, (int32_t)strlen(s->cfg.name));
    return t && !memcmp(t->id, s->tp->id, 16) ? t : NULL;
}

/* The record from a placement's chunks, in order (heap, *len bytes); false if it has none or
 * one is malformed. */
static bool placed_record(const struct cluster_topic *t, uint8_t **out, uint32_t *len) {
    uint8_t *buf = NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i < STREAM_PLACED_CHUNKS_MAX; i++) {
        char key[CLUSTER_CONFIG_KEY_MAX];
        snprintf(key, sizeof(key), STREAM_PLACED_PREFIX "%u", i);
        const char *v = NULL;
        for (uint32_t k = 0; k < t->config_count && !v; k++)
            if (!strcmp(t->configs[k].key, key)) v = t->configs[k].value;
        if (!v) break;
        size_t hl = strlen(v);
        if (hl % 2 || hl / 2 > STREAM_PLACED_CHUNK) goto bad;
        buf = sl_xrealloc(buf, n + hl / 2 + 1);
        if (!sl_hex_decode(v, hl, buf + n)) goto bad;
        n += (uint32_t)(hl / 2);
    }
    if (!n) goto bad;
    *out = buf;
    *len = n;
    return true;
bad:
    free(buf);
    return false;
}

static void stream_apply_config(struct stream *s, uint64_t now_ms);

/* An existing copy whose placed record changed (a STREAM.UPDATE through the controller): the
 * new config here too. */
static void stream_refresh(struct stream *s, const uint8_t *rec, uint32_t len) {
    struct stream *tmp = sl_xcalloc(1, sizeof(*tmp));
    if (stream_decode(tmp, s->cfg.name, rec, len) && !stream_config_equal(&tmp->cfg, &s->cfg)) {
        struct stream_config old = s->cfg;
        s->cfg = tmp->cfg;
        if (stream_save_record(s) != SL_OK) {
            SL_WARN("stream %s: the cluster's new config cannot be saved here", s->cfg.name);
            s->cfg = old;
        } else {
            stream_apply_config(s, loop_now_ms(streams_loop(s->ss)));
            SL_INFO("stream %s: this broker's copy took the cluster's new config", s->cfg.name);
        }
    }
    free(tmp);
}

struct stream *streams_adopt(struct streams *ss, struct topic *tp) {
    struct stream *s = streams_get(ss, tp->name, (uint32_t)strlen(tp->name));
    if (s && (s->tp != tp || !s->placed)) return s->tp == tp ? s : NULL;
    const struct cluster_topic *t = ss->view ? cluster_view_topic(ss->view, tp->name, (int32_t)strlen(tp->name)) : NULL;
    if (!t || memcmp(t->id, tp->id, 16) || tp->partition_count < 1 || !topic_partition(tp, 0)) return s;
    uint8_t *rec = NULL;
    uint32_t len = 0;
    if (!placed_record(t, &rec, &len)) return s;
    if (s) {
        stream_refresh(s, rec, len);
        free(rec);
        return s;
    }
    s = stream_attach(ss, tp);
    s->placed = true;
    bool ok = stream_decode(s, tp->name, rec, len);
    s->placed = true; /* the placement's record does not say it: it is the same on every broker */
    free(rec);
    if (ok) {
        /* A deleted set left by an earlier stream of this name. */
        char key[STREAM_NAME_MAX + 32];
        size_t kl = deleted_key(s, key, sizeof(key));
        uint64_t now_ms = loop_now_ms(streams_loop(ss));
        if (kvlog_get(topics_metadata(ss->t), key, (uint32_t)kl, NULL))
            kvlog_del(topics_metadata(ss->t), key, (uint32_t)kl, now_ms, NULL);
        ok = stream_save_record(s) == SL_OK;
    }
    if (!ok) {
        SL_WARN("stream %s: the cluster's record of it is malformed or cannot be saved; served as a plain topic",
                tp->name);
        streams_unlink(ss, s);
        stream_free(s);
        return NULL;
    }
    stream_bind_topic(s);
    sl_err e = stream_rebuild(s);
    if (e) SL_WARN("stream %s: reading the log back failed: %s", tp->name, sl_err_str(e));
    stream_attach_partition(s);
    SL_INFO("stream %s: this broker's copy of the cluster's stream (%lld replicas)", tp->name,
            (long long)s->cfg.num_replicas);
    return s;
}

/* The placed topic exists here (or could not be placed): the stream is this broker's copy. */
static void streams_placed_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct stream_creating *c = arg;
    struct streams *ss = c->ss;
    if (!ss) { /* the registry closed first: its waiters have heard */
        free(c);
        return;
    }
    if (err)
        return streams_creating_end(c, err == SL_TOPIC_EXISTS ? STREAM_ADMIN_TOPIC_EXISTS : STREAM_ADMIN_STORAGE,
                                    NULL, why);
    struct stream *s = tp ? streams_adopt(ss, tp) : NULL;
    if (!s) return streams_creating_end(c, STREAM_ADMIN_STORAGE, NULL, "the stream's copy could not be made here");
    c->s = s;
    c->attached = true;
    c->durable.done = streams_creating_durable;
    topics_wait_durable(ss->t, &c->durable); /* may fire at once */
}

/* The record of cfg (created at created_ns) as placement configs after the n0 already in
 * keys/values: chunk i is keys[n0 + i] = STREAM_PLACED_PREFIX "i", its hex in values (the
 * buffers hold them). Returns the new count, 0 if the record does not fit. */
static uint32_t placed_chunks(const struct stream_config *cfg, int64_t created_ns,
                              char keybuf[][CLUSTER_CONFIG_KEY_MAX], char valbuf[][CLUSTER_CONFIG_VALUE_MAX],
                              const char **keys, const char **values, uint32_t n0) {
    struct kvlog_tlv_writer w = {0};
    stream_encode(cfg, created_ns, false, &w);
    uint32_t chunks = (uint32_t)((w.len + STREAM_PLACED_CHUNK - 1) / STREAM_PLACED_CHUNK);
    if (n0 + chunks > CLUSTER_TOPIC_CONFIGS_MAX) {
        kvlog_tlv_free(&w);
        return 0;
    }
    uint32_t n = n0;
    for (uint32_t i = 0; i < chunks; i++) {
        size_t from = (size_t)i * STREAM_PLACED_CHUNK, to = SL_MIN(w.len, from + STREAM_PLACED_CHUNK);
        snprintf(keybuf[i], CLUSTER_CONFIG_KEY_MAX, STREAM_PLACED_PREFIX "%u", i);
        sl_hex_encode(w.p + from, to - from, valbuf[i]);
        keys[n] = keybuf[i];
        values[n++] = valbuf[i];
    }
    kvlog_tlv_free(&w);
    return n;
}

/* Sends the creation to the controller: the topic's configs and the record in chunks. */
static enum stream_admin_result streams_place(struct streams *ss, struct stream_creating *k, const char **why) {
    const struct cluster_view *v = ss->view;
    const struct stream_config *cfg = &k->cfg;
    if (cfg->num_replicas > (int64_t)v->broker_count || cfg->num_replicas > CLUSTER_REPLICAS_MAX) {
        *why = "no suitable peers for placement";
        return STREAM_ADMIN_NO_PEERS;
    }
    char keybuf[STREAM_PLACED_CHUNKS_MAX][CLUSTER_CONFIG_KEY_MAX];
    char valbuf[STREAM_PLACED_CHUNKS_MAX][CLUSTER_CONFIG_VALUE_MAX];
    char insync[24];
    const char *keys[CLUSTER_TOPIC_CONFIGS_MAX] = {"retention.ms", "retention.bytes", "min.insync.replicas"};
    const char *values[CLUSTER_TOPIC_CONFIGS_MAX] = {"-1", "-1", insync};
    snprintf(insync, sizeof(insync), "%lld", (long long)(cfg->num_replicas / 2 + 1));
    uint32_t n = placed_chunks(cfg, (int64_t)k->now_ms * 1000000, keybuf, valbuf, keys, values, STREAM_PLACED_TOPIC_KEYS);
    if (!n) {
        *why = "the stream configuration is too large for the cluster's placement";
        return STREAM_ADMIN_INVALID;
    }
    sl_err e = v->ops.create(v->ops.arg, cfg->name, 1, (int32_t)SL_MAX(cfg->num_replicas, 1), keys, values, n,
                             streams_placed_done, k, why);
    if (e == SL_TOPIC_EXISTS) return STREAM_ADMIN_TOPIC_EXISTS;
    return e ? STREAM_ADMIN_STORAGE : STREAM_ADMIN_PENDING;
}

/* A placed stream's update on its way through the controller. */
struct stream_updating {
    struct streams *ss;
    char name[STREAM_NAME_MAX + 1];
    streams_create_fn done;
    void *arg;
};

static void streams_updated(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct stream_updating *u = arg;
    struct stream *s = streams_get(u->ss, u->name, (uint32_t)strlen(u->name));
    if (!err && s && tp == s->tp) streams_adopt(u->ss, tp); /* the new config here at once */
    if (err || !s) u->done(u->arg, s ? STREAM_ADMIN_STORAGE : STREAM_ADMIN_NOT_FOUND, NULL,
                           why ? why : "the cluster did not take the new configuration");
    else u->done(u->arg, STREAM_ADMIN_OK, s, NULL);
    free(u);
}

enum stream_admin_result streams_update_start(struct streams *ss, struct stream *s, const struct stream_config *c,
                                              uint64_t now_ms, streams_create_fn done, void *arg, const char **why) {
    if (!s->placed || !stream_placement(s)) return streams_update(ss, s, c, now_ms, why);
    struct stream_config cfg = *c;
    streams_config_norm(&cfg);
    enum stream_admin_result r = streams_check_config(ss, s, &cfg, why);
    if (r) return r;
    if (cfg.num_replicas != s->cfg.num_replicas) {
        *why = "stream configuration update can not change the number of replicas in a cluster yet";
        return STREAM_ADMIN_INVALID;
    }
    /* The topic's own overrides as they are, the record's chunks new. */
    char keybuf[STREAM_PLACED_CHUNKS_MAX][CLUSTER_CONFIG_KEY_MAX];
    char valbuf[STREAM_PLACED_CHUNKS_MAX][CLUSTER_CONFIG_VALUE_MAX];
    const char *keys[CLUSTER_TOPIC_CONFIGS_MAX], *values[CLUSTER_TOPIC_CONFIGS_MAX];
    uint32_t n0 = 0;
    for (uint32_t i = 0; i < s->tp->override_count && n0 < CLUSTER_TOPIC_CONFIGS_MAX; i++) {
        keys[n0] = s->tp->overrides[i].key;
        values[n0++] = s->tp->overrides[i].value;
    }
    uint32_t n = placed_chunks(&cfg, s->created_ns, keybuf, valbuf, keys, values, n0);
    if (!n) {
        *why = "the stream configuration is too large for the cluster's placement";
        return STREAM_ADMIN_INVALID;
    }
    struct stream_updating *u = sl_xcalloc(1, sizeof(*u));
    u->ss = ss;
    snprintf(u->name, sizeof(u->name), "%s", s->cfg.name);
    u->done = done;
    u->arg = arg;
    sl_err e = ss->view->ops.configs(ss->view->ops.arg, s->cfg.name, keys, values, n, streams_updated, u, why);
    if (e) {
        free(u);
        return STREAM_ADMIN_STORAGE;
    }
    return STREAM_ADMIN_PENDING;
}

enum stream_admin_result streams_delete_start(struct streams *ss, struct stream *s, topics_done_fn done, void *arg) {
    if (!stream_placement(s)) return streams_delete(ss, s);
    const char *why = NULL;
    sl_err e = ss->view->ops.remove(ss->view->ops.arg, s->cfg.name, done, arg, &why);
    return e ? STREAM_ADMIN_STORAGE : STREAM_ADMIN_PENDING;
}

enum stream_admin_result streams_create_start(struct streams *ss, const struct stream_config *c, uint64_t now_ms,
                                              streams_create_fn done, void *arg, struct stream **out,
                                              const char **why) {
    struct stream_config cfg = *c;
    streams_config_norm(&cfg);
    *out = NULL;
    for (struct stream_creating *k = ss->creating; k; k = k->next) {
        if (strcmp(k->cfg.name, cfg.name) || (k->attached && !k->s)) continue;
        if (!stream_config_equal(&k->cfg, &cfg)) {
            *why = "stream name already in use with a different configuration";
            return STREAM_ADMIN_NAME_IN_USE;
        }
        if (k->nwaiters == STREAM_CREATING_WAITERS_MAX) {
            *why = "too many requests are waiting for this stream's creation";
            return STREAM_ADMIN_STORAGE;
        }
        k->waiters[k->nwaiters++] = (struct stream_creating_waiter){done, arg};
        return STREAM_ADMIN_PENDING;
    }
    enum stream_admin_result r = streams_create_check(ss, &cfg, out, why);
    if (r || *out) return r;
    struct stream_creating *k = sl_xcalloc(1, sizeof(*k));
    k->ss = ss;
    k->cfg = cfg;
    k->now_ms = now_ms;
    k->waiters[k->nwaiters++] = (struct stream_creating_waiter){done, arg};
    k->next = ss->creating; /* listed first: the done may fire before the start returns */
    ss->creating = k;
    if (ss->view) {
        r = streams_place(ss, k, why);
        if (r != STREAM_ADMIN_PENDING) {
            ss->creating = k->next;
            free(k);
        }
        return r;
    }
    sl_err e = topics_create_start(ss->t, cfg.name, (int32_t)strlen(cfg.name), 1, stream_topic_keys,
                                   stream_topic_values, 2, streams_creating_done, k, why);
    if (e) {
        ss->creating = k->next;
        free(k);
        if (e == SL_TOPIC_EXISTS) {
            *why = "a topic of that name exists";
            return STREAM_ADMIN_TOPIC_EXISTS;
        }
        return STREAM_ADMIN_STORAGE;
    }
    return STREAM_ADMIN_PENDING;
}

enum stream_admin_result streams_update(struct streams *ss, struct stream *s, const struct stream_config *c,
                                        uint64_t now_ms, const char **why) {
    struct stream_config cfg = *c;
    streams_config_norm(&cfg);
    enum stream_admin_result r = streams_check_config(ss, s, &cfg, why);
    if (r) return r;
    struct stream_config old = s->cfg;
    s->cfg = cfg;
    if (stream_save_record(s)) {
        s->cfg = old;
        *why = "storage error saving the stream";
        return STREAM_ADMIN_STORAGE;
    }
    stream_apply_config(s, now_ms);
    return STREAM_ADMIN_OK;
}

/* A new config in force: subjects bound, limits applied at once. */
static void stream_apply_config(struct stream *s, uint64_t now_ms) {
    stream_bind_topic(s);
    stream_enforce_limits(s, STREAM_SUBJ_NONE, now_ms);
    if (s->cfg.max_msgs_per_subject > 0)
        for (uint32_t i = 0; i < s->subj_count; i++) stream_enforce_limits(s, i, now_ms);
}

enum stream_admin_result streams_delete(struct streams *ss, struct stream *s) {
    char key[STREAM_NAME_MAX + 32];
    size_t kl = deleted_key(s, key, sizeof(key));
    struct kvlog *kv = topics_metadata(ss->t);
    uint64_t now_ms = loop_now_ms(streams_loop(ss));
    s->dirty = false;
    if (kvlog_get(kv, key, (uint32_t)kl, NULL)) kvlog_del(kv, key, (uint32_t)kl, now_ms, NULL);
    /* The registry's delete hook drops the stream (streams_topic_deleted); a delete refused
     * before anything went leaves it. */
    uint32_t before = ss->count;
    sl_err e = topics_delete(ss->t, s->tp);
    if (e && ss->count == before) return STREAM_ADMIN_STORAGE;
    return STREAM_ADMIN_OK;
}
