/* partition.c: one partition, its single write path and its producer state (see partition.h).
 *
 * Every appended batch carries an internal waiter (struct partition_wait, from the partition's
 * free list, so steady-state appends allocate nothing). It is registered at the level the
 * caller asked (written for NONE and WRITTEN, durable for DURABLE) and does two jobs when it
 * fires: on an error it takes the batch back out of the producer state, then it completes the
 * caller's done. A duplicate that must wait for its original borrows one too, queued on the
 * log at the original's last offset. */
#include "broker/core/partition.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/isr.h"
#include "broker/core/leader_epochs.h"
#include "broker/core/producer_state.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_records.h"
#include "storage/store.h"

#define PARTITION_CLOSE_WAIT_MS 60000

struct partition_wait {
    struct log_waiter w;
    struct partition *p;
    struct partition_append_done *done; /* NULL: acks NONE */
    int64_t producer_id;                /* -1: nothing to forget on failure (plain or duplicate) */
    int16_t epoch;
    int32_t first_seq;
    bool marker;                    /* a transaction marker: undo takes it back on failure */
    struct pstate_marker_undo undo;
    /* acks=all on a replicated partition: once durable here, done waits on the high watermark
     * reaching commit_at (one past the batch's last offset), queued on p->repl (hw_head). */
    bool await_hw;
    int64_t commit_at;
    struct partition_wait *next_free, *next_hw;
};

/* Replication (partition_replicate): NULL for a partition no other broker holds. */
struct partition_repl {
    enum partition_role role;
    int32_t epoch;                  /* the leader epoch of the placement this replica follows */
    struct leader_epochs epochs;    /* the log's epochs (leader_epochs.h) */
    struct isr isr;                 /* the leader's */
    int64_t hw;                     /* the committed end: what consumers may read */
    int64_t lead_start;             /* the log end when this replica took the lead (its epoch's start) */
    struct partition_wait *hw_head, *hw_tail; /* acks=all batches waiting to commit, in order */
};

struct partition {
    struct log *log;
    struct pstate *ps; /* NULL until the first idempotent batch */
    bool log_append_time;
    /* Whether the partition ever held a transaction (the TXN_FLAG file): its producer state is
     * loaded for the LSO only then, so other partitions never replay their logs for it. */
    bool txn_probed, txn_flag;
    bool closing; /* closed with waiters out: the last one to fire frees the partition */
    struct partition_wait *free_waits;
    uint32_t waits_out;
    struct kafka_records_scratch *records_scratch; /* borrowed from the registry; may be NULL */
    partition_append_observer_fn observer;         /* a stream on this partition; may be NULL */
    void *observer_arg;
    struct partition_traffic traffic;
    struct partition_repl *repl;
    uint32_t min_insync; /* min.insync.replicas; 0 and 1 ask nothing */
    uint64_t now_ms;     /* the latest monotonic time a caller passed (appends, fetches, ticks) */
};

/* The log cleaner's question (log_set_cleaner_keep): every producer's last batch. */
static uint32_t partition_cleaner_keep(void *arg, int64_t *out, uint32_t max) {
    return pstate_last_batches(partition_pstate(arg), out, max);
}

static int64_t partition_cleaner_stable_end(void *arg) { return partition_last_stable_offset(arg); }

static uint32_t partition_cleaner_aborted(void *arg, int64_t from, int64_t to, struct log_aborted_txn *out,
                                          uint32_t max) {
    return partition_aborted_txns(arg, from, to, out, max);
}

struct partition *partition_new(struct log *g) {
    struct partition *p = sl_xcalloc(1, sizeof(*p));
    p->log = g;
    log_set_cleaner_keep(g, partition_cleaner_keep, p);
    log_set_cleaner_txn(g, partition_cleaner_stable_end, partition_cleaner_aborted, p);
    return p;
}

static void partition_free(struct partition *p) {
    SL_ASSERT(p->waits_out == 0);
    while (p->free_waits) {
        struct partition_wait *pw = p->free_waits;
        p->free_waits = pw->next_free;
        free(pw);
    }
    pstate_free(p->ps);
    if (p->repl) leader_epochs_free(&p->repl->epochs);
    free(p->repl);
    free(p);
}

/* Settles what is in flight, so the producer state names only batches in the log. */
static void partition_settle(struct partition *p) {
    if (p->waits_out == 0) return;
    sl_err e = log_flush(p->log, false, PARTITION_CLOSE_WAIT_MS);
    if (e) SL_WARN("%s: batches still in flight at close: %s", log_dir(p->log), sl_err_str(e));
}

static void partition_hw_fail_all(struct partition *p, sl_err err);

