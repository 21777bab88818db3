/* admin_cluster.h: the cluster on the monitoring port and in /metrics. With cluster_nodes set,
 * the broker starts its controller (broker/cluster/controller.h) and serves:
 *
 *   GET    /clusterz                     this node's view: id, Raft state, leader, term, commit
 *                                        index, servers with addresses and roles, registered brokers
 *   POST   /v1/cluster/nodes             {"id":4,"address":"host:port"}: add as a voter (admin)
 *   DELETE /v1/cluster/nodes/<id>        remove from the configuration (admin)
 *   POST   /v1/cluster/leader/transfer   {"id":N} or {} (any voter): move the leadership (admin)
 *   POST   /v1/cluster/brokers           {"id","kafka","nats","http"}: a follower's registration,
 *                                        sent by its registrar thread (controller.h) (admin)
 *
 * Changes run on the leader. Elsewhere they get 421 Misdirected Request with the leader's id and
 * Raft address ({"error","leader_id","leader_address"}; leader_id 0 while none is known): the
 * request was sound, it went to the wrong node. Other answers: 400 bad body or id, 404 a node
 * not in the configuration, 409 a change already running or a conflicting id or address, 504 a
 * change still running after its wait (it completes on its own: see /clusterz), 500 anything
 * else libraft refused, with its message. */
#ifndef SL_BROKER_ADMIN_CLUSTER_H
#define SL_BROKER_ADMIN_CLUSTER_H

#include "base/prom.h"

struct broker;

/* Starts the controller and registers the routes. 0, or -1 (logged). */
int admin_cluster_start(struct broker *b);
/* Stops the controller (NULL: nothing). */
void admin_cluster_stop(struct broker *b);
/* Before a stop: if this node leads the Raft group, hands the leadership to another voter
 * (bounded, 3 s), so the controller is back at once instead of after an election timeout. */
void admin_cluster_handover(struct broker *b);
/* sluice_cluster_* families; nothing when not clustered. */
void admin_cluster_metrics(struct broker *b, struct prom *p);

#endif
