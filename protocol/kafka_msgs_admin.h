/* kafka_msgs_admin.h: request and response bodies of Kafka's admin APIs, decoded and encoded
 * field by field in the order of Kafka's message specs (clients/src/main/resources/common/
 * message/<Api>Request.json / <Api>Response.json):
 *
 *   CreateTopics (19) v0-7, flexible v5+      DeleteTopics (20) v0-6, flexible v4+
 *   CreatePartitions (37) v0-3, flexible v2+  DescribeConfigs (32) v0-4, flexible v4+
 *   AlterConfigs (33) v0-2, flexible v2+      IncrementalAlterConfigs (44) v0-1, flexible v1+
 *   DeleteRecords (21) v0-2, flexible v2+
 *
 * Bodies only: the request and response headers are kafka_api's. Conventions, shared with
 * kafka_msgs_group.h:
 * - Strings and byte blobs are struct kstr pointing into the decoded buffer (len -1 = null),
 *   so the buffer must outlive the struct. Arrays live in the caller's arena; an array is a
 *   pointer plus a <element>_count, and a count of -1 is a null array (nullable ones only).
 * - A field the version lacks is not read; the decoder leaves the spec's default ("" for
 *   strings, 0/false for numbers, or the JSON "default") and the encoder skips it.
 * - The encoders write a null in a field that is not nullable at that version as "" (or an
 *   empty array), as Kafka does for ProtocolName before JoinGroup v7; the decoders reject
 *   such a null, as Kafka's generated readers do.
 * - Decoders return r->err: SL_UNDERFLOW when the body ends early or a count cannot fit,
 *   SL_CORRUPT for a malformed varint, length or null. Trailing bytes after the body are
 *   left unread (kr_left tells the caller). Unknown tagged fields are skipped. */
#ifndef SL_KAFKA_MSGS_ADMIN_H
#define SL_KAFKA_MSGS_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* ---- CreateTopics (19) ---- */

struct kafka_create_topics_assignment {
    int32_t partition_index;
    int32_t *broker_ids;
    int32_t broker_id_count;
};

struct kafka_create_topics_config {
    struct kstr name;
    struct kstr value; /* nullable */
};

struct kafka_create_topics_topic {
    struct kstr name;
    int32_t num_partitions;     /* -1: default, or manual assignments */
    int16_t replication_factor; /* -1: default, or manual assignments */
    struct kafka_create_topics_assignment *assignments;
    int32_t assignment_count;
    struct kafka_create_topics_config *configs;
    int32_t config_count;
};

struct kafka_create_topics_req {
    struct kafka_create_topics_topic *topics;
    int32_t topic_count;
    int32_t timeout_ms;
    bool validate_only; /* v1+ */
};

struct kafka_create_topics_result_config {
    struct kstr name;
    struct kstr value; /* nullable */
    bool read_only;
    int8_t config_source; /* default -1 */
    bool is_sensitive;
};

struct kafka_create_topics_result {
    struct kstr name;
    uint8_t topic_id[16]; /* v7+ */
    int16_t error_code;
    struct kstr error_message;       /* v1+, nullable */
    int16_t topic_config_error_code; /* v5+, tagged field 0: written only when non-zero */
    int32_t num_partitions;          /* v5+, default -1 */
    int16_t replication_factor;      /* v5+, default -1 */
    struct kafka_create_topics_result_config *configs; /* v5+, nullable */
    int32_t config_count;
};

struct kafka_create_topics_resp {
    int32_t throttle_time_ms; /* v2+ */
    struct kafka_create_topics_result *topics;
    int32_t topic_count;
};

/* ---- DeleteTopics (20) ---- */

struct kafka_delete_topics_topic {
    struct kstr name; /* nullable */
    uint8_t topic_id[16];
};

struct kafka_delete_topics_req {
    struct kafka_delete_topics_topic *topics; /* v6+ */
    int32_t topic_count;
    struct kstr *topic_names; /* v0-5 */
    int32_t topic_name_count;
    int32_t timeout_ms;
};

struct kafka_delete_topics_result {
    struct kstr name;          /* nullable v6+ */
    uint8_t topic_id[16];      /* v6+ */
    int16_t error_code;
    struct kstr error_message; /* v5+, nullable, default null */
};

struct kafka_delete_topics_resp {
    int32_t throttle_time_ms; /* v1+ */
    struct kafka_delete_topics_result *responses;
    int32_t response_count;
};

/* ---- CreatePartitions (37) ---- */

struct kafka_create_partitions_assignment {
    int32_t *broker_ids;
    int32_t broker_id_count;
};

struct kafka_create_partitions_topic {
    struct kstr name;
    int32_t count;
    struct kafka_create_partitions_assignment *assignments; /* nullable */
    int32_t assignment_count;
};

