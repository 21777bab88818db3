/* protocol_kafka_msgs_group_test.c: protocol/kafka_msgs_group.c: every consumer-group
 * request and response at every version: round trip, every truncation, byte flips and
 * garbage (see kafka_msgs_harness.h), plus bodies assembled by hand from the specs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_msgs_harness.h"
#include "protocol/kafka_msgs_group.h"

/* ---- FindCoordinator ---- */

static void fill_find_coordinator_req(void *m, int16_t v, struct karena *a) {
    struct kafka_find_coordinator_req *q = m;
    (void)v;
    q->key = S("my-group");
    q->key_type = 1;
    q->coordinator_key_count = 3;
    q->coordinator_keys = NEW(a, struct kstr, 3);
    q->coordinator_keys[0] = S("g1");
    q->coordinator_keys[1] = S("");
    q->coordinator_keys[2] = S("txn-\x01");
}

static void check_find_coordinator_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_find_coordinator_req *w = wp, *g = gp;
    CK_STR(g->key, v <= 3 ? w->key : S(""));
    CK_EQ(g->key_type, v >= 1 ? w->key_type : 0);
    if (v >= 4) ck_strs(g->coordinator_keys, g->coordinator_key_count, w->coordinator_keys, w->coordinator_key_count);
    else CK_EQ(g->coordinator_key_count, 0);
}

static void fill_find_coordinator_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_find_coordinator_resp *p = m;
    p->throttle_time_ms = 3;
    p->error_code = 15;
    p->error_message = v == 2 ? SNULL : S("The coordinator is not available.");
    p->node_id = 1;
    p->host = S("broker-1.local");
    p->port = 9092;
    p->coordinator_count = 2;
    p->coordinators = NEW(a, struct kafka_find_coordinator_coordinator, 2);
    p->coordinators[0] = (struct kafka_find_coordinator_coordinator){S("g1"), 1, S("h"), 9092, 0, SNULL};
    p->coordinators[1] = (struct kafka_find_coordinator_coordinator){S("g2"), -1, S(""), -1, 16, S("not me")};
}

static void check_find_coordinator_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_find_coordinator_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->error_code, v <= 3 ? w->error_code : 0);
    CK_STR(g->error_message, v >= 1 && v <= 3 ? w->error_message : S(""));
    CK_EQ(g->node_id, v <= 3 ? w->node_id : 0);
    CK_STR(g->host, v <= 3 ? w->host : S(""));
    CK_EQ(g->port, v <= 3 ? w->port : 0);
    CK_EQ(g->coordinator_count, v >= 4 ? w->coordinator_count : 0);
    for (int32_t i = 0; i < g->coordinator_count; i++) {
        const struct kafka_find_coordinator_coordinator *gc = &g->coordinators[i], *wc = &w->coordinators[i];
        CK_STR(gc->key, wc->key);
        CK_EQ(gc->node_id, wc->node_id);
        CK_STR(gc->host, wc->host);
        CK_EQ(gc->port, wc->port);
        CK_EQ(gc->error_code, wc->error_code);
        CK_STR(gc->error_message, wc->error_message);
    }
}

/* ---- JoinGroup ---- */

static void fill_join_group_req(void *m, int16_t v, struct karena *a) {
    struct kafka_join_group_req *q = m;
    q->group_id = S("my-group");
    q->session_timeout_ms = 6000;
    q->rebalance_timeout_ms = 300000;
    q->member_id = v == 4 ? S("") : S("rdkafka-1f2e-\x00-id");
    q->group_instance_id = v == 6 ? SNULL : S("instance-7");
    q->protocol_type = S("consumer");
    q->protocol_count = 3;
    q->protocols = NEW(a, struct kafka_join_group_protocol, 3);
    q->protocols[0] = (struct kafka_join_group_protocol){S("cooperative-sticky"), BLOB(blob_a)};
    q->protocols[1] = (struct kafka_join_group_protocol){S("range"), BLOB(blob_b)};
    q->protocols[2] = (struct kafka_join_group_protocol){S("roundrobin"), S("")};
    q->reason = v == 9 ? SNULL : S("rebalance failed due to \x00 'MemberIdRequiredException'");
}

static void check_join_group_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_join_group_req *w = wp, *g = gp;
    CK_STR(g->group_id, w->group_id);
    CK_EQ(g->session_timeout_ms, w->session_timeout_ms);
    CK_EQ(g->rebalance_timeout_ms, v >= 1 ? w->rebalance_timeout_ms : -1);
    CK_STR(g->member_id, w->member_id);
    CK_STR(g->group_instance_id, v >= 5 ? w->group_instance_id : SNULL);
    CK_STR(g->protocol_type, w->protocol_type);
    CK_EQ(g->protocol_count, w->protocol_count);
    for (int32_t i = 0; i < g->protocol_count; i++) {
        CK_STR(g->protocols[i].name, w->protocols[i].name);
        CK_STR(g->protocols[i].metadata, w->protocols[i].metadata);
    }
    CK_STR(g->reason, v >= 8 ? w->reason : SNULL);
}

