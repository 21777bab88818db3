/* kafka_consume.c: `sluice consume TOPIC`: records of a topic through librdkafka's consumer,
 * in a group (--group: committed offsets, rebalances) or from assigned partitions, printed one
 * value per line, in a kcat-like --format, or as JSON. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"

static const char consume_help[] =
    "usage: sluice consume TOPIC [--group G | --partition N...]\n"
    "                            [--from-beginning | --from-end | --offset N | --from-time TIME]\n"
    "                            [--count N] [--exit-at-end] [--format FMT] [--json]\n"
    "\n"
    "  --group G         consume as a member of group G; its committed offsets are used and the\n"
    "                    offsets consumed are committed at exit\n"
    "  --partition N     read partition N (repeatable; default all partitions), no group\n"
    "  --from-beginning  start at the first offset (group: where nothing is committed)\n"
    "  --from-end        start after the last offset (default)\n"
    "  --offset N        start at offset N of each partition\n"
    "  --from-time TIME  start at the first record at or after TIME (epoch ms or\n"
    "                    2024-01-02T03:04:05Z, UTC)\n"
    "  --count N         exit after N records\n"
    "  --exit-at-end     exit once every partition is read to its end\n"
    "  --format FMT      print FMT per record: %k key, %v value, %h headers (k=v,k=v),\n"
    "                    %o offset, %p partition, %T timestamp (ms), %t topic, %K key length,\n"
    "                    %S value length, %% a percent sign; \\n \\t \\r \\\\ escapes\n"
    "  --json            one JSON object per record: topic, partition, offset, timestamp, key,\n"
    "                    value, headers ([[k, v], ...])\n"
    "By default each record's value is printed on its own line. Without --count or\n"
    "--exit-at-end it runs until interrupted. An unknown topic exits 2.\n"
    "\n"
    "Examples:\n"
    "  sluice --brokers 127.0.0.1:9092 consume orders --from-beginning --count 100\n"
    "  sluice consume orders --partition 0 --offset 42 --format '%p/%o %k=%v\\n' --exit-at-end\n"
    "  sluice consume orders --group billing --from-beginning --json\n";

enum start { START_END, START_BEGINNING, START_OFFSET, START_TIME };

struct consume_opts {
    const char *topic, *group, *format;
    enum start start;
    int64_t start_value;
    int64_t count; /* -1: no limit */
    bool exit_at_end;
    int nparts;
    int32_t parts[1024];
};

/* Set by SIGINT/SIGTERM: the one piece of global state, because a signal handler can reach
 * nothing else. The loop checks it between polls and exits cleanly (commit, close). */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

/* Sets each partition's start offset in tps by the start mode (blocking for --from-time). */
static int set_starts(struct kafka *k, const struct consume_opts *o, rd_kafka_topic_partition_list_t *tps)
{
    for (int i = 0; i < tps->cnt; i++) {
        switch (o->start) {
        case START_END: tps->elems[i].offset = RD_KAFKA_OFFSET_END; break;
        case START_BEGINNING: tps->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; break;
        case START_OFFSET: tps->elems[i].offset = o->start_value; break;
        case START_TIME: tps->elems[i].offset = o->start_value; break;
        }
    }
    if (o->start != START_TIME) return EXIT_OK;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(k->rk, tps, k->cli->timeout_ms);
    if (err) return kcli_fail(k, err, "consume: offsets for time", NULL);
    for (int i = 0; i < tps->cnt; i++)
        if (tps->elems[i].offset < 0) tps->elems[i].offset = RD_KAFKA_OFFSET_END;
    return EXIT_OK;
}

