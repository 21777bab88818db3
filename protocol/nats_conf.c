/* nats_conf.c: nats-server's config syntax (see nats_conf.h), one function per production. */
#include "protocol/nats_conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"

struct cp {
    const char *s;
    size_t len, pos;
    uint32_t line;
    int depth;
    uint32_t *err_line;
    char *err;
    size_t err_len;
};

static int cp_fail(struct cp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cp_fail(struct cp *p, const char *fmt, ...) {
    *p->err_line = p->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int cp_peek(const struct cp *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }
static int cp_peek2(const struct cp *p) { return p->pos + 1 < p->len ? (unsigned char)p->s[p->pos + 1] : -1; }

static void cp_adv(struct cp *p) {
    if (p->pos < p->len && p->s[p->pos] == '\n') p->line++;
    p->pos++;
}

static bool cp_is_comment(const struct cp *p) { return cp_peek(p) == '#' || (cp_peek(p) == '/' && cp_peek2(p) == '/'); }

static void cp_skip_comment(struct cp *p) {
    while (p->pos < p->len && p->s[p->pos] != '\n') p->pos++;
}

static void cp_skip_blank(struct cp *p) { /* spaces and tabs on this line */
    while (cp_peek(p) == ' ' || cp_peek(p) == '\t' || cp_peek(p) == '\r') cp_adv(p);
}

/* Whitespace, newlines, comments and the given separators, between entries or items. */
static void cp_skip_between(struct cp *p, const char *seps) {
    for (;;) {
        int c = cp_peek(p);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || (c > 0 && strchr(seps, c))) cp_adv(p);
        else if (cp_is_comment(p)) cp_skip_comment(p);
        else return;
    }
}

static bool cp_at_line_end(const struct cp *p) { return cp_peek(p) < 0 || cp_peek(p) == '\n' || cp_is_comment(p); }

static bool cp_bare_char(int c, bool key) {
    if (c < 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' || c == '}' || c == ']')
        return false;
    if (key && (c == '=' || c == ':' || c == '{' || c == '[' || c == '"' || c == '\'' || c == '#')) return false;
    return true;
}

static struct nats_conf_node *cp_node(enum nats_conf_type type, uint32_t line) {
    struct nats_conf_node *n = sl_xcalloc(1, sizeof(*n));
    n->type = type;
    n->line = line;
    return n;
}

