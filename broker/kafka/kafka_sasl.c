/* kafka_sasl.c: SASL on the Kafka listener (see kafka_sasl.h).
 *
 * The exchange, as Kafka's SaslServerAuthenticator runs it: ApiVersions may come first; then
 * SaslHandshake names a mechanism (UNSUPPORTED_SASL_MECHANISM, 33, with the enabled list, then
 * a close, if it is not enabled). After a v1 handshake each token travels in a
 * SaslAuthenticate request; after a v0 handshake the tokens are raw frames (int32 length +
 * bytes, no Kafka header) both ways, and a failure can only be a close. A failed
 * SaslAuthenticate gets SASL_AUTHENTICATION_FAILED (58) with a message, then the connection
 * closes; one out of order gets ILLEGAL_SASL_STATE (34) and a close. Until the exchange ends,
 * any other request closes the connection (kafka_sasl_allows).
 *
 * Re-authentication (KIP-368): with kafka_sasl_session_lifetime_ms > 0 the final
 * SaslAuthenticate (v1+) carries SessionLifetimeMs; a connection whose session has expired is
 * closed at its next request other than ApiVersions/SaslHandshake/SaslAuthenticate (Kafka
 * does the same), and a new v1 handshake + SaslAuthenticate on the live connection renews
 * it, for the same user only. 0 (the default): sessions never expire, SessionLifetimeMs 0.
 *
 * SCRAM (RFC 5802, 7677) uses OpenSSL for every primitive: HMAC, EVP digests,
 * PKCS5_PBKDF2_HMAC, RAND_bytes, CRYPTO_memcmp, EVP base64. An unknown user fails at the
 * client-first message, as Kafka's ScramSaslServer does. Tokens above KSASL_TOKEN_MAX fail. */
#include "broker/kafka/kafka_sasl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/prom.h"
#include "broker/core/topics.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "protocol/kafka_msgs_sasl.h"
#include "storage/kvlog.h"

#define KSASL_TOKEN_MAX 4096
#define SCRAM_SALT_MAX 128
#define SCRAM_DIGEST_MAX 64
/* Kafka's ScramMechanism bounds for stored credentials. */
#define SCRAM_ITERATIONS_MIN KAFKA_SCRAM_ITERATIONS_MIN
#define SCRAM_ITERATIONS_MAX KAFKA_SCRAM_ITERATIONS_MAX
#define SCRAM_BOOTSTRAP_ITERATIONS 4096
#define SCRAM_KEY_PREFIX "scram/"
#define SCRAM_VALUE_VERSION 1
enum scram_tag { SCRAM_TAG_SALT = 1, SCRAM_TAG_ITERATIONS = 2, SCRAM_TAG_STORED_KEY = 3, SCRAM_TAG_SERVER_KEY = 4 };
/* Describe/Alter: duplicates are found pairwise, so a request names at most this many. */
#define SCRAM_ALTER_MAX 1024
#define PLAIN_HASH_PREFIX "{PBKDF2-SHA512}"

static const char *const ksasl_names[KSASL_MECH_COUNT] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

struct plain_user {
    char *name;
    bool hashed;
    uint8_t *salt;  /* hashed: PBKDF2 salt */
    uint32_t salt_len, iterations;
    uint8_t *secret; /* hashed: the PBKDF2-SHA512 output; else the password */
    uint32_t secret_len;
};

struct kafka_sasl {
    uint8_t order[KSASL_MECH_COUNT]; /* enabled mechanisms in configuration order */
    uint32_t order_count;
    bool enabled[KSASL_MECH_COUNT];
    struct plain_user *users;
    uint32_t user_count;
    struct kvlog *kv; /* borrowed: the metadata log */
    struct kafka_sasl_stats stats;
};

struct scram_cred {
    uint8_t salt[SCRAM_SALT_MAX];
    uint32_t salt_len;
    int32_t iterations;
    uint8_t stored_key[SCRAM_DIGEST_MAX], server_key[SCRAM_DIGEST_MAX];
};

struct kafka_sasl_scram {
    struct scram_cred cred;
    char user[SCRAM_USER_MAX + 1];
    char *nonce;       /* client + server nonce */
    char *gs2_b64;     /* base64 of the gs2 header, what c= must be */
    char *auth_prefix; /* client-first-bare "," server-first "," */
};

/* ---- small helpers ---- */

static const EVP_MD *scram_md(uint8_t mech) { return mech == KSASL_SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512(); }
static uint32_t scram_dlen(uint8_t mech) { return mech == KSASL_SCRAM_SHA_256 ? 32 : 64; }

static int8_t scram_wire_mech(uint8_t mech) {
    return mech == KSASL_SCRAM_SHA_256 ? KAFKA_SCRAM_SHA_256 : KAFKA_SCRAM_SHA_512;
}

static bool scram_from_wire(int8_t m, uint8_t *mech) {
    if (m == KAFKA_SCRAM_SHA_256) *mech = KSASL_SCRAM_SHA_256;
    else if (m == KAFKA_SCRAM_SHA_512) *mech = KSASL_SCRAM_SHA_512;
    else return false;
    return true;
}

/* A malloc'd NUL-terminated base64 of n bytes. */
static char *b64_encode(const uint8_t *p, size_t n) {
    char *out = sl_xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* Decodes base64 into out (cap bytes); -1 if malformed or too long. */
static int b64_decode(const char *s, int32_t len, uint8_t *out, size_t cap) {
    if (len <= 0 || len % 4 || (size_t)len / 4 * 3 > cap + 2) return -1;
    uint8_t tmp[KSASL_TOKEN_MAX];
    if ((size_t)len / 4 * 3 > sizeof(tmp)) return -1;
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)s, len);
    if (n < 0) return -1;
    int pad = (s[len - 1] == '=') + (s[len - 2] == '=');
    n -= pad;
    if (n < 0 || (size_t)n > cap) return -1;
    memcpy(out, tmp, (size_t)n);
    return n;
}

static int hex_decode(const char *s, size_t len, uint8_t *out, size_t cap) {
    if (len % 2 || len / 2 > cap || len == 0) return -1;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return (int)(len / 2);
}

static bool scram_hmac(uint8_t mech, const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
                       uint8_t *out) {
    unsigned int n = 0;
    return HMAC(scram_md(mech), key, (int)key_len, msg, msg_len, out, &n) && n == scram_dlen(mech);
}

