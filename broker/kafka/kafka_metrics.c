/* kafka_metrics.c: the Kafka wing's part of /metrics: requests and their latency per API,
 * connections, transactions, and consumer lag per group, topic and partition (the high watermark minus the
 * committed offset, offsets_lag: the number kafka-consumer-groups --describe shows). */
#include <stdio.h>
#include <string.h>

#include "base/prom.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/txn_coordinator.h"
#include "broker/kafka/group_offsets.h"
#include "broker/kafka/placed_state.h"
#include "storage/offsets.h"

struct lag_walk {
    struct kafka_server *ks;
    struct prom *p;
    struct offsets *o; /* the map being walked (group_offsets_each) */
    const char *group;
    bool committed; /* the committed-offset pass, else the lag pass */
};

static void lag_partition(void *arg, const char *topic, int32_t partition, const struct offset_value *v) {
    struct lag_walk *w = arg;
    char part[16], labels[768];
    snprintf(part, sizeof(part), "%d", partition);
    prom_labels(labels, sizeof(labels), "group", w->group, "topic", topic, "partition", part, NULL);
    if (w->committed) {
        prom_u64(w->p, "sluice_kafka_consumer_group_committed_offset", labels, v->offset < 0 ? 0 : (uint64_t)v->offset);
        return;
    }
    struct topic *tp = topics_get(w->ks->topics, topic, (int32_t)strlen(topic));
    struct partition *pp = tp ? topic_partition(tp, partition) : NULL;
    /* In a cluster only the partition's leader knows its high watermark. */
    if (!pp || !kafka_leads(w->ks, tp, partition)) return;
    int64_t lag = offsets_lag(w->o, w->group, topic, partition, partition_log(pp));
    if (lag >= 0) prom_u64(w->p, "sluice_kafka_consumer_group_lag_messages", labels, (uint64_t)lag);
}

static void lag_group(void *arg, const char *group) {
    struct lag_walk *w = arg;
    w->group = group;
    offsets_for_group(w->o, group, lag_partition, w);
}

static void lag_map(void *arg, struct offsets *o) {
    struct lag_walk *w = arg;
    w->o = o;
    offsets_groups(o, lag_group, w);
}

/* Transactions as the coordinator completed them, and those open now (Ongoing, or deciding:
 * markers being written). */
struct txn_sum {
    struct txn_stats st;
    uint64_t open, ids;
};

static void txn_sum_one(void *arg, struct txn_coordinator *tc) {
    struct txn_sum *sum = arg;
    const struct txn_stats *st = txn_coordinator_stats(tc);
    const struct txn_coord *sm = txn_coordinator_state(tc);
    sum->st.committed += st->committed;
    sum->st.aborted += st->aborted;
    sum->st.timed_out += st->timed_out;
    sum->ids += txn_count(sm);
    for (uint32_t i = 0; i < txn_count(sm); i++) {
        enum txn_state s = txn_at(sm, i)->state;
        sum->open += s == TXN_ONGOING || s == TXN_PREPARE_COMMIT || s == TXN_PREPARE_ABORT;
    }
}

/* Over every coordinator this broker holds (in a cluster: the transaction state partitions it
 * leads now; their counts start again where a partition was loaded). */
static void txn_metrics(struct kafka_server *ks, struct prom *p) {
    struct txn_sum sum = {0};
    kafka_txns_each(ks, txn_sum_one, &sum);
    const struct txn_stats *st = &sum.st;
    uint64_t open = sum.open;
    prom_family(p, "sluice_txn_committed_total", "counter", "Kafka transactions committed (markers durable).");
    prom_u64(p, "sluice_txn_committed_total", NULL, st->committed);
    prom_family(p, "sluice_txn_aborted_total", "counter",
                "Kafka transactions aborted (markers durable), by the producer, a new producer of the id or the timeout.");
    prom_u64(p, "sluice_txn_aborted_total", NULL, st->aborted);
    prom_family(p, "sluice_txn_timed_out_total", "counter",
                "Kafka transactions the coordinator aborted because they outlived their transaction timeout.");
    prom_u64(p, "sluice_txn_timed_out_total", NULL, st->timed_out);
    prom_family(p, "sluice_txn_ongoing", "gauge", "Kafka transactions open now (begun, not yet completed).");
    prom_u64(p, "sluice_txn_ongoing", NULL, open);
    prom_family(p, "sluice_txn_transactional_ids", "gauge", "Transactional ids the coordinator keeps.");
    prom_u64(p, "sluice_txn_transactional_ids", NULL, sum.ids);
}

