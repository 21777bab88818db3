/* placed_state.c: a coordinator's replicated internal topic, its partitions loaded where they
 * are led (see placed_state.h). */
#include "broker/kafka/placed_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/prom.h"
#include "broker/core/cluster_view.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "broker/kafka/kafka.h"
#include "storage/kvlog.h"

/* How often the placement is looked at: leadership moves are seen within this (the controller's
 * own decisions take seconds; clients retry FindCoordinator every 100s of ms). */
#define PLACED_TICK_MS 50

struct ps_part {
    struct placed_state *ps;
    uint32_t index;
    void *h;             /* loaded: this broker leads the partition */
    struct partition *p; /* what h writes through */
    bool draining;       /* unloaded: h waits for its writes in flight, then goes */
};

struct placed_state {
    struct kafka_server *ks;
    char name[CLUSTER_TOPIC_NAME_MAX];
    char prefix[32];
    uint32_t partitions_cfg, rf_cfg;
    struct placed_state_ops ops;
    uint8_t id[16]; /* the placed topic's id the parts belong to */
    uint32_t count;
    struct ps_part *parts;
    bool creating;
    uint64_t loads, unloads;
    struct loop_timer timer;
};

static int32_t ps_name_len(const struct placed_state *ps) { return (int32_t)strlen(ps->name); }

static uint32_t ps_index(const char *key, size_t len, uint32_t count) {
    return (uint32_t)(XXH3_64bits(key, len) % count);
}

/* ---- writes: acks=all through the partition ---------------------------------------------------- */

struct ps_write {
    struct partition_append_done d; /* first: the done pointer is the write */
    struct log_waiter *w;
};

static void ps_write_done(struct partition_append_done *d, sl_err err) {
    struct ps_write *pw = (struct ps_write *)d;
    struct log_waiter *w = pw->w;
    w->offset = d->base_offset;
    w->durable = err == SL_OK;
    free(pw);
    w->done(w, err);
}

/* The kvlog's sink: the partition's write path with acks=all, so a write completes once the high
 * watermark passes it; the partition fails every waiter in order when it stops leading. */
static sl_err ps_append(void *arg, uint8_t *batch, uint32_t len, struct log_waiter *w) {
    struct ps_part *pp = arg;
    SL_ASSERT(w && pp->p);
    struct ps_write *pw = sl_xcalloc(1, sizeof(*pw));
    pw->d.fn = ps_write_done;
    pw->w = w;
    sl_err e = partition_append(pp->p, batch, len, PARTITION_ACKS_DURABLE, loop_now_ms(pp->ps->ks->loop), &pw->d);
    if (e) free(pw);
    return e;
}

/* ---- load and unload ---------------------------------------------------------------------------- */

static void ps_load(struct placed_state *ps, struct ps_part *pp, struct partition *p) {
    pp->p = p;
    struct kvlog_sink sink = {ps_append, pp};
    pp->h = ps->ops.load(ps->ops.arg, pp->index, p, &sink);
    if (!pp->h) {
        pp->p = NULL;
        return;
    }
    ps->loads++;
}

static void ps_unload(struct placed_state *ps, struct ps_part *pp) {
    pp->draining = true; /* first: lookups made by unload already miss it */
    ps->ops.unload(ps->ops.arg, pp->index, pp->h);
    ps->unloads++;
    SL_INFO("%s-%u unloaded: this broker no longer leads it", ps->name, pp->index);
}

static void ps_settle(struct placed_state *ps, struct ps_part *pp, bool force) {
    if (!pp->draining || (!force && !ps->ops.idle(ps->ops.arg, pp->h))) return;
    ps->ops.close(ps->ops.arg, pp->h);
    pp->h = NULL;
    pp->p = NULL;
    pp->draining = false;
}

static void ps_clear(struct placed_state *ps) {
    for (uint32_t i = 0; i < ps->count; i++) {
        struct ps_part *pp = &ps->parts[i];
        if (pp->h && !pp->draining) ps_unload(ps, pp);
        if (pp->h) ps_settle(ps, pp, true);
    }
    free(ps->parts);
    ps->parts = NULL;
    ps->count = 0;
}

