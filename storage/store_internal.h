/* store_internal.h: what the storage files ask of the store: the loop, the dirty list the
 * before-sleep hook writes, and the budget of idle sealed-segment fds (an LRU). */
#ifndef SL_STORAGE_STORE_INTERNAL_H
#define SL_STORAGE_STORE_INTERNAL_H

#include "storage/log_internal.h"
#include "storage/sio.h"
#include "storage/store.h"

/* The I/O edge every file operation goes through (NULL: plain calls). */
struct sio *store_io(const struct store *st);
void store_mark_dirty(struct store *st, struct log *g);
/* Pumps the logs owed a drain at deadline_ms (monotonic), for log_drain_maybe's quiet wait. */
void store_drain_later(struct store *st, uint64_t deadline_ms);
/* A sealed segment's fd is open and no span holds it: it may be closed when over budget. */
void store_fd_idle(struct store *st, struct seg *s);
/* The segment is in use again (or closing): off the LRU. */
void store_fd_busy(struct store *st, struct seg *s);

/* Write buffers come from one pool for the whole store, kept warm up to a byte budget: freshly
 * mapped memory costs a page fault per page on first touch, which costs more than the copy. */
struct wbuf *store_wbuf_get(struct store *st, uint32_t need);
void store_wbuf_put(struct store *st, struct wbuf *b);

#endif
