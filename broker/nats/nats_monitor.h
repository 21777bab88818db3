/* nats_monitor.h: the NATS wing's monitoring views (see nats_monitor.c). Each fills a JSON
 * object the caller owns (the top of the broker serves it on the monitoring port). */
#ifndef SL_BROKER_NATS_MONITOR_H
#define SL_BROKER_NATS_MONITOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/nats/nats_server.h"

struct prom;

/* The NATS fields of /varz (server_id, limits, connections, in/out msgs and bytes...). */
void nats_server_varz(struct nats_server *ns, json_t *o);
/* /connz: connections sorted by sort (nats_connz_sort_valid), from offset, at most limit. */
void nats_server_connz(struct nats_server *ns, json_t *o, uint32_t offset, uint32_t limit, const char *sort,
                       uint64_t now_ms);
bool nats_connz_sort_valid(const char *sort);
void nats_server_subsz(struct nats_server *ns, json_t *o);
void nats_server_metrics(struct nats_server *ns, struct prom *p);

#endif
