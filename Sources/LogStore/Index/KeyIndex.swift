import CChecksum
import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// `keys.idx`: which (stream, idempotency key) pairs are stored, as an open-addressing hash table
/// of 12-byte slots (linear probing). The top 24 bits of a key's `StableHash.key(key, streamHash)`
/// are its fingerprint, and the fingerprint alone picks its home slot (its top log2(capacity) bits;
/// past 2^24 slots, the fingerprint shifted left), so the table can be rehashed from its slots.
/// A slot holds
/// ```
///  0  8  bits 40...63: fingerprint (never 0); bits 0...39: sequence id of the event (>= 1)
///  8  4  hash bits 8...39, which tell apart keys whose fingerprints share their home bits
/// ```
/// and a first word of 0 marks an empty slot. Only 56 bits of the hash live here; a hit is
/// confirmed against the full key in the log record, so a collision costs one extra read, never
/// a wrong answer. Slots are
/// only ever filled, never changed, so after a crash the slots filled since the last checkpoint
/// (sequence id above it) can be told apart, emptied, and filled again by replaying the log.
///
/// Thread-safety: only the writer thread uses it.
final class KeyIndex {
    static let magic: UInt64 = 0x5844_4959_454B_5645  // "EVKEYIDX"
    static let slotBytes = 12
    static let sequenceBits: UInt64 = 40
    static let sequenceMask: UInt64 = (1 << 40) - 1
    static let initialCapacity = 4096
    /// How many keys ahead a batch probe asks the CPU to load the home slot.
    static let prefetchDistance = 16

    private(set) var file: IndexFile
    private(set) var count: Int
    private let path: String
    private let fileMode: mode_t

    private init(file: IndexFile, count: Int, path: String, fileMode: mode_t) {
        self.file = file
        self.count = count
        self.path = path
        self.fileMode = fileMode
    }

    static func path(_ directory: String) -> String { directory + "/keys.idx" }

    /// Where a table grown since the last checkpoint lives until a checkpoint describes it (that
    /// checkpoint still describes `keys.idx`, left as it was, so recovery after a crash catches
    /// up from the checkpoint instead of rebuilding every key).
    static func grownPath(_ directory: String) -> String { directory + "/keys.idx.grown" }

    /// The files that may hold the table a checkpoint describes, the grown one first.
    static func candidatePaths(_ directory: String) -> [String] { [grownPath(directory), path(directory)] }

    static func create(directory: String, capacity: Int = initialCapacity, fileMode: mode_t, io: any FileIO) throws
        -> KeyIndex
    {
        precondition(
            capacity >= 16 && capacity & (capacity - 1) == 0, "a key table's capacity is a power of two, at least 16")
        let path = path(directory)
        try Directory.remove(grownPath(directory), io: io)
        let file = try IndexFile.create(
            path: path, magic: magic, entryBytes: slotBytes, capacity: capacity, bodyBytes: capacity * slotBytes,
            fileMode: fileMode, io: io)
        return KeyIndex(file: file, count: 0, path: path, fileMode: fileMode)
    }

    /// Opens the table in `filePath` (one of `candidatePaths`) when it has `capacity` slots.
    static func open(
        filePath: String, directory: String, count: Int, capacity: Int, writable: Bool, fileMode: mode_t, io: any FileIO
    ) throws -> KeyIndex? {
        guard
            let file = try IndexFile.open(
                path: filePath, magic: magic, entryBytes: slotBytes, writable: writable, io: io),
            file.capacity == capacity, capacity > 0, capacity & (capacity - 1) == 0,
            file.region.size >= IndexFile.headerBytes + capacity * slotBytes
        else { return nil }
        let index = KeyIndex(file: file, count: count, path: path(directory), fileMode: fileMode)
        index.isGrown = filePath == grownPath(directory)
        index.highestSequenceID = .max
        return index
    }

