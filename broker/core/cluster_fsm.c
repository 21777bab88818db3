/* cluster_fsm.c: see cluster_fsm.h (the formats are there). */
#include "broker/core/cluster_fsm.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

static const uint8_t snap_magic[4] = {'S', 'L', 'C', 'F'};

static int fsm_fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* A bounded write cursor: w.bad once anything did not fit. */
struct wcur {
    uint8_t *p;
    size_t len, cap;
    bool bad;
};

static void w_bytes(struct wcur *w, const void *src, size_t n) {
    if (w->bad || w->cap - w->len < n) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}
static void w_u8(struct wcur *w, uint8_t v) { w_bytes(w, &v, 1); }
static void w_u32(struct wcur *w, uint32_t v) {
    uint8_t b[4];
    sl_store_be32(b, v);
    w_bytes(w, b, 4);
}
static void w_str(struct wcur *w, const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= CLUSTER_HOSTPORT_MAX) {
        w->bad = true;
        return;
    }
    uint8_t b[2];
    sl_store_be16(b, (uint16_t)n);
    w_bytes(w, b, 2);
    w_bytes(w, s, n);
}

/* The read side: r.err names the first problem; later reads then do nothing. */
struct rcur {
    const uint8_t *p;
    size_t len, at;
    const char *err;
};

static bool r_need(struct rcur *r, size_t n) {
    if (r->err) return false;
    if (r->len - r->at < n) {
        r->err = "truncated";
        return false;
    }
    return true;
}
static uint8_t r_u8(struct rcur *r) { return r_need(r, 1) ? r->p[r->at++] : 0; }
static uint32_t r_u32(struct rcur *r) {
    if (!r_need(r, 4)) return 0;
    uint32_t v = sl_load_be32(r->p + r->at);
    r->at += 4;
    return v;
}
static void r_str(struct rcur *r, char *out, size_t cap) {
    out[0] = '\0';
    if (!r_need(r, 2)) return;
    uint16_t n = sl_load_be16(r->p + r->at);
    r->at += 2;
    if (n == 0 || n >= cap) {
        r->err = "an address is empty or too long";
        return;
    }
    if (!r_need(r, n)) return;
    if (memchr(r->p + r->at, '\0', n)) {
        r->err = "an address holds a NUL";
        return;
    }
    memcpy(out, r->p + r->at, n);
    out[n] = '\0';
    r->at += n;
}

static void w_broker(struct wcur *w, const struct cluster_broker *b) {
    if (b->node_id == 0) w->bad = true;
    w_u32(w, b->node_id);
    w_str(w, b->kafka);
    w_str(w, b->nats);
    w_str(w, b->http);
}

static void r_broker(struct rcur *r, struct cluster_broker *b) {
    memset(b, 0, sizeof(*b));
    b->node_id = r_u32(r);
    if (!r->err && b->node_id == 0) r->err = "node id 0";
    r_str(r, b->kafka, sizeof(b->kafka));
    r_str(r, b->nats, sizeof(b->nats));
    r_str(r, b->http, sizeof(b->http));
}

size_t cluster_cmd_encode(const struct cluster_cmd *c, uint8_t *buf, size_t cap) {
    struct wcur w = {buf, 0, cap, false};
    w_u8(&w, CLUSTER_CMD_VERSION);
    w_u8(&w, (uint8_t)c->type);
    if (c->type == CLUSTER_CMD_REGISTER) w_broker(&w, &c->reg);
    else w.bad = true;
    static const uint8_t zeros[8];
    if (w.len % 8) w_bytes(&w, zeros, 8 - w.len % 8); /* libraft's entry padding (see the header) */
    return w.bad ? 0 : w.len;
}

int cluster_cmd_decode(const uint8_t *p, size_t len, struct cluster_cmd *out, char *err, size_t err_len) {
    struct rcur r = {p, len, 0, NULL};
    memset(out, 0, sizeof(*out));
    uint8_t version = r_u8(&r);
    uint8_t type = r_u8(&r);
    if (r.err) return fsm_fail(err, err_len, "command: %s", r.err);
    if (version != CLUSTER_CMD_VERSION)
        return fsm_fail(err, err_len, "command: version %u is not %u", version, CLUSTER_CMD_VERSION);
    if (type != CLUSTER_CMD_REGISTER) return fsm_fail(err, err_len, "command: unknown type %u", type);
    out->type = CLUSTER_CMD_REGISTER;
    r_broker(&r, &out->reg);
    if (!r.err && r.at != len) {
        bool padding = len % 8 == 0 && len - r.at < 8;
        for (size_t i = r.at; i < len && padding; i++) padding = p[i] == 0;
        if (!padding) r.err = "bytes left over";
    }
    if (r.err) return fsm_fail(err, err_len, "command: %s", r.err);
    return 0;
}

