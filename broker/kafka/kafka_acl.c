/* kafka_acl.c: the ACL set, its file, the authorizer and the ACL APIs (see kafka_acl.h).
 *
 * File: <data_dir>/kafka_acls, replaced whole (tmp + fsync + rename) after every change that
 * altered the set, so a crash leaves the old or the new set. Format, one ACL a line after the
 * header line "sluice-kafka-acls 1":
 *   <resource_type> <pattern_type> <operation> <permission> <len>:<name> <len>:<principal> <len>:<host>
 * with Kafka's codes; each string is length-prefixed, so any byte but NUL may be in it. A
 * file that does not parse stops the broker: starting with fewer ACLs than were stored could
 * open what was closed.
 *
 * Matching is Kafka's: a resource is covered by literal ACLs of its name, literal "*", and
 * prefixed ACLs whose name starts it; a principal by its own ACLs and "User:*"; a host by its
 * own and "*". DENY is checked for the operation itself and ALL; ALLOW also for the operations
 * that imply it (READ, WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies
 * DESCRIBE_CONFIGS). The set is a flat array: ACLs are few, and each check is a linear scan. */
#include "broker/kafka/kafka_acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"

#define ACL_FILE "kafka_acls"
#define ACL_FILE_HEADER "sluice-kafka-acls 1"
#define ACL_STR_MAX 4096 /* a name, principal or host longer than this is refused */
#define ACLS_MAX 10000 /* a CreateAcls past this gets POLICY_VIOLATION */
/* Creations or filters in one request: more closes the connection (as SCRAM's 1024). Together
 * with ACLS_MAX this bounds a request's work to ACL_REQUEST_MAX x ACLS_MAX comparisons. */
#define ACL_REQUEST_MAX 1000

struct acl_entry {
    int8_t resource_type, pattern_type, operation, permission;
    char *name, *principal, *host;
    /* Kept for the checks, which run on every request: lengths first, bytes only if equal. */
    uint32_t name_len, principal_len;
    bool name_star, principal_star, host_star; /* literal "*", "User:*", "*" */
};

struct kafka_acls {
    struct acl_entry *v;
    uint32_t n, cap;
    char path[SL_CONFIG_PATH_MAX + 32];
};

bool kafka_acl_enabled(const struct kafka_server *ks) { return ks->cfg->kafka_authorizer; }

static bool kstr_is(struct kstr s, const char *c) {
    size_t n = strlen(c);
    return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, c, n) == 0;
}

static char *acl_strdup(struct kstr s) {
    char *p = sl_xmalloc((size_t)(s.len > 0 ? s.len : 0) + 1);
    if (s.len > 0) memcpy(p, s.p, (size_t)s.len);
    p[s.len > 0 ? s.len : 0] = 0;
    return p;
}

static struct kafka_acl acl_view(const struct acl_entry *e) {
    struct kafka_acl b = {e->resource_type, kafka_kstr(e->name), e->pattern_type, kafka_kstr(e->principal),
                          kafka_kstr(e->host),  e->operation,        e->permission};
    return b;
}

/* ---- the file ---- */

static bool acls_save(const struct kafka_acls *s) {
    FILE *f = sl_file_begin(s->path);
    if (!f) return false;
    fprintf(f, "%s\n", ACL_FILE_HEADER);
    for (uint32_t i = 0; i < s->n; i++) {
        const struct acl_entry *e = &s->v[i];
        fprintf(f, "%d %d %d %d %zu:%s %zu:%s %zu:%s\n", e->resource_type, e->pattern_type, e->operation,
                e->permission, strlen(e->name), e->name, strlen(e->principal), e->principal, strlen(e->host),
                e->host);
    }
    return sl_file_commit(f, s->path, true);
}

static void acls_add(struct kafka_acls *s, const struct kafka_acl *b) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = sl_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    struct acl_entry *e = &s->v[s->n++];
    e->resource_type = b->resource_type;
    e->pattern_type = b->pattern_type;
    e->operation = b->operation;
    e->permission = b->permission_type;
    e->name = acl_strdup(b->resource_name);
    e->principal = acl_strdup(b->principal);
    e->host = acl_strdup(b->host);
    e->name_len = (uint32_t)strlen(e->name);
    e->principal_len = (uint32_t)strlen(e->principal);
    e->name_star = e->pattern_type == KAFKA_PAT_LITERAL && !strcmp(e->name, "*");
    e->principal_star = !strcmp(e->principal, "User:*");
    e->host_star = !strcmp(e->host, "*");
}

