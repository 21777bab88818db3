/* partition.h: one partition of a topic, the protocol-neutral place where a message enters the
 * log. A partition owns its log (struct log, kept open by the store), its idempotent-producer
 * state and its per-batch ack waiters. Kafka Produce, NATS streams and bridges all append
 * through partition_append, which runs, in this order:
 *
 *   check       length, magic 2, CRC32C of the bytes as the client sent them, counts, then the
 *               record walk (protocol/kafka_records.c)
 *   idempotence duplicates (answered with the original offsets), gaps, fencing
 *   stamp       LogAppendTime topics: attribute and max timestamp set, then the CRC resealed
 *   append      log_append gives the base offset and queues the write
 *   complete    the caller's done fires at the durability it asked for
 *
 * Producer state only ever points at what is in the log: a batch is recorded as it is appended
 * and forgotten again if its write fails; a duplicate of a batch still in flight is answered
 * only once the original is written (or durable) as the duplicate's acks ask, and fails if the
 * original fails. */
#ifndef SL_BROKER_PARTITION_H
#define SL_BROKER_PARTITION_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "storage/log.h"

struct pstate;
struct partition;
struct store;
struct store_rmdirs;

enum partition_acks {
    PARTITION_ACKS_NONE,    /* nothing fires; the out fields are set on return */
    PARTITION_ACKS_WRITTEN, /* fires when the batch reached the file */
    PARTITION_ACKS_DURABLE, /* fires when the batch is durable under the log's policy */
};

/* Caller-owned, one per batch in flight. The out fields are set by partition_append on SL_OK;
 * with acks other than NONE, fn then fires exactly once, with SL_OK or the write's error (then
 * the batch is not in the log). fn may fire before partition_append returns: a duplicate of a
 * batch already written. On an error return fn never fires. */
struct partition_append_done {
    void (*fn)(struct partition_append_done *d, sl_err err);
    int64_t base_offset;        /* the batch's first offset; a duplicate's: the original's */
    int64_t log_append_time_ms; /* -1 unless the partition stamped LogAppendTime */
    int64_t log_start_offset;
    bool duplicate;             /* nothing was appended: the batch was already in the log */
};

/* Wraps a log of the store. The partition does not close the log (the store does), but
 * partition_delete deletes it. */
struct partition *partition_new(struct log *g);
/* Clean close: waits for its batches in flight, saves the producer state (snapshot), frees. */
void partition_close(struct partition *p);
/* Deletes the log and frees the partition; the producer state goes with it, unsaved. */
sl_err partition_delete(struct partition *p, struct store *st);
/* partition_delete whose directory's rmdir goes through the loop (store_log_delete_async). */
sl_err partition_delete_async(struct partition *p, struct store *st, struct store_rmdirs *rd);

/* Storage config and timestamp type, as the topic's configs say. */
void partition_set_config(struct partition *p, const struct log_config *c, bool log_append_time);

sl_err partition_append(struct partition *p, uint8_t *batch, uint32_t len, enum partition_acks acks,
                        uint64_t now_ms, struct partition_append_done *done);

/* Step 1 (check) of partition_append on any thread, for a batch too large to check on the
 * loop: the CRC32C and record walk, and whether every record has a key (a compacted topic's
 * rule), into out. scratch is the caller's (one per thread). */
struct partition_batch_check {
    sl_err records; /* kafka_records_validate's verdict */
    sl_err keyed;   /* records, or if that passed, kafka_records_all_keyed's */
};
struct kafka_records_scratch;
void partition_batch_check(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch,
                           struct partition_batch_check *out);
/* partition_append of a batch checked with partition_batch_check on these exact bytes (chk
 * holds the verdict; only the header is read again). With ref non-NULL the log writes from
 * batch itself: it must stay unchanged until ref->release (log_append_ref), which is called
 * only if this returns SL_OK and did append (not for a duplicate). */
sl_err partition_append_checked(struct partition *p, uint8_t *batch, uint32_t len, enum partition_acks acks,
                                uint64_t now_ms, struct partition_append_done *done,
                                const struct partition_batch_check *chk, struct log_ref *ref);

/* ---- transactions ----
 * A transactional batch (attribute bit 4) opens its producer's transaction in this partition
 * at the batch's base offset, unless one is open already; a marker ends it. The last stable
 * offset (LSO) is the lowest first offset of an open transaction, or the high watermark if
 * none is open: a read_committed reader (Kafka Fetch with isolation_level 1, every NATS
 * consumer) reads only below it. An aborted transaction is remembered as a range
 * [first_offset, last_offset] (last_offset: its abort marker) until the log start passes it,
 * so readers can skip its records. The state follows the log across restarts and kill -9
 * (producer_state.h, Persistence). */

