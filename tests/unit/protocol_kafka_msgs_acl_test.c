/* protocol_kafka_msgs_acl_test.c: the DescribeAcls, CreateAcls and DeleteAcls codecs
 * (protocol/kafka_msgs_acl.c) through the shared harness (round trip, truncations, flips) at
 * every version, v0 without the pattern type. */
#include <check.h>

#include "protocol/kafka_msgs_acl.h"
#include "kafka_msgs_harness.h"

static struct kafka_acl acl_a(int16_t v, bool filter) {
    struct kafka_acl x = {KAFKA_RES_TOPIC, S("orders."), v >= 1 ? KAFKA_PAT_PREFIXED : KAFKA_PAT_LITERAL,
                          S("User:alice"), S("*"), KAFKA_OP_WRITE, KAFKA_PERM_ALLOW};
    if (filter) x.host = SNULL;
    return x;
}

static struct kafka_acl acl_b(int16_t v) {
    (void)v;
    struct kafka_acl x = {KAFKA_RES_GROUP, S("g1"), KAFKA_PAT_LITERAL, S("User:*"),
                          S("10.0.0.1"), KAFKA_OP_READ, KAFKA_PERM_DENY};
    return x;
}

static void ck_acl(const struct kafka_acl *g, const struct kafka_acl *w) {
    CK_EQ(g->resource_type, w->resource_type);
    CK_STR(g->resource_name, w->resource_name);
    CK_EQ(g->pattern_type, w->pattern_type);
    CK_STR(g->principal, w->principal);
    CK_STR(g->host, w->host);
    CK_EQ(g->operation, w->operation);
    CK_EQ(g->permission_type, w->permission_type);
}

/* ---- DescribeAcls ---- */
static void fill_describe_acls_req(void *m, int16_t v, struct karena *a) {
    (void)a;
    ((struct kafka_describe_acls_req *)m)->filter = acl_a(v, true);
    if (v >= 1) ((struct kafka_describe_acls_req *)m)->filter.pattern_type = KAFKA_PAT_MATCH;
}
static void check_describe_acls_req(const void *w, const void *g, int16_t v) {
    (void)v;
    ck_acl(&((const struct kafka_describe_acls_req *)g)->filter, &((const struct kafka_describe_acls_req *)w)->filter);
}
static void fill_describe_acls_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_acls_resp *p = m;
    p->throttle_time_ms = 7;
    p->error_code = 0;
    p->error_message = SNULL;
    p->resource_count = 2;
    p->resources = NEW(a, struct kafka_describe_acls_resource, 2);
    for (int i = 0; i < 2; i++) {
        struct kafka_describe_acls_resource *r = &p->resources[i];
        r->resource_type = (int8_t)(i ? KAFKA_RES_CLUSTER : KAFKA_RES_TOPIC);
        r->resource_name = i ? S("kafka-cluster") : S("t");
        r->pattern_type = (int8_t)(v >= 1 && !i ? KAFKA_PAT_PREFIXED : KAFKA_PAT_LITERAL);
        r->acl_count = i + 1;
        r->acls = NEW(a, struct kafka_acl_description, 2);
        for (int j = 0; j <= i; j++)
            r->acls[j] = (struct kafka_acl_description){j ? S("User:*") : S("User:bob"), S("*"),
                                                        (int8_t)(KAFKA_OP_READ + j), KAFKA_PERM_ALLOW};
    }
}
static void check_describe_acls_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_acls_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->error_code, w->error_code);
    CK_STR(g->error_message, w->error_message);
    CK_EQ(g->resource_count, w->resource_count);
    for (int32_t i = 0; i < w->resource_count; i++) {
        CK_EQ(g->resources[i].resource_type, w->resources[i].resource_type);
        CK_STR(g->resources[i].resource_name, w->resources[i].resource_name);
        CK_EQ(g->resources[i].pattern_type, w->resources[i].pattern_type);
        CK_EQ(g->resources[i].acl_count, w->resources[i].acl_count);
        for (int32_t j = 0; j < w->resources[i].acl_count; j++) {
            CK_STR(g->resources[i].acls[j].principal, w->resources[i].acls[j].principal);
            CK_STR(g->resources[i].acls[j].host, w->resources[i].acls[j].host);
            CK_EQ(g->resources[i].acls[j].operation, w->resources[i].acls[j].operation);
            CK_EQ(g->resources[i].acls[j].permission_type, w->resources[i].acls[j].permission_type);
        }
    }
}

/* ---- CreateAcls ---- */
static void fill_create_acls_req(void *m, int16_t v, struct karena *a) {
    struct kafka_create_acls_req *q = m;
    q->creation_count = 2;
    q->creations = NEW(a, struct kafka_acl, 2);
    q->creations[0] = acl_a(v, false);
    q->creations[1] = acl_b(v);
}
static void check_create_acls_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_create_acls_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->creation_count, w->creation_count);
    for (int32_t i = 0; i < w->creation_count; i++) ck_acl(&g->creations[i], &w->creations[i]);
}
static void fill_create_acls_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_create_acls_resp *p = m;
    (void)v;
    p->throttle_time_ms = 3;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_acl_result, 2);
    p->results[0] = (struct kafka_acl_result){0, SNULL};
    p->results[1] = (struct kafka_acl_result){31, S("not authorized for the cluster")};
}
static void check_create_acls_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_create_acls_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < w->result_count; i++) {
        CK_EQ(g->results[i].error_code, w->results[i].error_code);
        CK_STR(g->results[i].error_message, w->results[i].error_message);
    }
}

