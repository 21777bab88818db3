/* http_server.c: the monitoring port's HTTP/1.1 (see http_server.h). http-parser is a streaming
 * parser: every byte received goes through it once and is consumed, so a request split over
 * many reads needs no reassembly here; the URL pieces are gathered into a bounded buffer. */
#include "broker/http/http_server.h"

#include <http_parser.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/net/conn.h"

#define HTTP_URL_MAX 2048

struct hconn {
    struct http_server *h;
    struct conn *c;
    http_parser p;
    char url[HTTP_URL_MAX + 1];
    size_t url_len;
    size_t head_bytes;
    bool in_request;
    uint64_t request_start_ms;
    int refuse; /* a status to answer before closing (413, 414, 431), 0: none */
    bool closing;
    /* The Authorization header, gathered across reads: http-parser hands a name or a value over
     * in pieces, and a value follows its name. */
    char hname[16];     /* the header name being read, cut at 15 bytes ("authorization" is 13) */
    size_t hname_len;
    bool in_value;      /* the last piece was a value: the next name piece starts a new header */
    bool in_auth;       /* the value being read is Authorization's */
    uint32_t auth_seen; /* Authorization headers in this request; more than one is refused */
    bool auth_long;     /* its value was over HTTP_TOKEN_MAX */
    char auth[HTTP_TOKEN_MAX + 1];
    size_t auth_len;
    char *body;         /* an admin POST's body being read: body_len of body_cap bytes (+1 for a NUL) */
    size_t body_len, body_cap;
    unsigned allow;     /* a 405's Allow header: the route's methods */
    struct http_pending *pending; /* a deferred answer: parsing and reading wait for it */
};

struct http_pending {
    struct hconn *hc; /* NULL once the connection closed */
    bool head, keep;
};

static const char *http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void http_response_set(struct http_response *rs, int status, const char *content_type, const char *text) {
    free(rs->body);
    rs->status = status;
    rs->content_type = content_type;
    rs->len = strlen(text);
    rs->body = sl_xmalloc(rs->len + 1);
    memcpy(rs->body, text, rs->len + 1);
}

/* Queues status line, headers and (unless HEAD) the body; takes the body. A 401 carries the
 * challenge: RFC 6750's error="invalid_token" when a token was sent and is wrong. */
static void hconn_send(struct hconn *hc, struct http_response *rs, bool head, bool keep_alive) {
    static const char *const allow_names[8] = {"GET, HEAD",         "GET, HEAD",         "POST",
                                               "GET, HEAD, POST",   "DELETE",            "GET, HEAD, DELETE",
                                               "POST, DELETE",      "GET, HEAD, POST, DELETE"};
    char hdr[512], allow[64];
    const char *extra = "";
    if (rs->status == 405) {
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", allow_names[hc->allow & 7]);
        extra = allow;
    }
    else if (rs->status == 401 && hc->auth_seen)
        extra = "WWW-Authenticate: Bearer realm=\"sluice\", error=\"invalid_token\"\r\n";
    else if (rs->status == 401) extra = "WWW-Authenticate: Bearer realm=\"sluice\"\r\n";
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n", rs->status,
                     http_reason(rs->status), rs->content_type ? rs->content_type : "application/json", rs->len,
                     extra,
                     keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    SL_ASSERT(n > 0 && (size_t)n < sizeof(hdr));
    conn_send_copy(hc->c, hdr, (uint32_t)n);
    if (!head && rs->len) conn_send_mem(hc->c, (uint8_t *)rs->body, (uint32_t)rs->len);
    else free(rs->body);
    rs->body = NULL;
    hc->h->requests++;
    if (rs->status < 200 || rs->status >= 300) hc->h->errors++;
}

/* Answers status with a one-line JSON error and closes once it is sent. */
static void hconn_refuse(struct hconn *hc, int status) {
    if (hc->closing) return;
    char body[128];
    snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", http_reason(status));
    struct http_response rs = {0};
    http_response_set(&rs, status, "application/json", body);
    hconn_send(hc, &rs, false, false);
    hc->closing = true;
    conn_close_after_send(hc->c, http_reason(status));
}

