/* kafka_msgs_sasl.c: SASL and SCRAM credential bodies, and the SCRAM/PLAIN client messages
 * (see kafka_msgs_sasl.h). */
#include "protocol/kafka_msgs_sasl.h"

#include <string.h>

#include "base/base.h"
#include "protocol/kafka_codec.h"

enum { HANDSHAKE_MAX = 1, AUTHENTICATE_MAX = 2, DESCRIBE_SCRAM_MAX = 0, ALTER_SCRAM_MAX = 0 };

/* ---- SaslHandshake: never flexible ---- */

sl_err kafka_decode_sasl_handshake(struct kr *r, int16_t v, struct karena *a, struct kafka_sasl_handshake_req *out) {
    (void)a;
    DEC_VERSION(v, HANDSHAKE_MAX);
    out->mechanism = dec_str(r, false); /* Mechanism */
    return r->err;
}

void kafka_encode_sasl_handshake_req(struct kw *w, int16_t v, const struct kafka_sasl_handshake_req *req) {
    ENC_VERSION(v, HANDSHAKE_MAX);
    enc_str(w, false, req->mechanism);
}

void kafka_encode_sasl_handshake_resp(struct kw *w, int16_t v, const struct kafka_sasl_handshake_resp *resp) {
    ENC_VERSION(v, HANDSHAKE_MAX);
    kw_error(w, resp->error_code);                                             /* ErrorCode */
    enc_strs(w, false, resp->mechanisms, resp->mechanism_count, false);        /* Mechanisms */
}

sl_err kafka_decode_sasl_handshake_resp(struct kr *r, int16_t v, struct karena *a,
                                        struct kafka_sasl_handshake_resp *out) {
    DEC_VERSION(v, HANDSHAKE_MAX);
    memset(out, 0, sizeof(*out));
    out->error_code = kr_i16(r);
    out->mechanisms = dec_strs(r, false, a, false, &out->mechanism_count);
    return r->err;
}

/* ---- SaslAuthenticate: flexible from v2 ---- */

sl_err kafka_decode_sasl_authenticate(struct kr *r, int16_t v, struct karena *a,
                                      struct kafka_sasl_authenticate_req *out) {
    (void)a;
    DEC_VERSION(v, AUTHENTICATE_MAX);
    bool flex = v >= 2;
    out->auth_bytes = dec_bytes(r, flex); /* AuthBytes */
    kr_tags(r, flex);
    return r->err;
}

void kafka_encode_sasl_authenticate_req(struct kw *w, int16_t v, const struct kafka_sasl_authenticate_req *req) {
    ENC_VERSION(v, AUTHENTICATE_MAX);
    bool flex = v >= 2;
    enc_bytes(w, flex, req->auth_bytes);
    kw_tags(w, flex);
}

void kafka_encode_sasl_authenticate_resp(struct kw *w, int16_t v, const struct kafka_sasl_authenticate_resp *resp) {
    ENC_VERSION(v, AUTHENTICATE_MAX);
    bool flex = v >= 2;
    kw_error(w, resp->error_code);              /* ErrorCode */
    enc_nstr(w, flex, resp->error_message);     /* ErrorMessage */
    enc_bytes(w, flex, resp->auth_bytes);       /* AuthBytes */
    if (v >= 1) kw_i64(w, resp->session_lifetime_ms); /* SessionLifetimeMs */
    kw_tags(w, flex);
}

sl_err kafka_decode_sasl_authenticate_resp(struct kr *r, int16_t v, struct karena *a,
                                           struct kafka_sasl_authenticate_resp *out) {
    (void)a;
    DEC_VERSION(v, AUTHENTICATE_MAX);
    bool flex = v >= 2;
    memset(out, 0, sizeof(*out));
    out->error_code = kr_i16(r);
    out->error_message = kafka_read_str(r, flex, true);
    out->auth_bytes = dec_bytes(r, flex);
    if (v >= 1) out->session_lifetime_ms = kr_i64(r);
    kr_tags(r, flex);
    return r->err;
}

/* ---- DescribeUserScramCredentials: flexible ---- */

