/* http_metrics.h: the /metrics families that belong to no protocol: the process (CPU, memory,
 * descriptors, build), the host's TCP counters, and storage (I/O latency histograms, bytes
 * written, and per-partition log size, segments and offsets). */
#ifndef SL_BROKER_HTTP_METRICS_H
#define SL_BROKER_HTTP_METRICS_H

#include <stdint.h>

struct prom;
struct store;
struct topics;

/* start_wall_ms: when the process started (process_start_time_seconds). */
void http_metrics_process(struct prom *p, uint64_t start_wall_ms, const char *version);
/* RetransSegs and OutSegs from /proc/net/snmp, as counters: rate() of one over the other is
 * the retransmit ratio. */
void http_metrics_tcp(struct prom *p);
void http_metrics_storage(struct prom *p, struct store *st);
/* Bytes and records appended and bytes fetched per topic (summed over its partitions). */
void http_metrics_topics(struct prom *p, struct topics *t);

/* Helpers for /varz: the process's CPU seconds and resident bytes (0 when /proc is missing). */
double http_process_cpu_seconds(void);
uint64_t http_process_rss_bytes(void);

#endif
