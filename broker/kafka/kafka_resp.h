/* kafka_resp.h: response slots and builders for the Kafka handlers (kafka_resp.c). A handler
 * answers its struct kreq with kresp_begin + kresp_finish (or _finish_cuts, or kresp_silent);
 * the answer leaves once every slot before it has. Handlers include this, not the dispatcher. */
#ifndef SL_BROKER_KAFKA_RESP_H
#define SL_BROKER_KAFKA_RESP_H

#include <stdint.h>

#include "broker/kafka/kafka.h"
#include "protocol/kbuf.h"
#include "storage/log.h"

struct kafka_req_header;

/* A cut in a response: after `at` bytes of the response's memory, a file span goes out. */
struct kresp_cut {
    size_t at;
    struct log_span span;
};

/* A new slot at the tail of kc's queue, for the request h heads (the dispatcher). */
struct kreq *kreq_new(struct kconn *kc, const struct kafka_req_header *h);

/* Response building: begin writes the frame size placeholder and the response header. */
void kresp_begin(struct kreq *q, struct kw *w);
/* Finishes a response whose bytes are all in w (takes w's buffer) and marks it ready. */
void kresp_finish(struct kreq *q, struct kw *w);
/* Finishes a response interleaving w's bytes with file spans (takes the spans). */
void kresp_finish_cuts(struct kreq *q, struct kw *w, struct kresp_cut *cuts, uint32_t n);
/* Marks a slot done without a response (acks=0). */
void kresp_silent(struct kreq *q);
/* Sends every ready response at the head of the connection's queue; frees a dead connection
 * once its last slot is done. q may be freed by any of the calls above. */
void kconn_flush(struct kconn *kc);

/* A NUL-terminated copy of s in the request's arena (NULL for a null string): the registries
 * take C strings, the wire gives length-prefixed ones. */
const char *kafka_arena_cstr(struct karena *a, struct kstr s);
/* A copy of a C string in the request's arena, as a kstr (for responses built from state that
 * may change before the response is encoded). */
struct kstr kafka_arena_kstr(struct karena *a, const char *s);

#endif
