/* txn.h: the transaction coordinator's state machine, one entry per transactional.id, as
 * Kafka's TransactionCoordinator keeps it: the producer id and epoch the id owns, the state,
 * the timeout, and the partitions and groups the ongoing transaction touched.
 *
 *   Empty --AddPartitions/AddOffsets--> Ongoing --EndTxn--> PrepareCommit | PrepareAbort
 *   Prepare* --txn_complete (markers durable)--> CompleteCommit | CompleteAbort --Add*--> Ongoing
 *
 * Fencing: InitProducerId bumps the epoch, so requests of the old producer (a zombie) carry an
 * older epoch and get PRODUCER_FENCED; an ongoing transaction is aborted by the new producer's
 * InitProducerId and by its timeout (both bump the epoch first, as Kafka does).
 *
 * Pure: no I/O, time is passed in. The caller writes the markers to txn->parts when a
 * transition returns a Prepare* state, then calls txn_complete; it also persists entries. */
#ifndef SL_BROKER_TXN_H
#define SL_BROKER_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"

/* The internal log of the coordinator's entries (a kvlog), hidden from clients as
 * __consumer_offsets is. */
#define TXN_STATE_TOPIC "__transaction_state"

enum txn_state {
    TXN_EMPTY,
    TXN_ONGOING,
    TXN_PREPARE_COMMIT,
    TXN_PREPARE_ABORT,
    TXN_COMPLETE_COMMIT,
    TXN_COMPLETE_ABORT,
};

struct txn_part {
    char *topic;
    int32_t partition;
};

/* An offset TxnOffsetCommit sent within the transaction: the group's committed offset once the
 * transaction commits, dropped if it aborts. */
struct txn_offset {
    char *group;
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;       /* bytes (may hold NULs), NUL-terminated; NULL: null */
    int32_t metadata_len; /* -1: null */
};

struct txn {
    char *id;
    int64_t producer_id;
    int16_t epoch;
    enum txn_state state;
    int32_t timeout_ms;
    uint64_t started_ms; /* when the ongoing transaction began (its first Add*) */
    int64_t updated_ms;  /* wall clock of the last stored change (txn_touch); 0: unknown */
    struct txn_part *parts;
    uint32_t part_count, part_cap;
    char **groups; /* consumer groups whose offsets the transaction commits */
    uint32_t group_count, group_cap;
    struct txn_offset *offsets; /* pending, one per group, topic and partition (the latest) */
    uint32_t offset_count, offset_cap;
};

struct txn_coord;

/* txns_max: the most transactional ids kept (a new one past it gets SL_POLICY_VIOLATION);
 * timeout_ms_max: Kafka's transaction.max.timeout.ms. */
struct txn_coord *txn_coord_new(uint32_t txns_max, int32_t timeout_ms_max);
void txn_coord_free(struct txn_coord *c);

/* NULL if the id has no entry. */
const struct txn *txn_get(const struct txn_coord *c, const char *id);

/* InitProducerId with a transactional id. new_producer_id is used for a new id (and when the
 * epoch would overflow). SL_CONCURRENT_TRANSACTIONS while a transaction completes; if one was
 * ongoing, it is moved to PrepareAbort under a bumped epoch (the caller writes the abort
 * markers, completes it, and the client retries). */
sl_err txn_init_producer(struct txn_coord *c, const char *id, int32_t timeout_ms, int64_t new_producer_id,
                         const struct txn **out);

/* AddPartitionsToTxn for one partition; AddOffsetsToTxn for one group. */
sl_err txn_add_partition(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch,
                         const char *topic, int32_t partition, uint64_t now_ms);
sl_err txn_add_group(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch,
                     const char *group, uint64_t now_ms);

/* TxnOffsetCommit's check: the id's producer, current epoch, ongoing, and the group added. */
sl_err txn_check_offsets(const struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch,
                         const char *group);

