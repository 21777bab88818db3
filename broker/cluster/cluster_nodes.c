/* cluster_nodes.c: see cluster_nodes.h. */
#include "broker/cluster/cluster_nodes.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* An item quoted in a message is cut at this many bytes. */
#define SL_MIN_LEN(len) ((len) < 80 ? (len) : 80)

static int nodes_fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* A decimal number in s[0..len) within 1..max, no sign, no leading zeros beyond "0". */
static bool parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out) {
    if (len == 0 || len > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v == 0 || v > max) return false;
    *out = v;
    return true;
}

int cluster_addr_check(const char *addr, uint16_t *port, char *err, size_t err_len) {
    size_t len = strlen(addr);
    if (len == 0) return nodes_fail(err, err_len, "empty address");
    if (len >= CLUSTER_ADDR_MAX)
        return nodes_fail(err, err_len, "address '%.20s...' is longer than %d bytes", addr, CLUSTER_ADDR_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)addr[i] <= ' ' || addr[i] == ',' || addr[i] == '@' || (unsigned char)addr[i] >= 0x7f)
            return nodes_fail(err, err_len, "address '%s' holds a space or a character not allowed", addr);
    const char *colon = strrchr(addr, ':');
    if (!colon) return nodes_fail(err, err_len, "address '%s' has no ':port'", addr);
    if (colon == addr) return nodes_fail(err, err_len, "address '%s' has no host", addr);
    uint64_t p;
    if (!parse_decimal(colon + 1, strlen(colon + 1), 65535, &p))
        return nodes_fail(err, err_len, "address '%s': the port is not a number in 1..65535", addr);
    if (port) *port = (uint16_t)p;
    return 0;
}

/* One "id@host:port" item, s[0..len). */
static int parse_item(const char *s, size_t len, struct cluster_node *out, char *err, size_t err_len) {
    if (len == 0) return nodes_fail(err, err_len, "an empty item (two commas, or one at an end)");
    const char *at = memchr(s, '@', len);
    if (!at) return nodes_fail(err, err_len, "'%.*s' is not id@host:port (no '@')", (int)SL_MIN_LEN(len), s);
    uint64_t id;
    if (!parse_decimal(s, (size_t)(at - s), UINT32_MAX, &id))
        return nodes_fail(err, err_len, "'%.*s': the node id is not a number in 1..4294967295", (int)SL_MIN_LEN(len), s);
    size_t alen = len - (size_t)(at + 1 - s);
    if (alen >= CLUSTER_ADDR_MAX)
        return nodes_fail(err, err_len, "'%.*s': the address is longer than %d bytes", (int)SL_MIN_LEN(len), s,
                          CLUSTER_ADDR_MAX - 1);
    memcpy(out->address, at + 1, alen);
    out->address[alen] = '\0';
    out->id = (uint32_t)id;
    char why[160];
    if (cluster_addr_check(out->address, NULL, why, sizeof(why)) != 0)
        return nodes_fail(err, err_len, "node %u: %s", out->id, why);
    return 0;
}

int cluster_nodes_parse(const char *text, struct cluster_nodes *out, char *err, size_t err_len) {
    memset(out, 0, sizeof(*out));
    if (!text[0]) return nodes_fail(err, err_len, "empty list");
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (out->count == CLUSTER_NODES_MAX)
            return nodes_fail(err, err_len, "more than %d nodes", CLUSTER_NODES_MAX);
        struct cluster_node *n = &out->nodes[out->count];
        if (parse_item(p, len, n, err, err_len) != 0) return -1;
        for (uint32_t i = 0; i < out->count; i++) {
            if (out->nodes[i].id == n->id) return nodes_fail(err, err_len, "node id %u is named twice", n->id);
            if (!strcmp(out->nodes[i].address, n->address))
                return nodes_fail(err, err_len, "address %s is named twice (nodes %u and %u)", n->address,
                                  out->nodes[i].id, n->id);
        }
        out->count++;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

const struct cluster_node *cluster_nodes_find(const struct cluster_nodes *n, uint32_t id) {
    for (uint32_t i = 0; i < n->count; i++)
        if (n->nodes[i].id == id) return &n->nodes[i];
    return NULL;
}
