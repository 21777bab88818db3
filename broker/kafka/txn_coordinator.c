/* txn_coordinator.c: the transaction coordinator's log and the finishing of transactions (see
 * txn_coordinator.h). A finish is a small chain of callbacks, one struct per transaction being
 * finished, found by id so a second EndTxn (or a timer retry) joins it rather than starting
 * another. */
#include "broker/kafka/txn_coordinator.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/loop.h"
#include "storage/kvlog.h"
#include "storage/offsets.h"

/* A failed finish is tried again this long after (the disk may need to free space). */
#define TXN_RETRY_MS 1000

enum finish_stage { FINISH_PREPARE, FINISH_MARKERS, FINISH_OFFSETS, FINISH_COMPLETE };

struct txn_marker {
    struct partition_append_done done;
    struct txn_finishing *f;
};

struct txn_group_wait {
    struct log_waiter w;
    struct txn_finishing *f;
};

struct txn_finishing {
    struct txn_finishing *next;
    struct txn_coordinator *tc;
    char *id;
    enum finish_stage stage;
    uint32_t pending; /* callbacks of the current stage still to come, plus one while issuing */
    sl_err err;       /* the stage's first error */
    struct log_waiter lw;
    struct txn_marker *markers;
    struct txn_group_wait *group_waiters; /* two per group: its commit, its staged offsets' end */
    struct txn_marker *group_markers;     /* one per group coordinated elsewhere */
    struct txn_finish_waiter *waiters;
};

struct txn_coordinator {
    struct loop *loop;
    struct kvlog *kv;
    struct offsets *offsets;
    struct txn_marker_ops ops;
    struct txn_coord *sm;
    struct txn_stats stats;
    struct txn_finishing *finishing;
    uint32_t finishing_count;
    uint64_t retry_at_ms; /* monotonic; 0: no failed finish waits */
    int64_t id_expiration_ms;
    uint64_t expiry_check_ms; /* monotonic: the next look at idle ids */
    int32_t epoch;            /* its markers' coordinator epoch */
};

void txn_coordinator_set_id_expiration(struct txn_coordinator *tc, int64_t expiration_ms) {
    tc->id_expiration_ms = expiration_ms;
}

struct txn_coord *txn_coordinator_state(struct txn_coordinator *tc) { return tc->sm; }
const struct txn_stats *txn_coordinator_stats(const struct txn_coordinator *tc) { return &tc->stats; }
uint32_t txn_coordinator_finishing(const struct txn_coordinator *tc) { return tc->finishing_count; }

sl_err txn_coordinator_persist(struct txn_coordinator *tc, const char *id, struct log_waiter *w) {
    txn_touch(tc->sm, id, (int64_t)loop_now_ms(tc->loop));
    const struct txn *t = txn_get(tc->sm, id);
    struct kvlog_tlv_writer tw = {0};
    txn_encode(t, &tw);
    sl_err e = kvlog_put(tc->kv, id, (uint32_t)strlen(id), tw.p, (uint32_t)tw.len, loop_now_ms(tc->loop), w);
    kvlog_tlv_free(&tw);
    return e;
}

/* ---- finishing ---- */

static void finish_step(struct txn_finishing *f);

static void finish_end(struct txn_finishing *f, sl_err err) {
    struct txn_coordinator *tc = f->tc;
    struct txn_finishing **pp = &tc->finishing;
    while (*pp != f) pp = &(*pp)->next;
    *pp = f->next;
    tc->finishing_count--;
    if (err) {
        SL_WARN("transaction %s: finishing failed (%s): tried again in %d ms", f->id, sl_err_str(err), TXN_RETRY_MS);
        tc->retry_at_ms = loop_mono_ms(tc->loop) + TXN_RETRY_MS;
    }
    for (struct txn_finish_waiter *w = f->waiters, *next; w; w = next) {
        next = w->next;
        w->fn(w, err);
    }
    free(f->markers);
    free(f->group_waiters);
    free(f->group_markers);
    free(f->id);
    free(f);
}

/* One callback of the current stage came back; the last one moves to the next stage. */
static void finish_arrive(struct txn_finishing *f, sl_err err) {
    if (err && !f->err) f->err = err;
    SL_ASSERT(f->pending > 0);
    if (--f->pending) return;
    if (f->err) {
        finish_end(f, f->err);
        return;
    }
    if (f->stage == FINISH_COMPLETE) {
        finish_end(f, SL_OK);
        return;
    }
    f->stage++;
    finish_step(f);
}

