/* kafka_msgs_group.h: request and response bodies of Kafka's consumer-group APIs, decoded and
 * encoded field by field in the order of Kafka's message specs (clients/src/main/resources/
 * common/message/<Api>Request.json / <Api>Response.json):
 *
 *   FindCoordinator (10) v0-4, flexible v3+   JoinGroup (11) v0-7, flexible v6+
 *   Heartbeat (12) v0-4, flexible v4+         LeaveGroup (13) v0-4, flexible v4+
 *   SyncGroup (14) v0-5, flexible v4+         OffsetCommit (8) v0-8, flexible v8+
 *   OffsetFetch (9) v0-8, flexible v6+        DescribeGroups (15) v0-5, flexible v5+
 *   ListGroups (16) v0-4, flexible v3+        DeleteGroups (42) v0-2, flexible v2+
 *   OffsetDelete (47) v0, never flexible
 *
 * Later versions (JoinGroup 8-9 Reason/SkipAssignment, LeaveGroup 5 Reason, OffsetCommit 9,
 * OffsetFetch 9 member epochs, FindCoordinator 5-6, ListGroups 5 TypesFilter) are not covered.
 *
 * Conventions are those of kafka_msgs_admin.h: kstr fields point into the decoded buffer
 * (len -1 = null); arrays are pointer + <element>_count in the caller's arena (count -1 =
 * null, nullable arrays only); a field absent at a version gets the spec default when
 * decoding and is skipped when encoding; a null in a field not nullable at that version is
 * encoded as "" and rejected when decoded. Consumer-protocol blobs (JoinGroup metadata,
 * SyncGroup assignments, DescribeGroups member data) stay opaque bytes, byte-exact. */
#ifndef SL_KAFKA_MSGS_GROUP_H
#define SL_KAFKA_MSGS_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* ---- FindCoordinator (10) ---- */

struct kafka_find_coordinator_req {
    struct kstr key;   /* v0-3 */
    int8_t key_type;   /* v1+: 0 group, 1 transaction */
    struct kstr *coordinator_keys; /* v4+ */
    int32_t coordinator_key_count;
};

struct kafka_find_coordinator_coordinator {
    struct kstr key;
    int32_t node_id;
    struct kstr host;
    int32_t port;
    int16_t error_code;
    struct kstr error_message; /* nullable */
};

struct kafka_find_coordinator_resp {
    int32_t throttle_time_ms;  /* v1+ */
    int16_t error_code;        /* v0-3 */
    struct kstr error_message; /* v1-3, nullable */
    int32_t node_id;           /* v0-3 */
    struct kstr host;          /* v0-3 */
    int32_t port;              /* v0-3 */
    struct kafka_find_coordinator_coordinator *coordinators; /* v4+ */
    int32_t coordinator_count;
};

/* ---- JoinGroup (11) ---- */

struct kafka_join_group_protocol {
    struct kstr name;
    struct kstr metadata; /* bytes */
};

struct kafka_join_group_req {
    struct kstr group_id;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* v1+, default -1 (v0: the session timeout applies) */
    struct kstr member_id;
    struct kstr group_instance_id; /* v5+, nullable, default null */
    struct kstr protocol_type;
    struct kafka_join_group_protocol *protocols;
    int32_t protocol_count;
    struct kstr reason; /* v8+, nullable (KIP-800): why the member (re)joins, only logged */
};

struct kafka_join_group_member {
    struct kstr member_id;
    struct kstr group_instance_id; /* v5+, nullable, default null */
    struct kstr metadata;          /* bytes */
};

struct kafka_join_group_resp {
    int32_t throttle_time_ms; /* v2+ */
    int16_t error_code;
    int32_t generation_id;     /* default -1 */
    struct kstr protocol_type; /* v7+, nullable, default null */
    struct kstr protocol_name; /* nullable v7+ (written as "" before) */
    struct kstr leader;
    bool skip_assignment; /* v9+ (KIP-814): Sluice never asks the leader to skip */
    struct kstr member_id;
    struct kafka_join_group_member *members;
    int32_t member_count;
};

/* ---- Heartbeat (12) ---- */

struct kafka_heartbeat_req {
    struct kstr group_id;
    int32_t generation_id;
    struct kstr member_id;
    struct kstr group_instance_id; /* v3+, nullable, default null */
};

struct kafka_heartbeat_resp {
    int32_t throttle_time_ms; /* v1+ */
    int16_t error_code;
};

/* ---- LeaveGroup (13) ---- */

