/* cluster_fsm.c: see cluster_fsm.h (the formats are there).
 *
 * Memory: the FSM reports running out of memory as -1 (libraft then stops applying, loudly)
 * rather than aborting the broker, so it uses plain malloc/calloc/realloc, not sl_x*. */
#include "broker/core/cluster_fsm.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "base/base.h"

static const uint8_t snap_magic[4] = {'S', 'L', 'C', 'F'};

/* The fewest bytes a partition takes: a command's is replica_count and one node id; a
 * snapshot's adds the leader epoch. Checked against what is left before allocating, so a
 * forged partition_count cannot make us allocate megabytes for bytes that are not there. */
#define CMD_PART_MIN 5u
#define SNAP_PART_MIN 9u
/* A snapshot topic's fewest bytes: name_len and 1 byte of name, id, partition_count, one
 * partition, config_count. */
#define SNAP_TOPIC_MIN (2u + 1u + 16u + 4u + SNAP_PART_MIN + 2u)

static int fsm_fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* The length of s held in a field of cap bytes, cap if it holds no NUL (then too long): the
 * encoders may get a struct that was filled carelessly and must not read past the field. */
static size_t field_len(const char *s, size_t cap) {
    const char *z = memchr(s, '\0', cap);
    return z ? (size_t)(z - s) : cap;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* A bounded write cursor: w.bad once anything did not fit or was out of range. With p NULL it
 * only counts, which is how the sizes are computed by the very code that writes. */
struct wcur {
    uint8_t *p;
    size_t len, cap;
    bool bad;
};

static void w_bytes(struct wcur *w, const void *src, size_t n) {
    if (w->bad || w->cap - w->len < n) {
        w->bad = true;
        return;
    }
    if (w->p) memcpy(w->p + w->len, src, n);
    w->len += n;
}
static void w_u8(struct wcur *w, uint8_t v) { w_bytes(w, &v, 1); }
static void w_u16(struct wcur *w, uint16_t v) {
    uint8_t b[2];
    sl_store_be16(b, v);
    w_bytes(w, b, 2);
}
static void w_u32(struct wcur *w, uint32_t v) {
    uint8_t b[4];
    sl_store_be32(b, v);
    w_bytes(w, b, 4);
}
/* A length-prefixed string of a cap-byte field (NUL included in cap). */
static void w_str(struct wcur *w, const char *s, size_t cap, bool may_be_empty) {
    size_t n = field_len(s, cap);
    if ((n == 0 && !may_be_empty) || n >= cap) {
        w->bad = true;
        return;
    }
    w_u16(w, (uint16_t)n);
    w_bytes(w, s, n);
}

/* with_route: command version 2 and snapshot version 4 carry the NATS route address. */
static void w_broker(struct wcur *w, const struct cluster_broker *b, bool with_route) {
    if (b->node_id == 0) w->bad = true;
    w_u32(w, b->node_id);
    w_str(w, b->kafka, sizeof(b->kafka), false);
    w_str(w, b->nats, sizeof(b->nats), false);
    w_str(w, b->http, sizeof(b->http), false);
    if (with_route) w_str(w, b->route, sizeof(b->route), true);
    else if (b->route[0]) w->bad = true; /* a format without routes cannot carry one */
}

/* The replica list's rules (1..max, no 0, no repeat) hold for what we write as for what we read. */
static bool replicas_ok(const struct cluster_part *pt) {
    if (pt->replica_count == 0 || pt->replica_count > CLUSTER_REPLICAS_MAX) return false;
    for (uint32_t j = 0; j < pt->replica_count; j++) {
        if (pt->replicas[j] == 0) return false;
        for (uint32_t k = 0; k < j; k++)
            if (pt->replicas[k] == pt->replicas[j]) return false;
    }
    return true;
}

static bool is_replica(const struct cluster_part *pt, uint32_t node) {
    for (uint32_t j = 0; j < pt->replica_count; j++)
        if (pt->replicas[j] == node) return true;
    return false;
}

bool cluster_part_in_isr(const struct cluster_part *pt, uint32_t node) {
    for (uint32_t j = 0; j < pt->isr_count && j < CLUSTER_REPLICAS_MAX; j++)
        if (pt->isr[j] == node) return true;
    return false;
}

/* An ISR's rules: 1..replica_count distinct replicas, the leader among them. */
static bool isr_ok(const struct cluster_part *pt) {
    if (pt->isr_count == 0 || pt->isr_count > pt->replica_count) return false;
    for (uint32_t j = 0; j < pt->isr_count; j++) {
        if (!is_replica(pt, pt->isr[j])) return false;
        for (uint32_t k = 0; k < j; k++)
            if (pt->isr[k] == pt->isr[j]) return false;
    }
    return cluster_part_in_isr(pt, pt->replicas[0]);
}

/* Every replica in sync: a new partition, or one read from a format without ISRs. */
static void isr_all(struct cluster_part *pt) {
    pt->isr_count = pt->replica_count;
    memcpy(pt->isr, pt->replicas, sizeof(pt->isr));
}

/* A topic as type 2 has it (with_epochs false) or as a snapshot has it (true: epochs and ISRs). */
static void w_topic(struct wcur *w, const struct cluster_topic *tp, bool with_epochs) {
    w_str(w, tp->name, sizeof(tp->name), false);
    w_bytes(w, tp->id, sizeof(tp->id));
    if (tp->partition_count == 0 || tp->partition_count > CLUSTER_TOPIC_PARTITIONS_MAX || !tp->parts ||
        tp->config_count > CLUSTER_TOPIC_CONFIGS_MAX || (tp->config_count && !tp->configs)) {
        w->bad = true;
        return;
    }
    w_u32(w, tp->partition_count);
    for (uint32_t i = 0; i < tp->partition_count && !w->bad; i++) {
        const struct cluster_part *pt = &tp->parts[i];
        if (!replicas_ok(pt)) {
            w->bad = true;
            return;
        }
        if (with_epochs) w_u32(w, pt->leader_epoch);
        w_u8(w, pt->replica_count);
        for (uint32_t j = 0; j < pt->replica_count; j++) w_u32(w, pt->replicas[j]);
        if (!with_epochs) continue;
        if (!isr_ok(pt)) {
            w->bad = true;
            return;
        }
        w_u8(w, pt->isr_count);
        for (uint32_t j = 0; j < pt->isr_count; j++) w_u32(w, pt->isr[j]);
    }
    w_u16(w, (uint16_t)tp->config_count);
    for (uint32_t i = 0; i < tp->config_count; i++) {
        w_str(w, tp->configs[i].key, sizeof(tp->configs[i].key), false);
        w_str(w, tp->configs[i].value, sizeof(tp->configs[i].value), true);
    }
}

static void w_cmd(struct wcur *w, const struct cluster_cmd *c) {
    /* A registration with a route address needs version 2; everything else stays version 1,
     * so that a cluster without routes is readable by brokers that predate them. */
    bool v2 = c->type == CLUSTER_CMD_REGISTER && c->reg.route[0];
    w_u8(w, v2 ? CLUSTER_CMD_VERSION : 1);
    w_u8(w, (uint8_t)c->type);
    switch (c->type) {
    case CLUSTER_CMD_REGISTER: w_broker(w, &c->reg, v2); break;
    case CLUSTER_CMD_TOPIC_PUT: w_topic(w, &c->topic, false); break;
    case CLUSTER_CMD_TOPIC_REMOVE: w_str(w, c->topic.name, sizeof(c->topic.name), false); break;
    case CLUSTER_CMD_PARTITION_STATE: {
        const struct cluster_part *st = &c->state;
        w_str(w, c->topic.name, sizeof(c->topic.name), false);
        w_bytes(w, c->topic.id, sizeof(c->topic.id));
        w_u32(w, c->partition);
        w_u32(w, st->leader_epoch);
        if (st->replicas[0] == 0 || st->isr_count == 0 || st->isr_count > CLUSTER_REPLICAS_MAX) w->bad = true;
        w_u32(w, st->replicas[0]);
        w_u8(w, st->isr_count);
        for (uint32_t j = 0; j < st->isr_count && !w->bad; j++) w_u32(w, st->isr[j]);
        break;
    }
    default: w->bad = true; break;
    }
    static const uint8_t zeros[8];
    if (w->len % 8) w_bytes(w, zeros, 8 - w->len % 8); /* libraft's entry padding (see the header) */
}

size_t cluster_cmd_encode(const struct cluster_cmd *c, uint8_t *buf, size_t cap) {
    struct wcur w = {buf, 0, cap, false};
    if (!buf) return 0; /* NULL would make the cursor count instead of write */
    w_cmd(&w, c);
    return w.bad ? 0 : w.len;
}

size_t cluster_cmd_size(const struct cluster_cmd *c) {
    struct wcur w = {NULL, 0, SIZE_MAX, false};
    w_cmd(&w, c);
    return w.bad ? 0 : w.len;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* The read side: r.bad once anything failed, with the first problem in r.err; later reads then
 * do nothing (and return zeros). */
struct rcur {
    const uint8_t *p;
    size_t len, at;
    bool bad;
    char err[128];
};

static void r_fail(struct rcur *r, const char *fmt, ...) {
    if (r->bad) return;
    r->bad = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

static bool r_need(struct rcur *r, size_t n) {
    if (r->bad) return false;
    if (r->len - r->at < n) {
        r_fail(r, "truncated");
        return false;
    }
    return true;
}
static size_t r_left(const struct rcur *r) { return r->len - r->at; }
static uint8_t r_u8(struct rcur *r) { return r_need(r, 1) ? r->p[r->at++] : 0; }
static uint16_t r_u16(struct rcur *r) {
    if (!r_need(r, 2)) return 0;
    uint16_t v = sl_load_be16(r->p + r->at);
    r->at += 2;
    return v;
}
static uint32_t r_u32(struct rcur *r) {
    if (!r_need(r, 4)) return 0;
    uint32_t v = sl_load_be32(r->p + r->at);
    r->at += 4;
    return v;
}
static void r_bytes(struct rcur *r, void *out, size_t n) {
    if (!r_need(r, n)) return;
    memcpy(out, r->p + r->at, n);
    r->at += n;
}
/* A length-prefixed string into a cap-byte field; what names it in the error. */
static void r_str(struct rcur *r, char *out, size_t cap, bool may_be_empty, const char *what) {
    out[0] = '\0';
    uint16_t n = r_u16(r);
    if (r->bad) return;
    if ((n == 0 && !may_be_empty) || n >= cap) {
        r_fail(r, "%s is %s (%u bytes)", what, n == 0 ? "empty" : "too long", n);
        return;
    }
    if (!r_need(r, n)) return;
    if (memchr(r->p + r->at, '\0', n)) {
        r_fail(r, "%s holds a NUL", what);
        return;
    }
    memcpy(out, r->p + r->at, n);
    out[n] = '\0';
    r->at += n;
}

static void r_broker(struct rcur *r, struct cluster_broker *b, bool with_route) {
    memset(b, 0, sizeof(*b));
    b->node_id = r_u32(r);
    if (!r->bad && b->node_id == 0) r_fail(r, "node id 0");
    r_str(r, b->kafka, sizeof(b->kafka), false, "an address");
    r_str(r, b->nats, sizeof(b->nats), false, "an address");
    r_str(r, b->http, sizeof(b->http), false, "an address");
    if (with_route) r_str(r, b->route, sizeof(b->route), true, "a route address");
}

/* isr_count and the ids: 1..max distinct non-zero ids (whether they are replicas is checked
 * where the replicas are known). */
static void r_isr(struct rcur *r, struct cluster_part *pt) {
    uint8_t n = r_u8(r);
    if (r->bad) return;
    if (n == 0 || n > CLUSTER_REPLICAS_MAX) {
        r_fail(r, "ISR count %u not in 1..%d", n, CLUSTER_REPLICAS_MAX);
        return;
    }
    pt->isr_count = n;
    for (uint32_t j = 0; j < n && !r->bad; j++) {
        pt->isr[j] = r_u32(r);
        if (r->bad) return;
        if (pt->isr[j] == 0) r_fail(r, "node id 0 in an ISR");
        for (uint32_t k = 0; k < j; k++)
            if (pt->isr[k] == pt->isr[j]) r_fail(r, "node %u repeated in an ISR", pt->isr[j]);
    }
}

static void r_part(struct rcur *r, struct cluster_part *pt, bool with_epochs, bool with_isr) {
    if (with_epochs) pt->leader_epoch = r_u32(r);
    uint8_t rc = r_u8(r);
    if (r->bad) return;
    if (rc == 0 || rc > CLUSTER_REPLICAS_MAX) {
        r_fail(r, "replica count %u not in 1..%d", rc, CLUSTER_REPLICAS_MAX);
        return;
    }
    pt->replica_count = rc;
    for (uint32_t j = 0; j < rc && !r->bad; j++) {
        pt->replicas[j] = r_u32(r);
        if (r->bad) return;
        if (pt->replicas[j] == 0) r_fail(r, "node id 0 in a replica list");
        for (uint32_t k = 0; k < j; k++)
            if (pt->replicas[k] == pt->replicas[j]) r_fail(r, "node %u repeated in a replica list", pt->replicas[j]);
    }
    if (r->bad) return;
    if (!with_isr) {
        isr_all(pt);
        return;
    }
    r_isr(r, pt);
    if (!r->bad && !isr_ok(pt)) r_fail(r, "an ISR that is not the leader and other replicas");
}

/* A topic into *tp (zeroed first). On failure tp may hold memory: the caller frees it with
 * cluster_topic_free, which is why counts are set only once their arrays exist. */
static void r_topic(struct rcur *r, struct cluster_topic *tp, bool with_epochs, bool with_isr) {
    memset(tp, 0, sizeof(*tp));
    r_str(r, tp->name, sizeof(tp->name), false, "a topic name");
    r_bytes(r, tp->id, sizeof(tp->id));
    uint32_t pc = r_u32(r);
    if (r->bad) return;
    if (pc == 0 || pc > CLUSTER_TOPIC_PARTITIONS_MAX) {
        r_fail(r, "partition count %u not in 1..%d", pc, CLUSTER_TOPIC_PARTITIONS_MAX);
        return;
    }
    if (r_left(r) / (with_epochs ? SNAP_PART_MIN : CMD_PART_MIN) < pc) {
        r_fail(r, "truncated (%u partitions cannot fit)", pc);
        return;
    }
    tp->parts = calloc(pc, sizeof(*tp->parts));
    if (!tp->parts) {
        r_fail(r, "out of memory");
        return;
    }
    tp->partition_count = pc;
    for (uint32_t i = 0; i < pc && !r->bad; i++) r_part(r, &tp->parts[i], with_epochs, with_isr);
    uint16_t cc = r_u16(r);
    if (r->bad) return;
    if (cc > CLUSTER_TOPIC_CONFIGS_MAX) {
        r_fail(r, "%u configs, more than %d", cc, CLUSTER_TOPIC_CONFIGS_MAX);
        return;
    }
    if (cc == 0) return;
    tp->configs = calloc(cc, sizeof(*tp->configs));
    if (!tp->configs) {
        r_fail(r, "out of memory");
        return;
    }
    tp->config_count = cc;
    for (uint32_t i = 0; i < cc && !r->bad; i++) {
        r_str(r, tp->configs[i].key, sizeof(tp->configs[i].key), false, "a config key");
        r_str(r, tp->configs[i].value, sizeof(tp->configs[i].value), true, "a config value");
    }
}

/* A command may end early only by the zero padding up to a multiple of 8. */
static void r_end_padded(struct rcur *r) {
    if (r->bad || r->at == r->len) return;
    bool padding = r->len % 8 == 0 && r->len - r->at < 8;
    for (size_t i = r->at; i < r->len && padding; i++) padding = r->p[i] == 0;
    if (!padding) r_fail(r, "bytes left over");
}

int cluster_cmd_decode(const uint8_t *p, size_t len, struct cluster_cmd *out, char *err, size_t err_len) {
    struct rcur r = {.p = p, .len = len};
    memset(out, 0, sizeof(*out));
    uint8_t version = r_u8(&r);
    uint8_t type = r_u8(&r);
    if (r.bad) return fsm_fail(err, err_len, "command: %s", r.err);
    if (version < 1 || version > CLUSTER_CMD_VERSION)
        return fsm_fail(err, err_len, "command: version %u is not 1 to %u", version, CLUSTER_CMD_VERSION);
    switch (type) {
    case CLUSTER_CMD_REGISTER: r_broker(&r, &out->reg, version >= 2); break;
    case CLUSTER_CMD_TOPIC_PUT: r_topic(&r, &out->topic, false, false); break;
    case CLUSTER_CMD_TOPIC_REMOVE:
        r_str(&r, out->topic.name, sizeof(out->topic.name), false, "a topic name");
        break;
    case CLUSTER_CMD_PARTITION_STATE:
        r_str(&r, out->topic.name, sizeof(out->topic.name), false, "a topic name");
        r_bytes(&r, out->topic.id, sizeof(out->topic.id));
        out->partition = r_u32(&r);
        out->state.leader_epoch = r_u32(&r);
        out->state.replicas[0] = r_u32(&r);
        out->state.replica_count = 1;
        if (!r.bad && out->state.replicas[0] == 0) r_fail(&r, "leader 0");
        r_isr(&r, &out->state);
        break;
    default: return fsm_fail(err, err_len, "command: unknown type %u", type);
    }
    out->type = (enum cluster_cmd_type)type;
    r_end_padded(&r);
    if (r.bad) {
        cluster_cmd_free(out); /* a refusal leaves nothing to free */
        return fsm_fail(err, err_len, "command: %s", r.err);
    }
    return 0;
}

void cluster_cmd_free(struct cluster_cmd *c) { cluster_topic_free(&c->topic); }

/* ---- topics ------------------------------------------------------------------------------ */

void cluster_topic_free(struct cluster_topic *tp) {
    free(tp->parts);
    free(tp->configs);
    tp->parts = NULL;
    tp->configs = NULL;
    tp->partition_count = 0;
    tp->config_count = 0;
}

/* A deep copy of src into *dst: 0, or -1 out of memory (then *dst holds nothing). */
static int topic_copy(struct cluster_topic *dst, const struct cluster_topic *src) {
    *dst = *src;
    dst->parts = NULL;
    dst->configs = NULL;
    dst->partition_count = 0;
    dst->config_count = 0;
    if (src->partition_count) {
        dst->parts = malloc(src->partition_count * sizeof(*dst->parts));
        if (!dst->parts) return -1;
        memcpy(dst->parts, src->parts, src->partition_count * sizeof(*dst->parts));
        dst->partition_count = src->partition_count;
    }
    if (src->config_count) {
        dst->configs = malloc(src->config_count * sizeof(*dst->configs));
        if (!dst->configs) {
            cluster_topic_free(dst);
            return -1;
        }
        memcpy(dst->configs, src->configs, src->config_count * sizeof(*dst->configs));
        dst->config_count = src->config_count;
    }
    return 0;
}

/* The index of name in t, or where it would go (*found false). */
static uint32_t topics_lower_bound(const struct cluster_topics *t, const char *name, bool *found) {
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->v[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < t->count && strcmp(t->v[lo].name, name) == 0;
    return lo;
}

const struct cluster_topic *cluster_topics_find(const struct cluster_topics *t, const char *name) {
    bool found;
    uint32_t i = topics_lower_bound(t, name, &found);
    return found ? &t->v[i] : NULL;
}

void cluster_topics_free(struct cluster_topics *t) {
    for (uint32_t i = 0; i < t->count; i++) cluster_topic_free(&t->v[i]);
    free(t->v);
    t->v = NULL;
    t->count = t->cap = 0; /* gen stays: a table reused after this must not seem to go back */
}

int cluster_topics_clone(struct cluster_topics *dst, const struct cluster_topics *src) {
    memset(dst, 0, sizeof(*dst));
    if (src->count) {
        dst->v = calloc(src->count, sizeof(*dst->v));
        if (!dst->v) return -1;
        dst->cap = src->count;
    }
    for (uint32_t i = 0; i < src->count; i++) {
        if (topic_copy(&dst->v[i], &src->v[i]) != 0) {
            cluster_topics_free(dst);
            memset(dst, 0, sizeof(*dst));
            return -1;
        }
        dst->count++;
    }
    dst->gen = src->gen;
    return 0;
}

/* Room for one more topic: 0, or -1 when the table is at its limit or memory ran out. */
static int topics_reserve(struct cluster_topics *t) {
    if (t->count >= CLUSTER_TOPICS_MAX) return -1;
    if (t->count < t->cap) return 0;
    uint32_t cap = t->cap ? t->cap * 2 : 8;
    if (cap > CLUSTER_TOPICS_MAX) cap = CLUSTER_TOPICS_MAX;
    struct cluster_topic *v = realloc(t->v, (size_t)cap * sizeof(*v));
    if (!v) return -1;
    t->v = v;
    t->cap = cap;
    return 0;
}

/* The epochs a placement gets against what was held (old NULL: a new topic). The command's own
 * epochs are ignored: every replica derives them the same way from the log. */
static void topic_set_epochs(struct cluster_topic *nt, const struct cluster_topic *old) {
    bool same = old && memcmp(old->id, nt->id, sizeof(nt->id)) == 0;
    for (uint32_t p = 0; p < nt->partition_count; p++) {
        struct cluster_part *pt = &nt->parts[p];
        if (!same || p >= old->partition_count) {
            pt->leader_epoch = 0;
            isr_all(pt);
            continue;
        }
        const struct cluster_part *op = &old->parts[p];
        pt->leader_epoch = op->leader_epoch + (op->replicas[0] != pt->replicas[0] ? 1u : 0u);
        /* The same replicas in the same order keep their ISR; a re-placement starts over. */
        bool kept = op->replica_count == pt->replica_count &&
                    !memcmp(op->replicas, pt->replicas, pt->replica_count * sizeof(pt->replicas[0]));
        if (kept) {
            pt->isr_count = op->isr_count;
            memcpy(pt->isr, op->isr, sizeof(pt->isr));
        } else {
            isr_all(pt);
        }
    }
}

/* Type 4: see the header for when it applies; 0 either way (a stale change is no error). */
static int fsm_partition_state(struct cluster_fsm *f, const struct cluster_cmd *c) {
    /* A command that would not encode is refused, as a put's is: decode never yields one. */
    if (c->state.isr_count == 0 || c->state.isr_count > CLUSTER_REPLICAS_MAX) return -1;
    struct cluster_topics *t = &f->topics;
    bool found;
    uint32_t i = topics_lower_bound(t, c->topic.name, &found);
    if (!found || memcmp(t->v[i].id, c->topic.id, 16) != 0 || c->partition >= t->v[i].partition_count) return 0;
    struct cluster_part *pt = &t->v[i].parts[c->partition];
    if (c->state.leader_epoch != pt->leader_epoch) return 0;
    struct cluster_part next = *pt;
    uint32_t leader = c->state.replicas[0];
    if (!is_replica(pt, leader)) return 0;
    if (leader != pt->replicas[0]) {
        uint32_t j = 0;
        next.replicas[j++] = leader;
        for (uint32_t k = 0; k < pt->replica_count; k++)
            if (pt->replicas[k] != leader) next.replicas[j++] = pt->replicas[k];
        next.leader_epoch = pt->leader_epoch + 1;
    }
    next.isr_count = c->state.isr_count;
    memset(next.isr, 0, sizeof(next.isr));
    memcpy(next.isr, c->state.isr, c->state.isr_count * sizeof(next.isr[0]));
    if (!isr_ok(&next)) return 0;
    *pt = next;
    t->gen++;
    return 0;
}

static int fsm_topic_put(struct cluster_fsm *f, const struct cluster_topic *tp) {
    /* A topic that would not encode is refused: decode never yields one, but a hand-built
     * command must not put a topic without partitions into the table. */
    struct wcur check = {NULL, 0, SIZE_MAX, false};
    w_topic(&check, tp, false);
    if (check.bad) return -1;
    struct cluster_topics *t = &f->topics;
    bool found;
    uint32_t i = topics_lower_bound(t, tp->name, &found);
    if (!found && topics_reserve(t) != 0) return -1;
    struct cluster_topic nt;
    if (topic_copy(&nt, tp) != 0) return -1;
    topic_set_epochs(&nt, found ? &t->v[i] : NULL);
    if (found) {
        cluster_topic_free(&t->v[i]);
    } else {
        memmove(&t->v[i + 1], &t->v[i], (t->count - i) * sizeof(t->v[0]));
        t->count++;
    }
    t->v[i] = nt;
    t->gen++;
    return 0;
}

static void fsm_topic_remove(struct cluster_fsm *f, const char *name) {
    struct cluster_topics *t = &f->topics;
    bool found;
    uint32_t i = topics_lower_bound(t, name, &found);
    if (!found) return; /* nothing changed: gen stays, so no watcher recomputes for nothing */
    cluster_topic_free(&t->v[i]);
    memmove(&t->v[i], &t->v[i + 1], (t->count - i - 1) * sizeof(t->v[0]));
    t->count--;
    t->gen++;
}

/* ---- the state machine ------------------------------------------------------------------- */

const struct cluster_broker *cluster_fsm_find(const struct cluster_fsm *f, uint32_t node_id) {
    for (uint32_t i = 0; i < f->count; i++)
        if (f->brokers[i].node_id == node_id) return &f->brokers[i];
    return NULL;
}

static int fsm_register(struct cluster_fsm *f, const struct cluster_broker *b) {
    uint32_t i = 0;
    while (i < f->count && f->brokers[i].node_id < b->node_id) i++;
    if (i < f->count && f->brokers[i].node_id == b->node_id) {
        f->brokers[i] = *b;
        return 0;
    }
    if (f->count == CLUSTER_BROKERS_MAX) return -1;
    memmove(&f->brokers[i + 1], &f->brokers[i], (f->count - i) * sizeof(f->brokers[0]));
    f->brokers[i] = *b;
    f->count++;
    return 0;
}

int cluster_fsm_apply(struct cluster_fsm *f, const struct cluster_cmd *c) {
    int rc;
    switch (c->type) {
    case CLUSTER_CMD_REGISTER: rc = fsm_register(f, &c->reg); break;
    case CLUSTER_CMD_TOPIC_PUT: rc = fsm_topic_put(f, &c->topic); break;
    case CLUSTER_CMD_TOPIC_REMOVE:
        fsm_topic_remove(f, c->topic.name);
        rc = 0;
        break;
    case CLUSTER_CMD_PARTITION_STATE: rc = fsm_partition_state(f, c); break;
    default: rc = -1; break;
    }
    if (rc != 0) return -1;
    f->applied++;
    return 0;
}

void cluster_fsm_free(struct cluster_fsm *f) { cluster_topics_free(&f->topics); }

/* ---- placement --------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int cluster_place(const uint32_t *nodes, uint32_t n, const char *name, uint32_t partitions, uint32_t rf,
                  const struct cluster_topic *have, struct cluster_part *out) {
    if (!nodes || !name || !out || n == 0 || n > CLUSTER_BROKERS_MAX || rf == 0 || rf > n ||
        rf > CLUSTER_REPLICAS_MAX || partitions == 0 || partitions > CLUSTER_TOPIC_PARTITIONS_MAX ||
        (have && partitions < have->partition_count))
        return -1;
    uint32_t sorted[CLUSTER_BROKERS_MAX];
    memcpy(sorted, nodes, n * sizeof(sorted[0]));
    qsort(sorted, n, sizeof(sorted[0]), cmp_u32);
    /* A 0 or a repeated id would give a replica list decode refuses. */
    for (uint32_t i = 0; i < n; i++)
        if (sorted[i] == 0 || (i > 0 && sorted[i] == sorted[i - 1])) return -1;
    uint32_t kept = have ? have->partition_count : 0;
    if (kept) memmove(out, have->parts, kept * sizeof(out[0])); /* out may be have->parts */
    /* The start depends on the name so that many small topics do not all lead on the lowest id. */
    uint32_t start = (uint32_t)(XXH3_64bits(name, strlen(name)) % n);
    for (uint32_t p = kept; p < partitions; p++) {
        struct cluster_part *pt = &out[p];
        memset(pt, 0, sizeof(*pt));
        pt->replica_count = (uint8_t)rf;
        for (uint32_t j = 0; j < rf; j++) pt->replicas[j] = sorted[((uint64_t)start + p + j) % n];
    }
    return 0;
}

/* ---- snapshots --------------------------------------------------------------------------- */

static void w_snapshot(struct wcur *w, const struct cluster_fsm *f) {
    w_bytes(w, snap_magic, sizeof(snap_magic));
    w_u8(w, CLUSTER_SNAP_VERSION);
    w_u32(w, f->count);
    for (uint32_t i = 0; i < f->count; i++) w_broker(w, &f->brokers[i], true);
    w_u32(w, f->topics.count);
    for (uint32_t i = 0; i < f->topics.count; i++) w_topic(w, &f->topics.v[i], true);
}

size_t cluster_fsm_snapshot_size(const struct cluster_fsm *f) {
    struct wcur w = {NULL, 0, SIZE_MAX, false};
    w_snapshot(&w, f);
    return w.bad ? 0 : w.len;
}

size_t cluster_fsm_snapshot_encode(const struct cluster_fsm *f, uint8_t *buf, size_t cap) {
    struct wcur w = {buf, 0, cap, false};
    if (!buf) return 0;
    w_snapshot(&w, f);
    return w.bad ? 0 : w.len;
}

/* Version 2's or 3's topics into t (empty on entry); on failure t may hold memory for the caller
 * to free. */
static void r_snap_topics(struct rcur *r, struct cluster_topics *t, bool with_isr) {
    uint32_t count = r_u32(r);
    if (r->bad) return;
    if (count > CLUSTER_TOPICS_MAX) {
        r_fail(r, "%u topics, more than %d", count, CLUSTER_TOPICS_MAX);
        return;
    }
    if (r_left(r) / SNAP_TOPIC_MIN < count) {
        r_fail(r, "truncated (%u topics cannot fit)", count);
        return;
    }
    if (count == 0) return;
    t->v = calloc(count, sizeof(*t->v));
    if (!t->v) {
        r_fail(r, "out of memory");
        return;
    }
    t->cap = count;
    for (uint32_t i = 0; i < count && !r->bad; i++) {
        r_topic(r, &t->v[i], true, with_isr);
        t->count++; /* counted even half-read, so that the caller's free finds its memory */
        if (!r->bad && i > 0 && strcmp(t->v[i - 1].name, t->v[i].name) >= 0)
            r_fail(r, "topic names not rising (%s after %s)", t->v[i].name, t->v[i - 1].name);
    }
}

int cluster_fsm_restore(struct cluster_fsm *f, const uint8_t *p, size_t len, char *err, size_t err_len) {
    struct cluster_fsm fresh = {0}; /* ~17 KiB: decoded aside, swapped in whole */
    struct rcur r = {.p = p, .len = len};
    if (len < sizeof(snap_magic) || memcmp(p, snap_magic, sizeof(snap_magic)) != 0)
        return fsm_fail(err, err_len, "snapshot: no SLCF magic");
    r.at = sizeof(snap_magic);
    uint8_t version = r_u8(&r);
    uint32_t count = r_u32(&r);
    if (r.bad) return fsm_fail(err, err_len, "snapshot: %s", r.err);
    if (version < 1 || version > CLUSTER_SNAP_VERSION)
        return fsm_fail(err, err_len, "snapshot: version %u is not 1 to %u", version, CLUSTER_SNAP_VERSION);
    if (count > CLUSTER_BROKERS_MAX)
        return fsm_fail(err, err_len, "snapshot: %u brokers, more than %d", count, CLUSTER_BROKERS_MAX);
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        r_broker(&r, &fresh.brokers[i], version >= 4);
        if (!r.bad && i > 0 && fresh.brokers[i].node_id <= fresh.brokers[i - 1].node_id)
            r_fail(&r, "node ids not rising");
    }
    fresh.count = count;
    /* Version 1 had no topics (none placed), version 2 no ISRs (every replica in sync). */
    if (version >= 2) r_snap_topics(&r, &fresh.topics, version >= 3);
    if (!r.bad && r.at != len) r_fail(&r, "bytes left over");
    if (r.bad) {
        cluster_topics_free(&fresh.topics);
        return fsm_fail(err, err_len, "snapshot: %s", r.err);
    }
    /* One above the old gen even if the topics are the same: a watcher must recompute after a
     * restore, and comparing whole tables to avoid that is not worth it. */
    fresh.topics.gen = f->topics.gen + 1;
    cluster_topics_free(&f->topics);
    *f = fresh;
    return 0;
}
