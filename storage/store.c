/* store.c: the data directory and every partition log in it (see store.h). */
#include "storage/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "storage/compact.h"
#include "storage/store_internal.h"

struct store {
    struct loop *loop;
    char *dir;
    struct log_config defaults;
    struct store_options opts;
    struct log **logs;
    uint32_t log_count, log_cap;
    /* Lookup by topic and partition: a linear search made creating n partitions cost n^2/2
     * string compares (10,000 partitions: 50 million). Chained; grown to keep chains short. */
    struct log **hash;
    uint32_t hash_cap; /* a power of two, 0 before the first log */
    /* Inside store_create_begin/end the new directories are made durable once, at the end, with
     * one syncfs instead of two fsyncs per partition: on this ext4 each directory fsync writes
     * the shared inode-table and bitmap blocks again, and the data directory's grows with it
     * (1,000 partitions took 6.6 s one by one, the loop blocked throughout). */
    bool defer_dir_sync, dir_sync_owed;
    uint32_t create_first; /* st->logs index of the first log made since store_create_begin */
    struct log *dirty_head;
    struct seg *lru_head, *lru_tail; /* idle sealed-segment fds, most recent first */
    uint32_t lru_count;
    uint64_t last_retention_ms; /* monotonic: paces retention_check_ms */
    uint64_t last_start_save_ms; /* monotonic: paces log_save_start */
    struct loop_timer drain_timer; /* a small drained log waits for a quiet moment (retention.c) */
    struct store_stats stats;
    struct io_op cancel_op;
    struct cleaner *cleaner; /* compacted logs' cleaner thread (compact.c) */
    struct wbuf *pool;       /* spare write buffers */
    uint64_t pool_bytes;
};

#define STORE_WBUF_POOL_BYTES (64ull << 20)
#define STORE_START_SAVE_MS 1000 /* how often moved log start offsets are written (log_save_start) */

struct wbuf *store_wbuf_get(struct store *st, uint32_t need) {
    struct wbuf **pp = &st->pool;
    while (*pp && (*pp)->cap < need) pp = &(*pp)->next;
    struct wbuf *b = *pp;
    if (b) {
        *pp = b->next;
        st->pool_bytes -= b->cap;
    } else {
        b = sl_xcalloc(1, sizeof(*b));
        b->cap = need <= LOG_WBUF_BYTES ? LOG_WBUF_BYTES : need;
        b->data = sl_xmalloc(b->cap);
    }
    b->next = NULL;
    b->len = b->done = 0;
    b->complete = b->failed = false;
    return b;
}

void store_wbuf_put(struct store *st, struct wbuf *b) {
    if (st->pool_bytes + b->cap > STORE_WBUF_POOL_BYTES) {
        free(b->data);
        free(b);
        return;
    }
    b->next = st->pool;
    st->pool = b;
    st->pool_bytes += b->cap;
}

void store_options_defaults(struct store_options *o) {
    o->open_files_max = 1024;
    o->retention_check_ms = 300000;
    o->cleaner_buffer_bytes = 32ull << 20;
    o->io = NULL;
}

struct loop *store_loop(const struct store *st) { return st->loop; }
struct cleaner *store_cleaner(const struct store *st) { return st->cleaner; }
struct sio *store_io(const struct store *st) { return st->opts.io; }
const struct store_stats *store_get_stats(const struct store *st) { return &st->stats; }
struct store_stats *store_stats_mut(struct store *st) { return &st->stats; }
uint32_t store_log_count(const struct store *st) { return st->log_count; }
struct log *store_log_at(const struct store *st, uint32_t i) { return i < st->log_count ? st->logs[i] : NULL; }
const char *store_log_topic(const struct log *g) { return g->topic; }
int32_t store_log_partition(const struct log *g) { return g->partition; }

void store_mark_dirty(struct store *st, struct log *g) {
    if (g->dirty) return;
    g->dirty = true;
    g->dirty_next = st->dirty_head;
    st->dirty_head = g;
}

void store_fd_idle(struct store *st, struct seg *s) {
    if (s->fd < 0 || s->fd_cached || s->refs) return;
    s->fd_cached = true;
    s->lru_prev = NULL;
    s->lru_next = st->lru_head;
    if (st->lru_head) st->lru_head->lru_prev = s;
    else st->lru_tail = s;
    st->lru_head = s;
    st->lru_count++;
    while (st->lru_count > st->opts.open_files_max) seg_close_fd(st->lru_tail);
}

