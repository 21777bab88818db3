/* storage_log_nospace_test.c: a full disk is not permanent (storage/log_write.c). Stores on a
 * small tmpfs mounted by the test are filled until writes fail with ENOSPC; every append that
 * was acknowledged must read back byte-exact, every other one must have failed with
 * SL_NO_SPACE, the end offset must equal the written one, and once space is freed appends
 * succeed again at exactly the next offset, before and after a reopen (clean, without the
 * marker, and from a copy taken while the disk was full, as a crash would leave it). Mounting
 * needs root: without it the suite is skipped (77). */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "base/base.h"
#include "storage/offsets.h"
#include "storage_fixture.h"

/* ---- a tmpfs of its own ---------------------------------------------------------------------- */


/* ---- appends that remember their bytes and outcome --------------------------------------------- */

struct rec {
    struct log_waiter w;
    struct log *g;
    sl_err append_err; /* the append itself refused it (never queued) */
    int fired;
    sl_err err;
    int64_t written_at_fire;
    int64_t base;
    uint32_t len, nrec, tag;
    uint8_t *bytes; /* as appended, base offset rewritten in place */
};

#define RECS_MAX 6000
static struct rec recs[RECS_MAX];
static uint32_t rec_count;

static void recs_reset(void) {
    for (uint32_t i = 0; i < rec_count; i++) free(recs[i].bytes);
    memset(recs, 0, sizeof(recs));
    rec_count = 0;
}

static void rec_done(struct log_waiter *w, sl_err e) {
    struct rec *r = (struct rec *)w;
    r->fired++;
    r->err = e;
    r->written_at_fire = log_written_offset(r->g);
}

static bool rec_ok(const struct rec *r) { return !r->append_err && r->fired == 1 && r->err == SL_OK; }

/* Batch tag: the same tag is the same bytes (a producer's retry), 1..4 records of 1.5..10.5 KB. */
static struct rec *append_tag(struct log *g, uint32_t tag, bool durable) {
    static uint8_t buf[4 * 12000];
    ck_assert_uint_lt(rec_count, RECS_MAX);
    struct rec *r = &recs[rec_count++];
    memset(r, 0, sizeof(*r));
    r->g = g;
    r->tag = tag;
    r->w.done = rec_done;
    r->nrec = 1 + tag % 4;
    r->len = fx_batch(buf, sizeof(buf), r->nrec, 1500 + (tag * 7919u) % 9000, tag, 1000 + tag);
    r->append_err = log_append(g, buf, r->len, &r->base, &r->w, durable);
    r->bytes = malloc(r->len);
    memcpy(r->bytes, buf, r->len);
    return r;
}

struct fired_from {
    uint32_t from;
};

static bool recs_all_fired(void *arg) {
    const struct fired_from *ff = arg;
    for (uint32_t i = ff->from; i < rec_count; i++)
        if (!recs[i].append_err && !recs[i].fired) return false;
    return true;
}

static void recs_wait(struct loop *l, uint32_t from) {
    struct fired_from ff = {from};
    ck_assert(loop_run_until(l, recs_all_fired, &ff, 20000));
}

/* The log holds exactly the acknowledged batches of recs[0, upto), back to back, at the offsets
 * they were given; every other one failed with SL_NO_SPACE and no waiter fired twice. */
static void check_log(struct log *g, uint32_t upto) {
    size_t cap = 8 << 20, len = 0;
    uint8_t *expect = malloc(cap);
    int64_t next = 0;
    for (uint32_t i = 0; i < upto; i++) {
        const struct rec *r = &recs[i];
        if (r->append_err) {
            ck_assert_int_eq(r->append_err, SL_NO_SPACE);
            continue;
        }
        ck_assert_int_eq(r->fired, 1);
        if (r->err) {
            ck_assert_int_eq(r->err, SL_NO_SPACE);
            continue;
        }
        ck_assert_int_eq(r->base, next);
        ck_assert_int_gt(r->written_at_fire, r->base + r->nrec - 1);
        ck_assert_uint_le(len + r->len, cap);
        memcpy(expect + len, r->bytes, r->len);
        len += r->len;
        next += r->nrec;
    }
    ck_assert_int_eq(log_error(g), SL_OK);
    ck_assert_int_eq(log_written_offset(g), next);
    ck_assert_int_eq(log_end_offset(g), next);
    uint32_t sizes[] = {1, 1 << 20};
    for (unsigned s = 0; s < 2; s++) {
        uint8_t *got;
        size_t n = fx_read_all(g, 0, sizes[s], &got);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(got, expect, n) == 0);
        free(got);
    }
    free(expect);
}

