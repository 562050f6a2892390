import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

private struct Deposited: EventPayload, Equatable {
    static let eventType = "Deposited"
    var amount: Int
    var note: String?
}

private struct Withdrawn: EventPayload, Equatable {
    static let eventType = "Withdrawn"
    var amount: Int
}

private struct Measured: EventPayload {
    static let eventType = "Measured"
    var value: Double
}

/// The balance and how many events made it.
private enum Balance: Projection {
    struct State: Codable, Sendable, Equatable {
        var balance = 0
        var events = 0
    }
    static let name = "balance"
    static let initialState = State()
    static func apply(_ state: inout State, _ event: StoredEvent) throws {
        switch event.type {
        case Deposited.eventType: state.balance += try event.decode(Deposited.self).amount
        case Withdrawn.eventType: state.balance -= try event.decode(Withdrawn.self).amount
        default: break
        }
        state.events += 1
    }
}

@Suite("Typed events and projections") struct TypedEventTests {
    @Test(arguments: StoreKind.allCases)
    func payloadsAreStoredAsJSONUnderTheirTypeAndDecodeBack(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let account = try await store.stream("account-1")
            let deposit = Deposited(amount: 10, note: "ünïcödé")
            try await account.write([
                try CandidateEvent(deposit, metadata: ["by": "test"], idempotencyKey: "d-1"),
                try CandidateEvent(Withdrawn(amount: 3)),
            ])
            let stored = try await collect(account.read())
            #expect(stored.map(\.type) == ["Deposited", "Withdrawn"])
            #expect(try stored[0].decode(Deposited.self) == deposit)
            #expect(try stored[1].decode(Withdrawn.self) == Withdrawn(amount: 3))
            #expect(stored[0].id == "d-1")
            #expect(stored[0].metadata == ["by": "test"])
            #expect(try JSONValue.parse(String(decoding: stored[1].data, as: UTF8.self)) == ["amount": 3])

            await expectError({ try stored[1].decode(Deposited.self) }) { if case .invalidEvent = $0 { true } else { false } }
            try await account.write(CandidateEvent(type: Deposited.eventType, data: Data("{not json".utf8)))
            let bad = try await collect(account.read(from: 2))[0]
            await expectError({ try bad.decode(Deposited.self) }) { if case .invalidEvent = $0 { true } else { false } }
        }
    }

    @Test func aPayloadThatIsNotJSONIsAnInvalidEvent() async throws {
        await expectError({ try CandidateEvent(Measured(value: .infinity)) }) {
            if case .invalidEvent = $0 { true } else { false }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func projectingReplaysEverythingAndKeepsSnapshots(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let account = try await store.stream("account")
            #expect(try await account.project(Balance.self) == (Balance.State(), 0))
            for amount in 1...5 { try await account.write(try CandidateEvent(Deposited(amount: amount))) }
            try await account.write(try CandidateEvent(Withdrawn(amount: 4)))

            // 6 events replayed, more than 2: a snapshot at version 6.
            let first = try await account.project(Balance.self, snapshotEvery: 2)
            #expect(first.state == Balance.State(balance: 11, events: 6))
            #expect(first.version == 6)
            #expect(try await account.loadSnapshot(projection: Balance.name)?.version == 6)

            // One more event: replayed from the snapshot, so too few to save another.
            try await account.write(try CandidateEvent(Deposited(amount: 100)))
            let second = try await account.project(Balance.self, snapshotEvery: 2)
            #expect(second.state == Balance.State(balance: 111, events: 7))
            #expect(second.version == 7)
            #expect(try await account.loadSnapshot(projection: Balance.name)?.version == 6)

            // Without snapshots, the same state.
            let fresh = try await store.stream("account")
            #expect(try await fresh.project(Balance.self, snapshotEvery: nil) == second)
            await expectInvalidArgument { try await account.project(Balance.self, snapshotEvery: 0) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aSnapshotThatDoesNotDecodeOrClaimsTooMuchIsIgnoredAndReplaced(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let account = try await store.stream("account")
            for amount in [5, 7, 9] { try await account.write(try CandidateEvent(Deposited(amount: amount))) }
            let expected = Balance.State(balance: 21, events: 3)
            for (bytes, version) in [(Data("garbage".utf8), Int64(2)), (try JSONEncoder().encode(Balance.State(balance: 1, events: 1)), 99)] {
                try await account.snapshot(bytes, version: version, projection: Balance.name)
                let result = try await account.project(Balance.self, snapshotEvery: 1_000)
                #expect(result.state == expected)
                #expect(result.version == 3)
                let replaced = try #require(try await account.loadSnapshot(projection: Balance.name))
                #expect(replaced.version == 3)
                #expect(try JSONDecoder().decode(Balance.State.self, from: replaced.state) == expected)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func projectingAllCountsSequenceIDs(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.stream("a").write(try CandidateEvent(Deposited(amount: 1)))
            try await store.stream("b").write(try CandidateEvent(Deposited(amount: 2)))
            try await store.stream("a").write(try CandidateEvent(Withdrawn(amount: 1)))
            let all = try await store.stream("@all")
            let result = try await all.project(Balance.self, snapshotEvery: 1)
            #expect(result.state == Balance.State(balance: 2, events: 3))
            #expect(result.version == 3)
            #expect(try await all.loadSnapshot(projection: Balance.name)?.version == 3)
        }
    }

    @Test(arguments: StoreKind.persistent)
    func aReadOnlyStoreProjectsWithoutSavingSnapshots(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { store in
            for amount in 1...3 { try await store.stream("s").write(try CandidateEvent(Deposited(amount: amount))) }
            let readOnly = try #require(try await fixture.openReadOnly())
            try await closing(readOnly) { reader in
                let stream = try await reader.stream("s")
                let result = try await stream.project(Balance.self, snapshotEvery: 1)
                #expect(result.state == Balance.State(balance: 6, events: 3))
                #expect(try await stream.loadSnapshot(projection: Balance.name) == nil)
            }
        }
    }
}
