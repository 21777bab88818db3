/* kafka_acl.c: `sluice acl list|create|delete`: Kafka ACLs with librdkafka's Admin API
 * (DescribeAcls, CreateAcls, DeleteAcls), as kafka-acls.sh and `rpk acl` manage them. With an
 * authorizer the broker wants a principal allowed to (a super user): SASL comes from
 * --kafka-config. librdkafka 2.0.2 knows the resource types topic, group and cluster (its
 * "BROKER", Kafka's code 4), not transactional ids: those are listed but cannot be named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kafka.h"

static const char acl_help[] =
    "usage: sluice acl list [FILTER]\n"
    "       sluice acl create --principal User:NAME --operation OP... --resource-type T --resource-name N\n"
    "                         [--pattern literal|prefixed] [--host H] [--permission allow|deny]\n"
    "       sluice acl delete FILTER\n"
    "\n"
    "Kafka ACLs (the broker needs an authorizer: Sluice's kafka_authorizer). FILTER is any of\n"
    "--resource-type, --resource-name, --pattern (also match, any), --principal, --host,\n"
    "--operation, --permission (also any); what is not given matches everything. delete needs at\n"
    "least one of --resource-type, --resource-name, --principal, and prints what it removed.\n"
    "\n"
    "  --resource-type T     topic, group, cluster (the resource named kafka-cluster), any\n"
    "  --operation OP        all, read, write, create, delete, alter, describe, cluster_action,\n"
    "                        describe_configs, alter_configs, idempotent_write (create: repeatable)\n"
    "  --host H              the client's IP, or * (default *)\n"
    "  --permission P        allow (create's default) or deny\n"
    "  --kafka-config K=V    e.g. security.protocol=SASL_PLAINTEXT sasl.mechanisms=SCRAM-SHA-512 ...\n"
    "\n"
    "Examples:\n"
    "  sluice acl create --principal User:alice --operation read --operation describe \\\n"
    "         --resource-type topic --resource-name orders\n"
    "  sluice acl list --principal User:alice --json\n"
    "  sluice acl delete --resource-type topic --resource-name logs. --pattern prefixed\n";

struct acl_flags {
    int restype, pattern, permission;
    int ops[16];
    int nops;
    const char *name, *principal, *host;
    bool filtered; /* a resource type, name or principal was given */
};

static int name_index(const char *s, const char *const *names, const int *values, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(s, names[i])) return values[i];
    return -1;
}

static int parse_restype(const char *s)
{
    static const char *const n[] = {"any", "topic", "group", "cluster"};
    static const int v[] = {RD_KAFKA_RESOURCE_ANY, RD_KAFKA_RESOURCE_TOPIC, RD_KAFKA_RESOURCE_GROUP,
                            RD_KAFKA_RESOURCE_BROKER};
    return name_index(s, n, v, 4);
}

static int parse_pattern(const char *s)
{
    static const char *const n[] = {"any", "match", "literal", "prefixed"};
    static const int v[] = {RD_KAFKA_RESOURCE_PATTERN_ANY, RD_KAFKA_RESOURCE_PATTERN_MATCH,
                            RD_KAFKA_RESOURCE_PATTERN_LITERAL, RD_KAFKA_RESOURCE_PATTERN_PREFIXED};
    return name_index(s, n, v, 4);
}

static int parse_operation(const char *s)
{
    static const char *const n[] = {"any", "all", "read", "write", "create", "delete", "alter", "describe",
                                    "cluster_action", "describe_configs", "alter_configs", "idempotent_write"};
    static const int v[] = {RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_OPERATION_ALL, RD_KAFKA_ACL_OPERATION_READ,
                            RD_KAFKA_ACL_OPERATION_WRITE, RD_KAFKA_ACL_OPERATION_CREATE, RD_KAFKA_ACL_OPERATION_DELETE,
                            RD_KAFKA_ACL_OPERATION_ALTER, RD_KAFKA_ACL_OPERATION_DESCRIBE,
                            RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION, RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
                            RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS, RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE};
    return name_index(s, n, v, 12);
}

static int parse_permission(const char *s)
{
    static const char *const n[] = {"any", "allow", "deny"};
    static const int v[] = {RD_KAFKA_ACL_PERMISSION_TYPE_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
                            RD_KAFKA_ACL_PERMISSION_TYPE_DENY};
    return name_index(s, n, v, 3);
}

/* Kafka's names in lower case, as kafka-acls.sh's flags spell them. */
static const char *restype_name(int t)
{
    switch (t) {
    case RD_KAFKA_RESOURCE_TOPIC: return "topic";
    case RD_KAFKA_RESOURCE_GROUP: return "group";
    case RD_KAFKA_RESOURCE_BROKER: return "cluster";
    case 5: return "transactional-id"; /* Kafka's code; librdkafka 2.0.2 has no name for it */
    default: return "unknown";
    }
}

