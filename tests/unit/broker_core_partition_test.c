/* broker_core_partition_test.c: the partition write path (check, idempotence, stamp, append,
 * complete) on a real loop and store, and the topic registry's protocol-neutral parts. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/base.h"
#include "broker/core/partition.h"
#include "broker/core/producer_state.h"
#include "broker/core/topics.h"
#include "protocol/kafka_records.h"
#include "storage_fixture.h"

struct t_done {
    struct partition_append_done d;
    int fired;
    sl_err err;
    int64_t synced_at_fire; /* the log's synced offset when fn ran */
    struct log *log;
};

static void t_done_fn(struct partition_append_done *d, sl_err err) {
    struct t_done *t = (struct t_done *)d;
    t->fired++;
    t->err = err;
    t->synced_at_fire = t->log ? log_synced_offset(t->log) : -1;
}

static void t_done_init(struct t_done *t, struct log *g) {
    memset(t, 0, sizeof(*t));
    t->d.fn = t_done_fn;
    t->log = g;
    t->synced_at_fire = -2;
}

static bool t_fired(void *arg) { return ((struct t_done *)arg)->fired > 0; }

/* An uncompressed batch of nrec records (values derived from tag), producer fields as given. */
static uint32_t t_batch(uint8_t *out, size_t cap, uint32_t nrec, int64_t pid, int16_t epoch, int32_t seq, uint64_t tag) {
    struct kafka_record_in recs[16];
    static uint8_t values[16][64];
    ck_assert(nrec >= 1 && nrec <= 16);
    for (uint32_t i = 0; i < nrec; i++) {
        t_fill_random(values[i], sizeof(values[i]), tag * 31 + i);
        recs[i] = (struct kafka_record_in){.key = "k", .key_len = 1, .value = values[i], .value_len = 64,
                                           .timestamp_ms = 1000 + (int64_t)i};
    }
    size_t n = kafka_batch_encode(out, cap, recs, nrec, pid, epoch, seq);
    ck_assert_uint_gt(n, 0);
    return (uint32_t)n;
}

struct pfx {
    struct fx f;
    struct log *g;
    struct partition *p;
};

static void pfx_open(struct pfx *x, const struct log_config *cfg, bool log_append_time) {
    fx_open(&x->f, cfg);
    x->g = store_log_get(x->f.st, "t", 0);
    if (!x->g) ck_assert_int_eq(store_log_create(x->f.st, "t", 0, cfg, &x->g), SL_OK);
    x->p = partition_new(x->g);
    partition_set_config(x->p, cfg, log_append_time);
}

static void pfx_start(struct pfx *x, const struct log_config *cfg, bool log_append_time) {
    snprintf(x->f.dir, sizeof(x->f.dir), "%s", t_tmpdir());
    pfx_open(x, cfg, log_append_time);
}

static void pfx_close(struct pfx *x) {
    partition_close(x->p);
    x->p = NULL;
    fx_close(&x->f);
}

static void pfx_end(struct pfx *x) {
    if (x->p) pfx_close(x);
    t_rmdir(x->f.dir);
}

static struct log_config t_cfg(enum log_durability d) {
    struct log_config c;
    log_config_defaults(&c);
    c.durability = d;
    c.preallocate_bytes = 0;
    return c;
}

/* Reads the whole log back. */
static size_t t_read(struct log *g, uint8_t **out) { return fx_read_all(g, log_start_offset(g), 1 << 20, out); }

START_TEST(test_append_offsets_and_bytes) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t a[4096], b[4096], expect[8192];
    uint32_t la = t_batch(a, sizeof(a), 3, -1, -1, -1, 1), lb = t_batch(b, sizeof(b), 2, -1, -1, -1, 2);
    memcpy(expect, a, la);
    memcpy(expect + la, b, lb);
    kafka_batch_set_base_offset(expect, 0);
    kafka_batch_set_base_offset(expect + la, 3);
    struct t_done da, db;
    t_done_init(&da, x.g);
    t_done_init(&db, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 5000, &da.d), SL_OK);
    ck_assert_int_eq(partition_append(x.p, b, lb, PARTITION_ACKS_WRITTEN, 5000, &db.d), SL_OK);
    ck_assert_int_eq(da.d.base_offset, 0);
    ck_assert_int_eq(db.d.base_offset, 3);
    ck_assert_int_eq(da.d.log_append_time_ms, -1);
    ck_assert_int_eq(da.d.log_start_offset, 0);
    ck_assert(!da.d.duplicate && !db.d.duplicate);
    ck_assert_int_eq(da.fired + db.fired, 0);
    ck_assert_uint_eq(partition_inflight(x.p), 2);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &db, 10000));
    ck_assert_int_eq(da.fired, 1);
    ck_assert_int_eq(da.err, SL_OK);
    ck_assert_int_eq(db.err, SL_OK);
    ck_assert_uint_eq(partition_inflight(x.p), 0);
    ck_assert_int_eq(partition_high_watermark(x.p), 5);
    uint8_t *got;
    size_t n = t_read(x.g, &got);
    ck_assert_uint_eq(n, la + lb);
    ck_assert_mem_eq(got, expect, n);
    free(got);
    pfx_end(&x);
}
END_TEST

