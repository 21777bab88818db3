/* broker_group_test.c: broker/group.c, the consumer-group state machine, driven with a stepped
 * clock: every state transition, every error code, parked JoinGroup/SyncGroup answers, static
 * membership, the commit gate, cooperative-sticky's two rounds, and the registry. Nothing
 * sleeps: time moves only when a test says so. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "broker/kafka/group.h"
#include "protocol/kbuf.h"

#define MAXM 8

/* One parked-or-immediate answer, copied out of the callback. */
struct reply {
    int fires;
    sl_err error;
    int32_t generation;
    char member_id[160], leader[160], ptype[32], pname[64];
    int32_t member_count;
    char mids[MAXM][160];
    uint8_t meta[MAXM][64];
    uint32_t meta_len[MAXM];
    uint8_t assign[64];
    uint32_t assign_len;
};

/* A test client: its identity, what it sends, and the last answers it got. */
struct cli {
    char id[160]; /* member id once known */
    const char *instance;
    const char *client_id;
    int16_t version;
    int32_t gen;
    int32_t session_ms, rebalance_ms;
    uint8_t meta[32];
    uint32_t meta_len;
    struct group_protocol protos[3];
    int32_t nprotos;
    const char *ptype;
    struct reply join, sync;
};

static void copy_str(char *dst, size_t cap, const char *s) { snprintf(dst, cap, "%s", s ? s : "(null)"); }

static void on_join(void *arg, void *reply, const struct group_join_result *res) {
    (void)arg;
    struct reply *r = reply;
    struct cli *c = sl_container_of(r, struct cli, join);
    r->fires++;
    r->error = res->error;
    r->generation = res->generation;
    copy_str(r->member_id, sizeof r->member_id, res->member_id);
    copy_str(r->leader, sizeof r->leader, res->leader_id);
    copy_str(r->ptype, sizeof r->ptype, res->protocol_type);
    copy_str(r->pname, sizeof r->pname, res->protocol_name);
    ck_assert_int_le(res->member_count, MAXM);
    r->member_count = res->member_count;
    for (int32_t i = 0; i < res->member_count; i++) {
        copy_str(r->mids[i], sizeof r->mids[i], res->members[i].member_id);
        ck_assert_uint_le(res->members[i].metadata.len, 64);
        memcpy(r->meta[i], res->members[i].metadata.p, res->members[i].metadata.len);
        r->meta_len[i] = res->members[i].metadata.len;
    }
    if (res->error == SL_OK || res->error == SL_MEMBER_ID_REQUIRED)
        copy_str(c->id, sizeof c->id, res->member_id);
    if (res->error == SL_OK) c->gen = res->generation;
}

static void on_sync(void *arg, void *reply, const struct group_sync_result *res) {
    (void)arg;
    struct reply *r = reply;
    r->fires++;
    r->error = res->error;
    copy_str(r->ptype, sizeof r->ptype, res->protocol_type);
    copy_str(r->pname, sizeof r->pname, res->protocol_name);
    ck_assert_uint_le(res->assignment.len, 64);
    if (res->assignment.len) memcpy(r->assign, res->assignment.p, res->assignment.len);
    r->assign_len = res->assignment.len;
}

static const struct group_ops ops = {on_join, on_sync, NULL};

static struct group *mk(uint32_t initial_delay_ms) {
    struct group_config cfg;
    group_config_defaults(&cfg);
    cfg.initial_rebalance_delay_ms = initial_delay_ms;
    return group_create("g", &cfg, &ops, 42);
}

/* Metadata with a zero byte and the client's name, so byte-exactness shows. */
static void cli_init(struct cli *c, const char *client_id, const char *instance) {
    memset(c, 0, sizeof(*c));
    c->client_id = client_id;
    c->instance = instance;
    c->version = instance ? 5 : 3;
    c->gen = -1;
    c->session_ms = 10000;
    c->rebalance_ms = 30000;
    c->ptype = "consumer";
    c->meta[0] = 0x00;
    c->meta[1] = 0xff;
    c->meta_len = 2 + (uint32_t)snprintf((char *)c->meta + 2, sizeof(c->meta) - 2, "%s", client_id);
    c->protos[0] = (struct group_protocol){"range", {c->meta, c->meta_len}};
    c->nprotos = 1;
}

static void cli_set_meta(struct cli *c, const char *text) {
    c->meta_len = (uint32_t)snprintf((char *)c->meta, sizeof(c->meta), "%s", text);
    c->protos[0].metadata = (struct span){c->meta, c->meta_len};
}

static void cli_join(struct group *g, struct cli *c, uint64_t now) {
    memset(&c->join, 0, sizeof(c->join));
    struct group_join_req req = {
        .version = c->version,
        .member_id = c->id,
        .instance_id = c->instance,
        .client_id = c->client_id,
        .client_host = "/127.0.0.1",
        .protocol_type = c->ptype,
        .session_timeout_ms = c->session_ms,
        .rebalance_timeout_ms = c->rebalance_ms,
        .protocols = c->protos,
        .protocol_count = c->nprotos,
    };
    group_join(g, &req, &c->join, now);
}

static void cli_sync_assign(struct group *g, struct cli *c, const struct group_assignment *a, int32_t n,
                            uint64_t now) {
    memset(&c->sync, 0, sizeof(c->sync));
    struct group_sync_req req = {
        .member_id = c->id,
        .instance_id = c->instance,
        .generation = c->gen,
        .assignments = a,
        .assignment_count = n,
    };
    group_sync(g, &req, &c->sync, now);
}

static void cli_sync(struct group *g, struct cli *c, uint64_t now) { cli_sync_assign(g, c, NULL, 0, now); }

static sl_err cli_hb(struct group *g, struct cli *c, uint64_t now) {
    return group_heartbeat(g, c->id, c->instance, c->gen, now);
}

static sl_err cli_leave(struct group *g, struct cli *c, uint64_t now) {
    struct group_member_ident who = {c->id, NULL};
    sl_err err = SL_ERR_COUNT; /* not set */
    ck_assert_int_eq(group_leave(g, &who, 1, &err, now), SL_OK);
    return err;
}

static struct span str_span(const char *s) { return (struct span){(const uint8_t *)s, (uint32_t)strlen(s)}; }

/* a joins alone (no initial delay) and syncs: Stable, generation 1. */
static struct group *stable_one(struct cli *a, uint64_t now) {
    struct group *g = mk(0);
    cli_join(g, a, now);
    ck_assert_int_eq(a->join.fires, 1);
    struct group_assignment as[] = {{a->id, str_span("A-all")}};
    cli_sync_assign(g, a, as, 1, now);
    ck_assert_int_eq(a->sync.fires, 1);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    return g;
}

/* b joins a's Stable group, a rejoins, both sync: Stable, generation 2. */
static void add_second(struct group *g, struct cli *a, struct cli *b, uint64_t now) {
    cli_join(g, b, now);
    ck_assert_int_eq(cli_hb(g, a, now), SL_REBALANCE_IN_PROGRESS);
    cli_join(g, a, now);
    ck_assert_int_eq(a->join.fires, 1);
    ck_assert_int_eq(b->join.fires, 1);
    cli_sync(g, b, now);
    struct group_assignment as[] = {{a->id, str_span("A-part")}, {b->id, str_span("B-part")}};
    cli_sync_assign(g, a, as, 2, now);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
}

