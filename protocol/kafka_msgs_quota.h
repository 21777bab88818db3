/* kafka_msgs_quota.h: the client-quota bodies, in the order of Kafka's message specs
 * (clients/src/main/resources/common/message/<Api>Request.json and <Api>Response.json):
 *
 *   DescribeClientQuotas (48) v0-1, flexible from 1    AlterClientQuotas (49) v0-1, flexible from 1
 *
 * An entity is a list of (EntityType, EntityName) pairs, EntityType "user", "client-id" or
 * "ip", EntityName null for the type's default. Quota values are float64 (big-endian IEEE 754,
 * Kafka's "float64"). Conventions are those of kafka_msgs_admin.h: kstr fields point into the
 * decoded buffer; arrays are pointer + count in the caller's arena. */
#ifndef SL_KAFKA_MSGS_QUOTA_H
#define SL_KAFKA_MSGS_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* DescribeClientQuotas MatchType. */
enum kafka_quota_match { KAFKA_QUOTA_MATCH_EXACT = 0, KAFKA_QUOTA_MATCH_DEFAULT = 1, KAFKA_QUOTA_MATCH_ANY = 2 };

struct kafka_quota_entity_part {
    struct kstr entity_type;
    struct kstr entity_name; /* nullable: the default entity */
};

struct kafka_quota_value {
    struct kstr key;
    double value;
};

/* ---- DescribeClientQuotas (48) ---- */

struct kafka_quota_component {
    struct kstr entity_type;
    int8_t match_type;
    struct kstr match; /* nullable */
};

struct kafka_describe_client_quotas_req {
    struct kafka_quota_component *components;
    int32_t component_count;
    bool strict;
};

struct kafka_describe_client_quotas_entry {
    struct kafka_quota_entity_part *entity;
    int32_t entity_count;
    struct kafka_quota_value *values;
    int32_t value_count;
};

struct kafka_describe_client_quotas_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_describe_client_quotas_entry *entries;
    int32_t entry_count; /* -1: null (sent with an error) */
};

sl_err kafka_decode_describe_client_quotas(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_describe_client_quotas_req *out);
void kafka_encode_describe_client_quotas_req(struct kw *w, int16_t v, const struct kafka_describe_client_quotas_req *req);
void kafka_encode_describe_client_quotas_resp(struct kw *w, int16_t v,
                                              const struct kafka_describe_client_quotas_resp *resp);
sl_err kafka_decode_describe_client_quotas_resp(struct kr *r, int16_t v, struct karena *a,
                                                struct kafka_describe_client_quotas_resp *out);

/* ---- AlterClientQuotas (49) ---- */

struct kafka_quota_op {
    struct kstr key;
    double value;
    bool remove;
};

struct kafka_alter_client_quotas_entry {
    struct kafka_quota_entity_part *entity;
    int32_t entity_count;
    struct kafka_quota_op *ops;
    int32_t op_count;
};

struct kafka_alter_client_quotas_req {
    struct kafka_alter_client_quotas_entry *entries;
    int32_t entry_count;
    bool validate_only;
};

struct kafka_alter_client_quotas_result {
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_quota_entity_part *entity;
    int32_t entity_count;
};

struct kafka_alter_client_quotas_resp {
    int32_t throttle_time_ms;
    struct kafka_alter_client_quotas_result *entries;
    int32_t entry_count;
};

sl_err kafka_decode_alter_client_quotas(struct kr *r, int16_t v, struct karena *a,
                                        struct kafka_alter_client_quotas_req *out);
void kafka_encode_alter_client_quotas_req(struct kw *w, int16_t v, const struct kafka_alter_client_quotas_req *req);
void kafka_encode_alter_client_quotas_resp(struct kw *w, int16_t v, const struct kafka_alter_client_quotas_resp *resp);
sl_err kafka_decode_alter_client_quotas_resp(struct kr *r, int16_t v, struct karena *a,
                                             struct kafka_alter_client_quotas_resp *out);

#endif
