/* storage_recovery_test.c: storage/recovery.c: reopening after a clean shutdown (no scan), a
 * real crash (a forked writer that exits without closing), a torn tail batch (alone and inside the
 * preallocated zero fill, where only its written bytes count as dropped), appended garbage,
 * a zero-filled tail, a deleted or corrupt index, and a tear in a middle segment. */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "storage_fixture.h"

#define BATCHES 60

static struct log_config cfg;
static uint8_t expect[1 << 20];
static size_t expect_len;
static size_t batch_end[BATCHES]; /* expect offset after batch b */
static int64_t batch_next[BATCHES];

static void setup_cfg(void) {
    log_config_defaults(&cfg);
    cfg.segment_bytes = 8192;
    cfg.index_interval_bytes = 256;
    cfg.preallocate_bytes = 64 << 10;
    cfg.durability = LOG_DURABILITY_GROUP;
}

static struct log *fill(struct fx *f) {
    struct log *g;
    ck_assert_int_eq(store_log_create(f->st, "r", 0, NULL, &g), SL_OK);
    expect_len = 0;
    for (int b = 0; b < BATCHES; b++) {
        uint8_t batch[16384];
        uint32_t len = fx_batch(batch, sizeof(batch), 1 + b % 4, 50 + (uint32_t)b * 13, (uint64_t)b, b * 1000);
        int64_t base;
        ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_OK);
        memcpy(expect + expect_len, batch, len);
        expect_len += len;
        batch_end[b] = expect_len;
        batch_next[b] = log_end_offset(g);
    }
    ck_assert_int_eq(log_flush(g, true, 10000), SL_OK);
    return g;
}

static void check_prefix(struct log *g, int batches) {
    size_t want = batches ? batch_end[batches - 1] : 0;
    ck_assert_int_eq(log_end_offset(g), batches ? batch_next[batches - 1] : 0);
    uint8_t *got;
    size_t n = fx_read_all(g, 0, 3000, &got);
    ck_assert_uint_eq(n, want);
    ck_assert(memcmp(got, expect, n) == 0);
    free(got);
    /* Appends go on right after what survived, and survive the next restart. */
    uint8_t batch[1024];
    uint32_t len = fx_batch(batch, sizeof(batch), 2, 10, 999, 5);
    int64_t base;
    ck_assert_int_eq(log_append(g, batch, len, &base, NULL, false), SL_OK);
    ck_assert_int_eq(base, batches ? batch_next[batches - 1] : 0);
    ck_assert_int_eq(log_flush(g, true, 10000), SL_OK);
}

static void unmark(struct fx *f) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_CLEAN_MARKER);
    ck_assert_int_eq(unlink(path), 0);
}

/* The highest-numbered .log of the partition. */
static void active_path(struct fx *f, struct log *g, char *out, size_t cap) {
    ck_assert_uint_gt(log_segment_count(g), 0);
    DIR *d;
    int64_t best = -1;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/r-0", f->dir);
    d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        long long v;
        if (strlen(de->d_name) == 24 && strstr(de->d_name, ".log") && sscanf(de->d_name, "%lld", &v) == 1 &&
            v > best)
            best = v;
    }
    closedir(d);
    snprintf(out, cap, "%s/%020lld.log", dir, (long long)best);
}

static long sum_log_files(struct fx *f) {
    char dir[512], path[800];
    snprintf(dir, sizeof(dir), "%s/r-0", f->dir);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    long total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".log") != 0) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        total += t_file_size(path);
    }
    closedir(d);
    return total;
}

START_TEST(test_clean_restart_scans_nothing) {
    struct fx f;
    setup_cfg();
    fx_start(&f, &cfg);
    struct log *g = fill(&f);
    ck_assert_uint_gt(log_segment_count(g), 5);
    fx_close(&f);
    fx_open(&f, &cfg);
    ck_assert(store_get_stats(f.st)->clean);
    ck_assert_uint_eq(store_get_stats(f.st)->scanned_bytes, 0);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, 0);
    g = store_log_get(f.st, "r", 0);
    check_prefix(g, BATCHES);
    /* The marker is gone while running: a crash now must not look clean. */
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f.dir, STORE_CLEAN_MARKER);
    ck_assert_int_ne(access(path, F_OK), 0);
    fx_end(&f);
}
END_TEST