static void fill_join_group_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_join_group_resp *p = m;
    p->throttle_time_ms = 2;
    p->error_code = 0;
    p->generation_id = 42;
    p->protocol_type = v == 6 ? SNULL : S("consumer");
    /* Null at most versions: v0-6 must send "", v7 null. */
    p->protocol_name = (v == 3 || v == 5) ? S("range") : SNULL;
    p->leader = S("member-1");
    p->skip_assignment = true;
    p->member_id = S("member-2");
    p->member_count = 3;
    p->members = NEW(a, struct kafka_join_group_member, 3);
    p->members[0] = (struct kafka_join_group_member){S("member-1"), SNULL, BLOB(blob_a)};
    p->members[1] = (struct kafka_join_group_member){S("member-2"), S("static-2"), BLOB(blob_b)};
    p->members[2] = (struct kafka_join_group_member){S("member-3"), S(""), S("")};
}

static void check_join_group_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_join_group_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 2 ? w->throttle_time_ms : 0);
    CK_EQ(g->error_code, w->error_code);
    CK_EQ(g->generation_id, w->generation_id);
    CK_STR(g->protocol_type, v >= 7 ? w->protocol_type : SNULL);
    CK_STR(g->protocol_name, v >= 7 ? w->protocol_name : nn(w->protocol_name));
    CK_STR(g->leader, w->leader);
    CK_EQ(g->skip_assignment, v >= 9 ? w->skip_assignment : false);
    CK_STR(g->member_id, w->member_id);
    CK_EQ(g->member_count, w->member_count);
    for (int32_t i = 0; i < g->member_count; i++) {
        CK_STR(g->members[i].member_id, w->members[i].member_id);
        CK_STR(g->members[i].group_instance_id, v >= 5 ? w->members[i].group_instance_id : SNULL);
        CK_STR(g->members[i].metadata, w->members[i].metadata);
    }
}

/* ---- Heartbeat ---- */

static void fill_heartbeat_req(void *m, int16_t v, struct karena *a) {
    struct kafka_heartbeat_req *q = m;
    (void)a;
    q->group_id = S("my-group");
    q->generation_id = v == 0 ? -1 : 42;
    q->member_id = S("member-1");
    q->group_instance_id = v == 4 ? SNULL : S("instance-7");
}

static void check_heartbeat_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_heartbeat_req *w = wp, *g = gp;
    CK_STR(g->group_id, w->group_id);
    CK_EQ(g->generation_id, w->generation_id);
    CK_STR(g->member_id, w->member_id);
    CK_STR(g->group_instance_id, v >= 3 ? w->group_instance_id : SNULL);
}

static void fill_heartbeat_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_heartbeat_resp *p = m;
    (void)v;
    (void)a;
    p->throttle_time_ms = 100;
    p->error_code = 27;
}

static void check_heartbeat_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_heartbeat_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->error_code, w->error_code);
}

/* ---- LeaveGroup ---- */

static void fill_leave_group_req(void *m, int16_t v, struct karena *a) {
    struct kafka_leave_group_req *q = m;
    (void)v;
    q->group_id = S("my-group");
    q->member_id = S("member-1");
    q->member_count = 2;
    q->members = NEW(a, struct kafka_leave_group_member, 2);
    q->members[0] = (struct kafka_leave_group_member){S("member-1"), SNULL, S("the consumer is closing")};
    q->members[1] = (struct kafka_leave_group_member){S(""), S("instance-7"), SNULL};
}

static void check_leave_group_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_leave_group_req *w = wp, *g = gp;
    CK_STR(g->group_id, w->group_id);
    CK_STR(g->member_id, v <= 2 ? w->member_id : S(""));
    CK_EQ(g->member_count, v >= 3 ? w->member_count : 0);
    for (int32_t i = 0; i < g->member_count; i++) {
        CK_STR(g->members[i].member_id, w->members[i].member_id);
        CK_STR(g->members[i].group_instance_id, w->members[i].group_instance_id);
        CK_STR(g->members[i].reason, v >= 5 ? w->members[i].reason : SNULL);
    }
}

static void fill_leave_group_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_leave_group_resp *p = m;
    (void)v;
    p->throttle_time_ms = 4;
    p->error_code = 0;
    p->member_count = 2;
    p->members = NEW(a, struct kafka_leave_group_member_resp, 2);
    p->members[0] = (struct kafka_leave_group_member_resp){S("member-1"), SNULL, 0};
    p->members[1] = (struct kafka_leave_group_member_resp){S(""), S("instance-7"), 25};
}

static void check_leave_group_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_leave_group_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->error_code, w->error_code);
    CK_EQ(g->member_count, v >= 3 ? w->member_count : 0);
    for (int32_t i = 0; i < g->member_count; i++) {
        CK_STR(g->members[i].member_id, w->members[i].member_id);
        CK_STR(g->members[i].group_instance_id, w->members[i].group_instance_id);
        CK_EQ(g->members[i].error_code, w->members[i].error_code);
    }
}

/* ---- SyncGroup ---- */