START_TEST(test_single_member_initial_delay) {
    struct group *g = mk(100);
    struct cli a;
    cli_init(&a, "client-a", NULL);
    ck_assert_str_eq(group_state_name(group_state(g)), "Empty");
    cli_join(g, &a, 1000);
    ck_assert_int_eq(a.join.fires, 0); /* parked for the initial delay */
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_uint_eq(group_next_deadline(g), 1100);
    group_tick(g, 1099);
    ck_assert_int_eq(a.join.fires, 0);
    group_tick(g, 1100);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.error, SL_OK);
    ck_assert_int_eq(a.join.generation, 1);
    ck_assert_str_eq(a.join.leader, a.join.member_id);
    ck_assert_str_eq(a.join.pname, "range");
    ck_assert_str_eq(a.join.ptype, "consumer");
    ck_assert_int_eq(a.join.member_count, 1);
    ck_assert_uint_eq(a.join.meta_len[0], a.meta_len);
    ck_assert_mem_eq(a.join.meta[0], a.meta, a.meta_len);
    ck_assert_int_eq(strncmp(a.id, "client-a-", 9), 0);
    ck_assert_int_eq(group_state(g), GROUP_COMPLETING_REBALANCE);
    ck_assert_int_eq(cli_hb(g, &a, 1200), SL_OK);
    struct group_assignment as[] = {{a.id, str_span("A0")}};
    cli_sync_assign(g, &a, as, 1, 1200);
    ck_assert_int_eq(a.sync.fires, 1);
    ck_assert_int_eq(a.sync.error, SL_OK);
    ck_assert_mem_eq(a.sync.assign, "A0", 2);
    ck_assert_str_eq(a.sync.pname, "range");
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    ck_assert_str_eq(group_state_name(group_state(g)), "Stable");
    /* In Stable only the session is left to time out. */
    ck_assert_uint_eq(group_next_deadline(g), 1200 + 10000);
    group_destroy(g);
}
END_TEST

START_TEST(test_initial_delay_extended_and_capped) {
    struct group *g = mk(100);
    struct cli c[4];
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        cli_init(&c[i], names[i], NULL);
        c[i].rebalance_ms = 250;
    }
    cli_join(g, &c[0], 0);   /* delay to 100, 150 of the rebalance timeout left */
    cli_join(g, &c[1], 50);  /* a newcomer: one more step, to 200 */
    group_tick(g, 100);
    ck_assert_int_eq(c[0].join.fires, 0);
    ck_assert_uint_eq(group_next_deadline(g), 200);
    cli_join(g, &c[2], 150); /* another: the last 50 ms, to 250 */
    group_tick(g, 200);
    ck_assert_int_eq(c[0].join.fires, 0);
    ck_assert_uint_eq(group_next_deadline(g), 250);
    cli_join(g, &c[3], 220); /* the rebalance timeout caps it: no further step */
    group_tick(g, 249);
    ck_assert_int_eq(c[0].join.fires, 0);
    group_tick(g, 250);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(c[i].join.fires, 1);
        ck_assert_int_eq(c[i].join.generation, 1);
    }
    ck_assert_int_eq(c[0].join.member_count, 4);
    ck_assert_int_eq(c[1].join.member_count, 0);
    group_destroy(g);
}
END_TEST

START_TEST(test_second_member_rebalances_without_waiting) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = stable_one(&a, 0);
    ck_assert_int_eq(group_generation(g), 1);
    cli_join(g, &b, 10);
    ck_assert_int_eq(b.join.fires, 0);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_int_eq(cli_hb(g, &a, 15), SL_REBALANCE_IN_PROGRESS);
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 1, 15), SL_OK); /* commit on revoke */
    cli_join(g, &a, 20);
    /* Both answers at the same instant as the last rejoin: no timeout involved. */
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 2);
    ck_assert_int_eq(b.join.generation, 2);
    ck_assert_str_eq(a.join.leader, a.id);
    ck_assert_str_eq(b.join.leader, a.id);
    ck_assert_int_eq(a.join.member_count, 2);
    ck_assert_int_eq(b.join.member_count, 0);
    ck_assert_str_eq(a.join.mids[0], a.id); /* join order */
    ck_assert_str_eq(a.join.mids[1], b.id);
    ck_assert_uint_eq(a.join.meta_len[0], a.meta_len);
    ck_assert_mem_eq(a.join.meta[0], a.meta, a.meta_len);
    ck_assert_uint_eq(a.join.meta_len[1], b.meta_len);
    ck_assert_mem_eq(a.join.meta[1], b.meta, b.meta_len);
    ck_assert_int_eq(group_state(g), GROUP_COMPLETING_REBALANCE);

    cli_sync(g, &b, 30); /* the follower parks until the leader's assignment */
    ck_assert_int_eq(b.sync.fires, 0);
    ck_assert_int_eq(cli_hb(g, &b, 35), SL_OK);
    ck_assert_int_eq(group_check_commit(g, b.id, NULL, 2, 35), SL_REBALANCE_IN_PROGRESS);
    struct group_assignment as[] = {{a.id, str_span("a-0")}, {b.id, str_span("b\0-1")}};
    as[1].assignment.len = 4;
    cli_sync_assign(g, &a, as, 2, 40);
    ck_assert_int_eq(a.sync.fires, 1);
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_int_eq(b.sync.error, SL_OK);
    ck_assert_uint_eq(b.sync.assign_len, 4);
    ck_assert_mem_eq(b.sync.assign, "b\0-1", 4);
    ck_assert_mem_eq(a.sync.assign, "a-0", 3);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    /* In Stable a SyncGroup answers at once with the stored assignment. */
    cli_sync(g, &b, 50);
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_mem_eq(b.sync.assign, "b\0-1", 4);
    group_destroy(g);
}
END_TEST

START_TEST(test_unassigned_member_gets_empty_assignment) {
    struct cli a, b, c;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &c, 0);
    cli_join(g, &a, 1);
    cli_join(g, &b, 1);
    ck_assert_int_eq(c.join.fires, 1);
    ck_assert_int_eq(c.join.generation, 2);
    cli_sync(g, &b, 2);
    cli_sync(g, &c, 2);
    struct group_assignment as[] = {{b.id, str_span("B")}, {"ghost", str_span("G")}};
    cli_sync_assign(g, &a, as, 2, 3);
    ck_assert_int_eq(c.sync.fires, 1);
    ck_assert_int_eq(c.sync.error, SL_OK);
    ck_assert_uint_eq(c.sync.assign_len, 0);
    ck_assert_uint_eq(a.sync.assign_len, 0);
    ck_assert_mem_eq(b.sync.assign, "B", 1);
    group_destroy(g);
}
END_TEST

START_TEST(test_absent_member_dropped_at_rebalance_timeout) {
    struct cli a, b, c;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    a.session_ms = b.session_ms = c.session_ms = 60000;
    a.rebalance_ms = b.rebalance_ms = c.rebalance_ms = 20000;
    struct group *g = stable_one(&a, 0);
    add_second(g, &a, &b, 0);
    cli_join(g, &c, 1000);
    cli_join(g, &a, 1000);
    ck_assert_int_eq(cli_hb(g, &b, 5000), SL_REBALANCE_IN_PROGRESS); /* alive, but no rejoin */
    ck_assert_uint_eq(group_next_deadline(g), 21000);
    group_tick(g, 20999);
    ck_assert_int_eq(a.join.fires, 0);
    group_tick(g, 21000);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(c.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 3);
    ck_assert_int_eq(a.join.member_count, 2);
    ck_assert_str_eq(a.join.mids[0], a.id);
    ck_assert_str_eq(a.join.mids[1], c.id);
    ck_assert_int_eq(group_member_count(g), 2);
    ck_assert_int_eq(cli_hb(g, &b, 21001), SL_UNKNOWN_MEMBER_ID);
    group_destroy(g);
}
END_TEST

START_TEST(test_session_expiry) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = stable_one(&a, 0);
    add_second(g, &a, &b, 0);
    ck_assert_int_eq(cli_hb(g, &a, 5000), SL_OK);
    ck_assert_uint_eq(group_next_deadline(g), 10000); /* b's session */
    group_tick(g, 9999);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    group_tick(g, 10000);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_int_eq(group_member_count(g), 1);
    ck_assert_int_eq(cli_hb(g, &a, 10001), SL_REBALANCE_IN_PROGRESS);
    cli_join(g, &a, 10002);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 3);
    ck_assert_int_eq(a.join.member_count, 1);
    ck_assert_int_eq(cli_hb(g, &b, 10003), SL_UNKNOWN_MEMBER_ID);
    /* The last session running out empties the group. */
    cli_sync(g, &a, 10003);
    group_tick(g, 10003 + 10000);
    ck_assert_int_eq(group_state(g), GROUP_EMPTY);
    ck_assert_int_eq(group_generation(g), 4);
    ck_assert_uint_eq(group_next_deadline(g), GROUP_NO_DEADLINE);
    group_destroy(g);
}
END_TEST

