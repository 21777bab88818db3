/* protocol_nats_parse_test.c: protocol/nats_parse.c. Every op whole, then the property that
 * matters for a socket reader: the same ops and the same error come out however the input is cut
 * (every two-way split, byte by byte, random chunkings of long mixed streams and of fuzz input).
 * The feeder copies the unconsumed bytes into a fresh exact-size allocation before every call,
 * so the buffer moves between calls (offsets, not pointers, must survive) and ASan sees any read
 * past the end. Limits, every error nats-server 2.9.10 has, and a check that resumed parsing
 * never rescans (the parser's scanned_bytes counter). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/nats_parse.h"
#include "testutil.h"

#define SERVER true
#define CLIENT false
#define CL_DEFAULT NATS_MAX_CONTROL_LINE_DEFAULT
#define PAY_DEFAULT NATS_MAX_PAYLOAD_DEFAULT

/* Check's ck_assert records a checkpoint through the fork pipe on every call, which dominates
 * loops that run millions of times; these only reach Check when they fail. */
#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        if (!(cond)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond);                   \
    } while (0)
#define REQUIRE_EQ(a, b) REQUIRE((a) == (b))
#define REQUIRE_GT(a, b) REQUIRE((a) > (b))
#define REQUIRE_LE(a, b) REQUIRE((a) <= (b))
#define REQUIRE_LT(a, b) REQUIRE((a) < (b))

/* ---- a growable string ---- */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sb *s, const void *d, size_t n) {
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        REQUIRE(s->p);
    }
    memcpy(s->p + s->len, d, n);
    s->len += n;
    s->p[s->len] = 0;
}

static void sb_printf(struct sb *s, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    REQUIRE_LT(n, (int)sizeof(tmp));
    sb_put(s, tmp, (size_t)n);
}

static const char *perr_name(enum nats_perr e) {
    static const char *const names[] = {"NONE", "AGAIN", "UNKNOWN_OP", "MAX_CONTROL_LINE", "MAX_PAYLOAD",
                                        "BAD_ARGS"};
    return (size_t)e < SL_ARRAY_LEN(names) ? names[e] : "?";
}

/* ---- a canonical text for an op, so results from different buffers compare as strings ---- */

static bool has_payload(enum nats_op_kind k) {
    return k == NATS_OP_PUB || k == NATS_OP_HPUB || k == NATS_OP_MSG || k == NATS_OP_HMSG;
}
static bool has_arg(enum nats_op_kind k) {
    return k == NATS_OP_CONNECT || k == NATS_OP_INFO || k == NATS_OP_ERR;
}

/* Short payloads verbatim (CR, LF, binary escaped), long ones as length and FNV-1a hash. */
static void sb_bytes(struct sb *s, const uint8_t *p, size_t n) {
    if (n > 64) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
        sb_printf(s, "#%zu:%016llx", n, (unsigned long long)h);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r') sb_put(s, "\\r", 2);
        else if (p[i] == '\n') sb_put(s, "\\n", 2);
        else if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\') sb_printf(s, "\\x%02x", p[i]);
        else sb_put(s, &p[i], 1);
    }
}

struct fields {
    enum nats_op_kind kind;
    const char *subject, *reply, *queue, *sid, *arg; /* NULL or "" when absent */
    int64_t max_msgs;
    uint32_t hdr_len;
    const uint8_t *payload;
    size_t payload_len;
};

static void sb_field(struct sb *s, const char *name, const void *p, size_t n) {
    if (!n) return;
    sb_printf(s, " %s=", name);
    sb_bytes(s, p, n);
}

static void describe(struct sb *s, const struct fields *f) {
    sb_printf(s, "%s", nats_op_name(f->kind));
    sb_field(s, "subj", f->subject, f->subject ? strlen(f->subject) : 0);
    sb_field(s, "reply", f->reply, f->reply ? strlen(f->reply) : 0);
    sb_field(s, "queue", f->queue, f->queue ? strlen(f->queue) : 0);
    sb_field(s, "sid", f->sid, f->sid ? strlen(f->sid) : 0);
    if (f->kind == NATS_OP_UNSUB) sb_printf(s, " max=%lld", (long long)f->max_msgs);
    if (f->kind == NATS_OP_HPUB || f->kind == NATS_OP_HMSG) sb_printf(s, " hdr=%u", f->hdr_len);
    if (has_payload(f->kind)) {
        sb_printf(s, " len=%zu payload=", f->payload_len);
        sb_bytes(s, f->payload, f->payload_len);
    }
    if (has_arg(f->kind)) {
        sb_put(s, " arg=", 5);
        sb_bytes(s, (const uint8_t *)f->arg, f->arg ? strlen(f->arg) : 0);
    }
    sb_put(s, "\n", 1);
}

static void span_in(struct span sp, const uint8_t *lo, size_t n) {
    if (sp.len == 0) return;
    REQUIRE(sp.p >= lo && sp.p + sp.len <= lo + n);
}

/* Describes op, first checking that every span lies inside the op's bytes and that absent
 * fields are empty. */
static void describe_op(struct sb *s, const struct nats_op *op, const uint8_t *at, size_t used) {
    span_in(op->subject, at, used);
    span_in(op->reply, at, used);
    span_in(op->queue, at, used);
    span_in(op->sid, at, used);
    span_in(op->payload, at, used);
    span_in(op->arg, at, used);
    REQUIRE_EQ(op->payload.len, has_payload(op->kind) ? op->total_len : 0);
    REQUIRE_LE(op->hdr_len, op->total_len);
    if (!has_payload(op->kind)) REQUIRE_EQ(op->total_len, 0);
    if (op->kind != NATS_OP_UNSUB) REQUIRE_EQ(op->max_msgs, -1);
    if (!has_arg(op->kind)) REQUIRE_EQ(op->arg.len, 0);
    if (has_payload(op->kind)) REQUIRE(op->payload.p);
    char tok[5][4200];
    const struct span *sp[5] = {&op->subject, &op->reply, &op->queue, &op->sid, &op->arg};
    for (int i = 0; i < 5; i++) {
        REQUIRE_LT(sp[i]->len, sizeof(tok[i]));
        if (sp[i]->len) memcpy(tok[i], sp[i]->p, sp[i]->len);
        else REQUIRE(sp[i]->p == NULL || sp[i] == &op->arg);
        tok[i][sp[i]->len] = 0;
    }
    struct fields f = {op->kind, tok[0], tok[1], tok[2], tok[3], tok[4], op->max_msgs, op->hdr_len,
                       op->payload.p, op->payload.len};
    describe(s, &f);
}

