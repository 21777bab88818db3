/* server.h: the running process's life (struct broker is broker.h's): broker_start() brings
 * everything up in order, broker_run() turns the loop until SIGTERM or SIGINT, broker_stop()
 * takes it down in reverse order. */
#ifndef SL_BROKER_SERVER_H
#define SL_BROKER_SERVER_H

#include "broker/broker.h"

/* Opens everything; on failure logs why, undoes what was done and returns -1. b is zeroed
 * first and must not move afterwards (ops in flight point into it). */
int broker_start(struct broker *b, const struct sl_config *cfg);
/* Reads flags and config file again and applies what can change at runtime (SIGHUP). */
void broker_reload(struct broker *b);
/* Turns the loop until a signal arrives. */
void broker_run(struct broker *b);
/* Flushes and closes the store (which writes the clean-shutdown marker), then the loop.
 * Returns 0, or -1 if the store could not be closed cleanly (logged). */
int broker_stop(struct broker *b);

#endif