void store_fd_busy(struct store *st, struct seg *s) {
    if (!s->fd_cached) return;
    if (s->lru_prev) s->lru_prev->lru_next = s->lru_next;
    else st->lru_head = s->lru_next;
    if (s->lru_next) s->lru_next->lru_prev = s->lru_prev;
    else st->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
    s->fd_cached = false;
    st->lru_count--;
}

void store_retention_run(struct store *st, uint64_t now_ms) {
    for (uint32_t i = 0; i < st->log_count; i++) log_retention_run(st->logs[i], now_ms);
}

/* The drain timer: every log still owed a drain is pumped, which drains it if it has been
 * quiet long enough (log_drain_maybe re-arms the timer otherwise). */
static void store_drain_fire(struct loop_timer *t, uint64_t now_ms) {
    struct store *st = sl_container_of(t, struct store, drain_timer);
    (void)now_ms;
    for (uint32_t i = 0; i < st->log_count; i++)
        if (st->logs[i]->drain_pending) store_mark_dirty(st, st->logs[i]);
}

void store_drain_later(struct store *st, uint64_t deadline_ms) {
    if (loop_timer_armed(&st->drain_timer)) {
        if (st->drain_timer.deadline_ms <= deadline_ms) return;
        loop_timer_del(st->loop, &st->drain_timer);
    }
    st->drain_timer.fire = store_drain_fire;
    loop_timer_add(st->loop, &st->drain_timer, deadline_ms);
}

/* Before the loop sleeps: every log touched this turn submits its writes and syncs. A pump
 * can make a log dirty again (a waiter appended), so the list is drained a few times. */
static void store_before_sleep(void *arg, struct loop_time now) {
    struct store *st = arg;
    for (int pass = 0; pass < 4 && st->dirty_head; pass++) {
        struct log *g = st->dirty_head;
        st->dirty_head = NULL;
        while (g) {
            struct log *next = g->dirty_next;
            g->dirty = false;
            g->dirty_next = NULL;
            log_pump(g);
            g = next;
        }
    }
    if (now.mono_ms - st->last_start_save_ms >= STORE_START_SAVE_MS) {
        for (uint32_t i = 0; i < st->log_count; i++) log_save_start(st->logs[i]);
        st->last_start_save_ms = now.mono_ms;
    }
    if (now.mono_ms - st->last_retention_ms >= st->opts.retention_check_ms) {
        store_retention_run(st, now.wall_ms); /* retention compares record times: wall */
        st->last_retention_ms = now.mono_ms;
    }
    cleaner_tick(st->cleaner, now.wall_ms, now.mono_ms);
}

static bool store_topic_valid(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > STORE_TOPIC_NAME_MAX || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "<topic>-<partition>": the topic may itself contain dashes, the partition is after the last. */
static bool store_parse_dir_name(const char *name, char *topic, size_t cap, int32_t *partition) {
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1] || (size_t)(dash - name) >= cap) return false;
    long long p = 0;
    for (const char *q = dash + 1; *q; q++) {
        if (*q < '0' || *q > '9' || p > INT32_MAX / 10) return false;
        p = p * 10 + (*q - '0');
    }
    if (p > INT32_MAX) return false;
    memcpy(topic, name, (size_t)(dash - name));
    topic[dash - name] = 0;
    *partition = (int32_t)p;
    return store_topic_valid(topic);
}

