/* admin_user.c: `sluice user list|create|delete`: Kafka SCRAM credentials through the broker's
 * admin HTTP API on its monitoring port (Redpanda's /v1/security/users, as `rpk acl user`
 * drives it), with libcurl. librdkafka 2.0.2 has no UserScramCredentials admin calls (2.2 has),
 * so this is the CLI's way to them. The password goes only into the request body: never printed,
 * and wiped from memory once sent. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

static const char user_help[] =
    "usage: sluice user list\n"
    "       sluice user create NAME (--password PW | --password-stdin) [--mechanism M] [--iterations N]\n"
    "       sluice user delete NAME [--mechanism M]\n"
    "\n"
    "Kafka SCRAM credentials, through the broker's admin HTTP API (its monitoring port, --admin).\n"
    "create stores the credential of one mechanism, replacing the user's old one of that mechanism\n"
    "(so it also changes a password); delete removes every mechanism of the user, or one.\n"
    "\n"
    "  --password PW         the password (visible to other users of this machine: prefer stdin)\n"
    "  --password-stdin      read the password from the first line of stdin\n"
    "  --mechanism M         SCRAM-SHA-256 (default) or SCRAM-SHA-512\n"
    "  --iterations N        PBKDF2 iterations, 4096 (default) to 16384\n"
    "  --admin URL, --admin-token T, --admin-tlscacert/--admin-tlscert/--admin-tlskey FILE\n"
    "                        where the admin API is and how to reach it (see sluice --help)\n"
    "\n"
    "Examples:\n"
    "  echo \"$PW\" | sluice user create alice --password-stdin --mechanism SCRAM-SHA-512\n"
    "  sluice --admin https://broker:8443 --admin-tlscacert ca.pem --admin-tlscert me.pem \\\n"
    "         --admin-tlskey me.key user list\n"
    "  SLUICE_ADMIN_TOKEN=... sluice user delete alice --mechanism SCRAM-SHA-256\n";

static int user_list(const struct cli *c)
{
    json_t *j;
    int rc = admin_call(c, "GET", "/v1/security/users", NULL, &j);
    if (rc) return rc;
    if (!json_is_array(j)) {
        json_decref(j);
        return cli_fail(EXIT_SERVER, "admin: the user list is not a JSON array");
    }
    if (c->json) {
        json_print(j);
        return EXIT_OK;
    }
    static const char *const header[] = {"USER", "MECHANISM", "ITERATIONS"};
    struct table t;
    table_init(&t, 3, header);
    size_t i, k;
    json_t *u, *m;
    json_array_foreach(j, i, u) {
        const char *name = json_string_value(json_object_get(u, "username"));
        json_array_foreach(json_object_get(u, "mechanisms"), k, m)
            table_add(&t, name, json_string_value(json_object_get(m, "algorithm")),
                      fmt_i64(json_integer_value(json_object_get(m, "iterations"))));
    }
    table_print(&t);
    table_free(&t);
    json_decref(j);
    return EXIT_OK;
}

/* The first line of stdin, without its line end; NULL if there is none. */
static char *read_password_line(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

static int user_create(const struct cli *c, const char *name, const char *password, const char *mech,
                       int64_t iterations)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "username", name, "password", password, "algorithm", mech);
    if (!o) return cli_fail(EXIT_USAGE, "user create: the name and password must be UTF-8");
    if (iterations) json_object_set_new(o, "iterations", json_integer(iterations));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    json_t *j;
    int rc = admin_call(c, "POST", "/v1/security/users", body, &j);
    memset(body, 0, strlen(body));
    free(body);
    if (rc) return rc;
    if (c->json) {
        json_print(j);
        return EXIT_OK;
    }
    printf("%s user %s (%s, %lld iterations)\n", json_is_true(json_object_get(j, "created")) ? "created" : "updated",
           name, mech, (long long)json_integer_value(json_object_get(j, "iterations")));
    json_decref(j);
    return EXIT_OK;
}