START_TEST(test_parked_join_not_expired_during_join_phase) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    a.session_ms = b.session_ms = 6000;
    a.rebalance_ms = b.rebalance_ms = 20000;
    struct group *g = stable_one(&a, 0);
    add_second(g, &a, &b, 0);
    cli_join(g, &b, 1000); /* a follower, same metadata: the current generation at once */
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    cli_set_meta(&b, "b-new-subscription");
    cli_join(g, &b, 1000); /* changed metadata: rebalance, b parks */
    ck_assert_int_eq(b.join.fires, 0);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    for (uint64_t t = 2000; t <= 15000; t += 2000) {
        ck_assert_int_eq(cli_hb(g, &a, t), SL_REBALANCE_IN_PROGRESS);
        group_tick(g, t);
    }
    ck_assert_int_eq(group_member_count(g), 2); /* b's session did not run while parked */
    cli_join(g, &a, 15000);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(b.join.generation, 3);
    ck_assert_uint_eq(a.join.meta_len[1], b.meta_len);
    ck_assert_mem_eq(a.join.meta[1], "b-new-subscription", b.meta_len);
    group_destroy(g);
}
END_TEST

START_TEST(test_leave_single) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = stable_one(&a, 0);
    add_second(g, &a, &b, 0);
    ck_assert_int_eq(cli_leave(g, &b, 100), SL_OK);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_int_eq(cli_leave(g, &b, 100), SL_UNKNOWN_MEMBER_ID);
    cli_join(g, &a, 110);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 3);
    cli_sync(g, &a, 110);
    ck_assert_int_eq(cli_leave(g, &a, 120), SL_OK);
    ck_assert_int_eq(group_state(g), GROUP_EMPTY);
    ck_assert_int_eq(group_generation(g), 4);
    ck_assert_int_eq(group_member_count(g), 0);
    ck_assert_str_eq(group_leader(g), "");
    group_destroy(g);
}
END_TEST

START_TEST(test_leave_answers_parked_requests) {
    struct cli a, b, c;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    c.version = 4;
    struct group *g = stable_one(&a, 0);
    add_second(g, &a, &b, 0);
    cli_join(g, &c, 10);
    ck_assert_int_eq(c.join.error, SL_MEMBER_ID_REQUIRED);
    cli_join(g, &c, 10);
    cli_join(g, &a, 10);
    ck_assert_int_eq(c.join.fires, 0);
    ck_assert_int_eq(cli_leave(g, &c, 11), SL_OK); /* its parked join answers */
    ck_assert_int_eq(c.join.fires, 1);
    ck_assert_int_eq(c.join.error, SL_UNKNOWN_MEMBER_ID);
    cli_join(g, &b, 12);
    ck_assert_int_eq(a.join.fires, 1);
    cli_sync(g, &b, 13);
    ck_assert_int_eq(b.sync.fires, 0);
    ck_assert_int_eq(cli_leave(g, &b, 14), SL_OK); /* and its parked sync */
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_int_eq(b.sync.error, SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    group_destroy(g);
}
END_TEST

START_TEST(test_leave_batch) {
    struct cli a, b, c;
    cli_init(&a, "a", "i-a");
    cli_init(&b, "b", "i-b");
    cli_init(&c, "c", "i-c");
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &c, 0);
    cli_join(g, &a, 0);
    ck_assert_int_eq(c.join.fires, 1);
    ck_assert_int_eq(group_member_count(g), 3);
    ck_assert_int_eq(strncmp(b.id, "i-b-", 4), 0); /* static ids start with the instance id */
    struct group_member_ident who[] = {
        {"", "i-b"},        /* by instance id */
        {c.id, "i-c"},      /* by both */
        {"nope", NULL},     /* unknown member id */
        {"", "i-zzz"},      /* unknown instance id */
        {"a-stale", "i-a"}, /* instance id mapped to another member id */
    };
    sl_err errs[5];
    ck_assert_int_eq(group_leave(g, who, 5, errs, 1), SL_OK);
    ck_assert_int_eq(errs[0], SL_OK);
    ck_assert_int_eq(errs[1], SL_OK);
    ck_assert_int_eq(errs[2], SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(errs[3], SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(errs[4], SL_FENCED_INSTANCE_ID);
    ck_assert_int_eq(group_member_count(g), 1);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    group_destroy(g);
}
END_TEST

START_TEST(test_member_id_required_round_trip) {
    struct cli a, b, c;
    cli_init(&a, "client-a", NULL);
    a.version = 4;
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.error, SL_MEMBER_ID_REQUIRED);
    ck_assert_int_eq(a.join.generation, -1);
    ck_assert_int_eq(strncmp(a.id, "client-a-", 9), 0);
    ck_assert_uint_eq(strlen(a.id), 9 + 36);
    ck_assert_int_eq(group_state(g), GROUP_EMPTY); /* pending ids are not members */
    ck_assert_int_eq(group_member_count(g), 0);
    cli_join(g, &a, 5);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.error, SL_OK);
    ck_assert_str_eq(a.join.member_id, a.id);
    ck_assert_int_eq(a.join.generation, 1);
    cli_sync(g, &a, 5);

    /* A pending id holds the join phase: it is about to come back. */
    cli_init(&b, "client-b", NULL);
    b.version = 4;
    cli_join(g, &b, 10);
    ck_assert_int_eq(b.join.error, SL_MEMBER_ID_REQUIRED);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    cli_init(&c, "client-c", NULL); /* v3: joins directly */
    cli_join(g, &c, 11);
    ck_assert_int_eq(c.join.fires, 0);
    cli_join(g, &a, 12);
    ck_assert_int_eq(a.join.fires, 0);
    cli_join(g, &b, 13);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(c.join.fires, 1);
    ck_assert_int_eq(a.join.member_count, 3);
    ck_assert_int_eq(a.join.generation, 2);

    /* A pending id that never comes back expires with the session timeout. */
    struct cli d;
    cli_init(&d, "client-d", NULL);
    d.version = 4;
    cli_join(g, &d, 100);
    ck_assert_int_eq(d.join.error, SL_MEMBER_ID_REQUIRED);
    ck_assert_uint_le(group_next_deadline(g), 100 + 10000);
    group_tick(g, 100 + 10000);
    cli_join(g, &d, 100 + 10001);
    ck_assert_int_eq(d.join.error, SL_UNKNOWN_MEMBER_ID);
    /* Two ids are never the same. */
    struct cli e;
    cli_init(&e, "client-d", NULL);
    e.version = 4;
    cli_join(g, &e, 100 + 10002);
    ck_assert_str_ne(e.id, d.id);
    group_destroy(g);
}
END_TEST

START_TEST(test_member_id_required_leave_pending) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    b.version = 4;
    struct group *g = stable_one(&a, 0);
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.error, SL_MEMBER_ID_REQUIRED);
    ck_assert_int_eq(cli_leave(g, &b, 2), SL_OK);
    cli_join(g, &b, 3);
    ck_assert_int_eq(b.join.error, SL_UNKNOWN_MEMBER_ID);
    group_destroy(g);
}
END_TEST

START_TEST(test_invalid_session_timeout) {
    struct group *g = mk(0);
    struct cli a;
    cli_init(&a, "a", NULL);
    a.session_ms = 5999;
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.error, SL_INVALID_SESSION_TIMEOUT);
    a.session_ms = 1800001;
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.error, SL_INVALID_SESSION_TIMEOUT);
    a.session_ms = -1;
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.error, SL_INVALID_SESSION_TIMEOUT);
    ck_assert_int_eq(group_state(g), GROUP_EMPTY);
    a.session_ms = 6000;
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.error, SL_OK);
    ck_assert_int_eq(a.join.generation, 1);
    a.session_ms = 1800000;
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.error, SL_OK);
    group_destroy(g);
}
END_TEST

