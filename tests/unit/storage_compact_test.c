/* storage_compact_test.c: log compaction (storage/compact.c) against a model. Records with
 * keys from a small set, some of them tombstones (old or recent), go into a compacted log of
 * small segments; after the cleaner's passes every record left must be one that was written
 * at that offset, byte for byte; in the sealed segments a pass covered, only each key's newest
 * record may remain (and no tombstone older than delete_retention_ms); every key's newest
 * record must still be there unless it is such a tombstone; the active segment is untouched;
 * offsets only rise. The same holds after a clean reopen, after a reopen that has to scan
 * every segment, and after more writes and another pass. */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "protocol/kafka_compress.h"
#include "protocol/kafka_records.h"
#include "storage/compact.h"
#include "storage_fixture.h"

#define KEYS 60
#define MAX_RECS 8000
#define DAY_MS 86400000ll

struct model_rec {
    int key;       /* -1: no key */
    bool tomb;
    int64_t ts;
    uint32_t vlen;
    uint8_t v[64];
};

struct model {
    struct model_rec recs[MAX_RECS]; /* by offset */
    int64_t count;
    int64_t newest[KEYS];            /* offset of each key's newest record, -1 none */
    int8_t codec[MAX_RECS];          /* by base offset: the codec its batch was written with */
    int64_t thinned_compressed;      /* batches check_log found thinned and still compressed */
};

