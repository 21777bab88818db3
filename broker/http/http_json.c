/* http_json.c: see http_json.h. */
#include "broker/http/http_json.h"

#include <stdlib.h>

void http_response_json(struct http_response *rs, int status, json_t *o) {
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    http_response_set(rs, status, "application/json", text ? text : "{}");
    free(text);
}

void http_response_error(struct http_response *rs, int status, const char *msg) {
    http_response_json(rs, status, json_pack("{s:s}", "error", msg));
}