/* A follower that takes the lead knows its log holds what its predecessor committed, but its
 * committed end is what it was last told: it has settled only once its followers' fetches move
 * that end to where its lead began (partition_leader_settled), and not a fetch before. */
START_TEST(test_new_leader_settles_at_its_lead_start) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    ck_assert(partition_leader_settled(x.p)); /* alone */
    partition_replicate(x.p, PARTITION_FOLLOWER, 0, NULL, 0, 30000, 1);
    ck_assert(partition_leader_settled(x.p));
    uint8_t a[4096];
    uint32_t la = t_batch(a, sizeof(a), 3, -1, -1, -1, 7);
    struct t_done da;
    t_done_init(&da, x.g);
    ck_assert_int_eq(partition_append_replica(x.p, a, la, &da.d), SL_OK);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &da, 10000));
    ck_assert_int_eq(da.err, SL_OK);
    partition_follower_hw(x.p, 1); /* the old leader's last word: 1 of 3 committed */
    ck_assert_int_eq(partition_high_watermark(x.p), 1);
    ck_assert(partition_leader_settled(x.p)); /* a follower is never waited for */
    const uint32_t followers[1] = {2};
    partition_replicate(x.p, PARTITION_LEADER, 1, followers, 1, 30000, 2);
    ck_assert_int_eq(partition_high_watermark(x.p), 1);
    ck_assert(!partition_leader_settled(x.p));
    ck_assert(partition_replica_fetched(x.p, 2, 2, 3)); /* the follower holds 2 */
    ck_assert_int_eq(partition_high_watermark(x.p), 2);
    ck_assert(!partition_leader_settled(x.p));
    ck_assert(partition_replica_fetched(x.p, 2, 3, 4)); /* and all 3: the lead's start */
    ck_assert_int_eq(partition_high_watermark(x.p), 3);
    ck_assert(partition_leader_settled(x.p));
    /* The same leader told the same epoch again (a view refresh) stays settled. */
    partition_replicate(x.p, PARTITION_LEADER, 1, followers, 1, 30000, 5);
    ck_assert(partition_leader_settled(x.p));
    pfx_end(&x);
}
END_TEST

/* The client's CRC is checked before LogAppendTime reseals it: a batch corrupted in transit is
 * refused on such a topic, and nothing is appended. */
START_TEST(test_log_append_time_refuses_corrupt_batch) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, true);
    uint8_t a[4096];
    uint32_t la = t_batch(a, sizeof(a), 2, -1, -1, -1, 3);
    a[la - 5] ^= 0x40; /* a record byte; the header (and its CRC field) untouched */
    struct t_done d;
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 7777, &d.d), SL_CORRUPT);
    ck_assert_int_eq(log_end_offset(x.g), 0);
    ck_assert_uint_eq(partition_inflight(x.p), 0);
    ck_assert_int_eq(sl_load_be16(a + 21) & KAFKA_ATTR_LOG_APPEND_TIME, 0); /* not stamped either */
    ck_assert_int_eq(d.fired, 0);
    pfx_end(&x);
}
END_TEST

START_TEST(test_log_append_time_stamps_and_reseals) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, true);
    uint8_t a[4096];
    uint32_t la = t_batch(a, sizeof(a), 2, -1, -1, -1, 4);
    struct t_done d;
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 7777, &d.d), SL_OK);
    ck_assert_int_eq(d.d.log_append_time_ms, 7777);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d, 10000));
    uint8_t *got;
    size_t n = t_read(x.g, &got);
    ck_assert_uint_eq(n, la);
    struct kafka_batch_header h;
    ck_assert_int_eq(kafka_batch_check(got, n, &h), SL_OK);
    ck_assert_int_eq(h.attributes & KAFKA_ATTR_LOG_APPEND_TIME, KAFKA_ATTR_LOG_APPEND_TIME);
    ck_assert_int_eq(h.max_timestamp, 7777);
    ck_assert_int_eq(h.first_timestamp, 1000);
    ck_assert_mem_eq(got + KAFKA_BATCH_HEADER_BYTES, a + KAFKA_BATCH_HEADER_BYTES, la - KAFKA_BATCH_HEADER_BYTES);
    free(got);
    pfx_end(&x);
}
END_TEST

START_TEST(test_check_errors) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    c.batch_bytes_max = 300;
    pfx_start(&x, &c, false);
    uint8_t a[4096];
    struct t_done d;
    t_done_init(&d, x.g);
    uint32_t la = t_batch(a, sizeof(a), 8, -1, -1, -1, 5);
    ck_assert_uint_gt(la, 300);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_TOO_LARGE);
    la = t_batch(a, sizeof(a), 1, -1, -1, -1, 5);
    ck_assert_int_eq(partition_append(x.p, a, 40, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_CORRUPT);
    ck_assert_int_eq(partition_append(x.p, a, la - 1, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_CORRUPT);
    a[16] = 1; /* magic */
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_CORRUPT);
    ck_assert_int_eq(log_end_offset(x.g), 0);
    ck_assert_int_eq(d.fired, 0);
    pfx_end(&x);
}
END_TEST

