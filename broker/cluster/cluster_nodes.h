/* cluster_nodes.h: the static member list of a cluster, `cluster_nodes`:
 * "1@127.0.0.1:7001,2@127.0.0.1:7002,3@127.0.0.1:7003". Each item is a Raft node id (1 and up)
 * and the host:port its Raft listener is reached at. Pure: no I/O. */
#ifndef SL_BROKER_CLUSTER_NODES_H
#define SL_BROKER_CLUSTER_NODES_H

#include <stddef.h>
#include <stdint.h>

#define CLUSTER_NODES_MAX 16    /* voters a static list may name */
#define CLUSTER_ADDR_MAX 64     /* "host:port", NUL included */

struct cluster_node {
    uint32_t id;
    char address[CLUSTER_ADDR_MAX];
};

struct cluster_nodes {
    uint32_t count;
    struct cluster_node nodes[CLUSTER_NODES_MAX];
};

/* Parses text into out. Returns 0, or -1 with a sentence naming the bad item in err. Refused:
 * an empty list or item, a missing '@', an id that is not a number in 1..2^32-1, an address
 * without host or port, a port outside 1..65535, spaces, a duplicate id or address, more than
 * CLUSTER_NODES_MAX items, an address longer than CLUSTER_ADDR_MAX - 1. */
int cluster_nodes_parse(const char *text, struct cluster_nodes *out, char *err, size_t err_len);
/* Checks "host:port" alone (the same rules); the port is stored in *port if not NULL. */
int cluster_addr_check(const char *addr, uint16_t *port, char *err, size_t err_len);
/* The node with this id, or NULL. */
const struct cluster_node *cluster_nodes_find(const struct cluster_nodes *n, uint32_t id);

#endif
