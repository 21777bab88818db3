/* nats_load.c: a NATS load generator speaking the raw client protocol over TCP (no library), so
 * the same program drives nats-server and sluice-server. One measurement per run, printed as one
 * line of key=value pairs for bench/run_nats.sh:
 *
 *   nats_load --port P [--host H] --mode pub|pubsub|queue|reqrep|lat|jspub [--size N]
 *             [--seconds S] [--max-msgs M] [--window BYTES] [--pending N] [--subs N]
 *             [--rate R] [--pid SERVER_PID]
 *
 *   pub     1 publisher, no subscriber; pipelined PUBs in big writes; the time includes the
 *           final PING/PONG (the server has read everything).
 *   pubsub  1 publisher + --subs subscriber connections (default 1, a reader thread each
 *           counting MSGs; every subscriber gets every message); at most --window bytes (default
 *           8 MiB, and at least one batch per subscriber) delivered to no one yet; the rate is what the
 *           subscribers received over the run, all of them counted.
 *   queue   1 publisher + 2 subscribers in one queue group (the rate counts both).
 *   reqrep  sequential request/reply: a responder connection answers each request; the
 *           requester sends one request and waits for its reply; p50/p99/p99.9 of the RTT.
 *   lat     one-way latency at an offered load: a publisher paced at --rate msgs/s on an absolute
 *           schedule and a subscriber on another connection; each payload starts with its
 *           scheduled send time (CLOCK_MONOTONIC), so a server that falls behind shows its queueing
 *           delay (no coordinated omission). The first 0.25 s is discarded. Reports the received
 *           rate, p50/p99/p99.9/max of send -> receive, and lost messages (a saturated server may
 *           drop a slow consumer); it does not fail on loss, so a caller can step the rate up
 *           until the server saturates.
 *   jspub   JetStream async publish as nats.go's PublishAsync does it, without the client's
 *           cost: (re)creates the work-queue stream BENCH (subjects BENCH.*, max_age 24 h,
 *           file storage), then publishes with a reply subject, at most --pending (default 256)
 *           messages without their PubAck; the rate counts PubAcks, and any PubAck carrying an
 *           "error" fails the run. bench/run_js.sh runs it beside the nats.go figures, so the
 *           table shows what the server can do when the client is not the bottleneck.
 *
 * With --pid, the server's CPU (utime+stime from /proc/PID/stat over the measured interval, % of
 * one core) and VmRSS at the end are reported too. Every wait is bounded; exit 1 on a protocol
 * error, a timeout or a lost message. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define RBUF (1u << 20)

static const char *host = "127.0.0.1";
static int port;
static const char *mode = "pubsub";
static size_t msg_size = 128;
static double seconds = 2.0;
static uint64_t max_msgs = 30000000;
static uint64_t window_bytes = 8u << 20;
static int server_pid;
static uint64_t js_pending = 256;
static int nsubs_opt = 1;
static double rate_opt = 10000;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "nats_load: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

struct nconn {
    int fd;
    char *buf;
    size_t len;           /* bytes in buf */
    size_t skip;          /* payload bytes (+CRLF) still to skip */
    bool want_reply;      /* responder: keep the reply subject of each MSG */
    _Atomic uint64_t msgs;
    _Atomic uint64_t pongs;
    char reply[256];      /* last reply subject (responder) */
    bool has_reply;
    const char *resp;     /* responder: the prebuilt reply payload + CRLF */
    size_t resp_len;
    char *out;            /* responder: a reply batch */
    size_t out_len, out_cap;
    bool inspect;         /* jspub: read each MSG payload whole, count those carrying "error" */
    uint64_t *lat_ns;     /* lat: one-way latency of each message received after the warm-up */
    size_t lat_n, lat_cap;
    uint64_t lat_from;    /* lat: scheduled send times before this are the warm-up */
    _Atomic uint64_t errors;
    char last_err[200];
};

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

