/* protocol_kafka_records_test.c: Check suite for protocol/kafka_records.c. Batches are built with
 * kafka_batch_encode and compressed here with each codec library's own compressor (gzip, snappy
 * raw and xerial-framed, lz4 frame, zstd with and without a content size); then every field of
 * every record is compared byte for byte, and every class of garbage Kafka refuses is refused
 * with Kafka's error, compressed or not. Meant to run under ASan/UBSan: damaged batches must fail
 * or walk correctly, never crash. */
#include <check.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/base.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_compress.h"
#include "protocol/kafka_records.h"
#include "testutil.h"

/* ---- building batches ---- */

/* How the records section is compressed: the Kafka codec and, for snappy and zstd, the framing
 * variants clients send. */
enum variant { V_NONE, V_GZIP, V_SNAPPY_RAW, V_SNAPPY_XERIAL, V_LZ4, V_ZSTD, V_ZSTD_NO_SIZE, V_COUNT };
static const int k_variant_codec[V_COUNT] = {0, 1, 2, 2, 3, 4, 4};
static const char *const k_variant_name[V_COUNT] = {"none", "gzip", "snappy", "xerial", "lz4", "zstd", "zstd-stream"};

#define XERIAL_BLOCK_BYTES (32u << 10) /* snappy-java's default block */

static uint8_t *compress_section(enum variant v, const uint8_t *in, size_t n, size_t *out_len) {
    size_t cap = 64 + n + n / 2 + 16 * (n / XERIAL_BLOCK_BYTES + 1);
    cap = SL_MAX(cap, LZ4F_compressFrameBound(n, NULL));
    cap = SL_MAX(cap, ZSTD_compressBound(n));
    cap = SL_MAX(cap, snappy_max_compressed_length(n) + 16 * (n / XERIAL_BLOCK_BYTES + 2));
    uint8_t *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    switch (v) {
    case V_NONE: memcpy(out, in, n); *out_len = n; break;
    case V_GZIP: {
        z_stream z = {0};
        ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
        *out_len = z.total_out;
        deflateEnd(&z);
        break;
    }
    case V_SNAPPY_RAW:
        *out_len = cap;
        ck_assert_int_eq(snappy_compress((const char *)in, n, (char *)out, out_len), SNAPPY_OK);
        break;
    case V_SNAPPY_XERIAL: {
        memcpy(out, "\x82SNAPPY\0", 8);
        sl_store_be32(out + 8, 1);  /* version */
        sl_store_be32(out + 12, 1); /* compatible version */
        size_t w = 16;
        for (size_t pos = 0; pos < n; pos += XERIAL_BLOCK_BYTES) {
            size_t blen = cap - w - 4, take = SL_MIN((size_t)XERIAL_BLOCK_BYTES, n - pos);
            ck_assert_int_eq(snappy_compress((const char *)in + pos, take, (char *)out + w + 4, &blen), SNAPPY_OK);
            sl_store_be32(out + w, (uint32_t)blen);
            w += 4 + blen;
        }
        *out_len = w;
        break;
    }
    case V_LZ4:
        *out_len = LZ4F_compressFrame(out, cap, in, n, NULL);
        ck_assert(!LZ4F_isError(*out_len));
        break;
    case V_ZSTD:
        *out_len = ZSTD_compress(out, cap, in, n, 3);
        ck_assert(!ZSTD_isError(*out_len));
        break;
    case V_ZSTD_NO_SIZE: {
        /* Streaming producers (zstd-jni's output stream) write frames without a content size. */
        ZSTD_CCtx *c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
        *out_len = ZSTD_compress2(c, out, cap, in, n);
        ck_assert(!ZSTD_isError(*out_len));
        ZSTD_freeCCtx(c);
        break;
    }
    default: ck_abort();
    }
    return out;
}

/* A batch with the header fields of hdr_src (or zeros), the given section and count, with
 * batchLength, lastOffsetDelta, codec bits and CRC set to match. */
