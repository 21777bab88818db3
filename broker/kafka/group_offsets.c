/* group_offsets.c: which broker coordinates a group, and the replicated offsets partitions it
 * loads as their leader (see group_offsets.h). */
#include "broker/kafka/group_offsets.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/cluster_view.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "broker/kafka/group.h"
#include "broker/kafka/kafka.h"
#include "storage/kvlog.h"
#include "storage/offsets.h"

/* How often the loader looks at the placement: leadership moves are seen within this (the
 * controller's own decisions take seconds; clients retry FindCoordinator every 100s of ms). */
#define GOFS_TICK_MS 50

struct gofs_part {
    struct group_offsets *go;
    uint32_t index;
    struct offsets *o;   /* loaded: this broker leads the partition */
    struct partition *p; /* what o writes through */
    bool draining;       /* unloaded: o waits for its writes in flight, then goes */
};

struct group_offsets {
    struct kafka_server *ks;
    uint8_t id[16]; /* the placed topic's id the parts belong to */
    uint32_t count;
    struct gofs_part *parts;
    bool creating;
    uint64_t loads, unloads;
    struct loop_timer timer;
};

static const int32_t NAME_LEN = (int32_t)(sizeof(KAFKA_GROUP_OFFSETS_TOPIC) - 1);

bool group_offsets_placed(const struct kafka_server *ks) { return ks->cfg->cluster_nodes[0] != 0; }

static uint32_t gofs_index(const char *group, size_t len, uint32_t count) {
    return (uint32_t)(XXH3_64bits(group, len) % count);
}

/* ---- writes: acks=all through the partition ---------------------------------------------------- */

struct gofs_write {
    struct partition_append_done d; /* first: the done pointer is the write */
    struct log_waiter *w;
};

static void gofs_write_done(struct partition_append_done *d, sl_err err) {
    struct gofs_write *gw = (struct gofs_write *)d;
    struct log_waiter *w = gw->w;
    w->offset = d->base_offset;
    w->durable = err == SL_OK;
    free(gw);
    w->done(w, err);
}

/* The kvlog's sink: the partition's write path with acks=all, so a commit completes once the
 * high watermark passes it; the partition fails every waiter in order when it stops leading. */
static sl_err gofs_append(void *arg, uint8_t *batch, uint32_t len, struct log_waiter *w) {
    struct gofs_part *gp = arg;
    SL_ASSERT(w && gp->p);
    struct gofs_write *gw = sl_xcalloc(1, sizeof(*gw));
    gw->d.fn = gofs_write_done;
    gw->w = w;
    sl_err e = partition_append(gp->p, batch, len, PARTITION_ACKS_DURABLE, loop_now_ms(gp->go->ks->loop), &gw->d);
    if (e) free(gw);
    return e;
}

/* ---- load and unload ---------------------------------------------------------------------------- */

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

static void gofs_load(struct group_offsets *go, struct gofs_part *gp, struct partition *p) {
    gp->p = p;
    struct kvlog_sink sink = {gofs_append, gp};
    sl_err e = offsets_open_log(&gp->o, partition_log(p), &sink);
    if (e) {
        SL_WARN("offsets: %s-%u not loaded: %s", KAFKA_GROUP_OFFSETS_TOPIC, gp->index, sl_err_str(e));
        gp->o = NULL;
        gp->p = NULL;
        return;
    }
    struct restore_ctx r = {go->ks, 0};
    offsets_group_states(gp->o, gofs_restore_one, &r);
    go->loads++;
    SL_INFO("offsets: %s-%u loaded as its leader (%u groups' state)", KAFKA_GROUP_OFFSETS_TOPIC, gp->index, r.n);
}

/* The partition's groups leave the registry (their parked joins are answered
 * COORDINATOR_NOT_AVAILABLE); the map goes once its writes in flight have settled. */
static void gofs_unload(struct group_offsets *go, struct gofs_part *gp) {
    struct group_registry *reg = go->ks->groups;
    for (uint32_t i = group_registry_count(reg); i-- > 0;) {
        struct group *g = group_registry_at(reg, i);
        const char *id = group_id(g);
        if (gofs_index(id, strlen(id), go->count) == gp->index) group_registry_unload(reg, id);
    }
    gp->draining = true;
    go->unloads++;
    SL_INFO("offsets: %s-%u unloaded: this broker no longer leads it", KAFKA_GROUP_OFFSETS_TOPIC, gp->index);
}

