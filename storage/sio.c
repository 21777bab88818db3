/* sio.c: the storage I/O edge and its fault plan (see sio.h). */
#include "storage/sio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/base.h"

/* A range written and not yet covered by an fsync that succeeded. seq orders it against
 * syncs: a sync covers the ranges completed before it was submitted (lower seq), and the
 * write it is linked behind. */
struct sio_range {
    uint64_t off, end, seq;
};

/* What the model knows of one file: its dirty ranges. Everything else is durable (storage
 * only appends, and preallocated zeros are zeros whether or not they were synced). */
struct sio_file {
    char *path;
    struct sio_range *dirty;
    uint32_t dirty_count, dirty_cap;
    bool name_durable;
};

/* An io_uring operation between its preparation and its completion. */
struct sio_pending {
    struct io_op *op;
    enum sio_kind kind;
    int32_t file;     /* index into files, -1 if unknown */
    uint64_t off;     /* writes: where */
    uint64_t seq;     /* syncs: the ranges they cover; a linked write: its range's seq */
    int32_t inject;   /* 0, or the -errno its completion reports */
};

struct sio {
    struct sio_fault faults[SIO_FAULTS_MAX];
    bool fired[SIO_FAULTS_MAX];
    uint32_t fault_count, fired_count;
    uint64_t counts[SIO_KINDS];
    bool crashed;
    struct sio_file *files;
    uint32_t file_count, file_cap;
    int32_t *fd_file; /* fd -> file index, -1 */
    uint32_t fd_cap;
    struct sio_pending *pending;
    uint32_t pending_count, pending_cap;
    /* The last io_uring write prepared, so a linked fdatasync behind it is seen as linked. */
    struct io_uring_sqe *last_write_sqe;
    struct io_op *last_write_op;
    bool last_write_torn;
    uint64_t seq;
};

static const char *const sio_kind_names[SIO_KINDS] = {
    "any", "open", "write", "sync", "dirsync", "fallocate", "ftruncate", "rename", "unlink", "mkdir",
};

const char *sio_kind_name(enum sio_kind k) { return k < SIO_KINDS ? sio_kind_names[k] : "?"; }

struct sio *sio_new(void) { return sl_xcalloc(1, sizeof(struct sio)); }

void sio_free(struct sio *io) {
    if (!io) return;
    for (uint32_t i = 0; i < io->file_count; i++) {
        free(io->files[i].path);
        free(io->files[i].dirty);
    }
    free(io->files);
    free(io->fd_file);
    free(io->pending);
    free(io);
}

void sio_add_fault(struct sio *io, const struct sio_fault *f) {
    SL_ASSERT(io->fault_count < SIO_FAULTS_MAX && f->nth > 0 && f->kind < SIO_KINDS);
    io->fired[io->fault_count] = false;
    io->faults[io->fault_count++] = *f;
}

void sio_clear_faults(struct sio *io) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < io->fault_count; i++) {
        if (!io->fired[i]) continue;
        io->faults[n] = io->faults[i];
        io->fired[n++] = true;
    }
    io->fault_count = n;
}

uint64_t sio_count(const struct sio *io, enum sio_kind kind) { return io->counts[kind]; }
uint32_t sio_fired(const struct sio *io) { return io->fired_count; }
bool sio_crashed(const struct sio *io) { return io && io->crashed; }

/* Counts one operation of kind and returns the fault that fires on it, or NULL. After a crash
 * every operation gets the crash. */
static const struct sio_fault *sio_decide(struct sio *io, enum sio_kind kind) {
    static const struct sio_fault crash = {.kind = SIO_ANY, .nth = 1, .action = SIO_CRASH, .err = EIO};
    io->counts[kind]++;
    io->counts[SIO_ANY]++;
    if (io->crashed) return &crash;
    for (uint32_t i = 0; i < io->fault_count; i++) {
        const struct sio_fault *f = &io->faults[i];
        if (io->fired[i]) continue;
        if (f->nth != io->counts[f->kind] || (f->kind != SIO_ANY && f->kind != kind)) continue;
        io->fired[i] = true;
        io->fired_count++;
        if (f->action == SIO_CRASH) io->crashed = true;
        return f;
    }
    return NULL;
}

