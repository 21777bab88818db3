/* protocol_kafka_msgs_admin_test.c: protocol/kafka_msgs_admin.c: every admin request and
 * response at every version: round trip, every truncation, byte flips and garbage (see
 * kafka_msgs_harness.h), plus bodies assembled by hand from the specs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs_harness.h"
#include "protocol/kafka_msgs_admin.h"

static const uint8_t uuid_a[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                   0x00, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0xff};
static const uint8_t uuid_zero[16];

/* ---- CreateTopics ---- */

static void fill_create_topics_req(void *m, int16_t v, struct karena *a) {
    struct kafka_create_topics_req *q = m;
    (void)v;
    q->topic_count = 3;
    q->topics = NEW(a, struct kafka_create_topics_topic, 3);
    struct kafka_create_topics_topic *t = q->topics;
    t[0].name = S("orders");
    t[0].num_partitions = 12;
    t[0].replication_factor = 3;
    t[0].config_count = 2;
    t[0].configs = NEW(a, struct kafka_create_topics_config, 2);
    t[0].configs[0] = (struct kafka_create_topics_config){S("cleanup.policy"), S("compact")};
    t[0].configs[1] = (struct kafka_create_topics_config){S("retention.ms"), SNULL};
    t[1].name = S("manual");
    t[1].num_partitions = -1;
    t[1].replication_factor = -1;
    t[1].assignment_count = 2;
    t[1].assignments = NEW(a, struct kafka_create_topics_assignment, 2);
    t[1].assignments[0].partition_index = 0;
    t[1].assignments[0].broker_id_count = 3;
    t[1].assignments[0].broker_ids = NEW(a, int32_t, 3);
    t[1].assignments[0].broker_ids[0] = 1;
    t[1].assignments[0].broker_ids[1] = 2;
    t[1].assignments[0].broker_ids[2] = 0x7fffffff;
    t[1].assignments[1].partition_index = 1;
    t[2].name = S("");
    t[2].num_partitions = INT32_MIN;
    t[2].replication_factor = INT16_MIN;
    q->timeout_ms = 60000;
    q->validate_only = true;
}

static void check_create_topics_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_create_topics_req *w = wp, *g = gp;
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        const struct kafka_create_topics_topic *gt = &g->topics[i], *wt = &w->topics[i];
        CK_STR(gt->name, wt->name);
        CK_EQ(gt->num_partitions, wt->num_partitions);
        CK_EQ(gt->replication_factor, wt->replication_factor);
        CK_EQ(gt->assignment_count, wt->assignment_count);
        for (int32_t j = 0; j < gt->assignment_count; j++) {
            CK_EQ(gt->assignments[j].partition_index, wt->assignments[j].partition_index);
            ck_i32s(gt->assignments[j].broker_ids, gt->assignments[j].broker_id_count, wt->assignments[j].broker_ids,
                    wt->assignments[j].broker_id_count);
        }
        CK_EQ(gt->config_count, wt->config_count);
        for (int32_t j = 0; j < gt->config_count; j++) {
            CK_STR(gt->configs[j].name, wt->configs[j].name);
            CK_STR(gt->configs[j].value, wt->configs[j].value);
        }
    }
    CK_EQ(g->timeout_ms, w->timeout_ms);
    CK_EQ(g->validate_only, v >= 1 && w->validate_only);
}

static void fill_create_topics_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_create_topics_resp *p = m;
    (void)v;
    p->throttle_time_ms = 77;
    p->topic_count = 3;
    p->topics = NEW(a, struct kafka_create_topics_result, 3);
    struct kafka_create_topics_result *t = p->topics;
    t[0].name = S("orders");
    memcpy(t[0].topic_id, uuid_a, 16);
    t[0].error_code = 0;
    t[0].error_message = SNULL;
    t[0].num_partitions = 12;
    t[0].replication_factor = 3;
    t[0].config_count = 2;
    t[0].configs = NEW(a, struct kafka_create_topics_result_config, 2);
    t[0].configs[0] = (struct kafka_create_topics_result_config){S("cleanup.policy"), S("delete"), false, 5, false};
    t[0].configs[1] = (struct kafka_create_topics_result_config){S("sasl.secret"), SNULL, true, -1, true};
    t[1].name = S("bad");
    t[1].error_code = 37;
    t[1].error_message = S("Number of partitions is below 1.");
    t[1].topic_config_error_code = 29;
    t[1].num_partitions = -1;
    t[1].replication_factor = -1;
    t[1].config_count = -1; /* null */
    t[2].name = S("t2");
    t[2].error_message = S("");
    t[2].num_partitions = 1;
    t[2].replication_factor = 1;
    t[2].config_count = 0;
}

