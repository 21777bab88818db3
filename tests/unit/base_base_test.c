/* base_base_test.c: base/base.c: sl_fmt_u64 writes exactly what printf's %llu does, at every
 * length from 1 to 20 digits and at the boundaries between them. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

static void check_one(uint64_t v) {
    char want[32], got[32];
    int wn = snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
    memset(got, 'x', sizeof(got));
    size_t n = sl_fmt_u64(got, v);
    ck_assert_uint_eq(n, (size_t)wn);
    ck_assert_int_eq(memcmp(got, want, n), 0);
    ck_assert_int_eq(got[n], 'x'); /* nothing written past the digits */
}

START_TEST(fmt_u64_matches_printf) {
    check_one(0);
    check_one(UINT64_MAX);
    uint64_t p = 1;
    for (int d = 0; d < 20; d++) {
        check_one(p - 1);
        check_one(p);
        check_one(p + 1);
        if (p <= UINT64_MAX / 10) check_one(p * 10 - 1); /* d+1 nines */
        if (d < 19) p *= 10;
    }
    uint64_t x = 88172645463325252ull; /* xorshift: a spread of lengths and digits */
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_one(x >> (i % 64));
    }
}
END_TEST

/* Every byte value both ways; odd lengths and characters that are not lowercase hex refused. */
START_TEST(hex_round_trip) {
    uint8_t raw[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++) raw[i] = (uint8_t)i;
    sl_hex_encode(raw, sizeof(raw), text);
    ck_assert_uint_eq(strlen(text), 512);
    ck_assert_int_eq(memcmp(text, "000102", 6), 0);
    ck_assert_int_eq(memcmp(text + 506, "fdfeff", 6), 0);
    ck_assert(sl_hex_decode(text, 512, back));
    ck_assert_int_eq(memcmp(raw, back, sizeof(raw)), 0);
    ck_assert(!sl_hex_decode("abc", 3, back));
    ck_assert(!sl_hex_decode("0g", 2, back));
    ck_assert(!sl_hex_decode("AB", 2, back));
    ck_assert(sl_hex_decode("", 0, back));
}
END_TEST

int main(void) {
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("fmt");
    tcase_add_test(tc, fmt_u64_matches_printf);
    tcase_add_test(tc, hex_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
