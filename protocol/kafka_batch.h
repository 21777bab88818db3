/* kafka_batch.h: Kafka RecordBatch v2 (magic 2), the only format Sluice stores and serves:
 * header decode, the full check Produce and recovery run, the base-offset rewrite the log does
 * in place, a zero-copy walk over the records of an uncompressed batch, an encoder, and the
 * zigzag varints records are made of. Layout (big-endian), offsets in bytes:
 *   0 baseOffset i64 | 8 batchLength i32 (bytes after this field) | 12 partitionLeaderEpoch i32
 *   16 magic i8 | 17 crc u32 (CRC-32C of [21, end)) | 21 attributes i16 | 23 lastOffsetDelta i32
 *   27 firstTimestamp i64 | 35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16
 *   53 baseSequence i32 | 57 recordsCount i32 | 61 records
 * Record: length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
 *   keyLength varint (-1 null) + key, valueLength varint (-1 null) + value, headersCount varint,
 *   headers: keyLength varint + key (never null), valueLength varint (-1 null) + value.
 * Attributes: bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd), bit 3
 * LogAppendTime, bit 4 transactional, bit 5 control. Pure: no I/O, no allocation; every
 * pointer handed out borrows from the caller's buffer. */
#ifndef SL_KAFKA_BATCH_H
#define SL_KAFKA_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

#define KAFKA_BATCH_HEADER_BYTES 61
#define KAFKA_BATCH_LOG_OVERHEAD 12 /* baseOffset + batchLength */
#define KAFKA_BATCH_CRC_START 21    /* the CRC covers attributes onwards */
#define KAFKA_BATCH_MAGIC 2

#define KAFKA_ATTR_COMPRESSION_MASK 0x07
#define KAFKA_ATTR_LOG_APPEND_TIME 0x08
#define KAFKA_ATTR_TRANSACTIONAL 0x10
#define KAFKA_ATTR_CONTROL 0x20

enum kafka_compression {
    KAFKA_COMPRESSION_NONE = 0,
    KAFKA_COMPRESSION_GZIP = 1,
    KAFKA_COMPRESSION_SNAPPY = 2,
    KAFKA_COMPRESSION_LZ4 = 3,
    KAFKA_COMPRESSION_ZSTD = 4,
};

#define KAFKA_VARINT_BYTES_MAX 10

struct kafka_batch_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

/* Decodes the 61-byte header at p. SL_UNDERFLOW if avail < 61; SL_CORRUPT if magic != 2 or
 * batch_length is outside [49, INT32_MAX - 12]. Does not check the CRC, so it suits a log
 * walk that only needs lengths and offsets. */
sl_err kafka_batch_header_read(const uint8_t *p, size_t avail, struct kafka_batch_header *h);

/* The whole batch at *at within *left bytes of a record set (a Produce's records, a Fetch
 * answer): its length, with its header in h, and *at and *left moved past it; 0 at the end, at
 * a header that does not read, or at a batch cut short (a Fetch answer may end inside one). */
uint32_t kafka_batch_next(const uint8_t **at, size_t *left, struct kafka_batch_header *h);

/* Full check of one batch that must be exactly len bytes: the header as above (SL_UNDERFLOW
 * below 61 bytes); batch_length + 12 == len and the CRC-32C of [21, len) else SL_CORRUPT;
 * then record_count >= 1, last_offset_delta == record_count - 1 and a known compression codec
 * (0..4) else SL_INVALID_RECORD. The delta rule is a producer's: compacted Kafka logs break it,
 * Sluice's never do. Records themselves are not walked. h may be NULL. */
sl_err kafka_batch_check(const uint8_t *p, size_t len, struct kafka_batch_header *h);

/* kafka_batch_check for a batch read back from a log, which compaction may have thinned: the
 * same framing, CRC and codec checks, but record_count may be anything from 0 (every record
 * cleaned away, the batch kept for its offsets) to last_offset_delta + 1. */
sl_err kafka_batch_check_log(const uint8_t *p, size_t len, struct kafka_batch_header *h);

/* Rewrites bytes 0..7; the CRC does not cover them, so the batch stays valid. */
void kafka_batch_set_base_offset(uint8_t *p, int64_t base_offset);

/* Recomputes and stores the CRC of a len-byte batch after its covered bytes changed. */
void kafka_batch_update_crc(uint8_t *p, size_t len);

static inline int64_t kafka_batch_last_offset(const struct kafka_batch_header *h) {
    return h->base_offset + h->last_offset_delta;
}
static inline int kafka_batch_compression(const struct kafka_batch_header *h) {
    return h->attributes & KAFKA_ATTR_COMPRESSION_MASK;
}

/* Zigzag base-128 varints (protobuf sint64), as Kafka records and flexible requests use them.
 * put writes at most KAFKA_VARINT_BYTES_MAX bytes and returns the count. get advances *p;
 * SL_UNDERFLOW if the bytes end first, SL_CORRUPT past 10 bytes or 64 bits. */
size_t kafka_varint_put(uint8_t *out, int64_t v);
size_t kafka_varint_size(int64_t v);
sl_err kafka_varint_get(const uint8_t **p, const uint8_t *end, int64_t *v);