static void out_add(struct nconn *c, const char *p, size_t n) {
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("%s", "out of memory");
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* Processes what is in c->buf; keeps an incomplete line at the front. */
static void parse(struct nconn *c) {
    size_t pos = 0;
    while (pos < c->len) {
        if (c->skip) {
            size_t n = c->len - pos < c->skip ? c->len - pos : c->skip;
            pos += n;
            c->skip -= n;
            if (c->skip == 0) {
                if (c->has_reply) { /* responder: answer once the payload is consumed */
                    char hdr[320];
                    int h = snprintf(hdr, sizeof hdr, "PUB %s %zu\r\n", c->reply, c->resp_len - 2);
                    out_add(c, hdr, (size_t)h);
                    out_add(c, c->resp, c->resp_len);
                    c->has_reply = false;
                }
                atomic_fetch_add_explicit(&c->msgs, 1, memory_order_release);
            }
            continue;
        }
        char *start = c->buf + pos;
        char *nl = memchr(start, '\n', c->len - pos);
        if (!nl)
            break;
        size_t ll = (size_t)(nl - start) + 1;
        if (ll >= 4 && memcmp(start, "MSG ", 4) == 0) {
            /* MSG <subject> <sid> [reply] <#bytes>\r\n */
            char *tok[6];
            int nt = 0;
            char *p = start + 4, *end = nl - 1; /* at '\r' */
            while (p < end && nt < 6) {
                while (p < end && *p == ' ')
                    p++;
                if (p >= end)
                    break;
                tok[nt++] = p;
                while (p < end && *p != ' ')
                    p++;
            }
            if (nt < 3)
                die("bad MSG line: %.80s", start);
            size_t n = strtoull(tok[nt - 1], NULL, 10);
            if (c->inspect) { /* the payload is tiny (a PubAck): wait until it is all here */
                if (n + 2 > RBUF / 2)
                    die("%s", "reply too large");
                if (c->len - pos < ll + n + 2)
                    break;
                const char *pl = nl + 1;
                if (memmem(pl, n, "\"error\"", 7)) {
                    if (!atomic_load(&c->errors))
                        snprintf(c->last_err, sizeof c->last_err, "%.*s", (int)(n < 190 ? n : 190), pl);
                    atomic_fetch_add_explicit(&c->errors, 1, memory_order_relaxed);
                }
                pos += ll + n + 2;
                atomic_fetch_add_explicit(&c->msgs, 1, memory_order_release);
                continue;
            }
            if (c->lat_ns) { /* the payload starts with 16 hex digits: its scheduled send time */
                if (c->len - pos < ll + 16)
                    break;
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
                char hex[17];
                memcpy(hex, nl + 1, 16);
                hex[16] = 0;
                uint64_t sent = strtoull(hex, NULL, 16);
                if (sent >= c->lat_from && c->lat_n < c->lat_cap)
                    c->lat_ns[c->lat_n++] = now > sent ? now - sent : 0;
            }
            if (c->want_reply && nt == 4) {
                size_t rl = (size_t)(strchr(tok[2], ' ') - tok[2]);
                if (rl >= sizeof c->reply)
                    die("%s", "reply subject too long");
                memcpy(c->reply, tok[2], rl);
                c->reply[rl] = 0;
                c->has_reply = true;
            }
            c->skip = n + 2;
        } else if (ll >= 4 && memcmp(start, "PING", 4) == 0) {
            write_all(c->fd, "PONG\r\n", 6);
        } else if (ll >= 4 && memcmp(start, "PONG", 4) == 0) {
            atomic_fetch_add_explicit(&c->pongs, 1, memory_order_release);
        } else if (ll >= 4 && memcmp(start, "-ERR", 4) == 0) {
            die("server error: %.200s", start);
        } else if (ll >= 4 && (memcmp(start, "INFO", 4) == 0 || memcmp(start, "+OK", 3) == 0)) {
            /* ignore */
        } else {
            die("unexpected line: %.80s", start);
        }
        pos += ll;
    }
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
}

/* One blocking read + parse. false on EOF. */
static bool read_some(struct nconn *c) {
    if (c->len == RBUF)
        die("%s", "control line too long");
    ssize_t r = read(c->fd, c->buf + c->len, RBUF - c->len);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return true;
        die("read: %s", strerror(errno));
    }
    if (r == 0)
        return false;
    c->len += (size_t)r;
    parse(c);
    if (c->out_len) {
        write_all(c->fd, c->out, c->out_len);
        c->out_len = 0;
    }
    return true;
}

