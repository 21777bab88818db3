/* kafka_acl.c: the authorizer every Kafka handler asks and the ACL APIs (see kafka_acl.h). The
 * ACL set itself, its file and the matching are broker/core/acl.c's, shared with the NATS wing
 * (JetStream streams are topics). Every change the APIs make bumps the set's generation, which
 * ends the verdicts NATS connections keep. */
#include "broker/kafka/kafka_acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/core/acl.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"

/* Creations or filters in one request: more closes the connection (as SCRAM's 1024). Together
 * with ACL_SET_MAX this bounds a request's work to ACL_REQUEST_MAX x ACL_SET_MAX comparisons. */
#define ACL_REQUEST_MAX 1000

bool kafka_acl_enabled(const struct kafka_server *ks) { return ks->cfg->kafka_authorizer; }

sl_err kafka_acl_start(struct kafka_server *ks) {
    sl_err e = acl_set_open(ks->cfg->data_dir, &ks->acls);
    if (e) return e;
    struct acl_set *s = ks->acls;
    if (kafka_acl_enabled(ks)) SL_INFO("kafka: authorizer on, %u ACLs from %s", s->n, s->path);
    else if (s->n) SL_WARN("kafka: %u ACLs in %s are not enforced: kafka_authorizer is off", s->n, s->path);
    return SL_OK;
}

void kafka_acl_stop(struct kafka_server *ks) {
    acl_set_free(ks->acls);
    ks->acls = NULL;
}

static const char *conn_principal(const struct kconn *kc) {
    return kc->sasl.principal[0] ? kc->sasl.principal : ACL_ANONYMOUS;
}

static struct acl_who conn_who(const struct kconn *kc, char *host, size_t cap) {
    acl_peer_host(kc->c ? kc->c->peer : "", host, cap);
    return (struct acl_who){conn_principal(kc), host};
}

bool kafka_authorized(struct kconn *kc, int8_t op, int8_t resource_type, struct kstr name) {
    const struct kafka_server *ks = kc->ks;
    if (!kafka_acl_enabled(ks)) return true;
    char host[64];
    struct acl_who who = conn_who(kc, host, sizeof(host));
    return acl_authorized(ks->acls, ks->cfg->kafka_super_users, &who, op, resource_type, name);
}

bool kafka_authorized_cluster_or_topic(struct kconn *kc, int8_t op, struct kstr topic) {
    return kafka_authorized(kc, op, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE)) ||
           kafka_authorized(kc, op, KAFKA_RES_TOPIC, topic);
}

bool kafka_authorized_any(struct kconn *kc, int8_t op, int8_t resource_type) {
    const struct kafka_server *ks = kc->ks;
    if (!kafka_acl_enabled(ks)) return true;
    char host[64];
    struct acl_who who = conn_who(kc, host, sizeof(host));
    return acl_authorized_any(ks->acls, ks->cfg->kafka_super_users, &who, op, resource_type);
}

int32_t kafka_authorized_ops(struct kconn *kc, int8_t resource_type, struct kstr name, int32_t supported) {
    if (!kafka_acl_enabled(kc->ks)) return supported;
    int32_t ops = 0;
    for (int op = KAFKA_OP_READ; op <= KAFKA_OP_IDEMPOTENT_WRITE; op++)
        if (((supported >> op) & 1) && kafka_authorized(kc, (int8_t)op, resource_type, name)) ops |= 1 << op;
    return ops;
}

/* ---- the APIs ---- */

static struct kstr cluster_denied_msg(void) { return kafka_kstr("Cluster authorization failed."); }

static int by_resource(const void *a, const void *b) {
    const struct acl_entry *x = *(const struct acl_entry *const *)a, *y = *(const struct acl_entry *const *)b;
    if (x->resource_type != y->resource_type) return x->resource_type - y->resource_type;
    if (x->pattern_type != y->pattern_type) return x->pattern_type - y->pattern_type;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x < y ? -1 : x > y; /* stored order within a resource */
}

static bool same_resource(const struct acl_entry *x, const struct acl_entry *y) {
    return x->resource_type == y->resource_type && x->pattern_type == y->pattern_type && !strcmp(x->name, y->name);
}