static uint32_t store_hash(const char *topic, int32_t partition) {
    uint32_t h = 2166136261u;
    for (const char *p = topic; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return (h ^ (uint32_t)partition) * 16777619u;
}

static void store_hash_grow(struct store *st) {
    uint32_t cap = st->hash_cap ? st->hash_cap * 2 : 64;
    struct log **hash = sl_xcalloc(cap, sizeof(*hash));
    for (uint32_t i = 0; i < st->log_count; i++) {
        struct log *g = st->logs[i];
        uint32_t b = store_hash(g->topic, g->partition) & (cap - 1);
        g->hash_next = hash[b];
        hash[b] = g;
    }
    free(st->hash);
    st->hash = hash;
    st->hash_cap = cap;
}

static void store_hash_remove(struct store *st, struct log *g) {
    if (!st->hash_cap) return;
    struct log **pp = &st->hash[store_hash(g->topic, g->partition) & (st->hash_cap - 1)];
    while (*pp && *pp != g) pp = &(*pp)->hash_next;
    if (*pp) *pp = g->hash_next;
    g->hash_next = NULL;
}

static void store_logs_push(struct store *st, struct log *g) {
    if (st->log_count == st->log_cap) {
        st->log_cap = st->log_cap ? st->log_cap * 2 : 16;
        st->logs = sl_xrealloc(st->logs, st->log_cap * sizeof(*st->logs));
    }
    st->logs[st->log_count++] = g;
    if (st->log_count > st->hash_cap) {
        store_hash_grow(st); /* rebuilds from st->logs, g included */
        return;
    }
    uint32_t b = store_hash(g->topic, g->partition) & (st->hash_cap - 1);
    g->hash_next = st->hash[b];
    st->hash[b] = g;
}

static sl_err store_open_log(struct store *st, const char *name, bool clean) {
    char topic[STORE_TOPIC_NAME_MAX + 1], dir[4200];
    int32_t partition;
    if (!store_parse_dir_name(name, topic, sizeof(topic), &partition)) return SL_OK;
    snprintf(dir, sizeof(dir), "%s/%s", st->dir, name);
    struct log *g = log_new(st, dir, topic, partition, &st->defaults);
    struct recovery_report rep;
    memset(&rep, 0, sizeof(rep));
    sl_err e = recovery_open_log(g, clean, &rep);
    if (e) {
        SL_ERROR("%s: cannot open the log: %s (%s)", dir, sl_err_str(e), strerror(errno));
        log_free(g);
        return e;
    }
    st->stats.recovered_logs++;
    st->stats.scanned_bytes += rep.scanned_bytes;
    st->stats.truncated_bytes += rep.dropped_bytes;
    if (rep.index_rebuilt) st->stats.rebuilt_indexes++;
    if (rep.dropped_bytes)
        SL_WARN("%s: recovery dropped %llu bytes of torn or invalid data", dir,
                (unsigned long long)rep.dropped_bytes);
    SL_DEBUG("%s: offsets %lld..%lld in %u segment(s)", dir, (long long)g->start_offset,
             (long long)g->next_offset, g->seg_count);
    store_logs_push(st, g);
    return SL_OK;
}

static sl_err store_mkdirs(struct sio *io, const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) return SL_INVALID_ARG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (sio_mkdir(io, buf, 0755) != 0 && errno != EEXIST) return SL_IO;
        buf[i] = c;
    }
    return SL_OK;
}

sl_err store_open(struct store **out, struct loop *l, const char *data_dir,
                  const struct log_config *defaults, const struct store_options *opts) {
    const char *bad = log_config_invalid(defaults);
    if (bad) {
        SL_ERROR("storage setting %s is out of range", bad);
        return SL_CONFIG;
    }
    if (store_mkdirs(opts ? opts->io : NULL, data_dir) != SL_OK) {
        SL_ERROR("cannot create data directory %s: %s", data_dir, strerror(errno));
        return SL_IO;
    }
    struct store *st = sl_xcalloc(1, sizeof(*st));
    st->loop = l;
    st->dir = strdup(data_dir);
    st->defaults = *defaults;
    if (opts) st->opts = *opts;
    else store_options_defaults(&st->opts);
    if (st->opts.open_files_max == 0) st->opts.open_files_max = 1;
    st->last_retention_ms = loop_mono_ms(l);

    char marker[4200];
    snprintf(marker, sizeof(marker), "%s/%s", data_dir, STORE_CLEAN_MARKER);
    st->stats.clean = access(marker, F_OK) == 0;
    /* Gone, durably, before anything is written: a crash from here on must never look clean.
     * A marker that cannot be removed would make the next start after a crash trust indexes
     * and sizes it must scan, so the store does not open. */
    if (st->stats.clean && (sio_unlink(st->opts.io, marker) != 0 || sio_sync_dir(st->opts.io, data_dir, false) != 0)) {
        SL_ERROR("cannot remove the clean-shutdown marker %s: %s", marker, strerror(errno));
        free(st->dir);
        free(st);
        return SL_IO;
    }

    DIR *d = opendir(data_dir);
    if (!d) {
        free(st->dir);
        free(st);
        return SL_IO;
    }
    struct dirent *de;
    sl_err e = SL_OK;
    while (!e && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        e = store_open_log(st, de->d_name, st->stats.clean);
    }
    closedir(d);
    st->stats.fresh = !st->stats.clean && st->log_count == 0;
    if (st->opts.cleaner_buffer_bytes == 0) st->opts.cleaner_buffer_bytes = 32ull << 20;
    st->cleaner = cleaner_new(st, st->opts.cleaner_buffer_bytes);
    loop_add_before_sleep(l, store_before_sleep, st);
    *out = st;
    if (e) {
        store_close(st);
        *out = NULL;
    }
    return e;
}

