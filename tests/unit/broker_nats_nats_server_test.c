/* broker_nats_nats_server_test.c: broker/nats/nats_server.c with in-process subscribers and
 * publishers, driven through the real server on a real loop with real socket clients on
 * loopback. An in-process subscriber must see exactly what a socket subscriber on the same
 * subject sees (subject, reply, header block, payload: it re-encodes them as the MSG/HMSG a
 * headers:true client receives, and the two byte streams must be equal), for wildcard subjects,
 * headers, reply subjects and empty payloads; queue groups mix both kinds; nats_server_publish
 * produces the same bytes on a socket as a client PUB/HPUB; publishes and unsubscribes made from
 * inside a delivery are safe (a request/reply service, a self-removing subscriber). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/loop.h"
#include "broker/config.h"
#include "broker/nats/nats_server.h"
#include "broker/nats/sublist.h"

/* ---- a growable byte buffer ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_adds(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_clear(struct buf *b) {
    b->len = 0;
    if (b->p) b->p[0] = 0;
}

static void buf_free(struct buf *b) {
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- the server under test ---- */

struct world {
    struct sl_config cfg;
    struct loop loop;
    struct nats_server ns;
};

static struct world *world_new(void) {
    struct world *w = calloc(1, sizeof(*w));
    sl_config_defaults(&w->cfg);
    snprintf(w->cfg.host, sizeof(w->cfg.host), "127.0.0.1");
    w->cfg.nats_port = 0;
    int rc = loop_init(&w->loop, 256);
    if (rc != 0) {
        fprintf(stderr, "SKIP: io_uring unavailable (%s)\n", strerror(-rc));
        exit(77);
    }
    ck_assert_int_eq(nats_server_start(&w->ns, &w->cfg, &w->loop), 0);
    return w;
}

static void world_free(struct world *w) {
    nats_server_stop(&w->ns);
    loop_close(&w->loop);
    free(w);
}

/* ---- a raw socket client, read without blocking between loop turns ---- */

struct client {
    struct world *w;
    int fd;
    struct buf in;
    size_t want; /* read until in.len >= want */
};

static bool client_done(void *arg) {
    struct client *c = arg;
    char tmp[65536];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0) {
            buf_add(&c->in, tmp, (size_t)n);
            continue;
        }
        break;
    }
    return c->in.len >= c->want;
}

