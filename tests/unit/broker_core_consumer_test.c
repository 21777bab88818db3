/* broker_core_consumer_test.c: broker/core/consumer.c, the JetStream consumer state machine,
 * and broker/core/subject.c, driven with a stepped clock and an in-memory stream view. Every
 * action the consumer takes is recorded as one line of text ("D t1 s1 c1 n1 p4" = delivery to
 * target 1 of stream_seq 1, consumer_seq 1, first delivery, 4 pending), so each case asserts
 * the exact sequence of deliveries, statuses with their pending headers, advisories, removals
 * and dead letters, as nats-server 2.9.10 sends them (docs/nats-subset.md sections 12-19). */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/consumer.h"
#include "broker/core/subject.h"

/* ---- the fake stream ---- */

#define FS_MAX 200010

struct fake_msg {
    const char *subject;
    uint32_t bytes;
    int64_t ts_ns;
    bool gone;
};

static struct fake_stream {
    struct fake_msg m[FS_MAX];
    uint64_t last; /* sequences 1..last were appended */
} fs;

static void fs_reset(void) { memset(&fs, 0, sizeof fs); }

static uint64_t fs_add(const char *subject, uint32_t bytes) {
    uint64_t s = ++fs.last;
    ck_assert_uint_lt(s, FS_MAX);
    fs.m[s] = (struct fake_msg){subject, bytes, 1000000000LL * (int64_t)s, false};
    return s;
}

static bool fs_live(uint64_t s) { return s >= 1 && s <= fs.last && !fs.m[s].gone; }

static uint64_t v_next_seq(void *arg, const char *filter, uint64_t from) {
    (void)arg;
    for (uint64_t s = from ? from : 1; s <= fs.last; s++)
        if (fs_live(s) && (!filter || subject_matches(filter, fs.m[s].subject))) return s;
    return 0;
}
static bool v_exists(void *arg, uint64_t s) { (void)arg; return fs_live(s); }
static uint64_t v_first_seq(void *arg) {
    (void)arg;
    if (fs.last == 0) return 0;
    for (uint64_t s = 1; s <= fs.last; s++)
        if (fs_live(s)) return s;
    return fs.last + 1;
}
static uint64_t v_last_seq(void *arg) { (void)arg; return fs.last; }
static bool v_msg_meta(void *arg, uint64_t s, struct consumer_msg_meta *out) {
    (void)arg;
    if (!fs_live(s)) return false;
    out->subject = fs.m[s].subject;
    out->bytes = fs.m[s].bytes;
    out->ts_ns = fs.m[s].ts_ns;
    return true;
}
static uint64_t v_seq_for_time(void *arg, int64_t ts) {
    (void)arg;
    for (uint64_t s = 1; s <= fs.last; s++)
        if (fs_live(s) && fs.m[s].ts_ns >= ts) return s;
    return fs.last + 1;
}
static uint64_t v_last_for_subject(void *arg, const char *subject) {
    (void)arg;
    for (uint64_t s = fs.last; s >= 1; s--)
        if (fs_live(s) && strcmp(fs.m[s].subject, subject) == 0) return s;
    return 0;
}
static uint64_t v_count(void *arg, const char *filter, uint64_t from) {
    uint64_t n = 0;
    for (uint64_t s = v_next_seq(arg, filter, from); s; s = v_next_seq(arg, filter, s + 1)) n++;
    return n;
}

static const struct consumer_view view = {v_next_seq, v_exists, v_first_seq, v_last_seq, v_msg_meta,
                                          v_seq_for_time, v_last_for_subject, v_count, NULL};

/* ---- recorded actions ---- */

static char events[1 << 16];
static int removes_seen;

static void ev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ev(const char *fmt, ...) {
    size_t n = strlen(events);
    if (n) events[n++] = '|';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(events + n, sizeof events - n, fmt, ap);
    va_end(ap);
}

/* Targets are small integers cast to pointers; push deliveries have target 0. */
#define T(n) ((void *)(uintptr_t)(n))

static bool quiet_deliveries; /* the big tests count instead of recording */
static uint64_t delivered_count, last_delivered_seq;

static void on_deliver(void *arg, const struct consumer_delivery *d) {
    (void)arg;
    delivered_count++;
    last_delivered_seq = d->stream_seq;
    if (quiet_deliveries) return;
    ev("D t%lu s%lu c%lu n%lu p%lu", (unsigned long)(uintptr_t)d->target, (unsigned long)d->stream_seq,
       (unsigned long)d->consumer_seq, (unsigned long)d->deliveries, (unsigned long)d->pending);
    ck_assert_int_eq(d->ts_ns, fs.m[d->stream_seq].ts_ns);
}
static void on_status(void *arg, const struct consumer_status *s) {
    (void)arg;
    char extra[96] = "";
    if (s->has_pending) snprintf(extra, sizeof extra, " pm%ld pb%ld", (long)s->pending_msgs, (long)s->pending_bytes);
    if (s->has_last)
        snprintf(extra, sizeof extra, " lc%lu ls%lu%s", (unsigned long)s->last_consumer_seq,
                 (unsigned long)s->last_stream_seq, s->stalled_fc_id ? " stalled" : "");
    if (s->fc_id) snprintf(extra, sizeof extra, " fc%lu", (unsigned long)s->fc_id);
    ev("S t%lu %d %s%s", (unsigned long)(uintptr_t)s->target, s->code, s->text, extra);
}
static void on_advisory(void *arg, enum consumer_advisory_kind k, uint64_t sseq, uint64_t cseq, uint64_t dc) {
    (void)arg;
    const char *name = k == CONSUMER_ADVISORY_MAX_DELIVERIES ? "MAXDEL" : k == CONSUMER_ADVISORY_TERMINATED ? "TERM" : "NAK";
    if (k == CONSUMER_ADVISORY_MAX_DELIVERIES) ev("A %s s%lu n%lu", name, (unsigned long)sseq, (unsigned long)dc);
    else ev("A %s s%lu c%lu n%lu", name, (unsigned long)sseq, (unsigned long)cseq, (unsigned long)dc);
}
static void on_remove(void *arg, uint64_t sseq) {
    (void)arg;
    removes_seen++;
    if (!quiet_deliveries) ev("R s%lu", (unsigned long)sseq);
    fs.m[sseq].gone = true;
}
static void on_dead_letter(void *arg, uint64_t sseq, uint64_t dc, const char *reason, const char *text) {
    (void)arg;
    ev("DLQ s%lu n%lu %s%s%s", (unsigned long)sseq, (unsigned long)dc, reason, text ? " " : "", text ? text : "");
}
static void on_release(void *arg, void *target) {
    (void)arg;
    if (!quiet_deliveries) ev("X t%lu", (unsigned long)(uintptr_t)target);
}
static void on_inactive(void *arg) { (void)arg; ev("INACTIVE"); }

/* Targets (< 64) whose requester went away: bit t set. */
static uint64_t gone_targets;
static bool on_interest(void *arg, void *target) {
    (void)arg;
    uintptr_t t = (uintptr_t)target;
    return t >= 64 || !(gone_targets >> t & 1);
}

static const struct consumer_ops ops = {on_deliver, on_status, on_advisory, on_remove, on_dead_letter,
                                        on_release, on_inactive, NULL, on_interest};

/* The events since the last call, then forgets them. */
static char taken[sizeof events];
static const char *take(void) {
    snprintf(taken, sizeof taken, "%s", events);
    events[0] = 0;
    return taken;
}

static void setup(void) {
    fs_reset();
    events[0] = 0;
    removes_seen = 0;
    gone_targets = 0;
    quiet_deliveries = false;
    delivered_count = last_delivered_seq = 0;
}

static struct consumer_config cfg_pull(const char *name, const char *filter) {
    struct consumer_config c = {0};
    c.name = name;
    c.durable = true;
    c.ack_policy = CONSUMER_ACK_EXPLICIT;
    c.filter_subject = filter;
    return c;
}

static const struct consumer_stream_params sp_limits = {CONSUMER_RETENTION_LIMITS, false};
static const struct consumer_stream_params sp_wq = {CONSUMER_RETENTION_WORKQUEUE, false};
static const struct consumer_stream_params sp_wq_dlq = {CONSUMER_RETENTION_WORKQUEUE, true};

