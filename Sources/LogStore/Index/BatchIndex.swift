import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// `batches.idx`: one 32-byte entry per batch, in log order, so a sequence id is found by binary
/// search and the per-stream index can be rebuilt without reading the log's payloads.
///
/// ```
/// entry:  0  8  first sequence id
///         8  8  log position of the frame (LogPosition)
///        16  8  stream hash (StableHash.stream)
///        24  8  first version
/// ```
/// Append-only: after a crash, entries past the checkpoint's count are simply overwritten.
///
/// Thread-safety: callers hold the engine's index lock.
final class BatchIndex {
    static let magic: UInt64 = 0x5844_4954_4142_5645  // "EVBATIDX"
    static let entryBytes = 32

    struct Entry: Equatable {
        var firstSequenceID: Int64
        var position: LogPosition
        var streamHash: UInt64
        var firstVersion: Int64
    }

    let file: IndexFile
    private(set) var count: Int
    /// The checksum of entries [0, checkedCount), extended as the count grows.
    private var checkedCount = 0
    private var checkedCRC: UInt32 = 0

    init(file: IndexFile, count: Int) {
        self.file = file
        self.count = count
    }

    static func create(path: String, fileMode: mode_t, io: any FileIO) throws -> BatchIndex {
        BatchIndex(
            file: try IndexFile.create(
                path: path, magic: magic, entryBytes: entryBytes, capacity: 0, bodyBytes: 1 << 16, fileMode: fileMode,
                io: io),
            count: 0)
    }

    static func open(path: String, count: Int, writable: Bool, io: any FileIO) throws -> BatchIndex? {
        guard
            let file = try IndexFile.open(path: path, magic: magic, entryBytes: entryBytes, writable: writable, io: io),
            file.region.size >= IndexFile.headerBytes + count * entryBytes
        else { return nil }
        return BatchIndex(file: file, count: count)
    }

    private func offset(_ index: Int) -> Int { IndexFile.headerBytes + index * Self.entryBytes }

    func entry(at index: Int) -> Entry {
        precondition(index >= 0 && index < count, "batch index \(index) out of 0..<\(count)")
        let base = offset(index)
        let region = file.region
        return Entry(
            firstSequenceID: Int64(bitPattern: region.load(UInt64.self, at: base)),
            position: LogPosition(rawValue: region.load(UInt64.self, at: base + 8)),
            streamHash: region.load(UInt64.self, at: base + 16),
            firstVersion: Int64(bitPattern: region.load(UInt64.self, at: base + 24)))
    }

    /// Grows the file for `additional` more entries (a full disk fails here, not in `append`).
    func reserve(additional: Int) throws {
        try file.reserveBody((count + additional) * Self.entryBytes)
    }

    func append(_ entry: Entry) throws {
        try file.reserveBody((count + 1) * Self.entryBytes)
        let base = offset(count)
        let region = file.region
        region.store(UInt64(bitPattern: entry.firstSequenceID), at: base)
        region.store(entry.position.rawValue, at: base + 8)
        region.store(entry.streamHash, at: base + 16)
        region.store(UInt64(bitPattern: entry.firstVersion), at: base + 24)
        count += 1
    }

    /// Forgets entries from `newCount` on (they are rewritten by the replay that follows).
    func truncate(to newCount: Int) {
        precondition(newCount <= count, "truncate only shrinks")
        count = newCount
        if checkedCount > newCount {
            checkedCount = 0
            checkedCRC = 0
        }
    }

    /// The index of the last entry whose first sequence id is at most `sequenceID`, or `nil`.
    /// - Complexity: O(log n).
    func lastEntry(atOrBefore sequenceID: Int64) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if entry(at: middle).firstSequenceID <= sequenceID { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    /// The CRC-32C of entries [0, count).
    func checksum() throws -> UInt32 {
        if checkedCount > count {
            checkedCount = 0
            checkedCRC = 0
        }
        checkedCRC = try file.checksum(
            bodyOffset: checkedCount * Self.entryBytes, count: (count - checkedCount) * Self.entryBytes,
            continuing: checkedCRC)
        checkedCount = count
        return checkedCRC
    }
}