/* One producer turn: retries what failed last turn (same bytes), then new tags. */
static uint32_t produce_burst(struct fx *f, struct log *g, uint32_t *tag, uint32_t *retry, uint32_t *retry_n,
                              uint32_t fresh, uint32_t *ok, uint32_t *failed) {
    uint32_t from = rec_count;
    uint32_t todo[64], n = 0;
    for (uint32_t i = 0; i < *retry_n && n < 32; i++) todo[n++] = retry[i];
    for (uint32_t i = 0; i < fresh; i++) todo[n++] = (*tag)++;
    for (uint32_t i = 0; i < n; i++) append_tag(g, todo[i], todo[i] % 2 == 0);
    recs_wait(&f->loop, from);
    *retry_n = 0;
    *ok = *failed = 0;
    for (uint32_t i = from; i < rec_count; i++) {
        if (rec_ok(&recs[i])) {
            (*ok)++;
        } else {
            (*failed)++;
            retry[(*retry_n)++] = recs[i].tag;
        }
    }
    return from;
}

/* ---- fill, free, reopen ------------------------------------------------------------------------ */

struct shape {
    enum log_durability durability;
    uint64_t segment_bytes;
    uint64_t preallocate_bytes;
};

static const struct shape shapes[] = {
    {LOG_DURABILITY_NONE, 256 << 10, 64 << 10},
    {LOG_DURABILITY_NONE, 64 << 10, 0},
    {LOG_DURABILITY_NONE, 4 << 20, 1 << 20},
    {LOG_DURABILITY_GROUP, 256 << 10, 64 << 10},
    {LOG_DURABILITY_APPEND, 1 << 20, 0},
};

static void shape_config(int i, struct log_config *c) {
    log_config_defaults(c);
    c->durability = shapes[i].durability;
    c->segment_bytes = shapes[i].segment_bytes;
    c->preallocate_bytes = shapes[i].preallocate_bytes;
    c->index_interval_bytes = 8192;
}

static void fx_open_at(struct fx *f, const char *dir, const struct log_config *c) {
    snprintf(f->dir, sizeof(f->dir), "%s", dir);
    fx_open(f, c);
}

