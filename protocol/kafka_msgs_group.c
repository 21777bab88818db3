/* kafka_msgs_group.c: the consumer-group API bodies (see kafka_msgs_group.h). Every codec
 * reads or writes the fields in spec order; each version guard names the spec field it
 * guards. A hostile count cannot make us allocate much: kr_array bounds it by max and by the
 * bytes left, and dec_count also by the least bytes one element takes on the wire. */
#include "protocol/kafka_msgs_group.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

/* First flexible version of each API (KIP-482), from the specs' "flexibleVersions";
 * OffsetDelete has none. */
enum {
    FIND_COORDINATOR_FLEX = 3,
    JOIN_GROUP_FLEX = 6,
    HEARTBEAT_FLEX = 4,
    LEAVE_GROUP_FLEX = 4,
    SYNC_GROUP_FLEX = 4,
    OFFSET_COMMIT_FLEX = 8,
    OFFSET_FETCH_FLEX = 6,
    DESCRIBE_GROUPS_FLEX = 5,
    LIST_GROUPS_FLEX = 3,
    DELETE_GROUPS_FLEX = 2,
};

/* Highest version of each API these codecs implement. */
enum {
    FIND_COORDINATOR_MAX = 5,
    JOIN_GROUP_MAX = 9,
    HEARTBEAT_MAX = 4,
    LEAVE_GROUP_MAX = 5,
    SYNC_GROUP_MAX = 5,
    OFFSET_COMMIT_MAX = 9,
    OFFSET_FETCH_MAX = 9,
    DESCRIBE_GROUPS_MAX = 5,
    LIST_GROUPS_MAX = 5,
    DELETE_GROUPS_MAX = 2,
    OFFSET_DELETE_MAX = 0,
};

/* ---- FindCoordinator ---- */

sl_err kafka_decode_find_coordinator(struct kr *r, int16_t v, struct karena *a,
                                     struct kafka_find_coordinator_req *out) {
    DEC_VERSION(v, FIND_COORDINATOR_MAX);
    bool flex = v >= FIND_COORDINATOR_FLEX;
    memset(out, 0, sizeof(*out));
    out->key = v <= 3 ? dec_str(r, flex) : kstr_empty; /* Key: v0-3 */
    out->key_type = v >= 1 ? kr_i8(r) : 0;             /* KeyType: v1+ */
    if (v >= 4) out->coordinator_keys = dec_strs(r, flex, a, false, &out->coordinator_key_count); /* CoordinatorKeys: v4+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_find_coordinator_req(struct kw *w, int16_t v, const struct kafka_find_coordinator_req *req) {
    ENC_VERSION(v, FIND_COORDINATOR_MAX);
    bool flex = v >= FIND_COORDINATOR_FLEX;
    if (v <= 3) enc_str(w, flex, req->key); /* Key: v0-3 */
    if (v >= 1) kw_i8(w, req->key_type);    /* KeyType: v1+ */
    if (v >= 4) enc_strs(w, flex, req->coordinator_keys, req->coordinator_key_count, false); /* CoordinatorKeys: v4+ */
    kw_tags(w, flex);
}

