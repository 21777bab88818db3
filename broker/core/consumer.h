/* consumer.h: one JetStream consumer as a pure state machine: no I/O, no clock, no JSON, no
 * protocol. It owns the consumer's config and its delivery state (delivered and ack-floor
 * sequences, the pending set of unacked deliveries with their delivery counts and deadlines,
 * the redelivery queue, waiting pull requests, push flow control) and decides, for every event,
 * what to deliver and which statuses, advisories and retention removals follow, as nats-server
 * 2.9.10 does (docs/nats-subset.md sections 12-19; tests/streams/ pin the wire behaviour).
 *
 * Time: every event takes now_ms, a monotonic time (loop_mono_ms): ack waits, backoff, pull
 * request expiry, heartbeats and inactivity are durations a wall-clock step must not stretch.
 * Timestamps that clients see (the store time of a message) come from the stream view.
 * consumer_next_deadline_ms() tells the wiring when consumer_tick() has work to do.
 *
 * Messages are read through a stream VIEW (struct consumer_view), never copied: the consumer
 * only keeps sequences. Actions leave through struct consumer_ops callbacks, synchronously,
 * inside the event call that caused them; a callback must not call back into this consumer.
 *
 * Sequences: stream_seq is the stream's (Kafka offset + 1); consumer_seq counts every delivery,
 * redeliveries included (1, 2, 3 for three deliveries of one message); `deliveries` counts the
 * deliveries of one message (1 on the first).
 *
 * Memory: no allocation per message. The pending set is an array in stream order (new
 * deliveries are always above every pending sequence) with tombstones compacted as it grows,
 * so it stays within a small multiple of max_ack_pending; the redelivery queue is a binary heap
 * of sequences bounded the same way; waiting requests are an array of at most max_waiting.
 *
 * Durable state: consumer_encode_state() writes the ack floor, the delivered sequences and the
 * sparse pending set (sequence deltas and delivery counts as varints) for the wiring to put in a
 * kvlog key per consumer on change (consumer_take_dirty), coalesced per loop turn. After a
 * restart, consumer_decode_state() restores it: nothing acked comes back, every pending message
 * is redelivered after its ack wait with its delivery count kept. */
#ifndef SL_BROKER_CONSUMER_H
#define SL_BROKER_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/errors.h"

#define CONSUMER_BACKOFF_MAX 16
#define CONSUMER_NO_DEADLINE UINT64_MAX

/* nats-server 2.9.10 defaults (server/consumer.go, jetstream_api.go). */
#define CONSUMER_ACK_WAIT_DEFAULT_MS 30000
#define CONSUMER_MAX_WAITING_DEFAULT 512
#define CONSUMER_MAX_ACK_PENDING_DEFAULT 1000
#define CONSUMER_FLOW_CONTROL_MAX_BYTES (32 * 1024 * 1024)
#define CONSUMER_INACTIVE_THRESHOLD_DEFAULT_MS 5000 /* ephemerals (JsDeleteWaitTimeDefault) */

enum consumer_deliver_policy {
    CONSUMER_DELIVER_ALL,
    CONSUMER_DELIVER_LAST,
    CONSUMER_DELIVER_NEW,
    CONSUMER_DELIVER_BY_START_SEQUENCE,
    CONSUMER_DELIVER_BY_START_TIME,
    CONSUMER_DELIVER_LAST_PER_SUBJECT,
};

enum consumer_ack_policy { CONSUMER_ACK_NONE, CONSUMER_ACK_ALL, CONSUMER_ACK_EXPLICIT };

/* The stream's retention, which decides what an ack means for the stream. */
enum consumer_retention { CONSUMER_RETENTION_LIMITS, CONSUMER_RETENTION_INTEREST, CONSUMER_RETENTION_WORKQUEUE };

/* "all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject" /
 * "none", "all", "explicit": the JSON spellings. */
const char *consumer_deliver_policy_name(enum consumer_deliver_policy p);
const char *consumer_ack_policy_name(enum consumer_ack_policy p);

/* A consumer's configuration. Strings are borrowed by consumer_config_check and copied by
 * consumer_new. Zero means "unset" wherever nats-server fills a default. */
