import EventSourcing
import EventSourcingPostgres
import Foundation
import Testing

/// Every store the conformance suite runs against. A new store joins by adding one case.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inMemory
    case sqlite
    case log
    case postgres

    var testDescription: String { rawValue }

    /// The server the PostgreSQL store runs against: `make test` starts a throwaway one
    /// (scripts/postgres-test-server.sh) and sets this; without it the PostgreSQL cases are left out.
    static let postgresURL: String? = ProcessInfo.processInfo.environment["EVENTSOURCING_POSTGRES_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }

    /// Every store this run can test.
    static var allCases: [StoreKind] {
        [.inMemory, .sqlite, .log] + (postgresURL == nil ? [] : [.postgres])
    }

    /// Whether the store keeps its events across close and reopen.
    var isPersistent: Bool { self != .inMemory }

    /// Every persistent store.
    static var persistent: [StoreKind] { allCases.filter(\.isPersistent) }
}

/// A place for one test's store, opened and reopened as the test needs, removed at the end.
final class StoreFixture: Sendable {
    let kind: StoreKind
    let directory: String
    private let memoryStore: InMemoryEventStore?

    init(_ kind: StoreKind) throws {
        self.kind = kind
        directory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("conformance-\(kind.rawValue)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        memoryStore = kind == .inMemory ? InMemoryEventStore() : nil
        // Each fixture has a schema of its own in the test database.
        schema = "conformance_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// The PostgreSQL schema of this fixture's store.
    let schema: String

    /// Opens the store (a persistent store reopens its files; the in-memory store is one instance).
    func open() async throws -> any EventStore {
        switch kind {
        case .inMemory: return memoryStore!
        case .sqlite: return try await SQLiteEventStore.open(path: directory + "/events.db")
        // Small segments and checkpoints, so rolls and checkpoints happen inside the suite.
        case .log:
            return try await LogEventStore.open(
                directory: directory + "/log",
                options: .init(segmentBytesMax: 256 * 1024, checkpointBytesInterval: 64 * 1024))
        case .postgres:
            return try await PostgresEventStore.open(
                url: StoreKind.postgresURL!, options: .init(schema: schema, connections: 4, timeout: .seconds(60)))
        }
    }

    /// Opens the same store read-only, as another process would (the in-memory store has no such
    /// open: `nil`).
    func openReadOnly() async throws -> (any EventStore)? {
        switch kind {
        case .inMemory: return nil
        case .sqlite: return try await SQLiteEventStore.open(path: directory + "/events.db", options: .init(readOnly: true))
        case .log: return try await LogEventStore.open(directory: directory + "/log", options: .init(readOnly: true))
        case .postgres:
            return try await PostgresEventStore.open(
                url: StoreKind.postgresURL!, options: .init(schema: schema, readOnly: true, timeout: .seconds(60)))
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Runs `body` with a freshly opened store of `kind`, then closes it and removes its files.
func withStore<R: Sendable>(
    _ kind: StoreKind, _ body: (any EventStore) async throws -> R
) async throws -> R {
    let fixture = try StoreFixture(kind)
    defer { fixture.remove() }
    return try await closing(try await fixture.open(), body)
}

/// Collects a sequence into an array.
func collect(_ events: EventStream.Events) async throws -> [StoredEvent] {
    var result: [StoredEvent] = []
    for try await event in events { result.append(event) }
    return result
}

/// Events of the given types, with data "<type>-<index>".
func events(_ types: String..., keyPrefix: String? = nil) -> [CandidateEvent] {
    types.enumerated().map { index, type in
        CandidateEvent(
            type: type, data: Data("\(type)-\(index)".utf8),
            idempotencyKey: keyPrefix.map { "\($0)-\(index)" })
    }
}

/// Expects `body` to throw exactly `expected`.
func expectError<T>(
    _ expected: EventStoreError, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async {
    do {
        _ = try await body()
        Issue.record("expected \(expected), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as EventStoreError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw some `EventStoreError` matching `matches`.
func expectError<T>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T,
    matching matches: (EventStoreError) -> Bool
) async {
    do {
        _ = try await body()
        Issue.record("expected an EventStoreError, but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as EventStoreError {
        #expect(matches(error), "unexpected \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an EventStoreError, got \(error)", sourceLocation: sourceLocation)
    }
}