static struct consumer *mk(struct consumer_config *cfg, const struct consumer_stream_params *sp, uint64_t now) {
    struct consumer_cfg_error err;
    ck_assert_int_eq(consumer_config_check(cfg, sp, &err), SL_OK);
    struct consumer *c = consumer_new(cfg, sp, &view, &ops, now);
    ck_assert_ptr_nonnull(c);
    return c;
}

static bool pull(struct consumer *c, uintptr_t t, int64_t batch, int64_t expires_ms, bool no_wait, int64_t hb_ms,
                 int64_t max_bytes, uint64_t now) {
    struct consumer_pull_req r = {T(t), batch, max_bytes, expires_ms * 1000000, no_wait, hb_ms * 1000000};
    return consumer_pull(c, &r, now);
}

static void ack(struct consumer *c, enum consumer_ack_kind k, uint64_t s, uint64_t cseq, uint64_t dc, uint64_t now) {
    consumer_ack(c, k, s, cseq, dc, -1, NULL, now);
}

static void info_is(struct consumer *c, uint64_t dc, uint64_t ds, uint64_t ac, uint64_t as, uint64_t ack_pending,
                    uint64_t redelivered, uint64_t waiting, uint64_t pending) {
    struct consumer_info i;
    consumer_info(c, &i);
    uint64_t got[8] = {i.delivered_consumer_seq, i.delivered_stream_seq, i.ack_floor_consumer_seq,
                       i.ack_floor_stream_seq, i.num_ack_pending, i.num_redelivered, i.num_waiting, i.num_pending};
    uint64_t want[8] = {dc, ds, ac, as, ack_pending, redelivered, waiting, pending};
    for (int k = 0; k < 8; k++)
        ck_assert_msg(got[k] == want[k], "info field %d: got %lu want %lu", k, (unsigned long)got[k],
                      (unsigned long)want[k]);
}

/* ---- subjects ---- */

START_TEST(test_subject_match) {
    ck_assert(subject_matches("orders.*", "orders.created"));
    ck_assert(!subject_matches("orders.*", "orders.eu.created"));
    ck_assert(subject_matches("orders.>", "orders.eu.created"));
    ck_assert(!subject_matches("orders.>", "orders"));
    ck_assert(subject_matches("*.created", "ordersX.created"));
    ck_assert(subject_matches("*.>", "a.b"));
    ck_assert(!subject_matches("*.>", "a"));
    ck_assert(subject_matches("orders.*", "orders.*"));  /* a published '*' is literal */
    ck_assert(!subject_matches("orders.created", "orders.*"));
    ck_assert(subject_matches("a*.b", "a*.b"));
    ck_assert(!subject_matches("a*.b", "ax.b"));
    ck_assert(subject_matches("a.b", "a.b"));
    ck_assert(!subject_matches("a.b", "a.b.c"));
    ck_assert(!subject_matches("a.b.c", "a.b"));
    ck_assert(subject_matches(">", "a"));
    ck_assert(subject_is_subset("wqr.a", "wqr.*"));
    ck_assert(!subject_is_subset("wqr.*", "wqr.a"));
    ck_assert(subject_is_subset("foo.*.bar", "foo.>"));
    ck_assert(!subject_is_subset("foo.>", "foo.*.bar"));
    ck_assert(!subject_is_subset("foo.*.bar", "foo.x.*"));
    ck_assert(subject_is_subset("a.b", "a.b"));
    ck_assert(!subject_is_subset("a.b", "a.c"));
    ck_assert(subject_is_subset("a.*", "a.*"));
    ck_assert(subject_is_subset("a.>", ">"));
    ck_assert(subject_has_wildcard("a.>") && subject_has_wildcard("*") && !subject_has_wildcard("a*.b"));
    ck_assert(subject_valid("a.b") && !subject_valid("a..b") && !subject_valid(".a") && !subject_valid("a.") &&
              !subject_valid("a.>.b") && !subject_valid("a b") && !subject_valid(""));
}
END_TEST

/* ---- config ---- */

static int cfg_code(struct consumer_config c, const struct consumer_stream_params *sp, char *desc) {
    struct consumer_cfg_error err = {0};
    sl_err e = consumer_config_check(&c, sp, &err);
    if (e == SL_OK) return 0;
    ck_assert_int_eq(e, SL_INVALID_CONFIG);
    ck_assert_int_eq(err.code, 400);
    if (desc) strcpy(desc, err.description);
    return err.err_code;
}

START_TEST(test_config_defaults_and_checks) {
    struct consumer_config c = cfg_pull("W", "orders.*");
    struct consumer_cfg_error err;
    ck_assert_int_eq(consumer_config_check(&c, &sp_wq, &err), SL_OK);
    ck_assert_int_eq(c.ack_wait_ms, 30000);
    ck_assert_int_eq(c.max_deliver, -1);
    ck_assert_int_eq(c.max_waiting, 512);
    ck_assert_int_eq(c.max_ack_pending, 1000);
    c = cfg_pull("W", NULL);
    c.max_ack_pending = 65536;
    ck_assert_int_eq(consumer_config_check(&c, &sp_wq, &err), SL_OK);
    ck_assert_int_eq(c.max_ack_pending, 65536);
    /* BackOff: ack_wait echoed as backoff[0]; max_deliver must exceed the list. */
    c = cfg_pull("B", NULL);
    c.backoff_ms[0] = 300, c.backoff_ms[1] = 1200, c.backoff_count = 2, c.max_deliver = 5;
    ck_assert_int_eq(consumer_config_check(&c, &sp_wq, &err), SL_OK);
    ck_assert_int_eq(c.ack_wait_ms, 300);
    char d[160];
    c = cfg_pull("B", NULL);
    c.backoff_ms[0] = 300, c.backoff_count = 1;
    ck_assert_int_eq(cfg_code(c, &sp_wq, d), 10116);
    ck_assert_str_eq(d, "max deliver is required to be > length of backoff values");
    /* Ack none: pull on a work queue 10084; push is left to the work-queue rules. */
    c = cfg_pull("AN", "wqr.c");
    c.ack_policy = CONSUMER_ACK_NONE;
    ck_assert_int_eq(cfg_code(c, &sp_wq, d), 10084);
    ck_assert_str_eq(d, "consumer in pull mode requires ack policy");
    ck_assert_int_eq(cfg_code(c, &sp_limits, NULL), 0);
    c.deliver_subject = "wqr_in.an";
    ck_assert_int_eq(cfg_code(c, &sp_wq, NULL), 0);
    c = cfg_pull("H", NULL);
    c.idle_heartbeat_ms = 1000;
    ck_assert_int_eq(cfg_code(c, &sp_limits, NULL), 10088);
    c = cfg_pull("F", NULL);
    c.flow_control = true;
    ck_assert_int_eq(cfg_code(c, &sp_limits, NULL), 10089);
    c.deliver_subject = "in.f";
    ck_assert_int_eq(cfg_code(c, &sp_limits, d), 10108);
    ck_assert_str_eq(d, "consumer with flow control also needs heartbeats");
    c.idle_heartbeat_ms = 50;
    ck_assert_int_eq(cfg_code(c, &sp_limits, NULL), 10083);
    c.deliver_subject = "in.*";
    ck_assert_int_eq(cfg_code(c, &sp_limits, NULL), 10079);
    c = cfg_pull("P", NULL);
    c.deliver_subject = "in.p";
    c.max_waiting = 5;
    ck_assert_int_eq(cfg_code(c, &sp_limits, NULL), 10080);
    c = cfg_pull("S", NULL);
    c.deliver_policy = CONSUMER_DELIVER_BY_START_SEQUENCE;
    ck_assert_int_eq(cfg_code(c, &sp_limits, d), 10094);
    ck_assert_str_eq(d, "consumer delivery policy is deliver by start sequence, but optional start sequence is not set");
    c.deliver_policy = CONSUMER_DELIVER_ALL;
    c.opt_start_seq = 3;
    ck_assert_int_eq(cfg_code(c, &sp_limits, d), 10094);
    ck_assert_str_eq(d, "consumer delivery policy is deliver all, but optional start sequence is also set");
    c = cfg_pull("L", NULL);
    c.deliver_policy = CONSUMER_DELIVER_LAST_PER_SUBJECT;
    ck_assert_int_eq(cfg_code(c, &sp_limits, d), 10094);
    ck_assert_str_eq(d, "consumer delivery policy is deliver last per subject, but optional filter subject is not set");
}
END_TEST

