/* kafka_quota.c: Kafka client quotas and the per-principal connection limit. See kafka_quota.h.
 *
 * The rate is Kafka's (org.apache.kafka.common.metrics.stats.Rate over SampledStat): a ring
 * of window_num samples, each window_size_ms long from its first event; a sample older than
 * the whole window is reset when measured. The elapsed time divided by is at least
 * window_num - 1 full windows, so a fresh sensor does not read a burst as an infinite rate.
 * Everything is sized at start; a full sensor table reuses the one idle longest. */
#include "broker/kafka/kafka_quota.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/logging.h"
#include "base/prom.h"
#include "broker/kafka/kafka.h"
#include "broker/kafka/kafka_resp.h"
#include "protocol/kafka_msgs_quota.h"

#define KQUOTA_SAMPLES_MAX 32
#define KQUOTA_SENSORS_MAX 1024
#define KQUOTA_ENTITIES_MAX 4096
#define KQUOTA_STORE "kafka_client_quotas"

enum kq_kind { KQ_ABSENT, KQ_NAMED, KQ_DEFAULT };

struct kq_entity {
    uint8_t user_kind, client_kind; /* enum kq_kind */
    char user[KQUOTA_NAME_MAX + 1];
    char client[KQUOTA_NAME_MAX + 1];
    double rate[KQUOTA_TYPES]; /* bytes/s; 0: no quota of that type */
};

struct kq_sample {
    uint64_t start_ms;
    double value;
};

/* One matched entity's byte count: the key is the type and the tags Kafka would give it. */
struct kq_sensor {
    uint64_t hash;
    uint8_t type;
    bool used;
    char user[KQUOTA_NAME_MAX + 1];
    char client[KQUOTA_NAME_MAX + 1];
    uint64_t last_ms;
    uint32_t n, cur;
    struct kq_sample s[KQUOTA_SAMPLES_MAX];
};

struct kafka_quotas {
    uint32_t window_num;
    uint64_t window_ms;
    double static_rate[KQUOTA_TYPES];
    struct kq_entity *entities;
    uint32_t entity_count;
    struct kq_sensor *sensors; /* KQUOTA_SENSORS_MAX */
    uint32_t sensor_count;
    uint64_t throttled[KQUOTA_TYPES];
    uint64_t throttle_ms[KQUOTA_TYPES];
    uint64_t connections_refused;
};

/* ---- the rate ---------------------------------------------------------------------------- */

static void kq_record(const struct kafka_quotas *qs, struct kq_sensor *s, double v, uint64_t now) {
    if (s->n == 0) {
        s->n = 1;
        s->cur = 0;
        s->s[0] = (struct kq_sample){now, 0};
    }
    struct kq_sample *cur = &s->s[s->cur];
    if (now >= cur->start_ms + qs->window_ms) {
        s->cur = (s->cur + 1) % qs->window_num;
        if (s->cur >= s->n) s->n = s->cur + 1;
        cur = &s->s[s->cur];
        *cur = (struct kq_sample){now, 0};
    }
    cur->value += v;
    s->last_ms = now;
}

/* Bytes per second now, and the window it was measured over (ms). */
static double kq_measure(const struct kafka_quotas *qs, struct kq_sensor *s, uint64_t now, double *window_ms) {
    uint64_t expire = qs->window_num * qs->window_ms, oldest = now;
    double total = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (now - s->s[i].start_ms >= expire) s->s[i] = (struct kq_sample){now, 0};
        total += s->s[i].value;
        oldest = SL_MIN(oldest, s->s[i].start_ms);
    }
    uint64_t elapsed = now - oldest, full = elapsed / qs->window_ms;
    if (full < qs->window_num - 1) elapsed += (qs->window_num - 1 - full) * qs->window_ms;
    *window_ms = (double)SL_MAX(elapsed, 1u);
    return total * 1000.0 / *window_ms;
}

/* ---- entities ------------------------------------------------------------------------------ */

