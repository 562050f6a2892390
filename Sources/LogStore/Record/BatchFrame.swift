import EventSourcingCore
import Foundation

/// One write: a framed batch of consecutive events of one stream.
///
/// ```
///  offset  size  field
///  0       4     frame length N (u32): bytes from here through the trailing length
///  4       4     magic "EVB2" (format 2; "EVB1" in format 1)
///  8       8     first sequence id (u64)
///  16      8     first version (u64)
///  24      8     timestamp, microseconds since the Unix epoch (i64), shared by the batch
///  32      4     event count (u32, >= 1)
///  36      1     codec of the payload (0 raw, 1 LZ4, 2 compacted: zeros, checksum of [0, F+L) only)
///  37      1     flags: bit 0 the write goes on in the next frame (format 2; 0 in format 1)
///  38      2     stream id length L (u16, 1...1024)
///  40      4     raw payload length (u32)
///  44      8     synced end (LogPosition, format 2 only): the log was durable up to here when
///                this frame was written
///  F       L     stream id (UTF-8), F = 52 (44 in format 1)
///  F+L     P     payload, as stored (P = N - F - 8 - L); raw, it is `event count` EventRecords
///  N-8     4     CRC-32C of bytes [0, N-8)
///  N-4     4     frame length N again (u32)
/// ```
/// All integers are little-endian. Every size field is bounded before it is trusted, and the CRC
/// covers both the header and the leading length, so a length cannot lie undetected. The synced
/// end lets recovery tell damage that a crash explains (past every synced end a later frame
/// records) from damage that none does (docs/FORMAT.md, "Recovery").
struct BatchHeader: Equatable {
    static let magicV1: UInt32 = 0x3142_5645  // "EVB1" in file order
    static let magicV2: UInt32 = 0x3242_5645  // "EVB2" in file order
    static let trailerBytes = 8
    /// The fixed header of a frame of `formatVersion`.
    static func fixedBytes(formatVersion: Int) -> Int { formatVersion == 1 ? 44 : 52 }
    /// The smallest frame of any format: a header, a one-byte stream id and the trailer.
    static let minimumFrameBytes = 44 + 1 + trailerBytes
    /// Flag bit 0: the write's frames go on in the next frame (a write across several streams).
    static let continuesFlag: UInt8 = 1

    var formatVersion: Int
    var frameLength: Int
    var firstSequenceID: Int64
    var firstVersion: Int64
    var timestampMicros: Int64
    var eventCount: Int
    var codec: Codec
    var flags: UInt8
    var streamIDLength: Int
    var payloadRawLength: Int
    /// Where the log was durable when the frame was written (format 2; zero in format 1).
    var syncedEnd: LogPosition

    var fixedBytes: Int { Self.fixedBytes(formatVersion: formatVersion) }
    var streamIDOffset: Int { fixedBytes }
    var payloadOffset: Int { fixedBytes + streamIDLength }
    var payloadStoredLength: Int { frameLength - fixedBytes - Self.trailerBytes - streamIDLength }
    var lastSequenceID: Int64 { firstSequenceID + Int64(eventCount) - 1 }
    var lastVersion: Int64 { firstVersion + Int64(eventCount) - 1 }
    /// Whether the write goes on in the next frame: the frame is whole only with the ones after it.
    var continues: Bool { flags & Self.continuesFlag != 0 }
}

enum BatchFrame {
    /// The outcome of looking for a frame at an offset.
    enum Probe: Equatable {
        /// A whole, checksummed frame.
        case frame(BatchHeader)
        /// The bytes end before the frame does (a torn write at the end of a log).
        case truncated
        /// Not a valid frame: a bad checksum, magic, bound or field.
        case invalid(String)
    }