    /// The table a checkpoint describes (`capacity`, `checksum` as of `sequenceID`), with the slots
    /// of later keys emptied, under the name `keys.idx`; any other table file is removed. `nil`
    /// when neither file matches (the caller rebuilds).
    static func openCheckpointed(
        directory: String, count: Int, capacity: Int, upTo sequenceID: Int64, checksum: UInt32, fileMode: mode_t,
        io: any FileIO
    ) throws -> KeyIndex? {
        var found: KeyIndex?
        for filePath in candidatePaths(directory) where found == nil {
            guard
                let candidate = try open(
                    filePath: filePath, directory: directory, count: count, capacity: capacity, writable: true,
                    fileMode: fileMode,
                    io: io),
                try candidate.verifyAndTrim(upTo: sequenceID, expected: checksum)
            else { continue }
            found = candidate
        }
        if let found, found.isGrown {
            // The checkpoint was written and the crash came before the rename that follows it.
            try found.settle()
        } else if Directory.exists(grownPath(directory)) {
            try Directory.remove(grownPath(directory), io: io)
            try Directory.synchronize(directory, io: io)
        }
        return found
    }

    var capacity: Int { file.capacity }

    private func slotOffset(_ index: Int) -> Int { IndexFile.headerBytes + index * Self.slotBytes }

    /// The fingerprint part of a slot for `hash`.
    static func fingerprint(_ hash: UInt64) -> UInt64 {
        let value = hash >> sequenceBits
        return (value == 0 ? 1 : value) << sequenceBits
    }

    /// The home slot of a fingerprint (slot bits 40...63) in a table of `capacity` (a power of two).
    static func home(fingerprint: UInt64, capacity: Int) -> Int {
        let bits = UInt64(capacity.trailingZeroBitCount)
        let value = fingerprint >> sequenceBits
        return Int(bits <= 24 ? value >> (24 - bits) : value << (bits - 24))
    }

    static func sequenceID(ofSlot slot: UInt64) -> Int64 { Int64(slot & sequenceMask) }

    private func slotValue(_ index: Int) -> UInt64 { file.region.load(UInt64.self, at: slotOffset(index)) }

