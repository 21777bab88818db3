/* protocol_kafka_msgs_quota_test.c: the DescribeClientQuotas and AlterClientQuotas codecs
 * (protocol/kafka_msgs_quota.c) through the shared harness (round trip at v0 and v1, every
 * truncation, flips), and the float64 bytes of a quota value pinned to Kafka's encoding. */
#include <check.h>

#include "protocol/kafka_msgs_quota.h"
#include "kafka_msgs_harness.h"

static struct kafka_quota_entity_part *entity_user_client(struct karena *a) {
    struct kafka_quota_entity_part *e = NEW(a, struct kafka_quota_entity_part, 2);
    e[0] = (struct kafka_quota_entity_part){S("user"), S("alice")};
    e[1] = (struct kafka_quota_entity_part){S("client-id"), SNULL}; /* the default client */
    return e;
}

static void check_entity(const struct kafka_quota_entity_part *g, int32_t gn, const struct kafka_quota_entity_part *w,
                         int32_t wn) {
    CK_EQ(gn, wn);
    for (int32_t i = 0; i < wn; i++) {
        CK_STR(g[i].entity_type, w[i].entity_type);
        CK_STR(g[i].entity_name, w[i].entity_name);
    }
}

/* ---- DescribeClientQuotas ---- */
static void fill_describe_client_quotas_req(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_client_quotas_req *p = m;
    (void)v;
    p->component_count = 3;
    p->components = NEW(a, struct kafka_quota_component, 3);
    p->components[0] = (struct kafka_quota_component){S("user"), KAFKA_QUOTA_MATCH_EXACT, S("alice")};
    p->components[1] = (struct kafka_quota_component){S("client-id"), KAFKA_QUOTA_MATCH_DEFAULT, SNULL};
    p->components[2] = (struct kafka_quota_component){S("ip"), KAFKA_QUOTA_MATCH_ANY, SNULL};
    p->strict = true;
}
static void check_describe_client_quotas_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_client_quotas_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->component_count, w->component_count);
    for (int32_t i = 0; i < w->component_count; i++) {
        CK_STR(g->components[i].entity_type, w->components[i].entity_type);
        CK_EQ(g->components[i].match_type, w->components[i].match_type);
        CK_STR(g->components[i].match, w->components[i].match);
    }
    CK_EQ(g->strict, w->strict);
}
static void fill_describe_client_quotas_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_client_quotas_resp *p = m;
    (void)v;
    p->throttle_time_ms = 250;
    p->error_message = SNULL;
    p->entry_count = 2;
    p->entries = NEW(a, struct kafka_describe_client_quotas_entry, 2);
    p->entries[0].entity = entity_user_client(a);
    p->entries[0].entity_count = 2;
    p->entries[0].value_count = 2;
    p->entries[0].values = NEW(a, struct kafka_quota_value, 2);
    p->entries[0].values[0] = (struct kafka_quota_value){S("producer_byte_rate"), 1048576.0};
    p->entries[0].values[1] = (struct kafka_quota_value){S("consumer_byte_rate"), 0.5};
    p->entries[1].entity = NEW(a, struct kafka_quota_entity_part, 1);
    p->entries[1].entity[0] = (struct kafka_quota_entity_part){S("user"), SNULL};
    p->entries[1].entity_count = 1;
}
static void check_describe_client_quotas_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_client_quotas_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->error_code, w->error_code);
    CK_STR(g->error_message, w->error_message);
    CK_EQ(g->entry_count, w->entry_count);
    for (int32_t i = 0; i < w->entry_count; i++) {
        check_entity(g->entries[i].entity, g->entries[i].entity_count, w->entries[i].entity, w->entries[i].entity_count);
        CK_EQ(g->entries[i].value_count, w->entries[i].value_count);
        for (int32_t j = 0; j < w->entries[i].value_count; j++) {
            CK_STR(g->entries[i].values[j].key, w->entries[i].values[j].key);
            ck_assert(g->entries[i].values[j].value == w->entries[i].values[j].value);
        }
    }
}