static void finish_log_done(struct log_waiter *w, sl_err err) {
    finish_arrive(sl_container_of(w, struct txn_finishing, lw), err);
}

static void finish_marker_done(struct partition_append_done *d, sl_err err) {
    finish_arrive(((struct txn_marker *)d)->f, err);
}

static void finish_group_done(struct log_waiter *w, sl_err err) {
    finish_arrive(((struct txn_group_wait *)w)->f, err);
}

static void finish_markers(struct txn_finishing *f, const struct txn *t) {
    bool commit = t->state == TXN_PREPARE_COMMIT;
    f->markers = sl_xcalloc(SL_MAX(t->part_count, 1u), sizeof(*f->markers));
    for (uint32_t i = 0; i < t->part_count; i++) {
        struct txn_marker *m = &f->markers[i];
        m->f = f;
        m->done.fn = finish_marker_done;
        f->pending++;
        sl_err e = f->tc->ops.write(f->tc->ops.arg, t->parts[i].topic, t->parts[i].partition, t->producer_id,
                                    t->epoch, f->tc->epoch, commit, &m->done);
        if (e == SL_NO_PARTITION) {
            finish_arrive(f, SL_OK); /* deleted since: nothing to mark */
        } else if (e) {
            SL_WARN("transaction %s: marker in %s-%d: %s", f->id, t->parts[i].topic, t->parts[i].partition,
                    sl_err_str(e));
            finish_arrive(f, e);
        }
    }
}

/* Each group's offsets, durable before the transaction completes. A group this broker
 * coordinates: on commit, the offsets the transaction itself holds (TxnOffsetCommit sent here)
 * become its committed offsets; then the offsets staged in its log (TxnOffsetCommit sent here
 * while another broker coordinated the transaction) are committed or dropped. A group another
 * broker coordinates gets the marker there (ops.offsets_marker), which does the same. */
static void finish_offsets(struct txn_finishing *f, const struct txn *t) {
    bool commit = t->state == TXN_PREPARE_COMMIT;
    struct txn_coordinator *tc = f->tc;
    uint64_t now = loop_now_ms(tc->loop);
    f->group_waiters = sl_xcalloc(SL_MAX(t->group_count, 1u) * 2, sizeof(*f->group_waiters));
    f->group_markers = sl_xcalloc(SL_MAX(t->group_count, 1u), sizeof(*f->group_markers));
    struct offset_commit *cs = sl_xcalloc(SL_MAX(t->offset_count, 1u), sizeof(*cs));
    for (uint32_t g = 0; g < t->group_count; g++) {
        uint32_t n = 0;
        for (uint32_t i = 0; commit && i < t->offset_count; i++) {
            const struct txn_offset *o = &t->offsets[i];
            if (strcmp(o->group, t->groups[g]) != 0) continue;
            cs[n++] = (struct offset_commit){o->topic, (int32_t)strlen(o->topic), o->partition, o->offset,
                                             o->leader_epoch, o->metadata, o->metadata_len, false};
        }
        struct offsets *o = tc->ops.offsets_of ? tc->ops.offsets_of(tc->ops.arg, t->groups[g]) : tc->offsets;
        if (!o) {
            if (n)
                SL_ERROR("transaction %s: group %s is coordinated elsewhere now: the offsets sent to this broker "
                         "are not committed", f->id, t->groups[g]);
            if (!tc->ops.offsets_marker) continue;
            struct txn_marker *m = &f->group_markers[g];
            m->f = f;
            m->done.fn = finish_marker_done;
            f->pending++;
            sl_err e = tc->ops.offsets_marker(tc->ops.arg, t->groups[g], t->producer_id, t->epoch, tc->epoch, commit,
                                              &m->done);
            if (e) finish_arrive(f, e);
            continue;
        }
        if (n) {
            struct txn_group_wait *gw = &f->group_waiters[2 * g];
            gw->w.done = finish_group_done;
            gw->f = f;
            f->pending++;
            sl_err e = offsets_commit(o, t->groups[g], cs, n, now, &gw->w);
            if (e) finish_arrive(f, e);
        }
        struct txn_group_wait *sw = &f->group_waiters[2 * g + 1];
        sw->w.done = finish_group_done;
        sw->f = f;
        f->pending++;
        sl_err e = offsets_txn_end(o, t->producer_id, t->epoch, tc->epoch, commit, now, &sw->w);
        if (e) finish_arrive(f, e);
    }
    free(cs);
}

/* Issues the current stage's work; pending holds one extra count while issuing, so callbacks
 * that fire inside the calls cannot move the stage on before every call is made. */
