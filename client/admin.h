/* admin.h: what the admin-API subcommands share (sluice user, sluice cluster): one request to
 * the broker's admin HTTP API on its monitoring port, with libcurl, the --admin-token as a Bearer
 * token and the --admin-tls* files for https. */
#ifndef SLUICE_CLIENT_ADMIN_H
#define SLUICE_CLIENT_ADMIN_H

#include "cli.h"

/* One request to the admin API: method on path (below --admin), with an optional JSON body.
 * Returns an exit code; on EXIT_OK *out holds the parsed JSON answer. A refusal prints the
 * server's error: 404 exits 2, anything else 4; no answer within --timeout exits 3. */
int admin_call(const struct cli *c, const char *method, const char *path, const char *body, json_t **out);

/* The same against base (an http(s) URL; NULL: --admin). With quiet_status non-zero, an answer
 * of that HTTP status is not printed: it returns EXIT_SERVER with *out holding its JSON (NULL
 * if it had none) and *status set. *status is the HTTP status of any answer (0: none). */
int admin_call_at(const struct cli *c, const char *base, const char *method, const char *path, const char *body,
                  long quiet_status, long *status, json_t **out);

#endif
