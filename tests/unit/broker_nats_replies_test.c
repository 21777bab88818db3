/* broker_nats_replies_test.c: broker/nats/nats_replies.c, allow_responses' reply table: the
 * count and the clock of each reply subject as nats-server keeps them, no limit when negative,
 * pruning past 4096 subjects, and every subject still found after thousands of removals (the
 * table's backward-shift deletion). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/nats/nats_replies.h"

#define S(x) (x), strlen(x)

START_TEST(test_count_and_clock) {
    struct nats_replies *rs = NULL;
    struct nats_resp_perm one = {1, 1000};
    ck_assert(!nats_replies_use(rs, &one, S("_INBOX.a"), 0)); /* nothing delivered yet */
    nats_replies_note(&rs, &one, S("_INBOX.a"), 100);
    ck_assert(!nats_replies_use(rs, &one, S("_INBOX.b"), 100));
    ck_assert(nats_replies_use(rs, &one, S("_INBOX.a"), 200));
    ck_assert(!nats_replies_use(rs, &one, S("_INBOX.a"), 200)); /* max 1: the second goes */
    ck_assert_uint_eq(nats_replies_count(rs), 0);
    nats_replies_note(&rs, &one, S("_INBOX.a"), 300); /* delivered again: count and clock anew */
    ck_assert(nats_replies_use(rs, &one, S("_INBOX.a"), 1300));
    nats_replies_note(&rs, &one, S("_INBOX.c"), 300);
    ck_assert(!nats_replies_use(rs, &one, S("_INBOX.c"), 1301)); /* past expires */
    ck_assert_uint_eq(nats_replies_count(rs), 1);                  /* _INBOX.a: used up, kept till pruned */
    struct nats_resp_perm unlimited = {-1, -1};
    nats_replies_note(&rs, &unlimited, S("_INBOX.d"), 0);
    for (int i = 0; i < 100; i++) ck_assert(nats_replies_use(rs, &unlimited, S("_INBOX.d"), 1000000000ull));
    nats_replies_free(rs);
}
END_TEST

START_TEST(test_prune_and_many) {
    struct nats_replies *rs = NULL;
    struct nats_resp_perm one = {1, -1};
    char s[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(s, sizeof(s), "_INBOX.%d", i);
        nats_replies_note(&rs, &one, S(s), (uint64_t)i);
        if (i % 2) ck_assert(nats_replies_use(rs, &one, S(s), (uint64_t)i)); /* odd ones answered once */
    }
    /* Pruning drops the used-up (odd) ones as the table passes 4096; the even ones all stay. */
    ck_assert_uint_lt(nats_replies_count(rs), 20000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(s, sizeof(s), "_INBOX.%d", i);
        ck_assert_msg(nats_replies_use(rs, &one, S(s), 30000), "%s lost", s);
    }
    for (int i = 1; i < 20000; i += 2) {
        snprintf(s, sizeof(s), "_INBOX.%d", i);
        ck_assert_msg(!nats_replies_use(rs, &one, S(s), 30000), "%s answered twice", s);
    }
    nats_replies_free(rs);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/nats_replies");
    TCase *tc = tcase_create("replies");
    tcase_add_test(tc, test_count_and_clock);
    tcase_add_test(tc, test_prune_and_many);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