static void client_send(struct client *c, const void *p, size_t n) {
    ck_assert_int_eq(send(c->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void client_sends(struct client *c, const char *s) { client_send(c, s, strlen(s)); }

/* Turns the loop until the client has read at least `total` bytes since it connected. */
static void client_wait_len(struct client *c, size_t total) {
    c->want = total;
    ck_assert_msg(loop_run_until(&c->w->loop, client_done, c, 5000), "client: %zu of %zu bytes: [%s]", c->in.len,
                  total, c->in.p ? c->in.p : "");
}

/* Sends PING and turns the loop until the PONG answering it arrives: everything the server
 * owed the client before it is then in c->in. */
static void client_sync(struct client *c) {
    size_t pongs = 0;
    for (const char *p = c->in.p; p && (p = strstr(p, "PONG\r\n")); p += 6) pongs++;
    client_sends(c, "PING\r\n");
    for (int i = 0; i < 200; i++) {
        size_t now = 0;
        for (const char *p = c->in.p; p && (p = strstr(p, "PONG\r\n")); p += 6) now++;
        if (now > pongs) return;
        client_wait_len(c, c->in.len + 1);
    }
    ck_abort_msg("no PONG");
}

/* Connects, reads INFO, sends connect_json, syncs, and forgets what was read so far. */
static struct client *client_new(struct world *w, const char *connect_line) {
    struct client *c = calloc(1, sizeof(*c));
    c->w = w;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(c->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(w->ns.ls.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    client_wait_len(c, 1);
    while (!strstr(c->in.p, "\r\n")) client_wait_len(c, c->in.len + 1);
    ck_assert(strncmp(c->in.p, "INFO {", 6) == 0);
    client_sends(c, connect_line);
    client_sync(c);
    buf_clear(&c->in);
    c->in.p[0] = 0;
    return c;
}

static void client_free(struct client *c) {
    close(c->fd);
    buf_free(&c->in);
    free(c);
}

/* Drops the PONGs client_sync left in the stream, and the server's own keep-alive PINGs. */
static void strip_pongs(struct buf *b) {
    char *r = b->p, *wr = b->p, *end = b->p + b->len;
    while (r < end) {
        if ((size_t)(end - r) >= 6 && (memcmp(r, "PONG\r\n", 6) == 0 || memcmp(r, "PING\r\n", 6) == 0) &&
            (r == b->p || (r[-1] == '\n' && r[-2] == '\r'))) {
            r += 6;
            continue;
        }
        *wr++ = *r++;
    }
    b->len = (size_t)(wr - b->p);
    if (b->p) b->p[b->len] = 0;
}

#define HDRS "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n"
#define PLAIN "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"

/* ---- an in-process subscriber that writes what it gets as a headers:true client would ---- */

struct isub {
    const char *sid;
    struct buf out;
    uint32_t count;
    struct nats_server *ns;
    struct nsub *self;
    uint32_t unsubscribe_after; /* 0: never */
};

static void span_add(struct buf *b, struct span s) { buf_add(b, s.p, s.len); }

static void isub_deliver(struct sub *s, const struct nats_msg *m) {
    struct isub *is = s->owner;
    char num[64];
    buf_adds(&is->out, m->hdr.len ? "HMSG " : "MSG ");
    span_add(&is->out, m->subject);
    buf_adds(&is->out, " ");
    buf_adds(&is->out, is->sid);
    buf_adds(&is->out, " ");
    if (m->reply.len) {
        span_add(&is->out, m->reply);
        buf_adds(&is->out, " ");
    }
    if (m->hdr.len) {
        snprintf(num, sizeof(num), "%u ", m->hdr.len);
        buf_adds(&is->out, num);
    }
    snprintf(num, sizeof(num), "%u\r\n", m->hdr.len + m->payload.len);
    buf_adds(&is->out, num);
    span_add(&is->out, m->hdr);
    span_add(&is->out, m->payload);
    buf_adds(&is->out, "\r\n");
    is->count++;
    if (is->unsubscribe_after && is->count == is->unsubscribe_after) {
        nats_server_unsubscribe_internal(is->ns, is->self);
        is->self = NULL;
    }
}

static const struct nats_deliver_ops isub_ops = {isub_deliver};

/* The publishes every comparison uses: wildcards, reply subjects, headers, empty bodies. */
static const char *const pubs[] = {
    "PUB w.a.x 5\r\nhello\r\n",
    "PUB w.b.x rep.ly.1 3\r\nabc\r\n",
    "PUB w.c 0\r\n\r\n",
    "HPUB w.d.x 24 29\r\nNATS/1.0\r\nK: v\r\nK: w\r\n\r\nbody!\r\n",
    "HPUB w.e.x _INBOX.r 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
    "PUB w.*.x 1\r\n*\r\n",
    "PUB w.f.g.h 4\r\n\x01\x02\r\n\r\n",
    "PUB other 2\r\nno\r\n",
};

/* The same publishes through nats_server_publish (control lines parsed by hand). */
static void publish_internal(struct nats_server *ns, const char *line) {
    char ctl[256], verb[8], a[64], b[64], c[16], d[16];
    const char *body = strstr(line, "\r\n") + 2;
    snprintf(ctl, sizeof(ctl), "%.*s", (int)(body - 2 - line), line);
    int n = sscanf(ctl, "%7s %63s %63s %15s %15s", verb, a, b, c, d);
    struct span subj = {(const uint8_t *)a, (uint32_t)strlen(a)}, reply = {0}, hdr = {0}, pay = {0};
    uint32_t hdr_len = 0, total;
    bool h = strcmp(verb, "HPUB") == 0;
    int args = n - 1;
    if (!h) {
        if (args == 3) reply = (struct span){(const uint8_t *)b, (uint32_t)strlen(b)};
        total = (uint32_t)atoi(args == 3 ? c : b);
    } else {
        if (args == 4) reply = (struct span){(const uint8_t *)b, (uint32_t)strlen(b)};
        hdr_len = (uint32_t)atoi(args == 4 ? c : b);
        total = (uint32_t)atoi(args == 4 ? d : c);
    }
    hdr = (struct span){(const uint8_t *)body, hdr_len};
    pay = (struct span){(const uint8_t *)body + hdr_len, total - hdr_len};
    ck_assert_int_eq(nats_server_publish(ns, subj, reply, hdr, pay), 0);
}

#define NPUBS (sizeof(pubs) / sizeof(pubs[0]))

static const char *const patterns[] = {"w.*.x", "w.>", ">", "w.d.x", "*.*.x"};
#define NPATS (sizeof(patterns) / sizeof(patterns[0]))

START_TEST(test_internal_sees_what_a_socket_sees) {
    struct world *w = world_new();
    struct client *sock[NPATS];
    struct isub is[NPATS];
    char sids[NPATS][8];
    memset(is, 0, sizeof(is));
    for (size_t i = 0; i < NPATS; i++) {
        snprintf(sids[i], sizeof(sids[i]), "%zu", i + 1);
        sock[i] = client_new(w, HDRS);
        char line[128];
        snprintf(line, sizeof(line), "SUB %s %s\r\n", patterns[i], sids[i]);
        client_sends(sock[i], line);
        client_sync(sock[i]);
        is[i].sid = sids[i];
        is[i].self = nats_server_subscribe_internal(&w->ns, patterns[i], NULL, &isub_ops, &is[i]);
        ck_assert_ptr_nonnull(is[i].self);
    }
    struct client *pub = client_new(w, HDRS);
    for (size_t k = 0; k < NPUBS; k++) client_sends(pub, pubs[k]);
    client_sync(pub);
    ck_assert_uint_eq(pub->in.len, 6); /* the PONG alone */
    for (size_t i = 0; i < NPATS; i++) {
        client_sync(sock[i]);
        strip_pongs(&sock[i]->in);
        ck_assert_msg(is[i].count > 0, "pattern %s matched nothing", patterns[i]);
        ck_assert_msg(sock[i]->in.len == is[i].out.len && memcmp(sock[i]->in.p, is[i].out.p, is[i].out.len) == 0,
                      "pattern %s: socket [%s] != in-process [%s]", patterns[i], sock[i]->in.p, is[i].out.p);
    }
    /* Spot checks that the comparison compares something real. */
    ck_assert_str_eq(is[3].out.p, "HMSG w.d.x 4 24 29\r\nNATS/1.0\r\nK: v\r\nK: w\r\n\r\nbody!\r\n");
    ck_assert_uint_eq(is[2].count, NPUBS);

    /* nats_server_publish: the sockets get the same bytes again, the in-process subs too. */
    for (size_t i = 0; i < NPATS; i++) {
        buf_clear(&sock[i]->in);
        buf_clear(&is[i].out);
        is[i].count = 0;
    }
    for (size_t k = 0; k < NPUBS; k++) publish_internal(&w->ns, pubs[k]);
    for (size_t i = 0; i < NPATS; i++) {
        client_sync(sock[i]);
        strip_pongs(&sock[i]->in);
        ck_assert_msg(sock[i]->in.len == is[i].out.len && memcmp(sock[i]->in.p, is[i].out.p, is[i].out.len) == 0,
                      "internal publish, pattern %s: socket [%s] != in-process [%s]", patterns[i], sock[i]->in.p,
                      is[i].out.p);
    }
    ck_assert_str_eq(is[3].out.p, "HMSG w.d.x 4 24 29\r\nNATS/1.0\r\nK: v\r\nK: w\r\n\r\nbody!\r\n");

    /* A headers:false client gets the body alone of an in-process HPUB, as of a client's. */
    struct client *plain = client_new(w, PLAIN);
    client_sends(plain, "SUB w.d.x 9\r\n");
    client_sync(plain);
    buf_clear(&plain->in);
    publish_internal(&w->ns, pubs[3]);
    client_sync(plain);
    strip_pongs(&plain->in);
    ck_assert_str_eq(plain->in.p, "MSG w.d.x 9 5\r\nbody!\r\n");

    for (size_t i = 0; i < NPATS; i++) {
        nats_server_unsubscribe_internal(&w->ns, is[i].self);
        buf_free(&is[i].out);
        client_free(sock[i]);
    }
    client_free(plain);
    client_free(pub);
    world_free(w);
}
END_TEST

START_TEST(test_queue_group_mixes_kinds) {
    struct world *w = world_new();
    struct client *member = client_new(w, PLAIN);
    client_sends(member, "SUB q.t grp 7\r\n");
    client_sync(member);
    buf_clear(&member->in);
    struct isub is = {.sid = "7"};
    struct nsub *s = nats_server_subscribe_internal(&w->ns, "q.*", "grp", &isub_ops, &is);
    ck_assert_ptr_nonnull(s);
    struct isub plain = {.sid = "8"}; /* a plain subscriber sees every message */
    struct nsub *ps = nats_server_subscribe_internal(&w->ns, "q.t", NULL, &isub_ops, &plain);
    struct client *pub = client_new(w, PLAIN);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char line[64];
        snprintf(line, sizeof(line), "PUB q.t 3\r\nm%02d\r\n", i);
        client_sends(pub, line);
    }
    client_sync(pub);
    client_sync(member);
    strip_pongs(&member->in);
    ck_assert_uint_eq(plain.count, N);
    /* Each message went to exactly one member: merge the two streams by message number. */
    uint32_t sock_count = 0;
    for (const char *p = member->in.p; p && (p = strstr(p, "MSG q.t 7 3\r\nm")); p += 14) sock_count++;
    ck_assert_uint_eq(sock_count + is.count, N);
    ck_assert_uint_gt(sock_count, 0);
    ck_assert_uint_gt(is.count, 0);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof(want), "MSG q.t 7 3\r\nm%02d\r\n", i);
        bool in_sock = strstr(member->in.p, want) != NULL, in_proc = strstr(is.out.p, want) != NULL;
        ck_assert_msg(in_sock != in_proc, "message %d: socket %d in-process %d", i, in_sock, in_proc);
    }
    /* The in-process member leaves: the socket member gets everything. */
    nats_server_unsubscribe_internal(&w->ns, s);
    buf_clear(&member->in);
    client_sends(pub, "PUB q.t 3\r\nabc\r\nPUB q.t 3\r\ndef\r\n");
    client_sync(pub);
    client_sync(member);
    strip_pongs(&member->in);
    ck_assert_str_eq(member->in.p, "MSG q.t 7 3\r\nabc\r\nMSG q.t 7 3\r\ndef\r\n");
    nats_server_unsubscribe_internal(&w->ns, ps);
    buf_free(&is.out);
    buf_free(&plain.out);
    client_free(member);
    client_free(pub);
    world_free(w);
}
END_TEST

/* A service: replies to each request from inside its delivery, and counts. */
struct service {
    struct nats_server *ns;
    uint32_t requests;
};

static void service_deliver(struct sub *s, const struct nats_msg *m) {
    struct service *sv = s->owner;
    sv->requests++;
    char up[64];
    ck_assert_uint_lt(m->payload.len, sizeof(up));
    for (uint32_t i = 0; i < m->payload.len; i++) {
        char c = (char)m->payload.p[i];
        up[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    static const char hdr[] = "NATS/1.0\r\nSvc: up\r\n\r\n";
    ck_assert_int_eq(nats_server_publish(sv->ns, m->reply, (struct span){0},
                                         (struct span){(const uint8_t *)hdr, sizeof(hdr) - 1},
                                         (struct span){(const uint8_t *)up, m->payload.len}),
                     0);
}

static const struct nats_deliver_ops service_ops = {service_deliver};

START_TEST(test_reply_and_unsubscribe_from_inside_delivery) {
    struct world *w = world_new();
    struct service sv = {.ns = &w->ns};
    struct nsub *svc = nats_server_subscribe_internal(&w->ns, "svc.upper", "workers", &service_ops, &sv);
    ck_assert_ptr_nonnull(svc);
    /* Also listening on the inboxes in-process: sees the reply the service published. */
    struct isub spy = {.sid = "s"};
    struct nsub *spy_sub = nats_server_subscribe_internal(&w->ns, "_INBOX.>", NULL, &isub_ops, &spy);
    struct client *c = client_new(w, HDRS);
    client_sends(c, "SUB _INBOX.me.* 1\r\nPUB svc.upper _INBOX.me.1 5\r\nhello\r\n"
                    "PUB svc.upper _INBOX.me.2 3\r\nabc\r\n");
    client_sync(c);
    strip_pongs(&c->in);
    ck_assert_str_eq(c->in.p, "HMSG _INBOX.me.1 1 21 26\r\nNATS/1.0\r\nSvc: up\r\n\r\nHELLO\r\n"
                              "HMSG _INBOX.me.2 1 21 24\r\nNATS/1.0\r\nSvc: up\r\n\r\nABC\r\n");
    ck_assert_str_eq(spy.out.p, "HMSG _INBOX.me.1 s 21 26\r\nNATS/1.0\r\nSvc: up\r\n\r\nHELLO\r\n"
                                "HMSG _INBOX.me.2 s 21 24\r\nNATS/1.0\r\nSvc: up\r\n\r\nABC\r\n");
    ck_assert_uint_eq(sv.requests, 2);

    /* A subscriber that unsubscribes itself from inside its first delivery gets exactly one. */
    struct isub once = {.sid = "o", .ns = &w->ns, .unsubscribe_after = 1};
    once.self = nats_server_subscribe_internal(&w->ns, "once.>", NULL, &isub_ops, &once);
    struct isub other = {.sid = "x"};
    struct nsub *other_sub = nats_server_subscribe_internal(&w->ns, "once.a", NULL, &isub_ops, &other);
    buf_clear(&c->in);
    client_sends(c, "PUB once.a 1\r\n1\r\nPUB once.a 1\r\n2\r\nPUB once.a 1\r\n3\r\n");
    client_sync(c);
    ck_assert_ptr_null(once.self);
    ck_assert_str_eq(once.out.p, "MSG once.a o 1\r\n1\r\n");
    ck_assert_uint_eq(other.count, 3);
    /* An invalid subscription subject is refused. */
    ck_assert_ptr_null(nats_server_subscribe_internal(&w->ns, "a..b", NULL, &isub_ops, &other));
    ck_assert_ptr_null(nats_server_subscribe_internal(&w->ns, "a.>.b", NULL, &isub_ops, &other));
    ck_assert_int_eq(nats_server_publish(&w->ns, (struct span){0}, (struct span){0}, (struct span){0},
                                         (struct span){0}),
                     -1);

    nats_server_unsubscribe_internal(&w->ns, svc);
    nats_server_unsubscribe_internal(&w->ns, spy_sub);
    nats_server_unsubscribe_internal(&w->ns, other_sub);
    buf_free(&spy.out);
    buf_free(&once.out);
    buf_free(&other.out);
    client_free(c);
    world_free(w);
}
END_TEST

START_TEST(test_verbose_ok_before_own_msg) {
    struct world *w = world_new();
    struct client *c = client_new(w, "CONNECT {\"verbose\":true,\"echo\":true,\"pedantic\":false}\r\n");
    strip_pongs(&c->in);
    buf_clear(&c->in);
    client_sends(c, "SUB foo 1\r\nPUB foo 2\r\nhi\r\n");
    client_wait_len(c, 10 + 17);
    ck_assert_str_eq(c->in.p, "+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n");
    client_free(c);
    world_free(w);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/nats/nats_server");
    TCase *tc = tcase_create("internal");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_internal_sees_what_a_socket_sees);
    tcase_add_test(tc, test_queue_group_mixes_kinds);
    tcase_add_test(tc, test_reply_and_unsubscribe_from_inside_delivery);
    tcase_add_test(tc, test_verbose_ok_before_own_msg);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
