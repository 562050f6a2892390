import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// The per-stream index: for each stream, the log position of every batch it wrote, by version.
/// Two memory-mapped files, whatever the number of streams:
///
/// `streams.idx`, an open-addressing hash table of 48-byte slots (linear probing):
/// ```
///  0  8  stream hash (0: empty slot)
///  8  8  version (the stream's last version)
/// 16  8  log position of the stream's first batch (its frame holds the full stream id,
///        which confirms a hash match)
/// 24  8  last block: its offset in blocks.idx's body + 1 (0: none)
/// 32  4  entries used in the last block
/// 36  4  reserved (0)
/// 40  8  timestamp of the newest event, microseconds since the epoch
/// ```
/// `blocks.idx`, append-only blocks of batch entries; a stream's blocks form a chain back to its
/// first, with capacities doubling from 4 to 65,536 entries, so finding a version is O(log n)
/// blocks plus a binary search, and a stream of 10 million events needs a few hundred blocks:
/// ```
///  0  8  previous block's offset + 1 (0: this is the first)
///  8  4  capacity in entries
/// 12  4  reserved (0)
/// 16  8  stream hash
/// 24     entries of 16 bytes: first version (u64), log position (u64)
/// ```
///
/// Thread-safety: callers hold the engine's index lock.
final class StreamIndex {
    static let tableMagic: UInt64 = 0x5844_4952_5453_5645  // "EVSTRIDX"
    static let blocksMagic: UInt64 = 0x5844_494B_4C42_5645  // "EVBLKIDX"
    static let slotBytes = 48
    static let blockHeaderBytes = 24
    static let entryBytes = 16
    static let firstBlockCapacity = 4
    static let blockCapacityMax = EngineLimits.streamBlockCapacityMax
    static let initialCapacity = 1024

    private(set) var table: IndexFile
    let blocks: IndexFile
    private(set) var count: Int
    private(set) var blocksUsed: Int
    private let directory: String
    private let fileMode: mode_t

    /// A stream's entry in the table.
    struct Slot {
        let index: Int
        var version: Int64
        var firstPosition: LogPosition
        var lastBlock: Int  // offset + 1, 0 for none
        var lastBlockCount: Int
        var lastTimestampMicros: Int64
    }

    /// One batch of a stream: where it is and the versions it holds.
    struct BatchRef: Equatable {
        var firstVersion: Int64
        var lastVersion: Int64
        var position: LogPosition
    }

    private init(table: IndexFile, blocks: IndexFile, count: Int, blocksUsed: Int, directory: String, fileMode: mode_t)
    {
        self.table = table
        self.blocks = blocks
        self.count = count
        self.blocksUsed = blocksUsed
        self.directory = directory
        self.fileMode = fileMode
    }

    static func tablePath(_ directory: String) -> String { directory + "/streams.idx" }
    static func blocksPath(_ directory: String) -> String { directory + "/blocks.idx" }

    /// Creates empty index files (replacing any).
    static func create(directory: String, fileMode: mode_t, io: any FileIO) throws -> StreamIndex {
        let table = try IndexFile.create(
            path: tablePath(directory), magic: tableMagic, entryBytes: slotBytes, capacity: initialCapacity,
            bodyBytes: initialCapacity * slotBytes, fileMode: fileMode, io: io)
        let blocks = try IndexFile.create(
            path: blocksPath(directory), magic: blocksMagic, entryBytes: entryBytes, capacity: 0, bodyBytes: 1 << 16,
            fileMode: fileMode, io: io)
        return StreamIndex(
            table: table, blocks: blocks, count: 0, blocksUsed: 0, directory: directory, fileMode: fileMode)
    }

    /// Opens existing files whose sizes fit the checkpoint's counts; `nil` when they do not.
    static func open(
        directory: String, count: Int, capacity: Int, blocksUsed: Int, writable: Bool, fileMode: mode_t, io: any FileIO
    ) throws -> StreamIndex? {
        guard
            let table = try IndexFile.open(
                path: tablePath(directory), magic: tableMagic, entryBytes: slotBytes, writable: writable, io: io),
            let blocks = try IndexFile.open(
                path: blocksPath(directory), magic: blocksMagic, entryBytes: entryBytes, writable: writable, io: io),
            table.capacity == capacity, capacity > 0, capacity & (capacity - 1) == 0,
            table.region.size >= IndexFile.headerBytes + capacity * slotBytes,
            blocks.region.size >= IndexFile.headerBytes + blocksUsed
        else { return nil }
        return StreamIndex(
            table: table, blocks: blocks, count: count, blocksUsed: blocksUsed, directory: directory, fileMode: fileMode
        )
    }