void partition_close(struct partition *p) {
    if (!p) return;
    partition_hw_fail_all(p, SL_NOT_LEADER);
    log_set_cleaner_keep(p->log, NULL, NULL); /* the log may outlive us (closed by the store) */
    log_set_cleaner_txn(p->log, NULL, NULL, NULL);
    partition_settle(p);
    if (p->waits_out) {
        /* The log still points at our waiters: they free the partition as the last one fires.
         * No snapshot: the next start replays the log instead. */
        p->closing = true;
        return;
    }
    if (p->ps && pstate_producer_count(p->ps)) {
        sl_err e = pstate_save(p->ps, log_dir(p->log), log_written_offset(p->log));
        if (e) SL_WARN("%s: cannot save the producer state (the next start replays the log)", log_dir(p->log));
    }
    partition_free(p);
}

static sl_err partition_delete_with(struct partition *p, struct store *st, struct store_rmdirs *rd) {
    /* The files this layer keeps beside the log's go first: the store removes its own and then
     * the directory, which must be empty (a leftover "transactions" flag kept the directory of
     * a deleted topic, and the next start adopted it as a topic again). */
    static const char *const own[] = {"transactions", "producer_state"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", log_dir(p->log), own[i]);
        if (unlink(path) != 0 && errno != ENOENT) SL_WARN("%s: cannot remove: %s", path, strerror(errno));
    }
    partition_hw_fail_all(p, SL_NOT_LEADER);
    /* Deleting quiesces the log first, so our waiters fire before the partition goes. */
    log_set_cleaner_keep(p->log, NULL, NULL);
    log_set_cleaner_txn(p->log, NULL, NULL, NULL);
    sl_err e = rd ? store_log_delete_async(st, p->log, rd) : store_log_delete(st, p->log);
    p->log = NULL;
    if (p->waits_out) {
        p->closing = true;
        return e;
    }
    partition_free(p);
    return e;
}

sl_err partition_delete(struct partition *p, struct store *st) { return partition_delete_with(p, st, NULL); }

sl_err partition_delete_async(struct partition *p, struct store *st, struct store_rmdirs *rd) {
    return partition_delete_with(p, st, rd);
}

void partition_set_config(struct partition *p, const struct log_config *c, bool log_append_time) {
    log_set_config(p->log, c);
    p->log_append_time = log_append_time;
}

struct log *partition_log(const struct partition *p) { return p->log; }
uint32_t partition_inflight(const struct partition *p) { return p->waits_out; }

struct pstate *partition_pstate(struct partition *p) {
    if (!p->ps) {
        sl_err e = pstate_load(&p->ps, p->log);
        SL_ASSERT(e == SL_OK && p->ps);
    }
    return p->ps;
}

sl_err partition_read(struct partition *p, int64_t offset, uint32_t bytes_max, struct log_span *out) {
    return log_read(p->log, offset, bytes_max, out);
}
int64_t partition_start_offset(const struct partition *p) { return log_start_offset(p->log); }
int64_t partition_high_watermark(const struct partition *p) {
    return p->repl ? p->repl->hw : log_written_offset(p->log);
}
void partition_watch_add(struct partition *p, struct log_watch *w) { log_watch_add(p->log, w); }
void partition_watch_del(struct log_watch *w) { log_watch_del(w); }
sl_err partition_delete_before(struct partition *p, int64_t offset) { return log_delete_before(p->log, offset); }

void partition_count_out(struct partition *p, uint64_t bytes, uint64_t records) {
    p->traffic.bytes_out += bytes;
    p->traffic.records_out += records;
}
const struct partition_traffic *partition_get_traffic(const struct partition *p) { return &p->traffic; }

sl_err partition_delete_records(struct partition *p, int64_t offset) {
    sl_err e = log_delete_before(p->log, offset);
    if (e == SL_OK) log_save_start(p->log);
    return e;
}

bool partition_follow_start(struct partition *p, int64_t leader_start) {
    if (p->observer) return false;
    int64_t to = SL_MIN(leader_start, log_end_offset(p->log));
    if (to <= log_start_offset(p->log)) return false;
    return partition_delete_before(p, to) == SL_OK;
}

/* ---- waiters ------------------------------------------------------------------------------------ */

static void partition_wait_fired(struct log_waiter *w, sl_err err);

static struct partition_wait *partition_wait_get(struct partition *p, struct partition_append_done *done) {
    struct partition_wait *pw = p->free_waits;
    if (pw) p->free_waits = pw->next_free;
    else pw = sl_xmalloc(sizeof(*pw));
    *pw = (struct partition_wait){.w.done = partition_wait_fired, .p = p, .done = done, .producer_id = -1};
    p->waits_out++;
    return pw;
}

static void partition_wait_put(struct partition *p, struct partition_wait *pw) {
    SL_ASSERT(p->waits_out > 0);
    p->waits_out--;
    pw->next_free = p->free_waits;
    p->free_waits = pw;
}

static void partition_hw_advance(struct partition *p);

