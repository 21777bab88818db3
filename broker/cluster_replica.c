/* cluster_replica.c: partition roles from the placement, and the fetchers that replicate the
 * partitions this broker follows (see cluster_replica.h). */
#include "broker/cluster_replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/prom.h"
#include "base/workers.h"
#include "broker/core/cluster_view.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "broker/net/peer.h"
#include "broker/broker.h"
#include "protocol/kafka_api.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_msgs_core.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

#define REPL_FETCH_VERSION 12       /* LastFetchedEpoch and DivergingEpoch; topics still by name */
#define REPL_FETCH_WAIT_MS 500      /* the leader's long poll */
#define REPL_FETCH_MAX_BYTES (16 << 20)
#define REPL_PART_MAX_BYTES (1 << 20)
#define REPL_FRAME_MAX (64u << 20)
#define REPL_IO_TIMEOUT_MS 5000     /* connect, send, and the answer beyond the long poll */
#define REPL_RETRY_MS 200           /* after an error */

/* One partition of a fetch: what was asked, and the leader's high watermark in the answer. */
struct rep_part {
    char topic[CLUSTER_TOPIC_NAME_MAX];
    uint8_t id[16];
    int32_t partition;
    int32_t epoch;      /* the placement's leader epoch when asked */
    int32_t last_epoch; /* of the last batch this replica holds */
    int64_t fetch_offset;
    int64_t hw; /* -1 until answered */
};

struct rep_fetcher;

struct rep_append {
    struct partition_append_done d;
    struct rep_fetcher *f;
};

/* The fetcher of the partitions one leader leads and this broker follows. The loop owns it but
 * for the exchange: between workers_submit and done the worker alone touches fd, req and frame. */
struct rep_fetcher {
    struct work w;
    struct cluster_replica *cr;
    uint32_t leader;
    char host[CLUSTER_HOSTPORT_MAX];
    char port[8];
    struct peer conn; /* to the leader's Kafka port, kept between fetches */
    bool busy; /* the exchange or its appends are under way */
    uint64_t retry_at_ms;
    uint32_t count, cap;
    struct rep_part *parts;
    int32_t corr;
    struct kw req;
    uint8_t *frame;
    uint32_t frame_len;
    char err[400]; /* the worker's: "" if the exchange worked */
    char last_err[400];
    /* the answer's appends, durable one by one */
    uint32_t pending;
    bool append_failed;
    uint32_t appends_cap;
    struct rep_append *appends;
};

/* An ISR change sent to the controller and not answered yet. */
struct rep_isr_change {
    struct cluster_replica *cr;
    bool busy;
    char topic[CLUSTER_TOPIC_NAME_MAX];
    uint8_t id[16];
    int32_t partition;
};
#define REPL_ISR_CHANGES_MAX 32

struct cluster_replica {
    struct broker *b;
    const struct cluster_view *view;
    struct workers *workers;
    uint32_t self;
    uint64_t lag_ms;
    uint64_t applied_gen;
    bool applied_once;
    bool apply_again; /* a placed partition had no local copy yet at the last pass */
    bool stopping;
    bool quiesced; /* a controlled shutdown began: no new fetches (cluster_replica_quiesce) */
    uint32_t fetcher_count;
    struct rep_fetcher *fetchers[CLUSTER_BROKERS_MAX];
    struct karena arena; /* decoding one answer at a time, on the loop */
    struct rep_isr_change isr_changes[REPL_ISR_CHANGES_MAX];
    /* /metrics */
    uint64_t fetches, fetch_errors, batches, bytes, append_errors, truncations, resets, starts_followed;
    uint32_t leading, following;
    uint32_t under_replicated; /* led here, with fewer in the committed ISR than replicas */
};

/* ---- roles --------------------------------------------------------------------------------- */

static struct partition *repl_local(struct cluster_replica *cr, const char *name, const uint8_t id[16],
                                    int32_t partition) {
    struct topic *tp = topics_get(cr->b->topics, name, (int32_t)strlen(name));
    if (!tp || memcmp(tp->id, id, 16) != 0) return NULL;
    return topic_partition(tp, partition);
}