static void acl_entry_free(struct acl_entry *e) {
    free(e->name);
    free(e->principal);
    free(e->host);
}

/* "<len>:<bytes>" at *p (then one space or the line's end); false if it does not parse. */
static bool parse_lenstr(const char **p, const char *end, struct kstr *out) {
    char *colon;
    errno = 0;
    unsigned long n = strtoul(*p, &colon, 10);
    if (errno || colon == *p || colon >= end || *colon != ':' || n > ACL_STR_MAX) return false;
    const char *s = colon + 1;
    if ((size_t)(end - s) < n) return false;
    out->p = s;
    out->len = (int32_t)n;
    *p = s + n;
    if (*p < end && **p == ' ') (*p)++;
    return true;
}

static bool parse_line(const char *line, size_t len, struct kafka_acl *b) {
    const char *end = line + len, *p = line;
    int v[4];
    for (int i = 0; i < 4; i++) {
        char *next;
        long x = strtol(p, &next, 10);
        if (next == p || next >= end || *next != ' ' || x < -128 || x > 127) return false;
        v[i] = (int)x;
        p = next + 1;
    }
    *b = (struct kafka_acl){(int8_t)v[0], {0}, (int8_t)v[1], {0}, {0}, (int8_t)v[2], (int8_t)v[3]};
    return parse_lenstr(&p, end, &b->resource_name) && parse_lenstr(&p, end, &b->principal) &&
           parse_lenstr(&p, end, &b->host) && p == end && !kafka_acl_binding_invalid(b);
}

static sl_err acls_load(struct kafka_acls *s) {
    FILE *f = fopen(s->path, "r");
    if (!f) return errno == ENOENT ? SL_OK : SL_IO;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    sl_err e = SL_OK;
    for (uint32_t no = 1; (len = getline(&line, &cap, f)) >= 0; no++) {
        if (len > 0 && line[len - 1] == '\n') len--;
        if (no == 1) {
            if ((size_t)len != strlen(ACL_FILE_HEADER) || memcmp(line, ACL_FILE_HEADER, (size_t)len)) e = SL_CORRUPT;
        } else {
            struct kafka_acl b;
            if (parse_line(line, (size_t)len, &b)) acls_add(s, &b);
            else e = SL_CORRUPT;
        }
        if (e) {
            SL_ERROR("kafka: %s:%u: not an ACL line", s->path, no);
            break;
        }
    }
    free(line);
    fclose(f);
    return e;
}

sl_err kafka_acl_start(struct kafka_server *ks) {
    struct kafka_acls *s = sl_xcalloc(1, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "%s/%s", ks->cfg->data_dir, ACL_FILE);
    ks->acls = s;
    sl_err e = acls_load(s);
    if (e) return e;
    if (kafka_acl_enabled(ks)) SL_INFO("kafka: authorizer on, %u ACLs from %s", s->n, s->path);
    else if (s->n) SL_WARN("kafka: %u ACLs in %s are not enforced: kafka_authorizer is off", s->n, s->path);
    return SL_OK;
}

void kafka_acl_stop(struct kafka_server *ks) {
    struct kafka_acls *s = ks->acls;
    if (!s) return;
    for (uint32_t i = 0; i < s->n; i++) acl_entry_free(&s->v[i]);
    free(s->v);
    free(s);
    ks->acls = NULL;
}

/* ---- matching ---- */

/* Does the pattern of e cover the resource (Kafka's matching ACLs of a resource)? */
static bool pattern_covers(const struct acl_entry *e, int8_t type, struct kstr name) {
    if (e->resource_type != type) return false;
    if (e->name_star) return true;
    if (name.len < 0) return false;
    if (e->pattern_type == KAFKA_PAT_LITERAL)
        return (uint32_t)name.len == e->name_len && !memcmp(name.p, e->name, e->name_len);
    return e->pattern_type == KAFKA_PAT_PREFIXED && (uint32_t)name.len >= e->name_len &&
           !memcmp(name.p, e->name, e->name_len);
}

