/* storage_kvlog_test.c: the compacted key/value log: puts, overwrites, tombstones, replay after
 * a clean close and after a crash, compaction, byte-exact values; on a small tmpfs filled up,
 * writes that fail leave the map exactly as the log holds it. */
#include <check.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/base.h"

#include "storage/kvlog.h"
#include "storage_fixture.h"

#define TOPIC "__kv_test"

struct fired {
    struct log_waiter w;
    int count;
    sl_err err;
};

static void fired_done(struct log_waiter *w, sl_err err) {
    struct fired *f = (struct fired *)w;
    f->count++;
    f->err = err;
}

static bool fired_pred(void *arg) { return ((struct fired *)arg)->count > 0; }

static void run_until_fired(struct fx *f, struct fired *w) {
    ck_assert(loop_run_until(&f->loop, fired_pred, w, 10000));
    ck_assert_int_eq(w->count, 1);
    ck_assert_int_eq(w->err, SL_OK);
}

static void ck_value(struct kvlog *kv, const char *key, const void *want, uint32_t want_len) {
    uint32_t len = 12345;
    const uint8_t *v = kvlog_get(kv, key, (uint32_t)strlen(key), &len);
    ck_assert_msg(v != NULL, "key %s missing", key);
    ck_assert_uint_eq(len, want_len);
    ck_assert_int_eq(memcmp(v, want, want_len), 0);
    ck_assert_int_eq(v[len], 0);
}

static void ck_absent(struct kvlog *kv, const char *key) {
    ck_assert_ptr_null(kvlog_get(kv, key, (uint32_t)strlen(key), NULL));
}

static sl_err put_s(struct kvlog *kv, const char *k, const char *v, struct log_waiter *w) {
    return kvlog_put(kv, k, (uint32_t)strlen(k), v, (uint32_t)strlen(v), 1000, w);
}

static sl_err del_s(struct kvlog *kv, const char *k) { return kvlog_del(kv, k, (uint32_t)strlen(k), 1000, NULL); }

/* Collects the live set in order as "key=value;" text. */
static void collect(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    char *out = arg;
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, 4096 - n, "%.*s=%.*s;", (int)key_len, (const char *)key, (int)value_len,
                          (const char *)value);
}

static const uint8_t binary_value[] = {0, 'a', 0, 0, 0xff, 'b', 0};

/* The same sequence of changes, and what it must leave behind. */
static void write_sequence(struct kvlog *kv, struct fired *w) {
    ck_assert_int_eq(put_s(kv, "alpha", "1", NULL), SL_OK);
    ck_assert_int_eq(put_s(kv, "beta", "2", NULL), SL_OK);
    ck_assert_int_eq(put_s(kv, "gamma", "3", NULL), SL_OK);
    ck_assert_int_eq(put_s(kv, "alpha", "one", NULL), SL_OK);
    ck_assert_int_eq(del_s(kv, "beta"), SL_OK);
    ck_assert_int_eq(kvlog_put(kv, "bin\0key", 7, binary_value, sizeof(binary_value), 1000, NULL), SL_OK);
    ck_assert_int_eq(kvlog_put(kv, "empty", 5, "", 0, 1000, NULL), SL_OK);
    struct kvlog_op ops[2] = {{"delta", 5, "4", 1}, {"gamma", 5, NULL, -1}};
    w->w.done = fired_done;
    ck_assert_int_eq(kvlog_write(kv, ops, 2, 1000, &w->w), SL_OK);
}

