/* errors.h: Sluice's one error enum and its message table. Each error knows its Kafka error code
 * (-1: never sent as itself; on the Kafka wire it becomes UNKNOWN_SERVER_ERROR, -1), its text
 * for logs, and, when nats-server has one, the exact text of its NATS `-ERR '<text>'` line.
 *
 * Kafka codes are unique among entries that have one (>= 0): a wire code maps back to one name.
 * NATS texts are nats-server 2.9.10's spelling, byte for byte, case included ("maximum control
 * line exceeded" is lower case there); NULL where nats-server sends no -ERR (it closes a slow
 * consumer silently, and says nothing for the Kafka-only errors). */
#ifndef SL_ERRORS_H
#define SL_ERRORS_H

/* X(name, kafka_code, text, nats_text) */
#define SL_ERRORS(X)                                                                                      \
    X(OK, 0, "ok", NULL)                                                                                  \
    X(AGAIN, -1, "need more bytes", NULL)                                                                 \
    X(UNDERFLOW, -1, "input shorter than its fields", NULL)                                               \
    X(INVALID_ARG, -1, "invalid argument", NULL)                                                          \
    X(NOMEM, -1, "out of memory", NULL)                                                                   \
    X(CONFIG, -1, "invalid configuration", NULL)                                                          \
    X(NOT_FOUND, -1, "not found", NULL)                                                                   \
    X(EXISTS, -1, "already exists", NULL)                                                                 \
    X(CLOSED, -1, "closed", NULL)                                                                         \
    X(OFFSET_OUT_OF_RANGE, 1, "offset out of range", NULL)                                                \
    X(CORRUPT, 2, "record batch is corrupt (bad CRC32C, magic or length)", NULL)                          \
    X(NO_PARTITION, 3, "unknown topic or partition", NULL)                                                \
    X(LEADER_NOT_AVAILABLE, 5, "the topic is being created", NULL)                                        \
    X(NOT_LEADER, 6, "this broker does not lead the partition", NULL)                                     \
    X(NOT_ENOUGH_REPLICAS, 19, "fewer in-sync replicas than min.insync.replicas", NULL)                   \
    X(FENCED_LEADER_EPOCH, 74, "the leader epoch is older than the partition's", NULL)                    \
    X(UNKNOWN_LEADER_EPOCH, 75, "the leader epoch is newer than this broker knows", NULL)                 \
    X(TOO_LARGE, 10, "record batch larger than the maximum batch size", NULL)                             \
    X(IO, 56, "storage I/O error", NULL)                                                                  \
    X(NO_SPACE, 56, "no space left on the storage device (retriable)", NULL)                              \
    X(INVALID_RECORD, 87, "record batch is invalid", NULL)                                                \
    X(UNKNOWN_SERVER, -1, "unexpected server error", NULL)                                                \
    X(REQUEST_TIMED_OUT, 7, "request timed out", NULL)                                                    \
    X(INVALID_TOPIC, 17, "invalid topic name", NULL)                                                      \
    X(RECORD_LIST_TOO_LARGE, 18, "record set larger than the maximum request size", NULL)                 \
    X(INVALID_REQUIRED_ACKS, 21, "acks must be -1, 0 or 1", NULL)                                         \
    X(UNSUPPORTED_VERSION, 35, "unsupported API version", NULL)                                           \
    X(TOPIC_EXISTS, 36, "topic already exists", NULL)                                                     \
    X(INVALID_PARTITIONS, 37, "invalid number of partitions", NULL)                                       \
    X(INVALID_REPLICATION, 38, "invalid replication factor", NULL)             \
    X(INVALID_CONFIG, 40, "invalid or unsupported configuration", NULL)                                   \
    X(INVALID_REQUEST, 42, "malformed or invalid request", NULL)                                          \
    X(POLICY_VIOLATION, 44, "refused by the broker's limits", NULL)                                       \
    X(REASSIGNMENT_IN_PROGRESS, 60, "the topic's partitions are being changed", NULL)                     \
    X(OUT_OF_ORDER_SEQUENCE, 45, "out of order producer sequence number", NULL)                           \
    X(DUPLICATE_SEQUENCE, 46, "duplicate producer sequence number", NULL)                                 \
    X(INVALID_PRODUCER_EPOCH, 47, "producer epoch is older than the current one", NULL)                   \
    X(UNKNOWN_PRODUCER_ID, 59, "unknown producer id", NULL)                                               \
    X(UNSUPPORTED_COMPRESSION, 76, "unsupported compression type", NULL)                                  \
    X(TRANSACTIONAL_ID_AUTHORIZATION, 53, "transactional records without a transactional id", NULL)       \
    X(UNKNOWN_TOPIC_ID, 100, "unknown topic id", NULL)                                                    \
    /* consumer groups (broker/kafka/group.c) */                                                          \
    X(COORDINATOR_NOT_AVAILABLE, 15, "group coordinator not available", NULL)                             \
    X(NOT_COORDINATOR, 16, "this broker does not coordinate the group", NULL)                             \
    X(ILLEGAL_GENERATION, 22, "generation is not the group's current one", NULL)                          \
    X(INCONSISTENT_GROUP_PROTOCOL, 23, "protocol type or protocols do not match the group's", NULL)       \
    X(INVALID_GROUP_ID, 24, "invalid group id", NULL)                                                     \
    X(UNKNOWN_MEMBER_ID, 25, "unknown member id", NULL)                                                   \
    X(INVALID_SESSION_TIMEOUT, 26, "session timeout outside the broker's bounds", NULL)                   \
    X(REBALANCE_IN_PROGRESS, 27, "group is rebalancing", NULL)                                            \
    X(NON_EMPTY_GROUP, 68, "group still has members", NULL)                                               \
    X(GROUP_ID_NOT_FOUND, 69, "group not found", NULL)                                                    \
    X(MEMBER_ID_REQUIRED, 79, "rejoin with the member id given", NULL)                                    \
    X(GROUP_MAX_SIZE_REACHED, 81, "group is full", NULL)                                                  \
    X(FENCED_INSTANCE_ID, 82, "static member fenced by a newer instance", NULL)                           \
    X(GROUP_SUBSCRIBED_TO_TOPIC, 86, "group is subscribed to the topic", NULL)                            \
    /* transactions (broker/core/txn.c) */                                                               \
    X(INVALID_TXN_STATE, 48, "request not valid in the transaction's state", NULL)                        \
    X(INVALID_PRODUCER_ID_MAPPING, 49, "producer id is not the transactional id's", NULL)                 \
    X(INVALID_TRANSACTION_TIMEOUT, 50, "transaction timeout above transaction_timeout_ms_max", NULL)      \
    X(CONCURRENT_TRANSACTIONS, 51, "the transaction is still being completed", NULL)                      \
    X(PRODUCER_FENCED, 90, "a newer producer has the transactional id", NULL)                             \
    X(TRANSACTION_COORDINATOR_FENCED, 52, "a newer transaction coordinator wrote here", NULL)              \
    X(OPERATION_NOT_ATTEMPTED, 55, "not attempted: another part of the request failed", NULL)             \
    X(UNSTABLE_OFFSET_COMMIT, 88, "a transaction holds a pending offset for the partition", NULL)         \
    X(TRANSACTIONAL_ID_NOT_FOUND, 105, "no such transactional id", NULL)                                  \
    /* SASL and SCRAM credentials (broker/kafka/kafka_sasl.c) */                                      \
    X(UNSUPPORTED_SASL_MECHANISM, 33, "SASL mechanism not enabled", NULL)                               \
    X(ILLEGAL_SASL_STATE, 34, "SASL request out of order", NULL)                                          \
    X(SASL_AUTHENTICATION_FAILED, 58, "SASL authentication failed", NULL)                                 \
    X(RESOURCE_NOT_FOUND, 91, "no such resource", NULL)                                                   \
    X(DUPLICATE_RESOURCE, 92, "resource given twice in one request", NULL)                                \
    X(UNACCEPTABLE_CREDENTIAL, 93, "credential refused by the broker's rules", NULL)                      \
    /* ACLs (broker/kafka/kafka_acl.c) */                                                             \
    X(TOPIC_AUTHORIZATION, 29, "not authorized for the topic", NULL)                                      \
    X(GROUP_AUTHORIZATION, 30, "not authorized for the group", NULL)                                      \
    X(CLUSTER_AUTHORIZATION, 31, "not authorized for the cluster", NULL)                                  \
    X(SECURITY_DISABLED, 54, "no authorizer is configured", NULL)                                         \
    /* NATS protocol errors (broker/nats): -ERR texts as nats-server sends them */                        \
    X(UNKNOWN_OP, -1, "unknown protocol operation", "Unknown Protocol Operation")                         \
    X(CONTROL_LINE_TOO_LONG, -1, "control line longer than max_control_line", "maximum control line exceeded") \
    X(PAYLOAD_TOO_LARGE, -1, "payload larger than max_payload", "Maximum Payload Violation")              \
    X(AUTH_VIOLATION, -1, "not authorized", "Authorization Violation")                                    \
    X(PERMISSION_VIOLATION, -1, "not permitted for this user", "Permissions Violation")                   \
    X(AUTH_TIMEOUT, -1, "no CONNECT within the authorization timeout", "Authentication Timeout")          \
    X(INVALID_SUBJECT, -1, "invalid subject", "Invalid Subject")                                          \
    X(INVALID_PUB_SUBJECT, -1, "invalid publish subject", "Invalid Publish Subject")                      \
    X(TOO_MANY_CONNECTIONS, -1, "max_connections reached", "maximum connections exceeded")                \
    X(TOO_MANY_SUBSCRIPTIONS, -1, "max_subscriptions reached", "maximum subscriptions exceeded")          \
    X(STALE_CONNECTION, -1, "pings unanswered", "Stale Connection")                                       \
    X(INVALID_PROTOCOL, -1, "invalid client protocol", "invalid client protocol")                         \
    X(NO_RESPONDERS_NEEDS_HEADERS, -1, "no_responders without headers", "no responders requires headers support") \
    X(SLOW_CONSUMER, -1, "slow consumer: max_pending or write_deadline exceeded", NULL)

#define SL_ERR_ENUM(name, code, text, nats_text) SL_##name,
typedef enum { SL_ERRORS(SL_ERR_ENUM) SL_ERR_COUNT } sl_err;
#undef SL_ERR_ENUM

const char *sl_err_str(sl_err e);
int sl_err_kafka(sl_err e);
/* The first error of the table with this Kafka code (an answer another broker sent): SL_OK
 * for 0, SL_UNKNOWN_SERVER for a code the table does not have. */
sl_err sl_err_of_kafka(int code);
/* The text of the NATS -ERR line for e (without the quotes), or NULL: no -ERR for it. */
const char *sl_err_nats(sl_err e);

#endif
