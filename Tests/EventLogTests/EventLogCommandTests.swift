import EventSourcing
import Foundation
import Testing

@Suite("eventlog commands") struct EventLogCommandTests {
    @Test(arguments: ["store", "store.db"])
    func appendThenReadRoundTripsTextAndBinaryData(store: String) async throws {
        let work = try WorkDirectory()
        let binary = Data([0xFF, 0x00, 0xC3, 0x28, 0x80])
        try binary.write(to: URL(fileURLWithPath: work.path + "/payload.bin"))
        let first = try await eventlog(
            [
                "append", store, "order-1", "--type", "Placed", "--data", "{\"total\":30} ✓", "--metadata",
                "{\"region\":\"EMEA\",\"n\":2}", "--key", "k-1",
            ],
            in: work.path)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.lines == [#"{"version":1,"count":1}"#])
        #expect(
            try await eventlog(
                ["append", store, "order-1", "--type", "Blob", "--data-file", "payload.bin"], in: work.path
            )
            .status == 0)
        let read = try await eventlog(["read", store, "order-1", "--json"], in: work.path)
        #expect(read.status == 0, "\(read.stderr)")
        let events = try jsonObjects(read.lines)
        #expect(events.count == 2)
        #expect(events[0]["data"] as? String == "{\"total\":30} ✓")
        #expect(events[0]["id"] as? String == "k-1")
        #expect(events[0]["type"] as? String == "Placed")
        #expect((events[0]["metadata"] as? [String: Any])?["region"] as? String == "EMEA")
        #expect(events[0]["sequence_id"] as? Int == 1 && events[0]["version"] as? Int == 1)
        #expect(events[1]["data"] == nil)
        #expect(events[1]["data_base64"] as? String == binary.base64EncodedString())
        #expect(events[1]["metadata"] is NSNull)
        let timestamp = try #require(events[0]["timestamp"] as? String)
        #expect(timestamp.count == 27 && timestamp.hasSuffix("Z"), "\(timestamp)")
        // The exact field order of the spec.
        #expect(
            read.lines[0].hasPrefix(
                #"{"sequence_id":1,"stream_id":"order-1","version":1,"id":"k-1","type":"Placed","timestamp":""#))
        let table = try await eventlog(["read", store, "order-1"], in: work.path)
        #expect(table.lines.count == 3)
        #expect(table.lines[1].contains("Placed") && table.lines[2].contains("base64:"))
    }

    @Test func stdinAcknowledgesEachWriteAsItReturns() async throws {
        let work = try WorkDirectory()
        let writer = EventlogProcess(["append", "store", "s", "--stdin", "--batch", "2"], in: work.path)
        try writer.start()
        try await writer.send(
            #"{"type":"A","data":"one"}"# + "\n" + #"{"type":"B","key":"b-1","metadata":{"x":1}}"# + "\n")
        // The acknowledgement arrives while stdin is still open.
        #expect(await writer.waitForLines(1) == [#"{"version":2,"count":2}"#])
        try await writer.send(#"{"type":"C","data_base64":"/wA="}"# + "\n" + "\n" + #"{"type":"B","key":"b-1"}"# + "\n")
        #expect(await writer.waitForLines(2).last == #"{"version":3,"count":2}"#)
        try await writer.send(#"{"type":"D"}"# + "\n")
        writer.closeInput()
        let result = await writer.wait()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines.last == #"{"version":4,"count":1}"#)
        let types = try jsonObjects(try await eventlog(["read", "store", "s", "--json"], in: work.path).lines).map {
            $0["type"] as? String
        }
        #expect(types == ["A", "B", "C", "D"])
    }

    @Test func filtersSelectEvents() async throws {
        let work = try WorkDirectory()
        let lines = [
            #"{"type":"Placed","metadata":{"region":"EMEA","amount":100}}"#,
            #"{"type":"Paid","metadata":{"region":"APAC"}}"#,
            #"{"type":"Placed","metadata":{"region":"APAC","amount":5}}"#,
        ]
        #expect(
            try await eventlog(
                ["append", "store", "order-1", "--stdin"], input: Data((lines.joined(separator: "\n") + "\n").utf8),
                in: work.path
            ).status == 0)
        #expect(
            try await eventlog(
                ["append", "store", "user-1", "--type", "Registered", "--metadata", #"{"region":"EMEA"}"#],
                in: work.path
            ).status == 0)
        func sequenceIDs(_ filters: [String], stream: String = "@all") async throws -> [Int] {
            let result = try await eventlog(
                ["read", "store", stream, "--json"] + filters.flatMap { ["--filter", $0] }, in: work.path)
            #expect(result.status == 0, "\(result.stderr)")
            return try jsonObjects(result.lines).map { $0["sequence_id"] as! Int }
        }
        #expect(try await sequenceIDs(["metadata.region=EMEA"]) == [1, 4])
        #expect(try await sequenceIDs(["stream_id~order-%", "metadata.region=APAC"]) == [2, 3])
        #expect(try await sequenceIDs(["event_type:in:Paid,Registered"]) == [2, 4])
        #expect(try await sequenceIDs(["metadata.amount=100"]) == [1])
        #expect(try await sequenceIDs(["version=2"]) == [2])
        #expect(try await sequenceIDs(["event_type=placed"]).isEmpty)
        #expect(try await sequenceIDs(["event_type~placed"]) == [1, 3])
        let limited = try await eventlog(
            ["read", "store", "order-1", "--json", "--backward", "--limit", "2", "--from", "3"], in: work.path)
        #expect(try jsonObjects(limited.lines).map { $0["version"] as! Int } == [2, 1])
    }

    @Test func watchFollowsASecondProcess() async throws {
        let work = try WorkDirectory()
        #expect(try await eventlog(["append", "store", "s", "--type", "History"], in: work.path).status == 0)
        let watcher = EventlogProcess(
            ["watch", "store", "@all", "--from", "0", "--json", "--count", "4"], in: work.path)
        try watcher.start()
        #expect(await watcher.waitForLines(1).count == 1)
        for index in 1...3 {
            #expect(
                try await eventlog(["append", "store", "s\(index)", "--type", "Live\(index)"], in: work.path).status
                    == 0)
        }
        let result = await watcher.wait()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try jsonObjects(result.lines).map { $0["type"] as! String } == ["History", "Live1", "Live2", "Live3"])
    }

    @Test func copyKeepsEverythingBetweenLogAndSQLite() async throws {
        let work = try WorkDirectory()
        try await LogEventStore.withStore(directory: work.path + "/source") { store in
            try await store.stream("a").write([
                CandidateEvent(
                    type: "A1", data: Data([0, 0xFF]), metadata: ["k": [1, 2.5]], idempotencyKey: "key-a1"),
                CandidateEvent(type: "A2"),
            ])
            try await store.stream("b").write(CandidateEvent(type: "B1", metadata: [:]))
            try await store.stream("a").write(CandidateEvent(type: "A3", data: Data("text".utf8)))
            try await store.stream("a").snapshot(Data("state".utf8), projection: "p")
            try await store.stream("@all").snapshot(Data([1, 2, 3]), version: 3)
        }
        #expect(try await eventlog(["copy", "source", "copy.db"], in: work.path).status == 0)
        let back = try await eventlog(["copy", "copy.db", "back"], in: work.path)
        #expect(back.status == 0, "\(back.stderr)")
        #expect(back.lines == ["copied 4 events and 2 snapshots"])
        let original = try await eventlog(["read", "source", "@all", "--json"], in: work.path)
        for copy in ["copy.db", "back"] {
            let copied = try await eventlog(["read", copy, "@all", "--json"], in: work.path)
            #expect(copied.stdout == original.stdout, "\(copy)")
        }
        let (sourceEvents, sourceSnapshots) = try await Self.contents(
            of: LogEventStore.open(directory: work.path + "/source"))
        let (copiedEvents, copiedSnapshots) = try await Self.contents(
            of: LogEventStore.open(directory: work.path + "/back"))
        #expect(copiedEvents == sourceEvents)
        #expect(copiedSnapshots == sourceSnapshots)
        // Keys came along: a retry into the copy stores nothing.
        let retried = try await LogEventStore.withStore(directory: work.path + "/back") { store in
            try await store.stream("a").write(CandidateEvent(type: "A1", idempotencyKey: "key-a1"))
        }
        #expect(retried == 3)
        expectFailure(
            try await eventlog(["copy", "source", "back"], in: work.path), status: 1, mentioning: "already holds events"
        )
    }

    static func contents(of store: LogEventStore) async throws -> ([StoredEvent], [Snapshot?]) {
        var events: [StoredEvent] = []
        for try await event in try await store.stream("@all").read() { events.append(event) }
        let snapshots = [
            try await store.stream("a").loadSnapshot(projection: "p"), try await store.stream("@all").loadSnapshot(),
        ]
        try await store.close()
        return (events, snapshots)
    }

    @Test func verifyPassesASoundStoreAndNamesDamage() async throws {
        let work = try WorkDirectory()
        try await LogEventStore.withStore(directory: work.path + "/store", options: .init(segmentBytesMax: 4096)) {
            store in
            for index in 0..<200 {
                try await store.stream("s\(index % 3)").write(CandidateEvent(type: "E", data: Data(count: index % 50)))
            }
        }
        let sound = try await eventlog(["verify", "store"], in: work.path)
        #expect(sound.status == 0, "\(sound.stdout) \(sound.stderr)")
        let segment = work.path + "/store/segment-0000000001.log"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        try handle.seek(toOffset: 500)
        let byte = try handle.read(upToCount: 1)!
        try handle.seek(toOffset: 500)
        try handle.write(contentsOf: Data([byte[0] ^ 0x40]))
        try handle.close()
        let damaged = try await eventlog(["verify", "store"], in: work.path)
        #expect(damaged.status == 1)
        #expect(damaged.lines.count >= 1)
        #expect(
            damaged.lines.allSatisfy { $0.contains("segment-0000000001.log") && $0.contains("offset") },
            "\(damaged.stdout)\(damaged.stderr)")
        // SQLite stores are verified too.
        #expect(try await eventlog(["append", "x.db", "s", "--type", "T"], in: work.path).status == 0)
        #expect(try await eventlog(["verify", "x.db"], in: work.path).status == 0)
    }