START_TEST(test_inconsistent_group_protocol) {
    struct group *g = mk(0);
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_join(g, &a, 0);
    cli_init(&b, "b", NULL);
    b.protos[0].name = "roundrobin";
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    ck_assert_str_eq(b.join.member_id, "");
    cli_init(&b, "b", NULL);
    b.ptype = "connect";
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    cli_init(&b, "b", NULL);
    b.nprotos = 0;
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    ck_assert_int_eq(group_member_count(g), 1);
    /* An existing member may not drop the group's only common protocol either. */
    cli_init(&b, "b", NULL);
    cli_join(g, &b, 2);
    cli_join(g, &a, 2);
    ck_assert_int_eq(b.join.error, SL_OK);
    b.protos[0].name = "roundrobin";
    cli_join(g, &b, 3);
    ck_assert_int_eq(b.join.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    ck_assert_str_eq(b.join.member_id, b.id);
    /* An empty group takes any protocol type again. */
    struct group *g2 = mk(0);
    struct cli c;
    cli_init(&c, "c", NULL);
    c.ptype = "";
    cli_join(g2, &c, 0);
    ck_assert_int_eq(c.join.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    c.ptype = "connect";
    cli_join(g2, &c, 0);
    ck_assert_int_eq(c.join.error, SL_OK);
    ck_assert_str_eq(c.join.ptype, "connect");
    group_destroy(g2);
    group_destroy(g);
}
END_TEST

static void set_protos(struct cli *c, const char *p0, const char *p1) {
    c->protos[0] = (struct group_protocol){p0, {c->meta, c->meta_len}};
    c->nprotos = 1;
    if (p1) {
        c->protos[1] = (struct group_protocol){p1, {(const uint8_t *)p1, (uint32_t)strlen(p1)}};
        c->nprotos = 2;
    }
}

START_TEST(test_protocol_vote) {
    struct cli a, b, c;
    /* range, roundrobin both common; two of three prefer roundrobin. */
    struct group *g = mk(0);
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    set_protos(&a, "range", "roundrobin");
    set_protos(&b, "roundrobin", "range");
    set_protos(&c, "roundrobin", "range");
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &c, 0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_str_eq(a.join.pname, "roundrobin");
    ck_assert_str_eq(c.join.pname, "roundrobin");
    /* The leader gets each member's metadata for the selected protocol. */
    ck_assert_mem_eq(a.join.meta[0], "roundrobin", 10);
    ck_assert_mem_eq(a.join.meta[1], b.meta, b.meta_len);
    group_destroy(g);

    /* A tie goes to the first member's preference. */
    g = mk(0);
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    set_protos(&a, "range", "roundrobin");
    set_protos(&b, "roundrobin", "range");
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &a, 0);
    ck_assert_str_eq(b.join.pname, "range");
    group_destroy(g);

    /* Only protocols every member lists are candidates, whatever the preferences. */
    g = mk(0);
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    set_protos(&a, "cooperative-sticky", "range");
    set_protos(&b, "range", NULL);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &a, 0);
    ck_assert_str_eq(a.join.pname, "range");
    ck_assert_mem_eq(a.join.meta[0], "range", 5);
    group_destroy(g);
}
END_TEST

START_TEST(test_stable_rejoin_same_or_changed_metadata) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = stable_one(&a, 0);
    add_second(g, &a, &b, 0);
    /* A follower with identical protocols gets the current generation at once. */
    cli_join(g, &b, 10);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(b.join.generation, 2);
    ck_assert_str_eq(b.join.leader, a.id);
    ck_assert_int_eq(b.join.member_count, 0);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    /* The leader rejoining always rebalances (Kafka: new topic metadata). */
    cli_join(g, &a, 20);
    ck_assert_int_eq(a.join.fires, 0);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    cli_join(g, &b, 21);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 3);
    /* In CompletingRebalance an identical rejoin gets this generation again, members and all. */
    cli_join(g, &a, 22);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 3);
    ck_assert_int_eq(a.join.member_count, 2);
    ck_assert_int_eq(group_state(g), GROUP_COMPLETING_REBALANCE);
    group_destroy(g);
}
END_TEST

START_TEST(test_completing_rebalance_interrupted) {
    struct cli a, b, c;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &a, 0);
    ck_assert_int_eq(group_state(g), GROUP_COMPLETING_REBALANCE);
    cli_sync(g, &b, 1);
    ck_assert_int_eq(b.sync.fires, 0);
    cli_join(g, &c, 2); /* a newcomer before the leader's sync */
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_int_eq(b.sync.error, SL_REBALANCE_IN_PROGRESS);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    cli_sync(g, &a, 3);
    ck_assert_int_eq(a.sync.error, SL_REBALANCE_IN_PROGRESS);
    group_destroy(g);
}
END_TEST

START_TEST(test_sync_errors) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = stable_one(&a, 0);
    int32_t gen = a.gen;
    a.gen = gen + 1;
    cli_sync(g, &a, 1);
    ck_assert_int_eq(a.sync.error, SL_ILLEGAL_GENERATION);
    a.gen = gen;
    snprintf(b.id, sizeof b.id, "nobody");
    b.gen = gen;
    cli_sync(g, &b, 1);
    ck_assert_int_eq(b.sync.error, SL_UNKNOWN_MEMBER_ID);
    /* v5 protocol checks. */
    struct group_sync_req req = {.member_id = a.id, .generation = gen, .protocol_type = "connect"};
    group_sync(g, &req, &a.sync, 1);
    ck_assert_int_eq(a.sync.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    req.protocol_type = "consumer";
    req.protocol_name = "roundrobin";
    group_sync(g, &req, &a.sync, 1);
    ck_assert_int_eq(a.sync.error, SL_INCONSISTENT_GROUP_PROTOCOL);
    memset(&a.sync, 0, sizeof a.sync);
    req.protocol_name = "range";
    group_sync(g, &req, &a.sync, 1);
    ck_assert_int_eq(a.sync.fires, 1);
    ck_assert_int_eq(a.sync.error, SL_OK);
    ck_assert_mem_eq(a.sync.assign, "A-all", 5);
    ck_assert_str_eq(a.sync.ptype, "consumer");
    /* During PreparingRebalance. */
    b.id[0] = '\0';
    cli_join(g, &b, 2);
    cli_sync(g, &a, 3);
    ck_assert_int_eq(a.sync.error, SL_REBALANCE_IN_PROGRESS);
    ck_assert_int_eq(a.sync.assign_len, 0);
    group_destroy(g);
}
END_TEST

