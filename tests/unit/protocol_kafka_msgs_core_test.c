/* protocol_kafka_msgs_core_test.c: protocol/kafka_msgs_core.c. For every message (request and
 * response of Metadata, Produce, Fetch, ListOffsets, InitProducerId), every served version and
 * several fillings (non-null and null strings, empty and multi-element arrays): encode, decode,
 * compare field by field (absent fields must come back as the spec's defaults), re-encode to
 * the same bytes; then every truncation must fail and byte flips must never crash (run under
 * ASan/UBSan; each input sits in an exact-size heap copy). Plus hand-assembled bytes of a
 * Produce v7, a Metadata v1 and a Metadata v9 request, and the streaming Fetch encoder. Fetch's
 * DivergingEpoch (v12+, a partition's tagged field 0): round trip at v12-17 through
 * kafka_encode_fetch_resp and kafka_decode_fetch_resp, never written below v12, the other
 * tagged fields (CurrentLeader, SnapshotId) skipped in hand-built bytes, a field whose size runs
 * past the end refused. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "protocol/crc32c.h"
#include "protocol/kafka_batch.h"
#include "protocol/kafka_msgs_core.h"
#include "testutil.h"

#define VARIANTS 3 /* 0: everything filled; 1: nulls and empty arrays; 2: mixed */

static struct karena arena;
static const struct kstr NUL = {NULL, -1};
static unsigned long round_trips, decodes;

static struct kstr S(const char *s) { return kafka_kstr(s); }

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
    uint8_t *c = malloc(n ? n : 1); /* exact size, so ASan sees any overread */
    if (n) memcpy(c, p, n);
    return c;
}

static void ck_kstr(struct kstr got, struct kstr want) {
    if (!want.p || want.len < 0) {
        ck_assert_int_eq(got.len, -1);
        return;
    }
    ck_assert_int_eq(got.len, want.len);
    ck_assert_ptr_nonnull(got.p);
    ck_assert(memcmp(got.p, want.p, (size_t)want.len) == 0);
}

static void ck_i32s(const int32_t *got, int32_t got_n, const int32_t *want, int32_t want_n) {
    ck_assert_int_eq(got_n, want_n);
    for (int32_t i = 0; i < want_n; i++) ck_assert_int_eq(got[i], want[i]);
}

static const uint8_t k_records[] = {0, 0, 0, 0, 0, 0, 0, 9, 0xff, 0x00, 'r', 'e', 'c', 0x80, 0x7f, 1};
static struct kstr records(void) { return (struct kstr){(const char *)k_records, sizeof k_records}; }

/* ============================================================================================
 * Metadata
 * ========================================================================================== */

static void fill_metadata_req(void *m, int16_t v, int variant) {
    static struct kafka_metadata_topic topics[4];
    struct kafka_metadata_req *q = m;
    memset(q, 0, sizeof(*q));
    memset(topics, 0, sizeof(topics));
    q->allow_auto_topic_creation = variant != 0;
    q->include_cluster_authorized_operations = variant != 1;
    q->include_topic_authorized_operations = variant == 0;
    if (variant == 1) {
        q->topic_count = v >= 1 ? -1 : 0; /* all topics, as each version spells it */
        return;
    }
    q->topics = topics;
    topics[0].name = S("alpha");
    topics[1].name = S("beta-topic-with-a-longer-name");
    topics[2].name = S("");
    q->topic_count = variant == 0 ? 3 : 1;
    for (int i = 0; i < 4; i++) memset(topics[i].topic_id, 0x10 * (i + 1) + 1, 16);
    if (variant == 0 && v >= 10) {
        topics[3].name = NUL; /* by id only: Name is nullable from v10 */
        q->topic_count = 4;
    }
}

static void cmp_metadata_req(const void *a, const void *b, int16_t v) {
    const struct kafka_metadata_req *in = a, *out = b;
    int32_t n = (v == 0 && in->topic_count < 0) ? 0 : in->topic_count;
    ck_assert_int_eq(out->topic_count, n);
    for (int32_t i = 0; i < n; i++) {
        ck_kstr(out->topics[i].name, in->topics[i].name);
        uint8_t zero[16] = {0};
        ck_assert(memcmp(out->topics[i].topic_id, v >= 10 ? in->topics[i].topic_id : zero, 16) == 0);
    }
    ck_assert(out->all_topics == (v == 0 ? n == 0 : n < 0));
    ck_assert(out->allow_auto_topic_creation == (v >= 4 ? in->allow_auto_topic_creation : true));
    ck_assert(out->include_cluster_authorized_operations ==
              (v >= 8 && v <= 10 ? in->include_cluster_authorized_operations : false));
    ck_assert(out->include_topic_authorized_operations ==
              (v >= 8 ? in->include_topic_authorized_operations : false));
}

static void fill_metadata_resp(void *m, int16_t v, int variant) {
    static struct kafka_metadata_broker brokers[2];
    static struct kafka_metadata_topic_resp topics[3];
    static struct kafka_metadata_part parts[3];
    static int32_t replicas[] = {1, 2, 3}, isr[] = {3, 1}, offline[] = {2};
    struct kafka_metadata_resp *p = m;
    memset(p, 0, sizeof(*p));
    p->throttle_time_ms = 321;
    p->controller_id = 2;
    p->cluster_authorized_operations = 0x5a5a;
    p->cluster_id = variant == 1 ? NUL : S("sluice-cluster-1");
    brokers[0] = (struct kafka_metadata_broker){1, S("broker-1.example"), 9092, S("rack-a")};
    brokers[1] = (struct kafka_metadata_broker){2, S("10.0.0.2"), 19092, NUL};
    p->brokers = brokers;
    p->broker_count = variant == 1 ? 0 : 2;
    parts[0] = (struct kafka_metadata_part){0, 0, 1, 17, 3, replicas, 2, isr, 1, offline};
    parts[1] = (struct kafka_metadata_part){5, 1, -1, 3, 0, NULL, 0, NULL, 0, NULL};
    parts[2] = (struct kafka_metadata_part){0, 2, 3, -7, 1, replicas + 2, 1, isr, 0, NULL};
    topics[0] = (struct kafka_metadata_topic_resp){0, S("orders"), {0}, false, 3, parts, 0x0f0f};
    memset(topics[0].topic_id, 0xab, 16);
    topics[1] = (struct kafka_metadata_topic_resp){3, S("missing"), {0}, true, 0, NULL, -5};
    topics[2] = (struct kafka_metadata_topic_resp){100, v >= 12 ? NUL : S("by-id"), {0}, false, 1,
                                                   parts + 1, 7};
    memset(topics[2].topic_id, 0xcd, 16);
    p->topics = topics;
    p->topic_count = variant == 0 ? 3 : (variant == 1 ? 0 : 1);
}

static void cmp_metadata_part(const struct kafka_metadata_part *in,
                              const struct kafka_metadata_part *out, int16_t v) {
    ck_assert_int_eq(out->error_code, in->error_code);
    ck_assert_int_eq(out->partition_index, in->partition_index);
    ck_assert_int_eq(out->leader_id, in->leader_id);
    ck_assert_int_eq(out->leader_epoch, v >= 7 ? in->leader_epoch : -1);
    ck_i32s(out->replica_nodes, out->replica_count, in->replica_nodes, in->replica_count);
    ck_i32s(out->isr_nodes, out->isr_count, in->isr_nodes, in->isr_count);
    if (v >= 5) ck_i32s(out->offline_replicas, out->offline_count, in->offline_replicas, in->offline_count);
    else ck_assert_int_eq(out->offline_count, 0);
}

static void cmp_metadata_resp(const void *a, const void *b, int16_t v) {
    const struct kafka_metadata_resp *in = a, *out = b;
    ck_assert_int_eq(out->throttle_time_ms, v >= 3 ? in->throttle_time_ms : 0);
    ck_assert_int_eq(out->broker_count, in->broker_count);
    for (int32_t i = 0; i < in->broker_count; i++) {
        ck_assert_int_eq(out->brokers[i].node_id, in->brokers[i].node_id);
        ck_kstr(out->brokers[i].host, in->brokers[i].host);
        ck_assert_int_eq(out->brokers[i].port, in->brokers[i].port);
        ck_kstr(out->brokers[i].rack, v >= 1 ? in->brokers[i].rack : NUL);
    }
    ck_kstr(out->cluster_id, v >= 2 ? in->cluster_id : NUL);
    ck_assert_int_eq(out->controller_id, v >= 1 ? in->controller_id : -1);
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        const struct kafka_metadata_topic_resp *ti = &in->topics[i], *to = &out->topics[i];
        uint8_t zero[16] = {0};
        ck_assert_int_eq(to->error_code, ti->error_code);
        ck_kstr(to->name, ti->name);
        ck_assert(memcmp(to->topic_id, v >= 10 ? ti->topic_id : zero, 16) == 0);
        ck_assert(to->is_internal == (v >= 1 ? ti->is_internal : false));
        ck_assert_int_eq(to->partition_count, ti->partition_count);
        for (int32_t j = 0; j < ti->partition_count; j++)
            cmp_metadata_part(&ti->partitions[j], &to->partitions[j], v);
        ck_assert_int_eq(to->topic_authorized_operations,
                         v >= 8 ? ti->topic_authorized_operations : INT32_MIN);
    }
    ck_assert_int_eq(out->cluster_authorized_operations,
                     v >= 8 && v <= 10 ? in->cluster_authorized_operations : INT32_MIN);
}

