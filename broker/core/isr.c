/* isr.c: the in-sync replica set and high watermark of a partition leader (see isr.h). */
#include "broker/core/isr.h"

#include <string.h>

#include "base/base.h"

void isr_assign(struct isr *s, const uint32_t *followers, uint32_t n, int64_t hw, uint64_t lag_ms, uint64_t now_ms) {
    SL_ASSERT(n <= ISR_REPLICAS_MAX);
    struct isr old = *s;
    s->count = n;
    s->lag_ms = lag_ms;
    s->hw = hw;
    for (uint32_t i = 0; i < n; i++) {
        struct isr_follower *f = &s->f[i];
        const struct isr_follower *was = NULL;
        for (uint32_t j = 0; j < old.count && !was; j++)
            if (old.f[j].id == followers[i]) was = &old.f[j];
        if (was) {
            *f = *was;
            continue;
        }
        *f = (struct isr_follower){.id = followers[i], .leo = -1, .caught_up_ms = now_ms, .last_fetch_ms = now_ms,
                                   .leader_leo_at_last_fetch = -1, .in_sync = true, .committed = true};
    }
}

bool isr_fetched(struct isr *s, uint32_t id, int64_t offset, int64_t leader_leo, uint64_t now_ms) {
    for (uint32_t i = 0; i < s->count; i++) {
        struct isr_follower *f = &s->f[i];
        if (f->id != id) continue;
        f->leo = offset;
        if (offset >= leader_leo) f->caught_up_ms = now_ms;
        else if (f->leader_leo_at_last_fetch >= 0 && offset >= f->leader_leo_at_last_fetch)
            f->caught_up_ms = SL_MAX(f->caught_up_ms, f->last_fetch_ms);
        f->last_fetch_ms = now_ms;
        f->leader_leo_at_last_fetch = leader_leo;
        /* Back in sync only holding every committed record. */
        if (!f->in_sync && offset >= s->hw && now_ms - f->caught_up_ms <= s->lag_ms) f->in_sync = true;
        return true;
    }
    return false;
}

int64_t isr_update(struct isr *s, int64_t leader_leo, uint64_t now_ms) {
    int64_t hw = leader_leo;
    for (uint32_t i = 0; i < s->count; i++) {
        struct isr_follower *f = &s->f[i];
        if (f->in_sync && now_ms > f->caught_up_ms && now_ms - f->caught_up_ms > s->lag_ms) f->in_sync = false;
        if (f->committed || (f->asked && f->in_sync)) hw = SL_MIN(hw, SL_MAX(f->leo, 0));
    }
    /* Never back: an ISR that shrinks and regrows must not unsay a commit. */
    if (hw > s->hw) s->hw = hw;
    return s->hw;
}

uint32_t isr_size(const struct isr *s) {
    uint32_t n = 1;
    for (uint32_t i = 0; i < s->count; i++) n += s->f[i].in_sync && (s->f[i].committed || s->f[i].asked);
    return n;
}

void isr_set_committed(struct isr *s, const uint32_t *ids, uint32_t n) {
    for (uint32_t i = 0; i < s->count; i++) {
        struct isr_follower *f = &s->f[i];
        bool was = f->committed;
        f->committed = false;
        for (uint32_t j = 0; j < n; j++)
            if (ids[j] == f->id) f->committed = true;
        if (f->committed != was) f->asked = false; /* the change asked is in */
        /* One not heard from yet is in sync only if the controller says so: a replica outside
         * the ISR rejoins by catching up, not by a grace period. */
        if (f->leo < 0) f->in_sync = f->committed;
    }
}

bool isr_differs(const struct isr *s) {
    for (uint32_t i = 0; i < s->count; i++)
        if (s->f[i].in_sync != s->f[i].committed && !s->f[i].asked) return true;
    return false;
}

uint32_t isr_request(struct isr *s, uint32_t self, uint32_t *out, uint32_t max) {
    uint32_t n = 0;
    if (n < max) out[n++] = self;
    for (uint32_t i = 0; i < s->count; i++) {
        struct isr_follower *f = &s->f[i];
        if (f->in_sync != f->committed) f->asked = true;
        if (f->in_sync && n < max) out[n++] = f->id;
    }
    return n;
}

void isr_request_failed(struct isr *s) {
    for (uint32_t i = 0; i < s->count; i++) s->f[i].asked = false;
}
