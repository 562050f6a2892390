import EventSourcing
import EventSourcingPostgres
import Foundation
import Testing

/// The server of these tests; `make test` always sets it (scripts/postgres-test-server.sh starts a
/// throwaway one). Without it the suite cannot run.
private let postgresServerURL = ProcessInfo.processInfo.environment["EVENTSOURCING_POSTGRES_URL"]

/// `eventlog` on PostgreSQL stores: the commands, copies between every kind, and many writer and
/// reader processes on one store. Each test works in a schema of its own.
@Suite(
    "eventlog on PostgreSQL",
    // `make test` always sets the URL.
    .enabled(if: postgresServerURL != nil, "EVENTSOURCING_POSTGRES_URL is not set")
)
struct PostgresCommandTests {
    /// The server's URL with a new, empty schema of its own.
    static func freshStoreURL() -> String {
        let url = postgresServerURL!
        let hex = (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        return url + (url.contains("?") ? "&" : "?") + "schema=cli_\(hex)"
    }

    @Test func appendReadStatsAndVerify() async throws {
        let work = try WorkDirectory()
        let url = Self.freshStoreURL()
        let one = try await eventlog(
            [
                "append", url, "order-1", "--type", "Placed", "--data", "{\"total\":30} ✓", "--metadata",
                #"{"region":"EMEA","n":2}"#, "--key", "k-1", "--durability", "buffered",
            ],
            in: work.path)
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.lines == [#"{"version":1,"count":1}"#])
        let lines = [
            #"{"type":"Paid","data_base64":"/wDDKA=="}"#, #"{"type":"Placed","key":"k-1"}"#,
            #"{"type":"Opened","stream":"order-2","metadata":{"region":"APAC"}}"#,
            #"{"type":"Shipped","stream":"order-2"}"#,
        ]
        let batch = try await eventlog(
            ["append", url, "order-1", "--stdin", "--batch", "2"],
            input: Data((lines.joined(separator: "\n") + "\n").utf8), in: work.path)
        #expect(batch.status == 0, "\(batch.stderr)")
        // The repeated key k-1 is dropped: order-1 stays at version 2.
        #expect(batch.lines == [#"{"version":2,"count":2}"#, #"{"version":2,"count":2}"#])

        let read = try await eventlog(["read", url, "order-1", "--json"], in: work.path)
        #expect(read.status == 0, "\(read.stderr)")
        let events = try jsonObjects(read.lines)
        #expect(events.map { $0["type"] as? String } == ["Placed", "Paid"])
        #expect(events[0]["data"] as? String == "{\"total\":30} ✓")
        #expect(events[0]["id"] as? String == "k-1")
        #expect((events[0]["metadata"] as? [String: Any])?["n"] as? Int == 2)
        #expect(events[1]["data_base64"] as? String == "/wDDKA==")
        let all = try jsonObjects(try await eventlog(["read", url, "@all", "--json"], in: work.path).lines)
        #expect(all.map { $0["sequence_id"] as? Int } == [1, 2, 3, 4])
        #expect(all.map { $0["stream_id"] as? String } == ["order-1", "order-1", "order-2", "order-2"])
        #expect(all.map { $0["version"] as? Int } == [1, 2, 1, 2])
        let filtered = try await eventlog(
            ["read", url, "@all", "--json", "--filter", "metadata.region=APAC"], in: work.path)
        #expect(try jsonObjects(filtered.lines).map { $0["type"] as? String } == ["Opened"])

        let stats = try await eventlog(["stats", url, "--json"], in: work.path)
        #expect(stats.status == 0, "\(stats.stderr)")
        let object = try #require(try jsonObjects(stats.lines).first)
        #expect(object["streams"] as? Int == 2)
        #expect(object["events"] as? Int == 4)
        #expect(object["segments"] is NSNull)
        #expect((object["bytes_on_disk"] as? Int ?? 0) > 0)
        #expect(object["snapshots"] as? Int == 0)
        #expect(try await eventlog(["stats", url], in: work.path).stdout.contains("segments      -"))

        let verify = try await eventlog(["verify", url], in: work.path)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        #expect(verify.lines.count == 1 && verify.lines[0].hasPrefix("sound"), "\(verify.stdout)")
    }

    @Test func badInputAndMissingStoresFailWithOneLine() async throws {
        let work = try WorkDirectory()
        let url = Self.freshStoreURL()
        // Reading commands never create a store: a schema without one is an error.
        for command in [["read", url, "s"], ["stats", url], ["verify", url], ["watch", url, "@all", "--from", "0"]] {
            expectFailure(try await eventlog(command, in: work.path), status: 1, mentioning: "holds no event store")
        }
        expectFailure(
            try await eventlog(["copy", url, "copy.db"], in: work.path), status: 1, mentioning: "holds no event store")
        #expect(!FileManager.default.fileExists(atPath: work.path + "/copy.db"))
        // The lines of one write must go to one stream; the write before them is stored.
        let mixedLines: String = [#"{"type":"A"}"#, #"{"type":"B"}"#, #"{"type":"C"}"#, #"{"type":"D","stream":"t"}"#]
            .map { $0 + "\n" }.joined()
        let mixed = try await eventlog(
            ["append", url, "s", "--stdin", "--batch", "2"],
            input: Data(mixedLines.utf8), in: work.path)
        expectFailure(mixed, status: 1, mentioning: "line 4 goes to stream 't', but line 3")
        #expect(mixed.lines == [#"{"version":2,"count":2}"#])
        expectFailure(
            try await eventlog(
                ["append", url, "s", "--stdin"], input: Data(#"{"type":"A","stream":7}"#.utf8), in: work.path),
            status: 1, mentioning: #""stream" must be a string"#)
        expectFailure(
            try await eventlog(["append", url, "s", "--type", "T", "--read-only"], in: work.path), status: 1,
            mentioning: "read-only")
        expectFailure(
            try await eventlog(["append", url, "s", "--type", "T", "--concurrency", "2"], in: work.path), status: 2,
            mentioning: "--concurrency")
        let verify = try await eventlog(["verify", url], in: work.path)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }

    @Test func copyKeepsEverythingThroughEveryKind() async throws {
        let work = try WorkDirectory()
        let metadata: [String: JSONValue] = [
            "region": "EMEA", "count": 42, "largest": .int(Int64.max), "negative": -7, "ratio": 2.5, "tiny": 1e-7,
            "huge": 1e300, "whole": .double(3.0), "flag": true, "nothing": nil, "text": "ünï \"quoted\"\n\ttab",
            "nested": ["list": [1, 2.5, "x", false, nil, ["deep": [:]]], "empty": []],
        ]
        try await LogEventStore.withStore(directory: work.path + "/source") { store in
            try await store.stream("order-1").write([
                CandidateEvent(
                    type: "Placed", data: Data("{\"total\":30}".utf8), metadata: metadata, idempotencyKey: "p-1"),
                CandidateEvent(type: "Blob", data: Data([0xFF, 0x00, 0xC3, 0x28, 0x80])),
                CandidateEvent(type: "Empty", metadata: [:]),
            ])
            try await store.stream("user é 1").write(
                CandidateEvent(type: "Registered", data: Data("ünïcode".utf8), idempotencyKey: "u-1"))
            try await store.stream("order-1").write(CandidateEvent(type: "Paid", metadata: ["amount": 30.5]))
            try await store.stream("order-2").write(CandidateEvent(type: "Placed", idempotencyKey: "p-2"))
            try await store.stream("order-1").snapshot(Data([0xFE, 0x01, 0x00]), projection: "totals")
            try await store.stream("@all").snapshot(Data("every order".utf8), version: 5)
        }
        let first = Self.freshStoreURL()
        let second = Self.freshStoreURL()
        let third = Self.freshStoreURL()
        // log → PostgreSQL → SQLite → log, and back into PostgreSQL from SQLite, out of it into a
        // log store, and from one PostgreSQL store into another.
        let steps = [
            ("source", first), (first, "chain.db"), ("chain.db", "back"), ("chain.db", second), (second, "back2"),
            (first, third),
        ]
        for (source, target) in steps {
            let copy = try await eventlog(["copy", source, target], in: work.path)
            #expect(copy.status == 0, "\(source) → \(target): \(copy.stderr)")
            #expect(copy.lines == ["copied 6 events and 2 snapshots"], "\(source) → \(target)")
        }
        let original = try await eventlog(["read", "source", "@all", "--json"], in: work.path)
        #expect(original.lines.count == 6)
        for store in [first, "chain.db", "back", second, "back2", third] {
            let copied = try await eventlog(["read", store, "@all", "--json"], in: work.path)
            #expect(copied.status == 0, "\(store): \(copied.stderr)")
            #expect(copied.stdout == original.stdout, "\(store)")
            let stats = try jsonObjects(try await eventlog(["stats", store, "--json"], in: work.path).lines)
            #expect(stats.first?["snapshots"] as? Int == 2, "\(store)")
            #expect(stats.first?["streams"] as? Int == 3, "\(store)")
        }
        // The snapshots themselves (state, version, timestamp) came through the whole chain.
        #expect(try await Self.snapshots(in: work.path + "/source").allSatisfy { $0 != nil })
        for copy in ["back", "back2"] {
            #expect(
                try await Self.snapshots(in: work.path + "/" + copy)
                    == Self.snapshots(in: work.path + "/source"), "\(copy)")
        }
        // Keys came along: a retry into the PostgreSQL copy stores nothing.
        let retry = try await eventlog(
            ["append", third, "order-1", "--type", "Placed", "--key", "p-1"], in: work.path)
        #expect(retry.lines == [#"{"version":4,"count":1}"#], "\(retry.stderr)")
        expectFailure(
            try await eventlog(["copy", "source", first], in: work.path), status: 1, mentioning: "already holds events")
    }

    /// The snapshots of the log store in `directory`, in a fixed order.
    static func snapshots(in directory: String) async throws -> [Snapshot?] {
        try await LogEventStore.withStore(directory: directory, options: .init(readOnly: true)) { store in
            [
                try await store.stream("order-1").loadSnapshot(projection: "totals"),
                try await store.stream("@all").loadSnapshot(),
            ]
        }
    }

    /// Four writer processes with eight writes in flight each, and three processes following
    /// `@all` from before the first write: every acknowledged event is read once by every reader,
    /// all in the same gap-free order.
    @Test func manyWritersAndReadersAgreeOnOneGapFreeOrder() async throws {
        let work = try WorkDirectory()
        let url = Self.freshStoreURL()
        let writerCount = 4
        let eventsPerWriter = 400
        let total = writerCount * eventsPerWriter
        // Reading commands never create a store, so the readers need one to exist.
        try await PostgresEventStore.withStore(url: url, options: .init(timeout: .seconds(60))) { _ in }

        let readers = (0..<3).map { _ in
            EventlogProcess(["watch", url, "@all", "--from", "0", "--json", "--count", String(total)], in: work.path)
        }
        for reader in readers { try reader.start() }
        var written: Set<String> = []
        var inputs: [String] = []
        for writer in 0..<writerCount {
            var input = ""
            for line in 0..<eventsPerWriter {
                let key = "w\(writer)-\(line)"
                written.insert(key)
                input += #"{"type":"E","stream":"p\#(writer)-t\#(line % 8)","key":"\#(key)","data":"\#(line)"}"# + "\n"
            }
            inputs.append(input)
        }
        let writers = (0..<writerCount).map { _ in
            EventlogProcess(["append", url, "s", "--stdin", "--concurrency", "8", "--batch", "1"], in: work.path)
        }
        for writer in writers { try writer.start() }
        for (writer, input) in zip(writers, inputs) {
            try await writer.send(input)
            writer.closeInput()
        }

        for (index, writer) in writers.enumerated() {
            let result = await writer.wait()
            #expect(result.status == 0, "writer \(index): \(result.stderr)")
            let acknowledgements = try jsonObjects(result.lines)
            #expect(acknowledgements.count == eventsPerWriter, "writer \(index)")
            #expect(acknowledgements.allSatisfy { $0["count"] as? Int == 1 }, "writer \(index)")
            // Each of the writer's eight streams got versions 1...50, each acknowledged once.
            let versions = acknowledgements.compactMap { $0["version"] as? Int }.sorted()
            #expect(versions == (1...eventsPerWriter / 8).flatMap { Array(repeating: $0, count: 8) }, "writer \(index)")
        }
        var outputs: [String] = []
        for (index, reader) in readers.enumerated() {
            let result = await reader.wait()
            #expect(result.status == 0, "reader \(index): \(result.stderr)")
            let events = try jsonObjects(result.lines)
            #expect(events.count == total, "reader \(index)")
            #expect(events.map { $0["sequence_id"] as? Int } == Array(1...total), "reader \(index)")
            #expect(Set(events.compactMap { $0["id"] as? String }) == written, "reader \(index)")
            // Within each stream, versions come gap-free and in order.
            var versions: [String: Int] = [:]
            for event in events {
                let stream = event["stream_id"] as? String ?? ""
                #expect(event["version"] as? Int == (versions[stream] ?? 0) + 1, "reader \(index), stream \(stream)")
                versions[stream] = event["version"] as? Int
            }
            #expect(versions.count == writerCount * 8, "reader \(index)")
            outputs.append(result.stdout)
        }
        #expect(outputs.count == 3 && outputs.allSatisfy { $0 == outputs[0] }, "the readers disagree")
        let verify = try await eventlog(["verify", url], in: work.path)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let stats = try jsonObjects(try await eventlog(["stats", url, "--json"], in: work.path).lines)
        #expect(stats.first?["events"] as? Int == total)
    }
}