    /// Encodes a batch as a format-2 frame.
    /// - Parameters:
    ///   - syncedEnd: where the log was durable when this frame is written.
    ///   - continues: the write goes on in the next frame.
    /// - Precondition: `events` is non-empty and within `Limits` (the core validated it).
    static func encode(
        streamID: String, firstSequenceID: Int64, firstVersion: Int64, timestampMicros: Int64,
        events: [CandidateEvent], syncedEnd: LogPosition = LogPosition(rawValue: 0), continues: Bool = false
    ) -> [UInt8] {
        precondition(!events.isEmpty, "a batch holds at least one event")
        let payload = EventRecord.encodeAll(events)
        let (codec, stored) = Codec.compressIfWorthwhile(payload)
        let streamIDBytes = Array(streamID.utf8)
        precondition(streamIDBytes.count <= Int(UInt16.max), "stream ids are validated to 1024 bytes")
        let frameLength =
            BatchHeader.fixedBytes(formatVersion: 2) + BatchHeader.trailerBytes + streamIDBytes.count + stored.count
        precondition(frameLength <= Limits.frameBytesMax, "a validated batch fits a frame")
        var frame = ByteWriter(capacity: frameLength)
        frame.append(UInt32(frameLength))
        frame.append(BatchHeader.magicV2)
        frame.append(UInt64(firstSequenceID))
        frame.append(UInt64(firstVersion))
        frame.append(timestampMicros)
        frame.append(UInt32(events.count))
        frame.append(codec.rawValue)
        frame.append(continues ? BatchHeader.continuesFlag : 0)
        frame.append(UInt16(streamIDBytes.count))
        frame.append(UInt32(payload.count))
        frame.append(syncedEnd.rawValue)
        frame.append(contentsOf: streamIDBytes)
        frame.append(contentsOf: stored)
        frame.append(Checksum.crc32c(frame.bytes))
        frame.append(UInt32(frameLength))
        // Check the frame before it goes to disk, as it will be checked after reading it back.
        assert(frame.bytes.withUnsafeBytes { probe($0, at: 0) } != .truncated)
        return frame.bytes
    }