static void partition_wait_fired(struct log_waiter *w, sl_err err) {
    struct partition_wait *pw = sl_container_of(w, struct partition_wait, w);
    struct partition *p = pw->p;
    /* The write failed: the batch is not in the log, so the producer state must not say so. */
    if (err && pw->producer_id >= 0 && p->ps) pstate_forget(p->ps, pw->producer_id, pw->epoch, pw->first_seq);
    if (err && pw->marker && p->ps) pstate_marker_undo(p->ps, &pw->undo);
    if (!err && !p->closing && p->repl && p->repl->role == PARTITION_LEADER) {
        if (pw->await_hw) {
            /* Durable here; answered once the in-sync replicas have it too. */
            pw->next_hw = NULL;
            if (p->repl->hw_tail) p->repl->hw_tail->next_hw = pw;
            else p->repl->hw_head = pw;
            p->repl->hw_tail = pw;
            partition_hw_advance(p);
            return;
        }
        struct partition_append_done *done = pw->done;
        partition_wait_put(p, pw);
        partition_hw_advance(p);
        if (done) done->fn(done, SL_OK);
        return;
    }
    if (!err && pw->await_hw && (p->closing || !p->repl || p->repl->role != PARTITION_LEADER)) err = SL_NOT_LEADER;
    struct partition_append_done *done = pw->done;
    partition_wait_put(p, pw);
    if (done) done->fn(done, err);
    if (p->closing && p->waits_out == 0) partition_free(p);
}

/* ---- transactions: the flag ---------------------------------------------------------------------- */

/* A file in the partition's directory, made durable before the first transactional batch or
 * marker is appended, so a partition without it has never held a transaction. */
#define TXN_FLAG "transactions"

static bool partition_txn_probe(struct partition *p) {
    if (!p->txn_probed) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof(path), "%s/" TXN_FLAG, log_dir(p->log));
        p->txn_flag = stat(path, &st) == 0;
        p->txn_probed = true;
    }
    return p->txn_flag;
}

static sl_err partition_txn_flag(struct partition *p) {
    if (partition_txn_probe(p)) return SL_OK;
    char path[4200];
    snprintf(path, sizeof(path), "%s/" TXN_FLAG, log_dir(p->log));
    FILE *f = sl_file_begin(path);
    if (!f) return SL_IO;
    fputs("this partition has held transactions: its producer state tracks them\n", f);
    if (!sl_file_commit(f, path, true)) return SL_IO;
    p->txn_flag = true;
    return SL_OK;
}

/* The producer state if the partition ever held a transaction, else NULL. */
static struct pstate *partition_txn_state(struct partition *p) {
    if (p->ps) return p->ps;
    return partition_txn_probe(p) ? partition_pstate(p) : NULL;
}

/* ---- the write path ------------------------------------------------------------------------------ */

/* Every record, as Kafka's LogValidator walks them (varint framing, lengths adding up, offset
 * deltas), compressed batches decompressed first: a batch whose header and CRC are fine but
 * whose records are garbage would otherwise be stored and choke every consumer. This also
 * runs the header, length and CRC32C checks, on the bytes as the client sent them. */
static sl_err partition_check_records(struct partition *p, const uint8_t *batch, uint32_t len) {
    /* A compacted topic keeps the newest record per key: a record without one has no place in
     * it ("Compacted topic cannot accept message without key", INVALID_RECORD). */
    bool keyed = log_get_config(p->log)->compact;
    if (p->records_scratch) {
        sl_err e = kafka_records_validate(batch, len, p->records_scratch);
        return !e && keyed ? kafka_records_all_keyed(batch, len, p->records_scratch) : e;
    }
    struct kafka_records_scratch own;
    kafka_records_scratch_init(&own, 0);
    sl_err e = kafka_records_validate(batch, len, &own);
    if (!e && keyed) e = kafka_records_all_keyed(batch, len, &own);
    kafka_records_scratch_free(&own);
    return e;
}

void partition_set_append_observer(struct partition *p, partition_append_observer_fn fn, void *arg) {
    p->observer = fn;
    p->observer_arg = arg;
}

void partition_set_records_scratch(struct partition *p, struct kafka_records_scratch *scratch) {
    p->records_scratch = scratch;
}

void partition_batch_check(const uint8_t *batch, uint32_t len, struct kafka_records_scratch *scratch,
                           struct partition_batch_check *out) {
    out->records = kafka_records_validate(batch, len, scratch);
    out->keyed = out->records ? out->records : kafka_records_all_keyed(batch, len, scratch);
}

/* Step 1: the batch exactly as the client sent it (chk: checked so already, off the loop). */
static sl_err partition_check(struct partition *p, const uint8_t *batch, uint32_t len,
                              const struct partition_batch_check *chk, struct kafka_batch_header *h) {
    if (len > log_get_config(p->log)->batch_bytes_max) return SL_TOO_LARGE;
    sl_err e = !chk                               ? partition_check_records(p, batch, len)
               : log_get_config(p->log)->compact ? chk->keyed
                                                 : chk->records;
    if (e == SL_UNDERFLOW) return SL_CORRUPT;
    if (e) return e;
    return kafka_batch_header_read(batch, len, h); /* checked above: only fills h */
}