struct log *store_log_get(struct store *st, const char *topic, int32_t partition) {
    if (!st->hash_cap) return NULL;
    for (struct log *g = st->hash[store_hash(topic, partition) & (st->hash_cap - 1)]; g; g = g->hash_next)
        if (g->partition == partition && strcmp(g->topic, topic) == 0) return g;
    return NULL;
}

void store_create_begin(struct store *st) {
    SL_ASSERT(!st->defer_dir_sync);
    st->defer_dir_sync = true;
    st->create_first = st->log_count;
}

/* Up to this many new partitions are made durable with an fsync of each directory and one of
 * the data directory; more with one syncfs. syncfs writes back every dirty page of the file
 * system: under a produce load that is the whole page cache's backlog, and an auto-created
 * topic held the loop 40-300 ms that way. */
#define STORE_CREATE_FSYNC_DIRS_MAX 8

void store_create_end(struct store *st) {
    SL_ASSERT(st->defer_dir_sync);
    st->defer_dir_sync = false;
    if (!st->dir_sync_owed) return;
    st->dir_sync_owed = false;
    SL_ASSERT(st->create_first <= st->log_count);
    if (st->log_count - st->create_first <= STORE_CREATE_FSYNC_DIRS_MAX) {
        bool ok = true;
        for (uint32_t i = st->create_first; i < st->log_count && ok; i++)
            ok = sio_sync_dir(st->opts.io, log_dir(st->logs[i]), false) == 0;
        if (ok && sio_sync_dir(st->opts.io, st->dir, false) == 0) return;
        SL_WARN("%s: fsync of a new partition's directory failed (%s): trying syncfs", st->dir, strerror(errno));
    }
    if (sio_sync_dir(st->opts.io, st->dir, true) == 0) return;
    SL_WARN("%s: syncfs failed (%s): syncing the directories one by one", st->dir, strerror(errno));
    log_sync_dir(st->opts.io, st->dir);
    for (uint32_t i = 0; i < st->log_count; i++) log_sync_dir(st->opts.io, log_dir(st->logs[i]));
}

/* ---- directory syncs through the loop ---- */

static void store_dir_sync_pump(struct store_dir_sync *ds);

static void store_dir_sync_done(struct io_op *op, int32_t res) {
    struct store_dir_sync_slot *slot = sl_container_of(op, struct store_dir_sync_slot, op);
    struct store_dir_sync *ds = slot->ds;
    if (res < 0) {
        SL_WARN("%s: fsync of a directory of topic %s failed: %s", ds->st->dir, ds->topic, strerror(-res));
        ds->err = SL_IO;
    }
    close(slot->fd);
    slot->fd = -1;
    ds->inflight--;
    store_dir_sync_pump(ds);
}

static bool store_dir_sync_submit(struct store_dir_sync *ds, const char *dir) {
    struct store_dir_sync_slot *slot = NULL;
    for (uint32_t i = 0; i < STORE_DIR_SYNCS_INFLIGHT && !slot; i++)
        if (ds->slots[i].fd < 0) slot = &ds->slots[i];
    SL_ASSERT(slot);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        SL_WARN("%s: cannot open the directory to sync it: %s", dir, strerror(errno));
        ds->err = SL_IO;
        return false;
    }
    slot->fd = fd;
    slot->ds = ds;
    slot->op.done = store_dir_sync_done;
    io_uring_prep_fsync(loop_sqe(ds->st->loop, &slot->op), fd, 0);
    ds->inflight++;
    return true;
}

/* A new partition's names: its directory, and its first segment with segment. */
static void store_partition_path(const struct store *st, const char *topic, int32_t partition, bool segment,
                                 char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/%s-%d%s", st->dir, topic, partition, segment ? "/00000000000000000000.log" : "");
    SL_ASSERT(n > 0 && (size_t)n < cap);
}

