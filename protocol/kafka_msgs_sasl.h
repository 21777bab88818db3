/* kafka_msgs_sasl.h: SASL and SCRAM credential bodies, in the order of Kafka's message specs
 * (clients/src/main/resources/common/message/<Api>Request.json and <Api>Response.json):
 *
 *   SaslHandshake (17) v0-1, never flexible      SaslAuthenticate (36) v0-2, flexible from 2
 *   DescribeUserScramCredentials (50) v0, flexible   AlterUserScramCredentials (51) v0, flexible
 *
 * SaslHandshake v0 and v1 have the same bytes: v0 means the SASL tokens that follow go raw
 * (int32 length + bytes, no Kafka header), v1 that they go inside SaslAuthenticate.
 * SaslAuthenticate v1 adds the response's SessionLifetimeMs (KIP-368).
 *
 * Also the pure text side of SCRAM (RFC 5802): parsing the client's two messages. The
 * cryptography is the broker's (OpenSSL); nothing here computes a proof.
 *
 * Conventions are those of kafka_msgs_admin.h: kstr fields point into the decoded buffer;
 * arrays are pointer + count in the caller's arena. */
#ifndef SL_KAFKA_MSGS_SASL_H
#define SL_KAFKA_MSGS_SASL_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* ScramMechanism codes of the credential APIs. */
enum kafka_scram_mechanism { KAFKA_SCRAM_UNKNOWN = 0, KAFKA_SCRAM_SHA_256 = 1, KAFKA_SCRAM_SHA_512 = 2 };

/* ---- SaslHandshake (17) ---- */

struct kafka_sasl_handshake_req {
    struct kstr mechanism;
};

struct kafka_sasl_handshake_resp {
    int16_t error_code;
    struct kstr *mechanisms;
    int32_t mechanism_count;
};

sl_err kafka_decode_sasl_handshake(struct kr *r, int16_t v, struct karena *a, struct kafka_sasl_handshake_req *out);
void kafka_encode_sasl_handshake_req(struct kw *w, int16_t v, const struct kafka_sasl_handshake_req *req);
void kafka_encode_sasl_handshake_resp(struct kw *w, int16_t v, const struct kafka_sasl_handshake_resp *resp);
sl_err kafka_decode_sasl_handshake_resp(struct kr *r, int16_t v, struct karena *a,
                                        struct kafka_sasl_handshake_resp *out);

/* ---- SaslAuthenticate (36) ---- */

struct kafka_sasl_authenticate_req {
    struct kstr auth_bytes;
};

struct kafka_sasl_authenticate_resp {
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kstr auth_bytes;
    int64_t session_lifetime_ms; /* v1+; 0: the session never expires */
};

sl_err kafka_decode_sasl_authenticate(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_sasl_authenticate_req *out);
void kafka_encode_sasl_authenticate_req(struct kw *w, int16_t v, const struct kafka_sasl_authenticate_req *req);
void kafka_encode_sasl_authenticate_resp(struct kw *w, int16_t v, const struct kafka_sasl_authenticate_resp *resp);
sl_err kafka_decode_sasl_authenticate_resp(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_sasl_authenticate_resp *out);

/* ---- DescribeUserScramCredentials (50) ---- */

struct kafka_describe_user_scram_credentials_req {
    struct kstr *users; /* Users[].Name; count -1: null, every user */
    int32_t user_count;
};

struct kafka_scram_credential_info {
    int8_t mechanism;
    int32_t iterations;
};

struct kafka_describe_user_scram_credentials_result {
    struct kstr user;
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_scram_credential_info *infos;
    int32_t info_count;
};

struct kafka_describe_user_scram_credentials_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    struct kstr error_message; /* nullable */
    struct kafka_describe_user_scram_credentials_result *results;
    int32_t result_count;
};

sl_err kafka_decode_describe_user_scram_credentials(struct kr *r, int16_t v, struct karena *a,
                                                    struct kafka_describe_user_scram_credentials_req *out);
