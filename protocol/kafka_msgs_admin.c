/* kafka_msgs_admin.c: the admin API bodies (see kafka_msgs_admin.h). Every codec reads or
 * writes the fields in spec order; each version guard names the spec field it guards. A
 * hostile count cannot make us allocate much: kr_array bounds it by max and by the bytes
 * left, and dec_count also by the least bytes one element takes on the wire. */
#include "protocol/kafka_msgs_admin.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

/* First flexible version of each API (KIP-482), from the specs' "flexibleVersions". */
enum {
    CREATE_TOPICS_FLEX = 5,
    DELETE_TOPICS_FLEX = 4,
    CREATE_PARTITIONS_FLEX = 2,
    DESCRIBE_CONFIGS_FLEX = 4,
    ALTER_CONFIGS_FLEX = 2,
    INCREMENTAL_ALTER_CONFIGS_FLEX = 1,
    DELETE_RECORDS_FLEX = 2,
};

/* Highest version of each API these codecs implement. */
enum {
    CREATE_TOPICS_MAX = 7,
    DELETE_TOPICS_MAX = 6,
    CREATE_PARTITIONS_MAX = 3,
    DESCRIBE_CONFIGS_MAX = 4,
    ALTER_CONFIGS_MAX = 2,
    INCREMENTAL_ALTER_CONFIGS_MAX = 1,
    DELETE_RECORDS_MAX = 2,
    DESCRIBE_CLUSTER_MAX = 1,
};

/* ---- CreateTopics ---- */

static void dec_create_topics_topic(struct kr *r, bool flex, struct karena *a,
                                    struct kafka_create_topics_topic *t) {
    t->name = dec_str(r, flex);         /* Name */
    t->num_partitions = kr_i32(r);      /* NumPartitions */
    t->replication_factor = kr_i16(r);  /* ReplicationFactor */
    /* Assignments: PartitionIndex, BrokerIds */
    t->assignment_count = dec_count(r, flex, false, 6);
    t->assignments = DEC_ARRAY(a, t->assignment_count, struct kafka_create_topics_assignment);
    for (int32_t i = 0; i < t->assignment_count && !r->err; i++) {
        struct kafka_create_topics_assignment *as = &t->assignments[i];
        as->partition_index = kr_i32(r);
        as->broker_ids = dec_i32s(r, flex, a, false, &as->broker_id_count);
        kr_tags(r, flex);
    }
    /* Configs: Name, Value (nullable) */
    t->config_count = dec_count(r, flex, false, 3);
    t->configs = DEC_ARRAY(a, t->config_count, struct kafka_create_topics_config);
    for (int32_t i = 0; i < t->config_count && !r->err; i++) {
        t->configs[i].name = dec_str(r, flex);
        t->configs[i].value = kr_str(r, flex);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
}

sl_err kafka_decode_create_topics(struct kr *r, int16_t v, struct karena *a, struct kafka_create_topics_req *out) {
    DEC_VERSION(v, CREATE_TOPICS_MAX);
    bool flex = v >= CREATE_TOPICS_FLEX;
    memset(out, 0, sizeof(*out));
    out->topic_count = dec_count(r, flex, false, 10); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_create_topics_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) dec_create_topics_topic(r, flex, a, &out->topics[i]);
    out->timeout_ms = kr_i32(r);                       /* timeoutMs */
    out->validate_only = v >= 1 ? kr_bool(r) : false; /* validateOnly: v1+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_create_topics_req(struct kw *w, int16_t v, const struct kafka_create_topics_req *req) {
    ENC_VERSION(v, CREATE_TOPICS_MAX);
    bool flex = v >= CREATE_TOPICS_FLEX;
    enc_count(w, flex, req->topic_count, false); /* Topics */
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_create_topics_topic *t = &req->topics[i];
        enc_str(w, flex, t->name);
        kw_i32(w, t->num_partitions);
        kw_i16(w, t->replication_factor);
        enc_count(w, flex, t->assignment_count, false);
        for (int32_t j = 0; j < t->assignment_count; j++) {
            kw_i32(w, t->assignments[j].partition_index);
            enc_i32s(w, flex, t->assignments[j].broker_ids, t->assignments[j].broker_id_count, false);
            kw_tags(w, flex);
        }
        enc_count(w, flex, t->config_count, false);
        for (int32_t j = 0; j < t->config_count; j++) {
            enc_str(w, flex, t->configs[j].name);
            enc_nstr(w, flex, t->configs[j].value);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_i32(w, req->timeout_ms);                  /* timeoutMs */
    if (v >= 1) kw_bool(w, req->validate_only); /* validateOnly: v1+ */
    kw_tags(w, flex);
}

static void enc_create_topics_result(struct kw *w, int16_t v, bool flex, const struct kafka_create_topics_result *t) {
    enc_str(w, flex, t->name);                      /* Name */
    if (v >= 7) kw_uuid(w, t->topic_id);            /* TopicId: v7+ */
    kw_error(w, t->error_code);                       /* ErrorCode */
    if (v >= 1) enc_nstr(w, flex, t->error_message); /* ErrorMessage: v1+ */
    if (v >= 5) {
        kw_i32(w, t->num_partitions);     /* NumPartitions: v5+ */
        kw_i16(w, t->replication_factor); /* ReplicationFactor: v5+ */
        enc_count(w, flex, t->config_count, true); /* Configs: v5+, nullable */
        for (int32_t j = 0; j < t->config_count; j++) {
            const struct kafka_create_topics_result_config *c = &t->configs[j];
            enc_str(w, flex, c->name);
            enc_nstr(w, flex, c->value);
            kw_bool(w, c->read_only);
            kw_i8(w, c->config_source);
            kw_bool(w, c->is_sensitive);
            kw_tags(w, flex);
        }
    }
    if (!flex) return;
    /* TopicConfigErrorCode: tag 0, v5+; a tagged field is sent only when not the default. */
    if (t->topic_config_error_code != 0) {
        kw_uvarint(w, 1);
        kw_uvarint(w, 0);
        kw_uvarint(w, 2);
        kw_error(w, t->topic_config_error_code);
    } else {
        kw_uvarint(w, 0);
    }
}

void kafka_encode_create_topics_resp(struct kw *w, int16_t v, const struct kafka_create_topics_resp *resp) {
    ENC_VERSION(v, CREATE_TOPICS_MAX);
    bool flex = v >= CREATE_TOPICS_FLEX;
    if (v >= 2) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v2+ */
    enc_count(w, flex, resp->topic_count, false);  /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++) enc_create_topics_result(w, v, flex, &resp->topics[i]);
    kw_tags(w, flex);
}

