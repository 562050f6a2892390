import EventSourcing
import EventSourcingPostgres
import EventSourcingTestSupport
import Foundation
import MetricsTestKit
import Testing

@Suite("Metrics") struct MetricsTests {
    /// A store of `kind` in `fixture` that reports to `metrics`.
    static func open(_ kind: StoreKind, _ fixture: StoreFixture, metrics: TestMetrics) async throws -> any EventStore {
        switch kind {
        case .inMemory: return InMemoryEventStore(metricsFactory: metrics)
        case .sqlite:
            var options = SQLiteEventStore.Options()
            options.metricsFactory = metrics
            return try await SQLiteEventStore.open(path: fixture.directory + "/events.db", options: options)
        case .log:
            var options = LogEventStore.Options()
            options.metricsFactory = metrics
            return try await LogEventStore.open(directory: fixture.directory + "/log", options: options)
        case .postgres:
            var options = PostgresEventStore.Options(schema: fixture.schema, connections: 2, timeout: .seconds(60))
            options.metricsFactory = metrics
            return try await PostgresEventStore.open(url: StoreKind.postgresURL!, options: options)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func writesEventsLatencyWatchLagAndAcknowledgementsAreReported(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        let metrics = TestMetrics()
        try await closing(try await Self.open(kind, fixture, metrics: metrics)) { store in
            let stream = try await store.stream("s")
            try await stream.write([CandidateEvent(type: "A"), CandidateEvent(type: "B", idempotencyKey: "k")])
            try await stream.write(CandidateEvent(type: "B", idempotencyKey: "k"))  // stores nothing
            try await store.write([StreamWrite("t", [CandidateEvent(type: "C")]), StreamWrite("u", [CandidateEvent(type: "D")])])
            await expectError(.writeToAllStream) { try await store.write([StreamWrite("@all", [CandidateEvent(type: "E")])]) }
            let subscription = try await store.subscribe("metrics")
            for try await event in subscription.events() {
                try await subscription.acknowledge(event)
                if event.sequenceID == 4 { break }
            }
            try await subscription.close()

            let dimensions = [("store", kind == .inMemory ? "memory" : kind.rawValue)]
            #expect(try metrics.expectCounter(StoreMetrics.writesLabel, dimensions).totalValue == 2)
            #expect(try metrics.expectCounter(StoreMetrics.eventsWrittenLabel, dimensions).totalValue == 4)
            // Three writes reached storage (the one to @all was refused before).
            #expect(try metrics.expectTimer(StoreMetrics.writeDurationLabel, dimensions).values.count == 3)
            #expect(try metrics.expectTimer(StoreMetrics.watchLagLabel, dimensions).values.count >= 1)
            #expect(try metrics.expectCounter(StoreMetrics.acknowledgementsLabel, dimensions).totalValue == 4)
            if kind == .log {
                #expect(try metrics.expectTimer(StoreMetrics.syncDurationLabel, dimensions).values.count >= 2)
            }
        }
    }
}