void kafka_encode_find_coordinator_resp(struct kw *w, int16_t v, const struct kafka_find_coordinator_resp *resp) {
    ENC_VERSION(v, FIND_COORDINATOR_MAX);
    bool flex = v >= FIND_COORDINATOR_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v1+ */
    if (v <= 3) {
        kw_error(w, resp->error_code);                         /* ErrorCode: v0-3 */
        if (v >= 1) enc_nstr(w, flex, resp->error_message); /* ErrorMessage: v1-3 */
        kw_i32(w, resp->node_id);                            /* NodeId: v0-3 */
        enc_str(w, flex, resp->host);                        /* Host: v0-3 */
        kw_i32(w, resp->port);                               /* Port: v0-3 */
    }
    if (v >= 4) { /* Coordinators: v4+ */
        enc_count(w, flex, resp->coordinator_count, false);
        for (int32_t i = 0; i < resp->coordinator_count; i++) {
            const struct kafka_find_coordinator_coordinator *c = &resp->coordinators[i];
            enc_str(w, flex, c->key);
            kw_i32(w, c->node_id);
            enc_str(w, flex, c->host);
            kw_i32(w, c->port);
            kw_error(w, c->error_code);
            enc_nstr(w, flex, c->error_message);
            kw_tags(w, flex);
        }
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_find_coordinator_resp(struct kr *r, int16_t v, struct karena *a,
                                          struct kafka_find_coordinator_resp *out) {
    DEC_VERSION(v, FIND_COORDINATOR_MAX);
    bool flex = v >= FIND_COORDINATOR_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0; /* ThrottleTimeMs: v1+ */
    out->error_code = v <= 3 ? kr_i16(r) : 0;       /* ErrorCode: v0-3 */
    out->error_message = v >= 1 && v <= 3 ? kr_str(r, flex) : kstr_empty; /* ErrorMessage: v1-3 */
    out->node_id = v <= 3 ? kr_i32(r) : 0;             /* NodeId: v0-3 */
    out->host = v <= 3 ? dec_str(r, flex) : kstr_empty; /* Host: v0-3 */
    out->port = v <= 3 ? kr_i32(r) : 0;                /* Port: v0-3 */
    if (v >= 4) { /* Coordinators: v4+ */
        out->coordinator_count = dec_count(r, flex, false, 14);
        out->coordinators = DEC_ARRAY(a, out->coordinator_count, struct kafka_find_coordinator_coordinator);
        for (int32_t i = 0; i < out->coordinator_count && !r->err; i++) {
            struct kafka_find_coordinator_coordinator *c = &out->coordinators[i];
            c->key = dec_str(r, flex);          /* Key */
            c->node_id = kr_i32(r);             /* NodeId */
            c->host = dec_str(r, flex);         /* Host */
            c->port = kr_i32(r);                /* Port */
            c->error_code = kr_i16(r);          /* ErrorCode */
            c->error_message = kr_str(r, flex); /* ErrorMessage */
            kr_tags(r, flex);
        }
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- JoinGroup ---- */

sl_err kafka_decode_join_group(struct kr *r, int16_t v, struct karena *a, struct kafka_join_group_req *out) {
    DEC_VERSION(v, JOIN_GROUP_MAX);
    bool flex = v >= JOIN_GROUP_FLEX;
    memset(out, 0, sizeof(*out));
    out->group_id = dec_str(r, flex);                        /* GroupId */
    out->session_timeout_ms = kr_i32(r);                     /* SessionTimeoutMs */
    out->rebalance_timeout_ms = v >= 1 ? kr_i32(r) : -1;     /* RebalanceTimeoutMs: v1+ */
    out->member_id = dec_str(r, flex);                       /* MemberId */
    out->group_instance_id = v >= 5 ? kr_str(r, flex) : kstr_null; /* GroupInstanceId: v5+ */
    out->protocol_type = dec_str(r, flex);                   /* ProtocolType */
    out->protocol_count = dec_count(r, flex, false, 3);      /* Protocols: Name, Metadata */
    out->protocols = DEC_ARRAY(a, out->protocol_count, struct kafka_join_group_protocol);
    for (int32_t i = 0; i < out->protocol_count && !r->err; i++) {
        out->protocols[i].name = dec_str(r, flex);
        out->protocols[i].metadata = dec_bytes(r, flex);
        kr_tags(r, flex);
    }
    out->reason = v >= 8 ? kr_str(r, flex) : kstr_null; /* Reason: v8+, nullable */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_join_group_req(struct kw *w, int16_t v, const struct kafka_join_group_req *req) {
    ENC_VERSION(v, JOIN_GROUP_MAX);
    bool flex = v >= JOIN_GROUP_FLEX;
    enc_str(w, flex, req->group_id);                        /* GroupId */
    kw_i32(w, req->session_timeout_ms);                     /* SessionTimeoutMs */
    if (v >= 1) kw_i32(w, req->rebalance_timeout_ms);       /* RebalanceTimeoutMs: v1+ */
    enc_str(w, flex, req->member_id);                       /* MemberId */
    if (v >= 5) enc_nstr(w, flex, req->group_instance_id); /* GroupInstanceId: v5+ */
    enc_str(w, flex, req->protocol_type);                   /* ProtocolType */
    enc_count(w, flex, req->protocol_count, false);         /* Protocols */
    for (int32_t i = 0; i < req->protocol_count; i++) {
        enc_str(w, flex, req->protocols[i].name);
        enc_bytes(w, flex, req->protocols[i].metadata);
        kw_tags(w, flex);
    }
    if (v >= 8) enc_nstr(w, flex, req->reason); /* Reason: v8+ */
    kw_tags(w, flex);
}

void kafka_encode_join_group_resp(struct kw *w, int16_t v, const struct kafka_join_group_resp *resp) {
    ENC_VERSION(v, JOIN_GROUP_MAX);
    bool flex = v >= JOIN_GROUP_FLEX;
    if (v >= 2) kw_i32(w, resp->throttle_time_ms);      /* ThrottleTimeMs: v2+ */
    kw_error(w, resp->error_code);                        /* ErrorCode */
    kw_i32(w, resp->generation_id);                     /* GenerationId */
    if (v >= 7) enc_nstr(w, flex, resp->protocol_type); /* ProtocolType: v7+ */
    if (v >= 7) enc_nstr(w, flex, resp->protocol_name); /* ProtocolName: nullable v7+ */
    else enc_str(w, flex, resp->protocol_name);
    enc_str(w, flex, resp->leader);                     /* Leader */
    if (v >= 9) kw_bool(w, resp->skip_assignment);      /* SkipAssignment: v9+ */
    enc_str(w, flex, resp->member_id);                  /* MemberId */
    enc_count(w, flex, resp->member_count, false);      /* Members */
    for (int32_t i = 0; i < resp->member_count; i++) {
        const struct kafka_join_group_member *m = &resp->members[i];
        enc_str(w, flex, m->member_id);
        if (v >= 5) enc_nstr(w, flex, m->group_instance_id); /* GroupInstanceId: v5+ */
        enc_bytes(w, flex, m->metadata);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_join_group_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_join_group_resp *out) {
    DEC_VERSION(v, JOIN_GROUP_MAX);
    bool flex = v >= JOIN_GROUP_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 2 ? kr_i32(r) : 0;                   /* ThrottleTimeMs: v2+ */
    out->error_code = kr_i16(r);                                      /* ErrorCode */
    out->generation_id = kr_i32(r);                                   /* GenerationId */
    out->protocol_type = v >= 7 ? kr_str(r, flex) : kstr_null;        /* ProtocolType: v7+ */
    out->protocol_name = v >= 7 ? kr_str(r, flex) : dec_str(r, flex); /* ProtocolName: nullable v7+ */
    out->leader = dec_str(r, flex);                                   /* Leader */
    out->skip_assignment = v >= 9 ? kr_bool(r) : false;               /* SkipAssignment: v9+ */
    out->member_id = dec_str(r, flex);                                /* MemberId */
    out->member_count = dec_count(r, flex, false, 3);                 /* Members */
    out->members = DEC_ARRAY(a, out->member_count, struct kafka_join_group_member);
    for (int32_t i = 0; i < out->member_count && !r->err; i++) {
        struct kafka_join_group_member *m = &out->members[i];
        m->member_id = dec_str(r, flex);                                   /* MemberId */
        m->group_instance_id = v >= 5 ? kr_str(r, flex) : kstr_null;      /* GroupInstanceId: v5+ */
        m->metadata = dec_bytes(r, flex);                                  /* Metadata */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- Heartbeat ---- */

sl_err kafka_decode_heartbeat(struct kr *r, int16_t v, struct karena *a, struct kafka_heartbeat_req *out) {
    DEC_VERSION(v, HEARTBEAT_MAX);
    bool flex = v >= HEARTBEAT_FLEX;
    (void)a;
    memset(out, 0, sizeof(*out));
    out->group_id = dec_str(r, flex);                              /* GroupId */
    out->generation_id = kr_i32(r);                                /* GenerationId */
    out->member_id = dec_str(r, flex);                             /* MemberId */
    out->group_instance_id = v >= 3 ? kr_str(r, flex) : kstr_null; /* GroupInstanceId: v3+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_heartbeat_req(struct kw *w, int16_t v, const struct kafka_heartbeat_req *req) {
    ENC_VERSION(v, HEARTBEAT_MAX);
    bool flex = v >= HEARTBEAT_FLEX;
    enc_str(w, flex, req->group_id);                        /* GroupId */
    kw_i32(w, req->generation_id);                          /* GenerationId */
    enc_str(w, flex, req->member_id);                       /* MemberId */
    if (v >= 3) enc_nstr(w, flex, req->group_instance_id); /* GroupInstanceId: v3+ */
    kw_tags(w, flex);
}

void kafka_encode_heartbeat_resp(struct kw *w, int16_t v, const struct kafka_heartbeat_resp *resp) {
    ENC_VERSION(v, HEARTBEAT_MAX);
    bool flex = v >= HEARTBEAT_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v1+ */
    kw_error(w, resp->error_code);                   /* ErrorCode */
    kw_tags(w, flex);
}

sl_err kafka_decode_heartbeat_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_heartbeat_resp *out) {
    DEC_VERSION(v, HEARTBEAT_MAX);
    bool flex = v >= HEARTBEAT_FLEX;
    (void)a;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0; /* ThrottleTimeMs: v1+ */
    out->error_code = kr_i16(r);                    /* ErrorCode */
    kr_tags(r, flex);
    return r->err;
}

/* ---- LeaveGroup ---- */

sl_err kafka_decode_leave_group(struct kr *r, int16_t v, struct karena *a, struct kafka_leave_group_req *out) {
    DEC_VERSION(v, LEAVE_GROUP_MAX);
    bool flex = v >= LEAVE_GROUP_FLEX;
    memset(out, 0, sizeof(*out));
    out->group_id = dec_str(r, flex);                         /* GroupId */
    out->member_id = v <= 2 ? dec_str(r, flex) : kstr_empty; /* MemberId: v0-2 */
    if (v >= 3) { /* Members: v3+ (MemberId, GroupInstanceId, Reason from v5) */
        out->member_count = dec_count(r, flex, false, 2);
        out->members = DEC_ARRAY(a, out->member_count, struct kafka_leave_group_member);
        for (int32_t i = 0; i < out->member_count && !r->err; i++) {
            out->members[i].member_id = dec_str(r, flex);
            out->members[i].group_instance_id = kr_str(r, flex);
            out->members[i].reason = v >= 5 ? kr_str(r, flex) : kstr_null; /* Reason: v5+ */
            kr_tags(r, flex);
        }
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_leave_group_req(struct kw *w, int16_t v, const struct kafka_leave_group_req *req) {
    ENC_VERSION(v, LEAVE_GROUP_MAX);
    bool flex = v >= LEAVE_GROUP_FLEX;
    enc_str(w, flex, req->group_id);                /* GroupId */
    if (v <= 2) enc_str(w, flex, req->member_id); /* MemberId: v0-2 */
    if (v >= 3) {                                   /* Members: v3+ */
        enc_count(w, flex, req->member_count, false);
        for (int32_t i = 0; i < req->member_count; i++) {
            enc_str(w, flex, req->members[i].member_id);
            enc_nstr(w, flex, req->members[i].group_instance_id);
            if (v >= 5) enc_nstr(w, flex, req->members[i].reason); /* Reason: v5+ */
            kw_tags(w, flex);
        }
    }
    kw_tags(w, flex);
}

void kafka_encode_leave_group_resp(struct kw *w, int16_t v, const struct kafka_leave_group_resp *resp) {
    ENC_VERSION(v, LEAVE_GROUP_MAX);
    bool flex = v >= LEAVE_GROUP_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v1+ */
    kw_error(w, resp->error_code);                   /* ErrorCode */
    if (v >= 3) {                                  /* Members: v3+ */
        enc_count(w, flex, resp->member_count, false);
        for (int32_t i = 0; i < resp->member_count; i++) {
            enc_str(w, flex, resp->members[i].member_id);
            enc_nstr(w, flex, resp->members[i].group_instance_id);
            kw_error(w, resp->members[i].error_code);
            kw_tags(w, flex);
        }
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_leave_group_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_leave_group_resp *out) {
    DEC_VERSION(v, LEAVE_GROUP_MAX);
    bool flex = v >= LEAVE_GROUP_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0; /* ThrottleTimeMs: v1+ */
    out->error_code = kr_i16(r);                    /* ErrorCode */
    if (v >= 3) { /* Members: v3+ (MemberId, GroupInstanceId, ErrorCode) */
        out->member_count = dec_count(r, flex, false, 4);
        out->members = DEC_ARRAY(a, out->member_count, struct kafka_leave_group_member_resp);
        for (int32_t i = 0; i < out->member_count && !r->err; i++) {
            out->members[i].member_id = dec_str(r, flex);
            out->members[i].group_instance_id = kr_str(r, flex);
            out->members[i].error_code = kr_i16(r);
            kr_tags(r, flex);
        }
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- SyncGroup ---- */

sl_err kafka_decode_sync_group(struct kr *r, int16_t v, struct karena *a, struct kafka_sync_group_req *out) {
    DEC_VERSION(v, SYNC_GROUP_MAX);
    bool flex = v >= SYNC_GROUP_FLEX;
    memset(out, 0, sizeof(*out));
    out->group_id = dec_str(r, flex);                              /* GroupId */
    out->generation_id = kr_i32(r);                                /* GenerationId */
    out->member_id = dec_str(r, flex);                             /* MemberId */
    out->group_instance_id = v >= 3 ? kr_str(r, flex) : kstr_null; /* GroupInstanceId: v3+ */
    out->protocol_type = v >= 5 ? kr_str(r, flex) : kstr_null;     /* ProtocolType: v5+ */
    out->protocol_name = v >= 5 ? kr_str(r, flex) : kstr_null;     /* ProtocolName: v5+ */
    out->assignment_count = dec_count(r, flex, false, 2);          /* Assignments: MemberId, Assignment */
    out->assignments = DEC_ARRAY(a, out->assignment_count, struct kafka_sync_group_assignment);
    for (int32_t i = 0; i < out->assignment_count && !r->err; i++) {
        out->assignments[i].member_id = dec_str(r, flex);
        out->assignments[i].assignment = dec_bytes(r, flex);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_sync_group_req(struct kw *w, int16_t v, const struct kafka_sync_group_req *req) {
    ENC_VERSION(v, SYNC_GROUP_MAX);
    bool flex = v >= SYNC_GROUP_FLEX;
    enc_str(w, flex, req->group_id);                        /* GroupId */
    kw_i32(w, req->generation_id);                          /* GenerationId */
    enc_str(w, flex, req->member_id);                       /* MemberId */
    if (v >= 3) enc_nstr(w, flex, req->group_instance_id); /* GroupInstanceId: v3+ */
    if (v >= 5) enc_nstr(w, flex, req->protocol_type);     /* ProtocolType: v5+ */
    if (v >= 5) enc_nstr(w, flex, req->protocol_name);     /* ProtocolName: v5+ */
    enc_count(w, flex, req->assignment_count, false);       /* Assignments */
    for (int32_t i = 0; i < req->assignment_count; i++) {
        enc_str(w, flex, req->assignments[i].member_id);
        enc_bytes(w, flex, req->assignments[i].assignment);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_sync_group_resp(struct kw *w, int16_t v, const struct kafka_sync_group_resp *resp) {
    ENC_VERSION(v, SYNC_GROUP_MAX);
    bool flex = v >= SYNC_GROUP_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms);      /* ThrottleTimeMs: v1+ */
    kw_error(w, resp->error_code);                        /* ErrorCode */
    if (v >= 5) enc_nstr(w, flex, resp->protocol_type); /* ProtocolType: v5+ */
    if (v >= 5) enc_nstr(w, flex, resp->protocol_name); /* ProtocolName: v5+ */
    enc_bytes(w, flex, resp->assignment);               /* Assignment */
    kw_tags(w, flex);
}

sl_err kafka_decode_sync_group_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_sync_group_resp *out) {
    DEC_VERSION(v, SYNC_GROUP_MAX);
    bool flex = v >= SYNC_GROUP_FLEX;
    (void)a;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0;            /* ThrottleTimeMs: v1+ */
    out->error_code = kr_i16(r);                               /* ErrorCode */
    out->protocol_type = v >= 5 ? kr_str(r, flex) : kstr_null; /* ProtocolType: v5+ */
    out->protocol_name = v >= 5 ? kr_str(r, flex) : kstr_null; /* ProtocolName: v5+ */
    out->assignment = dec_bytes(r, flex);                      /* Assignment */
    kr_tags(r, flex);
    return r->err;
}

/* ---- OffsetCommit ---- */

static void dec_offset_commit_topic(struct kr *r, int16_t v, bool flex, struct karena *a,
                                    struct kafka_offset_commit_topic *t) {
    t->name = dec_str(r, flex); /* Name */
    t->partition_count = dec_count(r, flex, false, 13); /* Partitions */
    t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_offset_commit_partition);
    for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
        struct kafka_offset_commit_partition *p = &t->partitions[j];
        p->partition_index = kr_i32(r);                         /* PartitionIndex */
        p->committed_offset = kr_i64(r);                        /* CommittedOffset */
        p->committed_leader_epoch = v >= 6 ? kr_i32(r) : -1;    /* CommittedLeaderEpoch: v6+ */
        p->commit_timestamp = v == 1 ? kr_i64(r) : -1;          /* CommitTimestamp: v1 */
        p->committed_metadata = kr_str(r, flex);                /* CommittedMetadata */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
}

sl_err kafka_decode_offset_commit(struct kr *r, int16_t v, struct karena *a, struct kafka_offset_commit_req *out) {
    DEC_VERSION(v, OFFSET_COMMIT_MAX);
    bool flex = v >= OFFSET_COMMIT_FLEX;
    memset(out, 0, sizeof(*out));
    out->group_id = dec_str(r, flex);                                  /* GroupId */
    out->generation_id_or_member_epoch = v >= 1 ? kr_i32(r) : -1;     /* GenerationIdOrMemberEpoch: v1+ */
    out->member_id = v >= 1 ? dec_str(r, flex) : kstr_empty;          /* MemberId: v1+ */
    out->group_instance_id = v >= 7 ? kr_str(r, flex) : kstr_null;    /* GroupInstanceId: v7+ */
    out->retention_time_ms = v >= 2 && v <= 4 ? kr_i64(r) : -1;       /* RetentionTimeMs: v2-4 */
    out->topic_count = dec_count(r, flex, false, 2);                   /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_offset_commit_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) dec_offset_commit_topic(r, v, flex, a, &out->topics[i]);
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_offset_commit_req(struct kw *w, int16_t v, const struct kafka_offset_commit_req *req) {
    ENC_VERSION(v, OFFSET_COMMIT_MAX);
    bool flex = v >= OFFSET_COMMIT_FLEX;
    enc_str(w, flex, req->group_id);                                 /* GroupId */
    if (v >= 1) kw_i32(w, req->generation_id_or_member_epoch);       /* GenerationIdOrMemberEpoch: v1+ */
    if (v >= 1) enc_str(w, flex, req->member_id);                    /* MemberId: v1+ */
    if (v >= 7) enc_nstr(w, flex, req->group_instance_id);           /* GroupInstanceId: v7+ */
    if (v >= 2 && v <= 4) kw_i64(w, req->retention_time_ms);         /* RetentionTimeMs: v2-4 */
    enc_count(w, flex, req->topic_count, false);                     /* Topics */
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_offset_commit_topic *t = &req->topics[i];
        enc_str(w, flex, t->name);
        enc_count(w, flex, t->partition_count, false);
        for (int32_t j = 0; j < t->partition_count; j++) {
            const struct kafka_offset_commit_partition *p = &t->partitions[j];
            kw_i32(w, p->partition_index);
            kw_i64(w, p->committed_offset);
            if (v >= 6) kw_i32(w, p->committed_leader_epoch); /* CommittedLeaderEpoch: v6+ */
            if (v == 1) kw_i64(w, p->commit_timestamp);       /* CommitTimestamp: v1 */
            enc_nstr(w, flex, p->committed_metadata);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_offset_commit_resp(struct kw *w, int16_t v, const struct kafka_offset_commit_resp *resp) {
    ENC_VERSION(v, OFFSET_COMMIT_MAX);
    bool flex = v >= OFFSET_COMMIT_FLEX;
    if (v >= 3) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v3+ */
    enc_count(w, flex, resp->topic_count, false);  /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_offset_commit_topic_resp *t = &resp->topics[i];
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

sl_err kafka_decode_offset_commit_resp(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_offset_commit_resp *out) {
    DEC_VERSION(v, OFFSET_COMMIT_MAX);
    bool flex = v >= OFFSET_COMMIT_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 3 ? kr_i32(r) : 0;  /* ThrottleTimeMs: v3+ */
    out->topic_count = dec_count(r, flex, false, 2); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_offset_commit_topic_resp);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_offset_commit_topic_resp *t = &out->topics[i];
        t->name = dec_str(r, flex); /* Name */
        t->partition_count = dec_count(r, flex, false, 6); /* Partitions: PartitionIndex, ErrorCode */
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_offset_commit_partition_resp);
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

/* ---- OffsetFetch ---- */

/* OffsetFetchRequestTopic(s): Name, PartitionIndexes; the same in both forms. */
static struct kafka_offset_fetch_topic *dec_offset_fetch_topics(struct kr *r, bool flex, struct karena *a,
                                                                bool nullable, int32_t *count) {
    int32_t n = dec_count(r, flex, nullable, 2);
    struct kafka_offset_fetch_topic *t = DEC_ARRAY(a, n, struct kafka_offset_fetch_topic);
    for (int32_t i = 0; i < n && !r->err; i++) {
        t[i].name = dec_str(r, flex);
        t[i].partition_indexes = dec_i32s(r, flex, a, false, &t[i].partition_index_count);
        kr_tags(r, flex);
    }
    *count = n;
    return t;
}

static void enc_offset_fetch_topics(struct kw *w, bool flex, const struct kafka_offset_fetch_topic *t, int32_t n,
                                    bool nullable) {
    enc_count(w, flex, n, nullable);
    for (int32_t i = 0; i < n; i++) {
        enc_str(w, flex, t[i].name);
        enc_i32s(w, flex, t[i].partition_indexes, t[i].partition_index_count, false);
        kw_tags(w, flex);
    }
}

sl_err kafka_decode_offset_fetch(struct kr *r, int16_t v, struct karena *a, struct kafka_offset_fetch_req *out) {
    DEC_VERSION(v, OFFSET_FETCH_MAX);
    bool flex = v >= OFFSET_FETCH_FLEX;
    memset(out, 0, sizeof(*out));
    out->group_id = v <= 7 ? dec_str(r, flex) : kstr_empty; /* GroupId: v0-7 */
    if (v <= 7) /* Topics: v0-7, nullable v2-7 */
        out->topics = dec_offset_fetch_topics(r, flex, a, v >= 2, &out->topic_count);
    if (v >= 8) { /* Groups: v8+ (GroupId, Topics nullable) */
        out->group_count = dec_count(r, flex, false, 3);
        out->groups = DEC_ARRAY(a, out->group_count, struct kafka_offset_fetch_group);
        for (int32_t i = 0; i < out->group_count && !r->err; i++) {
            out->groups[i].group_id = dec_str(r, flex);
            out->groups[i].member_id = v >= 9 ? kr_str(r, flex) : kstr_null; /* MemberId: v9+, nullable */
            out->groups[i].member_epoch = v >= 9 ? kr_i32(r) : -1;           /* MemberEpoch: v9+ */
            out->groups[i].topics = dec_offset_fetch_topics(r, flex, a, true, &out->groups[i].topic_count);
            kr_tags(r, flex);
        }
    }
    out->require_stable = v >= 7 ? kr_bool(r) : false; /* RequireStable: v7+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_offset_fetch_req(struct kw *w, int16_t v, const struct kafka_offset_fetch_req *req) {
    ENC_VERSION(v, OFFSET_FETCH_MAX);
    bool flex = v >= OFFSET_FETCH_FLEX;
    if (v <= 7) enc_str(w, flex, req->group_id);                                        /* GroupId: v0-7 */
    if (v <= 7) enc_offset_fetch_topics(w, flex, req->topics, req->topic_count, v >= 2); /* Topics: v0-7 */
    if (v >= 8) { /* Groups: v8+ */
        enc_count(w, flex, req->group_count, false);
        for (int32_t i = 0; i < req->group_count; i++) {
            enc_str(w, flex, req->groups[i].group_id);
            if (v >= 9) enc_nstr(w, flex, req->groups[i].member_id); /* MemberId: v9+ */
            if (v >= 9) kw_i32(w, req->groups[i].member_epoch);      /* MemberEpoch: v9+ */
            enc_offset_fetch_topics(w, flex, req->groups[i].topics, req->groups[i].topic_count, true);
            kw_tags(w, flex);
        }
    }
    if (v >= 7) kw_bool(w, req->require_stable); /* RequireStable: v7+ */
    kw_tags(w, flex);
}

/* OffsetFetchResponseTopic(s) and their partitions: the same fields in both forms, except
 * CommittedLeaderEpoch (v5+). */
static void enc_offset_fetch_resp_topics(struct kw *w, int16_t v, bool flex,
                                         const struct kafka_offset_fetch_topic_resp *t, int32_t n) {
    enc_count(w, flex, n, false);
    for (int32_t i = 0; i < n; i++) {
        enc_str(w, flex, t[i].name);
        enc_count(w, flex, t[i].partition_count, false);
        for (int32_t j = 0; j < t[i].partition_count; j++) {
            const struct kafka_offset_fetch_partition_resp *p = &t[i].partitions[j];
            kw_i32(w, p->partition_index);
            kw_i64(w, p->committed_offset);
            if (v >= 5) kw_i32(w, p->committed_leader_epoch); /* CommittedLeaderEpoch: v5+ */
            enc_nstr(w, flex, p->metadata);
            kw_error(w, p->error_code);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
}

static struct kafka_offset_fetch_topic_resp *dec_offset_fetch_resp_topics(struct kr *r, int16_t v, bool flex,
                                                                          struct karena *a, int32_t *count) {
    int32_t n = dec_count(r, flex, false, 2);
    struct kafka_offset_fetch_topic_resp *t = DEC_ARRAY(a, n, struct kafka_offset_fetch_topic_resp);
    for (int32_t i = 0; i < n && !r->err; i++) {
        t[i].name = dec_str(r, flex); /* Name */
        t[i].partition_count = dec_count(r, flex, false, 15); /* Partitions */
        t[i].partitions = DEC_ARRAY(a, t[i].partition_count, struct kafka_offset_fetch_partition_resp);
        for (int32_t j = 0; j < t[i].partition_count && !r->err; j++) {
            struct kafka_offset_fetch_partition_resp *p = &t[i].partitions[j];
            p->partition_index = kr_i32(r);                      /* PartitionIndex */
            p->committed_offset = kr_i64(r);                     /* CommittedOffset */
            p->committed_leader_epoch = v >= 5 ? kr_i32(r) : -1; /* CommittedLeaderEpoch: v5+ */
            p->metadata = kr_str(r, flex);                       /* Metadata */
            p->error_code = kr_i16(r);                           /* ErrorCode */
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    *count = n;
    return t;
}

void kafka_encode_offset_fetch_resp(struct kw *w, int16_t v, const struct kafka_offset_fetch_resp *resp) {
    ENC_VERSION(v, OFFSET_FETCH_MAX);
    bool flex = v >= OFFSET_FETCH_FLEX;
    if (v >= 3) kw_i32(w, resp->throttle_time_ms);                                      /* ThrottleTimeMs: v3+ */
    if (v <= 7) enc_offset_fetch_resp_topics(w, v, flex, resp->topics, resp->topic_count); /* Topics: v0-7 */
    if (v >= 2 && v <= 7) kw_error(w, resp->error_code);                                  /* ErrorCode: v2-7 */
    if (v >= 8) { /* Groups: v8+ */
        enc_count(w, flex, resp->group_count, false);
        for (int32_t i = 0; i < resp->group_count; i++) {
            const struct kafka_offset_fetch_group_resp *g = &resp->groups[i];
            enc_str(w, flex, g->group_id);
            enc_offset_fetch_resp_topics(w, v, flex, g->topics, g->topic_count);
            kw_error(w, g->error_code);
            kw_tags(w, flex);
        }
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_offset_fetch_resp(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_offset_fetch_resp *out) {
    DEC_VERSION(v, OFFSET_FETCH_MAX);
    bool flex = v >= OFFSET_FETCH_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 3 ? kr_i32(r) : 0; /* ThrottleTimeMs: v3+ */
    if (v <= 7) out->topics = dec_offset_fetch_resp_topics(r, v, flex, a, &out->topic_count); /* Topics: v0-7 */
    out->error_code = v >= 2 && v <= 7 ? kr_i16(r) : 0; /* ErrorCode: v2-7 */
    if (v >= 8) { /* Groups: v8+ (GroupId, Topics, ErrorCode) */
        out->group_count = dec_count(r, flex, false, 5);
        out->groups = DEC_ARRAY(a, out->group_count, struct kafka_offset_fetch_group_resp);
        for (int32_t i = 0; i < out->group_count && !r->err; i++) {
            struct kafka_offset_fetch_group_resp *g = &out->groups[i];
            g->group_id = dec_str(r, flex);
            g->topics = dec_offset_fetch_resp_topics(r, v, flex, a, &g->topic_count);
            g->error_code = kr_i16(r);
            kr_tags(r, flex);
        }
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- DescribeGroups ---- */

sl_err kafka_decode_describe_groups(struct kr *r, int16_t v, struct karena *a,
                                    struct kafka_describe_groups_req *out) {
    DEC_VERSION(v, DESCRIBE_GROUPS_MAX);
    bool flex = v >= DESCRIBE_GROUPS_FLEX;
    memset(out, 0, sizeof(*out));
    out->groups = dec_strs(r, flex, a, false, &out->group_count);           /* Groups */
    out->include_authorized_operations = v >= 3 ? kr_bool(r) : false; /* IncludeAuthorizedOperations: v3+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_describe_groups_req(struct kw *w, int16_t v, const struct kafka_describe_groups_req *req) {
    ENC_VERSION(v, DESCRIBE_GROUPS_MAX);
    bool flex = v >= DESCRIBE_GROUPS_FLEX;
    enc_strs(w, flex, req->groups, req->group_count, false);     /* Groups */
    if (v >= 3) kw_bool(w, req->include_authorized_operations); /* IncludeAuthorizedOperations: v3+ */
    kw_tags(w, flex);
}

void kafka_encode_describe_groups_resp(struct kw *w, int16_t v, const struct kafka_describe_groups_resp *resp) {
    ENC_VERSION(v, DESCRIBE_GROUPS_MAX);
    bool flex = v >= DESCRIBE_GROUPS_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v1+ */
    enc_count(w, flex, resp->group_count, false);  /* Groups */
    for (int32_t i = 0; i < resp->group_count; i++) {
        const struct kafka_describe_groups_group *g = &resp->groups[i];
        kw_error(w, g->error_code);
        enc_str(w, flex, g->group_id);
        enc_str(w, flex, g->group_state);
        enc_str(w, flex, g->protocol_type);
        enc_str(w, flex, g->protocol_data);
        enc_count(w, flex, g->member_count, false); /* Members */
        for (int32_t j = 0; j < g->member_count; j++) {
            const struct kafka_describe_groups_member *m = &g->members[j];
            enc_str(w, flex, m->member_id);
            if (v >= 4) enc_nstr(w, flex, m->group_instance_id); /* GroupInstanceId: v4+ */
            enc_str(w, flex, m->client_id);
            enc_str(w, flex, m->client_host);
            enc_bytes(w, flex, m->member_metadata);
            enc_bytes(w, flex, m->member_assignment);
            kw_tags(w, flex);
        }
        if (v >= 3) kw_i32(w, g->authorized_operations); /* AuthorizedOperations: v3+ */
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static void dec_describe_groups_group(struct kr *r, int16_t v, bool flex, struct karena *a,
                                      struct kafka_describe_groups_group *g) {
    g->error_code = kr_i16(r);             /* ErrorCode */
    g->group_id = dec_str(r, flex);        /* GroupId */
    g->group_state = dec_str(r, flex);     /* GroupState */
    g->protocol_type = dec_str(r, flex);   /* ProtocolType */
    g->protocol_data = dec_str(r, flex);   /* ProtocolData */
    g->member_count = dec_count(r, flex, false, 5); /* Members */
    g->members = DEC_ARRAY(a, g->member_count, struct kafka_describe_groups_member);
    for (int32_t j = 0; j < g->member_count && !r->err; j++) {
        struct kafka_describe_groups_member *m = &g->members[j];
        m->member_id = dec_str(r, flex);                              /* MemberId */
        m->group_instance_id = v >= 4 ? kr_str(r, flex) : kstr_null; /* GroupInstanceId: v4+ */
        m->client_id = dec_str(r, flex);                              /* ClientId */
        m->client_host = dec_str(r, flex);                            /* ClientHost */
        m->member_metadata = dec_bytes(r, flex);                      /* MemberMetadata */
        m->member_assignment = dec_bytes(r, flex);                    /* MemberAssignment */
        kr_tags(r, flex);
    }
    g->authorized_operations = v >= 3 ? kr_i32(r) : INT32_MIN; /* AuthorizedOperations: v3+ */
    kr_tags(r, flex);
}

sl_err kafka_decode_describe_groups_resp(struct kr *r, int16_t v, struct karena *a,
                                         struct kafka_describe_groups_resp *out) {
    DEC_VERSION(v, DESCRIBE_GROUPS_MAX);
    bool flex = v >= DESCRIBE_GROUPS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0;  /* ThrottleTimeMs: v1+ */
    out->group_count = dec_count(r, flex, false, 7); /* Groups */
    out->groups = DEC_ARRAY(a, out->group_count, struct kafka_describe_groups_group);
    for (int32_t i = 0; i < out->group_count && !r->err; i++) dec_describe_groups_group(r, v, flex, a, &out->groups[i]);
    kr_tags(r, flex);
    return r->err;
}

/* ---- ListGroups ---- */

sl_err kafka_decode_list_groups(struct kr *r, int16_t v, struct karena *a, struct kafka_list_groups_req *out) {
    DEC_VERSION(v, LIST_GROUPS_MAX);
    bool flex = v >= LIST_GROUPS_FLEX;
    memset(out, 0, sizeof(*out));
    if (v >= 4) out->states_filter = dec_strs(r, flex, a, false, &out->states_filter_count); /* StatesFilter: v4+ */
    if (v >= 5) out->types_filter = dec_strs(r, flex, a, false, &out->types_filter_count);   /* TypesFilter: v5+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_list_groups_req(struct kw *w, int16_t v, const struct kafka_list_groups_req *req) {
    ENC_VERSION(v, LIST_GROUPS_MAX);
    bool flex = v >= LIST_GROUPS_FLEX;
    if (v >= 4) enc_strs(w, flex, req->states_filter, req->states_filter_count, false); /* StatesFilter: v4+ */
    if (v >= 5) enc_strs(w, flex, req->types_filter, req->types_filter_count, false);   /* TypesFilter: v5+ */
    kw_tags(w, flex);
}

void kafka_encode_list_groups_resp(struct kw *w, int16_t v, const struct kafka_list_groups_resp *resp) {
    ENC_VERSION(v, LIST_GROUPS_MAX);
    bool flex = v >= LIST_GROUPS_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v1+ */
    kw_error(w, resp->error_code);                   /* ErrorCode */
    enc_count(w, flex, resp->group_count, false);  /* Groups */
    for (int32_t i = 0; i < resp->group_count; i++) {
        enc_str(w, flex, resp->groups[i].group_id);
        enc_str(w, flex, resp->groups[i].protocol_type);
        if (v >= 4) enc_str(w, flex, resp->groups[i].group_state); /* GroupState: v4+ */
        if (v >= 5) enc_str(w, flex, resp->groups[i].group_type);  /* GroupType: v5+ */
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_list_groups_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_list_groups_resp *out) {
    DEC_VERSION(v, LIST_GROUPS_MAX);
    bool flex = v >= LIST_GROUPS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0;  /* ThrottleTimeMs: v1+ */
    out->error_code = kr_i16(r);                     /* ErrorCode */
    out->group_count = dec_count(r, flex, false, 2); /* Groups */
    out->groups = DEC_ARRAY(a, out->group_count, struct kafka_list_groups_group);
    for (int32_t i = 0; i < out->group_count && !r->err; i++) {
        out->groups[i].group_id = dec_str(r, flex);                                  /* GroupId */
        out->groups[i].protocol_type = dec_str(r, flex);                             /* ProtocolType */
        out->groups[i].group_state = v >= 4 ? dec_str(r, flex) : kstr_empty;         /* GroupState: v4+ */
        out->groups[i].group_type = v >= 5 ? dec_str(r, flex) : kstr_empty;          /* GroupType: v5+ */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- DeleteGroups ---- */

sl_err kafka_decode_delete_groups(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_groups_req *out) {
    DEC_VERSION(v, DELETE_GROUPS_MAX);
    bool flex = v >= DELETE_GROUPS_FLEX;
    memset(out, 0, sizeof(*out));
    out->groups_names = dec_strs(r, flex, a, false, &out->groups_names_count); /* GroupsNames */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_delete_groups_req(struct kw *w, int16_t v, const struct kafka_delete_groups_req *req) {
    ENC_VERSION(v, DELETE_GROUPS_MAX);
    bool flex = v >= DELETE_GROUPS_FLEX;
    enc_strs(w, flex, req->groups_names, req->groups_names_count, false); /* GroupsNames */
    kw_tags(w, flex);
}

void kafka_encode_delete_groups_resp(struct kw *w, int16_t v, const struct kafka_delete_groups_resp *resp) {
    ENC_VERSION(v, DELETE_GROUPS_MAX);
    bool flex = v >= DELETE_GROUPS_FLEX;
    kw_i32(w, resp->throttle_time_ms);             /* ThrottleTimeMs */
    enc_count(w, flex, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        enc_str(w, flex, resp->results[i].group_id);
        kw_error(w, resp->results[i].error_code);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_delete_groups_resp(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_delete_groups_resp *out) {
    DEC_VERSION(v, DELETE_GROUPS_MAX);
    bool flex = v >= DELETE_GROUPS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);                /* ThrottleTimeMs */
    out->result_count = dec_count(r, flex, false, 3); /* Results: GroupId, ErrorCode */
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_delete_groups_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        out->results[i].group_id = dec_str(r, flex);
        out->results[i].error_code = kr_i16(r);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- OffsetDelete (v0 only, never flexible: no tag sections) ---- */

sl_err kafka_decode_offset_delete(struct kr *r, int16_t v, struct karena *a, struct kafka_offset_delete_req *out) {
    DEC_VERSION(v, OFFSET_DELETE_MAX);
    memset(out, 0, sizeof(*out));
    out->group_id = dec_str(r, false);                /* GroupId */
    out->topic_count = dec_count(r, false, false, 6); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_offset_delete_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_offset_delete_topic *t = &out->topics[i];
        t->name = dec_str(r, false); /* Name */
        t->partition_count = dec_count(r, false, false, 4); /* Partitions: PartitionIndex */
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_offset_delete_partition);
        for (int32_t j = 0; j < t->partition_count; j++) t->partitions[j].partition_index = kr_i32(r);
    }
    return r->err;
}

void kafka_encode_offset_delete_req(struct kw *w, int16_t v, const struct kafka_offset_delete_req *req) {
    ENC_VERSION(v, OFFSET_DELETE_MAX);
    enc_str(w, false, req->group_id);             /* GroupId */
    enc_count(w, false, req->topic_count, false); /* Topics */
    for (int32_t i = 0; i < req->topic_count; i++) {
        enc_str(w, false, req->topics[i].name);
        enc_count(w, false, req->topics[i].partition_count, false);
        for (int32_t j = 0; j < req->topics[i].partition_count; j++)
            kw_i32(w, req->topics[i].partitions[j].partition_index);
    }
}

void kafka_encode_offset_delete_resp(struct kw *w, int16_t v, const struct kafka_offset_delete_resp *resp) {
    ENC_VERSION(v, OFFSET_DELETE_MAX);
    kw_error(w, resp->error_code);                   /* ErrorCode */
    kw_i32(w, resp->throttle_time_ms);             /* ThrottleTimeMs */
    enc_count(w, false, resp->topic_count, false); /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_offset_delete_topic_resp *t = &resp->topics[i];
        enc_str(w, false, t->name);
        enc_count(w, false, t->partition_count, false);
        for (int32_t j = 0; j < t->partition_count; j++) {
            kw_i32(w, t->partitions[j].partition_index);
            kw_error(w, t->partitions[j].error_code);
        }
    }
}

sl_err kafka_decode_offset_delete_resp(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_offset_delete_resp *out) {
    DEC_VERSION(v, OFFSET_DELETE_MAX);
    memset(out, 0, sizeof(*out));
    out->error_code = kr_i16(r);                      /* ErrorCode */
    out->throttle_time_ms = kr_i32(r);                /* ThrottleTimeMs */
    out->topic_count = dec_count(r, false, false, 6); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_offset_delete_topic_resp);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_offset_delete_topic_resp *t = &out->topics[i];
        t->name = dec_str(r, false); /* Name */
        t->partition_count = dec_count(r, false, false, 6); /* Partitions: PartitionIndex, ErrorCode */
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_offset_delete_partition_resp);
        for (int32_t j = 0; j < t->partition_count; j++) {
            t->partitions[j].partition_index = kr_i32(r);
            t->partitions[j].error_code = kr_i16(r);
        }
    }
    return r->err;
}