static void fill_sync_group_req(void *m, int16_t v, struct karena *a) {
    struct kafka_sync_group_req *q = m;
    q->group_id = S("my-group");
    q->generation_id = 42;
    q->member_id = S("member-1");
    q->group_instance_id = v == 4 ? SNULL : S("instance-7");
    q->protocol_type = S("consumer");
    q->protocol_name = v == 5 ? SNULL : S("range");
    q->assignment_count = v == 1 ? 0 : 3; /* followers send none */
    q->assignments = NEW(a, struct kafka_sync_group_assignment, 3);
    q->assignments[0] = (struct kafka_sync_group_assignment){S("member-1"), BLOB(blob_a)};
    q->assignments[1] = (struct kafka_sync_group_assignment){S("member-2"), S("")};
    q->assignments[2] = (struct kafka_sync_group_assignment){S("member-3"), BLOB(blob_b)};
}

static void check_sync_group_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_sync_group_req *w = wp, *g = gp;
    CK_STR(g->group_id, w->group_id);
    CK_EQ(g->generation_id, w->generation_id);
    CK_STR(g->member_id, w->member_id);
    CK_STR(g->group_instance_id, v >= 3 ? w->group_instance_id : SNULL);
    CK_STR(g->protocol_type, v >= 5 ? w->protocol_type : SNULL);
    CK_STR(g->protocol_name, v >= 5 ? w->protocol_name : SNULL);
    CK_EQ(g->assignment_count, w->assignment_count);
    for (int32_t i = 0; i < g->assignment_count; i++) {
        CK_STR(g->assignments[i].member_id, w->assignments[i].member_id);
        CK_STR(g->assignments[i].assignment, w->assignments[i].assignment);
    }
}

static void fill_sync_group_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_sync_group_resp *p = m;
    (void)a;
    p->throttle_time_ms = 8;
    p->error_code = 0;
    p->protocol_type = S("consumer");
    p->protocol_name = SNULL;
    p->assignment = v == 2 ? S("") : BLOB(blob_a);
}

static void check_sync_group_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_sync_group_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->error_code, w->error_code);
    CK_STR(g->protocol_type, v >= 5 ? w->protocol_type : SNULL);
    CK_STR(g->protocol_name, v >= 5 ? w->protocol_name : SNULL);
    CK_STR(g->assignment, w->assignment);
}

/* ---- OffsetCommit ---- */

static void fill_offset_commit_req(void *m, int16_t v, struct karena *a) {
    struct kafka_offset_commit_req *q = m;
    (void)v;
    q->group_id = S("my-group");
    q->generation_id_or_member_epoch = 42;
    q->member_id = S("member-1");
    q->group_instance_id = S("instance-7");
    q->retention_time_ms = 86400000;
    q->topic_count = 3;
    q->topics = NEW(a, struct kafka_offset_commit_topic, 3);
    q->topics[0].name = S("orders");
    q->topics[0].partition_count = 2;
    q->topics[0].partitions = NEW(a, struct kafka_offset_commit_partition, 2);
    q->topics[0].partitions[0] = (struct kafka_offset_commit_partition){0, 1234567890123LL, 5, 1700000000000LL, SNULL};
    q->topics[0].partitions[1] = (struct kafka_offset_commit_partition){9, 0, -1, -1, S("meta\x00" "data")};
    q->topics[1].name = S("empty");
    q->topics[2].name = S("t");
    q->topics[2].partition_count = 1;
    q->topics[2].partitions = NEW(a, struct kafka_offset_commit_partition, 1);
    q->topics[2].partitions[0] = (struct kafka_offset_commit_partition){3, -1, 7, 9, S("")};
}

static void check_offset_commit_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_offset_commit_req *w = wp, *g = gp;
    CK_STR(g->group_id, w->group_id);
    CK_EQ(g->generation_id_or_member_epoch, v >= 1 ? w->generation_id_or_member_epoch : -1);
    CK_STR(g->member_id, v >= 1 ? w->member_id : S(""));
    CK_STR(g->group_instance_id, v >= 7 ? w->group_instance_id : SNULL);
    CK_EQ(g->retention_time_ms, v >= 2 && v <= 4 ? w->retention_time_ms : -1);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            const struct kafka_offset_commit_partition *gp_ = &g->topics[i].partitions[j];
            const struct kafka_offset_commit_partition *wp_ = &w->topics[i].partitions[j];
            CK_EQ(gp_->partition_index, wp_->partition_index);
            CK_EQ(gp_->committed_offset, wp_->committed_offset);
            CK_EQ(gp_->committed_leader_epoch, v >= 6 ? wp_->committed_leader_epoch : -1);
            CK_EQ(gp_->commit_timestamp, v == 1 ? wp_->commit_timestamp : -1);
            CK_STR(gp_->committed_metadata, wp_->committed_metadata);
        }
    }
}

static void fill_offset_commit_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_offset_commit_resp *p = m;
    (void)v;
    p->throttle_time_ms = 6;
    p->topic_count = 2;
    p->topics = NEW(a, struct kafka_offset_commit_topic_resp, 2);
    p->topics[0].name = S("orders");
    p->topics[0].partition_count = 2;
    p->topics[0].partitions = NEW(a, struct kafka_offset_commit_partition_resp, 2);
    p->topics[0].partitions[0] = (struct kafka_offset_commit_partition_resp){0, 0};
    p->topics[0].partitions[1] = (struct kafka_offset_commit_partition_resp){9, 22};
    p->topics[1].name = S("");
}

static void check_offset_commit_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_offset_commit_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 3 ? w->throttle_time_ms : 0);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            CK_EQ(g->topics[i].partitions[j].partition_index, w->topics[i].partitions[j].partition_index);
            CK_EQ(g->topics[i].partitions[j].error_code, w->topics[i].partitions[j].error_code);
        }
    }
}

