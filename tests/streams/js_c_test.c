/* js_c_test.c: nats.c (Debian's libnats-dev) JetStream against the server in SLUICE_NATS_URL
 * (tests/nats/natsh.py run --jetstream): our users' work-queue flow from C. js_AddStream (work
 * queue, max age 24 h), 10,000 orders with js_PublishAsync (every PubAck checked: stream ORDERS,
 * seq = index + 1), 3 worker threads on one durable with js_PullSubscribe + natsSubscription_Fetch,
 * each on its own connection; some orders are nak'd once (back with delivery count 2), some termed
 * (never back), the rest acked: every order ends exactly once, byte-exact, and the stream is empty
 * at the end (first_seq = last_seq + 1). Every wait is bounded. Exit 0 pass, 1 fail, 77 skip. */
#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    ORDERS_N = 10000,
    WORKERS_N = 3,
    FETCH_BATCH = 100,
    FETCH_WAIT_MS = 1000,
    CONSUME_DEADLINE_S = 90,
    ORDER_MAX_BYTES = 13 + 400,
};

static const char *url_g;
static const char *const subjects_g[3] = {"orders.created", "orders.paid", "orders.shipped"};

/* First failure wins; later ones are counted only. */
static pthread_mutex_t failure_lock_g = PTHREAD_MUTEX_INITIALIZER;
static char failure_g[512];
static atomic_int failures_g;

static void failf(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&failure_lock_g);
    if (atomic_fetch_add(&failures_g, 1) == 0) {
        va_start(ap, fmt);
        vsnprintf(failure_g, sizeof(failure_g), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&failure_lock_g);
}

static int failed(void) { return atomic_load(&failures_g) != 0; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Order i: "order-NNNNNN|" then 0..399 filler bytes derived from i (varied sizes). */
static int order_bytes(int i, char *out) {
    int filler = (i * 7919) % 400;
    int n = snprintf(out, ORDER_MAX_BYTES + 1, "order-%06d|", i);
    for (int k = 0; k < filler; k++)
        out[n + k] = (char)('a' + (i + k) % 26);
    return n + filler;
}

static int order_index(const char *data, int len) {
    if (len < 13 || memcmp(data, "order-", 6) != 0 || data[12] != '|')
        return -1;
    int i = 0;
    for (int k = 6; k < 12; k++) {
        if (data[k] < '0' || data[k] > '9')
            return -1;
        i = i * 10 + (data[k] - '0');
    }
    return i;
}

/* The worker's verdict for order i. */
enum verdict { VERDICT_ACK, VERDICT_NAK_ONCE, VERDICT_TERM };
static enum verdict verdict_of(int i) {
    if (i % 500 == 11)
        return VERDICT_NAK_ONCE;
    if (i % 500 == 17)
        return VERDICT_TERM;
    return VERDICT_ACK;
}

static atomic_int acks_ok_g;
static atomic_int deliveries_g[ORDERS_N];
static atomic_int finished_g[ORDERS_N];
static atomic_int finished_total_g;
static atomic_int per_worker_g[WORKERS_N];

static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    (void)closure;
    int i = order_index(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    if (pae != NULL)
        failf("PubAck of order %d: error %d (%s) %s", i, (int)pae->Err, natsStatus_GetText(pae->Err),
              pae->ErrText ? pae->ErrText : "");
    else if (pa == NULL || strcmp(pa->Stream, "ORDERS") != 0 || pa->Sequence != (uint64_t)i + 1 ||
             pa->Duplicate)
        failf("PubAck of order %d: stream %s seq %llu dup %d, want ORDERS %d", i,
              pa ? pa->Stream : "?", pa ? (unsigned long long)pa->Sequence : 0ULL,
              pa ? (int)pa->Duplicate : -1, i + 1);
    else
        atomic_fetch_add(&acks_ok_g, 1);
    natsMsg_Destroy(msg);
}

/* Checks one delivered order and answers it; returns 0 to stop the worker. */
static int handle(int w, natsMsg *m) {
    const char *data = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    int i = order_index(data, len);
    char want[ORDER_MAX_BYTES + 1];
    if (i < 0 || i >= ORDERS_N) {
        failf("worker %d: unexpected payload of %d bytes", w, len);
        return 0;
    }
    int want_len = order_bytes(i, want);
    if (len != want_len || memcmp(data, want, (size_t)len) != 0 ||
        strcmp(natsMsg_GetSubject(m), subjects_g[i % 3]) != 0) {
        failf("worker %d: order %d on %s not byte-exact (%d bytes, want %d)", w, i,
              natsMsg_GetSubject(m), len, want_len);
        return 0;
    }
    int delivery = atomic_fetch_add(&deliveries_g[i], 1) + 1;
    jsMsgMetaData *meta = NULL;
    natsStatus s = natsMsg_GetMetaData(&meta, m);
    if (s != NATS_OK || meta->Sequence.Stream != (uint64_t)i + 1 ||
        meta->NumDelivered != (uint64_t)delivery || strcmp(meta->Stream, "ORDERS") != 0 ||
        strcmp(meta->Consumer, "CWORKER") != 0) {
        failf("worker %d: order %d metadata: status %d seq %llu delivered %llu, want %d / %d", w, i,
              (int)s, meta ? (unsigned long long)meta->Sequence.Stream : 0ULL,
              meta ? (unsigned long long)meta->NumDelivered : 0ULL, i + 1, delivery);
        jsMsgMetaData_Destroy(meta);
        return 0;
    }
    jsMsgMetaData_Destroy(meta);
    if (atomic_load(&finished_g[i])) {
        failf("worker %d: order %d delivered again after it was finished", w, i);
        return 0;
    }
    enum verdict v = verdict_of(i);
    if (v == VERDICT_NAK_ONCE && delivery == 1)
        s = natsMsg_Nak(m, NULL);
    else {
        s = v == VERDICT_TERM ? natsMsg_Term(m, NULL) : natsMsg_Ack(m, NULL);
        atomic_store(&finished_g[i], 1);
        atomic_fetch_add(&finished_total_g, 1);
        atomic_fetch_add(&per_worker_g[w], 1);
    }
    if (s != NATS_OK) {
        failf("worker %d: answering order %d: %s", w, i, natsStatus_GetText(s));
        return 0;
    }
    return 1;
}

static void *worker_main(void *arg) {
    int w = (int)(intptr_t)arg;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus s = natsConnection_ConnectTo(&nc, url_g);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK) {
        jsSubOptions_Init(&so);
        so.Config.AckPolicy = js_AckExplicit;
        s = js_PullSubscribe(&sub, js, "orders.*", "CWORKER", NULL, &so, &jerr);
    }
    if (s != NATS_OK) {
        failf("worker %d: set-up: %s (err_code %d) %s", w, natsStatus_GetText(s), (int)jerr,
              nats_GetLastError(NULL));
        goto out;
    }
    double deadline = now_s() + CONSUME_DEADLINE_S;
    while (atomic_load(&finished_total_g) < ORDERS_N && !failed() && now_s() < deadline) {
        natsMsgList list = {0};
        s = natsSubscription_Fetch(&list, sub, FETCH_BATCH, FETCH_WAIT_MS, &jerr);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            failf("worker %d: Fetch: %s (err_code %d)", w, natsStatus_GetText(s), (int)jerr);
            break;
        }
        for (int k = 0; k < list.Count; k++)
            if (!handle(w, list.Msgs[k]))
                break;
        natsMsgList_Destroy(&list);
    }
    s = natsConnection_FlushTimeout(nc, 10000);
    if (s != NATS_OK)
        failf("worker %d: flush: %s", w, natsStatus_GetText(s));