static bool partition_idempotent(const struct kafka_batch_header *h) {
    return h->producer_id >= 0 && h->base_sequence >= 0;
}

static int32_t partition_last_seq(const struct kafka_batch_header *h) {
    return pstate_seq_add(h->base_sequence, h->last_offset_delta);
}

/* Step 2: SL_OK to append; SL_EXISTS for a duplicate (its offsets in dup_first/dup_last). An
 * unknown producer with a sequence other than 0 is appended, as before the state existed
 * (its state may have gone with retention). */
static sl_err partition_idempotence(struct partition *p, const struct kafka_batch_header *h, int64_t *dup_first,
                                    int64_t *dup_last) {
    if (!partition_idempotent(h)) return SL_OK;
    enum pstate_verdict v = pstate_check(partition_pstate(p), h->producer_id, h->producer_epoch, h->base_sequence,
                                         partition_last_seq(h), dup_first, dup_last);
    switch (v) {
    case PSTATE_DUPLICATE: return SL_EXISTS;
    case PSTATE_OUT_OF_ORDER: return SL_OUT_OF_ORDER_SEQUENCE;
    case PSTATE_FENCED: return SL_INVALID_PRODUCER_EPOCH;
    case PSTATE_APPEND:
    case PSTATE_UNKNOWN: break;
    }
    return SL_OK;
}

/* Step 3: Kafka's LogAppendTime. The client's CRC was checked first, so resealing it here
 * cannot launder a batch corrupted in transit. */
static void partition_stamp(uint8_t *batch, uint32_t len, int64_t now_ms) {
    uint16_t attrs = sl_load_be16(batch + 21);
    sl_store_be16(batch + 21, (uint16_t)(attrs | KAFKA_ATTR_LOG_APPEND_TIME));
    sl_store_be64(batch + 35, (uint64_t)now_ms);
    kafka_batch_update_crc(batch, len);
}

/* acks=all on a leader also waits for the in-sync replicas (see partition.h, replication). */
static void partition_wait_commit(struct partition *p, struct partition_wait *pw, enum partition_acks acks,
                                  int64_t last_offset) {
    pw->await_hw = acks == PARTITION_ACKS_DURABLE && p->repl && p->repl->role == PARTITION_LEADER;
    pw->commit_at = last_offset + 1;
}

/* Kafka refuses an acks=all batch before appending it while the ISR is below
 * min.insync.replicas (NOT_ENOUGH_REPLICAS): appended, it could not commit. */
static sl_err partition_insync_check(struct partition *p, enum partition_acks acks) {
    if (acks != PARTITION_ACKS_DURABLE || p->min_insync <= 1) return SL_OK;
    uint32_t n = p->repl && p->repl->role == PARTITION_LEADER ? isr_size(&p->repl->isr) : 1;
    return n < p->min_insync ? SL_NOT_ENOUGH_REPLICAS : SL_OK;
}

/* A leader's batches carry its epoch (KIP-101): the header's PartitionLeaderEpoch, outside the
 * CRC, so the client's bytes stay valid. */
static void partition_stamp_epoch(struct partition *p, uint8_t *batch) {
    if (p->repl && p->repl->role == PARTITION_LEADER) sl_store_be32(batch + 12, (uint32_t)p->repl->epoch);
}

/* A duplicate is answered once its original is where the duplicate's acks ask. */
static sl_err partition_complete_duplicate(struct partition *p, enum partition_acks acks, int64_t last_offset,
                                           struct partition_append_done *done) {
    if (acks == PARTITION_ACKS_NONE) return SL_OK;
    sl_err e = log_error(p->log);
    if (e) return e;
    /* Fires at once when the original is already covered at the level this ack promises. */
    struct partition_wait *pw = partition_wait_get(p, done);
    partition_wait_commit(p, pw, acks, last_offset);
    log_wait(p->log, &pw->w, last_offset, acks == PARTITION_ACKS_DURABLE);
    return SL_OK;
}

/* Steps 4 and 5: append with an internal waiter; the caller's done rides on it. */
static sl_err partition_append_log(struct partition *p, uint8_t *batch, uint32_t len, const struct kafka_batch_header *h,
                                   enum partition_acks acks, struct partition_append_done *done, struct log_ref *ref) {
    struct partition_wait *pw = partition_wait_get(p, acks == PARTITION_ACKS_NONE ? NULL : done);
    int64_t base;
    bool durable = acks == PARTITION_ACKS_DURABLE;
    sl_err e = ref ? log_append_verified_ref(p->log, batch, len, &base, &pw->w, durable, ref)
                   : log_append_verified(p->log, batch, len, &base, &pw->w, durable);
    if (e) {
        partition_wait_put(p, pw);
        return e;
    }
    done->base_offset = base;
    partition_wait_commit(p, pw, acks, base + h->last_offset_delta);
    if (partition_idempotent(h)) {
        pw->producer_id = h->producer_id;
        pw->epoch = h->producer_epoch;
        pw->first_seq = h->base_sequence;
        pstate_record(p->ps, h->producer_id, h->producer_epoch, h->base_sequence, partition_last_seq(h), base,
                      base + h->last_offset_delta);
        if (h->attributes & KAFKA_ATTR_TRANSACTIONAL) pstate_txn_add(p->ps, h->producer_id, h->producer_epoch, base);
    }
    return SL_OK;
}