START_TEST(test_fill_free_reopen) {
    struct mnt m;
    ck_assert(mnt_make(&m, "size=4m"));
    recs_reset();
    char filler[400], marker[400];
    snprintf(filler, sizeof(filler), "%s/filler", m.root);
    ck_assert_int_eq(fill_file(filler, 1 << 20), 1 << 20);

    struct log_config c;
    shape_config(_i, &c);
    struct fx f;
    fx_open_at(&f, m.data, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, &c, &g), SL_OK);

    /* Until the disk is full: three turns in a row where nothing fits. */
    uint32_t tag = 0, retry[64], retry_n = 0, ok, failed, failed_total = 0, full_turns = 0;
    for (int turn = 0; turn < 2000 && full_turns < 3; turn++) {
        produce_burst(&f, g, &tag, retry, &retry_n, 1 + (uint32_t)turn % 6, &ok, &failed);
        failed_total += failed;
        full_turns = ok ? 0 : full_turns + 1;
        ck_assert_int_eq(log_error(g), SL_OK);
        if (turn % 16 == 0 || failed) check_log(g, rec_count);
    }
    ck_assert_uint_eq(full_turns, 3);
    ck_assert_uint_gt(failed_total, 0);
    check_log(g, rec_count);
    int64_t full_end = log_written_offset(g);
    ck_assert_int_gt(full_end, 100);

    /* What a crash now would leave behind: the files as they are. */
    char crash[300], cmd[800];
    snprintf(crash, sizeof(crash), "%s", t_tmpdir());
    snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", m.data, crash);
    ck_assert_int_eq(system(cmd), 0);
    uint32_t crash_upto = rec_count;

    /* Space comes back: the same log takes appends again, at exactly the next offset. */
    ck_assert_int_eq(unlink(filler), 0);
    uint32_t first_after = rec_count;
    for (int turn = 0; turn < 10; turn++) {
        produce_burst(&f, g, &tag, retry, &retry_n, 3, &ok, &failed);
        ck_assert_uint_eq(failed, 0);
    }
    ck_assert(rec_ok(&recs[first_after]));
    ck_assert_int_eq(recs[first_after].base, full_end);
    check_log(g, rec_count);
    int64_t end = log_written_offset(g);

    /* Clean close and reopen, then again without the marker (a scan). */
    fx_close(&f);
    snprintf(marker, sizeof(marker), "%s/%s", m.data, STORE_CLEAN_MARKER);
    ck_assert_int_eq(access(marker, F_OK), 0);
    fx_open_at(&f, m.data, &c);
    ck_assert(store_get_stats(f.st)->clean);
    g = store_log_get(f.st, "t", 0);
    ck_assert_ptr_nonnull(g);
    check_log(g, rec_count);
    fx_close(&f);
    ck_assert_int_eq(unlink(marker), 0);
    fx_open_at(&f, m.data, &c);
    ck_assert(!store_get_stats(f.st)->clean);
    g = store_log_get(f.st, "t", 0);
    check_log(g, rec_count);
    /* And it still appends where it left off. */
    uint32_t from = rec_count;
    append_tag(g, tag++, false);
    recs_wait(&f.loop, from);
    ck_assert(rec_ok(&recs[from]));
    ck_assert_int_eq(recs[from].base, end);
    fx_close(&f);

    /* The copy taken while the disk was full recovers exactly what was acknowledged then. */
    fx_open_at(&f, crash, &c);
    ck_assert(!store_get_stats(f.st)->clean);
    g = store_log_get(f.st, "t", 0);
    ck_assert_ptr_nonnull(g);
    check_log(g, crash_upto);
    fx_close(&f);
    t_rmdir(crash);
    recs_reset();
    mnt_drop(&m);
}
END_TEST

/* ---- a segment roll that cannot create its file -------------------------------------------- */

START_TEST(test_roll_without_inodes) {
    struct mnt m;
    ck_assert(mnt_make(&m, "size=4m,nr_inodes=64"));
    recs_reset();
    struct log_config c;
    log_config_defaults(&c);
    c.segment_bytes = 24 << 10;
    c.preallocate_bytes = 0;
    c.index_interval_bytes = 4096;
    struct fx f;
    fx_open_at(&f, m.data, &c);
    struct log *g;
    ck_assert_int_eq(store_log_create(f.st, "t", 0, &c, &g), SL_OK);

    /* Every inode taken: the next roll finds no room for a file. */
    char path[400];
    int fillers = 0;
    for (; fillers < 1000; fillers++) {
        snprintf(path, sizeof(path), "%s/f%d", m.root, fillers);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            ck_assert_int_eq(errno, ENOSPC);
            break;
        }
        close(fd);
    }
    ck_assert_int_gt(fillers, 0);
    ck_assert_int_lt(fillers, 1000);

    uint32_t tag = 0, refused = 0;
    for (int i = 0; i < 40; i++) {
        int64_t end_before = log_end_offset(g);
        struct rec *r = append_tag(g, tag++, false);
        if (r->append_err) {
            ck_assert_int_eq(r->append_err, SL_NO_SPACE);
            ck_assert_int_eq(log_end_offset(g), end_before);
            refused++;
        }
        recs_wait(&f.loop, 0);
    }
    ck_assert_uint_gt(refused, 0);
    ck_assert_uint_eq(log_segment_count(g), 1);
    check_log(g, rec_count);

    /* One inode back: the roll succeeds (the old segment's index may not fit: rebuilt later). */
    snprintf(path, sizeof(path), "%s/f0", m.root);
    ck_assert_int_eq(unlink(path), 0);
    uint32_t from = rec_count;
    for (int i = 0; i < 20 && log_segment_count(g) == 1; i++) {
        append_tag(g, tag++, false);
        recs_wait(&f.loop, from);
    }
    for (uint32_t i = from; i < rec_count; i++) ck_assert(rec_ok(&recs[i]));
    ck_assert_uint_eq(log_segment_count(g), 2);
    ck_assert_int_eq(log_flush(g, false, 10000), SL_OK);
    check_log(g, rec_count);

    /* Closing with no inode left for the index or the marker: clean exit, no marker, and the
     * next start scans its way to the same log. */
    char marker[400];
    snprintf(marker, sizeof(marker), "%s/%s", m.data, STORE_CLEAN_MARKER);
    fx_close(&f);
    ck_assert_int_ne(access(marker, F_OK), 0);
    for (int i = 1; i < fillers; i++) {
        snprintf(path, sizeof(path), "%s/f%d", m.root, i);
        unlink(path);
    }
    fx_open_at(&f, m.data, &c);
    ck_assert(!store_get_stats(f.st)->clean);
    g = store_log_get(f.st, "t", 0);
    check_log(g, rec_count);
    from = rec_count;
    for (int i = 0; i < 6; i++) append_tag(g, tag++, false);
    recs_wait(&f.loop, from);
    for (uint32_t i = from; i < rec_count; i++) ck_assert(rec_ok(&recs[i]));
    check_log(g, rec_count);
    fx_close(&f);
    fx_open_at(&f, m.data, &c);
    ck_assert(store_get_stats(f.st)->clean);
    g = store_log_get(f.st, "t", 0);
    check_log(g, rec_count);
    fx_close(&f);
    recs_reset();
    mnt_drop(&m);
}
END_TEST