    var capacity: Int { table.capacity }

    // MARK: Slots

    private func slotOffset(_ index: Int) -> Int { IndexFile.headerBytes + index * Self.slotBytes }

    private func slot(at index: Int) -> Slot {
        let base = slotOffset(index)
        let region = table.region
        return Slot(
            index: index, version: Int64(bitPattern: region.load(UInt64.self, at: base + 8)),
            firstPosition: LogPosition(rawValue: region.load(UInt64.self, at: base + 16)),
            lastBlock: Int(region.load(UInt64.self, at: base + 24)),
            lastBlockCount: Int(region.load(UInt32.self, at: base + 32)),
            lastTimestampMicros: region.load(Int64.self, at: base + 40))
    }

    private func write(_ slot: Slot, hash: UInt64, into file: IndexFile) {
        let base = IndexFile.headerBytes + slot.index * Self.slotBytes
        let region = file.region
        region.store(hash, at: base)
        region.store(UInt64(bitPattern: slot.version), at: base + 8)
        region.store(slot.firstPosition.rawValue, at: base + 16)
        region.store(UInt64(slot.lastBlock), at: base + 24)
        region.store(UInt32(slot.lastBlockCount), at: base + 32)
        region.store(UInt32(0), at: base + 36)
        region.store(slot.lastTimestampMicros, at: base + 40)
    }

    /// Every stream's slot, in table order (for listings: O(capacity)).
    func allSlots() -> [Slot] {
        (0..<capacity).compactMap { index in
            table.region.load(UInt64.self, at: slotOffset(index)) == 0 ? nil : slot(at: index)
        }
    }

    /// The slot of the stream with `hash` whose first batch `isStream` confirms, or `nil`.
    func find(hash: UInt64, isStream: (LogPosition) throws -> Bool) rethrows -> Slot? {
        let mask = capacity - 1
        var index = Int(hash & UInt64(mask))
        while true {
            let stored = table.region.load(UInt64.self, at: slotOffset(index))
            if stored == 0 { return nil }
            if stored == hash {
                let candidate = slot(at: index)
                if try isStream(candidate.firstPosition) { return candidate }
            }
            index = (index + 1) & mask
        }
    }

    /// Records a batch of `eventCount` events of a stream at `position`.
    /// - Parameter existing: the stream's slot from `find`, or `nil` for a new stream.
    func record(
        existing: Slot?, hash: UInt64, firstVersion: Int64, eventCount: Int, position: LogPosition,
        timestampMicros: Int64
    ) throws {
        var slot: Slot
        if let existing {
            slot = existing
        } else {
            if (count + 1) * 10 > capacity * 7 { try grow() }
            slot = Slot(
                index: freeSlot(for: hash), version: 0, firstPosition: position, lastBlock: 0, lastBlockCount: 0,
                lastTimestampMicros: 0)
            count += 1
        }
        precondition(firstVersion == slot.version + 1, "versions of a stream are dense")
        var capacityOfLast = slot.lastBlock == 0 ? 0 : blockCapacity(slot.lastBlock - 1)
        if slot.lastBlock == 0 || slot.lastBlockCount == capacityOfLast {
            let newCapacity = min(max(Self.firstBlockCapacity, capacityOfLast * 2), Self.blockCapacityMax)
            let offset = try allocateBlock(capacity: newCapacity, previous: slot.lastBlock, hash: hash)
            slot.lastBlock = offset + 1
            slot.lastBlockCount = 0
            capacityOfLast = newCapacity
        }
        let entry =
            IndexFile.headerBytes + slot.lastBlock - 1 + Self.blockHeaderBytes + slot.lastBlockCount * Self.entryBytes
        blocks.region.store(UInt64(bitPattern: firstVersion), at: entry)
        blocks.region.store(position.rawValue, at: entry + 8)
        slot.lastBlockCount += 1
        slot.version = firstVersion + Int64(eventCount) - 1
        slot.lastTimestampMicros = timestampMicros
        write(slot, hash: hash, into: table)
    }

