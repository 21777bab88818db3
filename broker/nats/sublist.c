/* sublist.c: the subject trie and its match cache (see sublist.h for the contract).
 *
 * Trie. A level holds the children of one node: literal tokens in an open-addressing hash
 * table (linear probing, backward-shift deletion, power-of-two size, at most 3/4 full), plus
 * the '*' and '>' children in their own fields, so a wildcard is never looked up by its token
 * and a published '*' token finds only what a literal token would. A node holds the plain subs
 * whose subject ends there (an array) and one queue node per queue name (each an array of
 * members). Every struct sub records its holder and its index in the holder's array, so
 * removal is O(1) plus the pruning of branches left empty; a node's child level exists only
 * while it has a child.
 *
 * Match. A miss tokenizes the subject once (hashing each token), walks the trie as nats-server
 * does (at each level: the '>' child matches the rest, the '*' child recurses on the next
 * token, the literal child continues), collects into reusable scratch arrays, then packs the
 * result into one allocation: entry header, plain subs, queue groups, group members, queue
 * names, subject. That block is the cache entry; a hit returns a pointer into it.
 *
 * Cache. 2048 sets of 2 ways, indexed by the subject hash: eviction is a choice between two
 * slots, never a scan. An entry is live when its generation equals the sublist's; a change to
 * a wildcard sub bumps the generation, a change to a literal sub zeroes the generation of the
 * one entry it affects. Dead entries are freed only when a later miss reuses their slot, which
 * is what lets insert and remove leave earlier results readable (sublist.h). */
#include "broker/nats/sublist.h"

#include <string.h>

#include "base/base.h"

#define SL_CACHE_SETS 2048u /* x 2 ways = 4096 cached subjects */
#define SL_LEVEL_MIN_CAP 4u
#define SL_ARRAY_MIN_CAP 4u

enum sl_kind { SL_LITERAL, SL_PWC, SL_FWC };

struct sl_level;
struct sl_qnode;

struct sl_node {
    struct sl_level *parent; /* the level holding this node */
    struct sl_level *next;   /* children; NULL when there are none */
    struct sub **psubs;
    uint32_t psub_count, psub_cap;
    struct sl_qnode **qnodes;
    uint32_t qnode_count, qnode_cap;
    uint64_t hash; /* of the token, for literal nodes */
    uint32_t token_len;
    uint8_t kind;
    char token[]; /* literal nodes only */
};

struct sl_qnode {
    struct sl_node *node;
    uint32_t index; /* in node->qnodes */
    struct sub **members;
    uint32_t count, cap;
    uint32_t queue_len;
    char queue[];
};

struct sl_level {
    struct sl_node *owner; /* the node whose next this is; NULL for the root */
    struct sl_node **slots;
    uint32_t cap, count; /* literal children */
    struct sl_node *pwc, *fwc;
};

struct sl_centry {
    struct sublist_result result;
    const char *subject; /* inside this block */
    uint32_t subject_len;
};

/* The ways' hashes, generations and block sizes live in the set, one cache line, not in their
 * blocks: a subject that misses (every JetStream ack has its own) then loads one line, not three;
 * the blocks' loads were three quarters of sublist_match's time in a pull consume. */
struct sl_cset {
    _Alignas(64) struct sl_centry *way[2];
    uint64_t hash[2];
    uint64_t gen[2];  /* 0: dead */
    uint32_t size[2]; /* of the block, so a miss can refill an evicted entry in place */
    uint8_t mru;      /* the way hit or filled last: the other one is evicted first */
    uint32_t ghost;   /* tag of the last subject that missed with both ways live, see match_miss */
};
_Static_assert(sizeof(struct sl_cset) == 64, "a cache set is one cache line");

struct sl_token {
    const char *p;
    uint32_t len;
    uint64_t hash;
};

/* A queue group being assembled on a miss; members are (group, sub) picks sorted at pack time. */
struct sl_sgroup {
    const char *queue;
    uint32_t queue_len;
    uint32_t count;
    uint32_t fill;
};

struct sl_qpick {
    uint32_t group;
    struct sub *sub;
};

