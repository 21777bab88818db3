/* protocol_kafka_batch_test.c: Check suite for protocol/kafka_batch.c: varint edges, a batch
 * produced by another Kafka implementation, encode -> check -> walk round trips, and the
 * refusals Produce and recovery rely on (bit flips, truncation, bad lengths, bad counts,
 * malformed records). Meant to run under ASan: a malformed batch may fail, never crash. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "protocol/crc32c.h"
#include "protocol/kafka_batch.h"
#include "testutil.h"

/* ---- helpers ---- */

static uint8_t *encode_or_die(const struct kafka_record_in *recs, uint32_t n, size_t *len) {
    size_t cap = kafka_batch_encoded_bytes_max(recs, n);
    ck_assert_uint_gt(cap, 0);
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    *len = kafka_batch_encode(buf, cap, recs, n, -1, -1, -1);
    ck_assert_uint_eq(*len, cap);
    return buf;
}

static void expect_bytes(const uint8_t *got, int32_t got_len, const void *want, int32_t want_len) {
    ck_assert_int_eq(got_len, want_len);
    if (want_len < 0) {
        ck_assert_ptr_null(got);
    } else if (want_len > 0) {
        ck_assert_ptr_nonnull(got);
        ck_assert_mem_eq(got, want, (size_t)want_len);
    }
}

/* Walks the batch and compares every field with what was encoded. */
static void expect_records(const uint8_t *batch, size_t len, const struct kafka_record_in *recs, uint32_t n,
                           int64_t base_offset) {
    struct kafka_record_iter it;
    struct kafka_record rec;
    ck_assert_int_eq(kafka_record_iter_init(&it, batch, len), SL_OK);
    ck_assert_int_eq(it.h.record_count, (int32_t)n);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_int_eq(kafka_record_next(&it, &rec), SL_OK);
        ck_assert_int_eq(rec.offset, base_offset + i);
        ck_assert_int_eq(rec.timestamp, recs[i].timestamp_ms);
        ck_assert_int_eq(rec.attributes, 0);
        expect_bytes(rec.key, rec.key_len, recs[i].key, recs[i].key_len);
        expect_bytes(rec.value, rec.value_len, recs[i].value, recs[i].value_len);
        ck_assert_uint_eq(rec.header_count, recs[i].header_count);
        const uint8_t *hp = rec.headers, *hend = rec.headers + rec.headers_len;
        for (uint32_t k = 0; k < rec.header_count; k++) {
            struct kafka_header h;
            ck_assert_int_eq(kafka_header_next(&hp, hend, &h), SL_OK);
            expect_bytes(h.key, h.key_len, recs[i].headers[k].key, recs[i].headers[k].key_len);
            expect_bytes(h.value, h.value_len, recs[i].headers[k].value, recs[i].headers[k].value_len);
        }
        struct kafka_header h;
        ck_assert_int_eq(kafka_header_next(&hp, hend, &h), SL_NOT_FOUND);
    }
    ck_assert_int_eq(kafka_record_next(&it, &rec), SL_NOT_FOUND);
    ck_assert_int_eq(kafka_record_next(&it, &rec), SL_NOT_FOUND);
}

/* Iterates to the end; returns the first non-OK result. */
static sl_err walk_all(const uint8_t *batch, size_t len) {
    struct kafka_record_iter it;
    struct kafka_record rec;
    sl_err e = kafka_record_iter_init(&it, batch, len);
    if (e) return e;
    for (int guard = 0; guard < 1000000; guard++) {
        e = kafka_record_next(&it, &rec);
        if (e != SL_OK) return e;
        if (rec.key_len > 0) (void)rec.key[rec.key_len - 1];
        if (rec.value_len > 0) (void)rec.value[rec.value_len - 1];
        if (rec.headers_len > 0) (void)rec.headers[rec.headers_len - 1];
    }
    ck_abort_msg("record walk did not end");
    return SL_OK;
}

/* A batch around hand-written record bytes, with a valid header and CRC. */
static size_t build_raw(uint8_t *out, const uint8_t *records, size_t rlen, int32_t count) {
    memset(out, 0, KAFKA_BATCH_HEADER_BYTES);
    size_t len = KAFKA_BATCH_HEADER_BYTES + rlen;
    sl_store_be32(out + 8, (uint32_t)(len - KAFKA_BATCH_LOG_OVERHEAD));
    out[16] = 2;
    sl_store_be32(out + 23, (uint32_t)(count - 1));
    sl_store_be32(out + 57, (uint32_t)count);
    memcpy(out + KAFKA_BATCH_HEADER_BYTES, records, rlen);
    kafka_batch_update_crc(out, len);
    return len;
}

static const uint8_t k_key[] = "key";
static const uint8_t k_val[] = "value";

/* ---- varints ---- */

