/* nats_stream.c: `sluice stream add|info|list|purge|delete` and `sluice consumer
 * add|info|list|next|delete`, on nats.c's JetStream API. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats.h"

static const char stream_help[] =
    "usage: sluice stream add NAME [--subjects S[,S...]]... [--retention limits|workqueue|interest]\n"
    "                 [--storage file|memory] [--max-age DUR] [--max-msgs N] [--max-bytes N]\n"
    "                 [--max-msg-size N] [--max-msgs-per-subject N] [--discard old|new]\n"
    "                 [--dupe-window DUR] [--replicas N] [--dlq SUBJECT]\n"
    "       sluice stream info NAME\n"
    "       sluice stream list\n"
    "       sluice stream purge NAME\n"
    "       sluice stream delete NAME\n"
    "\n"
    "Without --subjects a stream takes the subject NAME. DUR is 500ms, 30s, 5m, 2h or 1d.\n"
    "--dlq (Sluice only) sends the stream's dead letters to the stream holding SUBJECT (a\n"
    "server that ignores the setting, such as nats-server, makes add fail with exit 4, after\n"
    "the stream was created).\n"
    "info prints the config and state (messages, bytes, first and last sequence, consumers);\n"
    "--json prints one object. An unknown stream exits 2.\n"
    "\n"
    "Examples:\n"
    "  sluice stream add ORDERS --subjects 'orders.>' --retention workqueue --max-age 7d\n"
    "  sluice stream add ORDERS --subjects 'orders.>' --retention workqueue --dlq orders_dlq.in\n"
    "  sluice stream info ORDERS --json\n";

static const char consumer_help[] =
    "usage: sluice consumer add STREAM NAME [--filter SUBJECT] [--ack explicit|none|all]\n"
    "                 [--deliver all|new|last] [--max-deliver N] [--ack-wait DUR]\n"
    "                 [--max-ack-pending N] [--push SUBJECT]\n"
    "       sluice consumer info STREAM NAME\n"
    "       sluice consumer list STREAM\n"
    "       sluice consumer next STREAM NAME [--count N] [--no-ack]\n"
    "       sluice consumer delete STREAM NAME\n"
    "\n"
    "add makes a durable consumer (pull, unless --push names a deliver subject).\n"
    "next fetches up to --count messages (default 1) from a pull consumer, prints their data\n"
    "(--json: subject, data, headers) and acknowledges them (not with --no-ack); none within\n"
    "--timeout exits 3. An unknown stream or consumer exits 2.\n"
    "\n"
    "Examples:\n"
    "  sluice consumer add ORDERS workers --filter orders.new --max-deliver 5 --ack-wait 30s\n"
    "  sluice consumer next ORDERS workers --count 10\n";

static const char *retention_name(jsRetentionPolicy r)
{
    return r == js_WorkQueuePolicy ? "workqueue" : r == js_InterestPolicy ? "interest" : "limits";
}

static json_t *stream_json(const jsStreamInfo *si)
{
    const jsStreamConfig *cfg = si->Config;
    json_t *subjects = json_array();
    for (int i = 0; i < cfg->SubjectsLen; i++) json_array_append_new(subjects, json_string(cfg->Subjects[i]));
    json_t *config = json_pack("{s:s,s:o,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:i,s:s,s:I}",
        "name", cfg->Name, "subjects", subjects, "retention", retention_name(cfg->Retention),
        "storage", cfg->Storage == js_MemoryStorage ? "memory" : "file",
        "max_msgs", (json_int_t)cfg->MaxMsgs, "max_bytes", (json_int_t)cfg->MaxBytes,
        "max_age_ms", (json_int_t)(cfg->MaxAge / 1000000),
        "max_msgs_per_subject", (json_int_t)cfg->MaxMsgsPerSubject,
        "max_consumers", (json_int_t)cfg->MaxConsumers, "max_msg_size", (int)cfg->MaxMsgSize,
        "discard", cfg->Discard == js_DiscardNew ? "new" : "old",
        "duplicate_window_ms", (json_int_t)(cfg->Duplicates / 1000000));
    json_t *state = json_pack("{s:I,s:I,s:I,s:I,s:I}", "messages", (json_int_t)si->State.Msgs,
        "bytes", (json_int_t)si->State.Bytes, "first_seq", (json_int_t)si->State.FirstSeq,
        "last_seq", (json_int_t)si->State.LastSeq, "consumers", (json_int_t)si->State.Consumers);
    return json_pack("{s:o,s:o}", "config", config, "state", state);
}

static void stream_print(const jsStreamInfo *si)
{
    const jsStreamConfig *cfg = si->Config;
    printf("Stream: %s\n  Subjects: ", cfg->Name);
    for (int i = 0; i < cfg->SubjectsLen; i++) printf("%s%s", i ? ", " : "", cfg->Subjects[i]);
    printf("\n  Retention: %s  Storage: %s  Discard: %s\n", retention_name(cfg->Retention),
           cfg->Storage == js_MemoryStorage ? "memory" : "file", cfg->Discard == js_DiscardNew ? "new" : "old");
    printf("  Max msgs: %" PRId64 "  Max bytes: %" PRId64 "  Max age: %" PRId64 " ms  Max msg size: %d\n",
           cfg->MaxMsgs, cfg->MaxBytes, cfg->MaxAge / 1000000, (int)cfg->MaxMsgSize);
    printf("State:\n  Messages: %" PRIu64 "  Bytes: %" PRIu64 "  First seq: %" PRIu64
           "  Last seq: %" PRIu64 "  Consumers: %" PRId64 "\n",
           si->State.Msgs, si->State.Bytes, si->State.FirstSeq, si->State.LastSeq, si->State.Consumers);
}

/* The dead-letter setting is Sluice's own field of the stream config ("dlq"), which nats.c's
 * jsStreamConfig cannot carry: it is read and set through the JetStream API's JSON directly,
 * on nats.c's request/reply. */
