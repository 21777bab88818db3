/* http_client.c: see http_client.h. */
#include "broker/http/http_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker/net/tls_client.h"

/* Milliseconds left until deadline (CLOCK_MONOTONIC), at least 0. */
static int ms_left(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : (int)ms;
}

/* Waits for fd to be ready for events within the deadline: true if it is. */
static bool fd_wait(int fd, short events, const struct timespec *deadline) {
    struct pollfd p = {fd, events, 0};
    int left = ms_left(deadline);
    return left > 0 && poll(&p, 1, left) == 1 && (p.revents & (events | POLLHUP | POLLERR));
}

/* Waits as a TLS call asked; false when the deadline passed or the call failed. */
static bool tls_wait(int fd, enum tls_client_rc rc, const struct timespec *deadline) {
    if (rc == TLS_CLIENT_WANT_READ) return fd_wait(fd, POLLIN, deadline);
    if (rc == TLS_CLIENT_WANT_WRITE) return fd_wait(fd, POLLOUT, deadline);
    return false;
}

struct link {
    int fd;
    struct tls_client *tls; /* NULL: plain TCP */
    const struct timespec *deadline;
};

static bool link_send(struct link *l, const char *p, size_t n, char *err, size_t err_len) {
    for (size_t sent = 0; sent < n;) {
        if (l->tls) {
            size_t done = 0;
            enum tls_client_rc rc = tls_client_write(l->tls, p + sent, n - sent, &done);
            sent += done;
            if (rc == TLS_CLIENT_DONE || tls_wait(l->fd, rc, l->deadline)) continue;
            snprintf(err, err_len, "%s", rc == TLS_CLIENT_ERROR ? tls_client_error(l->tls) : "send timed out");
            return false;
        }
        ssize_t w = send(l->fd, p + sent, n - sent, MSG_NOSIGNAL);
        if (w > 0) sent += (size_t)w;
        else if (w < 0 && errno == EAGAIN && fd_wait(l->fd, POLLOUT, l->deadline)) continue;
        else {
            snprintf(err, err_len, "send failed");
            return false;
        }
    }
    return true;
}

/* Reads until want bytes, EOF or the deadline; the count read. */
static size_t link_recv(struct link *l, char *p, size_t want) {
    size_t got = 0;
    while (got < want) {
        if (l->tls) {
            size_t n = 0;
            enum tls_client_rc rc = tls_client_read(l->tls, p + got, want - got, &n);
            if (rc == TLS_CLIENT_DONE && n == 0) break;
            got += n;
            if (rc == TLS_CLIENT_DONE || tls_wait(l->fd, rc, l->deadline)) continue;
            break;
        }
        if (!fd_wait(l->fd, POLLIN, l->deadline)) break;
        ssize_t r = recv(l->fd, p + got, want - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

int http_client_post(const char *hostport, const char *path, const char *token, const char *body, void *tls_ctx,
                     uint32_t timeout_ms, char *err, size_t err_len) {
    char host[300];
    if (snprintf(host, sizeof(host), "%s", hostport) >= (int)sizeof(host))
        return snprintf(err, err_len, "address too long"), -1;
    char *colon = strrchr(host, ':');
    if (!colon) return snprintf(err, err_len, "bad address %s", hostport), -1;
    *colon = '\0';
    /* "[::1]:8222": the brackets are the URL's, not the address's. */
    char *name = host;
    if (name[0] == '[' && colon > name + 1 && colon[-1] == ']') {
        name++;
        colon[-1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(name, colon + 1, &hints, &ai);
    if (g != 0) return snprintf(err, err_len, "%s: %s", hostport, gai_strerror(g)), -1;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    struct link l = {.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
                     .deadline = &deadline};
    int status = -1;
    char *req = NULL;
    if (l.fd < 0 || (connect(l.fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) ||
        !fd_wait(l.fd, POLLOUT, &deadline)) {
        snprintf(err, err_len, "cannot connect to %s", hostport);
        goto out;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(l.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        snprintf(err, err_len, "cannot connect to %s: %s", hostport, strerror(soerr ? soerr : errno));
        goto out;
    }
    if (tls_ctx) {
        l.tls = tls_client_new(tls_ctx, l.fd, name, err, err_len);
        if (!l.tls) goto out;
        enum tls_client_rc rc;
        while ((rc = tls_client_handshake(l.tls)) != TLS_CLIENT_DONE) {
            if (!tls_wait(l.fd, rc, &deadline)) {
                snprintf(err, err_len, "%s: %s", hostport,
                         rc == TLS_CLIENT_ERROR ? tls_client_error(l.tls) : "TLS handshake timed out");
                goto out;
            }
        }
    }
    size_t blen = strlen(body);
    size_t cap = blen + strlen(hostport) + strlen(token) + strlen(path) + 200;
    req = malloc(cap);
    if (!req) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    int n = snprintf(req, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, hostport, token, blen, body);
    if (n <= 0 || (size_t)n >= cap) {
        snprintf(err, err_len, "the request does not fit");
        goto out;
    }
    if (!link_send(&l, req, (size_t)n, err, err_len)) goto out;
    char resp[64];
    size_t got = link_recv(&l, resp, 12);
    resp[got] = '\0';
    if (got < 12 || strncmp(resp, "HTTP/1.", 7) != 0) snprintf(err, err_len, "no answer from %s", hostport);
    else status = atoi(resp + 9);
out:
    free(req);
    tls_client_free(l.tls);
    if (l.fd >= 0) close(l.fd);
    freeaddrinfo(ai);
    return status;
}
