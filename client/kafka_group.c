/* kafka_group.c: `sluice group list|describe|delete|reset-offsets` on librdkafka's Admin API
 * (ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets, DeleteGroups,
 * AlterConsumerGroupOffsets). Lag = log end offset (high watermark) - committed offset, as
 * kafka-consumer-groups --describe prints it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

static const char group_help[] =
    "usage: sluice group list\n"
    "       sluice group describe GROUP\n"
    "       sluice group delete GROUP...\n"
    "       sluice group reset-offsets GROUP (--topic TOPIC[:P,P...]... | --all-topics)\n"
    "             (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME)\n"
    "             [--dry-run | --execute]\n"
    "\n"
    "describe prints the state, the members and, per partition, the committed offset, the log\n"
    "end offset and the LAG (log end - committed; '-' when nothing is committed); --json prints\n"
    "one object with the same numbers.\n"
    "reset-offsets computes the new committed offsets and prints them (--dry-run, the default);\n"
    "--execute commits them. The group must be empty (no members). --to-offset is held within\n"
    "the partition's low and high watermarks; --to-datetime (epoch ms or 2024-01-02T03:04:05Z,\n"
    "UTC) picks the first offset at or after the time, or the log end.\n"
    "An unknown group exits 2.\n"
    "\n"
    "Examples:\n"
    "  sluice group describe billing\n"
    "  sluice group reset-offsets billing --topic orders --to-earliest --execute\n"
    "  sluice group reset-offsets billing --topic orders:0,1 --to-datetime 2024-05-01T00:00:00Z\n";

static const char *state_name(rd_kafka_consumer_group_state_t s)
{
    switch (s) {
    case RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE: return "PreparingRebalance";
    case RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE: return "CompletingRebalance";
    case RD_KAFKA_CONSUMER_GROUP_STATE_STABLE: return "Stable";
    case RD_KAFKA_CONSUMER_GROUP_STATE_DEAD: return "Dead";
    case RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY: return "Empty";
    default: return "Unknown";
    }
}

static int group_list(struct kafka *k)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(k->rk, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    int rc = EXIT_OK;
    if (!ev) rc = kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "group list", NULL);
    else if (rd_kafka_event_error(ev))
        rc = kcli_fail(k, rd_kafka_event_error(ev), "group list", rd_kafka_event_error_string(ev));
    if (!rc) {
        const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
        size_t n = 0, nerr = 0;
        const rd_kafka_ConsumerGroupListing_t **gl = rd_kafka_ListConsumerGroups_result_valid(res, &n);
        const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
        if (nerr) rc = kcli_fail(k, rd_kafka_error_code(errs[0]), "group list", rd_kafka_error_string(errs[0]));
        static const char *const hdr[] = {"GROUP", "STATE"};
        struct table t;
        table_init(&t, 2, hdr);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            const char *st = state_name(rd_kafka_ConsumerGroupListing_state(gl[i]));
            table_add(&t, rd_kafka_ConsumerGroupListing_group_id(gl[i]), st);
            json_array_append_new(arr, json_pack("{s:s,s:s}", "group",
                                                 rd_kafka_ConsumerGroupListing_group_id(gl[i]),
                                                 "state", st));
        }
        if (rc) json_decref(arr);
        else if (k->cli->json) json_print(arr);
        else { table_print(&t); json_decref(arr); }
        table_free(&t);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* DescribeConsumerGroups of one group: *ev holds *out (caller destroys *ev). */
static int group_describe_raw(struct kafka *k, const char *group, rd_kafka_event_t **ev,
                              const rd_kafka_ConsumerGroupDescription_t **out)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(k->rk, groups, 1, o, q);
    *ev = kafka_admin_wait(k, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    if (!*ev) return kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "group describe", NULL);
    if (rd_kafka_event_error(*ev))
        return kcli_fail(k, rd_kafka_event_error(*ev), "group describe", rd_kafka_event_error_string(*ev));
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **d = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(*ev), &n);
    if (n != 1) return cli_fail(EXIT_SERVER, "group describe: %zu results for one group", n);
    const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(d[0]);
    if (e) {
        char what[300];
        snprintf(what, sizeof what, "group '%s'", group);
        return kcli_fail(k, rd_kafka_error_code(e), what, rd_kafka_error_string(e));
    }
    *out = d[0];
    return EXIT_OK;
}

