import CChecksum
import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// The one seam between the engine and the operating system's files. Every open, read, write,
/// sync, truncate, allocation, msync, rename, unlink and directory sync of the log store goes
/// through a `FileIO`, so a fault-injecting layer (Tests' and Fuzz's `FaultInjectingIO`) can sit
/// under the engine: record what was synced, simulate power loss, inject EIO and ENOSPC.
///
/// Each call returns what the C function returns (-1 with `errno` set on failure); `SystemCall`
/// turns failures into typed errors, retrying EINTR.
package protocol FileIO: Sendable {
    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32
    func close(_ descriptor: Int32)
    func pread(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int) -> Int
    func pwrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ offset: Int) -> Int
    func fdatasync(_ descriptor: Int32) -> Int32
    func fsync(_ descriptor: Int32) -> Int32
    func ftruncate(_ descriptor: Int32, _ size: Int) -> Int32
    /// `posix_fallocate`: returns the error number (0 on success), not -1.
    func fallocate(_ descriptor: Int32, _ size: Int) -> Int32
    /// `msync(MS_SYNC)` of a shared mapping of `descriptor`.
    func msync(_ descriptor: Int32, _ address: UnsafeMutableRawPointer, _ count: Int) -> Int32
    func rename(_ from: String, _ to: String) -> Int32
    func unlink(_ path: String) -> Int32
    func mkdir(_ path: String, _ mode: mode_t) -> Int32
    /// `fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`: the range reads as zeros and its
    /// whole blocks are freed; -1 with `errno` (`EOPNOTSUPP` where the file system cannot).
    func punchHole(_ descriptor: Int32, _ offset: Int, _ count: Int) -> Int32
}

/// The real thing: each method calls the C function of its name.
package struct SystemIO: FileIO {
    package static let shared = SystemIO()

    package init() {}

    package func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
    package func close(_ descriptor: Int32) { _ = Glibc.close(descriptor) }
    package func pread(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int) -> Int {
        Glibc.pread(descriptor, buffer, count, off_t(offset))
    }
    package func pwrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ offset: Int) -> Int {
        Glibc.pwrite(descriptor, bytes, count, off_t(offset))
    }
    package func fdatasync(_ descriptor: Int32) -> Int32 { Glibc.fdatasync(descriptor) }
    package func fsync(_ descriptor: Int32) -> Int32 { Glibc.fsync(descriptor) }
    package func ftruncate(_ descriptor: Int32, _ size: Int) -> Int32 { Glibc.ftruncate(descriptor, off_t(size)) }
    package func fallocate(_ descriptor: Int32, _ size: Int) -> Int32 { posix_fallocate(descriptor, 0, off_t(size)) }
    package func msync(_ descriptor: Int32, _ address: UnsafeMutableRawPointer, _ count: Int) -> Int32 {
        Glibc.msync(address, count, MS_SYNC)
    }
    package func rename(_ from: String, _ to: String) -> Int32 { Glibc.rename(from, to) }
    package func unlink(_ path: String) -> Int32 { Glibc.unlink(path) }
    package func mkdir(_ path: String, _ mode: mode_t) -> Int32 { Glibc.mkdir(path, mode) }
    package func punchHole(_ descriptor: Int32, _ offset: Int, _ count: Int) -> Int32 {
        cfileio_punch_hole(descriptor, off_t(offset), off_t(count))
    }
}