/* principal_len: strlen(principal), computed once per check. */
static bool principal_matches(const struct acl_entry *e, const char *principal, size_t principal_len) {
    return e->principal_star || (e->principal_len == principal_len && !memcmp(e->principal, principal, principal_len));
}

static bool host_matches(const struct acl_entry *e, const char *host) {
    return e->host_star || !strcmp(e->host, host);
}

static bool op_implies(int8_t acl_op, int8_t op) {
    if (acl_op == op || acl_op == KAFKA_OP_ALL) return true;
    if (op == KAFKA_OP_DESCRIBE)
        return acl_op == KAFKA_OP_READ || acl_op == KAFKA_OP_WRITE || acl_op == KAFKA_OP_DELETE ||
               acl_op == KAFKA_OP_ALTER;
    return op == KAFKA_OP_DESCRIBE_CONFIGS && acl_op == KAFKA_OP_ALTER_CONFIGS;
}

static const char *conn_principal(const struct kconn *kc) {
    return kc->sasl.principal[0] ? kc->sasl.principal : "User:ANONYMOUS";
}

/* The peer's address without the port ("1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1"). */
static void conn_host(const struct kconn *kc, char *out, size_t cap) {
    const char *peer = kc->c ? kc->c->peer : "";
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n >= cap) n = cap - 1;
    memcpy(out, peer, n);
    out[n] = 0;
}

/* Is principal in the comma list kafka_super_users (spaces around names ignored)? */
static bool super_user(const struct kafka_server *ks, const char *principal) {
    const char *p = ks->cfg->kafka_super_users;
    size_t want = strlen(principal);
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        const char *s = p;
        while (*p && *p != ',') p++;
        const char *e = p;
        while (e > s && e[-1] == ' ') e--;
        if ((size_t)(e - s) == want && !memcmp(s, principal, want)) return true;
    }
    return false;
}

bool kafka_authorized(struct kconn *kc, int8_t op, int8_t resource_type, struct kstr name) {
    const struct kafka_server *ks = kc->ks;
    if (!kafka_acl_enabled(ks)) return true;
    const char *principal = conn_principal(kc);
    if (super_user(ks, principal)) return true;
    size_t principal_len = strlen(principal);
    char host[64];
    conn_host(kc, host, sizeof(host));
    const struct kafka_acls *s = ks->acls;
    bool allowed = false;
    for (uint32_t i = 0; i < s->n; i++) {
        const struct acl_entry *e = &s->v[i];
        if (!principal_matches(e, principal, principal_len) || !pattern_covers(e, resource_type, name) ||
            !host_matches(e, host))
            continue;
        if (e->permission == KAFKA_PERM_DENY && (e->operation == op || e->operation == KAFKA_OP_ALL)) return false;
        if (e->permission == KAFKA_PERM_ALLOW && op_implies(e->operation, op)) allowed = true;
    }
    return allowed;
}

bool kafka_authorized_cluster_or_topic(struct kconn *kc, int8_t op, struct kstr topic) {
    return kafka_authorized(kc, op, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE)) ||
           kafka_authorized(kc, op, KAFKA_RES_TOPIC, topic);
}

bool kafka_authorized_any(struct kconn *kc, int8_t op, int8_t resource_type) {
    const struct kafka_server *ks = kc->ks;
    if (!kafka_acl_enabled(ks)) return true;
    const char *principal = conn_principal(kc);
    if (super_user(ks, principal)) return true;
    size_t principal_len = strlen(principal);
    char host[64];
    conn_host(kc, host, sizeof(host));
    const struct kafka_acls *s = ks->acls;
    /* A DENY on every name (literal "*" or prefix "") cancels any ALLOW, as in Kafka. */
    for (uint32_t i = 0; i < s->n; i++) {
        const struct acl_entry *e = &s->v[i];
        bool everything = e->name_star; /* a prefixed "" cannot be stored (binding_invalid) */
        if (e->resource_type == resource_type && everything && e->permission == KAFKA_PERM_DENY &&
            (e->operation == op || e->operation == KAFKA_OP_ALL) && principal_matches(e, principal, principal_len) &&
            host_matches(e, host))
            return false;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        const struct acl_entry *e = &s->v[i];
        if (e->resource_type == resource_type && e->permission == KAFKA_PERM_ALLOW && op_implies(e->operation, op) &&
            principal_matches(e, principal, principal_len) && host_matches(e, host))
            return true;
    }
    return false;
}

