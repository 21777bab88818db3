/* nats_replies.c: see nats_replies.h. An open-addressing table (linear probing, deletion by
 * backward shift, at most half full) of heap entries, one per noted reply subject. */
#include "broker/nats/nats_replies.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/base.h"

struct reply_entry {
    uint64_t hash;
    uint64_t t_ms; /* when it was (last) delivered */
    int64_t n;     /* answers sent since */
    uint32_t len;
    char subj[];
};

struct nats_replies {
    struct reply_entry **slots;
    uint32_t cap; /* a power of two */
    uint32_t count;
};

static uint32_t slot_of(const struct nats_replies *rs, uint64_t h) { return (uint32_t)h & (rs->cap - 1); }

static uint32_t find(const struct nats_replies *rs, uint64_t h, const char *s, size_t len) {
    for (uint32_t i = slot_of(rs, h);; i = (i + 1) & (rs->cap - 1)) {
        const struct reply_entry *e = rs->slots[i];
        if (!e || (e->hash == h && e->len == len && !memcmp(e->subj, s, len))) return i;
    }
}

/* Removes slot i's entry and shifts the run after it back, so every entry stays reachable. */
static void remove_at(struct nats_replies *rs, uint32_t i) {
    free(rs->slots[i]);
    rs->slots[i] = NULL;
    rs->count--;
    uint32_t mask = rs->cap - 1;
    for (uint32_t j = (i + 1) & mask; rs->slots[j]; j = (j + 1) & mask) {
        uint32_t home = slot_of(rs, rs->slots[j]->hash);
        /* Entry j may move to the hole at i if its home is not within (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            rs->slots[i] = rs->slots[j];
            rs->slots[j] = NULL;
            i = j;
        }
    }
}

static void grow(struct nats_replies *rs) {
    struct reply_entry **old = rs->slots;
    uint32_t old_cap = rs->cap;
    rs->cap = old_cap ? old_cap * 2 : 64;
    rs->slots = sl_xcalloc(rs->cap, sizeof(*rs->slots));
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i]) rs->slots[find(rs, old[i]->hash, old[i]->subj, old[i]->len)] = old[i];
    free(old);
}

static bool used_up(const struct reply_entry *e, const struct nats_resp_perm *rp, uint64_t now_ms) {
    if (rp->max > 0 && e->n >= rp->max) return true;
    return rp->expires_ms > 0 && now_ms - e->t_ms > (uint64_t)rp->expires_ms;
}

/* Drops what can no longer be answered; at the hard bound, also the older half. */
static void prune(struct nats_replies *rs, const struct nats_resp_perm *rp, uint64_t now_ms) {
    for (uint32_t i = 0; i < rs->cap;) {
        if (rs->slots[i] && used_up(rs->slots[i], rp, now_ms)) remove_at(rs, i); /* slot i refilled: look again */
        else i++;
    }
    if (rs->count < NATS_REPLIES_MAX) return;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < rs->cap; i++)
        if (rs->slots[i]) lo = SL_MIN(lo, rs->slots[i]->t_ms), hi = SL_MAX(hi, rs->slots[i]->t_ms);
    uint64_t mid = lo + (hi - lo) / 2;
    for (uint32_t i = 0; i < rs->cap;) {
        if (rs->slots[i] && rs->slots[i]->t_ms <= mid) remove_at(rs, i);
        else i++;
    }
}

void nats_replies_note(struct nats_replies **rsp, const struct nats_resp_perm *rp, const char *subj, size_t len,
                       uint64_t now_ms) {
    if (!*rsp) *rsp = sl_xcalloc(1, sizeof(**rsp));
    struct nats_replies *rs = *rsp;
    if ((rs->count + 1) * 2 > rs->cap) grow(rs);
    uint64_t h = XXH3_64bits(subj, len);
    uint32_t i = find(rs, h, subj, len);
    if (!rs->slots[i]) {
        if (rs->count >= NATS_REPLIES_PRUNE_AT) {
            prune(rs, rp, now_ms);
            i = find(rs, h, subj, len);
        }
        struct reply_entry *e = sl_xmalloc(sizeof(*e) + len);
        e->hash = h;
        e->len = (uint32_t)len;
        memcpy(e->subj, subj, len);
        rs->slots[i] = e;
        rs->count++;
    }
    rs->slots[i]->t_ms = now_ms;
    rs->slots[i]->n = 0;
}

bool nats_replies_use(struct nats_replies *rs, const struct nats_resp_perm *rp, const char *subj, size_t len,
                      uint64_t now_ms) {
    if (!rs || !rs->count) return false;
    uint32_t i = find(rs, XXH3_64bits(subj, len), subj, len);
    struct reply_entry *e = rs->slots[i];
    if (!e) return false;
    e->n++;
    /* nats-server's order: counted first, then refused past max or expires, and forgotten. */
    if ((rp->max > 0 && e->n > rp->max) || (rp->expires_ms > 0 && now_ms - e->t_ms > (uint64_t)rp->expires_ms)) {
        remove_at(rs, i);
        return false;
    }
    return true;
}

uint32_t nats_replies_count(const struct nats_replies *rs) { return rs ? rs->count : 0; }

void nats_replies_free(struct nats_replies *rs) {
    if (!rs) return;
    for (uint32_t i = 0; i < rs->cap; i++) free(rs->slots[i]);
    free(rs->slots);
    free(rs);
}