static void kq_user_of(const struct kconn *kc, char out[KQUOTA_NAME_MAX + 1]) {
    const char *p = kc->sasl.principal;
    /* Kafka's principal for an unauthenticated connection is User:ANONYMOUS. */
    if (strncmp(p, "User:", 5) != 0 || !p[5]) p = "User:ANONYMOUS";
    snprintf(out, KQUOTA_NAME_MAX + 1, "%s", p + 5);
}

/* Kafka's precedence, 1 most specific; 0: the entity does not match. */
static int kq_level(const struct kq_entity *e, const char *user, const char *client) {
    bool un = e->user_kind == KQ_NAMED && !strcmp(e->user, user);
    bool ud = e->user_kind == KQ_DEFAULT;
    bool cn = e->client_kind == KQ_NAMED && !strcmp(e->client, client);
    bool cd = e->client_kind == KQ_DEFAULT;
    bool ua = e->user_kind == KQ_ABSENT, ca = e->client_kind == KQ_ABSENT;
    if (un) return cn ? 1 : cd ? 2 : ca ? 3 : 0;
    if (ud) return cn ? 4 : cd ? 5 : ca ? 6 : 0;
    if (ua) return cn ? 7 : cd ? 8 : 0;
    return 0;
}

/* The quota of type t for (user, client) and the sensor tags it counts under; 0: none. */
static double kq_resolve(const struct kafka_quotas *qs, enum kafka_quota_type t, const char *user, const char *client,
                         const char **tag_user, const char **tag_client) {
    int best = 10;
    double rate = 0;
    for (uint32_t i = 0; i < qs->entity_count; i++) {
        const struct kq_entity *e = &qs->entities[i];
        if (e->rate[t] <= 0) continue;
        int lv = kq_level(e, user, client);
        if (lv && lv < best) {
            best = lv;
            rate = e->rate[t];
        }
    }
    if (best == 10 && qs->static_rate[t] > 0) {
        best = 9;
        rate = qs->static_rate[t];
    }
    *tag_user = best <= 6 || best == 9 ? user : "";
    *tag_client = best == 1 || best == 2 || best == 4 || best == 5 || best == 7 || best == 8 ? client : "";
    return best == 10 ? 0 : rate;
}

static uint64_t kq_hash(int type, const char *a, const char *b) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)type;
    for (const char *p = a; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = b; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

static struct kq_sensor *kq_sensor(struct kafka_quotas *qs, enum kafka_quota_type t, const char *user,
                                   const char *client, bool create) {
    uint64_t h = kq_hash((int)t, user, client);
    struct kq_sensor *idle = NULL;
    for (uint32_t i = 0; i < qs->sensor_count; i++) {
        struct kq_sensor *s = &qs->sensors[i];
        if (s->hash == h && s->type == t && !strcmp(s->user, user) && !strcmp(s->client, client)) return s;
        if (!idle || s->last_ms < idle->last_ms) idle = s;
    }
    if (!create) return NULL;
    struct kq_sensor *s = qs->sensor_count < KQUOTA_SENSORS_MAX ? &qs->sensors[qs->sensor_count++] : idle;
    memset(s, 0, sizeof(*s));
    s->used = true;
    s->hash = h;
    s->type = (uint8_t)t;
    snprintf(s->user, sizeof(s->user), "%s", user);
    snprintf(s->client, sizeof(s->client), "%s", client);
    return s;
}

/* ---- the entity file ----------------------------------------------------------------------- */

static bool kq_name(const char *v, uint8_t *kind, char *out) {
    if (!*v || strlen(v) > KQUOTA_NAME_MAX) return false;
    *kind = strcmp(v, "<default>") ? KQ_NAMED : KQ_DEFAULT;
    snprintf(out, KQUOTA_NAME_MAX + 1, "%s", *kind == KQ_NAMED ? v : "");
    return true;
}

static bool kq_rate(const char *v, double *out) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || n == 0) return false;
    *out = (double)n;
    return true;
}

