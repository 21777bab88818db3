/* errors.h: Sluice's one error enum and its message table. Each error knows its Kafka error code
 * (-1: never sent on the Kafka wire) and its text, used in logs and NATS -ERR lines. */
#ifndef SL_ERRORS_H
#define SL_ERRORS_H

/* X(name, kafka_code, text) */
#define SL_ERRORS(X)                                                                       \
    X(OK, 0, "ok")                                                                         \
    X(AGAIN, -1, "need more bytes")                                                        \
    X(UNDERFLOW, -1, "input shorter than its fields")                                      \
    X(INVALID_ARG, -1, "invalid argument")                                                 \
    X(NOMEM, -1, "out of memory")                                                          \
    X(CONFIG, -1, "invalid configuration")                                                 \
    X(NOT_FOUND, -1, "not found")                                                          \
    X(EXISTS, -1, "already exists")                                                        \
    X(CLOSED, -1, "closed")                                                                \
    X(OFFSET_OUT_OF_RANGE, 1, "offset out of range")                                       \
    X(CORRUPT, 2, "record batch is corrupt (bad CRC32C, magic or length)")                 \
    X(NO_PARTITION, 3, "unknown topic or partition")                                       \
    X(TOO_LARGE, 10, "record batch larger than the maximum batch size")                    \
    X(IO, 56, "storage I/O error")                                                         \
    X(NO_SPACE, 56, "no space left on the storage device (retriable)")                     \
    X(INVALID_RECORD, 87, "record batch is invalid")                                       \
    X(UNKNOWN_SERVER, -1, "unexpected server error")                                       \
    X(REQUEST_TIMED_OUT, 7, "request timed out")                                           \
    X(INVALID_TOPIC, 17, "invalid topic name")                                             \
    X(RECORD_LIST_TOO_LARGE, 18, "record set larger than the maximum request size")        \
    X(INVALID_REQUIRED_ACKS, 21, "acks must be -1, 0 or 1")                                \
    X(UNSUPPORTED_VERSION, 35, "unsupported API version")                                  \
    X(TOPIC_EXISTS, 36, "topic already exists")                                            \
    X(INVALID_PARTITIONS, 37, "invalid number of partitions")                              \
    X(INVALID_REPLICATION, 38, "replication factor must be 1 or -1 on a single broker")    \
    X(INVALID_CONFIG, 40, "invalid or unsupported configuration")                          \
    X(INVALID_REQUEST, 42, "malformed or invalid request")                                 \
    X(OUT_OF_ORDER_SEQUENCE, 45, "out of order producer sequence number")                  \
    X(DUPLICATE_SEQUENCE, 46, "duplicate producer sequence number")                        \
    X(INVALID_PRODUCER_EPOCH, 47, "producer epoch is older than the current one")          \
    X(UNKNOWN_PRODUCER_ID, 59, "unknown producer id")                                      \
    X(UNSUPPORTED_COMPRESSION, 76, "unsupported compression type")

#define SL_ERR_ENUM(name, code, text) SL_##name,
typedef enum { SL_ERRORS(SL_ERR_ENUM) SL_ERR_COUNT } sl_err;
#undef SL_ERR_ENUM

const char *sl_err_str(sl_err e);
int sl_err_kafka(sl_err e);

#endif
