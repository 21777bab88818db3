/* producer_state.c: idempotent-producer state of a partition (see producer_state.h). */
#include "broker/core/producer_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "protocol/kafka_batch.h"
#include "storage/log.h"

#define PSTATE_HASH 64

struct pstate_batch {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
};

struct pstate_entry {
    struct pstate_entry *next;
    int64_t producer_id;
    int16_t epoch;
    uint8_t count, head; /* ring of the last batches; head = next slot */
    struct pstate_batch batches[PSTATE_BATCHES];
    int64_t txn_first; /* first offset of the open transaction, -1 if none */
    int32_t coordinator_epoch; /* of the last marker, -1 none: an older coordinator's is fenced */
};

struct pstate {
    struct pstate_entry *hash[PSTATE_HASH];
    uint32_t count;
    uint32_t open_txns; /* entries with txn_first >= 0 */
    struct log_aborted_txn *aborted; /* by marker offset, oldest first */
    uint32_t aborted_count, aborted_cap;
};

struct pstate *pstate_new(void) { return sl_xcalloc(1, sizeof(struct pstate)); }

void pstate_free(struct pstate *ps) {
    if (!ps) return;
    for (int i = 0; i < PSTATE_HASH; i++) {
        struct pstate_entry *e = ps->hash[i];
        while (e) {
            struct pstate_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(ps->aborted);
    free(ps);
}

uint32_t pstate_producer_count(const struct pstate *ps) { return ps->count; }

uint32_t pstate_last_batches(const struct pstate *ps, int64_t *out, uint32_t max) {
    uint32_t n = 0;
    for (int h = 0; h < PSTATE_HASH; h++) {
        for (const struct pstate_entry *e = ps->hash[h]; e; e = e->next) {
            if (e->count == 0) continue;
            const struct pstate_batch *b = &e->batches[(e->head + PSTATE_BATCHES - 1) % PSTATE_BATCHES];
            if (n < max) out[n] = b->first_offset;
            n++;
        }
    }
    return n;
}

static struct pstate_entry *pstate_find(const struct pstate *ps, int64_t pid) {
    for (struct pstate_entry *e = ps->hash[(uint64_t)pid % PSTATE_HASH]; e; e = e->next)
        if (e->producer_id == pid) return e;
    return NULL;
}

static const struct pstate_batch *pstate_last(const struct pstate_entry *e) {
    return &e->batches[(e->head + PSTATE_BATCHES - 1) % PSTATE_BATCHES];
}

/* Sequences wrap at INT32_MAX back to 0, as Kafka's do. */
static int32_t pstate_next_seq(int32_t seq) { return seq == INT32_MAX ? 0 : seq + 1; }

enum pstate_verdict pstate_check(const struct pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                                 int32_t last_seq, int64_t *dup_first_offset, int64_t *dup_last_offset) {
    if (pid < 0 || first_seq < 0) return PSTATE_APPEND;
    const struct pstate_entry *e = pstate_find(ps, pid);
    if (!e) return first_seq == 0 ? PSTATE_APPEND : PSTATE_UNKNOWN;
    if (epoch < e->epoch) return PSTATE_FENCED;
    if (epoch > e->epoch) return first_seq == 0 ? PSTATE_APPEND : PSTATE_OUT_OF_ORDER;
    for (uint8_t i = 0; i < e->count; i++) {
        /* Ring order: after a forget the retained batches need not start at slot 0. */
        const struct pstate_batch *b = &e->batches[(e->head + PSTATE_BATCHES - e->count + i) % PSTATE_BATCHES];
        if (b->first_seq == first_seq && b->last_seq == last_seq) {
            *dup_first_offset = b->first_offset;
            *dup_last_offset = b->last_offset;
            return PSTATE_DUPLICATE;
        }
    }
    if (e->count == 0) return PSTATE_APPEND;
    return first_seq == pstate_next_seq(pstate_last(e)->last_seq) ? PSTATE_APPEND : PSTATE_OUT_OF_ORDER;
}

static struct pstate_entry *pstate_get(struct pstate *ps, int64_t pid, int16_t epoch) {
    struct pstate_entry *e = pstate_find(ps, pid);
    if (!e) {
        e = sl_xcalloc(1, sizeof(*e));
        e->producer_id = pid;
        e->epoch = epoch;
        e->txn_first = -1;
        e->coordinator_epoch = -1;
        e->next = ps->hash[(uint64_t)pid % PSTATE_HASH];
        ps->hash[(uint64_t)pid % PSTATE_HASH] = e;
        ps->count++;
    }
    return e;
}

void pstate_record(struct pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq, int32_t last_seq,
                   int64_t first_offset, int64_t last_offset) {
    if (pid < 0 || first_seq < 0) return;
    struct pstate_entry *e = pstate_get(ps, pid, epoch);
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->count = 0;
        e->head = 0;
    }
    e->batches[e->head] = (struct pstate_batch){first_seq, last_seq, first_offset, last_offset};
    e->head = (uint8_t)((e->head + 1) % PSTATE_BATCHES);
    if (e->count < PSTATE_BATCHES) e->count++;
}

static void pstate_unlink(struct pstate *ps, struct pstate_entry *e) {
    SL_ASSERT(e->txn_first < 0);
    struct pstate_entry **pp = &ps->hash[(uint64_t)e->producer_id % PSTATE_HASH];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    ps->count--;
    free(e);
}

void pstate_forget(struct pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq) {
    struct pstate_entry *e = pstate_find(ps, pid);
    if (!e || e->epoch != epoch) return;
    /* Oldest first: slot (head - count + i); keep the i batches older than the failed one. */
    for (uint8_t i = 0; i < e->count; i++) {
        uint8_t slot = (uint8_t)((e->head + PSTATE_BATCHES - e->count + i) % PSTATE_BATCHES);
        if (e->batches[slot].first_seq != first_seq) continue;
        /* The transaction's first batch failed with this one or before it: it never opened. */
        if (e->txn_first >= e->batches[slot].first_offset) {
            e->txn_first = -1;
            ps->open_txns--;
        }
        e->head = slot;
        e->count = i;
        if (e->count == 0 && e->txn_first < 0) pstate_unlink(ps, e);
        return;
    }
}

/* ---- transactions ---------------------------------------------------------------------------- */

bool pstate_txn_add(struct pstate *ps, int64_t pid, int16_t epoch, int64_t first_offset) {
    if (pid < 0) return false;
    struct pstate_entry *e = pstate_get(ps, pid, epoch);
    if (e->txn_first >= 0) return false;
    e->txn_first = first_offset;
    ps->open_txns++;
    return true;
}

sl_err pstate_marker_check(const struct pstate *ps, int64_t pid, int16_t epoch, int32_t coordinator_epoch) {
    const struct pstate_entry *e = pstate_find(ps, pid);
    if (e && epoch < e->epoch) return SL_INVALID_PRODUCER_EPOCH;
    return e && coordinator_epoch < e->coordinator_epoch ? SL_TRANSACTION_COORDINATOR_FENCED : SL_OK;
}

void pstate_marker(struct pstate *ps, int64_t pid, int16_t epoch, int32_t coordinator_epoch, bool commit,
                   int64_t offset, struct pstate_marker_undo *undo) {
    struct pstate_entry *e = pstate_get(ps, pid, epoch);
    SL_ASSERT(epoch >= e->epoch);
    *undo = (struct pstate_marker_undo){pid, e->txn_first, false, e->coordinator_epoch};
    if (coordinator_epoch > e->coordinator_epoch) e->coordinator_epoch = coordinator_epoch;
    if (epoch > e->epoch) {
        e->epoch = epoch;
        e->count = 0;
        e->head = 0;
    }
    if (e->txn_first < 0) return; /* nothing open here: a marker written again after a crash */
    if (!commit) {
        if (ps->aborted_count == ps->aborted_cap) {
            ps->aborted_cap = ps->aborted_cap ? ps->aborted_cap * 2 : 8;
            ps->aborted = sl_xrealloc(ps->aborted, ps->aborted_cap * sizeof(*ps->aborted));
        }
        SL_ASSERT(ps->aborted_count == 0 || ps->aborted[ps->aborted_count - 1].last_offset < offset);
        ps->aborted[ps->aborted_count++] = (struct log_aborted_txn){pid, e->txn_first, offset};
        undo->aborted_added = true;
    }
    e->txn_first = -1;
    ps->open_txns--;
}

void pstate_marker_undo(struct pstate *ps, const struct pstate_marker_undo *undo) {
    struct pstate_entry *e = pstate_find(ps, undo->producer_id);
    if (!e) return;
    e->coordinator_epoch = undo->coordinator_epoch;
    if (undo->aborted_added && ps->aborted_count) ps->aborted_count--;
    if (undo->txn_first >= 0 && e->txn_first < 0) {
        e->txn_first = undo->txn_first;
        ps->open_txns++;
    }
}

uint32_t pstate_open_txn_count(const struct pstate *ps) { return ps->open_txns; }

int64_t pstate_first_open_txn(const struct pstate *ps) {
    if (ps->open_txns == 0) return -1;
    int64_t low = -1;
    for (int h = 0; h < PSTATE_HASH; h++)
        for (const struct pstate_entry *e = ps->hash[h]; e; e = e->next)
            if (e->txn_first >= 0 && (low < 0 || e->txn_first < low)) low = e->txn_first;
    return low;
}

uint32_t pstate_aborted(const struct pstate *ps, int64_t from, int64_t to, struct log_aborted_txn *out, uint32_t max) {
    /* Markers are in offset order: skip, by bisection, those that end before from. */
    uint32_t lo = 0, hi = ps->aborted_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ps->aborted[mid].last_offset < from) lo = mid + 1;
        else hi = mid;
    }
    uint32_t n = 0;
    for (uint32_t i = lo; i < ps->aborted_count; i++) {
        if (ps->aborted[i].first_offset >= to) continue;
        if (n < max) out[n] = ps->aborted[i];
        n++;
    }
    return n;
}