/* A batch whose header, count and CRC32C are valid but whose records are garbage is refused
 * (Kafka: INVALID_RECORD), and nothing of it reaches the log. */
START_TEST(test_check_garbage_records) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t a[4096];
    struct t_done d;
    t_done_init(&d, x.g);
    uint32_t la = t_batch(a, sizeof(a), 3, -1, -1, -1, 9);
    a[KAFKA_BATCH_HEADER_BYTES] = 0x02; /* the first record's length: 1 byte, so lengths no longer add up */
    kafka_batch_update_crc(a, la);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_INVALID_RECORD);
    la = t_batch(a, sizeof(a), 3, -1, -1, -1, 9);
    a[la - 1] ^= 0x55; /* the last record's value, header untouched: the CRC catches it */
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_CORRUPT);
    ck_assert_int_eq(log_end_offset(x.g), 0);
    ck_assert_int_eq(d.fired, 0);
    pfx_end(&x);
}
END_TEST

/* A batch checked elsewhere (partition_batch_check, as a worker thread does) and appended with
 * partition_append_checked: the verdict is the one partition_append would reach (CRC, records,
 * a compacted topic's keys), and with a ref the log writes from the caller's bytes, releasing
 * the ref once written (never for a refused batch or a duplicate). */
struct t_ref {
    struct log_ref ref;
    int released;
};
static void t_ref_release(struct log_ref *r) { ((struct t_ref *)r)->released++; }

START_TEST(test_append_checked_and_zero_copy) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    c.compact = true;
    pfx_start(&x, &c, false);
    struct kafka_records_scratch scratch;
    kafka_records_scratch_init(&scratch, 0);
    uint8_t a[4096], expect[4096];
    struct t_done d;
    struct t_ref ref = {{t_ref_release}, 0};
    struct partition_batch_check chk;
    /* A broken CRC: refused, nothing appended, the ref never taken. */
    uint32_t la = t_batch(a, sizeof(a), 3, -1, -1, -1, 4);
    a[la - 1] ^= 1;
    partition_batch_check(a, la, &scratch, &chk);
    ck_assert_int_eq(chk.records, SL_CORRUPT);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append_checked(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d, &chk, &ref.ref), SL_CORRUPT);
    /* A record without a key on a compacted topic: INVALID_RECORD, as partition_append says. */
    struct kafka_record_in nokey = {.key = NULL, .key_len = -1, .value = "v", .value_len = 1, .timestamp_ms = 5};
    la = (uint32_t)kafka_batch_encode(a, sizeof(a), &nokey, 1, -1, -1, -1);
    partition_batch_check(a, la, &scratch, &chk);
    ck_assert_int_eq(chk.records, SL_OK);
    ck_assert_int_eq(chk.keyed, SL_INVALID_RECORD);
    ck_assert_int_eq(partition_append_checked(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d, &chk, &ref.ref),
                     partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d));
    ck_assert_int_eq(log_end_offset(x.g), 0);
    /* A good, idempotent batch: written from a, the ref released once; its duplicate takes none. */
    la = t_batch(a, sizeof(a), 3, 7, 0, 0, 4);
    memcpy(expect, a, la);
    partition_batch_check(a, la, &scratch, &chk);
    ck_assert_int_eq(chk.keyed, SL_OK);
    ck_assert_int_eq(partition_append_checked(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d, &chk, &ref.ref), SL_OK);
    ck_assert(!d.d.duplicate);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d, 10000));
    ck_assert_int_eq(d.err, SL_OK);
    for (int i = 0; i < 100 && !ref.released; i++) loop_run_once(&x.f.loop, 1);
    ck_assert_int_eq(ref.released, 1);
    struct t_done dup;
    t_done_init(&dup, x.g);
    uint8_t b[4096];
    memcpy(b, expect, la);
    partition_batch_check(b, la, &scratch, &chk);
    ck_assert_int_eq(partition_append_checked(x.p, b, la, PARTITION_ACKS_WRITTEN, 1, &dup.d, &chk, &ref.ref), SL_OK);
    ck_assert(dup.d.duplicate);
    ck_assert_int_eq(dup.d.base_offset, 0);
    for (int i = 0; i < 20; i++) loop_run_once(&x.f.loop, 1);
    ck_assert_int_eq(ref.released, 1);
    uint8_t *got;
    size_t n = t_read(x.g, &got);
    kafka_batch_set_base_offset(expect, 0);
    ck_assert_uint_eq(n, la);
    ck_assert_mem_eq(got, expect, n);
    free(got);
    kafka_records_scratch_free(&scratch);
    pfx_end(&x);
}
END_TEST

