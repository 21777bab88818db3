/* base.c: allocation wrappers that stop the process on exhaustion (see base.h). */
#include "base/base.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static void sl_oom(size_t n) {
    fprintf(stderr, "out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) sl_oom(n);
    return p;
}

void *sl_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) sl_oom(n * size);
    return p;
}

void *sl_xcalloc_aligned(size_t align, size_t size) {
    size_t n = (size + align - 1) / align * align; /* aligned_alloc wants a multiple */
    void *p = aligned_alloc(align, n ? n : align);
    if (!p) sl_oom(n);
    memset(p, 0, n);
    return p;
}

void *sl_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) sl_oom(n);
    return q;
}

static void sl_tmp_path(char *out, size_t cap, const char *path) {
    int n = snprintf(out, cap, "%s.tmp", path);
    SL_ASSERT(n > 0 && (size_t)n < cap);
}

FILE *sl_file_begin(const char *path) {
    char tmp[4400];
    sl_tmp_path(tmp, sizeof(tmp), path);
    return fopen(tmp, "w");
}

bool sl_file_commit(FILE *f, const char *path, bool sync) {
    char tmp[4400];
    sl_tmp_path(tmp, sizeof(tmp), path);
    bool ok = fflush(f) == 0 && !ferror(f) && (!sync || fsync(fileno(f)) == 0);
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0) return true;
    unlink(tmp);
    return false;
}

void sl_hex_encode(const uint8_t *p, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int sl_hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool sl_hex_decode(const char *s, size_t len, uint8_t *out) {
    if (len % 2) return false;
    for (size_t i = 0; i < len; i += 2) {
        int hi = sl_hex_digit(s[i]), lo = sl_hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Two digits per division: the ack subjects of a JetStream delivery carry five numbers, one of
 * them a 19-digit timestamp. */
size_t sl_fmt_u64(char *out, uint64_t v) {
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    char tmp[20];
    char *p = tmp + sizeof(tmp);
    while (v >= 100) {
        uint64_t r = v % 100;
        v /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    return n;
}

void sl_rfc3339_ms(char *out, size_t cap, uint64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03uZ", (unsigned)(ms % 1000));
}