/* StoredKey and ServerKey from SaltedPassword (RFC 5802 section 3). */
static bool scram_keys(uint8_t mech, const uint8_t *salted, struct scram_cred *c) {
    uint8_t client_key[SCRAM_DIGEST_MAX];
    unsigned int n = 0;
    bool ok = scram_hmac(mech, salted, scram_dlen(mech), "Client Key", 10, client_key) &&
              EVP_Digest(client_key, scram_dlen(mech), c->stored_key, &n, scram_md(mech), NULL) &&
              scram_hmac(mech, salted, scram_dlen(mech), "Server Key", 10, c->server_key);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return ok;
}

/* ---- the credential store ---- */

static int scram_key(char *out, size_t cap, uint8_t mech, const char *user, int32_t user_len) {
    return snprintf(out, cap, SCRAM_KEY_PREFIX "%s/%.*s", ksasl_names[mech], (int)user_len, user);
}

static bool scram_cred_get(struct kafka_sasl *s, uint8_t mech, const char *user, int32_t user_len,
                           struct scram_cred *c) {
    char key[SCRAM_USER_MAX + 64];
    if (user_len > SCRAM_USER_MAX) return false;
    int kl = scram_key(key, sizeof(key), mech, user, user_len);
    uint32_t vlen;
    const uint8_t *v = kvlog_get(s->kv, key, (uint32_t)kl, &vlen);
    struct kvlog_tlv_reader r;
    if (!v || !kvlog_tlv_open(&r, v, vlen) || r.version != SCRAM_VALUE_VERSION) return false;
    memset(c, 0, sizeof(*c));
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    int64_t it = 0;
    uint32_t dl = scram_dlen(mech), got = 0;
    while (kvlog_tlv_next(&r, &tag, &p, &n)) {
        if (tag == SCRAM_TAG_SALT && n >= 1 && n <= SCRAM_SALT_MAX) memcpy(c->salt, p, c->salt_len = n), got |= 1;
        else if (tag == SCRAM_TAG_ITERATIONS && kvlog_tlv_i64(p, n, &it)) got |= 2;
        else if (tag == SCRAM_TAG_STORED_KEY && n == dl) memcpy(c->stored_key, p, n), got |= 4;
        else if (tag == SCRAM_TAG_SERVER_KEY && n == dl) memcpy(c->server_key, p, n), got |= 8;
    }
    if (got != 15 || it < 1 || it > INT32_MAX) return false;
    c->iterations = (int32_t)it;
    return true;
}

/* The record of a credential (kvlog_tlv_free the writer). */
static void scram_cred_value(uint8_t mech, const struct scram_cred *c, struct kvlog_tlv_writer *tw) {
    memset(tw, 0, sizeof(*tw));
    kvlog_tlv_begin(tw, SCRAM_VALUE_VERSION);
    kvlog_tlv_put(tw, SCRAM_TAG_SALT, c->salt, c->salt_len);
    kvlog_tlv_put_i64(tw, SCRAM_TAG_ITERATIONS, c->iterations);
    kvlog_tlv_put(tw, SCRAM_TAG_STORED_KEY, c->stored_key, scram_dlen(mech));
    kvlog_tlv_put(tw, SCRAM_TAG_SERVER_KEY, c->server_key, scram_dlen(mech));
}

/* "SCRAM-SHA-512=alice:secret,SCRAM-SHA-256=bob:pw": each credential not stored yet is made
 * (random salt, 4096 iterations), as kafka-storage format --add-scram does before a first start. */
static sl_err scram_bootstrap(struct kafka_sasl *s, const char *spec, uint64_t now_ms) {
    char buf[sizeof(((struct sl_config *)0)->kafka_sasl_scram_bootstrap)];
    snprintf(buf, sizeof(buf), "%s", spec);
    uint32_t made = 0;
    for (char *save = NULL, *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(e, '='), *colon = eq ? strchr(eq + 1, ':') : NULL;
        uint8_t mech = KSASL_MECH_COUNT;
        if (eq) {
            *eq = 0;
            if (!strcmp(e, "SCRAM-SHA-256")) mech = KSASL_SCRAM_SHA_256;
            else if (!strcmp(e, "SCRAM-SHA-512")) mech = KSASL_SCRAM_SHA_512;
        }
        if (mech == KSASL_MECH_COUNT || !colon || colon == eq + 1 || !colon[1] || colon - eq - 1 > SCRAM_USER_MAX) {
            SL_ERROR("kafka_sasl_scram_bootstrap: an entry is not MECHANISM=user:password");
            return SL_CONFIG;
        }
        const char *user = eq + 1, *pw = colon + 1;
        int32_t ulen = (int32_t)(colon - user);
        struct scram_cred c;
        if (scram_cred_get(s, mech, user, ulen, &c)) continue;
        memset(&c, 0, sizeof(c));
        c.salt_len = 32;
        c.iterations = SCRAM_BOOTSTRAP_ITERATIONS;
        uint8_t salted[SCRAM_DIGEST_MAX];
        if (RAND_bytes(c.salt, (int)c.salt_len) != 1 ||
            !PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), c.salt, (int)c.salt_len, c.iterations, scram_md(mech),
                               (int)scram_dlen(mech), salted) ||
            !scram_keys(mech, salted, &c))
            return SL_UNKNOWN_SERVER;
        OPENSSL_cleanse(salted, sizeof(salted));
        char key[SCRAM_USER_MAX + 64];
        int kl = scram_key(key, sizeof(key), mech, user, ulen);
        struct kvlog_tlv_writer tw;
        scram_cred_value(mech, &c, &tw);
        sl_err err = kvlog_put(s->kv, key, (uint32_t)kl, tw.p, (uint32_t)tw.len, now_ms, NULL);
        kvlog_tlv_free(&tw);
        if (err) return err;
        SL_INFO("kafka: created the %s credential of User:%.*s (kafka_sasl_scram_bootstrap)", ksasl_names[mech],
                (int)ulen, user);
        made++;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return made ? kvlog_flush(s->kv) : SL_OK;
}

/* ---- PLAIN users ---- */

static void plain_users_free(struct plain_user *u, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].salt);
        if (u[i].secret) OPENSSL_cleanse(u[i].secret, u[i].secret_len);
        free(u[i].secret);
    }
    free(u);
}

