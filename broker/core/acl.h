/* acl.h: the ACL set both protocols enforce (acl.c): Kafka's ACL bindings (resource type,
 * pattern, principal, host, operation, permission; the codes of protocol/kafka_msgs_acl.h), the
 * file that keeps them, and the authorizer's decision. Protocol-neutral: the Kafka wing manages
 * the set (Describe/Create/DeleteAcls) and asks it for every request; the NATS wing asks it for
 * JetStream streams, whose topics are the Kafka topics of the same name.
 *
 * The decision is Kafka's StandardAuthorizer with allow.everyone.if.no.acl.found=false: a super
 * user may do anything; otherwise a DENY that matches wins, then an ALLOW that matches allows,
 * else the request is denied. Whether the authorizer is on at all is the caller's (config), as
 * is who the principal is ("User:<name>"; "User:ANONYMOUS" when nobody authenticated).
 *
 * The set carries a generation, bumped on every change (acl_set_changed, also on a config
 * reload that may change super users or principals), so a caller may keep verdicts and trust
 * them while the generation is the one they were made under. */
#ifndef SL_BROKER_CORE_ACL_H
#define SL_BROKER_CORE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"
#include "protocol/kafka_msgs_acl.h"
#include "protocol/kbuf.h"

/* The name of the cluster resource, the only one Kafka accepts. */
#define ACL_CLUSTER_RESOURCE "kafka-cluster"
#define ACL_STR_MAX 4096   /* a name, principal or host longer than this is refused */
#define ACL_SET_MAX 10000  /* more ACLs than this are refused (Kafka: POLICY_VIOLATION) */
#define ACL_ANONYMOUS "User:ANONYMOUS"

struct acl_entry {
    int8_t resource_type, pattern_type, operation, permission;
    char *name, *principal, *host;
    /* Kept for the checks, which run on every request: lengths first, bytes only if equal. */
    uint32_t name_len, principal_len;
    bool name_star, principal_star, host_star; /* literal "*", "User:*", "*" */
};

/* The prefix lengths of one resource type's prefixed entries: ix_prefixed[lo, hi) are those of
 * length len, sorted by name. */
struct acl_ix_len {
    int8_t resource_type;
    uint32_t len, lo, hi;
};

/* A flat array, and an index over it for the checks that run on every request: the entries
 * with a literal name sorted by (resource type, name) so a check finds those of its resource by
 * binary search; the prefixed ones sorted by (resource type, name length, name), with the
 * distinct (type, length) pairs present, so a check binary-searches the first L bytes of its
 * name among the prefixes of length L, for each L present and no longer than the name; the rest
 * (literal "*") listed and scanned. 10,000 literal or prefixed ACLs cost a check about as much
 * as a handful. The owner (the Kafka wing) changes v and n directly and then calls
 * acl_set_changed, which rebuilds the index; a check against a set changed but not yet rebuilt
 * scans it all. */
struct acl_set {
    struct acl_entry *v;
    uint32_t n, cap;
    uint64_t generation; /* starts at 1; bumped by acl_set_changed */
    char *path;          /* <data_dir>/kafka_acls */
    /* The index, for generation ix_gen over ix_n entries. */
    uint64_t ix_gen;
    uint32_t ix_n;
    uint32_t *ix_literal, n_literal;   /* entry positions, sorted by (resource type, name) */
    uint32_t *ix_prefixed, n_prefixed; /* entry positions, sorted by (resource type, name length, name) */
    struct acl_ix_len *ix_lens;        /* the distinct (type, length) of ix_prefixed, in its order */
    uint32_t n_lens;
    uint32_t *ix_other, n_other; /* the others, in set order */
};

/* Who asks: the principal ("User:x") and the peer's address without the port. */
struct acl_who {
    const char *principal;
    const char *host;
};

/* Loads <data_dir>/kafka_acls (none: an empty set). SL_CORRUPT (logged with the line) when
 * the file does not parse: starting with fewer ACLs than were stored could open what was
 * closed, so the caller stops. *out is set either way; free it with acl_set_free. */
sl_err acl_set_open(const char *data_dir, struct acl_set **out);
void acl_set_free(struct acl_set *s);
/* Replaces the file whole (tmp + fsync + rename); false (errno set) if it could not. */
bool acl_set_save(const struct acl_set *s);
/* Appends a copy of the binding b (valid: acl_binding_invalid(b) == NULL). */
void acl_set_add(struct acl_set *s, const struct kafka_acl *b);
void acl_entry_free(struct acl_entry *e);
/* Invalidates every verdict kept under the current generation, and rebuilds the index. */
void acl_set_changed(struct acl_set *s);

/* A view of an entry as a binding (its strings are the entry's). */
struct kafka_acl acl_entry_view(const struct acl_entry *e);

/* May who do op (enum kafka_acl_operation) on the resource (enum kafka_resource_type, name)?
 * super_users is the comma list of principals allowed everything (kafka_super_users). */
bool acl_authorized(const struct acl_set *s, const char *super_users, const struct acl_who *who, int8_t op,
                    int8_t resource_type, struct kstr name);
/* Kafka's authorizeByResourceType: some ALLOW for op on some resource of the type, for who,
 * not cancelled by a literal "*" DENY (InitProducerId's WRITE rule). */
bool acl_authorized_any(const struct acl_set *s, const char *super_users, const struct acl_who *who, int8_t op,
                        int8_t resource_type);
/* Is principal in the comma list (spaces around names ignored)? */
bool acl_super_user(const char *super_users, const char *principal);
/* The host part of a peer "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1". */
void acl_peer_host(const char *peer, char *out, size_t cap);

/* Describe/DeleteAcls filters, and the bindings CreateAcls may store. */
bool acl_filter_matches(const struct kafka_acl *filter, const struct kafka_acl *binding);
/* NULL, or why Kafka refuses the filter (an UNKNOWN code). */
const char *acl_filter_invalid(const struct kafka_acl *f);
/* NULL, or why Kafka refuses the binding (INVALID_REQUEST). */
const char *acl_binding_invalid(const struct kafka_acl *b);
bool acl_same_binding(const struct kafka_acl *a, const struct kafka_acl *b);

/* The operation's name as Kafka spells it (READ, WRITE, ...). */
const char *acl_operation_name(int8_t op);

#endif
