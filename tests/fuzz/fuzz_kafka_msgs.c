/* fuzz_kafka_msgs.c: every Kafka message decoder at every version the broker serves.
 *
 * Built twice. As fuzz_kafka_req the input is a request frame as the broker reads it (the
 * 4-byte size already stripped): request header, then body. The header is decoded exactly as
 * the broker's dispatch does, and a key/version outside kafka_api.c's table ends the run (the
 * broker closes the connection there), so captured client frames are valid seeds as they are.
 * As fuzz_kafka_resp (FUZZ_KAFKA_RESP) the input is api_key i16, api_version i16, then a
 * response frame (correlation id, header tags if flexible, body): the client side of our
 * codecs, which tests and tools rely on.
 *
 * Whatever decodes must re-encode, and the re-encoding must decode, consume every byte and
 * encode again to the same bytes: encode(decode(x)) is a fixpoint. A mismatch is a finding
 * (abort), as a crash is. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/kafka_api.h"
#include "protocol/kafka_msgs_acl.h"
#include "protocol/kafka_msgs_admin.h"
#include "protocol/kafka_msgs_core.h"
#include "protocol/kafka_msgs_group.h"
#include "protocol/kafka_msgs_quota.h"
#include "protocol/kafka_msgs_sasl.h"
#include "protocol/kafka_msgs_txn.h"
#include "protocol/kafka_msgs_txn_admin.h"
#include "protocol/karena.h"
#include "protocol/kbuf.h"

typedef sl_err (*dec_fn)(struct kr *r, int16_t v, struct karena *a, void *out);
typedef void (*enc_fn)(struct kw *w, int16_t v, const void *msg);

struct codec {
    int16_t key;
    size_t size;
    dec_fn dec;
    enc_fn enc;
};

#ifdef FUZZ_KAFKA_RESP
#define ROW(KEY, api)                                                                              \
    {KAFKA_##KEY, sizeof(struct kafka_##api##_resp), (dec_fn)kafka_decode_##api##_resp,            \
     (enc_fn)kafka_encode_##api##_resp},
#else
#define ROW(KEY, api)                                                                              \
    {KAFKA_##KEY, sizeof(struct kafka_##api##_req), (dec_fn)kafka_decode_##api,                    \
     (enc_fn)kafka_encode_##api##_req},
#endif

/* Every served key but ApiVersions, whose codecs have other shapes (handled below). */
static const struct codec codecs[] = {
    ROW(PRODUCE, produce) ROW(FETCH, fetch) ROW(LIST_OFFSETS, list_offsets) ROW(METADATA, metadata)
    ROW(OFFSET_COMMIT, offset_commit) ROW(OFFSET_FETCH, offset_fetch)
    ROW(FIND_COORDINATOR, find_coordinator) ROW(JOIN_GROUP, join_group) ROW(HEARTBEAT, heartbeat)
    ROW(LEAVE_GROUP, leave_group) ROW(SYNC_GROUP, sync_group) ROW(DESCRIBE_GROUPS, describe_groups)
    ROW(LIST_GROUPS, list_groups) ROW(CREATE_TOPICS, create_topics) ROW(DELETE_TOPICS, delete_topics)
    ROW(DELETE_RECORDS, delete_records) ROW(INIT_PRODUCER_ID, init_producer_id)
    ROW(DESCRIBE_CONFIGS, describe_configs) ROW(ALTER_CONFIGS, alter_configs)
    ROW(CREATE_PARTITIONS, create_partitions) ROW(DELETE_GROUPS, delete_groups)
    ROW(INCREMENTAL_ALTER_CONFIGS, incremental_alter_configs) ROW(OFFSET_DELETE, offset_delete)
    ROW(DESCRIBE_CLIENT_QUOTAS, describe_client_quotas) ROW(ALTER_CLIENT_QUOTAS, alter_client_quotas)
    ROW(DESCRIBE_CLUSTER, describe_cluster)
    ROW(ADD_PARTITIONS_TO_TXN, add_partitions_to_txn) ROW(ADD_OFFSETS_TO_TXN, add_offsets_to_txn)
    ROW(END_TXN, end_txn) ROW(WRITE_TXN_MARKERS, write_txn_markers) ROW(TXN_OFFSET_COMMIT, txn_offset_commit)
    ROW(DESCRIBE_TRANSACTIONS, describe_transactions) ROW(LIST_TRANSACTIONS, list_transactions)
    ROW(SASL_HANDSHAKE, sasl_handshake) ROW(SASL_AUTHENTICATE, sasl_authenticate)
    ROW(DESCRIBE_USER_SCRAM_CREDENTIALS, describe_user_scram_credentials)
    ROW(ALTER_USER_SCRAM_CREDENTIALS, alter_user_scram_credentials)
    ROW(DESCRIBE_ACLS, describe_acls) ROW(CREATE_ACLS, create_acls) ROW(DELETE_ACLS, delete_acls)};