/* The topic result's tag section, which carries TopicConfigErrorCode as tag 0. */
static void dec_create_topics_result_tags(struct kr *r, struct kafka_create_topics_result *t) {
    uint32_t n = kr_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        uint32_t tag = kr_uvarint(r);
        uint32_t size = kr_uvarint(r);
        if (r->err) break;
        if (tag != 0) {
            kr_skip(r, size);
        } else if (size != 2) {
            dec_fail(r, SL_CORRUPT);
        } else {
            t->topic_config_error_code = kr_i16(r);
        }
    }
}

static void dec_create_topics_result(struct kr *r, int16_t v, bool flex, struct karena *a,
                                     struct kafka_create_topics_result *t) {
    t->name = dec_str(r, flex);                             /* Name */
    if (v >= 7) kr_uuid(r, t->topic_id);                    /* TopicId: v7+ */
    t->error_code = kr_i16(r);                              /* ErrorCode */
    t->error_message = v >= 1 ? kr_str(r, flex) : kstr_empty; /* ErrorMessage: v1+ */
    t->num_partitions = v >= 5 ? kr_i32(r) : -1;            /* NumPartitions: v5+ */
    t->replication_factor = v >= 5 ? kr_i16(r) : -1;        /* ReplicationFactor: v5+ */
    if (v >= 5) {                                           /* Configs: v5+, nullable */
        t->config_count = dec_count(r, flex, true, 5);
        t->configs = DEC_ARRAY(a, t->config_count, struct kafka_create_topics_result_config);
        for (int32_t j = 0; j < t->config_count && !r->err; j++) {
            struct kafka_create_topics_result_config *c = &t->configs[j];
            c->name = dec_str(r, flex);
            c->value = kr_str(r, flex);
            c->read_only = kr_bool(r);
            c->config_source = kr_i8(r);
            c->is_sensitive = kr_bool(r);
            kr_tags(r, flex);
        }
    }
    if (flex) dec_create_topics_result_tags(r, t);
}

sl_err kafka_decode_create_topics_resp(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_create_topics_resp *out) {
    DEC_VERSION(v, CREATE_TOPICS_MAX);
    bool flex = v >= CREATE_TOPICS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 2 ? kr_i32(r) : 0; /* ThrottleTimeMs: v2+ */
    out->topic_count = dec_count(r, flex, false, 4); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_create_topics_result);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++)
        dec_create_topics_result(r, v, flex, a, &out->topics[i]);
    kr_tags(r, flex);
    return r->err;
}

/* ---- DeleteTopics ---- */

