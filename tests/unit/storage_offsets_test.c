/* storage_offsets_test.c: storage/offsets.c: the lowest committed offset of a partition over
 * its groups (work-queue retention), through new groups, moves, tombstones, table growth and
 * a reopen. */
#include <check.h>

#include "storage/offsets.h"
#include "storage_fixture.h"

static void commit(struct offsets *o, struct fx *f, const char *group, const char *topic, int32_t p, int64_t off,
                   bool tombstone) {
    struct offset_commit c = {.topic = topic, .topic_len = (int32_t)strlen(topic), .partition = p,
                              .offset = tombstone ? -1 : off, .leader_epoch = -1, .tombstone = tombstone};
    ck_assert_int_eq(offsets_commit(o, group, &c, 1, loop_now_ms(&f->loop), NULL), SL_OK);
}

static int64_t min_of(struct offsets *o, const char *topic, int32_t p, uint32_t *groups) {
    return offsets_min_for_partition(o, topic, (int32_t)strlen(topic), p, groups);
}

START_TEST(test_min_for_partition) {
    struct fx f;
    fx_start(&f, NULL);
    struct offsets *o;
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    uint32_t groups = 99;
    ck_assert_int_eq(min_of(o, "t", 0, &groups), -1);
    ck_assert_uint_eq(groups, 0);

    commit(o, &f, "a", "t", 0, 50, false);
    commit(o, &f, "b", "t", 0, 20, false);
    commit(o, &f, "a", "t", 1, 5, false);
    commit(o, &f, "b", "tt", 0, 1, false); /* another topic, a prefix of the name */
    ck_assert_int_eq(min_of(o, "t", 0, &groups), 20);
    ck_assert_uint_eq(groups, 2);
    ck_assert_int_eq(min_of(o, "t", 1, &groups), 5);
    ck_assert_uint_eq(groups, 1);
    commit(o, &f, "b", "t", 0, 70, false);
    ck_assert_int_eq(min_of(o, "t", 0, NULL), 50);
    commit(o, &f, "a", "t", 0, 0, true);
    ck_assert_int_eq(min_of(o, "t", 0, &groups), 70);
    ck_assert_uint_eq(groups, 1);

    /* Enough entries to grow the table several times: the partition index follows. */
    char g[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(g, sizeof(g), "g%d", i);
        commit(o, &f, g, "big", i % 7, 1000 + i, false);
    }
    ck_assert_int_eq(min_of(o, "big", 3, &groups), 1003);
    ck_assert_uint_eq(groups, 3000 / 7 + (3 < 3000 % 7));
    ck_assert_int_eq(min_of(o, "t", 0, NULL), 70);
    ck_assert_int_eq(offsets_delete_group(o, "g3", loop_now_ms(&f.loop), NULL), SL_OK);
    ck_assert_int_eq(min_of(o, "big", 3, NULL), 1010);
    offsets_close(o);
    fx_close(&f);

    fx_open(&f, NULL);
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    ck_assert_int_eq(min_of(o, "t", 0, &groups), 70);
    ck_assert_uint_eq(groups, 1);
    ck_assert_int_eq(min_of(o, "big", 3, NULL), 1010);
    ck_assert_int_eq(min_of(o, "t", 1, NULL), 5);
    offsets_close(o);
    fx_end(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage/offsets");
    TCase *tc = tcase_create("offsets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_min_for_partition);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
