/* broker_core_isr_test.c: broker/core/isr.c, a leader's in-sync replicas and high watermark:
 * new followers start in sync and hold the high watermark until they report; the high
 * watermark is the lowest in-sync log end and never goes back; a follower that keeps up with a
 * steady stream of appends (its fetch reaches the leader's end as of its previous fetch) stays
 * in sync; one silent or behind for longer than the lag leaves, and the high watermark then
 * moves past it once the controller's ISR dropped it too (the "maximal ISR": a follower counts
 * while it is in sync here OR in the committed ISR, isr_set_committed); it rejoins only once it
 * holds the high watermark; isr_differs says when the local ISR and the committed one disagree
 * (a change to send); a never-fetched follower outside the committed ISR starts out of sync; a
 * reassignment keeps the state of followers still assigned; a fetch from an id that is not a
 * follower is refused. */
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
    ck_assert(!isr_differs(&s));
    ck_assert_int_eq(isr_update(&s, 50, 1101), 5);  /* past it: out here... */
    ck_assert_uint_eq(isr_size(&s), 2);
    ck_assert(isr_differs(&s)); /* ...a shrink the leader sends to the controller (AlterPartition) */
    /* The high watermark counts the maximal ISR: 3 is still in the controller's ISR, and while
     * it is, 3 may become leader, so a record 3 lacks is not committed (KIP-497). Only once the
     * controller has committed the shrink (its ISR {1,2} comes back, isr_set_committed) may the
     * hw move past 3. Without this step the hw would stay at 5 for good. */
    const uint32_t committed_12[] = {1, 2};
    isr_set_committed(&s, committed_12, 2);
    ck_assert(!isr_differs(&s));
    ck_assert_int_eq(isr_update(&s, 50, 1102), 50); /* now it moves */
    ck_assert_uint_eq(isr_size(&s), 2);
    /* Back, but behind the high watermark: not in sync yet. */
    isr_fetched(&s, 3, 20, 50, 1200);
    isr_update(&s, 50, 1200);
    ck_assert_uint_eq(isr_size(&s), 2);
    ck_assert(!isr_differs(&s));
    /* Caught up with the leader: in sync here, but it counts only once asked for (the maximal
     * ISR: committed plus asked). */
    isr_fetched(&s, 3, 50, 50, 1300);
    isr_update(&s, 50, 1300);
    ck_assert_uint_eq(isr_size(&s), 2);
    ck_assert(isr_differs(&s)); /* an expansion to send */
    uint32_t ask[4];
    ck_assert_uint_eq(isr_request(&s, 1, ask, 4), 3);
    ck_assert_uint_eq(ask[0], 1);
    ck_assert(!isr_differs(&s)); /* asked: not sent again */
    ck_assert_uint_eq(isr_size(&s), 3);
    ck_assert_int_eq(isr_update(&s, 60, 1300), 50); /* 3 at 50 holds it */
    const uint32_t committed_123[] = {1, 2, 3};
    isr_set_committed(&s, committed_123, 3);
    ck_assert(!isr_differs(&s));
    ck_assert(!s.f[1].asked);
}
END_TEST

/* A follower out of the local ISR holds the high watermark as long as the controller's ISR
 * still has it, however long that takes; a follower in sync here counts whether committed or
 * not. */
START_TEST(test_hw_waits_for_committed_drop) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 1000, 0);
    isr_fetched(&s, 2, 10, 10, 100);
    isr_fetched(&s, 3, 10, 10, 100);
    ck_assert_int_eq(isr_update(&s, 10, 100), 10);
    /* 3 stops at 10; 2 follows the leader to 100. */
    for (uint64_t t = 200; t <= 20000; t += 100) {
        isr_fetched(&s, 2, 100, 100, t);
        ck_assert_int_eq(isr_update(&s, 100, t), 10); /* 3 left at 1101, the hw stays on it */
    }
    ck_assert_uint_eq(isr_size(&s), 2);
    ck_assert(!s.f[1].in_sync);
    ck_assert(s.f[1].committed);
    ck_assert(isr_differs(&s));
    /* The controller answers with an ISR that still holds 3 (the change not committed yet): the
     * hw still waits. */
    const uint32_t all[] = {1, 2, 3};
    isr_set_committed(&s, all, 3);
    ck_assert_int_eq(isr_update(&s, 100, 20001), 10);
    ck_assert(isr_differs(&s));
    /* Committed without 3: the hw passes it at once. */
    const uint32_t without3[] = {1, 2};
    isr_set_committed(&s, without3, 2);
    ck_assert(!s.f[1].committed);
    ck_assert(s.f[0].committed);
    ck_assert_int_eq(isr_update(&s, 100, 20002), 100);
    ck_assert(!isr_differs(&s));
    /* Committed without 2 as well (say the controller fenced it): 2 is in sync here but not
     * asked for, so it does not count; the leader has an expansion to send. */
    const uint32_t leader_only[] = {1};
    isr_set_committed(&s, leader_only, 1);
    ck_assert(s.f[0].in_sync);
    ck_assert(!s.f[0].committed);
    ck_assert(isr_differs(&s));
    ck_assert_int_eq(isr_update(&s, 150, 20003), 150);
    /* Asked for: it counts from then on (it is at 100, but the hw never goes back). */
    uint32_t ask[4];
    ck_assert_uint_eq(isr_request(&s, 1, ask, 4), 2);
    isr_fetched(&s, 2, 150, 160, 20004);
    ck_assert_int_eq(isr_update(&s, 160, 20004), 150); /* 2 at 150 holds it */
    /* Refused (a fenced or stopping broker may not join): it no longer counts. */
    isr_request_failed(&s);
    ck_assert(isr_differs(&s));
    ck_assert_int_eq(isr_update(&s, 160, 20005), 160);
    /* An id that is not a follower in the committed list changes nothing; an empty list
     * un-commits everyone. */
    const uint32_t stranger[] = {9};
    isr_set_committed(&s, stranger, 1);
    ck_assert(!s.f[0].committed);
    ck_assert(!s.f[1].committed);
    isr_set_committed(&s, NULL, 0);
    ck_assert(!s.f[0].committed);
}
END_TEST

