/* consumer.c: the JetStream consumer state machine (see consumer.h). Follows nats-server
 * 2.9.10's server/consumer.go: processNextMsgRequest, nextWaiting, processWaiting, getNextMsg,
 * processAckMsg, processNak, processTerm, checkPending, selectStartingSeqNo; where this file
 * departs from it the comment says why.
 *
 * Data structures:
 * - pending: entries {stream_seq, consumer_seq, deadline, deliveries} in an array sorted by
 *   stream_seq, live between phead and plen. A first delivery always has a stream_seq above
 *   every pending one, so it is an append; a settled entry becomes a tombstone (found by binary
 *   search), the head skips tombstones, and a full array is compacted in place before it grows.
 * - redelivery queue: a min-heap of stream_seqs (redeliveries go out in stream order); an
 *   entry's `queued` flag is the truth, heap items whose entry is gone or no longer queued are
 *   dropped when they surface, and the heap is rebuilt when stale items outnumber live ones.
 * - waiting pull requests: an array in service order; a request that got a message and wants
 *   more moves to the back (nats-server's waitQueue.pop), so requests take turns. */
#include "broker/core/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "broker/core/subject.h"

struct pend {
    uint64_t sseq;
    uint64_t cseq;        /* consumer_seq of the latest delivery */
    uint64_t deadline_ms; /* CONSUMER_NO_DEADLINE while queued for redelivery */
    uint32_t deliveries;
    uint8_t dead;
    uint8_t queued;
};

struct wreq {
    void *target;
    int64_t n;           /* messages left in the batch */
    int64_t b;           /* byte budget left; 0: none */
    int64_t d;           /* messages delivered to it */
    uint64_t expires_ms; /* 0: none */
    uint64_t hb_ms;
    uint64_t hb_next_ms; /* 0: no heartbeats */
    bool no_wait;
};

struct consumer {
    struct consumer_config cfg; /* strings point at the copies below */
    char *name, *filter, *dsubj, *dgroup;
    struct consumer_stream_params sp;
    struct consumer_view view;
    struct consumer_ops ops;

    uint64_t dseq;         /* next consumer_seq; delivered.consumer_seq = dseq - 1 */
    uint64_t sseq;         /* next stream_seq to look at; delivered.stream_seq = sseq - 1 */
    uint64_t adflr, asflr; /* ack floor: consumer_seq, stream_seq */
    uint64_t npc;          /* num_pending: matching messages >= sseq */
    uint64_t known_last;   /* the stream's last_seq npc accounts for */
    bool lss_active;       /* deliver last_per_subject: still in the initial skip phase */
    uint64_t lss_resume;   /* ... up to this stream_seq */

    struct pend *pv;
    uint32_t phead, plen, pcap, plive;
    uint64_t num_redelivered;
    uint64_t ack_deadline_ms; /* no unqueued pending deadline is earlier */

    uint64_t *heap;
    uint32_t hlen, hcap, nqueued;

    struct wreq *wv;
    uint32_t wlen, wcap;

    bool push_active;
    int64_t pbytes, maxpb, fcsz;
    uint64_t fc_id, fc_last_id;
    uint64_t push_hb_next_ms;

    uint64_t last_active_ms;
    bool inactive_fired;
    bool dirty;
};

