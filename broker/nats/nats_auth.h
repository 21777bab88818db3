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
 * The users and their permissions, as the config reads them, are broker/nats_users.h's.
 * Pure parts, for unit tests: nats_subject_matches, nats_perms_*_ok. */
#ifndef SL_BROKER_NATS_AUTH_H
#define SL_BROKER_NATS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/config.h"
#include "broker/nats/nats_replies.h"
#include "broker/nats_users.h"
#include "protocol/nats_conf.h"

#define NATS_NONCE_RAW 11         /* random bytes behind a nonce, as nats-server */
#define NATS_NONCE_LEN 15         /* their base64url text, no padding */


/* What a CONNECT carried (NULL: absent). */
struct nats_creds {
    const char *user, *pass, *token, *nkey, *sig;
};


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


#endif
