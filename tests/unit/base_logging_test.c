/* base_logging_test.c: base/logging.c's writer thread: lines from many threads arrive whole and
 * in each thread's order; a stderr nobody reads makes lines drop (counted, then reported), never
 * makes a caller wait; before start and after stop, lines are written at once. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/logging.h"

/* fd 2 pointed at a new temporary file; returns its fd for reading back. */
static int stderr_to_file(void) {
    char path[] = "/tmp/sl-logtest-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    return fd;
}

static char *read_all(int fd, size_t *len) {
    off_t end = lseek(fd, 0, SEEK_END);
    ck_assert_int_ge(end, 0);
    char *buf = malloc((size_t)end + 1);
    ck_assert_int_eq(pread(fd, buf, (size_t)end, 0), end);
    buf[end] = 0;
    *len = (size_t)end;
    return buf;
}

#define THREADS 4
#define LINES 3000

static void *writer(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < LINES; i++) SL_INFO("thread %d line %d", t, i);
    return NULL;
}

START_TEST(async_lines_whole_and_in_order) {
    int fd = stderr_to_file();
    uint64_t dropped0 = sl_log_dropped();
    ck_assert_int_eq(sl_log_async_start(8u << 20), 0);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) ck_assert_int_eq(pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    sl_log_async_stop();
    ck_assert_uint_eq(sl_log_dropped(), dropped0);

    size_t len;
    char *text = read_all(fd, &len);
    int next[THREADS] = {0};
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        /* 2026-12-06T18:16:44.842Z info  thread 1 line 7 */
        int t, i, off = 0;
        ck_assert_msg(strlen(line) > 25 && line[4] == '-' && line[10] == 'T' && line[23] == 'Z', "bad line: %s", line);
        ck_assert_msg(sscanf(line + 25, "info  thread %d line %d%n", &t, &i, &off) == 2 && line[25 + off] == 0,
                      "bad line: %s", line);
        ck_assert_int_lt(t, THREADS);
        ck_assert_int_eq(i, next[t]); /* each thread's lines in its order, none missing */
        next[t]++;
    }
    ck_assert_int_eq(lines, THREADS * LINES);
    free(text);
    close(fd);
}
END_TEST

START_TEST(sync_before_start_and_after_stop) {
    int fd = stderr_to_file();
    SL_WARN("before %d", 1);
    size_t len;
    char *text = read_all(fd, &len);
    ck_assert_ptr_nonnull(strstr(text, "warn  before 1\n")); /* there at once: no thread yet */
    free(text);
    ck_assert_int_eq(sl_log_async_start(0), 0);
    ck_assert_int_eq(sl_log_async_start(0), 0); /* idempotent */
    SL_WARN("during %d", 2);
    sl_log_async_stop();
    sl_log_async_stop(); /* idempotent */
    SL_WARN("after %d", 3);
    text = read_all(fd, &len);
    char *a = strstr(text, "before 1"), *b = strstr(text, "during 2"), *c = strstr(text, "after 3");
    ck_assert(a && b && c && a < b && b < c);
    free(text);
    close(fd);
}
END_TEST

struct drain {
    int fd;
    char *buf;
    size_t len, cap;
};

static void *drain_pipe(void *arg) {
    struct drain *d = arg;
    for (;;) {
        if (d->len == d->cap) d->buf = realloc(d->buf, d->cap = d->cap * 2 + 65536);
        ssize_t n = read(d->fd, d->buf + d->len, d->cap - d->len);
        if (n <= 0) break;
        d->len += (size_t)n;
    }
    return NULL;
}

START_TEST(full_buffer_drops_and_never_blocks) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    uint64_t dropped0 = sl_log_dropped();
    ck_assert_int_eq(sl_log_async_start(64 * 1024), 0);
    /* Nobody reads the pipe: once it and the buffer are full, the writer thread waits in
     * write(), and the callers go on. Were they to wait too, this loop would never end (and
     * the test would time out). */
    enum { N = 20000 };
    for (int i = 0; i < N; i++) SL_INFO("line %d of a stderr nobody reads", i);
    uint64_t dropped = sl_log_dropped() - dropped0;
    ck_assert_uint_gt(dropped, 0);

    struct drain d = {.fd = p[0]};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, drain_pipe, &d), 0);
    sl_log_async_stop();
    close(STDERR_FILENO); /* the pipe's last writer: the drain sees EOF */
    pthread_join(th, NULL);

    /* Every line either arrived or was counted, and the count was reported. */
    int arrived = 0;
    unsigned long long said = 0;
    d.buf = realloc(d.buf, d.len + 1);
    d.buf[d.len] = 0;
    for (char *line = strtok(d.buf, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long n;
        if (strstr(line, " of a stderr nobody reads")) arrived++;
        else if (sscanf(line + 25, "warn  %llu log line(s) dropped", &n) == 1) said += n;
        else ck_abort_msg("unexpected line: %s", line);
    }
    ck_assert_uint_eq((uint64_t)arrived + dropped, N);
    ck_assert_uint_eq(said, dropped);
    free(d.buf);
}
END_TEST

int main(void) {
    Suite *s = suite_create("base_logging");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, async_lines_whole_and_in_order);
    tcase_add_test(tc, sync_before_start_and_after_stop);
    tcase_add_test(tc, full_buffer_drops_and_never_blocks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
