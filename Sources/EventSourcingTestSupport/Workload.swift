import EventSourcingCore
import Foundation

/// The writes and snapshots of a harness, each a pure function of the seed and its operation id,
/// so that a checker in another process regenerates exactly what a writer attempted: single
/// events, batches, writes with right and wrong expected versions, idempotent retries, batches
/// that repeat a key, large events that roll segments, writes to several streams at once
/// (`store.write([StreamWrite])`), and snapshots, over one stream or many.
///
/// Operations are split between `profile.writerCount` writers: writer `w` issues the ids
/// `w, w + W, w + 2W, ...` one at a time and owns the streams `w, w + W, ...`, so a stream's
/// expected versions are known to its one writer, and a retry replays an earlier operation of the
/// same writer on the same stream. A write to several streams writes only streams of its own writer.
///
/// Every event's data starts with a 16-byte header naming the operation that wrote it and the
/// event's index in that operation, so that every stored event can be traced back to its write.
///
/// Thread-safety: a value type.
package struct Workload: Sendable {
    /// What an operation does.
    package enum Kind: String, Sendable, CaseIterable {
        case single
        case batch
        /// A write that expects the version its writer knows (`.exact`, or `.noStream` at 0).
        case expectedVersion
        /// A write that expects a version the stream is not at: it must be refused, and store nothing.
        case wrongExpectedVersion
        /// The events of an earlier write of the same writer again, keys and all.
        case retry
        /// Half of an earlier write's events again, then new ones.
        case mixedRetry
        /// A batch in which some events repeat the key of the event before them.
        case duplicateKeys
        /// A few events of several KiB: segments roll.
        case large
        case snapshot
        /// One `store.write([StreamWrite])` to 2 or 3 streams of the writer, all or nothing: some
        /// parts repeat the keys of an earlier write of the writer to that stream (dropped when
        /// stored), and sometimes one part expects a wrong version (then nothing of the call may be
        /// stored). A writer that owns fewer than 2 streams writes a `.batch` instead.
        case multiStream
    }

    /// What one part of a write to several streams expects of its stream's version.
    package enum PartExpectation: Sendable, Equatable {
        /// `.any`.
        case any
        /// The version its writer knows (`.noStream` at 0).
        case known
        /// A version the stream is not at: the whole call must be refused and store nothing. The
        /// part always holds an event no earlier write stored, so that the check applies.
        case wrong
    }

    /// The shape of a workload.
    package struct Profile: Sendable, CustomStringConvertible {
        package var name: String
        package var streamCount: Int
        package var writerCount: Int
        package var batchEventsMax: Int
        /// Relative weights of the kinds.
        package var weights: [Kind: Int]

        package init(name: String, streamCount: Int, writerCount: Int, batchEventsMax: Int, weights: [Kind: Int]) {
            precondition(streamCount >= writerCount && writerCount >= 1, "every writer owns a stream")
            self.name = name
            self.streamCount = streamCount
            self.writerCount = writerCount
            self.batchEventsMax = batchEventsMax
            self.weights = weights
        }

        package var description: String { "\(name) (\(streamCount) streams, \(writerCount) writers)" }

        static let balanced: [Kind: Int] = [
            .single: 24, .batch: 22, .expectedVersion: 10, .wrongExpectedVersion: 3, .retry: 10, .mixedRetry: 5,
            .duplicateKeys: 4, .large: 8, .snapshot: 6, .multiStream: 10,
        ]

        /// A few streams, every kind of operation.
        package static func mixed(writers: Int = 1) -> Profile {
            Profile(
                name: "mixed", streamCount: max(writers, 6), writerCount: writers, batchEventsMax: 12, weights: balanced
            )
        }

        /// One stream, every kind of operation.
        package static let oneStream = Profile(
            name: "one stream", streamCount: 1, writerCount: 1, batchEventsMax: 20, weights: balanced)

        /// Many streams of a few events: the stream table grows.
        package static func manyStreams(writers: Int = 1) -> Profile {
            Profile(
                name: "many streams", streamCount: 1500, writerCount: writers, batchEventsMax: 3,
                weights: [
                    .single: 60, .batch: 15, .expectedVersion: 10, .retry: 8, .snapshot: 2, .large: 2, .multiStream: 6,
                ])
        }

        /// Large keyed batches: the key table grows.
        package static func manyKeys(writers: Int = 1) -> Profile {
            Profile(
                name: "many keys", streamCount: max(writers, 4), writerCount: writers, batchEventsMax: 60,
                weights: [
                    .batch: 60, .retry: 20, .mixedRetry: 10, .duplicateKeys: 5, .snapshot: 2, .large: 3,
                    .multiStream: 8,
                ])
        }

        /// Large events only: many segment rolls.
        package static func largeEvents(writers: Int = 1) -> Profile {
            Profile(
                name: "large events", streamCount: max(writers, 3), writerCount: writers, batchEventsMax: 4,
                weights: [.large: 60, .single: 20, .retry: 10, .snapshot: 10])
        }

        /// The profile called `name` (`description`'s first word) for `writers` writers.
        package static func named(_ name: String, writers: Int) -> Profile? {
            all(writers: writers).first { $0.name == name }
        }

        /// The profiles a harness picks from, by name.
        package static func all(writers: Int) -> [Profile] {
            [
                mixed(writers: writers), manyStreams(writers: writers), manyKeys(writers: writers),
                largeEvents(writers: writers),
            ]
                + (writers == 1 ? [oneStream] : [])
        }
    }

    /// The events one operation writes to one stream.
    package struct Part: Sendable {
        package let streamID: String
        /// Where its events are in `Operation.events`.
        package let range: Range<Int>
        /// What it expects of its stream's version (`.any` but in a write to several streams,
        /// whose writer takes the other kinds' expected versions from the kind).
        package let expectation: PartExpectation
    }

    /// One operation, as its writer issues it (the expected version comes from the writer).
    package struct Operation: Sendable {
        package let id: Int
        package let kind: Kind
        /// The stream written (the first one for a write to several streams).
        package let streamID: String
        /// The events as passed to `write` (before the core drops repeated keys), every part's in
        /// turn; empty for a snapshot. An event's batch position is its index here.
        package let events: [CandidateEvent]
        /// The projection of a snapshot.
        package let projection: String
        /// The operation a retry replays.
        package let target: Int?
        /// The streams written and their events, in the order of the call: one part but for a
        /// `.multiStream` write, which has 2 or 3 (of distinct streams).
        package let parts: [Part]

        init(
            id: Int, kind: Kind, streamID: String, events: [CandidateEvent], projection: String, target: Int?,
            parts: [Part]? = nil
        ) {
            self.id = id
            self.kind = kind
            self.streamID = streamID
            self.events = events
            self.projection = projection
            self.target = target
            self.parts = parts ?? [Part(streamID: streamID, range: events.indices, expectation: .any)]
        }

        /// Whether it is one `store.write([StreamWrite])` call.
        package var isMultiStream: Bool { kind == .multiStream }

        /// Every stream it writes, in the order of the call.
        package var streamIDs: [String] { parts.map(\.streamID) }

        /// The events that reach storage: those whose key no earlier event of their part carries.
        package var eventsAfterBatchDeduplication: [(index: Int, event: CandidateEvent)] {
            parts.flatMap(eventsAfterBatchDeduplication(of:))
        }

        /// The events of `part` that reach storage: those whose key no earlier event of the part carries.
        package func eventsAfterBatchDeduplication(of part: Part) -> [(index: Int, event: CandidateEvent)] {
            var seen: Set<String> = []
            return part.range.compactMap { index in
                let event = events[index]
                if let key = event.idempotencyKey, !seen.insert(key).inserted { return nil }
                return (index, event)
            }
        }
    }

    package let seed: UInt64
    package let profile: Profile

    package init(seed: UInt64, profile: Profile) {
        self.seed = seed
        self.profile = profile
    }

    /// The writer that issues operation `id`.
    package func writer(of id: Int) -> Int { id % profile.writerCount }

    /// The name of stream number `index`: short, Unicode, or long (up to the 1024-byte limit).
    package func streamName(_ index: Int) -> String {
        var random = SeededRandom(seed: seed, stream: 0x5757_0000 &+ UInt64(index))
        switch random.int(0..<10) {
        case 0: return "Bestellung-ström-\(index)-✓"
        case 1: return "long-\(index)-" + String(repeating: "x", count: random.int(100...1000))
        case 2: return "user/\(index)/orders"
        default: return "s\(index)"
        }
    }

    /// The streams writer `writer` owns.
    package func streams(ofWriter writer: Int) -> [String] {
        stride(from: writer, to: profile.streamCount, by: profile.writerCount).map(streamName)
    }

    /// How many streams writer `writer` owns.
    private func ownedStreamCount(ofWriter writer: Int) -> Int {
        (profile.streamCount - writer + profile.writerCount - 1) / profile.writerCount
    }

    /// The first draw of operation `id`'s random numbers: its kind, a write to several streams
    /// falling back to a batch for a writer that owns fewer than 2 streams.
    private func drawKind(_ random: inout SeededRandom, id: Int) -> Kind {
        let kind = random.weighted(
            profile.weights.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key, $0.value) })
        if kind == .multiStream, ownedStreamCount(ofWriter: writer(of: id)) < 2 { return .batch }
        return kind
    }

    /// Operation `id`.
    package func operation(_ id: Int) -> Operation {
        precondition(id >= 0, "operation ids start at 0")
        var random = SeededRandom(seed: seed, stream: UInt64(id))
        var kind = drawKind(&random, id: id)
        let writer = self.writer(of: id)
        let owned = ownedStreamCount(ofWriter: writer)
        var streamIndex = writer + profile.writerCount * random.int(0..<owned)
        var target: Int?
        if kind == .retry || kind == .mixedRetry {
            // The nearest earlier writes of this writer; a retry replays one of them.
            let candidates = (1...8).map { id - $0 * profile.writerCount }.filter {
                $0 >= 0 && Self.writesEvents(kindOf($0))
            }
            if let chosen = candidates.isEmpty ? nil : random.pick(candidates) {
                target = chosen
                streamIndex = self.streamIndex(of: chosen)
            } else {
                kind = .single
            }
        }
        let streamID = streamName(streamIndex)
        switch kind {
        case .multiStream:
            return multiStreamOperation(id)
        case .snapshot:
            return Operation(
                id: id, kind: kind, streamID: streamID, events: [], projection: random.pick(["default", "p2"]),
                target: nil)
        case .retry:
            let events = (0..<eventCount(of: target!)).map {
                event(origin: target!, index: $0, issuer: id, position: $0)
            }
            return Operation(id: id, kind: kind, streamID: streamID, events: events, projection: "", target: target)
        case .mixedRetry:
            let replayed = max(1, eventCount(of: target!) / 2)
            let fresh = random.int(1...3)
            let events =
                (0..<replayed).map { event(origin: target!, index: $0, issuer: id, position: $0) }
                + (0..<fresh).map { event(origin: id, index: $0, issuer: id, position: replayed + $0) }
            return Operation(id: id, kind: kind, streamID: streamID, events: events, projection: "", target: target)
        default:
            let events = (0..<eventCount(of: id)).map { event(origin: id, index: $0, issuer: id, position: $0) }
            return Operation(id: id, kind: kind, streamID: streamID, events: events, projection: "", target: nil)
        }
    }

    /// Operation `id`, a write to several streams of its writer (see `Kind.multiStream`).
    private func multiStreamOperation(_ id: Int) -> Operation {
        var random = SeededRandom(seed: seed, stream: 0x4D53_0000_0000 ^ UInt64(id))
        let writer = self.writer(of: id)
        var slots = Array(0..<ownedStreamCount(ofWriter: writer))
        var streamIndices: [Int] = []
        for _ in 0..<random.int(2...min(3, slots.count)) {
            streamIndices.append(writer + profile.writerCount * slots.remove(at: random.int(0..<slots.count)))
        }
        let wrongPart = random.chance(0.15) ? random.int(0..<streamIndices.count) : nil
        var events: [CandidateEvent] = []
        var parts: [Part] = []
        var freshCount = 0
        for (partIndex, streamIndex) in streamIndices.enumerated() {
            let start = events.count
            // Some or all events of an earlier write of the writer to this stream, keys and all:
            // dropped when that write stored them.
            let earlier = (1...8).map { id - $0 * profile.writerCount }.filter {
                $0 >= 0 && Self.writesEvents(kindOf($0)) && self.streamIndex(of: $0) == streamIndex
            }
            if !earlier.isEmpty, random.chance(0.6) {
                let target = random.pick(earlier)
                let count = eventCount(of: target)
                let replayed = random.chance(0.5) ? count : max(1, count / 2)
                for index in 0..<replayed {
                    events.append(event(origin: target, index: index, issuer: id, position: events.count))
                }
            }
            // A part with a wrong expected version holds a new event, so that the version is checked.
            let fresh = random.int((partIndex == wrongPart || events.count == start ? 1 : 0)...3)
            for _ in 0..<fresh {
                events.append(event(origin: id, index: freshCount, issuer: id, position: events.count))
                freshCount += 1
            }
            let expectation: PartExpectation =
                partIndex == wrongPart ? .wrong : random.chance(0.3) ? .known : .any
            parts.append(Part(streamID: streamName(streamIndex), range: start..<events.count, expectation: expectation))
        }
        return Operation(
            id: id, kind: .multiStream, streamID: parts[0].streamID, events: events, projection: "", target: nil,
            parts: parts)
    }

    /// The kind of operation `id`, as `operation(id)` decides it before retries are resolved.
    private func kindOf(_ id: Int) -> Kind {
        var random = SeededRandom(seed: seed, stream: UInt64(id))
        return drawKind(&random, id: id)
    }

    private func streamIndex(of id: Int) -> Int {
        var random = SeededRandom(seed: seed, stream: UInt64(id))
        _ = drawKind(&random, id: id)
        let writer = self.writer(of: id)
        return writer + profile.writerCount * random.int(0..<ownedStreamCount(ofWriter: writer))
    }

    /// Whether an operation of `kind` writes events of its own to one stream, for a retry to replay.
    private static func writesEvents(_ kind: Kind) -> Bool {
        kind != .snapshot && kind != .retry && kind != .mixedRetry && kind != .wrongExpectedVersion
            && kind != .multiStream
    }

    /// How many events operation `id` writes of its own (not counting replayed ones).
    private func eventCount(of id: Int) -> Int {
        var random = SeededRandom(seed: seed, stream: 0xC0C0_0000 &+ UInt64(id))
        switch kindOf(id) {
        case .single, .expectedVersion, .wrongExpectedVersion: return random.chance(0.8) ? 1 : random.int(2...3)
        case .large: return random.int(1...min(4, profile.batchEventsMax))
        case .duplicateKeys: return random.int(3...max(3, profile.batchEventsMax))
        default: return random.int(1...profile.batchEventsMax)
        }
    }

    /// Event `index` of operation `origin`, as operation `issuer` writes it at `position` of its batch.
    private func event(origin: Int, index: Int, issuer: Int, position: Int) -> CandidateEvent {
        var random = SeededRandom(seed: seed, stream: (UInt64(origin) << 20) ^ UInt64(index) ^ 0xE5E5_0000_0000)
        let kind = kindOf(origin)
        var keyingRandom = SeededRandom(seed: seed, stream: 0x4B45_0000 &+ UInt64(origin))
        let keying = keyingRandom.next() % 10
        var key: String?
        if keying < 5 || (keying < 8 && random.chance(0.5)) || kind == .duplicateKeys {
            key =
                "k\(origin)-\(index)"
                + (random.chance(0.05) ? "-" + String(repeating: "ключ", count: random.int(1...100)) : "")
            if kind == .duplicateKeys, index > 0, random.chance(0.4) { key = "k\(origin)-\(index - 1)" }
        }
        let type = random.pick([
            "Created", "Updated", "Deleted", "ItemAdded", "Ünïcødé✓", String(repeating: "T", count: 300),
        ])
        var metadata: [String: JSONValue]?
        switch random.int(0..<4) {
        case 0: metadata = nil
        case 1: metadata = [:]
        case 2: metadata = ["origin": .int(Int64(origin)), "index": .int(Int64(index)), "note": .string("é\u{0}\"\\")]
        default: metadata = ["nested": ["a": [1, 2.5, true, nil], "b": ["c": "ü"]], "n": .double(-0.125)]
        }
        var data = Self.header(issuer: issuer, position: position)
        let bodyCount: Int
        if kind == .large {
            bodyCount = random.int(1_000...9_000)
        } else {
            bodyCount = random.chance(0.1) ? random.int(600...3_000) : random.int(0...120)
        }
        if random.chance(0.5) {
            // Compressible: LZ4 frames.
            let word = random.bytes(random.int(1...16))
            data += (0..<bodyCount).map { word[$0 % word.count] }
        } else {
            data += random.bytes(bodyCount)
        }
        return CandidateEvent(type: type, data: Data(data), metadata: metadata, idempotencyKey: key)
    }

    // MARK: Event header

    static let headerMagic: [UInt8] = Array("EVFZ".utf8)
    static let headerBytes = 16

    /// The 16 bytes every event's data starts with: magic, issuing operation, position in its batch.
    static func header(issuer: Int, position: Int) -> [UInt8] {
        var bytes = headerMagic
        withUnsafeBytes(of: UInt64(issuer).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(position).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The issuing operation and batch position a stored event's data names, or `nil` when the data
    /// is not a harness event.
    package static func origin(of data: Data) -> (operation: Int, position: Int)? {
        guard data.count >= headerBytes, data.prefix(4).elementsEqual(headerMagic) else { return nil }
        let bytes = Array(data.prefix(headerBytes))
        let operation = bytes[4..<12].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let position = bytes[12..<16].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard operation < UInt64(Int.max) else { return nil }
        return (Int(operation), Int(position))
    }

    // MARK: Snapshots

    static let snapshotMagic: [UInt8] = Array("SNFZ".utf8)

    /// The state a snapshot operation saves: its id, the version and digest of the events it
    /// reflects, filler (sometimes large and compressible), and a digest of all of it.
    package func snapshotState(operation id: Int, version: Int64, digest: UInt64) -> Data {
        var random = SeededRandom(seed: seed, stream: 0x5A5A_0000 &+ UInt64(id))
        var bytes = Self.snapshotMagic
        for value in [UInt64(id), UInt64(bitPattern: version), digest] {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        let filler = random.chance(0.2) ? random.int(2_000...40_000) : random.int(0...200)
        if random.chance(0.5) {
            let word = random.bytes(random.int(1...32))
            bytes += (0..<filler).map { word[$0 % word.count] }
        } else {
            bytes += random.bytes(filler)
        }
        withUnsafeBytes(of: EventDigest.of(bytes).littleEndian) { bytes.append(contentsOf: $0) }
        return Data(bytes)
    }

    /// The operation a snapshot state names, or `nil` when the bytes are not a harness state.
    package static func snapshotOperation(of state: Data) -> Int? {
        guard state.count >= 36, state.prefix(4).elementsEqual(snapshotMagic) else { return nil }
        let value = Array(state[state.startIndex + 4..<state.startIndex + 12]).reversed().reduce(UInt64(0)) {
            $0 << 8 | UInt64($1)
        }
        return value < UInt64(Int.max) ? Int(value) : nil
    }
}