static bool repl_follows(const struct cluster_part *cp, uint32_t self) {
    for (uint32_t r = 1; r < cp->replica_count; r++)
        if (cp->replicas[r] == self) return true;
    return false;
}

static void repl_apply_roles(struct cluster_replica *cr, uint64_t now_ms) {
    bool missing = false;
    uint32_t leading = 0, following = 0;
    const struct cluster_topics *ts = &cr->view->topics;
    for (uint32_t i = 0; i < ts->count; i++) {
        const struct cluster_topic *t = &ts->v[i];
        for (uint32_t p = 0; p < t->partition_count; p++) {
            struct partition *part = repl_local(cr, t->name, t->id, (int32_t)p);
            if (!part) {
                missing = true;
                continue;
            }
            const struct cluster_part *cp = &t->parts[p];
            enum partition_role was = partition_role(part);
            int32_t was_epoch = partition_leader_epoch(part);
            if (cp->replica_count > 1 && cp->replicas[0] == cr->self) {
                partition_replicate(part, PARTITION_LEADER, (int32_t)cp->leader_epoch, cp->replicas + 1,
                                    cp->replica_count - 1u, cr->lag_ms, now_ms);
                partition_set_committed_isr(part, cp->isr, cp->isr_count);
                leading++;
            } else if (cp->replica_count > 1 && repl_follows(cp, cr->self)) {
                partition_replicate(part, PARTITION_FOLLOWER, (int32_t)cp->leader_epoch, NULL, 0, cr->lag_ms, now_ms);
                following++;
            } else {
                partition_replicate(part, PARTITION_ALONE, -1, NULL, 0, cr->lag_ms, now_ms);
            }
            if (partition_role(part) != was || partition_leader_epoch(part) != was_epoch) {
                static const char *const names[] = {"alone", "leader", "follower"};
                SL_INFO("cluster: %s[%u]: %s at epoch %d (was %s at %d), log end %lld, high watermark %lld", t->name, p,
                        names[partition_role(part)], partition_leader_epoch(part), names[was], was_epoch,
                        (long long)partition_log_end(part), (long long)partition_high_watermark(part));
            }
        }
    }
    cr->apply_again = missing;
    cr->leading = leading;
    cr->following = following;
}

static void repl_isr_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct rep_isr_change *ch = arg;
    (void)tp;
    /* Refused (stale, or a broker that may not join) or not committed: what was asked no longer
     * counts, and the next tick asks again if this broker still leads and still differs. */
    if (err) {
        SL_DEBUG("cluster: ISR change of %s[%d] not made: %s", ch->topic, ch->partition, why ? why : sl_err_str(err));
        struct partition *part = ch->cr->stopping ? NULL : repl_local(ch->cr, ch->topic, ch->id, ch->partition);
        if (part) partition_isr_refused(part);
    }
    ch->busy = false;
}

/* Kafka's AlterPartition: a leader whose ISR differs from the committed one asks the controller,
 * one change in flight per partition. */
static void repl_send_isr(struct cluster_replica *cr, const struct cluster_topic *t, uint32_t p,
                          struct partition *part) {
    struct rep_isr_change *free_slot = NULL;
    for (uint32_t i = 0; i < REPL_ISR_CHANGES_MAX; i++) {
        struct rep_isr_change *ch = &cr->isr_changes[i];
        if (ch->busy && ch->partition == (int32_t)p && !strcmp(ch->topic, t->name)) return;
        if (!ch->busy && !free_slot) free_slot = ch;
    }
    if (!free_slot || !cr->view->ops.alter_isr) return;
    uint32_t isr[CLUSTER_REPLICAS_MAX];
    uint32_t n = partition_isr_request(part, cr->self, isr, CLUSTER_REPLICAS_MAX);
    if (n == 0) return;
    *free_slot = (struct rep_isr_change){.cr = cr, .busy = true, .partition = (int32_t)p};
    snprintf(free_slot->topic, sizeof(free_slot->topic), "%s", t->name);
    memcpy(free_slot->id, t->id, 16);
    if (cr->view->ops.alter_isr(cr->view->ops.arg, t->name, t->id, p, t->parts[p].leader_epoch, isr, n, repl_isr_done,
                                free_slot) != SL_OK)
        free_slot->busy = false;
}

