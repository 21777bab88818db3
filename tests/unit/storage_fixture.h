/* storage_fixture.h: a real loop and store on a scratch directory for the storage suites,
 * plus deterministic batches and whole-log reads to compare against. */
#ifndef SL_STORAGE_FIXTURE_H
#define SL_STORAGE_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/loop.h"
#include "protocol/kafka_batch.h"
#include "storage/log.h"
#include "storage/store.h"
#include "testutil.h"

struct fx {
    char dir[256];
    struct loop loop;
    struct store *st;
};

static inline void fx_open(struct fx *f, const struct log_config *cfg) {
    struct log_config d;
    if (!cfg) {
        log_config_defaults(&d);
        cfg = &d;
    }
    ck_assert_int_eq(loop_init(&f->loop, 256), 0);
    ck_assert_int_eq(store_open(&f->st, &f->loop, f->dir, cfg, NULL), SL_OK);
}

static inline void fx_start(struct fx *f, const struct log_config *cfg) {
    snprintf(f->dir, sizeof(f->dir), "%s", t_tmpdir());
    fx_open(f, cfg);
}

static inline void fx_close(struct fx *f) {
    ck_assert_int_eq(store_close(f->st), SL_OK);
    loop_close(&f->loop);
    f->st = NULL;
}

static inline void fx_end(struct fx *f) {
    if (f->st) fx_close(f);
    t_rmdir(f->dir);
}

/* One uncompressed batch of nrec records; record i has key "k<tag>-<i>" and a value of
 * value_len bytes derived from (tag, i); timestamps ts0, ts0+1, ... Returns its size. */
static inline uint32_t fx_batch(uint8_t *out, size_t cap, uint32_t nrec, uint32_t value_len, uint64_t tag,
                                int64_t ts0) {
    struct kafka_record_in recs[64];
    char keys[64][32];
    static uint8_t values[64][65536];
    ck_assert(nrec >= 1 && nrec <= 64 && value_len <= 65536);
    for (uint32_t i = 0; i < nrec; i++) {
        int kl = snprintf(keys[i], sizeof(keys[i]), "k%llu-%u", (unsigned long long)tag, i);
        t_fill_random(values[i], value_len, tag * 131 + i);
        recs[i] = (struct kafka_record_in){.key = keys[i], .key_len = kl, .value = values[i],
                                           .value_len = (int32_t)value_len, .timestamp_ms = ts0 + i};
    }
    size_t n = kafka_batch_encode(out, cap, recs, nrec, -1, -1, -1);
    ck_assert_uint_gt(n, 0);
    return (uint32_t)n;
}

static inline void fx_flush(struct log *g) { ck_assert_int_eq(log_flush(g, false, 10000), SL_OK); }

/* Reads [from, written end) through log_read spans into a malloc'ed buffer. */
static inline size_t fx_read_all(struct log *g, int64_t from, uint32_t bytes_max, uint8_t **out) {
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    int64_t at = from;
    for (int guard = 0; guard < 1000000; guard++) {
        struct log_span sp;
        ck_assert_int_eq(log_read(g, at, bytes_max, &sp), SL_OK);
        if (sp.len == 0) break;
        ck_assert_int_le(sp.base_offset, at);
        ck_assert_int_gt(sp.next_offset, at);
        while (len + sp.len > cap) buf = realloc(buf, cap *= 2);
        ck_assert_int_eq(pread(sp.fd, buf + len, sp.len, (off_t)sp.pos), (ssize_t)sp.len);
        len += sp.len;
        at = sp.next_offset;
        log_span_release(&sp);
    }
    *out = buf;
    return len;
}

/* A tmpfs of the test's own, for full-disk tests (mounting needs root: mnt_make returns false
 * and the caller skips otherwise). data is a path inside it for the store. */
struct mnt {
    char root[256];
    char data[320];
};

static inline bool mnt_make(struct mnt *m, const char *opts) {
    snprintf(m->root, sizeof(m->root), "%s", t_tmpdir());
    if (mount("tmpfs", m->root, "tmpfs", 0, opts) != 0) {
        rmdir(m->root);
        return false;
    }
    snprintf(m->data, sizeof(m->data), "%s/data", m->root);
    return true;
}

static inline void mnt_drop(struct mnt *m) {
    umount2(m->root, MNT_DETACH);
    t_rmdir(m->root);
}

/* Writes up to bytes of filler into path; returns how many fit. */
static inline long fill_file(const char *path, long bytes) {
    static uint8_t chunk[65536];
    memset(chunk, 0xa5, sizeof(chunk));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    long done = 0;
    while (done < bytes) {
        ssize_t n = write(fd, chunk, (size_t)SL_MIN((long)sizeof(chunk), bytes - done));
        if (n <= 0) break;
        done += n;
    }
    close(fd);
    return done;
}

#endif
