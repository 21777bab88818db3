/* fuzz_records.c: RecordBatch v2, header to last header, with every compression codec.
 *
 * The input is one batch. It is checked as it came (kafka_batch_check, kafka_records_validate),
 * then again with batchLength and the CRC-32C patched to fit, so mutations reach the records
 * instead of dying at the checksum: the full produce check, the record walk (compressed or not)
 * with every header, and the uncompressed walk of kafka_batch.c that fetch-side code uses.
 * The two record walks must agree with each other and with the validation: a batch that
 * validates walks to the end without error. Every batch that walks is also thinned the way log
 * compaction does it (kafka_records_filter, every other record kept): the result must pass the
 * log's batch check and walk to exactly the kept records, bytes and offsets unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_compress.h"
#include "protocol/kafka_records.h"

static struct kafka_records_scratch scratch;

static void finding(const char *what) {
    fprintf(stderr, "fuzz_records: %s\n", what);
    abort();
}

static void walk(uint8_t *b, uint32_t len, sl_err validated) {
    struct kafka_records_iter it;
    struct kafka_records_rec rec;
    sl_err e = kafka_records_open(&it, b, len, &scratch);
    if (e) {
        if (validated == SL_OK) finding("validates but does not open");
        return;
    }
    /* kafka_batch.c's walk over the same bytes, for uncompressed batches. */
    struct kafka_record_iter bit;
    bool batch_walk = kafka_record_iter_init(&bit, b, len) == SL_OK;
    int32_t n = 0;
    while ((e = kafka_records_next(&it, &rec)) == SL_OK) {
        struct kafka_records_header_iter hi;
        struct kafka_records_header hdr;
        int32_t headers = 0;
        kafka_records_headers_open(&hi, &rec);
        while (kafka_records_header_next(&hi, &hdr)) {
            if (hdr.key.len < 0) finding("a null header key");
            headers++;
        }
        if (headers != rec.header_count) finding("header count differs from the headers walked");
        /* A produced batch's deltas are 0, 1, 2...; a walk of anything else only needs them to
         * rise within lastOffsetDelta (a compacted batch). */
        if (validated == SL_OK && rec.offset_delta != n) finding("offset delta is not the record's index");
        if (rec.offset_delta > it.h.last_offset_delta) finding("offset delta past lastOffsetDelta");
        if (batch_walk) {
            struct kafka_record r2;
            if (kafka_record_next(&bit, &r2) == SL_OK) {
                if (r2.key_len != rec.key.len || r2.value_len != rec.value.len ||
                    (r2.key_len > 0 && memcmp(r2.key, rec.key.p, (size_t)r2.key_len)) ||
                    (r2.value_len > 0 && memcmp(r2.value, rec.value.p, (size_t)r2.value_len)) ||
                    r2.offset != rec.offset)
                    finding("the two record walks disagree");
                const uint8_t *hp = r2.headers, *he = r2.headers + r2.headers_len;
                struct kafka_header h2;
                while (kafka_header_next(&hp, he, &h2) == SL_OK) {
                }
            } else {
                batch_walk = false;
            }
        }
        n++;
    }
    if (e != SL_NOT_FOUND && validated == SL_OK) finding("validates but the walk fails");
    if (kafka_records_next(&it, &rec) != e) finding("a walk's error is not sticky");
    if (e == SL_NOT_FOUND && n != it.h.record_count) finding("walked a different count than recordsCount");
}

struct kept {
    int64_t offsets[4096];
    uint32_t n, seen;
};

static bool keep_odd(void *arg, const struct kafka_records_rec *rec) {
    struct kept *k = arg;
    bool keep = (k->seen++ & 1) == 1;
    if (keep && k->n < 4096) k->offsets[k->n] = rec->offset;
    if (keep) k->n++;
    return keep;
}