/* Keeps the window full; the data directory goes last, once every partition directory synced,
 * and done runs when it has. */
static void store_dir_sync_pump(struct store_dir_sync *ds) {
    char dir[4200];
    while (ds->next < ds->to && ds->inflight < STORE_DIR_SYNCS_INFLIGHT) {
        store_partition_path(ds->st, ds->topic, ds->next++, false, dir, sizeof(dir));
        store_dir_sync_submit(ds, dir);
    }
    if (ds->inflight || ds->next < ds->to) return;
    if (!ds->data_dir_submitted) {
        ds->data_dir_submitted = true;
        if (store_dir_sync_submit(ds, ds->st->dir)) return;
    }
    ds->done(ds, ds->err);
}

void store_sync_dirs(struct store *st, struct store_dir_sync *ds, const char *topic, int32_t from, int32_t to,
                     void (*done)(struct store_dir_sync *ds, sl_err err)) {
    memset(ds, 0, sizeof(*ds));
    ds->st = st;
    snprintf(ds->topic, sizeof(ds->topic), "%s", topic);
    ds->next = from;
    ds->to = to;
    ds->done = done;
    for (uint32_t i = 0; i < STORE_DIR_SYNCS_INFLIGHT; i++) ds->slots[i].fd = -1;
    store_dir_sync_pump(ds);
}

bool store_dir_sync_busy(const struct store_dir_sync *ds) { return ds->inflight > 0; }

static sl_err store_log_make(struct store *st, const char *topic, int32_t partition, const struct log_config *cfg,
                             bool sync, struct log **out);

/* Whether partition may be created as the caller asks: SL_OK or why not. */
static sl_err store_log_creatable(struct store *st, const char *topic, int32_t partition,
                                  const struct log_config *cfg) {
    if (!store_topic_valid(topic) || partition < 0) return SL_INVALID_ARG;
    if (store_log_get(st, topic, partition)) return SL_EXISTS;
    if (cfg && log_config_invalid(cfg)) return SL_CONFIG;
    return SL_OK;
}

/* ---- partitions made ahead through the loop (store_prep) ---- */

static void store_prep_pump(struct store_prep *sp);

static void store_prep_slot_path(struct store_prep_slot *slot, bool segment) {
    store_partition_path(slot->sp->st, slot->sp->topic, slot->partition, segment, slot->path, sizeof(slot->path));
}

