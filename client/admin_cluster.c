/* admin_cluster.c: `sluice cluster status|add|remove|transfer`: the Raft group of a Sluice
 * cluster through the broker's admin HTTP API on its monitoring port (GET /clusterz,
 * POST /v1/cluster/nodes, DELETE /v1/cluster/nodes/<id>, POST /v1/cluster/leader/transfer),
 * with libcurl as `sluice user`. A change must run on the leader: a follower answers 421 with
 * the leader's id and Raft address, and the CLI then reads the leader's registration (its
 * monitoring host:port) from the follower's /clusterz and sends the change there, once. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"

static const char cluster_help[] =
    "usage: sluice cluster status\n"
    "       sluice cluster add ID HOST:PORT\n"
    "       sluice cluster remove ID\n"
    "       sluice cluster transfer [ID]\n"
    "\n"
    "The Raft group of a Sluice cluster, through the broker's admin HTTP API (its monitoring port,\n"
    "--admin). status prints the node's view: its state, the leader, the term, the commit index,\n"
    "the servers (ID, Raft ADDRESS, ROLE) and the registered brokers (ID, KAFKA, NATS, HTTP);\n"
    "--json prints /clusterz as the broker answers it. add makes node ID, reached at the Raft\n"
    "address HOST:PORT (its cluster_raft_addr), a voter; remove takes it out of the configuration;\n"
    "transfer moves the leadership to node ID, or to any other voter, and prints the new leader.\n"
    "Changes run on the leader: sent to a follower, they go to the leader's monitoring port as it\n"
    "registered it (same scheme as --admin), once.\n"
    "\n"
    "  --admin URL, --admin-token T, --admin-tlscacert/--admin-tlscert/--admin-tlskey FILE\n"
    "                        where the admin API is and how to reach it (see sluice --help)\n"
    "\n"
    "Examples:\n"
    "  sluice --admin http://broker1:8222 cluster status\n"
    "  SLUICE_ADMIN_TOKEN=... sluice cluster add 4 broker4:7004\n"
    "  sluice cluster transfer 2 --json\n"
    "  sluice cluster remove 4\n";

/* A node id: 1..2^32-1, digits only. */
static bool parse_node_id(const char *s, int64_t *out)
{
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return false;
    return cli_parse_i64(s, out) && *out >= 1 && *out <= 4294967295LL && strlen(s) <= 10;
}

/* The leader's admin URL: its registration in the /clusterz of the node --admin names, with
 * --admin's scheme. Returns an exit code. */
static int leader_url(const struct cli *c, json_int_t leader_id, const char *why, char *url, size_t cap)
{
    json_t *z;
    int rc = admin_call(c, "GET", "/clusterz", NULL, &z);
    if (rc) return rc;
    const char *http = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(z, "brokers"), i, r)
        if (json_integer_value(json_object_get(r, "id")) == leader_id)
            http = json_string_value(json_object_get(r, "http"));
    json_int_t asked = json_integer_value(json_object_get(z, "node_id"));
    if (!http || !*http) {
        rc = cli_fail(EXIT_SERVER,
                      "cluster: node %lld is not the leader (%s), and the leader, node %lld, has not registered its "
                      "monitoring port: send the change to it with --admin",
                      (long long)asked, why, (long long)leader_id);
    } else {
        bool tls = !strncasecmp(c->admin, "https://", 8);
        if (snprintf(url, cap, "%s://%s", tls ? "https" : "http", http) >= (int)cap)
            rc = cli_fail(EXIT_SERVER, "cluster: the leader's address is too long: %.64s...", http);
        else
            fprintf(stderr, "node %lld is not the leader: sending to the leader, node %lld at %s\n", (long long)asked,
                    (long long)leader_id, url);
    }
    json_decref(z);
    return rc;
}

/* A change (method on path, with body): to --admin, and when that node is a follower (421),
 * once more to the leader it names. Returns an exit code; on EXIT_OK *out is the answer. */
static int cluster_change(const struct cli *c, const char *method, const char *path, const char *body, json_t **out)
{
    long status;
    json_t *j;
    int rc = admin_call_at(c, NULL, method, path, body, 421, &status, &j);
    if (rc == EXIT_OK || status != 421) {
        *out = j;
        return rc;
    }
    json_int_t lid = json_integer_value(json_object_get(j, "leader_id"));
    const char *why = json_string_value(json_object_get(j, "error"));
    char msg[256];
    snprintf(msg, sizeof msg, "%s", why ? why : "HTTP 421");
    json_decref(j);
    if (lid <= 0)
        return cli_fail(EXIT_SERVER, "cluster: %s %s: no leader is known (%s): try again once one is elected", method,
                        path, msg);
    char url[1024];
    rc = leader_url(c, lid, msg, url, sizeof url);
    if (rc) return rc;
    rc = admin_call_at(c, url, method, path, body, 421, &status, &j);
    if (rc == EXIT_OK || status != 421) {
        *out = j;
        return rc;
    }
    json_int_t now = json_integer_value(json_object_get(j, "leader_id"));
    json_decref(j);
    return cli_fail(EXIT_SERVER, "cluster: node %lld at %s is not the leader either (it names %lld): the leadership "
                    "is moving, try again", (long long)lid, url, (long long)now);
}