/* ---- DeleteAcls ---- */
static void fill_delete_acls_req(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_acls_req *q = m;
    q->filter_count = 2;
    q->filters = NEW(a, struct kafka_acl, 2);
    q->filters[0] = acl_a(v, true);
    q->filters[1] = (struct kafka_acl){KAFKA_RES_ANY, SNULL, v >= 1 ? KAFKA_PAT_ANY : KAFKA_PAT_LITERAL, SNULL,
                                       SNULL, KAFKA_OP_ANY, KAFKA_PERM_ANY};
}
static void check_delete_acls_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_acls_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->filter_count, w->filter_count);
    for (int32_t i = 0; i < w->filter_count; i++) ck_acl(&g->filters[i], &w->filters[i]);
}
static void fill_delete_acls_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_acls_resp *p = m;
    p->throttle_time_ms = 1;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_delete_acls_filter_result, 2);
    p->results[0] = (struct kafka_delete_acls_filter_result){0, SNULL, NULL, 2};
    p->results[0].matches = NEW(a, struct kafka_delete_acls_match, 2);
    p->results[0].matches[0] = (struct kafka_delete_acls_match){0, SNULL, acl_a(v, false)};
    p->results[0].matches[1] = (struct kafka_delete_acls_match){0, S(""), acl_b(v)};
    p->results[1] = (struct kafka_delete_acls_filter_result){42, S("bad filter"), NULL, 0};
}
static void check_delete_acls_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_acls_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < w->result_count; i++) {
        CK_EQ(g->results[i].error_code, w->results[i].error_code);
        CK_STR(g->results[i].error_message, w->results[i].error_message);
        CK_EQ(g->results[i].match_count, w->results[i].match_count);
        for (int32_t j = 0; j < w->results[i].match_count; j++) {
            CK_EQ(g->results[i].matches[j].error_code, w->results[i].matches[j].error_code);
            CK_STR(g->results[i].matches[j].error_message, w->results[i].matches[j].error_message);
            ck_acl(&g->results[i].matches[j].acl, &w->results[i].matches[j].acl);
        }
    }
}

CODEC_ADAPTERS(describe_acls)
CODEC_ADAPTERS(create_acls)
CODEC_ADAPTERS(delete_acls)

static const struct msg_codec codecs[] = {
    CODEC_REQ(describe_acls, 0, 3), CODEC_RESP(describe_acls, 0, 3),
    CODEC_REQ(create_acls, 0, 3),   CODEC_RESP(create_acls, 0, 3),
    CODEC_REQ(delete_acls, 0, 3),   CODEC_RESP(delete_acls, 0, 3),
};

/* A v2 CreateAcls with a null principal is malformed (bindings have no nulls), and v0 has no
 * pattern type: it decodes as LITERAL. */
START_TEST(test_acl_nulls_and_v0) {
    struct karena a;
    karena_init(&a, 4096);
    struct kw w;
    kw_init(&w, 256);
    kw_array(&w, true, 1);
    kw_i8(&w, KAFKA_RES_TOPIC);
    kw_str(&w, true, "t", 1);
    kw_i8(&w, KAFKA_PAT_LITERAL);
    kw_str(&w, true, NULL, -1);
    kw_str(&w, true, "*", 1);
    kw_i8(&w, KAFKA_OP_READ);
    kw_i8(&w, KAFKA_PERM_ALLOW);
    kw_tags(&w, true);
    kw_tags(&w, true);
    struct kr r = kr_make(w.p, w.len);
    struct kafka_create_acls_req req;
    ck_assert_int_ne(kafka_decode_create_acls(&r, 2, &a, &req), SL_OK);
    kw_reset(&w);
    kw_i8(&w, KAFKA_RES_TOPIC);
    kw_str(&w, false, "t", 1);
    kw_str(&w, false, NULL, -1);
    kw_str(&w, false, NULL, -1);
    kw_i8(&w, KAFKA_OP_ANY);
    kw_i8(&w, KAFKA_PERM_ANY);
    r = kr_make(w.p, w.len);
    struct kafka_describe_acls_req d;
    ck_assert_int_eq(kafka_decode_describe_acls(&r, 0, &a, &d), SL_OK);
    ck_assert_int_eq(d.filter.pattern_type, KAFKA_PAT_LITERAL);
    ck_assert_int_eq(d.filter.principal.len, -1);
    ck_assert_int_eq(kr_left(&r), 0);
    kw_free(&w);
    karena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_acl");
    TCase *tc = tcase_create("acl");
    tcase_set_timeout(tc, 300);
    add_codec_tests(tc, codecs, (int)(sizeof(codecs) / sizeof(codecs[0])));
    tcase_add_test(tc, test_acl_nulls_and_v0);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