static char *str_dup(const char *s) {
    if (!s || !*s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = sl_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* ns -> ms, rounded up so that a deadline is never early. */
static uint64_t ns_to_ms_ceil(int64_t ns) { return ns <= 0 ? 0 : (uint64_t)((ns + 999999) / 1000000); }

const char *consumer_deliver_policy_name(enum consumer_deliver_policy p) {
    switch (p) {
    case CONSUMER_DELIVER_ALL: return "all";
    case CONSUMER_DELIVER_LAST: return "last";
    case CONSUMER_DELIVER_NEW: return "new";
    case CONSUMER_DELIVER_BY_START_SEQUENCE: return "by_start_sequence";
    case CONSUMER_DELIVER_BY_START_TIME: return "by_start_time";
    case CONSUMER_DELIVER_LAST_PER_SUBJECT: return "last_per_subject";
    }
    return "?";
}

const char *consumer_ack_policy_name(enum consumer_ack_policy p) {
    switch (p) {
    case CONSUMER_ACK_NONE: return "none";
    case CONSUMER_ACK_ALL: return "all";
    case CONSUMER_ACK_EXPLICIT: return "explicit";
    }
    return "?";
}

/* ---- config ---- */

static sl_err cfg_fail(struct consumer_cfg_error *err, int err_code, const char *fmt, const char *a, const char *b) {
    if (err) {
        err->code = 400;
        err->err_code = err_code;
        snprintf(err->description, sizeof err->description, fmt, a ? a : "", b ? b : "");
    }
    return SL_INVALID_CONFIG;
}

static bool str_set(const char *s) { return s && *s; }

sl_err consumer_config_check(struct consumer_config *cfg, const struct consumer_stream_params *sp,
                             struct consumer_cfg_error *err) {
    bool push = str_set(cfg->deliver_subject);
    bool acks = cfg->ack_policy == CONSUMER_ACK_EXPLICIT || cfg->ack_policy == CONSUMER_ACK_ALL;
    /* setConsumerConfigDefaults */
    if (!push && cfg->max_waiting == 0) cfg->max_waiting = CONSUMER_MAX_WAITING_DEFAULT;
    if (cfg->ack_wait_ms == 0 && acks) cfg->ack_wait_ms = CONSUMER_ACK_WAIT_DEFAULT_MS;
    if (cfg->max_deliver == 0) cfg->max_deliver = -1;
    if (cfg->backoff_count > 0 && cfg->backoff_count <= CONSUMER_BACKOFF_MAX) cfg->ack_wait_ms = cfg->backoff_ms[0];
    if (acks && cfg->max_ack_pending == 0) cfg->max_ack_pending = CONSUMER_MAX_ACK_PENDING_DEFAULT;
    /* An ephemeral goes 5 s after its last interest unless told otherwise; 2.9.10 shows it. */
    if (!cfg->durable && cfg->inactive_threshold_ms == 0)
        cfg->inactive_threshold_ms = CONSUMER_INACTIVE_THRESHOLD_DEFAULT_MS;

    /* checkConsumerCfg, in its order */
    if (!str_set(cfg->name)) return cfg_fail(err, 10094, "consumer name is required%s%s", NULL, NULL);
    if (cfg->backoff_count > CONSUMER_BACKOFF_MAX)
        return cfg_fail(err, 10094, "backoff has more than 16 values%s%s", NULL, NULL);
    if (cfg->backoff_count > 0 && cfg->max_deliver <= (int64_t)cfg->backoff_count)
        return cfg_fail(err, 10116, "max deliver is required to be > length of backoff values%s%s", NULL, NULL);
    for (uint32_t i = 0; i < cfg->backoff_count; i++)
        if (cfg->backoff_ms[i] <= 0) return cfg_fail(err, 10094, "backoff values must be positive%s%s", NULL, NULL);
    if (push) {
        if (subject_has_wildcard(cfg->deliver_subject))
            return cfg_fail(err, 10079, "consumer deliver subject has wildcards%s%s", NULL, NULL);
        if (!subject_valid(cfg->deliver_subject))
            return cfg_fail(err, 10112, "invalid push consumer deliver subject%s%s", NULL, NULL);
        if (cfg->max_waiting != 0)
            return cfg_fail(err, 10080, "consumer in push mode can not set max waiting%s%s", NULL, NULL);
        if (cfg->max_ack_pending > 0 && cfg->ack_policy == CONSUMER_ACK_NONE)
            return cfg_fail(err, 10082, "consumer requires ack policy for max ack pending%s%s", NULL, NULL);
        if (cfg->idle_heartbeat_ms > 0 && cfg->idle_heartbeat_ms < 100)
            return cfg_fail(err, 10083, "consumer idle heartbeat needs to be >= 100ms%s%s", NULL, NULL);
    } else {
        if (cfg->ack_policy == CONSUMER_ACK_NONE && sp && sp->retention == CONSUMER_RETENTION_WORKQUEUE)
            return cfg_fail(err, 10084, "consumer in pull mode requires ack policy%s%s", NULL, NULL);
        if (cfg->max_waiting < 0)
            return cfg_fail(err, 10087, "consumer max waiting needs to be positive%s%s", NULL, NULL);
        if (cfg->idle_heartbeat_ms > 0)
            return cfg_fail(err, 10088, "consumer idle heartbeat requires a push based consumer%s%s", NULL, NULL);
        if (cfg->flow_control)
            return cfg_fail(err, 10089, "consumer flow control requires a push based consumer%s%s", NULL, NULL);
    }
    if (str_set(cfg->filter_subject) && !subject_valid(cfg->filter_subject))
        return cfg_fail(err, 10093, "consumer filter subject is not a valid subset of the interest subjects%s%s", NULL,
                        NULL);
    static const char bad_start[] = "consumer delivery policy is deliver %s, but optional start %s is also set";
    static const char not_set[] = "consumer delivery policy is deliver %s, but optional %s is not set";
    bool has_seq = cfg->opt_start_seq > 0, has_time = cfg->opt_start_time_ns != 0;
    switch (cfg->deliver_policy) {
    case CONSUMER_DELIVER_ALL:
    case CONSUMER_DELIVER_LAST:
    case CONSUMER_DELIVER_NEW: {
        const char *dp = cfg->deliver_policy == CONSUMER_DELIVER_ALL    ? "all"
                         : cfg->deliver_policy == CONSUMER_DELIVER_LAST ? "last"
                                                                        : "new";
        if (has_seq) return cfg_fail(err, 10094, bad_start, dp, "sequence");
        if (has_time) return cfg_fail(err, 10094, bad_start, dp, "time");
        break;
    }
    case CONSUMER_DELIVER_LAST_PER_SUBJECT:
        if (has_seq) return cfg_fail(err, 10094, bad_start, "last per subject", "sequence");
        if (has_time) return cfg_fail(err, 10094, bad_start, "last per subject", "time");
        if (!str_set(cfg->filter_subject)) return cfg_fail(err, 10094, not_set, "last per subject", "filter subject");
        break;
    case CONSUMER_DELIVER_BY_START_SEQUENCE:
        if (!has_seq) return cfg_fail(err, 10094, not_set, "by start sequence", "start sequence");
        if (has_time) return cfg_fail(err, 10094, bad_start, "by start sequence", "time");
        break;
    case CONSUMER_DELIVER_BY_START_TIME:
        if (!has_time) return cfg_fail(err, 10094, not_set, "by start time", "start time");
        if (has_seq) return cfg_fail(err, 10094, bad_start, "by start time", "start sequence");
        break;
    }
    if (cfg->flow_control && cfg->idle_heartbeat_ms == 0)
        return cfg_fail(err, 10108, "consumer with flow control also needs heartbeats%s%s", NULL, NULL);
    if (cfg->replay_original)
        return cfg_fail(err, 10094, "replay policy original is not supported%s%s", NULL, NULL);
    return SL_OK;
}

sl_err consumer_check_workqueue(const struct consumer_config *cfg, const char *const *others, uint32_t count,
                                struct consumer_cfg_error *err) {
    if (cfg->ack_policy != CONSUMER_ACK_EXPLICIT)
        return cfg_fail(err, 10098, "workqueue stream requires explicit ack%s%s", NULL, NULL);
    if (count > 0) {
        if (!str_set(cfg->filter_subject))
            return cfg_fail(err, 10099, "multiple non-filtered consumers not allowed on workqueue stream%s%s", NULL,
                            NULL);
        /* stream.partitionUnique: subset either way; 2.9.10 lets "foo.*.bar" and "foo.x.*" both be. */
        for (uint32_t i = 0; i < count; i++) {
            const char *o = others[i];
            if (!str_set(o) || subject_is_subset(cfg->filter_subject, o) || subject_is_subset(o, cfg->filter_subject))
                return cfg_fail(err, 10100, "filtered consumer not unique on workqueue stream%s%s", NULL, NULL);
        }
    }
    if (cfg->deliver_policy != CONSUMER_DELIVER_ALL)
        return cfg_fail(err, 10101, "consumer must be deliver all on workqueue stream%s%s", NULL, NULL);
    return SL_OK;
}

/* ---- the view ---- */

static const char *view_filter(const struct consumer *c) { return c->filter; }

static uint64_t view_count(const struct consumer *c, uint64_t from) {
    if (c->view.count) return c->view.count(c->view.arg, view_filter(c), from);
    uint64_t n = 0;
    for (uint64_t s = c->view.next_seq(c->view.arg, view_filter(c), from); s;
         s = c->view.next_seq(c->view.arg, view_filter(c), s + 1))
        n++;
    return n;
}

static bool filter_matches(const struct consumer *c, const char *subject) {
    return !c->filter || (subject && subject_matches(c->filter, subject));
}

/* ---- pending ---- */

static uint64_t wait_ms(const struct consumer *c, uint32_t deliveries) {
    if (c->cfg.backoff_count > 0) {
        uint32_t i = deliveries > 0 ? deliveries - 1 : 0;
        if (i >= c->cfg.backoff_count) i = c->cfg.backoff_count - 1; /* the last value repeats */
        return (uint64_t)c->cfg.backoff_ms[i];
    }
    return (uint64_t)c->cfg.ack_wait_ms;
}

/* Index of the entry for sseq (live or tombstone) or -1. */
static int64_t pend_find(const struct consumer *c, uint64_t sseq) {
    uint32_t lo = c->phead, hi = c->plen;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->pv[mid].sseq < sseq) lo = mid + 1;
        else hi = mid;
    }
    if (lo < c->plen && c->pv[lo].sseq == sseq) return lo;
    return -1;
}

static int64_t pend_find_live(const struct consumer *c, uint64_t sseq) {
    int64_t i = pend_find(c, sseq);
    return i >= 0 && !c->pv[i].dead ? i : -1;
}