    @Test func statsCountTheStore() async throws {
        let work = try WorkDirectory()
        for stream in ["a", "b", "a"] { try await eventlog(["append", "store", stream, "--type", "T"], in: work.path) }
        let stats = try await eventlog(["stats", "store", "--json"], in: work.path)
        let object = try #require(try jsonObjects(stats.lines).first)
        #expect(object["streams"] as? Int == 2)
        #expect(object["events"] as? Int == 3)
        #expect(object["segments"] as? Int == 1)
        #expect((object["bytes_on_disk"] as? Int ?? 0) > 0)
        #expect(object["snapshots"] as? Int == 0)
        #expect(try await eventlog(["stats", "store"], in: work.path).stdout.contains("streams"))
    }

    @Test func errorsAreOneSentenceWithTheRightStatus() async throws {
        let work = try WorkDirectory()
        expectFailure(
            try await eventlog(["read", "missing", "s"], in: work.path), status: 1, mentioning: "no store at")
        expectFailure(try await eventlog(["stats", "missing.db"], in: work.path), status: 1, mentioning: "no store at")
        #expect(try await eventlog(["append", "store", "s", "--type", "T"], in: work.path).status == 0)
        expectFailure(
            try await eventlog(
                ["append", "store", "s", "--stdin"], input: Data("{\"type\":\"A\"}\nnot json\n".utf8), in: work.path),
            status: 1, mentioning: "line 2")
        expectFailure(
            try await eventlog(["read", "store", "s", "--filter", "payload=1"], in: work.path), status: 1,
            mentioning: "payload")
        expectFailure(
            try await eventlog(["append", "store", "s", "--type", "T", "--expected-version", "0"], in: work.path),
            status: 1,
            mentioning: "Concurrency conflict on stream 's'")
        expectFailure(
            try await eventlog(["append", "store", "@all", "--type", "T"], in: work.path), status: 1, mentioning: "@all"
        )
        expectFailure(
            try await eventlog(["append", "store", "s", "--type", ""], in: work.path), status: 1,
            mentioning: "empty type")
        expectFailure(
            try await eventlog(["append", "store", "s", "--type", "T", "--read-only"], in: work.path), status: 1,
            mentioning: "read-only")
        expectFailure(
            try await eventlog(["read", "store", "s", "--filter", "no-operator"], in: work.path), status: 2,
            mentioning: "--filter")
        expectFailure(try await eventlog(["append", "store", "s"], in: work.path), status: 2, mentioning: "--type")
        expectFailure(try await eventlog(["read", "store"], in: work.path), status: 2, mentioning: "Missing")
        expectFailure(try await eventlog(["frobnicate"], in: work.path), status: 2, mentioning: "frobnicate")
        // A store held by another writer.
        let holder = try await LogEventStore.open(directory: work.path + "/store")
        expectFailure(
            try await eventlog(["append", "store", "s", "--type", "T"], in: work.path), status: 1, mentioning: "locked")
        // Reading beside the writer works: the first event, and the stdin line acknowledged before the bad one.
        let beside = try await eventlog(["read", "store", "s", "--json"], in: work.path)
        #expect(beside.lines.count == 2, "\(beside.stdout)\(beside.stderr)")
        try await holder.close()
    }