struct kafka_leave_group_member {
    struct kstr member_id;
    struct kstr group_instance_id; /* nullable */
    struct kstr reason;            /* v5+ (KIP-800), nullable, default null: why it leaves */
};

struct kafka_leave_group_req {
    struct kstr group_id;
    struct kstr member_id;                    /* v0-2 */
    struct kafka_leave_group_member *members; /* v3+ */
    int32_t member_count;
};

struct kafka_leave_group_member_resp {
    struct kstr member_id;
    struct kstr group_instance_id; /* nullable */
    int16_t error_code;
};

struct kafka_leave_group_resp {
    int32_t throttle_time_ms; /* v1+ */
    int16_t error_code;
    struct kafka_leave_group_member_resp *members; /* v3+ */
    int32_t member_count;
};

/* ---- SyncGroup (14) ---- */

struct kafka_sync_group_assignment {
    struct kstr member_id;
    struct kstr assignment; /* bytes */
};

struct kafka_sync_group_req {
    struct kstr group_id;
    int32_t generation_id;
    struct kstr member_id;
    struct kstr group_instance_id; /* v3+, nullable, default null */
    struct kstr protocol_type;     /* v5+, nullable, default null */
    struct kstr protocol_name;     /* v5+, nullable, default null */
    struct kafka_sync_group_assignment *assignments;
    int32_t assignment_count;
};

struct kafka_sync_group_resp {
    int32_t throttle_time_ms; /* v1+ */
    int16_t error_code;
    struct kstr protocol_type; /* v5+, nullable, default null */
    struct kstr protocol_name; /* v5+, nullable, default null */
    struct kstr assignment;    /* bytes */
};

/* ---- OffsetCommit (8) ---- */

struct kafka_offset_commit_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch; /* v6+, default -1 */
    int64_t commit_timestamp;       /* v1 only, default -1 */
    struct kstr committed_metadata; /* nullable */
};

struct kafka_offset_commit_topic {
    struct kstr name;
    struct kafka_offset_commit_partition *partitions;
    int32_t partition_count;
};

struct kafka_offset_commit_req {
    struct kstr group_id;
    int32_t generation_id_or_member_epoch; /* v1+, default -1 */
    struct kstr member_id;                 /* v1+ */
    struct kstr group_instance_id;         /* v7+, nullable, default null */
    int64_t retention_time_ms;             /* v2-4, default -1 */
    struct kafka_offset_commit_topic *topics;
    int32_t topic_count;
};

struct kafka_offset_commit_partition_resp {
    int32_t partition_index;
    int16_t error_code;
};

struct kafka_offset_commit_topic_resp {
    struct kstr name;
    struct kafka_offset_commit_partition_resp *partitions;
    int32_t partition_count;
};

struct kafka_offset_commit_resp {
    int32_t throttle_time_ms; /* v3+ */
    struct kafka_offset_commit_topic_resp *topics;
    int32_t topic_count;
};

/* ---- OffsetFetch (9): v0-7 name one group, v8 a batch of groups ---- */

struct kafka_offset_fetch_topic {
    struct kstr name;
    int32_t *partition_indexes;
    int32_t partition_index_count;
};

struct kafka_offset_fetch_group {
    struct kstr group_id;
    struct kstr member_id; /* v9+, nullable (KIP-848's consumer groups; classic groups ignore it) */
    int32_t member_epoch;  /* v9+, default -1 */
    struct kafka_offset_fetch_topic *topics; /* nullable: null fetches every topic */
    int32_t topic_count;
};

struct kafka_offset_fetch_req {
    struct kstr group_id;                    /* v0-7 */
    struct kafka_offset_fetch_topic *topics; /* v0-7, nullable v2-7 (null = all topics) */
    int32_t topic_count;
    struct kafka_offset_fetch_group *groups; /* v8+ */
    int32_t group_count;
    bool require_stable; /* v7+ */
};

struct kafka_offset_fetch_partition_resp {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch; /* v5+, default -1 */
    struct kstr metadata;           /* nullable */
    int16_t error_code;
};

struct kafka_offset_fetch_topic_resp {
    struct kstr name;
    struct kafka_offset_fetch_partition_resp *partitions;
    int32_t partition_count;
};

struct kafka_offset_fetch_group_resp {
    struct kstr group_id;
    struct kafka_offset_fetch_topic_resp *topics;
    int32_t topic_count;
    int16_t error_code;
};

