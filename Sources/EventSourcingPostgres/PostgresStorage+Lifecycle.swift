import EventSourcingCore
import Logging
import PostgresNIO

/// Deletion, tombstones, truncation, retention, listing and compaction on PostgreSQL.
///
/// What is hidden of a stream is its `stream_lifecycle` row (layout 4), which reads, heads and
/// `append_batch` join in SQL (`PostgresSchema.hides`), so a change is seen at once by every
/// connection and process. A change runs in a transaction that locks the stream's row, as an
/// append does, so it is ordered with the appends to the stream.
extension PostgresStorage {
    /// Applies `change` in one transaction: creates the stream's row if missing and locks it (as
    /// `append_batch` does), reads the version and the lifecycle, resolves the change with
    /// `LifecycleChange.resolve`, writes the `stream_lifecycle` row when it changed, and deletes
    /// the stream's snapshots for a deletion.
    func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle {
        guard !options.readOnly else { throw EventStoreError.readOnly }
        let schema = self.schema
        return try await run("changing what is hidden of '\(change.streamID)'") { client, logger in
            try await client.withConnection { connection in
                try await Self.inTransaction(connection, logger: logger) {
                    try await Self.apply(change, on: connection, schema: schema, logger: logger)
                }
            }
        }
    }

    /// Runs `body` between `BEGIN` and `COMMIT` on `connection`, rolling back when it throws (the
    /// error is rethrown as it is, so a resolved `streamDeleted` or conflict reaches the caller).
    private static func inTransaction<T: Sendable>(
        _ connection: PostgresConnection, logger: Logger, _ body: () async throws -> T
    ) async throws -> T {
        _ = try await connection.query("BEGIN", logger: logger)
        do {
            let result = try await body()
            _ = try await connection.query("COMMIT", logger: logger)
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// The statements of `changeLifecycle`, inside its transaction.
    private static func apply(
        _ change: LifecycleChange, on connection: PostgresConnection, schema: PostgresSchema, logger: Logger
    ) async throws -> StreamLifecycle {
        var stream = PostgresBindings()
        stream.append(change.streamID)
        _ = try await connection.query(
            PostgresQuery(
                unsafeSQL: "INSERT INTO \(schema.table("streams")) (stream_id) VALUES ($1) ON CONFLICT DO NOTHING",
                binds: stream), logger: logger)
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT s.version, coalesce(l.hidden_through, 0), coalesce(l.tombstoned, false), l.max_count,
                        l.max_age_micros
                    FROM \(schema.table("streams")) s LEFT JOIN \(schema.table("stream_lifecycle")) l
                        ON l.stream_id = s.stream_id
                    WHERE s.stream_id = $1 FOR UPDATE OF s
                    """, binds: stream), logger: logger
        ).collect()
        guard let row = rows.first else {
            throw EventStoreError.io("the row of stream '\(change.streamID)' is missing after it was inserted")
        }
        let cells = row.makeRandomAccess()
        let version = try cells[0].decode(Int64.self)
        let current = try lifecycle(from: cells, offset: 1)
        let next = try change.resolve(currentVersion: version, current: current)
        if next != current {
            var bindings = PostgresBindings()
            bindings.append(change.streamID)
            bindings.append(next.hiddenThrough)
            bindings.append(next.isTombstoned)
            bindings.append(next.retention?.maxCount)
            bindings.append(next.retention?.maxAgeMicros)
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(schema.table("stream_lifecycle"))
                            (stream_id, hidden_through, tombstoned, max_count, max_age_micros)
                        VALUES ($1, $2, $3, $4, $5)
                        ON CONFLICT (stream_id) DO UPDATE SET hidden_through = excluded.hidden_through,
                            tombstoned = excluded.tombstoned, max_count = excluded.max_count,
                            max_age_micros = excluded.max_age_micros
                        """, binds: bindings), logger: logger)
        }
        if change.removesSnapshots {
            _ = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "DELETE FROM \(schema.table("snapshots")) WHERE stream_id = $1", binds: stream),
                logger: logger)
        }
        return next
    }

    /// The lifecycle in the four columns from `offset`: `hidden_through`, `tombstoned`,
    /// `max_count`, `max_age_micros` (the first two never NULL).
    private static func lifecycle(from cells: PostgresRandomAccessRow, offset: Int) throws -> StreamLifecycle {
        let maxCount = try cells[offset + 2].decode(Int64?.self)
        let maxAgeMicros = try cells[offset + 3].decode(Int64?.self)
        return StreamLifecycle(
            hiddenThrough: try cells[offset].decode(Int64.self), isTombstoned: try cells[offset + 1].decode(Bool.self),
            retention: maxCount == nil && maxAgeMicros == nil
                ? nil : Retention(maxCount: maxCount, maxAgeMicros: maxAgeMicros))
    }

    /// The stream's `stream_lifecycle` row, `.none` without one (or on a layout without the table).
    func lifecycle(of streamID: String) async throws -> StreamLifecycle {
        guard hasLifecycle else { return .none }
        var bindings = PostgresBindings()
        bindings.append(streamID)
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT hidden_through, tombstoned, max_count, max_age_micros
                FROM \(schema.table("stream_lifecycle")) WHERE stream_id = $1
                """, binds: bindings)
        let rows = try await run("reading what is hidden of '\(streamID)'") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        guard let row = rows.first else { return .none }
        return try Self.lifecycle(from: row.makeRandomAccess(), offset: 0)
    }

    /// Stream ids in byte order (the `streams` primary key is `COLLATE "C"`), by a range scan of
    /// that key: from `prefix` (or past `after`) up to `prefixEnd(prefix)`, skipping streams that
    /// `StreamLifecycle.isListed` refuses (tombstoned, or hidden up to their version; a stream
    /// whose row an append that failed created, at version 0, too).
    /// - Complexity: O(`limit` + unlisted streams in the range) rows of `streams`.
    func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String] {
        var bindings = PostgresBindings()
        var conditions: [String]
        var from = "\(schema.table("streams")) s"
        if hasLifecycle {
            from += " LEFT JOIN \(schema.table("stream_lifecycle")) l ON l.stream_id = s.stream_id"
            conditions = ["s.version > coalesce(l.hidden_through, 0)", "NOT coalesce(l.tombstoned, false)"]
        } else {
            conditions = ["s.version > 0"]
        }
        if !prefix.isEmpty {
            bindings.append(prefix)
            conditions.append("s.stream_id >= $\(bindings.count)")
            if let end = Self.prefixEnd(prefix) {
                bindings.append(end)
                conditions.append("s.stream_id < $\(bindings.count)")
            }
        }
        if let after {
            bindings.append(after)
            conditions.append("s.stream_id > $\(bindings.count)")
        }
        bindings.append(Int64(limit))
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT s.stream_id FROM \(from) WHERE \(conditions.joined(separator: " AND "))
                ORDER BY s.stream_id LIMIT $\(bindings.count)
                """, binds: bindings)
        let rows = try await run("listing streams") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        return try rows.map { try $0.decode(String.self) }
    }

    /// The least string greater than every string that starts with `prefix`, `nil` when there is
    /// none (every scalar of `prefix` is U+10FFFF). Code point order is UTF-8 byte order, so the
    /// ids starting with `prefix` are exactly those in `prefix ..< prefixEnd(prefix)` under
    /// `COLLATE "C"`: the last scalar that can grow is raised by one (past the surrogates, which
    /// are not scalars) and what follows it dropped.
    static func prefixEnd(_ prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            let value = last.value + 1 == 0xD800 ? 0xE000 : last.value + 1
            if let next = Unicode.Scalar(value) {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                view.append(next)
                return String(view)
            }
        }
        return nil
    }

    /// How many hidden events one `DELETE` of `compact` removes: small enough that each statement
    /// is short, and writers (which never wait on these rows) carry on between them.
    static let compactionBatch = 5_000

    /// Deletes every hidden event in batches of `compactionBatch`, each a statement (and a
    /// transaction) of its own: first those hidden by position (a range of the `(stream_id,
    /// version)` index per stream with a `stream_lifecycle` row), then those past `maxAge`. Then
    /// it runs a plain `VACUUM` of `events` and `snapshots`, which makes their space reusable
    /// without blocking readers or writers (`VACUUM FULL` would lock the table for the whole
    /// rewrite).
    ///
    /// `bytesReclaimed` is how much `pg_total_relation_size` of `events` and `snapshots` shrank:
    /// often 0, since a plain `VACUUM` gives back only the empty pages at the end of a table and
    /// keeps the rest for later events (and concurrent writes may grow the tables meanwhile). Rows
    /// are gone from every read at once; their bytes stay in free space (and in the WAL) until
    /// PostgreSQL overwrites them. Sequence ids are never reused: `head` keeps counting. A
    /// `VACUUM` that fails or outlasts `Options.timeout` is logged and left to autovacuum; the
    /// report then says 0 bytes.
    func compact(progress: CompactionProgress?) async throws -> CompactionReport {
        guard !options.readOnly else { throw EventStoreError.readOnly }
        let events = schema.table("events")
        let lifecycle = schema.table("stream_lifecycle")
        let streams = schema.table("streams")
        let positional = "e.version <= \(schema.hiddenThrough("l", streamVersion: "s.version"))"
        let aged = """
            l.max_age_micros IS NOT NULL AND e.version > \(schema.hiddenThrough("l", streamVersion: "s.version"))
                AND \(schema.microseconds("e.recorded_at")) < \(schema.ageCutoff("l"))
            """
        let hidden = { (condition: String) in
            """
            \(lifecycle) l JOIN \(streams) s ON s.stream_id = l.stream_id
                JOIN \(events) e ON e.stream_id = l.stream_id AND \(condition)
            """
        }
        let before = try await relationBytes()
        let count = PostgresQuery(
            unsafeSQL: "SELECT (SELECT count(*) FROM \(hidden(positional))) + (SELECT count(*) FROM \(hidden(aged)))")
        let counted = try await run("counting hidden events") { client, logger in
            try await client.query(count, logger: logger).collect()
        }
        let total = try counted.first?.decode(Int64.self) ?? 0
        var removed: Int64 = 0
        progress?(0, total)
        for condition in [positional, aged] {
            var bindings = PostgresBindings()
            bindings.append(Int64(Self.compactionBatch))
            let batch = PostgresQuery(
                unsafeSQL: """
                    WITH doomed AS (SELECT e.sequence_id FROM \(hidden(condition)) LIMIT $1),
                        gone AS (DELETE FROM \(events) WHERE sequence_id IN (SELECT sequence_id FROM doomed) RETURNING 1)
                    SELECT count(*) FROM gone
                    """, binds: bindings)
            while true {
                let rows = try await run("removing hidden events") { client, logger in
                    // An append that takes a hidden row's key locks that row: a batch meeting
                    // several such rows in the other order can deadlock, and is run again.
                    var attempt = 0
                    while true {
                        do {
                            return try await client.query(batch, logger: logger).collect()
                        } catch where PostgresErrors.isRetryable(error) && attempt < 5 {
                            attempt += 1
                            try await Task.sleep(for: .milliseconds(attempt * 5))
                        }
                    }
                }
                let count = try rows.first?.decode(Int64.self) ?? 0
                removed += count
                progress?(removed, max(total, removed))
                if count < Int64(Self.compactionBatch) { break }
            }
        }
        let vacuum = PostgresQuery(unsafeSQL: "VACUUM \(events), \(schema.table("snapshots"))")
        do {
            _ = try await run("vacuuming \(events)") { client, logger in
                try await client.query(vacuum, logger: logger).collect()
            }
        } catch {
            options.logger.warning(
                "compaction removed the hidden events, but VACUUM did not finish; autovacuum will reclaim the space",
                metadata: ["error": "\(error)"])
            return CompactionReport(eventsRemoved: removed, bytesReclaimed: 0)
        }
        let after = try await relationBytes()
        return CompactionReport(eventsRemoved: removed, bytesReclaimed: max(0, before - after))
    }

    /// `pg_total_relation_size` of `events` and `snapshots` (with their indexes and TOAST).
    private func relationBytes() async throws -> Int64 {
        var bindings = PostgresBindings()
        bindings.append(schema.table("events"))
        bindings.append(schema.table("snapshots"))
        let query = PostgresQuery(
            unsafeSQL:
                "SELECT (pg_total_relation_size(to_regclass($1)) + pg_total_relation_size(to_regclass($2)))::bigint",
            binds: bindings)
        let rows = try await run("measuring the events table") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        return try rows.first?.decode(Int64?.self) ?? 0
    }
}
