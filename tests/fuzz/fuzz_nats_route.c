/* fuzz_nats_route.c: the NATS route protocol parser (protocol/nats_route_parse.c).
 *
 * The first two bytes pick max_payload and max_control_line; the rest is a route's byte stream.
 * It is parsed op after op as a broker does, and each op that parses is checked: every span
 * lies inside the bytes it consumed, a message's payload is total_len bytes with the headers
 * inside it, and parsing only the consumed bytes gives the same op (a parse never depends on
 * bytes after its op). Every prefix shorter than a parsed op is AGAIN or the same error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/nats_route_parse.h"

static void check_span(struct span s, const uint8_t *base, size_t used) {
    if (s.len && (s.p < base || s.p + s.len > base + used)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint32_t max_payload = 1u + data[0] * 64u;
    uint32_t max_control_line = 16u + data[1] * 4u;
    const uint8_t *p = data + 2;
    size_t len = size - 2;
    for (int guard = 0; guard < 10000 && len; guard++) {
        struct nats_route_op op, again;
        size_t used = 0, used2 = 0;
        enum nats_perr e = nats_route_parse(p, len, max_payload, max_control_line, &used, &op);
        if (e != NATS_PERR_NONE) {
            if (used != 0) abort();
            return 0;
        }
        if (used == 0 || used > len) abort();
        const struct span spans[] = {op.account, op.subject, op.reply, op.queue, op.payload, op.arg, op.deliver_as};
        for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) check_span(spans[i], p, used);
        for (uint32_t i = 0; i < op.queue_count; i++) check_span(op.queues[i], p, used);
        if (op.queue_count > NATS_ROUTE_QUEUES_MAX) abort();
        if (op.kind == NATS_ROUTE_MSG || op.kind == NATS_ROUTE_HMSG) {
            if (op.payload.len != op.total_len || op.hdr_len > op.total_len || op.total_len > max_payload) abort();
        }
        if (op.kind == NATS_ROUTE_SUB && op.queue.len && op.weight == 0) abort();
        /* The consumed bytes alone give the same op. */
        uint8_t *copy = malloc(used);
        memcpy(copy, p, used);
        if (nats_route_parse(copy, used, max_payload, max_control_line, &used2, &again) != NATS_PERR_NONE ||
            used2 != used || again.kind != op.kind || again.total_len != op.total_len ||
            again.queue_count != op.queue_count || again.subject.len != op.subject.len)
            abort();
        /* A shorter prefix is never a whole op. */
        size_t cut = used - 1;
        enum nats_perr ec = nats_route_parse(copy, cut, max_payload, max_control_line, &used2, &again);
        if (ec == NATS_PERR_NONE && used2 > cut) abort();
        free(copy);
        p += used;
        len -= used;
    }
    return 0;
}
