/* leader_epochs.c: see leader_epochs.h. */
#include "broker/core/leader_epochs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"

#define LEADER_EPOCHS_FILE "leader_epochs"

static sl_err leader_epochs_save(const struct leader_epochs *le) {
    if (!le->path) return SL_OK;
    FILE *f = sl_file_begin(le->path);
    if (!f) return SL_IO;
    for (uint32_t i = 0; i < le->count; i++) fprintf(f, "%" PRId32 " %" PRId64 "\n", le->v[i].epoch, le->v[i].start);
    if (!sl_file_commit(f, le->path, true)) {
        SL_WARN("%s: cannot save the leader epochs", le->path);
        return SL_IO;
    }
    return SL_OK;
}

static void leader_epochs_push(struct leader_epochs *le, int32_t epoch, int64_t start) {
    if (le->count == le->cap) {
        le->cap = le->cap ? le->cap * 2 : 8;
        le->v = sl_xrealloc(le->v, le->cap * sizeof(*le->v));
    }
    le->v[le->count++] = (struct leader_epoch){epoch, start};
}

void leader_epochs_load(struct leader_epochs *le, const char *dir) {
    memset(le, 0, sizeof(*le));
    size_t n = strlen(dir) + sizeof(LEADER_EPOCHS_FILE) + 2;
    le->path = sl_xmalloc(n);
    snprintf(le->path, n, "%s/" LEADER_EPOCHS_FILE, dir);
    FILE *f = fopen(le->path, "r");
    if (!f) return;
    int32_t epoch;
    int64_t start;
    char line[64], tail;
    /* Whole lines only: a last line cut short ("3 25" of "3 250") must not count. */
    while (fgets(line, sizeof(line), f) && strchr(line, '\n')) {
        if (sscanf(line, "%" SCNd32 " %" SCNd64 "%c", &epoch, &start, &tail) != 3 || tail != '\n') break;
        if (epoch < 0 || start < 0) break;
        if (le->count && (epoch <= le->v[le->count - 1].epoch || start < le->v[le->count - 1].start)) break;
        leader_epochs_push(le, epoch, start);
    }
    fclose(f);
}

void leader_epochs_free(struct leader_epochs *le) {
    free(le->v);
    free(le->path);
    memset(le, 0, sizeof(*le));
}

sl_err leader_epochs_assign(struct leader_epochs *le, int32_t epoch, int64_t start) {
    if (epoch < 0 || start < 0) return SL_INVALID_ARG;
    if (le->count && epoch <= le->v[le->count - 1].epoch) return SL_OK;
    if (le->count && start < le->v[le->count - 1].start) start = le->v[le->count - 1].start;
    /* An epoch that begins where the previous one did holds none of its batches: replaced. */
    if (le->count && start == le->v[le->count - 1].start) le->count--;
    leader_epochs_push(le, epoch, start);
    return leader_epochs_save(le);
}

sl_err leader_epochs_truncate(struct leader_epochs *le, int64_t end) {
    uint32_t keep = le->count;
    while (keep && le->v[keep - 1].start >= end) keep--;
    if (keep == le->count) return SL_OK;
    le->count = keep;
    return leader_epochs_save(le);
}

int32_t leader_epochs_latest(const struct leader_epochs *le) { return le->count ? le->v[le->count - 1].epoch : -1; }

void leader_epochs_end_for(const struct leader_epochs *le, int32_t want, int64_t log_end, int32_t *epoch,
                           int64_t *end) {
    *epoch = -1;
    *end = -1;
    for (uint32_t i = le->count; i-- > 0;) {
        if (le->v[i].epoch > want) continue;
        *epoch = le->v[i].epoch;
        *end = i + 1 < le->count ? le->v[i + 1].start : log_end;
        return;
    }
}
