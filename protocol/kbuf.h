/* kbuf.h: Kafka wire cursors. A reader (struct kr) walks a request and carries a sticky
 * error: read every field, check r->err once (librdkafka's read macros, without the goto).
 * A writer (struct kw) owns a growing buffer; lengths unknown up front are reserved and
 * patched. Strings and byte ranges read from a request point into it (never copied).
 *
 * "flex" selects the KIP-482 compact encodings: lengths as unsigned varint (length + 1, 0
 * for null) and tagged-field sections. */
#ifndef SL_KBUF_H
#define SL_KBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

struct kr {
    const uint8_t *p, *end;
    sl_err err;
};

/* A string or byte range inside the request; len -1 is null. */
struct kstr {
    const char *p;
    int32_t len;
};

static inline struct kr kr_make(const uint8_t *p, size_t len) {
    struct kr r = {p, p + len, SL_OK};
    return r;
}
static inline size_t kr_left(const struct kr *r) { return (size_t)(r->end - r->p); }

int8_t kr_i8(struct kr *r);
int16_t kr_i16(struct kr *r);
int32_t kr_i32(struct kr *r);
int64_t kr_i64(struct kr *r);
uint32_t kr_uvarint(struct kr *r);
int32_t kr_varint(struct kr *r);   /* zigzag */
int64_t kr_varlong(struct kr *r);  /* zigzag */
bool kr_bool(struct kr *r);
void kr_uuid(struct kr *r, uint8_t out[16]);
/* STRING / COMPACT_STRING, NULLABLE_STRING / COMPACT_NULLABLE_STRING (null: len -1). */
struct kstr kr_str(struct kr *r, bool flex);
/* BYTES / COMPACT_BYTES (and their nullable forms). */
struct kstr kr_bytes(struct kr *r, bool flex);
/* ARRAY / COMPACT_ARRAY length: -1 for null; SL_UNDERFLOW if it exceeds max or what is
 * left could hold (every element takes at least one byte), so a hostile count never
 * drives an allocation. */
int32_t kr_array(struct kr *r, bool flex, int32_t max);
/* Skips a tagged-field section (flex only; a no-op otherwise). */
void kr_tags(struct kr *r, bool flex);
void kr_skip(struct kr *r, size_t n);

/* The Kafka error codes kw_error counts: -1 (UNKNOWN_SERVER_ERROR) to 127 (Kafka's own table
 * ends near 120), one counter each at index code - KW_ERR_MIN. */
#define KW_ERR_MIN (-1)
#define KW_ERR_MAX 127
#define KW_ERR_SLOTS (KW_ERR_MAX - KW_ERR_MIN + 1)

struct kw {
    uint8_t *p;
    size_t len, cap;
    /* When set (KW_ERR_SLOTS counters), kw_error counts every non-zero code it writes: the broker
     * points a response's writer at its API's counters, so each error code sent is counted
     * where it is encoded, whatever handler chose it. */
    uint64_t *err_counts;
};

void kw_init(struct kw *w, size_t cap);
void kw_free(struct kw *w);
void kw_reset(struct kw *w);
/* Room for n more bytes; returns where they go. */
uint8_t *kw_grow(struct kw *w, size_t n);
void kw_i8(struct kw *w, int8_t v);
void kw_i16(struct kw *w, int16_t v);
/* An ErrorCode field: kw_i16, counted in w->err_counts when non-zero (a code outside
 * KW_ERR_MIN..KW_ERR_MAX counts as -1). */
void kw_error(struct kw *w, int16_t code);
void kw_i32(struct kw *w, int32_t v);
void kw_i64(struct kw *w, int64_t v);
void kw_uvarint(struct kw *w, uint32_t v);
void kw_varint(struct kw *w, int32_t v);
void kw_bool(struct kw *w, bool v);
void kw_uuid(struct kw *w, const uint8_t v[16]);
void kw_raw(struct kw *w, const void *p, size_t n);
/* s may be NULL with len -1 for null. */
void kw_str(struct kw *w, bool flex, const char *s, int32_t len);
static inline void kw_cstr(struct kw *w, bool flex, const char *s) {
    kw_str(w, flex, s, s ? (int32_t)__builtin_strlen(s) : -1);
}
void kw_bytes(struct kw *w, bool flex, const void *p, int32_t len);
/* Array length (n -1 for null). */
void kw_array(struct kw *w, bool flex, int32_t n);
/* An empty tagged-field section (flex only). */
void kw_tags(struct kw *w, bool flex);
/* Reserves an int32 to patch later; returns its position. */
size_t kw_reserve_i32(struct kw *w);
void kw_patch_i32(struct kw *w, size_t at, int32_t v);

#endif