void kafka_server_metrics(struct kafka_server *ks, struct prom *p) {
    char labels[128];
    kafka_sasl_metrics(ks, p);
    kafka_quota_metrics(ks, p);
    prom_family(p, "sluice_kafka_requests_total", "counter", "Kafka requests answered, by API.");
    for (uint32_t k = 0; k <= KAFKA_API_KEY_MAX; k++) {
        const struct kafka_api_info *ai = kafka_api_info((int16_t)k);
        if (!ai || !ks->api_requests[k]) continue;
        prom_u64(p, "sluice_kafka_requests_total", prom_labels(labels, sizeof(labels), "api", ai->name, NULL),
                 ks->api_requests[k]);
    }
    prom_family(p, "sluice_kafka_requests_offloaded_total", "counter",
                "Kafka requests too large to decode on the event loop, decoded on a worker thread.");
    prom_u64(p, "sluice_kafka_requests_offloaded_total", NULL, ks->requests_offloaded);
    prom_family(p, "sluice_kafka_request_duration_seconds", "histogram",
                "Time from reading a Kafka request to queueing its response, by API.");
    for (uint32_t k = 0; k <= KAFKA_API_KEY_MAX; k++) {
        const struct kafka_api_info *ai = kafka_api_info((int16_t)k);
        if (!ai || !ks->api_latency[k].count) continue;
        prom_hist(p, "sluice_kafka_request_duration_seconds", prom_labels(labels, sizeof(labels), "api", ai->name, NULL),
                  &ks->api_latency[k]);
    }
    prom_family(p, "sluice_kafka_errors_total", "counter",
                "Error codes sent in Kafka responses, by API and code: each topic, partition or "
                "request result with a non-zero code counts once.");
    for (uint32_t k = 0; k <= KAFKA_API_KEY_MAX; k++) {
        const struct kafka_api_info *ai = kafka_api_info((int16_t)k);
        if (!ai) continue;
        for (int i = 0; i < KW_ERR_SLOTS; i++) {
            if (!ks->api_errors[k][i]) continue;
            char code[8];
            snprintf(code, sizeof(code), "%d", i + KW_ERR_MIN);
            prom_u64(p, "sluice_kafka_errors_total", prom_labels(labels, sizeof(labels), "api", ai->name, "code", code, NULL),
                     ks->api_errors[k][i]);
        }
    }
    prom_family(p, "sluice_kafka_rebalances_total", "counter", "Consumer group rebalances completed (reached Stable).");
    prom_u64(p, "sluice_kafka_rebalances_total", NULL, ks->group_stats.rebalances);
    prom_family(p, "sluice_kafka_rebalance_duration_seconds", "histogram",
                "Time from the start of a group's rebalance to Stable.");
    prom_hist(p, "sluice_kafka_rebalance_duration_seconds", NULL, &ks->group_stats.rebalance_duration);
    prom_family(p, "sluice_kafka_connections", "gauge", "Open connections on the Kafka listener.");
    prom_u64(p, "sluice_kafka_connections", NULL, ks->ls.conn_count);
    txn_metrics(ks, p);
    placed_state_metrics(ks->txn_state, p);
    group_offsets_metrics(ks, p);
    struct lag_walk w = {ks, p, NULL, NULL, false};
    prom_family(p, "sluice_kafka_consumer_group_lag_messages", "gauge",
                "Consumer lag: the partition's high watermark minus the group's committed offset.");
    group_offsets_each(ks, lag_map, &w);
    w.committed = true;
    prom_family(p, "sluice_kafka_consumer_group_committed_offset", "gauge", "The group's committed offset.");
    group_offsets_each(ks, lag_map, &w);
}
