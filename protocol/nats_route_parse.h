/* nats_route_parse.h: the NATS route protocol between two brokers of a cluster, as nats-server
 * 2.9 speaks it on its cluster port (server/parser.go, route.go), for what Sluice uses of it:
 *
 *   INFO {json}                     CONNECT {json}               PING   PONG   +OK   -ERR 'text'
 *   RS+ <account> <subject> [<queue> <weight>]                   interest added (or a queue's
 *                                                                weight changed)
 *   RS- <account> <subject> [<queue>]                            interest gone
 *   RMSG <account> <subject> [<reply>] <size>\r\n<payload>\r\n
 *   RMSG <account> <subject> + <reply> <queue>... <size>         with the queue groups the
 *   RMSG <account> <subject> | <queue>... <size>                 receiver is to deliver to
 *   HMSG: the same with <hdr_size> before <size> (headers first in the payload)
 *   DMSG / DHMSG <account> <subject> <deliver_as> ...: RMSG / HMSG of a message the receiver
 *                                    routes by <subject> while its MSG lines name <deliver_as>
 *                                    (Sluice's own: a JetStream delivery to a pull request's
 *                                    inbox names the stream subject; routes are Sluice-only)
 *
 * A control line ends at LF (a CR before it is dropped); verbs are case-insensitive; arguments
 * split on runs of spaces and tabs. Sizes are 1 to 9 digits as nats-server's parseSize, the
 * weight 1 to 9 digits and not 0; a message's size is bounded by max_payload on the control
 * line, before its bytes are needed. A route carries at most NATS_ROUTE_QUEUES_MAX queue names
 * on one message.
 *
 * Not resumable, on purpose: a route's input is buffered whole up to one message (the connection
 * keeps unconsumed bytes), and a call only looks for the control line's LF again, bounded by
 * max_control_line, so a message arriving in pieces costs its control line once per piece.
 * Pure: no I/O, no clock, no allocation. */
#ifndef SL_NATS_ROUTE_PARSE_H
#define SL_NATS_ROUTE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "protocol/nats_parse.h"

#define NATS_ROUTE_QUEUES_MAX 32

enum nats_route_kind {
    NATS_ROUTE_INFO,
    NATS_ROUTE_CONNECT,
    NATS_ROUTE_PING,
    NATS_ROUTE_PONG,
    NATS_ROUTE_OK,
    NATS_ROUTE_ERR,
    NATS_ROUTE_SUB,   /* RS+ */
    NATS_ROUTE_UNSUB, /* RS- */
    NATS_ROUTE_MSG,   /* RMSG */
    NATS_ROUTE_HMSG,  /* HMSG */
};

/* One operation. Spans borrow from the caller's buffer; an absent field has len 0. */
struct nats_route_op {
    enum nats_route_kind kind;
    struct span account, subject, reply, queue; /* queue: RS+/RS- */
    struct span deliver_as;                      /* DMSG/DHMSG: the MSG line's subject (else len 0) */
    uint32_t weight;                             /* RS+ with a queue: 1..999999999 */
    uint32_t queue_count;                        /* RMSG/HMSG: the queue groups named */
    struct span queues[NATS_ROUTE_QUEUES_MAX];
    uint32_t hdr_len, total_len;                 /* HMSG: header bytes; both: payload bytes incl. headers */
    struct span payload;                         /* RMSG/HMSG */
    struct span arg;                             /* INFO/CONNECT JSON; -ERR text */
};

/* Parses the op at the front of buf[0..len). NATS_PERR_NONE: *used bytes hold it whole;
 * NATS_PERR_AGAIN: incomplete (*used 0); otherwise a protocol error (UNKNOWN_OP, BAD_ARGS,
 * MAX_CONTROL_LINE, MAX_PAYLOAD) after which the route is to be closed. */
enum nats_perr nats_route_parse(const uint8_t *buf, size_t len, uint32_t max_payload, uint32_t max_control_line,
                                size_t *used, struct nats_route_op *op);

#endif