static void finish_step(struct txn_finishing *f) {
    struct txn_coordinator *tc = f->tc;
    const struct txn *t = txn_get(tc->sm, f->id);
    SL_ASSERT(t && f->pending == 0);
    f->pending = 1;
    sl_err e;
    switch (f->stage) {
    case FINISH_PREPARE:
        f->pending++;
        f->lw = (struct log_waiter){.done = finish_log_done};
        e = txn_coordinator_persist(tc, f->id, &f->lw);
        if (e) finish_arrive(f, e);
        break;
    case FINISH_MARKERS:
        finish_markers(f, t);
        break;
    case FINISH_OFFSETS:
        if (tc->offsets || tc->ops.offsets_of) finish_offsets(f, t);
        break;
    case FINISH_COMPLETE: {
        bool commit = t->state == TXN_PREPARE_COMMIT;
        txn_complete(tc->sm, f->id);
        if (commit) tc->stats.committed++;
        else tc->stats.aborted++;
        f->pending++;
        f->lw = (struct log_waiter){.done = finish_log_done};
        e = txn_coordinator_persist(tc, f->id, &f->lw);
        /* The markers are durable: the transaction is decided whatever becomes of this write
         * (a restart in Prepare* writes the markers again and completes it). */
        if (e) finish_arrive(f, SL_OK);
        break;
    }
    }
    finish_arrive(f, SL_OK);
}

void txn_coordinator_finish(struct txn_coordinator *tc, const char *id, struct txn_finish_waiter *w) {
    for (struct txn_finishing *f = tc->finishing; f; f = f->next) {
        if (strcmp(f->id, id) != 0) continue;
        if (w) {
            w->next = f->waiters;
            f->waiters = w;
        }
        return;
    }
    const struct txn *t = txn_get(tc->sm, id);
    SL_ASSERT(t && (t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT));
    struct txn_finishing *f = sl_xcalloc(1, sizeof(*f));
    size_t n = strlen(id) + 1;
    f->id = sl_xmalloc(n);
    memcpy(f->id, id, n);
    f->tc = tc;
    f->stage = FINISH_PREPARE;
    if (w) {
        w->next = NULL;
        f->waiters = w;
    }
    f->next = tc->finishing;
    tc->finishing = f;
    tc->finishing_count++;
    finish_step(f);
}

/* ---- timeouts ---- */

static bool txn_being_finished(const struct txn_coordinator *tc, const char *id) {
    for (const struct txn_finishing *f = tc->finishing; f; f = f->next)
        if (!strcmp(f->id, id)) return true;
    return false;
}

static void expire_gone(void *arg, const char *id) {
    struct txn_coordinator *tc = arg;
    /* No waiter: an id whose deletion a crash loses just expires again after the restart. */
    if (kvlog_del(tc->kv, id, (uint32_t)strlen(id), loop_now_ms(tc->loop), NULL) != SL_OK)
        SL_WARN("transaction %s: its expired record was not deleted", id);
}

uint64_t txn_coordinator_tick(struct txn_coordinator *tc, uint64_t mono_ms) {
    const struct txn *t;
    if (mono_ms >= tc->expiry_check_ms) {
        tc->expiry_check_ms = mono_ms + TXN_ID_EXPIRY_CHECK_MS;
        uint32_t n = txn_expire_ids(tc->sm, (int64_t)loop_now_ms(tc->loop), tc->id_expiration_ms, expire_gone, tc);
        if (n) SL_INFO("transactions: %u idle transactional ids expired", n);
    }
    /* txn_expire_next moves each expired one to PrepareAbort, so the loop ends. */
    while ((t = txn_expire_next(tc->sm, mono_ms))) {
        SL_INFO("transaction %s: aborted after its timeout of %d ms", t->id, t->timeout_ms);
        tc->stats.timed_out++;
        txn_coordinator_finish(tc, t->id, NULL);
    }
    if (tc->retry_at_ms && mono_ms >= tc->retry_at_ms) {
        tc->retry_at_ms = 0;
        for (uint32_t i = 0; i < txn_count(tc->sm); i++) {
            t = txn_at(tc->sm, i);
            if ((t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT) && !txn_being_finished(tc, t->id))
                txn_coordinator_finish(tc, t->id, NULL);
        }
    }
    uint64_t next = txn_next_deadline(tc->sm);
    if (tc->retry_at_ms) next = SL_MIN(next, tc->retry_at_ms);
    if (txn_count(tc->sm)) next = SL_MIN(next, tc->expiry_check_ms);
    return next;
}

