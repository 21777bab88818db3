/* kafka_load.c: a librdkafka load generator for Sluice's Kafka listener (or any Kafka broker).
 * Three modes, one result line each ("RESULT key=value ...") so bench/run_kafka.sh can parse it:
 *   produce  push fixed-size messages to partition 0 (or round-robin over --partitions N) for
 *            --seconds or --max-msgs, then flush; rate = delivered / (first produce -> flush
 *            done), as in anchors.md's mock rows. --create 1 first creates the topic with N
 *            partitions through the Admin API (a broker that does not auto-create them).
 *            --producers N deals the messages round robin over N client instances (N connections).
 *   create   only that CreateTopics: --partitions N, --replication R (a cluster's replication
 *            factor; 1 by default), so a latency topic can be made before the latency run.
 *   consume  read partition 0 from offset 0 until --expect messages, checking that offsets are
 *            contiguous, so a consume figure also proves nothing was lost or duplicated.
 *   latency  a producer paced at --rate and a consumer thread tailing the same partition in the
 *            same process; each payload carries its CLOCK_MONOTONIC send time, so end-to-end
 *            latency needs no clock sync. Reports p50/p99/p99.9 in microseconds.
 * It is not named *_bench.c: those are linked only with sl_broker, and this one needs
 * librdkafka, which bench/CMakeLists.txt finds optionally. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define POOL_SLOTS 4096            /* distinct payloads cycled by produce; a power of two */
#define QUEUE_MSGS_MAX "2000000"   /* enough that the client never waits on its own queue first */
#define FLUSH_TIMEOUT_MS 30000     /* a dead broker fails the cell instead of hanging the run */
#define STALL_TIMEOUT_MS 10000     /* consume: give up after this long with no new message */
#define WARMUP_NS 500000000ll      /* latency: connection set-up and topic creation happen here */
#define LAT_HDR_BYTES 16           /* latency payload: u64 sequence number, u64 send time (ns) */

struct opts {
    const char *mode, *brokers, *topic, *acks, *compression;
    int size, linger_ms, batch_bytes, fetch_wait_ms, fetch_bytes, partitions, create, producers,
        replication;
    double seconds;
    long long max_msgs, expect, rate;
    const char *set[16]; /* --set name=value: librdkafka settings for every client (SSL, ...) */
    int set_count;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Process CPU (user+sys) in ns: the client's share of the 2 cores is part of the story. */
static int64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ll +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ll;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "kafka_load: %s: %s\n", what, why);
    exit(2);
}

static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        die(name, errstr);
}

static void conf_set_int(rd_kafka_conf_t *conf, const char *name, long long value) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", value);
    conf_set(conf, name, buf);
}

/* KAFKA_LOAD_STATS=FILE: librdkafka's statistics JSON (request RTTs, queue latencies) is
 * written there every second, the last one winning, for diagnosing where time goes. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    (void)opaque;
    FILE *f = fopen(getenv("KAFKA_LOAD_STATS"), "w");
    if (f) {
        fwrite(json, 1, len, f);
        fclose(f);
    }
    return 0;
}

static rd_kafka_conf_t *conf_base(const struct opts *o) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (getenv("KAFKA_LOAD_STATS")) {
        conf_set(conf, "statistics.interval.ms", "1000");
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    conf_set(conf, "bootstrap.servers", o->brokers);
    conf_set(conf, "client.id", "sl_kafka_load");
    for (int i = 0; i < o->set_count; i++) {
        char name[128];
        const char *eq = strchr(o->set[i], '=');
        if (!eq || (size_t)(eq - o->set[i]) >= sizeof(name)) die("--set", "want name=value");
        memcpy(name, o->set[i], (size_t)(eq - o->set[i]));
        name[eq - o->set[i]] = 0;
        conf_set(conf, name, eq + 1);
    }
    return conf;
}

/* Producer settings shared by produce and latency. */
static rd_kafka_conf_t *conf_producer(const struct opts *o) {
    rd_kafka_conf_t *conf = conf_base(o);
    conf_set(conf, "acks", o->acks);
    conf_set(conf, "compression.codec", o->compression);
    conf_set_int(conf, "linger.ms", o->linger_ms);
    conf_set_int(conf, "batch.size", o->batch_bytes);
    conf_set(conf, "message.timeout.ms", "30000"); /* fail a cell rather than wait 5 minutes */
    /* librdkafka refuses a message over message.max.bytes (1,000,000 by default): a 1 MiB cell
     * needs room for the message and its batch framing. */
    if (o->size > 900000) conf_set_int(conf, "message.max.bytes", (long long)o->size + 65536);
    return conf;
}

