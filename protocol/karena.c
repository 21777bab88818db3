/* karena.c: bump allocator for decoded requests (see karena.h). */
#include "protocol/karena.h"

#include <stdint.h>
#include <string.h>

#include "base/base.h"

struct karena_block {
    struct karena_block *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

void karena_init(struct karena *a, size_t block_bytes) {
    a->head = a->spare = NULL;
    a->block_bytes = block_bytes ? block_bytes : 16384;
}

static void karena_free_chain(struct karena_block *b) {
    while (b) {
        struct karena_block *next = b->next;
        free(b);
        b = next;
    }
}

void karena_free(struct karena *a) {
    karena_free_chain(a->head);
    karena_free_chain(a->spare);
    a->head = a->spare = NULL;
}

void karena_reset(struct karena *a) {
    while (a->head) {
        struct karena_block *b = a->head;
        a->head = b->next;
        /* Oversized one-off blocks go; standard ones are kept for the next request. */
        if (b->cap > a->block_bytes) {
            free(b);
            continue;
        }
        b->used = 0;
        b->next = a->spare;
        a->spare = b;
    }
}

void *karena_alloc(struct karena *a, size_t n) {
    SL_ASSERT(n < ((size_t)1 << 40));
    n = (n + 15) & ~(size_t)15;
    struct karena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        if (n <= a->block_bytes && a->spare) {
            b = a->spare;
            a->spare = b->next;
        } else {
            size_t cap = n > a->block_bytes ? n : a->block_bytes;
            b = sl_xmalloc(sizeof(*b) + cap);
            b->cap = cap;
        }
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}
