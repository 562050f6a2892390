import EventSourcingCore
import Foundation

/// Stream lifecycles on SQLite: the `stream_lifecycle` table (see `SQLiteSchema` in
/// SQLiteSchema+Lifecycle.swift), changed by the writer inside the transaction appends take,
/// joined by every read of a database that has it, and compaction by DELETE and VACUUM.
extension SQLiteStorage {
    /// A stream's row of `stream_lifecycle`.
    struct LifecycleRow {
        var lifecycle: StreamLifecycle
        /// The stream's version when last changed or compacted (its newest rows may be gone).
        var lastVersion: Int64
        /// How many of its rows compaction removed.
        var removedCount: Int64
    }

    /// Decodes `SQLiteSchema.lifecycleRowColumns` from `column` on (hidden_through, tombstoned,
    /// max_count, max_age_micros).
    static func lifecycle(from row: SQLiteStatement, at column: Int32) -> StreamLifecycle {
        StreamLifecycle(
            hiddenThrough: row.int64(column), isTombstoned: row.int64(column + 1) != 0,
            retention: retention(
                maxCount: row.isNull(column + 2) ? nil : row.int64(column + 2),
                maxAgeMicros: row.isNull(column + 3) ? nil : row.int64(column + 3)))
    }

    private static func retention(maxCount: Int64?, maxAgeMicros: Int64?) -> Retention? {
        maxCount == nil && maxAgeMicros == nil ? nil : Retention(maxCount: maxCount, maxAgeMicros: maxAgeMicros)
    }

    /// The lifecycle row of `streamID`, `nil` for none; the caller knows the table exists.
    static func lifecycleRow(of streamID: String, on connection: SQLiteConnection) throws -> LifecycleRow? {
        let query = try connection.statement(SQLiteSchema.lifecycleOf)
        defer { query.reset() }
        query.bind(1, streamID)
        guard try query.step() else { return nil }
        return LifecycleRow(
            lifecycle: lifecycle(from: query, at: 0), lastVersion: query.int64(4), removedCount: query.int64(5))
    }

    /// Whether the current row of a read `...WithLifecycle` (`eventColumns`, then
    /// `SQLiteSchema.lifecycleColumns` from column 8) is hidden at `nowMicros`.
    static func isHidden(row: SQLiteStatement, nowMicros: Int64) -> Bool {
        guard !row.isNull(8) else { return false }
        let lifecycle = lifecycle(from: row, at: 8)
        // The timestamp is parsed again only for an age bound: `event(from:)` has checked it.
        let micros =
            lifecycle.retention?.maxAge == nil ? 0 : (row.string(4).flatMap(PythonTimestamp.parse) ?? Int64.max)
        return lifecycle.hides(
            version: row.int64(7), timestampMicros: micros, streamVersion: row.int64(12), nowMicros: nowMicros)
    }

    /// The committed version of `streamID`: its newest row, or the version its lifecycle row kept.
    private static func streamVersion(
        of streamID: String, row: LifecycleRow?, on connection: SQLiteConnection
    ) throws -> Int64 {
        let query = try connection.statement(SQLiteSchema.streamVersion)
        defer { query.reset() }
        query.bind(1, streamID)
        let newest = try query.step() ? query.int64(0) : 0
        return max(newest, row?.lastVersion ?? 0)
    }

