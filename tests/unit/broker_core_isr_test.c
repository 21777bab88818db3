/* broker_core_isr_test.c: broker/core/isr.c, a leader's in-sync replicas and high watermark:
 * new followers start in sync and hold the high watermark until they report; the high
 * watermark is the lowest in-sync log end and never goes back; a follower that keeps up with a
 * steady stream of appends (its fetch reaches the leader's end as of its previous fetch) stays
 * in sync; one silent or behind for longer than the lag leaves, and the high watermark then
 * moves past it; it rejoins only once it holds the high watermark; a reassignment keeps the
 * state of followers still assigned; a fetch from an id that is not a follower is refused. */
#include <check.h>
#include <stdint.h>

#include "broker/core/isr.h"

static const uint32_t two[] = {2, 3};

START_TEST(test_new_followers_hold_the_hw) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 1000, 100);
    ck_assert_uint_eq(isr_size(&s), 3);
    /* The leader wrote 10; no follower has reported: nothing is committed. */
    ck_assert_int_eq(isr_update(&s, 10, 150), 0);
    ck_assert(isr_fetched(&s, 2, 10, 10, 160));
    ck_assert_int_eq(isr_update(&s, 10, 160), 0); /* 3 still has nothing */
    ck_assert(isr_fetched(&s, 3, 4, 10, 170));
    ck_assert_int_eq(isr_update(&s, 10, 170), 4);
    ck_assert(isr_fetched(&s, 3, 10, 10, 180));
    ck_assert_int_eq(isr_update(&s, 10, 180), 10);
    ck_assert(!isr_fetched(&s, 9, 10, 10, 180)); /* not a follower */
}
END_TEST

START_TEST(test_hw_never_goes_back) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 1000, 0);
    isr_fetched(&s, 2, 20, 20, 10);
    isr_fetched(&s, 3, 20, 20, 10);
    ck_assert_int_eq(isr_update(&s, 20, 10), 20);
    /* A follower reporting less (a restart from an older end) does not unsay a commit. */
    isr_fetched(&s, 3, 15, 20, 20);
    ck_assert_int_eq(isr_update(&s, 25, 20), 20);
}
END_TEST

START_TEST(test_steady_stream_stays_in_sync) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 100, 0);
    /* The leader grows by 10 between fetches; each fetch reaches the end of the previous one. */
    int64_t leo = 0;
    for (uint64_t t = 0; t < 2000; t += 50) {
        isr_fetched(&s, 2, leo, leo + 10, t);
        isr_fetched(&s, 3, leo, leo + 10, t);
        leo += 10;
        isr_update(&s, leo, t);
    }
    ck_assert_uint_eq(isr_size(&s), 3);
}
END_TEST

START_TEST(test_lagging_follower_leaves_and_rejoins) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 1000, 0);
    isr_fetched(&s, 2, 5, 5, 100);
    isr_fetched(&s, 3, 5, 5, 100);
    ck_assert_int_eq(isr_update(&s, 5, 100), 5);
    /* 3 goes silent; 2 keeps up to 50. */
    isr_fetched(&s, 2, 50, 50, 900);
    ck_assert_int_eq(isr_update(&s, 50, 900), 5);
    ck_assert_int_eq(isr_update(&s, 50, 1100), 5);  /* exactly at the lag: still in */
    ck_assert_int_eq(isr_update(&s, 50, 1101), 50); /* past it: out, and the hw moves */
    ck_assert_uint_eq(isr_size(&s), 2);
    /* Back, but behind the high watermark: not in sync yet. */
    isr_fetched(&s, 3, 20, 50, 1200);
    isr_update(&s, 50, 1200);
    ck_assert_uint_eq(isr_size(&s), 2);
    /* Caught up with the leader: in again. */
    isr_fetched(&s, 3, 50, 50, 1300);
    isr_update(&s, 50, 1300);
    ck_assert_uint_eq(isr_size(&s), 3);
    ck_assert_int_eq(isr_update(&s, 60, 1300), 50);
}
END_TEST

START_TEST(test_reassign_keeps_known_followers) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 1000, 0);
    isr_fetched(&s, 2, 7, 7, 10);
    isr_fetched(&s, 3, 7, 7, 10);
    ck_assert_int_eq(isr_update(&s, 7, 10), 7);
    const uint32_t moved[] = {3, 4};
    isr_assign(&s, moved, 2, s.hw, 1000, 20);
    ck_assert_int_eq(s.f[0].id, 3);
    ck_assert_int_eq(s.f[0].leo, 7); /* kept */
    ck_assert_int_eq(s.f[1].leo, -1); /* new: in sync, nothing reported */
    ck_assert_uint_eq(isr_size(&s), 3);
    ck_assert_int_eq(isr_update(&s, 9, 30), 7);
}
END_TEST

START_TEST(test_alone) {
    struct isr s = {0};
    isr_assign(&s, NULL, 0, 3, 1000, 0);
    ck_assert_uint_eq(isr_size(&s), 1);
    ck_assert_int_eq(isr_update(&s, 12, 1), 12);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/core/isr");
    TCase *tc = tcase_create("isr");
    tcase_add_test(tc, test_new_followers_hold_the_hw);
    tcase_add_test(tc, test_hw_never_goes_back);
    tcase_add_test(tc, test_steady_stream_stays_in_sync);
    tcase_add_test(tc, test_lagging_follower_leaves_and_rejoins);
    tcase_add_test(tc, test_reassign_keeps_known_followers);
    tcase_add_test(tc, test_alone);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