/* xorshift64: payload digits only need to look random to snappy, not to a statistician. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* JSON-like order records with random digits, the payload anchors.md's mock rows used, so that
 * snappy sees data that compresses about 2x rather than all-zero bytes that vanish. */
static void payload_fill(uint8_t *p, int size, uint64_t *rng) {
    static const char *const fields[] = {"{\"order_id\":", ",\"customer\":\"c", "\",\"sku\":\"SKU-",
                                         "\",\"qty\":", ",\"price\":", ",\"ts\":"};
    static const int digits[] = {10, 7, 5, 2, 6, 13};
    int at = 0, f = 0;
    while (at < size) {
        const char *s = fields[f % 6];
        for (; *s && at < size; s++) p[at++] = (uint8_t)*s;
        for (int d = 0; d < digits[f % 6] && at < size; d++) p[at++] = (uint8_t)('0' + rng_next(rng) % 10);
        f++;
    }
    if (size > 0) p[size - 1] = '}';
}

/* ---- produce ---------------------------------------------------------------------------- */

struct produce_state {
    long long delivered, failed;
    rd_kafka_resp_err_t first_err;
};

static void produce_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct produce_state *st = opaque;
    if (m->err) {
        if (!st->failed) st->first_err = m->err;
        st->failed++;
    } else {
        st->delivered++;
    }
}

/* CreateTopics with o->partitions partitions and o->replication replicas; "already exists" is
 * fine. */
