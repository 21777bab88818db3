/* nats_parse.c: the NATS op parser (see nats_parse.h for the rules it copies from nats-server).
 *
 * An op goes through three states. NP_VERB: the first bytes are matched against the verbs this
 * side may receive, so garbage fails on its first wrong byte instead of waiting for a line end.
 * NP_LINE: memchr looks for LF from where the previous call stopped; once found, the line is
 * split into arguments. NP_PAYLOAD: the control line said how many bytes follow, so a call only
 * compares the buffer length with the op's end and looks at the final CR LF. The fields found on
 * the control line are kept as offsets, which is what lets the caller move its buffer. */
#include "protocol/nats_parse.h"

#include <string.h>

enum np_state { NP_VERB, NP_LINE, NP_PAYLOAD };

/* What may follow a verb: a blank, optionally a blank (CONNECT{...} is accepted by
 * nats-server), or anything up to the line feed (nats-server ignores it after PING). */
enum np_sep { NP_SEP_BLANK, NP_SEP_OPTIONAL, NP_SEP_IGNORED };

/* Which end of a connection receives the op. */
enum np_side { NP_TO_SERVER = 1, NP_TO_CLIENT = 2, NP_TO_BOTH = 3 };

struct np_verb {
    char name[8]; /* upper case; letters are compared case-insensitively */
    uint8_t len;
    uint8_t sep;
    uint8_t side;
};

static const struct np_verb np_verbs[] = {
    [NATS_OP_CONNECT] = {"CONNECT", 7, NP_SEP_OPTIONAL, NP_TO_SERVER},
    [NATS_OP_PUB] = {"PUB", 3, NP_SEP_BLANK, NP_TO_SERVER},
    [NATS_OP_HPUB] = {"HPUB", 4, NP_SEP_BLANK, NP_TO_SERVER},
    [NATS_OP_SUB] = {"SUB", 3, NP_SEP_BLANK, NP_TO_SERVER},
    [NATS_OP_UNSUB] = {"UNSUB", 5, NP_SEP_BLANK, NP_TO_SERVER},
    [NATS_OP_PING] = {"PING", 4, NP_SEP_IGNORED, NP_TO_BOTH},
    [NATS_OP_PONG] = {"PONG", 4, NP_SEP_IGNORED, NP_TO_BOTH},
    [NATS_OP_INFO] = {"INFO", 4, NP_SEP_OPTIONAL, NP_TO_CLIENT},
    [NATS_OP_MSG] = {"MSG", 3, NP_SEP_BLANK, NP_TO_CLIENT},
    [NATS_OP_HMSG] = {"HMSG", 4, NP_SEP_BLANK, NP_TO_CLIENT},
    [NATS_OP_OK] = {"+OK", 3, NP_SEP_IGNORED, NP_TO_CLIENT},
    [NATS_OP_ERR] = {"-ERR", 4, NP_SEP_BLANK, NP_TO_CLIENT},
};

/* nats-server's parseSize accepts at most 9 digits, so no size exceeds this. */
#define NP_SIZE_MAX 999999999u
/* Keeps every offset of an op (line + payload + CR LF) inside uint32_t. */
#define NP_CONTROL_LINE_MAX (1u << 30)
#define NP_NEED_MORE (-2)
#define NP_TOKENS_MAX 5 /* HMSG subject sid reply hdr total */

sl_err nats_perr_err(enum nats_perr e) {
    switch (e) {
    case NATS_PERR_NONE: return SL_OK;
    case NATS_PERR_AGAIN: return SL_AGAIN;
    case NATS_PERR_UNKNOWN_OP: return SL_UNKNOWN_OP;
    case NATS_PERR_MAX_CONTROL_LINE: return SL_CONTROL_LINE_TOO_LONG;
    case NATS_PERR_MAX_PAYLOAD: return SL_PAYLOAD_TOO_LARGE;
    case NATS_PERR_BAD_ARGS: return SL_INVALID_ARG; /* nats-server just closes on bad arguments */
    }
    return SL_INVALID_ARG;
}

const char *nats_perr_text(enum nats_perr e) { return sl_err_nats(nats_perr_err(e)); }

const char *nats_op_name(enum nats_op_kind k) {
    if ((size_t)k >= SL_ARRAY_LEN(np_verbs)) return "?";
    return np_verbs[k].name;
}

static void np_reset(struct nats_parser *p) {
    p->state = NP_VERB;
    p->args_off = 0;
    p->scan_off = 0;
}

void nats_parser_init(struct nats_parser *p, bool server_side, uint32_t max_payload, uint32_t max_control_line) {
    SL_ASSERT(p != NULL);
    memset(p, 0, sizeof(*p));
    p->server_side = server_side;
    p->max_payload = SL_MIN(max_payload, NP_SIZE_MAX);
    p->max_control_line = SL_MIN(max_control_line, NP_CONTROL_LINE_MAX);
    np_reset(p);
}

