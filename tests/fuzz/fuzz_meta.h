/* fuzz_meta.h: what fuzz_meta.c and the files that compile the broker's static decoders into it
 * (fuzz_meta_topics.c, fuzz_meta_stream.c) share: a growable byte string for re-encoded
 * records, and how a broken invariant ends the run. */
#ifndef SL_FUZZ_META_H
#define SL_FUZZ_META_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz_bytes {
    uint8_t *p;
    size_t len;
};

static inline void fz_bytes_set(struct fz_bytes *b, const void *p, size_t len) {
    free(b->p);
    b->p = malloc(len ? len : 1);
    if (!b->p) abort();
    if (len) memcpy(b->p, p, len);
    b->len = len;
}

static inline void fz_finding(const char *what) {
    fprintf(stderr, "%s\n", what);
    abort();
}

/* Decode, then encode what decoded: false (out untouched) if the record was refused. */
bool fuzz_topic_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out);
bool fuzz_stream_roundtrip(const uint8_t *v, size_t len, struct fz_bytes *out);
/* Never refused: a malformed deleted set decodes to what it could read. */
void fuzz_stream_deleted(const uint8_t *v, size_t len, struct fz_bytes *out);

#endif