static void check_create_topics_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_create_topics_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 2 ? w->throttle_time_ms : 0);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        const struct kafka_create_topics_result *gt = &g->topics[i], *wt = &w->topics[i];
        CK_STR(gt->name, wt->name);
        CK_UUID(gt->topic_id, v >= 7 ? wt->topic_id : uuid_zero);
        CK_EQ(gt->error_code, wt->error_code);
        CK_STR(gt->error_message, v >= 1 ? wt->error_message : S(""));
        CK_EQ(gt->topic_config_error_code, v >= 5 ? wt->topic_config_error_code : 0);
        CK_EQ(gt->num_partitions, v >= 5 ? wt->num_partitions : -1);
        CK_EQ(gt->replication_factor, v >= 5 ? wt->replication_factor : -1);
        CK_EQ(gt->config_count, v >= 5 ? wt->config_count : 0);
        for (int32_t j = 0; j < gt->config_count; j++) {
            const struct kafka_create_topics_result_config *gc = &gt->configs[j], *wc = &wt->configs[j];
            CK_STR(gc->name, wc->name);
            CK_STR(gc->value, wc->value);
            CK_EQ(gc->read_only, wc->read_only);
            CK_EQ(gc->config_source, wc->config_source);
            CK_EQ(gc->is_sensitive, wc->is_sensitive);
        }
    }
}

/* ---- DeleteTopics ---- */

static void fill_delete_topics_req(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_topics_req *q = m;
    (void)v;
    q->topic_count = 2;
    q->topics = NEW(a, struct kafka_delete_topics_topic, 2);
    q->topics[0].name = S("gone");
    q->topics[1].name = SNULL;
    memcpy(q->topics[1].topic_id, uuid_a, 16);
    q->topic_name_count = 3;
    q->topic_names = NEW(a, struct kstr, 3);
    q->topic_names[0] = S("a");
    q->topic_names[1] = S("");
    q->topic_names[2] = S("topic.with.dots");
    q->timeout_ms = 1234;
}

static void check_delete_topics_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_topics_req *w = wp, *g = gp;
    CK_EQ(g->topic_count, v >= 6 ? w->topic_count : 0);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_UUID(g->topics[i].topic_id, w->topics[i].topic_id);
    }
    if (v <= 5) ck_strs(g->topic_names, g->topic_name_count, w->topic_names, w->topic_name_count);
    else CK_EQ(g->topic_name_count, 0);
    CK_EQ(g->timeout_ms, w->timeout_ms);
}

static void fill_delete_topics_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_topics_resp *p = m;
    (void)v;
    p->throttle_time_ms = 5;
    p->response_count = 3;
    p->responses = NEW(a, struct kafka_delete_topics_result, 3);
    p->responses[0] = (struct kafka_delete_topics_result){S("gone"), {0}, 0, SNULL};
    p->responses[1] = (struct kafka_delete_topics_result){SNULL, {0}, 100, S("Unknown topic ID")};
    memcpy(p->responses[1].topic_id, uuid_a, 16);
    p->responses[2] = (struct kafka_delete_topics_result){S("x"), {0}, 3, S("")};
}

