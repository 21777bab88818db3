/* protocol_kafka_msgs_sasl_test.c: the SaslHandshake, SaslAuthenticate and SCRAM credential codecs
 * (protocol/kafka_msgs_sasl.c) through the shared harness (round trip, truncations, flips), and the
 * SCRAM/PLAIN client-message parsers on good, truncated and hostile input. */
#include <check.h>

#include "protocol/kafka_msgs_sasl.h"
#include "kafka_msgs_harness.h"

/* ---- SaslHandshake ---- */
static void fill_sasl_handshake_req(void *m, int16_t v, struct karena *a) {
    (void)v, (void)a;
    ((struct kafka_sasl_handshake_req *)m)->mechanism = S("SCRAM-SHA-512");
}
static void check_sasl_handshake_req(const void *w, const void *g, int16_t v) {
    (void)v;
    CK_STR(((const struct kafka_sasl_handshake_req *)g)->mechanism, ((const struct kafka_sasl_handshake_req *)w)->mechanism);
}
static void fill_sasl_handshake_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_sasl_handshake_resp *p = m;
    (void)v;
    p->error_code = 33;
    p->mechanism_count = 2;
    p->mechanisms = NEW(a, struct kstr, 2);
    p->mechanisms[0] = S("PLAIN");
    p->mechanisms[1] = S("SCRAM-SHA-256");
}
static void check_sasl_handshake_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_sasl_handshake_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->error_code, w->error_code);
    ck_strs(g->mechanisms, g->mechanism_count, w->mechanisms, w->mechanism_count);
}

/* ---- SaslAuthenticate ---- */
static const uint8_t token[] = {'n', ',', ',', 0, 0xff, 'x'};
static void fill_sasl_authenticate_req(void *m, int16_t v, struct karena *a) {
    (void)v, (void)a;
    ((struct kafka_sasl_authenticate_req *)m)->auth_bytes = BLOB(token);
}
static void check_sasl_authenticate_req(const void *w, const void *g, int16_t v) {
    (void)v;
    ck_assert(kstr_eq(((const struct kafka_sasl_authenticate_req *)g)->auth_bytes,
                      ((const struct kafka_sasl_authenticate_req *)w)->auth_bytes));
}
static void fill_sasl_authenticate_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_sasl_authenticate_resp *p = m;
    (void)a;
    p->error_code = 58;
    p->error_message = S("Authentication failed");
    p->auth_bytes = BLOB(token);
    p->session_lifetime_ms = v >= 1 ? 3600000 : 0;
}
static void check_sasl_authenticate_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_sasl_authenticate_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->error_code, w->error_code);
    CK_STR(g->error_message, w->error_message);
    ck_assert(kstr_eq(g->auth_bytes, w->auth_bytes));
    CK_EQ(g->session_lifetime_ms, w->session_lifetime_ms);
}

/* ---- DescribeUserScramCredentials ---- */
static void fill_describe_user_scram_credentials_req(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_user_scram_credentials_req *q = m;
    (void)v;
    q->user_count = 2;
    q->users = NEW(a, struct kstr, 2);
    q->users[0] = S("alice");
    q->users[1] = S("bob");
}
static void check_describe_user_scram_credentials_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_user_scram_credentials_req *w = wp, *g = gp;
    (void)v;
    ck_strs(g->users, g->user_count, w->users, w->user_count);
}
static void fill_describe_user_scram_credentials_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_describe_user_scram_credentials_resp *p = m;
    (void)v;
    p->error_message = SNULL;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_describe_user_scram_credentials_result, 2);
    p->results[0] = (struct kafka_describe_user_scram_credentials_result){S("alice"), 0, SNULL, NULL, 2};
    p->results[0].infos = NEW(a, struct kafka_scram_credential_info, 2);
    p->results[0].infos[0] = (struct kafka_scram_credential_info){1, 4096};
    p->results[0].infos[1] = (struct kafka_scram_credential_info){2, 8192};
    p->results[1] = (struct kafka_describe_user_scram_credentials_result){S("bob"), 91, S("does not exist"), NULL, 0};
}
static void check_describe_user_scram_credentials_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_describe_user_scram_credentials_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < g->result_count; i++) {
        CK_STR(g->results[i].user, w->results[i].user);
        CK_EQ(g->results[i].error_code, w->results[i].error_code);
        CK_STR(g->results[i].error_message, w->results[i].error_message);
        CK_EQ(g->results[i].info_count, w->results[i].info_count);
        for (int32_t j = 0; j < g->results[i].info_count; j++) {
            CK_EQ(g->results[i].infos[j].mechanism, w->results[i].infos[j].mechanism);
            CK_EQ(g->results[i].infos[j].iterations, w->results[i].infos[j].iterations);
        }
    }
}

