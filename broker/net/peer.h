/* peer.h: one blocking request/response exchange with another broker's Kafka port, for worker
 * threads (the replica fetcher, a transaction coordinator's markers): connect with a bounded
 * wait, send a whole frame, read one answer frame. Errors come back as text for the caller's
 * log. The loop thread never calls these. */
#ifndef SL_BROKER_NET_PEER_H
#define SL_BROKER_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A connected TCP socket (TCP_NODELAY; sends, reads and the connect itself time out after
 * timeout_ms), or -1 with why in err. */
int peer_connect(const char *host, const char *port, uint32_t timeout_ms, char *err, size_t err_len);
/* Sends req (its 4-byte size prefix included) and reads one answer: *frame (heap, the caller
 * frees it) holds its bytes after the size prefix, at most max of them. False: err says why,
 * and the connection is of no further use. */
bool peer_exchange(int fd, const uint8_t *req, size_t req_len, uint32_t max, uint8_t **frame, uint32_t *frame_len,
                   const char *who, char *err, size_t err_len);

#endif