/* ---- the feeder ---- */

/* Returns the length of the next chunk given how much has been fed. */
typedef size_t (*chunker)(size_t fed, size_t total, void *ctx);

static size_t chunk_whole(size_t fed, size_t total, void *ctx) {
    (void)ctx;
    return total - fed;
}
static size_t chunk_bytes(size_t fed, size_t total, void *ctx) {
    (void)fed, (void)total, (void)ctx;
    return 1;
}
static size_t chunk_cut(size_t fed, size_t total, void *ctx) {
    size_t cut = *(size_t *)ctx;
    return fed < cut ? cut - fed : total - fed;
}
struct rnd {
    uint64_t x;
    size_t max_chunk;
};
static uint64_t rnd_next(struct rnd *r) {
    r->x ^= r->x << 13;
    r->x ^= r->x >> 7;
    r->x ^= r->x << 17;
    return r->x;
}
static size_t chunk_random(size_t fed, size_t total, void *ctx) {
    (void)fed, (void)total;
    struct rnd *r = ctx;
    return 1 + (size_t)(rnd_next(r) % r->max_chunk);
}

struct cfg {
    bool server_side;
    uint32_t max_payload, max_control_line;
};

/* Feeds in[0..n) in the chunks next() asks for and returns every op's description followed by
 * the end: "END", "AGAIN left=<unconsumed>" or "ERR <perr>". Caller frees. */
static char *run(struct cfg c, const void *input, size_t n, chunker next, void *ctx, struct nats_parser *out) {
    const uint8_t *in = input;
    struct nats_parser p;
    nats_parser_init(&p, c.server_side, c.max_payload, c.max_control_line);
    static const uint8_t nothing[1];
    uint8_t *buf = NULL; /* exactly the unconsumed bytes, reallocated before every call */
    size_t have = 0, fed = 0;
    struct sb s = {0};
    for (;;) {
        size_t off = 0, used = 99;
        enum nats_perr e;
        for (;;) {
            struct nats_op op;
            const uint8_t *at = have > off ? buf + off : nothing;
            e = nats_parse(&p, at, have - off, &used, &op);
            if (e != NATS_PERR_NONE) break;
            REQUIRE_GT(used, 0);
            REQUIRE_LE(used, have - off);
            describe_op(&s, &op, at, used);
            off += used;
        }
        if (e != NATS_PERR_AGAIN) {
            sb_printf(&s, "ERR %s", perr_name(e));
            break;
        }
        REQUIRE_EQ(used, 0);
        if (fed == n) {
            if (have == off) sb_printf(&s, "END");
            else sb_printf(&s, "AGAIN left=%zu", have - off);
            break;
        }
        size_t chunk = next(fed, n, ctx);
        if (chunk == 0 || chunk > n - fed) chunk = n - fed;
        size_t keep = have - off;
        uint8_t *nb = malloc(keep + chunk);
        REQUIRE(nb);
        if (keep) memcpy(nb, buf + off, keep);
        memcpy(nb + keep, in + fed, chunk);
        free(buf);
        buf = nb;
        have = keep + chunk;
        fed += chunk;
    }
    free(buf);
    if (out) *out = p;
    return s.p;
}

static char *run_whole(struct cfg c, const void *in, size_t n) { return run(c, in, n, chunk_whole, NULL, NULL); }

/* Every two-way cut, byte by byte, and a few random chunkings give the same text as whole. */
static void check_splits(struct cfg c, const void *in, size_t n, const char *whole) {
    for (size_t cut = 1; cut < n; cut++) {
        char *got = run(c, in, n, chunk_cut, &cut, NULL);
        if (strcmp(got, whole) != 0) ck_abort_msg("cut at %zu of %zu:\n%s\nwhole:\n%s", cut, n, got, whole);
        free(got);
    }
    char *got = run(c, in, n, chunk_bytes, NULL, NULL);
    REQUIRE(strcmp(got, whole) == 0);
    free(got);
    for (uint64_t seed = 1; seed <= 8; seed++) {
        struct rnd r = {seed * 0x9E3779B97F4A7C15ull, 1 + seed * 3};
        got = run(c, in, n, chunk_random, &r, NULL);
        REQUIRE(strcmp(got, whole) == 0);
        free(got);
    }
}

/* ---- every op, whole and cut everywhere ---- */

struct good {
    bool server_side;
    const char *in;
    const char *want; /* descriptions, then END */
};