/* ApiVersions through the same shapes. */
#ifdef FUZZ_KAFKA_RESP
static sl_err dec_av(struct kr *r, int16_t v, struct karena *a, void *out) {
    return kafka_decode_api_versions_resp(r, v, a, out);
}
/* The encoder writes the broker's own table, not the decoded one: compare the decoded fields
 * by re-encoding them by hand instead. */
static void enc_av(struct kw *w, int16_t v, const void *msg) {
    const struct kafka_api_versions_resp *m = msg;
    bool flex = kafka_api_flexible(KAFKA_API_VERSIONS, v);
    kw_i16(w, m->error_code);
    kw_array(w, flex, m->api_key_count);
    for (int32_t i = 0; i < m->api_key_count; i++) {
        kw_i16(w, m->api_keys[i].api_key);
        kw_i16(w, m->api_keys[i].min_version);
        kw_i16(w, m->api_keys[i].max_version);
        kw_tags(w, flex);
    }
    if (v >= 1) kw_i32(w, m->throttle_time_ms);
    kw_tags(w, flex);
}
static const struct codec av = {KAFKA_API_VERSIONS, sizeof(struct kafka_api_versions_resp), dec_av, enc_av};
#else
static sl_err dec_av(struct kr *r, int16_t v, struct karena *a, void *out) {
    (void)a;
    return kafka_decode_api_versions(r, v, out);
}
static void enc_av(struct kw *w, int16_t v, const void *msg) { kafka_encode_api_versions_req(w, v, msg); }
static const struct codec av = {KAFKA_API_VERSIONS, sizeof(struct kafka_api_versions_req), dec_av, enc_av};
#endif

static const struct codec *codec_for(int16_t key) {
    if (key == KAFKA_API_VERSIONS) return &av;
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (codecs[i].key == key) return &codecs[i];
    return NULL;
}

static void finding(const char *what, int16_t key, int16_t v) {
    fprintf(stderr, "fuzz_kafka_msgs: api %d v%d: %s\n", key, v, what);
    abort();
}

/* Decodes [p, p+n) into a fresh exact-size copy (so ASan sees any read past its end). */
static sl_err decode_exact(const struct codec *c, int16_t v, const uint8_t *p, size_t n,
                           struct karena *a, void *msg, uint8_t **copy, size_t *left) {
    *copy = malloc(n ? n : 1);
    if (n) memcpy(*copy, p, n);
    struct kr r = kr_make(*copy, n);
    memset(msg, 0, c->size);
    sl_err e = c->dec(&r, v, a, msg);
    *left = kr_left(&r);
    return e;
}

static void round_trip(const struct codec *c, int16_t v, const uint8_t *body, size_t n) {
    struct karena a;
    karena_init(&a, 0);
    void *m1 = calloc(1, c->size), *m2 = calloc(1, c->size);
    uint8_t *in1 = NULL, *in2 = NULL;
    size_t left;
    if (decode_exact(c, v, body, n, &a, m1, &in1, &left) == SL_OK) {
        struct kw w1, w2;
        kw_init(&w1, 0);
        kw_init(&w2, 0);
        c->enc(&w1, v, m1);
        if (decode_exact(c, v, w1.p, w1.len, &a, m2, &in2, &left) != SL_OK)
            finding("a re-encoding does not decode", c->key, v);
        if (left) finding("a re-encoding leaves bytes undecoded", c->key, v);
        c->enc(&w2, v, m2);
        if (w1.len != w2.len || memcmp(w1.p, w2.p, w1.len))
            finding("encode(decode(x)) is not a fixpoint", c->key, v);
        kw_free(&w1);
        kw_free(&w2);
    }
    free(in1);
    free(in2);
    free(m1);
    free(m2);
    karena_free(&a);
}

