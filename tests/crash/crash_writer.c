/* crash_writer.c: the victim of the kill -9 crash test (see kill9_append.sh).
 *
 *   crash_writer DIR SEED [SEGMENT_BYTES [MAX_SECONDS]]
 *
 * Opens the store at DIR with one fdatasync per append, resumes topic "crash" partition 0 at
 * its end offset and appends the deterministic batches of crash_batch.h, keeping up to
 * WRITER_OUTSTANDING appends in flight so kills land between write, sync and completion, not
 * only between appends. Each batch whose durable waiter fires OK is reported on stdout as
 * "durable <base> <next> ok" -- a promise the verifier holds the store to after the kill. The
 * trailing "ok" marks a complete line, so a line cut by the kill is never believed.
 * Exit codes: 0 after MAX_SECONDS (a safety bound; the driver kills it long before),
 * 2 on any storage error, 77 if io_uring is unavailable. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/loop.h"
#include "crash_batch.h"
#include "storage/log.h"
#include "storage/store.h"

#define WRITER_OUTSTANDING 8
#define WRITER_SECONDS_DEFAULT 30

struct pending {
    struct log_waiter w; /* first: done() gets &w and casts back */
    int64_t base, next;
    bool busy;
};

static struct pending slots[WRITER_OUTSTANDING];
static sl_err first_error;

/* stdio would buffer, and a buffered promise dies with the process: report with write(2). */
static void say(const char *line, size_t n) {
    size_t done = 0;
    for (int tries = 0; done < n && tries < 1000; tries++) {
        ssize_t w = write(STDOUT_FILENO, line + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
}

static void on_durable(struct log_waiter *w, sl_err e) {
    struct pending *p = (struct pending *)w;
    p->busy = false;
    if (e) {
        if (!first_error) first_error = e;
        return;
    }
    char line[80];
    int n = snprintf(line, sizeof(line), "durable %lld %lld ok\n", (long long)p->base, (long long)p->next);
    say(line, (size_t)n);
}

static struct pending *free_slot(void) {
    for (int i = 0; i < WRITER_OUTSTANDING; i++)
        if (!slots[i].busy) return &slots[i];
    return NULL;
}

static int fail(const char *what, sl_err e) {
    fprintf(stderr, "crash_writer: %s: %s\n", what, sl_err_str(e));
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: crash_writer DIR SEED [SEGMENT_BYTES [MAX_SECONDS]]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t seed = strtoull(argv[2], NULL, 10);
    uint64_t segment_bytes = argc > 3 ? strtoull(argv[3], NULL, 10) : CRASH_SEGMENT_BYTES_DEFAULT;
    uint64_t max_s = argc > 4 ? strtoull(argv[4], NULL, 10) : WRITER_SECONDS_DEFAULT;

    struct loop loop;
    int r = loop_init(&loop, 256);
    if (r < 0) {
        fprintf(stderr, "crash_writer: io_uring unavailable: %s\n", strerror(-r));
        return 77;
    }
    struct log_config cfg;
    crash_log_config(&cfg, segment_bytes);
    struct store *st;
    sl_err e = store_open(&st, &loop, dir, &cfg, NULL);
    if (e) return fail("store_open", e);
    struct log *g = store_log_get(st, CRASH_TOPIC, CRASH_PARTITION);
    if (!g && (e = store_log_create(st, CRASH_TOPIC, CRASH_PARTITION, NULL, &g))) return fail("store_log_create", e);

    char line[80];
    int n = snprintf(line, sizeof(line), "start %lld\n", (long long)log_end_offset(g));
    say(line, (size_t)n);

    static uint8_t batch[CRASH_BATCH_BYTES_MAX];
    uint64_t deadline = loop_monotonic_ms() + max_s * 1000;
    while (loop_monotonic_ms() < deadline && !first_error) {
        struct pending *p;
        /* The log copies each batch into its write buffer, so one build buffer serves all. */
        while ((p = free_slot())) {
            int64_t expect = log_end_offset(g);
            uint32_t len = crash_batch_build(batch, sizeof(batch), seed, expect);
            if (len == 0) return fail("crash_batch_build", SL_INVALID_ARG);
            p->w.done = on_durable;
            int64_t base = -1;
            e = log_append(g, batch, len, &base, &p->w, true);
            if (e) return fail("log_append", e);
            if (base != expect) {
                fprintf(stderr, "crash_writer: log_append gave base %lld, end offset was %lld\n",
                        (long long)base, (long long)expect);
                return 2;
            }
            p->base = base;
            p->next = log_end_offset(g);
            p->busy = true;
        }
        loop_run_once(&loop, 100);
    }
    if (first_error) return fail("durable waiter", first_error);
    e = log_flush(g, true, 10000);
    if (e) return fail("log_flush", e);
    e = store_close(st);
    loop_close(&loop);
    return e ? fail("store_close", e) : 0;
}