START_TEST(test_crash_with_preallocated_tail) {
    struct fx f;
    setup_cfg();
    snprintf(f.dir, sizeof(f.dir), "%s", t_tmpdir());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The writer: appends, waits until durable, then dies without closing anything. */
        struct loop l;
        struct store *st;
        struct log *g;
        if (loop_init(&l, 64) || store_open(&st, &l, f.dir, &cfg, NULL) ||
            store_log_create(st, "r", 0, NULL, &g))
            _exit(3);
        for (int b = 0; b < BATCHES; b++) {
            uint8_t batch[16384];
            struct kafka_record_in rec = {.key = "k", .key_len = 1, .value = batch, .value_len = 100,
                                          .timestamp_ms = b};
            memset(batch, b, 100);
            uint8_t out[1024];
            size_t len = kafka_batch_encode(out, sizeof(out), &rec, 1, -1, -1, -1);
            int64_t base;
            if (log_append(g, out, (uint32_t)len, &base, NULL, false)) _exit(4);
        }
        _exit(log_flush(g, true, 10000) == SL_OK ? 0 : 5);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    fx_open(&f, &cfg);
    ck_assert(!store_get_stats(f.st)->clean);
    ck_assert_uint_gt(store_get_stats(f.st)->scanned_bytes, 0);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, 0); /* zero fill is not data */
    struct log *g = store_log_get(f.st, "r", 0);
    ck_assert_int_eq(log_end_offset(g), BATCHES);
    uint8_t *got;
    size_t n = fx_read_all(g, 0, 1 << 20, &got);
    size_t pos = 0;
    for (int b = 0; b < BATCHES; b++) {
        struct kafka_batch_header h;
        ck_assert_int_eq(kafka_batch_check(got + pos, 12 + (size_t)(int32_t)sl_load_be32(got + pos + 8), &h), SL_OK);
        ck_assert_int_eq(h.base_offset, b);
        struct kafka_record_iter it;
        struct kafka_record r;
        ck_assert_int_eq(kafka_record_iter_init(&it, got + pos, (size_t)h.batch_length + 12), SL_OK);
        ck_assert_int_eq(kafka_record_next(&it, &r), SL_OK);
        ck_assert_int_eq(r.value_len, 100);
        for (int i = 0; i < 100; i++) ck_assert_uint_eq(r.value[i], (uint8_t)b);
        pos += (size_t)h.batch_length + 12;
    }
    ck_assert_uint_eq(pos, n);
    free(got);
    /* The segments were trimmed back to their batches: no preallocated tail is left. */
    ck_assert_uint_eq(log_size_bytes(g), n);
    ck_assert_int_eq(sum_log_files(&f), (long)n);
    fx_end(&f);
}
END_TEST

/* Clean close, then damage the active segment's tail and reopen as after a crash. */
static struct log *damaged_reopen(struct fx *f, void (*damage)(const char *path, long size)) {
    setup_cfg();
    fx_start(f, &cfg);
    struct log *g = fill(f);
    char path[600];
    active_path(f, g, path, sizeof(path));
    fx_close(f);
    unmark(f);
    damage(path, t_file_size(path));
    fx_open(f, &cfg);
    ck_assert(!store_get_stats(f->st)->clean);
    return store_log_get(f->st, "r", 0);
}

static void damage_torn(const char *path, long size) { ck_assert_int_eq(truncate(path, size - 5), 0); }

static void damage_garbage(const char *path, long size) {
    uint8_t junk[3000];
    t_fill_random(junk, sizeof(junk), 42);
    t_poke(path, size, junk, sizeof(junk));
}

static void damage_zeros(const char *path, long size) {
    static uint8_t zeros[100000];
    t_poke(path, size, zeros, sizeof(zeros));
}

