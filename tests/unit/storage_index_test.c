/* storage_index_test.c: storage/index.c: lookups at every boundary, time lookups, truncation,
 * and the files' round trip and checksum. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/index.h"
#include "testutil.h"

/* 100 batches of 10 offsets and 100 bytes each, starting at offset 1000, an entry every 250
 * bytes: entries at batches 0, 3, 6, ... (the third batch after an entry crosses the interval). */
static void build(struct seg_index *ix) {
    index_init(ix);
    for (int b = 0; b < 100; b++)
        index_track(ix, 1000, (uint64_t)b * 100, 100, 1000 + b * 10, 5000 + b, 250);
}

START_TEST(test_lookup_every_boundary) {
    struct seg_index ix;
    build(&ix);
    ck_assert_uint_eq(ix.off_count, 34);
    for (int64_t off = 1000; off < 2000; off++) {
        int64_t entry;
        uint64_t pos = index_lookup(&ix, 1000, off, &entry);
        int b = (int)(off - 1000) / 10; /* the batch holding off */
        int eb = b - b % 3;             /* the indexed batch at or before it */
        ck_assert_uint_eq(pos, (uint64_t)eb * 100);
        ck_assert_int_eq(entry, 1000 + eb * 10);
    }
    int64_t entry;
    ck_assert_uint_eq(index_lookup(&ix, 1000, 999, &entry), 0);
    ck_assert_int_eq(entry, 1000);
    ck_assert_uint_eq(index_lookup(&ix, 1000, 1 << 30, &entry), 9900);
    /* last entry position in (after, max] */
    ck_assert_uint_eq(index_last_pos_within(&ix, 0, 299), 0);
    ck_assert_uint_eq(index_last_pos_within(&ix, 0, 300), 300);
    ck_assert_uint_eq(index_last_pos_within(&ix, 300, 300), 0);
    ck_assert_uint_eq(index_last_pos_within(&ix, 0, 1 << 30), 9900);
    ck_assert_uint_eq(index_last_pos_within(&ix, 299, 599), 300);
    index_free(&ix);
}
END_TEST

START_TEST(test_time_lookup) {
    struct seg_index ix;
    build(&ix);
    ck_assert_int_eq(ix.max_timestamp, 5099);
    /* Start scanning no later than the batch where ts could first appear. */
    for (int64_t ts = 4990; ts < 5110; ts++) {
        int64_t from = index_time_lookup(&ix, 1000, ts);
        int64_t first_batch = ts <= 5000 ? 0 : (ts > 5099 ? 100 : ts - 5000);
        ck_assert_int_le(from, 1000 + first_batch * 10);
        ck_assert_int_ge(from, 1000);
        if (ts > 5010) ck_assert_int_gt(from, 1000);
    }
    index_free(&ix);
}
END_TEST

START_TEST(test_truncate) {
    struct seg_index ix;
    build(&ix);
    index_truncate(&ix, 650);
    ck_assert_uint_eq(ix.off_count, 3); /* 0, 300, 600 */
    int64_t entry;
    ck_assert_uint_eq(index_lookup(&ix, 1000, 1999, &entry), 600);
    index_truncate(&ix, 0);
    ck_assert_uint_eq(ix.off_count, 0);
    ck_assert_uint_eq(ix.time_count, 0);
    ck_assert_uint_eq(index_lookup(&ix, 1000, 1500, &entry), 0);
    index_free(&ix);
}
END_TEST

START_TEST(test_files_round_trip_and_checksum) {
    const char *dir = t_tmpdir();
    char stem[512];
    snprintf(stem, sizeof(stem), "%s/%020d", dir, 1000);
    struct seg_index ix, back;
    build(&ix);
    index_init(&back);
    uint64_t bytes;
    int64_t next;
    ck_assert_int_eq(index_load(&back, stem, 1000, &bytes, &next), SL_NOT_FOUND);
    ck_assert_int_eq(index_save(NULL, &ix, stem, 1000, 10000, 2000), SL_OK);
    ck_assert_int_eq(index_load(&back, stem, 1000, &bytes, &next), SL_OK);
    ck_assert_uint_eq(bytes, 10000);
    ck_assert_int_eq(next, 2000);
    ck_assert_uint_eq(back.off_count, ix.off_count);
    ck_assert_uint_eq(back.time_count, ix.time_count);
    /* Field by field: struct time_entry has padding, which memcmp would compare too. */
    for (uint32_t i = 0; i < ix.off_count; i++) {
        ck_assert_uint_eq(back.off[i].offset_delta, ix.off[i].offset_delta);
        ck_assert_uint_eq(back.off[i].pos, ix.off[i].pos);
    }
    for (uint32_t i = 0; i < ix.time_count; i++) {
        ck_assert_int_eq(back.time[i].timestamp, ix.time[i].timestamp);
        ck_assert_uint_eq(back.time[i].offset_delta, ix.time[i].offset_delta);
    }
    ck_assert_int_eq(back.max_timestamp, ix.max_timestamp);
    /* A different base offset is refused. */
    ck_assert_int_eq(index_load(&back, stem, 999, &bytes, &next), SL_CORRUPT);

    /* Every single-byte flip in either file is caught. */
    const char *exts[] = {".index", ".timeindex"};
    for (int e = 0; e < 2; e++) {
        char path[600];
        snprintf(path, sizeof(path), "%s%s", stem, exts[e]);
        long size = t_file_size(path);
        ck_assert_int_gt(size, 20);
        for (long pos = 0; pos < size; pos += 7) {
            uint8_t *all;
            ck_assert_int_eq(t_read_file(path, &all), size);
            uint8_t flipped = all[pos] ^ 0x20;
            t_poke(path, pos, &flipped, 1);
            ck_assert_int_eq(index_load(&back, stem, 1000, &bytes, &next), SL_CORRUPT);
            ck_assert_uint_eq(back.off_count, 0);
            t_poke(path, pos, &all[pos], 1);
            free(all);
        }
        ck_assert_int_eq(index_load(&back, stem, 1000, &bytes, &next), SL_OK);
        ck_assert_int_eq(truncate(path, size - 1), 0);
        ck_assert_int_eq(index_load(&back, stem, 1000, &bytes, &next), SL_CORRUPT);
        ck_assert_int_eq(index_save(NULL, &ix, stem, 1000, 10000, 2000), SL_OK);
    }
    index_remove_files(NULL, stem);
    ck_assert_int_eq(index_load(&back, stem, 1000, &bytes, &next), SL_NOT_FOUND);
    index_free(&ix);
    index_free(&back);
    t_rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage/index");
    TCase *tc = tcase_create("index");
    tcase_add_test(tc, test_lookup_every_boundary);
    tcase_add_test(tc, test_time_lookup);
    tcase_add_test(tc, test_truncate);
    tcase_add_test(tc, test_files_round_trip_and_checksum);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
