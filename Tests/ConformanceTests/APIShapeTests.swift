import EventSourcing
import Foundation
import Testing

/// The call shapes of shared/spec/API.md, written as a user writes them, with one `import EventSourcing`.
@Suite("API call shapes") struct APIShapeTests {
    @Test func usageFromTheSpecCompilesAndRuns() async throws {
        let directory = try StoreFixture(.log)
        defer { directory.remove() }
        try await LogEventStore.withStore(directory: directory.directory + "/shapes") { store in
            let stream = try await store.stream("order-42")
            let v = try await stream.write([CandidateEvent(type: "Placed", data: Data("{}".utf8))])
            try await stream.write(CandidateEvent(type: "Paid"), expectedVersion: 1)
            var seen: [Int64] = []
            for try await event in stream.read() { seen.append(event.version) }
            for try await _ in stream.read(from: 10, limit: 5, filter: EventFilter([.equals("event_type", "Paid")])) {}
            for try await last in stream.read(direction: .backward, limit: 1) { seen.append(last.version) }
            try await stream.write(CandidateEvent(type: "Shipped"))
            for try await event in stream.watch(from: 0) { if event.version == 3 { break } }
            let all = try await store.stream("@all")
            for try await _ in all.read(
                filter: EventFilter([.like("stream_id", "order-%"), .equals("metadata.region", "EMEA")]))
            {}
            #expect(v == 1)
            #expect(seen == [1, 2, 2])
        }
    }

    @Test func withStoreClosesEvenWhenTheBodyThrows() async throws {
        struct Failure: Error {}
        let fixture = try StoreFixture(.sqlite)
        defer { fixture.remove() }
        let path = fixture.directory + "/shapes.db"
        var kept: EventStream?
        await #expect(throws: Failure.self) {
            try await SQLiteEventStore.withStore(path: path) { store in
                kept = try await store.stream("s")
                try await kept!.write(CandidateEvent(type: "A"))
                throw Failure()
            }
        }
        await #expect(throws: EventStoreError.storeClosed) { try await kept!.metrics() }
        let count = try await SQLiteEventStore.withStore(path: path, options: .init(synchronous: .normal)) { store in
            try await store.stream("s").metrics().eventCount
        }
        #expect(count == 1)
        let logDirectory = fixture.directory + "/log"
        await #expect(throws: Failure.self) {
            try await LogEventStore.withStore(directory: logDirectory, options: .init(durability: .buffered)) { _ in
                throw Failure()
            }
        }
        // The lock was released: another writer opens it.
        try await LogEventStore.open(directory: logDirectory).close()
    }

    @Test func valueLiteralsAndExpectedVersions() {
        let metadata: [String: JSONValue] = [
            "s": "x", "i": 1, "d": 1.5, "b": true, "n": nil, "a": [1, "2"], "o": ["k": 3],
        ]
        let event = CandidateEvent(type: "T", data: Data([1]), metadata: metadata, idempotencyKey: "k")
        #expect(event.metadata?["i"] == .double(1.0))
        let expectations: [ExpectedVersion] = [.any, .noStream, .streamExists, .exact(3), 3]
        #expect(expectations[3] == expectations[4])
        let filter = EventFilter([.equals("version", 1), .oneOf("event_type", ["A", "B"]), .like("stream_id", "a%")])
        #expect(filter.clauses.count == 3)
        let directions: [ReadDirection] = [.forward, .backward]
        #expect(directions.count == 2)
    }
}