static struct rep_fetcher *repl_fetcher(struct cluster_replica *cr, uint32_t leader);

/* One walk over the placement per tick: the partitions led here get their lag checks and ISR
 * changes, and every leader of a partition followed here has a fetcher. */
static void repl_tick_walk(struct cluster_replica *cr, uint64_t now_ms) {
    const struct cluster_topics *ts = &cr->view->topics;
    uint32_t under = 0;
    for (uint32_t i = 0; i < ts->count; i++) {
        const struct cluster_topic *t = &ts->v[i];
        for (uint32_t p = 0; p < t->partition_count; p++) {
            const struct cluster_part *cp = &t->parts[p];
            if (cp->replica_count < 2) continue;
            if (cp->replicas[0] != cr->self) {
                if (repl_follows(cp, cr->self)) repl_fetcher(cr, cp->replicas[0]);
                continue;
            }
            under += cp->isr_count < cp->replica_count;
            struct partition *part = repl_local(cr, t->name, t->id, (int32_t)p);
            if (!part || partition_role(part) != PARTITION_LEADER) continue;
            partition_replica_tick(part, now_ms);
            if (partition_isr_changed(part)) repl_send_isr(cr, t, p, part);
        }
    }
    cr->under_replicated = under;
}

/* ---- the exchange (worker thread) ---------------------------------------------------------- */

static void repl_close(struct rep_fetcher *f) { peer_close(&f->conn); }

static void repl_exchange(struct work *w) {
    struct rep_fetcher *f = (struct rep_fetcher *)w;
    f->err[0] = 0;
    f->frame = NULL;
    f->frame_len = 0;
    const struct kafka_server *ks = &f->cr->b->kafka;
    if (!peer_connected(&f->conn)) {
        if (!peer_open(&f->conn, f->host, f->port, ks->peer_tls, REPL_IO_TIMEOUT_MS, f->err, sizeof(f->err)))
            return;
        if (!peer_login(&f->conn, &ks->peer_login, f->err, sizeof(f->err))) {
            repl_close(f);
            return;
        }
    }
    if (!peer_exchange(&f->conn, f->req.p, f->req.len, REPL_FRAME_MAX, &f->frame, &f->frame_len, f->err,
                       sizeof(f->err)))
        repl_close(f);
}

/* ---- the loop side of a fetch -------------------------------------------------------------- */

static void repl_answered(struct work *w);

/* The partitions this broker follows under f->leader, at this broker's log ends. */
static void repl_collect(struct rep_fetcher *f) {
    struct cluster_replica *cr = f->cr;
    const struct cluster_topics *ts = &cr->view->topics;
    f->count = 0;
    for (uint32_t i = 0; i < ts->count; i++) {
        const struct cluster_topic *t = &ts->v[i];
        for (uint32_t p = 0; p < t->partition_count; p++) {
            const struct cluster_part *cp = &t->parts[p];
            if (cp->replica_count < 2 || cp->replicas[0] != f->leader || !repl_follows(cp, cr->self)) continue;
            struct partition *part = repl_local(cr, t->name, t->id, (int32_t)p);
            if (!part || partition_role(part) != PARTITION_FOLLOWER) continue;
            if (f->count == f->cap) {
                f->cap = f->cap ? f->cap * 2 : 16;
                f->parts = sl_xrealloc(f->parts, f->cap * sizeof(*f->parts));
            }
            struct rep_part *rp = &f->parts[f->count++];
            snprintf(rp->topic, sizeof(rp->topic), "%s", t->name);
            memcpy(rp->id, t->id, 16);
            rp->partition = (int32_t)p;
            rp->epoch = partition_leader_epoch(part);
            rp->last_epoch = partition_last_epoch(part);
            rp->fetch_offset = partition_log_end(part);
            rp->hw = -1;
        }
    }
}

