/* broker_sublist_test.c: broker/sublist.c: subject validity, the matching examples checked
 * against nats-server 2.9.10 (docs/nats-subset.md section 9), queue grouping, the insert/remove
 * lifecycle, a randomized cross-check against a naive matcher (with removals, so the cache's
 * invalidation is exercised), 100k subscriptions, and a printed cache-hit benchmark. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/nats/sublist.h"

/* Check writes a record for every passing ck_assert; the loops below assert millions of times,
 * so they only call into Check on failure. */
#define FAST_ASSERT(cond, ...)                                                                  \
    do {                                                                                        \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                                                 \
    } while (0)

static struct sub mk(const char *subject, const char *queue) {
    return (struct sub){
        .subject = subject,
        .subject_len = (uint32_t)strlen(subject),
        .queue = queue,
        .queue_len = queue ? (uint32_t)strlen(queue) : 0,
    };
}

static const struct sublist_result *match(struct sublist *sl, const char *subject) {
    return sublist_match(sl, subject, strlen(subject));
}

static bool result_has_psub(const struct sublist_result *r, const struct sub *s) {
    for (uint32_t i = 0; i < r->psub_count; i++)
        if (r->psubs[i] == s) return true;
    return false;
}

static const struct sublist_qgroup *result_group(const struct sublist_result *r, const char *queue) {
    for (uint32_t i = 0; i < r->qgroup_count; i++)
        if (r->qgroups[i].queue_len == strlen(queue) && memcmp(r->qgroups[i].queue, queue, strlen(queue)) == 0)
            return &r->qgroups[i];
    return NULL;
}

static bool group_has(const struct sublist_qgroup *g, const struct sub *s) {
    for (uint32_t i = 0; g && i < g->count; i++)
        if (g->members[i] == s) return true;
    return false;
}

/* ---- validity ---- */

static const struct {
    const char *subject;
    bool valid, literal;
} subjects[] = {
    {"foo", true, true},          {"foo.bar", true, true},    {"foo.*", true, false},
    {"foo.>", true, false},       {"*", true, false},         {">", true, false},
    {"*.>", true, false},         {"*.*.bar", true, false},   {"a*.b", true, true},
    {"a>b.c", true, true},        {"a.b*", true, true},       {"foo.>x", true, true},
    {"$JS.API.INFO", true, true}, {"_INBOX.abc.*", true, false}, {"a..b", false, true},
    {".a", false, true},          {"a.", false, true},        {".", false, true},
    {"a.>.b", false, false},      {">.a", false, false},      {">.>", false, false},
    {"", false, true},            {"a b", false, true},       {"a.\tb", false, true},
    {"a\r", false, true},         {"a.b\n", false, true},     {"a\f.b", false, true},
    {" ", false, true},           {"a.*.>", true, false},     {"**", true, true},
};

START_TEST(test_validity_table) {
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        const char *s = subjects[i].subject;
        ck_assert_msg(sublist_subject_valid(s, strlen(s)) == subjects[i].valid, "valid(\"%s\")", s);
        ck_assert_msg(sublist_subject_literal(s, strlen(s)) == subjects[i].literal, "literal(\"%s\")", s);
    }
    /* The length, not the NUL, ends the subject. */
    ck_assert(sublist_subject_valid("foo.bar", 3));
    ck_assert(!sublist_subject_valid("foo.bar", 4));
    ck_assert(!sublist_subject_literal("foo.*", 5));
    ck_assert(sublist_subject_literal("foo.*", 4));
}
END_TEST

START_TEST(test_insert_invalid) {
    struct sublist *sl = sublist_new();
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        struct sub s = mk(subjects[i].subject, NULL);
        ck_assert_int_eq(sublist_insert(sl, &s), subjects[i].valid ? 0 : -1);
        if (!subjects[i].valid) ck_assert_ptr_null(s.sl_list);
        sublist_remove(sl, &s); /* harmless for the rejected ones */
    }
    ck_assert_uint_eq(sublist_count(sl), 0);
    ck_assert_uint_eq(sublist_node_count(sl), 0);
    sublist_free(sl);
}
END_TEST