/* ============================================================================================
 * Produce
 * ========================================================================================== */

static void fill_produce_req(void *m, int16_t v, int variant) {
    static struct kafka_produce_topic topics[2];
    static struct kafka_produce_part parts[3];
    (void)v;
    struct kafka_produce_req *q = m;
    memset(q, 0, sizeof(*q));
    q->transactional_id = variant == 0 ? S("txn-producer-1") : NUL;
    q->acks = variant == 1 ? 0 : -1;
    q->timeout_ms = 30000 + variant;
    parts[0] = (struct kafka_produce_part){0, records()};
    parts[1] = (struct kafka_produce_part){7, NUL};
    parts[2] = (struct kafka_produce_part){2147483647, S("")};
    topics[0] = (struct kafka_produce_topic){S("orders"), 3, parts};
    topics[1] = (struct kafka_produce_topic){S("empty"), 0, NULL};
    q->topics = topics;
    q->topic_count = variant == 0 ? 2 : (variant == 1 ? 0 : 1);
}

static void cmp_produce_req(const void *a, const void *b, int16_t v) {
    const struct kafka_produce_req *in = a, *out = b;
    ck_kstr(out->transactional_id, v >= 3 ? in->transactional_id : NUL); /* TransactionalId: v3+ */
    ck_assert_int_eq(out->acks, in->acks);
    ck_assert_int_eq(out->timeout_ms, in->timeout_ms);
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        ck_kstr(out->topics[i].name, in->topics[i].name);
        ck_assert_int_eq(out->topics[i].partition_count, in->topics[i].partition_count);
        for (int32_t j = 0; j < in->topics[i].partition_count; j++) {
            ck_assert_int_eq(out->topics[i].partitions[j].index, in->topics[i].partitions[j].index);
            ck_kstr(out->topics[i].partitions[j].records, in->topics[i].partitions[j].records);
        }
    }
}

static void fill_produce_resp(void *m, int16_t v, int variant) {
    static struct kafka_produce_topic_resp topics[2];
    static struct kafka_produce_part_resp parts[2];
    static struct kafka_produce_record_error errs[2];
    (void)v;
    struct kafka_produce_resp *p = m;
    memset(p, 0, sizeof(*p));
    errs[0] = (struct kafka_produce_record_error){3, S("record 3 has a null key")};
    errs[1] = (struct kafka_produce_record_error){9, NUL};
    parts[0] = (struct kafka_produce_part_resp){0, 0, 1234567890123LL, 1700000000000LL, 12, 2, errs,
                                                S("batch dropped")};
    parts[1] = (struct kafka_produce_part_resp){4, 87, -1, -1, -1, 0, NULL, NUL};
    topics[0] = (struct kafka_produce_topic_resp){S("orders"), variant == 2 ? 1 : 2, parts};
    topics[1] = (struct kafka_produce_topic_resp){S(""), 0, NULL};
    p->topics = topics;
    p->topic_count = variant == 1 ? 0 : 2;
    p->throttle_time_ms = 99;
}

static void cmp_produce_resp(const void *a, const void *b, int16_t v) {
    const struct kafka_produce_resp *in = a, *out = b;
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        const struct kafka_produce_topic_resp *ti = &in->topics[i], *to = &out->topics[i];
        ck_kstr(to->name, ti->name);
        ck_assert_int_eq(to->partition_count, ti->partition_count);
        for (int32_t j = 0; j < ti->partition_count; j++) {
            const struct kafka_produce_part_resp *pi = &ti->partitions[j], *po = &to->partitions[j];
            ck_assert_int_eq(po->index, pi->index);
            ck_assert_int_eq(po->error_code, pi->error_code);
            ck_assert_int_eq(po->base_offset, pi->base_offset);
            ck_assert_int_eq(po->log_append_time_ms, v >= 2 ? pi->log_append_time_ms : -1);
            ck_assert_int_eq(po->log_start_offset, v >= 5 ? pi->log_start_offset : -1);
            ck_assert_int_eq(po->record_error_count, v >= 8 ? pi->record_error_count : 0);
            for (int32_t k = 0; k < po->record_error_count; k++) {
                ck_assert_int_eq(po->record_errors[k].batch_index, pi->record_errors[k].batch_index);
                ck_kstr(po->record_errors[k].message, pi->record_errors[k].message);
            }
            ck_kstr(po->error_message, v >= 8 ? pi->error_message : NUL);
        }
    }
    ck_assert_int_eq(out->throttle_time_ms, v >= 1 ? in->throttle_time_ms : 0); /* v1+ */
}

/* ============================================================================================
 * Fetch
 * ========================================================================================== */

static void fill_fetch_req(void *m, int16_t v, int variant) {
    static struct kafka_fetch_topic topics[2];
    static struct kafka_fetch_part parts[3];
    static struct kafka_fetch_forgotten forgotten[2];
    static int32_t forget_parts[] = {4, 0, 2147483647};
    (void)v;
    struct kafka_fetch_req *q = m;
    memset(q, 0, sizeof(*q));
    *q = (struct kafka_fetch_req){-1, 500, 1, 52428800, 1, 77, 3, 0, NULL, 0, NULL, S("rack-b")};
    parts[0] = (struct kafka_fetch_part){0, 5, 1000, 4, 12, 1048576};
    parts[1] = (struct kafka_fetch_part){9, -1, 0, -1, -1, 1};
    parts[2] = (struct kafka_fetch_part){3, 2, 9007199254740993LL, 1, 0, 65536};
    topics[0] = (struct kafka_fetch_topic){S("orders"), 3, parts, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
    topics[1] = (struct kafka_fetch_topic){S("t2"), 0, NULL, {0xff, [15] = 0x80}};
    forgotten[0] = (struct kafka_fetch_forgotten){S("gone"), 3, forget_parts, {[0] = 0x42, [8] = 7}};
    forgotten[1] = (struct kafka_fetch_forgotten){S(""), 0, NULL, {0}};
    q->topics = topics;
    q->forgotten = forgotten;
    if (variant == 0) {
        q->topic_count = 2;
        q->forgotten_count = 2;
    } else if (variant == 1) {
        q->rack_id = S("");
        q->isolation_level = 0;
    } else {
        q->topic_count = 1;
        q->forgotten_count = 1;
        q->replica_id = 3;
    }
}

static void cmp_fetch_req(const void *a, const void *b, int16_t v) {
    const struct kafka_fetch_req *in = a, *out = b;
    ck_assert_int_eq(out->replica_id, v <= 14 ? in->replica_id : -1); /* ReplicaId: v0-14 */
    ck_assert_int_eq(out->max_wait_ms, in->max_wait_ms);
    ck_assert_int_eq(out->min_bytes, in->min_bytes);
    ck_assert_int_eq(out->max_bytes, v >= 3 ? in->max_bytes : INT32_MAX);
    ck_assert_int_eq(out->isolation_level, v >= 4 ? in->isolation_level : 0);
    ck_assert_int_eq(out->session_id, v >= 7 ? in->session_id : 0);
    ck_assert_int_eq(out->session_epoch, v >= 7 ? in->session_epoch : -1);
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        const struct kafka_fetch_topic *ti = &in->topics[i], *to = &out->topics[i];
        /* Topic: v0-12, TopicId: v13+ */
        ck_kstr(to->topic, v >= 13 ? S("") : ti->topic);
        static const uint8_t zero[16];
        ck_assert_int_eq(memcmp(to->topic_id, v >= 13 ? ti->topic_id : zero, 16), 0);
        ck_assert_int_eq(to->partition_count, ti->partition_count);
        for (int32_t j = 0; j < ti->partition_count; j++) {
            const struct kafka_fetch_part *pi = &ti->partitions[j], *po = &to->partitions[j];
            ck_assert_int_eq(po->partition, pi->partition);
            ck_assert_int_eq(po->current_leader_epoch, v >= 9 ? pi->current_leader_epoch : -1);
            ck_assert_int_eq(po->fetch_offset, pi->fetch_offset);
            ck_assert_int_eq(po->last_fetched_epoch, v >= 12 ? pi->last_fetched_epoch : -1);
            ck_assert_int_eq(po->log_start_offset, v >= 5 ? pi->log_start_offset : -1);
            ck_assert_int_eq(po->partition_max_bytes, pi->partition_max_bytes);
        }
    }
    ck_assert_int_eq(out->forgotten_count, v >= 7 ? in->forgotten_count : 0);
    for (int32_t i = 0; i < out->forgotten_count; i++) {
        ck_kstr(out->forgotten[i].topic, v >= 13 ? S("") : in->forgotten[i].topic);
        if (v >= 13) ck_assert_int_eq(memcmp(out->forgotten[i].topic_id, in->forgotten[i].topic_id, 16), 0);
        ck_i32s(out->forgotten[i].partitions, out->forgotten[i].partition_count,
                in->forgotten[i].partitions, in->forgotten[i].partition_count);
    }
    ck_kstr(out->rack_id, v >= 11 ? in->rack_id : S(""));
}