    /// `head(of:)` on a database with the lifecycle table: counts and the newest timestamp of the
    /// visible events only, in one read transaction.
    /// - Complexity: O(visible events) of a stream with a `maxAge`, else O(hidden events not yet
    ///   compacted); for `"@all"`, that over every stream with a lifecycle.
    static func headWithLifecycle(of streamID: String, on connection: SQLiteConnection) throws -> StreamHead {
        try connection.readTransaction {
            let now = Timestamp.nowMicroseconds()
            if streamID == StreamName.all { return try globalHead(on: connection, nowMicros: now) }
            // A stream without a row was never hidden nor compacted.
            guard let row = try lifecycleRow(of: streamID, on: connection) else {
                return try plainHead(of: streamID, on: connection)
            }
            let version = try streamVersion(of: streamID, row: row, on: connection)
            guard version > 0 else { return .empty }
            let lifecycle = row.lifecycle
            let bound = lifecycle.hiddenThrough(streamVersion: version)
            var count: Int64 = 0
            var newest: Int64?
            if lifecycle.retention?.maxAge != nil {
                let rows = try connection.statement(SQLiteSchema.streamRowsAbove)
                defer { rows.reset() }
                rows.bind(1, streamID)
                rows.bind(2, bound)
                while try rows.step() {
                    let micros = rows.string(1).flatMap(PythonTimestamp.parse) ?? Int64.max
                    guard
                        !lifecycle.hides(
                            version: rows.int64(0), timestampMicros: micros, streamVersion: version, nowMicros: now)
                    else { continue }
                    count += 1
                    if newest == nil { newest = micros }
                }
            } else {
                // Versions are gap-free but for the rows compaction removed; those left at or
                // below the bound are hidden.
                let hidden = try connection.statement(SQLiteSchema.streamRowCountThrough)
                defer { hidden.reset() }
                hidden.bind(1, streamID)
                hidden.bind(2, bound)
                count = version - row.removedCount - (try hidden.step() ? hidden.int64(0) : 0)
                if count > 0 {
                    // Rows above the bound exist, so the newest row is one of them.
                    let head = try connection.statement(SQLiteSchema.streamHead)
                    defer { head.reset() }
                    head.bind(1, streamID)
                    if try head.step() { newest = head.string(1).flatMap(PythonTimestamp.parse) }
                }
            }
            return StreamHead(
                version: version, eventCount: count, lastTimestamp: newest.map(Timestamp.date(microseconds:)))
        }
    }

    /// The head of `"@all"` with the lifecycle table, inside the caller's read transaction.
    private static func globalHead(on connection: SQLiteConnection, nowMicros now: Int64) throws -> StreamHead {
        let head = try connection.statement(SQLiteSchema.globalHeadWithLifecycle)
        defer { head.reset() }
        guard try head.step() else { return .empty }
        let version = head.int64(0)
        // Sequence ids are gap-free but for the rows compaction removed.
        var count = version - head.int64(1)
        let byVersion = try connection.statement(SQLiteSchema.hiddenByVersionCount)
        defer { byVersion.reset() }
        if try byVersion.step() { count -= byVersion.int64(0) }
        let byAge = try connection.statement(SQLiteSchema.ageCandidates)
        defer { byAge.reset() }
        while try byAge.step() {
            let micros = byAge.string(1).flatMap(PythonTimestamp.parse) ?? Int64.max
            if lifecycle(from: byAge, at: 2).hides(
                version: byAge.int64(0), timestampMicros: micros, streamVersion: byAge.int64(6), nowMicros: now)
            {
                count -= 1
            }
        }
        // The newest visible event, scanning back past hidden ones.
        var newest: Date?
        var before = Int64.max
        let page: Int64 = 512
        scan: while true {
            let query = try connection.statement(SQLiteSchema.readAllBackwardWithLifecycle)
            defer { query.reset() }
            query.bind(2, before)
            query.bind(3, page)
            var rows: Int64 = 0
            while try query.step() {
                rows += 1
                before = query.int64(0)
                if !isHidden(row: query, nowMicros: now) {
                    newest = query.string(4).flatMap(PythonTimestamp.parse).map(Timestamp.date(microseconds:))
                    break scan
                }
            }
            if rows < page { break }
        }
        return StreamHead(version: version, eventCount: max(0, count), lastTimestamp: newest)
    }

