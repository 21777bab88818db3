/* kafka_msgs_quota.c: DescribeClientQuotas and AlterClientQuotas bodies (see kafka_msgs_quota.h). */
#include "protocol/kafka_msgs_quota.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

enum { DESCRIBE_QUOTAS_MAX = 1, ALTER_QUOTAS_MAX = 1 };

/* float64: the IEEE 754 bits as a big-endian int64. */
static double dec_f64(struct kr *r) {
    uint64_t bits = (uint64_t)kr_i64(r);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static void enc_f64(struct kw *w, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    kw_i64(w, (int64_t)bits);
}

/* Entity: [EntityType string, EntityName nullable string]. */
static struct kafka_quota_entity_part *dec_entity(struct kr *r, bool flex, struct karena *a, int32_t *count) {
    *count = dec_count(r, flex, false, flex ? 3 : 4);
    struct kafka_quota_entity_part *e = DEC_ARRAY(a, *count, struct kafka_quota_entity_part);
    for (int32_t i = 0; i < *count && !r->err; i++) {
        e[i].entity_type = dec_str(r, flex);
        e[i].entity_name = kafka_read_str(r, flex, true);
        kr_tags(r, flex);
    }
    return e;
}

static void enc_entity(struct kw *w, bool flex, const struct kafka_quota_entity_part *e, int32_t n) {
    enc_count(w, flex, n, false);
    for (int32_t i = 0; i < n; i++) {
        enc_str(w, flex, e[i].entity_type);
        enc_nstr(w, flex, e[i].entity_name);
        kw_tags(w, flex);
    }
}

/* ---- DescribeClientQuotas ---- */

sl_err kafka_decode_describe_client_quotas(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_describe_client_quotas_req *out) {
    DEC_VERSION(v, DESCRIBE_QUOTAS_MAX);
    bool flex = v >= 1;
    memset(out, 0, sizeof(*out));
    out->component_count = dec_count(r, flex, false, flex ? 4 : 5); /* Components */
    out->components = DEC_ARRAY(a, out->component_count, struct kafka_quota_component);
    for (int32_t i = 0; i < out->component_count && !r->err; i++) {
        struct kafka_quota_component *c = &out->components[i];
        c->entity_type = dec_str(r, flex);            /* EntityType */
        c->match_type = kr_i8(r);                     /* MatchType */
        c->match = kafka_read_str(r, flex, true);     /* Match */
        kr_tags(r, flex);
    }
    out->strict = kr_bool(r); /* Strict */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_describe_client_quotas_req(struct kw *w, int16_t v, const struct kafka_describe_client_quotas_req *req) {
    ENC_VERSION(v, DESCRIBE_QUOTAS_MAX);
    bool flex = v >= 1;
    enc_count(w, flex, req->component_count, false);
    for (int32_t i = 0; i < req->component_count; i++) {
        enc_str(w, flex, req->components[i].entity_type);
        kw_i8(w, req->components[i].match_type);
        enc_nstr(w, flex, req->components[i].match);
        kw_tags(w, flex);
    }
    kw_bool(w, req->strict);
    kw_tags(w, flex);
}

void kafka_encode_describe_client_quotas_resp(struct kw *w, int16_t v,
                                              const struct kafka_describe_client_quotas_resp *resp) {
    ENC_VERSION(v, DESCRIBE_QUOTAS_MAX);
    bool flex = v >= 1;
    kw_i32(w, resp->throttle_time_ms);         /* ThrottleTimeMs */
    kw_error(w, resp->error_code);             /* ErrorCode */
    enc_nstr(w, flex, resp->error_message);    /* ErrorMessage */
    enc_count(w, flex, resp->entry_count, true); /* Entries: nullable */
    for (int32_t i = 0; i < resp->entry_count; i++) {
        const struct kafka_describe_client_quotas_entry *e = &resp->entries[i];
        enc_entity(w, flex, e->entity, e->entity_count); /* Entity */
        enc_count(w, flex, e->value_count, false);       /* Values */
        for (int32_t j = 0; j < e->value_count; j++) {
            enc_str(w, flex, e->values[j].key); /* Key */
            enc_f64(w, e->values[j].value);     /* Value */
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_describe_client_quotas_resp(struct kr *r, int16_t v, struct karena *a,
                                                struct kafka_describe_client_quotas_resp *out) {
    DEC_VERSION(v, DESCRIBE_QUOTAS_MAX);
    bool flex = v >= 1;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->error_code = kr_i16(r);
    out->error_message = kafka_read_str(r, flex, true);
    out->entry_count = dec_count(r, flex, true, 2);
    out->entries = DEC_ARRAY(a, out->entry_count, struct kafka_describe_client_quotas_entry);
    for (int32_t i = 0; i < out->entry_count && !r->err; i++) {
        struct kafka_describe_client_quotas_entry *e = &out->entries[i];
        e->entity = dec_entity(r, flex, a, &e->entity_count);
        e->value_count = dec_count(r, flex, false, 10);
        e->values = DEC_ARRAY(a, e->value_count, struct kafka_quota_value);
        for (int32_t j = 0; j < e->value_count && !r->err; j++) {
            e->values[j].key = dec_str(r, flex);
            e->values[j].value = dec_f64(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- AlterClientQuotas ---- */

sl_err kafka_decode_alter_client_quotas(struct kr *r, int16_t v, struct karena *a,
                                        struct kafka_alter_client_quotas_req *out) {
    DEC_VERSION(v, ALTER_QUOTAS_MAX);
    bool flex = v >= 1;
    memset(out, 0, sizeof(*out));
    out->entry_count = dec_count(r, flex, false, 2); /* Entries */
    out->entries = DEC_ARRAY(a, out->entry_count, struct kafka_alter_client_quotas_entry);
    for (int32_t i = 0; i < out->entry_count && !r->err; i++) {
        struct kafka_alter_client_quotas_entry *e = &out->entries[i];
        e->entity = dec_entity(r, flex, a, &e->entity_count); /* Entity */
        e->op_count = dec_count(r, flex, false, 10);           /* Ops */
        e->ops = DEC_ARRAY(a, e->op_count, struct kafka_quota_op);
        for (int32_t j = 0; j < e->op_count && !r->err; j++) {
            e->ops[j].key = dec_str(r, flex);  /* Key */
            e->ops[j].value = dec_f64(r);      /* Value */
            e->ops[j].remove = kr_bool(r);     /* Remove */
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    out->validate_only = kr_bool(r); /* ValidateOnly */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_alter_client_quotas_req(struct kw *w, int16_t v, const struct kafka_alter_client_quotas_req *req) {
    ENC_VERSION(v, ALTER_QUOTAS_MAX);
    bool flex = v >= 1;
    enc_count(w, flex, req->entry_count, false);
    for (int32_t i = 0; i < req->entry_count; i++) {
        const struct kafka_alter_client_quotas_entry *e = &req->entries[i];
        enc_entity(w, flex, e->entity, e->entity_count);
        enc_count(w, flex, e->op_count, false);
        for (int32_t j = 0; j < e->op_count; j++) {
            enc_str(w, flex, e->ops[j].key);
            enc_f64(w, e->ops[j].value);
            kw_bool(w, e->ops[j].remove);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_bool(w, req->validate_only);
    kw_tags(w, flex);
}

void kafka_encode_alter_client_quotas_resp(struct kw *w, int16_t v, const struct kafka_alter_client_quotas_resp *resp) {
    ENC_VERSION(v, ALTER_QUOTAS_MAX);
    bool flex = v >= 1;
    kw_i32(w, resp->throttle_time_ms);        /* ThrottleTimeMs */
    enc_count(w, flex, resp->entry_count, false); /* Entries */
    for (int32_t i = 0; i < resp->entry_count; i++) {
        const struct kafka_alter_client_quotas_result *e = &resp->entries[i];
        kw_error(w, e->error_code);                      /* ErrorCode */
        enc_nstr(w, flex, e->error_message);             /* ErrorMessage */
        enc_entity(w, flex, e->entity, e->entity_count); /* Entity */
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_alter_client_quotas_resp(struct kr *r, int16_t v, struct karena *a,
                                             struct kafka_alter_client_quotas_resp *out) {
    DEC_VERSION(v, ALTER_QUOTAS_MAX);
    bool flex = v >= 1;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->entry_count = dec_count(r, flex, false, 4);
    out->entries = DEC_ARRAY(a, out->entry_count, struct kafka_alter_client_quotas_result);
    for (int32_t i = 0; i < out->entry_count && !r->err; i++) {
        struct kafka_alter_client_quotas_result *e = &out->entries[i];
        e->error_code = kr_i16(r);
        e->error_message = kafka_read_str(r, flex, true);
        e->entity = dec_entity(r, flex, a, &e->entity_count);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}
