/* fuzz_records.c: RecordBatch v2, header to last header, with every compression codec.
 *
 * The input is one batch. It is checked as it came (kafka_batch_check, kafka_records_validate),
 * then again with batchLength and the CRC-32C patched to fit, so mutations reach the records
 * instead of dying at the checksum: the full produce check, the record walk (compressed or not)
 * with every header, and the uncompressed walk of kafka_batch.c that fetch-side code uses.
 * The two record walks must agree with each other and with the validation: a batch that
 * validates walks to the end without error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "protocol/kafka_batch.h"
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
        if (rec.offset_delta != n) finding("offset delta is not the record's index");
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
