/* nats_dlq.c: `sluice dlq list|replay`: the dead letters Sluice's JetStream copies into a
 * dead-letter stream (README "Native dead-letter queue"), each carrying Sluice-Dlq-Stream,
 * -Sequence, -Consumer, -Deliveries, -Reason and -Text headers; replay publishes them back to
 * their origin stream (through JetStream, so each is acknowledged as stored) and removes them
 * from the dead-letter stream. Plain JetStream calls: on another server it lists any stream. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nats.h"

static const char dlq_help[] =
    "usage: sluice dlq list DLQ_STREAM [--count N]\n"
    "       sluice dlq replay DLQ_STREAM [--subject SUBJECT] [--count N] [--keep]\n"
    "\n"
    "list prints each dead letter: its sequence in DLQ_STREAM, the origin stream and sequence,\n"
    "the consumer, deliveries, reason (max_deliveries, terminated), the +TERM text, and the data.\n"
    "replay publishes each dead letter (data and its own headers, without the Sluice-Dlq-*\n"
    "ones) back to its origin stream, waits for the stream's acknowledgement, then deletes it\n"
    "from DLQ_STREAM (not with --keep). The subject is --subject, else the origin stream's\n"
    "subject when it has exactly one without wildcards. A progress line goes to stderr on a\n"
    "terminal. An unknown stream exits 2.\n"
    "\n"
    "Examples:\n"
    "  sluice dlq list WORK_DLQ\n"
    "  sluice dlq replay WORK_DLQ --subject work.orders\n";

static const char *hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK ? v : NULL;
}

/* A copy of m's data and headers, minus the Sluice-Dlq-* ones, on subject. */
static natsStatus strip_copy(natsMsg **out, natsMsg *m, const char *subject)
{
    natsStatus s = natsMsg_Create(out, subject, NULL, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    const char **keys = NULL;
    int nk = 0;
    if (s != NATS_OK || natsMsgHeader_Keys(m, &keys, &nk) != NATS_OK) return s;
    for (int i = 0; i < nk && s == NATS_OK; i++) {
        if (!strncasecmp(keys[i], "Sluice-Dlq-", 11)) continue;
        const char **vals = NULL;
        int nv = 0;
        if (natsMsgHeader_Values(m, keys[i], &vals, &nv) != NATS_OK) continue;
        for (int j = 0; j < nv && s == NATS_OK; j++) s = natsMsgHeader_Add(*out, keys[i], vals[j]);
        free((void *)vals);
    }
    free((void *)keys);
    return s;
}

/* The origin stream's only literal subject, or NULL (into buf). */
static const char *origin_subject(jsCtx *js, jsOptions *jo, const char *stream, char *buf, size_t cap)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    const char *out = NULL;
    if (js_GetStreamInfo(&si, js, stream, jo, &jerr) == NATS_OK && si->Config->SubjectsLen == 1 &&
        !strpbrk(si->Config->Subjects[0], "*>")) {
        snprintf(buf, cap, "%s", si->Config->Subjects[0]);
        out = buf;
    }
    if (si) jsStreamInfo_Destroy(si);
    return out;
}