struct kafka_offset_fetch_resp {
    int32_t throttle_time_ms;                     /* v3+ */
    struct kafka_offset_fetch_topic_resp *topics; /* v0-7 */
    int32_t topic_count;
    int16_t error_code;                           /* v2-7 */
    struct kafka_offset_fetch_group_resp *groups; /* v8+ */
    int32_t group_count;
};

/* ---- DescribeGroups (15) ---- */

struct kafka_describe_groups_req {
    struct kstr *groups;
    int32_t group_count;
    bool include_authorized_operations; /* v3+ */
};

struct kafka_describe_groups_member {
    struct kstr member_id;
    struct kstr group_instance_id; /* v4+, nullable, default null */
    struct kstr client_id;
    struct kstr client_host;
    struct kstr member_metadata;   /* bytes */
    struct kstr member_assignment; /* bytes */
};

struct kafka_describe_groups_group {
    int16_t error_code;
    struct kstr group_id;
    struct kstr group_state;
    struct kstr protocol_type;
    struct kstr protocol_data;
    struct kafka_describe_groups_member *members;
    int32_t member_count;
    int32_t authorized_operations; /* v3+, default INT32_MIN */
};

struct kafka_describe_groups_resp {
    int32_t throttle_time_ms; /* v1+ */
    struct kafka_describe_groups_group *groups;
    int32_t group_count;
};

/* ---- ListGroups (16) ---- */

struct kafka_list_groups_req {
    struct kstr *states_filter; /* v4+ */
    int32_t states_filter_count;
    struct kstr *types_filter; /* v5+ (KIP-848): "classic", "consumer", ... */
    int32_t types_filter_count;
};

struct kafka_list_groups_group {
    struct kstr group_id;
    struct kstr protocol_type;
    struct kstr group_state; /* v4+ */
    struct kstr group_type;  /* v5+ */
};

struct kafka_list_groups_resp {
    int32_t throttle_time_ms; /* v1+ */
    int16_t error_code;
    struct kafka_list_groups_group *groups;
    int32_t group_count;
};

/* ---- DeleteGroups (42) ---- */

struct kafka_delete_groups_req {
    struct kstr *groups_names;
    int32_t groups_names_count;
};

struct kafka_delete_groups_result {
    struct kstr group_id;
    int16_t error_code;
};

struct kafka_delete_groups_resp {
    int32_t throttle_time_ms;
    struct kafka_delete_groups_result *results;
    int32_t result_count;
};

/* ---- OffsetDelete (47) ---- */

struct kafka_offset_delete_partition {
    int32_t partition_index;
};

struct kafka_offset_delete_topic {
    struct kstr name;
    struct kafka_offset_delete_partition *partitions;
    int32_t partition_count;
};

struct kafka_offset_delete_req {
    struct kstr group_id;
    struct kafka_offset_delete_topic *topics;
    int32_t topic_count;
};

struct kafka_offset_delete_partition_resp {
    int32_t partition_index;
    int16_t error_code;
};

struct kafka_offset_delete_topic_resp {
    struct kstr name;
    struct kafka_offset_delete_partition_resp *partitions;
    int32_t partition_count;
};

struct kafka_offset_delete_resp {
    int16_t error_code;
    int32_t throttle_time_ms;
    struct kafka_offset_delete_topic_resp *topics;
    int32_t topic_count;
};

/* ---- codecs: decode a request, encode a request (client, tests), encode a response
 * (broker), decode a response (client, tests). Versions outside the ranges above are the
 * caller's to refuse first: a decoder given one returns SL_INVALID_ARG, an encoder asserts.
 * On an error the decoded struct is unspecified. ---- */

sl_err kafka_decode_find_coordinator(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_find_coordinator_req *out);
void kafka_encode_find_coordinator_req(struct kw *w, int16_t version,
                                       const struct kafka_find_coordinator_req *req);
void kafka_encode_find_coordinator_resp(struct kw *w, int16_t version,
                                        const struct kafka_find_coordinator_resp *resp);
sl_err kafka_decode_find_coordinator_resp(struct kr *r, int16_t version, struct karena *a,
                                          struct kafka_find_coordinator_resp *out);

sl_err kafka_decode_join_group(struct kr *r, int16_t version, struct karena *a,
                               struct kafka_join_group_req *out);
void kafka_encode_join_group_req(struct kw *w, int16_t version, const struct kafka_join_group_req *req);
void kafka_encode_join_group_resp(struct kw *w, int16_t version, const struct kafka_join_group_resp *resp);
sl_err kafka_decode_join_group_resp(struct kr *r, int16_t version, struct karena *a,
                                    struct kafka_join_group_resp *out);