START_TEST(test_varint_edges_round_trip) {
    static const int64_t vals[] = {0,         1,         -1,        63,        -64,       64,       -65,
                                   300,       INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX, (int64_t)INT32_MAX + 1};
    for (size_t i = 0; i < SL_ARRAY_LEN(vals); i++) {
        uint8_t buf[KAFKA_VARINT_BYTES_MAX + 4];
        memset(buf, 0xAA, sizeof buf);
        size_t n = kafka_varint_put(buf, vals[i]);
        ck_assert_uint_le(n, KAFKA_VARINT_BYTES_MAX);
        ck_assert_uint_eq(n, kafka_varint_size(vals[i]));
        ck_assert_uint_eq(buf[n], 0xAA);
        const uint8_t *p = buf;
        int64_t v = 12345;
        ck_assert_int_eq(kafka_varint_get(&p, buf + n, &v), SL_OK);
        ck_assert_int_eq(v, vals[i]);
        ck_assert_ptr_eq(p, buf + n);
    }
}
END_TEST

START_TEST(test_varint_known_encodings) {
    uint8_t buf[KAFKA_VARINT_BYTES_MAX];
    ck_assert_uint_eq(kafka_varint_put(buf, 0), 1);
    ck_assert_uint_eq(buf[0], 0x00);
    ck_assert_uint_eq(kafka_varint_put(buf, -1), 1);
    ck_assert_uint_eq(buf[0], 0x01);
    ck_assert_uint_eq(kafka_varint_put(buf, 1), 1);
    ck_assert_uint_eq(buf[0], 0x02);
    ck_assert_uint_eq(kafka_varint_put(buf, -64), 1);
    ck_assert_uint_eq(buf[0], 0x7F);
    ck_assert_uint_eq(kafka_varint_put(buf, 64), 2);
    ck_assert_mem_eq(buf, "\x80\x01", 2);
    ck_assert_uint_eq(kafka_varint_put(buf, INT32_MAX), 5);
    ck_assert_mem_eq(buf, "\xFE\xFF\xFF\xFF\x0F", 5);
    ck_assert_uint_eq(kafka_varint_put(buf, INT32_MIN), 5);
    ck_assert_mem_eq(buf, "\xFF\xFF\xFF\xFF\x0F", 5);
    ck_assert_uint_eq(kafka_varint_put(buf, INT64_MIN), 10);
    ck_assert_mem_eq(buf, "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 10);
    ck_assert_uint_eq(kafka_varint_put(buf, INT64_MAX), 10);
    ck_assert_mem_eq(buf, "\xFE\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 10);
}
END_TEST

START_TEST(test_varint_get_malformed) {
    int64_t v = 7;
    const uint8_t *p;
    static const uint8_t cont[] = {0x80, 0x80};
    p = cont;
    ck_assert_int_eq(kafka_varint_get(&p, cont, &v), SL_UNDERFLOW);
    ck_assert_int_eq(kafka_varint_get(&p, cont + 2, &v), SL_UNDERFLOW);
    ck_assert_ptr_eq(p, cont); /* not advanced on failure */
    static const uint8_t eleven[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x00};
    p = eleven;
    ck_assert_int_eq(kafka_varint_get(&p, eleven + sizeof eleven, &v), SL_CORRUPT);
    static const uint8_t wide[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02};
    p = wide;
    ck_assert_int_eq(kafka_varint_get(&p, wide + sizeof wide, &v), SL_CORRUPT);
    static const uint8_t min[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    p = min;
    ck_assert_int_eq(kafka_varint_get(&p, min + sizeof min, &v), SL_OK);
    ck_assert_int_eq(v, INT64_MIN);
    /* Over-long but in range: other encoders may pad, and the value is still exact. */
    static const uint8_t padded[] = {0x82, 0x80, 0x00};
    p = padded;
    ck_assert_int_eq(kafka_varint_get(&p, padded + sizeof padded, &v), SL_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_eq(p, padded + 3);
}
END_TEST

/* ---- a batch from another implementation ---- */

/* One uncompressed record as IBM/sarama's record tests encode it (their "uncompressed record"
 * case): key 01020304, value 050607, one header 08090A = 0B0C, first timestamp 1479847795000,
 * timestamp delta 5, max timestamp 0, producer fields 0, CRC 0x547961FD. */
static const uint8_t k_foreign_batch[82] = {
    0, 0, 0, 0, 0, 0, 0, 0,                    /* baseOffset */
    0, 0, 0, 70,                               /* batchLength */
    0, 0, 0, 0,                                /* partitionLeaderEpoch */
    2,                                         /* magic */
    0x54, 0x79, 0x61, 0xFD,                    /* crc */
    0, 0,                                      /* attributes */
    0, 0, 0, 0,                                /* lastOffsetDelta */
    0, 0, 0x01, 0x58, 0x8D, 0xCD, 0x59, 0x38,  /* firstTimestamp */
    0, 0, 0, 0, 0, 0, 0, 0,                    /* maxTimestamp */
    0, 0, 0, 0, 0, 0, 0, 0,                    /* producerId */
    0, 0,                                      /* producerEpoch */
    0, 0, 0, 0,                                /* baseSequence */
    0, 0, 0, 1,                                /* recordsCount */
    0x28, 0, 0x0A, 0, 0x08, 1, 2, 3, 4, 0x06, 5, 6, 7, 0x02, 0x06, 8, 9, 10, 0x04, 11, 12,
};

START_TEST(test_foreign_batch_decodes) {
    struct kafka_batch_header h;
    ck_assert_int_eq(kafka_batch_check(k_foreign_batch, sizeof k_foreign_batch, &h), SL_OK);
    ck_assert_int_eq(h.base_offset, 0);
    ck_assert_int_eq(h.batch_length, 70);
    ck_assert_int_eq(h.magic, 2);
    ck_assert_uint_eq(h.crc, 0x547961FDu);
    ck_assert_int_eq(h.first_timestamp, 1479847795000LL);
    ck_assert_int_eq(h.record_count, 1);
    ck_assert_int_eq(kafka_batch_compression(&h), 0);

    static const uint8_t key[] = {1, 2, 3, 4}, value[] = {5, 6, 7}, hk[] = {8, 9, 10}, hv[] = {11, 12};
    struct kafka_header_in hdr = {hk, 3, hv, 2};
    struct kafka_record_in rec = {key, 4, value, 3, 1479847795005LL, &hdr, 1};
    expect_records(k_foreign_batch, sizeof k_foreign_batch, &rec, 1, 0);
}
END_TEST

/* Our encoder must lay the records out byte for byte as the other implementation did. It
 * differs by design in three places: firstTimestamp is the first record's own (so its delta is
 * 0, not 5), partitionLeaderEpoch is -1 and maxTimestamp is set. */
START_TEST(test_encoder_matches_foreign_records) {
    static const uint8_t key[] = {1, 2, 3, 4}, value[] = {5, 6, 7}, hk[] = {8, 9, 10}, hv[] = {11, 12};
    struct kafka_header_in hdr = {hk, 3, hv, 2};
    struct kafka_record_in rec = {key, 4, value, 3, 1479847795005LL, &hdr, 1};
    uint8_t buf[128], want[sizeof k_foreign_batch];
    size_t len = kafka_batch_encode(buf, sizeof buf, &rec, 1, 0, 0, 0);
    ck_assert_uint_eq(len, sizeof k_foreign_batch);
    memcpy(want, k_foreign_batch, sizeof want);
    sl_store_be64(want + 27, 1479847795005ull);
    want[KAFKA_BATCH_HEADER_BYTES + 2] = 0x00; /* the record's timestamp delta */
    ck_assert_mem_eq(buf + 21, want + 21, 35 - 21); /* attributes .. firstTimestamp */
    ck_assert_mem_eq(buf + 43, want + 43, len - 43); /* producer fields, count, the record */
    ck_assert_mem_eq(buf, want, 12);
    ck_assert_int_eq(buf[16], 2);
    ck_assert_int_eq((int32_t)sl_load_be32(buf + 12), -1);
    ck_assert_int_eq((int64_t)sl_load_be64(buf + 35), 1479847795005LL);
    /* The fixture's values in those two fields make the whole batch equal. */
    memcpy(buf + 12, want + 12, 4);
    memcpy(buf + 35, want + 35, 8);
    kafka_batch_update_crc(buf, len);
    ck_assert_mem_eq(buf + 21, want + 21, len - 21);
    ck_assert_int_eq(kafka_batch_check(buf, len, NULL), SL_OK);
}
END_TEST

/* ---- round trips ---- */

START_TEST(test_round_trip_keys_values_headers) {
    enum { BIG = 300 * 1000 };
    uint8_t *big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    t_fill_random(big, BIG, 5);
    static const uint8_t e[1] = {0};
    struct kafka_header_in hdrs[] = {
        {"trace", 5, "abc", 3}, {"trace", 5, "def", 3}, {"trace", 5, NULL, -1}, {"", 0, "", 0}, {"x", 1, big, 70000},
    };
    struct kafka_record_in recs[] = {
        {NULL, -1, NULL, -1, 1000, NULL, 0},   /* null key, null value */
        {e, 0, e, 0, 1001, NULL, 0},           /* empty key, empty value */
        {k_key, 3, k_val, 5, 999, hdrs, 5},    /* earlier than the first: negative delta */
        {big, BIG, NULL, -1, 5000, hdrs, 2},   /* large key */
        {NULL, -1, big, BIG, 4000, hdrs + 2, 1}, /* large value, null header value only */
        {big + 7, 200, big + 9, 129, -3, NULL, 0}, /* a timestamp before the epoch */
    };
    uint32_t n = SL_ARRAY_LEN(recs);
    size_t len;
    uint8_t *batch = encode_or_die(recs, n, &len);
    struct kafka_batch_header h;
    ck_assert_int_eq(kafka_batch_check(batch, len, &h), SL_OK);
    ck_assert_int_eq(h.base_offset, 0);
    ck_assert_int_eq(h.batch_length, (int32_t)(len - 12));
    ck_assert_int_eq(h.partition_leader_epoch, -1);
    ck_assert_int_eq(h.attributes, 0);
    ck_assert_int_eq(h.last_offset_delta, (int32_t)n - 1);
    ck_assert_int_eq(h.first_timestamp, 1000);
    ck_assert_int_eq(h.max_timestamp, 5000);
    ck_assert_int_eq(h.producer_id, -1);
    ck_assert_int_eq(h.producer_epoch, -1);
    ck_assert_int_eq(h.base_sequence, -1);
    ck_assert_int_eq(kafka_batch_last_offset(&h), (int64_t)n - 1);
    expect_records(batch, len, recs, n, 0);
    free(batch);
    free(big);
}
END_TEST

START_TEST(test_round_trip_1000_records) {
    enum { N = 1000 };
    static struct kafka_record_in recs[N];
    static char keys[N][16];
    static uint8_t vals[N * 8];
    struct kafka_header_in hdr = {"seq", 3, NULL, -1};
    t_fill_random(vals, sizeof vals, 9);
    for (int i = 0; i < N; i++) {
        int klen = snprintf(keys[i], sizeof keys[i], "k%d", i);
        recs[i] = (struct kafka_record_in){keys[i], klen, vals + i * 8, i % 9 - 1, 1700000000000LL + i * 37 % 101,
                                           i % 3 ? &hdr : NULL, i % 3 ? 1u : 0u};
        if (recs[i].value_len < 0) recs[i].value = NULL;
    }
    size_t len;
    uint8_t *batch = encode_or_die(recs, N, &len);
    struct kafka_batch_header h;
    ck_assert_int_eq(kafka_batch_check(batch, len, &h), SL_OK);
    ck_assert_int_eq(h.record_count, N);
    ck_assert_int_eq(h.last_offset_delta, N - 1);
    ck_assert_int_eq(h.max_timestamp, 1700000000000LL + 100);
    expect_records(batch, len, recs, N, 0);

    kafka_batch_set_base_offset(batch, 1LL << 40);
    ck_assert_int_eq(kafka_batch_check(batch, len, &h), SL_OK);
    ck_assert_int_eq(kafka_batch_last_offset(&h), (1LL << 40) + N - 1);
    expect_records(batch, len, recs, N, 1LL << 40);
    free(batch);
}
END_TEST

START_TEST(test_encode_producer_fields_and_caps) {
    struct kafka_record_in rec = {k_key, 3, k_val, 5, 77, NULL, 0};
    uint8_t buf[256];
    size_t need = kafka_batch_encoded_bytes_max(&rec, 1);
    ck_assert_uint_eq(need, 61 + 1 + 1 + 1 + 1 + 1 + 3 + 1 + 5 + 1);
    ck_assert_uint_eq(kafka_batch_encode(buf, need - 1, &rec, 1, 1, 2, 3), 0);
    ck_assert_uint_eq(kafka_batch_encode(buf, sizeof buf, &rec, 0, 1, 2, 3), 0);
    ck_assert_uint_eq(kafka_batch_encoded_bytes_max(&rec, 0), 0);
    ck_assert_uint_eq(kafka_batch_encode(buf, need, &rec, 1, 123456789012LL, 5, 4242), need);
    struct kafka_batch_header h;
    ck_assert_int_eq(kafka_batch_check(buf, need, &h), SL_OK);
    ck_assert_int_eq(h.producer_id, 123456789012LL);
    ck_assert_int_eq(h.producer_epoch, 5);
    ck_assert_int_eq(h.base_sequence, 4242);
    ck_assert_int_eq(h.first_timestamp, 77);
    ck_assert_int_eq(h.max_timestamp, 77);
}
END_TEST

/* A commit marker is Kafka's EndTransactionMarker: a transactional control batch of one
 * record, key {0, 1}, value {0, coordinator epoch}, base sequence -1, a valid CRC. */
START_TEST(test_control_batch_encode_and_parse) {
    uint8_t buf[KAFKA_CONTROL_BATCH_BYTES];
    ck_assert_uint_eq(kafka_control_batch_encode(buf, sizeof buf - 1, KAFKA_CONTROL_COMMIT, 1, 2, 3, 4), 0);
    for (int t = KAFKA_CONTROL_ABORT; t <= KAFKA_CONTROL_COMMIT; t++) {
        size_t n = kafka_control_batch_encode(buf, sizeof buf, (enum kafka_control_type)t, 9000000001LL, 7,
                                              0x01020304, 1700000000123LL);
        ck_assert_uint_eq(n, KAFKA_CONTROL_BATCH_BYTES);
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_check(buf, n, &h), SL_OK);
        ck_assert_int_eq(h.attributes, KAFKA_ATTR_TRANSACTIONAL | KAFKA_ATTR_CONTROL);
        ck_assert_int_eq(h.producer_id, 9000000001LL);
        ck_assert_int_eq(h.producer_epoch, 7);
        ck_assert_int_eq(h.base_sequence, -1);
        ck_assert_int_eq(h.record_count, 1);
        ck_assert_int_eq(h.last_offset_delta, 0);
        ck_assert_int_eq(h.first_timestamp, 1700000000123LL);
        struct kafka_record_iter it;
        struct kafka_record rec;
        ck_assert_int_eq(kafka_record_iter_init(&it, buf, n), SL_OK);
        ck_assert_int_eq(kafka_record_next(&it, &rec), SL_OK);
        static const uint8_t want_value[] = {0x00, 0x00, 0x01, 0x02, 0x03, 0x04};
        ck_assert_int_eq(rec.key_len, 4);
        ck_assert_int_eq(rec.key[0], 0);
        ck_assert_int_eq(rec.key[1], 0);
        ck_assert_int_eq(rec.key[2], 0);
        ck_assert_int_eq(rec.key[3], t);
        ck_assert_int_eq(rec.value_len, 6);
        ck_assert_mem_eq(rec.value, want_value, 6);
        ck_assert_uint_eq(rec.header_count, 0);
        enum kafka_control_type got;
        ck_assert_int_eq(kafka_control_key_parse(rec.key, rec.key_len, &got), SL_OK);
        ck_assert_int_eq(got, t);
        got = (enum kafka_control_type)(1 - t);
        ck_assert_int_eq(kafka_control_batch_type(buf, n, &got), SL_OK);
        ck_assert_int_eq(got, t);
        /* Not a control batch: the same bytes with the attribute cleared (CRC resealed). */
        uint8_t plain[KAFKA_CONTROL_BATCH_BYTES];
        memcpy(plain, buf, n);
        sl_store_be16(plain + 21, (uint16_t)(sl_load_be16(plain + 21) & ~KAFKA_ATTR_CONTROL));
        kafka_batch_update_crc(plain, n);
        ck_assert_int_eq(kafka_control_batch_type(plain, n, &got), SL_CORRUPT);
        ck_assert_int_eq(kafka_control_batch_type(buf, n - 1, &got) == SL_OK, 0);
    }
    enum kafka_control_type got;
    static const uint8_t bad_type[] = {0, 0, 0, 2}, short_key[] = {0, 0, 0}, long_v0[] = {0, 0, 0, 1, 0};
    static const uint8_t v1_longer[] = {0, 1, 0, 0, 9, 9}, neg_version[] = {0xff, 0xff, 0, 1};
    ck_assert_int_eq(kafka_control_key_parse(bad_type, 4, &got), SL_CORRUPT);
    ck_assert_int_eq(kafka_control_key_parse(short_key, 3, &got), SL_CORRUPT);
    ck_assert_int_eq(kafka_control_key_parse(NULL, -1, &got), SL_CORRUPT);
    ck_assert_int_eq(kafka_control_key_parse(long_v0, 5, &got), SL_CORRUPT);
    ck_assert_int_eq(kafka_control_key_parse(neg_version, 4, &got), SL_CORRUPT);
    ck_assert_int_eq(kafka_control_key_parse(v1_longer, 6, &got), SL_OK);
    ck_assert_int_eq(got, KAFKA_CONTROL_ABORT);
}
END_TEST

/* ---- refusals ---- */

static uint8_t *small_batch(size_t *len) {
    static const struct kafka_header_in hdr = {"h", 1, "v", 1};
    static const struct kafka_record_in recs[] = {
        {k_key, 3, k_val, 5, 10, &hdr, 1}, {NULL, -1, k_val, 5, 20, NULL, 0}, {k_key, 3, NULL, -1, 15, &hdr, 1}};
    return encode_or_die(recs, 3, len);
}

/* kafka_batch_next splits a record set into whole batches and stops at a cut one or at bytes
 * that are not a batch header, leaving the cursor there. */
START_TEST(test_batch_next_splits_record_sets) {
    size_t len;
    uint8_t *one = small_batch(&len);
    uint8_t set[4096];
    ck_assert_uint_le(3 * len, sizeof set);
    for (int i = 0; i < 3; i++) memcpy(set + i * len, one, len);
    struct kafka_batch_header h;
    for (size_t cut = 0; cut <= 3 * len; cut++) {
        const uint8_t *at = set;
        size_t left = cut;
        uint32_t n = 0;
        while (kafka_batch_next(&at, &left, &h) == len) n++;
        ck_assert_uint_eq(n, cut / len);        /* whole batches only */
        ck_assert_ptr_eq(at, set + n * len);    /* stopped before the cut one */
        ck_assert_uint_eq(left, cut - n * len);
    }
    const uint8_t *at = set;
    size_t left = 2 * len;
    set[len + 16] = 1; /* the second batch's magic */
    ck_assert_uint_eq(kafka_batch_next(&at, &left, &h), len);
    ck_assert_uint_eq(kafka_batch_next(&at, &left, &h), 0);
    ck_assert_uint_eq(left, len);
    free(one);
}
END_TEST

START_TEST(test_every_crc_covered_bit_flip_is_corrupt) {
    size_t len;
    uint8_t *b = small_batch(&len);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_OK);
    for (size_t i = 17; i < len; i++) { /* the CRC field itself, then everything it covers */
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(kafka_batch_check(b, len, NULL) == SL_CORRUPT, "flip byte %zu bit %d", i, bit);
            ck_assert_int_ne(walk_all(b, len), SL_NOT_FOUND);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_OK);
    free(b);
}
END_TEST

START_TEST(test_base_offset_flip_not_caught) {
    size_t len;
    uint8_t *b = small_batch(&len);
    struct kafka_batch_header h;
    for (int i = 0; i < 8; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_OK);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    kafka_batch_set_base_offset(b, 41);
    ck_assert_int_eq(kafka_batch_check(b, len, &h), SL_OK);
    ck_assert_int_eq(h.base_offset, 41);
    ck_assert_int_eq(kafka_batch_last_offset(&h), 43);
    ck_assert_int_eq(sl_load_be64(b), 41);
    ck_assert_int_eq(walk_all(b, len), SL_NOT_FOUND);
    kafka_batch_set_base_offset(b, INT64_MAX - 2);
    ck_assert_int_eq(kafka_batch_check(b, len, &h), SL_OK);
    ck_assert_int_eq(kafka_batch_last_offset(&h), INT64_MAX);
    free(b);
}
END_TEST

START_TEST(test_every_truncation_refused) {
    size_t len;
    uint8_t *b = small_batch(&len);
    for (size_t cut = 0; cut < len; cut++) {
        /* A fresh allocation of exactly cut bytes, so ASan sees any read past it. */
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, b, cut);
        sl_err e = kafka_batch_check(t, cut, NULL);
        ck_assert_int_eq(e, cut < KAFKA_BATCH_HEADER_BYTES ? SL_UNDERFLOW : SL_CORRUPT);
        ck_assert_int_ne(walk_all(t, cut), SL_NOT_FOUND);
        if (cut < KAFKA_BATCH_HEADER_BYTES) {
            struct kafka_batch_header h;
            ck_assert_int_eq(kafka_batch_header_read(t, cut, &h), SL_UNDERFLOW);
        }
        free(t);
    }
    free(b);
}
END_TEST

START_TEST(test_batch_length_disagrees_with_len) {
    size_t len;
    uint8_t *b = small_batch(&len);
    uint8_t *longer = calloc(1, len + 1);
    memcpy(longer, b, len);
    ck_assert_int_eq(kafka_batch_check(longer, len + 1, NULL), SL_CORRUPT);
    ck_assert_int_eq(kafka_batch_check(longer, len, NULL), SL_OK);
    uint32_t bl = sl_load_be32(b + 8);
    sl_store_be32(b + 8, bl + 1);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_CORRUPT);
    sl_store_be32(b + 8, bl - 1);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_CORRUPT);
    /* Lengths the header itself refuses, whatever len says. */
    struct kafka_batch_header h;
    static const uint32_t bad[] = {0, 48, (uint32_t)INT32_MAX - 11, (uint32_t)INT32_MAX, 0x80000000u, UINT32_MAX};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        sl_store_be32(b + 8, bad[i]);
        ck_assert_int_eq(kafka_batch_header_read(b, len, &h), SL_CORRUPT);
        ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_CORRUPT);
    }
    sl_store_be32(b + 8, 49);
    ck_assert_int_eq(kafka_batch_header_read(b, len, &h), SL_OK);
    sl_store_be32(b + 8, (uint32_t)INT32_MAX - 12);
    ck_assert_int_eq(kafka_batch_header_read(b, len, &h), SL_OK);
    free(longer);
    free(b);
}
END_TEST

