/* group_offsets.c: which broker coordinates a group, and the replicated offsets partitions it
 * loads as their leader (see group_offsets.h; the loading itself is placed_state.c's). */
#include "broker/kafka/group_offsets.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/partition.h"
#include "broker/kafka/group.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/placed_state.h"
#include "storage/offsets.h"

bool group_offsets_placed(const struct kafka_server *ks) { return ks->cfg->cluster_nodes[0] != 0; }

/* ---- a partition's load and unload -------------------------------------------------------------- */

struct restore_ctx {
    struct kafka_server *ks;
    uint32_t n;
};

static void gofs_restore_one(void *arg, const char *group, const uint8_t *state, uint32_t len) {
    struct restore_ctx *r = arg;
    if (!group_registry_restore(r->ks->groups, group, state, len, loop_mono_ms(r->ks->loop)))
        SL_WARN("group %s: its stored state is malformed: it starts Empty", group);
    r->n++;
}

static void *gofs_load(void *arg, uint32_t index, struct partition *p, const struct kvlog_sink *sink) {
    struct kafka_server *ks = arg;
    struct offsets *o;
    sl_err e = offsets_open_log(&o, partition_log(p), sink);
    if (e) {
        SL_WARN("offsets: %s-%u not loaded: %s", KAFKA_GROUP_OFFSETS_TOPIC, index, sl_err_str(e));
        return NULL;
    }
    struct restore_ctx r = {ks, 0};
    offsets_group_states(o, gofs_restore_one, &r);
    SL_INFO("offsets: %s-%u loaded as its leader (%u groups' state)", KAFKA_GROUP_OFFSETS_TOPIC, index, r.n);
    return o; /* the partition's handle is its offsets map */
}

/* The partition's groups leave the registry (their parked joins are answered
 * COORDINATOR_NOT_AVAILABLE); the map goes once its writes in flight have settled. */
static void gofs_unload(void *arg, uint32_t index, void *h) {
    struct kafka_server *ks = arg;
    (void)h;
    struct group_registry *reg = ks->groups;
    for (uint32_t i = group_registry_count(reg); i-- > 0;) {
        struct group *g = group_registry_at(reg, i);
        const char *id = group_id(g);
        if (placed_state_index(ks->gofs, id, strlen(id)) == index) group_registry_unload(reg, id);
    }
}

static bool gofs_idle(void *arg, void *h) {
    (void)arg;
    return !offsets_writes_pending(h);
}

static void gofs_close(void *arg, void *h) {
    (void)arg;
    offsets_close(h);
}

void group_offsets_start(struct kafka_server *ks) {
    const struct placed_state_ops ops = {gofs_load, gofs_unload, gofs_idle, gofs_close, ks};
    ks->gofs = placed_state_new(ks, KAFKA_GROUP_OFFSETS_TOPIC, "group_offsets", ks->cfg->offsets_topic_num_partitions,
                                ks->cfg->offsets_topic_replication_factor, &ops);
}

void group_offsets_stop(struct kafka_server *ks) {
    placed_state_free(ks->gofs);
    ks->gofs = NULL;
}

/* ---- lookups ------------------------------------------------------------------------------------ */

struct offsets *group_offsets_of(struct kafka_server *ks, const char *group, size_t len) {
    if (!group_offsets_placed(ks)) return ks->offsets;
    return placed_state_of(ks->gofs, group, len);
}

uint32_t group_offsets_index(struct kafka_server *ks, const char *group, size_t len) {
    return group_offsets_placed(ks) ? placed_state_index(ks->gofs, group, len) : 0;
}

struct offsets *group_offsets_partition(struct kafka_server *ks, uint32_t index) {
    if (!group_offsets_placed(ks)) return index == 0 ? ks->offsets : NULL;
    return placed_state_at(ks->gofs, index);
}

sl_err group_offsets_coordinator(struct kafka_server *ks, const char *group, size_t len, int32_t *node) {
    *node = ks->node_id;
    if (!group_offsets_placed(ks)) return SL_OK;
    return placed_state_leader(ks->gofs, group, len, node);
}

struct each_ctx {
    void (*fn)(void *arg, struct offsets *o);
    void *arg;
};

static void each_loaded(void *arg, void *h) {
    struct each_ctx *c = arg;
    c->fn(c->arg, h);
}

void group_offsets_each(struct kafka_server *ks, void (*fn)(void *arg, struct offsets *o), void *arg) {
    if (!group_offsets_placed(ks)) {
        if (ks->offsets) fn(arg, ks->offsets);
        return;
    }
    struct each_ctx c = {fn, arg};
    placed_state_each(ks->gofs, each_loaded, &c);
}

void group_offsets_metrics(struct kafka_server *ks, struct prom *p) { placed_state_metrics(ks->gofs, p); }
