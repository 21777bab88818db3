/* tls_client.c: see tls_client.h. */
#include "broker/net/tls_client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/base.h"

struct tls_client {
    SSL *ssl;
    char err[200];
};

static void take_error(char *out, size_t cap, const char *what) {
    unsigned long e = ERR_get_error();
    char why[160];
    if (e) ERR_error_string_n(e, why, sizeof(why));
    else snprintf(why, sizeof(why), "failed");
    snprintf(out, cap, "%s: %s", what, why);
    ERR_clear_error();
}

void *tls_client_ctx_new(const struct tls_client_settings *s, char *err, size_t err_len) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        take_error(err, err_len, "SSL_CTX_new");
        return NULL;
    }
    int minv = s->min_version && !strcmp(s->min_version, "1.3") ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx, minv);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    int ok = s->ca_file && s->ca_file[0] ? SSL_CTX_load_verify_locations(ctx, s->ca_file, NULL)
                                          : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        char what[300];
        snprintf(what, sizeof(what), "CA %s", s->ca_file && s->ca_file[0] ? s->ca_file : "(system)");
        take_error(err, err_len, what);
        goto fail;
    }
    /* Never without verification: the request carries the admin token. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (s->cert_file && s->cert_file[0]) {
        if (SSL_CTX_use_certificate_chain_file(ctx, s->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, s->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            char what[300];
            snprintf(what, sizeof(what), "certificate %s / key %s", s->cert_file, s->key_file);
            take_error(err, err_len, what);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_client_ctx_free(void *ctx) { SSL_CTX_free(ctx); }

struct tls_client *tls_client_new(void *ctx, int fd, const char *host, char *err, size_t err_len) {
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        take_error(err, err_len, "SSL_new");
        return NULL;
    }
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    /* An address is checked against the certificate's IP entries, a name against its DNS ones
     * (and sent as SNI, which must not carry an address). */
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                : SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
    if (ok != 1 || SSL_set_fd(ssl, fd) != 1) {
        take_error(err, err_len, "setting up the session");
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    struct tls_client *t = sl_xcalloc(1, sizeof(*t));
    t->ssl = ssl;
    return t;
}

void tls_client_free(struct tls_client *t) {
    if (!t) return;
    SSL_free(t->ssl);
    free(t);
}

static enum tls_client_rc tls_client_fail(struct tls_client *t, int r, const char *what) {
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return TLS_CLIENT_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE) return TLS_CLIENT_WANT_WRITE;
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        snprintf(t->err, sizeof(t->err), "%s: certificate verify failed: %s", what, X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else {
        take_error(t->err, sizeof(t->err), what);
    }
    return TLS_CLIENT_ERROR;
}

enum tls_client_rc tls_client_handshake(struct tls_client *t) {
    ERR_clear_error();
    int r = SSL_connect(t->ssl);
    return r == 1 ? TLS_CLIENT_DONE : tls_client_fail(t, r, "TLS handshake");
}

enum tls_client_rc tls_client_write(struct tls_client *t, const void *p, size_t n, size_t *done) {
    ERR_clear_error();
    *done = 0;
    int r = SSL_write_ex(t->ssl, p, n, done);
    return r == 1 ? TLS_CLIENT_DONE : tls_client_fail(t, r, "TLS write");
}

enum tls_client_rc tls_client_read(struct tls_client *t, void *p, size_t cap, size_t *got) {
    ERR_clear_error();
    *got = 0;
    int r = SSL_read_ex(t->ssl, p, cap, got);
    if (r == 1) return TLS_CLIENT_DONE;
    if (SSL_get_error(t->ssl, r) == SSL_ERROR_ZERO_RETURN) return TLS_CLIENT_DONE; /* close_notify */
    return tls_client_fail(t, r, "TLS read");
}

const char *tls_client_error(const struct tls_client *t) { return t->err[0] ? t->err : "TLS error"; }