    static func checkBits(_ hash: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: hash >> 8) }

    /// The sequence ids stored under `hash` (usually none or one).
    func candidates(hash: UInt64) -> [Int64] {
        let capacity = self.capacity
        let mask = capacity - 1
        let fingerprint = Self.fingerprint(hash)
        let check = Self.checkBits(hash)
        var index = Self.home(fingerprint: fingerprint, capacity: capacity)
        var found: [Int64] = []
        // One bounds check for the whole table; the probe loop reads slots directly.
        file.region.withBytes(offset: IndexFile.headerBytes, count: capacity * Self.slotBytes) { slots in
            while true {
                // safe: index < capacity, so the 12 bytes of the slot lie inside `slots`.
                let stored = UInt64(
                    littleEndian: slots.loadUnaligned(fromByteOffset: index * Self.slotBytes, as: UInt64.self))
                if stored == 0 { return }
                if stored & ~Self.sequenceMask == fingerprint,
                    UInt32(
                        littleEndian: slots.loadUnaligned(fromByteOffset: index * Self.slotBytes + 8, as: UInt32.self))
                        == check
                {
                    found.append(Self.sequenceID(ofSlot: stored))
                }
                index = (index + 1) & mask
            }
        }
        return found
    }

    /// Starts loading the home slot of `hash` into the cache: a batch probes a key some places
    /// ahead of the one it works on, so the random slots' cache misses overlap (W1's write: +3-4%).
    @inline(__always)
    private static func prefetchHome(of hash: UInt64, in slots: UnsafeRawBufferPointer, capacity: Int) {
        guard let base = slots.baseAddress else { return }
        cprefetch_read(base + home(fingerprint: fingerprint(hash), capacity: capacity) * slotBytes)
    }

    /// For each hash, the first sequence id stored under it, or 0 for none: one tight loop over the
    /// table for a whole batch, so the probes' cache misses overlap. A key with a candidate is
    /// confirmed through `candidates(hash:)` and the log.
    func firstCandidates(_ hashes: [UInt64]) -> [Int64] {
        let capacity = self.capacity
        let mask = capacity - 1
        var result = [Int64](repeating: 0, count: hashes.count)
        file.region.withBytes(offset: IndexFile.headerBytes, count: capacity * Self.slotBytes) { slots in
            for (position, hash) in hashes.enumerated() {
                if position + Self.prefetchDistance < hashes.count {
                    Self.prefetchHome(of: hashes[position + Self.prefetchDistance], in: slots, capacity: capacity)
                }
                let fingerprint = Self.fingerprint(hash)
                let check = Self.checkBits(hash)
                var index = Self.home(fingerprint: fingerprint, capacity: capacity)
                while true {
                    // safe: index < capacity, so the 12 bytes of the slot lie inside `slots`.
                    let stored = UInt64(
                        littleEndian: slots.loadUnaligned(fromByteOffset: index * Self.slotBytes, as: UInt64.self))
                    if stored == 0 { break }
                    if stored & ~Self.sequenceMask == fingerprint,
                        UInt32(
                            littleEndian: slots.loadUnaligned(
                                fromByteOffset: index * Self.slotBytes + 8, as: UInt32.self)) == check
                    {
                        result[position] = Self.sequenceID(ofSlot: stored)
                        break
                    }
                    index = (index + 1) & mask
                }
            }
        }
        return result
    }

    /// Grows the table for `additional` more keys (a full disk fails here, not in `insert`).
    func reserve(additional: Int) throws {
        while (count + additional) * 4 > capacity * 3 { try grow() }
    }

    /// Adds many keys: (hash, sequence id of the event) each, growing the table once beforehand.
    func insert(_ entries: [(hash: UInt64, sequenceID: Int64)]) throws {
        while (count + entries.count) * 4 > capacity * 3 { try grow() }
        let target = file
        let capacity = target.capacity
        let mask = capacity - 1
        target.region.withMutableBytes(offset: IndexFile.headerBytes, count: capacity * Self.slotBytes) { slots in
            for (position, (hash, sequenceID)) in entries.enumerated() {
                if position + Self.prefetchDistance < entries.count {
                    Self.prefetchHome(
                        of: entries[position + Self.prefetchDistance].hash, in: UnsafeRawBufferPointer(slots),
                        capacity: capacity)
                }
                precondition(sequenceID >= 1 && UInt64(sequenceID) <= Self.sequenceMask, "sequence ids fit 40 bits")
                let fingerprint = Self.fingerprint(hash)
                var index = Self.home(fingerprint: fingerprint, capacity: capacity)
                var probes = 0
                // safe: index < capacity, so every 12-byte slot touched lies inside `slots`.
                while slots.loadUnaligned(fromByteOffset: index * Self.slotBytes, as: UInt64.self) != 0 {
                    index = (index + 1) & mask
                    probes += 1
                    precondition(probes < capacity, "the key table is full: its count is wrong")
                }
                slots.storeBytes(
                    of: (fingerprint | UInt64(sequenceID)).littleEndian, toByteOffset: index * Self.slotBytes,
                    as: UInt64.self)
                slots.storeBytes(
                    of: Self.checkBits(hash).littleEndian, toByteOffset: index * Self.slotBytes + 8, as: UInt32.self)
            }
        }
        count += entries.count
        highestSequenceID = max(highestSequenceID, entries.lazy.map(\.sequenceID).max() ?? 0)
        cachedChecksum = nil
    }

    /// Whether the table lives in `keys.idx.grown`: it grew since the last checkpoint, which still
    /// describes `keys.idx`. The next checkpoint describes the grown table and then `settle`s it.
    private(set) var isGrown = false

    private var directory: String { String(path[..<path.lastIndex(of: "/")!]) }

    /// Doubles the table: a new file is filled and renamed to `keys.idx.grown`; `keys.idx` stays
    /// as the last checkpoint described it. No sync and no checkpoint here: a growth costs no more
    /// than its copy, and a crash before the next checkpoint recovers from `keys.idx`.
    private func grow() throws {
        let temporaryPath = path + ".grow"
        let newCapacity = capacity * 2
        let bigger = try IndexFile.create(
            path: temporaryPath, magic: Self.magic, entryBytes: Self.slotBytes, capacity: newCapacity,
            bodyBytes: newCapacity * Self.slotBytes, fileMode: fileMode, io: file.io)
        let mask = newCapacity - 1
        // Every page of the new table receives slots.
        try bigger.region.prepareForWriting(offset: IndexFile.headerBytes, count: newCapacity * Self.slotBytes)
        file.region.withBytes(offset: IndexFile.headerBytes, count: capacity * Self.slotBytes) { old in
            bigger.region.withMutableBytes(offset: IndexFile.headerBytes, count: newCapacity * Self.slotBytes) { new in
                // safe: every offset below is a slot index times 12 within its own table.
                for index in 0..<capacity {
                    let slot = old.loadUnaligned(fromByteOffset: index * Self.slotBytes, as: UInt64.self)
                    guard slot != 0 else { continue }
                    let check = old.loadUnaligned(fromByteOffset: index * Self.slotBytes + 8, as: UInt32.self)
                    var target = Self.home(
                        fingerprint: UInt64(littleEndian: slot) & ~Self.sequenceMask, capacity: newCapacity)
                    while new.loadUnaligned(fromByteOffset: target * Self.slotBytes, as: UInt64.self) != 0 {
                        target = (target + 1) & mask
                    }
                    new.storeBytes(of: slot, toByteOffset: target * Self.slotBytes, as: UInt64.self)
                    new.storeBytes(of: check, toByteOffset: target * Self.slotBytes + 8, as: UInt32.self)
                }
            }
        }
        // No msync: the next checkpoint syncs the table before it describes it.
        try Directory.rename(temporaryPath, to: Self.grownPath(directory), io: file.io)
        file = bigger
        isGrown = true
        cachedChecksum = nil
    }

    /// After a checkpoint that describes a grown table has been written: the table takes the name
    /// `keys.idx` (a crash before this rename leaves the checkpoint matching `keys.idx.grown`,
    /// which `openCheckpointed` renames then).
    func settle() throws {
        guard isGrown else { return }
        try Directory.rename(Self.grownPath(directory), to: path, io: file.io)
        try Directory.synchronize(directory, io: file.io)
        isGrown = false
    }

    /// The last checksum computed, valid for any `upTo` at or above `validFrom` until the table
    /// changes (then no slot holds a key after `validFrom`).
    private var cachedChecksum: (validFrom: Int64, crc: UInt32)?

    /// The CRC-32C of the table as it was when every key up to `sequenceID` was in it: slots of
    /// later keys count as empty. Read with `pread`, so the scan leaves the mapping's pages alone.
    func checksum(upTo sequenceID: Int64) throws -> UInt32 {
        if let cached = cachedChecksum, sequenceID >= cached.validFrom { return cached.crc }
        // No key after `sequenceID` (the writer's checkpoints): the checksum of every slot as it is.
        if sequenceID >= highestSequenceID {
            let crc = try wholeTable().crc
            cachedChecksum = (highestSequenceID, crc)
            return crc
        }
        return try scan(upTo: sequenceID).crc
    }

    /// At least the highest sequence id in the table: 0 for a new table, unknown (`Int64.max`) for
    /// an opened one until a scan or a verification has looked.
    private var highestSequenceID: Int64 = 0

    /// The CRC-32C of every slot as it is, and how many are filled: one pass with no work per slot
    /// beyond a count.
    private func wholeTable() throws -> (crc: UInt32, filled: Int) {
        var crc: UInt32 = 0
        var filled = 0
        try file.region.file.forEachChunk(
            offset: IndexFile.headerBytes, count: capacity * Self.slotBytes, alignment: Self.slotBytes
        ) { chunk in
            crc = Checksum.crc32c(chunk, continuing: crc)
            guard let base = chunk.baseAddress else { return }
            var offset = 0
            while offset + Self.slotBytes <= chunk.count {
                // safe: offset + 12 <= chunk.count by the loop's condition.
                filled &+= base.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != 0 ? 1 : 0
                offset &+= Self.slotBytes
            }
        }
        return (crc, filled)
    }

    /// One pass over the slots: the checksum as of `sequenceID`, and the slots of later keys.
    private func scan(upTo sequenceID: Int64) throws -> (crc: UInt32, newer: [Int], filled: Int) {
        let zero = [UInt8](repeating: 0, count: Self.slotBytes)
        var crc: UInt32 = 0
        var newer: [Int] = []
        var filled = 0
        var highest: Int64 = 0
        var highestOfAll: Int64 = 0
        var slotIndex = 0
        try file.region.file.forEachChunk(
            offset: IndexFile.headerBytes, count: capacity * Self.slotBytes, alignment: Self.slotBytes
        ) { chunk in
            var runStart = 0
            let slots = chunk.count / Self.slotBytes
            for local in 0..<slots {
                // safe: local < slots, so the slot lies inside the chunk.
                let slot = UInt64(
                    littleEndian: chunk.loadUnaligned(fromByteOffset: local * Self.slotBytes, as: UInt64.self))
                guard slot != 0 else { continue }
                filled += 1
                let sequence = Self.sequenceID(ofSlot: slot)
                highestOfAll = max(highestOfAll, sequence)
                guard sequence > sequenceID else {
                    highest = max(highest, sequence)
                    continue
                }
                crc = Checksum.crc32c(
                    UnsafeRawBufferPointer(rebasing: chunk[runStart * Self.slotBytes..<local * Self.slotBytes]),
                    continuing: crc)
                crc = Checksum.crc32c(zero, continuing: crc)
                runStart = local + 1
                newer.append(slotIndex + local)
            }
            crc = Checksum.crc32c(
                UnsafeRawBufferPointer(rebasing: chunk[(runStart * Self.slotBytes)...]), continuing: crc)
            slotIndex += slots
        }
        cachedChecksum = newer.isEmpty ? (highest, crc) : nil
        highestSequenceID = highestOfAll
        return (crc, newer, filled)
    }

    /// Checks the table against a checkpoint's checksum and, when it matches, empties the slots of
    /// keys after `sequenceID` (filled since the checkpoint; the log replay refills the durable ones).
    /// - Returns: whether the table matched.
    func verifyAndTrim(upTo sequenceID: Int64, expected: UInt32) throws -> Bool {
        // Usually (a clean close, or a crash with no key since the checkpoint) the table is just as
        // the checkpoint left it: its plain checksum and its count (slots are only ever added) match
        // the checkpoint's, and no slot needs looking at.
        let whole = try wholeTable()
        if whole.crc == expected, whole.filled == count {
            count = whole.filled
            highestSequenceID = sequenceID
            cachedChecksum = (sequenceID, whole.crc)
            return true
        }
        let (crc, newer, filled) = try scan(upTo: sequenceID)
        guard crc == expected else { return false }
        for index in newer {
            file.region.store(UInt64(0), at: slotOffset(index))
            file.region.store(UInt32(0), at: slotOffset(index) + 8)
        }
        // The count is what the table holds now, whatever the checkpoint recorded.
        count = filled - newer.count
        if !newer.isEmpty {
            cachedChecksum = (sequenceID, crc)
            highestSequenceID = sequenceID
        }
        return true
    }

    func synchronize() throws { try file.synchronize() }
}