static void check_sequence(struct kvlog *kv) {
    ck_assert_uint_eq(kvlog_count(kv), 4);
    ck_value(kv, "alpha", "one", 3);
    ck_absent(kv, "beta");
    ck_absent(kv, "gamma");
    ck_value(kv, "delta", "4", 1);
    ck_value(kv, "empty", "", 0);
    uint32_t len;
    const uint8_t *v = kvlog_get(kv, "bin\0key", 7, &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(len, sizeof(binary_value));
    ck_assert_int_eq(memcmp(v, binary_value, sizeof(binary_value)), 0);
    ck_assert_ptr_null(kvlog_get(kv, "bin", 3, NULL)); /* the key's NUL is part of it */
    char text[4096] = "";
    kvlog_foreach(kv, collect, text);
    /* First-put order; the binary key and value print up to their first NUL. */
    ck_assert_str_eq(text, "alpha=one;bin=;empty=;delta=4;");
}

START_TEST(put_overwrite_tombstone_and_clean_replay) {
    struct fx f;
    fx_start(&f, NULL);
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, NULL, 1000), SL_OK);
    ck_assert_uint_eq(kvlog_count(kv), 0);
    struct fired w = {0};
    write_sequence(kv, &w);
    check_sequence(kv); /* visible at once, before durability */
    run_until_fired(&f, &w);
    ck_assert_int_ge(log_synced_offset(kvlog_log(kv)), 9);
    ck_assert_uint_eq(kvlog_records(kv), 9);
    kvlog_close(kv);
    fx_close(&f);
    fx_open(&f, NULL);
    ck_assert(store_get_stats(f.st)->clean);
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, NULL, 2000), SL_OK);
    ck_assert_uint_eq(kvlog_records(kv), 9);
    check_sequence(kv);
    /* A delete and a new put moves the key to the end. */
    ck_assert_int_eq(del_s(kv, "alpha"), SL_OK);
    ck_assert_int_eq(put_s(kv, "alpha", "again", NULL), SL_OK);
    char text[4096] = "";
    kvlog_foreach(kv, collect, text);
    ck_assert_str_eq(text, "bin=;empty=;delta=4;alpha=again;");
    kvlog_close(kv);
    fx_end(&f);
}
END_TEST

START_TEST(wait_fires_at_once_when_durable) {
    struct fx f;
    fx_start(&f, NULL);
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, NULL, 1000), SL_OK);
    struct fired w = {.w.done = fired_done};
    kvlog_wait(kv, &w.w); /* nothing written: durable already */
    ck_assert_int_eq(w.count, 1);
    ck_assert_int_eq(put_s(kv, "k", "v", NULL), SL_OK);
    struct fired w2 = {.w.done = fired_done};
    kvlog_wait(kv, &w2.w);
    ck_assert_int_eq(w2.count, 0); /* queued: the put is not durable yet */
    run_until_fired(&f, &w2);
    ck_assert_int_ge(log_synced_offset(kvlog_log(kv)), 1);
    struct fired w3 = {.w.done = fired_done};
    kvlog_wait(kv, &w3.w);
    ck_assert_int_eq(w3.count, 1);
    kvlog_close(kv);
    fx_end(&f);
}
END_TEST

START_TEST(replay_after_crash) {
    struct fx f;
    snprintf(f.dir, sizeof(f.dir), "%s", t_tmpdir());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct fx c = f;
        struct log_config cfg;
        log_config_defaults(&cfg);
        if (loop_init(&c.loop, 256) != 0) _exit(2);
        if (store_open(&c.st, &c.loop, c.dir, &cfg, NULL) != SL_OK) _exit(3);
        struct kvlog *kv;
        if (kvlog_open(&kv, c.st, TOPIC, NULL, 1000) != SL_OK) _exit(4);
        struct fired w = {0};
        write_sequence(kv, &w);
        if (!loop_run_until(&c.loop, fired_pred, &w, 10000) || w.err) _exit(5);
        /* Acknowledged: now die without closing anything, as kill -9 would. */
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    fx_open(&f, NULL);
    ck_assert(!store_get_stats(f.st)->clean);
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, NULL, 2000), SL_OK);
    check_sequence(kv);
    kvlog_close(kv);
    fx_end(&f);
}
END_TEST