START_TEST(test_old_magic_refused) {
    size_t len;
    uint8_t *b = small_batch(&len);
    for (int magic = 0; magic < 4; magic++) {
        if (magic == 2) continue;
        b[16] = (uint8_t)magic;
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_header_read(b, len, &h), SL_CORRUPT);
        ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_CORRUPT);
    }
    free(b);
}
END_TEST

START_TEST(test_record_count_rules) {
    size_t len;
    uint8_t *b = small_batch(&len);
    struct kafka_record_iter it;
    sl_store_be32(b + 57, 0);
    sl_store_be32(b + 23, (uint32_t)-1);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_INVALID_RECORD);
    ck_assert_int_eq(kafka_record_iter_init(&it, b, len), SL_INVALID_RECORD);
    sl_store_be32(b + 57, 3);
    sl_store_be32(b + 23, 3);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_INVALID_RECORD);
    sl_store_be32(b + 23, 1);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_INVALID_RECORD);
    sl_store_be32(b + 57, (uint32_t)-5);
    sl_store_be32(b + 23, (uint32_t)-6);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_INVALID_RECORD);
    /* Count and delta agree but the bytes hold three records: the walk notices. */
    sl_store_be32(b + 57, 2);
    sl_store_be32(b + 23, 1);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_OK);
    ck_assert_int_eq(walk_all(b, len), SL_CORRUPT);
    sl_store_be32(b + 57, 4);
    sl_store_be32(b + 23, 3);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(walk_all(b, len), SL_CORRUPT);
    free(b);
}
END_TEST