/* The group's committed offsets, all partitions (a copy the caller destroys). */
static int group_committed(struct kafka *k, const char *group, rd_kafka_topic_partition_list_t **out)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(k->rk, &req, 1, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    int rc = EXIT_OK;
    if (!ev) rc = kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "committed offsets", NULL);
    else if (rd_kafka_event_error(ev))
        rc = kcli_fail(k, rd_kafka_event_error(ev), "committed offsets", rd_kafka_event_error_string(ev));
    if (!rc) {
        size_t n = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
            rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
        const rd_kafka_error_t *e = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
        if (n != 1) rc = cli_fail(EXIT_SERVER, "committed offsets: %zu results for one group", n);
        else if (e) rc = kcli_fail(k, rd_kafka_error_code(e), "committed offsets", rd_kafka_error_string(e));
        else *out = rd_kafka_topic_partition_list_copy(rd_kafka_group_result_partitions(gr[0]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    return rc;
}

static int tp_cmp(const void *a, const void *b)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* The member owning topic/partition, or NULL. */
static const rd_kafka_MemberDescription_t *owner(const rd_kafka_ConsumerGroupDescription_t *d,
                                                 const char *topic, int32_t partition)
{
    size_t n = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *a =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
        if (a && rd_kafka_topic_partition_list_find(a, topic, partition)) return m;
    }
    return NULL;
}

static int group_cmd_describe(struct kafka *k, const char *group)
{
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConsumerGroupDescription_t *d = NULL;
    rd_kafka_topic_partition_list_t *tps = NULL;
    int rc = group_describe_raw(k, group, &ev, &d);
    if (!rc) rc = group_committed(k, group, &tps);
    if (rc) goto out;
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    /* Every partition committed or assigned. */
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *a =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
        for (int j = 0; a && j < a->cnt; j++)
            if (!rd_kafka_topic_partition_list_find(tps, a->elems[j].topic, a->elems[j].partition))
                rd_kafka_topic_partition_list_add(tps, a->elems[j].topic, a->elems[j].partition)->offset =
                    RD_KAFKA_OFFSET_INVALID;
    }
    if ((st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD || st == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) &&
        nm == 0 && tps->cnt == 0) {
        rc = cli_fail(EXIT_NOT_FOUND, "group describe: unknown group '%s'", group);
        goto out;
    }
    qsort(tps->elems, (size_t)tps->cnt, sizeof tps->elems[0], tp_cmp);
    static const char *const hdr[] = {"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                      "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"};
    struct table t;
    table_init(&t, 8, hdr);
    json_t *parts = json_array();
    int64_t total = 0;
    for (int i = 0; i < tps->cnt && !rc; i++) {
        rd_kafka_topic_partition_t *tp = &tps->elems[i];
        int64_t lo, hi;
        rc = kafka_watermarks(k, tp->topic, tp->partition, &lo, &hi);
        if (rc) break;
        bool has = tp->offset >= 0;
        int64_t lag = has ? (hi > tp->offset ? hi - tp->offset : 0) : -1;
        if (has) total += lag;
        const rd_kafka_MemberDescription_t *m = owner(d, tp->topic, tp->partition);
        const char *mid = m ? rd_kafka_MemberDescription_consumer_id(m) : NULL;
        table_add(&t, tp->topic, fmt_i64(tp->partition), has ? fmt_i64(tp->offset) : "-",
                  fmt_i64(hi), has ? fmt_i64(lag) : "-", mid,
                  m ? rd_kafka_MemberDescription_host(m) : NULL,
                  m ? rd_kafka_MemberDescription_client_id(m) : NULL);
        json_array_append_new(parts, json_pack("{s:s,s:i,s:o,s:I,s:o,s:o}", "topic", tp->topic,
            "partition", tp->partition, "committed", has ? json_integer(tp->offset) : json_null(),
            "log_end", (json_int_t)hi, "lag", has ? json_integer(lag) : json_null(),
            "member_id", mid ? json_string(mid) : json_null()));
    }
    json_t *members = json_array();
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *a =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
        json_t *ja = json_array();
        for (int j = 0; a && j < a->cnt; j++)
            json_array_append_new(ja, json_pack("{s:s,s:i}", "topic", a->elems[j].topic,
                                                "partition", a->elems[j].partition));
        json_array_append_new(members, json_pack("{s:s,s:s,s:s,s:o}",
            "member_id", rd_kafka_MemberDescription_consumer_id(m),
            "client_id", rd_kafka_MemberDescription_client_id(m),
            "host", rd_kafka_MemberDescription_host(m), "assignment", ja));
    }
    if (!rc && k->cli->json) {
        json_print(json_pack("{s:s,s:s,s:O,s:O,s:I}", "group", group, "state", state_name(st),
                             "members", members, "partitions", parts, "total_lag", (json_int_t)total));
    } else if (!rc) {
        printf("Group: %s  State: %s  Members: %zu  Total lag: %lld\n\n", group, state_name(st), nm,
               (long long)total);
        table_print(&t);
    }
    json_decref(members);
    json_decref(parts);
    table_free(&t);
out:
    if (tps) rd_kafka_topic_partition_list_destroy(tps);
    if (ev) rd_kafka_event_destroy(ev);
    return rc;
}

