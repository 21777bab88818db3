/* fuzz_fs.h: what the file-reader targets share: a scratch directory on tmpfs emptied before
 * each input, an input split into files, and a segment whose batch CRCs are patched so mutations
 * get past the checksum into the logic behind it. */
#ifndef SL_FUZZ_FS_H
#define SL_FUZZ_FS_H

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "protocol/kafka_batch.h"

static char fz_dir[256];

static int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    if (ftw->level > 0) remove(path);
    return 0;
}

/* An empty scratch directory, made once per process on tmpfs when there is one. */
static inline const char *fz_scratch(void) {
    if (!fz_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fz_dir, sizeof(fz_dir), "%s/sluice-fuzz-XXXXXX", base);
        if (!mkdtemp(fz_dir)) abort();
        /* Readers warn about what they drop; millions of runs would drown the fuzzer's output. */
        sl_log_level_max = SL_LOG_ERROR;
    } else {
        nftw(fz_dir, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    return fz_dir;
}

static inline void fz_write(const char *path, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) abort();
    if (n && write(fd, p, n) != (ssize_t)n) abort();
    close(fd);
}

/* Splits [p, p+n) at each "\n--8<--\n" into at most max parts; returns how many. */
#define FZ_SEP "\n--8<--\n"
static inline size_t fz_split(const uint8_t *p, size_t n, const uint8_t **part, size_t *len, size_t max) {
    size_t k = 0, sl = sizeof(FZ_SEP) - 1;
    while (k + 1 < max) {
        const uint8_t *q = memmem(p, n, FZ_SEP, sl);
        if (!q) break;
        part[k] = p, len[k++] = (size_t)(q - p);
        n -= (size_t)(q - p) + sl, p = q + sl;
    }
    part[k] = p, len[k++] = n;
    return k;
}

/* Patches the CRC of every whole batch from the start, as the log would have written it. */
static inline void fz_fix_crcs(uint8_t *p, size_t n) {
    size_t pos = 0;
    while (pos + KAFKA_BATCH_HEADER_BYTES <= n) {
        uint64_t blen = (uint64_t)sl_load_be32(p + pos + 8) + KAFKA_BATCH_LOG_OVERHEAD;
        if (blen < KAFKA_BATCH_HEADER_BYTES || pos + blen > n) break;
        kafka_batch_update_crc(p + pos, (size_t)blen);
        pos += blen;
    }
}

#endif