/* ---- matching examples (nats-subset.md section 9) ---- */

struct expect {
    const char *sub, *pub;
    bool matches;
};

static const struct expect examples[] = {
    {"orders.*", "orders.created", true},
    {"orders.*", "orders.shipped", true},
    {"orders.*", "orders", false},
    {"orders.*", "orders.eu.created", false},
    {"orders.>", "orders.created", true},
    {"orders.>", "orders.eu.created", true},
    {"orders.>", "orders.created.x", true},
    {"orders.>", "orders", false},
    {"*.created", "orders.created", true},
    {"*.created", "users.created", true},
    {"*.created", "ordersX.created", true},
    {"*.created", "orders.eu.created", false},
    {"*.created", "created", false},
    {"*.>", "orders.created", true},
    {"*.>", "a.b.c.d", true},
    {"*.>", "orders", false},
    {">", "a", true},
    {">", "a.b.c", true},
    {"*", "a", true},
    {"*", "a.b", false},
    /* A published wildcard is a literal token. */
    {"orders.*", "orders.*", true},
    {"orders.>", "orders.*", true},
    {"*.>", "orders.*", true},
    {"orders.created", "orders.*", false},
    {"orders.*", "orders.>", true},
    {"orders.created", "orders.>", false},
    {"orders.>", "orders.>", true},
    /* Partial-token wildcards are literal. */
    {"a*.b", "a*.b", true},
    {"a*.b", "ax.b", false},
    {"a>b", "a>b", true},
    {"a>b", "axb", false},
    {"foo.>x", "foo.>x", true},
    {"foo.>x", "foo.a", false},
    /* Case-sensitive, byte-exact. */
    {"orders.*", "Orders.created", false},
    {"Orders.created", "orders.created", false},
    {"orders.created", "orders.created", true},
    {"orders.created", "orders.create", false},
    {"orders.create", "orders.created", false},
    /* Empty tokens in a publish match nothing. */
    {">", "a..b", false},
    {">", ".a", false},
    {">", "a.", false},
    /* ... also past the point where the walk stops (the subject is split lazily). */
    {"a.>", "a.b.c..d", false},
    {"a.>", "a..b.c", false},
    {"$JS.ACK.S.C.>", "$JS.ACK.S.C.1.2.3..5", false},
    {"$JS.ACK.S.C.>", "$JS.ACK.S.C.1.2.3.4.5", true},
    {"a.b", "a.b..c", false},
    {"*.*", "a.b", true},
    {"*.*", "a.b.c", false},
    {"a.*.c", "a.b.c", true},
    {"a.*.c", "a.b.d", false},
    {"_INBOX.abc.*", "_INBOX.abc.Xy12", true},
};

START_TEST(test_examples) {
    for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        struct sublist *sl = sublist_new();
        struct sub s = mk(examples[i].sub, NULL);
        ck_assert_int_eq(sublist_insert(sl, &s), 0);
        for (int round = 0; round < 2; round++) { /* miss, then cache hit */
            const struct sublist_result *r = match(sl, examples[i].pub);
            ck_assert_msg(r->psub_count == (examples[i].matches ? 1u : 0u), "SUB %s, PUB %s: %u matches",
                          examples[i].sub, examples[i].pub, r->psub_count);
            ck_assert_uint_eq(r->qgroup_count, 0);
            if (examples[i].matches) ck_assert_ptr_eq(r->psubs[0], &s);
        }
        sublist_remove(sl, &s);
        ck_assert_uint_eq(match(sl, examples[i].pub)->psub_count, 0);
        sublist_free(sl);
    }
}
END_TEST

