import EventSourcingCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A file mapped into memory (`mmap(2)`, `MAP_SHARED`), the one owner of that raw memory.
///
/// The mapping reserves more address space than the file holds, so that the file can grow beneath
/// it with `posix_fallocate` (never sparse, so a full disk fails the grow call instead of faulting
/// a later store); only bytes below `size` are ever touched. When the file outgrows the
/// reservation, a larger one is mapped and becomes the current one; the earlier mappings stay
/// until the region goes away (`deinit`), so a reader still using one reads the same pages. A
/// reservation starts near what the file needs and doubles: address space is plentiful but not
/// endless (128 TiB for a process), and a process may hold many stores.
///
/// Thread-safety: `@unchecked Sendable`; the engine serializes writers and publishes what readers
/// may see under its index lock. The current base is published before a size that needs it, and
/// read after the size, so a reader that sees a size sees a mapping that covers it.
final class MappedRegion: @unchecked Sendable {
    let file: SystemFile
    let isWritable: Bool
    private let currentBase: Atomic<UInt>
    private let currentReservation: Atomic<Int>
    private let visibleSize: Atomic<Int>
    /// Every mapping this region made (the current one last), unmapped in `deinit`.
    private let mappings = Mutex<[(address: UInt, bytes: Int)]>([])

    /// The file's size as this process knows it: bytes below it may be read (and written, when writable).
    var size: Int { visibleSize.load(ordering: .acquiring) }

    /// The address space the current mapping covers.
    var reservedBytes: Int { currentReservation.load(ordering: .acquiring) }

    @inline(__always)
    private var base: UnsafeMutableRawPointer {
        // safe: set from a successful mmap before any size that needs it is published.
        UnsafeMutableRawPointer(bitPattern: currentBase.load(ordering: .acquiring))!
    }

    /// Maps `file` with at least `reservedBytes` of address space (and at least its size).
    init(file: SystemFile, reservedBytes: Int, writable: Bool) throws {
        let size = try file.size()
        self.file = file
        self.isWritable = writable
        self.visibleSize = Atomic(size)
        let bytes = Self.roundedToPages(max(reservedBytes, size, 1))
        let address = try Self.map(file, bytes: bytes, writable: writable)
        self.currentBase = Atomic(UInt(bitPattern: address))
        self.currentReservation = Atomic(bytes)
        mappings.withLock { $0.append((UInt(bitPattern: address), bytes)) }
    }

    deinit {
        mappings.withLock { all in
            for mapping in all { munmap(UnsafeMutableRawPointer(bitPattern: mapping.address), mapping.bytes) }
        }
    }

    private static func map(_ file: SystemFile, bytes: Int, writable: Bool) throws -> UnsafeMutableRawPointer {
        let protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        let address = mmap(nil, bytes, protection, MAP_SHARED, file.descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw SystemCall.error("mmap", path: file.path, code: errno)
        }
        return address
    }

    private static func roundedToPages(_ bytes: Int) -> Int {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        return (bytes + pageSize - 1) / pageSize * pageSize
    }

    /// Makes the current mapping cover `bytes`: a new mapping of twice the reservation (or more)
    /// when it does not. Callers then publish a size up to `bytes`.
    private func reserve(_ bytes: Int) throws {
        guard bytes > reservedBytes else { return }
        try mappings.withLock { all in
            let current = currentReservation.load(ordering: .acquiring)
            guard bytes > current else { return }  // another reader remapped first
            let larger = Self.roundedToPages(max(bytes, current * 2))
            let address = try Self.map(file, bytes: larger, writable: isWritable)
            all.append((UInt(bitPattern: address), larger))
            currentBase.store(UInt(bitPattern: address), ordering: .releasing)
            currentReservation.store(larger, ordering: .releasing)
        }
    }

    /// Grows the file (allocated, zero-filled) to at least `newSize` bytes.
    func grow(to newSize: Int) throws {
        guard newSize > size else { return }
        try reserve(newSize)
        try file.allocate(size: newSize)
        visibleSize.store(newSize, ordering: .releasing)
    }

    /// Notes that the file is now `newSize` bytes long (this process wrote or cut it).
    func noteSize(_ newSize: Int) throws {
        try reserve(newSize)
        visibleSize.store(newSize, ordering: .releasing)
    }

    /// Reads the file's size again (a reader following a writer in another process).
    func refreshSize() throws {
        try noteSize(try file.size())
    }

    /// Readies `[offset, offset + count)` (a range of zeros) for a store into every page: writes
    /// its zeros through the file (`pwrite`, so the file system allocates the pages in bulk), then
    /// maps them all writable in one call (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14+; a kernel
    /// without it maps them on first touch). Filling a fresh table directly through the mapping
    /// instead takes one page fault per page, each through the file system's allocation path:
    /// twice the cost of growing the key table.
    func prepareForWriting(offset: Int, count: Int) throws {
        precondition(isWritable && offset >= 0 && count >= 0 && offset + count <= size, "outside the writable mapping")
        let zeros = [UInt8](repeating: 0, count: min(count, 1 << 20))
        var done = 0
        while done < count {
            let length = min(zeros.count, count - done)
            try zeros.withUnsafeBytes {
                try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<length]), at: offset + done)
            }
            done += length
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / pageSize * pageSize
        // A hint: a failure (an older kernel: EINVAL) only costs the page faults it would have saved.
        _ = try? SystemCall.run("madvise", path: file.path) {
            madvise(base + start, offset + count - start, MADV_POPULATE_WRITE)
        }
    }

    /// Writes the dirty pages of `[offset, offset + count)` to the file and waits (`msync(2)`, `MS_SYNC`).
    func synchronize(offset: Int = 0, count: Int? = nil) throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / pageSize * pageSize
        let end = min(size, offset + (count ?? size))
        guard end > start else { return }
        try SystemCall.run("msync", path: file.path) { file.io.msync(file.descriptor, base + start, end - start) }
    }

    /// Lends the bytes `[offset, offset + count)`; the pointer must not escape `body`.
    @inline(__always)
    func withBytes<T>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        precondition(offset >= 0 && count >= 0 && offset + count <= size, "read outside the mapped file")
        return try body(UnsafeRawBufferPointer(start: base + offset, count: count))
    }

    /// Lends the bytes `[offset, offset + count)` for writing; the pointer must not escape `body`.
    @inline(__always)
    func withMutableBytes<T>(offset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> T) rethrows -> T
    {
        precondition(isWritable, "write to a read-only mapping")
        precondition(offset >= 0 && count >= 0 && offset + count <= size, "write outside the mapped file")
        return try body(UnsafeMutableRawBufferPointer(start: base + offset, count: count))
    }

    /// A little-endian integer at `offset`.
    @inline(__always)
    func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= size, "read outside the mapped file")
        // safe: bounds checked above; loadUnaligned tolerates any alignment.
        return T(littleEndian: (base + offset).loadUnaligned(as: T.self))
    }

    /// Stores a little-endian integer at `offset`.
    @inline(__always)
    func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(isWritable, "write to a read-only mapping")
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= size, "write outside the mapped file")
        // safe: bounds checked above.
        (base + offset).storeBytes(of: value.littleEndian, as: T.self)
    }
}
