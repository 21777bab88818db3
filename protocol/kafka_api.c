/* kafka_api.c: the API table, headers, ApiVersions and the shared readers (see kafka_api.h). */
#include "protocol/kafka_api.h"

#include "base/base.h"

/* X(enum suffix, name, min, max, flex_from): what Sluice advertises. flex_from matches the
 * flexibleVersions of each <Name>Request.json; INT16_MAX is "none". One list feeds both the
 * table and the key -> slot index, so the two cannot drift apart.
 *
 * Versions whose wire format is the one before (Kafka 3.9 advertises them): Produce 10-11 (the
 * response's CurrentLeader and NodeEndpoints are tagged fields, sent by Kafka only with
 * NOT_LEADER_OR_FOLLOWER, which a single node never answers; v11 only adds error codes of
 * transactions, KIP-890), FindCoordinator 5 and InitProducerId 5 (the same KIP-890 error
 * code), ApiVersions 4 (a fix of SupportedFeatures' MinVersion: Sluice sends no features).
 * LeaveGroup 5 adds each leaving member's Reason (KIP-800), which Kafka only logs. ListGroups 5
 * adds TypesFilter and GroupType (KIP-848): every Sluice group is "classic". Fetch 17 adds a
 * follower's ReplicaDirectoryId (a tagged field; consumers never send it). ListOffsets 8 and 9
 * add the timestamps -4 (earliest local) and -5 (latest tiered): nothing is tiered here, so -4
 * answers the log start and -5 offset -1, as Kafka answers a topic without remote storage.
 * OffsetCommit 9 is v8 for classic groups (KIP-848 starts there); OffsetFetch 9 adds each
 * group's MemberId and MemberEpoch (checked by Kafka only for KIP-848 groups). JoinGroup 8 adds
 * the member's Reason (logged), 9 the response's SkipAssignment (KIP-814), which Sluice never
 * sets. */