/* ---- AlterUserScramCredentials ---- */
static const uint8_t salt[] = {1, 2, 3, 4}, salted[] = {9, 8, 7, 6, 5};
static void fill_alter_user_scram_credentials_req(void *m, int16_t v, struct karena *a) {
    struct kafka_alter_user_scram_credentials_req *q = m;
    (void)v;
    q->deletion_count = 1;
    q->deletions = NEW(a, struct kafka_scram_deletion, 1);
    q->deletions[0] = (struct kafka_scram_deletion){S("old"), 1};
    q->upsertion_count = 1;
    q->upsertions = NEW(a, struct kafka_scram_upsertion, 1);
    q->upsertions[0] = (struct kafka_scram_upsertion){S("new"), 2, 4096, BLOB(salt), BLOB(salted)};
}
static void check_alter_user_scram_credentials_req(const void *wp, const void *gp, int16_t v) {
    const struct kafka_alter_user_scram_credentials_req *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->deletion_count, w->deletion_count);
    CK_STR(g->deletions[0].name, w->deletions[0].name);
    CK_EQ(g->deletions[0].mechanism, w->deletions[0].mechanism);
    CK_EQ(g->upsertion_count, w->upsertion_count);
    CK_STR(g->upsertions[0].name, w->upsertions[0].name);
    CK_EQ(g->upsertions[0].iterations, w->upsertions[0].iterations);
    ck_assert(kstr_eq(g->upsertions[0].salt, w->upsertions[0].salt));
    ck_assert(kstr_eq(g->upsertions[0].salted_password, w->upsertions[0].salted_password));
}
static void fill_alter_user_scram_credentials_resp(void *m, int16_t v, struct karena *a) {
    struct kafka_alter_user_scram_credentials_resp *p = m;
    (void)v;
    p->result_count = 2;
    p->results = NEW(a, struct kafka_alter_user_scram_credentials_result, 2);
    p->results[0] = (struct kafka_alter_user_scram_credentials_result){S("old"), 0, SNULL};
    p->results[1] = (struct kafka_alter_user_scram_credentials_result){S("new"), 93, S("Too few iterations")};
}
static void check_alter_user_scram_credentials_resp(const void *wp, const void *gp, int16_t v) {
    const struct kafka_alter_user_scram_credentials_resp *w = wp, *g = gp;
    (void)v;
    CK_EQ(g->result_count, w->result_count);
    for (int32_t i = 0; i < g->result_count; i++) {
        CK_STR(g->results[i].user, w->results[i].user);
        CK_EQ(g->results[i].error_code, w->results[i].error_code);
        CK_STR(g->results[i].error_message, w->results[i].error_message);
    }
}

CODEC_ADAPTERS(sasl_handshake)
CODEC_ADAPTERS(sasl_authenticate)
CODEC_ADAPTERS(describe_user_scram_credentials)
CODEC_ADAPTERS(alter_user_scram_credentials)

static const struct msg_codec codecs[] = {
    CODEC_REQ(sasl_handshake, 0, 1),      CODEC_RESP(sasl_handshake, 0, 1),
    CODEC_REQ(sasl_authenticate, 0, 2),   CODEC_RESP(sasl_authenticate, 0, 2),
    CODEC_REQ(describe_user_scram_credentials, 0, 0), CODEC_RESP(describe_user_scram_credentials, 0, 0),
    CODEC_REQ(alter_user_scram_credentials, 0, 0),    CODEC_RESP(alter_user_scram_credentials, 0, 0),
};

/* ---- SCRAM and PLAIN messages ---- */

#define LIT(s) (s), (int32_t)(sizeof(s) - 1)