/* TxnOffsetCommit for one partition: txn_check_offsets, then the offset is pending in the
 * transaction (a later one for the same group, topic and partition replaces it). metadata_len
 * -1: null metadata. */
sl_err txn_add_offset(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch, const char *group,
                      const char *topic, int32_t partition, int64_t offset, int32_t leader_epoch,
                      const char *metadata, int32_t metadata_len);

/* Whether an ongoing or completing transaction holds a pending offset for the group's
 * partition (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then). */
bool txn_offset_pending(const struct txn_coord *c, const char *group, const char *topic, int32_t topic_len,
                        int32_t partition);

/* InitProducerId's check of the producer id and epoch a client gives (KIP-360: a producer
 * bumping its own epoch): SL_OK when the id has no entry yet or when they are the entry's
 * current ones; SL_PRODUCER_FENCED otherwise, as Kafka's TransactionCoordinator answers. */
sl_err txn_check_init(const struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch);

/* EndTxn. SL_OK with *out in PrepareCommit/PrepareAbort: write the markers, then
 * txn_complete. SL_OK with *out already Complete*: a retry of the same decision, nothing to do. */
sl_err txn_end(struct txn_coord *c, const char *id, int64_t producer_id, int16_t epoch, bool commit,
               const struct txn **out);

/* Prepare* -> Complete*, forgetting the partitions, groups and pending offsets. */
void txn_complete(struct txn_coord *c, const char *id);

/* The next ongoing transaction past its timeout, moved to PrepareAbort under a bumped epoch
 * (the producer is fenced), or NULL. The caller loops until NULL, aborting each. */
const struct txn *txn_expire_next(struct txn_coord *c, uint64_t now_ms);

/* The earliest deadline of an ongoing transaction (its start plus its timeout), UINT64_MAX if
 * none is ongoing. */
uint64_t txn_next_deadline(const struct txn_coord *c);

/* Records the wall-clock time of a change the owner stores (the id's expiration counts from it). */
void txn_touch(struct txn_coord *c, const char *id, int64_t wall_ms);

/* Kafka's transactional.id.expiration.ms: removes the entries idle (Empty or Complete*) whose
 * last change is older than expiration_ms, calling gone(arg, id) for each before it goes (the
 * owner deletes its record). An entry of unknown age (0) counts from now_wall_ms: it is
 * touched instead. Returns how many went. */
uint32_t txn_expire_ids(struct txn_coord *c, int64_t now_wall_ms, int64_t expiration_ms,
                        void (*gone)(void *arg, const char *id), void *arg);

/* Kafka's name of a state (TransactionState.stateName): "Empty", "Ongoing", "PrepareCommit",
 * "PrepareAbort", "CompleteCommit", "CompleteAbort". */
const char *txn_state_name(enum txn_state s);

/* Entries, for listing (DescribeTransactions, /metrics): i < txn_count. */
uint32_t txn_count(const struct txn_coord *c);
const struct txn *txn_at(const struct txn_coord *c, uint32_t i);

/* ---- persistence ----
 * An entry is one kvlog record: key = the transactional id, value = kvlog TLV version 1 with
 * producer id, epoch, state, timeout, and one field per partition (i32 partition, then the
 * topic), per group and per pending offset, and the time of the last change. The owner writes the entry after every transition (before answering)
 * and restores each record at start. A restored Prepare* entry still needs its markers: the
 * owner writes them again (they are idempotent for readers) and completes it. A restored
 * Ongoing entry restarts its timeout at now_ms, since the old process's clock is gone. */
struct kvlog_tlv_writer;
void txn_encode(const struct txn *t, struct kvlog_tlv_writer *w);
/* SL_CORRUPT if the value is not a version-1 entry with every required field;
 * SL_POLICY_VIOLATION past txns_max. An id already present is replaced (a later record wins). */
sl_err txn_restore(struct txn_coord *c, const char *id, const uint8_t *value, uint32_t value_len, uint64_t now_ms);

#endif
