import EventSourcingCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One snapshot per file, beside the segments, named by a hash of (stream, projection) so stream
/// ids never become file names: `snapshot-<16 hex digits>[-<n>].snap`, where `-<n>` takes the next
/// free name on the rare hash collision.
///
/// ```
///  0  8  magic "EVSNAPS1"
///  8  4  format version (1)
/// 12  1  codec of the state (0 raw, 1 LZ4)
/// 13  1  reserved (0)
/// 14  2  stream id length S
/// 16  2  projection length P
/// 18  2  reserved (0)
/// 20  8  version (i64): stream version, or sequence id for "@all"
/// 28  8  timestamp, microseconds since the epoch
/// 36  4  raw state length
/// 40  4  stored state length T
/// 44  S  stream id, then P bytes of projection, then T bytes of state
/// end-4  CRC-32C of everything before it
/// ```
/// A snapshot is replaced atomically: temporary file, fsync, rename, fsync of the directory; a
/// crash leaves the old file or the new one, never a mix.
enum SnapshotFile {
    static let magic: UInt64 = 0x3153_5041_4E53_5645  // "EVSNAPS1"
    static let formatVersion: UInt32 = 1
    static let fixedBytes = 44

    static func path(directory: String, streamID: String, projection: String, probe: Int) -> String {
        let hash = StableHash.hash(streamID + "\u{0}" + projection)
        var hex = String(hash, radix: 16)
        hex = String(repeating: "0", count: 16 - hex.count) + hex
        return directory + "/snapshot-" + hex + (probe == 0 ? "" : "-\(probe)") + ".snap"
    }

