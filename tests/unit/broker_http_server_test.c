/* broker_http_server_test.c: the pure helpers of broker/http/http_server.c: a path segment's
 * %-decoding (the admin routes' user names) and query values. The server itself runs against
 * real clients in tests/ops/monitor_auth_test.py and tests/cli/cli_user_test.py. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "broker/http/http_server.h"

static bool decode(const char *s, char *out, size_t cap) { return http_path_decode(s, strlen(s), out, cap); }

START_TEST(test_path_decode) {
    char out[16];
    ck_assert(decode("alice", out, sizeof(out)));
    ck_assert_str_eq(out, "alice");
    ck_assert(decode("a%2Fb%20c+d", out, sizeof(out))); /* '+' is a plus in a path */
    ck_assert_str_eq(out, "a/b c+d");
    ck_assert(decode("%e2%82%ac", out, sizeof(out)));
    ck_assert_str_eq(out, "\xe2\x82\xac");
    ck_assert(decode("", out, sizeof(out)));
    ck_assert_str_eq(out, "");
    ck_assert(!decode("a%00b", out, sizeof(out)));  /* a NUL would cut the name */
    ck_assert(!decode("a%zz", out, sizeof(out)));   /* not hex */
    ck_assert(!decode("a%2", out, sizeof(out)));    /* cut short */
    ck_assert(!decode("%", out, sizeof(out)));
    ck_assert(decode("123456789012345", out, sizeof(out))); /* 15 bytes + NUL fit in 16 */
    ck_assert(!decode("1234567890123456", out, sizeof(out)));
    ck_assert(decode("12345678901234%41", out, sizeof(out))); /* 15 after decoding */
    ck_assert(!decode("123456789012345%41", out, sizeof(out))); /* 16 */
}
END_TEST

START_TEST(test_query_get) {
    char out[32];
    ck_assert(http_query_get("algorithm=SCRAM-SHA-512", "algorithm", out, sizeof(out)));
    ck_assert_str_eq(out, "SCRAM-SHA-512");
    ck_assert(http_query_get("x=1&algorithm=SCRAM%2DSHA%2D256&y", "algorithm", out, sizeof(out)));
    ck_assert_str_eq(out, "SCRAM-SHA-256");
    ck_assert(!http_query_get("algorithms=x", "algorithm", out, sizeof(out)));
    ck_assert(!http_query_get("", "algorithm", out, sizeof(out)));
    ck_assert(http_query_get("algorithm", "algorithm", out, sizeof(out)));
    ck_assert_str_eq(out, "");
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/http/http_server");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, test_path_decode);
    tcase_add_test(tc, test_query_get);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
