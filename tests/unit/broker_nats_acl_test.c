/* broker_nats_acl_test.c: broker/nats/nats_acl.c without a socket: the principal of a NATS
 * connection (users-list user, nkey user, the single --user, a token or nothing), the stream
 * checks on the client whose publish is routed (in-process publishes and the authorizer off
 * allow everything), CREATE on the cluster or the topic, and the verdicts kept per connection
 * and stream: a second check scans nothing, a change of the set's generation scans again, and
 * streams that share a slot replace each other; a durable consumer's group kept apart from the
 * stream of the same name. Then the cost, printed: a kept verdict against a scan of 10,000 ACLs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/core/acl.h"
#include "broker/nats/nats_acl.h"
#include "broker/nats/nats_conn.h"
#include "testutil.h"

static struct kstr ks(const char *s) { return (struct kstr){s, (int32_t)strlen(s)}; }

struct fixture {
    struct sl_config cfg;
    struct nats_server ns;
    struct conn c;
    struct nconn nc;
    struct nats_user user;
    struct acl_set *acls;
    const char *dir;
};

static void allow(struct fixture *x, const char *principal, int8_t op, const char *topic, int8_t pattern, int8_t perm) {
    struct kafka_acl b = {KAFKA_RES_TOPIC, ks(topic), pattern, ks(principal), ks("*"), op, perm};
    ck_assert_ptr_null(acl_binding_invalid(&b));
    acl_set_add(x->acls, &b);
    acl_set_changed(x->acls);
}

static void fixture_start(struct fixture *x) {
    memset(x, 0, sizeof(*x));
    x->dir = t_tmpdir();
    sl_config_defaults(&x->cfg);
    x->cfg.kafka_authorizer = true;
    snprintf(x->cfg.kafka_super_users, sizeof(x->cfg.kafka_super_users), "User:admin");
    ck_assert_int_eq(acl_set_open(x->dir, &x->acls), SL_OK);
    x->ns.cfg = &x->cfg;
    x->ns.acls = x->acls;
    x->nc.ns = &x->ns;
    x->nc.c = &x->c;
    snprintf(x->c.peer, sizeof(x->c.peer), "127.0.0.1:50000");
    static char alice[] = "alice";
    x->user.name = alice;
    x->nc.user = &x->user;
    x->ns.route_pub = &x->nc; /* the client whose publish is being routed */
}

static void fixture_stop(struct fixture *x) {
    nats_acl_cache_free(x->nc.acl_cache);
    acl_set_free(x->acls);
    t_rmdir(x->dir);
}

#define STREAM_OK(x, op, name) nats_acl_stream_allowed(&(x)->ns, op, name, strlen(name))

START_TEST(test_principal) {
    struct fixture x;
    fixture_start(&x);
    char p[128];
    nats_acl_principal(&x.ns, &x.nc, p, sizeof(p));
    ck_assert_str_eq(p, "User:alice");
    struct nats_user nk = {0};
    snprintf(nk.nkey, sizeof(nk.nkey), "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4");
    x.nc.user = &nk;
    nats_acl_principal(&x.ns, &x.nc, p, sizeof(p));
    ck_assert_str_eq(p, "User:UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4");
    /* The single --user/--pass: the name CONNECT gave, once it matched. */
    x.nc.user = NULL;
    snprintf(x.cfg.user, sizeof(x.cfg.user), "single");
    char single[] = "single";
    x.nc.cred_user = single;
    nats_acl_principal(&x.ns, &x.nc, p, sizeof(p));
    ck_assert_str_eq(p, "User:single");
    /* A token, or no authentication. */
    x.cfg.user[0] = 0;
    nats_acl_principal(&x.ns, &x.nc, p, sizeof(p));
    ck_assert_str_eq(p, ACL_ANONYMOUS);
    x.nc.cred_user = NULL;
    nats_acl_denied_text(&x.ns, KAFKA_OP_WRITE, "ORDERS", 6, p, sizeof(p));
    ck_assert_str_eq(p, "User:ANONYMOUS is not authorized to WRITE stream ORDERS");
    fixture_stop(&x);
}
END_TEST