    func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle {
        try await write { connection in
            try connection.transaction {
                try connection.execute(SQLiteSchema.createLifecycle)
                let row = try Self.lifecycleRow(of: change.streamID, on: connection)
                let version = try Self.streamVersion(of: change.streamID, row: row, on: connection)
                let next = try change.resolve(currentVersion: version, current: row?.lifecycle ?? .none)
                let save = try connection.statement(SQLiteSchema.saveLifecycle)
                defer { save.reset() }
                save.bind(1, change.streamID)
                save.bind(2, next.hiddenThrough)
                save.bind(3, next.isTombstoned ? 1 : 0)
                if let count = next.retention?.maxCount { save.bind(4, count) } else { save.bind(4, nil as String?) }
                if let age = next.retention?.maxAgeMicros { save.bind(5, age) } else { save.bind(5, nil as String?) }
                save.bind(6, version)
                try save.run()
                if change.removesSnapshots {
                    let delete = try connection.statement(SQLiteSchema.deleteSnapshotsOfStream)
                    defer { delete.reset() }
                    delete.bind(1, change.streamID)
                    try delete.run()
                }
                return next
            }
        }
    }

    func lifecycle(of streamID: String) async throws -> StreamLifecycle {
        try await readers.run { connection in
            guard try connection.hasLifecycleTable() else { return .none }
            return try Self.lifecycleRow(of: streamID, on: connection)?.lifecycle ?? .none
        }
    }