/* ---- open / close ---- */

struct restore_ctx {
    struct txn_coordinator *tc;
    uint64_t now_ms;
    uint32_t bad;
};

static void restore_one(void *arg, const uint8_t *key, uint32_t key_len, const uint8_t *value, uint32_t value_len) {
    struct restore_ctx *r = arg;
    char id[4096];
    if (key_len == 0 || key_len >= sizeof(id) || memchr(key, 0, key_len)) {
        r->bad++;
        return;
    }
    memcpy(id, key, key_len);
    id[key_len] = 0;
    if (txn_restore(r->tc->sm, id, value, value_len, r->now_ms) != SL_OK) r->bad++;
}

/* The coordinator over kv, open and replayed: its entries restored, its Prepare* ones being
 * finished. */
static struct txn_coordinator *txn_coordinator_start(struct kvlog *kv, struct loop *l, struct offsets *offsets,
                                                     const struct txn_marker_ops *ops, uint32_t txns_max,
                                                     int32_t timeout_ms_max) {
    struct txn_coordinator *tc = sl_xcalloc(1, sizeof(*tc));
    tc->loop = l;
    tc->kv = kv;
    tc->offsets = offsets;
    tc->ops = *ops;
    tc->sm = txn_coord_new(txns_max, timeout_ms_max);
    tc->id_expiration_ms = TXN_ID_EXPIRATION_MS_DEFAULT;
    tc->expiry_check_ms = loop_mono_ms(l) + TXN_ID_EXPIRY_CHECK_MS;
    struct restore_ctx r = {tc, loop_mono_ms(l), 0};
    kvlog_foreach(kv, restore_one, &r);
    if (r.bad) SL_WARN("transactions: skipped %u malformed entries of %s", r.bad, TXN_STATE_TOPIC);
    uint32_t prepared = 0, ongoing = 0;
    for (uint32_t i = 0; i < txn_count(tc->sm); i++) {
        const struct txn *t = txn_at(tc->sm, i);
        if (t->state == TXN_ONGOING) ongoing++;
        if (t->state != TXN_PREPARE_COMMIT && t->state != TXN_PREPARE_ABORT) continue;
        prepared++;
        txn_coordinator_finish(tc, t->id, NULL);
    }
    if (txn_count(tc->sm))
        SL_INFO("transactions: %u transactional ids restored, %u ongoing, %u being completed", txn_count(tc->sm),
                ongoing, prepared);
    return tc;
}

sl_err txn_coordinator_open(struct txn_coordinator **out, struct loop *l, struct store *st, struct offsets *offsets,
                            const struct txn_marker_ops *ops, uint32_t txns_max, int32_t timeout_ms_max) {
    struct kvlog *kv;
    sl_err e = kvlog_open(&kv, st, TXN_STATE_TOPIC, NULL, loop_now_ms(l));
    if (e) return e;
    *out = txn_coordinator_start(kv, l, offsets, ops, txns_max, timeout_ms_max);
    return SL_OK;
}

sl_err txn_coordinator_open_log(struct txn_coordinator **out, struct loop *l, struct log *g,
                                const struct kvlog_sink *sink, const struct txn_marker_ops *ops, uint32_t txns_max,
                                int32_t timeout_ms_max) {
    struct kvlog *kv;
    sl_err e = kvlog_open_log(&kv, g, sink);
    if (e) return e;
    *out = txn_coordinator_start(kv, l, NULL, ops, txns_max, timeout_ms_max);
    return SL_OK;
}

void txn_coordinator_set_epoch(struct txn_coordinator *tc, int32_t epoch) { tc->epoch = epoch; }

bool txn_coordinator_idle(const struct txn_coordinator *tc) {
    return tc->finishing_count == 0 && !kvlog_writes_pending(tc->kv);
}

static bool txn_idle(void *arg) { return ((struct txn_coordinator *)arg)->finishing_count == 0; }

void txn_coordinator_close(struct txn_coordinator *tc) {
    if (!tc) return;
    if (tc->finishing_count && !loop_run_until(tc->loop, txn_idle, tc, 5000)) {
        /* Markers still in flight point into it: leak rather than free under them. A restart
         * finds these entries in Prepare* and finishes them. */
        SL_WARN("transactions: %u still being completed at shutdown", tc->finishing_count);
        kvlog_close(tc->kv);
        return;
    }
    kvlog_close(tc->kv);
    txn_coord_free(tc->sm);
    free(tc);
}