static json_t *js_api(natsConnection *nc, const struct cli *c, const char *verb, const char *name,
                      const char *body, int *rc)
{
    char subj[300];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.%s.%s", verb, name);
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_Request(&reply, nc, subj, body, body ? (int)strlen(body) : 0, c->timeout_ms);
    if (s != NATS_OK) {
        *rc = nats_fail(c, s, 0, subj);
        return NULL;
    }
    json_error_t err;
    json_t *o = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, &err);
    natsMsg_Destroy(reply);
    if (!json_is_object(o)) {
        json_decref(o);
        *rc = cli_fail(EXIT_SERVER, "%s: the reply is not a JSON object", subj);
        return NULL;
    }
    json_t *e = json_object_get(o, "error");
    if (e) {
        json_int_t code = json_integer_value(json_object_get(e, "code"));
        *rc = cli_fail(code == 404 ? EXIT_NOT_FOUND : EXIT_SERVER, "%s: %s", subj,
                       json_string_value(json_object_get(e, "description")) ?: "error");
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The stream's "dlq" subject, or "" when it has none. */
static int stream_dlq_get(natsConnection *nc, const struct cli *c, const char *name, char *out, size_t n)
{
    int rc = EXIT_OK;
    json_t *o = js_api(nc, c, "INFO", name, NULL, &rc);
    if (!o) return rc;
    const char *d = json_string_value(json_object_get(json_object_get(o, "config"), "dlq"));
    snprintf(out, n, "%s", d ? d : "");
    json_decref(o);
    return EXIT_OK;
}

/* Sets the stream's "dlq" subject with STREAM.UPDATE of its current config, and checks that the
 * server kept it (nats-server ignores fields it does not know). */
static int stream_dlq_set(natsConnection *nc, const struct cli *c, const char *name, const char *dlq)
{
    int rc = EXIT_OK;
    json_t *info = js_api(nc, c, "INFO", name, NULL, &rc);
    if (!info) return rc;
    json_t *cfg = json_object_get(info, "config");
    json_object_set_new(cfg, "dlq", json_string(dlq));
    char *body = json_dumps(cfg, JSON_COMPACT);
    json_decref(info);
    json_t *upd = body ? js_api(nc, c, "UPDATE", name, body, &rc) : NULL;
    free(body);
    if (!upd) return rc ? rc : cli_fail(EXIT_SERVER, "stream %s: out of memory", name);
    const char *got = json_string_value(json_object_get(json_object_get(upd, "config"), "dlq"));
    if (!got || strcmp(got, dlq))
        rc = cli_fail(EXIT_SERVER, "stream add %s: the server ignored --dlq (a Sluice setting); the stream "
                      "was created without it", name);
    json_decref(upd);
    return rc;
}

struct stream_opts {
    int nsubjects;
    const char *subjects[64];
    char *subject_buf[64];
    jsStreamConfig cfg;
    const char *dlq;
};

static int split_subjects(struct stream_opts *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    o->subject_buf[o->nsubjects] = copy;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->nsubjects == 63) return cli_fail(EXIT_USAGE, "at most 63 subjects");
        o->subjects[o->nsubjects++] = t;
        o->subject_buf[o->nsubjects] = NULL;
    }
    return EXIT_OK;
}

