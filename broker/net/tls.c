/* tls.c: OpenSSL contexts per listener and TLS state per connection over memory BIOs (see
 * tls.h). kTLS is not used: it needs the SSL bound to the socket, and this design keeps the
 * socket in io_uring's hands; see README "Security". */
#include "broker/net/tls.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/base.h"

struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    /* Ciphertext for the peer, out[0..out_len): wbio (tls_out_*) appends OpenSSL's records here
     * and tls_conn_swap_out() hands the buffer over whole, so records are copied once, not
     * into a memory BIO and out of it again. */
    uint8_t *out;
    size_t out_len, out_cap;
    struct tls_server *server;
    bool ready;
    char err[160];
};

static BIO_METHOD *tls_out_method_get(void);

bool tls_min_version_valid(const char *v) { return v && (!strcmp(v, "1.2") || !strcmp(v, "1.3")); }

/* The server's order when the settings name none: AES-128-GCM first, since it costs less than
 * AES-256-GCM on both ends (10 AES rounds, not 14) and is as safe for this use; ChaCha20-Poly1305
 * for clients without AES instructions (SSL_OP_PRIORITIZE_CHACHA picks it when such a client
 * asks for it first); only ECDHE (forward secrecy) and AEAD suites, as nats-server's defaults.
 * OpenSSL 3's own TLS 1.3 order would put AES-256-GCM first. */
#define TLS_DEFAULT_CIPHERS_12                                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"       \
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define TLS_DEFAULT_CIPHERS_13 "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS_NAMES_MAX 1024

/* Splits a "a:b,c d" list, calls each(name) in order; -1 as soon as one returns -1. */
static int tls_each_name(const char *list, int (*each)(const char *name, void *arg), void *arg) {
    char buf[TLS_NAMES_MAX];
    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf)) return -1;
    char *save = NULL;
    for (char *n = strtok_r(buf, ":, \t", &save); n; n = strtok_r(NULL, ":, \t", &save))
        if (each(n, arg) != 0) return -1;
    return 0;
}

struct tls_names {
    char out[TLS_NAMES_MAX]; /* OpenSSL's spelling, ':'-joined */
    size_t len;
    char bad[128];           /* the first name refused */
    SSL_CTX *ctx;
};

static int tls_names_add(struct tls_names *t, const char *name) {
    int w = snprintf(t->out + t->len, sizeof(t->out) - t->len, "%s%s", t->len ? ":" : "", name);
    if (w < 0 || (size_t)w >= sizeof(t->out) - t->len) return -1;
    t->len += (size_t)w;
    return 0;
}

/* A TLS 1.2 cipher: nats-server's (Go's, IANA) name or OpenSSL's; it must name a cipher
 * OpenSSL has, alone (OpenSSL would silently skip an unknown name in a list). */
static int tls_cipher12_each(const char *name, void *arg) {
    struct tls_names *t = arg;
    const char *os = name;
    if (!strncmp(name, "TLS_", 4)) {
        os = OPENSSL_cipher_name(name);
        if (!os || !strcmp(os, "(NONE)")) os = NULL;
    }
    if (!os || SSL_CTX_set_cipher_list(t->ctx, os) != 1) {
        snprintf(t->bad, sizeof(t->bad), "%s", name);
        return -1;
    }
    return tls_names_add(t, os);
}

static int tls_cipher13_each(const char *name, void *arg) {
    static const char *const known[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                        "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
                                        "TLS_AES_128_CCM_8_SHA256"};
    struct tls_names *t = arg;
    for (size_t i = 0; i < SL_ARRAY_LEN(known); i++)
        if (!strcasecmp(name, known[i])) return tls_names_add(t, known[i]);
    snprintf(t->bad, sizeof(t->bad), "%s", name);
    return -1;
}

/* nats-server's curve_preferences spell Go's names (CurveP256); OpenSSL's are accepted too. */
static int tls_curve_each(const char *name, void *arg) {
    static const char *const go[][2] = {{"CurveP256", "P-256"}, {"CurveP384", "P-384"}, {"CurveP521", "P-521"}};
    struct tls_names *t = arg;
    const char *os = name;
    for (size_t i = 0; i < SL_ARRAY_LEN(go); i++)
        if (!strcasecmp(name, go[i][0])) os = go[i][1];
    if (SSL_CTX_set1_groups_list(t->ctx, os) != 1) {
        snprintf(t->bad, sizeof(t->bad), "%s", name);
        return -1;
    }
    return tls_names_add(t, os);
}

/* Cipher suites and groups from the settings, or the defaults. 0, or -1 with err naming the
 * setting and the name refused. */
