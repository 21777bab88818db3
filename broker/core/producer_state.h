/* producer_state.h: idempotent-producer state of one partition, as Kafka keeps it: per
 * producer id, its epoch and its last five batches (first/last sequence and offsets). A batch
 * equal to a retained one is a duplicate (answered with the original offsets, never appended
 * again), a batch that does not follow the last one is out of order, an older epoch is fenced.
 *
 * Persistence: a snapshot file (<partition dir>/producer_state) written on clean close names the
 * offset it covers; opening replays the batch headers of the log after that offset, so the
 * state is exact after a crash too. */
#ifndef SL_BROKER_PRODUCER_STATE_H
#define SL_BROKER_PRODUCER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"

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

/* Writes the snapshot for a log whose end offset is end_offset. */
sl_err pstate_save(const struct pstate *ps, const char *dir, int64_t end_offset);
/* Loads the snapshot (if any) and replays the log's batches after it. */
sl_err pstate_load(struct pstate **out, struct log *g);

#endif
