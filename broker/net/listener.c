/* listener.c: a TCP listening socket on the loop; accepts connections and hands them to a
 * protocol (see conn.h). Over max_connections a new connection is closed at once, which is
 * what nats-server and Kafka do at their limits (Kafka: max.connections).
 *
 * When accept itself fails for want of resources (EMFILE, ENFILE: no descriptor; ENOBUFS,
 * ENOMEM) the connection stays in the kernel's backlog, so accepting again at once fails again
 * at once: a busy loop and a log line per turn. As nginx does, accepting pauses instead
 * (LISTENER_BACKOFF_MS, a timer) and resumes by itself; the backlog is served once descriptors
 * are free. Both kinds of refusal are logged at most once per LISTENER_LOG_EVERY_MS, with the
 * count since the last line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/net/conn.h"
#include "broker/net/listener.h"
#include "broker/net/tls.h"

#define LISTENER_BACKOFF_MS 100
#define LISTENER_LOG_EVERY_MS 1000

static void listener_arm(struct listener *ls);
static void listener_take(struct listener *ls, int fd);

/* Counts one event; true when a line is due (the caller logs *count, then it restarts). */
static bool listener_log_due(struct listener *ls, uint64_t *count, uint64_t *last_ms) {
    uint64_t now = loop_mono_ms(ls->loop);
    (*count)++;
    if (*last_ms && now - *last_ms < LISTENER_LOG_EVERY_MS) return false;
    *last_ms = now ? now : 1;
    return true;
}

static void listener_backoff_fire(struct loop_timer *t, uint64_t now_ms) {
    struct listener *ls = sl_container_of(t, struct listener, backoff_timer);
    (void)now_ms;
    listener_arm(ls);
}

static bool listener_out_of_resources(int32_t res) {
    return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

void listener_conn_gone(struct conn *c) {
    struct listener *ls = c->listener;
    if (!ls) return;
    if (c->list_prev) c->list_prev->list_next = c->list_next;
    else ls->conns = c->list_next;
    if (c->list_next) c->list_next->list_prev = c->list_prev;
    ls->conn_count--;
    /* After a crowd of connections leaves, hand their freed buffers back to the kernel: glibc
     * keeps a fragmented heap otherwise (10,000 NATS connections left 43 MB behind). Once per
     * halving of the count, so a trim never runs per connection. */
    if (ls->conn_peak >= LISTENER_TRIM_PEAK && ls->conn_count * 2 < ls->conn_peak) {
        malloc_trim(0);
        ls->conn_peak = ls->conn_count;
    }
}

static void listener_peer(int fd, char *out, size_t cap) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(out, cap, "%s:%u", ip, port);
}

static void listener_on_accept(struct io_op *op, int32_t res) {
    struct listener *ls = sl_container_of(op, struct listener, accept_op);
    ls->accept_inflight = false;
    if (ls->closing) {
        if (res >= 0) close(res);
        return;
    }
    if (listener_out_of_resources(res)) {
        if (listener_log_due(ls, &ls->accept_failures, &ls->accept_failures_log_ms)) {
            SL_WARN("%s: accept: %s (%u connections open); pausing accepts for %d ms, %llu failure(s) "
                    "since the last report", ls->name, strerror(-res), ls->conn_count, LISTENER_BACKOFF_MS,
                    (unsigned long long)ls->accept_failures);
            ls->accept_failures = 0;
        }
        ls->backoff_timer.fire = listener_backoff_fire;
        loop_timer_add(ls->loop, &ls->backoff_timer, loop_mono_ms(ls->loop) + LISTENER_BACKOFF_MS);
        return;
    }
    if (res < 0) {
        if (res != -EAGAIN && res != -EINTR && res != -ECONNABORTED)
            SL_WARN("%s: accept: %s", ls->name, strerror(-res));
        listener_arm(ls);
        return;
    }
    int fd = res;
    if (ls->conn_count >= ls->conn_max) {
        if (listener_log_due(ls, &ls->limit_refusals, &ls->limit_refusals_log_ms)) {
            SL_WARN("%s: connection limit %u reached, refusing connections: %llu since the last report",
                    ls->name, ls->conn_max, (unsigned long long)ls->limit_refusals);
            ls->limit_refusals = 0;
        }
        close(fd);
        listener_arm(ls);
        return;
    }
    listener_take(ls, fd);
    listener_arm(ls);
}

static void listener_take(struct listener *ls, int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct conn *c = sl_xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->loop = ls->loop;
    c->ops = ls->ops;
    c->listener = ls;
    c->in_max = ls->in_max;
    c->id = ++ls->next_id;
    listener_peer(fd, c->peer, sizeof(c->peer));
    c->list_next = ls->conns;
    if (ls->conns) ls->conns->list_prev = c;
    ls->conns = c;
    ls->conn_count++;
    if (ls->conn_count > ls->conn_peak) ls->conn_peak = ls->conn_count;
    if (ls->tls && !ls->tls_after_greeting) conn_tls_attach(c, ls->tls);
    if (ls->on_open) ls->on_open(c);
    if (ls->tls && ls->tls_after_greeting) conn_tls_attach(c, ls->tls);
    conn_start(c);
}

