import EventSourcingCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One numbered log file holding a contiguous range of sequence ids: a header, whole batch frames,
/// and, once sealed, a footer.
///
/// ```
/// header (64 bytes)                        footer (32 bytes, sealed segments only)
///  0  8  magic "EVSEGMNT"                   0  8  magic "EVSEGEND"
///  8  4  format version (2; 1 earlier)      8  8  last sequence id (0 when empty)
/// 12  4  header length (64)                16  8  frame count
/// 16  4  segment ordinal                   24  4  CRC-32C of bytes [0, footer offset)
/// 20  4  reserved (0)                      28  4  CRC-32C of footer bytes [0, 28)
/// 24  8  first sequence id
/// 32  8  created, microseconds since the epoch
/// 40 20  reserved (0)
/// 60  4  CRC-32C of header bytes [0, 60)
/// ```
///
/// Frames are appended with `pwrite` and read through a read-only shared mapping that reserves
/// room for the segment's largest size, so readers never see the mapping move.
///
/// Thread-safety: one writer (the store's writer thread) appends; readers read below `endOffset`,
/// which is published atomically after the bytes are written.
final class Segment: @unchecked Sendable {  // safe: mutable state is the atomic end and writer-only fields
    static let headerBytes = 64
    static let footerBytes = 32
    /// The format of the segments this release creates; it also reads `1` (docs/FORMAT.md).
    static let currentFormatVersion: UInt32 = 2
    /// A sealed segment that compaction rewrote: it may hold compacted frames (`Codec.compacted`),
    /// which earlier releases do not read, so they refuse it by its version.
    static let compactedFormatVersion: UInt32 = 3
    static let headerMagic: UInt64 = 0x544E_4D47_4553_5645  // "EVSEGMNT" in file order
    static let footerMagic: UInt64 = 0x444E_4547_4553_5645  // "EVSEGEND" in file order

    let ordinal: Int
    let path: String
    let file: SystemFile
    let firstSequenceID: Int64
    /// The segment's format: its frames are of this format (1 or 2).
    let formatVersion: Int
    /// The format of its frames: a compacted segment (format 3) holds format-2 frames.
    var frameFormatVersion: Int { min(formatVersion, 2) }
    private let mapping: MappedRegion
    private let publishedEnd: Atomic<Int>

    /// Writer-only: the CRC-32C of bytes [0, endOffset), for the footer.
    var runningChecksum: UInt32
    /// Writer-only: frames in the segment.
    var frameCount: Int
    /// Whether the segment has its footer (then it is never written again).
    private(set) var isSealed: Bool

    /// The end of the committed frames: readers may read below it.
    var endOffset: Int { publishedEnd.load(ordering: .acquiring) }

    static func fileName(ordinal: Int) -> String {
        let digits = String(ordinal)
        return "segment-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".log"
    }

    /// The ordinal in a segment file name, or `nil` for other names.
    static func ordinal(fromFileName name: String) -> Int? {
        guard name.hasPrefix("segment-"), name.hasSuffix(".log") else { return nil }
        let digits = name.dropFirst("segment-".count).dropLast(".log".count)
        guard digits.count == 10, digits.allSatisfy(\.isASCII), let value = Int(digits), value >= 1 else { return nil }
        return value
    }

    private init(
        ordinal: Int, path: String, file: SystemFile, firstSequenceID: Int64, formatVersion: Int,
        mapping: MappedRegion, end: Int, checksum: UInt32, frameCount: Int, isSealed: Bool
    ) {
        self.ordinal = ordinal
        self.path = path
        self.file = file
        self.firstSequenceID = firstSequenceID
        self.formatVersion = formatVersion
        self.mapping = mapping
        self.publishedEnd = Atomic(end)
        self.runningChecksum = checksum
        self.frameCount = frameCount
        self.isSealed = isSealed
    }

    /// The address space a segment's mapping reserves when it opens: its size limit and the
    /// footer. The last frame may pass the limit (a frame never splits across segments); the
    /// mapping then grows (`MappedRegion`).
    static func reservation(segmentBytesMax: Int, fileSize: Int) -> Int {
        max(segmentBytesMax, fileSize) + footerBytes
    }