/* ---- __consumer_offsets ------------------------------------------------------------------------ */

struct commit_wait {
    struct log_waiter w;
    int fired;
    sl_err err;
};

static void commit_done(struct log_waiter *w, sl_err e) {
    struct commit_wait *cw = (struct commit_wait *)w;
    cw->fired++;
    cw->err = e;
}

static bool commit_fired(void *arg) { return ((struct commit_wait *)arg)->fired > 0; }

/* Commits offset for partition p of t with 20 KB of metadata; the outcome once known. */
static sl_err commit_one(struct fx *f, struct offsets *o, int32_t p, int64_t offset) {
    static char meta[20000];
    memset(meta, 'm', sizeof(meta));
    struct offset_commit c = {.topic = "t", .topic_len = 1, .partition = p, .offset = offset,
                              .leader_epoch = 3, .metadata = meta, .metadata_len = (int32_t)sizeof(meta)};
    struct commit_wait cw = {.w.done = commit_done};
    sl_err e = offsets_commit(o, "grp", &c, 1, loop_now_ms(&f->loop), &cw.w);
    if (e) return e;
    ck_assert(loop_run_until(&f->loop, commit_fired, &cw, 20000));
    ck_assert_int_eq(cw.fired, 1);
    return cw.err;
}

START_TEST(test_offsets_commit_fails_then_succeeds) {
    struct mnt m;
    ck_assert(mnt_make(&m, "size=4m"));
    struct log_config c;
    log_config_defaults(&c);
    struct fx f;
    fx_open_at(&f, m.data, &c);
    struct offsets *o;
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);

    int64_t last_ok[3] = {-1, -1, -1};
    int64_t n = 0;
    ck_assert_int_eq(commit_one(&f, o, 0, n), SL_OK);
    last_ok[0] = n++;

    /* The disk fills up: commits keep succeeding while they fit the space the offsets log
     * already holds (its preallocation), then fail with SL_NO_SPACE, again and again. */
    char filler1[400], filler2[400];
    snprintf(filler1, sizeof(filler1), "%s/filler1", m.root);
    snprintf(filler2, sizeof(filler2), "%s/filler2", m.root);
    ck_assert_int_eq(fill_file(filler1, 512 << 10), 512 << 10);
    fill_file(filler2, 64 << 20);
    int ok_while_full = 0, failed = 0;
    for (int i = 0; i < 400 && failed < 5; i++, n++) {
        int32_t p = (int32_t)(n % 3);
        sl_err e = commit_one(&f, o, p, n);
        if (e == SL_OK) {
            ck_assert_int_eq(failed, 0);
            ok_while_full++;
            last_ok[p] = n;
        } else {
            ck_assert_int_eq(e, SL_NO_SPACE);
            failed++;
        }
    }
    ck_assert_int_eq(failed, 5);
    ck_assert_int_gt(ok_while_full, 0);
    struct log *g = store_log_get(f.st, OFFSETS_TOPIC, 0);
    ck_assert_int_eq(log_error(g), SL_OK);
    ck_assert_int_eq(log_written_offset(g), log_end_offset(g));

    /* Space back: commits succeed again without a reopen. */
    ck_assert_int_eq(unlink(filler1), 0);
    for (int i = 0; i < 6; i++, n++) {
        int32_t p = (int32_t)(n % 3);
        ck_assert_int_eq(commit_one(&f, o, p, n), SL_OK);
        last_ok[p] = n;
        const struct offset_value *v = offsets_get(o, "grp", "t", 1, p);
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(v->offset, n);
    }
    offsets_close(o);
    fx_close(&f);

    /* After a restart exactly the acknowledged commits are there. */
    fx_open_at(&f, m.data, &c);
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    for (int32_t p = 0; p < 3; p++) {
        const struct offset_value *v = offsets_get(o, "grp", "t", 1, p);
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(v->offset, last_ok[p]);
        ck_assert_int_eq(v->leader_epoch, 3);
        ck_assert_uint_eq(strlen(v->metadata), 20000);
    }
    offsets_close(o);
    fx_close(&f);
    mnt_drop(&m);
}
END_TEST

