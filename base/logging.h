/* logging.h: leveled log lines with a UTC timestamp on stderr.
 *
 * Once sl_log_async_start() has run, a line is formatted on the caller's thread and handed to
 * a writer thread, so a slow stderr (a log file on a busy file system waiting for its journal,
 * a pipe nobody drains) never stalls the event loop: measured, one line to a file on a loaded
 * ext4 blocked the loop 12 ms. A line that finds the buffer full is dropped and counted, and
 * the writer says how many when it catches up. Before start and after stop, lines are written
 * synchronously. */
#ifndef SL_LOGGING_H
#define SL_LOGGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sl_log_level { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

/* Process-wide configuration, set at startup; the only mutable global the style allows. */
extern enum sl_log_level sl_log_level_max;
/* Process-wide too: one JSON object per line ({"time","level","msg"}) instead of text. */
extern bool sl_log_json;

/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int sl_log_level_parse(const char *s);
const char *sl_log_level_name(enum sl_log_level level);

void sl_log_write(enum sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Starts the writer thread with a buffer of cap bytes (0: 1 MiB). Returns 0, or -1 with errno
 * (then lines stay synchronous). The thread blocks every signal. Idempotent. */
int sl_log_async_start(size_t cap);
/* Writes what is buffered, then stops the thread; later lines are synchronous again. Also runs
 * at exit(). */
void sl_log_async_stop(void);
/* Lines dropped because the buffer was full, since the process started. */
uint64_t sl_log_dropped(void);
/* On a fatal path only (SL_ASSERT): writes what is buffered, without the lock, so the lines
 * before a crash are not lost with it. Declared in base.h too. */
void sl_log_crash_flush(void);

#define sl_log(level, ...)                                      \
    do {                                                        \
        if ((level) <= sl_log_level_max) sl_log_write(level, __VA_ARGS__); \
    } while (0)
#define SL_ERROR(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)
#define SL_WARN(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define SL_INFO(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define SL_DEBUG(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

#endif