static bool plain_user_parse(char *line, struct plain_user *u) {
    char *colon = strchr(line, ':');
    if (!colon || colon == line || !colon[1]) return false;
    *colon = 0;
    const char *pw = colon + 1;
    memset(u, 0, sizeof(*u));
    if (!strncmp(pw, PLAIN_HASH_PREFIX, strlen(PLAIN_HASH_PREFIX))) {
        const char *h = pw + strlen(PLAIN_HASH_PREFIX);
        char salt_hex[2 * SCRAM_SALT_MAX + 2], hash_hex[2 * SCRAM_DIGEST_MAX + 2];
        unsigned it;
        if (sscanf(h, "%u:%257[0-9a-fA-F]:%129[0-9a-fA-F]", &it, salt_hex, hash_hex) != 3 || it < 1) return false;
        uint8_t salt[SCRAM_SALT_MAX], hash[SCRAM_DIGEST_MAX];
        int sl = hex_decode(salt_hex, strlen(salt_hex), salt, sizeof(salt));
        int hl = hex_decode(hash_hex, strlen(hash_hex), hash, sizeof(hash));
        if (sl < 1 || hl != 64) return false;
        u->hashed = true;
        u->iterations = it;
        u->salt = sl_xmalloc((size_t)sl);
        memcpy(u->salt, salt, (size_t)sl);
        u->salt_len = (uint32_t)sl;
        u->secret = sl_xmalloc(64);
        memcpy(u->secret, hash, 64);
        u->secret_len = 64;
    } else {
        u->secret_len = (uint32_t)strlen(pw);
        u->secret = sl_xmalloc(u->secret_len);
        memcpy(u->secret, pw, u->secret_len);
    }
    size_t nl = strlen(line);
    u->name = sl_xmalloc(nl + 1);
    memcpy(u->name, line, nl + 1);
    return true;
}

/* Lines "user:password" or "user:{PBKDF2-SHA512}iterations:salt-hex:hash-hex"; '#' comments. */
static sl_err plain_users_load(const char *path, struct plain_user **out, uint32_t *count) {
    *out = NULL;
    *count = 0;
    if (!path[0]) return SL_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        SL_ERROR("kafka_sasl_users_file %s: %s", path, strerror(errno));
        return SL_CONFIG;
    }
    struct plain_user *u = NULL;
    uint32_t n = 0, lineno = 0;
    char line[1024];
    sl_err e = SL_OK;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = 0;
        if (!l || line[0] == '#') continue;
        u = sl_xrealloc(u, (n + 1) * sizeof(*u));
        if (!plain_user_parse(line, &u[n])) {
            SL_ERROR("kafka_sasl_users_file %s:%u: not user:password", path, lineno); /* never the line */
            e = SL_CONFIG;
            break;
        }
        n++;
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    if (e) {
        plain_users_free(u, n);
        return e;
    }
    *out = u;
    *count = n;
    return SL_OK;
}

static bool plain_check(const struct kafka_sasl *s, struct kstr user, struct kstr pw) {
    const struct plain_user *u = NULL;
    for (uint32_t i = 0; i < s->user_count && !u; i++)
        if ((size_t)user.len == strlen(s->users[i].name) && !memcmp(s->users[i].name, user.p, (size_t)user.len))
            u = &s->users[i];
    if (!u) return false;
    if (u->hashed) {
        uint8_t h[64];
        if (!PKCS5_PBKDF2_HMAC(pw.p, pw.len, u->salt, (int)u->salt_len, (int)u->iterations, EVP_sha512(), 64, h))
            return false;
        bool ok = CRYPTO_memcmp(h, u->secret, 64) == 0;
        OPENSSL_cleanse(h, sizeof(h));
        return ok;
    }
    /* Digests compared, so the time taken says nothing of the password's length. */
    uint8_t a[64], b[64];
    unsigned int al = 0, bl = 0;
    if (!EVP_Digest(pw.p, (size_t)pw.len, a, &al, EVP_sha512(), NULL) ||
        !EVP_Digest(u->secret, u->secret_len, b, &bl, EVP_sha512(), NULL))
        return false;
    return CRYPTO_memcmp(a, b, 64) == 0;
}

/* ---- start / stop ---- */

bool kafka_sasl_enabled(const struct kafka_server *ks) { return ks->sasl && ks->sasl->order_count > 0; }

static sl_err ksasl_parse_mechanisms(struct kafka_sasl *s, const char *list) {
    char buf[sizeof(((struct sl_config *)0)->kafka_sasl_mechanisms)];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *m = strtok_r(buf, ", ", &save); m; m = strtok_r(NULL, ", ", &save)) {
        uint8_t k = KSASL_MECH_COUNT;
        for (uint8_t i = 0; i < KSASL_MECH_COUNT; i++)
            if (!strcmp(m, ksasl_names[i])) k = i;
        if (k == KSASL_MECH_COUNT) {
            SL_ERROR("kafka_sasl_mechanisms: %s is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", m);
            return SL_CONFIG;
        }
        if (s->enabled[k]) continue;
        s->enabled[k] = true;
        s->order[s->order_count++] = k;
    }
    return SL_OK;
}

sl_err kafka_sasl_start(struct kafka_server *ks) {
    struct kafka_sasl *s = sl_xcalloc(1, sizeof(*s));
    ks->sasl = s;
    s->kv = topics_metadata(ks->topics);
    sl_err e = ksasl_parse_mechanisms(s, ks->cfg->kafka_sasl_mechanisms);
    if (!e) e = plain_users_load(ks->cfg->kafka_sasl_users_file, &s->users, &s->user_count);
    if (!e && s->enabled[KSASL_PLAIN] && !ks->cfg->kafka_sasl_users_file[0])
        SL_WARN("kafka: PLAIN is enabled without kafka_sasl_users_file: no PLAIN login can succeed");
    if (!e && ks->cfg->kafka_sasl_scram_bootstrap[0])
        e = scram_bootstrap(s, ks->cfg->kafka_sasl_scram_bootstrap, loop_now_ms(ks->loop));
    if (!e && s->order_count) SL_INFO("kafka: SASL required (%s), %u PLAIN user(s)", ks->cfg->kafka_sasl_mechanisms,
                                      s->user_count);
    return e;
}

void kafka_sasl_stop(struct kafka_server *ks) {
    if (!ks->sasl) return;
    plain_users_free(ks->sasl->users, ks->sasl->user_count);
    free(ks->sasl);
    ks->sasl = NULL;
}

void kafka_sasl_reload(struct kafka_server *ks) {
    struct kafka_sasl *s = ks->sasl;
    if (!s) return;
    struct plain_user *u;
    uint32_t n;
    if (plain_users_load(ks->cfg->kafka_sasl_users_file, &u, &n) != SL_OK) {
        SL_ERROR("reload: kafka_sasl_users_file refused: the PLAIN users stay as they were");
        return;
    }
    plain_users_free(s->users, s->user_count);
    s->users = u;
    s->user_count = n;
    SL_INFO("reload: %u PLAIN user(s)", n);
}

