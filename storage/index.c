/* index.c: sparse offset and time indexes of a segment (formats in index.h). */
#include "storage/index.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/base.h"
#include "storage/sio.h"

#define INDEX_MAGIC 0x534c4958u     /* "SLIX" */
#define TIMEINDEX_MAGIC 0x534c5449u /* "SLTI" */
#define INDEX_VERSION 1u
#define INDEX_HEAD_BYTES (4 + 4 + 8 + 8 + 8 + 8 + 4)
#define TIMEINDEX_HEAD_BYTES (4 + 4 + 8 + 4)
#define INDEX_ENTRY_BYTES 8
#define TIME_ENTRY_BYTES 12

void index_init(struct seg_index *ix) {
    memset(ix, 0, sizeof(*ix));
    ix->max_timestamp = -1;
    ix->time_indexed = -1;
}

void index_free(struct seg_index *ix) {
    free(ix->off);
    free(ix->time);
    index_init(ix);
}

static void index_push_off(struct seg_index *ix, uint32_t delta, uint32_t pos) {
    if (ix->off_count == ix->off_cap) {
        ix->off_cap = ix->off_cap ? ix->off_cap * 2 : 64;
        ix->off = sl_xrealloc(ix->off, ix->off_cap * sizeof(*ix->off));
    }
    ix->off[ix->off_count++] = (struct index_entry){delta, pos};
}

static void index_push_time(struct seg_index *ix, int64_t ts, uint32_t delta) {
    if (ix->time_count == ix->time_cap) {
        ix->time_cap = ix->time_cap ? ix->time_cap * 2 : 64;
        ix->time = sl_xrealloc(ix->time, ix->time_cap * sizeof(*ix->time));
    }
    ix->time[ix->time_count++] = (struct time_entry){ts, delta};
}

void index_track(struct seg_index *ix, int64_t seg_base, uint64_t pos, uint32_t len,
                 int64_t base_offset, int64_t max_timestamp, uint32_t interval_bytes) {
    SL_ASSERT(base_offset >= seg_base && base_offset - seg_base <= UINT32_MAX);
    SL_ASSERT(pos <= UINT32_MAX);
    uint32_t delta = (uint32_t)(base_offset - seg_base);
    if (max_timestamp > ix->max_timestamp) ix->max_timestamp = max_timestamp;
    /* The first batch always gets an entry, so a lookup never needs a scan from position 0
     * through a huge first batch; afterwards one entry per interval. A time entry names this
     * batch: every record up to and including it is no newer than the entry's timestamp. */
    if (ix->off_count == 0 || ix->bytes_since_entry >= interval_bytes) {
        SL_ASSERT(ix->off_count == 0 || ix->off[ix->off_count - 1].pos < pos);
        index_push_off(ix, delta, (uint32_t)pos);
        ix->bytes_since_entry = 0;
        if (ix->max_timestamp > ix->time_indexed) {
            index_push_time(ix, ix->max_timestamp, delta);
            ix->time_indexed = ix->max_timestamp;
        }
    }
    ix->bytes_since_entry += len;
}

uint64_t index_lookup(const struct seg_index *ix, int64_t seg_base, int64_t offset,
                      int64_t *entry_offset) {
    *entry_offset = seg_base;
    if (offset < seg_base || ix->off_count == 0) return 0;
    uint64_t delta = (uint64_t)(offset - seg_base);
    uint32_t lo = 0, hi = ix->off_count; /* first entry with delta > target */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->off[mid].offset_delta <= delta) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return 0;
    *entry_offset = seg_base + ix->off[lo - 1].offset_delta;
    return ix->off[lo - 1].pos;
}

uint64_t index_last_pos_within(const struct seg_index *ix, uint64_t after_pos, uint64_t pos_max) {
    uint32_t lo = 0, hi = ix->off_count; /* first entry with pos > pos_max */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->off[mid].pos <= pos_max) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0 || ix->off[lo - 1].pos <= after_pos) return 0;
    return ix->off[lo - 1].pos;
}

