/* broker_core_topics_test.c: the topic registry and the cluster record in the metadata log:
 * replay after a clean stop and after kill -9, deletions and added partitions, a topic named
 * like a temporary file, the import of a previous version's .topics/ and .cluster, and
 * producer ids that are never reused. */
#include <check.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/base.h"
#include "broker/core/cluster_meta.h"
#include "broker/core/partition.h"
#include "broker/core/topics.h"
#include "storage/kvlog.h"
#include "storage_fixture.h"

struct reg {
    struct fx f;
    struct log_config defaults;
    struct topics *t;
};

static void reg_open(struct reg *r) {
    log_config_defaults(&r->defaults);
    fx_open(&r->f, &r->defaults);
    ck_assert_int_eq(topics_open(&r->t, r->f.st, r->f.dir, &r->defaults), SL_OK);
}

static void reg_close(struct reg *r) {
    topics_close(r->t);
    fx_close(&r->f);
}

struct fired {
    struct log_waiter w;
    int count;
    sl_err err;
};

static void fired_done(struct log_waiter *w, sl_err err) {
    struct fired *f = (struct fired *)w;
    f->count++;
    f->err = err;
}

static bool fired_pred(void *arg) { return ((struct fired *)arg)->count > 0; }

static struct topic *get(struct reg *r, const char *name) { return topics_get(r->t, name, (int32_t)strlen(name)); }

static const char *override_of(const struct topic *tp, const char *key) {
    for (uint32_t i = 0; i < tp->override_count; i++)
        if (!strcmp(tp->overrides[i].key, key)) return tp->overrides[i].value;
    return NULL;
}

static bool gone_removed(void *arg) { return store_log_get(((struct reg *)arg)->f.st, "gone", 0) == NULL; }

/* The changes both replay tests make, and what they leave. */
static void make_changes(struct reg *r, uint8_t id_t1[16]) {
    const char *why = NULL;
    const char *k1[] = {"retention.ms", "cleanup.policy"}, *v1[] = {"12345", "delete"};
    struct topic *tp;
    ck_assert_int_eq(topics_create(r->t, "t1", 2, 3, k1, v1, 2, false, &tp, &why), SL_OK);
    memcpy(id_t1, tp->id, 16);
    const char *k2[] = {"segment.bytes"}, *v2[] = {"4096"};
    ck_assert_int_eq(topics_create(r->t, "a.tmp", 5, 1, k2, v2, 1, false, NULL, &why), SL_OK);
    ck_assert_int_eq(topics_create(r->t, "gone", 4, 2, NULL, NULL, 0, false, NULL, &why), SL_OK);
    ck_assert_int_eq(topics_delete(r->t, get(r, "gone")), SL_OK);
    /* The registry lets go at once; the directories go a slice per loop turn. */
    ck_assert_ptr_null(get(r, "gone"));
    ck_assert(loop_run_until(&r->f.loop, gone_removed, r, 10000));
    ck_assert_int_eq(topics_add_partitions(r->t, get(r, "t1"), 5, false, &why), SL_OK);
    ck_assert_int_eq(topics_set_config(r->t, get(r, "t1"), "max.message.bytes", "2048", &why), SL_OK);
    ck_assert_int_eq(topics_set_config(r->t, get(r, "t1"), "cleanup.policy", NULL, &why), SL_OK);
    ck_assert_int_eq(topics_create(r->t, "z", 1, 1, NULL, NULL, 0, false, NULL, &why), SL_OK);
    /* Internal names are refused. */
    ck_assert_int_eq(topics_create(r->t, TOPICS_METADATA_TOPIC, (int32_t)strlen(TOPICS_METADATA_TOPIC), 1, NULL,
                                   NULL, 0, false, NULL, &why),
                     SL_INVALID_TOPIC);
}