START_TEST(test_scram_client_first) {
    struct scram_client_first f;
    ck_assert_int_eq(scram_parse_client_first(LIT("n,,n=al=2Cice=3D,r=fyko+d2lbbFgONRv9qkxdawL"), &f), SL_OK);
    ck_assert_str_eq(f.user, "al,ice=");
    ck_assert(kstr_eq(f.nonce, S("fyko+d2lbbFgONRv9qkxdawL")));
    ck_assert(kstr_eq(f.gs2_header, S("n,,")));
    ck_assert(kstr_eq(f.bare, S("n=al=2Cice=3D,r=fyko+d2lbbFgONRv9qkxdawL")));
    ck_assert_int_eq(scram_parse_client_first(LIT("n,a=bob,n=bob,r=x,tokenauth=true"), &f), SL_OK);
    ck_assert(kstr_eq(f.authzid, S("bob")));
    static const char *bad[] = {"", "n", "n,,", "n,,n=bob", "n,,n=bob,r=", "n,,n=,r=abc", "p=tls,,n=bob,r=abc",
                                "x,,n=bob,r=abc", "n,,r=abc,n=bob", "n,,n=b=zz,r=abc", "n,,n=b=2,r=abc",
                                "n,,n=bob,r=a b", "n,z=1,n=bob,r=abc", "n,,n=bob=", "n,,n=bob,r=a,b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_err e = scram_parse_client_first(bad[i], (int32_t)strlen(bad[i]), &f);
        if (i == sizeof(bad) / sizeof(bad[0]) - 1) continue; /* "r=a,b": "b" is an extension, allowed */
        ck_assert_msg(e == SL_INVALID_ARG, "accepted %s", bad[i]);
    }
    /* Every truncation of a good message is refused or parses within its bytes. */
    static const char good[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    for (int32_t n = 0; n < (int32_t)sizeof(good) - 1; n++) {
        char *copy = malloc((size_t)n + 1);
        memcpy(copy, good, (size_t)n);
        if (scram_parse_client_first(copy, n, &f) == SL_OK) ck_assert(f.nonce.p + f.nonce.len <= copy + n);
        free(copy);
    }
}
END_TEST

START_TEST(test_scram_client_final) {
    struct scram_client_final f;
    ck_assert_int_eq(scram_parse_client_final(LIT("c=biws,r=abcdef,p=dHpiYmU="), &f), SL_OK);
    ck_assert(kstr_eq(f.without_proof, S("c=biws,r=abcdef")));
    ck_assert(kstr_eq(f.proof, S("dHpiYmU=")));
    ck_assert(kstr_eq(f.nonce, S("abcdef")));
    ck_assert_int_eq(scram_parse_client_final(LIT("c=biws,r=abc,ext=1,p=xyz"), &f), SL_OK);
    ck_assert(kstr_eq(f.without_proof, S("c=biws,r=abc,ext=1")));
    static const char *bad[] = {"", "c=biws", "c=biws,r=abc", "c=biws,r=abc,p=", "r=abc,c=biws,p=x",
                                "c=biws,r=,p=x", "c=biws,r=abc,p=x,q=y", "p=x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(scram_parse_client_final(bad[i], (int32_t)strlen(bad[i]), &f) == SL_INVALID_ARG, "accepted %s",
                      bad[i]);
}
END_TEST

START_TEST(test_plain) {
    struct sasl_plain p;
    ck_assert_int_eq(sasl_parse_plain("\0alice\0secret", 13, &p), SL_OK);
    ck_assert(kstr_eq(p.user, S("alice")) && kstr_eq(p.password, S("secret")) && p.authzid.len == 0);
    ck_assert_int_eq(sasl_parse_plain("bob\0bob\0pw", 10, &p), SL_OK);
    ck_assert(kstr_eq(p.authzid, S("bob")));
    ck_assert_int_eq(sasl_parse_plain("", 0, &p), SL_INVALID_ARG);
    ck_assert_int_eq(sasl_parse_plain("alice", 5, &p), SL_INVALID_ARG);
    ck_assert_int_eq(sasl_parse_plain("\0alice", 6, &p), SL_INVALID_ARG);
    ck_assert_int_eq(sasl_parse_plain("\0\0pw", 4, &p), SL_INVALID_ARG);
    ck_assert_int_eq(sasl_parse_plain("\0alice\0", 7, &p), SL_INVALID_ARG);
    ck_assert_int_eq(sasl_parse_plain("\0a\0b\0c", 6, &p), SL_INVALID_ARG);
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/kafka_msgs_sasl");
    TCase *tc = tcase_create("sasl");
    tcase_set_timeout(tc, 300);
    add_codec_tests(tc, codecs, (int)(sizeof(codecs) / sizeof(codecs[0])));
    tcase_add_test(tc, test_scram_client_first);
    tcase_add_test(tc, test_scram_client_final);
    tcase_add_test(tc, test_plain);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