struct kafka_create_partitions_req {
    struct kafka_create_partitions_topic *topics;
    int32_t topic_count;
    int32_t timeout_ms;
    bool validate_only;
};

struct kafka_create_partitions_result {
    struct kstr name;
    int16_t error_code;
    struct kstr error_message; /* nullable */
};

struct kafka_create_partitions_resp {
    int32_t throttle_time_ms;
    struct kafka_create_partitions_result *results;
    int32_t result_count;
};

/* ---- DescribeConfigs (32) ---- */

struct kafka_describe_configs_resource {
    int8_t resource_type;
    struct kstr resource_name;
    struct kstr *configuration_keys; /* nullable: null lists every key */
    int32_t configuration_key_count;
};

struct kafka_describe_configs_req {
    struct kafka_describe_configs_resource *resources;
    int32_t resource_count;
    bool include_synonyms;      /* v1+ */
    bool include_documentation; /* v3+ */
};

struct kafka_describe_configs_synonym {
    struct kstr name;
    struct kstr value; /* nullable */
    int8_t source;
};

struct kafka_describe_configs_config {
    struct kstr name;
    struct kstr value; /* nullable */
    bool read_only;
    bool is_default;      /* v0 only */
    int8_t config_source; /* v1+, default -1 */
    bool is_sensitive;
    struct kafka_describe_configs_synonym *synonyms; /* v1+ */
    int32_t synonym_count;
    int8_t config_type;        /* v3+ */
    struct kstr documentation; /* v3+, nullable */
};

struct kafka_describe_configs_result {
    int16_t error_code;
    struct kstr error_message; /* nullable */
    int8_t resource_type;
    struct kstr resource_name;
    struct kafka_describe_configs_config *configs;
    int32_t config_count;
};

struct kafka_describe_configs_resp {
    int32_t throttle_time_ms;
    struct kafka_describe_configs_result *results;
    int32_t result_count;
};

/* ---- AlterConfigs (33) and IncrementalAlterConfigs (44) ---- */

struct kafka_alter_configs_config {
    struct kstr name;
    struct kstr value; /* nullable */
};

struct kafka_alter_configs_resource {
    int8_t resource_type;
    struct kstr resource_name;
    struct kafka_alter_configs_config *configs;
    int32_t config_count;
};

struct kafka_alter_configs_req {
    struct kafka_alter_configs_resource *resources;
    int32_t resource_count;
    bool validate_only;
};

/* Both APIs answer with the same per-resource result. */
struct kafka_alter_configs_result {
    int16_t error_code;
    struct kstr error_message; /* nullable */
    int8_t resource_type;
    struct kstr resource_name;
};

struct kafka_alter_configs_resp {
    int32_t throttle_time_ms;
    struct kafka_alter_configs_result *responses;
    int32_t response_count;
};

struct kafka_incremental_alter_configs_config {
    struct kstr name;
    int8_t config_operation; /* 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT */
    struct kstr value;       /* nullable */
};

struct kafka_incremental_alter_configs_resource {
    int8_t resource_type;
    struct kstr resource_name;
    struct kafka_incremental_alter_configs_config *configs;
    int32_t config_count;
};

struct kafka_incremental_alter_configs_req {
    struct kafka_incremental_alter_configs_resource *resources;
    int32_t resource_count;
    bool validate_only;
};

struct kafka_incremental_alter_configs_resp {
    int32_t throttle_time_ms;
    struct kafka_alter_configs_result *responses;
    int32_t response_count;
};

/* ---- DeleteRecords (21) ---- */

struct kafka_delete_records_partition {
    int32_t partition_index;
    int64_t offset; /* delete everything before it; -1 = the high watermark */
};

struct kafka_delete_records_topic {
    struct kstr name;
    struct kafka_delete_records_partition *partitions;
    int32_t partition_count;
};

struct kafka_delete_records_req {
    struct kafka_delete_records_topic *topics;
    int32_t topic_count;
    int32_t timeout_ms;
};

struct kafka_delete_records_partition_result {
    int32_t partition_index;
    int64_t low_watermark;
    int16_t error_code;
};

struct kafka_delete_records_topic_result {
    struct kstr name;
    struct kafka_delete_records_partition_result *partitions;
    int32_t partition_count;
};

struct kafka_delete_records_resp {
    int32_t throttle_time_ms;
    struct kafka_delete_records_topic_result *topics;
    int32_t topic_count;
};

/* ---- DescribeCluster (60), flexible in every version ---- */

struct kafka_describe_cluster_req {
    bool include_cluster_authorized_operations;
    int8_t endpoint_type; /* v1+, default 1 (brokers) */
};

struct kafka_describe_cluster_broker {
    int32_t broker_id;
    struct kstr host;
    int32_t port;
    struct kstr rack; /* nullable */
};