START_TEST(test_compression_attributes) {
    size_t len;
    uint8_t *b = small_batch(&len);
    struct kafka_record_iter it;
    struct kafka_record rec;
    for (int codec = 1; codec <= 4; codec++) {
        sl_store_be16(b + 21, (uint16_t)codec);
        kafka_batch_update_crc(b, len);
        ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_OK);
        ck_assert_int_eq(kafka_record_iter_init(&it, b, len), SL_INVALID_ARG);
        ck_assert_int_eq(kafka_record_next(&it, &rec), SL_CORRUPT); /* a failed init stays failed */
    }
    for (int codec = 5; codec <= 7; codec++) {
        sl_store_be16(b + 21, (uint16_t)codec);
        kafka_batch_update_crc(b, len);
        ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_INVALID_RECORD);
    }
    /* Timestamp type, transactional and control bits do not stop the walk. */
    sl_store_be16(b + 21, KAFKA_ATTR_LOG_APPEND_TIME | KAFKA_ATTR_TRANSACTIONAL);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(walk_all(b, len), SL_NOT_FOUND);
    free(b);
}
END_TEST

/* Hand-written records, each malformed in one way. */
struct bad_records {
    const char *what;
    const uint8_t *bytes;
    size_t len;
    int32_t count;
};

#define BAD(what, count, ...)                                                                       \
    { what, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), count }

