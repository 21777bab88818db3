/* base_loop_test.c: base/loop.c: timers run on the monotonic clock, timestamps on the wall
 * clock, and both are inputs (a fake struct loop_clock, no sleeping). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/loop.h"

struct fake_clock {
    uint64_t wall_ms, mono_ms;
};

static uint64_t fake_wall_ms(void *arg) { return ((struct fake_clock *)arg)->wall_ms; }
static uint64_t fake_mono_ms(void *arg) { return ((struct fake_clock *)arg)->mono_ms; }

struct probe {
    struct loop_timer t;
    int id;
    int *order;
    int *fired;
    uint64_t fired_at_mono_ms;
};

static void probe_fire(struct loop_timer *t, uint64_t mono_ms) {
    struct probe *p = (struct probe *)t;
    p->order[(*p->fired)++] = p->id;
    p->fired_at_mono_ms = mono_ms;
}

#define HOUR_MS (3600u * 1000u)

static void start(struct loop *l, struct fake_clock *fc) {
    int rc = loop_init(l, 8);
    if (rc < 0) {
        fprintf(stderr, "io_uring unavailable (%d): skipping\n", rc);
        exit(77);
    }
    struct loop_clock c = {fake_wall_ms, fake_mono_ms, fc};
    loop_set_clock(l, &c);
}

START_TEST(test_timers_ignore_wall_steps) {
    struct loop l;
    struct fake_clock fc = {.wall_ms = 1700000000000ull, .mono_ms = 5000};
    start(&l, &fc);
    ck_assert_uint_eq(loop_now_ms(&l), 1700000000000ull);
    ck_assert_uint_eq(loop_mono_ms(&l), 5000);

    int order[3] = {0, 0, 0}, fired = 0;
    struct probe p[3];
    for (int i = 0; i < 3; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].t.fire = probe_fire;
        p[i].id = i + 1;
        p[i].order = order;
        p[i].fired = &fired;
    }
    /* Armed out of order: the heap, not the arming order, decides. */
    loop_timer_add(&l, &p[2].t, loop_mono_ms(&l) + 300);
    loop_timer_add(&l, &p[0].t, loop_mono_ms(&l) + 100);
    loop_timer_add(&l, &p[1].t, loop_mono_ms(&l) + 200);

    /* The wall clock steps back an hour: nothing fires, nothing is pushed an hour out. */
    fc.wall_ms -= HOUR_MS;
    fc.mono_ms += 50;
    ck_assert_uint_eq(loop_run_once(&l, 0), 0);
    ck_assert_int_eq(fired, 0);
    ck_assert_uint_eq(loop_now_ms(&l), 1700000000000ull - HOUR_MS);
    ck_assert_uint_eq(loop_mono_ms(&l), 5050);

    /* Then forward two hours (one past where it began): still nothing early. */
    fc.wall_ms += 2 * HOUR_MS;
    ck_assert_uint_eq(loop_run_once(&l, 0), 0);
    ck_assert_int_eq(fired, 0);
    ck_assert_uint_eq(loop_now_ms(&l), 1700000000000ull + HOUR_MS);

    /* Monotonic time alone moves them, one at a time, in deadline order. */
    fc.mono_ms = 5099;
    loop_run_once(&l, 0);
    ck_assert_int_eq(fired, 0);
    fc.mono_ms = 5100;
    loop_run_once(&l, 0);
    ck_assert_int_eq(fired, 1);
    ck_assert_int_eq(order[0], 1);
    ck_assert_uint_eq(p[0].fired_at_mono_ms, 5100);
    ck_assert(!loop_timer_armed(&p[0].t));
    ck_assert(loop_timer_armed(&p[1].t));

    fc.wall_ms -= HOUR_MS; /* a step between firings changes nothing either */
    fc.mono_ms = 5200;
    loop_run_once(&l, 0);
    ck_assert_int_eq(fired, 2);
    ck_assert_int_eq(order[1], 2);
    ck_assert_uint_eq(p[1].fired_at_mono_ms, 5200);

    fc.mono_ms = 5299;
    loop_run_once(&l, 0);
    ck_assert_int_eq(fired, 2);
    fc.mono_ms = 5300;
    loop_run_once(&l, 0);
    ck_assert_int_eq(fired, 3);
    ck_assert_int_eq(order[2], 3);
    ck_assert_uint_eq(p[2].fired_at_mono_ms, 5300);
    ck_assert_uint_eq(loop_now_ms(&l), 1700000000000ull);
    loop_close(&l);
}
END_TEST

struct hook_seen {
    int calls;
    struct loop_time last;
};

static void hook_record(void *arg, struct loop_time now) {
    struct hook_seen *h = arg;
    h->calls++;
    h->last = now;
}

START_TEST(test_hooks_get_both_clocks) {
    struct loop l;
    struct fake_clock fc = {.wall_ms = 1000000, .mono_ms = 77};
    start(&l, &fc);
    struct hook_seen h = {0};
    loop_add_before_sleep(&l, hook_record, &h);
    fc.wall_ms = 2000000;
    fc.mono_ms = 88;
    loop_run_once(&l, 0);
    ck_assert_int_eq(h.calls, 1);
    ck_assert_uint_eq(h.last.wall_ms, 2000000);
    ck_assert_uint_eq(h.last.mono_ms, 88);
    struct loop_time t = loop_time(&l);
    ck_assert_uint_eq(t.wall_ms, 2000000);
    ck_assert_uint_eq(t.mono_ms, 88);
    loop_remove_before_sleep(&l, &h);
    loop_run_once(&l, 0);
    ck_assert_int_eq(h.calls, 1);
    loop_close(&l);
}
END_TEST

START_TEST(test_real_clocks_by_default) {
    struct loop l;
    int rc = loop_init(&l, 8);
    if (rc < 0) exit(77);
    /* The wall clock is epoch time (after 2020); the monotonic one is not. */
    ck_assert_uint_gt(loop_now_ms(&l), 1577836800000ull);
    ck_assert_uint_le(loop_mono_ms(&l), loop_monotonic_ms());
    uint64_t before = loop_mono_ms(&l);
    loop_run_once(&l, 0);
    ck_assert_uint_ge(loop_mono_ms(&l), before);
    loop_close(&l);
}
END_TEST

int main(void) {
    Suite *s = suite_create("base/loop");
    TCase *tc = tcase_create("clock");
    tcase_add_test(tc, test_timers_ignore_wall_steps);
    tcase_add_test(tc, test_hooks_get_both_clocks);
    tcase_add_test(tc, test_real_clocks_by_default);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
