/* kafka_common.c: librdkafka handles for the CLI, error mapping, Admin API waits, metadata. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct kafka *k = opaque;
    snprintf(k->last_error, sizeof k->last_error, "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) k->all_brokers_down = true;
}

/* librdkafka logs connection failures itself; the CLI reports one line of its own instead. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk; (void)level; (void)fac; (void)buf;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK)
        return cli_fail(EXIT_USAGE, "%s=%s: %s", key,
                        strstr(key, "password") || strstr(key, "secret") ? "(hidden)" : value, err);
    return EXIT_OK;
}

int kafka_open(struct kafka *k, const struct cli *c, rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    memset(k, 0, sizeof *k);
    k->cli = c;
    if (!conf) conf = rd_kafka_conf_new();
    char tmo[32];
    snprintf(tmo, sizeof tmo, "%d", c->timeout_ms);
    int rc = kafka_conf_set(conf, "bootstrap.servers", c->brokers);
    if (!rc) rc = kafka_conf_set(conf, "client.id", "sluice-cli");
    if (!rc) rc = kafka_conf_set(conf, "socket.timeout.ms", tmo);
    if (!rc && type == RD_KAFKA_PRODUCER) rc = kafka_conf_set(conf, "message.timeout.ms", tmo);
    for (int i = 0; !rc && i < c->kafka_config_n; i++) {
        char key[256];
        const char *eq = strchr(c->kafka_config[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - c->kafka_config[i]), c->kafka_config[i]);
        rc = kafka_conf_set(conf, key, eq + 1);
    }
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    char err[512];
    k->rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        return cli_fail(EXIT_USAGE, "cannot make a Kafka client: %s", err);
    }
    return EXIT_OK;
}

/* The exit code the watchdog exits with: a signal handler can reach nothing but a global. */
static volatile sig_atomic_t close_exit_code;

static void on_close_timeout(int sig)
{
    (void)sig;
    static const char msg[] = "sluice: the Kafka client did not shut down in time; exiting\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(close_exit_code);
}

int kafka_close(struct kafka *k, int rc)
{
    if (!k->rk) return rc;
    /* After a failure, librdkafka 2.0.2's teardown can hang or abort (an assertion in
     * rd_kafka_enq_once_del_source_return) when an admin request failed or is still in flight
     * (seen with its own mock cluster and DescribeGroups). The error is reported by now and the
     * process ends here anyway, so it exits without tearing the client down. */
    if (rc != EXIT_OK) {
        fflush(NULL);
        _exit(rc);
    }
    /* On success, a watchdog still bounds the shutdown and exits with our code. */
    close_exit_code = rc;
    int secs = k->cli->timeout_ms / 1000 + 2;
    signal(SIGALRM, on_close_timeout);
    alarm((unsigned)(secs > 30 ? 30 : secs));
    if (rd_kafka_type(k->rk) == RD_KAFKA_CONSUMER) rd_kafka_consumer_close(k->rk);
    rd_kafka_destroy(k->rk);
    alarm(0);
    k->rk = NULL;
    return rc;
}

int kafka_exit_code(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return EXIT_OK;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
        return EXIT_NOT_FOUND;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        return EXIT_UNREACHABLE;
    default:
        return EXIT_SERVER;
    }
}

int kcli_fail(struct kafka *k, rd_kafka_resp_err_t err, const char *what, const char *detail)
{
    int code = kafka_exit_code(err);
    if (code == EXIT_UNREACHABLE) rd_kafka_poll(k->rk, 0); /* serves error_cb: the reason */
    if (code == EXIT_UNREACHABLE && (k->all_brokers_down || k->last_error[0]))
        return cli_fail(code, "%s: cannot reach the Kafka brokers %s within %d ms (%s)", what,
                        k->cli->brokers, k->cli->timeout_ms,
                        k->last_error[0] ? k->last_error : "all brokers down");
    if (code == EXIT_UNREACHABLE)
        return cli_fail(code, "%s: no answer from the Kafka brokers %s within %d ms", what,
                        k->cli->brokers, k->cli->timeout_ms);
    return cli_fail(code, "%s: %s", what, detail && *detail ? detail : rd_kafka_err2str(err));
}

rd_kafka_AdminOptions_t *kafka_admin_options(struct kafka *k, rd_kafka_admin_op_t op)
{
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, op);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(o, k->cli->timeout_ms, err, sizeof err);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS)
        rd_kafka_AdminOptions_set_operation_timeout(o, k->cli->timeout_ms, err, sizeof err);
    return o;
}

rd_kafka_event_t *kafka_admin_wait(struct kafka *k, rd_kafka_queue_t *q)
{
    /* The request timeout bounds the answer; a little more covers librdkafka's own wake-up. */
    return rd_kafka_queue_poll(q, k->cli->timeout_ms + 2000);
}

int kafka_metadata(struct kafka *k, const struct rd_kafka_metadata **md)
{
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, 1, NULL, md, k->cli->timeout_ms);
    if (err) return kcli_fail(k, err, "metadata", NULL);
    return EXIT_OK;
}

const struct rd_kafka_metadata_topic *kafka_md_topic(const struct rd_kafka_metadata *md,
                                                     const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) &&
            md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return &md->topics[i];
    return NULL;
}

int kafka_watermarks(struct kafka *k, const char *topic, int32_t partition, int64_t *low,
                     int64_t *high)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(k->rk, topic, partition, low, high, k->cli->timeout_ms);
    if (err) {
        char what[300];
        snprintf(what, sizeof what, "watermarks of %s/%d", topic, partition);
        return kcli_fail(k, err, what, NULL);
    }
    return EXIT_OK;
}
