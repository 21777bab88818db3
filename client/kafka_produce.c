/* kafka_produce.c: `sluice produce TOPIC`: records from stdin or a file, one per line or
 * length-framed, with keys, headers, a partition, compression and acks, through librdkafka's
 * producer. Every record's delivery is checked before the exit code is chosen. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"

static const char produce_help[] =
    "usage: sluice produce TOPIC [--file PATH] [--framing line|length] [--key-separator SEP]\n"
    "                            [--header K=V]... [--partition N] [--compression CODEC]\n"
    "                            [--acks 0|1|all]\n"
    "\n"
    "Reads records from stdin (or --file) and sends them to TOPIC.\n"
    "  --framing line     one record per line, the newline removed (default)\n"
    "  --framing length   each record is a 4-byte big-endian length and that many bytes\n"
    "  --key-separator S  split each record at the first S: key before, value after\n"
    "  --header K=V       add a header to every record (repeatable)\n"
    "  --partition N      send every record to partition N (default: the partitioner)\n"
    "  --compression C    none, gzip, snappy, lz4 or zstd (default none)\n"
    "  --acks A           0, 1 or all (default all)\n"
    "On a terminal, a progress line is shown on stderr once a second. The summary goes to\n"
    "stderr (with --json, {\"topic\":..,\"produced\":N} to stdout). Exit 0 only when every record\n"
    "was acknowledged.\n"
    "\n"
    "Examples:\n"
    "  printf 'k1:v1\\nk2:v2\\n' | sluice produce orders --key-separator :\n"
    "  sluice produce orders --file events.txt --header source=import --compression zstd\n";

struct produce_state {
    int64_t delivered, failed;
    rd_kafka_resp_err_t first_err;
    char first_errstr[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct produce_state *ps = m->_private;
    if (!m->err) {
        ps->delivered++;
        return;
    }
    if (!ps->failed++) {
        ps->first_err = m->err;
        snprintf(ps->first_errstr, sizeof ps->first_errstr, "%s", rd_kafka_err2str(m->err));
    }
}

struct produce_opts {
    const char *topic, *file, *key_sep;
    bool length_framing;
    int32_t partition;
    int nheaders;
    char *hkey[64];
    const char *hval[64];
};

/* Reads the next record into *buf (grown as needed); returns its length, -1 at end, -2 on a
 * truncated length-framed record. */
static ssize_t read_record(FILE *in, bool length_framing, char **buf, size_t *cap)
{
    if (!length_framing) {
        ssize_t n = getline(buf, cap, in);
        if (n < 0) return -1;
        if (n > 0 && (*buf)[n - 1] == '\n') n--;
        return n;
    }
    unsigned char hdr[4];
    size_t got = fread(hdr, 1, 4, in);
    if (got == 0) return -1;
    if (got < 4) return -2;
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > (1u << 30)) return -2;
    if (*cap < len + 1) {
        *buf = realloc(*buf, len + 1);
        if (!*buf) abort();
        *cap = len + 1;
    }
    if (fread(*buf, 1, len, in) != len) return -2;
    return (ssize_t)len;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends one record, waiting (bounded by the timeout) while librdkafka's queue is full. */
static int send_record(struct kafka *k, struct produce_state *ps, const struct produce_opts *o,
                       char *rec, size_t n)
{
    const char *key = NULL;
    size_t keylen = 0;
    char *val = rec;
    size_t vallen = n;
    if (o->key_sep) {
        size_t sl = strlen(o->key_sep);
        char *sep = sl ? memmem(rec, n, o->key_sep, sl) : NULL;
        if (sep) {
            key = rec;
            keylen = (size_t)(sep - rec);
            val = sep + sl;
            vallen = n - keylen - sl;
        }
    }
    int64_t deadline = now_ms() + k->cli->timeout_ms;
    for (;;) {
        rd_kafka_headers_t *h = o->nheaders ? rd_kafka_headers_new((size_t)o->nheaders) : NULL;
        for (int i = 0; i < o->nheaders; i++) rd_kafka_header_add(h, o->hkey[i], -1, o->hval[i], -1);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(o->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE(val, vallen), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(ps),
            RD_KAFKA_V_END);
        if (!err) return EXIT_OK;
        if (h) rd_kafka_headers_destroy(h);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return kcli_fail(k, err, "produce", NULL);
        if (now_ms() > deadline) return kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, "produce", NULL);
        rd_kafka_poll(k->rk, 100);
    }
}

