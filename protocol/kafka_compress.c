/* kafka_compress.c: a records section compressed with a Kafka codec (see kafka_compress.h). */
#include "protocol/kafka_compress.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "base/base.h"
#include "protocol/kafka_batch.h"

#define XERIAL_HEADER_BYTES 16
#define XERIAL_BLOCK_BYTES (32u << 10) /* snappy-java's default block */
#define ZSTD_LEVEL 3                   /* Kafka's default compression.zstd.level */

size_t kafka_compress_bound(int codec, size_t n) {
    switch (codec) {
    case 1: return (size_t)compressBound((uLong)n) + 18; /* the gzip wrapper: 10 head + 8 tail */
    case 2: return XERIAL_HEADER_BYTES + (n / XERIAL_BLOCK_BYTES + 1) * (4 + snappy_max_compressed_length(XERIAL_BLOCK_BYTES));
    case 3: return LZ4F_compressFrameBound(n, NULL);
    case 4: return ZSTD_compressBound(n);
    default: return 0;
    }
}

static sl_err compress_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16: the gzip wrapper Kafka's GZIPOutputStream writes. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return SL_NOMEM;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)SL_MIN(cap, (size_t)UINT32_MAX);
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? SL_OK : SL_TOO_LARGE;
}

static sl_err compress_snappy(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len) {
    if (cap < XERIAL_HEADER_BYTES) return SL_TOO_LARGE;
    memcpy(out, "\x82SNAPPY\0", 8);
    sl_store_be32(out + 8, 1);  /* version */
    sl_store_be32(out + 12, 1); /* compatible version */
    size_t w = XERIAL_HEADER_BYTES;
    for (size_t pos = 0; pos < n; pos += XERIAL_BLOCK_BYTES) {
        size_t take = SL_MIN((size_t)XERIAL_BLOCK_BYTES, n - pos);
        if (cap - w < 4 + snappy_max_compressed_length(take)) return SL_TOO_LARGE;
        size_t blen = cap - w - 4;
        if (snappy_compress((const char *)in + pos, take, (char *)out + w + 4, &blen) != SNAPPY_OK) return SL_TOO_LARGE;
        sl_store_be32(out + w, (uint32_t)blen);
        w += 4 + blen;
    }
    *out_len = w;
    return SL_OK;
}

sl_err kafka_compress(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len) {
    *out_len = 0;
    switch (codec) {
    case 1: return compress_gzip(in, n, out, cap, out_len);
    case 2: return compress_snappy(in, n, out, cap, out_len);
    case 3: {
        if (cap < LZ4F_compressFrameBound(n, NULL)) return SL_TOO_LARGE;
        size_t got = LZ4F_compressFrame(out, cap, in, n, NULL);
        if (LZ4F_isError(got)) return SL_TOO_LARGE;
        *out_len = got;
        return SL_OK;
    }
    case 4: {
        size_t got = ZSTD_compress(out, cap, in, n, ZSTD_LEVEL);
        if (ZSTD_isError(got)) return ZSTD_getErrorCode(got) == ZSTD_error_dstSize_tooSmall ? SL_TOO_LARGE : SL_NOMEM;
        *out_len = got;
        return SL_OK;
    }
    default: return SL_INVALID_ARG;
    }
}

sl_err kafka_batch_compress(const uint8_t *src, uint32_t len, int codec, uint8_t *out, size_t cap, uint32_t *out_len) {
    struct kafka_batch_header h;
    sl_err e = kafka_batch_header_read(src, len, &h);
    if (e) return e;
    uint32_t total = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    if (total != len || kafka_batch_compression(&h) != 0) return SL_INVALID_ARG;
    if (cap < KAFKA_BATCH_HEADER_BYTES) return SL_TOO_LARGE;
    size_t clen;
    e = kafka_compress(codec, src + KAFKA_BATCH_HEADER_BYTES, len - KAFKA_BATCH_HEADER_BYTES,
                       out + KAFKA_BATCH_HEADER_BYTES, cap - KAFKA_BATCH_HEADER_BYTES, &clen);
    if (e) return e;
    if (clen > (size_t)INT32_MAX - KAFKA_BATCH_HEADER_BYTES) return SL_TOO_LARGE;
    memcpy(out, src, KAFKA_BATCH_HEADER_BYTES);
    uint32_t n = (uint32_t)(KAFKA_BATCH_HEADER_BYTES + clen);
    sl_store_be32(out + 8, n - KAFKA_BATCH_LOG_OVERHEAD);                     /* batchLength */
    sl_store_be16(out + 21, (uint16_t)((sl_load_be16(out + 21) & ~7u) | (unsigned)codec)); /* attributes */
    kafka_batch_update_crc(out, n);
    *out_len = n;
    return SL_OK;
}