static void check_delete_topics_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_topics_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->response_count, w->response_count);
    for (int32_t i = 0; i < g->response_count; i++) {
        const struct kafka_delete_topics_result *gt = &g->responses[i], *wt = &w->responses[i];
        CK_STR(gt->name, v >= 6 ? wt->name : nn(wt->name)); /* Name: nullable v6+ */
        CK_UUID(gt->topic_id, v >= 6 ? wt->topic_id : uuid_zero);
        CK_EQ(gt->error_code, wt->error_code);
        CK_STR(gt->error_message, v >= 5 ? wt->error_message : SNULL);
    }
}

/* ---- CreatePartitions ---- */

static void fill_create_partitions_req(void *m, int16_t v, struct karena *a) {
    struct kafka_create_partitions_req *q = m;
    (void)v;
    q->topic_count = 3;
    q->topics = NEW(a, struct kafka_create_partitions_topic, 3);
    q->topics[0].name = S("grow");
    q->topics[0].count = 6;
    q->topics[0].assignment_count = -1; /* null: broker picks */
    q->topics[1].name = S("manual");
    q->topics[1].count = 4;
    q->topics[1].assignment_count = 2;
    q->topics[1].assignments = NEW(a, struct kafka_create_partitions_assignment, 2);
    q->topics[1].assignments[0].broker_id_count = 2;
    q->topics[1].assignments[0].broker_ids = NEW(a, int32_t, 2);
    q->topics[1].assignments[0].broker_ids[0] = 3;
    q->topics[1].assignments[0].broker_ids[1] = -7;
    q->topics[2].name = S("empty");
    q->topics[2].count = 1;
    q->topics[2].assignment_count = 0;
    q->timeout_ms = 30000;
    q->validate_only = true;
}

static void check_create_partitions_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_create_partitions_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        const struct kafka_create_partitions_topic *gt = &g->topics[i], *wt = &w->topics[i];
        CK_STR(gt->name, wt->name);
        CK_EQ(gt->count, wt->count);
        CK_EQ(gt->assignment_count, wt->assignment_count);
        for (int32_t j = 0; j < gt->assignment_count; j++)
            ck_i32s(gt->assignments[j].broker_ids, gt->assignments[j].broker_id_count, wt->assignments[j].broker_ids,
                    wt->assignments[j].broker_id_count);
    }
    CK_EQ(g->timeout_ms, w->timeout_ms);
    CK_EQ(g->validate_only, w->validate_only);
}

static void fill_create_partitions_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_create_partitions_resp *p = m;
    (void)v;
    p->throttle_time_ms = 9;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_create_partitions_result, 2);
    p->results[0] = (struct kafka_create_partitions_result){S("grow"), 0, SNULL};
    p->results[1] = (struct kafka_create_partitions_result){S("shrink"), 37, S("Topic currently has 8 partitions")};
}

static void check_create_partitions_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_create_partitions_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < g->result_count; i++) {
        CK_STR(g->results[i].name, w->results[i].name);
        CK_EQ(g->results[i].error_code, w->results[i].error_code);
        CK_STR(g->results[i].error_message, w->results[i].error_message);
    }
}

/* ---- DescribeConfigs ---- */

static void fill_describe_configs_req(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_configs_req *q = m;
    (void)v;
    q->resource_count = 3;
    q->resources = NEW(a, struct kafka_describe_configs_resource, 3);
    q->resources[0].resource_type = 2; /* TOPIC */
    q->resources[0].resource_name = S("orders");
    q->resources[0].configuration_key_count = -1; /* null: all keys */
    q->resources[1].resource_type = 4; /* BROKER */
    q->resources[1].resource_name = S("1");
    q->resources[1].configuration_key_count = 2;
    q->resources[1].configuration_keys = NEW(a, struct kstr, 2);
    q->resources[1].configuration_keys[0] = S("log.retention.ms");
    q->resources[1].configuration_keys[1] = S("");
    q->resources[2].resource_type = -1;
    q->resources[2].resource_name = S("");
    q->resources[2].configuration_key_count = 0;
    q->include_synonyms = true;
    q->include_documentation = true;
}

