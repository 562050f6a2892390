import EventSourcingCore
import Logging
import PostgresNIO
import Synchronization

/// A connection of its own, outside the pool, for what must stay on one server session: a
/// session-level advisory lock lives exactly as long as the session that took it, and a pooled
/// connection goes to other callers between queries.
///
/// Every call is bounded by `Options.timeout` (and ends at once while `PostgresReachability` knows
/// the server to be gone), as the pool's calls are, and errors come out mapped to
/// `EventStoreError`s. A connection is never left open behind the caller's back: when `open` gives
/// up (timeout, outage, cancellation) while the connect is still under way, whichever side comes
/// second closes it. (postgres-nio also asserts that every connection is closed before it is
/// released.)
///
/// Thread-safety: immutable apart from the closed flag, behind a mutex; postgres-nio queues
/// concurrent queries on one connection.
final class PostgresDedicatedConnection: Sendable {
    /// The open connection.
    private let connection: PostgresConnection
    private let options: PostgresEventStore.Options
    private let reachability: PostgresReachability
    private let closed = Mutex(false)

    private init(
        connection: PostgresConnection, options: PostgresEventStore.Options, reachability: PostgresReachability
    ) {
        self.connection = connection
        self.options = options
        self.reachability = reachability
    }

    /// Connects, bounded by `options.timeout`.
    /// - Parameters:
    ///   - configuration: the store's direct-connection configuration (host, login, TLS, connect
    ///     timeout), as the listener uses.
    ///   - label: shown as the session's `application_name` (in `pg_stat_activity`), cut to the
    ///     63 bytes PostgreSQL keeps.
    ///   - id: the connection's id in log messages.
    ///   - context: what is being done, for error messages ("subscribing 'billing'").
    /// - Throws: `EventStoreError.unavailable` when the server cannot be reached in time, or the
    ///   typed error of what the server refused (a login, a database).
    static func open(
        configuration: PostgresConnection.Configuration, label: String, id: Int, options: PostgresEventStore.Options,
        reachability: PostgresReachability, context: String
    ) async throws -> PostgresDedicatedConnection {
        var configuration = configuration
        configuration.options.additionalStartupParameters.append(("application_name", Self.applicationName(label)))
        let handoff = Handoff()
        let logger = options.logger
        do {
            let connection = try await withTimeoutMapped(options.timeout, context, reachability: reachability) {
                [configuration] in
                let connection = try await PostgresConnection.connect(
                    configuration: configuration, id: id, logger: logger)
                guard handoff.offer(connection) else {
                    // The caller gave up already: nobody else will close it.
                    try? await connection.close()
                    throw CancellationError()
                }
                return connection
            }
            return PostgresDedicatedConnection(connection: connection, options: options, reachability: reachability)
        } catch {
            // Connected, but the answer came too late: the caller's error stands, the connection goes.
            if let late = handoff.abandon() { await Self.close(late, options: options) }
            throw error
        }
    }

    /// `label` as an `application_name`: at most 63 UTF-8 bytes, cut at a character boundary.
    private static func applicationName(_ label: String) -> String {
        var name = ""
        var bytes = 0
        for character in label {
            bytes += character.utf8.count
            guard bytes <= 63 else { break }
            name.append(character)
        }
        return name
    }

    /// Whether the connection was closed, by `close()` or because it was lost.
    var isClosed: Bool { closed.withLock { $0 } || connection.isClosed }

    /// Runs `query` and collects its rows, bounded by the timeout.
    /// - Throws: the typed error (`PostgresErrors.map`) of what failed, with `context`.
    func query(_ query: PostgresQuery, _ context: String) async throws -> [PostgresRow] {
        let connection = self.connection
        let logger = options.logger
        return try await withTimeoutMapped(options.timeout, context, reachability: reachability) {
            try await connection.query(query, logger: logger).collect()
        }
    }

    /// Closes the connection (the server then ends the session, and its advisory locks with it),
    /// waiting at most the timeout. Calling it again does nothing.
    func close() async {
        let wasOpen = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard wasOpen else { return }
        await Self.close(connection, options: options)
    }

    private static func close(_ connection: PostgresConnection, options: PostgresEventStore.Options) async {
        do {
            try await withTimeout(options.timeout, "closing a dedicated connection") { try await connection.close() }
        } catch {
            options.logger.debug("closing a dedicated connection failed", metadata: ["error": "\(error)"])
        }
    }

    /// Hands a connection from the task that connects to the caller of `open`, which may have
    /// given up meanwhile: whichever of `offer` and `abandon` comes second owns the connection
    /// and closes it.
    ///
    /// Thread-safety: state behind a mutex.
    private final class Handoff: Sendable {
        private struct State {
            var connection: PostgresConnection?
            var isAbandoned = false
        }
        private let state = Mutex(State())

        /// Keeps `connection` for the caller; false when the caller gave up (the offerer closes it).
        func offer(_ connection: PostgresConnection) -> Bool {
            state.withLock { state in
                guard !state.isAbandoned else { return false }
                state.connection = connection
                return true
            }
        }

        /// The caller gives up: returns the connection offered already, for the caller to close.
        func abandon() -> PostgresConnection? {
            state.withLock { state in
                state.isAbandoned = true
                defer { state.connection = nil }
                return state.connection
            }
        }
    }
}