/* Fetch v11 of f's partitions, grouped by topic (they come sorted by name). */
static void repl_encode(struct rep_fetcher *f) {
    struct cluster_replica *cr = f->cr;
    karena_reset(&cr->arena);
    struct kafka_fetch_req req = {.replica_id = (int32_t)cr->self,
                                  .max_wait_ms = REPL_FETCH_WAIT_MS,
                                  .min_bytes = 1,
                                  .max_bytes = REPL_FETCH_MAX_BYTES,
                                  .session_epoch = -1,
                                  .rack_id = {"", 0}};
    req.topics = KARENA_NEW_ARRAY(&cr->arena, struct kafka_fetch_topic, SL_MAX(f->count, 1u));
    for (uint32_t i = 0; i < f->count; i++) {
        struct rep_part *rp = &f->parts[i];
        struct kafka_fetch_topic *t = req.topic_count ? &req.topics[req.topic_count - 1] : NULL;
        if (!t || strcmp(t->topic.p, rp->topic) != 0) {
            t = &req.topics[req.topic_count++];
            t->topic = (struct kstr){rp->topic, (int32_t)strlen(rp->topic)};
            t->partitions = KARENA_NEW_ARRAY(&cr->arena, struct kafka_fetch_part, f->count - i);
        }
        t->partitions[t->partition_count++] = (struct kafka_fetch_part){.partition = rp->partition,
                                                                        .current_leader_epoch = rp->epoch,
                                                                        .fetch_offset = rp->fetch_offset,
                                                                        .last_fetched_epoch = rp->last_epoch,
                                                                        .log_start_offset = -1,
                                                                        .partition_max_bytes = REPL_PART_MAX_BYTES};
    }
    char client_id[32];
    snprintf(client_id, sizeof(client_id), "sluice-replica-%u", cr->self);
    struct kafka_req_header h = {.api_key = 1, .api_version = REPL_FETCH_VERSION, .correlation_id = ++f->corr,
                                 .client_id = {client_id, (int32_t)strlen(client_id)}};
    kw_reset(&f->req);
    kw_i32(&f->req, 0);
    kafka_encode_req_header(&f->req, &h);
    kafka_encode_fetch_req(&f->req, REPL_FETCH_VERSION, &req);
    kw_patch_i32(&f->req, 0, (int32_t)(f->req.len - 4));
}

static void repl_submit(struct rep_fetcher *f, uint64_t now_ms) {
    struct cluster_replica *cr = f->cr;
    if (f->busy || cr->stopping || cr->quiesced || now_ms < f->retry_at_ms) return;
    const struct cluster_view_broker *lb = cluster_view_broker(cr->view, f->leader);
    if (!lb) return;
    repl_collect(f);
    if (f->count == 0) {
        repl_close(f); /* nothing to follow there any more */
        return;
    }
    snprintf(f->host, sizeof(f->host), "%s", lb->host);
    snprintf(f->port, sizeof(f->port), "%d", (int)lb->port);
    repl_encode(f);
    f->busy = true;
    f->w.run = repl_exchange;
    f->w.done = repl_answered;
    workers_submit(cr->workers, &f->w);
}

static void repl_fail(struct rep_fetcher *f, const char *why) {
    struct cluster_replica *cr = f->cr;
    cr->fetch_errors++;
    /* Logged when it changes, not every half second while a leader is down. */
    if (strcmp(why, f->last_err) != 0) SL_WARN("cluster: replica fetch from broker %u: %s", f->leader, why);
    snprintf(f->last_err, sizeof(f->last_err), "%s", why);
    repl_close(f);
    f->retry_at_ms = loop_mono_ms(&cr->b->loop) + REPL_RETRY_MS;
}

/* Every append of the answer is durable (or failed): the high watermarks the leader sent now
 * hold here, and the next fetch tells the leader how far this replica reaches. */
