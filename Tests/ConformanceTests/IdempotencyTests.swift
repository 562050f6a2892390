import EventSourcing
import Foundation
import Testing

@Suite("Idempotent writes") struct IdempotencyTests {
    @Test(arguments: StoreKind.allCases)
    func keysAlreadyStoredAreDroppedAcrossWrites(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(CandidateEvent(type: "A", idempotencyKey: "k1"))
            let version = try await stream.write([
                CandidateEvent(type: "A-again", idempotencyKey: "k1"),
                CandidateEvent(type: "B", idempotencyKey: "k2"),
            ])
            #expect(version == 2)
            let read = try await collect(stream.read())
            #expect(read.map(\.type) == ["A", "B"])
            #expect(read.map(\.id) == ["k1", "k2"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func duplicateKeysWithinABatchKeepTheFirst(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let version = try await stream.write([
                CandidateEvent(type: "First", idempotencyKey: "dup"),
                CandidateEvent(type: "NoKey"),
                CandidateEvent(type: "Second", idempotencyKey: "dup"),
                CandidateEvent(type: "NoKey"),
            ])
            #expect(version == 3)
            #expect(try await collect(stream.read()).map(\.type) == ["First", "NoKey", "NoKey"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysArePerStream(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let a = try await store.stream("a")
            let b = try await store.stream("b")
            try await a.write(CandidateEvent(type: "A", idempotencyKey: "same"))
            #expect(try await b.write(CandidateEvent(type: "B", idempotencyKey: "same")) == 1)
            #expect(try await collect(b.read()).map(\.id) == ["same"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func retryWithStaleExpectedVersionSucceedsWhenAllDropped(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let batch = [
                CandidateEvent(type: "A", idempotencyKey: "a"), CandidateEvent(type: "B", idempotencyKey: "b"),
            ]
            #expect(try await stream.write(batch, expectedVersion: .noStream) == 2)
            // The reply was lost; the client retries with the same expected version.
            #expect(try await stream.write(batch, expectedVersion: .noStream) == 2)
            #expect(try await stream.write(batch, expectedVersion: .exact(0)) == 2)
            #expect(try await collect(stream.read()).count == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func partlyDroppedBatchStillChecksExpectedVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(CandidateEvent(type: "A", idempotencyKey: "a"))
            await expectError(.concurrencyConflict(streamID: "s", expected: .noStream, actual: 1)) {
                try await stream.write(
                    [CandidateEvent(type: "A", idempotencyKey: "a"), CandidateEvent(type: "B", idempotencyKey: "b")],
                    expectedVersion: .noStream)
            }
            #expect(try await collect(stream.read()).map(\.type) == ["A"])
            // The conflicting write stored nothing, so its new key is still free.
            #expect(try await stream.write(CandidateEvent(type: "B", idempotencyKey: "b"), expectedVersion: 1) == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysNeverExpire(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(CandidateEvent(type: "A", idempotencyKey: "early"))
            for index in 0..<50 { try await stream.write(CandidateEvent(type: "Filler\(index)")) }
            #expect(try await stream.write(CandidateEvent(type: "A", idempotencyKey: "early")) == 51)
        }
    }
}

@Suite("Expected versions") struct ExpectedVersionTests {
    @Test(arguments: StoreKind.allCases)
    func anySkipsTheCheck(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            #expect(try await stream.write(events("A"), expectedVersion: .any) == 1)
            #expect(try await stream.write(events("B"), expectedVersion: .any) == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func noStream(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            #expect(try await stream.write(events("A"), expectedVersion: .noStream) == 1)
            await expectError(.concurrencyConflict(streamID: "s", expected: .noStream, actual: 1)) {
                try await stream.write(events("B"), expectedVersion: .noStream)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func streamExists(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            await expectError(.concurrencyConflict(streamID: "s", expected: .streamExists, actual: 0)) {
                try await stream.write(events("A"), expectedVersion: .streamExists)
            }
            try await stream.write(events("A"))
            #expect(try await stream.write(events("B"), expectedVersion: .streamExists) == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func exactVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            #expect(try await stream.write(events("A"), expectedVersion: 0) == 1)
            #expect(try await stream.write(events("B", "C"), expectedVersion: 1) == 3)
            await expectError(.concurrencyConflict(streamID: "s", expected: .exact(1), actual: 3)) {
                try await stream.write(events("D"), expectedVersion: 1)
            }
            await expectError(.concurrencyConflict(streamID: "s", expected: .exact(9), actual: 3)) {
                try await stream.write(events("D"), expectedVersion: .exact(9))
            }
            #expect(try await collect(stream.read()).count == 3)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func staleHandleConflicts(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let first = try await store.stream("s")
            let second = try await store.stream("s")
            try await first.write(events("A"), expectedVersion: .exact(await first.version))
            #expect(await second.version == 0)
            let stale = await second.version
            await expectError(.concurrencyConflict(streamID: "s", expected: .exact(0), actual: 1)) {
                try await second.write(events("B"), expectedVersion: .exact(stale))
            }
            let reopened = try await store.stream("s")
            #expect(await reopened.version == 1)
            #expect(try await reopened.write(events("B"), expectedVersion: .exact(await reopened.version)) == 2)
        }
    }

    @Test func conflictMessageReadsAsASentence() {
        let error = EventStoreError.concurrencyConflict(streamID: "X", expected: 1, actual: 2)
        #expect(error.description == "Concurrency conflict on stream 'X': expected version 1, but stream is at 2")
    }
}
