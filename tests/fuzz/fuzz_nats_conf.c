/* fuzz_nats_conf.c: nats-server's config syntax (protocol/nats_conf.c) and the users and
 * permissions read from it (broker/nats/nats_auth.c). Any input either parses into a tree whose
 * every node is well formed (a string is NUL-terminated at its length, map entries have keys,
 * nesting within NATS_CONF_DEPTH_MAX) or fails with a line inside the input and a message; an
 * authorization block in the tree is read into users or refused with a message, and the
 * permission checks answer for a few subjects without crashing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/nats/nats_auth.h"
#include "protocol/nats_conf.h"

static void finding(const char *what) {
    fprintf(stderr, "fuzz_nats_conf: %s\n", what);
    abort();
}

static void walk(const struct nats_conf_node *n, bool in_map, int depth) {
    if (depth > NATS_CONF_DEPTH_MAX + 1) finding("nesting past NATS_CONF_DEPTH_MAX");
    for (; n; n = n->next) {
        if (in_map != (n->key != NULL)) finding("a map entry without a key, or an array item with one");
        if (n->type == NATS_CONF_STRING) {
            if (!n->str || strlen(n->str) > n->str_len) finding("string longer than its length");
            if (n->child) finding("a string with children");
        } else {
            walk(n->child, n->type == NATS_CONF_MAP, depth + 1);
        }
    }
}

static uint32_t count_lines(const uint8_t *d, size_t n) {
    uint32_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += d[i] == '\n';
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct nats_conf_node *root = NULL;
    uint32_t line = 0;
    char err[512];
    err[0] = 0;
    if (nats_conf_parse((const char *)data, size, &root, &line, err, sizeof(err)) != 0) {
        if (!err[0] || line == 0 || line > count_lines(data, size)) finding("a failure without a message or line");
        return 0;
    }
    if (!root || root->type != NATS_CONF_MAP) finding("the root is not a map");
    walk(root->child, true, 1);
    const struct nats_conf_node *authz = nats_conf_get(root, "authorization");
    if (authz && authz->type == NATS_CONF_MAP) {
        struct nats_auth *a = NULL;
        err[0] = 0;
        if (nats_auth_from_conf(authz, &a, &line, err, sizeof(err)) != 0) {
            if (!err[0] || a) finding("users refused without a message");
        } else if (a) {
            static const char *const subjects[] = {"a", "a.b", "orders.new", "$JS.API.INFO", "q.x.y"};
            for (uint32_t i = 0; i < a->user_count; i++)
                for (size_t s = 0; s < sizeof(subjects) / sizeof(subjects[0]); s++) {
                    size_t len = strlen(subjects[s]);
                    (void)nats_perms_pub_ok(a->users[i].perms, subjects[s], len);
                    (void)nats_perms_sub_ok(a->users[i].perms, subjects[s], len, "workers", 7);
                    (void)nats_perms_deliver_ok(a->users[i].perms, subjects[s], len);
                }
            nats_auth_free(a);
        }
    }
    nats_conf_free(root);
    return 0;
}
