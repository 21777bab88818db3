/* txn_markers.h: transaction markers between brokers (Kafka's WriteTxnMarkers, key 27).
 *
 * In a cluster a transaction's partitions may be led by other brokers than its coordinator.
 * The coordinator writes the commit or abort marker of a partition it leads itself through
 * partition_append_marker; for any other it sends WriteTxnMarkers to the partition's leader
 * (txn_markers_send), which appends the marker through the same write path and answers once
 * it is committed there (acks=all: its in-sync replicas have it). A failed send (the leader
 * moved, the broker is down) fails that partition's marker, and the coordinator tries the
 * whole step again later (txn_coordinator.h), as Kafka's marker channel retries; a marker
 * written twice is harmless (partition.h).
 *
 * The sends are blocking exchanges on worker threads (broker/net/peer.h), one request per
 * marker: a transaction touches few partitions, and a connection per send keeps no state to go
 * stale when leaders move. Like replica fetches, they are plaintext Kafka without SASL. */
#ifndef SL_BROKER_KAFKA_TXN_MARKERS_H
#define SL_BROKER_KAFKA_TXN_MARKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"

struct kafka_server;
struct kconn;
struct kreq;
struct kr;
struct partition_append_done;

/* Sends the marker to broker `leader` (a registered broker of the cluster view); done fires
 * on the loop with SL_OK once that broker answered it committed, else with the error. An error
 * returned: nothing was sent and done never fires. */
sl_err txn_markers_send(struct kafka_server *ks, uint32_t leader, const char *topic, int32_t partition,
                        int64_t producer_id, int16_t epoch, int32_t coordinator_epoch, bool commit,
                        struct partition_append_done *done);
/* Waits for the sends under way (their done fire), then stops the senders. */
void txn_markers_stop(struct kafka_server *ks);

/* The WriteTxnMarkers handler: needs CLUSTER_ACTION on the cluster (another broker). */
sl_err kafka_handle_write_txn_markers(struct kconn *kc, struct kreq *q, struct kr *r);

#endif