START_TEST(test_idempotence_verdicts) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t a[4096], b[4096];
    uint32_t la = t_batch(a, sizeof(a), 3, 7, 2, 0, 6);
    struct t_done d;
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OK);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d, 10000));
    /* A gap: sequence 4 where 3 comes next. */
    uint32_t lb = t_batch(b, sizeof(b), 1, 7, 2, 4, 7);
    ck_assert_int_eq(partition_append(x.p, b, lb, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OUT_OF_ORDER_SEQUENCE);
    /* An older epoch is fenced. */
    lb = t_batch(b, sizeof(b), 1, 7, 1, 3, 7);
    ck_assert_int_eq(partition_append(x.p, b, lb, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(log_end_offset(x.g), 3);
    /* A corrupt duplicate is corrupt, not a duplicate. */
    uint8_t bad[4096];
    memcpy(bad, a, la);
    bad[la - 3] ^= 1;
    ck_assert_int_eq(partition_append(x.p, bad, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_CORRUPT);
    /* A duplicate of a written batch completes inside the call, with the original offsets. */
    uint32_t la2 = t_batch(a, sizeof(a), 3, 7, 2, 0, 6);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la2, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OK);
    ck_assert_int_eq(d.fired, 1);
    ck_assert_int_eq(d.err, SL_OK);
    ck_assert(d.d.duplicate);
    ck_assert_int_eq(d.d.base_offset, 0);
    ck_assert_int_eq(log_end_offset(x.g), 3);
    /* In sequence: appended. */
    lb = t_batch(b, sizeof(b), 2, 7, 2, 3, 8);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, b, lb, PARTITION_ACKS_NONE, 1, &d.d), SL_OK);
    ck_assert_int_eq(d.d.base_offset, 3);
    ck_assert_int_eq(log_end_offset(x.g), 5);
    /* acks NONE: a duplicate of an unwritten batch answers at once, fn never runs. */
    lb = t_batch(b, sizeof(b), 2, 7, 2, 3, 8);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, b, lb, PARTITION_ACKS_NONE, 1, &d.d), SL_OK);
    ck_assert(d.d.duplicate);
    ck_assert_int_eq(d.d.base_offset, 3);
    fx_flush(x.g);
    ck_assert_int_eq(d.fired, 0);
    ck_assert_int_eq(log_end_offset(x.g), 5);
    pfx_end(&x);
}
END_TEST

/* A duplicate of a batch not yet durable is not acknowledged before the original is. */
START_TEST(test_duplicate_waits_for_durable_original) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_APPEND);
    pfx_start(&x, &c, false);
    uint8_t a[4096], a2[4096], pre[4096];
    uint32_t lp = t_batch(pre, sizeof(pre), 1, -1, -1, -1, 9);
    struct t_done d0, d1, d2;
    t_done_init(&d0, x.g);
    ck_assert_int_eq(partition_append(x.p, pre, lp, PARTITION_ACKS_DURABLE, 1, &d0.d), SL_OK);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d0, 10000));
    uint32_t la = t_batch(a, sizeof(a), 4, 11, 0, 0, 10);
    memcpy(a2, a, la);
    t_done_init(&d1, x.g);
    t_done_init(&d2, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_DURABLE, 1, &d1.d), SL_OK);
    ck_assert_int_eq(partition_append(x.p, a2, la, PARTITION_ACKS_DURABLE, 1, &d2.d), SL_OK);
    ck_assert_int_eq(d1.d.base_offset, 1);
    ck_assert(d2.d.duplicate);
    ck_assert_int_eq(d2.d.base_offset, 1);
    int64_t last = 4;
    ck_assert_int_eq(d2.fired, 0);
    ck_assert_int_le(log_synced_offset(x.g), last);
    ck_assert_uint_eq(partition_inflight(x.p), 2);
    for (int guard = 0; guard < 10000 && !d2.fired; guard++) {
        loop_run_once(&x.f.loop, 10);
        if (!d2.fired) ck_assert_int_le(log_synced_offset(x.g), last);
    }
    ck_assert_int_eq(d2.fired, 1);
    ck_assert_int_eq(d2.err, SL_OK);
    ck_assert_int_gt(d2.synced_at_fire, last);
    ck_assert_int_eq(d1.fired, 1);
    ck_assert_int_gt(d1.synced_at_fire, last);
    ck_assert_int_eq(d2.d.base_offset, 1);
    ck_assert_int_eq(log_end_offset(x.g), 5);
    ck_assert_uint_eq(partition_inflight(x.p), 0);
    pfx_end(&x);
}
END_TEST

/* acks=1 duplicate of an acks=0 original still in the write buffer waits for the write. */
START_TEST(test_duplicate_waits_for_written_original) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t a[4096], a2[4096];
    uint32_t la = t_batch(a, sizeof(a), 2, 12, 0, 0, 11);
    memcpy(a2, a, la);
    struct t_done d1, d2;
    t_done_init(&d1, x.g);
    t_done_init(&d2, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_NONE, 1, &d1.d), SL_OK);
    ck_assert_int_eq(partition_append(x.p, a2, la, PARTITION_ACKS_WRITTEN, 1, &d2.d), SL_OK);
    ck_assert_int_eq(d2.fired, 0);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d2, 10000));
    ck_assert_int_eq(d2.err, SL_OK);
    ck_assert_int_ge(log_written_offset(x.g), 2);
    ck_assert_int_eq(d2.d.base_offset, 0);
    ck_assert_int_eq(d1.fired, 0);
    pfx_end(&x);
}
END_TEST

