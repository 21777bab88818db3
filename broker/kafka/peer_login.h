/* peer_login.h: the SASL login a broker makes on its connection to another broker's Kafka port
 * (the replica fetcher, a transaction coordinator's markers), when the cluster's Kafka ports
 * ask for SASL (kafka_sasl_mechanisms): SaslHandshake v1 and SaslAuthenticate v1, PLAIN
 * (RFC 4616) or SCRAM-SHA-256/512 (RFC 5802, the server's signature checked), as the Java
 * client does it, with the cluster's own user (cluster_sasl_mechanism, _username, _password).
 * That user is the connection's principal: with kafka_authorizer on it needs CLUSTER_ACTION on
 * the cluster (or to be a super user). Worker threads only: it blocks on the peer. */
#ifndef SL_BROKER_KAFKA_PEER_LOGIN_H
#define SL_BROKER_KAFKA_PEER_LOGIN_H

#include <stdbool.h>
#include <stddef.h>

struct peer;

struct peer_login {
    char mechanism[16]; /* "": no login; "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512" */
    char username[256];
    char password[256];
};

/* Logs in on p, just connected; true at once without a mechanism. False with why in err (the
 * caller closes p). */
bool peer_login(struct peer *p, const struct peer_login *l, char *err, size_t err_len);

#endif
