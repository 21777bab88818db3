/* nats.h: what the NATS subcommands share: a connection made from the global flags (one
 * attempt, bounded by --timeout, no reconnects) and the mapping of nats.c statuses and JetStream
 * error codes to exit codes. */
#ifndef SLUICE_CLIENT_NATS_H
#define SLUICE_CLIENT_NATS_H

#include <nats/nats.h>

#include "cli.h"

/* Connects to c->server. Returns an exit code; *nc is set on EXIT_OK. */
int nats_open(const struct cli *c, natsConnection **nc);
void nats_close(natsConnection *nc);
/* Prints "sluice: what: reason" and returns the exit code of s (and jerr, a JetStream error
 * code, 0 if none): 2 for stream/consumer not found, 3 for no server/timeout, else 4. */
int nats_fail(const struct cli *c, natsStatus s, jsErrCode jerr, const char *what);
/* JetStream options with the global timeout. */
void nats_js_options(const struct cli *c, jsOptions *o);
/* Adds a header K=V to m; EXIT_USAGE when arg is not K=V. */
int nats_header_arg(natsMsg *m, const char *arg);
/* The message as one JSON object: subject, reply, data, headers ([[k, v], ...]). */
json_t *nats_msg_json(natsMsg *m);

#endif