/* A write that fails leaves no trace in the producer state: the retry is not a duplicate. */
START_TEST(test_failed_append_is_forgotten) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t pre[4096], a[4096], a2[4096];
    uint32_t lp = t_batch(pre, sizeof(pre), 1, 20, 0, 0, 12);
    struct t_done d0, d1, d2;
    t_done_init(&d0, x.g);
    ck_assert_int_eq(partition_append(x.p, pre, lp, PARTITION_ACKS_WRITTEN, 1, &d0.d), SL_OK);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d0, 10000));
    /* The file may grow no further: the next write fails (EFBIG), as a full disk would. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = lp;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint32_t la = t_batch(a, sizeof(a), 3, 20, 0, 1, 13);
    memcpy(a2, a, la);
    t_done_init(&d1, x.g);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_WRITTEN, 1, &d1.d), SL_OK);
    ck_assert_int_eq(d1.d.base_offset, 1);
    int64_t f = -1, l = -1;
    ck_assert_int_eq(pstate_check(partition_pstate(x.p), 20, 0, 1, 3, &f, &l), PSTATE_DUPLICATE); /* pending */
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d1, 10000));
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_eq(d1.err, SL_IO);
    ck_assert_uint_eq(partition_inflight(x.p), 0);
    /* Forgotten: the retry is in sequence again; batch 0 is still a duplicate. */
    ck_assert_int_eq(pstate_check(partition_pstate(x.p), 20, 0, 1, 3, &f, &l), PSTATE_APPEND);
    ck_assert_int_eq(pstate_check(partition_pstate(x.p), 20, 0, 0, 0, &f, &l), PSTATE_DUPLICATE);
    ck_assert_int_eq(f, 0);
    t_done_init(&d2, x.g);
    sl_err e = partition_append(x.p, a2, la, PARTITION_ACKS_WRITTEN, 1, &d2.d);
    /* This log's write errors are sticky: the retry fails rather than being answered with the
     * offsets of a batch that is not there. */
    ck_assert_int_eq(e, SL_IO);
    ck_assert(!d2.d.duplicate);
    ck_assert_int_eq(d2.fired, 0);
    partition_close(x.p);
    x.p = NULL;
    ck_assert_int_eq(store_close(x.f.st), SL_IO);
    x.f.st = NULL;
    loop_close(&x.f.loop);
    t_rmdir(x.f.dir);
}
END_TEST

/* Duplicates keep their original offsets across a restart: from the snapshot written on close,
 * and from the log alone when there is none (a crash). */
static void t_restart(bool keep_snapshot) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t a[4096], b[4096], copy_a[4096], copy_b[4096], pre[4096];
    uint32_t lp = t_batch(pre, sizeof(pre), 2, -1, -1, -1, 20);
    uint32_t la = t_batch(a, sizeof(a), 3, 30, 4, 0, 21), lb = t_batch(b, sizeof(b), 2, 30, 4, 3, 22);
    memcpy(copy_a, a, la);
    memcpy(copy_b, b, lb);
    struct t_done d;
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, pre, lp, PARTITION_ACKS_NONE, 1, &d.d), SL_OK);
    ck_assert_int_eq(partition_append(x.p, a, la, PARTITION_ACKS_NONE, 1, &d.d), SL_OK);
    ck_assert_int_eq(partition_append(x.p, b, lb, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OK);
    ck_assert_int_eq(d.d.base_offset, 5);
    pfx_close(&x); /* waits for the writes, saves the snapshot */
    char snap[512];
    snprintf(snap, sizeof(snap), "%s/t-0/producer_state", x.f.dir);
    ck_assert_int_eq(access(snap, F_OK), 0);
    if (!keep_snapshot) ck_assert_int_eq(unlink(snap), 0);
    pfx_open(&x, &c, false);
    ck_assert_int_eq(log_end_offset(x.g), 7);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, copy_a, la, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OK);
    ck_assert(d.d.duplicate);
    ck_assert_int_eq(d.d.base_offset, 2);
    ck_assert_int_eq(d.fired, 1);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, copy_b, lb, PARTITION_ACKS_DURABLE, 1, &d.d), SL_OK);
    ck_assert(d.d.duplicate);
    ck_assert_int_eq(d.d.base_offset, 5);
    ck_assert_int_eq(d.fired, 1);
    ck_assert_int_eq(log_end_offset(x.g), 7);
    /* The next in sequence is appended. */
    uint32_t ln = t_batch(a, sizeof(a), 1, 30, 4, 5, 23);
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append(x.p, a, ln, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OK);
    ck_assert(!d.d.duplicate);
    ck_assert_int_eq(d.d.base_offset, 7);
    ck_assert(loop_run_until(&x.f.loop, t_fired, &d, 10000));
    pfx_end(&x);
}

