/* loop.c: the io_uring event loop (see loop.h). */
#include "base/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

uint64_t loop_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t loop_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t loop_real_wall_ms(void *arg) {
    (void)arg;
    return loop_clock_ms();
}

static uint64_t loop_real_mono_ms(void *arg) {
    (void)arg;
    return loop_monotonic_ms();
}

static uint64_t loop_real_mono_us(void *arg) {
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void loop_read_clock(struct loop *l) {
    l->now_ms = l->clock.wall_ms(l->clock.arg);
    uint64_t mono = l->clock.mono_ms(l->clock.arg);
    SL_ASSERT(mono >= l->mono_ms); /* a monotonic clock that steps back is a broken clock */
    l->mono_ms = mono;
}

void loop_set_clock(struct loop *l, const struct loop_clock *c) {
    SL_ASSERT(c->wall_ms && c->mono_ms);
    l->clock = *c;
    l->mono_ms = 0;
    loop_read_clock(l);
}

int loop_init(struct loop *l, uint32_t entries) {
    memset(l, 0, sizeof(*l));
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    /* A larger CQ than SQ: a burst of completions must never overflow into the kernel's slow path. */
    p.flags = IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    int rc = io_uring_queue_init_params(entries, &l->ring, &p);
    if (rc < 0) return rc;
    l->clock = (struct loop_clock){loop_real_wall_ms, loop_real_mono_ms, NULL, loop_real_mono_us};
    loop_read_clock(l);
    return 0;
}

void loop_close(struct loop *l) {
    io_uring_queue_exit(&l->ring);
    free(l->timers);
    l->timers = NULL;
    l->timer_count = l->timer_cap = 0;
}

static void loop_heap_set(struct loop *l, uint32_t i, struct loop_timer *t) {
    l->timers[i] = t;
    t->heap_index = i + 1;
}

static void loop_heap_up(struct loop *l, uint32_t i) {
    struct loop_timer *t = l->timers[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (l->timers[parent]->deadline_ms <= t->deadline_ms) break;
        loop_heap_set(l, i, l->timers[parent]);
        i = parent;
    }
    loop_heap_set(l, i, t);
}

static void loop_heap_down(struct loop *l, uint32_t i) {
    struct loop_timer *t = l->timers[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= l->timer_count) break;
        if (child + 1 < l->timer_count && l->timers[child + 1]->deadline_ms < l->timers[child]->deadline_ms)
            child++;
        if (t->deadline_ms <= l->timers[child]->deadline_ms) break;
        loop_heap_set(l, i, l->timers[child]);
        i = child;
    }
    loop_heap_set(l, i, t);
}

void loop_timer_del(struct loop *l, struct loop_timer *t) {
    if (!t->heap_index) return;
    uint32_t i = t->heap_index - 1;
    SL_ASSERT(i < l->timer_count && l->timers[i] == t);
    t->heap_index = 0;
    struct loop_timer *last = l->timers[--l->timer_count];
    if (i == l->timer_count) return;
    loop_heap_set(l, i, last);
    loop_heap_up(l, i);
    loop_heap_down(l, last->heap_index - 1);
}

void loop_timer_add(struct loop *l, struct loop_timer *t, uint64_t deadline_ms) {
    loop_timer_del(l, t);
    if (l->timer_count == l->timer_cap) {
        l->timer_cap = l->timer_cap ? l->timer_cap * 2 : 64;
        l->timers = sl_xrealloc(l->timers, l->timer_cap * sizeof(*l->timers));
    }
    t->deadline_ms = deadline_ms;
    t->seq = ++l->timer_seq;
    loop_heap_set(l, l->timer_count, t);
    l->timer_count++;
    loop_heap_up(l, l->timer_count - 1);
}

/* Fires every timer due by now; a timer re-armed by its own callback waits for a later turn. */
static uint32_t loop_fire_timers(struct loop *l) {
    uint32_t fired = 0;
    uint64_t now = l->mono_ms;
    /* Timers armed from here on (a callback re-arming itself for now: work done in slices)
     * wait for the next turn, so the I/O that came in meanwhile is served first. */
    uint64_t armed_before = l->timer_seq;
    while (l->timer_count && l->timers[0]->deadline_ms <= now && l->timers[0]->seq <= armed_before &&
           fired < 100000) {
        struct loop_timer *t = l->timers[0];
        loop_timer_del(l, t);
        t->fire(t, now);
        fired++;
    }
    return fired;
}

