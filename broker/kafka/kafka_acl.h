/* kafka_acl.h: Kafka ACLs on the SASL principal (kafka_acl.c): the authorizer every handler
 * asks, and the ACL APIs (DescribeAcls, CreateAcls, DeleteAcls). The set, its file and the
 * matching are broker/core/acl.h's; the Kafka wing loads it (kafka_acl_start) and owns it, the
 * NATS wing borrows it for JetStream streams.
 *
 * Off (kafka_authorizer false, the default) every request is allowed and the ACL APIs are not
 * served (nor advertised). On, Kafka's StandardAuthorizer with
 * allow.everyone.if.no.acl.found=false: a super user (kafka_super_users) may do anything;
 * otherwise a DENY that matches wins, then an ALLOW that matches allows, else the request is
 * denied. A connection without SASL is "User:ANONYMOUS", as in Kafka. */
#ifndef SL_BROKER_KAFKA_ACL_H
#define SL_BROKER_KAFKA_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/core/acl.h"
#include "protocol/errors.h"
#include "protocol/kbuf.h"
#include "protocol/kafka_msgs_acl.h"

struct kconn;
struct kreq;
struct kr;
struct kafka_server;

/* The name of the cluster resource, the only one Kafka accepts. */
#define KAFKA_CLUSTER_RESOURCE ACL_CLUSTER_RESOURCE

sl_err kafka_acl_start(struct kafka_server *ks);
void kafka_acl_stop(struct kafka_server *ks);
bool kafka_acl_enabled(const struct kafka_server *ks);

/* May the connection's principal, from its peer's address, do op (enum kafka_acl_operation)
 * on the resource (enum kafka_resource_type, name)? Always true with the authorizer off. */
bool kafka_authorized(struct kconn *kc, int8_t op, int8_t resource_type, struct kstr name);
/* op on the cluster, or else on the topic (Kafka's CREATE rule for topics). */
bool kafka_authorized_cluster_or_topic(struct kconn *kc, int8_t op, struct kstr topic);
/* Kafka's authorizeByResourceType: some ALLOW for op on some resource of the type, for the
 * principal, not cancelled by a literal "*" or prefix-"" DENY (InitProducerId's WRITE rule). */
bool kafka_authorized_any(struct kconn *kc, int8_t op, int8_t resource_type);

/* The authorized operations Kafka reports (one bit per AclOperation code) among supported,
 * which is every one of them with the authorizer off. */
int32_t kafka_authorized_ops(struct kconn *kc, int8_t resource_type, struct kstr name, int32_t supported);

sl_err kafka_handle_describe_acls(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_create_acls(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_delete_acls(struct kconn *kc, struct kreq *q, struct kr *r);

#endif
