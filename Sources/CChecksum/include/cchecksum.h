#ifndef CCHECKSUM_H
#define CCHECKSUM_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `length` bytes. Start with 0; the value is final
/// (pre- and post-inverted), so crc(a + b) == cchecksum_crc32c(cchecksum_crc32c(0, a), b).
uint32_t cchecksum_crc32c(uint32_t crc, const void *bytes, size_t length);

/// 1 when the SSE4.2 crc32 instruction is used, 0 for the portable table.
int cchecksum_crc32c_is_hardware(void);
#endif
