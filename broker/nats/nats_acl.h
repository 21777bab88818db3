/* nats_acl.h: the ACL set (broker/core/acl.h) on the NATS side: JetStream streams are the
 * Kafka topics of the same name, and with kafka_authorizer on a NATS client's JetStream API
 * requests and its publishes stored into a stream are checked against the stream's topic ACLs,
 * as a Kafka client's requests are (jsapi.c, js_ingest.c say which operation each needs).
 *
 * The principal of a NATS connection:
 *   - "User:<name>" for a user with a password (a users-list user, or the single --user),
 *   - "User:<public nkey>" for an nkey user ("User:UDXU4RCS..."),
 *   - "User:ANONYMOUS" otherwise (a token, or no authentication), as a Kafka connection
 *     without SASL is.
 * The host is the peer's address. Subject permissions are checked first and stay as they are:
 * a request that reaches JetStream passed them.
 *
 * A durable consumer's name is also a group resource, as a Kafka consumer group's id is
 * (nats_acl_group_allowed; js_deliver.c says what each consumer request needs).
 *
 * Verdicts are kept per connection, resource (stream or group) and operation (a direct-mapped table of
 * NATS_ACL_CACHE_SLOTS streams, allocated at the first check) and trusted while the ACL set's
 * generation is the one they were made under: a publish into a stream costs one hash of the
 * stream name and one compare, not a scan of the ACLs. Create/DeleteAcls and a config reload
 * move the generation, so a change takes effect on open connections at their next request. */
#ifndef SL_BROKER_NATS_ACL_H
#define SL_BROKER_NATS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nats_server;
struct nconn;
struct nats_acl_cache;

#define NATS_ACL_CACHE_SLOTS 32

/* The error JetStream answers a refusal with: HTTP-like code 403 and an err_code of our own,
 * outside nats-server 2.9.10's table (10001-10135, errors.json). */
#define NATS_ACL_ERR_CODE 403
#define NATS_ACL_JS_ERR_CODE 10403

/* nc's principal ("User:..."), NUL-terminated, cut to cap - 1 bytes. */
void nats_acl_principal(const struct nats_server *ns, const struct nconn *nc, char *out, size_t cap);

/* May the client whose publish is being routed now (a JetStream API request, a publish into a
 * stream) do op (enum kafka_acl_operation) on the topic of the stream? True with the
 * authorizer off and for in-process publishes (the broker's own); false, with the authorizer
 * on, for what came over a NATS route (it carries no principal). */
bool nats_acl_stream_allowed(struct nats_server *ns, int8_t op, const char *stream, size_t len);
/* STREAM.CREATE: CREATE on the cluster, or else on the topic (Kafka's CreateTopics rule). */
bool nats_acl_stream_create_allowed(struct nats_server *ns, const char *stream, size_t len);
/* May that client do op on the group resource of a durable consumer's name (as a Kafka consumer
 * group: READ to create it and pull from it, DESCRIBE to see it, DELETE to delete it)? Kept as
 * the streams' verdicts are, in the same table. True with the authorizer off and in-process. */
bool nats_acl_group_allowed(struct nats_server *ns, int8_t op, const char *group, size_t len);
/* The description of a refusal: "User:bob is not authorized to WRITE stream ORDERS" (JSON-safe only if the
 * caller escapes it). */
void nats_acl_denied_text(struct nats_server *ns, int8_t op, const char *stream, size_t len, char *out, size_t cap);
/* The same for a group: "User:bob is not authorized to READ group W". */
void nats_acl_group_denied_text(struct nats_server *ns, int8_t op, const char *group, size_t len, char *out,
                                size_t cap);

void nats_acl_cache_free(struct nats_acl_cache *c);

#endif