/* xorshift32: the test's own deterministic sequence. */
static uint32_t t_rand(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void key_name(int k, char *out, size_t cap) { snprintf(out, cap, "key-%03d", k); }

/* Appends n batches of 1..10 records; a tenth of the records are tombstones, half of those
 * two days old; a few records have no key. */
static void write_some(struct log *g, struct model *m, uint32_t *seed, int batches, int64_t now) {
    static uint8_t buf[1 << 16];
    for (int b = 0; b < batches; b++) {
        struct kafka_record_in in[10];
        char keys[10][16];
        int n = 1 + (int)(t_rand(seed) % 10);
        int64_t base = m->count;
        ck_assert_int_lt(base + n, MAX_RECS);
        for (int i = 0; i < n; i++) {
            struct model_rec *r = &m->recs[base + i];
            uint32_t x = t_rand(seed);
            r->key = x % 50 == 0 ? -1 : (int)(t_rand(seed) % KEYS);
            r->tomb = r->key >= 0 && x % 10 == 1;
            r->ts = r->tomb && (x & 0x100) ? now - 2 * DAY_MS : now;
            r->vlen = 1 + t_rand(seed) % sizeof(r->v);
            for (uint32_t j = 0; j < r->vlen; j++) r->v[j] = (uint8_t)t_rand(seed);
            int kl = 0;
            if (r->key >= 0) {
                key_name(r->key, keys[i], sizeof(keys[i]));
                kl = (int)strlen(keys[i]);
            }
            in[i] = (struct kafka_record_in){.key = r->key >= 0 ? keys[i] : NULL, .key_len = r->key >= 0 ? kl : -1,
                                             .value = r->tomb ? NULL : r->v,
                                             .value_len = r->tomb ? -1 : (int32_t)r->vlen, .timestamp_ms = r->ts};
        }
        size_t len = kafka_batch_encode(buf, sizeof(buf), in, (uint32_t)n, -1, -1, -1);
        ck_assert_uint_gt(len, 0);
        /* Every codec in turn on half the batches: the cleaner keeps a thinned batch's codec. */
        static uint8_t cbuf[1 << 17];
        uint8_t *out = buf;
        int codec = b % 2 ? 1 + (b / 2) % 4 : 0;
        uint32_t clen;
        if (codec && kafka_batch_compress(buf, (uint32_t)len, codec, cbuf, sizeof(cbuf), &clen) == SL_OK) {
            out = cbuf;
            len = clen;
        } else {
            codec = 0;
        }
        m->codec[base] = (int8_t)codec;
        int64_t got;
        ck_assert_int_eq(log_append(g, out, (uint32_t)len, &got, NULL, false), SL_OK);
        ck_assert_int_eq(got, base);
        for (int i = 0; i < n; i++)
            if (m->recs[base + i].key >= 0) m->newest[m->recs[base + i].key] = base + i;
        m->count += n;
    }
    fx_flush(g);
}

/* fx_read_all for a compacted log: a span may start past the offset asked for (a gap). */
static size_t read_all_gaps(struct log *g, uint8_t **out) {
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    int64_t at = log_start_offset(g);
    for (int guard = 0; guard < 1000000; guard++) {
        struct log_span sp;
        ck_assert_int_eq(log_read(g, at, 1 << 20, &sp), SL_OK);
        if (sp.len == 0) break;
        ck_assert_int_gt(sp.next_offset, at);
        while (len + sp.len > cap) buf = realloc(buf, cap *= 2);
        ck_assert_int_eq(pread(sp.fd, buf + len, sp.len, (off_t)sp.pos), (ssize_t)sp.len);
        len += sp.len;
        at = sp.next_offset;
        log_span_release(&sp);
    }
    *out = buf;
    return len;
}

/* Checks the log against the model. cleaned_below: offsets below it were in sealed segments a
 * pass covered (the newest rule holds there). Returns how many records are left. */
static int64_t check_log(struct log *g, struct model *m, int64_t cleaned_below, int64_t now) {
    uint8_t *all;
    size_t len = read_all_gaps(g, &all);
    struct kafka_records_scratch sc;
    kafka_records_scratch_init(&sc, 0);
    bool seen[KEYS] = {0};
    int64_t last = -1, left = 0;
    for (size_t off = 0; off < len;) {
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(all + off, len - off, &h), SL_OK);
        uint32_t bl = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        ck_assert_int_eq(kafka_batch_check_log(all + off, bl, NULL), SL_OK);
        ck_assert_int_gt(h.base_offset, last);
        struct kafka_records_iter it;
        struct kafka_records_rec rec;
        ck_assert_int_eq(kafka_records_open(&it, all + off, bl, &sc), SL_OK);
        /* A batch with records left keeps the codec it was written with. */
        if (h.record_count > 0) {
            ck_assert_int_eq(kafka_batch_compression(&h), m->codec[h.base_offset]);
            if (m->codec[h.base_offset] && h.record_count < h.last_offset_delta + 1) m->thinned_compressed++;
        }
        sl_err e;
        while ((e = kafka_records_next(&it, &rec)) == SL_OK) {
            ck_assert_int_gt(rec.offset, last);
            ck_assert_int_lt(rec.offset, m->count);
            last = rec.offset;
            left++;
            const struct model_rec *r = &m->recs[rec.offset];
            if (r->key < 0) {
                ck_assert_int_eq(rec.key.len, -1);
            } else {
                char k[16];
                key_name(r->key, k, sizeof(k));
                ck_assert_int_eq(rec.key.len, (int32_t)strlen(k));
                ck_assert(memcmp(rec.key.p, k, strlen(k)) == 0);
                if (rec.offset == m->newest[r->key]) seen[r->key] = true;
                if (rec.offset < cleaned_below) {
                    ck_assert_msg(rec.offset == m->newest[r->key] || m->newest[r->key] >= cleaned_below,
                                  "offset %lld: an older value of key %d survived the pass",
                                  (long long)rec.offset, r->key);
                    ck_assert_msg(!(r->tomb && r->ts + DAY_MS < now), "offset %lld: an expired tombstone survived",
                                  (long long)rec.offset);
                }
            }
            ck_assert_int_eq(rec.timestamp, r->ts);
            if (r->tomb) {
                ck_assert_int_eq(rec.value.len, -1);
            } else {
                ck_assert_int_eq(rec.value.len, (int32_t)r->vlen);
                ck_assert(memcmp(rec.value.p, r->v, r->vlen) == 0);
            }
        }
        ck_assert_int_eq(e, SL_NOT_FOUND);
        last = SL_MAX(last, kafka_batch_last_offset(&h));
        off += bl;
    }
    /* Every key's newest record is there, unless it is a tombstone the cleaner could drop. */
    for (int k = 0; k < KEYS; k++) {
        int64_t o = m->newest[k];
        if (o < 0) continue;
        const struct model_rec *r = &m->recs[o];
        bool may_go = r->tomb && r->ts + DAY_MS < now && o < cleaned_below;
        ck_assert_msg(seen[k] || may_go, "key %d lost its newest record (offset %lld)", k, (long long)o);
    }
    ck_assert_int_eq(log_end_offset(g), m->count);
    kafka_records_scratch_free(&sc);
    free(all);
    return left;
}