/* A waiter that notes what OffsetFetch would have said when it fired. */
struct commit_seen {
    struct log_waiter w;
    struct offsets *o;
    int fired;
    sl_err err;
    int64_t p0, p1;
    bool p2_absent;
};

static int64_t offset_of(struct offsets *o, int32_t p) {
    const struct offset_value *v = offsets_get(o, "grp", "t", 1, p);
    return v ? v->offset : -1;
}

static void commit_seen_done(struct log_waiter *w, sl_err e) {
    struct commit_seen *cs = (struct commit_seen *)w;
    cs->fired++;
    cs->err = e;
    cs->p0 = offset_of(cs->o, 0);
    cs->p1 = offset_of(cs->o, 1);
    cs->p2_absent = offsets_get(cs->o, "grp", "t", 1, 2) == NULL;
}

static bool commits_seen_all(void *arg) {
    struct commit_seen *cs = arg;
    for (int i = 0; i < 3; i++)
        if (!cs[i].fired) return false;
    return true;
}

static void ck_committed(struct offsets *o, int32_t p, int64_t want) {
    const struct offset_value *v = offsets_get(o, "grp", "t", 1, p);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->offset, want);
    ck_assert_int_eq(v->leader_epoch, 3);
    ck_assert_uint_eq(strlen(v->metadata), 20000);
}

