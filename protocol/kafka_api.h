/* kafka_api.h: the table of Kafka APIs Sluice serves (key, version range, first flexible
 * version), which drives dispatch, header versions and the ApiVersions response; the request
 * and response headers; ApiVersions itself; and the small array/string readers every Kafka
 * message decoder shares. Versions follow Kafka's message JSON specs
 * (clients/src/main/resources/common/message/<Name>Request.json); the ranges are what
 * kafka-subset.md section 1 says to advertise. Pure: no I/O, no clock; decoded arrays
 * live in the caller's arena and strings point into the request. */
#ifndef SL_KAFKA_API_H
#define SL_KAFKA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

enum kafka_api_key {
    KAFKA_PRODUCE = 0,
    KAFKA_FETCH = 1,
    KAFKA_LIST_OFFSETS = 2,
    KAFKA_METADATA = 3,
    KAFKA_OFFSET_COMMIT = 8,
    KAFKA_OFFSET_FETCH = 9,
    KAFKA_FIND_COORDINATOR = 10,
    KAFKA_JOIN_GROUP = 11,
    KAFKA_HEARTBEAT = 12,
    KAFKA_LEAVE_GROUP = 13,
    KAFKA_SYNC_GROUP = 14,
    KAFKA_DESCRIBE_GROUPS = 15,
    KAFKA_LIST_GROUPS = 16,
    KAFKA_SASL_HANDSHAKE = 17,
    KAFKA_API_VERSIONS = 18,
    KAFKA_CREATE_TOPICS = 19,
    KAFKA_DELETE_TOPICS = 20,
    KAFKA_DELETE_RECORDS = 21,
    KAFKA_INIT_PRODUCER_ID = 22,
    KAFKA_ADD_PARTITIONS_TO_TXN = 24,
    KAFKA_ADD_OFFSETS_TO_TXN = 25,
    KAFKA_END_TXN = 26,
    KAFKA_WRITE_TXN_MARKERS = 27,
    KAFKA_TXN_OFFSET_COMMIT = 28,
    KAFKA_DESCRIBE_ACLS = 29,
    KAFKA_CREATE_ACLS = 30,
    KAFKA_DELETE_ACLS = 31,
    KAFKA_DESCRIBE_CONFIGS = 32,
    KAFKA_ALTER_CONFIGS = 33,
    KAFKA_SASL_AUTHENTICATE = 36,
    KAFKA_CREATE_PARTITIONS = 37,
    KAFKA_DELETE_GROUPS = 42,
    KAFKA_INCREMENTAL_ALTER_CONFIGS = 44,
    KAFKA_OFFSET_DELETE = 47,
    KAFKA_DESCRIBE_CLIENT_QUOTAS = 48,
    KAFKA_ALTER_CLIENT_QUOTAS = 49,
    KAFKA_DESCRIBE_USER_SCRAM_CREDENTIALS = 50,
    KAFKA_ALTER_USER_SCRAM_CREDENTIALS = 51,
    KAFKA_DESCRIBE_CLUSTER = 60,
    KAFKA_DESCRIBE_TRANSACTIONS = 65,
    KAFKA_LIST_TRANSACTIONS = 66,
    KAFKA_API_KEY_MAX = 70
};

struct kafka_api_info {
    int16_t key;
    const char *name;
    int16_t min_version, max_version;
    int16_t flex_from; /* first flexible version, or INT16_MAX if never */
};

/* NULL if Sluice does not serve this key. */
const struct kafka_api_info *kafka_api_info(int16_t key);
/* version >= flex_from of a served key, whether or not the version is in range: Kafka picks
 * header versions that way too (ApiVersions v4 has a v2 request header). */
bool kafka_api_flexible(int16_t key, int16_t version);
/* A served key and min_version <= version <= max_version. */
bool kafka_api_supported(int16_t key, int16_t version);
/* The served APIs in key order, for the ApiVersions response. */
uint32_t kafka_api_count(void);
const struct kafka_api_info *kafka_api_at(uint32_t i);

/* --- headers ---------------------------------------------------------------------------- */

struct kafka_req_header {
    int16_t api_key, api_version;
    int32_t correlation_id;
    struct kstr client_id; /* len -1: null */
};