int64_t index_time_lookup(const struct seg_index *ix, int64_t seg_base, int64_t ts) {
    uint32_t lo = 0, hi = ix->time_count; /* first entry with timestamp >= ts */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ix->time[mid].timestamp < ts) lo = mid + 1;
        else hi = mid;
    }
    return lo == 0 ? seg_base : seg_base + ix->time[lo - 1].offset_delta;
}

void index_truncate(struct seg_index *ix, uint64_t pos) {
    while (ix->off_count && ix->off[ix->off_count - 1].pos >= pos) ix->off_count--;
    uint32_t last_delta = ix->off_count ? ix->off[ix->off_count - 1].offset_delta : 0;
    while (ix->time_count &&
           (ix->off_count == 0 || ix->time[ix->time_count - 1].offset_delta > last_delta))
        ix->time_count--;
    /* The exact newest timestamp of what is left is unknown without a scan; the caller
     * rebuilds the index when it needs it exact (recovery does). */
    ix->max_timestamp = ix->time_count ? ix->time[ix->time_count - 1].timestamp : -1;
    ix->time_indexed = ix->max_timestamp;
    ix->bytes_since_entry = 0;
}

static void index_path(char *out, size_t cap, const char *stem, const char *ext) {
    int n = snprintf(out, cap, "%s%s", stem, ext);
    SL_ASSERT(n > 0 && (size_t)n < cap);
}

/* Under the final name a reader never sees half a file (sio_write_file renames it there). */
static sl_err index_write_file(struct sio *io, const char *path, const uint8_t *buf, size_t len) {
    return sio_write_file(io, path, buf, len, true) ? SL_OK : SL_IO;
}

sl_err index_save(struct sio *io, const struct seg_index *ix, const char *stem, int64_t base_offset,
                  uint64_t log_bytes, int64_t next_offset) {
    char path[4200];
    size_t tlen = TIMEINDEX_HEAD_BYTES + (size_t)ix->time_count * TIME_ENTRY_BYTES + 8;
    size_t olen = INDEX_HEAD_BYTES + (size_t)ix->off_count * INDEX_ENTRY_BYTES + 8;
    uint8_t *buf = sl_xmalloc(SL_MAX(tlen, olen));

    uint8_t *p = buf;
    sl_store_be32(p, TIMEINDEX_MAGIC), p += 4;
    sl_store_be32(p, INDEX_VERSION), p += 4;
    sl_store_be64(p, (uint64_t)base_offset), p += 8;
    sl_store_be32(p, ix->time_count), p += 4;
    for (uint32_t i = 0; i < ix->time_count; i++) {
        sl_store_be64(p, (uint64_t)ix->time[i].timestamp), p += 8;
        sl_store_be32(p, ix->time[i].offset_delta), p += 4;
    }
    sl_store_be64(p, XXH64(buf, (size_t)(p - buf), 0));
    index_path(path, sizeof(path), stem, ".timeindex");
    sl_err e = index_write_file(io, path, buf, tlen);

    /* The .index goes last: its presence with a good checksum is what marks the segment sealed. */
    p = buf;
    sl_store_be32(p, INDEX_MAGIC), p += 4;
    sl_store_be32(p, INDEX_VERSION), p += 4;
    sl_store_be64(p, (uint64_t)base_offset), p += 8;
    sl_store_be64(p, log_bytes), p += 8;
    sl_store_be64(p, (uint64_t)next_offset), p += 8;
    sl_store_be64(p, (uint64_t)ix->max_timestamp), p += 8;
    sl_store_be32(p, ix->off_count), p += 4;
    for (uint32_t i = 0; i < ix->off_count; i++) {
        sl_store_be32(p, ix->off[i].offset_delta), p += 4;
        sl_store_be32(p, ix->off[i].pos), p += 4;
    }
    sl_store_be64(p, XXH64(buf, (size_t)(p - buf), 0));
    index_path(path, sizeof(path), stem, ".index");
    if (e == SL_OK) e = index_write_file(io, path, buf, olen);
    free(buf);
    return e;
}