static int tls_ctx_ciphers(SSL_CTX *ctx, const struct tls_settings *s, char *err, size_t err_len) {
    struct tls_names t = {.ctx = ctx};
    const char *c12 = s->cipher_suites && s->cipher_suites[0] ? s->cipher_suites : NULL;
    if (c12 && (tls_each_name(c12, tls_cipher12_each, &t) != 0 || !t.len)) goto bad12;
    if (SSL_CTX_set_cipher_list(ctx, c12 ? t.out : TLS_DEFAULT_CIPHERS_12) != 1) goto bad12;
    memset(&t, 0, sizeof(t));
    t.ctx = ctx;
    const char *c13 = s->cipher_suites_tls13 && s->cipher_suites_tls13[0] ? s->cipher_suites_tls13 : NULL;
    if (c13 && (tls_each_name(c13, tls_cipher13_each, &t) != 0 || !t.len)) goto bad13;
    if (SSL_CTX_set_ciphersuites(ctx, c13 ? t.out : TLS_DEFAULT_CIPHERS_13) != 1) goto bad13;
    memset(&t, 0, sizeof(t));
    t.ctx = ctx;
    const char *cv = s->curve_preferences && s->curve_preferences[0] ? s->curve_preferences : NULL;
    if (cv && (tls_each_name(cv, tls_curve_each, &t) != 0 || !t.len || SSL_CTX_set1_groups_list(ctx, t.out) != 1)) {
        snprintf(err, err_len, "tls_curve_preferences: unknown curve '%s' (X25519, CurveP256, CurveP384, CurveP521)",
                 t.bad[0] ? t.bad : cv);
        return -1;
    }
    ERR_clear_error();
    return 0;
bad12:
    snprintf(err, err_len, "tls_cipher_suites: unknown or unusable TLS 1.2 cipher '%s'", t.bad[0] ? t.bad : c12);
    return -1;
bad13:
    snprintf(err, err_len, "tls_cipher_suites_tls13: unknown TLS 1.3 suite '%s' (TLS_AES_128_GCM_SHA256, "
             "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)", t.bad[0] ? t.bad : c13);
    return -1;
}

/* The first OpenSSL error on this thread's queue as text, and the queue emptied. */
static void tls_take_error(char *out, size_t cap, const char *fallback) {
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, out, cap);
    else snprintf(out, cap, "%s", fallback);
    ERR_clear_error();
}

static SSL_CTX *tls_ctx_build(const struct tls_settings *s, char *err, size_t err_len) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_take_error(err, err_len, "SSL_CTX_new failed");
        return NULL;
    }
    char why[256];
    int minv = s->min_version && !strcmp(s->min_version, "1.3") ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx, minv);
    /* Renegotiation is a way for a client to make the server do handshakes on demand. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
    if (tls_ctx_ciphers(ctx, s, err, err_len) != 0) goto fail;
    /* Idle connections give their 34 KiB of record buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1) {
        tls_take_error(why, sizeof(why), "cannot load");
        snprintf(err, err_len, "certificate %s: %s", s->cert_file, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, s->key_file, SSL_FILETYPE_PEM) != 1) {
        tls_take_error(why, sizeof(why), "cannot load");
        snprintf(err, err_len, "key %s: %s", s->key_file, why);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_take_error(why, sizeof(why), "does not match");
        snprintf(err, err_len, "key %s does not match certificate %s: %s", s->key_file, s->cert_file, why);
        goto fail;
    }
    if (s->ca_file && s->ca_file[0]) {
        if (SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL) != 1) {
            tls_take_error(why, sizeof(why), "cannot load");
            snprintf(err, err_len, "CA %s: %s", s->ca_file, why);
            goto fail;
        }
        /* The CertificateRequest names these CAs, so a client with several certificates picks. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
    }
    if (s->verify) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_server_init(struct tls_server *t, const struct tls_settings *s, uint32_t timeout_ms, char *err, size_t err_len) {
    memset(t, 0, sizeof(*t));
    tls_out_method_get();
    SSL_CTX *ctx = tls_ctx_build(s, err, err_len);
    if (!ctx) return -1;
    t->ctx = ctx;
    t->verify = s->verify;
    t->timeout_ms = timeout_ms;
    return 0;
}

int tls_server_reload(struct tls_server *t, const struct tls_settings *s, char *err, size_t err_len) {
    SSL_CTX *ctx = tls_ctx_build(s, err, err_len);
    if (!ctx) return -1;
    SSL_CTX_free(t->ctx); /* open connections hold their own reference */
    t->ctx = ctx;
    t->verify = s->verify;
    return 0;
}

void tls_server_free(struct tls_server *t) {
    if (t->ctx) SSL_CTX_free(t->ctx);
    t->ctx = NULL;
}

/* The write BIO: appends to tc->out, never fails short (as a memory BIO, but without a buffer
 * of its own to copy out of). */
static int tls_out_write(BIO *b, const char *p, int n) {
    struct tls_conn *tc = BIO_get_data(b);
    if (n <= 0) return 0;
    if (tc->out_len + (size_t)n > tc->out_cap) {
        size_t cap = tc->out_cap ? tc->out_cap : (size_t)(17u << 10);
        while (cap < tc->out_len + (size_t)n) cap *= 2;
        tc->out = sl_xrealloc(tc->out, cap);
        tc->out_cap = cap;
    }
    memcpy(tc->out + tc->out_len, p, (size_t)n);
    tc->out_len += (size_t)n;
    return n;
}

