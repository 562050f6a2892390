import EventSourcing
import Foundation
import Testing

@Suite("Snapshots and metrics") struct SnapshotTests {
    @Test(arguments: StoreKind.allCases)
    func snapshotRoundTripPerProjection(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("counter")
            try await stream.write(events("Inc", "Inc", "Dec"))
            #expect(try await stream.loadSnapshot() == nil)
            try await stream.snapshot(Data("count=1".utf8))
            try await stream.snapshot(Data([0, 1, 2, 0xFF]), version: 2, projection: "binary")
            let main = try #require(try await stream.loadSnapshot())
            #expect(main.state == Data("count=1".utf8))
            #expect(main.version == 3)
            #expect(main.streamID == "counter")
            #expect(main.projectionName == "default")
            #expect(abs(main.timestamp.timeIntervalSinceNow) < 60)
            let binary = try #require(try await stream.loadSnapshot(projection: "binary"))
            #expect(binary.state == Data([0, 1, 2, 0xFF]))
            #expect(binary.version == 2)
            #expect(try await stream.loadSnapshot(projection: "other") == nil)
            #expect(try await store.stream("another").loadSnapshot() == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func snapshotReplacesThePreviousOneAndLeavesTheStreamAlone(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A"))
            try await stream.snapshot(Data("one".utf8))
            try await stream.write(events("B"))
            try await stream.snapshot(Data("two".utf8))
            let loaded = try #require(try await stream.loadSnapshot())
            #expect(loaded.state == Data("two".utf8))
            #expect(loaded.version == 2)
            #expect(await stream.version == 2)
            #expect(try await collect(stream.read()).count == 2)
            try await stream.snapshot(Data(), version: 0, projection: "empty")
            #expect(try await stream.loadSnapshot(projection: "empty")?.state == Data())
        }
    }

    @Test(arguments: StoreKind.allCases)
    func allSnapshotsNeedAVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.stream("x").write(events("A", "B"))
            let all = try await store.stream("@all")
            await expectError(.snapshotVersionRequired) { try await all.snapshot(Data("s".utf8)) }
            try await all.snapshot(Data("global".utf8), version: 2, projection: "report")
            let loaded = try #require(try await all.loadSnapshot(projection: "report"))
            #expect(loaded.version == 2)
            #expect(loaded.streamID == "@all")
            #expect(loaded.state == Data("global".utf8))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func restoreFromSnapshotThenReplayTheRest(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("counter")
            try await stream.write((0..<10).map { _ in CandidateEvent(type: "Inc") })
            try await stream.snapshot(Data("10".utf8))
            try await stream.write((0..<5).map { _ in CandidateEvent(type: "Inc") })
            let snapshot = try #require(try await stream.loadSnapshot())
            var count = Int(String(decoding: snapshot.state, as: UTF8.self))!
            for try await _ in stream.read(from: snapshot.version) { count += 1 }
            #expect(count == 15)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func largeSnapshotState(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let state = Data((0..<(3 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 % 251) })
            try await stream.snapshot(state, version: 0)
            #expect(try await stream.loadSnapshot()?.state == state)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func metricsOfStreamsAndAll(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let empty = try await store.stream("empty").metrics()
            #expect(empty == StreamMetrics(currentVersion: 0, eventCount: 0, lastTimestamp: nil))
            let a = try await store.stream("a")
            try await a.write(events("A1", "A2"))
            try await store.stream("b").write(events("B1"))
            let metricsA = try await a.metrics()
            #expect(metricsA.currentVersion == 2)
            #expect(metricsA.eventCount == 2)
            let lastA = try await collect(a.read()).last?.timestamp
            #expect(metricsA.lastTimestamp == lastA)
            let all = try await store.stream("@all").metrics()
            #expect(all.currentVersion == 3)
            #expect(all.eventCount == 3)
            #expect(all.lastTimestamp == (try await collect(store.stream("b").read()).last?.timestamp))
        }
    }
}
