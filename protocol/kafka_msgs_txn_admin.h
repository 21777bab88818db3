/* kafka_msgs_txn_admin.h: the admin view of transactions, request and response bodies in the
 * order of Kafka's message specs (clients/src/main/resources/common/message/<Api>Request.json
 * and <Api>Response.json):
 *
 *   DescribeTransactions (65) v0, flexible      ListTransactions (66) v0-1, flexible
 *
 * ListTransactions v1 adds the request's DurationFilter (KIP-994); its response is v0's.
 * Conventions are those of kafka_msgs_admin.h: kstr fields point into the decoded buffer;
 * arrays are pointer + count in the caller's arena. */
#ifndef SL_KAFKA_MSGS_TXN_ADMIN_H
#define SL_KAFKA_MSGS_TXN_ADMIN_H

#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

/* ---- DescribeTransactions (65) ---- */

struct kafka_describe_transactions_req {
    struct kstr *transactional_ids;
    int32_t transactional_id_count;
};

struct kafka_describe_transactions_topic {
    struct kstr name;
    int32_t *partitions;
    int32_t partition_count;
};

struct kafka_describe_transactions_state {
    int16_t error_code;
    struct kstr transactional_id;
    struct kstr transaction_state; /* Kafka's state names: Empty, Ongoing, PrepareCommit, ... */
    int32_t transaction_timeout_ms;
    int64_t transaction_start_time_ms; /* -1: no transaction ongoing */
    int64_t producer_id;
    int32_t producer_epoch;
    struct kafka_describe_transactions_topic *topics;
    int32_t topic_count;
};

struct kafka_describe_transactions_resp {
    int32_t throttle_time_ms;
    struct kafka_describe_transactions_state *states;
    int32_t state_count;
};

/* ---- ListTransactions (66) ---- */

struct kafka_list_transactions_req {
    struct kstr *state_filters;
    int32_t state_filter_count;
    int64_t *producer_id_filters;
    int32_t producer_id_filter_count;
    int64_t duration_filter_ms; /* v1+, default -1 */
};

struct kafka_list_transactions_state {
    struct kstr transactional_id;
    int64_t producer_id;
    struct kstr transaction_state;
};

struct kafka_list_transactions_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    struct kafka_list_transactions_state *states;
    int32_t state_count;
};

#define SL_KAFKA_TXN_ADMIN_CODEC(api)                                                              \
    sl_err kafka_decode_##api(struct kr *r, int16_t version, struct karena *a,                     \
                              struct kafka_##api##_req *out);                                      \
    void kafka_encode_##api##_req(struct kw *w, int16_t version, const struct kafka_##api##_req *req); \
    void kafka_encode_##api##_resp(struct kw *w, int16_t version,                                  \
                                   const struct kafka_##api##_resp *resp);                         \
    sl_err kafka_decode_##api##_resp(struct kr *r, int16_t version, struct karena *a,              \
                                     struct kafka_##api##_resp *out);

SL_KAFKA_TXN_ADMIN_CODEC(describe_transactions)
SL_KAFKA_TXN_ADMIN_CODEC(list_transactions)

#undef SL_KAFKA_TXN_ADMIN_CODEC

#endif
