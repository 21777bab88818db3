/* kafka_fetch.c: Fetch and ListOffsets.
 *
 * Fetch answers with whole batches straight from the segment files (file spans in the output
 * queue, sent with sendfile). Limits as Kafka applies them: partition_max_bytes per partition,
 * max_bytes in total, but the first batch of the first partition with data always goes, even
 * when larger. With less than min_bytes available the request parks: a watch on every partition
 * it reads wakes it on new data, a timer ends it at max_wait_ms; it then answers with what there
 * is. The parked state copies what it needs (names, offsets): the request's bytes are gone.
 *
 * A fetch with a replica id (Fetch v4-14's ReplicaId >= 0) is a follower replicating a
 * partition this broker leads (partition.h, replication): its fetch offset tells the leader how
 * far the follower's log reaches, and it reads the whole log, committed or not, where a
 * consumer reads only up to the high watermark. It needs CLUSTER_ACTION on the cluster, as in
 * Kafka, when ACLs are on; a replica id that is not one of the partition's followers reads as a
 * consumer would. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/partition.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_acl.h"
#include "broker/kafka/kafka_names.h"
#include "broker/kafka/kafka_resp.h"
#include "protocol/kafka_msgs_core.h"
#include "storage/log.h"

struct fetch_part {
    int32_t partition;
    bool replica; /* a follower of this partition fetches it: the whole log */
    /* A follower's fetch the leader answers without data: its epoch is not the partition's
     * (error), or its log left the leader's (diverging: where to truncate). */
    sl_err error;
    bool diverging;
    int32_t diverging_epoch;
    int64_t diverging_end;
    int64_t fetch_offset;
    int32_t max_bytes;
    struct log_watch watch;
    struct fetch_park *pk;
};

struct fetch_topic {
    char *name; /* from Fetch v13 the name of the topic with that id, "" if none */
    int32_t name_len;
    bool by_id;      /* Fetch v13+: the request named the topic by id */
    bool denied;     /* no READ on the topic (kafka_acl.c): TOPIC_AUTHORIZATION_FAILED */
    bool hidden;     /* an internal topic (kafka_topic_hidden) a client asks for: unknown to it */
    uint8_t id[16];
    int32_t count;
    struct fetch_part *parts;
};

struct fetch_park {
    struct kreq *q;
    struct loop *loop;
    int32_t replica_id; /* >= 0: a follower's fetch */
    int32_t min_bytes, max_bytes;
    bool read_committed; /* isolation_level 1: up to the LSO, with the aborted ranges */
    int32_t topic_count;
    struct fetch_topic *topics;
    struct loop_timer timer;
    bool parked;
};

static void fetch_free(struct fetch_park *pk) {
    for (int32_t t = 0; t < pk->topic_count; t++) {
        for (int32_t i = 0; i < pk->topics[t].count; i++) partition_watch_del(&pk->topics[t].parts[i].watch);
        free(pk->topics[t].parts);
        free(pk->topics[t].name);
    }
    free(pk->topics);
    loop_timer_del(pk->loop, &pk->timer);
    free(pk);
}

/* The topic the request means; by id (v13+) it must still be the same topic: one deleted and
 * created again under its name has a new id. */
static struct topic *fetch_topic_get(struct kafka_server *ks, const struct fetch_topic *ft) {
    struct topic *tp = ft->hidden ? NULL : topics_get(ks->topics, ft->name, ft->name_len);
    if (tp && ft->by_id && memcmp(tp->id, ft->id, 16) != 0) return NULL;
    return tp;
}

static struct partition *fetch_partition(struct kafka_server *ks, const struct fetch_topic *ft, int32_t partition,
                                         int16_t *error) {
    if (ft->denied) {
        *error = (int16_t)sl_err_kafka(SL_TOPIC_AUTHORIZATION);
        return NULL;
    }
    struct topic *tp = fetch_topic_get(ks, ft);
    struct partition *part = tp ? topic_partition(tp, partition) : NULL;
    /* Kafka: UNKNOWN_TOPIC_ID for an id it does not know, then per partition as by name. */
    if (!tp && ft->by_id) *error = (int16_t)sl_err_kafka(SL_UNKNOWN_TOPIC_ID);
    else if (!part) *error = (int16_t)sl_err_kafka(SL_NO_PARTITION);
    else if (!kafka_leads(ks, tp, partition)) {
        /* A placed partition another broker leads: the client asks the Metadata again. */
        *error = (int16_t)sl_err_kafka(SL_NOT_LEADER);
        return NULL;
    }
    return part;
}

