/* kafka_codec.h: the small decode/encode helpers the Kafka message codecs share, on top of
 * kafka_api.h's readers. Internal to protocol/kafka_msgs_*.c: no other file includes it, and
 * nothing in it is part of a module's interface. Everything is a macro or static inline, so
 * each codec still builds alone.
 *
 * Decoders: a failed read sets r->err once (the first error wins) and moves r->p to the end,
 * so every later read fails too and the caller checks r->err once at the end; decoded arrays
 * live in the caller's arena, strings point into the request. Encoders write what they are
 * given, except that a non-nullable string or array goes out empty when it is null. */
#ifndef SL_KAFKA_CODEC_H
#define SL_KAFKA_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "protocol/kafka_api.h"

/* A version outside the range is the dispatcher's bug or a hostile header: refuse to guess
 * the layout. Decoders say so; encoders stop, as on any broken invariant. */
#define DEC_VERSION(v, max)                                                                \
    do {                                                                                   \
        if ((v) < 0 || (v) > (max)) return SL_INVALID_ARG;                                 \
    } while (0)
#define ENC_VERSION(v, max) SL_ASSERT((v) >= 0 && (v) <= (max))

/* No array in an admin or group request needs more elements than this (a tighter cap than
 * kafka_read_array's KAFKA_ARRAY_MAX). */
#define CODEC_ARRAY_MAX (1 << 20)

static const struct kstr kstr_empty = {"", 0};
static const struct kstr kstr_null = {NULL, -1};

/* ---- decoding ---- */

static inline void dec_fail(struct kr *r, sl_err e) {
    if (!r->err) r->err = e;
    r->p = r->end;
}

/* STRING that is not nullable at this version: a null is malformed, as in Kafka's readers. */
static inline struct kstr dec_str(struct kr *r, bool flex) { return kafka_read_str(r, flex, false); }

/* BYTES (never nullable in these APIs). */
static inline struct kstr dec_bytes(struct kr *r, bool flex) {
    struct kstr s = kr_bytes(r, flex);
    if (!r->err && s.len < 0) dec_fail(r, SL_CORRUPT);
    return s;
}

/* Array length (-1: null, only if nullable); each element takes at least min_bytes, so n of
 * them must fit in what is left. kafka_read_array, capped at CODEC_ARRAY_MAX. */
static inline int32_t dec_count(struct kr *r, bool flex, bool nullable, size_t min_bytes) {
    int32_t n = kafka_read_array(r, flex, nullable, min_bytes);
    if (n > CODEC_ARRAY_MAX) {
        dec_fail(r, SL_UNDERFLOW);
        return 0;
    }
    return n;
}

/* Arena array of n elements of type; NULL for n <= 0. */
#define DEC_ARRAY(a, n, type) ((type *)kafka_alloc_array((a), (n), sizeof(type)))

static inline int32_t *dec_i32s(struct kr *r, bool flex, struct karena *a, bool nullable,
                                int32_t *count) {
    int32_t n = dec_count(r, flex, nullable, 4);
    int32_t *v = DEC_ARRAY(a, n, int32_t);
    for (int32_t i = 0; i < n; i++) v[i] = kr_i32(r);
    *count = n;
    return v;
}

/* An array of non-nullable strings. */
static inline struct kstr *dec_strs(struct kr *r, bool flex, struct karena *a, bool nullable,
                                    int32_t *count) {
    int32_t n = dec_count(r, flex, nullable, 1);
    struct kstr *v = DEC_ARRAY(a, n, struct kstr);
    for (int32_t i = 0; i < n && !r->err; i++) v[i] = dec_str(r, flex);
    *count = n;
    return v;
}

/* ---- encoding ---- */

/* Not nullable here: a null goes out as "" (Kafka does the same for ProtocolName < v7). */
static inline void enc_str(struct kw *w, bool flex, struct kstr s) {
    if (s.len > 0) kw_str(w, flex, s.p, s.len);
    else kw_str(w, flex, "", 0);
}

/* Nullable STRING: len < 0 is null; {NULL, 0} is "" (kafka_write_str would write null). */
static inline void enc_nstr(struct kw *w, bool flex, struct kstr s) {
    if (s.len < 0) kw_str(w, flex, NULL, -1);
    else enc_str(w, flex, s);
}

/* BYTES, not nullable: a null goes out empty. */
static inline void enc_bytes(struct kw *w, bool flex, struct kstr b) {
    if (b.len > 0) kw_bytes(w, flex, b.p, b.len);
    else kw_bytes(w, flex, "", 0);
}

/* A negative count is null where the array is nullable, empty where it is not. */
static inline void enc_count(struct kw *w, bool flex, int32_t n, bool nullable) {
    kw_array(w, flex, n >= 0 ? n : (nullable ? -1 : 0));
}

static inline void enc_i32s(struct kw *w, bool flex, const int32_t *v, int32_t n, bool nullable) {
    enc_count(w, flex, n, nullable);
    for (int32_t i = 0; i < n; i++) kw_i32(w, v[i]);
}

static inline void enc_strs(struct kw *w, bool flex, const struct kstr *v, int32_t n,
                            bool nullable) {
    enc_count(w, flex, n, nullable);
    for (int32_t i = 0; i < n; i++) enc_str(w, flex, v[i]);
}

#endif