struct consumer_config {
    const char *name;    /* the consumer's name (durable name for durables); required */
    bool durable;        /* false: an ephemeral (inactive_threshold_ms applies) */
    enum consumer_deliver_policy deliver_policy;
    uint64_t opt_start_seq;     /* by_start_sequence */
    int64_t opt_start_time_ns;  /* by_start_time: Unix ns; 0 = unset */
    enum consumer_ack_policy ack_policy;
    int64_t ack_wait_ms;        /* 0: 30 s for explicit/all; with backoff: backoff_ms[0] */
    int64_t backoff_ms[CONSUMER_BACKOFF_MAX];
    uint32_t backoff_count;
    int64_t max_deliver;        /* 0: -1 (unlimited) */
    const char *filter_subject; /* NULL or "": everything */
    int64_t max_ack_pending;    /* 0: 1000 for explicit/all; -1: unlimited */
    int64_t max_waiting;        /* pull only; 0: 512 */
    const char *deliver_subject; /* push when set; opaque here */
    const char *deliver_group;   /* push queue group; opaque here */
    bool flow_control;           /* push only, needs idle_heartbeat_ms */
    int64_t idle_heartbeat_ms;   /* push only */
    bool replay_original;        /* unsupported: only instant replay */
    int64_t inactive_threshold_ms; /* ephemerals: removed after this long without interest; 0: 5 s */
};

/* What the consumer needs to know about its stream. */
struct consumer_stream_params {
    enum consumer_retention retention;
    bool dead_letter; /* Sluice's native DLQ: max deliveries / +TERM emit dead_letter() */
};

/* A refused config: the JetStream API error to answer with. */
struct consumer_cfg_error {
    int code;                /* http-like: 400 */
    int err_code;            /* nats-server's err_code, e.g. 10098 */
    char description[160];   /* nats-server's text */
};

/* Fills nats-server's defaults into *cfg (setConsumerConfigDefaults) and checks it against the
 * rules of checkConsumerCfg that need no other consumer: 10116 backoff/max_deliver, 10079/10080/
 * 10082/10083 push rules, 10084 pull needs acks on a work-queue stream, 10088/10089 heartbeats
 * and flow control need push, 10094 deliver policy vs start options, 10108 flow control needs
 * heartbeats. SL_OK, or SL_INVALID_CONFIG with *err filled. */
sl_err consumer_config_check(struct consumer_config *cfg, const struct consumer_stream_params *sp,
                             struct consumer_cfg_error *err);

/* The work-queue rules for a NEW consumer on a work-queue stream, in nats-server's order:
 * 10098 explicit ack required -> 10099 (an unfiltered consumer beside any other) / 10100 (a
 * filter that is a subset of another's, or the other way round) -> 10101 deliver all. `others`
 * are the existing consumers' filter subjects (NULL or "" = unfiltered), `count` of them.
 * Call after consumer_config_check. SL_OK or SL_INVALID_CONFIG with *err filled. */
sl_err consumer_check_workqueue(const struct consumer_config *cfg, const char *const *others, uint32_t count,
                                struct consumer_cfg_error *err);

/* ---- the stream, as the consumer reads it ---- */

struct consumer_msg_meta {
    const char *subject; /* borrowed until the next view call */
    uint32_t bytes;      /* what max_bytes counts for this message (the wiring's choice; nats-server
                            counts subject + ack reply + headers + payload) */
    int64_t ts_ns;       /* store time, Unix ns */
};

struct consumer_view {
    /* First existing sequence >= from_seq whose subject matches filter (NULL = any); 0: none. */
    uint64_t (*next_seq)(void *arg, const char *filter, uint64_t from_seq);
    bool (*exists)(void *arg, uint64_t seq);
    uint64_t (*first_seq)(void *arg); /* last_seq + 1 when empty, 0 for a never-used stream */
    uint64_t (*last_seq)(void *arg);  /* 0 for a never-used stream */
    bool (*msg_meta)(void *arg, uint64_t seq, struct consumer_msg_meta *out); /* false: gone */
    uint64_t (*seq_for_time)(void *arg, int64_t ts_ns); /* first seq stored at or after ts */
    uint64_t (*last_seq_for_subject)(void *arg, const char *subject); /* 0: none */
    /* Messages >= from_seq matching filter. NULL: counted with next_seq (slow on big streams). */
    uint64_t (*count)(void *arg, const char *filter, uint64_t from_seq);
    void *arg;
};