static void store_prep_done(struct io_op *op, int32_t res) {
    struct store_prep_slot *slot = sl_container_of(op, struct store_prep_slot, op);
    struct store_prep *sp = slot->sp;
    int32_t p = slot->partition;
    if (!slot->opening && res == -EEXIST) {
        /* Something is there already: the loop opens it as before (store_log_create_unsynced
         * adopts what the directory holds). */
        res = STORE_PREP_INLINE;
    } else if (!slot->opening && res >= 0) {
        /* The directory is made: now its first segment, as seg_create_file makes it. */
        slot->opening = true;
        store_prep_slot_path(slot, true);
        io_uring_prep_openat(loop_sqe(sp->st->loop, &slot->op), AT_FDCWD, slot->path,
                             O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        return;
    }
    if (res < 0 && res != STORE_PREP_INLINE)
        SL_WARN("%s: cannot %s: %s", slot->path, slot->opening ? "create the first segment" : "make the directory",
                strerror(-res));
    sp->state[p - sp->from] = res;
    slot->partition = -1;
    sp->inflight--;
    store_prep_pump(sp);
    sp->ready(sp, p);
}

static void store_prep_pump(struct store_prep *sp) {
    for (uint32_t i = 0; i < STORE_PREPS_INFLIGHT; i++) {
        if (sp->next >= sp->to || sp->next >= sp->taken + STORE_PREPS_AHEAD) return;
        struct store_prep_slot *slot = &sp->slots[i];
        if (slot->partition >= 0) continue;
        slot->partition = sp->next++;
        slot->opening = false;
        store_prep_slot_path(slot, false);
        slot->op.done = store_prep_done;
        io_uring_prep_mkdirat(loop_sqe(sp->st->loop, &slot->op), AT_FDCWD, slot->path, 0755);
        sp->inflight++;
    }
}

void store_prep_start(struct store *st, struct store_prep *sp, const char *topic, int32_t from, int32_t to,
                      void (*ready)(struct store_prep *sp, int32_t partition)) {
    SL_ASSERT(from <= to);
    memset(sp, 0, sizeof(*sp));
    sp->st = st;
    snprintf(sp->topic, sizeof(sp->topic), "%s", topic);
    sp->from = sp->next = sp->taken = from;
    sp->to = to;
    sp->ready = ready;
    sp->inline_only = st->opts.io != NULL;
    for (uint32_t i = 0; i < STORE_PREPS_INFLIGHT; i++) {
        sp->slots[i].partition = -1;
        sp->slots[i].sp = sp;
    }
    if (sp->inline_only) return;
    sp->state = sl_xmalloc((size_t)SL_MAX(to - from, 1) * sizeof(*sp->state));
    for (int32_t p = from; p < to; p++) sp->state[p - from] = STORE_PREP_PENDING;
    store_prep_pump(sp);
}

int32_t store_prep_take(struct store_prep *sp, int32_t p) {
    SL_ASSERT(p == sp->taken && p < sp->to);
    if (sp->inline_only) {
        sp->taken++;
        return STORE_PREP_INLINE;
    }
    int32_t v = sp->state[p - sp->from];
    if (v == STORE_PREP_PENDING) return v;
    sp->state[p - sp->from] = STORE_PREP_PENDING;
    sp->taken++;
    store_prep_pump(sp);
    return v;
}

bool store_prep_busy(const struct store_prep *sp) { return sp->inflight > 0; }

void store_prep_stop(struct store_prep *sp) { sp->to = sp->next; }

void store_prep_end(struct store_prep *sp, bool remove_made) {
    SL_ASSERT(!sp->inflight);
    char path[4200];
    for (int32_t p = sp->taken; p < sp->next && sp->state; p++) {
        int32_t v = sp->state[p - sp->from];
        if (v >= 0) close(v);
        if (!remove_made || v < 0) continue; /* only what this made ahead */
        store_partition_path(sp->st, sp->topic, p, true, path, sizeof(path));
        unlink(path);
        store_partition_path(sp->st, sp->topic, p, false, path, sizeof(path));
        rmdir(path);
    }
    free(sp->state);
    sp->state = NULL;
    sp->next = sp->taken;
}

sl_err store_log_create_prepared(struct store *st, const char *topic, int32_t partition,
                                 const struct log_config *cfg, int fd, struct log **out) {
    SL_ASSERT(fd >= 0);
    sl_err e = store_log_creatable(st, topic, partition, cfg);
    if (e) {
        close(fd);
        return e;
    }
    char dir[4200];
    store_partition_path(st, topic, partition, false, dir, sizeof(dir));
    struct log *g = log_new(st, dir, topic, partition, cfg ? cfg : &st->defaults);
    recovery_new_log(g, fd);
    store_logs_push(st, g); /* its names are made durable by the caller's store_sync_dirs */
    *out = g;
    return SL_OK;
}

sl_err store_log_create(struct store *st, const char *topic, int32_t partition,
                        const struct log_config *cfg, struct log **out) {
    return store_log_make(st, topic, partition, cfg, true, out);
}

sl_err store_log_create_unsynced(struct store *st, const char *topic, int32_t partition,
                                 const struct log_config *cfg, struct log **out) {
    return store_log_make(st, topic, partition, cfg, false, out);
}

static sl_err store_log_make(struct store *st, const char *topic, int32_t partition, const struct log_config *cfg,
                             bool sync, struct log **out) {
    sl_err e = store_log_creatable(st, topic, partition, cfg);
    if (e) return e;
    char dir[4200];
    store_partition_path(st, topic, partition, false, dir, sizeof(dir));
    if (sio_mkdir(st->opts.io, dir, 0755) != 0 && errno != EEXIST) return SL_IO;
    struct log *g = log_new(st, dir, topic, partition, cfg ? cfg : &st->defaults);
    struct recovery_report rep;
    memset(&rep, 0, sizeof(rep));
    e = recovery_open_log(g, false, &rep);
    if (e) {
        log_free(g);
        return e;
    }
    /* The partition directory and its first segment survive a power loss from here on (its
     * name in the data directory once that is synced: now, or at store_create_end). */
    if (!sync) {
        /* the caller's store_sync_dirs */
    } else if (st->defer_dir_sync) {
        st->dir_sync_owed = true;
    } else if (sio_sync_dir(st->opts.io, dir, false) != 0 || sio_sync_dir(st->opts.io, st->dir, false) != 0) {
        /* Not retried as if it had worked: the partition may not survive a power loss. */
        SL_ERROR("%s: cannot make the new partition durable (directory fsync: %s)", dir, strerror(errno));
        log_free(g);
        return SL_IO;
    }
    store_logs_push(st, g);
    *out = g;
    return SL_OK;
}

static bool store_log_quiet(void *arg) {
    struct log *g = arg;
    return log_write_idle(g) && !g->timer_armed;
}

static void store_cancel_done(struct io_op *op, int32_t res) {
    (void)op;
    (void)res;
}

/* Waits for the log's writes and syncs, cancels its group-commit timer. */
static void store_log_quiesce(struct store *st, struct log *g) {
    log_flush(g, false, 60000);
    if (g->timer_armed) {
        st->cancel_op.done = store_cancel_done;
        struct io_uring_sqe *sqe = loop_sqe(st->loop, &st->cancel_op);
        io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&g->timer_op, 0);
    }
    loop_run_until(st->loop, store_log_quiet, g, 60000);
}