START_TEST(test_isr_differs) {
    struct isr s = {0};
    ck_assert(!isr_differs(&s)); /* no followers */
    isr_assign(&s, two, 2, 0, 1000, 0);
    ck_assert(!isr_differs(&s)); /* new followers: in sync and committed */
    isr_fetched(&s, 2, 0, 0, 10);
    isr_fetched(&s, 3, 0, 0, 10);
    isr_update(&s, 0, 10);
    ck_assert(!isr_differs(&s));
    /* The controller's ISR lacks 2, which is in sync here: differs. */
    const uint32_t only3[] = {3};
    isr_set_committed(&s, only3, 1);
    ck_assert(isr_differs(&s));
    /* Back: the same. */
    isr_set_committed(&s, two, 2);
    ck_assert(!isr_differs(&s));
    /* 3 falls out here: differs until the controller agrees. */
    isr_fetched(&s, 2, 0, 0, 2000);
    isr_update(&s, 0, 2000);
    ck_assert(!s.f[1].in_sync);
    ck_assert(isr_differs(&s));
    const uint32_t only2[] = {2};
    isr_set_committed(&s, only2, 1);
    ck_assert(!isr_differs(&s));
    ck_assert_uint_eq(isr_size(&s), 2);
}
END_TEST

/* A follower that never fetched takes in_sync from the committed ISR: one outside it starts
 * out of sync (no grace period for a replica the controller dropped), does not hold the hw, and
 * rejoins only by catching up to the high watermark. */
START_TEST(test_never_fetched_outside_committed_starts_out) {
    struct isr s = {0};
    isr_assign(&s, two, 2, 0, 1000, 0);
    ck_assert_uint_eq(isr_size(&s), 3);
    const uint32_t only2[] = {1, 2};
    isr_set_committed(&s, only2, 2);
    ck_assert(s.f[0].in_sync);  /* 2: committed */
    ck_assert(!s.f[1].in_sync); /* 3: never fetched, not committed: out */
    ck_assert_uint_eq(isr_size(&s), 2);
    ck_assert(!isr_differs(&s));
    /* It does not hold the hw. */
    isr_fetched(&s, 2, 20, 20, 10);
    ck_assert_int_eq(isr_update(&s, 20, 10), 20);
    /* A fetch below the hw does not bring it back, even at once (well within the lag). */
    isr_fetched(&s, 3, 5, 20, 20);
    isr_update(&s, 20, 20);
    ck_assert(!s.f[1].in_sync);
    ck_assert_uint_eq(isr_size(&s), 2);
    /* Nor does a later committed list being re-sent: it has fetched now, its state is its own. */
    isr_set_committed(&s, only2, 2);
    ck_assert(!s.f[1].in_sync);
    /* Caught up: in sync here, an expansion to send (it counts once asked). */
    isr_fetched(&s, 3, 20, 20, 30);
    isr_update(&s, 20, 30);
    ck_assert(s.f[1].in_sync);
    ck_assert_uint_eq(isr_size(&s), 2);
    ck_assert(isr_differs(&s));
    /* The converse: a never-fetched follower in the committed ISR stays in sync (a new topic
     * must not start with an ISR of one). */
    struct isr t = {0};
    isr_assign(&t, two, 2, 0, 1000, 0);
    isr_set_committed(&t, two, 2);
    ck_assert_uint_eq(isr_size(&t), 3);
    ck_assert_int_eq(isr_update(&t, 10, 5), 0); /* and holds the hw until it reports */
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
    tcase_add_test(tc, test_hw_waits_for_committed_drop);
    tcase_add_test(tc, test_isr_differs);
    tcase_add_test(tc, test_never_fetched_outside_committed_starts_out);
    tcase_add_test(tc, test_reassign_keeps_known_followers);
    tcase_add_test(tc, test_alone);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