#define KAFKA_APIS(X)                                                 \
    X(PRODUCE, "Produce", 0, 11, 9)                                    \
    X(FETCH, "Fetch", 4, 17, 12)                                      \
    X(LIST_OFFSETS, "ListOffsets", 0, 9, 6)                           \
    X(METADATA, "Metadata", 0, 12, 9)                                 \
    X(OFFSET_COMMIT, "OffsetCommit", 0, 9, 8)                         \
    X(OFFSET_FETCH, "OffsetFetch", 0, 9, 6)                           \
    X(FIND_COORDINATOR, "FindCoordinator", 0, 5, 3)                   \
    X(JOIN_GROUP, "JoinGroup", 0, 9, 6)                               \
    X(HEARTBEAT, "Heartbeat", 0, 4, 4)                                \
    X(LEAVE_GROUP, "LeaveGroup", 0, 5, 4)                             \
    X(SYNC_GROUP, "SyncGroup", 0, 5, 4)                               \
    X(DESCRIBE_GROUPS, "DescribeGroups", 0, 5, 5)                     \
    X(LIST_GROUPS, "ListGroups", 0, 5, 3)                             \
    X(SASL_HANDSHAKE, "SaslHandshake", 0, 1, INT16_MAX)               \
    X(API_VERSIONS, "ApiVersions", 0, 4, 3)                           \
    X(CREATE_TOPICS, "CreateTopics", 0, 7, 5)                         \
    X(DELETE_TOPICS, "DeleteTopics", 0, 6, 4)                         \
    X(DELETE_RECORDS, "DeleteRecords", 0, 2, 2)                       \
    X(INIT_PRODUCER_ID, "InitProducerId", 0, 5, 2)                    \
    X(ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn", 0, 3, 3)           \
    X(ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn", 0, 3, 3)                 \
    X(END_TXN, "EndTxn", 0, 3, 3)                                     \
    X(WRITE_TXN_MARKERS, "WriteTxnMarkers", 0, 1, 1)                  \
    X(TXN_OFFSET_COMMIT, "TxnOffsetCommit", 0, 3, 3)                  \
    X(DESCRIBE_ACLS, "DescribeAcls", 0, 3, 2)                         \
    X(CREATE_ACLS, "CreateAcls", 0, 3, 2)                             \
    X(DELETE_ACLS, "DeleteAcls", 0, 3, 2)                             \
    X(DESCRIBE_CONFIGS, "DescribeConfigs", 0, 4, 4)                   \
    X(ALTER_CONFIGS, "AlterConfigs", 0, 2, 2)                         \
    X(SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, 2)                 \
    X(CREATE_PARTITIONS, "CreatePartitions", 0, 3, 2)                 \
    X(DELETE_GROUPS, "DeleteGroups", 0, 2, 2)                         \
    X(INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs", 0, 1, 1)  \
    X(OFFSET_DELETE, "OffsetDelete", 0, 0, INT16_MAX)                 \
    X(DESCRIBE_CLIENT_QUOTAS, "DescribeClientQuotas", 0, 1, 1)        \
    X(ALTER_CLIENT_QUOTAS, "AlterClientQuotas", 0, 1, 1)              \
    X(DESCRIBE_USER_SCRAM_CREDENTIALS, "DescribeUserScramCredentials", 0, 0, 0) \
    X(ALTER_USER_SCRAM_CREDENTIALS, "AlterUserScramCredentials", 0, 0, 0) \
    X(DESCRIBE_CLUSTER, "DescribeCluster", 0, 1, 0)                   \
    X(DESCRIBE_TRANSACTIONS, "DescribeTransactions", 0, 0, 0)         \
    X(LIST_TRANSACTIONS, "ListTransactions", 0, 1, 0)

#define KAFKA_API_SLOT_ENUM(id, name, lo, hi, flex) KAFKA_SLOT_##id,
enum { KAFKA_APIS(KAFKA_API_SLOT_ENUM) KAFKA_SLOT_COUNT };
#undef KAFKA_API_SLOT_ENUM

#define KAFKA_API_ROW(id, name, lo, hi, flex) {KAFKA_##id, name, lo, hi, flex},
static const struct kafka_api_info kafka_apis[KAFKA_SLOT_COUNT] = {KAFKA_APIS(KAFKA_API_ROW)};
#undef KAFKA_API_ROW

/* slot + 1 by key; 0 = not served. */
#define KAFKA_API_INDEX(id, name, lo, hi, flex) [KAFKA_##id] = KAFKA_SLOT_##id + 1,
static const uint8_t kafka_api_slots[KAFKA_API_KEY_MAX + 1] = {KAFKA_APIS(KAFKA_API_INDEX)};
#undef KAFKA_API_INDEX

const struct kafka_api_info *kafka_api_info(int16_t key) {
    if (key < 0 || key > KAFKA_API_KEY_MAX || !kafka_api_slots[key]) return NULL;
    return &kafka_apis[kafka_api_slots[key] - 1];
}

bool kafka_api_flexible(int16_t key, int16_t version) {
    const struct kafka_api_info *info = kafka_api_info(key);
    return info && version >= info->flex_from;
}

bool kafka_api_supported(int16_t key, int16_t version) {
    const struct kafka_api_info *info = kafka_api_info(key);
    return info && version >= info->min_version && version <= info->max_version;
}

uint32_t kafka_api_count(void) { return KAFKA_SLOT_COUNT; }

const struct kafka_api_info *kafka_api_at(uint32_t i) {
    return i < KAFKA_SLOT_COUNT ? &kafka_apis[i] : NULL;
}

/* --- shared readers ------------------------------------------------------------------------- */

static void kafka_fail(struct kr *r, sl_err e) {
    if (!r->err) r->err = e;
    r->p = r->end;
}

int32_t kafka_read_array(struct kr *r, bool flex, bool nullable, size_t elem_min_bytes) {
    int32_t n = kr_array(r, flex, KAFKA_ARRAY_MAX);
    if (r->err) return 0;
    if (n < 0 && !nullable) {
        kafka_fail(r, SL_CORRUPT);
        return 0;
    }
    /* n <= 2^24 and elem_min_bytes is a small constant: the product cannot overflow. */
    if (n > 0 && (size_t)n * elem_min_bytes > kr_left(r)) {
        kafka_fail(r, SL_UNDERFLOW);
        return 0;
    }
    return n;
}

struct kstr kafka_read_str(struct kr *r, bool flex, bool nullable) {
    struct kstr s = kr_str(r, flex);
    if (!r->err && s.len < 0 && !nullable) kafka_fail(r, SL_CORRUPT);
    return s;
}

void *kafka_alloc_array(struct karena *a, int32_t n, size_t elem_bytes) {
    if (n <= 0) return NULL;
    return karena_alloc(a, (size_t)n * elem_bytes);
}

/* --- headers -------------------------------------------------------------------------------- */

sl_err kafka_decode_req_header(struct kr *r, struct kafka_req_header *h) {
    h->api_key = kr_i16(r);        /* RequestApiKey */
    h->api_version = kr_i16(r);    /* RequestApiVersion */
    h->correlation_id = kr_i32(r); /* CorrelationId */
    /* ClientId: flexibleVersions "none", so int16 length even in header v2. */
    h->client_id = kr_str(r, false);
    if (kafka_api_flexible(h->api_key, h->api_version)) kr_tags(r, true);
    return r->err;
}

void kafka_encode_req_header(struct kw *w, const struct kafka_req_header *h) {
    kw_i16(w, h->api_key);
    kw_i16(w, h->api_version);
    kw_i32(w, h->correlation_id);
    kafka_write_str(w, false, h->client_id);
    if (kafka_api_flexible(h->api_key, h->api_version)) kw_tags(w, true);
}

/* ApiVersionsResponse.json: "Tagged fields are only supported in the body but not in the
 * header", so its header stays v0 even when the body is flexible. */
static bool kafka_resp_header_flexible(int16_t api_key, int16_t api_version) {
    return api_key != KAFKA_API_VERSIONS && kafka_api_flexible(api_key, api_version);
}

void kafka_encode_resp_header(struct kw *w, int16_t api_key, int16_t api_version,
                              int32_t correlation_id) {
    kw_i32(w, correlation_id);
    if (kafka_resp_header_flexible(api_key, api_version)) kw_tags(w, true);
}

sl_err kafka_decode_resp_header(struct kr *r, int16_t api_key, int16_t api_version,
                                int32_t *correlation_id) {
    *correlation_id = kr_i32(r);
    if (kafka_resp_header_flexible(api_key, api_version)) kr_tags(r, true);
    return r->err;
}

/* --- ApiVersions ---------------------------------------------------------------------------- */

sl_err kafka_decode_api_versions(struct kr *r, int16_t version,
                                 struct kafka_api_versions_req *out) {
    struct kstr none = {NULL, -1};
    out->client_software_name = out->client_software_version = none;
    if (!kafka_api_supported(KAFKA_API_VERSIONS, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_API_VERSIONS, version);
    if (version >= 3) {
        out->client_software_name = kafka_read_str(r, flex, false);    /* ClientSoftwareName */
        out->client_software_version = kafka_read_str(r, flex, false); /* ClientSoftwareVersion */
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_api_versions_req(struct kw *w, int16_t version,
                                   const struct kafka_api_versions_req *req) {
    SL_ASSERT(kafka_api_supported(KAFKA_API_VERSIONS, version));
    bool flex = kafka_api_flexible(KAFKA_API_VERSIONS, version);
    if (version >= 3) {
        kafka_write_str(w, flex, req->client_software_name);
        kafka_write_str(w, flex, req->client_software_version);
    }
    kw_tags(w, flex);
}

static bool kafka_is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool kafka_client_software_valid(struct kstr s) {
    if (!s.p || s.len < 1) return false;
    if (!kafka_is_alnum(s.p[0]) || !kafka_is_alnum(s.p[s.len - 1])) return false;
    for (int32_t i = 1; i < s.len - 1; i++)
        if (!kafka_is_alnum(s.p[i]) && s.p[i] != '-' && s.p[i] != '.') return false;
    return true;
}

int16_t kafka_api_versions_answer_version(int16_t request_version) {
    return kafka_api_supported(KAFKA_API_VERSIONS, request_version) ? request_version : 0;
}

void kafka_encode_api_versions_resp(struct kw *w, int16_t version, int16_t error_code,
                                    int32_t throttle_ms) {
    SL_ASSERT(kafka_api_supported(KAFKA_API_VERSIONS, version));
    bool flex = kafka_api_flexible(KAFKA_API_VERSIONS, version);
    kw_error(w, error_code); /* ErrorCode */
    kw_array(w, flex, KAFKA_SLOT_COUNT); /* ApiKeys */
    for (uint32_t i = 0; i < KAFKA_SLOT_COUNT; i++) {
        kw_i16(w, kafka_apis[i].key);         /* ApiKey */
        kw_i16(w, kafka_apis[i].min_version); /* MinVersion */
        kw_i16(w, kafka_apis[i].max_version); /* MaxVersion */
        kw_tags(w, flex);
    }
    if (version >= 1) kw_i32(w, throttle_ms); /* ThrottleTimeMs: v1+ */
    /* SupportedFeatures, FinalizedFeaturesEpoch, FinalizedFeatures, ZkMigrationReady are all
     * tagged (v3+): Sluice has no feature flags, so the section is empty. */
    kw_tags(w, flex);
}

sl_err kafka_decode_api_versions_resp(struct kr *r, int16_t version, struct karena *a,
                                      struct kafka_api_versions_resp *out) {
    out->api_key_count = 0;
    out->api_keys = NULL;
    out->throttle_time_ms = 0;
    if (!kafka_api_supported(KAFKA_API_VERSIONS, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_API_VERSIONS, version);
    out->error_code = kr_i16(r); /* ErrorCode */
    int32_t n = kafka_read_array(r, flex, false, 6); /* ApiKeys */
    out->api_keys = kafka_alloc_array(a, n, sizeof(*out->api_keys));
    for (int32_t i = 0; i < n && !r->err; i++) {
        out->api_keys[i].api_key = kr_i16(r);     /* ApiKey */
        out->api_keys[i].min_version = kr_i16(r); /* MinVersion */
        out->api_keys[i].max_version = kr_i16(r); /* MaxVersion */
        kr_tags(r, flex);
    }
    out->api_key_count = r->err ? 0 : n;
    if (version >= 1) out->throttle_time_ms = kr_i32(r); /* ThrottleTimeMs: v1+ */
    kr_tags(r, flex);
    return r->err;
}
