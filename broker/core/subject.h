/* subject.h: NATS subject matching for core code (JetStream consumers and streams), pure and
 * allocation-free. Tokens are split on '.'; a wildcard is only a whole token: '*' is exactly one
 * token, '>' one or more tokens and only last; "a*" or "a>b" are literal tokens (nats-server's
 * sublist rules, docs/nats-subset.md section 9). Matching is case-sensitive and byte-exact. */
#ifndef SL_BROKER_SUBJECT_H
#define SL_BROKER_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the literal subject `subject` is matched by `filter` (which may hold wildcards).
 * A wildcard token in `subject` is taken literally: "orders.*" published is matched by the
 * filters "orders.*", "orders.>" and "*.>", not by "orders.created" (nats-server routes it so). */
bool subject_matches(const char *filter, const char *subject);

/* True when every subject `sub` can match is also matched by `of` (nats-server's
 * subjectIsSubsetMatch): "wqr.a" is a subset of "wqr.*", "foo.*.bar" of "foo.>", not the other
 * way round. Work-queue streams refuse a filtered consumer whose filter is a subset of another
 * consumer's or the other way round (err_code 10100). */
bool subject_is_subset(const char *sub, const char *of);

/* True when s has a '*' or '>' token. */
bool subject_has_wildcard(const char *s);

/* True for a syntactically valid subject or filter: non-empty, no empty token, no whitespace,
 * '>' only as the last token. */
bool subject_valid(const char *s);

#endif