START_TEST(test_checks_and_kept_verdicts) {
    struct fixture x;
    fixture_start(&x);
    allow(&x, "User:alice", KAFKA_OP_WRITE, "ORDERS", KAFKA_PAT_LITERAL, KAFKA_PERM_ALLOW);
    ck_assert(STREAM_OK(&x, KAFKA_OP_WRITE, "ORDERS"));
    ck_assert_uint_eq(x.ns.acl_scans, 1);
    for (int i = 0; i < 100; i++) ck_assert(STREAM_OK(&x, KAFKA_OP_WRITE, "ORDERS"));
    ck_assert_uint_eq(x.ns.acl_scans, 1); /* kept */
    ck_assert_uint_eq(x.ns.acl_checks, 101);
    ck_assert(STREAM_OK(&x, KAFKA_OP_DESCRIBE, "ORDERS")); /* another operation: one scan, kept too */
    ck_assert(!STREAM_OK(&x, KAFKA_OP_READ, "ORDERS"));
    ck_assert_uint_eq(x.ns.acl_scans, 3);
    ck_assert(!STREAM_OK(&x, KAFKA_OP_READ, "ORDERS"));
    ck_assert_uint_eq(x.ns.acl_scans, 3);
    /* A DENY arrives: the generation moves and the kept ALLOW goes. */
    allow(&x, "User:alice", KAFKA_OP_WRITE, "ORDERS", KAFKA_PAT_LITERAL, KAFKA_PERM_DENY);
    ck_assert(!STREAM_OK(&x, KAFKA_OP_WRITE, "ORDERS"));
    ck_assert_uint_eq(x.ns.acl_scans, 4);
    /* Names that share a slot replace each other and are never confused. */
    char names[NATS_ACL_CACHE_SLOTS * 3][16];
    for (int i = 0; i < NATS_ACL_CACHE_SLOTS * 3; i++) snprintf(names[i], sizeof(names[i]), "S%d", i);
    allow(&x, "User:alice", KAFKA_OP_READ, "S1", KAFKA_PAT_PREFIXED, KAFKA_PERM_ALLOW);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < NATS_ACL_CACHE_SLOTS * 3; i++)
            ck_assert_msg(STREAM_OK(&x, KAFKA_OP_READ, names[i]) == (strncmp(names[i], "S1", 2) == 0), "%s", names[i]);
    /* In-process publishes (no client) and the authorizer off: allowed, nothing counted. */
    uint64_t checks = x.ns.acl_checks;
    x.ns.route_pub = NULL;
    ck_assert(STREAM_OK(&x, KAFKA_OP_DELETE, "ORDERS"));
    x.ns.route_pub = &x.nc;
    x.cfg.kafka_authorizer = false;
    ck_assert(STREAM_OK(&x, KAFKA_OP_DELETE, "ORDERS"));
    ck_assert(nats_acl_stream_create_allowed(&x.ns, "NEW", 3));
    ck_assert_uint_eq(x.ns.acl_checks, checks);
    x.cfg.kafka_authorizer = true;
    /* CREATE: on the topic, or on the cluster. */
    ck_assert(!nats_acl_stream_create_allowed(&x.ns, "NEW", 3));
    allow(&x, "User:alice", KAFKA_OP_CREATE, "NEW", KAFKA_PAT_LITERAL, KAFKA_PERM_ALLOW);
    ck_assert(nats_acl_stream_create_allowed(&x.ns, "NEW", 3));
    ck_assert(!nats_acl_stream_create_allowed(&x.ns, "OTHER", 5));
    struct kafka_acl cluster = {KAFKA_RES_CLUSTER, ks(ACL_CLUSTER_RESOURCE), KAFKA_PAT_LITERAL, ks("User:alice"),
                                ks("*"), KAFKA_OP_CREATE, KAFKA_PERM_ALLOW};
    acl_set_add(x.acls, &cluster);
    acl_set_changed(x.acls);
    ck_assert(nats_acl_stream_create_allowed(&x.ns, "OTHER", 5));
    /* A super user needs no ACL. */
    static char admin[] = "admin";
    x.user.name = admin;
    acl_set_changed(x.acls); /* as a reload that changes a connection's user does */
    ck_assert(STREAM_OK(&x, KAFKA_OP_DELETE, "ORDERS"));
    fixture_stop(&x);
}
END_TEST

