/* broker_kafka_names_test.c: broker/kafka/kafka_names.c, the set of names a request lists:
 * counts, the null name, forgetting (a duplicate answered once), and growth from a small table
 * to ten thousand distinct names with every count still right. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "broker/kafka/kafka_names.h"

static struct kstr ks(const char *s) { return (struct kstr){s, (int32_t)strlen(s)}; }

START_TEST(test_counts_and_forget) {
    struct kname_set s;
    kname_set_init(&s, 5);
    ck_assert_uint_eq(kname_set_add(&s, ks("a")), 1);
    ck_assert_uint_eq(kname_set_add(&s, ks("b")), 1);
    ck_assert_uint_eq(kname_set_add(&s, ks("a")), 2);
    ck_assert_uint_eq(kname_set_add(&s, (struct kstr){NULL, -1}), 1);
    ck_assert_uint_eq(kname_set_add(&s, (struct kstr){"", 0}), 1); /* "" is not null */
    ck_assert_uint_eq(kname_set_add(&s, (struct kstr){NULL, -1}), 2);
    ck_assert_uint_eq(s.count, 4);
    ck_assert_uint_eq(kname_set_count(&s, ks("a")), 2);
    ck_assert_uint_eq(kname_set_count(&s, ks("c")), 0);
    /* Equal bytes in another buffer are the same name. */
    char other[] = "ab";
    ck_assert_uint_eq(kname_set_count(&s, (struct kstr){other, 1}), 2);
    kname_set_forget(&s, ks("a"));
    ck_assert_uint_eq(kname_set_count(&s, ks("a")), 0);
    ck_assert_uint_eq(kname_set_count(&s, ks("b")), 1);
    ck_assert_uint_eq(s.count, 4);
    kname_set_free(&s);
}
END_TEST

START_TEST(test_grows) {
    enum { N = 10000 };
    static char names[N][8];
    struct kname_set s;
    kname_set_init(&s, 3 * N); /* sized for 1,024 at most: grows */
    for (int round = 1; round <= 3; round++)
        for (int i = 0; i < N; i++) {
            snprintf(names[i], sizeof(names[i]), "t%d", i);
            ck_assert_uint_eq(kname_set_add(&s, ks(names[i])), (uint32_t)round);
        }
    ck_assert_uint_eq(s.count, N);
    for (int i = 0; i < N; i++) ck_assert_uint_eq(kname_set_count(&s, ks(names[i])), 3);
    ck_assert_uint_eq(kname_set_count(&s, ks("t10000")), 0);
    kname_set_free(&s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/kafka/names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_counts_and_forget);
    tcase_add_test(tc, test_grows);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