sl_err kafka_decode_describe_user_scram_credentials(struct kr *r, int16_t v, struct karena *a,
                                                    struct kafka_describe_user_scram_credentials_req *out) {
    DEC_VERSION(v, DESCRIBE_SCRAM_MAX);
    memset(out, 0, sizeof(*out));
    out->user_count = dec_count(r, true, true, 2); /* Users: nullable */
    out->users = DEC_ARRAY(a, out->user_count, struct kstr);
    for (int32_t i = 0; i < out->user_count && !r->err; i++) {
        out->users[i] = dec_str(r, true); /* Name */
        kr_tags(r, true);
    }
    kr_tags(r, true);
    return r->err;
}

void kafka_encode_describe_user_scram_credentials_req(struct kw *w, int16_t v,
                                                      const struct kafka_describe_user_scram_credentials_req *req) {
    ENC_VERSION(v, DESCRIBE_SCRAM_MAX);
    enc_count(w, true, req->user_count, true);
    for (int32_t i = 0; i < req->user_count; i++) {
        enc_str(w, true, req->users[i]);
        kw_tags(w, true);
    }
    kw_tags(w, true);
}

void kafka_encode_describe_user_scram_credentials_resp(struct kw *w, int16_t v,
                                                       const struct kafka_describe_user_scram_credentials_resp *resp) {
    ENC_VERSION(v, DESCRIBE_SCRAM_MAX);
    kw_i32(w, resp->throttle_time_ms);        /* ThrottleTimeMs */
    kw_error(w, resp->error_code);            /* ErrorCode */
    enc_nstr(w, true, resp->error_message);   /* ErrorMessage */
    enc_count(w, true, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        const struct kafka_describe_user_scram_credentials_result *res = &resp->results[i];
        enc_str(w, true, res->user);              /* User */
        kw_error(w, res->error_code);             /* ErrorCode */
        enc_nstr(w, true, res->error_message);    /* ErrorMessage */
        enc_count(w, true, res->info_count, false); /* CredentialInfos */
        for (int32_t j = 0; j < res->info_count; j++) {
            kw_i8(w, res->infos[j].mechanism);   /* Mechanism */
            kw_i32(w, res->infos[j].iterations); /* Iterations */
            kw_tags(w, true);
        }
        kw_tags(w, true);
    }
    kw_tags(w, true);
}

sl_err kafka_decode_describe_user_scram_credentials_resp(struct kr *r, int16_t v, struct karena *a,
                                                         struct kafka_describe_user_scram_credentials_resp *out) {
    DEC_VERSION(v, DESCRIBE_SCRAM_MAX);
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->error_code = kr_i16(r);
    out->error_message = kafka_read_str(r, true, true);
    out->result_count = dec_count(r, true, false, 5);
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_describe_user_scram_credentials_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        struct kafka_describe_user_scram_credentials_result *res = &out->results[i];
        res->user = dec_str(r, true);
        res->error_code = kr_i16(r);
        res->error_message = kafka_read_str(r, true, true);
        res->info_count = dec_count(r, true, false, 6);
        res->infos = DEC_ARRAY(a, res->info_count, struct kafka_scram_credential_info);
        for (int32_t j = 0; j < res->info_count && !r->err; j++) {
            res->infos[j].mechanism = kr_i8(r);
            res->infos[j].iterations = kr_i32(r);
            kr_tags(r, true);
        }
        kr_tags(r, true);
    }
    kr_tags(r, true);
    return r->err;
}

/* ---- AlterUserScramCredentials: flexible ---- */

sl_err kafka_decode_alter_user_scram_credentials(struct kr *r, int16_t v, struct karena *a,
                                                 struct kafka_alter_user_scram_credentials_req *out) {
    DEC_VERSION(v, ALTER_SCRAM_MAX);
    memset(out, 0, sizeof(*out));
    out->deletion_count = dec_count(r, true, false, 3); /* Deletions */
    out->deletions = DEC_ARRAY(a, out->deletion_count, struct kafka_scram_deletion);
    for (int32_t i = 0; i < out->deletion_count && !r->err; i++) {
        out->deletions[i].name = dec_str(r, true);   /* Name */
        out->deletions[i].mechanism = kr_i8(r);      /* Mechanism */
        kr_tags(r, true);
    }
    out->upsertion_count = dec_count(r, true, false, 9); /* Upsertions */
    out->upsertions = DEC_ARRAY(a, out->upsertion_count, struct kafka_scram_upsertion);
    for (int32_t i = 0; i < out->upsertion_count && !r->err; i++) {
        struct kafka_scram_upsertion *u = &out->upsertions[i];
        u->name = dec_str(r, true);            /* Name */
        u->mechanism = kr_i8(r);               /* Mechanism */
        u->iterations = kr_i32(r);             /* Iterations */
        u->salt = dec_bytes(r, true);          /* Salt */
        u->salted_password = dec_bytes(r, true); /* SaltedPassword */
        kr_tags(r, true);
    }
    kr_tags(r, true);
    return r->err;
}