/* One line into e; false with why set. */
static bool kq_parse_line(char *line, struct kq_entity *e, const char **why) {
    memset(e, 0, sizeof(*e));
    bool any_rate = false;
    for (char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            *why = "expected key=value";
            return false;
        }
        *eq = 0;
        const char *v = eq + 1;
        bool ok;
        if (!strcmp(tok, "user")) ok = kq_name(v, &e->user_kind, e->user);
        else if (!strcmp(tok, "client-id")) ok = kq_name(v, &e->client_kind, e->client);
        else if (!strcmp(tok, "producer_byte_rate")) ok = any_rate = kq_rate(v, &e->rate[KQUOTA_PRODUCE]);
        else if (!strcmp(tok, "consumer_byte_rate")) ok = any_rate = kq_rate(v, &e->rate[KQUOTA_FETCH]);
        else {
            *why = "unknown key (user, client-id, producer_byte_rate, consumer_byte_rate)";
            return false;
        }
        if (!ok) {
            *why = "bad value (names 1-256 bytes or <default>; rates whole bytes per second > 0)";
            return false;
        }
    }
    if (e->user_kind == KQ_ABSENT && e->client_kind == KQ_ABSENT) *why = "needs user= or client-id=";
    else if (!any_rate) *why = "needs producer_byte_rate= or consumer_byte_rate=";
    else return true;
    return false;
}

static sl_err kq_load_file(struct kafka_quotas *qs, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        SL_ERROR("kafka_quota_file %s: %s", path, strerror(errno));
        return SL_IO;
    }
    char line[1024];
    sl_err e = SL_OK;
    for (uint32_t n = 1; !e && fgets(line, sizeof(line), f); n++) {
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) continue;
        const char *why = NULL;
        struct kq_entity ent;
        if (qs->entity_count == KQUOTA_ENTITIES_MAX) why = "too many entities";
        else if (kq_parse_line(p, &ent, &why)) qs->entities[qs->entity_count++] = ent;
        if (why) {
            SL_ERROR("kafka_quota_file %s:%u: %s", path, n, why);
            e = SL_INVALID_ARG;
        }
    }
    fclose(f);
    return e;
}

/* ---- the server side ----------------------------------------------------------------------- */

/* The entities as kafka_quota_file lines: the data dir's copy of what AlterClientQuotas set. */
static void kq_write_entity(FILE *f, const struct kq_entity *e) {
    if (e->user_kind) fprintf(f, "user=%s ", e->user_kind == KQ_DEFAULT ? "<default>" : e->user);
    if (e->client_kind) fprintf(f, "client-id=%s ", e->client_kind == KQ_DEFAULT ? "<default>" : e->client);
    if (e->rate[KQUOTA_PRODUCE] > 0) fprintf(f, "producer_byte_rate=%.0f ", e->rate[KQUOTA_PRODUCE]);
    if (e->rate[KQUOTA_FETCH] > 0) fprintf(f, "consumer_byte_rate=%.0f", e->rate[KQUOTA_FETCH]);
    fputc('\n', f);
}

static void kq_store_path(const struct kafka_server *ks, char *out, size_t cap) {
    snprintf(out, cap, "%s/" KQUOTA_STORE, ks->cfg->data_dir);
}

static sl_err kq_store(const struct kafka_server *ks) {
    const struct kafka_quotas *qs = ks->quotas;
    char path[SL_CONFIG_PATH_MAX + 64];
    kq_store_path(ks, path, sizeof(path));
    FILE *f = sl_file_begin(path);
    if (!f) return SL_IO;
    fputs("# quota entities set with AlterClientQuotas (kafka_quota_file syntax); read instead of kafka_quota_file\n", f);
    for (uint32_t i = 0; i < qs->entity_count; i++) kq_write_entity(f, &qs->entities[i]);
    return sl_file_commit(f, path, true) ? SL_OK : SL_IO;
}

