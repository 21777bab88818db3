/* out.c: human tables with aligned columns, and the --json form of every listing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void table_init(struct table *t, int ncols, const char *const *header)
{
    t->ncols = ncols;
    t->nrows = 0;
    t->cap = 16;
    t->cells = calloc((size_t)(t->cap + 1) * ncols, sizeof(char *));
    if (!t->cells) abort();
    for (int i = 0; i < ncols; i++) t->cells[i] = strdup(header[i]);
}

void table_add(struct table *t, ...)
{
    if (t->nrows == t->cap) {
        t->cap *= 2;
        t->cells = realloc(t->cells, (size_t)(t->cap + 1) * t->ncols * sizeof(char *));
        if (!t->cells) abort();
    }
    va_list ap;
    va_start(ap, t);
    char **row = t->cells + (size_t)(t->nrows + 1) * t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        row[i] = strdup(s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

void table_print(const struct table *t)
{
    size_t w[32] = {0};
    for (int r = 0; r <= t->nrows; r++)
        for (int i = 0; i < t->ncols && i < 32; i++) {
            size_t n = strlen(t->cells[(size_t)r * t->ncols + i]);
            if (n > w[i]) w[i] = n;
        }
    for (int r = 0; r <= t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) {
            const char *s = t->cells[(size_t)r * t->ncols + i];
            if (i + 1 == t->ncols) printf("%s\n", s);
            else printf("%-*s  ", (int)w[i < 32 ? i : 31], s);
        }
    }
}

void table_free(struct table *t)
{
    for (int i = 0; i < (t->nrows + 1) * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
}

char *fmt_i64(int64_t v)
{
    static char ring[16][24];
    static int next;
    char *b = ring[next++ & 15];
    snprintf(b, sizeof ring[0], "%lld", (long long)v);
    return b;
}

void json_print(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(j);
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (p[0] < 0x80) return 1;
    if ((p[0] & 0xe0) == 0xc0) { len = 2; cp = p[0] & 0x1f; min = 0x80; }
    else if ((p[0] & 0xf0) == 0xe0) { len = 3; cp = p[0] & 0x0f; min = 0x800; }
    else if ((p[0] & 0xf8) == 0xf0) { len = 4; cp = p[0] & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

json_t *json_bytes(const void *p, size_t n)
{
    if (!p) return json_null();
    json_t *j = json_stringn(p, n);
    if (j) return j;
    /* Not UTF-8: keep what is valid, mark the rest. */
    const unsigned char *s = p;
    char *buf = malloc(n * 3 + 1);
    if (!buf) abort();
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (l) { memcpy(buf + o, s + i, l); o += l; i += l; }
        else { memcpy(buf + o, "\xef\xbf\xbd", 3); o += 3; i++; }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j ? j : json_null();
}
