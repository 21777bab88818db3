/* peer_login.c: a broker's SASL login to another broker (see peer_login.h). */
#include "broker/kafka/peer_login.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "broker/config.h"
#include "broker/net/peer.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_msgs_sasl.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

#define LOGIN_FRAME_MAX (64u << 10)
#define LOGIN_TOKEN_MAX 2048
#define SCRAM_ITERATIONS_MAX 100000 /* Kafka's own credentials stop at 16384 */
#define SCRAM_DIGEST_MAX 64

struct login {
    struct peer *p;
    int32_t corr;
    struct kw w;
    struct karena a;
    char *err;
    size_t err_len;
};

/* One request (header v1, body by enc) and its answer's body reader; false with err set. */
static bool login_call(struct login *l, int16_t key, void (*enc)(struct kw *, const void *), const void *req,
                       uint8_t **frame, struct kr *body) {
    struct kafka_req_header h = {.api_key = key, .api_version = 1, .correlation_id = ++l->corr,
                                 .client_id = {"sluice-peer", 11}};
    kw_reset(&l->w);
    kw_i32(&l->w, 0);
    kafka_encode_req_header(&l->w, &h);
    enc(&l->w, req);
    kw_patch_i32(&l->w, 0, (int32_t)(l->w.len - 4));
    uint32_t n = 0;
    if (!peer_exchange(l->p, l->w.p, l->w.len, LOGIN_FRAME_MAX, frame, &n, l->err, l->err_len)) return false;
    *body = kr_make(*frame, n);
    int32_t corr = 0;
    if (kafka_decode_resp_header(body, key, 1, &corr) != SL_OK || corr != l->corr) {
        snprintf(l->err, l->err_len, "SASL with %s: an answer this broker cannot read", l->p->who);
        return false;
    }
    return true;
}

static void enc_handshake(struct kw *w, const void *req) { kafka_encode_sasl_handshake_req(w, 1, req); }
static void enc_authenticate(struct kw *w, const void *req) { kafka_encode_sasl_authenticate_req(w, 1, req); }

static bool login_handshake(struct login *l, const char *mech) {
    struct kafka_sasl_handshake_req req = {{mech, (int32_t)strlen(mech)}};
    uint8_t *frame = NULL;
    struct kr r;
    bool ok = login_call(l, 17, enc_handshake, &req, &frame, &r);
    struct kafka_sasl_handshake_resp resp;
    if (ok && kafka_decode_sasl_handshake_resp(&r, 1, &l->a, &resp) != SL_OK) {
        snprintf(l->err, l->err_len, "SaslHandshake with %s: an answer this broker cannot read", l->p->who);
        ok = false;
    }
    if (ok && resp.error_code) {
        snprintf(l->err, l->err_len, "SaslHandshake with %s: %s is not enabled there (error %d)", l->p->who, mech,
                 resp.error_code);
        ok = false;
    }
    free(frame);
    return ok;
}

/* One SaslAuthenticate round: the server's token into out (NUL-terminated), its length. */
static int login_token(struct login *l, const char *tok, size_t tok_len, char *out, size_t cap) {
    struct kafka_sasl_authenticate_req req = {{tok, (int32_t)tok_len}};
    uint8_t *frame = NULL;
    struct kr r;
    int n = -1;
    struct kafka_sasl_authenticate_resp resp;
    if (!login_call(l, 36, enc_authenticate, &req, &frame, &r)) goto out;
    if (kafka_decode_sasl_authenticate_resp(&r, 1, &l->a, &resp) != SL_OK) {
        snprintf(l->err, l->err_len, "SaslAuthenticate with %s: an answer this broker cannot read", l->p->who);
        goto out;
    }
    if (resp.error_code) {
        snprintf(l->err, l->err_len, "SaslAuthenticate with %s: error %d: %.*s", l->p->who, resp.error_code,
                 resp.error_message.len > 0 ? (int)resp.error_message.len : 0,
                 resp.error_message.len > 0 ? resp.error_message.p : "");
        goto out;
    }
    if (resp.auth_bytes.len < 0 || (size_t)resp.auth_bytes.len >= cap) {
        snprintf(l->err, l->err_len, "SaslAuthenticate with %s: a token of %d bytes", l->p->who, resp.auth_bytes.len);
        goto out;
    }
    memcpy(out, resp.auth_bytes.p, (size_t)resp.auth_bytes.len);
    out[resp.auth_bytes.len] = 0;
    n = resp.auth_bytes.len;
out:
    free(frame);
    return n;
}

static bool login_plain(struct login *l, const struct peer_login *c) {
    char tok[2 * 256 + 2], srv[LOGIN_TOKEN_MAX];
    size_t ul = strlen(c->username), pl = strlen(c->password);
    tok[0] = 0;
    memcpy(tok + 1, c->username, ul);
    tok[1 + ul] = 0;
    memcpy(tok + 2 + ul, c->password, pl);
    bool ok = login_token(l, tok, 2 + ul + pl, srv, sizeof(srv)) >= 0;
    OPENSSL_cleanse(tok, sizeof(tok));
    return ok;
}

/* The value of attribute a ("r", "s", "i", "v", "e") in a SCRAM message, or NULL; *len its length. */
static const char *scram_attr(const char *msg, char a, size_t *len) {
    for (const char *p = msg; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n >= 2 && p[0] == a && p[1] == '=') {
            *len = n - 2;
            return p + 2;
        }
        if (!end) break;
        p = end + 1;
    }
    return NULL;
}