const struct cluster_broker *cluster_fsm_find(const struct cluster_fsm *f, uint32_t node_id) {
    for (uint32_t i = 0; i < f->count; i++)
        if (f->brokers[i].node_id == node_id) return &f->brokers[i];
    return NULL;
}

static int fsm_register(struct cluster_fsm *f, const struct cluster_broker *b) {
    uint32_t i = 0;
    while (i < f->count && f->brokers[i].node_id < b->node_id) i++;
    if (i < f->count && f->brokers[i].node_id == b->node_id) {
        f->brokers[i] = *b;
        return 0;
    }
    if (f->count == CLUSTER_BROKERS_MAX) return -1;
    memmove(&f->brokers[i + 1], &f->brokers[i], (f->count - i) * sizeof(f->brokers[0]));
    f->brokers[i] = *b;
    f->count++;
    return 0;
}

int cluster_fsm_apply(struct cluster_fsm *f, const struct cluster_cmd *c) {
    SL_ASSERT(c->type == CLUSTER_CMD_REGISTER);
    if (fsm_register(f, &c->reg) != 0) return -1;
    f->applied++;
    return 0;
}

size_t cluster_fsm_snapshot_size(const struct cluster_fsm *f) {
    size_t n = sizeof(snap_magic) + 1 + 4;
    for (uint32_t i = 0; i < f->count; i++)
        n += 4 + 2 + strlen(f->brokers[i].kafka) + 2 + strlen(f->brokers[i].nats) + 2 + strlen(f->brokers[i].http);
    return n;
}

size_t cluster_fsm_snapshot_encode(const struct cluster_fsm *f, uint8_t *buf, size_t cap) {
    struct wcur w = {buf, 0, cap, false};
    w_bytes(&w, snap_magic, sizeof(snap_magic));
    w_u8(&w, CLUSTER_SNAP_VERSION);
    w_u32(&w, f->count);
    for (uint32_t i = 0; i < f->count; i++) w_broker(&w, &f->brokers[i]);
    return w.bad ? 0 : w.len;
}

int cluster_fsm_restore(struct cluster_fsm *f, const uint8_t *p, size_t len, char *err, size_t err_len) {
    struct cluster_fsm fresh_state = {0}; /* ~17 KiB: decoded aside, swapped in whole */
    struct cluster_fsm *fresh = &fresh_state;
    struct rcur r = {p, len, 0, NULL};
    if (len < sizeof(snap_magic) || memcmp(p, snap_magic, sizeof(snap_magic)) != 0)
        return fsm_fail(err, err_len, "snapshot: no SLCF magic");
    r.at = sizeof(snap_magic);
    uint8_t version = r_u8(&r);
    uint32_t count = r_u32(&r);
    if (r.err) return fsm_fail(err, err_len, "snapshot: %s", r.err);
    if (version != CLUSTER_SNAP_VERSION)
        return fsm_fail(err, err_len, "snapshot: version %u is not %u", version, CLUSTER_SNAP_VERSION);
    if (count > CLUSTER_BROKERS_MAX)
        return fsm_fail(err, err_len, "snapshot: %u brokers, more than %d", count, CLUSTER_BROKERS_MAX);
    for (uint32_t i = 0; i < count && !r.err; i++) {
        r_broker(&r, &fresh->brokers[i]);
        if (!r.err && i > 0 && fresh->brokers[i].node_id <= fresh->brokers[i - 1].node_id)
            r.err = "node ids not rising";
    }
    if (!r.err && r.at != len) r.err = "bytes left over";
    if (r.err) return fsm_fail(err, err_len, "snapshot: %s", r.err);
    fresh->count = count;
    *f = *fresh;
    return 0;
}
