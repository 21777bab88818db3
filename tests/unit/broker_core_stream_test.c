/* broker_core_stream_test.c: streams on the commit log on a real loop, store and topic registry
 * with a stepped clock: sequences (offset + 1), the record mapping read back, the msg-id window,
 * the publish checks, limits and discard, the deleted set with the floor moving the log start
 * (whole segments deleted), Kafka-made appends indexed through the observer, and restarts (clean
 * and kill -9) restoring counters, the deleted set and the msg-id window exactly. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "broker/core/partition.h"
#include "broker/core/stream.h"
#include "storage/kvlog.h"
#include "broker/core/topics.h"
#include "protocol/kafka_records.h"
#include "storage/kvlog.h"
#include "storage_fixture.h"

#define T0_MS 1700000000000ull

struct clk {
    uint64_t wall, mono;
};
static uint64_t clk_wall(void *a) { return ((struct clk *)a)->wall; }
static uint64_t clk_mono(void *a) { return ((struct clk *)a)->mono; }

struct sx {
    struct fx f;
    struct clk clk;
    struct topics *t;
    struct streams *ss;
    struct log_config cfg;
};

static void sx_open(struct sx *x) {
    fx_open(&x->f, &x->cfg);
    struct loop_clock c = {clk_wall, clk_mono, &x->clk};
    loop_set_clock(&x->f.loop, &c);
    ck_assert_int_eq(topics_open(&x->t, x->f.st, x->f.dir, &x->cfg), SL_OK);
    ck_assert_int_eq(streams_open(&x->ss, x->f.st, x->t), SL_OK);
}

static void sx_start(struct sx *x) {
    memset(x, 0, sizeof(*x));
    snprintf(x->f.dir, sizeof(x->f.dir), "%s", t_tmpdir());
    log_config_defaults(&x->cfg);
    x->cfg.segment_bytes = 1024; /* a few messages per segment */
    x->cfg.preallocate_bytes = 0;
    x->clk.wall = T0_MS;
    x->clk.mono = 1000;
    sx_open(x);
}

static void sx_close(struct sx *x) {
    streams_close(x->ss);
    topics_close(x->t);
    fx_close(&x->f);
}

/* Steps both clocks and lets the loop see it. */
static void sx_step(struct sx *x, uint64_t ms) {
    x->clk.wall += ms;
    x->clk.mono += ms;
    loop_run_once(&x->f.loop, 0);
}

static struct stream *sx_create(struct sx *x, const char *name, const char *subject, void (*tweak)(struct stream_config *)) {
    struct stream_config c;
    stream_config_defaults(&c);
    snprintf(c.name, sizeof(c.name), "%s", name);
    snprintf(c.subjects[0], sizeof(c.subjects[0]), "%s", subject);
    c.subject_count = 1;
    if (tweak) tweak(&c);
    struct stream *s = NULL;
    bool created = false;
    const char *why = NULL;
    ck_assert_int_eq(streams_create(x->ss, &c, x->clk.wall, &s, &created, &why), STREAM_ADMIN_OK);
    ck_assert(created);
    return s;
}

struct ad {
    struct stream_append_done d;
    int fired;
    sl_err err;
    uint64_t seq;
};
static void ad_fn(struct stream_append_done *d, sl_err err, uint64_t seq) {
    struct ad *a = (struct ad *)d;
    a->fired++;
    a->err = err;
    a->seq = seq;
}
static bool ad_fired(void *arg) { return ((struct ad *)arg)->fired > 0; }

static struct span S(const char *s) { return (struct span){(const uint8_t *)s, (uint32_t)strlen(s)}; }

/* Appends and waits until durable; returns the sequence. */
static uint64_t sx_append_h(struct sx *x, struct stream *s, const char *subject, const char *payload,
                            const struct stream_header *h, uint32_t hn) {
    struct ad a = {.d.fn = ad_fn};
    ck_assert_int_eq(stream_append(s, S(subject), h, hn, S(payload), x->clk.wall, &a.d), SL_OK);
    ck_assert_uint_eq(a.d.seq, (uint64_t)a.d.pd.base_offset + 1);
    ck_assert(loop_run_until(&x->f.loop, ad_fired, &a, 10000));
    ck_assert_int_eq(a.err, SL_OK);
    ck_assert_uint_eq(a.seq, a.d.seq);
    return a.seq;
}
static uint64_t sx_append(struct sx *x, struct stream *s, const char *subject, const char *payload) {
    return sx_append_h(x, s, subject, payload, NULL, 0);
}
static uint64_t sx_append_id(struct sx *x, struct stream *s, const char *subject, const char *payload, const char *id) {
    struct stream_header h = {S("Nats-Msg-Id"), S(id)};
    return sx_append_h(x, s, subject, payload, &h, 1);
}

static void state_eq(struct stream *s, uint64_t msgs, uint64_t first, uint64_t last, uint64_t subjects,
                     uint64_t deleted) {
    struct stream_state st;
    stream_get_state(s, &st);
    ck_assert_uint_eq(st.messages, msgs);
    ck_assert_uint_eq(st.first_seq, first);
    ck_assert_uint_eq(st.last_seq, last);
    ck_assert_uint_eq(st.num_subjects, subjects);
    ck_assert_uint_eq(st.num_deleted, deleted);
}