static char *cp_dup(const char *s, size_t n) {
    char *d = sl_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A quoted string at p->pos (the opening quote). Double quotes unescape; single quotes do not.
 * A string may not run past its line: an unterminated one is named at the line it starts. */
static int cp_quoted(struct cp *p, char **out, size_t *out_len, const char *what) {
    int q = cp_peek(p);
    cp_adv(p);
    char *buf = sl_xmalloc(p->len - p->pos + 1);
    size_t n = 0;
    for (;;) {
        int c = cp_peek(p);
        if (c < 0 || c == '\n') {
            free(buf);
            return cp_fail(p, "%s%sunterminated quoted value", what ? what : "", what ? ": " : "");
        }
        cp_adv(p);
        if (c == q) break;
        if (c == '\\' && q == '"') {
            int e = cp_peek(p);
            static const char from[] = "\"\\/ntr", to[] = "\"\\/\n\t\r";
            const char *at = e > 0 ? strchr(from, e) : NULL;
            if (!at) {
                free(buf);
                return cp_fail(p, "%s%sunknown escape '\\%c' in a quoted value", what ? what : "", what ? ": " : "",
                               e > 0 ? e : '?');
            }
            cp_adv(p);
            buf[n++] = to[at - from];
            continue;
        }
        buf[n++] = (char)c;
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return 0;
}

static int cp_value(struct cp *p, const char *key, struct nats_conf_node **out);

/* The body of a map up to closer ('}', or -1 for the file itself). */
static int cp_map_body(struct cp *p, struct nats_conf_node *map, int closer, const char *name, uint32_t open_line) {
    struct nats_conf_node **tail = &map->child;
    for (;;) {
        cp_skip_between(p, ",;");
        int c = cp_peek(p);
        if (c < 0) {
            if (closer < 0) return 0;
            p->line = open_line;
            return cp_fail(p, "block '%s' is not closed", name ? name : "");
        }
        if (c == '}') {
            if (closer != '}') return cp_fail(p, "'}' closes no block");
            cp_adv(p);
            return 0;
        }
        uint32_t line = p->line;
        char *key;
        size_t key_len;
        if (c == '"' || c == '\'') {
            if (cp_quoted(p, &key, &key_len, NULL) != 0) return -1;
        } else {
            size_t start = p->pos;
            while (cp_bare_char(cp_peek(p), true)) cp_adv(p);
            if (p->pos == start) return cp_fail(p, "expected 'key = value' or 'key: value'");
            key = cp_dup(p->s + start, p->pos - start);
        }
        if (!strcasecmp(key, "include")) {
            free(key);
            return cp_fail(p, "include is not supported: put the settings in this file");
        }
        cp_skip_blank(p);
        bool sep = cp_peek(p) == '=' || cp_peek(p) == ':';
        if (sep) {
            cp_adv(p);
            cp_skip_blank(p);
        }
        if (cp_at_line_end(p) || cp_peek(p) == ',' || cp_peek(p) == ';' || cp_peek(p) == '}') {
            int rc = sep ? cp_fail(p, "%s: empty value", key) : cp_fail(p, "expected 'key = value' or 'key: value'");
            free(key);
            return rc;
        }
        struct nats_conf_node *v = NULL;
        size_t v_start = p->pos;
        if (cp_value(p, key, &v) != 0) {
            free(key);
            return -1;
        }
        v->key = key;
        v->line = line;
        *tail = v;
        tail = &v->next;
        cp_skip_blank(p);
        if (v->type == NATS_CONF_STRING && !v->quoted && cp_bare_char(cp_peek(p), false) && !cp_is_comment(p)) {
            /* Sluice's own files always took the rest of the line ("segment_bytes = 16 MiB"),
             * where nats-server wants quotes: words on the line join the bare value, up to a
             * comment, a separator or the block's end. */
            size_t end = p->pos;
            while (cp_peek(p) >= 0 && cp_peek(p) != '\n' && cp_peek(p) != ',' && cp_peek(p) != ';' && cp_peek(p) != '}' &&
                   !((p->s[p->pos - 1] == ' ' || p->s[p->pos - 1] == '\t') && cp_is_comment(p))) {
                cp_adv(p);
                if (p->s[p->pos - 1] != ' ' && p->s[p->pos - 1] != '\t' && p->s[p->pos - 1] != '\r') end = p->pos;
            }
            free(v->str);
            v->str = cp_dup(p->s + v_start, end - v_start);
            v->str_len = end - v_start;
            cp_skip_blank(p);
        }
        c = cp_peek(p);
        if (!(cp_at_line_end(p) || c == ',' || c == ';' || (c == '}' && closer == '}')))
            return cp_fail(p, "%s: unexpected text after the %svalue", key, v->quoted ? "quoted " : "");
    }
}

static int cp_array(struct cp *p, const char *key, struct nats_conf_node *arr) {
    uint32_t open_line = p->line;
    struct nats_conf_node **tail = &arr->child;
    for (;;) {
        cp_skip_between(p, ",");
        int c = cp_peek(p);
        if (c < 0) {
            p->line = open_line;
            return cp_fail(p, "%s: list '[' is not closed", key ? key : "");
        }
        if (c == ']') {
            cp_adv(p);
            return 0;
        }
        struct nats_conf_node *v = NULL;
        if (cp_value(p, key, &v) != 0) return -1;
        *tail = v;
        tail = &v->next;
        cp_skip_blank(p);
        c = cp_peek(p);
        if (!(cp_at_line_end(p) || c == ',' || c == ']'))
            return cp_fail(p, "%s: unexpected text after a list item", key ? key : "");
    }
}

static int cp_value(struct cp *p, const char *key, struct nats_conf_node **out) {
    int c = cp_peek(p);
    uint32_t line = p->line;
    if (c == '{' || c == '[') {
        if (p->depth == NATS_CONF_DEPTH_MAX) return cp_fail(p, "%s: nested too deep", key ? key : "");
        cp_adv(p);
        struct nats_conf_node *n = cp_node(c == '{' ? NATS_CONF_MAP : NATS_CONF_ARRAY, line);
        p->depth++;
        int rc = c == '{' ? cp_map_body(p, n, '}', key, line) : cp_array(p, key, n);
        p->depth--;
        if (rc != 0) {
            nats_conf_free(n);
            return -1;
        }
        *out = n;
        return 0;
    }
    struct nats_conf_node *n = cp_node(NATS_CONF_STRING, line);
    if (c == '"' || c == '\'') {
        if (cp_quoted(p, &n->str, &n->str_len, key) != 0) {
            free(n);
            return -1;
        }
        n->quoted = true;
        *out = n;
        return 0;
    }
    if (c == '$') {
        free(n);
        return cp_fail(p, "%s: variables ($NAME) are not supported: quote the value if it is a literal",
                       key ? key : "");
    }
    size_t start = p->pos;
    while (cp_bare_char(cp_peek(p), false)) cp_adv(p);
    if (p->pos == start) {
        free(n);
        return cp_fail(p, "%s: expected a value", key ? key : "");
    }
    n->str = cp_dup(p->s + start, p->pos - start);
    n->str_len = p->pos - start;
    *out = n;
    return 0;
}

int nats_conf_parse(const char *text, size_t len, struct nats_conf_node **root, uint32_t *err_line, char *err,
                    size_t err_len) {
    struct cp p = {.s = text, .len = len, .line = 1, .err_line = err_line, .err = err, .err_len = err_len};
    struct nats_conf_node *map = cp_node(NATS_CONF_MAP, 1);
    if (cp_map_body(&p, map, -1, NULL, 1) != 0) {
        nats_conf_free(map);
        return -1;
    }
    *root = map;
    return 0;
}

void nats_conf_free(struct nats_conf_node *n) {
    while (n) {
        struct nats_conf_node *next = n->next;
        nats_conf_free(n->child);
        free(n->key);
        free(n->str);
        free(n);
        n = next;
    }
}

const struct nats_conf_node *nats_conf_get(const struct nats_conf_node *map, const char *key) {
    const struct nats_conf_node *found = NULL;
    if (!map || map->type != NATS_CONF_MAP) return NULL;
    for (const struct nats_conf_node *e = map->child; e; e = e->next)
        if (e->key && !strcasecmp(e->key, key)) found = e;
    return found;
}