static int on_message_begin(http_parser *p) {
    struct hconn *hc = p->data;
    hc->url_len = 0;
    hc->head_bytes = 0;
    hc->refuse = 0;
    hc->hname_len = 0;
    hc->in_value = true; /* the first name piece starts a header */
    hc->in_auth = false;
    hc->auth_seen = 0;
    hc->auth_long = false;
    hc->auth_len = 0;
    free(hc->body);
    hc->body = NULL;
    hc->body_len = hc->body_cap = 0;
    hc->allow = HTTP_M_GET;
    if (!hc->in_request) {
        hc->in_request = true;
        hc->request_start_ms = loop_mono_ms(hc->h->loop);
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
    struct hconn *hc = p->data;
    hc->head_bytes += len;
    if (hc->url_len + len > HTTP_URL_MAX) {
        hc->refuse = 414;
        return 1;
    }
    memcpy(hc->url + hc->url_len, at, len);
    hc->url_len += len;
    return 0;
}

static int on_header_piece(http_parser *p, const char *at, size_t len) {
    struct hconn *hc = p->data;
    (void)at;
    hc->head_bytes += len;
    if (hc->head_bytes > HTTP_HEAD_MAX) {
        hc->refuse = 431;
        return 1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    struct hconn *hc = p->data;
    if (hc->in_value) {
        hc->in_value = false;
        hc->hname_len = 0;
    }
    /* A name too long for hname is not Authorization: it is kept cut, and compares unequal. */
    size_t room = sizeof(hc->hname) - 1 - hc->hname_len;
    size_t take = len < room ? len : room;
    memcpy(hc->hname + hc->hname_len, at, take);
    hc->hname_len += take;
    return on_header_piece(p, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    struct hconn *hc = p->data;
    if (!hc->in_value) {
        hc->in_value = true;
        hc->hname[hc->hname_len] = 0;
        hc->in_auth = !strcasecmp(hc->hname, "authorization");
        if (hc->in_auth) {
            hc->auth_seen++;
            hc->auth_len = 0;
        }
    }
    if (hc->in_auth) {
        if (hc->auth_len + len > HTTP_TOKEN_MAX) hc->auth_long = true;
        else {
            memcpy(hc->auth + hc->auth_len, at, len);
            hc->auth_len += len;
        }
    }
    return on_header_piece(p, at, len);
}

/* True if the request carries exactly one `Authorization: Bearer <token>` with the server's
 * token. Both sides are hashed first so the comparison takes the same time for any token sent,
 * whatever its length. */
static bool hconn_authorized(const struct hconn *hc, const char *token) {
    if (hc->auth_seen != 1 || hc->auth_long) return false;
    const char *v = hc->auth;
    size_t n = hc->auth_len;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0) return false; /* the scheme is case-insensitive */
    v += 7;
    n -= 7;
    while (n && *v == ' ') {
        v++;
        n--;
    }
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int al = 0, bl = 0;
    if (!EVP_Digest(v, n, a, &al, EVP_sha256(), NULL) || !EVP_Digest(token, strlen(token), b, &bl, EVP_sha256(), NULL))
        return false;
    return al == bl && CRYPTO_memcmp(a, b, al) == 0;
}

/* Cuts url (NUL-terminated, in place) at '?' and '#' and drops trailing slashes (nats-server
 * answers "/varz/" as "/varz"); returns the query ("" if none). */
static const char *http_url_split(char *url) {
    char *q = strchr(url, '?');
    const char *query = "";
    if (q) {
        *q = 0;
        query = q + 1;
    }
    char *frag = strchr(url, '#');
    if (frag) *frag = 0;
    size_t pl = strlen(url);
    while (pl > 1 && url[pl - 1] == '/') url[--pl] = 0;
    return query;
}

/* The route serving path, or -1; *rest: what a prefix route leaves after "<prefix>/". */
static int http_route_find(const struct http_server *h, const char *path, const char **rest) {
    *rest = "";
    for (uint32_t i = 0; i < h->route_count; i++)
        if (!h->routes[i].prefix && !strcmp(h->routes[i].path, path)) return (int)i;
    for (uint32_t i = 0; i < h->route_count; i++) {
        size_t n = strlen(h->routes[i].path);
        if (h->routes[i].prefix && !strncmp(h->routes[i].path, path, n) && path[n] == '/' && path[n + 1]) {
            *rest = path + n + 1;
            return (int)i;
        }
    }
    return -1;
}

static unsigned http_method_bit(unsigned method) {
    switch (method) {
    case HTTP_GET:
    case HTTP_HEAD: return HTTP_M_GET;
    case HTTP_POST: return HTTP_M_POST;
    case HTTP_DELETE: return HTTP_M_DELETE;
    default: return 0;
    }
}

static int on_headers_complete(http_parser *p) {
    struct hconn *hc = p->data;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    if (!chunked && (p->content_length == 0 || p->content_length == ULLONG_MAX)) return 0;
    /* Only an admin route reads a body (its handler decides what a method may carry, so a wrong
     * method still gets its 405), and a bounded one: refuse anything else, or too large by
     * Content-Length, before a byte of it is read. */
    char path[HTTP_URL_MAX + 1];
    memcpy(path, hc->url, hc->url_len);
    path[hc->url_len] = 0;
    http_url_split(path);
    const char *rest;
    int r = http_route_find(hc->h, path, &rest);
    bool takes = r >= 0 && hc->h->routes[r].admin;
    uint64_t max = takes ? hc->h->routes[r].body_max : 0;
    uint64_t cap = chunked ? max : p->content_length;
    if (!takes || cap > max) {
        hc->refuse = 413;
        return -1;
    }
    hc->body = sl_xmalloc((size_t)cap + 1);
    hc->body_cap = (size_t)cap;
    hc->body_len = 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    struct hconn *hc = p->data;
    if (!hc->body || len > hc->body_cap - hc->body_len) { /* chunked past the route's body_max */
        hc->refuse = 413;
        return 1;
    }
    memcpy(hc->body + hc->body_len, at, len);
    hc->body_len += len;
    return 0;
}

/* May this request use an admin route? The token when one is set (with tls_verify the handshake
 * has checked the certificate too); without a token, only a verified client certificate. */
static bool hconn_admin_allowed(const struct hconn *hc) {
    const char *token = hc->h->token;
    if (token && token[0]) return hconn_authorized(hc, token);
    return conn_tls_peer_verified(hc->c);
}

static void http_dispatch(struct hconn *hc, struct http_response *rs, bool *head) {
    struct http_server *h = hc->h;
    http_parser *p = &hc->p;
    *head = p->method == HTTP_HEAD;
    unsigned m = http_method_bit(p->method);
    hc->url[hc->url_len] = 0;
    const char *query = http_url_split(hc->url);
    const char *rest;
    int r = http_route_find(h, hc->url, &rest);
    if (r >= 0 && h->routes[r].admin) {
        if (!hconn_admin_allowed(hc)) {
            http_response_set(rs, 403, "application/json",
                              "{\"error\":\"Forbidden: an admin route needs the http_token, or a client "
                              "certificate verified by the CA (https_port with tls_verify)\"}\n");
            return;
        }
        if (!(m & h->routes[r].methods)) {
            hc->allow = h->routes[r].methods;
            http_response_set(rs, 405, "application/json", "{\"error\":\"Method Not Allowed\"}\n");
            return;
        }
    } else {
        if (m != HTTP_M_GET) {
            http_response_set(rs, 405, "application/json", "{\"error\":\"Method Not Allowed\"}\n");
            return;
        }
        bool open = r >= 0 && h->routes[r].open;
        bool tok = h->token && h->token[0], rtok = h->read_token && h->read_token[0];
        /* Either token reads; both are hashed and compared whatever the first gave, so the time
         * says nothing about which one a guess came close to. */
        bool ok_tok = tok && hconn_authorized(hc, h->token);
        bool ok_rtok = rtok && hconn_authorized(hc, h->read_token);
        if (!open && (tok || rtok) && !ok_tok && !ok_rtok) {
            http_response_set(rs, 401, "application/json", "{\"error\":\"Unauthorized\"}\n");
            return;
        }
        if (r < 0) {
            http_response_set(rs, 404, "application/json", "{\"error\":\"Not Found\"}\n");
            return;
        }
    }
    if (hc->body) hc->body[hc->body_len] = 0;
    struct http_request rq = {hc, hc->url, query, *head, m, rest, hc->body ? hc->body : "", hc->body_len, hc->c->peer};
    rs->status = 200;
    rs->content_type = "application/json";
    h->routes[r].fn(h->routes[r].arg, &rq, rs);
    if (!rs->body && !hc->pending) http_response_set(rs, rs->status, rs->content_type, "");
}

struct http_pending *http_defer(const struct http_request *rq) {
    struct hconn *hc = rq->hc;
    SL_ASSERT(!hc->pending);
    struct http_pending *p = sl_xcalloc(1, sizeof(*p));
    p->hc = hc;
    p->head = rq->head;
    hc->pending = p;
    return p;
}

void http_pending_answer(struct http_pending *p, struct http_response *rs) {
    struct hconn *hc = p->hc;
    bool head = p->head, keep = p->keep;
    free(p);
    if (!hc) {
        free(rs->body);
        rs->body = NULL;
        return;
    }
    hc->pending = NULL;
    if (!rs->status) rs->status = 200;
    if (!rs->body) http_response_set(rs, rs->status, rs->content_type ? rs->content_type : "application/json", "");
    hconn_send(hc, rs, head, keep);
    if (!keep) {
        hc->closing = true;
        conn_close_after_send(hc->c, "http: not keep-alive");
        return;
    }
    /* What the client pipelined behind it waited in the buffer: parse on. */
    http_parser_pause(&hc->p, 0);
    conn_resume_recv(hc->c);
}

static int on_message_complete(http_parser *p) {
    struct hconn *hc = p->data;
    hc->in_request = false;
    struct http_response rs = {0};
    bool head = false;
    http_dispatch(hc, &rs, &head);
    bool keep = http_should_keep_alive(p) != 0;
    if (hc->pending) { /* answered later: stop parsing here until then (http_pending_answer) */
        hc->pending->keep = keep;
        free(rs.body);
        if (hc->body) OPENSSL_cleanse(hc->body, hc->body_len);
        free(hc->body);
        hc->body = NULL;
        http_parser_pause(p, 1);
        return 0;
    }
    hconn_send(hc, &rs, head, keep);
    if (hc->body) OPENSSL_cleanse(hc->body, hc->body_len); /* it may hold a password */
    free(hc->body);
    hc->body = NULL;
    if (!keep) {
        hc->closing = true;
        conn_close_after_send(hc->c, "http: not keep-alive");
        return 1; /* stop: nothing after this request is read */
    }
    return 0;
}

static const http_parser_settings http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static bool http_on_data(struct conn *c) {
    struct hconn *hc = c->proto;
    if (hc->closing) {
        conn_consume(c, conn_input_len(c));
        return true;
    }
    if (hc->pending) { /* a deferred answer first: the bytes wait */
        conn_pause_recv(c);
        return true;
    }
    size_t n = conn_input_len(c);
    size_t used = http_parser_execute(&hc->p, &http_settings, (const char *)conn_input(c), n);
    if (hc->pending && !hc->closing) { /* paused after a deferred request: the rest waits for its answer */
        conn_consume(c, used);
        conn_pause_recv(c);
        return true;
    }
    conn_consume(c, n);
    if (hc->closing) return true;
    enum http_errno err = HTTP_PARSER_ERRNO(&hc->p);
    if (err != HPE_OK || used != n) {
        hconn_refuse(hc, hc->refuse ? hc->refuse : 400);
        return true;
    }
    if (hc->in_request && loop_mono_ms(hc->h->loop) - hc->request_start_ms > HTTP_REQUEST_MS) {
        hconn_refuse(hc, 408); /* dripping a request in byte by byte (slowloris) */
        return true;
    }
    return true;
}

static void http_on_drain(struct conn *c) { (void)c; }

static void http_on_close(struct conn *c) {
    struct hconn *hc = c->proto;
    if (hc->pending) hc->pending->hc = NULL; /* its answer finds no one */
    if (hc->body) OPENSSL_cleanse(hc->body, hc->body_len);
    free(hc->body);
    free(c->proto);
    c->proto = NULL;
}

static const struct conn_ops http_conn_ops = {http_on_data, http_on_drain, http_on_close, false};

static void http_on_open(struct conn *c) {
    struct hconn *hc = sl_xcalloc(1, sizeof(*hc));
    hc->h = c->listener->arg;
    hc->c = c;
    http_parser_init(&hc->p, HTTP_REQUEST);
    hc->p.data = hc;
    c->proto = hc;
}

int http_server_start(struct http_server *h, struct loop *l, const char *host, uint16_t port, uint32_t conn_max) {
    h->loop = l;
    int rc = listener_start(&h->ls, l, "http", host, port, &http_conn_ops, http_on_open, h, conn_max, 64u << 10);
    if (rc < 0) return rc;
    listener_set_idle(&h->ls, HTTP_IDLE_MS);
    h->running = true;
    return 0;
}

void http_server_stop(struct http_server *h) {
    if (!h->running) return;
    listener_stop(&h->ls);
    h->running = false;
}

void http_server_route(struct http_server *h, const char *path, http_handler_fn fn, void *arg) {
    SL_ASSERT(h->route_count < HTTP_ROUTES_MAX && strlen(path) < sizeof(h->routes[0].path));
    snprintf(h->routes[h->route_count].path, sizeof(h->routes[0].path), "%s", path);
    h->routes[h->route_count].fn = fn;
    h->routes[h->route_count].arg = arg;
    h->routes[h->route_count].open = false;
    h->routes[h->route_count].admin = false;
    h->routes[h->route_count].prefix = false;
    h->routes[h->route_count].methods = HTTP_M_GET;
    h->route_count++;
}

void http_server_route_open(struct http_server *h, const char *path, http_handler_fn fn, void *arg) {
    http_server_route(h, path, fn, arg);
    h->routes[h->route_count - 1].open = true;
}

void http_server_route_admin(struct http_server *h, const char *path, unsigned methods, bool prefix,
                             http_handler_fn fn, void *arg) {
    SL_ASSERT(methods && !(methods & ~(unsigned)(HTTP_M_GET | HTTP_M_POST | HTTP_M_DELETE)));
    http_server_route(h, path, fn, arg);
    h->routes[h->route_count - 1].admin = true;
    h->routes[h->route_count - 1].prefix = prefix;
    h->routes[h->route_count - 1].methods = methods;
    h->routes[h->route_count - 1].body_max = HTTP_BODY_MAX;
}

void http_server_route_body_max(struct http_server *h, uint32_t body_max) {
    SL_ASSERT(h->route_count && h->routes[h->route_count - 1].admin);
    h->routes[h->route_count - 1].body_max = body_max;
}

void http_server_set_token(struct http_server *h, const char *token) { h->token = token; }
void http_server_set_read_token(struct http_server *h, const char *token) { h->read_token = token; }

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

bool http_query_get(const char *query, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) >= kl && !strncmp(p, key, kl) && (p[kl] == '=' || p + kl == end)) {
            const char *v = p[kl] == '=' ? p + kl + 1 : end;
            size_t n = 0;
            while (v < end && n + 1 < cap) {
                if (*v == '%' && end - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    out[n++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 3;
                } else {
                    out[n++] = *v == '+' ? ' ' : *v;
                    v++;
                }
            }
            out[n] = 0;
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

bool http_path_decode(const char *s, size_t len, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (len - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return false;
            ch = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (ch == 0 || n + 1 >= cap) return false;
        out[n++] = ch;
    }
    out[n] = 0;
    return true;
}
