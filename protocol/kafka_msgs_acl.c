/* kafka_msgs_acl.c: DescribeAcls, CreateAcls and DeleteAcls bodies (see kafka_msgs_acl.h). */
#include "protocol/kafka_msgs_acl.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

enum { ACLS_MAX = 3 };

/* The fields of an ACL in spec order: ResourceType, ResourceName, PatternType (v1+),
 * Principal, Host, Operation, PermissionType. Filters have nullable strings. */
static void dec_acl(struct kr *r, int16_t v, bool flex, bool filter, struct kafka_acl *out) {
    out->resource_type = kr_i8(r);
    out->resource_name = kafka_read_str(r, flex, filter);
    out->pattern_type = v >= 1 ? kr_i8(r) : KAFKA_PAT_LITERAL;
    out->principal = kafka_read_str(r, flex, filter);
    out->host = kafka_read_str(r, flex, filter);
    out->operation = kr_i8(r);
    out->permission_type = kr_i8(r);
}

static void enc_acl(struct kw *w, int16_t v, bool flex, bool filter, const struct kafka_acl *acl) {
    void (*str)(struct kw *, bool, struct kstr) = filter ? enc_nstr : enc_str;
    kw_i8(w, acl->resource_type);
    str(w, flex, acl->resource_name);
    if (v >= 1) kw_i8(w, acl->pattern_type);
    str(w, flex, acl->principal);
    str(w, flex, acl->host);
    kw_i8(w, acl->operation);
    kw_i8(w, acl->permission_type);
}

/* Smallest encoded ACL: three i8, two i8 when v0, three empty strings (one byte each, flexible). */
#define ACL_MIN_BYTES 6

/* ---- DescribeAcls ---- */

