/* main.c: the sluice CLI's entry point: global flags, dispatch to a subcommand, the top-level
 * help. Global flags may come before or after the subcommand. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage[] =
    "usage: sluice [GLOBAL FLAGS] COMMAND [ARGS]\n"
    "\n"
    "A command-line client for Kafka and NATS servers (Sluice, Apache Kafka, nats-server),\n"
    "built on librdkafka and nats.c.\n"
    "\n"
    "Kafka commands:\n"
    "  topic create|list|describe|alter|delete   manage topics\n"
    "  group list|describe|delete|reset-offsets  consumer groups, committed offsets and lag\n"
    "  produce TOPIC                             send lines (or length-framed records) from stdin or a file\n"
    "  consume TOPIC                             print records, by group or by partition\n"
    "  acl list|create|delete                    ACLs (Describe/Create/DeleteAcls)\n"
    "  user list|create|delete                   SCRAM credentials (the broker's admin HTTP API)\n"
    "NATS commands:\n"
    "  pub SUBJECT [DATA]    publish (DATA, else stdin lines)\n"
    "  sub SUBJECT           print messages\n"
    "  req SUBJECT [DATA]    send a request, print the reply\n"
    "  reply SUBJECT TEXT    answer requests with TEXT\n"
    "  stream add|info|list|purge|delete         JetStream streams\n"
    "  consumer add|info|list|next|delete        JetStream consumers\n"
    "  dlq list|replay DLQ_STREAM                dead letters, and replaying them to their stream\n"
    "Sluice cluster commands:\n"
    "  cluster status|add|remove|transfer        the Raft group: members, leader, leadership transfer\n"
    "                                            (the broker's admin HTTP API)\n"
    "\n"
    "Global flags:\n"
    "  --brokers LIST   Kafka bootstrap servers (env SLUICE_BROKERS; default 127.0.0.1:9092)\n"
    "  --server URL     NATS server (env NATS_URL or SLUICE_SERVER; default nats://127.0.0.1:4222)\n"
    "  --kafka-config K=V  a librdkafka property for the Kafka commands, repeatable\n"
    "                   (e.g. security.protocol=SASL_PLAINTEXT, sasl.mechanisms, sasl.username)\n"
    "  --json           JSON output (one object per line for streams of records)\n"
    "  --timeout DUR    bound on connecting and on each request (default 10s)\n"
    "  --admin URL      the broker's admin HTTP API, its monitoring port (env SLUICE_ADMIN;\n"
    "                   default http://127.0.0.1:8222)\n"
    "  --admin-token T  its http_token, sent as a Bearer token (env SLUICE_ADMIN_TOKEN)\n"
    "  --admin-tlscacert FILE, --admin-tlscert FILE, --admin-tlskey FILE\n"
    "                   https: the CA to trust, and a client certificate and key (mTLS)\n"
    "  --help           this text; `sluice COMMAND --help` for a command's flags and examples\n"
    "\n"
    "Exit codes: 0 ok, 1 usage error, 2 not found (topic, group, stream, consumer),\n"
    "            3 unreachable server or timeout, 4 other server error.\n"
    "\n"
    "Examples:\n"
    "  sluice --brokers 127.0.0.1:9092 consume orders --from-beginning --count 100\n"
    "  sluice topic create orders --partitions 6 --config retention.ms=86400000\n"
    "  sluice group describe billing --json\n"
    "  sluice --server nats://127.0.0.1:4222 stream add ORDERS --subjects 'orders.>'\n";

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sluice: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static const struct option global_opts[] = {
    {"brokers", required_argument, NULL, OPT_GLOBAL_BASE + 0},
    {"server", required_argument, NULL, OPT_GLOBAL_BASE + 1},
    {"json", no_argument, NULL, OPT_GLOBAL_BASE + 2},
    {"timeout", required_argument, NULL, OPT_GLOBAL_BASE + 3},
    {"admin", required_argument, NULL, OPT_GLOBAL_BASE + 4},
    {"admin-token", required_argument, NULL, OPT_GLOBAL_BASE + 5},
    {"admin-tlscacert", required_argument, NULL, OPT_GLOBAL_BASE + 6},
    {"admin-tlscert", required_argument, NULL, OPT_GLOBAL_BASE + 7},
    {"admin-tlskey", required_argument, NULL, OPT_GLOBAL_BASE + 8},
    {"kafka-config", required_argument, NULL, OPT_GLOBAL_BASE + 9},
    {"help", no_argument, NULL, OPT_HELP},
};
enum { GLOBAL_N = sizeof global_opts / sizeof global_opts[0] };

/* Applies a global option; false when its value is malformed. */
static bool global_apply(struct cli *c, int opt, const char *arg)
{
    int64_t ms;
    switch (opt - OPT_GLOBAL_BASE) {
    case 0: c->brokers = arg; return true;
    case 1: c->server = arg; return true;
    case 2: c->json = true; return true;
    case 3:
        if (!cli_parse_duration_ms(arg, &ms) || ms <= 0 || ms > 86400000) return false;
        c->timeout_ms = (int)ms;
        return true;
    case 4: c->admin = arg; return true;
    case 5: c->admin_token = arg; return true;
    case 6: c->admin_cacert = arg; return true;
    case 7: c->admin_cert = arg; return true;
    case 8: c->admin_key = arg; return true;
    case 9:
        if (c->kafka_config_n == 32 || !strchr(arg, '=') || arg[0] == '=') return false;
        c->kafka_config[c->kafka_config_n++] = arg;
        return true;
    }
    return false;
}

