/* conn.c: a TCP connection on the io_uring loop (see conn.h). */
#include "broker/net/conn.h"
#include "broker/net/listener.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"

#define CONN_IN_START (64u << 10)
/* A sendfile larger than this would hold the loop for long on a fast socket. */
#define CONN_SENDFILE_MAX (4u << 20)

static void conn_arm_recv(struct conn *c);
static void conn_pump_send(struct conn *c);
static void conn_maybe_free(struct conn *c);

/* Held across protocol callbacks: a callback may close the connection, and the struct must
 * outlive the code that called it. */
static inline void conn_hold(struct conn *c) { c->ops_inflight++; }
static inline bool conn_release(struct conn *c) {
    c->ops_inflight--;
    if (!c->closing) return true;
    conn_maybe_free(c);
    return false;
}

void out_chunk_free(struct out_chunk *ch) {
    if (ch->kind == OUT_MEM) free(ch->mem);
    else log_span_release(&ch->span);
    free(ch);
}

bool conn_input_reserve(struct conn *c, size_t need) {
    if (need <= c->in_cap) return true;
    if (need > c->in_max) return false;
    size_t cap = c->in_cap ? c->in_cap : CONN_IN_START;
    while (cap < need) cap *= 2;
    if (cap > c->in_max) cap = c->in_max;
    c->in = sl_xrealloc(c->in, cap);
    c->in_cap = cap;
    return true;
}

void conn_consume(struct conn *c, size_t n) {
    SL_ASSERT(n <= c->in_len);
    if (n == 0) return;
    c->in_len -= n;
    if (c->in_len) memmove(c->in, c->in + n, c->in_len);
}

static void conn_out_add(struct conn *c, uint64_t n) {
    c->out_bytes += n;
    if (c->listener && c->listener->out_total) *c->listener->out_total += n;
}

static void conn_out_sub(struct conn *c, uint64_t n) {
    SL_ASSERT(c->out_bytes >= n);
    c->out_bytes -= n;
    if (c->listener && c->listener->out_total) {
        SL_ASSERT(*c->listener->out_total >= n);
        *c->listener->out_total -= n;
    }
}

static void conn_queue(struct conn *c, struct out_chunk *ch) {
    ch->next = NULL;
    if (!c->out_head) c->last_send_ms = loop_mono_ms(c->loop);
    if (c->out_tail) c->out_tail->next = ch;
    else c->out_head = ch;
    c->out_tail = ch;
    conn_out_add(c, ch->len);
}

void conn_send_mem(struct conn *c, uint8_t *mem, uint32_t len) {
    if (c->closing || len == 0) {
        free(mem);
        return;
    }
    struct out_chunk *ch = sl_xcalloc(1, sizeof(*ch));
    ch->kind = OUT_MEM;
    ch->mem = mem;
    ch->len = len;
    conn_queue(c, ch);
    conn_pump_send(c);
}

void conn_send_copy(struct conn *c, const void *p, uint32_t len) {
    uint8_t *m = sl_xmalloc(len);
    memcpy(m, p, len);
    conn_send_mem(c, m, len);
}

void conn_send_file(struct conn *c, struct log_span *span) {
    if (c->closing || span->len == 0) {
        log_span_release(span);
        return;
    }
    struct out_chunk *ch = sl_xcalloc(1, sizeof(*ch));
    ch->kind = OUT_FILE;
    ch->span = *span;
    ch->len = span->len;
    span->seg = NULL;
    conn_queue(c, ch);
    conn_pump_send(c);
}

void conn_send_chain(struct conn *c, struct out_chunk *head, struct out_chunk *tail, uint64_t bytes) {
    if (!head) return;
    if (c->closing) {
        while (head) {
            struct out_chunk *next = head->next;
            out_chunk_free(head);
            head = next;
        }
        return;
    }
    if (c->out_tail) c->out_tail->next = head;
    else c->out_head = head;
    c->out_tail = tail;
    conn_out_add(c, bytes);
    conn_pump_send(c);
}

