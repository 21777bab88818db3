/* subject.c: token-wise NATS subject matching (see subject.h). Walks both strings once, one
 * token at a time, without splitting or copying. */
#include "broker/core/subject.h"

#include <string.h>

/* The token starting at *p: its length; *p moves past it and its '.', *more says whether a
 * token follows. */
static size_t token_next(const char **p, bool *more) {
    const char *s = *p;
    const char *dot = strchr(s, '.');
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    *more = dot != NULL;
    *p = dot ? dot + 1 : s + n;
    return n;
}

static bool token_is(const char *t, size_t n, char c) { return n == 1 && t[0] == c; }

bool subject_matches(const char *filter, const char *subject) {
    const char *f = filter, *s = subject;
    bool fmore = true, smore = true;
    while (fmore) {
        const char *ft = f;
        size_t fn = token_next(&f, &fmore);
        if (!smore) return false; /* the filter has more tokens than the subject */
        const char *st = s;
        size_t sn = token_next(&s, &smore);
        if (token_is(ft, fn, '>') && !fmore) return true; /* one or more tokens: this one at least */
        if (token_is(ft, fn, '*')) continue;
        if (fn != sn || memcmp(ft, st, fn) != 0) return false;
    }
    return !smore;
}

bool subject_is_subset(const char *sub, const char *of) {
    const char *a = sub, *b = of;
    bool amore = true, bmore = true;
    while (bmore) {
        const char *bt = b;
        size_t bn = token_next(&b, &bmore);
        if (!amore) return false;
        const char *at = a;
        size_t an = token_next(&a, &amore);
        if (token_is(bt, bn, '>') && !bmore) return true;
        if (token_is(at, an, '>')) return false; /* sub covers more tokens than one */
        if (token_is(bt, bn, '*')) continue;     /* any single token of sub, '*' included */
        if (token_is(at, an, '*')) return false; /* sub's any-token is wider than a literal */
        if (an != bn || memcmp(at, bt, an) != 0) return false;
    }
    return !amore;
}

bool subject_has_wildcard(const char *s) {
    const char *p = s;
    bool more = true;
    while (more) {
        const char *t = p;
        size_t n = token_next(&p, &more);
        if (token_is(t, n, '*') || token_is(t, n, '>')) return true;
    }
    return false;
}

bool subject_valid(const char *s) {
    if (!s || !*s) return false;
    const char *p = s;
    bool more = true;
    while (more) {
        const char *t = p;
        size_t n = token_next(&p, &more);
        if (n == 0) return false;
        for (size_t i = 0; i < n; i++)
            if (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n') return false;
        if (token_is(t, n, '>') && more) return false;
    }
    return true;
}