static void store_log_undirty(struct store *st, struct log *g) {
    if (!g->dirty) return;
    struct log **p = &st->dirty_head;
    while (*p && *p != g) p = &(*p)->dirty_next;
    if (*p) *p = g->dirty_next;
    g->dirty = false;
}

static void store_log_remove(struct store *st, struct log *g) {
    store_hash_remove(st, g);
    for (uint32_t i = 0; i < st->log_count; i++) {
        if (st->logs[i] != g) continue;
        memmove(st->logs + i, st->logs + i + 1, (st->log_count - i - 1) * sizeof(*st->logs));
        st->log_count--;
        break;
    }
    store_log_undirty(st, g);
}

/* store_log_delete but the rmdir: dir gets the directory to remove. */
static void store_log_delete_files(struct store *st, struct log *g, char *dir, size_t cap) {
    cleaner_forget_log(st->cleaner, g);
    store_log_quiesce(st, g);
    store_log_remove(st, g);
    char cmd_dir[4200];
    snprintf(cmd_dir, sizeof(cmd_dir), "%s", g->dir);
    for (uint32_t i = 0; i < g->seg_count; i++) {
        seg_delete(g->segs[i]);
        g->segs[i] = NULL;
    }
    g->seg_count = 0;
    char path[4400];
    snprintf(path, sizeof(path), "%s/start_offset", cmd_dir);
    sio_unlink(st->opts.io, path);
    snprintf(path, sizeof(path), "%s/cleaner_offset", cmd_dir);
    sio_unlink(st->opts.io, path);
    log_free(g);
    snprintf(dir, cap, "%s", cmd_dir);
}

sl_err store_log_delete(struct store *st, struct log *g) {
    char dir[4200];
    store_log_delete_files(st, g, dir, sizeof(dir));
    return sio_rmdir(st->opts.io, dir) == 0 ? SL_OK : SL_IO;
}

static void store_rmdir_done(struct io_op *op, int32_t res) {
    struct store_rmdir_slot *slot = sl_container_of(op, struct store_rmdir_slot, op);
    struct store_rmdirs *rd = slot->rd;
    if (res < 0) SL_WARN("%s: cannot remove the partition directory: %s", slot->path, strerror(-res));
    slot->busy = false;
    rd->inflight--;
    rd->ready(rd);
}

void store_rmdirs_init(struct store *st, struct store_rmdirs *rd, void (*ready)(struct store_rmdirs *rd)) {
    memset(rd, 0, sizeof(*rd));
    rd->st = st;
    rd->ready = ready;
    for (uint32_t i = 0; i < STORE_RMDIRS_INFLIGHT; i++) rd->slots[i].rd = rd;
}

bool store_rmdirs_full(const struct store_rmdirs *rd) { return rd->inflight == STORE_RMDIRS_INFLIGHT; }
bool store_rmdirs_busy(const struct store_rmdirs *rd) { return rd->inflight > 0; }

