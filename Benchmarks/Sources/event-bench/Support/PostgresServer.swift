import Foundation
import PostgresNIO

/// The PostgreSQL server of the third column: its URL, the schema each workload run gets, and
/// the few questions the runner asks the server directly (its settings, a schema's size), on a
/// short-lived connection of its own.
enum PostgresServer {
    /// The variable `make bench` sets (scripts/postgres-test-server.sh starts a private server).
    static let environmentVariable = "EVENTSOURCING_POSTGRES_URL"

    /// The server URL from the environment, or `nil` when it is unset or empty.
    static var environmentURL: String? {
        guard let url = ProcessInfo.processInfo.environment[environmentVariable], !url.isEmpty else { return nil }
        return url
    }

    /// `url` without its password, to print.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// `base` with its `schema` query item set to `schema` (other query items kept).
    static func url(_ base: String, schema: String) -> String {
        guard var components = URLComponents(string: base) else { return base }
        var items = (components.queryItems ?? []).filter { $0.name != "schema" }
        items.append(URLQueryItem(name: "schema", value: schema))
        components.queryItems = items
        return components.string ?? base
    }

    /// The schema of the workload run whose scratch directory is `directory`:
    /// `/tmp/event-bench-w1-postgres-1A2B3C4D` gives `bench_w1_postgres_1a2b3c4d`. The directory's
    /// random suffix makes it fresh; nothing is dropped afterwards (the benchmark server is
    /// throwaway).
    static func schemaName(forDirectory directory: String) -> String {
        var label = URL(fileURLWithPath: directory).lastPathComponent.lowercased()
        if label.hasPrefix("event-bench-") { label.removeFirst("event-bench-".count) }
        let safe = String(
            label.unicodeScalars.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_" })
        // PostgreSQL identifiers hold at most 63 bytes; the random suffix is at the end, so keep it.
        return "bench_" + String(safe.suffix(57))
    }

    /// What the report says about the server: its version and the settings that decide durability.
    struct Settings: Sendable {
        var version: String
        var fsync: String
        var synchronousCommit: String
        var walSyncMethod: String
        var fullPageWrites: String

        /// Whether commits wait for the write-ahead log to reach the disk, as `.fsync` and SQLite
        /// `FULL` do.
        var isDurable: Bool { fsync == "on" && synchronousCommit != "off" }

        /// `PostgreSQL 15.14 fsync=on synchronous_commit=on`.
        var description: String {
            "PostgreSQL \(version) fsync=\(fsync) synchronous_commit=\(synchronousCommit)"
        }
    }

    /// Reads the server's version and durability settings.
    /// - Throws: when the server cannot be reached or refuses the login.
    static func settings(url: String) async throws -> Settings {
        try await withConnection(url: url) { connection, logger in
            let rows = try await connection.query(
                """
                SELECT current_setting('server_version'), current_setting('fsync'),
                    current_setting('synchronous_commit'), current_setting('wal_sync_method'),
                    current_setting('full_page_writes')
                """, logger: logger)
            for try await (version, fsync, synchronous, walSync, fullPages) in rows.decode(
                (String, String, String, String, String).self)
            {
                return Settings(
                    version: version, fsync: fsync, synchronousCommit: synchronous, walSyncMethod: walSync,
                    fullPageWrites: fullPages)
            }
            throw BenchmarkError("the server returned no settings")
        }
    }

    /// The bytes the tables of the store at `url` (its `?schema=`) take, with their indexes and
    /// TOAST (`pg_total_relation_size`).
    static func schemaBytes(url: String) async throws -> Int {
        let schema = URLComponents(string: url)?.queryItems?.first { $0.name == "schema" }?.value ?? "event_sourcing"
        return try await withConnection(url: url) { connection, logger in
            let rows = try await connection.query(
                """
                SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = \(schema) AND c.relkind = 'r'
                """, logger: logger)
            for try await bytes in rows.decode(Int64.self) { return Int(bytes) }
            return 0
        }
    }

    /// Connects to the server of `url` (no TLS, as the benchmark server listens on 127.0.0.1),
    /// runs `body`, and closes the connection.
    private static func withConnection<R>(
        url: String, _ body: (PostgresConnection, Logger) async throws -> R
    ) async throws -> R {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme.lowercased())
        else { throw BenchmarkError("'\(url)' is not a postgres:// URL") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let configuration = PostgresConnection.Configuration(
            host: components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1", port: components.port ?? 5432,
            username: components.user?.removingPercentEncoding ?? "postgres",
            password: components.password?.removingPercentEncoding,
            database: path.isEmpty ? nil : path.removingPercentEncoding, tls: .disable)
        var logger = Logger(label: "event-bench.postgres")
        logger.logLevel = .critical
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection, logger)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