static void remove_index_files(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if ((n > 6 && !strcmp(de->d_name + n - 6, ".index")) || (n > 10 && !strcmp(de->d_name + n - 10, ".timeindex"))) {
            char p[1200];
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

START_TEST(test_compaction_matches_model) {
    static struct model m;
    memset(&m, 0, sizeof(m));
    for (int k = 0; k < KEYS; k++) m.newest[k] = -1;
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = 8192;
    cfg.index_interval_bytes = 512;
    cfg.compact = true;
    cfg.retention_ms = -1;
    cfg.delete_retention_ms = DAY_MS;
    struct fx f;
    fx_start(&f, &cfg);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "c", 0, &cfg, &g), SL_OK);
    loop_run_once(&f.loop, 0);
    int64_t now = (int64_t)loop_now_ms(&f.loop);
    uint32_t seed = 12345;
    write_some(g, &m, &seed, 400, now);
    ck_assert_uint_gt(log_segment_count(g), 5);
    uint64_t size_before = log_size_bytes(g);
    struct cleaner *c = store_cleaner(f.st);
    ck_assert_uint_ge(cleaner_run_now(c, 20000), 1);
    ck_assert_uint_gt(cleaner_get_stats(c)->records_removed, 0);
    ck_assert_uint_lt(log_size_bytes(g), size_before);
    ck_assert_double_eq(cleaner_dirty_ratio(g), 0.0);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/c-0", f.dir);
    /* The newest rule holds below the clean point the pass reached: every sealed segment. */
    int64_t cleaned_below = cleaner_clean_point(g);
    ck_assert_int_gt(cleaned_below, 0);
    int64_t left = check_log(g, &m, cleaned_below, now);
    ck_assert_int_lt(left, m.count);
    ck_assert_int_gt(m.thinned_compressed, 0); /* thinned batches went back under their codec */

    /* A clean reopen, then one that scans every segment. */
    fx_close(&f);
    fx_open(&f, &cfg);
    g = store_log_get(f.st, "c", 0);
    ck_assert_int_eq(check_log(g, &m, cleaned_below, now), left);
    fx_close(&f);
    char marker[600];
    snprintf(marker, sizeof(marker), "%s/%s", f.dir, STORE_CLEAN_MARKER);
    unlink(marker);
    remove_index_files(dir);
    fx_open(&f, &cfg);
    g = store_log_get(f.st, "c", 0);
    ck_assert_int_eq(check_log(g, &m, cleaned_below, now), left);

    /* The clean point survived the restarts; more writes, another pass goes on from it. */
    ck_assert_int_eq(cleaner_clean_point(g), 0); /* read on the cleaner's first look */
    write_some(g, &m, &seed, 300, now);
    c = store_cleaner(f.st);
    ck_assert_uint_ge(cleaner_run_now(c, 20000), 1);
    ck_assert_int_gt(cleaner_clean_point(g), cleaned_below);
    cleaned_below = cleaner_clean_point(g);
    check_log(g, &m, cleaned_below, now);
    fx_end(&f);
}
END_TEST

