import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

// File interchange between SQLiteEventStore and the Python package py-event-sourcing 1.0.3: each
// side writes a database file and the other reads it, field by field, against the writer's own
// view. The tests need a Python with that package: `scripts/setup-python-interop.sh` makes
// `.venv-interop` at the package root, or EVENTSOURCING_PYTHON names another interpreter. Without
// one the tests are skipped, not failed.

@Suite("PythonInterop: SQLite files shared with py-event-sourcing 1.0.3")
struct PythonInteropTests {
    @Test(
        "Python writes, Swift reads: events, ids, versions, timestamps, data, metadata, snapshots",
        .enabled(if: PythonInterop.isAvailable, PythonInterop.unavailableMessage))
    func pythonWritesSwiftReads() async throws {
        try await PythonInterop.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("python-written.db").path
            let run = try await PythonInterop.run(
                script: PythonInterop.prelude + PythonInterop.pythonWriterScript, arguments: [path], in: directory)
            let dump = try run.lastLineJSON()

            // Python's own view of its writes: the versions its write calls returned.
            #expect(dump["results"].array.compactMap(\.int) == [3, 2, 4, 4, 3], "py-event-sourcing write results")

            try await SQLiteEventStore.withStore(path: path) { store in
                let orderStreamID = "py-orders"
                let otherStreamID = PythonInterop.unicodeStreamID

                // Every stream, and @all, event by event against what Python reads back.
                var swiftEvents: [String: [StoredEvent]] = [:]
                for streamID in [orderStreamID, otherStreamID, "@all"] {
                    let stream = try await store.stream(streamID)
                    let events = try await PythonInterop.readAll(stream)
                    let pythonEvents = dump["streams"][streamID]["events"].array
                    try #require(events.count == pythonEvents.count, "event count of '\(streamID)'")
                    for (event, python) in zip(events, pythonEvents) { PythonInterop.expectSame(event, python) }
                    if streamID != "@all" {
                        #expect(await stream.version == dump["streams"][streamID]["version"].int)
                    }
                    swiftEvents[streamID] = events
                }

                // The same events, checked against literals rather than against Python's dump.
                let orders = try #require(swiftEvents[orderStreamID])
                #expect(orders.map(\.type) == ["OrderPlaced", "OrderNoted", "OrderBinary", "OrderShipped"])
                #expect(orders.map(\.version) == [1, 2, 3, 4])
                #expect(orders.map(\.sequenceID) == [1, 2, 3, 6])
                #expect(orders.map(\.streamID) == Array(repeating: orderStreamID, count: 4))
                #expect(orders[0].id == "py-k1")
                // Python stores a random UUID as the key of an event written without one.
                #expect(UUID(uuidString: orders[1].id) != nil, "id of an unkeyed Python event: \(orders[1].id)")
                #expect(orders[2].id == "py-k2")
                #expect(orders[3].id == "py-k3")
                #expect(orders[0].metadata == PythonInterop.nestedMetadata)
                #expect(orders[0].data == Data(#"{"total": 10}"#.utf8))
                #expect(orders[1].metadata == nil)
                #expect(orders[1].data == Data("plain text".utf8))
                #expect(orders[2].data == Data([0xFF, 0xFE, 0x00, 0x80, 0xC3, 0x28]))
                #expect(orders[2].metadata == ["kind": "binary"])
                #expect(orders[3].data.isEmpty)
                #expect(orders[3].metadata == ["carrier": .null, "weights": [1.25, 2, -0.5]])
                // One batch shares one timestamp.
                #expect(orders[0].timestamp == orders[2].timestamp)

                let other = try #require(swiftEvents[otherStreamID])
                #expect(other.map(\.type) == ["Binary", "Empty", "Last"])
                #expect(other.map(\.sequenceID) == [4, 5, 7])
                #expect(other[0].data == Data((0...255).map { UInt8($0) }))
                #expect(other[0].metadata == ["ünï": "cödé", "n": 1])
                // Python writes `{}` metadata as NULL, so it comes back absent, in Python and here.
                #expect(other[1].metadata == nil)
                #expect(other[1].data.isEmpty)
                #expect(other[2].id == "ключ-1")
                #expect(other[2].data == Data([0]))

                let all = try #require(swiftEvents["@all"])
                #expect(all.map(\.sequenceID) == Array(1...7))
                #expect(all.filter { $0.streamID == orderStreamID } == orders)
                #expect(all.filter { $0.streamID == otherStreamID } == other)

                // Metrics and positions over Python's rows.
                let orderMetrics = try await store.stream(orderStreamID).metrics()
                #expect(
                    orderMetrics == StreamMetrics(currentVersion: 4, eventCount: 4, lastTimestamp: orders[3].timestamp))
                let allStream = try await store.stream("@all")
                #expect(await allStream.version == 7)
                #expect(
                    try await allStream.metrics()
                        == StreamMetrics(currentVersion: 7, eventCount: 7, lastTimestamp: all[6].timestamp))

