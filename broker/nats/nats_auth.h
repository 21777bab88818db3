/* nats_auth.h: NATS client authentication and per-user permissions as nats-server 2.9.10 does
 * them, from its "authorization { users = [...] }" config:
 *
 *   - users with a password: plain, or a bcrypt hash ("$2a$", "$2b$", "$2x$", "$2y$") checked by
 *     libxcrypt's crypt_r (Debian libcrypt), never by code of ours;
 *   - nkey users: the server puts a nonce in INFO, the client signs it with its ed25519 seed and
 *     CONNECT carries "nkey" (the public key, base32 with a prefix byte and a CRC16) and "sig"
 *     (base64url, or standard base64 as nats-server also accepts); OpenSSL's EVP verifies;
 *   - permissions per user (or default_permissions): publish and subscribe, each a list of
 *     allowed subjects or a map {allow: [...], deny: [...]}; wildcards '*' and '>' in the
 *     patterns; deny wins; an empty allow list allows everything (nats-server sets no allow list then). A subscribe entry
 *     "subject queue" (a space) applies to queue subscriptions in a matching queue group only.
 *     allow_responses (true, or {max, expires}) lets a user answer the requests delivered to it
 *     (nats_replies.h).
 *
 * The single user/pass and auth_token settings keep working beside this (sl_config fields);
 * nats-server refuses a users list together with them, and so do we.
 *
 * Pure parts, for unit tests: nats_subject_matches, nats_perms_*_ok, nats_nkey_decode. */
#ifndef SL_BROKER_NATS_AUTH_H
#define SL_BROKER_NATS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/config.h"
#include "broker/nats/nats_replies.h"
#include "protocol/nats_conf.h"

#define NATS_NKEY_LEN 56          /* base32 text of a public key */
#define NATS_NONCE_RAW 11         /* random bytes behind a nonce, as nats-server */
#define NATS_NONCE_LEN 15         /* their base64url text, no padding */
#define NATS_NKEY_PREFIX_USER (20u << 3) /* 'U' */

struct nats_subject_list {
    char **subjects;              /* patterns; wildcards allowed */
    char **queues;                /* per pattern: a queue group pattern, or NULL */
    uint32_t count;
};

struct nats_perms {
    struct nats_subject_list pub_allow, pub_deny, sub_allow, sub_deny;
    /* allow_responses (nats_replies.h). With it and no publish allow list, nothing may be
     * published but replies, as nats-server turns the missing list into an empty one. */
    bool has_resp;
    bool pub_none;
    struct nats_resp_perm resp;
};

struct nats_user {
    char *name;                   /* NULL for an nkey user */
    char *password;               /* plain text or a bcrypt hash */
    char nkey[NATS_NKEY_LEN + 1]; /* "" unless an nkey user */
    uint8_t nkey_raw[32];
    const struct nats_perms *perms; /* NULL: everything allowed */
    struct nats_perms own_perms;
    bool has_own_perms;
    /* allowed_connection_types named and STANDARD not among them: this user may connect only
     * as kinds of client Sluice does not serve (websocket, leafnode, MQTT), so never here. */
    bool standard_refused;
};

struct nats_auth {
    struct nats_user *users;
    uint32_t user_count;
    uint32_t nkey_count;          /* > 0: INFO carries a nonce */
    struct nats_perms default_perms;
    bool has_default_perms;
};

/* What a CONNECT carried (NULL: absent). */
struct nats_creds {
    const char *user, *pass, *token, *nkey, *sig;
};

/* Builds the users of an authorization block (its "users" and "default_permissions" keys;
 * other keys are config.c's). *out is NULL when the block has no users. -1 with *err_line and
 * "users[2].permissions.publish: ..." in err on a bad entry. */
int nats_auth_from_conf(const struct nats_conf_node *authorization, struct nats_auth **out, uint32_t *err_line,
                        char *err, size_t err_len);
void nats_auth_free(struct nats_auth *a);

bool nats_auth_required(const struct sl_config *cfg);
bool nats_auth_nonce_required(const struct sl_config *cfg);

/* A bcrypt comparison already made: given (the connection's password) against hash. */
struct nats_bcrypt_verdict {
    char hash[64]; /* "" when none; a bcrypt hash is 60 characters */
    bool ok;
};

/* The bcrypt hash a check of c against cfg would compare with (NULL: none; the check is then
 * fast). nats-server runs that comparison in a goroutine; the broker runs it on a worker
 * thread (nats_auth_password_ok) and then checks with its verdict. */
const char *nats_auth_slow_hash(const struct sl_config *cfg, const struct nats_creds *c);
/* given against want, a bcrypt hash or a plain password; thread-safe (crypt_r). */
bool nats_auth_password_ok(const char *want, const char *given);

/* Checks creds against cfg's users, or its single user/pass or token. nonce is what this
 * connection's INFO said ("" if none). known (may be NULL) is a bcrypt verdict to use if the
 * check comes to that hash; otherwise bcrypt runs here and takes tens of milliseconds. *user:
 * the matched user (NULL for the single user or token, which have every permission). */
bool nats_auth_check(const struct sl_config *cfg, const struct nats_creds *c, const char *nonce,
                     const struct nats_bcrypt_verdict *known, const struct nats_user **user);

/* The nonce text for raw random bytes: base64url without padding. */
void nats_auth_nonce(const uint8_t raw[NATS_NONCE_RAW], char out[NATS_NONCE_LEN + 1]);

/* pattern (wildcards '*' a token, '>' the rest) matches subject, whose tokens are taken
 * literally, as nats-server matches a subscription's subject against a permission. */
bool nats_subject_matches(const char *pattern, size_t plen, const char *subject, size_t slen);
bool nats_perms_pub_ok(const struct nats_perms *p, const char *subject, size_t len);
/* queue: NULL or "" for a plain subscription. */
bool nats_perms_sub_ok(const struct nats_perms *p, const char *subject, size_t len, const char *queue, size_t qlen);

/* A message on subject may reach a subscription of a user with p: a wildcard subscription that
 * was allowed still does not receive subjects the subscribe deny list names (nats-server). */
bool nats_perms_deliver_ok(const struct nats_perms *p, const char *subject, size_t len);

/* Decodes a public nkey: 56 base32 characters of prefix byte, 32-byte key, CRC16 (XMODEM,
 * little-endian). 0, or -1 if the text, its CRC or its prefix (want_prefix) is wrong. */
int nats_nkey_decode(const char *text, size_t len, uint8_t want_prefix, uint8_t key[32]);

#endif