/* A durable consumer's group: its own verdicts, apart from the stream of the same name's. */
START_TEST(test_group_verdicts) {
    struct fixture x;
    fixture_start(&x);
    struct kafka_acl g = {KAFKA_RES_GROUP, ks("ORDERS"), KAFKA_PAT_LITERAL, ks("User:alice"), ks("*"),
                          KAFKA_OP_READ, KAFKA_PERM_ALLOW};
    acl_set_add(x.acls, &g);
    acl_set_changed(x.acls);
#define GROUP_OK(x, op, name) nats_acl_group_allowed(&(x)->ns, op, name, strlen(name))
    ck_assert(GROUP_OK(&x, KAFKA_OP_READ, "ORDERS"));
    ck_assert(!STREAM_OK(&x, KAFKA_OP_READ, "ORDERS")); /* the topic ORDERS: no ACL */
    ck_assert(GROUP_OK(&x, KAFKA_OP_DESCRIBE, "ORDERS")); /* READ implies DESCRIBE */
    ck_assert(!GROUP_OK(&x, KAFKA_OP_DELETE, "ORDERS"));
    uint64_t scans = x.ns.acl_scans;
    for (int i = 0; i < 10; i++) { /* the group and the topic ORDERS keep a slot each */
        ck_assert(GROUP_OK(&x, KAFKA_OP_READ, "ORDERS"));
        ck_assert(!STREAM_OK(&x, KAFKA_OP_READ, "ORDERS"));
    }
    ck_assert_uint_eq(x.ns.acl_scans, scans);
    ck_assert(!GROUP_OK(&x, KAFKA_OP_READ, "ORDERS2"));
    char p[128];
    nats_acl_group_denied_text(&x.ns, KAFKA_OP_DELETE, "W", 1, p, sizeof(p));
    ck_assert_str_eq(p, "User:alice is not authorized to DELETE group W");
    x.cfg.kafka_authorizer = false;
    ck_assert(GROUP_OK(&x, KAFKA_OP_DELETE, "ORDERS"));
#undef GROUP_OK
    fixture_stop(&x);
}
END_TEST

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

START_TEST(test_cost_with_10000_acls) {
    struct fixture x;
    fixture_start(&x);
    char name[64], principal[64];
    for (int i = 0; i < ACL_SET_MAX - 1; i++) {
        snprintf(name, sizeof(name), "topic-%d", i);
        snprintf(principal, sizeof(principal), "User:user%d", i % 50);
        allow(&x, principal, KAFKA_OP_READ, name, KAFKA_PAT_LITERAL, KAFKA_PERM_ALLOW);
    }
    allow(&x, "User:alice", KAFKA_OP_WRITE, "ORDERS", KAFKA_PAT_LITERAL, KAFKA_PERM_ALLOW);
    ck_assert_uint_eq(x.acls->n, ACL_SET_MAX);
    const int scans = 2000, kept = 2000000;
    int allowed = 0; /* counted, not asserted: Check's asserts cost more than what is timed */
    double t0 = now_s();
    for (int i = 0; i < scans; i++) {
        acl_set_changed(x.acls); /* every check a scan */
        allowed += STREAM_OK(&x, KAFKA_OP_WRITE, "ORDERS");
    }
    double t1 = now_s();
    for (int i = 0; i < kept; i++) allowed += STREAM_OK(&x, KAFKA_OP_WRITE, "ORDERS");
    double t2 = now_s();
    ck_assert_int_eq(allowed, scans + kept);
    printf("nats_acl: 10,000 ACLs: a scan %.1f us, a kept verdict %.1f ns\n", (t1 - t0) / scans * 1e6,
           (t2 - t1) / kept * 1e9);
    ck_assert_uint_eq(x.ns.acl_scans, (uint64_t)scans);
    fixture_stop(&x);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/nats/nats_acl");
    TCase *tc = tcase_create("acl");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_principal);
    tcase_add_test(tc, test_checks_and_kept_verdicts);
    tcase_add_test(tc, test_group_verdicts);
    tcase_add_test(tc, test_cost_with_10000_acls);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
