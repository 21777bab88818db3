/* kafka_records.c: the record walk and record-level check of RecordBatch v2 (contract in
 * kafka_records.h), and the inflation of compressed record sections into the caller's scratch.
 * Every codec is the distribution's library; this file only drives them with a bounded output
 * buffer, because a few KiB of zeros can claim gigabytes. Every length read from the wire is
 * checked against the record that holds it before anything is dereferenced. */
#include "protocol/kafka_records.h"

#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "protocol/crc32c.h"

#define SCRATCH_GROW_MIN_BYTES (64u << 10)
/* The records section is addressed with int32 positions in Kafka. */
#define SCRATCH_LIMIT_MAX ((size_t)INT32_MAX - 1)
/* xerial/snappy-java stream framing: magic, then int32 version and int32 compatible version. */
static const uint8_t k_xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER_BYTES 16

static inline int64_t add_wrap(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

/* ---- scratch ---- */

void kafka_records_scratch_init(struct kafka_records_scratch *s, size_t decompressed_bytes_max) {
    memset(s, 0, sizeof *s);
    s->decompressed_bytes_max = decompressed_bytes_max;
}

void kafka_records_scratch_free(struct kafka_records_scratch *s) {
    free(s->buf);
    if (s->gzip) {
        inflateEnd(s->gzip);
        free(s->gzip);
    }
    if (s->lz4) LZ4F_freeDecompressionContext(s->lz4);
    if (s->zstd) ZSTD_freeDCtx(s->zstd);
    kafka_records_scratch_init(s, s->decompressed_bytes_max);
}

static size_t scratch_limit(const struct kafka_records_scratch *s) {
    size_t max = s->decompressed_bytes_max ? s->decompressed_bytes_max : KAFKA_RECORDS_DECOMPRESSED_BYTES_MAX_DEFAULT;
    return SL_MIN(max, SCRATCH_LIMIT_MAX);
}

/* Makes cap >= need. One byte over the limit is allowed so a streaming codec can show that it
 * has more to give; SL_TOO_LARGE past that. */
static sl_err scratch_reserve(struct kafka_records_scratch *s, size_t need) {
    size_t hard = scratch_limit(s) + 1;
    if (need > hard) return SL_TOO_LARGE;
    if (need <= s->cap && s->buf) return SL_OK; /* never a NULL buffer, even for 0 bytes */
    size_t cap = SL_MAX(SL_MAX(need, (size_t)SCRATCH_GROW_MIN_BYTES), s->cap * 2);
    cap = SL_MIN(cap, hard);
    s->buf = sl_xrealloc(s->buf, cap);
    s->cap = cap;
    return SL_OK;
}

/* Called when [0, used) is full: grows, or SL_TOO_LARGE once used is past the limit. */
static sl_err scratch_grow(struct kafka_records_scratch *s, size_t used) {
    if (used > scratch_limit(s)) return SL_TOO_LARGE;
    return scratch_reserve(s, used + 1);
}

/* ---- codecs: each inflates [in, in + n) into s->buf and sets *out_len ---- */

static sl_err inflate_gzip(struct kafka_records_scratch *s, const uint8_t *in, size_t n, size_t *out_len) {
    z_stream *z = s->gzip;
    if (!z) {
        z = sl_xcalloc(1, sizeof *z);
        if (inflateInit2(z, 15 + 16) != Z_OK) { /* 15 + 16: a gzip wrapper, the largest window */
            free(z);
            return SL_NOMEM;
        }
        s->gzip = z;
    } else if (inflateReset(z) != Z_OK) {
        return SL_CORRUPT;
    }
    if (n > UINT_MAX) return SL_TOO_LARGE;
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    size_t out = 0;
    for (;;) {
        if (out == s->cap) {
            sl_err e = scratch_grow(s, out);
            if (e) return e;
        }
        z->next_out = s->buf + out;
        z->avail_out = (uInt)(s->cap - out);
        int r = inflate(z, Z_NO_FLUSH);
        out = s->cap - z->avail_out;
        if (r == Z_STREAM_END) {
            if (z->avail_in == 0) break;
            /* Java's GZIPInputStream reads concatenated members as one stream. */
            if (inflateReset(z) != Z_OK) return SL_CORRUPT;
            continue;
        }
        if (r == Z_OK || (r == Z_BUF_ERROR && z->avail_out == 0)) continue;
        return r == Z_MEM_ERROR ? SL_NOMEM : SL_CORRUPT; /* data error, or input ended mid-stream */
    }
    if (out > scratch_limit(s)) return SL_TOO_LARGE;
    *out_len = out;
    return SL_OK;
}

static sl_err snappy_block_length(const uint8_t *in, size_t n, size_t *ulen) {
    if (n == 0 || snappy_uncompressed_length((const char *)in, n, ulen) != SNAPPY_OK) return SL_CORRUPT;
    return SL_OK;
}

static sl_err snappy_block_inflate(uint8_t *out, size_t ulen, const uint8_t *in, size_t n) {
    size_t got = ulen;
    if (snappy_uncompress((const char *)in, n, (char *)out, &got) != SNAPPY_OK || got != ulen) return SL_CORRUPT;
    return SL_OK;
}

/* Java clients (and kafka-python by default) frame snappy as snappy-java's stream: a 16-byte
 * header, then [be32 length + raw block]*. Two passes: sizes first, so the limit is checked
 * before anything is allocated. */
static sl_err inflate_xerial(struct kafka_records_scratch *s, const uint8_t *in, size_t n, size_t *out_len) {
    size_t total = 0, limit = scratch_limit(s);
    for (size_t pos = XERIAL_HEADER_BYTES; pos < n;) {
        if (n - pos < 4) return SL_CORRUPT;
        size_t blen = sl_load_be32(in + pos), ulen;
        pos += 4;
        if (blen > n - pos || snappy_block_length(in + pos, blen, &ulen) != SL_OK) return SL_CORRUPT;
        if (ulen > limit - total) return SL_TOO_LARGE;
        total += ulen;
        pos += blen;
    }
    sl_err e = scratch_reserve(s, total);
    if (e) return e;
    size_t out = 0;
    for (size_t pos = XERIAL_HEADER_BYTES; pos < n;) {
        size_t blen = sl_load_be32(in + pos), ulen;
        pos += 4;
        (void)snappy_block_length(in + pos, blen, &ulen); /* passed in the first pass */
        if (snappy_block_inflate(s->buf + out, ulen, in + pos, blen) != SL_OK) return SL_CORRUPT;
        out += ulen;
        pos += blen;
    }
    *out_len = out;
    return SL_OK;
}

static sl_err inflate_snappy(struct kafka_records_scratch *s, const uint8_t *in, size_t n, size_t *out_len) {
    if (n >= XERIAL_HEADER_BYTES && memcmp(in, k_xerial_magic, sizeof k_xerial_magic) == 0)
        return inflate_xerial(s, in, n, out_len);
    size_t ulen;
    if (snappy_block_length(in, n, &ulen) != SL_OK) return SL_CORRUPT;
    if (ulen > scratch_limit(s)) return SL_TOO_LARGE;
    sl_err e = scratch_reserve(s, ulen);
    if (e) return e;
    if (snappy_block_inflate(s->buf, ulen, in, n) != SL_OK) return SL_CORRUPT;
    *out_len = ulen;
    return SL_OK;
}

/* Kafka's lz4 is one LZ4 frame (KafkaLZ4BlockOutputStream, correct header checksum for magic 2). */
static sl_err inflate_lz4(struct kafka_records_scratch *s, const uint8_t *in, size_t n, size_t *out_len) {
    LZ4F_dctx *d = s->lz4;
    if (!d) {
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) return SL_NOMEM;
        s->lz4 = d;
    } else {
        LZ4F_resetDecompressionContext(d);
    }
    size_t out = 0, pos = 0;
    size_t stall_budget = n + scratch_limit(s) + 2; /* as in inflate_zstd */
    for (;;) {
        if (out == s->cap) {
            sl_err e = scratch_grow(s, out);
            if (e) return e;
        }
        size_t dst = s->cap - out, src = n - pos;
        size_t r = LZ4F_decompress(d, s->buf + out, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(r) || --stall_budget == 0) return SL_CORRUPT;
        pos += src;
        out += dst;
        if (r == 0) break; /* end of frame */
        /* Input used up and room left, yet the frame is not finished: truncated. */
        if (pos == n && out < s->cap) return SL_CORRUPT;
    }
    if (pos != n) return SL_CORRUPT;
    if (out > scratch_limit(s)) return SL_TOO_LARGE;
    *out_len = out;
    return SL_OK;
}