static void check_describe_configs_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_configs_req *w = wp, *g = gp;
    CK_EQ(g->resource_count, w->resource_count);
    for (int32_t i = 0; i < g->resource_count; i++) {
        const struct kafka_describe_configs_resource *gr = &g->resources[i], *wr = &w->resources[i];
        CK_EQ(gr->resource_type, wr->resource_type);
        CK_STR(gr->resource_name, wr->resource_name);
        ck_strs(gr->configuration_keys, gr->configuration_key_count, wr->configuration_keys,
                wr->configuration_key_count);
    }
    CK_EQ(g->include_synonyms, v >= 1 && w->include_synonyms);
    CK_EQ(g->include_documentation, v >= 3 && w->include_documentation);
}

static void fill_describe_configs_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_configs_resp *p = m;
    (void)v;
    p->throttle_time_ms = 11;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_describe_configs_result, 2);
    struct kafka_describe_configs_result *r = p->results;
    r[0].error_code = 0;
    r[0].error_message = SNULL;
    r[0].resource_type = 2;
    r[0].resource_name = S("orders");
    r[0].config_count = 2;
    r[0].configs = NEW(a, struct kafka_describe_configs_config, 2);
    struct kafka_describe_configs_config *c = r[0].configs;
    c[0].name = S("retention.ms");
    c[0].value = S("604800000");
    c[0].read_only = false;
    c[0].is_default = true;
    c[0].config_source = 5;
    c[0].is_sensitive = false;
    c[0].synonym_count = 2;
    c[0].synonyms = NEW(a, struct kafka_describe_configs_synonym, 2);
    c[0].synonyms[0] = (struct kafka_describe_configs_synonym){S("log.retention.ms"), SNULL, 4};
    c[0].synonyms[1] = (struct kafka_describe_configs_synonym){S("log.retention.hours"), S("168"), 5};
    c[0].config_type = 5; /* LONG */
    c[0].documentation = S("How long to keep a segment.");
    c[1].name = S("ssl.key.password");
    c[1].value = SNULL;
    c[1].read_only = true;
    c[1].config_source = -1;
    c[1].is_sensitive = true;
    c[1].config_type = 9;
    c[1].documentation = SNULL;
    r[1].error_code = 3;
    r[1].error_message = S("Topic 'nope' does not exist");
    r[1].resource_type = 2;
    r[1].resource_name = S("nope");
}

static void check_describe_configs_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_configs_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < g->result_count; i++) {
        const struct kafka_describe_configs_result *gr = &g->results[i], *wr = &w->results[i];
        CK_EQ(gr->error_code, wr->error_code);
        CK_STR(gr->error_message, wr->error_message);
        CK_EQ(gr->resource_type, wr->resource_type);
        CK_STR(gr->resource_name, wr->resource_name);
        CK_EQ(gr->config_count, wr->config_count);
        for (int32_t j = 0; j < gr->config_count; j++) {
            const struct kafka_describe_configs_config *gc = &gr->configs[j], *wc = &wr->configs[j];
            CK_STR(gc->name, wc->name);
            CK_STR(gc->value, wc->value);
            CK_EQ(gc->read_only, wc->read_only);
            CK_EQ(gc->is_default, v == 0 && wc->is_default);
            CK_EQ(gc->config_source, v >= 1 ? wc->config_source : -1);
            CK_EQ(gc->is_sensitive, wc->is_sensitive);
            CK_EQ(gc->synonym_count, v >= 1 ? wc->synonym_count : 0);
            for (int32_t k = 0; k < gc->synonym_count; k++) {
                CK_STR(gc->synonyms[k].name, wc->synonyms[k].name);
                CK_STR(gc->synonyms[k].value, wc->synonyms[k].value);
                CK_EQ(gc->synonyms[k].source, wc->synonyms[k].source);
            }
            CK_EQ(gc->config_type, v >= 3 ? wc->config_type : 0);
            CK_STR(gc->documentation, v >= 3 ? wc->documentation : S(""));
        }
    }
}

/* ---- AlterConfigs ---- */