/* nats-server's order: 10098 -> 10099/10100 -> 10101 (js_go_test.go wqrules). */
static int wq_code(enum consumer_ack_policy ap, const char *filter, enum consumer_deliver_policy dp,
                   const char *const *others, uint32_t n) {
    struct consumer_config c = cfg_pull("X", filter);
    c.ack_policy = ap;
    c.deliver_policy = dp;
    struct consumer_cfg_error err = {0};
    sl_err e = consumer_check_workqueue(&c, others, n, &err);
    return e == SL_OK ? 0 : err.err_code;
}

START_TEST(test_workqueue_rules) {
    const enum consumer_ack_policy EX = CONSUMER_ACK_EXPLICIT;
    const char *u1[] = {NULL};
    ck_assert_int_eq(wq_code(EX, NULL, CONSUMER_DELIVER_ALL, NULL, 0), 0);
    ck_assert_int_eq(wq_code(EX, NULL, CONSUMER_DELIVER_ALL, u1, 1), 10099);
    ck_assert_int_eq(wq_code(EX, "wqr.a", CONSUMER_DELIVER_ALL, u1, 1), 10100);
    const char *ab[] = {"wqr.a", "wqr.b"};
    ck_assert_int_eq(wq_code(EX, "wqr.b", CONSUMER_DELIVER_ALL, ab, 1), 0);
    ck_assert_int_eq(wq_code(EX, "wqr.a", CONSUMER_DELIVER_ALL, ab, 2), 10100);
    ck_assert_int_eq(wq_code(EX, "wqr.*", CONSUMER_DELIVER_ALL, ab, 2), 10100);
    ck_assert_int_eq(wq_code(EX, NULL, CONSUMER_DELIVER_ALL, ab, 2), 10099);
    ck_assert_int_eq(wq_code(EX, "wqr.c", CONSUMER_DELIVER_NEW, ab, 2), 10101);
    ck_assert_int_eq(wq_code(EX, "wqr.c", CONSUMER_DELIVER_LAST, ab, 2), 10101);
    ck_assert_int_eq(wq_code(CONSUMER_ACK_ALL, "wqr.c", CONSUMER_DELIVER_ALL, ab, 2), 10098);
    ck_assert_int_eq(wq_code(CONSUMER_ACK_NONE, "wqr.a", CONSUMER_DELIVER_NEW, ab, 2), 10098);
    ck_assert_int_eq(wq_code(CONSUMER_ACK_NONE, NULL, CONSUMER_DELIVER_ALL, ab, 2), 10098);
    ck_assert_int_eq(wq_code(EX, "wqr.a", CONSUMER_DELIVER_NEW, ab, 2), 10100);
    ck_assert_int_eq(wq_code(EX, NULL, CONSUMER_DELIVER_NEW, ab, 2), 10099);
    ck_assert_int_eq(wq_code(EX, "wqr.c", CONSUMER_DELIVER_ALL, ab, 2), 0);
    const char *x[] = {"foo.x.*"};
    ck_assert_int_eq(wq_code(EX, "foo.*.bar", CONSUMER_DELIVER_ALL, x, 1), 0); /* 2.9.10 allows it */
}
END_TEST

/* ---- pull requests: the section 12 table and js_raw_test.py's statuses ---- */

START_TEST(test_pull_statuses_on_empty_stream) {
    struct consumer_config cfg = cfg_pull("E", NULL);
    cfg.max_waiting = 1;
    struct consumer *c = mk(&cfg, &sp_limits, 1000);
    /* no_wait, nothing pending: 404 at once. */
    ck_assert(!pull(c, 1, 1, 0, true, 0, 0, 1000));
    ck_assert_str_eq(take(), "S t1 404 No Messages");
    /* expires only: 408 at expiry with the batch left and bytes 0. */
    ck_assert(pull(c, 2, 3, 300, false, 0, 0, 1000));
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 1300);
    consumer_tick(c, 1299);
    ck_assert_str_eq(take(), "");
    consumer_tick(c, 1300);
    ck_assert_str_eq(take(), "S t2 408 Request Timeout pm3 pb0|X t2");
    /* heartbeat > expires/2: 400. */
    ck_assert(!pull(c, 3, 3, 1000, false, 600, 0, 2000));
    ck_assert_str_eq(take(), "S t3 400 Bad Request - heartbeat value too large");
    ck_assert(!pull(c, 3, 3, 0, false, 600, 0, 2000));
    ck_assert_str_eq(take(), "S t3 400 Bad Request - heartbeat value too large");
    /* heartbeats at 0.5 s and 1.0 s, then 408 at 1.2 s. */
    ck_assert(pull(c, 4, 3, 1200, false, 500, 0, 3000));
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 3500);
    consumer_tick(c, 3500);
    ck_assert_str_eq(take(), "S t4 100 Idle Heartbeat lc0 ls0");
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 4000);
    consumer_tick(c, 4000);
    ck_assert_str_eq(take(), "S t4 100 Idle Heartbeat lc0 ls0");
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 4200);
    consumer_tick(c, 4200);
    ck_assert_str_eq(take(), "S t4 408 Request Timeout pm3 pb0|X t4");
    /* max_waiting 1: the second waiting request gets 409, the first keeps waiting. */
    ck_assert(pull(c, 5, 2, 0, false, 0, 0, 5000));
    ck_assert(!pull(c, 6, 2, 500, false, 0, 0, 5000));
    ck_assert_str_eq(take(), "S t6 409 Exceeded MaxWaiting");
    info_is(c, 0, 0, 0, 0, 0, 0, 1, 0);
    fs_add("st.a", 10);
    consumer_stream_appended(c, 1, 5100);
    ck_assert_str_eq(take(), "D t5 s1 c1 n1 p0");
    fs_add("st.b", 10);
    consumer_stream_appended(c, 2, 5200);
    ck_assert_str_eq(take(), "D t5 s2 c2 n1 p0|X t5");
    info_is(c, 2, 2, 0, 0, 2, 0, 0, 0);
    /* The requester goes away: the request leaves silently. */
    ck_assert(pull(c, 7, 5, 0, false, 0, 0, 5300));
    consumer_interest_gone(c, T(7), 5301);
    ck_assert_str_eq(take(), "X t7");
    info_is(c, 2, 2, 0, 0, 2, 0, 0, 0);
    consumer_free(c);
}
END_TEST

START_TEST(test_pull_no_wait_and_expires) {
    struct consumer_config cfg = cfg_pull("F", NULL);
    fs_add("st.a", 10);
    fs_add("st.b", 10);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    info_is(c, 0, 0, 0, 0, 0, 0, 0, 2);
    /* no_wait with 2 of 5: both, then 408 with 3 left. */
    ck_assert(pull(c, 1, 5, 0, true, 0, 0, 10));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p1|D t1 s2 c2 n1 p0|S t1 408 Request Timeout pm3 pb0|X t1");
    /* no_wait + expires (nats.go Fetch) on a dry stream: waits for the first message, then
     * ends with 408 as soon as the stream runs dry. */
    ck_assert(pull(c, 2, 256, 5000, true, 0, 0, 20));
    ck_assert_str_eq(take(), "");
    fs_add("st.c", 10);
    consumer_stream_appended(c, 3, 30);
    ck_assert_str_eq(take(), "D t2 s3 c3 n1 p0|S t2 408 Request Timeout pm255 pb0|X t2");
    /* ... and at expiry if nothing came. */
    ck_assert(pull(c, 3, 10, 500, true, 0, 0, 40));
    consumer_tick(c, 540);
    ck_assert_str_eq(take(), "S t3 408 Request Timeout pm10 pb0|X t3");
    /* Neither: until the batch is filled. */
    ck_assert(pull(c, 4, 2, 0, false, 0, 0, 600));
    for (int i = 0; i < 3; i++) fs_add("st.d", 10);
    consumer_stream_appended(c, 6, 610);
    ck_assert_str_eq(take(), "D t4 s4 c4 n1 p2|D t4 s5 c5 n1 p1|X t4");
    consumer_tick(c, 1000);
    info_is(c, 5, 5, 0, 0, 5, 0, 0, 1);
    ck_assert(pull(c, 5, 10, 0, false, 0, 0, 1000));
    ck_assert_str_eq(take(), "D t5 s6 c6 n1 p0");
    /* After the ack wait (30 s from each delivery), redeliveries, in stream order. */
    consumer_tick(c, 30010);
    ck_assert_str_eq(take(), "D t5 s1 c7 n2 p0|D t5 s2 c8 n2 p0");
    consumer_tick(c, 30030);
    ck_assert_str_eq(take(), "D t5 s3 c9 n2 p0");
    consumer_free(c);
    ck_assert_str_eq(take(), "X t5");
}
END_TEST