/* The examples again, all subscriptions in one sublist: each publish gets exactly its set. */
START_TEST(test_examples_together) {
    struct sublist *sl = sublist_new();
    size_t n = sizeof(examples) / sizeof(examples[0]);
    struct sub *subs = calloc(n, sizeof(*subs));
    for (size_t i = 0; i < n; i++) {
        subs[i] = mk(examples[i].sub, NULL);
        ck_assert_int_eq(sublist_insert(sl, &subs[i]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        const struct sublist_result *r = match(sl, examples[i].pub);
        for (size_t j = 0; j < n; j++) {
            if (strcmp(examples[j].pub, examples[i].pub) != 0) continue;
            ck_assert_msg(result_has_psub(r, &subs[j]) == examples[j].matches, "SUB %s, PUB %s", examples[j].sub,
                          examples[j].pub);
        }
    }
    for (size_t i = 0; i < n; i++) sublist_remove(sl, &subs[i]);
    ck_assert_uint_eq(sublist_count(sl), 0);
    ck_assert_uint_eq(sublist_node_count(sl), 0);
    free(subs);
    sublist_free(sl);
}
END_TEST

/* ---- queue groups, owners ---- */

START_TEST(test_queue_grouping) {
    struct sublist *sl = sublist_new();
    struct sub a = mk("foo.bar", "q1"), b = mk("foo.bar", "q1"), c = mk("foo.*", "q1");
    struct sub d = mk("foo.>", "q2"), e = mk("foo.bar", "q2"), f = mk("foo.bar", NULL);
    struct sub g = mk("foo.*", NULL), h = mk("foo.bar", "q"), x = mk("foo.baz", "q1");
    struct sub *all[] = {&a, &b, &c, &d, &e, &f, &g, &h, &x};
    for (size_t i = 0; i < 9; i++) ck_assert_int_eq(sublist_insert(sl, all[i]), 0);
    ck_assert_uint_eq(sublist_count(sl), 9);

    const struct sublist_result *r = match(sl, "foo.bar");
    ck_assert_uint_eq(r->psub_count, 2);
    ck_assert(result_has_psub(r, &f) && result_has_psub(r, &g));
    ck_assert_uint_eq(r->qgroup_count, 3);
    const struct sublist_qgroup *q1 = result_group(r, "q1"), *q2 = result_group(r, "q2"), *q = result_group(r, "q");
    ck_assert_ptr_nonnull(q1);
    ck_assert_ptr_nonnull(q2);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(q1->count, 3);
    ck_assert(group_has(q1, &a) && group_has(q1, &b) && group_has(q1, &c));
    ck_assert_uint_eq(q2->count, 2);
    ck_assert(group_has(q2, &d) && group_has(q2, &e));
    ck_assert_uint_eq(q->count, 1);
    ck_assert(group_has(q, &h));

    /* Two groups once the literal q1 members and q are gone; q1 lives on through foo.*. */
    sublist_remove(sl, &a);
    sublist_remove(sl, &b);
    sublist_remove(sl, &h);
    r = match(sl, "foo.bar");
    ck_assert_uint_eq(r->qgroup_count, 2);
    ck_assert_uint_eq(result_group(r, "q1")->count, 1);
    ck_assert(group_has(result_group(r, "q1"), &c));
    ck_assert_uint_eq(result_group(r, "q2")->count, 2);

    r = match(sl, "foo.baz");
    ck_assert_uint_eq(r->psub_count, 1);
    ck_assert_uint_eq(r->qgroup_count, 2);
    ck_assert_uint_eq(result_group(r, "q1")->count, 2); /* c and x */
    ck_assert_uint_eq(result_group(r, "q2")->count, 1);

    for (size_t i = 0; i < 9; i++) sublist_remove(sl, all[i]);
    ck_assert_uint_eq(sublist_count(sl), 0);
    ck_assert_uint_eq(sublist_node_count(sl), 0);
    sublist_free(sl);
}
END_TEST

static bool any_is(const struct sub *s, void *arg) { return s == arg; }
static bool any_true(const struct sub *s, void *arg) { (void)s, (void)arg; return true; }

/* sublist_any walks the trie without the cache: a result in hand stays valid, even when the
 * subjects asked for would evict it from a cached match. */
START_TEST(test_any_leaves_results_valid) {
    struct sublist *sl = sublist_new();
    struct sub a = mk("in.*", NULL), b = mk("in.x", "q"), c = mk("other", NULL);
    ck_assert_int_eq(sublist_insert(sl, &a), 0);
    ck_assert_int_eq(sublist_insert(sl, &b), 0);
    ck_assert_int_eq(sublist_insert(sl, &c), 0);
    const struct sublist_result *r = match(sl, "other");
    ck_assert(sublist_any(sl, "in.x", 4, any_is, &a));
    ck_assert(sublist_any(sl, "in.x", 4, any_is, &b)); /* queue members count */
    ck_assert(!sublist_any(sl, "in.x", 4, any_is, &c));
    ck_assert(!sublist_any(sl, "in.x.y", 6, any_true, NULL));
    ck_assert(!sublist_any(sl, "in..x", 5, any_true, NULL));
    ck_assert(!sublist_any(sl, "", 0, any_true, NULL));
    char subj[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(subj, sizeof subj, "in.%d", i);
        FAST_ASSERT(sublist_any(sl, subj, (size_t)n, any_is, &a), "in.%d", i);
    }
    ck_assert_uint_eq(r->psub_count, 1);
    ck_assert_ptr_eq(r->psubs[0], &c);
    sublist_remove(sl, &a);
    ck_assert(!sublist_any(sl, "in.y", 4, any_true, NULL));
    ck_assert(sublist_any(sl, "in.x", 4, any_true, NULL));
    sublist_remove(sl, &b);
    sublist_remove(sl, &c);
    sublist_free(sl);
}
END_TEST

START_TEST(test_same_owner_several_subs) {
    struct sublist *sl = sublist_new();
    int conn;
    struct sub a = mk("foo.bar", NULL), b = mk("foo.*", NULL), c = mk("foo.bar", NULL);
    a.owner = b.owner = c.owner = &conn;
    a.sid_or_id = 1, b.sid_or_id = 2, c.sid_or_id = 3;
    ck_assert_int_eq(sublist_insert(sl, &a), 0);
    ck_assert_int_eq(sublist_insert(sl, &b), 0);
    ck_assert_int_eq(sublist_insert(sl, &c), 0);
    const struct sublist_result *r = match(sl, "foo.bar");
    ck_assert_uint_eq(r->psub_count, 3);
    uint64_t sids = 0;
    for (uint32_t i = 0; i < r->psub_count; i++) {
        ck_assert_ptr_eq(r->psubs[i]->owner, &conn);
        sids |= 1u << r->psubs[i]->sid_or_id;
    }
    ck_assert_uint_eq(sids, 0xe);
    sublist_free(sl);
}
END_TEST

/* ---- lifecycle ---- */

START_TEST(test_reinsert_same_pointer) {
    struct sublist *sl = sublist_new();
    struct sub s = mk("a.b", NULL);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(sublist_insert(sl, &s), 0);
        ck_assert_uint_eq(sublist_count(sl), 1);
        ck_assert_uint_eq(match(sl, "a.b")->psub_count, 1);
        ck_assert_ptr_eq(match(sl, "a.b")->psubs[0], &s);
        sublist_remove(sl, &s);
        ck_assert_uint_eq(sublist_count(sl), 0);
        ck_assert_uint_eq(match(sl, "a.b")->psub_count, 0);
        sublist_remove(sl, &s); /* twice: ignored */
        ck_assert_uint_eq(sublist_count(sl), 0);
    }
    /* The same struct, now as a queue sub on a wildcard subject. */
    s = mk("a.*", "q");
    ck_assert_int_eq(sublist_insert(sl, &s), 0);
    ck_assert_uint_eq(match(sl, "a.b")->qgroup_count, 1);
    sublist_remove(sl, &s);
    ck_assert_uint_eq(match(sl, "a.b")->qgroup_count, 0);
    ck_assert_uint_eq(sublist_node_count(sl), 0);
    sublist_free(sl);
}
END_TEST

START_TEST(test_remove_never_inserted) {
    struct sublist *sl = sublist_new();
    struct sub in = mk("a.b", NULL), out = mk("a.b", NULL), outq = mk("a.b", "q");
    ck_assert_int_eq(sublist_insert(sl, &in), 0);
    ck_assert_uint_eq(match(sl, "a.b")->psub_count, 1);
    sublist_remove(sl, &out);
    sublist_remove(sl, &outq);
    ck_assert_uint_eq(sublist_count(sl), 1);
    ck_assert_uint_eq(match(sl, "a.b")->psub_count, 1);
    ck_assert_ptr_eq(match(sl, "a.b")->psubs[0], &in);
    sublist_free(sl);
}
END_TEST

/* The documented lifetime: insert/remove never free a returned result; its contents are the
 * state at match time. (Under ASan a freed result would be reported here.) */
START_TEST(test_result_lifetime) {
    struct sublist *sl = sublist_new();
    struct sub a = mk("x.y", NULL), w = mk("x.*", NULL), b = mk("x.y", NULL);
    ck_assert_int_eq(sublist_insert(sl, &a), 0);
    const struct sublist_result *r = match(sl, "x.y");
    ck_assert_int_eq(sublist_insert(sl, &w), 0); /* wildcard: whole cache invalidated */
    ck_assert_int_eq(sublist_insert(sl, &b), 0); /* literal: this subject's entry invalidated */
    sublist_remove(sl, &a);
    ck_assert_uint_eq(r->psub_count, 1);
    ck_assert_ptr_eq(r->psubs[0], &a);
    r = match(sl, "x.y");
    ck_assert_uint_eq(r->psub_count, 2);
    ck_assert(result_has_psub(r, &w) && result_has_psub(r, &b));
    sublist_free(sl);
}
END_TEST

/* A literal sub invalidates only its own subject; other cached subjects stay right. */
START_TEST(test_literal_invalidation) {
    struct sublist *sl = sublist_new();
    struct sub w = mk("i.*", NULL);
    ck_assert_int_eq(sublist_insert(sl, &w), 0);
    ck_assert_uint_eq(match(sl, "i.a")->psub_count, 1);
    ck_assert_uint_eq(match(sl, "i.b")->psub_count, 1);
    struct sub la = mk("i.a", NULL);
    ck_assert_int_eq(sublist_insert(sl, &la), 0);
    ck_assert_uint_eq(match(sl, "i.a")->psub_count, 2);
    ck_assert_uint_eq(match(sl, "i.b")->psub_count, 1);
    sublist_remove(sl, &la);
    ck_assert_uint_eq(match(sl, "i.a")->psub_count, 1);
    sublist_remove(sl, &w);
    ck_assert_uint_eq(match(sl, "i.a")->psub_count, 0);
    ck_assert_uint_eq(match(sl, "i.b")->psub_count, 0);
    sublist_free(sl);
}
END_TEST

/* More distinct subjects than the cache holds: evicted entries are rebuilt correctly. */
START_TEST(test_cache_eviction) {
    struct sublist *sl = sublist_new();
    struct sub w = mk("e.*", NULL), l7 = mk("e.7", NULL);
    ck_assert_int_eq(sublist_insert(sl, &w), 0);
    ck_assert_int_eq(sublist_insert(sl, &l7), 0);
    char subj[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10000; i++) {
            int len = snprintf(subj, sizeof(subj), "e.%d", i);
            const struct sublist_result *r = sublist_match(sl, subj, (size_t)len);
            FAST_ASSERT(r->psub_count == (i == 7 ? 2u : 1u), "%s: %u", subj, r->psub_count);
        }
    }
    sublist_free(sl);
}
END_TEST

