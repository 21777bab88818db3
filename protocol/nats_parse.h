/* nats_parse.h: a resumable, zero-copy parser for the NATS client protocol, for both ends of a
 * connection. The broker parses what clients send (CONNECT PUB HPUB SUB UNSUB PING PONG); our
 * client library parses what servers send (INFO MSG HMSG PING PONG +OK -ERR). Behaviour copies
 * nats-server 2.9.10 (see docs/nats-subset.md sections 1, 4, 5, 7):
 *
 *   - Verbs are case-insensitive. PUB HPUB SUB UNSUB MSG HMSG -ERR need a space or tab after the
 *     verb ("PUB\r\n" is an unknown operation, "PUB \r\n" has bad arguments); CONNECT and INFO
 *     take their JSON with or without a separator; after PING, PONG and +OK everything up to the
 *     line feed is ignored, as nats-server does.
 *   - A control line ends at LF; one CR right before it is dropped. A bare LF is accepted, as
 *     nats-server's parser accepts it. A payload must be followed by exactly CR LF.
 *   - Arguments are split on runs of spaces and tabs (nats.go sends "SUB s  1" and "UNSUB 1 ").
 *     Subjects are not validated here: the server decides.
 *   - Sizes are 1 to 9 decimal digits (nats-server's parseSize); anything else is BAD_ARGS.
 *   - The control line limit counts the whole line, verb included, without its CR LF, and is
 *     enforced as soon as the buffered part of a line passes it. nats-server counts only the
 *     arguments, so we are stricter by the verb's length; no client comes near the limit.
 *   - max_payload bounds PUB/HPUB (and MSG/HMSG on the client side) on the control line, before
 *     any payload byte is needed.
 *
 * Pure: no I/O, no clock, no allocation. The parser keeps offsets into the caller's buffer,
 * never pointers, so the caller may move (realloc, compact) its buffer between calls as long as
 * the unconsumed bytes keep their order and start. */
#ifndef SL_NATS_PARSE_H
#define SL_NATS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "protocol/errors.h"

#define NATS_MAX_CONTROL_LINE_DEFAULT 4096u
#define NATS_MAX_PAYLOAD_DEFAULT (1024u * 1024u)

enum nats_op_kind {
    NATS_OP_CONNECT,
    NATS_OP_PUB,
    NATS_OP_HPUB,
    NATS_OP_SUB,
    NATS_OP_UNSUB,
    NATS_OP_PING,
    NATS_OP_PONG,
    NATS_OP_INFO,
    NATS_OP_MSG,
    NATS_OP_HMSG,
    NATS_OP_OK,
    NATS_OP_ERR,
};

/* One parsed operation. Spans borrow from the buffer passed to nats_parse; an absent field has
 * p == NULL and len 0. */
struct nats_op {
    enum nats_op_kind kind;
    struct span subject; /* PUB/HPUB/SUB/MSG/HMSG */
    struct span reply;   /* PUB/HPUB/MSG/HMSG reply-to, len 0 if none */
    struct span queue;   /* SUB queue group, len 0 if none */
    struct span sid;     /* SUB/UNSUB/MSG/HMSG: the sid token as sent */
    int64_t max_msgs;    /* UNSUB: -1 if absent or not a size (nats-server then removes at once) */
    uint32_t hdr_len;    /* HPUB/HMSG: header bytes (incl. "NATS/1.0...\r\n\r\n"); 0 for PUB/MSG */
    uint32_t total_len;  /* payload bytes incl. headers */
    struct span payload; /* PUB/HPUB/MSG/HMSG: the total_len bytes after the control line */
    struct span arg;     /* CONNECT/INFO: the JSON, outer blanks trimmed; -ERR: text inside quotes */
};

enum nats_perr {
    NATS_PERR_NONE = 0,
    NATS_PERR_AGAIN,
    NATS_PERR_UNKNOWN_OP,
    NATS_PERR_MAX_CONTROL_LINE,
    NATS_PERR_MAX_PAYLOAD,
    NATS_PERR_BAD_ARGS,
};

/* The -ERR text nats-server 2.9.10 sends for e (without quotes), or NULL when it closes without
 * one (BAD_ARGS) or e is not an error (NONE, AGAIN). */
/* The sl_err of a parse error: its -ERR text is sl_err_nats() (NULL where nats-server closes
 * without a word, as on bad arguments). */
sl_err nats_perr_err(enum nats_perr e);
const char *nats_perr_text(enum nats_perr e);

/* The verb as the protocol spells it ("PUB", "+OK"), for logs and tests. */
const char *nats_op_name(enum nats_op_kind k);

/* Offset and length of a field inside the caller's buffer, kept while a payload is awaited. */
struct nats_field {
    uint32_t off, len;
};

struct nats_parser {
    /* Private: where the op at the front of the buffer stands. All offsets count from the
     * start of the caller's unconsumed input. */
    uint8_t state;          /* enum np_state in nats_parse.c */
    uint8_t kind;           /* enum nats_op_kind, once the verb is known */
    uint32_t args_off;      /* first byte after the verb */
    uint32_t scan_off;      /* the LF search resumes here: bytes before it hold no LF */
    uint32_t need;          /* awaiting payload: bytes the whole op occupies */
    uint32_t payload_off;   /* awaiting payload: first payload byte */
    uint32_t hdr_len, total_len;
    struct nats_field subject, reply, queue, sid, arg; /* off 0: absent (the verb is at 0) */
    int64_t max_msgs;
    /* Bytes the parser has examined since init (LF search and argument split), so tests can
     * prove that resumed parsing never rescans. */
    uint64_t scanned_bytes;

    bool server_side;
    uint32_t max_payload, max_control_line;
};

/* server_side: parse client ops (the broker); otherwise server ops (a client). Server-only ops
 * arriving at a server, and client-only ops arriving at a client, are UNKNOWN_OP.
 * max_payload: largest PUB/HPUB/MSG/HMSG total size. max_control_line: longest control line in
 * bytes without CR LF (a client may want more than 4096: cluster INFO lines grow). */
void nats_parser_init(struct nats_parser *p, bool server_side, uint32_t max_payload, uint32_t max_control_line);

/* Parses the next operation at the front of buf[0..len) (the caller's unconsumed input).
 * NATS_PERR_NONE: *used bytes hold one complete op (control line + payload + CRLF); *op's spans
 * point into buf and stay valid until the caller drops those bytes.
 * NATS_PERR_AGAIN: the op is incomplete; *used is 0; call again with the same bytes plus more
 * (the buffer may have moved). Work done so far is kept: each byte is examined O(1) times, and a
 * payload is not examined at all except for its trailing CR LF.
 * Anything else: a protocol error; the caller sends nats_perr_text() as -ERR (if non-NULL) and
 * closes. The parser is reset, so it may be reused for a new connection. */
enum nats_perr nats_parse(struct nats_parser *p, const uint8_t *buf, size_t len, size_t *used, struct nats_op *op);

#endif