static void gofs_settle(struct gofs_part *gp, bool force) {
    if (!gp->draining || (!force && offsets_writes_pending(gp->o))) return;
    offsets_close(gp->o);
    gp->o = NULL;
    gp->p = NULL;
    gp->draining = false;
}

static void gofs_clear(struct group_offsets *go) {
    for (uint32_t i = 0; i < go->count; i++) {
        struct gofs_part *gp = &go->parts[i];
        if (gp->o && !gp->draining) gofs_unload(go, gp);
        if (gp->o) gofs_settle(gp, true);
    }
    free(go->parts);
    go->parts = NULL;
    go->count = 0;
}

/* Which partitions this broker leads now, loaded; those it no longer leads, unloaded. */
static void gofs_reconcile(struct group_offsets *go) {
    struct kafka_server *ks = go->ks;
    if (!ks->view) return; /* the cluster is not started yet */
    const struct cluster_topic *pl = ks->view->ready ? cluster_view_topic(ks->view, KAFKA_GROUP_OFFSETS_TOPIC, NAME_LEN)
                                                     : NULL;
    struct topic *tp = topics_get(ks->topics, KAFKA_GROUP_OFFSETS_TOPIC, NAME_LEN);
    if (pl && tp && memcmp(tp->id, pl->id, 16) != 0) tp = NULL;
    if (pl && (!go->parts || memcmp(go->id, pl->id, 16) != 0 || go->count != pl->partition_count)) {
        gofs_clear(go);
        memcpy(go->id, pl->id, 16);
        go->count = pl->partition_count;
        go->parts = sl_xcalloc(go->count, sizeof(*go->parts));
        for (uint32_t i = 0; i < go->count; i++) go->parts[i] = (struct gofs_part){.go = go, .index = i};
    }
    for (uint32_t i = 0; i < go->count; i++) {
        struct gofs_part *gp = &go->parts[i];
        gofs_settle(gp, false);
        struct partition *p = pl && tp && (int32_t)i < tp->partition_count ? topic_partition(tp, (int32_t)i) : NULL;
        bool leads = p && pl->parts[i].replicas[0] == (uint32_t)ks->node_id && partition_role(p) == PARTITION_LEADER;
        if (gp->o && !gp->draining && (!leads || gp->p != p)) gofs_unload(go, gp);
        if (leads && !gp->o) gofs_load(go, gp, p);
    }
}

static void gofs_on_timer(struct loop_timer *t, uint64_t now_ms) {
    struct group_offsets *go = sl_container_of(t, struct group_offsets, timer);
    gofs_reconcile(go);
    loop_timer_add(go->ks->loop, &go->timer, now_ms + GOFS_TICK_MS);
}

void group_offsets_start(struct kafka_server *ks) {
    if (!group_offsets_placed(ks)) return;
    struct group_offsets *go = sl_xcalloc(1, sizeof(*go));
    go->ks = ks;
    go->timer.fire = gofs_on_timer;
    ks->gofs = go;
    loop_timer_add(ks->loop, &go->timer, loop_mono_ms(ks->loop) + GOFS_TICK_MS);
}

void group_offsets_stop(struct kafka_server *ks) {
    struct group_offsets *go = ks->gofs;
    if (!go) return;
    loop_timer_del(ks->loop, &go->timer);
    gofs_clear(go);
    free(go);
    ks->gofs = NULL;
}

/* ---- lookups ------------------------------------------------------------------------------------ */

struct offsets *group_offsets_of(struct kafka_server *ks, const char *group, size_t len) {
    if (!group_offsets_placed(ks)) return ks->offsets;
    struct group_offsets *go = ks->gofs;
    if (!go || !go->count) return NULL;
    struct gofs_part *gp = &go->parts[gofs_index(group, len, go->count)];
    return gp->draining ? NULL : gp->o;
}

static void gofs_created(void *arg, sl_err err, struct topic *tp, const char *why) {
    (void)tp;
    struct group_offsets *go = arg;
    go->creating = false;
    if (err && err != SL_TOPIC_EXISTS)
        SL_WARN("offsets: %s not made: %s", KAFKA_GROUP_OFFSETS_TOPIC, why ? why : sl_err_str(err));
}

