/* acl.c: the ACL set, its file and the authorizer's decision (see acl.h).
 *
 * File: <data_dir>/kafka_acls, replaced whole (tmp + fsync + rename) after every change that
 * altered the set, so a crash leaves the old or the new set. Format, one ACL a line after the
 * header line "sluice-kafka-acls 1":
 *   <resource_type> <pattern_type> <operation> <permission> <len>:<name> <len>:<principal> <len>:<host>
 * with Kafka's codes; each string is length-prefixed, so any byte but NUL may be in it. The name
 * stays "kafka_acls" although NATS streams obey it too: a file written before keeps working.
 *
 * Matching is Kafka's: a resource is covered by literal ACLs of its name, literal "*", and
 * prefixed ACLs whose name starts it; a principal by its own ACLs and "User:*"; a host by its
 * own and "*". DENY is checked for the operation itself and ALL; ALLOW also for the operations
 * that imply it (READ, WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies
 * DESCRIBE_CONFIGS). */
#include "broker/core/acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/logging.h"

#define ACL_FILE "kafka_acls"
#define ACL_FILE_HEADER "sluice-kafka-acls 1"

static struct kstr cstr(const char *s) { return (struct kstr){s, (int32_t)strlen(s)}; }

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

struct kafka_acl acl_entry_view(const struct acl_entry *e) {
    struct kafka_acl b = {e->resource_type, cstr(e->name), e->pattern_type, cstr(e->principal),
                          cstr(e->host),    e->operation,  e->permission};
    return b;
}

/* ---- the file ---- */

bool acl_set_save(const struct acl_set *s) {
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

void acl_set_add(struct acl_set *s, const struct kafka_acl *b) {
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

void acl_entry_free(struct acl_entry *e) {
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
           parse_lenstr(&p, end, &b->host) && p == end && !acl_binding_invalid(b);
}

static sl_err acls_load(struct acl_set *s) {
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
            if (parse_line(line, (size_t)len, &b)) acl_set_add(s, &b);
            else e = SL_CORRUPT;
        }
        if (e) {
            SL_ERROR("acl: %s:%u: not an ACL line", s->path, no);
            break;
        }
    }
    free(line);
    fclose(f);
    return e;
}

sl_err acl_set_open(const char *data_dir, struct acl_set **out) {
    struct acl_set *s = sl_xcalloc(1, sizeof(*s));
    size_t n = strlen(data_dir) + sizeof(ACL_FILE) + 2;
    s->path = sl_xmalloc(n);
    snprintf(s->path, n, "%s/%s", data_dir, ACL_FILE);
    s->generation = 1;
    *out = s;
    sl_err e = acls_load(s);
    if (!e) acl_set_changed(s);
    return e;
}

void acl_set_free(struct acl_set *s) {
    if (!s) return;
    for (uint32_t i = 0; i < s->n; i++) acl_entry_free(&s->v[i]);
    free(s->v);
    free(s->path);
    free(s->ix_literal);
    free(s->ix_prefixed);
    free(s->ix_lens);
    free(s->ix_other);
    free(s);
}

/* ---- the index ---- */

static bool acl_literal(const struct acl_entry *e) { return e->pattern_type == KAFKA_PAT_LITERAL && !e->name_star; }

/* Order of the literal entries, and of the prefixed ones: resource type, name length, name bytes. */
static int acl_key_cmp(int8_t type, const char *name, uint32_t len, const struct acl_entry *e) {
    if (type != e->resource_type) return type < e->resource_type ? -1 : 1;
    if (len != e->name_len) return len < e->name_len ? -1 : 1;
    return len ? memcmp(name, e->name, len) : 0;
}

static int acl_ix_cmp(const void *a, const void *b, void *arg) {
    const struct acl_set *s = arg;
    const struct acl_entry *x = &s->v[*(const uint32_t *)a];
    int c = acl_key_cmp(x->resource_type, x->name, x->name_len, &s->v[*(const uint32_t *)b]);
    if (c) return c;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1; /* stable */
}

/* ix_lens: one run of ix_prefixed per (resource type, name length), in its order. */
static void acl_ix_lens(struct acl_set *s) {
    s->n_lens = 0;
    for (uint32_t k = 0; k < s->n_prefixed; k++) {
        const struct acl_entry *e = &s->v[s->ix_prefixed[k]];
        struct acl_ix_len *l = s->n_lens ? &s->ix_lens[s->n_lens - 1] : NULL;
        if (l && l->resource_type == e->resource_type && l->len == e->name_len) l->hi = k + 1;
        else s->ix_lens[s->n_lens++] = (struct acl_ix_len){e->resource_type, e->name_len, k, k + 1};
    }
}