START_TEST(compaction_keeps_exactly_the_live_set) {
    struct fx f;
    fx_start(&f, NULL);
    struct kvlog_options opts = {.segment_bytes = 4096, .compact_min_records = 200, .compact_ratio = 4};
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 1000), SL_OK);
    char key[32], val[64];
    /* 10 live keys rewritten many times, plus keys that end deleted. */
    for (int round = 0; round < 60; round++) {
        for (int k = 0; k < 10; k++) {
            snprintf(key, sizeof(key), "live-%d", k);
            snprintf(val, sizeof(val), "value-%d-%d", k, round);
            ck_assert_int_eq(put_s(kv, key, val, NULL), SL_OK);
        }
        snprintf(key, sizeof(key), "gone-%d", round);
        ck_assert_int_eq(put_s(kv, key, "x", NULL), SL_OK);
        ck_assert_int_eq(del_s(kv, key), SL_OK);
    }
    ck_assert_int_eq(kvlog_flush(kv), SL_OK);
    ck_assert_uint_eq(kvlog_count(kv), 10);
    /* Compaction ran (more than 200 records, over 4x live) and deleted old segments. */
    struct log *g = kvlog_log(kv);
    ck_assert_int_gt(log_start_offset(g), 0);
    ck_assert_uint_lt(kvlog_records(kv), 60 * 12);
    uint64_t records = kvlog_records(kv);
    kvlog_close(kv);
    fx_close(&f);
    fx_open(&f, NULL);
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 2000), SL_OK);
    /* Still over the threshold (the writes after the first compaction): open compacts again,
     * appending the 10 live entries, and once they are durable only they remain. */
    ck_assert_uint_eq(kvlog_records(kv), records + 10);
    ck_assert_int_eq(kvlog_flush(kv), SL_OK);
    ck_assert_uint_eq(kvlog_records(kv), 10);
    kvlog_close(kv);
    fx_close(&f);
    fx_open(&f, NULL);
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 3000), SL_OK);
    ck_assert_uint_eq(kvlog_records(kv), 10);
    ck_assert_int_eq(log_end_offset(kvlog_log(kv)) - log_start_offset(kvlog_log(kv)), 10);
    ck_assert_uint_eq(kvlog_count(kv), 10);
    char text[4096] = "", want[4096] = "";
    kvlog_foreach(kv, collect, text);
    for (int k = 0; k < 10; k++) {
        size_t n = strlen(want);
        snprintf(want + n, sizeof(want) - n, "live-%d=value-%d-59;", k, k);
    }
    ck_assert_str_eq(text, want);
    for (int round = 0; round < 60; round++) {
        snprintf(key, sizeof(key), "gone-%d", round);
        ck_absent(kv, key);
    }
    kvlog_close(kv);
    fx_end(&f);
}
END_TEST

START_TEST(compaction_of_an_empty_live_set_drops_everything) {
    struct fx f;
    fx_start(&f, NULL);
    struct kvlog_options opts = {.segment_bytes = 2048, .compact_min_records = 50, .compact_ratio = 4};
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 1000), SL_OK);
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(put_s(kv, key, "v", NULL), SL_OK);
        ck_assert_int_eq(del_s(kv, key), SL_OK);
    }
    ck_assert_int_eq(kvlog_flush(kv), SL_OK);
    ck_assert_uint_eq(kvlog_count(kv), 0);
    kvlog_close(kv);
    fx_close(&f);
    fx_open(&f, NULL);
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 2000), SL_OK);
    ck_assert_uint_eq(kvlog_count(kv), 0);
    ck_assert_uint_lt(kvlog_records(kv), 80);
    kvlog_close(kv);
    fx_end(&f);
}
END_TEST

/* ---- a kvlog over a log written through a sink (kvlog_open_log) ---------------------------- */

/* A sink that writes the batch to the real log at once and holds each write's answer until the
 * test commits or fails the oldest ones: what a replicated partition does (written on the
 * leader, answered once the in-sync replicas have it, or all failed when it stops leading). */
struct held_sink {
    struct log *g;
    struct log_waiter *held[16];
    int64_t base[16];
    int n, taken;
};

static sl_err held_append(void *arg, uint8_t *batch, uint32_t len, struct log_waiter *w) {
    struct held_sink *hs = arg;
    ck_assert_int_lt(hs->n, 16);
    int64_t base;
    sl_err e = log_append(hs->g, batch, len, &base, NULL, false);
    if (e) return e;
    hs->held[hs->n] = w;
    hs->base[hs->n++] = base;
    hs->taken++;
    return SL_OK;
}

/* Answers the oldest k held writes with err, in order. */
static void held_answer(struct held_sink *hs, int k, sl_err err) {
    ck_assert_int_le(k, hs->n);
    for (int i = 0; i < k; i++) {
        hs->held[i]->offset = hs->base[i];
        hs->held[i]->done(hs->held[i], err);
    }
    memmove(hs->held, hs->held + k, sizeof(hs->held[0]) * (size_t)(hs->n - k));
    memmove(hs->base, hs->base + k, sizeof(hs->base[0]) * (size_t)(hs->n - k));
    hs->n -= k;
}

