/* nats_core.c: `sluice pub|sub|req|reply`, core NATS through nats.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats.h"

static const char core_help[] =
    "usage: sluice pub SUBJECT [DATA] [--header K=V]... [--reply SUBJECT]\n"
    "       sluice sub SUBJECT [--queue GROUP] [--count N]\n"
    "       sluice req SUBJECT [DATA] [--header K=V]...\n"
    "       sluice reply SUBJECT [TEXT] [--echo] [--queue GROUP] [--count N]\n"
    "\n"
    "pub sends DATA once, or each line of stdin as a message (newline removed).\n"
    "sub prints each message's data on its own line (--json: subject, reply, data, headers),\n"
    "  and exits after --count messages; 'listening on SUBJECT' goes to stderr once subscribed.\n"
    "req sends a request and prints the reply's data; no reply within --timeout exits 3,\n"
    "  no responders exits 2.\n"
    "reply answers every request with TEXT (or, with --echo, the request's own data).\n"
    "\n"
    "Examples:\n"
    "  sluice pub orders.new '{\"id\":1}' --header source=cli\n"
    "  sluice sub 'orders.>' --count 10\n"
    "  sluice reply time.now \"$(date)\" &  sluice req time.now\n";

static volatile sig_atomic_t stop_requested; /* signal handlers reach nothing else */
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

struct core_opts {
    const char *queue, *reply_to;
    int64_t count;
    bool echo;
    int nheaders;
    const char *headers[64];
};

static int make_msg(natsMsg **m, const char *subject, const char *reply, const char *data,
                    int len, const struct core_opts *o)
{
    natsStatus s = natsMsg_Create(m, subject, reply, data, len);
    if (s != NATS_OK) return cli_fail(EXIT_USAGE, "message on '%s': %s", subject, natsStatus_GetText(s));
    for (int i = 0; i < o->nheaders; i++) {
        int rc = nats_header_arg(*m, o->headers[i]);
        if (rc) {
            natsMsg_Destroy(*m);
            return rc;
        }
    }
    return EXIT_OK;
}

static int do_pub(const struct cli *c, natsConnection *nc, const char *subject, const char *data,
                  const struct core_opts *o)
{
    natsMsg *m;
    int rc;
    int64_t n = 0;
    if (data) {
        rc = make_msg(&m, subject, o->reply_to, data, (int)strlen(data), o);
        if (rc) return rc;
        natsStatus s = natsConnection_PublishMsg(nc, m);
        natsMsg_Destroy(m);
        if (s != NATS_OK) return nats_fail(c, s, 0, "pub");
        n = 1;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            if (len > 0 && line[len - 1] == '\n') len--;
            rc = make_msg(&m, subject, o->reply_to, line, (int)len, o);
            if (rc) { free(line); return rc; }
            natsStatus s = natsConnection_PublishMsg(nc, m);
            natsMsg_Destroy(m);
            if (s != NATS_OK) { free(line); return nats_fail(c, s, 0, "pub"); }
            n++;
        }
        free(line);
    }
    natsStatus s = natsConnection_FlushTimeout(nc, c->timeout_ms);
    if (s != NATS_OK) return nats_fail(c, s, 0, "pub: flush");
    if (c->json) json_print(json_pack("{s:s,s:I}", "subject", subject, "published", (json_int_t)n));
    return EXIT_OK;
}

