/* kafka_mock.c: librdkafka's mock Kafka cluster as a standalone peer for the integration tests.
 *
 *   kafka_mock [--brokers N]
 *
 * Creates a mock cluster of N brokers (1 by default) inside this process, prints its bootstrap
 * list ("127.0.0.1:PORT[,...]") as one line on stdout, and serves until SIGTERM or SIGINT
 * arrives or stdin reaches EOF, so a test that dies without stopping it still ends it (its
 * stdin is a pipe the test holds). harness.start_mock() runs it.
 *
 * stdin also takes commands, one a line, each answered by one line on stdout ("ok" or
 * "error: ..."):
 *   topic NAME PARTITIONS   create a topic (replication factor 1)
 *   error APIKEY CODE COUNT the next COUNT requests of API APIKEY fail with error CODE
 *
 * The mock is librdkafka's own reference behaviour (the same code librdkafka's test suite runs
 * against), which lets a test's expectations be proven on a peer before Sluice serves them.
 * Exit codes: 0 after a clean stop, 2 on bad arguments or a failed set-up. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define BROKERS_MAX 16
#define LINE_MAX_BYTES 1024
#define ERRORS_MAX 64

static int usage(void) {
    fprintf(stderr, "usage: kafka_mock [--brokers N]   (N in 1..%d)\n", BROKERS_MAX);
    return 2;
}

/* One command line from stdin. Answers "ok" or "error: ..." on a line of stdout. */
static void run_command(rd_kafka_mock_cluster_t *mc, char *line) {
    char name[256];
    int partitions, api_key, code, count, consumed = 0;
    if (sscanf(line, "topic %255s %d%n", name, &partitions, &consumed) == 2 &&
        line[consumed] == '\0') {
        /* The mock names no controller, so clients cannot CreateTopics; this is how a test
         * gets a topic with a partition count of its choosing (auto-creation makes 4). */
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, 1);
        if (err)
            printf("error: %s\n", rd_kafka_err2str(err));
        else
            printf("ok\n");
    } else if (sscanf(line, "error %d %d %d%n", &api_key, &code, &count, &consumed) == 3 &&
               line[consumed] == '\0' && api_key >= 0 && count >= 1 && count <= ERRORS_MAX) {
        /* The next `count` requests of `api_key` (on any connection) fail with `code`: how a
         * test makes the mock answer what a real broker would where the mock itself does not
         * (a fenced producer's Produce, for instance), to see what the client then does. */
        rd_kafka_resp_err_t errs[ERRORS_MAX];
        for (int i = 0; i < count; i++)
            errs[i] = (rd_kafka_resp_err_t)code;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)api_key, (size_t)count, errs);
        printf("ok\n");
    } else {
        printf("error: unknown command (want: topic NAME PARTITIONS | error APIKEY CODE COUNT)\n");
    }
    fflush(stdout);
}

/* Serves stdin's command lines until SIGTERM/SIGINT (through fd sfd) or EOF on stdin.
 * Returns 0, or -1 on a poll error. */
static int serve(rd_kafka_mock_cluster_t *mc, int sfd) {
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
    char buf[LINE_MAX_BYTES];
    size_t used = 0;
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (fds[0].revents)
            return 0;
        if (!fds[1].revents)
            continue;
        ssize_t n = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        used += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', used - (size_t)(start - buf))) != NULL) {
            *nl = '\0';
            run_command(mc, start);
            start = nl + 1;
        }
        used -= (size_t)(start - buf);
        memmove(buf, start, used);
        if (used == sizeof buf - 1) /* an over-long line: drop it rather than wedge */
            used = 0;
    }
}

int main(int argc, char **argv) {
    int brokers = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > BROKERS_MAX)
                return usage();
            brokers = (int)v;
        } else {
            return usage();
        }
    }

    /* Block the stop signals before librdkafka starts its threads: they inherit the mask, so
     * the signals stay pending for the signalfd instead of killing the process mid-request. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGPIPE); /* a closed stdout must not kill the mock */
    if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0) {
        perror("kafka_mock: sigprocmask");
        return 2;
    }
    sigdelset(&stop, SIGPIPE);
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("kafka_mock: signalfd");
        return 2;
    }

    /* The mock cluster needs a client instance for its bookkeeping; it sends nothing. */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
        return 2;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(rk);
        return 2;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    fprintf(stderr, "kafka_mock: librdkafka %s, %d broker(s) at %s\n", rd_kafka_version_str(),
            brokers, rd_kafka_mock_cluster_bootstraps(mc));

    int rc = serve(mc, sfd) == 0 ? 0 : 2;
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    close(sfd);
    return rc;
}