/* Which partitions this broker leads now, loaded; those it no longer leads, unloaded. */
static void ps_reconcile(struct placed_state *ps) {
    struct kafka_server *ks = ps->ks;
    if (!ks->view) return; /* the cluster is not started yet */
    const struct cluster_topic *pl = ks->view->ready ? cluster_view_topic(ks->view, ps->name, ps_name_len(ps)) : NULL;
    struct topic *tp = topics_get(ks->topics, ps->name, ps_name_len(ps));
    if (pl && tp && memcmp(tp->id, pl->id, 16) != 0) tp = NULL;
    if (pl && (!ps->parts || memcmp(ps->id, pl->id, 16) != 0 || ps->count != pl->partition_count)) {
        ps_clear(ps);
        memcpy(ps->id, pl->id, 16);
        ps->count = pl->partition_count;
        ps->parts = sl_xcalloc(ps->count, sizeof(*ps->parts));
        for (uint32_t i = 0; i < ps->count; i++) ps->parts[i] = (struct ps_part){.ps = ps, .index = i};
    }
    for (uint32_t i = 0; i < ps->count; i++) {
        struct ps_part *pp = &ps->parts[i];
        ps_settle(ps, pp, false);
        struct partition *p = pl && tp && (int32_t)i < tp->partition_count ? topic_partition(tp, (int32_t)i) : NULL;
        bool leads = p && pl->parts[i].replicas[0] == (uint32_t)ks->node_id && partition_role(p) == PARTITION_LEADER;
        if (pp->h && !pp->draining && (!leads || pp->p != p)) ps_unload(ps, pp);
        if (leads && !pp->h) ps_load(ps, pp, p);
    }
}

static void ps_on_timer(struct loop_timer *t, uint64_t now_ms) {
    struct placed_state *ps = sl_container_of(t, struct placed_state, timer);
    ps_reconcile(ps);
    loop_timer_add(ps->ks->loop, &ps->timer, now_ms + PLACED_TICK_MS);
}

struct placed_state *placed_state_new(struct kafka_server *ks, const char *name, const char *prefix,
                                      uint32_t partitions, uint32_t replication_factor,
                                      const struct placed_state_ops *ops) {
    if (!ks->cfg->cluster_nodes[0]) return NULL;
    struct placed_state *ps = sl_xcalloc(1, sizeof(*ps));
    ps->ks = ks;
    snprintf(ps->name, sizeof(ps->name), "%s", name);
    snprintf(ps->prefix, sizeof(ps->prefix), "%s", prefix);
    ps->partitions_cfg = partitions;
    ps->rf_cfg = replication_factor;
    ps->ops = *ops;
    ps->timer.fire = ps_on_timer;
    loop_timer_add(ks->loop, &ps->timer, loop_mono_ms(ks->loop) + PLACED_TICK_MS);
    return ps;
}

void placed_state_free(struct placed_state *ps) {
    if (!ps) return;
    loop_timer_del(ps->ks->loop, &ps->timer);
    ps_clear(ps);
    free(ps);
}

/* ---- lookups ------------------------------------------------------------------------------------ */

uint32_t placed_state_index(const struct placed_state *ps, const char *key, size_t len) {
    return ps && ps->count ? ps_index(key, len, ps->count) : UINT32_MAX;
}

void *placed_state_at(struct placed_state *ps, uint32_t index) {
    if (!ps || index >= ps->count) return NULL;
    return ps->parts[index].draining ? NULL : ps->parts[index].h;
}

void *placed_state_of(struct placed_state *ps, const char *key, size_t len) {
    if (!ps || !ps->count) return NULL;
    struct ps_part *pp = &ps->parts[ps_index(key, len, ps->count)];
    return pp->draining ? NULL : pp->h;
}

static void ps_created(void *arg, sl_err err, struct topic *tp, const char *why) {
    (void)tp;
    struct placed_state *ps = arg;
    ps->creating = false;
    if (err && err != SL_TOPIC_EXISTS) SL_WARN("%s not made: %s", ps->name, why ? why : sl_err_str(err));
}