START_TEST(test_pull_requests_pending_and_round_robin) {
    struct consumer_config cfg = cfg_pull("R", NULL);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 3, 0, false, 0, 0, 0));
    ck_assert(pull(c, 2, 3, 0, false, 0, 0, 0));
    for (int i = 0; i < 4; i++) fs_add("a", 1);
    /* appended all at once: the waiting requests take turns. */
    consumer_stream_appended(c, 4, 1);
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p3|D t2 s2 c2 n1 p2|D t1 s3 c3 n1 p1|D t2 s4 c4 n1 p0");
    fs_add("a", 1);
    consumer_stream_appended(c, 5, 2);
    ck_assert_str_eq(take(), "D t1 s5 c5 n1 p0|X t1");
    /* 1 pending message, request 2 still wants 1 more: a no_wait asking for more is refused. */
    fs_add("a", 1);
    fs_add("a", 1);
    info_is(c, 5, 5, 0, 0, 5, 0, 1, 0);
    consumer_free(c);
    take();
}
END_TEST

/* nats-server matches the reply subject before delivering (nextWaiting) and in processWaiting:
 * a request whose requester went away leaves silently, and the message goes to the next. */
START_TEST(test_pull_interest_gone) {
    struct consumer_config cfg = cfg_pull("G", NULL);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 1, 30000, false, 0, 0, 0));
    ck_assert(pull(c, 2, 1, 30000, false, 0, 0, 0));
    info_is(c, 0, 0, 0, 0, 0, 0, 2, 0);
    /* Request 1's inbox is gone: CONSUMER.INFO's processWaiting drops it, no 408. */
    gone_targets = 1u << 1;
    consumer_check_waiting(c, 10);
    ck_assert_str_eq(take(), "X t1");
    info_is(c, 0, 0, 0, 0, 0, 0, 1, 0);
    /* Request 2's goes too, unnoticed until a message comes: it is not delivered to it. */
    gone_targets |= 1u << 2;
    ck_assert(pull(c, 3, 1, 30000, false, 0, 0, 20));
    gone_targets &= ~(1u << 3);
    ck_assert_str_eq(take(), "X t2");
    fs_add("a", 10);
    consumer_stream_appended(c, 1, 30);
    ck_assert_str_eq(take(), "D t3 s1 c1 n1 p0|X t3");
    /* A request to an inbox nobody listens to leaves at once. */
    gone_targets |= 1u << 4;
    ck_assert(pull(c, 4, 1, 30000, false, 0, 0, 40));
    ck_assert_str_eq(take(), "X t4");
    /* The head request going between two messages of a batch: the next one takes the rest. */
    ck_assert(pull(c, 5, 2, 30000, false, 0, 0, 50));
    ck_assert(pull(c, 6, 2, 30000, false, 0, 0, 50));
    fs_add("a", 10);
    consumer_stream_appended(c, 2, 60);
    ck_assert_str_eq(take(), "D t5 s2 c2 n1 p0");
    gone_targets |= 1u << 5;
    fs_add("a", 10);
    fs_add("a", 10);
    consumer_stream_appended(c, 4, 70);
    ck_assert_str_eq(take(), "X t5|D t6 s3 c3 n1 p1|D t6 s4 c4 n1 p0|X t6");
    info_is(c, 4, 4, 0, 0, 4, 0, 0, 0);
    consumer_free(c);
}
END_TEST

/* Deleting the consumer ends each waiting request with 409 Consumer Deleted (no pending
 * headers), in service order; consumer_free then has nothing left to release. */
START_TEST(test_pull_consumer_deleted) {
    struct consumer_config cfg = cfg_pull("D", NULL);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 3, 30000, false, 0, 0, 0));
    ck_assert(pull(c, 2, 1, 0, false, 0, 0, 0));
    consumer_deleted(c);
    ck_assert_str_eq(take(), "S t1 409 Consumer Deleted|X t1|S t2 409 Consumer Deleted|X t2");
    info_is(c, 0, 0, 0, 0, 0, 0, 0, 0);
    consumer_free(c);
    ck_assert_str_eq(take(), "");
}
END_TEST

/* Limits removing messages leave the delivered and ack floor sequences alone (resync only
 * recounts); a purge moves them past what went (nats-server consumer.purge). */
START_TEST(test_resync_and_purge) {
    struct consumer_config cfg = cfg_pull("P", NULL);
    for (int i = 0; i < 10; i++) fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 2, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p9|D t1 s2 c2 n1 p8|X t1");
    for (int s = 1; s <= 5; s++) fs.m[s].gone = true; /* limits: 1..5 out, 1 and 2 were pending */
    consumer_stream_resync(c, 10);
    info_is(c, 2, 2, 2, 2, 0, 0, 0, 5);
    for (int s = 6; s <= 8; s++) fs.m[s].gone = true; /* a purge up to 8 */
    consumer_stream_purged(c, 20);
    info_is(c, 2, 8, 2, 8, 0, 0, 0, 2);
    ck_assert(pull(c, 2, 1, 0, false, 0, 0, 30));
    ck_assert_str_eq(take(), "D t2 s9 c3 n1 p1|X t2");
    consumer_free(c);
}
END_TEST

START_TEST(test_pull_requests_pending_status) {
    struct consumer_config cfg = cfg_pull("R", NULL);
    cfg.max_ack_pending = 1;
    fs_add("a", 1);
    fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 1, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p1|X t1");
    /* max_ack_pending 1 blocks; request 2 waits for 5; one message pending < 5. */
    ck_assert(pull(c, 2, 5, 0, false, 0, 0, 1));
    ck_assert_str_eq(take(), "");
    ck_assert(!pull(c, 3, 1, 0, true, 0, 0, 2));
    ck_assert_str_eq(take(), "S t3 408 Requests Pending");
    /* A no_wait request stalled by max_ack_pending is not ended as dry. */
    consumer_interest_gone(c, T(2), 3);
    ck_assert_str_eq(take(), "X t2");
    ck_assert(pull(c, 4, 1, 0, true, 0, 0, 4));
    ck_assert_str_eq(take(), "");
    ack(c, CONSUMER_ACK, 1, 1, 1, 5);
    ck_assert_str_eq(take(), "D t4 s2 c2 n1 p0|X t4");
    info_is(c, 2, 2, 1, 1, 1, 0, 0, 0);
    consumer_free(c);
}
END_TEST