/* Fetch v13+ names topics by id. Linear in the topic count, once per requested topic. */
static const char *fetch_topic_name_of(struct kafka_server *ks, const uint8_t id[16]) {
    for (uint32_t i = 0; i < topics_count(ks->topics); i++) {
        const struct topic *tp = topics_at(ks->topics, i);
        if (memcmp(tp->id, id, 16) == 0) return tp->name;
    }
    return "";
}

struct fetch_plan {
    struct kresp_cut *cuts; /* one per partition, in order */
    struct kafka_fetch_part_resp *resp;
    uint64_t bytes;
    bool any_error;
};

/* A read_committed fetch lists the aborted transactions its batches overlap, so the client
 * drops their records (KafkaApis: only for READ_COMMITTED). Freed by fetch_plan_free. */
static void fetch_aborted(struct partition *part, const struct log_span *sp, struct kafka_fetch_part_resp *pr) {
    struct log_aborted_txn few[8];
    uint32_t n = partition_aborted_txns(part, sp->base_offset, sp->next_offset, few, 8);
    if (n == 0) return;
    struct log_aborted_txn *all = few;
    if (n > 8) {
        all = sl_xmalloc(n * sizeof(*all));
        n = SL_MIN(n, partition_aborted_txns(part, sp->base_offset, sp->next_offset, all, n));
    }
    pr->aborted = sl_xmalloc(n * sizeof(*pr->aborted));
    for (uint32_t i = 0; i < n; i++) pr->aborted[i] = (struct kafka_fetch_aborted){all[i].producer_id, all[i].first_offset};
    pr->aborted_count = (int32_t)n;
    if (all != few) free(all);
}

/* Reads what each partition can give now. */
static void fetch_collect(struct fetch_park *pk, struct fetch_plan *plan) {
    struct kafka_server *ks = pk->q->kc->ks;
    int64_t budget = pk->max_bytes > 0 ? pk->max_bytes : INT32_MAX;
    bool first_data = true;
    uint32_t k = 0;
    plan->bytes = 0;
    plan->any_error = false;
    for (int32_t t = 0; t < pk->topic_count; t++) {
        for (int32_t i = 0; i < pk->topics[t].count; i++, k++) {
            struct fetch_part *fp = &pk->topics[t].parts[i];
            struct kafka_fetch_part_resp *pr = &plan->resp[k];
            memset(pr, 0, sizeof(*pr));
            pr->partition_index = fp->partition;
            pr->high_watermark = pr->last_stable_offset = pr->log_start_offset = -1;
            pr->preferred_read_replica = -1;
            pr->aborted_count = pk->read_committed ? 0 : -1; /* null for read_uncommitted, as Kafka */
            memset(&plan->cuts[k].span, 0, sizeof(plan->cuts[k].span));
            struct partition *part = fetch_partition(ks, &pk->topics[t], fp->partition, &pr->error_code);
            if (part && (fp->error || fp->diverging)) {
                pr->error_code = (int16_t)sl_err_kafka(fp->error);
                pr->diverging = fp->diverging;
                pr->diverging_epoch = fp->diverging_epoch;
                pr->diverging_end_offset = fp->diverging_end;
                pr->high_watermark = partition_high_watermark(part);
                pr->log_start_offset = partition_start_offset(part);
                pr->last_stable_offset = partition_last_stable_offset(part);
                plan->any_error = true; /* answered at once */
                continue;
            }
            if (!part) {
                plan->any_error = true;
                continue;
            }
            pr->high_watermark = partition_high_watermark(part);
            pr->last_stable_offset = partition_last_stable_offset(part);
            pr->log_start_offset = partition_start_offset(part);
            int64_t limit = SL_MIN((int64_t)(fp->max_bytes > 0 ? fp->max_bytes : 0), budget);
            if (limit <= 0 && !first_data) continue;
            struct log_span sp;
            uint32_t cap = (uint32_t)SL_MAX(limit, 1);
            sl_err e = pk->read_committed  ? partition_read_upto(part, fp->fetch_offset, pr->last_stable_offset, cap, &sp)
                       : fp->replica       ? partition_read(part, fp->fetch_offset, cap, &sp)
                                           : partition_read_committed(part, fp->fetch_offset, cap, &sp);
            if (e) {
                pr->error_code = (int16_t)sl_err_kafka(e);
                plan->any_error = true;
                continue;
            }
            if (sp.len == 0) continue;
            if ((int64_t)sp.len > limit && !first_data) {
                log_span_release(&sp);
                continue;
            }
            first_data = false;
            budget -= sp.len;
            plan->bytes += sp.len;
            plan->cuts[k].span = sp;
            if (pk->read_committed) fetch_aborted(part, &sp, pr);
        }
    }
}