/* Subjects that never repeat (one per JetStream ack) do not push out a subject that does: once
 * the cache is full, a subject is cached on its second miss in a row, and the one-off subjects
 * after it leave it where it is, each answered right. */
START_TEST(test_cache_one_off_subjects) {
    struct sublist *sl = sublist_new();
    struct sub acks = mk("ack.>", NULL), hot = mk("hot.x", NULL), any = mk("*.x", NULL);
    ck_assert_int_eq(sublist_insert(sl, &acks), 0);
    ck_assert_int_eq(sublist_insert(sl, &hot), 0);
    ck_assert_int_eq(sublist_insert(sl, &any), 0);
    char subj[32];
    int n = 0;
    for (; n < 50000; n++) { /* fills every set with high probability (24 per set on average) */
        int len = snprintf(subj, sizeof(subj), "ack.%d.1", n);
        const struct sublist_result *r = sublist_match(sl, subj, (size_t)len);
        FAST_ASSERT(r->psub_count == 1 && r->psubs[0] == &acks, "%s", subj);
    }
    const struct sublist_result *first = sublist_match(sl, "hot.x", 5);
    ck_assert_uint_eq(first->psub_count, 2);
    const struct sublist_result *cached = sublist_match(sl, "hot.x", 5);
    ck_assert_uint_eq(cached->psub_count, 2);
    for (int i = 0; i < 20000; i++, n++) {
        int len = snprintf(subj, sizeof(subj), "ack.%d.1", n);
        const struct sublist_result *r = sublist_match(sl, subj, (size_t)len);
        FAST_ASSERT(r->psub_count == 1 && r->psubs[0] == &acks, "%s", subj);
        r = sublist_match(sl, "hot.x", 5);
        FAST_ASSERT(r == cached && r->psub_count == 2, "hot.x evicted after %d one-off subjects", i);
    }
    /* A wildcard change empties the cache: the next one-off subjects are cached again, and
     * their answers follow the change. */
    sublist_remove(sl, &any);
    for (int i = 0; i < 10000; i++, n++) {
        int len = snprintf(subj, sizeof(subj), "ack.%d.x", n);
        const struct sublist_result *r = sublist_match(sl, subj, (size_t)len);
        FAST_ASSERT(r->psub_count == 1 && r->psubs[0] == &acks, "%s", subj);
    }
    ck_assert_uint_eq(sublist_match(sl, "hot.x", 5)->psub_count, 1);
    sublist_free(sl);
}
END_TEST

