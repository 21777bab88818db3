/* txn_coordinator.h: the Kafka wing's transaction coordinator: the state machine of
 * broker/core/txn.h, its durable log (a kvlog on the internal topic __transaction_state, one
 * record per transactional id, txn_encode's value) and the finishing of a transaction.
 *
 * Finishing a transaction in PrepareCommit or PrepareAbort runs, in this order:
 *   1. the Prepare* entry is written and waited for (durable), so a crash from here on
 *      restarts into Prepare* and finishes the same decision;
 *   2. a marker in every partition the transaction touched (the ops' write: the partition's
 *      write path, acks durable);
 *   3. each group's offsets: on commit, its pending offsets become the groups' committed
 *      offsets (offsets_commit, durable), and offsets staged in a group's log are committed or,
 *      on abort, dropped (offsets_txn_end here, or the marker to the group's coordinator);
 *   4. txn_complete, and the Complete* entry is written; the finish waiters fire once it is
 *      durable.
 * A step that fails leaves the entry in Prepare* and fires the waiters with the error; the
 * next txn_coordinator_tick tries again (the client's EndTxn retry gets CONCURRENT_TRANSACTIONS
 * meanwhile). Markers written twice are harmless (partition.h), and so are offsets committed
 * twice. At open, every restored Prepare* entry is finished again; a restored Ongoing entry
 * keeps its timeout, counted from the open.
 *
 * Time: deadlines (timeouts) are on the loop's monotonic clock, record timestamps on the wall
 * clock; both are read from the loop the coordinator was opened with. */
#ifndef SL_BROKER_KAFKA_TXN_COORDINATOR_H
#define SL_BROKER_KAFKA_TXN_COORDINATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/core/partition.h"
#include "broker/core/txn.h"
#include "protocol/errors.h"
#include "storage/log.h"

struct loop;
struct store;
struct offsets;
struct txn_coordinator;

/* How markers reach partitions. write: the marker for the producer in topic/partition, under
 * the coordinator's epoch (txn_coordinator_set_epoch), done firing once it is durable
 * (partition_append_marker's contract). SL_NO_PARTITION: the
 * partition is gone (its topic was deleted): nothing to mark there. Any other error: nothing
 * was written and done never fires. */
struct txn_marker_ops {
    sl_err (*write)(void *arg, const char *topic, int32_t partition, int64_t producer_id, int16_t epoch,
                    int32_t coordinator_epoch, bool commit, struct partition_append_done *done);
    void *arg;
    /* Optional: where the group's offsets are committed (a cluster's coordinators); NULL then:
     * not here. Without it, txn_coordinator_open's offsets. */
    struct offsets *(*offsets_of)(void *arg, const char *group);
    /* Optional: the transaction's end for a group another broker coordinates (its staged
     * offsets committed or dropped there); done as write's. */
    sl_err (*offsets_marker)(void *arg, const char *group, int64_t producer_id, int16_t epoch,
                             int32_t coordinator_epoch, bool commit, struct partition_append_done *done);
};

/* /metrics: transactions completed, by outcome, and those the timeout aborted (also counted
 * in aborted once their abort completes). */
struct txn_stats {
    uint64_t committed, aborted, timed_out;
};

/* Caller-owned; fires once when the transaction it waits on is finished (SL_OK) or a step
 * failed (the error). */
struct txn_finish_waiter {
    void (*fn)(struct txn_finish_waiter *w, sl_err err);
    struct txn_finish_waiter *next;
};

/* Opens (or creates) __transaction_state, restores every entry, and starts finishing the
 * Prepare* ones. offsets is borrowed (pending offsets are committed there). */
sl_err txn_coordinator_open(struct txn_coordinator **out, struct loop *l, struct store *st, struct offsets *offsets,
                            const struct txn_marker_ops *ops, uint32_t txns_max, int32_t timeout_ms_max);
/* The same over a log the caller keeps, written through sink: a partition of a cluster's
 * replicated transaction state (placed_state.h), whose writes complete once its in-sync
 * replicas have them. The offsets of transactions come through ops->offsets_of. */
struct kvlog_sink;
sl_err txn_coordinator_open_log(struct txn_coordinator **out, struct loop *l, struct log *g,
                                const struct kvlog_sink *sink, const struct txn_marker_ops *ops, uint32_t txns_max,
                                int32_t timeout_ms_max);
/* The coordinator's epoch, which its markers carry (0 unless set): in a cluster the leader
 * epoch of the transaction state partition it was loaded from, so a partition refuses the
 * markers of a coordinator deposed since (TRANSACTION_COORDINATOR_FENCED), as in Kafka. */
void txn_coordinator_set_epoch(struct txn_coordinator *tc, int32_t epoch);
/* No transaction being finished and no entry being written. */
bool txn_coordinator_idle(const struct txn_coordinator *tc);
/* Waits (bounded, 5 s) for transactions being finished, then closes the log. */
void txn_coordinator_close(struct txn_coordinator *tc);

/* The state machine, for the handlers' transitions. After one that changes an entry, the
 * handler calls txn_coordinator_persist (or _finish for Prepare*) before answering. */
struct txn_coord *txn_coordinator_state(struct txn_coordinator *tc);
const struct txn_stats *txn_coordinator_stats(const struct txn_coordinator *tc);

/* Writes the id's entry as it is now; w (may be NULL) fires once it is durable. */
sl_err txn_coordinator_persist(struct txn_coordinator *tc, const char *id, struct log_waiter *w);

/* Finishes the id's transaction, which txn_end, txn_init_producer or txn_expire_next has just
 * put in Prepare* (see above). w (may be NULL) fires when it is done; a finish already running
 * for the id takes w too. */
void txn_coordinator_finish(struct txn_coordinator *tc, const char *id, struct txn_finish_waiter *w);

/* Kafka's transactional.id.expiration.ms default (7 days): an id idle (no transaction open)
 * this long since its last change is forgotten, its record deleted, as Kafka does. */
#define TXN_ID_EXPIRATION_MS_DEFAULT 604800000
/* How often idle ids are looked at. */
#define TXN_ID_EXPIRY_CHECK_MS 60000
void txn_coordinator_set_id_expiration(struct txn_coordinator *tc, int64_t expiration_ms);

/* Aborts the ongoing transactions past their timeout, retries failed finishes and (every
 * TXN_ID_EXPIRY_CHECK_MS) forgets expired ids. Returns the next monotonic deadline at which to
 * call it again (UINT64_MAX: none). */
uint64_t txn_coordinator_tick(struct txn_coordinator *tc, uint64_t mono_ms);

/* Transactions being finished now. */
uint32_t txn_coordinator_finishing(const struct txn_coordinator *tc);

#endif