void listener_adopt(struct listener *ls, int fd) {
    SL_ASSERT(fd >= 0 && !ls->closing);
    listener_take(ls, fd);
}

static void listener_arm(struct listener *ls) {
    if (ls->accept_inflight || ls->closing || loop_timer_armed(&ls->backoff_timer)) return;
    ls->accept_inflight = true;
    struct io_uring_sqe *sqe = loop_sqe(ls->loop, &ls->accept_op);
    io_uring_prep_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
}

int listener_start(struct listener *ls, struct loop *l, const char *name, const char *host,
                   uint16_t port, const struct conn_ops *ops, void (*on_open)(struct conn *c),
                   void *arg, uint32_t conn_max, size_t in_max) {
    memset(ls, 0, sizeof(*ls));
    ls->loop = l;
    ls->ops = ops;
    ls->on_open = on_open;
    ls->arg = arg;
    ls->conn_max = conn_max;
    ls->in_max = in_max;
    ls->name = name;
    ls->accept_op.done = listener_on_accept;

    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        len = sizeof(*in6);
    } else if (strcmp(host, "localhost") == 0) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*in4);
    } else {
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Right after a kill -9 the old process's listening socket lingers for a few ms while the
     * kernel tears its io_uring down (a pending accept holds it): wait that out, boundedly. */
    int rc = -1;
    for (int attempt = 0; attempt < 100; attempt++) {
        rc = bind(fd, (struct sockaddr *)&ss, len);
        if (rc == 0 || errno != EADDRINUSE || port == 0) break;
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (rc != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    ls->port = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
    ls->fd = fd;
    listener_arm(ls);
    return 0;
}

static void listener_idle_sweep(struct loop_timer *t, uint64_t now_ms) {
    struct listener *ls = sl_container_of(t, struct listener, idle_timer);
    for (struct conn *c = ls->conns, *next; c; c = next) {
        next = c->list_next;
        if (now_ms - c->last_active_ms >= ls->idle_ms) conn_close(c, "idle timeout");
    }
    if (!ls->closing) loop_timer_add(ls->loop, &ls->idle_timer, now_ms + SL_MAX(ls->idle_ms / 4, 1u));
}

void listener_set_idle(struct listener *ls, uint32_t idle_ms) {
    ls->idle_ms = idle_ms;
    ls->idle_timer.fire = listener_idle_sweep;
    if (idle_ms) loop_timer_add(ls->loop, &ls->idle_timer, loop_mono_ms(ls->loop) + SL_MAX(idle_ms / 4, 1u));
    else loop_timer_del(ls->loop, &ls->idle_timer);
}

static uint64_t listener_tls_period(const struct listener *ls) { return SL_MAX(ls->tls->timeout_ms / 4, 10u); }

static void listener_tls_sweep(struct loop_timer *t, uint64_t now_ms) {
    struct listener *ls = sl_container_of(t, struct listener, tls_timer);
    for (struct conn *c = ls->conns, *next; c; c = next) {
        next = c->list_next;
        uint64_t start;
        if (conn_tls_handshaking(c, &start) && now_ms - start >= ls->tls->timeout_ms) conn_tls_timeout(c);
    }
    if (!ls->closing) loop_timer_add(ls->loop, &ls->tls_timer, now_ms + listener_tls_period(ls));
}

void listener_set_tls(struct listener *ls, struct tls_server *t, bool after_greeting) {
    ls->tls = t;
    ls->tls_after_greeting = after_greeting;
    ls->tls_timer.fire = listener_tls_sweep;
    loop_timer_del(ls->loop, &ls->tls_timer);
    if (t && t->timeout_ms) loop_timer_add(ls->loop, &ls->tls_timer, loop_mono_ms(ls->loop) + listener_tls_period(ls));
}

void listener_stop_accepting(struct listener *ls) {
    if (ls->closing) return;
    ls->closing = true;
    loop_timer_del(ls->loop, &ls->backoff_timer);
    if (ls->accept_inflight) {
        struct io_uring_sqe *sqe = loop_sqe(ls->loop, NULL);
        io_uring_prep_cancel(sqe, &ls->accept_op, 0);
    }
}

static bool listener_quiet(void *arg) {
    struct listener *ls = arg;
    return !ls->accept_inflight && ls->conns == NULL;
}

void listener_stop(struct listener *ls) {
    if (ls->fd <= 0) return;
    listener_stop_accepting(ls);
    loop_timer_del(ls->loop, &ls->idle_timer);
    loop_timer_del(ls->loop, &ls->tls_timer);
    for (struct conn *c = ls->conns, *next; c; c = next) {
        next = c->list_next;
        conn_close(c, "server shutting down");
    }
    shutdown(ls->fd, SHUT_RDWR);
    loop_run_until(ls->loop, listener_quiet, ls, 5000);
    close(ls->fd);
    ls->fd = -1;
}