    /// Creates a new, empty segment file (mode `fileMode`) with its header, made durable.
    static func create(
        directory: String, ordinal: Int, firstSequenceID: Int64, segmentBytesMax: Int, fileMode: mode_t, io: any FileIO
    ) throws -> Segment {
        let path = directory + "/" + fileName(ordinal: ordinal)
        // The header is written and synced under a temporary name, which becomes the segment's
        // only then: a segment name always has a durable header behind it. (Synced in place, a
        // header whose sync failed could stay visible though Linux had dropped its page, and a
        // later sync would not write it.) A crash leaves a `.tmp` file, which open removes; a
        // failed creation is tried again by the next write, replacing what it left.
        let temporaryPath = path + ".tmp"
        try Directory.remove(temporaryPath, io: io)
        let file = try SystemFile.open(temporaryPath, flags: O_RDWR | O_CREAT | O_EXCL, mode: fileMode, io: io)
        var header = ByteWriter(capacity: headerBytes)
        header.append(headerMagic)
        header.append(currentFormatVersion)
        header.append(UInt32(headerBytes))
        header.append(UInt32(ordinal))
        header.append(UInt32(0))
        header.append(UInt64(firstSequenceID))
        header.append(Timestamp.nowMicroseconds())
        header.append(contentsOf: [UInt8](repeating: 0, count: 20))
        header.append(Checksum.crc32c(header.bytes))
        do {
            try file.write(header.bytes, at: 0)
            try file.synchronizeData()
        } catch {
            try? Directory.remove(temporaryPath, io: io)
            throw error
        }
        try Directory.rename(temporaryPath, to: path, io: io)
        try Directory.synchronize(directory, io: io)
        let mapping = try MappedRegion(
            file: file, reservedBytes: reservation(segmentBytesMax: segmentBytesMax, fileSize: headerBytes),
            writable: false)
        return Segment(
            ordinal: ordinal, path: path, file: file, firstSequenceID: firstSequenceID,
            formatVersion: Int(currentFormatVersion), mapping: mapping, end: headerBytes,
            checksum: Checksum.crc32c(header.bytes), frameCount: 0, isSealed: false)
    }

    /// Opens an existing segment and checks its header; the caller scans or verifies the rest.
    /// - Throws: `EventStoreError.corruption` naming the file and offset when the header is damaged.
    static func open(path: String, ordinal: Int, segmentBytesMax: Int, writable: Bool, io: any FileIO) throws -> Segment
    {
        let file = try SystemFile.open(path, flags: writable ? O_RDWR : O_RDONLY, io: io)
        let size = try file.size()
        guard size >= headerBytes else {
            throw EventStoreError.corruption("'\(path)' offset 0: \(size) bytes, shorter than a segment header")
        }
        let header = try file.read(count: headerBytes, at: 0)
        let parsed: (UInt64, UInt32, UInt32, UInt32, UInt64, UInt32) = header.withUnsafeBytes { raw in
            (
                raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian,
                raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian,
                raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian,
                raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian,
                raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian,
                raw.loadUnaligned(fromByteOffset: 60, as: UInt32.self).littleEndian
            )
        }
        guard parsed.0 == headerMagic, parsed.5 == Checksum.crc32c(Array(header[0..<60])) else {
            throw EventStoreError.corruption("'\(path)' offset 0: segment header is damaged")
        }
        guard (1...compactedFormatVersion).contains(parsed.1), parsed.2 == UInt32(headerBytes) else {
            throw EventStoreError.corruption(
                "'\(path)' offset 8: segment format version \(parsed.1) is not one this release reads "
                    + "(1 to \(compactedFormatVersion)); a later release wrote it")
        }
        guard Int(parsed.3) == ordinal, parsed.4 >= 1 else {
            throw EventStoreError.corruption("'\(path)' offset 16: header names segment \(parsed.3), not \(ordinal)")
        }
        let mapping = try MappedRegion(
            file: file, reservedBytes: reservation(segmentBytesMax: segmentBytesMax, fileSize: size), writable: false)
        return Segment(
            ordinal: ordinal, path: path, file: file, firstSequenceID: Int64(parsed.4), formatVersion: Int(parsed.1),
            mapping: mapping, end: headerBytes, checksum: 0, frameCount: 0, isSealed: false)
    }

