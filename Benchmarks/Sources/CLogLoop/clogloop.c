// The machine's reference for the log engine (issue 17): a plain C loop over a minimal
// checksummed log of W1's events, and the bare cost of one durable append. Nothing here is
// tuned beyond what a careful C programmer would write first; it is what "the machine can do"
// with a log, against which the engine's W1 and W3 figures are read as ratios.
//
// One record (every integer little-endian):
//
//    0  4  record length N: bytes from here through the CRC
//    4  8  sequence number (1, 2, 3, ...)
//   12  2  stream id length S
//   14  1  type length T
//   15  1  key length K
//   16  4  data length D (0 in W1: empty data)
//   20  S  stream id, then T bytes of type, K bytes of key, D bytes of data
//  N-4  4  CRC-32C of bytes [0, N-4)
//
// W1's events (stream "w1", type "Increment", keys "event-0" ... "event-999999", no data) are 41
// to 47 bytes each. The write loop encodes a batch of records into one buffer, writes it with
// one write(2) and makes it durable with one fdatasync(2): one batch per W1 write of 10,000
// events, as the engine's `.fsync` does. The scan reads the file in 1 MiB read(2) calls and
// checks every record's length, fields, sequence number and CRC before counting it. The CRC-32C
// uses the SSE4.2 crc32 instruction, 8 bytes at a time, where the CPU has it (the engine's
// CChecksum does the same), and a slicing-by-8 table elsewhere.
#define _GNU_SOURCE
#include "clogloop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    header_bytes = 20,
    crc_bytes = 4,
    record_bytes_min = header_bytes + crc_bytes,
    scan_chunk_bytes = 1 << 20,
};

// MARK: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)

static uint32_t crc_table[8][256];
static int crc_table_ready = 0;
static int crc_use_hardware = -1;

static void crc_build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int s = 1; s < 8; s++) {
            c = crc_table[0][c & 0xFF] ^ (c >> 8);
            crc_table[s][n] = c;
        }
    }
    crc_table_ready = 1;
}

static uint32_t crc_software(uint32_t crc, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = crc_table[7][word & 0xFF] ^ crc_table[6][(word >> 8) & 0xFF] ^ crc_table[5][(word >> 16) & 0xFF] ^
              crc_table[4][(word >> 24) & 0xFF] ^ crc_table[3][(word >> 32) & 0xFF] ^
              crc_table[2][(word >> 40) & 0xFF] ^ crc_table[1][(word >> 48) & 0xFF] ^ crc_table[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = crc_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    while (n--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}

static int crc_detect_hardware(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}
#else
static uint32_t crc_hardware(uint32_t crc, const unsigned char *p, size_t n) { return crc_software(crc, p, n); }
static int crc_detect_hardware(void) { return 0; }
#endif

int clogloop_crc32c_is_hardware(void) {
    if (crc_use_hardware < 0) {
        crc_use_hardware = crc_detect_hardware();
        if (!crc_use_hardware && !crc_table_ready) crc_build_table();
    }
    return crc_use_hardware;
}

static uint32_t crc32c(const unsigned char *bytes, size_t length) {
    // The detection ran before any loop started (each entry point calls it first).
    uint32_t c = crc_use_hardware ? crc_hardware(~0u, bytes, length) : crc_software(~0u, bytes, length);
    return ~c;
}

// MARK: Little-endian fields

static void put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32); }

// MARK: System calls, retrying EINTR

static int fail(clogloop_failure *failure, const char *call, int error) {
    failure->call = call;
    failure->error = error;
    return -1;
}

static int write_all(int fd, const unsigned char *bytes, size_t length, clogloop_failure *failure) {
    while (length > 0) {
        ssize_t written = write(fd, bytes, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return fail(failure, "write", errno);
        }
        bytes += written;
        length -= (size_t)written;
    }
    return 0;
}

static int sync_data(int fd, clogloop_failure *failure) {
    while (fdatasync(fd) != 0) {
        if (errno != EINTR) return fail(failure, "fdatasync", errno);
    }
    return 0;
}

static int open_new(const char *path, clogloop_failure *failure) {
    int fd;
    do fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) fail(failure, "open", errno);
    return fd;
}

// MARK: The loops

