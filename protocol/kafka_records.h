/* kafka_records.h: the record walk of a Kafka RecordBatch v2, compressed or not, and the
 * record-level check Produce runs before a batch reaches the log (what Kafka's LogValidator and
 * DefaultRecord.readFrom refuse). The batch layout and the record layout are in kafka_batch.h.
 *
 * Compressed batches (gzip, snappy raw or xerial-framed, lz4 frame, zstd) are inflated into a
 * caller-owned scratch buffer that grows up to a caller-given limit and is reused across batches;
 * the codec contexts live there too, so a walk allocates nothing once the scratch is warm.
 * Everything handed out borrows from the batch or from the scratch: valid until the scratch is
 * used for another batch or freed. Pure: no I/O, no clock, no globals.
 *
 * Errors, as Kafka answers them:
 *   SL_CORRUPT (CORRUPT_MESSAGE) the batch framing: batchLength vs len, CRC (validate only), and
 *       a compressed payload its codec cannot decode (bad stream, truncated, trailing bytes, a
 *       xerial block length that runs past the payload);
 *   SL_TOO_LARGE the payload inflates past the scratch's decompressed_bytes_max (decompression
 *       bomb); nothing beyond that limit (+1 byte) is ever allocated;
 *   SL_INVALID_RECORD (INVALID_RECORD) everything inside the records section, as
 *       DefaultRecord/DefaultRecordBatch throw InvalidRecordException: malformed or over-long
 *       varints (int32 fields take at most 5 bytes and must fit 32 bits), a record length that
 *       runs past the section or disagrees with its fields, a key/value length < -1 or past the
 *       record, a header key length < 0, a header count < 0 or larger than the bytes left, fewer
 *       or more records than recordsCount, bytes left after the last record, an offset delta
 *       that is not the record's index (0, 1, 2, ...), an unknown codec (5..7);
 *   SL_UNDERFLOW fewer than 61 bytes; SL_INVALID_ARG a compressed batch with no scratch. */
#ifndef SL_KAFKA_RECORDS_H
#define SL_KAFKA_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "protocol/errors.h"
#include "protocol/kafka_batch.h"

/* A sane default for decompressed_bytes_max: Kafka itself puts no bound on it. */
#define KAFKA_RECORDS_DECOMPRESSED_BYTES_MAX_DEFAULT (64u << 20)

/* Owned by the caller, one per thread of work; reused across batches. Zero-initialised or set by
 * kafka_records_scratch_init; kafka_records_scratch_free releases the buffer and the codec
 * contexts and leaves it reusable (as after init with the same limit). */
struct kafka_records_scratch {
    uint8_t *buf;
    size_t cap;
    size_t decompressed_bytes_max; /* 0: KAFKA_RECORDS_DECOMPRESSED_BYTES_MAX_DEFAULT */
    void *gzip, *lz4, *zstd;       /* codec contexts, created on first use */
};

void kafka_records_scratch_init(struct kafka_records_scratch *s, size_t decompressed_bytes_max);
void kafka_records_scratch_free(struct kafka_records_scratch *s);

/* A nullable byte string: len -1 and p NULL for null; p may be NULL when len is 0. */
struct kafka_bytes {
    const uint8_t *p;
    int32_t len;
};

struct kafka_records_rec {
    int8_t attributes;       /* unused by Kafka; returned as sent */
    int64_t timestamp_delta; /* as on the wire */
    int32_t offset_delta;    /* == the record's index in the batch */
    int64_t timestamp;       /* firstTimestamp + delta, or maxTimestamp in a LogAppendTime batch */
    int64_t offset;          /* baseOffset + delta */
    struct kafka_bytes key, value;
    int32_t header_count;
    struct span headers; /* the raw header bytes; walk with kafka_records_headers_open/next */
};

/* Headers are checked when their record is read, so walking them cannot fail. Repeated keys are
 * returned in wire order. */
struct kafka_records_header {
    struct kafka_bytes key; /* never null */
    struct kafka_bytes value;
};
struct kafka_records_header_iter {
    const uint8_t *p, *end;
};

void kafka_records_headers_open(struct kafka_records_header_iter *hi, const struct kafka_records_rec *rec);
/* false after the last header. */
bool kafka_records_header_next(struct kafka_records_header_iter *hi, struct kafka_records_header *hdr);

struct kafka_records_iter {
    struct kafka_batch_header h;
    const uint8_t *p, *end; /* the (decompressed) records section */
    int32_t index;          /* records returned so far */
    int32_t last_delta;     /* the last record's offset delta (-1 before the first) */
    sl_err err;             /* sticky: a failed walk keeps failing */
};

/* Reads the header of the len-byte batch (batchLength + 12 must equal len) and, if compressed,
 * inflates the records into scratch (which may be NULL for uncompressed batches). Does NOT
 * recompute the CRC: kafka_records_validate and kafka_batch_check do. */
sl_err kafka_records_open(struct kafka_records_iter *it, const uint8_t *batch, uint32_t len,
                          struct kafka_records_scratch *scratch);

/* SL_OK with *rec filled; SL_NOT_FOUND once recordsCount records were read and the section is
 * used up exactly; an error as above otherwise, and from then on. Unlike a produced batch's
 * check, the walk accepts offset deltas with gaps (rising, at most lastOffsetDelta): batches
 * read back from a compacted log have them. */
sl_err kafka_records_next(struct kafka_records_iter *it, struct kafka_records_rec *rec);

/* The whole check of a produced batch: kafka_batch_check (header, length, CRC-32C, count and
 * lastOffsetDelta, codec), then LogValidator's client rules (no control batch; a producer id
 * needs a baseSequence >= 0: SL_INVALID_RECORD), then every record walked as above. Kafka's
 * timestamp window check (message.timestamp.*.max.ms against now) and transactions are left to
 * the caller: the first needs a clock, the second producer state. SL_OK or the first error. */
sl_err kafka_records_validate(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch);

/* A compacted topic's rule (Kafka's LogValidator): every record has a key, else
 * SL_INVALID_RECORD; a walk error as above. */
sl_err kafka_records_all_keyed(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch);

/* Log compaction's rewrite of one batch: writes into out (cap bytes) the batch holding only
 * the records keep() accepts, in order, byte for byte, uncompressed; the header keeps its
 * offsets (so survivors keep theirs), timestamps, producer id, epoch and sequence, and flags
 * other than the codec; count, length and CRC are recomputed. *kept == 0 gives an empty batch
 * that still spans the original offsets. SL_TOO_LARGE if out is too small (the survivors of a
 * compressed batch take up to its decompressed size plus the header), or the walk's error. */
sl_err kafka_records_filter(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch,
                            bool (*keep)(void *ctx, const struct kafka_records_rec *rec), void *ctx,
                            uint8_t *out, size_t cap, uint32_t *out_len, int32_t *kept);

#endif