static void fetch_release(struct fetch_plan *plan, uint32_t n) {
    for (uint32_t k = 0; k < n; k++) log_span_release(&plan->cuts[k].span);
}

static void fetch_plan_free(struct fetch_plan *plan, uint32_t n) {
    for (uint32_t k = 0; k < n; k++) free(plan->resp[k].aborted);
    free(plan->cuts);
    free(plan->resp);
}

static uint32_t fetch_part_count(const struct fetch_park *pk) {
    uint32_t n = 0;
    for (int32_t t = 0; t < pk->topic_count; t++) n += (uint32_t)pk->topics[t].count;
    return n;
}

/* Over the fetch quota Kafka answers with no data at all and the throttle time, and takes
 * the bytes back from the rate (they were not sent). */
static bool fetch_throttled(struct fetch_park *pk, struct fetch_plan *plan, uint32_t n) {
    struct kreq *q = pk->q;
    uint64_t now = loop_mono_ms(pk->loop);
    int32_t ms = kafka_quota_record(q->kc, KQUOTA_FETCH, plan->bytes, now);
    if (ms <= 0) return false;
    kafka_quota_unrecord(q->kc, KQUOTA_FETCH, plan->bytes, now);
    kafka_quota_throttle(q->kc, KQUOTA_FETCH, ms, now);
    fetch_release(plan, n);
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_fetch_resp_begin(&w, q->version, ms, 0, 0, 0);
    kafka_encode_fetch_resp_end(&w, q->version);
    kresp_finish(q, &w);
    return true;
}

static void fetch_answer(struct fetch_park *pk, struct fetch_plan *plan) {
    struct kreq *q = pk->q;
    if (fetch_throttled(pk, plan, fetch_part_count(pk))) return;
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_fetch_resp_begin(&w, q->version, 0, 0, 0, pk->topic_count);
    uint32_t k = 0;
    for (int32_t t = 0; t < pk->topic_count; t++) {
        struct fetch_topic *ft = &pk->topics[t];
        kafka_encode_fetch_topic_begin(&w, q->version, (struct kstr){ft->name, ft->name_len}, ft->id, ft->count);
        struct topic *tp = fetch_topic_get(q->kc->ks, ft);
        for (int32_t i = 0; i < ft->count; i++, k++) {
            struct log_span *sp = &plan->cuts[k].span;
            struct partition *part = tp && sp->len ? topic_partition(tp, ft->parts[i].partition) : NULL;
            /* Records: the offsets the batches cover (a fetch from inside a batch gets all of it). */
            if (part)
                partition_count_out(part, sp->len,
                                    sp->next_offset > sp->base_offset ? (uint64_t)(sp->next_offset - sp->base_offset) : 0);
            kafka_encode_fetch_partition_begin(&w, q->version, &plan->resp[k], (int32_t)sp->len);
            plan->cuts[k].at = w.len;
            kafka_encode_fetch_partition_end(&w, q->version, &plan->resp[k]);
        }
        kafka_encode_fetch_topic_end(&w, q->version);
    }
    kafka_encode_fetch_resp_end(&w, q->version);
    kresp_finish_cuts(q, &w, plan->cuts, k);
}

/* Answers if there is enough, or if forced; returns true if it answered (pk is then freed). */
static bool fetch_try(struct fetch_park *pk, bool force) {
    uint32_t n = fetch_part_count(pk);
    struct fetch_plan plan;
    plan.cuts = sl_xcalloc(SL_MAX(n, 1), sizeof(*plan.cuts));
    plan.resp = sl_xcalloc(SL_MAX(n, 1), sizeof(*plan.resp));
    fetch_collect(pk, &plan);
    uint64_t threshold = (uint64_t)SL_MAX(pk->min_bytes, 0);
    bool enough = force || plan.any_error || plan.bytes >= threshold;
    if (!enough) {
        fetch_release(&plan, n);
        fetch_plan_free(&plan, n);
        return false;
    }
    fetch_answer(pk, &plan);
    fetch_plan_free(&plan, n);
    fetch_free(pk);
    return true;
}

