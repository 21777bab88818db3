/* kafka_sasl.h: SASL on the Kafka listener (kafka_sasl.c): the per-connection exchange
 * (SaslHandshake, SaslAuthenticate, or raw tokens after a v0 handshake), the mechanisms
 * PLAIN and SCRAM-SHA-256/512, the SCRAM credential store in the metadata log, and the
 * credential APIs (DescribeUserScramCredentials, AlterUserScramCredentials).
 *
 * Transport-neutral: it sees frames and answers frames, so SASL_SSL is this over TLS.
 *
 * Credentials: PLAIN users come from kafka_sasl_users_file ("user:password" or
 * "user:{PBKDF2-SHA512}iterations:salt-hex:hash-hex" lines), read at start and on SIGHUP.
 * SCRAM credentials live in the metadata log under "scram/<mechanism>/<user>": salt,
 * iterations, StoredKey and ServerKey (RFC 5802), never a password. */
#ifndef SL_BROKER_KAFKA_SASL_H
#define SL_BROKER_KAFKA_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

struct kconn;
struct kreq;
struct kr;
struct kafka_server;
struct kvlog;
struct prom;
struct karena;
struct kafka_alter_user_scram_credentials_req;
struct kafka_alter_user_scram_credentials_result;

enum kafka_sasl_mech { KSASL_PLAIN, KSASL_SCRAM_SHA_256, KSASL_SCRAM_SHA_512, KSASL_MECH_COUNT };

enum kafka_sasl_state {
    KSASL_OFF,            /* SASL is not configured: every request is served */
    KSASL_WAIT_HANDSHAKE, /* only ApiVersions and SaslHandshake */
    KSASL_WAIT_AUTH,      /* after a v1 handshake: SaslAuthenticate frames */
    KSASL_RAW,            /* after a v0 handshake: raw token frames, no Kafka header */
    KSASL_DONE,           /* authenticated */
};

struct kafka_sasl_scram; /* a SCRAM exchange in progress */

/* One connection's side. principal is "User:<name>" once authenticated (kept across a
 * re-authentication, which must name the same user, as Kafka requires). */
struct kafka_sasl_conn {
    uint8_t state;      /* enum kafka_sasl_state */
    uint8_t mech;       /* enum kafka_sasl_mech, of the exchange in progress */
    bool authenticated; /* stays true during a re-authentication */
    char principal[300];
    uint64_t expires_ms; /* loop_mono_ms; 0: never (kafka_sasl_session_lifetime_ms 0) */
    struct kafka_sasl_scram *scram;
};

/* Where a SCRAM credential change came from: the Kafka API or the monitoring port's admin route. */
enum kafka_scram_via { KAFKA_SCRAM_VIA_KAFKA, KAFKA_SCRAM_VIA_HTTP, KAFKA_SCRAM_VIA_COUNT };

struct kafka_sasl_stats {
    uint64_t ok[KSASL_MECH_COUNT], failed[KSASL_MECH_COUNT];
    uint64_t scram_changes[KAFKA_SCRAM_VIA_COUNT][2]; /* [via][0 stored, 1 deleted] */
};

/* The server's side: enabled mechanisms, PLAIN users, the credential store. */
struct kafka_sasl;

sl_err kafka_sasl_start(struct kafka_server *ks);
void kafka_sasl_stop(struct kafka_server *ks);
/* SIGHUP: reads the PLAIN users file again (a bad file keeps the old users). */
void kafka_sasl_reload(struct kafka_server *ks);
/* True if the listener requires SASL (kafka_sasl_mechanisms is not empty). */
bool kafka_sasl_enabled(const struct kafka_server *ks);
void kafka_sasl_conn_init(struct kafka_server *ks, struct kafka_sasl_conn *s);
void kafka_sasl_conn_free(struct kafka_sasl_conn *s);
/* May a request with this key be served on the connection now? false: close it (Kafka does). */
bool kafka_sasl_allows(struct kconn *kc, int16_t key, uint64_t now_ms);
/* A frame after a v0 handshake: a raw token. false: close the connection. */
bool kafka_sasl_raw_token(struct kconn *kc, const uint8_t *p, uint32_t len);
void kafka_sasl_metrics(struct kafka_server *ks, struct prom *p);

/* ---- the SCRAM credential store: one code path for the Kafka APIs and the admin routes ---- */

/* Kafka's ScramMechanism bounds on a stored credential's iterations. */
#define KAFKA_SCRAM_ITERATIONS_MIN 4096
#define KAFKA_SCRAM_ITERATIONS_MAX 16384

/* A stored credential, without its secrets. */
struct kafka_scram_entry {
    const char *user; /* not NUL-terminated; points into the store until its next change */
    int32_t user_len;
    int8_t mechanism; /* KAFKA_SCRAM_SHA_256 or KAFKA_SCRAM_SHA_512 (the wire's numbers) */
    int32_t iterations;
};
/* Every stored credential, in first-stored order; *out is malloc'd (free it). */
uint32_t kafka_scram_list(struct kafka_sasl *s, struct kafka_scram_entry **out);
/* Applies an AlterUserScramCredentials request as Kafka does: a user with a problem (the same
 * credential twice, an unknown mechanism, iterations outside 4096-16384, an empty or too long
 * name, a salt or salted password of the wrong size, deleting what does not exist) has nothing
 * applied and gets Kafka's error; the others' changes go in one batch, durable before this
 * returns. denied: every user gets CLUSTER_AUTHORIZATION_FAILED. At most 1024 alterations.
 * *out: one result per user, first-named order, allocated in a; returns their count. Logs each
 * change (names only) with via and peer, and counts it for /metrics. */
int32_t kafka_scram_alter(struct kafka_sasl *s, const struct kafka_alter_user_scram_credentials_req *req, bool denied,
                          struct karena *a, uint64_t now_ms, enum kafka_scram_via via, const char *peer,
                          struct kafka_alter_user_scram_credentials_result **out);
/* Hi(password, salt, iterations) with the mechanism's digest (PBKDF2, RFC 5802), what an
 * upsertion carries: out holds 64 bytes, *out_len is set. false on an unknown mechanism. */
bool kafka_scram_salted_password(int8_t mechanism, const char *password, size_t password_len, const uint8_t *salt,
                                 uint32_t salt_len, int32_t iterations, uint8_t *out, uint32_t *out_len);
/* "SCRAM-SHA-256" / "SCRAM-SHA-512" for the wire's mechanism numbers, else NULL; and back
 * (KAFKA_SCRAM_UNKNOWN, 0, for another name). */
const char *kafka_scram_mechanism_name(int8_t mechanism);
int8_t kafka_scram_mechanism_parse(const char *name);

sl_err kafka_handle_sasl_handshake(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_sasl_authenticate(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_describe_user_scram_credentials(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_alter_user_scram_credentials(struct kconn *kc, struct kreq *q, struct kr *r);

#endif