sl_err kafka_quotas_start(struct kafka_server *ks) {
    const struct sl_config *cfg = ks->cfg;
    struct kafka_quotas *qs = sl_xcalloc(1, sizeof(*qs));
    qs->window_num = SL_MIN(SL_MAX(cfg->kafka_quota_window_num, 2u), (uint32_t)KQUOTA_SAMPLES_MAX);
    qs->window_ms = SL_MAX(cfg->kafka_quota_window_size_ms, 1u);
    qs->static_rate[KQUOTA_PRODUCE] = (double)cfg->kafka_quota_producer_byte_rate;
    qs->static_rate[KQUOTA_FETCH] = (double)cfg->kafka_quota_consumer_byte_rate;
    qs->entities = sl_xcalloc(KQUOTA_ENTITIES_MAX, sizeof(*qs->entities));
    qs->sensors = sl_xcalloc(KQUOTA_SENSORS_MAX, sizeof(*qs->sensors));
    ks->quotas = qs;
    char stored[SL_CONFIG_PATH_MAX + 64];
    kq_store_path(ks, stored, sizeof(stored));
    if (access(stored, F_OK) == 0) {
        /* Once AlterClientQuotas has run, its table is the truth, as Kafka's dynamic quotas are. */
        if (cfg->kafka_quota_file[0])
            SL_WARN("kafka quotas: %s (altered with AlterClientQuotas) is read, not kafka_quota_file %s", stored,
                    cfg->kafka_quota_file);
        if (kq_load_file(qs, stored) != SL_OK) return SL_INVALID_ARG;
    } else if (cfg->kafka_quota_file[0] && kq_load_file(qs, cfg->kafka_quota_file) != SL_OK) {
        return SL_INVALID_ARG;
    }
    if (qs->entity_count || qs->static_rate[0] > 0 || qs->static_rate[1] > 0)
        SL_INFO("kafka quotas: %u entities, defaults producer %.0f B/s consumer %.0f B/s (0: none), window %u x %llu ms",
                qs->entity_count, qs->static_rate[0], qs->static_rate[1], qs->window_num,
                (unsigned long long)qs->window_ms);
    return SL_OK;
}

void kafka_quotas_stop(struct kafka_server *ks) {
    struct kafka_quotas *qs = ks->quotas;
    if (!qs) return;
    free(qs->entities);
    free(qs->sensors);
    free(qs);
    ks->quotas = NULL;
}

static void kq_unmute(struct loop_timer *t, uint64_t now_ms) {
    struct kafka_quota_conn *qc = sl_container_of(t, struct kafka_quota_conn, unmute);
    struct kconn *kc = sl_container_of(qc, struct kconn, quota);
    (void)now_ms;
    qc->muted_until_ms = 0;
    if (kc->c && !kc->paused_for_queue && !kc->offloaded) conn_resume_recv(kc->c);
}

void kafka_quota_conn_init(struct kconn *kc) {
    memset(&kc->quota, 0, sizeof(kc->quota));
    kc->quota.unmute.fire = kq_unmute;
}

void kafka_quota_conn_close(struct kconn *kc) {
    loop_timer_del(kc->ks->loop, &kc->quota.unmute);
    kc->quota.muted_until_ms = 0;
}

void kafka_quota_note_client(struct kconn *kc, struct kstr client_id) {
    char *have = kc->quota.client_id;
    int32_t len = SL_MIN(SL_MAX(client_id.len, 0), KQUOTA_NAME_MAX);
    if ((int32_t)strlen(have) == len && !memcmp(have, client_id.p, (size_t)len)) return;
    memcpy(have, client_id.p, (size_t)len);
    have[len] = 0;
}

static struct kq_sensor *kq_sensor_for(struct kconn *kc, enum kafka_quota_type t, bool create, double *rate) {
    struct kafka_quotas *qs = kc->ks->quotas;
    if (!qs || (!qs->entity_count && qs->static_rate[t] <= 0)) return NULL;
    char user[KQUOTA_NAME_MAX + 1];
    kq_user_of(kc, user);
    const char *tu, *tc;
    *rate = kq_resolve(qs, t, user, kc->quota.client_id, &tu, &tc);
    return *rate > 0 ? kq_sensor(qs, t, tu, tc, create) : NULL;
}