static int sio_errno(const struct sio_fault *f) {
    return f->action == SIO_CRASH || f->err == 0 ? EIO : f->err;
}

/* --- the model ------------------------------------------------------------------------- */

static int32_t sio_file_find(const struct sio *io, const char *path) {
    for (uint32_t i = 0; i < io->file_count; i++)
        if (io->files[i].path && strcmp(io->files[i].path, path) == 0) return (int32_t)i;
    return -1;
}

static int32_t sio_file_add(struct sio *io, const char *path, bool name_durable) {
    int32_t i = sio_file_find(io, path);
    if (i < 0) {
        if (io->file_count == io->file_cap) {
            io->file_cap = io->file_cap ? io->file_cap * 2 : 64;
            io->files = sl_xrealloc(io->files, io->file_cap * sizeof(*io->files));
        }
        i = (int32_t)io->file_count++;
        memset(&io->files[i], 0, sizeof(io->files[i]));
        io->files[i].path = strdup(path);
        io->files[i].name_durable = name_durable;
    }
    io->files[i].dirty_count = 0;
    return i;
}

static void sio_fd_set(struct sio *io, int fd, int32_t file) {
    if (fd < 0) return;
    if ((uint32_t)fd >= io->fd_cap) {
        uint32_t cap = io->fd_cap ? io->fd_cap : 256;
        while (cap <= (uint32_t)fd) cap *= 2;
        io->fd_file = sl_xrealloc(io->fd_file, cap * sizeof(*io->fd_file));
        for (uint32_t i = io->fd_cap; i < cap; i++) io->fd_file[i] = -1;
        io->fd_cap = cap;
    }
    io->fd_file[fd] = file;
}

static struct sio_file *sio_fd_file(const struct sio *io, int fd) {
    if (fd < 0 || (uint32_t)fd >= io->fd_cap || io->fd_file[fd] < 0) return NULL;
    return &io->files[io->fd_file[fd]];
}

static void sio_model_written(struct sio_file *f, uint64_t off, uint64_t end, uint64_t seq) {
    if (!f || end <= off) return;
    if (f->dirty_count == f->dirty_cap) {
        f->dirty_cap = f->dirty_cap ? f->dirty_cap * 2 : 16;
        f->dirty = sl_xrealloc(f->dirty, f->dirty_cap * sizeof(*f->dirty));
    }
    f->dirty[f->dirty_count++] = (struct sio_range){off, end, seq};
}

/* An fsync that succeeded: the ranges up to seq are durable. */
static void sio_model_synced(struct sio_file *f, uint64_t seq) {
    if (!f) return;
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->dirty_count; i++)
        if (f->dirty[i].seq > seq) f->dirty[n++] = f->dirty[i];
    f->dirty_count = n;
}

/* A truncation drops what lay past it. */
static void sio_model_truncated(struct sio_file *f, uint64_t len) {
    if (!f) return;
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->dirty_count; i++) {
        struct sio_range r = f->dirty[i];
        if (r.off >= len) continue;
        if (r.end > len) r.end = len;
        f->dirty[n++] = r;
    }
    f->dirty_count = n;
}

static uint64_t sio_file_durable(const struct sio_file *f) {
    uint64_t lo = UINT64_MAX;
    for (uint32_t i = 0; i < f->dirty_count; i++) lo = SL_MIN(lo, f->dirty[i].off);
    return lo;
}

void sio_crash_files(const struct sio *io, bool (*fn)(void *arg, const struct sio_file_state *f), void *arg) {
    for (uint32_t i = 0; i < io->file_count; i++) {
        const struct sio_file *f = &io->files[i];
        if (!f->path) continue;
        struct sio_file_state s = {.path = f->path, .durable_bytes = sio_file_durable(f), .name_durable = f->name_durable};
        if (!fn(arg, &s)) return;
    }
}