static void fill_fetch_resp(void *m, int16_t v, int variant) {
    static struct kafka_fetch_topic_resp topics[2];
    static struct kafka_fetch_part_resp parts[3];
    static struct kafka_fetch_aborted aborted[2] = {{1001, 50}, {-1, 9000000000LL}};
    (void)v;
    struct kafka_fetch_resp *p = m;
    memset(p, 0, sizeof(*p));
    *p = (struct kafka_fetch_resp){17, variant == 2 ? 70 : 0, 123456, 0, NULL};
    parts[0] = (struct kafka_fetch_part_resp){0, 0, 5000, 4990, 100, 2, aborted, 2, records()};
    parts[1] = (struct kafka_fetch_part_resp){1, 1, -1, -1, -1, -1, NULL, -1, NUL};
    parts[2] = (struct kafka_fetch_part_resp){2, 0, 0, 0, 0, 0, NULL, 1, S("")};
    topics[0] = (struct kafka_fetch_topic_resp){S("orders"), 3, parts, {9, 8, 7, [15] = 1}};
    topics[1] = (struct kafka_fetch_topic_resp){S("quiet"), 0, NULL, {0}};
    p->topics = topics;
    p->topic_count = variant == 0 ? 2 : (variant == 1 ? 0 : 1);
}

static void cmp_fetch_resp(const void *a, const void *b, int16_t v) {
    const struct kafka_fetch_resp *in = a, *out = b;
    ck_assert_int_eq(out->throttle_time_ms, in->throttle_time_ms);
    ck_assert_int_eq(out->error_code, v >= 7 ? in->error_code : 0);
    ck_assert_int_eq(out->session_id, v >= 7 ? in->session_id : 0);
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        const struct kafka_fetch_topic_resp *ti = &in->topics[i], *to = &out->topics[i];
        ck_kstr(to->topic, v >= 13 ? S("") : ti->topic); /* Topic: v0-12, TopicId: v13+ */
        if (v >= 13) ck_assert_int_eq(memcmp(to->topic_id, ti->topic_id, 16), 0);
        ck_assert_int_eq(to->partition_count, ti->partition_count);
        for (int32_t j = 0; j < ti->partition_count; j++) {
            const struct kafka_fetch_part_resp *pi = &ti->partitions[j], *po = &to->partitions[j];
            ck_assert_int_eq(po->partition_index, pi->partition_index);
            ck_assert_int_eq(po->error_code, pi->error_code);
            ck_assert_int_eq(po->high_watermark, pi->high_watermark);
            ck_assert_int_eq(po->last_stable_offset, v >= 4 ? pi->last_stable_offset : -1);
            ck_assert_int_eq(po->log_start_offset, v >= 5 ? pi->log_start_offset : -1);
            ck_assert_int_eq(po->aborted_count, pi->aborted_count);
            for (int32_t k = 0; k < pi->aborted_count; k++) {
                ck_assert_int_eq(po->aborted[k].producer_id, pi->aborted[k].producer_id);
                ck_assert_int_eq(po->aborted[k].first_offset, pi->aborted[k].first_offset);
            }
            ck_assert_int_eq(po->preferred_read_replica, v >= 11 ? pi->preferred_read_replica : -1);
            ck_kstr(po->records, pi->records);
        }
    }
}

/* ============================================================================================
 * ListOffsets
 * ========================================================================================== */

static void fill_list_offsets_req(void *m, int16_t v, int variant) {
    static struct kafka_list_offsets_topic topics[2];
    static struct kafka_list_offsets_part parts[3];
    (void)v;
    struct kafka_list_offsets_req *q = m;
    memset(q, 0, sizeof(*q));
    q->replica_id = variant == 2 ? 4 : -1;
    q->isolation_level = variant == 0 ? 1 : 0;
    parts[0] = (struct kafka_list_offsets_part){0, 6, -1, 5};
    parts[1] = (struct kafka_list_offsets_part){1, -1, -2, 1};
    parts[2] = (struct kafka_list_offsets_part){2, 0, 1700000000123LL, 2147483647};
    topics[0] = (struct kafka_list_offsets_topic){S("orders"), 3, parts};
    topics[1] = (struct kafka_list_offsets_topic){S(""), 0, NULL};
    q->topics = topics;
    q->topic_count = variant == 0 ? 2 : (variant == 1 ? 0 : 1);
}

static void cmp_list_offsets_req(const void *a, const void *b, int16_t v) {
    const struct kafka_list_offsets_req *in = a, *out = b;
    ck_assert_int_eq(out->replica_id, in->replica_id);
    ck_assert_int_eq(out->isolation_level, v >= 2 ? in->isolation_level : 0);
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        ck_kstr(out->topics[i].name, in->topics[i].name);
        ck_assert_int_eq(out->topics[i].partition_count, in->topics[i].partition_count);
        for (int32_t j = 0; j < in->topics[i].partition_count; j++) {
            const struct kafka_list_offsets_part *pi = &in->topics[i].partitions[j];
            const struct kafka_list_offsets_part *po = &out->topics[i].partitions[j];
            ck_assert_int_eq(po->partition_index, pi->partition_index);
            ck_assert_int_eq(po->current_leader_epoch, v >= 4 ? pi->current_leader_epoch : -1);
            ck_assert_int_eq(po->timestamp, pi->timestamp);
            ck_assert_int_eq(po->max_num_offsets, v == 0 ? pi->max_num_offsets : 1);
        }
    }
}

static void fill_list_offsets_resp(void *m, int16_t v, int variant) {
    static struct kafka_list_offsets_topic_resp topics[2];
    static struct kafka_list_offsets_part_resp parts[2];
    static int64_t old[] = {500, 0, -1};
    (void)v;
    struct kafka_list_offsets_resp *p = m;
    memset(p, 0, sizeof(*p));
    p->throttle_time_ms = 5;
    parts[0] = (struct kafka_list_offsets_part_resp){0, 0, 3, old, 1700000000000LL, 500, 4};
    parts[1] = (struct kafka_list_offsets_part_resp){1, 3, 0, NULL, -1, -1, -1};
    topics[0] = (struct kafka_list_offsets_topic_resp){S("orders"), 2, parts};
    topics[1] = (struct kafka_list_offsets_topic_resp){S("x"), 0, NULL};
    p->topics = topics;
    p->topic_count = variant == 0 ? 2 : (variant == 1 ? 0 : 1);
}

static void cmp_list_offsets_resp(const void *a, const void *b, int16_t v) {
    const struct kafka_list_offsets_resp *in = a, *out = b;
    ck_assert_int_eq(out->throttle_time_ms, v >= 2 ? in->throttle_time_ms : 0);
    ck_assert_int_eq(out->topic_count, in->topic_count);
    for (int32_t i = 0; i < in->topic_count; i++) {
        ck_kstr(out->topics[i].name, in->topics[i].name);
        ck_assert_int_eq(out->topics[i].partition_count, in->topics[i].partition_count);
        for (int32_t j = 0; j < in->topics[i].partition_count; j++) {
            const struct kafka_list_offsets_part_resp *pi = &in->topics[i].partitions[j];
            const struct kafka_list_offsets_part_resp *po = &out->topics[i].partitions[j];
            ck_assert_int_eq(po->partition_index, pi->partition_index);
            ck_assert_int_eq(po->error_code, pi->error_code);
            ck_assert_int_eq(po->old_style_offset_count, v == 0 ? pi->old_style_offset_count : 0);
            for (int32_t k = 0; k < po->old_style_offset_count; k++)
                ck_assert_int_eq(po->old_style_offsets[k], pi->old_style_offsets[k]);
            ck_assert_int_eq(po->timestamp, v >= 1 ? pi->timestamp : -1);
            ck_assert_int_eq(po->offset, v >= 1 ? pi->offset : -1);
            ck_assert_int_eq(po->leader_epoch, v >= 4 ? pi->leader_epoch : -1);
        }
    }
}

/* ============================================================================================
 * InitProducerId
 * ========================================================================================== */

