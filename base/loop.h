/* loop.h: the io_uring event loop every layer submits through.
 *
 * An operation is a caller-owned struct io_op; its address is the SQE's user_data and its
 * done() runs with the CQE's res (bytes or -errno). The loop reads the clock once per turn and
 * hands that now_ms to before-sleep hooks (where storage batches its writes and group commits)
 * and to whoever asks through loop_now_ms(). */
#ifndef SL_LOOP_H
#define SL_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct io_op {
    void (*done)(struct io_op *op, int32_t res);
};

typedef void (*loop_hook_fn)(void *arg, uint64_t now_ms);

/* A caller-owned timer on the loop's clock. Fires once, at the first turn at or after
 * deadline_ms; re-add it to fire again. */
struct loop_timer {
    void (*fire)(struct loop_timer *t, uint64_t now_ms);
    uint64_t deadline_ms;
    uint32_t heap_index; /* position in the heap + 1; 0 when not armed */
};

#define LOOP_HOOKS_MAX 16

struct loop {
    struct io_uring ring;
    uint64_t now_ms;        /* wall clock, ms since the epoch, read once per turn */
    uint32_t inflight;      /* SQEs handed out whose CQE has not been reaped */
    uint32_t hook_count;
    struct loop_timer **timers; /* binary min-heap on deadline_ms */
    uint32_t timer_count, timer_cap;
    struct {
        loop_hook_fn fn;
        void *arg;
    } hooks[LOOP_HOOKS_MAX];
};

/* Returns 0 or -errno (e.g. -ENOSYS where io_uring is unavailable). */
int loop_init(struct loop *l, uint32_t entries);
void loop_close(struct loop *l);

/* An SQE whose user_data is op. Never NULL: a full submission queue is submitted first. */
struct io_uring_sqe *loop_sqe(struct loop *l, struct io_op *op);

void loop_add_before_sleep(struct loop *l, loop_hook_fn fn, void *arg);
/* Removes the hook registered with arg (a subsystem stopping); no-op if none. */
void loop_remove_before_sleep(struct loop *l, void *arg);
/* Makes sure the next n loop_sqe() calls need no submission in between (linked SQEs). */
void loop_sqe_reserve(struct loop *l, unsigned n);

/* Arms t for deadline_ms (re-arming moves it). */
void loop_timer_add(struct loop *l, struct loop_timer *t, uint64_t deadline_ms);
void loop_timer_del(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t) { return t->heap_index != 0; }

/* One turn: run the before-sleep hooks, submit, wait up to timeout_ms (0: do not wait; <0:
 * wait for at least one completion) and complete every CQE that is ready. */
uint32_t loop_run_once(struct loop *l, int32_t timeout_ms); /* returns completions run */

/* Turns the loop until done(arg) is true or timeout_ms passes; returns done(arg). For tools,
 * tests and shutdown, which need an answer before they go on. */
bool loop_run_until(struct loop *l, bool (*done)(void *arg), void *arg, int32_t timeout_ms);

static inline uint64_t loop_now_ms(const struct loop *l) { return l->now_ms; }

uint64_t loop_clock_ms(void);
uint64_t loop_monotonic_ms(void);

#endif