void cli_getopt_reset(void)
{
    optind = 0; /* 0 makes glibc's getopt start over, including its internal state */
}

int cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
               const struct option *own)
{
    struct option all[64];
    int n = 0;
    while (own && own[n].name && n < 64 - GLOBAL_N - 1) {
        all[n] = own[n];
        n++;
    }
    for (int i = 0; i < GLOBAL_N; i++) all[n++] = global_opts[i];
    memset(&all[n], 0, sizeof all[n]);
    for (;;) {
        int opt = getopt_long(argc, argv, shortopts, all, NULL);
        if (opt >= OPT_GLOBAL_BASE && opt < OPT_GLOBAL_BASE + GLOBAL_N - 1) {
            if (!global_apply(c, opt, optarg)) {
                cli_fail(EXIT_USAGE, "bad value for a global flag: %s", optarg);
                return '?';
            }
            continue;
        }
        return opt;
    }
}

bool cli_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) return false;
    *out = v;
    return true;
}

bool cli_parse_duration_ms(const char *s, int64_t *out_ms)
{
    if (!s || !isdigit((unsigned char)*s)) return false;
    char *end;
    double v = strtod(s, &end);
    double mul;
    if (!*end || !strcmp(end, "ms")) mul = 1;
    else if (!strcmp(end, "s")) mul = 1000;
    else if (!strcmp(end, "m")) mul = 60000;
    else if (!strcmp(end, "h")) mul = 3600000;
    else if (!strcmp(end, "d")) mul = 86400000;
    else return false;
    *out_ms = (int64_t)(v * mul);
    return true;
}

bool cli_parse_time_ms(const char *s, int64_t *out_ms)
{
    if (cli_parse_i64(s, out_ms)) return *out_ms >= 0;
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%d", &tm);
    }
    if (!end) return false;
    int ms = 0;
    if (*end == '.') {
        char *e2;
        double frac = strtod(end, &e2);
        ms = (int)(frac * 1000);
        end = e2;
    }
    if (*end == 'Z') end++;
    if (*end) return false;
    *out_ms = (int64_t)timegm(&tm) * 1000 + ms; /* times are UTC */
    return true;
}

static const char *env_or(const char *a, const char *b, const char *dflt)
{
    const char *v = a ? getenv(a) : NULL;
    if (v && *v) return v;
    v = b ? getenv(b) : NULL;
    if (v && *v) return v;
    return dflt;
}

int main(int argc, char **argv)
{
    struct cli c = {
        .brokers = env_or("SLUICE_BROKERS", NULL, "127.0.0.1:9092"),
        /* SLUICE_SERVER is also the tests' path to sluice-server; only a URL counts here. */
        .server = env_or("NATS_URL", NULL, NULL),
        .timeout_ms = 10000,
        .admin = env_or("SLUICE_ADMIN", NULL, "http://127.0.0.1:8222"),
        .admin_token = env_or("SLUICE_ADMIN_TOKEN", NULL, NULL),
    };
    if (!c.server) {
        const char *v = getenv("SLUICE_SERVER");
        c.server = (v && strstr(v, "://")) ? v : "nats://127.0.0.1:4222";
    }
    /* Global flags before the command: stop at the first non-option ('+'). */
    for (;;) {
        int opt = cli_getopt(&c, argc, argv, "+h", NULL);
        if (opt == -1) break;
        if (opt == OPT_HELP || opt == 'h') {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    cli_getopt_reset();
    if (!strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "topic")) return cmd_topic(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "group")) return cmd_group(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "produce")) return cmd_produce(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "consume")) return cmd_consume(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "pub") || !strcmp(cmd, "sub") || !strcmp(cmd, "req") || !strcmp(cmd, "reply"))
        return cmd_nats_core(&c, cmd, sub_argc, sub_argv);
    if (!strcmp(cmd, "stream")) return cmd_stream(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "consumer")) return cmd_consumer(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "dlq")) return cmd_dlq(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "user")) return cmd_user(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "acl")) return cmd_acl(&c, sub_argc, sub_argv);
    if (!strcmp(cmd, "cluster")) return cmd_cluster(&c, sub_argc, sub_argv);
    fputs(usage, stderr);
    return cli_fail(EXIT_USAGE, "unknown command '%s'", cmd);
}
