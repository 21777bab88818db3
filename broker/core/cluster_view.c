/* cluster_view.c: see cluster_view.h. */
#include "broker/core/cluster_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/base.h"

void cluster_view_free(struct cluster_view *v) { cluster_topics_free(&v->topics); }

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
