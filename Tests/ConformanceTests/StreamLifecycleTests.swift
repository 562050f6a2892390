import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@Suite("Deleting, truncating, retention and compaction") struct StreamLifecycleTests {
    /// The types of a read.
    static func types(_ events: EventStream.Events) async throws -> [String] { try await collect(events).map(\.type) }

    /// The types of a stream (or `"@all"`), read forward.
    static func types(_ store: any EventStore, _ stream: String) async throws -> [String] {
        try await types(try await store.stream(stream).read())
    }

    /// Expects `body` to throw `EventStoreError.invalidArgument`.
    static func expectInvalidArgument<T>(
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
    ) async {
        await expectError(sourceLocation: sourceLocation, body) { if case .invalidArgument = $0 { true } else { false } }
    }

    @Test(arguments: StoreKind.allCases)
    func deleteHidesEveryEventAndSnapshotAndLaterWritesContinueFromTheVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let orders = try await store.stream("orders")
            try await orders.write(events("A", "B", "C", keyPrefix: "k"))
            try await orders.snapshot(Data("state".utf8))
            try await store.stream("other").write(events("D"))
            try await orders.delete(expectedVersion: 3)

            #expect(try await Self.types(store, "orders") == [])
            #expect(try await Self.types(orders.read(direction: .backward)) == [])
            #expect(try await Self.types(store, "@all") == ["D"])
            #expect(try await Self.types(store.stream("@all").read(filter: EventFilter([.equals("event_type", "A")]))) == [])
            #expect(try await orders.loadSnapshot() == nil)
            let metrics = try await orders.metrics()
            #expect(metrics.currentVersion == 3 && metrics.eventCount == 0)
            #expect(try await store.stream("@all").metrics().eventCount == 1)
            #expect(try await store.streamIDs() == ["other"])

            // Writable again, from the version; the hidden events' keys are forgotten.
            #expect(try await orders.write(events("A", keyPrefix: "k")) == 4)
            let read = try await collect(orders.read())
            #expect(read.map(\.type) == ["A"] && read.map(\.version) == [4])
            #expect(try await Self.types(store, "@all") == ["D", "A"])
            #expect(try await store.streamIDs() == ["orders", "other"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aTombstonedStreamRefusesWritesAndIsNotListed(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let gone = try await store.stream("gone")
            try await gone.write(events("A", "B"))
            try await store.stream("kept").write(events("C"))
            try await gone.tombstone()
            try await gone.tombstone()  // a second one changes nothing

            #expect(try await Self.types(store, "gone") == [])
            #expect(try await Self.types(store, "@all") == ["C"])
            #expect(try await store.streamIDs() == ["kept"])
            await expectError(.streamDeleted("gone")) { try await gone.write(events("X")) }
            await expectError(.streamDeleted("gone")) { try await gone.delete() }
            await expectError(.streamDeleted("gone")) { try await gone.truncate(before: 1) }
            await expectError(.streamDeleted("gone")) { try await gone.setRetention(Retention(maxCount: 1)) }
            // A write to several streams that names it stores nothing.
            await expectError(.streamDeleted("gone")) {
                try await store.write([
                    StreamWrite("kept", events("Y")), StreamWrite("gone", events("Z")),
                ])
            }
            #expect(try await Self.types(store, "@all") == ["C"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deleteAndTombstoneCheckTheExpectedVersion(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A", "B"))
            await expectError(.concurrencyConflict(streamID: "s", expected: .exact(1), actual: 2)) {
                try await stream.delete(expectedVersion: 1)
            }
            await expectError(.concurrencyConflict(streamID: "s", expected: .noStream, actual: 2)) {
                try await stream.tombstone(expectedVersion: .noStream)
            }
            #expect(try await Self.types(store, "s") == ["A", "B"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func truncateHidesTheVersionsBelow(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A", "B", "C", "D", "E"))
            try await stream.truncate(before: 3)
            #expect(try await Self.types(store, "s") == ["C", "D", "E"])
            #expect(try await Self.types(stream.read(direction: .backward)) == ["E", "D", "C"])
            #expect(try await Self.types(stream.read(from: 1, limit: 2)) == ["C", "D"])
            #expect(try await Self.types(store, "@all") == ["C", "D", "E"])
            #expect(try await stream.metrics().eventCount == 3)
            // A lower bound hides nothing more, and shows nothing again.
            try await stream.truncate(before: 2)
            #expect(try await Self.types(store, "s") == ["C", "D", "E"])
            try await stream.truncate(before: 6)
            #expect(try await Self.types(store, "s") == [])
            #expect(try await store.streamIDs() == [])
            await Self.expectInvalidArgument {
                try await stream.truncate(before: 0)
            }
            await Self.expectInvalidArgument {
                try await stream.truncate(before: 7)
            }
            try await stream.write(events("F"))
            #expect(try await Self.types(store, "@all") == ["F"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func maxCountKeepsTheNewestEventsOfStoredAndLaterWrites(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A", "B", "C", "D", "E", keyPrefix: "k"))
            #expect(try await stream.retention() == nil)
            try await stream.setRetention(Retention(maxCount: 2))
            #expect(try await stream.retention() == Retention(maxCount: 2))
            #expect(try await Self.types(store, "s") == ["D", "E"])
            try await stream.write(events("F"))
            #expect(try await Self.types(store, "s") == ["E", "F"])
            #expect(try await Self.types(store, "@all") == ["E", "F"])
            #expect(try await stream.metrics().eventCount == 2)
            // The key of a hidden event is forgotten; a visible one still drops its retry.
            #expect(try await stream.write(CandidateEvent(type: "A2", idempotencyKey: "k-0")) == 7)
            #expect(try await stream.write(CandidateEvent(type: "A3", idempotencyKey: "k-0")) == 7)
        }
        guard kind.isPersistent else { return }
        try await closing(try await fixture.open()) { store in
            let stream = try await store.stream("s")
            #expect(try await stream.retention() == Retention(maxCount: 2))
            #expect(try await Self.types(store, "s") == ["F", "A2"])
            // Removing the retention keeps hidden what it hid.
            try await stream.setRetention(nil)
            #expect(try await stream.retention() == nil)
            try await stream.write(events("G", "H", "I"))
            #expect(try await Self.types(store, "s") == ["F", "A2", "G", "H", "I"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func maxAgeHidesEventsOlderThanIt(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            // Copied events keep their (old) timestamps.
            try await stream.importEvents(
                events("Old1", "Old2"), timestamp: Date(timeIntervalSinceNow: -7_200), expectedVersion: .any)
            try await stream.write(events("New"))
            try await stream.setRetention(Retention(maxAge: .seconds(3_600)))
            #expect(try await stream.retention() == Retention(maxAge: .seconds(3_600)))
            #expect(try await Self.types(store, "s") == ["New"])
            #expect(try await Self.types(store, "@all") == ["New"])
            #expect(try await stream.metrics().eventCount == 1)
        }
    }

    /// An age bound shows what it hid again when it is removed, but not what `compact()` removed
    /// meanwhile: counts agree with reads.
    @Test(arguments: StoreKind.allCases)
    func removingAnAgeBoundAfterACompactionCountsOnlyWhatIsLeft(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.importEvents(
                events("Old1", "Old2", "Old3"), timestamp: Date(timeIntervalSinceNow: -7_200), expectedVersion: .any)
            try await stream.write(events("New"))
            try await store.stream("other").write(events("X"))
            try await stream.setRetention(Retention(maxAge: .seconds(3_600)))
            _ = try await store.compact()
            try await stream.setRetention(nil)
            let shown = try await Self.types(store, "s")
            #expect(shown == ["New"], "compact() removed the old events for good")
            let metrics = try await stream.metrics()
            #expect(metrics.currentVersion == 4)
            #expect(metrics.eventCount == Int64(shown.count))
            let all = try await Self.types(store, "@all")
            #expect(try await store.stream("@all").metrics().eventCount == Int64(all.count))
            #expect(try await store.streamIDs() == ["other", "s"])
            try await stream.write(events("Newer"))
            #expect(try await Self.types(store, "s") == ["New", "Newer"])
            #expect(try await stream.metrics().eventCount == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func badLifecycleInputIsRefused(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let all = try await store.stream("@all")
            await Self.expectInvalidArgument { try await all.delete() }
            await Self.expectInvalidArgument { try await all.truncate(before: 1) }
            let stream = try await store.stream("s")
            await Self.expectInvalidArgument { try await stream.setRetention(Retention(maxCount: 0)) }
            await Self.expectInvalidArgument { try await stream.setRetention(Retention(maxAge: .zero)) }
            await Self.expectInvalidArgument { try await store.streamIDs(limit: 0) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func streamIDsAreInByteOrderWithPrefixAfterAndLimit(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for id in ["b/2", "é", "a", "B", "b/1"] { try await store.stream(id).write(events("X")) }
            #expect(try await store.streamIDs() == ["B", "a", "b/1", "b/2", "é"])
            #expect(try await store.streamIDs(prefix: "b/") == ["b/1", "b/2"])
            #expect(try await store.streamIDs(after: "b/1") == ["b/2", "é"])
            #expect(try await store.streamIDs(limit: 2) == ["B", "a"])
            #expect(try await store.streamIDs(prefix: "b", after: "b/1", limit: 1) == ["b/2"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func compactionRemovesHiddenEventsAndKeepsEveryVisibleOne(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for round in 0..<3 {
                for stream in ["a", "b", "c"] {
                    try await store.stream(stream).write(events("\(stream)\(round)x", "\(stream)\(round)y"))
                }
            }
            let before = try await Self.types(store, "@all")
            try await store.stream("a").tombstone()
            try await store.stream("b").truncate(before: 5)
            let visible = before.filter { !$0.hasPrefix("a") && !$0.hasPrefix("b0") && !$0.hasPrefix("b1") }
            #expect(try await Self.types(store, "@all") == visible)
            let report = try await store.compact()
            #expect(report.eventsRemoved == 10)
            #expect(try await Self.types(store, "@all") == visible)
            #expect(try await Self.types(store, "b") == ["b2x", "b2y"])
            let sequenceIDs = try await collect(store.stream("@all").read()).map(\.sequenceID)
            #expect(sequenceIDs == [5, 6, 11, 12, 15, 16, 17, 18], "sequence ids keep their values")
            #expect(try await store.compact().eventsRemoved == 0)
            // Writes go on, with new sequence ids, after compaction.
            try await store.stream("b").write(events("b3"))
            let last = try await collect(store.stream("@all").read(direction: .backward, limit: 1))
            #expect(last.map(\.sequenceID) == [19] && last.map(\.version) == [7])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func watchersAndSubscriptionsSkipHiddenEvents(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.stream("gone").write(events("A", "B"))
            try await store.stream("kept").write(events("C"))
            try await store.stream("gone").delete()
            let watcher = Task { () -> [String] in
                var seen: [String] = []
                for try await event in try await store.stream("@all").watch(from: 0) {
                    seen.append(event.type)
                    if seen.count == 2 { break }
                }
                return seen
            }
            let subscription = try await store.subscribe("projector")
            let taker = SubscriptionTests.take(2, of: subscription)
            try await store.stream("kept").write(events("D"))
            #expect(try await withHangGuard(cancelling: watcher) == ["C", "D"])
            #expect(try await withHangGuard(cancelling: taker).map(\.type) == ["C", "D"])
            try await subscription.close()
        }
    }

    @Test(arguments: StoreKind.persistent)
    func anotherOpenOfTheStoreSeesWhatIsHidden(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { store in
            try await store.stream("gone").write(events("A", "B"))
            try await store.stream("kept").write(events("C"))
            let reader = try #require(try await fixture.openReadOnly())
            try await closing(reader) { reader in
                #expect(try await Self.types(reader, "@all") == ["A", "B", "C"])
                try await store.stream("gone").tombstone()
                try await store.stream("kept").setRetention(Retention(maxCount: 1))
                try await store.stream("kept").write(events("D"))
                #expect(try await Self.types(reader, "@all") == ["D"])
                #expect(try await reader.streamIDs() == ["kept"])
                #expect(try await reader.stream("kept").retention() == Retention(maxCount: 1))
                await expectError(.readOnly) { try await reader.stream("kept").delete() }
            }
        }
    }

    /// Every file under `directory`, recursively, as bytes.
    static func files(under directory: String) -> [(path: String, bytes: [UInt8])] {
        let enumerator = FileManager.default.enumerator(atPath: directory)
        var result: [(String, [UInt8])] = []
        while let name = enumerator?.nextObject() as? String {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            result.append((path, [UInt8](data)))
        }
        return result
    }

    /// The files under `directory` that hold `marker`.
    static func paths(holding marker: [UInt8], under directory: String) -> [String] {
        files(under: directory).filter { file in
            file.bytes.withUnsafeBytes { raw in
                guard raw.count >= marker.count else { return false }
                return (0...(raw.count - marker.count)).contains { offset in
                    raw[offset] == marker[0] && marker.indices.allSatisfy { raw[offset + $0] == marker[$0] }
                }
            }
        }.map(\.path)
    }

    // Erasure is real: after a tombstone and a compaction no byte of the stream's event data is
    // left in any file of the store. The data is random (so compression keeps it as literals, and
    // the marker is found in compressed frames too), and the check first finds every marker on disk.
    @Test(arguments: StoreKind.persistent.filter { $0 != .postgres })
    func afterATombstoneAndACompactionNoByteOfTheStreamIsLeftOnDisk(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        var random = SystemRandomNumberGenerator()
        // No zero byte in a marker: one at its start or end would join the zero padding around it,
        // and the compressed frame would hold the marker split (it failed 1 run in 12 or so).
        let markers = (0..<40).map { _ in (0..<24).map { _ in UInt8.random(in: 1...255, using: &random) } }
        try await closing(try await fixture.open()) { store in
            let person = try await store.stream("person-42")
            for (index, marker) in markers.enumerated() {
                // Small events of random bytes (stored raw), and large ones padded with zeros, which
                // the log store compresses: the marker stays a literal run in the compressed frame
                // (a random padding repeated could match part of it and split it).
                let padding: [UInt8] =
                    index % 2 == 0
                    ? (0..<40).map { _ in UInt8.random(in: 0...255) } : [UInt8](repeating: 0, count: 3_000)
                try await person.write(CandidateEvent(type: "Personal", data: Data(padding + marker + padding)))
                try await store.stream("other").write(events("Kept\(index)"))
            }
            try await person.snapshot(Data(markers[0]))
        }
        for (index, marker) in markers.enumerated() {
            #expect(
                !Self.paths(holding: marker, under: fixture.directory).isEmpty,
                "marker \(index) is on disk before: \(marker)")
        }
        try await closing(try await fixture.open()) { store in
            try await store.stream("person-42").tombstone()
            let report = try await store.compact()
            #expect(report.eventsRemoved == Int64(markers.count))
            #expect(report.bytesReclaimed > 0)
            #expect(try await Self.types(store, "@all") == (0..<markers.count).map { "Kept\($0)" })
        }
        for (index, marker) in markers.enumerated() {
            let holding = Self.paths(holding: marker, under: fixture.directory)
            #expect(holding.isEmpty, "marker \(index) is still in \(holding)")
        }
        // And the store still opens, with every visible event.
        let reopened = try await closing(try await fixture.open()) { try await Self.types($0, "@all") }
        #expect(reopened.count == markers.count)
    }
}