START_TEST(sink_writes_through_and_fails_in_order) {
    struct fx f;
    fx_start(&f, NULL);
    struct log_config cfg;
    log_config_defaults(&cfg);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "__sink_test", 0, &cfg, &g), SL_OK);
    struct held_sink hs = {.g = g};
    struct kvlog_sink sink = {held_append, &hs};
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open_log(&kv, g, &sink), SL_OK);
    struct fired w1 = {0}, w2 = {0}, w3 = {0};
    w1.w.done = w2.w.done = w3.w.done = fired_done;
    ck_assert_int_eq(put_s(kv, "a", "1", &w1.w), SL_OK);
    ck_assert_int_eq(put_s(kv, "b", "2", &w2.w), SL_OK);
    ck_assert_int_eq(hs.taken, 2);             /* every write went to the sink */
    ck_assert_int_eq(log_end_offset(g), 2);    /* which wrote it to the log */
    ck_value(kv, "a", "1", 1);                 /* shown at once */
    ck_assert(kvlog_writes_pending(kv));
    held_answer(&hs, 1, SL_OK);                /* committed */
    ck_assert_int_eq(w1.count, 1);
    ck_assert_int_eq(w1.err, SL_OK);
    ck_assert_int_eq(w2.count, 0);             /* still waiting for the replicas */
    ck_assert_int_eq(put_s(kv, "a", "3", &w3.w), SL_OK);
    ck_value(kv, "a", "3", 1);
    /* The partition stops leading: both writes still held fail, oldest first; the map takes
     * them back, newest change first. */
    held_answer(&hs, 2, SL_NOT_LEADER);
    ck_assert_int_eq(w2.count, 1);
    ck_assert_int_eq(w2.err, SL_NOT_LEADER);
    ck_assert_int_eq(w3.count, 1);
    ck_assert_int_eq(w3.err, SL_NOT_LEADER);
    ck_value(kv, "a", "1", 1);
    ck_absent(kv, "b");
    ck_assert(!kvlog_writes_pending(kv));
    /* It never compacts the log itself, whatever the record count. */
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(put_s(kv, "a", "x", NULL), SL_OK);
        held_answer(&hs, 1, SL_OK);
    }
    ck_assert_int_eq(log_start_offset(g), 0);
    ck_assert(kvlog_close(kv));
    ck_assert_int_eq(log_flush(g, true, 10000), SL_OK); /* the replay reads what is written */
    /* A new leader replays what the log holds: the failed writes too (they were written, only
     * not committed, as a Kafka log may keep them). */
    ck_assert_int_eq(kvlog_open_log(&kv, g, &sink), SL_OK);
    ck_value(kv, "a", "x", 1);
    ck_value(kv, "b", "2", 1);
    ck_assert_uint_eq(kvlog_records(kv), 15);
    /* Closed with a write unanswered: the kvlog stays allocated for its waiter. */
    struct fired w4 = {0};
    w4.w.done = fired_done;
    ck_assert_int_eq(put_s(kv, "c", "4", &w4.w), SL_OK);
    ck_assert(!kvlog_close(kv));
    held_answer(&hs, 1, SL_NOT_LEADER); /* answered later, into the still allocated kvlog */
    ck_assert_int_eq(w4.count, 1);
    ck_assert(kvlog_close(kv)); /* settled: now it goes */
    fx_end(&f);
}
END_TEST

START_TEST(tlv_round_trip_skips_unknown_tags) {
    struct kvlog_tlv_writer w = {0};
    kvlog_tlv_begin(&w, 3);
    kvlog_tlv_put(&w, 1, "ab\0c", 4);
    kvlog_tlv_put(&w, 999, "future", 6);
    kvlog_tlv_put_i64(&w, 2, -5);
    kvlog_tlv_put(&w, 4, NULL, 0);
    ck_assert_uint_eq(w.len, 2 + 6 + 4 + 6 + 6 + 6 + 8 + 6);
    struct kvlog_tlv_reader r;
    ck_assert(kvlog_tlv_open(&r, w.p, (uint32_t)w.len));
    ck_assert_uint_eq(r.version, 3);
    uint16_t tag;
    const uint8_t *p;
    uint32_t len;
    ck_assert(kvlog_tlv_next(&r, &tag, &p, &len));
    ck_assert_uint_eq(tag, 1);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(p, "ab\0c", 4), 0);
    ck_assert(kvlog_tlv_next(&r, &tag, &p, &len));
    ck_assert_uint_eq(tag, 999);
    ck_assert(kvlog_tlv_next(&r, &tag, &p, &len));
    int64_t v;
    ck_assert(kvlog_tlv_i64(p, len, &v));
    ck_assert_int_eq(v, -5);
    ck_assert(kvlog_tlv_next(&r, &tag, &p, &len));
    ck_assert_uint_eq(tag, 4);
    ck_assert_uint_eq(len, 0);
    ck_assert(!kvlog_tlv_next(&r, &tag, &p, &len));
    /* A truncated field ends the walk. */
    ck_assert(kvlog_tlv_open(&r, w.p, 2 + 6 + 3));
    ck_assert(!kvlog_tlv_next(&r, &tag, &p, &len));
    ck_assert(!kvlog_tlv_open(&r, w.p, 1));
    kvlog_tlv_free(&w);
}
END_TEST