/* ---- OffsetFetch ---- */

static struct kafka_offset_fetch_topic *fill_offset_fetch_topics(struct karena *a, int32_t *n) {
    struct kafka_offset_fetch_topic *t = NEW(a, struct kafka_offset_fetch_topic, 2);
    t[0].name = S("orders");
    t[0].partition_index_count = 3;
    t[0].partition_indexes = NEW(a, int32_t, 3);
    t[0].partition_indexes[0] = 0;
    t[0].partition_indexes[1] = 5;
    t[0].partition_indexes[2] = 0x01020304;
    t[1].name = S("none");
    *n = 2;
    return t;
}

static void ck_offset_fetch_topics(const struct kafka_offset_fetch_topic *g, int32_t gn,
                                   const struct kafka_offset_fetch_topic *w, int32_t wn) {
    CK_EQ(gn, wn);
    for (int32_t i = 0; i < gn; i++) {
        CK_STR(g[i].name, w[i].name);
        ck_i32s(g[i].partition_indexes, g[i].partition_index_count, w[i].partition_indexes,
                w[i].partition_index_count);
    }
}

static void fill_offset_fetch_req(void *m, int16_t v, struct karena *a) {
    struct kafka_offset_fetch_req *q = m;
    q->group_id = S("my-group");
    /* Null (all topics) at v1, where it is not nullable and must go out empty, and at v3. */
    if (v == 1 || v == 3) q->topic_count = -1;
    else q->topics = fill_offset_fetch_topics(a, &q->topic_count);
    q->group_count = 3;
    q->groups = NEW(a, struct kafka_offset_fetch_group, 3);
    q->groups[0].group_id = S("g1");
    q->groups[0].member_id = S("consumer-1-uuid");
    q->groups[0].member_epoch = 7;
    q->groups[1].member_id = SNULL;
    q->groups[1].member_epoch = -1;
    q->groups[2].member_id = S("");
    q->groups[2].member_epoch = 0;
    q->groups[0].topics = fill_offset_fetch_topics(a, &q->groups[0].topic_count);
    q->groups[1].group_id = S("g2");
    q->groups[1].topic_count = -1;
    q->groups[2].group_id = S("");
    q->groups[2].topic_count = 0;
    q->require_stable = true;
}

static void check_offset_fetch_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_offset_fetch_req *w = wp, *g = gp;
    CK_STR(g->group_id, v <= 7 ? w->group_id : S(""));
    if (v <= 7) {
        int32_t want = w->topic_count < 0 && v < 2 ? 0 : w->topic_count; /* nullable v2-7 */
        ck_offset_fetch_topics(g->topics, g->topic_count, w->topics, want);
    } else {
        CK_EQ(g->topic_count, 0);
    }
    CK_EQ(g->group_count, v >= 8 ? w->group_count : 0);
    for (int32_t i = 0; i < g->group_count; i++) {
        CK_STR(g->groups[i].group_id, w->groups[i].group_id);
        CK_STR(g->groups[i].member_id, v >= 9 ? w->groups[i].member_id : SNULL);
        CK_EQ(g->groups[i].member_epoch, v >= 9 ? w->groups[i].member_epoch : -1);
        ck_offset_fetch_topics(g->groups[i].topics, g->groups[i].topic_count, w->groups[i].topics,
                               w->groups[i].topic_count);
    }
    CK_EQ(g->require_stable, v >= 7 && w->require_stable);
}

static struct kafka_offset_fetch_topic_resp *fill_offset_fetch_resp_topics(struct karena *a, int32_t *n) {
    struct kafka_offset_fetch_topic_resp *t = NEW(a, struct kafka_offset_fetch_topic_resp, 3);
    t[0].name = S("orders");
    t[0].partition_count = 2;
    t[0].partitions = NEW(a, struct kafka_offset_fetch_partition_resp, 2);
    t[0].partitions[0] = (struct kafka_offset_fetch_partition_resp){0, 1234567890123LL, 5, S("m\x00m"), 0};
    t[0].partitions[1] = (struct kafka_offset_fetch_partition_resp){1, -1, -1, SNULL, 3};
    t[1].name = S("");
    t[2].name = S("x");
    t[2].partition_count = 1;
    t[2].partitions = NEW(a, struct kafka_offset_fetch_partition_resp, 1);
    t[2].partitions[0] = (struct kafka_offset_fetch_partition_resp){7, 7, 7, S(""), 0};
    *n = 3;
    return t;
}

static void ck_offset_fetch_resp_topics(const struct kafka_offset_fetch_topic_resp *g, int32_t gn,
                                        const struct kafka_offset_fetch_topic_resp *w, int32_t wn, int16_t v) {
    CK_EQ(gn, wn);
    for (int32_t i = 0; i < gn; i++) {
        CK_STR(g[i].name, w[i].name);
        CK_EQ(g[i].partition_count, w[i].partition_count);
        for (int32_t j = 0; j < g[i].partition_count; j++) {
            const struct kafka_offset_fetch_partition_resp *gp_ = &g[i].partitions[j], *wp_ = &w[i].partitions[j];
            CK_EQ(gp_->partition_index, wp_->partition_index);
            CK_EQ(gp_->committed_offset, wp_->committed_offset);
            CK_EQ(gp_->committed_leader_epoch, v >= 5 ? wp_->committed_leader_epoch : -1);
            CK_STR(gp_->metadata, wp_->metadata);
            CK_EQ(gp_->error_code, wp_->error_code);
        }
    }
}

