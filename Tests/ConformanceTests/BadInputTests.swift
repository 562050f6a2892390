import EventSourcing
import Foundation
import Testing

@Suite("Bad input") struct BadInputTests {
    static func isInvalidStreamID(_ error: EventStoreError) -> Bool {
        if case .invalidStreamID = error { return true } else { return false }
    }

    static func isInvalidEvent(_ error: EventStoreError) -> Bool {
        if case .invalidEvent = error { return true } else { return false }
    }

    static func isInvalidArgument(_ error: EventStoreError) -> Bool {
        if case .invalidArgument = error { return true } else { return false }
    }

    @Test(arguments: StoreKind.allCases)
    func invalidStreamIDs(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let tooLong = String(repeating: "x", count: 1025)
            for id in ["", tooLong, "a\u{0}b", "@other", "@", "@ALL"] {
                await expectError({ try await store.stream(id) }, matching: Self.isInvalidStreamID)
            }
            // The limit is in UTF-8 bytes: 512 two-byte characters fit, 513 do not.
            _ = try await store.stream(String(repeating: "é", count: 512))
            await expectError(
                { try await store.stream(String(repeating: "é", count: 513)) }, matching: Self.isInvalidStreamID)
            _ = try await store.stream(String(repeating: "x", count: 1024))
            _ = try await store.stream("ünïcödé/with spaces:and-symbols@")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func invalidEventsWriteNothing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let bad: [[CandidateEvent]] = [
                [CandidateEvent(type: "")],
                [CandidateEvent(type: "Good"), CandidateEvent(type: "")],
                [CandidateEvent(type: String(repeating: "t", count: 1025))],
                [CandidateEvent(type: "T", idempotencyKey: "")],
                [CandidateEvent(type: "T", idempotencyKey: String(repeating: "k", count: 1025))],
                [CandidateEvent(type: "T", metadata: ["bad": .double(.nan)])],
                [CandidateEvent(type: "T", metadata: ["bad": [.double(.infinity)]])],
                [CandidateEvent(type: "T", data: Data(count: 33 * 1024 * 1024))],
            ]
            for batch in bad {
                await expectError({ try await stream.write(batch) }, matching: Self.isInvalidEvent)
            }
            #expect(try await collect(stream.read()).isEmpty)
            #expect(await stream.version == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func oversizedBatchIsRefusedWhole(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let chunk = Data(count: 30 * 1024 * 1024)
            let batch = (0..<5).map { _ in CandidateEvent(type: "Chunk", data: chunk) }
            await expectError({ try await stream.write(batch) }, matching: Self.isInvalidEvent)
            #expect(try await stream.metrics().eventCount == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func invalidArguments(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A"))
            await expectError(
                { try await stream.write(events("B"), expectedVersion: .exact(-1)) }, matching: Self.isInvalidArgument)
            await expectError({ try await collect(stream.read(from: -1)) }, matching: Self.isInvalidArgument)
            await expectError({ try await collect(stream.read(limit: -1)) }, matching: Self.isInvalidArgument)
            await expectError({ try await collect(stream.watch(from: -5)) }, matching: Self.isInvalidArgument)
            await expectError({ try await stream.snapshot(Data(), version: -1) }, matching: Self.isInvalidArgument)
            await expectError({ try await stream.snapshot(Data(), projection: "") }, matching: Self.isInvalidArgument)
            await expectError({ try await stream.loadSnapshot(projection: "") }, matching: Self.isInvalidArgument)
            #expect(try await collect(stream.read()).count == 1)
        }
    }

    @Test func errorDescriptionsAreActionableSentences() {
        let detail = "the detail"
        let withDetail: [EventStoreError] = [
            .unsupportedFilterField(detail), .invalidFilter(detail), .invalidStreamID(detail), .invalidEvent(detail),
            .invalidArgument(detail), .storeLocked(detail), .corruption(detail), .io(detail),
        ]
        let withoutDetail: [EventStoreError] = [.writeToAllStream, .snapshotVersionRequired, .readOnly, .storeClosed]
        for error in withDetail { #expect(error.description.contains(detail)) }
        for error in withDetail + withoutDetail {
            #expect(error.description.first?.isUppercase == true)
            #expect(error.description.count > detail.count + 8)
        }
        let all = withDetail + withoutDetail
        #expect(Set(all.map(\.description)).count == all.count)
    }
}

@Suite("Lifecycle") struct LifecycleTests {
    @Test(arguments: StoreKind.allCases)
    func closeIsIdempotentAndLaterCallsThrowStoreClosed(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        let store = try await fixture.open()
        let stream = try await store.stream("s")
        try await stream.write(events("A"))
        try await store.close()
        try await store.close()
        await expectError(.storeClosed) { try await store.stream("s") }
        await expectError(.storeClosed) { try await stream.write(events("B")) }
        await expectError(.storeClosed) { try await collect(stream.read()) }
        await expectError(.storeClosed) { try await stream.metrics() }
        await expectError(.storeClosed) { try await stream.snapshot(Data()) }
        await expectError(.storeClosed) { try await stream.loadSnapshot() }
    }

    @Test(arguments: StoreKind.allCases)
    func closeWaitsForWritesInFlight(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        let store = try await fixture.open()
        let stream = try await store.stream("s")
        let writers = (0..<10).map { index in
            Task { try await stream.write(CandidateEvent(type: "W\(index)")) }
        }
        try await store.close()
        var acknowledged = 0
        for writer in writers {
            if (try? await writer.value) != nil { acknowledged += 1 }
        }
        if kind.isPersistent {
            let reopened = try await fixture.open()
            #expect(try await reopened.stream("s").metrics().eventCount == Int64(acknowledged))
            try await reopened.close()
        }
    }
}
