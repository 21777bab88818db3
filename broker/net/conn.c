/* conn.c: a TCP connection on the io_uring loop (see conn.h). */
#include "broker/net/conn.h"
#include "broker/net/listener.h"
#include "broker/net/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
/* Plaintext encrypted per send under TLS: a bound on the loop's time per connection per turn
 * (some 50-100 us of AES-GCM) and on the ciphertext buffer (sixteen full records). */
#define CONN_TLS_BATCH (256u << 10)
/* A full TLS record's plaintext: small chunks are gathered to this before SSL_write, so a
 * response's header and its records, or many small replies, make one record, not one each. */
#define CONN_TLS_RECORD (16u << 10)
/* File bytes read with pread at a time for encryption. */
#define CONN_TLS_FILE_READ (64u << 10)

/* A connection's TLS side (conn.h). Ciphertext is received into the free tail of c->in and
 * copied into OpenSSL's read BIO at once, so TLS costs no receive buffer of its own. */
struct conn_tls {
    struct tls_conn *tc;
    uint8_t *wbuf;        /* ciphertext to send, wbuf[woff..wlen), swapped whole with OpenSSL's */
    size_t wcap, wlen, woff;
    uint8_t *fbuf;        /* file bytes read for encryption, CONN_TLS_FILE_READ, on first use */
    uint8_t *rec;         /* small chunks gathered into one record, CONN_TLS_RECORD, on first use */
    size_t rec_len;
    uint64_t plain_left;  /* queued bytes still to go in the clear (a greeting) */
    uint64_t start_ms;
    bool send_raw;        /* the send in flight carries greeting bytes, not ciphertext */
    bool failed;          /* refused: the alert goes out, then the connection closes */
};

static void conn_arm_recv(struct conn *c);
static void conn_pump_send(struct conn *c);
static void conn_maybe_free(struct conn *c);
static bool conn_tls_deliver(struct conn *c);

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

/* Nothing left to send: no chunk, and under TLS no ciphertext (a refused handshake sends only
 * its alert; the queued plaintext will never go). */