#define HDR_ID "NATS/1.0\r\nNats-Msg-Id: id-00000\r\n\r\n"
static const struct good k_good[] = {
    {SERVER, "PUB foo 5\r\nhello\r\n", "PUB subj=foo len=5 payload=hello\nEND"},
    {SERVER, "PUB foo.bar _INBOX.x 5\r\nhello\r\n", "PUB subj=foo.bar reply=_INBOX.x len=5 payload=hello\nEND"},
    {SERVER, "PUB s 0\r\n\r\n", "PUB subj=s len=0 payload=\nEND"},
    {SERVER, "PUB s 000000007\r\n0123456\r\n", "PUB subj=s len=7 payload=0123456\nEND"},
    {SERVER, "pub\t s \t r\t\t3 \r\nabc\r\n", "PUB subj=s reply=r len=3 payload=abc\nEND"},
    /* Long tokens: the blank search goes 8 bytes at a time, then byte by byte; blanks at every
     * position of a word (an ack's reply subject is ~60 bytes). */
    {SERVER, "PUB $JS.ACK.ORDERS.WORKER.1.123456.123456.1796571270278930468.0 $JS.ACK.ORDERS.WORKER.1.2.3.4.5\t2\r\nok\r\n",
     "PUB subj=$JS.ACK.ORDERS.WORKER.1.123456.123456.1796571270278930468.0 reply=$JS.ACK.ORDERS.WORKER.1.2.3.4.5 len=2 payload=ok\nEND"},
    {SERVER, "PUB abcdefg\thijklmn 1\r\nx\r\n", "PUB subj=abcdefg reply=hijklmn len=1 payload=x\nEND"},
    {SERVER, "PUB abcdefgh hijklmnop\t1\r\nx\r\n", "PUB subj=abcdefgh reply=hijklmnop len=1 payload=x\nEND"},
    {SERVER, "PUB abcdefghi\t\t hijklmnopqrstuvw 1\r\nx\r\n", "PUB subj=abcdefghi reply=hijklmnopqrstuvw len=1 payload=x\nEND"},
    {SERVER, "PUB abcdefghijklmnopq\thijklmnopqrstuvwx 000000001\r\nx\r\n",
     "PUB subj=abcdefghijklmnopq reply=hijklmnopqrstuvwx len=1 payload=x\nEND"},
    {SERVER, "PUB a 7\r\n\r\nx\r\n\r\n\r\n", "PUB subj=a len=7 payload=\\r\\nx\\r\\n\\r\\n\nEND"},
    {SERVER, "PUB $JS.API.CONSUMER.CREATE.ORDERS.WORKER.orders.* _INBOX.a 2\r\n{}\r\n",
     "PUB subj=$JS.API.CONSUMER.CREATE.ORDERS.WORKER.orders.* reply=_INBOX.a len=2 payload={}\nEND"},
    {SERVER, "PUB a 1\nx\r\n", "PUB subj=a len=1 payload=x\nEND"}, /* bare LF ends a control line */
    {SERVER, "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
     "HPUB subj=foo hdr=12 len=14 payload=NATS/1.0\\r\\n\\r\\nhi\nEND"},
    {SERVER, "HPUB orders.created _INBOX.FpBmSi.vFHQWS 35 46\r\n" HDR_ID "order-00000\r\n",
     "HPUB subj=orders.created reply=_INBOX.FpBmSi.vFHQWS hdr=35 len=46 "
     "payload=NATS/1.0\\r\\nNats-Msg-Id: id-00000\\r\\n\\r\\norder-00000\nEND"},
    {SERVER, "HPUB a 0 0\r\n\r\n", "HPUB subj=a hdr=0 len=0 payload=\nEND"},
    {SERVER, "SUB _INBOX.AisjOz5S2G5n2hziuPIrmN.*  1\r\n", "SUB subj=_INBOX.AisjOz5S2G5n2hziuPIrmN.* sid=1\nEND"},
    {SERVER, "SUB foo workers 42\r\n", "SUB subj=foo queue=workers sid=42\nEND"},
    {SERVER, "sub foo\tq\tabc \r\n", "SUB subj=foo queue=q sid=abc\nEND"},
    {SERVER, "UNSUB 1 \r\n", "UNSUB sid=1 max=-1\nEND"},
    {SERVER, "UNSUB 2 1\r\n", "UNSUB sid=2 max=1\nEND"},
    {SERVER, "UNSUB 2 0\r\n", "UNSUB sid=2 max=0\nEND"},
    {SERVER, "UNSUB 2 x\r\n", "UNSUB sid=2 max=-1\nEND"}, /* nats-server: bad max reads as -1 */
    {SERVER, "PING\r\n", "PING\nEND"},
    {SERVER, "PONG\r\n", "PONG\nEND"},
    {SERVER, "ping\n", "PING\nEND"},
    {SERVER, "PINGX ignored\r\n", "PING\nEND"}, /* nats-server skips to LF after PING */
    {SERVER, "CONNECT {\"verbose\":false, \"name\": \"a b\",\t\"echo\":true}\r\n",
     "CONNECT arg={\"verbose\":false, \"name\": \"a b\",\\x09\"echo\":true}\nEND"},
    {SERVER, "CONNECT{}\r\n", "CONNECT arg={}\nEND"},
    {SERVER, "CONNECT   {} \t\r\n", "CONNECT arg={}\nEND"},
    {SERVER, "CONNECT\r\n", "CONNECT arg=\nEND"}, /* the server rejects the empty JSON */
    {SERVER, "PING\r\nPUB a 1\r\nx\r\nPONG\r\n", "PING\nPUB subj=a len=1 payload=x\nPONG\nEND"},
    {SERVER, "PUB a 3\r\nab", "AGAIN left=11"},
    {SERVER, "SUB a 1", "AGAIN left=7"},
    {CLIENT, "INFO {\"server_id\":\"N\",\"version\":\"2.9.10\",\"max_payload\":1048576} \r\n",
     "INFO arg={\"server_id\":\"N\",\"version\":\"2.9.10\",\"max_payload\":1048576}\nEND"},
    {CLIENT, "MSG demo.echo 1 1\r\nx\r\n", "MSG subj=demo.echo sid=1 len=1 payload=x\nEND"},
    {CLIENT, "MSG _INBOX.FpBmSi.vFHQWS 2  28\r\n{\"stream\":\"ORDERS\", \"seq\":1}\r\n",
     "MSG subj=_INBOX.FpBmSi.vFHQWS sid=2 len=28 payload={\"stream\":\"ORDERS\", \"seq\":1}\nEND"},
    {CLIENT, "MSG pusht.a 2 $JS.ACK.PUSHT.PUSHD.1.1.1.1795601717090830849.2 2\r\np0\r\n",
     "MSG subj=pusht.a reply=$JS.ACK.PUSHT.PUSHD.1.1.1.1795601717090830849.2 sid=2 len=2 payload=p0\nEND"},
    {CLIENT, "MSG _INBOX.x 1  0\r\n\r\n", "MSG subj=_INBOX.x sid=1 len=0 payload=\nEND"},
    {CLIENT, "HMSG _INBOX.x 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
     "HMSG subj=_INBOX.x sid=1 hdr=16 len=16 payload=NATS/1.0 503\\r\\n\\r\\n\nEND"},
    {CLIENT, "HMSG orders.created 3 $JS.ACK.O.W.1.1.1.1.9 32 39\r\nNATS/1.0\r\nNats-Msg-Id: nid-0\r\n\r\norder-0\r\n",
     "HMSG subj=orders.created reply=$JS.ACK.O.W.1.1.1.1.9 sid=3 hdr=32 len=39 "
     "payload=NATS/1.0\\r\\nNats-Msg-Id: nid-0\\r\\n\\r\\norder-0\nEND"},
    {CLIENT, "+OK\r\n", "+OK\nEND"},
    {CLIENT, "-ERR 'Unknown Protocol Operation'\r\n", "-ERR arg=Unknown Protocol Operation\nEND"},
    {CLIENT, "-ERR 'Permissions Violation for Publish to \"a\"'\r\n",
     "-ERR arg=Permissions Violation for Publish to \"a\"\nEND"},
    {CLIENT, "-err\tbare text\r\n", "-ERR arg=bare text\nEND"},
    {CLIENT, "PING\r\nPONG\r\n", "PING\nPONG\nEND"},
};

