/* peer.h: blocking request/response exchanges with another broker's Kafka port, for worker
 * threads (the replica fetcher, a transaction coordinator's markers): connect with a bounded
 * wait, over TLS when the cluster's Kafka ports speak it, send a whole frame, read one answer
 * frame. Errors come back as text for the caller's log. The loop thread never calls these.
 * What goes over the connection (and a SASL login on it: broker/kafka/peer_login.h) is the
 * caller's. */
#ifndef SL_BROKER_NET_PEER_H
#define SL_BROKER_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_client;

struct peer {
    int fd;                  /* -1: not connected */
    struct tls_client *tls;  /* NULL: plain TCP */
    uint32_t timeout_ms;     /* each send, read and the connect itself */
    char who[300];           /* "host:port", for the messages */
};

/* Connects p (TCP_NODELAY) to host:port; with tls_ctx (a tls_client_ctx_new() context) the
 * TLS handshake follows and the peer's certificate is verified for host. False with why in
 * err (p is closed then). */
bool peer_open(struct peer *p, const char *host, const char *port, void *tls_ctx, uint32_t timeout_ms, char *err,
               size_t err_len);
/* Closes the connection; fine on a closed peer. */
void peer_close(struct peer *p);
static inline bool peer_connected(const struct peer *p) { return p->fd >= 0; }
/* Sends req (its 4-byte size prefix included) and reads one answer: *frame (heap, the caller
 * frees it) holds its bytes after the size prefix, at most max of them. False: err says why,
 * and the connection is of no further use (the caller closes it). */
bool peer_exchange(struct peer *p, const uint8_t *req, size_t req_len, uint32_t max, uint8_t **frame,
                   uint32_t *frame_len, char *err, size_t err_len);

#endif