static int dlq_run(const struct cli *c, jsCtx *js, jsOptions *jo, bool replay, const char *dlq,
                   const char *subject, int64_t count, bool keep)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    char what[300];
    snprintf(what, sizeof what, "dlq %s %s", replay ? "replay" : "list", dlq);
    natsStatus s = js_GetStreamInfo(&si, js, dlq, jo, &jerr);
    if (s != NATS_OK) return nats_fail(c, s, jerr, what);
    uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    static const char *const cols[] = {"SEQ", "ORIGIN", "ORIGIN-SEQ", "CONSUMER", "DELIVERIES",
                                       "REASON", "TEXT", "DATA"};
    struct table t;
    table_init(&t, 8, cols);
    json_t *arr = json_array();
    int rc = EXIT_OK;
    int64_t done = 0;
    bool tty = replay && isatty(STDERR_FILENO);
    /* Bounded by the sequences the stream held when we looked, and by --count. */
    for (uint64_t seq = first; seq && seq <= last && done < count && !rc; seq++) {
        natsMsg *m = NULL;
        s = js_GetMsg(&m, js, dlq, seq, jo, &jerr);
        if (s == NATS_NOT_FOUND || jerr == 10037) continue; /* deleted in between */
        if (s != NATS_OK) { rc = nats_fail(c, s, jerr, what); break; }
        const char *origin = hdr(m, "Sluice-Dlq-Stream");
        if (!replay) {
            char *data = strndup(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            table_add(&t, fmt_i64((int64_t)seq), origin, hdr(m, "Sluice-Dlq-Sequence"),
                      hdr(m, "Sluice-Dlq-Consumer"), hdr(m, "Sluice-Dlq-Deliveries"),
                      hdr(m, "Sluice-Dlq-Reason"), hdr(m, "Sluice-Dlq-Text"), data);
            free(data);
            json_t *j = nats_msg_json(m);
            json_object_set_new(j, "seq", json_integer((json_int_t)seq));
            json_array_append_new(arr, j);
        } else {
            char buf[256];
            const char *subj = subject ? subject : origin ? origin_subject(js, jo, origin, buf, sizeof buf) : NULL;
            natsMsg *copy = NULL;
            jsPubAck *pa = NULL;
            if (!subj) {
                rc = cli_fail(EXIT_USAGE, "%s: dead letter %" PRIu64 " (origin %s): give --subject, the origin "
                              "stream has no single literal subject", what, seq, origin ? origin : "unknown");
            } else if ((s = strip_copy(&copy, m, subj)) != NATS_OK ||
                       (s = js_PublishMsg(&pa, js, copy, NULL, &jerr)) != NATS_OK) {
                rc = nats_fail(c, s, jerr, what);
            } else if (origin && strcmp(pa->Stream, origin)) {
                rc = cli_fail(EXIT_USAGE, "%s: subject %s stores into stream %s, not the origin %s",
                              what, subj, pa->Stream, origin);
            } else if (!keep && (s = js_DeleteMsg(js, dlq, seq, jo, &jerr)) != NATS_OK) {
                rc = nats_fail(c, s, jerr, what);
            }
            if (pa) jsPubAck_Destroy(pa);
            natsMsg_Destroy(copy);
            if (tty && !rc) fprintf(stderr, "\rreplayed %lld", (long long)done + 1);
        }
        natsMsg_Destroy(m);
        if (!rc) done++;
    }
    if (tty) fputc('\n', stderr);
    if (!rc && !replay) {
        if (c->json) json_print(json_incref(arr));
        else table_print(&t);
    }
    if (!rc && replay) {
        if (c->json) json_print(json_pack("{s:s,s:I}", "dlq", dlq, "replayed", (json_int_t)done));
        else printf("replayed %lld dead letters from %s\n", (long long)done, dlq);
    }
    json_decref(arr);
    table_free(&t);
    return rc;
}

int cmd_dlq(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(dlq_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"subject", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'c'},
        {"keep", no_argument, NULL, 'k'},
        {0},
    };
    const char *subject = NULL;
    int64_t count = INT64_MAX;
    bool keep = false;
    int rc = EXIT_OK, opt;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "s:c:h", opts)) != -1) {
        switch (opt) {
        case 's': subject = optarg; break;
        case 'c':
            if (!cli_parse_i64(optarg, &count) || count < 0)
                rc = cli_fail(EXIT_USAGE, "--count wants a count >= 0, got '%s'", optarg);
            break;
        case 'k': keep = true; break;
        case 'h': case OPT_HELP: fputs(dlq_help, stdout); return EXIT_OK;
        default: fputs(dlq_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    bool replay = !strcmp(verb, "replay");
    if (!rc && !replay && strcmp(verb, "list"))
        rc = cli_fail(EXIT_USAGE, "dlq: unknown verb '%s' (list, replay)", verb);
    if (!rc && argc - 1 - optind != 1) rc = cli_fail(EXIT_USAGE, "dlq %s: one DLQ_STREAM is needed", verb);
    if (rc) return rc;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    nats_js_options(c, &jo);
    rc = nats_open(c, &nc);
    if (rc) return rc;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK) rc = nats_fail(c, s, 0, "dlq");
    else rc = dlq_run(c, js, &jo, replay, argv[1 + optind], subject, count, keep);
    jsCtx_Destroy(js);
    nats_close(nc);
    return rc;
}