static int cluster_status(const struct cli *c)
{
    json_t *z;
    int rc = admin_call(c, "GET", "/clusterz", NULL, &z);
    if (rc) return rc;
    if (!json_is_object(z)) {
        json_decref(z);
        return cli_fail(EXIT_SERVER, "admin: /clusterz is not a JSON object");
    }
    if (c->json) {
        json_print(z);
        return EXIT_OK;
    }
    json_int_t lid = json_integer_value(json_object_get(z, "leader_id"));
    const char *laddr = json_string_value(json_object_get(z, "leader_address"));
    printf("Node: %lld  State: %s  Leader: ", (long long)json_integer_value(json_object_get(z, "node_id")),
           json_string_value(json_object_get(z, "state")) ? json_string_value(json_object_get(z, "state")) : "-");
    if (lid) printf("%lld (%s)\n", (long long)lid, laddr && *laddr ? laddr : "-");
    else printf("none\n");
    printf("Term: %lld  Commit index: %lld  Last applied: %lld  Elections: %lld\n\n",
           (long long)json_integer_value(json_object_get(z, "term")),
           (long long)json_integer_value(json_object_get(z, "commit_index")),
           (long long)json_integer_value(json_object_get(z, "last_applied")),
           (long long)json_integer_value(json_object_get(z, "elections")));
    size_t i;
    json_t *r;
    static const char *const sh[] = {"ID", "ADDRESS", "ROLE"};
    struct table t;
    table_init(&t, 3, sh);
    json_array_foreach(json_object_get(z, "servers"), i, r)
        table_add(&t, fmt_i64(json_integer_value(json_object_get(r, "id"))),
                  json_string_value(json_object_get(r, "address")), json_string_value(json_object_get(r, "role")));
    printf("SERVERS\n");
    table_print(&t);
    table_free(&t);
    static const char *const bh[] = {"ID", "KAFKA", "NATS", "HTTP"};
    table_init(&t, 4, bh);
    json_array_foreach(json_object_get(z, "brokers"), i, r)
        table_add(&t, fmt_i64(json_integer_value(json_object_get(r, "id"))),
                  json_string_value(json_object_get(r, "kafka")), json_string_value(json_object_get(r, "nats")),
                  json_string_value(json_object_get(r, "http")));
    printf("\nBROKERS\n");
    table_print(&t);
    table_free(&t);
    json_decref(z);
    return EXIT_OK;
}

static int cluster_add(const struct cli *c, int64_t id, const char *address)
{
    json_t *o = json_pack("{s:I,s:s}", "id", (json_int_t)id, "address", address);
    if (!o) return cli_fail(EXIT_USAGE, "cluster add: the address must be UTF-8");
    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    json_t *j;
    int rc = cluster_change(c, "POST", "/v1/cluster/nodes", body, &j);
    free(body);
    if (rc) return rc;
    if (c->json) {
        json_print(j);
        return EXIT_OK;
    }
    const char *role = json_string_value(json_object_get(j, "role"));
    printf("added node %lld at %s as a %s\n", (long long)id, address, role ? role : "voter");
    json_decref(j);
    return EXIT_OK;
}

static int cluster_remove(const struct cli *c, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/cluster/nodes/%lld", (long long)id);
    json_t *j;
    int rc = cluster_change(c, "DELETE", path, NULL, &j);
    if (rc) return rc;
    if (c->json) {
        json_print(j);
        return EXIT_OK;
    }
    printf("removed node %lld\n", (long long)id);
    json_decref(j);
    return EXIT_OK;
}

static int cluster_transfer(const struct cli *c, int64_t id)
{
    char body[48];
    if (id) snprintf(body, sizeof body, "{\"id\":%lld}", (long long)id);
    else snprintf(body, sizeof body, "{}");
    json_t *j;
    int rc = cluster_change(c, "POST", "/v1/cluster/leader/transfer", body, &j);
    if (rc) return rc;
    if (c->json) {
        json_print(j);
        return EXIT_OK;
    }
    json_t *lid = json_object_get(j, "leader_id");
    if (json_is_integer(lid)) printf("leadership transferred to node %lld\n", (long long)json_integer_value(lid));
    else printf("leadership transferred\n");
    json_decref(j);
    return EXIT_OK;
}

int cmd_cluster(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(cluster_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {{0}};
    int rc = EXIT_OK, opt;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "h", opts)) != -1) {
        switch (opt) {
        case 'h': case OPT_HELP: fputs(cluster_help, stdout); return EXIT_OK;
        default: rc = EXIT_USAGE; fputs(cluster_help, stderr); break;
        }
    }
    if (rc) return rc;
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    int64_t id = 0;
    if (!strcmp(verb, "status")) {
        if (npos) return cli_fail(EXIT_USAGE, "cluster status: no arguments");
    } else if (!strcmp(verb, "add")) {
        if (npos != 2) return cli_fail(EXIT_USAGE, "cluster add: a node ID and its Raft address HOST:PORT are needed");
        if (!*pos[1]) return cli_fail(EXIT_USAGE, "cluster add: the address is empty");
    } else if (!strcmp(verb, "remove")) {
        if (npos != 1) return cli_fail(EXIT_USAGE, "cluster remove: one node ID is needed");
    } else if (!strcmp(verb, "transfer")) {
        if (npos > 1) return cli_fail(EXIT_USAGE, "cluster transfer: at most one node ID");
    } else {
        fputs(cluster_help, stderr);
        return cli_fail(EXIT_USAGE, "cluster: unknown verb '%s' (status, add, remove, transfer)", verb);
    }
    if (npos && strcmp(verb, "status") && !parse_node_id(pos[0], &id))
        return cli_fail(EXIT_USAGE, "cluster %s: the node ID must be an integer in 1..4294967295, got '%s'", verb,
                        pos[0]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(verb, "status")) rc = cluster_status(c);
    else if (!strcmp(verb, "add")) rc = cluster_add(c, id, pos[1]);
    else if (!strcmp(verb, "remove")) rc = cluster_remove(c, id);
    else rc = cluster_transfer(c, id);
    curl_global_cleanup();
    return rc;
}