/* Appends a commit or abort marker for the producer through the same write path as every
 * batch (a control batch, kafka_control_batch_encode) and ends the producer's open
 * transaction here. epoch must be >= the producer's epoch in this partition (a coordinator
 * that bumped the epoch to fence a zombie writes the abort under the new one; later batches of
 * an older epoch are then fenced); an older epoch gets SL_INVALID_PRODUCER_EPOCH. A marker for a
 * producer with no open transaction here is still appended (a retry after a crash may write one
 * twice; readers ignore a marker with nothing open). done fires as for partition_append. */
sl_err partition_append_marker(struct partition *p, int64_t producer_id, int16_t epoch, bool commit,
                               int32_t coordinator_epoch, enum partition_acks acks, uint64_t now_ms,
                               struct partition_append_done *done);

/* The last stable offset: <= partition_high_watermark. */
int64_t partition_last_stable_offset(struct partition *p);

/* The aborted transactions that overlap [from, to) (last_offset >= from and first_offset <
 * to), oldest first, as Kafka's Fetch returns them for a read_committed fetch of that range:
 * at most max into out; returns how many overlap (may exceed max). */
uint32_t partition_aborted_txns(struct partition *p, int64_t from, int64_t to, struct log_aborted_txn *out,
                                uint32_t max);

/* partition_read that ends at or before end_offset (a batch boundary, such as the LSO):
 * offset == end_offset gives SL_OK with len 0. */
sl_err partition_read_upto(struct partition *p, int64_t offset, int64_t end_offset, uint32_t bytes_max,
                           struct log_span *out);

/* Called after every successful append (not for a duplicate), with the batch as stored (base
 * offset set, LogAppendTime stamped) and before its write completes, whichever protocol made it:
 * a stream indexes what Kafka produces into its topic. One observer; fn NULL removes it. It
 * must not append to this partition. batch NULL (len 0): a follower's log was cut
 * (partition_truncate) or started again (partition_reset) and now ends at base_offset. */
typedef void (*partition_append_observer_fn)(void *arg, int64_t base_offset, const uint8_t *batch, uint32_t len);
void partition_set_append_observer(struct partition *p, partition_append_observer_fn fn, void *arg);

/* The decompression buffer of the record walk, shared by every partition of a reactor (the
 * topic registry owns one), so a compressed batch costs no allocation once the buffer has
 * grown. Without one the walk of a compressed batch allocates and frees its own. */
struct kafka_records_scratch;
void partition_set_records_scratch(struct partition *p, struct kafka_records_scratch *scratch);

/* Reading and waiting for data (Fetch, consumers). */
sl_err partition_read(struct partition *p, int64_t offset, uint32_t bytes_max, struct log_span *out);
int64_t partition_start_offset(const struct partition *p);
/* What readers may read: the written end alone, the committed end when replicated. */
int64_t partition_high_watermark(const struct partition *p);
/* Fires on new data and once when the partition goes; see struct log_watch. */
void partition_watch_add(struct partition *p, struct log_watch *w);
void partition_watch_del(struct log_watch *w);
/* Advances the start offset (DeleteRecords, retention): see log_delete_before. */
sl_err partition_delete_before(struct partition *p, int64_t offset);
/* Kafka's DeleteRecords: as partition_delete_before, and the new start is written at once
 * (partition_delete_before's is saved within about a second, for work-queue acks). */
sl_err partition_delete_records(struct partition *p, int64_t offset);
/* A follower takes its leader's log start from a fetch answer (Kafka's follower does the same
 * with the answer's log_start_offset), so what DeleteRecords or the leader's retention removed
 * does not come back after a failover: as partition_delete_before, up to the log's end, never
 * backwards. A partition with a stream on it (an append observer) is left alone: a stream's
 * replicas take their start with the stream's deleted set (cluster_streams.h), which keeps its
 * index in step. True if the start moved. */
bool partition_follow_start(struct partition *p, int64_t leader_start);

/* Traffic through the partition, for /metrics: batch bytes and records appended (any
 * protocol), and bytes handed to Kafka fetches. */
struct partition_traffic {
    uint64_t bytes_in, records_in, bytes_out, records_out;
};
/* Traffic read out of the partition by any protocol, for /metrics. */
void partition_count_out(struct partition *p, uint64_t bytes, uint64_t records);
const struct partition_traffic *partition_get_traffic(const struct partition *p);

/* ---- replication ----
 * Kafka's ISR fetch replication (broker/cluster_replica.c drives it). A partition alone (the
 * default) commits what it has written: its high watermark is its written end. A leader's
 * followers fetch from it (Fetch with their replica id); each fetch says how far the follower's
 * log reaches, and the high watermark is the lowest log end of the in-sync replicas (isr.h).
 * Readers see only up to it (partition_high_watermark, partition_read_committed); an acks=all
 * batch is answered once it is durable here and the high watermark passes it; with fewer
 * in-sync replicas than min.insync.replicas an acks=all batch is refused before it is appended
 * (NOT_ENOUGH_REPLICAS), as Kafka does. A follower appends the leader's batches at the leader's
 * offsets (partition_append_replica) and takes the high watermark from the leader's answers.
 * Leaving the leader role fails the batches still waiting to commit with NOT_LEADER. */