int32_t kafka_authorized_ops(struct kconn *kc, int8_t resource_type, struct kstr name, int32_t supported) {
    if (!kafka_acl_enabled(kc->ks)) return supported;
    int32_t ops = 0;
    for (int op = KAFKA_OP_READ; op <= KAFKA_OP_IDEMPOTENT_WRITE; op++)
        if (((supported >> op) & 1) && kafka_authorized(kc, (int8_t)op, resource_type, name)) ops |= 1 << op;
    return ops;
}

/* ---- filters and validation ---- */

static bool filter_str(struct kstr filter, struct kstr value) {
    return filter.len < 0 || (filter.len == value.len && (value.len <= 0 || !memcmp(filter.p, value.p, (size_t)value.len)));
}

static bool filter_pattern(const struct kafka_acl *f, const struct kafka_acl *b) {
    if (f->resource_name.len < 0)
        return f->pattern_type == KAFKA_PAT_ANY || f->pattern_type == KAFKA_PAT_MATCH || f->pattern_type == b->pattern_type;
    if (f->pattern_type == KAFKA_PAT_ANY) return filter_str(f->resource_name, b->resource_name);
    if (f->pattern_type == KAFKA_PAT_MATCH) {
        if (b->pattern_type == KAFKA_PAT_LITERAL)
            return kstr_is(b->resource_name, "*") || filter_str(f->resource_name, b->resource_name);
        return b->pattern_type == KAFKA_PAT_PREFIXED && f->resource_name.len >= b->resource_name.len &&
               (b->resource_name.len <= 0 || !memcmp(f->resource_name.p, b->resource_name.p, (size_t)b->resource_name.len));
    }
    return f->pattern_type == b->pattern_type && filter_str(f->resource_name, b->resource_name);
}

bool kafka_acl_filter_matches(const struct kafka_acl *f, const struct kafka_acl *b) {
    if (f->resource_type != KAFKA_RES_ANY && f->resource_type != b->resource_type) return false;
    if (!filter_pattern(f, b)) return false;
    if (!filter_str(f->principal, b->principal) || !filter_str(f->host, b->host)) return false;
    if (f->operation != KAFKA_OP_ANY && f->operation != b->operation) return false;
    return f->permission_type == KAFKA_PERM_ANY || f->permission_type == b->permission_type;
}

/* A filter Kafka would refuse (AclBindingFilter.findIndefiniteField: an UNKNOWN code). */
static const char *filter_invalid(const struct kafka_acl *f) {
    if (f->resource_type < KAFKA_RES_ANY || f->resource_type > KAFKA_RES_USER) return "unknown resource type";
    if (f->pattern_type < KAFKA_PAT_ANY || f->pattern_type > KAFKA_PAT_PREFIXED) return "unknown pattern type";
    if (f->operation < KAFKA_OP_ANY || f->operation > KAFKA_OP_DESCRIBE_TOKENS) return "unknown operation";
    if (f->permission_type < KAFKA_PERM_ANY || f->permission_type > KAFKA_PERM_ALLOW) return "unknown permission type";
    return NULL;
}