/* Drops n sent bytes from the front of the queue. */
static void conn_sent(struct conn *c, size_t n) {
    conn_out_sub(c, n);
    while (n && c->out_head) {
        struct out_chunk *ch = c->out_head;
        size_t left = ch->len - ch->off;
        if (n < left) {
            ch->off += (uint32_t)n;
            return;
        }
        n -= left;
        c->out_head = ch->next;
        if (!c->out_head) c->out_tail = NULL;
        out_chunk_free(ch);
    }
    /* Zero-length chunks never get here: every queued chunk has len > 0. */
}

static void conn_on_poll(struct io_op *op, int32_t res) {
    struct conn *c = sl_container_of(op, struct conn, poll_op);
    c->ops_inflight--;
    c->poll_inflight = false;
    if (res < 0 && res != -ECANCELED) {
        conn_close(c, "poll failed");
    }
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    conn_pump_send(c);
    if (!c->out_head && c->ops->on_drain) {
        conn_hold(c);
        c->ops->on_drain(c);
        conn_release(c);
    }
}

static void conn_arm_pollout(struct conn *c) {
    if (c->poll_inflight) return;
    c->poll_inflight = true;
    c->ops_inflight++;
    struct io_uring_sqe *sqe = loop_sqe(c->loop, &c->poll_op);
    io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
}

static void conn_on_send(struct io_op *op, int32_t res) {
    struct conn *c = sl_container_of(op, struct conn, send_op);
    c->ops_inflight--;
    c->send_inflight = false;
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    if (res == -EAGAIN || res == -EINTR) {
        conn_arm_pollout(c);
        return;
    }
    if (res <= 0) {
        conn_close(c, res == 0 ? "peer stopped reading" : strerror(-res));
        return;
    }
    conn_sent(c, (size_t)res);
    c->last_active_ms = c->last_send_ms = loop_mono_ms(c->loop);
    conn_pump_send(c);
    if (!c->out_head && c->close_when_sent) {
        conn_close(c, "closed after the last reply");
        return;
    }
    if (!c->out_head && c->ops->on_drain) {
        conn_hold(c);
        c->ops->on_drain(c);
        conn_release(c);
    }
}

/* File chunks: sendfile copies page cache to the socket in the kernel. */
static bool conn_send_file_now(struct conn *c, struct out_chunk *ch) {
    off_t pos = (off_t)(ch->span.pos + ch->off);
    size_t want = SL_MIN((size_t)(ch->len - ch->off), (size_t)CONN_SENDFILE_MAX);
    ssize_t n = sendfile(c->fd, ch->span.fd, &pos, want);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            conn_arm_pollout(c);
            return false;
        }
        conn_close(c, strerror(errno));
        return false;
    }
    if (n == 0) {
        /* The file ends before the span: a segment truncated under a reader is a bug. */
        conn_close(c, "file span shorter than promised");
        return false;
    }
    conn_sent(c, (size_t)n);
    c->last_send_ms = loop_mono_ms(c->loop);
    return true;
}

static void conn_pump_send(struct conn *c) {
    for (int guard = 0; guard < 64; guard++) {
        if (c->closing || c->send_inflight || c->poll_inflight) return;
        struct out_chunk *ch = c->out_head;
        if (!ch) return;
        if (ch->kind == OUT_FILE) {
            if (!conn_send_file_now(c, ch)) return;
            continue;
        }
        int n = 0;
        for (; ch && ch->kind == OUT_MEM && n < CONN_IOV_MAX; ch = ch->next, n++) {
            c->iov[n].iov_base = ch->mem + ch->off;
            c->iov[n].iov_len = ch->len - ch->off;
        }
        memset(&c->msg, 0, sizeof(c->msg));
        c->msg.msg_iov = c->iov;
        c->msg.msg_iovlen = (size_t)n;
        c->send_inflight = true;
        c->ops_inflight++;
        struct io_uring_sqe *sqe = loop_sqe(c->loop, &c->send_op);
        io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
        return;
    }
}

