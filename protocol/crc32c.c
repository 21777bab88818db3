/* crc32c.c: CRC-32C for Kafka batches (see crc32c.h). Owns the lookup tables and the choice
 * between the CPU's CRC instruction and the slice-by-8 fallback. Both work on the "raw" state
 * (the register before the final inversion); crc32c() does the inversions around them. The
 * hardware loop runs three independent CRCs over adjacent lanes, because the instruction has a
 * latency of about three cycles but a throughput of one, then merges them with a precomputed
 * "advance over LANE zero bytes" operator, which is linear in the state and so fits in four
 * 256-entry tables. */
#include "protocol/crc32c.h"

#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */
#define CRC32C_LANE_BYTES 256   /* per lane; must be a multiple of 8 */

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC32C_HW_PATH 1
#define CRC32C_TARGET __attribute__((target("sse4.2")))
#define CRC32C_HW_U8(s, b) ((uint32_t)_mm_crc32_u8((s), (b)))
#define CRC32C_HW_U64(s, v) ((uint32_t)_mm_crc32_u64((s), (v)))
#elif defined(__aarch64__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <sys/auxv.h>
#define CRC32C_HW_PATH 1
/* Builtins rather than arm_acle.h: some compilers' arm_acle.h hides __crc32cd unless the whole
 * file is built with +crc, which would make the binary need it unconditionally. */
#if defined(__clang__)
#define CRC32C_TARGET __attribute__((target("crc")))
#define CRC32C_HW_U8(s, b) __builtin_arm_crc32cb((s), (b))
#define CRC32C_HW_U64(s, v) __builtin_arm_crc32cd((s), (v))
#else
#define CRC32C_TARGET __attribute__((target("+crc")))
#define CRC32C_HW_U8(s, b) __builtin_aarch64_crc32cb((s), (b))
#define CRC32C_HW_U64(s, v) ((uint32_t)__builtin_aarch64_crc32cx((s), (v)))
#endif
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1UL << 7) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif
#endif

/* crc32c_table[k][b]: raw state after byte b followed by k zero bytes, from state 0. */
static uint32_t crc32c_table[8][256];
/* crc32c_shift_table[k][b]: image of byte k of the state (value b) after LANE zero bytes. */
static uint32_t crc32c_shift_table[4][256];
static bool crc32c_hw;

static inline uint32_t crc32c_load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t crc32c_sw_update(uint32_t s, const uint8_t *p, size_t len) {
    uint32_t(*t)[256] = crc32c_table;
    for (; len >= 8; p += 8, len -= 8) {
        uint32_t lo = s ^ crc32c_load_le32(p), hi = crc32c_load_le32(p + 4);
        s = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    for (; len > 0; p++, len--) s = (s >> 8) ^ t[0][(s ^ *p) & 0xff];
    return s;
}

#ifdef CRC32C_HW_PATH
static inline uint64_t crc32c_load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v); /* little-endian hosts only, see the #if above */
    return v;
}

static inline uint32_t crc32c_shift_lane(uint32_t s) {
    return crc32c_shift_table[0][s & 0xff] ^ crc32c_shift_table[1][(s >> 8) & 0xff] ^
           crc32c_shift_table[2][(s >> 16) & 0xff] ^ crc32c_shift_table[3][s >> 24];
}

CRC32C_TARGET
static uint32_t crc32c_hw_update(uint32_t s, const uint8_t *p, size_t len) {
    for (; len > 0 && ((uintptr_t)p & 7) != 0; p++, len--) s = CRC32C_HW_U8(s, *p);
    for (; len >= 3 * CRC32C_LANE_BYTES; p += 3 * CRC32C_LANE_BYTES, len -= 3 * CRC32C_LANE_BYTES) {
        uint32_t b = 0, c = 0;
        for (size_t i = 0; i < CRC32C_LANE_BYTES; i += 8) {
            s = CRC32C_HW_U64(s, crc32c_load_le64(p + i));
            b = CRC32C_HW_U64(b, crc32c_load_le64(p + CRC32C_LANE_BYTES + i));
            c = CRC32C_HW_U64(c, crc32c_load_le64(p + 2 * CRC32C_LANE_BYTES + i));
        }
        s = crc32c_shift_lane(crc32c_shift_lane(s) ^ b) ^ c;
    }
    for (; len >= 8; p += 8, len -= 8) s = CRC32C_HW_U64(s, crc32c_load_le64(p));
    for (; len > 0; p++, len--) s = CRC32C_HW_U8(s, *p);
    return s;
}

static bool crc32c_detect_hw(void) {
#if defined(__x86_64__)
    __builtin_cpu_init(); /* we may run before libgcc's own constructor fills the CPU model */
    return __builtin_cpu_supports("sse4.2");
#else
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#endif
}
#endif

/* Runs before main so the hot path has no "initialised yet?" check; nothing in Sluice computes
 * a CRC from a constructor. */
__attribute__((constructor)) static void crc32c_init(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int i = 0; i < 8; i++) c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
        crc32c_table[0][b] = c;
    }
    for (int k = 1; k < 8; k++) {
        for (int b = 0; b < 256; b++) {
            uint32_t c = crc32c_table[k - 1][b];
            crc32c_table[k][b] = (c >> 8) ^ crc32c_table[0][c & 0xff];
        }
    }
    uint32_t bit_image[32];
    for (int i = 0; i < 32; i++) {
        uint32_t s = 1u << i;
        for (int n = 0; n < CRC32C_LANE_BYTES; n++) s = (s >> 8) ^ crc32c_table[0][s & 0xff];
        bit_image[i] = s;
    }
    for (int k = 0; k < 4; k++) {
        for (int b = 0; b < 256; b++) {
            uint32_t img = 0;
            for (int j = 0; j < 8; j++)
                if (b & (1 << j)) img ^= bit_image[8 * k + j];
            crc32c_shift_table[k][b] = img;
        }
    }
#ifdef CRC32C_HW_PATH
    crc32c_hw = crc32c_detect_hw();
#endif
}

uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len) {
    if (len == 0) return crc;
    return ~crc32c_sw_update(~crc, buf, len);
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len) {
    if (len == 0) return crc;
#ifdef CRC32C_HW_PATH
    if (crc32c_hw) return ~crc32c_hw_update(~crc, buf, len);
#endif
    return ~crc32c_sw_update(~crc, buf, len);
}

bool crc32c_hw_available(void) { return crc32c_hw; }
