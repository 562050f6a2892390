import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// The 64-byte header every index file starts with, and the mapping behind it.
///
/// ```
///  0  8  magic (per file kind)
///  8  4  format version (1)
/// 12  4  bytes per entry or slot
/// 16  8  capacity in slots (hash tables) or 0
/// 24 36  reserved (0)
/// 60  4  CRC-32C of bytes [0, 60)
/// ```
/// Counts, lengths and content checksums live in the checkpoint, not here: the header only says
/// what the file is, so a file of the wrong kind or version is rebuilt rather than misread.
final class IndexFile: @unchecked Sendable {  // safe: the engine's index lock serializes access
    static let headerBytes = 64
    static let formatVersion: UInt32 = 1
    /// The largest index file.
    static let bytesMax = EngineLimits.indexFileBytesMax

    let path: String
    let region: MappedRegion
    let capacity: Int
    var io: any FileIO { region.file.io }

    private init(path: String, region: MappedRegion, capacity: Int) {
        self.path = path
        self.region = region
        self.capacity = capacity
    }

    /// Creates (replacing) an index file with a fresh header and `bodyBytes` of zeroed body.
    static func create(
        path: String, magic: UInt64, entryBytes: Int, capacity: Int, bodyBytes: Int, fileMode: mode_t, io: any FileIO
    ) throws -> IndexFile {
        try Directory.remove(path, io: io)
        let file = try SystemFile.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: fileMode, io: io)
        var header = ByteWriter(capacity: headerBytes)
        header.append(magic)
        header.append(formatVersion)
        header.append(UInt32(entryBytes))
        header.append(UInt64(capacity))
        header.append(contentsOf: [UInt8](repeating: 0, count: 36))
        header.append(Checksum.crc32c(header.bytes))
        try file.allocate(size: headerBytes + bodyBytes)
        try file.write(header.bytes, at: 0)
        let region = try MappedRegion(file: file, reservedBytes: reservation(headerBytes + bodyBytes), writable: true)
        return IndexFile(path: path, region: region, capacity: capacity)
    }

    /// Opens an index file and checks its header; `nil` when it is missing or not of this kind and
    /// version (the caller rebuilds it).
    static func open(path: String, magic: UInt64, entryBytes: Int, writable: Bool, io: any FileIO) throws -> IndexFile?
    {
        guard let file = try SystemFile.openIfExists(path, writable: writable, io: io) else { return nil }
        guard try file.size() >= headerBytes else { return nil }
        let header = try file.read(count: headerBytes, at: 0)
        let valid: Bool = header.withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian == magic
                && raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian == formatVersion
                && raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian == UInt32(entryBytes)
                && raw.loadUnaligned(fromByteOffset: 60, as: UInt32.self).littleEndian
                    == Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<60]))
        }
        guard valid else { return nil }
        let rawCapacity = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian }
        // Bounded before it is trusted (a larger value would not even fit an Int): no table is larger than an index file.
        guard rawCapacity <= UInt64(bytesMax) else { return nil }
        let capacity = Int(rawCapacity)
        let region = try MappedRegion(file: file, reservedBytes: reservation(try file.size()), writable: writable)
        return IndexFile(path: path, region: region, capacity: capacity)
    }

    /// The CRC-32C of body bytes `[offset, offset + count)` (offsets relative to the body), read
    /// with `pread` so the scan leaves the mapping's pages alone.
    func checksum(bodyOffset: Int, count: Int, continuing crc: UInt32 = 0) throws -> UInt32 {
        guard count > 0 else { return crc }
        return try region.file.checksum(offset: Self.headerBytes + bodyOffset, count: count, continuing: crc)
    }

    /// The address space a mapping of a `fileBytes` file reserves when it opens.
    private static func reservation(_ fileBytes: Int) -> Int {
        max(EngineLimits.indexReservationBytesMin, fileBytes * 2)
    }

    /// Makes sure the body holds at least `bodyBytes`, growing the file in steps that double.
    func reserveBody(_ bodyBytes: Int) throws {
        let needed = Self.headerBytes + bodyBytes
        precondition(needed <= Self.bytesMax, "an index file stays within its size limit")
        guard needed > region.size else { return }
        var newSize = max(region.size, 1 << 16)
        while newSize < needed { newSize += min(newSize, 1 << 26) }
        try region.grow(to: newSize)
    }

    /// Flushes the mapping to the file (`msync`) and syncs the file.
    func synchronize() throws {
        try region.synchronize()
        try region.file.synchronizeData()
    }
}