/* ---- randomized cross-check ---- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void random_subject(char *out, bool publish) {
    static const char *sub_toks[] = {"a", "b", "c", "*", "ab"};
    static const char *pub_toks[] = {"a", "b", "c", "*", ">", "ab", "a*"};
    uint32_t n = 1 + rnd(4);
    out[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i) strcat(out, ".");
        if (!publish && i + 1 == n && rnd(4) == 0) strcat(out, ">");
        else if (publish) strcat(out, pub_toks[rnd(7)]);
        else strcat(out, sub_toks[rnd(5)]);
    }
}

/* The definition, token by token. */
static bool naive_match(const char *sub, const char *pub) {
    char sb[64], pb[64];
    char *st[8], *pt[8];
    int ns = 0, np = 0;
    strcpy(sb, sub);
    strcpy(pb, pub);
    for (char *t = strtok(sb, "."); t; t = strtok(NULL, ".")) st[ns++] = t;
    for (char *t = strtok(pb, "."); t; t = strtok(NULL, ".")) pt[np++] = t;
    for (int i = 0; i < ns; i++) {
        if (strcmp(st[i], ">") == 0) return np > i;
        if (i >= np) return false;
        if (strcmp(st[i], "*") != 0 && strcmp(st[i], pt[i]) != 0) return false;
    }
    return ns == np;
}