/* ---- per connection ---- */

static void scram_free(struct kafka_sasl_scram *x) {
    if (!x) return;
    free(x->nonce);
    free(x->gs2_b64);
    free(x->auth_prefix);
    OPENSSL_cleanse(x, sizeof(*x));
    free(x);
}

void kafka_sasl_conn_init(struct kafka_server *ks, struct kafka_sasl_conn *s) {
    memset(s, 0, sizeof(*s));
    s->state = kafka_sasl_enabled(ks) ? KSASL_WAIT_HANDSHAKE : KSASL_OFF;
}

void kafka_sasl_conn_free(struct kafka_sasl_conn *s) {
    scram_free(s->scram);
    s->scram = NULL;
}

bool kafka_sasl_allows(struct kconn *kc, int16_t key, uint64_t now_ms) {
    struct kafka_sasl_conn *s = &kc->sasl;
    if (s->state == KSASL_OFF) return true;
    if (key == KAFKA_API_VERSIONS || key == KAFKA_SASL_HANDSHAKE || key == KAFKA_SASL_AUTHENTICATE) return true;
    if (!s->authenticated) {
        SL_DEBUG("kafka %s: API key %d before SASL authentication: closing, as Kafka does", kc->c->peer, key);
        return false;
    }
    if (s->expires_ms && now_ms >= s->expires_ms) {
        SL_DEBUG("kafka %s: the SASL session of %s expired without re-authentication: closing", kc->c->peer,
                 s->principal);
        return false;
    }
    return true;
}

enum ksasl_step { STEP_CONTINUE, STEP_DONE, STEP_FAIL };

/* PLAIN: one token, an empty answer. */
static enum ksasl_step ksasl_plain(struct kconn *kc, const uint8_t *p, uint32_t len, char *user, size_t user_cap,
                                   const char **why) {
    struct sasl_plain m;
    *why = "Authentication failed: Invalid username or password";
    if (sasl_parse_plain((const char *)p, (int32_t)len, &m) != SL_OK) return STEP_FAIL;
    if (m.authzid.len > 0 && (m.authzid.len != m.user.len || memcmp(m.authzid.p, m.user.p, (size_t)m.user.len))) {
        *why = "Authentication failed: Client requested an authorization id that is different from username";
        return STEP_FAIL;
    }
    if ((size_t)m.user.len >= user_cap || !plain_check(kc->ks->sasl, m.user, m.password)) return STEP_FAIL;
    memcpy(user, m.user.p, (size_t)m.user.len);
    user[m.user.len] = 0;
    return STEP_DONE;
}

/* SCRAM, first token: client-first in, server-first out. */
static enum ksasl_step ksasl_scram_first(struct kconn *kc, const uint8_t *p, uint32_t len, struct kw *out,
                                         const char **why) {
    struct kafka_sasl_conn *s = &kc->sasl;
    struct scram_client_first m;
    if (scram_parse_client_first((const char *)p, (int32_t)len, &m) != SL_OK) {
        *why = "Authentication failed: malformed SCRAM client-first message";
        return STEP_FAIL;
    }
    if (m.authzid.len > 0 && ((size_t)m.authzid.len != strlen(m.user) || memcmp(m.authzid.p, m.user, strlen(m.user)))) {
        *why = "Authentication failed: Authorization id differs from the user name";
        return STEP_FAIL;
    }
    struct kafka_sasl_scram *x = sl_xcalloc(1, sizeof(*x));
    s->scram = x;
    if (!scram_cred_get(kc->ks->sasl, s->mech, m.user, (int32_t)strlen(m.user), &x->cred)) {
        *why = "Authentication failed: Invalid user credentials";
        return STEP_FAIL;
    }
    snprintf(x->user, sizeof(x->user), "%s", m.user);
    uint8_t raw[24];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        *why = "Authentication failed: no random bytes";
        return STEP_FAIL;
    }
    char *snonce = b64_encode(raw, sizeof(raw)), *salt = b64_encode(x->cred.salt, x->cred.salt_len);
    size_t nl = (size_t)m.nonce.len + strlen(snonce);
    x->nonce = sl_xmalloc(nl + 1);
    snprintf(x->nonce, nl + 1, "%.*s%s", (int)m.nonce.len, m.nonce.p, snonce);
    x->gs2_b64 = b64_encode((const uint8_t *)m.gs2_header.p, (size_t)m.gs2_header.len);
    size_t sfl = nl + strlen(salt) + 32;
    char *server_first = sl_xmalloc(sfl);
    snprintf(server_first, sfl, "r=%s,s=%s,i=%d", x->nonce, salt, x->cred.iterations);
    size_t apl = (size_t)m.bare.len + strlen(server_first) + 3;
    x->auth_prefix = sl_xmalloc(apl);
    snprintf(x->auth_prefix, apl, "%.*s,%s,", (int)m.bare.len, m.bare.p, server_first);
    kw_raw(out, server_first, strlen(server_first));
    free(snonce);
    free(salt);
    free(server_first);
    return STEP_CONTINUE;
}