/* ---- actions out ---- */

/* One delivery. target: the pull request's opaque target, or NULL for push delivery (to the
 * deliver subject / group). The wiring builds the ack reply
 * $JS.ACK.<stream>.<consumer>.<deliveries>.<stream_seq>.<consumer_seq>.<ts_ns>.<pending>. */
struct consumer_delivery {
    void *target;
    uint64_t stream_seq;
    uint64_t consumer_seq;
    uint64_t deliveries;
    uint64_t pending; /* messages matching the filter not yet delivered, after this one */
    int64_t ts_ns;    /* the message's store time */
};

/* A status message (HMSG with no payload) to a pull request's target, or to the push deliver
 * subject (target NULL). `text` follows the code on the status line ("No Messages", "Request
 * Timeout", "Requests Pending", "Exceeded MaxWaiting", "Message Size Exceeds MaxBytes", "Bad
 * Request - heartbeat value too large", "Idle Heartbeat", "FlowControl Request", "Consumer is
 * push based"). has_pending: add Nats-Pending-Messages / Nats-Pending-Bytes; has_last: add
 * Nats-Last-Consumer / Nats-Last-Stream (heartbeats), plus Nats-Consumer-Stalled: <fc reply>
 * when stalled_fc_id != 0. FlowControl Request carries fc_id, which the wiring turns into the
 * reply subject and, when the client answers it, back into consumer_flow_control_ack(). */
struct consumer_status {
    void *target;
    int code;
    const char *text;
    bool has_pending;
    int64_t pending_msgs;
    int64_t pending_bytes;
    bool has_last;
    uint64_t last_consumer_seq;
    uint64_t last_stream_seq;
    uint64_t stalled_fc_id;
    uint64_t fc_id;
};

enum consumer_advisory_kind {
    CONSUMER_ADVISORY_MAX_DELIVERIES, /* $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES (no consumer_seq) */
    CONSUMER_ADVISORY_TERMINATED,     /* ...MSG_TERMINATED */
    CONSUMER_ADVISORY_NAKED,          /* ...MSG_NAKED */
};

struct consumer_ops {
    void (*deliver)(void *arg, const struct consumer_delivery *d);
    void (*status)(void *arg, const struct consumer_status *s);
    void (*advisory)(void *arg, enum consumer_advisory_kind kind, uint64_t stream_seq, uint64_t consumer_seq,
                     uint64_t deliveries);
    /* This consumer is done with stream_seq (acked, termed, dead-lettered, or delivered with ack
     * none) on a WORKQUEUE stream (remove it) or an INTEREST stream (remove it if every other
     * consumer's consumer_acked() says so). Never called on a LIMITS stream. */
    void (*remove)(void *arg, uint64_t stream_seq);
    /* Native DLQ (consumer_stream_params.dead_letter only), before remove(): copy stream_seq to
     * the dead-letter stream. reason "max_deliveries" or "terminated"; text: the +TERM reason
     * or NULL. */
    void (*dead_letter)(void *arg, uint64_t stream_seq, uint64_t deliveries, const char *reason, const char *text);
    /* A pull request left the waiting list (after its last delivery or final status, or its
     * interest went): its target is never used again. Optional. */
    void (*release)(void *arg, void *target);
    /* An ephemeral's inactive_threshold passed without interest: the wiring deletes it.
     * Fires once. Optional. */
    void (*inactive)(void *arg);
    void *arg;
    /* Whether a pull request's target still has a subscriber (nats-server matches the reply
     * subject before each delivery and in processWaiting). A request without one leaves
     * silently (release): its requester closed or unsubscribed, so nothing is delivered into
     * the void and num_waiting counts only live requests. target NULL: the push deliver
     * subject, asked once per delivery run; without interest push delivery stops until
     * consumer_push_set_active(true). Optional: NULL means always. */
    bool (*interest)(void *arg, void *target);
};