/* A reader holding a span of a segment keeps reading its old bytes across the swap. */
START_TEST(test_reader_keeps_old_bytes) {
    static struct model m;
    memset(&m, 0, sizeof(m));
    for (int k = 0; k < KEYS; k++) m.newest[k] = -1;
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = 8192;
    cfg.compact = true;
    cfg.retention_ms = -1;
    struct fx f;
    fx_start(&f, &cfg);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "c", 0, &cfg, &g), SL_OK);
    loop_run_once(&f.loop, 0);
    int64_t now = (int64_t)loop_now_ms(&f.loop);
    uint32_t seed = 777;
    write_some(g, &m, &seed, 200, now);
    struct log_span held;
    ck_assert_int_eq(log_read(g, 0, 4096, &held), SL_OK);
    uint8_t *before = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, before, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert_uint_ge(cleaner_run_now(store_cleaner(f.st), 20000), 1);
    uint8_t *after = malloc(held.len);
    ck_assert_int_eq(pread(held.fd, after, held.len, (off_t)held.pos), (ssize_t)held.len);
    ck_assert(memcmp(before, after, held.len) == 0);
    log_span_release(&held);
    free(before);
    free(after);
    check_log(g, &m, cleaner_clean_point(g), now);
    fx_end(&f);
}
END_TEST

/* The keep hook: a producer's last batch stays (emptied to its header) when newer values of
 * its keys come from elsewhere; an earlier batch of the same producer, emptied too, goes. */
static int64_t g_keep_offsets[2];
static uint32_t keep_hook(void *arg, int64_t *out, uint32_t max) {
    (void)arg;
    if (max >= 1) out[0] = g_keep_offsets[0];
    return 1;
}

static void append_one(struct log *g, const char *key, int64_t pid, int32_t seq, int64_t ts, int64_t want) {
    uint8_t buf[512];
    struct kafka_record_in in = {.key = key, .key_len = (int32_t)strlen(key), .value = "v", .value_len = 1,
                                 .timestamp_ms = ts};
    size_t len = kafka_batch_encode(buf, sizeof(buf), &in, 1, pid, pid >= 0 ? 0 : -1, seq);
    int64_t got;
    ck_assert_int_eq(log_append(g, buf, (uint32_t)len, &got, NULL, false), SL_OK);
    ck_assert_int_eq(got, want);
}

START_TEST(test_producer_last_batch_kept) {
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = 1024;
    cfg.compact = true;
    cfg.retention_ms = -1;
    struct fx f;
    fx_start(&f, &cfg);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "c", 0, &cfg, &g), SL_OK);
    loop_run_once(&f.loop, 0);
    int64_t now = (int64_t)loop_now_ms(&f.loop);
    append_one(g, "a", 42, 0, now, 0); /* producer 42's first batch */
    append_one(g, "b", 42, 1, now, 1); /* and its last */
    int64_t off = 2;
    for (; off < 40; off++) append_one(g, off % 2 ? "a" : "b", -1, -1, now, off); /* newer a and b */
    fx_flush(g);
    g_keep_offsets[0] = 1;
    log_set_cleaner_keep(g, keep_hook, NULL);
    ck_assert_uint_ge(cleaner_run_now(store_cleaner(f.st), 20000), 1);
    uint8_t *all;
    size_t len = read_all_gaps(g, &all);
    bool saw0 = false, saw1 = false;
    for (size_t pos = 0; pos < len;) {
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(all + pos, len - pos, &h), SL_OK);
        if (h.base_offset == 0) saw0 = true;
        if (h.base_offset == 1) {
            saw1 = true;
            ck_assert_int_eq(h.record_count, 0);
            ck_assert_int_eq(h.producer_id, 42);
            ck_assert_int_eq(h.base_sequence, 1);
        }
        pos += (size_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    }
    ck_assert(!saw0);
    ck_assert(saw1);
    free(all);
    log_set_cleaner_keep(g, NULL, NULL);
    fx_end(&f);
}
END_TEST

/* log_set_cleaner_drop on a log that is not compacted (a stream's): the cleaner rewrites the
 * sealed segments where the owner removed enough, taking out exactly those records; a second
 * look with nothing new does nothing; more removals make another pass. */
static int64_t g_drop_mod = 3;
static uint32_t drop_hook(void *arg, int64_t from, int64_t to, int64_t *out, uint32_t max) {
    (void)arg;
    uint32_t n = 0;
    for (int64_t o = from; o < to; o++) {
        if (o % g_drop_mod == 0) continue; /* kept */
        if (n < max) out[n] = o;
        n++;
    }
    return n;
}