START_TEST(test_good_whole_and_every_split) {
    const struct good *g = &k_good[_i];
    struct cfg c = {g->server_side, PAY_DEFAULT, CL_DEFAULT};
    size_t n = strlen(g->in);
    char *whole = run_whole(c, g->in, n);
    if (strcmp(whole, g->want) != 0) ck_abort_msg("input %d:\n%s\nwant:\n%s", _i, whole, g->want);
    check_splits(c, g->in, n, whole);
    free(whole);
}
END_TEST

/* ---- every error ---- */

struct bad {
    bool server_side;
    uint32_t max_payload;
    const char *in;
    size_t len; /* 0: strlen */
    enum nats_perr want;
};

#define UNK NATS_PERR_UNKNOWN_OP
#define BAD NATS_PERR_BAD_ARGS
#define MAXP NATS_PERR_MAX_PAYLOAD
static const struct bad k_bad[] = {
    /* unknown verbs and garbage, found without waiting for a line end */
    {SERVER, PAY_DEFAULT, "FOO\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "X", 0, UNK},
    {SERVER, PAY_DEFAULT, "\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "\n", 0, UNK},
    {SERVER, PAY_DEFAULT, " PING\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PUX a 1\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PINX", 0, UNK},
    {SERVER, PAY_DEFAULT, "\x00\x01\xff", 3, UNK},
    {SERVER, PAY_DEFAULT, "P\x00NG\r\n", 6, UNK},
    {SERVER, PAY_DEFAULT, "PUB\r\n", 0, UNK}, /* nats-server wants a blank after PUB */
    {SERVER, PAY_DEFAULT, "PUBX a 1\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "UNSUB\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "SUB\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "HPU\x0b", 0, UNK},
    /* server-only ops from a client */
    {SERVER, PAY_DEFAULT, "MSG a 1 1\r\nx\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "HMSG a 1 0 0\r\n\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "INFO {}\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "+OK\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "-ERR 'x'\r\n", 0, UNK},
    /* payload not followed by CR LF: the size does not match */
    {SERVER, PAY_DEFAULT, "PUB a 3\r\nabcd\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PUB a 3\r\nab\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PUB a 1\r\nx\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PUB a 1\r\nx\rX", 0, UNK},
    {SERVER, PAY_DEFAULT, "PUB a 1\r\nxY", 0, UNK}, /* fails before the LF position arrives */
    {SERVER, PAY_DEFAULT, "HPUB a 2 3\r\nab\r\n\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PUB a 0\r\nx\r\n", 0, UNK},
    {SERVER, PAY_DEFAULT, "PING\r\nPUB a 2\r\nabc\r\n", 0, UNK}, /* after a good op */
    /* bad arguments: nats-server closes without -ERR */
    {SERVER, PAY_DEFAULT, "PUB \r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a  \r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a -1\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a x\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a 1x\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a +1\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "PUB a 1234567890\r\n", 0, BAD}, /* parseSize takes 9 digits at most */
    {SERVER, PAY_DEFAULT, "PUB a b c 1\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "HPUB a 5 3\r\n", 0, BAD}, /* header larger than total */
    {SERVER, PAY_DEFAULT, "HPUB a 3\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "HPUB a r x 3\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "HPUB a r 1 x\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "HPUB a b c 1 2\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "SUB foo\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "SUB foo  \r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "SUB \r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "SUB a b c d\r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "UNSUB \r\n", 0, BAD},
    {SERVER, PAY_DEFAULT, "UNSUB 1 2 3\r\n", 0, BAD},
    /* payload limit, on the control line, before any payload byte */
    {SERVER, 1024, "PUB a 1025\r\n", 0, MAXP},
    {SERVER, 1024, "PUB a r 999999999\r\n", 0, MAXP},
    {SERVER, 1024, "HPUB a 10 1025\r\n", 0, MAXP},
    {SERVER, 1024, "HPUB a 1025 1025\r\n", 0, MAXP},
    {SERVER, 0, "PUB a 1\r\n", 0, MAXP},
    {SERVER, 1024, "HPUB a 1026 1025\r\n", 0, BAD}, /* nats-server checks hdr <= total first */
    /* client side: client-only ops from a server, and bad server ops */
    {CLIENT, PAY_DEFAULT, "PUB a 1\r\nx\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "HPUB a 0 0\r\n\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "SUB a 1\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "UNSUB 1\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "CONNECT {}\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "-ERR\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "+KO\r\n", 0, UNK},
    {CLIENT, PAY_DEFAULT, "MSG a 1\r\n", 0, BAD},
    {CLIENT, PAY_DEFAULT, "MSG a 1 r 2 3\r\n", 0, BAD},
    {CLIENT, PAY_DEFAULT, "MSG a 1 -2\r\n", 0, BAD},
    {CLIENT, PAY_DEFAULT, "HMSG a 1 5 3\r\n", 0, BAD},
    {CLIENT, PAY_DEFAULT, "HMSG a 1 3\r\n", 0, BAD},
    {CLIENT, PAY_DEFAULT, "HMSG a 1 r x 1 2\r\n", 0, BAD},
    {CLIENT, PAY_DEFAULT, "MSG a 1 2\r\nabc\r\n", 0, UNK},
    {CLIENT, 16, "MSG a 1 17\r\n", 0, MAXP},
};

START_TEST(test_errors_whole_and_every_split) {
    const struct bad *b = &k_bad[_i];
    struct cfg c = {b->server_side, b->max_payload, CL_DEFAULT};
    size_t n = b->len ? b->len : strlen(b->in);
    char *whole = run_whole(c, b->in, n);
    const char *end = strstr(whole, "ERR ");
    if (!end || strcmp(end + 4, perr_name(b->want)) != 0) ck_abort_msg("input %d: got %s", _i, whole);
    check_splits(c, b->in, n, whole);
    free(whole);
}
END_TEST

START_TEST(test_perr_text) {
    ck_assert_str_eq(nats_perr_text(NATS_PERR_UNKNOWN_OP), "Unknown Protocol Operation");
    ck_assert_str_eq(nats_perr_text(NATS_PERR_MAX_CONTROL_LINE), "maximum control line exceeded");
    ck_assert_str_eq(nats_perr_text(NATS_PERR_MAX_PAYLOAD), "Maximum Payload Violation");
    ck_assert_ptr_null(nats_perr_text(NATS_PERR_BAD_ARGS));
    ck_assert_ptr_null(nats_perr_text(NATS_PERR_NONE));
    ck_assert_ptr_null(nats_perr_text(NATS_PERR_AGAIN));
}
END_TEST

/* An error resets the parser, and AGAIN never asks the caller to drop anything. */
START_TEST(test_reset_after_error_and_again_uses_nothing) {
    struct nats_parser p;
    struct nats_op op;
    size_t used = 7;
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"PUB a 5\r\nhel", 12, &used, &op), NATS_PERR_AGAIN);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"PUB a 5\r\nhelloXX", 16, &used, &op), NATS_PERR_UNKNOWN_OP);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"PING\r\n", 6, &used, &op), NATS_PERR_NONE);
    ck_assert_uint_eq(used, 6);
    ck_assert_int_eq(op.kind, NATS_OP_PING);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"", 0, &used, &op), NATS_PERR_AGAIN);
    ck_assert_uint_eq(used, 0);
}
END_TEST

