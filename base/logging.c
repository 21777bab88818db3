/* logging.c: see logging.h. A line is formatted whole and written with one write, so lines
 * from different threads never interleave. */
#include "base/logging.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one process-wide mutable global, on purpose: configuration set once at startup (and by
 * tests), read by every SL_* macro, which cannot be handed a context. */
enum sl_log_level sl_log_level_max = SL_LOG_INFO;
bool sl_log_json = false;

#define SL_LOG_MSG_MAX 1024
/* A JSON line escapes every byte of the message to at most 6 bytes. */
#define SL_LOG_LINE_MAX (6 * SL_LOG_MSG_MAX + 128)
#define SL_LOG_ASYNC_DEFAULT ((size_t)1 << 20)

/* The writer thread's state. Process-wide for the same reason as the level: every SL_* macro
 * reaches it without a context. Callers append whole lines to fill under mu; the thread swaps
 * fill with spare and writes spare outside the lock, so a caller waits only for a memcpy. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    char *fill;
    size_t fill_len;
    char *spare;
    size_t cap;
    bool running;  /* the thread exists: lines go through fill */
    bool stopping; /* the thread leaves once fill is empty */
    bool atexit_set;
    uint64_t dropped;      /* lines that found fill full, since the start of the process */
    uint64_t dropped_said; /* of those, how many a "dropped" line has reported */
} lw = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static const char *const sl_log_names[] = {"error", "warn", "info", "debug"};

int sl_log_level_parse(const char *s) {
    for (int i = 0; i < (int)(sizeof(sl_log_names) / sizeof(sl_log_names[0])); i++)
        if (strcmp(s, sl_log_names[i]) == 0) return i;
    return -1;
}

const char *sl_log_level_name(enum sl_log_level level) {
    return (unsigned)level < 4 ? sl_log_names[level] : "?";
}

/* Best effort: a log that cannot be written is not a reason to stop, nor to spin. */
static void sl_log_write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* One line with its newline, timestamped now; returns its length (< cap). */
static size_t sl_log_format(char *out, size_t cap, enum sl_log_level level, const char *msg) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n;
    if (sl_log_json) {
        /* msg escaped as a JSON string: quotes, backslashes and control bytes. */
        char esc[6 * SL_LOG_MSG_MAX + 8];
        size_t e = 0;
        for (const unsigned char *p = (const unsigned char *)msg; *p && e + 7 < sizeof(esc); p++) {
            if (*p == '"' || *p == '\\') {
                esc[e++] = '\\';
                esc[e++] = (char)*p;
            } else if (*p < 0x20) {
                e += (size_t)snprintf(esc + e, sizeof(esc) - e, "\\u%04x", *p);
            } else {
                esc[e++] = (char)*p;
            }
        }
        esc[e] = 0;
        n = snprintf(out, cap, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, sl_log_level_name(level), esc);
    } else {
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, sl_log_level_name(level),
                     msg);
    }
    if (n < 0) return 0;
    if ((size_t)n >= cap) { /* cut, but still one line */
        out[cap - 2] = '\n';
        return cap - 1;
    }
    return (size_t)n;
}