/* The verb the first one or two bytes can start, NP_NEED_MORE, or -1 for none. */
static inline int np_verb_candidate(const uint8_t *buf, size_t len) {
    switch (buf[0]) {
    case 'C': case 'c': return NATS_OP_CONNECT;
    case 'S': case 's': return NATS_OP_SUB;
    case 'U': case 'u': return NATS_OP_UNSUB;
    case 'I': case 'i': return NATS_OP_INFO;
    case 'M': case 'm': return NATS_OP_MSG;
    case '+': return NATS_OP_OK;
    case '-': return NATS_OP_ERR;
    case 'H': case 'h':
        if (len < 2) return NP_NEED_MORE;
        if ((buf[1] & 0xDF) == 'P') return NATS_OP_HPUB;
        if ((buf[1] & 0xDF) == 'M') return NATS_OP_HMSG;
        return -1;
    case 'P': case 'p':
        if (len < 2) return NP_NEED_MORE;
        if ((buf[1] & 0xDF) == 'U') return NATS_OP_PUB;
        if ((buf[1] & 0xDF) == 'I') return NATS_OP_PING;
        if ((buf[1] & 0xDF) == 'O') return NATS_OP_PONG;
        return -1;
    default: return -1;
    }
}

/* NP_VERB: matches as much of the verb (and the blank after it) as has arrived. */
static enum nats_perr np_verb(struct nats_parser *p, const uint8_t *buf, size_t len) {
    int k = np_verb_candidate(buf, len);
    if (k == NP_NEED_MORE) return NATS_PERR_AGAIN;
    if (k < 0) return NATS_PERR_UNKNOWN_OP;
    const struct np_verb *v = &np_verbs[k];
    if (!(v->side & (p->server_side ? NP_TO_SERVER : NP_TO_CLIENT))) return NATS_PERR_UNKNOWN_OP;
    /* Byte 0 matched in the switch; every later verb byte is a letter, and clearing bit 5 folds
     * exactly the two cases of a letter onto the upper-case one. */
    for (size_t i = 1; i < v->len; i++) {
        if (i >= len) return NATS_PERR_AGAIN;
        if ((buf[i] & 0xDF) != (uint8_t)v->name[i]) return NATS_PERR_UNKNOWN_OP;
    }
    if (v->sep == NP_SEP_BLANK) {
        if (len <= v->len) return NATS_PERR_AGAIN;
        if (buf[v->len] != ' ' && buf[v->len] != '\t') return NATS_PERR_UNKNOWN_OP;
    }
    p->kind = (uint8_t)k;
    p->args_off = v->len;
    return NATS_PERR_NONE;
}

static inline bool np_blank(uint8_t b) { return b == ' ' || b == '\t'; }

/* The first blank in buf[i, to), or to. Eight bytes at a time on little-endian machines: the
 * byte loop was half of nats_parse's time in a JetStream consume (an ack's long reply subject
 * on every PUB). In (v - 0x01..) & ~v & 0x80.. the lowest flagged byte is exactly the first zero
 * byte of v (false flags sit only above a true one). */
static inline uint32_t np_token_end(const uint8_t *buf, uint32_t i, uint32_t to) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (to - i >= 8) {
        uint64_t v;
        memcpy(&v, buf + i, 8);
        uint64_t sp = v ^ (ones * ' '), tab = v ^ (ones * '\t');
        uint64_t hit = ((sp - ones) & ~sp & highs) | ((tab - ones) & ~tab & highs);
        if (hit) return i + (uint32_t)(__builtin_ctzll(hit) >> 3);
        i += 8;
    }
#endif
    while (i < to && !np_blank(buf[i])) i++;
    return i;
}

/* Splits buf[from, to) on runs of blanks into at most max tokens; returns the count, or max + 1
 * when there are more. */
static inline int np_split(const uint8_t *buf, uint32_t from, uint32_t to, struct nats_field *tok, int max) {
    int n = 0;
    uint32_t i = from;
    for (;;) {
        while (i < to && np_blank(buf[i])) i++;
        if (i == to) return n;
        if (n == max) return max + 1;
        uint32_t start = i;
        i = np_token_end(buf, i, to);
        tok[n].off = start;
        tok[n].len = i - start;
        n++;
    }
}