static uint8_t *batch_around(const uint8_t *hdr_src, const uint8_t *section, size_t slen, int32_t count, int codec,
                             uint32_t *len) {
    *len = (uint32_t)(KAFKA_BATCH_HEADER_BYTES + slen);
    uint8_t *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    if (hdr_src) {
        memcpy(b, hdr_src, KAFKA_BATCH_HEADER_BYTES);
    } else {
        memset(b, 0, KAFKA_BATCH_HEADER_BYTES);
        b[16] = KAFKA_BATCH_MAGIC;
        sl_store_be64(b + 43, UINT64_MAX); /* producerId -1 */
        sl_store_be16(b + 51, UINT16_MAX);
        sl_store_be32(b + 53, UINT32_MAX);
    }
    sl_store_be32(b + 8, *len - KAFKA_BATCH_LOG_OVERHEAD);
    uint16_t attrs = (uint16_t)((sl_load_be16(b + 21) & ~KAFKA_ATTR_COMPRESSION_MASK) | codec);
    sl_store_be16(b + 21, attrs);
    sl_store_be32(b + 23, (uint32_t)(count - 1));
    sl_store_be32(b + 57, (uint32_t)count);
    if (slen) memcpy(b + KAFKA_BATCH_HEADER_BYTES, section, slen);
    kafka_batch_update_crc(b, *len);
    return b;
}

/* The records of plain (an uncompressed batch) recompressed as variant v. */
static uint8_t *batch_recompress(const uint8_t *plain, size_t plain_len, enum variant v, uint32_t *len) {
    size_t clen;
    uint8_t *c = compress_section(v, plain + KAFKA_BATCH_HEADER_BYTES, plain_len - KAFKA_BATCH_HEADER_BYTES, &clen);
    uint8_t *b = batch_around(plain, c, clen, (int32_t)sl_load_be32(plain + 57), k_variant_codec[v], len);
    free(c);
    return b;
}

/* Hand-written record bytes around a zeroed header, compressed as variant v. */
static uint8_t *batch_raw(enum variant v, const uint8_t *records, size_t rlen, int32_t count, uint32_t *len) {
    size_t clen;
    uint8_t *c = compress_section(v, records, rlen, &clen);
    uint8_t *b = batch_around(NULL, c, clen, count, k_variant_codec[v], len);
    free(c);
    return b;
}

static uint8_t *encode_or_die(const struct kafka_record_in *recs, uint32_t n, size_t *len) {
    size_t cap = kafka_batch_encoded_bytes_max(recs, n);
    ck_assert_uint_gt(cap, 0);
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    *len = kafka_batch_encode(buf, cap, recs, n, -1, -1, -1);
    ck_assert_uint_eq(*len, cap);
    return buf;
}

static void expect_bytes(struct kafka_bytes got, const void *want, int32_t want_len) {
    ck_assert_int_eq(got.len, want_len);
    if (want_len < 0) ck_assert_ptr_null(got.p);
    if (want_len > 0) ck_assert_mem_eq(got.p, want, (size_t)want_len);
}

/* Walks the batch with the iterator and compares every field with what was encoded. */
static void expect_walk(const uint8_t *b, uint32_t len, struct kafka_records_scratch *s,
                        const struct kafka_record_in *recs, uint32_t n) {
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    ck_assert_int_eq(kafka_records_open(&it, b, len, s), SL_OK);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_int_eq(kafka_records_next(&it, &rec), SL_OK);
        ck_assert_int_eq(rec.offset_delta, (int32_t)i);
        ck_assert_int_eq(rec.offset, (int64_t)i);
        ck_assert_int_eq(rec.attributes, 0);
        ck_assert_int_eq(rec.timestamp, recs[i].timestamp_ms);
        ck_assert_int_eq(rec.timestamp_delta, recs[i].timestamp_ms - recs[0].timestamp_ms);
        expect_bytes(rec.key, recs[i].key, recs[i].key_len);
        expect_bytes(rec.value, recs[i].value, recs[i].value_len);
        ck_assert_int_eq(rec.header_count, (int32_t)recs[i].header_count);
        struct kafka_records_header_iter hi;
        struct kafka_records_header h;
        kafka_records_headers_open(&hi, &rec);
        for (uint32_t k = 0; k < recs[i].header_count; k++) {
            ck_assert(kafka_records_header_next(&hi, &h));
            expect_bytes(h.key, recs[i].headers[k].key, recs[i].headers[k].key_len);
            expect_bytes(h.value, recs[i].headers[k].value, recs[i].headers[k].value_len);
        }
        ck_assert(!kafka_records_header_next(&hi, &h));
    }
    ck_assert_int_eq(kafka_records_next(&it, &rec), SL_NOT_FOUND);
    ck_assert_int_eq(kafka_records_next(&it, &rec), SL_NOT_FOUND);
}

/* Repeated header keys, a null header value and an empty key, a null key, a null value, empty
 * key and value, timestamps going backwards, then bulk records so compression has work. */
