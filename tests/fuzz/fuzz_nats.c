/* fuzz_nats.c: the NATS protocol parser, both ends (the broker's and our client's).
 *
 * The first byte picks the side and the limits and seeds the chunking; the rest is a byte
 * stream as a socket would deliver it. It is parsed twice: all at once, and as it would
 * arrive in random-sized reads, each call given a fresh exact-size copy of the unconsumed
 * bytes (the parser keeps offsets, never pointers, and the broker moves its buffer). Both
 * must yield the same operations, the same fields and the same final error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/nats_parse.h"

#define OPS_MAX 4096

struct rec {
    enum nats_perr err;
    size_t used;
    uint8_t kind;
    uint32_t subj_off, subj_len, reply_off, reply_len, queue_off, queue_len, sid_off, sid_len;
    uint32_t pay_off, pay_len, arg_off, arg_len, hdr_len, total_len;
    int64_t max_msgs;
};

static uint32_t off_of(struct span s, const uint8_t *base) {
    return s.p ? (uint32_t)(s.p - base) + 1 : 0;
}

static void record(struct rec *r, enum nats_perr e, size_t used, const struct nats_op *op,
                   const uint8_t *base) {
    memset(r, 0, sizeof *r);
    r->err = e;
    r->used = used;
    if (e != NATS_PERR_NONE) return;
    r->kind = (uint8_t)op->kind;
    r->subj_off = off_of(op->subject, base), r->subj_len = op->subject.len;
    r->reply_off = off_of(op->reply, base), r->reply_len = op->reply.len;
    r->queue_off = off_of(op->queue, base), r->queue_len = op->queue.len;
    r->sid_off = off_of(op->sid, base), r->sid_len = op->sid.len;
    r->pay_off = off_of(op->payload, base), r->pay_len = op->payload.len;
    r->arg_off = off_of(op->arg, base), r->arg_len = op->arg.len;
    r->hdr_len = op->hdr_len, r->total_len = op->total_len, r->max_msgs = op->max_msgs;
    if (used == 0) abort();
    /* Every span lies inside the bytes the op consumed. */
    const struct span spans[] = {op->subject, op->reply, op->queue, op->sid, op->payload, op->arg};
    for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++)
        if (spans[i].p && (spans[i].p < base || spans[i].p + spans[i].len > base + used)) abort();
}

static struct rec whole[OPS_MAX], chunked[OPS_MAX];

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    bool server = !(mode & 1);
    /* Small limits now and then, so the limit paths get exercised by short inputs. */
    uint32_t max_payload = (mode & 2) ? 64 : NATS_MAX_PAYLOAD_DEFAULT;
    uint32_t max_line = (mode & 4) ? 32 : NATS_MAX_CONTROL_LINE_DEFAULT;
    struct nats_parser p;
    struct nats_op op;
    size_t used;

    uint8_t *buf = malloc(len ? len : 1);
    if (len) memcpy(buf, in, len);
    nats_parser_init(&p, server, max_payload, max_line);
    size_t at = 0, nw = 0;
    for (;;) {
        enum nats_perr e = nats_parse(&p, buf + at, len - at, &used, &op);
        record(&whole[nw++], e, used, &op, buf + at);
        if (e != NATS_PERR_NONE || nw == OPS_MAX) break;
        at += used;
    }
    free(buf);

    nats_parser_init(&p, server, max_payload, max_line);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)mode << 8) ^ len;
    size_t avail = 0, nc = 0;
    at = 0;
    for (;;) {
        size_t n = avail - at;
        uint8_t *copy = malloc(n ? n : 1);
        if (n) memcpy(copy, in + at, n);
        enum nats_perr e = nats_parse(&p, copy, n, &used, &op);
        if (e == NATS_PERR_AGAIN && avail < len) {
            if (used != 0) abort();
            avail += 1 + rng(&seed) % ((mode & 8) ? 16 : 256);
            if (avail > len) avail = len;
            free(copy);
            continue;
        }
        record(&chunked[nc++], e, used, &op, copy);
        free(copy);
        if (e != NATS_PERR_NONE || nc == OPS_MAX) break;
        at += used;
        if (avail < at) avail = at;
    }
    if (nc != nw) {
        fprintf(stderr, "fuzz_nats: %zu ops whole, %zu chunked\n", nw, nc);
        abort();
    }
    for (size_t i = 0; i < nw; i++) {
        if (memcmp(&whole[i], &chunked[i], sizeof(whole[i]))) {
            fprintf(stderr, "fuzz_nats: op %zu differs (err %d/%d, used %zu/%zu)\n", i, whole[i].err,
                    chunked[i].err, whole[i].used, chunked[i].used);
            abort();
        }
    }
    return 0;
}