void acl_set_changed(struct acl_set *s) {
    s->generation++;
    free(s->ix_literal);
    free(s->ix_prefixed);
    free(s->ix_lens);
    free(s->ix_other);
    size_t cap = SL_MAX(s->n, 1u);
    s->ix_literal = sl_xmalloc(cap * sizeof(uint32_t));
    s->ix_prefixed = sl_xmalloc(cap * sizeof(uint32_t));
    s->ix_lens = sl_xmalloc(cap * sizeof(struct acl_ix_len));
    s->ix_other = sl_xmalloc(cap * sizeof(uint32_t));
    s->n_literal = s->n_prefixed = s->n_other = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (acl_literal(&s->v[i])) s->ix_literal[s->n_literal++] = i;
        else if (s->v[i].pattern_type == KAFKA_PAT_PREFIXED) s->ix_prefixed[s->n_prefixed++] = i;
        else s->ix_other[s->n_other++] = i;
    }
    qsort_r(s->ix_literal, s->n_literal, sizeof(uint32_t), acl_ix_cmp, s);
    qsort_r(s->ix_prefixed, s->n_prefixed, sizeof(uint32_t), acl_ix_cmp, s);
    acl_ix_lens(s);
    s->ix_gen = s->generation;
    s->ix_n = s->n;
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

