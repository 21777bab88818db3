/* nats_auth.c: NATS users, nkeys and permissions checked (see nats_auth.h). The cryptography is
 * libxcrypt's (bcrypt) and OpenSSL's (ed25519, base64); what is written here is subject
 * matching and the check of a CONNECT; the users come from the config (broker/nats_users.c). */
#include "broker/nats/nats_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* ---- subjects and permissions ---------------------------------------------------------------- */

static size_t token_len(const char *s, size_t len) {
    const char *dot = memchr(s, '.', len);
    return dot ? (size_t)(dot - s) : len;
}

bool nats_subject_matches(const char *pattern, size_t plen, const char *subject, size_t slen) {
    for (;;) {
        size_t pt = token_len(pattern, plen), st = token_len(subject, slen);
        if (pt == 1 && pattern[0] == '>' && pt == plen) return slen > 0;
        if (!(pt == 1 && pattern[0] == '*') && (pt != st || memcmp(pattern, subject, pt) != 0)) return false;
        bool pend = pt == plen, send = st == slen;
        if (pend || send) return pend && send;
        pattern += pt + 1;
        plen -= pt + 1;
        subject += st + 1;
        slen -= st + 1;
    }
}

static bool list_has(const struct nats_subject_list *l, const char *s, size_t len) {
    for (uint32_t i = 0; i < l->count; i++)
        if (!l->queues[i] && nats_subject_matches(l->subjects[i], strlen(l->subjects[i]), s, len)) return true;
    return false;
}

/* An entry "subject queue" matches a queue subscription whose group matches queue; a plain
 * entry matches every subscription to its subject, queue or not (nats-server's psubs/qsubs). */
static bool list_has_sub(const struct nats_subject_list *l, const char *s, size_t len, const char *q, size_t qlen) {
    for (uint32_t i = 0; i < l->count; i++) {
        if (!nats_subject_matches(l->subjects[i], strlen(l->subjects[i]), s, len)) continue;
        if (!l->queues[i]) return true;
        if (qlen && nats_subject_matches(l->queues[i], strlen(l->queues[i]), q, qlen)) return true;
    }
    return false;
}

bool nats_perms_pub_ok(const struct nats_perms *p, const char *subject, size_t len) {
    if (!p) return true;
    if (p->pub_none) return false;
    if (p->pub_allow.count && !list_has(&p->pub_allow, subject, len)) return false;
    return !list_has(&p->pub_deny, subject, len);
}

bool nats_perms_sub_ok(const struct nats_perms *p, const char *subject, size_t len, const char *queue, size_t qlen) {
    if (!p) return true;
    if (!queue) qlen = 0;
    if (p->sub_allow.count && !list_has_sub(&p->sub_allow, subject, len, queue, qlen)) return false;
    return !list_has_sub(&p->sub_deny, subject, len, queue, qlen);
}

bool nats_perms_deliver_ok(const struct nats_perms *p, const char *subject, size_t len) {
    return !p || !p->sub_deny.count || !list_has(&p->sub_deny, subject, len);
}

/* ---- nkeys ------------------------------------------------------------------------------------ */