/* A commit answered with an error is never what OffsetFetch shows: the previous commit is. */
START_TEST(test_offsets_failed_commit_keeps_the_previous) {
    struct mnt m;
    ck_assert(mnt_make(&m, "size=4m"));
    struct log_config c;
    log_config_defaults(&c);
    struct fx f;
    fx_open_at(&f, m.data, &c);
    struct offsets *o;
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    int64_t last_ok[2] = {-1, -1};
    int64_t n = 0;
    for (int32_t p = 0; p < 2; p++, n++) {
        ck_assert_int_eq(commit_one(&f, o, p, n), SL_OK);
        last_ok[p] = n;
    }

    char filler1[400], filler2[400], filler3[400];
    snprintf(filler1, sizeof(filler1), "%s/filler1", m.root);
    snprintf(filler2, sizeof(filler2), "%s/filler2", m.root);
    snprintf(filler3, sizeof(filler3), "%s/filler3", m.root);
    ck_assert_int_eq(fill_file(filler1, 512 << 10), 512 << 10);
    fill_file(filler2, 64 << 20);
    bool failed = false;
    for (int i = 0; i < 400 && !failed; i++, n++) {
        int32_t p = (int32_t)(n % 2);
        sl_err e = commit_one(&f, o, p, n);
        if (e == SL_OK) {
            last_ok[p] = n;
            ck_committed(o, p, n);
            continue;
        }
        ck_assert_int_eq(e, SL_NO_SPACE);
        failed = true;
        ck_committed(o, p, last_ok[p]); /* not n */
        ck_committed(o, 1 - p, last_ok[1 - p]);
    }
    ck_assert(failed);
    fill_file(filler3, 64 << 20);

    /* Three in flight at once: a first commit of partition 2, a new offset for 0, and the
     * group's deletion; the one write of the turn does not fit, all three fail. */
    static char meta[20000];
    memset(meta, 'm', sizeof(meta));
    struct commit_seen cs[3];
    memset(cs, 0, sizeof(cs));
    for (int i = 0; i < 3; i++) cs[i] = (struct commit_seen){.w.done = commit_seen_done, .o = o};
    struct offset_commit c2 = {.topic = "t", .topic_len = 1, .partition = 2, .offset = 77, .leader_epoch = 3,
                               .metadata = meta, .metadata_len = (int32_t)sizeof(meta)};
    ck_assert_int_eq(offsets_commit(o, "grp", &c2, 1, loop_now_ms(&f.loop), &cs[0].w), SL_OK);
    struct offset_commit c0 = c2;
    c0.partition = 0;
    c0.offset = 999;
    ck_assert_int_eq(offsets_commit(o, "grp", &c0, 1, loop_now_ms(&f.loop), &cs[1].w), SL_OK);
    ck_assert_int_eq(offset_of(o, 2), 77);
    ck_assert_int_eq(offset_of(o, 0), 999);
    ck_assert_int_eq(offsets_delete_group(o, "grp", loop_now_ms(&f.loop), &cs[2].w), SL_OK);
    ck_assert(!offsets_group_known(o, "grp"));
    ck_assert(loop_run_until(&f.loop, commits_seen_all, cs, 20000));
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(cs[i].fired, 1);
        ck_assert_int_eq(cs[i].err, SL_NO_SPACE);
        ck_assert_int_eq(cs[i].p0, last_ok[0]);
        ck_assert_int_eq(cs[i].p1, last_ok[1]);
        ck_assert(cs[i].p2_absent);
    }
    ck_committed(o, 0, last_ok[0]);
    ck_committed(o, 1, last_ok[1]);
    ck_assert_ptr_null(offsets_get(o, "grp", "t", 1, 2));
    ck_assert_uint_eq(offsets_for_group(o, "grp", NULL, NULL), 2);

    /* Space back: a commit succeeds; a restart shows exactly the acknowledged commits. */
    ck_assert_int_eq(unlink(filler1), 0);
    ck_assert_int_eq(unlink(filler3), 0);
    ck_assert_int_eq(commit_one(&f, o, 2, 7), SL_OK);
    offsets_close(o);
    fx_close(&f);
    fx_open_at(&f, m.data, &c);
    ck_assert_int_eq(offsets_open(&o, f.st, loop_now_ms(&f.loop)), SL_OK);
    ck_committed(o, 0, last_ok[0]);
    ck_committed(o, 1, last_ok[1]);
    ck_committed(o, 2, 7);
    ck_assert_uint_eq(offsets_for_group(o, "grp", NULL, NULL), 3);
    offsets_close(o);
    fx_close(&f);
    mnt_drop(&m);
}
END_TEST

static Suite *nospace_suite(void) {
    Suite *s = suite_create("storage/log nospace");
    TCase *tc = tcase_create("nospace");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_fill_free_reopen, 0, (int)(sizeof(shapes) / sizeof(shapes[0])));
    tcase_add_test(tc, test_roll_without_inodes);
    tcase_add_test(tc, test_offsets_commit_fails_then_succeeds);
    tcase_add_test(tc, test_offsets_failed_commit_keeps_the_previous);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    /* Mounting a tmpfs needs root (or CAP_SYS_ADMIN): skip the suite without it. */
    struct mnt probe;
    if (!mnt_make(&probe, "size=1m")) {
        fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
        return 77;
    }
    mnt_drop(&probe);
    SRunner *r = srunner_create(nospace_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