sl_err kafka_decode_describe_acls(struct kr *r, int16_t v, struct karena *a, struct kafka_describe_acls_req *out) {
    (void)a;
    DEC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    dec_acl(r, v, flex, true, &out->filter);
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_describe_acls_req(struct kw *w, int16_t v, const struct kafka_describe_acls_req *req) {
    ENC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    enc_acl(w, v, flex, true, &req->filter);
    kw_tags(w, flex);
}

void kafka_encode_describe_acls_resp(struct kw *w, int16_t v, const struct kafka_describe_acls_resp *resp) {
    ENC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    kw_i32(w, resp->throttle_time_ms);              /* ThrottleTimeMs */
    kw_error(w, resp->error_code);                  /* ErrorCode */
    enc_nstr(w, flex, resp->error_message);         /* ErrorMessage */
    enc_count(w, flex, resp->resource_count, false); /* Resources */
    for (int32_t i = 0; i < resp->resource_count; i++) {
        const struct kafka_describe_acls_resource *res = &resp->resources[i];
        kw_i8(w, res->resource_type);                /* ResourceType */
        enc_str(w, flex, res->resource_name);        /* ResourceName */
        if (v >= 1) kw_i8(w, res->pattern_type);     /* PatternType */
        enc_count(w, flex, res->acl_count, false);   /* Acls */
        for (int32_t j = 0; j < res->acl_count; j++) {
            const struct kafka_acl_description *d = &res->acls[j];
            enc_str(w, flex, d->principal); /* Principal */
            enc_str(w, flex, d->host);      /* Host */
            kw_i8(w, d->operation);         /* Operation */
            kw_i8(w, d->permission_type);   /* PermissionType */
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_describe_acls_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_describe_acls_resp *out) {
    DEC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->error_code = kr_i16(r);
    out->error_message = kafka_read_str(r, flex, true);
    out->resource_count = dec_count(r, flex, false, 4);
    out->resources = DEC_ARRAY(a, out->resource_count, struct kafka_describe_acls_resource);
    for (int32_t i = 0; i < out->resource_count && !r->err; i++) {
        struct kafka_describe_acls_resource *res = &out->resources[i];
        res->resource_type = kr_i8(r);
        res->resource_name = dec_str(r, flex);
        res->pattern_type = v >= 1 ? kr_i8(r) : KAFKA_PAT_LITERAL;
        res->acl_count = dec_count(r, flex, false, 4);
        res->acls = DEC_ARRAY(a, res->acl_count, struct kafka_acl_description);
        for (int32_t j = 0; j < res->acl_count && !r->err; j++) {
            struct kafka_acl_description *d = &res->acls[j];
            d->principal = dec_str(r, flex);
            d->host = dec_str(r, flex);
            d->operation = kr_i8(r);
            d->permission_type = kr_i8(r);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- CreateAcls ---- */

sl_err kafka_decode_create_acls(struct kr *r, int16_t v, struct karena *a, struct kafka_create_acls_req *out) {
    DEC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    out->creation_count = dec_count(r, flex, false, ACL_MIN_BYTES); /* Creations */
    out->creations = DEC_ARRAY(a, out->creation_count, struct kafka_acl);
    for (int32_t i = 0; i < out->creation_count && !r->err; i++) {
        dec_acl(r, v, flex, false, &out->creations[i]);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_create_acls_req(struct kw *w, int16_t v, const struct kafka_create_acls_req *req) {
    ENC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    enc_count(w, flex, req->creation_count, false);
    for (int32_t i = 0; i < req->creation_count; i++) {
        enc_acl(w, v, flex, false, &req->creations[i]);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_create_acls_resp(struct kw *w, int16_t v, const struct kafka_create_acls_resp *resp) {
    ENC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    kw_i32(w, resp->throttle_time_ms);            /* ThrottleTimeMs */
    enc_count(w, flex, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        kw_error(w, resp->results[i].error_code);          /* ErrorCode */
        enc_nstr(w, flex, resp->results[i].error_message); /* ErrorMessage */
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_create_acls_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_create_acls_resp *out) {
    DEC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->result_count = dec_count(r, flex, false, 3);
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_acl_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        out->results[i].error_code = kr_i16(r);
        out->results[i].error_message = kafka_read_str(r, flex, true);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

/* ---- DeleteAcls ---- */

sl_err kafka_decode_delete_acls(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_acls_req *out) {
    DEC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    out->filter_count = dec_count(r, flex, false, ACL_MIN_BYTES); /* Filters */
    out->filters = DEC_ARRAY(a, out->filter_count, struct kafka_acl);
    for (int32_t i = 0; i < out->filter_count && !r->err; i++) {
        dec_acl(r, v, flex, true, &out->filters[i]);
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_delete_acls_req(struct kw *w, int16_t v, const struct kafka_delete_acls_req *req) {
    ENC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    enc_count(w, flex, req->filter_count, false);
    for (int32_t i = 0; i < req->filter_count; i++) {
        enc_acl(w, v, flex, true, &req->filters[i]);
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

void kafka_encode_delete_acls_resp(struct kw *w, int16_t v, const struct kafka_delete_acls_resp *resp) {
    ENC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    kw_i32(w, resp->throttle_time_ms);            /* ThrottleTimeMs */
    enc_count(w, flex, resp->result_count, false); /* FilterResults */
    for (int32_t i = 0; i < resp->result_count; i++) {
        const struct kafka_delete_acls_filter_result *fr = &resp->results[i];
        kw_error(w, fr->error_code);               /* ErrorCode */
        enc_nstr(w, flex, fr->error_message);      /* ErrorMessage */
        enc_count(w, flex, fr->match_count, false); /* MatchingAcls */
        for (int32_t j = 0; j < fr->match_count; j++) {
            kw_error(w, fr->matches[j].error_code);          /* ErrorCode */
            enc_nstr(w, flex, fr->matches[j].error_message); /* ErrorMessage */
            enc_acl(w, v, flex, false, &fr->matches[j].acl);
            kw_tags(w, flex);
        }
        kw_tags(w, flex);
    }
    kw_tags(w, flex);
}

sl_err kafka_decode_delete_acls_resp(struct kr *r, int16_t v, struct karena *a, struct kafka_delete_acls_resp *out) {
    DEC_VERSION(v, ACLS_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->result_count = dec_count(r, flex, false, 4);
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_delete_acls_filter_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        struct kafka_delete_acls_filter_result *fr = &out->results[i];
        fr->error_code = kr_i16(r);
        fr->error_message = kafka_read_str(r, flex, true);
        fr->match_count = dec_count(r, flex, false, 3 + ACL_MIN_BYTES);
        fr->matches = DEC_ARRAY(a, fr->match_count, struct kafka_delete_acls_match);
        for (int32_t j = 0; j < fr->match_count && !r->err; j++) {
            fr->matches[j].error_code = kr_i16(r);
            fr->matches[j].error_message = kafka_read_str(r, flex, true);
            dec_acl(r, v, flex, false, &fr->matches[j].acl);
            kr_tags(r, flex);
        }
        kr_tags(r, flex);
    }
    kr_tags(r, flex);
    return r->err;
}