void pstate_aborted_trim(struct pstate *ps, int64_t start_offset) {
    uint32_t k = 0;
    while (k < ps->aborted_count && ps->aborted[k].last_offset < start_offset) k++;
    if (k == 0) return;
    memmove(ps->aborted, ps->aborted + k, (ps->aborted_count - k) * sizeof(*ps->aborted));
    ps->aborted_count -= k;
}

/* Snapshot format, text: "end <offset>" then one line per retained batch, oldest first:
 * "<pid> <epoch> <first_seq> <last_seq> <first_offset> <last_offset>"; then "epoch <pid>
 * <epoch>" for a producer known by a marker alone, "txn <pid> <epoch> <first_offset>" per open
 * transaction and "aborted <pid> <first_offset> <last_offset>" per aborted range. */
sl_err pstate_save(const struct pstate *ps, const char *dir, int64_t end_offset) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/producer_state", dir);
    FILE *f = sl_file_begin(path);
    if (!f) return SL_IO;
    fprintf(f, "end %lld\n", (long long)end_offset);
    for (int h = 0; h < PSTATE_HASH; h++) {
        for (const struct pstate_entry *e = ps->hash[h]; e; e = e->next) {
            for (uint8_t i = 0; i < e->count; i++) {
                const struct pstate_batch *b =
                    &e->batches[(e->head + PSTATE_BATCHES - e->count + i) % PSTATE_BATCHES];
                fprintf(f, "%lld %d %d %d %lld %lld\n", (long long)e->producer_id, e->epoch, b->first_seq,
                        b->last_seq, (long long)b->first_offset, (long long)b->last_offset);
            }
            if (e->count == 0) fprintf(f, "epoch %lld %d\n", (long long)e->producer_id, e->epoch);
            if (e->txn_first >= 0)
                fprintf(f, "txn %lld %d %lld\n", (long long)e->producer_id, e->epoch, (long long)e->txn_first);
            if (e->coordinator_epoch >= 0)
                fprintf(f, "coordinator %lld %d %d\n", (long long)e->producer_id, e->epoch, e->coordinator_epoch);
        }
    }
    for (uint32_t i = 0; i < ps->aborted_count; i++)
        fprintf(f, "aborted %lld %lld %lld\n", (long long)ps->aborted[i].producer_id,
                (long long)ps->aborted[i].first_offset, (long long)ps->aborted[i].last_offset);
    return sl_file_commit(f, path, true) ? SL_OK : SL_IO;
}