static void fill_offset_fetch_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_offset_fetch_resp *p = m;
    (void)v;
    p->throttle_time_ms = 10;
    p->topics = fill_offset_fetch_resp_topics(a, &p->topic_count);
    p->error_code = 14;
    p->group_count = 2;
    p->groups = NEW(a, struct kafka_offset_fetch_group_resp, 2);
    p->groups[0].group_id = S("g1");
    p->groups[0].topics = fill_offset_fetch_resp_topics(a, &p->groups[0].topic_count);
    p->groups[0].error_code = 0;
    p->groups[1].group_id = S("g2");
    p->groups[1].error_code = 69;
}

static void check_offset_fetch_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_offset_fetch_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 3 ? w->throttle_time_ms : 0);
    if (v <= 7) ck_offset_fetch_resp_topics(g->topics, g->topic_count, w->topics, w->topic_count, v);
    else CK_EQ(g->topic_count, 0);
    CK_EQ(g->error_code, v >= 2 && v <= 7 ? w->error_code : 0);
    CK_EQ(g->group_count, v >= 8 ? w->group_count : 0);
    for (int32_t i = 0; i < g->group_count; i++) {
        CK_STR(g->groups[i].group_id, w->groups[i].group_id);
        ck_offset_fetch_resp_topics(g->groups[i].topics, g->groups[i].topic_count, w->groups[i].topics,
                                    w->groups[i].topic_count, v);
        CK_EQ(g->groups[i].error_code, w->groups[i].error_code);
    }
}

/* ---- DescribeGroups ---- */

static void fill_describe_groups_req(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_groups_req *q = m;
    q->group_count = v == 2 ? 0 : 2;
    q->groups = NEW(a, struct kstr, 2);
    q->groups[0] = S("my-group");
    q->groups[1] = S("");
    q->include_authorized_operations = true;
}

static void check_describe_groups_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_groups_req *w = wp, *g = gp;
    ck_strs(g->groups, g->group_count, w->groups, w->group_count);
    CK_EQ(g->include_authorized_operations, v >= 3 && w->include_authorized_operations);
}

static void fill_describe_groups_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_groups_resp *p = m;
    (void)v;
    p->throttle_time_ms = 12;
    p->group_count = 2;
    p->groups = NEW(a, struct kafka_describe_groups_group, 2);
    struct kafka_describe_groups_group *g = p->groups;
    g[0].error_code = 0;
    g[0].group_id = S("my-group");
    g[0].group_state = S("Stable");
    g[0].protocol_type = S("consumer");
    g[0].protocol_data = S("range");
    g[0].member_count = 2;
    g[0].members = NEW(a, struct kafka_describe_groups_member, 2);
    g[0].members[0] = (struct kafka_describe_groups_member){S("member-1"), SNULL, S("rdkafka"), S("/10.0.0.1"),
                                                            BLOB(blob_a), BLOB(blob_b)};
    g[0].members[1] = (struct kafka_describe_groups_member){S("member-2"), S("instance-7"), S(""), S(""), S(""),
                                                            S("")};
    g[0].authorized_operations = 0x0f00;
    g[1].error_code = 0;
    g[1].group_id = S("gone");
    g[1].group_state = S("Dead");
    g[1].protocol_type = S("");
    g[1].protocol_data = S("");
    g[1].authorized_operations = INT32_MIN;
}

static void check_describe_groups_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_groups_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->group_count, w->group_count);
    for (int32_t i = 0; i < g->group_count; i++) {
        const struct kafka_describe_groups_group *gg = &g->groups[i], *wg = &w->groups[i];
        CK_EQ(gg->error_code, wg->error_code);
        CK_STR(gg->group_id, wg->group_id);
        CK_STR(gg->group_state, wg->group_state);
        CK_STR(gg->protocol_type, wg->protocol_type);
        CK_STR(gg->protocol_data, wg->protocol_data);
        CK_EQ(gg->member_count, wg->member_count);
        for (int32_t j = 0; j < gg->member_count; j++) {
            const struct kafka_describe_groups_member *gm = &gg->members[j], *wm = &wg->members[j];
            CK_STR(gm->member_id, wm->member_id);
            CK_STR(gm->group_instance_id, v >= 4 ? wm->group_instance_id : SNULL);
            CK_STR(gm->client_id, wm->client_id);
            CK_STR(gm->client_host, wm->client_host);
            CK_STR(gm->member_metadata, wm->member_metadata);
            CK_STR(gm->member_assignment, wm->member_assignment);
        }
        CK_EQ(gg->authorized_operations, v >= 3 ? wg->authorized_operations : INT32_MIN);
    }
}

/* ---- ListGroups ---- */

