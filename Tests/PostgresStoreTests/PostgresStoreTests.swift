import EventSourcing
import EventSourcingPostgres
import EventSourcingTestSupport
import Foundation
import Testing

/// What the PostgreSQL store does beyond the conformance suite (which runs every case on it too):
/// data that looks like SQL, group commit, many writers, its errors, and a server that goes away.
///
/// `make test` starts a throwaway server and sets EVENTSOURCING_POSTGRES_URL (and
/// EVENTSOURCING_POSTGRES_CONTROL, with which the restart test stops and starts it); without the
/// URL these tests are skipped.
@Suite("PostgreSQL store", .enabled(if: PostgresServer.url != nil, "EVENTSOURCING_POSTGRES_URL is not set"))
struct PostgresStoreTests {
    @Test func textThatLooksLikeSQLIsJustData() async throws {
        try await PostgresServer.withStore { store in
            let hostile = "x'); DROP TABLE events; --"
            let metadata: [String: JSONValue] = [
                "'; DELETE FROM streams; --": "$1 OR 1=1", "region": ["a\"b": .int(1)], "%_": "100%",
            ]
            let stream = try await store.stream(hostile)
            try await stream.write(CandidateEvent(type: "T' OR '1'='1", metadata: metadata, idempotencyKey: hostile))
            try await stream.write(CandidateEvent(type: "T' OR '1'='1", metadata: metadata, idempotencyKey: hostile))
            let all = try await collect(try await store.stream("@all").read())
            #expect(all.count == 1)
            #expect(all.first?.streamID == hostile && all.first?.id == hostile)
            #expect(all.first?.metadata == metadata)
            let filters: [EventFilter] = [
                EventFilter([.equals("stream_id", .string(hostile))]),
                EventFilter([.equals("metadata.'; DELETE FROM streams; --", "$1 OR 1=1")]),
                EventFilter([.equals("metadata.region.a\"b", 1.0)]),
                EventFilter([.like("metadata.%_", "100%")]),
                EventFilter([.oneOf("event_type", ["T' OR '1'='1", "other"])]),
            ]
            for filter in filters {
                #expect(try await collect(try await store.stream("@all").read(filter: filter)).count == 1, "\(filter)")
            }
            #expect(
                try await collect(try await store.stream("@all").read(filter: EventFilter([.like("stream_id", "x'%")])))
                    .count == 1)
            #expect(
                try await collect(try await store.stream("@all").read(filter: EventFilter([.like("stream_id", "y%")])))
                    .isEmpty)
        }
    }

    @Test func oneBadAppendInAGroupFailsAlone() async throws {
        try await PostgresServer.withStore { store in
            // Many appends at once share group commits; a conflict or an event PostgreSQL cannot
            // store (a NUL in text) fails its own append, not its neighbours'.
            try await store.stream("fixed").write(CandidateEvent(type: "First"))
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        do {
                            switch index % 10 {
                            case 3:
                                try await store.stream("fixed").write(CandidateEvent(type: "Stale"), expectedVersion: 0)
                            case 7:
                                // A NUL in text fails when the statement is bound; one in a jsonb string only when
                // append_batch, already answering, casts the metadata.
                let event =
                    index % 2 == 0
                    ? CandidateEvent(type: "N\u{0}UL") : CandidateEvent(type: "E", metadata: ["note": "N\u{0}UL"])
                try await store.stream("bad-\(index)").write(event)
                            default:
                                try await store.stream("good-\(index)").write(CandidateEvent(type: "Good"))
                            }
                            return "stored"
                        } catch EventStoreError.concurrencyConflict {
                            return "conflict"
                        } catch EventStoreError.invalidEvent {
                            return "invalid"
                        }
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            #expect(outcomes == ["stored": 32, "conflict": 4, "invalid": 4])
            let all = try await collect(try await store.stream("@all").read())
            #expect(all.map(\.sequenceID) == Array(1...33))
            #expect(Set(all.dropFirst().map(\.type)) == ["Good"])
        }
    }

    @Test func concurrentWritersOnSeveralStoresKeepAllGapFreeForAFollower() async throws {
        let schema = PostgresServer.freshSchema()
        let stores = try await (0..<3).asyncMap { _ in try await PostgresServer.open(schema: schema) }
        let total = 3 * 8 * 25
        let follower = Task {
            var seen: [StoredEvent] = []
            for try await event in try await stores[0].stream("@all").watch(from: 0) {
                seen.append(event)
                if seen.count == total { break }
            }
            return seen
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (storeIndex, store) in stores.enumerated() {
                for task in 0..<8 {
                    group.addTask {
                        for index in 0..<25 {
                            try await store.stream("s\(storeIndex)-\(task % 3)").write(
                                CandidateEvent(type: "E", idempotencyKey: "\(storeIndex)-\(task)-\(index)"))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let seen = try await withHangGuard(seconds: 120, cancelling: follower)
        #expect(seen.map(\.sequenceID) == Array(1...Int64(total)))
        #expect(Set(seen.map(\.id)).count == total)
        for store in stores { try await store.close() }
    }

    @Test func badLocationsGetTypedErrors() async throws {
        await #expect(throws: EventStoreError.self) { try await PostgresEventStore.open(url: "mysql://localhost/db") }
        // Nothing listens on port 1: the store gives up within its timeout, as unavailable.
        do {
            _ = try await PostgresEventStore.open(
                url: "postgres://postgres@127.0.0.1:1/db", options: .init(timeout: .seconds(2)))
            Issue.record("opened a store on a closed port")
        } catch EventStoreError.unavailable(let message) {
            #expect(!message.isEmpty)
        }
        // Read-only, a schema without a store is an error, not created.
        let url = PostgresServer.url! + "?schema=" + PostgresServer.freshSchema()
        do {
            _ = try await PostgresEventStore.open(url: url, options: .init(readOnly: true))
            Issue.record("a read-only open created a store")
        } catch EventStoreError.invalidArgument(let message) {
            #expect(message.contains("no event store"), "\(message)")
        }
    }

    @Test func aGroupDropsKeysItTookEarlierAndFreesThoseOfARejectedAppend() async throws {
        let schema = PostgresServer.freshSchema()
        try await PostgresServer.open(schema: schema).close()
        // Six appends in one call, as group commit makes them: 1 conflicts (so its key k1 stays
        // free), 2 takes k1, 3 repeats it, 4 uses k1 on another stream, 5 takes k2 and adds an
        // event without a key, 6 repeats k2.
        let call = """
            SELECT outcome, stream_version, appended FROM \(schema).append_batch(
                ARRAY['a', 'a', 'a', 'b', 'a', 'a'], ARRAY[5, -1, -1, -1, -1, -1]::bigint[],
                ARRAY[1, 1, 1, 1, 2, 1], ARRAY[-1, -1, -1, -1, -1, -1]::bigint[], ARRAY[1, 2, 3, 4, 5, 5, 6],
                ARRAY['E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7'], ARRAY[true, true, true, true, true, false, true],
                ARRAY['k1', 'k1', 'k1', 'k1', 'k2', '', 'k2'], ARRAY['', '', '', '', '', '', ''],
                ARRAY['', '', '', '', '', '', '']::bytea[], false)
            """
        #expect(try PostgresServer.psql(call) == ["1|0|0", "0|1|1", "0|1|0", "0|1|1", "0|3|2", "0|3|0"])
        let events = "SELECT sequence_id, stream_id, version, coalesce(idempotency_key, '-'), event_type "
            + "FROM \(schema).events ORDER BY sequence_id"
        let expected = ["1|a|1|k1|E2", "2|b|1|k1|E4", "3|a|2|k2|E5", "4|a|3|-|E6"]
        #expect(try PostgresServer.psql(events) == expected)
        // The same keys again: the streams hold them now.
        let again = """
            SELECT outcome, stream_version, appended FROM \(schema).append_batch(
                ARRAY['a', 'b'], ARRAY[-1, 1]::bigint[], ARRAY[2, 1], ARRAY[-1, -1]::bigint[], ARRAY[1, 1, 2],
                ARRAY['E8', 'E9', 'E10'], ARRAY[true, true, true], ARRAY['k1', 'k2', 'k9'], ARRAY['', '', ''],
                ARRAY['', '', '']::bytea[], false)
            """
        #expect(try PostgresServer.psql(again) == ["0|3|0", "0|2|1"])
        #expect(try PostgresServer.psql(events) == expected + ["5|b|2|k9|E10"])
    }

    @Test func aVersion1LayoutIsUpgradedByAWritableOpen() async throws {
        let schema = PostgresServer.freshSchema()
        let store = try await PostgresServer.open(schema: schema)
        try await store.stream("s").write(CandidateEvent(type: "E", idempotencyKey: "one"))
        try await store.close()
        try PostgresServer.psql("UPDATE \(schema).schema_version SET version = 1")
        let reader = try await PostgresEventStore.open(
            url: PostgresServer.url!, options: .init(schema: schema, readOnly: true, timeout: .seconds(60)))
        #expect(try await collect(try await reader.stream("s").read()).map(\.id) == ["one"])
        try await reader.close()
        #expect(try PostgresServer.psql("SELECT version FROM \(schema).schema_version") == ["1"])
        let writer = try await PostgresServer.open(schema: schema)
        try await writer.stream("s").write(
            [CandidateEvent(type: "E", idempotencyKey: "one"), CandidateEvent(type: "E", idempotencyKey: "two")])
        #expect(try await collect(try await writer.stream("s").read()).map(\.id) == ["one", "two"])
        try await writer.close()
        #expect(try PostgresServer.psql("SELECT version FROM \(schema).schema_version") == ["2"])
    }

    @Test func storesWritingTheSameStreamsInOtherOrdersDoNotDeadlock() async throws {
        // Two stores (as two processes would) write units naming the same streams in opposite
        // orders at once; append_batch locks stream rows in sorted order, so neither waits on
        // the other's second lock while holding its first.
        let schema = PostgresServer.freshSchema()
        let first = try await PostgresServer.open(schema: schema)
        let second = try await PostgresServer.open(schema: schema)
        let rounds = 60
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, store) in [first, second].enumerated() {
                for task in 0..<4 {
                    group.addTask {
                        for round in 0..<rounds / 4 {
                            let streams = ["account-a", "account-b", "account-c"]
                            let ordered = index == 0 ? streams : streams.reversed()
                            try await store.write(
                                ordered.map { StreamWrite($0, [CandidateEvent(type: "T\(index)-\(task)-\(round)")]) })
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let all = try await collect(try await first.stream("@all").read())
        #expect(all.count == 2 * rounds * 3)
        #expect(all.map(\.sequenceID) == Array(1...Int64(all.count)))
        try await second.close()
        try await first.close()
    }

    @Test func serverErrorsLeaveThePoolWhole() async throws {
        // Each refused append is a server error in the middle of append_batch's answer; a
        // connection that such an error left leased would starve a small pool.
        let store = try await PostgresEventStore.open(
            url: PostgresServer.url!,
            options: .init(schema: PostgresServer.freshSchema(), connections: 2, timeout: .seconds(20)))
        for index in 0..<8 {
            await #expect(throws: EventStoreError.self) {
                // A NUL in text fails when the statement is bound; one in a jsonb string only when
                // append_batch, already answering, casts the metadata.
                let event =
                    index % 2 == 0
                    ? CandidateEvent(type: "N\u{0}UL") : CandidateEvent(type: "E", metadata: ["note": "N\u{0}UL"])
                try await store.stream("bad-\(index)").write(event)
            }
        }
        try await store.stream("good").write(CandidateEvent(type: "E"))
        #expect(try await collect(try await store.stream("@all").read()).map(\.streamID) == ["good"])
        try await store.close()
    }

    @Test func aLayoutFromALaterReleaseIsRefused() async throws {
        let schema = PostgresServer.freshSchema()
        let store = try await PostgresServer.open(schema: schema)
        try await store.stream("s").write(CandidateEvent(type: "E"))
        try await store.close()
        try PostgresServer.psql("UPDATE \(schema).schema_version SET version = 99")
        do {
            _ = try await PostgresServer.open(schema: schema)
            Issue.record("opened a layout of a later release")
        } catch EventStoreError.corruption(let message) {
            #expect(message.contains("later release"), "\(message)")
        }
    }
}

/// Collects a sequence into an array.
func collect(_ events: EventStream.Events) async throws -> [StoredEvent] {
    var result: [StoredEvent] = []
    for try await event in events { result.append(event) }
    return result
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// The test server of this run.
enum PostgresServer {
    static let url: String? = ProcessInfo.processInfo.environment["EVENTSOURCING_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    /// Set when this run started its own server: then this machine can start another for a test.
    static let canStartServers = ProcessInfo.processInfo.environment["EVENTSOURCING_POSTGRES_CONTROL"] != nil

    static func freshSchema() -> String {
        "pgtest_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    static func open(schema: String, timeout: Duration = .seconds(60)) async throws -> PostgresEventStore {
        try await PostgresEventStore.open(url: url!, options: .init(schema: schema, timeout: timeout))
    }

    static func withStore<R: Sendable>(_ body: (PostgresEventStore) async throws -> R) async throws -> R {
        try await PostgresEventStore.withStore(
            url: url!, options: .init(schema: freshSchema(), timeout: .seconds(60)), body)
    }

    /// Runs `sql` with psql against the test database: the rows it prints, one line each, columns
    /// separated by `|`.
    @discardableResult
    static func psql(_ sql: String) throws -> [String] {
        let child = try ChildProcess(
            executable: "/usr/bin/env", arguments: ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", url!, "-c", sql],
            stdin: .null, stdout: .pipe, stderr: .pipe)
        let output = String(decoding: ChildProcess.readToEnd(child.output!), as: UTF8.self)
        let errors = String(decoding: ChildProcess.readToEnd(child.errors!), as: UTF8.self)
        let termination = child.wait()
        guard termination == .exited(0) else { throw EventStoreError.io("psql failed (\(termination)): \(errors)") }
        return output.split(separator: "\n").map(String.init)
    }
}

@Suite(
    "PostgreSQL pages", .enabled(if: PostgresServer.url != nil, "EVENTSOURCING_POSTGRES_URL is not set"))
struct PostgresPageTests {
    @Test func aLongStreamReadsBackInPages() async throws {
        let schema = PostgresServer.freshSchema()
        let store = try await PostgresServer.open(schema: schema)
        let stream = try await store.stream("long")
        for batch in 0..<3 {
            try await stream.write(
                (0..<4000).map { CandidateEvent(type: "E", idempotencyKey: "event-\(batch * 4000 + $0)") })
        }
        // A read-only store of its own reads what the first wrote, as the benchmark's replay does.
        let reader = try await PostgresEventStore.open(
            url: PostgresServer.url!, options: .init(schema: schema, readOnly: true, timeout: .seconds(60)))
        var count = 0
        for try await event in try await reader.stream("long").read() {
            count += 1
            if count > 12_000 {
                Issue.record("read past the end: \(event.version)")
                break
            }
        }
        #expect(count == 12_000)
        #expect(try await collect(try await store.stream("@all").read()).count == 12_000)
        // Backward, from the newest and from the middle, and filtered reads that skip most events,
        // across page boundaries.
        let backward = try await collect(try await reader.stream("long").read(direction: .backward))
        #expect(backward.map(\.version) == Array((1...12_000).reversed()))
        let fromMiddle = try await collect(try await reader.stream("@all").read(from: 9_000, direction: .backward))
        #expect(fromMiddle.map(\.sequenceID) == Array((1..<9_000).reversed()))
        let rare = EventFilter([.oneOf("version", [6, 4501, 12_000])])
        #expect(try await collect(try await reader.stream("long").read(filter: rare)).map(\.version) == [6, 4501, 12_000])
        #expect(
            try await collect(try await reader.stream("@all").read(direction: .backward, filter: rare)).map(\.sequenceID)
                == [12_000, 4501, 6])
        #expect(try await collect(try await reader.stream("long").read(from: 12_000)).isEmpty)
        #expect(try await collect(try await reader.stream("long").read(from: 50_000)).isEmpty)
        #expect(try await collect(try await reader.stream("long").read(from: 11_990, limit: 5)).map(\.version) == Array(11_991...11_995))
        try await reader.close()
        try await store.close()
    }
}
