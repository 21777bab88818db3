/* kafka_msgs_harness.h: the shared body of the Kafka message codec suites
 * (protocol_kafka_msgs_*_test.c). A suite describes each request and response as a
 * struct msg_codec (fill a struct with distinctive values, encode, decode, compare) and the
 * harness runs, at every version: the round trip (all bytes consumed, re-encoding
 * byte-exact), every truncation (never SL_OK), and random byte flips and garbage (never a
 * crash; whatever decodes must re-encode and decode again to the same bytes). Inputs are
 * copied into exact-size heap buffers so ASan sees any read past their end. */
#ifndef SL_KAFKA_MSGS_HARNESS_H
#define SL_KAFKA_MSGS_HARNESS_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/karena.h"
#include "protocol/kbuf.h"

struct msg_codec {
    const char *name;
    int16_t version_min, version_max;
    size_t size; /* of the message struct */
    void (*fill)(void *msg, int16_t version, struct karena *a);
    void (*encode)(struct kw *w, int16_t version, const void *msg);
    sl_err (*decode)(struct kr *r, int16_t version, struct karena *a, void *msg);
    /* Compares the fields that exist at version; the others must hold their defaults. */
    void (*check)(const void *want, const void *got, int16_t version);
};

/* Adapters from the typed codecs to struct msg_codec's void pointers. */
#define CODEC_ADAPTERS(api)                                                                        \
    static void enc_req_##api(struct kw *w, int16_t v, const void *m) { kafka_encode_##api##_req(w, v, m); } \
    static sl_err dec_req_##api(struct kr *r, int16_t v, struct karena *a, void *m) {             \
        return kafka_decode_##api(r, v, a, m);                                                     \
    }                                                                                              \
    static void enc_resp_##api(struct kw *w, int16_t v, const void *m) { kafka_encode_##api##_resp(w, v, m); } \
    static sl_err dec_resp_##api(struct kr *r, int16_t v, struct karena *a, void *m) {            \
        return kafka_decode_##api##_resp(r, v, a, m);                                              \
    }