static void create_topic(const struct opts *o) {
    char errstr[512];
    rd_kafka_conf_t *conf = conf_base(o);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) die("rd_kafka_new", errstr);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, o->replication, errstr, sizeof(errstr));
    if (!nt) die("NewTopic", errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) die("CreateTopics", "no answer in 30 s");
    if (rd_kafka_event_error(ev)) die("CreateTopics", rd_kafka_event_error_string(ev));
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die("CreateTopics", rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

static int run_produce(const struct opts *o) {
    if (o->create) create_topic(o);
    struct produce_state st = {0};
    /* --producers N: N client instances, each with its own connection, messages dealt round
     * robin: what a broker sees from many services producing at once, not one fast client. */
    const int np = o->producers;
    rd_kafka_t **rk = calloc((size_t)np, sizeof(*rk));
    rd_kafka_topic_t **rkt = calloc((size_t)np, sizeof(*rkt));
    if (!rk || !rkt) die("calloc", "producers");
    char errstr[512];
    for (int i = 0; i < np; i++) {
        rd_kafka_conf_t *conf = conf_producer(o);
        conf_set(conf, "queue.buffering.max.messages", QUEUE_MSGS_MAX);
        /* 256 MiB in all bounds the drain after --seconds, whatever the count. */
        conf_set_int(conf, "queue.buffering.max.kbytes", 262144 / np > 1024 ? 262144 / np : 1024);
        rd_kafka_conf_set_dr_msg_cb(conf, produce_dr);
        rd_kafka_conf_set_opaque(conf, &st);
        rk[i] = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk[i]) die("rd_kafka_new", errstr);
        rkt[i] = rd_kafka_topic_new(rk[i], o->topic, NULL);
    }

    /* Payloads are produced without RD_KAFKA_MSG_F_COPY: the pool outlives every delivery
     * report, so librdkafka references it and the client spends its CPU on batching. */
    /* At most 256 MiB of payloads: 4096 slots of 1 MiB would not fit in memory. */
    int slots = POOL_SLOTS;
    while (slots > 16 && (size_t)slots * (size_t)o->size > (256u << 20)) slots /= 2;
    uint8_t *pool = malloc((size_t)slots * (size_t)o->size);
    if (!pool) die("malloc", "payload pool");
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < slots; i++) payload_fill(pool + (size_t)i * (size_t)o->size, o->size, &rng);

    const int64_t limit_ns = (int64_t)(o->seconds * 1e9);
    const int64_t t0 = now_ns(), c0 = cpu_ns();
    long long n = 0;
    while (n < o->max_msgs) {
        if ((n & 1023) == 0) {
            if (now_ns() - t0 >= limit_ns) break;
            for (int i = 0; i < np; i++) rd_kafka_poll(rk[i], 0); /* serve delivery reports */
        }
        void *p = pool + (size_t)(n & (slots - 1)) * (size_t)o->size;
        int32_t part = o->partitions > 1 ? (int32_t)(n % o->partitions) : 0;
        int who = (int)(n % np);
        if (rd_kafka_produce(rkt[who], part, 0, p, (size_t)o->size, NULL, 0, NULL) == 0) {
            n++;
            continue;
        }
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("rd_kafka_produce", rd_kafka_err2str(err));
        rd_kafka_poll(rk[who], 1); /* the broker is behind: wait for delivery reports */
        if (now_ns() - t0 >= limit_ns) break;
    }
    rd_kafka_resp_err_t ferr = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < np; i++) {
        rd_kafka_resp_err_t e = rd_kafka_flush(rk[i], FLUSH_TIMEOUT_MS);
        if (e && !ferr) ferr = e;
    }
    const int64_t t1 = now_ns(), c1 = cpu_ns();
    double secs = (double)(t1 - t0) / 1e9;
    double rate = (double)st.delivered / secs;
    printf("RESULT mode=produce msgs=%lld delivered=%lld failed=%lld secs=%.3f msgs_s=%.0f "
           "mb_s=%.1f client_cpu_pct=%.1f size=%d partitions=%d producers=%d acks=%s compression=%s "
           "flush=%s first_err=%s\n",
           n, st.delivered, st.failed, secs, rate, rate * o->size / 1e6,
           100.0 * (double)(c1 - c0) / (double)(t1 - t0), o->size, o->partitions, np, o->acks,
           o->compression, ferr ? rd_kafka_err2name(ferr) : "ok",
           st.failed ? rd_kafka_err2name(st.first_err) : "none");
    for (int i = 0; i < np; i++) {
        rd_kafka_topic_destroy(rkt[i]);
        rd_kafka_destroy(rk[i]);
    }
    free(rkt);
    free(rk);
    free(pool);
    return (st.failed || st.delivered != n || ferr) ? 1 : 0;
}

/* ---- consume ---------------------------------------------------------------------------- */

struct consume_state {
    long long count, bytes, gaps, errors;
    int64_t next_offset;
    int64_t last_ns;
};

static void consume_cb(rd_kafka_message_t *m, void *opaque) {
    struct consume_state *st = opaque;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) st->errors++;
        return;
    }
    /* Offsets must be exactly 0, 1, 2, ...: a skipped or repeated one means the broker lost or
     * duplicated a record, and the throughput figure would be worthless. */
    if (m->offset != st->next_offset) st->gaps++;
    st->next_offset = m->offset + 1;
    st->count++;
    st->bytes += (long long)m->len;
}