static void fill_init_producer_id_req(void *m, int16_t v, int variant) {
    (void)v;
    struct kafka_init_producer_id_req *q = m;
    *q = (struct kafka_init_producer_id_req){variant == 0 ? S("my-transactional-id")
                                                          : (variant == 1 ? NUL : S("")),
                                             60000 + variant, 9876543210LL, 3};
}

static void cmp_init_producer_id_req(const void *a, const void *b, int16_t v) {
    const struct kafka_init_producer_id_req *in = a, *out = b;
    ck_kstr(out->transactional_id, in->transactional_id);
    ck_assert_int_eq(out->transaction_timeout_ms, in->transaction_timeout_ms);
    ck_assert_int_eq(out->producer_id, v >= 3 ? in->producer_id : -1);
    ck_assert_int_eq(out->producer_epoch, v >= 3 ? in->producer_epoch : -1);
}

static void fill_init_producer_id_resp(void *m, int16_t v, int variant) {
    (void)v;
    struct kafka_init_producer_id_resp *p = m;
    *p = (struct kafka_init_producer_id_resp){7, variant == 1 ? 47 : 0, 4000000001LL + variant, 2};
}

static void cmp_init_producer_id_resp(const void *a, const void *b, int16_t v) {
    const struct kafka_init_producer_id_resp *in = a, *out = b;
    (void)v;
    ck_assert_int_eq(out->throttle_time_ms, in->throttle_time_ms);
    ck_assert_int_eq(out->error_code, in->error_code);
    ck_assert_int_eq(out->producer_id, in->producer_id);
    ck_assert_int_eq(out->producer_epoch, in->producer_epoch);
}

/* ============================================================================================
 * The generic driver
 * ========================================================================================== */

union any_msg {
    struct kafka_metadata_req a;
    struct kafka_metadata_resp b;
    struct kafka_produce_req c;
    struct kafka_produce_resp d;
    struct kafka_fetch_req e;
    struct kafka_fetch_resp f;
    struct kafka_list_offsets_req g;
    struct kafka_list_offsets_resp h;
    struct kafka_init_producer_id_req i;
    struct kafka_init_producer_id_resp j;
};

typedef sl_err (*decode_fn)(struct kr *r, int16_t v, struct karena *a, void *out);
typedef void (*encode_fn)(struct kw *w, int16_t v, const void *in);

struct codec {
    const char *name;
    int16_t key;
    decode_fn decode;
    encode_fn encode;
    void (*fill)(void *m, int16_t v, int variant);
    void (*cmp)(const void *in, const void *out, int16_t v);
};

#define CODEC(api, dec, enc, type)                                                         \
    static sl_err api##_dec(struct kr *r, int16_t v, struct karena *a, void *out) {        \
        return dec(r, v, a, (type *)out);                                                  \
    }                                                                                      \
    static void api##_enc(struct kw *w, int16_t v, const void *in) { enc(w, v, (const type *)in); }

CODEC(metadata_req, kafka_decode_metadata, kafka_encode_metadata_req, struct kafka_metadata_req)
CODEC(metadata_resp, kafka_decode_metadata_resp, kafka_encode_metadata_resp, struct kafka_metadata_resp)
CODEC(produce_req, kafka_decode_produce, kafka_encode_produce_req, struct kafka_produce_req)
CODEC(produce_resp, kafka_decode_produce_resp, kafka_encode_produce_resp, struct kafka_produce_resp)
CODEC(fetch_req, kafka_decode_fetch, kafka_encode_fetch_req, struct kafka_fetch_req)
CODEC(fetch_resp, kafka_decode_fetch_resp, kafka_encode_fetch_resp, struct kafka_fetch_resp)
CODEC(list_offsets_req, kafka_decode_list_offsets, kafka_encode_list_offsets_req,
      struct kafka_list_offsets_req)
CODEC(list_offsets_resp, kafka_decode_list_offsets_resp, kafka_encode_list_offsets_resp,
      struct kafka_list_offsets_resp)
CODEC(init_producer_id_req, kafka_decode_init_producer_id, kafka_encode_init_producer_id_req,
      struct kafka_init_producer_id_req)
CODEC(init_producer_id_resp, kafka_decode_init_producer_id_resp, kafka_encode_init_producer_id_resp,
      struct kafka_init_producer_id_resp)

#define ROW(api, key) {#api, key, api##_dec, api##_enc, fill_##api, cmp_##api}
static const struct codec k_codecs[] = {
    ROW(metadata_req, KAFKA_METADATA),
    ROW(metadata_resp, KAFKA_METADATA),
    ROW(produce_req, KAFKA_PRODUCE),
    ROW(produce_resp, KAFKA_PRODUCE),
    ROW(fetch_req, KAFKA_FETCH),
    ROW(fetch_resp, KAFKA_FETCH),
    ROW(list_offsets_req, KAFKA_LIST_OFFSETS),
    ROW(list_offsets_resp, KAFKA_LIST_OFFSETS),
    ROW(init_producer_id_req, KAFKA_INIT_PRODUCER_ID),
    ROW(init_producer_id_resp, KAFKA_INIT_PRODUCER_ID),
};
#define CODEC_COUNT (sizeof(k_codecs) / sizeof(k_codecs[0]))

/* Decodes n bytes (in an exact-size copy). If they decode, the result must re-encode, decode
 * again and re-encode to the same bytes: whatever a decoder accepts is a well-formed message. */
static sl_err decode_any(const struct codec *c, int16_t v, const uint8_t *p, size_t n) {
    uint8_t *copy = dup_bytes(p, n);
    struct kr r = kr_make(copy, n);
    union any_msg out;
    karena_reset(&arena);
    sl_err e = c->decode(&r, v, &arena, &out);
    decodes++;
    if (e == SL_OK) {
        struct kw w1, w2;
        kw_init(&w1, 0);
        kw_init(&w2, 0);
        c->encode(&w1, v, &out);
        struct kr r1 = kr_make(w1.p, w1.len);
        union any_msg again;
        ck_assert_int_eq(c->decode(&r1, v, &arena, &again), SL_OK);
        c->encode(&w2, v, &again);
        ck_assert_uint_eq(w1.len, w2.len);
        ck_assert(memcmp(w1.p, w2.p, w1.len) == 0);
        kw_free(&w1);
        kw_free(&w2);
    }
    free(copy);
    return e;
}

static void hostile(const struct codec *c, int16_t v, const uint8_t *msg, size_t n, uint64_t seed) {
    for (size_t len = 0; len < n; len++)
        ck_assert_msg(decode_any(c, v, msg, len) != SL_OK, "%s v%d: truncation %zu/%zu decoded",
                      c->name, v, len, n);
    uint8_t *buf = malloc(n ? n : 1);
    static const uint8_t pats[] = {0x01, 0x40, 0x80, 0xff};
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < sizeof pats; k++) {
            memcpy(buf, msg, n);
            buf[pos] ^= pats[k];
            decode_any(c, v, buf, n);
        }
    }
    for (int i = 0; i < 64 && n; i++) {
        memcpy(buf, msg, n);
        uint8_t rnd[8];
        t_fill_random(rnd, sizeof rnd, seed * 1000 + (uint64_t)i);
        for (int k = 0; k < 4; k++) buf[((size_t)rnd[k] << 8 | rnd[k + 4]) % n] = rnd[(k + 2) % 8];
        decode_any(c, v, buf, n);
    }
    free(buf);
}

static void round_trip(const struct codec *c, int16_t v, int variant, bool with_hostile) {
    union any_msg in, out;
    c->fill(&in, v, variant);
    struct kw w;
    kw_init(&w, 0);
    c->encode(&w, v, &in);
    uint8_t *copy = dup_bytes(w.p, w.len);
    struct kr r = kr_make(copy, w.len);
    karena_reset(&arena);
    ck_assert_msg(c->decode(&r, v, &arena, &out) == SL_OK, "%s v%d variant %d: decode failed",
                  c->name, v, variant);
    ck_assert_uint_eq(kr_left(&r), 0);
    c->cmp(&in, &out, v);
    struct kw again;
    kw_init(&again, 0);
    c->encode(&again, v, &out);
    ck_assert_uint_eq(again.len, w.len);
    ck_assert(memcmp(again.p, w.p, w.len) == 0);
    round_trips++;
    free(copy);
    kw_free(&again);
    if (with_hostile) hostile(c, v, w.p, w.len, (uint64_t)(c->key * 100 + v * 10 + variant));
    kw_free(&w);
}

