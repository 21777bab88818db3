/* broker_kafka_acl_test.c: broker/kafka/kafka_acl.c without a socket: the ACL file is loaded
 * (and a bad one refused), and the authorizer decides as Kafka's does: super users, literal,
 * "*" and prefixed patterns, "User:*", hosts, implied operations, deny wins, no ACL denies, and
 * everything allowed with the authorizer off. Then the filters of Describe/DeleteAcls. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "broker/kafka/kafka.h"
#include "testutil.h"

static struct kstr ks(const char *s) { return (struct kstr){s, (int32_t)strlen(s)}; }

struct fixture {
    struct sl_config cfg;
    struct kafka_server srv;
    struct conn c;
    struct kconn kc;
    const char *dir;
};

/* One ACL line of the file format (kafka_acl.c's header). */
static void line(FILE *f, int type, int pattern, int op, int perm, const char *name, const char *principal,
                 const char *host) {
    fprintf(f, "%d %d %d %d %zu:%s %zu:%s %zu:%s\n", type, pattern, op, perm, strlen(name), name, strlen(principal),
            principal, strlen(host), host);
}

static void fixture_start(struct fixture *x, bool with_file) {
    memset(x, 0, sizeof(*x));
    x->dir = t_tmpdir();
    sl_config_defaults(&x->cfg);
    snprintf(x->cfg.data_dir, sizeof(x->cfg.data_dir), "%s", x->dir);
    x->cfg.kafka_authorizer = true;
    snprintf(x->cfg.kafka_super_users, sizeof(x->cfg.kafka_super_users), " User:root , User:ops");
    if (with_file) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/kafka_acls", x->dir);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "sluice-kafka-acls 1\n");
        line(f, KAFKA_RES_TOPIC, KAFKA_PAT_LITERAL, KAFKA_OP_WRITE, KAFKA_PERM_ALLOW, "orders", "User:alice", "*");
        line(f, KAFKA_RES_TOPIC, KAFKA_PAT_PREFIXED, KAFKA_OP_ALL, KAFKA_PERM_ALLOW, "logs.", "User:alice", "*");
        line(f, KAFKA_RES_TOPIC, KAFKA_PAT_LITERAL, KAFKA_OP_WRITE, KAFKA_PERM_DENY, "logs.audit", "User:alice", "*");
        line(f, KAFKA_RES_TOPIC, KAFKA_PAT_LITERAL, KAFKA_OP_READ, KAFKA_PERM_ALLOW, "*", "User:*", "10.0.0.9");
        line(f, KAFKA_RES_TOPIC, KAFKA_PAT_LITERAL, KAFKA_OP_ALTER_CONFIGS, KAFKA_PERM_ALLOW, "cfg", "User:bob", "*");
        line(f, KAFKA_RES_GROUP, KAFKA_PAT_LITERAL, KAFKA_OP_READ, KAFKA_PERM_ALLOW, "g", "User:alice", "*");
        fclose(f);
    }
    x->srv.cfg = &x->cfg;
    x->kc.ks = &x->srv;
    x->kc.c = &x->c;
    snprintf(x->c.peer, sizeof(x->c.peer), "10.0.0.1:40000");
}

static void fixture_stop(struct fixture *x) {
    kafka_acl_stop(&x->srv);
    t_rmdir(x->dir);
}

static void as(struct fixture *x, const char *principal, const char *peer) {
    snprintf(x->kc.sasl.principal, sizeof(x->kc.sasl.principal), "%s", principal);
    snprintf(x->c.peer, sizeof(x->c.peer), "%s", peer);
}

#define ALLOWED(x, op, type, name) kafka_authorized(&(x)->kc, op, type, ks(name))