static void fill_list_groups_req(void *m, int16_t v, struct karena *a) {
    struct kafka_list_groups_req *q = m;
    (void)v;
    q->states_filter_count = 2;
    q->states_filter = NEW(a, struct kstr, 2);
    q->states_filter[0] = S("Stable");
    q->states_filter[1] = S("PreparingRebalance");
    q->types_filter_count = 1;
    q->types_filter = NEW(a, struct kstr, 1);
    q->types_filter[0] = S("classic");
}

static void check_list_groups_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_list_groups_req *w = wp, *g = gp;
    if (v >= 4) ck_strs(g->states_filter, g->states_filter_count, w->states_filter, w->states_filter_count);
    else CK_EQ(g->states_filter_count, 0);
    if (v >= 5) ck_strs(g->types_filter, g->types_filter_count, w->types_filter, w->types_filter_count);
    else CK_EQ(g->types_filter_count, 0);
}

static void fill_list_groups_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_list_groups_resp *p = m;
    (void)v;
    p->throttle_time_ms = 1;
    p->error_code = 0;
    p->group_count = 2;
    p->groups = NEW(a, struct kafka_list_groups_group, 2);
    p->groups[0] = (struct kafka_list_groups_group){S("my-group"), S("consumer"), S("Stable"), S("classic")};
    p->groups[1] = (struct kafka_list_groups_group){S("connect"), S(""), S("Empty"), S("classic")};
}

static void check_list_groups_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_list_groups_resp *w = wp, *g = gp;
    CK_EQ(g->throttle_time_ms, v >= 1 ? w->throttle_time_ms : 0);
    CK_EQ(g->error_code, w->error_code);
    CK_EQ(g->group_count, w->group_count);
    for (int32_t i = 0; i < g->group_count; i++) {
        CK_STR(g->groups[i].group_id, w->groups[i].group_id);
        CK_STR(g->groups[i].protocol_type, w->groups[i].protocol_type);
        CK_STR(g->groups[i].group_state, v >= 4 ? w->groups[i].group_state : S(""));
        CK_STR(g->groups[i].group_type, v >= 5 ? w->groups[i].group_type : S(""));
    }
}

/* ---- DeleteGroups ---- */

static void fill_delete_groups_req(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_groups_req *q = m;
    (void)v;
    q->groups_names_count = 3;
    q->groups_names = NEW(a, struct kstr, 3);
    q->groups_names[0] = S("a");
    q->groups_names[1] = S("");
    q->groups_names[2] = S("my-group");
}

static void check_delete_groups_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_groups_req *w = wp, *g = gp;
    (void)v;
    ck_strs(g->groups_names, g->groups_names_count, w->groups_names, w->groups_names_count);
}

static void fill_delete_groups_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_delete_groups_resp *p = m;
    (void)v;
    p->throttle_time_ms = 7;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_delete_groups_result, 2);
    p->results[0] = (struct kafka_delete_groups_result){S("a"), 0};
    p->results[1] = (struct kafka_delete_groups_result){S("my-group"), 68};
}

static void check_delete_groups_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_delete_groups_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < g->result_count; i++) {
        CK_STR(g->results[i].group_id, w->results[i].group_id);
        CK_EQ(g->results[i].error_code, w->results[i].error_code);
    }
}

/* ---- OffsetDelete ---- */

static void fill_offset_delete_req(void *m, int16_t v, struct karena *a) {
    struct kafka_offset_delete_req *q = m;
    (void)v;
    q->group_id = S("my-group");
    q->topic_count = 2;
    q->topics = NEW(a, struct kafka_offset_delete_topic, 2);
    q->topics[0].name = S("orders");
    q->topics[0].partition_count = 2;
    q->topics[0].partitions = NEW(a, struct kafka_offset_delete_partition, 2);
    q->topics[0].partitions[0].partition_index = 0;
    q->topics[0].partitions[1].partition_index = 11;
    q->topics[1].name = S("");
}

static void check_offset_delete_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_offset_delete_req *w = wp, *g = gp;
    (void)v;
    CK_STR(g->group_id, w->group_id);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++)
            CK_EQ(g->topics[i].partitions[j].partition_index, w->topics[i].partitions[j].partition_index);
    }
}

static void fill_offset_delete_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_offset_delete_resp *p = m;
    (void)v;
    p->error_code = 0;
    p->throttle_time_ms = 3;
    p->topic_count = 2;
    p->topics = NEW(a, struct kafka_offset_delete_topic_resp, 2);
    p->topics[0].name = S("orders");
    p->topics[0].partition_count = 2;
    p->topics[0].partitions = NEW(a, struct kafka_offset_delete_partition_resp, 2);
    p->topics[0].partitions[0] = (struct kafka_offset_delete_partition_resp){0, 0};
    p->topics[0].partitions[1] = (struct kafka_offset_delete_partition_resp){11, 86};
    p->topics[1].name = S("");
}

static void check_offset_delete_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_offset_delete_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->error_code, w->error_code);
    CK_EQ(g->throttle_time_ms, w->throttle_time_ms);
    CK_EQ(g->topic_count, w->topic_count);
    for (int32_t i = 0; i < g->topic_count; i++) {
        CK_STR(g->topics[i].name, w->topics[i].name);
        CK_EQ(g->topics[i].partition_count, w->topics[i].partition_count);
        for (int32_t j = 0; j < g->topics[i].partition_count; j++) {
            CK_EQ(g->topics[i].partitions[j].partition_index, w->topics[i].partitions[j].partition_index);
            CK_EQ(g->topics[i].partitions[j].error_code, w->topics[i].partitions[j].error_code);
        }
    }
}