/* Thins the batch as the cleaner would and checks the result against a walk of the original. */
static void thin(const uint8_t *b, uint32_t len) {
    /* Only what a log can hold: a batch the log's own check takes. */
    if (kafka_batch_check_log(b, len, NULL) != SL_OK) return;
    struct kafka_records_iter it;
    if (kafka_records_open(&it, b, len, &scratch)) return;
    size_t cap = (size_t)(it.end - it.p) + KAFKA_BATCH_HEADER_BYTES;
    uint8_t *out = malloc(cap);
    struct kept k = {.n = 0};
    uint32_t out_len = 0;
    int32_t kept = -1;
    sl_err e = kafka_records_filter(b, len, &scratch, keep_odd, &k, out, cap, &out_len, &kept);
    if (e == SL_TOO_LARGE) finding("the filter's output outgrew the decompressed size");
    if (e) {
        free(out);
        return;
    }
    if ((uint32_t)kept != k.n) finding("kept count differs from the records kept");
    struct kafka_batch_header h;
    if (kafka_batch_check_log(out, out_len, &h) != SL_OK) finding("a thinned batch fails the log's batch check");
    if (h.base_offset != it.h.base_offset || h.last_offset_delta != it.h.last_offset_delta ||
        h.producer_id != it.h.producer_id || h.base_sequence != it.h.base_sequence)
        finding("a thinned batch lost its offsets or producer fields");
    if (k.n <= 4096) {
        struct kafka_records_iter it2;
        struct kafka_records_rec rec;
        if (kafka_records_open(&it2, out, out_len, NULL)) finding("a thinned batch does not open");
        uint32_t i = 0;
        while (kafka_records_next(&it2, &rec) == SL_OK) {
            if (i >= k.n || rec.offset != k.offsets[i]) finding("a thinned batch walks other offsets");
            i++;
        }
        if (i != k.n || it2.err != SL_OK) finding("a thinned batch does not walk to its end");
    }
    /* The cleaner puts a thinned compressed batch back under its codec: that must walk the
     * same records again. */
    int codec = kafka_batch_compression(&it.h);
    if (codec >= 1 && codec <= 4 && k.n > 0 && k.n <= 4096) {
        size_t ccap = KAFKA_BATCH_HEADER_BYTES + kafka_compress_bound(codec, out_len);
        uint8_t *c = malloc(ccap);
        uint32_t clen = 0;
        if (kafka_batch_compress(out, out_len, codec, c, ccap, &clen) != SL_OK) finding("recompression failed");
        if (kafka_batch_check_log(c, clen, NULL) != SL_OK) finding("a recompressed batch fails the log's check");
        struct kafka_records_iter it3;
        struct kafka_records_rec rec;
        if (kafka_records_open(&it3, c, clen, &scratch)) finding("a recompressed batch does not open");
        uint32_t i = 0;
        while (kafka_records_next(&it3, &rec) == SL_OK) {
            if (i >= k.n || rec.offset != k.offsets[i]) finding("a recompressed batch walks other offsets");
            i++;
        }
        if (i != k.n) finding("a recompressed batch lost records");
        free(c);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (4u << 20)) return 0;
    uint32_t len = (uint32_t)size;
    uint8_t *b = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (size) memcpy(b, data, size);
    struct kafka_batch_header h;
    kafka_batch_header_read(b, len, &h);
    kafka_batch_check(b, len, &h);
    kafka_records_validate(b, len, &scratch);
    if (len >= KAFKA_BATCH_HEADER_BYTES) {
        sl_store_be32(b + 8, len - KAFKA_BATCH_LOG_OVERHEAD);
        kafka_batch_update_crc(b, len);
        sl_err v = kafka_records_validate(b, len, &scratch);
        if (v == SL_OK && kafka_batch_check(b, len, NULL) != SL_OK) finding("validates but fails the batch check");
        walk(b, len, v);
        thin(b, len);
    }
    free(b);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* Small enough that a decompression bomb costs milliseconds, not seconds. */
    kafka_records_scratch_init(&scratch, 1u << 20);
    return 0;
}
