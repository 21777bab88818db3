/* fuzz_cluster_fsm.c: the cluster's replicated metadata (broker/core/cluster_fsm.c): what a
 * broker reads from a Raft entry or snapshot another broker (or a damaged disk) wrote. The first
 * byte picks the decoder, the rest is its input:
 *   - a command: it decodes or is refused with a message and nothing to free; a decoded one
 *     encodes to exactly cluster_cmd_size bytes, a multiple of 8, which decode back to the same
 *     encoding, and applies to a table that stays sorted and whose snapshot restores to itself;
 *   - a snapshot: it restores or is refused leaving the state as it was; a restored state
 *     snapshots to bytes that restore to the same snapshot.
 * Everything allocated is freed: LeakSanitizer runs with the target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/cluster_fsm.h"

static void finding(const char *what) {
    fprintf(stderr, "fuzz_cluster_fsm: %s\n", what);
    abort();
}

static uint8_t *snap(const struct cluster_fsm *f, size_t *len) {
    *len = cluster_fsm_snapshot_size(f);
    uint8_t *b = malloc(*len ? *len : 1);
    if (!b) abort();
    if (cluster_fsm_snapshot_encode(f, b, *len) != *len) finding("a snapshot does not fit its own size");
    return b;
}

static void check_sorted(const struct cluster_fsm *f) {
    for (uint32_t i = 1; i < f->count; i++)
        if (f->brokers[i - 1].node_id >= f->brokers[i].node_id) finding("brokers not in id order");
    for (uint32_t i = 1; i < f->topics.count; i++)
        if (strcmp(f->topics.v[i - 1].name, f->topics.v[i].name) >= 0) finding("topics not in name order");
}

/* f's snapshot restores into a fresh state with the same snapshot. */
static void check_snapshot(const struct cluster_fsm *f) {
    size_t n, m;
    uint8_t *a = snap(f, &n);
    static struct cluster_fsm g;
    memset(&g, 0, sizeof(g));
    char err[160];
    if (cluster_fsm_restore(&g, a, n, err, sizeof(err)) != 0) finding("a snapshot of a valid state is refused");
    uint8_t *b = snap(&g, &m);
    if (m != n || memcmp(a, b, n)) finding("a restored snapshot differs");
    cluster_fsm_free(&g);
    free(a);
    free(b);
}

static void fuzz_cmd(const uint8_t *p, size_t len) {
    struct cluster_cmd c;
    char err[160];
    if (cluster_cmd_decode(p, len, &c, err, sizeof(err)) != 0) {
        if (!err[0]) finding("a refusal without a message");
        return;
    }
    size_t n = cluster_cmd_size(&c);
    if (n == 0 || n % 8) finding("a decoded command has no size, or one not a multiple of 8");
    uint8_t *b = malloc(n);
    if (!b) abort();
    if (cluster_cmd_encode(&c, b, n) != n) finding("encode differs from cluster_cmd_size");
    struct cluster_cmd d;
    if (cluster_cmd_decode(b, n, &d, err, sizeof(err)) != 0) finding("an encoded command does not decode");
    uint8_t *b2 = malloc(n);
    if (!b2) abort();
    if (cluster_cmd_size(&d) != n || cluster_cmd_encode(&d, b2, n) != n || memcmp(b, b2, n))
        finding("a command does not round-trip");
    static struct cluster_fsm f;
    memset(&f, 0, sizeof(f));
    /* Twice: the second apply replaces (a put) or finds nothing (a remove). */
    for (int i = 0; i < 2; i++)
        if (cluster_fsm_apply(&f, &c) == 0) check_sorted(&f);
    check_snapshot(&f);
    cluster_fsm_free(&f);
    cluster_cmd_free(&d);
    cluster_cmd_free(&c);
    free(b);
    free(b2);
}

static void fuzz_snapshot(const uint8_t *p, size_t len) {
    static struct cluster_fsm f;
    memset(&f, 0, sizeof(f));
    char err[160];
    if (cluster_fsm_restore(&f, p, len, err, sizeof(err)) != 0) {
        if (!err[0]) finding("a refusal without a message");
        if (f.count || f.topics.count) finding("a refused snapshot changed the state");
        return;
    }
    check_sorted(&f);
    check_snapshot(&f);
    cluster_fsm_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) fuzz_snapshot(data + 1, size - 1);
    else fuzz_cmd(data + 1, size - 1);
    return 0;
}
