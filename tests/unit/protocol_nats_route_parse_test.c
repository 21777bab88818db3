/* protocol_nats_route_parse_test.c: protocol/nats_route_parse.c. Every op of the route protocol
 * whole (nats-server 2.9's shapes: RS+/RS- with and without a queue, RMSG with a reply, with
 * "+ reply queues" and "| queues", HMSG's two sizes), every prefix of each is AGAIN, a stream of
 * them parses op after op, and every refusal: an unknown verb, missing or extra arguments, a
 * weight 0, sizes that are not 1-9 digits, headers larger than the message, a payload not ended
 * by CR LF, max_payload on the control line, the control line limit. */
#include <check.h>
#include <string.h>

#include "protocol/nats_route_parse.h"
#include "testutil.h"

#define PAY 1024u
#define LINE 256u

static enum nats_perr parse(const char *s, struct nats_route_op *op, size_t *used) {
    return nats_route_parse((const uint8_t *)s, strlen(s), PAY, LINE, used, op);
}

static bool span_is(struct span s, const char *want) {
    return s.len == strlen(want) && !memcmp(s.p, want, s.len);
}

START_TEST(test_ops_whole) {
    struct nats_route_op op;
    size_t used;
    ck_assert_int_eq(parse("RS+ $G foo.bar\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_int_eq(op.kind, NATS_ROUTE_SUB);
    ck_assert(span_is(op.account, "$G") && span_is(op.subject, "foo.bar") && op.queue.len == 0);
    ck_assert_uint_eq(used, 16);
    ck_assert_int_eq(parse("rs+  $G  foo.*  workers  3 \r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(span_is(op.queue, "workers") && op.weight == 3);
    ck_assert_int_eq(parse("RS- $G foo workers\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_int_eq(op.kind, NATS_ROUTE_UNSUB);
    ck_assert(span_is(op.queue, "workers"));
    ck_assert_int_eq(parse("RMSG $G foo 5\r\nhello\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_int_eq(op.kind, NATS_ROUTE_MSG);
    ck_assert(span_is(op.payload, "hello") && op.reply.len == 0 && op.queue_count == 0);
    ck_assert_uint_eq(used, 22);
    ck_assert_int_eq(parse("RMSG $G foo _INBOX.1 0\r\n\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(span_is(op.reply, "_INBOX.1") && op.payload.len == 0);
    ck_assert_int_eq(parse("RMSG $G foo + r.1 q1 q2 2\r\nhi\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(span_is(op.reply, "r.1") && op.queue_count == 2 && span_is(op.queues[1], "q2"));
    ck_assert_int_eq(parse("RMSG $G foo | q1 2\r\nhi\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(op.reply.len == 0 && op.queue_count == 1 && span_is(op.queues[0], "q1"));
    ck_assert_int_eq(parse("HMSG $G foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_int_eq(op.kind, NATS_ROUTE_HMSG);
    ck_assert(op.hdr_len == 12 && op.total_len == 14 && span_is(op.reply, "r"));
    ck_assert_int_eq(parse("HMSG $G foo | q 12 12\r\nNATS/1.0\r\n\r\n\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(op.queue_count == 1 && op.hdr_len == 12);
    ck_assert_int_eq(parse("DMSG $G _INBOX.x orders.1 $JS.ACK.S.W.1.1.1.0.0 2\r\nhi\r\n", &op, &used),
                     NATS_PERR_NONE);
    ck_assert_int_eq(op.kind, NATS_ROUTE_MSG);
    ck_assert(span_is(op.subject, "_INBOX.x") && span_is(op.deliver_as, "orders.1") &&
              span_is(op.reply, "$JS.ACK.S.W.1.1.1.0.0") && span_is(op.payload, "hi"));
    ck_assert_int_eq(parse("DHMSG $G _INBOX.x orders.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", &op, &used),
                     NATS_PERR_NONE);
    ck_assert(op.kind == NATS_ROUTE_HMSG && span_is(op.deliver_as, "orders.1") && op.reply.len == 0 &&
              op.hdr_len == 12);
    ck_assert_int_eq(parse("RMSG $G foo 2\r\nhi\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_uint_eq(op.deliver_as.len, 0);
    ck_assert_int_eq(parse("INFO {\"a\":1} \r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(op.kind == NATS_ROUTE_INFO && span_is(op.arg, "{\"a\":1}"));
    ck_assert_int_eq(parse("CONNECT {}\n", &op, &used), NATS_PERR_NONE);
    ck_assert(op.kind == NATS_ROUTE_CONNECT && used == 11);
    ck_assert_int_eq(parse("PING\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_int_eq(op.kind, NATS_ROUTE_PING);
    ck_assert_int_eq(parse("PONG\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert_int_eq(parse("-ERR 'x'\r\n", &op, &used), NATS_PERR_NONE);
    ck_assert(op.kind == NATS_ROUTE_ERR && span_is(op.arg, "'x'"));
}
END_TEST

static const char *const k_good[] = {
    "RS+ $G a\r\n", "RS+ $G a q 1\r\n", "RS- $G a\r\n", "RMSG $G a 3\r\nabc\r\n",
    "RMSG $G a + r q 3\r\nabc\r\n", "HMSG $G a 12 12\r\nNATS/1.0\r\n\r\n\r\n", "PING\r\n", "INFO {}\r\n",
    "DMSG $G a b 3\r\nabc\r\n", "DHMSG $G a b r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
};

/* Every strict prefix of a good op is AGAIN with nothing used; the op then parses whole. */
START_TEST(test_prefixes_again) {
    for (size_t i = 0; i < SL_ARRAY_LEN(k_good); i++) {
        const char *s = k_good[i];
        size_t n = strlen(s), used = 1;
        struct nats_route_op op;
        for (size_t cut = 0; cut < n; cut++) {
            ck_assert_int_eq(nats_route_parse((const uint8_t *)s, cut, PAY, LINE, &used, &op), NATS_PERR_AGAIN);
            ck_assert_uint_eq(used, 0);
        }
        ck_assert_int_eq(nats_route_parse((const uint8_t *)s, n, PAY, LINE, &used, &op), NATS_PERR_NONE);
        ck_assert_uint_eq(used, n);
    }
}
END_TEST

START_TEST(test_stream) {
    char buf[512] = "";
    for (size_t i = 0; i < SL_ARRAY_LEN(k_good); i++) strcat(buf, k_good[i]);
    size_t off = 0, len = strlen(buf);
    uint32_t ops = 0;
    while (off < len) {
        struct nats_route_op op;
        size_t used;
        ck_assert_int_eq(nats_route_parse((const uint8_t *)buf + off, len - off, PAY, LINE, &used, &op),
                         NATS_PERR_NONE);
        off += used;
        ops++;
    }
    ck_assert_uint_eq(ops, SL_ARRAY_LEN(k_good));
}
END_TEST

static const struct {
    const char *in;
    enum nats_perr want;
} k_bad[] = {
    {"BOGUS\r\n", NATS_PERR_UNKNOWN_OP},
    {"PUB foo 1\r\nx\r\n", NATS_PERR_UNKNOWN_OP}, /* a client's verb is no route op */
    {"RS+\r\n", NATS_PERR_UNKNOWN_OP},
    {"RS+ $G\r\n", NATS_PERR_BAD_ARGS},
    {"RS+ $G a q\r\n", NATS_PERR_BAD_ARGS},       /* a queue without its weight */
    {"RS+ $G a q 0\r\n", NATS_PERR_BAD_ARGS},
    {"RS+ $G a q x\r\n", NATS_PERR_BAD_ARGS},
    {"RS+ $G a q 1 2\r\n", NATS_PERR_BAD_ARGS},
    {"RS- $G a q 1\r\n", NATS_PERR_BAD_ARGS},
    {"RMSG $G a\r\n", NATS_PERR_BAD_ARGS},
    {"RMSG $G a x\r\n", NATS_PERR_BAD_ARGS},
    {"RMSG $G a 1234567890\r\n", NATS_PERR_BAD_ARGS},
    {"RMSG $G a -1\r\n", NATS_PERR_BAD_ARGS},
    {"RMSG $G a r q 1\r\nx\r\n", NATS_PERR_BAD_ARGS}, /* queues need + or | */
    {"RMSG $G a + r 1\r\nx\r\n", NATS_PERR_BAD_ARGS}, /* + needs a reply and a queue */
    {"RMSG $G a 3\r\nabcd\r\n", NATS_PERR_BAD_ARGS},  /* not ended by CR LF */
    {"HMSG $G a 5 3\r\nabc\r\n", NATS_PERR_BAD_ARGS},  /* headers past the end */
    {"DMSG $G a 3\r\nabc\r\n", NATS_PERR_BAD_ARGS},    /* no deliver_as */
    {"DMSG $G\r\n", NATS_PERR_BAD_ARGS},
    {"RMSG $G a 1025\r\n", NATS_PERR_MAX_PAYLOAD},
    {"INFO\r\n", NATS_PERR_BAD_ARGS},
};

START_TEST(test_refusals) {
    struct nats_route_op op;
    size_t used = 7;
    ck_assert_int_eq(parse(k_bad[_i].in, &op, &used), k_bad[_i].want);
    ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(test_limits) {
    struct nats_route_op op;
    size_t used;
    char line[600];
    memset(line, 'a', sizeof(line));
    /* No LF within the limit: an error once more than the limit is buffered, AGAIN before. */
    ck_assert_int_eq(nats_route_parse((const uint8_t *)line, LINE + 1, PAY, LINE, &used, &op), NATS_PERR_AGAIN);
    ck_assert_int_eq(nats_route_parse((const uint8_t *)line, LINE + 2, PAY, LINE, &used, &op),
                     NATS_PERR_MAX_CONTROL_LINE);
    /* 33 queue names: more than one message may carry. */
    char many[600] = "RMSG $G a |";
    for (int i = 0; i < NATS_ROUTE_QUEUES_MAX + 1; i++) strcat(many, " q");
    strcat(many, " 1\r\nx\r\n");
    ck_assert_int_eq(nats_route_parse((const uint8_t *)many, strlen(many), PAY, 1000, &used, &op),
                     NATS_PERR_BAD_ARGS);
    /* Exactly max_payload passes. */
    static char big[PAY + 64];
    int n = snprintf(big, sizeof(big), "RMSG $G a %u\r\n", PAY);
    memset(big + n, 'x', PAY);
    memcpy(big + n + PAY, "\r\n", 2);
    ck_assert_int_eq(nats_route_parse((const uint8_t *)big, (size_t)n + PAY + 2, PAY, LINE, &used, &op),
                     NATS_PERR_NONE);
    ck_assert_uint_eq(op.payload.len, PAY);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/nats_route_parse");
    TCase *tc = tcase_create("nats_route_parse");
    tcase_add_test(tc, test_ops_whole);
    tcase_add_test(tc, test_prefixes_again);
    tcase_add_test(tc, test_stream);
    tcase_add_loop_test(tc, test_refusals, 0, (int)SL_ARRAY_LEN(k_bad));
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