/* Spans point into whatever buffer the last call got: the first buffer is gone by then. */
START_TEST(test_buffer_moves_between_calls) {
    struct nats_parser p;
    struct nats_op op;
    size_t used;
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    const char *all = "PUB subj reply 5\r\nhello\r\n";
    size_t n = strlen(all);
    uint8_t *a = malloc(20);
    memcpy(a, all, 20);
    ck_assert_int_eq(nats_parse(&p, a, 20, &used, &op), NATS_PERR_AGAIN);
    uint8_t *b = malloc(n);
    memcpy(b, all, n);
    free(a);
    ck_assert_int_eq(nats_parse(&p, b, n, &used, &op), NATS_PERR_NONE);
    ck_assert_uint_eq(used, n);
    ck_assert_ptr_eq(op.subject.p, b + 4);
    ck_assert_ptr_eq(op.reply.p, b + 9);
    ck_assert_ptr_eq(op.payload.p, b + 18);
    ck_assert(memcmp(op.payload.p, "hello", 5) == 0);
    free(b);
}
END_TEST

/* ---- case-insensitive verbs: every upper/lower mix of every verb ---- */

START_TEST(test_verbs_case_insensitive) {
    static const struct {
        bool server_side;
        const char *verb, *rest;
        enum nats_op_kind kind;
    } v[] = {
        {SERVER, "connect", " {}\r\n", NATS_OP_CONNECT}, {SERVER, "pub", " a 1\r\nx\r\n", NATS_OP_PUB},
        {SERVER, "hpub", " a 0 1\r\nx\r\n", NATS_OP_HPUB}, {SERVER, "sub", " a 1\r\n", NATS_OP_SUB},
        {SERVER, "unsub", " 1\r\n", NATS_OP_UNSUB},        {SERVER, "ping", "\r\n", NATS_OP_PING},
        {SERVER, "pong", "\r\n", NATS_OP_PONG},            {CLIENT, "info", " {}\r\n", NATS_OP_INFO},
        {CLIENT, "msg", " a 1 1\r\nx\r\n", NATS_OP_MSG},   {CLIENT, "hmsg", " a 1 0 1\r\nx\r\n", NATS_OP_HMSG},
        {CLIENT, "+ok", "\r\n", NATS_OP_OK},               {CLIENT, "-err", " 'x'\r\n", NATS_OP_ERR},
        {CLIENT, "ping", "\r\n", NATS_OP_PING},            {CLIENT, "pong", "\r\n", NATS_OP_PONG},
    };
    int tried = 0;
    for (size_t i = 0; i < SL_ARRAY_LEN(v); i++) {
        size_t vl = strlen(v[i].verb);
        for (unsigned mask = 0; mask < (1u << vl); mask++) {
            char line[64];
            for (size_t j = 0; j < vl; j++) {
                char ch = v[i].verb[j];
                line[j] = (mask >> j & 1) && ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
            }
            snprintf(line + vl, sizeof(line) - vl, "%s", v[i].rest);
            struct nats_parser p;
            struct nats_op op;
            size_t used;
            nats_parser_init(&p, v[i].server_side, PAY_DEFAULT, CL_DEFAULT);
            ck_assert_int_eq(nats_parse(&p, (const uint8_t *)line, strlen(line), &used, &op), NATS_PERR_NONE);
            ck_assert_int_eq(op.kind, v[i].kind);
            ck_assert_uint_eq(used, strlen(line));
            tried++;
        }
    }
    ck_assert_int_gt(tried, 200);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_max_payload_boundary) {
    struct cfg c = {SERVER, 1024, CL_DEFAULT};
    uint8_t msg[1100];
    int h = snprintf((char *)msg, sizeof(msg), "PUB a 1024\r\n");
    memset(msg + h, 'z', 1024);
    memcpy(msg + h + 1024, "\r\n", 2);
    char *whole = run_whole(c, msg, (size_t)h + 1026);
    const char *prefix = "PUB subj=a len=1024 payload=#1024:";
    ck_assert(strncmp(whole, prefix, strlen(prefix)) == 0);
    free(whole);
    /* the control line alone: == waits for the payload, +1 fails with no payload byte sent */
    struct nats_parser p;
    struct nats_op op;
    size_t used;
    nats_parser_init(&p, SERVER, 1024, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, msg, (size_t)h, &used, &op), NATS_PERR_AGAIN);
    nats_parser_init(&p, SERVER, 1024, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"PUB a 1025\r\n", 12, &used, &op), NATS_PERR_MAX_PAYLOAD);
    nats_parser_init(&p, SERVER, 1024, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"HPUB a r 12 1025\r\n", 18, &used, &op),
                     NATS_PERR_MAX_PAYLOAD);
    /* size 0 with a limit of 0 */
    nats_parser_init(&p, SERVER, 0, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, (const uint8_t *)"PUB a 0\r\n\r\n", 11, &used, &op), NATS_PERR_NONE);
    ck_assert_uint_eq(op.total_len, 0);
}
END_TEST

/* A control line of exactly `len` bytes (without CR LF): "PUB <subject> 0". */
static size_t pub_line(uint8_t *out, size_t len) {
    memcpy(out, "PUB ", 4);
    memset(out + 4, 's', len - 6);
    memcpy(out + len - 2, " 0", 2);
    memcpy(out + len, "\r\n\r\n", 4);
    return len + 4;
}

