import CoreMetrics
import EventSourcingCore
import Foundation
import Logging

/// The same semantics as every store, on PostgreSQL: for applications that run on several
/// machines and share one database that operators already replicate, back up and fail over.
///
/// Any number of stores, in any number of processes, write and read at once. `@all` stays gap-free
/// and in commit order: ids come from one counter row that every append transaction updates as
/// its last step, so commits happen in id order (see `PostgresSchema`). An append is one round
/// trip (a server-side function); concurrent appends from one process share one transaction
/// (group commit). Watches learn of appends from every process through `LISTEN`/`NOTIFY`.
///
/// A server that goes away makes calls fail with `EventStoreError.unavailable` within
/// `Options.timeout`; the store connects again by itself when the server returns, and watches
/// carry on. An append whose reply was lost may have been stored: retry it with its idempotency keys.
///
/// Subscriptions keep their positions in a table of the schema; one consumer per name, across every
/// process and machine, is an advisory lock held on a connection of the subscription's own, which
/// the server releases when the consumer's process or connection dies (see `PostgresSubscriptions`).
///
/// Thread-safety: safe to use from many tasks at once.
public final class PostgresEventStore: EventStore, RuntimeBackedStore {
    /// How to open a store.
    public struct Options: Sendable {
        /// The PostgreSQL schema holding the store's tables (created on open when missing). A
        /// `?schema=` in the URL takes precedence.
        public var schema: String
        /// Open without writing (no schema creation); writes then throw `EventStoreError.readOnly`.
        public var readOnly: Bool
        /// Most connections of the pool (reads share them; the writer uses one). The listener and
        /// each open `Subscription` have one of their own besides: a subscription's hold on its name
        /// is an advisory lock that lives as long as its connection.
        public var connections: Int
        /// The longest any call waits for the server (connecting included) before it throws
        /// `EventStoreError.unavailable`.
        public var timeout: Duration
        /// How often the head is polled as a safety net for a lost notification.
        public var pollInterval: Duration
        /// Most events one group commit holds.
        public var groupEventsMax: Int
        /// Where the store logs; silent by default.
        public var logger: Logger
        /// Where metrics go; `nil`: the bootstrapped `MetricsSystem` (tests pass their own).
        package var metricsFactory: (any MetricsFactory)? = nil

        /// Creates options; every parameter has a default.
        public init(
            schema: String = "event_sourcing", readOnly: Bool = false, connections: Int = 8,
            timeout: Duration = .seconds(30), pollInterval: Duration = .seconds(1), groupEventsMax: Int = 20_000,
            logger: Logger = Logger(label: "EventSourcing.Postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.schema = schema
            self.readOnly = readOnly
            self.connections = connections
            self.timeout = timeout
            self.pollInterval = pollInterval
            self.groupEventsMax = groupEventsMax
            self.logger = logger
        }
    }

    package let runtime: StoreRuntime

    /// The server and database, without the password.
    public let location: String

    private init(location: String, runtime: StoreRuntime) {
        self.location = location
        self.runtime = runtime
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, the
    /// password optional, `?schema=name` to choose the schema) and creates the store's tables when
    /// they are missing (unless `options.readOnly`).
    /// - Throws: `EventStoreError.invalidArgument` for a malformed URL, a refused login, a missing
    ///   database or (read-only) a missing store; `.unavailable` when the server cannot be reached.
    public static func open(url: String, options: Options = .init()) async throws -> PostgresEventStore {
        let location = try PostgresLocation(url: url)
        guard !options.schema.isEmpty || location.schema != nil else {
            throw EventStoreError.invalidArgument("the schema name is empty")
        }
        guard options.connections >= 1, options.groupEventsMax >= 1 else {
            throw EventStoreError.invalidArgument("connections and groupEventsMax are at least 1")
        }
        let hub = WatchHub()
        let storage = try await PostgresStorage.open(location: location, options: options, hub: hub)
        return PostgresEventStore(
            location: location.description, runtime: StoreRuntime(
                storage: storage, hub: hub, logger: options.logger, metrics: StoreMetrics(store: "postgres", factory: options.metricsFactory)))
    }

    /// Opens, runs `body`, and closes even when `body` throws.
    public nonisolated(nonsending) static func withStore<R: Sendable>(
        url: String, options: Options = .init(), _ body: (PostgresEventStore) async throws -> R
    ) async throws -> R {
        try await closing(try await open(url: url, options: options), body)
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

    /// Finishes open watches, waits for writes in flight and closes the connections; see `EventStore.close()`.
    public func close() async throws { try await runtime.close() }
}

/// Where a store lives: a parsed `postgres://` URL.
struct PostgresLocation: Sendable, CustomStringConvertible {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String?
    var schema: String?

    init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw EventStoreError.invalidArgument(
                "'\(url)' is not a PostgreSQL URL: use postgres://user:password@host:port/database")
        }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = components.port ?? 5432
        user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        password = components.password.flatMap { $0.removingPercentEncoding }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path.removingPercentEncoding
        schema = components.queryItems?.first { $0.name == "schema" }?.value
        guard (1...65535).contains(port) else { throw EventStoreError.invalidArgument("port \(port) is out of range") }
    }

    var description: String {
        "postgres://\(user)@\(host):\(port)/\(database ?? "")" + (schema.map { "?schema=\($0)" } ?? "")
    }
}