/* SCRAM, second token: client-final in (the proof checked), server-final out. */
static enum ksasl_step ksasl_scram_final(struct kconn *kc, const uint8_t *p, uint32_t len, struct kw *out,
                                         char *user, size_t user_cap, const char **why) {
    struct kafka_sasl_conn *s = &kc->sasl;
    struct kafka_sasl_scram *x = s->scram;
    struct scram_client_final m;
    *why = "Authentication failed during authentication due to invalid credentials with SASL mechanism "
           "SCRAM-SHA-512";
    if (s->mech == KSASL_SCRAM_SHA_256)
        *why = "Authentication failed during authentication due to invalid credentials with SASL mechanism "
               "SCRAM-SHA-256";
    if (scram_parse_client_final((const char *)p, (int32_t)len, &m) != SL_OK) return STEP_FAIL;
    /* Kafka's ScramSaslServer only checks that the nonce ends with the server-first's:
     * librdkafka 2.0 sends its client nonce twice (cnonce + the full r= value). */
    size_t want = strlen(x->nonce);
    if ((size_t)m.nonce.len < want || memcmp(m.nonce.p + m.nonce.len - want, x->nonce, want)) return STEP_FAIL;
    if ((size_t)m.channel_binding.len != strlen(x->gs2_b64) ||
        memcmp(m.channel_binding.p, x->gs2_b64, (size_t)m.channel_binding.len))
        return STEP_FAIL;
    uint32_t dl = scram_dlen(s->mech);
    uint8_t proof[SCRAM_DIGEST_MAX], sig[SCRAM_DIGEST_MAX], client_key[SCRAM_DIGEST_MAX], stored[SCRAM_DIGEST_MAX];
    if (b64_decode(m.proof.p, m.proof.len, proof, sizeof(proof)) != (int)dl) return STEP_FAIL;
    size_t pl = strlen(x->auth_prefix), al = pl + (size_t)m.without_proof.len;
    char *auth = sl_xmalloc(al);
    memcpy(auth, x->auth_prefix, pl);
    memcpy(auth + pl, m.without_proof.p, (size_t)m.without_proof.len);
    unsigned int sl = 0;
    bool ok = scram_hmac(s->mech, x->cred.stored_key, dl, auth, al, sig);
    for (uint32_t i = 0; ok && i < dl; i++) client_key[i] = proof[i] ^ sig[i];
    ok = ok && EVP_Digest(client_key, dl, stored, &sl, scram_md(s->mech), NULL) &&
         CRYPTO_memcmp(stored, x->cred.stored_key, dl) == 0;
    uint8_t server_sig[SCRAM_DIGEST_MAX];
    ok = ok && scram_hmac(s->mech, x->cred.server_key, dl, auth, al, server_sig);
    free(auth);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    if (!ok || strlen(x->user) >= user_cap) return STEP_FAIL;
    char *v = b64_encode(server_sig, dl);
    kw_raw(out, "v=", 2);
    kw_raw(out, v, strlen(v));
    free(v);
    snprintf(user, user_cap, "%s", x->user);
    return STEP_DONE;
}

/* One token of the exchange in progress. On STEP_DONE, user names who logged in. */
static enum ksasl_step ksasl_step(struct kconn *kc, const uint8_t *p, uint32_t len, struct kw *out, char *user,
                                  size_t user_cap, const char **why) {
    struct kafka_sasl_conn *s = &kc->sasl;
    if (len > KSASL_TOKEN_MAX) {
        *why = "Authentication failed: SASL token too large";
        return STEP_FAIL;
    }
    if (s->mech == KSASL_PLAIN) return ksasl_plain(kc, p, len, user, user_cap, why);
    if (!s->scram) return ksasl_scram_first(kc, p, len, out, why);
    return ksasl_scram_final(kc, p, len, out, user, user_cap, why);
}

/* After STEP_DONE: the principal, the session's end; false if a re-authentication changed user. */
static bool ksasl_done(struct kconn *kc, const char *user, const char **why) {
    struct kafka_sasl_conn *s = &kc->sasl;
    char principal[sizeof(s->principal)];
    snprintf(principal, sizeof(principal), "User:%s", user);
    scram_free(s->scram);
    s->scram = NULL;
    if (s->authenticated && strcmp(principal, s->principal)) {
        *why = "Cannot change principals during re-authentication";
        return false;
    }
    memcpy(s->principal, principal, sizeof(principal));
    s->authenticated = true;
    s->state = KSASL_DONE;
    uint32_t life = kc->ks->cfg->kafka_sasl_session_lifetime_ms;
    s->expires_ms = life ? loop_mono_ms(kc->ks->loop) + life : 0;
    kc->ks->sasl->stats.ok[s->mech]++;
    SL_DEBUG("kafka %s: authenticated as %s (%s)", kc->c->peer, s->principal, ksasl_names[s->mech]);
    return true;
}

static void ksasl_failed(struct kconn *kc, const char *why) {
    struct kafka_sasl_conn *s = &kc->sasl;
    kc->ks->sasl->stats.failed[s->mech]++;
    scram_free(s->scram);
    s->scram = NULL;
    SL_DEBUG("kafka %s: SASL %s failed: %s", kc->c->peer, ksasl_names[s->mech], why);
}

/* ---- SaslHandshake ---- */

static void ksasl_refuse(struct kconn *kc, const char *why) {
    if (kc->c) conn_close_after_send(kc->c, why);
}

