import EventSourcing
import EventSourcingTestSupport
import Foundation
import Synchronization
import Testing

/// `store.write([StreamWrite])`: every stream's rules, all or nothing, consecutive ids, and
/// readers that never see part of a write (BEHAVIOUR.md "Writing to several streams").
@Suite("Writing to several streams") struct MultiStreamWriteTests {
    @Test(arguments: StoreKind.allCases)
    func eventsTakeConsecutiveIDsInTheOrderGiven(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { store in
            try await store.stream("c").write(CandidateEvent(type: "Before"))
            let versions = try await store.write([
                StreamWrite("a", events("A1", "A2")),
                StreamWrite("b", events("B1"), expectedVersion: .noStream),
                StreamWrite("c", events("C2"), expectedVersion: 1),
            ])
            #expect(versions == [2, 1, 2])
            let all = try await collect(try await store.stream("@all").read())
            #expect(all.map(\.type) == ["Before", "A1", "A2", "B1", "C2"])
            #expect(all.map(\.sequenceID) == [1, 2, 3, 4, 5])
            #expect(all.map(\.version) == [1, 1, 2, 1, 2])
            #expect(try await collect(try await store.stream("b").read()).map(\.type) == ["B1"])
            #expect(try await store.write([]) == [])
        }
        if kind.isPersistent {
            try await closing(try await fixture.open()) { store in
                let all = try await collect(try await store.stream("@all").read())
                #expect(all.map(\.type) == ["Before", "A1", "A2", "B1", "C2"])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aConflictOnAnyStreamStoresNothing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.stream("a").write(events("A0"))
            for writes in [
                [StreamWrite("a", events("A1"), expectedVersion: 0), StreamWrite("b", events("B1"))],
                [StreamWrite("b", events("B1")), StreamWrite("a", events("A1"), expectedVersion: .noStream)],
                [StreamWrite("b", events("B1")), StreamWrite("c", events("C1"), expectedVersion: .streamExists)],
            ] {
                do {
                    try await store.write(writes)
                    Issue.record("a write with a stale expected version succeeded")
                } catch EventStoreError.concurrencyConflict(let streamID, _, let actual) {
                    #expect(streamID == (writes.contains { $0.streamID == "c" } ? "c" : "a"))
                    #expect(actual == (streamID == "a" ? 1 : 0))
                }
            }
            #expect(try await collect(try await store.stream("@all").read()).map(\.type) == ["A0"])
            // The streams take writes afterwards as if nothing had happened.
            let after = try await store.write([
                StreamWrite("a", events("A1"), expectedVersion: 1), StreamWrite("b", events("B1")),
            ])
            #expect(after == [2, 1])
            #expect(try await collect(try await store.stream("@all").read()).map(\.sequenceID) == [1, 2, 3])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func badInputStoresNothingAndSaysWhichWrite(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            await #expect(throws: EventStoreError.writeToAllStream) {
                try await store.write([StreamWrite("a", events("A")), StreamWrite("@all", events("X"))])
            }
            do {
                try await store.write([StreamWrite("a", events("A")), StreamWrite("a", events("B"))])
                Issue.record("a stream listed twice was accepted")
            } catch EventStoreError.invalidArgument(let message) {
                #expect(message.contains("'a'") && message.contains("twice"), "\(message)")
            }
            do {
                try await store.write([StreamWrite("a", events("A")), StreamWrite("b", [CandidateEvent(type: "")])])
                Issue.record("an event without a type was accepted")
            } catch EventStoreError.invalidEvent(let message) {
                #expect(message.contains("write 1") && message.contains("'b'"), "\(message)")
            }
            await #expect(throws: EventStoreError.self) {
                try await store.write([StreamWrite("a", events("A")), StreamWrite("", events("B"))])
            }
            await #expect(throws: EventStoreError.self) {
                try await store.write([StreamWrite("a", events("A"), expectedVersion: .exact(-1))])
            }
            #expect(try await collect(try await store.stream("@all").read()).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysDropWhatEachStreamHolds(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let transfer = [
                StreamWrite("from", [CandidateEvent(type: "Debited", idempotencyKey: "t1")], expectedVersion: .noStream),
                StreamWrite("to", [CandidateEvent(type: "Credited", idempotencyKey: "t1")], expectedVersion: .noStream),
            ]
            let first = try await store.write(transfer)
            #expect(first == [1, 1])
            // The retry of the same call stores nothing, and its stale expected versions do not matter.
            let retried = try await store.write(transfer)
            #expect(retried == [1, 1])
            // One stream holds the key, the other does not: only the other stores its event.
            let partly = try await store.write([
                StreamWrite("from", [CandidateEvent(type: "Debited", idempotencyKey: "t1")]),
                StreamWrite("other", [CandidateEvent(type: "Credited", idempotencyKey: "t1")]),
            ])
            #expect(partly == [1, 1])
            #expect(try await collect(try await store.stream("@all").read()).map(\.streamID) == ["from", "to", "other"])
            // A key repeated inside one stream's events keeps the first.
            let repeated = [CandidateEvent(type: "X", idempotencyKey: "k"), CandidateEvent(type: "Y", idempotencyKey: "k")]
            let single = try await store.write([StreamWrite("r", repeated)])
            #expect(single == [1])
        }
    }

    @Test(arguments: StoreKind.persistent)
    func aReadOnlyStoreRefusesIt(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { store in
            try await store.stream("a").write(events("A"))
            guard let reader = try await fixture.openReadOnly() else { return }
            _ = try await closing(reader) { reader in
                await #expect(throws: EventStoreError.readOnly) {
                    try await reader.write([StreamWrite("a", events("B")), StreamWrite("b", events("C"))])
                }
            }
        }
    }

    /// Transfers between accounts: every write debits one account and credits another with
    /// expected versions, retried on conflicts. Readers in this store and in a read-only one read
    /// `@all` meanwhile: every read sees whole transfers only, so the total never changes.
    @Test(arguments: StoreKind.allCases)
    func concurrentTransfersNeverChangeTheTotal(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        let accounts = 10
        let transfersPerTask = 40
        try await closing(try await fixture.open()) { store in
            for account in 0..<accounts {
                try await store.stream("account-\(account)").write(Self.amount("Opened", 100))
            }
            let reader = try await fixture.openReadOnly()
            let done = Flag()
            let readers = [store] + (reader.map { [$0] } ?? [])
            let checks = readers.map { readerStore in
                Task {
                    var reads = 0
                    while true {
                        let finished = done.value.withLock { $0 }
                        let all = try await collect(try await readerStore.stream("@all").read())
                        let total = all.reduce(0) { $0 + Self.value(of: $1) }
                        guard total == accounts * 100 else {
                            throw EventStoreError.io("a read of \(all.count) events totals \(total)")
                        }
                        reads += 1
                        if finished { return reads }
                        // A read of the in-memory store never suspends: leave the threads to the writers.
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        var random = SeededRandom(seed: UInt64(task + 1))
                        for _ in 0..<transfersPerTask {
                            try await Self.transfer(in: store, accounts: accounts, random: &random)
                        }
                    }
                }
                try await group.waitForAll()
            }
            done.value.withLock { $0 = true }
            for check in checks { #expect(try await withHangGuard(seconds: 300, cancelling: check) > 0) }
            let all = try await collect(try await store.stream("@all").read())
            #expect(all.count == accounts + 8 * transfersPerTask * 2)
            #expect(all.reduce(0) { $0 + Self.value(of: $1) } == accounts * 100)
            #expect(all.map(\.sequenceID) == Array(1...Int64(all.count)))
            try await reader?.close()
        }
    }

    /// Moves an amount between two random accounts, reading their versions and retrying on a conflict.
    private static func transfer(in store: any EventStore, accounts: Int, random: inout SeededRandom) async throws {
        let from = Int(random.next() % UInt64(accounts))
        let to = (from + 1 + Int(random.next() % UInt64(accounts - 1))) % accounts
        let sum = Int(random.next() % 20) + 1
        while true {
            let fromVersion = try await store.stream("account-\(from)").version
            let toVersion = try await store.stream("account-\(to)").version
            do {
                try await store.write([
                    StreamWrite("account-\(from)", [amount("Debited", -sum)], expectedVersion: .exact(fromVersion)),
                    StreamWrite("account-\(to)", [amount("Credited", sum)], expectedVersion: .exact(toVersion)),
                ])
                return
            } catch EventStoreError.concurrencyConflict {
                continue
            }
        }
    }

    private static func amount(_ type: String, _ value: Int) -> CandidateEvent {
        CandidateEvent(type: type, data: Data(String(value).utf8))
    }

    private static func value(of event: StoredEvent) -> Int {
        Int(String(decoding: event.data, as: UTF8.self)) ?? 0
    }
}

/// A flag that tasks share.
final class Flag: Sendable {
    let value = Mutex(false)
}
