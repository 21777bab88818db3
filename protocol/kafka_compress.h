/* kafka_compress.h: compressing a record batch's records section with a Kafka codec, the
 * inverse of the record walk's decompression (kafka_records.c). The log cleaner uses it so a
 * compressed batch stays compressed with its own codec after its records are thinned, as
 * Kafka's cleaner does. The framings are those Kafka's own (Java) producer writes, which every
 * client reads: gzip with its gzip wrapper, snappy in snappy-java's stream framing (32 KiB
 * blocks), lz4 as an LZ4 frame, zstd as one frame. Pure: the codec libraries only. */
#ifndef SL_KAFKA_COMPRESS_H
#define SL_KAFKA_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

/* The most bytes kafka_compress writes for n input bytes under codec (1-4); 0 for another. */
size_t kafka_compress_bound(int codec, size_t n);

/* Compresses in[0, n) with the codec into out. SL_INVALID_ARG for codec 0 or unknown,
 * SL_TOO_LARGE if cap is below what it needs (kafka_compress_bound is always enough). */
sl_err kafka_compress(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

/* An uncompressed batch (src, len bytes, its header's codec 0) as a batch of codec: the header
 * copied with the codec bits set, the records section compressed, batch length and CRC
 * recomputed; offsets, timestamps, producer fields and count unchanged. */
sl_err kafka_batch_compress(const uint8_t *src, uint32_t len, int codec, uint8_t *out, size_t cap, uint32_t *out_len);

#endif