/* The legacy partition consumer: no group, no rebalance, partition 0 from an explicit offset. */
static rd_kafka_t *consumer_new(const struct opts *o, rd_kafka_topic_t **rkt_out) {
    rd_kafka_conf_t *conf = conf_base(o);
    conf_set_int(conf, "fetch.wait.max.ms", o->fetch_wait_ms);
    conf_set_int(conf, "fetch.message.max.bytes", o->fetch_bytes);
    conf_set(conf, "enable.partition.eof", "false");
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) die("rd_kafka_new", errstr);
    *rkt_out = rd_kafka_topic_new(rk, o->topic, NULL);
    /* Connect and learn the leader before the clock starts, so the rate is the fetch path's. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, *rkt_out, &md, 10000);
    if (err) die("metadata", rd_kafka_err2str(err));
    rd_kafka_metadata_destroy(md);
    return rk;
}

static int run_consume(const struct opts *o) {
    struct consume_state st = {0};
    rd_kafka_topic_t *rkt;
    rd_kafka_t *rk = consumer_new(o, &rkt);
    const int64_t t0 = now_ns(), c0 = cpu_ns();
    if (rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING) == -1)
        die("consume_start", rd_kafka_err2str(rd_kafka_last_error()));
    int64_t last_progress = t0;
    long long seen = 0;
    while (st.count < o->expect) {
        /* consume_callback returns as soon as the queued messages are served; consume_batch
         * would wait out its timeout for a partial batch at the tail and skew the rate. */
        rd_kafka_consume_callback(rkt, 0, 100, consume_cb, &st);
        int64_t t = now_ns();
        if (st.count != seen) {
            seen = st.count;
            last_progress = t;
            st.last_ns = t;
        } else if (t - last_progress > (int64_t)STALL_TIMEOUT_MS * 1000000) {
            break;
        }
    }
    const int64_t c1 = cpu_ns();
    double secs = (double)((st.last_ns ? st.last_ns : now_ns()) - t0) / 1e9;
    double rate = (double)st.count / secs;
    printf("RESULT mode=consume msgs=%lld expect=%lld gaps=%lld errors=%lld secs=%.3f msgs_s=%.0f "
           "mb_s=%.1f client_cpu_pct=%.1f\n",
           st.count, o->expect, st.gaps, st.errors, secs, rate, (double)st.bytes / secs / 1e6,
           100.0 * (double)(c1 - c0) / (secs * 1e9));
    rd_kafka_consume_stop(rkt, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return (st.count != o->expect || st.gaps || st.errors) ? 1 : 0;
}

/* ---- latency ---------------------------------------------------------------------------- */

struct lat_state {
    long long warm_n, total_n;     /* sequence numbers < warm_n are not measured */
    int64_t *e2e_ns, *dr_ns;       /* indexed by sequence number - warm_n */
    atomic_llong received;         /* measured messages seen by the consumer */
    long long dups, dr_failed;
    atomic_bool stop;
    rd_kafka_topic_t *crkt;
};

static uint64_t load_u64(const void *p) {
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void lat_consume_cb(rd_kafka_message_t *m, void *opaque) {
    struct lat_state *st = opaque;
    int64_t t = now_ns();
    if (m->err || m->len < LAT_HDR_BYTES) return;
    long long seq = (long long)load_u64(m->payload);
    if (seq < st->warm_n || seq >= st->total_n) return;
    int64_t *slot = &st->e2e_ns[seq - st->warm_n];
    if (*slot) {
        st->dups++;
        return;
    }
    *slot = t - (int64_t)load_u64((const uint8_t *)m->payload + 8);
    atomic_fetch_add(&st->received, 1);
}

static void *lat_consumer_main(void *arg) {
    struct lat_state *st = arg;
    while (!atomic_load(&st->stop)) rd_kafka_consume_callback(st->crkt, 0, 10, lat_consume_cb, st);
    return NULL;
}

static void lat_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct lat_state *st = opaque;
    if (m->err) {
        st->dr_failed++;
        return;
    }
    long long seq = (long long)load_u64(m->payload);
    if (seq >= st->warm_n && seq < st->total_n)
        st->dr_ns[seq - st->warm_n] = now_ns() - (int64_t)load_u64((const uint8_t *)m->payload + 8);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) and returns the nearest-rank percentile, in microseconds. */
static double pct_us(int64_t *v, long long n, double pct) {
    if (n <= 0) return 0;
    long long i = (long long)(pct / 100.0 * (double)n + 0.999999) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return (double)v[i] / 1000.0;
}

/* Keeps only the filled slots (a missing message leaves 0), sorted; returns how many. */
static long long compact_sorted(int64_t *v, long long n) {
    long long k = 0;
    for (long long i = 0; i < n; i++)
        if (v[i] > 0) v[k++] = v[i];
    qsort(v, (size_t)k, sizeof(*v), cmp_i64);
    return k;
}