/* A header that names the right next offset and a sane length, with a bad CRC. */
static void damage_fake_batch(const char *path, long size) {
    uint8_t fake[200];
    memset(fake, 0x41, sizeof(fake));
    sl_store_be64(fake, (uint64_t)batch_next[BATCHES - 1]);
    sl_store_be32(fake + 8, sizeof(fake) - 12);
    fake[16] = 2;
    t_poke(path, size, fake, sizeof(fake));
}

START_TEST(test_torn_tail_batch) {
    struct fx f;
    struct log *g = damaged_reopen(&f, damage_torn);
    ck_assert_uint_gt(store_get_stats(f.st)->truncated_bytes, 0);
    check_prefix(g, BATCHES - 1);
    fx_end(&f);
}
END_TEST

/* The last batch torn (its last 5 bytes never written, read back as zeros) inside the
 * preallocated zero fill: only the torn batch's written bytes count as dropped. */
static void damage_torn_in_zero_fill(const char *path, long size) {
    static uint8_t zeros[100000];
    t_poke(path, size - 5, zeros, sizeof(zeros));
}

START_TEST(test_torn_batch_in_zero_fill) {
    struct fx f;
    struct log *g = damaged_reopen(&f, damage_torn_in_zero_fill);
    size_t start = batch_end[BATCHES - 2], end = batch_end[BATCHES - 1] - 5;
    while (end > start && expect[end - 1] == 0) end--;
    ck_assert_uint_gt(end - start, 20);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, end - start);
    check_prefix(g, BATCHES - 1);
    fx_end(&f);
}
END_TEST

/* Garbage, then zero fill: the garbage counts, the zeros do not. */
static void damage_garbage_in_zero_fill(const char *path, long size) {
    static uint8_t zeros[50000];
    uint8_t junk[700];
    t_fill_random(junk, sizeof(junk), 9);
    junk[sizeof(junk) - 1] = 0x5a; /* its last byte is not zero, so exactly 700 bytes are data */
    t_poke(path, size, junk, sizeof(junk));
    t_poke(path, size + (long)sizeof(junk), zeros, sizeof(zeros));
}

START_TEST(test_garbage_in_zero_fill) {
    struct fx f;
    struct log *g = damaged_reopen(&f, damage_garbage_in_zero_fill);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, 700);
    check_prefix(g, BATCHES);
    fx_end(&f);
}
END_TEST

START_TEST(test_appended_garbage) {
    struct fx f;
    struct log *g = damaged_reopen(&f, damage_garbage);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, 3000);
    check_prefix(g, BATCHES);
    fx_end(&f);
}
END_TEST

START_TEST(test_zero_filled_tail) {
    struct fx f;
    struct log *g = damaged_reopen(&f, damage_zeros);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, 0);
    check_prefix(g, BATCHES);
    fx_end(&f);
}
END_TEST

START_TEST(test_fake_batch_with_bad_crc) {
    struct fx f;
    struct log *g = damaged_reopen(&f, damage_fake_batch);
    ck_assert_uint_eq(store_get_stats(f.st)->truncated_bytes, 200);
    check_prefix(g, BATCHES);
    fx_end(&f);
}
END_TEST

/* The first sealed segment's index path. */
static void first_index(struct fx *f, char *out, size_t cap) {
    snprintf(out, cap, "%s/r-0/%020d.index", f->dir, 0);
}

START_TEST(test_deleted_index) {
    struct fx f;
    setup_cfg();
    fx_start(&f, &cfg);
    fill(&f);
    fx_close(&f);
    char path[600];
    first_index(&f, path, sizeof(path));
    ck_assert_int_eq(unlink(path), 0);
    /* Clean start: the index is rebuilt when the segment is first read. */
    fx_open(&f, &cfg);
    struct log *g = store_log_get(f.st, "r", 0);
    check_prefix(g, BATCHES);
    ck_assert_int_eq(access(path, F_OK), 0);
    fx_close(&f);
    /* Unclean start: rebuilt while opening. */
    ck_assert_int_eq(unlink(path), 0);
    unmark(&f);
    fx_open(&f, &cfg);
    ck_assert_uint_gt(store_get_stats(f.st)->scanned_bytes, 0);
    g = store_log_get(f.st, "r", 0);
    ck_assert_int_eq(log_end_offset(g), batch_next[BATCHES - 1] + 2);
    uint8_t *got;
    size_t n = fx_read_all(g, 0, 100, &got);
    ck_assert_uint_gt(n, expect_len);
    ck_assert(memcmp(got, expect, expect_len) == 0);
    free(got);
    fx_end(&f);
}
END_TEST