START_TEST(test_pull_max_bytes) {
    struct consumer_config cfg = cfg_pull("M", NULL);
    fs_add("a", 40);
    fs_add("a", 60);
    fs_add("a", 500);
    fs_add("a", 10);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    /* Budget 100: 40 + 60 fills it exactly, which ends the request after that message. */
    ck_assert(pull(c, 1, 10, 0, false, 0, 100, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p3|D t1 s2 c2 n1 p2|X t1");
    /* A message larger than the budget: 409 with the batch and bytes left; it is not consumed. */
    ck_assert(pull(c, 2, 10, 0, false, 0, 100, 1));
    ck_assert_str_eq(take(), "S t2 409 Message Size Exceeds MaxBytes pm10 pb100|X t2");
    ck_assert(pull(c, 3, 1, 0, false, 0, 0, 2));
    ck_assert_str_eq(take(), "D t3 s3 c3 n1 p1|X t3");
    consumer_free(c);
}
END_TEST

/* ---- acks: js_raw_test.py's ORDERS / W walk-through ---- */

START_TEST(test_acks_raw_walkthrough) {
    struct consumer_config cfg = cfg_pull("W", "orders.*");
    cfg.max_ack_pending = 65536;
    fs_add("orders.a", 5);
    fs_add("orders.b", 0);
    fs_add("orders.a", 2);
    fs_add("orders.c", 4);
    fs_add("orders.b", 5);
    struct consumer *c = mk(&cfg, &sp_wq, 0);
    info_is(c, 0, 0, 0, 0, 0, 0, 0, 5);
    ck_assert(pull(c, 1, 2, 2000, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p4|D t1 s2 c2 n1 p3|X t1");
    ack(c, CONSUMER_ACK, 1, 1, 1, 1);
    ck_assert_str_eq(take(), "R s1");
    ack(c, CONSUMER_ACK, 2, 2, 1, 2);
    ck_assert_str_eq(take(), "R s2");
    ck_assert(pull(c, 2, 1, 0, false, 0, 0, 3));
    ck_assert_str_eq(take(), "D t2 s3 c3 n1 p2|X t2");
    /* +NXT = ack + pull on the ack's reply. */
    ack(c, CONSUMER_ACK, 3, 3, 1, 4);
    ck_assert(pull(c, 3, 1, 0, false, 0, 0, 4));
    ck_assert_str_eq(take(), "R s3|D t3 s4 c4 n1 p1|X t3");
    /* -NAK: advisory, redelivered first with delivered 2 and a new consumer sequence. */
    ack(c, CONSUMER_NAK, 4, 4, 1, 5);
    ck_assert_str_eq(take(), "A NAK s4 c4 n1");
    ck_assert(pull(c, 4, 1, 0, false, 0, 0, 6));
    ck_assert_str_eq(take(), "D t4 s4 c5 n2 p1|X t4");
    info_is(c, 5, 4, 3, 3, 1, 1, 0, 1);
    /* +TERM: removed, advisory with the ack subject's numbers. */
    consumer_ack(c, CONSUMER_TERM, 4, 5, 2, -1, "bad", 7);
    ck_assert_str_eq(take(), "R s4|A TERM s4 c5 n2");
    ck_assert(pull(c, 5, 1, 0, false, 0, 0, 8));
    ck_assert_str_eq(take(), "D t5 s5 c6 n1 p0|X t5");
    ack(c, CONSUMER_ACK, 5, 6, 1, 9);
    ck_assert_str_eq(take(), "R s5");
    /* Acks of settled or never-delivered messages do nothing. */
    ack(c, CONSUMER_ACK, 1, 1, 1, 10);
    ack(c, CONSUMER_ACK, 99, 99, 1, 10);
    ack(c, CONSUMER_NAK, 99, 99, 1, 10);
    ack(c, CONSUMER_PROGRESS, 2, 2, 1, 10);
    ck_assert_str_eq(take(), "");
    info_is(c, 6, 5, 6, 5, 0, 0, 0, 0);
    consumer_free(c);
}
END_TEST

START_TEST(test_ack_floor_out_of_order) {
    struct consumer_config cfg = cfg_pull("O", NULL);
    for (int i = 0; i < 4; i++) fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 4, 0, false, 0, 0, 0));
    take();
    ack(c, CONSUMER_ACK, 2, 2, 1, 1);
    info_is(c, 4, 4, 0, 0, 3, 0, 0, 0); /* not the floor's successor: floor stays */
    ack(c, CONSUMER_ACK, 1, 1, 1, 1);
    info_is(c, 4, 4, 2, 2, 2, 0, 0, 0); /* floor jumps to just below the next pending (3) */
    ack(c, CONSUMER_ACK, 4, 4, 1, 1);
    info_is(c, 4, 4, 2, 2, 1, 0, 0, 0);
    ack(c, CONSUMER_ACK, 3, 3, 1, 1);
    info_is(c, 4, 4, 4, 4, 0, 0, 0, 0);
    ck_assert_str_eq(take(), ""); /* limits stream: nothing removed */
    consumer_free(c);
}
END_TEST

START_TEST(test_ack_all) {
    struct consumer_config cfg = cfg_pull("AA", NULL);
    cfg.ack_policy = CONSUMER_ACK_ALL;
    for (int i = 0; i < 5; i++) fs_add("a", 1);
    struct consumer_stream_params sp = {CONSUMER_RETENTION_INTEREST, false};
    struct consumer *c = mk(&cfg, &sp, 0);
    ck_assert(pull(c, 1, 5, 0, false, 0, 0, 0));
    take();
    ack(c, CONSUMER_ACK, 3, 3, 1, 1);
    ck_assert_str_eq(take(), "R s1|R s2|R s3");
    info_is(c, 5, 5, 3, 3, 2, 0, 0, 0);
    ck_assert(consumer_acked(c, 3, "a") && !consumer_acked(c, 4, "a"));
    ack(c, CONSUMER_ACK, 2, 2, 1, 1); /* below the floor: nothing */
    ack(c, CONSUMER_ACK, 9, 9, 1, 1); /* never delivered: nothing */
    ck_assert_str_eq(take(), "");
    ack(c, CONSUMER_ACK, 5, 5, 1, 1);
    ck_assert_str_eq(take(), "R s4|R s5");
    info_is(c, 5, 5, 5, 5, 0, 0, 0, 0);
    consumer_free(c);
}
END_TEST

/* ---- redelivery timing ---- */

START_TEST(test_ack_wait_wpi_nak_delay) {
    struct consumer_config cfg = cfg_pull("AW", NULL);
    cfg.ack_wait_ms = 1000;
    fs_add("r", 3);
    struct consumer *c = mk(&cfg, &sp_wq, 10000);
    ck_assert(pull(c, 1, 1, 0, false, 0, 0, 10000));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p0|X t1");
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 11000);
    /* A waiting request gets the redelivery exactly at the ack wait. */
    ck_assert(pull(c, 2, 1, 0, false, 0, 0, 10100));
    consumer_tick(c, 10999);
    ck_assert_str_eq(take(), "");
    consumer_tick(c, 11000);
    ck_assert_str_eq(take(), "D t2 s1 c2 n2 p0|X t2");
    /* +WPI every 400 ms keeps it from expiring. */
    for (uint64_t t = 11400; t <= 13000; t += 400) {
        consumer_tick(c, t);
        ack(c, CONSUMER_PROGRESS, 1, 2, 2, t);
    }
    ck_assert(pull(c, 3, 1, 0, false, 0, 0, 13000));
    consumer_tick(c, 13999);
    ck_assert_str_eq(take(), "");
    /* -NAK with a delay: not before it. */
    consumer_ack(c, CONSUMER_NAK, 1, 2, 2, 700, NULL, 13500);
    ck_assert_str_eq(take(), "A NAK s1 c2 n2");
    consumer_tick(c, 14199);
    ck_assert_str_eq(take(), "");
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 14200);
    consumer_tick(c, 14200);
    ck_assert_str_eq(take(), "D t3 s1 c3 n3 p0|X t3");
    info_is(c, 3, 1, 0, 0, 1, 1, 0, 0);
    ack(c, CONSUMER_ACK, 1, 3, 3, 14300);
    ck_assert_str_eq(take(), "R s1");
    info_is(c, 3, 1, 3, 1, 0, 0, 0, 0);
    consumer_free(c);
}
END_TEST

START_TEST(test_backoff_schedule) {
    struct consumer_config cfg = cfg_pull("BOFF", NULL);
    cfg.backoff_ms[0] = 300, cfg.backoff_ms[1] = 1200, cfg.backoff_count = 2, cfg.max_deliver = 5;
    fs_add("retry.backoff", 9);
    struct consumer *c = mk(&cfg, &sp_wq, 0);
    ck_assert(pull(c, 1, 10, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p0");
    /* Deliveries at 0, 300, 1500, 2700, 3900 (the last value repeats), then MaxDeliver 5. */
    uint64_t want[] = {300, 1500, 2700, 3900};
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(consumer_next_deadline_ms(c), want[k]);
        consumer_tick(c, want[k] - 1);
        ck_assert_str_eq(take(), "");
        consumer_tick(c, want[k]);
        char exp[64];
        snprintf(exp, sizeof exp, "D t1 s1 c%d n%d p0", k + 2, k + 2);
        ck_assert_str_eq(take(), exp);
    }
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 5100);
    consumer_tick(c, 5100);
    ck_assert_str_eq(take(), "A MAXDEL s1 n5");
    consumer_tick(c, 100000);
    ck_assert_str_eq(take(), "");
    ck_assert(!fs.m[1].gone); /* nats-server semantics: the message stays in the work queue */
    consumer_free(c);
}
END_TEST