static const struct kafka_header_in k_hdrs[] = {
    {"trace", 5, "a", 1}, {"trace", 5, "bb", 2}, {"nil", 3, NULL, -1}, {"", 0, "", 0}, {"trace", 5, "c", 1},
};
#define MIXED_RECORDS 120
static uint8_t g_values[MIXED_RECORDS][300];
static char g_keys[MIXED_RECORDS][16];

static uint32_t mixed_records(struct kafka_record_in *recs) {
    memset(recs, 0, sizeof(*recs) * MIXED_RECORDS);
    recs[0] = (struct kafka_record_in){"k0", 2, "hello", 5, 1700000000000, k_hdrs, SL_ARRAY_LEN(k_hdrs)};
    recs[1] = (struct kafka_record_in){NULL, -1, "no key", 6, 1700000000005, NULL, 0};
    recs[2] = (struct kafka_record_in){"k2", 2, NULL, -1, 1699999999990, k_hdrs + 2, 1};
    recs[3] = (struct kafka_record_in){"", 0, "", 0, 1700000000000, NULL, 0};
    for (uint32_t i = 4; i < MIXED_RECORDS; i++) {
        int32_t vlen = (int32_t)(i * 7 % 300);
        t_fill_random(g_values[i], (size_t)vlen, i);
        for (int32_t j = 0; j < vlen / 2; j++) g_values[i][j] = 'x'; /* compressible half */
        snprintf(g_keys[i], sizeof g_keys[i], "key-%u", i);
        recs[i] = (struct kafka_record_in){g_keys[i], (int32_t)strlen(g_keys[i]), g_values[i], vlen,
                                           1700000000000 + i, i % 5 ? NULL : k_hdrs, i % 5 ? 0 : 2};
    }
    return MIXED_RECORDS;
}

/* ---- round trips ---- */

START_TEST(test_every_codec_walks_every_field) {
    enum variant v = (enum variant)_i;
    struct kafka_record_in recs[MIXED_RECORDS];
    uint32_t n = mixed_records(recs);
    size_t plain_len;
    uint8_t *plain = encode_or_die(recs, n, &plain_len);
    uint32_t len;
    uint8_t *b = batch_recompress(plain, plain_len, v, &len);
    if (v != V_NONE) ck_assert_msg(len < plain_len, "%s did not compress", k_variant_name[v]);
    ck_assert_int_eq(sl_load_be16(b + 21) & KAFKA_ATTR_COMPRESSION_MASK, k_variant_codec[v]);

    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    ck_assert_int_eq(kafka_records_validate(b, len, &s), SL_OK);
    expect_walk(b, len, &s, recs, n);
    if (v == V_NONE) {
        ck_assert_ptr_null(s.buf); /* uncompressed records are walked in place */
        expect_walk(b, len, NULL, recs, n);
    } else {
        /* Warm scratch: walking again neither moves nor grows the buffer. */
        uint8_t *buf = s.buf;
        size_t cap = s.cap;
        expect_walk(b, len, &s, recs, n);
        ck_assert_ptr_eq(s.buf, buf);
        ck_assert_uint_eq(s.cap, cap);
    }
    kafka_records_scratch_free(&s);
    ck_assert_ptr_null(s.buf);
    free(b);
    free(plain);
}
END_TEST

/* kafka_batch_compress (the cleaner's recompression) under every codec: the walk gives back
 * every field, the codec bits are set, and a buffer one byte short is SL_TOO_LARGE. */
START_TEST(test_batch_compress_round_trip) {
    int codec = _i;
    struct kafka_record_in recs[MIXED_RECORDS];
    uint32_t n = mixed_records(recs);
    size_t plain_len;
    uint8_t *plain = encode_or_die(recs, n, &plain_len);
    size_t cap = KAFKA_BATCH_HEADER_BYTES + kafka_compress_bound(codec, plain_len);
    uint8_t *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    uint32_t len = 0;
    ck_assert_int_eq(kafka_batch_compress(plain, (uint32_t)plain_len, codec, b, cap, &len), SL_OK);
    ck_assert_uint_lt(len, plain_len);
    ck_assert_int_eq(sl_load_be16(b + 21) & KAFKA_ATTR_COMPRESSION_MASK, codec);
    ck_assert_mem_eq(b + 23, plain + 23, KAFKA_BATCH_HEADER_BYTES - 23); /* offsets, times, producer, count */
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    ck_assert_int_eq(kafka_records_validate(b, len, &s), SL_OK);
    expect_walk(b, len, &s, recs, n);
    kafka_records_scratch_free(&s);
    uint32_t short_len;
    ck_assert_int_eq(kafka_batch_compress(plain, (uint32_t)plain_len, codec, b, len - 1, &short_len), SL_TOO_LARGE);
    /* Already compressed, or no codec: refused. */
    ck_assert_int_eq(kafka_batch_compress(b, len, codec, b, cap, &short_len), SL_INVALID_ARG);
    ck_assert_int_eq(kafka_batch_compress(plain, (uint32_t)plain_len, 0, b, cap, &short_len), SL_INVALID_ARG);
    free(b);
    free(plain);
}
END_TEST