/* ---- one consumer ---- */

struct consumer;

/* cfg must have passed consumer_config_check. The starting sequence follows the deliver
 * policy against the view's current state (nats-server selectStartingSeqNo). NULL: no memory. */
struct consumer *consumer_new(const struct consumer_config *cfg, const struct consumer_stream_params *sp,
                              const struct consumer_view *view, const struct consumer_ops *ops, uint64_t now_ms);
/* Releases every waiting request (ops.release) and frees. NULL is fine. */
void consumer_free(struct consumer *c);
/* The consumer is being deleted (CONSUMER.DELETE, its stream deleted): every waiting pull
 * request gets 409 Consumer Deleted and leaves (release), as nats-server's stop does, before
 * the wiring answers the delete. Call before consumer_free. */
void consumer_deleted(struct consumer *c);

/* The consumer's config with defaults filled; strings owned by the consumer. */
const struct consumer_config *consumer_config(const struct consumer *c);
bool consumer_is_push(const struct consumer *c);
/* Push: delivering (someone listens on the deliver subject): CONSUMER.INFO's push_bound. */
bool consumer_push_active(const struct consumer *c);

/* A pull request (CONSUMER.MSG.NEXT, or +NXT after the wiring applied the ack). The wiring
 * parses the body: empty = batch 1, bare integer = batch, JSON fields as below; invalid JSON is
 * its own 400. */
struct consumer_pull_req {
    void *target;               /* opaque: the reply subject's handle */
    int64_t batch;              /* <= 0: 1 */
    int64_t max_bytes;          /* 0: no byte budget */
    int64_t expires_ns;         /* 0: until the batch is filled or interest goes */
    bool no_wait;
    int64_t idle_heartbeat_ns;  /* 0: none; must be <= expires/2 */
};
/* Queues or answers the request (statuses 400, 404, 408 Requests Pending, 409 as nats-server
 * processNextMsgRequest), then delivers what it can. Returns true when the request was queued:
 * ops.release(target) will follow exactly once; false: answered already (or push consumer). */
bool consumer_pull(struct consumer *c, const struct consumer_pull_req *req, uint64_t now_ms);

/* The requester's interest in target is gone (unsubscribed, connection closed): the request
 * leaves silently (release). Unknown targets are ignored. The wiring may call this when it
 * learns of it; ops.interest finds the same requests lazily. */
void consumer_interest_gone(struct consumer *c, void *target, uint64_t now_ms);

/* nats-server's processWaiting as CONSUMER.INFO runs it: expired requests end with 408, and
 * requests whose target lost interest (ops.interest) leave, so num_waiting is exact. */
void consumer_check_waiting(struct consumer *c, uint64_t now_ms);

enum consumer_ack_kind {
    CONSUMER_ACK,      /* +ACK, empty, +OK (and the ack half of +NXT) */
    CONSUMER_NAK,      /* -NAK [delay]: delay_ms >= 0 redelivers later, < 0 at once */
    CONSUMER_PROGRESS, /* +WPI: restart the ack wait */
    CONSUMER_TERM,     /* +TERM [reason] */
};

/* An ack for the delivery named by its ack reply subject: stream_seq, consumer_seq and
 * deliveries as the subject carries them. Acks for unknown or settled messages do nothing
 * (the wiring still answers an AckSync). text: the +TERM reason, or NULL. */
void consumer_ack(struct consumer *c, enum consumer_ack_kind kind, uint64_t stream_seq, uint64_t consumer_seq,
                  uint64_t deliveries, int64_t delay_ms, const char *text, uint64_t now_ms);

/* The stream grew to last_seq (any protocol's append): deliver to whoever waits. */
void consumer_stream_appended(struct consumer *c, uint64_t last_seq, uint64_t now_ms);
/* The stream removed stream_seq (limits, MSG.DELETE, another consumer's ack on an interest
 * stream) whose subject was subject: forgotten if pending, counted out of num_pending. */