/* FUZZ_KAFKA_SEEDS=dir: writes one minimal valid input per served key and version (an empty
 * message, encoded), so every version has a seed even where no captured client speaks it. */
static void write_seeds(const char *dir) {
    for (uint32_t i = 0; i < kafka_api_count(); i++) {
        const struct kafka_api_info *info = kafka_api_at(i);
        const struct codec *c = codec_for(info->key);
        for (int16_t v = info->min_version; v <= info->max_version; v++) {
            struct kw w;
            kw_init(&w, 0);
#ifdef FUZZ_KAFKA_RESP
            kw_i16(&w, info->key);
            kw_i16(&w, v);
            kafka_encode_resp_header(&w, info->key, v, 7);
#else
            struct kafka_req_header h = {info->key, v, 7, {"seed", 4}};
            kafka_encode_req_header(&w, &h);
#endif
            void *m = calloc(1, c->size);
            c->enc(&w, v, m);
            free(m);
            char path[4096];
            snprintf(path, sizeof(path), "%s/seed-%d-v%d", dir, info->key, v);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(w.p, 1, w.len, f) != w.len) abort();
            fclose(f);
            kw_free(&w);
        }
    }
}

#ifndef FUZZ_KAFKA_RESP
/* A SaslAuthenticate token through every SASL parser the broker runs on it (from an exact-size
 * copy, so ASan sees a read past its end); what they accept must lie inside the token. */
static void sasl_tokens(const uint8_t *p, size_t n, int16_t v) {
    struct karena a;
    karena_init(&a, 0);
    struct kr r = kr_make(p, n);
    struct kafka_sasl_authenticate_req req;
    if (kafka_decode_sasl_authenticate(&r, v, &a, &req) == SL_OK && req.auth_bytes.len >= 0) {
        size_t len = (size_t)req.auth_bytes.len;
        char *tok = malloc(len ? len : 1);
        memcpy(tok, req.auth_bytes.p, len);
        const char *end = tok + len;
        struct scram_client_first f;
        struct scram_client_final fin;
        struct sasl_plain pl;
        if (scram_parse_client_first(tok, (int32_t)len, &f) == SL_OK &&
            (f.nonce.p + f.nonce.len > end || f.bare.p + f.bare.len > end || !f.user[0]))
            finding("client-first spans outside the token", KAFKA_SASL_AUTHENTICATE, v);
        if (scram_parse_client_final(tok, (int32_t)len, &fin) == SL_OK &&
            (fin.proof.p + fin.proof.len != end || fin.without_proof.p != tok))
            finding("client-final spans outside the token", KAFKA_SASL_AUTHENTICATE, v);
        if (sasl_parse_plain(tok, (int32_t)len, &pl) == SL_OK && pl.password.p + pl.password.len != end)
            finding("PLAIN spans outside the token", KAFKA_SASL_AUTHENTICATE, v);
        free(tok);
    }
    karena_free(&a);
}
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_KAFKA_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
#ifdef FUZZ_KAFKA_RESP
    if (size < 4) return 0;
    int16_t key = (int16_t)((data[0] << 8) | data[1]), v = (int16_t)((data[2] << 8) | data[3]);
    if (!kafka_api_supported(key, v)) return 0;
    struct kr r = kr_make(data + 4, size - 4);
    int32_t cid;
    if (kafka_decode_resp_header(&r, key, v, &cid) != SL_OK) return 0;
#else
    struct kr r = kr_make(data, size);
    struct kafka_req_header h;
    if (kafka_decode_req_header(&r, &h) != SL_OK) return 0;
    int16_t key = h.api_key, v = h.api_version;
    if (!kafka_api_supported(key, v)) return 0;
#endif
    const struct codec *c = codec_for(key);
    if (!c) finding("served but no codec", key, v);
    round_trip(c, v, r.p, kr_left(&r));
#ifndef FUZZ_KAFKA_RESP
    if (key == KAFKA_SASL_AUTHENTICATE) sasl_tokens(r.p, kr_left(&r), v);
#endif
    return 0;
}