static struct nconn *nconnect(void) {
    struct nconn *c = calloc(1, sizeof *c);
    c->buf = malloc(RBUF);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        die("cannot resolve %s", host);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0)
        die("connect: %s", strerror(errno));
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"nats_load\"}\r\nPING\r\n";
    write_all(c->fd, hello, strlen(hello));
    double end = now_s() + 10;
    while (atomic_load(&c->pongs) == 0) {
        if (now_s() > end || !read_some(c))
            die("%s", "no PONG after CONNECT");
    }
    return c;
}

/* PING and wait for its PONG (everything before it was processed by the server). */
static void flush_conn(struct nconn *c, double timeout) {
    uint64_t want = atomic_load(&c->pongs) + 1;
    write_all(c->fd, "PING\r\n", 6);
    double end = now_s() + timeout;
    while (atomic_load(&c->pongs) < want) {
        if (now_s() > end || !read_some(c))
            die("%s", "no PONG for a flush");
    }
}

static void *reader_main(void *arg) {
    struct nconn *c = arg;
    while (read_some(c)) {
    }
    return NULL;
}

/* Wait until a reader thread saw a PONG (the subscription is in place). */
static void sub_ready(struct nconn *c) {
    uint64_t want = atomic_load(&c->pongs) + 1;
    write_all(c->fd, "PING\r\n", 6);
    double end = now_s() + 10;
    while (atomic_load(&c->pongs) < want) {
        if (now_s() > end)
            die("%s", "subscription not confirmed");
        usleep(100);
    }
}