START_TEST(test_compressed_batch_needs_scratch) {
    struct kafka_record_in r = {"k", 1, "v", 1, 5, NULL, 0};
    size_t plain_len;
    uint8_t *plain = encode_or_die(&r, 1, &plain_len);
    uint32_t len;
    uint8_t *b = batch_recompress(plain, plain_len, V_GZIP, &len);
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    ck_assert_int_eq(kafka_records_open(&it, b, len, NULL), SL_INVALID_ARG);
    ck_assert_int_eq(kafka_records_next(&it, &rec), SL_INVALID_ARG);
    free(b);
    free(plain);
}
END_TEST

START_TEST(test_one_scratch_across_codecs_and_sizes) {
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    struct kafka_record_in recs[MIXED_RECORDS];
    uint32_t n = mixed_records(recs);
    for (int round = 0; round < 3; round++) {
        for (int v = 0; v < V_COUNT; v++) {
            uint32_t count = round == 1 ? 3 : n; /* small then large then large again */
            size_t plain_len;
            uint8_t *plain = encode_or_die(recs, count, &plain_len);
            uint32_t len;
            uint8_t *b = batch_recompress(plain, plain_len, (enum variant)v, &len);
            ck_assert_int_eq(kafka_records_validate(b, len, &s), SL_OK);
            expect_walk(b, len, &s, recs, count);
            free(b);
            free(plain);
        }
    }
    ck_assert_uint_le(s.cap, 2 * (size_t)(128u << 10)); /* grew to the largest section, not per call */
    kafka_records_scratch_free(&s);
}
END_TEST

START_TEST(test_log_append_time_uses_max_timestamp) {
    struct kafka_record_in recs[2] = {{"a", 1, "1", 1, 100, NULL, 0}, {"b", 1, "2", 1, 150, NULL, 0}};
    size_t len;
    uint8_t *b = encode_or_die(recs, 2, &len);
    sl_store_be16(b + 21, KAFKA_ATTR_LOG_APPEND_TIME);
    sl_store_be64(b + 35, 777);
    kafka_batch_update_crc(b, len);
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    ck_assert_int_eq(kafka_records_open(&it, b, (uint32_t)len, NULL), SL_OK);
    ck_assert_int_eq(kafka_records_next(&it, &rec), SL_OK);
    ck_assert_int_eq(rec.timestamp, 777);
    ck_assert_int_eq(rec.timestamp_delta, 0);
    ck_assert_int_eq(kafka_records_next(&it, &rec), SL_OK);
    ck_assert_int_eq(rec.timestamp, 777);
    ck_assert_int_eq(rec.timestamp_delta, 50);
    ck_assert_int_eq(kafka_records_validate(b, (uint32_t)len, NULL), SL_OK);
    free(b);
}
END_TEST

START_TEST(test_base_offset_is_added) {
    struct kafka_record_in recs[3] = {{"a", 1, "1", 1, 1, NULL, 0}, {"b", 1, "2", 1, 2, NULL, 0}, {"c", 1, "3", 1, 3, NULL, 0}};
    size_t len;
    uint8_t *b = encode_or_die(recs, 3, &len);
    kafka_batch_set_base_offset(b, 1000);
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    ck_assert_int_eq(kafka_records_open(&it, b, (uint32_t)len, NULL), SL_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kafka_records_next(&it, &rec), SL_OK);
        ck_assert_int_eq(rec.offset, 1000 + i);
        ck_assert_int_eq(rec.value.p[0], '1' + i);
    }
    free(b);
}
END_TEST

/* ---- garbage in the records section, compressed or not ---- */

struct garbage {
    const char *name;
    int32_t count;
    size_t len;
    const uint8_t bytes[48];
    sl_err want;
};

/* A record: attributes 0, timestamp delta 0, offset delta D, key "k", value "v", one header
 * "h" = null. Body 11 bytes, so its length varint is 0x16. */
#define REC(d) 0x16, 0x00, 0x00, (d), 0x02, 'k', 0x02, 'v', 0x02, 0x02, 'h', 0x01
#define REC_BODY(d) 0x00, 0x00, (d), 0x02, 'k', 0x02, 'v', 0x02, 0x02, 'h', 0x01

