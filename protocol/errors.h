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
    X(INVALID_RECORD, 87, "record batch is invalid")

#define SL_ERR_ENUM(name, code, text) SL_##name,
typedef enum { SL_ERRORS(SL_ERR_ENUM) SL_ERR_COUNT } sl_err;
#undef SL_ERR_ENUM

const char *sl_err_str(sl_err e);
int sl_err_kafka(sl_err e);

#endif
