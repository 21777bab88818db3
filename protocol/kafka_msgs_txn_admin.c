/* kafka_msgs_txn_admin.c: DescribeTransactions and ListTransactions bodies (see
 * kafka_msgs_txn_admin.h). Both are flexible from v0: every struct ends with a tag section. */
#include "protocol/kafka_msgs_txn_admin.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

enum { DESCRIBE_TXN_MAX = 0, LIST_TXN_MAX = 1 };

/* ---- DescribeTransactions ---- */

sl_err kafka_decode_describe_transactions(struct kr *r, int16_t v, struct karena *a,
                                          struct kafka_describe_transactions_req *out) {
    DEC_VERSION(v, DESCRIBE_TXN_MAX);
    memset(out, 0, sizeof(*out));
    out->transactional_ids = dec_strs(r, true, a, false, &out->transactional_id_count); /* TransactionalIds */
    kr_tags(r, true);
    return r->err;
}

void kafka_encode_describe_transactions_req(struct kw *w, int16_t v,
                                            const struct kafka_describe_transactions_req *req) {
    ENC_VERSION(v, DESCRIBE_TXN_MAX);
    enc_strs(w, true, req->transactional_ids, req->transactional_id_count, false);
    kw_tags(w, true);
}

void kafka_encode_describe_transactions_resp(struct kw *w, int16_t v,
                                             const struct kafka_describe_transactions_resp *resp) {
    ENC_VERSION(v, DESCRIBE_TXN_MAX);
    kw_i32(w, resp->throttle_time_ms);          /* ThrottleTimeMs */
    enc_count(w, true, resp->state_count, false); /* TransactionStates */
    for (int32_t i = 0; i < resp->state_count; i++) {
        const struct kafka_describe_transactions_state *s = &resp->states[i];
        kw_error(w, s->error_code);               /* ErrorCode */
        enc_str(w, true, s->transactional_id);    /* TransactionalId */
        enc_str(w, true, s->transaction_state);   /* TransactionState */
        kw_i32(w, s->transaction_timeout_ms);     /* TransactionTimeoutMs */
        kw_i64(w, s->transaction_start_time_ms);  /* TransactionStartTimeMs */
        kw_i64(w, s->producer_id);                /* ProducerId */
        kw_i32(w, s->producer_epoch);             /* ProducerEpoch */
        enc_count(w, true, s->topic_count, false); /* TopicPartitions */
        for (int32_t t = 0; t < s->topic_count; t++) {
            enc_str(w, true, s->topics[t].name);                                              /* Name */
            enc_i32s(w, true, s->topics[t].partitions, s->topics[t].partition_count, false); /* PartitionIndexes */
            kw_tags(w, true);
        }
        kw_tags(w, true);
    }
    kw_tags(w, true);
}

sl_err kafka_decode_describe_transactions_resp(struct kr *r, int16_t v, struct karena *a,
                                               struct kafka_describe_transactions_resp *out) {
    DEC_VERSION(v, DESCRIBE_TXN_MAX);
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->state_count = dec_count(r, true, false, 30);
    out->states = DEC_ARRAY(a, out->state_count, struct kafka_describe_transactions_state);
    for (int32_t i = 0; i < out->state_count && !r->err; i++) {
        struct kafka_describe_transactions_state *s = &out->states[i];
        s->error_code = kr_i16(r);
        s->transactional_id = dec_str(r, true);
        s->transaction_state = dec_str(r, true);
        s->transaction_timeout_ms = kr_i32(r);
        s->transaction_start_time_ms = kr_i64(r);
        s->producer_id = kr_i64(r);
        s->producer_epoch = kr_i32(r);
        s->topic_count = dec_count(r, true, false, 3);
        s->topics = DEC_ARRAY(a, s->topic_count, struct kafka_describe_transactions_topic);
        for (int32_t t = 0; t < s->topic_count && !r->err; t++) {
            s->topics[t].name = dec_str(r, true);
            s->topics[t].partitions = dec_i32s(r, true, a, false, &s->topics[t].partition_count);
            kr_tags(r, true);
        }
        kr_tags(r, true);
    }
    kr_tags(r, true);
    return r->err;
}

/* ---- ListTransactions ---- */

sl_err kafka_decode_list_transactions(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_list_transactions_req *out) {
    DEC_VERSION(v, LIST_TXN_MAX);
    memset(out, 0, sizeof(*out));
    out->state_filters = dec_strs(r, true, a, false, &out->state_filter_count); /* StateFilters */
    out->producer_id_filter_count = dec_count(r, true, false, 8);               /* ProducerIdFilters */
    out->producer_id_filters = DEC_ARRAY(a, out->producer_id_filter_count, int64_t);
    for (int32_t i = 0; i < out->producer_id_filter_count; i++) out->producer_id_filters[i] = kr_i64(r);
    out->duration_filter_ms = v >= 1 ? kr_i64(r) : -1; /* DurationFilter: v1+ */
    kr_tags(r, true);
    return r->err;
}

void kafka_encode_list_transactions_req(struct kw *w, int16_t v, const struct kafka_list_transactions_req *req) {
    ENC_VERSION(v, LIST_TXN_MAX);
    enc_strs(w, true, req->state_filters, req->state_filter_count, false);
    enc_count(w, true, req->producer_id_filter_count, false);
    for (int32_t i = 0; i < req->producer_id_filter_count; i++) kw_i64(w, req->producer_id_filters[i]);
    if (v >= 1) kw_i64(w, req->duration_filter_ms);
    kw_tags(w, true);
}

void kafka_encode_list_transactions_resp(struct kw *w, int16_t v, const struct kafka_list_transactions_resp *resp) {
    ENC_VERSION(v, LIST_TXN_MAX);
    kw_i32(w, resp->throttle_time_ms);            /* ThrottleTimeMs */
    kw_error(w, resp->error_code);                /* ErrorCode */
    enc_count(w, true, resp->state_count, false); /* TransactionStates */
    for (int32_t i = 0; i < resp->state_count; i++) {
        enc_str(w, true, resp->states[i].transactional_id);  /* TransactionalId */
        kw_i64(w, resp->states[i].producer_id);              /* ProducerId */
        enc_str(w, true, resp->states[i].transaction_state); /* TransactionState */
        kw_tags(w, true);
    }
    kw_tags(w, true);
}

sl_err kafka_decode_list_transactions_resp(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_list_transactions_resp *out) {
    DEC_VERSION(v, LIST_TXN_MAX);
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->error_code = kr_i16(r);
    out->state_count = dec_count(r, true, false, 11);
    out->states = DEC_ARRAY(a, out->state_count, struct kafka_list_transactions_state);
    for (int32_t i = 0; i < out->state_count && !r->err; i++) {
        out->states[i].transactional_id = dec_str(r, true);
        out->states[i].producer_id = kr_i64(r);
        out->states[i].transaction_state = dec_str(r, true);
        kr_tags(r, true);
    }
    kr_tags(r, true);
    return r->err;
}
