/* workers.c: see workers.h. The hand-back is an eventfd the loop keeps one read armed on: a
 * worker queues the finished work under the mutex and writes 1; the read's completion takes
 * every finished work off the queue and runs its done(). */
#include "base/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"

#define WORKERS_MAX 16

struct workers {
    struct loop *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct work *todo_head, *todo_tail; /* submitted, not yet taken by a thread */
    struct work *done_head, *done_tail; /* run, done() not yet called */
    uint32_t running;                   /* taken by a thread, not yet queued as done */
    bool stop;
    pthread_t threads[WORKERS_MAX];
    uint32_t thread_count;
    int efd;
    uint64_t efd_val;
    struct io_op efd_op;
    bool efd_armed;
    bool closing; /* workers_free has begun: the read is not armed again */
    char name[32];
};

static void queue_push(struct work **head, struct work **tail, struct work *w) {
    w->next = NULL;
    if (*tail) (*tail)->next = w;
    else *head = w;
    *tail = w;
}

/* Below the loop thread: on a machine with no idle core, a bcrypt check or a huge decode
 * takes what the loop leaves (CFS weights nice 10 at a tenth of nice 0) instead of an equal
 * share, so the loop's latency stays its own. */
#define WORKERS_NICE 10

static void *workers_main(void *arg) {
    struct workers *ws = arg;
    char tname[16];
    snprintf(tname, sizeof(tname), "sl-%.12s", ws->name);
    pthread_setname_np(pthread_self(), tname);
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKERS_NICE) != 0)
        SL_DEBUG("%s workers: setpriority: %s", ws->name, strerror(errno));
    pthread_mutex_lock(&ws->mu);
    for (;;) {
        while (!ws->todo_head && !ws->stop) pthread_cond_wait(&ws->cv, &ws->mu);
        if (!ws->todo_head) break; /* stop, with nothing left to run */
        struct work *w = ws->todo_head;
        ws->todo_head = w->next;
        if (!ws->todo_head) ws->todo_tail = NULL;
        ws->running++;
        pthread_mutex_unlock(&ws->mu);
        w->run(w);
        pthread_mutex_lock(&ws->mu);
        ws->running--;
        queue_push(&ws->done_head, &ws->done_tail, w);
        pthread_cond_broadcast(&ws->cv);
        uint64_t one = 1;
        ssize_t n = write(ws->efd, &one, sizeof(one));
        (void)n; /* an eventfd write of 1 cannot fail short of overflow */
    }
    pthread_mutex_unlock(&ws->mu);
    return NULL;
}

/* Every finished work's done(), in the order they finished, on the loop. */
static void workers_reap(struct workers *ws) {
    pthread_mutex_lock(&ws->mu);
    struct work *w = ws->done_head;
    ws->done_head = ws->done_tail = NULL;
    pthread_mutex_unlock(&ws->mu);
    while (w) {
        struct work *next = w->next;
        w->done(w);
        w = next;
    }
}

static void workers_efd_arm(struct workers *ws) {
    if (ws->efd_armed || ws->closing) return;
    ws->efd_armed = true;
    struct io_uring_sqe *sqe = loop_sqe(ws->loop, &ws->efd_op);
    io_uring_prep_read(sqe, ws->efd, &ws->efd_val, sizeof(ws->efd_val), 0);
}

static void workers_efd_done(struct io_op *op, int32_t res) {
    struct workers *ws = (struct workers *)((char *)op - offsetof(struct workers, efd_op));
    ws->efd_armed = false;
    if (res < 0 && res != -EINTR && res != -EAGAIN) SL_WARN("%s workers: eventfd read: %s", ws->name, strerror(-res));
    workers_reap(ws);
    workers_efd_arm(ws);
}

struct workers *workers_new(struct loop *l, uint32_t threads, const char *name) {
    struct workers *ws = sl_xcalloc(1, sizeof(*ws));
    ws->loop = l;
    snprintf(ws->name, sizeof(ws->name), "%s", name);
    ws->efd_op.done = workers_efd_done;
    pthread_mutex_init(&ws->mu, NULL);
    pthread_cond_init(&ws->cv, NULL);
    ws->efd = eventfd(0, EFD_CLOEXEC);
    if (ws->efd < 0) {
        SL_ERROR("%s workers: eventfd: %s", name, strerror(errno));
        workers_free(ws);
        return NULL;
    }
    threads = SL_MAX(1u, SL_MIN(threads, (uint32_t)WORKERS_MAX));
    for (uint32_t i = 0; i < threads; i++) {
        int rc = pthread_create(&ws->threads[ws->thread_count], NULL, workers_main, ws);
        if (rc) {
            SL_ERROR("%s workers: cannot start a thread: %s", name, strerror(rc));
            break;
        }
        ws->thread_count++;
    }
    if (!ws->thread_count) {
        workers_free(ws);
        return NULL;
    }
    workers_efd_arm(ws);
    return ws;
}

void workers_submit(struct workers *ws, struct work *w) {
    SL_ASSERT(ws && !ws->closing && w->run && w->done);
    pthread_mutex_lock(&ws->mu);
    queue_push(&ws->todo_head, &ws->todo_tail, w);
    pthread_cond_signal(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
}

void workers_free(struct workers *ws) {
    if (!ws) return;
    ws->closing = true;
    pthread_mutex_lock(&ws->mu);
    ws->stop = true; /* the threads run what is queued, then leave */
    pthread_cond_broadcast(&ws->cv);
    pthread_mutex_unlock(&ws->mu);
    for (uint32_t i = 0; i < ws->thread_count; i++) pthread_join(ws->threads[i], NULL);
    workers_reap(ws);
    if (ws->efd >= 0) {
        /* The armed read is in the ring and its op lives in ws: make it complete and let the
         * loop reap it before ws goes. */
        if (ws->efd_armed) {
            uint64_t one = 1;
            ssize_t n = write(ws->efd, &one, sizeof(one));
            (void)n;
            for (int i = 0; i < 100 && ws->efd_armed; i++) loop_run_once(ws->loop, 10);
        }
        close(ws->efd);
    }
    pthread_mutex_destroy(&ws->mu);
    pthread_cond_destroy(&ws->cv);
    free(ws);
}

static void *workers_free_run(void *p) {
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKERS_NICE);
    free(p);
    return NULL;
}

void workers_free_off_loop(void *p, size_t len) {
    if (!p) return;
    pthread_attr_t a;
    pthread_t th;
    if (len < WORKERS_FREE_OFF_LOOP_MIN || pthread_attr_init(&a) != 0) {
        free(p);
        return;
    }
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &a, workers_free_run, p) != 0) free(p);
    pthread_attr_destroy(&a);
}