struct live {
    struct sub s;
    char subject[64];
    const char *queue;
    bool in;
};

static void check_against_naive(struct sublist *sl, struct live *subs, int n, const char *pub) {
    const struct sublist_result *r = match(sl, pub);
    uint32_t want_p = 0, want_q = 0;
    static const char *queues[] = {"q1", "q2", "q"};
    bool group_expected[3] = {false, false, false};
    for (int i = 0; i < n; i++) {
        if (!subs[i].in || !naive_match(subs[i].subject, pub)) {
            FAST_ASSERT(!result_has_psub(r, &subs[i].s), "SUB %s extra for PUB %s", subs[i].subject, pub);
            for (uint32_t g = 0; g < r->qgroup_count; g++) 
                FAST_ASSERT(!group_has(&r->qgroups[g], &subs[i].s), "QSUB %s extra for PUB %s", subs[i].subject, pub);
            continue;
        }
        if (!subs[i].queue) {
            want_p++;
            FAST_ASSERT(result_has_psub(r, &subs[i].s), "SUB %s missing for PUB %s", subs[i].subject, pub);
            continue;
        }
        want_q++;
        const struct sublist_qgroup *g = result_group(r, subs[i].queue);
        FAST_ASSERT(group_has(g, &subs[i].s), "SUB %s %s missing for PUB %s", subs[i].subject, subs[i].queue, pub);
        for (int k = 0; k < 3; k++)
            if (strcmp(queues[k], subs[i].queue) == 0) group_expected[k] = true;
    }
    FAST_ASSERT(r->psub_count == want_p, "PUB %s: %u plain, want %u", pub, r->psub_count, want_p); /* so no duplicates either */
    uint32_t got_q = 0, groups = 0;
    for (uint32_t g = 0; g < r->qgroup_count; g++) {
        FAST_ASSERT(r->qgroups[g].count >= 1, "empty group");
        got_q += r->qgroups[g].count;
        for (uint32_t m = 0; m < r->qgroups[g].count; m++) {
            const struct sub *s = r->qgroups[g].members[m];
            FAST_ASSERT(s->queue_len == r->qgroups[g].queue_len && memcmp(s->queue, r->qgroups[g].queue, s->queue_len) == 0,
                        "member of the wrong group");
        }
    }
    for (int k = 0; k < 3; k++) groups += group_expected[k];
    FAST_ASSERT(got_q == want_q, "PUB %s: %u queue members, want %u", pub, got_q, want_q);
    FAST_ASSERT(r->qgroup_count == groups, "PUB %s: %u groups, want %u", pub, r->qgroup_count, groups); /* one group per queue name */
}

