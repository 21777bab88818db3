/* kafka_names.h: a set of names (spans into a request), for the requests that list topics:
 * Kafka reads Metadata's names into a set (duplicates folded) and answers a name CreateTopics,
 * CreatePartitions or DeleteTopics lists twice with one INVALID_REQUEST "Duplicate topic name."
 * (ControllerApis). Open addressing, grown with the distinct names, so a request naming one
 * topic a million times costs a million hashes and one small table. The names are borrowed:
 * the set never copies. */
#ifndef SL_BROKER_KAFKA_NAMES_H
#define SL_BROKER_KAFKA_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/kbuf.h"

struct kname_slot {
    const char *p;
    int32_t len; /* -2: empty slot, -1: the null name */
    uint32_t count;
};

struct kname_set {
    struct kname_slot *slots;
    uint32_t mask;
    uint32_t count; /* distinct names */
};

/* For a request of n names (the table grows with the distinct ones). */
void kname_set_init(struct kname_set *s, uint32_t n);
void kname_set_free(struct kname_set *s);
/* Adds the name (a null name, len < 0, counts as its own value); returns how many times it has
 * been added, this time included: 1 for a new name. */
uint32_t kname_set_add(struct kname_set *s, struct kstr name);
/* How many times the name was added (0: never, or forgotten). */
uint32_t kname_set_count(const struct kname_set *s, struct kstr name);
/* Sets the name's count to 0 (a duplicate answered once); the name stays in the set. */
void kname_set_forget(struct kname_set *s, struct kstr name);

#endif