/* ---- AlterClientQuotas ---- */
static void fill_alter_client_quotas_req(void *m, int16_t v, struct karena *a) {
    struct kafka_alter_client_quotas_req *p = m;
    (void)v;
    p->entry_count = 1;
    p->entries = NEW(a, struct kafka_alter_client_quotas_entry, 1);
    p->entries[0].entity = entity_user_client(a);
    p->entries[0].entity_count = 2;
    p->entries[0].op_count = 2;
    p->entries[0].ops = NEW(a, struct kafka_quota_op, 2);
    p->entries[0].ops[0] = (struct kafka_quota_op){S("producer_byte_rate"), 2097152.0, false};
    p->entries[0].ops[1] = (struct kafka_quota_op){S("consumer_byte_rate"), 0, true};
    p->validate_only = true;
}
static void check_alter_client_quotas_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_alter_client_quotas_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->entry_count, w->entry_count);
    for (int32_t i = 0; i < w->entry_count; i++) {
        check_entity(g->entries[i].entity, g->entries[i].entity_count, w->entries[i].entity, w->entries[i].entity_count);
        CK_EQ(g->entries[i].op_count, w->entries[i].op_count);
        for (int32_t j = 0; j < w->entries[i].op_count; j++) {
            CK_STR(g->entries[i].ops[j].key, w->entries[i].ops[j].key);
            ck_assert(g->entries[i].ops[j].value == w->entries[i].ops[j].value);
            CK_EQ(g->entries[i].ops[j].remove, w->entries[i].ops[j].remove);
        }
    }
    CK_EQ(g->validate_only, w->validate_only);
}
static void fill_alter_client_quotas_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_alter_client_quotas_resp *p = m;
    (void)v;
    p->throttle_time_ms = 7;
    p->entry_count = 2;
    p->entries = NEW(a, struct kafka_alter_client_quotas_result, 2);
    p->entries[0] = (struct kafka_alter_client_quotas_result){0, SNULL, entity_user_client(a), 2};
    p->entries[1] = (struct kafka_alter_client_quotas_result){42, S("unknown quota key"), entity_user_client(a), 1};
}
static void check_alter_client_quotas_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_alter_client_quotas_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->entry_count, w->entry_count);
    for (int32_t i = 0; i < w->entry_count; i++) {
        CK_EQ(g->entries[i].error_code, w->entries[i].error_code);
        CK_STR(g->entries[i].error_message, w->entries[i].error_message);
        check_entity(g->entries[i].entity, g->entries[i].entity_count, w->entries[i].entity, w->entries[i].entity_count);
    }
}

CODEC_ADAPTERS(describe_client_quotas)
CODEC_ADAPTERS(alter_client_quotas)

static const struct msg_codec codecs[] = {
    CODEC_REQ(describe_client_quotas, 0, 1), CODEC_RESP(describe_client_quotas, 0, 1),
    CODEC_REQ(alter_client_quotas, 0, 1),    CODEC_RESP(alter_client_quotas, 0, 1),
};

/* Kafka's float64 is the IEEE 754 double, big-endian: 1048576.0 is 41 30 00 00 00 00 00 00. */
START_TEST(test_float64_bytes) {
    struct kafka_quota_op op = {S("k"), 1048576.0, false};
    struct kafka_quota_entity_part ent = {S("user"), S("a")};
    struct kafka_alter_client_quotas_entry e = {&ent, 1, &op, 1};
    struct kafka_alter_client_quotas_req req = {&e, 1, false};
    struct kw w;
    kw_init(&w, 64);
    kafka_encode_alter_client_quotas_req(&w, 0, &req);
    /* entries(4) entity(4) type(2+4) name(2+1) ops(4) key(2+1) value(8) remove(1) validate(1) */
    ck_assert_uint_eq(w.len, 34);
    static const uint8_t want[8] = {0x41, 0x30, 0, 0, 0, 0, 0, 0};
    ck_assert_mem_eq(w.p + 24, want, 8);
    kw_free(&w);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_quota");
    TCase *tc = tcase_create("quota");
    tcase_set_timeout(tc, 300);
    add_codec_tests(tc, codecs, (int)(sizeof(codecs) / sizeof(codecs[0])));
    tcase_add_test(tc, test_float64_bytes);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