    /// Adds a stream whose batches so far are all in removed segments (a rebuild's start): its
    /// slot has its version and no batch entries.
    func seed(hash: UInt64, firstPosition: LogPosition, version: Int64, timestampMicros: Int64) throws {
        if (count + 1) * 10 > capacity * 7 { try grow() }
        let slot = Slot(
            index: freeSlot(for: hash), version: version, firstPosition: firstPosition, lastBlock: 0,
            lastBlockCount: 0, lastTimestampMicros: timestampMicros)
        count += 1
        write(slot, hash: hash, into: table)
    }

    /// Grows the table and the blocks for `frames` (each a stream's hash, its slot or `nil` for a
    /// new stream, in write order) before they are recorded, so that recording them needs no new
    /// space: a full disk fails here, before the log holds the frames.
    func reserve(for frames: [(hash: UInt64, slot: Slot?)]) throws {
        var newStreams = 0
        var blockBytes = 0
        var lastBlocks: [UInt64: (used: Int, capacity: Int)] = [:]
        for frame in frames {
            var last: (used: Int, capacity: Int)
            if let known = lastBlocks[frame.hash] {
                last = known
            } else if let slot = frame.slot {
                last = (slot.lastBlockCount, slot.lastBlock == 0 ? 0 : blockCapacity(slot.lastBlock - 1))
            } else {
                newStreams += 1
                last = (0, 0)
            }
            if last.capacity == 0 || last.used == last.capacity {
                let newCapacity = min(max(Self.firstBlockCapacity, last.capacity * 2), Self.blockCapacityMax)
                blockBytes += Self.blockHeaderBytes + newCapacity * Self.entryBytes
                last = (0, newCapacity)
            }
            last.used += 1
            lastBlocks[frame.hash] = last
        }
        while (count + newStreams) * 10 > capacity * 7 { try grow() }
        try blocks.reserveBody(blocksUsed + blockBytes)
    }

    private func freeSlot(for hash: UInt64) -> Int {
        let mask = capacity - 1
        var index = Int(hash & UInt64(mask))
        while table.region.load(UInt64.self, at: slotOffset(index)) != 0 { index = (index + 1) & mask }
        return index
    }

    /// Doubles the table: a new file is filled, synced and renamed over the old one.
    private func grow() throws {
        let newCapacity = capacity * 2
        let temporaryPath = Self.tablePath(directory) + ".grow"
        let bigger = try IndexFile.create(
            path: temporaryPath, magic: Self.tableMagic, entryBytes: Self.slotBytes, capacity: newCapacity,
            bodyBytes: newCapacity * Self.slotBytes, fileMode: fileMode, io: table.io)
        let mask = newCapacity - 1
        for index in 0..<capacity {
            let hash = table.region.load(UInt64.self, at: slotOffset(index))
            guard hash != 0 else { continue }
            var target = Int(hash & UInt64(mask))
            while bigger.region.load(UInt64.self, at: IndexFile.headerBytes + target * Self.slotBytes) != 0 {
                target = (target + 1) & mask
            }
            let moved = slot(at: index)
            write(
                Slot(
                    index: target, version: moved.version, firstPosition: moved.firstPosition,
                    lastBlock: moved.lastBlock,
                    lastBlockCount: moved.lastBlockCount, lastTimestampMicros: moved.lastTimestampMicros),
                hash: hash, into: bigger)
        }
        try bigger.synchronize()
        try Directory.rename(temporaryPath, to: Self.tablePath(directory), io: table.io)
        try Directory.synchronize(directory, io: table.io)
        table = bigger
    }

    // MARK: Blocks

    private func blockCapacity(_ offset: Int) -> Int {
        Int(blocks.region.load(UInt32.self, at: IndexFile.headerBytes + offset + 8))
    }

    private func blockPrevious(_ offset: Int) -> Int {
        Int(blocks.region.load(UInt64.self, at: IndexFile.headerBytes + offset))
    }

