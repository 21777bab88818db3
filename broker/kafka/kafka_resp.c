/* kafka_resp.c: a Kafka connection's response slots: the in-order queue of struct kreq, the
 * response builders the handlers finish them with, and the flush that sends every ready
 * response at the head of the queue (see kafka.h for the ordering contract). Also the small
 * arena string helpers the handlers share. */
#include "broker/kafka/kafka_resp.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "protocol/kafka_msgs_core.h"

static void kconn_maybe_free(struct kconn *kc) {
    if (!kc->dead || kc->q_head) return;
    karena_free(&kc->arena);
    free(kc);
}

static void kreq_free(struct kreq *q) {
    while (q->head) {
        struct out_chunk *ch = q->head;
        q->head = ch->next;
        out_chunk_free(ch);
    }
    free(q);
}

static void kconn_unlink(struct kconn *kc, struct kreq *q) {
    struct kreq **pp = &kc->q_head, *prev = NULL;
    while (*pp && *pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = q->next;
    if (kc->q_tail == q) kc->q_tail = prev;
    kc->q_count--;
}

void kconn_flush(struct kconn *kc) {
    if (kc->dead) {
        /* Nobody to answer: drop whatever finished. */
        struct kreq *q = kc->q_head;
        while (q) {
            struct kreq *next = q->next;
            if (q->ready) {
                kconn_unlink(kc, q);
                kreq_free(q);
            }
            q = next;
        }
        kconn_maybe_free(kc);
        return;
    }
    while (kc->q_head && kc->q_head->ready) {
        struct kreq *q = kc->q_head;
        kc->q_head = q->next;
        if (!kc->q_head) kc->q_tail = NULL;
        kc->q_count--;
        if (q->key >= 0 && q->key <= KAFKA_API_KEY_MAX) {
            uint64_t now = loop_mono_us(kc->ks->loop);
            kc->ks->api_requests[q->key]++;
            sl_hist_observe(&kc->ks->api_latency[q->key], now > q->start_us ? now - q->start_us : 0);
        }
        if (!q->silent) conn_send_chain(kc->c, q->head, q->tail, q->bytes);
        else kreq_free(q), q = NULL;
        if (q) {
            q->head = NULL;
            free(q);
        }
    }
    if (kc->paused_for_queue && kc->q_count < KAFKA_INFLIGHT_MAX / 2 &&
        kc->c->out_bytes <= kc->ks->cfg->max_pending_bytes) {
        kc->paused_for_queue = false;
        conn_resume_recv(kc->c);
    }
}

struct kreq *kreq_new(struct kconn *kc, const struct kafka_req_header *h) {
    struct kreq *q = sl_xcalloc(1, sizeof(*q));
    q->kc = kc;
    q->key = h->api_key;
    q->version = h->api_version;
    q->correlation_id = h->correlation_id;
    q->start_us = loop_mono_us(kc->ks->loop);
    if (kc->q_tail) kc->q_tail->next = q;
    else kc->q_head = q;
    kc->q_tail = q;
    kc->q_count++;
    return q;
}

void kresp_begin(struct kreq *q, struct kw *w) {
    kw_init(w, 512);
    w->err_counts = q->kc->ks->api_errors[q->key];
    kw_reserve_i32(w);
    kafka_encode_resp_header(w, q->key, q->version, q->correlation_id);
}

static void kreq_ready(struct kreq *q) {
    q->ready = true;
    q->park = NULL;
    q->park_cancel = NULL;
    kconn_flush(q->kc);
}

void kresp_finish(struct kreq *q, struct kw *w) {
    kw_patch_i32(w, 0, (int32_t)(w->len - 4));
    struct out_chunk *ch = sl_xcalloc(1, sizeof(*ch));
    ch->kind = OUT_MEM;
    ch->mem = w->p;
    ch->len = (uint32_t)w->len;
    w->p = NULL;
    q->head = q->tail = ch;
    q->bytes = ch->len;
    kreq_ready(q);
}

static void kresp_push(struct kreq *q, struct out_chunk *ch) {
    if (q->tail) q->tail->next = ch;
    else q->head = ch;
    q->tail = ch;
    q->bytes += ch->len;
}

static void kresp_push_mem(struct kreq *q, const uint8_t *p, size_t len) {
    if (!len) return;
    struct out_chunk *ch = sl_xcalloc(1, sizeof(*ch));
    ch->kind = OUT_MEM;
    ch->mem = sl_xmalloc(len);
    memcpy(ch->mem, p, len);
    ch->len = (uint32_t)len;
    kresp_push(q, ch);
}

void kresp_finish_cuts(struct kreq *q, struct kw *w, struct kresp_cut *cuts, uint32_t n) {
    uint64_t total = w->len - 4;
    for (uint32_t i = 0; i < n; i++) total += cuts[i].span.len;
    kw_patch_i32(w, 0, (int32_t)total);
    size_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        kresp_push_mem(q, w->p + prev, cuts[i].at - prev);
        prev = cuts[i].at;
        if (cuts[i].span.len == 0) {
            log_span_release(&cuts[i].span);
            continue;
        }
        struct out_chunk *ch = sl_xcalloc(1, sizeof(*ch));
        ch->kind = OUT_FILE;
        ch->span = cuts[i].span;
        ch->len = cuts[i].span.len;
        cuts[i].span.seg = NULL;
        kresp_push(q, ch);
    }
    kresp_push_mem(q, w->p + prev, w->len - prev);
    kw_free(w);
    kreq_ready(q);
}

void kresp_silent(struct kreq *q) {
    q->silent = true;
    kreq_ready(q);
}

const char *kafka_arena_cstr(struct karena *a, struct kstr s) {
    if (s.len < 0) return NULL;
    char *p = karena_alloc(a, (size_t)s.len + 1);
    memcpy(p, s.p, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

struct kstr kafka_arena_kstr(struct karena *a, const char *s) {
    size_t n = strlen(s);
    char *p = karena_alloc(a, n + 1);
    memcpy(p, s, n + 1);
    return (struct kstr){p, (int32_t)n};
}
