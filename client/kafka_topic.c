/* kafka_topic.c: `sluice topic create|list|describe|alter|delete`, on librdkafka's Admin API
 * (CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs) and Metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

static const char topic_help[] =
    "usage: sluice topic create NAME [--partitions N] [--replication-factor N] [--config K=V]...\n"
    "       sluice topic list\n"
    "       sluice topic describe NAME\n"
    "       sluice topic alter NAME [--partitions N] [--config K=V]... [--delete-config K]...\n"
    "       sluice topic delete NAME...\n"
    "\n"
    "  --partitions N          partition count (create: default 1; alter: the new, larger count)\n"
    "  --replication-factor N  replicas per partition (default 1)\n"
    "  --config K=V            a topic config (repeatable), e.g. retention.ms=86400000\n"
    "  --delete-config K       alter: return K to its default (repeatable)\n"
    "\n"
    "describe prints the partitions (leader, replicas, low and high watermark) and the configs\n"
    "that are not defaults; --json prints one object. An unknown topic exits 2.\n"
    "\n"
    "Examples:\n"
    "  sluice topic create orders --partitions 6 --config cleanup.policy=compact\n"
    "  sluice topic alter orders --partitions 12 --config retention.ms=3600000\n"
    "  sluice topic describe orders --json\n";

struct kv_list {
    int n;
    char *key[64];
    char *value[64];
};

static int kv_add(struct kv_list *l, const char *arg, bool need_value)
{
    if (l->n == 64) return cli_fail(EXIT_USAGE, "at most 64 configs");
    const char *eq = strchr(arg, '=');
    if (need_value && (!eq || eq == arg)) return cli_fail(EXIT_USAGE, "--config wants K=V, got '%s'", arg);
    if (!need_value) eq = NULL;
    l->key[l->n] = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
    l->value[l->n] = eq ? strdup(eq + 1) : NULL;
    l->n++;
    return EXIT_OK;
}

static void kv_free(struct kv_list *l)
{
    for (int i = 0; i < l->n; i++) { free(l->key[i]); free(l->value[i]); }
    l->n = 0;
}

/* The error of the one topic result of a CreateTopics/DeleteTopics/CreatePartitions event. */
static int topic_result(struct kafka *k, rd_kafka_event_t *ev, const rd_kafka_topic_result_t **res,
                        size_t cnt, const char *what)
{
    if (!ev) return kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, what, NULL);
    rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
    if (err) return kcli_fail(k, err, what, rd_kafka_event_error_string(ev));
    int rc = EXIT_OK;
    for (size_t i = 0; i < cnt; i++) {
        err = rd_kafka_topic_result_error(res[i]);
        if (!err) continue;
        char w[400];
        snprintf(w, sizeof w, "%s %s", what, rd_kafka_topic_result_name(res[i]));
        const char *msg = rd_kafka_topic_result_error_string(res[i]);
        int r = kcli_fail(k, err, w, msg ? msg : rd_kafka_err2str(err));
        if (!rc) rc = r;
    }
    return rc;
}

