/* kafka_batch.c: RecordBatch v2 checks, record walk and encoder (format in kafka_batch.h).
 * Owns no memory: the walk hands out pointers into the caller's batch and the encoder writes
 * into the caller's buffer. Every length read from the wire is bounded by the record that
 * holds it before anything is dereferenced, because batches arrive from untrusted clients and
 * from disk after a crash. */
#include "protocol/kafka_batch.h"

#include <stdbool.h>
#include <string.h>

#include "base/base.h"
#include "protocol/crc32c.h"

/* Smallest legal batchLength: a header with no records. */
#define KAFKA_BATCH_LENGTH_MIN (KAFKA_BATCH_HEADER_BYTES - KAFKA_BATCH_LOG_OVERHEAD)

/* Wire deltas may be anything; wrapping keeps a hostile delta from being undefined behaviour. */
static inline int64_t kafka_add_wrap(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

sl_err kafka_batch_header_read(const uint8_t *p, size_t avail, struct kafka_batch_header *h) {
    if (avail < KAFKA_BATCH_HEADER_BYTES) return SL_UNDERFLOW;
    h->base_offset = (int64_t)sl_load_be64(p);
    h->batch_length = (int32_t)sl_load_be32(p + 8);
    h->partition_leader_epoch = (int32_t)sl_load_be32(p + 12);
    h->magic = (int8_t)p[16];
    h->crc = sl_load_be32(p + 17);
    h->attributes = (int16_t)sl_load_be16(p + 21);
    h->last_offset_delta = (int32_t)sl_load_be32(p + 23);
    h->first_timestamp = (int64_t)sl_load_be64(p + 27);
    h->max_timestamp = (int64_t)sl_load_be64(p + 35);
    h->producer_id = (int64_t)sl_load_be64(p + 43);
    h->producer_epoch = (int16_t)sl_load_be16(p + 51);
    h->base_sequence = (int32_t)sl_load_be32(p + 53);
    h->record_count = (int32_t)sl_load_be32(p + 57);
    if (h->magic != KAFKA_BATCH_MAGIC) return SL_CORRUPT;
    if (h->batch_length < KAFKA_BATCH_LENGTH_MIN || h->batch_length > INT32_MAX - KAFKA_BATCH_LOG_OVERHEAD)
        return SL_CORRUPT;
    return SL_OK;
}

uint32_t kafka_batch_next(const uint8_t **at, size_t *left, struct kafka_batch_header *h) {
    if (*left == 0 || kafka_batch_header_read(*at, *left, h) != SL_OK) return 0;
    size_t len = (size_t)h->batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    if (len > *left) return 0;
    *at += len;
    *left -= len;
    return (uint32_t)len;
}

static sl_err kafka_batch_check_frame(const uint8_t *p, size_t len, struct kafka_batch_header *h) {
    sl_err e = kafka_batch_header_read(p, len, h);
    if (e) return e;
    if ((size_t)h->batch_length + KAFKA_BATCH_LOG_OVERHEAD != len) return SL_CORRUPT;
    if (crc32c(0, p + KAFKA_BATCH_CRC_START, len - KAFKA_BATCH_CRC_START) != h->crc) return SL_CORRUPT;
    if (kafka_batch_compression(h) > KAFKA_COMPRESSION_ZSTD) return SL_INVALID_RECORD;
    return SL_OK;
}

sl_err kafka_batch_check(const uint8_t *p, size_t len, struct kafka_batch_header *h) {
    struct kafka_batch_header local;
    if (!h) h = &local;
    sl_err e = kafka_batch_check_frame(p, len, h);
    if (e) return e;
    if (h->record_count < 1 || h->last_offset_delta != h->record_count - 1) return SL_INVALID_RECORD;
    return SL_OK;
}

sl_err kafka_batch_check_log(const uint8_t *p, size_t len, struct kafka_batch_header *h) {
    struct kafka_batch_header local;
    if (!h) h = &local;
    sl_err e = kafka_batch_check_frame(p, len, h);
    if (e) return e;
    if (h->record_count < 0 || h->last_offset_delta < 0 || (int64_t)h->record_count > (int64_t)h->last_offset_delta + 1)
        return SL_INVALID_RECORD;
    return SL_OK;
}

void kafka_batch_set_base_offset(uint8_t *p, int64_t base_offset) { sl_store_be64(p, (uint64_t)base_offset); }

void kafka_batch_update_crc(uint8_t *p, size_t len) {
    SL_ASSERT(len >= KAFKA_BATCH_HEADER_BYTES);
    sl_store_be32(p + 17, crc32c(0, p + KAFKA_BATCH_CRC_START, len - KAFKA_BATCH_CRC_START));
}

/* ---- varints ---- */

size_t kafka_varint_put(uint8_t *out, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
    size_t n = 0;
    while (u >= 0x80) {
        out[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    out[n++] = (uint8_t)u;
    return n;
}

size_t kafka_varint_size(int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

sl_err kafka_varint_get(const uint8_t **p, const uint8_t *end, int64_t *v) {
    const uint8_t *q = *p;
    uint64_t u = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (q == end) return SL_UNDERFLOW;
        uint8_t b = *q++;
        /* The tenth byte has room for one bit; anything more is not a 64-bit value. */
        if (shift == 63 && b > 1) return SL_CORRUPT;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    *v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
    *p = q;
    return SL_OK;
}

/* Inside a record every field must fit the record, so running out is corruption, not a
 * request for more bytes. */
static sl_err kafka_varint32_in(const uint8_t **p, const uint8_t *end, int32_t *v) {
    int64_t x;
    if (kafka_varint_get(p, end, &x) != SL_OK || x < INT32_MIN || x > INT32_MAX) return SL_CORRUPT;
    *v = (int32_t)x;
    return SL_OK;
}

static sl_err kafka_bytes_in(const uint8_t **p, const uint8_t *end, bool nullable, const uint8_t **out,
                             int32_t *len) {
    if (kafka_varint32_in(p, end, len) != SL_OK) return SL_CORRUPT;
    if (*len == -1 && nullable) {
        *out = NULL;
        return SL_OK;
    }
    if (*len < 0 || *len > end - *p) return SL_CORRUPT;
    *out = *p;
    *p += *len;
    return SL_OK;
}

/* ---- record walk ---- */

sl_err kafka_header_next(const uint8_t **p, const uint8_t *end, struct kafka_header *hdr) {
    const uint8_t *q = *p;
    if (q == end) return SL_NOT_FOUND;
    if (kafka_bytes_in(&q, end, false, &hdr->key, &hdr->key_len) != SL_OK ||
        kafka_bytes_in(&q, end, true, &hdr->value, &hdr->value_len) != SL_OK)
        return SL_CORRUPT;
    *p = q;
    return SL_OK;
}

sl_err kafka_record_iter_init(struct kafka_record_iter *it, const uint8_t *batch, size_t len) {
    it->p = it->end = NULL;
    it->left = -1;
    sl_err e = kafka_batch_check(batch, len, &it->h);
    if (e) return e;
    if (kafka_batch_compression(&it->h) != KAFKA_COMPRESSION_NONE) return SL_INVALID_ARG;
    it->p = batch + KAFKA_BATCH_HEADER_BYTES;
    it->end = batch + len;
    it->left = it->h.record_count;
    return SL_OK;
}

static sl_err kafka_record_parse(const uint8_t **pp, const uint8_t *batch_end, const struct kafka_batch_header *h,
                                 struct kafka_record *rec) {
    const uint8_t *p = *pp;
    int32_t len, offset_delta, header_count;
    int64_t ts_delta;
    if (kafka_varint32_in(&p, batch_end, &len) != SL_OK || len < 1 || len > batch_end - p) return SL_CORRUPT;
    const uint8_t *end = p + len;
    rec->attributes = (int8_t)*p++;
    if (kafka_varint_get(&p, end, &ts_delta) != SL_OK) return SL_CORRUPT;
    if (kafka_varint32_in(&p, end, &offset_delta) != SL_OK) return SL_CORRUPT;
    if (kafka_bytes_in(&p, end, true, &rec->key, &rec->key_len) != SL_OK) return SL_CORRUPT;
    if (kafka_bytes_in(&p, end, true, &rec->value, &rec->value_len) != SL_OK) return SL_CORRUPT;
    if (kafka_varint32_in(&p, end, &header_count) != SL_OK || header_count < 0) return SL_CORRUPT;
    rec->headers = p;
    /* Bounded by the record: each header consumes at least two bytes or fails. */
    for (int32_t i = 0; i < header_count; i++) {
        struct kafka_header hdr;
        if (kafka_header_next(&p, end, &hdr) != SL_OK) return SL_CORRUPT;
    }
    if (p != end) return SL_CORRUPT;
    rec->header_count = (uint32_t)header_count;
    rec->headers_len = (uint32_t)(end - rec->headers);
    rec->timestamp = kafka_add_wrap(h->first_timestamp, ts_delta);
    rec->offset = kafka_add_wrap(h->base_offset, offset_delta);
    *pp = end;
    return SL_OK;
}

sl_err kafka_record_next(struct kafka_record_iter *it, struct kafka_record *rec) {
    if (it->left < 0) return SL_CORRUPT;
    if (it->left == 0 && it->p == it->end) return SL_NOT_FOUND;
    /* Bytes after the last counted record, or a count the bytes cannot satisfy. */
    if (it->left == 0 || it->p == it->end || kafka_record_parse(&it->p, it->end, &it->h, rec) != SL_OK) {
        it->left = -1;
        return SL_CORRUPT;
    }
    it->left--;
    return SL_OK;
}

/* ---- encoder ---- */

static size_t kafka_bytes_size(int32_t len) { return kafka_varint_size(len) + (len > 0 ? (size_t)len : 0); }

static int64_t kafka_ts_delta(const struct kafka_record_in *recs, uint32_t i) {
    return (int64_t)((uint64_t)recs[i].timestamp_ms - (uint64_t)recs[0].timestamp_ms);
}

/* Size of record i after its length varint; 0 once it passes INT32_MAX (no record is 0). */
static size_t kafka_record_body_bytes(const struct kafka_record_in *recs, uint32_t i) {
    const struct kafka_record_in *r = &recs[i];
    SL_ASSERT(r->key_len >= -1 && r->value_len >= -1 && r->header_count <= INT32_MAX);
    SL_ASSERT((r->key_len <= 0 || r->key) && (r->value_len <= 0 || r->value) && (!r->header_count || r->headers));
    size_t n = 1 + kafka_varint_size(kafka_ts_delta(recs, i)) + kafka_varint_size(i) + kafka_bytes_size(r->key_len) +
               kafka_bytes_size(r->value_len) + kafka_varint_size(r->header_count);
    for (uint32_t k = 0; k < r->header_count && n <= INT32_MAX; k++) {
        const struct kafka_header_in *hd = &r->headers[k];
        SL_ASSERT(hd->key_len >= 0 && hd->value_len >= -1);
        SL_ASSERT((hd->key_len == 0 || hd->key) && (hd->value_len <= 0 || hd->value));
        n += kafka_bytes_size(hd->key_len) + kafka_bytes_size(hd->value_len);
    }
    return n <= INT32_MAX ? n : 0;
}

size_t kafka_batch_encoded_bytes_max(const struct kafka_record_in *recs, uint32_t n) {
    if (n == 0 || n > INT32_MAX) return 0;
    size_t total = KAFKA_BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < n; i++) {
        size_t body = kafka_record_body_bytes(recs, i);
        if (body == 0) return 0;
        total += kafka_varint_size((int64_t)body) + body;
        if (total > (size_t)INT32_MAX) return 0; /* batchLength + 12 must fit an int32 too */
    }
    return total;
}

static uint8_t *kafka_bytes_out(uint8_t *w, const void *b, int32_t len) {
    w += kafka_varint_put(w, len);
    if (len > 0) {
        memcpy(w, b, (size_t)len);
        w += len;
    }
    return w;
}

static uint8_t *kafka_record_out(uint8_t *w, const struct kafka_record_in *recs, uint32_t i) {
    const struct kafka_record_in *r = &recs[i];
    w += kafka_varint_put(w, (int64_t)kafka_record_body_bytes(recs, i));
    *w++ = 0; /* record attributes: unused by Kafka */
    w += kafka_varint_put(w, kafka_ts_delta(recs, i));
    w += kafka_varint_put(w, i);
    w = kafka_bytes_out(w, r->key, r->key_len);
    w = kafka_bytes_out(w, r->value, r->value_len);
    w += kafka_varint_put(w, r->header_count);
    for (uint32_t k = 0; k < r->header_count; k++) {
        w = kafka_bytes_out(w, r->headers[k].key, r->headers[k].key_len);
        w = kafka_bytes_out(w, r->headers[k].value, r->headers[k].value_len);
    }
    return w;
}

size_t kafka_batch_encode(uint8_t *out, size_t cap, const struct kafka_record_in *recs, uint32_t n,
                          int64_t producer_id, int16_t producer_epoch, int32_t base_sequence) {
    size_t total = kafka_batch_encoded_bytes_max(recs, n);
    if (total == 0 || total > cap) return 0;
    int64_t max_ts = recs[0].timestamp_ms;
    for (uint32_t i = 1; i < n; i++) max_ts = SL_MAX(max_ts, recs[i].timestamp_ms);

    sl_store_be64(out, 0);
    sl_store_be32(out + 8, (uint32_t)(total - KAFKA_BATCH_LOG_OVERHEAD));
    sl_store_be32(out + 12, UINT32_MAX); /* partitionLeaderEpoch -1: not set by producers */
    out[16] = KAFKA_BATCH_MAGIC;
    sl_store_be16(out + 21, 0);
    sl_store_be32(out + 23, n - 1);
    sl_store_be64(out + 27, (uint64_t)recs[0].timestamp_ms);
    sl_store_be64(out + 35, (uint64_t)max_ts);
    sl_store_be64(out + 43, (uint64_t)producer_id);
    sl_store_be16(out + 51, (uint16_t)producer_epoch);
    sl_store_be32(out + 53, (uint32_t)base_sequence);
    sl_store_be32(out + 57, n);
    uint8_t *w = out + KAFKA_BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < n; i++) w = kafka_record_out(w, recs, i);
    SL_ASSERT((size_t)(w - out) == total);
    kafka_batch_update_crc(out, total);
    return total;
}

/* ---- control batches ---- */

size_t kafka_control_batch_encode(uint8_t *out, size_t cap, enum kafka_control_type type,
                                  int64_t producer_id, int16_t producer_epoch,
                                  int32_t coordinator_epoch, int64_t timestamp_ms) {
    uint8_t key[4], value[6];
    sl_store_be16(key, 0); /* ControlRecordType version */
    sl_store_be16(key + 2, (uint16_t)type);
    sl_store_be16(value, 0); /* EndTransactionMarker version */
    sl_store_be32(value + 2, (uint32_t)coordinator_epoch);
    struct kafka_record_in rec = {key, sizeof key, value, sizeof value, timestamp_ms, NULL, 0};
    size_t n = kafka_batch_encode(out, cap, &rec, 1, producer_id, producer_epoch, -1);
    if (n == 0) return 0;
    SL_ASSERT(n == KAFKA_CONTROL_BATCH_BYTES);
    sl_store_be16(out + 21, KAFKA_ATTR_TRANSACTIONAL | KAFKA_ATTR_CONTROL);
    kafka_batch_update_crc(out, n);
    return n;
}

sl_err kafka_control_key_parse(const uint8_t *key, int32_t key_len, enum kafka_control_type *type) {
    if (key_len < 4) return SL_CORRUPT;
    int16_t version = (int16_t)sl_load_be16(key);
    int16_t t = (int16_t)sl_load_be16(key + 2);
    if (version < 0 || (version == 0 && key_len != 4)) return SL_CORRUPT;
    if (t != KAFKA_CONTROL_ABORT && t != KAFKA_CONTROL_COMMIT) return SL_CORRUPT;
    *type = (enum kafka_control_type)t;
    return SL_OK;
}

sl_err kafka_control_batch_marker(const uint8_t *batch, size_t len, enum kafka_control_type *type,
                                  int32_t *coordinator_epoch) {
    struct kafka_record_iter it;
    sl_err e = kafka_record_iter_init(&it, batch, len);
    if (e) return e == SL_INVALID_ARG ? SL_CORRUPT : e;
    if (!(it.h.attributes & KAFKA_ATTR_CONTROL)) return SL_CORRUPT;
    struct kafka_record rec;
    if (kafka_record_next(&it, &rec) != SL_OK) return SL_CORRUPT;
    /* EndTransactionMarker: version int16, coordinator epoch int32. */
    *coordinator_epoch = rec.value && rec.value_len >= 6 ? (int32_t)sl_load_be32(rec.value + 2) : -1;
    return kafka_control_key_parse(rec.key, rec.key_len, type);
}

sl_err kafka_control_batch_type(const uint8_t *batch, size_t len, enum kafka_control_type *type) {
    int32_t ce;
    return kafka_control_batch_marker(batch, len, type, &ce);
}
