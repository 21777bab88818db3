/* stream.h: streams on the commit log (JetStream's streams, protocol-neutral). A STREAM is a
 * topic with one partition, so Kafka clients see a topic of the same name, plus:
 *
 *   config   name, subjects, retention, limits, discard, duplicate window, ...; persisted as an
 *            opaque record in the topic's metadata record (topics.h, tag 4), encoded here as a
 *            versioned TLV (readers skip unknown tags)
 *   index    one small entry per sequence from first_seq to last_seq (subject id, stored size,
 *            record time), so counts, per-subject limits, age and removal need no read-back
 *   deleted  what was removed above the floor (first_seq), as sorted runs; persisted as the
 *            metadata key "stream/<name>/deleted" (floor + runs), written on every removal
 *            (group commit)
 *   msg ids  the Nats-Msg-Id window (id -> seq, record time)
 *
 * Stream sequence = Kafka offset + 1, exact across restarts and retention. A message is a
 * one-record RecordBatch v2: key = subject, value = payload, headers = the message's headers in
 * order (repeated keys kept), timestamp = broker wall time in ms. The partition tells the stream
 * of every append, whichever protocol made it (partition_set_append_observer), so a Kafka
 * produce into the topic is indexed too: its subject is its key when the key is a literal
 * subject one of the stream's subjects matches, else the first literal subject of the stream, or
 * the stream name.
 *
 * Restart: the index, the counters and the msg-id window are rebuilt by walking the log from
 * its start (records below the floor or in the deleted set are skipped; msg ids only within the
 * window of the current wall time).
 *
 * Removal (limits, purge, work-queue acks, MSG.DELETE) marks the sequence deleted; when the
 * floor moves, the log start follows (partition_delete_before), so whole segments go once every
 * record in them is gone; removals above the floor leave the disk through the log cleaner
 * (log_set_cleaner_drop, storage/compact.h). Kafka transactions into the topic: NATS consumers
 * read below the partition's last stable offset, and an aborted transaction's messages are
 * removed when its marker comes. Memory: 16 bytes per sequence between first_seq and last_seq,
 * the runs of deleted sequences above the floor (at most STREAM_DELETED_MAX runs), one entry
 * per distinct subject, one per msg id inside the window.
 *
 * Time is passed in: wall ms (record times, age, the dedupe window). */
#ifndef SL_BROKER_STREAM_H
#define SL_BROKER_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "protocol/errors.h"

struct store;
struct topics;
struct topic;
struct stream;
struct streams;

#define STREAM_NAME_MAX 255
#define STREAM_DELETED_MAX (1u << 20)
#define STREAM_DUPLICATE_WINDOW_DEFAULT_NS 120000000000ll
/* The default dead-letter stream of stream S (server config jetstream_dlq). */
#define STREAM_DLQ_DEFAULT "{stream}_DLQ"

enum stream_discard { STREAM_DISCARD_OLD, STREAM_DISCARD_NEW };
enum stream_storage { STREAM_STORAGE_FILE, STREAM_STORAGE_MEMORY };

/* Limits: -1 is unlimited (0 from a client is mapped to -1 by the API layer). */
struct stream_config {
    char name[STREAM_NAME_MAX + 1];
    uint32_t subject_count;
    char subjects[TOPIC_SUBJECTS_MAX][TOPIC_SUBJECT_BYTES_MAX];
    enum topic_retention retention;
    int64_t max_consumers;
    int64_t max_msgs;
    int64_t max_bytes;
    int64_t max_age_ns; /* 0: no age limit */
    int64_t max_msgs_per_subject;
    int64_t max_msg_size; /* -1 or bytes */
    enum stream_discard discard;
    enum stream_storage storage; /* reported as asked; always stored on file */
    int64_t num_replicas;
    int64_t duplicate_window_ns;
    bool allow_direct, mirror_direct, sealed, deny_delete, deny_purge, allow_rollup_hdrs;
    char dlq[TOPIC_SUBJECT_BYTES_MAX]; /* dead-letter setting, kept for the consumers; "" none */
};

/* Fills the defaults: no subjects, limits retention, every limit -1, discard old, file, one
 * replica, a 2-minute duplicate window. */
void stream_config_defaults(struct stream_config *c);
/* Same config (what makes a create with the same name idempotent). */
bool stream_config_equal(const struct stream_config *a, const struct stream_config *b);