START_TEST(test_cross_check_random) {
    enum { SUBS = 400, OPS = 40000 };
    static const char *queues[] = {"q1", "q2", "q"};
    rng_state = 0x5eed0000u + (uint64_t)_i;
    struct sublist *sl = sublist_new();
    struct live *subs = calloc(SUBS, sizeof(*subs));
    uint32_t live = 0;
    /* A small fixed set of publish subjects, so most matches are cache hits. */
    char pubs[64][64];
    for (int i = 0; i < 64; i++) random_subject(pubs[i], true);
    for (int op = 0; op < OPS; op++) {
        uint32_t k = rnd(100);
        struct live *l = &subs[rnd(SUBS)];
        if (k < 20 && !l->in) {
            random_subject(l->subject, false);
            l->queue = rnd(2) ? NULL : queues[rnd(3)];
            l->s = mk(l->subject, l->queue);
            FAST_ASSERT(sublist_insert(sl, &l->s) == 0, "insert %s", l->subject);
            l->in = true;
            live++;
        } else if (k < 35 && l->in) {
            sublist_remove(sl, &l->s);
            l->in = false;
            live--;
        } else {
            check_against_naive(sl, subs, SUBS, pubs[rnd(64)]);
        }
        FAST_ASSERT(sublist_count(sl) == live, "count %u, want %u", sublist_count(sl), live);
    }
    for (int i = 0; i < 64; i++) check_against_naive(sl, subs, SUBS, pubs[i]);
    for (int i = 0; i < SUBS; i++) {
        sublist_remove(sl, &subs[i].s); /* also the never-inserted, zeroed ones */
        subs[i].in = false;
    }
    ck_assert_uint_eq(sublist_count(sl), 0);
    ck_assert_uint_eq(sublist_node_count(sl), 0);
    for (int i = 0; i < 64; i++) check_against_naive(sl, subs, SUBS, pubs[i]);
    free(subs);
    sublist_free(sl);
}
END_TEST

/* ---- scale ---- */

