import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// The durable point of the indexes: how far the log was durable when they were last flushed,
/// the counts and checksums they had then, and whether the store was closed cleanly.
///
/// `checkpoint` holds two 512-byte slots; checkpoint n is written to slot n % 2 and synced, so a
/// torn write damages only the newer slot and the older one is still whole. Open takes the valid
/// slot with the highest number.
/// ```
///   0  8  magic "EVCHKPT1"
///   8  4  format version (1)
///  12  4  flags: bit 0 clean shutdown
///  16  8  checkpoint number
///  24  8  log end (LogPosition): everything before it was durable
///  32  8  head sequence id at the log end
///  40  4  CRC-32C of the last segment's bytes [0, log end offset)
///  44  4  CRC-32C of batches.idx entries [0, batch count)
///  48  8  batch count
///  56  8  stream count          64  8  stream table capacity    72  8  blocks used (bytes)
///  80  4  CRC-32C of streams.idx table + used blocks (meaningful when clean)
///  84  4  reserved
///  88  8  key count             96  8  key table capacity
/// 104  4  CRC-32C of keys.idx as of this checkpoint (KeyIndex.checksum(upTo: head sequence id))
/// 108 400 reserved (0)
/// 508  4  CRC-32C of bytes [0, 508)
/// ```
struct Checkpoint: Equatable {
    static let magic: UInt64 = 0x3154_504B_4843_5645  // "EVCHKPT1"
    static let formatVersion: UInt32 = 1
    static let slotBytes = 512

    var number: UInt64 = 0
    var isClean = false
    var logEnd = LogPosition(segment: 1, offset: Segment.headerBytes)
    var headSequenceID: Int64 = 0
    var segmentPrefixChecksum: UInt32 = 0
    var batchChecksum: UInt32 = 0
    var batchCount = 0
    var streamCount = 0
    var streamCapacity = 0
    var blocksUsed = 0
    var streamChecksum: UInt32 = 0
    var keyCount = 0
    var keyCapacity = 0
    var keyChecksum: UInt32 = 0

    static func path(_ directory: String) -> String { directory + "/checkpoint" }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.slotBytes)
        writer.append(Self.magic)
        writer.append(Self.formatVersion)
        writer.append(UInt32(isClean ? 1 : 0))
        writer.append(number)
        writer.append(logEnd.rawValue)
        writer.append(UInt64(bitPattern: headSequenceID))
        writer.append(segmentPrefixChecksum)
        writer.append(batchChecksum)
        writer.append(UInt64(batchCount))
        writer.append(UInt64(streamCount))
        writer.append(UInt64(streamCapacity))
        writer.append(UInt64(blocksUsed))
        writer.append(streamChecksum)
        writer.append(UInt32(0))
        writer.append(UInt64(keyCount))
        writer.append(UInt64(keyCapacity))
        writer.append(keyChecksum)
        writer.append(contentsOf: [UInt8](repeating: 0, count: Self.slotBytes - 4 - writer.bytes.count))
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    /// Decodes a slot; `nil` when it is not a whole, valid slot.
    static func decode(_ bytes: ArraySlice<UInt8>) -> Checkpoint? {
        guard bytes.count == slotBytes else { return nil }
        return Array(bytes).withUnsafeBytes { raw -> Checkpoint? in
            var reader = ByteReader(raw, context: "checkpoint")
            guard (try? reader.read(UInt64.self)) == magic,
                raw.loadUnaligned(fromByteOffset: slotBytes - 4, as: UInt32.self).littleEndian
                    == Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<slotBytes - 4])),
                (try? reader.read(UInt32.self)) == formatVersion
            else { return nil }
            do {
                var checkpoint = Checkpoint()
                checkpoint.isClean = try reader.read(UInt32.self) & 1 != 0
                checkpoint.number = try reader.read(UInt64.self)
                checkpoint.logEnd = LogPosition(rawValue: try reader.read(UInt64.self))
                checkpoint.headSequenceID = Int64(bitPattern: try reader.read(UInt64.self))
                checkpoint.segmentPrefixChecksum = try reader.read(UInt32.self)
                checkpoint.batchChecksum = try reader.read(UInt32.self)
                checkpoint.batchCount = Int(truncatingIfNeeded: try reader.read(UInt64.self))
                checkpoint.streamCount = Int(truncatingIfNeeded: try reader.read(UInt64.self))
                checkpoint.streamCapacity = Int(truncatingIfNeeded: try reader.read(UInt64.self))
                checkpoint.blocksUsed = Int(truncatingIfNeeded: try reader.read(UInt64.self))
                checkpoint.streamChecksum = try reader.read(UInt32.self)
                _ = try reader.read(UInt32.self)
                checkpoint.keyCount = Int(truncatingIfNeeded: try reader.read(UInt64.self))
                checkpoint.keyCapacity = Int(truncatingIfNeeded: try reader.read(UInt64.self))
                checkpoint.keyChecksum = try reader.read(UInt32.self)
                // Counts are bounded before they are trusted: none can pass an index file's reservation
                // (a larger one would overflow the size computations of the index that opens with it).
                let counts = [
                    checkpoint.batchCount, checkpoint.streamCount, checkpoint.streamCapacity, checkpoint.blocksUsed,
                    checkpoint.keyCount, checkpoint.keyCapacity,
                ]
                guard checkpoint.logEnd.segment >= 1, checkpoint.headSequenceID >= 0,
                    counts.allSatisfy({ $0 >= 0 && $0 <= IndexFile.bytesMax })
                else { return nil }
                return checkpoint
            } catch {
                return nil
            }
        }
    }

    /// The newest valid checkpoint in `directory`, or `nil` when there is none.
    static func load(directory: String, io: any FileIO) throws -> Checkpoint? {
        guard let file = try SystemFile.openIfExists(path(directory), io: io) else { return nil }
        let bytes = try file.read(count: min(try file.size(), 2 * slotBytes), at: 0)
        let slots = [0, 1].compactMap { slot -> Checkpoint? in
            let start = slot * slotBytes
            guard bytes.count >= start + slotBytes else { return nil }
            return decode(bytes[start..<start + slotBytes])
        }
        return slots.max { $0.number < $1.number }
    }

    /// Writes this checkpoint to its slot and syncs it.
    func write(to file: SystemFile) throws {
        try file.write(encoded(), at: Int(number % 2) * Self.slotBytes)
        try file.synchronizeData()
    }
}