static enum stream_publish_verdict check_id(struct stream *s, const char *id, uint64_t now, uint64_t *seq) {
    struct stream_publish_checks c = {.msg_id = S(id), .expected_last_seq = -1, .expected_last_subj_seq = -1};
    return stream_check_publish(s, S("a.x"), &c, 0, 1, now, seq, NULL, 0);
}

START_TEST(test_append_seq_and_read_back) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "S", "a.*", NULL);
    ck_assert_ptr_eq(streams_find_subject(x.ss, "a.q", 3), s);
    ck_assert_ptr_null(streams_find_subject(x.ss, "a.q.r", 5));
    state_eq(s, 0, 0, 0, 0, 0);
    ck_assert_uint_eq(sx_append(&x, s, "a.x", "one"), 1);
    struct stream_header h[3] = {{S("X-Rep"), S("one")}, {S("X-Rep"), S("two")}, {S("X-Other"), S("v: c")}};
    sx_step(&x, 5);
    ck_assert_uint_eq(sx_append_h(&x, s, "a.y", "two", h, 3), 2);
    ck_assert_uint_eq(sx_append(&x, s, "a.x", ""), 3);
    state_eq(s, 3, 1, 3, 2, 0);
    struct stream_state st;
    stream_get_state(s, &st);
    const char *hb = "NATS/1.0\r\nX-Rep: one\r\nX-Rep: two\r\nX-Other: v: c\r\n\r\n";
    ck_assert_uint_eq(st.bytes, (22 + 3 + 3 + 8) + (22 + 3 + 4 + strlen(hb) + 3 + 8) + (22 + 3 + 0 + 8));
    ck_assert_int_eq(st.first_ts_ms, (int64_t)T0_MS);
    ck_assert_int_eq(st.last_ts_ms, (int64_t)T0_MS + 5);
    struct stream_msg m;
    ck_assert_int_eq(stream_get(s, 2, &m), SL_OK);
    ck_assert_uint_eq(m.seq, 2);
    ck_assert_uint_eq(m.subject.len, 3);
    ck_assert(!memcmp(m.subject.p, "a.y", 3));
    ck_assert_uint_eq(m.hdr.len, strlen(hb));
    ck_assert(!memcmp(m.hdr.p, hb, m.hdr.len));
    ck_assert_uint_eq(m.payload.len, 3);
    ck_assert(!memcmp(m.payload.p, "two", 3));
    ck_assert_int_eq(m.time_ms, (int64_t)T0_MS + 5);
    ck_assert_int_eq(stream_get(s, 3, &m), SL_OK);
    ck_assert_uint_eq(m.hdr.len, 0);
    ck_assert_uint_eq(m.payload.len, 0);
    ck_assert_int_eq(stream_get(s, 4, &m), SL_NOT_FOUND);
    ck_assert_int_eq(stream_get(s, 0, &m), SL_NOT_FOUND);
    ck_assert_int_eq(stream_get_last_for_subject(s, S("a.x"), &m), SL_OK);
    ck_assert_uint_eq(m.seq, 3);
    /* The record as Kafka sees it: key = subject, value = payload, offset = seq - 1. */
    uint8_t *all;
    size_t n = fx_read_all(partition_log(stream_partition(s)), 0, 1 << 20, &all);
    struct kafka_records_scratch scr;
    kafka_records_scratch_init(&scr, 0);
    struct kafka_records_iter it;
    struct kafka_records_rec r;
    uint32_t blen = sl_load_be32(all + 8) + 12, off = blen;
    ck_assert_int_eq(kafka_records_open(&it, all + off, sl_load_be32(all + off + 8) + 12, &scr), SL_OK);
    ck_assert_int_eq(kafka_records_next(&it, &r), SL_OK);
    ck_assert_int_eq(r.offset, 1);
    ck_assert_int_eq(r.key.len, 3);
    ck_assert(!memcmp(r.key.p, "a.y", 3));
    ck_assert_int_eq(r.header_count, 3);
    ck_assert_int_eq(r.timestamp, (int64_t)T0_MS + 5);
    ck_assert_uint_gt(n, off);
    kafka_records_scratch_free(&scr);
    free(all);
    /* next_seq with filters. */
    ck_assert_uint_eq(stream_next_seq(s, S(""), 1), 1);
    ck_assert_uint_eq(stream_next_seq(s, S("a.y"), 1), 2);
    ck_assert_uint_eq(stream_next_seq(s, S("a.*"), 3), 3);
    ck_assert_uint_eq(stream_next_seq(s, S("a.y"), 3), 0);
    ck_assert_uint_eq(stream_next_seq(s, S(">"), 4), 0);
    ck_assert_uint_eq(stream_last_seq(s), 3);
    ck_assert(stream_exists(s, 2) && !stream_exists(s, 4));
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