START_TEST(test_owner_drops) {
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = 4096;
    struct fx f;
    fx_start(&f, &cfg);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "s", 0, &cfg, &g), SL_OK);
    loop_run_once(&f.loop, 0);
    int64_t now = (int64_t)loop_now_ms(&f.loop);
    for (int64_t o = 0; o < 600; o++) append_one(g, "subj.x", -1, -1, now, o);
    fx_flush(g);
    ck_assert_uint_gt(log_segment_count(g), 5);
    uint64_t before = log_size_bytes(g);
    struct cleaner *c = store_cleaner(f.st);
    ck_assert_uint_eq(cleaner_run_now(c, 20000), 0); /* no owner hook: nothing to do */
    g_drop_mod = 3;
    log_set_cleaner_drop(g, drop_hook, NULL);
    ck_assert_uint_ge(cleaner_run_now(c, 20000), 1);
    ck_assert_uint_lt(log_size_bytes(g), before);
    uint64_t passes = cleaner_get_stats(c)->passes;
    ck_assert_uint_eq(cleaner_run_now(c, 20000), 0); /* nothing new */
    ck_assert_uint_eq(cleaner_get_stats(c)->passes, passes);
    /* What is left: every offset % 3 == 0 with its record; otherwise at most a segment's last
     * batch, emptied; and everything in the active segment. */
    int64_t sealed_end = log_end_offset(g);
    uint8_t *all;
    size_t len = read_all_gaps(g, &all);
    int64_t records = 0;
    for (size_t pos = 0; pos < len;) {
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(all + pos, len - pos, &h), SL_OK);
        if (h.base_offset % 3 == 0) ck_assert_int_eq(h.record_count, 1);
        records += h.record_count;
        pos += (size_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    }
    free(all);
    ck_assert_int_lt(records, 600);
    ck_assert_int_ge(records, 200);
    /* More removed (keep only offsets % 6 == 0): another pass. */
    g_drop_mod = 6;
    ck_assert_uint_ge(cleaner_run_now(c, 20000), 1);
    len = read_all_gaps(g, &all);
    int64_t records2 = 0;
    for (size_t pos = 0; pos < len;) {
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(all + pos, len - pos, &h), SL_OK);
        if (h.base_offset % 6 == 0) ck_assert_int_eq(h.record_count, 1);
        records2 += h.record_count;
        pos += (size_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    }
    free(all);
    ck_assert_int_lt(records2, records);
    ck_assert_int_eq(log_end_offset(g), sealed_end);
    log_set_cleaner_drop(g, NULL, NULL);
    fx_end(&f);
}
END_TEST

/* Transactions in a compacted log: an aborted transaction's record is no key's newest (the
 * older committed value stays, the aborted one goes), markers stay, and nothing at or above
 * the last stable offset is cleaned. */
static int64_t g_stable = INT64_MAX;
static int64_t stable_hook(void *arg) {
    (void)arg;
    return g_stable;
}
static uint32_t aborted_hook(void *arg, int64_t from, int64_t to, struct log_aborted_txn *out, uint32_t max) {
    (void)arg;
    if (from > 2 || to <= 1) return 0;
    if (max >= 1) out[0] = (struct log_aborted_txn){9, 1, 2};
    return 1;
}

static void append_value(struct log *g, const char *key, const char *value, int64_t pid, bool txn, int64_t now,
                         int64_t want) {
    uint8_t buf[512];
    struct kafka_record_in in = {.key = key, .key_len = (int32_t)strlen(key), .value = value,
                                 .value_len = (int32_t)strlen(value), .timestamp_ms = now};
    size_t len = kafka_batch_encode(buf, sizeof(buf), &in, 1, pid, pid >= 0 ? 0 : -1, pid >= 0 ? 0 : -1);
    if (txn) {
        sl_store_be16(buf + 21, (uint16_t)(sl_load_be16(buf + 21) | KAFKA_ATTR_TRANSACTIONAL));
        kafka_batch_update_crc(buf, len);
    }
    int64_t got;
    ck_assert_int_eq(log_append(g, buf, (uint32_t)len, &got, NULL, false), SL_OK);
    ck_assert_int_eq(got, want);
}

