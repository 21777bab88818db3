/* leader_epochs.h: a replicated partition's leader epoch cache (Kafka's LeaderEpochFileCache,
 * KIP-101): for every leader epoch the log holds, the offset where its batches begin. A leader
 * stamps its epoch into each batch it appends (the batch header's PartitionLeaderEpoch, which
 * the CRC does not cover) and starts a new entry at its log end when it takes over; a follower
 * starts one at the first batch of each newer epoch it receives. From the cache a leader tells
 * a follower where the follower's log left the leader's (Fetch's DivergingEpoch), and the
 * follower truncates exactly the records no leader of a later epoch has: what was never
 * committed.
 *
 * Kept in <partition dir>/leader_epochs, one "epoch start_offset" line per entry, rewritten
 * (fsynced, renamed into place) on every change: changes come with leader elections, rarely. */
#ifndef SL_BROKER_LEADER_EPOCHS_H
#define SL_BROKER_LEADER_EPOCHS_H

#include <stdint.h>

#include "protocol/errors.h"

struct leader_epoch {
    int32_t epoch;
    int64_t start;
};

struct leader_epochs {
    uint32_t count, cap;
    struct leader_epoch *v; /* epochs and starts rising */
    char *path;
};

/* Reads <dir>/leader_epochs (none: empty). Lines that do not parse, or break the rising
 * order, end the list there (a file cut short by a crash keeps what came before). */
void leader_epochs_load(struct leader_epochs *le, const char *dir);
void leader_epochs_free(struct leader_epochs *le);
/* Starts epoch at start if it is newer than the latest (an older or equal one changes nothing;
 * a start below the latest's is moved up to it). Saves on change. */
sl_err leader_epochs_assign(struct leader_epochs *le, int32_t epoch, int64_t start);
/* The log was cut at end: entries starting at or after it go. Saves on change. */
sl_err leader_epochs_truncate(struct leader_epochs *le, int64_t end);
/* The latest epoch, -1 if none. */
int32_t leader_epochs_latest(const struct leader_epochs *le);
/* Kafka's endOffsetFor: the largest epoch at or below want, and where it ends (the next entry's
 * start, or log_end for the latest). None at or below want: epoch -1, end -1. */
void leader_epochs_end_for(const struct leader_epochs *le, int32_t want, int64_t log_end, int32_t *epoch,
                           int64_t *end);

#endif
