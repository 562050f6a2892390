import EventSourcingCore
import Foundation

/// The storage protocol on SQLite: one writer connection on its own thread, and a pool of
/// read-only connections on theirs, over a database in WAL mode.
///
/// Thread-safety: safe to use from any task; connections are confined to their worker threads.
final class SQLiteStorage: EventStorage {
    let subscriptions: any SubscriptionStorage
    private let writer: ConnectionWorkers?
    let readers: ConnectionWorkers
    private let changeWatcher: SQLiteChangeWatcher
    let path: String

    /// Opens (creating when allowed) the database at `path` and its connections.
    init(path: String, options: SQLiteEventStore.Options, hub: WatchHub) throws {
        self.path = path
        var writerConnection: SQLiteConnection?
        if !options.readOnly {
            let connection = try SQLiteConnection(path: path, readOnly: false)
            try connection.execute("PRAGMA busy_timeout = \(options.busyTimeoutMilliseconds)")
            try connection.execute("PRAGMA journal_mode = WAL")
            try connection.execute("PRAGMA synchronous = \(options.synchronous.pragmaValue)")
            try connection.execute(SQLiteSchema.createEvents)
            try connection.execute(SQLiteSchema.createSnapshots)
            writerConnection = connection
        }
        var readerConnections: [SQLiteConnection] = []
        for _ in 0..<max(1, options.readerCount) {
            let connection = try SQLiteConnection(path: path, readOnly: true)
            try connection.execute("PRAGMA busy_timeout = \(options.busyTimeoutMilliseconds)")
            readerConnections.append(connection)
        }
        if options.readOnly {
            // A read-only open must find a store, not an empty file SQLite would treat as one. The
            // statement is reset at once: a statement left stepping pins its connection to a snapshot.
            let probe = try readerConnections[0].statement("SELECT 1 FROM events LIMIT 1")
            defer { probe.reset() }
            _ = try probe.step()
        }
        changeWatcher = try SQLiteChangeWatcher(path: path, hub: hub, logger: options.logger)
        writer = writerConnection.map { ConnectionWorkers(name: "sqlite-writer", connections: [$0]) }
        readers = ConnectionWorkers(name: "sqlite-reader", connections: readerConnections)
        subscriptions = SQLiteSubscriptions(path: path, writer: writer, readers: readers)
    }