/* Kafka makes __consumer_offsets on the first FindCoordinator, once as many brokers are alive as
 * offsets.topic.replication.factor asks (fewer in a smaller cluster: its voters). */
static void gofs_create(struct kafka_server *ks) {
    struct group_offsets *go = ks->gofs;
    if (!go || go->creating || !ks->view->ready || ks->view->controller_id == 0) return;
    uint32_t voters = 0;
    for (const char *c = ks->cfg->cluster_nodes; *c; c++) voters += *c == '@';
    uint32_t rf = SL_MIN(ks->cfg->offsets_topic_replication_factor, SL_MAX(voters, 1u));
    if (ks->view->broker_count < rf) return;
    static const char *const keys[] = {"cleanup.policy", "segment.bytes"};
    static const char *const values[] = {"compact", "16777216"};
    const char *why = NULL;
    go->creating = true;
    sl_err e = ks->view->ops.create(ks->view->ops.arg, KAFKA_GROUP_OFFSETS_TOPIC,
                                    (int32_t)ks->cfg->offsets_topic_num_partitions, (int32_t)rf, keys, values, 2,
                                    gofs_created, go, &why);
    if (e) {
        go->creating = false;
        if (e != SL_TOPIC_EXISTS)
            SL_WARN("offsets: %s not made: %s", KAFKA_GROUP_OFFSETS_TOPIC, why ? why : sl_err_str(e));
    } else {
        SL_INFO("offsets: making %s (%u partitions, replication factor %u)", KAFKA_GROUP_OFFSETS_TOPIC,
                ks->cfg->offsets_topic_num_partitions, rf);
    }
}

sl_err group_offsets_coordinator(struct kafka_server *ks, const char *group, size_t len, int32_t *node) {
    *node = ks->node_id;
    if (!group_offsets_placed(ks)) return SL_OK;
    if (!ks->view) return SL_COORDINATOR_NOT_AVAILABLE;
    const struct cluster_topic *pl = cluster_view_topic(ks->view, KAFKA_GROUP_OFFSETS_TOPIC, NAME_LEN);
    if (!pl) {
        gofs_create(ks);
        return SL_COORDINATOR_NOT_AVAILABLE;
    }
    uint32_t leader = pl->parts[gofs_index(group, len, pl->partition_count)].replicas[0];
    if (!leader || (leader != (uint32_t)ks->node_id && !cluster_view_broker(ks->view, leader)))
        return SL_COORDINATOR_NOT_AVAILABLE;
    *node = (int32_t)leader;
    return SL_OK;
}

void group_offsets_metrics(struct kafka_server *ks, struct prom *p) {
    struct group_offsets *go = ks->gofs;
    if (!go) return;
    uint32_t led = 0;
    for (uint32_t i = 0; i < go->count; i++) led += go->parts[i].o && !go->parts[i].draining;
    prom_family(p, "sluice_kafka_group_offsets_topic_partitions", "gauge",
                "Partitions of the cluster's replicated offsets topic (__sluice_offsets); 0 until it is made.");
    prom_u64(p, "sluice_kafka_group_offsets_topic_partitions", NULL, go->count);
    prom_family(p, "sluice_kafka_group_offsets_partitions_led", "gauge",
                "Offsets partitions this broker leads and has loaded: it coordinates their groups.");
    prom_u64(p, "sluice_kafka_group_offsets_partitions_led", NULL, led);
    prom_family(p, "sluice_kafka_group_offsets_loads_total", "counter",
                "Offsets partitions loaded (this broker became their leader) and unloaded (it stopped being it).");
    char labels[64];
    prom_u64(p, "sluice_kafka_group_offsets_loads_total", prom_labels(labels, sizeof(labels), "event", "load", NULL),
             go->loads);
    prom_u64(p, "sluice_kafka_group_offsets_loads_total", prom_labels(labels, sizeof(labels), "event", "unload", NULL),
             go->unloads);
}

void group_offsets_each(struct kafka_server *ks, void (*fn)(void *arg, struct offsets *o), void *arg) {
    if (!group_offsets_placed(ks)) {
        if (ks->offsets) fn(arg, ks->offsets);
        return;
    }
    struct group_offsets *go = ks->gofs;
    for (uint32_t i = 0; go && i < go->count; i++)
        if (go->parts[i].o && !go->parts[i].draining) fn(arg, go->parts[i].o);
}
