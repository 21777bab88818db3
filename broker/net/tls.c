/* tls.c: OpenSSL contexts per listener and TLS state per connection over memory BIOs (see
 * tls.h). kTLS is not used: it needs the SSL bound to the socket, and this design keeps the
 * socket in io_uring's hands; see README "Security". */
#include "broker/net/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/base.h"

struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    struct tls_server *server;
    bool ready;
    char err[160];
};

bool tls_min_version_valid(const char *v) { return v && (!strcmp(v, "1.2") || !strcmp(v, "1.3")); }

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
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
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

struct tls_conn *tls_conn_new(struct tls_server *t) {
    struct tls_conn *tc = sl_xcalloc(1, sizeof(*tc));
    tc->server = t;
    tc->ssl = SSL_new(t->ctx);
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
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

size_t tls_conn_out_pending(const struct tls_conn *tc) { return BIO_ctrl_pending(tc->wbio); }

size_t tls_conn_take_out(struct tls_conn *tc, void *buf, size_t cap) {
    if (cap == 0) return 0;
    int n = BIO_read(tc->wbio, buf, (int)SL_MIN(cap, (size_t)INT32_MAX));
    return n > 0 ? (size_t)n : 0;
}

void tls_conn_count_failure(struct tls_conn *tc) {
    if (!tc->ready) tc->server->handshakes_failed++;
}

const char *tls_conn_error(const struct tls_conn *tc) { return tc->err[0] ? tc->err : "TLS error"; }