START_TEST(test_heartbeat_errors) {
    struct cli a;
    cli_init(&a, "a", NULL);
    struct group *g = stable_one(&a, 0);
    ck_assert_int_eq(group_heartbeat(g, a.id, NULL, a.gen, 1), SL_OK);
    ck_assert_int_eq(group_heartbeat(g, a.id, NULL, a.gen - 1, 1), SL_ILLEGAL_GENERATION);
    ck_assert_int_eq(group_heartbeat(g, "nobody", NULL, a.gen, 1), SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(group_heartbeat(g, "", NULL, -1, 1), SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(group_heartbeat(g, a.id, "i-unknown", a.gen, 1), SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(cli_leave(g, &a, 2), SL_OK);
    ck_assert_int_eq(group_heartbeat(g, a.id, NULL, a.gen, 3), SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(group_delete(g), SL_OK);
    ck_assert_int_eq(group_heartbeat(g, a.id, NULL, a.gen, 3), SL_COORDINATOR_NOT_AVAILABLE);
    group_destroy(g);

    struct group_config cfg;
    group_config_defaults(&cfg);
    g = group_create("", &cfg, &ops, 1);
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.error, SL_INVALID_GROUP_ID);
    ck_assert_int_eq(group_heartbeat(g, "x", NULL, 0, 0), SL_INVALID_GROUP_ID);
    group_destroy(g);
}
END_TEST

START_TEST(test_static_rejoin_without_rebalance) {
    struct cli a, b;
    cli_init(&a, "a", "i-a");
    cli_init(&b, "b", "i-b");
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.generation, 2);
    cli_sync(g, &b, 1);
    struct group_assignment as[] = {{a.id, str_span("A-p0")}, {b.id, str_span("B-p1")}};
    cli_sync_assign(g, &a, as, 2, 1);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);

    /* b restarts: no member id, same instance id, same protocols. */
    char old_b[160];
    snprintf(old_b, sizeof old_b, "%s", b.id);
    b.id[0] = '\0';
    cli_join(g, &b, 5000);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(b.join.error, SL_OK);
    ck_assert_int_eq(b.join.generation, 2); /* unchanged */
    ck_assert_str_ne(b.id, old_b);
    ck_assert_str_eq(b.join.leader, a.id);
    ck_assert_int_eq(b.join.member_count, 0);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    ck_assert_int_eq(group_generation(g), 2);
    cli_sync(g, &b, 5001);
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_mem_eq(b.sync.assign, "B-p1", 4);
    /* The old member id is fenced. */
    ck_assert_int_eq(group_heartbeat(g, old_b, "i-b", 2, 5002), SL_FENCED_INSTANCE_ID);
    ck_assert_int_eq(group_check_commit(g, old_b, "i-b", 2, 5002), SL_FENCED_INSTANCE_ID);
    struct group_sync_req sreq = {.member_id = old_b, .instance_id = "i-b", .generation = 2};
    struct cli stale;
    cli_init(&stale, "b", "i-b");
    group_sync(g, &sreq, &stale.sync, 5002);
    ck_assert_int_eq(stale.sync.error, SL_FENCED_INSTANCE_ID);
    snprintf(stale.id, sizeof stale.id, "%s", old_b);
    cli_join(g, &stale, 5002);
    ck_assert_int_eq(stale.join.error, SL_FENCED_INSTANCE_ID);
    ck_assert_int_eq(cli_hb(g, &b, 5003), SL_OK);

    /* The leader restarts too: it stays leader, and is told the old leader id so that it does
     * not run its assignor for a settled generation. */
    char old_a[160];
    snprintf(old_a, sizeof old_a, "%s", a.id);
    a.id[0] = '\0';
    cli_join(g, &a, 6000);
    ck_assert_int_eq(a.join.error, SL_OK);
    ck_assert_int_eq(a.join.generation, 2);
    ck_assert_str_eq(a.join.leader, old_a);
    ck_assert_str_eq(group_leader(g), a.id);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    cli_sync(g, &a, 6001);
    ck_assert_mem_eq(a.sync.assign, "A-p0", 4);

    /* A restart with different metadata but the same selected protocol: still no rebalance. */
    cli_set_meta(&b, "b-owned-nothing");
    b.id[0] = '\0';
    cli_join(g, &b, 7000);
    ck_assert_int_eq(b.join.generation, 2);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);

    /* A restart whose protocols change the group's choice rebalances: b now prefers
     * roundrobin (range stays the only common one, so nothing changes yet)... */
    b.protos[0].name = "roundrobin";
    b.protos[1] = (struct group_protocol){"range", {b.meta, b.meta_len}};
    b.nprotos = 2;
    b.id[0] = '\0';
    cli_join(g, &b, 7500);
    ck_assert_int_eq(b.join.generation, 2);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    /* ...and when a does too, the vote moves to roundrobin. */
    set_protos(&a, "roundrobin", "range");
    a.id[0] = '\0';
    cli_join(g, &a, 8000);
    ck_assert_int_eq(a.join.fires, 0);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_int_eq(cli_hb(g, &b, 8001), SL_REBALANCE_IN_PROGRESS);
    cli_join(g, &b, 8001);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_str_eq(a.join.pname, "roundrobin");
    ck_assert_int_eq(a.join.generation, 3);

    /* Its session still expires normally. */
    cli_sync(g, &b, 8002);
    cli_sync(g, &a, 8002);
    ck_assert_int_eq(cli_hb(g, &a, 15000), SL_OK);
    group_tick(g, 8002 + 10000);
    ck_assert_int_eq(group_member_count(g), 1);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    group_destroy(g);
}
END_TEST

START_TEST(test_static_member_fencing_of_parked_requests) {
    struct cli a, a2, b;
    cli_init(&a, "a", "i-a");
    cli_init(&b, "b", NULL);
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_sync(g, &a, 0);
    cli_join(g, &b, 1); /* rebalance */
    cli_join(g, &a, 2); /* a parks... */
    ck_assert_int_eq(a.join.fires, 1);
    /* ...and completed, as b also joined; now in CompletingRebalance, a's sync parks. */
    cli_sync(g, &b, 3);
    ck_assert_int_eq(b.sync.fires, 0);
    /* A second process with the same instance id takes over: the rebalance restarts. */
    cli_init(&a2, "a2", "i-a");
    cli_join(g, &a2, 4);
    ck_assert_int_eq(a2.join.fires, 0);
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_int_eq(b.sync.error, SL_REBALANCE_IN_PROGRESS);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_int_eq(cli_hb(g, &a, 5), SL_FENCED_INSTANCE_ID);
    /* A third one while a2 is parked: a2's join answers FENCED_INSTANCE_ID. */
    struct cli a3;
    cli_init(&a3, "a3", "i-a");
    cli_join(g, &a3, 6);
    ck_assert_int_eq(a2.join.fires, 1);
    ck_assert_int_eq(a2.join.error, SL_FENCED_INSTANCE_ID);
    cli_join(g, &b, 7);
    ck_assert_int_eq(a3.join.fires, 1);
    ck_assert_int_eq(a3.join.error, SL_OK);
    ck_assert_int_eq(group_member_count(g), 2);
    group_destroy(g);
}
END_TEST

START_TEST(test_static_member_kept_through_rebalance_timeout) {
    struct cli a, b, c;
    cli_init(&a, "a", "i-a");
    cli_init(&b, "b", "i-b");
    cli_init(&c, "c", NULL);
    a.session_ms = b.session_ms = c.session_ms = 60000;
    a.rebalance_ms = b.rebalance_ms = c.rebalance_ms = 20000;
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &a, 0);
    cli_sync(g, &b, 0);
    cli_sync(g, &a, 0);
    cli_join(g, &c, 100); /* b is down and does not rejoin */
    cli_join(g, &a, 100);
    group_tick(g, 20100);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(a.join.member_count, 3); /* b stays, with its last metadata */
    ck_assert_str_eq(a.join.mids[1], b.id);
    ck_assert_mem_eq(a.join.meta[1], b.meta, b.meta_len);
    /* b restarts within its session: it takes its old place. */
    b.id[0] = '\0';
    cli_join(g, &b, 20200);
    ck_assert_int_eq(b.join.fires, 0); /* CompletingRebalance: a new round for it */
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    group_destroy(g);
}
END_TEST

START_TEST(test_commit_checks) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = mk(100);
    /* Empty: simple commits only. */
    ck_assert_int_eq(group_check_commit(g, "", NULL, -1, 0), SL_OK);
    ck_assert_int_eq(group_check_commit(g, NULL, NULL, -1, 0), SL_OK);
    ck_assert_int_eq(group_check_commit(g, "ghost", NULL, 3, 0), SL_UNKNOWN_MEMBER_ID);
    cli_join(g, &a, 0);
    /* PreparingRebalance: no more simple commits; the member's own with its generation. */
    ck_assert_int_eq(group_check_commit(g, "", NULL, -1, 1), SL_UNKNOWN_MEMBER_ID);
    group_tick(g, 100);
    /* CompletingRebalance. */
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 1, 101), SL_REBALANCE_IN_PROGRESS);
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 0, 101), SL_ILLEGAL_GENERATION);
    cli_sync(g, &a, 102);
    /* Stable. */
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 1, 103), SL_OK);
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 2, 103), SL_ILLEGAL_GENERATION);
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, -1, 103), SL_ILLEGAL_GENERATION);
    ck_assert_int_eq(group_check_commit(g, "ghost", NULL, 1, 103), SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(group_check_commit(g, "", NULL, -1, 103), SL_UNKNOWN_MEMBER_ID);
    ck_assert_int_eq(group_check_commit(g, a.id, "i-none", 1, 103), SL_UNKNOWN_MEMBER_ID);
    /* PreparingRebalance: commit on revoke with the current generation; and it keeps the
     * session alive. */
    cli_join(g, &b, 200);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 1, 9000), SL_OK);
    group_tick(g, 103 + 10000);
    ck_assert_int_eq(group_member_count(g), 2);
    /* Empty again: simple commits return. */
    ck_assert_int_eq(cli_leave(g, &a, 9001), SL_OK);
    ck_assert_int_eq(cli_leave(g, &b, 9001), SL_OK);
    ck_assert_int_eq(group_state(g), GROUP_EMPTY);
    ck_assert_int_eq(group_check_commit(g, "", NULL, -1, 9002), SL_OK);
    ck_assert_int_eq(group_delete(g), SL_OK);
    ck_assert_int_eq(group_check_commit(g, "", NULL, -1, 9002), SL_COORDINATOR_NOT_AVAILABLE);
    group_destroy(g);
}
END_TEST