static void pend_compact(struct consumer *c) {
    uint32_t w = 0;
    for (uint32_t r = c->phead; r < c->plen; r++)
        if (!c->pv[r].dead) c->pv[w++] = c->pv[r];
    c->phead = 0;
    c->plen = w;
    SL_ASSERT(w == c->plive);
}

static struct pend *pend_append(struct consumer *c, uint64_t sseq) {
    SL_ASSERT(c->plen == c->phead || c->pv[c->plen - 1].sseq < sseq);
    if (c->plen == c->pcap) {
        /* Compact when at least half is tombstones, else grow: capacity stays within about
         * four times the most entries ever live at once. */
        if (c->pcap > 0 && c->plive <= c->pcap / 2) pend_compact(c);
        if (c->plen == c->pcap) {
            c->pcap = c->pcap ? c->pcap * 2 : 16;
            c->pv = sl_xrealloc(c->pv, (size_t)c->pcap * sizeof *c->pv);
        }
    }
    struct pend *p = &c->pv[c->plen++];
    memset(p, 0, sizeof *p);
    p->sseq = sseq;
    c->plive++;
    return p;
}

static void pend_kill(struct consumer *c, uint32_t i) {
    struct pend *p = &c->pv[i];
    SL_ASSERT(!p->dead);
    p->dead = 1;
    c->plive--;
    if (p->deliveries > 1) c->num_redelivered--;
    if (p->queued) {
        p->queued = 0;
        c->nqueued--;
    }
    while (c->phead < c->plen && c->pv[c->phead].dead) c->phead++;
    if (c->plive == 0) c->phead = c->plen = 0;
}

/* First live entry with sseq > after, or -1. */
static int64_t pend_next_live(const struct consumer *c, uint64_t after) {
    uint32_t lo = c->phead, hi = c->plen;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->pv[mid].sseq <= after) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < c->plen; lo++)
        if (!c->pv[lo].dead) return lo;
    return -1;
}

/* ---- redelivery heap ---- */

static void heap_push(struct consumer *c, uint64_t s) {
    if (c->hlen == c->hcap) {
        c->hcap = c->hcap ? c->hcap * 2 : 16;
        c->heap = sl_xrealloc(c->heap, (size_t)c->hcap * sizeof *c->heap);
    }
    uint32_t i = c->hlen++;
    while (i > 0) {
        uint32_t up = (i - 1) / 2;
        if (c->heap[up] <= s) break;
        c->heap[i] = c->heap[up];
        i = up;
    }
    c->heap[i] = s;
}

static void heap_pop(struct consumer *c) {
    SL_ASSERT(c->hlen > 0);
    uint64_t s = c->heap[--c->hlen];
    uint32_t i = 0, n = c->hlen;
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        uint64_t v = s;
        if (l < n && c->heap[l] < v) m = l, v = c->heap[l];
        if (l + 1 < n && c->heap[l + 1] < v) m = l + 1;
        if (m == i) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n > 0) c->heap[i] = s;
}

/* Stale items (settled or requeued entries) outnumber live ones: rebuild from the flags. The
 * pending array is sorted, so its queued sequences in order already form a min-heap. */
static void heap_rebuild(struct consumer *c) {
    c->hlen = 0;
    for (uint32_t i = c->phead; i < c->plen; i++)
        if (!c->pv[i].dead && c->pv[i].queued) c->heap[c->hlen++] = c->pv[i].sseq;
    SL_ASSERT(c->hlen == c->nqueued);
}

static void pend_queue(struct consumer *c, uint32_t i) {
    struct pend *p = &c->pv[i];
    if (p->queued) return;
    p->queued = 1;
    p->deadline_ms = CONSUMER_NO_DEADLINE;
    c->nqueued++;
    if (c->hlen >= 2 * c->nqueued + 64) heap_rebuild(c);
    else heap_push(c, p->sseq);
}

static void pend_unqueue(struct consumer *c, uint32_t i) {
    if (!c->pv[i].queued) return;
    c->pv[i].queued = 0;
    c->nqueued--;
}

/* The lowest queued entry, or -1; drops stale heap items on the way. */
static int64_t redelivery_peek(struct consumer *c) {
    while (c->hlen > 0) {
        int64_t i = pend_find_live(c, c->heap[0]);
        if (i >= 0 && c->pv[i].queued) return i;
        heap_pop(c);
    }
    return -1;
}

/* ---- actions ---- */

static void emit_remove(struct consumer *c, uint64_t sseq) {
    if (c->sp.retention != CONSUMER_RETENTION_LIMITS && c->ops.remove) c->ops.remove(c->ops.arg, sseq);
}

static void emit_status(struct consumer *c, void *target, int code, const char *text) {
    struct consumer_status s = {.target = target, .code = code, .text = text};
    if (c->ops.status) c->ops.status(c->ops.arg, &s);
}

static void emit_status_pending(struct consumer *c, const struct wreq *w, int code, const char *text) {
    struct consumer_status s = {.target = w->target, .code = code, .text = text, .has_pending = true,
                                .pending_msgs = w->n, .pending_bytes = w->b};
    if (c->ops.status) c->ops.status(c->ops.arg, &s);
}

static void emit_heartbeat(struct consumer *c, void *target) {
    struct consumer_status s = {.target = target, .code = 100, .text = "Idle Heartbeat", .has_last = true,
                                .last_consumer_seq = c->dseq - 1, .last_stream_seq = c->sseq - 1,
                                .stalled_fc_id = target ? 0 : c->fc_id};
    if (c->ops.status) c->ops.status(c->ops.arg, &s);
}

/* The ack floor after pending entry (dseq, sseq) was settled (processAckMsg, AckExplicit). */
static void floor_after_settle(struct consumer *c, uint64_t dseq, uint64_t sseq) {
    if (c->plive == 0) {
        c->adflr = c->dseq - 1;
        c->asflr = c->sseq - 1;
    } else if (dseq == c->adflr + 1) {
        c->adflr = dseq;
        c->asflr = sseq;
        int64_t j = pend_next_live(c, sseq);
        if (j >= 0 && c->pv[j].cseq > 0) {
            c->adflr = c->pv[j].cseq - 1;
            c->asflr = c->pv[j].sseq - 1;
        }
    }
}

/* Settles pending entry i as acked: tombstone, floor, retention. */
static void settle(struct consumer *c, uint32_t i) {
    uint64_t dseq = c->pv[i].cseq, sseq = c->pv[i].sseq;
    pend_kill(c, i);
    floor_after_settle(c, dseq, sseq);
    c->dirty = true;
    emit_remove(c, sseq);
}

/* ---- picking the next message (nats-server getNextMsg) ---- */

enum cand_kind { CAND_NONE, CAND_REDELIVER, CAND_NEW };

struct cand {
    enum cand_kind kind;
    uint64_t sseq;
    uint32_t bytes;
    int64_t ts_ns;
    bool stalled; /* CAND_NONE because of max_ack_pending */
};

/* MaxDeliver exceeded on a redelivery attempt: advisory once (the entry leaves pending, so it
 * cannot be attempted again), the native DLQ when configured. nats-server drops the entry from
 * pending without moving the ack floor; here it is settled like an ack (the floor moves past
 * it), and the message is removed from the stream only when it went to the DLQ. */