static bool pstate_load_line(struct pstate *ps, const char *line) {
    long long pid, fo, lo;
    int epoch, fs, ls;
    int ce;
    if (sscanf(line, "epoch %lld %d", &pid, &epoch) == 2) {
        pstate_get(ps, pid, (int16_t)epoch);
    } else if (sscanf(line, "coordinator %lld %d %d", &pid, &epoch, &ce) == 3) {
        pstate_get(ps, pid, (int16_t)epoch)->coordinator_epoch = ce;
    } else if (sscanf(line, "txn %lld %d %lld", &pid, &epoch, &fo) == 3) {
        pstate_txn_add(ps, pid, (int16_t)epoch, fo);
    } else if (sscanf(line, "aborted %lld %lld %lld", &pid, &fo, &lo) == 3) {
        if (ps->aborted_count && ps->aborted[ps->aborted_count - 1].last_offset >= lo) return false;
        if (ps->aborted_count == ps->aborted_cap) {
            ps->aborted_cap = ps->aborted_cap ? ps->aborted_cap * 2 : 8;
            ps->aborted = sl_xrealloc(ps->aborted, ps->aborted_cap * sizeof(*ps->aborted));
        }
        ps->aborted[ps->aborted_count++] = (struct log_aborted_txn){pid, fo, lo};
    } else if (sscanf(line, "%lld %d %d %d %lld %lld", &pid, &epoch, &fs, &ls, &fo, &lo) == 6) {
        pstate_record(ps, pid, (int16_t)epoch, fs, ls, fo, lo);
    } else {
        return false;
    }
    return true;
}