                // Filters over metadata that Python serialized (with \u escapes for non-ASCII text).
                let filtered = try await PythonInterop.readAll(
                    allStream, filter: EventFilter([.equals("metadata.text", PythonInterop.nestedMetadata["text"]!)]))
                #expect(filtered.map(\.sequenceID) == [1])
                let byKey = try await PythonInterop.readAll(
                    allStream, filter: EventFilter([.equals("metadata.ünï", "cödé"), .like("stream_id", "py-%")]))
                #expect(byKey.map(\.sequenceID) == [4])

                // Snapshots saved by Python, against what Python loads back.
                let snapshotKeys = [
                    (orderStreamID, "default"), (orderStreamID, "totals"), (otherStreamID, "empty-state"),
                    ("@all", "global"), (orderStreamID, "never-saved"),
                ]
                let pythonSnapshots = dump["snapshots"].array
                try #require(pythonSnapshots.count == snapshotKeys.count)
                for ((streamID, projection), python) in zip(snapshotKeys, pythonSnapshots) {
                    let snapshot = try await store.stream(streamID).loadSnapshot(projection: projection)
                    PythonInterop.expectSame(snapshot, python, streamID: streamID, projection: projection)
                }
                let defaultSnapshot = try await store.stream(orderStreamID).loadSnapshot()
                #expect(defaultSnapshot?.state == Data([0x00, 0x01]) + Data("state".utf8) + Data([0xFF]))
                #expect(defaultSnapshot?.version == 4)
                #expect(try await store.stream(orderStreamID).loadSnapshot(projection: "totals")?.version == 3)
                #expect(try await store.stream(otherStreamID).loadSnapshot(projection: "empty-state")?.state == Data())
                #expect(try await allStream.loadSnapshot(projection: "global")?.version == 7)