int32_t kafka_quota_record(struct kconn *kc, enum kafka_quota_type t, uint64_t bytes, uint64_t now_ms) {
    struct kafka_quotas *qs = kc->ks->quotas;
    double quota;
    struct kq_sensor *s = kq_sensor_for(kc, t, true, &quota);
    if (!s) return 0;
    kq_record(qs, s, (double)bytes, now_ms);
    double window_ms, rate = kq_measure(qs, s, now_ms, &window_ms);
    if (rate <= quota) return 0;
    /* Kafka's QuotaUtils.throttleTime; capped at the whole window, the bound Kafka's broker
     * quota uses, so one huge request cannot mute a connection for minutes. */
    double ms = (rate - quota) / quota * window_ms;
    double cap = (double)(qs->window_num * qs->window_ms);
    return (int32_t)(SL_MIN(ms, cap) + 0.5);
}

void kafka_quota_unrecord(struct kconn *kc, enum kafka_quota_type t, uint64_t bytes, uint64_t now_ms) {
    double quota;
    struct kq_sensor *s = kq_sensor_for(kc, t, false, &quota);
    if (s) kq_record(kc->ks->quotas, s, -(double)bytes, now_ms);
}

int32_t kafka_quota_max_bytes(struct kconn *kc, enum kafka_quota_type t) {
    struct kafka_quotas *qs = kc->ks->quotas;
    double quota;
    if (!qs || !kq_sensor_for(kc, t, true, &quota)) return INT32_MAX;
    double max = quota * (double)(qs->window_num - 1) * (double)qs->window_ms / 1000.0;
    return max >= (double)INT32_MAX ? INT32_MAX : (int32_t)SL_MAX(max, 1.0);
}

void kafka_quota_throttle(struct kconn *kc, enum kafka_quota_type t, int32_t ms, uint64_t now_ms) {
    struct kafka_quotas *qs = kc->ks->quotas;
    if (ms <= 0) return;
    qs->throttled[t]++;
    qs->throttle_ms[t] += (uint64_t)ms;
    if (!kc->c || kc->dead) return;
    uint64_t until = now_ms + (uint64_t)ms;
    if (until <= kc->quota.muted_until_ms) return;
    kc->quota.muted_until_ms = until;
    conn_pause_recv(kc->c);
    loop_timer_del(kc->ks->loop, &kc->quota.unmute);
    loop_timer_add(kc->ks->loop, &kc->quota.unmute, until);
}

bool kafka_quota_admit(struct kconn *kc) {
    uint32_t max = kc->ks->cfg->kafka_max_connections_per_principal;
    if (kc->quota.counted || !kc->sasl.authenticated || !kc->c) return true;
    kc->quota.counted = true;
    if (!max) return true;
    uint32_t n = 0;
    for (struct conn *c = kc->ks->ls.conns; c; c = c->list_next) {
        struct kconn *o = c->proto;
        n += o && o->quota.counted && !o->dead && !c->closing && !c->close_when_sent &&
             !strcmp(o->sasl.principal, kc->sasl.principal);
    }
    if (n <= max) return true;
    kc->quota.counted = false;
    kc->ks->quotas->connections_refused++;
    SL_WARN("kafka %s: %s already has %u connections (kafka_max_connections_per_principal %u): closing", kc->c->peer,
            kc->sasl.principal, n - 1, max);
    conn_close_after_send(kc->c, "connection limit of the principal");
    return false;
}