static bool login_scram(struct login *l, const struct peer_login *c) {
    bool sha256 = !strcmp(c->mechanism, "SCRAM-SHA-256");
    const EVP_MD *md = sha256 ? EVP_sha256() : EVP_sha512();
    int dl = sha256 ? 32 : 64;
    uint8_t raw[24];
    char cnonce[40], user[3 * 256 + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(l->err, l->err_len, "SASL with %s: no random bytes for the nonce", l->p->who);
        return false;
    }
    EVP_EncodeBlock((unsigned char *)cnonce, raw, sizeof(raw));
    size_t u = 0; /* saslname: ',' and '=' escaped (RFC 5802 section 5.1) */
    for (const char *s = c->username; *s; s++) {
        if (*s == ',') u += (size_t)snprintf(user + u, sizeof(user) - u, "=2C");
        else if (*s == '=') u += (size_t)snprintf(user + u, sizeof(user) - u, "=3D");
        else user[u++] = *s;
    }
    user[u] = 0;
    char first[LOGIN_TOKEN_MAX], srv1[LOGIN_TOKEN_MAX], final_[LOGIN_TOKEN_MAX], srv2[LOGIN_TOKEN_MAX];
    int fl = snprintf(first, sizeof(first), "n,,n=%s,r=%s", user, cnonce);
    if (login_token(l, first, (size_t)fl, srv1, sizeof(srv1)) < 0) return false;
    size_t nl = 0, sl = 0, il = 0;
    const char *nonce = scram_attr(srv1, 'r', &nl), *salt64 = scram_attr(srv1, 's', &sl), *it = scram_attr(srv1, 'i', &il);
    long iters = it ? strtol(it, NULL, 10) : 0;
    uint8_t salt[256];
    int saltn = salt64 && sl > 0 && sl % 4 == 0 && sl / 4 * 3 <= sizeof(salt)
                    ? EVP_DecodeBlock(salt, (const unsigned char *)salt64, (int)sl)
                    : -1;
    if (saltn > 0) saltn -= (salt64[sl - 1] == '=') + (salt64[sl - 2] == '=');
    if (!nonce || nl <= strlen(cnonce) || memcmp(nonce, cnonce, strlen(cnonce)) || saltn <= 0 || iters < 1 ||
        iters > SCRAM_ITERATIONS_MAX) {
        snprintf(l->err, l->err_len, "SASL with %s: a server-first message this broker does not take", l->p->who);
        return false;
    }
    uint8_t salted[SCRAM_DIGEST_MAX], ckey[SCRAM_DIGEST_MAX], stored[SCRAM_DIGEST_MAX], csig[SCRAM_DIGEST_MAX],
        skey[SCRAM_DIGEST_MAX], ssig[SCRAM_DIGEST_MAX], proof[SCRAM_DIGEST_MAX];
    char without[LOGIN_TOKEN_MAX], auth[3 * LOGIN_TOKEN_MAX], proof64[2 * SCRAM_DIGEST_MAX], ssig64[2 * SCRAM_DIGEST_MAX];
    int wl = snprintf(without, sizeof(without), "c=biws,r=%.*s", (int)nl, nonce);
    int al = snprintf(auth, sizeof(auth), "%s,%s,%s", first + 3, srv1, without);
    unsigned int n = 0;
    bool ok = wl > 0 && (size_t)wl < sizeof(without) && al > 0 && (size_t)al < sizeof(auth) &&
              PKCS5_PBKDF2_HMAC(c->password, (int)strlen(c->password), salt, saltn, (int)iters, md, dl, salted) &&
              HMAC(md, salted, dl, (const uint8_t *)"Client Key", 10, ckey, &n) &&
              EVP_Digest(ckey, (size_t)dl, stored, &n, md, NULL) &&
              HMAC(md, stored, dl, (const uint8_t *)auth, (size_t)al, csig, &n) &&
              HMAC(md, salted, dl, (const uint8_t *)"Server Key", 10, skey, &n) &&
              HMAC(md, skey, dl, (const uint8_t *)auth, (size_t)al, ssig, &n);
    for (int i = 0; ok && i < dl; i++) proof[i] = ckey[i] ^ csig[i];
    if (ok) {
        EVP_EncodeBlock((unsigned char *)proof64, proof, dl);
        EVP_EncodeBlock((unsigned char *)ssig64, ssig, dl);
    }
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(ckey, sizeof(ckey));
    if (!ok) {
        snprintf(l->err, l->err_len, "SASL with %s: the SCRAM proof could not be computed", l->p->who);
        return false;
    }
    int ffl = snprintf(final_, sizeof(final_), "%s,p=%s", without, proof64);
    if (login_token(l, final_, (size_t)ffl, srv2, sizeof(srv2)) < 0) return false;
    size_t vl = 0;
    const char *v = scram_attr(srv2, 'v', &vl);
    if (!v || vl != strlen(ssig64) || CRYPTO_memcmp(v, ssig64, vl) != 0) {
        snprintf(l->err, l->err_len, "SASL with %s: the server's SCRAM signature does not verify", l->p->who);
        return false;
    }
    return true;
}

bool peer_login(struct peer *p, const struct peer_login *c, char *err, size_t err_len) {
    if (!c || !c->mechanism[0]) return true;
    struct login l = {.p = p, .err = err, .err_len = err_len};
    kw_init(&l.w, 512);
    karena_init(&l.a, 4096);
    bool ok = sl_config_peer_mechanism_ok(c->mechanism) && login_handshake(&l, c->mechanism) &&
              (!strcmp(c->mechanism, "PLAIN") ? login_plain(&l, c) : login_scram(&l, c));
    if (!ok && !err[0]) snprintf(err, err_len, "SASL with %s: mechanism %s not spoken here", p->who, c->mechanism);
    kw_free(&l.w);
    karena_free(&l.a);
    return ok;
}
