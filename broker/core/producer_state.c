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
};

struct pstate {
    struct pstate_entry *hash[PSTATE_HASH];
    uint32_t count;
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
    free(ps);
}

uint32_t pstate_producer_count(const struct pstate *ps) { return ps->count; }

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

void pstate_record(struct pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq, int32_t last_seq,
                   int64_t first_offset, int64_t last_offset) {
    if (pid < 0 || first_seq < 0) return;
    struct pstate_entry *e = pstate_find(ps, pid);
    if (!e) {
        e = sl_xcalloc(1, sizeof(*e));
        e->producer_id = pid;
        e->epoch = epoch;
        e->next = ps->hash[(uint64_t)pid % PSTATE_HASH];
        ps->hash[(uint64_t)pid % PSTATE_HASH] = e;
        ps->count++;
    }
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
        e->head = slot;
        e->count = i;
        if (e->count == 0) pstate_unlink(ps, e);
        return;
    }
}

/* Snapshot format, text: "end <offset>" then one line per retained batch, oldest first:
 * "<pid> <epoch> <first_seq> <last_seq> <first_offset> <last_offset>". */
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
        }
    }
    return sl_file_commit(f, path, true) ? SL_OK : SL_IO;
}

static int64_t pstate_load_snapshot(struct pstate *ps, const char *dir) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/producer_state", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long end = -1;
    if (fscanf(f, "end %lld\n", &end) != 1) end = -1;
    long long pid, fo, lo;
    int epoch, fs, ls;
    while (end >= 0 && fscanf(f, "%lld %d %d %d %lld %lld\n", &pid, &epoch, &fs, &ls, &fo, &lo) == 6)
        pstate_record(ps, pid, (int16_t)epoch, fs, ls, fo, lo);
    fclose(f);
    /* The snapshot is only true for the log as it was: from here on the log is the truth. */
    unlink(path);
    return end;
}

sl_err pstate_load(struct pstate **out, struct log *g) {
    struct pstate *ps = pstate_new();
    int64_t from = pstate_load_snapshot(ps, log_dir(g));
    if (from < log_start_offset(g) || from > log_written_offset(g)) {
        if (from >= 0) {
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
            if (h.producer_id >= 0 && h.base_sequence >= 0)
                pstate_record(ps, h.producer_id, h.producer_epoch, h.base_sequence,
                              pstate_seq_add(h.base_sequence, h.last_offset_delta), h.base_offset, kafka_batch_last_offset(&h));
            pos += (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        }
        at = sp.next_offset;
        log_span_release(&sp);
    }
    *out = ps;
    return SL_OK;
}
