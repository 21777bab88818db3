/* workers.h: a few threads for work too slow for the event loop (a bcrypt check costs 100 ms
 * at cost 11), handed back to the loop when done.
 *
 * The caller owns each struct work: run() executes on a worker thread and must touch only
 * what the work carries; done() runs afterwards on the loop thread, inside a loop turn, where
 * the caller may free it. Work that is no longer wanted (its connection closed) is not
 * recalled: the caller marks it and done() drops the result. Submissions run in order of
 * submission, up to `threads` at a time. */
#ifndef SL_WORKERS_H
#define SL_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"

struct work {
    void (*run)(struct work *w);  /* on a worker thread */
    void (*done)(struct work *w); /* then on the loop */
    struct work *next;            /* the pool's queues */
};

struct workers;

/* NULL (and an error logged) if no thread could start; workers_submit on NULL runs the work
 * inline, so a broker without threads still answers, only slower. */
struct workers *workers_new(struct loop *l, uint32_t threads, const char *name);
void workers_submit(struct workers *ws, struct work *w);
/* Waits for the work already running, finishes (done()) everything submitted, joins. */
void workers_free(struct workers *ws);

/* free(p), on a thread of its own (at the workers' nice) when len is at least
 * WORKERS_FREE_OFF_LOOP_MIN: unmapping 100 MiB of touched pages held the loop 7-15 ms
 * (measured during kafka_admin_stall_test's 100 MiB Produce). Smaller blocks, or no thread to be
 * had, are freed at once. Needs no pool, so it works whatever is still running. */
#define WORKERS_FREE_OFF_LOOP_MIN (4u << 20)
void workers_free_off_loop(void *p, size_t len);

#endif