struct kafka_record {
    int8_t attributes;
    int64_t timestamp; /* absolute: first_timestamp + delta */
    int64_t offset;    /* absolute: base_offset + delta */
    const uint8_t *key;
    int32_t key_len; /* -1: null */
    const uint8_t *value;
    int32_t value_len; /* -1: null */
    uint32_t header_count;
    const uint8_t *headers; /* raw header bytes, walk with kafka_header_next */
    uint32_t headers_len;
};

/* left: records still to return; -1 once a record was found corrupt, so the error sticks. */
struct kafka_record_iter {
    const uint8_t *p, *end;
    struct kafka_batch_header h;
    int32_t left;
};

/* Runs kafka_batch_check on the batch, then refuses compressed batches with SL_INVALID_ARG:
 * their records are not bytes in this buffer. */
sl_err kafka_record_iter_init(struct kafka_record_iter *it, const uint8_t *batch, size_t len);

/* SL_OK with *rec filled; SL_NOT_FOUND after the last record; SL_CORRUPT on a malformed record
 * (a length past the record's or batch's end, a record length that disagrees with its fields,
 * a malformed header, more or fewer records than record_count). Headers are validated here, so
 * kafka_header_next over rec->headers cannot fail. */
sl_err kafka_record_next(struct kafka_record_iter *it, struct kafka_record *rec);

struct kafka_header {
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len; /* -1: null */
};

/* Reads one header from [*p, end) and advances *p. SL_NOT_FOUND when *p == end (so
 * `while (kafka_header_next(&p, end, &h) == SL_OK)` walks a record's headers), SL_CORRUPT on
 * malformed bytes. */
sl_err kafka_header_next(const uint8_t **p, const uint8_t *end, struct kafka_header *hdr);

struct kafka_header_in {
    const void *key;
    int32_t key_len; /* >= 0: header keys are never null */
    const void *value;
    int32_t value_len; /* -1: null */
};

struct kafka_record_in {
    const void *key;
    int32_t key_len; /* -1: null */
    const void *value;
    int32_t value_len; /* -1: null */
    int64_t timestamp_ms;
    const struct kafka_header_in *headers;
    uint32_t header_count;
};

/* Bytes kafka_batch_encode will write for these records (exact, so also an upper bound); 0 if
 * n == 0 or the batch would exceed Kafka's int32 length. */
size_t kafka_batch_encoded_bytes_max(const struct kafka_record_in *recs, uint32_t n);

/* Writes a complete uncompressed v2 batch: base offset 0, partitionLeaderEpoch -1,
 * attributes 0, firstTimestamp recs[0].timestamp_ms, maxTimestamp the largest, offsets 0..n-1,
 * the producer fields as given (-1, -1, -1 for none), CRC filled in. Returns the bytes written,
 * 0 if n == 0 or cap is too small. */
size_t kafka_batch_encode(uint8_t *out, size_t cap, const struct kafka_record_in *recs, uint32_t n,
                          int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);

/* ---- control batches (transaction markers) ----
 * A commit or abort marker is a batch with attributes transactional|control, the
 * transaction's producer id and epoch, base sequence -1 and one record whose key is
 * {version int16 = 0, type int16} (0 abort, 1 commit) and whose value is {version int16 = 0,
 * coordinator epoch int32}: Kafka's EndTransactionMarker, so clients skip it as theirs. */

enum kafka_control_type { KAFKA_CONTROL_ABORT = 0, KAFKA_CONTROL_COMMIT = 1 };

/* Bytes of every marker batch kafka_control_batch_encode writes (its size is fixed). */
#define KAFKA_CONTROL_BATCH_BYTES 78

/* Writes a marker batch (base offset 0, timestamp timestamp_ms, CRC filled in). Returns
 * KAFKA_CONTROL_BATCH_BYTES, or 0 if cap is too small. */
size_t kafka_control_batch_encode(uint8_t *out, size_t cap, enum kafka_control_type type,
                                  int64_t producer_id, int16_t producer_epoch,
                                  int32_t coordinator_epoch, int64_t timestamp_ms);

/* The marker type of a control record's key. SL_CORRUPT if the key is not 4 bytes of version
 * 0 and a known type (Kafka's readers refuse those too; newer versions may add fields, so
 * only the first 4 bytes are read when the version is above 0). */
sl_err kafka_control_key_parse(const uint8_t *key, int32_t key_len, enum kafka_control_type *type);

/* The marker type of a whole control batch (its first record's key), for log walks that meet
 * one. The batch is checked (kafka_batch_check); SL_CORRUPT for a batch that is not a control
 * batch or whose first record is not a marker. */
sl_err kafka_control_batch_type(const uint8_t *batch, size_t len, enum kafka_control_type *type);
/* The same, with the coordinator epoch of its value (-1 when the value is too short to carry
 * one: a marker written by something else than a coordinator). */
sl_err kafka_control_batch_marker(const uint8_t *batch, size_t len, enum kafka_control_type *type,
                                  int32_t *coordinator_epoch);

#endif