/* Made on the first lookup, once as many brokers are registered as the replication factor
 * asks (fewer in a smaller cluster: its voters). */
static void ps_create(struct placed_state *ps) {
    struct kafka_server *ks = ps->ks;
    if (ps->creating || !ks->view->ready || ks->view->controller_id == 0) return;
    uint32_t rf = SL_MIN(ps->rf_cfg, SL_MAX(ks->view->voters, 1u));
    if (ks->view->broker_count < rf) return;
    static const char *const keys[] = {"cleanup.policy", "segment.bytes"};
    static const char *const values[] = {"compact", "16777216"};
    const char *why = NULL;
    ps->creating = true;
    sl_err e = ks->view->ops.create(ks->view->ops.arg, ps->name, (int32_t)ps->partitions_cfg, (int32_t)rf, keys,
                                    values, 2, ps_created, ps, &why);
    if (e) {
        ps->creating = false;
        if (e != SL_TOPIC_EXISTS) SL_WARN("%s not made: %s", ps->name, why ? why : sl_err_str(e));
    } else {
        SL_INFO("making %s (%u partitions, replication factor %u)", ps->name, ps->partitions_cfg, rf);
    }
}

sl_err placed_state_leader(struct placed_state *ps, const char *key, size_t len, int32_t *node) {
    struct kafka_server *ks = ps->ks;
    *node = ks->node_id;
    /* A table that is not current (a start, a stop) may name a leader that has moved: a
     * restarted coordinator named itself and sent a group's heartbeats back to itself. */
    if (!ks->view || !ks->view->ready) return SL_COORDINATOR_NOT_AVAILABLE;
    const struct cluster_topic *pl = cluster_view_topic(ks->view, ps->name, ps_name_len(ps));
    if (!pl) {
        ps_create(ps);
        return SL_COORDINATOR_NOT_AVAILABLE;
    }
    uint32_t leader = pl->parts[ps_index(key, len, pl->partition_count)].replicas[0];
    if (!leader || (leader != (uint32_t)ks->node_id && !cluster_view_broker(ks->view, leader)))
        return SL_COORDINATOR_NOT_AVAILABLE;
    *node = (int32_t)leader;
    return SL_OK;
}

void placed_state_each(struct placed_state *ps, void (*fn)(void *arg, void *h), void *arg) {
    for (uint32_t i = 0; ps && i < ps->count; i++)
        if (ps->parts[i].h && !ps->parts[i].draining) fn(arg, ps->parts[i].h);
}

void placed_state_metrics(const struct placed_state *ps, struct prom *p) {
    if (!ps) return;
    uint32_t led = 0;
    for (uint32_t i = 0; i < ps->count; i++) led += ps->parts[i].h && !ps->parts[i].draining;
    char name[128], help[512], labels[64];
    snprintf(name, sizeof(name), "sluice_kafka_%s_topic_partitions", ps->prefix);
    snprintf(help, sizeof(help), "Partitions of the cluster's replicated %s; 0 until it is made.", ps->name);
    prom_family(p, name, "gauge", help);
    prom_u64(p, name, NULL, ps->count);
    snprintf(name, sizeof(name), "sluice_kafka_%s_partitions_led", ps->prefix);
    snprintf(help, sizeof(help), "Partitions of %s this broker leads and has loaded: it coordinates their keys.",
             ps->name);
    prom_family(p, name, "gauge", help);
    prom_u64(p, name, NULL, led);
    snprintf(name, sizeof(name), "sluice_kafka_%s_loads_total", ps->prefix);
    snprintf(help, sizeof(help),
             "Partitions of %s loaded (this broker became their leader) and unloaded (it stopped being it).", ps->name);
    prom_family(p, name, "counter", help);
    prom_u64(p, name, prom_labels(labels, sizeof(labels), "event", "load", NULL), ps->loads);
    prom_u64(p, name, prom_labels(labels, sizeof(labels), "event", "unload", NULL), ps->unloads);
}