START_TEST(test_control_line_limit) {
    struct cfg c = {SERVER, PAY_DEFAULT, CL_DEFAULT};
    static uint8_t in[5000];
    /* 4096 fits, whole and at every cut */
    size_t n = pub_line(in, 4096);
    char *whole = run_whole(c, in, n);
    ck_assert(strncmp(whole, "PUB subj=#4090:", 15) == 0);
    check_splits(c, in, n, whole);
    free(whole);
    /* 4097 does not, even when the line end never comes */
    n = pub_line(in, 4097);
    whole = run_whole(c, in, n);
    ck_assert_str_eq(whole, "ERR MAX_CONTROL_LINE");
    check_splits(c, in, n, whole);
    free(whole);
    struct nats_parser p;
    struct nats_op op;
    size_t used;
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, in, 4096, &used, &op), NATS_PERR_AGAIN);
    ck_assert_int_eq(nats_parse(&p, in, 4097, &used, &op), NATS_PERR_MAX_CONTROL_LINE);
    /* 4096 bytes and the CR: still waiting, since the CR may end the line */
    n = pub_line(in, 4096);
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, in, 4097, &used, &op), NATS_PERR_AGAIN);
    ck_assert_int_eq(nats_parse(&p, in, 4098, &used, &op), NATS_PERR_AGAIN); /* the payload's CR LF */
    ck_assert_int_eq(nats_parse(&p, in, n, &used, &op), NATS_PERR_NONE);
    ck_assert_uint_eq(used, n);
    /* also a bare-LF line of 4097 bytes, and junk after PING that never ends */
    n = pub_line(in, 4097);
    in[4097] = '\n';
    whole = run_whole(c, in, 4098);
    ck_assert_str_eq(whole, "ERR MAX_CONTROL_LINE");
    free(whole);
    memcpy(in, "PING", 4);
    memset(in + 4, 'x', 4996);
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    ck_assert_int_eq(nats_parse(&p, in, 4096, &used, &op), NATS_PERR_AGAIN);
    ck_assert_int_eq(nats_parse(&p, in, 5000, &used, &op), NATS_PERR_MAX_CONTROL_LINE);
    /* a smaller configured limit, on the client side */
    struct cfg small = {CLIENT, PAY_DEFAULT, 20};
    whole = run_whole(small, "MSG abcdefghij 1 5\r\nhello\r\n", 27); /* 18 bytes */
    ck_assert_str_eq(whole, "MSG subj=abcdefghij sid=1 len=5 payload=hello\nEND");
    free(whole);
    whole = run_whole(small, "MSG abcdefghijklm 1 5\r\n", 23); /* 21 bytes */
    ck_assert_str_eq(whole, "ERR MAX_CONTROL_LINE");
    free(whole);
}
END_TEST

/* ---- resumable: no rescans ---- */

/* A 1 MiB payload arriving 100 bytes per call: the payload itself is never examined, so the
 * parser's work is the control line, however many calls it takes. */
START_TEST(test_big_payload_in_small_reads_is_linear) {
    size_t payload = 1u << 20;
    const char *line = "PUB big.subject _INBOX.r 1048576\r\n";
    size_t ll = strlen(line), n = ll + payload + 2;
    uint8_t *buf = malloc(n);
    memcpy(buf, line, ll);
    t_fill_random(buf + ll, payload, 7);
    memcpy(buf + ll + payload, "\r\n", 2);
    struct nats_parser p;
    struct nats_op op;
    size_t used, calls = 0, len = 0;
    enum nats_perr e;
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    do {
        len = SL_MIN(len + 100, n);
        e = nats_parse(&p, buf, len, &used, &op);
        calls++;
        if (len < n) ck_assert_int_eq(e, NATS_PERR_AGAIN);
    } while (e == NATS_PERR_AGAIN && len < n);
    ck_assert_int_eq(e, NATS_PERR_NONE);
    ck_assert_uint_eq(used, n);
    ck_assert_uint_eq(calls, (n + 99) / 100);
    ck_assert_ptr_eq(op.payload.p, buf + ll);
    ck_assert_uint_eq(op.payload.len, payload);
    ck_assert_uint_le(p.scanned_bytes, 2 * ll);
    free(buf);
}
END_TEST

/* A 4000-byte CONNECT arriving one byte per call: each byte is searched for LF once and split
 * once, not once per call (which would be 8 million). */
START_TEST(test_long_line_byte_by_byte_is_linear) {
    size_t n = 4000;
    uint8_t *buf = malloc(n);
    memcpy(buf, "CONNECT {\"name\":\"", 17);
    memset(buf + 17, 'n', n - 17 - 4);
    memcpy(buf + n - 4, "\"}\r\n", 4);
    struct nats_parser p;
    struct nats_op op;
    size_t used;
    nats_parser_init(&p, SERVER, PAY_DEFAULT, CL_DEFAULT);
    for (size_t len = 1; len < n; len++) ck_assert_int_eq(nats_parse(&p, buf, len, &used, &op), NATS_PERR_AGAIN);
    ck_assert_int_eq(nats_parse(&p, buf, n, &used, &op), NATS_PERR_NONE);
    ck_assert_uint_eq(op.arg.len, n - 8 - 2);
    ck_assert_uint_le(p.scanned_bytes, 2 * n);
    free(buf);
}
END_TEST

/* ---- long mixed streams, parsed in random chunkings ---- */