static int run_latency(const struct opts *o) {
    struct lat_state st = {0};
    const int64_t interval_ns = 1000000000ll / o->rate;
    st.warm_n = WARMUP_NS / interval_ns;
    long long measured = (long long)(o->seconds * (double)o->rate);
    st.total_n = st.warm_n + measured;
    st.e2e_ns = calloc((size_t)measured, sizeof(int64_t));
    st.dr_ns = calloc((size_t)measured, sizeof(int64_t));
    if (!st.e2e_ns || !st.dr_ns) die("calloc", "latency arrays");
    int size = o->size < LAT_HDR_BYTES ? LAT_HDR_BYTES : o->size;

    rd_kafka_conf_t *conf = conf_producer(o);
    rd_kafka_conf_set_dr_msg_cb(conf, lat_dr);
    rd_kafka_conf_set_opaque(conf, &st);
    char errstr[512];
    rd_kafka_t *prk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!prk) die("rd_kafka_new", errstr);
    rd_kafka_topic_t *prkt = rd_kafka_topic_new(prk, o->topic, NULL);
    /* The producer's metadata request auto-creates the topic before the consumer looks. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(prk, 0, prkt, &md, 10000);
    if (err) die("metadata", rd_kafka_err2str(err));
    rd_kafka_metadata_destroy(md);

    rd_kafka_t *crk = consumer_new(o, &st.crkt);
    if (rd_kafka_consume_start(st.crkt, 0, RD_KAFKA_OFFSET_BEGINNING) == -1)
        die("consume_start", rd_kafka_err2str(rd_kafka_last_error()));
    pthread_t th;
    if (pthread_create(&th, NULL, lat_consumer_main, &st)) die("pthread_create", strerror(errno));

    uint8_t *buf = malloc((size_t)size);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    payload_fill(buf, size, &rng);
    const int64_t c0 = cpu_ns();
    const int64_t t0 = now_ns();
    /* Open-loop pacing against an absolute schedule: a late send does not push the rest back. */
    for (long long seq = 0; seq < st.total_n; seq++) {
        int64_t due = t0 + seq * interval_ns;
        struct timespec ts = {.tv_sec = due / 1000000000ll, .tv_nsec = due % 1000000000ll};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        uint64_t sent = (uint64_t)now_ns(), useq = (uint64_t)seq;
        memcpy(buf, &useq, 8);
        memcpy(buf + 8, &sent, 8);
        if (rd_kafka_produce(prkt, 0, RD_KAFKA_MSG_F_COPY, buf, (size_t)size, NULL, 0, NULL) == -1)
            die("rd_kafka_produce", rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_poll(prk, 0);
    }
    const int64_t t_sent = now_ns();
    rd_kafka_flush(prk, FLUSH_TIMEOUT_MS);
    while (atomic_load(&st.received) < measured && now_ns() - t_sent < 5000000000ll) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    atomic_store(&st.stop, true);
    pthread_join(th, NULL);
    const int64_t c1 = cpu_ns(), t1 = now_ns();

    long long got = atomic_load(&st.received);
    long long e2e_n = compact_sorted(st.e2e_ns, measured);
    long long dr_n = compact_sorted(st.dr_ns, measured);
    double send_secs = (double)(t_sent - t0) / 1e9;
    printf("RESULT mode=latency msgs=%lld received=%lld dups=%lld dr_failed=%lld rate_target=%lld "
           "rate_actual=%.0f e2e_p50_us=%.0f e2e_p99_us=%.0f e2e_p999_us=%.0f e2e_max_us=%.0f "
           "dr_p50_us=%.0f dr_p99_us=%.0f client_cpu_pct=%.1f\n",
           measured, got, st.dups, st.dr_failed, o->rate, (double)st.total_n / send_secs,
           pct_us(st.e2e_ns, e2e_n, 50), pct_us(st.e2e_ns, e2e_n, 99), pct_us(st.e2e_ns, e2e_n, 99.9),
           pct_us(st.e2e_ns, e2e_n, 100), pct_us(st.dr_ns, dr_n, 50), pct_us(st.dr_ns, dr_n, 99),
           100.0 * (double)(c1 - c0) / (double)(t1 - t0));
    rd_kafka_consume_stop(st.crkt, 0);
    rd_kafka_topic_destroy(st.crkt);
    rd_kafka_destroy(crk);
    rd_kafka_topic_destroy(prkt);
    rd_kafka_destroy(prk);
    free(buf);
    free(st.e2e_ns);
    free(st.dr_ns);
    return (got != measured || st.dups || st.dr_failed || e2e_n != measured) ? 1 : 0;
}