sl_err store_log_delete_async(struct store *st, struct log *g, struct store_rmdirs *rd) {
    if (st->opts.io) return store_log_delete(st, g);
    SL_ASSERT(!store_rmdirs_full(rd));
    struct store_rmdir_slot *slot = NULL;
    for (uint32_t i = 0; i < STORE_RMDIRS_INFLIGHT && !slot; i++)
        if (!rd->slots[i].busy) slot = &rd->slots[i];
    SL_ASSERT(slot);
    store_log_delete_files(st, g, slot->path, sizeof(slot->path));
    slot->busy = true;
    slot->op.done = store_rmdir_done;
    io_uring_prep_unlinkat(loop_sqe(st->loop, &slot->op), AT_FDCWD, slot->path, AT_REMOVEDIR);
    rd->inflight++;
    return SL_OK;
}

/* A clean close: data synced, the active segment trimmed and indexed, so the next start
 * trusts every index and scans nothing. An error is data in doubt (a sticky write or sync
 * error). Trimming or indexing can fail on a full disk without putting any data in doubt: then
 * *degraded, the marker is not written, and the next start scans instead of trusting. */
static sl_err store_log_close(struct store *st, struct log *g, bool *degraded) {
    cleaner_forget_log(st->cleaner, g);
    store_log_quiesce(st, g);
    log_save_start(g);
    sl_err e = g->werr;
    struct seg *a = log_active(g);
    /* An empty active segment with nothing allocated has nothing to sync, trim or index: the
     * next start scans its zero bytes. Thousands of new partitions would otherwise cost a
     * journal commit each on the way down. */
    bool empty = a->size_bytes == 0 && a->alloc_bytes == 0;
    if (!e && a->fd >= 0 && !empty) {
        if (sio_fdatasync(st->opts.io, a->fd) != 0) e = SL_IO;
        if (!e && sio_ftruncate(st->opts.io, a->fd, (off_t)a->size_bytes) != 0) {
            SL_WARN("%s: cannot trim the active segment: %s", g->dir, strerror(errno));
            *degraded = true;
        } else if (!e && index_save(st->opts.io, &a->ix, a->stem, a->base_offset, a->size_bytes, a->next_offset)) {
            SL_WARN("%s: cannot write the index of the active segment (disk full?)", g->dir);
            index_remove_files(st->opts.io, a->stem);
            *degraded = true;
        }
    }
    /* The marker promises a start that trusts every segment it finds, so every segment's name
     * must be durable before it (under fsync none rolls do not sync the directory). */
    if (!e && !log_names_sync(g)) *degraded = true;
    /* Quiet, but possibly still listed dirty: the loop turns that close the next logs must
     * not pump a freed one. */
    store_log_undirty(st, g);
    log_free(g);
    return e;
}

sl_err store_close(struct store *st) {
    sl_err result = SL_OK;
    loop_timer_del(st->loop, &st->drain_timer);
    cleaner_free(st->cleaner); /* a pass in progress is dropped: its segments stay as they were */
    st->cleaner = NULL;
    bool degraded = false;
    /* Each log leaves the list before it is closed: closing turns the loop, whose before-sleep
     * hook saves start offsets and runs retention over the listed logs, and must never reach
     * one already freed. */
    while (st->log_count > 0) {
        struct log *g = st->logs[--st->log_count];
        sl_err e = store_log_close(st, g, &degraded);
        if (e && !result) result = e;
    }
    st->dirty_head = NULL;
    free(st->hash);
    st->hash = NULL;
    st->hash_cap = 0;
    loop_remove_before_sleep(st->loop, st);
    if (result == SL_OK && degraded) {
        SL_WARN("storage closed without its clean-shutdown marker: the next start scans");
    } else if (result == SL_OK) {
        char marker[4200];
        snprintf(marker, sizeof(marker), "%s/%s", st->dir, STORE_CLEAN_MARKER);
        struct sio *io = st->opts.io;
        int fd = sio_open(io, marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || sio_fsync(io, fd) != 0) {
            /* Every byte is synced already; without the marker the next start only scans. */
            SL_WARN("cannot write the clean-shutdown marker (%s): the next start scans", strerror(errno));
            if (fd >= 0) sio_unlink(io, marker);
        }
        if (fd >= 0) sio_close(io, fd);
        if (sio_sync_dir(io, st->dir, false) != 0)
            SL_WARN("%s: fsync of the data directory failed: %s", st->dir, strerror(errno));
    } else {
        SL_ERROR("storage closed with errors: no clean-shutdown marker, the next start scans");
    }
    while (st->pool) {
        struct wbuf *b = st->pool;
        st->pool = b->next;
        free(b->data);
        free(b);
    }
    free(st->logs);
    free(st->dir);
    free(st);
    return result;
}
