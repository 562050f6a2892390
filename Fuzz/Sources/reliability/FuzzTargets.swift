import EventLogFilter
import EventSourcingCore
import EventSourcingTestSupport
import Foundation
import Synchronization

@testable import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// The libFuzzer targets (RELIABILITY.md, "Also fuzzed"): arbitrary bytes into every decoder.
/// None may crash, hang or allocate without bound, and each checks more than that where it can:
/// a decoded value encodes back to a fixed point, and damaged index files never change what the
/// log says. The first input byte often holds flags, among them one that repairs checksums
/// so that mutations reach the fields behind them.
enum FuzzTargets {
    /// The targets by name.
    static let all: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "frames": frames, "recovery": recovery, "index": index, "snapshot": snapshot, "metadata": metadata,
        "filter": filter,
    ]

    /// A broken oracle: prints and aborts, so libFuzzer saves the input.
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("fuzz target failed: \(message)\n".utf8))
        abort()
    }

    // MARK: Batch frames and records

    /// Probes the input as a frame (bit 0 of byte 0: repair its lengths and checksum first), decodes
    /// its records, and checks that what decodes encodes to a frame that decodes the same.
    static func frames(_ input: UnsafeRawBufferPointer) {
        guard input.count > 1 else { return }
        var bytes = Array(input[1...])
        if input[0] & 1 != 0, bytes.count >= BatchHeader.minimumFrameBytes {
            // Bit 1 picks the format whose magic the repair writes.
            Self.repairFrame(&bytes, magic: input[0] & 2 != 0 ? BatchHeader.magicV1 : BatchHeader.magicV2)
        }
        bytes.withUnsafeBytes { raw in
            guard case .frame(let header) = BatchFrame.probe(raw, at: 0) else { return }
            let frame = UnsafeRawBufferPointer(rebasing: raw[0..<header.frameLength])
            let streamID = BatchFrame.streamID(frame, header)
            var events: [StoredEvent] = []
            let keys: [String?]
            do {
                keys = try EventRecord.keys(frame: frame, header: header, context: "fuzz")
                try EventRecord.decode(frame: frame, header: header, streamID: streamID, context: "fuzz") {
                    events.append($0)
                    return true
                }
            } catch EventStoreError.corruption {
                return
            } catch {
                fail("decoding a frame threw \(error), not corruption")
            }
            guard events.count == header.eventCount, keys.count == events.count else {
                fail("a frame of \(header.eventCount) events decoded to \(events.count) (\(keys.count) keys)")
            }
            // Invalid UTF-8 decodes with replacement characters, which can grow a field past its
            // limit: such a frame (only ever forged) has no encoding to compare with.
            guard streamID.utf8.count <= Limits.streamIDBytesMax,
                events.allSatisfy({ $0.type.utf8.count <= Limits.eventTypeBytesMax }),
                keys.allSatisfy({ ($0?.utf8.count ?? 0) <= Limits.idempotencyKeyBytesMax })
            else { return }
            let candidates = zip(events, keys).map { event, key in
                CandidateEvent(type: event.type, data: event.data, metadata: event.metadata, idempotencyKey: key)
            }
            let again = BatchFrame.encode(
                streamID: streamID, firstSequenceID: header.firstSequenceID, firstVersion: header.firstVersion,
                timestampMicros: header.timestampMicros, events: candidates)
            again.withUnsafeBytes { raw in
                guard case .frame(let second) = BatchFrame.probe(raw, at: 0) else {
                    fail("a re-encoded frame does not probe")
                }
                var decoded: [StoredEvent] = []
                do {
                    try EventRecord.decode(frame: raw, header: second, streamID: streamID, context: "fuzz") {
                        decoded.append($0)
                        return true
                    }
                } catch {
                    fail("a re-encoded frame does not decode: \(error)")
                }
                for (first, next) in zip(events, decoded)
                where first.type != next.type || first.data != next.data || first.id != next.id
                    || first.metadata.map({ JSONValue.object($0).jsonText })
                        != next.metadata.map({ JSONValue.object($0).jsonText })
                {
                    fail("event \(first.sequenceID) changed through decode, encode, decode")
                }
            }
        }
    }

    /// Sets both lengths of a frame to its size and its checksum to match its bytes.
    static func repairFrame(_ bytes: inout [UInt8], magic: UInt32 = BatchHeader.magicV2) {
        let length = UInt32(bytes.count)
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: magic.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(bytes.count - 4..<bytes.count, with: $0) }
        let crc = Checksum.crc32c(Array(bytes[0..<bytes.count - 8]))
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(bytes.count - 8..<bytes.count - 4, with: $0) }
    }

    // MARK: Recovery scan

    // safe: only libFuzzer's one fuzzing thread (or the corpus command) runs the targets.
    nonisolated(unsafe) static var scratch: String?

    /// A directory of this process, emptied for each input.
    static func scratchDirectory() -> String {
        if scratch == nil {
            scratch = try? StoreDirectory.work(named: "reliability-fuzz")
            atexit { FuzzTargets.scratch.map(StoreDirectory.remove) }
        }
        let directory = scratch! + "/store"
        StoreDirectory.remove(directory)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Splits the input into store files, opens the store (recovery: the segment checks and the
    /// frame walk, the torn-tail cut, the checkpoint, the index rebuild), reads every event, and
    /// opens it again: a second recovery must give the same log.
    ///
    /// Byte 0: bit 0 `.buffered`; bit 1 give segments a valid header when they lack one; bits 2-3
    /// one less than the number of segments. Then a checkpoint and every segment but the last as a
    /// 2-byte length and the bytes; the last segment is the rest.
    static func recovery(_ input: UnsafeRawBufferPointer) {
        guard input.count > 1 else { return }
        let files = StoreImage.decode(input)
        let directory = scratchDirectory()
        for (name, bytes) in files { StoreDirectory.write(directory + "/" + name, bytes) }
        var options = LogEventStore.Options(durability: input[0] & 1 != 0 ? .buffered : .fsync, segmentBytesMax: 4096)
        options.logger.logLevel = .critical
        let first: [StoredEvent]
        do {
            first = try StoreImage.events(directory: directory, options: options)
        } catch EventStoreError.corruption {
            return
        } catch {
            fail("recovery threw \(error), not corruption")
        }
        do {
            let second = try StoreImage.events(directory: directory, options: options)
            if second != first { fail("a second recovery gave \(second.count) events, the first \(first.count)") }
        } catch {
            fail("the store recovered once, but the second recovery threw \(error)")
        }
    }

    // MARK: Index files and checkpoint

    // safe: as `scratch`.
    nonisolated(unsafe) static var reference: (files: [String: [UInt8]], dump: StoreImage.Dump)?

    /// Replaces or overlays one index file (or the checkpoint, or the head file) of a store whose
    /// log is intact: open must give exactly the log's events, through every index, or refuse a
    /// checkpoint that claims more than the log holds.
    ///
    /// Byte 0 picks the file; byte 1: bit 0 repair the header (or slot) checksums, bit 1 overlay
    /// the rest at the offset in bytes 2-3 instead of replacing the file.
    static func index(_ input: UnsafeRawBufferPointer) {
        guard input.count > 4 else { return }
        if reference == nil { reference = StoreImage.makeReference() }
        let (files, expected) = reference!
        // keys.idx.grown is absent from an intact store: written, it must be used only if it is
        // the table the checkpoint describes (never, here), and removed.
        let names = ["checkpoint", "batches.idx", "streams.idx", "blocks.idx", "keys.idx", "head", "keys.idx.grown"]
        let name = names[Int(input[0]) % names.count]
        var bytes: [UInt8]
        let payload = Array(input[4...])
        if input[1] & 2 != 0 {
            bytes = files[name] ?? []
            let offset = Int(input[2]) | Int(input[3]) << 8
            if offset + payload.count > bytes.count {
                bytes += [UInt8](repeating: 0, count: offset + payload.count - bytes.count)
            }
            bytes.replaceSubrange(offset..<offset + payload.count, with: payload)
        } else {
            bytes = payload
        }
        if input[1] & 1 != 0 { StoreImage.repairChecksums(&bytes, name: name) }
        let directory = scratchDirectory()
        for (file, content) in files { StoreDirectory.write(directory + "/" + file, file == name ? bytes : content) }
        if files[name] == nil { StoreDirectory.write(directory + "/" + name, bytes) }
        var options = LogEventStore.Options(segmentBytesMax: 4096)
        options.logger.logLevel = .critical
        do {
            let dump = try StoreImage.dump(directory: directory, options: options)
            if dump != expected {
                fail("a damaged \(name) changed what the store reads: \(dump.difference(from: expected))")
            }
        } catch EventStoreError.corruption where name == "checkpoint" && input[1] & 1 != 0 {
            // A checkpoint with a repaired checksum is forged: whatever it claims may be refused
            // (reported), but never read differently.
            return
        } catch {
            fail("a damaged \(name) made open fail: \(error)")
        }
    }

    // MARK: Snapshot files

    /// Decodes the input as a snapshot file (bit 0 of byte 0: repair its checksum first); what
    /// decodes must encode to a fixed point.
    static func snapshot(_ input: UnsafeRawBufferPointer) {
        guard input.count > 1 else { return }
        var bytes = Array(input[1...])
        if input[0] & 1 != 0, bytes.count >= 4 {
            let crc = Checksum.crc32c(Array(bytes[0..<bytes.count - 4]))
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(bytes.count - 4..<bytes.count, with: $0) }
        }
        let decoded: Snapshot
        do {
            decoded = try SnapshotFile.decode(bytes, path: "fuzz")
        } catch EventStoreError.corruption {
            return
        } catch {
            fail("decoding a snapshot threw \(error), not corruption")
        }
        guard decoded.streamID.utf8.count <= Int(UInt16.max), decoded.projectionName.utf8.count <= Int(UInt16.max)
        else { return }
        do {
            let again = try SnapshotFile.decode(SnapshotFile.encode(decoded), path: "fuzz")
            // Stored microseconds are exact; a `Date` (seconds since 2001 in a Double) holds every
            // microsecond only within decades of now, so far timestamps may move a little.
            if again.streamID != decoded.streamID || again.projectionName != decoded.projectionName
                || again.version != decoded.version || again.state != decoded.state
                || abs(again.timestamp.timeIntervalSince(decoded.timestamp)) > 0.001
            {
                fail("a snapshot changed through encode and decode")
            }
        } catch {
            fail("an encoded snapshot does not decode: \(error)")
        }
    }

    // MARK: Metadata JSON

    /// Parses the input as JSON (bit 0 of byte 0: accept NaN and Infinity); what parses writes a
    /// text that parses to the same text. An object goes on as an event's metadata through
    /// validation, a frame and back.
    static func metadata(_ input: UnsafeRawBufferPointer) {
        guard input.count > 1 else { return }
        let value: JSONValue
        do {
            value = try JSONValue.parse(
                UnsafeRawBufferPointer(rebasing: input[1...]), allowingNonFiniteNumbers: input[0] & 1 != 0)
        } catch is JSONParseError {
            return
        } catch {
            fail("parsing JSON threw \(error), not JSONParseError")
        }
        let text = value.jsonText
        do {
            let again = try JSONValue.parse(Array(text.utf8), allowingNonFiniteNumbers: true).jsonText
            if again != text { fail("JSON text is not a fixed point: \(text) then \(again)") }
        } catch {
            fail("written JSON does not parse: \(text): \(error)")
        }
        guard case .object(let members) = value else { return }
        let event = CandidateEvent(type: "Fuzzed", data: Data([1, 2]), metadata: members)
        guard let prepared = try? Validation.prepareBatch([event]) else { return }
        let frame = BatchFrame.encode(
            streamID: "s", firstSequenceID: 1, firstVersion: 1, timestampMicros: 0, events: prepared)
        frame.withUnsafeBytes { raw in
            guard case .frame(let header) = BatchFrame.probe(raw, at: 0) else {
                fail("a metadata frame does not probe")
            }
            do {
                try EventRecord.decode(frame: raw, header: header, streamID: "s", context: "fuzz") { stored in
                    if stored.metadata.map({ JSONValue.object($0).jsonText }) != text {
                        fail("metadata changed through a frame")
                    }
                    return true
                }
            } catch {
                fail("a metadata frame does not decode: \(error)")
            }
        }
    }

    // MARK: Filters

    static let filterEvents: [StoredEvent] = [
        StoredEvent(
            id: "1", streamID: "orders-1", sequenceID: 1, version: 1, timestamp: Date(timeIntervalSince1970: 0),
            type: "Placed",
            data: Data(), metadata: ["user": "ann", "n": 3, "deep": ["x": [1, "y"]], "f": 2.5, "b": true, "z": nil]),
        StoredEvent(
            id: "k", streamID: "ström_%", sequenceID: 2, version: 7, timestamp: Date(timeIntervalSince1970: 1),
            type: "Ünï",
            data: Data([0]), metadata: nil),
    ]

    /// Parses each line of the input as an `eventlog --filter` expression, compiles the filter and
    /// matches it against a few events.
    static func filter(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        var clauses: [EventFilter.Clause] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(8) {
            let expression = String(line)
            let accepted = EventLogFilterParser.accepts(expression)
            do {
                clauses.append(try EventLogFilterParser.parse(expression))
                if !accepted { fail("'\(expression)' parses but is not accepted as an argument") }
            } catch {
                if accepted { fail("'\(expression)' is accepted as an argument but does not parse") }
            }
        }
        guard let compiled = try? CompiledFilter(EventFilter(clauses)) else { return }
        for event in filterEvents { _ = compiled.matches(event) }
    }
}
