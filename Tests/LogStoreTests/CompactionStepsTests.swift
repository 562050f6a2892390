import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@testable import LogStore

/// The steps of a compaction beside the writer, driven one at a time: the segment the writer
/// appends to is planned, then written to (and sealed) before the writer adopts the plan.
@Suite("Compaction steps around the writer") struct CompactionStepsTests {
    static func event(_ stream: String, _ index: Int) -> CandidateEvent {
        var random = SeededRandom(seed: UInt64(index), stream: 9)
        return CandidateEvent(type: "\(stream)/\(index)", data: Data(random.bytes(500)), idempotencyKey: "\(stream)-\(index)")
    }

    /// A store whose active segment holds a deleted stream's batches among kept ones.
    static func prepared(_ path: String) async throws -> (LogEventStore, ordinal: Int, visible: [StoredEvent]) {
        let store = try await LogEventStore.open(
            directory: path, options: LogEventStore.Options(segmentBytesMax: 64 * 1024, checkpointBytesInterval: 16 * 1024))
        for batch in 0..<6 {
            for stream in ["keep", "gone"] {
                try await store.stream(stream).write((batch * 5..<batch * 5 + 5).map { Self.event(stream, $0) })
            }
        }
        try await store.stream("gone").delete()
        let ordinal = try await store.writer.perform { context in context.state.withLock { context.state.segments.count } }
        return (store, ordinal, try await collect(store.stream("@all").read()))
    }

    /// Writes until the log has `segments` segments.
    static func write(_ store: LogEventStore, until segments: Int) async throws {
        var index = 1_000
        while try await store.writer.perform({ context in context.state.withLock { context.state.segments.count } }) < segments {
            try await store.stream("more").write(Self.event("more", index))
            index += 1
        }
    }

    @Test func aPlanOfTheActiveSegmentThatWasSealedMeanwhileIsMadeAgain() async throws {
        let directory = try TemporaryDirectory("compaction-steps-sealed")
        let path = directory.sub("store")
        let (store, ordinal, visible) = try await Self.prepared(path)
        let start = try #require(try await store.writer.perform { try $0.startCompaction(of: ordinal) })
        #expect(start.isActive)
        let plan = try #require(try CompactionPlan.make(start))
        try await Self.write(store, until: ordinal + 1)
        await #expect(throws: WriterContext.CompactionRetry.self) { try await store.writer.perform { try $0.adoptCompaction(plan) } }
        // The whole compaction plans it again, as a sealed segment.
        let report = try await store.compact()
        #expect(report.eventsRemoved == 30)
        let after = try await collect(store.stream("@all").read())
        #expect(Array(after.prefix(visible.count)).map(\.sequenceID) == visible.map(\.sequenceID))
        try await store.close()
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
    }

    @Test func theActiveSegmentsFooterCoversItsBodyAsCompactedAndWrittenAfterThePlan() async throws {
        let directory = try TemporaryDirectory("compaction-steps-active")
        let path = directory.sub("store")
        let (store, ordinal, visible) = try await Self.prepared(path)
        let start = try #require(try await store.writer.perform { try $0.startCompaction(of: ordinal) })
        let plan = try #require(try CompactionPlan.make(start))
        // Written after the plan, before it is adopted: the running checksum takes these bytes as they are.
        for index in 0..<3 { try await store.stream("more").write(Self.event("more", index)) }
        let journal = try await store.writer.perform { try $0.adoptCompaction(plan) }
        try journal.apply(directory: path, io: SystemIO.shared)
        store.writer.compactions.end(ordinal)
        // Sealed with a footer over the changed body.
        try await Self.write(store, until: ordinal + 1)
        let after = try await collect(store.stream("@all").read())
        #expect(Array(after.prefix(visible.count)).map(\.sequenceID) == visible.map(\.sequenceID))
        #expect(after.contains { $0.type == "more/2" })
        try await store.close()
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
        let reopened = try await LogEventStore.withStore(directory: path) { try await collect($0.stream("@all").read()) }
        #expect(reopened.map(\.sequenceID) == after.map(\.sequenceID))
    }
}