/* The snapshot's end offset, or -1 if there is none (or it does not parse: the log is replayed
 * from its start instead). */
static int64_t pstate_load_snapshot(struct pstate *ps, const char *dir) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/producer_state", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long end = -1;
    char line[256];
    if (!fgets(line, sizeof(line), f) || sscanf(line, "end %lld", &end) != 1) end = -1;
    while (end >= 0 && fgets(line, sizeof(line), f))
        if (!pstate_load_line(ps, line)) end = -1;
    fclose(f);
    /* The snapshot is only true for the log as it was: from here on the log is the truth. */
    unlink(path);
    return end;
}

/* One batch of the replay: its header is h, its bytes at pos in fd. */
static void pstate_replay_batch(struct pstate *ps, const struct kafka_batch_header *h, int fd, uint64_t pos) {
    if (h->attributes & KAFKA_ATTR_CONTROL) {
        /* A marker is one small record; anything larger is not one of ours and is skipped. */
        uint8_t buf[512];
        uint32_t blen = (uint32_t)h->batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        enum kafka_control_type type;
        int32_t ce;
        if (h->producer_id < 0 || blen > sizeof(buf) || pread(fd, buf, blen, (off_t)pos) != (ssize_t)blen ||
            kafka_control_batch_marker(buf, blen, &type, &ce) != SL_OK)
            return;
        if (pstate_marker_check(ps, h->producer_id, h->producer_epoch, ce)) return;
        struct pstate_marker_undo undo;
        pstate_marker(ps, h->producer_id, h->producer_epoch, ce, type == KAFKA_CONTROL_COMMIT, h->base_offset, &undo);
        return;
    }
    if (h->producer_id >= 0 && h->base_sequence >= 0)
        pstate_record(ps, h->producer_id, h->producer_epoch, h->base_sequence,
                      pstate_seq_add(h->base_sequence, h->last_offset_delta), h->base_offset, kafka_batch_last_offset(h));
    if (h->attributes & KAFKA_ATTR_TRANSACTIONAL) pstate_txn_add(ps, h->producer_id, h->producer_epoch, h->base_offset);
}

sl_err pstate_load(struct pstate **out, struct log *g) {
    struct pstate *ps = pstate_new();
    int64_t from = pstate_load_snapshot(ps, log_dir(g));
    if (from < log_start_offset(g) || from > log_written_offset(g)) {
        if (from >= 0 || ps->count || ps->aborted_count) {
            pstate_free(ps);
            ps = pstate_new();
        }
        from = log_start_offset(g);
    }
    /* Replay batch headers: 61 bytes read per batch, whole spans of up to 1 MiB at a time. */
    int64_t at = from;
    uint8_t head[KAFKA_BATCH_HEADER_BYTES];
    for (uint64_t guard = 0; guard < (1ull << 40) && at < log_written_offset(g); guard++) {
        struct log_span sp;
        sl_err e = log_read(g, at, 1u << 20, &sp);
        if (e || sp.len == 0) {
            log_span_release(&sp);
            break;
        }
        uint64_t pos = sp.pos, end = sp.pos + sp.len;
        while (pos < end) {
            struct kafka_batch_header h;
            if (pread(sp.fd, head, sizeof(head), (off_t)pos) != (ssize_t)sizeof(head) ||
                kafka_batch_header_read(head, sizeof(head), &h) != SL_OK)
                break;
            pstate_replay_batch(ps, &h, sp.fd, pos);
            pos += (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        }
        at = sp.next_offset;
        log_span_release(&sp);
    }
    pstate_aborted_trim(ps, log_start_offset(g));
    *out = ps;
    return SL_OK;
}