/* Request header v1, or v2 (v1 + tagged fields) when the key is served and the version is
 * flexible. ClientId is an int16-length nullable string in both. An unknown key or version is
 * not an error here: dispatch decides (Kafka closes the connection). */
sl_err kafka_decode_req_header(struct kr *r, struct kafka_req_header *h);
void kafka_encode_req_header(struct kw *w, const struct kafka_req_header *h);

/* Response header v0 (correlation id), or v1 (+ empty tagged fields) when the response is
 * flexible, except ApiVersions, whose response header is v0 at every version: clients parse
 * its body right after the correlation id. */
void kafka_encode_resp_header(struct kw *w, int16_t api_key, int16_t api_version,
                              int32_t correlation_id);
sl_err kafka_decode_resp_header(struct kr *r, int16_t api_key, int16_t api_version,
                                int32_t *correlation_id);

/* --- ApiVersions (key 18) ------------------------------------------------------------------ */

struct kafka_api_versions_req {
    struct kstr client_software_name;    /* ClientSoftwareName: v3+ */
    struct kstr client_software_version; /* ClientSoftwareVersion: v3+ */
};

struct kafka_api_versions_key {
    int16_t api_key, min_version, max_version;
};

struct kafka_api_versions_resp {
    int16_t error_code;
    int32_t api_key_count;
    struct kafka_api_versions_key *api_keys;
    int32_t throttle_time_ms; /* v1+ */
    /* v3+ tagged fields (SupportedFeatures, FinalizedFeatures...) are written empty and
     * skipped when read. */
};

/* SL_INVALID_ARG for a version outside 0-3: answer it as kafka_api_versions_answer_version
 * says, without decoding the body. */
sl_err kafka_decode_api_versions(struct kr *r, int16_t version, struct kafka_api_versions_req *out);
void kafka_encode_api_versions_req(struct kw *w, int16_t version,
                                   const struct kafka_api_versions_req *req);
/* ClientSoftwareName/Version as Kafka accepts them: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
 * (Kafka answers INVALID_REQUEST, 42, otherwise; librdkafka then falls back to v0). */
bool kafka_client_software_valid(struct kstr s);
/* The version to answer an ApiVersions request of this version with: itself if served, else 0
 * with error SL_UNSUPPORTED_VERSION, 35 (Kafka's RequestContext does the same, and
 * librdkafka and kafkajs retry lower after reading the v0 body). */
int16_t kafka_api_versions_answer_version(int16_t request_version);
/* The whole response body (no header) listing every API of the table. */
void kafka_encode_api_versions_resp(struct kw *w, int16_t version, int16_t error_code,
                                    int32_t throttle_ms);
sl_err kafka_decode_api_versions_resp(struct kr *r, int16_t version, struct karena *a,
                                      struct kafka_api_versions_resp *out);

/* --- shared by the message decoders --------------------------------------------------------- */

/* Cap on any array count, far beyond what a client sends, below what could overflow a size. */
#define KAFKA_ARRAY_MAX (1 << 24)

/* An array count (-1: null). Beyond kr_array's checks, refuses a count whose elements could not
 * fit in what is left at elem_min_bytes each (SL_UNDERFLOW), so an arena allocation stays within
 * a small multiple of the request's size, and null when !nullable (SL_CORRUPT). */
int32_t kafka_read_array(struct kr *r, bool flex, bool nullable, size_t elem_min_bytes);
/* A string; null when !nullable sets SL_CORRUPT, so handlers may trust len >= 0. */
struct kstr kafka_read_str(struct kr *r, bool flex, bool nullable);
/* Arena array of n elements; NULL for n <= 0 (empty or null arrays cost nothing). */
void *kafka_alloc_array(struct karena *a, int32_t n, size_t elem_bytes);
/* A C string as a kstr (NULL gives null); for filling responses. */
static inline struct kstr kafka_kstr(const char *s) {
    struct kstr k = {s, s ? (int32_t)__builtin_strlen(s) : -1};
    return k;
}
static inline void kafka_write_str(struct kw *w, bool flex, struct kstr s) {
    kw_str(w, flex, s.p, s.len);
}

#endif