/// `value` in decimal at `out`; returns the digits written (at most 20).
static size_t put_decimal(unsigned char *out, uint64_t value) {
    unsigned char reversed[20];
    size_t count = 0;
    do {
        reversed[count++] = (unsigned char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (size_t i = 0; i < count; i++) out[i] = reversed[count - 1 - i];
    return count;
}

int64_t clogloop_write(const char *path, const char *stream_id, const char *type, const char *key_prefix,
                       int64_t records, int64_t batch, clogloop_failure *failure) {
    clogloop_crc32c_is_hardware();
    size_t stream_length = strlen(stream_id), type_length = strlen(type), prefix_length = strlen(key_prefix);
    if (records < 0 || batch <= 0 || stream_length > UINT16_MAX || type_length > UINT8_MAX ||
        prefix_length + 20 > UINT8_MAX)
        return fail(failure, "clogloop_write arguments", EINVAL);
    size_t record_max = header_bytes + stream_length + type_length + prefix_length + 20 + crc_bytes;
    unsigned char *buffer = malloc(record_max * (size_t)batch);
    if (!buffer) return fail(failure, "malloc", ENOMEM);
    int fd = open_new(path, failure);
    if (fd < 0) {
        free(buffer);
        return -1;
    }
    int64_t total = 0;
    for (int64_t next = 0; next < records;) {
        int64_t end = next + batch < records ? next + batch : records;
        unsigned char *p = buffer;
        for (int64_t n = next; n < end; n++) {
            unsigned char *field = p + header_bytes;
            memcpy(field, stream_id, stream_length);
            field += stream_length;
            memcpy(field, type, type_length);
            field += type_length;
            memcpy(field, key_prefix, prefix_length);
            size_t key_length = prefix_length + put_decimal(field + prefix_length, (uint64_t)n);
            field += key_length;
            size_t length = (size_t)(field - p) + crc_bytes;
            put32(p, (uint32_t)length);
            put64(p + 4, (uint64_t)n + 1);
            put16(p + 12, (uint16_t)stream_length);
            p[14] = (unsigned char)type_length;
            p[15] = (unsigned char)key_length;
            put32(p + 16, 0);
            put32(field, crc32c(p, length - crc_bytes));
            p += length;
        }
        if (write_all(fd, buffer, (size_t)(p - buffer), failure) != 0 || sync_data(fd, failure) != 0) {
            close(fd);
            free(buffer);
            return -1;
        }
        total += p - buffer;
        next = end;
    }
    free(buffer);
    if (close(fd) != 0) return fail(failure, "close", errno);
    return total;
}

int64_t clogloop_scan(const char *path, uint64_t *field_bytes, clogloop_failure *failure) {
    clogloop_crc32c_is_hardware();
    unsigned char *buffer = malloc(scan_chunk_bytes);
    if (!buffer) return fail(failure, "malloc", ENOMEM);
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        free(buffer);
        return fail(failure, "open", errno);
    }
    int64_t count = 0;
    uint64_t fields = 0;
    size_t have = 0;  // bytes in `buffer`, from its start
    for (;;) {
        ssize_t got = read(fd, buffer + have, scan_chunk_bytes - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            fail(failure, "read", errno);
            count = -1;
            break;
        }
        if (got == 0) {
            if (have != 0) {  // a torn last record
                fail(failure, "scan: a record cut short at the end of the file", 0);
                count = -1;
            }
            break;
        }
        have += (size_t)got;
        size_t position = 0;
        while (have - position >= record_bytes_min) {
            const unsigned char *record = buffer + position;
            uint32_t length = get32(record);
            if (length < record_bytes_min || length > scan_chunk_bytes) {
                fail(failure, "scan: a record length out of bounds", 0);
                count = -1;
                goto done;
            }
            if (have - position < length) break;  // the rest comes with the next read
            uint16_t stream_length = get16(record + 12);
            uint32_t payload = (uint32_t)stream_length + record[14] + record[15] + get32(record + 16);
            if ((uint64_t)header_bytes + payload + crc_bytes != length || get64(record + 4) != (uint64_t)count + 1 ||
                crc32c(record, length - crc_bytes) != get32(record + length - crc_bytes)) {
                fail(failure, "scan: a damaged record (fields, sequence number or CRC-32C)", 0);
                count = -1;
                goto done;
            }
            fields += (uint64_t)stream_length + record[14] + record[15];
            count += 1;
            position += length;
        }
        memmove(buffer, buffer + position, have - position);
        have -= position;
    }
done:
    free(buffer);
    close(fd);
    *field_bytes = fields;
    return count;
}

static uint64_t monotonic_nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int clogloop_sync_latencies(const char *path, int32_t warm_up, int32_t samples, int32_t record_bytes,
                            uint64_t *nanoseconds, clogloop_failure *failure) {
    clogloop_crc32c_is_hardware();
    if (warm_up < 0 || samples < 0 || record_bytes < record_bytes_min || record_bytes > 4096)
        return fail(failure, "clogloop_sync_latencies arguments", EINVAL);
    unsigned char record[4096];
    // A record of the same layout with no fields but `data`, its length making up `record_bytes`.
    memset(record, 'x', (size_t)record_bytes);
    put32(record, (uint32_t)record_bytes);
    put16(record + 12, 0);
    record[14] = 0;
    record[15] = 0;
    put32(record + 16, (uint32_t)(record_bytes - record_bytes_min));
    int fd = open_new(path, failure);
    if (fd < 0) return -1;
    for (int32_t i = 0; i < warm_up + samples; i++) {
        put64(record + 4, (uint64_t)i + 1);
        put32(record + record_bytes - crc_bytes, crc32c(record, (size_t)record_bytes - crc_bytes));
        uint64_t start = monotonic_nanoseconds();
        if (write_all(fd, record, (size_t)record_bytes, failure) != 0 || sync_data(fd, failure) != 0) {
            close(fd);
            return -1;
        }
        uint64_t end = monotonic_nanoseconds();
        if (i >= warm_up) nanoseconds[i - warm_up] = end - start;
    }
    if (close(fd) != 0) return fail(failure, "close", errno);
    return 0;
}
