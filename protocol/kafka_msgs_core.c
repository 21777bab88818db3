/* kafka_msgs_core.c: Metadata, Produce, Fetch, ListOffsets, InitProducerId codecs (see
 * kafka_msgs_core.h). Each message is written as the spec lists its fields, with the spec's
 * field name and version range beside every guard, so a reader can check a function against
 * the JSON line by line. Tagged-field sections close every struct of a flexible version; we
 * write them empty and skip whatever a client puts in them. */
#include "protocol/kafka_msgs_core.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

/* Smallest wire size of one array element at any served version (compact encodings, empty
 * strings and arrays). kafka_read_array refuses counts that could not fit at that size, which
 * bounds each arena allocation to a few times the message's own size. */
#define MIN_METADATA_TOPIC 2     /* Name, tags */
#define MIN_METADATA_BROKER 9    /* NodeId, Host, Port */
#define MIN_METADATA_TOPIC_RESP 4 /* ErrorCode, Name, Partitions */
#define MIN_METADATA_PART 12     /* ErrorCode, PartitionIndex, LeaderId, two arrays */
#define MIN_PRODUCE_TOPIC 2      /* Name, PartitionData */
#define MIN_PRODUCE_PART 5       /* Index, Records */
#define MIN_PRODUCE_PART_RESP 14 /* Index, ErrorCode, BaseOffset */
#define MIN_PRODUCE_RECORD_ERROR 5
#define MIN_FETCH_TOPIC 2
#define MIN_FETCH_PART 16 /* Partition, FetchOffset, PartitionMaxBytes */
#define MIN_FETCH_FORGOTTEN 2
#define MIN_FETCH_PART_RESP 15 /* PartitionIndex, ErrorCode, HighWatermark, Records */
#define MIN_FETCH_ABORTED 16
#define MIN_LIST_OFFSETS_TOPIC 2
#define MIN_LIST_OFFSETS_PART 12 /* PartitionIndex, Timestamp */
#define MIN_LIST_OFFSETS_PART_RESP 6

static int32_t *read_i32_array(struct kr *r, bool flex, struct karena *a, int32_t *count) {
    int32_t n = kafka_read_array(r, flex, false, 4);
    int32_t *v = kafka_alloc_array(a, n, sizeof(*v));
    for (int32_t i = 0; i < n && !r->err; i++) v[i] = kr_i32(r);
    *count = n;
    return v;
}

static void write_i32_array(struct kw *w, bool flex, int32_t n, const int32_t *v) {
    kw_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) kw_i32(w, v[i]);
}

static void write_records(struct kw *w, bool flex, struct kstr records) {
    kw_bytes(w, flex, records.p, records.p ? records.len : -1);
}

/* ============================================================================================
 * Metadata
 * ========================================================================================== */

static void metadata_read_req_topic(struct kr *r, int16_t version, bool flex, struct kafka_metadata_topic *t) {
    memset(t->topic_id, 0, sizeof(t->topic_id));
    if (version >= 10) kr_uuid(r, t->topic_id);      /* TopicId: v10+ */
    t->name = kafka_read_str(r, flex, version >= 10); /* Name: nullableVersions 10+ */
    kr_tags(r, flex);
}

static bool metadata_req_topic_eq(const struct kafka_metadata_topic *a, const struct kafka_metadata_topic *b) {
    return a->name.len == b->name.len && !memcmp(a->topic_id, b->topic_id, 16) &&
           (a->name.len <= 0 || !memcmp(a->name.p, b->name.p, (size_t)a->name.len));
}

sl_err kafka_decode_metadata(struct kr *r, int16_t version, struct karena *a,
                             struct kafka_metadata_req *out) {
    memset(out, 0, sizeof(*out));
    out->allow_auto_topic_creation = true;
    if (!kafka_api_supported(KAFKA_METADATA, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_METADATA, version);
    /* Topics: nullableVersions 1+. An entry equal to the one before it (name and id) is
     * decoded once: Kafka reads the names into a set anyway, and a request naming one topic a
     * million times then costs a walk, not a million entries. A first pass counts what is
     * kept, so the array is sized by it. */
    int32_t n = kafka_read_array(r, flex, version >= 1, MIN_METADATA_TOPIC);
    struct kr first = *r;
    struct kafka_metadata_topic prev, cur;
    int32_t kept = 0;
    for (int32_t i = 0; i < n && !first.err; i++) {
        metadata_read_req_topic(&first, version, flex, &cur);
        if (!i || !metadata_req_topic_eq(&prev, &cur)) kept++;
        prev = cur;
    }
    out->topic_count = n < 0 ? n : kept;
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0, k = 0; i < n && !r->err; i++) {
        metadata_read_req_topic(r, version, flex, &cur);
        if (i && metadata_req_topic_eq(&prev, &cur)) continue;
        prev = cur;
        if (k < out->topic_count) out->topics[k++] = cur;
    }
    /* v0 has no null array: there an empty list asks for every topic. */
    out->all_topics = version == 0 ? out->topic_count == 0 : out->topic_count < 0;
    if (version >= 4) out->allow_auto_topic_creation = kr_bool(r); /* AllowAutoTopicCreation */
    if (version >= 8 && version <= 10)
        out->include_cluster_authorized_operations = kr_bool(r); /* v8-10 */
    if (version >= 8) out->include_topic_authorized_operations = kr_bool(r); /* v8+ */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_metadata_req(struct kw *w, int16_t version,
                               const struct kafka_metadata_req *req) {
    SL_ASSERT(kafka_api_supported(KAFKA_METADATA, version));
    bool flex = kafka_api_flexible(KAFKA_METADATA, version);
    int32_t n = req->topic_count;
    if (version == 0 && n < 0) n = 0; /* Topics: not nullable in v0, empty = all */
    kw_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) {
        if (version >= 10) kw_uuid(w, req->topics[i].topic_id); /* TopicId: v10+ */
        kafka_write_str(w, flex, req->topics[i].name);           /* Name */
        kw_tags(w, flex);
    }
    if (version >= 4) kw_bool(w, req->allow_auto_topic_creation);
    if (version >= 8 && version <= 10) kw_bool(w, req->include_cluster_authorized_operations);
    if (version >= 8) kw_bool(w, req->include_topic_authorized_operations);
    kw_tags(w, flex);
}

