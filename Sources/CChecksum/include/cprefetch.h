#ifndef CPREFETCH_H
#define CPREFETCH_H

/// Asks the CPU to start loading the cache line that holds `address` (a hint: it never faults and
/// has no effect on results). Swift has no prefetch of its own; the key index's batch probes use
/// this to overlap the cache misses of many random slots.
static inline void cprefetch_read(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