void nats_auth_nonce(const uint8_t raw[NATS_NONCE_RAW], char out[NATS_NONCE_LEN + 1]) {
    char b64[4 * ((NATS_NONCE_RAW + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, raw, NATS_NONCE_RAW);
    size_t j = 0;
    for (size_t i = 0; b64[i] && b64[i] != '=' && j < NATS_NONCE_LEN; i++)
        out[j++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    out[j] = 0;
}

/* A signature in base64url without padding (nats.go, nats.js) or standard base64: 64 bytes. */
static bool sig_decode(const char *s, uint8_t sig[64]) {
    size_t len = strlen(s);
    if (len < 86 || len > 88) return false;
    char std[89];
    for (size_t i = 0; i < len; i++) std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (len < 88) std[len++] = '=';
    std[88] = 0;
    unsigned char out[66];
    if (EVP_DecodeBlock(out, (const unsigned char *)std, 88) != 66) return false; /* 64 + the padding's 2 */
    memcpy(sig, out, 64);
    return true;
}

static bool nkey_verify(const uint8_t pub[32], const char *nonce, const char *sig_text) {
    uint8_t sig[64];
    if (!sig_decode(sig_text, sig)) return false;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = k && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(ctx, sig, sizeof(sig), (const unsigned char *)nonce, strlen(nonce)) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

/* ---- passwords -------------------------------------------------------------------------------- */

static bool str_eq_ct(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* known: a bcrypt verdict already reached for this given password (off the loop, or at an
 * earlier check of the same connection), used when want is the hash it was reached for. */
static bool password_ok(const char *want, const char *given, const struct nats_bcrypt_verdict *known) {
    if (!nats_password_is_bcrypt(want)) return str_eq_ct(want, given);
    if (known && known->hash[0] && !strcmp(known->hash, want)) return known->ok;
    return nats_auth_password_ok(want, given);
}

bool nats_auth_password_ok(const char *want, const char *given) {
    if (!nats_password_is_bcrypt(want)) return str_eq_ct(want, given);
    struct crypt_data *cd = sl_xcalloc(1, sizeof(*cd)); /* ~32 KiB: not on the loop's stack */
    const char *h = crypt_r(given, want, cd);
    bool ok = h && h[0] != '*' && str_eq_ct(h, want);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

/* ---- checking a CONNECT ---------------------------------------------------------------------- */

bool nats_auth_required(const struct sl_config *cfg) {
    return cfg->auth_token[0] || cfg->user[0] || (cfg->nats_auth && cfg->nats_auth->user_count);
}

bool nats_auth_nonce_required(const struct sl_config *cfg) { return cfg->nats_auth && cfg->nats_auth->nkey_count; }

const char *nats_auth_slow_hash(const struct sl_config *cfg, const struct nats_creds *c) {
    const struct nats_auth *a = cfg->nats_auth;
    if (a && a->user_count) {
        if (c->nkey || !c->user || !c->pass) return NULL;
        for (uint32_t i = 0; i < a->user_count; i++) {
            const struct nats_user *u = &a->users[i];
            if (u->name && !strcmp(u->name, c->user))
                return u->password && nats_password_is_bcrypt(u->password) ? u->password : NULL;
        }
        return NULL;
    }
    if (cfg->auth_token[0]) return NULL;
    if (cfg->user[0] && c->user && c->pass && !strcmp(c->user, cfg->user) && nats_password_is_bcrypt(cfg->pass))
        return cfg->pass;
    return NULL;
}

bool nats_auth_check(const struct sl_config *cfg, const struct nats_creds *c, const char *nonce,
                     const struct nats_bcrypt_verdict *known, const struct nats_user **user) {
    *user = NULL;
    const struct nats_auth *a = cfg->nats_auth;
    if (a && a->user_count) {
        /* As nats-server: a CONNECT with an nkey is checked against the nkey users only. */
        if (c->nkey) {
            if (!a->nkey_count || !nonce[0] || !c->sig) return false;
            for (uint32_t i = 0; i < a->user_count; i++) {
                const struct nats_user *u = &a->users[i];
                if (u->nkey[0] && !strcmp(u->nkey, c->nkey)) {
                    if (u->standard_refused || !nkey_verify(u->nkey_raw, nonce, c->sig)) return false;
                    *user = u;
                    return true;
                }
            }
            return false;
        }
        if (!c->user) return false;
        for (uint32_t i = 0; i < a->user_count; i++) {
            const struct nats_user *u = &a->users[i];
            if (u->name && !strcmp(u->name, c->user)) {
                if (u->standard_refused || !c->pass || !password_ok(u->password, c->pass, known)) return false;
                *user = u;
                return true;
            }
        }
        return false;
    }
    if (cfg->auth_token[0]) return c->token && str_eq_ct(c->token, cfg->auth_token);
    if (cfg->user[0]) return c->user && c->pass && !strcmp(c->user, cfg->user) && password_ok(cfg->pass, c->pass, known);
    return true;
}
