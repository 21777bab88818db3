/* conn.h: one TCP connection on the loop, for any protocol.
 *
 * The connection owns its input buffer (bytes received, not yet consumed by the protocol) and
 * its output queue of chunks: memory it owns, or file spans it holds a reference on (Fetch
 * sends segment bytes with sendfile, never through user space). At most one recv and one send
 * are in flight. Memory chunks are gathered into one sendmsg; file chunks go with sendfile on
 * the non-blocking socket, waiting on a POLLOUT poll when the socket is full.
 *
 * Backpressure: the protocol pauses reading (conn_pause_recv) while its output is above its
 * limit; the connection calls on_drain when the queue empties so it can resume.
 *
 * TLS (conn_tls_attach, the listener does it): the protocol still reads plaintext from
 * conn_input() and queues plaintext chunks; received ciphertext is decrypted into c->in, and the
 * queue is encrypted at most CONN_TLS_BATCH bytes at a time, chunks smaller than a record gathered
 * into full records, into a ciphertext buffer that OpenSSL writes directly and the same io_uring
 * send carries (tls_conn_swap_out: taken whole, never copied). File chunks are read with pread and encrypted (no sendfile: the
 * kernel would send them in the clear), CONN_TLS_BATCH at a time so one large Fetch cannot hold
 * the loop.
 *
 * Lifetime: conn_close() shuts the socket and frees the struct once no operation is in flight,
 * calling on_close exactly once first. */
#ifndef SL_BROKER_NET_CONN_H
#define SL_BROKER_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/loop.h"
#include "storage/log.h"

struct conn;
struct conn_tls;
struct tls_server;

struct conn_ops {
    /* Bytes arrived: consume from conn_input(); return false to close the connection. */
    bool (*on_data)(struct conn *c);
    /* The output queue is empty. */
    void (*on_drain)(struct conn *c);
    /* The connection is going away: release protocol state. Called once. */
    void (*on_close)(struct conn *c);
    /* Under TLS, ACK every receive at once (conn.c, conn_ack_now): for protocols whose
     * clients keep Nagle on by default (librdkafka). NATS clients turn it off. */
    bool ack_each_tls_recv;
};

enum out_kind { OUT_MEM, OUT_FILE };

struct out_chunk {
    struct out_chunk *next;
    enum out_kind kind;
    uint32_t off, len;    /* bytes still to send start at off */
    uint8_t *mem;         /* OUT_MEM: owned, freed when sent */
    struct log_span span; /* OUT_FILE: held, released when sent */
};

#define CONN_IOV_MAX 32

struct conn {
    int fd;
    struct loop *loop;
    const struct conn_ops *ops;
    void *proto;             /* the protocol's per-connection state */
    char peer[64];           /* "ip:port" for logs */
    uint64_t id;

    uint8_t *in;
    size_t in_len, in_cap;
    size_t in_max;           /* the input buffer never grows past this */

    struct out_chunk *out_head, *out_tail;
    uint64_t out_bytes;      /* queued, not yet sent */

    struct io_op recv_op, send_op, poll_op;
    uint32_t ops_inflight;
    bool recv_inflight, send_inflight, poll_inflight;
    bool recv_paused, closing, closed_notified, peer_closed;
    bool close_when_sent;    /* close once the output queue is empty (after a final -ERR) */
    uint64_t last_active_ms; /* monotonic (loop_mono_ms), like every conn deadline */
    uint64_t last_send_ms;   /* the last time sending made progress or the queue was empty */

    struct iovec iov[CONN_IOV_MAX];
    struct msghdr msg;
    struct conn *list_prev, *list_next; /* on the listener's list */
    struct listener *listener;
    struct conn_tls *tls;    /* NULL: plaintext */
};

static inline const uint8_t *conn_input(const struct conn *c) { return c->in; }
static inline size_t conn_input_len(const struct conn *c) { return c->in_len; }
/* Drops n consumed bytes from the front of the input. */
void conn_consume(struct conn *c, size_t n);
/* Makes sure the input buffer can hold need bytes in total (a whole frame). */
bool conn_input_reserve(struct conn *c, size_t need);
/* Hands the whole input buffer to the caller, who frees it, and starts a new one holding the
 * bytes from `from` on: a protocol passes a huge request to another thread without copying it
 * (and without its bytes moving or going away under that thread). */
uint8_t *conn_input_take(struct conn *c, size_t from);

/* Queues owned memory (freed with free() once sent). */
void conn_send_mem(struct conn *c, uint8_t *mem, uint32_t len);
/* Queues a copy of bytes. */
void conn_send_copy(struct conn *c, const void *p, uint32_t len);
/* Queues a file span; the connection releases it once sent. */
void conn_send_file(struct conn *c, struct log_span *span);
/* Queues a prepared chain of chunks (one response), in order. */
void conn_send_chain(struct conn *c, struct out_chunk *head, struct out_chunk *tail, uint64_t bytes);

/* Stops reading and closes once everything queued is sent (a last -ERR, a refusal). */
void conn_close_after_send(struct conn *c, const char *why);
void conn_pause_recv(struct conn *c);
void conn_resume_recv(struct conn *c);
void conn_close(struct conn *c, const char *why);

void out_chunk_free(struct out_chunk *ch);

/* For listener.c: a connection the listener accepted starts receiving. */
void conn_start(struct conn *c);
/* For listener.c: the connection speaks TLS from now on. What is already queued (a greeting the
 * protocol sends in the clear first, as NATS's INFO) goes out as it is, before any TLS byte. */
void conn_tls_attach(struct conn *c, struct tls_server *t);
/* True while the TLS handshake has not finished; start_ms: when TLS began (loop_mono_ms). */
bool conn_tls_handshaking(const struct conn *c, uint64_t *start_ms);
/* True on a TLS connection whose client certificate was verified against the CA (mTLS). */
bool conn_tls_peer_verified(const struct conn *c);
/* Ends a connection whose handshake ran out of time, counting it as a failed handshake. */
void conn_tls_timeout(struct conn *c);

#endif