struct stream_state {
    uint64_t messages;
    uint64_t bytes;
    uint64_t first_seq; /* last_seq + 1 when empty (0 when never used) */
    uint64_t last_seq;
    int64_t first_ts_ms; /* 0 when empty */
    int64_t last_ts_ms;  /* 0 when never used */
    uint64_t num_subjects;
    uint64_t num_deleted; /* deleted sequences in [first_seq, last_seq] */
};

/* One message header; repeated keys come as repeated entries, in order. */
struct stream_header {
    struct span key;
    struct span value;
};

/* ---- the registry --------------------------------------------------------------------------- */

/* Finds every topic with a stream record and rebuilds its stream from the log. */
sl_err streams_open(struct streams **out, struct store *st, struct topics *t);
/* Detaches from the partitions (the topics stay open); call before topics_close. */
void streams_close(struct streams *ss);

/* Writes every changed deleted set now (the metadata log makes them durable with whatever else
 * it holds): callers whose acks must be durable together with the removals they made. */
void streams_persist_now(struct streams *ss);
uint32_t streams_count(const struct streams *ss);
/* Streams in creation order (a delete moves the last one into its place); NULL past the end. */
struct stream *streams_at(const struct streams *ss, uint32_t i);
struct stream *streams_get(const struct streams *ss, const char *name, uint32_t name_len);
/* The native dead-letter stream of s, NULL if none (the message then stays). In order: the
 * stream named by its topic's config sluice.dlq.stream (set to "": none); the stream holding
 * the subject of its config's dlq; the stream named by the registry's default template, where
 * "{stream}" stands for s's name (STREAM_DLQ_DEFAULT unless set; "" disables the default).
 * Never s itself. *subject (may be NULL) gets the subject to store a dead letter under: the dlq
 * subject, else the dead-letter stream's first literal subject, else its name. */
struct stream *streams_dlq_of(const struct streams *ss, const struct stream *s, const char **subject);
void streams_set_dlq_default(struct streams *ss, const char *tmpl);

/* The stream one of whose subjects matches the literal subject, NULL if none. */
struct stream *streams_find_subject(const struct streams *ss, const char *subject, uint32_t len);

/* Outcomes of the admin calls; the API layer maps them onto its error codes. */
enum stream_admin_result {
    STREAM_ADMIN_OK,
    STREAM_ADMIN_NOT_FOUND,
    STREAM_ADMIN_NAME_IN_USE,     /* same name, different config */
    STREAM_ADMIN_SUBJECT_OVERLAP, /* a subject overlaps another stream's */
    STREAM_ADMIN_INVALID,         /* bad name, subject or limit: see why */
    STREAM_ADMIN_TOPIC_EXISTS,    /* a Kafka topic of that name that is not a stream */
    STREAM_ADMIN_STORAGE,         /* the log or the metadata log refused */
    STREAM_ADMIN_PENDING,         /* streams_create_start: under way, its done fires later */
    STREAM_ADMIN_NO_PEERS,        /* more replicas asked than the cluster has brokers */
};

/* Creates the stream (topic + record) at wall time now_ms, all of it now: the topic's
 * directories are synced on the calling thread (tools and tests; the broker's loop uses
 * streams_create_start). A stream of that name with an equal config is returned with
 * *created false. */
enum stream_admin_result streams_create(struct streams *ss, const struct stream_config *c, uint64_t now_ms,
                                        struct stream **out, bool *created, const char **why);

/* The same without holding the loop: the topic's partition is made and its directories synced
 * through the loop's background path (topics_create_start), then the stream is attached and
 * its record queued; done fires once both records are durable. Returns STREAM_ADMIN_PENDING
 * when done will fire, exactly once per call:
 * (arg, STREAM_ADMIN_OK, the new stream, NULL), or an error with a reason (also when the
 * registry closes first: "the server is shutting down", s NULL). Returns STREAM_ADMIN_OK with
 * *out set when an equal stream exists already (done never fires), or an error at once. A
 * second equal create while one is under way waits for the same outcome; a different config
 * under that name is NAME_IN_USE; its subjects count as taken meanwhile. */
typedef void (*streams_create_fn)(void *arg, enum stream_admin_result r, struct stream *s, const char *why);
enum stream_admin_result streams_create_start(struct streams *ss, const struct stream_config *c, uint64_t now_ms,
                                              streams_create_fn done, void *arg, struct stream **out,
                                              const char **why);
/* New config for an existing stream (name and storage fixed); limits apply at once. */
enum stream_admin_result streams_update(struct streams *ss, struct stream *s, const struct stream_config *c,
                                        uint64_t now_ms, const char **why);
/* Deletes the stream and its topic. */
enum stream_admin_result streams_delete(struct streams *ss, struct stream *s);

