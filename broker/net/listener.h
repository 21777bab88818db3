/* listener.h: a TCP listening socket on the loop. It accepts connections, hands each to a
 * protocol (conn_ops and on_open), keeps the list of its live connections, enforces
 * max_connections and closes idle ones. */
#ifndef SL_BROKER_NET_LISTENER_H
#define SL_BROKER_NET_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "broker/net/conn.h"

/* Connections a listener must have had before closing half of them trims the heap. */
#define LISTENER_TRIM_PEAK 256

struct listener {
    int fd;
    struct loop *loop;
    const struct conn_ops *ops;
    struct io_op accept_op;
    bool accept_inflight, closing;
    uint32_t conn_count, conn_max;
    uint32_t conn_peak; /* highest conn_count since the last heap trim */
    size_t in_max;
    void *arg;                           /* protocol server state */
    void (*on_open)(struct conn *c);     /* set c->proto here */
    struct conn *conns;
    uint16_t port;                       /* the bound port (useful with port 0) */
    uint32_t idle_ms;                    /* close connections silent this long; 0: never */
    struct loop_timer idle_timer;
    const char *name;
    uint64_t next_id;
    /* The broker's unsent output over every listener's connections, kept by conn.c (NULL: not
     * counted), so a protocol can hold the whole process to a budget, not only each client. */
    uint64_t *out_total;
    /* Out of file descriptors (EMFILE/ENFILE) or kernel memory, accept pauses for a moment
     * instead of failing in a loop; the pending connections wait in the listen backlog. */
    struct loop_timer backoff_timer;
    uint64_t accept_failures;        /* since the last report */
    uint64_t accept_failures_log_ms; /* when the last report was logged; 0: never */
    uint64_t limit_refusals;         /* over conn_max, since the last report */
    uint64_t limit_refusals_log_ms;
    /* TLS (listener_set_tls); NULL: plaintext. */
    struct tls_server *tls;
    bool tls_after_greeting;         /* what on_open queues goes in the clear, then TLS (NATS) */
    struct loop_timer tls_timer;     /* closes handshakes older than tls->timeout_ms */
};

/* Binds host:port (port 0 picks one) and starts accepting. Returns 0 or -errno. */
int listener_start(struct listener *ls, struct loop *l, const char *name, const char *host,
                   uint16_t port, const struct conn_ops *ops, void (*on_open)(struct conn *c),
                   void *arg, uint32_t conn_max, size_t in_max);
/* Serves a socket this process connected (an outbound connection) as if accepted: on_open,
 * then the protocol's ops; it is closed with the listener's others. No TLS of its own: a
 * listener with TLS would start a server-side handshake on it. */
void listener_adopt(struct listener *ls, int fd);
/* Closes connections with no traffic for idle_ms, checked every idle_ms / 4. */
void listener_set_idle(struct listener *ls, uint32_t idle_ms);
/* Connections accepted from now on speak TLS with t's context (t outlives the listener). With
 * after_greeting, what the protocol queues in on_open is sent in the clear and the client then
 * starts the handshake (NATS's INFO); otherwise TLS starts at the first byte (Kafka SSL, HTTPS).
 * A handshake not finished within t->timeout_ms closes the connection. */
void listener_set_tls(struct listener *ls, struct tls_server *t, bool after_greeting);
/* Stops accepting new connections (the socket stays bound until listener_stop). */
void listener_stop_accepting(struct listener *ls);
/* Stops accepting and closes every connection. */
void listener_stop(struct listener *ls);

/* For conn.c: a connection of this listener is gone (unlinks it, drops the count). */
void listener_conn_gone(struct conn *c);

#endif
