/* peer.c: blocking exchanges with another broker (see peer.h). */
#include "broker/net/peer.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/base.h"

int peer_connect(const char *host, const char *port, uint32_t timeout_ms, char *err, size_t err_len) {
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
    if (out >= 0 && err_len) err[0] = 0;
    return out;
}

static bool peer_io(int fd, bool out, uint8_t *p, size_t n, const char *who, char *err, size_t err_len) {
    while (n) {
        ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            snprintf(err, err_len, "%s %s: %s", out ? "sending to" : "reading from", who,
                     k == 0 ? "connection closed" : strerror(errno));
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

bool peer_exchange(int fd, const uint8_t *req, size_t req_len, uint32_t max, uint8_t **frame, uint32_t *frame_len,
                   const char *who, char *err, size_t err_len) {
    *frame = NULL;
    *frame_len = 0;
    uint8_t size[4];
    if (!peer_io(fd, true, (uint8_t *)req, req_len, who, err, err_len) ||
        !peer_io(fd, false, size, 4, who, err, err_len))
        return false;
    uint32_t len = sl_load_be32(size);
    if (len < 4 || len > max) {
        snprintf(err, err_len, "answer of %u bytes from %s", len, who);
        return false;
    }
    uint8_t *buf = sl_xmalloc(len);
    if (!peer_io(fd, false, buf, len, who, err, err_len)) {
        free(buf);
        return false;
    }
    *frame = buf;
    *frame_len = len;
    return true;
}
