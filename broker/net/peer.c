/* peer.c: blocking exchanges with another broker (see peer.h). Plain TCP blocks with socket
 * timeouts; over TLS the socket is non-blocking and each OpenSSL call that wants to wait polls
 * within the same per-operation timeout. */
#include "broker/net/peer.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/base.h"
#include "broker/net/tls_client.h"

static int peer_connect_fd(const char *host, const char *port, uint32_t timeout_ms, char *err, size_t err_len) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_len, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int out = -1;
    for (struct addrinfo *ai = res; ai && out < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            out = fd;
        } else {
            snprintf(err, err_len, "cannot connect to %s:%s: %s", host, port, strerror(errno));
            close(fd);
        }
    }
    freeaddrinfo(res);
    return out;
}

/* Waits as a TLS call asked, within the timeout; false when it passed or the call failed. */
static bool peer_tls_wait(const struct peer *p, enum tls_client_rc rc) {
    short ev = rc == TLS_CLIENT_WANT_READ ? POLLIN : rc == TLS_CLIENT_WANT_WRITE ? POLLOUT : 0;
    if (!ev) return false;
    struct pollfd pf = {p->fd, ev, 0};
    int n;
    do {
        n = poll(&pf, 1, (int)p->timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n == 1;
}

bool peer_open(struct peer *p, const char *host, const char *port, void *tls_ctx, uint32_t timeout_ms, char *err,
               size_t err_len) {
    p->tls = NULL;
    p->timeout_ms = timeout_ms;
    snprintf(p->who, sizeof(p->who), "%s:%s", host, port);
    p->fd = peer_connect_fd(host, port, timeout_ms, err, err_len);
    if (p->fd < 0) return false;
    if (tls_ctx) {
        int fl = fcntl(p->fd, F_GETFL);
        if (fl < 0 || fcntl(p->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            snprintf(err, err_len, "%s: %s", p->who, strerror(errno));
            peer_close(p);
            return false;
        }
        p->tls = tls_client_new(tls_ctx, p->fd, host, err, err_len);
        if (!p->tls) {
            peer_close(p);
            return false;
        }
        enum tls_client_rc rc;
        while ((rc = tls_client_handshake(p->tls)) != TLS_CLIENT_DONE) {
            if (!peer_tls_wait(p, rc)) {
                snprintf(err, err_len, "TLS with %s: %s", p->who,
                         rc == TLS_CLIENT_ERROR ? tls_client_error(p->tls) : "handshake timed out");
                peer_close(p);
                return false;
            }
        }
    }
    if (err_len) err[0] = 0;
    return true;
}

void peer_close(struct peer *p) {
    tls_client_free(p->tls);
    p->tls = NULL;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
}

static bool peer_io(struct peer *p, bool out, uint8_t *b, size_t n, char *err, size_t err_len) {
    while (n) {
        size_t k = 0;
        if (p->tls) {
            enum tls_client_rc rc = out ? tls_client_write(p->tls, b, n, &k) : tls_client_read(p->tls, b, n, &k);
            if (rc != TLS_CLIENT_DONE) {
                if (peer_tls_wait(p, rc)) continue;
                snprintf(err, err_len, "%s %s: %s", out ? "sending to" : "reading from", p->who,
                         rc == TLS_CLIENT_ERROR ? tls_client_error(p->tls) : "timed out");
                return false;
            }
            if (k == 0) {
                snprintf(err, err_len, "reading from %s: connection closed", p->who);
                return false;
            }
        } else {
            ssize_t r = out ? send(p->fd, b, n, MSG_NOSIGNAL) : recv(p->fd, b, n, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                snprintf(err, err_len, "%s %s: %s", out ? "sending to" : "reading from", p->who,
                         r == 0 ? "connection closed" : strerror(errno));
                return false;
            }
            k = (size_t)r;
        }
        b += k;
        n -= k;
    }
    return true;
}

bool peer_exchange(struct peer *p, const uint8_t *req, size_t req_len, uint32_t max, uint8_t **frame,
                   uint32_t *frame_len, char *err, size_t err_len) {
    *frame = NULL;
    *frame_len = 0;
    uint8_t size[4];
    if (p->fd < 0) {
        snprintf(err, err_len, "%s: not connected", p->who);
        return false;
    }
    if (!peer_io(p, true, (uint8_t *)req, req_len, err, err_len) || !peer_io(p, false, size, 4, err, err_len))
        return false;
    uint32_t len = sl_load_be32(size);
    if (len < 4 || len > max) {
        snprintf(err, err_len, "answer of %u bytes from %s", len, p->who);
        return false;
    }
    uint8_t *buf = sl_xmalloc(len);
    if (!peer_io(p, false, buf, len, err, err_len)) {
        free(buf);
        return false;
    }
    *frame = buf;
    *frame_len = len;
    return true;
}