static char *lower(const char *s)
{
    static char ring[8][32];
    static int next;
    char *b = ring[next++ & 7];
    size_t i = 0;
    for (; s && s[i] && i + 1 < sizeof ring[0]; i++) b[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    b[i] = 0;
    return b;
}

static void acl_print(const struct cli *c, const rd_kafka_AclBinding_t **acls, size_t n)
{
    if (c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack(
                "{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "resource_type", restype_name(rd_kafka_AclBinding_restype(acls[i])),
                "resource_name", rd_kafka_AclBinding_name(acls[i]),
                "pattern", lower(rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(acls[i]))),
                "principal", rd_kafka_AclBinding_principal(acls[i]), "host", rd_kafka_AclBinding_host(acls[i]),
                "operation", lower(rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(acls[i]))),
                "permission", lower(rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(acls[i])))));
        json_print(arr);
        return;
    }
    static const char *const header[] = {"TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"};
    struct table t;
    table_init(&t, 7, header);
    for (size_t i = 0; i < n; i++)
        table_add(&t, restype_name(rd_kafka_AclBinding_restype(acls[i])), rd_kafka_AclBinding_name(acls[i]),
                  lower(rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(acls[i]))),
                  rd_kafka_AclBinding_principal(acls[i]), rd_kafka_AclBinding_host(acls[i]),
                  lower(rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(acls[i]))),
                  lower(rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(acls[i]))));
    table_print(&t);
    table_free(&t);
}

/* The event's error, reported; EXIT_OK if none. */
static int acl_event_error(struct kafka *k, rd_kafka_event_t *ev, const char *what)
{
    if (!ev) return kcli_fail(k, RD_KAFKA_RESP_ERR__TIMED_OUT, what, NULL);
    rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
    return err ? kcli_fail(k, err, what, rd_kafka_event_error_string(ev)) : EXIT_OK;
}

static rd_kafka_AclBindingFilter_t *acl_filter(const struct acl_flags *f, int op, char *err, size_t cap)
{
    return rd_kafka_AclBindingFilter_new(f->restype, f->name, f->pattern, f->principal, f->host, op, f->permission, err,
                                         cap);
}

static int acl_create(struct kafka *k, const struct acl_flags *f)
{
    if (!f->principal || !f->name || f->restype == RD_KAFKA_RESOURCE_ANY || !f->nops)
        return cli_fail(EXIT_USAGE, "acl create: --principal, --operation, --resource-type and --resource-name are needed");
    int pattern = f->pattern == RD_KAFKA_RESOURCE_PATTERN_ANY ? RD_KAFKA_RESOURCE_PATTERN_LITERAL : f->pattern;
    int perm = f->permission == RD_KAFKA_ACL_PERMISSION_TYPE_ANY ? RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW : f->permission;
    rd_kafka_AclBinding_t *b[16];
    char err[512];
    for (int i = 0; i < f->nops; i++) {
        b[i] = rd_kafka_AclBinding_new(f->restype, f->name, pattern, f->principal, f->host ? f->host : "*", f->ops[i],
                                       perm, err, sizeof err);
        if (!b[i]) {
            rd_kafka_AclBinding_destroy_array(b, (size_t)i);
            return cli_fail(EXIT_USAGE, "acl create: %s", err);
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_CREATEACLS);
    rd_kafka_CreateAcls(k->rk, b, (size_t)f->nops, o, q);
    rd_kafka_event_t *ev = kafka_admin_wait(k, q);
    int rc = acl_event_error(k, ev, "acl create");
    if (!rc) {
        size_t n = 0;
        const rd_kafka_acl_result_t **res = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
        for (size_t i = 0; i < n && !rc; i++) {
            const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);
            if (e) rc = kcli_fail(k, rd_kafka_error_code(e), "acl create", rd_kafka_error_string(e));
        }
    }
    if (!rc) acl_print(k->cli, (const rd_kafka_AclBinding_t **)b, (size_t)f->nops);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_AclBinding_destroy_array(b, (size_t)f->nops);
    return rc;
}

/* DescribeAcls with the filter; *ev holds the result (destroy it), *acls and *n point into it. */
static int acl_describe(struct kafka *k, rd_kafka_AclBindingFilter_t *flt, const char *what, rd_kafka_event_t **ev,
                        const rd_kafka_AclBinding_t ***acls, size_t *n)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
    rd_kafka_DescribeAcls(k->rk, flt, o, q);
    *ev = kafka_admin_wait(k, q);
    int rc = acl_event_error(k, *ev, what);
    *n = 0;
    if (!rc) *acls = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(*ev), n);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int acl_list(struct kafka *k, const struct acl_flags *f)
{
    char err[512];
    rd_kafka_AclBindingFilter_t *flt = acl_filter(f, f->nops ? f->ops[0] : RD_KAFKA_ACL_OPERATION_ANY, err, sizeof err);
    if (!flt) return cli_fail(EXIT_USAGE, "acl list: %s", err);
    rd_kafka_event_t *ev;
    const rd_kafka_AclBinding_t **acls = NULL;
    size_t n;
    int rc = acl_describe(k, flt, "acl list", &ev, &acls, &n);
    if (!rc) acl_print(k->cli, acls, n);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AclBinding_destroy(flt);
    return rc;
}