static void fill_alter_configs_req(void *m, int16_t v, struct karena *a) {
    struct kafka_alter_configs_req *q = m;
    (void)v;
    q->resource_count = 2;
    q->resources = NEW(a, struct kafka_alter_configs_resource, 2);
    q->resources[0].resource_type = 2;
    q->resources[0].resource_name = S("orders");
    q->resources[0].config_count = 3;
    q->resources[0].configs = NEW(a, struct kafka_alter_configs_config, 3);
    q->resources[0].configs[0] = (struct kafka_alter_configs_config){S("retention.ms"), S("1000")};
    q->resources[0].configs[1] = (struct kafka_alter_configs_config){S("cleanup.policy"), SNULL};
    q->resources[0].configs[2] = (struct kafka_alter_configs_config){S("x"), S("")};
    q->resources[1].resource_type = 4;
    q->resources[1].resource_name = S("");
    q->validate_only = true;
}

static void ck_alter_results(const struct kafka_alter_configs_result *g, int32_t gn,
                             const struct kafka_alter_configs_result *w, int32_t wn) {
    CK_EQ(gn, wn);
    for (int32_t i = 0; i < gn; i++) {
        CK_EQ(g[i].error_code, w[i].error_code);
        CK_STR(g[i].error_message, w[i].error_message);
        CK_EQ(g[i].resource_type, w[i].resource_type);
        CK_STR(g[i].resource_name, w[i].resource_name);
    }
}

static struct kafka_alter_configs_result *fill_alter_results(struct karena *a, int32_t *n) {
    struct kafka_alter_configs_result *r = NEW(a, struct kafka_alter_configs_result, 3);
    r[0] = (struct kafka_alter_configs_result){0, SNULL, 2, S("orders")};
    r[1] = (struct kafka_alter_configs_result){40, S("Invalid value abc for configuration retention.ms"), 2, S("x")};
    r[2] = (struct kafka_alter_configs_result){0, S(""), 4, S("1")};
    *n = 3;
    return r;
}

static void check_alter_configs_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_alter_configs_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->resource_count, w->resource_count);
    for (int32_t i = 0; i < g->resource_count; i++) {
        const struct kafka_alter_configs_resource *gr = &g->resources[i], *wr = &w->resources[i];
        CK_EQ(gr->resource_type, wr->resource_type);
        CK_STR(gr->resource_name, wr->resource_name);
        CK_EQ(gr->config_count, wr->config_count);
        for (int32_t j = 0; j < gr->config_count; j++) {
            CK_STR(gr->configs[j].name, wr->configs[j].name);
            CK_STR(gr->configs[j].value, wr->configs[j].value);
        }
    }
    CK_EQ(g->validate_only, w->validate_only);
}

static void fill_alter_configs_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_alter_configs_resp *p = m;
    (void)v;
    p->throttle_time_ms = 13;
    p->responses = fill_alter_results(a, &p->response_count);
}

static void check_alter_configs_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_alter_configs_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    ck_alter_results(g->responses, g->response_count, w->responses, w->response_count);
}

/* ---- IncrementalAlterConfigs ---- */

static void fill_incremental_alter_configs_req(void *m, int16_t v, struct karena *a) {
    struct kafka_incremental_alter_configs_req *q = m;
    (void)v;
    q->resource_count = 2;
    q->resources = NEW(a, struct kafka_incremental_alter_configs_resource, 2);
    q->resources[0].resource_type = 2;
    q->resources[0].resource_name = S("orders");
    q->resources[0].config_count = 2;
    q->resources[0].configs = NEW(a, struct kafka_incremental_alter_configs_config, 2);
    q->resources[0].configs[0] = (struct kafka_incremental_alter_configs_config){S("retention.ms"), 0, S("5")};
    q->resources[0].configs[1] = (struct kafka_incremental_alter_configs_config){S("cleanup.policy"), 1, SNULL};
    q->resources[1].resource_type = 8;
    q->resources[1].resource_name = S("b");
    q->validate_only = false;
}

