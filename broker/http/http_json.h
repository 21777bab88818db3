/* http_json.h: JSON answers of the monitoring port's routes (jansson), so every route's body
 * and error shape is written once: {"error":"..."} with the status. */
#ifndef SL_BROKER_HTTP_JSON_H
#define SL_BROKER_HTTP_JSON_H

#include <jansson.h>

#include "broker/http/http_server.h"

/* rs gets o, compact and in insertion order, with status; takes o (NULL: "{}"). */
void http_response_json(struct http_response *rs, int status, json_t *o);
/* rs gets {"error": msg} with status. */
void http_response_error(struct http_response *rs, int status, const char *msg);
/* An admin route's body: a JSON object (no duplicate keys) whose fields are all in allowed
 * (NULL-terminated); an empty body is {} when empty_ok. NULL, with a 400 in rs, otherwise. */
json_t *http_request_json(const struct http_request *rq, struct http_response *rs, const char *const *allowed,
                          bool empty_ok);

#endif
