/* kafka_produce.c: Produce. Each partition's record set is split into batches; each batch is
 * checked (magic 2, length, compression codec, and by log_append the CRC32C and counts),
 * passed through the partition's idempotent-producer state, and appended. The answer waits by
 * acks: 0 sends nothing, 1 waits until the last batch is written, -1 until it is durable under
 * the log's policy. Errors are per partition, as clients expect. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/producer_state.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "protocol/crc32c.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_msgs_core.h"
#include "storage/log.h"

struct produce_wait {
    struct log_waiter w;
    struct produce_park *pk;
    struct kafka_produce_part_resp *pr;
};

struct produce_park {
    struct kreq *q;
    uint32_t pending; /* waiters not fired, plus one while the handler runs */
    struct kafka_produce_resp resp;
    struct produce_wait *waits;
    char *names; /* topic names, copied: the request buffer is gone by the time we answer */
};

static void produce_park_free(struct produce_park *pk) {
    for (int32_t t = 0; t < pk->resp.topic_count; t++) free(pk->resp.topics[t].partitions);
    free(pk->resp.topics);
    free(pk->waits);
    free(pk->names);
    free(pk);
}

static void produce_answer(struct produce_park *pk) {
    struct kw w;
    kresp_begin(pk->q, &w);
    kafka_encode_produce_resp(&w, pk->q->version, &pk->resp);
    kresp_finish(pk->q, &w);
    produce_park_free(pk);
}

static void produce_wait_done(struct log_waiter *lw, sl_err err) {
    struct produce_wait *pw = (struct produce_wait *)lw;
    if (err) pw->pr->error_code = (int16_t)sl_err_kafka(err == SL_IO ? SL_IO : err);
    if (--pw->pk->pending == 0) produce_answer(pw->pk);
}

/* Kafka's LogAppendTime: the broker stamps the batch and so must re-seal its CRC. */
static void produce_stamp_log_append_time(uint8_t *batch, uint32_t len, int64_t now_ms) {
    uint16_t attrs = sl_load_be16(batch + 21);
    sl_store_be16(batch + 21, (uint16_t)(attrs | KAFKA_ATTR_LOG_APPEND_TIME));
    sl_store_be64(batch + 35, (uint64_t)now_ms);
    kafka_batch_update_crc(batch, len);
}

static bool produce_log_append_time(const struct topic *tp) {
    for (uint32_t i = 0; i < tp->override_count; i++)
        if (!strcmp(tp->overrides[i].key, "message.timestamp.type"))
            return !strcmp(tp->overrides[i].value, "LogAppendTime");
    return false;
}

/* Appends one partition's record set; fills pr. Returns the waiter to arm on the last batch
 * (NULL when nothing was appended). */