/* --- plain calls ----------------------------------------------------------------------- */

int sio_open(struct sio *io, const char *path, int flags, mode_t mode) {
    if (!io) return open(path, flags, mode);
    bool writes = (flags & (O_CREAT | O_WRONLY | O_RDWR | O_TRUNC)) != 0;
    if (!writes) {
        int fd = open(path, flags, mode);
        sio_fd_set(io, fd, -1);
        return fd;
    }
    const struct sio_fault *f = sio_decide(io, SIO_OPEN);
    if (f) {
        errno = sio_errno(f);
        return -1;
    }
    struct stat st;
    bool existed = stat(path, &st) == 0;
    int fd = open(path, flags, mode);
    if (fd < 0) return fd;
    int32_t known = sio_file_find(io, path);
    int32_t i;
    if (known >= 0 && !(flags & O_TRUNC)) i = known;
    else if (known >= 0) i = sio_file_add(io, path, io->files[known].name_durable);
    else i = sio_file_add(io, path, existed);
    sio_fd_set(io, fd, i);
    return fd;
}

int sio_close(struct sio *io, int fd) {
    if (io) sio_fd_set(io, fd, -1);
    return close(fd);
}

static int sio_sync_call(struct sio *io, int fd, bool data_only) {
    if (!io) return data_only ? fdatasync(fd) : fsync(fd);
    const struct sio_fault *f = sio_decide(io, SIO_SYNC);
    if (f) {
        errno = sio_errno(f);
        return -1;
    }
    int r = data_only ? fdatasync(fd) : fsync(fd);
    struct sio_file *file = sio_fd_file(io, fd);
    if (r == 0 && file) sio_model_synced(file, UINT64_MAX);
    return r;
}

int sio_fdatasync(struct sio *io, int fd) { return sio_sync_call(io, fd, true); }
int sio_fsync(struct sio *io, int fd) { return sio_sync_call(io, fd, false); }

int sio_fallocate(struct sio *io, int fd, off_t off, off_t len) {
    if (io) {
        const struct sio_fault *f = sio_decide(io, SIO_FALLOCATE);
        if (f) {
            errno = sio_errno(f);
            return -1;
        }
    }
    return fallocate(fd, 0, off, len);
}

static void sio_model_forget(struct sio *io, const char *path) {
    int32_t i = sio_file_find(io, path);
    if (i < 0) return;
    free(io->files[i].path);
    io->files[i].path = NULL;
    io->files[i].dirty_count = 0;
}

/* The model takes a truncation as durable at once: storage cuts only bytes that a recovery
 * scan would reject or that never counted, so a truncation undone by a power loss brings
 * back nothing a reader could take for data. */
int sio_ftruncate(struct sio *io, int fd, off_t len) {
    if (!io) return ftruncate(fd, len);
    const struct sio_fault *f = sio_decide(io, SIO_FTRUNCATE);
    if (f) {
        errno = sio_errno(f);
        return -1;
    }
    int r = ftruncate(fd, len);
    struct sio_file *file = sio_fd_file(io, fd);
    if (r == 0) sio_model_truncated(file, (uint64_t)len);
    return r;
}

/* A rename is taken as atomic and durable (the files renamed are fsynced first, and a lost
 * rename leaves the old version, which every reader of them accepts). */
int sio_rename(struct sio *io, const char *from, const char *to) {
    if (!io) return rename(from, to);
    const struct sio_fault *f = sio_decide(io, SIO_RENAME);
    if (f) {
        errno = sio_errno(f);
        return -1;
    }
    int r = rename(from, to);
    if (r != 0) return r;
    sio_model_forget(io, to);
    int32_t i = sio_file_find(io, from);
    if (i >= 0) {
        free(io->files[i].path);
        io->files[i].path = strdup(to);
        io->files[i].name_durable = true;
    }
    return r;
}


int sio_unlink(struct sio *io, const char *path) {
    if (!io) return unlink(path);
    const struct sio_fault *f = sio_decide(io, SIO_UNLINK);
    if (f) {
        errno = sio_errno(f);
        return -1;
    }
    int r = unlink(path);
    if (r == 0) sio_model_forget(io, path);
    return r;
}