/* ---- streams the cluster places ----
 * In a cluster (streams_set_view), a stream created is a topic the controller places
 * (cluster_view.h): one partition, replication factor num_replicas, min.insync.replicas a
 * majority. Its PubAcks wait for the in-sync replicas (the partition's high watermark), and its
 * record rides in the placement as configs named STREAM_PLACED_PREFIX "<n>", which the cluster
 * part strips before it makes a broker's copy of the topic and then hands that copy to
 * streams_adopt: every broker has the stream (marked placed, in its own record too), indexed
 * from its replica. The partition's leader serves it (the NATS wing asks stream_placement);
 * the leader's consumers and removals reach the other replicas through
 * broker/cluster_streams.h. Streams made before the cluster stay the broker's own. */
#define STREAM_PLACED_PREFIX "sluice.stream."
struct cluster_view;
struct cluster_topic;
void streams_set_view(struct streams *ss, const struct cluster_view *v);
/* A config key of the record's chunks (never a broker's topic config). */
bool streams_placed_key(const char *key);
/* A copy of a stream the cluster placed (its leader serves it), even while the placement is
 * not known (a start, a stop). */
bool stream_is_placed(const struct stream *s);
/* The stream's placement, NULL when it is this broker's alone (or the placement is not known). */
const struct cluster_topic *stream_placement(const struct stream *s);
/* The stream of a placed topic's copy here, attached from the placement's record if it is not
 * yet (and saved in this broker's metadata, so a restart finds it as any stream); NULL when
 * the placement has no record (a plain topic). */
struct stream *streams_adopt(struct streams *ss, struct topic *tp);
/* The metadata key of the stream's deleted set (what its leader removed), and a replica's
 * taking of the leader's record of it: written here and the index rebuilt from the log
 * under it (the disk below its floor freed), unless it is the record this broker has. */
size_t stream_deleted_key(const struct stream *s, char *out, size_t cap);
sl_err stream_apply_deleted(struct stream *s, const uint8_t *v, uint32_t len);
/* streams_update, for a placed stream through the controller: the new record goes into the
 * placement, every broker's copy takes it, and done fires once this broker's has
 * (STREAM_ADMIN_PENDING; (arg, result, stream, why) as streams_create_start's done). Another
 * stream is updated at once (its result returned, done never fires). */
enum stream_admin_result streams_update_start(struct streams *ss, struct stream *s, const struct stream_config *c,
                                              uint64_t now_ms, streams_create_fn done, void *arg, const char **why);
/* Deletes the stream: a placed one through the controller (STREAM_ADMIN_PENDING, done fires
 * once every copy is gone here, with the outcome), any other at once (streams_delete). */
enum stream_admin_result streams_delete_start(struct streams *ss, struct stream *s, topics_done_fn done, void *arg);

/* Called when a stream goes (API delete or the topic deleted by Kafka), before it is freed:
 * the protocol side drops its subscriptions and consumers. One hook. */
void streams_set_gone_hook(struct streams *ss, void (*fn)(void *arg, struct stream *s), void *arg);

/* Runs the age limit of every stream at wall time now_ms (the registry also runs it itself on a
 * one-second monotonic timer). */
void streams_enforce_age(struct streams *ss, uint64_t now_ms);

/* ---- one stream ------------------------------------------------------------------------------ */

const struct stream_config *stream_config(const struct stream *s);
const char *stream_name(const struct stream *s);
/* Creation time, wall ns. */
int64_t stream_created_ns(const struct stream *s);
void stream_get_state(const struct stream *s, struct stream_state *out);
struct topic *stream_topic(const struct stream *s);
struct partition *stream_partition(const struct stream *s);
/* An opaque pointer for the protocol side (its per-stream state). */
void stream_set_user(struct stream *s, void *user);
void *stream_user(const struct stream *s);

/* What a publish must be checked against before it is appended (NULL/0 fields: not asked). */
struct stream_publish_checks {
    struct span msg_id;               /* Nats-Msg-Id */
    struct span expected_stream;      /* Nats-Expected-Stream */
    int64_t expected_last_seq;        /* -1: not asked */
    int64_t expected_last_subj_seq;   /* -1: not asked */
    struct span expected_last_msg_id; /* len 0: not asked */
};