static long index_read_file(const char *path, uint8_t **out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? -2 : -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (1L << 30)) {
        close(fd);
        return -1;
    }
    uint8_t *buf = sl_xmalloc((size_t)st.st_size);
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    close(fd);
    if (done != (size_t)st.st_size) {
        free(buf);
        return -1;
    }
    *out = buf;
    return (long)done;
}

static bool index_checksum_ok(const uint8_t *buf, long len) {
    return len >= 8 && XXH64(buf, (size_t)len - 8, 0) == sl_load_be64(buf + len - 8);
}

sl_err index_load(struct seg_index *ix, const char *stem, int64_t base_offset, uint64_t *log_bytes,
                  int64_t *next_offset) {
    char path[4200];
    uint8_t *buf = NULL;
    index_free(ix);
    index_path(path, sizeof(path), stem, ".index");
    long len = index_read_file(path, &buf);
    if (len == -2) return SL_NOT_FOUND;
    if (len < 0) return SL_IO;
    sl_err e = SL_CORRUPT;
    if (len < INDEX_HEAD_BYTES + 8 || !index_checksum_ok(buf, len)) goto out;
    if (sl_load_be32(buf) != INDEX_MAGIC || sl_load_be32(buf + 4) != INDEX_VERSION) goto out;
    if ((int64_t)sl_load_be64(buf + 8) != base_offset) goto out;
    uint32_t count = sl_load_be32(buf + 40);
    if ((uint64_t)len != INDEX_HEAD_BYTES + (uint64_t)count * INDEX_ENTRY_BYTES + 8) goto out;
    *log_bytes = sl_load_be64(buf + 16);
    *next_offset = (int64_t)sl_load_be64(buf + 24);
    ix->max_timestamp = (int64_t)sl_load_be64(buf + 32);
    ix->time_indexed = ix->max_timestamp;
    const uint8_t *p = buf + INDEX_HEAD_BYTES;
    for (uint32_t i = 0; i < count; i++, p += INDEX_ENTRY_BYTES)
        index_push_off(ix, sl_load_be32(p), sl_load_be32(p + 4));
    free(buf);
    buf = NULL;

    index_path(path, sizeof(path), stem, ".timeindex");
    len = index_read_file(path, &buf);
    if (len < 0) {
        e = len == -2 ? SL_NOT_FOUND : SL_IO;
        goto out;
    }
    e = SL_CORRUPT;
    if (len < TIMEINDEX_HEAD_BYTES + 8 || !index_checksum_ok(buf, len)) goto out;
    if (sl_load_be32(buf) != TIMEINDEX_MAGIC || sl_load_be32(buf + 4) != INDEX_VERSION) goto out;
    if ((int64_t)sl_load_be64(buf + 8) != base_offset) goto out;
    count = sl_load_be32(buf + 16);
    if ((uint64_t)len != TIMEINDEX_HEAD_BYTES + (uint64_t)count * TIME_ENTRY_BYTES + 8) goto out;
    p = buf + TIMEINDEX_HEAD_BYTES;
    for (uint32_t i = 0; i < count; i++, p += TIME_ENTRY_BYTES)
        index_push_time(ix, (int64_t)sl_load_be64(p), sl_load_be32(p + 8));
    e = SL_OK;
out:
    free(buf);
    if (e != SL_OK) index_free(ix);
    return e;
}

void index_remove_files(struct sio *io, const char *stem) {
    char path[4200];
    index_path(path, sizeof(path), stem, ".index");
    sio_unlink(io, path);
    index_path(path, sizeof(path), stem, ".timeindex");
    sio_unlink(io, path);
}