#define CODEC_REQ(api, lo, hi)                                                                     \
    {#api " request", lo, hi, sizeof(struct kafka_##api##_req), fill_##api##_req, enc_req_##api,  \
     dec_req_##api, check_##api##_req}
#define CODEC_RESP(api, lo, hi)                                                                    \
    {#api " response", lo, hi, sizeof(struct kafka_##api##_resp), fill_##api##_resp, enc_resp_##api, \
     dec_resp_##api, check_##api##_resp}

/* What the failure messages name. */
static const char *cur_name = "";
static int16_t cur_v;

#define S(lit) ((struct kstr){(lit), (int32_t)(sizeof(lit) - 1)})
#define SNULL ((struct kstr){NULL, -1})
#define BLOB(arr) ((struct kstr){(const char *)(arr), (int32_t)sizeof(arr)})
#define NEW(a, type, n) KARENA_NEW_ARRAY((a), type, (n))

/* Binary blobs with zero bytes inside, as consumer-protocol metadata has. */
static const uint8_t blob_a[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 'a', 0x00, 0xff};
static const uint8_t blob_b[] = {0x00};

static inline bool kstr_eq(struct kstr a, struct kstr b) {
    if (a.len != b.len) return false;
    return a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0;
}

/* A non-nullable field's value after a round trip: the encoders write null as "". */
static inline struct kstr nn(struct kstr s) { return s.len < 0 ? S("") : s; }

#define CK_EQ(g, w)                                                                                \
    ck_assert_msg((long long)(g) == (long long)(w), "%s v%d: %s = %lld, want %lld", cur_name, cur_v, #g, \
                  (long long)(g), (long long)(w))
#define CK_STR(g, w)                                                                               \
    do {                                                                                           \
        struct kstr g_ = (g), w_ = (w);                                                            \
        ck_assert_msg(kstr_eq(g_, w_), "%s v%d: %s = '%.*s' (len %d), want '%.*s' (len %d)", cur_name, cur_v, \
                      #g, g_.len > 0 ? (int)g_.len : 0, g_.len > 0 ? g_.p : "", (int)g_.len,       \
                      w_.len > 0 ? (int)w_.len : 0, w_.len > 0 ? w_.p : "", (int)w_.len);          \
    } while (0)
#define CK_UUID(g, w) ck_assert_msg(memcmp((g), (w), 16) == 0, "%s v%d: %s differs", cur_name, cur_v, #g)

static inline void ck_i32s(const int32_t *g, int32_t gn, const int32_t *w, int32_t wn) {
    CK_EQ(gn, wn);
    for (int32_t i = 0; i < gn; i++) CK_EQ(g[i], w[i]);
}

static inline void ck_strs(const struct kstr *g, int32_t gn, const struct kstr *w, int32_t wn) {
    CK_EQ(gn, wn);
    for (int32_t i = 0; i < gn; i++) CK_STR(g[i], w[i]);
}

static inline uint8_t *dup_exact(const uint8_t *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(d);
    if (n) memcpy(d, p, n);
    return d;
}

static inline uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Fill, encode, decode; every byte consumed, the fields equal, a re-encoding byte-exact. */
static inline void run_round_trip(const struct msg_codec *c, int16_t v) {
    struct karena a;
    struct kw w1, w2;
    karena_init(&a, 0);
    kw_init(&w1, 0);
    kw_init(&w2, 0);
    void *want = calloc(1, c->size), *got = calloc(1, c->size);
    cur_name = c->name;
    cur_v = v;
    c->fill(want, v, &a);
    c->encode(&w1, v, want);
    uint8_t *buf = dup_exact(w1.p, w1.len);
    struct kr r = kr_make(buf, w1.len);
    sl_err e = c->decode(&r, v, &a, got);
    ck_assert_msg(e == SL_OK, "%s v%d: decode failed: %s", c->name, v, sl_err_str(e));
    ck_assert_msg(kr_left(&r) == 0, "%s v%d: %zu bytes left", c->name, v, kr_left(&r));
    c->check(want, got, v);
    c->encode(&w2, v, got);
    ck_assert_msg(w2.len == w1.len && memcmp(w1.p, w2.p, w1.len) == 0, "%s v%d: re-encoding differs", c->name, v);
    free(buf);
    free(want);
    free(got);
    kw_free(&w1);
    kw_free(&w2);
    karena_free(&a);
}

/* A version outside the codec's range is refused, whatever the bytes. */
static inline void run_bad_versions(const struct msg_codec *c) {
    static const uint8_t zeros[64];
    struct karena a;
    karena_init(&a, 0);
    void *m = calloc(1, c->size);
    int16_t bad[] = {-1, (int16_t)(c->version_max + 1), INT16_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kr r = kr_make(zeros, sizeof(zeros));
        ck_assert_msg(c->decode(&r, bad[i], &a, m) == SL_INVALID_ARG, "%s: v%d accepted", c->name, bad[i]);
    }
    free(m);
    karena_free(&a);
}

/* Every proper prefix of the encoding is an error. */
static inline void run_truncations(const struct msg_codec *c, int16_t v) {
    struct karena a;
    struct kw w;
    karena_init(&a, 0);
    kw_init(&w, 0);
    void *m = calloc(1, c->size);
    c->fill(m, v, &a);
    c->encode(&w, v, m);
    for (size_t n = 0; n < w.len; n++) {
        uint8_t *buf = dup_exact(w.p, n);
        struct kr r = kr_make(buf, n);
        karena_reset(&a);
        sl_err e = c->decode(&r, v, &a, m);
        ck_assert_msg(e != SL_OK, "%s v%d: prefix %zu of %zu decoded", c->name, v, n, w.len);
        free(buf);
    }
    free(m);
    kw_free(&w);
    karena_free(&a);
}

/* Decodes hostile bytes; on success the result must encode and decode again, stably. */
static inline void decode_hostile(const struct msg_codec *c, int16_t v, const uint8_t *p, size_t n,
                                  struct karena *a, void *m1, void *m2) {
    uint8_t *buf = dup_exact(p, n);
    struct kr r = kr_make(buf, n);
    karena_reset(a);
    if (c->decode(&r, v, a, m1) == SL_OK) {
        struct kw w1, w2;
        kw_init(&w1, 0);
        kw_init(&w2, 0);
        c->encode(&w1, v, m1);
        uint8_t *again = dup_exact(w1.p, w1.len);
        struct kr r2 = kr_make(again, w1.len);
        sl_err e = c->decode(&r2, v, a, m2);
        ck_assert_msg(e == SL_OK, "%s v%d: re-encoded hostile input does not decode", c->name, v);
        c->encode(&w2, v, m2);
        ck_assert_msg(w1.len == w2.len && memcmp(w1.p, w2.p, w1.len) == 0, "%s v%d: unstable re-encoding",
                      c->name, v);
        free(again);
        kw_free(&w1);
        kw_free(&w2);
    }
    free(buf);
}

/* Random byte flips of the valid encoding, then random garbage. */
static inline void run_flips(const struct msg_codec *c, int16_t v, int rounds) {
    struct karena a;
    struct kw w;
    karena_init(&a, 0);
    kw_init(&w, 0);
    void *m1 = calloc(1, c->size), *m2 = calloc(1, c->size);
    c->fill(m1, v, &a);
    c->encode(&w, v, m1);
    uint8_t *base = dup_exact(w.p, w.len);
    size_t len = w.len;
    uint8_t *scratch = malloc(len + 64);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(uintptr_t)c->name << 8) ^ (uint64_t)v;
    for (int i = 0; i < rounds && len > 0; i++) {
        memcpy(scratch, base, len);
        int flips = 1 + (int)(rng_next(&seed) % 3);
        for (int f = 0; f < flips; f++) {
            size_t at = rng_next(&seed) % len;
            uint64_t x = rng_next(&seed);
            /* Half the time a length-shaped value, to reach the count and size checks. */
            scratch[at] = (x & 1) ? (uint8_t)(x >> 8) : (uint8_t)(0x7f + (x >> 8) % 3);
        }
        size_t cut = (rng_next(&seed) % 4 == 0) ? rng_next(&seed) % (len + 1) : len;
        decode_hostile(c, v, scratch, cut, &a, m1, m2);
    }
    for (int i = 0; i < rounds / 4; i++) {
        size_t n = rng_next(&seed) % 64;
        for (size_t k = 0; k < n; k++) scratch[k] = (uint8_t)rng_next(&seed);
        decode_hostile(c, v, scratch, n, &a, m1, m2);
    }
    free(scratch);
    free(base);
    free(m1);
    free(m2);
    kw_free(&w);
    karena_free(&a);
}

/* Decodes a hand-assembled body (a static array: ASan watches its end too) into out, and
 * checks that encoding the result gives the same bytes. */
static inline void ck_known_bytes(const struct msg_codec *c, int16_t v, const uint8_t *bytes, size_t n,
                                  struct karena *a, void *out) {
    struct kr r = kr_make(bytes, n);
    sl_err e = c->decode(&r, v, a, out);
    ck_assert_msg(e == SL_OK, "%s v%d: known bytes do not decode: %s", c->name, v, sl_err_str(e));
    ck_assert_uint_eq(kr_left(&r), 0);
    struct kw w;
    kw_init(&w, 0);
    c->encode(&w, v, out);
    ck_assert_uint_eq(w.len, n);
    ck_assert(memcmp(w.p, bytes, n) == 0);
    kw_free(&w);
}


/* The table-driven tests every suite runs over its codecs: round trip (and refused versions),
 * truncations, flips and garbage, at every version. add_codec_tests registers them as loop
 * tests over the suite's table, which it remembers for them. */
static const struct msg_codec *suite_codecs;

START_TEST(test_round_trip) {
    const struct msg_codec *c = &suite_codecs[_i];
    for (int16_t v = c->version_min; v <= c->version_max; v++) run_round_trip(c, v);
    run_bad_versions(c);
}
END_TEST

START_TEST(test_truncations) {
    const struct msg_codec *c = &suite_codecs[_i];
    for (int16_t v = c->version_min; v <= c->version_max; v++) run_truncations(c, v);
}
END_TEST

START_TEST(test_flips) {
    const struct msg_codec *c = &suite_codecs[_i];
    for (int16_t v = c->version_min; v <= c->version_max; v++) run_flips(c, v, 2000);
}
END_TEST

static inline void add_codec_tests(TCase *tc, const struct msg_codec *table, int n) {
    suite_codecs = table;
    tcase_add_loop_test(tc, test_round_trip, 0, n);
    tcase_add_loop_test(tc, test_truncations, 0, n);
    tcase_add_loop_test(tc, test_flips, 0, n);
}

#endif