void kafka_encode_describe_user_scram_credentials_req(struct kw *w, int16_t v,
                                                      const struct kafka_describe_user_scram_credentials_req *req);
void kafka_encode_describe_user_scram_credentials_resp(struct kw *w, int16_t v,
                                                       const struct kafka_describe_user_scram_credentials_resp *resp);
sl_err kafka_decode_describe_user_scram_credentials_resp(struct kr *r, int16_t v, struct karena *a,
                                                         struct kafka_describe_user_scram_credentials_resp *out);

/* ---- AlterUserScramCredentials (51) ---- */

struct kafka_scram_deletion {
    struct kstr name;
    int8_t mechanism;
};

struct kafka_scram_upsertion {
    struct kstr name;
    int8_t mechanism;
    int32_t iterations;
    struct kstr salt;
    struct kstr salted_password; /* Hi(password, salt, iterations), never the password */
};

struct kafka_alter_user_scram_credentials_req {
    struct kafka_scram_deletion *deletions;
    int32_t deletion_count;
    struct kafka_scram_upsertion *upsertions;
    int32_t upsertion_count;
};

struct kafka_alter_user_scram_credentials_result {
    struct kstr user;
    int16_t error_code;
    struct kstr error_message; /* nullable */
};

struct kafka_alter_user_scram_credentials_resp {
    int32_t throttle_time_ms;
    struct kafka_alter_user_scram_credentials_result *results;
    int32_t result_count;
};

sl_err kafka_decode_alter_user_scram_credentials(struct kr *r, int16_t v, struct karena *a,
                                                 struct kafka_alter_user_scram_credentials_req *out);
void kafka_encode_alter_user_scram_credentials_req(struct kw *w, int16_t v,
                                                   const struct kafka_alter_user_scram_credentials_req *req);
void kafka_encode_alter_user_scram_credentials_resp(struct kw *w, int16_t v,
                                                    const struct kafka_alter_user_scram_credentials_resp *resp);
sl_err kafka_decode_alter_user_scram_credentials_resp(struct kr *r, int16_t v, struct karena *a,
                                                      struct kafka_alter_user_scram_credentials_resp *out);

/* ---- SCRAM messages (RFC 5802 section 7) ----
 * client-first-message = gs2-header client-first-message-bare
 *   gs2-header = "n,," or "y,," (no channel binding; "p=" is refused: Kafka has none), an
 *   optional "a=authzid" between the commas (Kafka accepts it only equal to the user);
 *   bare = "n=" saslname ",r=" c-nonce ["," extensions]. saslname escapes ',' as "=2C" and
 *   '=' as "=3D"; the user is returned unescaped into out->user (NUL-terminated).
 * client-final-message = "c=" base64(gs2-header) ",r=" nonce ["," extensions] ",p=" base64(proof)
 *   The part before ",p=" is client-final-without-proof (for the AuthMessage).
 * Any other shape is SL_INVALID_ARG. Spans point into the input. */
#define SCRAM_USER_MAX 256

struct scram_client_first {
    char user[SCRAM_USER_MAX + 1];
    struct kstr authzid;     /* len -1: none */
    struct kstr bare;        /* client-first-message-bare */
    struct kstr nonce;       /* c-nonce */
    struct kstr gs2_header;  /* "n,," or "y,,", with any a= */
};

struct scram_client_final {
    struct kstr channel_binding; /* base64, as sent */
    struct kstr nonce;
    struct kstr without_proof;
    struct kstr proof; /* base64, as sent */
};

sl_err scram_parse_client_first(const char *p, int32_t len, struct scram_client_first *out);
sl_err scram_parse_client_final(const char *p, int32_t len, struct scram_client_final *out);

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd, each without NUL, authcid and passwd
 * non-empty. Spans point into the input. */
struct sasl_plain {
    struct kstr authzid, user, password;
};
sl_err sasl_parse_plain(const char *p, int32_t len, struct sasl_plain *out);

#endif