static void max_deliveries_reached(struct consumer *c, uint32_t i) {
    struct pend *p = &c->pv[i];
    uint64_t sseq = p->sseq, dseq = p->cseq, dc = p->deliveries;
    if (c->ops.advisory) c->ops.advisory(c->ops.arg, CONSUMER_ADVISORY_MAX_DELIVERIES, sseq, dseq, dc);
    pend_kill(c, i);
    floor_after_settle(c, dseq, sseq);
    c->dirty = true;
    if (c->sp.dead_letter) {
        if (c->ops.dead_letter) c->ops.dead_letter(c->ops.arg, sseq, dc, "max_deliveries", NULL);
        emit_remove(c, sseq);
    }
}

static bool cand_meta(struct consumer *c, uint64_t sseq, struct cand *out) {
    struct consumer_msg_meta m = {0};
    if (!c->view.msg_meta(c->view.arg, sseq, &m)) return false;
    out->sseq = sseq;
    out->bytes = m.bytes;
    out->ts_ns = m.ts_ns;
    return true;
}

/* Peeks the next message to deliver without committing to it, except for what is final anyway:
 * entries past max_deliver, entries whose message is gone, and skipped sequences. */
static void next_candidate(struct consumer *c, struct cand *out) {
    memset(out, 0, sizeof *out);
    for (int64_t i; (i = redelivery_peek(c)) >= 0;) {
        struct pend *p = &c->pv[i];
        if (c->cfg.max_deliver > 0 && (int64_t)p->deliveries >= c->cfg.max_deliver) {
            heap_pop(c);
            max_deliveries_reached(c, (uint32_t)i);
            continue;
        }
        if (!cand_meta(c, p->sseq, out)) { /* gone from the stream: nothing to redeliver */
            heap_pop(c);
            uint64_t dseq = p->cseq, sseq = p->sseq;
            pend_kill(c, (uint32_t)i);
            floor_after_settle(c, dseq, sseq);
            c->dirty = true;
            continue;
        }
        out->kind = CAND_REDELIVER;
        return;
    }
    if (c->cfg.ack_policy != CONSUMER_ACK_NONE && c->cfg.max_ack_pending > 0 &&
        (int64_t)c->plive >= c->cfg.max_ack_pending) {
        out->stalled = true;
        return;
    }
    for (;;) {
        uint64_t s = c->view.next_seq(c->view.arg, view_filter(c), c->sseq);
        if (s == 0) {
            /* nats-server moves its start past the stream's end at EOF (filestore LoadNextMsg
             * returns the last sequence), which CONSUMER.INFO shows as delivered.stream_seq. */
            uint64_t last = c->view.last_seq(c->view.arg);
            if (last + 1 > c->sseq) c->sseq = last + 1;
            if (c->lss_active && c->sseq > c->lss_resume) c->lss_active = false;
            return;
        }
        SL_ASSERT(s >= c->sseq);
        if (c->lss_active && s > c->lss_resume) c->lss_active = false;
        struct consumer_msg_meta m = {0};
        if (!c->view.msg_meta(c->view.arg, s, &m)) {
            c->sseq = s + 1;
            continue;
        }
        if (c->lss_active && c->view.last_seq_for_subject(c->view.arg, m.subject) != s) {
            c->sseq = s + 1; /* not the last of its subject: deliver last_per_subject skips it */
            continue;
        }
        out->kind = CAND_NEW;
        out->sseq = s;
        out->bytes = m.bytes;
        out->ts_ns = m.ts_ns;
        return;
    }
}

static void commit_delivery(struct consumer *c, const struct cand *k, void *target, uint64_t now_ms) {
    uint64_t cseq = c->dseq++;
    uint64_t dc;
    if (k->kind == CAND_NEW) {
        c->sseq = k->sseq + 1;
        if (c->npc > 0) c->npc--;
        dc = 1;
        if (c->cfg.ack_policy != CONSUMER_ACK_NONE) {
            struct pend *p = pend_append(c, k->sseq);
            p->cseq = cseq;
            p->deliveries = 1;
            p->deadline_ms = now_ms + wait_ms(c, 1);
            c->ack_deadline_ms = min_u64(c->ack_deadline_ms, p->deadline_ms);
        } else {
            c->adflr = cseq;
            c->asflr = k->sseq;
        }
    } else {
        int64_t i = pend_find_live(c, k->sseq);
        SL_ASSERT(i >= 0 && c->pv[i].queued && c->heap[0] == k->sseq);
        heap_pop(c);
        struct pend *p = &c->pv[i];
        pend_unqueue(c, (uint32_t)i);
        p->deliveries++;
        if (p->deliveries == 2) c->num_redelivered++;
        p->cseq = cseq;
        p->deadline_ms = now_ms + wait_ms(c, p->deliveries);
        c->ack_deadline_ms = min_u64(c->ack_deadline_ms, p->deadline_ms);
        dc = p->deliveries;
    }
    c->dirty = true;
    c->last_active_ms = now_ms;
    struct consumer_delivery d = {.target = target, .stream_seq = k->sseq, .consumer_seq = cseq,
                                  .deliveries = dc, .pending = c->npc, .ts_ns = k->ts_ns};
    if (c->ops.deliver) c->ops.deliver(c->ops.arg, &d);
    if (k->kind == CAND_NEW && c->cfg.ack_policy == CONSUMER_ACK_NONE) emit_remove(c, k->sseq);
}

/* ---- waiting requests ---- */

static void wreq_remove(struct consumer *c, uint32_t i) {
    void *target = c->wv[i].target;
    memmove(&c->wv[i], &c->wv[i + 1], (size_t)(c->wlen - i - 1) * sizeof *c->wv);
    c->wlen--;
    if (c->ops.release) c->ops.release(c->ops.arg, target);
}

static bool wreq_interest(const struct consumer *c, const struct wreq *w) {
    return !c->ops.interest || c->ops.interest(c->ops.arg, w->target);
}

/* processWaiting: ends expired requests (and, at the end of the stream, no_wait ones that got
 * something) with 408, sends due heartbeats. Returns the batch left over all requests. */
static int64_t process_waiting(struct consumer *c, uint64_t now_ms, bool eos) {
    int64_t brp = 0;
    for (uint32_t i = 0; i < c->wlen;) {
        struct wreq *w = &c->wv[i];
        if ((eos && w->no_wait && w->d > 0) || (w->expires_ms && now_ms >= w->expires_ms)) {
            emit_status_pending(c, w, 408, "Request Timeout");
            wreq_remove(c, i);
            continue;
        }
        if (!wreq_interest(c, w)) {
            wreq_remove(c, i);
            continue;
        }
        brp += w->n;
        if (w->hb_next_ms && now_ms >= w->hb_next_ms) {
            emit_heartbeat(c, w->target);
            w->hb_next_ms = now_ms + w->hb_ms;
        }
        i++;
    }
    return brp;
}