sl_err kafka_decode_delete_topics(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_topics_req *out) {
    DEC_VERSION(v, DELETE_TOPICS_MAX);
    bool flex = v >= DELETE_TOPICS_FLEX;
    memset(out, 0, sizeof(*out));
    if (v >= 6) { /* Topics: v6+ (Name nullable, TopicId) */
        out->topic_count = dec_count(r, flex, false, 18);
        out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_delete_topics_topic);
        for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
            out->topics[i].name = kr_str(r, flex);
            kr_uuid(r, out->topics[i].topic_id);
            kr_tags(r, flex);
        }
    }
    if (v <= 5) out->topic_names = dec_strs(r, flex, a, false, &out->topic_name_count); /* TopicNames: v0-5 */
    out->timeout_ms = kr_i32(r); /* TimeoutMs */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_delete_topics_req(struct kw *w, int16_t v, const struct kafka_delete_topics_req *req) {
    ENC_VERSION(v, DELETE_TOPICS_MAX);
    bool flex = v >= DELETE_TOPICS_FLEX;
    if (v >= 6) { /* Topics: v6+ */
        enc_count(w, flex, req->topic_count, false);
        for (int32_t i = 0; i < req->topic_count; i++) {
            enc_nstr(w, flex, req->topics[i].name);
            kw_uuid(w, req->topics[i].topic_id);
            kw_tags(w, flex);
        }
    }
    if (v <= 5) enc_strs(w, flex, req->topic_names, req->topic_name_count, false); /* TopicNames: v0-5 */
    kw_i32(w, req->timeout_ms); /* TimeoutMs */
    kw_tags(w, flex);
}