/* Well formed, for reference: 10 00 00 00 02 'k' 02 'v' 00 is length 8 (zigzag 0x10), attributes,
 * timestamp delta 0, offset delta 0, key "k", value "v", no headers. Each case below breaks one
 * thing and keeps every other length consistent. */
static const struct bad_records k_bad[] = {
    BAD("length varint runs out", 1, 0x80),
    BAD("length past the batch", 1, 0x20, 0, 0, 0, 0x01, 0x01, 0),
    BAD("negative length", 1, 0x01, 0, 0, 0, 0x01, 0x01, 0),
    BAD("zero length", 1, 0x00),
    BAD("length longer than the fields", 1, 0x12, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0, 0),
    BAD("length shorter than the fields", 1, 0x0E, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0),
    BAD("timestamp varint of eleven bytes", 1, 0x1E, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x01, 0, 0x01, 0x01),
    BAD("timestamp varint cut by the record end", 1, 0x04, 0, 0x80),
    BAD("offset delta beyond int32", 1, 0x14, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01, 0x01, 0),
    BAD("key length past the record", 1, 0x0E, 0, 0, 0, 0x0A, 'k', 0x01, 0),
    BAD("key length -2", 1, 0x0C, 0, 0, 0, 0x03, 0x01, 0),
    BAD("key length beyond int32", 1, 0x14, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0x1F, 0x01, 0),
    BAD("value length past the record", 1, 0x0E, 0, 0, 0, 0x01, 0x0A, 'v', 0),
    BAD("value length -3", 1, 0x0C, 0, 0, 0, 0x01, 0x05, 0),
    BAD("negative header count", 1, 0x0C, 0, 0, 0, 0x01, 0x01, 0x01),
    BAD("header count above the headers present", 1, 0x12, 0, 0, 0, 0x01, 0x01, 0x04, 0x02, 'h', 0x01),
    BAD("huge header count", 1, 0x14, 0, 0, 0, 0x01, 0x01, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F),
    BAD("null header key", 1, 0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01),
    BAD("header value past the record", 1, 0x12, 0, 0, 0, 0x01, 0x01, 0x02, 0x02, 'h', 0x08),
    BAD("header value length -2", 1, 0x12, 0, 0, 0, 0x01, 0x01, 0x02, 0x02, 'h', 0x03),
    BAD("bytes after the last counted record", 1, 0x10, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0, 0x0C, 0, 0, 0, 0x01,
        0x01, 0),
    BAD("fewer records than counted", 2, 0x10, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0),
    BAD("stray byte after the records", 1, 0x10, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0, 0x00),
};

