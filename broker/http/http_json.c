/* http_json.c: see http_json.h. */
#include "broker/http/http_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_response_json(struct http_response *rs, int status, json_t *o) {
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    http_response_set(rs, status, "application/json", text ? text : "{}");
    free(text);
}

void http_response_error(struct http_response *rs, int status, const char *msg) {
    http_response_json(rs, status, json_pack("{s:s}", "error", msg));
}

json_t *http_request_json(const struct http_request *rq, struct http_response *rs, const char *const *allowed,
                          bool empty_ok) {
    json_error_t jerr;
    json_t *o = !rq->body_len && empty_ok ? json_object()
                                          : json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        http_response_error(rs, 400, "the body is not a JSON object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++) known = !strcmp(*a, key);
        if (known) continue;
        char msg[256];
        int n = snprintf(msg, sizeof(msg), "unknown field '%.64s' (", key);
        for (const char *const *a = allowed; *a && n > 0 && (size_t)n < sizeof(msg); a++)
            n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s%s", a == allowed ? "" : ", ", *a);
        if (n > 0 && (size_t)n < sizeof(msg) - 1) snprintf(msg + n, sizeof(msg) - (size_t)n, ")");
        json_decref(o);
        http_response_error(rs, 400, msg);
        return NULL;
    }
    return o;
}
