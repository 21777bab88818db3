/* kafka_names.c: a set of borrowed names (see kafka_names.h). */
#include "broker/kafka/kafka_names.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static void kname_set_alloc(struct kname_set *s, uint32_t cap) {
    s->slots = sl_xmalloc(cap * sizeof(*s->slots));
    for (uint32_t i = 0; i < cap; i++) s->slots[i].len = -2;
    s->mask = cap - 1;
    s->count = 0;
}

void kname_set_init(struct kname_set *s, uint32_t n) {
    /* Sized for the names expected, up to a point: a request may repeat one name a million
     * times, so the table grows with the distinct names instead. */
    uint32_t cap = 16;
    while (cap < 2 * (uint64_t)SL_MIN(n, 1024u) + 1) cap *= 2;
    kname_set_alloc(s, cap);
}

void kname_set_free(struct kname_set *s) {
    free(s->slots);
    s->slots = NULL;
}

static uint32_t kname_hash(struct kstr name) {
    uint32_t h = 2166136261u;
    for (int32_t i = 0; i < name.len; i++) h = (h ^ (uint8_t)name.p[i]) * 16777619u;
    return h ^ (uint32_t)name.len;
}

/* The slot holding name, or the empty slot where it would go. The table is never more than
 * half full, so the probe ends. */
static struct kname_slot *kname_find(const struct kname_set *s, struct kstr name) {
    int32_t len = name.len < 0 ? -1 : name.len;
    for (uint32_t i = kname_hash(name) & s->mask;; i = (i + 1) & s->mask) {
        struct kname_slot *slot = &s->slots[i];
        if (slot->len == -2) return slot;
        if (slot->len == len && (len <= 0 || !memcmp(slot->p, name.p, (size_t)len))) return slot;
    }
}

uint32_t kname_set_add(struct kname_set *s, struct kstr name) {
    struct kname_slot *slot = kname_find(s, name);
    if (slot->len == -2 && 2 * (uint64_t)(s->count + 1) > (uint64_t)s->mask + 1) {
        struct kname_set old = *s;
        kname_set_alloc(s, (old.mask + 1) * 2);
        for (uint32_t i = 0; i <= old.mask; i++) {
            if (old.slots[i].len == -2) continue;
            struct kstr k = {old.slots[i].p, old.slots[i].len};
            *kname_find(s, k) = old.slots[i];
            s->count++;
        }
        free(old.slots);
        slot = kname_find(s, name);
    }
    if (slot->len == -2) {
        slot->p = name.p;
        slot->len = name.len < 0 ? -1 : name.len;
        slot->count = 0;
        s->count++;
    }
    return ++slot->count;
}

uint32_t kname_set_count(const struct kname_set *s, struct kstr name) {
    const struct kname_slot *slot = kname_find(s, name);
    return slot->len == -2 ? 0 : slot->count;
}

void kname_set_forget(struct kname_set *s, struct kstr name) {
    struct kname_slot *slot = kname_find(s, name);
    if (slot->len != -2) slot->count = 0;
}
