/* nats_users.c: the users of nats-server's authorization block (see nats_users.h): the nkey
 * text encoding and the config reading. */
#include "broker/nats_users.h"

#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"

bool nats_password_is_bcrypt(const char *p) {
    return p[0] == '$' && p[1] == '2' && strchr("abxy", p[2]) && p[2] && p[3] == '$';
}

/* ---- nkeys ------------------------------------------------------------------------------------ */

static uint16_t crc16_xmodem(const uint8_t *p, size_t n) {
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

int nats_nkey_decode(const char *text, size_t len, uint8_t want_prefix, uint8_t key[32]) {
    /* 56 characters of base32 (RFC 4648, no padding) are 35 bytes: prefix, key, CRC. */
    if (len != NATS_NKEY_LEN) return -1;
    uint8_t raw[35];
    uint32_t acc = 0, bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        uint32_t v;
        if (c >= 'A' && c <= 'Z') v = (uint32_t)(c - 'A');
        else if (c >= '2' && c <= '7') v = (uint32_t)(c - '2' + 26);
        else return -1;
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof(raw)) return -1;
            raw[n++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (n != sizeof(raw) || acc != 0) return -1;
    uint16_t crc = (uint16_t)(raw[33] | raw[34] << 8);
    if (crc != crc16_xmodem(raw, 33) || raw[0] != want_prefix) return -1;
    memcpy(key, raw + 1, 32);
    return 0;
}

/* ---- reading the config ---------------------------------------------------------------------- */

struct rd {
    uint32_t *err_line;
    char *err;
    size_t err_len;
};

static int rd_fail(struct rd *r, const struct nats_conf_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rd_fail(struct rd *r, const struct nats_conf_node *n, const char *fmt, ...) {
    *r->err_line = n ? n->line : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sl_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* No empty token, no whitespace, and '>' only as the last token. */
static bool subject_pattern_valid(const char *s) {
    size_t n = strlen(s);
    if (!n || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") || strpbrk(s, " \t\r\n")) return false;
    const char *gt = strstr(s, ".>.");
    return !gt && strncmp(s, ">.", 2) != 0;
}

static void list_add(struct nats_subject_list *l, const char *subject, const char *queue) {
    l->subjects = sl_xrealloc(l->subjects, (l->count + 1) * sizeof(*l->subjects));
    l->queues = sl_xrealloc(l->queues, (l->count + 1) * sizeof(*l->queues));
    l->subjects[l->count] = xstrdup(subject);
    l->queues[l->count] = queue ? xstrdup(queue) : NULL;
    l->count++;
}

static void list_free(struct nats_subject_list *l) {
    for (uint32_t i = 0; i < l->count; i++) {
        free(l->subjects[i]);
        free(l->queues[i]);
    }
    free(l->subjects);
    free(l->queues);
    memset(l, 0, sizeof(*l));
}

static void perms_free(struct nats_perms *p) {
    list_free(&p->pub_allow);
    list_free(&p->pub_deny);
    list_free(&p->sub_allow);
    list_free(&p->sub_deny);
}

/* One subject, or for subscribe "subject queue". */
static int read_subject(struct rd *r, const struct nats_conf_node *n, const char *where, bool sub,
                        struct nats_subject_list *l) {
    if (n->type != NATS_CONF_STRING) return rd_fail(r, n, "%s: expected a subject", where);
    char buf[1024];
    if (n->str_len >= sizeof(buf) || strlen(n->str) != n->str_len) return rd_fail(r, n, "%s: subject too long", where);
    memcpy(buf, n->str, n->str_len + 1);
    char *queue = NULL, *sp = strchr(buf, ' ');
    if (sp && sub) {
        *sp = 0;
        queue = sp + 1;
        while (*queue == ' ') queue++;
        if (!*queue || strchr(queue, ' ')) return rd_fail(r, n, "%s: '%s' is not 'subject' or 'subject queue'", where, n->str);
    }
    if (!subject_pattern_valid(buf)) return rd_fail(r, n, "%s: '%s' is not a valid subject", where, n->str);
    list_add(l, buf, queue);
    return 0;
}

static int read_subjects(struct rd *r, const struct nats_conf_node *n, const char *where, bool sub,
                         struct nats_subject_list *l) {
    if (n->type == NATS_CONF_STRING) return read_subject(r, n, where, sub, l);
    if (n->type != NATS_CONF_ARRAY) return rd_fail(r, n, "%s: expected a subject or a list of subjects", where);
    for (const struct nats_conf_node *i = n->child; i; i = i->next)
        if (read_subject(r, i, where, sub, l) != 0) return -1;
    return 0;
}

/* publish / subscribe: a subject or list (the allow list), or a map {allow, deny}. */
static int read_direction(struct rd *r, const struct nats_conf_node *n, const char *where, bool sub,
                          struct nats_subject_list *allow, struct nats_subject_list *deny) {
    if (n->type != NATS_CONF_MAP) return read_subjects(r, n, where, sub, allow);
    char w[256];
    for (const struct nats_conf_node *e = n->child; e; e = e->next) {
        snprintf(w, sizeof(w), "%s.%s", where, e->key);
        if (!strcasecmp(e->key, "allow")) {
            if (read_subjects(r, e, w, sub, allow) != 0) return -1;
        } else if (!strcasecmp(e->key, "deny")) {
            if (read_subjects(r, e, w, sub, deny) != 0) return -1;
        } else {
            return rd_fail(r, e, "%s: unknown key (allow or deny)", w);
        }
    }
    return 0;
}

/* A Go duration ("2m", "1.5s", "1h30m", "-1s"), as nats-server reads allow_responses' expires:
 * ms, or -1 with an error. */
static int read_go_duration(const char *s, int64_t *out_ms) {
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}};
    bool neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    if (!strcmp(s, "0")) {
        *out_ms = 0;
        return 0;
    }
    if (!*s) return -1;
    double total = 0;
    while (*s) {
        char *end;
        if (!(*s >= '0' && *s <= '9') && *s != '.') return -1;
        double v = strtod(s, &end);
        if (end == s) return -1;
        s = end;
        size_t best = 0, bi = 0;
        for (size_t i = 0; i < SL_ARRAY_LEN(units); i++) {
            size_t ul = strlen(units[i].unit);
            if (!strncmp(s, units[i].unit, ul) && ul > best) best = ul, bi = i;
        }
        if (!best) return -1;
        total += v * units[bi].ms;
        s += best;
    }
    if (total > 9.2e15) return -1;
    *out_ms = (int64_t)(neg ? -total : total);
    return 0;
}

/* allow_responses: true / false, or {max: N, expires: "1m"}; 0 means the default, as in
 * nats-server, and a negative value no limit. */
static int read_resp(struct rd *r, const struct nats_conf_node *n, const char *where, struct nats_perms *p) {
    p->resp = (struct nats_resp_perm){NATS_RESP_DEFAULT_MAX, NATS_RESP_DEFAULT_EXPIRES_MS};
    if (n->type == NATS_CONF_STRING) {
        if (!strcasecmp(n->str, "true") || !strcasecmp(n->str, "yes") || !strcasecmp(n->str, "on")) p->has_resp = true;
        else if (!strcasecmp(n->str, "false") || !strcasecmp(n->str, "no") || !strcasecmp(n->str, "off")) p->has_resp = false;
        else return rd_fail(r, n, "%s: expected a boolean or a map {max, expires}", where);
        return 0;
    }
    if (n->type != NATS_CONF_MAP) return rd_fail(r, n, "%s: expected a boolean or a map {max, expires}", where);
    p->has_resp = true;
    char w[300];
    for (const struct nats_conf_node *e = n->child; e; e = e->next) {
        snprintf(w, sizeof(w), "%.200s.%.90s", where, e->key);
        if (e->type != NATS_CONF_STRING) return rd_fail(r, e, "%s: expected a value", w);
        if (!strcasecmp(e->key, "max") || !strcasecmp(e->key, "max_msgs") || !strcasecmp(e->key, "max_messages") ||
            !strcasecmp(e->key, "max_responses")) {
            char *end;
            errno = 0;
            long long v = strtoll(e->str, &end, 10);
            if (end == e->str || *end || errno) return rd_fail(r, e, "%s: '%s' is not a whole number", w, e->str);
            if (v) p->resp.max = v;
        } else if (!strcasecmp(e->key, "expires") || !strcasecmp(e->key, "expiration") || !strcasecmp(e->key, "ttl")) {
            int64_t ms;
            if (read_go_duration(e->str, &ms) != 0)
                return rd_fail(r, e, "%s: '%s' is not a duration (\"2m\", \"500ms\")", w, e->str);
            if (ms) p->resp.expires_ms = ms;
        } else {
            return rd_fail(r, e, "%s: unknown key (max, expires)", w);
        }
    }
    return 0;
}

static int read_perms(struct rd *r, const struct nats_conf_node *n, const char *where, struct nats_perms *p) {
    if (n->type != NATS_CONF_MAP) return rd_fail(r, n, "%s: expected a map of publish and subscribe", where);
    char w[256];
    for (const struct nats_conf_node *e = n->child; e; e = e->next) {
        snprintf(w, sizeof(w), "%s.%s", where, e->key);
        int rc;
        if (!strcasecmp(e->key, "publish") || !strcasecmp(e->key, "import"))
            rc = read_direction(r, e, w, false, &p->pub_allow, &p->pub_deny);
        else if (!strcasecmp(e->key, "subscribe") || !strcasecmp(e->key, "export"))
            rc = read_direction(r, e, w, true, &p->sub_allow, &p->sub_deny);
        else if (!strcasecmp(e->key, "allow_responses") || !strcasecmp(e->key, "allow_response"))
            rc = read_resp(r, e, w, p);
        else rc = rd_fail(r, e, "%s: unknown key (publish, subscribe, allow_responses)", w);
        if (rc != 0) return -1;
    }
    p->pub_none = p->has_resp && !p->pub_allow.count;
    return 0;
}

/* nats-server's allowed_connection_types (also "connection_types", "clients"): a string or a
 * list of jwt's connection types, any case; an unknown one refuses the file, as nats-server's
 * "invalid connection types". Sluice serves STANDARD clients only, so what matters is whether
 * STANDARD is named; an empty list allows every type, as nats-server's. */
static const char *const conn_types[] = {"STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS", NULL};

static int read_conn_types(struct rd *r, const struct nats_conf_node *e, const char *w, struct nats_user *u) {
    const struct nats_conf_node *one = e->type == NATS_CONF_STRING ? e : NULL;
    if (!one && e->type != NATS_CONF_ARRAY) return rd_fail(r, e, "%s: expected a string or a list of strings", w);
    bool any = false, standard = false;
    for (const struct nats_conf_node *t = one ? one : e->child; t; t = one ? NULL : t->next) {
        if (t->type != NATS_CONF_STRING) return rd_fail(r, t, "%s: expected a string or a list of strings", w);
        int k = 0;
        while (conn_types[k] && strcasecmp(conn_types[k], t->str) != 0) k++;
        if (!conn_types[k])
            return rd_fail(r, t, "%s: unknown connection type \"%s\" (STANDARD, WEBSOCKET, LEAFNODE, LEAFNODE_WS, "
                                 "MQTT, MQTT_WS)", w, t->str);
        any = true;
        standard = standard || k == 0;
    }
    u->standard_refused = any && !standard;
    return 0;
}

static int read_user(struct rd *r, const struct nats_conf_node *n, uint32_t idx, struct nats_user *u) {
    char where[64], w[128];
    snprintf(where, sizeof(where), "users[%u]", idx);
    if (n->type != NATS_CONF_MAP) return rd_fail(r, n, "%s: expected a map {user: ..., password: ...}", where);
    for (const struct nats_conf_node *e = n->child; e; e = e->next) {
        snprintf(w, sizeof(w), "%s.%s", where, e->key);
        bool perm = !strcasecmp(e->key, "permissions") || !strcasecmp(e->key, "permission");
        bool cts = !strcasecmp(e->key, "allowed_connection_types") || !strcasecmp(e->key, "connection_types") ||
                   !strcasecmp(e->key, "clients");
        if (cts) {
            if (read_conn_types(r, e, w, u) != 0) return -1;
            continue;
        }
        if (!perm && e->type != NATS_CONF_STRING) return rd_fail(r, e, "%s: expected a string", w);
        if (!strcasecmp(e->key, "user") || !strcasecmp(e->key, "username")) {
            free(u->name);
            u->name = xstrdup(e->str);
        } else if (!strcasecmp(e->key, "password") || !strcasecmp(e->key, "pass")) {
            free(u->password);
            u->password = xstrdup(e->str);
        } else if (!strcasecmp(e->key, "nkey")) {
            if (nats_nkey_decode(e->str, e->str_len, NATS_NKEY_PREFIX_USER, u->nkey_raw) != 0)
                return rd_fail(r, e, "%s: '%s' is not a user nkey (56 characters starting with U)", w, e->str);
            memcpy(u->nkey, e->str, NATS_NKEY_LEN + 1);
        } else if (perm) {
            u->has_own_perms = true;
            if (read_perms(r, e, w, &u->own_perms) != 0) return -1;
        } else {
            return rd_fail(r, e, "%s: not supported by Sluice (user, password, nkey, permissions, "
                              "allowed_connection_types)", w);
        }
    }
    if (u->nkey[0] && (u->name || u->password)) return rd_fail(r, n, "%s: an nkey user has no user or password", where);
    if (!u->nkey[0] && !u->name) return rd_fail(r, n, "%s: needs a user or an nkey", where);
    if (u->name && !u->password) return rd_fail(r, n, "%s: user '%s' needs a password", where, u->name);
    /* crypt_checksalt judges the setting part only; a whole bcrypt hash is 60 characters. */
    if (u->password && nats_password_is_bcrypt(u->password) &&
        (strlen(u->password) != 60 || crypt_checksalt(u->password) != CRYPT_SALT_OK))
        return rd_fail(r, n, "%s: the password looks like a bcrypt hash but is not a valid one", where);
    return 0;
}

int nats_auth_from_conf(const struct nats_conf_node *authz, struct nats_auth **out, uint32_t *err_line, char *err,
                        size_t err_len) {
    struct rd r = {err_line, err, err_len};
    *out = NULL;
    const struct nats_conf_node *users = nats_conf_get(authz, "users");
    const struct nats_conf_node *defp = nats_conf_get(authz, "default_permissions");
    if (!users && !defp) return 0;
    struct nats_auth *a = sl_xcalloc(1, sizeof(*a));
    if (defp) {
        a->has_default_perms = true;
        if (read_perms(&r, defp, "default_permissions", &a->default_perms) != 0) goto fail;
    }
    if (users) {
        if (users->type != NATS_CONF_ARRAY) {
            rd_fail(&r, users, "users: expected a list [ {user: ..., password: ...} ]");
            goto fail;
        }
        uint32_t n = 0;
        for (const struct nats_conf_node *i = users->child; i; i = i->next) n++;
        a->users = sl_xcalloc(n ? n : 1, sizeof(*a->users));
        for (const struct nats_conf_node *i = users->child; i; i = i->next) {
            struct nats_user *u = &a->users[a->user_count++];
            if (read_user(&r, i, a->user_count - 1, u) != 0) goto fail;
            for (uint32_t j = 0; j + 1 < a->user_count; j++) {
                const struct nats_user *o = &a->users[j];
                if ((u->name && o->name && !strcmp(u->name, o->name)) || (u->nkey[0] && !strcmp(u->nkey, o->nkey))) {
                    rd_fail(&r, i, "users[%u]: '%s' is listed twice", a->user_count - 1, u->name ? u->name : u->nkey);
                    goto fail;
                }
            }
            if (u->nkey[0]) a->nkey_count++;
        }
    }
    for (uint32_t i = 0; i < a->user_count; i++) {
        struct nats_user *u = &a->users[i];
        u->perms = u->has_own_perms ? &u->own_perms : a->has_default_perms ? &a->default_perms : NULL;
    }
    *out = a;
    return 0;
fail:
    nats_auth_free(a);
    return -1;
}

void nats_auth_free(struct nats_auth *a) {
    if (!a) return;
    for (uint32_t i = 0; i < a->user_count; i++) {
        free(a->users[i].name);
        if (a->users[i].password) explicit_bzero(a->users[i].password, strlen(a->users[i].password));
        free(a->users[i].password);
        perms_free(&a->users[i].own_perms);
    }
    free(a->users);
    perms_free(&a->default_perms);
    free(a);
}
