/* kbuf.c: Kafka wire cursors (see kbuf.h). */
#include "protocol/kbuf.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static inline bool kr_need(struct kr *r, size_t n) {
    if (r->err) return false;
    if ((size_t)(r->end - r->p) < n) {
        r->err = SL_UNDERFLOW;
        r->p = r->end;
        return false;
    }
    return true;
}

int8_t kr_i8(struct kr *r) {
    if (!kr_need(r, 1)) return 0;
    return (int8_t)*r->p++;
}

int16_t kr_i16(struct kr *r) {
    if (!kr_need(r, 2)) return 0;
    int16_t v = (int16_t)sl_load_be16(r->p);
    r->p += 2;
    return v;
}

int32_t kr_i32(struct kr *r) {
    if (!kr_need(r, 4)) return 0;
    int32_t v = (int32_t)sl_load_be32(r->p);
    r->p += 4;
    return v;
}

int64_t kr_i64(struct kr *r) {
    if (!kr_need(r, 8)) return 0;
    int64_t v = (int64_t)sl_load_be64(r->p);
    r->p += 8;
    return v;
}

static uint64_t kr_uvarint64(struct kr *r, unsigned max_bytes) {
    uint64_t v = 0;
    for (unsigned i = 0; i < max_bytes; i++) {
        if (!kr_need(r, 1)) return 0;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return v;
    }
    r->err = SL_CORRUPT;
    r->p = r->end;
    return 0;
}

uint32_t kr_uvarint(struct kr *r) {
    uint64_t v = kr_uvarint64(r, 5);
    if (v > UINT32_MAX) {
        r->err = r->err ? r->err : SL_CORRUPT;
        return 0;
    }
    return (uint32_t)v;
}

int32_t kr_varint(struct kr *r) {
    uint32_t u = kr_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t kr_varlong(struct kr *r) {
    uint64_t u = kr_uvarint64(r, 10);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

bool kr_bool(struct kr *r) { return kr_i8(r) != 0; }

void kr_uuid(struct kr *r, uint8_t out[16]) {
    if (!kr_need(r, 16)) {
        memset(out, 0, 16);
        return;
    }
    memcpy(out, r->p, 16);
    r->p += 16;
}

static struct kstr kr_span(struct kr *r, int64_t len) {
    struct kstr s = {NULL, -1};
    if (r->err) return s;
    if (len < -1 || len > INT32_MAX) {
        r->err = SL_CORRUPT;
        r->p = r->end;
        return s;
    }
    if (len == -1) return s;
    if (!kr_need(r, (size_t)len)) return s;
    s.p = (const char *)r->p;
    s.len = (int32_t)len;
    r->p += len;
    return s;
}

struct kstr kr_str(struct kr *r, bool flex) {
    int64_t len = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i16(r);
    return kr_span(r, len);
}

struct kstr kr_bytes(struct kr *r, bool flex) {
    int64_t len = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i32(r);
    return kr_span(r, len);
}

int32_t kr_array(struct kr *r, bool flex, int32_t max) {
    int64_t n = flex ? (int64_t)kr_uvarint(r) - 1 : kr_i32(r);
    if (r->err) return 0;
    if (n < -1 || n > max || (n > 0 && (size_t)n > kr_left(r))) {
        r->err = SL_UNDERFLOW;
        r->p = r->end;
        return 0;
    }
    return (int32_t)n;
}

void kr_tags(struct kr *r, bool flex) {
    if (!flex) return;
    uint32_t n = kr_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)kr_uvarint(r); /* tag */
        uint32_t size = kr_uvarint(r);
        kr_skip(r, size);
    }
}

void kr_skip(struct kr *r, size_t n) {
    if (kr_need(r, n)) r->p += n;
}

void kw_init(struct kw *w, size_t cap) {
    w->cap = cap ? cap : 256;
    w->p = sl_xmalloc(w->cap);
    w->len = 0;
    w->err_counts = NULL;
}

void kw_free(struct kw *w) {
    free(w->p);
    w->p = NULL;
    w->len = w->cap = 0;
}

void kw_reset(struct kw *w) { w->len = 0; }

uint8_t *kw_grow(struct kw *w, size_t n) {
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (w->len + n > cap) cap *= 2;
        w->p = sl_xrealloc(w->p, cap);
        w->cap = cap;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

void kw_i8(struct kw *w, int8_t v) { *kw_grow(w, 1) = (uint8_t)v; }
void kw_i16(struct kw *w, int16_t v) { sl_store_be16(kw_grow(w, 2), (uint16_t)v); }

void kw_error(struct kw *w, int16_t code) {
    kw_i16(w, code);
    if (!code || !w->err_counts) return;
    int idx = code >= KW_ERR_MIN && code <= KW_ERR_MAX ? code - KW_ERR_MIN : -1 - KW_ERR_MIN;
    w->err_counts[idx]++;
}
void kw_i32(struct kw *w, int32_t v) { sl_store_be32(kw_grow(w, 4), (uint32_t)v); }
void kw_i64(struct kw *w, int64_t v) { sl_store_be64(kw_grow(w, 8), (uint64_t)v); }
void kw_bool(struct kw *w, bool v) { kw_i8(w, v ? 1 : 0); }

void kw_uvarint(struct kw *w, uint32_t v) {
    uint8_t buf[5];
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (uint8_t)v;
    memcpy(kw_grow(w, n), buf, n);
}

void kw_varint(struct kw *w, int32_t v) {
    kw_uvarint(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void kw_uuid(struct kw *w, const uint8_t v[16]) { memcpy(kw_grow(w, 16), v, 16); }

void kw_raw(struct kw *w, const void *p, size_t n) {
    if (n) memcpy(kw_grow(w, n), p, n);
}

void kw_str(struct kw *w, bool flex, const char *s, int32_t len) {
    if (!s) len = -1;
    /* A non-compact STRING has an int16 length: longer strings cannot be written, and every
     * caller passes names and messages far below that. */
    SL_ASSERT(flex || len <= INT16_MAX);
    if (flex) kw_uvarint(w, (uint32_t)(len + 1));
    else kw_i16(w, (int16_t)len);
    if (len > 0) kw_raw(w, s, (size_t)len);
}

void kw_bytes(struct kw *w, bool flex, const void *p, int32_t len) {
    if (!p && len > 0) len = -1;
    if (flex) kw_uvarint(w, (uint32_t)(len + 1));
    else kw_i32(w, len);
    if (len > 0) kw_raw(w, p, (size_t)len);
}

void kw_array(struct kw *w, bool flex, int32_t n) {
    if (flex) kw_uvarint(w, (uint32_t)(n + 1));
    else kw_i32(w, n);
}

void kw_tags(struct kw *w, bool flex) {
    if (flex) kw_uvarint(w, 0);
}

size_t kw_reserve_i32(struct kw *w) {
    size_t at = w->len;
    kw_grow(w, 4);
    return at;
}

void kw_patch_i32(struct kw *w, size_t at, int32_t v) {
    SL_ASSERT(at + 4 <= w->len);
    sl_store_be32(w->p + at, (uint32_t)v);
}