/* The matching ACLs grouped by resource pattern (sorted by type, pattern type, name), each
 * array sized exactly. */
static void describe_group(struct karena *a, const struct acl_set *s, const struct kafka_acl *filter,
                           struct kafka_describe_acls_resp *resp) {
    const struct acl_entry **m = sl_xmalloc(sizeof(*m) * (s->n ? s->n : 1));
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        struct kafka_acl b = acl_entry_view(&s->v[i]);
        if (acl_filter_matches(filter, &b)) m[n++] = &s->v[i];
    }
    qsort(m, n, sizeof(*m), by_resource);
    int32_t groups = 0;
    for (uint32_t i = 0; i < n; i++) groups += i == 0 || !same_resource(m[i - 1], m[i]);
    resp->resources = kafka_alloc_array(a, groups, sizeof(*resp->resources));
    for (uint32_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && same_resource(m[j], m[i]); j++) continue;
        struct kafka_describe_acls_resource *res = &resp->resources[resp->resource_count++];
        *res = (struct kafka_describe_acls_resource){m[i]->resource_type, kafka_kstr(m[i]->name), m[i]->pattern_type,
                                                     NULL, (int32_t)(j - i)};
        res->acls = kafka_alloc_array(a, res->acl_count, sizeof(*res->acls));
        for (uint32_t k = i; k < j; k++)
            res->acls[k - i] = (struct kafka_acl_description){kafka_kstr(m[k]->principal), kafka_kstr(m[k]->host),
                                                              m[k]->operation, m[k]->permission};
    }
    free(m);
}