struct sublist {
    struct sl_level root;
    uint64_t gen; /* starts at 1 so that 0 marks a dead cache entry */
    uint32_t count;
    size_t node_count;
    struct sl_cset cache[SL_CACHE_SETS];
    /* Scratch for misses, kept to avoid allocating per walk. */
    struct sl_token *toks;
    uint32_t tok_count, tok_cap;
    const char *tok_next, *tok_end; /* the subject's part not yet split, and its end */
    bool tok_empty;                 /* a token split so far is empty */
    struct sub **spsubs;
    uint32_t spsub_count, spsub_cap;
    struct sl_sgroup *sgroups;
    uint32_t sgroup_count, sgroup_cap;
    struct sl_qpick *spicks;
    uint32_t spick_count, spick_cap;
    /* The result of a miss that was not cached, refilled by the next one; warm, unlike an
     * evicted way's block. */
    struct sl_centry *scratch;
    uint32_t scratch_size;
};

static const struct sublist_result sl_empty_result;

/* 8 bytes at a time with a murmur finalizer: subjects are short, and the low bits index both
 * the cache and the level tables, so they must depend on every byte. */
static inline uint64_t sl_hash(const char *p, size_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) v |= (uint64_t)(uint8_t)p[i] << (8 * i);
    h ^= v;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Grows *arr (elements of size elem) so that one more fits. */
static void *sl_grow(void *arr, uint32_t *cap, uint32_t count, size_t elem) {
    if (count < *cap) return arr;
    uint32_t ncap = *cap ? *cap * 2 : SL_ARRAY_MIN_CAP;
    SL_ASSERT(ncap > count);
    *cap = ncap;
    return sl_xrealloc(arr, (size_t)ncap * elem);
}

/* Halves a pointer array that has become mostly empty, so a subject that once had 100k subs
 * does not keep their memory. */
static void *sl_shrink(void *arr, uint32_t *cap, uint32_t count, size_t elem) {
    if (*cap <= 16 || count >= *cap / 4) return arr;
    *cap /= 2;
    return sl_xrealloc(arr, (size_t)*cap * elem);
}

/* ---- validity ---- */

static inline bool sl_is_space(char c) {
    /* nats-server's set; '\v' is accepted there too. */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

bool sublist_subject_valid(const char *s, size_t len) {
    if (len == 0) return false;
    bool after_fwc = false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (i == start || after_fwc) return false;
            if (i - start == 1 && s[start] == '>') after_fwc = true;
            start = i + 1;
        } else if (sl_is_space(s[i])) {
            return false;
        }
    }
    return true;
}

bool sublist_subject_literal(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if ((s[i] == '*' || s[i] == '>') && (i == 0 || s[i - 1] == '.') && (i + 1 == len || s[i + 1] == '.'))
            return false;
    }
    return true;
}

/* ---- levels ---- */

static struct sl_level *level_new(struct sl_node *owner) {
    struct sl_level *l = sl_xcalloc(1, sizeof(*l));
    l->owner = owner;
    return l;
}

static inline bool level_empty(const struct sl_level *l) { return l->count == 0 && !l->pwc && !l->fwc; }

static struct sl_node *level_find(const struct sl_level *l, const char *t, uint32_t len, uint64_t h) {
    if (l->cap == 0) return NULL;
    uint32_t mask = l->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        struct sl_node *n = l->slots[i];
        if (!n) return NULL;
        if (n->hash == h && n->token_len == len && memcmp(n->token, t, len) == 0) return n;
    }
}

static void level_place(struct sl_node **slots, uint32_t cap, struct sl_node *n) {
    uint32_t mask = cap - 1, i = (uint32_t)n->hash & mask;
    while (slots[i]) i = (i + 1) & mask;
    slots[i] = n;
}

static void level_resize(struct sl_level *l, uint32_t ncap) {
    struct sl_node **slots = sl_xcalloc(ncap, sizeof(*slots));
    for (uint32_t i = 0; i < l->cap; i++)
        if (l->slots[i]) level_place(slots, ncap, l->slots[i]);
    free(l->slots);
    l->slots = slots;
    l->cap = ncap;
}