static void check_incremental_alter_configs_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_incremental_alter_configs_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->resource_count, w->resource_count);
    for (int32_t i = 0; i < g->resource_count; i++) {
        const struct kafka_incremental_alter_configs_resource *gr = &g->resources[i], *wr = &w->resources[i];
        CK_EQ(gr->resource_type, wr->resource_type);
        CK_STR(gr->resource_name, wr->resource_name);
        CK_EQ(gr->config_count, wr->config_count);
        for (int32_t j = 0; j < gr->config_count; j++) {
            CK_STR(gr->configs[j].name, wr->configs[j].name);
            CK_EQ(gr->configs[j].config_operation, wr->configs[j].config_operation);
            CK_STR(gr->configs[j].value, wr->configs[j].value);
        }
    }
    CK_EQ(g->validate_only, w->validate_only);
}

static void fill_incremental_alter_configs_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_incremental_alter_configs_resp *p = m;
    (void)v;
    p->throttle_time_ms = 0;
    p->responses = fill_alter_results(a, &p->response_count);
}

static void check_incremental_alter_configs_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_incremental_alter_configs_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    ck_alter_results(g->responses, g->response_count, w->responses, w->response_count);
}

/* ---- DeleteRecords ---- */

static void fill_delete_records_req(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_records_req *q = m;
    (void)v;
    q->topic_count = 2;
    q->topics = NEW(a, struct kafka_delete_records_topic, 2);
    q->topics[0].name = S("orders");
    q->topics[0].partition_count = 2;
    q->topics[0].partitions = NEW(a, struct kafka_delete_records_partition, 2);
    q->topics[0].partitions[0] = (struct kafka_delete_records_partition){0, 1000};
    q->topics[0].partitions[1] = (struct kafka_delete_records_partition){7, -1};
    q->topics[1].name = S("none");
    q->timeout_ms = 500;
}

static void check_delete_records_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_records_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            CK_EQ(g->topics[i].partitions[j].partition_index, w->topics[i].partitions[j].partition_index);
            CK_EQ(g->topics[i].partitions[j].offset, w->topics[i].partitions[j].offset);
        }
    }
    CK_EQ(g->timeout_ms, w->timeout_ms);
}

static void fill_delete_records_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_records_resp *p = m;
    (void)v;
    p->throttle_time_ms = 1;
    p->topic_count = 2;
    p->topics = NEW(a, struct kafka_delete_records_topic_result, 2);
    p->topics[0].name = S("orders");
    p->topics[0].partition_count = 2;
    p->topics[0].partitions = NEW(a, struct kafka_delete_records_partition_result, 2);
    p->topics[0].partitions[0] = (struct kafka_delete_records_partition_result){0, 1000, 0};
    p->topics[0].partitions[1] = (struct kafka_delete_records_partition_result){7, -1, 1};
    p->topics[1].name = S("");
}

static void check_delete_records_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_records_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            const struct kafka_delete_records_partition_result *gp_ = &g->topics[i].partitions[j];
            const struct kafka_delete_records_partition_result *wp_ = &w->topics[i].partitions[j];
            CK_EQ(gp_->partition_index, wp_->partition_index);
            CK_EQ(gp_->low_watermark, wp_->low_watermark);
            CK_EQ(gp_->error_code, wp_->error_code);
        }
    }
}

/* ---- the table ---- */

CODEC_ADAPTERS(create_topics)
CODEC_ADAPTERS(delete_topics)
CODEC_ADAPTERS(create_partitions)
CODEC_ADAPTERS(describe_configs)
CODEC_ADAPTERS(alter_configs)
CODEC_ADAPTERS(incremental_alter_configs)
CODEC_ADAPTERS(delete_records)

/* ---- DescribeCluster ---- */

static void fill_describe_cluster_req(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_cluster_req *q = m;
    (void)a;
    q->include_cluster_authorized_operations = true;
    q->endpoint_type = v >= 1 ? 2 : 1;
}

static void check_describe_cluster_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_cluster_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->include_cluster_authorized_operations, w->include_cluster_authorized_operations);
    CK_EQ(g->endpoint_type, w->endpoint_type);
}