/* A window larger than the output limit cannot be legitimate, and it is zstd's one big
 * allocation, so the limit caps it too. */
static int zstd_window_log_max(size_t limit) {
    int log = 10; /* zstd's smallest window, and 27 the default largest */
    while (log < 27 && ((size_t)1 << log) < limit) log++;
    return log;
}

static sl_err inflate_zstd(struct kafka_records_scratch *s, const uint8_t *in, size_t n, size_t *out_len) {
    ZSTD_DCtx *d = s->zstd;
    if (!d) {
        d = ZSTD_createDCtx();
        if (!d) return SL_NOMEM;
        s->zstd = d;
    } else {
        ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    }
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, zstd_window_log_max(scratch_limit(s)));
    ZSTD_inBuffer ib = {in, n, 0};
    size_t out = 0;
    /* Every call consumes input or fills output; this only bounds the loop if a call did not. */
    size_t stall_budget = n + scratch_limit(s) + 2;
    for (;;) {
        if (out == s->cap) {
            sl_err e = scratch_grow(s, out);
            if (e) return e;
        }
        ZSTD_outBuffer ob = {s->buf + out, s->cap - out, 0};
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r))
            return ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge ? SL_TOO_LARGE : SL_CORRUPT;
        out += ob.pos;
        if (r == 0 && ib.pos == ib.size) break; /* last frame done and flushed */
        if (ib.pos == ib.size && ob.pos < ob.size) return SL_CORRUPT; /* truncated */
        if (--stall_budget == 0) return SL_CORRUPT;
    }
    if (out > scratch_limit(s)) return SL_TOO_LARGE;
    *out_len = out;
    return SL_OK;
}

