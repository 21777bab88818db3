/* admin_users.c: the monitoring port's admin routes for SCRAM credentials, in Redpanda's shape
 * (what `rpk acl user` drives), on the Kafka wing's credential store (kafka_scram_list and
 * kafka_scram_alter: the same checks, records and durability as AlterUserScramCredentials).
 *
 *   GET    /v1/security/users              [{"username","mechanisms":[{"algorithm","iterations"}]}]
 *   POST   /v1/security/users              {"username","password","algorithm"[,"iterations"]}:
 *                                          stores (creates or replaces) that mechanism's credential
 *   DELETE /v1/security/users/<name>       every mechanism of the user; ?algorithm=X just that one
 *
 * The password is salted (32 random bytes) and hashed here (PBKDF2 with the mechanism's digest,
 * RFC 5802's Hi) into exactly the upsertion a Kafka client would send, then dropped: it is never
 * stored, logged or answered. Access is the HTTP wing's admin rule (the token, or mTLS). */
#include "broker/admin_users.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/http/http_json.h"
#include "broker/http/http_server.h"
#include "protocol/karena.h"
#include "protocol/kafka_msgs_sasl.h"

#define ADMIN_SALT_BYTES 32
#define ADMIN_PASSWORD_MAX 1024
#define ADMIN_ITERATIONS_DEFAULT 4096


/* The HTTP status of a Kafka error code a credential change got. */
static int admin_status(int16_t code) {
    switch (code) {
    case 0: return 200;
    case 91: return 404; /* RESOURCE_NOT_FOUND */
    case 31: return 403; /* CLUSTER_AUTHORIZATION_FAILED */
    case 33:             /* UNSUPPORTED_SASL_MECHANISM */
    case 92:             /* DUPLICATE_RESOURCE */
    case 93: return 400; /* UNACCEPTABLE_CREDENTIAL */
    default: return 500;
    }
}

static json_t *admin_name(const char *p, int32_t len) {
    json_t *j = json_stringn(p, (size_t)len);
    return j ? j : json_string("\xef\xbf\xbd"); /* a name that is not UTF-8 (only the Kafka API can make one) */
}

static void users_list(struct kafka_sasl *s, struct http_response *rs) {
    struct kafka_scram_entry *e;
    uint32_t n = kafka_scram_list(s, &e);
    json_t *arr = json_array();
    for (uint32_t i = 0; i < n; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = e[j].user_len == e[i].user_len && !memcmp(e[j].user, e[i].user, (size_t)e[i].user_len);
        if (seen) continue;
        json_t *mechs = json_array();
        for (uint32_t j = i; j < n; j++)
            if (e[j].user_len == e[i].user_len && !memcmp(e[j].user, e[i].user, (size_t)e[i].user_len))
                json_array_append_new(mechs, json_pack("{s:s,s:i}", "algorithm", kafka_scram_mechanism_name(e[j].mechanism),
                                                       "iterations", (json_int_t)e[j].iterations));
        json_array_append_new(arr, json_pack("{s:o,s:o}", "username", admin_name(e[i].user, e[i].user_len), "mechanisms", mechs));
    }
    free(e);
    http_response_json(rs, 200, arr);
}

/* True if user has a credential of the mechanism (0: of any). */
static bool users_has(struct kafka_sasl *s, const char *user, size_t len, int8_t mechanism) {
    struct kafka_scram_entry *e;
    uint32_t n = kafka_scram_list(s, &e);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++)
        found = (size_t)e[i].user_len == len && !memcmp(e[i].user, user, len) &&
                (!mechanism || e[i].mechanism == mechanism);
    free(e);
    return found;
}

/* Runs one AlterUserScramCredentials request through the store and answers its one result. */
static void users_alter(struct broker *b, const struct http_request *rq, struct http_response *rs,
                        const struct kafka_alter_user_scram_credentials_req *req, struct karena *a, json_t *ok) {
    struct kafka_alter_user_scram_credentials_result *res;
    int32_t n = kafka_scram_alter(b->kafka.sasl, req, false, a, loop_now_ms(&b->loop), KAFKA_SCRAM_VIA_HTTP, rq->peer, &res);
    SL_ASSERT(n == 1);
    if (res[0].error_code) {
        json_decref(ok);
        char msg[256];
        snprintf(msg, sizeof(msg), "%.*s", res[0].error_message.len > 0 ? (int)res[0].error_message.len : 0,
                 res[0].error_message.p ? res[0].error_message.p : "");
        http_response_json(rs, admin_status(res[0].error_code),
                      json_pack("{s:s,s:i}", "error", msg, "kafka_error_code", (json_int_t)res[0].error_code));
        return;
    }
    http_response_json(rs, 200, ok);
}

