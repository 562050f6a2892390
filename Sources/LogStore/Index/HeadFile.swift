import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// `head`: the writer's committed end, rewritten after every group is written (and synced, with
/// `.fsync` durability), so that read-only processes read only batches the store's durability
/// promises and learn of new ones through inotify on this file.
///
/// ```
///  0  8  magic "EVHEAD01"
///  8  8  generation: rises with every rewrite
/// 16  8  committed log end (LogPosition)
/// 24  8  head sequence id at that end
/// 32  4  CRC-32C of bytes [0, 32)
/// ```
/// It is a hint for readers, not a durability record: it is not synced, and a reader that finds
/// it missing, damaged or torn by a concurrent write reads it again or falls back to the log.
struct HeadRecord: Equatable {
    static let magic: UInt64 = 0x3130_4441_4548_5645  // "EVHEAD01"
    static let bytes = 36

    var generation: UInt64
    var logEnd: LogPosition
    var headSequenceID: Int64

    static func path(_ directory: String) -> String { directory + "/head" }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.bytes)
        writer.append(Self.magic)
        writer.append(generation)
        writer.append(logEnd.rawValue)
        writer.append(UInt64(bitPattern: headSequenceID))
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> HeadRecord? {
        guard bytes.count >= Self.bytes else { return nil }
        return bytes.withUnsafeBytes { raw in
            guard raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian == magic,
                raw.loadUnaligned(fromByteOffset: 32, as: UInt32.self).littleEndian
                    == Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<32]))
            else { return nil }
            return HeadRecord(
                generation: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian,
                logEnd: LogPosition(rawValue: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian),
                headSequenceID: Int64(bitPattern: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian))
        }
    }

    /// Reads the record, retrying a few times over a torn read; `nil` when there is no valid one.
    static func read(directory: String, io: any FileIO) -> HeadRecord? {
        guard let file = try? SystemFile.openIfExists(path(directory), io: io) else { return nil }
        for _ in 0..<8 {
            if let bytes = try? file.read(count: Self.bytes, at: 0), let record = decode(bytes) { return record }
        }
        return nil
    }
}