sl_err kafka_decode_heartbeat(struct kr *r, int16_t version, struct karena *a,
                              struct kafka_heartbeat_req *out);
void kafka_encode_heartbeat_req(struct kw *w, int16_t version, const struct kafka_heartbeat_req *req);
void kafka_encode_heartbeat_resp(struct kw *w, int16_t version, const struct kafka_heartbeat_resp *resp);
sl_err kafka_decode_heartbeat_resp(struct kr *r, int16_t version, struct karena *a,
                                   struct kafka_heartbeat_resp *out);

sl_err kafka_decode_leave_group(struct kr *r, int16_t version, struct karena *a,
                                struct kafka_leave_group_req *out);
void kafka_encode_leave_group_req(struct kw *w, int16_t version, const struct kafka_leave_group_req *req);
void kafka_encode_leave_group_resp(struct kw *w, int16_t version, const struct kafka_leave_group_resp *resp);
sl_err kafka_decode_leave_group_resp(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_leave_group_resp *out);

sl_err kafka_decode_sync_group(struct kr *r, int16_t version, struct karena *a,
                               struct kafka_sync_group_req *out);
void kafka_encode_sync_group_req(struct kw *w, int16_t version, const struct kafka_sync_group_req *req);
void kafka_encode_sync_group_resp(struct kw *w, int16_t version, const struct kafka_sync_group_resp *resp);
sl_err kafka_decode_sync_group_resp(struct kr *r, int16_t version, struct karena *a,
                                    struct kafka_sync_group_resp *out);

sl_err kafka_decode_offset_commit(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_offset_commit_req *out);
void kafka_encode_offset_commit_req(struct kw *w, int16_t version, const struct kafka_offset_commit_req *req);
void kafka_encode_offset_commit_resp(struct kw *w, int16_t version,
                                     const struct kafka_offset_commit_resp *resp);
sl_err kafka_decode_offset_commit_resp(struct kr *r, int16_t version, struct karena *a,
                                       struct kafka_offset_commit_resp *out);

sl_err kafka_decode_offset_fetch(struct kr *r, int16_t version, struct karena *a,
                                 struct kafka_offset_fetch_req *out);
void kafka_encode_offset_fetch_req(struct kw *w, int16_t version, const struct kafka_offset_fetch_req *req);
void kafka_encode_offset_fetch_resp(struct kw *w, int16_t version,
                                    const struct kafka_offset_fetch_resp *resp);
sl_err kafka_decode_offset_fetch_resp(struct kr *r, int16_t version, struct karena *a,
                                      struct kafka_offset_fetch_resp *out);

sl_err kafka_decode_describe_groups(struct kr *r, int16_t version, struct karena *a,
                                    struct kafka_describe_groups_req *out);
void kafka_encode_describe_groups_req(struct kw *w, int16_t version,
                                      const struct kafka_describe_groups_req *req);
void kafka_encode_describe_groups_resp(struct kw *w, int16_t version,
                                       const struct kafka_describe_groups_resp *resp);
sl_err kafka_decode_describe_groups_resp(struct kr *r, int16_t version, struct karena *a,
                                         struct kafka_describe_groups_resp *out);

sl_err kafka_decode_list_groups(struct kr *r, int16_t version, struct karena *a,
                                struct kafka_list_groups_req *out);
void kafka_encode_list_groups_req(struct kw *w, int16_t version, const struct kafka_list_groups_req *req);
void kafka_encode_list_groups_resp(struct kw *w, int16_t version, const struct kafka_list_groups_resp *resp);
sl_err kafka_decode_list_groups_resp(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_list_groups_resp *out);

sl_err kafka_decode_delete_groups(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_delete_groups_req *out);
void kafka_encode_delete_groups_req(struct kw *w, int16_t version, const struct kafka_delete_groups_req *req);
void kafka_encode_delete_groups_resp(struct kw *w, int16_t version,
                                     const struct kafka_delete_groups_resp *resp);
sl_err kafka_decode_delete_groups_resp(struct kr *r, int16_t version, struct karena *a,
                                       struct kafka_delete_groups_resp *out);

sl_err kafka_decode_offset_delete(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_offset_delete_req *out);
void kafka_encode_offset_delete_req(struct kw *w, int16_t version, const struct kafka_offset_delete_req *req);
void kafka_encode_offset_delete_resp(struct kw *w, int16_t version,
                                     const struct kafka_offset_delete_resp *resp);
sl_err kafka_decode_offset_delete_resp(struct kr *r, int16_t version, struct karena *a,
                                       struct kafka_offset_delete_resp *out);

#endif