sl_err kafka_handle_sasl_handshake(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_sasl *sa = kc->ks->sasl;
    struct kafka_sasl_conn *s = &kc->sasl;
    struct kafka_sasl_handshake_req req;
    sl_err e = kafka_decode_sasl_handshake(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kstr names[KSASL_MECH_COUNT];
    for (uint32_t i = 0; i < sa->order_count; i++) names[i] = kafka_kstr(ksasl_names[sa->order[i]]);
    struct kafka_sasl_handshake_resp resp = {0, names, (int32_t)sa->order_count};
    uint8_t mech = KSASL_MECH_COUNT;
    for (uint32_t i = 0; i < sa->order_count; i++)
        if ((size_t)req.mechanism.len == strlen(names[i].p) && !memcmp(req.mechanism.p, names[i].p, (size_t)req.mechanism.len))
            mech = sa->order[i];
    const char *close_why = NULL;
    bool reauth = s->state == KSASL_DONE;
    if (!(s->state == KSASL_WAIT_HANDSHAKE || (reauth && q->version >= 1))) {
        resp.error_code = (int16_t)sl_err_kafka(SL_ILLEGAL_SASL_STATE);
        close_why = "SaslHandshake out of order";
    } else if (mech == KSASL_MECH_COUNT) {
        resp.error_code = (int16_t)sl_err_kafka(SL_UNSUPPORTED_SASL_MECHANISM);
        close_why = "SASL mechanism not enabled";
    } else {
        s->mech = mech;
        s->state = q->version == 0 ? KSASL_RAW : KSASL_WAIT_AUTH;
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_sasl_handshake_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    if (close_why) ksasl_refuse(kc, close_why);
    return SL_OK;
}

/* ---- SaslAuthenticate ---- */

sl_err kafka_handle_sasl_authenticate(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_sasl_conn *s = &kc->sasl;
    struct kafka_sasl_authenticate_req req;
    sl_err e = kafka_decode_sasl_authenticate(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_sasl_authenticate_resp resp = {0, {NULL, -1}, {"", 0}, 0};
    struct kw tok;
    kw_init(&tok, 256);
    char user[SCRAM_USER_MAX + 1] = "";
    const char *why = NULL;
    bool fail = false;
    if (s->state != KSASL_WAIT_AUTH) {
        resp.error_code = (int16_t)sl_err_kafka(SL_ILLEGAL_SASL_STATE);
        resp.error_message = kafka_kstr("SaslAuthenticate before a SaslHandshake v1");
        fail = true;
        why = "SaslAuthenticate out of order";
    } else {
        enum ksasl_step st = ksasl_step(kc, (const uint8_t *)req.auth_bytes.p, (uint32_t)req.auth_bytes.len, &tok,
                                        user, sizeof(user), &why);
        if (st == STEP_DONE && !ksasl_done(kc, user, &why)) st = STEP_FAIL;
        if (st == STEP_FAIL) {
            ksasl_failed(kc, why);
            resp.error_code = (int16_t)sl_err_kafka(SL_SASL_AUTHENTICATION_FAILED);
            resp.error_message = kafka_kstr(why);
            fail = true;
        } else {
            resp.auth_bytes.p = (const char *)tok.p;
            resp.auth_bytes.len = (int32_t)tok.len;
            if (st == STEP_DONE) resp.session_lifetime_ms = kc->ks->cfg->kafka_sasl_session_lifetime_ms;
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_sasl_authenticate_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    kw_free(&tok);
    if (fail) ksasl_refuse(kc, why);
    return SL_OK;
}

/* ---- raw tokens after a v0 handshake ---- */

bool kafka_sasl_raw_token(struct kconn *kc, const uint8_t *p, uint32_t len) {
    struct kafka_req_header h = {KAFKA_SASL_HANDSHAKE, 0, 0, {NULL, -1}};
    struct kw tok;
    kw_init(&tok, 256);
    char user[SCRAM_USER_MAX + 1] = "";
    const char *why = NULL;
    enum ksasl_step st = ksasl_step(kc, p, len, &tok, user, sizeof(user), &why);
    if (st == STEP_DONE && !ksasl_done(kc, user, &why)) st = STEP_FAIL;
    if (st == STEP_FAIL) {
        /* v0 has no frame for an error: Kafka closes the connection, and so do we. */
        ksasl_failed(kc, why);
        kw_free(&tok);
        return false;
    }
    struct kreq *q = kreq_new(kc, &h);
    struct kw w;
    kw_init(&w, tok.len + 8);
    w.err_counts = NULL;
    kw_reserve_i32(&w);
    kw_raw(&w, tok.p, tok.len);
    kresp_finish(q, &w);
    kw_free(&tok);
    return true;
}

/* ---- DescribeUserScramCredentials ---- */

struct scram_walk {
    struct kafka_sasl *s;
    struct kafka_scram_entry *e;
    uint32_t n, cap;
};

static void scram_walk_fn(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t vlen) {
    (void)value;
    (void)vlen;
    struct scram_walk *w = arg;
    size_t pl = strlen(SCRAM_KEY_PREFIX);
    if (key_len <= pl || memcmp(key, SCRAM_KEY_PREFIX, pl)) return;
    const char *k = (const char *)key + pl, *end = (const char *)key + key_len;
    const char *slash = memchr(k, '/', (size_t)(end - k));
    if (!slash || slash + 1 >= end) return;
    uint8_t mech = KSASL_MECH_COUNT;
    for (uint8_t i = KSASL_SCRAM_SHA_256; i <= KSASL_SCRAM_SHA_512; i++)
        if ((size_t)(slash - k) == strlen(ksasl_names[i]) && !memcmp(k, ksasl_names[i], (size_t)(slash - k))) mech = i;
    struct scram_cred c;
    if (mech == KSASL_MECH_COUNT || !scram_cred_get(w->s, mech, slash + 1, (int32_t)(end - slash - 1), &c)) return;
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->e = sl_xrealloc(w->e, w->cap * sizeof(*w->e));
    }
    w->e[w->n++] = (struct kafka_scram_entry){slash + 1, (int32_t)(end - slash - 1), scram_wire_mech(mech), c.iterations};
}

uint32_t kafka_scram_list(struct kafka_sasl *s, struct kafka_scram_entry **out) {
    struct scram_walk w = {s, NULL, 0, 0};
    kvlog_foreach(s->kv, scram_walk_fn, &w);
    *out = w.e;
    return w.n;
}

static bool kstr_eq(struct kstr a, const char *p, int32_t len) { return a.len == len && !memcmp(a.p, p, (size_t)len); }

/* The result for one user: every credential of theirs in w. */
static void scram_describe_user(struct karena *a, const struct scram_walk *w, struct kstr user,
                                struct kafka_describe_user_scram_credentials_result *res) {
    res->user = user;
    res->error_message = (struct kstr){NULL, -1};
    res->infos = kafka_alloc_array(a, KSASL_MECH_COUNT, sizeof(*res->infos));
    for (uint32_t i = 0; i < w->n; i++)
        if (kstr_eq(user, w->e[i].user, w->e[i].user_len) && res->info_count < KSASL_MECH_COUNT)
            res->infos[res->info_count++] = (struct kafka_scram_credential_info){w->e[i].mechanism, w->e[i].iterations};
    if (!res->info_count) {
        res->error_code = (int16_t)sl_err_kafka(SL_RESOURCE_NOT_FOUND);
        res->error_message = kafka_kstr("Attempt to describe a user credential that does not exist");
    }
}

sl_err kafka_handle_describe_user_scram_credentials(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_describe_user_scram_credentials_req req;
    sl_err e = kafka_decode_describe_user_scram_credentials(r, q->version, &kc->arena, &req);
    if (e) return e;
    if (req.user_count > SCRAM_ALTER_MAX) return SL_POLICY_VIOLATION;
    struct scram_walk w = {kc->ks->sasl, NULL, 0, 0};
    w.n = kafka_scram_list(w.s, &w.e);
    struct kafka_describe_user_scram_credentials_resp resp = {0, 0, {NULL, -1}, NULL, 0};
    if (req.user_count <= 0) {
        /* Null or empty: every user with a credential, in first-stored order. */
        resp.results = kafka_alloc_array(&kc->arena, (int32_t)w.n, sizeof(*resp.results));
        for (uint32_t i = 0; i < w.n; i++) {
            struct kstr u = {w.e[i].user, w.e[i].user_len};
            bool seen = false;
            for (int32_t j = 0; j < resp.result_count && !seen; j++) seen = kstr_eq(resp.results[j].user, u.p, u.len);
            if (!seen) scram_describe_user(&kc->arena, &w, u, &resp.results[resp.result_count++]);
        }
    } else {
        resp.results = kafka_alloc_array(&kc->arena, req.user_count, sizeof(*resp.results));
        for (int32_t i = 0; i < req.user_count; i++) {
            struct kafka_describe_user_scram_credentials_result *res = &resp.results[resp.result_count];
            int32_t dup = 0;
            for (int32_t j = 0; j < req.user_count; j++) dup += kstr_eq(req.users[j], req.users[i].p, req.users[i].len);
            if (dup > 1) {
                bool first = true;
                for (int32_t j = 0; j < i && first; j++) first = !kstr_eq(req.users[j], req.users[i].p, req.users[i].len);
                if (!first) continue;
                memset(res, 0, sizeof(*res));
                res->user = req.users[i];
                res->error_code = (int16_t)sl_err_kafka(SL_DUPLICATE_RESOURCE);
                res->error_message = kafka_kstr("Cannot describe SCRAM credentials for the same user twice in a single request");
                resp.result_count++;
                continue;
            }
            memset(res, 0, sizeof(*res));
            scram_describe_user(&kc->arena, &w, req.users[i], res);
            resp.result_count++;
        }
    }
    if (!kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE))) {
        /* ACLs: DESCRIBE on the cluster; Kafka answers the whole request with the error. */
        resp.error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
        resp.error_message = kafka_kstr("Cluster authorization failed.");
        resp.result_count = 0;
    }
    struct kw out;
    kresp_begin(q, &out);
    kafka_encode_describe_user_scram_credentials_resp(&out, q->version, &resp);
    kresp_finish(q, &out);
    free(w.e);
    return SL_OK;
}

/* ---- AlterUserScramCredentials ---- */

struct scram_alter_user {
    struct kstr name;
    int16_t error_code;
    const char *message;
};

static struct scram_alter_user *scram_alter_find(struct scram_alter_user *u, int32_t n, struct kstr name) {
    for (int32_t i = 0; i < n; i++)
        if (kstr_eq(u[i].name, name.p, name.len)) return &u[i];
    return NULL;
}

static void scram_alter_fail(struct scram_alter_user *u, sl_err e, const char *msg) {
    if (u->error_code) return; /* the first problem found is the one reported */
    u->error_code = (int16_t)sl_err_kafka(e);
    u->message = msg;
}

/* Every alteration's user, with the first problem found for each (nothing of a user with a
 * problem is applied, as in Kafka). */
static int32_t scram_alter_check(struct kafka_sasl *s, const struct kafka_alter_user_scram_credentials_req *req,
                                 struct scram_alter_user *users) {
    int32_t n = 0, total = req->deletion_count + req->upsertion_count;
    for (int32_t i = 0; i < total; i++) {
        bool del = i < req->deletion_count;
        struct kstr name = del ? req->deletions[i].name : req->upsertions[i - req->deletion_count].name;
        int8_t wm = del ? req->deletions[i].mechanism : req->upsertions[i - req->deletion_count].mechanism;
        struct scram_alter_user *u = scram_alter_find(users, n, name);
        if (!u) {
            u = &users[n++];
            *u = (struct scram_alter_user){name, 0, NULL};
        }
        for (int32_t j = 0; j < i; j++) {
            bool dj = j < req->deletion_count;
            struct kstr nj = dj ? req->deletions[j].name : req->upsertions[j - req->deletion_count].name;
            int8_t mj = dj ? req->deletions[j].mechanism : req->upsertions[j - req->deletion_count].mechanism;
            if (mj == wm && kstr_eq(nj, name.p, name.len))
                scram_alter_fail(u, SL_DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request");
        }
        uint8_t mech;
        if (name.len <= 0) scram_alter_fail(u, SL_UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
        if (name.len > SCRAM_USER_MAX) scram_alter_fail(u, SL_UNACCEPTABLE_CREDENTIAL, "Username too long");
        if (!scram_from_wire(wm, &mech)) {
            scram_alter_fail(u, SL_UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
            continue;
        }
        if (del) {
            struct scram_cred c;
            if (!scram_cred_get(s, mech, name.p, name.len, &c))
                scram_alter_fail(u, SL_RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist");
            continue;
        }
        const struct kafka_scram_upsertion *up = &req->upsertions[i - req->deletion_count];
        if (up->iterations < SCRAM_ITERATIONS_MIN) scram_alter_fail(u, SL_UNACCEPTABLE_CREDENTIAL, "Too few iterations");
        if (up->iterations > SCRAM_ITERATIONS_MAX) scram_alter_fail(u, SL_UNACCEPTABLE_CREDENTIAL, "Too many iterations");
        if (up->salt.len < 1 || up->salt.len > SCRAM_SALT_MAX)
            scram_alter_fail(u, SL_UNACCEPTABLE_CREDENTIAL, "Salt must be 1 to 128 bytes");
        if ((uint32_t)up->salted_password.len != scram_dlen(mech))
            scram_alter_fail(u, SL_UNACCEPTABLE_CREDENTIAL, "SaltedPassword is not the mechanism's digest length");
    }
    return n;
}

int32_t kafka_scram_alter(struct kafka_sasl *s, const struct kafka_alter_user_scram_credentials_req *req, bool denied,
                          struct karena *a, uint64_t now_ms, enum kafka_scram_via via, const char *peer,
                          struct kafka_alter_user_scram_credentials_result **out) {
    int32_t total = req->deletion_count + req->upsertion_count;
    SL_ASSERT(total >= 0 && total <= SCRAM_ALTER_MAX);
    struct scram_alter_user *users = kafka_alloc_array(a, total, sizeof(*users));
    int32_t n = scram_alter_check(s, req, users);
    /* ACLs: ALTER on the cluster, else every user's result says so and nothing changes. */
    if (denied)
        for (int32_t i = 0; i < n; i++) {
            users[i].error_code = 0;
            scram_alter_fail(&users[i], SL_CLUSTER_AUTHORIZATION, "Cluster authorization failed.");
        }
    /* One batch for every change of the users without a problem: atomic across a crash. */
    struct kvlog_op *ops = kafka_alloc_array(a, total, sizeof(*ops));
    struct kvlog_tlv_writer *tws = kafka_alloc_array(a, total, sizeof(*tws));
    int32_t *which = kafka_alloc_array(a, total, sizeof(*which)); /* ops[k] is alteration which[k] */
    uint32_t nops = 0;
    for (int32_t i = 0; i < total; i++) {
        bool del = i < req->deletion_count;
        struct kstr name = del ? req->deletions[i].name : req->upsertions[i - req->deletion_count].name;
        int8_t wm = del ? req->deletions[i].mechanism : req->upsertions[i - req->deletion_count].mechanism;
        uint8_t mech;
        if (scram_alter_find(users, n, name)->error_code || !scram_from_wire(wm, &mech)) continue;
        char *key = karena_alloc(a, SCRAM_USER_MAX + 64);
        int kl = scram_key(key, SCRAM_USER_MAX + 64, mech, name.p, name.len);
        struct kvlog_op *op = &ops[nops];
        *op = (struct kvlog_op){key, (uint32_t)kl, NULL, -1};
        if (!del) {
            const struct kafka_scram_upsertion *up = &req->upsertions[i - req->deletion_count];
            struct scram_cred c;
            memset(&c, 0, sizeof(c));
            memcpy(c.salt, up->salt.p, c.salt_len = (uint32_t)up->salt.len);
            c.iterations = up->iterations;
            if (!scram_keys(mech, (const uint8_t *)up->salted_password.p, &c)) {
                scram_alter_fail(scram_alter_find(users, n, name), SL_UNKNOWN_SERVER, "cannot derive the keys");
                continue;
            }
            scram_cred_value(mech, &c, &tws[nops]);
            op->value = tws[nops].p;
            op->value_len = (int32_t)tws[nops].len;
            OPENSSL_cleanse(&c, sizeof(c));
        }
        which[nops++] = i;
    }
    sl_err we = SL_OK;
    if (nops) {
        /* A rare admin request: it waits for its batch to be durable on the loop's thread, as
         * cluster_meta's reservations do, so the answer means the change survives a crash. */
        we = kvlog_write(s->kv, ops, nops, now_ms, NULL);
        if (!we) we = kvlog_flush(s->kv);
    }
    for (uint32_t k = 0; k < nops; k++) kvlog_tlv_free(&tws[k]);
    static const char *const via_names[KAFKA_SCRAM_VIA_COUNT] = {"kafka", "http"};
    for (uint32_t k = 0; k < nops && !we; k++) {
        int32_t i = which[k];
        bool del = i < req->deletion_count;
        struct kstr name = del ? req->deletions[i].name : req->upsertions[i - req->deletion_count].name;
        int8_t wm = del ? req->deletions[i].mechanism : req->upsertions[i - req->deletion_count].mechanism;
        if (scram_alter_find(users, n, name)->error_code) continue; /* its keys could not be made */
        uint8_t mech = 0;
        scram_from_wire(wm, &mech);
        s->stats.scram_changes[via][del]++;
        /* Names, never secrets. */
        SL_INFO("%s %s: the %s credential of User:%.*s %s", via_names[via], peer, ksasl_names[mech], (int)name.len,
                name.p, del ? "deleted" : "stored");
    }
    struct kafka_alter_user_scram_credentials_result *res = kafka_alloc_array(a, n, sizeof(*res));
    for (int32_t i = 0; i < n; i++) {
        if (we && !users[i].error_code) scram_alter_fail(&users[i], we, sl_err_str(we));
        res[i] = (struct kafka_alter_user_scram_credentials_result){
            users[i].name, users[i].error_code, users[i].message ? kafka_kstr(users[i].message) : (struct kstr){NULL, -1}};
    }
    *out = res;
    return n;
}

bool kafka_scram_salted_password(int8_t mechanism, const char *password, size_t password_len, const uint8_t *salt,
                                 uint32_t salt_len, int32_t iterations, uint8_t *out, uint32_t *out_len) {
    uint8_t mech;
    if (!scram_from_wire(mechanism, &mech) || iterations < 1 || password_len > INT32_MAX) return false;
    *out_len = scram_dlen(mech);
    return PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations, scram_md(mech),
                             (int)scram_dlen(mech), out) == 1;
}

const char *kafka_scram_mechanism_name(int8_t mechanism) {
    uint8_t mech;
    return scram_from_wire(mechanism, &mech) ? ksasl_names[mech] : NULL;
}

int8_t kafka_scram_mechanism_parse(const char *name) {
    if (!strcmp(name, ksasl_names[KSASL_SCRAM_SHA_256])) return KAFKA_SCRAM_SHA_256;
    if (!strcmp(name, ksasl_names[KSASL_SCRAM_SHA_512])) return KAFKA_SCRAM_SHA_512;
    return KAFKA_SCRAM_UNKNOWN;
}

sl_err kafka_handle_alter_user_scram_credentials(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_alter_user_scram_credentials_req req;
    sl_err e = kafka_decode_alter_user_scram_credentials(r, q->version, &kc->arena, &req);
    if (e) return e;
    if (req.deletion_count + req.upsertion_count > SCRAM_ALTER_MAX) return SL_POLICY_VIOLATION;
    bool denied = !kafka_authorized(kc, KAFKA_OP_ALTER, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE));
    struct kafka_alter_user_scram_credentials_resp resp = {0, NULL, 0};
    resp.result_count = kafka_scram_alter(kc->ks->sasl, &req, denied, &kc->arena, loop_now_ms(kc->ks->loop),
                                          KAFKA_SCRAM_VIA_KAFKA, kc->c->peer, &resp.results);
    struct kw out;
    kresp_begin(q, &out);
    kafka_encode_alter_user_scram_credentials_resp(&out, q->version, &resp);
    kresp_finish(q, &out);
    return SL_OK;
}

/* ---- metrics ---- */

void kafka_sasl_metrics(struct kafka_server *ks, struct prom *p) {
    if (!ks->sasl) return;
    prom_family(p, "sluice_kafka_sasl_authentications_total", "counter",
                "Kafka SASL authentications by mechanism and result (ok, failed).");
    for (uint8_t m = 0; m < KSASL_MECH_COUNT; m++) {
        char labels[128];
        prom_labels(labels, sizeof(labels), "mechanism", ksasl_names[m], "result", "ok", NULL);
        prom_u64(p, "sluice_kafka_sasl_authentications_total", labels, ks->sasl->stats.ok[m]);
        prom_labels(labels, sizeof(labels), "mechanism", ksasl_names[m], "result", "failed", NULL);
        prom_u64(p, "sluice_kafka_sasl_authentications_total", labels, ks->sasl->stats.failed[m]);
    }
    prom_family(p, "sluice_scram_credential_changes_total", "counter",
                "SCRAM credentials stored or deleted, by the way they came (Kafka API, monitoring port).");
    static const char *const vias[KAFKA_SCRAM_VIA_COUNT] = {"kafka", "http"};
    for (int v = 0; v < KAFKA_SCRAM_VIA_COUNT; v++)
        for (int d = 0; d < 2; d++) {
            char labels[128];
            prom_labels(labels, sizeof(labels), "via", vias[v], "op", d ? "delete" : "store", NULL);
            prom_u64(p, "sluice_scram_credential_changes_total", labels, ks->sasl->stats.scram_changes[v][d]);
        }
}