                // Swift appends to Python's file: keys Python stored deduplicate, positions continue.
                let orderStream = try await store.stream(orderStreamID)
                let version = try await orderStream.write([
                    CandidateEvent(type: "Retry", data: Data("dup".utf8), idempotencyKey: "py-k1"),
                    CandidateEvent(type: "SwiftKeyed", data: Data([0xFF]), idempotencyKey: "swift-1"),
                    CandidateEvent(type: "SwiftUnkeyed"),
                ])
                #expect(version == 6)
                let appended = try await PythonInterop.readAll(orderStream, from: 4)
                #expect(appended.map(\.id) == ["swift-1", "9"])
                #expect(appended.map(\.version) == [5, 6])
                #expect(appended.map(\.sequenceID) == [8, 9])
                #expect(await allStream.version == 9)
            }
        }
    }

    @Test(
        "Swift writes, Python reads and watches, then Python appends and Swift reads that",
        .enabled(if: PythonInterop.isAvailable, PythonInterop.unavailableMessage))
    func swiftWritesPythonReads() async throws {
        try await PythonInterop.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("swift-written.db").path
            let orderStreamID = "swift-orders"
            let otherStreamID = "swift-ünïcödé-東京"
            let binary = Data((0...255).map { UInt8($0) })

            // Swift writes; interleaved batches make sequence ids differ from versions.
            let written: [String: [StoredEvent]] = try await SQLiteEventStore.withStore(path: path) { store in
                let orders = try await store.stream(orderStreamID)
                let other = try await store.stream(otherStreamID)
                #expect(
                    try await orders.write([
                        CandidateEvent(
                            type: "Placed", data: Data(#"{"total":10}"#.utf8), metadata: PythonInterop.nestedMetadata),
                        CandidateEvent(
                            type: "Binary", data: Data([0xFF, 0xFE, 0x00, 0x80]), metadata: ["kind": "binary"],
                            idempotencyKey: "swift-k1"),
                        CandidateEvent(type: "Bare"),
                    ]) == 3)
                #expect(
                    try await other.write([
                        CandidateEvent(type: "AllBytes", data: binary, metadata: ["ünï": "cödé", "n": 1]),
                        CandidateEvent(type: "EmptyMetadata", data: Data("x".utf8), metadata: [:]),
                    ]) == 2)
                #expect(
                    try await orders.write([
                        CandidateEvent(type: "Retry", idempotencyKey: "swift-k1"),
                        CandidateEvent(
                            type: "Shipped", metadata: ["carrier": .null, "weights": [1.25, 2, -0.5]],
                            idempotencyKey: "swift-k2"),
                    ]) == 4)
                try await orders.snapshot(Data([0x00, 0x01, 0x02, 0xFF]))
                try await orders.snapshot(Data("totals:".utf8) + Data([0xFE, 0xED]), version: 2, projection: "totals")
                let all = try await store.stream("@all")
                try await all.snapshot(Data("global".utf8), version: 6, projection: "global")

                var events: [String: [StoredEvent]] = [:]
                for streamID in [orderStreamID, otherStreamID, "@all"] {
                    events[streamID] = try await PythonInterop.readAll(try await store.stream(streamID))
                }
                return events
            }
            let orders = try #require(written[orderStreamID])
            let other = try #require(written[otherStreamID])
            #expect(orders.map(\.id) == ["1", "swift-k1", "3", "swift-k2"])
            #expect(orders.map(\.sequenceID) == [1, 2, 3, 6])
            #expect(other.map(\.id) == ["4", "5"])
            #expect(orders[0].metadata == PythonInterop.nestedMetadata)
            #expect(other[1].metadata == [:])

            // Snapshots as Swift loads them, for comparison with Python's view.
            let snapshotKeys = [(orderStreamID, "default"), (orderStreamID, "totals"), ("@all", "global")]
            let swiftSnapshots = try await SQLiteEventStore.withStore(path: path) { store in
                var snapshots: [Snapshot?] = []
                for (streamID, projection) in snapshotKeys {
                    snapshots.append(try await store.stream(streamID).loadSnapshot(projection: projection))
                }
                return snapshots
            }
            #expect(swiftSnapshots.map { $0?.version } == [4, 2, 6])

            // Python reads everything, watches one stream from version 0, and once its watch has the
            // history ("READY") Swift writes two more events that the watch must deliver live.
            let config: JSONValue = [
                "streams": [.string(orderStreamID), .string(otherStreamID)],
                "snapshots": .array(snapshotKeys.map { [.string($0.0), .string($0.1)] }),
                "watch_stream": .string(orderStreamID),
                "watch_history": 4,
                "watch_live": 2,
            ]
            var liveWritten = false
            let run = try await PythonInterop.run(
                script: PythonInterop.prelude + PythonInterop.pythonReaderScript,
                arguments: [path, config.jsonText], in: directory
            ) { line in
                guard line == "READY", !liveWritten else { return }
                liveWritten = true
                try await SQLiteEventStore.withStore(path: path) { store in
                    let stream = try await store.stream(orderStreamID)
                    try await stream.write(CandidateEvent(type: "Live1", data: Data([0xC0]), metadata: ["live": true]))
                    try await stream.write(CandidateEvent(type: "Live2", idempotencyKey: "swift-live-2"))
                }
            }
            #expect(liveWritten, "Python never reported its watch ready")
            let dump = try run.lastLineJSON()

            // Python's reads against Swift's.
            for streamID in [orderStreamID, otherStreamID, "@all"] {
                let events = try #require(written[streamID])
                let pythonEvents = dump["streams"][streamID]["events"].array
                try #require(pythonEvents.count == events.count, "Python's event count of '\(streamID)'")
                for (event, python) in zip(events, pythonEvents) { PythonInterop.expectSame(event, python) }
            }
            #expect(dump["streams"][orderStreamID]["version"].int == 4)
            #expect(dump["streams"][otherStreamID]["version"].int == 2)

            // The raw rows as Python's sqlite3 sees them: Python-canonical timestamps, NULL keys and
            // metadata where Swift had none, data always a BLOB.
            let raw = dump["raw_events"].array
            try #require(raw.count == 6)
            for (row, event) in zip(raw, try #require(written["@all"])) {
                #expect(row["id"].int == event.sequenceID)
                #expect(row["timestamp_canonical"].bool == true, "timestamp text \(row["timestamp"].string ?? "?")")
                #expect(row["idempotency_key"].string == (event.id == String(event.sequenceID) ? nil : event.id))
                #expect(row["metadata_is_null"].bool == (event.metadata == nil))
                #expect(row["data_type"].string == "blob")
            }
            for row in dump["raw_snapshots"].array {
                #expect(row["timestamp_canonical"].bool == true, "snapshot timestamp \(row["timestamp"].string ?? "?")")
            }

            // Python's snapshots against Swift's.
            let pythonSnapshots = dump["snapshots"].array
            try #require(pythonSnapshots.count == snapshotKeys.count)
            for ((key, python), swift) in zip(zip(snapshotKeys, pythonSnapshots), swiftSnapshots) {
                PythonInterop.expectSame(swift, python, streamID: key.0, projection: key.1)
            }

            // The watch: the history Swift wrote, then the live events, in order, once each.
            let watched = dump["watched"].array
            #expect(watched.compactMap { $0["version"].int } == [1, 2, 3, 4, 5, 6])
            #expect(watched.compactMap { $0["sequence_id"].int } == [1, 2, 3, 6, 7, 8])
            #expect(watched.compactMap { $0["id"].string } == ["1", "swift-k1", "3", "swift-k2", "7", "swift-live-2"])
            for (event, python) in zip(orders, watched) { PythonInterop.expectSame(event, python) }

            // Python appended (one key it retried was Swift's): Swift reopens and reads on from there.
            #expect(dump["append_version"].int == 8)
            try await SQLiteEventStore.withStore(path: path) { store in
                let stream = try await store.stream(orderStreamID)
                #expect(await stream.version == 8)
                let events = try await PythonInterop.readAll(stream)
                try #require(events.count == 8)
                let pythonWatched = watched.suffix(2)
                for (event, python) in zip(events[4...5], pythonWatched) { PythonInterop.expectSame(event, python) }
                #expect(events[4].metadata == ["live": true])
                #expect(events[4].data == Data([0xC0]))
                let appended = Array(events[6...])
                #expect(appended.map(\.type) == ["PyAppended", "PyNoKey"])
                #expect(appended.map(\.version) == [7, 8])
                #expect(appended.map(\.sequenceID) == [9, 10])
                #expect(appended[0].id == "py-k1")
                #expect(UUID(uuidString: appended[1].id) != nil, "id of an unkeyed Python event: \(appended[1].id)")
                #expect(appended[0].data == Data([0x00, 0xFF]) + Data("py".utf8))
                #expect(appended[0].metadata == ["by": "python", "ü": [1, 2.5]])
                #expect(appended[1].data.isEmpty)
                #expect(appended[1].metadata == nil)
                #expect(appended[1].timestamp == appended[0].timestamp)
                let all = try await store.stream("@all")
                #expect(await all.version == 10)
                #expect(try await PythonInterop.readAll(all, from: 8).map(\.id) == ["py-k1", appended[1].id])
                #expect(
                    try await stream.metrics()
                        == StreamMetrics(currentVersion: 8, eventCount: 8, lastTimestamp: appended[1].timestamp))
            }
        }
    }

    @Test(
        "Swift writes to several streams at once and keeps a subscription; Python reads each event and appends",
        .enabled(if: PythonInterop.isAvailable, PythonInterop.unavailableMessage))
    func swiftMultiStreamWritePythonReads() async throws {
        try await PythonInterop.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("swift-multi.db").path
            let written: [String: [StoredEvent]] = try await SQLiteEventStore.withStore(path: path) { store in
                try await store.stream("from").write(CandidateEvent(type: "Opened"))
                let ids = try await store.write([
                    StreamWrite(
                        "from", [CandidateEvent(type: "Debited", data: Data("5".utf8), idempotencyKey: "t-1-out")],
                        expectedVersion: .exact(1)),
                    StreamWrite(
                        "to",
                        [
                            CandidateEvent(type: "Credited", data: Data("5".utf8), metadata: ["transfer": 1]),
                            CandidateEvent(type: "Noted", idempotencyKey: "t-1-note"),
                        ],
                        expectedVersion: .noStream),
                ])
                #expect(ids == [2, 2])
                // A subscription adds a table of its own, which Python ignores.
                let subscription = try await store.subscribe("transfers", options: .init(stream: "to"))
                try await subscription.acknowledge(upTo: 1)
                try await subscription.close()
                var events: [String: [StoredEvent]] = [:]
                for streamID in ["from", "to", "@all"] {
                    events[streamID] = try await PythonInterop.readAll(try await store.stream(streamID))
                }
                return events
            }
            #expect(written["@all"]?.map(\.sequenceID) == [1, 2, 3, 4])

            let script = PythonInterop.prelude + #"""
                async def main(db):
                    async with sqlite_stream_factory(db, polling_interval=0.05) as open_stream:
                        out = await dump(open_stream, ["from", "to"], [])
                        async with open_stream("to") as stream:
                            out["append_version"] = await stream.write([CandidateEvent(type="PyNoted", data=b"py")])
                        emit(out)

                asyncio.run(asyncio.wait_for(main(sys.argv[1]), 150))
                """#
            let dump = try await PythonInterop.run(script: script, arguments: [path], in: directory).lastLineJSON()
            for streamID in ["from", "to", "@all"] {
                let events = try #require(written[streamID])
                let pythonEvents = dump["streams"][streamID]["events"].array
                try #require(pythonEvents.count == events.count, "Python's event count of '\(streamID)'")
                for (event, python) in zip(events, pythonEvents) { PythonInterop.expectSame(event, python) }
            }
            #expect(dump["streams"]["from"]["version"].int == 2)
            #expect(dump["streams"]["to"]["version"].int == 2)
            #expect(dump["append_version"].int == 3)

            // Swift reads Python's append, and the subscription is where it was left.
            try await SQLiteEventStore.withStore(path: path) { store in
                #expect(try await store.subscriptions() == [SubscriptionInfo(name: "transfers", stream: "to", position: 1, lag: 2)])
                let subscription = try await store.subscribe("transfers", options: .init(stream: "to"))
                var types: [String] = []
                for try await event in subscription.events() {
                    types.append(event.type)
                    if types.count == 2 { break }
                }
                #expect(types == ["Noted", "PyNoted"])
                try await subscription.close()
            }
        }
    }
}


// MARK: - Support

/// Finds a Python with py-event-sourcing, runs scripts with it, and compares its dumps.
enum PythonInterop {
    /// The package root, three levels above this file.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// EVENTSOURCING_PYTHON when set and working, else `.venv-interop/bin/python`, when it imports
    /// `py_event_sourcing`; `nil` otherwise.
    static let interpreter: String? = {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["EVENTSOURCING_PYTHON"], !configured.isEmpty {
            candidates.append(configured)
        }
        candidates.append(packageRoot.appendingPathComponent(".venv-interop/bin/python").path)
        return candidates.first(where: importsPackage)
    }()

    static var isAvailable: Bool { interpreter != nil }

    static let unavailableMessage: Comment = """
        No Python with py-event-sourcing 1.0.3: run scripts/setup-python-interop.sh \
        (creates .venv-interop) or set EVENTSOURCING_PYTHON to such an interpreter.
        """

    private static func importsPackage(_ python: String) -> Bool {
        guard
            let child = try? ChildProcess(
                executable: "/usr/bin/env", arguments: [python, "-c", "import py_event_sourcing"], stdin: .null,
                stdout: .null, stderr: .null)
        else { return false }
        return child.wait() == .exited(0)
    }

    /// Runs `body` in a new temporary directory and removes it afterwards.
    static func withTemporaryDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("python-interop-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(directory)
    }

    /// What a script printed on stdout, line by line, and how it ended.
    struct Output {
        var lines: [String]
        var status: Int32
        var errorText: String

        /// The last line of stdout as JSON, after checking that the script succeeded.
        func lastLineJSON() throws -> PythonDump {
            try #require(status == 0, "the Python script exited with \(status):\n\(errorText)")
            let line = try #require(lines.last, "the Python script printed nothing:\n\(errorText)")
            return PythonDump(try JSONValue.parse(Array(line.utf8)))
        }
    }

    /// Runs `script` with the interpreter, calling `onLine` for each line it prints as it prints it.
    /// A watchdog stops the script after 180 seconds, so a broken script cannot hang the tests.
    static func run(
        script: String, arguments: [String], in directory: URL,
        onLine: (String) async throws -> Void = { _ in }
    ) async throws -> Output {
        let python = try #require(interpreter)
        let scriptURL = directory.appendingPathComponent("script-\(UUID().uuidString).py")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        let errorURL = directory.appendingPathComponent("stderr-\(UUID().uuidString).txt")
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONIOENCODING"] = "utf-8"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        let child = try ChildProcess(
            executable: "/usr/bin/env", arguments: [python, scriptURL.path] + arguments, directory: directory.path,
            environment: environment, stdin: .null, stdout: .pipe, stderr: .file(errorURL.path))

        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let output = child.output!
        // A blocking read loop, on its own thread rather than on the cooperative pool.
        Thread {
            var pending: [UInt8] = []
            while let chunk = ChildProcess.readChunk(output) {
                pending += chunk
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            continuation.finish()
        }.start()
        let watchdog = Task {
            try await Task.sleep(for: .seconds(180))
            child.signal(SIGTERM)
        }
        defer { watchdog.cancel() }

        var printed: [String] = []
        do {
            for await line in lines {
                printed.append(line)
                try await onLine(line)
            }
        } catch {
            child.signal(SIGTERM)
            _ = await waitForExit(child)
            throw error
        }
        let termination = await waitForExit(child)
        let errorText = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
        return Output(lines: printed, status: termination.status, errorText: String(errorText.suffix(4000)))
    }

    /// Waits for `child` to exit on a thread of its own, off the cooperative pool.
    private static func waitForExit(_ child: ChildProcess) async -> ChildProcess.Termination {
        await withCheckedContinuation { done in
            Thread { done.resume(returning: child.wait()) }.start()
        }
    }

    static func readAll(_ stream: EventStream, from: Int64 = 0, filter: EventFilter? = nil) async throws
        -> [StoredEvent]
    {
        var events: [StoredEvent] = []
        for try await event in stream.read(from: from, filter: filter) { events.append(event) }
        return events
    }

    /// `date` in whole microseconds since the epoch.
    static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// Compares a Swift event with one of Python's dump, field by field.
    static func expectSame(
        _ event: StoredEvent, _ python: PythonDump, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let label = "event \(event.streamID)#\(event.version)"
        #expect(event.id == python["id"].string, "\(label): id", sourceLocation: sourceLocation)
        #expect(event.streamID == python["stream_id"].string, "\(label): stream id", sourceLocation: sourceLocation)
        #expect(event.sequenceID == python["sequence_id"].int, "\(label): sequence id", sourceLocation: sourceLocation)
        #expect(event.version == python["version"].int, "\(label): version", sourceLocation: sourceLocation)
        #expect(
            microseconds(event.timestamp) == python["timestamp_us"].int,
            "\(label): timestamp, Python read \(python["timestamp"].string ?? "?")", sourceLocation: sourceLocation)
        #expect(event.type == python["type"].string, "\(label): type", sourceLocation: sourceLocation)
        #expect(event.data == python["data"].base64Data, "\(label): data", sourceLocation: sourceLocation)
        #expect(event.metadata == python["metadata"].object, "\(label): metadata", sourceLocation: sourceLocation)
    }

    /// Compares a Swift snapshot (or its absence) with Python's.
    static func expectSame(
        _ snapshot: Snapshot?, _ python: PythonDump, streamID: String, projection: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let label = "snapshot \(streamID)/\(projection)"
        guard let snapshot else {
            #expect(python.value == .null, "\(label): Swift finds none, Python does", sourceLocation: sourceLocation)
            return
        }
        #expect(snapshot.streamID == streamID, "\(label): stream id", sourceLocation: sourceLocation)
        #expect(snapshot.projectionName == projection, "\(label): projection", sourceLocation: sourceLocation)
        #expect(snapshot.streamID == python["stream_id"].string, "\(label): stream id", sourceLocation: sourceLocation)
        #expect(
            snapshot.projectionName == python["projection_name"].string, "\(label): projection",
            sourceLocation: sourceLocation)
        #expect(snapshot.version == python["version"].int, "\(label): version", sourceLocation: sourceLocation)
        #expect(snapshot.state == python["state"].base64Data, "\(label): state", sourceLocation: sourceLocation)
        #expect(
            microseconds(snapshot.timestamp) == python["timestamp_us"].int,
            "\(label): timestamp, Python read \(python["timestamp"].string ?? "?")", sourceLocation: sourceLocation)
    }

    /// A stream id that needs UTF-8 beyond ASCII.
    static let unicodeStreamID = "py-ünïcödé-東京"

    /// Metadata exercising every JSON type; the Python scripts hold the same value as `META`.
    static let nestedMetadata: [String: JSONValue] = [
        "region": "EMEA",
        "count": 42,
        "negative": -7,
        "big": .int(9_007_199_254_740_993),  // 2^53 + 1: not a double
        "int64max": .int(Int64.max),
        "int64min": .int(Int64.min),
        "pi": .double(3.141592653589793),
        "tiny": .double(1.5e-10),
        "huge": .double(1e100),
        "wholeFloat": .double(100.0),
        "flag": true,
        "off": false,
        "nothing": .null,
        "list": .array([1, "two", 3.5, .null, true, .array([]), .object([:])]),
        "nested": .object(["a": .object(["b": .object(["c": .array([1, .object(["d": "deep"])])])])]),
        "text": "Grüße, 東京, emoji 🎉, quote \" backslash \\ slash / newline \n tab \t control \u{01}",
        "emptyString": "",
        "emptyList": .array([]),
        "emptyObject": .object([:]),
        "ключ 🔑": "значение",
    ]

    /// Shared Python: imports, `META` (equal to `nestedMetadata`), and the dump of streams and snapshots.
    static let prelude = #"""
        import asyncio, base64, json, sqlite3, sys
        from datetime import datetime, timezone
        from py_event_sourcing import CandidateEvent, sqlite_stream_factory

        META = {
            "region": "EMEA",
            "count": 42,
            "negative": -7,
            "big": 9007199254740993,
            "int64max": 9223372036854775807,
            "int64min": -9223372036854775808,
            "pi": 3.141592653589793,
            "tiny": 1.5e-10,
            "huge": 1e100,
            "wholeFloat": 100.0,
            "flag": True,
            "off": False,
            "nothing": None,
            "list": [1, "two", 3.5, None, True, [], {}],
            "nested": {"a": {"b": {"c": [1, {"d": "deep"}]}}},
            "text": "Grüße, 東京, emoji 🎉, quote \" backslash \\ slash / newline \n tab \t control \x01",
            "emptyString": "",
            "emptyList": [],
            "emptyObject": {},
            "ключ 🔑": "значение",
        }
        UNICODE_STREAM = "py-ünïcödé-東京"
        EPOCH = datetime(1970, 1, 1)

        def micros(ts):
            if ts.tzinfo is not None:
                ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
            delta = ts - EPOCH
            return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds

        def b64(data):
            return base64.b64encode(data).decode("ascii")

        def event_json(e):
            return {"id": e.id, "stream_id": e.stream_id, "sequence_id": e.sequence_id, "version": e.version,
                    "timestamp": e.timestamp.isoformat(), "timestamp_us": micros(e.timestamp),
                    "type": e.type, "data": b64(e.data), "metadata": e.metadata}

        async def dump(open_stream, stream_ids, snapshot_keys):
            streams = {}
            for stream_id in stream_ids + ["@all"]:
                async with open_stream(stream_id) as stream:
                    events = [event_json(e) async for e in stream.read()]
                    streams[stream_id] = {"version": stream.version, "events": events}
            snapshots = []
            for stream_id, projection in snapshot_keys:
                async with open_stream(stream_id) as stream:
                    s = await stream.load_snapshot(projection)
                snapshots.append(None if s is None else {
                    "stream_id": s.stream_id, "projection_name": s.projection_name, "version": s.version,
                    "state": b64(s.state), "timestamp": s.timestamp.isoformat(), "timestamp_us": micros(s.timestamp)})
            return {"streams": streams, "snapshots": snapshots}

        def emit(value):
            print(json.dumps(value, ensure_ascii=False), flush=True)

        """#

    /// Writes two streams and snapshots, then dumps what py-event-sourcing reads back.
    static let pythonWriterScript = #"""
        async def main(db):
            async with sqlite_stream_factory(db, polling_interval=0.05) as open_stream:
                results = []
                async with open_stream("py-orders") as orders, open_stream(UNICODE_STREAM) as other:
                    results.append(await orders.write([
                        CandidateEvent(type="OrderPlaced", data=b'{"total": 10}', metadata=META,
                                       idempotency_key="py-k1"),
                        CandidateEvent(type="OrderNoted", data=b"plain text"),
                        CandidateEvent(type="OrderBinary", data=b"\xff\xfe\x00\x80\xc3\x28",
                                       metadata={"kind": "binary"}, idempotency_key="py-k2"),
                    ]))
                    results.append(await other.write([
                        CandidateEvent(type="Binary", data=bytes(range(256)), metadata={"ünï": "cödé", "n": 1}),
                        CandidateEvent(type="Empty", data=b"", metadata={}),
                    ]))
                    results.append(await orders.write([
                        CandidateEvent(type="OrderPlacedAgain", data=b"dup", idempotency_key="py-k1"),
                        CandidateEvent(type="OrderShipped", data=b"",
                                       metadata={"carrier": None, "weights": [1.25, 2, -0.5]}, idempotency_key="py-k3"),
                    ]))
                    retry = CandidateEvent(type="Retry", data=b"dup", idempotency_key="py-k2")
                    results.append(await orders.write(retry))
                    results.append(await other.write(CandidateEvent(type="Last", data=b"\x00", idempotency_key="ключ-1")))
                    await orders.snapshot(b"\x00\x01state\xff")
                    await orders.snapshot(b"totals:\xfe\xed", version=3, projection_name="totals")
                    await other.snapshot(b"", projection_name="empty-state")
                async with open_stream("@all") as all_events:
                    await all_events.snapshot(b"global\x00state", version=7, projection_name="global")
                out = await dump(open_stream, ["py-orders", UNICODE_STREAM], [
                    ["py-orders", "default"], ["py-orders", "totals"], [UNICODE_STREAM, "empty-state"],
                    ["@all", "global"], ["py-orders", "never-saved"]])
                out["results"] = results
            emit(out)

        asyncio.run(asyncio.wait_for(main(sys.argv[1]), 150))
        """#

    /// Reads a Swift-written file, watches one stream (history, "READY", then live events), appends
    /// to it, and dumps it all, with the raw rows as Python's sqlite3 sees them.
    static let pythonReaderScript = #"""
        def canonical(text):
            return datetime.fromisoformat(text).isoformat() == text

        def raw_rows(db):
            conn = sqlite3.connect(db)
            try:
                query = "SELECT id, idempotency_key, timestamp, metadata, typeof(data) FROM events ORDER BY id"
                events = [{"id": r[0], "idempotency_key": r[1], "timestamp": r[2],
                           "timestamp_canonical": canonical(r[2]), "metadata_is_null": r[3] is None, "data_type": r[4]}
                          for r in conn.execute(query)]
                snapshots = [{"timestamp": r[0], "timestamp_canonical": canonical(r[0])}
                             for r in conn.execute("SELECT timestamp FROM snapshots")]
                return events, snapshots
            finally:
                conn.close()

        async def main(db, config):
            raw_events, raw_snapshots = raw_rows(db)
            async with sqlite_stream_factory(db, polling_interval=0.05) as open_stream:
                out = await dump(open_stream, config["streams"], config["snapshots"])
                out["raw_events"] = raw_events
                out["raw_snapshots"] = raw_snapshots
                watched = []
                async with open_stream(config["watch_stream"]) as stream:
                    events = stream.watch(from_version=0)

                    async def collect(count):
                        while len(watched) < count:
                            watched.append(await events.__anext__())

                    async def collect_within(count, seconds):
                        try:
                            await asyncio.wait_for(collect(count), seconds)
                        except asyncio.TimeoutError:
                            raise RuntimeError(f"watch yielded {len(watched)} of {count} events in {seconds}s: "
                                               f"versions {[e.version for e in watched]}")

                    await collect_within(config["watch_history"], 60)
                    print("READY", flush=True)
                    await collect_within(config["watch_history"] + config["watch_live"], 60)
                    await events.aclose()
                out["watched"] = [event_json(e) for e in watched]
                async with open_stream(config["watch_stream"]) as stream:
                    out["append_version"] = await stream.write([
                        CandidateEvent(type="PyRetry", data=b"dup", idempotency_key="swift-k1"),
                        CandidateEvent(type="PyAppended", data=b"\x00\xffpy",
                                       metadata={"by": "python", "ü": [1, 2.5]}, idempotency_key="py-k1"),
                        CandidateEvent(type="PyNoKey", data=b""),
                    ])
            emit(out)

        asyncio.run(asyncio.wait_for(main(sys.argv[1], json.loads(sys.argv[2])), 150))
        """#
}

/// Read access to a JSON value printed by a Python script; a missing member reads as `null`.
struct PythonDump {
    let value: JSONValue

    init(_ value: JSONValue) { self.value = value }

    subscript(_ key: String) -> PythonDump {
        if case .object(let members) = value, let member = members[key] { return PythonDump(member) }
        return PythonDump(.null)
    }

    var array: [PythonDump] {
        if case .array(let values) = value { return values.map(PythonDump.init) }
        return []
    }

    var string: String? {
        if case .string(let text) = value { return text }
        return nil
    }

    var int: Int64? {
        if case .int(let number) = value { return number }
        return nil
    }

    var bool: Bool? {
        if case .bool(let flag) = value { return flag }
        return nil
    }

    /// The object's members; `nil` for JSON `null` (Python's `None`).
    var object: [String: JSONValue]? {
        if case .object(let members) = value { return members }
        return nil
    }

    var base64Data: Data? { string.flatMap { Data(base64Encoded: $0) } }
}