struct io_uring_sqe *loop_sqe(struct loop *l, struct io_op *op) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    if (!sqe) {
        io_uring_submit(&l->ring);
        sqe = io_uring_get_sqe(&l->ring);
    }
    SL_ASSERT(sqe);
    io_uring_sqe_set_data(sqe, op);
    l->inflight++;
    return sqe;
}

void loop_sqe_reserve(struct loop *l, unsigned n) {
    if (io_uring_sq_space_left(&l->ring) < n) io_uring_submit(&l->ring);
    SL_ASSERT(io_uring_sq_space_left(&l->ring) >= n);
}

void loop_add_before_sleep(struct loop *l, loop_hook_fn fn, void *arg) {
    SL_ASSERT(l->hook_count < LOOP_HOOKS_MAX);
    l->hooks[l->hook_count].fn = fn;
    l->hooks[l->hook_count].arg = arg;
    l->hook_count++;
}

void loop_remove_before_sleep(struct loop *l, void *arg) {
    for (uint32_t i = 0; i < l->hook_count; i++) {
        if (l->hooks[i].arg != arg) continue;
        memmove(&l->hooks[i], &l->hooks[i + 1], (l->hook_count - i - 1) * sizeof(l->hooks[0]));
        l->hook_count--;
        return;
    }
}

static unsigned loop_reap(struct loop *l) {
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    /* Collect first, then complete: a done() may submit, which must not race our CQ walk. */
    enum { REAP_MAX = 256 };
    struct {
        struct io_op *op;
        int32_t res;
    } done[REAP_MAX];
    io_uring_for_each_cqe(&l->ring, head, cqe) {
        if (seen == REAP_MAX) break;
        done[seen].op = (struct io_op *)io_uring_cqe_get_data(cqe);
        done[seen].res = cqe->res;
        seen++;
    }
    io_uring_cq_advance(&l->ring, seen);
    SL_ASSERT(l->inflight >= seen);
    l->inflight -= seen;
    for (unsigned i = 0; i < seen; i++)
        if (done[i].op) done[i].op->done(done[i].op, done[i].res);
    return seen;
}

uint32_t loop_run_once(struct loop *l, int32_t timeout_ms) {
    loop_read_clock(l);
    for (uint32_t i = 0; i < l->hook_count; i++) l->hooks[i].fn(l->hooks[i].arg, loop_time(l));
    if (l->timer_count) {
        uint64_t due = l->timers[0]->deadline_ms;
        int64_t wait = due <= l->mono_ms ? 0 : (int64_t)(due - l->mono_ms);
        if (timeout_ms < 0 || wait < timeout_ms) timeout_ms = (int32_t)SL_MIN(wait, (int64_t)INT32_MAX);
    }
    if (timeout_ms == 0 || io_uring_cq_ready(&l->ring)) {
        io_uring_submit(&l->ring);
    } else if (timeout_ms < 0) {
        io_uring_submit_and_wait(&l->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
        struct io_uring_cqe *cqe = NULL;
        int rc = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
        (void)rc; /* -ETIME and -EINTR just end the wait */
    }
    loop_read_clock(l);
    uint32_t completed = 0;
    while (io_uring_cq_ready(&l->ring)) completed += loop_reap(l);
    return completed + loop_fire_timers(l);
}

bool loop_run_until(struct loop *l, bool (*done)(void *arg), void *arg, int32_t timeout_ms) {
    uint64_t deadline = loop_monotonic_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    uint32_t idle_turns = 0;
    while (!done(arg)) {
        uint64_t now = loop_monotonic_ms();
        if (now >= deadline) return done(arg);
        uint64_t left = deadline - now;
        uint32_t completed = loop_run_once(l, (l->inflight || l->timer_count) ? (int32_t)SL_MIN(left, 50u) : 0);
        /* Two turns with nothing in flight and nothing completed: no hook has work either,
         * so waiting longer cannot help. */
        idle_turns = (completed || l->inflight || l->timer_count) ? 0 : idle_turns + 1;
        if (idle_turns >= 2) return done(arg);
    }
    return true;
}
