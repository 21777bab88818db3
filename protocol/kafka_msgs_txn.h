/* kafka_msgs_txn.h: request and response bodies of Kafka's transaction APIs, decoded and
 * encoded field by field in the order of Kafka's message specs (clients/src/main/resources/
 * common/message/<Api>Request.json / <Api>Response.json):
 *
 *   AddPartitionsToTxn (24) v0-3, flexible v3+   AddOffsetsToTxn (25) v0-3, flexible v3+
 *   EndTxn (26) v0-3, flexible v3+               TxnOffsetCommit (28) v0-3, flexible v3+
 *   WriteTxnMarkers (27) v0-1, flexible v1+ (between brokers: a transaction coordinator to the
 *   leaders of its transaction's partitions)
 *
 * librdkafka asks for TxnOffsetCommit v0-3 (rd_kafka_broker_ApiVersion_supported in its
 * txnmgr) and for the others at low, non-flexible versions; the flexible v3 is covered for
 * newer clients. AddPartitionsToTxn v4+ (batched by the broker, KIP-890) is not covered.
 * The broker serves them (broker/kafka/kafka_txn.c).
 *
 * Conventions are those of kafka_msgs_admin.h: kstr fields point into the decoded buffer
 * (len -1 = null); arrays are pointer + <element>_count in the caller's arena; a field absent
 * at a version gets the spec default when decoding and is skipped when encoding. */
#ifndef SL_KAFKA_MSGS_TXN_H
#define SL_KAFKA_MSGS_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* ---- AddPartitionsToTxn (24) ---- */

struct kafka_add_partitions_to_txn_topic {
    struct kstr name;
    int32_t *partitions;
    int32_t partition_count;
};

struct kafka_add_partitions_to_txn_req {
    struct kstr transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    struct kafka_add_partitions_to_txn_topic *topics;
    int32_t topic_count;
};

struct kafka_add_partitions_to_txn_partition_result {
    int32_t partition_index;
    int16_t error_code;
};

struct kafka_add_partitions_to_txn_topic_result {
    struct kstr name;
    struct kafka_add_partitions_to_txn_partition_result *results;
    int32_t result_count;
};

struct kafka_add_partitions_to_txn_resp {
    int32_t throttle_time_ms;
    struct kafka_add_partitions_to_txn_topic_result *results;
    int32_t result_count;
};

/* ---- AddOffsetsToTxn (25) ---- */

struct kafka_add_offsets_to_txn_req {
    struct kstr transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    struct kstr group_id;
};

struct kafka_add_offsets_to_txn_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
};

/* ---- EndTxn (26) ---- */

struct kafka_end_txn_req {
    struct kstr transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool committed;
};

struct kafka_end_txn_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
};

/* ---- TxnOffsetCommit (28) ---- */

struct kafka_txn_offset_commit_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch; /* v2+, default -1 */
    struct kstr committed_metadata; /* nullable */
};

struct kafka_txn_offset_commit_topic {
    struct kstr name;
    struct kafka_txn_offset_commit_partition *partitions;
    int32_t partition_count;
};

struct kafka_txn_offset_commit_req {
    struct kstr transactional_id;
    struct kstr group_id;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t generation_id;         /* v3+, default -1 */
    struct kstr member_id;         /* v3+, default "" */
    struct kstr group_instance_id; /* v3+, nullable, default null */
    struct kafka_txn_offset_commit_topic *topics;
    int32_t topic_count;
};

struct kafka_txn_offset_commit_partition_resp {
    int32_t partition_index;
    int16_t error_code;
};

struct kafka_txn_offset_commit_topic_resp {
    struct kstr name;
    struct kafka_txn_offset_commit_partition_resp *partitions;
    int32_t partition_count;
};

struct kafka_txn_offset_commit_resp {
    int32_t throttle_time_ms;
    struct kafka_txn_offset_commit_topic_resp *topics;
    int32_t topic_count;
};

/* ---- WriteTxnMarkers (27) ---- */

struct kafka_write_txn_markers_topic {
    struct kstr name;
    int32_t *partition_indexes;
    int32_t partition_index_count;
};

struct kafka_write_txn_marker {
    int64_t producer_id;
    int16_t producer_epoch;
    bool transaction_result; /* true: commit */
    struct kafka_write_txn_markers_topic *topics;
    int32_t topic_count;
    int32_t coordinator_epoch;
};

struct kafka_write_txn_markers_req {
    struct kafka_write_txn_marker *markers;
    int32_t marker_count;
};

struct kafka_write_txn_markers_partition_result {
    int32_t partition_index;
    int16_t error_code;
};

struct kafka_write_txn_markers_topic_result {
    struct kstr name;
    struct kafka_write_txn_markers_partition_result *partitions;
    int32_t partition_count;
};

struct kafka_write_txn_marker_result {
    int64_t producer_id;
    struct kafka_write_txn_markers_topic_result *topics;
    int32_t topic_count;
};

/* No ThrottleTimeMs: a broker-to-broker API. */
struct kafka_write_txn_markers_resp {
    struct kafka_write_txn_marker_result *markers;
    int32_t marker_count;
};

#define SL_KAFKA_TXN_CODEC(api)                                                                    \
    sl_err kafka_decode_##api(struct kr *r, int16_t version, struct karena *a,                     \
                              struct kafka_##api##_req *out);                                      \
    void kafka_encode_##api##_req(struct kw *w, int16_t version, const struct kafka_##api##_req *req); \
    void kafka_encode_##api##_resp(struct kw *w, int16_t version,                                  \
                                   const struct kafka_##api##_resp *resp);                         \
    sl_err kafka_decode_##api##_resp(struct kr *r, int16_t version, struct karena *a,              \
                                     struct kafka_##api##_resp *out);

SL_KAFKA_TXN_CODEC(add_partitions_to_txn)
SL_KAFKA_TXN_CODEC(add_offsets_to_txn)
SL_KAFKA_TXN_CODEC(end_txn)
SL_KAFKA_TXN_CODEC(txn_offset_commit)
SL_KAFKA_TXN_CODEC(write_txn_markers)

#undef SL_KAFKA_TXN_CODEC

#endif
