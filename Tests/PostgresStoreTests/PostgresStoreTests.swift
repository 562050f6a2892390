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
        // Version 1 had no subscriptions table (version 3 added it).
        try PostgresServer.psql("DROP TABLE \(schema).subscriptions; UPDATE \(schema).schema_version SET version = 1")
        let reader = try await PostgresEventStore.open(
            url: PostgresServer.url!, options: .init(schema: schema, readOnly: true, timeout: .seconds(60)))
        #expect(try await collect(try await reader.stream("s").read()).map(\.id) == ["one"])
        #expect(try await reader.subscriptions().isEmpty)
        let statistics = try await reader.runtime.statistics()
        #expect(statistics.events == 1 && statistics.bytesOnDisk > 0)
        try await reader.close()
        #expect(try PostgresServer.psql("SELECT version FROM \(schema).schema_version") == ["1"])
        let writer = try await PostgresServer.open(schema: schema)
        try await writer.stream("s").write(
            [CandidateEvent(type: "E", idempotencyKey: "one"), CandidateEvent(type: "E", idempotencyKey: "two")])
        #expect(try await collect(try await writer.stream("s").read()).map(\.id) == ["one", "two"])
        let subscription = try await writer.subscribe("after-upgrade")
        try await subscription.acknowledge(upTo: 2)
        try await subscription.close()
        #expect(
            try await writer.subscriptions() == [
                SubscriptionInfo(name: "after-upgrade", stream: "@all", position: 2, lag: 0)
            ])
        try await writer.close()
        #expect(try PostgresServer.psql("SELECT version FROM \(schema).schema_version") == ["4"])
    }

    @Test func aVersion3LayoutGainsStreamLifecycleWhenWritableStoresOpenItAtOnce() async throws {
        let schema = PostgresServer.freshSchema()
        let store = try await PostgresServer.open(schema: schema)
        try await store.stream("s").write([CandidateEvent(type: "A", idempotencyKey: "one"), CandidateEvent(type: "B")])
        try await store.stream("t").write(CandidateEvent(type: "C"))
        try await store.close()
        // Version 3 had no stream_lifecycle table (version 4 added it).
        try PostgresServer.psql(
            "DROP TABLE \(schema).stream_lifecycle; UPDATE \(schema).schema_version SET version = 3")
        // A read-only open reads it as it is, with nothing hidden.
        let reader = try await PostgresEventStore.open(
            url: PostgresServer.url!, options: .init(schema: schema, readOnly: true, timeout: .seconds(60)))
        #expect(try await collect(try await reader.stream("@all").read()).map(\.type) == ["A", "B", "C"])
        #expect(try await collect(try await reader.stream("s").read(direction: .backward)).map(\.type) == ["B", "A"])
        #expect(try await reader.streamIDs() == ["s", "t"])
        #expect(try await reader.stream("s").retention() == nil)
        #expect(try await reader.stream("@all").metrics().eventCount == 3)
        try await reader.close()
        #expect(try PostgresServer.psql("SELECT version FROM \(schema).schema_version") == ["3"])
        // Two writable stores opening at once: the advisory lock lets one migrate, the other finds it done.
        async let opening = PostgresServer.open(schema: schema)
        let first = try await PostgresServer.open(schema: schema)
        let second = try await opening
        #expect(try PostgresServer.psql("SELECT version FROM \(schema).schema_version") == ["4"])
        #expect(try PostgresServer.psql("SELECT count(*) FROM \(schema).stream_lifecycle") == ["0"])
        // The migrated store has the lifecycle, seen by the other store at once.
        try await first.stream("s").tombstone()
        #expect(try await collect(try await second.stream("@all").read()).map(\.type) == ["C"])
        #expect(try await second.streamIDs() == ["t"])
        #expect(try await second.stream("@all").metrics().eventCount == 1)
        do {
            try await second.stream("s").write(CandidateEvent(type: "X", idempotencyKey: "one"))
            Issue.record("wrote to a tombstoned stream")
        } catch EventStoreError.streamDeleted(let stream) {
            #expect(stream == "s")
        }
        // The kept stream's key still holds; the hidden events go with a compaction.
        try await second.stream("t").write(CandidateEvent(type: "D", idempotencyKey: "one"))
        try await second.stream("t").write(CandidateEvent(type: "D", idempotencyKey: "one"))
        #expect(try await first.compact().eventsRemoved == 2)
        let rows = "SELECT stream_id, version FROM \(schema).events ORDER BY sequence_id"
        #expect(try PostgresServer.psql(rows) == ["t|1", "t|2"])
        try await second.close()
        try await first.close()
    }

    @Test func readsPagePastLongHiddenRunsAndListingsTakePrefixesLiterally() async throws {
        try await PostgresServer.withStore { store in
            // 3,000 hidden events between visible ones: pages of @all and of the stream move past them.
            try await store.stream("x").write(CandidateEvent(type: "First"))
            try await store.stream("bulk").write((0..<3_000).map { CandidateEvent(type: "H\($0)") })
            try await store.stream("bulk").write(CandidateEvent(type: "Kept"))
            try await store.stream("x").write(CandidateEvent(type: "Last"))
            try await store.stream("bulk").truncate(before: 3_001)
            let forward = try await collect(try await store.stream("@all").read(limit: 10))
            #expect(forward.map(\.type) == ["First", "Kept", "Last"])
            let backward = try await collect(try await store.stream("@all").read(direction: .backward))
            #expect(backward.map(\.type) == ["Last", "Kept", "First"])
            #expect(try await collect(try await store.stream("bulk").read()).map(\.version) == [3_001])
            #expect(try await collect(try await store.stream("bulk").read(direction: .backward)).count == 1)
            #expect(try await store.stream("@all").metrics().eventCount == 3)
            #expect(try await store.stream("bulk").metrics().eventCount == 1)
            // LIKE's wildcards are plain characters of a prefix; a prefix ending in U+10FFFF has no end bound.
            for id in ["a%b", "axb", "a_c", "abc", "\u{10FFFF}", "\u{10FFFF}z"] {
                try await store.stream(id).write(CandidateEvent(type: "E"))
            }
            #expect(try await store.streamIDs(prefix: "a%") == ["a%b"])
            #expect(try await store.streamIDs(prefix: "a_") == ["a_c"])
            #expect(try await store.streamIDs(prefix: "\u{10FFFF}") == ["\u{10FFFF}", "\u{10FFFF}z"])
        }
    }

    @Test func aHiddenEventsKeyIsTakenOverByTheNextWriteAndTheIndexStaysUnique() async throws {
        let schema = PostgresServer.freshSchema()
        let store = try await PostgresServer.open(schema: schema)
        let stream = try await store.stream("s")
        try await stream.write([CandidateEvent(type: "A", idempotencyKey: "k"), CandidateEvent(type: "B")])
        try await stream.truncate(before: 2)
        // The hidden row gives its key to the new event (rather than failing the unique index).
        #expect(try await stream.write(CandidateEvent(type: "A2", idempotencyKey: "k")) == 3)
        #expect(try await stream.write(CandidateEvent(type: "A3", idempotencyKey: "k")) == 3)
        let rows = "SELECT version, coalesce(idempotency_key, '-') FROM \(schema).events ORDER BY version"
        #expect(try PostgresServer.psql(rows) == ["1|-", "2|-", "3|k"])
        #expect(try await collect(try await stream.read()).map(\.id) == ["2", "k"])
        try await store.close()
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
            options: .init(schema: PostgresServer.freshSchema(), connections: 2, timeout: .seconds(60)))
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