/* ---- a full disk: failed writes leave no trace ---------------------------------------------- */


/* The live set, byte-exact, in first-put order: "<hex key>=<hex value>;" per entry. */
static void dump_hex(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    char **out = arg;
    size_t n = *out ? strlen(*out) : 0;
    *out = realloc(*out, n + 2 * ((size_t)key_len + value_len) + 3);
    char *p = *out + n;
    for (uint32_t i = 0; i < key_len; i++) p += sprintf(p, "%02x", key[i]);
    *p++ = '=';
    for (uint32_t i = 0; i < value_len; i++) p += sprintf(p, "%02x", value[i]);
    *p++ = ';';
    *p = 0;
}

static char *dump(struct kvlog *kv) {
    char *s = calloc(1, 1);
    kvlog_foreach(kv, dump_hex, &s);
    return s;
}

/* A write's waiter that notes the map as it was when the waiter fired. */
struct fail_w {
    struct log_waiter w;
    struct kvlog *kv;
    int fired, order;
    sl_err err;
    char *map_at_fire;
};

static int fail_w_fired;

static void fail_w_done(struct log_waiter *w, sl_err err) {
    struct fail_w *f = (struct fail_w *)w;
    f->fired++;
    f->err = err;
    f->order = ++fail_w_fired;
    f->map_at_fire = dump(f->kv);
}

static bool fail_w_all(void *arg) {
    struct fail_w *ws = arg;
    for (int i = 0; i < 4; i++)
        if (!ws[i].fired) return false;
    return true;
}

struct undo_seen {
    char keys[64][16];
    bool present[64];
    uint32_t n;
};

static void undo_hook(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    struct undo_seen *u = arg;
    (void)value_len;
    ck_assert_uint_lt(u->n, 64);
    snprintf(u->keys[u->n], sizeof(u->keys[u->n]), "%.*s", (int)SL_MIN(key_len, 15u), (const char *)key);
    u->present[u->n++] = value != NULL;
}

static void collect_keys(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                         uint32_t value_len) {
    char *out = arg;
    size_t n = strlen(out);
    (void)value;
    (void)value_len;
    snprintf(out + n, 4096 - n, "%.*s;", (int)key_len, (const char *)key);
}

static const uint8_t old_a[] = {'A', 0, '1', 0xfe};
static const uint8_t old_c[] = {0, 0, 'C'};
static char pad[20000];

/* Puts a 20 KB pad under key pad-<i> so the batch needs pages the full disk lacks. */
static sl_err put_pad(struct kvlog *kv, int i, struct log_waiter *w) {
    char key[32];
    snprintf(key, sizeof(key), "pad-%d", i);
    memset(pad, 'p' + i % 5, sizeof(pad));
    return kvlog_put(kv, key, (uint32_t)strlen(key), pad, sizeof(pad), 1000, w);
}