static void fill_describe_cluster_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_cluster_resp *p = m;
    p->throttle_time_ms = 3;
    p->error_code = 0;
    p->error_message = v ? S("why") : (struct kstr){NULL, -1};
    p->endpoint_type = 1;
    p->cluster_id = S("c1");
    p->controller_id = 1;
    p->broker_count = 2;
    p->brokers = NEW(a, struct kafka_describe_cluster_broker, 2);
    p->brokers[0] = (struct kafka_describe_cluster_broker){1, S("h1"), 9092, {NULL, -1}};
    p->brokers[1] = (struct kafka_describe_cluster_broker){2, S("h2"), 9093, S("r1")};
    p->cluster_authorized_operations = 8096;
}

static void check_describe_cluster_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_cluster_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->error_code, w->error_code);
    CK_STR(g->error_message, w->error_message);
    CK_EQ(g->endpoint_type, w->endpoint_type);
    CK_STR(g->cluster_id, w->cluster_id);
    CK_EQ(g->controller_id, w->controller_id);
    CK_EQ(g->broker_count, w->broker_count);
    for (int32_t i = 0; i < g->broker_count; i++) {
        CK_EQ(g->brokers[i].broker_id, w->brokers[i].broker_id);
        CK_STR(g->brokers[i].host, w->brokers[i].host);
        CK_EQ(g->brokers[i].port, w->brokers[i].port);
        CK_STR(g->brokers[i].rack, w->brokers[i].rack);
    }
    CK_EQ(g->cluster_authorized_operations, w->cluster_authorized_operations);
}

CODEC_ADAPTERS(describe_cluster)

static const struct msg_codec codecs[] = {
    CODEC_REQ(create_topics, 0, 7),     CODEC_RESP(create_topics, 0, 7),
    CODEC_REQ(delete_topics, 0, 6),     CODEC_RESP(delete_topics, 0, 6),
    CODEC_REQ(create_partitions, 0, 3), CODEC_RESP(create_partitions, 0, 3),
    CODEC_REQ(describe_configs, 0, 4),  CODEC_RESP(describe_configs, 0, 4),
    CODEC_REQ(alter_configs, 0, 2),     CODEC_RESP(alter_configs, 0, 2),
    CODEC_REQ(incremental_alter_configs, 0, 1), CODEC_RESP(incremental_alter_configs, 0, 1),
    CODEC_REQ(delete_records, 0, 2),    CODEC_RESP(delete_records, 0, 2),
    CODEC_REQ(describe_cluster, 0, 1),  CODEC_RESP(describe_cluster, 0, 1),
};

/* CreateTopics v4 request (not flexible), one topic with one config, from
 * CreateTopicsRequest.json: Topics [Name, NumPartitions, ReplicationFactor, Assignments,
 * Configs [Name, Value]], timeoutMs, validateOnly. */
static const uint8_t create_topics_v4[] = {
    0x00, 0x00, 0x00, 0x01,                                   /* Topics: 1 */
    0x00, 0x06, 'o', 'r', 'd', 'e', 'r', 's',                 /* Name */
    0x00, 0x00, 0x00, 0x03,                                   /* NumPartitions 3 */
    0x00, 0x01,                                               /* ReplicationFactor 1 */
    0x00, 0x00, 0x00, 0x00,                                   /* Assignments: 0 */
    0x00, 0x00, 0x00, 0x01,                                   /* Configs: 1 */
    0x00, 0x0e, 'c', 'l', 'e', 'a', 'n', 'u', 'p', '.', 'p', 'o', 'l', 'i', 'c', 'y', /* Name */
    0x00, 0x07, 'c', 'o', 'm', 'p', 'a', 'c', 't',            /* Value */
    0x00, 0x00, 0x75, 0x30,                                   /* timeoutMs 30000 */
    0x01,                                                     /* validateOnly */
};