static void level_add(struct sl_level *l, struct sl_node *n) {
    if ((l->count + 1) * 4 > l->cap * 3) level_resize(l, l->cap ? l->cap * 2 : SL_LEVEL_MIN_CAP);
    level_place(l->slots, l->cap, n);
    l->count++;
}

/* Backward-shift deletion: later entries of the probe run move into the hole, so lookups
 * never need tombstones. */
static void level_del(struct sl_level *l, struct sl_node *n) {
    uint32_t mask = l->cap - 1, i = (uint32_t)n->hash & mask;
    while (l->slots[i] != n) {
        SL_ASSERT(l->slots[i]);
        i = (i + 1) & mask;
    }
    l->slots[i] = NULL;
    for (uint32_t j = (i + 1) & mask; l->slots[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)l->slots[j]->hash & mask;
        /* Move j into the hole unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        l->slots[i] = l->slots[j];
        l->slots[j] = NULL;
        i = j;
    }
    l->count--;
    if (l->cap > 16 && l->count * 8 < l->cap) level_resize(l, l->cap / 2);
}

/* ---- nodes ---- */

static struct sl_node *node_new(struct sublist *sl, struct sl_level *parent, enum sl_kind kind, const char *t,
                                 uint32_t len, uint64_t h) {
    uint32_t tlen = kind == SL_LITERAL ? len : 0;
    struct sl_node *n = sl_xcalloc(1, sizeof(*n) + tlen);
    n->parent = parent;
    n->kind = (uint8_t)kind;
    n->hash = h;
    n->token_len = tlen;
    memcpy(n->token, t, tlen);
    sl->node_count++;
    return n;
}

/* The child of l for token t, created if missing. */
static struct sl_node *level_child(struct sublist *sl, struct sl_level *l, const char *t, uint32_t len) {
    if (len == 1 && t[0] == '*') {
        if (!l->pwc) l->pwc = node_new(sl, l, SL_PWC, t, len, 0);
        return l->pwc;
    }
    if (len == 1 && t[0] == '>') {
        if (!l->fwc) l->fwc = node_new(sl, l, SL_FWC, t, len, 0);
        return l->fwc;
    }
    uint64_t h = sl_hash(t, len);
    struct sl_node *n = level_find(l, t, len, h);
    if (!n) {
        n = node_new(sl, l, SL_LITERAL, t, len, h);
        level_add(l, n);
    }
    return n;
}

static void node_detach(struct sl_node *n) {
    struct sl_level *l = n->parent;
    if (n->kind == SL_PWC) l->pwc = NULL;
    else if (n->kind == SL_FWC) l->fwc = NULL;
    else level_del(l, n);
}

static void node_free(struct sublist *sl, struct sl_node *n) {
    free(n->psubs);
    for (uint32_t i = 0; i < n->qnode_count; i++) {
        free(n->qnodes[i]->members);
        free(n->qnodes[i]);
    }
    free(n->qnodes);
    free(n);
    sl->node_count--;
}

/* Frees empty nodes from n upwards: a node goes when it has no subs and no children, and a
 * level goes with the last of its children. The root level is never freed. */
static void node_prune(struct sublist *sl, struct sl_node *n) {
    while (n->psub_count == 0 && n->qnode_count == 0 && !n->next) {
        struct sl_level *l = n->parent;
        node_detach(n);
        node_free(sl, n);
        if (!l->owner || !level_empty(l)) return;
        n = l->owner;
        n->next = NULL;
        free(l->slots);
        free(l);
    }
}

static void level_free_all(struct sublist *sl, struct sl_level *l);

static void node_free_all(struct sublist *sl, struct sl_node *n) {
    if (n->next) {
        level_free_all(sl, n->next);
        free(n->next);
    }
    node_free(sl, n);
}

/* Frees everything below l, but not l itself. */
static void level_free_all(struct sublist *sl, struct sl_level *l) {
    for (uint32_t i = 0; i < l->cap; i++)
        if (l->slots[i]) node_free_all(sl, l->slots[i]);
    if (l->pwc) node_free_all(sl, l->pwc);
    if (l->fwc) node_free_all(sl, l->fwc);
    free(l->slots);
    memset(l, 0, sizeof(*l));
}

static void node_add_sub(struct sl_node *n, struct sub *s) {
    if (!s->queue) {
        n->psubs = sl_grow(n->psubs, &n->psub_cap, n->psub_count, sizeof(*n->psubs));
        s->sl_holder = n;
        s->sl_index = n->psub_count;
        n->psubs[n->psub_count++] = s;
        return;
    }
    struct sl_qnode *q = NULL;
    for (uint32_t i = 0; i < n->qnode_count && !q; i++) {
        struct sl_qnode *c = n->qnodes[i];
        if (c->queue_len == s->queue_len && memcmp(c->queue, s->queue, s->queue_len) == 0) q = c;
    }
    if (!q) {
        q = sl_xcalloc(1, sizeof(*q) + s->queue_len);
        q->node = n;
        q->queue_len = s->queue_len;
        memcpy(q->queue, s->queue, s->queue_len);
        n->qnodes = sl_grow(n->qnodes, &n->qnode_cap, n->qnode_count, sizeof(*n->qnodes));
        q->index = n->qnode_count;
        n->qnodes[n->qnode_count++] = q;
    }
    q->members = sl_grow(q->members, &q->cap, q->count, sizeof(*q->members));
    s->sl_holder = q;
    s->sl_index = q->count;
    q->members[q->count++] = s;
}

/* Swap-removes s from its holder; returns the node that held it. */
static struct sl_node *node_del_sub(struct sub *s) {
    if (!s->queue) {
        struct sl_node *n = s->sl_holder;
        SL_ASSERT(s->sl_index < n->psub_count && n->psubs[s->sl_index] == s);
        struct sub *last = n->psubs[--n->psub_count];
        n->psubs[s->sl_index] = last;
        last->sl_index = s->sl_index;
        n->psubs = sl_shrink(n->psubs, &n->psub_cap, n->psub_count, sizeof(*n->psubs));
        return n;
    }
    struct sl_qnode *q = s->sl_holder;
    struct sl_node *n = q->node;
    SL_ASSERT(s->sl_index < q->count && q->members[s->sl_index] == s);
    struct sub *last = q->members[--q->count];
    q->members[s->sl_index] = last;
    last->sl_index = s->sl_index;
    if (q->count > 0) {
        q->members = sl_shrink(q->members, &q->cap, q->count, sizeof(*q->members));
        return n;
    }
    struct sl_qnode *qlast = n->qnodes[--n->qnode_count];
    n->qnodes[q->index] = qlast;
    qlast->index = q->index;
    free(q->members);
    free(q);
    return n;
}

/* ---- cache ---- */

static inline bool centry_is(const struct sl_cset *set, int w, uint64_t gen, uint64_t h, const char *subject,
                             size_t len) {
    const struct sl_centry *e = set->way[w];
    return set->hash[w] == h && set->gen[w] == gen && e && e->subject_len == len &&
           memcmp(e->subject, subject, len) == 0;
}

/* A literal subscription subject can only match the identical published subject, so only that
 * entry dies; anything else may match many subjects, so every entry dies. */
static void cache_invalidate_for(struct sublist *sl, const struct sub *s) {
    if (!sublist_subject_literal(s->subject, s->subject_len)) {
        sl->gen++;
        return;
    }
    uint64_t h = sl_hash(s->subject, s->subject_len);
    struct sl_cset *set = &sl->cache[h & (SL_CACHE_SETS - 1)];
    for (int w = 0; w < 2; w++)
        if (centry_is(set, w, sl->gen, h, s->subject, s->subject_len)) set->gen[w] = 0;
}

/* ---- lifecycle, insert, remove ---- */

struct sublist *sublist_new(void) {
    struct sublist *sl = sl_xcalloc_aligned(_Alignof(struct sublist), sizeof(*sl));
    sl->gen = 1;
    return sl;
}

void sublist_free(struct sublist *sl) {
    if (!sl) return;
    level_free_all(sl, &sl->root);
    for (uint32_t i = 0; i < SL_CACHE_SETS; i++) {
        free(sl->cache[i].way[0]);
        free(sl->cache[i].way[1]);
    }
    free(sl->toks);
    free(sl->spsubs);
    free(sl->sgroups);
    free(sl->spicks);
    free(sl->scratch);
    free(sl);
}

int sublist_insert(struct sublist *sl, struct sub *s) {
    SL_ASSERT(!s->sl_list);
    SL_ASSERT(!s->queue || s->queue_len > 0);
    if (!sublist_subject_valid(s->subject, s->subject_len)) return -1;
    struct sl_level *l = &sl->root;
    struct sl_node *n = NULL;
    const char *p = s->subject, *end = s->subject + s->subject_len;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *tend = dot ? dot : end;
        n = level_child(sl, l, p, (uint32_t)(tend - p));
        if (!dot) break;
        if (!n->next) n->next = level_new(n);
        l = n->next;
        p = dot + 1;
    }
    node_add_sub(n, s);
    s->sl_list = sl;
    sl->count++;
    cache_invalidate_for(sl, s);
    return 0;
}

void sublist_remove(struct sublist *sl, struct sub *s) {
    if (!s->sl_list) return;
    SL_ASSERT(s->sl_list == sl);
    node_prune(sl, node_del_sub(s));
    s->sl_list = NULL;
    s->sl_holder = NULL;
    s->sl_index = 0;
    SL_ASSERT(sl->count > 0);
    sl->count--;
    cache_invalidate_for(sl, s);
}

uint32_t sublist_count(const struct sublist *sl) { return sl->count; }

size_t sublist_node_count(const struct sublist *sl) { return sl->node_count; }

/* ---- match ---- */

static void collect_node(struct sublist *sl, const struct sl_node *n) {
    for (uint32_t i = 0; i < n->psub_count; i++) {
        sl->spsubs = sl_grow(sl->spsubs, &sl->spsub_cap, sl->spsub_count, sizeof(*sl->spsubs));
        sl->spsubs[sl->spsub_count++] = n->psubs[i];
    }
    for (uint32_t i = 0; i < n->qnode_count; i++) {
        const struct sl_qnode *q = n->qnodes[i];
        /* Linear, like nats-server's findQSlot: few queue names match one subject. */
        uint32_t g = 0;
        while (g < sl->sgroup_count &&
               !(sl->sgroups[g].queue_len == q->queue_len && memcmp(sl->sgroups[g].queue, q->queue, q->queue_len) == 0))
            g++;
        if (g == sl->sgroup_count) {
            sl->sgroups = sl_grow(sl->sgroups, &sl->sgroup_cap, sl->sgroup_count, sizeof(*sl->sgroups));
            sl->sgroups[g] = (struct sl_sgroup){.queue = q->queue, .queue_len = q->queue_len};
            sl->sgroup_count++;
        }
        sl->sgroups[g].count += q->count;
        for (uint32_t m = 0; m < q->count; m++) {
            sl->spicks = sl_grow(sl->spicks, &sl->spick_cap, sl->spick_count, sizeof(*sl->spicks));
            sl->spicks[sl->spick_count++] = (struct sl_qpick){.group = g, .sub = q->members[m]};
        }
    }
}

/* Token i of the subject being matched, split and hashed on first use: a walk that stops early
 * (an ack subject's five numbers after "$JS.ACK.<stream>.<consumer>", where only a '>' matches)
 * never splits the rest. An empty token is noted (tokens_valid) and walked as a token no
 * subscription has. */
static const struct sl_token *tok_at(struct sublist *sl, uint32_t i) {
    while (sl->tok_count <= i) {
        SL_ASSERT(sl->tok_next && sl->tok_next < sl->tok_end);
        const char *p = sl->tok_next;
        const char *dot = memchr(p, '.', (size_t)(sl->tok_end - p));
        const char *stop = dot ? dot : sl->tok_end;
        if (stop == p) sl->tok_empty = true;
        sl->toks = sl_grow(sl->toks, &sl->tok_cap, sl->tok_count, sizeof(*sl->toks));
        uint32_t tl = (uint32_t)(stop - p);
        sl->toks[sl->tok_count++] = (struct sl_token){.p = p, .len = tl, .hash = sl_hash(p, tl)};
        sl->tok_next = dot ? dot + 1 : NULL;
    }
    return &sl->toks[i];
}

/* Walks the levels for tokens i.. of the subject. Each trie node is reached by at most one path,
 * so each sub is collected at most once. */
static void match_level(struct sublist *sl, const struct sl_level *l, uint32_t i) {
    for (;;) {
        const struct sl_token *t = tok_at(sl, i);
        bool last = t->p + t->len == sl->tok_end;
        if (l->fwc) collect_node(sl, l->fwc);
        if (l->pwc) {
            if (last) collect_node(sl, l->pwc);
            else if (l->pwc->next) match_level(sl, l->pwc->next, i + 1);
        }
        const struct sl_node *n = level_find(l, t->p, t->len, t->hash);
        if (!n) return;
        if (last) {
            collect_node(sl, n);
            return;
        }
        if (!n->next) return;
        l = n->next;
        i++;
    }
}

/* Starts splitting a published subject (tok_at does the splitting); false when the first or
 * last token is empty. */
static bool tokens_begin(struct sublist *sl, const char *subject, size_t len) {
    if (len == 0 || subject[0] == '.' || subject[len - 1] == '.') return false;
    sl->tok_count = 0;
    sl->tok_next = subject;
    sl->tok_end = subject + len;
    sl->tok_empty = false;
    return true;
}

/* After a walk: whether no token is empty, the part never split included (nats-server matches
 * nothing for "a..b", and a walk can collect a '>' before reaching the empty token). */
static bool tokens_valid(const struct sublist *sl) {
    if (sl->tok_empty) return false;
    if (!sl->tok_next) return true;
    if (sl->tok_next[0] == '.') return false;
    for (const char *p = sl->tok_next; p + 1 < sl->tok_end; p++)
        if (p[0] == '.' && p[1] == '.') return false;
    return true;
}

/* Packs the scratch arrays into one block: header, psubs, qgroups, members, names, subject.
 * reuse is the evicted entry (or NULL): its block is refilled when big enough, so that a stream
 * of subjects that never repeat (every JetStream ack has its own) allocates nothing; otherwise
 * it is freed. No result of an earlier match is live here (sublist_match's contract). */
static struct sl_centry *pack_result(struct sublist *sl, struct sl_centry *reuse, uint32_t *reuse_size,
                                     const char *subject, size_t len) {
    size_t names = 0;
    for (uint32_t g = 0; g < sl->sgroup_count; g++) names += sl->sgroups[g].queue_len;
    size_t size = sizeof(struct sl_centry) + (size_t)sl->spsub_count * sizeof(struct sub *) +
                  (size_t)sl->sgroup_count * sizeof(struct sublist_qgroup) +
                  (size_t)sl->spick_count * sizeof(struct sub *) + names + len;
    struct sl_centry *e = reuse;
    if (!e || *reuse_size < size) {
        free(reuse);
        /* Rounded up so that subjects of about the same shape fit the block next time. */
        size = (size + 127) & ~(size_t)127;
        e = sl_xmalloc(size);
        *reuse_size = size <= UINT32_MAX ? (uint32_t)size : 0;
    }
    struct sub **psubs = (struct sub **)(e + 1);
    struct sublist_qgroup *groups = (struct sublist_qgroup *)(psubs + sl->spsub_count);
    struct sub **members = (struct sub **)(groups + sl->sgroup_count);
    char *chars = (char *)(members + sl->spick_count);

    if (sl->spsub_count) memcpy(psubs, sl->spsubs, (size_t)sl->spsub_count * sizeof(*psubs));
    uint32_t at = 0;
    for (uint32_t g = 0; g < sl->sgroup_count; g++) {
        struct sl_sgroup *sg = &sl->sgroups[g];
        memcpy(chars, sg->queue, sg->queue_len);
        groups[g] = (struct sublist_qgroup){.queue = chars, .queue_len = sg->queue_len, .members = members + at,
                                            .count = sg->count};
        chars += sg->queue_len;
        sg->fill = 0;
        at += sg->count;
    }
    SL_ASSERT(at == sl->spick_count);
    for (uint32_t k = 0; k < sl->spick_count; k++) {
        const struct sl_qpick *pk = &sl->spicks[k];
        groups[pk->group].members[sl->sgroups[pk->group].fill++] = pk->sub;
    }
    memcpy(chars, subject, len);

    e->subject = chars;
    e->subject_len = (uint32_t)len;
    e->result = (struct sublist_result){
        .psubs = sl->spsub_count ? psubs : NULL,
        .psub_count = sl->spsub_count,
        .qgroups = sl->sgroup_count ? groups : NULL,
        .qgroup_count = sl->sgroup_count,
    };
    return e;
}

static const struct sublist_result *match_miss(struct sublist *sl, struct sl_cset *set, uint64_t h,
                                               const char *subject, size_t len) {
    if (len > UINT32_MAX || !tokens_begin(sl, subject, len)) return &sl_empty_result;
    sl->spsub_count = sl->sgroup_count = sl->spick_count = 0;
    match_level(sl, &sl->root, 0);
    if (!tokens_valid(sl)) return &sl_empty_result;

    /* A subject enters a set whose ways are both live only on its second miss in a row there
     * (the ghost): subjects that never repeat, one per JetStream ack, would otherwise evict
     * subjects that do, and every one of them would write a cold block. */
    uint32_t tag = (uint32_t)(h >> 32) | 1u;
    if (set->way[0] && set->way[1] && set->gen[0] == sl->gen && set->gen[1] == sl->gen && set->ghost != tag) {
        set->ghost = tag;
        sl->scratch = pack_result(sl, sl->scratch, &sl->scratch_size, subject, len);
        return &sl->scratch->result;
    }
    set->ghost = 0;
    /* Victim: an empty way, else a dead one, else the one not used last. */
    int w;
    if (!set->way[0]) w = 0;
    else if (!set->way[1]) w = 1;
    else if (set->gen[0] != sl->gen) w = 0;
    else if (set->gen[1] != sl->gen) w = 1;
    else w = !set->mru;
    struct sl_centry *e = pack_result(sl, set->way[w], &set->size[w], subject, len);
    set->way[w] = e;
    set->hash[w] = h;
    set->gen[w] = sl->gen;
    set->mru = (uint8_t)w;
    return &e->result;
}

bool sublist_any(struct sublist *sl, const char *subject, size_t len, bool (*fn)(const struct sub *s, void *arg),
                 void *arg) {
    /* The scratch arrays are only ever live inside one match: a packed result never points
     * into them, so refilling them here is safe. */
    if (len == 0 || len > UINT32_MAX || !tokens_begin(sl, subject, len)) return false;
    sl->spsub_count = sl->sgroup_count = sl->spick_count = 0;
    match_level(sl, &sl->root, 0);
    if (!tokens_valid(sl)) return false;
    for (uint32_t i = 0; i < sl->spsub_count; i++)
        if (fn(sl->spsubs[i], arg)) return true;
    for (uint32_t k = 0; k < sl->spick_count; k++)
        if (fn(sl->spicks[k].sub, arg)) return true;
    return false;
}

const struct sublist_result *sublist_match(struct sublist *sl, const char *subject, size_t len) {
    if (len == 0) return &sl_empty_result;
    uint64_t h = sl_hash(subject, len);
    struct sl_cset *set = &sl->cache[h & (SL_CACHE_SETS - 1)];
    for (int w = 0; w < 2; w++) {
        if (centry_is(set, w, sl->gen, h, subject, len)) {
            set->mru = (uint8_t)w;
            return &set->way[w]->result;
        }
    }
    return match_miss(sl, set, h, subject, len);
}
