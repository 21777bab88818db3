/* kafka_quota.h: Kafka client quotas and the per-principal connection limit (kafka_quota.c).
 *
 * Byte-rate quotas as Kafka's ClientQuotaManager applies them: a quota entity is a user, a
 * client id, or both, each named or <default>; for every request the most specific entity with
 * a quota of that type wins (user+client, user+<default> client, user, <default> user+client,
 * <default>+<default>, <default> user, client, <default> client), and below all of them the
 * server keys kafka_quota_producer_byte_rate / kafka_quota_consumer_byte_rate, per user. The
 * bytes are counted in a sensor per matched entity (a <default> entity counts each user or
 * client id apart): kafka_quota_window_num samples of kafka_quota_window_size_ms. Over the
 * quota, throttle = (rate - quota) / quota * window, capped at the whole window; the response
 * carries it in throttle_time_ms and the connection is muted (not read) that long after it
 * (KIP-219). The sensor table is sized at start: no allocation per request.
 *
 * Entities come from kafka_quota_file at start (or, once AlterClientQuotas has run, from
 * <data_dir>/kafka_client_quotas), one per line:
 *   user=<name>|<default> [client-id=<id>|<default>] producer_byte_rate=N consumer_byte_rate=N
 * (either id may be left out but not both; a rate may be left out; N in bytes per second). */
#ifndef SL_BROKER_KAFKA_QUOTA_H
#define SL_BROKER_KAFKA_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "protocol/errors.h"
#include "protocol/kbuf.h"

struct kafka_server;
struct kconn;
struct prom;

enum kafka_quota_type { KQUOTA_PRODUCE, KQUOTA_FETCH, KQUOTA_TYPES };

#define KQUOTA_NAME_MAX 256 /* user names and client ids longer than this share a sensor */

/* One connection's side: its client id (the last one seen), the mute, and whether it counts
 * against its principal's connection limit. */
struct kafka_quota_conn {
    char client_id[KQUOTA_NAME_MAX + 1];
    bool counted;
    uint64_t muted_until_ms; /* loop_mono_ms; 0: not muted */
    struct loop_timer unmute;
};

struct kafka_quotas;

sl_err kafka_quotas_start(struct kafka_server *ks);
void kafka_quotas_stop(struct kafka_server *ks);

void kafka_quota_conn_init(struct kconn *kc);
/* The socket is gone: no more unmute. */
void kafka_quota_conn_close(struct kconn *kc);
/* Remembers the client id of the request being dispatched (a copy: requests may park). */
void kafka_quota_note_client(struct kconn *kc, struct kstr client_id);

/* Records bytes for the connection's user and client id; returns the throttle time in ms, 0
 * when within the quota (or none applies). */
int32_t kafka_quota_record(struct kconn *kc, enum kafka_quota_type t, uint64_t bytes, uint64_t now_ms);
/* Takes back bytes recorded but not sent (a throttled Fetch answers empty, as Kafka's). */
void kafka_quota_unrecord(struct kconn *kc, enum kafka_quota_type t, uint64_t bytes, uint64_t now_ms);
/* The most bytes one response may carry under the quota (Kafka's getMaxValueInQuotaWindow:
 * quota * (window_num - 1) * window_size), or INT32_MAX with none. */
int32_t kafka_quota_max_bytes(struct kconn *kc, enum kafka_quota_type t);
/* Mutes the connection for ms after the response just queued (counts the throttle). */
void kafka_quota_throttle(struct kconn *kc, enum kafka_quota_type t, int32_t ms, uint64_t now_ms);
static inline bool kafka_quota_muted(const struct kafka_quota_conn *qc) { return qc->muted_until_ms != 0; }

/* After each request: once the connection has authenticated, counts it against its
 * principal; past kafka_max_connections_per_principal it is closed (after the answer to the
 * authentication goes out) and false is returned. */
bool kafka_quota_admit(struct kconn *kc);

void kafka_quota_metrics(struct kafka_server *ks, struct prom *p);

/* DescribeClientQuotas (48) and AlterClientQuotas (49): the entities of the table above;
 * altered ones are written to <data_dir>/kafka_client_quotas (atomically, fsynced, before the
 * answer), which is read at start instead of kafka_quota_file from then on. */
struct kreq;
struct kr;
sl_err kafka_handle_describe_client_quotas(struct kconn *kc, struct kreq *q, struct kr *r);
sl_err kafka_handle_alter_client_quotas(struct kconn *kc, struct kreq *q, struct kr *r);

#endif
