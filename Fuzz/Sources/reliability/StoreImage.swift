import EventSourcingCore
import EventSourcingTestSupport
import Foundation
import Synchronization

@testable import LogStore

/// The files of a store as one fuzz input, and synchronous reads of a store through the engine's
/// internals (recovery, the batch index, the stream index, the key index), for the fuzz targets.
enum StoreImage {
    // MARK: Inputs

    /// The files an input of the `recovery` target stands for (see `FuzzTargets.recovery`).
    static func decode(_ input: UnsafeRawBufferPointer) -> [(String, [UInt8])] {
        let flags = input[0]
        let segmentCount = 1 + Int(flags >> 2) & 3
        var cursor = 1
        func chunk() -> [UInt8] {
            guard cursor + 2 <= input.count else {
                cursor = input.count
                return []
            }
            let length = Int(input[cursor]) | Int(input[cursor + 1]) << 8
            let end = min(input.count, cursor + 2 + length)
            defer { cursor = end }
            return Array(input[cursor + 2..<end])
        }
        var files: [(String, [UInt8])] = []
        let checkpoint = chunk()
        if !checkpoint.isEmpty { files.append(("checkpoint", checkpoint)) }
        var segments = (0..<segmentCount - 1).map { _ in chunk() }
        segments.append(cursor < input.count ? Array(input[cursor...]) : [])
        for (index, var bytes) in segments.enumerated() {
            if flags & 2 != 0, !bytes.starts(with: Array("EVSEGMNT".utf8)) {
                var first: UInt64 = 1
                if bytes.count >= 16 {
                    first = bytes[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    if first == 0 || first > 1 << 40 { first = 1 }
                }
                bytes = segmentHeader(ordinal: index + 1, firstSequenceID: first) + bytes
            }
            files.append((Segment.fileName(ordinal: index + 1), bytes))
        }
        return files
    }

    /// An input of the `recovery` target for the store in `directory` (at most its first four segments).
    static func encode(directory: String, buffered: Bool) -> [UInt8] {
        let names = StoreDirectory.files(in: directory)
        let segments = names.filter { $0.hasPrefix("segment-") }.sorted().prefix(4).compactMap {
            StoreDirectory.read(directory + "/" + $0)
        }
        guard !segments.isEmpty, segments.dropLast().allSatisfy({ $0.count <= 65535 }) else { return [] }
        let checkpoint = names.contains("checkpoint") ? (StoreDirectory.read(directory + "/checkpoint") ?? []) : []
        var bytes: [UInt8] = [(buffered ? 1 : 0) | UInt8(segments.count - 1) << 2]
        for piece in [Array(checkpoint.prefix(65535))] + segments.dropLast() {
            bytes += [UInt8(piece.count & 0xFF), UInt8(piece.count >> 8)] + piece
        }
        return bytes + segments.last!
    }

    /// A valid segment header (docs/FORMAT.md).
    static func segmentHeader(ordinal: Int, firstSequenceID: UInt64) -> [UInt8] {
        var header = ByteWriter(capacity: Segment.headerBytes)
        header.append(Segment.headerMagic)
        header.append(Segment.currentFormatVersion)
        header.append(UInt32(Segment.headerBytes))
        header.append(UInt32(ordinal))
        header.append(UInt32(0))
        header.append(firstSequenceID)
        header.append(Int64(0))
        header.append(contentsOf: [UInt8](repeating: 0, count: 20))
        header.append(Checksum.crc32c(header.bytes))
        return header.bytes
    }

    /// Makes the checksums that guard a file's header (an index file's, the head's, each
    /// checkpoint slot's) match its bytes, so that mutations reach the fields behind them.
    static func repairChecksums(_ bytes: inout [UInt8], name: String) {
        func put(_ crc: UInt32, at offset: Int) {
            withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
        }
        switch name {
        case "checkpoint":
            var slot = 0
            while (slot + 1) * Checkpoint.slotBytes <= bytes.count {
                let start = slot * Checkpoint.slotBytes
                put(
                    Checksum.crc32c(Array(bytes[start..<start + Checkpoint.slotBytes - 4])),
                    at: start + Checkpoint.slotBytes - 4)
                slot += 1
            }
        case "head":
            if bytes.count >= HeadRecord.bytes { put(Checksum.crc32c(Array(bytes[0..<32])), at: 32) }
        default:
            if bytes.count >= IndexFile.headerBytes { put(Checksum.crc32c(Array(bytes[0..<60])), at: 60) }
        }
    }

    // MARK: Reading a store

    /// Opens the store (recovering it), reads every event in log order, and closes it.
    static func events(directory: String, options: LogEventStore.Options) throws -> [StoredEvent] {
        try dump(directory: directory, options: options, throughIndexes: false).events
    }

    /// What a store reads: every event in log order, each stream through the stream index, the
    /// heads, and whether the key index finds every stored key.
    struct Dump: Equatable {
        var events: [StoredEvent] = []
        var streams: [String: [StoredEvent]] = [:]
        var versions: [String: Int64] = [:]
        var missingKeys: [String] = []

        func difference(from other: Dump) -> String {
            if events != other.events { return "\(events.count) events in the log, not \(other.events.count)" }
            if streams != other.streams { return "stream reads differ" }
            if versions != other.versions { return "stream versions differ" }
            return "keys not found: \(missingKeys.prefix(3))"
        }
    }

    /// Opens the store, reads it through every index, and closes it.
    static func dump(directory: String, options: LogEventStore.Options, throughIndexes: Bool = true) throws -> Dump {
        let (state, context) = try LogRecovery.open(directory: directory, options: options)
        defer { try? context.close() }
        var dump = Dump()
        func decode(_ segment: Segment, _ offset: Int, into events: inout [StoredEvent]) throws {
            try LogState.withFrame(in: segment, at: offset) { frame, header in
                try EventRecord.decode(
                    frame: frame, header: header, streamID: BatchFrame.streamID(frame, header), context: "fuzz"
                ) {
                    events.append($0)
                    return true
                }
            }
        }
        for index in 0..<state.batches.count {
            let entry = state.batches.entry(at: index)
            try decode(try state.segment(entry.position.segment), entry.position.offset, into: &dump.events)
        }
        guard throughIndexes else { return dump }
        for streamID in Set(dump.events.map(\.streamID)) {
            let hash = StableHash.stream(streamID)
            guard let slot = try state.streams.find(hash: hash, isStream: { try state.isStream(streamID, at: $0) })
            else {
                dump.streams[streamID] = []
                continue
            }
            dump.versions[streamID] = slot.version
            var events: [StoredEvent] = []
            for reference in state.streams.batches(of: slot, after: 0, eventLimit: Int.max) {
                try decode(try state.segment(reference.position.segment), reference.position.offset, into: &events)
            }
            dump.streams[streamID] = events
        }
        for event in dump.events where event.id != String(event.sequenceID) {
            let hash = StableHash.key(event.id, streamHash: StableHash.stream(event.streamID))
            if !context.keys.candidates(hash: hash).contains(event.sequenceID) { dump.missingKeys.append(event.id) }
        }
        return dump
    }

    /// A small store made by the workload (several segments, keys, snapshots), closed cleanly:
    /// its files and what it reads.
    static func makeReference() -> (files: [String: [UInt8]], dump: Dump) {
        let directory = FuzzTargets.scratchDirectory()
        let options = LogEventStore.Options(segmentBytesMax: 4096)
        blocking {
            let store = try await LogEventStore.open(directory: directory, options: options)
            var runner = WorkloadRunner(workload: Workload(seed: 11, profile: .mixed()))
            for operation in 0..<60 { _ = await runner.run(operation, on: store) { _ in } }
            try await store.close()
        }
        var files: [String: [UInt8]] = [:]
        for name in StoreDirectory.files(in: directory) { files[name] = StoreDirectory.read(directory + "/" + name) }
        guard let dump = try? StoreImage.dump(directory: directory, options: options) else {
            FuzzTargets.fail("the reference store does not open")
        }
        return (files, dump)
    }

    /// Runs async code to completion from synchronous code (a fuzz callback, the command line).
    static func blocking(_ body: @escaping @Sendable () async throws -> Void) {
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        Task.detached {
            do { try await body() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        done.wait()
        if let message = failure.withLock({ $0 }) { FuzzTargets.fail(message) }
    }
}
