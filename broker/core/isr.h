/* isr.h: a partition leader's view of its followers, as Kafka's ISR fetch replication keeps it:
 * each follower's log end offset (LEO, what its last Fetch asked for: it has everything below),
 * when it was last caught up, whether it is in sync, and from these the high watermark.
 *
 * Pure (no I/O, no clock: now is passed in), so the rules are tested on their own:
 *   - caught up: a follower whose fetch asks for the leader's LEO (it has all of it) is caught up
 *     now; one whose fetch reaches the leader's LEO as it stood at its previous fetch was caught
 *     up then (Kafka's Replica.updateFetchState: a steady stream of appends never looks like lag);
 *   - in sync: caught up within lag_ms. A follower leaves the ISR once it has not been for
 *     lag_ms, and rejoins only when its LEO reaches the high watermark again (Kafka's rule: a
 *     rejoining replica must hold every committed record);
 *   - the ISR that counts is the controller's (committed) plus the followers this leader has
 *     asked the controller to add (the "maximal ISR" of Kafka's AlterPartition, KIP-497): a
 *     follower this leader dropped still counts until the controller has committed its
 *     removal, so a leader that is cut off from the controller cannot commit by shrinking the
 *     ISR alone; one it asked to add counts from the asking on, so it holds every record
 *     committed by the time it joins; one the controller refused to add (a stopping or
 *     fenced broker) does not count;
 *   - the high watermark is the lowest LEO of that ISR and the leader's own, and never goes
 *     back: a record counts as committed once every replica that may become leader has it.
 * A follower assigned but never heard from starts in sync at the time of assignment (a new
 * topic must not start with an ISR of one) and leaves after lag_ms of silence, as any other. */
#ifndef SL_BROKER_ISR_H
#define SL_BROKER_ISR_H

#include <stdbool.h>
#include <stdint.h>

#define ISR_REPLICAS_MAX 7

struct isr_follower {
    uint32_t id;
    int64_t leo;              /* -1 until it fetched */
    uint64_t caught_up_ms;    /* the last time it had the leader's LEO */
    uint64_t last_fetch_ms;
    int64_t leader_leo_at_last_fetch;
    bool in_sync;   /* by this leader's account */
    bool committed; /* in the ISR the controller holds */
    bool asked;     /* a change of its place (in_sync) was sent to the controller, not yet seen back */
};

struct isr {
    uint32_t count; /* followers, the leader not counted */
    struct isr_follower f[ISR_REPLICAS_MAX];
    int64_t hw;
    uint64_t lag_ms;
};

/* The followers (the replicas but the leader itself) as of now; a follower kept from before
 * keeps its state, a new one starts in sync. hw: where the high watermark stands (the log end of
 * a leader taking over). */
void isr_assign(struct isr *s, const uint32_t *followers, uint32_t n, int64_t hw, uint64_t lag_ms, uint64_t now_ms);
/* A follower's fetch at offset; false if id is not a follower. */
bool isr_fetched(struct isr *s, uint32_t id, int64_t offset, int64_t leader_leo, uint64_t now_ms);
/* Drops followers out of sync for lag_ms, then moves the high watermark; returns it. */
int64_t isr_update(struct isr *s, int64_t leader_leo, uint64_t now_ms);
/* In-sync replicas, the leader included. */
uint32_t isr_size(const struct isr *s);
/* The ISR the controller holds (the leader's followers among ids are marked committed). */
void isr_set_committed(struct isr *s, const uint32_t *ids, uint32_t n);
/* Whether this leader's ISR differs from the controller's in a way not asked for yet. */
bool isr_differs(const struct isr *s);
/* The ISR to ask the controller for (self first, then the followers in sync here; at most max
 * into out); marks the followers whose place it changes as asked. */
uint32_t isr_request(struct isr *s, uint32_t self, uint32_t *out, uint32_t max);
/* The controller refused, or did not commit, the change asked: nothing is asked any more. */
void isr_request_failed(struct isr *s);

#endif
