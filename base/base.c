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

void sl_rfc3339_ms(char *out, size_t cap, uint64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03uZ", (unsigned)(ms % 1000));
}