void consumer_stream_removed(struct consumer *c, uint64_t stream_seq, const char *subject, uint64_t now_ms);
/* After removals the consumer was not told of one by one (limits, MSG.DELETE, a purge):
 * drops pending entries that no longer exist and recounts num_pending. The delivered and ack
 * floor sequences stay, as in nats-server, whose limits leave its consumers alone. */
void consumer_stream_resync(struct consumer *c, uint64_t now_ms);
/* STREAM.PURGE (nats-server consumer.purge): the start moves up to the stream's new first
 * sequence and the ack floor below it, pending entries below it go; then as resync. */
void consumer_stream_purged(struct consumer *c, uint64_t now_ms);

/* Ack waits and backoff expiring (-> redelivery queue), pull request expiry (408) and idle
 * heartbeats (100), push heartbeats, ephemeral inactivity; then delivers what it can. */
void consumer_tick(struct consumer *c, uint64_t now_ms);
/* The earliest now_ms at which consumer_tick has something to do; CONSUMER_NO_DEADLINE if none. */
uint64_t consumer_next_deadline_ms(const struct consumer *c);

/* Push: whether the deliver subject (or group) has a subscriber. Delivery runs only when active. */
void consumer_push_set_active(struct consumer *c, bool active, uint64_t now_ms);
/* A config update (nats-server's updateConfig): takes ack_wait and backoff (for deliveries from
 * now on), max_deliver, max_ack_pending, filter_subject (num_pending is recounted), the deliver
 * subject and group of a push consumer, and inactive_threshold. The caller has refused what may
 * not change (deliver and ack policy, start, replay, heartbeat, flow control, max_waiting, pull
 * to push or back); cfg has its defaults filled (consumer_config_check). */
void consumer_update(struct consumer *c, const struct consumer_config *cfg, uint64_t now_ms);
/* Push: the client answered the FlowControl Request numbered fc_id. Older ids are ignored. */
void consumer_flow_control_ack(struct consumer *c, uint64_t fc_id, uint64_t now_ms);

/* For interest retention: true when this consumer needs nothing more of stream_seq (subject =
 * its subject, for filtered consumers): not applicable to it, acked, termed or dead-lettered. */
bool consumer_acked(const struct consumer *c, uint64_t stream_seq, const char *subject);

/* ---- CONSUMER.INFO ---- */

struct consumer_info {
    uint64_t delivered_consumer_seq, delivered_stream_seq;
    uint64_t ack_floor_consumer_seq, ack_floor_stream_seq;
    uint64_t num_ack_pending;
    uint64_t num_redelivered; /* pending messages delivered more than once */
    uint64_t num_waiting;
    uint64_t num_pending;     /* messages matching the filter not yet delivered */
};
void consumer_info(const struct consumer *c, struct consumer_info *out);

/* Bytes the consumer holds (struct, pending array, heap, waiting list, strings). */
size_t consumer_memory_bytes(const struct consumer *c);

/* ---- durable state ---- */

/* True once since the last call if the durable state changed (deliveries, acks, naks, terms,
 * dead letters): the wiring writes consumer_encode_state to its kvlog key then. */
bool consumer_take_dirty(struct consumer *c);
/* Whether the state changed since the last consumer_take_dirty (without taking it). */
bool consumer_is_dirty(const struct consumer *c);
/* Upper bound of the encoded size right now. */
size_t consumer_state_size_max(const struct consumer *c);
/* Writes the state into buf (cap bytes); returns its length, 0 when cap is too small. */
size_t consumer_encode_state(const struct consumer *c, uint8_t *buf, size_t cap);
/* Replaces the delivery state of a consumer fresh from consumer_new with an encoded one.
 * Pending messages get a new ack deadline from now_ms (redelivered after their ack wait, delivery
 * counts kept); entries the stream no longer holds are dropped. SL_CORRUPT on a malformed
 * record (the consumer is then unchanged). */
sl_err consumer_decode_state(struct consumer *c, const uint8_t *buf, size_t len, uint64_t now_ms);

#endif