static const struct garbage k_garbage[] = {
    {"reference record", 1, 12, {REC(0)}, SL_OK},
    {"two records", 2, 24, {REC(0), REC(2)}, SL_OK},
    {"null key and value, no headers", 1, 7, {0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}, SL_OK},
    {"padded 5-byte length varint (Kafka reads it)", 1, 16, {0x96, 0x80, 0x80, 0x80, 0x00, REC_BODY(0)}, SL_OK},
    {"empty section", 1, 0, {0}, SL_INVALID_RECORD},
    {"length varint truncated", 1, 1, {0x96}, SL_INVALID_RECORD},
    {"length varint of 6 bytes", 1, 17, {0x96, 0x80, 0x80, 0x80, 0x80, 0x00, REC_BODY(0)}, SL_INVALID_RECORD},
    {"length varint past 32 bits", 1, 16, {0x96, 0x80, 0x80, 0x80, 0x10, REC_BODY(0)}, SL_INVALID_RECORD},
    {"length zero", 1, 1, {0x00}, SL_INVALID_RECORD},
    {"length negative", 1, 12, {0x01, REC_BODY(0)}, SL_INVALID_RECORD},
    {"length past the section", 1, 12, {0x18, REC_BODY(0)}, SL_INVALID_RECORD},
    {"length longer than the fields", 1, 13, {0x18, REC_BODY(0), 0x00}, SL_INVALID_RECORD},
    {"length shorter than the fields", 1, 12, {0x14, REC_BODY(0)}, SL_INVALID_RECORD},
    {"offset delta varint truncated", 1, 4, {0x06, 0x00, 0x00, 0x80}, SL_INVALID_RECORD},
    {"timestamp varlong truncated", 1, 3, {0x04, 0x00, 0x80}, SL_INVALID_RECORD},
    {"timestamp varlong of 11 bytes",
     1,
     22,
     {0x2a, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x02,
      0x02, 'h', 0x01},
     SL_INVALID_RECORD},
    {"bytes after the last record", 1, 13, {REC(0), 0x00}, SL_INVALID_RECORD},
    {"count 2, one record", 2, 12, {REC(0)}, SL_INVALID_RECORD},
    {"count 1, two records", 1, 24, {REC(0), REC(2)}, SL_INVALID_RECORD},
    {"first offset delta 1", 1, 12, {REC(2)}, SL_INVALID_RECORD},
    {"offset deltas 0, 0", 2, 24, {REC(0), REC(0)}, SL_INVALID_RECORD},
    {"offset deltas 0, 2", 2, 24, {REC(0), REC(4)}, SL_INVALID_RECORD},
    {"offset delta -1", 1, 12, {REC(1)}, SL_INVALID_RECORD},
    {"key length -2", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x03, 'k', 0x02, 'v', 0x02, 0x02, 'h', 0x01}, SL_INVALID_RECORD},
    {"value length -2", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x02, 'k', 0x03, 'v', 0x02, 0x02, 'h', 0x01}, SL_INVALID_RECORD},
    {"key past the record", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x14, 'k', 0x02, 'v', 0x02, 0x02, 'h', 0x01}, SL_INVALID_RECORD},
    {"header key null", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x02, 0x01, 'h', 0x01}, SL_INVALID_RECORD},
    {"header value length -2", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x02, 0x02, 'h', 0x03}, SL_INVALID_RECORD},
    {"header count -1", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x01, 0x02, 'h', 0x01}, SL_INVALID_RECORD},
    {"header count 100", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0xc8, 0x01, 'h', 0x01}, SL_INVALID_RECORD},
    {"header count 2, one header", 1, 12, {0x16, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x04, 0x02, 'h', 0x01}, SL_INVALID_RECORD},
};

START_TEST(test_garbage_records_refused_under_every_codec) {
    const struct garbage *g = &k_garbage[_i];
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    for (int v = 0; v < V_COUNT; v++) {
        uint32_t len;
        uint8_t *b = batch_raw((enum variant)v, g->bytes, g->len, g->count, &len);
        sl_err e = kafka_records_validate(b, len, &s);
        ck_assert_msg(e == g->want, "%s under %s: got %s", g->name, k_variant_name[v], sl_err_str(e));
        /* The iterator reaches the same verdict, and a failure sticks. */
        struct kafka_records_iter it;
        struct kafka_records_rec rec;
        ck_assert_int_eq(kafka_records_open(&it, b, len, &s), SL_OK);
        int records = 0;
        while ((e = kafka_records_next(&it, &rec)) == SL_OK) records++;
        if (g->want == SL_OK) {
            ck_assert_int_eq(e, SL_NOT_FOUND);
            ck_assert_int_eq(records, g->count);
        } else {
            ck_assert_int_eq(e, g->want);
            ck_assert_int_eq(kafka_records_next(&it, &rec), g->want);
        }
        free(b);
    }
    kafka_records_scratch_free(&s);
}
END_TEST

