/* nats_replies.h: allow_responses, as nats-server 2.9.10 does it. A user whose permissions say
 * allow_responses may publish to the reply subject of a message delivered to it, beyond its
 * publish permissions: at most max times (default 1; negative: no limit) and within expires of
 * the delivery (default 2 minutes; negative: no limit). Each connection of such a user keeps
 * the reply subjects delivered to it; a new delivery of a subject starts its count and clock
 * again. Past 4096 subjects the used-up and expired ones are dropped, as nats-server prunes.
 *
 * Pure: no I/O; time is passed in. */
#ifndef SL_BROKER_NATS_REPLIES_H
#define SL_BROKER_NATS_REPLIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/nats_users.h" /* struct nats_resp_perm */

#define NATS_REPLIES_PRUNE_AT 4096
/* A bound nats-server does not have: a responder flooded with distinct reply subjects that never
 * expire (negative max and expires) would otherwise grow without end. Past it, the oldest go. */
#define NATS_REPLIES_MAX (1u << 20)


struct nats_replies;

/* A message with reply subject subj was delivered: it may be answered (again). *rs is created
 * at the first note. */
void nats_replies_note(struct nats_replies **rs, const struct nats_resp_perm *rp, const char *subj, size_t len,
                       uint64_t now_ms);
/* A publish to subj that the publish permissions refuse: true if it answers a noted reply still
 * within its count and time (and counts it), false otherwise (a used-up or expired one goes). */
bool nats_replies_use(struct nats_replies *rs, const struct nats_resp_perm *rp, const char *subj, size_t len,
                      uint64_t now_ms);
uint32_t nats_replies_count(const struct nats_replies *rs);
void nats_replies_free(struct nats_replies *rs);

#endif
