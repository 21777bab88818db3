/* prom.h: latency histograms and the Prometheus text exposition format (0.0.4).
 *
 * A struct sl_hist is a fixed set of cumulative-on-output buckets in microseconds, bumped where
 * the event happens (one array increment, no allocation), so a scrape only reads. The bounds
 * are the same for every histogram: 25 µs to 10 s, roughly 1-2.5-5 per decade, which covers a
 * page-cache write, an fdatasync on SSD or virtio, and a stalled disk.
 *
 * struct prom builds one scrape's text in a growable buffer it owns: a family's HELP and TYPE
 * lines once (prom_family), then its samples. Label sets are built with prom_labels, which
 * escapes values as the format requires (backslash, double quote, newline). */
#ifndef SL_BASE_PROM_H
#define SL_BASE_PROM_H

#include <stddef.h>
#include <stdint.h>

#define SL_HIST_BUCKETS 18

struct sl_hist {
    uint64_t bucket[SL_HIST_BUCKETS]; /* bucket[i]: observations <= sl_hist_bounds_us[i], not cumulative */
    uint64_t over;                    /* above the last bound (+Inf only) */
    uint64_t count;
    uint64_t sum_us;
};

extern const uint64_t sl_hist_bounds_us[SL_HIST_BUCKETS];

void sl_hist_observe(struct sl_hist *h, uint64_t us);

struct prom {
    char *buf;
    size_t len, cap;
};

void prom_init(struct prom *p);
void prom_free(struct prom *p);
/* The "# HELP" and "# TYPE" lines of a family; type is counter, gauge or histogram. */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);
/* One sample: name{labels} value. labels: from prom_labels, or NULL/"" for none. */
void prom_u64(struct prom *p, const char *name, const char *labels, uint64_t v);
void prom_double(struct prom *p, const char *name, const char *labels, double v);
/* A histogram's _bucket (cumulative, with le in seconds), _sum (seconds) and _count samples. */
void prom_hist(struct prom *p, const char *name, const char *labels, const struct sl_hist *h);
/* Writes k1="v1",k2="v2"... (NULL-terminated key/value pairs) into out, escaped; truncates
 * safely at cap. Returns out. */
char *prom_labels(char *out, size_t cap, ...);

#endif
