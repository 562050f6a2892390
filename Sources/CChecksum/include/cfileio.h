#ifndef CFILEIO_H
#define CFILEIO_H

#include <sys/types.h>

/// Reads up to `count` bytes at `offset` only if the page cache holds them (`preadv2` with
/// `RWF_NOWAIT`): returns what `preadv2` returns, -1 with `errno` EAGAIN when the read would wait
/// for the disk, and -1 with ENOSYS, EOPNOTSUPP or EINVAL where the kernel or the file system
/// cannot read that way. Swift's Glibc module does not export `preadv2`.
ssize_t cfileio_pread_cached(int descriptor, void *buffer, size_t count, off_t offset);

/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): the range reads as zeros and its whole
/// blocks are freed. Returns 0, or -1 with errno set.
int cfileio_punch_hole(int descriptor, off_t offset, off_t count);

#endif