int sio_rmdir(struct sio *io, const char *path) {
    if (io) {
        const struct sio_fault *f = sio_decide(io, SIO_UNLINK);
        if (f) {
            errno = sio_errno(f);
            return -1;
        }
    }
    return rmdir(path);
}

int sio_mkdir(struct sio *io, const char *path, mode_t mode) {
    if (io) {
        const struct sio_fault *f = sio_decide(io, SIO_MKDIR);
        if (f) {
            errno = sio_errno(f);
            return -1;
        }
    }
    return mkdir(path, mode);
}

/* Whether path names an entry directly inside dir. */
static bool sio_in_dir(const char *path, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    return strncmp(path, dir, n) == 0 && path[n] == '/' && !strchr(path + n + 1, '/');
}

int sio_sync_dir(struct sio *io, const char *dir, bool fs) {
    if (io) {
        const struct sio_fault *f = sio_decide(io, SIO_DIRSYNC);
        if (f) {
            errno = sio_errno(f);
            return -1;
        }
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fs ? syncfs(fd) : fsync(fd);
    int err = errno;
    close(fd);
    errno = err;
    if (r != 0 || !io) return r;
    for (uint32_t i = 0; i < io->file_count; i++) {
        struct sio_file *file = &io->files[i];
        if (!file->path) continue;
        if (fs || sio_in_dir(file->path, dir)) file->name_durable = true;
        if (fs) sio_model_synced(file, UINT64_MAX);
    }
    return 0;
}

/* One write(2) through the plan; a torn one writes a prefix. */
static ssize_t sio_write_call(struct sio *io, int fd, const void *buf, size_t len, off_t off) {
    const struct sio_fault *f = io ? sio_decide(io, SIO_WRITE) : NULL;
    size_t want = len;
    if (f && f->action != SIO_FAIL && f->action != SIO_CRASH && f->keep < len) want = f->keep;
    ssize_t n = 0;
    if (!f || (f->action != SIO_FAIL && f->action != SIO_CRASH && want > 0)) n = pwrite(fd, buf, want, off);
    if (io && n > 0) sio_model_written(sio_fd_file(io, fd), (uint64_t)off, (uint64_t)off + (uint64_t)n, ++io->seq);
    if (f && (f->action != SIO_TEAR || (f->keep == 0 && f->err))) {
        errno = sio_errno(f);
        return -1;
    }
    return n;
}

bool sio_write_file(struct sio *io, const char *path, const void *buf, size_t len, bool sync) {
    char tmp[4400];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    SL_ASSERT(n > 0 && (size_t)n < sizeof(tmp));
    int fd = sio_open(io, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    size_t done = 0;
    bool ok = true;
    for (uint32_t guard = 0; ok && done < len && guard < 1000000; guard++) {
        ssize_t w = sio_write_call(io, fd, (const uint8_t *)buf + done, len - done, (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else done += (size_t)w;
    }
    ok = ok && done == len && (!sync || sio_fsync(io, fd) == 0);
    ok = sio_close(io, fd) == 0 && ok;
    if (ok && sio_rename(io, tmp, path) == 0) return true;
    sio_unlink(io, tmp);
    return false;
}

/* --- io_uring -------------------------------------------------------------------------- */

static void sio_pending_add(struct sio *io, struct io_op *op, enum sio_kind kind, int32_t file, uint64_t off,
                            int32_t inject) {
    if (io->pending_count == io->pending_cap) {
        io->pending_cap = io->pending_cap ? io->pending_cap * 2 : 64;
        io->pending = sl_xrealloc(io->pending, io->pending_cap * sizeof(*io->pending));
    }
    io->pending[io->pending_count++] = (struct sio_pending){op, kind, file, off, 0, inject};
}

static int32_t sio_fd_index(const struct sio *io, int fd) {
    return fd >= 0 && (uint32_t)fd < io->fd_cap ? io->fd_file[fd] : -1;
}

void sio_prep_write(struct sio *io, struct io_uring_sqe *sqe, struct io_op *op, int fd, const void *buf,
                    uint32_t len, uint64_t off) {
    if (!io) {
        io_uring_prep_write(sqe, fd, buf, len, off);
        return;
    }
    const struct sio_fault *f = sio_decide(io, SIO_WRITE);
    int32_t inject = 0;
    uint32_t want = len;
    if (f) {
        bool tear = f->action == SIO_TEAR || f->action == SIO_TEAR_FAIL;
        want = tear && f->keep < len ? f->keep : len;
        if (!tear || want == 0) fd = -1; /* nothing is written; the kernel fails it (EBADF) */
        if (f->action != SIO_TEAR || (want == 0 && f->err)) inject = -sio_errno(f);
    }
    io_uring_prep_write(sqe, fd, buf, want, off);
    int32_t file = sio_fd_index(io, fd);
    sio_pending_add(io, op, SIO_WRITE, file, off, inject);
    io->last_write_sqe = sqe;
    io->last_write_op = op;
    io->last_write_torn = f != NULL;
}

void sio_prep_writev(struct sio *io, struct io_uring_sqe *sqe, struct io_op *op, int fd,
                     const struct iovec *iov, unsigned n, uint64_t off) {
    if (!io) {
        io_uring_prep_writev(sqe, fd, iov, n, off);
        return;
    }
    /* A vectored write (zero fill) is never torn here: any fault fails it whole. */
    const struct sio_fault *f = sio_decide(io, SIO_WRITE);
    if (f) fd = -1;
    io_uring_prep_writev(sqe, fd, iov, n, off);
    sio_pending_add(io, op, SIO_WRITE, sio_fd_index(io, fd), off, f ? -sio_errno(f) : 0);
    io->last_write_sqe = NULL;
}

void sio_prep_fdatasync(struct sio *io, struct io_uring_sqe *sqe, struct io_op *op, int fd) {
    if (!io) {
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        return;
    }
    int32_t file = sio_fd_index(io, fd);
    /* Linked behind the write just prepared: it runs only once that write wrote all it was
     * asked to, so it covers that write too. Behind a torn write the kernel would cancel it
     * (a short result breaks a link); the emulated tear asked for fewer bytes, so the
     * cancellation is emulated as well. */
    bool linked = io->last_write_sqe && (io->last_write_sqe->flags & IOSQE_IO_LINK);
    uint64_t covers = ++io->seq;
    for (uint32_t i = 0; linked && i < io->pending_count; i++)
        if (io->pending[i].op == io->last_write_op) io->pending[i].seq = covers;
    const struct sio_fault *f = sio_decide(io, SIO_SYNC);
    int32_t inject = f ? -sio_errno(f) : 0;
    if (!f && linked && io->last_write_torn) inject = -ECANCELED;
    io->last_write_sqe = NULL;
    io_uring_prep_fsync(sqe, inject ? -1 : fd, IORING_FSYNC_DATASYNC);
    sio_pending_add(io, op, SIO_SYNC, file, 0, inject);
    io->pending[io->pending_count - 1].seq = covers;
}

int32_t sio_complete_slow(struct sio *io, struct io_op *op, int32_t res) {
    uint32_t i = 0;
    while (i < io->pending_count && io->pending[i].op != op) i++;
    if (i == io->pending_count) return res;
    struct sio_pending p = io->pending[i];
    io->pending[i] = io->pending[--io->pending_count];
    if (io->crashed) return -EIO;
    struct sio_file *file = p.file >= 0 ? &io->files[p.file] : NULL;
    if (file && !file->path) file = NULL; /* unlinked meanwhile */
    if (p.kind == SIO_WRITE && res > 0)
        sio_model_written(file, p.off, p.off + (uint64_t)res, p.seq ? p.seq : ++io->seq);
    if (p.inject) return p.inject;
    if (p.kind == SIO_SYNC && res == 0) sio_model_synced(file, p.seq);
    return res;
}