/* A size as nats-server's parseSize reads it: 1 to 9 decimal digits, else -1. */
static inline int64_t np_size(const uint8_t *buf, struct nats_field f) {
    if (f.len == 0 || f.len > 9) return -1;
    int64_t v = 0;
    for (uint32_t i = 0; i < f.len; i++) {
        uint8_t d = (uint8_t)(buf[f.off + i] - '0');
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    return v;
}

/* The rest of the line with outer blanks removed; off stays non-zero (absent means 0). */
static inline struct nats_field np_trim(const uint8_t *buf, uint32_t from, uint32_t to) {
    while (from < to && np_blank(buf[from])) from++;
    while (to > from && np_blank(buf[to - 1])) to--;
    struct nats_field f = {from, to - from};
    return f;
}

static const struct nats_field np_absent = {0, 0};

/* Payload sizes from the hdr (or NULL) and total tokens, checked in nats-server's order. */
static enum nats_perr np_sizes(struct nats_parser *p, const uint8_t *buf, const struct nats_field *hdr,
                               struct nats_field total) {
    int64_t h = hdr ? np_size(buf, *hdr) : 0;
    int64_t t = np_size(buf, total);
    if (h < 0 || t < 0 || h > t) return NATS_PERR_BAD_ARGS;
    if (t > (int64_t)p->max_payload) return NATS_PERR_MAX_PAYLOAD;
    p->hdr_len = (uint32_t)h;
    p->total_len = (uint32_t)t;
    return NATS_PERR_NONE;
}

/* Reads the arguments of the line buf[args_off, line_end) into p's fields. */
static enum nats_perr np_args(struct nats_parser *p, const uint8_t *buf, uint32_t line_end) {
    struct nats_field t[NP_TOKENS_MAX + 1];
    int n;
    p->subject = p->reply = p->queue = p->sid = p->arg = np_absent;
    p->hdr_len = p->total_len = 0;
    p->max_msgs = -1;
    switch ((enum nats_op_kind)p->kind) {
    case NATS_OP_PUB: /* subject [reply] size */
        n = np_split(buf, p->args_off, line_end, t, 3);
        if (n != 2 && n != 3) return NATS_PERR_BAD_ARGS;
        p->subject = t[0];
        if (n == 3) p->reply = t[1];
        return np_sizes(p, buf, NULL, t[n - 1]);
    case NATS_OP_HPUB: /* subject [reply] hdr total */
        n = np_split(buf, p->args_off, line_end, t, 4);
        if (n != 3 && n != 4) return NATS_PERR_BAD_ARGS;
        p->subject = t[0];
        if (n == 4) p->reply = t[1];
        return np_sizes(p, buf, &t[n - 2], t[n - 1]);
    case NATS_OP_MSG: /* subject sid [reply] size */
        n = np_split(buf, p->args_off, line_end, t, 4);
        if (n != 3 && n != 4) return NATS_PERR_BAD_ARGS;
        p->subject = t[0];
        p->sid = t[1];
        if (n == 4) p->reply = t[2];
        return np_sizes(p, buf, NULL, t[n - 1]);
    case NATS_OP_HMSG: /* subject sid [reply] hdr total */
        n = np_split(buf, p->args_off, line_end, t, 5);
        if (n != 4 && n != 5) return NATS_PERR_BAD_ARGS;
        p->subject = t[0];
        p->sid = t[1];
        if (n == 5) p->reply = t[2];
        return np_sizes(p, buf, &t[n - 2], t[n - 1]);
    case NATS_OP_SUB: /* subject [queue] sid */
        n = np_split(buf, p->args_off, line_end, t, 3);
        if (n != 2 && n != 3) return NATS_PERR_BAD_ARGS;
        p->subject = t[0];
        if (n == 3) p->queue = t[1];
        p->sid = t[n - 1];
        return NATS_PERR_NONE;
    case NATS_OP_UNSUB: /* sid [max] */
        n = np_split(buf, p->args_off, line_end, t, 2);
        if (n != 1 && n != 2) return NATS_PERR_BAD_ARGS;
        p->sid = t[0];
        /* nats-server reads a bad max as -1 and removes the subscription at once; copy it. */
        if (n == 2) p->max_msgs = np_size(buf, t[1]);
        return NATS_PERR_NONE;
    case NATS_OP_CONNECT:
    case NATS_OP_INFO:
        p->arg = np_trim(buf, p->args_off, line_end);
        return NATS_PERR_NONE;
    case NATS_OP_ERR:
        p->arg = np_trim(buf, p->args_off, line_end);
        if (p->arg.len >= 2 && buf[p->arg.off] == '\'' && buf[p->arg.off + p->arg.len - 1] == '\'') {
            p->arg.off++;
            p->arg.len -= 2;
        }
        return NATS_PERR_NONE;
    case NATS_OP_PING:
    case NATS_OP_PONG:
    case NATS_OP_OK:
        return NATS_PERR_NONE;
    }
    return NATS_PERR_UNKNOWN_OP;
}

static inline struct span np_span(const uint8_t *buf, struct nats_field f) {
    struct span s = {f.off ? buf + f.off : NULL, f.len};
    return s;
}

/* Hands out the op whose fields p holds, ending at byte end, and readies p for the next. */
static enum nats_perr np_done(struct nats_parser *p, const uint8_t *buf, uint32_t end, size_t *used,
                              struct nats_op *op) {
    op->kind = (enum nats_op_kind)p->kind;
    op->subject = np_span(buf, p->subject);
    op->reply = np_span(buf, p->reply);
    op->queue = np_span(buf, p->queue);
    op->sid = np_span(buf, p->sid);
    op->max_msgs = p->max_msgs;
    op->hdr_len = p->hdr_len;
    op->total_len = p->total_len;
    op->arg = np_span(buf, p->arg);
    if (p->state == NP_PAYLOAD) {
        op->payload.p = buf + p->payload_off;
        op->payload.len = p->total_len;
    } else {
        op->payload.p = NULL;
        op->payload.len = 0;
    }
    *used = end;
    np_reset(p);
    return NATS_PERR_NONE;
}

/* NP_PAYLOAD: done once the payload and its CR LF are all there; no payload byte is read. */
static enum nats_perr np_payload(struct nats_parser *p, const uint8_t *buf, size_t len, size_t *used,
                                 struct nats_op *op) {
    uint32_t cr = p->need - 2;
    if (len < p->need) {
        /* The byte after the payload is already wrong: fail now, as nats-server would. */
        if (len > cr && buf[cr] != '\r') goto not_crlf;
        return NATS_PERR_AGAIN;
    }
    if (buf[cr] != '\r' || buf[cr + 1] != '\n') goto not_crlf;
    return np_done(p, buf, p->need, used, op);
not_crlf:
    /* A size that does not match the payload; nats-server: Unknown Protocol Operation. */
    np_reset(p);
    return NATS_PERR_UNKNOWN_OP;
}

static inline bool np_has_payload(uint8_t kind) {
    return kind == NATS_OP_PUB || kind == NATS_OP_HPUB || kind == NATS_OP_MSG || kind == NATS_OP_HMSG;
}

enum nats_perr nats_parse(struct nats_parser *p, const uint8_t *buf, size_t len, size_t *used, struct nats_op *op) {
    enum nats_perr e;
    *used = 0;
    if (p->state == NP_PAYLOAD) return np_payload(p, buf, len, used, op);
    if (p->state == NP_VERB) {
        if (len == 0) return NATS_PERR_AGAIN;
        e = np_verb(p, buf, len);
        if (e == NATS_PERR_AGAIN) return e;
        if (e != NATS_PERR_NONE) goto fail;
        p->state = NP_LINE;
        p->scan_off = p->args_off;
    }
    /* The caller hands back at least what it showed before; fewer bytes is a caller bug. */
    SL_ASSERT(len >= p->scan_off);

    const uint8_t *lf = memchr(buf + p->scan_off, '\n', len - p->scan_off);
    if (!lf) {
        /* A CR at the end may be the line's terminator, which the limit does not count. */
        size_t line = len - (buf[len - 1] == '\r');
        if (line > p->max_control_line) {
            e = NATS_PERR_MAX_CONTROL_LINE;
            goto fail;
        }
        p->scanned_bytes += len - p->scan_off;
        p->scan_off = (uint32_t)len; /* len <= max_control_line + 1 <= 2^30 + 1 */
        return NATS_PERR_AGAIN;
    }
    size_t lf_at = (size_t)(lf - buf);
    if (lf_at > (size_t)p->max_control_line + 1) { /* even without a CR the line is too long */
        e = NATS_PERR_MAX_CONTROL_LINE;
        goto fail;
    }
    uint32_t lf_off = (uint32_t)lf_at;
    uint32_t line_end = lf_off;
    if (line_end > p->args_off && buf[line_end - 1] == '\r') line_end--;
    if (line_end > p->max_control_line) {
        e = NATS_PERR_MAX_CONTROL_LINE;
        goto fail;
    }
    p->scanned_bytes += (lf_off + 1u - p->scan_off) + (line_end - p->args_off);

    e = np_args(p, buf, line_end);
    if (e != NATS_PERR_NONE) goto fail;
    if (!np_has_payload(p->kind)) return np_done(p, buf, lf_off + 1, used, op);
    p->payload_off = lf_off + 1;
    p->need = p->payload_off + p->total_len + 2;
    p->state = NP_PAYLOAD;
    return np_payload(p, buf, len, used, op);
fail:
    np_reset(p);
    return e;
}