static void fetch_on_watch(struct log_watch *w, bool gone) {
    struct fetch_part *fp = sl_container_of(w, struct fetch_part, watch);
    (void)gone;
    fetch_try(fp->pk, false);
}

static void fetch_on_timer(struct loop_timer *t, uint64_t now_ms) {
    struct fetch_park *pk = sl_container_of(t, struct fetch_park, timer);
    (void)now_ms;
    fetch_try(pk, true);
}

void kafka_fetch_force(struct kreq *q) {
    if (q->park) fetch_try(q->park, true);
}

static void fetch_cancel(struct kreq *q) {
    struct fetch_park *pk = q->park;
    q->park = NULL;
    q->park_cancel = NULL;
    fetch_free(pk);
    q->ready = true; /* nothing to send: the connection is gone */
}

/* A follower's fetch of a partition this broker leads: its epoch must be the partition's
 * (FENCED_LEADER_EPOCH if older, UNKNOWN_LEADER_EPOCH if newer, as Kafka); its last fetched
 * epoch must end where the leader's does, or at or after its fetch offset, else the answer says
 * where its log diverged (Kafka's Partition.fetchRecords, KIP-595). Otherwise the follower has
 * everything below its fetch offset: that moves the ISR and the high watermark before anything
 * is read. */
static void fetch_replica_check(struct kconn *kc, struct fetch_park *pk, struct fetch_topic *ft, struct fetch_part *fp,
                                const struct kafka_fetch_part *rp) {
    int16_t err = 0;
    struct partition *part = fetch_partition(kc->ks, ft, fp->partition, &err);
    if (!part || partition_role(part) != PARTITION_LEADER) return;
    int32_t ours = partition_leader_epoch(part);
    if (rp->current_leader_epoch >= 0 && rp->current_leader_epoch != ours) {
        fp->error = rp->current_leader_epoch < ours ? SL_FENCED_LEADER_EPOCH : SL_UNKNOWN_LEADER_EPOCH;
        return;
    }
    if (rp->last_fetched_epoch >= 0) {
        int32_t epoch;
        int64_t end;
        partition_epoch_end(part, rp->last_fetched_epoch, &epoch, &end);
        if (epoch < rp->last_fetched_epoch || end < rp->fetch_offset) {
            fp->diverging = true;
            fp->diverging_epoch = epoch;
            fp->diverging_end = end;
            return;
        }
    }
    fp->replica = partition_replica_fetched(part, (uint32_t)pk->replica_id, rp->fetch_offset, loop_mono_ms(kc->ks->loop));
}