START_TEST(test_authorize) {
    struct fixture x;
    fixture_start(&x, true);
    ck_assert_int_eq(kafka_acl_start(&x.srv), SL_OK);
    as(&x, "User:alice", "10.0.0.1:1");
    ck_assert(ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "orders"));
    ck_assert(ALLOWED(&x, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, "orders")); /* WRITE implies DESCRIBE */
    ck_assert(!ALLOWED(&x, KAFKA_OP_READ, KAFKA_RES_TOPIC, "orders"));
    ck_assert(!ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "orders2")); /* literal is exact */
    ck_assert(!ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_GROUP, "orders")); /* another resource type */
    ck_assert(ALLOWED(&x, KAFKA_OP_DELETE, KAFKA_RES_TOPIC, "logs.app"));  /* prefixed ALL */
    ck_assert(!ALLOWED(&x, KAFKA_OP_READ, KAFKA_RES_TOPIC, "logs"));       /* not under "logs." */
    ck_assert(!ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "logs.audit")); /* deny wins */
    ck_assert(ALLOWED(&x, KAFKA_OP_READ, KAFKA_RES_TOPIC, "logs.audit"));   /* only WRITE is denied */
    ck_assert(ALLOWED(&x, KAFKA_OP_READ, KAFKA_RES_GROUP, "g"));
    ck_assert(!ALLOWED(&x, KAFKA_OP_DELETE, KAFKA_RES_GROUP, "g"));
    ck_assert(!ALLOWED(&x, KAFKA_OP_ALTER, KAFKA_RES_CLUSTER, KAFKA_CLUSTER_RESOURCE));
    /* Authorized operations as Metadata and DescribeGroups report them: WRITE and DESCRIBE. */
    ck_assert_int_eq(kafka_authorized_ops(&x.kc, KAFKA_RES_TOPIC, ks("orders"), KAFKA_OPS_TOPIC),
                     (1 << KAFKA_OP_WRITE) | (1 << KAFKA_OP_DESCRIBE));
    /* "*" for every user, from one host only. */
    as(&x, "User:carol", "10.0.0.9:5");
    ck_assert(ALLOWED(&x, KAFKA_OP_READ, KAFKA_RES_TOPIC, "anything"));
    as(&x, "User:carol", "10.0.0.8:5");
    ck_assert(!ALLOWED(&x, KAFKA_OP_READ, KAFKA_RES_TOPIC, "anything"));
    /* ALTER_CONFIGS implies DESCRIBE_CONFIGS, not DESCRIBE. */
    as(&x, "User:bob", "10.0.0.1:1");
    ck_assert(ALLOWED(&x, KAFKA_OP_DESCRIBE_CONFIGS, KAFKA_RES_TOPIC, "cfg"));
    ck_assert(!ALLOWED(&x, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, "cfg"));
    /* No SASL: User:ANONYMOUS, which no ACL names. */
    as(&x, "", "10.0.0.1:1");
    ck_assert(!ALLOWED(&x, KAFKA_OP_DESCRIBE, KAFKA_RES_TOPIC, "orders"));
    /* Super users, with spaces around the names in the list. */
    as(&x, "User:ops", "[::1]:9");
    ck_assert(ALLOWED(&x, KAFKA_OP_ALTER, KAFKA_RES_CLUSTER, KAFKA_CLUSTER_RESOURCE));
    ck_assert(ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "logs.audit"));
    as(&x, "User:op", "[::1]:9");
    ck_assert(!ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "orders"));
    /* InitProducerId's rule: some WRITE on some topic. */
    as(&x, "User:alice", "10.0.0.1:1");
    ck_assert(kafka_authorized_any(&x.kc, KAFKA_OP_WRITE, KAFKA_RES_TOPIC));
    as(&x, "User:bob", "10.0.0.1:1");
    ck_assert(!kafka_authorized_any(&x.kc, KAFKA_OP_WRITE, KAFKA_RES_TOPIC));
    /* Off: everything is allowed, as without ACLs. */
    x.cfg.kafka_authorizer = false;
    ck_assert(ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "logs.audit"));
    ck_assert_int_eq(kafka_authorized_ops(&x.kc, KAFKA_RES_TOPIC, ks("orders"), KAFKA_OPS_TOPIC), KAFKA_OPS_TOPIC);
    fixture_stop(&x);
}
END_TEST

