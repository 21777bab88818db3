/* kafka_produce.c: Produce. Each partition's record set is split into batches here (with the
 * Kafka-only rules: a batch must fit the record set, zstd needs Produce v7); each batch then
 * goes through partition_append, which checks it, runs the idempotent-producer state, stamps
 * LogAppendTime and appends it. The answer waits by acks: 0 sends nothing, 1 waits until every
 * batch is written, -1 until durable under the log's policy. Errors are per partition, as
 * clients expect. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/workers.h"
#include "broker/core/partition.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_records.h"
#include "protocol/kafka_msgs_core.h"

struct produce_park;

/* One batch in flight. */
struct produce_batch {
    struct partition_append_done done;
    struct produce_park *pk;
    struct kafka_produce_part_resp *pr;
};

struct produce_park {
    struct kreq *q;
    uint32_t pending; /* batches not completed, plus one while the handler runs */
    struct kafka_produce_resp resp;
    struct produce_batch *batches;
    char *names; /* topic names, copied: the request buffer is gone by the time we answer */
};

static void produce_park_free(struct produce_park *pk) {
    for (int32_t t = 0; t < pk->resp.topic_count; t++) free(pk->resp.topics[t].partitions);
    free(pk->resp.topics);
    free(pk->batches);
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

static void produce_batch_done(struct partition_append_done *d, sl_err err) {
    struct produce_batch *pb = sl_container_of(d, struct produce_batch, done);
    if (err) pb->pr->error_code = (int16_t)sl_err_kafka(err);
    if (--pb->pk->pending == 0) produce_answer(pb->pk);
}

/* How many batches the record set holds, as far as their headers can be read. */
static uint32_t produce_batch_count(struct kstr records) {
    uint32_t n = 0;
    const uint8_t *at = (const uint8_t *)records.p;
    size_t left = (size_t)SL_MAX(records.len, 0);
    struct kafka_batch_header h;
    while (kafka_batch_next(&at, &left, &h)) n++;
    return n;
}

/* A large Produce checked off the loop: the log writes its batches straight from the request's
 * buffer (one copy of up to 100 MiB less on the loop), which goes once the last is written. */
struct produce_big {
    struct log_ref ref; /* released once per appended batch, when its write is done */
    uint32_t refs;      /* appended batches not yet written, plus one while the handler runs */
    uint8_t *buf;
    size_t len;
};

static void produce_big_release(struct log_ref *ref) {
    struct produce_big *big = sl_container_of(ref, struct produce_big, ref);
    SL_ASSERT(big->refs > 0);
    if (--big->refs) return;
    workers_free_off_loop(big->buf, big->len);
    free(big);
}

static enum partition_acks produce_acks(int16_t acks) {
    return acks == 0 ? PARTITION_ACKS_NONE : acks == 1 ? PARTITION_ACKS_WRITTEN : PARTITION_ACKS_DURABLE;
}

/* Appends one partition's record set, a batch at a time, and fills pr. Each batch uses the
 * next slot of *pb. chk: the batches' verdicts from the worker (NULL: checked here); big: the
 * buffer they are written from (NULL: copied). */
static void produce_partition(struct kreq *q, struct partition *part, struct kstr records, int16_t acks,
                              struct kafka_produce_part_resp *pr, struct produce_batch **pb, struct produce_park *pk,
                              const struct partition_batch_check *chk, struct produce_big *big) {
    if (records.len <= 0) {
        pr->error_code = (int16_t)sl_err_kafka(SL_CORRUPT);
        return;
    }
    uint8_t *at = (uint8_t *)records.p;
    uint32_t left = (uint32_t)records.len;
    uint64_t now = loop_now_ms(q->kc->ks->loop);
    pr->log_start_offset = partition_start_offset(part);
    for (bool first = true; left; first = false) {
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
        struct produce_batch *b = (*pb)++;
        b->pk = pk;
        b->pr = pr;
        b->done.fn = produce_batch_done;
        /* Counted before the append: a duplicate of a written batch completes inside it. */
        if (acks != 0) pk->pending++;
        if (chk) {
            e = partition_append_checked(part, at, len, produce_acks(acks), now, &b->done, chk++,
                                         big ? &big->ref : NULL);
            if (!e && big && !b->done.duplicate) big->refs++;
        } else {
            e = partition_append(part, at, len, produce_acks(acks), now, &b->done);
        }
        if (e) {
            if (acks != 0) pk->pending--;
            pr->error_code = (int16_t)sl_err_kafka(e);
            return;
        }
        if (first) pr->base_offset = b->done.base_offset;
        if (b->done.log_append_time_ms >= 0) pr->log_append_time_ms = b->done.log_append_time_ms;
        pr->log_start_offset = b->done.log_start_offset;
        at += len;
        left -= len;
    }
}

/* Whether a partition's first batch says transactional: Kafka's RequestUtils.hasTransactionalRecords
 * looks at the first batch of each partition only, and only at one its batch iterator yields (the
 * whole batch within the record set); anything else is left to the checks of the append. */
static bool produce_has_transactional(const struct kafka_produce_req *req) {
    for (int32_t t = 0; t < req->topic_count; t++) {
        for (int32_t i = 0; i < req->topics[t].partition_count; i++) {
            struct kstr rec = req->topics[t].partitions[i].records;
            struct kafka_batch_header h;
            if (rec.len > 0 && !kafka_batch_header_read((const uint8_t *)rec.p, (uint32_t)rec.len, &h) &&
                (uint64_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD <= (uint64_t)rec.len &&
                (h.attributes & KAFKA_ATTR_TRANSACTIONAL))
                return true;
        }
    }
    return false;
}

/* The handler once the request is decoded: req's records point into the request's bytes.
 * checks: every batch's verdict in request order (produce_batch_count's walk), from the
 * worker; NULL: checked here. big: the buffer they live in, for zero-copy appends. */
static void produce_run(struct kconn *kc, struct kreq *q, const struct kafka_produce_req *req, uint64_t request_bytes,
                        const struct partition_batch_check *checks, struct produce_big *big) {
    struct produce_park *pk = sl_xcalloc(1, sizeof(*pk));
    pk->resp.throttle_time_ms = kafka_quota_record(kc, KQUOTA_PRODUCE, request_bytes, loop_mono_ms(kc->ks->loop));
    /* Muted from now, not from the answer: Kafka reads one request of a connection at a time,
     * so the requests pipelined behind this one must wait out its throttle too. */
    kafka_quota_throttle(kc, KQUOTA_PRODUCE, pk->resp.throttle_time_ms, loop_mono_ms(kc->ks->loop));
    pk->q = q;
    pk->pending = 1;
    /* Parked (waiters hold q) until answered; it cannot be cancelled, only answered late. */
    q->park = pk;
    uint32_t nbatches = 0;
    size_t names = 0;
    for (int32_t t = 0; t < req->topic_count; t++) {
        for (int32_t i = 0; i < req->topics[t].partition_count; i++)
            nbatches += produce_batch_count(req->topics[t].partitions[i].records);
        names += (size_t)SL_MAX(req->topics[t].name.len, 0) + 1;
    }
    pk->names = sl_xmalloc(names ? names : 1);
    pk->batches = sl_xcalloc(SL_MAX(nbatches, 1u), sizeof(*pk->batches));
    pk->resp.topic_count = req->topic_count;
    pk->resp.topics = sl_xcalloc((size_t)SL_MAX(req->topic_count, 1), sizeof(*pk->resp.topics));
    bool acks_ok = req->acks == 0 || req->acks == 1 || req->acks == -1;
    /* KafkaApis.handleProduceRequest: transactional records need a transactional id the client
     * may write as; without one every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED and
     * nothing is appended. */
    bool txn_refused = req->transactional_id.len < 0 && produce_has_transactional(req);
    /* ACLs: WRITE on the transactional id, else every partition gets the same error. */
    if (req->transactional_id.len >= 0 &&
        !kafka_authorized(kc, KAFKA_OP_WRITE, KAFKA_RES_TRANSACTIONAL_ID, req->transactional_id))
        txn_refused = true;
    char *name_at = pk->names;
    struct produce_batch *pb = pk->batches;
    const struct partition_batch_check *chk = checks;
    for (int32_t t = 0; t < req->topic_count; t++) {
        const struct kafka_produce_topic *rt = &req->topics[t];
        struct kafka_produce_topic_resp *tr = &pk->resp.topics[t];
        int32_t len = SL_MAX(rt->name.len, 0);
        memcpy(name_at, rt->name.p, (size_t)len);
        tr->name = (struct kstr){name_at, rt->name.len};
        name_at += len + 1;
        tr->partition_count = rt->partition_count;
        tr->partitions = sl_xcalloc((size_t)SL_MAX(rt->partition_count, 1), sizeof(*tr->partitions));
        sl_err te = SL_OK;
        bool denied = !kafka_authorized(kc, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, rt->name);
        bool may_create = kafka_authorized_cluster_or_topic(kc, KAFKA_OP_CREATE, rt->name);
        struct topic *tp = acks_ok && !txn_refused && !denied ? kafka_topic_get(kc->ks, rt->name, may_create, &te) : NULL;
        const struct cluster_topic *placed = tp ? kafka_placement(kc->ks, tp) : NULL;
        for (int32_t i = 0; i < rt->partition_count; i++) {
            struct kafka_produce_part_resp *pr = &tr->partitions[i];
            pr->index = rt->partitions[i].index;
            pr->base_offset = -1;
            pr->log_append_time_ms = -1;
            pr->log_start_offset = -1;
            if (txn_refused) pr->error_code = (int16_t)sl_err_kafka(SL_TRANSACTIONAL_ID_AUTHORIZATION);
            else if (!acks_ok) pr->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUIRED_ACKS);
            else if (denied) pr->error_code = (int16_t)sl_err_kafka(SL_TOPIC_AUTHORIZATION);
            else if (!tp) pr->error_code = (int16_t)sl_err_kafka(te);
            else if (!topic_partition(tp, pr->index)) pr->error_code = (int16_t)sl_err_kafka(SL_NO_PARTITION);
            else if (!kafka_placed_leads(kc->ks, tp, placed, pr->index)) pr->error_code = (int16_t)sl_err_kafka(SL_NOT_LEADER);
            else produce_partition(q, topic_partition(tp, pr->index), rt->partitions[i].records, req->acks, pr, &pb, pk,
                                   chk, big);
            if (chk) chk += produce_batch_count(rt->partitions[i].records);
        }
    }
    if (req->acks == 0) {
        /* No answer at all, and nothing waits: the next response belongs to the next request. */
        produce_park_free(pk);
        kresp_silent(q);
        return;
    }
    if (--pk->pending == 0) produce_answer(pk);
}

sl_err kafka_handle_produce(struct kconn *kc, struct kreq *q, struct kr *r) {
    if (kafka_offload(kc, q, r)) return SL_OK;
    struct kafka_produce_req req;
    uint64_t request_bytes = (uint64_t)(r->end - r->p);
    sl_err e = kafka_decode_produce(r, q->version, &kc->arena, &req);
    if (e) return e;
    produce_run(kc, q, &req, request_bytes, NULL, NULL);
    return SL_OK;
}

/* ---- a large Produce, off the loop -------------------------------------------------------------- */

uint32_t kafka_produce_precheck(const struct kafka_produce_req *req, struct partition_batch_check **out) {
    uint32_t n = 0;
    for (int32_t t = 0; t < req->topic_count; t++)
        for (int32_t i = 0; i < req->topics[t].partition_count; i++)
            n += produce_batch_count(req->topics[t].partitions[i].records);
    struct partition_batch_check *chk = sl_xcalloc(SL_MAX(n, 1u), sizeof(*chk));
    struct kafka_records_scratch scratch;
    kafka_records_scratch_init(&scratch, 0);
    uint32_t k = 0;
    for (int32_t t = 0; t < req->topic_count; t++) {
        for (int32_t i = 0; i < req->topics[t].partition_count; i++) {
            struct kstr records = req->topics[t].partitions[i].records;
            const uint8_t *at = (const uint8_t *)records.p;
            uint32_t left = (uint32_t)SL_MAX(records.len, 0);
            for (uint32_t b = produce_batch_count(records); b; b--) { /* the same walk */
                struct kafka_batch_header h;
                kafka_batch_header_read(at, left, &h);
                uint32_t len = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
                partition_batch_check(at, len, &scratch, &chk[k++]);
                at += len;
                left -= len;
            }
        }
    }
    SL_ASSERT(k == n);
    kafka_records_scratch_free(&scratch);
    *out = chk;
    return n;
}

void kafka_produce_offloaded(struct kconn *kc, struct kreq *q, const struct kafka_produce_req *req,
                             uint64_t request_bytes, const struct partition_batch_check *checks, uint8_t *buf) {
    struct produce_big *big = sl_xcalloc(1, sizeof(*big));
    big->ref.release = produce_big_release;
    big->refs = 1;
    big->buf = buf;
    big->len = (size_t)request_bytes;
    produce_run(kc, q, req, request_bytes, checks, big);
    produce_big_release(&big->ref);
}