/* A stream just made (one line) or asked about (its info), with its dead-letter subject ("":
 * none), or the JSON of either. */
static void stream_show(const struct cli *c, const jsStreamInfo *si, const char *dlq, bool created)
{
    if (c->json) {
        json_t *j = stream_json(si);
        if (dlq[0]) json_object_set_new(json_object_get(j, "config"), "dlq", json_string(dlq));
        json_print(j);
    } else if (created) {
        printf("created stream %s%s%s\n", si->Config->Name, dlq[0] ? ", dead letters to " : "", dlq);
    } else {
        stream_print(si);
        if (dlq[0]) printf("  Dead letters: the stream holding %s\n", dlq);
    }
}

static int stream_run(const struct cli *c, const char *verb, const char *name, struct stream_opts *o)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    nats_js_options(c, &jo);
    int rc = nats_open(c, &nc);
    if (rc) return rc;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    char what[300];
    snprintf(what, sizeof what, "stream %s%s%s", verb, name ? " " : "", name ? name : "");
    if (s != NATS_OK) rc = nats_fail(c, s, 0, what);
    else if (!strcmp(verb, "add")) {
        o->cfg.Name = name;
        if (o->nsubjects) {
            o->cfg.Subjects = o->subjects;
            o->cfg.SubjectsLen = o->nsubjects;
        }
        s = js_AddStream(&si, js, &o->cfg, &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if (!o->dlq || (rc = stream_dlq_set(nc, c, name, o->dlq)) == EXIT_OK)
            stream_show(c, si, o->dlq ? o->dlq : "", true);
    } else if (!strcmp(verb, "info")) {
        char dlq[256] = "";
        s = js_GetStreamInfo(&si, js, name, &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if ((rc = stream_dlq_get(nc, c, name, dlq, sizeof dlq)) == EXIT_OK) stream_show(c, si, dlq, false);
    } else if (!strcmp(verb, "list")) {
        jsStreamInfoList *l = NULL;
        s = js_Streams(&l, js, &jo, &jerr);
        if (s == NATS_NOT_FOUND) s = NATS_OK; /* no streams at all */
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else {
            static const char *const hdr[] = {"NAME", "SUBJECTS", "MESSAGES", "BYTES", "CONSUMERS"};
            struct table t;
            table_init(&t, 5, hdr);
            json_t *arr = json_array();
            for (int i = 0; l && i < l->Count; i++) {
                const jsStreamInfo *x = l->List[i];
                char subj[512] = "";
                for (int j = 0; j < x->Config->SubjectsLen; j++) {
                    size_t n = strlen(subj);
                    snprintf(subj + n, sizeof subj - n, "%s%s", j ? "," : "", x->Config->Subjects[j]);
                }
                table_add(&t, x->Config->Name, subj, fmt_i64((int64_t)x->State.Msgs),
                          fmt_i64((int64_t)x->State.Bytes), fmt_i64(x->State.Consumers));
                json_array_append_new(arr, stream_json(x));
            }
            if (c->json) json_print(arr);
            else { table_print(&t); json_decref(arr); }
            table_free(&t);
        }
        if (l) jsStreamInfoList_Destroy(l);
    } else if (!strcmp(verb, "purge")) {
        s = js_PurgeStream(js, name, &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if (!c->json) printf("purged stream %s\n", name);
    } else if (!strcmp(verb, "delete")) {
        s = js_DeleteStream(js, name, &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if (!c->json) printf("deleted stream %s\n", name);
    } else {
        rc = cli_fail(EXIT_USAGE, "stream: unknown verb '%s' (add, info, list, purge, delete)", verb);
    }
    if (si) jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    nats_close(nc);
    return rc;
}

int cmd_stream(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(stream_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"subjects", required_argument, NULL, 's'},
        {"retention", required_argument, NULL, 'R'},
        {"storage", required_argument, NULL, 'S'},
        {"max-age", required_argument, NULL, 'a'},
        {"max-msgs", required_argument, NULL, 'm'},
        {"max-bytes", required_argument, NULL, 'b'},
        {"max-msg-size", required_argument, NULL, 'z'},
        {"max-msgs-per-subject", required_argument, NULL, 'P'},
        {"discard", required_argument, NULL, 'd'},
        {"dupe-window", required_argument, NULL, 'w'},
        {"replicas", required_argument, NULL, 'r'},
        {"dlq", required_argument, NULL, 'D'},
        {0},
    };
    static struct stream_opts o;
    memset(&o, 0, sizeof o);
    jsStreamConfig_Init(&o.cfg);
    int rc = EXIT_OK, opt;
    int64_t v;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "s:h", opts)) != -1) {
        bool num = strchr("mbzPr", opt) && opt < 128;
        if (num && (!cli_parse_i64(optarg, &v) || v < -1)) {
            rc = cli_fail(EXIT_USAGE, "a number >= -1 is needed, got '%s'", optarg);
            break;
        }
        switch (opt) {
        case 's': rc = split_subjects(&o, optarg); break;
        case 'R':
            if (!strcmp(optarg, "limits")) o.cfg.Retention = js_LimitsPolicy;
            else if (!strcmp(optarg, "workqueue")) o.cfg.Retention = js_WorkQueuePolicy;
            else if (!strcmp(optarg, "interest")) o.cfg.Retention = js_InterestPolicy;
            else rc = cli_fail(EXIT_USAGE, "--retention is limits, workqueue or interest, got '%s'", optarg);
            break;
        case 'S':
            if (!strcmp(optarg, "file")) o.cfg.Storage = js_FileStorage;
            else if (!strcmp(optarg, "memory")) o.cfg.Storage = js_MemoryStorage;
            else rc = cli_fail(EXIT_USAGE, "--storage is file or memory, got '%s'", optarg);
            break;
        case 'a':
        case 'w':
            if (!cli_parse_duration_ms(optarg, &v)) rc = cli_fail(EXIT_USAGE, "bad duration '%s'", optarg);
            else if (opt == 'a') o.cfg.MaxAge = v * 1000000;
            else o.cfg.Duplicates = v * 1000000;
            break;
        case 'm': o.cfg.MaxMsgs = v; break;
        case 'b': o.cfg.MaxBytes = v; break;
        case 'z': o.cfg.MaxMsgSize = (int32_t)v; break;
        case 'P': o.cfg.MaxMsgsPerSubject = v; break;
        case 'r': o.cfg.Replicas = v; break;
        case 'D': o.dlq = optarg; break;
        case 'd':
            if (!strcmp(optarg, "old")) o.cfg.Discard = js_DiscardOld;
            else if (!strcmp(optarg, "new")) o.cfg.Discard = js_DiscardNew;
            else rc = cli_fail(EXIT_USAGE, "--discard is old or new, got '%s'", optarg);
            break;
        case 'h': case OPT_HELP: fputs(stream_help, stdout); rc = -1; break;
        default: fputs(stream_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    bool list = !strcmp(verb, "list");
    if (!rc && npos != (list ? 0 : 1)) rc = cli_fail(EXIT_USAGE, "stream %s: %s", verb, list ? "takes no arguments" : "one stream NAME is needed");
    if (!rc) rc = stream_run(c, verb, list ? NULL : pos[0], &o);
    for (int i = 0; i < 64; i++) free(o.subject_buf[i]);
    return rc < 0 ? EXIT_OK : rc;
}

static json_t *consumer_json(const jsConsumerInfo *ci)
{
    const jsConsumerConfig *cc = ci->Config;
    static const char *const acks[] = {"explicit", "none", "all"};
    return json_pack("{s:s,s:s,s:{s:s?,s:s?,s:s,s:I,s:I,s:I,s:s?},s:I,s:I,s:I,s:I,s:I,s:I}",
        "stream", ci->Stream, "name", ci->Name, "config", "durable_name", cc->Durable,
        "filter_subject", cc->FilterSubject, "ack_policy", acks[cc->AckPolicy % 3],
        "ack_wait_ms", (json_int_t)(cc->AckWait / 1000000), "max_deliver", (json_int_t)cc->MaxDeliver,
        "max_ack_pending", (json_int_t)cc->MaxAckPending, "deliver_subject", cc->DeliverSubject,
        "delivered_stream_seq", (json_int_t)ci->Delivered.Stream,
        "ack_floor_stream_seq", (json_int_t)ci->AckFloor.Stream,
        "num_ack_pending", (json_int_t)ci->NumAckPending, "num_redelivered", (json_int_t)ci->NumRedelivered,
        "num_waiting", (json_int_t)ci->NumWaiting, "num_pending", (json_int_t)ci->NumPending);
}

struct consumer_opts {
    jsConsumerConfig cfg;
    int64_t count;
    bool no_ack;
};

static int consumer_next(const struct cli *c, jsCtx *js, const char *stream, const char *name,
                         const struct consumer_opts *o, jsOptions *jo)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = name;
    so.ManualAck = true;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    char what[300];
    snprintf(what, sizeof what, "consumer next %s %s", stream, name);
    natsStatus s = js_PullSubscribe(&sub, js, NULL, name, jo, &so, &jerr);
    if (s != NATS_OK) return nats_fail(c, s, jerr, what);
    int rc = EXIT_OK;
    int64_t got = 0;
    /* Fetch returns what is there (at least one message) or times out; bounded by the count. */
    while (got < o->count && !rc) {
        natsMsgList list = {0};
        int want = (int)(o->count - got > 256 ? 256 : o->count - got);
        /* Once something came, wait only briefly for more: the queue may simply be empty. */
        int64_t wait_ms = got > 0 && c->timeout_ms > 500 ? 500 : c->timeout_ms;
        s = natsSubscription_Fetch(&list, sub, want, wait_ms, &jerr);
        if (s == NATS_TIMEOUT && got > 0) break;
        if (s != NATS_OK) {
            rc = s == NATS_TIMEOUT ? cli_fail(EXIT_UNREACHABLE, "%s: no message within %d ms", what, c->timeout_ms)
                                   : nats_fail(c, s, jerr, what);
            break;
        }
        for (int i = 0; i < list.Count; i++) {
            natsMsg *m = list.Msgs[i];
            if (c->json) json_print(nats_msg_json(m));
            else {
                fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), stdout);
                fputc('\n', stdout);
            }
            if (!o->no_ack) {
                s = natsMsg_AckSync(m, jo, &jerr);
                if (s != NATS_OK && !rc) rc = nats_fail(c, s, jerr, "ack");
            }
            got++;
        }
        natsMsgList_Destroy(&list);
    }
    fflush(stdout);
    natsSubscription_Destroy(sub);
    return rc;
}

