// The machine's reference for the log engine (issue 17): what a plain C loop over a minimal
// checksummed log of W1's events does on this machine, and the bare cost of one durable append.
// event-bench calls these in-process, in the same run as the stores, and reports the log engine's
// figures as ratios to them. clogloop.c describes the record and each loop exactly.
#ifndef CLOGLOOP_H
#define CLOGLOOP_H

#include <stddef.h>
#include <stdint.h>

/// The system call that failed and its errno, or a damaged record found by the scan (`error` 0).
typedef struct {
    const char *call;
    int error;
} clogloop_failure;

/// Creates the file at `path` and appends `records` records of W1's shape (stream id, type, keys
/// `<key_prefix>N` for N from 0, empty data), one write(2) and one fdatasync(2) per `batch` records.
/// Returns the bytes written, or -1 with `failure` set.
int64_t clogloop_write(const char *path, const char *stream_id, const char *type, const char *key_prefix,
                       int64_t records, int64_t batch, clogloop_failure *failure);

/// Reads the file at `path` from the start in large chunks, checks every record's length, sequence
/// number and CRC-32C, and reads its fields. Returns the number of records, or -1 with `failure`
/// set. `field_bytes` receives the sum of the stream id, type and key lengths (so the work stays).
int64_t clogloop_scan(const char *path, uint64_t *field_bytes, clogloop_failure *failure);

/// Creates the file at `path` and appends `warm_up + samples` records of `record_bytes` bytes, each
/// with one write(2) and one fdatasync(2); `nanoseconds[i]` receives the time of sample `i` (write
/// plus fdatasync, CLOCK_MONOTONIC), after the warm-up. Returns 0, or -1 with `failure` set.
int clogloop_sync_latencies(const char *path, int32_t warm_up, int32_t samples, int32_t record_bytes,
                            uint64_t *nanoseconds, clogloop_failure *failure);

/// Whether the CRC-32C runs on the SSE4.2 instruction (1) or a slicing-by-8 table (0).
int clogloop_crc32c_is_hardware(void);

#endif
