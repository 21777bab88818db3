/* storage_offsets_test.c: storage/offsets.c: the lowest committed offset of a partition over
 * its groups (work-queue retention), through new groups, moves, tombstones, table growth and
 * a reopen; metadata bytes (with NULs) through commits, compaction and reopens. */
#include <check.h>

#include "storage/kvlog.h"
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

static void check_md(struct offsets *o, const char *want, int32_t want_len) {
    const struct offset_value *v = offsets_get(o, "g", "t", 1, 0);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->offset, 42);
    ck_assert_int_eq(v->metadata_len, want_len);
    ck_assert_mem_eq(v->metadata, want, (size_t)want_len);
}

/* Metadata is bytes: a NUL inside must neither cut it in memory nor on disk, nor through the
 * compaction that many later commits cause, nor through reopens. */
/* Offsets a transaction staged here: invisible until its marker commits them, dropped on abort,
 * and kept across a restart while undecided. */
START_TEST(test_txn_staged_offsets) {
    struct fx f;
    fx_start(&f, NULL);
    struct offsets *o;
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    commit(o, &f, "g", "t", 0, 10, false);
    struct offset_commit c[2] = {{"t", 1, 0, 42, 3, "m1", 2, false}, {"u", 1, 5, 7, -1, NULL, -1, false}};
    ck_assert_int_eq(offsets_txn_stage(o, 1001, 0, "g", c, 2, loop_now_ms(&f.loop), NULL), SL_OK);
    struct offset_commit c2 = {"t", 1, 0, 99, -1, NULL, -1, false};
    ck_assert_int_eq(offsets_txn_stage(o, 2002, 0, "h", &c2, 1, loop_now_ms(&f.loop), NULL), SL_OK);
    ck_assert_int_eq(offsets_get(o, "g", "t", 1, 0)->offset, 10); /* staged: not committed */
    ck_assert_ptr_null(offsets_get(o, "g", "u", 1, 5));
    ck_assert(offsets_txn_pending(o, "g", "t", 1, 0));
    ck_assert(offsets_txn_pending(o, "g", "u", 1, 5));
    ck_assert(!offsets_txn_pending(o, "g", "t", 1, 1));
    ck_assert(!offsets_txn_pending(o, "x", "t", 1, 0));
    ck_assert_int_eq(kvlog_flush(offsets_kvlog(o)), SL_OK);
    offsets_close(o);
    fx_close(&f);

    /* Undecided across a restart. */
    fx_open(&f, NULL);
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    ck_assert(offsets_txn_pending(o, "g", "u", 1, 5));
    ck_assert_int_eq(offsets_get(o, "g", "t", 1, 0)->offset, 10);
    /* Producer 1001 commits: its two offsets become g's; 2002's stay staged. */
    ck_assert_int_eq(offsets_txn_end(o, 1001, 0, 5, true, loop_now_ms(&f.loop), NULL), SL_OK);
    const struct offset_value *v = offsets_get(o, "g", "t", 1, 0);
    ck_assert_int_eq(v->offset, 42);
    ck_assert_int_eq(v->leader_epoch, 3);
    ck_assert_int_eq(v->metadata_len, 2);
    ck_assert_int_eq(memcmp(v->metadata, "m1", 2), 0);
    ck_assert_int_eq(offsets_get(o, "g", "u", 1, 5)->offset, 7);
    ck_assert(!offsets_txn_pending(o, "g", "t", 1, 0));
    ck_assert(offsets_txn_pending(o, "h", "t", 1, 0));
    /* 2002 aborts: nothing of it is committed. */
    ck_assert_int_eq(offsets_txn_end(o, 2002, 1, 7, false, loop_now_ms(&f.loop), NULL), SL_OK);
    ck_assert_ptr_null(offsets_get(o, "h", "t", 1, 0));
    ck_assert(!offsets_txn_pending(o, "h", "t", 1, 0));
    /* 2002's abort came under epoch 1 (a new producer fencing the old): the old one's late
     * TxnOffsetCommit and marker are refused; the new one stages. */
    ck_assert_int_eq(offsets_txn_stage(o, 2002, 0, "h", &c2, 1, loop_now_ms(&f.loop), NULL), SL_PRODUCER_FENCED);
    ck_assert_int_eq(offsets_txn_end(o, 2002, 0, 7, true, loop_now_ms(&f.loop), NULL), SL_INVALID_PRODUCER_EPOCH);
    /* A deposed coordinator (epoch 6, after 7's marker) is refused before the producer epoch
     * is looked at, as Kafka's producer state checks them. */
    ck_assert_int_eq(offsets_txn_end(o, 2002, 1, 6, true, loop_now_ms(&f.loop), NULL),
                     SL_TRANSACTION_COORDINATOR_FENCED);
    ck_assert_int_eq(offsets_txn_end(o, 2002, 2, 6, true, loop_now_ms(&f.loop), NULL),
                     SL_TRANSACTION_COORDINATOR_FENCED);
    ck_assert(!offsets_txn_pending(o, "h", "t", 1, 0));
    /* A marker for a producer that staged nothing here: done at once. */
    ck_assert_int_eq(offsets_txn_end(o, 3003, 0, -1, true, loop_now_ms(&f.loop), NULL), SL_OK);
    ck_assert_int_eq(kvlog_flush(offsets_kvlog(o)), SL_OK);
    offsets_close(o);
    fx_close(&f);

    fx_open(&f, NULL);
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    ck_assert_int_eq(offsets_get(o, "g", "t", 1, 0)->offset, 42);
    ck_assert_int_eq(offsets_get(o, "g", "u", 1, 5)->offset, 7);
    ck_assert_ptr_null(offsets_get(o, "h", "t", 1, 0));
    ck_assert(!offsets_txn_pending(o, "h", "t", 1, 0));
    /* The epoch fence holds across the restart. */
    ck_assert_int_eq(offsets_txn_stage(o, 2002, 0, "h", &c2, 1, loop_now_ms(&f.loop), NULL), SL_PRODUCER_FENCED);
    ck_assert_int_eq(offsets_txn_stage(o, 2002, 1, "h", &c2, 1, loop_now_ms(&f.loop), NULL), SL_OK);
    ck_assert(offsets_txn_pending(o, "h", "t", 1, 0));
    /* So does the coordinator fence (a stage, which names no coordinator, left it as it was):
     * the old coordinator's commit changes nothing, the current one's commits. */
    ck_assert_int_eq(offsets_txn_end(o, 2002, 1, 6, true, loop_now_ms(&f.loop), NULL),
                     SL_TRANSACTION_COORDINATOR_FENCED);
    ck_assert(offsets_txn_pending(o, "h", "t", 1, 0));
    ck_assert_ptr_null(offsets_get(o, "h", "t", 1, 0));
    ck_assert_int_eq(offsets_txn_end(o, 2002, 1, 7, true, loop_now_ms(&f.loop), NULL), SL_OK);
    ck_assert_int_eq(offsets_get(o, "h", "t", 1, 0)->offset, 99);
    ck_assert(!offsets_txn_pending(o, "h", "t", 1, 0));
    offsets_close(o);
    fx_end(&f);
}
END_TEST