void kafka_quota_metrics(struct kafka_server *ks, struct prom *p) {
    struct kafka_quotas *qs = ks->quotas;
    if (!qs) return;
    static const char *names[KQUOTA_TYPES] = {"produce", "fetch"};
    char labels[KQUOTA_NAME_MAX * 2 + 64];
    prom_family(p, "sluice_kafka_quota_throttled_requests_total", "counter",
                "Kafka responses that carried a throttle time (byte-rate quota exceeded), by type.");
    for (int t = 0; t < KQUOTA_TYPES; t++)
        prom_u64(p, "sluice_kafka_quota_throttled_requests_total",
                 prom_labels(labels, sizeof(labels), "type", names[t], NULL), qs->throttled[t]);
    prom_family(p, "sluice_kafka_quota_throttle_seconds_total", "counter",
                "Throttle time given to Kafka clients (their connections muted that long), by type.");
    for (int t = 0; t < KQUOTA_TYPES; t++)
        prom_double(p, "sluice_kafka_quota_throttle_seconds_total",
                    prom_labels(labels, sizeof(labels), "type", names[t], NULL), (double)qs->throttle_ms[t] / 1000.0);
    prom_family(p, "sluice_kafka_principal_connections_refused_total", "counter",
                "Kafka connections closed after authentication: kafka_max_connections_per_principal reached.");
    prom_u64(p, "sluice_kafka_principal_connections_refused_total", NULL, qs->connections_refused);
    prom_family(p, "sluice_kafka_quota_byte_rate", "gauge",
                "Measured byte rate of each quota sensor (user and client id as the matched entity tags them).");
    uint64_t now = loop_mono_ms(ks->loop);
    for (uint32_t i = 0; i < qs->sensor_count; i++) {
        struct kq_sensor *s = &qs->sensors[i];
        double w;
        prom_double(p, "sluice_kafka_quota_byte_rate",
                    prom_labels(labels, sizeof(labels), "type", names[s->type], "user", s->user, "client_id", s->client,
                                NULL),
                    kq_measure(qs, s, now, &w));
    }
}

/* ---- DescribeClientQuotas / AlterClientQuotas ------------------------------------------------ */

static const char *const kq_keys[KQUOTA_TYPES] = {"producer_byte_rate", "consumer_byte_rate"};

static bool kq_kstr_is(struct kstr s, const char *lit) {
    return s.len == (int32_t)strlen(lit) && !memcmp(s.p, lit, (size_t)s.len);
}

/* An entity from the wire: "user" and/or "client-id", each at most once, named or null
 * (default). NULL on success, else why. */
static const char *kq_entity_from(const struct kafka_quota_entity_part *parts, int32_t n, struct kq_entity *e) {
    memset(e, 0, sizeof(*e));
    if (n <= 0) return "the entity is empty";
    for (int32_t i = 0; i < n; i++) {
        bool user = kq_kstr_is(parts[i].entity_type, "user");
        if (!user && !kq_kstr_is(parts[i].entity_type, "client-id"))
            return "only user and client-id quota entities are supported";
        uint8_t *kind = user ? &e->user_kind : &e->client_kind;
        char *name = user ? e->user : e->client;
        if (*kind) return "an entity type given twice";
        struct kstr nm = parts[i].entity_name;
        if (nm.len > KQUOTA_NAME_MAX) return "entity name longer than 256 bytes";
        if (nm.len == 0) return "empty entity name";
        *kind = nm.len < 0 ? KQ_DEFAULT : KQ_NAMED;
        if (nm.len > 0) {
            memcpy(name, nm.p, (size_t)nm.len);
            name[nm.len] = 0;
        }
    }
    return NULL;
}

static struct kq_entity *kq_find(struct kafka_quotas *qs, const struct kq_entity *want) {
    for (uint32_t i = 0; i < qs->entity_count; i++) {
        struct kq_entity *e = &qs->entities[i];
        if (e->user_kind == want->user_kind && e->client_kind == want->client_kind && !strcmp(e->user, want->user) &&
            !strcmp(e->client, want->client))
            return e;
    }
    return NULL;
}

/* The wire form of an entity, in the arena. */
static struct kafka_quota_entity_part *kq_entity_parts(struct karena *a, const struct kq_entity *e, int32_t *n) {
    struct kafka_quota_entity_part *p = kafka_alloc_array(a, 2, sizeof(*p));
    *n = 0;
    if (e->user_kind)
        p[(*n)++] = (struct kafka_quota_entity_part){kafka_kstr("user"),
                                                     e->user_kind == KQ_NAMED ? kafka_arena_kstr(a, e->user) : kafka_kstr(NULL)};
    if (e->client_kind)
        p[(*n)++] = (struct kafka_quota_entity_part){kafka_kstr("client-id"), e->client_kind == KQ_NAMED
                                                                                  ? kafka_arena_kstr(a, e->client)
                                                                                  : kafka_kstr(NULL)};
    return p;
}