out:
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return NULL;
}

static int stream_state(jsCtx *js, jsStreamState *out) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, "ORDERS", NULL, &jerr);
    if (s != NATS_OK) {
        failf("StreamInfo ORDERS: %s (err_code %d)", natsStatus_GetText(s), (int)jerr);
        return 0;
    }
    *out = si->State;
    out->Subjects = NULL;
    out->Deleted = NULL;
    out->Lost = NULL;
    jsStreamInfo_Destroy(si);
    return 1;
}

static int run(void) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *stream_subjects[] = {"orders.*"};
    natsStatus s = natsConnection_ConnectTo(&nc, url_g);
    if (s != NATS_OK) {
        failf("connect %s: %s", url_g, natsStatus_GetText(s));
        return 0;
    }
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 256;
    jo.PublishAsync.AckHandler = on_pub_ack;
    s = natsConnection_JetStream(&js, nc, &jo);
    if (s == NATS_OK) {
        /* A stream left by an earlier run goes first; not found is fine. */
        js_DeleteStream(js, "ORDERS", NULL, &jerr);
        jsStreamConfig_Init(&cfg);
        cfg.Name = "ORDERS";
        cfg.Subjects = stream_subjects;
        cfg.SubjectsLen = 1;
        cfg.Retention = js_WorkQueuePolicy;
        cfg.MaxAge = (int64_t)24 * 3600 * 1000000000LL;
        s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    }
    if (s != NATS_OK) {
        failf("AddStream ORDERS: %s (err_code %d) %s", natsStatus_GetText(s), (int)jerr,
              nats_GetLastError(NULL));
        goto out;
    }
    if (si->Config->Retention != js_WorkQueuePolicy || si->Config->MaxAge != cfg.MaxAge ||
        si->Config->MaxMsgs != -1 || si->Config->Replicas != 1 || si->State.Msgs != 0)
        failf("created config: retention %d max_age %lld max_msgs %lld replicas %lld msgs %llu",
              (int)si->Config->Retention, (long long)si->Config->MaxAge,
              (long long)si->Config->MaxMsgs, (long long)si->Config->Replicas,
              (unsigned long long)si->State.Msgs);
    jsStreamInfo_Destroy(si);

    double t0 = now_s();
    int stalls = 0;
    char buf[ORDER_MAX_BYTES + 1];
    for (int i = 0; i < ORDERS_N && !failed(); i++) {
        int len = order_bytes(i, buf);
        for (;;) {
            s = js_PublishAsync(js, subjects_g[i % 3], buf, len, NULL);
            if (s == NATS_TIMEOUT && stalls < 1000) { /* stalled at MaxPending: retried, reported */
                stalls++;
                continue;
            }
            break;
        }
        if (s != NATS_OK)
            failf("PublishAsync order %d: %s", i, natsStatus_GetText(s));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 30000;
    s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK)
        failf("PublishAsyncComplete: %s", natsStatus_GetText(s));
    if (failed())
        goto out;
    if (atomic_load(&acks_ok_g) != ORDERS_N)
        failf("PubAcks: %d of %d", atomic_load(&acks_ok_g), ORDERS_N);
    printf("     published %d orders in %.1f s (%d stalls retried)\n", ORDERS_N, now_s() - t0, stalls);
    jsStreamState st;
    if (!stream_state(js, &st))
        goto out;
    if (st.Msgs != ORDERS_N || st.FirstSeq != 1 || st.LastSeq != ORDERS_N)
        failf("after publishing: msgs %llu first %llu last %llu", (unsigned long long)st.Msgs,
              (unsigned long long)st.FirstSeq, (unsigned long long)st.LastSeq);

    double t1 = now_s();
    pthread_t threads[WORKERS_N];
    for (int w = 0; w < WORKERS_N; w++)
        if (pthread_create(&threads[w], NULL, worker_main, (void *)(intptr_t)w) != 0) {
            failf("pthread_create");
            return 0;
        }
    for (int w = 0; w < WORKERS_N; w++)
        pthread_join(threads[w], NULL);
    if (failed())
        goto out;
    if (atomic_load(&finished_total_g) != ORDERS_N)
        failf("orders finished: %d of %d", atomic_load(&finished_total_g), ORDERS_N);
    for (int i = 0; i < ORDERS_N && !failed(); i++) {
        int want = verdict_of(i) == VERDICT_NAK_ONCE ? 2 : 1;
        if (atomic_load(&finished_g[i]) != 1 || atomic_load(&deliveries_g[i]) != want)
            failf("order %d: finished %d, delivered %d times, want %d", i,
                  atomic_load(&finished_g[i]), atomic_load(&deliveries_g[i]), want);
    }
    for (int w = 0; w < WORKERS_N; w++)
        if (atomic_load(&per_worker_g[w]) == 0)
            failf("worker %d consumed nothing", w);
    printf("     consumed in %.1f s by 3 workers: %d %d %d\n", now_s() - t1,
           atomic_load(&per_worker_g[0]), atomic_load(&per_worker_g[1]), atomic_load(&per_worker_g[2]));

    /* Acks are asynchronous: the work queue drains shortly after the last one. */
    double deadline = now_s() + 10;
    while (stream_state(js, &st) && st.Msgs != 0 && now_s() < deadline)
        nats_Sleep(20);
    if (!failed() && (st.Msgs != 0 || st.Bytes != 0 || st.FirstSeq != ORDERS_N + 1 ||
                      st.LastSeq != ORDERS_N))
        failf("drained: msgs %llu bytes %llu first %llu last %llu, want 0 0 %d %d",
              (unsigned long long)st.Msgs, (unsigned long long)st.Bytes,
              (unsigned long long)st.FirstSeq, (unsigned long long)st.LastSeq, ORDERS_N + 1, ORDERS_N);
    s = js_DeleteStream(js, "ORDERS", NULL, &jerr);
    if (s != NATS_OK)
        failf("DeleteStream: %s (err_code %d)", natsStatus_GetText(s), (int)jerr);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return !failed();
}

int main(void) {
    url_g = getenv("SLUICE_NATS_URL");
    if (url_g == NULL || url_g[0] == '\0') {
        printf("SKIP: SLUICE_NATS_URL is not set (run through natsh.py run --jetstream)\n");
        return 77;
    }
    printf("nats.c %s JetStream against %s (%s)\n", nats_GetVersion(), url_g,
           getenv("SLUICE_NATS_KIND") ? getenv("SLUICE_NATS_KIND") : "");
    printf("---- work queue: %d orders, js_PublishAsync, 3 Fetch workers, nak / term / ack, "
           "exactly once, empty\n", ORDERS_N);
    double t0 = now_s();
    int ok = run();
    nats_Close();
    if (!ok) {
        printf("FAIL: js_c_test: %s (%d failures)\n", failure_g, atomic_load(&failures_g));
        return 1;
    }
    printf("     ok (%.1f s)\nPASS: js_c_test\n", now_s() - t0);
    return 0;
}
