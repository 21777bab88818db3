/* protocol_errors_test.c: protocol/errors.c: the one error table maps each error once to each
 * wire: Kafka codes unique, NATS -ERR texts exactly as nats-server 2.9.10 sends them. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/errors.h"
#include "protocol/nats_parse.h"

/* Every -ERR text nats-server 2.9.10 sends that Sluice may send, byte for byte: the ones in
 * docs/nats-subset.md section 7, checked against a running nats-server (the control-line one is
 * lower case on the wire, unlike most). */
static const char *const nats_server_texts[] = {
    "Unknown Protocol Operation",     "maximum control line exceeded", "Maximum Payload Violation",
    "Authorization Violation",        "Authentication Timeout",        "Invalid Subject",
    "Invalid Publish Subject",        "maximum connections exceeded",  "maximum subscriptions exceeded",
    "Stale Connection",               "invalid client protocol",       "no responders requires headers support",
    "Permissions Violation", /* the prefix: "... for Publish to \"subj\"" (nats_server.c) */
};

START_TEST(test_kafka_codes_unique) {
    /* Deliberate aliases (two names, one wire code): a full disk is told apart from other
     * I/O errors inside the broker (it is retriable there), but Kafka has one code for both. */
    static const sl_err aliases[][2] = {{SL_IO, SL_NO_SPACE}};
    for (int a = 0; a < SL_ERR_COUNT; a++) {
        int ca = sl_err_kafka((sl_err)a);
        ck_assert_int_ge(ca, -1);
        if (ca < 0) continue;
        for (int b = a + 1; b < SL_ERR_COUNT; b++) {
            bool alias = false;
            for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
                alias |= aliases[i][0] == (sl_err)a && aliases[i][1] == (sl_err)b;
            if (alias) continue;
            ck_assert_msg(sl_err_kafka((sl_err)b) != ca, "%s and %s share Kafka code %d",
                          sl_err_str((sl_err)a), sl_err_str((sl_err)b), ca);
        }
    }
    ck_assert_int_eq(sl_err_kafka(SL_NO_SPACE), sl_err_kafka(SL_IO));
    ck_assert_int_eq(sl_err_kafka(SL_OK), 0);
    ck_assert_int_eq(sl_err_kafka(SL_UNSUPPORTED_VERSION), 35);
    ck_assert_int_eq(sl_err_kafka(SL_ERR_COUNT), -1);
}
END_TEST

START_TEST(test_nats_texts_are_nats_servers) {
    int with_text = 0;
    for (int e = 0; e < SL_ERR_COUNT; e++) {
        ck_assert_ptr_nonnull(sl_err_str((sl_err)e));
        const char *t = sl_err_nats((sl_err)e);
        if (!t) continue;
        with_text++;
        bool known = false;
        for (size_t i = 0; i < sizeof(nats_server_texts) / sizeof(nats_server_texts[0]); i++)
            if (strcmp(t, nats_server_texts[i]) == 0) known = true;
        ck_assert_msg(known, "'%s' is not nats-server's spelling", t);
        ck_assert_int_eq(sl_err_kafka((sl_err)e), -1); /* NATS errors never reach Kafka clients */
        for (int f = e + 1; f < SL_ERR_COUNT; f++)
            ck_assert_msg(!sl_err_nats((sl_err)f) || strcmp(t, sl_err_nats((sl_err)f)) != 0, "'%s' twice", t);
    }
    ck_assert_int_eq(with_text, (int)(sizeof(nats_server_texts) / sizeof(nats_server_texts[0])));
    ck_assert_str_eq(sl_err_nats(SL_PAYLOAD_TOO_LARGE), "Maximum Payload Violation");
    ck_assert_str_eq(sl_err_nats(SL_AUTH_VIOLATION), "Authorization Violation");
    ck_assert_str_eq(sl_err_nats(SL_CONTROL_LINE_TOO_LONG), "maximum control line exceeded");
    ck_assert_ptr_null(sl_err_nats(SL_SLOW_CONSUMER)); /* nats-server closes without an -ERR */
    ck_assert_ptr_null(sl_err_nats(SL_OK));
    ck_assert_ptr_null(sl_err_nats(SL_ERR_COUNT));
}
END_TEST

/* The parser's own texts agree with the table. */
START_TEST(test_parser_texts_match_table) {
    ck_assert_str_eq(nats_perr_text(NATS_PERR_UNKNOWN_OP), sl_err_nats(SL_UNKNOWN_OP));
    ck_assert_str_eq(nats_perr_text(NATS_PERR_MAX_CONTROL_LINE), sl_err_nats(SL_CONTROL_LINE_TOO_LONG));
    ck_assert_str_eq(nats_perr_text(NATS_PERR_MAX_PAYLOAD), sl_err_nats(SL_PAYLOAD_TOO_LARGE));
}
END_TEST

int main(void) {
    Suite *s = suite_create("protocol/errors");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_kafka_codes_unique);
    tcase_add_test(tc, test_nats_texts_are_nats_servers);
    tcase_add_test(tc, test_parser_texts_match_table);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