    private func allocateBlock(capacity: Int, previous: Int, hash: UInt64) throws -> Int {
        let offset = blocksUsed
        let size = Self.blockHeaderBytes + capacity * Self.entryBytes
        try blocks.reserveBody(offset + size)
        let base = IndexFile.headerBytes + offset
        blocks.region.store(UInt64(previous), at: base)
        blocks.region.store(UInt32(capacity), at: base + 8)
        blocks.region.store(UInt32(0), at: base + 12)
        blocks.region.store(hash, at: base + 16)
        blocksUsed += size
        return offset
    }

    private func entry(block offset: Int, at index: Int) -> (firstVersion: Int64, position: LogPosition) {
        let base = IndexFile.headerBytes + offset + Self.blockHeaderBytes + index * Self.entryBytes
        return (
            Int64(bitPattern: blocks.region.load(UInt64.self, at: base)),
            LogPosition(rawValue: blocks.region.load(UInt64.self, at: base + 8))
        )
    }

    /// The stream's blocks from the newest back to the one holding `version`: (offset, entries used).
    private func chain(_ slot: Slot, reaching version: Int64) -> [(offset: Int, used: Int)] {
        var chain: [(Int, Int)] = []
        var current = slot.lastBlock
        var used = slot.lastBlockCount
        while current != 0 {
            let offset = current - 1
            chain.append((offset, used))
            if entry(block: offset, at: 0).firstVersion <= version { break }
            current = blockPrevious(offset)
            used = current == 0 ? 0 : blockCapacity(current - 1)
        }
        return chain
    }

    /// The stream's batches holding versions greater than `version`, oldest first, until they hold
    /// at least `eventLimit` such events.
    func batches(of slot: Slot, after version: Int64, eventLimit: Int) -> [BatchRef] {
        guard version < slot.version else { return [] }
        let target = version + 1
        let blocksNewestFirst = chain(slot, reaching: target)
        var refs: [BatchRef] = []
        var covered = 0
        var pending: (Int64, LogPosition)?
        func close(_ nextFirstVersion: Int64) {
            guard let (first, position) = pending else { return }
            refs.append(BatchRef(firstVersion: first, lastVersion: nextFirstVersion - 1, position: position))
            covered += Int(nextFirstVersion - max(first, target))
            pending = nil
        }
        outer: for (blockIndex, block) in blocksNewestFirst.reversed().enumerated() {
            var start = 0
            if blockIndex == 0 {
                // Binary search: the last entry whose first version is at most `target`.
                var low = 0
                var high = block.used
                while low < high {
                    let middle = (low + high) / 2
                    if entry(block: block.offset, at: middle).firstVersion <= target {
                        low = middle + 1
                    } else {
                        high = middle
                    }
                }
                start = max(0, low - 1)
            }
            for index in start..<block.used {
                let (first, position) = entry(block: block.offset, at: index)
                close(first)
                if covered >= eventLimit { break outer }
                pending = (first, position)
            }
        }
        close(slot.version + 1)
        return refs
    }

    /// The stream's batches holding versions less than `version`, newest first, until they hold at
    /// least `eventLimit` such events.
    func batches(of slot: Slot, before version: Int64, eventLimit: Int) -> [BatchRef] {
        let target = min(version - 1, slot.version)
        guard target >= 1 else { return [] }
        var refs: [BatchRef] = []
        var covered = 0
        var nextFirst = slot.version + 1
        var current = slot.lastBlock
        var used = slot.lastBlockCount
        while current != 0 {
            let offset = current - 1
            for index in stride(from: used - 1, through: 0, by: -1) {
                let (first, position) = entry(block: offset, at: index)
                defer { nextFirst = first }
                guard first <= target else { continue }
                refs.append(BatchRef(firstVersion: first, lastVersion: nextFirst - 1, position: position))
                covered += Int(min(nextFirst - 1, target) - first + 1)
                if covered >= eventLimit || first == 1 { return refs }
            }
            current = blockPrevious(offset)
            used = current == 0 ? 0 : blockCapacity(current - 1)
        }
        return refs
    }

    // MARK: Durability

    /// The CRC-32C of the table and the used blocks.
    func checksum() throws -> UInt32 {
        let tableCRC = try table.checksum(bodyOffset: 0, count: capacity * Self.slotBytes)
        return try blocks.checksum(bodyOffset: 0, count: blocksUsed, continuing: tableCRC)
    }

    func synchronize() throws {
        try table.synchronize()
        try blocks.synchronize()
    }
}