static void pump_pull(struct consumer *c, uint64_t now_ms) {
    process_waiting(c, now_ms, false);
    struct cand k = {0};
    while (c->wlen > 0) {
        next_candidate(c, &k);
        if (k.kind == CAND_NONE) break;
        /* nextWaiting: a request whose byte budget this message exceeds ends with 409. */
        struct wreq *w = NULL;
        while (c->wlen > 0) {
            struct wreq *h = &c->wv[0];
            if (!wreq_interest(c, h)) { /* nextWaiting: the requester went away */
                wreq_remove(c, 0);
                continue;
            }
            if (h->b > 0) {
                if ((int64_t)k.bytes <= h->b) {
                    h->b -= k.bytes;
                    if (h->b == 0) h->n = 1; /* deliver this one, then stop */
                } else {
                    emit_status_pending(c, h, 409, "Message Size Exceeds MaxBytes");
                    wreq_remove(c, 0);
                    continue;
                }
            }
            w = h;
            break;
        }
        if (!w) break;
        void *target = w->target;
        w->d++;
        w->n--;
        if (w->n <= 0) {
            struct wreq done = *w;
            memmove(&c->wv[0], &c->wv[1], (size_t)(c->wlen - 1) * sizeof *c->wv);
            c->wlen--;
            commit_delivery(c, &k, target, now_ms);
            if (c->ops.release) c->ops.release(c->ops.arg, done.target);
        } else {
            if (w->hb_ms) w->hb_next_ms = now_ms + w->hb_ms;
            if (c->wlen > 1) { /* take turns: to the back of the line */
                struct wreq moved = *w;
                memmove(&c->wv[0], &c->wv[1], (size_t)(c->wlen - 1) * sizeof *c->wv);
                c->wv[c->wlen - 1] = moved;
            }
            commit_delivery(c, &k, target, now_ms);
        }
    }
    /* Do not end no_wait requests that wait only because of max_ack_pending (loopAndGatherMsgs). */
    if (c->wlen > 0) process_waiting(c, now_ms, !k.stalled);
}

static bool push_flow_blocked(const struct consumer *c) { return c->maxpb > 0 && c->pbytes > c->maxpb; }

static void pump_push(struct consumer *c, uint64_t now_ms) {
    /* Nobody on the deliver subject any more: nats-server stops delivering (updateDeliveryInterest)
     * rather than send into the void; the wiring turns it back on (consumer_push_set_active). */
    if (c->push_active && c->ops.interest && !c->ops.interest(c->ops.arg, NULL)) {
        c->push_active = false;
        c->last_active_ms = now_ms;
    }
    while (c->push_active && !push_flow_blocked(c)) {
        struct cand k;
        next_candidate(c, &k);
        if (k.kind == CAND_NONE) break;
        commit_delivery(c, &k, NULL, now_ms);
        if (c->cfg.idle_heartbeat_ms > 0) c->push_hb_next_ms = now_ms + (uint64_t)c->cfg.idle_heartbeat_ms;
        if (c->maxpb > 0) {
            c->pbytes += k.bytes;
            /* needFlowControl: ask past half the window; grow the outstanding request's share. */
            if (c->fc_id == 0 && c->pbytes > c->maxpb / 2) {
                c->fc_id = ++c->fc_last_id;
                c->fcsz = c->pbytes;
                struct consumer_status s = {.target = NULL, .code = 100, .text = "FlowControl Request",
                                            .fc_id = c->fc_id};
                if (c->ops.status) c->ops.status(c->ops.arg, &s);
            } else if (c->fc_id != 0 && c->pbytes - c->fcsz >= c->maxpb) {
                c->fcsz += k.bytes;
            }
        }
    }
}

static void pump(struct consumer *c, uint64_t now_ms) {
    if (c->dsubj) pump_push(c, now_ms);
    else pump_pull(c, now_ms);
}

/* ---- lifecycle ---- */

static uint64_t start_seq(struct consumer *c) {
    uint64_t first = c->view.first_seq(c->view.arg), last = c->view.last_seq(c->view.arg);
    uint64_t s = 0;
    switch (c->cfg.deliver_policy) {
    case CONSUMER_DELIVER_ALL: s = first; break;
    case CONSUMER_DELIVER_LAST:
        s = last;
        if (c->filter) { /* the last message matching the filter */
            if (!subject_has_wildcard(c->filter)) {
                s = c->view.last_seq_for_subject(c->view.arg, c->filter);
            } else {
                s = 0;
                for (uint64_t q = c->view.next_seq(c->view.arg, c->filter, first); q;
                     q = c->view.next_seq(c->view.arg, c->filter, q + 1))
                    s = q;
            }
        }
        break;
    case CONSUMER_DELIVER_LAST_PER_SUBJECT:
        c->lss_active = true;
        c->lss_resume = last;
        s = first;
        break;
    case CONSUMER_DELIVER_BY_START_TIME: s = c->view.seq_for_time(c->view.arg, c->cfg.opt_start_time_ns); break;
    case CONSUMER_DELIVER_NEW: s = last + 1; break;
    case CONSUMER_DELIVER_BY_START_SEQUENCE: s = c->cfg.opt_start_seq; break;
    }
    if (first == 0) s = 1;
    else if (s < first) s = first;
    else if (s > last) s = last + 1;
    return s;
}

static void recount_pending(struct consumer *c) {
    c->known_last = c->view.last_seq(c->view.arg);
    if (!c->lss_active) {
        c->npc = view_count(c, c->sseq);
        return;
    }
    /* last_per_subject: the last message of each subject up to the resume point, then all. */
    uint64_t n = 0;
    for (uint64_t s = c->view.next_seq(c->view.arg, c->filter, c->sseq); s && s <= c->lss_resume;
         s = c->view.next_seq(c->view.arg, c->filter, s + 1)) {
        struct consumer_msg_meta m = {0};
        if (c->view.msg_meta(c->view.arg, s, &m) && c->view.last_seq_for_subject(c->view.arg, m.subject) == s) n++;
    }
    c->npc = n + (c->known_last > c->lss_resume ? view_count(c, c->lss_resume + 1) : 0);
}

struct consumer *consumer_new(const struct consumer_config *cfg, const struct consumer_stream_params *sp,
                              const struct consumer_view *view, const struct consumer_ops *ops, uint64_t now_ms) {
    SL_ASSERT(view && view->next_seq && view->exists && view->first_seq && view->last_seq && view->msg_meta &&
              view->seq_for_time && view->last_seq_for_subject);
    struct consumer *c = sl_xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    c->name = str_dup(cfg->name);
    c->filter = str_dup(cfg->filter_subject);
    c->dsubj = str_dup(cfg->deliver_subject);
    c->dgroup = str_dup(cfg->deliver_group);
    c->cfg.name = c->name;
    c->cfg.filter_subject = c->filter;
    c->cfg.deliver_subject = c->dsubj;
    c->cfg.deliver_group = c->dgroup;
    if (sp) c->sp = *sp;
    c->view = *view;
    if (ops) c->ops = *ops;
    c->ack_deadline_ms = CONSUMER_NO_DEADLINE;
    c->last_active_ms = now_ms;
    if (c->dsubj && c->cfg.flow_control) c->maxpb = CONSUMER_FLOW_CONTROL_MAX_BYTES / 16; /* slow start */
    c->sseq = start_seq(c);
    c->dseq = 1;
    c->adflr = 0;
    c->asflr = c->sseq - 1;
    recount_pending(c);
    return c;
}