static void run_codec(const struct codec *c) {
    const struct kafka_api_info *info = kafka_api_info(c->key);
    ck_assert_ptr_nonnull(info);
    karena_init(&arena, 0);
    for (int16_t v = info->min_version; v <= info->max_version; v++)
        for (int variant = 0; variant < VARIANTS; variant++) round_trip(c, v, variant, true);
    /* Versions outside the table are refused, not guessed at. */
    union any_msg out;
    const uint8_t zeros[64] = {0};
    struct kr r = kr_make(zeros, sizeof zeros);
    ck_assert_int_eq(c->decode(&r, (int16_t)(info->max_version + 1), &arena, &out), SL_INVALID_ARG);
    r = kr_make(zeros, sizeof zeros);
    ck_assert_int_eq(c->decode(&r, (int16_t)(info->min_version - 1), &arena, &out), SL_INVALID_ARG);
    karena_free(&arena);
}

START_TEST(test_round_trip_and_hostile) {
    run_codec(&k_codecs[_i]);
    printf("%s: %lu round trips, %lu hostile decodes\n", k_codecs[_i].name, round_trips, decodes);
}
END_TEST

/* ============================================================================================
 * Known bytes
 * ========================================================================================== */

/* A one-record RecordBatch v2 (key "k", value "v", no headers) assembled field by field from
 * the spec, CRC-32C over attributes .. end. */
static size_t hand_batch(uint8_t *b) {
    static const uint8_t head[] = {
        0, 0, 0, 0, 0, 0, 0, 0, /* baseOffset */
        0, 0, 0, 0,             /* batchLength: patched below */
        0xff, 0xff, 0xff, 0xff, /* partitionLeaderEpoch -1 */
        2,                      /* magic */
        0, 0, 0, 0,             /* crc: filled below */
        0, 0,                   /* attributes */
        0, 0, 0, 0,             /* lastOffsetDelta */
        0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* firstTimestamp 1700000000000 */
        0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* maxTimestamp */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* producerId -1 */
        0xff, 0xff,             /* producerEpoch -1 */
        0xff, 0xff, 0xff, 0xff, /* baseSequence -1 */
        0, 0, 0, 1,             /* records count */
    };
    static const uint8_t record[] = {
        0x10,      /* length 8 (zigzag varint) */
        0,         /* attributes */
        0,         /* timestampDelta 0 */
        0,         /* offsetDelta 0 */
        0x02, 'k', /* key length 1 */
        0x02, 'v', /* value length 1 */
        0,         /* header count */
    };
    memcpy(b, head, sizeof head);
    memcpy(b + sizeof head, record, sizeof record);
    size_t len = sizeof head + sizeof record;
    sl_store_be32(b + 8, (uint32_t)(len - 12));
    sl_store_be32(b + 17, crc32c(0, b + 21, len - 21));
    return len;
}

START_TEST(test_known_bytes_produce_v7) {
    uint8_t batch[128];
    size_t blen = hand_batch(batch);
    ck_assert_int_eq(kafka_batch_check(batch, blen, NULL), SL_OK);
    static const uint8_t prefix[] = {
        0x00, 0x00,             /* RequestApiKey 0 = Produce */
        0x00, 0x07,             /* RequestApiVersion 7 */
        0x00, 0x00, 0x00, 0x2a, /* CorrelationId 42 */
        0x00, 0x04, 't', 'e', 's', 't', /* ClientId "test" (header v1) */
        0xff, 0xff,             /* TransactionalId null */
        0xff, 0xff,             /* Acks -1 */
        0x00, 0x00, 0x75, 0x30, /* TimeoutMs 30000 */
        0x00, 0x00, 0x00, 0x01, /* TopicData: 1 */
        0x00, 0x05, 'e', 'v', 'e', 'n', 't', /* Name "event" */
        0x00, 0x00, 0x00, 0x01, /* PartitionData: 1 */
        0x00, 0x00, 0x00, 0x02, /* Index 2 */
    };
    uint8_t msg[256];
    memcpy(msg, prefix, sizeof prefix);
    sl_store_be32(msg + sizeof prefix, (uint32_t)blen); /* Records length (int32: not flexible) */
    memcpy(msg + sizeof prefix + 4, batch, blen);
    size_t n = sizeof prefix + 4 + blen;

    struct kr r = kr_make(msg, n);
    struct kafka_req_header h;
    ck_assert_int_eq(kafka_decode_req_header(&r, &h), SL_OK);
    ck_assert_int_eq(h.api_key, KAFKA_PRODUCE);
    ck_assert_int_eq(h.api_version, 7);
    ck_assert_int_eq(h.correlation_id, 42);
    ck_kstr(h.client_id, S("test"));
    karena_init(&arena, 0);
    struct kafka_produce_req q;
    ck_assert_int_eq(kafka_decode_produce(&r, 7, &arena, &q), SL_OK);
    ck_assert_uint_eq(kr_left(&r), 0);
    ck_assert_int_eq(q.transactional_id.len, -1);
    ck_assert_int_eq(q.acks, -1);
    ck_assert_int_eq(q.timeout_ms, 30000);
    ck_assert_int_eq(q.topic_count, 1);
    ck_kstr(q.topics[0].name, S("event"));
    ck_assert_int_eq(q.topics[0].partition_count, 1);
    ck_assert_int_eq(q.topics[0].partitions[0].index, 2);
    struct kstr rec = q.topics[0].partitions[0].records;
    ck_assert_int_eq(rec.len, (int32_t)blen);
    ck_assert_ptr_eq(rec.p, (const char *)msg + sizeof prefix + 4); /* zero copy */
    struct kafka_batch_header bh;
    ck_assert_int_eq(kafka_batch_check((const uint8_t *)rec.p, (size_t)rec.len, &bh), SL_OK);
    ck_assert_int_eq(bh.record_count, 1);

    /* And the encoders produce exactly these bytes. */
    struct kw w;
    kw_init(&w, 0);
    kafka_encode_req_header(&w, &h);
    kafka_encode_produce_req(&w, 7, &q);
    ck_assert_uint_eq(w.len, n);
    ck_assert(memcmp(w.p, msg, n) == 0);
    kw_free(&w);
    karena_free(&arena);
}
END_TEST

START_TEST(test_known_bytes_metadata_v1_null_topics) {
    static const uint8_t msg[] = {
        0x00, 0x03,             /* Metadata */
        0x00, 0x01,             /* v1 */
        0x00, 0x00, 0x00, 0x07, /* CorrelationId 7 */
        0xff, 0xff,             /* ClientId null */
        0xff, 0xff, 0xff, 0xff, /* Topics null = all topics (nullable from v1) */
    };
    struct kr r = kr_make(msg, sizeof msg);
    struct kafka_req_header h;
    ck_assert_int_eq(kafka_decode_req_header(&r, &h), SL_OK);
    ck_assert_int_eq(h.correlation_id, 7);
    ck_assert_int_eq(h.client_id.len, -1);
    karena_init(&arena, 0);
    struct kafka_metadata_req q;
    ck_assert_int_eq(kafka_decode_metadata(&r, 1, &arena, &q), SL_OK);
    ck_assert_uint_eq(kr_left(&r), 0);
    ck_assert_int_eq(q.topic_count, -1);
    ck_assert(q.all_topics);
    ck_assert(q.allow_auto_topic_creation); /* the v4+ field's default */
    struct kw w;
    kw_init(&w, 0);
    kafka_encode_req_header(&w, &h);
    kafka_encode_metadata_req(&w, 1, &q);
    ck_assert_uint_eq(w.len, sizeof msg);
    ck_assert(memcmp(w.p, msg, sizeof msg) == 0);
    /* In v0 the same request is an empty array, and null is malformed. */
    kw_reset(&w);
    kafka_encode_metadata_req(&w, 0, &q);
    ck_assert_uint_eq(w.len, 4);
    ck_assert_int_eq(sl_load_be32(w.p), 0);
    struct kr r0 = kr_make(w.p, w.len);
    ck_assert_int_eq(kafka_decode_metadata(&r0, 0, &arena, &q), SL_OK);
    ck_assert(q.all_topics);
    r0 = kr_make(msg + 10, 4);
    ck_assert_int_eq(kafka_decode_metadata(&r0, 0, &arena, &q), SL_CORRUPT);
    /* An empty list in v1 asks for no topic at all. */
    static const uint8_t empty[] = {0, 0, 0, 0};
    r0 = kr_make(empty, 4);
    ck_assert_int_eq(kafka_decode_metadata(&r0, 1, &arena, &q), SL_OK);
    ck_assert(!q.all_topics);
    kw_free(&w);
    karena_free(&arena);
}
END_TEST