static sl_err partition_append_impl(struct partition *p, uint8_t *batch, uint32_t len, enum partition_acks acks,
                                    uint64_t now_ms, struct partition_append_done *done,
                                    const struct partition_batch_check *chk, struct log_ref *ref) {
    SL_ASSERT(!p->closing && done && (acks == PARTITION_ACKS_NONE || done->fn));
    done->base_offset = -1;
    done->log_append_time_ms = -1;
    done->log_start_offset = log_start_offset(p->log);
    done->duplicate = false;
    /* A follower's log is its leader's: only partition_append_replica writes to it, whatever
     * a protocol wing believes about who leads. */
    if (p->repl && p->repl->role == PARTITION_FOLLOWER) return SL_NOT_LEADER;
    struct kafka_batch_header h;
    sl_err e = partition_check(p, batch, len, chk, &h);
    if (e) return e;
    if ((e = partition_insync_check(p, acks))) return e;
    int64_t dup_first = -1, dup_last = -1;
    e = partition_idempotence(p, &h, &dup_first, &dup_last);
    if (e == SL_EXISTS) {
        done->base_offset = dup_first;
        done->duplicate = true;
        return partition_complete_duplicate(p, acks, dup_last, done);
    }
    if (e) return e;
    if ((h.attributes & KAFKA_ATTR_TRANSACTIONAL) && (e = partition_txn_flag(p))) return e;
    if (p->log_append_time) partition_stamp(batch, len, (int64_t)now_ms);
    partition_stamp_epoch(p, batch);
    e = partition_append_log(p, batch, len, &h, acks, done, ref);
    if (e) return e;
    if (p->log_append_time) done->log_append_time_ms = (int64_t)now_ms;
    p->traffic.bytes_in += len;
    p->traffic.records_in += (uint64_t)h.record_count;
    if (p->observer) p->observer(p->observer_arg, done->base_offset, batch, len);
    return SL_OK;
}

sl_err partition_append(struct partition *p, uint8_t *batch, uint32_t len, enum partition_acks acks,
                        uint64_t now_ms, struct partition_append_done *done) {
    return partition_append_impl(p, batch, len, acks, now_ms, done, NULL, NULL);
}

sl_err partition_append_checked(struct partition *p, uint8_t *batch, uint32_t len, enum partition_acks acks,
                                uint64_t now_ms, struct partition_append_done *done,
                                const struct partition_batch_check *chk, struct log_ref *ref) {
    SL_ASSERT(chk);
    return partition_append_impl(p, batch, len, acks, now_ms, done, chk, ref);
}

/* ---- transactions ------------------------------------------------------------------------------- */

sl_err partition_append_marker(struct partition *p, int64_t producer_id, int16_t epoch, bool commit,
                               int32_t coordinator_epoch, enum partition_acks acks, uint64_t now_ms,
                               struct partition_append_done *done) {
    SL_ASSERT(!p->closing && done && (acks == PARTITION_ACKS_NONE || done->fn));
    SL_ASSERT(producer_id >= 0 && epoch >= 0);
    if (p->repl && p->repl->role == PARTITION_FOLLOWER) return SL_NOT_LEADER;
    done->base_offset = -1;
    done->log_append_time_ms = -1;
    done->log_start_offset = log_start_offset(p->log);
    done->duplicate = false;
    sl_err e = partition_txn_flag(p);
    if (e) return e;
    struct pstate *ps = partition_pstate(p);
    if ((e = pstate_marker_check(ps, producer_id, epoch, coordinator_epoch))) return e;
    uint8_t batch[KAFKA_CONTROL_BATCH_BYTES];
    size_t len = kafka_control_batch_encode(batch, sizeof(batch), commit ? KAFKA_CONTROL_COMMIT : KAFKA_CONTROL_ABORT,
                                            producer_id, epoch, coordinator_epoch, (int64_t)now_ms);
    SL_ASSERT(len == sizeof(batch));
    if (p->log_append_time) partition_stamp(batch, (uint32_t)len, (int64_t)now_ms);
    partition_stamp_epoch(p, batch);
    struct partition_wait *pw = partition_wait_get(p, acks == PARTITION_ACKS_NONE ? NULL : done);
    int64_t base;
    /* The log copies the batch into its write buffer: the stack copy may go on return. */
    e = log_append_verified(p->log, batch, (uint32_t)len, &base, &pw->w, acks == PARTITION_ACKS_DURABLE);
    if (e) {
        partition_wait_put(p, pw);
        return e;
    }
    done->base_offset = base;
    partition_wait_commit(p, pw, acks, base);
    pw->marker = true;
    pstate_marker(ps, producer_id, epoch, coordinator_epoch, commit, base, &pw->undo);
    if (p->log_append_time) done->log_append_time_ms = (int64_t)now_ms;
    p->traffic.bytes_in += len;
    if (p->observer) p->observer(p->observer_arg, base, batch, (uint32_t)len);
    return SL_OK;
}