enum stream_publish_verdict {
    STREAM_PUBLISH_OK,
    STREAM_PUBLISH_DUPLICATE,            /* *seq_out = the original's sequence */
    STREAM_PUBLISH_WRONG_STREAM,         /* 400/10060 expected stream does not match */
    STREAM_PUBLISH_WRONG_LAST_SEQ,       /* 400/10071 wrong last sequence: <*seq_out> */
    STREAM_PUBLISH_WRONG_LAST_SUBJ_SEQ,  /* 400/10071 wrong last sequence: <*seq_out> */
    STREAM_PUBLISH_WRONG_LAST_MSG_ID,    /* 400/10070 wrong last msg ID: <last id> */
    STREAM_PUBLISH_TOO_LARGE,            /* 400/10054 message size exceeds maximum allowed */
    STREAM_PUBLISH_MAX_MSGS,             /* 503/10077 maximum messages exceeded */
    STREAM_PUBLISH_MAX_BYTES,            /* 503/10077 maximum bytes exceeded */
    STREAM_PUBLISH_MAX_MSGS_PER_SUBJECT, /* 503/10077 maximum messages per subject exceeded */
};

/* Checks a publish of subject with a stored size of hdr_len + payload_len bytes (hdr_len: the
 * NATS header block, 0 without headers) at wall time now_ms. Read-only but for expiring msg ids
 * out of the window. The last msg id (for WRONG_LAST_MSG_ID) is copied into last_id (cap bytes,
 * NUL-terminated). */
enum stream_publish_verdict stream_check_publish(struct stream *s, struct span subject,
                                                 const struct stream_publish_checks *c, uint32_t hdr_len,
                                                 uint32_t payload_len, uint64_t now_ms, uint64_t *seq_out,
                                                 char *last_id, uint32_t last_id_cap);

/* Caller-owned, one per append in flight. fn fires once: err SL_OK and seq once the message is
 * durable under the stream's log policy, or the write's error. */
struct stream_append_done {
    void (*fn)(struct stream_append_done *d, sl_err err, uint64_t seq);
    uint64_t seq; /* set when stream_append returns SL_OK */
    struct partition_append_done pd; /* private */
};

/* Appends one message (acks durable) at wall time now_ms; the index sees it at once (through
 * the append observer). On an error return fn never fires. */
sl_err stream_append(struct stream *s, struct span subject, const struct stream_header *hdrs, uint32_t hdr_count,
                     struct span payload, uint64_t now_ms, struct stream_append_done *done);

/* One message read back from the log. Spans borrow from the stream's read buffer: valid until
 * the next stream_get on any stream of the registry. hdr is the NATS header block rebuilt
 * ("NATS/1.0\r\nK: V\r\n...\r\n\r\n"), len 0 when the record has no headers. */
struct stream_msg {
    uint64_t seq;
    struct span subject;
    struct span hdr;
    struct span payload;
    int64_t time_ms;
};
/* SL_NOT_FOUND for a sequence never written, removed, or below the floor. */
sl_err stream_get(struct stream *s, uint64_t seq, struct stream_msg *out);
/* The last live message on subject (literal), SL_NOT_FOUND if none. */
sl_err stream_get_last_for_subject(struct stream *s, struct span subject, struct stream_msg *out);

/* Whether seq holds a live message. */
bool stream_exists(const struct stream *s, uint64_t seq);
/* A live message's subject, size (subject + header block + payload) and store time from the
 * in-memory index, without reading the log; false if seq is not live. */
bool stream_peek(const struct stream *s, uint64_t seq, struct span *subject, uint32_t *bytes, int64_t *ts_ms);
uint64_t stream_last_seq(const struct stream *s);
/* The first live sequence >= from_seq whose subject matches filter (len 0 or ">": any), 0 if
 * none yet. Wildcards as NATS: '*' one token, '>' the rest. */
uint64_t stream_next_seq(struct stream *s, struct span filter, uint64_t from_seq);

/* Removes one message for a consumer (work-queue or interest ack), which accounts for it
 * itself: SL_NOT_FOUND if it is not there. */
sl_err stream_remove(struct stream *s, uint64_t seq);
/* MSG.DELETE: as stream_remove, but consumers must hear of it (stream_foreign_removals). */
sl_err stream_delete_msg(struct stream *s, uint64_t seq);
/* Counts removals consumers did not make themselves (limits, age, purge, MSG.DELETE): when it
 * changes, consumers resynchronise their pending counts and sets. */
uint64_t stream_foreign_removals(const struct stream *s);
/* Removes every message (filter len 0) or every message whose subject matches filter; returns
 * how many went in *purged. */
sl_err stream_purge(struct stream *s, struct span filter, uint64_t *purged);

/* NATS subject rules, shared with the protocol side. */
bool stream_subject_matches(const char *pattern, uint32_t plen, const char *subject, uint32_t slen);
bool stream_subjects_overlap(const char *a, const char *b);

#endif
