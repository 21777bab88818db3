/* loop.h: the io_uring event loop every layer submits through.
 *
 * An operation is a caller-owned struct io_op; its address is the SQE's user_data and its
 * done() runs with the CQE's res (bytes or -errno).
 *
 * Time: the loop reads two clocks once per turn, through a struct loop_clock (the real clocks by
 * default; tests install fakes). The wall clock, loop_now_ms(), is for timestamps only: record
 * times, retention by record time, commit times, segment age as Kafka defines it. The monotonic
 * clock, loop_mono_ms(), is for every deadline, timeout, period and duration, so a wall-clock
 * step neither stalls nor fires the timers. Before-sleep hooks get both. */
#ifndef SL_LOOP_H
#define SL_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct io_op {
    void (*done)(struct io_op *op, int32_t res);
};

/* The clocks the loop reads, in ms: wall since the epoch, monotonic since some fixed point. */
struct loop_clock {
    uint64_t (*wall_ms)(void *arg);
    uint64_t (*mono_ms)(void *arg);
    void *arg;
    /* Optional, for measuring durations below a millisecond (I/O latency metrics): monotonic
     * microseconds read now, not once per turn. NULL: loop_mono_us gives the turn's ms * 1000. */
    uint64_t (*mono_us)(void *arg);
};

/* One turn's reading of both clocks. */
struct loop_time {
    uint64_t wall_ms;
    uint64_t mono_ms;
};

typedef void (*loop_hook_fn)(void *arg, struct loop_time now);

/* A caller-owned timer on the loop's monotonic clock. Fires once, at the first turn at or after
 * deadline_ms (a loop_mono_ms() value); re-add it to fire again. */
struct loop_timer {
    void (*fire)(struct loop_timer *t, uint64_t mono_ms);
    uint64_t deadline_ms;
    uint64_t seq;        /* when it was armed: one armed while timers fire waits for the next turn */
    uint32_t heap_index; /* position in the heap + 1; 0 when not armed */
};

#define LOOP_HOOKS_MAX 16

struct loop {
    struct io_uring ring;
    struct loop_clock clock;
    uint64_t now_ms;        /* wall clock, ms since the epoch, read once per turn */
    uint64_t mono_ms;       /* monotonic clock, read with now_ms */
    uint32_t inflight;      /* SQEs handed out whose CQE has not been reaped */
    uint32_t hook_count;
    struct loop_timer **timers; /* binary min-heap on deadline_ms */
    uint32_t timer_count, timer_cap;
    uint64_t timer_seq;         /* timers armed so far */
    struct {
        loop_hook_fn fn;
        void *arg;
    } hooks[LOOP_HOOKS_MAX];
};

/* Returns 0 or -errno (e.g. -ENOSYS where io_uring is unavailable). Installs the real clocks. */
int loop_init(struct loop *l, uint32_t entries);
/* Replaces the clocks (tests) and reads them at once. Armed timers keep their deadlines, so a
 * fake monotonic clock must continue from where the old one stood. */
void loop_set_clock(struct loop *l, const struct loop_clock *c);
void loop_close(struct loop *l);

/* An SQE whose user_data is op. Never NULL: a full submission queue is submitted first. */
struct io_uring_sqe *loop_sqe(struct loop *l, struct io_op *op);

void loop_add_before_sleep(struct loop *l, loop_hook_fn fn, void *arg);
/* Removes the hook registered with arg (a subsystem stopping); no-op if none. */
void loop_remove_before_sleep(struct loop *l, void *arg);
/* Makes sure the next n loop_sqe() calls need no submission in between (linked SQEs). */
void loop_sqe_reserve(struct loop *l, unsigned n);

/* Arms t for deadline_ms on the monotonic clock (re-arming moves it). */
void loop_timer_add(struct loop *l, struct loop_timer *t, uint64_t deadline_ms);
void loop_timer_del(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t) { return t->heap_index != 0; }

/* One turn: run the before-sleep hooks, submit, wait up to timeout_ms (0: do not wait; <0:
 * wait for at least one completion) and complete every CQE that is ready. */
uint32_t loop_run_once(struct loop *l, int32_t timeout_ms); /* returns completions run */

/* Turns the loop until done(arg) is true or timeout_ms passes; returns done(arg). For tools,
 * tests and shutdown, which need an answer before they go on. timeout_ms is real time (the OS
 * monotonic clock), so a test's frozen fake clock cannot make this spin forever. */
bool loop_run_until(struct loop *l, bool (*done)(void *arg), void *arg, int32_t timeout_ms);

/* Wall time of this turn: for timestamps, never for deadlines. */
static inline uint64_t loop_now_ms(const struct loop *l) { return l->now_ms; }
/* Monotonic time of this turn: for deadlines, timeouts, periods and durations. */
static inline uint64_t loop_mono_ms(const struct loop *l) { return l->mono_ms; }
/* Monotonic microseconds, read at the call (see struct loop_clock): for latency metrics only. */
static inline uint64_t loop_mono_us(const struct loop *l) {
    return l->clock.mono_us ? l->clock.mono_us(l->clock.arg) : l->mono_ms * 1000;
}
static inline struct loop_time loop_time(const struct loop *l) {
    return (struct loop_time){l->now_ms, l->mono_ms};
}

/* The OS clocks behind the default struct loop_clock (CLOCK_REALTIME, CLOCK_MONOTONIC). Only
 * the loop, loop_run_until's real-time bound and tools outside the broker read them. */
uint64_t loop_clock_ms(void);
uint64_t loop_monotonic_ms(void);

#endif