void acl_peer_host(const char *peer, char *out, size_t cap) {
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

bool acl_super_user(const char *super_users, const char *principal) {
    const char *p = super_users;
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

/* One check: who asks (principal_len = strlen(principal), computed once), for what. */
struct acl_check {
    const struct acl_who *who;
    size_t principal_len;
    int8_t op, resource_type;
    struct kstr name;
};

/* One entry's say on a check: -1 deny, 1 allow, 0 nothing. */
static int acl_verdict(const struct acl_entry *e, const struct acl_check *c) {
    if (!principal_matches(e, c->who->principal, c->principal_len) || !pattern_covers(e, c->resource_type, c->name) ||
        !host_matches(e, c->who->host))
        return 0;
    if (e->permission == KAFKA_PERM_DENY && (e->operation == c->op || e->operation == KAFKA_OP_ALL)) return -1;
    return e->permission == KAFKA_PERM_ALLOW && op_implies(e->operation, c->op) ? 1 : 0;
}

/* The say of the entries of ix[lo, hi) (sorted by acl_key_cmp) whose name is key.p[0, key.len)
 * and type the check's: -1 if one denies, else 1 if one allows, else 0. */
static int acl_ix_verdict(const struct acl_set *s, const uint32_t *ix, uint32_t lo, uint32_t hi, struct kstr key,
                          const struct acl_check *c) {
    uint32_t end = hi;
    while (lo < hi) { /* the first at or after the key */
        uint32_t mid = lo + (hi - lo) / 2;
        if (acl_key_cmp(c->resource_type, key.p, (uint32_t)key.len, &s->v[ix[mid]]) > 0) lo = mid + 1;
        else hi = mid;
    }
    int say = 0;
    for (uint32_t k = lo; k < end; k++) {
        const struct acl_entry *e = &s->v[ix[k]];
        if (acl_key_cmp(c->resource_type, key.p, (uint32_t)key.len, e)) break;
        int v = acl_verdict(e, c);
        if (v < 0) return -1;
        say |= v;
    }
    return say;
}

/* The prefixed entries covering the name: for each prefix length L present for the type and
 * no longer than the name, those whose name is the name's first L bytes. */
static int acl_prefixed_verdict(const struct acl_set *s, const struct acl_check *c) {
    uint32_t lo = 0, hi = s->n_lens;
    while (lo < hi) { /* the type's first length */
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->ix_lens[mid].resource_type < c->resource_type) lo = mid + 1;
        else hi = mid;
    }
    int say = 0;
    for (uint32_t k = lo; k < s->n_lens; k++) {
        const struct acl_ix_len *l = &s->ix_lens[k];
        if (l->resource_type != c->resource_type || l->len > (uint32_t)c->name.len) break;
        int v = acl_ix_verdict(s, s->ix_prefixed, l->lo, l->hi, (struct kstr){c->name.p, (int32_t)l->len}, c);
        if (v < 0) return -1;
        say |= v;
    }
    return say;
}

bool acl_authorized(const struct acl_set *s, const char *super_users, const struct acl_who *who, int8_t op,
                    int8_t resource_type, struct kstr name) {
    if (acl_super_user(super_users, who->principal)) return true;
    if (!s) return false;
    struct acl_check c = {who, strlen(who->principal), op, resource_type, name};
    int say = 0;
    if (s->ix_gen != s->generation || s->ix_n != s->n) { /* changed, not yet indexed: all of it */
        for (uint32_t i = 0; i < s->n; i++) {
            int v = acl_verdict(&s->v[i], &c);
            if (v < 0) return false;
            say |= v;
        }
        return say > 0;
    }
    if (name.len >= 0) { /* a null name is covered by literal "*" only */
        say = acl_ix_verdict(s, s->ix_literal, 0, s->n_literal, name, &c);
        if (say < 0) return false;
        int v = acl_prefixed_verdict(s, &c);
        if (v < 0) return false;
        say |= v;
    }
    for (uint32_t k = 0; k < s->n_other; k++) {
        int v = acl_verdict(&s->v[s->ix_other[k]], &c);
        if (v < 0) return false;
        say |= v;
    }
    return say > 0;
}

bool acl_authorized_any(const struct acl_set *s, const char *super_users, const struct acl_who *who, int8_t op,
                        int8_t resource_type) {
    if (acl_super_user(super_users, who->principal)) return true;
    size_t principal_len = strlen(who->principal);
    /* A DENY on every name (literal "*" or prefix "") cancels any ALLOW, as in Kafka. */
    for (uint32_t i = 0; s && i < s->n; i++) {
        const struct acl_entry *e = &s->v[i];
        bool everything = e->name_star; /* a prefixed "" cannot be stored (binding_invalid) */
        if (e->resource_type == resource_type && everything && e->permission == KAFKA_PERM_DENY &&
            (e->operation == op || e->operation == KAFKA_OP_ALL) &&
            principal_matches(e, who->principal, principal_len) && host_matches(e, who->host))
            return false;
    }
    for (uint32_t i = 0; s && i < s->n; i++) {
        const struct acl_entry *e = &s->v[i];
        if (e->resource_type == resource_type && e->permission == KAFKA_PERM_ALLOW && op_implies(e->operation, op) &&
            principal_matches(e, who->principal, principal_len) && host_matches(e, who->host))
            return true;
    }
    return false;
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

bool acl_filter_matches(const struct kafka_acl *f, const struct kafka_acl *b) {
    if (f->resource_type != KAFKA_RES_ANY && f->resource_type != b->resource_type) return false;
    if (!filter_pattern(f, b)) return false;
    if (!filter_str(f->principal, b->principal) || !filter_str(f->host, b->host)) return false;
    if (f->operation != KAFKA_OP_ANY && f->operation != b->operation) return false;
    return f->permission_type == KAFKA_PERM_ANY || f->permission_type == b->permission_type;
}

/* A filter Kafka would refuse (AclBindingFilter.findIndefiniteField: an UNKNOWN code). */
const char *acl_filter_invalid(const struct kafka_acl *f) {
    if (f->resource_type < KAFKA_RES_ANY || f->resource_type > KAFKA_RES_USER) return "unknown resource type";
    if (f->pattern_type < KAFKA_PAT_ANY || f->pattern_type > KAFKA_PAT_PREFIXED) return "unknown pattern type";
    if (f->operation < KAFKA_OP_ANY || f->operation > KAFKA_OP_DESCRIBE_TOKENS) return "unknown operation";
    if (f->permission_type < KAFKA_PERM_ANY || f->permission_type > KAFKA_PERM_ALLOW) return "unknown permission type";
    return NULL;
}

const char *acl_binding_invalid(const struct kafka_acl *b) {
    if (b->resource_type != KAFKA_RES_TOPIC && b->resource_type != KAFKA_RES_GROUP &&
        b->resource_type != KAFKA_RES_CLUSTER && b->resource_type != KAFKA_RES_TRANSACTIONAL_ID)
        return "resource type must be topic, group, cluster or transactional id";
    if (b->pattern_type != KAFKA_PAT_LITERAL && b->pattern_type != KAFKA_PAT_PREFIXED)
        return "pattern type must be literal or prefixed";
    if (b->operation < KAFKA_OP_ALL || b->operation > KAFKA_OP_IDEMPOTENT_WRITE) return "invalid operation";
    if (b->permission_type != KAFKA_PERM_ALLOW && b->permission_type != KAFKA_PERM_DENY)
        return "permission type must be allow or deny";
    if (b->resource_name.len <= 0) return "resource name must not be empty";
    if (b->resource_type == KAFKA_RES_CLUSTER && !kstr_is(b->resource_name, ACL_CLUSTER_RESOURCE))
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

bool acl_same_binding(const struct kafka_acl *a, const struct kafka_acl *b) {
    return a->resource_type == b->resource_type && a->pattern_type == b->pattern_type && a->operation == b->operation &&
           a->permission_type == b->permission_type && filter_str(a->resource_name, b->resource_name) &&
           filter_str(a->principal, b->principal) && filter_str(a->host, b->host);
}

const char *acl_operation_name(int8_t op) {
    static const char *const names[] = {"UNKNOWN",  "ANY",      "ALL",      "READ",           "WRITE",
                                        "CREATE",   "DELETE",   "ALTER",    "DESCRIBE",       "CLUSTER_ACTION",
                                        "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS",
                                        "DESCRIBE_TOKENS"};
    return op >= 0 && (size_t)op < sizeof(names) / sizeof(names[0]) ? names[op] : "UNKNOWN";
}