START_TEST(failed_writes_leave_no_trace) {
    struct mnt m;
    ck_assert(mnt_make(&m, "size=4m"));
    struct fx f;
    snprintf(f.dir, sizeof(f.dir), "%.250s", m.data);
    ck_assert_int_eq(mkdir(m.data, 0755), 0);
    fx_open(&f, NULL);
    struct kvlog_options opts = {.segment_bytes = 16u << 20, .compact_min_records = 100000, .compact_ratio = 4};
    struct kvlog *kv;
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 1000), SL_OK);
    struct undo_seen seen = {0};
    kvlog_set_undo_hook(kv, undo_hook, &seen);

    /* The durable state: a, b, c (binary), an empty value, in this order. */
    ck_assert_int_eq(kvlog_put(kv, "a", 1, old_a, sizeof(old_a), 1000, NULL), SL_OK);
    ck_assert_int_eq(put_s(kv, "b", "B1", NULL), SL_OK);
    ck_assert_int_eq(kvlog_put(kv, "c", 1, old_c, sizeof(old_c), 1000, NULL), SL_OK);
    ck_assert_int_eq(put_s(kv, "e", "", NULL), SL_OK);
    ck_assert_int_eq(kvlog_flush(kv), SL_OK);

    /* Fill the disk, then the log's preallocated space, until a write fails. */
    char filler1[400], filler2[400], filler3[400];
    snprintf(filler1, sizeof(filler1), "%s/filler1", m.root);
    snprintf(filler2, sizeof(filler2), "%s/filler2", m.root);
    snprintf(filler3, sizeof(filler3), "%s/filler3", m.root);
    ck_assert_int_eq(fill_file(filler1, 512 << 10), 512 << 10);
    fill_file(filler2, 64 << 20);
    int failed = 0;
    for (int i = 0; i < 400 && !failed; i++) {
        struct fired w = {.w.done = fired_done};
        sl_err e = put_pad(kv, i, &w.w);
        if (!e) {
            ck_assert(loop_run_until(&f.loop, fired_pred, &w, 20000));
            e = w.err;
        }
        if (e) {
            ck_assert_int_eq(e, SL_NO_SPACE);
            failed = 1;
            char key[32];
            snprintf(key, sizeof(key), "pad-%d", i);
            ck_absent(kv, key); /* a key that did not exist before */
        }
    }
    ck_assert_int_eq(failed, 1);
    fill_file(filler3, 64 << 20); /* whatever the rewind gave back */
    /* The pads that made it are durable; the rest of the test starts from here. */
    char *before = dump(kv);
    uint32_t count_before = kvlog_count(kv);
    uint64_t records_before = kvlog_records(kv);
    struct log *g = kvlog_log(kv);
    ck_assert_int_eq(log_written_offset(g), log_end_offset(g));

    /* Four writes in flight at once, each changing what the one before changed; the first
     * carries a pad, so the one write of the turn needs pages there are not. */
    struct fail_w ws[4];
    memset(ws, 0, sizeof(ws));
    for (int i = 0; i < 4; i++) ws[i] = (struct fail_w){.w.done = fail_w_done, .kv = kv};
    fail_w_fired = 0;
    seen.n = 0;
    struct kvlog_op w0[3] = {{"pad-new", 7, pad, (int32_t)sizeof(pad)}, {"a", 1, "A2", 2}, {"d", 1, "D0", 2}};
    ck_assert_int_eq(kvlog_write(kv, w0, 3, 1000, &ws[0].w), SL_OK);
    struct kvlog_op w1[3] = {{"b", 1, NULL, -1}, {"a", 1, "A3", 2}, {"c", 1, "C2", 2}};
    ck_assert_int_eq(kvlog_write(kv, w1, 3, 1000, &ws[1].w), SL_OK);
    struct kvlog_op w2[3] = {{"a", 1, NULL, -1}, {"d", 1, NULL, -1}, {"b", 1, "B3", 2}};
    ck_assert_int_eq(kvlog_write(kv, w2, 3, 1000, &ws[2].w), SL_OK);
    struct kvlog_op w3[3] = {{"a", 1, "A4", 2}, {"e", 1, NULL, -1}, {"c", 1, NULL, -1}};
    ck_assert_int_eq(kvlog_write(kv, w3, 3, 1000, &ws[3].w), SL_OK);
    /* Shown at once, in first-put order: b was deleted and put again, a too. */
    char text[4096] = "";
    kvlog_foreach(kv, collect_keys, text);
    ck_assert(strstr(text, "pad-new;b;a;") != NULL);
    ck_value(kv, "a", "A4", 2);
    ck_value(kv, "b", "B3", 2);
    ck_value(kv, "pad-new", pad, sizeof(pad));
    ck_absent(kv, "d");
    ck_absent(kv, "c");
    ck_absent(kv, "e");

    ck_assert(loop_run_until(&f.loop, fail_w_all, ws, 20000));
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ws[i].fired, 1);
        ck_assert_int_eq(ws[i].err, SL_NO_SPACE);
        ck_assert_int_eq(ws[i].order, i + 1); /* oldest first */
        /* Every waiter, the first included, sees the map without any of the four. */
        ck_assert_str_eq(ws[i].map_at_fire, before);
        free(ws[i].map_at_fire);
    }
    char *after = dump(kv);
    ck_assert_str_eq(after, before); /* byte-exact, in the same order */
    free(after);
    ck_assert_uint_eq(kvlog_count(kv), count_before);
    ck_value(kv, "a", old_a, sizeof(old_a));
    ck_value(kv, "b", "B1", 2); /* deleted, then back */
    ck_value(kv, "c", old_c, sizeof(old_c));
    ck_value(kv, "e", "", 0);
    ck_absent(kv, "d");
    ck_absent(kv, "pad-new");
    ck_assert_uint_eq(kvlog_records(kv), records_before);
    /* The hook heard of every key changed, once per change, each with its value now. */
    ck_assert_uint_eq(seen.n, 12);
    for (uint32_t i = 0; i < seen.n; i++) {
        bool want = strcmp(seen.keys[i], "d") && strcmp(seen.keys[i], "pad-new");
        ck_assert_msg(seen.present[i] == want, "hook: %s", seen.keys[i]);
    }

    /* Space back: new writes succeed, on top of exactly the old state. */
    ck_assert_int_eq(unlink(filler1), 0);
    ck_assert_int_eq(unlink(filler3), 0);
    struct fired ok = {.w.done = fired_done};
    struct kvlog_op w4[3] = {{"a", 1, "A5", 2}, {"d", 1, "D5", 2}, {"b", 1, NULL, -1}};
    ck_assert_int_eq(kvlog_write(kv, w4, 3, 1000, &ok.w), SL_OK);
    run_until_fired(&f, &ok);
    ck_assert_int_eq(kvlog_flush(kv), SL_OK);
    ck_absent(kv, "b");
    ck_value(kv, "d", "D5", 2);
    char *durable = dump(kv);
    ck_assert_uint_eq(kvlog_records(kv), records_before + 3);

    /* What a crash now would leave behind: the files as they are. */
    char crash[300], cmd[800];
    snprintf(crash, sizeof(crash), "%s", t_tmpdir());
    snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", m.data, crash);
    ck_assert_int_eq(system(cmd), 0);
    kvlog_close(kv);
    fx_close(&f);

    fx_open(&f, NULL);
    ck_assert_int_eq(kvlog_open(&kv, f.st, TOPIC, &opts, 2000), SL_OK);
    char *reopened = dump(kv);
    ck_assert_str_eq(reopened, durable);
    free(reopened);
    ck_assert_uint_eq(kvlog_records(kv), records_before + 3);
    kvlog_close(kv);
    fx_close(&f);

    struct fx c;
    snprintf(c.dir, sizeof(c.dir), "%.250s", crash);
    fx_open(&c, NULL);
    ck_assert(!store_get_stats(c.st)->clean);
    ck_assert_int_eq(kvlog_open(&kv, c.st, TOPIC, &opts, 2000), SL_OK);
    reopened = dump(kv);
    ck_assert_str_eq(reopened, durable);
    free(reopened);
    kvlog_close(kv);
    fx_end(&c);
    free(durable);
    free(before);
    mnt_drop(&m);
}
END_TEST