START_TEST(test_batch_level_client_rules) {
    static const uint8_t rec[] = {REC(0)};
    uint32_t len;
    uint8_t *b = batch_raw(V_NONE, rec, sizeof rec, 1, &len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_OK);

    sl_store_be16(b + 21, KAFKA_ATTR_CONTROL); /* clients may not write control batches */
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_INVALID_RECORD);

    sl_store_be16(b + 21, KAFKA_ATTR_TRANSACTIONAL); /* left to producer state */
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_OK);

    sl_store_be16(b + 21, 0);
    sl_store_be64(b + 43, 42); /* a producer id with baseSequence -1 */
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_INVALID_RECORD);
    sl_store_be32(b + 53, 0);
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_OK);

    sl_store_be16(b + 21, 5); /* no codec 5 */
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_INVALID_RECORD);
    struct kafka_records_iter it;
    ck_assert_int_eq(kafka_records_open(&it, b, len, NULL), SL_INVALID_RECORD);

    sl_store_be16(b + 21, 0);
    sl_store_be32(b + 23, 1); /* lastOffsetDelta 1 for one record */
    kafka_batch_update_crc(b, len);
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_INVALID_RECORD);
    sl_store_be32(b + 23, 0);

    b[30] ^= 1; /* firstTimestamp: covered by the CRC, which validate checks */
    ck_assert_int_eq(kafka_records_validate(b, len, NULL), SL_CORRUPT);
    ck_assert_int_eq(kafka_records_open(&it, b, len, NULL), SL_OK); /* open trusts the CRC */
    ck_assert_int_eq(kafka_records_validate(b, len - 1, NULL), SL_CORRUPT);
    ck_assert_int_eq(kafka_records_open(&it, b, len - 1, NULL), SL_CORRUPT);
    ck_assert_int_eq(kafka_records_validate(b, 60, NULL), SL_UNDERFLOW);
    free(b);
}
END_TEST

/* ---- damaged compressed payloads ---- */

static sl_err validate_section(enum variant v, const uint8_t *section, size_t slen, struct kafka_records_scratch *s) {
    uint32_t len;
    uint8_t *b = batch_around(NULL, section, slen, 1, k_variant_codec[v], &len);
    sl_err e = kafka_records_validate(b, len, s);
    free(b);
    return e;
}

