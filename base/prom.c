/* prom.c: histograms and the Prometheus text writer (see prom.h). */
#include "base/prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

const uint64_t sl_hist_bounds_us[SL_HIST_BUCKETS] = {
    25,     50,     100,     250,     500,     1000,    2500,    5000,     10000,
    25000,  50000,  100000,  250000,  500000,  1000000, 2500000, 5000000, 10000000,
};

void sl_hist_observe(struct sl_hist *h, uint64_t us) {
    uint32_t lo = 0, hi = SL_HIST_BUCKETS; /* first bound >= us */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (sl_hist_bounds_us[mid] < us) lo = mid + 1;
        else hi = mid;
    }
    if (lo == SL_HIST_BUCKETS) h->over++;
    else h->bucket[lo]++;
    h->count++;
    h->sum_us += us;
}

void prom_init(struct prom *p) { memset(p, 0, sizeof(*p)); }

void prom_free(struct prom *p) {
    free(p->buf);
    memset(p, 0, sizeof(*p));
}

static void prom_printf(struct prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prom_printf(struct prom *p, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = p->cap - p->len;
        int n = vsnprintf(p->buf ? p->buf + p->len : NULL, room, fmt, ap);
        va_end(ap);
        SL_ASSERT(n >= 0);
        if ((size_t)n < room) {
            p->len += (size_t)n;
            return;
        }
        p->cap = SL_MAX(p->cap * 2, p->len + (size_t)n + 4096);
        p->buf = sl_xrealloc(p->buf, p->cap);
    }
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help) {
    prom_printf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_reserve(struct prom *p, size_t n) {
    if (p->len + n <= p->cap) return;
    p->cap = SL_MAX(p->cap * 2, p->len + n + 4096);
    p->buf = sl_xrealloc(p->buf, p->cap);
}

static void prom_put(struct prom *p, const char *s, size_t n) {
    memcpy(p->buf + p->len, s, n);
    p->len += n;
}

/* The most frequent line of a scrape (one per partition per family): formatted by hand, since
 * vsnprintf dominated a scrape of 10,000 partitions. */
void prom_u64(struct prom *p, const char *name, const char *labels, uint64_t v) {
    size_t nl = strlen(name), ll = labels ? strlen(labels) : 0;
    prom_reserve(p, nl + ll + 2 + 1 + 20 + 2);
    prom_put(p, name, nl);
    if (ll) {
        p->buf[p->len++] = '{';
        prom_put(p, labels, ll);
        p->buf[p->len++] = '}';
    }
    p->buf[p->len++] = ' ';
    char d[20];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) p->buf[p->len++] = d[--n];
    p->buf[p->len++] = '\n';
    p->buf[p->len] = 0;
}

void prom_double(struct prom *p, const char *name, const char *labels, double v) {
    if (labels && *labels) prom_printf(p, "%s{%s} %.9g\n", name, labels, v);
    else prom_printf(p, "%s %.9g\n", name, v);
}

void prom_hist(struct prom *p, const char *name, const char *labels, const struct sl_hist *h) {
    const char *sep = labels && *labels ? "," : "";
    const char *l = labels ? labels : "";
    uint64_t cum = 0;
    for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++) {
        cum += h->bucket[i];
        prom_printf(p, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, l, sep, (double)sl_hist_bounds_us[i] / 1e6,
                    (unsigned long long)cum);
    }
    prom_printf(p, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep, (unsigned long long)h->count);
    if (*l) {
        prom_printf(p, "%s_sum{%s} %.9g\n", name, l, (double)h->sum_us / 1e6);
        prom_printf(p, "%s_count{%s} %llu\n", name, l, (unsigned long long)h->count);
    } else {
        prom_printf(p, "%s_sum %.9g\n", name, (double)h->sum_us / 1e6);
        prom_printf(p, "%s_count %llu\n", name, (unsigned long long)h->count);
    }
}

char *prom_labels(char *out, size_t cap, ...) {
    SL_ASSERT(cap > 0);
    size_t n = 0;
    va_list ap;
    va_start(ap, cap);
    const char *k;
    bool first = true;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!v) v = "";
        /* key="value": the worst case of one value char is two bytes; stop before overflowing. */
        size_t kl = strlen(k);
        if (n + kl + 5 >= cap) break;
        if (!first) out[n++] = ',';
        memcpy(out + n, k, kl);
        n += kl;
        out[n++] = '=';
        out[n++] = '"';
        first = false;
        for (; *v && n + 4 < cap; v++) {
            if (*v == '\\' || *v == '"') {
                out[n++] = '\\';
                out[n++] = *v;
            } else if (*v == '\n') {
                out[n++] = '\\';
                out[n++] = 'n';
            } else {
                out[n++] = *v;
            }
        }
        out[n++] = '"';
    }
    va_end(ap);
    out[n < cap ? n : cap - 1] = 0;
    return out;
}