/* ---- varints, as Kafka's ByteUtils reads them ----
 * Every record of every produced batch is walked, so these are the produce path's innermost
 * loop. The common one- and two-byte forms (lengths, deltas and counts of small records) are
 * decoded inline; anything longer, or cut short by the end, takes the
 * general loop, which holds every rule (at most 5 / 10 bytes, no bits past 32 / 64). */

__attribute__((noinline)) static const uint8_t *varint32_get_long(const uint8_t *p, const uint8_t *end, int32_t *v) {
    uint32_t u = 0;
    for (unsigned i = 0; i < 5; i++) {
        if (p == end) return NULL;
        uint8_t b = *p++;
        u |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 4 && b > 0x0f) return NULL; /* bits past 32 */
            *v = (int32_t)((u >> 1) ^ (0u - (u & 1)));
            return p;
        }
    }
    return NULL;
}

/* Returns the byte after the varint at p, or NULL when it is malformed or runs past end. */
static inline const uint8_t *varint32_get(const uint8_t *p, const uint8_t *end, int32_t *v) {
    if (p != end) {
        uint32_t u = p[0];
        if (u < 0x80) {
            *v = (int32_t)((u >> 1) ^ (0u - (u & 1)));
            return p + 1;
        }
        if (end - p >= 2 && p[1] < 0x80) {
            u = (u & 0x7f) | (uint32_t)p[1] << 7;
            *v = (int32_t)((u >> 1) ^ (0u - (u & 1)));
            return p + 2;
        }
    }
    return varint32_get_long(p, end, v);
}

__attribute__((noinline)) static const uint8_t *varint64_get_long(const uint8_t *p, const uint8_t *end, int64_t *v) {
    uint64_t u = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (p == end) return NULL;
        uint8_t b = *p++;
        u |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i == 9 && b > 0x01) return NULL;
            *v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
            return p;
        }
    }
    return NULL;
}

static inline const uint8_t *varint64_get(const uint8_t *p, const uint8_t *end, int64_t *v) {
    if (p != end) {
        uint64_t u = p[0];
        if (u < 0x80) {
            *v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
            return p + 1;
        }
        if (end - p >= 2 && p[1] < 0x80) {
            u = (u & 0x7f) | (uint64_t)p[1] << 7;
            *v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
            return p + 2;
        }
    }
    return varint64_get_long(p, end, v);
}

/* A varint length and that many bytes (-1: null, when nullable); NULL as above. */
static inline const uint8_t *bytes_get(const uint8_t *p, const uint8_t *end, bool nullable, struct kafka_bytes *b) {
    int32_t len;
    p = varint32_get(p, end, &len);
    if (!p) return NULL;
    if (len == -1 && nullable) {
        b->p = NULL;
        b->len = -1;
        return p;
    }
    if (len < 0 || len > end - p) return NULL;
    b->p = p;
    b->len = len;
    return p + len;
}

