/* crc32c.h: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka
 * RecordBatch v2. crc32c() uses the CPU's CRC instruction when it has one (SSE4.2 on x86-64,
 * the ARMv8 CRC extension on aarch64), picked once at startup, and a slice-by-8 table
 * otherwise. Pure: no I/O, no allocation, safe from any thread. */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Standard semantics: crc32c(0, "123456789", 9) == 0xE3069283. The pre- and post-inversion
 * happen inside, so a running CRC chains: crc32c(crc32c(0, a, n), b, m) is the CRC of a||b.
 * buf may be NULL when len is 0. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The table-driven path alone, same semantics; exposed so tests can compare it with the
 * hardware path. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* Whether crc32c() runs on the CPU's CRC instruction. */
bool crc32c_hw_available(void);

#endif
