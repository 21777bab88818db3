/* store_internal.h: what the storage files ask of the store: the loop, the dirty list the
 * before-sleep hook writes, and the budget of idle sealed-segment fds (an LRU). */
#ifndef SL_STORAGE_STORE_INTERNAL_H
#define SL_STORAGE_STORE_INTERNAL_H

#include "storage/log_internal.h"
#include "storage/store.h"

void store_mark_dirty(struct store *st, struct log *g);
/* A sealed segment's fd is open and no span holds it: it may be closed when over budget. */
void store_fd_idle(struct store *st, struct seg *s);
/* The segment is in use again (or closing): off the LRU. */
void store_fd_busy(struct store *st, struct seg *s);

#endif
