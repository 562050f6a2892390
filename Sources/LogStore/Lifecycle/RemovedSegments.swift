import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// The segments the store's retention removed (their files unlinked), and what of them the rest of
/// the store still needs: the file `removed` in the store's directory, replaced whole and
/// atomically (temporary file, fsync, rename, fsync of the directory) before any segment file is
/// unlinked, so a crash leaves either every file or a record of the removed ones (a leftover file
/// below the record's first ordinal is unlinked at the next writable open). Absent until the first
/// removal: the log then starts at segment 1.
///
/// Only whole oldest segments are removed, every event of them below the store's floor (so hidden).
/// What outlives them is each stream that had a batch there: its stream id (a stream's slot in
/// `streams.idx` confirms a hash match by the stream id of its first batch, which may be one of
/// them) and its last version and timestamp there (a rebuild of the stream index starts from
/// these, so versions go on). Since the removed segments are a prefix of the log, a stream that had
/// a batch there had its first batch there.
///
/// ```
///  0  8  magic "EVREMV\0\x01"
///  8  4  format (1)
/// 12  4  first kept segment ordinal K (the log's first segment file; those below are removed)
/// 16  8  first sequence id of segment K
/// 24  8  size in bytes of segment K-1, the last one removed (what the retention weighed)
/// 32  4  stream count N
/// then N entries, in first-position order:
///     8  log position of the stream's first batch (in a removed segment)
///     8  the stream's last version in the removed segments
///     8  that batch's timestamp, microseconds since the epoch
///     4  stream id length S, then S bytes of stream id
/// end-4  CRC-32C of everything before it
/// ```
/// Little-endian throughout.
struct RemovedSegments: Equatable, Sendable {
    static let magic: [UInt8] = Array("EVREMV".utf8) + [0, 1]
    static let format: UInt32 = 1
    static let name = "removed"

    /// A stream that had batches in the removed segments.
    struct Stream: Equatable, Sendable {
        var id: String
        var firstPosition: LogPosition
        var version: Int64
        var timestampMicros: Int64
    }

    /// The first segment still on disk: positions in segments below it are removed.
    var firstKeptOrdinal: Int
    /// The first sequence id of segment `firstKeptOrdinal`: every one below it is removed.
    var firstKeptSequenceID: Int64
    /// The size of the last segment removed (body and footer), 0 when none was.
    var lastRemovedBytes: Int64 = 0
    /// By first position.
    private(set) var streams: [UInt64: Stream]
    /// Stream id to first position (the same entries, for `note`).
    private var firstPositions: [String: UInt64]

    /// Nothing removed.
    init() {
        firstKeptOrdinal = 1
        firstKeptSequenceID = 1
        streams = [:]
        firstPositions = [:]
    }

    init(firstKeptOrdinal: Int, firstKeptSequenceID: Int64, streams: [Stream]) {
        self.firstKeptOrdinal = firstKeptOrdinal
        self.firstKeptSequenceID = firstKeptSequenceID
        self.streams = Dictionary(streams.map { ($0.firstPosition.rawValue, $0) }, uniquingKeysWith: { $1 })
        firstPositions = Dictionary(streams.map { ($0.id, $0.firstPosition.rawValue) }, uniquingKeysWith: { $1 })
    }

    static func path(_ directory: String) -> String { directory + "/" + name }

    /// Whether `position` lies in a removed segment.
    func isRemoved(_ position: LogPosition) -> Bool { position.segment < firstKeptOrdinal }

    /// The stream whose first batch was at `position`, a removed one.
    func stream(firstAt position: LogPosition) -> Stream? { streams[position.rawValue] }

    /// Adds what a frame of a segment about to be removed says: its stream's first position (the
    /// first frame noted for it), last version and timestamp (those of the last frame noted).
    mutating func note(streamID: String, position: LogPosition, lastVersion: Int64, timestampMicros: Int64) {
        if let first = firstPositions[streamID] {
            streams[first]!.version = lastVersion
            streams[first]!.timestampMicros = timestampMicros
        } else {
            streams[position.rawValue] = Stream(
                id: streamID, firstPosition: position, version: lastVersion, timestampMicros: timestampMicros)
            firstPositions[streamID] = position.rawValue
        }
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.firstKeptOrdinal == rhs.firstKeptOrdinal && lhs.firstKeptSequenceID == rhs.firstKeptSequenceID
            && lhs.lastRemovedBytes == rhs.lastRemovedBytes && lhs.streams == rhs.streams
    }

    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.append(contentsOf: Self.magic)
        writer.append(Self.format)
        writer.append(UInt32(firstKeptOrdinal))
        writer.append(firstKeptSequenceID)
        writer.append(lastRemovedBytes)
        writer.append(UInt32(streams.count))
        for (_, stream) in streams.sorted(by: { $0.key < $1.key }) {
            let id = Array(stream.id.utf8)
            writer.append(stream.firstPosition.rawValue)
            writer.append(stream.version)
            writer.append(stream.timestampMicros)
            writer.append(UInt32(id.count))
            writer.append(contentsOf: id)
        }
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    /// - Throws: `EventStoreError.corruption` naming the file when it is damaged.
    static func decode(_ bytes: [UInt8], path: String) throws -> RemovedSegments {
        try bytes.withUnsafeBytes { raw in
            var reader = try ByteReader.checkedFile(
                raw, magic: magic, format: Self.format, minimumBytes: 40, context: "removed-segments file '\(path)'",
                kind: "removed-segments file")
            let firstKeptOrdinal = Int(try reader.read(UInt32.self))
            let firstKeptSequenceID = try reader.read(Int64.self)
            let lastRemovedBytes = try reader.read(Int64.self)
            guard firstKeptOrdinal >= 1, firstKeptOrdinal <= LogPosition.segmentOrdinalMax, firstKeptSequenceID >= 1
            else { throw reader.damaged("its first kept segment \(firstKeptOrdinal) or sequence id is out of range") }
            let count = Int(try reader.read(UInt32.self))
            var streams: [Stream] = []
            for _ in 0..<count {
                let position = LogPosition(rawValue: try reader.read(UInt64.self))
                let version = try reader.read(Int64.self)
                let timestamp = try reader.read(Int64.self)
                let length = Int(try reader.read(UInt32.self))
                let id = String(decoding: try reader.readSlice(count: length), as: UTF8.self)
                guard position.segment >= 1, position.segment < firstKeptOrdinal, version >= 1 else {
                    throw reader.damaged("stream '\(id)' has a first position or version out of range")
                }
                streams.append(Stream(id: id, firstPosition: position, version: version, timestampMicros: timestamp))
            }
            guard reader.offset == raw.count - 4 else { throw reader.damaged("its length does not match its entries") }
            var record = RemovedSegments(
                firstKeptOrdinal: firstKeptOrdinal, firstKeptSequenceID: firstKeptSequenceID, streams: streams)
            record.lastRemovedBytes = lastRemovedBytes
            return record
        }
    }

    /// The record in `directory`, or nothing removed when there is none.
    static func load(directory: String, io: any FileIO) throws -> RemovedSegments {
        let path = path(directory)
        guard let file = try SystemFile.openIfExists(path, io: io) else { return RemovedSegments() }
        return try decode(try file.readAll(), path: path)
    }

    /// Records it durably: temporary file, sync, rename, sync of the directory.
    func save(directory: String, fileMode: mode_t, io: any FileIO) throws {
        try Directory.replace(Self.path(directory), with: encode(), fileMode: fileMode, io: io)
    }
}
