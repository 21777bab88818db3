/* base.h: the few definitions every layer shares. Includes nothing of ours, so storage/ and
 * protocol/ may use it without depending on the broker. */
#ifndef SL_BASE_H
#define SL_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* logging.c: writes the log lines still buffered for the writer thread (fatal paths only). */
void sl_log_crash_flush(void);

/* Asserts guard programmer errors and stay on in release builds: a broken invariant in a
 * log must stop the process before it writes wrong bytes, not after. The log lines buffered
 * before it go out first, so the context of the failure is not lost with the process. */
#define SL_ASSERT(cond)                                                                     \
    do {                                                                                    \
        if (__builtin_expect(!(cond), 0)) {                                                 \
            sl_log_crash_flush();                                                           \
            fprintf(stderr, "assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);   \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))

#define sl_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* A borrowed byte range: never freed by whoever holds it. */
struct span {
    const uint8_t *p;
    uint32_t len;
};

/* Equal strings, NULL counting as "" (optional config strings: unset and empty mean the same). */
static inline bool sl_streq_opt(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static inline uint16_t sl_load_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t sl_load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t sl_load_be64(const uint8_t *p) {
    return ((uint64_t)sl_load_be32(p) << 32) | sl_load_be32(p + 4);
}
static inline void sl_store_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sl_store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void sl_store_be64(uint8_t *p, uint64_t v) {
    sl_store_be32(p, (uint32_t)(v >> 32));
    sl_store_be32(p + 4, (uint32_t)v);
}

/* Writes v in decimal at out (no terminator; at most 20 bytes) and returns the length. The hot
 * paths that build subjects and protocol lines use it instead of snprintf, whose format parsing
 * cost 15 % of the broker's CPU in a JetStream pull consume (one ack subject per message). */
size_t sl_fmt_u64(char *out, uint64_t v);

/* n bytes as lowercase hex at out (2n characters and a NUL). */
void sl_hex_encode(const uint8_t *p, size_t n, char *out);
/* len hex digits (lowercase, as sl_hex_encode writes them) into len / 2 bytes at out; false if
 * len is odd or a character is not one. */
bool sl_hex_decode(const char *s, size_t len, uint8_t *out);

/* Replacing a small file so a crash leaves the old or the new version, never half of one:
 * sl_file_begin opens "<path>.tmp" for writing (NULL on failure); sl_file_commit flushes it,
 * fsyncs it if sync, closes it and renames it over path (false and the temporary file gone on
 * any failure). The directory is not synced: a lost rename leaves the old version. */
FILE *sl_file_begin(const char *path);
bool sl_file_commit(FILE *f, const char *path, bool sync);
/* A wall-clock time in ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-12-04T16:41:56.453Z", as Go's time.Time marshals); cap >= 32. */
void sl_rfc3339_ms(char *out, size_t cap, uint64_t ms);

/* Allocation failure is not recoverable in a broker that sized its limits at startup. */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t size);
void *sl_xrealloc(void *p, size_t n);
/* Zeroed memory aligned to align (a power of two), for structs with _Alignas members; free()d. */
void *sl_xcalloc_aligned(size_t align, size_t size);

#endif