static long tls_out_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)num;
    (void)ptr;
    struct tls_conn *tc = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1; /* the connection sends what is here after each turn */
    case BIO_CTRL_WPENDING: return tc ? (long)tc->out_len : 0;
    case BIO_CTRL_PENDING: return 0;
    default: return 0;
    }
}

static int tls_out_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

/* Made once, on the main thread before any connection (tls_server_init), and kept: OpenSSL
 * frees nothing of a BIO_METHOD that BIOs may still point to. */
static BIO_METHOD *tls_out_method;

static BIO_METHOD *tls_out_method_get(void) {
    if (tls_out_method) return tls_out_method;
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice ciphertext out");
    SL_ASSERT(m);
    BIO_meth_set_write(m, tls_out_write);
    BIO_meth_set_ctrl(m, tls_out_ctrl);
    BIO_meth_set_create(m, tls_out_create);
    tls_out_method = m;
    return m;
}

struct tls_conn *tls_conn_new(struct tls_server *t) {
    struct tls_conn *tc = sl_xcalloc(1, sizeof(*tc));
    tc->server = t;
    tc->ssl = SSL_new(t->ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(tls_out_method_get());
    if (tc->wbio) BIO_set_data(tc->wbio, tc);
    SL_ASSERT(tc->ssl && tc->rbio && tc->wbio); /* only out of memory, which sl_xmalloc aborts on too */
    /* An empty read BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(tc->rbio, -1);
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    SSL_set_accept_state(tc->ssl);
    t->live++;
    return tc;
}

void tls_conn_free(struct tls_conn *tc) {
    if (!tc) return;
    tc->server->live--;
    SSL_free(tc->ssl);
    free(tc->out);
    free(tc);
}

void tls_conn_feed(struct tls_conn *tc, const void *p, size_t n) {
    /* A memory BIO grows as needed; only allocation failure makes it write less. */
    int w = BIO_write(tc->rbio, p, (int)n);
    SL_ASSERT(w == (int)n);
}

bool tls_conn_ready(const struct tls_conn *tc) { return tc->ready; }

bool tls_conn_peer_verified(const struct tls_conn *tc) {
    /* Only an SSL_CTX with tls_verify asks for a certificate, and its handshake fails without
     * one that verifies; the result is checked again here rather than inferred. */
    return tc->ready && SSL_get0_peer_certificate(tc->ssl) && SSL_get_verify_result(tc->ssl) == X509_V_OK;
}

bool tls_conn_in_pending(const struct tls_conn *tc) {
    return BIO_ctrl_pending(tc->rbio) > 0 || SSL_pending(tc->ssl) > 0;
}

static enum tls_rc tls_fail(struct tls_conn *tc, int ssl_err) {
    char why[128];
    tls_take_error(why, sizeof(why), ssl_err == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "TLS error");
    snprintf(tc->err, sizeof(tc->err), "%s%s", tc->ready ? "" : "TLS handshake failed: ", why);
    if (!tc->ready) tc->server->handshakes_failed++;
    return TLS_ERROR;
}

enum tls_rc tls_conn_read(struct tls_conn *tc, void *out, size_t cap, size_t *got) {
    *got = 0;
    ERR_clear_error();
    if (!tc->ready) {
        int r = SSL_do_handshake(tc->ssl);
        if (r != 1) {
            int e = SSL_get_error(tc->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return TLS_OK;
            return tls_fail(tc, e);
        }
        tc->ready = true;
        tc->server->handshakes_ok++;
    }
    if (cap == 0) return TLS_OK;
    size_t n = 0;
    if (SSL_read_ex(tc->ssl, out, cap, &n) == 1) {
        *got = n;
        return TLS_OK;
    }
    int e = SSL_get_error(tc->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return TLS_OK;
    if (e == SSL_ERROR_ZERO_RETURN) return TLS_EOF;
    return tls_fail(tc, e);
}

bool tls_conn_write(struct tls_conn *tc, const void *p, size_t n) {
    ERR_clear_error();
    size_t done = 0;
    /* Into a memory BIO a write is whole (no partial-write mode). */
    if (SSL_write_ex(tc->ssl, p, n, &done) == 1 && done == n) return true;
    tls_fail(tc, SSL_get_error(tc->ssl, 0));
    return false;
}

size_t tls_conn_out_pending(const struct tls_conn *tc) { return tc->out_len; }

uint8_t *tls_conn_swap_out(struct tls_conn *tc, uint8_t *spare, size_t spare_cap, size_t *len, size_t *cap) {
    uint8_t *full = tc->out;
    *len = tc->out_len;
    *cap = tc->out_cap;
    tc->out = spare;
    tc->out_cap = spare ? spare_cap : 0;
    tc->out_len = 0;
    return full;
}

void tls_conn_out_trim(struct tls_conn *tc) {
    if (tc->out_len) return;
    free(tc->out);
    tc->out = NULL;
    tc->out_cap = 0;
}

void tls_conn_count_failure(struct tls_conn *tc) {
    if (!tc->ready) tc->server->handshakes_failed++;
}

const char *tls_conn_error(const struct tls_conn *tc) { return tc->err[0] ? tc->err : "TLS error"; }