/* KIP-429: each membership change is two rounds driven by the members' own rejoins; the broker
 * only relays metadata and assignments. Every step happens at once: no timer is involved. */
START_TEST(test_cooperative_sticky_two_rounds) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    a.protos[0].name = b.protos[0].name = "cooperative-sticky";
    struct group *g = mk(0);
    cli_set_meta(&a, "owned:");
    cli_join(g, &a, 0);
    struct group_assignment r1[] = {{a.id, str_span("0,1,2,3")}};
    cli_sync_assign(g, &a, r1, 1, 0);
    ck_assert_int_eq(group_generation(g), 1);

    /* b joins; a hears of it from a heartbeat and rejoins listing what it owns. */
    cli_set_meta(&b, "owned:");
    cli_join(g, &b, 1000);
    ck_assert_int_eq(cli_hb(g, &a, 1001), SL_REBALANCE_IN_PROGRESS);
    cli_set_meta(&a, "owned:0,1,2,3");
    cli_join(g, &a, 1002);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 2);
    ck_assert_mem_eq(a.join.meta[0], "owned:0,1,2,3", 13);
    ck_assert_mem_eq(a.join.meta[1], "owned:", 6);
    /* The leader withholds the partitions that move. */
    cli_sync(g, &b, 1003);
    struct group_assignment r2[] = {{a.id, str_span("0,1")}, {b.id, str_span("")}};
    cli_sync_assign(g, &a, r2, 2, 1003);
    ck_assert_int_eq(b.sync.fires, 1);
    ck_assert_uint_eq(b.sync.assign_len, 0);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);

    /* a revokes 2,3: commits them, then rejoins at once. */
    ck_assert_int_eq(group_check_commit(g, a.id, NULL, 2, 1004), SL_OK);
    cli_set_meta(&a, "owned:0,1");
    cli_join(g, &a, 1005);
    ck_assert_int_eq(a.join.fires, 0);
    ck_assert_int_eq(cli_hb(g, &b, 1006), SL_REBALANCE_IN_PROGRESS);
    cli_join(g, &b, 1006);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(a.join.generation, 3);
    ck_assert_mem_eq(a.join.meta[0], "owned:0,1", 9);
    cli_sync(g, &b, 1007);
    struct group_assignment r3[] = {{a.id, str_span("0,1")}, {b.id, str_span("2,3")}};
    cli_sync_assign(g, &a, r3, 2, 1007);
    ck_assert_mem_eq(b.sync.assign, "2,3", 3);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    ck_assert_int_eq(group_generation(g), 3);
    group_destroy(g);
}
END_TEST

START_TEST(test_sync_deadline_drops_silent_member) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    a.session_ms = b.session_ms = 60000;
    a.rebalance_ms = b.rebalance_ms = 20000;
    struct group *g = mk(0);
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &a, 0);
    ck_assert_int_eq(group_state(g), GROUP_COMPLETING_REBALANCE);
    cli_sync(g, &a, 10); /* the leader; b never syncs */
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    ck_assert_uint_eq(group_next_deadline(g), 20000);
    group_tick(g, 19999);
    ck_assert_int_eq(group_member_count(g), 2);
    group_tick(g, 20000);
    ck_assert_int_eq(group_member_count(g), 1);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    group_destroy(g);
}
END_TEST

START_TEST(test_max_size) {
    struct group_config cfg;
    group_config_defaults(&cfg);
    cfg.max_size = 2;
    struct group *g = group_create("g", &cfg, &ops, 7);
    struct cli a, b, c, d;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    cli_init(&d, "d", NULL);
    d.version = 4;
    cli_join(g, &a, 0);
    cli_join(g, &b, 0);
    cli_join(g, &c, 0);
    ck_assert_int_eq(c.join.error, SL_GROUP_MAX_SIZE_REACHED);
    cli_join(g, &d, 0);
    ck_assert_int_eq(d.join.error, SL_GROUP_MAX_SIZE_REACHED);
    ck_assert_int_eq(group_member_count(g), 2);
    group_destroy(g);
}
END_TEST

START_TEST(test_cancel_reply) {
    struct cli a, b, c;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    cli_init(&c, "c", NULL);
    struct group *g = stable_one(&a, 0);
    cli_join(g, &b, 10);
    group_cancel_reply(g, &b.join); /* b's connection died while parked */
    group_cancel_reply(g, &c.join); /* unknown handle: nothing happens */
    ck_assert_int_eq(group_member_count(g), 2);
    cli_join(g, &a, 11); /* b still counts as joined: no wait */
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 0);
    ck_assert_int_eq(a.join.member_count, 2);
    ck_assert_int_eq(group_state(g), GROUP_COMPLETING_REBALANCE);
    /* A parked sync cancelled, then the leader's sync: nothing fires for it. */
    b.gen = a.gen;
    snprintf(b.id, sizeof b.id, "%s", a.join.mids[1]);
    cli_sync(g, &b, 12);
    group_cancel_reply(g, &b.sync);
    cli_sync(g, &a, 13);
    ck_assert_int_eq(b.sync.fires, 0);
    ck_assert_int_eq(group_state(g), GROUP_STABLE);
    /* With its reply gone its session runs again, and expires. */
    ck_assert_int_eq(cli_hb(g, &a, 10000), SL_OK);
    group_tick(g, 12 + 10000);
    ck_assert_int_eq(group_member_count(g), 1);
    ck_assert_int_eq(group_state(g), GROUP_PREPARING_REBALANCE);
    /* A cancelled parked join whose member then leaves: silence. */
    c.version = 4;
    cli_join(g, &c, 10020);
    ck_assert_int_eq(c.join.error, SL_MEMBER_ID_REQUIRED);
    cli_join(g, &c, 10021);
    ck_assert_int_eq(c.join.fires, 0);
    group_cancel_reply(g, &c.join);
    ck_assert_int_eq(cli_leave(g, &c, 10022), SL_OK);
    ck_assert_int_eq(c.join.fires, 0);
    /* ...or whose group goes away: silence too. */
    struct cli d;
    cli_init(&d, "d", NULL);
    cli_join(g, &d, 10023);
    group_cancel_reply(g, &d.join);
    group_destroy(g);
    ck_assert_int_eq(d.join.fires, 0);
}
END_TEST

START_TEST(test_destroy_answers_parked) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *g = stable_one(&a, 0);
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.fires, 0);
    group_destroy(g);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(b.join.error, SL_COORDINATOR_NOT_AVAILABLE);
}
END_TEST

START_TEST(test_superseded_join) {
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    b.version = 4;
    struct group *g = stable_one(&a, 0);
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.error, SL_MEMBER_ID_REQUIRED);
    cli_join(g, &b, 1);
    ck_assert_int_eq(b.join.fires, 0);
    /* The same member again (the client gave up and retried): the first answer goes out. */
    struct cli b2 = b;
    cli_join(g, &b2, 2);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(b.join.error, SL_REBALANCE_IN_PROGRESS);
    ck_assert_int_eq(b2.join.fires, 0);
    cli_join(g, &b, 3);
    ck_assert_int_eq(b2.join.fires, 1);
    ck_assert_int_eq(b2.join.error, SL_REBALANCE_IN_PROGRESS);
    cli_join(g, &a, 4);
    ck_assert_int_eq(b.join.fires, 1);
    ck_assert_int_eq(b.join.error, SL_OK);
    ck_assert_int_eq(group_member_count(g), 2);
    group_destroy(g);
}
END_TEST