/// Subscriptions on PostgreSQL beyond the conformance suite: positions in a table shared by every
/// store of the schema, one consumer per name held by an advisory lock on a connection of the
/// holder's own, which the server releases when that connection dies.
@Suite(
    "PostgreSQL subscriptions", .enabled(if: PostgresServer.url != nil, "EVENTSOURCING_POSTGRES_URL is not set"))
struct PostgresSubscriptionTests {
    @Test func aSubscriptionResumesAfterItsAcknowledgedPositionInANewStore() async throws {
        let schema = PostgresServer.freshSchema()
        let store = try await PostgresServer.open(schema: schema)
        try await store.stream("orders").write((1...5).map { CandidateEvent(type: "Order\($0)") })
        try await store.stream("other").write(CandidateEvent(type: "Other"))
        let filter = EventFilter([.oneOf("event_type", ["Order2", "Order3", "Order5"])])
        let options = SubscriptionOptions(stream: "orders", filter: filter)
        let first = try await store.subscribe("projector", options: options)
        var delivered: [Int64] = []
        for try await event in first.events() {
            delivered.append(event.version)
            if event.version == 3 {
                try await first.acknowledge(event)
                break
            }
        }
        #expect(delivered == [2, 3])
        try await first.close()
        try await store.close()
        #expect(try PostgresServer.psql("SELECT stream_id, position FROM \(schema).subscriptions") == ["orders|3"])

        let again = try await PostgresServer.open(schema: schema)
        #expect(
            try await again.subscriptions() == [
                SubscriptionInfo(name: "projector", stream: "orders", position: 3, lag: 2)
            ])
        // The stream and filter were fixed when it was created.
        await #expect(throws: EventStoreError.self) { try await again.subscribe("projector") }
        let second = try await again.subscribe("projector", options: options)
        #expect(await second.position == 3)
        var rest: [Int64] = []
        for try await event in second.events() {
            rest.append(event.version)
            try await second.acknowledge(event)
            break
        }
        #expect(rest == [5])
        #expect(await second.position == 5)
        try await second.close()
        #expect(try await again.subscriptions().map(\.position) == [5])
        try await again.close()
    }

    @Test func aHeldNameIsBusyForEveryOtherConnectionUntilItsHolderCloses() async throws {
        let schema = PostgresServer.freshSchema()
        let first = try await PostgresServer.open(schema: schema)
        let second = try await PostgresServer.open(schema: schema)
        let held = try await first.subscribe("worker")
        await #expect(throws: EventStoreError.subscriptionBusy("worker")) { try await second.subscribe("worker") }
        // The holder's own store takes the name on another connection too: busy as well.
        await #expect(throws: EventStoreError.subscriptionBusy("worker")) { try await first.subscribe("worker") }
        await #expect(throws: EventStoreError.subscriptionBusy("worker")) {
            try await second.deleteSubscription("worker")
        }
        try await held.close()
        let taken = try await second.subscribe("worker")
        await #expect(throws: EventStoreError.subscriptionBusy("worker")) { try await first.subscribe("worker") }
        try await taken.close()
        try await first.deleteSubscription("worker")
        #expect(try await second.subscriptions().isEmpty)
        await #expect(throws: EventStoreError.invalidArgument("there is no subscription named 'worker'")) {
            try await second.deleteSubscription("worker")
        }
        // Created again after the delete: a new row, at the beginning again.
        try await second.stream("s").write(CandidateEvent(type: "E"))
        let renewed = try await second.subscribe("worker")
        #expect(await renewed.position == 0)
        // Closing the store releases what it holds.
        try await second.close()
        try await first.subscribe("worker").close()
        try await first.close()
    }

    @Test func subscribersRacingForANewNameCreateItOnceAndOneHoldsIt() async throws {
        let schema = PostgresServer.freshSchema()
        let stores = try await (0..<2).asyncMap { _ in try await PostgresServer.open(schema: schema) }
        try await stores[0].stream("s").write(CandidateEvent(type: "E"))
        let outcomes = try await withThrowingTaskGroup(of: Subscription?.self) { group in
            for index in 0..<8 {
                group.addTask {
                    do {
                        return try await stores[index % 2].subscribe("racer", options: SubscriptionOptions(start: .end))
                    } catch EventStoreError.subscriptionBusy("racer") {
                        return nil
                    }
                }
            }
            return try await group.reduce(into: [Subscription?]()) { $0.append($1) }
        }
        let winners = outcomes.compactMap { $0 }
        #expect(winners.count == 1)
        #expect(try PostgresServer.psql("SELECT count(*), min(position) FROM \(schema).subscriptions") == ["1|1"])
        for winner in winners { try await winner.close() }
        for store in stores { try await store.close() }
    }

    @Test func aHoldEndsWithItsConnection() async throws {
        let schema = PostgresServer.freshSchema()
        let holder = try await PostgresServer.open(schema: schema)
        try await holder.stream("s").write(CandidateEvent(type: "E"))
        let name = "held-" + UUID().uuidString.prefix(8).lowercased()
        let held = try await holder.subscribe(name)
        // The holder's backend, found by the application_name its connection announces.
        let backends = try PostgresServer.psql(
            """
            SELECT a.pid, count(l.pid) FROM pg_stat_activity a
                LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                WHERE a.application_name LIKE 'event_sourcing subscription ''\(name)''%' GROUP BY a.pid
            """)
        #expect(backends.count == 1 && backends.first?.hasSuffix("|1") == true, "\(backends)")
        let pid = try #require(backends.first?.split(separator: "|").first)
        #expect(try PostgresServer.psql("SELECT pg_terminate_backend(\(pid))") == ["t"])

        let other = try await PostgresServer.open(schema: schema)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        var taken: Subscription?
        while taken == nil {
            do {
                taken = try await other.subscribe(name)
            } catch EventStoreError.subscriptionBusy {
                guard clock.now < deadline else { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let subscription = try #require(taken, "the name stayed busy after its holder's connection died")
        // The old holder lost the name with its connection: it can no longer record positions.
        do {
            try await held.acknowledge(upTo: 1)
            Issue.record("a hold whose connection died recorded a position")
        } catch EventStoreError.unavailable(let message) {
            #expect(message.contains("subscribe again"), "\(message)")
        }
        try await subscription.acknowledge(upTo: 1)
        #expect(try await other.subscriptions().map(\.position) == [1])
        try await withHangGuard {
            try await held.close()
            try await holder.close()
        }
        try await subscription.close()
        try await other.close()
    }

    @Test func aReadOnlyStoreListsSubscriptionsButDoesNotTakeThem() async throws {
        let schema = PostgresServer.freshSchema()
        let writer = try await PostgresServer.open(schema: schema)
        try await writer.stream("s").write([CandidateEvent(type: "A"), CandidateEvent(type: "B")])
        let subscription = try await writer.subscribe("audit", options: SubscriptionOptions(stream: "s", start: .end))
        try await subscription.close()
        let reader = try await PostgresEventStore.open(
            url: PostgresServer.url!, options: .init(schema: schema, readOnly: true, timeout: .seconds(60)))
        #expect(try await reader.subscriptions() == [SubscriptionInfo(name: "audit", stream: "s", position: 2, lag: 0)])
        await #expect(throws: EventStoreError.readOnly) { try await reader.subscribe("audit") }
        await #expect(throws: EventStoreError.readOnly) { try await reader.subscribe("new") }
        await #expect(throws: EventStoreError.readOnly) { try await reader.deleteSubscription("audit") }
        try await reader.close()
        try await writer.stream("s").write(CandidateEvent(type: "C"))
        #expect(try await writer.subscriptions().map(\.lag) == [1])
        try await writer.close()
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
