/* http_client.h: one blocking HTTP/1.1 POST with a deadline, over plain TCP or TLS.
 *
 * For the broker's own calls to another broker's monitoring port (a follower sending its
 * registration to the leader), made from a thread of their own, never from the loop. */
#ifndef SL_BROKER_HTTP_HTTP_CLIENT_H
#define SL_BROKER_HTTP_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* POSTs body (JSON) to http(s)://hostport/path with "Authorization: Bearer token" and returns
 * the HTTP status, or -1 with why in err. tls_ctx: a tls_client_ctx_new() context for https,
 * NULL for http. The whole exchange must end within timeout_ms. */
int http_client_post(const char *hostport, const char *path, const char *token, const char *body, void *tls_ctx,
                     uint32_t timeout_ms, char *err, size_t err_len);

#endif