static void repl_round_end(struct rep_fetcher *f) {
    struct cluster_replica *cr = f->cr;
    for (uint32_t i = 0; i < f->count; i++) {
        struct rep_part *rp = &f->parts[i];
        struct partition *part = rp->hw >= 0 ? repl_local(cr, rp->topic, rp->id, rp->partition) : NULL;
        if (part) partition_follower_hw(part, rp->hw);
    }
    f->busy = false;
    uint64_t now = loop_mono_ms(&cr->b->loop);
    if (f->append_failed) f->retry_at_ms = now + REPL_RETRY_MS;
    f->append_failed = false;
    repl_submit(f, now);
}

static void repl_appended(struct partition_append_done *d, sl_err err) {
    struct rep_append *a = sl_container_of(d, struct rep_append, d);
    struct rep_fetcher *f = a->f;
    if (err) {
        f->cr->append_errors++;
        f->append_failed = true;
        SL_WARN("cluster: replicated batch at offset %lld not written here: %s", (long long)d->base_offset,
                sl_err_str(err));
    }
    SL_ASSERT(f->pending > 0);
    if (--f->pending == 0) repl_round_end(f);
}

static struct rep_part *repl_part_of(struct rep_fetcher *f, struct kstr topic, int32_t partition) {
    for (uint32_t i = 0; i < f->count; i++)
        if (f->parts[i].partition == partition && (int32_t)strlen(f->parts[i].topic) == topic.len &&
            memcmp(f->parts[i].topic, topic.p, (size_t)topic.len) == 0)
            return &f->parts[i];
    return NULL;
}

static uint32_t repl_batch_count(const struct kafka_fetch_resp *resp) {
    uint32_t n = 0;
    for (int32_t t = 0; t < resp->topic_count; t++)
        for (int32_t i = 0; i < resp->topics[t].partition_count; i++) {
            struct kstr rec = resp->topics[t].partitions[i].records;
            const uint8_t *at = (const uint8_t *)rec.p;
            size_t left = rec.len > 0 ? (size_t)rec.len : 0;
            struct kafka_batch_header h;
            while (kafka_batch_next(&at, &left, &h)) n++;
        }
    return n;
}

/* One partition's batches, at the leader's offsets. A batch cut short at the end (a leader may
 * end an answer inside one) waits for the next fetch. */
static void repl_append_partition(struct rep_fetcher *f, struct partition *part, struct kstr rec, uint32_t *slot) {
    struct cluster_replica *cr = f->cr;
    const uint8_t *next = (const uint8_t *)rec.p;
    size_t left = rec.len > 0 ? (size_t)rec.len : 0;
    struct kafka_batch_header h;
    for (uint32_t len; (len = kafka_batch_next(&next, &left, &h)) != 0;) {
        /* The answer's bytes are this fetcher's own (the frame it read): writable. */
        uint8_t *at = (uint8_t *)next - len;
        /* A fetch from inside a batch gets all of it: what this replica has is skipped. */
        if (kafka_batch_last_offset(&h) >= partition_log_end(part)) {
            struct rep_append *a = &f->appends[(*slot)++];
            a->f = f;
            a->d.fn = repl_appended;
            f->pending++;
            sl_err e = partition_append_replica(part, at, len, &a->d);
            if (e) {
                f->pending--;
                f->append_failed = true;
                cr->append_errors++;
                SL_WARN("cluster: replicated batch at offset %lld refused here (log end %lld): %s",
                        (long long)h.base_offset, (long long)partition_log_end(part), sl_err_str(e));
                return;
            }
            cr->batches++;
            cr->bytes += len;
        }
    }
}

/* The leader says this replica's log left its own: cut it where no later leader has what it
 * holds (Kafka's AbstractFetcherThread: the leader's end of the largest epoch at or below the
 * follower's last one, and the follower's own end of that epoch, whichever is lower; if the
 * follower's largest epoch there is a smaller one, its end, and the next fetch asks again). */
