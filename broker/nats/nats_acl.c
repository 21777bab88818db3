/* nats_acl.c: JetStream streams under the ACL set, with verdicts kept per connection (see
 * nats_acl.h). */
#include "broker/nats/nats_acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "broker/config.h"
#include "broker/core/acl.h"
#include "broker/nats/nats_conn.h"

/* One resource's verdicts (a stream's topic, or a durable consumer's group): bit op of known
 * says whether bit op of allowed is a verdict. */
struct nats_acl_slot {
    uint64_t generation; /* 0: empty */
    uint32_t hash, name_len;
    uint16_t known, allowed;
    int8_t type; /* KAFKA_RES_TOPIC or KAFKA_RES_GROUP */
    char *name;
};

struct nats_acl_cache {
    struct nats_acl_slot slots[NATS_ACL_CACHE_SLOTS];
};

void nats_acl_principal(const struct nats_server *ns, const struct nconn *nc, char *out, size_t cap) {
    const char *name = NULL;
    if (nc->user) name = nc->user->name ? nc->user->name : (nc->user->nkey[0] ? nc->user->nkey : NULL);
    else if (ns->cfg->user[0] && nc->cred_user && !strcmp(nc->cred_user, ns->cfg->user)) name = ns->cfg->user;
    if (name) snprintf(out, cap, "User:%s", name);
    else snprintf(out, cap, "%s", ACL_ANONYMOUS);
}

static bool nats_acl_scan(struct nats_server *ns, struct nconn *nc, int8_t op, int8_t type, struct kstr name) {
    char principal[ACL_STR_MAX + 8], host[64];
    nats_acl_principal(ns, nc, principal, sizeof(principal));
    acl_peer_host(nc->c ? nc->c->peer : "", host, sizeof(host));
    struct acl_who who = {principal, host};
    ns->acl_scans++;
    return acl_authorized(ns->acls, ns->cfg->kafka_super_users, &who, op, type, name);
}

static uint32_t name_hash(int8_t type, const char *p, size_t len) {
    uint32_t h = (2166136261u ^ (uint8_t)type) * 16777619u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* The verdict for op on the resource (the stream's topic, a group) from nc's table, or a scan
 * whose verdict it keeps. */
static bool nats_acl_cached(struct nats_server *ns, struct nconn *nc, int8_t op, int8_t type, const char *name,
                            size_t len) {
    SL_ASSERT(op > 0 && op < 16);
    uint64_t generation = ns->acls ? ns->acls->generation : 1;
    if (!nc->acl_cache) nc->acl_cache = sl_xcalloc(1, sizeof(*nc->acl_cache));
    uint32_t h = name_hash(type, name, len);
    struct nats_acl_slot *slot = &nc->acl_cache->slots[h % NATS_ACL_CACHE_SLOTS];
    bool same = slot->generation == generation && slot->hash == h && slot->type == type && slot->name_len == len &&
                !memcmp(slot->name, name, len);
    uint16_t bit = (uint16_t)(1u << op);
    if (same && (slot->known & bit)) return (slot->allowed & bit) != 0;
    bool ok = nats_acl_scan(ns, nc, op, type, (struct kstr){name, (int32_t)len});
    if (!same) {
        if (slot->name_len != len || (slot->name && memcmp(slot->name, name, len))) {
            free(slot->name);
            slot->name = sl_xmalloc(len + 1);
            memcpy(slot->name, name, len);
            slot->name[len] = 0;
        }
        slot->generation = generation;
        slot->hash = h;
        slot->type = type;
        slot->name_len = (uint32_t)len;
        slot->known = slot->allowed = 0;
    }
    slot->known |= bit;
    if (ok) slot->allowed |= bit;
    return ok;
}

/* No client behind the request: the broker's own publish is allowed, one that came over a NATS
 * route is not, since a route does not carry its client's principal (a remote client would
 * otherwise reach a stream with no check at all; with ACLs on, a stream serves the clients of
 * the broker holding it). */
static bool nats_acl_in_process(const struct nats_server *ns) { return !ns->route_in; }

bool nats_acl_stream_allowed(struct nats_server *ns, int8_t op, const char *stream, size_t len) {
    struct nconn *nc = ns->route_pub;
    if (!ns->cfg->kafka_authorizer) return true;
    if (!nc) return nats_acl_in_process(ns);
    ns->acl_checks++;
    return nats_acl_cached(ns, nc, op, KAFKA_RES_TOPIC, stream, len);
}

bool nats_acl_group_allowed(struct nats_server *ns, int8_t op, const char *group, size_t len) {
    struct nconn *nc = ns->route_pub;
    if (!ns->cfg->kafka_authorizer) return true;
    if (!nc) return nats_acl_in_process(ns);
    ns->acl_checks++;
    return nats_acl_cached(ns, nc, op, KAFKA_RES_GROUP, group, len);
}

bool nats_acl_stream_create_allowed(struct nats_server *ns, const char *stream, size_t len) {
    struct nconn *nc = ns->route_pub;
    if (!ns->cfg->kafka_authorizer) return true;
    if (!nc) return nats_acl_in_process(ns);
    ns->acl_checks++;
    return nats_acl_scan(ns, nc, KAFKA_OP_CREATE, KAFKA_RES_CLUSTER, (struct kstr){ACL_CLUSTER_RESOURCE, 13}) ||
           nats_acl_cached(ns, nc, KAFKA_OP_CREATE, KAFKA_RES_TOPIC, stream, len);
}

static void nats_acl_denied(struct nats_server *ns, int8_t op, const char *what, const char *name, size_t len,
                            char *out, size_t cap) {
    char principal[300] = ACL_ANONYMOUS;
    if (ns->route_pub) nats_acl_principal(ns, ns->route_pub, principal, sizeof(principal));
    snprintf(out, cap, "%s is not authorized to %s %s %.*s", principal, acl_operation_name(op), what, (int)len, name);
}

void nats_acl_denied_text(struct nats_server *ns, int8_t op, const char *stream, size_t len, char *out, size_t cap) {
    nats_acl_denied(ns, op, "stream", stream, len, out, cap);
}

void nats_acl_group_denied_text(struct nats_server *ns, int8_t op, const char *group, size_t len, char *out,
                                size_t cap) {
    nats_acl_denied(ns, op, "group", group, len, out, cap);
}

void nats_acl_cache_free(struct nats_acl_cache *c) {
    if (!c) return;
    for (uint32_t i = 0; i < NATS_ACL_CACHE_SLOTS; i++) free(c->slots[i].name);
    free(c);
}