static void max_deliver_case(const struct consumer_stream_params *sp, const char *after_third) {
    struct consumer_config cfg = cfg_pull("D", "dlqt.poison");
    cfg.ack_wait_ms = 500;
    cfg.max_deliver = 3;
    fs_add("dlqt.poison", 20);
    struct consumer *c = mk(&cfg, sp, 0);
    for (int d = 1; d <= 3; d++) {
        ck_assert(pull(c, (uintptr_t)d, 1, 3000, true, 0, 0, (uint64_t)d * 10));
        char exp[64];
        snprintf(exp, sizeof exp, "D t%d s1 c%d n%d p0|X t%d", d, d, d, d);
        ck_assert_str_eq(take(), exp);
        if (d < 3) {
            ack(c, CONSUMER_NAK, 1, (uint64_t)d, (uint64_t)d, (uint64_t)d * 10 + 1);
            snprintf(exp, sizeof exp, "A NAK s1 c%d n%d", d, d);
            ck_assert_str_eq(take(), exp);
        }
    }
    /* The third delivery times out; nothing happens until a delivery is attempted. */
    consumer_tick(c, 600);
    ck_assert_str_eq(take(), "");
    ck_assert(pull(c, 9, 1, 2000, true, 0, 0, 700));
    ck_assert_str_eq(take(), after_third);
    consumer_tick(c, 2700);
    ck_assert_str_eq(take(), "S t9 408 Request Timeout pm1 pb0|X t9");
    ck_assert(pull(c, 10, 1, 2000, true, 0, 0, 3000));
    consumer_tick(c, 5000);
    ck_assert_str_eq(take(), "S t10 408 Request Timeout pm1 pb0|X t10"); /* exactly once */
    info_is(c, 3, 1, 3, 1, 0, 0, 0, 0);
    consumer_free(c);
}

START_TEST(test_max_deliver_nats_semantics) {
    max_deliver_case(&sp_wq, "A MAXDEL s1 n3");
    ck_assert(!fs.m[1].gone);
}
END_TEST

START_TEST(test_max_deliver_dead_letter) {
    max_deliver_case(&sp_wq_dlq, "A MAXDEL s1 n3|DLQ s1 n3 max_deliveries|R s1");
    ck_assert(fs.m[1].gone);
}
END_TEST

START_TEST(test_term_dead_letter) {
    struct consumer_config cfg = cfg_pull("T", NULL);
    fs_add("dlqt.bad", 3);
    struct consumer *c = mk(&cfg, &sp_wq_dlq, 0);
    ck_assert(pull(c, 1, 1, 0, false, 0, 0, 0));
    take();
    consumer_ack(c, CONSUMER_TERM, 1, 1, 1, -1, "unparseable", 1);
    ck_assert_str_eq(take(), "DLQ s1 n1 terminated unparseable|R s1|A TERM s1 c1 n1");
    /* A second +TERM: advisory only, as nats-server. */
    consumer_ack(c, CONSUMER_TERM, 1, 1, 1, -1, NULL, 2);
    ck_assert_str_eq(take(), "A TERM s1 c1 n1");
    consumer_free(c);
}
END_TEST

START_TEST(test_redeliveries_first_in_stream_order) {
    struct consumer_config cfg = cfg_pull("RD", NULL);
    cfg.ack_wait_ms = 1000;
    for (int i = 0; i < 6; i++) fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 4, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p5|D t1 s2 c2 n1 p4|D t1 s3 c3 n1 p3|D t1 s4 c4 n1 p2|X t1");
    ack(c, CONSUMER_NAK, 4, 4, 1, 1);
    ack(c, CONSUMER_NAK, 2, 2, 1, 1);
    ack(c, CONSUMER_ACK, 1, 1, 1, 1);
    take();
    ck_assert(pull(c, 2, 10, 0, false, 0, 0, 2));
    ck_assert_str_eq(take(), "D t2 s2 c5 n2 p2|D t2 s4 c6 n2 p2|D t2 s5 c7 n1 p1|D t2 s6 c8 n1 p0");
    info_is(c, 8, 6, 1, 1, 5, 2, 1, 0);
    /* At the ack wait, 3 (delivered once at 0) expires first; then 2, 4, 5, 6. */
    consumer_tick(c, 1000);
    ck_assert_str_eq(take(), "D t2 s3 c9 n2 p0");
    consumer_tick(c, 1002);
    ck_assert_str_eq(take(), "D t2 s2 c10 n3 p0|D t2 s4 c11 n3 p0|D t2 s5 c12 n2 p0|D t2 s6 c13 n2 p0");
    info_is(c, 13, 6, 1, 1, 5, 5, 1, 0);
    consumer_free(c);
}
END_TEST