START_TEST(test_dedupe_window_stepped_clock) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "D", "a.*", NULL); /* 2-minute window */
    uint64_t seq;
    ck_assert_uint_eq(sx_append_id(&x, s, "a.x", "p1", "id-1"), 1);
    sx_step(&x, 60000);
    ck_assert_uint_eq(sx_append_id(&x, s, "a.x", "p2", "id-2"), 2);
    ck_assert_int_eq(check_id(s, "id-1", x.clk.wall, &seq), STREAM_PUBLISH_DUPLICATE);
    ck_assert_uint_eq(seq, 1);
    ck_assert_int_eq(check_id(s, "id-3", x.clk.wall, &seq), STREAM_PUBLISH_OK);
    /* id-1 leaves the window exactly 120 s after it was stored. */
    ck_assert_int_eq(check_id(s, "id-1", T0_MS + 119999, &seq), STREAM_PUBLISH_DUPLICATE);
    ck_assert_int_eq(check_id(s, "id-1", T0_MS + 120000, &seq), STREAM_PUBLISH_OK);
    ck_assert_int_eq(check_id(s, "id-2", T0_MS + 120000, &seq), STREAM_PUBLISH_DUPLICATE);
    ck_assert_uint_eq(seq, 2);
    ck_assert_int_eq(check_id(s, "id-2", T0_MS + 180000, &seq), STREAM_PUBLISH_OK);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

static void tweak_limits_new(struct stream_config *c) {
    c->discard = STREAM_DISCARD_NEW;
    c->max_msgs = 3;
    c->max_msg_size = 10;
}
static void tweak_bytes_new(struct stream_config *c) {
    c->discard = STREAM_DISCARD_NEW;
    c->max_bytes = 100;
}

START_TEST(test_expected_checks_and_discard_new) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "E", "e.*", tweak_limits_new);
    sx_append_id(&x, s, "e.a", "1", "m1");
    sx_append(&x, s, "e.b", "2");
    uint64_t seq;
    char last_id[64];
    struct stream_publish_checks c = {.expected_last_seq = -1, .expected_last_subj_seq = -1};
    c.expected_stream = S("OTHER");
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_WRONG_STREAM);
    c.expected_stream = S("E");
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64), STREAM_PUBLISH_OK);
    c.expected_last_seq = 5;
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_WRONG_LAST_SEQ);
    ck_assert_uint_eq(seq, 2);
    c.expected_last_seq = 2;
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64), STREAM_PUBLISH_OK);
    c.expected_last_subj_seq = 2;
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_WRONG_LAST_SUBJ_SEQ);
    ck_assert_uint_eq(seq, 1);
    c.expected_last_subj_seq = 0;
    ck_assert_int_eq(stream_check_publish(s, S("e.new"), &c, 0, 1, x.clk.wall, &seq, last_id, 64), STREAM_PUBLISH_OK);
    c.expected_last_subj_seq = -1;
    c.expected_last_msg_id = S("m1");
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_WRONG_LAST_MSG_ID); /* the last message (seq 2) had no id */
    ck_assert_str_eq(last_id, "");
    c.expected_last_msg_id = (struct span){0};
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 11, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_TOO_LARGE);
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 4, 6, x.clk.wall, &seq, last_id, 64), STREAM_PUBLISH_OK);
    sx_append(&x, s, "e.a", "3");
    c.expected_last_seq = -1;
    ck_assert_int_eq(stream_check_publish(s, S("e.a"), &c, 0, 1, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_MAX_MSGS);
    state_eq(s, 3, 1, 3, 2, 0);
    /* Bytes: 2 x (22 + 3 + 40 + 8) = 146 > 100 refuses the second. */
    struct stream *b = sx_create(&x, "B", "b.*", tweak_bytes_new);
    c.expected_stream = (struct span){0};
    char p40[41];
    memset(p40, 'x', 40);
    p40[40] = 0;
    ck_assert_int_eq(stream_check_publish(b, S("b.a"), &c, 0, 40, x.clk.wall, &seq, last_id, 64), STREAM_PUBLISH_OK);
    sx_append(&x, b, "b.a", p40);
    ck_assert_int_eq(stream_check_publish(b, S("b.a"), &c, 0, 40, x.clk.wall, &seq, last_id, 64),
                     STREAM_PUBLISH_MAX_BYTES);
    /* Overlap, name in use, idempotent create. */
    struct stream_config cc;
    stream_config_defaults(&cc);
    snprintf(cc.name, sizeof(cc.name), "O");
    snprintf(cc.subjects[0], sizeof(cc.subjects[0]), "e.>");
    cc.subject_count = 1;
    struct stream *o;
    bool created;
    const char *why;
    ck_assert_int_eq(streams_create(x.ss, &cc, x.clk.wall, &o, &created, &why), STREAM_ADMIN_SUBJECT_OVERLAP);
    cc = *stream_config(b);
    ck_assert_int_eq(streams_create(x.ss, &cc, x.clk.wall, &o, &created, &why), STREAM_ADMIN_OK);
    ck_assert(!created && o == b);
    cc.max_bytes = 200;
    ck_assert_int_eq(streams_create(x.ss, &cc, x.clk.wall, &o, &created, &why), STREAM_ADMIN_NAME_IN_USE);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

static void tweak_limits_old(struct stream_config *c) {
    c->max_msgs = 5;
    c->max_msgs_per_subject = 2;
    c->max_age_ns = 10000000000ll; /* 10 s */
}

START_TEST(test_limits_discard_old_and_age) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "L", "l.*", tweak_limits_old);
    const char *subs[] = {"l.a", "l.a", "l.b", "l.a", "l.b", "l.b", "l.c"};
    for (int i = 0; i < 7; i++) sx_append(&x, s, subs[i], "x");
    /* per subject 2: seqs 1 (l.a) and 3 (l.b) go; then 5 messages fit. */
    state_eq(s, 5, 2, 7, 3, 1);
    ck_assert(!stream_exists(s, 3) && stream_exists(s, 4));
    sx_append(&x, s, "l.d", "x"); /* 6 messages > 5: seq 2 goes, then 3 is already gone */
    state_eq(s, 5, 4, 8, 4, 0);
    sx_step(&x, 5000);
    sx_append(&x, s, "l.e", "x"); /* 9 at +5 s: seq 4 goes (max_msgs) */
    state_eq(s, 5, 5, 9, 4, 0); /* l.b x2, l.c, l.d, l.e */
    sx_step(&x, 5000); /* +10 s: everything stored at +0 is too old (the age timer runs) */
    streams_enforce_age(x.ss, x.clk.wall);
    state_eq(s, 1, 9, 9, 1, 0);
    sx_step(&x, 5000);
    streams_enforce_age(x.ss, x.clk.wall);
    state_eq(s, 0, 10, 9, 0, 0);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