static void users_create(struct broker *b, const struct http_request *rq, struct http_response *rs) {
    static const char *const fields[] = {"username", "password", "algorithm", "iterations", NULL};
    json_t *o = http_request_json(rq, rs, fields, false);
    if (!o) return;
    json_t *ju = json_object_get(o, "username"), *jp = json_object_get(o, "password"),
           *ja = json_object_get(o, "algorithm"), *ji = json_object_get(o, "iterations");
    const char *bad = NULL;
    int8_t mech = ja && json_is_string(ja) ? kafka_scram_mechanism_parse(json_string_value(ja)) : KAFKA_SCRAM_UNKNOWN;
    json_int_t it = ji ? (json_is_integer(ji) ? json_integer_value(ji) : -1) : ADMIN_ITERATIONS_DEFAULT;
    if (!ju || !json_is_string(ju) || strlen(json_string_value(ju)) != json_string_length(ju))
        bad = "username must be a string (without NUL)";
    else if (!jp || !json_is_string(jp) || !json_string_length(jp) || strlen(json_string_value(jp)) != json_string_length(jp))
        bad = "password must be a non-empty string (without NUL)";
    else if (json_string_length(jp) > ADMIN_PASSWORD_MAX) bad = "password longer than 1024 bytes";
    else if (mech == KAFKA_SCRAM_UNKNOWN) bad = "algorithm must be SCRAM-SHA-256 or SCRAM-SHA-512";
    /* Checked before hashing, not only by the store: PBKDF2 runs on the loop, so its cost is bounded. */
    else if (it < KAFKA_SCRAM_ITERATIONS_MIN) bad = "Too few iterations (4096 to 16384)";
    else if (it > KAFKA_SCRAM_ITERATIONS_MAX) bad = "Too many iterations (4096 to 16384)";
    if (bad) {
        json_decref(o);
        http_response_error(rs, 400, bad);
        return;
    }
    const char *user = json_string_value(ju);
    size_t ulen = json_string_length(ju);
    uint8_t salt[ADMIN_SALT_BYTES], salted[64];
    uint32_t salted_len = 0;
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        !kafka_scram_salted_password(mech, json_string_value(jp), json_string_length(jp), salt, sizeof(salt),
                                     (int32_t)it, salted, &salted_len)) {
        json_decref(o);
        http_response_error(rs, 500, "cannot salt the password");
        return;
    }
    bool existed = ulen <= SCRAM_USER_MAX && users_has(b->kafka.sasl, user, ulen, mech);
    struct kafka_scram_upsertion up = {{user, (int32_t)SL_MIN(ulen, (size_t)INT32_MAX)}, mech, (int32_t)it,
                                       {(const char *)salt, sizeof(salt)}, {(const char *)salted, (int32_t)salted_len}};
    struct kafka_alter_user_scram_credentials_req req = {NULL, 0, &up, 1};
    struct karena a;
    karena_init(&a, 4096);
    json_t *ok = json_pack("{s:s%,s:s,s:i,s:b}", "username", user, ulen, "algorithm", kafka_scram_mechanism_name(mech),
                           "iterations", it, "created", !existed);
    users_alter(b, rq, rs, &req, &a, ok);
    karena_free(&a);
    OPENSSL_cleanse(salted, sizeof(salted));
    /* jansson keeps its copy of the password until o goes: wipe it first. */
    OPENSSL_cleanse((char *)json_string_value(jp), json_string_length(jp));
    json_decref(o);
}

static void users_delete(struct broker *b, const struct http_request *rq, struct http_response *rs) {
    char user[SCRAM_USER_MAX + 1], alg[32];
    if (!http_path_decode(rq->rest, strlen(rq->rest), user, sizeof(user))) {
        http_response_error(rs, 400, "the user name in the path is malformed, holds a NUL or is longer than 256 bytes");
        return;
    }
    int8_t only = KAFKA_SCRAM_UNKNOWN;
    if (http_query_get(rq->query, "algorithm", alg, sizeof(alg)) &&
        (only = kafka_scram_mechanism_parse(alg)) == KAFKA_SCRAM_UNKNOWN) {
        http_response_error(rs, 400, "algorithm must be SCRAM-SHA-256 or SCRAM-SHA-512");
        return;
    }
    size_t ulen = strlen(user);
    struct kafka_scram_deletion dels[2];
    int32_t nd = 0;
    json_t *names = json_array();
    for (int8_t m = KAFKA_SCRAM_SHA_256; m <= KAFKA_SCRAM_SHA_512; m++) {
        /* One mechanism asked for goes to the store as it is, so a missing one gets Kafka's
         * RESOURCE_NOT_FOUND; for "every mechanism" only the stored ones are named. */
        if (only ? m != only : !users_has(b->kafka.sasl, user, ulen, m)) continue;
        dels[nd++] = (struct kafka_scram_deletion){{user, (int32_t)ulen}, m};
        json_array_append_new(names, json_string(kafka_scram_mechanism_name(m)));
    }
    if (!nd) {
        json_decref(names);
        http_response_error(rs, 404, "the user has no SCRAM credential");
        return;
    }
    struct kafka_alter_user_scram_credentials_req req = {dels, nd, NULL, 0};
    struct karena a;
    karena_init(&a, 4096);
    users_alter(b, rq, rs, &req, &a, json_pack("{s:o,s:o}", "username", admin_name(user, (int32_t)ulen), "deleted", names));
    karena_free(&a);
}

static void route_users(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    if (!b->kafka_running || !b->kafka.sasl) {
        http_response_error(rs, 503, "the Kafka listener and its credential store are not running");
        return;
    }
    if (rq->method == HTTP_M_GET) users_list(b->kafka.sasl, rs);
    else users_create(b, rq, rs);
}

static void route_user(void *arg, const struct http_request *rq, struct http_response *rs) {
    struct broker *b = arg;
    if (!b->kafka_running || !b->kafka.sasl) {
        http_response_error(rs, 503, "the Kafka listener and its credential store are not running");
        return;
    }
    users_delete(b, rq, rs);
}

void admin_users_register(struct broker *b) {
    http_server_route_admin(&b->http, "/v1/security/users", HTTP_M_GET | HTTP_M_POST, false, route_users, b);
    http_server_route_admin(&b->http, "/v1/security/users", HTTP_M_DELETE, true, route_user, b);
}
