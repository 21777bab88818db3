/* cluster_view.c: see cluster_view.h. */
#include "broker/core/cluster_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/base.h"

void cluster_view_free(struct cluster_view *v) { cluster_topics_free(&v->topics); }

/* ---- the view of a broker whose cluster part has stopped: every change refused ---- */

static const char stopped_why[] = "the broker is shutting down";

static sl_err stopped_create(void *arg, const char *name, int32_t partitions, int32_t rf, const char *const *keys,
                             const char *const *values, uint32_t n, topics_done_fn done, void *done_arg,
                             const char **why) {
    (void)arg, (void)name, (void)partitions, (void)rf, (void)keys, (void)values, (void)n, (void)done, (void)done_arg;
    *why = stopped_why;
    return SL_REQUEST_TIMED_OUT; /* retriable: the client asks another broker */
}

static sl_err stopped_grow(void *arg, const char *name, int32_t total, topics_done_fn done, void *done_arg,
                           const char **why) {
    (void)arg, (void)name, (void)total, (void)done, (void)done_arg;
    *why = stopped_why;
    return SL_REQUEST_TIMED_OUT; /* retriable: the client asks another broker */
}

static sl_err stopped_remove(void *arg, const char *name, topics_done_fn done, void *done_arg, const char **why) {
    (void)arg, (void)name, (void)done, (void)done_arg;
    *why = stopped_why;
    return SL_REQUEST_TIMED_OUT; /* retriable: the client asks another broker */
}

static sl_err stopped_configs(void *arg, const char *name, const char *const *keys, const char *const *values,
                              uint32_t n, topics_done_fn done, void *done_arg, const char **why) {
    (void)arg, (void)name, (void)keys, (void)values, (void)n, (void)done, (void)done_arg;
    *why = stopped_why;
    return SL_REQUEST_TIMED_OUT; /* retriable: the client asks another broker */
}

static sl_err stopped_alter_isr(void *arg, const char *name, const uint8_t id[16], uint32_t partition,
                                uint32_t leader_epoch, const uint32_t *isr, uint32_t n, topics_done_fn done,
                                void *done_arg) {
    (void)arg, (void)name, (void)id, (void)partition, (void)leader_epoch, (void)isr, (void)n, (void)done,
        (void)done_arg;
    return SL_CLOSED;
}

void cluster_view_stopped(struct cluster_view *v, uint32_t self_id) {
    memset(v, 0, sizeof(*v));
    v->self_id = self_id;
    v->stopped = true;
    v->ops = (struct cluster_view_ops){stopped_create, stopped_grow, stopped_remove, stopped_configs,
                                       stopped_alter_isr, NULL};
}

void cluster_view_set_brokers(struct cluster_view *v, const struct cluster_fsm *f) {
    v->broker_count = 0;
    for (uint32_t i = 0; i < f->count; i++) {
        const struct cluster_broker *b = &f->brokers[i];
        const char *colon = strrchr(b->kafka, ':');
        if (!colon) continue; /* the FSM's decoder checked the form; skip rather than guess */
        struct cluster_view_broker *o = &v->brokers[v->broker_count++];
        o->id = b->node_id;
        snprintf(o->host, sizeof(o->host), "%.*s", (int)(colon - b->kafka), b->kafka);
        o->port = atoi(colon + 1);
        snprintf(o->nats, sizeof(o->nats), "%s", b->nats);
        snprintf(o->route, sizeof(o->route), "%s", b->route);
        snprintf(o->http, sizeof(o->http), "%s", b->http);
    }
}

const struct cluster_view_broker *cluster_view_broker(const struct cluster_view *v, uint32_t id) {
    for (uint32_t i = 0; i < v->broker_count; i++)
        if (v->brokers[i].id == id) return &v->brokers[i];
    return NULL;
}

const struct cluster_topic *cluster_view_topic(const struct cluster_view *v, const char *name, int32_t name_len) {
    if (name_len <= 0 || name_len >= CLUSTER_TOPIC_NAME_MAX) return NULL;
    char n[CLUSTER_TOPIC_NAME_MAX];
    memcpy(n, name, (size_t)name_len);
    n[name_len] = '\0';
    return cluster_topics_find(&v->topics, n);
}

uint32_t cluster_view_coordinator(const struct cluster_view *v, const char *key, size_t len) {
    if (v->broker_count == 0) return v->self_id;
    return v->brokers[XXH3_64bits(key, len) % v->broker_count].id;
}