static uint64_t proc_ticks(void) {
    if (!server_pid)
        return 0;
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long ut = 0, st = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

static long rss_kb(void) {
    if (!server_pid)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

/* A buffer of k back-to-back "PUB <subj> [reply] <n>\r\n<payload>\r\n". */
static char *build_pubs(const char *subj, size_t k, size_t *len_out, size_t *wire) {
    char hdr[128];
    int h = snprintf(hdr, sizeof hdr, "PUB %s %zu\r\n", subj, msg_size);
    *wire = (size_t)h + msg_size + 2;
    char *b = malloc(*wire * k);
    for (size_t i = 0; i < k; i++) {
        char *m = b + i * *wire;
        memcpy(m, hdr, (size_t)h);
        for (size_t j = 0; j < msg_size; j++)
            m[h + j] = (char)('a' + (i + j) % 26);
        memcpy(m + h + msg_size, "\r\n", 2);
    }
    *len_out = *wire * k;
    return b;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(uint64_t msgs, double el, uint64_t t0, uint64_t t1, const char *extra) {
    double cpu = server_pid ? (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / el * 100.0 : -1;
    printf("mode=%s size=%zu msgs=%" PRIu64 " secs=%.3f msgs_s=%.0f mb_s=%.1f cpu_pct=%.1f rss_kb=%ld%s\n",
           mode, msg_size, msgs, el, (double)msgs / el, (double)msgs * (double)msg_size / el / 1e6,
           cpu, rss_kb(), extra ? extra : "");
}

static void run_pub(void) {
    struct nconn *p = nconnect();
    size_t wire, len;
    size_t k = (256u << 10) / (msg_size + 32) + 1;
    char *batch = build_pubs("bench.pub", k, &len, &wire);
    uint64_t sent = 0;
    uint64_t c0 = proc_ticks();
    double t0 = now_s(), end = t0 + seconds;
    while (sent < max_msgs && now_s() < end) {
        write_all(p->fd, batch, len);
        sent += k;
    }
    flush_conn(p, 60);
    double el = now_s() - t0;
    report(sent, el, c0, proc_ticks(), NULL);
}

static uint64_t received_all(struct nconn **subs, int n) {
    uint64_t r = 0;
    for (int i = 0; i < n; i++)
        r += atomic_load_explicit(&subs[i]->msgs, memory_order_acquire);
    return r;
}

static void run_fanout(int nsubs, const char *queue) {
    struct nconn **subs = calloc((size_t)nsubs, sizeof *subs);
    pthread_t *th = calloc((size_t)nsubs, sizeof *th);
    for (int i = 0; i < nsubs; i++) {
        subs[i] = nconnect();
        char s[128];
        int n = snprintf(s, sizeof s, "SUB bench.fan %s %d\r\n", queue ? queue : "", i + 1);
        write_all(subs[i]->fd, s, (size_t)n);
        pthread_create(&th[i], NULL, reader_main, subs[i]);
        sub_ready(subs[i]);
    }
    struct nconn *p = nconnect();
    size_t wire, len;
    size_t k = (256u << 10) / (msg_size + 32) + 1;
    char *batch = build_pubs("bench.fan", k, &len, &wire);
    uint64_t win_msgs = window_bytes / wire;
    if (win_msgs < k)
        win_msgs = k;
    /* Without a queue group every subscriber gets every message: the window is per subscriber. */
    uint64_t copies = queue ? 1 : (uint64_t)nsubs;
    uint64_t sent = 0;
    uint64_t c0 = proc_ticks();
    double t0 = now_s(), end = t0 + seconds;
    while (sent < max_msgs && now_s() < end) {
        /* The window holds at least one batch for every subscriber, but never more than
         * --window bytes in all when one batch fits: 1,000 subscribers would otherwise let
         * gigabytes pile up in socket buffers. */
        while ((sent + k) * copies - received_all(subs, nsubs) > (win_msgs > k * copies ? win_msgs : k * copies)) {
            if (now_s() > end + 10)
                die("%s", "subscribers stopped receiving");
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        write_all(p->fd, batch, len);
        sent += k;
    }
    double drain_end = now_s() + 20;
    while (received_all(subs, nsubs) < sent * copies) {
        if (now_s() > drain_end) {
            fprintf(stderr, "nats_load: received %" PRIu64 " of %" PRIu64 "\n", received_all(subs, nsubs),
                    sent * copies);
            die("%s", "messages lost");
        }
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    double el = now_s() - t0;
    uint64_t c1 = proc_ticks();
    char extra[128] = "";
    if (queue)
        snprintf(extra, sizeof extra, " sub1=%" PRIu64 " sub2=%" PRIu64, atomic_load(&subs[0]->msgs),
                 atomic_load(&subs[1]->msgs));
    else
        snprintf(extra, sizeof extra, " subs=%d", nsubs);
    uint64_t got = received_all(subs, nsubs);
    report(got, el, c0, c1, extra);
    if (got != sent * copies)
        die("%s", "more messages received than published");
}

static void run_lat(void) {
    if (msg_size < 16)
        msg_size = 16; /* room for the send time */
    struct nconn *s = nconnect();
    s->lat_cap = (size_t)(rate_opt * seconds) + 1024;
    s->lat_ns = malloc(s->lat_cap * sizeof *s->lat_ns);
    if (!s->lat_ns)
        die("%s", "out of memory");
    write_all(s->fd, "SUB bench.lat 1\r\n", 17);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, s);
    sub_ready(s);
    struct nconn *p = nconnect();
    size_t wire, len;
    size_t k = 4096;
    char *batch = build_pubs("bench.lat", k, &len, &wire);
    size_t hdr = wire - msg_size - 2;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t total = (uint64_t)(rate_opt * seconds), sent = 0;
    double ns_per = 1e9 / rate_opt;
    s->lat_from = t0 + 250000000ull;
    uint64_t c0 = proc_ticks();
    double wall0 = now_s();
    /* Send every message whose scheduled time has come, stamped with that time, in one write. */
    while (sent < total) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        uint64_t due = (uint64_t)((double)(now - t0) / ns_per) + 1;
        if (due > total)
            due = total;
        if (due <= sent) {
            uint64_t next = t0 + (uint64_t)((double)sent * ns_per);
            struct timespec sl = {0, (long)(next > now ? next - now : 0)};
            if (sl.tv_nsec > 50000)
                sl.tv_nsec = 50000;
            nanosleep(&sl, NULL);
            continue;
        }
        size_t n = (size_t)(due - sent) < k ? (size_t)(due - sent) : k;
        for (size_t i = 0; i < n; i++) {
            char hex[17];
            snprintf(hex, sizeof hex, "%016" PRIx64, t0 + (uint64_t)((double)(sent + i) * ns_per));
            memcpy(batch + i * wire + hdr, hex, 16);
        }
        write_all(p->fd, batch, n * wire);
        sent += n;
    }
    double drain_end = now_s() + 5;
    while (atomic_load(&s->msgs) < sent && now_s() < drain_end) {
        struct timespec sl = {0, 200000};
        nanosleep(&sl, NULL);
    }
    double el = now_s() - wall0;
    uint64_t c1 = proc_ticks();
    uint64_t got = atomic_load(&s->msgs);
    size_t n = s->lat_n; /* the reader may still append: read the count once */
    qsort(s->lat_ns, n, sizeof *s->lat_ns, cmp_u64);
    char extra[256];
    if (n == 0)
        snprintf(extra, sizeof extra, " rate=%.0f lost=%" PRIu64 " samples=0", rate_opt, sent - got);
    else
        snprintf(extra, sizeof extra,
                 " rate=%.0f lost=%" PRIu64 " samples=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
                 rate_opt, sent - got, n, s->lat_ns[n / 2] / 1e3, s->lat_ns[(size_t)((double)n * 0.99)] / 1e3,
                 s->lat_ns[(size_t)((double)n * 0.999)] / 1e3, s->lat_ns[n - 1] / 1e3);
    report(got, el, c0, c1, extra);
}

static void run_reqrep(void) {
    struct nconn *r = nconnect();
    r->want_reply = true;
    char *resp = malloc(msg_size + 2);
    memset(resp, 'r', msg_size);
    memcpy(resp + msg_size, "\r\n", 2);
    r->resp = resp;
    r->resp_len = msg_size + 2;
    write_all(r->fd, "SUB bench.req 1\r\n", 17);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, r);
    sub_ready(r);

    struct nconn *q = nconnect();
    write_all(q->fd, "SUB _INBOX.bench.* 1\r\n", 22);
    flush_conn(q, 10);
    size_t wire, len;
    char *one = build_pubs("bench.req _INBOX.bench.x", 1, &len, &wire);
    size_t cap = 1u << 22, n = 0;
    uint64_t *rtt = malloc(cap * sizeof *rtt);
    uint64_t c0 = proc_ticks();
    double t0 = now_s(), end = t0 + seconds;
    while (n < cap && n < max_msgs && now_s() < end) {
        uint64_t want = atomic_load(&q->msgs) + 1;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        write_all(q->fd, one, len);
        double dl = now_s() + 5;
        while (atomic_load(&q->msgs) < want) {
            if (now_s() > dl || !read_some(q))
                die("%s", "no reply within 5 s");
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        rtt[n++] = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)(b.tv_nsec - a.tv_nsec);
    }
    double el = now_s() - t0;
    uint64_t c1 = proc_ticks();
    qsort(rtt, n, sizeof *rtt, cmp_u64);
    char extra[160];
    snprintf(extra, sizeof extra, " p50_us=%.1f p99_us=%.1f p999_us=%.1f", rtt[n / 2] / 1e3,
             rtt[(size_t)((double)n * 0.99)] / 1e3, rtt[(size_t)((double)n * 0.999)] / 1e3);
    report(n, el, c0, c1, extra);
}

/* One request on the API, its reply payload must not carry an error unless allow_err. */
static void js_request(struct nconn *c, const char *subj, const char *body, bool allow_err) {
    char hdr[256];
    int h = snprintf(hdr, sizeof hdr, "PUB %s _INBOX.jsb.api %zu\r\n", subj, strlen(body));
    uint64_t want = atomic_load(&c->msgs) + 1, errs = atomic_load(&c->errors);
    write_all(c->fd, hdr, (size_t)h);
    write_all(c->fd, body, strlen(body));
    write_all(c->fd, "\r\n", 2);
    double end = now_s() + 10;
    while (atomic_load(&c->msgs) < want) {
        if (now_s() > end || !read_some(c))
            die("no reply to %s", subj);
    }
    if (!allow_err && atomic_load(&c->errors) != errs)
        die("API error: %s", c->last_err);
    atomic_store(&c->errors, errs);
}

static void run_jspub(void) {
    struct nconn *c = nconnect();
    c->inspect = true;
    write_all(c->fd, "SUB _INBOX.jsb.* 1\r\n", 20);
    flush_conn(c, 10);
    js_request(c, "$JS.API.STREAM.DELETE.BENCH", "", true);
    js_request(c, "$JS.API.STREAM.CREATE.BENCH",
               "{\"name\":\"BENCH\",\"subjects\":[\"BENCH.*\"],\"retention\":\"workqueue\","
               "\"max_age\":86400000000000,\"storage\":\"file\",\"num_replicas\":1}", false);
    size_t wire, len;
    char *batch = build_pubs("BENCH.pub _INBOX.jsb.ack", js_pending, &len, &wire);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, c);
    uint64_t base = atomic_load(&c->msgs), sent = 0;
#define ACKED() (atomic_load_explicit(&c->msgs, memory_order_acquire) - base)
    uint64_t c0 = proc_ticks();
    double t0 = now_s(), end = t0 + seconds;
    /* Refill the window as soon as a slot is free, all free slots in one write, as nats.go's
     * PublishAsync unblocks on each PubAck and its flusher coalesces what was published. */
    while (sent < max_msgs && now_s() < end) {
        uint64_t free_slots = js_pending - (sent - ACKED());
        if (free_slots == 0) {
            struct timespec ts = {0, 2000};
            nanosleep(&ts, NULL);
            continue;
        }
        write_all(c->fd, batch, free_slots * wire);
        sent += free_slots;
    }
    double drain_end = now_s() + 20;
    while (ACKED() < sent) {
        if (now_s() > drain_end)
            die("%s", "PubAcks missing");
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    double el = now_s() - t0;
    uint64_t c1 = proc_ticks();
    if (atomic_load(&c->errors))
        die("PubAck error: %s", c->last_err);
    char extra[64];
    snprintf(extra, sizeof extra, " pending=%" PRIu64, js_pending);
    report(ACKED(), el, c0, c1, extra);
#undef ACKED
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("missing value for %s", a);
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--mode"))
            mode = v;
        else if (!strcmp(a, "--size"))
            msg_size = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--max-msgs"))
            max_msgs = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--window"))
            window_bytes = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--pending"))
            js_pending = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--subs"))
            nsubs_opt = atoi(v);
        else if (!strcmp(a, "--rate"))
            rate_opt = atof(v);
        else if (!strcmp(a, "--pid"))
            server_pid = atoi(v);
        else
            die("unknown option %s", a);
    }
    if (!port)
        die("%s", "--port is required");
    alarm((unsigned)(seconds + 60)); /* bounded whatever happens */
    if (!strcmp(mode, "pub"))
        run_pub();
    else if (!strcmp(mode, "pubsub"))
        run_fanout(nsubs_opt > 0 ? nsubs_opt : 1, NULL);
    else if (!strcmp(mode, "queue"))
        run_fanout(2, "q");
    else if (!strcmp(mode, "reqrep"))
        run_reqrep();
    else if (!strcmp(mode, "lat"))
        run_lat();
    else if (!strcmp(mode, "jspub"))
        run_jspub();
    else
        die("unknown mode %s", mode);
    fflush(stdout);
    _exit(0);
}