/* Kafka's filter: every component must match the entity's part of its type (exact name,
 * default, or any); strict also excludes entities with a type no component names. */
static bool kq_filter_match(const struct kafka_describe_client_quotas_req *req, const struct kq_entity *e) {
    bool named_user = false, named_client = false;
    for (int32_t i = 0; i < req->component_count; i++) {
        const struct kafka_quota_component *c = &req->components[i];
        bool user = kq_kstr_is(c->entity_type, "user");
        uint8_t kind = user ? e->user_kind : e->client_kind;
        const char *name = user ? e->user : e->client;
        named_user |= user;
        named_client |= !user;
        if (kind == KQ_ABSENT) return false;
        if (c->match_type == KAFKA_QUOTA_MATCH_DEFAULT && kind != KQ_DEFAULT) return false;
        if (c->match_type == KAFKA_QUOTA_MATCH_EXACT &&
            (kind != KQ_NAMED || !c->match.p || (int32_t)strlen(name) != c->match.len ||
             memcmp(name, c->match.p, (size_t)c->match.len)))
            return false;
    }
    if (req->strict && ((e->user_kind && !named_user) || (e->client_kind && !named_client))) return false;
    return true;
}

static const char *kq_filter_check(const struct kafka_describe_client_quotas_req *req) {
    bool seen_user = false, seen_client = false;
    for (int32_t i = 0; i < req->component_count; i++) {
        const struct kafka_quota_component *c = &req->components[i];
        bool user = kq_kstr_is(c->entity_type, "user");
        if (!user && !kq_kstr_is(c->entity_type, "client-id")) return "only user and client-id quota entities are supported";
        if (user ? seen_user : seen_client) return "an entity type given twice";
        *(user ? &seen_user : &seen_client) = true;
        if (c->match_type < KAFKA_QUOTA_MATCH_EXACT || c->match_type > KAFKA_QUOTA_MATCH_ANY) return "unknown match type";
        if (c->match_type == KAFKA_QUOTA_MATCH_EXACT && c->match.len < 0) return "an exact match needs a name";
    }
    return NULL;
}

