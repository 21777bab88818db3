/* protocol_crc32c_test.c: Check suite for protocol/crc32c.c: the RFC 3720 B.4 vectors and the
 * catalogue check value on both paths, hardware against portable over every length, alignment
 * and seed we care about, and chaining. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/crc32c.h"
#include "testutil.h"

/* Both paths must agree with a known answer, whichever one crc32c() picked. */
static void expect_crc(const void *buf, size_t len, uint32_t want) {
    ck_assert_uint_eq(crc32c(0, buf, len), want);
    ck_assert_uint_eq(crc32c_portable(0, buf, len), want);
}

START_TEST(test_crc32c_rfc3720_vectors) {
    uint8_t buf[32];
    memset(buf, 0x00, sizeof buf);
    expect_crc(buf, sizeof buf, 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    expect_crc(buf, sizeof buf, 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    expect_crc(buf, sizeof buf, 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    expect_crc(buf, sizeof buf, 0x113FDB5Cu);
}
END_TEST

START_TEST(test_crc32c_rfc3720_iscsi_read_pdu) {
    /* RFC 3720 B.4: an iSCSI SCSI Read (10) command PDU. */
    static const uint8_t pdu[48] = {
        0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
        0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    expect_crc(pdu, sizeof pdu, 0xD9963A56u);
}
END_TEST

START_TEST(test_crc32c_check_value) { expect_crc("123456789", 9, 0xE3069283u); }
END_TEST

START_TEST(test_crc32c_empty) {
    expect_crc("", 0, 0);
    ck_assert_uint_eq(crc32c(0, NULL, 0), 0);
    ck_assert_uint_eq(crc32c(0xDEADBEEFu, NULL, 0), 0xDEADBEEFu);
    ck_assert_uint_eq(crc32c_portable(0xDEADBEEFu, NULL, 0), 0xDEADBEEFu);
}
END_TEST

/* A single-byte answer computed by hand from the polynomial guards the table itself. */
START_TEST(test_crc32c_single_bytes_match_bitwise) {
    for (unsigned b = 0; b < 256; b++) {
        uint32_t c = ~0u ^ b;
        for (int i = 0; i < 8; i++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        uint8_t byte = (uint8_t)b;
        expect_crc(&byte, 1, ~c);
    }
}
END_TEST

START_TEST(test_crc32c_hw_equals_portable_all_lengths_alignments) {
    enum { LEN_MAX = 1024 };
    static uint8_t buf[LEN_MAX + 8];
    t_fill_random(buf, sizeof buf, 42);
    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= LEN_MAX; len++) {
            uint32_t seed = (uint32_t)(len * 2654435761u);
            ck_assert_uint_eq(crc32c(0, buf + align, len), crc32c_portable(0, buf + align, len));
            ck_assert_uint_eq(crc32c(seed, buf + align, len), crc32c_portable(seed, buf + align, len));
        }
    }
}
END_TEST

/* Lengths that run the interleaved loop many times, with ragged tails. */
START_TEST(test_crc32c_hw_equals_portable_large) {
    static const size_t lens[] = {767, 768, 769, 1535, 1536, 4096 + 3, 65536 + 5, 1 << 20};
    uint8_t *buf = malloc((1 << 20) + 8);
    ck_assert_ptr_nonnull(buf);
    t_fill_random(buf, (1 << 20) + 8, 7);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t align = 0; align < 8; align += 3)
            ck_assert_uint_eq(crc32c(0, buf + align, lens[i]), crc32c_portable(0, buf + align, lens[i]));
    free(buf);
}
END_TEST

START_TEST(test_crc32c_chaining_every_split) {
    enum { LEN = 2400 };
    static uint8_t buf[LEN];
    t_fill_random(buf, sizeof buf, 3);
    uint32_t whole = crc32c(0, buf, LEN);
    ck_assert_uint_eq(crc32c_portable(0, buf, LEN), whole);
    for (size_t cut = 0; cut <= LEN; cut++) {
        ck_assert_uint_eq(crc32c(crc32c(0, buf, cut), buf + cut, LEN - cut), whole);
        ck_assert_uint_eq(crc32c_portable(crc32c_portable(0, buf, cut), buf + cut, LEN - cut), whole);
    }
}
END_TEST

START_TEST(test_crc32c_chaining_random_pieces) {
    enum { LEN = 100000 };
    uint8_t *buf = malloc(LEN);
    ck_assert_ptr_nonnull(buf);
    t_fill_random(buf, LEN, 11);
    uint32_t whole = crc32c(0, buf, LEN);
    uint8_t sizes[64];
    t_fill_random(sizes, sizeof sizes, 12);
    uint32_t hw = 0, sw = 0;
    size_t pos = 0;
    for (unsigned k = 0; pos < LEN; k++) {
        /* Mostly short pieces, every fifth long enough for the interleaved loop. */
        size_t piece = sizes[k % sizeof sizes] * (k % 5 == 0 ? 40u : 1u);
        if (piece > LEN - pos) piece = LEN - pos;
        hw = crc32c(hw, buf + pos, piece);
        sw = crc32c_portable(sw, buf + pos, piece);
        pos += piece;
    }
    ck_assert_uint_eq(hw, whole);
    ck_assert_uint_eq(sw, whole);
    free(buf);
}
END_TEST

START_TEST(test_crc32c_reports_hw) {
#if defined(__x86_64__)
    /* Every x86-64 server of the last decade has SSE4.2; a false here means detection broke. */
    ck_assert(crc32c_hw_available() == (__builtin_cpu_supports("sse4.2") != 0));
#else
    (void)crc32c_hw_available();
#endif
}
END_TEST

static Suite *crc32c_suite(void) {
    Suite *s = suite_create("protocol_crc32c");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_crc32c_rfc3720_vectors);
    tcase_add_test(tc, test_crc32c_rfc3720_iscsi_read_pdu);
    tcase_add_test(tc, test_crc32c_check_value);
    tcase_add_test(tc, test_crc32c_empty);
    tcase_add_test(tc, test_crc32c_single_bytes_match_bitwise);
    tcase_add_test(tc, test_crc32c_hw_equals_portable_all_lengths_alignments);
    tcase_add_test(tc, test_crc32c_hw_equals_portable_large);
    tcase_add_test(tc, test_crc32c_chaining_every_split);
    tcase_add_test(tc, test_crc32c_chaining_random_pieces);
    tcase_add_test(tc, test_crc32c_reports_hw);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(crc32c_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