static int topic_create(struct kafka *k, const char *name, int partitions, int rf,
                        const struct kv_list *cfg)
{
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, rf, err, sizeof err);
    if (!nt) return cli_fail(EXIT_USAGE, "topic create %s: %s", name, err);
    for (int i = 0; i < cfg->n; i++) rd_kafka_NewTopic_set_config(nt, cfg->key[i], cfg->value[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_CreateTopics(k->rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        ev ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt) : NULL;
    int rc = topic_result(k, ev, res, cnt, "topic create");
    if (!rc && !k->cli->json) printf("created topic %s (%d partitions)\n", name, partitions);
    if (!rc && k->cli->json) json_print(json_pack("{s:s,s:i}", "created", name, "partitions", partitions));
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int topic_delete(struct kafka *k, int n, char **names)
{
    rd_kafka_DeleteTopic_t *dt[64];
    if (n > 64) return cli_fail(EXIT_USAGE, "at most 64 topics at once");
    for (int i = 0; i < n; i++) dt[i] = rd_kafka_DeleteTopic_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_DeleteTopics(k->rk, dt, (size_t)n, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        ev ? rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt) : NULL;
    int rc = topic_result(k, ev, res, cnt, "topic delete");
    for (size_t i = 0; i < cnt && !k->cli->json; i++)
        if (!rd_kafka_topic_result_error(res[i]))
            printf("deleted topic %s\n", rd_kafka_topic_result_name(res[i]));
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
    return rc;
}

static int topic_list(struct kafka *k)
{
    const struct rd_kafka_metadata *md;
    int rc = kafka_metadata(k, &md);
    if (rc) return rc;
    static const char *const hdr[] = {"NAME", "PARTITIONS"};
    struct table t;
    table_init(&t, 2, hdr);
    json_t *arr = json_array();
    for (int i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[i];
        table_add(&t, mt->topic, fmt_i64(mt->partition_cnt));
        json_array_append_new(arr, json_pack("{s:s,s:i}", "name", mt->topic, "partitions",
                                             mt->partition_cnt));
    }
    if (k->cli->json) json_print(arr);
    else { table_print(&t); json_decref(arr); }
    table_free(&t);
    rd_kafka_metadata_destroy(md);
    return EXIT_OK;
}

/* DescribeConfigs of one topic; *out gets the resource result inside *ev (caller destroys). */
static int topic_configs(struct kafka *k, const char *name, rd_kafka_event_t **ev,
                         const rd_kafka_ConfigResource_t **out)
{
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(k->rk, &cr, 1, o, q);
    *ev = kafka_admin_wait(k, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    if (!*ev) return kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "describe configs", NULL);
    rd_kafka_resp_err_t err = rd_kafka_event_error(*ev);
    if (err) return kcli_fail(k, err, "describe configs", rd_kafka_event_error_string(*ev));
    size_t cnt = 0;
    const rd_kafka_ConfigResource_t **res = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(*ev), &cnt);
    if (cnt != 1) return cli_fail(EXIT_SERVER, "describe configs: %zu results for one topic", cnt);
    err = rd_kafka_ConfigResource_error(res[0]);
    if (err) return kcli_fail(k, err, "describe configs", rd_kafka_ConfigResource_error_string(res[0]));
    *out = res[0];
    return EXIT_OK;
}

static bool config_is_set(const rd_kafka_ConfigEntry_t *e)
{
    return !rd_kafka_ConfigEntry_is_default(e) &&
           rd_kafka_ConfigEntry_source(e) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
}

static int topic_describe(struct kafka *k, const char *name)
{
    const struct rd_kafka_metadata *md;
    int rc = kafka_metadata(k, &md);
    if (rc) return rc;
    const struct rd_kafka_metadata_topic *mt = kafka_md_topic(md, name);
    if (!mt) {
        rd_kafka_metadata_destroy(md);
        return cli_fail(EXIT_NOT_FOUND, "topic describe: unknown topic '%s'", name);
    }
    json_t *parts = json_array();
    static const char *const hdr[] = {"PARTITION", "LEADER", "REPLICAS", "LOW", "HIGH"};
    struct table t;
    table_init(&t, 5, hdr);
    for (int p = 0; p < mt->partition_cnt && !rc; p++) {
        const struct rd_kafka_metadata_partition *mp = &mt->partitions[p];
        int64_t lo = -1, hi = -1;
        rc = kafka_watermarks(k, name, mp->id, &lo, &hi);
        char reps[256] = "";
        json_t *jr = json_array();
        for (int r = 0; r < mp->replica_cnt; r++) {
            size_t l = strlen(reps);
            snprintf(reps + l, sizeof reps - l, "%s%d", r ? "," : "", mp->replicas[r]);
            json_array_append_new(jr, json_integer(mp->replicas[r]));
        }
        table_add(&t, fmt_i64(mp->id), fmt_i64(mp->leader), reps, fmt_i64(lo), fmt_i64(hi));
        json_array_append_new(parts, json_pack("{s:i,s:i,s:o,s:I,s:I}", "partition", mp->id,
                                               "leader", mp->leader, "replicas", jr, "low",
                                               (json_int_t)lo, "high", (json_int_t)hi));
    }
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConfigResource_t *cr = NULL;
    if (!rc) rc = topic_configs(k, name, &ev, &cr);
    if (!rc) {
        size_t n = 0;
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(cr, &n);
        json_t *cfg = json_object();
        for (size_t i = 0; i < n; i++)
            if (config_is_set(ents[i]))
                json_object_set_new(cfg, rd_kafka_ConfigEntry_name(ents[i]),
                                    json_string(rd_kafka_ConfigEntry_value(ents[i])
                                                    ? rd_kafka_ConfigEntry_value(ents[i]) : ""));
        if (k->cli->json) {
            json_print(json_pack("{s:s,s:i,s:O,s:O}", "name", name, "partitions",
                                 mt->partition_cnt, "partition_info", parts, "configs", cfg));
        } else {
            printf("Topic: %s  Partitions: %d\n", name, mt->partition_cnt);
            table_print(&t);
            const char *key;
            json_t *v;
            if (json_object_size(cfg)) printf("Configs:\n");
            json_object_foreach(cfg, key, v) printf("  %s=%s\n", key, json_string_value(v));
        }
        json_decref(cfg);
    }
    json_decref(parts);
    table_free(&t);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int topic_add_partitions(struct kafka *k, const char *name, int partitions)
{
    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(name, (size_t)partitions, err, sizeof err);
    if (!np) return cli_fail(EXIT_USAGE, "topic alter %s: %s", name, err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_CreatePartitions(k->rk, &np, 1, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        ev ? rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &cnt)
           : NULL;
    int rc = topic_result(k, ev, res, cnt, "topic alter partitions");
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    return rc;
}

/* AlterConfigs replaces a topic's whole set of configs (librdkafka 2.0.2 has no incremental
 * form), so the set sent is the topic's current non-default configs with the changes applied. */
static int topic_alter_configs(struct kafka *k, const char *name, const struct kv_list *set,
                               const struct kv_list *del)
{
    rd_kafka_event_t *dev = NULL;
    const rd_kafka_ConfigResource_t *cur = NULL;
    int rc = topic_configs(k, name, &dev, &cur);
    if (rc) {
        if (dev) rd_kafka_event_destroy(dev);
        return rc;
    }
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    size_t n = 0;
    const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(cur, &n);
    for (size_t i = 0; i < n; i++) {
        if (!config_is_set(ents[i])) continue;
        const char *key = rd_kafka_ConfigEntry_name(ents[i]);
        bool changed = false;
        for (int j = 0; j < set->n; j++) changed |= !strcmp(set->key[j], key);
        for (int j = 0; j < del->n; j++) changed |= !strcmp(del->key[j], key);
        if (!changed) rd_kafka_ConfigResource_set_config(cr, key, rd_kafka_ConfigEntry_value(ents[i]));
    }
    rd_kafka_event_destroy(dev);
    for (int j = 0; j < set->n; j++) rd_kafka_ConfigResource_set_config(cr, set->key[j], set->value[j]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    rd_kafka_AlterConfigs(k->rk, &cr, 1, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    if (!ev) rc = kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "topic alter configs", NULL);
    else if (rd_kafka_event_error(ev))
        rc = kcli_fail(k, rd_kafka_event_error(ev), "topic alter configs", rd_kafka_event_error_string(ev));
    else {
        size_t cnt = 0;
        const rd_kafka_ConfigResource_t **res =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &cnt);
        for (size_t i = 0; i < cnt && !rc; i++)
            if (rd_kafka_ConfigResource_error(res[i]))
                rc = kcli_fail(k, rd_kafka_ConfigResource_error(res[i]), "topic alter configs",
                                rd_kafka_ConfigResource_error_string(res[i]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

static int topic_alter(struct kafka *k, const char *name, int partitions, const struct kv_list *set,
                       const struct kv_list *del)
{
    const struct rd_kafka_metadata *md;
    int rc = kafka_metadata(k, &md);
    if (rc) return rc;
    bool known = kafka_md_topic(md, name) != NULL;
    rd_kafka_metadata_destroy(md);
    if (!known) return cli_fail(EXIT_NOT_FOUND, "topic alter: unknown topic '%s'", name);
    if (partitions > 0) rc = topic_add_partitions(k, name, partitions);
    if (!rc && (set->n || del->n)) rc = topic_alter_configs(k, name, set, del);
    if (!rc && !k->cli->json) printf("altered topic %s\n", name);
    if (!rc && k->cli->json) json_print(json_pack("{s:s}", "altered", name));
    return rc;
}

int cmd_topic(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(topic_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"replication-factor", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"delete-config", required_argument, NULL, 'd'},
        {0},
    };
    int64_t partitions = -1, rf = 1;
    struct kv_list set = {0}, del = {0};
    int rc = EXIT_OK, opt;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "p:r:c:d:h", opts)) != -1) {
        switch (opt) {
        case 'p':
            if (!cli_parse_i64(optarg, &partitions) || partitions < 1 || partitions > 1000000)
                rc = cli_fail(EXIT_USAGE, "--partitions wants a count >= 1, got '%s'", optarg);
            break;
        case 'r':
            if (!cli_parse_i64(optarg, &rf) || rf < 1 || rf > 32767)
                rc = cli_fail(EXIT_USAGE, "--replication-factor wants a count >= 1, got '%s'", optarg);
            break;
        case 'c': rc = kv_add(&set, optarg, true); break;
        case 'd': rc = kv_add(&del, optarg, false); break;
        case 'h': case OPT_HELP: fputs(topic_help, stdout); kv_free(&set); kv_free(&del); return EXIT_OK;
        default: rc = EXIT_USAGE; fputs(topic_help, stderr); break;
        }
    }
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    bool needs_name = strcmp(verb, "list") != 0;
    if (!rc && needs_name && npos < 1) rc = cli_fail(EXIT_USAGE, "topic %s: a topic name is needed", verb);
    if (!rc && strcmp(verb, "delete") && npos > (needs_name ? 1 : 0))
        rc = cli_fail(EXIT_USAGE, "topic %s: unexpected argument '%s'", verb, pos[needs_name ? 1 : 0]);
    struct kafka k = {0};
    if (!rc) rc = kafka_open(&k, c, RD_KAFKA_PRODUCER, NULL);
    if (!rc) {
        if (!strcmp(verb, "create")) rc = topic_create(&k, pos[0], partitions > 0 ? (int)partitions : 1, (int)rf, &set);
        else if (!strcmp(verb, "list")) rc = topic_list(&k);
        else if (!strcmp(verb, "describe")) rc = topic_describe(&k, pos[0]);
        else if (!strcmp(verb, "alter")) {
            if (partitions < 0 && !set.n && !del.n)
                rc = cli_fail(EXIT_USAGE, "topic alter: nothing to change (--partitions, --config, --delete-config)");
            else rc = topic_alter(&k, pos[0], (int)partitions, &set, &del);
        } else if (!strcmp(verb, "delete")) rc = topic_delete(&k, npos, pos);
        else rc = cli_fail(EXIT_USAGE, "topic: unknown verb '%s' (create, list, describe, alter, delete)", verb);
    }
    rc = kafka_close(&k, rc);
    kv_free(&set);
    kv_free(&del);
    return rc;
}
