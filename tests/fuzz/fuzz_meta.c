/* fuzz_meta.c: the decoders of the records the broker keeps in its kvlogs and reads back at
 * start-up: the cluster record (cluster_meta.c), a topic's record (topics.c), a stream's config
 * record and its deleted set (stream.c), a JetStream consumer's delivery state (consumer.c)
 * a Kafka group's state (group.c, stored in __consumer_offsets) and a transactional id's entry
 * (txn.c, stored in __transaction_state). fuzz_kvlog covers the log
 * replay and the offsets values around them; this target feeds one value straight to its
 * decoder, so every execution reaches decoding logic.
 *
 * Input: a selector byte (mod 7), then one stored value. Invariant: what decodes re-encodes to
 * a record that decodes and re-encodes to the same bytes (the encoders are what the broker
 * writes). cluster_meta.c is compiled into this file for its static decoder; topics.c and
 * stream.c into fuzz_meta_topics.c and fuzz_meta_stream.c. */
#include "../../broker/core/cluster_meta.c"

#include "broker/core/consumer.h"
#include "broker/core/txn.h"
#include "broker/kafka/group.h"
#include "fuzz_meta.h"
#include "protocol/kbuf.h"

static bool same(const struct fz_bytes *a, const struct fz_bytes *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static bool cluster_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct cluster_meta cm;
    memset(&cm, 0, sizeof(cm));
    int64_t block_end = 0;
    if (!cluster_meta_decode(&cm, v, (uint32_t)len, &block_end)) return false;
    if (strlen(cm.cluster_id) >= sizeof(cm.cluster_id)) fz_finding("fuzz_meta: cluster id overflows");
    struct kvlog_tlv_writer tw = {0};
    kvlog_tlv_begin(&tw, CLUSTER_VALUE_VERSION);
    kvlog_tlv_put(&tw, CLUSTER_TAG_ID, cm.cluster_id, (uint32_t)strlen(cm.cluster_id));
    kvlog_tlv_put_i64(&tw, CLUSTER_TAG_PID_BLOCK_END, block_end);
    fz_bytes_set(out, tw.p, tw.len);
    kvlog_tlv_free(&tw);
    return true;
}

/* A stream view where every sequence exists: a decoded pending entry is always kept. */
static uint64_t view_next(void *arg, const char *filter, uint64_t from) {
    (void)arg, (void)filter, (void)from;
    return 0;
}
static bool view_exists(void *arg, uint64_t seq) {
    (void)arg, (void)seq;
    return true;
}
static uint64_t view_first(void *arg) {
    (void)arg;
    return 1;
}
static uint64_t view_last(void *arg) {
    (void)arg;
    return 0;
}
static bool view_meta(void *arg, uint64_t seq, struct consumer_msg_meta *out) {
    (void)arg, (void)seq, (void)out;
    return false;
}
static uint64_t view_time(void *arg, int64_t ts_ns) {
    (void)arg, (void)ts_ns;
    return 0;
}
static uint64_t view_last_subject(void *arg, const char *subject) {
    (void)arg, (void)subject;
    return 0;
}
static const struct consumer_view view = {.next_seq = view_next, .exists = view_exists, .first_seq = view_first,
                                          .last_seq = view_last, .msg_meta = view_meta,
                                          .seq_for_time = view_time, .last_seq_for_subject = view_last_subject};
static const struct consumer_ops cops;

static bool consumer_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct consumer_config cfg = {0};
    cfg.name = "C";
    cfg.durable = true;
    cfg.ack_policy = CONSUMER_ACK_EXPLICIT;
    const struct consumer_stream_params sp = {CONSUMER_RETENTION_LIMITS, false};
    struct consumer_cfg_error err;
    if (consumer_config_check(&cfg, &sp, &err) != SL_OK) fz_finding("fuzz_meta: the consumer config is refused");
    struct consumer *c = consumer_new(&cfg, &sp, &view, &cops, 0);
    bool ok = consumer_decode_state(c, v, len, 0) == SL_OK;
    if (ok) {
        size_t cap = consumer_state_size_max(c);
        uint8_t *buf = malloc(cap ? cap : 1);
        size_t n = consumer_encode_state(c, buf, cap);
        if (n == 0) fz_finding("fuzz_meta: a decoded consumer state cannot be encoded");
        fz_bytes_set(out, buf, n);
        free(buf);
    }
    consumer_free(c);
    return ok;
}

static void group_join_done(void *arg, void *reply, const struct group_join_result *res) {
    (void)arg, (void)reply, (void)res;
}
static void group_sync_done(void *arg, void *reply, const struct group_sync_result *res) {
    (void)arg, (void)reply, (void)res;
}

static bool group_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct group_config gc;
    group_config_defaults(&gc);
    const struct group_ops ops = {group_join_done, group_sync_done, NULL, NULL};
    struct group_registry *reg = group_registry_create(&gc, &ops, 1);
    bool ok = group_registry_restore(reg, "g", v, (uint32_t)len, 0);
    if (ok) {
        struct group *g = group_registry_find(reg, "g");
        if (!g) fz_finding("fuzz_meta: a restored group is not there");
        struct kw w;
        kw_init(&w, 256);
        if (group_encode_state(g, &w)) fz_bytes_set(out, w.p, w.len);
        else ok = false; /* a state not worth keeping (not Stable/Empty): nothing to compare */
        kw_free(&w);
    }
    group_registry_destroy(reg);
    return ok;
}

static bool txn_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    struct txn_coord *c = txn_coord_new(1, INT32_MAX);
    bool ok = txn_restore(c, "t", v, (uint32_t)len, 0) == SL_OK;
    if (ok) {
        struct kvlog_tlv_writer tw = {0};
        txn_encode(txn_get(c, "t"), &tw);
        fz_bytes_set(out, tw.p, tw.len);
        kvlog_tlv_free(&tw);
    }
    txn_coord_free(c);
    return ok;
}

typedef bool (*roundtrip_fn)(const uint8_t *v, size_t len, struct fz_bytes *out);

static bool deleted_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out) {
    fuzz_stream_deleted(v, len, out);
    return true;
}

static const roundtrip_fn decoders[] = {cluster_roundtrip, fuzz_topic_roundtrip, fuzz_stream_roundtrip,
                                        deleted_roundtrip, consumer_roundtrip, group_roundtrip, txn_roundtrip};
static const char *const names[] = {"cluster", "topic", "stream", "deleted set", "consumer state", "group state",
                                    "transactional id"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 16)) return 0;
    sl_log_level_max = SL_LOG_ERROR;
    unsigned sel = data[0] % (sizeof(decoders) / sizeof(decoders[0]));
    struct fz_bytes a = {0}, b = {0}, c = {0};
    if (decoders[sel](data + 1, size - 1, &a)) {
        if (!decoders[sel](a.p, a.len, &b) || !decoders[sel](b.p, b.len, &c) || !same(&b, &c)) {
            fprintf(stderr, "fuzz_meta: a re-encoded %s record does not read back the same\n", names[sel]);
            const struct fz_bytes *show[] = {&a, &b, &c};
            for (int k = 0; k < 3; k++) {
                fprintf(stderr, "encoding %d:", k + 1);
                for (size_t i = 0; i < show[k]->len; i++) fprintf(stderr, " %02x", show[k]->p[i]);
                fprintf(stderr, "\n");
            }
            abort();
        }
    }
    free(a.p);
    free(b.p);
    free(c.p);
    return 0;
}
