import EventSourcing
import Foundation
import Testing

@Suite("Reading") struct ReadTests {
    /// A stream "s" of versions 1...10, interleaved with another stream.
    static func tenEvents(_ store: any EventStore) async throws -> EventStream {
        let stream = try await store.stream("s")
        let other = try await store.stream("other")
        for index in 1...10 {
            try await stream.write(CandidateEvent(type: "E\(index)"))
            if index % 3 == 0 { try await other.write(CandidateEvent(type: "O\(index)")) }
        }
        return stream
    }

    @Test(arguments: StoreKind.allCases)
    func fromIsExclusive(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await Self.tenEvents(store)
            #expect(try await collect(stream.read(from: 7)).map(\.version) == [8, 9, 10])
            #expect(try await collect(stream.read(from: 10)).isEmpty)
            #expect(try await collect(stream.read(from: 99)).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func limit(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await Self.tenEvents(store)
            #expect(try await collect(stream.read(limit: 3)).map(\.version) == [1, 2, 3])
            #expect(try await collect(stream.read(from: 8, limit: 5)).map(\.version) == [9, 10])
            #expect(try await collect(stream.read(limit: 0)).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func backward(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await Self.tenEvents(store)
            #expect(try await collect(stream.read(direction: .backward)).map(\.version) == Array((1...10).reversed()))
            #expect(try await collect(stream.read(direction: .backward, limit: 2)).map(\.version) == [10, 9])
            #expect(try await collect(stream.read(from: 4, direction: .backward)).map(\.version) == [3, 2, 1])
            #expect(try await collect(stream.read(from: 1, direction: .backward)).isEmpty)
            #expect(try await collect(stream.read(from: 6, direction: .backward, limit: 2)).map(\.version) == [5, 4])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func emptyAndUnknownStreamsReadNothing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("never-written")
            #expect(await stream.version == 0)
            #expect(try await collect(stream.read()).isEmpty)
            #expect(try await collect(stream.read(direction: .backward)).isEmpty)
            #expect(try await collect(store.stream("@all").read()).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func readsSpanManyPages(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("long")
            let count = 5000
            for start in stride(from: 0, to: count, by: 1000) {
                try await stream.write(
                    (start..<start + 1000).map { CandidateEvent(type: "E", data: Data("\($0)".utf8)) })
            }
            let forward = try await collect(stream.read())
            #expect(forward.map(\.version) == Array(1...Int64(count)))
            #expect(forward.last?.data == Data("\(count - 1)".utf8))
            let backward = try await collect(stream.read(direction: .backward))
            #expect(backward.map(\.version) == Array((1...Int64(count)).reversed()))
            #expect(try await collect(stream.read(from: 2047, limit: 3000)).map(\.version) == Array(2048...5000))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aReadIsAConsistentPrefixWhileWritesGoOn(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write((0..<100).map { _ in CandidateEvent(type: "E") })
            let writer = Task {
                for _ in 0..<20 { try await stream.write((0..<50).map { _ in CandidateEvent(type: "W") }) }
            }
            let read = try await collect(stream.read())
            try await writer.value
            #expect(read.count >= 100)
            #expect(read.map(\.version) == Array(1...Int64(read.count)))
            // Batches are atomic: a read never ends inside one.
            #expect((read.count - 100) % 50 == 0)
        }
    }
}

@Suite("The @all stream") struct AllStreamTests {
    @Test(arguments: StoreKind.allCases)
    func allYieldsEveryEventInSequenceOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let a = try await store.stream("a")
            let b = try await store.stream("b")
            try await a.write(events("A1", "A2"))
            try await b.write(events("B1"))
            try await a.write(events("A3"))
            let all = try await store.stream("@all")
            let read = try await collect(all.read())
            #expect(read.map(\.sequenceID) == [1, 2, 3, 4])
            #expect(read.map(\.type) == ["A1", "A2", "B1", "A3"])
            #expect(read.map(\.streamID) == ["a", "a", "b", "a"])
            #expect(read.map(\.version) == [1, 2, 1, 3])
            #expect(try await collect(all.read(from: 2)).map(\.sequenceID) == [3, 4])
            #expect(try await collect(all.read(direction: .backward, limit: 2)).map(\.sequenceID) == [4, 3])
            #expect(try await collect(all.read(from: 3, direction: .backward)).map(\.sequenceID) == [2, 1])
            #expect(await all.version == 4)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func writingToAllIsRefused(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let all = try await store.stream("@all")
            await expectError(.writeToAllStream) { try await all.write(events("X")) }
            await expectError(.writeToAllStream) { try await all.write([]) }
            await expectError(.writeToAllStream) { try await all.write(CandidateEvent(type: "X")) }
            #expect(try await collect(all.read()).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func allHandleVersionFollowsTheHead(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let all = try await store.stream("@all")
            #expect(await all.version == 0)
            try await store.stream("x").write(events("A", "B", "C"))
            #expect(await all.version == 3)
        }
    }
}