START_TEST(test_no_file_and_bad_file) {
    struct fixture x;
    fixture_start(&x, false);
    ck_assert_int_eq(kafka_acl_start(&x.srv), SL_OK); /* no file: no ACLs, everything denied */
    as(&x, "User:alice", "10.0.0.1:1");
    ck_assert(!ALLOWED(&x, KAFKA_OP_WRITE, KAFKA_RES_TOPIC, "orders"));
    kafka_acl_stop(&x.srv);
    char path[4200];
    snprintf(path, sizeof(path), "%s/kafka_acls", x.dir);
    static const char *bad[] = {"nope\n", "sluice-kafka-acls 1\n2 3 4 3 6:orders 10:User:alice\n",
                                "sluice-kafka-acls 1\n2 3 4 3 9:orders 10:User:alice 1:*\n",
                                "sluice-kafka-acls 1\n9 3 4 3 6:orders 10:User:alice 1:*\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        ck_assert_msg(kafka_acl_start(&x.srv) != SL_OK, "bad file %zu loaded", i);
        kafka_acl_stop(&x.srv);
    }
    fixture_stop(&x);
}
END_TEST

START_TEST(test_filters) {
    struct kafka_acl b = {KAFKA_RES_TOPIC, ks("logs."), KAFKA_PAT_PREFIXED, ks("User:alice"), ks("*"), KAFKA_OP_READ,
                          KAFKA_PERM_ALLOW};
    struct kafka_acl f = {KAFKA_RES_ANY, {NULL, -1}, KAFKA_PAT_ANY, {NULL, -1}, {NULL, -1}, KAFKA_OP_ANY, KAFKA_PERM_ANY};
    ck_assert(acl_filter_matches(&f, &b));
    f.pattern_type = KAFKA_PAT_MATCH;
    f.resource_name = ks("logs.app");
    ck_assert(acl_filter_matches(&f, &b));
    f.resource_name = ks("log");
    ck_assert(!acl_filter_matches(&f, &b));
    f.pattern_type = KAFKA_PAT_ANY;
    f.resource_name = ks("logs.");
    ck_assert(acl_filter_matches(&f, &b));
    f.pattern_type = KAFKA_PAT_LITERAL;
    ck_assert(!acl_filter_matches(&f, &b));
    f.pattern_type = KAFKA_PAT_PREFIXED;
    ck_assert(acl_filter_matches(&f, &b));
    f.principal = ks("User:bob");
    ck_assert(!acl_filter_matches(&f, &b));
    f.principal = (struct kstr){NULL, -1};
    f.permission_type = KAFKA_PERM_DENY;
    ck_assert(!acl_filter_matches(&f, &b));
    /* MATCH finds literal "*" too. */
    struct kafka_acl star = b;
    star.pattern_type = KAFKA_PAT_LITERAL;
    star.resource_name = ks("*");
    struct kafka_acl m = {KAFKA_RES_TOPIC, ks("x"), KAFKA_PAT_MATCH, {NULL, -1}, {NULL, -1}, KAFKA_OP_ANY, KAFKA_PERM_ANY};
    ck_assert(acl_filter_matches(&m, &star));
    /* Bindings CreateAcls refuses. */
    ck_assert_ptr_null(acl_binding_invalid(&b));
    struct kafka_acl bad = b;
    bad.pattern_type = KAFKA_PAT_MATCH;
    ck_assert_ptr_nonnull(acl_binding_invalid(&bad));
    bad = b;
    bad.principal = ks("alice");
    ck_assert_ptr_nonnull(acl_binding_invalid(&bad));
    bad = b;
    bad.resource_type = KAFKA_RES_CLUSTER;
    ck_assert_ptr_nonnull(acl_binding_invalid(&bad));
    bad.resource_name = ks(KAFKA_CLUSTER_RESOURCE);
    ck_assert_ptr_null(acl_binding_invalid(&bad));
    bad = b;
    bad.operation = KAFKA_OP_ANY;
    ck_assert_ptr_nonnull(acl_binding_invalid(&bad));
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/kafka/kafka_acl");
    TCase *tc = tcase_create("acl");
    tcase_add_test(tc, test_authorize);
    tcase_add_test(tc, test_no_file_and_bad_file);
    tcase_add_test(tc, test_filters);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