static void metadata_write_part(struct kw *w, int16_t version, bool flex,
                                const struct kafka_metadata_part *p) {
    kw_error(w, p->error_code);                   /* ErrorCode */
    kw_i32(w, p->partition_index);              /* PartitionIndex */
    kw_i32(w, p->leader_id);                    /* LeaderId */
    if (version >= 7) kw_i32(w, p->leader_epoch); /* LeaderEpoch: v7+ */
    write_i32_array(w, flex, p->replica_count, p->replica_nodes); /* ReplicaNodes */
    write_i32_array(w, flex, p->isr_count, p->isr_nodes);         /* IsrNodes */
    if (version >= 5) /* OfflineReplicas: v5+ */
        write_i32_array(w, flex, p->offline_count, p->offline_replicas);
    kw_tags(w, flex);
}

static void metadata_write_topic(struct kw *w, int16_t version, bool flex,
                                 const struct kafka_metadata_topic_resp *t) {
    kw_error(w, t->error_code);                       /* ErrorCode */
    kafka_write_str(w, flex, t->name);              /* Name */
    if (version >= 10) kw_uuid(w, t->topic_id);     /* TopicId: v10+ */
    if (version >= 1) kw_bool(w, t->is_internal);   /* IsInternal: v1+ */
    kw_array(w, flex, t->partition_count);          /* Partitions */
    for (int32_t j = 0; j < t->partition_count; j++)
        metadata_write_part(w, version, flex, &t->partitions[j]);
    if (version >= 8) kw_i32(w, t->topic_authorized_operations); /* v8+ */
    kw_tags(w, flex);
}

void kafka_encode_metadata_resp(struct kw *w, int16_t version,
                                const struct kafka_metadata_resp *resp) {
    SL_ASSERT(kafka_api_supported(KAFKA_METADATA, version));
    bool flex = kafka_api_flexible(KAFKA_METADATA, version);
    if (version >= 3) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v3+ */
    kw_array(w, flex, resp->broker_count);                /* Brokers */
    for (int32_t i = 0; i < resp->broker_count; i++) {
        const struct kafka_metadata_broker *b = &resp->brokers[i];
        kw_i32(w, b->node_id);                            /* NodeId */
        kafka_write_str(w, flex, b->host);                /* Host */
        kw_i32(w, b->port);                               /* Port */
        if (version >= 1) kafka_write_str(w, flex, b->rack); /* Rack: v1+ */
        kw_tags(w, flex);
    }
    if (version >= 2) kafka_write_str(w, flex, resp->cluster_id); /* ClusterId: v2+ */
    if (version >= 1) kw_i32(w, resp->controller_id);             /* ControllerId: v1+ */
    kw_array(w, flex, resp->topic_count);                         /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++)
        metadata_write_topic(w, version, flex, &resp->topics[i]);
    if (version >= 8 && version <= 10) /* ClusterAuthorizedOperations: v8-10 */
        kw_i32(w, resp->cluster_authorized_operations);
    kw_tags(w, flex);
}

static void metadata_read_part(struct kr *r, int16_t version, bool flex, struct karena *a,
                               struct kafka_metadata_part *p) {
    p->error_code = kr_i16(r);      /* ErrorCode */
    p->partition_index = kr_i32(r); /* PartitionIndex */
    p->leader_id = kr_i32(r);       /* LeaderId */
    p->leader_epoch = version >= 7 ? kr_i32(r) : -1;                   /* LeaderEpoch: v7+ */
    p->replica_nodes = read_i32_array(r, flex, a, &p->replica_count);  /* ReplicaNodes */
    p->isr_nodes = read_i32_array(r, flex, a, &p->isr_count);          /* IsrNodes */
    if (version >= 5) /* OfflineReplicas: v5+ */
        p->offline_replicas = read_i32_array(r, flex, a, &p->offline_count);
    kr_tags(r, flex);
}

static void metadata_read_topic(struct kr *r, int16_t version, bool flex, struct karena *a,
                                struct kafka_metadata_topic_resp *t) {
    t->error_code = kr_i16(r);                           /* ErrorCode */
    t->name = kafka_read_str(r, flex, version >= 12);    /* Name: nullableVersions 12+ */
    if (version >= 10) kr_uuid(r, t->topic_id);          /* TopicId: v10+ */
    if (version >= 1) t->is_internal = kr_bool(r);       /* IsInternal: v1+ */
    t->partition_count = kafka_read_array(r, flex, false, MIN_METADATA_PART); /* Partitions */
    t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
    for (int32_t j = 0; j < t->partition_count && !r->err; j++)
        metadata_read_part(r, version, flex, a, &t->partitions[j]);
    /* TopicAuthorizedOperations: v8+ */
    t->topic_authorized_operations = version >= 8 ? kr_i32(r) : INT32_MIN;
    kr_tags(r, flex);
}

