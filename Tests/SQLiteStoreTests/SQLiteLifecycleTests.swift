import EventSourcing
import Foundation
import Testing

@Suite("SQLite stream lifecycle: table, sequence ids, versions and Python after compaction")
struct SQLiteLifecycleTests {
    /// Runs `body` with the path of a database in a new temporary directory, removed afterwards.
    static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sqlite-lifecycle-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory + "/events.db")
    }

    /// Whether the database's files (with its WAL) mention the lifecycle table: its CREATE
    /// statement is stored as text in `sqlite_master`.
    static func mentionsLifecycleTable(_ path: String) -> Bool {
        let name = Data("stream_lifecycle".utf8)
        return ["", "-wal"].contains { suffix in
            FileManager.default.contents(atPath: path + suffix)?.range(of: name) != nil
        }
    }

    @Test func aStoreWithoutLifecycleChangesKeepsPythonsLayout() async throws {
        try await Self.withDatabase { path in
            try await SQLiteEventStore.withStore(path: path) { store in
                try await store.stream("s").write(CandidateEvent(type: "A"))
                #expect(try await store.stream("s").retention() == nil)
                #expect(try await store.streamIDs() == ["s"])
                #expect(try await store.compact() == CompactionReport(eventsRemoved: 0, bytesReclaimed: 0))
                #expect(try await collect(store.stream("@all").read()).map(\.type) == ["A"])
            }
            #expect(!Self.mentionsLifecycleTable(path))
            try await SQLiteEventStore.withStore(path: path) { store in
                try await store.stream("s").setRetention(Retention(maxCount: 5))
            }
            #expect(Self.mentionsLifecycleTable(path), "the check finds the table once it exists")
        }
    }

    @Test func sequenceIDsAndVersionsOutliveTheCompactionOfTheNewestEvents() async throws {
        try await Self.withDatabase { path in
            try await SQLiteEventStore.withStore(path: path) { store in
                try await store.stream("a").write(CandidateEvent(type: "A1"))
                try await store.stream("b").write([CandidateEvent(type: "B1"), CandidateEvent(type: "B2")])
                try await store.stream("b").delete()
                #expect(try await store.compact().eventsRemoved == 2)
                // The newest rows are gone, not their ids or the stream's version.
                let all = try await store.stream("@all").metrics()
                #expect(all.currentVersion == 3 && all.eventCount == 1)
                let b = try await store.stream("b").metrics()
                #expect(b.currentVersion == 2 && b.eventCount == 0 && b.lastTimestamp == nil)
                #expect(try await store.stream("a").write(CandidateEvent(type: "A2")) == 2)
                let newest = try await collect(store.stream("@all").read(direction: .backward, limit: 1))
                #expect(newest.map(\.sequenceID) == [4])
            }
            try await SQLiteEventStore.withStore(path: path) { store in
                #expect(try await store.stream("b").metrics().currentVersion == 2)
                #expect(try await store.stream("b").write(CandidateEvent(type: "B3")) == 3)
                let events = try await collect(store.stream("@all").read())
                #expect(events.map(\.sequenceID) == [1, 4, 5])
                #expect(events.map(\.type) == ["A1", "A2", "B3"])
                #expect(try await store.stream("@all").metrics().eventCount == 3)
            }
        }
    }

    @Test func countsStayRightBeforeAndAfterCompaction() async throws {
        try await Self.withDatabase { path in
            try await SQLiteEventStore.withStore(path: path) { store in
                let stream = try await store.stream("t")
                try await stream.write((1...5).map { CandidateEvent(type: "E\($0)") })
                try await store.stream("u").write(CandidateEvent(type: "U"))
                func counts() async throws -> [Int64] {
                    let own = try await stream.metrics()
                    let all = try await store.stream("@all").metrics()
                    return [own.currentVersion, own.eventCount, all.currentVersion, all.eventCount]
                }
                try await stream.truncate(before: 3)
                #expect(try await counts() == [5, 3, 6, 4])
                #expect(try await store.compact().eventsRemoved == 2)
                #expect(try await counts() == [5, 3, 6, 4])
                try await stream.write(CandidateEvent(type: "E6"))
                try await stream.setRetention(Retention(maxCount: 2))
                #expect(try await counts() == [6, 2, 7, 3])
                #expect(try await store.compact().eventsRemoved == 2)
                #expect(try await counts() == [6, 2, 7, 3])
                #expect(try await collect(stream.read()).map(\.type) == ["E5", "E6"])
                #expect(try await stream.metrics().lastTimestamp != nil)
            }
        }
    }

    @Test func aStreamWhoseEventsAgedAwayStaysListedAfterCompaction() async throws {
        try await Self.withDatabase { path in
            try await SQLiteEventStore.withStore(path: path) { store in
                let stream = try await store.stream("r")
                try await stream.importEvents(
                    [CandidateEvent(type: "Old1", idempotencyKey: "k"), CandidateEvent(type: "Old2")],
                    timestamp: Date(timeIntervalSinceNow: -7_200), expectedVersion: .any)
                try await stream.setRetention(Retention(maxAge: .seconds(3_600)))
                // The key of an event hidden by age is free for a new one.
                #expect(try await stream.write(CandidateEvent(type: "New", idempotencyKey: "k")) == 3)
                #expect(try await store.compact().eventsRemoved == 2)
                #expect(try await store.streamIDs() == ["r"])
                let metrics = try await stream.metrics()
                #expect(metrics.currentVersion == 3 && metrics.eventCount == 1)
                #expect(try await collect(stream.read()).map(\.type) == ["New"])
                #expect(try await stream.write(CandidateEvent(type: "Retry", idempotencyKey: "k")) == 3)
            }
        }
    }

    @Test(
        "Python reads and appends to a database after a tombstone and a compaction",
        .enabled(if: PythonInterop.isAvailable, PythonInterop.unavailableMessage))
    func pythonReadsAfterCompaction() async throws {
        try await PythonInterop.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("compacted.db").path
            let kept: [StoredEvent] = try await SQLiteEventStore.withStore(path: path) { store in
                try await store.stream("kept").write([CandidateEvent(type: "A"), CandidateEvent(type: "B")])
                try await store.stream("gone").write([CandidateEvent(type: "C"), CandidateEvent(type: "D")])
                try await store.stream("gone").tombstone()
                #expect(try await store.compact().eventsRemoved == 2)
                return try await collect(store.stream("kept").read())
            }
            let script = PythonInterop.prelude + #"""
                async def main(db):
                    async with sqlite_stream_factory(db, polling_interval=0.05) as open_stream:
                        out = await dump(open_stream, ["kept", "gone"], [])
                        async with open_stream("kept") as stream:
                            out["append_version"] = await stream.write([CandidateEvent(type="PyE", data=b"py")])
                    con = sqlite3.connect(db)
                    out["integrity"] = con.execute("PRAGMA integrity_check").fetchone()[0]
                    con.close()
                    emit(out)

                asyncio.run(asyncio.wait_for(main(sys.argv[1]), 150))
                """#
            let dump = try await PythonInterop.run(script: script, arguments: [path], in: directory).lastLineJSON()
            let pythonKept = dump["streams"]["kept"]["events"].array
            try #require(pythonKept.count == kept.count)
            for (event, python) in zip(kept, pythonKept) { PythonInterop.expectSame(event, python) }
            #expect(dump["streams"]["gone"]["events"].array.isEmpty)
            #expect(dump["streams"]["@all"]["events"].array.count == 2)
            #expect(dump["append_version"].int == 3)
            #expect(dump["integrity"].string == "ok")
            try await SQLiteEventStore.withStore(path: path) { store in
                let events = try await collect(store.stream("@all").read())
                #expect(events.map(\.type) == ["A", "B", "PyE"])
                #expect(events.map(\.sequenceID) == [1, 2, 5], "Python's append takes an id above the removed ones")
                await #expect(throws: EventStoreError.streamDeleted("gone")) {
                    try await store.stream("gone").write(CandidateEvent(type: "X"))
                }
            }
        }
    }
}

/// Every event of a read.
private func collect(_ events: EventStream.Events) async throws -> [StoredEvent] {
    var result: [StoredEvent] = []
    for try await event in events { result.append(event) }
    return result
}
