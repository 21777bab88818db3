/* kafka_msgs_core.h: the data-path Kafka messages: Metadata, Produce, Fetch, ListOffsets and
 * InitProducerId, requests and responses, each in both directions (the broker decodes
 * requests and encodes responses; clients and tests do the reverse). Fields follow the
 * apache/kafka message JSON specs in spec order; "vN+" marks a field that exists only from
 * that version. A decoder fills fields absent at its version with the spec's default, so
 * handlers need not test versions; encoders skip them.
 *
 * Contracts shared by every function here:
 * - versions outside kafka_api.c's table: decoders return SL_INVALID_ARG, encoders assert;
 * - decoders read the message body (after the header) from r, validate every length and count
 *   (hostile input gives an error, never a crash or an oversized allocation), put arrays in the
 *   arena and point strings and record bytes into r's buffer; they consume the trailing tagged
 *   fields and return r->err (SL_OK on success). Trailing bytes after the body are not checked;
 * - non-nullable strings and arrays decode with len/count >= 0 (null is SL_CORRUPT);
 * - encoders write the body only (kafka_encode_resp_header writes the header). */
#ifndef SL_KAFKA_MSGS_CORE_H
#define SL_KAFKA_MSGS_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/kafka_api.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* --- Metadata (key 3, v0-12) ----------------------------------------------------------------- */

struct kafka_metadata_topic {
    uint8_t topic_id[16]; /* TopicId: v10+ */
    struct kstr name;     /* Name: nullable v10+ */
};

struct kafka_metadata_req {
    int32_t topic_count; /* Topics: -1 = null (v1+) */
    struct kafka_metadata_topic *topics;
    /* Decoded only: null in v1+, empty in v0. The encoder writes a null request as an empty
     * array in v0, where that is how "all topics" is spelled. */
    bool all_topics;
    bool allow_auto_topic_creation;             /* v4+, default true */
    bool include_cluster_authorized_operations; /* v8-10 */
    bool include_topic_authorized_operations;   /* v8+ */
};

struct kafka_metadata_broker {
    int32_t node_id;
    struct kstr host;
    int32_t port;
    struct kstr rack; /* v1+, nullable, default null */
};

struct kafka_metadata_part {
    int16_t error_code;
    int32_t partition_index;
    int32_t leader_id;
    int32_t leader_epoch; /* v7+, default -1 */
    int32_t replica_count;
    int32_t *replica_nodes;
    int32_t isr_count;
    int32_t *isr_nodes;
    int32_t offline_count; /* OfflineReplicas: v5+ */
    int32_t *offline_replicas;
};

struct kafka_metadata_topic_resp {
    int16_t error_code;
    struct kstr name;     /* nullable v12+ */
    uint8_t topic_id[16]; /* v10+ */
    bool is_internal;     /* v1+ */
    int32_t partition_count;
    struct kafka_metadata_part *partitions;
    int32_t topic_authorized_operations; /* v8+, default INT32_MIN */
};

struct kafka_metadata_resp {
    int32_t throttle_time_ms; /* v3+ */
    int32_t broker_count;
    struct kafka_metadata_broker *brokers;
    struct kstr cluster_id; /* v2+, nullable, default null */
    int32_t controller_id;  /* v1+, default -1 */
    int32_t topic_count;
    struct kafka_metadata_topic_resp *topics;
    int32_t cluster_authorized_operations; /* v8-10, default INT32_MIN */
};

sl_err kafka_decode_metadata(struct kr *r, int16_t version, struct karena *a,
                             struct kafka_metadata_req *out);
void kafka_encode_metadata_req(struct kw *w, int16_t version, const struct kafka_metadata_req *req);
void kafka_encode_metadata_resp(struct kw *w, int16_t version,
                                const struct kafka_metadata_resp *resp);
sl_err kafka_decode_metadata_resp(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_metadata_resp *out);

/* --- Produce (key 0, v3-9) ------------------------------------------------------------------- */

struct kafka_produce_part {
    int32_t index;
    /* Records: the raw record set (one or more batches back to back), nullable. */
    struct kstr records;
};

struct kafka_produce_topic {
    struct kstr name;
    int32_t partition_count;
    struct kafka_produce_part *partitions;
};

struct kafka_produce_req {
    struct kstr transactional_id; /* v3+, nullable */
    int16_t acks;
    int32_t timeout_ms;
    int32_t topic_count;
    struct kafka_produce_topic *topics;
};

struct kafka_produce_record_error {
    int32_t batch_index;
    struct kstr message; /* BatchIndexErrorMessage: nullable */
};