static int acl_delete(struct kafka *k, const struct acl_flags *f)
{
    if (!f->filtered) return cli_fail(EXIT_USAGE, "acl delete: give --resource-type, --resource-name or --principal");
    char err[512];
    rd_kafka_AclBindingFilter_t *flt = acl_filter(f, f->nops ? f->ops[0] : RD_KAFKA_ACL_OPERATION_ANY, err, sizeof err);
    if (!flt) return cli_fail(EXIT_USAGE, "acl delete: %s", err);
    /* librdkafka 2.0.2 hands back no matching ACLs in a DeleteAcls result (kafka-python shows
     * them from the same broker), so what the filter matches is described first: a filter
     * means the same to both requests. */
    rd_kafka_event_t *dev;
    const rd_kafka_AclBinding_t **before = NULL;
    size_t nbefore;
    int rc = acl_describe(k, flt, "acl delete", &dev, &before, &nbefore);
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_AdminOptions_t *o = kafka_admin_options(k, RD_KAFKA_ADMIN_OP_DELETEACLS);
    rd_kafka_event_t *ev = NULL;
    if (!rc) {
        rd_kafka_DeleteAcls(k->rk, &flt, 1, o, q);
        ev = kafka_admin_wait(k, q);
        rc = acl_event_error(k, ev, "acl delete");
    }
    if (!rc) {
        size_t n = 0, m = 0;
        const rd_kafka_DeleteAcls_result_response_t **res =
            rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &n);
        const rd_kafka_error_t *e = n ? rd_kafka_DeleteAcls_result_response_error(res[0]) : NULL;
        const rd_kafka_AclBinding_t **gone = n ? rd_kafka_DeleteAcls_result_response_matching_acls(res[0], &m) : NULL;
        if (e) rc = kcli_fail(k, rd_kafka_error_code(e), "acl delete", rd_kafka_error_string(e));
        else if (m) acl_print(k->cli, gone, m);
        else acl_print(k->cli, before, nbefore);
    }
    if (ev) rd_kafka_event_destroy(ev);
    if (dev) rd_kafka_event_destroy(dev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_AclBinding_destroy(flt);
    return rc;
}

int cmd_acl(struct cli *c, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(acl_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *verb = argv[1];
    static const struct option opts[] = {
        {"resource-type", required_argument, NULL, 't'}, {"resource-name", required_argument, NULL, 'n'},
        {"pattern", required_argument, NULL, 'P'},       {"principal", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},          {"operation", required_argument, NULL, 'o'},
        {"permission", required_argument, NULL, 'a'},    {0},
    };
    struct acl_flags f = {RD_KAFKA_RESOURCE_ANY, RD_KAFKA_RESOURCE_PATTERN_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
                          {0}, 0, NULL, NULL, NULL, false};
    int rc = EXIT_OK, opt, v;
    while (!rc && (opt = cli_getopt(c, argc - 1, argv + 1, "h", opts)) != -1) {
        switch (opt) {
        case 't':
            if ((v = parse_restype(optarg)) < 0) rc = cli_fail(EXIT_USAGE, "--resource-type: unknown '%s'", optarg);
            f.restype = v;
            f.filtered = true;
            break;
        case 'n': f.name = optarg; f.filtered = true; break;
        case 'p': f.principal = optarg; f.filtered = true; break;
        case 'H': f.host = optarg; break;
        case 'P':
            if ((v = parse_pattern(optarg)) < 0) rc = cli_fail(EXIT_USAGE, "--pattern: unknown '%s'", optarg);
            f.pattern = v;
            break;
        case 'a':
            if ((v = parse_permission(optarg)) < 0) rc = cli_fail(EXIT_USAGE, "--permission: unknown '%s'", optarg);
            f.permission = v;
            break;
        case 'o':
            if ((v = parse_operation(optarg)) < 0) rc = cli_fail(EXIT_USAGE, "--operation: unknown '%s'", optarg);
            else if (f.nops == 16) rc = cli_fail(EXIT_USAGE, "--operation: at most 16");
            else f.ops[f.nops++] = v;
            break;
        case 'h': case OPT_HELP: fputs(acl_help, stdout); return EXIT_OK;
        default: rc = EXIT_USAGE; fputs(acl_help, stderr); break;
        }
    }
    if (rc) return rc;
    if (argc - 1 - optind > 0) return cli_fail(EXIT_USAGE, "acl %s: unexpected argument '%s'", verb, argv[1 + optind]);
    if (strcmp(verb, "create") && f.nops > 1) return cli_fail(EXIT_USAGE, "acl %s: one --operation at most", verb);
    if (strcmp(verb, "list") && strcmp(verb, "create") && strcmp(verb, "delete"))
        return cli_fail(EXIT_USAGE, "acl: unknown verb '%s' (list, create, delete)", verb);
    struct kafka k = {0};
    rc = kafka_open(&k, c, RD_KAFKA_PRODUCER, NULL);
    if (!rc) {
        if (!strcmp(verb, "list")) rc = acl_list(&k, &f);
        else if (!strcmp(verb, "create")) rc = acl_create(&k, &f);
        else rc = acl_delete(&k, &f);
    }
    return kafka_close(&k, rc);
}
