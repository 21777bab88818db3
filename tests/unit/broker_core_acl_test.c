/* broker_core_acl_test.c: broker/core/acl.c on its own: the set written and read back through
 * its file, the generation every change moves, and the decision for a principal and host (super
 * users, literal / "*" / prefixed patterns, "User:*", hosts, implied operations, deny wins, no
 * ACL denies), with no protocol around it; the index against a scan of the whole set, and the
 * cost of a check at 10,000 prefixed ACLs (printed, not asserted). */
#include <check.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "broker/core/acl.h"
#include "testutil.h"

static struct kstr ks(const char *s) { return (struct kstr){s, (int32_t)strlen(s)}; }

static struct kafka_acl binding(int8_t type, const char *name, int8_t pattern, const char *principal, const char *host,
                                int8_t op, int8_t perm) {
    return (struct kafka_acl){type, ks(name), pattern, ks(principal), ks(host), op, perm};
}

static void add(struct acl_set *s, struct kafka_acl b) {
    ck_assert_ptr_null(acl_binding_invalid(&b));
    acl_set_add(s, &b);
}

START_TEST(test_file_round_trip_and_generation) {
    const char *dir = t_tmpdir();
    struct acl_set *s;
    ck_assert_int_eq(acl_set_open(dir, &s), SL_OK); /* no file yet: empty */
    ck_assert_uint_eq(s->n, 0);
    uint64_t g = s->generation;
    ck_assert_uint_ge(g, 1);
    /* Names with spaces and colons survive: every string is length-prefixed. */
    add(s, binding(KAFKA_RES_TOPIC, "a b:c", KAFKA_PAT_LITERAL, "User:x y", "*", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
    add(s, binding(KAFKA_RES_GROUP, "g.", KAFKA_PAT_PREFIXED, "User:*", "10.0.0.1", KAFKA_OP_ALL, KAFKA_PERM_DENY));
    acl_set_changed(s);
    ck_assert_uint_eq(s->generation, g + 1);
    ck_assert(acl_set_save(s));
    acl_set_free(s);
    ck_assert_int_eq(acl_set_open(dir, &s), SL_OK);
    ck_assert_uint_eq(s->n, 2);
    struct kafka_acl v = acl_entry_view(&s->v[0]);
    struct kafka_acl want = binding(KAFKA_RES_TOPIC, "a b:c", KAFKA_PAT_LITERAL, "User:x y", "*", KAFKA_OP_READ,
                                    KAFKA_PERM_ALLOW);
    ck_assert(acl_same_binding(&v, &want));
    v = acl_entry_view(&s->v[1]);
    ck_assert_str_eq(s->v[1].host, "10.0.0.1");
    ck_assert_int_eq(v.pattern_type, KAFKA_PAT_PREFIXED);
    acl_set_free(s);
    /* A file that does not parse is refused, not half loaded. */
    char path[4200];
    snprintf(path, sizeof(path), "%s/kafka_acls", dir);
    FILE *f = fopen(path, "a");
    fputs("2 3 4 3 6:orders\n", f);
    fclose(f);
    ck_assert_int_ne(acl_set_open(dir, &s), SL_OK);
    acl_set_free(s);
    t_rmdir(dir);
}
END_TEST

START_TEST(test_decide) {
    const char *dir = t_tmpdir();
    struct acl_set *s;
    ck_assert_int_eq(acl_set_open(dir, &s), SL_OK);
    add(s, binding(KAFKA_RES_TOPIC, "ORDERS", KAFKA_PAT_LITERAL, "User:alice", "*", KAFKA_OP_WRITE, KAFKA_PERM_ALLOW));
    add(s, binding(KAFKA_RES_TOPIC, "LOGS_", KAFKA_PAT_PREFIXED, "User:alice", "*", KAFKA_OP_ALL, KAFKA_PERM_ALLOW));
    add(s, binding(KAFKA_RES_TOPIC, "LOGS_AUDIT", KAFKA_PAT_LITERAL, "User:alice", "*", KAFKA_OP_WRITE, KAFKA_PERM_DENY));
    add(s, binding(KAFKA_RES_TOPIC, "*", KAFKA_PAT_LITERAL, "User:*", "10.0.0.9", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
    const char *su = "User:root, User:ops";
    struct acl_who alice = {"User:alice", "127.0.0.1"}, carol9 = {"User:carol", "10.0.0.9"},
                   carol8 = {"User:carol", "10.0.0.8"}, ops = {"User:ops", "::1"}, anon = {ACL_ANONYMOUS, "127.0.0.1"};
#define OK(who, op, name) acl_authorized(s, su, &(who), op, KAFKA_RES_TOPIC, ks(name))
    ck_assert(OK(alice, KAFKA_OP_WRITE, "ORDERS"));
    ck_assert(OK(alice, KAFKA_OP_DESCRIBE, "ORDERS")); /* WRITE implies DESCRIBE */
    ck_assert(!OK(alice, KAFKA_OP_READ, "ORDERS"));
    ck_assert(!OK(alice, KAFKA_OP_WRITE, "ORDERS2"));
    ck_assert(OK(alice, KAFKA_OP_DELETE, "LOGS_APP"));
    ck_assert(!OK(alice, KAFKA_OP_READ, "LOGS"));
    ck_assert(!OK(alice, KAFKA_OP_WRITE, "LOGS_AUDIT")); /* deny wins */
    ck_assert(OK(alice, KAFKA_OP_READ, "LOGS_AUDIT"));
    ck_assert(OK(carol9, KAFKA_OP_READ, "anything"));
    ck_assert(!OK(carol8, KAFKA_OP_READ, "anything"));
    ck_assert(OK(ops, KAFKA_OP_ALTER, "anything"));
    ck_assert(!OK(anon, KAFKA_OP_DESCRIBE, "ORDERS"));
    ck_assert(!acl_authorized(s, su, &alice, KAFKA_OP_CREATE, KAFKA_RES_CLUSTER, ks(ACL_CLUSTER_RESOURCE)));
    ck_assert(acl_authorized_any(s, su, &alice, KAFKA_OP_WRITE, KAFKA_RES_TOPIC));
    ck_assert(!acl_authorized_any(s, su, &carol8, KAFKA_OP_WRITE, KAFKA_RES_TOPIC));
    /* No set at all: only super users. */
    ck_assert(!acl_authorized(NULL, su, &alice, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, ks("ORDERS")));
    ck_assert(acl_authorized(NULL, su, &ops, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, ks("ORDERS")));
#undef OK
    acl_set_free(s);
    t_rmdir(dir);
}
END_TEST

static uint64_t xorshift(uint64_t *r) {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

/* A random name of 0-6 bytes over "ab.*", in buf (8 bytes). */
static const char *t_name(uint64_t *r, char *buf) {
    size_t n = (size_t)(xorshift(r) % 7);
    for (size_t i = 0; i < n; i++) buf[i] = "ab.*"[xorshift(r) % 4];
    buf[n] = 0;
    return buf;
}

/* Prefixed patterns through the index: overlapping prefixes (deny wins whichever is longer), a
 * name equal to a prefix, names shorter than every prefix, a prefixed "*" (names that start
 * with '*', not every name), and prefixes kept to their resource type. */
START_TEST(test_prefixed) {
    const char *dir = t_tmpdir();
    struct acl_set *s;
    ck_assert_int_eq(acl_set_open(dir, &s), SL_OK);
    add(s, binding(KAFKA_RES_TOPIC, "orders", KAFKA_PAT_PREFIXED, "User:alice", "*", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
    add(s,
        binding(KAFKA_RES_TOPIC, "orders.eu.", KAFKA_PAT_PREFIXED, "User:alice", "*", KAFKA_OP_READ, KAFKA_PERM_DENY));
    add(s, binding(KAFKA_RES_TOPIC, "o", KAFKA_PAT_PREFIXED, "User:bob", "*", KAFKA_OP_ALL, KAFKA_PERM_DENY));
    add(s, binding(KAFKA_RES_TOPIC, "orders", KAFKA_PAT_PREFIXED, "User:bob", "*", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
    add(s, binding(KAFKA_RES_TOPIC, "*", KAFKA_PAT_PREFIXED, "User:carol", "*", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
    add(s, binding(KAFKA_RES_GROUP, "g-", KAFKA_PAT_PREFIXED, "User:*", "*", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
    acl_set_changed(s);
    struct acl_who alice = {"User:alice", "h"}, bob = {"User:bob", "h"}, carol = {"User:carol", "h"};
#define OK(who, type, name) acl_authorized(s, "", &(who), KAFKA_OP_READ, type, ks(name))
    ck_assert(OK(alice, KAFKA_RES_TOPIC, "orders")); /* the name is the prefix */
    ck_assert(OK(alice, KAFKA_RES_TOPIC, "orders.eu"));
    ck_assert(!OK(alice, KAFKA_RES_TOPIC, "orders.eu.1")); /* the longer prefix denies */
    ck_assert(!OK(alice, KAFKA_RES_TOPIC, "orders.eu."));
    ck_assert(!OK(alice, KAFKA_RES_TOPIC, "order")); /* shorter than the prefix */
    ck_assert(!OK(alice, KAFKA_RES_TOPIC, ""));
    ck_assert(!OK(alice, KAFKA_RES_GROUP, "orders"));
    ck_assert(!OK(bob, KAFKA_RES_TOPIC, "orders.x")); /* the shorter prefix denies */
    ck_assert(OK(carol, KAFKA_RES_TOPIC, "*"));
    ck_assert(OK(carol, KAFKA_RES_TOPIC, "*orders"));
    ck_assert(!OK(carol, KAFKA_RES_TOPIC, "orders"));
    ck_assert(OK(carol, KAFKA_RES_GROUP, "g-1"));
    ck_assert(OK(carol, KAFKA_RES_GROUP, "g-"));
    ck_assert(!OK(carol, KAFKA_RES_GROUP, "g"));
    ck_assert(!OK(carol, KAFKA_RES_TOPIC, "g-1"));
    ck_assert(!acl_authorized(s, "", &carol, KAFKA_OP_READ, KAFKA_RES_GROUP, (struct kstr){NULL, -1}));
#undef OK
    acl_set_free(s);
    t_rmdir(dir);
}
END_TEST

/* The index (literal names and prefixes by binary search, literal "*" scanned) decides exactly
 * as a scan of the whole set: random sets and checks, each decided both ways (the scan is what
 * a check does between a change and acl_set_changed). Names come from a few fixed ones (nested
 * prefixes, "*") and from random strings over "ab.*" of 0-6 bytes, so patterns overlap, names
 * equal prefixes, and a check may be of "" or of a null name; some rounds are all prefixed, and
 * some hold a prefixed "" that acl_binding_invalid would refuse (the index must still agree). */
START_TEST(test_index_agrees_with_scan) {
    static const char *const fixed[] = {"a", "b", "ab", "abc", "o", "or", "ord", "orders", "orders.", "orders.eu",
                                        "orders.eu.1", "*", "*a", ""};
    static const char *const principals[] = {"User:alice", "User:bob", "User:*"};
    static const char *const hosts[] = {"*", "10.0.0.1"};
    static const int8_t types[] = {KAFKA_RES_TOPIC, KAFKA_RES_GROUP, KAFKA_RES_CLUSTER, KAFKA_RES_TRANSACTIONAL_ID};
    static const int8_t ops[] = {KAFKA_OP_ALL, KAFKA_OP_READ, KAFKA_OP_WRITE, KAFKA_OP_DESCRIBE, KAFKA_OP_ALTER,
                                 KAFKA_OP_ALTER_CONFIGS, KAFKA_OP_DESCRIBE_CONFIGS};
    uint64_t r = 88172645463325252ull;
    uint64_t checks = 0, allowed = 0, prefixed = 0;
    char name[8];
#define RND(n) ((uint32_t)(xorshift(&r) % (n)))
    for (int round = 0; round < 60; round++) {
        const char *dir = t_tmpdir();
        struct acl_set *s;
        ck_assert_int_eq(acl_set_open(dir, &s), SL_OK);
        uint32_t want = 1 + RND(round % 4 == 3 ? 2000 : 300), pct_prefixed = round % 3 == 0 ? 100 : 33 + RND(50);
        if (round % 5 == 1) { /* empty-ish: a prefixed "" (every name) past the validation */
            struct kafka_acl b = binding(KAFKA_RES_TOPIC, "", KAFKA_PAT_PREFIXED, principals[RND(3)], "*",
                                         ops[RND(SL_ARRAY_LEN(ops))], RND(2) ? KAFKA_PERM_ALLOW : KAFKA_PERM_DENY);
            acl_set_add(s, &b);
        }
        while (s->n < want) {
            const char *n = RND(2) ? fixed[RND(SL_ARRAY_LEN(fixed))] : t_name(&r, name);
            struct kafka_acl b = binding(types[RND(SL_ARRAY_LEN(types))], n,
                                         RND(100) < pct_prefixed ? KAFKA_PAT_PREFIXED : KAFKA_PAT_LITERAL,
                                         principals[RND(SL_ARRAY_LEN(principals))], hosts[RND(SL_ARRAY_LEN(hosts))],
                                         ops[RND(SL_ARRAY_LEN(ops))], RND(4) ? KAFKA_PERM_ALLOW : KAFKA_PERM_DENY);
            if (b.resource_type == KAFKA_RES_CLUSTER) b.resource_name = ks(ACL_CLUSTER_RESOURCE);
            if (!acl_binding_invalid(&b)) acl_set_add(s, &b);
        }
        acl_set_changed(s);
        prefixed += s->n_prefixed;
        for (int q = 0; q < 1000; q++) {
            struct acl_who who = {principals[RND(2)], RND(2) ? "10.0.0.1" : "10.0.0.2"};
            int8_t type = types[RND(SL_ARRAY_LEN(types))];
            struct kstr kn = ks(RND(2) ? fixed[RND(SL_ARRAY_LEN(fixed))] : t_name(&r, name));
            if (type == KAFKA_RES_CLUSTER && RND(2)) kn = ks(ACL_CLUSTER_RESOURCE);
            if (!RND(50)) kn = (struct kstr){NULL, -1};
            int8_t op = ops[1 + RND(SL_ARRAY_LEN(ops) - 1)];
            bool indexed = acl_authorized(s, "", &who, op, type, kn);
            uint64_t ix = s->ix_gen;
            s->ix_gen = 0; /* as if changed and not yet indexed: the whole set scanned */
            bool scanned = acl_authorized(s, "", &who, op, type, kn);
            s->ix_gen = ix;
            ck_assert_msg(indexed == scanned, "round %d: %s op %d type %d name '%.*s': index %d, scan %d", round,
                          who.principal, op, type, kn.len < 0 ? 6 : kn.len, kn.len < 0 ? "(null)" : kn.p, indexed,
                          scanned);
            checks++;
            allowed += indexed;
        }
        acl_set_free(s);
        t_rmdir(dir);
    }
#undef RND
    /* Both answers were exercised, over many prefixed ACLs. */
    ck_assert(allowed > checks / 20 && allowed < checks - checks / 20);
    ck_assert_uint_gt(prefixed, 10000);
}
END_TEST

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* µs a check, over checks of names[i % n_names], each by the owner of ACL number i * 151 (see
 * below), in rounds of 1,000
 * until half a second has passed (no timed asserts: the figures are printed for the README).
 * scan: as if changed and not yet indexed, the whole set scanned. */
static double check_us(struct acl_set *s, char (*names)[300], int n_names, bool scan, int *allowed) {
    char principal[32];
    uint64_t ix = s->ix_gen;
    if (scan) s->ix_gen = 0;
    double t0 = now_s(), t1 = t0;
    int checks = 0;
    while (t1 - t0 < 0.5) {
        for (int k = 0; k < 1000; k++, checks++) {
            snprintf(principal, sizeof(principal), "User:user%d", (checks % n_names) * 151 % 50);
            struct acl_who who = {principal, "10.0.0.1"};
            *allowed += acl_authorized(s, "", &who, KAFKA_OP_READ, KAFKA_RES_TOPIC, ks(names[checks % n_names]));
        }
        t1 = now_s();
    }
    s->ix_gen = ix;
    return (t1 - t0) / checks * 1e6;
}

/* The cost of a check at 10,000 prefixed ACLs (50 principals), printed: prefixes of a few
 * lengths ("app-<i>."), then of 200 distinct lengths, each against the index and a scan. */
START_TEST(test_cost_with_10000_prefixed) {
    static char names[64][300];
    for (int shape = 0; shape < 2; shape++) {
        const char *dir = t_tmpdir();
        struct acl_set *s;
        ck_assert_int_eq(acl_set_open(dir, &s), SL_OK);
        char name[300], principal[32];
        for (int i = 0; i < ACL_SET_MAX; i++) {
            if (shape == 0) snprintf(name, sizeof(name), "app-%d.", i);
            else { /* "p<i>" then x's, 1 to 200 bytes in all */
                size_t len = 1 + (size_t)(i % 200);
                memset(name, 'x', len);
                name[len] = 0;
                char head[16];
                int n = snprintf(head, sizeof(head), "p%d", i);
                memcpy(name, head, SL_MIN((size_t)n, len));
            }
            snprintf(principal, sizeof(principal), "User:user%d", i % 50);
            add(s, binding(KAFKA_RES_TOPIC, name, KAFKA_PAT_PREFIXED, principal, "*", KAFKA_OP_READ, KAFKA_PERM_ALLOW));
        }
        acl_set_changed(s);
        /* Half the names under some prefix, half under none; shape 1's are 250 bytes long. */
        for (int i = 0; i < 64; i++) {
            if (shape == 0) snprintf(names[i], sizeof(names[i]), i % 2 ? "app-%d.orders" : "other-%d", i * 151);
            else {
                memset(names[i], 'x', 250);
                names[i][250] = 0;
                char head[16];
                int n = snprintf(head, sizeof(head), i % 2 ? "p%d" : "q%d", i * 151);
                memcpy(names[i], head, (size_t)n);
            }
        }
        int allowed_ix = 0, allowed_scan = 0;
        double ix_us = check_us(s, names, 64, false, &allowed_ix);
        double scan_us = check_us(s, names, 64, true, &allowed_scan);
        ck_assert(allowed_ix > 0 && allowed_scan > 0);
        printf("acl: 10,000 prefixed ACLs (%s): a check %.3f us, a scan %.1f us\n",
               shape == 0 ? "app-<i>., 5 lengths" : "200 lengths, 250-byte names", ix_us, scan_us);
        acl_set_free(s);
        t_rmdir(dir);
    }
}
END_TEST

START_TEST(test_helpers) {
    char host[64];
    acl_peer_host("1.2.3.4:5", host, sizeof(host));
    ck_assert_str_eq(host, "1.2.3.4");
    acl_peer_host("[::1]:4222", host, sizeof(host));
    ck_assert_str_eq(host, "::1");
    ck_assert(acl_super_user(" User:a ,User:b", "User:a"));
    ck_assert(acl_super_user(" User:a ,User:b", "User:b"));
    ck_assert(!acl_super_user(" User:a ,User:b", "User:"));
    ck_assert(!acl_super_user("", "User:a"));
    ck_assert_str_eq(acl_operation_name(KAFKA_OP_WRITE), "WRITE");
    ck_assert_str_eq(acl_operation_name(KAFKA_OP_DESCRIBE), "DESCRIBE");
    ck_assert_str_eq(acl_operation_name(99), "UNKNOWN");
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/core/acl");
    TCase *tc = tcase_create("acl");
    tcase_add_test(tc, test_file_round_trip_and_generation);
    tcase_add_test(tc, test_decide);
    tcase_add_test(tc, test_prefixed);
    tcase_add_test(tc, test_helpers);
    tcase_add_test(tc, test_index_agrees_with_scan);
    tcase_add_test(tc, test_cost_with_10000_prefixed);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
