import EventSourcing
import Foundation
import Testing

@Suite("Log segments and scale") struct SegmentAndScaleTests {
    @Test func readsAcrossManySmallSegments() async throws {
        let root = try TemporaryDirectory("rolls")
        let directory = root.sub("store")
        let options = smallOptions(segmentBytes: 4096)
        var written: [String: [Int]] = [:]
        try await LogEventStore.withStore(directory: directory, options: options) { store in
            for index in 0..<600 {
                let stream = "stream-\(index % 7)"
                try await store.stream(stream).write(
                    CandidateEvent(type: "E", data: Data(repeating: UInt8(index % 251), count: index % 90)))
                written[stream, default: []].append(index)
            }
        }
        #expect(try segmentFiles(directory).count > 10)
        try await LogEventStore.withStore(directory: directory, options: options) { store in
            let all = try await allEvents(store)
            #expect(all.map(\.sequenceID) == Array(1...600))
            #expect(all.enumerated().allSatisfy { index, event in event.data.count == index % 90 })
            let backward = try await collect(try await store.stream("@all").read(direction: .backward))
            #expect(backward.map(\.sequenceID) == Array((1...600).reversed()))
            let middle = try await collect(try await store.stream("@all").read(from: 250, limit: 100))
            #expect(middle.map(\.sequenceID) == Array(251...350))
            for (stream, indexes) in written {
                let handle = try await store.stream(stream)
                let forward = try await collect(handle.read())
                #expect(forward.map(\.version) == Array(1...Int64(indexes.count)))
                #expect(forward.map { $0.sequenceID - 1 } == indexes.map(Int64.init))
                let back = try await collect(handle.read(from: 40, direction: .backward, limit: 25))
                #expect(back.map(\.version) == Array((15...39).reversed()))
                let window = try await collect(handle.read(from: 30, limit: 20))
                #expect(window.map(\.version) == Array(31...50))
            }
        }
    }

    @Test func aBatchLargerThanASegmentGetsASegmentOfItsOwn() async throws {
        let root = try TemporaryDirectory("big-batch")
        let directory = root.sub("store")
        let options = smallOptions(segmentBytes: 4096)
        let big = (0..<50).map { CandidateEvent(type: "Big", data: Data(repeating: UInt8($0), count: 1000)) }
        try await LogEventStore.withStore(directory: directory, options: options) { store in
            try await store.stream("a").write(CandidateEvent(type: "Small"))
            try await store.stream("a").write(big)
            try await store.stream("a").write(CandidateEvent(type: "Small"))
        }
        let events = try await readAll(directory, options: options)
        #expect(events.map(\.version) == Array(1...52))
        #expect(events[1...50].map(\.data) == big.map(\.data))
    }

    @Test func manySmallStreamsReadBackAfterReopen() async throws {
        let root = try TemporaryDirectory("many-streams")
        let directory = root.sub("store")
        let options = LogEventStore.Options(durability: .buffered)
        let streamCount = 100_000
        try await LogEventStore.withStore(directory: directory, options: options) { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        for index in stride(from: worker, to: streamCount, by: 16) {
                            try await store.stream("customer-\(index)").write(
                                (1...3).map {
                                    CandidateEvent(type: "E\($0)", idempotencyKey: "c\(index)-\($0)")
                                })
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await LogEventStore.withStore(directory: directory, options: options) { store in
            #expect(try await store.stream("@all").metrics().eventCount == Int64(streamCount * 3))
            for index in stride(from: 0, to: streamCount, by: 1) {
                let events = try await collect(try await store.stream("customer-\(index)").read())
                guard events.map(\.version) == [1, 2, 3], events.map(\.type) == ["E1", "E2", "E3"],
                    events.map(\.id) == ["c\(index)-1", "c\(index)-2", "c\(index)-3"]
                else {
                    Issue.record("stream customer-\(index) read back as \(events.map(\.type))")
                    return
                }
            }
            #expect(try await collect(try await store.stream("customer-\(streamCount)").read()).isEmpty)
            // Keys survive the reopen.
            #expect(
                try await store.stream("customer-77").write(CandidateEvent(type: "E1", idempotencyKey: "c77-1")) == 3)
        }
    }

    @Test func oneLongStreamReadsBackAfterReopen() async throws {
        let root = try TemporaryDirectory("long-stream")
        let directory = root.sub("store")
        let count = 200_000
        try await LogEventStore.withStore(directory: directory) { store in
            let stream = try await store.stream("long")
            for start in stride(from: 0, to: count, by: 10_000) {
                try await stream.write(
                    (start..<start + 10_000).map { CandidateEvent(type: "Tick", idempotencyKey: "event-\($0)") })
            }
        }
        try await LogEventStore.withStore(directory: directory) { store in
            let stream = try await store.stream("long")
            #expect(await stream.version == Int64(count))
            var expected: Int64 = 1
            for try await event in stream.read() {
                guard event.version == expected, event.id == "event-\(expected - 1)" else {
                    Issue.record("event \(event.version) / \(event.id) where \(expected) was expected")
                    return
                }
                expected += 1
            }
            #expect(expected == Int64(count) + 1)
            let last = try await collect(stream.read(direction: .backward, limit: 3))
            #expect(last.map(\.version) == [200_000, 199_999, 199_998])
            let middle = try await collect(stream.read(from: 123_456, limit: 2))
            #expect(middle.map(\.id) == ["event-123456", "event-123457"])
        }
    }
}

func collect(_ events: EventStream.Events) async throws -> [StoredEvent] {
    var result: [StoredEvent] = []
    for try await event in events { result.append(event) }
    return result
}
