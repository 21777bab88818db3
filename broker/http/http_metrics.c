/* http_metrics.c: process, host TCP and storage families of /metrics (see http_metrics.h).
 * Everything is read at scrape time from counters kept where they are bumped, or from /proc:
 * a scrape costs a few file reads plus one line per partition. */
#include "broker/http/http_metrics.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/logging.h"
#include "base/prom.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "storage/log.h"
#include "storage/compact.h"
#include "storage/store.h"

double http_process_cpu_seconds(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

static uint64_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl)) {
            v = strtoull(line + kl, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

uint64_t http_process_rss_bytes(void) { return status_kb("VmRSS:") * 1024; }

static uint64_t open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0; /* not the directory's own descriptor */
}

void http_metrics_process(struct prom *p, uint64_t start_wall_ms, const char *version) {
    char labels[128];
    prom_family(p, "sluice_build_info", "gauge", "Always 1: the running version.");
    prom_u64(p, "sluice_build_info", prom_labels(labels, sizeof(labels), "version", version, NULL), 1);
    prom_family(p, "sluice_process_cpu_seconds_total", "counter", "User and system CPU time of the broker.");
    prom_double(p, "sluice_process_cpu_seconds_total", NULL, http_process_cpu_seconds());
    prom_family(p, "sluice_process_resident_memory_bytes", "gauge", "Resident set size.");
    prom_u64(p, "sluice_process_resident_memory_bytes", NULL, http_process_rss_bytes());
    prom_family(p, "sluice_process_open_fds", "gauge", "Open file descriptors.");
    prom_u64(p, "sluice_process_open_fds", NULL, open_fds());
    prom_family(p, "sluice_log_lines_dropped_total", "counter",
                "Log lines dropped because stderr was slower than they came (the log writer's buffer was full).");
    prom_u64(p, "sluice_log_lines_dropped_total", NULL, sl_log_dropped());
    prom_family(p, "sluice_process_start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
    prom_double(p, "sluice_process_start_time_seconds", NULL, (double)start_wall_ms / 1000.0);
}

void http_metrics_tcp(struct prom *p) {
    FILE *f = fopen("/proc/net/snmp", "r");
    if (!f) return;
    char names[2048], values[2048];
    uint64_t out = 0, retrans = 0;
    bool found = false;
    /* Two lines per protocol: "Tcp: Name Name..." then "Tcp: value value...". */
    while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
        if (strncmp(names, "Tcp:", 4) != 0) continue;
        char *sn, *sv;
        char *n = strtok_r(names + 4, " \n", &sn), *v = strtok_r(values + 4, " \n", &sv);
        while (n && v) {
            if (!strcmp(n, "OutSegs")) out = strtoull(v, NULL, 10);
            if (!strcmp(n, "RetransSegs")) retrans = strtoull(v, NULL, 10);
            n = strtok_r(NULL, " \n", &sn);
            v = strtok_r(NULL, " \n", &sv);
        }
        found = true;
        break;
    }
    fclose(f);
    if (!found) return;
    prom_family(p, "sluice_host_tcp_out_segments_total", "counter", "TCP segments sent by the host (OutSegs).");
    prom_u64(p, "sluice_host_tcp_out_segments_total", NULL, out);
    prom_family(p, "sluice_host_tcp_retransmitted_segments_total", "counter",
                "TCP segments retransmitted by the host (RetransSegs).");
    prom_u64(p, "sluice_host_tcp_retransmitted_segments_total", NULL, retrans);
}

void http_metrics_storage(struct prom *p, struct store *st) {
    const struct store_stats *s = store_get_stats(st);
    prom_family(p, "sluice_disk_write_duration_seconds", "histogram",
                "Segment writes, from io_uring submission to completion.");
    prom_hist(p, "sluice_disk_write_duration_seconds", NULL, &s->write_latency);
    prom_family(p, "sluice_disk_fdatasync_duration_seconds", "histogram",
                "fdatasync of segments, from io_uring submission to completion.");
    prom_hist(p, "sluice_disk_fdatasync_duration_seconds", NULL, &s->sync_latency);
    prom_family(p, "sluice_disk_written_bytes_total", "counter", "Bytes written to segment files.");
    prom_u64(p, "sluice_disk_written_bytes_total", NULL, s->bytes_written);
    prom_family(p, "sluice_disk_io_errors_total", "counter", "Failed segment writes and syncs.");
    prom_u64(p, "sluice_disk_io_errors_total", NULL, s->io_errors);
    const struct cleaner_stats *cs = cleaner_get_stats(store_cleaner(st));
    prom_family(p, "sluice_cleaner_passes_total", "counter", "Log cleaner passes that swapped cleaned segments in.");
    prom_u64(p, "sluice_cleaner_passes_total", NULL, cs->passes);
    prom_family(p, "sluice_cleaner_read_bytes_total", "counter", "Bytes of sealed segments the cleaner rewrote.");
    prom_u64(p, "sluice_cleaner_read_bytes_total", NULL, cs->bytes_read);
    prom_family(p, "sluice_cleaner_reclaimed_bytes_total", "counter", "Bytes the cleaner's rewrites freed.");
    prom_u64(p, "sluice_cleaner_reclaimed_bytes_total", NULL, cs->bytes_reclaimed);
    prom_family(p, "sluice_cleaner_removed_records_total", "counter",
                "Records the cleaner removed (older values of their keys, expired tombstones, messages a stream removed).");
    prom_u64(p, "sluice_cleaner_removed_records_total", NULL, cs->records_removed);
    prom_family(p, "sluice_cleaner_partial_passes_total", "counter",
                "Passes whose key map (cleaner_buffer_bytes) filled before the end of the dirty section.");
    prom_u64(p, "sluice_cleaner_partial_passes_total", NULL, cs->partial_passes);
    prom_family(p, "sluice_cleaner_pass_seconds_total", "counter",
                "Wall time of the cleaner's passes, from hand-over to the thread to the swap.");
    prom_double(p, "sluice_cleaner_pass_seconds_total", NULL, (double)cs->pass_us / 1e6);

    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"sluice_log_size_bytes", "gauge", "Bytes in the partition's segment files."},
        {"sluice_log_segments", "gauge", "Segment files of the partition."},
        {"sluice_log_start_offset", "gauge", "The partition's log start offset."},
        {"sluice_log_end_offset", "gauge", "The partition's high watermark (written end)."},
    };
    char labels[512], part[16];
    uint32_t n = store_log_count(st);
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        prom_family(p, fam[f].name, fam[f].type, fam[f].help);
        for (uint32_t i = 0; i < n; i++) {
            struct log *g = store_log_at(st, i);
            snprintf(part, sizeof(part), "%d", store_log_partition(g));
            prom_labels(labels, sizeof(labels), "topic", store_log_topic(g), "partition", part, NULL);
            int64_t v = f == 0 ? (int64_t)log_size_bytes(g)
                        : f == 1 ? (int64_t)log_segment_count(g)
                        : f == 2 ? log_start_offset(g)
                                 : log_written_offset(g);
            prom_u64(p, fam[f].name, labels, v < 0 ? 0 : (uint64_t)v);
        }
    }
    prom_family(p, "sluice_log_dirty_ratio", "gauge",
                "Compacted partitions: sealed bytes not yet cleaned over all sealed bytes.");
    for (uint32_t i = 0; i < n; i++) {
        struct log *g = store_log_at(st, i);
        if (!log_get_config(g)->compact) continue;
        snprintf(part, sizeof(part), "%d", store_log_partition(g));
        prom_labels(labels, sizeof(labels), "topic", store_log_topic(g), "partition", part, NULL);
        prom_double(p, "sluice_log_dirty_ratio", labels, cleaner_dirty_ratio(g));
    }
}