static void check_changes(struct reg *r, const uint8_t id_t1[16]) {
    ck_assert_uint_eq(topics_count(r->t), 3);
    ck_assert_str_eq(topics_at(r->t, 0)->name, "t1");
    ck_assert_str_eq(topics_at(r->t, 1)->name, "a.tmp");
    ck_assert_str_eq(topics_at(r->t, 2)->name, "z");
    ck_assert_ptr_null(get(r, "gone"));
    ck_assert_ptr_null(get(r, TOPICS_METADATA_TOPIC));
    ck_assert_ptr_null(store_log_get(r->f.st, "gone", 0));
    struct topic *t1 = get(r, "t1");
    ck_assert_int_eq(t1->partition_count, 5);
    ck_assert_int_eq(memcmp(t1->id, id_t1, 16), 0);
    ck_assert_uint_eq(t1->override_count, 2);
    ck_assert_str_eq(override_of(t1, "retention.ms"), "12345");
    ck_assert_str_eq(override_of(t1, "max.message.bytes"), "2048");
    ck_assert_ptr_null(override_of(t1, "cleanup.policy"));
    ck_assert_int_eq(t1->cfg.retention_ms, 12345);
    ck_assert_uint_eq(t1->cfg.batch_bytes_max, 2048);
    for (int32_t p = 0; p < 5; p++) {
        ck_assert_ptr_nonnull(t1->parts[p]);
        ck_assert_ptr_eq(partition_log(t1->parts[p]), store_log_get(r->f.st, "t1", p));
        ck_assert_int_eq(log_get_config(partition_log(t1->parts[p]))->retention_ms, 12345);
    }
    struct topic *at = get(r, "a.tmp");
    ck_assert_int_eq(at->partition_count, 1);
    ck_assert_uint_eq(at->override_count, 1);
    ck_assert_str_eq(override_of(at, "segment.bytes"), "4096");
    ck_assert_uint_eq(at->cfg.segment_bytes, 4096);
    ck_assert_uint_eq(log_get_config(partition_log(at->parts[0]))->segment_bytes, 4096);
    ck_assert_uint_eq(get(r, "z")->override_count, 0);
}

/* Kafka's standard topic configs: each accepted with a good value and refused, with Kafka's
 * wording, with a bad one. */
START_TEST(kafka_config_checks) {
    static const struct {
        const char *key, *good, *bad, *why;
    } rows[] = {
        {"cleanup.policy", "compact", "compacted", "String must be one of: compact, delete"},
        {"cleanup.policy", " delete , compact", "delete,nope", "String must be one of: compact, delete"},
        {"compression.type", "zstd", "brotli", "String must be one of: producer,uncompressed,gzip,snappy,lz4,zstd"},
        {"delete.retention.ms", "0", "-1", "Value must be at least 0"},
        {"file.delete.delay.ms", "60000", "x", "Not a number of type LONG"},
        {"flush.messages", "1", "0", "Value must be at least 1"},
        {"flush.ms", "1000", "-5", "Value must be at least 0"},
        {"follower.replication.throttled.replicas", "0:1, 1:1", "0-1", "[partitionId]:[brokerId]"},
        {"index.interval.bytes", "4096", "2147483648", "Value must be at least 1"},
        {"leader.replication.throttled.replicas", "*", "*,1:1", "[partitionId]:[brokerId]"},
        {"local.retention.bytes", "-2", "-3", "Value must be at least -2"},
        {"local.retention.ms", "1000", "-3", "Value must be at least -2"},
        {"max.compaction.lag.ms", "1", "0", "Value must be at least 1"},
        {"max.message.bytes", "1048588", "abc", "Not a number of type INT"},
        {"message.downconversion.enable", "FALSE", "no", "Expected value to be either true or false"},
        {"message.format.version", "3.0-IV1", "4.x", "not a Kafka version"},
        {"message.format.version", "0.10.2", "0.10", "not a Kafka version"},
        {"message.timestamp.after.max.ms", "3600000", "-1", "Value must be at least 0"},
        {"message.timestamp.before.max.ms", "3600000", "-1", "Value must be at least 0"},
        {"message.timestamp.difference.max.ms", "3600000", "-1", "Value must be at least 0"},
        {"message.timestamp.type", "LogAppendTime", "Now", "String must be one of: CreateTime,LogAppendTime"},
        {"min.cleanable.dirty.ratio", "0.25", "1.5", "Value must be between 0 and 1"},
        {"min.compaction.lag.ms", "0", "-1", "Value must be at least 0"},
        {"min.insync.replicas", "3", "8", "Value must be in the range [1, 7]"},
        {"preallocate", "true", "yes", "Expected value to be either true or false"},
        {"remote.storage.enable", "false", "true", "tiered storage is not enabled"},
        {"retention.bytes", "-1", "-2", "Value must be at least -1"},
        {"retention.ms", "-1", "-2", "Value must be at least -1"},
        {"segment.bytes", "1048576", "100", "Value must be in the range [1024, 2147483648]"},
        {"segment.index.bytes", "4", "3", "Value must be at least 4"},
        {"segment.jitter.ms", "0", "-1", "Value must be at least 0"},
        {"segment.ms", "1", "0", "Value must be at least 1"},
        {"unclean.leader.election.enable", "false", "1", "Expected value to be either true or false"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *why = NULL;
        ck_assert_msg(topics_config_check(rows[i].key, rows[i].good, &why) == SL_OK, "%s=%s: %s", rows[i].key,
                      rows[i].good, why);
        ck_assert_int_eq(topics_config_check(rows[i].key, NULL, &why), SL_OK);
        ck_assert_int_eq(topics_config_check(rows[i].key, rows[i].bad, &why), SL_INVALID_CONFIG);
        ck_assert_msg(strstr(why, rows[i].why) && strstr(why, rows[i].key), "%s=%s: %s", rows[i].key, rows[i].bad,
                      why);
    }
    const char *why = NULL;
    ck_assert_int_eq(topics_config_check("no.such.config", "1", &why), SL_INVALID_CONFIG);
    ck_assert_str_eq(why, "Unknown topic config name: no.such.config");
}
END_TEST

/* Sluice's own topic configs: checked, applied, described, and kept across a restart. */
START_TEST(sluice_configs) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    reg_open(&r);
    const char *why = NULL;
    ck_assert_int_eq(topics_config_check("sluice.retention.policy", "workqueue", &why), SL_OK);
    ck_assert_int_eq(topics_config_check("sluice.retention.policy", "delete", &why), SL_OK);
    ck_assert_int_eq(topics_config_check("sluice.retention.policy", "interest", &why), SL_INVALID_CONFIG);
    ck_assert_int_eq(topics_config_check("sluice.dlq.stream", "ORDERS_DLQ", &why), SL_OK);
    ck_assert_int_eq(topics_config_check("sluice.dlq.stream", "", &why), SL_OK);
    ck_assert_int_eq(topics_config_check("sluice.dlq.stream", "a b", &why), SL_INVALID_CONFIG);
    const char *k[] = {"sluice.retention.policy"}, *v[] = {"workqueue"};
    struct topic *tp;
    ck_assert_int_eq(topics_create(r.t, "wq", 2, 1, k, v, 1, false, &tp, &why), SL_OK);
    ck_assert(tp->group_workqueue);
    ck_assert_int_eq(topics_create(r.t, "plain", 5, 1, NULL, NULL, 0, false, &tp, &why), SL_OK);
    ck_assert(!tp->group_workqueue);
    ck_assert_ptr_null(topic_config_value(tp, "sluice.dlq.stream"));
    ck_assert_int_eq(topics_set_config(r.t, tp, "sluice.dlq.stream", "DEAD", &why), SL_OK);
    struct topic_config_view views[TOPIC_CONFIGS_MAX];
    uint32_t n = topics_describe(r.t, tp, views, TOPIC_CONFIGS_MAX);
    int seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!strcmp(views[i].key, "sluice.retention.policy")) {
            ck_assert_str_eq(views[i].value, "delete");
            ck_assert(views[i].is_default);
            seen++;
        }
        if (!strcmp(views[i].key, "sluice.dlq.stream")) {
            ck_assert_str_eq(views[i].value, "DEAD");
            ck_assert(!views[i].is_default);
            seen++;
        }
    }
    ck_assert_int_eq(seen, 2);
    struct fired fw = {.w.done = fired_done};
    topics_wait_durable(r.t, &fw.w);
    ck_assert(loop_run_until(&r.f.loop, fired_pred, &fw, 10000));
    reg_close(&r);
    reg_open(&r);
    ck_assert(get(&r, "wq")->group_workqueue);
    ck_assert(!get(&r, "plain")->group_workqueue);
    ck_assert_str_eq(topic_config_value(get(&r, "plain"), "sluice.dlq.stream"), "DEAD");
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