    /// The file's current size (bytes beyond `endOffset` are a tail still to be judged).
    func fileSize() throws -> Int { try file.size() }

    /// Lends the file's bytes `[offset, offset + count)`; they must exist in the file.
    @inline(__always)
    func withBytes<T>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try mapping.withBytes(offset: offset, count: count, body)
    }

    /// Makes the mapping cover a file that grew to `size` (after recovery, or after this process wrote).
    func noteFileSize(_ size: Int) throws {
        try mapping.refreshSize()
        precondition(mapping.size >= size, "the file must hold what was written")
    }

    /// Sets the committed end after recovery or after frames were written and, with fsync
    /// durability, synced. Readers see frames below it from now on.
    func publishEnd(_ end: Int) { publishedEnd.store(end, ordering: .releasing) }

    /// Marks the segment sealed after recovery found its footer.
    func markSealed() { isSealed = true }

    /// Writes `bytes` at the end (not yet published) and extends the running checksum.
    func append(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        precondition(!isSealed, "a sealed segment is never written")
        try file.write(bytes, at: offset)
        if offset + bytes.count > mapping.size { try mapping.noteSize(offset + bytes.count) }
        runningChecksum = Checksum.crc32c(bytes, continuing: runningChecksum)
    }

    /// Writes the footer after the last frame, which ends at `end`, and syncs the file; then
    /// publishes `end`: the segment is immutable from here on.
    func seal(end: Int, lastSequenceID: Int64) throws {
        precondition(!isSealed, "a segment is sealed once")
        var footer = ByteWriter(capacity: Self.footerBytes)
        footer.append(Self.footerMagic)
        footer.append(UInt64(lastSequenceID))
        footer.append(UInt64(frameCount))
        footer.append(runningChecksum)
        footer.append(Checksum.crc32c(footer.bytes))
        try file.write(footer.bytes, at: end)
        try file.truncate(to: end + Self.footerBytes)
        try file.synchronizeData()
        try mapping.noteSize(end + Self.footerBytes)
        publishEnd(end)
        isSealed = true
    }

    /// Takes back frames written but never published (a group whose write or sync failed): the
    /// file is cut to `end` and the cut synced, and the running checksum and frame count are what
    /// they were there. A footer written by a failed seal goes too. The cut drops the pages that a
    /// failed sync may have left in the page cache, so no process reads them; the sync makes it
    /// durable before anything is judged without the write: recovery keeps a whole valid frame
    /// past the last sync, so a power loss that kept the write's pages but not the cut would bring
    /// back a failed write under a later change judged without it (a deletion that then hid too
    /// little; compaction-fault seed 20261214 round 1289).
    /// - Throws: when the cut or its sync fails (the writer then stops: the write may come back).
    func rollBack(to end: Int, checksum: UInt32, frameCount: Int) throws {
        precondition(end >= endOffset, "only bytes never published are taken back")
        try file.truncate(to: end)
        try file.synchronizeData()
        try mapping.noteSize(end)
        runningChecksum = checksum
        self.frameCount = frameCount
        isSealed = false
    }

    /// Cuts the file to `size` (a torn tail) and syncs it.
    func truncate(to size: Int) throws {
        try file.truncate(to: size)
        try file.synchronizeData()
        try mapping.noteSize(size)
    }

    /// The footer at `offset`, when a valid one stands there: (last sequence id, frame count, body checksum).
    func footer(at offset: Int, fileSize: Int) -> (lastSequenceID: Int64, frameCount: Int, bodyChecksum: UInt32)? {
        guard offset >= Self.headerBytes, offset + Self.footerBytes == fileSize else { return nil }
        return withBytes(offset: offset, count: Self.footerBytes) { raw in
            guard raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian == Self.footerMagic,
                raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self).littleEndian
                    == Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
            else { return nil }
            return (
                Int64(bitPattern: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian),
                Int(raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian),
                raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self).littleEndian
            )
        }
    }
}
