import EventSourcing
import Foundation
import Testing

@Suite("Writing") struct WriteTests {
    @Test(arguments: StoreKind.allCases)
    func writeReturnsNewVersionAndReadsBackInOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("order-42")
            #expect(await stream.version == 0)
            let version = try await stream.write(events("Placed", "Paid", "Shipped"))
            #expect(version == 3)
            #expect(await stream.version == 3)
            let read = try await collect(stream.read())
            #expect(read.map(\.type) == ["Placed", "Paid", "Shipped"])
            #expect(read.map(\.version) == [1, 2, 3])
            #expect(read.map(\.sequenceID) == [1, 2, 3])
            #expect(read.map(\.streamID) == ["order-42", "order-42", "order-42"])
            #expect(read.map(\.data) == [Data("Placed-0".utf8), Data("Paid-1".utf8), Data("Shipped-2".utf8)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func singleEventWriteAndCallShapes(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("order-42")
            let v = try await stream.write([CandidateEvent(type: "Placed", data: Data("{}".utf8))])
            #expect(v == 1)
            try await stream.write(CandidateEvent(type: "Paid"), expectedVersion: 1)
            var seen: [Int64] = []
            for try await event in stream.read() { seen.append(event.version) }
            #expect(seen == [1, 2])
            var paid: [StoredEvent] = []
            for try await event in stream.read(from: 0, limit: 5, filter: EventFilter([.equals("event_type", "Paid")]))
            {
                paid.append(event)
            }
            #expect(paid.map(\.version) == [2])
            var last: [StoredEvent] = []
            for try await event in stream.read(direction: .backward, limit: 1) { last.append(event) }
            #expect(last.map(\.version) == [2])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func eventIDIsKeyOrSequenceID(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write([
                CandidateEvent(type: "A"), CandidateEvent(type: "B", idempotencyKey: "key-b"),
                CandidateEvent(type: "C"),
            ])
            let read = try await collect(stream.read())
            #expect(read.map(\.id) == ["1", "key-b", "3"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func dataAndMetadataRoundTripExactly(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let binary = Data((0...255).map { UInt8($0) } + [0, 0, 0xFF, 0xFE])
            let metadata: [String: JSONValue] = [
                "region": "EMEA", "count": 3, "ratio": 0.5, "big": .double(1e300), "flag": true, "none": nil,
                "list": [1, "two", 3.5, [false]], "nested": ["a": ["b": "ünïcödé ✓ \"quoted\"\n"]],
                "whole": .double(100.0),
            ]
            try await stream.write([
                CandidateEvent(type: "Binary", data: binary),
                CandidateEvent(type: "Meta", metadata: metadata),
                CandidateEvent(type: "EmptyMeta", metadata: [:]),
                CandidateEvent(type: "NoMeta"),
                CandidateEvent(type: "Empty", data: Data()),
            ])
            let read = try await collect(stream.read())
            #expect(read[0].data == binary)
            #expect(read[1].metadata == metadata)
            #expect(read[2].metadata == [:])
            #expect(read[3].metadata == nil)
            #expect(read[4].data.isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func timestampsAreRecentWithMicrosecondPrecision(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let before = Date().addingTimeInterval(-1)
            let stream = try await store.stream("s")
            try await stream.write(events("A"))
            let event = try #require(try await collect(stream.read()).first)
            #expect(event.timestamp >= before && event.timestamp <= Date().addingTimeInterval(1))
            let micros = event.timestamp.timeIntervalSince1970 * 1_000_000
            #expect(abs(micros - micros.rounded()) < 0.01)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func emptyWriteReturnsCurrentVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            #expect(try await stream.write([]) == 0)
            try await stream.write(events("A", "B"))
            #expect(try await stream.write([]) == 2)
            #expect(try await stream.write([], expectedVersion: .exact(7)) == 2)
            #expect(try await collect(stream.read()).count == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func sixteenMebibyteEventIsWithinLimits(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("big")
            let data = Data((0..<(16 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try await stream.write(CandidateEvent(type: "Big", data: data))
            let read = try await collect(stream.read())
            #expect(read.count == 1)
            #expect(read.first?.data == data)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func streamsAreIndependentAndShareTheGlobalSequence(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let a = try await store.stream("a")
            let b = try await store.stream("b")
            try await a.write(events("A1"))
            try await b.write(events("B1", "B2"))
            try await a.write(events("A2"))
            let readA = try await collect(a.read())
            let readB = try await collect(b.read())
            #expect(readA.map(\.version) == [1, 2])
            #expect(readA.map(\.sequenceID) == [1, 4])
            #expect(readB.map(\.version) == [1, 2])
            #expect(readB.map(\.sequenceID) == [2, 3])
        }
    }
}