START_TEST(test_malformed_records_are_corrupt) {
    const struct bad_records *c = &k_bad[_i];
    uint8_t *b = malloc(KAFKA_BATCH_HEADER_BYTES + c->len);
    size_t len = build_raw(b, c->bytes, c->len, c->count);
    ck_assert_int_eq(kafka_batch_check(b, len, NULL), SL_OK);
    struct kafka_record_iter it;
    struct kafka_record rec;
    ck_assert_int_eq(kafka_record_iter_init(&it, b, len), SL_OK);
    sl_err e;
    int ok = 0;
    while ((e = kafka_record_next(&it, &rec)) == SL_OK) ok++;
    ck_assert_msg(e == SL_CORRUPT, "%s: got %s after %d records", c->what, sl_err_str(e), ok);
    ck_assert_int_eq(kafka_record_next(&it, &rec), SL_CORRUPT); /* sticky */
    free(b);
}
END_TEST

/* The reference record of k_bad's comment really is well formed, so each case above fails for
 * its stated reason rather than for a typo. */
START_TEST(test_reference_record_is_good) {
    static const uint8_t good[] = {0x10, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0, 0x12, 0, 0, 0x02, 0x01, 0x01, 0x02, 0x02, 'h', 0x01};
    uint8_t b[128];
    size_t len = build_raw(b, good, sizeof good, 2);
    struct kafka_record_iter it;
    struct kafka_record rec;
    ck_assert_int_eq(kafka_record_iter_init(&it, b, len), SL_OK);
    ck_assert_int_eq(kafka_record_next(&it, &rec), SL_OK);
    expect_bytes(rec.key, rec.key_len, "k", 1);
    expect_bytes(rec.value, rec.value_len, "v", 1);
    ck_assert_int_eq(kafka_record_next(&it, &rec), SL_OK);
    ck_assert_int_eq(rec.offset, 1);
    ck_assert_ptr_null(rec.key);
    ck_assert_ptr_null(rec.value);
    ck_assert_uint_eq(rec.header_count, 1);
    ck_assert_int_eq(kafka_record_next(&it, &rec), SL_NOT_FOUND);
}
END_TEST