START_TEST(test_100k_subscriptions) {
    enum { N = 100000 };
    struct sublist *sl = sublist_new();
    struct sub *subs = calloc(N, sizeof(*subs));
    char(*names)[40] = calloc(N, sizeof(*names));
    for (int i = 0; i < N; i++) {
        /* Mostly literal inbox-like subjects, a wildcard every 100th, a queue sub every 7th. */
        if (i % 100 == 0) snprintf(names[i], sizeof(names[i]), "svc.%d.*", i / 100);
        else snprintf(names[i], sizeof(names[i]), "svc.%d.%d", i / 100, i);
        subs[i] = mk(names[i], i % 7 == 0 ? "workers" : NULL);
        FAST_ASSERT(sublist_insert(sl, &subs[i]) == 0, "insert %s", names[i]);
    }
    ck_assert_uint_eq(sublist_count(sl), N);
    for (int i = 1; i < N; i += 997) {
        if (i % 100 == 0) continue;
        const struct sublist_result *r = match(sl, names[i]);
        /* Its own sub plus the svc.<i/100>.* wildcard (sub 100*(i/100), a queue sub when that is a multiple of 7). */
        bool own_q = i % 7 == 0, wild_q = ((i / 100) * 100) % 7 == 0;
        ck_assert_uint_eq(r->psub_count, (uint32_t)!own_q + (uint32_t)!wild_q);
        ck_assert_uint_eq(r->qgroup_count, (own_q || wild_q) ? 1 : 0);
    }
    /* Remove in a scrambled order. */
    for (int k = 0; k < N; k++) {
        int i = (int)(((uint64_t)k * 7919) % N);
        sublist_remove(sl, &subs[i]);
    }
    ck_assert_uint_eq(sublist_count(sl), 0);
    ck_assert_uint_eq(sublist_node_count(sl), 0);
    ck_assert_uint_eq(match(sl, names[1])->psub_count, 0);
    /* And once more, freeing with subs still inserted. */
    for (int i = 0; i < N; i++) FAST_ASSERT(sublist_insert(sl, &subs[i]) == 0, "insert %s", names[i]);
    ck_assert_uint_eq(sublist_count(sl), N);
    sublist_free(sl);
    free(names);
    free(subs);
}
END_TEST

/* ---- benchmark (printed, not asserted) ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_bench_cache_hit) {
    struct sublist *sl = sublist_new();
    struct sub s = mk("bench.orders.created", NULL);
    ck_assert_int_eq(sublist_insert(sl, &s), 0);
    const char *subj = "bench.orders.created";
    size_t len = strlen(subj);
    enum { ITERS = 20000000 };
    uint64_t sink = 0;
    double t0 = now_s();
    for (int i = 0; i < ITERS; i++) sink += sublist_match(sl, subj, len)->psub_count;
    double dt = now_s() - t0;
    ck_assert_uint_eq(sink, ITERS);
    printf("sublist bench: %.1f M cache-hit matches/s (literal subject, 1 plain sub)\n", ITERS / dt / 1e6);

    /* Miss cost, for reference: every match after a wildcard insert/remove pair is a miss. */
    struct sub w = mk("bench.*.created", NULL);
    enum { MISS_ITERS = 200000 };
    t0 = now_s();
    for (int i = 0; i < MISS_ITERS; i++) {
        FAST_ASSERT(sublist_insert(sl, &w) == 0, "insert");
        sink += sublist_match(sl, subj, len)->psub_count;
        sublist_remove(sl, &w);
    }
    dt = now_s() - t0;
    printf("sublist bench: %.2f M (wildcard insert + miss match + remove)/s\n", MISS_ITERS / dt / 1e6);
    sublist_free(sl);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/sublist");
    TCase *tc = tcase_create("sublist");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_validity_table);
    tcase_add_test(tc, test_insert_invalid);
    tcase_add_test(tc, test_examples);
    tcase_add_test(tc, test_examples_together);
    tcase_add_test(tc, test_queue_grouping);
    tcase_add_test(tc, test_same_owner_several_subs);
    tcase_add_test(tc, test_reinsert_same_pointer);
    tcase_add_test(tc, test_remove_never_inserted);
    tcase_add_test(tc, test_result_lifetime);
    tcase_add_test(tc, test_literal_invalidation);
    tcase_add_test(tc, test_cache_eviction);
    tcase_add_test(tc, test_cache_one_off_subjects);
    tcase_add_loop_test(tc, test_cross_check_random, 0, 4);
    tcase_add_test(tc, test_any_leaves_results_valid);
    tcase_add_test(tc, test_100k_subscriptions);
    tcase_add_test(tc, test_bench_cache_hit);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