START_TEST(test_describe_list_delete) {
    struct group_config cfg;
    group_config_defaults(&cfg);
    struct group_registry *reg = group_registry_create(&cfg, &ops, 99);
    struct group *g1 = group_registry_get(reg, "orders");
    struct group *g2 = group_registry_get(reg, "billing");
    ck_assert_ptr_eq(group_registry_get(reg, "orders"), g1);
    ck_assert_ptr_eq(group_registry_find(reg, "billing"), g2);
    ck_assert_ptr_null(group_registry_find(reg, "nope"));
    ck_assert_uint_eq(group_registry_count(reg), 2);

    struct cli a;
    cli_init(&a, "client-a", "inst-a");
    cli_join(g1, &a, 0);
    struct group_member_desc md[4];
    struct group_desc d;
    group_describe(g1, &d, md, 4);
    ck_assert_str_eq(d.state, "CompletingRebalance");
    ck_assert_str_eq(d.protocol_name, ""); /* as Kafka: only a Stable group shows it */
    ck_assert_int_eq(d.member_count, 1);
    ck_assert_uint_eq(md[0].metadata.len, 0);
    struct group_assignment as[] = {{a.id, str_span("assigned")}};
    cli_sync_assign(g1, &a, as, 1, 1);
    group_describe(g1, &d, md, 4);
    ck_assert_str_eq(d.group_id, "orders");
    ck_assert_str_eq(d.state, "Stable");
    ck_assert_str_eq(d.protocol_type, "consumer");
    ck_assert_str_eq(d.protocol_name, "range");
    ck_assert_int_eq(d.member_count, 1);
    ck_assert_str_eq(md[0].member_id, a.id);
    ck_assert_str_eq(md[0].instance_id, "inst-a");
    ck_assert_str_eq(md[0].client_id, "client-a");
    ck_assert_str_eq(md[0].client_host, "/127.0.0.1");
    ck_assert_uint_eq(md[0].metadata.len, a.meta_len);
    ck_assert_mem_eq(md[0].metadata.p, a.meta, a.meta_len);
    ck_assert_mem_eq(md[0].assignment.p, "assigned", 8);
    group_describe(g2, &d, md, 4);
    ck_assert_str_eq(d.state, "Empty");
    ck_assert_str_eq(d.protocol_type, "");
    ck_assert_int_eq(d.member_count, 0);

    /* ListGroups walks the registry. */
    bool seen_orders = false, seen_billing = false;
    for (uint32_t i = 0; i < group_registry_count(reg); i++) {
        struct group *g = group_registry_at(reg, i);
        if (strcmp(group_id(g), "orders") == 0) {
            seen_orders = true;
            ck_assert_str_eq(group_protocol_type(g), "consumer");
            ck_assert_str_eq(group_state_name(group_state(g)), "Stable");
        }
        if (strcmp(group_id(g), "billing") == 0) seen_billing = true;
    }
    ck_assert(seen_orders && seen_billing);

    /* DeleteGroups. */
    ck_assert_int_eq(group_registry_delete(reg, "orders"), SL_NON_EMPTY_GROUP);
    ck_assert_int_eq(group_registry_delete(reg, "nope"), SL_GROUP_ID_NOT_FOUND);
    ck_assert_int_eq(cli_leave(g1, &a, 2), SL_OK);
    ck_assert_str_eq(group_protocol_type(g1), "consumer"); /* an Empty group keeps its type */
    ck_assert_int_eq(group_registry_delete(reg, "orders"), SL_OK);
    ck_assert_ptr_null(group_registry_find(reg, "orders"));
    ck_assert_uint_eq(group_registry_count(reg), 1);
    ck_assert_ptr_eq(group_registry_at(reg, 0), g2);
    ck_assert_int_eq(group_registry_delete(reg, "orders"), SL_GROUP_ID_NOT_FOUND);

    /* A standalone group once Dead refuses everything. */
    struct group *g = mk(0);
    ck_assert_int_eq(group_delete(g), SL_OK);
    ck_assert_str_eq(group_state_name(group_state(g)), "Dead");
    ck_assert_int_eq(group_delete(g), SL_GROUP_ID_NOT_FOUND);
    cli_init(&a, "a", NULL);
    cli_join(g, &a, 0);
    ck_assert_int_eq(a.join.error, SL_COORDINATOR_NOT_AVAILABLE);
    a.gen = 0;
    snprintf(a.id, sizeof a.id, "x");
    cli_sync(g, &a, 0);
    ck_assert_int_eq(a.sync.error, SL_COORDINATOR_NOT_AVAILABLE);
    struct group_member_ident who = {"x", NULL};
    sl_err err;
    ck_assert_int_eq(group_leave(g, &who, 1, &err, 0), SL_COORDINATOR_NOT_AVAILABLE);
    group_describe(g, &d, md, 4);
    ck_assert_str_eq(d.state, "Dead");
    group_destroy(g);
    group_registry_destroy(reg);
}
END_TEST

/* The state a broker stores at Stable comes back Stable after a "restart" (a new registry):
 * same generation, leader, members and assignments, and the members carry on with heartbeats
 * and commits; a member that does not come back expires and the rest rebalance. */
static int changed_calls;
static void on_changed(void *arg, struct group *g) {
    (void)arg;
    (void)g;
    changed_calls++;
}