static int consumer_run(const struct cli *c, const char *verb, int npos, char **pos, struct consumer_opts *o)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    nats_js_options(c, &jo);
    int rc = nats_open(c, &nc);
    if (rc) return rc;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    jsErrCode jerr = 0;
    jsConsumerInfo *ci = NULL;
    char what[400];
    snprintf(what, sizeof what, "consumer %s %s%s%s", verb, pos[0], npos > 1 ? " " : "", npos > 1 ? pos[1] : "");
    if (s != NATS_OK) rc = nats_fail(c, s, 0, what);
    else if (!strcmp(verb, "add")) {
        o->cfg.Durable = pos[1];
        s = js_AddConsumer(&ci, js, pos[0], &o->cfg, &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if (c->json) json_print(consumer_json(ci));
        else printf("created consumer %s on stream %s\n", pos[1], pos[0]);
    } else if (!strcmp(verb, "info")) {
        s = js_GetConsumerInfo(&ci, js, pos[0], pos[1], &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if (c->json) json_print(consumer_json(ci));
        else printf("Consumer: %s on %s\n  Filter: %s  Ack pending: %" PRId64 "  Redelivered: %" PRId64
                    "  Pending: %" PRIu64 "\n  Delivered (stream seq): %" PRIu64 "  Ack floor: %" PRIu64 "\n",
                    ci->Name, ci->Stream, ci->Config->FilterSubject ? ci->Config->FilterSubject : "-",
                    ci->NumAckPending, ci->NumRedelivered, ci->NumPending, ci->Delivered.Stream,
                    ci->AckFloor.Stream);
    } else if (!strcmp(verb, "list")) {
        jsConsumerInfoList *l = NULL;
        s = js_Consumers(&l, js, pos[0], &jo, &jerr);
        if (s == NATS_NOT_FOUND && !jerr) s = NATS_OK; /* a stream without consumers */
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else {
            static const char *const hdr[] = {"NAME", "FILTER", "ACK-PENDING", "PENDING", "REDELIVERED"};
            struct table t;
            table_init(&t, 5, hdr);
            json_t *arr = json_array();
            for (int i = 0; l && i < l->Count; i++) {
                const jsConsumerInfo *x = l->List[i];
                table_add(&t, x->Name, x->Config->FilterSubject, fmt_i64(x->NumAckPending),
                          fmt_i64((int64_t)x->NumPending), fmt_i64(x->NumRedelivered));
                json_array_append_new(arr, consumer_json(x));
            }
            if (c->json) json_print(arr);
            else { table_print(&t); json_decref(arr); }
            table_free(&t);
        }
        if (l) jsConsumerInfoList_Destroy(l);
    } else if (!strcmp(verb, "next")) {
        rc = consumer_next(c, js, pos[0], pos[1], o, &jo);
    } else if (!strcmp(verb, "delete")) {
        s = js_DeleteConsumer(js, pos[0], pos[1], &jo, &jerr);
        if (s != NATS_OK) rc = nats_fail(c, s, jerr, what);
        else if (!c->json) printf("deleted consumer %s on stream %s\n", pos[1], pos[0]);
    }
    if (ci) jsConsumerInfo_Destroy(ci);
    jsCtx_Destroy(js);
    nats_close(nc);
    return rc;
}

int cmd_consumer(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(consumer_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"filter", required_argument, NULL, 'f'},
        {"ack", required_argument, NULL, 'A'},
        {"deliver", required_argument, NULL, 'D'},
        {"max-deliver", required_argument, NULL, 'm'},
        {"ack-wait", required_argument, NULL, 'w'},
        {"max-ack-pending", required_argument, NULL, 'p'},
        {"push", required_argument, NULL, 'P'},
        {"count", required_argument, NULL, 'c'},
        {"no-ack", no_argument, NULL, 'n'},
        {0},
    };
    struct consumer_opts o = {.count = 1};
    jsConsumerConfig_Init(&o.cfg);
    int rc = EXIT_OK, opt;
    int64_t v;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "f:c:h", opts)) != -1) {
        switch (opt) {
        case 'f': o.cfg.FilterSubject = optarg; break;
        case 'A':
            if (!strcmp(optarg, "explicit")) o.cfg.AckPolicy = js_AckExplicit;
            else if (!strcmp(optarg, "none")) o.cfg.AckPolicy = js_AckNone;
            else if (!strcmp(optarg, "all")) o.cfg.AckPolicy = js_AckAll;
            else rc = cli_fail(EXIT_USAGE, "--ack is explicit, none or all, got '%s'", optarg);
            break;
        case 'D':
            if (!strcmp(optarg, "all")) o.cfg.DeliverPolicy = js_DeliverAll;
            else if (!strcmp(optarg, "new")) o.cfg.DeliverPolicy = js_DeliverNew;
            else if (!strcmp(optarg, "last")) o.cfg.DeliverPolicy = js_DeliverLast;
            else rc = cli_fail(EXIT_USAGE, "--deliver is all, new or last, got '%s'", optarg);
            break;
        case 'm':
        case 'p':
        case 'c':
            if (!cli_parse_i64(optarg, &v) || v < (opt == 'c' ? 1 : -1))
                rc = cli_fail(EXIT_USAGE, "bad number '%s'", optarg);
            else if (opt == 'm') o.cfg.MaxDeliver = v;
            else if (opt == 'p') o.cfg.MaxAckPending = v;
            else o.count = v;
            break;
        case 'w':
            if (!cli_parse_duration_ms(optarg, &v)) rc = cli_fail(EXIT_USAGE, "bad duration '%s'", optarg);
            else o.cfg.AckWait = v * 1000000;
            break;
        case 'P': o.cfg.DeliverSubject = optarg; break;
        case 'n': o.no_ack = true; break;
        case 'h': case OPT_HELP: fputs(consumer_help, stdout); return EXIT_OK;
        default: fputs(consumer_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    int want = !strcmp(verb, "list") ? 1 : 2;
    if (!rc && strcmp(verb, "add") && strcmp(verb, "info") && strcmp(verb, "list") &&
        strcmp(verb, "next") && strcmp(verb, "delete"))
        rc = cli_fail(EXIT_USAGE, "consumer: unknown verb '%s' (add, info, list, next, delete)", verb);
    if (!rc && npos != want)
        rc = cli_fail(EXIT_USAGE, "consumer %s: %s", verb, want == 1 ? "one STREAM is needed" : "STREAM and NAME are needed");
    if (rc) return rc;
    return consumer_run(c, verb, npos, pos, &o);
}
