import EventSourcingCore
import Foundation

/// One event inside a batch payload. Version, sequence id, stream and timestamp come from the
/// batch header; the record holds the rest:
///
/// ```
///  u8      flags: bit 0 has an idempotency key, bit 1 has metadata
///  varint  type length T, then T bytes of UTF-8
///  [varint key length K, then K bytes]            when bit 0
///  [varint metadata length M, then M bytes JSON]  when bit 1
///  varint  data length D, then D bytes
/// ```
enum EventRecord {
    static let hasKey: UInt8 = 1
    static let hasMetadata: UInt8 = 2

    /// Encodes every event of a batch into one exactly-sized buffer: the raw payload. The events
    /// are read in place (through the array's buffer, so no event is copied or retained), and
    /// metadata is rendered once, in the sizing pass (most events have none).
    static func encodeAll(_ events: [CandidateEvent]) -> [UInt8] {
        events.withUnsafeBufferPointer { events in
            var metadataTexts: [[UInt8]?] = []
            var total = 0
            for index in events.indices {
                if let metadata = events[index].metadata {
                    if metadataTexts.isEmpty { metadataTexts = Array(repeating: nil, count: events.count) }
                    var text: [UInt8] = []
                    JSONValue.writeObject(metadata, to: &text)
                    total += varintSize(text.count) + text.count
                    metadataTexts[index] = text
                }
                let typeBytes = events[index].type.utf8.count
                let dataBytes = events[index].data.count
                total += 1 + varintSize(typeBytes) + typeBytes + varintSize(dataBytes) + dataBytes
                if let keyBytes = events[index].idempotencyKey?.utf8.count { total += varintSize(keyBytes) + keyBytes }
            }
            return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                // safe: `total` above counts exactly the bytes written below.
                var cursor = RawCursor(base: UnsafeMutableRawPointer(buffer.baseAddress!))
                for index in events.indices {
                    let text = metadataTexts.isEmpty ? nil : metadataTexts[index]
                    var flags: UInt8 = 0
                    if events[index].idempotencyKey != nil { flags |= hasKey }
                    if text != nil { flags |= hasMetadata }
                    cursor.putByte(flags)
                    cursor.putString(events[index].type)
                    if let key = events[index].idempotencyKey { cursor.putString(key) }
                    if let text {
                        cursor.putVarint(text.count)
                        text.withUnsafeBytes { cursor.put($0) }
                    }
                    cursor.putVarint(events[index].data.count)
                    events[index].data.withUnsafeBytes { cursor.put($0) }
                }
                precondition(cursor.offset == total, "the payload size was counted wrong")
                initialized = total
            }
        }
    }

    /// Writes bytes forward from `base`; the caller has sized the memory. A struct with mutating
    /// methods (not closures over a captured offset), so no access is checked at run time.
    private struct RawCursor {
        let base: UnsafeMutableRawPointer
        var offset = 0

        mutating func put(_ bytes: UnsafeRawBufferPointer) {
            guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
            (base + offset).copyMemory(from: source, byteCount: bytes.count)
            offset += bytes.count
        }

        mutating func putByte(_ byte: UInt8) {
            base.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }

        mutating func putVarint(_ value: Int) {
            var value = UInt64(value)
            while value >= 0x80 {
                putByte(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            putByte(UInt8(value))
        }

        mutating func putString(_ string: String) {
            // A native string lends its UTF-8 in place; others (bridged, say) are made native first.
            let lent: Void? = string.utf8.withContiguousStorageIfAvailable { utf8 in
                putVarint(utf8.count)
                put(UnsafeRawBufferPointer(utf8))
            }
            guard lent == nil else { return }
            var native = string
            native.withUTF8 { utf8 in
                putVarint(utf8.count)
                put(UnsafeRawBufferPointer(utf8))
            }
        }
    }

    static func varintSize(_ value: Int) -> Int {
        var size = 1
        var rest = UInt64(value) >> 7
        while rest > 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    /// The fields of one record, borrowed from the payload.
    struct Fields {
        var type: UnsafeRawBufferPointer
        var key: UnsafeRawBufferPointer?
        var metadata: UnsafeRawBufferPointer?
        var data: UnsafeRawBufferPointer
    }

    /// Reads the next record, checking every length against the limits and the payload's end.
    @inline(__always)
    static func read(_ reader: inout ByteReader) throws -> Fields {
        let flags: UInt8 = try reader.read(UInt8.self)
        guard flags & ~(hasKey | hasMetadata) == 0 else { throw reader.damaged("unknown record flags \(flags)") }
        let type = try reader.readSlice(maximum: Limits.eventTypeBytesMax)
        let key = flags & hasKey != 0 ? try reader.readSlice(maximum: Limits.idempotencyKeyBytesMax) : nil
        let metadata = flags & hasMetadata != 0 ? try reader.readSlice(maximum: Limits.eventBytesMax) : nil
        let data = try reader.readSlice(maximum: Limits.eventBytesMax)
        return Fields(type: type, key: key, metadata: metadata, data: data)
    }

    /// Decodes the events of a frame from index `firstWanted` on, handing each to `body` until it
    /// returns `false`.
    static func decode(
        frame: UnsafeRawBufferPointer, header: BatchHeader, streamID: String, context: @autoclosure () -> String,
        firstWanted: Int = 0, _ body: (StoredEvent) throws -> Bool
    ) throws {
        try BatchFrame.withRawPayload(frame, header, context: context()) { payload in
            try decode(
                payload: payload, header: header, streamID: streamID, context: context(), firstWanted: firstWanted, body
            )
        }
    }

    /// Decodes the events of a raw (decompressed) payload from index `firstWanted` on, handing each
    /// to `body` until it returns `false`. A record that `prefilter` says cannot match is not
    /// decoded: its index goes to `rejected` instead, which also returns whether to go on.
    static func decode(
        payload: UnsafeRawBufferPointer, header: BatchHeader, streamID: String, context: @autoclosure () -> String,
        firstWanted: Int = 0, prefilter: RecordPrefilter? = nil, rejected: (Int) throws -> Bool = { _ in true },
        _ body: (StoredEvent) throws -> Bool
    ) throws {
        let timestamp = Timestamp.date(microseconds: header.timestampMicros)
        do {
            var reader = ByteReader(payload, context: context())
            for index in 0..<header.eventCount {
                let fields = try read(&reader)
                guard index >= firstWanted else { continue }
                if let prefilter, !prefilter.mayMatch(fields) {
                    guard try rejected(index) else { return }
                    continue
                }
                let sequenceID = header.firstSequenceID + Int64(index)
                var metadata: [String: JSONValue]?
                if let text = fields.metadata {
                    guard case .object(let members)? = try? JSONValue.parse(text, allowingNonFiniteNumbers: true) else {
                        throw reader.damaged("metadata of event \(sequenceID) is not a JSON object")
                    }
                    metadata = members
                }
                let event = StoredEvent(
                    id: fields.key.map { String(decoding: $0, as: UTF8.self) } ?? String(sequenceID),
                    streamID: streamID, sequenceID: sequenceID, version: header.firstVersion + Int64(index),
                    timestamp: timestamp, type: String(decoding: fields.type, as: UTF8.self),
                    data: fields.data.isEmpty ? Data() : Data(fields.data), metadata: metadata)
                guard try body(event) else { return }
            }
            guard reader.remaining == 0 else { throw reader.damaged("\(reader.remaining) bytes after the last record") }
        }
    }

    /// The (index in the batch, key hash) of every keyed event of a frame, hashed from the key's
    /// bytes in place (as `StableHash.key` hashes a key's UTF-8): recovery's key catch-up.
    static func keyHashes(
        frame: UnsafeRawBufferPointer, header: BatchHeader, streamHash: UInt64, context: @autoclosure () -> String
    ) throws -> [(index: Int, hash: UInt64)] {
        guard header.codec != .compacted else { return [] }
        return try BatchFrame.withRawPayload(frame, header, context: context()) { payload in
            var reader = ByteReader(payload, context: context())
            var hashes: [(index: Int, hash: UInt64)] = []
            for index in 0..<header.eventCount {
                guard let key = try read(&reader).key else { continue }
                hashes.append((index, StableHash.hash(key, seed: streamHash)))
            }
            guard reader.remaining == 0 else { throw reader.damaged("\(reader.remaining) bytes after the last record") }
            return hashes
        }
    }

    /// The idempotency keys of a frame's events, by index (`nil` for an event without one).
    static func keys(frame: UnsafeRawBufferPointer, header: BatchHeader, context: @autoclosure () -> String) throws
        -> [String?]
    {
        // A compacted batch's events are gone, keys included.
        guard header.codec != .compacted else { return Array(repeating: nil, count: header.eventCount) }
        return try BatchFrame.withRawPayload(frame, header, context: context()) { payload in
            var reader = ByteReader(payload, context: context())
            var keys: [String?] = []
            keys.reserveCapacity(header.eventCount)
            for _ in 0..<header.eventCount {
                keys.append(try read(&reader).key.map { String(decoding: $0, as: UTF8.self) })
            }
            return keys
        }
    }
}
