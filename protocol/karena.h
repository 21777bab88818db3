/* karena.h: a bump allocator for decoded requests. A connection owns one and resets it after
 * each request, so decoding the arrays of a request costs no malloc on the hot path. Memory
 * comes from a chain of blocks that are kept across resets. */
#ifndef SL_KARENA_H
#define SL_KARENA_H

#include <stddef.h>

struct karena_block;

struct karena {
    struct karena_block *head;  /* current block */
    struct karena_block *spare; /* blocks kept from before the last reset */
    size_t block_bytes;
};

void karena_init(struct karena *a, size_t block_bytes);
void karena_free(struct karena *a);
/* Frees nothing: every block is kept for the next request. */
void karena_reset(struct karena *a);
/* Zeroed, 8-byte aligned. Never NULL (stops the process on exhaustion, as sl_xmalloc). */
void *karena_alloc(struct karena *a, size_t n);
#define KARENA_NEW_ARRAY(a, type, n) ((type *)karena_alloc((a), sizeof(type) * (size_t)(n)))

#endif
