/* kafka_mock.c: librdkafka's mock Kafka cluster (rdkafka_mock.h, Debian's librdkafka 2.0.2) as a
 * standalone in-memory Kafka peer for bench/run.sh: no disk, no replication, the reference for
 * what a librdkafka client can push through the Kafka protocol on this machine.
 *
 *   sl_kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * The mock does not implement CreateTopics, so topics with a given partition count are created
 * here before the cluster is announced. It prints "BOOTSTRAP host:port,..." on stdout once the
 * cluster listens (2.0.2 cannot choose the port: the brokers bind ephemeral ports), then runs
 * until stdin closes or SIGTERM/SIGINT, so a script that dies never leaves it behind. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    int brokers = 1;
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--brokers")) brokers = atoi(argv[i + 1]);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The mock cluster lives inside a client handle; this one never produces. */
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
        return 2;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--brokers")) continue;
        if (strcmp(argv[i], "--topic")) {
            fprintf(stderr, "usage: sl_kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...\n");
            return 2;
        }
        char name[256];
        snprintf(name, sizeof(name), "%s", argv[i + 1]);
        char *colon = strrchr(name, ':');
        int parts = colon ? atoi(colon + 1) : 1;
        if (colon) *colon = 0;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, parts > 0 ? parts : 1, 1);
        if (err) {
            fprintf(stderr, "kafka_mock: topic %s: %s\n", name, rd_kafka_err2str(err));
            return 2;
        }
    }
    /* No SA_RESTART: the signal must interrupt the blocking read below. */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char buf[256];
    while (!stop) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n == 0 || (n < 0 && !stop)) break;
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