sl_err kafka_handle_fetch(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_fetch_req req;
    sl_err e = kafka_decode_fetch(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct fetch_park *pk = sl_xcalloc(1, sizeof(*pk));
    pk->q = q;
    pk->loop = kc->ks->loop;
    pk->replica_id = req.replica_id >= 0 && kafka_authorized(kc, KAFKA_OP_CLUSTER_ACTION, KAFKA_RES_CLUSTER,
                                                              kafka_kstr(KAFKA_CLUSTER_RESOURCE))
                         ? req.replica_id
                         : -1;
    pk->min_bytes = req.min_bytes;
    pk->max_bytes = SL_MIN(req.max_bytes > 0 ? req.max_bytes : INT32_MAX, kafka_quota_max_bytes(kc, KQUOTA_FETCH));
    pk->read_committed = req.isolation_level == 1;
    pk->topic_count = SL_MAX(req.topic_count, 0);
    pk->topics = sl_xcalloc((size_t)SL_MAX(pk->topic_count, 1), sizeof(*pk->topics));
    pk->timer.fire = fetch_on_timer;
    for (int32_t t = 0; t < pk->topic_count; t++) {
        struct fetch_topic *ft = &pk->topics[t];
        const struct kafka_fetch_topic *rt = &req.topics[t];
        struct kstr name = rt->topic;
        ft->by_id = q->version >= 13;
        if (ft->by_id) {
            memcpy(ft->id, rt->topic_id, 16);
            name = kafka_kstr(fetch_topic_name_of(kc->ks, ft->id));
        }
        ft->name_len = SL_MAX(name.len, 0);
        ft->name = sl_xmalloc((size_t)ft->name_len + 1);
        memcpy(ft->name, name.p, (size_t)ft->name_len);
        ft->name[ft->name_len] = 0;
        /* By id, an unknown id stays UNKNOWN_TOPIC_ID (Kafka checks existence first there). */
        ft->denied = (!ft->by_id || ft->name_len > 0) && !kafka_authorized(kc, KAFKA_OP_READ, KAFKA_RES_TOPIC, name);
        ft->hidden = pk->replica_id < 0 && kafka_topic_hidden(ft->name, ft->name_len);
        ft->count = SL_MAX(rt->partition_count, 0);
        ft->parts = sl_xcalloc((size_t)SL_MAX(ft->count, 1), sizeof(*ft->parts));
        for (int32_t i = 0; i < ft->count; i++) {
            ft->parts[i].partition = rt->partitions[i].partition;
            ft->parts[i].fetch_offset = rt->partitions[i].fetch_offset;
            ft->parts[i].max_bytes = rt->partitions[i].partition_max_bytes;
            ft->parts[i].pk = pk;
            ft->parts[i].watch.fire = fetch_on_watch;
            if (pk->replica_id >= 0) fetch_replica_check(kc, pk, ft, &ft->parts[i], &rt->partitions[i]);
        }
    }
    if (fetch_try(pk, req.max_wait_ms <= 0)) return SL_OK;
    /* Park: wake on new data in any of the partitions, or at max_wait_ms. */
    for (int32_t t = 0; t < pk->topic_count; t++) {
        for (int32_t i = 0; i < pk->topics[t].count; i++) {
            struct fetch_part *fp = &pk->topics[t].parts[i];
            int16_t err = 0;
            struct partition *part = fetch_partition(kc->ks, &pk->topics[t], fp->partition, &err);
            /* One watch per partition: a partition listed twice must not be woken twice. */
            bool watched = false;
            for (int32_t t2 = 0; t2 <= t && !watched; t2++)
                for (int32_t i2 = 0; i2 < pk->topics[t2].count && !watched; i2++)
                    watched = part && pk->topics[t2].parts[i2].watch.log == partition_log(part);
            if (part && !watched) partition_watch_add(part, &fp->watch);
        }
    }
    q->park = pk;
    q->park_cancel = fetch_cancel;
    loop_timer_add(kc->ks->loop, &pk->timer, loop_mono_ms(kc->ks->loop) + (uint64_t)req.max_wait_ms);
    return SL_OK;
}

/* ---- ListOffsets -------------------------------------------------------------------------------- */

#define LIST_OFFSETS_LATEST (-1)
#define LIST_OFFSETS_EARLIEST (-2)
#define LIST_OFFSETS_MAX_TIMESTAMP (-3)
#define LIST_OFFSETS_EARLIEST_LOCAL (-4) /* v8+ (KIP-405) */
#define LIST_OFFSETS_LATEST_TIERED (-5)  /* v9+ (KIP-1005) */

static void list_offsets_partition(struct partition *part, int64_t ts, bool read_committed,
                                   struct kafka_list_offsets_part_resp *pr) {
    pr->timestamp = -1;
    pr->leader_epoch = 0;
    if (ts == LIST_OFFSETS_LATEST) {
        /* READ_COMMITTED's end is the LSO (Kafka's UnifiedLog.fetchOffsetByTimestamp caller). */
        pr->offset = read_committed ? partition_last_stable_offset(part) : partition_high_watermark(part);
    } else if (ts == LIST_OFFSETS_EARLIEST || ts == LIST_OFFSETS_EARLIEST_LOCAL) {
        /* Nothing is tiered: the first local offset is the log start, as Kafka answers a log
         * without remote storage. */
        pr->offset = partition_start_offset(part);
    } else if (ts == LIST_OFFSETS_LATEST_TIERED) {
        pr->offset = -1; /* nothing is in remote storage: Kafka answers offset -1, no timestamp */
    } else {
        /* MAX_TIMESTAMP (v7): the record with the newest timestamp, as Kafka answers it; an
         * empty partition has none (offset and timestamp -1). */
        int64_t off, found;
        sl_err e = ts == LIST_OFFSETS_MAX_TIMESTAMP ? log_max_timestamp(partition_log(part), &off, &found)
                                                    : log_offset_for_time(partition_log(part), ts, &off, &found);
        if (e == SL_OK) {
            pr->offset = off;
            pr->timestamp = found;
        } else if (e == SL_NOT_FOUND) {
            pr->offset = -1; /* Kafka: no record at or after the time */
        } else {
            pr->error_code = (int16_t)sl_err_kafka(e);
            pr->offset = -1;
        }
    }
}

/* A topic and partition as one name, for the set of those a request lists. */
static struct kstr list_offsets_key(struct karena *a, struct kstr topic, int32_t partition) {
    int32_t n = SL_MAX(topic.len, 0);
    char *k = karena_alloc(a, (size_t)n + 4);
    if (n) memcpy(k, topic.p, (size_t)n);
    sl_store_be32((uint8_t *)k + n, (uint32_t)partition);
    return (struct kstr){k, n + 4};
}

sl_err kafka_handle_list_offsets(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_list_offsets_req req;
    sl_err e = kafka_decode_list_offsets(r, q->version, &kc->arena, &req);
    if (e) return e;
    /* Kafka (v1+) answers every mention of a partition listed twice with INVALID_REQUEST and
     * looks none of them up. */
    struct kname_set seen;
    kname_set_init(&seen, (uint32_t)SL_MAX(req.topic_count, 0));
    struct kstr **keys = kafka_alloc_array(&kc->arena, req.topic_count, sizeof(*keys));
    for (int32_t t = 0; t < req.topic_count && q->version >= 1; t++) {
        const struct kafka_list_offsets_topic *rt = &req.topics[t];
        keys[t] = kafka_alloc_array(&kc->arena, rt->partition_count, sizeof(**keys));
        for (int32_t i = 0; i < rt->partition_count; i++) {
            keys[t][i] = list_offsets_key(&kc->arena, rt->name, rt->partitions[i].partition_index);
            kname_set_add(&seen, keys[t][i]);
        }
    }
    struct kafka_list_offsets_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.topic_count = req.topic_count;
    resp.topics = kafka_alloc_array(&kc->arena, req.topic_count, sizeof(*resp.topics));
    for (int32_t t = 0; t < req.topic_count; t++) {
        struct kafka_list_offsets_topic_resp *tr = &resp.topics[t];
        const struct kafka_list_offsets_topic *rt = &req.topics[t];
        tr->name = rt->name;
        tr->partition_count = rt->partition_count;
        tr->partitions = kafka_alloc_array(&kc->arena, rt->partition_count, sizeof(*tr->partitions));
        bool denied = !kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, rt->name);
        struct topic *tp = kafka_topic_visible(kc->ks, rt->name.p, rt->name.len);
        const struct cluster_topic *placed = tp ? kafka_placement(kc->ks, tp) : NULL;
        for (int32_t i = 0; i < rt->partition_count; i++) {
            struct kafka_list_offsets_part_resp *pr = &tr->partitions[i];
            int32_t p = rt->partitions[i].partition_index;
            pr->partition_index = p;
            pr->timestamp = -1;
            pr->offset = -1;
            pr->leader_epoch = -1;
            if (q->version >= 1 && kname_set_count(&seen, keys[t][i]) > 1) {
                pr->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
                continue;
            }
            if (denied) {
                pr->error_code = (int16_t)sl_err_kafka(SL_TOPIC_AUTHORIZATION);
                continue;
            }
            if (!tp || !topic_partition(tp, p)) {
                pr->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
                continue;
            }
            if (!kafka_placed_leads(kc->ks, tp, placed, p)) {
                pr->error_code = (int16_t)sl_err_kafka(SL_NOT_LEADER);
                continue;
            }
            list_offsets_partition(topic_partition(tp, p), rt->partitions[i].timestamp, req.isolation_level == 1, pr);
            if (q->version == 0 && pr->offset >= 0) {
                pr->old_style_offset_count = 1;
                pr->old_style_offsets = karena_alloc(&kc->arena, sizeof(int64_t));
                pr->old_style_offsets[0] = pr->offset;
            }
        }
    }
    kname_set_free(&seen);
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_list_offsets_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}