/* ---- the table ---- */

CODEC_ADAPTERS(find_coordinator)
CODEC_ADAPTERS(join_group)
CODEC_ADAPTERS(heartbeat)
CODEC_ADAPTERS(leave_group)
CODEC_ADAPTERS(sync_group)
CODEC_ADAPTERS(offset_commit)
CODEC_ADAPTERS(offset_fetch)
CODEC_ADAPTERS(describe_groups)
CODEC_ADAPTERS(list_groups)
CODEC_ADAPTERS(delete_groups)
CODEC_ADAPTERS(offset_delete)

enum { JOIN_GROUP_REQ = 2, FIND_COORDINATOR_REQ = 0, LEAVE_GROUP_REQ = 6 };

static const struct msg_codec codecs[] = {
    CODEC_REQ(find_coordinator, 0, 5), CODEC_RESP(find_coordinator, 0, 5),
    CODEC_REQ(join_group, 0, 9),       CODEC_RESP(join_group, 0, 9),
    CODEC_REQ(heartbeat, 0, 4),        CODEC_RESP(heartbeat, 0, 4),
    CODEC_REQ(leave_group, 0, 5),      CODEC_RESP(leave_group, 0, 5),
    CODEC_REQ(sync_group, 0, 5),       CODEC_RESP(sync_group, 0, 5),
    CODEC_REQ(offset_commit, 0, 9),    CODEC_RESP(offset_commit, 0, 9),
    CODEC_REQ(offset_fetch, 0, 9),     CODEC_RESP(offset_fetch, 0, 9),
    CODEC_REQ(describe_groups, 0, 5),  CODEC_RESP(describe_groups, 0, 5),
    CODEC_REQ(list_groups, 0, 5),      CODEC_RESP(list_groups, 0, 5),
    CODEC_REQ(delete_groups, 0, 2),    CODEC_RESP(delete_groups, 0, 2),
    CODEC_REQ(offset_delete, 0, 0),    CODEC_RESP(offset_delete, 0, 0),
};

/* JoinGroup v5 request (not flexible) with one protocol, from JoinGroupRequest.json:
 * GroupId, SessionTimeoutMs, RebalanceTimeoutMs (v1+), MemberId, GroupInstanceId (v5+,
 * nullable), ProtocolType, Protocols [Name, Metadata (bytes)]. */
static const uint8_t join_group_v5[] = {
    0x00, 0x03, 'g', 'r', 'p',                     /* GroupId */
    0x00, 0x00, 0x27, 0x10,                        /* SessionTimeoutMs 10000 */
    0x00, 0x04, 0x93, 0xe0,                        /* RebalanceTimeoutMs 300000 */
    0x00, 0x00,                                    /* MemberId "" (first join) */
    0xff, 0xff,                                    /* GroupInstanceId null */
    0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', /* ProtocolType */
    0x00, 0x00, 0x00, 0x01,                        /* Protocols: 1 */
    0x00, 0x05, 'r', 'a', 'n', 'g', 'e',           /* Name */
    0x00, 0x00, 0x00, 0x06,                        /* Metadata: 6 bytes */
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00,            /* version 1, no topics */
};

START_TEST(test_known_join_group_v5) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_join_group_req q;
    ck_known_bytes(&codecs[JOIN_GROUP_REQ], 5, join_group_v5, sizeof(join_group_v5), &a, &q);
    ck_assert(kstr_eq(q.group_id, S("grp")));
    ck_assert_int_eq(q.session_timeout_ms, 10000);
    ck_assert_int_eq(q.rebalance_timeout_ms, 300000);
    ck_assert_int_eq(q.member_id.len, 0);
    ck_assert_int_eq(q.group_instance_id.len, -1);
    ck_assert(kstr_eq(q.protocol_type, S("consumer")));
    ck_assert_int_eq(q.protocol_count, 1);
    ck_assert(kstr_eq(q.protocols[0].name, S("range")));
    static const uint8_t meta[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    ck_assert(kstr_eq(q.protocols[0].metadata, BLOB(meta)));
    karena_free(&a);
}
END_TEST

/* FindCoordinator v4 request (flexible, batched): KeyType, CoordinatorKeys as a compact
 * array of compact strings, then an empty tag section. */
static const uint8_t find_coordinator_v4[] = {
    0x00,                          /* KeyType 0 (group) */
    0x03,                          /* CoordinatorKeys: 2 */
    0x03, 'g', '1',                /* "g1" */
    0x01,                          /* "" */
    0x00,                          /* tags */
};

START_TEST(test_known_find_coordinator_v4) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_find_coordinator_req q;
    ck_known_bytes(&codecs[FIND_COORDINATOR_REQ], 4, find_coordinator_v4, sizeof(find_coordinator_v4), &a, &q);
    ck_assert_int_eq(q.key_type, 0);
    ck_assert_int_eq(q.coordinator_key_count, 2);
    ck_assert(kstr_eq(q.coordinator_keys[0], S("g1")));
    ck_assert(kstr_eq(q.coordinator_keys[1], S("")));
    ck_assert(kstr_eq(q.key, S("")));
    karena_free(&a);
}
END_TEST