struct consume_ctx {
    struct kafka k;
    const struct consume_opts *o;
    int npart_total;
    bool *at_end;   /* per partition: read to the end and nothing since */
    bool *assigned; /* per partition (group mode) */
    int rc;
};

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *tps, void *opaque)
{
    struct consume_ctx *cx = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* --offset and --from-time override committed offsets, as they do without a group. */
        if (cx->o->start == START_OFFSET || cx->o->start == START_TIME) {
            int rc = set_starts(&cx->k, cx->o, tps);
            if (rc) cx->rc = rc;
        }
        for (int i = 0; i < tps->cnt; i++)
            if (tps->elems[i].partition < cx->npart_total) cx->assigned[tps->elems[i].partition] = true;
        rd_kafka_assign(rk, tps);
    } else {
        for (int i = 0; i < tps->cnt; i++)
            if (tps->elems[i].partition < cx->npart_total) {
                cx->assigned[tps->elems[i].partition] = false;
                cx->at_end[tps->elems[i].partition] = false;
            }
        rd_kafka_assign(rk, NULL);
    }
}

static void put_escaped_bytes(FILE *out, const void *p, size_t n)
{
    if (n) fwrite(p, 1, n, out);
}

static void print_headers(FILE *out, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) || !h) return;
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &size); i++) {
        fprintf(out, "%s%s=", i ? "," : "", name);
        put_escaped_bytes(out, val, val ? size : 0);
    }
}

static void print_format(FILE *out, const char *fmt, const rd_kafka_message_t *m)
{
    rd_kafka_timestamp_type_t tt;
    for (const char *f = fmt; *f; f++) {
        if (*f == '\\' && f[1]) {
            f++;
            switch (*f) {
            case 'n': fputc('\n', out); break;
            case 't': fputc('\t', out); break;
            case 'r': fputc('\r', out); break;
            case '0': fputc('\0', out); break;
            default: fputc(*f, out); break;
            }
            continue;
        }
        if (*f != '%' || !f[1]) {
            fputc(*f, out);
            continue;
        }
        f++;
        switch (*f) {
        case 'k': put_escaped_bytes(out, m->key, m->key ? m->key_len : 0); break;
        case 'v': put_escaped_bytes(out, m->payload, m->payload ? m->len : 0); break;
        case 'h': print_headers(out, m); break;
        case 'o': fprintf(out, "%lld", (long long)m->offset); break;
        case 'p': fprintf(out, "%d", m->partition); break;
        case 'T': fprintf(out, "%lld", (long long)rd_kafka_message_timestamp(m, &tt)); break;
        case 't': fputs(rd_kafka_topic_name(m->rkt), out); break;
        case 'K': fprintf(out, "%lld", m->key ? (long long)m->key_len : -1LL); break;
        case 'S': fprintf(out, "%lld", m->payload ? (long long)m->len : -1LL); break;
        case '%': fputc('%', out); break;
        default: fputc('%', out); fputc(*f, out); break;
        }
    }
}

static void print_json(const rd_kafka_message_t *m)
{
    json_t *hs = json_array();
    rd_kafka_headers_t *h = NULL;
    if (!rd_kafka_message_headers(m, &h) && h) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &size); i++)
            json_array_append_new(hs, json_pack("[s,o]", name, json_bytes(val, size)));
    }
    rd_kafka_timestamp_type_t tt;
    json_print(json_pack("{s:s,s:i,s:I,s:I,s:o,s:o,s:o}", "topic", rd_kafka_topic_name(m->rkt),
                         "partition", m->partition, "offset", (json_int_t)m->offset, "timestamp",
                         (json_int_t)rd_kafka_message_timestamp(m, &tt), "key",
                         json_bytes(m->key, m->key_len), "value", json_bytes(m->payload, m->len),
                         "headers", hs));
}

