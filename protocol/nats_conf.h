/* nats_conf.h: a recursive-descent parser of nats-server's configuration syntax into a tree, so
 * Sluice reads a nats-server file as it is (Debian packages no parser for this format). The
 * syntax, as nats-server 2.9.10 reads it:
 *
 *   - The file is a map without braces. A map entry is a key, an optional '=' or ':' (or only
 *     whitespace), and a value; entries end at a newline, ',' or ';'. Two values on one line
 *     without a separator are an error, as in nats-server.
 *   - Keys are bare words or quoted ("..." or '...').
 *   - Values: a map "{ ... }", an array "[ a, b ]" (items separated by ',' or newlines), a
 *     double-quoted string (escapes \" \\ \n \t \r \/), a single-quoted string (raw), or a bare
 *     word, which ends at whitespace, ',', ';', '}' or ']'. Every scalar stays a string here:
 *     the reader of a key decides what a number, size or duration is.
 *   - Comments: '#' or '//' where a token could start, to the end of the line.
 *   - Refused with a clear error: "include" (put the settings in one file) and bare values
 *     starting with '$' (variables; quote the value if it is a literal, like a bcrypt hash).
 *
 * Pure: no I/O. Nesting is bounded (NATS_CONF_DEPTH_MAX) so hostile input cannot exhaust the
 * stack. Errors carry the 1-based line they were found on. */
#ifndef SL_NATS_CONF_H
#define SL_NATS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NATS_CONF_DEPTH_MAX 32

enum nats_conf_type { NATS_CONF_STRING, NATS_CONF_MAP, NATS_CONF_ARRAY };

struct nats_conf_node {
    enum nats_conf_type type;
    uint32_t line;                 /* where the value starts */
    char *key;                     /* a map entry's key; NULL for array items and the root */
    char *str;                     /* NATS_CONF_STRING: the value, unescaped, NUL-terminated */
    size_t str_len;
    bool quoted;
    struct nats_conf_node *child;  /* a map's entries or an array's items, in file order */
    struct nats_conf_node *next;   /* the next sibling */
};

/* Parses text (len bytes, need not be NUL-terminated) into *root, a NATS_CONF_MAP. Returns 0,
 * or -1 with *err_line set and a message in err ("port: empty value"); nothing to free then. */
int nats_conf_parse(const char *text, size_t len, struct nats_conf_node **root, uint32_t *err_line, char *err,
                    size_t err_len);
void nats_conf_free(struct nats_conf_node *n);

/* The last entry of map named key (case-insensitive, as nats-server's keys), or NULL. */
const struct nats_conf_node *nats_conf_get(const struct nats_conf_node *map, const char *key);

#endif