START_TEST(test_max_ack_pending_gating) {
    struct consumer_config cfg = cfg_pull("MP", NULL);
    cfg.max_ack_pending = 2;
    for (int i = 0; i < 5; i++) fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_wq, 0);
    ck_assert(pull(c, 1, 10, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s1 c1 n1 p4|D t1 s2 c2 n1 p3");
    ack(c, CONSUMER_ACK, 2, 2, 1, 1);
    ck_assert_str_eq(take(), "R s2|D t1 s3 c3 n1 p2");
    ack(c, CONSUMER_NAK, 1, 1, 1, 2); /* a redelivery does not add to ack pending */
    ck_assert_str_eq(take(), "A NAK s1 c1 n1|D t1 s1 c4 n2 p2");
    info_is(c, 4, 3, 0, 0, 2, 1, 1, 2);
    consumer_free(c);
}
END_TEST

/* ---- filters and deliver policies ---- */

START_TEST(test_filter_wildcards) {
    fs_add("orders.eu.created", 1); /* 1 */
    fs_add("orders.created", 1);    /* 2 */
    fs_add("users.created", 1);     /* 3 */
    fs_add("orders.paid", 1);       /* 4 */
    fs_add("orders", 1);            /* 5 */
    struct consumer_config cfg = cfg_pull("F1", "orders.*");
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    info_is(c, 0, 0, 0, 0, 0, 0, 0, 2);
    ck_assert(pull(c, 1, 10, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "D t1 s2 c1 n1 p1|D t1 s4 c2 n1 p0");
    fs_add("users.x", 1);
    consumer_stream_appended(c, 6, 1);
    fs_add("orders.x", 1);
    consumer_stream_appended(c, 7, 2);
    ck_assert_str_eq(take(), "D t1 s7 c3 n1 p0");
    ck_assert(consumer_acked(c, 3, "users.created")); /* not for this consumer */
    ck_assert(!consumer_acked(c, 2, "orders.created"));
    consumer_free(c);
    cfg = cfg_pull("F2", "*.created");
    c = mk(&cfg, &sp_limits, 0);
    info_is(c, 0, 0, 0, 0, 0, 0, 0, 2);
    cfg = cfg_pull("F3", "orders.>");
    struct consumer *c3 = mk(&cfg, &sp_limits, 0);
    info_is(c3, 0, 0, 0, 0, 0, 0, 0, 4);
    consumer_free(c3);
    consumer_free(c);
    take();
}
END_TEST

static const char *deliver_all_of(struct consumer_config *cfg) {
    struct consumer *c = mk(cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 100, 0, false, 0, 0, 0));
    consumer_free(c);
    return take();
}

START_TEST(test_deliver_policies) {
    fs_add("p.a", 1); /* 1 */
    fs_add("p.b", 1); /* 2 */
    fs_add("p.a", 1); /* 3 */
    fs_add("p.c", 1); /* 4 */
    fs_add("p.b", 1); /* 5 */
    struct consumer_config cfg = cfg_pull("P", NULL);
    cfg.ack_policy = CONSUMER_ACK_NONE;
    cfg.deliver_policy = CONSUMER_DELIVER_LAST;
    ck_assert_str_eq(deliver_all_of(&cfg), "D t1 s5 c1 n1 p0|X t1");
    cfg.filter_subject = "p.a";
    ck_assert_str_eq(deliver_all_of(&cfg), "D t1 s3 c1 n1 p0|X t1");
    cfg.filter_subject = "p.*";
    cfg.deliver_policy = CONSUMER_DELIVER_LAST_PER_SUBJECT;
    ck_assert_str_eq(deliver_all_of(&cfg), "D t1 s3 c1 n1 p2|D t1 s4 c2 n1 p1|D t1 s5 c3 n1 p0|X t1");
    cfg.filter_subject = NULL;
    cfg.deliver_policy = CONSUMER_DELIVER_NEW;
    ck_assert_str_eq(deliver_all_of(&cfg), "X t1");
    cfg.deliver_policy = CONSUMER_DELIVER_BY_START_SEQUENCE;
    cfg.opt_start_seq = 4;
    ck_assert_str_eq(deliver_all_of(&cfg), "D t1 s4 c1 n1 p1|D t1 s5 c2 n1 p0|X t1");
    cfg.opt_start_seq = 0;
    cfg.deliver_policy = CONSUMER_DELIVER_BY_START_TIME;
    cfg.opt_start_time_ns = fs.m[5].ts_ns - 1;
    ck_assert_str_eq(deliver_all_of(&cfg), "D t1 s5 c1 n1 p0|X t1");
    /* Deliver new starts after the end; the ack floor starts just below the start. */
    cfg.opt_start_time_ns = 0;
    cfg.deliver_policy = CONSUMER_DELIVER_NEW;
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    info_is(c, 0, 5, 0, 5, 0, 0, 0, 0);
    fs_add("p.d", 1);
    consumer_stream_appended(c, 6, 1);
    info_is(c, 0, 5, 0, 5, 0, 0, 0, 1);
    consumer_free(c);
}
END_TEST

/* ---- work-queue and interest retention ---- */

START_TEST(test_interest_acked) {
    struct consumer_config cfg = cfg_pull("I", NULL);
    for (int i = 0; i < 4; i++) fs_add("a", 1);
    struct consumer_stream_params sp = {CONSUMER_RETENTION_INTEREST, false};
    struct consumer *c = mk(&cfg, &sp, 0);
    ck_assert(pull(c, 1, 3, 0, false, 0, 0, 0));
    take();
    ack(c, CONSUMER_ACK, 2, 2, 1, 1);
    ck_assert_str_eq(take(), "R s2");
    ck_assert(!consumer_acked(c, 1, "a"));
    ck_assert(consumer_acked(c, 2, "a"));
    ck_assert(!consumer_acked(c, 3, "a"));
    ck_assert(!consumer_acked(c, 4, "a")); /* not delivered yet */
    ack(c, CONSUMER_ACK, 1, 1, 1, 1);
    ck_assert(consumer_acked(c, 1, "a"));
    consumer_free(c);
    take();
}
END_TEST

/* ---- push ---- */

/* The deliver subject losing its last subscriber stops push delivery at the next run (target
 * NULL asked through ops.interest); the wiring turns it back on. */
START_TEST(test_push_interest_gone) {
    struct consumer_config cfg = cfg_pull("PI", NULL);
    cfg.deliver_subject = "_INBOX.pi";
    fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    consumer_push_set_active(c, true, 0);
    ck_assert(consumer_push_active(c));
    ck_assert_str_eq(take(), "D t0 s1 c1 n1 p0");
    gone_targets = 1; /* bit 0: the deliver subject */
    fs_add("a", 1);
    consumer_stream_appended(c, 2, 10);
    ck_assert_str_eq(take(), "");
    ck_assert(!consumer_push_active(c));
    info_is(c, 1, 1, 0, 0, 1, 0, 0, 1);
    gone_targets = 0;
    consumer_push_set_active(c, true, 20);
    ck_assert_str_eq(take(), "D t0 s2 c2 n1 p0");
    consumer_free(c);
}
END_TEST

START_TEST(test_push_delivery_heartbeat_flow_control) {
    struct consumer_config cfg = cfg_pull("PD", NULL);
    cfg.deliver_subject = "_INBOX.push";
    cfg.max_ack_pending = 3;
    cfg.idle_heartbeat_ms = 1000;
    for (int i = 0; i < 5; i++) fs_add("pushw.a", 1);
    struct consumer *c = mk(&cfg, &sp_wq, 0);
    ck_assert(consumer_is_push(c));
    ck_assert(!pull(c, 1, 1, 0, false, 0, 0, 0));
    ck_assert_str_eq(take(), "S t1 409 Consumer is push based");
    ck_assert_str_eq(take(), "");
    consumer_push_set_active(c, true, 10);
    ck_assert_str_eq(take(), "D t0 s1 c1 n1 p4|D t0 s2 c2 n1 p3|D t0 s3 c3 n1 p2");
    ack(c, CONSUMER_ACK, 1, 1, 1, 20);
    ck_assert_str_eq(take(), "R s1|D t0 s4 c4 n1 p1");
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 1020);
    consumer_tick(c, 1020);
    ck_assert_str_eq(take(), "S t0 100 Idle Heartbeat lc4 ls4");
    consumer_push_set_active(c, false, 1100);
    ack(c, CONSUMER_ACK, 2, 2, 1, 1200);
    ck_assert_str_eq(take(), "R s2");
    consumer_push_set_active(c, true, 1300);
    ck_assert_str_eq(take(), "D t0 s5 c5 n1 p0");
    consumer_free(c);

    /* Flow control: a request past half the window (1 MiB of a 2 MiB start), stall past it. */
    setup();
    cfg = cfg_pull("FC", NULL);
    cfg.deliver_subject = "_INBOX.fc";
    cfg.ack_policy = CONSUMER_ACK_NONE;
    cfg.flow_control = true;
    cfg.idle_heartbeat_ms = 5000;
    for (int i = 0; i < 6; i++) fs_add("fc.a", 600 * 1024);
    c = mk(&cfg, &sp_limits, 0);
    consumer_push_set_active(c, true, 0);
    ck_assert_str_eq(take(), "D t0 s1 c1 n1 p5|D t0 s2 c2 n1 p4|S t0 100 FlowControl Request fc1|"
                             "D t0 s3 c3 n1 p3|D t0 s4 c4 n1 p2");
    consumer_tick(c, 5000);
    ck_assert_str_eq(take(), "S t0 100 Idle Heartbeat lc4 ls4 stalled");
    consumer_flow_control_ack(c, 7, 5001); /* not the outstanding one */
    ck_assert_str_eq(take(), "");
    consumer_flow_control_ack(c, 1, 5002);
    ck_assert_str_eq(take(), "D t0 s5 c5 n1 p1|D t0 s6 c6 n1 p0|S t0 100 FlowControl Request fc2");
    consumer_free(c);
}
END_TEST

START_TEST(test_ephemeral_inactivity) {
    struct consumer_config cfg = cfg_pull("EPH", NULL);
    cfg.durable = false;
    cfg.inactive_threshold_ms = 5000;
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 1, 1000, false, 0, 0, 100));
    consumer_tick(c, 1100);
    ck_assert_str_eq(take(), "S t1 408 Request Timeout pm1 pb0|X t1");
    ck_assert_uint_eq(consumer_next_deadline_ms(c), 5100);
    consumer_tick(c, 5099);
    ck_assert_str_eq(take(), "");
    consumer_tick(c, 5100);
    ck_assert_str_eq(take(), "INACTIVE");
    consumer_tick(c, 9000);
    ck_assert_str_eq(take(), "");
    consumer_free(c);
}
END_TEST

/* ---- durable state ---- */