static int produce_run(struct kafka *k, const struct produce_opts *o, FILE *in)
{
    struct produce_state ps = {0};
    char *buf = NULL;
    size_t cap = 0;
    int64_t sent = 0, last_progress = now_ms();
    bool tty = isatty(STDERR_FILENO);
    int rc = EXIT_OK;
    for (;;) {
        ssize_t n = read_record(in, o->length_framing, &buf, &cap);
        if (n == -1) break;
        if (n == -2) {
            rc = cli_fail(EXIT_USAGE, "produce: input ends inside a length-framed record (after %lld records)",
                          (long long)sent);
            break;
        }
        rc = send_record(k, &ps, o, buf, (size_t)n);
        if (rc) break;
        sent++;
        rd_kafka_poll(k->rk, 0);
        if (ps.failed) break;
        if (tty && now_ms() - last_progress >= 1000) {
            last_progress = now_ms();
            fprintf(stderr, "\rproduced %lld, acknowledged %lld", (long long)sent, (long long)ps.delivered);
        }
    }
    free(buf);
    if (ferror(in) && !rc) rc = cli_fail(EXIT_USAGE, "produce: reading input: %s", strerror(errno));
    /* Bounded: flush gives up after the timeout, and undelivered records count as failures. */
    rd_kafka_resp_err_t ferr = rd_kafka_flush(k->rk, k->cli->timeout_ms + 1000);
    if (tty && sent > 0) fputc('\n', stderr);
    if (!rc && ps.failed)
        rc = kcli_fail(k, ps.first_err, "produce", ps.first_errstr);
    if (!rc && ferr)
        rc = kcli_fail(k, ferr, "produce", "records still unacknowledged at the timeout");
    if (!rc && ps.delivered != sent)
        rc = cli_fail(EXIT_SERVER, "produce: %lld of %lld records acknowledged",
                      (long long)ps.delivered, (long long)sent);
    if (!rc && k->cli->json) json_print(json_pack("{s:s,s:I}", "topic", o->topic, "produced", (json_int_t)ps.delivered));
    else if (!rc) fprintf(stderr, "produced %lld records to %s\n", (long long)ps.delivered, o->topic);
    return rc;
}

int cmd_produce(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"framing", required_argument, NULL, 'F'},
        {"key-separator", required_argument, NULL, 'K'},
        {"header", required_argument, NULL, 'H'},
        {"partition", required_argument, NULL, 'p'},
        {"compression", required_argument, NULL, 'z'},
        {"acks", required_argument, NULL, 'a'},
        {0},
    };
    struct produce_opts o = {.partition = RD_KAFKA_PARTITION_UA};
    const char *compression = "none", *acks = "-1";
    int rc = EXIT_OK, opt;
    int64_t v;
    while (!rc && (opt = cli_getopt(c, argc, argv, "f:K:H:p:z:a:h", opts)) != -1) {
        switch (opt) {
        case 'f': o.file = optarg; break;
        case 'F':
            if (!strcmp(optarg, "length")) o.length_framing = true;
            else if (strcmp(optarg, "line")) rc = cli_fail(EXIT_USAGE, "--framing is line or length, got '%s'", optarg);
            break;
        case 'K': o.key_sep = optarg; break;
        case 'H': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) rc = cli_fail(EXIT_USAGE, "--header wants K=V, got '%s'", optarg);
            else if (o.nheaders == 64) rc = cli_fail(EXIT_USAGE, "at most 64 headers");
            else {
                o.hkey[o.nheaders] = strndup(optarg, (size_t)(eq - optarg));
                o.hval[o.nheaders++] = eq + 1;
            }
            break;
        }
        case 'p':
            if (!cli_parse_i64(optarg, &v) || v < 0 || v > INT32_MAX)
                rc = cli_fail(EXIT_USAGE, "--partition wants a partition >= 0, got '%s'", optarg);
            o.partition = (int32_t)v;
            break;
        case 'z': compression = optarg; break;
        case 'a': acks = strcmp(optarg, "all") ? optarg : "-1"; break;
        case 'h': case OPT_HELP: fputs(produce_help, stdout); return EXIT_OK;
        default: fputs(produce_help, stderr); rc = EXIT_USAGE; break;
        }
    }
    if (!rc && argc - optind != 1) {
        fputs(produce_help, stderr);
        rc = cli_fail(EXIT_USAGE, "produce: one TOPIC is needed");
    }
    if (!rc) o.topic = argv[optind];
    if (!rc && strcmp(acks, "0") && strcmp(acks, "1") && strcmp(acks, "-1"))
        rc = cli_fail(EXIT_USAGE, "--acks is 0, 1 or all, got '%s'", acks);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!rc) rc = kafka_conf_set(conf, "compression.codec", compression);
    if (!rc) rc = kafka_conf_set(conf, "acks", acks);
    if (!rc) rc = kafka_conf_set(conf, "linger.ms", "5");
    FILE *in = stdin;
    if (!rc && o.file && !(in = fopen(o.file, "rb")))
        rc = cli_fail(EXIT_USAGE, "produce: cannot open %s: %s", o.file, strerror(errno));
    struct kafka k = {0};
    if (!rc) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rc = kafka_open(&k, c, RD_KAFKA_PRODUCER, conf);
        conf = NULL;
    }
    if (conf) rd_kafka_conf_destroy(conf);
    if (!rc) rc = produce_run(&k, &o, in);
    rc = kafka_close(&k, rc);
    if (in && in != stdin) fclose(in);
    for (int i = 0; i < o.nheaders; i++) free(o.hkey[i]);
    return rc;
}
