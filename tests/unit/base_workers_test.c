/* base_workers_test.c: base/workers.c: work runs on the pool's threads, each done() on the
 * thread that turns the loop, every submission exactly once, and workers_free finishes what
 * was submitted. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/loop.h"
#include "base/workers.h"

#define N 200

struct item {
    struct work w;
    int id;
    unsigned long value;         /* written by run() */
    pthread_t ran_on, done_on;
    int runs, dones;
};

static pthread_t loop_thread;
static int dones_total;

static void item_run(struct work *w) {
    struct item *it = (struct item *)w;
    it->ran_on = pthread_self();
    it->runs++;
    unsigned long v = (unsigned long)it->id;
    for (int i = 0; i < 20000; i++) v = v * 6364136223846793005ul + 1442695040888963407ul; /* some work */
    it->value = v;
}

static void item_done(struct work *w) {
    struct item *it = (struct item *)w;
    it->done_on = pthread_self();
    it->dones++;
    dones_total++;
}

static bool all_done(void *arg) { return dones_total == *(int *)arg; }

static void start(struct loop *l) {
    int rc = loop_init(l, 16);
    if (rc < 0) {
        fprintf(stderr, "io_uring unavailable (%d): skipping\n", rc);
        exit(77);
    }
    loop_thread = pthread_self();
    dones_total = 0;
}

static void check_items(struct item *items, int n) {
    for (int i = 0; i < n; i++) {
        unsigned long v = (unsigned long)items[i].id;
        for (int k = 0; k < 20000; k++) v = v * 6364136223846793005ul + 1442695040888963407ul;
        ck_assert_int_eq(items[i].runs, 1);
        ck_assert_int_eq(items[i].dones, 1);
        ck_assert(items[i].value == v);
        ck_assert(!pthread_equal(items[i].ran_on, loop_thread));
        ck_assert(pthread_equal(items[i].done_on, loop_thread));
    }
}

START_TEST(test_runs_off_loop_done_on_loop) {
    struct loop l;
    start(&l);
    struct workers *ws = workers_new(&l, 2, "test");
    ck_assert_ptr_nonnull(ws);
    static struct item items[N];
    for (int i = 0; i < N; i++) {
        items[i] = (struct item){.w = {item_run, item_done, NULL}, .id = i};
        workers_submit(ws, &items[i].w);
    }
    int want = N;
    ck_assert(loop_run_until(&l, all_done, &want, 10000));
    check_items(items, N);
    workers_free(ws);
    loop_close(&l);
}
END_TEST

START_TEST(test_free_finishes_submitted) {
    struct loop l;
    start(&l);
    struct workers *ws = workers_new(&l, 1, "test");
    ck_assert_ptr_nonnull(ws);
    static struct item items[N];
    for (int i = 0; i < N; i++) {
        items[i] = (struct item){.w = {item_run, item_done, NULL}, .id = i};
        workers_submit(ws, &items[i].w);
    }
    workers_free(ws); /* without a loop turn in between: every done() still runs, once */
    ck_assert_int_eq(dones_total, N);
    check_items(items, N);
    loop_close(&l);
}
END_TEST

/* Large blocks go to a thread of their own, small ones at once; under ASan a block lost or
 * freed twice would be reported. The large ones' threads are given time to end before exit. */
START_TEST(test_free_off_loop) {
    workers_free_off_loop(NULL, WORKERS_FREE_OFF_LOOP_MIN);
    workers_free_off_loop(malloc(64), 64);
    for (int i = 0; i < 4; i++) {
        uint8_t *big = malloc(WORKERS_FREE_OFF_LOOP_MIN * 2);
        ck_assert_ptr_nonnull(big);
        for (size_t k = 0; k < WORKERS_FREE_OFF_LOOP_MIN * 2; k += 4096) big[k] = 1;
        workers_free_off_loop(big, WORKERS_FREE_OFF_LOOP_MIN * 2);
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("base/workers");
    TCase *tc = tcase_create("workers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_runs_off_loop_done_on_loop);
    tcase_add_test(tc, test_free_finishes_submitted);
    tcase_add_test(tc, test_free_off_loop);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
