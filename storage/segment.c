/* segment.c: one .log file of a partition and its lifetime (see segment.h). */
#include "storage/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "protocol/kafka_batch.h"
#include "storage/store_internal.h"

struct seg *seg_new(struct store *st, struct log *g, const char *dir, int64_t base_offset) {
    size_t stem_len = strlen(dir) + 1 + 20 + 1;
    struct seg *s = sl_xcalloc(1, sizeof(*s) + stem_len);
    snprintf(s->stem, stem_len, "%s/%020lld", dir, (long long)base_offset);
    s->base_offset = base_offset;
    s->next_offset = base_offset;
    s->written_next_offset = base_offset;
    s->synced_next_offset = base_offset;
    s->sync_requested_next = base_offset;
    s->created_ms = -1;
    s->fd = -1;
    s->log = g;
    s->store = st;
    index_init(&s->ix);
    return s;
}

void seg_path(const struct seg *s, const char *ext, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s%s", s->stem, ext);
    SL_ASSERT(n > 0 && (size_t)n < cap);
}

sl_err seg_create_file(struct seg *s) {
    char path[4200];
    seg_path(s, ".log", path, sizeof(path));
    SL_ASSERT(s->fd < 0);
    s->fd = sio_open(store_io(s->store), path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd >= 0) return SL_OK;
    return errno == ENOSPC || errno == EDQUOT ? SL_NO_SPACE : SL_IO;
}

sl_err seg_open_fd(struct seg *s) {
    if (s->fd >= 0) return SL_OK;
    char path[4200];
    seg_path(s, ".log", path, sizeof(path));
    /* Sealed segments are only read; the active one is opened read-write by recovery. */
    s->fd = sio_open(store_io(s->store), path, (s->sealed ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
    return s->fd < 0 ? SL_IO : SL_OK;
}

void seg_close_fd(struct seg *s) {
    if (s->fd_cached) store_fd_busy(s->store, s);
    if (s->fd >= 0) sio_close(store_io(s->store), s->fd);
    s->fd = -1;
}

void seg_ref(struct seg *s) {
    if (s->refs++ == 0 && s->fd_cached) store_fd_busy(s->store, s);
}

void seg_unref(struct seg *s) {
    SL_ASSERT(s->refs > 0);
    if (--s->refs) return;
    if (s->deleted) {
        seg_free(s);
        return;
    }
    if (s->sealed && s->fd >= 0) store_fd_idle(s->store, s);
}

void seg_delete(struct seg *s) {
    char path[4200];
    seg_path(s, ".log", path, sizeof(path));
    sio_unlink(store_io(s->store), path);
    index_remove_files(store_io(s->store), s->stem);
    s->deleted = true;
    s->log = NULL;
    if (s->refs == 0) seg_free(s);
}

void seg_retire(struct seg *s) {
    s->deleted = true;
    s->log = NULL;
    if (s->refs == 0) seg_free(s);
}

void seg_free(struct seg *s) {
    SL_ASSERT(s->refs == 0);
    seg_close_fd(s);
    index_free(&s->ix);
    free(s->recent);
    free(s);
}

static sl_err seg_pread_all(int fd, uint8_t *buf, size_t len, uint64_t pos) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(pos + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return SL_IO;
        if (n == 0) return SL_UNDERFLOW;
        done += (size_t)n;
    }
    return SL_OK;
}

sl_err seg_read_batch_head(struct seg *s, uint64_t pos, int64_t *base_offset, uint32_t *len,
                           int64_t *next_offset) {
    uint8_t head[KAFKA_BATCH_HEADER_BYTES];
    sl_err e = seg_pread_all(s->fd, head, sizeof(head), pos);
    if (e) return e == SL_UNDERFLOW ? SL_CORRUPT : e;
    struct kafka_batch_header h;
    e = kafka_batch_header_read(head, sizeof(head), &h);
    if (e) return SL_CORRUPT;
    *base_offset = h.base_offset;
    *len = (uint32_t)h.batch_length + KAFKA_BATCH_LOG_OVERHEAD;
    *next_offset = kafka_batch_last_offset(&h) + 1;
    return SL_OK;
}

bool seg_parse_name(const char *name, int64_t *base_offset) {
    if (strlen(name) != 24 || strcmp(name + 20, ".log") != 0) return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        if (v > (INT64_MAX - (name[i] - '0')) / 10) return false;
        v = v * 10 + (name[i] - '0');
    }
    *base_offset = v;
    return true;
}
