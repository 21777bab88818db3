/* sublist.h: the subject trie that routes NATS publishes to subscriptions, with nats-server
 * 2.9.10's matching rules (docs/nats-subset.md section 9): tokens split on '.', '*' matches
 * exactly one token, '>' one or more and only as the last token, and only whole tokens are
 * wildcards ("a*", "a>b" are literal). A published subject is always taken literally: a '*' or
 * '>' token in it is an ordinary token, so PUB orders.* reaches SUB orders.*, orders.> and *.>,
 * but not SUB orders.created. Matching is case-sensitive and byte-exact.
 *
 * Subscribers are opaque to the trie: a client connection's subscription and an in-process
 * subscriber (a stream's ingest, a service such as $JS.API.>, a bridge) both insert a struct sub
 * that carries its own delivery op, so whoever routes a match calls s->ops->deliver(s, msg) and
 * never needs to know whether a socket is behind it. Queue groups may mix both kinds. The
 * sublist never copies or frees a struct sub; it keeps pointers to it while it is inserted.
 *
 * Results come from a bounded cache of 4096 subjects (2048 sets of 2 ways), so a publish to a
 * subject seen before costs one hash and one compare, and no allocation. A subject enters a full
 * set only when it misses there twice in a row, so subjects that never repeat (a JetStream ack's)
 * do not push out those that do; their results are built in one reused block. Any change to a
 * wildcard subscription invalidates the whole cache (a generation counter); a change to a
 * literal subscription invalidates only the entry for that exact subject, because a literal
 * subscription can match no other published subject. Invalidated entries are freed lazily,
 * when a later match reuses their slot.
 *
 * Single-threaded: sublist_match writes the cache, so every call, matches included, must come
 * from the thread that owns the sublist. */
#ifndef SL_BROKER_SUBLIST_H
#define SL_BROKER_SUBLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct sublist;
struct sub;

/* One routed message, as a view: every span borrows from the publisher's buffer and is valid
 * only for the duration of the deliver call (copy what must outlive it). hdr is the whole
 * header block as published ("NATS/1.0...\r\n\r\n", len 0 for a plain PUB); payload is the
 * body after it. */
struct nats_msg {
    struct span subject;
    struct span reply; /* len 0: none */
    struct span hdr;
    struct span payload;
};

/* How a subscription takes a message. deliver runs inside the fan-out: it must not free s (an
 * unsubscribe from inside it is deferred by the server) and should not block. */
struct nats_deliver_ops {
    void (*deliver)(struct sub *s, const struct nats_msg *m);
};

/* Caller-owned. Fill the public fields and leave the private ones zero (a designated
 * initializer or calloc does that) before the first sublist_insert; sublist_remove zeroes them
 * again, so the same struct may be inserted, removed and inserted again. */
struct sub {
    const char *subject; /* NUL-terminated, owned by the caller, unchanged while inserted */
    uint32_t subject_len;
    const char *queue; /* NULL: not in a queue group; else queue_len > 0 bytes */
    uint32_t queue_len;
    const struct nats_deliver_ops *ops; /* how a match is delivered; unused by the trie */
    void *owner;        /* the connection, or the in-process subscriber's argument */
    uint64_t sid_or_id; /* opaque to the sublist */
    /* Private to the sublist. */
    struct sublist *sl_list; /* the sublist holding it, NULL when not inserted */
    void *sl_holder;         /* the trie node (plain sub) or queue-group node (queue sub) */
    uint32_t sl_index;       /* position in the holder's array, for O(1) removal */
};

/* Queue subscriptions that matched, grouped by queue name across every matching subject, as
 * nats-server does: SUB foo.bar q and SUB foo.* q are one group for PUB foo.bar. The server
 * delivers to one member of each group. */
struct sublist_qgroup {
    const char *queue; /* a copy owned by the result, not NUL-terminated */
    uint32_t queue_len;
    struct sub **members;
    uint32_t count; /* >= 1 */
};

struct sublist_result {
    struct sub **psubs; /* plain subscriptions; NULL when psub_count is 0 */
    uint32_t psub_count;
    struct sublist_qgroup *qgroups; /* NULL when qgroup_count is 0 */
    uint32_t qgroup_count;
};

struct sublist *sublist_new(void);
/* Frees the trie and the cache. Inserted subs are not touched (their owners may already have
 * freed them), so they must not be passed to sublist_remove afterwards. */
void sublist_free(struct sublist *sl);

/* Valid subscription subject (nats-server IsValidSubject): non-empty tokens split on '.', '>'
 * only as the last token, no space, tab, CR, LF or form feed. */
bool sublist_subject_valid(const char *s, size_t len);
/* True when no token is exactly '*' or '>'. Does not check validity ("a..b" is literal). */
bool sublist_subject_literal(const char *s, size_t len);

/* Inserts s. Returns 0, or -1 when s->subject is not valid (the caller sends
 * -ERR 'Invalid Subject'); s is then left uninserted. Inserting a sub that is already inserted
 * is a programmer error (asserted). */
int sublist_insert(struct sublist *sl, struct sub *s);
/* Removes s. A sub that is not inserted (never, or already removed) is ignored. */
void sublist_remove(struct sublist *sl, struct sub *s);

/* Every subscription matching the published subject (taken literally, see above): each
 * matching plain sub once, and the queue subs grouped by queue name. A subject with an empty
 * token ("", "a..b", ".a", "a.") matches nothing, as in nats-server.
 *
 * Lifetime, exactly: the returned memory is owned by the sublist and stays valid until the next
 * sublist_match or sublist_free on the same sublist; sublist_insert and sublist_remove never
 * free it. Its contents are a snapshot as of the call: after a sublist_remove it may still list
 * the removed sub, so a caller that removes subs while walking a result (closing a slow
 * consumer mid fan-out) must check the sub is still alive or defer the removal. */
const struct sublist_result *sublist_match(struct sublist *sl, const char *subject, size_t len);

/* Whether fn(s, arg) is true for some subscription matching subject (plain or queue), asked in
 * no particular order until one says yes. It neither reads nor writes the match cache, so it
 * leaves every result of sublist_match valid: in-process code running inside a fan-out (a
 * JetStream consumer checking a reply subject's interest) may call it. Slower than a cached
 * sublist_match: a trie walk every time. */
bool sublist_any(struct sublist *sl, const char *subject, size_t len, bool (*fn)(const struct sub *s, void *arg),
                 void *arg);

/* Number of inserted subscriptions. */
uint32_t sublist_count(const struct sublist *sl);
/* Number of trie nodes: 0 when empty, since empty branches are pruned on removal (for tests). */
size_t sublist_node_count(const struct sublist *sl);

#endif