int64_t partition_last_stable_offset(struct partition *p) {
    int64_t hw = partition_high_watermark(p);
    struct pstate *ps = partition_txn_state(p);
    int64_t first = ps ? pstate_first_open_txn(ps) : -1;
    return first >= 0 && first < hw ? first : hw;
}

uint32_t partition_aborted_txns(struct partition *p, int64_t from, int64_t to, struct log_aborted_txn *out,
                                uint32_t max) {
    struct pstate *ps = partition_txn_state(p);
    if (!ps) return 0;
    pstate_aborted_trim(ps, log_start_offset(p->log));
    return pstate_aborted(ps, from, to, out, max);
}

sl_err partition_read_upto(struct partition *p, int64_t offset, int64_t end_offset, uint32_t bytes_max,
                           struct log_span *out) {
    if (offset >= end_offset && offset <= log_written_offset(p->log) && offset >= log_start_offset(p->log)) {
        *out = (struct log_span){.fd = -1, .base_offset = offset, .next_offset = offset};
        return SL_OK;
    }
    sl_err e = log_read(p->log, offset, bytes_max, out);
    if (e || out->len == 0 || out->next_offset <= end_offset) return e;
    /* The span runs past end_offset (a batch boundary): keep the batches that start before it.
     * The first one always does (it holds offset < end_offset). */
    uint64_t pos = out->pos, stop = out->pos + out->len;
    int64_t next = out->base_offset;
    uint8_t head[KAFKA_BATCH_HEADER_BYTES];
    while (pos < stop) {
        struct kafka_batch_header h;
        if (pread(out->fd, head, sizeof(head), (off_t)pos) != (ssize_t)sizeof(head) ||
            kafka_batch_header_read(head, sizeof(head), &h) != SL_OK) {
            log_span_release(out);
            return SL_IO;
        }
        if (h.base_offset >= end_offset) break;
        pos += (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        next = kafka_batch_last_offset(&h) + 1;
    }
    out->len = (uint32_t)(pos - out->pos);
    out->next_offset = next;
    return SL_OK;
}

/* ---- replication ---------------------------------------------------------------------------------- */

/* Answers the acks=all batches the high watermark now covers, oldest first; with all, every
 * waiting one, with err. */
static void partition_hw_answer(struct partition *p, bool all, sl_err err) {
    struct partition_repl *r = p->repl;
    while (r && r->hw_head && (all || r->hw_head->commit_at <= r->hw)) {
        struct partition_wait *pw = r->hw_head;
        r->hw_head = pw->next_hw;
        if (!r->hw_head) r->hw_tail = NULL;
        struct partition_append_done *done = pw->done;
        partition_wait_put(p, pw);
        if (done) done->fn(done, err);
    }
}

static void partition_hw_fire(struct partition *p) { partition_hw_answer(p, false, SL_OK); }
static void partition_hw_fail_all(struct partition *p, sl_err err) { partition_hw_answer(p, true, err); }

/* The leader's high watermark after a write, a follower's fetch or a tick. */
static void partition_hw_advance(struct partition *p) {
    struct partition_repl *r = p->repl;
    if (!r || r->role != PARTITION_LEADER || !p->log) return;
    int64_t before = r->hw;
    r->hw = isr_update(&r->isr, log_written_offset(p->log), p->now_ms);
    /* Fired even when the mark stayed: a batch just queued may already be below it (a
     * producer's retry of a batch the new leader held before it led). */
    partition_hw_fire(p);
    if (r->hw != before && p->log) log_watch_notify(p->log);
}

void partition_replicate(struct partition *p, enum partition_role role, int32_t leader_epoch,
                         const uint32_t *followers, uint32_t n, uint64_t lag_ms, uint64_t now_ms) {
    SL_ASSERT(n <= PARTITION_FOLLOWERS_MAX && n <= ISR_REPLICAS_MAX);
    if (now_ms > p->now_ms) p->now_ms = now_ms;
    struct partition_repl *r = p->repl;
    if (role == PARTITION_ALONE) {
        if (!r) return;
        /* The only replica now: everything written is committed (a waiting batch is durable
         * here, so written). */
        r->hw = log_written_offset(p->log);
        partition_hw_fail_all(p, SL_OK);
        leader_epochs_free(&r->epochs);
        free(r);
        p->repl = NULL;
        log_watch_notify(p->log);
        return;
    }
    if (!r) {
        r = p->repl = sl_xcalloc(1, sizeof(*r));
        leader_epochs_load(&r->epochs, log_dir(p->log));
        r->epoch = -1;
        /* A partition held alone until now committed all it wrote; a new follower starts from
         * what the leader commits. */
        r->hw = role == PARTITION_LEADER ? log_written_offset(p->log) : 0;
    }
    if (r->role == PARTITION_LEADER && role != PARTITION_LEADER) partition_hw_fail_all(p, SL_NOT_LEADER);
    if (role == PARTITION_LEADER) {
        if (r->role != PARTITION_LEADER || r->epoch != leader_epoch) {
            /* Taking over: the committed end is at least what this replica was told, and at most
             * its own log end until the followers report. The new epoch starts at the log end
             * (Kafka's leader election assigns it there). */
            r->hw = SL_MIN(r->hw, log_written_offset(p->log));
            memset(&r->isr, 0, sizeof(r->isr));
            r->lead_start = log_end_offset(p->log);
            leader_epochs_assign(&r->epochs, leader_epoch, r->lead_start);
        }
        isr_assign(&r->isr, followers, n, r->hw, lag_ms, p->now_ms);
    }
    r->epoch = leader_epoch;
    r->role = role;
    partition_hw_advance(p);
}

enum partition_role partition_role(const struct partition *p) { return p->repl ? p->repl->role : PARTITION_ALONE; }

bool partition_leader_settled(const struct partition *p) {
    const struct partition_repl *r = p->repl;
    return !r || r->role != PARTITION_LEADER || r->hw >= r->lead_start;
}

void partition_set_min_insync(struct partition *p, uint32_t n) { p->min_insync = n; }

bool partition_replica_fetched(struct partition *p, uint32_t id, int64_t offset, uint64_t now_ms) {
    struct partition_repl *r = p->repl;
    if (!r || r->role != PARTITION_LEADER) return false;
    if (now_ms > p->now_ms) p->now_ms = now_ms;
    if (!isr_fetched(&r->isr, id, offset, log_written_offset(p->log), p->now_ms)) return false;
    partition_hw_advance(p);
    return true;
}

void partition_replica_tick(struct partition *p, uint64_t now_ms) {
    if (now_ms > p->now_ms) p->now_ms = now_ms;
    partition_hw_advance(p);
}

uint32_t partition_isr(const struct partition *p, uint32_t self, uint32_t *out, uint32_t max) {
    uint32_t n = 0;
    if (n < max) out[n++] = self;
    const struct partition_repl *r = p->repl;
    if (!r || r->role != PARTITION_LEADER) return n;
    for (uint32_t i = 0; i < r->isr.count && n < max; i++)
        if (r->isr.f[i].in_sync) out[n++] = r->isr.f[i].id;
    return n;
}

void partition_set_committed_isr(struct partition *p, const uint32_t *ids, uint32_t n) {
    struct partition_repl *r = p->repl;
    if (!r || r->role != PARTITION_LEADER) return;
    isr_set_committed(&r->isr, ids, n);
    partition_hw_advance(p);
}

bool partition_isr_changed(const struct partition *p) {
    return p->repl && p->repl->role == PARTITION_LEADER && isr_differs(&p->repl->isr);
}

uint32_t partition_isr_request(struct partition *p, uint32_t self, uint32_t *out, uint32_t max) {
    if (!p->repl || p->repl->role != PARTITION_LEADER) return 0;
    return isr_request(&p->repl->isr, self, out, max);
}

void partition_isr_refused(struct partition *p) {
    if (!p->repl || p->repl->role != PARTITION_LEADER) return;
    isr_request_failed(&p->repl->isr);
    partition_hw_advance(p); /* a follower refused no longer holds it */
}

sl_err partition_append_replica(struct partition *p, uint8_t *batch, uint32_t len, struct partition_append_done *done) {
    SL_ASSERT(!p->closing && done && done->fn);
    done->base_offset = -1;
    done->log_append_time_ms = -1;
    done->log_start_offset = log_start_offset(p->log);
    done->duplicate = false;
    struct kafka_batch_header h;
    sl_err e = kafka_batch_check_log(batch, len, &h);
    if (e) return e == SL_UNDERFLOW ? SL_CORRUPT : e;
    if (h.base_offset != log_end_offset(p->log)) return SL_OUT_OF_ORDER_SEQUENCE;
    bool control = (h.attributes & KAFKA_ATTR_CONTROL) != 0;
    enum kafka_control_type type = KAFKA_CONTROL_ABORT;
    int32_t coordinator_epoch = -1;
    if (control && (e = kafka_control_batch_marker(batch, len, &type, &coordinator_epoch))) return e;
    if ((h.attributes & KAFKA_ATTR_TRANSACTIONAL) && (e = partition_txn_flag(p))) return e;
    struct partition_wait *pw = partition_wait_get(p, done);
    int64_t base;
    /* The log sets the base offset to its end, which is the leader's: the bytes stay as sent. */
    e = log_append_verified(p->log, batch, len, &base, &pw->w, true);
    if (e) {
        partition_wait_put(p, pw);
        return e;
    }
    SL_ASSERT(base == h.base_offset);
    done->base_offset = base;
    int32_t epoch = (int32_t)sl_load_be32(batch + 12);
    if (p->repl && epoch > leader_epochs_latest(&p->repl->epochs)) leader_epochs_assign(&p->repl->epochs, epoch, base);
    if (control && h.producer_id >= 0) {
        pw->marker = true;
        /* The leader fenced what it refused: a replica takes its markers as written. */
        pstate_marker(partition_pstate(p), h.producer_id, h.producer_epoch, coordinator_epoch,
                      type == KAFKA_CONTROL_COMMIT, base, &pw->undo);
    } else if (partition_idempotent(&h)) {
        struct pstate *ps = partition_pstate(p);
        pw->producer_id = h.producer_id;
        pw->epoch = h.producer_epoch;
        pw->first_seq = h.base_sequence;
        pstate_record(ps, h.producer_id, h.producer_epoch, h.base_sequence, partition_last_seq(&h), base,
                      base + h.last_offset_delta);
        if (h.attributes & KAFKA_ATTR_TRANSACTIONAL) pstate_txn_add(ps, h.producer_id, h.producer_epoch, base);
    }
    p->traffic.bytes_in += len;
    p->traffic.records_in += (uint64_t)h.record_count;
    if (p->observer) p->observer(p->observer_arg, base, batch, len);
    return SL_OK;
}

void partition_follower_hw(struct partition *p, int64_t leader_hw) {
    struct partition_repl *r = p->repl;
    if (!r || r->role != PARTITION_FOLLOWER) return;
    int64_t hw = SL_MIN(leader_hw, log_written_offset(p->log));
    if (hw <= r->hw) return;
    r->hw = hw;
    log_watch_notify(p->log);
}

sl_err partition_reset(struct partition *p, int64_t offset) {
    struct partition_repl *r = p->repl;
    SL_ASSERT(r && r->role == PARTITION_FOLLOWER);
    sl_err e = log_reset(p->log, offset);
    if (e) return e;
    if (leader_epochs_truncate(&r->epochs, 0) != SL_OK)
        SL_WARN("%s: its leader epochs file was not rewritten (the next fetch asks again)", log_dir(p->log));
    r->hw = offset;
    if (p->observer) p->observer(p->observer_arg, offset, NULL, 0); /* its index starts again */
    /* Nothing the producer state named is left: rebuilt from the (empty) log when asked. */
    pstate_free(p->ps);
    p->ps = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/producer_state", log_dir(p->log));
    if (unlink(path) != 0 && errno != ENOENT) SL_WARN("%s: cannot remove: %s", path, strerror(errno));
    return SL_OK;
}

int64_t partition_log_end(const struct partition *p) { return log_end_offset(p->log); }

sl_err partition_read_committed(struct partition *p, int64_t offset, uint32_t bytes_max, struct log_span *out) {
    if (!p->repl) return log_read(p->log, offset, bytes_max, out);
    return partition_read_upto(p, offset, p->repl->hw, bytes_max, out);
}

int32_t partition_leader_epoch(const struct partition *p) { return p->repl ? p->repl->epoch : -1; }

int32_t partition_last_epoch(const struct partition *p) {
    return p->repl ? leader_epochs_latest(&p->repl->epochs) : -1;
}

void partition_epoch_end(const struct partition *p, int32_t want, int32_t *epoch, int64_t *end) {
    *epoch = -1;
    *end = -1;
    if (p->repl) leader_epochs_end_for(&p->repl->epochs, want, log_end_offset(p->log), epoch, end);
}

sl_err partition_truncate(struct partition *p, int64_t offset) {
    struct partition_repl *r = p->repl;
    SL_ASSERT(r && r->role == PARTITION_FOLLOWER);
    if (offset >= log_end_offset(p->log)) {
        /* Nothing to cut from the log, but an epoch it holds no batch of (one this replica
         * started as leader and wrote nothing in) goes, or the leader would be asked about it
         * again and again. */
        leader_epochs_truncate(&r->epochs, offset);
        return SL_OK;
    }
    sl_err e = log_truncate(p->log, offset);
    if (e) return e;
    int64_t end = log_end_offset(p->log);
    leader_epochs_truncate(&r->epochs, end);
    if (r->hw > end) r->hw = end;
    /* The producer state named batches that are gone: it is rebuilt from the log as it now
     * is (its snapshot may be ahead of the new end, so it goes too). */
    pstate_free(p->ps);
    p->ps = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/producer_state", log_dir(p->log));
    if (unlink(path) != 0 && errno != ENOENT) SL_WARN("%s: cannot remove: %s", path, strerror(errno));
    if (p->observer) p->observer(p->observer_arg, end, NULL, 0); /* its index loses the tail too */
    log_watch_notify(p->log);
    return SL_OK;
}
