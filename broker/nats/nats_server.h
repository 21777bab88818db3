/* nats_server.h: the NATS listener: the client protocol as nats-server 2.9 speaks it (INFO,
 * CONNECT, PUB, HPUB, SUB, UNSUB, MSG, HMSG, PING/PONG, +OK/-ERR), subject routing through the
 * sublist with queue groups, request/reply with no-responders, and the limits nats-server
 * users pass (max_payload, max_pending, write_deadline, max_connections, ping interval).
 *
 * Output is batched: deliveries are appended to a per-connection buffer and every connection
 * with output is flushed once per loop turn (one sendmsg), never a syscall per message. A
 * subscriber whose unsent bytes pass max_pending, or whose socket has not taken a byte for
 * write_deadline, is a slow consumer and is closed, so broker memory stays bounded. */
#ifndef SL_BROKER_NATS_SERVER_H
#define SL_BROKER_NATS_SERVER_H

#include <stdint.h>

#include "base/loop.h"
#include "broker/config.h"
#include "broker/net/conn.h"
#include "broker/net/listener.h"

struct sublist;
struct nconn;

struct nats_server {
    const struct sl_config *cfg;
    struct loop *loop;
    struct listener ls;
    struct sublist *subs;
    char server_id[64];
    uint64_t next_client_id;
    uint32_t conn_count;
    struct nconn *dirty;          /* connections with output to flush this turn */
    struct loop_timer sweep_timer; /* write deadlines */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, slow_consumers;
    uint32_t qpick;               /* rotates queue-group picks */
};

int nats_server_start(struct nats_server *ns, const struct sl_config *cfg, struct loop *l);
void nats_server_stop(struct nats_server *ns);

#endif
