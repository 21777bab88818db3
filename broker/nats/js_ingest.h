/* js_ingest.h: JetStream publishes into streams. Per stream, an in-process subscriber on each of
 * its subjects; a PUB/HPUB there is checked (Nats-Msg-Id dedupe within the duplicate window,
 * Nats-Expected-Stream / -Last-Sequence / -Last-Subject-Sequence / -Last-Msg-Id, max_msg_size,
 * discard-new limits), appended through stream_append (acks durable), and answered on its
 * reply subject once durable with nats-server's PubAck bytes ({"stream":"S", "seq":N}, the
 * duplicate form, or the error form). A publish without a reply is stored and not answered.
 * PubAcks of one stream go out in publish order: an answer that is ready (an error, a
 * duplicate) waits behind the appends published before it. With kafka_authorizer on, a client's
 * publish is stored only if the stream's topic ACLs allow it WRITE (nats_acl.h): else the
 * PubAck is the 403 / 10403 error, or, without a reply, the publish is dropped and counted;
 * the other subscribers of the subject are not affected. */
#ifndef SL_BROKER_JS_INGEST_H
#define SL_BROKER_JS_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct nats_server;
struct streams;
struct stream;
struct js_ingest;
struct stream_header;

struct js_ingest *js_ingest_new(struct nats_server *ns, struct streams *ss);
/* Unsubscribes everything and settles the appends in flight (their PubAcks go out first). */
void js_ingest_free(struct js_ingest *ji);
/* (Re)subscribes the stream's subjects: after a create, an update, and at start. */
void js_ingest_bind(struct js_ingest *ji, struct stream *s);
/* Whether this broker serves the stream (takes its publishes, answers its API): always,
 * except for a stream the cluster replicates (stream.h, stream_placement), which its
 * partition's leader serves (once its committed end reached where its lead began:
 * partition_leader_settled); the others reach it over the NATS routes. Bindings follow the
 * leadership by themselves (a 50 ms check). */
bool js_stream_served_here(const struct nats_server *ns, const struct stream *s);
/* fn hears when this broker starts or stops serving a stream (the consumers follow). */
void js_ingest_set_lead_hook(struct js_ingest *ji, void (*fn)(void *arg, struct stream *s, bool served), void *arg);
/* Unsubscribes the stream (it is going); its PubAcks in flight still go out. */
void js_ingest_unbind(struct js_ingest *ji, struct stream *s);

/* Splits a NATS header block ("NATS/1.0[ status]\r\nK: V\r\n...\r\n\r\n") into headers in order
 * (repeated keys kept, values without the leading blanks). Returns how many, at most cap
 * (more are dropped). */
uint32_t js_headers_parse(struct span hdr, struct stream_header *out, uint32_t cap);

#endif