    /// Looks for a frame of either format at `offset` of `bytes`, checking every bound, the magic,
    /// both lengths and the checksum (the caller checks that the format is its segment's).
    static func probe(_ bytes: UnsafeRawBufferPointer, at offset: Int, verifyChecksum: Bool = true) -> Probe {
        let available = bytes.count - offset
        guard available >= 4 else { return .truncated }
        let frameLength = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
        guard frameLength >= BatchHeader.minimumFrameBytes, frameLength <= Limits.frameBytesMax else {
            return .invalid("frame length \(frameLength) out of bounds")
        }
        guard available >= 8 else { return .truncated }
        let formatVersion: Int
        switch bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian {
        case BatchHeader.magicV2: formatVersion = 2
        case BatchHeader.magicV1: formatVersion = 1
        default: return .invalid("no frame magic")
        }
        let fixedBytes = BatchHeader.fixedBytes(formatVersion: formatVersion)
        guard frameLength >= fixedBytes + BatchHeader.trailerBytes + 1 else {
            return .invalid("frame length \(frameLength) out of bounds")
        }
        guard available >= frameLength else { return .truncated }
        // safe: frameLength bytes are available, checked above.
        let frame = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + frameLength])
        func field<T: FixedWidthInteger>(_ at: Int, _ type: T.Type) -> T {
            T(littleEndian: frame.loadUnaligned(fromByteOffset: at, as: T.self))
        }
        guard field(frameLength - 4, UInt32.self) == UInt32(frameLength) else {
            return .invalid("leading and trailing lengths differ")
        }
        let storedCRC = field(frameLength - 8, UInt32.self)
        let streamIDLength = Int(field(38, UInt16.self))
        // A compacted frame's checksum covers its header and stream id only: the payload is gone.
        let checked =
            field(36, UInt8.self) == Codec.compacted.rawValue
            ? min(fixedBytes + streamIDLength, frameLength - 8) : frameLength - 8
        guard
            !verifyChecksum
                || Checksum.crc32c(UnsafeRawBufferPointer(rebasing: frame[0..<checked])) == storedCRC
        else { return .invalid("checksum mismatch") }
        let eventCount = Int(field(32, UInt32.self))
        let payloadRawLength = Int(field(40, UInt32.self))
        let flags = field(37, UInt8.self)
        guard let codec = Codec(rawValue: field(36, UInt8.self)) else { return .invalid("unknown codec") }
        guard flags & ~(formatVersion == 1 ? 0 : BatchHeader.continuesFlag) == 0 else {
            return .invalid("unknown flags \(flags)")
        }
        let header = BatchHeader(
            formatVersion: formatVersion, frameLength: frameLength,
            firstSequenceID: Int64(bitPattern: field(8, UInt64.self)),
            firstVersion: Int64(bitPattern: field(16, UInt64.self)), timestampMicros: field(24, Int64.self),
            eventCount: eventCount, codec: codec, flags: flags, streamIDLength: streamIDLength,
            payloadRawLength: payloadRawLength,
            syncedEnd: LogPosition(rawValue: formatVersion == 1 ? 0 : field(44, UInt64.self)))
        guard eventCount >= 1, eventCount <= Limits.batchEventsMax else { return .invalid("event count \(eventCount)") }
        guard streamIDLength >= 1, streamIDLength <= Limits.streamIDBytesMax, header.payloadStoredLength >= 0 else {
            return .invalid("stream id length \(streamIDLength)")
        }
        // Bounded before `lastSequenceID`/`lastVersion` (first + count - 1) are computed, which would overflow (and trap).
        guard header.firstSequenceID >= 1, header.firstVersion >= 1,
            header.firstSequenceID <= Int64.max - Int64(eventCount),
            header.firstVersion <= Int64.max - Int64(eventCount)
        else { return .invalid("positions out of range") }
        guard payloadRawLength <= Limits.frameBytesMax,
            codec != .raw || payloadRawLength == header.payloadStoredLength
        else { return .invalid("payload length \(payloadRawLength)") }
        return .frame(header)
    }

    /// The stream id of a frame that `probe` accepted.
    static func streamID(_ frame: UnsafeRawBufferPointer, _ header: BatchHeader) -> String {
        String(
            decoding: UnsafeRawBufferPointer(rebasing: frame[header.streamIDOffset..<header.payloadOffset]),
            as: UTF8.self)
    }

    /// Whether the frame's stream id is `streamID`, without building a string.
    static func hasStreamID(_ frame: UnsafeRawBufferPointer, _ header: BatchHeader, _ streamID: String) -> Bool {
        let stored = UnsafeRawBufferPointer(rebasing: frame[header.streamIDOffset..<header.payloadOffset])
        var candidate = streamID
        return candidate.withUTF8 { utf8 in
            utf8.count == stored.count && memcmp(utf8.baseAddress!, stored.baseAddress!, stored.count) == 0
        }
    }

    /// Lends the raw payload of a frame (decompressing it when needed).
    static func withRawPayload<T>(
        _ frame: UnsafeRawBufferPointer, _ header: BatchHeader, context: @autoclosure () -> String,
        _ body: (UnsafeRawBufferPointer) throws -> T
    ) throws -> T {
        let stored = UnsafeRawBufferPointer(
            rebasing: frame[header.payloadOffset..<header.payloadOffset + header.payloadStoredLength])
        switch header.codec {
        case .raw:
            return try body(stored)
        case .lz4:
            let raw = try LZ4.decompress(stored, rawCount: header.payloadRawLength, context: context())
            return try raw.withUnsafeBytes(body)
        case .compacted:
            throw EventStoreError.corruption("\(context()): the batch was compacted away, yet something read it")
        }
    }

    /// The bytes that turn a frame `probe` accepted into its compacted form: the header with the
    /// codec `compacted` and the stream id (at offset 0), and the trailer (at `frameLength - 8`),
    /// whose checksum covers those header bytes only. The payload between them is to be zeroed.
    static func compactedPatches(_ frame: UnsafeRawBufferPointer, _ header: BatchHeader)
        -> (head: [UInt8], trailer: [UInt8])
    {
        var head = Array(frame[0..<header.payloadOffset])
        head[36] = Codec.compacted.rawValue
        var trailer = ByteWriter(capacity: BatchHeader.trailerBytes)
        trailer.append(Checksum.crc32c(head))
        trailer.append(UInt32(header.frameLength))
        return (head, trailer.bytes)
    }
}
