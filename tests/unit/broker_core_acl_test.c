/* broker_core_acl_test.c: broker/core/acl.c on its own: the set written and read back through
 * its file, the generation every change moves, and the decision for a principal and host (super
 * users, literal / "*" / prefixed patterns, "User:*", hosts, implied operations, deny wins, no
 * ACL denies), with no protocol around it. */
#include <check.h>
#include <stdio.h>
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

/* The index (literal names by binary search, the rest scanned) decides exactly as a scan of
 * the whole set: random sets and checks, each decided both ways (the scan is what a check
 * does between a change and acl_set_changed). */
START_TEST(test_index_agrees_with_scan) {
    static const char *const names[] = {"a", "b", "ab", "abc", "orders", "orders.eu", "o", "*", ""};
    static const char *const principals[] = {"User:alice", "User:bob", "User:*"};
    static const char *const hosts[] = {"*", "10.0.0.1"};
    static const int8_t types[] = {KAFKA_RES_TOPIC, KAFKA_RES_GROUP, KAFKA_RES_CLUSTER};
    static const int8_t ops[] = {KAFKA_OP_ALL, KAFKA_OP_READ, KAFKA_OP_WRITE, KAFKA_OP_DESCRIBE, KAFKA_OP_ALTER,
                                 KAFKA_OP_ALTER_CONFIGS, KAFKA_OP_DESCRIBE_CONFIGS};
    uint64_t r = 88172645463325252ull;
#define RND(n) ((uint32_t)(xorshift(&r) % (n)))
    for (int round = 0; round < 40; round++) {
        struct acl_set *s;
        ck_assert_int_eq(acl_set_open(t_tmpdir(), &s), SL_OK);
        uint32_t want = 1 + RND(300);
        while (s->n < want) {
            const char *name = names[RND(SL_ARRAY_LEN(names))];
            struct kafka_acl b = binding(types[RND(SL_ARRAY_LEN(types))], name,
                                         RND(3) ? KAFKA_PAT_LITERAL : KAFKA_PAT_PREFIXED,
                                         principals[RND(SL_ARRAY_LEN(principals))], hosts[RND(SL_ARRAY_LEN(hosts))],
                                         ops[RND(SL_ARRAY_LEN(ops))], RND(4) ? KAFKA_PERM_ALLOW : KAFKA_PERM_DENY);
            if (b.resource_type == KAFKA_RES_CLUSTER) b.resource_name = ks(ACL_CLUSTER_RESOURCE);
            if (!acl_binding_invalid(&b)) acl_set_add(s, &b);
        }
        acl_set_changed(s);
        for (int q = 0; q < 500; q++) {
            struct acl_who who = {principals[RND(2)], RND(2) ? "10.0.0.1" : "10.0.0.2"};
            int8_t type = types[RND(SL_ARRAY_LEN(types))];
            const char *name = type == KAFKA_RES_CLUSTER ? ACL_CLUSTER_RESOURCE : names[RND(SL_ARRAY_LEN(names) - 1)];
            int8_t op = ops[1 + RND(SL_ARRAY_LEN(ops) - 1)];
            bool indexed = acl_authorized(s, "", &who, op, type, ks(name));
            uint64_t ix = s->ix_gen;
            s->ix_gen = 0; /* as if changed and not yet indexed: the whole set scanned */
            bool scanned = acl_authorized(s, "", &who, op, type, ks(name));
            s->ix_gen = ix;
            ck_assert_msg(indexed == scanned, "round %d: %s op %d type %d name '%s': index %d, scan %d", round,
                          who.principal, op, type, name, indexed, scanned);
        }
        acl_set_free(s);
    }
#undef RND
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
    tcase_add_test(tc, test_helpers);
    tcase_add_test(tc, test_index_agrees_with_scan);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
