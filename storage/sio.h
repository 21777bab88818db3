/* sio.h: the storage I/O edge, with faults a test can inject.
 *
 * Every system call storage makes to change files goes through here (opening for write,
 * writes and fsyncs through io_uring, fallocate, ftruncate, fdatasync, rename, unlink, mkdir,
 * directory fsyncs, small-file replacement). With a NULL struct sio every function is the
 * plain call: production passes no plan and pays one branch.
 *
 * A test builds a struct sio (sio_new), adds faults, and hands it to store_open through
 * store_options.io. A fault names an operation kind (or SIO_ANY) and the n-th such operation
 * (1-based, counted from sio_new), and what happens there:
 *   SIO_FAIL      nothing is done; the call fails with err.
 *   SIO_TEAR      a write writes only keep bytes and reports keep (a short write, as the kernel
 *                 may); with keep 0 and err set it writes nothing and fails with err.
 *   SIO_TEAR_FAIL a write writes keep bytes, then reports err.
 *   SIO_CRASH     power is lost just before this operation: it and every later one do nothing
 *                 and fail with EIO, and completions of operations already in flight report
 *                 EIO too (the machine that would have seen them is gone).
 * io_uring operations are faulted at submission: a failing one is submitted on fd -1, so the
 * kernel applies its own link semantics (a linked fdatasync behind it is cancelled), and
 * sio_complete() turns its EBADF into the planned errno.
 *
 * The durability model. For the simulation, sio also keeps per file the ranges written and not
 * yet durable: a write becomes durable once an fdatasync or fsync of its file that succeeded
 * was submitted after it completed (or was linked behind it); a name once its directory was
 * fsynced after the file was created (renames and truncations are taken as durable at once:
 * the simplification is named where it is used). A file's durable prefix is what lies before
 * its lowest range not yet durable: storage only appends, and preallocated zeros are zeros.
 * sio_crash_files() lists what a power loss may do to each file. */
#ifndef SL_STORAGE_SIO_H
#define SL_STORAGE_SIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <liburing.h>

#include "base/loop.h"

enum sio_kind {
    SIO_ANY,
    SIO_OPEN,      /* an open that creates or writes */
    SIO_WRITE,     /* io_uring writes and zero fills, small-file writes */
    SIO_SYNC,      /* fdatasync or fsync of a file, io_uring or not */
    SIO_DIRSYNC,   /* fsync or syncfs of a directory */
    SIO_FALLOCATE,
    SIO_FTRUNCATE,
    SIO_RENAME,
    SIO_UNLINK,    /* unlink and rmdir */
    SIO_MKDIR,
    SIO_KINDS
};

enum sio_action { SIO_FAIL, SIO_TEAR, SIO_TEAR_FAIL, SIO_CRASH };

struct sio_fault {
    enum sio_kind kind;
    uint64_t nth;          /* the n-th operation of kind (1-based) */
    enum sio_action action;
    int err;               /* errno for SIO_FAIL / SIO_TEAR_FAIL (EIO if 0) */
    uint32_t keep;         /* bytes a torn write keeps */
};

struct sio;

struct sio *sio_new(void);
void sio_free(struct sio *io);
/* Adds a fault; up to SIO_FAULTS_MAX. */
#define SIO_FAULTS_MAX 16
void sio_add_fault(struct sio *io, const struct sio_fault *f);
/* Forgets the faults not fired yet (the disk got better). */
void sio_clear_faults(struct sio *io);
/* How many operations of kind were issued so far, and how many faults fired. */
uint64_t sio_count(const struct sio *io, enum sio_kind kind);
uint32_t sio_fired(const struct sio *io);
bool sio_crashed(const struct sio *io);
const char *sio_kind_name(enum sio_kind k);

/* Plain calls (errno set on failure, as the call they stand for). */
int sio_open(struct sio *io, const char *path, int flags, mode_t mode);
int sio_close(struct sio *io, int fd);
int sio_fdatasync(struct sio *io, int fd);
int sio_fsync(struct sio *io, int fd);
int sio_fallocate(struct sio *io, int fd, off_t off, off_t len);
int sio_ftruncate(struct sio *io, int fd, off_t len);
int sio_rename(struct sio *io, const char *from, const char *to);
int sio_unlink(struct sio *io, const char *path);
int sio_rmdir(struct sio *io, const char *path);
int sio_mkdir(struct sio *io, const char *path, mode_t mode);
/* fsync (or syncfs if fs) of a directory; 0 or -1 with errno. */
int sio_sync_dir(struct sio *io, const char *dir, bool fs);
/* Replaces path atomically: writes "<path>.tmp", fsyncs it if sync, renames it over path.
 * False on any failure, and the temporary file is gone. */
bool sio_write_file(struct sio *io, const char *path, const void *buf, size_t len, bool sync);

/* io_uring: prepare sqe for op (its user_data is set by the caller through loop_sqe). */
void sio_prep_write(struct sio *io, struct io_uring_sqe *sqe, struct io_op *op, int fd, const void *buf,
                    uint32_t len, uint64_t off);
void sio_prep_writev(struct sio *io, struct io_uring_sqe *sqe, struct io_op *op, int fd,
                     const struct iovec *iov, unsigned n, uint64_t off);
void sio_prep_fdatasync(struct sio *io, struct io_uring_sqe *sqe, struct io_op *op, int fd);
/* Every completion of an operation prepared above passes through here first. */
int32_t sio_complete_slow(struct sio *io, struct io_op *op, int32_t res);
static inline int32_t sio_complete(struct sio *io, struct io_op *op, int32_t res) {
    return io ? sio_complete_slow(io, op, res) : res;
}

/* The durability model, for a simulated power loss. */
struct sio_file_state {
    const char *path;
    uint64_t durable_bytes; /* a prefix of the file that survives a power loss (UINT64_MAX: all) */
    bool name_durable;      /* false: the file itself may vanish */
};
/* Calls fn for every file the model knows; stops early if fn returns false. */
void sio_crash_files(const struct sio *io, bool (*fn)(void *arg, const struct sio_file_state *f), void *arg);

#endif
