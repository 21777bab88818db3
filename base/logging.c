/* logging.c: see logging.h. One fprintf per line so lines from a crash stay whole. */
#include "base/logging.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The one process-wide mutable global, on purpose: configuration set once at startup (and by
 * tests), read by every SL_* macro, which cannot be handed a context. */
enum sl_log_level sl_log_level_max = SL_LOG_INFO;
bool sl_log_json = false;

static const char *const sl_log_names[] = {"error", "warn", "info", "debug"};

int sl_log_level_parse(const char *s) {
    for (int i = 0; i < (int)(sizeof(sl_log_names) / sizeof(sl_log_names[0])); i++)
        if (strcmp(s, sl_log_names[i]) == 0) return i;
    return -1;
}

const char *sl_log_level_name(enum sl_log_level level) {
    return (unsigned)level < 4 ? sl_log_names[level] : "?";
}

void sl_log_write(enum sl_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (sl_log_json) {
        /* msg escaped as a JSON string: quotes, backslashes and control bytes. */
        char esc[2 * sizeof(msg) + 8];
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)msg; *p && n + 7 < sizeof(esc); p++) {
            if (*p == '"' || *p == '\\') {
                esc[n++] = '\\';
                esc[n++] = (char)*p;
            } else if (*p < 0x20) {
                n += (size_t)snprintf(esc + n, sizeof(esc) - n, "\\u%04x", *p);
            } else {
                esc[n++] = (char)*p;
            }
        }
        esc[n] = 0;
        fprintf(stderr, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"}\n",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                sl_log_level_name(level), esc);
        return;
    }
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, sl_log_level_name(level), msg);
}
