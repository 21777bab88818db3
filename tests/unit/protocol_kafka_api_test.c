/* protocol_kafka_api_test.c: protocol/kafka_api.c: the advertised table against the specs'
 * flexibleVersions, request/response headers (v1 vs v2, the ApiVersions header exception),
 * ApiVersions request and response round trips at every version, and hostile input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "protocol/kafka_api.h"
#include "testutil.h"

/* What the table must say: the advertised ranges (kafka-subset.md section 1) and the
 * flexibleVersions of apache/kafka's <Name>Request.json, checked by hand against the specs. */
static const struct kafka_api_info k_expected[] = {
    {KAFKA_PRODUCE, "Produce", 0, 11, 9},
    {KAFKA_FETCH, "Fetch", 4, 17, 12},
    {KAFKA_LIST_OFFSETS, "ListOffsets", 0, 9, 6},
    {KAFKA_METADATA, "Metadata", 0, 12, 9},
    {KAFKA_OFFSET_COMMIT, "OffsetCommit", 0, 9, 8},
    {KAFKA_OFFSET_FETCH, "OffsetFetch", 0, 9, 6},
    {KAFKA_FIND_COORDINATOR, "FindCoordinator", 0, 5, 3},
    {KAFKA_JOIN_GROUP, "JoinGroup", 0, 9, 6},
    {KAFKA_HEARTBEAT, "Heartbeat", 0, 4, 4},
    {KAFKA_LEAVE_GROUP, "LeaveGroup", 0, 5, 4},
    {KAFKA_SYNC_GROUP, "SyncGroup", 0, 5, 4},
    {KAFKA_DESCRIBE_GROUPS, "DescribeGroups", 0, 5, 5},
    {KAFKA_LIST_GROUPS, "ListGroups", 0, 5, 3},
    {KAFKA_SASL_HANDSHAKE, "SaslHandshake", 0, 1, INT16_MAX},
    {KAFKA_API_VERSIONS, "ApiVersions", 0, 4, 3},
    {KAFKA_CREATE_TOPICS, "CreateTopics", 0, 7, 5},
    {KAFKA_DELETE_TOPICS, "DeleteTopics", 0, 6, 4},
    {KAFKA_DELETE_RECORDS, "DeleteRecords", 0, 2, 2},
    {KAFKA_INIT_PRODUCER_ID, "InitProducerId", 0, 5, 2},
    {KAFKA_ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn", 0, 3, 3},
    {KAFKA_ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn", 0, 3, 3},
    {KAFKA_END_TXN, "EndTxn", 0, 3, 3},
    {KAFKA_WRITE_TXN_MARKERS, "WriteTxnMarkers", 0, 1, 1},
    {KAFKA_TXN_OFFSET_COMMIT, "TxnOffsetCommit", 0, 3, 3},
    {KAFKA_DESCRIBE_ACLS, "DescribeAcls", 0, 3, 2},
    {KAFKA_CREATE_ACLS, "CreateAcls", 0, 3, 2},
    {KAFKA_DELETE_ACLS, "DeleteAcls", 0, 3, 2},
    {KAFKA_DESCRIBE_CONFIGS, "DescribeConfigs", 0, 4, 4},
    {KAFKA_ALTER_CONFIGS, "AlterConfigs", 0, 2, 2},
    {KAFKA_SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, 2},
    {KAFKA_CREATE_PARTITIONS, "CreatePartitions", 0, 3, 2},
    {KAFKA_DELETE_GROUPS, "DeleteGroups", 0, 2, 2},
    {KAFKA_INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs", 0, 1, 1},
    {KAFKA_OFFSET_DELETE, "OffsetDelete", 0, 0, INT16_MAX},
    {KAFKA_DESCRIBE_CLIENT_QUOTAS, "DescribeClientQuotas", 0, 1, 1},
    {KAFKA_ALTER_CLIENT_QUOTAS, "AlterClientQuotas", 0, 1, 1},
    {KAFKA_DESCRIBE_USER_SCRAM_CREDENTIALS, "DescribeUserScramCredentials", 0, 0, 0},
    {KAFKA_ALTER_USER_SCRAM_CREDENTIALS, "AlterUserScramCredentials", 0, 0, 0},
    {KAFKA_DESCRIBE_CLUSTER, "DescribeCluster", 0, 1, 0},
    {KAFKA_DESCRIBE_TRANSACTIONS, "DescribeTransactions", 0, 0, 0},
    {KAFKA_LIST_TRANSACTIONS, "ListTransactions", 0, 1, 0},
};
#define EXPECTED_COUNT (sizeof(k_expected) / sizeof(k_expected[0]))

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
    uint8_t *c = malloc(n ? n : 1); /* exact size, so ASan sees any overread */
    if (n) memcpy(c, p, n);
    return c;
}

static void ck_kstr_eq(struct kstr got, const char *want) {
    if (!want) {
        ck_assert_int_eq(got.len, -1);
        return;
    }
    ck_assert_int_eq(got.len, (int32_t)strlen(want));
    ck_assert(memcmp(got.p, want, strlen(want)) == 0);
}

START_TEST(test_table_matches_specs) {
    ck_assert_uint_eq(kafka_api_count(), EXPECTED_COUNT);
    for (uint32_t i = 0; i < kafka_api_count(); i++) {
        const struct kafka_api_info *info = kafka_api_at(i);
        const struct kafka_api_info *want = &k_expected[i];
        ck_assert_ptr_nonnull(info);
        ck_assert_int_eq(info->key, want->key);
        ck_assert_str_eq(info->name, want->name);
        ck_assert_int_eq(info->min_version, want->min_version);
        ck_assert_int_eq(info->max_version, want->max_version);
        ck_assert_int_eq(info->flex_from, want->flex_from);
        ck_assert_int_le(info->min_version, info->max_version);
        ck_assert_int_ge(info->min_version, 0);
        /* Every served API turns flexible inside its advertised range, or never does. */
        ck_assert(info->flex_from == INT16_MAX ||
                  (info->flex_from >= info->min_version && info->flex_from <= info->max_version));
        if (i > 0) ck_assert_int_gt(info->key, kafka_api_at(i - 1)->key);
        ck_assert_ptr_eq(kafka_api_info(info->key), info);
        for (int16_t v = info->min_version; v <= info->max_version; v++) {
            ck_assert(kafka_api_supported(info->key, v));
            ck_assert(kafka_api_flexible(info->key, v) == (v >= info->flex_from));
        }
        ck_assert(!kafka_api_supported(info->key, (int16_t)(info->max_version + 1)));
        ck_assert(!kafka_api_supported(info->key, (int16_t)(info->min_version - 1)));
    }
    ck_assert_ptr_null(kafka_api_at(kafka_api_count()));
    const int16_t unknown[] = {-1, 4, 5, 6, 7, 23, 52, 61, 69, 70, 71, 1000, INT16_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        ck_assert_ptr_null(kafka_api_info(unknown[i]));
        ck_assert(!kafka_api_flexible(unknown[i], 100));
        ck_assert(!kafka_api_supported(unknown[i], 0));
    }
    /* Beyond the advertised max the header is still chosen by the spec's flexibility. */
    ck_assert(kafka_api_flexible(KAFKA_API_VERSIONS, 4));
    ck_assert(!kafka_api_flexible(KAFKA_PRODUCE, 8));
}
END_TEST

START_TEST(test_req_header_v1_v2_round_trip) {
    struct {
        int16_t key, version;
        const char *client;
        bool flex;
    } cases[] = {
        {KAFKA_METADATA, 8, "rdkafka", false}, {KAFKA_METADATA, 9, "rdkafka", true},
        {KAFKA_METADATA, 1, NULL, false},      {KAFKA_FETCH, 12, NULL, true},
        {KAFKA_API_VERSIONS, 3, "", true},     {KAFKA_API_VERSIONS, 0, "kafka-python", false},
        {KAFKA_PRODUCE, 9, "x", true},         {KAFKA_OFFSET_DELETE, 0, "admin", false},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct kafka_req_header in = {cases[c].key, cases[c].version, 0x01020304 + (int32_t)c,
                                      kafka_kstr(cases[c].client)};
        struct kw w;
        kw_init(&w, 0);
        kafka_encode_req_header(&w, &in);
        kw_i32(&w, 0x7eadbeef); /* a body follows the header */
        size_t cid = cases[c].client ? strlen(cases[c].client) : 0;
        ck_assert_uint_eq(w.len, 8 + 2 + cid + (cases[c].flex ? 1 : 0) + 4);
        /* ClientId keeps its int16 length in header v2. */
        ck_assert_int_eq((int16_t)((w.p[8] << 8) | w.p[9]), cases[c].client ? (int)cid : -1);
        if (cases[c].flex) ck_assert_int_eq(w.p[10 + cid], 0);
        for (size_t len = 0; len <= w.len; len++) {
            uint8_t *copy = dup_bytes(w.p, len);
            struct kr r = kr_make(copy, len);
            struct kafka_req_header out;
            sl_err e = kafka_decode_req_header(&r, &out);
            if (len < w.len - 4) {
                ck_assert_int_ne(e, SL_OK);
            } else {
                ck_assert_int_eq(e, SL_OK);
                ck_assert_int_eq(out.api_key, in.api_key);
                ck_assert_int_eq(out.api_version, in.api_version);
                ck_assert_int_eq(out.correlation_id, in.correlation_id);
                ck_kstr_eq(out.client_id, cases[c].client);
                ck_assert_uint_eq(kr_left(&r), len - (w.len - 4));
            }
            free(copy);
        }
        kw_free(&w);
    }
}
END_TEST

START_TEST(test_req_header_unknown_key_reads_no_tags) {
    /* Key 99 version 20: not served, so no tag section is consumed; dispatch decides. */
    const uint8_t bytes[] = {0, 99, 0, 20, 0, 0, 0, 5, 0, 1, 'c', 0x00, 0x42};
    struct kr r = kr_make(bytes, sizeof bytes);
    struct kafka_req_header h;
    ck_assert_int_eq(kafka_decode_req_header(&r, &h), SL_OK);
    ck_assert_int_eq(h.api_key, 99);
    ck_assert_int_eq(h.api_version, 20);
    ck_assert_int_eq(h.correlation_id, 5);
    ck_assert_uint_eq(kr_left(&r), 2);
    /* A served key at an unsupported but flexible version does read the tag section, and a
     * tag with a body is skipped whole. */
    const uint8_t flex[] = {0, 18, 0, 9, 0, 0, 0, 6, 0xff, 0xff, 0x01, 0x05, 0x02, 0xaa, 0xbb, 0x42};
    r = kr_make(flex, sizeof flex);
    ck_assert_int_eq(kafka_decode_req_header(&r, &h), SL_OK);
    ck_assert_int_eq(h.client_id.len, -1);
    ck_assert_uint_eq(kr_left(&r), 1);
}
END_TEST

START_TEST(test_resp_header_tag_byte) {
    struct {
        int16_t key, version;
        size_t len;
    } cases[] = {
        {KAFKA_API_VERSIONS, 3, 4}, {KAFKA_API_VERSIONS, 0, 4}, {KAFKA_METADATA, 9, 5},
        {KAFKA_METADATA, 8, 4},     {KAFKA_FETCH, 12, 5},       {KAFKA_PRODUCE, 7, 4},
        {KAFKA_OFFSET_DELETE, 0, 4}, {99, 5, 4},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct kw w;
        kw_init(&w, 0);
        kafka_encode_resp_header(&w, cases[c].key, cases[c].version, -77);
        ck_assert_uint_eq(w.len, cases[c].len);
        ck_assert_int_eq((int32_t)sl_load_be32(w.p), -77);
        if (cases[c].len == 5) ck_assert_int_eq(w.p[4], 0);
        for (size_t len = 0; len <= w.len; len++) {
            uint8_t *copy = dup_bytes(w.p, len);
            struct kr r = kr_make(copy, len);
            int32_t corr = 0;
            sl_err e = kafka_decode_resp_header(&r, cases[c].key, cases[c].version, &corr);
            ck_assert_int_eq(e == SL_OK, len == w.len);
            if (e == SL_OK) ck_assert_int_eq(corr, -77);
            free(copy);
        }
        kw_free(&w);
    }
}
END_TEST

START_TEST(test_api_versions_req_round_trip) {
    const char *names[][2] = {{"librdkafka", "2.0.2"}, {"", ""}, {"a", "1-x.y"}};
    for (int16_t v = 0; v <= 4; v++) {
        for (size_t n = 0; n < 3; n++) {
            struct kafka_api_versions_req in = {kafka_kstr(names[n][0]), kafka_kstr(names[n][1])};
            struct kw w;
            kw_init(&w, 0);
            kafka_encode_api_versions_req(&w, v, &in);
            ck_assert_uint_eq(w.len, v >= 3 ? 3 + strlen(names[n][0]) + strlen(names[n][1]) : 0);
            uint8_t *copy = dup_bytes(w.p, w.len);
            struct kr r = kr_make(copy, w.len);
            struct kafka_api_versions_req out;
            ck_assert_int_eq(kafka_decode_api_versions(&r, v, &out), SL_OK);
            ck_assert_uint_eq(kr_left(&r), 0);
            ck_kstr_eq(out.client_software_name, v >= 3 ? names[n][0] : NULL);
            ck_kstr_eq(out.client_software_version, v >= 3 ? names[n][1] : NULL);
            free(copy);
            for (size_t len = 0; len < w.len; len++) {
                copy = dup_bytes(w.p, len);
                r = kr_make(copy, len);
                ck_assert_int_ne(kafka_decode_api_versions(&r, v, &out), SL_OK);
                free(copy);
            }
            kw_free(&w);
        }
    }
    /* ClientSoftwareName is not nullable. */
    const uint8_t null_name[] = {0x00, 0x01, 0x00};
    struct kr r = kr_make(null_name, sizeof null_name);
    struct kafka_api_versions_req out;
    ck_assert_int_eq(kafka_decode_api_versions(&r, 3, &out), SL_CORRUPT);
    /* Versions we do not serve are answered as v0 without decoding the body. */
    r = kr_make(null_name, sizeof null_name);
    ck_assert_int_eq(kafka_decode_api_versions(&r, 5, &out), SL_INVALID_ARG);
    ck_assert_int_eq(kafka_api_versions_answer_version(5), 0);
    ck_assert_int_eq(kafka_api_versions_answer_version(-1), 0);
    ck_assert_int_eq(kafka_api_versions_answer_version(INT16_MAX), 0);
    for (int16_t v = 0; v <= 4; v++) ck_assert_int_eq(kafka_api_versions_answer_version(v), v);
}
END_TEST

START_TEST(test_client_software_validation) {
    const char *good[] = {"librdkafka", "2.0.2", "a", "Z9", "kafka-python", "1.0.0-SNAPSHOT", "a.-b"};
    const char *bad[] = {"", "-a", "a-", ".", "a b", "a_b", "2.0.2+x", "caf\xc3\xa9", NULL};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(kafka_client_software_valid(kafka_kstr(good[i])), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!kafka_client_software_valid(kafka_kstr(bad[i])), "%s", bad[i] ? bad[i] : "null");
}
END_TEST

START_TEST(test_api_versions_resp_decodes_to_table) {
    struct karena a;
    karena_init(&a, 0);
    for (int16_t v = 0; v <= 4; v++) {
        struct kw w;
        kw_init(&w, 0);
        kafka_encode_api_versions_resp(&w, v, v == 0 ? (int16_t)sl_err_kafka(SL_UNSUPPORTED_VERSION) : 0, 250);
        bool flex = v >= 3;
        /* error + count + 6 bytes per key (+ tag byte each) + throttle + tags */
        size_t count_bytes = flex ? 1 : 4;
        ck_assert_uint_eq(w.len, 2 + count_bytes + EXPECTED_COUNT * (flex ? 7 : 6) +
                                     (v >= 1 ? 4 : 0) + (flex ? 1 : 0));
        uint8_t *copy = dup_bytes(w.p, w.len);
        struct kr r = kr_make(copy, w.len);
        struct kafka_api_versions_resp out;
        karena_reset(&a);
        ck_assert_int_eq(kafka_decode_api_versions_resp(&r, v, &a, &out), SL_OK);
        ck_assert_uint_eq(kr_left(&r), 0);
        ck_assert_int_eq(out.error_code, v == 0 ? (int16_t)sl_err_kafka(SL_UNSUPPORTED_VERSION) : 0);
        ck_assert_int_eq(out.throttle_time_ms, v >= 1 ? 250 : 0);
        ck_assert_int_eq(out.api_key_count, (int32_t)EXPECTED_COUNT);
        for (uint32_t i = 0; i < EXPECTED_COUNT; i++) {
            ck_assert_int_eq(out.api_keys[i].api_key, k_expected[i].key);
            ck_assert_int_eq(out.api_keys[i].min_version, k_expected[i].min_version);
            ck_assert_int_eq(out.api_keys[i].max_version, k_expected[i].max_version);
        }
        free(copy);
        for (size_t len = 0; len < w.len; len++) {
            copy = dup_bytes(w.p, len);
            r = kr_make(copy, len);
            karena_reset(&a);
            ck_assert_int_ne(kafka_decode_api_versions_resp(&r, v, &a, &out), SL_OK);
            free(copy);
        }
        /* Byte flips: any result but a crash. */
        uint8_t pats[] = {0x01, 0x80, 0xff};
        for (size_t pos = 0; pos < w.len; pos++) {
            for (size_t k = 0; k < sizeof pats; k++) {
                copy = dup_bytes(w.p, w.len);
                copy[pos] ^= pats[k];
                r = kr_make(copy, w.len);
                karena_reset(&a);
                sl_err e = kafka_decode_api_versions_resp(&r, v, &a, &out);
                if (e == SL_OK) ck_assert_int_ge(out.api_key_count, 0);
                free(copy);
            }
        }
        kw_free(&w);
    }
    /* The v0 fallback body as librdkafka reads it: int16 error, int32 count. */
    struct kw w;
    kw_init(&w, 0);
    kafka_encode_api_versions_resp(&w, kafka_api_versions_answer_version(5),
                                   (int16_t)sl_err_kafka(SL_UNSUPPORTED_VERSION), 0);
    ck_assert_int_eq(w.p[0], 0);
    ck_assert_int_eq(w.p[1], 35);
    ck_assert_int_eq((int32_t)sl_load_be32(w.p + 2), (int32_t)EXPECTED_COUNT);
    kw_free(&w);
    karena_free(&a);
}
END_TEST

START_TEST(test_read_array_hostile_counts) {
    struct karena a;
    karena_init(&a, 0);
    /* A count of 2^24 with 8 bytes behind it. */
    const uint8_t big[] = {0x01, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    struct kr r = kr_make(big, sizeof big);
    ck_assert_int_eq(kafka_read_array(&r, false, false, 1), 0);
    ck_assert_int_eq(r.err, SL_UNDERFLOW);
    /* 2 elements of at least 4 bytes fit in 8; 3 do not. */
    const uint8_t two[] = {0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    r = kr_make(two, sizeof two);
    ck_assert_int_eq(kafka_read_array(&r, false, false, 4), 2);
    ck_assert_int_eq(r.err, SL_OK);
    const uint8_t three[] = {0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8};
    r = kr_make(three, sizeof three);
    kafka_read_array(&r, false, false, 4);
    ck_assert_int_eq(r.err, SL_UNDERFLOW);
    /* Null where the spec does not allow it; and where it does. */
    const uint8_t null_arr[] = {0xff, 0xff, 0xff, 0xff};
    r = kr_make(null_arr, sizeof null_arr);
    kafka_read_array(&r, false, false, 4);
    ck_assert_int_eq(r.err, SL_CORRUPT);
    r = kr_make(null_arr, sizeof null_arr);
    ck_assert_int_eq(kafka_read_array(&r, false, true, 4), -1);
    ck_assert_int_eq(r.err, SL_OK);
    const uint8_t compact_null[] = {0x00};
    r = kr_make(compact_null, 1);
    ck_assert_int_eq(kafka_read_array(&r, true, true, 4), -1);
    r = kr_make(compact_null, 1);
    kafka_read_array(&r, true, false, 4);
    ck_assert_int_eq(r.err, SL_CORRUPT);
    /* A 5-byte varint count beyond INT32_MAX and a varint that never ends. */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0};
    r = kr_make(huge, sizeof huge);
    kafka_read_array(&r, true, true, 1);
    ck_assert_int_ne(r.err, SL_OK);
    const uint8_t endless[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
    r = kr_make(endless, sizeof endless);
    kafka_read_array(&r, true, true, 1);
    ck_assert_int_ne(r.err, SL_OK);
    /* Non-nullable strings. */
    const uint8_t null_str[] = {0xff, 0xff};
    r = kr_make(null_str, sizeof null_str);
    ck_assert_int_eq(kafka_read_str(&r, false, true).len, -1);
    ck_assert_int_eq(r.err, SL_OK);
    r = kr_make(null_str, sizeof null_str);
    kafka_read_str(&r, false, false);
    ck_assert_int_eq(r.err, SL_CORRUPT);
    ck_assert_ptr_null(kafka_alloc_array(&a, 0, 8));
    ck_assert_ptr_null(kafka_alloc_array(&a, -1, 8));
    ck_assert_ptr_nonnull(kafka_alloc_array(&a, 3, 8));
    karena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_api");
    TCase *tc = tcase_create("kafka_api");
    tcase_add_test(tc, test_table_matches_specs);
    tcase_add_test(tc, test_req_header_v1_v2_round_trip);
    tcase_add_test(tc, test_req_header_unknown_key_reads_no_tags);
    tcase_add_test(tc, test_resp_header_tag_byte);
    tcase_add_test(tc, test_api_versions_req_round_trip);
    tcase_add_test(tc, test_client_software_validation);
    tcase_add_test(tc, test_api_versions_resp_decodes_to_table);
    tcase_add_test(tc, test_read_array_hostile_counts);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
