/* monitor.h: the monitoring port of the broker (nats-server's -m / http_port, default 8222):
 * /healthz (200 once everything is up, 503 while starting or shutting down), /varz, /connz
 * (offset, limit, sort), /subsz, /jsz in nats-server's JSON shapes, and /metrics in the
 * Prometheus text format 0.0.4 (every family named sluice_*). */
#ifndef SL_BROKER_MONITOR_H
#define SL_BROKER_MONITOR_H

#include "broker/broker.h"

/* Listens on cfg.http_port and registers the routes; -1 (logged) if it cannot listen. */
int monitor_start(struct broker *b);
void monitor_stop(struct broker *b);

#endif