    func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String] {
        // The ids starting with `prefix` are those from it (inclusive) below its successor: the
        // prefix with its last byte raised (no byte of UTF-8 is 0xFF, so that never overflows,
        // and 0xFF alone is above every id).
        var successor = Array(prefix.utf8)
        if let last = successor.last {
            precondition(last < 0xFF, "UTF-8 has no byte 0xFF")
            successor[successor.count - 1] = last + 1
        } else {
            successor = [0xFF]
        }
        let upper = successor
        let exclusive = after.map { !$0.utf8.lexicographicallyPrecedes(prefix.utf8) } ?? false
        let lower = exclusive ? after! : prefix
        return try await readers.run { connection in
            let hasLifecycle = try connection.hasLifecycleTable()
            let sql =
                switch (exclusive, hasLifecycle) {
                case (false, false): SQLiteSchema.streamIDsFrom
                case (true, false): SQLiteSchema.streamIDsAfter
                case (false, true): SQLiteSchema.streamIDsFromWithLifecycle
                case (true, true): SQLiteSchema.streamIDsAfterWithLifecycle
                }
            let query = try connection.statement(sql)
            defer { query.reset() }
            query.bind(1, lower)
            query.bind(2, textBytes: upper)
            query.bind(3, Int64(limit))
            var ids: [String] = []
            while try query.step() { ids.append(query.string(0) ?? "") }
            return ids
        }
    }

    /// Deletes the hidden rows (and so their keys) in one transaction with `secure_delete` on,
    /// then rebuilds the file with `VACUUM` and empties the WAL with `wal_checkpoint(TRUNCATE)`,
    /// so that no byte of a removed event is left in the database, its WAL or a journal. Writers
    /// wait on the writer thread meanwhile; readers go on in WAL mode. Each step is atomic, so a
    /// crash loses no visible event. Progress counts streams with a lifecycle.
    func compact(progress: CompactionProgress?) async throws -> CompactionReport {
        let path = self.path
        return try await write { connection in
            guard try connection.hasLifecycleTable() else {
                progress?(0, 0)
                return CompactionReport(eventsRemoved: 0, bytesReclaimed: 0)
            }
            let bytesBefore = Self.fileBytes(path: path, suffixes: ["", "-wal"])
            let previous = try connection.statement(SQLiteSchema.secureDelete)
            let wasSecure = try previous.step() && previous.int64(0) != 0
            previous.reset()
            try connection.execute("\(SQLiteSchema.secureDelete) = ON")
            defer { if !wasSecure { try? connection.execute("\(SQLiteSchema.secureDelete) = OFF") } }
            let removed = try connection.transaction { try Self.deleteHiddenRows(on: connection, progress: progress) }
            guard removed > 0 else { return CompactionReport(eventsRemoved: 0, bytesReclaimed: 0) }
            try connection.execute(SQLiteSchema.vacuum)
            try Self.truncateWAL(on: connection)
            let bytesAfter = Self.fileBytes(path: path, suffixes: ["", "-wal"])
            return CompactionReport(eventsRemoved: removed, bytesReclaimed: max(0, bytesBefore - bytesAfter))
        }
    }

    /// Deletes every hidden row, stream by stream, inside the caller's transaction.
    /// - Returns: How many rows were deleted.
    private static func deleteHiddenRows(on connection: SQLiteConnection, progress: CompactionProgress?) throws
        -> Int64
    {
        var streams: [(id: String, row: LifecycleRow)] = []
        let all = try connection.statement(SQLiteSchema.allLifecycles)
        while try all.step() {
            streams.append(
                (
                    all.string(0) ?? "",
                    LifecycleRow(
                        lifecycle: lifecycle(from: all, at: 1), lastVersion: all.int64(5), removedCount: all.int64(6))
                ))
        }
        all.reset()
        let now = Timestamp.nowMicroseconds()
        var removed: Int64 = 0
        for (index, stream) in streams.enumerated() {
            let version = try streamVersion(of: stream.id, row: stream.row, on: connection)
            let lifecycle = stream.row.lifecycle
            let bound = lifecycle.hiddenThrough(streamVersion: version)
            let delete = try connection.statement(SQLiteSchema.deleteStreamThrough)
            delete.bind(1, stream.id)
            delete.bind(2, bound)
            try delete.run()
            var count = connection.changes
            delete.reset()
            if lifecycle.ageCutoff(nowMicros: now) != nil {
                var hidden: [Int64] = []
                let rows = try connection.statement(SQLiteSchema.streamRowIDsAbove)
                rows.bind(1, stream.id)
                rows.bind(2, bound)
                while try rows.step() {
                    let micros = rows.string(2).flatMap(PythonTimestamp.parse) ?? Int64.max
                    if lifecycle.hides(
                        version: rows.int64(1), timestampMicros: micros, streamVersion: version, nowMicros: now)
                    {
                        hidden.append(rows.int64(0))
                    }
                }
                rows.reset()
                let deleteOne = try connection.statement(SQLiteSchema.deleteEvent)
                for sequenceID in hidden {
                    deleteOne.reset()
                    deleteOne.bind(1, sequenceID)
                    try deleteOne.run()
                }
                deleteOne.reset()
                count += Int64(hidden.count)
            }
            let record = try connection.statement(SQLiteSchema.recordCompaction)
            record.bind(1, stream.id)
            record.bind(2, version)
            record.bind(3, count)
            try record.run()
            record.reset()
            removed += count
            progress?(Int64(index + 1), Int64(streams.count))
        }
        if streams.isEmpty { progress?(0, 0) }
        return removed
    }

    /// Checkpoints the whole WAL into the database and truncates it to zero bytes, retrying a few
    /// times while a reader holds an older snapshot (each attempt waits up to the busy timeout).
    private static func truncateWAL(on connection: SQLiteConnection) throws {
        for attempt in 1...5 {
            let checkpoint = try connection.statement(SQLiteSchema.checkpointTruncate)
            defer { checkpoint.reset() }
            let isBusy = try checkpoint.step() && checkpoint.int64(0) != 0
            if !isBusy { return }
            if attempt < 5 { usleep(20_000) }
        }
        throw EventStoreError.io(
            "'\(connection.path)': compaction could not empty the WAL (wal_checkpoint(TRUNCATE) stayed busy): "
                + "the removed events' bytes may remain in it until the next checkpoint; run compact() again")
    }

    /// The total size of `path` followed by each suffix, 0 for a file that is missing.
    static func fileBytes(path: String, suffixes: [String]) -> Int64 {
        suffixes.reduce(Int64(0)) { total, suffix in
            let size = (try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? NSNumber)??
                .int64Value
            return total + (size ?? 0)
        }
    }
}