    static func encode(_ snapshot: Snapshot) -> [UInt8] {
        let (codec, stored) = Codec.compressIfWorthwhile(Array(snapshot.state), minimumBytes: 64)
        let stream = Array(snapshot.streamID.utf8)
        let projection = Array(snapshot.projectionName.utf8)
        var writer = ByteWriter(capacity: fixedBytes + stream.count + projection.count + stored.count + 4)
        writer.append(magic)
        writer.append(formatVersion)
        writer.append(codec.rawValue)
        writer.append(UInt8(0))
        writer.append(UInt16(stream.count))
        writer.append(UInt16(projection.count))
        writer.append(UInt16(0))
        writer.append(snapshot.version)
        writer.append(Timestamp.microseconds(snapshot.timestamp))
        writer.append(UInt32(snapshot.state.count))
        writer.append(UInt32(stored.count))
        writer.append(contentsOf: stream)
        writer.append(contentsOf: projection)
        writer.append(contentsOf: stored)
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    /// Decodes a snapshot file's bytes, checking every bound and the checksum.
    /// - Throws: `EventStoreError.corruption` naming `path` and the offset.
    static func decode(_ bytes: [UInt8], path: String) throws -> Snapshot {
        try bytes.withUnsafeBytes { raw in
            let context = "'\(path)'"
            guard raw.count >= fixedBytes + 4 else {
                throw EventStoreError.corruption("\(context) offset 0: \(raw.count) bytes, too short for a snapshot")
            }
            let stored = raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self).littleEndian
            guard stored == Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<raw.count - 4])) else {
                throw EventStoreError.corruption("\(context) offset \(raw.count - 4): snapshot checksum mismatch")
            }
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[0..<raw.count - 4]), context: context)
            guard try reader.read(UInt64.self) == magic, try reader.read(UInt32.self) == formatVersion else {
                throw EventStoreError.corruption("\(context) offset 0: not a snapshot file of format \(formatVersion)")
            }
            guard let codec = Codec(rawValue: try reader.read(UInt8.self)) else {
                throw reader.damaged("unknown codec")
            }
            _ = try reader.read(UInt8.self)
            let streamLength = Int(try reader.read(UInt16.self))
            let projectionLength = Int(try reader.read(UInt16.self))
            _ = try reader.read(UInt16.self)
            let version = try reader.read(Int64.self)
            let timestamp = try reader.read(Int64.self)
            let rawLength = Int(try reader.read(UInt32.self))
            let storedLength = Int(try reader.read(UInt32.self))
            guard rawLength <= Limits.snapshotStateBytesMax else { throw reader.damaged("state length \(rawLength)") }
            let stream = try reader.readSlice(count: streamLength)
            let projection = try reader.readSlice(count: projectionLength)
            let state = try reader.readSlice(count: storedLength)
            guard reader.remaining == 0 else { throw reader.damaged("\(reader.remaining) bytes after the state") }
            let bytes: [UInt8]
            switch codec {
            case .raw:
                guard rawLength == storedLength else {
                    throw reader.damaged("raw state length \(rawLength) != \(storedLength)")
                }
                bytes = Array(state)
            case .lz4:
                bytes = try LZ4.decompress(state, rawCount: rawLength, context: context)
            case .compacted:
                throw reader.damaged("codec 2 is for batches only")
            }
            return Snapshot(
                streamID: String(decoding: stream, as: UTF8.self),
                projectionName: String(decoding: projection, as: UTF8.self),
                version: version, state: Data(bytes), timestamp: Timestamp.date(microseconds: timestamp))
        }
    }

    /// Saves `snapshot`, replacing the one of the same stream and projection atomically.
    static func save(_ snapshot: Snapshot, directory: String, fileMode: mode_t, io: any FileIO) throws {
        var probe = 0
        var target: String
        while true {
            target = path(
                directory: directory, streamID: snapshot.streamID, projection: snapshot.projectionName, probe: probe)
            guard let existing = try SystemFile.openIfExists(target, io: io) else { break }
            // A damaged file at our name is replaced; another pair's whole file is skipped.
            guard let other = try? decode(try existing.readAll(), path: target),
                other.streamID != snapshot.streamID || other.projectionName != snapshot.projectionName
            else { break }
            probe += 1
        }
        try Directory.replace(target, with: encode(snapshot), fileMode: fileMode, io: io)
    }

    /// Removes every snapshot of `streamID` (of any projection), then syncs the directory.
    static func removeAll(of streamID: String, directory: String, io: any FileIO) throws {
        var removed = false
        for name in try Directory.names(in: directory) where name.hasPrefix("snapshot-") && name.hasSuffix(".snap") {
            let path = directory + "/" + name
            guard let file = try SystemFile.openIfExists(path, io: io),
                let snapshot = try? decode(try file.readAll(), path: path), snapshot.streamID == streamID
            else { continue }
            try Directory.remove(path, io: io)
            removed = true
        }
        if removed { try Directory.synchronize(directory, io: io) }
    }

    /// Every snapshot in `directory`.
    /// - Throws: `EventStoreError.corruption` when a snapshot file is damaged.
    static func all(directory: String, io: any FileIO) throws -> [Snapshot] {
        try Directory.names(in: directory).filter { $0.hasPrefix("snapshot-") && $0.hasSuffix(".snap") }.sorted().map {
            name in
            let path = directory + "/" + name
            guard let file = try SystemFile.openIfExists(path, io: io) else {
                throw EventStoreError.io("'\(path)' disappeared while it was read")
            }
            return try decode(try file.readAll(), path: path)
        }
    }

    /// The snapshot of a stream and projection, or `nil`.
    /// - Throws: `EventStoreError.corruption` when its file is damaged.
    static func load(directory: String, streamID: String, projection: String, io: any FileIO) throws -> Snapshot? {
        try load(directory: directory, streamID: streamID, projection: projection, io: io, onlyIfCached: false)
            .snapshot
    }

    /// `load`, reading only what the page cache holds when `onlyIfCached` is set.
    /// - Returns: the snapshot (or `nil` when there is none), or `wouldWait` when a read would have
    ///   waited for the disk (then nothing was decided).
    static func load(
        directory: String, streamID: String, projection: String, io: any FileIO, onlyIfCached: Bool
    ) throws -> (snapshot: Snapshot?, wouldWait: Bool) {
        var probe = 0
        while true {
            let candidate = path(directory: directory, streamID: streamID, projection: projection, probe: probe)
            guard let file = try SystemFile.openIfExists(candidate, io: io) else { return (nil, false) }
            let bytes: [UInt8]
            if onlyIfCached {
                guard let cached = try file.readAllIfCached() else { return (nil, true) }
                bytes = cached
            } else {
                bytes = try file.readAll()
            }
            let snapshot = try decode(bytes, path: candidate)
            if snapshot.streamID == streamID && snapshot.projectionName == projection { return (snapshot, false) }
            probe += 1
        }
    }
}
