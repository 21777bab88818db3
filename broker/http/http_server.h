/* http_server.h: the monitoring port (nats-server's -m / http_port): HTTP/1.1 on the broker's
 * loop, parsed by the node.js http-parser (Debian's libhttp-parser-dev).
 *
 * Routes are registered by whoever owns the data (the top of the broker wires /varz to the
 * NATS wing, /metrics to every wing's collector), so this wing knows no protocol. A handler
 * runs on the loop and must not block: it builds the whole body in memory and returns, or
 * defers the answer (http_defer) and gives it later from the loop.
 *
 * Limits, so the port cannot be used to hurt the broker: GET and HEAD only (else 405), but for
 * admin routes, which name their methods; the request line and headers are bounded
 * (HTTP_HEAD_MAX, else 431 and close); a body is refused (413 and close) unless the route is an
 * admin route taking POST, and then it is bounded by HTTP_BODY_MAX (413 and close past it, before
 * any of it is read when Content-Length says so); a request must arrive whole within
 * HTTP_REQUEST_MS of its first byte and a connection silent for HTTP_IDLE_MS is closed
 * (slowloris); garbage gets 400 and close. Keep-alive and pipelining follow the client (HTTP/1.0
 * closes unless asked).
 *
 * Access: with a token set (http_server_set_token), every route but those registered with
 * http_server_route_open needs `Authorization: Bearer <token>`, else 401 with WWW-Authenticate
 * (RFC 6750); the comparison takes the same time whatever the token sent. An unknown path is 401
 * too, so the port tells nothing to whoever has no token. A read token
 * (http_server_set_read_token) is accepted beside it for those routes, and for nothing else.
 *
 * Admin routes (http_server_route_admin) change the broker, so they are never open: with a token
 * set they need it; without one they need a client certificate verified against the CA (an https
 * port with tls_verify). Anything else, a port with neither included, gets 403 and a JSON error. */
#ifndef SL_BROKER_HTTP_SERVER_H
#define SL_BROKER_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "broker/net/listener.h"

#define HTTP_HEAD_MAX 8192
#define HTTP_REQUEST_MS 10000
#define HTTP_IDLE_MS 60000
#define HTTP_ROUTES_MAX 32
#define HTTP_TOKEN_MAX 1024 /* an Authorization value longer than this is refused */
#define HTTP_BODY_MAX 16384 /* a request body of an admin route; larger is 413 */

/* Methods a route serves (HEAD is served wherever GET is). */
enum { HTTP_M_GET = 1, HTTP_M_POST = 2, HTTP_M_DELETE = 4 };

struct hconn;

struct http_request {
    struct hconn *hc;  /* the connection (http_defer) */
    const char *path;  /* without the query, NUL-terminated */
    const char *query; /* after '?', "" if none */
    bool head;         /* HEAD: the body is computed for Content-Length but not sent */
    unsigned method;   /* HTTP_M_* */
    const char *rest;  /* a prefix route: the path after "<prefix>/", still %-encoded; else "" */
    const char *body;  /* the request body (admin routes only), NUL-terminated; "" if none */
    size_t body_len;
    const char *peer;  /* "ip:port", for log lines */
};

struct http_response {
    int status;               /* 200 by default */
    const char *content_type; /* "application/json" by default */
    char *body;               /* malloc'd, owned by the server once the handler returns */
    size_t len;
};

typedef void (*http_handler_fn)(void *arg, const struct http_request *rq, struct http_response *rs);

/* An answer that comes later, for a handler whose work must not run on the loop (it may take
 * seconds): the handler calls http_defer(rq), copies what it needs of rq, and returns leaving
 * rs alone. That connection reads nothing more (pipelined requests wait, in order) until
 * http_pending_answer(p, rs) is called, once, on the loop; it sends rs (taking its body) and
 * reads on. If the connection closed meanwhile, the answer only frees. */
struct http_pending;
struct http_pending *http_defer(const struct http_request *rq);
void http_pending_answer(struct http_pending *p, struct http_response *rs);

struct http_server {
    struct loop *loop;
    struct listener ls;
    bool running;
    uint32_t route_count;
    struct {
        char path[64];
        http_handler_fn fn;
        void *arg;
        bool open;        /* served without the token */
        bool admin;       /* needs the token, or a verified client certificate; never open */
        bool prefix;      /* also serves "<path>/<rest>" */
        unsigned methods; /* HTTP_M_* */
        uint32_t body_max; /* an admin route's largest body (HTTP_BODY_MAX unless set) */
    } routes[HTTP_ROUTES_MAX];
    const char *token; /* "" or NULL: no token needed; borrowed from the caller (its config) */
    const char *read_token; /* the same, for the read routes only (http_server_set_read_token) */
    uint64_t requests, errors; /* requests answered; of those, not 2xx */
};

/* Binds host:port (0 picks one) and serves. Returns 0 or -errno. */
int http_server_start(struct http_server *h, struct loop *l, const char *host, uint16_t port, uint32_t conn_max);
void http_server_stop(struct http_server *h);
/* Serves path (exact match) with fn. Up to HTTP_ROUTES_MAX routes. */
void http_server_route(struct http_server *h, const char *path, http_handler_fn fn, void *arg);
/* The same, for a route served without the token (a health probe). */
void http_server_route_open(struct http_server *h, const char *path, http_handler_fn fn, void *arg);
/* An admin route (see the top of this file): methods is a set of HTTP_M_*; with prefix, paths
 * below path are served too (rq->rest holds the remainder). */
void http_server_route_admin(struct http_server *h, const char *path, unsigned methods, bool prefix,
                             http_handler_fn fn, void *arg);
/* The last route added (an admin one) takes bodies up to body_max bytes instead of
 * HTTP_BODY_MAX: a broker-to-broker route whose payload is state, not a command. */
void http_server_route_body_max(struct http_server *h, uint32_t body_max);
/* Requires `Authorization: Bearer <token>` from now on; "" turns it off. The string is read at
 * each request, not copied: it must outlive the server (the broker's config, which a reload
 * rewrites in place). */
void http_server_set_token(struct http_server *h, const char *token);
/* A second token that serves the read routes (GET of what is not admin: /varz, /metrics, ...)
 * and never an admin route (403), for a scraper or a dashboard that must not manage users or
 * the cluster. With only this one set, reads need it and admin routes a client certificate.
 * Borrowed as the token is. */
void http_server_set_read_token(struct http_server *h, const char *token);

/* The value of key in a query string ("a=1&b=x"), copied into out (cap bytes, NUL-terminated,
 * %XX and '+' decoded); false if absent. */
bool http_query_get(const char *query, const char *key, char *out, size_t cap);
/* Decodes %XX in s[0..len) into out (cap bytes, NUL-terminated); false if malformed, if the
 * result holds a NUL or does not fit. '+' stays '+' (a path, not a form). */
bool http_path_decode(const char *s, size_t len, char *out, size_t cap);
/* Sets rs->body to a copy of the NUL-terminated text. */
void http_response_set(struct http_response *rs, int status, const char *content_type, const char *text);

#endif