sl_err kafka_decode_metadata_resp(struct kr *r, int16_t version, struct karena *a,
                                  struct kafka_metadata_resp *out) {
    memset(out, 0, sizeof(*out));
    out->cluster_id = kstr_null;
    out->controller_id = -1;
    out->cluster_authorized_operations = INT32_MIN;
    if (!kafka_api_supported(KAFKA_METADATA, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_METADATA, version);
    if (version >= 3) out->throttle_time_ms = kr_i32(r); /* ThrottleTimeMs: v3+ */
    out->broker_count = kafka_read_array(r, flex, false, MIN_METADATA_BROKER); /* Brokers */
    out->brokers = kafka_alloc_array(a, out->broker_count, sizeof(*out->brokers));
    for (int32_t i = 0; i < out->broker_count && !r->err; i++) {
        struct kafka_metadata_broker *b = &out->brokers[i];
        b->node_id = kr_i32(r);                    /* NodeId */
        b->host = kafka_read_str(r, flex, false);  /* Host */
        b->port = kr_i32(r);                       /* Port */
        b->rack = version >= 1 ? kafka_read_str(r, flex, true) : kstr_null; /* Rack: v1+ */
        kr_tags(r, flex);
    }
    if (version >= 2) out->cluster_id = kafka_read_str(r, flex, true); /* ClusterId: v2+ */
    if (version >= 1) out->controller_id = kr_i32(r);                  /* ControllerId: v1+ */
    out->topic_count = kafka_read_array(r, flex, false, MIN_METADATA_TOPIC_RESP); /* Topics */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++)
        metadata_read_topic(r, version, flex, a, &out->topics[i]);
    if (version >= 8 && version <= 10) /* ClusterAuthorizedOperations: v8-10 */
        out->cluster_authorized_operations = kr_i32(r);
    kr_tags(r, flex);
    return r->err;
}

/* ============================================================================================
 * Produce
 * ========================================================================================== */

