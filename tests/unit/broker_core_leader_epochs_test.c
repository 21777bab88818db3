/* broker_core_leader_epochs_test.c: broker/core/leader_epochs.c, a partition's leader epoch
 * cache (Kafka's LeaderEpochFileCache, KIP-101). assign: a newer epoch appends, an older or equal
 * one changes nothing, a start below the latest's is moved up to it, one at the latest's start
 * replaces it; truncate: the entries starting at or after the cut go; end_for: Kafka's
 * endOffsetFor (the largest epoch at or below the one asked for, ending at the next entry's
 * start or at the log end; none: -1, -1); persistence: what is saved loads back, a missing file
 * is an empty cache, a file cut inside a line or whose lines stop rising loads the entries before
 * that line. Each test works in a directory of its own under /tmp, removed at its end. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/core/leader_epochs.h"

/* A fresh directory under /tmp (mkdtemp). */
static char *dir_new(void) {
    char *d = strdup("/tmp/sl-leader-epochs-XXXXXX");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

/* Removes the files in d (the cache file and any temporary one) and d itself. */
static void dir_free(char *d) {
    DIR *dd = opendir(d);
    ck_assert_ptr_nonnull(dd);
    struct dirent *e;
    char path[512];
    while ((e = readdir(dd)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(dd);
    ck_assert_int_eq(rmdir(d), 0);
    free(d);
}

static void write_file(const char *d, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/leader_epochs", d);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_back(const char *d) {
    static char buf[4096];
    char path[512];
    snprintf(path, sizeof(path), "%s/leader_epochs", d);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* le holds exactly the n (epoch, start) pairs of want. */
static void ck_entries(const struct leader_epochs *le, const struct leader_epoch *want, uint32_t n) {
    ck_assert_uint_eq(le->count, n);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_int_eq(le->v[i].epoch, want[i].epoch);
        ck_assert_int_eq(le->v[i].start, want[i].start);
    }
    ck_assert_int_eq(leader_epochs_latest(le), n ? want[n - 1].epoch : -1);
}

#define E(...) ((const struct leader_epoch[]){__VA_ARGS__})

/* A cache in memory only (no path: nothing saved), for the pure rules. */
static struct leader_epochs mem(void) {
    struct leader_epochs le;
    memset(&le, 0, sizeof(le));
    return le;
}

START_TEST(test_assign) {
    struct leader_epochs le = mem();
    ck_assert_int_eq(leader_epochs_latest(&le), -1);
    ck_assert_int_eq(leader_epochs_assign(&le, 0, 0), SL_OK);
    ck_entries(&le, E({0, 0}), 1);
    ck_assert_int_eq(leader_epochs_assign(&le, 2, 10), SL_OK); /* newer: appended (epochs may skip) */
    ck_entries(&le, E({0, 0}, {2, 10}), 2);
    ck_assert_int_eq(leader_epochs_assign(&le, 2, 50), SL_OK); /* equal: nothing */
    ck_assert_int_eq(leader_epochs_assign(&le, 1, 60), SL_OK); /* older: nothing */
    ck_entries(&le, E({0, 0}, {2, 10}), 2);
    leader_epochs_free(&le);

    le = mem();
    ck_assert_int_eq(leader_epochs_assign(&le, 1, 0), SL_OK);
    ck_assert_int_eq(leader_epochs_assign(&le, 2, 10), SL_OK);
    ck_assert_int_eq(leader_epochs_assign(&le, 4, 7), SL_OK); /* 7 < 10: starts at 10, replacing 2 */
    ck_entries(&le, E({1, 0}, {4, 10}), 2);
    ck_assert_int_eq(leader_epochs_assign(&le, 5, 20), SL_OK);
    ck_entries(&le, E({1, 0}, {4, 10}, {5, 20}), 3);
    ck_assert_int_eq(leader_epochs_assign(&le, 6, 20), SL_OK); /* same start: replaces 5, which has no batch */
    ck_entries(&le, E({1, 0}, {4, 10}, {6, 20}), 3);
    ck_assert_int_eq(leader_epochs_assign(&le, 7, 21), SL_OK);
    ck_entries(&le, E({1, 0}, {4, 10}, {6, 20}, {7, 21}), 4);
    /* Negative arguments are refused and change nothing. */
    ck_assert_int_eq(leader_epochs_assign(&le, -1, 30), SL_INVALID_ARG);
    ck_assert_int_eq(leader_epochs_assign(&le, 8, -1), SL_INVALID_ARG);
    ck_entries(&le, E({1, 0}, {4, 10}, {6, 20}, {7, 21}), 4);
    /* Many: the array grows past its first allocation. */
    for (int32_t e = 8; e < 100; e++) ck_assert_int_eq(leader_epochs_assign(&le, e, 100 + e), SL_OK);
    ck_assert_uint_eq(le.count, 96);
    ck_assert_int_eq(leader_epochs_latest(&le), 99);
    for (uint32_t i = 1; i < le.count; i++) {
        ck_assert_int_lt(le.v[i - 1].epoch, le.v[i].epoch);
        ck_assert_int_lt(le.v[i - 1].start, le.v[i].start);
    }
    leader_epochs_free(&le);
}
END_TEST

START_TEST(test_assign_move_up_then_replace) {
    /* 3 at 4 when the latest (2) starts at 10: moved up to 10, so it replaces 2 there. */
    struct leader_epochs le = mem();
    ck_assert_int_eq(leader_epochs_assign(&le, 0, 0), SL_OK);
    ck_assert_int_eq(leader_epochs_assign(&le, 2, 10), SL_OK);
    ck_assert_int_eq(leader_epochs_assign(&le, 3, 4), SL_OK);
    ck_entries(&le, E({0, 0}, {3, 10}), 2);
    /* The first entry of an empty cache keeps its start, whatever it is. */
    struct leader_epochs one = mem();
    ck_assert_int_eq(leader_epochs_assign(&one, 5, 1234), SL_OK);
    ck_entries(&one, E({5, 1234}), 1);
    /* Replacing the only entry: same start, newer epoch. */
    ck_assert_int_eq(leader_epochs_assign(&one, 6, 1234), SL_OK);
    ck_entries(&one, E({6, 1234}), 1);
    leader_epochs_free(&le);
    leader_epochs_free(&one);
}
END_TEST

START_TEST(test_truncate) {
    struct leader_epochs le = mem();
    ck_assert_int_eq(leader_epochs_truncate(&le, 0), SL_OK); /* empty: nothing */
    ck_assert_uint_eq(le.count, 0);
    leader_epochs_assign(&le, 0, 0);
    leader_epochs_assign(&le, 1, 10);
    leader_epochs_assign(&le, 3, 20);
    leader_epochs_assign(&le, 4, 30);
    ck_assert_int_eq(leader_epochs_truncate(&le, 100), SL_OK); /* past everything: nothing */
    ck_entries(&le, E({0, 0}, {1, 10}, {3, 20}, {4, 30}), 4);
    ck_assert_int_eq(leader_epochs_truncate(&le, 31), SL_OK); /* inside the latest: kept */
    ck_entries(&le, E({0, 0}, {1, 10}, {3, 20}, {4, 30}), 4);
    ck_assert_int_eq(leader_epochs_truncate(&le, 30), SL_OK); /* at its start: it goes */
    ck_entries(&le, E({0, 0}, {1, 10}, {3, 20}), 3);
    ck_assert_int_eq(leader_epochs_truncate(&le, 11), SL_OK); /* 3 (20) goes, 1 (10) stays */
    ck_entries(&le, E({0, 0}, {1, 10}), 2);
    /* After a truncation an epoch below the one cut off may come back (a new leader's). */
    ck_assert_int_eq(leader_epochs_assign(&le, 2, 11), SL_OK);
    ck_entries(&le, E({0, 0}, {1, 10}, {2, 11}), 3);
    ck_assert_int_eq(leader_epochs_truncate(&le, 0), SL_OK); /* everything */
    ck_entries(&le, NULL, 0);
    leader_epochs_free(&le);
}
END_TEST

START_TEST(test_end_for) {
    struct leader_epochs le = mem();
    int32_t epoch;
    int64_t end;
    leader_epochs_end_for(&le, 5, 100, &epoch, &end); /* empty: none */
    ck_assert_int_eq(epoch, -1);
    ck_assert_int_eq(end, -1);
    leader_epochs_assign(&le, 1, 0);
    leader_epochs_assign(&le, 3, 10);
    leader_epochs_assign(&le, 6, 25);
    const struct {
        int32_t want, epoch;
        int64_t end;
    } cases[] = {
        {0, -1, -1},             /* below the first: none */
        {1, 1, 10},              /* exact: ends where the next starts */
        {2, 1, 10},              /* between: the largest at or below it */
        {3, 3, 25},
        {5, 3, 25},
        {6, 6, 100},             /* the latest: ends at the log end */
        {7, 6, 100},             /* above the latest: still the latest */
        {2147483647, 6, 100},
        {-1, -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        leader_epochs_end_for(&le, cases[i].want, 100, &epoch, &end);
        ck_assert_msg(epoch == cases[i].epoch && end == cases[i].end, "want %d: got %d, %lld, expected %d, %lld",
                      cases[i].want, epoch, (long long)end, cases[i].epoch, (long long)cases[i].end);
    }
    /* The log end is taken as given for the latest. */
    leader_epochs_end_for(&le, 6, 25, &epoch, &end);
    ck_assert_int_eq(epoch, 6);
    ck_assert_int_eq(end, 25);
    leader_epochs_free(&le);
}
END_TEST

START_TEST(test_save_load) {
    char *d = dir_new();
    struct leader_epochs le, back;
    /* A missing file: empty, nothing written by the load. */
    leader_epochs_load(&le, d);
    ck_entries(&le, NULL, 0);
    ck_assert_ptr_null(read_back(d));
    /* Every change is saved, and loads back the same. */
    ck_assert_int_eq(leader_epochs_assign(&le, 0, 0), SL_OK);
    ck_assert_int_eq(leader_epochs_assign(&le, 2, 17), SL_OK);
    ck_assert_int_eq(leader_epochs_assign(&le, 5, 9000000000LL), SL_OK);
    ck_assert_str_eq(read_back(d), "0 0\n2 17\n5 9000000000\n");
    leader_epochs_load(&back, d);
    ck_entries(&back, E({0, 0}, {2, 17}, {5, 9000000000LL}), 3);
    leader_epochs_free(&back);
    /* Changes that change nothing write nothing: the file stays (it is the same). */
    ck_assert_int_eq(leader_epochs_assign(&le, 5, 9000000001LL), SL_OK);
    ck_assert_int_eq(leader_epochs_truncate(&le, 9000000001LL), SL_OK);
    ck_assert_str_eq(read_back(d), "0 0\n2 17\n5 9000000000\n");
    /* A truncation is saved. */
    ck_assert_int_eq(leader_epochs_truncate(&le, 17), SL_OK);
    ck_assert_str_eq(read_back(d), "0 0\n");
    leader_epochs_load(&back, d);
    ck_entries(&back, E({0, 0}), 1);
    leader_epochs_free(&back);
    /* To nothing: an empty file, which loads empty. */
    ck_assert_int_eq(leader_epochs_truncate(&le, 0), SL_OK);
    ck_assert_str_eq(read_back(d), "");
    leader_epochs_load(&back, d);
    ck_entries(&back, NULL, 0);
    leader_epochs_free(&back);
    leader_epochs_free(&le);
    leader_epochs_free(&le); /* twice is fine */
    dir_free(d);
}
END_TEST

START_TEST(test_load_damaged) {
    char *d = dir_new();
    struct leader_epochs le;
    const struct {
        const char *text;
        uint32_t keep; /* entries of {0,0}, {2,10}, {3,25} kept */
    } cases[] = {
        {"0 0\n2 10\n3 25\n", 3},
        {"0 0\n2 10\n3 25", 2},    /* no final newline: cut short (every saved line ends in one) */
        {"0 0\n2 10\n3 ", 2},      /* cut after the epoch */
        {"0 0\n2 10\n3", 2},       /* cut inside the line */
        {"0 0\n2 10\n3 2", 2},     /* "3 25" cut inside its start: 2 is below 10, refused */
        {"0 0\n2 10\nx 25\n", 2},  /* a line that does not parse */
        {"0 0\n2 10\n3 x\n3 25\n", 2},
        {"0 0\n2 10\n2 25\n", 2},  /* epoch not rising */
        {"0 0\n2 10\n1 25\n", 2},  /* epoch going back */
        {"0 0\n2 10\n3 9\n", 2},   /* start going back */
        {"0 0\n2 10\n3 10\n", 3},  /* an equal start rises enough (an epoch with no batch) */
        {"0 0\n2 10\n-3 25\n", 2}, /* negative epoch */
        {"0 0\n2 -10\n3 25\n", 1}, /* negative start */
        {"0 0\n2 10\n3 25\n2 30\n4 40\n", 3}, /* lines after a bad one are not read */
        {"", 0},
        {"garbage", 0},
        {"\n\n0 0\n", 0}, /* a blank line is not one the cache writes: the list ends there */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(d, cases[i].text);
        leader_epochs_load(&le, d);
        ck_assert_msg(le.count == cases[i].keep, "\"%s\": %u entries, want %u", cases[i].text, le.count,
                      cases[i].keep);
        const struct leader_epoch want[] = {{0, 0}, {2, 10}, {3, cases[i].keep == 3 && strstr(cases[i].text, "3 10") ? 10 : 25}};
        ck_entries(&le, want, cases[i].keep);
        leader_epochs_free(&le);
    }
    /* A cache loaded from a damaged file goes on from its prefix, and its next save rewrites
     * the file whole. */
    write_file(d, "0 0\n2 10\n3");
    leader_epochs_load(&le, d);
    ck_assert_int_eq(leader_epochs_assign(&le, 4, 30), SL_OK);
    ck_assert_str_eq(read_back(d), "0 0\n2 10\n4 30\n");
    leader_epochs_free(&le);
    dir_free(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/core/leader_epochs");
    TCase *tc = tcase_create("leader_epochs");
    tcase_add_test(tc, test_assign);
    tcase_add_test(tc, test_assign_move_up_then_replace);
    tcase_add_test(tc, test_truncate);
    tcase_add_test(tc, test_end_for);
    tcase_add_test(tc, test_save_load);
    tcase_add_test(tc, test_load_damaged);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