START_TEST(test_corrupt_compressed_payload_is_corrupt) {
    enum variant v = (enum variant)(_i + 1);
    static const uint8_t rec[] = {REC(0)};
    uint8_t plain[64 * SL_ARRAY_LEN(rec)];
    for (size_t i = 0; i < 64; i++) memcpy(plain + i * sizeof rec, rec, sizeof rec);
    size_t clen;
    uint8_t *c = compress_section(v, rec, sizeof rec, &clen);
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    ck_assert_int_eq(validate_section(v, c, clen, &s), SL_OK);

    /* Cut short anywhere: a codec error, except xerial's bare 16-byte header, which is a
     * well-framed stream of no blocks (and so of no records). */
    for (size_t cut = 0; cut < clen; cut++) {
        sl_err e = validate_section(v, c, cut, &s);
        ck_assert_msg(e == SL_CORRUPT || (v == V_SNAPPY_XERIAL && cut == 16 && e == SL_INVALID_RECORD),
                      "%s cut at %zu of %zu: %s", k_variant_name[v], cut, clen, sl_err_str(e));
    }
    /* Trailing bytes after a complete stream. */
    uint8_t *longer = malloc(clen + 3);
    memcpy(longer, c, clen);
    memcpy(longer + clen, "\x00\x01\x02", 3);
    sl_err e = validate_section(v, longer, clen + 3, &s);
    ck_assert_msg(e == SL_CORRUPT, "%s with trailing bytes: %s", k_variant_name[v], sl_err_str(e));
    free(longer);
    /* Not a stream of this codec at all. */
    static const uint8_t junk[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(validate_section(v == V_SNAPPY_XERIAL ? V_SNAPPY_RAW : v, junk, sizeof junk, &s), SL_CORRUPT);
    free(c);

    /* A checksum the codec keeps, damaged: gzip's CRC-32 trailer, lz4's and zstd's content checksum. */
    if (v == V_GZIP || v == V_LZ4 || v == V_ZSTD) {
        c = compress_section(v, plain, sizeof plain, &clen);
        if (v == V_LZ4) {
            LZ4F_preferences_t prefs = {0};
            prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
            clen = LZ4F_compressFrame(c, LZ4F_compressFrameBound(sizeof plain, &prefs), plain, sizeof plain, &prefs);
            ck_assert(!LZ4F_isError(clen));
        }
        if (v == V_ZSTD) {
            ZSTD_CCtx *cc = ZSTD_createCCtx();
            ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
            clen = ZSTD_compress2(cc, c, ZSTD_compressBound(sizeof plain) + 8, plain, sizeof plain);
            ck_assert(!ZSTD_isError(clen));
            ZSTD_freeCCtx(cc);
        }
        uint32_t len;
        uint8_t *b = batch_around(NULL, c, clen, 64, k_variant_codec[v], &len);
        ck_assert_int_eq(kafka_records_validate(b, len, &s), SL_INVALID_RECORD); /* 64 x offset delta 0 */
        b[len - 2] ^= 0x40;
        kafka_batch_update_crc(b, len);
        ck_assert_int_eq(kafka_records_validate(b, len, &s), SL_CORRUPT);
        free(b);
        free(c);
    }
    kafka_records_scratch_free(&s);
}
END_TEST

START_TEST(test_xerial_bad_block_lengths) {
    static const uint8_t rec[] = {REC(0)};
    size_t clen;
    uint8_t *c = compress_section(V_SNAPPY_XERIAL, rec, sizeof rec, &clen);
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    ck_assert_int_eq(validate_section(V_SNAPPY_XERIAL, c, clen, &s), SL_OK);
    uint32_t real = sl_load_be32(c + 16);
    static const uint32_t bad[] = {0, 1, UINT32_MAX, 0x80000000u};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad) + 2; i++) {
        uint32_t blen = i < SL_ARRAY_LEN(bad) ? bad[i] : real + (i == SL_ARRAY_LEN(bad) ? 1 : (uint32_t)-1);
        sl_store_be32(c + 16, blen);
        ck_assert_msg(validate_section(V_SNAPPY_XERIAL, c, clen, &s) == SL_CORRUPT, "block length %u of %u", blen,
                      real);
    }
    sl_store_be32(c + 16, real);
    /* A block length cut in half. */
    uint8_t *two = malloc(clen + 2);
    memcpy(two, c, clen);
    two[clen] = two[clen + 1] = 0;
    ck_assert_int_eq(validate_section(V_SNAPPY_XERIAL, two, clen + 2, &s), SL_CORRUPT);
    free(two);
    free(c);
    kafka_records_scratch_free(&s);
}
END_TEST

/* ---- the decompressed-size limit ---- */

START_TEST(test_decompression_bomb_is_too_large) {
    enum variant v = (enum variant)(_i + 1);
    const size_t limit = 1u << 20, bomb = 16u << 20;
    uint8_t *zeros = calloc(1, bomb);
    size_t clen;
    uint8_t *c = compress_section(v, zeros, bomb, &clen);
    ck_assert_uint_lt(clen, bomb / 16);
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, limit);
    ck_assert_int_eq(validate_section(v, c, clen, &s), SL_TOO_LARGE);
    ck_assert_uint_le(s.cap, limit + 1); /* never allocated past the limit */
    kafka_records_scratch_free(&s);
    free(c);
    free(zeros);
}
END_TEST

START_TEST(test_limit_is_inclusive) {
    enum variant v = (enum variant)_i;
    struct kafka_record_in recs[MIXED_RECORDS];
    uint32_t n = mixed_records(recs);
    size_t plain_len;
    uint8_t *plain = encode_or_die(recs, n, &plain_len);
    size_t section = plain_len - KAFKA_BATCH_HEADER_BYTES;
    uint32_t len;
    uint8_t *b = batch_recompress(plain, plain_len, v, &len);
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, section);
    ck_assert_int_eq(kafka_records_validate(b, len, &s), SL_OK);
    kafka_records_scratch_free(&s);
    kafka_records_scratch_init(&s, section - 1);
    /* Uncompressed records are not inflated, so the limit does not apply to them. */
    ck_assert_int_eq(kafka_records_validate(b, len, &s), v == V_NONE ? SL_OK : SL_TOO_LARGE);
    ck_assert_uint_le(s.cap, section);
    kafka_records_scratch_free(&s);
    free(b);
    free(plain);
}
END_TEST