void consumer_free(struct consumer *c) {
    if (!c) return;
    while (c->wlen > 0) wreq_remove(c, c->wlen - 1);
    free(c->wv);
    free(c->pv);
    free(c->heap);
    free(c->name);
    free(c->filter);
    free(c->dsubj);
    free(c->dgroup);
    free(c);
}

void consumer_deleted(struct consumer *c) {
    while (c->wlen > 0) {
        emit_status(c, c->wv[0].target, 409, "Consumer Deleted");
        wreq_remove(c, 0);
    }
}

const struct consumer_config *consumer_config(const struct consumer *c) { return &c->cfg; }
bool consumer_is_push(const struct consumer *c) { return c->dsubj != NULL; }
bool consumer_push_active(const struct consumer *c) { return c->dsubj != NULL && c->push_active; }

/* ---- events ---- */

bool consumer_pull(struct consumer *c, const struct consumer_pull_req *req, uint64_t now_ms) {
    if (c->dsubj) {
        emit_status(c, req->target, 409, "Consumer is push based");
        return false;
    }
    /* nextReqFromMsg: a heartbeat needs an expiry at least twice as long. */
    if (req->idle_heartbeat_ns > 0 && req->idle_heartbeat_ns * 2 > req->expires_ns) {
        emit_status(c, req->target, 400, "Bad Request - heartbeat value too large");
        return false;
    }
    if ((int64_t)c->wlen >= c->cfg.max_waiting) process_waiting(c, now_ms, false);
    if (req->no_wait) {
        uint64_t msgs_pending = c->npc + c->nqueued;
        if (msgs_pending == 0 && req->expires_ns <= 0) {
            c->last_active_ms = now_ms;
            emit_status(c, req->target, 404, "No Messages");
            return false;
        }
        if (msgs_pending > 0) {
            int64_t brp = process_waiting(c, now_ms, false);
            if ((int64_t)msgs_pending < brp) {
                c->last_active_ms = now_ms;
                emit_status(c, req->target, 408, "Requests Pending");
                return false;
            }
        }
        /* With messages pending or an expiry: one-shot, ends (408) once the stream runs dry
         * after at least one delivery, or at expiry. */
    }
    if ((int64_t)c->wlen >= c->cfg.max_waiting) {
        emit_status(c, req->target, 409, "Exceeded MaxWaiting");
        return false;
    }
    if (c->wlen == c->wcap) {
        c->wcap = c->wcap ? c->wcap * 2 : 4;
        if ((int64_t)c->wcap > c->cfg.max_waiting) c->wcap = (uint32_t)c->cfg.max_waiting;
        c->wv = sl_xrealloc(c->wv, (size_t)c->wcap * sizeof *c->wv);
    }
    struct wreq *w = &c->wv[c->wlen++];
    memset(w, 0, sizeof *w);
    w->target = req->target;
    w->n = req->batch > 0 ? req->batch : 1;
    w->b = req->max_bytes > 0 ? req->max_bytes : 0;
    w->no_wait = req->no_wait;
    if (req->expires_ns > 0) w->expires_ms = now_ms + ns_to_ms_ceil(req->expires_ns);
    if (req->idle_heartbeat_ns > 0) {
        w->hb_ms = ns_to_ms_ceil(req->idle_heartbeat_ns);
        w->hb_next_ms = now_ms + w->hb_ms;
    }
    c->last_active_ms = now_ms;
    c->inactive_fired = false;
    pump(c, now_ms);
    return true;
}

void consumer_interest_gone(struct consumer *c, void *target, uint64_t now_ms) {
    for (uint32_t i = 0; i < c->wlen; i++) {
        if (c->wv[i].target == target) {
            wreq_remove(c, i);
            if (c->wlen == 0) c->last_active_ms = now_ms;
            return;
        }
    }
}

void consumer_check_waiting(struct consumer *c, uint64_t now_ms) {
    uint32_t before = c->wlen;
    process_waiting(c, now_ms, false);
    if (before > 0 && c->wlen == 0) c->last_active_ms = now_ms;
}

/* processAckMsg. Returns whether anything was settled. */
static bool ack_msg(struct consumer *c, uint64_t sseq, uint64_t cseq) {
    switch (c->cfg.ack_policy) {
    case CONSUMER_ACK_NONE: return false;
    case CONSUMER_ACK_EXPLICIT: {
        int64_t i = pend_find_live(c, sseq);
        if (i < 0) return false;
        settle(c, (uint32_t)i);
        return true;
    }
    case CONSUMER_ACK_ALL: {
        /* Everything up to sseq. Unlike nats-server, an ack beyond what was delivered is
         * ignored rather than moving the floor past undelivered messages. */
        if (cseq <= c->adflr || sseq <= c->asflr || sseq >= c->sseq || cseq >= c->dseq) return false;
        c->adflr = cseq;
        c->asflr = sseq;
        while (c->plive > 0 && c->pv[c->phead].sseq <= sseq) {
            uint64_t s = c->pv[c->phead].sseq;
            pend_kill(c, c->phead);
            emit_remove(c, s);
        }
        if (c->plive == 0) {
            c->adflr = c->dseq - 1;
            c->asflr = c->sseq - 1;
        }
        c->dirty = true;
        return true;
    }
    }
    return false;
}

void consumer_ack(struct consumer *c, enum consumer_ack_kind kind, uint64_t stream_seq, uint64_t consumer_seq,
                  uint64_t deliveries, int64_t delay_ms, const char *text, uint64_t now_ms) {
    switch (kind) {
    case CONSUMER_ACK:
        if (!ack_msg(c, stream_seq, consumer_seq)) return;
        break;
    case CONSUMER_NAK: {
        if (consumer_seq <= c->adflr || consumer_seq >= c->dseq) return; /* out of range */
        int64_t i = pend_find_live(c, stream_seq);
        if (i < 0) return;
        if (c->ops.advisory)
            c->ops.advisory(c->ops.arg, CONSUMER_ADVISORY_NAKED, stream_seq, consumer_seq, deliveries);
        if (delay_ms >= 0) {
            pend_unqueue(c, (uint32_t)i);
            c->pv[i].deadline_ms = now_ms + (uint64_t)delay_ms;
            c->ack_deadline_ms = min_u64(c->ack_deadline_ms, c->pv[i].deadline_ms);
        } else {
            pend_queue(c, (uint32_t)i);
        }
        break;
    }
    case CONSUMER_PROGRESS: {
        int64_t i = pend_find_live(c, stream_seq);
        if (i < 0 || c->pv[i].queued) return;
        c->pv[i].deadline_ms = now_ms + wait_ms(c, c->pv[i].deliveries);
        return; /* deadlines only ever move later here: the cached lower bound stays valid */
    }
    case CONSUMER_TERM: {
        int64_t i = c->cfg.ack_policy == CONSUMER_ACK_NONE ? -1 : pend_find_live(c, stream_seq);
        if (i >= 0 && c->sp.dead_letter && c->ops.dead_letter)
            c->ops.dead_letter(c->ops.arg, stream_seq, c->pv[i].deliveries, "terminated", text);
        ack_msg(c, stream_seq, consumer_seq);
        /* processTerm sends the advisory whether or not the message was still pending. */
        if (c->ops.advisory)
            c->ops.advisory(c->ops.arg, CONSUMER_ADVISORY_TERMINATED, stream_seq, consumer_seq, deliveries);
        break;
    }
    }
    pump(c, now_ms);
}