START_TEST(test_metadata_bytes) {
    static const char md[] = "a\0b\0\0\xff\x01" "end\0";
    const int32_t md_len = (int32_t)sizeof(md) - 1;
    struct fx f;
    fx_start(&f, NULL);
    struct offsets *o;
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    struct offset_commit c = {.topic = "t", .topic_len = 1, .partition = 0, .offset = 42, .leader_epoch = -1,
                              .metadata = md, .metadata_len = md_len};
    ck_assert_int_eq(offsets_commit(o, "g", &c, 1, loop_now_ms(&f.loop), NULL), SL_OK);
    check_md(o, md, md_len);
    struct offset_commit empty = c;
    empty.partition = 1;
    empty.metadata = "";
    empty.metadata_len = 0;
    ck_assert_int_eq(offsets_commit(o, "g", &empty, 1, loop_now_ms(&f.loop), NULL), SL_OK);
    /* Enough overwrites of one other key to pass the compaction threshold (10,000 records, 4x
     * the live entries), with turns of the loop that carries the compaction. */
    for (int i = 0; i < 12000; i++) {
        commit(o, &f, "other", "t", 0, i, false);
        if (i % 1000 == 0) loop_run_once(&f.loop, 10);
    }
    for (int i = 0; i < 50; i++) loop_run_once(&f.loop, 10);
    check_md(o, md, md_len);
    offsets_close(o);
    fx_close(&f);
    for (int round = 0; round < 2; round++) {
        fx_open(&f, NULL);
        ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
        for (int i = 0; i < 50; i++) loop_run_once(&f.loop, 10);
        check_md(o, md, md_len);
        const struct offset_value *v = offsets_get(o, "g", "t", 1, 1);
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(v->metadata_len, 0);
        offsets_close(o);
        fx_close(&f);
    }
    fx_end(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage/offsets");
    TCase *tc = tcase_create("offsets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_min_for_partition);
    tcase_add_test(tc, test_metadata_bytes);
    tcase_add_test(tc, test_txn_staged_offsets);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
