import EventSourcing
import Foundation
import Testing

@Suite("Persistence") struct PersistenceTests {
    @Test(arguments: StoreKind.persistent)
    func everythingSurvivesReopen(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        var store = try await fixture.open()
        try await store.stream("a").write([
            CandidateEvent(type: "A1", data: Data([0, 1, 2]), metadata: ["k": [1, 2.5, "x"]], idempotencyKey: "a1"),
            CandidateEvent(type: "A2"),
        ])
        try await store.stream("b").write(events("B1"))
        try await store.stream("a").snapshot(Data("state".utf8), projection: "p")
        try await store.stream("@all").snapshot(Data("g".utf8), version: 3)
        let before = try await collect(store.stream("@all").read())
        try await store.close()

        store = try await fixture.open()
        let after = try await collect(store.stream("@all").read())
        #expect(after == before)
        let a = try await store.stream("a")
        #expect(await a.version == 2)
        #expect(try await a.loadSnapshot(projection: "p")?.state == Data("state".utf8))
        #expect(try await store.stream("@all").loadSnapshot()?.version == 3)
        // Keys and sequence numbers carry on after the reopen.
        #expect(try await a.write(CandidateEvent(type: "A1", idempotencyKey: "a1")) == 2)
        #expect(try await a.write(events("A3"), expectedVersion: 2) == 3)
        #expect(try await collect(a.read(from: 2)).first?.sequenceID == 4)
        try await store.close()
    }
}
