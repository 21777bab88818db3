/* logging.h: leveled log lines with a UTC timestamp on stderr. */
#ifndef SL_LOGGING_H
#define SL_LOGGING_H

#include <stdbool.h>

enum sl_log_level { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

/* Process-wide configuration, set at startup; the only mutable global the style allows. */
extern enum sl_log_level sl_log_level_max;
/* Process-wide too: one JSON object per line ({"time","level","msg"}) instead of text. */
extern bool sl_log_json;

/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int sl_log_level_parse(const char *s);
const char *sl_log_level_name(enum sl_log_level level);

void sl_log_write(enum sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sl_log(level, ...)                                      \
    do {                                                        \
        if ((level) <= sl_log_level_max) sl_log_write(level, __VA_ARGS__); \
    } while (0)
#define SL_ERROR(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)
#define SL_WARN(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define SL_INFO(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define SL_DEBUG(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

#endif