const char *kafka_acl_binding_invalid(const struct kafka_acl *b) {
    if (b->resource_type != KAFKA_RES_TOPIC && b->resource_type != KAFKA_RES_GROUP &&
        b->resource_type != KAFKA_RES_CLUSTER && b->resource_type != KAFKA_RES_TRANSACTIONAL_ID)
        return "resource type must be topic, group, cluster or transactional id";
    if (b->pattern_type != KAFKA_PAT_LITERAL && b->pattern_type != KAFKA_PAT_PREFIXED)
        return "pattern type must be literal or prefixed";
    if (b->operation < KAFKA_OP_ALL || b->operation > KAFKA_OP_IDEMPOTENT_WRITE) return "invalid operation";
    if (b->permission_type != KAFKA_PERM_ALLOW && b->permission_type != KAFKA_PERM_DENY)
        return "permission type must be allow or deny";
    if (b->resource_name.len <= 0) return "resource name must not be empty";
    if (b->resource_type == KAFKA_RES_CLUSTER && !kstr_is(b->resource_name, KAFKA_CLUSTER_RESOURCE))
        return "the cluster resource is named kafka-cluster";
    if (b->principal.len < 6 || memcmp(b->principal.p, "User:", 5)) return "principal must be User:<name>";
    if (b->host.len <= 0) return "host must not be empty (\"*\" is any host)";
    if (b->resource_name.len > ACL_STR_MAX || b->principal.len > ACL_STR_MAX || b->host.len > ACL_STR_MAX)
        return "name, principal or host too long";
    if (memchr(b->resource_name.p, 0, (size_t)b->resource_name.len) || memchr(b->principal.p, 0, (size_t)b->principal.len) ||
        memchr(b->host.p, 0, (size_t)b->host.len))
        return "NUL byte in a name";
    return NULL;
}

static bool same_binding(const struct kafka_acl *a, const struct kafka_acl *b) {
    return a->resource_type == b->resource_type && a->pattern_type == b->pattern_type && a->operation == b->operation &&
           a->permission_type == b->permission_type && filter_str(a->resource_name, b->resource_name) &&
           filter_str(a->principal, b->principal) && filter_str(a->host, b->host);
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
static void describe_group(struct karena *a, const struct kafka_acls *s, const struct kafka_acl *filter,
                           struct kafka_describe_acls_resp *resp) {
    const struct acl_entry **m = sl_xmalloc(sizeof(*m) * (s->n ? s->n : 1));
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        struct kafka_acl b = acl_view(&s->v[i]);
        if (kafka_acl_filter_matches(filter, &b)) m[n++] = &s->v[i];
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
    struct kafka_acls *s = kc->ks->acls;
    struct kafka_describe_acls_resp resp = {0, 0, {NULL, -1}, NULL, 0};
    const char *bad = filter_invalid(&req.filter);
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
    struct kafka_acls *s = kc->ks->acls;
    struct kafka_create_acls_resp resp = {0, NULL, req.creation_count};
    resp.results = kafka_alloc_array(&kc->arena, req.creation_count, sizeof(*resp.results));
    bool allowed = kafka_authorized(kc, KAFKA_OP_ALTER, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE));
    uint32_t added = 0;
    for (int32_t i = 0; i < req.creation_count; i++) {
        struct kafka_acl_result *res = &resp.results[i];
        const struct kafka_acl *b = &req.creations[i];
        *res = (struct kafka_acl_result){0, {NULL, -1}};
        const char *bad = allowed ? kafka_acl_binding_invalid(b) : NULL;
        if (!allowed) {
            res->error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
            res->error_message = cluster_denied_msg();
        } else if (bad) {
            res->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
            res->error_message = kafka_kstr(bad);
        } else {
            bool exists = false;
            for (uint32_t j = 0; j < s->n && !exists; j++) {
                struct kafka_acl have = acl_view(&s->v[j]);
                exists = same_binding(&have, b);
            }
            if (exists) continue; /* Kafka: creating an existing ACL succeeds and changes nothing */
            if (s->n >= ACLS_MAX) {
                res->error_code = (int16_t)sl_err_kafka(SL_POLICY_VIOLATION);
                res->error_message = kafka_kstr("too many ACLs");
                continue;
            }
            acls_add(s, b);
            added++;
        }
    }
    if (added && !acls_save(s)) {
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
    struct kafka_acls *s = kc->ks->acls;
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
        const char *bad = filter_invalid(f);
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
            struct kafka_acl b = acl_view(&s->v[j]);
            count += kafka_acl_filter_matches(f, &b);
        }
        fr->matches = kafka_alloc_array(&kc->arena, count, sizeof(*fr->matches));
        for (uint32_t j = 0; j < s->n; j++) {
            struct kafka_acl b = acl_view(&s->v[j]);
            if (!kafka_acl_filter_matches(f, &b)) continue;
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
        bool saved = acls_save(s);
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