/* cleanup.policy reaches the log's config; APPEND/SUBTRACT work on the list as Kafka's do. */
START_TEST(cleanup_policy_and_list_ops) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    reg_open(&r);
    const char *why = NULL;
    struct topic *tp;
    ck_assert_int_eq(topics_create(r.t, "c", 1, 1, NULL, NULL, 0, false, &tp, &why), SL_OK);
    ck_assert(!tp->cfg.compact);
    ck_assert_int_ge(tp->cfg.retention_ms, 0);
    char out[256];
    ck_assert_int_eq(topics_config_list_op(tp, "cleanup.policy", "compact", true, out, sizeof(out), &why), SL_OK);
    ck_assert_str_eq(out, "delete,compact");
    ck_assert_int_eq(topics_set_config(r.t, tp, "cleanup.policy", out, &why), SL_OK);
    ck_assert(tp->cfg.compact);
    ck_assert_int_ge(tp->cfg.retention_ms, 0);
    ck_assert_int_eq(topics_config_list_op(tp, "cleanup.policy", "compact", true, out, sizeof(out), &why), SL_OK);
    ck_assert_str_eq(out, "delete,compact"); /* already there: nothing added */
    ck_assert_int_eq(topics_config_list_op(tp, "cleanup.policy", "delete", false, out, sizeof(out), &why), SL_OK);
    ck_assert_str_eq(out, "compact");
    ck_assert_int_eq(topics_set_config(r.t, tp, "cleanup.policy", out, &why), SL_OK);
    ck_assert(tp->cfg.compact);
    ck_assert_int_eq(tp->cfg.retention_ms, -1); /* compact alone: no time or size retention */
    ck_assert_int_eq(tp->cfg.retention_bytes, -1);
    ck_assert(log_get_config(partition_log(tp->parts[0]))->compact);
    ck_assert_int_eq(topics_set_config(r.t, tp, "min.cleanable.dirty.ratio", "0.1", &why), SL_OK);
    ck_assert_int_eq(topics_set_config(r.t, tp, "delete.retention.ms", "5000", &why), SL_OK);
    ck_assert(tp->cfg.min_cleanable_ratio > 0.09 && tp->cfg.min_cleanable_ratio < 0.11);
    ck_assert_int_eq(tp->cfg.delete_retention_ms, 5000);
    ck_assert_int_eq(topics_config_list_op(tp, "retention.ms", "1", true, out, sizeof(out), &why), SL_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(why, "append is not allowed for config key: retention.ms"));
    reg_close(&r);
    reg_open(&r);
    ck_assert(get(&r, "c")->cfg.compact);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