START_TEST(test_state_round_trip) {
    struct consumer_config cfg = cfg_pull("ST", NULL);
    cfg.ack_wait_ms = 1000;
    for (int i = 0; i < 10; i++) fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_wq, 0);
    ck_assert(pull(c, 1, 6, 0, false, 0, 0, 0));
    take();
    ack(c, CONSUMER_ACK, 1, 1, 1, 1);
    ack(c, CONSUMER_ACK, 3, 3, 1, 1);
    ack(c, CONSUMER_NAK, 5, 5, 1, 1);
    ck_assert(pull(c, 2, 1, 0, false, 0, 0, 2));
    ck_assert_str_eq(take(), "R s1|R s3|A NAK s5 c5 n1|D t2 s5 c7 n2 p4|X t2");
    ck_assert(consumer_take_dirty(c));
    ck_assert(!consumer_take_dirty(c));
    info_is(c, 7, 6, 1, 1, 4, 1, 0, 4);
    uint8_t buf[256];
    ck_assert_uint_le(consumer_state_size_max(c), sizeof buf);
    size_t n = consumer_encode_state(c, buf, sizeof buf);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, 30); /* ack floor + 4 small pending entries */
    ck_assert_uint_eq(consumer_encode_state(c, buf, 5), 0);
    consumer_free(c);

    /* Restart: same numbers; pending redelivered after the ack wait with their counts. */
    struct consumer_config cfg2 = cfg_pull("ST", NULL);
    cfg2.ack_wait_ms = 1000;
    c = mk(&cfg2, &sp_wq, 50000);
    ck_assert_int_eq(consumer_decode_state(c, buf, n, 50000), SL_OK);
    info_is(c, 7, 6, 1, 1, 4, 1, 0, 4);
    uint8_t buf2[256];
    size_t n2 = consumer_encode_state(c, buf2, sizeof buf2);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(buf2, buf, n);
    ck_assert(pull(c, 3, 10, 0, false, 0, 0, 50000));
    ck_assert_str_eq(take(), "D t3 s7 c8 n1 p3|D t3 s8 c9 n1 p2|D t3 s9 c10 n1 p1|D t3 s10 c11 n1 p0");
    consumer_tick(c, 51000);
    ck_assert_str_eq(take(), "D t3 s2 c12 n2 p0|D t3 s4 c13 n2 p0|D t3 s5 c14 n3 p0|D t3 s6 c15 n2 p0|"
                             "D t3 s7 c16 n2 p0|D t3 s8 c17 n2 p0|X t3");
    /* nats-server moves the floor only when the ack is for the consumer_seq right above it. */
    ack(c, CONSUMER_ACK, 2, 12, 2, 51001);
    ck_assert_str_eq(take(), "R s2");
    info_is(c, 17, 10, 1, 1, 7, 5, 0, 0);
    consumer_free(c);
    take();

    /* Malformed records are refused and leave the consumer unchanged. */
    c = mk(&cfg2, &sp_wq, 0);
    ck_assert_int_eq(consumer_decode_state(c, buf, n - 1, 0), SL_CORRUPT);
    uint8_t bad[256];
    memcpy(bad, buf, n);
    bad[0] = 9;
    ck_assert_int_eq(consumer_decode_state(c, bad, n, 0), SL_CORRUPT);
    ck_assert_int_eq(consumer_decode_state(c, buf, 0, 0), SL_CORRUPT);
    info_is(c, 0, 3, 0, 3, 0, 0, 0, 7); /* 1-3 were removed by the acks */
    consumer_free(c);
}
END_TEST

START_TEST(test_state_drops_gone_messages) {
    struct consumer_config cfg = cfg_pull("G", NULL);
    for (int i = 0; i < 3; i++) fs_add("a", 1);
    struct consumer *c = mk(&cfg, &sp_limits, 0);
    ck_assert(pull(c, 1, 3, 0, false, 0, 0, 0));
    take();
    uint8_t buf[256];
    size_t n = consumer_encode_state(c, buf, sizeof buf);
    ck_assert_uint_gt(n, 0);
    consumer_free(c);
    fs.m[2].gone = true; /* removed while down */
    c = mk(&cfg, &sp_limits, 0);
    ck_assert_int_eq(consumer_decode_state(c, buf, n, 0), SL_OK);
    info_is(c, 3, 3, 0, 0, 2, 0, 0, 0);
    /* Removed while running: forgotten. */
    fs.m[1].gone = true;
    consumer_stream_removed(c, 1, "a", 1);
    info_is(c, 3, 3, 2, 2, 1, 0, 0, 0);
    consumer_free(c);
}
END_TEST

/* ---- scale: 100,000 messages, bounded memory ---- */

START_TEST(test_memory_bounded_100k) {
    struct consumer_config cfg = cfg_pull("BIG", NULL);
    cfg.max_ack_pending = 1000;
    const uint64_t N = 100000;
    for (uint64_t i = 0; i < N; i++) fs_add("orders.created", 100);
    struct consumer *c = mk(&cfg, &sp_wq, 0);
    quiet_deliveries = true;
    size_t peak = 0;
    /* One request for everything; max_ack_pending 1000 paces it. Each round acks the even
     * sequences just delivered and the odd ones of the round before, so acks land far apart
     * and tombstones pile up between live entries; every ack lets one more message out. */
    ck_assert(pull(c, 1, (int64_t)N, 0, false, 0, 0, 0));
    uint64_t prev_lo = 1, prev_hi = 0, lo = 1, now = 1;
    while (lo <= N) {
        uint64_t hi = delivered_count;
        ck_assert_uint_ge(hi, lo);
        for (uint64_t s = lo; s <= hi; s++)
            if (s % 2 == 0) ack(c, CONSUMER_ACK, s, s, 1, now);
        for (uint64_t s = prev_lo; s <= prev_hi; s++)
            if (s % 2 == 1) ack(c, CONSUMER_ACK, s, s, 1, now);
        prev_lo = lo, prev_hi = hi, lo = hi + 1;
        size_t m = consumer_memory_bytes(c);
        if (m > peak) peak = m;
        struct consumer_info ci;
        consumer_info(c, &ci);
        ck_assert_uint_le(ci.num_ack_pending, 1000);
        ck_assert_uint_le(consumer_state_size_max(c), 32 * 1024);
        now++;
    }
    for (uint64_t s = prev_lo; s <= prev_hi; s++)
        if (s % 2 == 1) ack(c, CONSUMER_ACK, s, s, 1, now);
    info_is(c, N, N, N, N, 0, 0, 0, 0);
    ck_assert_int_eq(removes_seen, (int)N);
    ck_assert_msg(peak < 128 * 1024, "peak memory %zu bytes", peak);
    uint8_t buf[64];
    size_t n = consumer_encode_state(c, buf, sizeof buf);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, 20);
    consumer_free(c);
}
END_TEST

static Suite *consumer_suite(void) {
    Suite *s = suite_create("broker_core_consumer");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_subject_match);
    tcase_add_test(tc, test_config_defaults_and_checks);
    tcase_add_test(tc, test_workqueue_rules);
    tcase_add_test(tc, test_pull_statuses_on_empty_stream);
    tcase_add_test(tc, test_pull_no_wait_and_expires);
    tcase_add_test(tc, test_pull_requests_pending_and_round_robin);
    tcase_add_test(tc, test_pull_requests_pending_status);
    tcase_add_test(tc, test_pull_interest_gone);
    tcase_add_test(tc, test_pull_consumer_deleted);
    tcase_add_test(tc, test_resync_and_purge);
    tcase_add_test(tc, test_push_interest_gone);
    tcase_add_test(tc, test_pull_max_bytes);
    tcase_add_test(tc, test_acks_raw_walkthrough);
    tcase_add_test(tc, test_ack_floor_out_of_order);
    tcase_add_test(tc, test_ack_all);
    tcase_add_test(tc, test_ack_wait_wpi_nak_delay);
    tcase_add_test(tc, test_backoff_schedule);
    tcase_add_test(tc, test_max_deliver_nats_semantics);
    tcase_add_test(tc, test_max_deliver_dead_letter);
    tcase_add_test(tc, test_term_dead_letter);
    tcase_add_test(tc, test_redeliveries_first_in_stream_order);
    tcase_add_test(tc, test_max_ack_pending_gating);
    tcase_add_test(tc, test_filter_wildcards);
    tcase_add_test(tc, test_deliver_policies);
    tcase_add_test(tc, test_interest_acked);
    tcase_add_test(tc, test_push_delivery_heartbeat_flow_control);
    tcase_add_test(tc, test_ephemeral_inactivity);
    tcase_add_test(tc, test_state_round_trip);
    tcase_add_test(tc, test_state_drops_gone_messages);
    tcase_add_test(tc, test_memory_bounded_100k);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(consumer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