static void repl_truncate(struct rep_fetcher *f, struct partition *part, const struct rep_part *rp,
                          const struct kafka_fetch_part_resp *pr) {
    int64_t end = partition_log_end(part), target;
    int32_t epoch;
    int64_t own_end;
    partition_epoch_end(part, pr->diverging_epoch, &epoch, &own_end);
    if (pr->diverging_epoch < 0) target = partition_high_watermark(part);
    else if (epoch < 0) target = SL_MIN(pr->diverging_end_offset, end);
    else if (epoch != pr->diverging_epoch) target = SL_MIN(own_end, end);
    else target = SL_MIN(pr->diverging_end_offset, own_end);
    target = SL_MAX(target, 0);
    int32_t last_before = partition_last_epoch(part);
    sl_err e = partition_truncate(part, target);
    if (!e && partition_log_end(part) == end && partition_last_epoch(part) == last_before) {
        /* Nothing moved: asking again at once would get the same answer. */
        f->append_failed = true;
        SL_WARN("cluster: %s[%d]: the leader says this replica diverged at epoch %d, but truncating to %lld "
                "changes nothing here", rp->topic, rp->partition, pr->diverging_epoch, (long long)target);
        return;
    }
    if (e) {
        f->append_failed = true;
        SL_WARN("cluster: %s[%d]: cannot truncate to %lld: %s", rp->topic, rp->partition, (long long)target,
                sl_err_str(e));
        return;
    }
    f->cr->truncations++;
    SL_INFO("cluster: %s[%d]: truncated from %lld to %lld (diverged from leader %u's log at epoch %d)", rp->topic,
            rp->partition, (long long)end, (long long)partition_log_end(part), f->leader, pr->diverging_epoch);
}

/* The leader no longer holds this replica's next offset (its retention or DeleteRecords moved its
 * log start past it while the replica was away): the replica starts again at the leader's log
 * start, as Kafka's truncateFullyAndStartAt. */
static void repl_reset(struct rep_fetcher *f, struct partition *part, struct rep_part *rp, int64_t leader_start) {
    int64_t end = partition_log_end(part);
    sl_err e = partition_reset(part, leader_start);
    if (e) {
        f->append_failed = true;
        SL_WARN("cluster: %s[%d]: cannot start again at the leader's log start %lld: %s", rp->topic, rp->partition,
                (long long)leader_start, sl_err_str(e));
        return;
    }
    f->cr->resets++;
    SL_WARN("cluster: %s[%d]: leader %u's log starts at %lld, past this replica's end %lld: emptied, it starts "
            "again there", rp->topic, rp->partition, f->leader, (long long)leader_start, (long long)end);
}