/* ---- the walk ---- */

sl_err kafka_records_open(struct kafka_records_iter *it, const uint8_t *batch, uint32_t len,
                          struct kafka_records_scratch *scratch) {
    memset(it, 0, sizeof *it);
    it->last_delta = -1;
    it->err = SL_CORRUPT;
    sl_err e = kafka_batch_header_read(batch, len, &it->h);
    if (e == SL_OK && (size_t)it->h.batch_length + KAFKA_BATCH_LOG_OVERHEAD != len) e = SL_CORRUPT;
    if (e == SL_OK && (it->h.record_count < 0 || kafka_batch_compression(&it->h) > KAFKA_COMPRESSION_ZSTD))
        e = SL_INVALID_RECORD;
    const uint8_t *in = batch + KAFKA_BATCH_HEADER_BYTES;
    size_t n = len - (size_t)KAFKA_BATCH_HEADER_BYTES, out = n;
    int codec = e == SL_OK ? kafka_batch_compression(&it->h) : KAFKA_COMPRESSION_NONE;
    if (codec != KAFKA_COMPRESSION_NONE && !scratch) e = SL_INVALID_ARG;
    if (e == SL_OK) {
        switch (codec) {
        case KAFKA_COMPRESSION_GZIP: e = inflate_gzip(scratch, in, n, &out); break;
        case KAFKA_COMPRESSION_SNAPPY: e = inflate_snappy(scratch, in, n, &out); break;
        case KAFKA_COMPRESSION_LZ4: e = inflate_lz4(scratch, in, n, &out); break;
        case KAFKA_COMPRESSION_ZSTD: e = inflate_zstd(scratch, in, n, &out); break;
        default: break;
        }
        if (codec != KAFKA_COMPRESSION_NONE) in = scratch->buf;
    }
    if (e) {
        it->err = e;
        return e;
    }
    it->p = in;
    it->end = in + out;
    it->err = SL_OK;
    return SL_OK;
}

/* One record at it->p, per DefaultRecord.readFrom; false on any malformed field. Inlined into
 * both the iterator and kafka_records_validate's loop, the produce path's per-record cost. */
static inline __attribute__((always_inline)) bool record_read(struct kafka_records_iter *it,
                                                              struct kafka_records_rec *rec, bool strict) {
    const uint8_t *p = it->p;
    int32_t len;
    p = varint32_get(p, it->end, &len);
    if (!p || len < 1 || len > it->end - p) return false;
    const uint8_t *end = p + len;
    rec->attributes = (int8_t)*p++;
    if (!(p = varint64_get(p, end, &rec->timestamp_delta)) || !(p = varint32_get(p, end, &rec->offset_delta)) ||
        !(p = bytes_get(p, end, true, &rec->key)) || !(p = bytes_get(p, end, true, &rec->value)) ||
        !(p = varint32_get(p, end, &rec->header_count)))
        return false;
    /* A header takes at least two bytes: this bounds the loop before it starts. */
    if (rec->header_count < 0 || rec->header_count > (end - p) / 2) return false;
    rec->headers.p = p;
    for (int32_t i = 0; i < rec->header_count; i++) {
        struct kafka_bytes k, v;
        if (!(p = bytes_get(p, end, false, &k)) || !(p = bytes_get(p, end, true, &v))) return false;
    }
    if (p != end) return false;
    /* A producer's deltas are 0, 1, 2...; a compacted batch keeps its survivors' deltas: they
     * only have to rise, within lastOffsetDelta. */
    if (strict ? rec->offset_delta != it->index
               : (rec->offset_delta <= it->last_delta || rec->offset_delta > it->h.last_offset_delta))
        return false;
    it->last_delta = rec->offset_delta;
    rec->headers.len = (uint32_t)(end - rec->headers.p);
    rec->offset = add_wrap(it->h.base_offset, rec->offset_delta);
    rec->timestamp = (it->h.attributes & KAFKA_ATTR_LOG_APPEND_TIME) ? it->h.max_timestamp
                                                                     : add_wrap(it->h.first_timestamp, rec->timestamp_delta);
    it->p = end;
    return true;
}