START_TEST(test_deleted_set_floor_and_segments) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "W", "w.*", NULL);
    char payload[200];
    memset(payload, 'p', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = 0;
    for (int i = 0; i < 40; i++) sx_append(&x, s, "w.a", payload);
    struct log *g = partition_log(stream_partition(s));
    uint32_t segs = log_segment_count(g);
    ck_assert_uint_gt(segs, 5);
    /* Out of order: the floor waits for seq 1. */
    ck_assert_int_eq(stream_remove(s, 3), SL_OK);
    ck_assert_int_eq(stream_remove(s, 3), SL_NOT_FOUND);
    ck_assert_int_eq(stream_remove(s, 2), SL_OK);
    state_eq(s, 38, 1, 40, 1, 2);
    ck_assert_int_eq(log_start_offset(g), 0);
    ck_assert_int_eq(stream_remove(s, 1), SL_OK);
    state_eq(s, 37, 4, 40, 1, 0);
    ck_assert_int_eq(log_start_offset(g), 3);
    for (uint64_t q = 4; q <= 29; q++) ck_assert_int_eq(stream_remove(s, q), SL_OK);
    /* Segments are sealed in the background: whole sealed segments below the floor go as the
     * floor moves. */
    ck_assert_int_eq(log_flush(g, true, 10000), SL_OK);
    for (int i = 0; i < 5; i++) loop_run_once(&x.f.loop, 0);
    ck_assert_int_eq(stream_remove(s, 30), SL_OK);
    state_eq(s, 10, 31, 40, 1, 0);
    ck_assert_int_eq(log_start_offset(g), 30);
    ck_assert_uint_le(log_segment_count(g), segs - 9); /* 30 offsets, 3 per segment */
    ck_assert_int_eq(stream_delete_msg(s, 35), SL_OK);
    struct stream_msg m;
    ck_assert_int_eq(stream_get(s, 35, &m), SL_NOT_FOUND);
    ck_assert_int_eq(stream_get(s, 30, &m), SL_NOT_FOUND);
    ck_assert_int_eq(stream_get(s, 31, &m), SL_OK);
    ck_assert_uint_eq(stream_next_seq(s, S(""), 35), 36);
    uint64_t purged;
    ck_assert_int_eq(stream_purge(s, S(""), &purged), SL_OK);
    ck_assert_uint_eq(purged, 9);
    state_eq(s, 0, 41, 40, 0, 0);
    ck_assert_uint_eq(sx_append(&x, s, "w.a", "after"), 41);
    state_eq(s, 1, 41, 41, 1, 0);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

/* The same changes, then the state every restart must give back. */
static void restart_changes(struct sx *x) {
    struct stream *s = sx_create(x, "R", "r.*", NULL);
    for (int i = 1; i <= 12; i++) {
        char id[16];
        snprintf(id, sizeof(id), "id-%d", i);
        sx_append_id(x, s, i % 2 ? "r.odd" : "r.even", "payload", id);
        sx_step(x, 10000);
    }
    ck_assert_int_eq(stream_remove(s, 1), SL_OK);
    ck_assert_int_eq(stream_remove(s, 2), SL_OK);
    ck_assert_int_eq(stream_remove(s, 5), SL_OK);
    ck_assert_int_eq(stream_remove(s, 9), SL_OK);
    sx_step(x, 1); /* the deleted set's record is written */
}

static void restart_check(struct sx *x) {
    struct stream *s = streams_get(x->ss, "R", 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(stream_config(s)->subjects[0], "r.*");
    state_eq(s, 8, 3, 12, 2, 2);
    ck_assert(!stream_exists(s, 5) && !stream_exists(s, 9) && stream_exists(s, 6));
    struct stream_state st;
    stream_get_state(s, &st);
    uint64_t want_bytes = 0;
    const int live[] = {3, 4, 6, 7, 8, 10, 11, 12};
    for (size_t i = 0; i < SL_ARRAY_LEN(live); i++) {
        char id[16];
        int idl = snprintf(id, sizeof(id), "id-%d", live[i]);
        uint64_t subj = live[i] % 2 ? 5 : 6, hdr = 27 + (uint64_t)idl;
        want_bytes += 22 + subj + 4 + hdr + 7 + 8;
    }
    ck_assert_uint_eq(st.bytes, want_bytes);
    /* Msg ids: stored at T0 + 10 s * (i-1); the window is 2 minutes from each. Now is T0 + 120 s
     * (+1 ms): id-1 and id-2 are out, id-3.. are in (removed messages keep their ids). */
    uint64_t seq;
    ck_assert_int_eq(check_id(s, "id-2", T0_MS + 120001, &seq), STREAM_PUBLISH_OK);
    ck_assert_int_eq(check_id(s, "id-5", T0_MS + 120001, &seq), STREAM_PUBLISH_DUPLICATE);
    ck_assert_uint_eq(seq, 5);
    ck_assert_int_eq(check_id(s, "id-12", T0_MS + 120001, &seq), STREAM_PUBLISH_DUPLICATE);
    ck_assert_uint_eq(seq, 12);
    ck_assert_uint_eq(sx_append(x, s, "r.odd", "next"), 13);
}

START_TEST(test_restart_clean) {
    struct sx x;
    sx_start(&x);
    restart_changes(&x);
    sx_close(&x);
    sx_open(&x);
    restart_check(&x);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

START_TEST(test_restart_after_kill) {
    struct sx x;
    sx_start(&x);
    sx_close(&x);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sx_open(&x);
        restart_changes(&x);
        if (kvlog_flush(topics_metadata(x.t)) != SL_OK) _exit(5);
        kill(getpid(), SIGKILL);
        _exit(7);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    x.clk.wall = T0_MS + 120000;
    sx_open(&x);
    ck_assert(!store_get_stats(x.f.st)->clean);
    restart_check(&x);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

START_TEST(test_kafka_appends_are_indexed) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "K", "k.*", NULL);
    uint8_t buf[4096];
    struct kafka_header_in h = {"H", 1, "v", 1};
    struct kafka_record_in recs[3] = {
        {"k.one", 5, "v1", 2, (int64_t)T0_MS, &h, 1},
        {"other", 5, "v2", 2, (int64_t)T0_MS, NULL, 0},
        {NULL, -1, "v3", 2, (int64_t)T0_MS, NULL, 0},
    };
    size_t n = kafka_batch_encode(buf, sizeof(buf), recs, 3, -1, -1, -1);
    struct partition_append_done d = {0};
    ck_assert_int_eq(partition_append(stream_partition(s), buf, (uint32_t)n, PARTITION_ACKS_NONE, x.clk.wall, &d),
                     SL_OK);
    state_eq(s, 3, 1, 3, 2, 0);
    ck_assert_int_eq(log_flush(partition_log(stream_partition(s)), false, 10000), SL_OK);
    struct stream_msg m;
    ck_assert_int_eq(stream_get(s, 1, &m), SL_OK);
    ck_assert(m.subject.len == 5 && !memcmp(m.subject.p, "k.one", 5));
    ck_assert(m.hdr.len == 18 && !memcmp(m.hdr.p, "NATS/1.0\r\nH: v\r\n\r\n", 18));
    ck_assert_int_eq(stream_get(s, 2, &m), SL_OK);
    ck_assert(m.subject.len == 1 && !memcmp(m.subject.p, "K", 1)); /* no literal subject: the name */
    ck_assert_uint_eq(sx_append(&x, s, "k.two", "nats"), 4);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

START_TEST(test_subject_rules) {
    ck_assert(stream_subject_matches("a.*", 3, "a.b", 3));
    ck_assert(!stream_subject_matches("a.*", 3, "a.b.c", 5));
    ck_assert(stream_subject_matches("a.>", 3, "a.b.c", 5));
    ck_assert(!stream_subject_matches("a.>", 3, "a", 1));
    ck_assert(stream_subject_matches("a.b", 3, "a.b", 3));
    ck_assert(!stream_subject_matches("a.b", 3, "a.bb", 4));
    ck_assert(stream_subjects_overlap("a.*", "a.x"));
    ck_assert(stream_subjects_overlap("a.>", "a.x.y"));
    ck_assert(stream_subjects_overlap("*.x", "a.*"));
    ck_assert(!stream_subjects_overlap("a.*", "a.x.y"));
    ck_assert(!stream_subjects_overlap("a.x", "b.x"));
    ck_assert(stream_subjects_overlap(">", "q"));
}
END_TEST

/* streams_create_start: what each waiter heard. */
struct heard {
    int calls;
    enum stream_admin_result r;
    struct stream *s;
    char why[128];
};

static void heard_fn(void *arg, enum stream_admin_result r, struct stream *s, const char *why) {
    struct heard *h = arg;
    h->calls++;
    h->r = r;
    h->s = s;
    snprintf(h->why, sizeof(h->why), "%s", why ? why : "");
}

static struct stream_config cfg_of(const char *name, const char *subject) {
    struct stream_config c;
    stream_config_defaults(&c);
    snprintf(c.name, sizeof(c.name), "%s", name);
    snprintf(c.subjects[0], sizeof(c.subjects[0]), "%s", subject);
    c.subject_count = 1;
    return c;
}

/* A create off the loop: pending until its topic is made and both records are durable; an
 * equal create joins it, a different config or an overlapping subject is refused meanwhile;
 * both waiters hear of the same stream, once; a create of an existing equal stream answers at
 * once; the stream is there after a restart. A creation cut short by the registry closing
 * tells its waiter so, and leaves no stream. */
START_TEST(test_create_start_off_the_loop) {
    struct sx x;
    sx_start(&x);
    struct stream_config a = cfg_of("ASYNC", "async.*");
    struct heard h1 = {0}, h2 = {0}, h3 = {0};
    struct stream *out = NULL;
    const char *why = NULL;
    ck_assert_int_eq(streams_create_start(x.ss, &a, x.clk.wall, heard_fn, &h1, &out, &why), STREAM_ADMIN_PENDING);
    ck_assert_ptr_null(out);
    ck_assert_ptr_null(streams_get(x.ss, "ASYNC", 5));
    ck_assert_int_eq(streams_create_start(x.ss, &a, x.clk.wall, heard_fn, &h2, &out, &why), STREAM_ADMIN_PENDING);
    struct stream_config other = a;
    other.max_msgs = 5;
    ck_assert_int_eq(streams_create_start(x.ss, &other, x.clk.wall, heard_fn, &h3, &out, &why),
                     STREAM_ADMIN_NAME_IN_USE);
    struct stream_config overlap = cfg_of("OVER", "async.x");
    ck_assert_int_eq(streams_create_start(x.ss, &overlap, x.clk.wall, heard_fn, &h3, &out, &why),
                     STREAM_ADMIN_SUBJECT_OVERLAP);
    for (int i = 0; i < 2000 && (!h1.calls || !h2.calls); i++) loop_run_once(&x.f.loop, 1);
    ck_assert_int_eq(h1.calls, 1);
    ck_assert_int_eq(h2.calls, 1);
    ck_assert_int_eq(h3.calls, 0);
    ck_assert_int_eq(h1.r, STREAM_ADMIN_OK);
    ck_assert_int_eq(h2.r, STREAM_ADMIN_OK);
    ck_assert_ptr_nonnull(h1.s);
    ck_assert_ptr_eq(h1.s, h2.s);
    ck_assert_ptr_eq(streams_get(x.ss, "ASYNC", 5), h1.s);
    ck_assert_int_eq(stream_created_ns(h1.s), (int64_t)T0_MS * 1000000);
    ck_assert_int_eq(streams_create_start(x.ss, &a, x.clk.wall, heard_fn, &h3, &out, &why), STREAM_ADMIN_OK);
    ck_assert_ptr_eq(out, h1.s);
    ck_assert_int_eq(h3.calls, 0);
    /* A second one, cut short: the registry closes before its topic is made. */
    struct stream_config b = cfg_of("CUT", "cut.*");
    ck_assert_int_eq(streams_create_start(x.ss, &b, x.clk.wall, heard_fn, &h3, &out, &why), STREAM_ADMIN_PENDING);
    streams_close(x.ss);
    x.ss = NULL;
    ck_assert_int_eq(h3.calls, 1);
    ck_assert_int_eq(h3.r, STREAM_ADMIN_STORAGE);
    ck_assert_str_eq(h3.why, "the server is shutting down");
    topics_close(x.t);
    fx_close(&x.f);
    sx_open(&x);
    struct stream *s = streams_get(x.ss, "ASYNC", 5);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(stream_config(s)->subjects[0], "async.*");
    ck_assert_ptr_null(streams_get(x.ss, "CUT", 3));
    ck_assert_ptr_null(topics_get(x.t, "CUT", 3));
    sx_close(&x);
}
END_TEST

static void dlq_subject(struct stream_config *c) { snprintf(c->dlq, sizeof(c->dlq), "dead.by.subject"); }

/* Which stream a stream's dead letters go to: topic config, then the stream's dlq subject, then
 * the default template; never itself. */
START_TEST(test_dead_letter_stream) {
    struct sx x;
    sx_start(&x);
    struct stream *a = sx_create(&x, "A", "a.*", NULL);
    struct stream *b = sx_create(&x, "B", "b.*", dlq_subject);
    struct stream *a_dlq = sx_create(&x, "A_DLQ", "dlq.a", NULL);
    struct stream *by_subj = sx_create(&x, "BYSUBJ", "dead.>", NULL);
    struct stream *other = sx_create(&x, "OTHER", "other.x", NULL);
    const char *subj = NULL;
    ck_assert_ptr_eq(streams_dlq_of(x.ss, a, &subj), a_dlq);
    ck_assert_str_eq(subj, "dlq.a");
    ck_assert_ptr_eq(streams_dlq_of(x.ss, b, &subj), by_subj);
    ck_assert_str_eq(subj, "dead.by.subject");
    ck_assert_ptr_null(streams_dlq_of(x.ss, other, NULL)); /* no OTHER_DLQ */
    streams_set_dlq_default(x.ss, "");
    ck_assert_ptr_null(streams_dlq_of(x.ss, a, NULL));
    streams_set_dlq_default(x.ss, "{stream}");
    ck_assert_ptr_null(streams_dlq_of(x.ss, a, NULL)); /* itself */
    streams_set_dlq_default(x.ss, "OTH{stream}");
    struct stream *oth = sx_create(&x, "OTHA", "otha", NULL);
    ck_assert_ptr_eq(streams_dlq_of(x.ss, a, &subj), oth);
    ck_assert_str_eq(subj, "otha");
    /* The topic config wins, for b too; "" turns dead letters off. */
    const char *why = NULL;
    ck_assert_int_eq(topics_set_config(x.t, stream_topic(a), "sluice.dlq.stream", "OTHER", &why), SL_OK);
    ck_assert_int_eq(topics_set_config(x.t, stream_topic(b), "sluice.dlq.stream", "OTHER", &why), SL_OK);
    ck_assert_ptr_eq(streams_dlq_of(x.ss, a, &subj), other);
    ck_assert_str_eq(subj, "other.x");
    ck_assert_ptr_eq(streams_dlq_of(x.ss, b, NULL), other);
    ck_assert_int_eq(topics_set_config(x.t, stream_topic(a), "sluice.dlq.stream", "", &why), SL_OK);
    ck_assert_ptr_null(streams_dlq_of(x.ss, a, NULL));
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

static void wq_retention(struct stream_config *c) { c->retention = TOPIC_RETENTION_WORKQUEUE; }

static bool log_drained(void *arg) { return log_segment_count(arg) == 1 && log_size_bytes(arg) == 0; }

/* The number of .log files of the stream's partition directory. */
static int seg_files(struct sx *x, const char *name) {
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/%s-0", x->f.dir, name);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".log")) n++;
    }
    closedir(d);
    return n;
}

/* A drained work queue (every message removed): the log's segments go, the active one too, and
 * the sequence continues exactly, after a clean restart and after kill -9. */
START_TEST(test_drained_work_queue_restarts) {
    struct sx x;
    sx_start(&x);
    struct stream *s = sx_create(&x, "WQ", "wq.*", wq_retention);
    for (int i = 1; i <= 60; i++) ck_assert_uint_eq(sx_append(&x, s, "wq.a", "an order of some length"), (uint64_t)i);
    ck_assert_int_gt(seg_files(&x, "WQ"), 1);
    for (uint64_t q = 60; q >= 1; q--) ck_assert_int_eq(stream_remove(s, q), SL_OK); /* out of order */
    state_eq(s, 0, 61, 60, 0, 0);
    struct log *g = partition_log(stream_partition(s));
    ck_assert_int_eq(log_start_offset(g), 60);
    /* Once the older segments' seal syncs answered and, the active segment being small, the
     * log has been quiet for LOG_DRAIN_QUIET_MS. */
    sx_step(&x, 2000);
    ck_assert(loop_run_until(&x.f.loop, log_drained, g, 10000));
    ck_assert_uint_eq(log_segment_count(g), 1);
    ck_assert_uint_eq(log_size_bytes(g), 0);
    ck_assert_int_eq(seg_files(&x, "WQ"), 1);
    sx_close(&x);
    sx_open(&x);
    s = streams_get(x.ss, "WQ", 2);
    ck_assert_ptr_nonnull(s);
    state_eq(s, 0, 61, 60, 0, 0);
    ck_assert_uint_eq(sx_append(&x, s, "wq.b", "after a clean restart"), 61);
    ck_assert_int_eq(stream_remove(s, 61), SL_OK);
    ck_assert_int_eq(kvlog_flush(topics_metadata(x.t)), SL_OK);
    sx_close(&x);

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sx_open(&x);
        struct stream *c = streams_get(x.ss, "WQ", 2);
        if (!c || sx_append(&x, c, "wq.c", "before the kill") != 62 || stream_remove(c, 62) != SL_OK) _exit(3);
        if (sx_append(&x, c, "wq.c", "left after the kill") != 63) _exit(4);
        if (kvlog_flush(topics_metadata(x.t)) != SL_OK) _exit(5);
        kill(getpid(), SIGKILL);
        _exit(7);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    sx_open(&x);
    s = streams_get(x.ss, "WQ", 2);
    state_eq(s, 1, 63, 63, 1, 0);
    struct stream_msg m;
    ck_assert_int_eq(stream_get(s, 63, &m), SL_OK);
    ck_assert(m.payload.len == 19 && !memcmp(m.payload.p, "left after the kill", 19));
    ck_assert_int_eq(stream_remove(s, 63), SL_OK);
    ck_assert(loop_run_until(&x.f.loop, log_drained, partition_log(stream_partition(s)), 10000));
    ck_assert_int_eq(seg_files(&x, "WQ"), 1);
    ck_assert_uint_eq(sx_append(&x, s, "wq.d", "next"), 64);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

/* A KV bucket's history limit (max_msgs_per_subject 1) with a subject that is never updated:
 * the floor stays at 1, so every update leaves a deleted sequence behind. The deleted set keeps
 * them as runs: its record stays a few dozen bytes, out-of-order removals join runs, and a
 * restart gives the same state back. */
static void kv_history_1(struct stream_config *c) { c->max_msgs_per_subject = 1; }

static uint32_t deleted_record_len(struct sx *x, const char *name) {
    char key[300];
    int kl = snprintf(key, sizeof(key), "stream/%s/deleted", name);
    uint32_t vlen = 0;
    ck_assert_ptr_nonnull(kvlog_get(topics_metadata(x->t), key, (uint32_t)kl, &vlen));
    return vlen;
}

START_TEST(test_kv_deleted_runs) {
    struct sx x;
    sx_start(&x);
    x.cfg.segment_bytes = 1 << 20;
    struct stream *s = sx_create(&x, "KV", "kv.*", kv_history_1);
    ck_assert_uint_eq(sx_append(&x, s, "kv.pin", "never updated"), 1);
    const char *keys[] = {"kv.a", "kv.b", "kv.c"};
    for (int i = 0; i < 3000; i++) sx_append(&x, s, keys[i % 3], "v");
    /* Live: 1 and the last three (2999..3001); deleted: 2..2998, one run. */
    state_eq(s, 4, 1, 3001, 4, 2997);
    sx_step(&x, 20);
    uint32_t len = deleted_record_len(&x, "KV");
    ck_assert_uint_lt(len, 100);
    /* Removed out of order around a live message: runs split and join again. */
    ck_assert_int_eq(stream_delete_msg(s, 3000), SL_OK); /* kv.b's last: 2..3000 */
    ck_assert_int_eq(stream_delete_msg(s, 3001), SL_OK);
    state_eq(s, 2, 1, 3001, 2, 2999);
    ck_assert_uint_eq(sx_append(&x, s, "kv.z", "new"), 3002);
    ck_assert_int_eq(stream_delete_msg(s, 2999), SL_OK); /* joins 2..2998 and 3000..3001 */
    sx_step(&x, 20);
    ck_assert_uint_le(deleted_record_len(&x, "KV"), len);
    state_eq(s, 2, 1, 3002, 2, 3000);
    sx_close(&x);
    sx_open(&x);
    s = streams_get(x.ss, "KV", 2);
    ck_assert_ptr_nonnull(s);
    state_eq(s, 2, 1, 3002, 2, 3000);
    struct stream_msg m;
    ck_assert_int_eq(stream_get(s, 2999, &m), SL_NOT_FOUND);
    ck_assert_int_eq(stream_get(s, 3002, &m), SL_OK);
    ck_assert_int_eq(stream_get(s, 1, &m), SL_OK);
    sx_close(&x);
    t_rmdir(x.f.dir);
}
END_TEST

/* A replica takes its leader's removals (stream_apply_deleted, broker/cluster_streams.c): two
 * streams with the same messages; what B removed, as B saved it, applied to A gives A B's state,
 * A's log start follows the floor, the same record again changes nothing, and A restarted keeps
 * it. */
START_TEST(test_apply_leader_deleted_set) {
    struct sx x;
    sx_start(&x);
    struct stream *a = sx_create(&x, "RA", "ra.>", NULL);
    struct stream *b = sx_create(&x, "RB", "rb.>", NULL);
    for (int i = 0; i < 12; i++) {
        char p[16];
        snprintf(p, sizeof(p), "m%02d", i);
        sx_append(&x, a, "ra.x", p);
        sx_append(&x, b, "rb.x", p);
    }
    for (uint64_t q = 1; q <= 5; q++) ck_assert_int_eq(stream_remove(b, q), SL_OK);
    ck_assert_int_eq(stream_remove(b, 8), SL_OK);
    ck_assert_int_eq(stream_remove(b, 9), SL_OK);
    streams_persist_now(x.ss);
    state_eq(b, 5, 6, 12, 1, 2);
    char key[400];
    size_t kl = stream_deleted_key(b, key, sizeof(key));
    uint32_t vl = 0;
    const uint8_t *v = kvlog_get(topics_metadata(x.t), key, (uint32_t)kl, &vl);
    ck_assert_ptr_nonnull(v);
    uint8_t rec[256];
    ck_assert_uint_le(vl, sizeof(rec));
    memcpy(rec, v, vl);
    ck_assert_int_eq(stream_apply_deleted(a, rec, vl), SL_OK);
    state_eq(a, 5, 6, 12, 1, 2);
    ck_assert_int_ge(partition_start_offset(stream_partition(a)), 0);
    ck_assert_int_le(partition_start_offset(stream_partition(a)), 5);
    ck_assert_int_eq(stream_apply_deleted(a, rec, vl), SL_OK); /* the same record: nothing moves */
    state_eq(a, 5, 6, 12, 1, 2);
    sx_append(&x, a, "ra.x", "m12"); /* the index goes on from the rebuilt one */
    state_eq(a, 6, 6, 13, 1, 2);
    sx_close(&x);
    sx_open(&x);
    a = streams_get(x.ss, "RA", 2);
    ck_assert_ptr_nonnull(a);
    state_eq(a, 6, 6, 13, 1, 2);
    sx_close(&x);
}
END_TEST

static Suite *stream_suite(void) {
    Suite *s = suite_create("broker/core/stream");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_subject_rules);
    tcase_add_test(tc, test_create_start_off_the_loop);
    tcase_add_test(tc, test_append_seq_and_read_back);
    tcase_add_test(tc, test_dedupe_window_stepped_clock);
    tcase_add_test(tc, test_expected_checks_and_discard_new);
    tcase_add_test(tc, test_limits_discard_old_and_age);
    tcase_add_test(tc, test_deleted_set_floor_and_segments);
    tcase_add_test(tc, test_kv_deleted_runs);
    tcase_add_test(tc, test_kafka_appends_are_indexed);
    tcase_add_test(tc, test_restart_clean);
    tcase_add_test(tc, test_restart_after_kill);
    tcase_add_test(tc, test_dead_letter_stream);
    tcase_add_test(tc, test_drained_work_queue_restarts);
    tcase_add_test(tc, test_apply_leader_deleted_set);
    suite_add_tcase(s, tc);
    return s;
}


int main(void) {
    SRunner *sr = srunner_create(stream_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