static void repl_answered(struct work *w) {
    struct rep_fetcher *f = (struct rep_fetcher *)w;
    struct cluster_replica *cr = f->cr;
    uint8_t *frame = f->frame;
    f->frame = NULL;
    if (cr->stopping || f->err[0]) {
        if (f->err[0]) repl_fail(f, f->err);
        free(frame);
        f->busy = false;
        return;
    }
    cr->fetches++;
    karena_reset(&cr->arena);
    struct kr r = kr_make(frame, f->frame_len);
    int32_t corr = 0;
    struct kafka_fetch_resp resp;
    sl_err e = kafka_decode_resp_header(&r, 1, REPL_FETCH_VERSION, &corr);
    if (!e && corr != f->corr) e = SL_INVALID_REQUEST;
    if (!e) e = kafka_decode_fetch_resp(&r, REPL_FETCH_VERSION, &cr->arena, &resp);
    if (!e && resp.error_code) e = SL_UNKNOWN_SERVER;
    if (e) {
        char why[96];
        snprintf(why, sizeof(why), "an answer this broker cannot use: %s", sl_err_str(e));
        repl_fail(f, why);
        free(frame);
        f->busy = false;
        return;
    }
    f->last_err[0] = 0;
    uint32_t nbatches = repl_batch_count(&resp);
    if (nbatches > f->appends_cap) {
        free(f->appends);
        f->appends_cap = nbatches;
        f->appends = sl_xcalloc(nbatches, sizeof(*f->appends));
    }
    uint32_t slot = 0;
    f->pending = 1; /* held until every append below is started */
    for (int32_t t = 0; t < resp.topic_count; t++) {
        const struct kafka_fetch_topic_resp *tr = &resp.topics[t];
        for (int32_t i = 0; i < tr->partition_count; i++) {
            const struct kafka_fetch_part_resp *pr = &tr->partitions[i];
            struct rep_part *rp = repl_part_of(f, tr->topic, pr->partition_index);
            if (!rp) continue;
            if (pr->error_code == (int16_t)sl_err_kafka(SL_OFFSET_OUT_OF_RANGE) &&
                pr->log_start_offset > rp->fetch_offset) {
                struct partition *part = repl_local(cr, rp->topic, rp->id, rp->partition);
                if (part && partition_role(part) == PARTITION_FOLLOWER && partition_leader_epoch(part) == rp->epoch &&
                    partition_log_end(part) == rp->fetch_offset) {
                    repl_reset(f, part, rp, pr->log_start_offset);
                    continue;
                }
            }
            if (pr->error_code) {
                /* NOT_LEADER_OR_FOLLOWER while the placement moves; OFFSET_OUT_OF_RANGE above
                 * the leader's end (a replica that diverged: DivergingEpoch handles it). */
                char why[400];
                snprintf(why, sizeof(why), "%s[%d]: error %d at offset %lld", rp->topic, rp->partition,
                         pr->error_code, (long long)rp->fetch_offset);
                if (strcmp(why, f->last_err) != 0) SL_WARN("cluster: replica fetch from broker %u: %s", f->leader, why);
                snprintf(f->last_err, sizeof(f->last_err), "%s", why);
                f->append_failed = true;
                continue;
            }
            struct partition *part = repl_local(cr, rp->topic, rp->id, rp->partition);
            /* The leadership moved while the fetch was out: another fetcher follows it now. */
            if (!part || partition_role(part) != PARTITION_FOLLOWER || partition_leader_epoch(part) != rp->epoch) continue;
            if (pr->diverging) {
                repl_truncate(f, part, rp, pr);
                continue;
            }
            rp->hw = pr->high_watermark;
            if (pr->log_start_offset >= 0 && partition_follow_start(part, pr->log_start_offset)) cr->starts_followed++;
            repl_append_partition(f, part, pr->records, &slot);
        }
    }
    /* The log copied every batch it took: the answer's bytes can go. */
    free(frame);
    if (--f->pending == 0) repl_round_end(f);
}

/* ---- start, tick, stop --------------------------------------------------------------------- */

static struct rep_fetcher *repl_fetcher(struct cluster_replica *cr, uint32_t leader) {
    for (uint32_t i = 0; i < cr->fetcher_count; i++)
        if (cr->fetchers[i]->leader == leader) return cr->fetchers[i];
    if (cr->fetcher_count == CLUSTER_BROKERS_MAX) return NULL;
    struct rep_fetcher *f = sl_xcalloc(1, sizeof(*f));
    f->cr = cr;
    f->leader = leader;
    f->conn.fd = -1;
    kw_init(&f->req, 4096);
    cr->fetchers[cr->fetcher_count++] = f;
    return f;
}

struct cluster_replica *cluster_replica_start(struct broker *b, const struct cluster_view *view) {
    struct cluster_replica *cr = sl_xcalloc(1, sizeof(*cr));
    cr->b = b;
    cr->view = view;
    cr->self = b->cfg.node_id;
    cr->lag_ms = b->cfg.replica_lag_time_max_ms;
    karena_init(&cr->arena, 64 * 1024);
    /* A thread per leader fetched from: each exchange blocks in the leader's long poll. */
    cr->workers = workers_new(&b->loop, CLUSTER_BROKERS_MAX, "cl-replica");
    return cr;
}

void cluster_replica_tick(struct cluster_replica *cr, uint64_t now_ms, uint64_t placement_gen) {
    if (!cr || cr->stopping || !cr->view->ready) return; /* roles from a current table only */
    if (!cr->applied_once || placement_gen != cr->applied_gen || cr->apply_again) {
        cr->applied_once = true;
        cr->applied_gen = placement_gen;
        repl_apply_roles(cr, now_ms);
    }
    repl_tick_walk(cr, now_ms);
    for (uint32_t i = 0; i < cr->fetcher_count; i++) repl_submit(cr->fetchers[i], now_ms);
}

