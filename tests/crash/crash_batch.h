/* crash_batch.h: the batches the crash test writes, as a pure function of (seed, base offset).
 *
 * The writer and the verifier run in different processes, across kill -9, with nothing shared
 * but the data directory. Making every batch's bytes depend only on where it lands in the log
 * lets the verifier rebuild the exact expected bytes (CRC included) for any offset it finds,
 * so "byte-for-byte" needs no side record of what was written. */
#ifndef SL_CRASH_BATCH_H
#define SL_CRASH_BATCH_H

#include <stdint.h>
#include <stdio.h>

#include "protocol/kafka_batch.h"
#include "storage/log.h"

#define CRASH_TOPIC "crash"
#define CRASH_PARTITION 0
#define CRASH_RECORDS_MAX 5
#define CRASH_VALUE_BYTES_MAX 3000
#define CRASH_SEGMENT_BYTES_DEFAULT (64u << 10) /* small, so runs roll and seal segments */
/* Header + 5 records of at most 3000 value bytes, a short key and a few varints each. */
#define CRASH_BATCH_BYTES_MAX (KAFKA_BATCH_HEADER_BYTES + CRASH_RECORDS_MAX * (CRASH_VALUE_BYTES_MAX + 96))

/* splitmix64's finaliser: a cheap, well-mixed hash so neighbouring offsets get unrelated
 * sizes (otherwise rolls would fall at regular, less interesting positions). */
static inline uint64_t crash_mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The batch that belongs at base: 1..5 records, record i with key "k<base+i>", a value of
 * 0..3000 bytes, timestamp base+i. Its base-offset field is set to base, so it equals what the
 * log stores. Returns its length; 0 only if out is too small (a bug in the caller). */
static inline uint32_t crash_batch_build(uint8_t *out, size_t cap, uint64_t seed, int64_t base) {
    static uint8_t values[CRASH_RECORDS_MAX][CRASH_VALUE_BYTES_MAX];
    char keys[CRASH_RECORDS_MAX][24];
    struct kafka_record_in recs[CRASH_RECORDS_MAX];
    uint64_t h = crash_mix(seed ^ crash_mix((uint64_t)base));
    uint32_t n = 1 + (uint32_t)(h % CRASH_RECORDS_MAX);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = crash_mix(h + i + 1);
        uint32_t vlen = (uint32_t)(r % (CRASH_VALUE_BYTES_MAX + 1));
        uint64_t x = r | 1; /* xorshift64 must not start at zero */
        for (uint32_t j = 0; j < vlen; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values[i][j] = (uint8_t)x;
        }
        int kl = snprintf(keys[i], sizeof(keys[i]), "k%lld", (long long)(base + i));
        recs[i] = (struct kafka_record_in){.key = keys[i], .key_len = kl, .value = values[i],
                                           .value_len = (int32_t)vlen, .timestamp_ms = base + i};
    }
    size_t len = kafka_batch_encode(out, cap, recs, n, -1, -1, -1);
    if (len == 0) return 0;
    kafka_batch_set_base_offset(out, base);
    return (uint32_t)len;
}

/* The log configuration both programs open the store with. Retention is off: timestamps are
 * offsets (1970), so time retention would delete everything the verifier must find. */
static inline void crash_log_config(struct log_config *c, uint64_t segment_bytes) {
    log_config_defaults(c);
    c->durability = LOG_DURABILITY_APPEND;
    c->segment_bytes = segment_bytes;
    c->retention_ms = -1;
    c->retention_bytes = -1;
}

#endif
