/* nats_route_parse.c: the NATS route protocol (see nats_route_parse.h). */
#include "protocol/nats_route_parse.h"

#include <string.h>

#define ROUTE_ARGS_MAX (NATS_ROUTE_QUEUES_MAX + 8)

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

/* 1 to 9 decimal digits, else -1 (nats-server's parseSize). */
static int64_t route_size(struct span s) {
    if (s.len == 0 || s.len > 9) return -1;
    int64_t v = 0;
    for (uint32_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') return -1;
        v = v * 10 + (s.p[i] - '0');
    }
    return v;
}

static bool verb_is(struct span v, const char *want) {
    size_t n = strlen(want);
    if (v.len != n) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = v.p[i];
        if (c >= 'a' && c <= 'z') c = (uint8_t)(c - 'a' + 'A');
        if (c != (uint8_t)want[i]) return false;
    }
    return true;
}

/* Splits line[0..len) on runs of blanks into at most max spans; -1 when there are more. */
static int split_args(const uint8_t *line, size_t len, struct span *out, int max) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_blank(line[i])) i++;
        if (i == len) break;
        size_t start = i;
        while (i < len && !is_blank(line[i])) i++;
        if (n == max) return -1;
        out[n++] = (struct span){line + start, (uint32_t)(i - start)};
    }
    return n;
}

static struct span trim(const uint8_t *p, size_t len) {
    while (len && is_blank(*p)) p++, len--;
    while (len && is_blank(p[len - 1])) len--;
    return (struct span){p, (uint32_t)len};
}

/* RMSG/HMSG arguments after the verb: account subject, then [reply] | "+ reply q..." | "| q...",
 * then [hdr_size] size. */
static enum nats_perr route_msg_args(struct span *a, int n, bool hmsg, struct nats_route_op *op) {
    int sizes = hmsg ? 2 : 1;
    if (n < 2 + sizes) return NATS_PERR_BAD_ARGS;
    op->account = a[0];
    op->subject = a[1];
    int mid = n - 2 - sizes; /* arguments between the subject and the size(s) */
    struct span *m = a + 2;
    if (mid == 1) {
        op->reply = m[0];
    } else if (mid >= 2) {
        int q0;
        if (m[0].len == 1 && m[0].p[0] == '+') {
            if (mid < 3) return NATS_PERR_BAD_ARGS;
            op->reply = m[1];
            q0 = 2;
        } else if (m[0].len == 1 && m[0].p[0] == '|') {
            q0 = 1;
        } else {
            return NATS_PERR_BAD_ARGS;
        }
        if (mid - q0 > NATS_ROUTE_QUEUES_MAX) return NATS_PERR_BAD_ARGS;
        for (int i = q0; i < mid; i++) op->queues[op->queue_count++] = m[i];
    }
    int64_t total = route_size(a[n - 1]);
    int64_t hdr = hmsg ? route_size(a[n - 2]) : 0;
    if (total < 0 || hdr < 0 || hdr > total) return NATS_PERR_BAD_ARGS;
    op->total_len = (uint32_t)total;
    op->hdr_len = (uint32_t)hdr;
    return NATS_PERR_NONE;
}

enum nats_perr nats_route_parse(const uint8_t *buf, size_t len, uint32_t max_payload, uint32_t max_control_line,
                                size_t *used, struct nats_route_op *op) {
    *used = 0;
    memset(op, 0, sizeof(*op));
    size_t window = SL_MIN(len, (size_t)max_control_line + 2);
    const uint8_t *lf = memchr(buf, '\n', window);
    if (!lf) return len > (size_t)max_control_line + 1 ? NATS_PERR_MAX_CONTROL_LINE : NATS_PERR_AGAIN;
    size_t line_len = (size_t)(lf - buf);
    size_t next = line_len + 1;
    if (line_len && buf[line_len - 1] == '\r') line_len--;
    if (line_len > max_control_line) return NATS_PERR_MAX_CONTROL_LINE;
    size_t v = 0;
    while (v < line_len && !is_blank(buf[v])) v++;
    struct span verb = {buf, (uint32_t)v};
    const uint8_t *rest = buf + v;
    size_t rest_len = line_len - v;
    struct span a[ROUTE_ARGS_MAX];
    if (verb_is(verb, "PING") || verb_is(verb, "PONG") || verb_is(verb, "+OK")) {
        op->kind = verb_is(verb, "PING") ? NATS_ROUTE_PING : verb_is(verb, "PONG") ? NATS_ROUTE_PONG : NATS_ROUTE_OK;
        *used = next;
        return NATS_PERR_NONE;
    }
    if (verb_is(verb, "INFO") || verb_is(verb, "CONNECT")) {
        op->kind = verb_is(verb, "INFO") ? NATS_ROUTE_INFO : NATS_ROUTE_CONNECT;
        op->arg = trim(rest, rest_len);
        if (!op->arg.len) return NATS_PERR_BAD_ARGS;
        *used = next;
        return NATS_PERR_NONE;
    }
    if (verb_is(verb, "-ERR")) {
        op->kind = NATS_ROUTE_ERR;
        op->arg = trim(rest, rest_len);
        *used = next;
        return NATS_PERR_NONE;
    }
    if (!rest_len || !is_blank(rest[0])) return NATS_PERR_UNKNOWN_OP;
    int n = split_args(rest, rest_len, a, ROUTE_ARGS_MAX);
    if (verb_is(verb, "RS+") || verb_is(verb, "RS-")) {
        bool sub = verb_is(verb, "RS+");
        op->kind = sub ? NATS_ROUTE_SUB : NATS_ROUTE_UNSUB;
        /* RS+ acc subj | RS+ acc subj queue weight; RS- acc subj [queue] */
        if (n == 2) {
        } else if (sub && n == 4) {
            int64_t w = route_size(a[3]);
            if (w <= 0) return NATS_PERR_BAD_ARGS;
            op->queue = a[2];
            op->weight = (uint32_t)w;
        } else if (!sub && n == 3) {
            op->queue = a[2];
        } else {
            return NATS_PERR_BAD_ARGS;
        }
        op->account = a[0];
        op->subject = a[1];
        *used = next;
        return NATS_PERR_NONE;
    }
    bool dmsg = verb_is(verb, "DMSG") || verb_is(verb, "DHMSG");
    bool hmsg = verb_is(verb, "HMSG") || verb_is(verb, "DHMSG");
    if (!hmsg && !dmsg && !verb_is(verb, "RMSG")) return NATS_PERR_UNKNOWN_OP;
    op->kind = hmsg ? NATS_ROUTE_HMSG : NATS_ROUTE_MSG;
    if (n < 0) return NATS_PERR_BAD_ARGS;
    if (dmsg) { /* take <deliver_as> out: the rest is an RMSG/HMSG's */
        if (n < 3) return NATS_PERR_BAD_ARGS;
        op->deliver_as = a[2];
        memmove(a + 2, a + 3, (size_t)(n - 3) * sizeof(a[0]));
        n--;
    }
    enum nats_perr e = route_msg_args(a, n, hmsg, op);
    if (e != NATS_PERR_NONE) return e;
    if (op->total_len > max_payload) return NATS_PERR_MAX_PAYLOAD;
    size_t need = next + op->total_len + 2;
    if (len < need) {
        memset(op, 0, sizeof(*op));
        return NATS_PERR_AGAIN;
    }
    const uint8_t *end = buf + next + op->total_len;
    if (end[0] != '\r' || end[1] != '\n') return NATS_PERR_BAD_ARGS;
    op->payload = (struct span){buf + next, op->total_len};
    *used = need;
    return NATS_PERR_NONE;
}