static const char *pick(struct rnd *r, const char *const *a, size_t n) { return a[rnd_next(r) % n]; }
static const char *blank(struct rnd *r) {
    static const char *const b[] = {" ", " ", " ", "  ", "\t", " \t "};
    return pick(r, b, SL_ARRAY_LEN(b));
}
static void put_verb(struct sb *s, struct rnd *r, const char *verb) {
    for (const char *c = verb; *c; c++) {
        char ch = *c;
        if (rnd_next(r) % 8 == 0 && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
        sb_put(s, &ch, 1);
    }
}

/* Builds `ops` random operations for one side, with the text parsing must produce. */
static void gen_stream(struct rnd *r, bool server_side, int ops, struct sb *wire, struct sb *want) {
    static const char *const subjects[] = {"orders.created", "a", "$JS.API.STREAM.INFO.ORDERS", "_INBOX.x.*",
                                           "foo.>", "demo.echo.XUqIor4HEoSRBLs5MvyBre"};
    static const char *const replies[] = {"_INBOX.FpBmSi.vFHQWS", "r", "$JS.ACK.O.W.1.2.3.4.5"};
    static const char *const sids[] = {"1", "22", "333", "sid-x"};
    uint8_t payload[300];
    char hdr[128];
    for (int i = 0; i < ops; i++) {
        struct fields f = {0};
        f.max_msgs = -1;
        f.subject = pick(r, subjects, SL_ARRAY_LEN(subjects));
        unsigned what = (unsigned)(rnd_next(r) % 8);
        size_t plen = (size_t)(rnd_next(r) % 200);
        t_fill_random(payload, plen, rnd_next(r));
        for (size_t k = 0; k + 1 < plen; k += 1 + rnd_next(r) % 20) memcpy(payload + k, "\r\n", 2);
        bool with_reply = rnd_next(r) % 2;
        int hl = snprintf(hdr, sizeof(hdr), "NATS/1.0\r\nNats-Msg-Id: id-%d\r\nX: y\r\n\r\n", i);
        if (server_side) {
            switch (what) {
            case 0: case 1: /* PUB */
                f.kind = NATS_OP_PUB;
                put_verb(wire, r, "PUB");
                sb_printf(wire, "%s%s", blank(r), f.subject);
                if (with_reply) {
                    f.reply = pick(r, replies, 3);
                    sb_printf(wire, "%s%s", blank(r), f.reply);
                }
                sb_printf(wire, "%s%zu\r\n", blank(r), plen);
                sb_put(wire, payload, plen);
                sb_put(wire, "\r\n", 2);
                f.payload = payload;
                f.payload_len = plen;
                break;
            case 2: { /* HPUB */
                f.kind = NATS_OP_HPUB;
                uint8_t body[450];
                memcpy(body, hdr, (size_t)hl);
                memcpy(body + hl, payload, plen);
                put_verb(wire, r, "HPUB");
                sb_printf(wire, "%s%s", blank(r), f.subject);
                if (with_reply) {
                    f.reply = pick(r, replies, 3);
                    sb_printf(wire, "%s%s", blank(r), f.reply);
                }
                sb_printf(wire, "%s%d%s%zu\r\n", blank(r), hl, blank(r), (size_t)hl + plen);
                sb_put(wire, body, (size_t)hl + plen);
                sb_put(wire, "\r\n", 2);
                f.hdr_len = (uint32_t)hl;
                f.payload = body;
                f.payload_len = (size_t)hl + plen;
                describe(want, &f);
                continue;
            }
            case 3: /* SUB, nats.go style or with a queue */
                f.kind = NATS_OP_SUB;
                f.sid = pick(r, sids, 4);
                put_verb(wire, r, "SUB");
                if (with_reply) {
                    f.queue = "workers";
                    sb_printf(wire, " %s %s %s\r\n", f.subject, f.queue, f.sid);
                } else {
                    sb_printf(wire, " %s  %s\r\n", f.subject, f.sid);
                }
                break;
            case 4: /* UNSUB, nats.go's trailing blank or a max */
                f.kind = NATS_OP_UNSUB;
                f.subject = NULL;
                f.sid = pick(r, sids, 4);
                put_verb(wire, r, "UNSUB");
                if (with_reply) {
                    f.max_msgs = (int64_t)(rnd_next(r) % 1000);
                    sb_printf(wire, " %s %lld\r\n", f.sid, (long long)f.max_msgs);
                } else {
                    sb_printf(wire, " %s \r\n", f.sid);
                }
                break;
            case 5: case 6:
                f.kind = with_reply ? NATS_OP_PING : NATS_OP_PONG;
                f.subject = NULL;
                put_verb(wire, r, nats_op_name(f.kind));
                sb_put(wire, "\r\n", 2);
                break;
            default:
                f.kind = NATS_OP_CONNECT;
                f.subject = NULL;
                f.arg = "{\"verbose\":false, \"pedantic\":false, \"name\":\"demo js\", \"headers\":true}";
                put_verb(wire, r, "CONNECT");
                sb_printf(wire, " %s\r\n", f.arg);
                break;
            }
        } else {
            switch (what) {
            case 0: case 1: case 2: /* MSG */
                f.kind = NATS_OP_MSG;
                f.sid = pick(r, sids, 4);
                put_verb(wire, r, "MSG");
                sb_printf(wire, " %s %s", f.subject, f.sid);
                if (with_reply) {
                    f.reply = pick(r, replies, 3);
                    sb_printf(wire, " %s", f.reply);
                }
                else sb_put(wire, " ", 1); /* nats-server's double blank */
                sb_printf(wire, " %zu\r\n", plen);
                sb_put(wire, payload, plen);
                sb_put(wire, "\r\n", 2);
                f.payload = payload;
                f.payload_len = plen;
                break;
            case 3: { /* HMSG */
                f.kind = NATS_OP_HMSG;
                f.sid = pick(r, sids, 4);
                uint8_t body[450];
                memcpy(body, hdr, (size_t)hl);
                memcpy(body + hl, payload, plen);
                put_verb(wire, r, "HMSG");
                sb_printf(wire, " %s %s", f.subject, f.sid);
                if (with_reply) {
                    f.reply = pick(r, replies, 3);
                    sb_printf(wire, " %s", f.reply);
                }
                sb_printf(wire, " %d %zu\r\n", hl, (size_t)hl + plen);
                sb_put(wire, body, (size_t)hl + plen);
                sb_put(wire, "\r\n", 2);
                f.hdr_len = (uint32_t)hl;
                f.payload = body;
                f.payload_len = (size_t)hl + plen;
                describe(want, &f);
                continue;
            }
            case 4:
                f.kind = NATS_OP_INFO;
                f.subject = NULL;
                f.arg = "{\"server_id\":\"N\",\"version\":\"2.9.10\",\"headers\":true}";
                sb_printf(wire, "INFO %s \r\n", f.arg);
                break;
            case 5:
                f.kind = with_reply ? NATS_OP_OK : NATS_OP_ERR;
                f.subject = NULL;
                if (with_reply) sb_printf(wire, "+OK\r\n");
                else sb_printf(wire, "-ERR '%s'\r\n", f.arg = "Stale Connection");
                break;
            default:
                f.kind = with_reply ? NATS_OP_PING : NATS_OP_PONG;
                f.subject = NULL;
                sb_printf(wire, "%s\r\n", nats_op_name(f.kind));
                break;
            }
        }
        describe(want, &f);
    }
    sb_printf(want, "END");
}

START_TEST(test_mixed_stream_random_chunks) {
    bool server_side = _i == 0;
    struct rnd gen = {0x5eed + (uint64_t)_i, 1};
    struct sb wire = {0}, want = {0};
    gen_stream(&gen, server_side, 400, &wire, &want);
    struct cfg c = {server_side, PAY_DEFAULT, CL_DEFAULT};
    char *whole = run_whole(c, wire.p, wire.len);
    ck_assert_str_eq(whole, want.p);
    for (uint64_t seed = 1; seed <= 60; seed++) {
        /* chunk sizes from tiny to several ops, as reads of different sizes would give */
        size_t maxes[] = {1, 3, 7, 16, 64, 300, 1500, 9000};
        struct rnd r = {seed * 0x9E3779B97F4A7C15ull, maxes[seed % SL_ARRAY_LEN(maxes)]};
        char *got = run(c, wire.p, wire.len, chunk_random, &r, NULL);
        ck_assert_str_eq(got, whole);
        free(got);
    }
    char *bytes = run(c, wire.p, wire.len, chunk_bytes, NULL, NULL);
    ck_assert_str_eq(bytes, whole);
    free(bytes);
    free(whole);
    free(wire.p);
    free(want.p);
}
END_TEST

/* ---- fuzz: never crashes, never reads outside the buffer, cut-independent ---- */

static void fuzz_one(struct rnd *r, const uint8_t *in, size_t n) {
    bool server_side = rnd_next(r) % 2;
    struct cfg c = {server_side, rnd_next(r) % 3 ? PAY_DEFAULT : 64, rnd_next(r) % 3 ? CL_DEFAULT : 48};
    char *whole = run_whole(c, in, n);
    struct rnd ch = {rnd_next(r) | 1, 1 + rnd_next(r) % 40};
    char *got = run(c, in, n, chunk_random, &ch, NULL);
    ck_assert_str_eq(got, whole);
    free(got);
    if (n <= 200) {
        got = run(c, in, n, chunk_bytes, NULL, NULL);
        ck_assert_str_eq(got, whole);
        free(got);
    }
    free(whole);
}

START_TEST(test_fuzz_random_bytes) {
    struct rnd r = {0xF022, 1};
    uint8_t in[512];
    for (int i = 0; i < 10000; i++) {
        size_t n = (size_t)(rnd_next(&r) % sizeof(in));
        t_fill_random(in, n, rnd_next(&r));
        fuzz_one(&r, in, n);
    }
}
END_TEST

/* Lines glued from protocol pieces (a verb, blanks, plausible arguments, a line end, maybe a
 * payload) reach far deeper than random bytes do. */
START_TEST(test_fuzz_token_soup) {
    static const char *const verbs[] = {"PUB", "HPUB", "SUB", "UNSUB", "PING", "PONG", "CONNECT", "INFO",
                                        "MSG", "HMSG", "+OK", "-ERR", "pub", "Msg", "hPuB", "PU", "X"};
    static const char *const args[] = {"0", "1", "2", "5", "12", "16", "999", "-1", "a.b", "'x'", "{}",
                                       "q", "_INBOX.x.*", "1234567890", "\x00", "\xff", "\r", ""};
    static const char *const blanks[] = {" ", " ", "  ", "\t", ""};
    static const char *const ends[] = {"\r\n", "\r\n", "\r\n", "\n", "\r", "", " \r\n"};
    struct rnd r = {0x50C9, 1};
    struct sb s = {0};
    for (int i = 0; i < 20000; i++) {
        s.len = 0;
        int lines = 1 + (int)(rnd_next(&r) % 6);
        for (int l = 0; l < lines; l++) {
            sb_printf(&s, "%s", verbs[rnd_next(&r) % SL_ARRAY_LEN(verbs)]);
            int k = (int)(rnd_next(&r) % 6);
            for (int j = 0; j < k; j++) {
                const char *a = args[rnd_next(&r) % SL_ARRAY_LEN(args)];
                sb_printf(&s, "%s", blanks[rnd_next(&r) % SL_ARRAY_LEN(blanks)]);
                sb_put(&s, a, *a || rnd_next(&r) % 2 ? strlen(a) : 1); /* "" is sometimes a NUL */
            }
            sb_printf(&s, "%s", ends[rnd_next(&r) % SL_ARRAY_LEN(ends)]);
            if (rnd_next(&r) % 2) { /* a payload of a size the line may or may not have named */
                static const size_t sizes[] = {0, 1, 2, 5, 12, 16};
                size_t n = sizes[rnd_next(&r) % SL_ARRAY_LEN(sizes)];
                uint8_t pl[16];
                t_fill_random(pl, n, rnd_next(&r));
                if (n >= 12 && rnd_next(&r) % 2) memcpy(pl, "NATS/1.0\r\n\r\n", 12);
                sb_put(&s, pl, n);
                sb_printf(&s, "%s", ends[rnd_next(&r) % SL_ARRAY_LEN(ends)]);
            }
        }
        fuzz_one(&r, (const uint8_t *)s.p, s.len);
    }
    free(s.p);
}
END_TEST

/* Valid streams with bytes flipped, inserted or removed. */
START_TEST(test_fuzz_mutated_streams) {
    struct rnd r = {0x3A7E, 1};
    for (int i = 0; i < 2000; i++) {
        struct sb wire = {0}, want = {0};
        gen_stream(&r, rnd_next(&r) % 2, 6, &wire, &want);
        int muts = 1 + (int)(rnd_next(&r) % 4);
        for (int m = 0; m < muts && wire.len > 1; m++) {
            size_t at = (size_t)(rnd_next(&r) % wire.len);
            switch (rnd_next(&r) % 3) {
            case 0: wire.p[at] = (char)rnd_next(&r); break;
            case 1: memmove(wire.p + at, wire.p + at + 1, wire.len - at - 1); wire.len--; break;
            default: {
                char ins = "\r\n 0\t"[rnd_next(&r) % 5];
                sb_put(&wire, "", 1);
                memmove(wire.p + at + 1, wire.p + at, wire.len - at - 1);
                wire.p[at] = ins;
            }
            }
        }
        fuzz_one(&r, (const uint8_t *)wire.p, wire.len);
        free(wire.p);
        free(want.p);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/nats_parse");
    TCase *tc = tcase_create("nats_parse");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_good_whole_and_every_split, 0, (int)SL_ARRAY_LEN(k_good));
    tcase_add_loop_test(tc, test_errors_whole_and_every_split, 0, (int)SL_ARRAY_LEN(k_bad));
    tcase_add_test(tc, test_perr_text);
    tcase_add_test(tc, test_reset_after_error_and_again_uses_nothing);
    tcase_add_test(tc, test_buffer_moves_between_calls);
    tcase_add_test(tc, test_verbs_case_insensitive);
    tcase_add_test(tc, test_max_payload_boundary);
    tcase_add_test(tc, test_control_line_limit);
    tcase_add_test(tc, test_big_payload_in_small_reads_is_linear);
    tcase_add_test(tc, test_long_line_byte_by_byte_is_linear);
    tcase_add_loop_test(tc, test_mixed_stream_random_chunks, 0, 2);
    tcase_add_test(tc, test_fuzz_random_bytes);
    tcase_add_test(tc, test_fuzz_token_soup);
    tcase_add_test(tc, test_fuzz_mutated_streams);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