START_TEST(test_known_bytes_metadata_v9_flexible) {
    static const uint8_t msg[] = {
        0x00, 0x03, 0x00, 0x09, /* Metadata v9: header v2 */
        0x00, 0x00, 0x01, 0x00, /* CorrelationId 256 */
        0x00, 0x03, 'a', 'b', 'c', /* ClientId: int16 length even in header v2 */
        0x01, 0x00, 0x01, 0x7a, /* header tags: 1 tag (0) of 1 byte, skipped */
        0x02,                   /* Topics: compact, 1 element */
        0x04, 'f', 'o', 'o',    /* Name: compact "foo" */
        0x00,                   /* topic tags */
        0x00,                   /* AllowAutoTopicCreation false */
        0x01,                   /* IncludeClusterAuthorizedOperations (v8-10) */
        0x00,                   /* IncludeTopicAuthorizedOperations */
        0x00,                   /* tags */
    };
    struct kr r = kr_make(msg, sizeof msg);
    struct kafka_req_header h;
    ck_assert_int_eq(kafka_decode_req_header(&r, &h), SL_OK);
    ck_assert_int_eq(h.correlation_id, 256);
    ck_kstr(h.client_id, S("abc"));
    karena_init(&arena, 0);
    struct kafka_metadata_req q;
    ck_assert_int_eq(kafka_decode_metadata(&r, 9, &arena, &q), SL_OK);
    ck_assert_uint_eq(kr_left(&r), 0);
    ck_assert_int_eq(q.topic_count, 1);
    ck_kstr(q.topics[0].name, S("foo"));
    ck_assert(!q.all_topics);
    ck_assert(!q.allow_auto_topic_creation);
    ck_assert(q.include_cluster_authorized_operations);
    ck_assert(!q.include_topic_authorized_operations);
    karena_free(&arena);
}
END_TEST

/* Produce v10-11 as Kafka 3.9 answers a NOT_LEADER_OR_FOLLOWER: the tagged CurrentLeader (per
 * partition) and NodeEndpoints (top level) are read past, everything else as in v9. */
START_TEST(test_known_bytes_produce_v10_resp_tags) {
    static const uint8_t msg[] = {
        0x02,                                           /* Responses: 1 */
        0x02, 't',                                      /* Name "t" */
        0x02,                                           /* Partitions: 1 */
        0x00, 0x00, 0x00, 0x03,                         /* PartitionIndex 3 */
        0x00, 0x06,                                     /* ErrorCode NOT_LEADER_OR_FOLLOWER */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* BaseOffset -1 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* LogAppendTimeMs -1 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* LogStartOffset 7 */
        0x01,                                           /* RecordErrors: 0 */
        0x00,                                           /* ErrorMessage null */
        0x01, 0x00, 0x08,                               /* tags: CurrentLeader (tag 0, 8 bytes) */
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, /*   LeaderId 2, LeaderEpoch 5 */
        0x00,                                           /* topic tags */
        0x00, 0x00, 0x00, 0x0a,                         /* ThrottleTimeMs 10 */
        0x01, 0x00, 0x0d,                               /* tags: NodeEndpoints (tag 0, 13 bytes) */
        0x02, 0x00, 0x00, 0x00, 0x02, 0x02, 'h',        /*   1 node: NodeId 2, Host "h", */
        0x00, 0x00, 0x23, 0x84, 0x00, 0x00,             /*   Port 9092, Rack null, tags */
    };
    karena_init(&arena, 0);
    for (int16_t v = 10; v <= 11; v++) {
        struct kr r = kr_make(msg, sizeof msg);
        struct kafka_produce_resp out;
        ck_assert_int_eq(kafka_decode_produce_resp(&r, v, &arena, &out), SL_OK);
        ck_assert_uint_eq(kr_left(&r), 0);
        ck_assert_int_eq(out.topic_count, 1);
        ck_kstr(out.topics[0].name, S("t"));
        ck_assert_int_eq(out.topics[0].partition_count, 1);
        const struct kafka_produce_part_resp *p = &out.topics[0].partitions[0];
        ck_assert_int_eq(p->index, 3);
        ck_assert_int_eq(p->error_code, 6);
        ck_assert_int_eq(p->base_offset, -1);
        ck_assert_int_eq(p->log_start_offset, 7);
        ck_assert_int_eq(p->record_error_count, 0);
        ck_assert_int_eq(p->error_message.len, -1);
        ck_assert_int_eq(out.throttle_time_ms, 10);
        /* What Sluice writes at v10-11 is v9's bytes (no tags to send). */
        struct kw w, w9;
        kw_init(&w, 0);
        kw_init(&w9, 0);
        kafka_encode_produce_resp(&w, v, &out);
        kafka_encode_produce_resp(&w9, 9, &out);
        ck_assert_uint_eq(w.len, w9.len);
        ck_assert(memcmp(w.p, w9.p, w.len) == 0);
        kw_free(&w);
        kw_free(&w9);
    }
    karena_free(&arena);
}
END_TEST

/* ============================================================================================
 * Streaming Fetch
 * ========================================================================================== */

START_TEST(test_fetch_streaming_matches_whole) {
    karena_init(&arena, 0);
    for (int16_t v = 4; v <= 12; v++) {
        struct kafka_fetch_resp resp;
        fill_fetch_resp(&resp, v, 0);
        struct kw whole, head, stream;
        kw_init(&whole, 0);
        kw_init(&head, 0);
        kw_init(&stream, 0);
        kafka_encode_fetch_resp(&whole, v, &resp);
        /* The broker's way: header bytes in w, record bytes sent from elsewhere in between.
         * Here "elsewhere" is a second buffer; interleaving both must give the whole. */
        size_t records_total = 0;
        kafka_encode_fetch_resp_begin(&head, v, resp.throttle_time_ms, resp.error_code,
                                      resp.session_id, resp.topic_count);
        kw_raw(&stream, head.p, head.len);
        for (int32_t i = 0; i < resp.topic_count; i++) {
            const struct kafka_fetch_topic_resp *t = &resp.topics[i];
            size_t at = head.len;
            kafka_encode_fetch_topic_begin(&head, v, t->topic, t->topic_id, t->partition_count);
            kw_raw(&stream, head.p + at, head.len - at);
            for (int32_t j = 0; j < t->partition_count; j++) {
                const struct kafka_fetch_part_resp *p = &t->partitions[j];
                int32_t len = p->records.p ? p->records.len : -1;
                struct kafka_fetch_part_resp nop = *p;
                nop.records = NUL; /* ignored by partition_begin */
                at = head.len;
                kafka_encode_fetch_partition_begin(&head, v, &nop, len);
                kw_raw(&stream, head.p + at, head.len - at);
                if (len > 0) {
                    kw_raw(&stream, p->records.p, (size_t)len);
                    records_total += (size_t)len;
                }
                at = head.len;
                kafka_encode_fetch_partition_end(&head, v, &t->partitions[j]);
                kw_raw(&stream, head.p + at, head.len - at);
            }
            at = head.len;
            kafka_encode_fetch_topic_end(&head, v);
            kw_raw(&stream, head.p + at, head.len - at);
        }
        size_t at = head.len;
        kafka_encode_fetch_resp_end(&head, v);
        kw_raw(&stream, head.p + at, head.len - at);
        ck_assert_uint_eq(head.len + records_total, whole.len);
        ck_assert_uint_eq(stream.len, whole.len);
        ck_assert(memcmp(stream.p, whole.p, whole.len) == 0);
        /* The records length prefix: compact (len + 1) from v12, int32 before. */
        struct kafka_fetch_part_resp p = {0};
        kw_reset(&head);
        kafka_encode_fetch_partition_begin(&head, v, &p, 300);
        if (v >= 12) {
            ck_assert_int_eq(head.p[head.len - 2], (uint8_t)(0x80 | (301 & 0x7f)));
            ck_assert_int_eq(head.p[head.len - 1], 301 >> 7);
        } else {
            ck_assert_int_eq(sl_load_be32(head.p + head.len - 4), 300);
        }
        kw_reset(&head);
        kafka_encode_fetch_partition_begin(&head, v, &p, -1);
        if (v >= 12) ck_assert_int_eq(head.p[head.len - 1], 0);
        else ck_assert_int_eq((int32_t)sl_load_be32(head.p + head.len - 4), -1);
        kw_free(&whole);
        kw_free(&head);
        kw_free(&stream);
    }
    karena_free(&arena);
}
END_TEST

/* ============================================================================================
 * Fetch's DivergingEpoch (v12+, tagged field 0 of a partition)
 * ========================================================================================== */

/* One topic of two partitions: 0 diverging (epoch 7, end offset 1234), 1 not. */
static void fill_diverging(struct kafka_fetch_resp *resp, struct kafka_fetch_topic_resp *t,
                           struct kafka_fetch_part_resp parts[2]) {
    memset(resp, 0, sizeof(*resp));
    parts[0] = (struct kafka_fetch_part_resp){3, 0, 5000, 5000, 0, 0, NULL, -1, records()};
    parts[0].diverging = true;
    parts[0].diverging_epoch = 7;
    parts[0].diverging_end_offset = 1234;
    parts[1] = (struct kafka_fetch_part_resp){4, 0, 10, 10, 0, 0, NULL, -1, NUL};
    parts[1].diverging_epoch = 99; /* not sent: diverging is false */
    parts[1].diverging_end_offset = 99;
    *t = (struct kafka_fetch_topic_resp){S("orders"), 2, parts, {1, 2, 3, [15] = 4}};
    resp->throttle_time_ms = 5;
    resp->session_id = 77;
    resp->topic_count = 1;
    resp->topics = t;
}

