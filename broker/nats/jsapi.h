/* jsapi.h: the JetStream API, nats-server 2.9.10's request/reply service on $JS.API.> (an
 * in-process subscriber, present only when jetstream is on): $JS.API.INFO and STREAM.CREATE /
 * UPDATE / INFO / DELETE / PURGE / NAMES / LIST / MSG.GET / MSG.DELETE with the exact JSON shapes
 * and error codes of 2.9.10 (jansson). CONSUMER.* requests go to the handler the consumer side
 * registers (jsapi_set_consumer_ops); without one, jsapi answers what a server without the
 * consumer answers (stream not found / consumer not found), and nothing to MSG.NEXT.
 *
 * With kafka_authorizer on, every request that names a stream is first checked against the
 * ACLs of the stream's topic for the requesting client (nats_acl.h: CREATE, ALTER, DELETE,
 * DESCRIBE, READ by request; CONSUMER.* READ), and NAMES / LIST leave out the streams it may
 * not DESCRIBE; a refusal is 403 with err_code 10403 (a 403 status message for MSG.NEXT). A
 * durable consumer's name is a group resource besides, checked by the consumer side. */
#ifndef SL_BROKER_JSAPI_H
#define SL_BROKER_JSAPI_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct nats_server;
struct nats_msg;
struct streams;
struct stream;
struct js_ingest;
struct jsapi;

/* The consumer side's entry points. */
struct jsapi_consumer_ops {
    /* A request on $JS.API.CONSUMER.<rest>: rest is what follows "CONSUMER." (e.g.
     * "CREATE.ORDERS.W.orders.*", "MSG.NEXT.ORDERS.W"). Answer with jsapi_reply. */
    void (*request)(void *arg, struct jsapi *api, struct span rest, const struct nats_msg *m);
    /* Consumers of the stream (STREAM.INFO state.consumer_count); NULL: 0. */
    uint32_t (*count)(void *arg, const struct stream *s);
    /* Consumers in all (account info); NULL: 0. */
    uint32_t (*total)(void *arg);
    /* The stream is going: drop its consumers. */
    void (*stream_gone)(void *arg, struct stream *s);
    /* STREAM.PURGE emptied (part of) the stream: its consumers move past what went. */
    void (*stream_purged)(void *arg, struct stream *s);
    /* STREAM.MSG.DELETE removed seq, whose subject was subject. */
    void (*msg_removed)(void *arg, struct stream *s, uint64_t seq, const char *subject);
};

struct jsapi *jsapi_start(struct nats_server *ns, struct streams *ss, struct js_ingest *ji);
void jsapi_stop(struct jsapi *api);
void jsapi_set_consumer_ops(struct jsapi *api, const struct jsapi_consumer_ops *ops, void *arg);

/* Answers a request (a publish to reply; nothing when reply is empty). */
void jsapi_reply(struct jsapi *api, struct span reply, const char *body, size_t len);
/* Answers {"type":"io.nats.jetstream.api.v1.<kind>_response","error":{"code":..,"err_code":..,
 * "description":".."}<extra>} and counts the error. desc is plain text, escaped here as Go's
 * encoder does (quotes, and '<', '>', '&' as \u003c...); extra is raw JSON. */
void jsapi_reply_error(struct jsapi *api, struct span reply, const char *kind, int code, int err_code,
                       const char *desc, const char *extra);
/* A refusal by the ACLs (nats_acl.h): the error above with code 403 and err_code 10403, described
 * "User:bob is not authorized to READ stream ORDERS" (resource_type KAFKA_RES_TOPIC) or "... READ
 * group W" (KAFKA_RES_GROUP, a durable consumer's name). */
void jsapi_reply_denied(struct jsapi *api, struct span reply, const char *kind, int8_t op, int8_t resource_type,
                        const char *name, size_t len);
/* The same for a pull request (MSG.NEXT): a status message "NATS/1.0 403 <description>" to its
 * inbox, as pulls get their other statuses (a JSON body would reach the client as a message). */
void jsapi_reply_denied_pull(struct jsapi *api, struct span reply, int8_t op, int8_t resource_type, const char *name,
                             size_t len);
struct streams *jsapi_streams(const struct jsapi *api);
struct nats_server *jsapi_server(const struct jsapi *api);

/* Go time.Time JSON (RFC 3339, ns, UTC, trailing zeros trimmed) of a wall time in ns. */
void jsapi_format_time(int64_t ns, char *out, size_t cap);

#endif