    /// Runs `body` on the writer connection's thread.
    /// - Throws: `EventStoreError.readOnly` for a read-only open, or what `body` throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        guard let writer else { throw EventStoreError.readOnly }
        return try await writer.run(body)
    }

    func append(_ request: AppendRequest) async throws -> AppendResult {
        try await write { connection in
            try connection.transaction { try Self.append(request, on: connection) }
        }
    }

    /// One transaction for every request: a conflict or a failure in any rolls all of them back.
    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult] {
        try await write { connection in
            try connection.transaction { try requests.map { try Self.append($0, on: connection) } }
        }
    }

    /// Resolves and inserts one request, inside the caller's transaction.
    private static func append(_ request: AppendRequest, on connection: SQLiteConnection) throws -> AppendResult {
        let versionQuery = try connection.statement(SQLiteSchema.streamVersion)
        versionQuery.bind(1, request.streamID)
        var current = try versionQuery.step() ? versionQuery.int64(0) : 0
        versionQuery.reset()
        var lifecycle = StreamLifecycle.none
        if try connection.hasLifecycleTable(), let row = try lifecycleRow(of: request.streamID, on: connection) {
            lifecycle = row.lifecycle
            current = max(current, row.lastVersion)
        }
        let keyQuery = try connection.statement(
            lifecycle.isNone ? SQLiteSchema.keyExists : SQLiteSchema.keyEvent)
        let now = Timestamp.nowMicroseconds()
        let events = try request.resolve(currentVersion: current, lifecycle: lifecycle) { key in
            keyQuery.reset()
            keyQuery.bind(1, request.streamID)
            keyQuery.bind(2, key)
            guard try keyQuery.step() else { return false }
            if lifecycle.isNone { return true }
            let micros = keyQuery.string(2).flatMap(PythonTimestamp.parse) ?? Int64.max
            guard
                lifecycle.hides(
                    version: keyQuery.int64(1), timestampMicros: micros, streamVersion: current, nowMicros: now)
            else { return true }
            // The hidden event gives its key up, for `UNIQUE(stream_id, idempotency_key)`; the
            // transaction undoes this if the append fails.
            let sequenceID = keyQuery.int64(0)
            keyQuery.reset()
            let forget = try connection.statement(SQLiteSchema.forgetKey)
            defer { forget.reset() }
            forget.bind(1, sequenceID)
            try forget.run()
            return false
        }
        keyQuery.reset()
        guard !events.isEmpty else { return AppendResult(version: current, appendedCount: 0) }
        let timestamp = PythonTimestamp.format(
            microseconds: request.timestampMicros ?? Timestamp.nowMicroseconds())
        let insert = try connection.statement(SQLiteSchema.insertEvent)
        var version = current
        var metadataText: [UInt8] = []
        for event in events {
            version += 1
            insert.reset()
            insert.bind(1, request.streamID)
            insert.bind(2, event.idempotencyKey)
            insert.bind(3, event.type)
            insert.bind(4, timestamp)
            if let metadata = event.metadata {
                metadataText.removeAll(keepingCapacity: true)
                JSONValue.writeObject(metadata, to: &metadataText)
                insert.bind(5, String(decoding: metadataText, as: UTF8.self))
            } else {
                insert.bind(5, nil as String?)
            }
            insert.bind(6, event.data)
            insert.bind(7, version)
            try insert.run()
        }
        insert.reset()
        return AppendResult(version: version, appendedCount: events.count)
    }

    func read(_ request: ReadRequest) async throws -> ReadPage {
        try await readers.run { connection in
            // A store never given a lifecycle change reads as before, without the join.
            let hasLifecycle = try connection.hasLifecycleTable()
            let sql: String
            switch (request.isAll, request.direction, hasLifecycle) {
            case (false, .forward, false): sql = SQLiteSchema.readStreamForward
            case (false, .backward, false): sql = SQLiteSchema.readStreamBackward
            case (true, .forward, false): sql = SQLiteSchema.readAllForward
            case (true, .backward, false): sql = SQLiteSchema.readAllBackward
            case (false, .forward, true): sql = SQLiteSchema.readStreamForwardWithLifecycle
            case (false, .backward, true): sql = SQLiteSchema.readStreamBackwardWithLifecycle
            case (true, .forward, true): sql = SQLiteSchema.readAllForwardWithLifecycle
            case (true, .backward, true): sql = SQLiteSchema.readAllBackwardWithLifecycle
            }
            let now = hasLifecycle ? Timestamp.nowMicroseconds() : 0
            let query = try connection.statement(sql)
            defer { query.reset() }
            if !request.isAll { query.bind(1, request.streamID) }
            query.bind(2, request.after)
            query.bind(3, Int64(request.limit))
            var builder = PageBuilder(request: request)
            var rows = 0
            var stoppedEarly = false
            while try query.step() {
                rows += 1
                let event = try SQLiteStorage.event(from: query, path: connection.path)
                let isHidden = hasLifecycle && SQLiteStorage.isHidden(row: query, nowMicros: now)
                if !builder.add(event, isHidden: isHidden) {
                    stoppedEarly = try query.step()
                    break
                }
            }
            return builder.finish(sourceExhausted: !stoppedEarly && rows < request.limit)
        }
    }

    /// Decodes the current row of a query selecting `SQLiteSchema.eventColumns`.
    static func event(from row: SQLiteStatement, path: String) throws -> StoredEvent {
        let sequenceID = row.int64(0)
        func damaged(_ what: String) -> EventStoreError {
            .corruption("'\(path)', events row id \(sequenceID): \(what)")
        }
        guard let streamID = row.string(1), let type = row.string(3) else {
            throw damaged("missing stream_id or event_type")
        }
        guard let timestampText = row.string(4), let micros = PythonTimestamp.parse(timestampText) else {
            throw damaged("timestamp is not an ISO 8601 date")
        }
        var metadata: [String: JSONValue]?
        if !row.isNull(5) {
            let parsed = try? row.withBytes(5) { try JSONValue.parse($0, allowingNonFiniteNumbers: true) }
            guard case .object(let members)? = parsed else { throw damaged("metadata is not a JSON object") }
            metadata = members
        }
        return StoredEvent(
            // As the Python package: an empty key counts as none.
            id: row.string(2).flatMap { $0.isEmpty ? nil : $0 } ?? String(sequenceID), streamID: streamID,
            sequenceID: sequenceID,
            version: row.int64(7), timestamp: Timestamp.date(microseconds: micros), type: type,
            data: row.data(6), metadata: metadata)
    }

    func head(of streamID: String) async throws -> StreamHead {
        try await readers.run { connection in
            if try connection.hasLifecycleTable() { return try Self.headWithLifecycle(of: streamID, on: connection) }
            return try Self.plainHead(of: streamID, on: connection)
        }
    }

    /// The head of `streamID` (or `"@all"`) when nothing of it was ever hidden or compacted.
    static func plainHead(of streamID: String, on connection: SQLiteConnection) throws -> StreamHead {
        let isAll = streamID == StreamName.all
        let query = try connection.statement(isAll ? SQLiteSchema.globalHead : SQLiteSchema.streamHead)
        defer { query.reset() }
        if !isAll { query.bind(1, streamID) }
        guard try query.step() else { return .empty }
        let version = query.int64(0)
        let timestamp = query.string(1).flatMap(PythonTimestamp.parse).map(Timestamp.date(microseconds:))
        // Versions and sequence ids are gap-free, so the head is also the count.
        return StreamHead(version: version, eventCount: version, lastTimestamp: timestamp)
    }

    func saveSnapshot(_ snapshot: Snapshot) async throws {
        try await write { connection in
            let statement = try connection.statement(SQLiteSchema.saveSnapshot)
            defer { statement.reset() }
            statement.bind(1, snapshot.streamID)
            statement.bind(2, snapshot.projectionName)
            statement.bind(3, snapshot.version)
            statement.bind(4, snapshot.state)
            statement.bind(5, PythonTimestamp.format(microseconds: Timestamp.microseconds(snapshot.timestamp)))
            try statement.run()
        }
    }

    func loadSnapshot(streamID: String, projection: String) async throws -> Snapshot? {
        try await readers.run { connection in
            let query = try connection.statement(SQLiteSchema.loadSnapshot)
            defer { query.reset() }
            query.bind(1, streamID)
            query.bind(2, projection)
            guard try query.step() else { return nil }
            return try SQLiteStorage.snapshot(from: query, path: connection.path)
        }
    }

    /// Decodes the current row of a query selecting a snapshot's five columns.
    static func snapshot(from row: SQLiteStatement, path: String) throws -> Snapshot {
        let streamID = row.string(0) ?? ""
        let projection = row.string(1) ?? ""
        guard let timestampText = row.string(4), let micros = PythonTimestamp.parse(timestampText) else {
            throw EventStoreError.corruption(
                "'\(path)', snapshot of '\(streamID)'/'\(projection)': timestamp is not an ISO 8601 date")
        }
        return Snapshot(
            streamID: streamID, projectionName: projection, version: row.int64(2), state: row.data(3),
            timestamp: Timestamp.date(microseconds: micros))
    }

    func snapshots() async throws -> [Snapshot] {
        try await readers.run { connection in
            let query = try connection.statement(SQLiteSchema.allSnapshots)
            defer { query.reset() }
            var snapshots: [Snapshot] = []
            while try query.step() { snapshots.append(try SQLiteStorage.snapshot(from: query, path: connection.path)) }
            return snapshots
        }
    }

    func statistics() async throws -> StoreStatistics {
        let path = self.path
        let head = try await head(of: StreamName.all)
        return try await readers.run { connection in
            let streams = try connection.statement(SQLiteSchema.streamCount)
            defer { streams.reset() }
            let streamCount = try streams.step() ? Int(streams.int64(0)) : 0
            let snapshots = try connection.statement(SQLiteSchema.snapshotCount)
            defer { snapshots.reset() }
            let snapshotCount = try snapshots.step() ? Int(snapshots.int64(0)) : 0
            let bytes = ["", "-wal", "-shm"].reduce(Int64(0)) { total, suffix in
                total
                    + Int64(
                        (try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? NSNumber)??
                            .intValue ?? 0)
            }
            return StoreStatistics(
                streams: streamCount, events: head.eventCount, segments: nil, bytesOnDisk: bytes,
                snapshots: snapshotCount)
        }
    }

    /// SQLite's own check of the file (`PRAGMA integrity_check`): one line per problem, none when sound.
    func integrityProblems() async throws -> [String] {
        try await readers.run { connection in
            let check = try connection.statement(SQLiteSchema.integrityCheck)
            defer { check.reset() }
            var lines: [String] = []
            while try check.step() { lines.append(check.string(0) ?? "") }
            return lines == ["ok"] ? [] : lines.map { "'\(connection.path)': \($0)" }
        }
    }

    func close() async throws {
        let changeWatcher = self.changeWatcher
        try await DedicatedThread.run(name: "sqlite-watcher-stop") { changeWatcher.stop() }
        await writer?.shutdown()
        await readers.shutdown()
    }
}