sl_err kafka_records_next(struct kafka_records_iter *it, struct kafka_records_rec *rec) {
    if (it->err) return it->err;
    if (it->index == it->h.record_count) {
        /* Kafka: "Incorrect declared batch size, records still remaining". */
        if (it->p != it->end) it->err = SL_INVALID_RECORD;
        return it->err ? it->err : SL_NOT_FOUND;
    }
    if (it->p == it->end || !record_read(it, rec, false)) {
        it->err = SL_INVALID_RECORD;
        return it->err;
    }
    it->index++;
    return SL_OK;
}

void kafka_records_headers_open(struct kafka_records_header_iter *hi, const struct kafka_records_rec *rec) {
    hi->p = rec->headers.p;
    hi->end = rec->headers.p + rec->headers.len;
}

bool kafka_records_header_next(struct kafka_records_header_iter *hi, struct kafka_records_header *hdr) {
    if (hi->p == hi->end) return false;
    const uint8_t *p = bytes_get(hi->p, hi->end, false, &hdr->key);
    if (p) p = bytes_get(p, hi->end, true, &hdr->value);
    SL_ASSERT(p); /* the record read checked these bytes */
    hi->p = p;
    return true;
}

sl_err kafka_records_all_keyed(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch) {
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    sl_err e = kafka_records_open(&it, batch, len, scratch);
    while (!e && (e = kafka_records_next(&it, &rec)) == SL_OK)
        if (rec.key.len < 0) return SL_INVALID_RECORD;
    return e == SL_NOT_FOUND ? SL_OK : e;
}

sl_err kafka_records_validate(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch) {
    struct kafka_batch_header h;
    sl_err e = kafka_batch_check(batch, len, &h);
    if (e) return e;
    /* LogValidator.validateBatch, for a client's batch. */
    if (h.attributes & KAFKA_ATTR_CONTROL) return SL_INVALID_RECORD;
    if (h.producer_id >= 0 && h.base_sequence < 0) return SL_INVALID_RECORD;
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    e = kafka_records_open(&it, batch, len, scratch);
    if (e) return e;
    /* kafka_records_next's walk, without its per-call state checks: recordsCount records, each
     * one well formed, then nothing left over. */
    for (; it.index < it.h.record_count; it.index++)
        if (it.p == it.end || !record_read(&it, &rec, true)) return SL_INVALID_RECORD;
    return it.p == it.end ? SL_OK : SL_INVALID_RECORD;
}

sl_err kafka_records_filter(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch,
                            bool (*keep)(void *ctx, const struct kafka_records_rec *rec), void *ctx,
                            uint8_t *out, size_t cap, uint32_t *out_len, int32_t *kept) {
    struct kafka_records_iter it;
    sl_err e = kafka_records_open(&it, batch, len, scratch);
    if (e) return e;
    if (cap < KAFKA_BATCH_HEADER_BYTES) return SL_INVALID_ARG;
    size_t at = KAFKA_BATCH_HEADER_BYTES;
    int32_t n = 0;
    for (;;) {
        const uint8_t *from = it.p;
        struct kafka_records_rec rec;
        e = kafka_records_next(&it, &rec);
        if (e == SL_NOT_FOUND) break;
        if (e) return e;
        if (!keep(ctx, &rec)) continue;
        size_t rl = (size_t)(it.p - from);
        if (at + rl > cap) return SL_TOO_LARGE;
        memcpy(out + at, from, rl); /* the record's bytes verbatim: its deltas stay valid */
        at += rl;
        n++;
    }
    /* The header as it was, except: uncompressed (the survivors are written plain), the new
     * count and length, and the CRC over it all. Offsets, timestamps and the producer's id,
     * epoch and sequence stay, as Kafka's cleaner keeps them. */
    memcpy(out, batch, KAFKA_BATCH_HEADER_BYTES);
    uint16_t attr = (uint16_t)((uint16_t)it.h.attributes & ~(uint16_t)KAFKA_ATTR_COMPRESSION_MASK);
    sl_store_be16(out + 21, attr);
    sl_store_be32(out + 57, (uint32_t)n);
    sl_store_be32(out + 8, (uint32_t)(at - KAFKA_BATCH_LOG_OVERHEAD));
    kafka_batch_update_crc(out, at);
    *out_len = (uint32_t)at;
    *kept = n;
    return SL_OK;
}
