/* kafka_msgs_acl.h: the ACL API bodies, in the order of Kafka's message specs
 * (clients/src/main/resources/common/message/<Api>Request.json and <Api>Response.json):
 *
 *   DescribeAcls (29) v0-3   CreateAcls (30) v0-3   DeleteAcls (31) v0-3   flexible from 2
 *
 * v1 adds the resource pattern type (absent in v0, where it means LITERAL, 3); v3 only adds
 * the USER resource type (a code, not a field). The codes are Kafka's enums: ResourceType,
 * PatternType, AclOperation, AclPermissionType (clients/.../common/acl, .../resource).
 *
 * Conventions are those of kafka_msgs_admin.h: kstr fields point into the decoded buffer;
 * arrays are pointer + count in the caller's arena. */
#ifndef SL_KAFKA_MSGS_ACL_H
#define SL_KAFKA_MSGS_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

enum kafka_resource_type {
    KAFKA_RES_UNKNOWN = 0,
    KAFKA_RES_ANY = 1,
    KAFKA_RES_TOPIC = 2,
    KAFKA_RES_GROUP = 3,
    KAFKA_RES_CLUSTER = 4,
    KAFKA_RES_TRANSACTIONAL_ID = 5,
    KAFKA_RES_DELEGATION_TOKEN = 6,
    KAFKA_RES_USER = 7,
};

enum kafka_pattern_type {
    KAFKA_PAT_UNKNOWN = 0,
    KAFKA_PAT_ANY = 1,   /* filters only: literal or prefixed, names compared exactly */
    KAFKA_PAT_MATCH = 2, /* filters only: every pattern that would match the name */
    KAFKA_PAT_LITERAL = 3,
    KAFKA_PAT_PREFIXED = 4,
};

enum kafka_acl_operation {
    KAFKA_OP_UNKNOWN = 0,
    KAFKA_OP_ANY = 1, /* filters only */
    KAFKA_OP_ALL = 2,
    KAFKA_OP_READ = 3,
    KAFKA_OP_WRITE = 4,
    KAFKA_OP_CREATE = 5,
    KAFKA_OP_DELETE = 6,
    KAFKA_OP_ALTER = 7,
    KAFKA_OP_DESCRIBE = 8,
    KAFKA_OP_CLUSTER_ACTION = 9,
    KAFKA_OP_DESCRIBE_CONFIGS = 10,
    KAFKA_OP_ALTER_CONFIGS = 11,
    KAFKA_OP_IDEMPOTENT_WRITE = 12,
    KAFKA_OP_CREATE_TOKENS = 13,
    KAFKA_OP_DESCRIBE_TOKENS = 14,
};

enum kafka_acl_permission { KAFKA_PERM_UNKNOWN = 0, KAFKA_PERM_ANY = 1, KAFKA_PERM_DENY = 2, KAFKA_PERM_ALLOW = 3 };

/* A binding (CreateAcls, a DeleteAcls match) or a filter (DescribeAcls, DeleteAcls): in a
 * filter the three strings may be null (match any). */
struct kafka_acl {
    int8_t resource_type;
    struct kstr resource_name;
    int8_t pattern_type; /* v1+; LITERAL in v0 */
    struct kstr principal;
    struct kstr host;
    int8_t operation;
    int8_t permission_type;
};

/* ---- DescribeAcls (29) ---- */

struct kafka_describe_acls_req {
    struct kafka_acl filter;
};

struct kafka_acl_description {
    struct kstr principal, host;
    int8_t operation, permission_type;
};

struct kafka_describe_acls_resource {
    int8_t resource_type;
    struct kstr resource_name;
    int8_t pattern_type; /* v1+ */
    struct kafka_acl_description *acls;
    int32_t acl_count;
};

struct kafka_describe_acls_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_describe_acls_resource *resources;
    int32_t resource_count;
};

/* ---- CreateAcls (30) ---- */

struct kafka_create_acls_req {
    struct kafka_acl *creations;
    int32_t creation_count;
};

struct kafka_acl_result {
    int16_t error_code;
    struct kstr error_message; /* nullable */
};

struct kafka_create_acls_resp {
    int32_t throttle_time_ms;
    struct kafka_acl_result *results;
    int32_t result_count;
};

/* ---- DeleteAcls (31) ---- */

struct kafka_delete_acls_req {
    struct kafka_acl *filters;
    int32_t filter_count;
};

struct kafka_delete_acls_match {
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_acl acl;      /* a binding: no null strings */
};

struct kafka_delete_acls_filter_result {
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_delete_acls_match *matches;
    int32_t match_count;
};

struct kafka_delete_acls_resp {
    int32_t throttle_time_ms;
    struct kafka_delete_acls_filter_result *results;
    int32_t result_count;
};

sl_err kafka_decode_describe_acls(struct kr *r, int16_t v, struct karena *a, struct kafka_describe_acls_req *out);
void kafka_encode_describe_acls_req(struct kw *w, int16_t v, const struct kafka_describe_acls_req *req);
void kafka_encode_describe_acls_resp(struct kw *w, int16_t v, const struct kafka_describe_acls_resp *resp);
sl_err kafka_decode_describe_acls_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_describe_acls_resp *out);

sl_err kafka_decode_create_acls(struct kr *r, int16_t v, struct karena *a, struct kafka_create_acls_req *out);
void kafka_encode_create_acls_req(struct kw *w, int16_t v, const struct kafka_create_acls_req *req);
void kafka_encode_create_acls_resp(struct kw *w, int16_t v, const struct kafka_create_acls_resp *resp);
sl_err kafka_decode_create_acls_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_create_acls_resp *out);

sl_err kafka_decode_delete_acls(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_acls_req *out);
void kafka_encode_delete_acls_req(struct kw *w, int16_t v, const struct kafka_delete_acls_req *req);
void kafka_encode_delete_acls_resp(struct kw *w, int16_t v, const struct kafka_delete_acls_resp *resp);
sl_err kafka_decode_delete_acls_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_acls_resp *out);

#endif