sl_err kafka_handle_describe_client_quotas(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_quotas *qs = kc->ks->quotas;
    struct kafka_describe_client_quotas_req req;
    sl_err e = kafka_decode_describe_client_quotas(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_describe_client_quotas_resp resp = {.error_message = {NULL, -1}};
    const char *why = kq_filter_check(&req);
    /* ACLs as Kafka: DESCRIBE_CONFIGS on the cluster, else the whole request is refused. */
    if (!why && !kafka_authorized(kc, KAFKA_OP_DESCRIBE_CONFIGS, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE))) {
        resp.error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
        resp.entry_count = -1;
    } else if (why) {
        resp.error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
        resp.error_message = kafka_kstr(why);
        resp.entry_count = -1;
    } else {
        resp.entries = kafka_alloc_array(&kc->arena, (int32_t)qs->entity_count, sizeof(*resp.entries));
        for (uint32_t i = 0; i < qs->entity_count; i++) {
            const struct kq_entity *ent = &qs->entities[i];
            if (!kq_filter_match(&req, ent)) continue;
            struct kafka_describe_client_quotas_entry *out = &resp.entries[resp.entry_count++];
            out->entity = kq_entity_parts(&kc->arena, ent, &out->entity_count);
            out->values = kafka_alloc_array(&kc->arena, KQUOTA_TYPES, sizeof(*out->values));
            for (int t = 0; t < KQUOTA_TYPES; t++)
                if (ent->rate[t] > 0)
                    out->values[out->value_count++] = (struct kafka_quota_value){kafka_kstr(kq_keys[t]), ent->rate[t]};
        }
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_describe_client_quotas_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}

/* One entry's ops onto a copy of its entity; NULL on success, else why (nothing applied). */
static const char *kq_apply_ops(const struct kafka_alter_client_quotas_entry *in, struct kq_entity *e) {
    for (int32_t j = 0; j < in->op_count; j++) {
        const struct kafka_quota_op *op = &in->ops[j];
        int t = kq_kstr_is(op->key, kq_keys[0]) ? 0 : kq_kstr_is(op->key, kq_keys[1]) ? 1 : -1;
        if (t < 0) return "only producer_byte_rate and consumer_byte_rate are supported";
        if (op->remove) {
            e->rate[t] = 0;
            continue;
        }
        if (!isfinite(op->value) || op->value < 1 || op->value > 9007199254740992.0)
            return "a byte rate must be a number of bytes per second from 1 to 2^53";
        e->rate[t] = floor(op->value);
    }
    return NULL;
}

sl_err kafka_handle_alter_client_quotas(struct kconn *kc, struct kreq *q, struct kr *r) {
    struct kafka_server *ks = kc->ks;
    struct kafka_quotas *qs = ks->quotas;
    struct kafka_alter_client_quotas_req req;
    sl_err e = kafka_decode_alter_client_quotas(r, q->version, &kc->arena, &req);
    if (e) return e;
    struct kafka_alter_client_quotas_resp resp = {0};
    resp.entry_count = req.entry_count;
    resp.entries = kafka_alloc_array(&kc->arena, req.entry_count, sizeof(*resp.entries));
    bool changed = false;
    /* ACLs as Kafka: ALTER_CONFIGS on the cluster, else every entry is refused. */
    bool allowed = kafka_authorized(kc, KAFKA_OP_ALTER_CONFIGS, KAFKA_RES_CLUSTER, kafka_kstr(KAFKA_CLUSTER_RESOURCE));
    for (int32_t i = 0; i < req.entry_count; i++) {
        const struct kafka_alter_client_quotas_entry *in = &req.entries[i];
        struct kafka_alter_client_quotas_result *out = &resp.entries[i];
        out->error_message = kafka_kstr(NULL);
        out->entity = in->entity;
        out->entity_count = in->entity_count;
        if (!allowed) {
            out->error_code = (int16_t)sl_err_kafka(SL_CLUSTER_AUTHORIZATION);
            continue;
        }
        struct kq_entity want;
        const char *why = kq_entity_from(in->entity, in->entity_count, &want);
        struct kq_entity *have = why ? NULL : kq_find(qs, &want);
        if (have) want = *have;
        if (!why) why = kq_apply_ops(in, &want);
        bool empty = want.rate[0] <= 0 && want.rate[1] <= 0;
        if (!why && !have && !empty && qs->entity_count == KQUOTA_ENTITIES_MAX) why = "too many quota entities";
        if (why) {
            out->error_code = (int16_t)sl_err_kafka(SL_INVALID_REQUEST);
            out->error_message = kafka_kstr(why);
            continue;
        }
        if (req.validate_only) continue;
        if (have && empty) *have = qs->entities[--qs->entity_count]; /* no quota left: the entity goes */
        else if (have) *have = want;
        else if (!empty) qs->entities[qs->entity_count++] = want;
        changed = true;
    }
    if (changed && kq_store(ks) != SL_OK) {
        SL_ERROR("kafka quotas: cannot write %s/" KQUOTA_STORE ": %s (applied until restart)", ks->cfg->data_dir,
                 strerror(errno));
        for (int32_t i = 0; i < resp.entry_count; i++)
            if (!resp.entries[i].error_code) resp.entries[i].error_code = (int16_t)sl_err_kafka(SL_IO);
    }
    struct kw w;
    kresp_begin(q, &w);
    kafka_encode_alter_client_quotas_resp(&w, q->version, &resp);
    kresp_finish(q, &w);
    return SL_OK;
}