/* LeaveGroup v5 as a KIP-800 client sends it: each member with its Reason (compact nullable). */
static const uint8_t leave_group_v5[] = {
    0x02, 'g',                          /* GroupId "g" (compact) */
    0x03,                               /* Members: 2 */
    0x03, 'm', '1', 0x00,               /* MemberId "m1", GroupInstanceId null, */
    0x05, 'b', 'y', 'e', '!', 0x00,     /*   Reason "bye!", tags */
    0x03, 'm', '2', 0x03, 'i', '2',     /* MemberId "m2", GroupInstanceId "i2", */
    0x00, 0x00,                         /*   Reason null, tags */
    0x00,                               /* tags */
};

START_TEST(test_known_leave_group_v5) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_leave_group_req q;
    ck_known_bytes(&codecs[LEAVE_GROUP_REQ], 5, leave_group_v5, sizeof(leave_group_v5), &a, &q);
    ck_assert(kstr_eq(q.group_id, S("g")));
    ck_assert_int_eq(q.member_count, 2);
    ck_assert(kstr_eq(q.members[0].member_id, S("m1")));
    ck_assert_int_eq(q.members[0].group_instance_id.len, -1);
    ck_assert(kstr_eq(q.members[0].reason, S("bye!")));
    ck_assert(kstr_eq(q.members[1].member_id, S("m2")));
    ck_assert(kstr_eq(q.members[1].group_instance_id, S("i2")));
    ck_assert_int_eq(q.members[1].reason.len, -1);
    karena_free(&a);
}
END_TEST

/* Unknown tagged fields are skipped, and a null where the spec allows none is malformed. */
START_TEST(test_tags_and_nulls) {
    struct karena a;
    karena_init(&a, 0);
    struct kafka_heartbeat_req q;
    static const uint8_t hb_v4_tagged[] = {
        0x02, 'g',                   /* GroupId */
        0x00, 0x00, 0x00, 0x05,      /* GenerationId */
        0x02, 'm',                   /* MemberId */
        0x00,                        /* GroupInstanceId null */
        0x02, 0x05, 0x01, 0xaa, 0x07, 0x00, /* tags: 2, tag 5 (1 byte), tag 7 (empty) */
    };
    struct kr r = kr_make(hb_v4_tagged, sizeof(hb_v4_tagged));
    ck_assert_int_eq(kafka_decode_heartbeat(&r, 4, &a, &q), SL_OK);
    ck_assert_uint_eq(kr_left(&r), 0);
    ck_assert_int_eq(q.generation_id, 5);
    ck_assert_int_eq(q.group_instance_id.len, -1);
    static const uint8_t hb_v4_null_group[] = {0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 'm', 0x00, 0x00};
    r = kr_make(hb_v4_null_group, sizeof(hb_v4_null_group));
    ck_assert_int_eq(kafka_decode_heartbeat(&r, 4, &a, &q), SL_CORRUPT);
    /* A tag claiming more bytes than are left. */
    static const uint8_t hb_v4_long_tag[] = {0x02, 'g', 0, 0, 0, 5, 0x02, 'm', 0x00, 0x01, 0x00, 0x7f};
    r = kr_make(hb_v4_long_tag, sizeof(hb_v4_long_tag));
    ck_assert_int_eq(kafka_decode_heartbeat(&r, 4, &a, &q), SL_UNDERFLOW);
    /* JoinGroup v6: a null Metadata blob is malformed (BYTES is not nullable). */
    static const uint8_t jg_v6_null_meta[] = {0x02, 'g', 0, 0, 0x17, 0x70, 0, 0, 0x17, 0x70, 0x01, 0x00,
                                              0x02, 'c', 0x02, 0x02, 'r', 0x00, 0x00, 0x00};
    struct kafka_join_group_req j;
    r = kr_make(jg_v6_null_meta, sizeof(jg_v6_null_meta));
    ck_assert_int_eq(kafka_decode_join_group(&r, 6, &a, &j), SL_CORRUPT);
    /* OffsetFetch Topics: null (= all topics) from v2 only. */
    static const uint8_t of_null_topics[] = {0x00, 0x01, 'g', 0xff, 0xff, 0xff, 0xff};
    struct kafka_offset_fetch_req o;
    r = kr_make(of_null_topics, sizeof(of_null_topics));
    ck_assert_int_eq(kafka_decode_offset_fetch(&r, 1, &a, &o), SL_CORRUPT);
    r = kr_make(of_null_topics, sizeof(of_null_topics));
    ck_assert_int_eq(kafka_decode_offset_fetch(&r, 2, &a, &o), SL_OK);
    ck_assert_int_eq(o.topic_count, -1);
    ck_assert_ptr_null(o.topics);
    karena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_group");
    TCase *tc = tcase_create("group");
    tcase_set_timeout(tc, 300);
    int n = (int)(sizeof(codecs) / sizeof(codecs[0]));
    add_codec_tests(tc, codecs, n);
    tcase_add_test(tc, test_known_join_group_v5);
    tcase_add_test(tc, test_known_find_coordinator_v4);
    tcase_add_test(tc, test_known_leave_group_v5);
    tcase_add_test(tc, test_tags_and_nulls);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