START_TEST(test_corrupt_index) {
    struct fx f;
    setup_cfg();
    fx_start(&f, &cfg);
    fill(&f);
    fx_close(&f);
    char path[600];
    first_index(&f, path, sizeof(path));
    uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    t_poke(path, 44, junk, sizeof(junk)); /* inside the entries */
    fx_open(&f, &cfg);
    struct log *g = store_log_get(f.st, "r", 0);
    check_prefix(g, BATCHES);
    fx_close(&f);
    t_poke(path, 44, junk, sizeof(junk));
    unmark(&f);
    fx_open(&f, &cfg);
    g = store_log_get(f.st, "r", 0);
    ck_assert_int_eq(log_end_offset(g), batch_next[BATCHES - 1] + 2);
    fx_end(&f);
}
END_TEST

START_TEST(test_tear_in_middle_segment_drops_later_ones) {
    struct fx f;
    setup_cfg();
    fx_start(&f, &cfg);
    struct log *g = fill(&f);
    uint32_t segs = log_segment_count(g);
    ck_assert_uint_gt(segs, 4);
    fx_close(&f);
    unmark(&f);
    /* Flip one byte in the last batch of the second segment and remove its index, as if it
     * had been torn before it was sealed. */
    char dir[512], logp[600], idx[600];
    snprintf(dir, sizeof(dir), "%s/r-0", f.dir);
    DIR *d = opendir(dir);
    int64_t bases[64];
    int nb = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".log") && strlen(de->d_name) == 24) { long long v; if (sscanf(de->d_name, "%lld", &v) == 1 && nb < 64) bases[nb++] = v; }
    closedir(d);
    int64_t second = -1, first_after = -1;
    for (int i = 0; i < nb; i++)
        if (bases[i] > 0 && (second < 0 || bases[i] < second)) second = bases[i];
    for (int i = 0; i < nb; i++)
        if (bases[i] > second && (first_after < 0 || bases[i] < first_after)) first_after = bases[i];
    snprintf(logp, sizeof(logp), "%s/%020lld.log", dir, (long long)second);
    snprintf(idx, sizeof(idx), "%s/%020lld.index", dir, (long long)second);
    long size = t_file_size(logp);
    uint8_t b = 0xEE;
    t_poke(logp, size - 3, &b, 1);
    ck_assert_int_eq(unlink(idx), 0);
    fx_open(&f, &cfg);
    g = store_log_get(f.st, "r", 0);
    /* The log now ends before the damaged batch: nothing after the tear is visible. */
    int last_ok = -1;
    for (int i = 0; i < BATCHES; i++)
        if (batch_next[i] <= first_after) last_ok = i;
    ck_assert_int_ge(last_ok, 1);
    check_prefix(g, last_ok); /* batch last_ok (the torn one) is gone too */
    ck_assert_uint_eq(log_segment_count(g), 2);
    fx_end(&f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("storage/recovery");
    TCase *tc = tcase_create("recovery");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_clean_restart_scans_nothing);
    tcase_add_test(tc, test_crash_with_preallocated_tail);
    tcase_add_test(tc, test_torn_tail_batch);
    tcase_add_test(tc, test_torn_batch_in_zero_fill);
    tcase_add_test(tc, test_garbage_in_zero_fill);
    tcase_add_test(tc, test_appended_garbage);
    tcase_add_test(tc, test_zero_filled_tail);
    tcase_add_test(tc, test_fake_batch_with_bad_crc);
    tcase_add_test(tc, test_deleted_index);
    tcase_add_test(tc, test_corrupt_index);
    tcase_add_test(tc, test_tear_in_middle_segment_drops_later_ones);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