struct kafka_describe_cluster_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    struct kstr error_message; /* nullable */
    int8_t endpoint_type;      /* v1+, default 1 */
    struct kstr cluster_id;
    int32_t controller_id;
    struct kafka_describe_cluster_broker *brokers;
    int32_t broker_count;
    int32_t cluster_authorized_operations; /* default INT32_MIN */
};

/* ---- codecs: decode a request, encode a request (client, tests), encode a response
 * (broker), decode a response (client, tests). Versions outside the ranges above are the
 * caller's to refuse first: a decoder given one returns SL_INVALID_ARG, an encoder asserts.
 * On an error the decoded struct is unspecified. ---- */

sl_err kafka_decode_create_topics(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_create_topics_req *out);
void kafka_encode_create_topics_req(struct kw *w, int16_t version, const struct kafka_create_topics_req *req);
void kafka_encode_create_topics_resp(struct kw *w, int16_t version, const struct kafka_create_topics_resp *resp);
sl_err kafka_decode_create_topics_resp(struct kr *r, int16_t version, struct karena *a,
                                       struct kafka_create_topics_resp *out);

sl_err kafka_decode_delete_topics(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_delete_topics_req *out);
void kafka_encode_delete_topics_req(struct kw *w, int16_t version, const struct kafka_delete_topics_req *req);
void kafka_encode_delete_topics_resp(struct kw *w, int16_t version, const struct kafka_delete_topics_resp *resp);
sl_err kafka_decode_delete_topics_resp(struct kr *r, int16_t version, struct karena *a,
                                       struct kafka_delete_topics_resp *out);

sl_err kafka_decode_create_partitions(struct kr *r, int16_t version, struct karena *a,
                                      struct kafka_create_partitions_req *out);
void kafka_encode_create_partitions_req(struct kw *w, int16_t version,
                                        const struct kafka_create_partitions_req *req);
void kafka_encode_create_partitions_resp(struct kw *w, int16_t version,
                                         const struct kafka_create_partitions_resp *resp);
sl_err kafka_decode_create_partitions_resp(struct kr *r, int16_t version, struct karena *a,
                                           struct kafka_create_partitions_resp *out);

sl_err kafka_decode_describe_configs(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_describe_configs_req *out);
void kafka_encode_describe_configs_req(struct kw *w, int16_t version,
                                       const struct kafka_describe_configs_req *req);
void kafka_encode_describe_configs_resp(struct kw *w, int16_t version,
                                        const struct kafka_describe_configs_resp *resp);
sl_err kafka_decode_describe_configs_resp(struct kr *r, int16_t version, struct karena *a,
                                          struct kafka_describe_configs_resp *out);

sl_err kafka_decode_alter_configs(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_alter_configs_req *out);
void kafka_encode_alter_configs_req(struct kw *w, int16_t version, const struct kafka_alter_configs_req *req);
void kafka_encode_alter_configs_resp(struct kw *w, int16_t version, const struct kafka_alter_configs_resp *resp);
sl_err kafka_decode_alter_configs_resp(struct kr *r, int16_t version, struct karena *a,
                                       struct kafka_alter_configs_resp *out);

sl_err kafka_decode_incremental_alter_configs(struct kr *r, int16_t version, struct karena *a,
                                              struct kafka_incremental_alter_configs_req *out);
void kafka_encode_incremental_alter_configs_req(struct kw *w, int16_t version,
                                                const struct kafka_incremental_alter_configs_req *req);
void kafka_encode_incremental_alter_configs_resp(struct kw *w, int16_t version,
                                                 const struct kafka_incremental_alter_configs_resp *resp);
sl_err kafka_decode_incremental_alter_configs_resp(struct kr *r, int16_t version, struct karena *a,
                                                   struct kafka_incremental_alter_configs_resp *out);

sl_err kafka_decode_delete_records(struct kr *r, int16_t version, struct karena *a,
                                   struct kafka_delete_records_req *out);
void kafka_encode_delete_records_req(struct kw *w, int16_t version, const struct kafka_delete_records_req *req);
void kafka_encode_delete_records_resp(struct kw *w, int16_t version,
                                      const struct kafka_delete_records_resp *resp);
sl_err kafka_decode_delete_records_resp(struct kr *r, int16_t version, struct karena *a,
                                        struct kafka_delete_records_resp *out);

sl_err kafka_decode_describe_cluster(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_describe_cluster_req *out);
void kafka_encode_describe_cluster_req(struct kw *w, int16_t version, const struct kafka_describe_cluster_req *req);
void kafka_encode_describe_cluster_resp(struct kw *w, int16_t version,
                                        const struct kafka_describe_cluster_resp *resp);
sl_err kafka_decode_describe_cluster_resp(struct kr *r, int16_t version, struct karena *a,
                                          struct kafka_describe_cluster_resp *out);

#endif