sl_err kafka_handle_describe_acls(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_describe_acls_req req;
    sl_err e = kafka_decode_describe_acls(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct acl_set *s = kc->ks->acls;
    struct kafka_describe_acls_resp resp = {0, 0, {NULL, -1}, NULL, 0};
    const char *bad = acl_filter_invalid(&req.filter);
    if (!kafka_authorized(kc, KAFKA_OP_DESCRIBE, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE))) {
        resp.error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
        resp.error_message = cluster_denied_msg();
    } else if (bad) {
        resp.error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        resp.error_message = kafka_kstr(bad);
    } else {
        describe_group(&kc->arena, s, &req.filter, &resp);
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_describe_acls_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

sl_err kafka_handle_create_acls(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_create_acls_req req;
    sl_err e = kafka_decode_create_acls(r, q->version, &kc->arena, &req);
    if (e) return e;
    if (req.creation_count > ACL_REQUEST_MAX) return SL_POLICY_VIOLATION;
    struct acl_set *s = kc->ks->acls;
    struct kafka_create_acls_resp resp = {0, NULL, req.creation_count};
    resp.results = kafka_alloc_array(&kc->arena, req.creation_count, sizeof(*resp.results));
    bool allowed = kafka_authorized(kc, KAFKA_OP_ALTER, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE));
    uint32_t added = 0;
    for (int32_t i = 0; i < req.creation_count; i++) {
        struct kafka_acl_result *res = &resp.results[i];
        const struct kafka_acl *b = &req.creations[i];
        *res = (struct kafka_acl_result){0, {NULL, -1}};
        const char *bad = allowed ? acl_binding_invalid(b) : NULL;
        if (!allowed) {
            res->error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
            res->error_message = cluster_denied_msg();
        } else if (bad) {
            res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
            res->error_message = kafka_kstr(bad);
        } else {
            bool exists = false;
            for (uint32_t j = 0; j < s->n && !exists; j++) {
                struct kafka_acl have = acl_entry_view(&s->v[j]);
                exists = acl_same_binding(&have, b);
            }
            if (exists) continue; /* Kafka: creating an existing ACL succeeds and changes nothing */
            if (s->n >= ACL_SET_MAX) {
                res->error_code = (int16_t)sl_err_kafka(SL_POLICY_VIOLATION);
                res->error_message = kafka_kstr("too many ACLs");
                continue;
            }
            acl_set_add(s, b);
            added++;
        }
    }
    if (added && !acl_set_save(s)) {
        /* Not durable: take them back and say so, rather than enforce what a restart loses. */
        SL_ERROR("kafka: cannot write %s: %s", s->path, strerror(errno));
        for (uint32_t j = s->n - added; j < s->n; j++) acl_entry_free(&s->v[j]);
        s->n -= added;
        for (int32_t i = 0; i < req.creation_count; i++)
            if (!resp.results[i].error_code) {
                resp.results[i].error_code = (int16_t)sl_err_kafka(SL_IO);
                resp.results[i].error_message = kafka_kstr("cannot store the ACLs");
            }
    } else if (added) {
        acl_set_changed(s);
        SL_INFO("kafka: %s created %u ACLs", conn_principal(kc), added);
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_create_acls_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

sl_err kafka_handle_delete_acls(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_delete_acls_req req;
    sl_err e = kafka_decode_delete_acls(r, q->version, &kc->arena, &req);
    if (e) return e;
    if (req.filter_count > ACL_REQUEST_MAX) return SL_POLICY_VIOLATION;
    struct acl_set *s = kc->ks->acls;
    struct kafka_delete_acls_resp resp = {0, NULL, req.filter_count};
    resp.results = kafka_alloc_array(&kc->arena, req.filter_count, sizeof(*resp.results));
    bool allowed = kafka_authorized(kc, KAFKA_OP_ALTER, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE));
    /* Every filter sees the set as it was: matches are marked first, removed after. */
    bool *gone = s->n ? sl_xcalloc(s->n, sizeof(bool)) : NULL;
    uint32_t removed = 0;
    for (int32_t i = 0; i < req.filter_count; i++) {
        struct kafka_delete_acls_filter_result *fr = &resp.results[i];
        const struct kafka_acl *f = &req.filters[i];
        *fr = (struct kafka_delete_acls_filter_result){0, {NULL, -1}, NULL, 0};
        const char *bad = acl_filter_invalid(f);
        if (!allowed) {
            fr->error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
            fr->error_message = cluster_denied_msg();
            continue;
        }
        if (bad) {
            fr->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
            fr->error_message = kafka_kstr(bad);
            continue;
        }
        int32_t count = 0;
        for (uint32_t j = 0; j < s->n; j++) {
            struct kafka_acl b = acl_entry_view(&s->v[j]);
            count += acl_filter_matches(f, &b);
        }
        fr->matches = kafka_alloc_array(&kc->arena, count, sizeof(*fr->matches));
        for (uint32_t j = 0; j < s->n; j++) {
            struct kafka_acl b = acl_entry_view(&s->v[j]);
            if (!acl_filter_matches(f, &b)) continue;
            fr->matches[fr->match_count++] = (struct kafka_delete_acls_match){0, {NULL, -1}, b};
            if (!gone[j]) removed++;
            gone[j] = true;
        }
    }
    if (removed) {
        /* The strings of removed entries stay alive until the response is encoded. */
        struct acl_entry *old = s->v;
        uint32_t old_n = s->n;
        s->v = sl_xcalloc(old_n, sizeof(*s->v));
        s->cap = old_n;
        s->n = 0;
        for (uint32_t j = 0; j < old_n; j++)
            if (!gone[j]) s->v[s->n++] = old[j];
        bool saved = acl_set_save(s);
        struct kw w;
        if (!saved) {
            SL_ERROR("kafka: cannot write %s: %s", s->path, strerror(errno));
            free(s->v);
            s->v = old;
            s->n = s->cap = old_n;
            for (int32_t i = 0; i < req.filter_count; i++)
                for (int32_t j = 0; j < resp.results[i].match_count; j++) {
                    resp.results[i].matches[j].error_code = (int16_t)sl_err_kafka(SL_IO);
                    resp.results[i].matches[j].error_message = kafka_kstr("cannot store the ACLs");
                }
        }
        kresp_begin(q, &w);
        kafka_encode_delete_acls_resp(&w, q->version, &resp);
        kresp_finish(q, &w);
        if (saved) {
            acl_set_changed(s);
            SL_INFO("kafka: %s deleted %u ACLs", conn_principal(kc), removed);
            for (uint32_t j = 0; j < old_n; j++)
                if (gone[j]) acl_entry_free(&old[j]);
            free(old);
        }
        free(gone);
        return SL_OK;
    }
    free(gone);
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_delete_acls_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}