/* Random damage to the records with the CRC fixed up: the walk may succeed or refuse, but
 * every pointer it hands out must stay inside the batch (ASan checks walk_all's reads). */
START_TEST(test_random_record_damage_never_crashes) {
    size_t len;
    uint8_t *good = small_batch(&len);
    uint8_t *b = malloc(len);
    uint8_t noise[4096];
    t_fill_random(noise, sizeof noise, 99);
    static const uint8_t interesting[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE};
    size_t rlen = len - KAFKA_BATCH_HEADER_BYTES;
    for (size_t pos = 0; pos < rlen; pos++) {
        for (size_t v = 0; v < sizeof interesting; v++) {
            memcpy(b, good, len);
            b[KAFKA_BATCH_HEADER_BYTES + pos] = interesting[v];
            kafka_batch_update_crc(b, len);
            sl_err e = walk_all(b, len);
            ck_assert(e == SL_NOT_FOUND || e == SL_CORRUPT);
        }
    }
    for (size_t round = 0; round < 4000; round++) {
        memcpy(b, good, len);
        for (int k = 0; k < 1 + (int)(round % 4); k++) {
            size_t at = (size_t)noise[(round * 7 + (size_t)k * 3) % sizeof noise] * 13 % rlen;
            b[KAFKA_BATCH_HEADER_BYTES + at] = noise[(round * 5 + (size_t)k) % sizeof noise];
        }
        kafka_batch_update_crc(b, len);
        sl_err e = walk_all(b, len);
        ck_assert(e == SL_NOT_FOUND || e == SL_CORRUPT);
    }
    free(b);
    free(good);
}
END_TEST

