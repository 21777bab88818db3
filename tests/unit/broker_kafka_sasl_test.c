/* broker_kafka_sasl_test.c: the pure parts of the SCRAM credential store's API in
 * broker/kafka/kafka_sasl.c that the admin routes use: the salted password (PBKDF2 with the
 * mechanism's digest, checked against Python's hashlib.pbkdf2_hmac on RFC 7677's example salt)
 * and the mechanism names. The store itself runs against real clients in
 * tests/integration/kafka_sasl_test.py and tests/cli/cli_user_test.py. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kafka/kafka.h"
#include "protocol/kafka_msgs_sasl.h"

static void hex(const uint8_t *p, uint32_t n, char *out) {
    for (uint32_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

/* base64 "W22ZaJ0SNY7soEsUEjb6gQ==" (RFC 7677 section 3) */
static const uint8_t rfc_salt[] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
                                   0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};

START_TEST(test_salted_password) {
    uint8_t out[64];
    uint32_t n = 0;
    char h[129];
    ck_assert(kafka_scram_salted_password(KAFKA_SCRAM_SHA_256, "pencil", 6, rfc_salt, sizeof(rfc_salt), 4096, out, &n));
    ck_assert_uint_eq(n, 32);
    hex(out, n, h);
    ck_assert_str_eq(h, "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
    ck_assert(kafka_scram_salted_password(KAFKA_SCRAM_SHA_512, "pencil", 6, rfc_salt, sizeof(rfc_salt), 4096, out, &n));
    ck_assert_uint_eq(n, 64);
    hex(out, n, h);
    ck_assert_str_eq(h, "f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686"
                        "b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d");
    ck_assert(!kafka_scram_salted_password(KAFKA_SCRAM_UNKNOWN, "pencil", 6, rfc_salt, sizeof(rfc_salt), 4096, out, &n));
    ck_assert(!kafka_scram_salted_password(KAFKA_SCRAM_SHA_256, "pencil", 6, rfc_salt, sizeof(rfc_salt), 0, out, &n));
}
END_TEST

START_TEST(test_mechanism_names) {
    ck_assert_str_eq(kafka_scram_mechanism_name(KAFKA_SCRAM_SHA_256), "SCRAM-SHA-256");
    ck_assert_str_eq(kafka_scram_mechanism_name(KAFKA_SCRAM_SHA_512), "SCRAM-SHA-512");
    ck_assert_ptr_null(kafka_scram_mechanism_name(KAFKA_SCRAM_UNKNOWN));
    ck_assert_ptr_null(kafka_scram_mechanism_name(3));
    ck_assert_int_eq(kafka_scram_mechanism_parse("SCRAM-SHA-256"), KAFKA_SCRAM_SHA_256);
    ck_assert_int_eq(kafka_scram_mechanism_parse("SCRAM-SHA-512"), KAFKA_SCRAM_SHA_512);
    ck_assert_int_eq(kafka_scram_mechanism_parse("scram-sha-512"), KAFKA_SCRAM_UNKNOWN); /* Kafka's names are exact */
    ck_assert_int_eq(kafka_scram_mechanism_parse("PLAIN"), KAFKA_SCRAM_UNKNOWN);
    ck_assert_int_eq(kafka_scram_mechanism_parse(""), KAFKA_SCRAM_UNKNOWN);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/kafka/kafka_sasl");
    TCase *tc = tcase_create("scram_store_api");
    tcase_add_test(tc, test_salted_password);
    tcase_add_test(tc, test_mechanism_names);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