START_TEST(test_restart_with_snapshot) { t_restart(true); }
END_TEST

START_TEST(test_restart_without_snapshot) { t_restart(false); }
END_TEST

/* ---- the topic registry ---- */

START_TEST(test_topics_partitions_and_streams) {
    struct fx f;
    fx_start(&f, NULL);
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    struct topics *t;
    ck_assert_int_eq(topics_open(&t, f.st, f.dir, &c), SL_OK);
    const char *why = NULL;
    const char *keys[] = {"message.timestamp.type"}, *vals[] = {"LogAppendTime"};
    struct topic *tp;
    ck_assert_int_eq(topics_create(t, "orders", 6, 2, keys, vals, 1, false, &tp, &why), SL_OK);
    ck_assert_int_eq(tp->retention, TOPIC_RETENTION_LIMITS);
    ck_assert(tp->log_append_time);
    ck_assert_ptr_nonnull(topic_partition(tp, 0));
    ck_assert_ptr_nonnull(topic_partition(tp, 1));
    ck_assert_ptr_null(topic_partition(tp, 2));
    ck_assert_ptr_null(topic_partition(tp, -1));
    ck_assert_int_eq(topics_set_retention(tp, TOPIC_RETENTION_WORKQUEUE, &why), SL_INVALID_CONFIG);
    ck_assert_int_eq(topics_set_retention(tp, TOPIC_RETENTION_INTEREST, &why), SL_INVALID_CONFIG);
    ck_assert_int_eq(topics_set_retention(tp, TOPIC_RETENTION_LIMITS, &why), SL_OK);
    ck_assert_int_eq(tp->retention, TOPIC_RETENTION_LIMITS);
    ck_assert_int_eq(topics_bind_subject(tp, "orders.*.new", &why), SL_OK);
    ck_assert_int_eq(topics_bind_subject(tp, "orders.>", &why), SL_OK);
    ck_assert_int_eq(topics_bind_subject(tp, "orders.>", &why), SL_EXISTS);
    ck_assert_int_eq(topics_bind_subject(tp, "orders.>.x", &why), SL_INVALID_ARG);
    ck_assert_int_eq(topics_bind_subject(tp, "orders..x", &why), SL_INVALID_ARG);
    ck_assert_int_eq(topics_bind_subject(tp, "a b", &why), SL_INVALID_ARG);
    ck_assert_int_eq(topics_bind_subject(tp, "ab*", &why), SL_INVALID_ARG);
    ck_assert_int_eq(topics_bind_subject(tp, "", &why), SL_INVALID_ARG);
    ck_assert_uint_eq(tp->subject_count, 2);
    ck_assert_str_eq(tp->subjects[0], "orders.*.new");
    ck_assert_str_eq(tp->subjects[1], "orders.>");
    ck_assert_int_eq(topics_unbind_subject(tp, "orders.*.new"), SL_OK);
    ck_assert_int_eq(topics_unbind_subject(tp, "orders.*.new"), SL_NOT_FOUND);
    ck_assert_uint_eq(tp->subject_count, 1);
    ck_assert_str_eq(tp->subjects[0], "orders.>");
    /* The topic's config reaches its partitions: LogAppendTime stamps. */
    uint8_t a[4096];
    uint32_t la = t_batch(a, sizeof(a), 1, 40, 0, 0, 30);
    struct t_done d;
    t_done_init(&d, partition_log(topic_partition(tp, 1)));
    ck_assert_int_eq(partition_append(topic_partition(tp, 1), a, la, PARTITION_ACKS_WRITTEN, 99, &d.d), SL_OK);
    ck_assert_int_eq(d.d.log_append_time_ms, 99);
    ck_assert(loop_run_until(&f.loop, t_fired, &d, 10000));
    ck_assert_int_eq(topics_add_partitions(t, tp, 3, false, &why), SL_OK);
    ck_assert_ptr_nonnull(topic_partition(tp, 2));
    ck_assert_int_eq(topics_set_config(t, tp, "message.timestamp.type", "CreateTime", &why), SL_OK);
    ck_assert(!tp->log_append_time);
    la = t_batch(a, sizeof(a), 1, 40, 0, 1, 31);
    t_done_init(&d, NULL);
    ck_assert_int_eq(partition_append(topic_partition(tp, 1), a, la, PARTITION_ACKS_WRITTEN, 99, &d.d), SL_OK);
    ck_assert_int_eq(d.d.log_append_time_ms, -1);
    ck_assert_int_eq(d.d.base_offset, 1);
    ck_assert(loop_run_until(&f.loop, t_fired, &d, 10000));
    /* Producer state survives a registry close and reopen (saved by the partitions). */
    topics_close(t);
    ck_assert_int_eq(topics_open(&t, f.st, f.dir, &c), SL_OK);
    tp = topics_get(t, "orders", 6);
    ck_assert_ptr_nonnull(tp);
    ck_assert_int_eq(tp->partition_count, 3);
    ck_assert(!tp->log_append_time);
    la = t_batch(a, sizeof(a), 1, 40, 0, 1, 31);
    t_done_init(&d, NULL);
    ck_assert_int_eq(partition_append(topic_partition(tp, 1), a, la, PARTITION_ACKS_WRITTEN, 99, &d.d), SL_OK);
    ck_assert(d.d.duplicate);
    ck_assert_int_eq(d.d.base_offset, 1);
    ck_assert_int_eq(topics_delete(t, tp), SL_OK);
    ck_assert_ptr_null(topics_get(t, "orders", 6));
    topics_close(t);
    fx_end(&f);
}
END_TEST

