/* broker_cluster_cluster_nodes_test.c: broker/cluster/cluster_nodes.c, the cluster_nodes list:
 * good lists (one node, the limit, host names), and every refusal with the word that names it;
 * plus sl_config_validate's cluster rules (node_id in the list, cluster_raft_addr's port). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "broker/cluster/cluster_nodes.h"
#include "broker/config.h"

START_TEST(test_parse_good) {
    struct cluster_nodes n;
    char err[200];
    ck_assert_int_eq(cluster_nodes_parse("1@127.0.0.1:7001,2@127.0.0.1:7002,3@127.0.0.1:7003", &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n.count, 3);
    ck_assert_uint_eq(n.nodes[0].id, 1);
    ck_assert_str_eq(n.nodes[0].address, "127.0.0.1:7001");
    ck_assert_uint_eq(n.nodes[2].id, 3);
    ck_assert_str_eq(n.nodes[2].address, "127.0.0.1:7003");
    ck_assert_ptr_eq(cluster_nodes_find(&n, 2), &n.nodes[1]);
    ck_assert_ptr_null(cluster_nodes_find(&n, 4));
    ck_assert_int_eq(cluster_nodes_parse("4294967295@node-a.example:65535", &n, err, sizeof(err)), 0);
    ck_assert_uint_eq(n.nodes[0].id, 4294967295u);
    uint16_t port = 0;
    ck_assert_int_eq(cluster_addr_check("10.0.0.1:1", &port, err, sizeof(err)), 0);
    ck_assert_uint_eq(port, 1);
    /* CLUSTER_NODES_MAX items pass, one more does not. */
    char list[2048] = "";
    for (int i = 1; i <= CLUSTER_NODES_MAX + 1; i++) {
        char item[40];
        snprintf(item, sizeof(item), "%s%d@127.0.0.1:%d", i > 1 ? "," : "", i, 7000 + i);
        strcat(list, item);
        if (i == CLUSTER_NODES_MAX) {
            ck_assert_int_eq(cluster_nodes_parse(list, &n, err, sizeof(err)), 0);
            ck_assert_uint_eq(n.count, CLUSTER_NODES_MAX);
        }
    }
    ck_assert_int_eq(cluster_nodes_parse(list, &n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "more than"));
}
END_TEST

static const struct {
    const char *text, *word;
} bad[] = {
    {"", "empty list"},
    {",1@h:1", "empty item"},
    {"1@h:1,", "empty item"},
    {"1@h:1,,2@h:2", "empty item"},
    {"1h:1", "no '@'"},
    {"@h:1", "node id"},
    {"0@h:1", "node id"},
    {"-1@h:1", "node id"},
    {"x@h:1", "node id"},
    {"4294967296@h:1", "node id"},
    {"01234567890@h:1", "node id"},
    {"1@", "empty address"},
    {"1@h", "no ':port'"},
    {"1@:7001", "no host"},
    {"1@h:", "port"},
    {"1@h:0", "port"},
    {"1@h:65536", "port"},
    {"1@h:70a", "port"},
    {"1@h :1", "space"},
    {"1 @h:1", "node id"},
    {"1@h:1,1@g:2", "named twice"},
    {"1@h:1,2@h:1", "named twice"},
    {"1@h@g:1", "not allowed"},
    {"1@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1", "longer than"},
};

START_TEST(test_parse_bad) {
    struct cluster_nodes n;
    char err[200] = "";
    int rc = cluster_nodes_parse(bad[_i].text, &n, err, sizeof(err));
    ck_assert_msg(rc == -1, "'%s' was accepted", bad[_i].text);
    ck_assert_msg(strstr(err, bad[_i].word) != NULL, "'%s': '%s' does not say '%s'", bad[_i].text, err, bad[_i].word);
}
END_TEST

static int validate(const char *nodes, uint32_t node_id, const char *raft_addr, char *err, size_t cap) {
    struct sl_config cfg;
    sl_config_defaults(&cfg);
    cfg.node_id = node_id;
    snprintf(cfg.cluster_nodes, sizeof(cfg.cluster_nodes), "%s", nodes);
    snprintf(cfg.cluster_raft_addr, sizeof(cfg.cluster_raft_addr), "%s", raft_addr);
    int rc = sl_config_validate(&cfg, err, cap);
    sl_config_free(&cfg);
    return rc;
}

START_TEST(test_config_rules) {
    char err[300];
    const char *list = "1@127.0.0.1:7001,2@127.0.0.1:7002";
    ck_assert_int_eq(validate("", 1, "", err, sizeof(err)), 0); /* no cluster: nothing changes */
    ck_assert_int_eq(validate(list, 2, "", err, sizeof(err)), 0);
    ck_assert_int_eq(validate(list, 2, "0.0.0.0:7002", err, sizeof(err)), 0);
    ck_assert_int_eq(validate(list, 3, "", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "node_id 3 is not in the list"));
    ck_assert_int_eq(validate(list, 3, "127.0.0.1:7003", err, sizeof(err)), 0); /* joining */
    ck_assert_int_eq(validate(list, 3, "127.0.0.1", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cluster_raft_addr: address '127.0.0.1' has no ':port'"));
    ck_assert_int_eq(validate(list, 1, "0.0.0.0:7002", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cluster_raft_addr: port 7002"));
    ck_assert_int_eq(validate("", 1, "0.0.0.0:7001", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "needs cluster_nodes"));
    ck_assert_int_eq(validate("1@127.0.0.1:7001,garbage", 1, "", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "cluster_nodes: 'garbage' is not id@host:port"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/cluster/cluster_nodes");
    TCase *tc = tcase_create("cluster_nodes");
    tcase_add_test(tc, test_parse_good);
    tcase_add_loop_test(tc, test_parse_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, test_config_rules);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