START_TEST(test_known_create_topics_v4) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_create_topics_req q;
    ck_known_bytes(&codecs[0], 4, create_topics_v4, sizeof(create_topics_v4), &a, &q);
    ck_assert_int_eq(q.topic_count, 1);
    ck_assert(kstr_eq(q.topics[0].name, S("orders")));
    ck_assert_int_eq(q.topics[0].num_partitions, 3);
    ck_assert_int_eq(q.topics[0].replication_factor, 1);
    ck_assert_int_eq(q.topics[0].assignment_count, 0);
    ck_assert_int_eq(q.topics[0].config_count, 1);
    ck_assert(kstr_eq(q.topics[0].configs[0].name, S("cleanup.policy")));
    ck_assert(kstr_eq(q.topics[0].configs[0].value, S("compact")));
    ck_assert_int_eq(q.timeout_ms, 30000);
    ck_assert(q.validate_only);
    karena_free(&a);
}
END_TEST

/* CreateTopics v5 response (flexible): compact strings and arrays, and the topic's
 * TopicConfigErrorCode as tagged field 0. */
static const uint8_t create_topics_resp_v5[] = {
    0x00, 0x00, 0x00, 0x00,          /* ThrottleTimeMs 0 */
    0x02,                            /* Topics: 1 (compact) */
    0x03, 't', '1',                  /* Name */
    0x00, 0x00,                      /* ErrorCode 0 */
    0x00,                            /* ErrorMessage null */
    0x00, 0x00, 0x00, 0x02,          /* NumPartitions 2 */
    0x00, 0x01,                      /* ReplicationFactor 1 */
    0x00,                            /* Configs null */
    0x01, 0x00, 0x02, 0x00, 0x1d,    /* tags: 1, tag 0, size 2, TopicConfigErrorCode 29 */
    0x00,                            /* tags of the body */
};

START_TEST(test_known_create_topics_resp_v5) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_create_topics_resp p;
    ck_known_bytes(&codecs[1], 5, create_topics_resp_v5, sizeof(create_topics_resp_v5), &a, &p);
    ck_assert_int_eq(p.topic_count, 1);
    ck_assert(kstr_eq(p.topics[0].name, S("t1")));
    ck_assert_int_eq(p.topics[0].error_message.len, -1);
    ck_assert_int_eq(p.topics[0].num_partitions, 2);
    ck_assert_int_eq(p.topics[0].config_count, -1);
    ck_assert_int_eq(p.topics[0].topic_config_error_code, 29);
    karena_free(&a);
}
END_TEST

/* Hostile counts: an array claiming more elements than the bytes left can hold is refused,
 * and a null where the spec allows none is malformed. */
START_TEST(test_hostile_counts) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_delete_records_req q;
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
    struct kr r = kr_make(huge, sizeof(huge));
    ck_assert_int_ne(kafka_decode_delete_records(&r, 0, &a, &q), SL_OK);
    /* 2 partitions of at least 12 bytes each cannot fit in the 20 left. */
    static const uint8_t tight[] = {0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    r = kr_make(tight, sizeof(tight));
    ck_assert_int_eq(kafka_decode_delete_records(&r, 0, &a, &q), SL_UNDERFLOW);
    static const uint8_t null_topics[] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
    r = kr_make(null_topics, sizeof(null_topics));
    ck_assert_int_eq(kafka_decode_delete_records(&r, 0, &a, &q), SL_CORRUPT);
    static const uint8_t null_name[] = {0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                        0x00, 0x00, 0x00, 0x00};
    r = kr_make(null_name, sizeof(null_name));
    ck_assert_int_eq(kafka_decode_delete_records(&r, 0, &a, &q), SL_CORRUPT);
    karena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_admin");
    TCase *tc = tcase_create("admin");
    tcase_set_timeout(tc, 300);
    int n = (int)(sizeof(codecs) / sizeof(codecs[0]));
    add_codec_tests(tc, codecs, n);
    tcase_add_test(tc, test_known_create_topics_v4);
    tcase_add_test(tc, test_known_create_topics_resp_v5);
    tcase_add_test(tc, test_hostile_counts);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
