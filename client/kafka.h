/* kafka.h: what the Kafka subcommands share: a librdkafka handle made from the global flags,
 * the mapping of librdkafka errors to exit codes, waiting for Admin API results, and metadata. */
#ifndef SLUICE_CLIENT_KAFKA_H
#define SLUICE_CLIENT_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "cli.h"

struct kafka {
    rd_kafka_t *rk;
    const struct cli *cli;
    char last_error[512]; /* the last error librdkafka reported through error_cb */
    bool all_brokers_down;
};

/* Opens a handle of the type (producer or consumer) with conf (taken; NULL for a new one).
 * Returns an exit code; on EXIT_OK k->rk is set. */
int kafka_open(struct kafka *k, const struct cli *c, rd_kafka_type_t type, rd_kafka_conf_t *conf);
/* Closes the handle (leaving a group first) within a bounded time; returns rc. */
int kafka_close(struct kafka *k, int rc);
/* Sets a config key, or fails with EXIT_USAGE naming it. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value);

/* The exit code of a librdkafka error: not found, unreachable/timeout, or server error. */
int kafka_exit_code(rd_kafka_resp_err_t err);
/* Prints "sluice: what: reason" (the reason says when no broker could be reached) and returns
 * the exit code of err. */
int kcli_fail(struct kafka *k, rd_kafka_resp_err_t err, const char *what, const char *detail);

/* Admin API plumbing: options with the global timeout, and the result event (NULL on timeout:
 * the caller reports unreachable). */
rd_kafka_AdminOptions_t *kafka_admin_options(struct kafka *k, rd_kafka_admin_op_t op);
rd_kafka_event_t *kafka_admin_wait(struct kafka *k, rd_kafka_queue_t *q);

/* Metadata of every topic. Returns an exit code; *md is set on EXIT_OK. */
int kafka_metadata(struct kafka *k, const struct rd_kafka_metadata **md);
/* The topic in md, or NULL. */
const struct rd_kafka_metadata_topic *kafka_md_topic(const struct rd_kafka_metadata *md,
                                                     const char *topic);
/* The partitions' low and high watermarks. Returns an exit code. */
int kafka_watermarks(struct kafka *k, const char *topic, int32_t partition, int64_t *low,
                     int64_t *high);

#endif