/* ---- random damage ---- */

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* A walk that succeeds must be a walk of well-formed records inside the section. */
static void expect_sane_walk(const uint8_t *b, uint32_t len, struct kafka_records_scratch *s) {
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    ck_assert_int_eq(kafka_records_open(&it, b, len, s), SL_OK);
    const uint8_t *lo = it.p, *hi = it.end;
    int32_t i = 0;
    sl_err e;
    while ((e = kafka_records_next(&it, &rec)) == SL_OK) {
        ck_assert_int_eq(rec.offset_delta, i++);
        ck_assert(rec.key.len >= -1 && rec.value.len >= -1 && rec.header_count >= 0);
        if (rec.key.len > 0) ck_assert(rec.key.p >= lo && rec.key.p + rec.key.len <= hi);
        if (rec.value.len > 0) ck_assert(rec.value.p >= lo && rec.value.p + rec.value.len <= hi);
        struct kafka_records_header_iter hit;
        struct kafka_records_header h;
        int32_t k = 0;
        kafka_records_headers_open(&hit, &rec);
        while (kafka_records_header_next(&hit, &h)) {
            ck_assert(h.key.len >= 0 && h.key.p + h.key.len <= hi);
            k++;
        }
        ck_assert_int_eq(k, rec.header_count);
    }
    ck_assert_int_eq(e, SL_NOT_FOUND);
    ck_assert_int_eq(i, it.h.record_count);
}

START_TEST(test_random_flips_never_crash) {
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 4u << 20);
    struct kafka_record_in recs[MIXED_RECORDS];
    mixed_records(recs);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int ok = 0, failed = 0;
    for (int i = 0; i < 1000; i++) {
        enum variant v = (enum variant)(i % V_COUNT);
        uint32_t count = 1 + (uint32_t)(rng_next(&x) % 12), first = (uint32_t)(rng_next(&x) % (MIXED_RECORDS - count));
        size_t plain_len;
        uint8_t *plain = encode_or_die(recs + first, count, &plain_len);
        uint32_t len;
        uint8_t *b = batch_recompress(plain, plain_len, v, &len);
        int flips = 1 + (int)(rng_next(&x) % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = KAFKA_BATCH_HEADER_BYTES + rng_next(&x) % (len - KAFKA_BATCH_HEADER_BYTES);
            b[at] ^= (uint8_t)(1 + rng_next(&x) % 255);
        }
        kafka_batch_update_crc(b, len); /* so the walk, not the CRC, meets the damage */
        sl_err e = kafka_records_validate(b, len, &s);
        if (e == SL_OK) {
            expect_sane_walk(b, len, &s);
            ok++;
        } else {
            ck_assert_msg(e == SL_INVALID_RECORD || e == SL_CORRUPT || e == SL_TOO_LARGE, "%s", sl_err_str(e));
            failed++;
        }
        free(b);
        free(plain);
    }
    ck_assert_int_gt(failed, 300); /* damage in values and literals walks fine; the rest is caught */
    ck_assert_int_eq(ok + failed, 1000);
    kafka_records_scratch_free(&s);
}
END_TEST

static Suite *kafka_records_suite(void) {
    Suite *s = suite_create("protocol/kafka_records");
    TCase *tc = tcase_create("walk");
    tcase_add_loop_test(tc, test_every_codec_walks_every_field, 0, V_COUNT);
    tcase_add_loop_test(tc, test_batch_compress_round_trip, 1, 5);
    tcase_add_test(tc, test_compressed_batch_needs_scratch);
    tcase_add_test(tc, test_one_scratch_across_codecs_and_sizes);
    tcase_add_test(tc, test_log_append_time_uses_max_timestamp);
    tcase_add_test(tc, test_base_offset_is_added);
    suite_add_tcase(s, tc);
    tc = tcase_create("garbage");
    tcase_add_loop_test(tc, test_garbage_records_refused_under_every_codec, 0, (int)SL_ARRAY_LEN(k_garbage));
    tcase_add_test(tc, test_batch_level_client_rules);
    tcase_add_loop_test(tc, test_corrupt_compressed_payload_is_corrupt, 0, V_COUNT - 1);
    tcase_add_test(tc, test_xerial_bad_block_lengths);
    tcase_add_loop_test(tc, test_decompression_bomb_is_too_large, 0, V_COUNT - 1);
    tcase_add_loop_test(tc, test_limit_is_inclusive, 0, V_COUNT);
    tcase_add_test(tc, test_random_flips_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(kafka_records_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
