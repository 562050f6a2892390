import EventSourcing
import EventSourcingTestSupport
import Foundation
import Synchronization
import LogStore
import Testing

/// Compaction runs beside the writer (`SegmentCompactor`): writes, retried keys of hidden and
/// visible events, rolls of the segment being compacted and reads go on while it works, and
/// nothing visible is lost or changed.
@Suite("Compaction beside writers") struct CompactionBesideWritersTests {
    /// Event `index` of `stream`: 300 bytes that do not compress, keyed.
    static func event(_ stream: String, _ index: Int) -> CandidateEvent {
        var random = SeededRandom(seed: UInt64(index), stream: UInt64(stream.utf8.count))
        return CandidateEvent(type: "\(stream)/\(index)", data: Data(random.bytes(300)), idempotencyKey: "\(stream)-\(index)")
    }

    @Test(arguments: [16 * 1024, 48 * 1024, 256 * 1024])
    func writesRetriesAndReadsGoOnWhileSegmentsAreCompacted(segmentBytes: Int) async throws {
        let directory = try TemporaryDirectory("compaction-beside")
        let path = directory.sub("store")
        let options = LogEventStore.Options(segmentBytesMax: segmentBytes, checkpointBytesInterval: 16 * 1024)
        try await LogEventStore.withStore(directory: path, options: options) { store in
            for round in 0..<3 {
                // Streams keep-N and gone-N; the gone ones are deleted before each compaction.
                for batch in 0..<12 {
                    for stream in ["keep-\(batch % 3)", "gone-\(round)-\(batch % 4)"] {
                        let start = batch * 10
                        try await store.stream(stream).write((start..<start + 10).map { Self.event(stream, $0) })
                    }
                }
                for index in 0..<4 { try await store.stream("gone-\(round)-\(index)").delete() }
                let visible = try await collect(store.stream("@all").read())
                // Writers: new events (rolling the segments), retries of visible keys (stored
                // nothing) and of deleted ones (forgotten: stored again), while compact() runs.
                async let compacted = store.compact()
                let written = try await withThrowingTaskGroup(of: [String].self) { group in
                    for writer in 0..<3 {
                        group.addTask {
                            var types: [String] = []
                            let stream = try await store.stream("new-\(round)-\(writer)")
                            for index in 0..<20 {
                                let event = Self.event("new-\(round)-\(writer)", index)
                                try await stream.write(event)
                                types.append(event.type)
                            }
                            return types
                        }
                    }
                    group.addTask {
                        let keep = try await store.stream("keep-0")
                        for index in 0..<10 { try await keep.write(Self.event("keep-0", index)) }
                        var types: [String] = []
                        let gone = try await store.stream("gone-\(round)-0")
                        for index in 0..<3 {
                            let event = Self.event("gone-\(round)-0", index)
                            try await gone.write(event)
                            types.append(event.type)
                        }
                        return types
                    }
                    var all: [String] = []
                    for try await types in group { all += types }
                    return all
                }
                let report = try await compacted
                #expect(report.eventsRemoved > 0, "round \(round)")
                let after = try await collect(store.stream("@all").read())
                // What was visible is there, in order and unchanged; each new write once.
                let visibleIDs = Set(visible.map(\.sequenceID))
                #expect(after.filter { visibleIDs.contains($0.sequenceID) }.map(\.digest) == visible.map(\.digest))
                let newer = after.filter { $0.sequenceID > visible.last!.sequenceID }
                #expect(newer.map(\.type).sorted() == written.sorted(), "round \(round)")
                #expect(after.count == visible.count + written.count)
                // The indexes match the log.
                for stream in Set(after.map(\.streamID)) {
                    let read = try await collect(store.stream(stream).read())
                    #expect(read.map(\.digest) == after.filter { $0.streamID == stream }.map(\.digest))
                }
            }
        }
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
    }
}

extension CompactionBesideWritersTests {
    /// Readers of `@all` while the store's retention drops segments and compacts them beside the
    /// writer: a batch punched while a reader decodes it is read again as hidden, never an error.
    @Test func readersNeverFailWhileRetentionDropsSegments() async throws {
        let directory = try TemporaryDirectory("compaction-beside-readers")
        let path = directory.sub("store")
        let options = LogEventStore.Options(
            segmentBytesMax: 16 * 1024, checkpointBytesInterval: 16 * 1024,
            retention: LogEventStore.StoreRetention(maxBytes: 40 * 1024))
        try await LogEventStore.withStore(directory: path, options: options) { store in
            let stream = try await store.stream("w")
            let done = DoneFlag()
            async let reads: Int = withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        var pages = 0
                        while !done.value.load(ordering: .acquiring) {
                            var last: Int64 = 0
                            for try await event in try await store.stream("@all").read() {
                                #expect(event.sequenceID > last)
                                last = event.sequenceID
                            }
                            pages += 1
                            // Two cooperative threads here: let the writer's task run.
                            await Task.yield()
                        }
                        return pages
                    }
                }
                return try await group.reduce(0, +)
            }
            for batch in 0..<150 {
                try await stream.write((batch * 10..<batch * 10 + 10).map { Self.event("w", $0) })
            }
            done.value.store(true, ordering: .releasing)
            #expect(try await reads > 0)
            let kept = try await collect(store.stream("@all").read())
            #expect(kept.last?.type == "w/1499" && kept.count < 1_500)
        }
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
    }
}

private final class DoneFlag: Sendable {
    let value = Atomic(false)
}

extension StoredEvent {
    /// What a compaction must never change of a visible event.
    fileprivate var digest: String { "\(sequenceID) \(streamID) \(version) \(type) \(data.hashValue) \(id)" }
}