/* ---- transactions ---- */

/* t_batch with the transactional attribute (CRC resealed). */
static uint32_t t_txn_batch(uint8_t *out, size_t cap, uint32_t nrec, int64_t pid, int16_t epoch, int32_t seq, uint64_t tag) {
    uint32_t n = t_batch(out, cap, nrec, pid, epoch, seq, tag);
    sl_store_be16(out + 21, (uint16_t)(sl_load_be16(out + 21) | KAFKA_ATTR_TRANSACTIONAL));
    kafka_batch_update_crc(out, n);
    return n;
}

static void t_append_ok(struct pfx *x, uint8_t *b, uint32_t len, int64_t want_base) {
    struct t_done d;
    t_done_init(&d, x->g);
    ck_assert_int_eq(partition_append(x->p, b, len, PARTITION_ACKS_WRITTEN, 1, &d.d), SL_OK);
    ck_assert_int_eq(d.d.base_offset, want_base);
    ck_assert(loop_run_until(&x->f.loop, t_fired, &d, 10000));
    ck_assert_int_eq(d.err, SL_OK);
}

static void t_marker_ok(struct pfx *x, int64_t pid, int16_t epoch, bool commit, int64_t want_base) {
    struct t_done d;
    t_done_init(&d, x->g);
    ck_assert_int_eq(partition_append_marker(x->p, pid, epoch, commit, 3, PARTITION_ACKS_DURABLE, 1, &d.d), SL_OK);
    ck_assert_int_eq(d.d.base_offset, want_base);
    ck_assert(loop_run_until(&x->f.loop, t_fired, &d, 10000));
    ck_assert_int_eq(d.err, SL_OK);
}

/* The LSO, the aborted ranges and reads bounded by the LSO, as a read_committed reader sees
 * them; the same after a restart with and without the producer-state snapshot. */
static void t_txn(bool keep_snapshot) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t b[4096];
    ck_assert_int_eq(partition_last_stable_offset(x.p), 0);
    t_append_ok(&x, b, t_txn_batch(b, sizeof(b), 3, 7, 0, 0, 1), 0); /* pid 7: 0..2 */
    ck_assert_int_eq(partition_last_stable_offset(x.p), 0);
    t_append_ok(&x, b, t_batch(b, sizeof(b), 1, -1, -1, -1, 2), 3); /* plain: 3 */
    t_append_ok(&x, b, t_txn_batch(b, sizeof(b), 2, 8, 0, 0, 3), 4); /* pid 8: 4..5 */
    ck_assert_int_eq(partition_high_watermark(x.p), 6);
    ck_assert_int_eq(partition_last_stable_offset(x.p), 0);
    struct log_span sp;
    ck_assert_int_eq(partition_read_upto(x.p, 0, 0, 1 << 20, &sp), SL_OK);
    ck_assert_uint_eq(sp.len, 0);
    log_span_release(&sp);
    t_marker_ok(&x, 7, 0, false, 6); /* abort pid 7 */
    ck_assert_int_eq(partition_last_stable_offset(x.p), 4);
    ck_assert_int_eq(partition_read_upto(x.p, 0, 4, 1 << 20, &sp), SL_OK);
    ck_assert_int_eq(sp.base_offset, 0);
    ck_assert_int_eq(sp.next_offset, 4); /* batches 0..2 and 3, not pid 8's */
    log_span_release(&sp);
    /* A zombie's marker (older epoch) is refused; a newer epoch fences the old one's batches. */
    t_marker_ok(&x, 8, 0, true, 7); /* commit pid 8 */
    ck_assert_int_eq(partition_last_stable_offset(x.p), 8);
    t_marker_ok(&x, 7, 1, false, 8); /* nothing open for 7: appended, no new range */
    struct t_done d;
    t_done_init(&d, x.g);
    ck_assert_int_eq(partition_append_marker(x.p, 7, 0, true, 3, PARTITION_ACKS_WRITTEN, 1, &d.d),
                     SL_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(partition_append(x.p, b, t_txn_batch(b, sizeof(b), 1, 7, 0, 3, 4), PARTITION_ACKS_WRITTEN, 1, &d.d),
                     SL_INVALID_PRODUCER_EPOCH);
    t_append_ok(&x, b, t_txn_batch(b, sizeof(b), 2, 9, 0, 0, 5), 9); /* pid 9 stays open: 9..10 */
    ck_assert_int_eq(partition_last_stable_offset(x.p), 9);
    for (int round = 0; round < 2; round++) {
        struct log_aborted_txn ab[4];
        ck_assert_uint_eq(partition_aborted_txns(x.p, 0, 11, ab, 4), 1);
        ck_assert_int_eq(ab[0].producer_id, 7);
        ck_assert_int_eq(ab[0].first_offset, 0);
        ck_assert_int_eq(ab[0].last_offset, 6);
        ck_assert_uint_eq(partition_aborted_txns(x.p, 6, 7, ab, 4), 1);
        ck_assert_uint_eq(partition_aborted_txns(x.p, 7, 11, ab, 4), 0);
        ck_assert_int_eq(partition_last_stable_offset(x.p), 9);
        if (round == 1) break;
        pfx_close(&x);
        char snap[512];
        snprintf(snap, sizeof(snap), "%s/t-0/producer_state", x.f.dir);
        ck_assert_int_eq(access(snap, F_OK), 0);
        if (!keep_snapshot) ck_assert_int_eq(unlink(snap), 0);
        pfx_open(&x, &c, false);
    }
    /* pid 7's last marker came from coordinator epoch 3, after the restart too (the snapshot
     * or the replay of the marker): a deposed coordinator's (2) is fenced, a newer one's not. */
    struct t_done dz;
    t_done_init(&dz, x.g);
    ck_assert_int_eq(partition_append_marker(x.p, 7, 1, false, 2, PARTITION_ACKS_WRITTEN, 1, &dz.d),
                     SL_TRANSACTION_COORDINATOR_FENCED);
    ck_assert_int_eq(sl_err_kafka(SL_TRANSACTION_COORDINATOR_FENCED), 52);
    /* pid 9's batch of epoch 0 and sequence 2 follows after the restart too. */
    t_append_ok(&x, b, t_txn_batch(b, sizeof(b), 1, 9, 0, 2, 6), 11);
    t_marker_ok(&x, 9, 0, false, 12);
    ck_assert_int_eq(partition_last_stable_offset(x.p), 13);
    struct log_aborted_txn ab[4];
    ck_assert_uint_eq(partition_aborted_txns(x.p, 0, 13, ab, 4), 2);
    ck_assert_int_eq(ab[1].producer_id, 9);
    ck_assert_int_eq(ab[1].first_offset, 9);
    ck_assert_int_eq(ab[1].last_offset, 12);
    pfx_end(&x);
}

