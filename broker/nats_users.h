/* nats_users.h: the users of nats-server's "authorization { users = [...] }" block, as the
 * config reads them (broker/config.c, at load and at a reload) and the NATS wing checks them
 * (broker/nats/nats_auth.h: passwords, nkey signatures, permissions): each user's name and
 * password or nkey, its publish and subscribe permissions (allow and deny lists, queue
 * groups, allow_responses) and the default permissions. Here, below both, so the config does
 * not reach up into the wing: the reading is pure (no I/O; libcrypt only judges a bcrypt
 * hash's form). */
#ifndef SL_BROKER_NATS_USERS_H
#define SL_BROKER_NATS_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/nats_conf.h"

#define NATS_NKEY_LEN 56          /* base32 text of a public key */
#define NATS_NKEY_PREFIX_USER (20u << 3) /* 'U' */

#define NATS_RESP_DEFAULT_MAX 1
#define NATS_RESP_DEFAULT_EXPIRES_MS (2u * 60u * 1000u)

/* allow_responses: how many replies a user may send to a request delivered to it, and for how
 * long (broker/nats/nats_replies.h keeps them). */
struct nats_resp_perm {
    int64_t max;        /* < 0: no limit */
    int64_t expires_ms; /* < 0: no limit */
};

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

/* Builds the users of an authorization block (its "users" and "default_permissions" keys;
 * other keys are config.c's). *out is NULL when the block has no users. -1 with *err_line and
 * "users[2].permissions.publish: ..." in err on a bad entry. */
int nats_auth_from_conf(const struct nats_conf_node *authorization, struct nats_auth **out, uint32_t *err_line,
                        char *err, size_t err_len);
void nats_auth_free(struct nats_auth *a);

/* A password that is a bcrypt hash ("$2a$", "$2b$", "$2x$", "$2y$"), not plain text. */
bool nats_password_is_bcrypt(const char *p);

/* Decodes a public nkey: 56 base32 characters of prefix byte, 32-byte key, CRC16 (XMODEM,
 * little-endian). 0, or -1 if the text, its CRC or its prefix (want_prefix) is wrong. */
int nats_nkey_decode(const char *text, size_t len, uint8_t want_prefix, uint8_t key[32]);

#endif