static void produce_partition(struct kreq *q, struct topic *tp, int32_t p, struct kstr records, int16_t acks,
                              struct produce_wait *pw, struct produce_park *pk) {
    struct kafka_produce_part_resp *pr = pw->pr;
    struct log *g = tp->parts[p];
    if (records.len <= 0) {
        pr->error_code = (int16_t)sl_err_kafka(SL_CORRUPT);
        return;
    }
    uint8_t *at = (uint8_t *)records.p;
    uint32_t left = (uint32_t)records.len;
    bool first = true, stamp = produce_log_append_time(tp);
    int64_t now = (int64_t)loop_now_ms(q->kc->ks->loop);
    pr->log_start_offset = log_start_offset(g);
    while (left) {
        struct kafka_batch_header h;
        sl_err e = kafka_batch_header_read(at, left, &h);
        uint32_t len = e ? 0 : (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
        if (!e && len > left) e = SL_CORRUPT;
        if (!e && kafka_batch_compression(&h) == KAFKA_COMPRESSION_ZSTD && q->version < 7) e = SL_UNSUPPORTED_COMPRESSION;
        if (e) {
            /* magic 0/1 message sets land here too: refused, never converted (see README). */
            pr->error_code = (int16_t)sl_err_kafka(e == SL_UNDERFLOW ? SL_CORRUPT : e);
            return;
        }
        int64_t dup = -1;
        enum pstate_verdict v = PSTATE_APPEND;
        struct pstate *ps = NULL;
        if (h.producer_id >= 0 && h.base_sequence >= 0) {
            ps = kafka_pstate(tp, p);
            v = pstate_check(ps, h.producer_id, h.producer_epoch, h.base_sequence,
                             pstate_seq_add(h.base_sequence, h.last_offset_delta), &dup);
        }
        if (v == PSTATE_DUPLICATE) {
            /* Already appended: the original offsets, nothing written again. */
            if (first) pr->base_offset = dup;
        } else if (v == PSTATE_OUT_OF_ORDER || v == PSTATE_FENCED) {
            pr->error_code = (int16_t)sl_err_kafka(v == PSTATE_FENCED ? SL_INVALID_PRODUCER_EPOCH : SL_OUT_OF_ORDER_SEQUENCE);
            return;
        } else {
            if (stamp) produce_stamp_log_append_time(at, len, now);
            int64_t base;
            bool last = len == left;
            struct log_waiter *w = (last && acks != 0) ? &pw->w : NULL;
            e = log_append(g, at, len, &base, w, acks == -1);
            if (e) {
                pr->error_code = (int16_t)sl_err_kafka(e);
                return;
            }
            if (w) pk->pending++;
            if (first) pr->base_offset = base;
            if (stamp) pr->log_append_time_ms = now;
            if (ps) pstate_record(ps, h.producer_id, h.producer_epoch, h.base_sequence,
                                  pstate_seq_add(h.base_sequence, h.last_offset_delta), base, base + h.last_offset_delta);
        }
        first = false;
        at += len;
        left -= len;
    }
}

sl_err kafka_handle_produce(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_produce_req req;
    sl_err e = kafka_decode_produce(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct produce_park *pk = sl_xcalloc(1, sizeof(*pk));
    pk->q = q;
    pk->pending = 1;
    /* Parked (waiters hold q) until answered; it cannot be cancelled, only answered late. */
    q->park = pk;
    int32_t nparts = 0;
    size_t names = 0;
    for (int32_t t = 0; t < req.topic_count; t++) {
        nparts += req.topics[t].partition_count;
        names += (size_t)SL_MAX(req.topics[t].name.len, 0) + 1;
    }
    pk->names = sl_xmalloc(names ? names : 1);
    pk->waits = sl_xcalloc((size_t)SL_MAX(nparts, 1), sizeof(*pk->waits));
    pk->resp.topic_count = req.topic_count;
    pk->resp.topics = sl_xcalloc((size_t)SL_MAX(req.topic_count, 1), sizeof(*pk->resp.topics));
    bool acks_ok = req.acks == 0 || req.acks == 1 || req.acks == -1;
    char *name_at = pk->names;
    struct produce_wait *pw = pk->waits;
    for (int32_t t = 0; t < req.topic_count; t++) {
        const struct kafka_produce_topic *rt = &req.topics[t];
        struct kafka_produce_topic_resp *tr = &pk->resp.topics[t];
        int32_t len = SL_MAX(rt->name.len, 0);
        memcpy(name_at, rt->name.p, (size_t)len);
        tr->name = (struct kstr){name_at, rt->name.len};
        name_at += len + 1;
        tr->partition_count = rt->partition_count;
        tr->partitions = sl_xcalloc((size_t)SL_MAX(rt->partition_count, 1), sizeof(*tr->partitions));
        sl_err te = SL_OK;
        struct topic *tp = acks_ok ? kafka_topic_get(kc->ks, rt->name, true, &te) : NULL;
        for (int32_t i = 0; i < rt->partition_count; i++, pw++) {
            struct kafka_produce_part_resp *pr = &tr->partitions[i];
            pr->index = rt->partitions[i].index;
            pr->base_offset = -1;
            pr->log_append_time_ms = -1;
            pr->log_start_offset = -1;
            pw->pk = pk;
            pw->pr = pr;
            pw->w.done = produce_wait_done;
            if (!acks_ok) pr->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUIRED_ACKS);
            else if (!tp) pr->error_code = (int16_t)sl_err_kafka(te);
            else if (pr->index < 0 || pr->index >= tp->partition_count)
                pr->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
            else produce_partition(q, tp, pr->index, rt->partitions[i].records, req.acks, pw, pk);
        }
    }
    if (req.acks == 0) {
        /* No answer at all, and nothing waits: the next response belongs to the next request. */
        produce_park_free(pk);
        kresp_silent(q);
        return SL_OK;
    }
    if (--pk->pending == 0) produce_answer(pk);
    return SL_OK;
}
