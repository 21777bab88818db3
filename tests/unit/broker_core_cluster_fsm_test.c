/* broker_core_cluster_fsm_test.c: broker/core/cluster_fsm.c, the metadata FSM: a command
 * and a snapshot round-trip byte for byte; registration inserts in id order and updates in
 * place; the table's limit; and every decoder refusal (versions, types, truncation at every
 * byte, lengths, NULs, id 0, ids not rising, bytes left over), a refused restore leaving the
 * state as it was. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "broker/core/cluster_fsm.h"

static struct cluster_cmd reg(uint32_t id, const char *kafka, const char *nats) {
    struct cluster_cmd c = {.type = CLUSTER_CMD_REGISTER};
    c.reg.node_id = id;
    snprintf(c.reg.kafka, sizeof(c.reg.kafka), "%s", kafka);
    snprintf(c.reg.nats, sizeof(c.reg.nats), "%s", nats);
    snprintf(c.reg.http, sizeof(c.reg.http), "h:3");
    return c;
}

START_TEST(test_cmd_round_trip) {
    struct cluster_cmd c = reg(7, "10.0.0.7:9092", "10.0.0.7:4222"), d;
    uint8_t buf[512];
    size_t n = cluster_cmd_encode(&c, buf, sizeof(buf));
    ck_assert_uint_eq(n, 48); /* 2 + 4 + 2 + 13 + 2 + 13 + 2 + 3 = 41, padded to a multiple of 8 */
    for (size_t i = 41; i < 48; i++) ck_assert_uint_eq(buf[i], 0);
    ck_assert_uint_eq(buf[0], CLUSTER_CMD_VERSION);
    ck_assert_uint_eq(buf[1], CLUSTER_CMD_REGISTER);
    ck_assert_uint_eq(buf[5], 7); /* node id, big-endian */
    char err[160];
    ck_assert_int_eq(cluster_cmd_decode(buf, n, &d, err, sizeof(err)), 0);
    ck_assert_uint_eq(d.reg.node_id, 7);
    ck_assert_str_eq(d.reg.kafka, "10.0.0.7:9092");
    ck_assert_str_eq(d.reg.nats, "10.0.0.7:4222");
    ck_assert_str_eq(d.reg.http, "h:3");
    /* Too small a buffer, id 0, an empty or over-long address: nothing is encoded. */
    ck_assert_uint_eq(cluster_cmd_encode(&c, buf, n - 1), 0);
    struct cluster_cmd zero = reg(0, "a:1", "b:2");
    ck_assert_uint_eq(cluster_cmd_encode(&zero, buf, sizeof(buf)), 0);
    struct cluster_cmd empty = reg(1, "", "b:2");
    ck_assert_uint_eq(cluster_cmd_encode(&empty, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_cmd_refusals) {
    struct cluster_cmd c = reg(7, "h:12", "h:2"), d;
    uint8_t buf[512], bad[512];
    size_t n = cluster_cmd_encode(&c, buf, sizeof(buf));
    char err[160];
    for (size_t cut = 0; cut < 22; cut++) /* every truncation of the command itself */
        ck_assert_int_eq(cluster_cmd_decode(buf, cut, &d, err, sizeof(err)), -1);
    ck_assert_uint_eq(n, 24); /* 22 bytes and 2 of padding */
    for (size_t cut = 23; cut < n; cut++) /* cut inside the padding: not a multiple of 8 */
        ck_assert_int_eq(cluster_cmd_decode(buf, cut, &d, err, sizeof(err)), -1);
    ck_assert_int_eq(cluster_cmd_decode(buf, 22, &d, err, sizeof(err)), 0); /* unpadded is whole */
    memcpy(bad, buf, n);
    memset(bad + n, 0, 8);
    ck_assert_int_eq(cluster_cmd_decode(bad, n + 8, &d, err, sizeof(err)), -1); /* 8 zeros more: too many */
    ck_assert_ptr_nonnull(strstr(err, "left over"));
    memcpy(bad, buf, n);
    bad[22] = 1; /* padding that is not zero */
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "left over"));
    memcpy(bad, buf, n);
    bad[0] = 2;
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "version 2"));
    memcpy(bad, buf, n);
    bad[1] = 9;
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown type 9"));
    memcpy(bad, buf, n);
    memset(bad + 2, 0, 4); /* node id 0 */
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "node id 0"));
    memcpy(bad, buf, n);
    bad[9] = '\0'; /* inside "h:12" */
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "NUL"));
    memcpy(bad, buf, n);
    bad[6] = 0xff; /* kafka_len 0xff03: past the end and over the limit */
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    memcpy(bad, buf, n);
    bad[7] = 0; /* kafka_len 0 */
    ck_assert_int_eq(cluster_cmd_decode(bad, n, &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
}
END_TEST

START_TEST(test_apply_and_snapshot) {
    static struct cluster_fsm f, g;
    memset(&f, 0, sizeof(f));
    struct cluster_cmd c3 = reg(3, "h3:9092", "h3:4222"), c1 = reg(1, "h1:9092", "h1:4222");
    struct cluster_cmd c1b = reg(1, "h1:19092", "h1:14222");
    ck_assert_int_eq(cluster_fsm_apply(&f, &c3), 0);
    ck_assert_int_eq(cluster_fsm_apply(&f, &c1), 0);
    ck_assert_uint_eq(f.count, 2);
    ck_assert_uint_eq(f.brokers[0].node_id, 1); /* id order */
    ck_assert_int_eq(cluster_fsm_apply(&f, &c1b), 0); /* an update replaces */
    ck_assert_uint_eq(f.count, 2);
    ck_assert_str_eq(cluster_fsm_find(&f, 1)->kafka, "h1:19092");
    ck_assert_ptr_null(cluster_fsm_find(&f, 2));
    ck_assert_uint_eq(f.applied, 3);

    uint8_t buf[4096];
    size_t size = cluster_fsm_snapshot_size(&f);
    ck_assert_uint_eq(cluster_fsm_snapshot_encode(&f, buf, size - 1), 0);
    ck_assert_uint_eq(cluster_fsm_snapshot_encode(&f, buf, sizeof(buf)), size);
    ck_assert_int_eq(memcmp(buf, "SLCF", 4), 0);
    ck_assert_uint_eq(buf[4], CLUSTER_SNAP_VERSION);
    char err[160];
    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(cluster_fsm_restore(&g, buf, size, err, sizeof(err)), 0);
    ck_assert_uint_eq(g.count, 2);
    ck_assert_str_eq(g.brokers[0].nats, "h1:14222");
    ck_assert_str_eq(g.brokers[1].kafka, "h3:9092");
    uint8_t again[4096];
    ck_assert_uint_eq(cluster_fsm_snapshot_encode(&g, again, sizeof(again)), size);
    ck_assert_int_eq(memcmp(buf, again, size), 0);

    /* An empty state round-trips too. */
    static struct cluster_fsm empty;
    memset(&empty, 0, sizeof(empty));
    size_t en = cluster_fsm_snapshot_encode(&empty, again, sizeof(again));
    ck_assert_uint_eq(en, 9);
    ck_assert_int_eq(cluster_fsm_restore(&g, again, en, err, sizeof(err)), 0);
    ck_assert_uint_eq(g.count, 0);
}
END_TEST

START_TEST(test_snapshot_refusals) {
    static struct cluster_fsm f, g;
    memset(&f, 0, sizeof(f));
    struct cluster_cmd a = reg(1, "a:1", "a:2"), b = reg(2, "b:1", "b:2");
    cluster_fsm_apply(&f, &a);
    cluster_fsm_apply(&f, &b);
    uint8_t buf[1024], bad[1024];
    size_t n = cluster_fsm_snapshot_encode(&f, buf, sizeof(buf));
    char err[160];
    g = f;
    for (size_t cut = 0; cut < n; cut++) {
        ck_assert_int_eq(cluster_fsm_restore(&g, buf, cut, err, sizeof(err)), -1);
        ck_assert_uint_eq(g.count, 2); /* untouched */
    }
    memcpy(bad, buf, n);
    bad[0] = 'X';
    ck_assert_int_eq(cluster_fsm_restore(&g, bad, n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "magic"));
    memcpy(bad, buf, n);
    bad[4] = 2;
    ck_assert_int_eq(cluster_fsm_restore(&g, bad, n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "version 2"));
    memcpy(bad, buf, n);
    bad[8] = 3; /* count 3, two entries */
    ck_assert_int_eq(cluster_fsm_restore(&g, bad, n, err, sizeof(err)), -1);
    memcpy(bad, buf, n);
    bad[5] = 1; /* count 2^24 + 2 */
    ck_assert_int_eq(cluster_fsm_restore(&g, bad, n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "more than"));
    memcpy(bad, buf, n);
    bad[n] = 0;
    ck_assert_int_eq(cluster_fsm_restore(&g, bad, n + 1, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "left over"));
    /* Ids not rising: the second entry's id made 1. */
    memcpy(bad, buf, n);
    size_t second = 9 + 4 + 2 + 3 + 2 + 3 + 2 + 3;
    bad[second + 3] = 1;
    ck_assert_int_eq(cluster_fsm_restore(&g, bad, n, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "rising"));
    ck_assert_uint_eq(g.count, 2);
    ck_assert_str_eq(g.brokers[1].kafka, "b:1");
}
END_TEST

START_TEST(test_table_limit) {
    static struct cluster_fsm f;
    memset(&f, 0, sizeof(f));
    for (uint32_t i = 1; i <= CLUSTER_BROKERS_MAX; i++) {
        struct cluster_cmd c = reg(i, "h:1", "h:2");
        ck_assert_int_eq(cluster_fsm_apply(&f, &c), 0);
    }
    struct cluster_cmd more = reg(CLUSTER_BROKERS_MAX + 1, "h:1", "h:2");
    ck_assert_int_eq(cluster_fsm_apply(&f, &more), -1);
    struct cluster_cmd update = reg(5, "x:1", "x:2"); /* an update still fits */
    ck_assert_int_eq(cluster_fsm_apply(&f, &update), 0);
    ck_assert_uint_eq(f.count, CLUSTER_BROKERS_MAX);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/core/cluster_fsm");
    TCase *tc = tcase_create("cluster_fsm");
    tcase_add_test(tc, test_cmd_round_trip);
    tcase_add_test(tc, test_cmd_refusals);
    tcase_add_test(tc, test_apply_and_snapshot);
    tcase_add_test(tc, test_snapshot_refusals);
    tcase_add_test(tc, test_table_limit);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