sl_err kafka_decode_produce(struct kr *r, int16_t version, struct karena *a,
                            struct kafka_produce_req *out) {
    memset(out, 0, sizeof(*out));
    out->transactional_id = kstr_null;
    if (!kafka_api_supported(KAFKA_PRODUCE, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_PRODUCE, version);
    if (version >= 3) out->transactional_id = kafka_read_str(r, flex, true); /* TransactionalId */
    out->acks = kr_i16(r);       /* Acks */
    out->timeout_ms = kr_i32(r); /* TimeoutMs */
    out->topic_count = kafka_read_array(r, flex, false, MIN_PRODUCE_TOPIC); /* TopicData */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_produce_topic *t = &out->topics[i];
        t->name = kafka_read_str(r, flex, false); /* Name */
        t->partition_count = kafka_read_array(r, flex, false, MIN_PRODUCE_PART); /* PartitionData */
        t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
        for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
            t->partitions[j].index = kr_i32(r);             /* Index */
            t->partitions[j].records = kr_bytes(r, flex);   /* Records: nullable */
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_produce_req(struct kw *w, int16_t version, const struct kafka_produce_req *req) {
    SL_ASSERT(kafka_api_supported(KAFKA_PRODUCE, version));
    bool flex = kafka_api_flexible(KAFKA_PRODUCE, version);
    if (version >= 3) kafka_write_str(w, flex, req->transactional_id); /* TransactionalId: v3+ */
    kw_i16(w, req->acks);
    kw_i32(w, req->timeout_ms);
    kw_array(w, flex, req->topic_count); /* TopicData */
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_produce_topic *t = &req->topics[i];
        kafka_write_str(w, flex, t->name);
        kw_array(w, flex, t->partition_count); /* PartitionData */
        for (int32_t j = 0; j < t->partition_count; j++) {
            kw_i32(w, t->partitions[j].index);
            write_records(w, flex, t->partitions[j].records);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static void produce_write_part(struct kw *w, int16_t version, bool flex,
                               const struct kafka_produce_part_resp *p) {
    kw_i32(w, p->index);        /* Index */
    kw_error(w, p->error_code);   /* ErrorCode */
    kw_i64(w, p->base_offset);  /* BaseOffset */
    if (version >= 2) kw_i64(w, p->log_append_time_ms); /* LogAppendTimeMs: v2+ */
    if (version >= 5) kw_i64(w, p->log_start_offset);   /* LogStartOffset: v5+ */
    if (version >= 8) {
        kw_array(w, flex, p->record_error_count); /* RecordErrors: v8+ */
        for (int32_t k = 0; k < p->record_error_count; k++) {
            kw_i32(w, p->record_errors[k].batch_index);            /* BatchIndex */
            kafka_write_str(w, flex, p->record_errors[k].message); /* BatchIndexErrorMessage */
            kw_tags(w, flex);
        }
        kafka_write_str(w, flex, p->error_message); /* ErrorMessage: v8+ */
    }
    kw_tags(w, flex); /* CurrentLeader (tag 0) is v10+: not served */
}

void kafka_encode_produce_resp(struct kw *w, int16_t version,
                               const struct kafka_produce_resp *resp) {
    SL_ASSERT(kafka_api_supported(KAFKA_PRODUCE, version));
    bool flex = kafka_api_flexible(KAFKA_PRODUCE, version);
    kw_array(w, flex, resp->topic_count); /* Responses */
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_produce_topic_resp *t = &resp->topics[i];
        kafka_write_str(w, flex, t->name);     /* Name */
        kw_array(w, flex, t->partition_count); /* PartitionResponses */
        for (int32_t j = 0; j < t->partition_count; j++)
            produce_write_part(w, version, flex, &t->partitions[j]);
        kw_tags(w, flex);
    }
    if (version >= 1) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v1+ */
    kw_tags(w, flex);
}

static void produce_read_part(struct kr *r, int16_t version, bool flex, struct karena *a,
                              struct kafka_produce_part_resp *p) {
    p->index = kr_i32(r);       /* Index */
    p->error_code = kr_i16(r);  /* ErrorCode */
    p->base_offset = kr_i64(r); /* BaseOffset */
    p->log_append_time_ms = version >= 2 ? kr_i64(r) : -1; /* LogAppendTimeMs: v2+ */
    p->log_start_offset = version >= 5 ? kr_i64(r) : -1;   /* LogStartOffset: v5+ */
    p->error_message = kstr_null;
    if (version >= 8) {
        /* RecordErrors: v8+ */
        p->record_error_count = kafka_read_array(r, flex, false, MIN_PRODUCE_RECORD_ERROR);
        p->record_errors = kafka_alloc_array(a, p->record_error_count, sizeof(*p->record_errors));
        for (int32_t k = 0; k < p->record_error_count && !r->err; k++) {
            p->record_errors[k].batch_index = kr_i32(r);                 /* BatchIndex */
            /* BatchIndexErrorMessage: nullable */
            p->record_errors[k].message = kafka_read_str(r, flex, true);
            kr_tags(r, flex);
        }
        p->error_message = kafka_read_str(r, flex, true); /* ErrorMessage: v8+ */
    }
    kr_tags(r, flex);
}

sl_err kafka_decode_produce_resp(struct kr *r, int16_t version, struct karena *a,
                                 struct kafka_produce_resp *out) {
    memset(out, 0, sizeof(*out));
    if (!kafka_api_supported(KAFKA_PRODUCE, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_PRODUCE, version);
    out->topic_count = kafka_read_array(r, flex, false, MIN_PRODUCE_TOPIC); /* Responses */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_produce_topic_resp *t = &out->topics[i];
        t->name = kafka_read_str(r, flex, false); /* Name */
        /* PartitionResponses */
        t->partition_count = kafka_read_array(r, flex, false, MIN_PRODUCE_PART_RESP);
        t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
        for (int32_t j = 0; j < t->partition_count && !r->err; j++)
            produce_read_part(r, version, flex, a, &t->partitions[j]);
        kr_tags(r, flex);
    }
    if (version >= 1) out->throttle_time_ms = kr_i32(r); /* ThrottleTimeMs: v1+ */
    kr_tags(r, flex);
    return r->err;
}

/* ============================================================================================
 * Fetch
 * ========================================================================================== */

static void fetch_read_part(struct kr *r, int16_t version, bool flex, struct kafka_fetch_part *p) {
    p->partition = kr_i32(r);                                    /* Partition */
    p->current_leader_epoch = version >= 9 ? kr_i32(r) : -1;     /* CurrentLeaderEpoch: v9+ */
    p->fetch_offset = kr_i64(r);                                 /* FetchOffset */
    p->last_fetched_epoch = version >= 12 ? kr_i32(r) : -1;      /* LastFetchedEpoch: v12+ */
    p->log_start_offset = version >= 5 ? kr_i64(r) : -1;         /* LogStartOffset: v5+ */
    p->partition_max_bytes = kr_i32(r);                          /* PartitionMaxBytes */
    kr_tags(r, flex); /* ReplicaDirectoryId (tag 0) is v17+: skipped */
}

/* Topic (a name) before v13, TopicId (a uuid) from v13; the other one is left empty. */
static void fetch_read_topic(struct kr *r, int16_t version, bool flex, struct kstr *topic, uint8_t id[16]) {
    if (version >= 13) {
        *topic = (struct kstr){"", 0};
        kr_uuid(r, id);
    } else {
        *topic = kafka_read_str(r, flex, false);
        memset(id, 0, 16);
    }
}

static void fetch_write_topic(struct kw *w, int16_t version, bool flex, struct kstr topic, const uint8_t id[16]) {
    if (version >= 13) kw_uuid(w, id);
    else kafka_write_str(w, flex, topic);
}

sl_err kafka_decode_fetch(struct kr *r, int16_t version, struct karena *a,
                          struct kafka_fetch_req *out) {
    memset(out, 0, sizeof(*out));
    out->max_bytes = INT32_MAX;
    out->session_epoch = -1;
    out->rack_id = (struct kstr){"", 0};
    if (!kafka_api_supported(KAFKA_FETCH, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    out->replica_id = version <= 14 ? kr_i32(r) : -1; /* ReplicaId: v0-14 (then ReplicaState, tagged) */
    out->max_wait_ms = kr_i32(r); /* MaxWaitMs */
    out->min_bytes = kr_i32(r);   /* MinBytes */
    if (version >= 3) out->max_bytes = kr_i32(r);      /* MaxBytes: v3+ */
    if (version >= 4) out->isolation_level = kr_i8(r); /* IsolationLevel: v4+ */
    if (version >= 7) {
        out->session_id = kr_i32(r);    /* SessionId: v7+ */
        out->session_epoch = kr_i32(r); /* SessionEpoch: v7+ */
    }
    out->topic_count = kafka_read_array(r, flex, false, MIN_FETCH_TOPIC); /* Topics */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_fetch_topic *t = &out->topics[i];
        fetch_read_topic(r, version, flex, &t->topic, t->topic_id); /* Topic: v0-12, TopicId: v13+ */
        t->partition_count = kafka_read_array(r, flex, false, MIN_FETCH_PART); /* Partitions */
        t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
        for (int32_t j = 0; j < t->partition_count && !r->err; j++)
            fetch_read_part(r, version, flex, &t->partitions[j]);
        kr_tags(r, flex);
    }
    if (version >= 7) { /* ForgottenTopicsData: v7+ */
        out->forgotten_count = kafka_read_array(r, flex, false, MIN_FETCH_FORGOTTEN);
        out->forgotten = kafka_alloc_array(a, out->forgotten_count, sizeof(*out->forgotten));
        for (int32_t i = 0; i < out->forgotten_count && !r->err; i++) {
            struct kafka_fetch_forgotten *f = &out->forgotten[i];
            fetch_read_topic(r, version, flex, &f->topic, f->topic_id); /* Topic: v7-12, TopicId: v13+ */
            f->partitions = read_i32_array(r, flex, a, &f->partition_count); /* Partitions */
            kr_tags(r, flex);
        }
    }
    if (version >= 11) out->rack_id = kafka_read_str(r, flex, false); /* RackId: v11+ */
    kr_tags(r, flex); /* ClusterId (tag 0) v12+: skipped */
    return r->err;
}

void kafka_encode_fetch_req(struct kw *w, int16_t version, const struct kafka_fetch_req *req) {
    SL_ASSERT(kafka_api_supported(KAFKA_FETCH, version));
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    if (version <= 14) kw_i32(w, req->replica_id); /* ReplicaId: v0-14 */
    kw_i32(w, req->max_wait_ms);
    kw_i32(w, req->min_bytes);
    if (version >= 3) kw_i32(w, req->max_bytes);      /* MaxBytes: v3+ */
    if (version >= 4) kw_i8(w, req->isolation_level); /* IsolationLevel: v4+ */
    if (version >= 7) {
        kw_i32(w, req->session_id);    /* SessionId: v7+ */
        kw_i32(w, req->session_epoch); /* SessionEpoch: v7+ */
    }
    kw_array(w, flex, req->topic_count); /* Topics */
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_fetch_topic *t = &req->topics[i];
        fetch_write_topic(w, version, flex, t->topic, t->topic_id); /* Topic: v0-12, TopicId: v13+ */
        kw_array(w, flex, t->partition_count);
        for (int32_t j = 0; j < t->partition_count; j++) {
            const struct kafka_fetch_part *p = &t->partitions[j];
            kw_i32(w, p->partition);
            if (version >= 9) kw_i32(w, p->current_leader_epoch); /* CurrentLeaderEpoch: v9+ */
            kw_i64(w, p->fetch_offset);
            if (version >= 12) kw_i32(w, p->last_fetched_epoch); /* LastFetchedEpoch: v12+ */
            if (version >= 5) kw_i64(w, p->log_start_offset);    /* LogStartOffset: v5+ */
            kw_i32(w, p->partition_max_bytes);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    if (version >= 7) { /* ForgottenTopicsData: v7+ */
        kw_array(w, flex, req->forgotten_count);
        for (int32_t i = 0; i < req->forgotten_count; i++) {
            const struct kafka_fetch_forgotten *f = &req->forgotten[i];
            fetch_write_topic(w, version, flex, f->topic, f->topic_id); /* Topic: v7-12, TopicId: v13+ */
            write_i32_array(w, flex, f->partition_count, f->partitions);
            kw_tags(w, flex);
        }
    }
    if (version >= 11) kafka_write_str(w, flex, req->rack_id); /* RackId: v11+ */
    kw_tags(w, flex);
}

void kafka_encode_fetch_resp_begin(struct kw *w, int16_t version, int32_t throttle_ms,
                                   int16_t error_code, int32_t session_id, int32_t topic_count) {
    SL_ASSERT(kafka_api_supported(KAFKA_FETCH, version));
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    if (version >= 1) kw_i32(w, throttle_ms); /* ThrottleTimeMs: v1+ */
    if (version >= 7) {
        kw_error(w, error_code); /* ErrorCode: v7+ */
        kw_i32(w, session_id); /* SessionId: v7+ */
    }
    kw_array(w, flex, topic_count); /* Responses */
}

void kafka_encode_fetch_topic_begin(struct kw *w, int16_t version, struct kstr topic,
                                    const uint8_t topic_id[16], int32_t partition_count) {
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    fetch_write_topic(w, version, flex, topic, topic_id); /* Topic: v0-12, TopicId: v13+ */
    kw_array(w, flex, partition_count); /* Partitions */
}

void kafka_encode_fetch_partition_begin(struct kw *w, int16_t version,
                                        const struct kafka_fetch_part_resp *p,
                                        int32_t records_len) {
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    kw_i32(w, p->partition_index); /* PartitionIndex */
    kw_error(w, p->error_code);      /* ErrorCode */
    kw_i64(w, p->high_watermark);  /* HighWatermark */
    if (version >= 4) kw_i64(w, p->last_stable_offset); /* LastStableOffset: v4+ */
    if (version >= 5) kw_i64(w, p->log_start_offset);   /* LogStartOffset: v5+ */
    /* DivergingEpoch, CurrentLeader, SnapshotId are tagged (v12+): in partition_end's section. */
    if (version >= 4) { /* AbortedTransactions: v4+, nullable */
        kw_array(w, flex, p->aborted_count);
        for (int32_t k = 0; k < p->aborted_count; k++) {
            kw_i64(w, p->aborted[k].producer_id);  /* ProducerId */
            kw_i64(w, p->aborted[k].first_offset); /* FirstOffset */
            kw_tags(w, flex);
        }
    }
    if (version >= 11) kw_i32(w, p->preferred_read_replica); /* PreferredReadReplica: v11+ */
    /* Records: nullable; only the length here, the bytes follow from the caller. */
    SL_ASSERT(records_len >= -1);
    if (flex) kw_uvarint(w, (uint32_t)(records_len + 1));
    else kw_i32(w, records_len);
}

void kafka_encode_fetch_partition_end(struct kw *w, int16_t version, const struct kafka_fetch_part_resp *p) {
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    if (!flex || !p->diverging || version < 12) {
        kw_tags(w, flex);
        return;
    }
    kw_uvarint(w, 1);  /* one tagged field */
    kw_uvarint(w, 0);  /* tag 0: DivergingEpoch */
    kw_uvarint(w, 13); /* Epoch int32, EndOffset int64, its own empty tagged fields */
    kw_i32(w, p->diverging_epoch);
    kw_i64(w, p->diverging_end_offset);
    kw_tags(w, true);
}

void kafka_encode_fetch_topic_end(struct kw *w, int16_t version) {
    kw_tags(w, kafka_api_flexible(KAFKA_FETCH, version));
}

void kafka_encode_fetch_resp_end(struct kw *w, int16_t version) {
    kw_tags(w, kafka_api_flexible(KAFKA_FETCH, version)); /* NodeEndpoints (tag 0) is v16+ */
}

void kafka_encode_fetch_resp(struct kw *w, int16_t version, const struct kafka_fetch_resp *resp) {
    kafka_encode_fetch_resp_begin(w, version, resp->throttle_time_ms, resp->error_code,
                                  resp->session_id, resp->topic_count);
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_fetch_topic_resp *t = &resp->topics[i];
        kafka_encode_fetch_topic_begin(w, version, t->topic, t->topic_id, t->partition_count);
        for (int32_t j = 0; j < t->partition_count; j++) {
            const struct kafka_fetch_part_resp *p = &t->partitions[j];
            int32_t len = p->records.p ? p->records.len : -1;
            kafka_encode_fetch_partition_begin(w, version, p, len);
            if (len > 0) kw_raw(w, p->records.p, (size_t)len);
            kafka_encode_fetch_partition_end(w, version, p);
        }
        kafka_encode_fetch_topic_end(w, version);
    }
    kafka_encode_fetch_resp_end(w, version);
}

static void fetch_read_part_resp(struct kr *r, int16_t version, bool flex, struct karena *a,
                                 struct kafka_fetch_part_resp *p) {
    p->partition_index = kr_i32(r); /* PartitionIndex */
    p->error_code = kr_i16(r);      /* ErrorCode */
    p->high_watermark = kr_i64(r);  /* HighWatermark */
    p->last_stable_offset = version >= 4 ? kr_i64(r) : -1; /* LastStableOffset: v4+ */
    p->log_start_offset = version >= 5 ? kr_i64(r) : -1;   /* LogStartOffset: v5+ */
    p->aborted_count = -1;
    if (version >= 4) { /* AbortedTransactions: v4+, nullable */
        p->aborted_count = kafka_read_array(r, flex, true, MIN_FETCH_ABORTED);
        p->aborted = kafka_alloc_array(a, p->aborted_count, sizeof(*p->aborted));
        for (int32_t k = 0; k < p->aborted_count && !r->err; k++) {
            p->aborted[k].producer_id = kr_i64(r);  /* ProducerId */
            p->aborted[k].first_offset = kr_i64(r); /* FirstOffset */
            kr_tags(r, flex);
        }
    }
    p->preferred_read_replica = version >= 11 ? kr_i32(r) : -1; /* PreferredReadReplica: v11+ */
    p->records = kr_bytes(r, flex);                             /* Records: nullable */
    p->diverging = false;
    p->diverging_epoch = -1;
    p->diverging_end_offset = -1;
    if (!flex) return;
    /* Tagged: DivergingEpoch (0) is read; CurrentLeader (1), SnapshotId (2) and others skipped. */
    uint32_t n = kr_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        uint32_t tag = kr_uvarint(r);
        uint32_t size = kr_uvarint(r);
        if (tag != 0 || size < 12 || r->err) {
            kr_skip(r, size);
            continue;
        }
        if (kr_left(r) < size) {
            kr_skip(r, size); /* fails the read: the field runs past the end */
            break;
        }
        const uint8_t *end = r->p + size;
        p->diverging = true;
        p->diverging_epoch = kr_i32(r);
        p->diverging_end_offset = kr_i64(r);
        r->p = end; /* the struct's own tagged fields, if any */
    }
}

sl_err kafka_decode_fetch_resp(struct kr *r, int16_t version, struct karena *a,
                               struct kafka_fetch_resp *out) {
    memset(out, 0, sizeof(*out));
    if (!kafka_api_supported(KAFKA_FETCH, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_FETCH, version);
    if (version >= 1) out->throttle_time_ms = kr_i32(r); /* ThrottleTimeMs: v1+ */
    if (version >= 7) {
        out->error_code = kr_i16(r); /* ErrorCode: v7+ */
        out->session_id = kr_i32(r); /* SessionId: v7+ */
    }
    out->topic_count = kafka_read_array(r, flex, false, MIN_FETCH_TOPIC); /* Responses */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_fetch_topic_resp *t = &out->topics[i];
        fetch_read_topic(r, version, flex, &t->topic, t->topic_id); /* Topic: v0-12, TopicId: v13+ */
        t->partition_count = kafka_read_array(r, flex, false, MIN_FETCH_PART_RESP); /* Partitions */
        t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
        for (int32_t j = 0; j < t->partition_count && !r->err; j++)
            fetch_read_part_resp(r, version, flex, a, &t->partitions[j]);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ============================================================================================
 * ListOffsets
 * ========================================================================================== */

sl_err kafka_decode_list_offsets(struct kr *r, int16_t version, struct karena *a,
                                 struct kafka_list_offsets_req *out) {
    memset(out, 0, sizeof(*out));
    if (!kafka_api_supported(KAFKA_LIST_OFFSETS, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_LIST_OFFSETS, version);
    out->replica_id = kr_i32(r);                       /* ReplicaId */
    if (version >= 2) out->isolation_level = kr_i8(r); /* IsolationLevel: v2+ */
    out->topic_count = kafka_read_array(r, flex, false, MIN_LIST_OFFSETS_TOPIC); /* Topics */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_list_offsets_topic *t = &out->topics[i];
        t->name = kafka_read_str(r, flex, false); /* Name */
        t->partition_count = kafka_read_array(r, flex, false, MIN_LIST_OFFSETS_PART);
        t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
        for (int32_t j = 0; j < t->partition_count && !r->err; j++) {
            struct kafka_list_offsets_part *p = &t->partitions[j];
            p->partition_index = kr_i32(r);                          /* PartitionIndex */
            p->current_leader_epoch = version >= 4 ? kr_i32(r) : -1; /* CurrentLeaderEpoch: v4+ */
            p->timestamp = kr_i64(r);                                /* Timestamp */
            p->max_num_offsets = version == 0 ? kr_i32(r) : 1;       /* MaxNumOffsets: v0 */
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex); /* TimeoutMs is v10+: not served */
    return r->err;
}

void kafka_encode_list_offsets_req(struct kw *w, int16_t version,
                                   const struct kafka_list_offsets_req *req) {
    SL_ASSERT(kafka_api_supported(KAFKA_LIST_OFFSETS, version));
    bool flex = kafka_api_flexible(KAFKA_LIST_OFFSETS, version);
    kw_i32(w, req->replica_id);
    if (version >= 2) kw_i8(w, req->isolation_level); /* IsolationLevel: v2+ */
    kw_array(w, flex, req->topic_count);
    for (int32_t i = 0; i < req->topic_count; i++) {
        const struct kafka_list_offsets_topic *t = &req->topics[i];
        kafka_write_str(w, flex, t->name);
        kw_array(w, flex, t->partition_count);
        for (int32_t j = 0; j < t->partition_count; j++) {
            const struct kafka_list_offsets_part *p = &t->partitions[j];
            kw_i32(w, p->partition_index);
            if (version >= 4) kw_i32(w, p->current_leader_epoch); /* CurrentLeaderEpoch: v4+ */
            kw_i64(w, p->timestamp);
            if (version == 0) kw_i32(w, p->max_num_offsets); /* MaxNumOffsets: v0 */
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_list_offsets_resp(struct kw *w, int16_t version,
                                    const struct kafka_list_offsets_resp *resp) {
    SL_ASSERT(kafka_api_supported(KAFKA_LIST_OFFSETS, version));
    bool flex = kafka_api_flexible(KAFKA_LIST_OFFSETS, version);
    if (version >= 2) kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs: v2+ */
    kw_array(w, flex, resp->topic_count);                 /* Topics */
    for (int32_t i = 0; i < resp->topic_count; i++) {
        const struct kafka_list_offsets_topic_resp *t = &resp->topics[i];
        kafka_write_str(w, flex, t->name);
        kw_array(w, flex, t->partition_count);
        for (int32_t j = 0; j < t->partition_count; j++) {
            const struct kafka_list_offsets_part_resp *p = &t->partitions[j];
            kw_i32(w, p->partition_index);
            kw_error(w, p->error_code);
            if (version == 0) { /* OldStyleOffsets: v0 */
                kw_array(w, flex, p->old_style_offset_count);
                for (int32_t k = 0; k < p->old_style_offset_count; k++)
                    kw_i64(w, p->old_style_offsets[k]);
            }
            if (version >= 1) {
                kw_i64(w, p->timestamp); /* Timestamp: v1+ */
                kw_i64(w, p->offset);    /* Offset: v1+ */
            }
            if (version >= 4) kw_i32(w, p->leader_epoch); /* LeaderEpoch: v4+ */
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

static void list_offsets_read_part(struct kr *r, int16_t version, bool flex, struct karena *a,
                                   struct kafka_list_offsets_part_resp *p) {
    p->partition_index = kr_i32(r); /* PartitionIndex */
    p->error_code = kr_i16(r);      /* ErrorCode */
    if (version == 0) {             /* OldStyleOffsets: v0 */
        p->old_style_offset_count = kafka_read_array(r, flex, false, 8);
        p->old_style_offsets =
            kafka_alloc_array(a, p->old_style_offset_count, sizeof(*p->old_style_offsets));
        for (int32_t k = 0; k < p->old_style_offset_count && !r->err; k++)
            p->old_style_offsets[k] = kr_i64(r);
    }
    p->timestamp = version >= 1 ? kr_i64(r) : -1;    /* Timestamp: v1+ */
    p->offset = version >= 1 ? kr_i64(r) : -1;       /* Offset: v1+ */
    p->leader_epoch = version >= 4 ? kr_i32(r) : -1; /* LeaderEpoch: v4+ */
    kr_tags(r, flex);
}

sl_err kafka_decode_list_offsets_resp(struct kr *r, int16_t version, struct karena *a,
                                      struct kafka_list_offsets_resp *out) {
    memset(out, 0, sizeof(*out));
    if (!kafka_api_supported(KAFKA_LIST_OFFSETS, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_LIST_OFFSETS, version);
    if (version >= 2) out->throttle_time_ms = kr_i32(r); /* ThrottleTimeMs: v2+ */
    out->topic_count = kafka_read_array(r, flex, false, MIN_LIST_OFFSETS_TOPIC); /* Topics */
    out->topics = kafka_alloc_array(a, out->topic_count, sizeof(*out->topics));
    for (int32_t i = 0; i < out->topic_count && !r->err; i++) {
        struct kafka_list_offsets_topic_resp *t = &out->topics[i];
        t->name = kafka_read_str(r, flex, false); /* Name */
        t->partition_count = kafka_read_array(r, flex, false, MIN_LIST_OFFSETS_PART_RESP);
        t->partitions = kafka_alloc_array(a, t->partition_count, sizeof(*t->partitions));
        for (int32_t j = 0; j < t->partition_count && !r->err; j++)
            list_offsets_read_part(r, version, flex, a, &t->partitions[j]);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ============================================================================================
 * InitProducerId
 * ========================================================================================== */

sl_err kafka_decode_init_producer_id(struct kr *r, int16_t version, struct karena *a,
                                     struct kafka_init_producer_id_req *out) {
    (void)a; /* no arrays: the arena is taken for the same shape as every decoder */
    memset(out, 0, sizeof(*out));
    out->transactional_id = kstr_null;
    out->producer_id = -1;
    out->producer_epoch = -1;
    if (!kafka_api_supported(KAFKA_INIT_PRODUCER_ID, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_INIT_PRODUCER_ID, version);
    out->transactional_id = kafka_read_str(r, flex, true); /* TransactionalId: nullable */
    out->transaction_timeout_ms = kr_i32(r);               /* TransactionTimeoutMs */
    if (version >= 3) {
        out->producer_id = kr_i64(r);    /* ProducerId: v3+ */
        out->producer_epoch = kr_i16(r); /* ProducerEpoch: v3+ */
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_init_producer_id_req(struct kw *w, int16_t version,
                                       const struct kafka_init_producer_id_req *req) {
    SL_ASSERT(kafka_api_supported(KAFKA_INIT_PRODUCER_ID, version));
    bool flex = kafka_api_flexible(KAFKA_INIT_PRODUCER_ID, version);
    kafka_write_str(w, flex, req->transactional_id);
    kw_i32(w, req->transaction_timeout_ms);
    if (version >= 3) {
        kw_i64(w, req->producer_id);    /* ProducerId: v3+ */
        kw_i16(w, req->producer_epoch); /* ProducerEpoch: v3+ */
    }
    kw_tags(w, flex);
}

void kafka_encode_init_producer_id_resp(struct kw *w, int16_t version,
                                        const struct kafka_init_producer_id_resp *resp) {
    SL_ASSERT(kafka_api_supported(KAFKA_INIT_PRODUCER_ID, version));
    bool flex = kafka_api_flexible(KAFKA_INIT_PRODUCER_ID, version);
    kw_i32(w, resp->throttle_time_ms); /* ThrottleTimeMs */
    kw_error(w, resp->error_code);       /* ErrorCode */
    kw_i64(w, resp->producer_id);      /* ProducerId */
    kw_i16(w, resp->producer_epoch);   /* ProducerEpoch */
    kw_tags(w, flex);
}

sl_err kafka_decode_init_producer_id_resp(struct kr *r, int16_t version, struct karena *a,
                                          struct kafka_init_producer_id_resp *out) {
    (void)a;
    memset(out, 0, sizeof(*out));
    if (!kafka_api_supported(KAFKA_INIT_PRODUCER_ID, version)) return SL_INVALID_ARG;
    bool flex = kafka_api_flexible(KAFKA_INIT_PRODUCER_ID, version);
    out->throttle_time_ms = kr_i32(r); /* ThrottleTimeMs */
    out->error_code = kr_i16(r);       /* ErrorCode */
    out->producer_id = kr_i64(r);      /* ProducerId */
    out->producer_epoch = kr_i16(r);   /* ProducerEpoch */
    kr_tags(r, flex);
    return r->err;
}