START_TEST(test_state_survives_restart) {
    struct group_config cfg;
    group_config_defaults(&cfg);
    cfg.initial_rebalance_delay_ms = 100; /* both joins land in one generation */
    struct group_ops ops2 = ops;
    ops2.changed = on_changed;
    struct group_registry *reg = group_registry_create(&cfg, &ops2, 5);
    struct group *g = group_registry_get(reg, "keep");
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", "static-b");
    changed_calls = 0;
    cli_join(g, &a, 1000);
    cli_join(g, &b, 1000);
    for (uint64_t t = 1000; t < 40000 && !(a.join.fires && b.join.fires); t += 100) group_registry_tick(reg, t);
    ck_assert_int_eq(a.join.error, SL_OK);
    ck_assert_int_eq(b.join.error, SL_OK);
    struct group_assignment as[2] = {{a.id, {(const uint8_t *)"A\0a", 3}}, {b.id, {(const uint8_t *)"Bb", 2}}};
    ck_assert_int_eq(a.gen, b.gen);
    struct cli *leader = strcmp(group_leader(g), a.id) == 0 ? &a : &b;
    struct cli *other = leader == &a ? &b : &a;
    cli_sync(g, other, 40001);
    cli_sync_assign(g, leader, as, 2, 40002);
    ck_assert_str_eq(group_state_name(group_state(g)), "Stable");
    ck_assert_int_eq(changed_calls, 1);
    struct kw w;
    kw_init(&w, 64);
    ck_assert(group_encode_state(g, &w));
    int32_t gen = group_generation(g);
    ck_assert_str_eq(group_leader(g), leader->id);

    struct group_registry *reg2 = group_registry_create(&cfg, &ops, 6);
    ck_assert(group_registry_restore(reg2, "keep", w.p, (uint32_t)w.len, 80000));
    struct group *r = group_registry_find(reg2, "keep");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(group_state_name(group_state(r)), "Stable");
    ck_assert_int_eq(group_generation(r), gen);
    ck_assert_str_eq(group_leader(r), leader->id);
    ck_assert_str_eq(group_protocol_type(r), "consumer");
    ck_assert_str_eq(group_protocol_name(r), "range");
    struct group_member_desc md[4];
    struct group_desc d;
    group_describe(r, &d, md, 4);
    ck_assert_int_eq(d.member_count, 2);
    for (int i = 0; i < 2; i++) {
        bool is_a = strcmp(md[i].member_id, a.id) == 0;
        ck_assert_uint_eq(md[i].assignment.len, is_a ? 3 : 2);
        ck_assert_mem_eq(md[i].assignment.p, is_a ? "A\0a" : "Bb", md[i].assignment.len);
        ck_assert_uint_eq(md[i].metadata.len, is_a ? a.meta_len : b.meta_len);
        ck_assert_mem_eq(md[i].metadata.p, is_a ? a.meta : b.meta, md[i].metadata.len);
        if (!is_a) ck_assert_str_eq(md[i].instance_id, "static-b");
    }
    /* Both carry on: heartbeats, commits and a SyncGroup retry answer as before the restart. */
    ck_assert_int_eq(cli_hb(r, &a, 82000), SL_OK);
    ck_assert_int_eq(cli_hb(r, &b, 82000), SL_OK);
    ck_assert_int_eq(group_check_commit(r, a.id, NULL, gen, 82000), SL_OK);
    cli_sync(r, &a, 82001);
    ck_assert_int_eq(a.sync.error, SL_OK);
    ck_assert_uint_eq(a.sync.assign_len, 3);
    /* b stops heartbeating: its session (10 s from its last heartbeat) ends, a rebalance starts. */
    ck_assert_int_eq(cli_hb(r, &a, 91000), SL_OK);
    group_registry_tick(reg2, 92001);
    ck_assert_str_eq(group_state_name(group_state(r)), "PreparingRebalance");
    /* Malformed records create nothing. */
    for (size_t cut = 0; cut < w.len; cut++)
        ck_assert(!group_registry_restore(reg2, "cut", w.p, (uint32_t)cut, 80000));
    ck_assert_ptr_null(group_registry_find(reg2, "cut"));
    /* A member count the record cannot hold (found by fuzz_meta: 0x30000000 members in 41
     * bytes asked for 6 GiB) is malformed, not an allocation. */
    static const uint8_t huge[] = {0, 1, 1, 0, 0, 0, 1, 0, 1, 'c', 0, 1, 'r', 0, 1, 'm', 0x30, 0, 0, 0,
                                   0, 1, 'm', 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10,
                                   0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert(!group_registry_restore(reg2, "huge", huge, sizeof huge, 80000));
    ck_assert_ptr_null(group_registry_find(reg2, "huge"));
    /* A NUL inside a string (the encoder writes C strings): a member id "\0" would come back as
     * "" and the group could never be stored again. Found by fuzz_meta. */
    static const uint8_t nul_id[] = {0, 1, 1, 0, 0, 0, 1, 0, 1, 'c', 0, 1, 'r', 0, 0, 0, 0, 0, 1,
                                     0, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10,
                                     0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert(!group_registry_restore(reg2, "nul", nul_id, sizeof nul_id, 80000));
    ck_assert_ptr_null(group_registry_find(reg2, "nul"));
    kw_free(&w);
    group_registry_destroy(reg2);
    group_registry_destroy(reg);
}
END_TEST

START_TEST(test_registry_tick_and_deadline) {
    struct group_config cfg;
    group_config_defaults(&cfg);
    cfg.initial_rebalance_delay_ms = 50;
    struct group_registry *reg = group_registry_create(&cfg, &ops, 5);
    ck_assert_uint_eq(group_registry_next_deadline(reg), GROUP_NO_DEADLINE);
    char name[32];
    for (int i = 0; i < 200; i++) { /* enough to rehash several times */
        snprintf(name, sizeof name, "group-%d", i);
        ck_assert_ptr_nonnull(group_registry_get(reg, name));
    }
    ck_assert_uint_eq(group_registry_count(reg), 200);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "group-%d", i);
        struct group *g = group_registry_find(reg, name);
        ck_assert_ptr_nonnull(g);
        ck_assert_str_eq(group_id(g), name);
    }
    struct cli a, b;
    cli_init(&a, "a", NULL);
    cli_init(&b, "b", NULL);
    struct group *ga = group_registry_find(reg, "group-7");
    struct group *gb = group_registry_find(reg, "group-150");
    cli_join(ga, &a, 1000);
    cli_join(gb, &b, 1020);
    ck_assert_uint_eq(group_registry_next_deadline(reg), 1050);
    group_registry_tick(reg, 1050);
    ck_assert_int_eq(a.join.fires, 1);
    ck_assert_int_eq(b.join.fires, 0);
    ck_assert_uint_eq(group_registry_next_deadline(reg), 1070);
    group_registry_tick(reg, 1070);
    ck_assert_int_eq(b.join.fires, 1);
    /* Deleting from the middle keeps every other group findable. */
    for (int i = 0; i < 200; i += 3) {
        snprintf(name, sizeof name, "group-%d", i);
        if (i == 150) continue;
        ck_assert_int_eq(group_registry_delete(reg, name), SL_OK);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "group-%d", i);
        struct group *g = group_registry_find(reg, name);
        if (i % 3 == 0 && i != 150)
            ck_assert_ptr_null(g);
        else
            ck_assert_ptr_nonnull(g);
    }
    for (uint32_t i = 0; i < group_registry_count(reg); i++)
        ck_assert_ptr_eq(group_registry_find(reg, group_id(group_registry_at(reg, i))),
                         group_registry_at(reg, i));
    group_registry_destroy(reg);
}
END_TEST

/* The group errors' wire codes are Kafka's, as the state machine's own enum had them. */
START_TEST(test_error_wire_codes) {
    ck_assert_int_eq(sl_err_kafka(SL_OK), 0);
    ck_assert_int_eq(sl_err_kafka(SL_COORDINATOR_NOT_AVAILABLE), 15);
    ck_assert_int_eq(sl_err_kafka(SL_ILLEGAL_GENERATION), 22);
    ck_assert_int_eq(sl_err_kafka(SL_INCONSISTENT_GROUP_PROTOCOL), 23);
    ck_assert_int_eq(sl_err_kafka(SL_INVALID_GROUP_ID), 24);
    ck_assert_int_eq(sl_err_kafka(SL_UNKNOWN_MEMBER_ID), 25);
    ck_assert_int_eq(sl_err_kafka(SL_INVALID_SESSION_TIMEOUT), 26);
    ck_assert_int_eq(sl_err_kafka(SL_REBALANCE_IN_PROGRESS), 27);
    ck_assert_int_eq(sl_err_kafka(SL_NON_EMPTY_GROUP), 68);
    ck_assert_int_eq(sl_err_kafka(SL_GROUP_ID_NOT_FOUND), 69);
    ck_assert_int_eq(sl_err_kafka(SL_MEMBER_ID_REQUIRED), 79);
    ck_assert_int_eq(sl_err_kafka(SL_GROUP_MAX_SIZE_REACHED), 81);
    ck_assert_int_eq(sl_err_kafka(SL_FENCED_INSTANCE_ID), 82);
    ck_assert_int_eq(sl_err_kafka(SL_GROUP_SUBSCRIBED_TO_TOPIC), 86);
}
END_TEST

int main(void) {
    Suite *s = suite_create("broker/group");
    TCase *tc = tcase_create("group");
    tcase_add_test(tc, test_error_wire_codes);
    tcase_add_test(tc, test_single_member_initial_delay);
    tcase_add_test(tc, test_initial_delay_extended_and_capped);
    tcase_add_test(tc, test_second_member_rebalances_without_waiting);
    tcase_add_test(tc, test_unassigned_member_gets_empty_assignment);
    tcase_add_test(tc, test_absent_member_dropped_at_rebalance_timeout);
    tcase_add_test(tc, test_session_expiry);
    tcase_add_test(tc, test_parked_join_not_expired_during_join_phase);
    tcase_add_test(tc, test_leave_single);
    tcase_add_test(tc, test_leave_answers_parked_requests);
    tcase_add_test(tc, test_leave_batch);
    tcase_add_test(tc, test_member_id_required_round_trip);
    tcase_add_test(tc, test_member_id_required_leave_pending);
    tcase_add_test(tc, test_invalid_session_timeout);
    tcase_add_test(tc, test_inconsistent_group_protocol);
    tcase_add_test(tc, test_protocol_vote);
    tcase_add_test(tc, test_stable_rejoin_same_or_changed_metadata);
    tcase_add_test(tc, test_completing_rebalance_interrupted);
    tcase_add_test(tc, test_sync_errors);
    tcase_add_test(tc, test_heartbeat_errors);
    tcase_add_test(tc, test_static_rejoin_without_rebalance);
    tcase_add_test(tc, test_static_member_fencing_of_parked_requests);
    tcase_add_test(tc, test_static_member_kept_through_rebalance_timeout);
    tcase_add_test(tc, test_commit_checks);
    tcase_add_test(tc, test_cooperative_sticky_two_rounds);
    tcase_add_test(tc, test_sync_deadline_drops_silent_member);
    tcase_add_test(tc, test_max_size);
    tcase_add_test(tc, test_cancel_reply);
    tcase_add_test(tc, test_destroy_answers_parked);
    tcase_add_test(tc, test_superseded_join);
    tcase_add_test(tc, test_describe_list_delete);
    tcase_add_test(tc, test_registry_tick_and_deadline);
    tcase_add_test(tc, test_state_survives_restart);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