    /// Opens the store of `path` (a directory or a `.db` file) through the API.
    static func openStore(_ path: String, readOnly: Bool = false) async throws -> any EventStore {
        path.hasSuffix(".db")
            ? try await SQLiteEventStore.open(path: path, options: .init(readOnly: readOnly))
            : try await LogEventStore.open(directory: path, options: .init(readOnly: readOnly))
    }

    @Test(arguments: ["store", "store.db"])
    func subscriptionsListPositionsAndLag(store: String) async throws {
        let work = try WorkDirectory()
        let path = work.path + "/" + store
        expectFailure(
            try await eventlog(["subscriptions", store], in: work.path), status: 1, mentioning: "no store at")
        for stream in ["a", "b", "a", "a", "b"] {
            #expect(try await eventlog(["append", store, stream, "--type", "T"], in: work.path).status == 0)
        }
        let empty = try await eventlog(["subscriptions", store], in: work.path)
        #expect(empty.status == 0, "\(empty.stderr)")
        #expect(empty.lines.count == 1 && empty.lines[0].hasPrefix("NAME"), "\(empty.stdout)")
        let emptyJSON = try await eventlog(["subscriptions", store, "--json"], in: work.path)
        #expect(emptyJSON.status == 0 && emptyJSON.lines.isEmpty, "\(emptyJSON.stdout)\(emptyJSON.stderr)")

        let api = try await Self.openStore(path)
        let billing = try await api.subscribe("billing")
        var delivered = 0
        for try await event in billing.events() {
            delivered += 1
            if delivered == 2 {
                try await billing.acknowledge(event)
                break
            }
        }
        try await billing.close()
        try await api.subscribe("a-projector", options: .init(stream: "a", start: .end)).close()
        try await api.stream("a").write(CandidateEvent(type: "Later"))
        try await api.close()

        let listed = try await eventlog(["subscriptions", store, "--json"], in: work.path)
        #expect(listed.status == 0, "\(listed.stderr)")
        // In name order, with the exact field order of the spec.
        #expect(
            listed.lines == [
                #"{"name":"a-projector","stream":"a","position":3,"lag":1}"#,
                #"{"name":"billing","stream":"@all","position":2,"lag":4}"#,
            ])
        let table = try await eventlog(["subscriptions", store], in: work.path)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.lines.count == 3, "\(table.stdout)")
        #expect(table.lines[0].split(separator: " ") == ["NAME", "STREAM", "POSITION", "LAG"], "\(table.stdout)")
        #expect(table.lines[1].split(separator: " ") == ["a-projector", "a", "3", "1"], "\(table.stdout)")
        #expect(table.lines[2].split(separator: " ") == ["billing", "@all", "2", "4"], "\(table.stdout)")
        // Listing only reads: it works beside a consumer holding a subscription.
        let reader = try await Self.openStore(path, readOnly: store == "store")
        let held = try await reader.subscribe("billing")
        let beside = try await eventlog(["subscriptions", store, "--json"], in: work.path)
        #expect(beside.status == 0 && beside.lines.count == 2, "\(beside.stdout)\(beside.stderr)")
        try await held.close()
        try await reader.close()
    }

    @Test(arguments: ["store", "store.db"])
    func subscriptionsDeleteRefusesBusyAndUnknownNames(store: String) async throws {
        let work = try WorkDirectory()
        let path = work.path + "/" + store
        #expect(try await eventlog(["append", store, "s", "--type", "T"], in: work.path).status == 0)
        let writer = try await Self.openStore(path)
        try await writer.subscribe("keep").close()
        try await writer.subscribe("drop").close()
        try await writer.close()

        // Held by a consumer in this process (a read-only open of a log store can hold one, and
        // leaves the writer's lock free): busy, and still listed afterwards.
        let consumer = try await Self.openStore(path, readOnly: store == "store")
        let held = try await consumer.subscribe("keep")
        expectFailure(
            try await eventlog(["subscriptions", store, "--delete", "keep"], in: work.path), status: 1,
            mentioning: "Subscription 'keep' is held by another consumer")
        try await held.close()
        try await consumer.close()

        expectFailure(
            try await eventlog(["subscriptions", store, "--delete", "nope"], in: work.path), status: 1,
            mentioning: "there is no subscription named 'nope'")
        let deleted = try await eventlog(["subscriptions", store, "--delete", "drop"], in: work.path)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(deleted.lines == ["deleted subscription 'drop'"])
        let json = try await eventlog(["subscriptions", store, "--delete", "keep", "--json"], in: work.path)
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.lines == [#"{"deleted":"keep"}"#])
        let left = try await eventlog(["subscriptions", store, "--json"], in: work.path)
        #expect(left.status == 0 && left.lines.isEmpty, "\(left.stdout)\(left.stderr)")
        // Deleted means gone: subscribing again starts over.
        let again = try await Self.openStore(path)
        #expect(try await again.subscriptions().isEmpty)
        try await again.close()

        // No store is created to delete from.
        let missing = store == "store" ? "missing" : "missing.db"
        expectFailure(
            try await eventlog(["subscriptions", missing, "--delete", "x"], in: work.path), status: 1,
            mentioning: "no store at")
        #expect(!FileManager.default.fileExists(atPath: work.path + "/" + missing))
        expectFailure(
            try await eventlog(["subscriptions", store, "--delete"], in: work.path), status: 2, mentioning: "--delete")
    }

    @Test func subscriptionsDeleteWithReadOnly() async throws {
        let work = try WorkDirectory()
        for store in ["store", "store.db"] {
            #expect(try await eventlog(["append", store, "s", "--type", "T"], in: work.path).status == 0)
            let api = try await Self.openStore(work.path + "/" + store)
            try await api.subscribe("x").close()
            try await api.close()
        }
        // A read-only open cannot delete (CLI.md: a writing command with --read-only fails).
        for store in ["store.db", "store"] {
            expectFailure(
                try await eventlog(["subscriptions", store, "--delete", "x", "--read-only"], in: work.path),
                status: 1, mentioning: "read-only")
        }
        // Beside a running writer of a log store, a delete is refused as locked.
        let writer = try await LogEventStore.open(directory: work.path + "/store")
        expectFailure(
            try await eventlog(["subscriptions", "store", "--delete", "x"], in: work.path), status: 1,
            mentioning: "locked")
        #expect(try await writer.subscriptions().map(\.name) == ["x"])
        try await writer.deleteSubscription("x")
        try await writer.close()
    }

    @Test(arguments: ["append", "read", "watch", "stats", "verify", "copy", "subscriptions", "bench", "demo"])
    func everyHelpHasAnExample(command: String) async throws {
        let work = try WorkDirectory()
        let help = try await eventlog([command, "--help"], in: work.path)
        #expect(help.status == 0)
        #expect(help.stdout.contains("Example"), "\(help.stdout)")
        #expect(help.stdout.contains("eventlog \(command)"))
    }
}