static Suite *kafka_batch_suite(void) {
    Suite *s = suite_create("protocol_kafka_batch");
    TCase *tc = tcase_create("varint");
    tcase_add_test(tc, test_varint_edges_round_trip);
    tcase_add_test(tc, test_varint_known_encodings);
    tcase_add_test(tc, test_varint_get_malformed);
    suite_add_tcase(s, tc);

    tc = tcase_create("codec");
    tcase_add_test(tc, test_foreign_batch_decodes);
    tcase_add_test(tc, test_encoder_matches_foreign_records);
    tcase_add_test(tc, test_round_trip_keys_values_headers);
    tcase_add_test(tc, test_round_trip_1000_records);
    tcase_add_test(tc, test_encode_producer_fields_and_caps);
    tcase_add_test(tc, test_control_batch_encode_and_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_test(tc, test_every_crc_covered_bit_flip_is_corrupt);
    tcase_add_test(tc, test_base_offset_flip_not_caught);
    tcase_add_test(tc, test_every_truncation_refused);
    tcase_add_test(tc, test_batch_next_splits_record_sets);
    tcase_add_test(tc, test_batch_length_disagrees_with_len);
    tcase_add_test(tc, test_old_magic_refused);
    tcase_add_test(tc, test_record_count_rules);
    tcase_add_test(tc, test_compression_attributes);
    tcase_add_loop_test(tc, test_malformed_records_are_corrupt, 0, (int)SL_ARRAY_LEN(k_bad));
    tcase_add_test(tc, test_reference_record_is_good);
    tcase_add_test(tc, test_random_record_damage_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(kafka_batch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