void consumer_stream_appended(struct consumer *c, uint64_t last_seq, uint64_t now_ms) {
    if (last_seq > c->known_last) {
        uint64_t from = c->known_last + 1 > c->sseq ? c->known_last + 1 : c->sseq;
        if (last_seq >= from) c->npc += view_count(c, from);
        c->known_last = last_seq;
    }
    pump(c, now_ms);
}

void consumer_stream_removed(struct consumer *c, uint64_t stream_seq, const char *subject, uint64_t now_ms) {
    int64_t i = pend_find_live(c, stream_seq);
    if (i >= 0) {
        uint64_t dseq = c->pv[i].cseq;
        pend_kill(c, (uint32_t)i);
        floor_after_settle(c, dseq, stream_seq);
        c->dirty = true;
    } else if (stream_seq >= c->sseq && stream_seq <= c->known_last && filter_matches(c, subject) && c->npc > 0) {
        c->npc--;
    }
    pump(c, now_ms);
}

void consumer_stream_resync(struct consumer *c, uint64_t now_ms) {
    for (uint32_t i = c->phead; i < c->plen; i++) {
        if (c->pv[i].dead || c->view.exists(c->view.arg, c->pv[i].sseq)) continue;
        uint64_t dseq = c->pv[i].cseq, sseq = c->pv[i].sseq;
        pend_kill(c, i);
        floor_after_settle(c, dseq, sseq);
        c->dirty = true;
        if (c->plen == 0) break;
    }
    recount_pending(c);
    pump(c, now_ms);
}

void consumer_stream_purged(struct consumer *c, uint64_t now_ms) {
    uint64_t first = c->view.first_seq(c->view.arg);
    if (first > c->sseq) c->sseq = first;
    if (first > 0 && c->asflr < first - 1) {
        c->asflr = first - 1;
        /* Pending entries below the new floor go; the consumer floor follows the latest of
         * them (nats-server does not go back to look for gaps either). */
        while (c->plive > 0 && c->pv[c->phead].sseq <= c->asflr) {
            if (c->pv[c->phead].cseq > c->adflr) c->adflr = c->pv[c->phead].cseq;
            pend_kill(c, c->phead);
        }
        if (c->adflr >= c->dseq) c->dseq = c->adflr + 1;
        c->dirty = true;
    }
    consumer_stream_resync(c, now_ms);
}

static void expire_pending(struct consumer *c, uint64_t now_ms) {
    if (now_ms < c->ack_deadline_ms) return;
    uint64_t next = CONSUMER_NO_DEADLINE;
    /* checkPending: every pending entry is reviewed (deadlines move with +WPI and -NAK delays);
     * this runs once per earliest deadline, not per tick. Queued in stream order. */
    for (uint32_t i = c->phead; i < c->plen; i++) {
        struct pend *p = &c->pv[i];
        if (p->dead || p->queued) continue;
        if (p->deadline_ms <= now_ms) pend_queue(c, i);
        else next = min_u64(next, p->deadline_ms);
    }
    c->ack_deadline_ms = next;
}

void consumer_tick(struct consumer *c, uint64_t now_ms) {
    expire_pending(c, now_ms);
    if (c->dsubj) {
        if (c->cfg.idle_heartbeat_ms > 0 && c->push_active && now_ms >= c->push_hb_next_ms) {
            emit_heartbeat(c, NULL);
            c->push_hb_next_ms = now_ms + (uint64_t)c->cfg.idle_heartbeat_ms;
        }
    }
    pump(c, now_ms); /* pull: process_waiting runs first, then deliveries */
    bool idle = c->dsubj ? !c->push_active : c->wlen == 0;
    if (!c->cfg.durable && c->cfg.inactive_threshold_ms > 0 && idle && !c->inactive_fired &&
        now_ms >= c->last_active_ms + (uint64_t)c->cfg.inactive_threshold_ms) {
        c->inactive_fired = true;
        if (c->ops.inactive) c->ops.inactive(c->ops.arg);
    }
}

uint64_t consumer_next_deadline_ms(const struct consumer *c) {
    uint64_t d = c->ack_deadline_ms;
    for (uint32_t i = 0; i < c->wlen; i++) {
        if (c->wv[i].expires_ms) d = min_u64(d, c->wv[i].expires_ms);
        if (c->wv[i].hb_next_ms) d = min_u64(d, c->wv[i].hb_next_ms);
    }
    if (c->dsubj && c->push_active && c->cfg.idle_heartbeat_ms > 0) d = min_u64(d, c->push_hb_next_ms);
    bool idle = c->dsubj ? !c->push_active : c->wlen == 0;
    if (!c->cfg.durable && c->cfg.inactive_threshold_ms > 0 && idle && !c->inactive_fired)
        d = min_u64(d, c->last_active_ms + (uint64_t)c->cfg.inactive_threshold_ms);
    return d;
}

void consumer_push_set_active(struct consumer *c, bool active, uint64_t now_ms) {
    if (!c->dsubj || c->push_active == active) return;
    c->push_active = active;
    c->last_active_ms = now_ms;
    if (active) {
        c->inactive_fired = false;
        if (c->cfg.idle_heartbeat_ms > 0) c->push_hb_next_ms = now_ms + (uint64_t)c->cfg.idle_heartbeat_ms;
    }
    pump(c, now_ms);
}

static void str_replace(char **slot, const char *s) {
    char *d = str_dup(s);
    free(*slot);
    *slot = d;
}

void consumer_update(struct consumer *c, const struct consumer_config *cfg, uint64_t now_ms) {
    SL_ASSERT(c->cfg.deliver_policy == cfg->deliver_policy && c->cfg.ack_policy == cfg->ack_policy);
    SL_ASSERT((c->dsubj != NULL) == (cfg->deliver_subject && *cfg->deliver_subject));
    bool refilter = !sl_streq_opt(c->filter, cfg->filter_subject);
    c->cfg.ack_wait_ms = cfg->ack_wait_ms;
    memcpy(c->cfg.backoff_ms, cfg->backoff_ms, sizeof(c->cfg.backoff_ms));
    c->cfg.backoff_count = cfg->backoff_count;
    c->cfg.max_deliver = cfg->max_deliver;
    c->cfg.max_ack_pending = cfg->max_ack_pending;
    c->cfg.inactive_threshold_ms = cfg->inactive_threshold_ms;
    str_replace(&c->filter, cfg->filter_subject);
    str_replace(&c->dsubj, cfg->deliver_subject);
    str_replace(&c->dgroup, cfg->deliver_group);
    c->cfg.filter_subject = c->filter;
    c->cfg.deliver_subject = c->dsubj;
    c->cfg.deliver_group = c->dgroup;
    /* Delivered messages the new filter no longer matches stay pending until acked or
     * redelivered, as on nats-server; what is counted ahead follows the new filter. */
    if (refilter) recount_pending(c);
    c->last_active_ms = now_ms;
    pump(c, now_ms);
}