static bool conn_out_idle(const struct conn *c) {
    if (!c->tls) return !c->out_head;
    if (c->tls->wlen > c->tls->woff) return false;
    return c->tls->failed || !c->out_head;
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

uint8_t *conn_input_take(struct conn *c, size_t from) {
    SL_ASSERT(from <= c->in_len);
    uint8_t *old = c->in;
    size_t tail = c->in_len - from;
    size_t cap = SL_MIN((size_t)CONN_IN_START, c->in_max);
    while (cap < tail) cap *= 2;
    c->in = sl_xmalloc(cap);
    c->in_cap = cap;
    if (tail) memcpy(c->in, old + from, tail);
    c->in_len = tail;
    return old;
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
    conn_hold(c);
    conn_pump_send(c);
    if (!c->closing && conn_out_idle(c) && c->ops->on_drain) c->ops->on_drain(c);
    conn_release(c);
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
    struct conn_tls *t = c->tls;
    if (t && t->send_raw) {
        t->send_raw = false;
        t->plain_left -= SL_MIN(t->plain_left, (uint64_t)res);
        conn_sent(c, (size_t)res);
    } else if (t) {
        t->woff += (size_t)res;
        if (t->woff == t->wlen) t->woff = t->wlen = 0;
    } else {
        conn_sent(c, (size_t)res);
    }
    c->last_active_ms = c->last_send_ms = loop_mono_ms(c->loop);
    conn_hold(c);
    conn_pump_send(c);
    if (!c->closing && conn_out_idle(c) && c->close_when_sent) conn_close(c, "closed after the last reply");
    if (!c->closing && conn_out_idle(c) && c->ops->on_drain) c->ops->on_drain(c);
    conn_release(c);
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

/* Queues the sendmsg of the memory chunks at the head of the queue, at most limit bytes. */
static void conn_send_iov(struct conn *c, uint64_t limit) {
    int n = 0;
    for (struct out_chunk *ch = c->out_head; ch && ch->kind == OUT_MEM && n < CONN_IOV_MAX && limit; ch = ch->next, n++) {
        size_t len = SL_MIN((uint64_t)(ch->len - ch->off), limit);
        c->iov[n].iov_base = ch->mem + ch->off;
        c->iov[n].iov_len = len;
        limit -= len;
    }
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg.msg_iov = c->iov;
    c->msg.msg_iovlen = (size_t)n;
    c->send_inflight = true;
    c->ops_inflight++;
    struct io_uring_sqe *sqe = loop_sqe(c->loop, &c->send_op);
    io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
}

/* Takes what OpenSSL has for the peer as the buffer to send (the drained one goes back to it);
 * only while nothing is in flight from wbuf. */
static void conn_tls_collect(struct conn *c) {
    struct conn_tls *t = c->tls;
    SL_ASSERT(t->woff == t->wlen && !(c->send_inflight && !t->send_raw));
    if (tls_conn_out_pending(t->tc) == 0) return;
    size_t len = 0, cap = 0;
    t->wbuf = tls_conn_swap_out(t->tc, t->wbuf, t->wcap, &len, &cap);
    t->wcap = cap;
    t->wlen = len;
    t->woff = 0;
}

/* Encrypts p[0..n) in full records: whole records straight from p, the rest gathered in t->rec
 * until it fills (conn_tls_encrypt writes out a partial one at the end of its batch). */
static bool conn_tls_put(struct conn_tls *t, const uint8_t *p, size_t n) {
    while (n) {
        if (t->rec_len == 0 && n >= CONN_TLS_RECORD) {
            size_t whole = n - n % CONN_TLS_RECORD;
            if (!tls_conn_write(t->tc, p, whole)) return false;
            p += whole;
            n -= whole;
            continue;
        }
        if (!t->rec) t->rec = sl_xmalloc(CONN_TLS_RECORD);
        size_t take = SL_MIN(n, (size_t)CONN_TLS_RECORD - t->rec_len);
        memcpy(t->rec + t->rec_len, p, take);
        t->rec_len += take;
        p += take;
        n -= take;
        if (t->rec_len == CONN_TLS_RECORD) {
            t->rec_len = 0;
            if (!tls_conn_write(t->tc, t->rec, CONN_TLS_RECORD)) return false;
        }
    }
    return true;
}

/* Encrypts up to CONN_TLS_BATCH bytes from the head of the queue; false if c is closing. */
static bool conn_tls_encrypt(struct conn *c) {
    struct conn_tls *t = c->tls;
    size_t budget = CONN_TLS_BATCH;
    SL_ASSERT(t->rec_len == 0);
    while (budget && c->out_head) {
        struct out_chunk *ch = c->out_head;
        size_t n = SL_MIN((size_t)(ch->len - ch->off), budget);
        const uint8_t *p = ch->mem + ch->off;
        if (ch->kind == OUT_FILE) {
            if (!t->fbuf) t->fbuf = sl_xmalloc(CONN_TLS_FILE_READ);
            ssize_t r = pread(ch->span.fd, t->fbuf, SL_MIN(n, (size_t)CONN_TLS_FILE_READ),
                              (off_t)(ch->span.pos + ch->off));
            if (r <= 0) {
                conn_close(c, r == 0 ? "file span shorter than promised" : strerror(errno));
                return false;
            }
            n = (size_t)r;
            p = t->fbuf;
        }
        if (!conn_tls_put(t, p, n)) {
            conn_close(c, tls_conn_error(t->tc));
            return false;
        }
        conn_sent(c, n);
        budget -= n;
    }
    if (t->rec_len) {
        size_t n = t->rec_len;
        t->rec_len = 0;
        if (!tls_conn_write(t->tc, t->rec, n)) {
            conn_close(c, tls_conn_error(t->tc));
            return false;
        }
    }
    return true;
}

/* Under TLS: the clear greeting first, then ciphertext already made, then the next batch. */
static void conn_tls_pump(struct conn *c) {
    struct conn_tls *t = c->tls;
    if (t->plain_left && !t->failed && c->out_head && c->out_head->kind == OUT_MEM) {
        conn_send_iov(c, t->plain_left);
        t->send_raw = true;
        return;
    }
    t->plain_left = 0;
    if (t->woff == t->wlen) {
        t->woff = t->wlen = 0;
        if (!t->failed && tls_conn_ready(t->tc) && !conn_tls_encrypt(c)) return;
        conn_tls_collect(c);
    }
    if (t->woff == t->wlen) {
        /* Idle: an idle connection keeps no ciphertext buffer, nor a record being gathered. */
        free(t->wbuf);
        t->wbuf = NULL;
        t->wcap = 0;
        tls_conn_out_trim(t->tc);
        if (!c->out_head) {
            free(t->rec);
            free(t->fbuf);
            t->rec = t->fbuf = NULL;
        }
        return;
    }
    c->send_inflight = true;
    c->ops_inflight++;
    struct io_uring_sqe *sqe = loop_sqe(c->loop, &c->send_op);
    io_uring_prep_send(sqe, c->fd, t->wbuf + t->woff, t->wlen - t->woff, MSG_NOSIGNAL);
}

static void conn_pump_send(struct conn *c) {
    if (c->tls) {
        if (!c->closing && !c->send_inflight && !c->poll_inflight) conn_tls_pump(c);
        return;
    }
    for (int guard = 0; guard < 64; guard++) {
        if (c->closing || c->send_inflight || c->poll_inflight) return;
        struct out_chunk *ch = c->out_head;
        if (!ch) return;
        if (ch->kind == OUT_FILE) {
            if (!conn_send_file_now(c, ch)) return;
            continue;
        }
        conn_send_iov(c, UINT64_MAX);
        return;
    }
}

/* ACKs what was received at once instead of after Linux's delayed-ACK timer (up to 40 ms).
 * A TLS client writes one record per buffer segment (librdkafka: one SSL_write, so one record
 * and one write(), per segment; an uncompressed batch is often a segment per record value),
 * and on loopback (MSS 64 KiB) every such record is a segment smaller than the MSS, which the
 * receiver ACKs lazily. A client with Nagle on (librdkafka's default) then holds the last
 * piece of its request until that ACK: with idempotence (5 requests in flight) produce over
 * TLS fell to 15-26 MB/s against 280-490 in plaintext, the producer spinning meanwhile.
 * TCP_QUICKACK sends the pending ACK now and leaves delayed-ACK's ping-pong mode; it is not
 * sticky, hence once per receive. Plaintext clients write whole requests, so the kernel's
 * own ACK-every-second-full-segment rule serves them; NATS clients (nats.go, nats.c, nats.js)
 * turn Nagle off, and an ACK per receive cost nats.go's 128 B pub/sub over TLS about 5 %. */
static void conn_ack_now(struct conn *c) {
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
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
    c->last_active_ms = loop_mono_ms(c->loop);
    if (c->tls) {
        /* The ciphertext landed in the free tail of c->in: OpenSSL copies it, the plaintext
         * takes its place. */
        tls_conn_feed(c->tls->tc, c->in + c->in_len, (size_t)res);
        if (c->ops->ack_each_tls_recv) conn_ack_now(c);
        if (!conn_tls_deliver(c)) return;
        conn_arm_recv(c);
        return;
    }
    c->in_len += (size_t)res;
    conn_hold(c);
    if (!c->ops->on_data(c)) conn_close(c, "protocol error");
    if (!conn_release(c)) return;
    conn_arm_recv(c);
}

static void conn_arm_recv(struct conn *c) {
    if (c->recv_inflight || c->recv_paused || c->closing) return;
    /* Under TLS, decrypt what is already here before taking more. */
    if (c->tls && (c->tls->failed || tls_conn_in_pending(c->tls->tc))) return;
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
    if (conn_out_idle(c)) conn_close(c, NULL);
}

void conn_resume_recv(struct conn *c) {
    if (!c->recv_paused) return;
    c->recv_paused = false;
    /* Bytes may already be waiting in the buffer from before the pause. */
    conn_hold(c);
    if (c->in_len && !c->closing && !c->ops->on_data(c)) conn_close(c, "protocol error");
    if (c->tls && !c->closing) conn_tls_deliver(c);
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
    if (c->tls) {
        tls_conn_free(c->tls->tc);
        free(c->tls->wbuf);
        free(c->tls->fbuf);
        free(c->tls->rec);
        free(c->tls);
    }
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

/* A refused handshake or a bad record: the alert OpenSSL made goes out, then the close. */
static void conn_tls_fail(struct conn *c) {
    struct conn_tls *t = c->tls;
    SL_DEBUG("%s: %s: %s", c->listener ? c->listener->name : "conn", c->peer, tls_conn_error(t->tc));
    t->failed = true;
    c->recv_paused = true;
    c->close_when_sent = true;
    if (t->woff == t->wlen) conn_tls_collect(c);
    if (conn_out_idle(c)) conn_close(c, NULL);
    else conn_pump_send(c);
}

/* Decrypts what was received into c->in and hands it to the protocol, as a plaintext recv
 * would; then sends what the handshake or the protocol produced. False if c is closing. */
static bool conn_tls_deliver(struct conn *c) {
    struct conn_tls *t = c->tls;
    conn_hold(c);
    /* Each turn reads at least one byte or stops, and the read BIO holds at most what a few
     * recvs brought: the guard is a backstop, never the bound in practice. */
    for (int guard = 0; guard < 4096 && !c->closing && !c->recv_paused; guard++) {
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= c->in_max) break; /* the protocol must consume first, as in plaintext */
            conn_input_reserve(c, SL_MIN(c->in_cap * 2, c->in_max));
        }
        size_t got = 0;
        enum tls_rc rc = tls_conn_read(t->tc, c->in + c->in_len, c->in_cap - c->in_len, &got);
        if (rc == TLS_ERROR) {
            conn_tls_fail(c);
            break;
        }
        if (rc == TLS_EOF) {
            c->peer_closed = true;
            conn_close(c, NULL);
            break;
        }
        if (got == 0) break;
        c->in_len += got;
        if (!c->ops->on_data(c)) conn_close(c, "protocol error");
    }
    if (!c->closing) conn_pump_send(c);
    return conn_release(c);
}

void conn_tls_attach(struct conn *c, struct tls_server *srv) {
    struct conn_tls *t = sl_xcalloc(1, sizeof(*t));
    t->tc = tls_conn_new(srv);
    t->plain_left = c->out_bytes;
    t->send_raw = c->send_inflight; /* a greeting's sendmsg already on its way */
    t->start_ms = loop_mono_ms(c->loop);
    c->tls = t;
}

bool conn_tls_peer_verified(const struct conn *c) {
    return c->tls && !c->tls->failed && tls_conn_peer_verified(c->tls->tc);
}

bool conn_tls_handshaking(const struct conn *c, uint64_t *start_ms) {
    if (!c->tls || c->tls->failed || tls_conn_ready(c->tls->tc)) return false;
    *start_ms = c->tls->start_ms;
    return true;
}

void conn_tls_timeout(struct conn *c) {
    tls_conn_count_failure(c->tls->tc);
    conn_close(c, "TLS handshake timeout");
}
