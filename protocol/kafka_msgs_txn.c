/* kafka_msgs_txn.c: the transaction API bodies (see kafka_msgs_txn.h). Every codec reads or
 * writes the fields in spec order; each version guard names the spec field it guards. All
 * four APIs turn flexible at v3 (KIP-482), where every struct also ends with a tag section. */
#include "protocol/kafka_msgs_txn.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

enum { TXN_FLEX = 3, TXN_MAX = 3 };

/* ---- AddPartitionsToTxn ---- */

sl_err kafka_decode_add_partitions_to_txn(struct kr *r, int16_t v, struct karena *a,
                                          struct kafka_add_partitions_to_txn_req *out) {
    DEC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    memset(out, 0, sizeof(*out));
    out->transactional_id = dec_str(r, flex);               /* TransactionalId */
    out->producer_id = kr_i64(r);                           /* ProducerId */
    out->producer_epoch = kr_i16(r);                        /* ProducerEpoch */
    out->topic_count = dec_count(r, flex, false, 2);        /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_add_partitions_to_txn_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_add_partitions_to_txn_topic *t = &out->topics[i];
        t->name = dec_str(r, flex);                                           /* Name */
        t->partitions = dec_i32s(r, flex, a, false, &t->partition_count);     /* Partitions */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_add_partitions_to_txn_req(struct kw *w, int16_t v,
                                            const struct kafka_add_partitions_to_txn_req *req) {
    ENC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    enc_str(w, flex, req->transactional_id);
    kw_i64(w, req->producer_id);
    kw_i16(w, req->producer_epoch);
    enc_count(w, flex, req->topic_count, false);
    for (int32_t i = 0; i < req->topic_count; i++) {
        enc_str(w, flex, req->topics[i].name);
        enc_i32s(w, flex, req->topics[i].partitions, req->topics[i].partition_count, false);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_add_partitions_to_txn_resp(struct kw *w, int16_t v,
                                             const struct kafka_add_partitions_to_txn_resp *resp) {
    ENC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    kw_i32(w, resp->throttle_time_ms);             /* ThrottleTimeMs */
    enc_count(w, flex, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        const struct kafka_add_partitions_to_txn_topic_result *t = &resp->results[i];
        enc_str(w, flex, t->name);                     /* Name */
        enc_count(w, flex, t->result_count, false);    /* Results */
        for (int32_t j = 0; j < t->result_count; j++) {
            kw_i32(w, t->results[j].partition_index); /* PartitionIndex */
            kw_error(w, t->results[j].error_code);    /* ErrorCode */
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_add_partitions_to_txn_resp(struct kr *r, int16_t v, struct karena *a,
                                               struct kafka_add_partitions_to_txn_resp *out) {
    DEC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->result_count = dec_count(r, flex, false, 2);
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_add_partitions_to_txn_topic_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        struct kafka_add_partitions_to_txn_topic_result *t = &out->results[i];
        t->name = dec_str(r, flex);
        t->result_count = dec_count(r, flex, false, 6);
        t->results = DEC_ARRAY(a, t->result_count, struct kafka_add_partitions_to_txn_partition_result);
        for (int32_t j = 0; j < t->result_count && !r->err; j++) {
            t->results[j].partition_index = kr_i32(r);
            t->results[j].error_code = kr_i16(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- AddOffsetsToTxn ---- */

sl_err kafka_decode_add_offsets_to_txn(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_add_offsets_to_txn_req *out) {
    DEC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    (void)a;
    memset(out, 0, sizeof(*out));
    out->transactional_id = dec_str(r, flex); /* TransactionalId */
    out->producer_id = kr_i64(r);             /* ProducerId */
    out->producer_epoch = kr_i16(r);          /* ProducerEpoch */
    out->group_id = dec_str(r, flex);         /* GroupId */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_add_offsets_to_txn_req(struct kw *w, int16_t v,
                                         const struct kafka_add_offsets_to_txn_req *req) {
    ENC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    enc_str(w, flex, req->transactional_id);
    kw_i64(w, req->producer_id);
    kw_i16(w, req->producer_epoch);
    enc_str(w, flex, req->group_id);
    kw_tags(w, flex);
}

/* AddOffsetsToTxn and EndTxn answer the same two fields: ThrottleTimeMs, ErrorCode. */
static void enc_throttle_error(struct kw *w, int16_t v, int32_t throttle_time_ms, int16_t error_code) {
    ENC_VERSION(v, TXN_MAX);
    kw_i32(w, throttle_time_ms);
    kw_error(w, error_code);
    kw_tags(w, v >= TXN_FLEX);
}

static sl_err dec_throttle_error(struct kr *r, int16_t v, int32_t *throttle_time_ms, int16_t *error_code) {
    DEC_VERSION(v, TXN_MAX);
    *throttle_time_ms = kr_i32(r);
    *error_code = kr_i16(r);
    kr_tags(r, v >= TXN_FLEX);
    return r->err;
}

void kafka_encode_add_offsets_to_txn_resp(struct kw *w, int16_t v,
                                          const struct kafka_add_offsets_to_txn_resp *resp) {
    enc_throttle_error(w, v, resp->throttle_time_ms, resp->error_code);
}

sl_err kafka_decode_add_offsets_to_txn_resp(struct kr *r, int16_t v, struct karena *a,
                                            struct kafka_add_offsets_to_txn_resp *out) {
    (void)a;
    memset(out, 0, sizeof(*out));
    return dec_throttle_error(r, v, &out->throttle_time_ms, &out->error_code);
}

/* ---- EndTxn ---- */

sl_err kafka_decode_end_txn(struct kr *r, int16_t v, struct karena *a, struct kafka_end_txn_req *out) {
    DEC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    (void)a;
    memset(out, 0, sizeof(*out));
    out->transactional_id = dec_str(r, flex); /* TransactionalId */
    out->producer_id = kr_i64(r);             /* ProducerId */
    out->producer_epoch = kr_i16(r);          /* ProducerEpoch */
    out->committed = kr_bool(r);              /* Committed */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_end_txn_req(struct kw *w, int16_t v, const struct kafka_end_txn_req *req) {
    ENC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    enc_str(w, flex, req->transactional_id);
    kw_i64(w, req->producer_id);
    kw_i16(w, req->producer_epoch);
    kw_bool(w, req->committed);
    kw_tags(w, flex);
}

void kafka_encode_end_txn_resp(struct kw *w, int16_t v, const struct kafka_end_txn_resp *resp) {
    enc_throttle_error(w, v, resp->throttle_time_ms, resp->error_code);
}

sl_err kafka_decode_end_txn_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_end_txn_resp *out) {
    (void)a;
    memset(out, 0, sizeof(*out));
    return dec_throttle_error(r, v, &out->throttle_time_ms, &out->error_code);
}

/* ---- TxnOffsetCommit ---- */

sl_err kafka_decode_txn_offset_commit(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_txn_offset_commit_req *out) {
    DEC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    memset(out, 0, sizeof(*out));
    out->transactional_id = dec_str(r, flex);                            /* TransactionalId */
    out->group_id = dec_str(r, flex);                                    /* GroupId */
    out->producer_id = kr_i64(r);                                        /* ProducerId */
    out->producer_epoch = kr_i16(r);                                     /* ProducerEpoch */
    out->generation_id = v >= 3 ? kr_i32(r) : -1;                        /* GenerationId: v3+ */
    out->member_id = v >= 3 ? dec_str(r, flex) : kstr_empty;             /* MemberId: v3+ */
    out->group_instance_id = v >= 3 ? kr_str(r, flex) : kstr_null;       /* GroupInstanceId: v3+ */
    out->topic_count = dec_count(r, flex, false, 2);                     /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_txn_offset_commit_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_txn_offset_commit_topic *t = &out->topics[i];
        t->name = dec_str(r, flex);                      /* Name */
        t->partition_count = dec_count(r, flex, false, 13); /* Partitions */
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_txn_offset_commit_partition);
        for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
            struct kafka_txn_offset_commit_partition *p = &t->partitions[j];
            p->partition_index = kr_i32(r);                         /* PartitionIndex */
            p->committed_offset = kr_i64(r);                        /* CommittedOffset */
            p->committed_leader_epoch = v >= 2 ? kr_i32(r) : -1;   /* CommittedLeaderEpoch: v2+ */
            p->committed_metadata = kr_str(r, flex);                /* CommittedMetadata, nullable */
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_txn_offset_commit_req(struct kw *w, int16_t v, const struct kafka_txn_offset_commit_req *req) {
    ENC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    enc_str(w, flex, req->transactional_id);
    enc_str(w, flex, req->group_id);
    kw_i64(w, req->producer_id);
    kw_i16(w, req->producer_epoch);
    if (v >= 3) {
        kw_i32(w, req->generation_id);
        enc_str(w, flex, req->member_id);
        enc_nstr(w, flex, req->group_instance_id);
    }
    enc_count(w, flex, req->topic_count, false);
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_txn_offset_commit_topic *t = &req->topics[i];
        enc_str(w, flex, t->name);
        enc_count(w, flex, t->partition_count, false);
        for (int32_t j = 0; j < t->partition_count; j++) {
            const struct kafka_txn_offset_commit_partition *p = &t->partitions[j];
            kw_i32(w, p->partition_index);
            kw_i64(w, p->committed_offset);
            if (v >= 2) kw_i32(w, p->committed_leader_epoch);
            enc_nstr(w, flex, p->committed_metadata);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_txn_offset_commit_resp(struct kw *w, int16_t v, const struct kafka_txn_offset_commit_resp *resp) {
    ENC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    kw_i32(w, resp->throttle_time_ms);            /* ThrottleTimeMs */
    enc_count(w, flex, resp->topic_count, false); /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_txn_offset_commit_topic_resp *t = &resp->topics[i];
        enc_str(w, flex, t->name);
        enc_count(w, flex, t->partition_count, false);
        for (int32_t j = 0; j < t->partition_count; j++) {
            kw_i32(w, t->partitions[j].partition_index);
            kw_error(w, t->partitions[j].error_code);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_txn_offset_commit_resp(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_txn_offset_commit_resp *out) {
    DEC_VERSION(v, TXN_MAX);
    bool flex = v >= TXN_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->topic_count = dec_count(r, flex, false, 2);
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_txn_offset_commit_topic_resp);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_txn_offset_commit_topic_resp *t = &out->topics[i];
        t->name = dec_str(r, flex);
        t->partition_count = dec_count(r, flex, false, 6);
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_txn_offset_commit_partition_resp);
        for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
            t->partitions[j].partition_index = kr_i32(r);
            t->partitions[j].error_code = kr_i16(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- WriteTxnMarkers ---- */

enum { MARKERS_FLEX = 1, MARKERS_MAX = 1 };

sl_err kafka_decode_write_txn_markers(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_write_txn_markers_req *out) {
    DEC_VERSION(v, MARKERS_MAX);
    bool flex = v >= MARKERS_FLEX;
    memset(out, 0, sizeof(*out));
    /* Markers: the least a marker takes is a flexible one without topics (17 bytes). */
    out->marker_count = dec_count(r, flex, false, 8 + 2 + 1 + 1 + 4 + 1);
    out->markers = DEC_ARRAY(a, out->marker_count, struct kafka_write_txn_marker);
    for (int32_t i = 0; i < out->marker_count && !r->err; i++) {
        struct kafka_write_txn_marker *m = &out->markers[i];
        m->producer_id = kr_i64(r);                                /* ProducerId */
        m->producer_epoch = kr_i16(r);                             /* ProducerEpoch */
        m->transaction_result = kr_bool(r);                        /* TransactionResult */
        m->topic_count = dec_count(r, flex, false, 2);             /* Topics */
        m->topics = DEC_ARRAY(a, m->topic_count, struct kafka_write_txn_markers_topic);
        for (int32_t j = 0; j < m->topic_count && !r->err; j++) {
            struct kafka_write_txn_markers_topic *t = &m->topics[j];
            t->name = dec_str(r, flex);                                                  /* Name */
            t->partition_indexes = dec_i32s(r, flex, a, false, &t->partition_index_count); /* PartitionIndexes */
            kr_tags(r, flex);
        }
        m->coordinator_epoch = kr_i32(r);                          /* CoordinatorEpoch */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_write_txn_markers_req(struct kw *w, int16_t v, const struct kafka_write_txn_markers_req *req) {
    ENC_VERSION(v, MARKERS_MAX);
    bool flex = v >= MARKERS_FLEX;
    enc_count(w, flex, req->marker_count, false);
    for (int32_t i = 0; i < req->marker_count; i++) {
        const struct kafka_write_txn_marker *m = &req->markers[i];
        kw_i64(w, m->producer_id);
        kw_i16(w, m->producer_epoch);
        kw_bool(w, m->transaction_result);
        enc_count(w, flex, m->topic_count, false);
        for (int32_t j = 0; j < m->topic_count; j++) {
            enc_str(w, flex, m->topics[j].name);
            enc_i32s(w, flex, m->topics[j].partition_indexes, m->topics[j].partition_index_count, false);
            kw_tags(w, flex);
        }
        kw_i32(w, m->coordinator_epoch);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_write_txn_markers_resp(struct kw *w, int16_t v, const struct kafka_write_txn_markers_resp *resp) {
    ENC_VERSION(v, MARKERS_MAX);
    bool flex = v >= MARKERS_FLEX;
    enc_count(w, flex, resp->marker_count, false); /* Markers */
    for (int32_t i = 0; i < resp->marker_count; i++) {
        const struct kafka_write_txn_marker_result *m = &resp->markers[i];
        kw_i64(w, m->producer_id);                   /* ProducerId */
        enc_count(w, flex, m->topic_count, false);   /* Topics */
        for (int32_t j = 0; j < m->topic_count; j++) {
            const struct kafka_write_txn_markers_topic_result *t = &m->topics[j];
            enc_str(w, flex, t->name);                     /* Name */
            enc_count(w, flex, t->partition_count, false); /* Partitions */
            for (int32_t k = 0; k < t->partition_count; k++) {
                kw_i32(w, t->partitions[k].partition_index); /* PartitionIndex */
                kw_error(w, t->partitions[k].error_code);    /* ErrorCode */
                kw_tags(w, flex);
            }
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_write_txn_markers_resp(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_write_txn_markers_resp *out) {
    DEC_VERSION(v, MARKERS_MAX);
    bool flex = v >= MARKERS_FLEX;
    memset(out, 0, sizeof(*out));
    out->marker_count = dec_count(r, flex, false, 8 + 1 + 1); /* flexible, no topics */
    out->markers = DEC_ARRAY(a, out->marker_count, struct kafka_write_txn_marker_result);
    for (int32_t i = 0; i < out->marker_count && !r->err; i++) {
        struct kafka_write_txn_marker_result *m = &out->markers[i];
        m->producer_id = kr_i64(r);
        m->topic_count = dec_count(r, flex, false, 1 + 1 + 1); /* flexible, no partitions */
        m->topics = DEC_ARRAY(a, m->topic_count, struct kafka_write_txn_markers_topic_result);
        for (int32_t j = 0; j < m->topic_count && !r->err; j++) {
            struct kafka_write_txn_markers_topic_result *t = &m->topics[j];
            t->name = dec_str(r, flex);
            t->partition_count = dec_count(r, flex, false, 6);
            t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_write_txn_markers_partition_result);
            for (int32_t k = 0; k < t->partition_count && !r->err; k++) {
                t->partitions[k].partition_index = kr_i32(r);
                t->partitions[k].error_code = kr_i16(r);
                kr_tags(r, flex);
            }
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}