struct kafka_produce_part_resp {
    int32_t index;
    int16_t error_code;
    int64_t base_offset;
    int64_t log_append_time_ms; /* v2+, default -1 */
    int64_t log_start_offset;   /* v5+, default -1 */
    int32_t record_error_count; /* RecordErrors: v8+ */
    struct kafka_produce_record_error *record_errors;
    struct kstr error_message; /* v8+, nullable, default null */
};

struct kafka_produce_topic_resp {
    struct kstr name;
    int32_t partition_count;
    struct kafka_produce_part_resp *partitions;
};

struct kafka_produce_resp {
    int32_t topic_count;
    struct kafka_produce_topic_resp *topics;
    int32_t throttle_time_ms; /* v1+ */
};

sl_err kafka_decode_produce(struct kr *r, int16_t version, struct karena *a,
                            struct kafka_produce_req *out);
void kafka_encode_produce_req(struct kw *w, int16_t version, const struct kafka_produce_req *req);
void kafka_encode_produce_resp(struct kw *w, int16_t version,
                               const struct kafka_produce_resp *resp);
sl_err kafka_decode_produce_resp(struct kr *r, int16_t version, struct karena *a,
                                 struct kafka_produce_resp *out);

/* --- Fetch (key 1, v4-16) -------------------------------------------------------------------- *
 * From v13 topics go by id (TopicId) instead of name, in the request, its forgotten topics and
 * the response: the codec reads and writes topic_id there and leaves topic empty. v14 adds
 * nothing on the wire; v15 drops ReplicaId (now the tagged ReplicaState, skipped: replica_id
 * stays -1); v16 adds the tagged NodeEndpoints to the response (never sent). */

struct kafka_fetch_part {
    int32_t partition;
    int32_t current_leader_epoch; /* v9+, default -1 */
    int64_t fetch_offset;
    int32_t last_fetched_epoch; /* v12+, default -1 */
    int64_t log_start_offset;   /* v5+, default -1 */
    int32_t partition_max_bytes;
};

struct kafka_fetch_topic {
    struct kstr topic; /* v0-12; "" from v13 */
    int32_t partition_count;
    struct kafka_fetch_part *partitions;
    uint8_t topic_id[16]; /* v13+ */
};

struct kafka_fetch_forgotten {
    struct kstr topic; /* v7-12; "" from v13 */
    int32_t partition_count;
    int32_t *partitions;
    uint8_t topic_id[16]; /* v13+ */
};

struct kafka_fetch_req {
    int32_t replica_id;      /* v0-14; -1 from v15 */
    int32_t max_wait_ms;
    int32_t min_bytes;
    int32_t max_bytes;       /* v3+, default INT32_MAX */
    int8_t isolation_level;  /* v4+, default 0 */
    int32_t session_id;      /* v7+, default 0 */
    int32_t session_epoch;   /* v7+, default -1 */
    int32_t topic_count;
    struct kafka_fetch_topic *topics;
    int32_t forgotten_count; /* ForgottenTopicsData: v7+ */
    struct kafka_fetch_forgotten *forgotten;
    struct kstr rack_id;     /* v11+, default "" */
};

struct kafka_fetch_aborted {
    int64_t producer_id;
    int64_t first_offset;
};

struct kafka_fetch_part_resp {
    int32_t partition_index;
    int16_t error_code;
    int64_t high_watermark;
    int64_t last_stable_offset; /* v4+, default -1 */
    int64_t log_start_offset;   /* v5+, default -1 */
    /* AbortedTransactions (v4+, nullable): Sluice has no transactions, so a zeroed struct
     * writes an empty array; decoded for clients and tests. */
    int32_t aborted_count;
    struct kafka_fetch_aborted *aborted;
    int32_t preferred_read_replica; /* v11+, default -1 */
    struct kstr records;            /* nullable; ignored by the streaming encoder */
    /* DivergingEpoch (v12+, tagged field 0): the leader's answer to a follower whose log has
     * left the leader's (KIP-595's fetch-based truncation): the largest epoch the leader has at
     * or below the follower's last one, and where it ends there. */
    bool diverging;
    int32_t diverging_epoch;
    int64_t diverging_end_offset;
};

struct kafka_fetch_topic_resp {
    struct kstr topic; /* v0-12; "" from v13 */
    int32_t partition_count;
    struct kafka_fetch_part_resp *partitions;
    uint8_t topic_id[16]; /* v13+ */
};

struct kafka_fetch_resp {
    int32_t throttle_time_ms; /* v1+ */
    int16_t error_code;       /* v7+ */
    int32_t session_id;       /* v7+, default 0 */
    int32_t topic_count;
    struct kafka_fetch_topic_resp *topics;
};

sl_err kafka_decode_fetch(struct kr *r, int16_t version, struct karena *a,
                          struct kafka_fetch_req *out);
