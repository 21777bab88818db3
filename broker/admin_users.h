/* admin_users.h: the monitoring port's admin routes for Kafka SCRAM credentials
 * (/v1/security/users, Redpanda's shape; see admin_users.c). */
#ifndef SL_BROKER_ADMIN_USERS_H
#define SL_BROKER_ADMIN_USERS_H

#include "broker/broker.h"

/* Registers the routes on b->http (after http_server_start); they answer 503 while the Kafka
 * listener is not running. */
void admin_users_register(struct broker *b);

#endif