/* ---- options ---------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: sl_kafka_load produce|consume|latency|create [--brokers H:P] [--topic T] [--size N]\n"
            "         [--acks 1|all] [--compression none|snappy|lz4|zstd] [--linger-ms N]\n"
            "         [--batch-bytes N] [--seconds S] [--max-msgs N]      (produce, latency)\n"
            "         [--expect N] [--fetch-wait-ms N] [--fetch-bytes N]   (consume, latency)\n"
            "         [--rate N]                                           (latency)\n"
            "         [--partitions N] [--create 0|1] [--producers N]      (produce)\n"
            "         [--partitions N] [--replication R]     (create; produce --create 1)\n"
            "         [--set name=value]...  any librdkafka setting, e.g. security.protocol=SSL\n");
    exit(2);
}

static long long parse_ll(const char *name, const char *v, long long min) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min) die(name, "not a number in range");
    return x;
}

int main(int argc, char **argv) {
    struct opts o = {.brokers = "127.0.0.1:9092", .topic = "sl-load", .acks = "1",
                     .compression = "none", .size = 100, .linger_ms = 5, .batch_bytes = 524288,
                     .fetch_wait_ms = -1, .fetch_bytes = 1048576, .seconds = 3,
                     .max_msgs = 20000000, .expect = -1, .rate = 10000, .partitions = 1, .producers = 1,
                     .replication = 1};
    if (argc < 2) usage();
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(k, "--brokers")) o.brokers = v;
        else if (!strcmp(k, "--topic")) o.topic = v;
        else if (!strcmp(k, "--acks")) o.acks = v;
        else if (!strcmp(k, "--compression")) o.compression = v;
        else if (!strcmp(k, "--size")) o.size = (int)parse_ll(k, v, 1);
        else if (!strcmp(k, "--linger-ms")) o.linger_ms = (int)parse_ll(k, v, 0);
        else if (!strcmp(k, "--batch-bytes")) o.batch_bytes = (int)parse_ll(k, v, 1);
        else if (!strcmp(k, "--fetch-wait-ms")) o.fetch_wait_ms = (int)parse_ll(k, v, 0);
        else if (!strcmp(k, "--fetch-bytes")) o.fetch_bytes = (int)parse_ll(k, v, 1);
        else if (!strcmp(k, "--seconds")) o.seconds = (double)parse_ll(k, v, 1);
        else if (!strcmp(k, "--max-msgs")) o.max_msgs = parse_ll(k, v, 1);
        else if (!strcmp(k, "--expect")) o.expect = parse_ll(k, v, 0);
        else if (!strcmp(k, "--rate")) o.rate = parse_ll(k, v, 1);
        else if (!strcmp(k, "--partitions")) o.partitions = (int)parse_ll(k, v, 1);
        else if (!strcmp(k, "--create")) o.create = (int)parse_ll(k, v, 0);
        else if (!strcmp(k, "--producers")) o.producers = (int)parse_ll(k, v, 1);
        else if (!strcmp(k, "--replication")) o.replication = (int)parse_ll(k, v, 1);
        else if (!strcmp(k, "--set") && o.set_count < (int)(sizeof(o.set) / sizeof(o.set[0]))) o.set[o.set_count++] = v;
        else usage();
    }
    /* The latency consumer polls with a 1 ms MaxWait, as anchors.md's e2e rows did; the backlog
     * reader can afford 10 ms because its fetches are never empty until the end. */
    if (o.fetch_wait_ms < 0) o.fetch_wait_ms = strcmp(o.mode, "latency") ? 10 : 1;
    if (!strcmp(o.mode, "produce")) return run_produce(&o);
    if (!strcmp(o.mode, "create")) {
        create_topic(&o);
        printf("RESULT mode=create topic=%s partitions=%d replication=%d\n", o.topic, o.partitions, o.replication);
        return 0;
    }
    if (!strcmp(o.mode, "consume")) {
        if (o.expect < 0) die("consume", "--expect N is required");
        return run_consume(&o);
    }
    if (!strcmp(o.mode, "latency")) {
        if (o.rate > 1000000000ll) die("--rate", "at most 1e9");
        return run_latency(&o);
    }
    usage();
    return 2;
}