static Suite *kvlog_suite(void) {
    Suite *s = suite_create("storage_kvlog");
    TCase *tc = tcase_create("kvlog");
    tcase_add_test(tc, put_overwrite_tombstone_and_clean_replay);
    tcase_add_test(tc, wait_fires_at_once_when_durable);
    tcase_add_test(tc, replay_after_crash);
    tcase_add_test(tc, compaction_keeps_exactly_the_live_set);
    tcase_add_test(tc, compaction_of_an_empty_live_set_drops_everything);
    tcase_add_test(tc, tlv_round_trip_skips_unknown_tags);
    tcase_add_test(tc, sink_writes_through_and_fails_in_order);
    suite_add_tcase(s, tc);
    /* Mounting a tmpfs needs root (or CAP_SYS_ADMIN): without it the full-disk case is left out. */
    struct mnt probe;
    if (mnt_make(&probe, "size=1m")) {
        mnt_drop(&probe);
        TCase *full = tcase_create("full disk");
        tcase_set_timeout(full, 120);
        tcase_add_test(full, failed_writes_leave_no_trace);
        suite_add_tcase(s, full);
    } else {
        fprintf(stderr, "cannot mount a tmpfs (%s): the full-disk case is skipped\n", strerror(errno));
    }
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(kvlog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
