/* fuzz_http.c: the monitoring port's HTTP request handling (broker/http/http_server.c on
 * libhttp-parser): the input is whatever a client sends on one connection, through a real
 * socket to a real server on the loop, as the broker runs it. Routes answer with what
 * http_query_get decodes from the query. The server must answer and close (or keep the
 * connection until the client's EOF) within a bounded number of loop turns, and every
 * response must start with a status line. A token is set (its Authorization header is parsed
 * from pieces), with /healthz open and /varz, /metrics behind it, and the admin routes
 * /v1/security/users (exact and prefix) that read a body of up to HTTP_BODY_MAX. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/logging.h"
#include "base/loop.h"
#include "broker/http/http_server.h"

static struct loop loop;
static struct http_server hs;

static void finding(const char *what) {
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

static void route(void *arg, const struct http_request *rq, struct http_response *rs) {
    (void)arg;
    char v[64], big[4096];
    char body[4300];
    bool a = http_query_get(rq->query, "subs", v, sizeof(v));
    bool b = http_query_get(rq->query, "x", big, sizeof(big));
    /* Admin routes: the body and the prefix route's rest are read whole, as a handler would. */
    size_t sum = 0;
    for (size_t i = 0; i < rq->body_len; i++) sum += (unsigned char)rq->body[i];
    char user[300];
    bool d = http_path_decode(rq->rest, strlen(rq->rest), user, sizeof(user));
    snprintf(body, sizeof(body), "{\"path\":\"%.64s\",\"subs\":%d,\"x\":%d,\"body\":%zu,\"user\":%d}", rq->path, a,
             b, sum, d);
    http_response_set(rs, 200, "application/json", body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 64 * 1024) return 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* Each connection from another 127/8 source address: closed connections sit in TIME_WAIT
     * for a minute, and thousands a second would use up the ephemeral ports of one address. */
    static uint32_t source;
    source++;
    uint32_t host = 1 + source % 254, net = (source / 254) % (1u << 15); /* 127.128.0.1 onwards */
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 23) | (net << 8) | host);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(hs.ls.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) finding("cannot bind");
    /* libFuzzer's timers send signals: a blocking connect or write may return EINTR. */
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc != 0 && errno == EINTR) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        while (poll(&pfd, 1, 5000) < 0 && errno == EINTR) {
        }
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        rc = err ? -1 : 0;
        errno = err;
    }
    if (rc != 0) {
        perror("fuzz_http: connect");
        finding("cannot connect");
    }
    /* Loopback buffers hold 64 KiB: the write never blocks for long. */
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) finding("write failed");
        done += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    char buf[65536];
    size_t got = 0;
    bool eof = false;
    for (int turn = 0; turn < 2000 && !eof; turn++) {
        loop_run_once(&loop, 1);
        for (;;) {
            ssize_t n = read(fd, buf + (got < sizeof(buf) ? got : 0), got < sizeof(buf) ? sizeof(buf) - got : sizeof(buf));
            if (n > 0) {
                got += (size_t)n;
                continue;
            }
            if (n == 0) eof = true;
            else if (errno != EAGAIN && errno != ECONNRESET && errno != EINTR) finding("read failed");
            if (n < 0 && errno == ECONNRESET) eof = true;
            break;
        }
    }
    if (!eof) finding("the server neither answered nor closed");
    if (got && (got < 9 || memcmp(buf, "HTTP/1.1 ", 9))) finding("a response without a status line");
    close(fd);
    /* Let the server reap its side, so connections do not pile up across inputs. */
    for (int turn = 0; turn < 4; turn++) loop_run_once(&loop, 0);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    sl_log_level_max = SL_LOG_ERROR;
    if (loop_init(&loop, 256) != 0) abort();
    if (http_server_start(&hs, &loop, "127.0.0.1", 0, 64) != 0) abort();
    http_server_set_token(&hs, "fuzz-token");
    http_server_set_read_token(&hs, "fuzz-read-token");
    http_server_route_open(&hs, "/healthz", route, NULL);
    http_server_route(&hs, "/varz", route, NULL);
    http_server_route(&hs, "/metrics", route, NULL);
    http_server_route_admin(&hs, "/v1/security/users", HTTP_M_GET | HTTP_M_POST, false, route, NULL);
    http_server_route_admin(&hs, "/v1/security/users", HTTP_M_DELETE, true, route, NULL);
    return 0;
}
