/* tls_client.h: the broker's own outgoing TLS, on a connected non-blocking socket.
 *
 * The listeners' TLS (tls.h) runs over memory BIOs because io_uring owns their sockets; the few
 * calls the broker makes itself (a follower sending its registration to the leader's https
 * monitoring port) run on a thread of their own with a deadline, so here OpenSSL reads and
 * writes the socket directly and the caller waits on poll() when told WANT_READ/WANT_WRITE.
 * The peer is always verified: against ca_file, or the system's CAs when there is none, and
 * for the host or IP address dialled. */
#ifndef SL_BROKER_NET_TLS_CLIENT_H
#define SL_BROKER_NET_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct tls_client_settings {
    const char *ca_file;     /* PEM CAs that sign the peer's certificate; "" or NULL: system CAs */
    const char *cert_file;   /* ours, sent if the peer asks for one (mTLS); "" or NULL: none */
    const char *key_file;
    const char *min_version; /* "1.2" or "1.3" */
};

enum tls_client_rc { TLS_CLIENT_DONE, TLS_CLIENT_WANT_READ, TLS_CLIENT_WANT_WRITE, TLS_CLIENT_ERROR };

/* A client context (SSL_CTX *) shared by the calls; NULL with err naming the file. */
void *tls_client_ctx_new(const struct tls_client_settings *s, char *err, size_t err_len);
void tls_client_ctx_free(void *ctx);

struct tls_client;
/* A session on fd (connected, O_NONBLOCK) that will verify host ("1.2.3.4", "::1" or a name). */
struct tls_client *tls_client_new(void *ctx, int fd, const char *host, char *err, size_t err_len);
void tls_client_free(struct tls_client *t);
enum tls_client_rc tls_client_handshake(struct tls_client *t);
enum tls_client_rc tls_client_write(struct tls_client *t, const void *p, size_t n, size_t *done);
/* *got 0 with DONE: the peer closed. */
enum tls_client_rc tls_client_read(struct tls_client *t, void *p, size_t cap, size_t *got);
/* Why the last call returned TLS_CLIENT_ERROR. */
const char *tls_client_error(const struct tls_client *t);

#endif