void consumer_flow_control_ack(struct consumer *c, uint64_t fc_id, uint64_t now_ms) {
    if (fc_id == 0 || fc_id != c->fc_id) return; /* only the latest request counts */
    if (c->maxpb < CONSUMER_FLOW_CONTROL_MAX_BYTES) {
        c->maxpb *= 2;
        if (c->maxpb > CONSUMER_FLOW_CONTROL_MAX_BYTES) c->maxpb = CONSUMER_FLOW_CONTROL_MAX_BYTES;
    }
    c->pbytes -= c->fcsz;
    if (c->pbytes < 0) c->pbytes = 0;
    c->fc_id = 0;
    c->fcsz = 0;
    pump(c, now_ms);
}

bool consumer_acked(const struct consumer *c, uint64_t stream_seq, const char *subject) {
    if (!filter_matches(c, subject)) return true;
    if (stream_seq <= c->asflr) return true;
    if (c->cfg.ack_policy != CONSUMER_ACK_EXPLICIT) return false;
    if (stream_seq >= c->sseq) return false;
    return pend_find_live(c, stream_seq) < 0;
}

void consumer_info(const struct consumer *c, struct consumer_info *out) {
    out->delivered_consumer_seq = c->dseq - 1;
    out->delivered_stream_seq = c->sseq - 1;
    out->ack_floor_consumer_seq = c->adflr;
    out->ack_floor_stream_seq = c->asflr;
    out->num_ack_pending = c->plive;
    out->num_redelivered = c->num_redelivered;
    out->num_waiting = c->wlen;
    out->num_pending = c->npc;
}

size_t consumer_memory_bytes(const struct consumer *c) {
    size_t n = sizeof *c + (size_t)c->pcap * sizeof *c->pv + (size_t)c->hcap * sizeof *c->heap +
               (size_t)c->wcap * sizeof *c->wv;
    const char *strs[] = {c->name, c->filter, c->dsubj, c->dgroup};
    for (size_t i = 0; i < 4; i++)
        if (strs[i]) n += strlen(strs[i]) + 1;
    return n;
}

/* ---- durable state ----
 * Record: u8 version (1), then unsigned LEB128 varints: next consumer_seq, next stream_seq, ack
 * floor consumer_seq, ack floor stream_seq, last_per_subject resume point (0: none), pending
 * count, and per pending entry in stream order: stream_seq minus the previous one (the first
 * from the ack floor), next consumer_seq minus its consumer_seq, deliveries. */

#define STATE_VERSION 1

bool consumer_is_dirty(const struct consumer *c) { return c->dirty; }

bool consumer_take_dirty(struct consumer *c) {
    bool d = c->dirty;
    c->dirty = false;
    return d;
}

size_t consumer_state_size_max(const struct consumer *c) { return 1 + 6 * 10 + (size_t)c->plive * 30; }

static size_t put_uvarint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static bool get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return false;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1) return false;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

size_t consumer_encode_state(const struct consumer *c, uint8_t *buf, size_t cap) {
    if (cap < consumer_state_size_max(c)) return 0;
    size_t n = 0;
    buf[n++] = STATE_VERSION;
    n += put_uvarint(buf + n, c->dseq);
    n += put_uvarint(buf + n, c->sseq);
    n += put_uvarint(buf + n, c->adflr);
    n += put_uvarint(buf + n, c->asflr);
    n += put_uvarint(buf + n, c->lss_active ? c->lss_resume : 0);
    n += put_uvarint(buf + n, c->plive);
    uint64_t prev = c->asflr;
    for (uint32_t i = c->phead; i < c->plen; i++) {
        const struct pend *p = &c->pv[i];
        if (p->dead) continue;
        n += put_uvarint(buf + n, p->sseq - prev);
        n += put_uvarint(buf + n, c->dseq - p->cseq);
        n += put_uvarint(buf + n, p->deliveries);
        prev = p->sseq;
    }
    SL_ASSERT(n <= cap);
    return n;
}

/* Parses the record; with apply false it only validates. */
static sl_err decode_state(struct consumer *c, const uint8_t *buf, size_t len, uint64_t now_ms, bool apply) {
    const uint8_t *p = buf, *end = buf + len;
    if (len < 1 || *p++ != STATE_VERSION) return SL_CORRUPT;
    uint64_t dseq, sseq, adflr, asflr, lss, count;
    if (!get_uvarint(&p, end, &dseq) || !get_uvarint(&p, end, &sseq) || !get_uvarint(&p, end, &adflr) ||
        !get_uvarint(&p, end, &asflr) || !get_uvarint(&p, end, &lss) || !get_uvarint(&p, end, &count))
        return SL_CORRUPT;
    if (dseq == 0 || sseq == 0 || adflr >= dseq || asflr >= sseq || count > (uint64_t)(end - p) / 3 ||
        count >= dseq)
        return SL_CORRUPT;
    if (apply) {
        SL_ASSERT(c->plive == 0 && c->wlen == 0);
        c->dseq = dseq;
        c->sseq = sseq;
        c->adflr = adflr;
        c->asflr = asflr;
        c->lss_active = lss != 0;
        c->lss_resume = lss;
        c->phead = c->plen = 0;
        c->num_redelivered = 0;
        c->ack_deadline_ms = CONSUMER_NO_DEADLINE;
    }
    uint64_t prev = asflr;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t ds, dc, dl;
        if (!get_uvarint(&p, end, &ds) || !get_uvarint(&p, end, &dc) || !get_uvarint(&p, end, &dl)) return SL_CORRUPT;
        if (ds == 0 || ds > sseq - 1 - prev || dc == 0 || dc > dseq - 1 || dl == 0 || dl > UINT32_MAX) return SL_CORRUPT;
        prev += ds;
        if (!apply || !c->view.exists(c->view.arg, prev)) continue; /* gone while we were down */
        struct pend *e = pend_append(c, prev);
        e->cseq = dseq - dc;
        e->deliveries = (uint32_t)dl;
        e->deadline_ms = now_ms + wait_ms(c, e->deliveries);
        c->ack_deadline_ms = min_u64(c->ack_deadline_ms, e->deadline_ms);
        if (dl > 1) c->num_redelivered++;
    }
    if (p != end) return SL_CORRUPT;
    return SL_OK;
}

sl_err consumer_decode_state(struct consumer *c, const uint8_t *buf, size_t len, uint64_t now_ms) {
    sl_err e = decode_state(c, buf, len, now_ms, false);
    if (e) return e;
    e = decode_state(c, buf, len, now_ms, true);
    SL_ASSERT(e == SL_OK);
    recount_pending(c);
    c->dirty = false;
    return SL_OK;
}