void kafka_encode_alter_user_scram_credentials_req(struct kw *w, int16_t v,
                                                   const struct kafka_alter_user_scram_credentials_req *req) {
    ENC_VERSION(v, ALTER_SCRAM_MAX);
    enc_count(w, true, req->deletion_count, false);
    for (int32_t i = 0; i < req->deletion_count; i++) {
        enc_str(w, true, req->deletions[i].name);
        kw_i8(w, req->deletions[i].mechanism);
        kw_tags(w, true);
    }
    enc_count(w, true, req->upsertion_count, false);
    for (int32_t i = 0; i < req->upsertion_count; i++) {
        const struct kafka_scram_upsertion *u = &req->upsertions[i];
        enc_str(w, true, u->name);
        kw_i8(w, u->mechanism);
        kw_i32(w, u->iterations);
        enc_bytes(w, true, u->salt);
        enc_bytes(w, true, u->salted_password);
        kw_tags(w, true);
    }
    kw_tags(w, true);
}

void kafka_encode_alter_user_scram_credentials_resp(struct kw *w, int16_t v,
                                                    const struct kafka_alter_user_scram_credentials_resp *resp) {
    ENC_VERSION(v, ALTER_SCRAM_MAX);
    kw_i32(w, resp->throttle_time_ms);             /* ThrottleTimeMs */
    enc_count(w, true, resp->result_count, false); /* Results */
    for (int32_t i = 0; i < resp->result_count; i++) {
        enc_str(w, true, resp->results[i].user);           /* User */
        kw_error(w, resp->results[i].error_code);          /* ErrorCode */
        enc_nstr(w, true, resp->results[i].error_message); /* ErrorMessage */
        kw_tags(w, true);
    }
    kw_tags(w, true);
}

sl_err kafka_decode_alter_user_scram_credentials_resp(struct kr *r, int16_t v, struct karena *a,
                                                      struct kafka_alter_user_scram_credentials_resp *out) {
    DEC_VERSION(v, ALTER_SCRAM_MAX);
    memset(out, 0, sizeof(*out));
    out->throttle_time_ms = kr_i32(r);
    out->result_count = dec_count(r, true, false, 5);
    out->results = DEC_ARRAY(a, out->result_count, struct kafka_alter_user_scram_credentials_result);
    for (int32_t i = 0; i < out->result_count && !r->err; i++) {
        out->results[i].user = dec_str(r, true);
        out->results[i].error_code = kr_i16(r);
        out->results[i].error_message = kafka_read_str(r, true, true);
        kr_tags(r, true);
    }
    kr_tags(r, true);
    return r->err;
}

/* ---- SCRAM and PLAIN client messages ---- */

/* The next ','-separated attribute of [*p, end): its span, *p moved past the comma. */
static struct kstr scram_attr(const char **p, const char *end) {
    const char *s = *p, *c = memchr(s, ',', (size_t)(end - s));
    if (!c) c = end;
    *p = c < end ? c + 1 : end;
    struct kstr k = {s, (int32_t)(c - s)};
    return k;
}

static bool scram_attr_is(struct kstr a, char name) { return a.len >= 2 && a.p[0] == name && a.p[1] == '='; }

static struct kstr scram_attr_value(struct kstr a) {
    struct kstr v = {a.p + 2, a.len - 2};
    return v;
}

/* RFC 5802 printable nonce characters: 0x21-0x7E except ','. */
static bool scram_nonce_valid(struct kstr n) {
    if (n.len < 1) return false;
    for (int32_t i = 0; i < n.len; i++)
        if ((unsigned char)n.p[i] < 0x21 || (unsigned char)n.p[i] > 0x7e || n.p[i] == ',') return false;
    return true;
}