enum partition_role { PARTITION_ALONE, PARTITION_LEADER, PARTITION_FOLLOWER };
#define PARTITION_FOLLOWERS_MAX 7
/* followers: the other replicas (a leader's; ignored otherwise). leader_epoch: the
 * placement's; a leader stamps it into every batch it appends (the header's
 * PartitionLeaderEpoch) and keeps where each epoch begins (leader_epochs.h), so a follower's
 * divergence is found (partition_epoch_end) and truncated (partition_truncate) exactly.
 * now_ms: the monotonic clock. */
void partition_replicate(struct partition *p, enum partition_role role, int32_t leader_epoch,
                         const uint32_t *followers, uint32_t n, uint64_t lag_ms, uint64_t now_ms);
enum partition_role partition_role(const struct partition *p);
/* Whether a leader's high watermark has reached where its lead began (true for a follower or a
 * partition alone). A new leader's log holds what its predecessor committed, but its own
 * committed end is what it was last told, often behind, until the followers report: a reader
 * that counts what is committed (JetStream's num_pending, a stream's state) would see less than
 * the old leader showed. Kafka's leader answers ListOffsets OFFSET_NOT_AVAILABLE in the same
 * window (KIP-207). */
bool partition_leader_settled(const struct partition *p);
/* min.insync.replicas (>= 1). */
void partition_set_min_insync(struct partition *p, uint32_t n);
/* Leader: follower id's fetch at offset (its log end). False if p leads no follower id. */
bool partition_replica_fetched(struct partition *p, uint32_t id, int64_t offset, uint64_t now_ms);
/* Leader: drops followers silent for the lag time (the high watermark may then move). */
void partition_replica_tick(struct partition *p, uint64_t now_ms);
/* The in-sync replicas by this leader's account: self first, then the in-sync followers; at
 * most max into out. */
uint32_t partition_isr(const struct partition *p, uint32_t self, uint32_t *out, uint32_t max);
/* Leader: the ISR the controller committed (the high watermark counts its members too). */
void partition_set_committed_isr(struct partition *p, const uint32_t *ids, uint32_t n);
/* Leader: whether its ISR differs from the committed one (a change to send the controller). */
bool partition_isr_changed(const struct partition *p);
/* Leader: the ISR to send the controller (isr.h, isr_request); 0 if not a leader. */
uint32_t partition_isr_request(struct partition *p, uint32_t self, uint32_t *out, uint32_t max);
/* Leader: the controller refused or did not commit it. */
void partition_isr_refused(struct partition *p);
/* Follower: appends the leader's batch at the leader's offset, which must be this log's end
 * (SL_OUT_OF_ORDER_SEQUENCE otherwise: the fetch went wrong). Checked as a batch read back from
 * a log (framing, CRC; a control batch is a marker and ends its transaction here). done fires
 * once the batch is durable under the log's policy. */
sl_err partition_append_replica(struct partition *p, uint8_t *batch, uint32_t len, struct partition_append_done *done);
/* Follower: the leader's high watermark (kept below this log's end). */
void partition_follower_hw(struct partition *p, int64_t leader_hw);
/* The placement's leader epoch this replica follows (-1 alone). */
int32_t partition_leader_epoch(const struct partition *p);
/* The epoch of the last batch in the log (-1 none or alone): a follower's LastFetchedEpoch. */
int32_t partition_last_epoch(const struct partition *p);
/* Kafka's endOffsetFor over the log's epochs: the largest epoch at or below want and where it
 * ends (-1, -1: none). */
void partition_epoch_end(const struct partition *p, int32_t want, int32_t *epoch, int64_t *end);
/* Follower: cuts the log at offset (the batch holding it goes too), with its epochs, the high
 * watermark and the producer state (rebuilt from the log). */
sl_err partition_truncate(struct partition *p, int64_t offset);
/* Follower: empties the log and starts it again at offset, the leader's log start, beyond this
 * log's end (the leader deleted what this replica still needed: retention while it was away),
 * with its epochs and producer state. SL_REQUEST_TIMED_OUT: a compaction pass is running, try
 * again later. */
sl_err partition_reset(struct partition *p, int64_t offset);
/* The log end (written or not): where a follower's next fetch starts. */
int64_t partition_log_end(const struct partition *p);
/* partition_read up to the high watermark (readers; a follower's fetch reads the whole log). */
sl_err partition_read_committed(struct partition *p, int64_t offset, uint32_t bytes_max, struct log_span *out);

/* The log, for what has no partition-level operation yet (time index lookups). */
struct log *partition_log(const struct partition *p);
/* Producer state, loaded on first use (snapshot plus replay of the log after it). */
struct pstate *partition_pstate(struct partition *p);
/* Batches appended (or duplicates waiting) whose waiter has not fired yet. */
uint32_t partition_inflight(const struct partition *p);

#endif