void http_metrics_topics(struct prom *p, struct topics *t) {
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"sluice_topic_received_bytes_total", "Record batch bytes appended to the topic, by any protocol."},
        {"sluice_topic_received_records_total", "Records appended to the topic, by any protocol."},
        {"sluice_topic_sent_bytes_total",
         "Bytes of the topic sent to readers: record batches to Kafka fetches, headers and payload to "
         "JetStream consumers."},
        {"sluice_topic_sent_records_total",
         "Records of the topic sent to readers: the offsets the batches sent to Kafka fetches cover, "
         "and JetStream deliveries (redeliveries included)."},
    };
    char labels[320];
    uint32_t n = topics_count(t);
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        prom_family(p, fam[f].name, "counter", fam[f].help);
        for (uint32_t i = 0; i < n; i++) {
            const struct topic *tp = topics_at(t, i);
            uint64_t v = 0;
            for (int32_t k = 0; k < tp->partition_count; k++) {
                const struct partition_traffic *tr = partition_get_traffic(tp->parts[k]);
                const uint64_t by_family[] = {tr->bytes_in, tr->records_in, tr->bytes_out, tr->records_out};
                v += by_family[f];
            }
            prom_u64(p, fam[f].name, prom_labels(labels, sizeof(labels), "topic", tp->name, NULL), v);
        }
    }
}
