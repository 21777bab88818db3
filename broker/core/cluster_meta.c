/* cluster_meta.c: cluster id and producer-id blocks in the metadata log (see cluster_meta.h). */
#include "broker/core/cluster_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "storage/kvlog.h"

#define CLUSTER_KEY "cluster"
#define CLUSTER_VALUE_VERSION 1
enum cluster_tag {
    CLUSTER_TAG_ID = 1,           /* the cluster id's characters */
    CLUSTER_TAG_PID_BLOCK_END = 2, /* i64 */
};

static sl_err cluster_meta_put(struct cluster_meta *cm, int64_t block_end, uint64_t now_ms, struct log_waiter *w) {
    struct kvlog_tlv_writer tw = {0};
    kvlog_tlv_begin(&tw, CLUSTER_VALUE_VERSION);
    kvlog_tlv_put(&tw, CLUSTER_TAG_ID, cm->cluster_id, (uint32_t)strlen(cm->cluster_id));
    kvlog_tlv_put_i64(&tw, CLUSTER_TAG_PID_BLOCK_END, block_end);
    sl_err e = kvlog_put(cm->kv, CLUSTER_KEY, sizeof(CLUSTER_KEY) - 1, tw.p, (uint32_t)tw.len, now_ms, w);
    kvlog_tlv_free(&tw);
    return e;
}

static bool cluster_meta_decode(struct cluster_meta *cm, const uint8_t *v, uint32_t len, int64_t *block_end) {
    struct kvlog_tlv_reader r;
    if (!kvlog_tlv_open(&r, v, len) || r.version != CLUSTER_VALUE_VERSION) return false;
    uint16_t tag;
    const uint8_t *p;
    uint32_t n;
    while (kvlog_tlv_next(&r, &tag, &p, &n)) {
        if (tag == CLUSTER_TAG_ID && n < sizeof(cm->cluster_id)) {
            memcpy(cm->cluster_id, p, n);
            cm->cluster_id[n] = 0;
        } else if (tag == CLUSTER_TAG_PID_BLOCK_END && !kvlog_tlv_i64(p, n, block_end)) {
            return false;
        }
    }
    return cm->cluster_id[0] != 0;
}

/* The previous version's key = value file; true if it existed. */
static bool cluster_meta_read_legacy(struct cluster_meta *cm, const char *path, int64_t *block_end) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        char id[64];
        long long v;
        if (sscanf(line, "cluster_id = %31s", id) == 1) snprintf(cm->cluster_id, sizeof(cm->cluster_id), "%.31s", id);
        else if (sscanf(line, "producer_id_block_end = %lld", &v) == 1) *block_end = v;
    }
    fclose(f);
    return true;
}

void cluster_meta_id_encode(const uint8_t raw[CLUSTER_META_ID_BYTES], char out[32]) {
    /* Kafka's cluster ids are 22 characters of URL-safe base64. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < CLUSTER_META_ID_BYTES; i++) out[i] = b64[raw[i] & 63];
    out[CLUSTER_META_ID_BYTES] = 0;
}

static void cluster_meta_new_id(char out[32]) {
    uint8_t raw[CLUSTER_META_ID_BYTES];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) memset(raw, 7, sizeof(raw));
    cluster_meta_id_encode(raw, out);
}

static void cluster_meta_reserved(struct log_waiter *w, sl_err err) {
    struct cluster_meta *cm = sl_container_of(w, struct cluster_meta, pending_w);
    if (err) SL_ERROR("metadata log: cannot reserve producer ids: %s", sl_err_str(err));
    else if (cm->block_end_pending > cm->block_end_durable) cm->block_end_durable = cm->block_end_pending;
    cm->block_end_pending = 0;
}

/* Puts the next block end; usable once its waiter fires. */
static sl_err cluster_meta_reserve(struct cluster_meta *cm, uint64_t now_ms) {
    int64_t end = SL_MAX(cm->block_end_durable, cm->next_producer_id) + CLUSTER_META_PID_BLOCK;
    cm->pending_w = (struct log_waiter){.done = cluster_meta_reserved};
    cm->block_end_pending = end;
    sl_err e = cluster_meta_put(cm, end, now_ms, &cm->pending_w);
    if (e) cm->block_end_pending = 0;
    return e;
}

sl_err cluster_meta_open(struct cluster_meta *cm, struct kvlog *kv, const char *data_dir, uint64_t now_ms) {
    memset(cm, 0, sizeof(*cm));
    cm->kv = kv;
    char legacy[4200];
    snprintf(legacy, sizeof(legacy), "%s/.cluster", data_dir);
    int64_t block_end = 0;
    uint32_t len;
    const uint8_t *v = kvlog_get(kv, CLUSTER_KEY, sizeof(CLUSTER_KEY) - 1, &len);
    bool have = v && cluster_meta_decode(cm, v, len, &block_end);
    if (v && !have) SL_WARN("metadata log: the cluster record is malformed; starting a new one");
    bool imported = !have && cluster_meta_read_legacy(cm, legacy, &block_end);
    if (!cm->cluster_id[0]) cluster_meta_new_id(cm->cluster_id);
    if (block_end < 0) block_end = 0;
    cm->next_producer_id = block_end;
    cm->block_end_durable = block_end;
    sl_err e = cluster_meta_reserve(cm, now_ms);
    if (!e) e = kvlog_flush(kv);
    if (e) return e;
    SL_ASSERT(cm->block_end_pending == 0 && cm->block_end_durable > cm->next_producer_id);
    if (imported) {
        if (unlink(legacy) != 0) SL_WARN("%s: cannot remove the imported file: %s", legacy, strerror(errno));
        else SL_INFO("imported %s into the metadata log", legacy);
    } else if (have && access(legacy, F_OK) == 0) {
        unlink(legacy); /* a crash after the import, before the removal */
    }
    return SL_OK;
}

void cluster_meta_close(struct cluster_meta *cm) {
    if (cm->block_end_pending) kvlog_flush(cm->kv);
    SL_ASSERT(cm->block_end_pending == 0);
}

void cluster_meta_node_range(struct cluster_meta *cm, uint32_t node_id) {
    int64_t base = (int64_t)(node_id & 0x3fffff) << 40;
    /* The next call reserves a block from there (the durable end is below it). */
    if (cm->next_producer_id < base) cm->next_producer_id = base;
}

void cluster_meta_set_id(struct cluster_meta *cm, const char *id) {
    snprintf(cm->cluster_id, sizeof(cm->cluster_id), "%s", id);
}

sl_err cluster_meta_next_producer_id(struct cluster_meta *cm, uint64_t now_ms, int64_t *out) {
    if (cm->next_producer_id >= cm->block_end_durable) {
        /* The block ran out before its successor was durable: wait for it (see the header). */
        sl_err e = cm->block_end_pending ? SL_OK : cluster_meta_reserve(cm, now_ms);
        if (!e) e = kvlog_flush(cm->kv);
        if (e) return e;
        if (cm->next_producer_id >= cm->block_end_durable) return SL_IO;
    }
    *out = cm->next_producer_id++;
    if (!cm->block_end_pending && cm->next_producer_id >= cm->block_end_durable - CLUSTER_META_PID_BLOCK / 2)
        cluster_meta_reserve(cm, now_ms);
    return SL_OK;
}
