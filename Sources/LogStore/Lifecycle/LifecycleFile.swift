import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// What is hidden of each stream (`StreamLifecycle`): the file `lifecycle` in the store's
/// directory, replaced whole and atomically at each change (temporary file, fsync, rename, fsync
/// of the directory), so a crash leaves the old table or the new one. Absent until the first change.
///
/// ```
///  0  8  magic "EVLIFE\0\x01"
///  8  4  format (1)
/// 12  4  entry count N
/// 16  8  the store's floor: sequence ids below it are hidden (`Options.retention`), 1 for none
/// then N entries, in stream id byte order:
///     4  stream id length S, then S bytes of stream id
///     8  hidden through (i64): versions at or below it are hidden
///     4  flags: bit 0 tombstoned, bit 1 has maxCount, bit 2 has maxAge
///     8  maxCount (i64, 0 when absent)
///     8  maxAge in microseconds (i64, 0 when absent)
/// end-4  CRC-32C of everything before it
/// ```
/// Little-endian throughout.
enum LifecycleFile {
    static let magic: [UInt8] = Array("EVLIFE".utf8) + [0, 1]
    static let format: UInt32 = 1
    static let name = "lifecycle"

    static func path(_ directory: String) -> String { directory + "/" + name }

    static func encode(_ table: LifecycleTable) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(contentsOf: magic)
        writer.append(format)
        writer.append(UInt32(table.streams.count))
        writer.append(table.floor)
        for (streamID, lifecycle) in table.streams.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            let id = Array(streamID.utf8)
            writer.append(UInt32(id.count))
            writer.append(contentsOf: id)
            writer.append(lifecycle.hiddenThrough)
            let maxCount = lifecycle.retention?.maxCount
            let maxAge = lifecycle.retention?.maxAgeMicros
            var flags: UInt32 = lifecycle.isTombstoned ? 1 : 0
            if maxCount != nil { flags |= 2 }
            if maxAge != nil { flags |= 4 }
            writer.append(flags)
            writer.append(maxCount ?? 0)
            writer.append(maxAge ?? 0)
        }
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    /// - Throws: `EventStoreError.corruption` naming the file when it is damaged.
    static func decode(_ bytes: [UInt8], path: String) throws -> LifecycleTable {
        try bytes.withUnsafeBytes { raw in
            var reader = try ByteReader.checkedFile(
                raw, magic: magic, format: Self.format, minimumBytes: 28, context: "lifecycle file '\(path)'",
                kind: "lifecycle file")
            let count = Int(try reader.read(UInt32.self))
            let floor = try reader.read(Int64.self)
            var table: [String: StreamLifecycle] = [:]
            for _ in 0..<count {
                let idCount = Int(try reader.read(UInt32.self))
                let streamID = String(decoding: try reader.readSlice(count: idCount), as: UTF8.self)
                let hiddenThrough = try reader.read(Int64.self)
                let flags = try reader.read(UInt32.self)
                let maxCount = try reader.read(Int64.self)
                let maxAge = try reader.read(Int64.self)
                let retention =
                    flags & 6 == 0
                    ? nil
                    : Retention(maxCount: flags & 2 != 0 ? maxCount : nil, maxAgeMicros: flags & 4 != 0 ? maxAge : nil)
                table[streamID] = StreamLifecycle(
                    hiddenThrough: hiddenThrough, isTombstoned: flags & 1 != 0, retention: retention)
            }
            guard reader.offset == raw.count - 4 else { throw reader.damaged("its length does not match its entries") }
            return LifecycleTable(streams: table, floor: floor)
        }
    }

    /// The table in `directory`, empty when there is no file.
    static func load(directory: String, io: any FileIO) throws -> LifecycleTable {
        let path = path(directory)
        guard let file = try SystemFile.openIfExists(path, io: io) else { return LifecycleTable() }
        return try decode(try file.readAll(), path: path)
    }

    /// Replaces the table atomically and durably.
    static func save(_ table: LifecycleTable, directory: String, fileMode: mode_t, io: any FileIO) throws {
        try Directory.replace(path(directory), with: encode(table), fileMode: fileMode, io: io)
    }
}

/// What is hidden in a store: each stream's lifecycle, and the store's floor.
///
/// Thread-safety: a value type.
struct LifecycleTable: Equatable {
    var streams: [String: StreamLifecycle] = [:]
    /// Sequence ids below this are hidden (`LogEventStore.Options.retention` dropped them); 1 for none.
    var floor: Int64 = 1

    /// Whether nothing is hidden.
    var isEmpty: Bool { streams.isEmpty && floor <= 1 }

    subscript(streamID: String) -> StreamLifecycle? { streams[streamID] }
}