void kafka_encode_fetch_req(struct kw *w, int16_t version, const struct kafka_fetch_req *req);
void kafka_encode_fetch_resp(struct kw *w, int16_t version, const struct kafka_fetch_resp *resp);
sl_err kafka_decode_fetch_resp(struct kr *r, int16_t version, struct karena *a,
                               struct kafka_fetch_resp *out);

/* Streaming Fetch response, so record bytes can go from segment files to the socket without
 * passing through w. Call order:
 *   resp_begin, then topic_count times { topic_begin, then partition_count times
 *   { partition_begin, <records_len bytes sent by the caller>, partition_end }, topic_end },
 *   resp_end.
 * partition_begin writes every field of p up to and including the records length prefix
 * (records_len -1: null; int32 before v12, compact length from v12); p->records is ignored.
 * The bytes in w are therefore not contiguous with the record bytes: the caller interleaves
 * them on the wire and sizes the frame as w->len + the sum of records_len. */
void kafka_encode_fetch_resp_begin(struct kw *w, int16_t version, int32_t throttle_ms,
                                   int16_t error_code, int32_t session_id, int32_t topic_count);
void kafka_encode_fetch_topic_begin(struct kw *w, int16_t version, struct kstr topic,
                                    const uint8_t topic_id[16], int32_t partition_count);
void kafka_encode_fetch_partition_begin(struct kw *w, int16_t version,
                                        const struct kafka_fetch_part_resp *p,
                                        int32_t records_len);
/* The partition's tagged fields (DivergingEpoch when p->diverging). */
void kafka_encode_fetch_partition_end(struct kw *w, int16_t version, const struct kafka_fetch_part_resp *p);
void kafka_encode_fetch_topic_end(struct kw *w, int16_t version);
void kafka_encode_fetch_resp_end(struct kw *w, int16_t version);

/* --- ListOffsets (key 2, v0-7) --------------------------------------------------------------- */

struct kafka_list_offsets_part {
    int32_t partition_index;
    int32_t current_leader_epoch; /* v4+, default -1 */
    int64_t timestamp;
    int32_t max_num_offsets; /* v0 only, default 1 */
};

struct kafka_list_offsets_topic {
    struct kstr name;
    int32_t partition_count;
    struct kafka_list_offsets_part *partitions;
};

struct kafka_list_offsets_req {
    int32_t replica_id;
    int8_t isolation_level; /* v2+, default 0 */
    int32_t topic_count;
    struct kafka_list_offsets_topic *topics;
};

struct kafka_list_offsets_part_resp {
    int32_t partition_index;
    int16_t error_code;
    int32_t old_style_offset_count; /* OldStyleOffsets: v0 only */
    int64_t *old_style_offsets;
    int64_t timestamp;    /* v1+, default -1 */
    int64_t offset;       /* v1+, default -1 */
    int32_t leader_epoch; /* v4+, default -1 */
};

struct kafka_list_offsets_topic_resp {
    struct kstr name;
    int32_t partition_count;
    struct kafka_list_offsets_part_resp *partitions;
};

struct kafka_list_offsets_resp {
    int32_t throttle_time_ms; /* v2+ */
    int32_t topic_count;
    struct kafka_list_offsets_topic_resp *topics;
};

sl_err kafka_decode_list_offsets(struct kr *r, int16_t version, struct karena *a,
                                 struct kafka_list_offsets_req *out);
void kafka_encode_list_offsets_req(struct kw *w, int16_t version,
                                   const struct kafka_list_offsets_req *req);
void kafka_encode_list_offsets_resp(struct kw *w, int16_t version,
                                    const struct kafka_list_offsets_resp *resp);
sl_err kafka_decode_list_offsets_resp(struct kr *r, int16_t version, struct karena *a,
                                      struct kafka_list_offsets_resp *out);

/* --- InitProducerId (key 22, v0-4) ----------------------------------------------------------- */

struct kafka_init_producer_id_req {
    struct kstr transactional_id; /* nullable */
    int32_t transaction_timeout_ms;
    int64_t producer_id;    /* v3+, default -1 */
    int16_t producer_epoch; /* v3+, default -1 */
};

struct kafka_init_producer_id_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    int64_t producer_id;
    int16_t producer_epoch;
};

sl_err kafka_decode_init_producer_id(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_init_producer_id_req *out);
void kafka_encode_init_producer_id_req(struct kw *w, int16_t version,
                                       const struct kafka_init_producer_id_req *req);
void kafka_encode_init_producer_id_resp(struct kw *w, int16_t version,
                                        const struct kafka_init_producer_id_resp *resp);
sl_err kafka_decode_init_producer_id_resp(struct kr *r, int16_t version, struct karena *a,
                                          struct kafka_init_producer_id_resp *out);

#endif