void kafka_encode_delete_topics_resp(struct kw *w, int16_t v, const struct kafka_delete_topics_resp *resp) {
    ENC_VERSION(v, DELETE_TOPICS_MAX);
    bool flex = v >= DELETE_TOPICS_FLEX;
    if (v >= 1) kw_i32(w, resp->throttle_time_ms);   /* ThrottleTimeMs: v1+ */
    enc_count(w, flex, resp->response_count, false); /* Responses */
    for (int32_t i = 0; i < resp->response_count; i++) {
        const struct kafka_delete_topics_result *t = &resp->responses[i];
        if (v >= 6) enc_nstr(w, flex, t->name); /* Name: nullable v6+ */
        else enc_str(w, flex, t->name);
        if (v >= 6) kw_uuid(w, t->topic_id);             /* TopicId: v6+ */
        kw_error(w, t->error_code);                        /* ErrorCode */
        if (v >= 5) enc_nstr(w, flex, t->error_message); /* ErrorMessage: v5+ */
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_delete_topics_resp(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_delete_topics_resp *out) {
    DEC_VERSION(v, DELETE_TOPICS_MAX);
    bool flex = v >= DELETE_TOPICS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = v >= 1 ? kr_i32(r) : 0; /* ThrottleTimeMs: v1+ */
    out->response_count = dec_count(r, flex, false, 4); /* Responses */
    out->responses = DEC_ARRAY(a, out->response_count, struct kafka_delete_topics_result);
    for (int32_t i = 0; i < out->response_count && !r->err; i++) {
        struct kafka_delete_topics_result *t = &out->responses[i];
        t->name = v >= 6 ? kr_str(r, flex) : dec_str(r, flex);    /* Name: nullable v6+ */
        if (v >= 6) kr_uuid(r, t->topic_id);                       /* TopicId: v6+ */
        t->error_code = kr_i16(r);                                 /* ErrorCode */
        t->error_message = v >= 5 ? kr_str(r, flex) : kstr_null;   /* ErrorMessage: v5+ */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- CreatePartitions ---- */

sl_err kafka_decode_create_partitions(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_create_partitions_req *out) {
    DEC_VERSION(v, CREATE_PARTITIONS_MAX);
    bool flex = v >= CREATE_PARTITIONS_FLEX;
    memset(out, 0, sizeof(*out));
    out->topic_count = dec_count(r, flex, false, 7); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_create_partitions_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_create_partitions_topic *t = &out->topics[i];
        t->name = dec_str(r, flex); /* Name */
        t->count = kr_i32(r);       /* Count */
        /* Assignments: nullable; BrokerIds */
        t->assignment_count = dec_count(r, flex, true, 2);
        t->assignments = DEC_ARRAY(a, t->assignment_count, struct kafka_create_partitions_assignment);
        for (int32_t j = 0; j < t->assignment_count && !r->err; j++) {
            t->assignments[j].broker_ids = dec_i32s(r, flex, a, false, &t->assignments[j].broker_id_count);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    out->timeout_ms = kr_i32(r);     /* TimeoutMs */
    out->validate_only = kr_bool(r); /* ValidateOnly */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_create_partitions_req(struct kw *w, int16_t v, const struct kafka_create_partitions_req *req) {
    ENC_VERSION(v, CREATE_PARTITIONS_MAX);
    bool flex = v >= CREATE_PARTITIONS_FLEX;
    enc_count(w, flex, req->topic_count, false); /* Topics */
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_create_partitions_topic *t = &req->topics[i];
        enc_str(w, flex, t->name);
        kw_i32(w, t->count);
        enc_count(w, flex, t->assignment_count, true);
        for (int32_t j = 0; j < t->assignment_count; j++) {
            enc_i32s(w, flex, t->assignments[j].broker_ids, t->assignments[j].broker_id_count, false);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_i32(w, req->timeout_ms);     /* TimeoutMs */
    kw_bool(w, req->validate_only); /* ValidateOnly */
    kw_tags(w, flex);
}

void kafka_encode_create_partitions_resp(struct kw *w, int16_t v, const struct kafka_create_partitions_resp *resp) {
    ENC_VERSION(v, CREATE_PARTITIONS_MAX);
    bool flex = v >= CREATE_PARTITIONS_FLEX;
    kw_i32(w, resp->throttle_time_ms);             /* ThrottleTimeMs */
    enc_count(w, flex, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        enc_str(w, flex, resp->results[i].name);
        kw_error(w, resp->results[i].error_code);
        enc_nstr(w, flex, resp->results[i].error_message);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_create_partitions_resp(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_create_partitions_resp *out) {
    DEC_VERSION(v, CREATE_PARTITIONS_MAX);
    bool flex = v >= CREATE_PARTITIONS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);                /* ThrottleTimeMs */
    out->result_count = dec_count(r, flex, false, 5); /* Results */
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_create_partitions_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        out->results[i].name = dec_str(r, flex);
        out->results[i].error_code = kr_i16(r);
        out->results[i].error_message = kr_str(r, flex);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- DescribeConfigs ---- */

sl_err kafka_decode_describe_configs(struct kr *r, int16_t v, struct karena *a,
                                     struct kafka_describe_configs_req *out) {
    DEC_VERSION(v, DESCRIBE_CONFIGS_MAX);
    bool flex = v >= DESCRIBE_CONFIGS_FLEX;
    memset(out, 0, sizeof(*out));
    out->resource_count = dec_count(r, flex, false, 4); /* Resources */
    out->resources = DEC_ARRAY(a, out->resource_count, struct kafka_describe_configs_resource);
    for (int32_t i = 0; i < out->resource_count && !r->err; i++) {
        struct kafka_describe_configs_resource *res = &out->resources[i];
        res->resource_type = kr_i8(r);      /* ResourceType */
        res->resource_name = dec_str(r, flex); /* ResourceName */
        /* ConfigurationKeys: nullable */
        res->configuration_keys = dec_strs(r, flex, a, true, &res->configuration_key_count);
        kr_tags(r, flex);
    }
    out->include_synonyms = v >= 1 ? kr_bool(r) : false;      /* IncludeSynonyms: v1+ */
    out->include_documentation = v >= 3 ? kr_bool(r) : false; /* IncludeDocumentation: v3+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_describe_configs_req(struct kw *w, int16_t v, const struct kafka_describe_configs_req *req) {
    ENC_VERSION(v, DESCRIBE_CONFIGS_MAX);
    bool flex = v >= DESCRIBE_CONFIGS_FLEX;
    enc_count(w, flex, req->resource_count, false); /* Resources */
    for (int32_t i = 0; i < req->resource_count; i++) {
        const struct kafka_describe_configs_resource *res = &req->resources[i];
        kw_i8(w, res->resource_type);
        enc_str(w, flex, res->resource_name);
        enc_strs(w, flex, res->configuration_keys, res->configuration_key_count, true);
        kw_tags(w, flex);
    }
    if (v >= 1) kw_bool(w, req->include_synonyms);      /* IncludeSynonyms: v1+ */
    if (v >= 3) kw_bool(w, req->include_documentation); /* IncludeDocumentation: v3+ */
    kw_tags(w, flex);
}

static void enc_describe_configs_config(struct kw *w, int16_t v, bool flex,
                                        const struct kafka_describe_configs_config *c) {
    enc_str(w, flex, c->name);              /* Name */
    enc_nstr(w, flex, c->value);            /* Value */
    kw_bool(w, c->read_only);               /* ReadOnly */
    if (v == 0) kw_bool(w, c->is_default);  /* IsDefault: v0 */
    if (v >= 1) kw_i8(w, c->config_source); /* ConfigSource: v1+ */
    kw_bool(w, c->is_sensitive);            /* IsSensitive */
    if (v >= 1) {                           /* Synonyms: v1+ */
        enc_count(w, flex, c->synonym_count, false);
        for (int32_t k = 0; k < c->synonym_count; k++) {
            enc_str(w, flex, c->synonyms[k].name);
            enc_nstr(w, flex, c->synonyms[k].value);
            kw_i8(w, c->synonyms[k].source);
            kw_tags(w, flex);
        }
    }
    if (v >= 3) kw_i8(w, c->config_type);               /* ConfigType: v3+ */
    if (v >= 3) enc_nstr(w, flex, c->documentation);    /* Documentation: v3+ */
    kw_tags(w, flex);
}

void kafka_encode_describe_configs_resp(struct kw *w, int16_t v, const struct kafka_describe_configs_resp *resp) {
    ENC_VERSION(v, DESCRIBE_CONFIGS_MAX);
    bool flex = v >= DESCRIBE_CONFIGS_FLEX;
    kw_i32(w, resp->throttle_time_ms);             /* ThrottleTimeMs */
    enc_count(w, flex, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        const struct kafka_describe_configs_result *res = &resp->results[i];
        kw_error(w, res->error_code);
        enc_nstr(w, flex, res->error_message);
        kw_i8(w, res->resource_type);
        enc_str(w, flex, res->resource_name);
        enc_count(w, flex, res->config_count, false); /* Configs */
        for (int32_t j = 0; j < res->config_count; j++) enc_describe_configs_config(w, v, flex, &res->configs[j]);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static void dec_describe_configs_config(struct kr *r, int16_t v, bool flex, struct karena *a,
                                        struct kafka_describe_configs_config *c) {
    c->name = dec_str(r, flex);                        /* Name */
    c->value = kr_str(r, flex);                        /* Value */
    c->read_only = kr_bool(r);                         /* ReadOnly */
    c->is_default = v == 0 ? kr_bool(r) : false;       /* IsDefault: v0 */
    c->config_source = v >= 1 ? kr_i8(r) : -1;         /* ConfigSource: v1+ */
    c->is_sensitive = kr_bool(r);                      /* IsSensitive */
    if (v >= 1) {                                      /* Synonyms: v1+ */
        c->synonym_count = dec_count(r, flex, false, 3);
        c->synonyms = DEC_ARRAY(a, c->synonym_count, struct kafka_describe_configs_synonym);
        for (int32_t k = 0; k < c->synonym_count && !r->err; k++) {
            c->synonyms[k].name = dec_str(r, flex);
            c->synonyms[k].value = kr_str(r, flex);
            c->synonyms[k].source = kr_i8(r);
            kr_tags(r, flex);
        }
    }
    c->config_type = v >= 3 ? kr_i8(r) : 0;                    /* ConfigType: v3+ */
    c->documentation = v >= 3 ? kr_str(r, flex) : kstr_empty; /* Documentation: v3+ */
    kr_tags(r, flex);
}

sl_err kafka_decode_describe_configs_resp(struct kr *r, int16_t v, struct karena *a,
                                          struct kafka_describe_configs_resp *out) {
    DEC_VERSION(v, DESCRIBE_CONFIGS_MAX);
    bool flex = v >= DESCRIBE_CONFIGS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);                /* ThrottleTimeMs */
    out->result_count = dec_count(r, flex, false, 6); /* Results */
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_describe_configs_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        struct kafka_describe_configs_result *res = &out->results[i];
        res->error_code = kr_i16(r);           /* ErrorCode */
        res->error_message = kr_str(r, flex);  /* ErrorMessage */
        res->resource_type = kr_i8(r);         /* ResourceType */
        res->resource_name = dec_str(r, flex); /* ResourceName */
        res->config_count = dec_count(r, flex, false, 5); /* Configs */
        res->configs = DEC_ARRAY(a, res->config_count, struct kafka_describe_configs_config);
        for (int32_t j = 0; j < res->config_count && !r->err; j++)
            dec_describe_configs_config(r, v, flex, a, &res->configs[j]);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- AlterConfigs and IncrementalAlterConfigs ---- */

sl_err kafka_decode_alter_configs(struct kr *r, int16_t v, struct karena *a, struct kafka_alter_configs_req *out) {
    DEC_VERSION(v, ALTER_CONFIGS_MAX);
    bool flex = v >= ALTER_CONFIGS_FLEX;
    memset(out, 0, sizeof(*out));
    out->resource_count = dec_count(r, flex, false, 4); /* Resources */
    out->resources = DEC_ARRAY(a, out->resource_count, struct kafka_alter_configs_resource);
    for (int32_t i = 0; i < out->resource_count && !r->err; i++) {
        struct kafka_alter_configs_resource *res = &out->resources[i];
        res->resource_type = kr_i8(r);         /* ResourceType */
        res->resource_name = dec_str(r, flex); /* ResourceName */
        res->config_count = dec_count(r, flex, false, 3); /* Configs: Name, Value (nullable) */
        res->configs = DEC_ARRAY(a, res->config_count, struct kafka_alter_configs_config);
        for (int32_t j = 0; j < res->config_count && !r->err; j++) {
            res->configs[j].name = dec_str(r, flex);
            res->configs[j].value = kr_str(r, flex);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    out->validate_only = kr_bool(r); /* ValidateOnly */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_alter_configs_req(struct kw *w, int16_t v, const struct kafka_alter_configs_req *req) {
    ENC_VERSION(v, ALTER_CONFIGS_MAX);
    bool flex = v >= ALTER_CONFIGS_FLEX;
    enc_count(w, flex, req->resource_count, false); /* Resources */
    for (int32_t i = 0; i < req->resource_count; i++) {
        const struct kafka_alter_configs_resource *res = &req->resources[i];
        kw_i8(w, res->resource_type);
        enc_str(w, flex, res->resource_name);
        enc_count(w, flex, res->config_count, false);
        for (int32_t j = 0; j < res->config_count; j++) {
            enc_str(w, flex, res->configs[j].name);
            enc_nstr(w, flex, res->configs[j].value);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_bool(w, req->validate_only); /* ValidateOnly */
    kw_tags(w, flex);
}

/* AlterConfigsResourceResponse: the same fields in both APIs. */
static void enc_alter_configs_results(struct kw *w, bool flex, int32_t throttle_time_ms,
                                      const struct kafka_alter_configs_result *results, int32_t n) {
    kw_i32(w, throttle_time_ms);  /* ThrottleTimeMs */
    enc_count(w, flex, n, false); /* Responses */
    for (int32_t i = 0; i < n; i++) {
        kw_error(w, results[i].error_code);
        enc_nstr(w, flex, results[i].error_message);
        kw_i8(w, results[i].resource_type);
        enc_str(w, flex, results[i].resource_name);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static struct kafka_alter_configs_result *dec_alter_configs_results(struct kr *r, bool flex, struct karena *a,
                                                                    int32_t *throttle_time_ms, int32_t *count) {
    *throttle_time_ms = kr_i32(r);               /* ThrottleTimeMs */
    int32_t n = dec_count(r, flex, false, 5);    /* Responses */
    struct kafka_alter_configs_result *res = DEC_ARRAY(a, n, struct kafka_alter_configs_result);
    for (int32_t i = 0; i < n && !r->err; i++) {
        res[i].error_code = kr_i16(r);           /* ErrorCode */
        res[i].error_message = kr_str(r, flex);  /* ErrorMessage */
        res[i].resource_type = kr_i8(r);         /* ResourceType */
        res[i].resource_name = dec_str(r, flex); /* ResourceName */
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    *count = n;
    return res;
}

void kafka_encode_alter_configs_resp(struct kw *w, int16_t v, const struct kafka_alter_configs_resp *resp) {
    ENC_VERSION(v, ALTER_CONFIGS_MAX);
    enc_alter_configs_results(w, v >= ALTER_CONFIGS_FLEX, resp->throttle_time_ms, resp->responses,
                              resp->response_count);
}

sl_err kafka_decode_alter_configs_resp(struct kr *r, int16_t v, struct karena *a,
                                       struct kafka_alter_configs_resp *out) {
    DEC_VERSION(v, ALTER_CONFIGS_MAX);
    memset(out, 0, sizeof(*out));
    out->responses = dec_alter_configs_results(r, v >= ALTER_CONFIGS_FLEX, a, &out->throttle_time_ms,
                                               &out->response_count);
    return r->err;
}

sl_err kafka_decode_incremental_alter_configs(struct kr *r, int16_t v, struct karena *a,
                                              struct kafka_incremental_alter_configs_req *out) {
    DEC_VERSION(v, INCREMENTAL_ALTER_CONFIGS_MAX);
    bool flex = v >= INCREMENTAL_ALTER_CONFIGS_FLEX;
    memset(out, 0, sizeof(*out));
    out->resource_count = dec_count(r, flex, false, 4); /* Resources */
    out->resources = DEC_ARRAY(a, out->resource_count, struct kafka_incremental_alter_configs_resource);
    for (int32_t i = 0; i < out->resource_count && !r->err; i++) {
        struct kafka_incremental_alter_configs_resource *res = &out->resources[i];
        res->resource_type = kr_i8(r);         /* ResourceType */
        res->resource_name = dec_str(r, flex); /* ResourceName */
        /* Configs: Name, ConfigOperation, Value (nullable) */
        res->config_count = dec_count(r, flex, false, 4);
        res->configs = DEC_ARRAY(a, res->config_count, struct kafka_incremental_alter_configs_config);
        for (int32_t j = 0; j < res->config_count && !r->err; j++) {
            res->configs[j].name = dec_str(r, flex);
            res->configs[j].config_operation = kr_i8(r);
            res->configs[j].value = kr_str(r, flex);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    out->validate_only = kr_bool(r); /* ValidateOnly */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_incremental_alter_configs_req(struct kw *w, int16_t v,
                                                const struct kafka_incremental_alter_configs_req *req) {
    ENC_VERSION(v, INCREMENTAL_ALTER_CONFIGS_MAX);
    bool flex = v >= INCREMENTAL_ALTER_CONFIGS_FLEX;
    enc_count(w, flex, req->resource_count, false); /* Resources */
    for (int32_t i = 0; i < req->resource_count; i++) {
        const struct kafka_incremental_alter_configs_resource *res = &req->resources[i];
        kw_i8(w, res->resource_type);
        enc_str(w, flex, res->resource_name);
        enc_count(w, flex, res->config_count, false);
        for (int32_t j = 0; j < res->config_count; j++) {
            enc_str(w, flex, res->configs[j].name);
            kw_i8(w, res->configs[j].config_operation);
            enc_nstr(w, flex, res->configs[j].value);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_bool(w, req->validate_only); /* ValidateOnly */
    kw_tags(w, flex);
}

void kafka_encode_incremental_alter_configs_resp(struct kw *w, int16_t v,
                                                 const struct kafka_incremental_alter_configs_resp *resp) {
    ENC_VERSION(v, INCREMENTAL_ALTER_CONFIGS_MAX);
    enc_alter_configs_results(w, v >= INCREMENTAL_ALTER_CONFIGS_FLEX, resp->throttle_time_ms, resp->responses,
                              resp->response_count);
}

sl_err kafka_decode_incremental_alter_configs_resp(struct kr *r, int16_t v, struct karena *a,
                                                   struct kafka_incremental_alter_configs_resp *out) {
    DEC_VERSION(v, INCREMENTAL_ALTER_CONFIGS_MAX);
    memset(out, 0, sizeof(*out));
    out->responses = dec_alter_configs_results(r, v >= INCREMENTAL_ALTER_CONFIGS_FLEX, a, &out->throttle_time_ms,
                                               &out->response_count);
    return r->err;
}

/* ---- DeleteRecords ---- */

sl_err kafka_decode_delete_records(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_records_req *out) {
    DEC_VERSION(v, DELETE_RECORDS_MAX);
    bool flex = v >= DELETE_RECORDS_FLEX;
    memset(out, 0, sizeof(*out));
    out->topic_count = dec_count(r, flex, false, 3); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_delete_records_topic);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_delete_records_topic *t = &out->topics[i];
        t->name = dec_str(r, flex); /* Name */
        /* Partitions: PartitionIndex, Offset */
        t->partition_count = dec_count(r, flex, false, 12);
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_delete_records_partition);
        for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
            t->partitions[j].partition_index = kr_i32(r);
            t->partitions[j].offset = kr_i64(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    out->timeout_ms = kr_i32(r); /* TimeoutMs */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_delete_records_req(struct kw *w, int16_t v, const struct kafka_delete_records_req *req) {
    ENC_VERSION(v, DELETE_RECORDS_MAX);
    bool flex = v >= DELETE_RECORDS_FLEX;
    enc_count(w, flex, req->topic_count, false); /* Topics */
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_delete_records_topic *t = &req->topics[i];
        enc_str(w, flex, t->name);
        enc_count(w, flex, t->partition_count, false);
        for (int32_t j = 0; j < t->partition_count; j++) {
            kw_i32(w, t->partitions[j].partition_index);
            kw_i64(w, t->partitions[j].offset);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_i32(w, req->timeout_ms); /* TimeoutMs */
    kw_tags(w, flex);
}

void kafka_encode_delete_records_resp(struct kw *w, int16_t v, const struct kafka_delete_records_resp *resp) {
    ENC_VERSION(v, DELETE_RECORDS_MAX);
    bool flex = v >= DELETE_RECORDS_FLEX;
    kw_i32(w, resp->throttle_time_ms);            /* ThrottleTimeMs */
    enc_count(w, flex, resp->topic_count, false); /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_delete_records_topic_result *t = &resp->topics[i];
        enc_str(w, flex, t->name);
        enc_count(w, flex, t->partition_count, false);
        for (int32_t j = 0; j < t->partition_count; j++) {
            kw_i32(w, t->partitions[j].partition_index);
            kw_i64(w, t->partitions[j].low_watermark);
            kw_error(w, t->partitions[j].error_code);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_delete_records_resp(struct kr *r, int16_t v, struct karena *a,
                                        struct kafka_delete_records_resp *out) {
    DEC_VERSION(v, DELETE_RECORDS_MAX);
    bool flex = v >= DELETE_RECORDS_FLEX;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);               /* ThrottleTimeMs */
    out->topic_count = dec_count(r, flex, false, 3); /* Topics */
    out->topics = DEC_ARRAY(a, out->topic_count, struct kafka_delete_records_topic_result);
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_delete_records_topic_result *t = &out->topics[i];
        t->name = dec_str(r, flex); /* Name */
        /* Partitions: PartitionIndex, LowWatermark, ErrorCode */
        t->partition_count = dec_count(r, flex, false, 14);
        t->partitions = DEC_ARRAY(a, t->partition_count, struct kafka_delete_records_partition_result);
        for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
            t->partitions[j].partition_index = kr_i32(r);
            t->partitions[j].low_watermark = kr_i64(r);
            t->partitions[j].error_code = kr_i16(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- DescribeCluster (flexible in every version) ---- */

sl_err kafka_decode_describe_cluster(struct kr *r, int16_t v, struct karena *a,
                                     struct kafka_describe_cluster_req *out) {
    DEC_VERSION(v, DESCRIBE_CLUSTER_MAX);
    (void)a;
    memset(out, 0, sizeof(*out));
    out->include_cluster_authorized_operations = kr_bool(r); /* IncludeClusterAuthorizedOperations */
    out->endpoint_type = v >= 1 ? kr_i8(r) : 1;               /* EndpointType */
    kr_tags(r, true);
    return r->err;
}

void kafka_encode_describe_cluster_req(struct kw *w, int16_t v, const struct kafka_describe_cluster_req *req) {
    ENC_VERSION(v, DESCRIBE_CLUSTER_MAX);
    kw_bool(w, req->include_cluster_authorized_operations);
    if (v >= 1) kw_i8(w, req->endpoint_type);
    kw_tags(w, true);
}

void kafka_encode_describe_cluster_resp(struct kw *w, int16_t v, const struct kafka_describe_cluster_resp *resp) {
    ENC_VERSION(v, DESCRIBE_CLUSTER_MAX);
    kw_i32(w, resp->throttle_time_ms);            /* ThrottleTimeMs */
    kw_error(w, resp->error_code);                /* ErrorCode */
    enc_nstr(w, true, resp->error_message);       /* ErrorMessage */
    if (v >= 1) kw_i8(w, resp->endpoint_type);    /* EndpointType */
    enc_str(w, true, resp->cluster_id);           /* ClusterId */
    kw_i32(w, resp->controller_id);               /* ControllerId */
    enc_count(w, true, resp->broker_count, false); /* Brokers */
    for (int32_t i = 0; i < resp->broker_count; i++) {
        const struct kafka_describe_cluster_broker *b = &resp->brokers[i];
        kw_i32(w, b->broker_id);
        enc_str(w, true, b->host);
        kw_i32(w, b->port);
        enc_nstr(w, true, b->rack);
        kw_tags(w, true);
    }
    kw_i32(w, resp->cluster_authorized_operations); /* ClusterAuthorizedOperations */
    kw_tags(w, true);
}

sl_err kafka_decode_describe_cluster_resp(struct kr *r, int16_t v, struct karena *a,
                                          struct kafka_describe_cluster_resp *out) {
    DEC_VERSION(v, DESCRIBE_CLUSTER_MAX);
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->error_code = kr_i16(r);
    out->error_message = kafka_read_str(r, true, true);
    out->endpoint_type = v >= 1 ? kr_i8(r) : 1;
    out->cluster_id = dec_str(r, true);
    out->controller_id = kr_i32(r);
    /* Brokers: BrokerId, Host, Port, Rack */
    out->broker_count = dec_count(r, true, false, 11);
    out->brokers = DEC_ARRAY(a, out->broker_count, struct kafka_describe_cluster_broker);
    for (int32_t i = 0; i < out->broker_count && !r->err; i++) {
        struct kafka_describe_cluster_broker *b = &out->brokers[i];
        b->broker_id = kr_i32(r);
        b->host = dec_str(r, true);
        b->port = kr_i32(r);
        b->rack = kafka_read_str(r, true, true);
        kr_tags(r, true);
    }
    out->cluster_authorized_operations = kr_i32(r);
    kr_tags(r, true);
    return r->err;
}
