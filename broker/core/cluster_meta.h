/* cluster_meta.h: the cluster's identity and the producer ids it hands out, protocol-neutral,
 * kept in the metadata log (topics_metadata(), key "cluster").
 *
 * Record: a kvlog tag/length/value value, version 1: tag 1 the cluster id (22 characters of
 * URL-safe base64, as Kafka's), tag 2 the producer-id block end (i64). Every id below the
 * recorded end may have been handed out, so a start (clean or after kill -9) continues from
 * it and no id is ever reused.
 *
 * Ids come from a block whose end is already durable. When half of it is used, the next end
 * (one block further) is put in the background; it becomes usable once durable. If the block
 * runs out before that, cluster_meta_next_producer_id() waits for the put with a blocking
 * flush of the metadata log: rare (CLUSTER_META_PID_BLOCK / 2 InitProducerId requests within
 * one group commit), and correct. Opening reserves the first block with such a flush too.
 * A previous version's <data_dir>/.cluster file is imported once, then removed. */
#ifndef SL_BROKER_CLUSTER_META_H
#define SL_BROKER_CLUSTER_META_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "storage/log.h"

struct kvlog;

#define CLUSTER_META_PID_BLOCK 1000

struct cluster_meta {
    struct kvlog *kv;              /* borrowed: the metadata log */
    char cluster_id[32];
    int64_t next_producer_id;      /* the next id to hand out */
    int64_t block_end_durable;     /* ids below it may be handed out */
    int64_t block_end_pending;     /* a put of this end is in flight; 0: none */
    struct log_waiter pending_w;
};

/* Loads (or creates) the cluster record, imports <data_dir>/.cluster if there is no record,
 * and reserves the first block of producer ids durably. */
sl_err cluster_meta_open(struct cluster_meta *cm, struct kvlog *kv, const char *data_dir, uint64_t now_ms);
/* Waits for a reservation in flight (its waiter points into cm). */
void cluster_meta_close(struct cluster_meta *cm);

/* In a cluster every broker hands out producer ids (InitProducerId goes to any broker): each
 * takes its own range from (node_id mod 2^22) << 40 on, so no two brokers give out the same id. */
void cluster_meta_node_range(struct cluster_meta *cm, uint32_t node_id);
/* A cluster id from 22 bytes (6 bits of each are used): the form of every id this broker
 * makes, random at a first start or derived from a cluster's node list. */
#define CLUSTER_META_ID_BYTES 22
void cluster_meta_id_encode(const uint8_t raw[CLUSTER_META_ID_BYTES], char out[32]);
/* The cluster id clients are told (a cluster's brokers must all tell the same one). */
void cluster_meta_set_id(struct cluster_meta *cm, const char *id);
/* A producer id never handed out before, in this run or any earlier one. */
sl_err cluster_meta_next_producer_id(struct cluster_meta *cm, uint64_t now_ms, int64_t *out);

#endif
