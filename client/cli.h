/* cli.h: what every subcommand of the sluice CLI shares: the global options, the exit codes,
 * one-line errors and the option tables. The CLI talks to brokers only through librdkafka and
 * nats.c; nothing here knows Sluice's own code, so it works against any Kafka or NATS server. */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The exit codes, documented in `sluice --help` and README.md. */
enum cli_exit {
    EXIT_OK = 0,
    EXIT_USAGE = 1,       /* bad flags or arguments */
    EXIT_NOT_FOUND = 2,   /* unknown topic, group, stream, consumer */
    EXIT_UNREACHABLE = 3, /* no broker answered, or a request timed out */
    EXIT_SERVER = 4,      /* the server refused the request, or any other failure */
};

struct cli {
    const char *brokers;  /* Kafka bootstrap list */
    const char *server;   /* NATS URL */
    bool json;
    int timeout_ms;       /* every request and connection attempt */
    /* The broker's admin routes (sluice user, sluice cluster): an http(s) URL, its Bearer token,
     * and for https the CA to trust and a client certificate and key (mTLS); NULL: not given. */
    const char *admin;
    const char *admin_token;
    const char *admin_cacert, *admin_cert, *admin_key;
    /* --kafka-config K=V: librdkafka properties for every Kafka command (SASL, TLS, ...). */
    const char *kafka_config[32];
    int kafka_config_n;
};

/* Prints "sluice: <message>" on stderr and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Subcommand option parsing. The caller's table ends with {0}; the global options (--brokers,
 * --server, --json, --timeout, --help) are accepted after the subcommand too. Returns the
 * option's value as getopt_long does; OPT_HELP for --help, '?' on an unknown option. */
enum { OPT_HELP = 0x1000, OPT_GLOBAL_BASE = 0x1001 };
int cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
               const struct option *own);
void cli_getopt_reset(void);

/* Parsing helpers: false on a malformed value. */
bool cli_parse_i64(const char *s, int64_t *out);
bool cli_parse_duration_ms(const char *s, int64_t *out_ms); /* 500ms, 10s, 5m, 2h, 1d, bare = ms */
bool cli_parse_time_ms(const char *s, int64_t *out_ms);     /* epoch ms or 2024-01-02T03:04:05[Z] */

/* Output helpers (out.c). A table is rows of cells, printed with aligned columns. */
struct table {
    int ncols;
    int nrows, cap;
    char **cells; /* row-major, (nrows + 1) * ncols with the header first */
};
void table_init(struct table *t, int ncols, const char *const *header);
void table_add(struct table *t, ...); /* exactly ncols const char * */
void table_print(const struct table *t);
void table_free(struct table *t);
char *fmt_i64(int64_t v); /* static ring of buffers: valid for the next 16 calls */
/* Prints j (compact, one line) on stdout and releases it. */
void json_print(json_t *j);
/* A JSON string of n bytes; bytes that are not UTF-8 become U+FFFD. */
json_t *json_bytes(const void *p, size_t n);

/* Subcommands. */
int cmd_topic(struct cli *c, int argc, char **argv);
int cmd_group(struct cli *c, int argc, char **argv);
int cmd_produce(struct cli *c, int argc, char **argv);
int cmd_consume(struct cli *c, int argc, char **argv);
int cmd_nats_core(struct cli *c, const char *verb, int argc, char **argv);
int cmd_stream(struct cli *c, int argc, char **argv);
int cmd_consumer(struct cli *c, int argc, char **argv);
int cmd_dlq(struct cli *c, int argc, char **argv);
int cmd_user(struct cli *c, int argc, char **argv);
int cmd_acl(struct cli *c, int argc, char **argv);
int cmd_cluster(struct cli *c, int argc, char **argv);

#endif
