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
#include <stdint.h>

#include "protocol/errors.h"

struct kconn;
struct kreq;
struct kr;
struct kafka_server;
struct kvlog;
struct prom;

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

struct kafka_sasl_stats {
    uint64_t ok[KSASL_MECH_COUNT], failed[KSASL_MECH_COUNT];
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

sl_err kafka_handle_sasl_handshake(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_sasl_authenticate(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_describe_user_scram_credentials(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_alter_user_scram_credentials(struct kconn *kc, struct kreq *q, struct kr *r);

#endif