static int user_delete(const struct cli *c, const char *name, const char *mech)
{
    char *esc = curl_easy_escape(NULL, name, (int)strlen(name));
    if (!esc) return cli_fail(EXIT_SERVER, "user delete: cannot encode the name");
    char path[2048];
    int n = snprintf(path, sizeof path, "/v1/security/users/%s%s%s", esc, mech ? "?algorithm=" : "", mech ? mech : "");
    curl_free(esc);
    if (n >= (int)sizeof path) return cli_fail(EXIT_USAGE, "user delete: the name is too long");
    json_t *j;
    int rc = admin_call(c, "DELETE", path, NULL, &j);
    if (rc) return rc;
    if (c->json) {
        json_print(j);
        return EXIT_OK;
    }
    printf("deleted user %s (", name);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "deleted"), i, m) printf("%s%s", i ? ", " : "", json_string_value(m));
    printf(")\n");
    json_decref(j);
    return EXIT_OK;
}

int cmd_user(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(user_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, 'P'},
        {"mechanism", required_argument, NULL, 'm'},
        {"iterations", required_argument, NULL, 'i'},
        {0},
    };
    const char *password = NULL, *mech = NULL;
    bool from_stdin = false;
    int64_t iterations = 0;
    int rc = EXIT_OK, opt;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "h", opts)) != -1) {
        switch (opt) {
        case 'p': password = optarg; break;
        case 'P': from_stdin = true; break;
        case 'm':
            if (strcmp(optarg, "SCRAM-SHA-256") && strcmp(optarg, "SCRAM-SHA-512"))
                rc = cli_fail(EXIT_USAGE, "--mechanism wants SCRAM-SHA-256 or SCRAM-SHA-512, got '%s'", optarg);
            mech = optarg;
            break;
        case 'i':
            if (!cli_parse_i64(optarg, &iterations) || iterations < 4096 || iterations > 16384)
                rc = cli_fail(EXIT_USAGE, "--iterations wants 4096 to 16384, got '%s'", optarg);
            break;
        case 'h': case OPT_HELP: fputs(user_help, stdout); return EXIT_OK;
        default: rc = EXIT_USAGE; fputs(user_help, stderr); break;
        }
    }
    if (rc) return rc;
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    bool list = !strcmp(verb, "list");
    if (!list && strcmp(verb, "create") && strcmp(verb, "delete")) {
        fputs(user_help, stderr);
        return cli_fail(EXIT_USAGE, "user: unknown verb '%s' (list, create, delete)", verb);
    }
    if (npos != (list ? 0 : 1))
        return cli_fail(EXIT_USAGE, list ? "user list: no arguments" : "user %s: one user name is needed", verb);
    if (!list && !*pos[0]) return cli_fail(EXIT_USAGE, "user %s: the user name is empty", verb);
    if (strcmp(verb, "create") && (password || from_stdin || iterations))
        return cli_fail(EXIT_USAGE, "user %s: --password, --password-stdin and --iterations are for create", verb);
    if (list && mech) return cli_fail(EXIT_USAGE, "user list: --mechanism is for create and delete");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (list) rc = user_list(c);
    else if (!strcmp(verb, "delete")) rc = user_delete(c, pos[0], mech);
    else if (!password == !from_stdin)
        rc = cli_fail(EXIT_USAGE, "user create: give one of --password or --password-stdin");
    else {
        char *line = from_stdin ? read_password_line() : NULL;
        if (from_stdin && (!line || !*line)) rc = cli_fail(EXIT_USAGE, "user create: no password on stdin");
        else rc = user_create(c, pos[0], from_stdin ? line : password, mech ? mech : "SCRAM-SHA-256", iterations);
        if (line) memset(line, 0, strlen(line));
        free(line);
    }
    curl_global_cleanup();
    return rc;
}
