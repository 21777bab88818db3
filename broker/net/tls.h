/* tls.h: TLS for a listener's connections, on Debian's OpenSSL 3.
 *
 * One struct tls_server per listener holds its SSL_CTX (certificate, key, CA, verification,
 * minimum version). tls_server_reload() builds a new SSL_CTX from the files and swaps it in only
 * if everything loads: connections made from then on use it, open ones keep the one they began
 * with (each SSL holds a reference on its SSL_CTX).
 *
 * A struct tls_conn is one connection's TLS state. It never touches the socket: ciphertext goes
 * in and out through memory BIOs, so the connection's io_uring recv and send carry it exactly as
 * they carry plaintext (conn.c). tls_conn_read() drives the handshake and then decrypts;
 * tls_conn_write() encrypts; whatever OpenSSL wants to send (handshake messages, alerts, session
 * tickets, records) collects in a buffer that tls_conn_swap_out() hands over whole. */
#ifndef SL_BROKER_NET_TLS_H
#define SL_BROKER_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_settings {
    const char *cert_file;   /* PEM chain, leaf first */
    const char *key_file;    /* PEM private key */
    const char *ca_file;     /* PEM CAs for client certificates; "" or NULL: none */
    bool verify;             /* require a client certificate signed by ca_file (mTLS) */
    const char *min_version; /* "1.2" or "1.3" */
    /* The server's order of preference; NULL or "": the defaults in tls.c. Lists split on ':'
     * or ','; names as nats-server's (IANA, Go's curve names) or OpenSSL's. */
    const char *cipher_suites;       /* TLS 1.2 */
    const char *cipher_suites_tls13; /* TLS 1.3 */
    const char *curve_preferences;   /* key exchange groups */
};

struct tls_server {
    void *ctx;                   /* SSL_CTX *, the one new connections use */
    bool verify;
    uint32_t timeout_ms;         /* the handshake must end within this; 0: no limit */
    uint64_t handshakes_ok;      /* counters for /metrics */
    uint64_t handshakes_failed;
    uint64_t live;               /* connections holding a tls_conn */
};

enum tls_rc {
    TLS_OK,    /* progress (maybe 0 bytes: more input is needed) */
    TLS_EOF,   /* the peer sent close_notify */
    TLS_ERROR, /* handshake refused or a bad record: close the connection */
};

struct tls_conn;

/* Loads the files into a new SSL_CTX. 0, or -1 with a message naming the file in err. */
int tls_server_init(struct tls_server *t, const struct tls_settings *s, uint32_t timeout_ms, char *err, size_t err_len);
/* Loads the files again (SIGHUP); on failure the old context stays and err says why. */
int tls_server_reload(struct tls_server *t, const struct tls_settings *s, char *err, size_t err_len);
void tls_server_free(struct tls_server *t);
/* True if s->min_version is one this build knows ("1.2", "1.3"). */
bool tls_min_version_valid(const char *v);

struct tls_conn *tls_conn_new(struct tls_server *t);
void tls_conn_free(struct tls_conn *tc);
/* Ciphertext received from the peer. */
void tls_conn_feed(struct tls_conn *tc, const void *p, size_t n);
/* Drives the handshake, then decrypts into out (at most cap bytes; *got may be 0). */
enum tls_rc tls_conn_read(struct tls_conn *tc, void *out, size_t cap, size_t *got);
/* Encrypts n bytes (handshake done); false on an error. */
bool tls_conn_write(struct tls_conn *tc, const void *p, size_t n);
/* True while received ciphertext or decrypted bytes wait to be read. */
bool tls_conn_in_pending(const struct tls_conn *tc);
bool tls_conn_ready(const struct tls_conn *tc);
/* True once the handshake is done with a client certificate verified against the CA (mTLS). */
bool tls_conn_peer_verified(const struct tls_conn *tc);
/* Bytes waiting to go to the peer. */
size_t tls_conn_out_pending(const struct tls_conn *tc);
/* Hands over the bytes waiting to go to the peer without copying them: returns the buffer
 * (malloc'd, *cap bytes, the first *len of them to send; NULL when none was ever made), which is
 * the caller's from now on, and takes spare (the caller's drained buffer of spare_cap bytes, or
 * NULL) to collect the next ones. Until the next swap nothing writes to the returned buffer, so a
 * send can be in flight from it while OpenSSL makes more (a session ticket during a read). */
uint8_t *tls_conn_swap_out(struct tls_conn *tc, uint8_t *spare, size_t spare_cap, size_t *len, size_t *cap);
/* Frees the collecting buffer if it is empty (an idle connection keeps none). */
void tls_conn_out_trim(struct tls_conn *tc);
/* Counts a handshake that did not finish in time as failed. */
void tls_conn_count_failure(struct tls_conn *tc);
/* Why the last TLS_ERROR happened (OpenSSL's reason), for the log line. */
const char *tls_conn_error(const struct tls_conn *tc);

#endif