static const char *value_at(const uint8_t *all, size_t len, int64_t offset, struct kafka_records_scratch *sc) {
    static char v[64];
    for (size_t pos = 0; pos < len;) {
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(all + pos, len - pos, &h), SL_OK);
        uint32_t bl = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        struct kafka_records_iter it;
        struct kafka_records_rec rec;
        ck_assert_int_eq(kafka_records_open(&it, all + pos, bl, sc), SL_OK);
        while (kafka_records_next(&it, &rec) == SL_OK) {
            if (rec.offset != offset) continue;
            if (it.h.attributes & KAFKA_ATTR_CONTROL) return "(marker)";
            snprintf(v, sizeof(v), "%.*s", (int)rec.value.len, (const char *)rec.value.p);
            return v;
        }
        pos += bl;
    }
    return NULL;
}

START_TEST(test_transactions_in_compacted_log) {
    struct log_config cfg;
    log_config_defaults(&cfg);
    cfg.segment_bytes = 1024;
    cfg.compact = true;
    cfg.retention_ms = -1;
    struct fx f;
    fx_start(&f, &cfg);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "c", 0, &cfg, &g), SL_OK);
    loop_run_once(&f.loop, 0);
    int64_t now = (int64_t)loop_now_ms(&f.loop);
    append_value(g, "a", "committed", -1, false, now, 0);
    append_value(g, "a", "aborted", 9, true, now, 1);
    uint8_t m[KAFKA_CONTROL_BATCH_BYTES];
    ck_assert_uint_eq(kafka_control_batch_encode(m, sizeof(m), KAFKA_CONTROL_ABORT, 9, 0, 0, now), sizeof(m));
    int64_t got;
    ck_assert_int_eq(log_append(g, m, sizeof(m), &got, NULL, false), SL_OK);
    ck_assert_int_eq(got, 2);
    int64_t off = 3;
    for (; off < 60; off++) append_value(g, "b", off < 30 ? "old" : "new", -1, false, now, off);
    fx_flush(g);
    ck_assert_uint_gt(log_segment_count(g), 3);
    g_stable = 30; /* an open transaction from offset 30 on */
    log_set_cleaner_txn(g, stable_hook, aborted_hook, NULL);
    ck_assert_uint_ge(cleaner_run_now(store_cleaner(f.st), 20000), 1);
    ck_assert_int_le(cleaner_clean_point(g), 30);
    uint8_t *all;
    size_t len = read_all_gaps(g, &all);
    struct kafka_records_scratch sc;
    kafka_records_scratch_init(&sc, 0);
    ck_assert_str_eq(value_at(all, len, 0, &sc), "committed");
    ck_assert_ptr_null(value_at(all, len, 1, &sc));
    ck_assert_str_eq(value_at(all, len, 2, &sc), "(marker)");
    /* Below the LSO, only b's newest of the cleaned section stays; from 30 on nothing is cleaned. */
    int64_t above = 0, below = 0;
    for (int64_t o = 3; o < 60; o++) *(o < 30 ? &below : &above) += value_at(all, len, o, &sc) != NULL;
    ck_assert_int_eq(above, 30);
    ck_assert_int_lt(below, 27); /* the cleaned section lost b's older values */
    free(all);
    kafka_records_scratch_free(&sc);
    log_set_cleaner_txn(g, NULL, NULL, NULL);
    fx_end(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage/compact");
    TCase *tc = tcase_create("compact");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_compaction_matches_model);
    tcase_add_test(tc, test_reader_keeps_old_bytes);
    tcase_add_test(tc, test_producer_last_batch_kept);
    tcase_add_test(tc, test_owner_drops);
    tcase_add_test(tc, test_transactions_in_compacted_log);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