START_TEST(test_fetch_diverging_epoch_round_trip) {
    karena_init(&arena, 0);
    struct kafka_fetch_resp resp, out;
    struct kafka_fetch_topic_resp t;
    struct kafka_fetch_part_resp parts[2];
    fill_diverging(&resp, &t, parts);
    for (int16_t v = 12; v <= 17; v++) {
        struct kw w, plain;
        kw_init(&w, 0);
        kw_init(&plain, 0);
        kafka_encode_fetch_resp(&w, v, &resp);
        /* The same without DivergingEpoch: 15 bytes fewer (tag count 1, tag 0, size 13, Epoch,
         * EndOffset, empty tags; against one 0 byte). */
        parts[0].diverging = false;
        kafka_encode_fetch_resp(&plain, v, &resp);
        parts[0].diverging = true;
        ck_assert_uint_eq(w.len, plain.len + 15);
        uint8_t *copy = dup_bytes(w.p, w.len);
        struct kr r = kr_make(copy, w.len);
        ck_assert_int_eq(kafka_decode_fetch_resp(&r, v, &arena, &out), SL_OK);
        ck_assert_uint_eq(kr_left(&r), 0);
        cmp_fetch_resp(&resp, &out, v);
        ck_assert_int_eq(out.topic_count, 1);
        ck_assert_int_eq(out.topics[0].partition_count, 2);
        const struct kafka_fetch_part_resp *p0 = &out.topics[0].partitions[0], *p1 = &out.topics[0].partitions[1];
        ck_assert(p0->diverging);
        ck_assert_int_eq(p0->diverging_epoch, 7);
        ck_assert_int_eq(p0->diverging_end_offset, 1234);
        ck_assert(!p1->diverging);
        ck_assert_int_eq(p1->diverging_epoch, -1);
        ck_assert_int_eq(p1->diverging_end_offset, -1);
        /* Partition 0's tags, just before partition 1 (PartitionIndex 4) starts: the bytes. */
        static const uint8_t tag0[] = {0x01, 0x00, 0x0d, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00};
        bool found = false;
        for (size_t i = 0; i + sizeof tag0 + 4 <= w.len && !found; i++)
            found = memcmp(w.p + i, tag0, sizeof tag0) == 0 && sl_load_be32(w.p + i + sizeof tag0) == 4;
        ck_assert_msg(found, "v%d: DivergingEpoch bytes not found", v);
        /* Re-encoding what was decoded gives the same bytes. */
        struct kw again;
        kw_init(&again, 0);
        kafka_encode_fetch_resp(&again, v, &out);
        ck_assert_uint_eq(again.len, w.len);
        ck_assert(memcmp(again.p, w.p, w.len) == 0);
        /* Every truncation fails. */
        for (size_t cut = 0; cut < w.len; cut++) {
            uint8_t *c = dup_bytes(w.p, cut);
            struct kr rc = kr_make(c, cut);
            ck_assert_int_ne(kafka_decode_fetch_resp(&rc, v, &arena, &out), SL_OK);
            free(c);
        }
        free(copy);
        kw_free(&w);
        kw_free(&plain);
        kw_free(&again);
    }
    /* The streaming encoder's partition_end writes it the same way (v12 and v13). */
    for (int16_t v = 12; v <= 13; v++) {
        struct kw w;
        kw_init(&w, 0);
        kafka_encode_fetch_partition_end(&w, v, &parts[0]);
        ck_assert_uint_eq(w.len, 16);
        ck_assert_uint_eq(w.p[0], 1);
        ck_assert_uint_eq(w.p[1], 0);
        ck_assert_uint_eq(w.p[2], 13);
        ck_assert_int_eq((int32_t)sl_load_be32(w.p + 3), 7);
        ck_assert_int_eq((int64_t)sl_load_be64(w.p + 7), 1234);
        ck_assert_uint_eq(w.p[15], 0);
        kw_reset(&w);
        kafka_encode_fetch_partition_end(&w, v, &parts[1]);
        ck_assert_uint_eq(w.len, 1);
        ck_assert_uint_eq(w.p[0], 0);
        kw_free(&w);
    }
    karena_free(&arena);
}
END_TEST

START_TEST(test_fetch_diverging_epoch_not_below_v12) {
    karena_init(&arena, 0);
    struct kafka_fetch_resp resp, out;
    struct kafka_fetch_topic_resp t;
    struct kafka_fetch_part_resp parts[2];
    fill_diverging(&resp, &t, parts);
    for (int16_t v = 4; v < 12; v++) {
        struct kw w, plain, end;
        kw_init(&w, 0);
        kw_init(&plain, 0);
        kw_init(&end, 0);
        kafka_encode_fetch_resp(&w, v, &resp);
        parts[0].diverging = false;
        kafka_encode_fetch_resp(&plain, v, &resp);
        parts[0].diverging = true;
        /* Byte for byte what a partition without it gives: nothing of it on the wire. */
        ck_assert_uint_eq(w.len, plain.len);
        ck_assert(memcmp(w.p, plain.p, w.len) == 0);
        kafka_encode_fetch_partition_end(&end, v, &parts[0]);
        ck_assert_uint_eq(end.len, 0); /* not flexible: no tagged fields at all */
        uint8_t *copy = dup_bytes(w.p, w.len);
        struct kr r = kr_make(copy, w.len);
        ck_assert_int_eq(kafka_decode_fetch_resp(&r, v, &arena, &out), SL_OK);
        ck_assert_uint_eq(kr_left(&r), 0);
        for (int j = 0; j < 2; j++) {
            ck_assert(!out.topics[0].partitions[j].diverging);
            ck_assert_int_eq(out.topics[0].partitions[j].diverging_epoch, -1);
            ck_assert_int_eq(out.topics[0].partitions[j].diverging_end_offset, -1);
        }
        free(copy);
        kw_free(&w);
        kw_free(&plain);
        kw_free(&end);
    }
    karena_free(&arena);
}
END_TEST

/* A Fetch v12 response by hand: one topic "t", one partition (index 2, HW 9, records null), its
 * tagged fields tags[0..tn), then the topic's and the response's empty tags. v13 has the topic
 * id (16 bytes of 0x11) instead of the name. */
static size_t fetch_resp_by_hand(uint8_t *out, int16_t v, const uint8_t *tags, size_t tn) {
    size_t n = 0;
    static const uint8_t head[] = {
        0, 0, 0, 0,   /* ThrottleTimeMs */
        0, 0,         /* ErrorCode */
        0, 0, 0, 0,   /* SessionId */
        0x02,         /* Responses: 1 */
    };
    memcpy(out, head, sizeof head);
    n = sizeof head;
    if (v >= 13) {
        memset(out + n, 0x11, 16); /* TopicId */
        n += 16;
    } else {
        out[n++] = 0x02; /* Topic "t" */
        out[n++] = 't';
    }
    static const uint8_t part[] = {
        0x02,                                           /* Partitions: 1 */
        0, 0, 0, 2,                                     /* PartitionIndex 2 */
        0, 0,                                           /* ErrorCode */
        0, 0, 0, 0, 0, 0, 0, 9,                         /* HighWatermark 9 */
        0, 0, 0, 0, 0, 0, 0, 9,                         /* LastStableOffset 9 */
        0, 0, 0, 0, 0, 0, 0, 0,                         /* LogStartOffset 0 */
        0x01,                                           /* AbortedTransactions: empty */
        0xff, 0xff, 0xff, 0xff,                         /* PreferredReadReplica -1 */
        0x00,                                           /* Records: null */
    };
    memcpy(out + n, part, sizeof part);
    n += sizeof part;
    memcpy(out + n, tags, tn);
    n += tn;
    out[n++] = 0; /* the topic's tags */
    out[n++] = 0; /* the response's tags */
    return n;
}

/* Decodes a hand-built response from an exact-size heap copy: its result, *out filled. The copy
 * lives until the next call (out's strings point into it); decode_by_hand(NULL, ...) frees it. */
static sl_err decode_by_hand(const uint8_t *msg, size_t n, int16_t v, struct kafka_fetch_resp *out, size_t *left) {
    static uint8_t *copy;
    free(copy);
    copy = NULL;
    if (!msg) return SL_OK;
    copy = dup_bytes(msg, n);
    struct kr r = kr_make(copy, n);
    sl_err e = kafka_decode_fetch_resp(&r, v, &arena, out);
    *left = kr_left(&r);
    return e;
}