void sl_log_write(enum sl_log_level level, const char *fmt, ...) {
    char msg[SL_LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char line[SL_LOG_LINE_MAX];
    size_t n = sl_log_format(line, sizeof(line), level, msg);

    pthread_mutex_lock(&lw.mu);
    if (lw.running) {
        if (lw.fill_len + n <= lw.cap) {
            memcpy(lw.fill + lw.fill_len, line, n);
            if (lw.fill_len == 0) pthread_cond_signal(&lw.cv);
            lw.fill_len += n;
        } else {
            lw.dropped++;
        }
        pthread_mutex_unlock(&lw.mu);
        return;
    }
    pthread_mutex_unlock(&lw.mu);
    sl_log_write_all(line, n);
}

static void sl_log_say_dropped(uint64_t dropped) {
    if (!dropped) return;
    char msg[160], line[512];
    snprintf(msg, sizeof(msg), "%llu log line(s) dropped: stderr was slower than the lines came",
             (unsigned long long)dropped);
    sl_log_write_all(line, sl_log_format(line, sizeof(line), SL_LOG_WARN, msg));
}

static void *sl_log_writer(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lw.mu);
    for (;;) {
        while (lw.fill_len == 0 && !lw.stopping) pthread_cond_wait(&lw.cv, &lw.mu);
        if (lw.fill_len == 0) break; /* stopping, and nothing left */
        char *out = lw.fill;
        size_t n = lw.fill_len;
        lw.fill = lw.spare;
        lw.fill_len = 0;
        lw.spare = out;
        uint64_t dropped = lw.dropped - lw.dropped_said;
        lw.dropped_said = lw.dropped;
        pthread_mutex_unlock(&lw.mu);
        sl_log_write_all(out, n);
        /* After the lines written before the drops, as the drops came after them. */
        sl_log_say_dropped(dropped);
        pthread_mutex_lock(&lw.mu);
    }
    pthread_mutex_unlock(&lw.mu);
    return NULL;
}

int sl_log_async_start(size_t cap) {
    if (cap == 0) cap = SL_LOG_ASYNC_DEFAULT;
    if (cap < SL_LOG_LINE_MAX) cap = SL_LOG_LINE_MAX;
    pthread_mutex_lock(&lw.mu);
    if (lw.running) {
        pthread_mutex_unlock(&lw.mu);
        return 0;
    }
    char *a = malloc(cap), *b = malloc(cap);
    int e = a && b ? 0 : ENOMEM;
    if (!e) {
        /* Every signal blocked: the broker takes its signals on the loop (signalfd), and a
         * thread that left them open would receive SIGTERM's default action instead. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        e = pthread_create(&lw.thread, NULL, sl_log_writer, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (e) {
        free(a);
        free(b);
        pthread_mutex_unlock(&lw.mu);
        errno = e;
        return -1;
    }
    pthread_setname_np(lw.thread, "sl-log");
    lw.fill = a;
    lw.spare = b;
    lw.fill_len = 0;
    lw.cap = cap;
    lw.running = true;
    lw.stopping = false;
    bool first = !lw.atexit_set;
    lw.atexit_set = true;
    pthread_mutex_unlock(&lw.mu);
    if (first) atexit(sl_log_async_stop);
    return 0;
}

void sl_log_async_stop(void) {
    pthread_mutex_lock(&lw.mu);
    if (!lw.running || lw.stopping) {
        pthread_mutex_unlock(&lw.mu);
        return;
    }
    lw.stopping = true;
    pthread_cond_signal(&lw.cv);
    pthread_mutex_unlock(&lw.mu);
    pthread_join(lw.thread, NULL);
    pthread_mutex_lock(&lw.mu);
    /* Lines that came after the thread found fill empty and left. */
    sl_log_write_all(lw.fill, lw.fill_len);
    sl_log_say_dropped(lw.dropped - lw.dropped_said);
    lw.dropped_said = lw.dropped;
    free(lw.fill);
    free(lw.spare);
    lw.fill = lw.spare = NULL;
    lw.fill_len = 0;
    lw.running = false;
    lw.stopping = false;
    pthread_mutex_unlock(&lw.mu);
}

uint64_t sl_log_dropped(void) {
    pthread_mutex_lock(&lw.mu);
    uint64_t d = lw.dropped;
    pthread_mutex_unlock(&lw.mu);
    return d;
}

void sl_log_crash_flush(void) {
    /* The failing thread may hold the lock (an assert inside a caller of sl_log_write never
     * does, but a crash path must not hang on it): write what is there either way. */
    bool locked = pthread_mutex_trylock(&lw.mu) == 0;
    if (lw.running && lw.fill_len) {
        sl_log_write_all(lw.fill, lw.fill_len);
        lw.fill_len = 0;
    }
    if (locked) pthread_mutex_unlock(&lw.mu);
}
