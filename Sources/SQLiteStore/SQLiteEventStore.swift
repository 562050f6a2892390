import CoreMetrics
import EventSourcingCore
import Logging

/// The same semantics as every store, on SQLite (the system's libsqlite3), in a file that the
/// Python py-event-sourcing package (1.0.3) reads and writes too.
///
/// The database runs in WAL mode with one writer connection and a small pool of readers, each on
/// a dedicated thread, so blocking SQLite calls never run on Swift's cooperative pool. Watchers in
/// this process are woken as soon as a write commits; writes by other processes (another
/// `SQLiteEventStore`, or the Python package) wake them through inotify on the database's files.
///
/// Thread-safety: safe to use from many tasks at once.
public final class SQLiteEventStore: EventStore, RuntimeBackedStore {
    /// How SQLite makes commits durable (`PRAGMA synchronous`).
    public enum Synchronous: Sendable, Hashable {
        /// `FULL`: a commit returns after the WAL is synced; nothing acknowledged is lost on power loss.
        case full
        /// `NORMAL`: a commit survives a process crash, but a power loss may lose the newest ones.
        case normal

        var pragmaValue: String { self == .full ? "FULL" : "NORMAL" }
    }

    /// How to open a store.
    public struct Options: Sendable {
        /// Durability of commits; `.full` by default, matching `LogEventStore`'s `.fsync`.
        public var synchronous: Synchronous
        /// Open without a writer connection; writes then throw `EventStoreError.readOnly`.
        public var readOnly: Bool
        /// Reader connections (each on its own thread).
        public var readerCount: Int
        /// How long SQLite waits for a lock held by another process.
        public var busyTimeoutMilliseconds: Int
        /// Where the store logs; silent by default.
        public var logger: Logger
        /// Where metrics go; `nil`: the bootstrapped `MetricsSystem` (tests pass their own).
        package var metricsFactory: (any MetricsFactory)? = nil

        /// Creates options; every parameter has a default.
        public init(
            synchronous: Synchronous = .full, readOnly: Bool = false, readerCount: Int = 3,
            busyTimeoutMilliseconds: Int = 5000,
            logger: Logger = Logger(label: "EventSourcing.SQLite", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.synchronous = synchronous
            self.readOnly = readOnly
            self.readerCount = readerCount
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.logger = logger
        }
    }

    package let runtime: StoreRuntime

    /// The database file.
    public let path: String

    private init(path: String, runtime: StoreRuntime) {
        self.path = path
        self.runtime = runtime
    }

    /// Opens the database at `path`, creating it (and its tables) unless `options.readOnly`.
    /// - Throws: `EventStoreError.io` when SQLite cannot open the file, `.corruption` when it is
    ///   not a database.
    public static func open(path: String, options: Options = .init()) async throws -> SQLiteEventStore {
        let hub = WatchHub()
        let storage = try await DedicatedThread.run(name: "sqlite-open") {
            try SQLiteStorage(path: path, options: options, hub: hub)
        }
        return SQLiteEventStore(path: path, runtime: StoreRuntime(
                storage: storage, hub: hub, logger: options.logger,
                metrics: StoreMetrics(store: "sqlite", factory: options.metricsFactory)))
    }

    /// Opens, runs `body`, and closes even when `body` throws.
    public nonisolated(nonsending) static func withStore<R: Sendable>(
        path: String, options: Options = .init(), _ body: (SQLiteEventStore) async throws -> R
    ) async throws -> R {
        try await closing(try await open(path: path, options: options), body)
    }

    /// Opens a handle on a stream (`"@all"` for the global stream); see `EventStore.stream(_:)`.
    public func stream(_ id: String) async throws -> EventStream { try await runtime.stream(id) }

    /// Writes to several streams, all or nothing; see `EventStore.write(_:)`.
    @discardableResult
    public func write(_ writes: [StreamWrite]) async throws -> [Int64] { try await runtime.write(writes) }

    /// Opens a durable subscription; see `EventStore.subscribe(_:options:)`.
    public func subscribe(_ name: String, options: SubscriptionOptions) async throws -> Subscription {
        try await runtime.subscribe(name, options: options)
    }

    /// Every subscription with its position and lag; see `EventStore.subscriptions()`.
    public func subscriptions() async throws -> [SubscriptionInfo] { try await runtime.subscriptions() }

    /// Removes a subscription; see `EventStore.deleteSubscription(_:)`.
    public func deleteSubscription(_ name: String) async throws { try await runtime.deleteSubscription(name) }

    /// Finishes open watches, waits for writes in flight and releases the store; see `EventStore.close()`.
    public func close() async throws { try await runtime.close() }

    /// SQLite's integrity check of the file: one line per problem, none when it is sound.
    package func integrityProblems() async throws -> [String] {
        guard let storage = runtime.storage as? SQLiteStorage else { return [] }
        return try await runtime.gate.run { try await storage.integrityProblems() }
    }
}