static int group_cmd_delete(struct kafka *k, int n, char **names)
{
    if (n > 64) return cli_fail(EXIT_USAGE, "at most 64 groups at once");
    rd_kafka_DeleteGroup_t *dg[64];
    for (int i = 0; i < n; i++) dg[i] = rd_kafka_DeleteGroup_new(names[i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(k->rk, dg, (size_t)n, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    int rc = EXIT_OK;
    if (!ev) rc = kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "group delete", NULL);
    else if (rd_kafka_event_error(ev))
        rc = kcli_fail(k, rd_kafka_event_error(ev), "group delete", rd_kafka_event_error_string(ev));
    else {
        size_t cnt = 0;
        const rd_kafka_group_result_t **gr =
            rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            if (e) {
                char what[300];
                snprintf(what, sizeof what, "group delete %s", rd_kafka_group_result_name(gr[i]));
                int r = kcli_fail(k, rd_kafka_error_code(e), what, rd_kafka_error_string(e));
                if (!rc) rc = r;
            } else if (!k->cli->json) {
                printf("deleted group %s\n", rd_kafka_group_result_name(gr[i]));
            }
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)n);
    return rc;
}

enum reset_to { TO_NONE, TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_TIME };

struct reset {
    enum reset_to to;
    int64_t value; /* offset or time (ms) */
    bool execute, all_topics;
    int ntopics;
    char *topics[64]; /* TOPIC or TOPIC:P,P */
};

/* Adds the partitions of one --topic argument (all partitions from metadata when none given). */
static int reset_add_topic(const struct rd_kafka_metadata *md, const char *arg,
                           rd_kafka_topic_partition_list_t *out)
{
    char name[256];
    const char *colon = strchr(arg, ':');
    size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
    if (len == 0 || len >= sizeof name) return cli_fail(EXIT_USAGE, "bad --topic '%s'", arg);
    memcpy(name, arg, len);
    name[len] = 0;
    const struct rd_kafka_metadata_topic *mt = kafka_md_topic(md, name);
    if (!mt) return cli_fail(EXIT_NOT_FOUND, "group reset-offsets: unknown topic '%s'", name);
    if (!colon) {
        for (int p = 0; p < mt->partition_cnt; p++) rd_kafka_topic_partition_list_add(out, name, mt->partitions[p].id);
        return EXIT_OK;
    }
    const char *s = colon + 1;
    for (int guard = 0; *s && guard < 100000; guard++) {
        char *end;
        long p = strtol(s, &end, 10);
        if (end == s || (*end && *end != ',') || p < 0 || p >= mt->partition_cnt)
            return cli_fail(EXIT_USAGE, "bad partition list in --topic '%s'", arg);
        rd_kafka_topic_partition_list_add(out, name, (int32_t)p);
        s = *end ? end + 1 : end;
    }
    return EXIT_OK;
}

/* Sets each partition's offset to the new committed offset. */
static int reset_compute(struct kafka *k, const struct reset *r, rd_kafka_topic_partition_list_t *tps)
{
    if (r->to == TO_TIME) {
        for (int i = 0; i < tps->cnt; i++) tps->elems[i].offset = r->value;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(k->rk, tps, k->cli->timeout_ms);
        if (err) return kcli_fail(k, err, "offsets for time", NULL);
    }
    for (int i = 0; i < tps->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &tps->elems[i];
        int64_t lo, hi;
        int rc = kafka_watermarks(k, tp->topic, tp->partition, &lo, &hi);
        if (rc) return rc;
        switch (r->to) {
        case TO_EARLIEST: tp->offset = lo; break;
        case TO_LATEST: tp->offset = hi; break;
        case TO_OFFSET: tp->offset = r->value < lo ? lo : r->value > hi ? hi : r->value; break;
        case TO_TIME:
            if (tp->err) return kcli_fail(k, tp->err, "offsets for time", NULL);
            if (tp->offset < 0) tp->offset = hi; /* nothing at or after the time */
            break;
        case TO_NONE: break;
        }
    }
    return EXIT_OK;
}

static int reset_commit(struct kafka *k, const char *group, const rd_kafka_topic_partition_list_t *tps)
{
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, tps);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(k->rk, &req, 1, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    int rc = EXIT_OK;
    if (!ev) rc = kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "commit offsets", NULL);
    else if (rd_kafka_event_error(ev))
        rc = kcli_fail(k, rd_kafka_event_error(ev), "commit offsets", rd_kafka_event_error_string(ev));
    else {
        size_t n = 0;
        const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
        for (size_t i = 0; i < n && !rc; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            if (e) rc = kcli_fail(k, rd_kafka_error_code(e), "commit offsets", rd_kafka_error_string(e));
            const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[i]);
            for (int j = 0; p && j < p->cnt && !rc; j++)
                if (p->elems[j].err) rc = kcli_fail(k, p->elems[j].err, "commit offsets", NULL);
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    return rc;
}

static int group_reset(struct kafka *k, const char *group, const struct reset *r)
{
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConsumerGroupDescription_t *d = NULL;
    rd_kafka_topic_partition_list_t *committed = NULL, *tps = rd_kafka_topic_partition_list_new(16);
    const struct rd_kafka_metadata *md = NULL;
    int rc = group_describe_raw(k, group, &ev, &d);
    if (!rc) rc = group_committed(k, group, &committed);
    if (!rc && rd_kafka_ConsumerGroupDescription_member_count(d) > 0)
        rc = cli_fail(EXIT_SERVER, "group reset-offsets: group '%s' has %zu active members (state %s); "
                      "offsets can only be reset while it is empty", group,
                      rd_kafka_ConsumerGroupDescription_member_count(d),
                      state_name(rd_kafka_ConsumerGroupDescription_state(d)));
    if (!rc) rc = kafka_metadata(k, &md);
    for (int i = 0; !rc && i < r->ntopics; i++) rc = reset_add_topic(md, r->topics[i], tps);
    for (int i = 0; !rc && r->all_topics && i < committed->cnt; i++)
        rd_kafka_topic_partition_list_add(tps, committed->elems[i].topic, committed->elems[i].partition);
    if (!rc && tps->cnt == 0) rc = cli_fail(EXIT_NOT_FOUND, "group reset-offsets: no partitions to reset");
    if (!rc) rc = reset_compute(k, r, tps);
    if (!rc && r->execute) rc = reset_commit(k, group, tps);
    if (!rc) {
        qsort(tps->elems, (size_t)tps->cnt, sizeof tps->elems[0], tp_cmp);
        static const char *const hdr[] = {"TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"};
        struct table t;
        table_init(&t, 4, hdr);
        json_t *arr = json_array();
        for (int i = 0; i < tps->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &tps->elems[i];
            rd_kafka_topic_partition_t *old =
                rd_kafka_topic_partition_list_find(committed, tp->topic, tp->partition);
            bool has = old && old->offset >= 0;
            table_add(&t, tp->topic, fmt_i64(tp->partition), has ? fmt_i64(old->offset) : "-",
                      fmt_i64(tp->offset));
            json_array_append_new(arr, json_pack("{s:s,s:i,s:o,s:I}", "topic", tp->topic,
                "partition", tp->partition, "old_offset", has ? json_integer(old->offset) : json_null(),
                "new_offset", (json_int_t)tp->offset));
        }
        if (k->cli->json) {
            json_print(json_pack("{s:s,s:b,s:o}", "group", group, "executed", r->execute, "offsets", arr));
        } else {
            table_print(&t);
            json_decref(arr);
            printf(r->execute ? "committed the new offsets of group %s\n"
                              : "dry run: nothing committed (add --execute to commit)\n", group);
        }
        table_free(&t);
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (committed) rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(tps);
    if (ev) rd_kafka_event_destroy(ev);
    return rc;
}

int cmd_group(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(group_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"all-topics", no_argument, NULL, 'A'},
        {"to-earliest", no_argument, NULL, 'E'},
        {"to-latest", no_argument, NULL, 'L'},
        {"to-offset", required_argument, NULL, 'O'},
        {"to-datetime", required_argument, NULL, 'T'},
        {"dry-run", no_argument, NULL, 'n'},
        {"execute", no_argument, NULL, 'x'},
        {0},
    };
    struct reset r = {0};
    int rc = EXIT_OK, opt, targets = 0;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "t:h", opts)) != -1) {
        switch (opt) {
        case 't':
            if (r.ntopics == 64) rc = cli_fail(EXIT_USAGE, "at most 64 --topic");
            else r.topics[r.ntopics++] = optarg;
            break;
        case 'A': r.all_topics = true; break;
        case 'E': r.to = TO_EARLIEST; targets++; break;
        case 'L': r.to = TO_LATEST; targets++; break;
        case 'O':
            r.to = TO_OFFSET; targets++;
            if (!cli_parse_i64(optarg, &r.value) || r.value < 0)
                rc = cli_fail(EXIT_USAGE, "--to-offset wants an offset >= 0, got '%s'", optarg);
            break;
        case 'T':
            r.to = TO_TIME; targets++;
            if (!cli_parse_time_ms(optarg, &r.value))
                rc = cli_fail(EXIT_USAGE, "--to-datetime wants epoch ms or YYYY-MM-DDTHH:MM:SS[Z], got '%s'", optarg);
            break;
        case 'n': r.execute = false; break;
        case 'x': r.execute = true; break;
        case 'h': case OPT_HELP: fputs(group_help, stdout); return EXIT_OK;
        default: fputs(group_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    bool list = !strcmp(verb, "list");
    if (!rc && !list && npos < 1) rc = cli_fail(EXIT_USAGE, "group %s: a group name is needed", verb);
    if (!rc && strcmp(verb, "delete") && npos > (list ? 0 : 1))
        rc = cli_fail(EXIT_USAGE, "group %s: unexpected argument '%s'", verb, pos[list ? 0 : 1]);
    if (!rc && !strcmp(verb, "reset-offsets")) {
        if (targets != 1)
            rc = cli_fail(EXIT_USAGE, "group reset-offsets: give one of --to-earliest, --to-latest, --to-offset, --to-datetime");
        else if (!r.ntopics && !r.all_topics)
            rc = cli_fail(EXIT_USAGE, "group reset-offsets: give --topic TOPIC or --all-topics");
    }
    struct kafka k = {0};
    if (!rc) rc = kafka_open(&k, c, RD_KAFKA_PRODUCER, NULL);
    if (!rc) {
        if (list) rc = group_list(&k);
        else if (!strcmp(verb, "describe")) rc = group_cmd_describe(&k, pos[0]);
        else if (!strcmp(verb, "delete")) rc = group_cmd_delete(&k, npos, pos);
        else if (!strcmp(verb, "reset-offsets")) rc = group_reset(&k, pos[0], &r);
        else rc = cli_fail(EXIT_USAGE, "group: unknown verb '%s' (list, describe, delete, reset-offsets)", verb);
    }
    rc = kafka_close(&k, rc);
    return rc;
}