START_TEST(test_fetch_diverging_epoch_other_tags) {
    karena_init(&arena, 0);
    static const uint8_t current_leader[] = {0x01, 0x09, 0, 0, 0, 3, 0, 0, 0, 8, 0x00}; /* LeaderId 3, epoch 8 */
    static const uint8_t snapshot_id[] = {0x02, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0x64, 0, 0, 0, 5, 0x00}; /* 100, 5 */
    static const uint8_t diverging[] = {0x00, 0x0d, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00};
    /* DivergingEpoch grown by a tagged field of its own (tag 5, 1 byte): read, the rest skipped. */
    static const uint8_t diverging_grown[] = {0x00, 0x10, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0x2a,
                                              0x01, 0x05, 0x01, 0xee};
    /* A tag unknown to every version (tag 9, 3 bytes). */
    static const uint8_t unknown[] = {0x09, 0x03, 0xaa, 0xbb, 0xcc};
    /* A tag 0 too short for Epoch and EndOffset: skipped by its size, not read past it. */
    static const uint8_t short0[] = {0x00, 0x04, 0, 0, 0, 7};
    struct {
        const uint8_t *fields[3];
        size_t sizes[3];
        int count;
        bool diverging;
        int32_t epoch;
        int64_t end;
    } cases[] = {
        {{current_leader}, {sizeof current_leader}, 1, false, -1, -1},
        {{snapshot_id}, {sizeof snapshot_id}, 1, false, -1, -1},
        {{current_leader, snapshot_id}, {sizeof current_leader, sizeof snapshot_id}, 2, false, -1, -1},
        {{diverging, current_leader, snapshot_id}, {sizeof diverging, sizeof current_leader, sizeof snapshot_id}, 3,
         true, 7, 1234},
        {{current_leader, diverging, snapshot_id}, {sizeof current_leader, sizeof diverging, sizeof snapshot_id}, 3,
         true, 7, 1234},
        {{snapshot_id, unknown, diverging}, {sizeof snapshot_id, sizeof unknown, sizeof diverging}, 3, true, 7, 1234},
        {{diverging_grown, current_leader}, {sizeof diverging_grown, sizeof current_leader}, 2, true, 6, 42},
        {{unknown}, {sizeof unknown}, 1, false, -1, -1},
        {{short0, current_leader}, {sizeof short0, sizeof current_leader}, 2, false, -1, -1},
    };
    for (int16_t v = 12; v <= 13; v++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            uint8_t tags[128], msg[256];
            size_t tn = 0;
            tags[tn++] = (uint8_t)cases[i].count;
            for (int k = 0; k < cases[i].count; k++) {
                memcpy(tags + tn, cases[i].fields[k], cases[i].sizes[k]);
                tn += cases[i].sizes[k];
            }
            size_t n = fetch_resp_by_hand(msg, v, tags, tn), left;
            struct kafka_fetch_resp out;
            ck_assert_msg(decode_by_hand(msg, n, v, &out, &left) == SL_OK, "v%d case %zu: refused", v, i);
            ck_assert_uint_eq(left, 0);
            ck_assert_int_eq(out.topic_count, 1);
            if (v == 12) ck_kstr(out.topics[0].topic, S("t"));
            else ck_assert_uint_eq(out.topics[0].topic_id[15], 0x11);
            ck_assert_int_eq(out.topics[0].partition_count, 1);
            const struct kafka_fetch_part_resp *p = &out.topics[0].partitions[0];
            ck_assert_int_eq(p->partition_index, 2);
            ck_assert_int_eq(p->high_watermark, 9);
            ck_assert_int_eq(p->records.len, -1);
            ck_assert_msg(p->diverging == cases[i].diverging, "v%d case %zu: diverging %d", v, i, p->diverging);
            ck_assert_int_eq(p->diverging_epoch, cases[i].epoch);
            ck_assert_int_eq(p->diverging_end_offset, cases[i].end);
        }
    }
    size_t left;
    decode_by_hand(NULL, 0, 12, NULL, &left);
    karena_free(&arena);
}
END_TEST

START_TEST(test_fetch_diverging_epoch_past_end) {
    karena_init(&arena, 0);
    for (int16_t v = 12; v <= 13; v++) {
        uint8_t msg[256], tags[64];
        size_t n, left;
        struct kafka_fetch_resp out;
        /* Tag 0 of 13 bytes but the message ends 5 bytes into it (nothing after: not even the
         * topic's tags). */
        static const uint8_t cut[] = {0x01, 0x00, 0x0d, 0, 0, 0, 7, 0};
        n = fetch_resp_by_hand(msg, v, cut, sizeof cut) - 2;
        ck_assert_int_ne(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        /* Tag 0 claiming 200 bytes, with the field and the trailing tags after it: past the end. */
        static const uint8_t big[] = {0x01, 0x00, 0xc8, 0x01, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00};
        n = fetch_resp_by_hand(msg, v, big, sizeof big);
        ck_assert_int_ne(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        /* A size of 2^32 - 1 (the largest uvarint): no wrap-around, refused. */
        static const uint8_t huge[] = {0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 7,
                                       0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00};
        n = fetch_resp_by_hand(msg, v, huge, sizeof huge);
        ck_assert_int_ne(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        /* Exactly to the end (the field is whole, but then the topic's and the response's tags
         * are missing): refused, and the field was in bounds. */
        static const uint8_t whole[] = {0x01, 0x00, 0x0d, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00};
        n = fetch_resp_by_hand(msg, v, whole, sizeof whole);
        ck_assert_int_eq(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        ck_assert_int_ne(decode_by_hand(msg, n - 2, v, &out, &left), SL_OK);
        /* Another tag whose size runs past the end fails too. */
        static const uint8_t other[] = {0x01, 0x02, 0x40, 0, 0, 0};
        n = fetch_resp_by_hand(msg, v, other, sizeof other);
        ck_assert_int_ne(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        /* More tagged fields announced than there are. */
        static const uint8_t two_of_one[] = {0x02, 0x00, 0x0d, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00};
        n = fetch_resp_by_hand(msg, v, two_of_one, sizeof two_of_one) - 2;
        ck_assert_int_ne(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        /* Every truncation of a response holding all three fields fails, never reading past. */
        size_t tn = 0;
        static const uint8_t three[] = {0x03,
                                        0x00, 0x0d, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 0x00,
                                        0x01, 0x09, 0, 0, 0, 3, 0, 0, 0, 8, 0x00,
                                        0x02, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0x64, 0, 0, 0, 5, 0x00};
        memcpy(tags, three, sizeof three);
        tn = sizeof three;
        n = fetch_resp_by_hand(msg, v, tags, tn);
        ck_assert_int_eq(decode_by_hand(msg, n, v, &out, &left), SL_OK);
        ck_assert(out.topics[0].partitions[0].diverging);
        for (size_t c = 0; c < n; c++) ck_assert_int_ne(decode_by_hand(msg, c, v, &out, &left), SL_OK);
        decode_by_hand(NULL, 0, v, NULL, &left);
    }
    karena_free(&arena);
}
END_TEST

START_TEST(test_hostile_counts_refused_cheaply) {
    /* A Produce v3 request claiming 2^24 - 1 topics in a 40-byte body must fail before the
     * arena is asked for 2^24 topic structs. */
    uint8_t msg[40] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0x00, 0xff, 0xff, 0xff};
    struct kr r = kr_make(msg, sizeof msg);
    struct kafka_produce_req q;
    karena_init(&arena, 4096);
    ck_assert_int_eq(kafka_decode_produce(&r, 3, &arena, &q), SL_UNDERFLOW);
    /* A non-nullable topic name sent as null. */
    static const uint8_t null_name[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff,
                                        0, 0, 0, 0};
    r = kr_make(null_name, sizeof null_name);
    ck_assert_int_eq(kafka_decode_produce(&r, 3, &arena, &q), SL_CORRUPT);
    /* A records length beyond the request. */
    static const uint8_t long_rec[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 't',
                                       0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2};
    r = kr_make(long_rec, sizeof long_rec);
    ck_assert_int_ne(kafka_decode_produce(&r, 3, &arena, &q), SL_OK);
    karena_free(&arena);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_core");
    TCase *tc = tcase_create("kafka_msgs_core");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_round_trip_and_hostile, 0, (int)CODEC_COUNT);
    tcase_add_test(tc, test_known_bytes_produce_v7);
    tcase_add_test(tc, test_known_bytes_metadata_v1_null_topics);
    tcase_add_test(tc, test_known_bytes_metadata_v9_flexible);
    tcase_add_test(tc, test_known_bytes_produce_v10_resp_tags);
    tcase_add_test(tc, test_fetch_streaming_matches_whole);
    tcase_add_test(tc, test_hostile_counts_refused_cheaply);
    tcase_add_test(tc, test_fetch_diverging_epoch_round_trip);
    tcase_add_test(tc, test_fetch_diverging_epoch_not_below_v12);
    tcase_add_test(tc, test_fetch_diverging_epoch_other_tags);
    tcase_add_test(tc, test_fetch_diverging_epoch_past_end);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
