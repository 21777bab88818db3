/* records_bench.c: the cost of the record-level check Produce runs on every batch
 * (kafka_records_validate: header, CRC-32C, inflate, walk every record) and of the bare walk
 * (kafka_records_open + kafka_records_next, what NATS delivery of Kafka records pays), for
 * 64 KiB and 512 KiB batches of 100 B and 1 KiB values, uncompressed and with each codec.
 * Values are half random, half repeated bytes, so they compress about 2:1.
 * Output: one row per cell with MB/s (of uncompressed batch bytes) and ns per record, the best
 * of three runs of a third of --seconds each.
 * Usage: sl_records_bench [--seconds S]   (per cell, default 0.3) */
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

#include "base/base.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_records.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Compresses n bytes into out (capacity cap) with Kafka codec id codec; returns the length. */
static size_t section_compress(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t len = cap;
    switch (codec) {
    case KAFKA_COMPRESSION_GZIP: {
        z_stream z = {0};
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        SL_ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
        len = z.total_out;
        deflateEnd(&z);
        break;
    }
    case KAFKA_COMPRESSION_SNAPPY: SL_ASSERT(snappy_compress((const char *)in, n, (char *)out, &len) == SNAPPY_OK); break;
    case KAFKA_COMPRESSION_LZ4: len = LZ4F_compressFrame(out, cap, in, n, NULL); SL_ASSERT(!LZ4F_isError(len)); break;
    case KAFKA_COMPRESSION_ZSTD: len = ZSTD_compress(out, cap, in, n, 3); SL_ASSERT(!ZSTD_isError(len)); break;
    default: SL_ASSERT(0);
    }
    return len;
}

/* A batch of about batch_bytes (uncompressed) of value_bytes records, compressed with codec. */
static uint8_t *make_batch(size_t batch_bytes, uint32_t value_bytes, int codec, uint32_t *len, uint32_t *count,
                           size_t *plain_bytes) {
    uint32_t n = (uint32_t)(batch_bytes / (value_bytes + 16));
    struct kafka_record_in *recs = sl_xcalloc(n, sizeof *recs);
    uint8_t *values = sl_xmalloc((size_t)n * value_bytes);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < (size_t)n * value_bytes; i++) values[i] = (i % value_bytes) < value_bytes / 2 ? 'a' : (uint8_t)rng(&x);
    for (uint32_t i = 0; i < n; i++)
        recs[i] = (struct kafka_record_in){"key", 3, values + (size_t)i * value_bytes, (int32_t)value_bytes,
                                           1700000000000 + i, NULL, 0};
    size_t cap = kafka_batch_encoded_bytes_max(recs, n);
    uint8_t *plain = sl_xmalloc(cap);
    size_t plen = kafka_batch_encode(plain, cap, recs, n, -1, -1, -1);
    SL_ASSERT(plen == cap);
    free(values);
    free(recs);
    *count = n;
    *plain_bytes = plen;
    if (codec == KAFKA_COMPRESSION_NONE) {
        *len = (uint32_t)plen;
        return plain;
    }
    size_t ccap = 2 * plen + 1024;
    uint8_t *b = sl_xmalloc(KAFKA_BATCH_HEADER_BYTES + ccap);
    memcpy(b, plain, KAFKA_BATCH_HEADER_BYTES);
    size_t clen = section_compress(codec, plain + KAFKA_BATCH_HEADER_BYTES, plen - KAFKA_BATCH_HEADER_BYTES,
                           b + KAFKA_BATCH_HEADER_BYTES, ccap);
    *len = (uint32_t)(KAFKA_BATCH_HEADER_BYTES + clen);
    sl_store_be32(b + 8, *len - KAFKA_BATCH_LOG_OVERHEAD);
    sl_store_be16(b + 21, (uint16_t)codec);
    kafka_batch_update_crc(b, *len);
    free(plain);
    return b;
}

static sl_err walk(const uint8_t *b, uint32_t len, struct kafka_records_scratch *s) {
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    sl_err e = kafka_records_open(&it, b, len, s);
    while (e == SL_OK) e = kafka_records_next(&it, &rec);
    return e == SL_NOT_FOUND ? SL_OK : e;
}

int main(int argc, char **argv) {
    double seconds = 0.3;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    static const size_t batch_sizes[] = {64u << 10, 512u << 10};
    static const uint32_t value_sizes[] = {100, 1024};
    static const int codecs[] = {KAFKA_COMPRESSION_NONE, KAFKA_COMPRESSION_SNAPPY, KAFKA_COMPRESSION_LZ4,
                                 KAFKA_COMPRESSION_ZSTD, KAFKA_COMPRESSION_GZIP};
    static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    struct kafka_records_scratch s;
    kafka_records_scratch_init(&s, 0);
    printf("%-6s %-7s %-6s %7s %9s | %10s %10s | %10s %10s\n", "batch", "value", "codec", "records", "wire B",
           "check MB/s", "ns/rec", "walk MB/s", "ns/rec");
    for (size_t bi = 0; bi < SL_ARRAY_LEN(batch_sizes); bi++)
        for (size_t vi = 0; vi < SL_ARRAY_LEN(value_sizes); vi++)
            for (size_t ci = 0; ci < SL_ARRAY_LEN(codecs); ci++) {
                uint32_t len, count;
                size_t plain;
                uint8_t *b = make_batch(batch_sizes[bi], value_sizes[vi], codecs[ci], &len, &count, &plain);
                double mbps[2], nsrec[2];
                for (int mode = 0; mode < 2; mode++) {
                    double best = 1e30; /* per batch; best of three, the machine is shared */
                    for (int rep = 0; rep < 3; rep++) {
                        long iters = 0;
                        double t0 = mono(), t;
                        do {
                            for (int k = 0; k < 8; k++) {
                                sl_err e = mode == 0 ? kafka_records_validate(b, len, &s) : walk(b, len, &s);
                                SL_ASSERT(e == SL_OK);
                            }
                            iters += 8;
                            t = mono() - t0;
                        } while (t < seconds / 3);
                        best = SL_MIN(best, t / (double)iters);
                    }
                    mbps[mode] = (double)plain / best / 1e6;
                    nsrec[mode] = best * 1e9 / count;
                }
                printf("%-6s %-7s %-6s %7u %9u | %10.0f %10.1f | %10.0f %10.1f\n",
                       batch_sizes[bi] == (64u << 10) ? "64K" : "512K", value_sizes[vi] == 100 ? "100B" : "1KiB",
                       codec_names[codecs[ci]], count, len, mbps[0], nsrec[0], mbps[1], nsrec[1]);
                free(b);
            }
    kafka_records_scratch_free(&s);
    return 0;
}