START_TEST(test_txn_with_snapshot) { t_txn(true); }
END_TEST
START_TEST(test_txn_without_snapshot) { t_txn(false); }
END_TEST

/* A partition that never held a transaction has no flag file and never loads its producer
 * state for the LSO. */
START_TEST(test_txn_flag_only_when_used) {
    struct pfx x;
    struct log_config c = t_cfg(LOG_DURABILITY_NONE);
    pfx_start(&x, &c, false);
    uint8_t b[4096];
    t_append_ok(&x, b, t_batch(b, sizeof(b), 2, -1, -1, -1, 1), 0);
    ck_assert_int_eq(partition_last_stable_offset(x.p), 2);
    char flag[512];
    snprintf(flag, sizeof(flag), "%s/t-0/transactions", x.f.dir);
    ck_assert_int_ne(access(flag, F_OK), 0);
    t_append_ok(&x, b, t_txn_batch(b, sizeof(b), 1, 5, 0, 0, 2), 2);
    ck_assert_int_eq(access(flag, F_OK), 0);
    ck_assert_int_eq(partition_last_stable_offset(x.p), 2);
    pfx_end(&x);
}
END_TEST

static Suite *partition_suite(void) {
    Suite *s = suite_create("broker/core/partition");
    TCase *tc = tcase_create("append");
    tcase_add_test(tc, test_append_offsets_and_bytes);
    tcase_add_test(tc, test_log_append_time_refuses_corrupt_batch);
    tcase_add_test(tc, test_log_append_time_stamps_and_reseals);
    tcase_add_test(tc, test_check_errors);
    tcase_add_test(tc, test_check_garbage_records);
    suite_add_tcase(s, tc);
    tc = tcase_create("idempotence");
    tcase_add_test(tc, test_append_checked_and_zero_copy);
    tcase_add_test(tc, test_idempotence_verdicts);
    tcase_add_test(tc, test_duplicate_waits_for_durable_original);
    tcase_add_test(tc, test_duplicate_waits_for_written_original);
    tcase_add_test(tc, test_failed_append_is_forgotten);
    tcase_add_test(tc, test_new_leader_settles_at_its_lead_start);
    tcase_add_test(tc, test_restart_with_snapshot);
    tcase_add_test(tc, test_restart_without_snapshot);
    suite_add_tcase(s, tc);
    tc = tcase_create("transactions");
    tcase_add_test(tc, test_txn_with_snapshot);
    tcase_add_test(tc, test_txn_without_snapshot);
    tcase_add_test(tc, test_txn_flag_only_when_used);
    suite_add_tcase(s, tc);
    tc = tcase_create("topics");
    tcase_add_test(tc, test_topics_partitions_and_streams);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *r = srunner_create(partition_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