void cluster_replica_roles_now(struct cluster_replica *cr, uint64_t now_ms) {
    if (!cr || cr->stopping || !cr->view->ready) return;
    cr->applied_once = true;
    cr->applied_gen = cr->view->topics.gen;
    repl_apply_roles(cr, now_ms);
}

void cluster_replica_quiesce(struct cluster_replica *cr) {
    if (cr) cr->quiesced = true;
}

void cluster_replica_metrics(const struct cluster_replica *cr, struct prom *p) {
    if (!cr) return;
    prom_family(p, "sluice_replica_partitions", "gauge", "Replicated partitions on this broker, by role.");
    prom_u64(p, "sluice_replica_partitions", "role=\"leader\"", cr->leading);
    prom_u64(p, "sluice_replica_partitions", "role=\"follower\"", cr->following);
    prom_family(p, "sluice_replica_under_replicated_partitions", "gauge",
                "Partitions led here whose ISR is smaller than their replicas (Kafka's UnderReplicatedPartitions).");
    prom_u64(p, "sluice_replica_under_replicated_partitions", NULL, cr->under_replicated);
    prom_family(p, "sluice_replica_fetches_total", "counter",
                "Fetches this broker's followers made to their leaders, by outcome.");
    prom_u64(p, "sluice_replica_fetches_total", "outcome=\"ok\"", cr->fetches);
    prom_u64(p, "sluice_replica_fetches_total", "outcome=\"error\"", cr->fetch_errors);
    prom_family(p, "sluice_replica_batches_total", "counter", "Batches appended here as a follower.");
    prom_u64(p, "sluice_replica_batches_total", NULL, cr->batches);
    prom_family(p, "sluice_replica_bytes_total", "counter", "Batch bytes appended here as a follower.");
    prom_u64(p, "sluice_replica_bytes_total", NULL, cr->bytes);
    prom_family(p, "sluice_replica_append_errors_total", "counter",
                "Replicated batches this broker refused or failed to write.");
    prom_u64(p, "sluice_replica_append_errors_total", NULL, cr->append_errors);
    prom_family(p, "sluice_replica_truncations_total", "counter",
                "Times a follower here cut its log where it diverged from its leader's (an uncommitted tail).");
    prom_u64(p, "sluice_replica_truncations_total", NULL, cr->truncations);
    prom_family(p, "sluice_replica_resets_total", "counter",
                "Times a follower here emptied its log to start again at its leader's log start (the leader had "
                "deleted what the follower still needed).");
    prom_u64(p, "sluice_replica_resets_total", NULL, cr->resets);
    prom_family(p, "sluice_replica_log_start_advances_total", "counter",
                "Times a follower here moved its log start up to its leader's (DeleteRecords or retention on the "
                "leader).");
    prom_u64(p, "sluice_replica_log_start_advances_total", NULL, cr->starts_followed);
}

static bool repl_settled(void *arg) {
    struct cluster_replica *cr = arg;
    for (uint32_t i = 0; i < cr->fetcher_count; i++)
        if (cr->fetchers[i]->pending) return false;
    return true;
}

void cluster_replica_stop(struct cluster_replica *cr) {
    if (!cr) return;
    cr->stopping = true;
    workers_free(cr->workers); /* the exchanges end within their timeouts; answers are dropped */
    /* Appends of an answer still in flight complete on the loop (their waiters point at the
     * fetchers): turned until they have, bounded. */
    if (!loop_run_until(&cr->b->loop, repl_settled, cr, 10000))
        SL_WARN("cluster: replicated batches still being written at shutdown");
    for (uint32_t i = 0; i < cr->fetcher_count; i++) {
        struct rep_fetcher *f = cr->fetchers[i];
        repl_close(f);
        if (f->pending) continue; /* still referenced by a waiter: leaked rather than raced */
        kw_free(&f->req);
        free(f->parts);
        free(f->appends);
        free(f);
    }
    karena_free(&cr->arena);
    free(cr);
}