START_TEST(replay_after_clean_stop) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    reg_open(&r);
    ck_assert(store_get_stats(r.f.st)->fresh);
    uint8_t id[16];
    make_changes(&r, id);
    check_changes(&r, id);
    reg_close(&r);
    reg_open(&r);
    ck_assert(!store_get_stats(r.f.st)->fresh);
    ck_assert(store_get_stats(r.f.st)->clean);
    check_changes(&r, id);
    reg_close(&r);
    /* No legacy files are written any more. */
    char path[512];
    snprintf(path, sizeof(path), "%s/.topics", r.f.dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    t_rmdir(r.f.dir);
}
END_TEST

START_TEST(replay_after_kill_9) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct reg c = r;
        close(fds[0]);
        reg_open(&c);
        uint8_t id[16];
        make_changes(&c, id);
        struct fired w = {.w.done = fired_done};
        topics_wait_durable(c.t, &w.w);
        if (!loop_run_until(&c.f.loop, fired_pred, &w, 10000) || w.err) _exit(5);
        if (write(fds[1], id, 16) != 16) _exit(6);
        kill(getpid(), SIGKILL);
        _exit(7);
    }
    close(fds[1]);
    uint8_t id[16];
    ck_assert_int_eq(read(fds[0], id, 16), 16);
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    reg_open(&r);
    ck_assert(!store_get_stats(r.f.st)->clean);
    check_changes(&r, id);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(legacy_topics_and_cluster_are_imported) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    char path[512];
    snprintf(path, sizeof(path), "%s/.topics", r.f.dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/.topics/orders", r.f.dir);
    write_file(path, "id = 00112233445566778899aabbccddeeff\npartitions = 2\nconfig.retention.ms = 999\n"
                     "config.segment.bytes = 8192\n");
    snprintf(path, sizeof(path), "%s/.topics/orders.tmp", r.f.dir); /* an old writer's leftover */
    write_file(path, "id = ffffffffffffffffffffffffffffffff\npartitions = 7\n");
    /* A topic named like a temporary file: its partition directory tells it from a leftover. */
    snprintf(path, sizeof(path), "%s/.topics/keep.tmp", r.f.dir);
    write_file(path, "id = 0102030405060708090a0b0c0d0e0f10\npartitions = 1\nconfig.retention.ms = 777\n");
    snprintf(path, sizeof(path), "%s/keep.tmp-0", r.f.dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/.cluster", r.f.dir);
    write_file(path, "cluster_id = LegacyCluster0123456789A\nproducer_id_block_end = 5000\n");
    for (int round = 0; round < 2; round++) {
        reg_open(&r);
        struct cluster_meta cm;
        ck_assert_int_eq(cluster_meta_open(&cm, topics_metadata(r.t), r.f.dir, 1000), SL_OK);
        ck_assert_str_eq(cm.cluster_id, "LegacyCluster0123456789A");
        int64_t pid;
        ck_assert_int_eq(cluster_meta_next_producer_id(&cm, 1000, &pid), SL_OK);
        /* 5000 was the old end; the first start reserved up to 6000, the second starts there. */
        ck_assert_int_eq(pid, round == 0 ? 5000 : 6000);
        ck_assert_uint_eq(topics_count(r.t), 2);
        struct topic *kt = get(&r, "keep.tmp");
        ck_assert_ptr_nonnull(kt);
        ck_assert_int_eq(kt->partition_count, 1);
        ck_assert_str_eq(override_of(kt, "retention.ms"), "777");
        ck_assert_int_eq(kt->cfg.retention_ms, 777);
        struct topic *tp = get(&r, "orders");
        ck_assert_ptr_nonnull(tp);
        static const uint8_t want_id[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
        ck_assert_int_eq(memcmp(tp->id, want_id, 16), 0);
        ck_assert_int_eq(tp->partition_count, 2);
        ck_assert_str_eq(override_of(tp, "retention.ms"), "999");
        ck_assert_str_eq(override_of(tp, "segment.bytes"), "8192");
        ck_assert_ptr_null(get(&r, "orders.tmp"));
        snprintf(path, sizeof(path), "%s/.topics", r.f.dir);
        ck_assert_int_ne(access(path, F_OK), 0);
        snprintf(path, sizeof(path), "%s/.cluster", r.f.dir);
        ck_assert_int_ne(access(path, F_OK), 0);
        cluster_meta_close(&cm);
        reg_close(&r);
    }
    t_rmdir(r.f.dir);
}
END_TEST

/* Kafka's Topic.hasCollision: '.' and '_' are one character; the existing name is checked
 * first, so the same name is TOPIC_EXISTS and a colliding one INVALID_TOPIC. */
START_TEST(names_collide_on_dot_and_underscore) {
    ck_assert(topics_names_collide("a.b", 3, "a_b", 3));
    ck_assert(topics_names_collide("a_b", 3, "a.b", 3));
    ck_assert(topics_names_collide("x._y", 4, "x_.y", 4));
    ck_assert(topics_names_collide("ab", 2, "ab", 2));
    ck_assert(!topics_names_collide("a.b", 3, "a-b", 3));
    ck_assert(!topics_names_collide("a.b", 3, "a.bc", 4));
    ck_assert(!topics_names_collide("a.b", 3, "A_b", 3));
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    reg_open(&r);
    const char *why = NULL;
    ck_assert_int_eq(topics_create(r.t, "m.x_1", 5, 1, NULL, NULL, 0, false, NULL, &why), SL_OK);
    ck_assert_int_eq(topics_create(r.t, "m.x_1", 5, 1, NULL, NULL, 0, false, NULL, &why), SL_TOPIC_EXISTS);
    ck_assert_int_eq(topics_create(r.t, "m_x.1", 5, 1, NULL, NULL, 0, true, NULL, &why), SL_INVALID_TOPIC);
    ck_assert_int_eq(topics_create(r.t, "m_x_1", 5, 1, NULL, NULL, 0, false, NULL, &why), SL_INVALID_TOPIC);
    ck_assert_ptr_nonnull(strstr(why, "collides"));
    ck_assert_int_eq(topics_create(r.t, "m-x_1", 5, 1, NULL, NULL, 0, false, NULL, &why), SL_OK);
    ck_assert_uint_eq(topics_count(r.t), 2);
    ck_assert_ptr_null(store_log_get(r.f.st, "m_x_1", 0));
    /* Once the first is gone the name is free again. */
    ck_assert_int_eq(topics_delete(r.t, get(&r, "m.x_1")), SL_OK);
    ck_assert_int_eq(topics_create(r.t, "m_x_1", 5, 1, NULL, NULL, 0, false, NULL, &why), SL_OK);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

/* Hands out n ids from a fresh registry in a child that is then killed; returns nothing: the
 * ids are 0..n-1 because the data directory is new. */
static void producer_ids_then_kill(const char *dir, int n, bool settle) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct reg c;
        snprintf(c.f.dir, sizeof(c.f.dir), "%s", dir);
        reg_open(&c);
        struct cluster_meta cm;
        if (cluster_meta_open(&cm, topics_metadata(c.t), dir, 1000) != SL_OK) _exit(3);
        for (int i = 0; i < n; i++) {
            int64_t id;
            if (cluster_meta_next_producer_id(&cm, 1000, &id) != SL_OK || id != i) _exit(4);
        }
        if (settle) loop_run_once(&c.f.loop, 0);
        kill(getpid(), SIGKILL);
        _exit(7);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

START_TEST(producer_ids_are_never_reused_after_kill_9) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    /* 2,600 ids: two blocks run out before their successors are durable (the tight loop gives
     * the group commit no turn), so the wait path runs too. */
    producer_ids_then_kill(r.f.dir, 2600, false);
    reg_open(&r);
    struct cluster_meta cm;
    ck_assert_int_eq(cluster_meta_open(&cm, topics_metadata(r.t), r.f.dir, 1000), SL_OK);
    int64_t id;
    ck_assert_int_eq(cluster_meta_next_producer_id(&cm, 1000, &id), SL_OK);
    ck_assert_int_ge(id, 2600);
    ck_assert_int_le(id, 4000);
    int64_t last = id;
    for (int i = 0; i < 3000; i++) {
        ck_assert_int_eq(cluster_meta_next_producer_id(&cm, 1000, &id), SL_OK);
        ck_assert_int_eq(id, last + 1);
        last = id;
    }
    cluster_meta_close(&cm);
    reg_close(&r);
    reg_open(&r);
    ck_assert_int_eq(cluster_meta_open(&cm, topics_metadata(r.t), r.f.dir, 1000), SL_OK);
    ck_assert_int_eq(cluster_meta_next_producer_id(&cm, 1000, &id), SL_OK);
    ck_assert_int_gt(id, last);
    cluster_meta_close(&cm);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

START_TEST(producer_ids_past_half_a_block_survive_kill_9) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    producer_ids_then_kill(r.f.dir, 600, true);
    reg_open(&r);
    struct cluster_meta cm;
    ck_assert_int_eq(cluster_meta_open(&cm, topics_metadata(r.t), r.f.dir, 1000), SL_OK);
    int64_t id;
    ck_assert_int_eq(cluster_meta_next_producer_id(&cm, 1000, &id), SL_OK);
    /* The first block ended at 1000 (durable at open); the next end may or may not be. */
    ck_assert(id == 1000 || id == 2000);
    cluster_meta_close(&cm);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

/* ---- a full disk: a failed metadata write leaves no topic the log does not have ------------- */

static bool tmpfs_mount(char *root, size_t cap, const char *opts) {
    snprintf(root, cap, "%s", t_tmpdir());
    if (mount("tmpfs", root, "tmpfs", 0, opts) == 0) return true;
    rmdir(root);
    return false;
}

static long fill(const char *path, long bytes) {
    static uint8_t chunk[65536];
    memset(chunk, 0xa5, sizeof(chunk));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    long done = 0;
    while (done < bytes) {
        ssize_t n = write(fd, chunk, (size_t)SL_MIN((long)sizeof(chunk), bytes - done));
        if (n <= 0) break;
        done += n;
    }
    close(fd);
    return done;
}

static char meta_pad[20000];

/* A 20 KB record under a key no topic has: the batch needs pages a full disk lacks. */
static sl_err put_meta_pad(struct reg *r, int i, struct log_waiter *w) {
    char key[32];
    snprintf(key, sizeof(key), "pad/%d", i);
    memset(meta_pad, 'p', sizeof(meta_pad));
    return kvlog_put(topics_metadata(r->t), key, (uint32_t)strlen(key), meta_pad, sizeof(meta_pad), 1000, w);
}

static bool reconciled(void *arg) {
    struct reg *r = arg;
    return !get(r, "x") && get(r, "t2");
}

static void check_after_failure(struct reg *r) {
    ck_assert_ptr_null(get(r, "x"));
    ck_assert_ptr_null(store_log_get(r->f.st, "x", 0));
    char path[600];
    snprintf(path, sizeof(path), "%s/x-0", r->f.dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    struct topic *t1 = get(r, "t1");
    ck_assert_ptr_nonnull(t1);
    ck_assert_int_eq(t1->partition_count, 2);
    ck_assert_ptr_null(store_log_get(r->f.st, "t1", 2));
    ck_assert_uint_eq(t1->override_count, 1);
    ck_assert_str_eq(override_of(t1, "retention.ms"), "12345");
    ck_assert_int_eq(t1->cfg.retention_ms, 12345);
    ck_assert_int_eq(log_get_config(partition_log(t1->parts[0]))->retention_ms, 12345);
    struct topic *t2 = get(r, "t2");
    ck_assert_ptr_nonnull(t2);
    ck_assert_int_eq(t2->partition_count, 1);
    ck_assert_ptr_nonnull(t2->parts[0]);
    ck_assert_ptr_eq(partition_log(t2->parts[0]), store_log_get(r->f.st, "t2", 0));
}

START_TEST(failed_metadata_writes_are_undone) {
    char root[256];
    ck_assert(tmpfs_mount(root, sizeof(root), "size=4m"));
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%.200s/data", root);
    ck_assert_int_eq(mkdir(r.f.dir, 0755), 0);
    log_config_defaults(&r.defaults);
    r.defaults.preallocate_bytes = 0;
    fx_open(&r.f, &r.defaults);
    ck_assert_int_eq(topics_open(&r.t, r.f.st, r.f.dir, &r.defaults), SL_OK);
    const char *why = NULL;
    const char *k1[] = {"retention.ms"}, *v1[] = {"12345"};
    ck_assert_int_eq(topics_create(r.t, "t1", 2, 2, k1, v1, 1, false, NULL, &why), SL_OK);
    ck_assert_int_eq(topics_create(r.t, "t2", 2, 1, NULL, NULL, 0, false, NULL, &why), SL_OK);
    ck_assert_int_eq(kvlog_flush(topics_metadata(r.t)), SL_OK);

    /* Fill the disk, then the metadata log's preallocated space, until a write fails. */
    char f1[300], f2[300], f3[300];
    snprintf(f1, sizeof(f1), "%s/filler1", root);
    snprintf(f2, sizeof(f2), "%s/filler2", root);
    snprintf(f3, sizeof(f3), "%s/filler3", root);
    ck_assert_int_eq(fill(f1, 512 << 10), 512 << 10);
    fill(f2, 64 << 20);
    bool failed = false;
    for (int i = 0; i < 400 && !failed; i++) {
        struct fired w = {.w.done = fired_done};
        sl_err e = put_meta_pad(&r, i, &w.w);
        if (!e) {
            ck_assert(loop_run_until(&r.f.loop, fired_pred, &w, 20000));
            e = w.err;
        }
        failed = e != SL_OK;
    }
    ck_assert(failed);
    fill(f3, 64 << 20);

    /* In one turn: a pad that cannot fit, then a new topic, more partitions, a config and a
     * delete. The partitions' directories and empty files need no data pages. */
    ck_assert_int_eq(put_meta_pad(&r, 9999, NULL), SL_OK);
    struct topic *x = NULL;
    sl_err e = topics_create(r.t, "x", 1, 2, NULL, NULL, 0, false, &x, &why);
    ck_assert_msg(e == SL_OK, "create: %s (%s)", sl_err_str(e), why);
    ck_assert_int_eq(topics_add_partitions(r.t, get(&r, "t1"), 4, false, &why), SL_OK);
    ck_assert_int_eq(topics_set_config(r.t, get(&r, "t1"), "retention.ms", "777", &why), SL_OK);
    ck_assert_int_eq(topics_set_config(r.t, get(&r, "t1"), "max.message.bytes", "2048", &why), SL_OK);
    ck_assert_int_eq(topics_delete(r.t, get(&r, "t2")), SL_OK);
    ck_assert_ptr_nonnull(get(&r, "x"));
    ck_assert_ptr_null(get(&r, "t2"));
    struct fired w = {.w.done = fired_done};
    topics_wait_durable(r.t, &w.w);
    ck_assert(loop_run_until(&r.f.loop, fired_pred, &w, 20000));
    ck_assert_int_eq(w.err, SL_NO_SPACE);
    ck_assert_ptr_null(get(&r, "x")); /* gone from the registry when the error is known */
    ck_assert(loop_run_until(&r.f.loop, reconciled, &r, 20000));
    check_after_failure(&r);

    /* Space back: a restart shows the same registry. */
    ck_assert_int_eq(unlink(f1), 0);
    ck_assert_int_eq(unlink(f3), 0);
    reg_close(&r);
    reg_open(&r);
    check_after_failure(&r);
    ck_assert_uint_eq(topics_count(r.t), 2);
    reg_close(&r);
    umount2(root, MNT_DETACH);
    t_rmdir(root);
}
END_TEST

/* ---- sliced creation: in slices, all or nothing, within the open files limit ---------------- */

struct outcome {
    int fires;
    sl_err err;
    struct topic *tp;
};

static void outcome_done(void *arg, sl_err err, struct topic *tp, const char *why) {
    struct outcome *o = arg;
    (void)why;
    o->fires++;
    o->err = err;
    o->tp = tp;
}

static bool outcome_fired(void *arg) { return ((struct outcome *)arg)->fires > 0; }

static uint32_t logs_of(struct reg *r, const char *topic) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < store_log_count(r->f.st); i++)
        if (!strcmp(store_log_topic(store_log_at(r->f.st, i)), topic)) n++;
    return n;
}

START_TEST(sliced_creation_is_all_or_nothing) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    reg_open(&r);
    const char *why = NULL;
    /* Made in slices: nothing is visible until every partition exists and is synced. */
    struct outcome o = {0};
    ck_assert_int_eq(topics_create_start(r.t, "big", 3, 600, NULL, NULL, 0, outcome_done, &o, &why), SL_OK);
    ck_assert_ptr_null(get(&r, "big"));
    ck_assert(topics_creating(r.t, "big", 3));
    ck_assert_int_eq(topics_create(r.t, "big", 3, 1, NULL, NULL, 0, false, NULL, &why), SL_TOPIC_EXISTS);
    loop_run_once(&r.f.loop, 0);
    ck_assert_int_eq(o.fires, 0);
    ck_assert(loop_run_until(&r.f.loop, outcome_fired, &o, 20000));
    ck_assert_int_eq(o.err, SL_OK);
    ck_assert_ptr_eq(o.tp, get(&r, "big"));
    ck_assert_int_eq(o.tp->partition_count, 600);
    ck_assert_uint_eq(logs_of(&r, "big"), 600);
    /* Growth the same way; a second growth or a delete meanwhile is refused. */
    struct outcome g = {0};
    ck_assert_int_eq(topics_add_partitions_start(r.t, o.tp, 700, outcome_done, &g, &why), SL_OK);
    ck_assert_int_eq(topics_add_partitions(r.t, o.tp, 800, false, &why), SL_REASSIGNMENT_IN_PROGRESS);
    ck_assert_int_eq(topics_delete(r.t, o.tp), SL_REASSIGNMENT_IN_PROGRESS);
    ck_assert_int_eq(o.tp->partition_count, 600);
    ck_assert(loop_run_until(&r.f.loop, outcome_fired, &g, 20000));
    ck_assert_int_eq(g.err, SL_OK);
    ck_assert_int_eq(o.tp->partition_count, 700);
    /* A creation cut short (the broker stops halfway): at the next start nothing of it is left. */
    struct outcome cut = {0};
    ck_assert_int_eq(topics_create_start(r.t, "cut", 3, 2000, NULL, NULL, 0, outcome_done, &cut, &why), SL_OK);
    /* Its directories and segments are made ahead through io_uring: turns until some exist. */
    for (int i = 0; i < 5000 && logs_of(&r, "cut") == 0; i++) loop_run_once(&r.f.loop, 1);
    ck_assert_uint_gt(logs_of(&r, "cut"), 0);
    ck_assert_uint_lt(logs_of(&r, "cut"), 2000);
    reg_close(&r);
    ck_assert_int_eq(cut.fires, 1);
    ck_assert_int_eq(cut.err, SL_CLOSED);
    reg_open(&r);
    ck_assert_ptr_null(get(&r, "cut"));
    ck_assert_uint_eq(logs_of(&r, "cut"), 0);
    ck_assert_int_eq(get(&r, "big")->partition_count, 700);
    ck_assert_uint_eq(logs_of(&r, "big"), 700);
    /* A deletion cut short is finished at the next start. */
    ck_assert_int_eq(topics_delete(r.t, get(&r, "big")), SL_OK);
    ck_assert_ptr_null(get(&r, "big"));
    loop_run_once(&r.f.loop, 0);
    ck_assert_uint_gt(logs_of(&r, "big"), 0);
    reg_close(&r);
    reg_open(&r);
    ck_assert_ptr_null(get(&r, "big"));
    ck_assert_uint_eq(logs_of(&r, "big"), 0);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

START_TEST(partitions_past_the_limit_are_refused) {
    struct reg r;
    snprintf(r.f.dir, sizeof(r.f.dir), "%s", t_tmpdir());
    reg_open(&r);
    const char *why = NULL;
    uint32_t used = topics_partitions_used(r.t); /* the metadata log */
    topics_set_partitions_max(r.t, used + 10);
    ck_assert_int_eq(topics_create(r.t, "eleven", 6, 11, NULL, NULL, 0, false, NULL, &why), SL_POLICY_VIOLATION);
    ck_assert_ptr_nonnull(strstr(why, "open files limit"));
    struct outcome o = {0};
    ck_assert_int_eq(topics_create_start(r.t, "eleven", 6, 11, NULL, NULL, 0, outcome_done, &o, &why),
                     SL_POLICY_VIOLATION);
    ck_assert_int_eq(topics_create(r.t, "ten", 3, 10, NULL, NULL, 0, false, NULL, &why), SL_OK);
    ck_assert_int_eq(topics_add_partitions(r.t, get(&r, "ten"), 11, false, &why), SL_POLICY_VIOLATION);
    ck_assert_int_eq(topics_create(r.t, "one", 3, 1, NULL, NULL, 0, false, NULL, &why), SL_POLICY_VIOLATION);
    ck_assert_uint_eq(logs_of(&r, "eleven") + logs_of(&r, "one"), 0);
    ck_assert_int_eq(o.fires, 0);
    reg_close(&r);
    t_rmdir(r.f.dir);
}
END_TEST

static Suite *topics_suite(void) {
    Suite *s = suite_create("broker_core_topics");
    TCase *tc = tcase_create("topics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, kafka_config_checks);
    tcase_add_test(tc, sliced_creation_is_all_or_nothing);
    tcase_add_test(tc, partitions_past_the_limit_are_refused);
    tcase_add_test(tc, sluice_configs);
    tcase_add_test(tc, cleanup_policy_and_list_ops);
    tcase_add_test(tc, replay_after_clean_stop);
    tcase_add_test(tc, replay_after_kill_9);
    tcase_add_test(tc, legacy_topics_and_cluster_are_imported);
    tcase_add_test(tc, names_collide_on_dot_and_underscore);
    tcase_add_test(tc, producer_ids_are_never_reused_after_kill_9);
    tcase_add_test(tc, producer_ids_past_half_a_block_survive_kill_9);
    suite_add_tcase(s, tc);
    /* Mounting a tmpfs needs root (or CAP_SYS_ADMIN): without it the full-disk case is left out. */
    char root[256];
    if (tmpfs_mount(root, sizeof(root), "size=1m")) {
        umount2(root, MNT_DETACH);
        t_rmdir(root);
        TCase *full = tcase_create("full disk");
        tcase_set_timeout(full, 120);
        tcase_add_test(full, failed_metadata_writes_are_undone);
        suite_add_tcase(s, full);
    }
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(topics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
