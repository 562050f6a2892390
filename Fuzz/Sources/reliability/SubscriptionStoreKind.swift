import EventSourcingCore
import EventSourcingTestSupport
import Foundation
import LogStore
import SQLiteStore

/// The stores the subscription kill harness runs on. The harness process writes through one open
/// store; each consumer process opens its own (a log store read-only: one process writes it).
///
/// `postgres` is named so that the command line and Fuzz/run.sh have a place for it: it runs
/// when `EVENTSOURCING_POSTGRES_URL` is set and the Fuzz package builds the PostgreSQL store, which
/// it does not yet (its network stack would weigh on every build of the fuzz targets). To add it:
/// depend on `EventSourcingPostgres` in Fuzz/Package.swift, open `PostgresEventStore` in
/// `openWriter` and `openConsumer` (a schema of its own per round), and skip when `subscribe`
/// still throws "does not support subscriptions yet".
enum SubscriptionStoreKind: String, CaseIterable {
    case log
    case sqlite
    case postgres

    /// Why this kind cannot run here; `nil` when it can.
    var unavailableReason: String? {
        switch self {
        case .log, .sqlite:
            return nil
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["EVENTSOURCING_POSTGRES_URL"], !url.isEmpty else {
                return "EVENTSOURCING_POSTGRES_URL is not set"
            }
            return "the Fuzz package does not build the PostgreSQL store (EventSourcingPostgres) yet"
        }
    }

    /// Where a round's store lives, under the round's directory.
    func location(in directory: String) -> String {
        switch self {
        case .log: directory + "/store"
        case .sqlite: directory + "/store.sqlite"
        case .postgres: ProcessInfo.processInfo.environment["EVENTSOURCING_POSTGRES_URL"] ?? ""
        }
    }

    /// The options a round picks: the writer's and the consumers' durability (`fsync`/`buffered`
    /// for the log store, SQLite's `FULL`/`NORMAL`). A SIGKILL loses no write of either.
    struct Options {
        var writerSynced: Bool
        var consumerSynced: Bool

        var description: String {
            "writer \(writerSynced ? "synced" : "buffered"), consumers \(consumerSynced ? "synced" : "buffered")"
        }
    }

    /// Opens the store the harness writes through, creating it.
    func openWriter(at location: String, options: Options) async throws -> any EventStore {
        switch self {
        case .log:
            return try await LogEventStore.open(
                directory: location,
                options: LogEventStore.Options(durability: options.writerSynced ? .fsync : .buffered))
        case .sqlite:
            return try await SQLiteEventStore.open(
                path: location, options: SQLiteEventStore.Options(synchronous: options.writerSynced ? .full : .normal))
        case .postgres:
            throw EventStoreError.invalidArgument(unavailableReason ?? "postgres")
        }
    }

    /// Opens the store of a consumer process.
    func openConsumer(at location: String, synced: Bool) async throws -> any EventStore {
        switch self {
        case .log:
            return try await LogEventStore.open(
                directory: location,
                options: LogEventStore.Options(durability: synced ? .fsync : .buffered, readOnly: true))
        case .sqlite:
            return try await SQLiteEventStore.open(
                path: location, options: SQLiteEventStore.Options(synchronous: synced ? .full : .normal))
        case .postgres:
            throw EventStoreError.invalidArgument(unavailableReason ?? "postgres")
        }
    }
}