static bool all_at_end(const struct consume_ctx *cx)
{
    int assigned = 0;
    for (int p = 0; p < cx->npart_total; p++) {
        bool mine = cx->o->group ? cx->assigned[p] : true;
        if (!cx->o->group) {
            mine = cx->o->nparts == 0;
            for (int i = 0; i < cx->o->nparts; i++) mine |= cx->o->parts[i] == p;
        }
        if (!mine) continue;
        assigned++;
        if (!cx->at_end[p]) return false;
    }
    return assigned > 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int consume_loop(struct consume_ctx *cx)
{
    const struct consume_opts *o = cx->o;
    int64_t got = 0, last_progress = now_ms();
    bool tty = isatty(STDERR_FILENO) && o->count > 0;
    while (!stop_requested && !cx->rc && (o->count < 0 || got < o->count)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cx->k.rk, 200);
        if (!m) {
            fflush(stdout);
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < cx->npart_total) cx->at_end[m->partition] = true;
            rd_kafka_message_destroy(m);
            if (o->exit_at_end && all_at_end(cx)) break;
            continue;
        }
        if (m->err) {
            int code = kafka_exit_code(m->err);
            /* Connection trouble is retried by librdkafka; anything about the topic is final. */
            if (code == EXIT_NOT_FOUND || m->err == RD_KAFKA_RESP_ERR__FATAL ||
                m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
                cx->rc = kcli_fail(&cx->k, m->err, "consume", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition >= 0 && m->partition < cx->npart_total) cx->at_end[m->partition] = false;
        if (cx->k.cli->json) print_json(m);
        else if (o->format) print_format(stdout, o->format, m);
        else {
            put_escaped_bytes(stdout, m->payload, m->payload ? m->len : 0);
            fputc('\n', stdout);
        }
        rd_kafka_message_destroy(m);
        got++;
        if (tty && now_ms() - last_progress >= 1000) {
            last_progress = now_ms();
            fprintf(stderr, "\rconsumed %lld/%lld", (long long)got, (long long)o->count);
        }
    }
    fflush(stdout);
    if (tty) fputc('\n', stderr);
    return cx->rc;
}

static int consume_run(struct cli *c, const struct consume_opts *o)
{
    struct consume_ctx cx = {.o = o};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = kafka_conf_set(conf, "enable.partition.eof", o->exit_at_end ? "true" : "false");
    if (!rc && o->group) {
        rc = kafka_conf_set(conf, "group.id", o->group);
        if (!rc) rc = kafka_conf_set(conf, "enable.auto.commit", "false");
        if (!rc) rc = kafka_conf_set(conf, "auto.offset.reset",
                                     o->start == START_BEGINNING ? "earliest" : "latest");
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    } else if (!rc) {
        /* A group id librdkafka needs for nothing here: no subscribe, no commit. */
        rc = kafka_conf_set(conf, "group.id", "sluice-cli-assign");
        if (!rc) rc = kafka_conf_set(conf, "enable.auto.commit", "false");
        if (!rc) rc = kafka_conf_set(conf, "enable.auto.offset.store", "false");
    }
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    /* The rebalance callback reaches the context through the opaque, which kafka_open sets to
     * the struct kafka at the start of the context. */
    rc = kafka_open(&cx.k, c, RD_KAFKA_CONSUMER, conf);
    if (rc) return rc;
    const struct rd_kafka_metadata *md = NULL;
    rc = kafka_metadata(&cx.k, &md);
    const struct rd_kafka_metadata_topic *mt = rc ? NULL : kafka_md_topic(md, o->topic);
    if (!rc && !mt) rc = cli_fail(EXIT_NOT_FOUND, "consume: unknown topic '%s'", o->topic);
    if (!rc) {
        cx.npart_total = mt->partition_cnt;
        cx.at_end = calloc((size_t)cx.npart_total + 1, sizeof(bool));
        cx.assigned = calloc((size_t)cx.npart_total + 1, sizeof(bool));
        for (int i = 0; i < o->nparts && !rc; i++)
            if (o->parts[i] >= cx.npart_total)
                rc = cli_fail(EXIT_NOT_FOUND, "consume: topic '%s' has no partition %d (%d partitions)",
                              o->topic, o->parts[i], cx.npart_total);
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_poll_set_consumer(cx.k.rk);
    if (!rc && o->group) {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, o->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(cx.k.rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) rc = kcli_fail(&cx.k, err, "consume: subscribe", NULL);
    } else if (!rc) {
        rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(cx.npart_total);
        for (int p = 0; p < cx.npart_total; p++) {
            bool want = o->nparts == 0;
            for (int i = 0; i < o->nparts; i++) want |= o->parts[i] == p;
            if (want) rd_kafka_topic_partition_list_add(tps, o->topic, p);
        }
        rc = set_starts(&cx.k, o, tps);
        if (!rc) {
            rd_kafka_resp_err_t err = rd_kafka_assign(cx.k.rk, tps);
            if (err) rc = kcli_fail(&cx.k, err, "consume: assign", NULL);
        }
        rd_kafka_topic_partition_list_destroy(tps);
    }
    if (!rc) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        rc = consume_loop(&cx);
    }
    if (o->group && !rc) {
        rd_kafka_resp_err_t err = rd_kafka_commit(cx.k.rk, NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) rc = kcli_fail(&cx.k, err, "consume: commit", NULL);
    }
    rc = kafka_close(&cx.k, rc);
    free(cx.at_end);
    free(cx.assigned);
    return rc;
}

int cmd_consume(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"group", required_argument, NULL, 'g'},
        {"partition", required_argument, NULL, 'p'},
        {"from-beginning", no_argument, NULL, 'B'},
        {"from-end", no_argument, NULL, 'E'},
        {"offset", required_argument, NULL, 'o'},
        {"from-time", required_argument, NULL, 'T'},
        {"count", required_argument, NULL, 'c'},
        {"exit-at-end", no_argument, NULL, 'e'},
        {"format", required_argument, NULL, 'f'},
        {0},
    };
    static struct consume_opts o; /* static: 4 KiB of partitions stay off the stack */
    memset(&o, 0, sizeof o);
    o.count = -1;
    int rc = EXIT_OK, opt, starts = 0;
    int64_t v;
    while (!rc && (opt = cli_getopt(c, argc, argv, "g:p:o:c:f:eh", opts)) != -1) {
        switch (opt) {
        case 'g': o.group = optarg; break;
        case 'p':
            if (!cli_parse_i64(optarg, &v) || v < 0 || v > INT32_MAX)
                rc = cli_fail(EXIT_USAGE, "--partition wants a partition >= 0, got '%s'", optarg);
            else if (o.nparts == 1024) rc = cli_fail(EXIT_USAGE, "at most 1024 --partition");
            else o.parts[o.nparts++] = (int32_t)v;
            break;
        case 'B': o.start = START_BEGINNING; starts++; break;
        case 'E': o.start = START_END; starts++; break;
        case 'o':
            o.start = START_OFFSET; starts++;
            if (!cli_parse_i64(optarg, &o.start_value) || o.start_value < 0)
                rc = cli_fail(EXIT_USAGE, "--offset wants an offset >= 0, got '%s'", optarg);
            break;
        case 'T':
            o.start = START_TIME; starts++;
            if (!cli_parse_time_ms(optarg, &o.start_value))
                rc = cli_fail(EXIT_USAGE, "--from-time wants epoch ms or YYYY-MM-DDTHH:MM:SS[Z], got '%s'", optarg);
            break;
        case 'c':
            if (!cli_parse_i64(optarg, &o.count) || o.count < 0)
                rc = cli_fail(EXIT_USAGE, "--count wants a count >= 0, got '%s'", optarg);
            break;
        case 'e': o.exit_at_end = true; break;
        case 'f': o.format = optarg; break;
        case 'h': case OPT_HELP: fputs(consume_help, stdout); return EXIT_OK;
        default: fputs(consume_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    if (!rc && argc - optind != 1) {
        fputs(consume_help, stderr);
        rc = cli_fail(EXIT_USAGE, "consume: one TOPIC is needed");
    }
    if (!rc && starts > 1)
        rc = cli_fail(EXIT_USAGE, "consume: give at most one of --from-beginning, --from-end, --offset, --from-time");
    if (!rc && o.group && o.nparts)
        rc = cli_fail(EXIT_USAGE, "consume: --group and --partition exclude each other");
    if (rc) return rc;
    o.topic = argv[optind];
    if (o.count == 0) return EXIT_OK;
    return consume_run(c, &o);
}