/* saslname: "=2C" is ',', "=3D" is '='; any other '=' is malformed (RFC 5802 section 5.1). */
static bool scram_unescape_name(struct kstr in, char *out, size_t cap) {
    size_t o = 0;
    for (int32_t i = 0; i < in.len; i++) {
        char c = in.p[i];
        if (c == '=') {
            if (i + 2 >= in.len) return false;
            if (in.p[i + 1] == '2' && in.p[i + 2] == 'C') c = ',';
            else if (in.p[i + 1] == '3' && in.p[i + 2] == 'D') c = '=';
            else return false;
            i += 2;
        } else if (c == 0) {
            return false;
        }
        if (o + 1 >= cap) return false;
        out[o++] = c;
    }
    out[o] = 0;
    return o > 0;
}

sl_err scram_parse_client_first(const char *p, int32_t len, struct scram_client_first *out) {
    memset(out, 0, sizeof(*out));
    out->authzid.len = -1;
    if (!p || len < 3) return SL_INVALID_ARG;
    const char *s = p, *end = p + len;
    struct kstr cb = scram_attr(&s, end);
    if (cb.len != 1 || (cb.p[0] != 'n' && cb.p[0] != 'y')) return SL_INVALID_ARG; /* "p=" (binding) refused */
    struct kstr az = scram_attr(&s, end);
    if (az.len > 0) {
        if (!scram_attr_is(az, 'a')) return SL_INVALID_ARG;
        out->authzid = scram_attr_value(az);
    }
    if (s >= end) return SL_INVALID_ARG;
    out->gs2_header.p = p;
    out->gs2_header.len = (int32_t)(s - p);
    out->bare.p = s;
    out->bare.len = (int32_t)(end - s);
    struct kstr n = scram_attr(&s, end);
    if (!scram_attr_is(n, 'n') || !scram_unescape_name(scram_attr_value(n), out->user, sizeof(out->user)))
        return SL_INVALID_ARG;
    struct kstr r = scram_attr(&s, end);
    if (!scram_attr_is(r, 'r')) return SL_INVALID_ARG;
    out->nonce = scram_attr_value(r);
    if (!scram_nonce_valid(out->nonce)) return SL_INVALID_ARG;
    /* Extensions (Kafka's tokenauth=true, KIP-48) may follow; they are ignored, not refused. */
    return SL_OK;
}

sl_err scram_parse_client_final(const char *p, int32_t len, struct scram_client_final *out) {
    memset(out, 0, sizeof(*out));
    if (!p || len < 1) return SL_INVALID_ARG;
    const char *s = p, *end = p + len;
    struct kstr c = scram_attr(&s, end);
    if (!scram_attr_is(c, 'c')) return SL_INVALID_ARG;
    out->channel_binding = scram_attr_value(c);
    struct kstr r = scram_attr(&s, end);
    if (!scram_attr_is(r, 'r')) return SL_INVALID_ARG;
    out->nonce = scram_attr_value(r);
    if (!scram_nonce_valid(out->nonce)) return SL_INVALID_ARG;
    /* The proof is the last attribute; anything between is an extension. */
    for (int i = 0; s < end && i < 64; i++) {
        const char *at = s;
        struct kstr a = scram_attr(&s, end);
        if (scram_attr_is(a, 'p')) {
            if (s != end || a.p + a.len != end) return SL_INVALID_ARG;
            out->without_proof.p = p;
            out->without_proof.len = (int32_t)(at - 1 - p);
            out->proof = scram_attr_value(a);
            return out->proof.len > 0 ? SL_OK : SL_INVALID_ARG;
        }
    }
    return SL_INVALID_ARG;
}

sl_err sasl_parse_plain(const char *p, int32_t len, struct sasl_plain *out) {
    memset(out, 0, sizeof(*out));
    if (!p || len < 1) return SL_INVALID_ARG;
    const char *end = p + len;
    const char *z1 = memchr(p, 0, (size_t)len);
    if (!z1) return SL_INVALID_ARG;
    const char *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
    if (!z2 || memchr(z2 + 1, 0, (size_t)(end - z2 - 1))) return SL_INVALID_ARG;
    out->authzid = (struct kstr){p, (int32_t)(z1 - p)};
    out->user = (struct kstr){z1 + 1, (int32_t)(z2 - z1 - 1)};
    out->password = (struct kstr){z2 + 1, (int32_t)(end - z2 - 1)};
    if (out->user.len < 1 || out->password.len < 1) return SL_INVALID_ARG;
    return SL_OK;
}
