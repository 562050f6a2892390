import EventSourcingCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The changes that compact one sealed segment, recorded durably before any is made, so that a
/// crash in the middle is finished (redone) by the next writable open: the file `compaction` in the
/// store's directory, present only while a segment is being compacted.
///
/// A segment is compacted in place: each batch whose events are all hidden gets the codec
/// `compacted` and a checksum of its header and stream id only (two writes: the header, the
/// trailer), and its payload becomes a hole (zeros); the segment header takes format 3 and the
/// footer a new body checksum. Offsets do not move, so no index changes, and readers of this and
/// other processes go on reading the mapped file. Every change is an idempotent write of bytes
/// fixed in advance, so redoing them all after a crash at any instant gives the same segment.
///
/// ```
///  0  8  magic "EVCOMP\0\x01"
///  8  4  format (1)
/// 12  4  segment ordinal
/// 16  4  write count W
/// 20  4  hole count H
/// then W writes: offset (u64), length L (u32), L bytes
/// then H holes:  offset (u64), length (u64)
/// end-4  CRC-32C of everything before it
/// ```
struct CompactionJournal: Equatable {
    static let magic: [UInt8] = Array("EVCOMP".utf8) + [0, 1]
    static let format: UInt32 = 1
    static let name = "compaction"

    var ordinal: Int
    var writes: [(offset: Int, bytes: [UInt8])]
    var holes: [(offset: Int, count: Int)]

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.ordinal == rhs.ordinal && lhs.writes.elementsEqual(rhs.writes) { $0 == $1 }
            && lhs.holes.elementsEqual(rhs.holes) { $0 == $1 }
    }

    static func path(_ directory: String) -> String { directory + "/" + name }

    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.append(contentsOf: Self.magic)
        writer.append(Self.format)
        writer.append(UInt32(ordinal))
        writer.append(UInt32(writes.count))
        writer.append(UInt32(holes.count))
        for write in writes {
            writer.append(UInt64(write.offset))
            writer.append(UInt32(write.bytes.count))
            writer.append(contentsOf: write.bytes)
        }
        for hole in holes {
            writer.append(UInt64(hole.offset))
            writer.append(UInt64(hole.count))
        }
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    /// - Throws: `EventStoreError.corruption` naming the file when it is damaged.
    static func decode(_ bytes: [UInt8], path: String) throws -> CompactionJournal {
        try bytes.withUnsafeBytes { raw in
            var reader = try ByteReader.checkedFile(
                raw, magic: magic, format: Self.format, minimumBytes: 28, context: "compaction journal '\(path)'",
                kind: "compaction journal")
            let ordinal = Int(try reader.read(UInt32.self))
            let writeCount = Int(try reader.read(UInt32.self))
            let holeCount = Int(try reader.read(UInt32.self))
            var writes: [(Int, [UInt8])] = []
            for _ in 0..<writeCount {
                let offset = Int(try reader.read(UInt64.self))
                let count = Int(try reader.read(UInt32.self))
                writes.append((offset, Array(try reader.readSlice(count: count))))
            }
            var holes: [(Int, Int)] = []
            for _ in 0..<holeCount {
                holes.append((Int(try reader.read(UInt64.self)), Int(try reader.read(UInt64.self))))
            }
            guard reader.offset == raw.count - 4 else { throw reader.damaged("its length does not match its entries") }
            return CompactionJournal(ordinal: ordinal, writes: writes, holes: holes)
        }
    }

    /// Records the journal durably: temporary file, sync, rename, sync of the directory.
    func save(directory: String, fileMode: mode_t, io: any FileIO) throws {
        try Directory.replace(Self.path(directory), with: encode(), fileMode: fileMode, io: io)
    }

    /// Makes every change to the segment and syncs it (`makeChanges`), then removes the journal
    /// (`remove`). `changed` is called once every change is made (in the page cache), before the syncs.
    func apply(directory: String, io: any FileIO, changed: () -> Void = {}) throws {
        try makeChanges(directory: directory, io: io, changed: changed)
        try Self.remove(directory: directory, io: io)
    }

    /// Makes every change to the segment and syncs it. Only while the journal is durable and not
    /// being removed: a power loss can tear any sector being written, even one written again with
    /// the bytes it holds, and only the journal's redo repairs it.
    func makeChanges(directory: String, io: any FileIO, changed: () -> Void = {}) throws {
        let file = try SystemFile.open(
            directory + "/" + Segment.fileName(ordinal: ordinal), flags: O_WRONLY, io: io)
        for change in changes() {
            if let bytes = change.bytes {
                try file.write(bytes, at: change.offset)
            } else {
                try file.punchHole(at: change.offset, count: change.count)
            }
        }
        changed()
        try file.synchronizeData()
    }

    /// Removes the journal, once its changes are durable, and syncs the directory.
    static func remove(directory: String, io: any FileIO) throws {
        try Directory.remove(path(directory), io: io)
        try Directory.synchronize(directory, io: io)
    }

    static let blockBytes = 4096

    /// The writes and holes as few system calls: of each hole, the whole blocks inside it are
    /// punched (freed), and the rest is written as zeros, since punching changes the file's
    /// extents, which the file system journals and every sync of any file then waits for; changes
    /// that touch one another are written as one run of at most 1 MiB. The bytes the segment ends
    /// with are the same. (Changes that overlap, which a plan never makes, are made as listed:
    /// writes, then holes.)
    func changes() -> [(offset: Int, count: Int, bytes: [UInt8]?)] {
        let listed =
            writes.map { (offset: $0.offset, count: $0.bytes.count, bytes: Optional($0.bytes)) }
            + holes.map { (offset: $0.offset, count: $0.count, bytes: [UInt8]?.none) }
        let sorted = listed.filter { $0.count > 0 }.sorted { $0.offset < $1.offset }
        guard zip(sorted, sorted.dropFirst()).allSatisfy({ $0.offset + $0.count <= $1.offset }) else { return listed }
        // Each hole split into zeros, the punched blocks, zeros.
        let block = Self.blockBytes
        var pieces: [(offset: Int, count: Int, bytes: [UInt8]?)] = []
        for change in sorted {
            guard change.bytes == nil else {
                pieces.append(change)
                continue
            }
            let end = change.offset + change.count
            let first = (change.offset + block - 1) / block * block
            let last = end / block * block
            guard last > first else {
                pieces.append((change.offset, change.count, [UInt8](repeating: 0, count: change.count)))
                continue
            }
            if first > change.offset {
                pieces.append((change.offset, first - change.offset, [UInt8](repeating: 0, count: first - change.offset)))
            }
            pieces.append((first, last - first, nil))
            if end > last { pieces.append((last, end - last, [UInt8](repeating: 0, count: end - last))) }
        }
        var runs: [(offset: Int, count: Int, bytes: [UInt8]?)] = []
        var run: (offset: Int, bytes: [UInt8])?
        func closeRun() {
            if let pending = run { runs.append((pending.offset, pending.bytes.count, pending.bytes)) }
            run = nil
        }
        for piece in pieces {
            guard let bytes = piece.bytes else {
                closeRun()
                runs.append(piece)
                continue
            }
            if var pending = run, pending.offset + pending.bytes.count == piece.offset,
                pending.bytes.count + bytes.count <= 1 << 20
            {
                pending.bytes += bytes
                run = pending
            } else {
                closeRun()
                run = (piece.offset, bytes)
            }
        }
        closeRun()
        return runs
    }

    /// Finishes a compaction a crash or a failure interrupted (writable opens, before segments
    /// are checked; and each compaction, before it starts).
    ///
    /// The journal is made durable before any change: a save whose directory sync failed leaves
    /// the file under its name, but a power loss could still take the name back, and changes made
    /// from it would then be a damaged segment that nothing finishes. When that sync fails again,
    /// nothing is changed and the failure is reported.
    /// - Returns: The ordinal of the segment it finished, if there was a journal.
    @discardableResult
    static func redo(directory: String, io: any FileIO, logger: Logger) throws -> Int? {
        let path = path(directory)
        guard let file = try SystemFile.openIfExists(path, io: io) else { return nil }
        let journal = try decode(try file.readAll(), path: path)
        try file.synchronize()
        try Directory.synchronize(directory, io: io)
        logger.notice(
            "finishing a compaction that a crash interrupted",
            metadata: ["segment": "\(Segment.fileName(ordinal: journal.ordinal))"])
        try journal.apply(directory: directory, io: io)
        return journal.ordinal
    }
}