static void conn_on_recv(struct io_op *op, int32_t res) {
    struct conn *c = sl_container_of(op, struct conn, recv_op);
    c->ops_inflight--;
    c->recv_inflight = false;
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
        conn_arm_recv(c);
        return;
    }
    if (res <= 0) {
        c->peer_closed = true;
        conn_close(c, res == 0 ? NULL : strerror(-res));
        return;
    }
    c->in_len += (size_t)res;
    c->last_active_ms = loop_mono_ms(c->loop);
    conn_hold(c);
    if (!c->ops->on_data(c)) conn_close(c, "protocol error");
    if (!conn_release(c)) return;
    conn_arm_recv(c);
}

static void conn_arm_recv(struct conn *c) {
    if (c->recv_inflight || c->recv_paused || c->closing) return;
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= c->in_max) return; /* the protocol must consume or reserve first */
        conn_input_reserve(c, SL_MIN(c->in_cap * 2, c->in_max));
    }
    c->recv_inflight = true;
    c->ops_inflight++;
    struct io_uring_sqe *sqe = loop_sqe(c->loop, &c->recv_op);
    io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
}

void conn_pause_recv(struct conn *c) { c->recv_paused = true; }

void conn_close_after_send(struct conn *c, const char *why) {
    if (c->closing) return;
    if (why) SL_DEBUG("%s: closing connection %s after sending: %s", c->listener ? c->listener->name : "conn", c->peer, why);
    c->recv_paused = true;
    c->close_when_sent = true;
    if (!c->out_head) conn_close(c, NULL);
}

void conn_resume_recv(struct conn *c) {
    if (!c->recv_paused) return;
    c->recv_paused = false;
    /* Bytes may already be waiting in the buffer from before the pause. */
    conn_hold(c);
    if (c->in_len && !c->closing && !c->ops->on_data(c)) conn_close(c, "protocol error");
    if (!conn_release(c)) return;
    conn_arm_recv(c);
}

static void conn_cancel_done(struct io_op *op, int32_t res) {
    (void)op;
    (void)res;
}

static struct io_op conn_cancel_op = {conn_cancel_done};

void conn_close(struct conn *c, const char *why) {
    if (c->closing) return;
    c->closing = true;
    if (why) SL_DEBUG("%s: closing connection %s: %s", c->listener ? c->listener->name : "conn", c->peer, why);
    if (!c->closed_notified) {
        c->closed_notified = true;
        if (c->ops->on_close) c->ops->on_close(c);
    }
    shutdown(c->fd, SHUT_RDWR);
    /* In-flight recv/send/poll complete (cancelled or failed) and then free the conn. */
    if (c->recv_inflight || c->send_inflight || c->poll_inflight) {
        struct io_uring_sqe *sqe = loop_sqe(c->loop, &conn_cancel_op);
        io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
    }
    conn_maybe_free(c);
}


static void conn_maybe_free(struct conn *c) {
    if (c->ops_inflight) return;
    while (c->out_head) {
        struct out_chunk *ch = c->out_head;
        c->out_head = ch->next;
        out_chunk_free(ch);
    }
    conn_out_sub(c, c->out_bytes);
    listener_conn_gone(c);
    close(c->fd);
    free(c->in);
    free(c);
}

void conn_start(struct conn *c);
void conn_start(struct conn *c) {
    c->recv_op.done = conn_on_recv;
    c->send_op.done = conn_on_send;
    c->poll_op.done = conn_on_poll;
    conn_input_reserve(c, SL_MIN((size_t)CONN_IN_START, c->in_max));
    c->last_active_ms = loop_mono_ms(c->loop);
    conn_arm_recv(c);
}
