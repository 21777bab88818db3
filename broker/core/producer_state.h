/* producer_state.h: idempotent-producer state of one partition, as Kafka keeps it: per
 * producer id, its epoch and its last five batches (first/last sequence and offsets). A batch
 * equal to a retained one is a duplicate (answered with the original offsets, never appended
 * again), a batch that does not follow the last one is out of order, an older epoch is fenced.
 *
 * Transactions: a producer's transactional batches open its transaction in this partition at
 * the first one's offset; a marker (control batch) ends it, and an abort is remembered as the
 * range [first offset, marker offset] until the log start passes it. A marker also carries
 * the epoch forward (a coordinator fences a zombie by writing the abort under a bumped epoch),
 * and its coordinator's epoch: a marker from an older coordinator than the last one that wrote
 * for the producer here is refused (TRANSACTION_COORDINATOR_FENCED), as Kafka does, so a
 * deposed coordinator cannot end a transaction its successor has taken over.
 *
 * Persistence: a snapshot file (<partition dir>/producer_state) written on clean close names the
 * offset it covers; opening replays the batch headers (and markers) of the log after that
 * offset, so the state is exact after a crash too. */
#ifndef SL_BROKER_PRODUCER_STATE_H
#define SL_BROKER_PRODUCER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "storage/log.h"

struct log;
struct pstate;

#define PSTATE_BATCHES 5

enum pstate_verdict {
    PSTATE_APPEND,       /* in sequence (or not idempotent): append it */
    PSTATE_DUPLICATE,    /* already appended: answer with the original offsets */
    PSTATE_OUT_OF_ORDER, /* a gap or a reordering: OUT_OF_ORDER_SEQUENCE_NUMBER */
    PSTATE_FENCED,       /* an older epoch: INVALID_PRODUCER_EPOCH */
    PSTATE_UNKNOWN,      /* no state and a sequence other than 0: UNKNOWN_PRODUCER_ID */
};

/* The last sequence of a batch: sequences wrap from INT32_MAX to 0, as Kafka's do. */
static inline int32_t pstate_seq_add(int32_t seq, int32_t delta) {
    return (int32_t)(((int64_t)seq + delta) % ((int64_t)INT32_MAX + 1));
}

struct pstate *pstate_new(void);
void pstate_free(struct pstate *ps);

/* On PSTATE_DUPLICATE, *dup_first_offset and *dup_last_offset get the retained batch's offsets
 * (the original may still be in flight: its last offset is what a retry waits for). */
enum pstate_verdict pstate_check(const struct pstate *ps, int64_t producer_id, int16_t epoch,
                                 int32_t first_seq, int32_t last_seq, int64_t *dup_first_offset,
                                 int64_t *dup_last_offset);
/* Records a batch as it is appended, before it is written: pending until its write completes,
 * and taken back with pstate_forget if that write fails. */
void pstate_record(struct pstate *ps, int64_t producer_id, int16_t epoch, int32_t first_seq,
                   int32_t last_seq, int64_t first_offset, int64_t last_offset);
/* A batch of this producer failed to reach the log: forgets it and every later batch of the
 * producer (they were queued behind it and failed with it), so a retry is appended, not
 * answered as a duplicate of nothing. A producer left with no batch is forgotten. No-op if the
 * batch is not retained (already forgotten, or the producer moved to a newer epoch). */
void pstate_forget(struct pstate *ps, int64_t producer_id, int16_t epoch, int32_t first_seq);
uint32_t pstate_producer_count(const struct pstate *ps);
/* The first offset of every producer's last retained batch (what the log cleaner keeps): up to
 * max into out; returns how many producers have one. */
uint32_t pstate_last_batches(const struct pstate *ps, int64_t *out, uint32_t max);

/* ---- transactions ---- */

/* An aborted range is storage's struct log_aborted_txn (last_offset: the abort marker), the
 * one shape the partition, Fetch and the log cleaner all take. */

/* A transactional batch of the producer was appended at first_offset: opens the producer's
 * transaction here unless one is open. Returns true if it opened one. */
bool pstate_txn_add(struct pstate *ps, int64_t producer_id, int16_t epoch, int64_t first_offset);
/* SL_INVALID_PRODUCER_EPOCH if a marker of this epoch is older than the producer's,
 * SL_TRANSACTION_COORDINATOR_FENCED if its coordinator epoch is older than the last marker's. */
sl_err pstate_marker_check(const struct pstate *ps, int64_t producer_id, int16_t epoch, int32_t coordinator_epoch);
/* What a marker changed, so a marker whose write fails can be taken back. */
struct pstate_marker_undo {
    int64_t producer_id;
    int64_t txn_first; /* the transaction it ended: -1 none */
    bool aborted_added;
    int32_t coordinator_epoch; /* the producer's before the marker */
};
/* A marker appended at offset: ends the producer's open transaction (an abort is remembered),
 * and moves the producer to epoch if that is newer (its retained batches go: a new epoch's
 * sequences start again at 0). */
void pstate_marker(struct pstate *ps, int64_t producer_id, int16_t epoch, int32_t coordinator_epoch, bool commit,
                   int64_t offset, struct pstate_marker_undo *undo);
void pstate_marker_undo(struct pstate *ps, const struct pstate_marker_undo *undo);
/* The lowest first offset of an open transaction, -1 if none is open. */
int64_t pstate_first_open_txn(const struct pstate *ps);
uint32_t pstate_open_txn_count(const struct pstate *ps);
/* Aborted ranges overlapping [from, to), oldest marker first: at most max into out; returns
 * how many overlap. */
uint32_t pstate_aborted(const struct pstate *ps, int64_t from, int64_t to, struct log_aborted_txn *out, uint32_t max);
/* Forgets aborted ranges wholly below the log start. */
void pstate_aborted_trim(struct pstate *ps, int64_t start_offset);

/* Writes the snapshot for a log whose end offset is end_offset. */
sl_err pstate_save(const struct pstate *ps, const char *dir, int64_t end_offset);
/* Loads the snapshot (if any) and replays the log's batches after it. */
sl_err pstate_load(struct pstate **out, struct log *g);

#endif