static void print_msg(const struct cli *c, natsMsg *m)
{
    if (c->json) {
        json_print(nats_msg_json(m));
    } else {
        fwrite(natsMsg_GetData(m), 1, (size_t)natsMsg_GetDataLength(m), stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/* sub and reply: a synchronous subscription read in 200 ms slices until --count or a signal. */
static int do_listen(const struct cli *c, natsConnection *nc, const char *subject, const char *text,
                     bool answer, const struct core_opts *o)
{
    natsSubscription *sub = NULL;
    natsStatus s = o->queue ? natsConnection_QueueSubscribeSync(&sub, nc, subject, o->queue)
                            : natsConnection_SubscribeSync(&sub, nc, subject);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, c->timeout_ms);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return nats_fail(c, s, 0, answer ? "reply" : "sub");
    }
    /* Pending limits: a slow terminal must not cost the server a slow-consumer close quickly. */
    natsSubscription_SetPendingLimits(sub, 1000000, 1024 * 1024 * 1024);
    fprintf(stderr, "listening on %s\n", subject);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t got = 0;
    int rc = EXIT_OK;
    while (!stop_requested && (o->count < 0 || got < o->count)) {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, 200);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) {
            rc = nats_fail(c, s, 0, answer ? "reply" : "sub");
            break;
        }
        if (answer) {
            const char *reply = natsMsg_GetReply(m);
            if (reply) {
                const char *d = o->echo ? natsMsg_GetData(m) : text;
                int len = o->echo ? natsMsg_GetDataLength(m) : (int)strlen(text);
                s = natsConnection_Publish(nc, reply, d, len);
                if (s == NATS_OK) s = natsConnection_Flush(nc);
                if (s != NATS_OK) rc = nats_fail(c, s, 0, "reply");
            }
        } else {
            print_msg(c, m);
        }
        natsMsg_Destroy(m);
        got++;
        if (rc) break;
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return rc;
}

static int do_req(const struct cli *c, natsConnection *nc, const char *subject, const char *data,
                  const struct core_opts *o)
{
    natsMsg *m, *reply = NULL;
    int rc = make_msg(&m, subject, NULL, data ? data : "", data ? (int)strlen(data) : 0, o);
    if (rc) return rc;
    natsStatus s = natsConnection_RequestMsg(&reply, nc, m, c->timeout_ms);
    natsMsg_Destroy(m);
    if (s == NATS_NO_RESPONDERS) return cli_fail(EXIT_NOT_FOUND, "req: no responders on '%s'", subject);
    if (s != NATS_OK) return nats_fail(c, s, 0, "req");
    print_msg(c, reply);
    natsMsg_Destroy(reply);
    return EXIT_OK;
}

int cmd_nats_core(struct cli *c, const char *verb, int argc, char **argv)
{
    static const struct option opts[] = {
        {"header", required_argument, NULL, 'H'},
        {"reply", required_argument, NULL, 'r'},
        {"queue", required_argument, NULL, 'q'},
        {"count", required_argument, NULL, 'c'},
        {"echo", no_argument, NULL, 'e'},
        {0},
    };
    struct core_opts o = {.count = -1};
    int rc = EXIT_OK, opt;
    while (!rc && (opt = cli_getopt(c, argc, argv, "H:r:q:c:eh", opts)) != -1) {
        switch (opt) {
        case 'H':
            if (o.nheaders == 64) rc = cli_fail(EXIT_USAGE, "at most 64 headers");
            else o.headers[o.nheaders++] = optarg;
            break;
        case 'r': o.reply_to = optarg; break;
        case 'q': o.queue = optarg; break;
        case 'c':
            if (!cli_parse_i64(optarg, &o.count) || o.count < 0)
                rc = cli_fail(EXIT_USAGE, "--count wants a count >= 0, got '%s'", optarg);
            break;
        case 'e': o.echo = true; break;
        case 'h': case OPT_HELP: fputs(core_help, stdout); return EXIT_OK;
        default: fputs(core_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    bool is_pub = !strcmp(verb, "pub"), is_sub = !strcmp(verb, "sub"), is_req = !strcmp(verb, "req");
    int maxpos = is_sub ? 1 : 2;
    if (!rc && (npos < 1 || npos > maxpos)) {
        fputs(core_help, stderr);
        rc = cli_fail(EXIT_USAGE, "%s: wrong arguments", verb);
    }
    if (!rc && !strcmp(verb, "reply") && npos < 2 && !o.echo)
        rc = cli_fail(EXIT_USAGE, "reply: give the answer TEXT or --echo");
    if (rc) return rc;
    natsConnection *nc = NULL;
    rc = nats_open(c, &nc);
    if (rc) return rc;
    const char *data = npos > 1 ? pos[1] : NULL;
    if (is_pub) rc = do_pub(c, nc, pos[0], data, &o);
    else if (is_sub) rc = do_listen(c, nc, pos[0], NULL, false, &o);
    else if (is_req) rc = do_req(c, nc, pos[0], data, &o);
    else rc = do_listen(c, nc, pos[0], data ? data : "", true, &o);
    nats_close(nc);
    return rc;
}
