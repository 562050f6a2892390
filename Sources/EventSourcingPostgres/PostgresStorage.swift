import EventSourcingCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// The storage protocol on PostgreSQL: reads, heads and snapshots on a pool of connections
/// (`PostgresClient`), appends through the group-committing `PostgresWriter`, and other
/// processes' appends learnt through `PostgresListener`.
///
/// Every call is bounded by `Options.timeout`; a server that is gone makes calls fail with
/// `EventStoreError.unavailable`, and the pool connects again by itself when it returns.
///
/// Thread-safety: immutable after `init`; the client, writer and listener are thread-safe.
final class PostgresStorage: EventStorage {
    let client: PostgresClient
    let schema: PostgresSchema
    let options: PostgresEventStore.Options
    private let clientTask: Task<Void, Never>
    private let writer: PostgresWriter?
    private let listener: PostgresListener
    private let reachability: PostgresReachability
    private let postgresSubscriptions: PostgresSubscriptions

    /// Where the store keeps its subscriptions: the `subscriptions` table, held by advisory locks.
    var subscriptions: any SubscriptionStorage { postgresSubscriptions }

    private init(
        client: PostgresClient, clientTask: Task<Void, Never>, schema: PostgresSchema,
        options: PostgresEventStore.Options, writer: PostgresWriter?, listener: PostgresListener,
        reachability: PostgresReachability, subscriptions: PostgresSubscriptions
    ) {
        self.reachability = reachability
        postgresSubscriptions = subscriptions
        self.client = client
        self.clientTask = clientTask
        self.schema = schema
        self.options = options
        self.writer = writer
        self.listener = listener
    }

    /// Connects, creates the schema when missing (unless read-only) and checks its version, and
    /// starts listening.
    static func open(location: PostgresLocation, options: PostgresEventStore.Options, hub: WatchHub) async throws
        -> PostgresStorage
    {
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: .disable)
        configuration.options.maximumConnections = max(2, options.connections)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = options.timeout
        let schema = PostgresSchema(name: location.schema ?? options.schema)
        var direct = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: .disable)
        let (seconds, attoseconds) = options.timeout.components
        direct.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        // One connection of its own checks (and creates) the schema: a server that refuses
        // connections fails the open at once, not after the pool has retried until the timeout.
        try await prepare(configuration: direct, schema: schema, options: options)
        let client = PostgresClient(configuration: configuration, backgroundLogger: options.logger)
        let clientTask = Task { await client.run() }
        let reachability = PostgresReachability()
        let listener = PostgresListener(
            configuration: direct, client: client, schema: schema, options: options, hub: hub,
            reachability: reachability)
        let writer =
            options.readOnly
            ? nil
            : PostgresWriter(client: client, schema: schema, options: options, reachability: reachability)
        let subscriptions = PostgresSubscriptions(
            configuration: direct, client: client, schema: schema, options: options, reachability: reachability)
        return PostgresStorage(
            client: client, clientTask: clientTask, schema: schema, options: options, writer: writer,
            listener: listener, reachability: reachability, subscriptions: subscriptions)
    }

    /// Checks the layout's version and, when the schema is missing or older (and the store is
    /// writable), creates what is missing, under an advisory lock so that stores opening at once do
    /// not race.
    private static func prepare(
        configuration: PostgresConnection.Configuration, schema: PostgresSchema, options: PostgresEventStore.Options
    ) async throws {
        let context = "opening the event store in schema \(schema.quoted)"
        try await withTimeoutMapped(options.timeout, context) {
            let connection = try await PostgresConnection.connect(
                configuration: configuration, id: 0, logger: options.logger)
            do {
                let current = try await version(connection, schema: schema, options: options)
                if !options.readOnly, current != PostgresSchema.version {
                    try await create(connection, schema: schema, options: options)
                }
                try await checkVersion(connection, schema: schema, options: options, mayBeMissing: false)
                try? await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }

    private static func create(
        _ connection: PostgresConnection, schema: PostgresSchema, options: PostgresEventStore.Options
    ) async throws {
        _ = try await connection.query("BEGIN", logger: options.logger)
        do {
            let lockKey = Int64(bitPattern: StableHash.hash(schema.quoted))
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: options.logger)
            // A layout from a later release is refused before anything is changed.
            try await checkVersion(connection, schema: schema, options: options, mayBeMissing: true)
            for statement in schema.creation {
                _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: options.logger)
            }
            _ = try await connection.query("COMMIT", logger: options.logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: options.logger)
            throw error
        }
    }

    /// The layout version the schema holds, `nil` when it holds no store.
    private static func version(
        _ connection: PostgresConnection, schema: PostgresSchema, options: PostgresEventStore.Options
    ) async throws -> Int? {
        let name = schema.table("schema_version")
        let exists = try await connection.query(
            "SELECT to_regclass(\(name)) IS NOT NULL", logger: options.logger
        ).collect()
        guard try exists.first?.decode(Bool.self) == true else { return nil }
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT version FROM \(name)"), logger: options.logger
        ).collect()
        return Int(try rows.first?.decode(Int32.self) ?? 0)
    }

    private static func checkVersion(
        _ connection: PostgresConnection, schema: PostgresSchema, options: PostgresEventStore.Options,
        mayBeMissing: Bool
    ) async throws {
        guard let version = try await version(connection, schema: schema, options: options) else {
            if mayBeMissing { return }
            throw EventStoreError.invalidArgument(
                "the database holds no event store in schema \(schema.quoted): open it once without readOnly to create one"
            )
        }
        guard version <= PostgresSchema.version else {
            throw EventStoreError.corruption(
                "schema \(schema.quoted) has layout version \(version); this release reads up to "
                    + "\(PostgresSchema.version): a later release wrote it")
        }
    }

    // MARK: EventStorage

    func append(_ request: AppendRequest) async throws -> AppendResult {
        guard let writer else { throw EventStoreError.readOnly }
        return try await writer.append(request)
    }

    /// How many positions a filtered read's page may cover, in pages' worth of events: a
    /// filter that selects few events still fills pages, in a bounded scan.
    static let filteredSpanPages: Int64 = 256

    /// Reads one page: the events at the next positions, by the index, in a range of positions
    /// that bounds the scan whatever plan the server picks (positions are gap-free, so a page of
    /// `limit` positions without a filter holds `limit` events).
    ///
    /// The range ends at the head read in the same statement (so in the same snapshot, which holds
    /// every event up to it, since ids are taken in commit order): a page that covered its range
    /// reports the range's end as scanned, which moves a filtered read past what it skipped. The
    /// byte budget is a running sum of the sizes PageBuilder counts (a window over the limited rows
    /// in index order), so the server sends no event the page would drop.
    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult] {
        guard let writer else { throw EventStoreError.readOnly }
        return try await writer.appendAtomically(requests)
    }

    func read(_ request: ReadRequest) async throws -> ReadPage {
        let isAll = request.isAll
        let position = isAll ? "e.sequence_id" : "e.version"
        let forward = request.direction == .forward
        let order = forward ? "ASC" : "DESC"
        let span = Int64(request.limit) * (request.filter == nil ? 1 : Self.filteredSpanPages)
        var bindings = PostgresBindings()
        let head =
            isAll
            ? "(SELECT sequence_id FROM \(schema.table("head")))"
            : "(SELECT version FROM \(schema.table("streams")) WHERE stream_id = $1)"
        var sql = "SELECT \(schema.eventColumns), octet_length(e.data) + octet_length(e.event_type) + 64 AS size, "
        sql += "\(position) AS position FROM \(schema.table("events")) e WHERE "
        if !isAll {
            bindings.append(request.streamID)
            sql += "e.stream_id = $\(bindings.count) AND "
        }
        bindings.append(request.after)
        let after = "$\(bindings.count)"
        bindings.append(span)
        let spanParameter = "$\(bindings.count)"
        // The range, clamped to the head: (after, after + span] forward, [start - span, start)
        // backward, where start is `after` or, reading from the newest, just past the head.
        let start = "least(\(after), h.head + 1)"
        sql +=
            forward
            ? "\(position) > \(after) AND \(position) <= least(\(after) + least(\(spanParameter), \(Int64.max) - \(after)), h.head)"
            : "\(position) < \(start) AND \(position) >= \(start) - \(spanParameter)"
        if let filter = request.filter { sql += PostgresFilterSQL(filter, bindings: &bindings).sql }
        bindings.append(Int64(request.limit))
        sql += " ORDER BY \(position) \(order) LIMIT $\(bindings.count)"
        bindings.append(Int64(request.byteBudget))
        let query = """
            SELECT h.head, p.* FROM (SELECT coalesce(\(head), 0) AS head) AS h LEFT JOIN LATERAL (
                SELECT * FROM (SELECT *, sum(size) OVER (ORDER BY position \(order) ROWS UNBOUNDED PRECEDING)
                    AS running FROM (\(sql)) AS limited) AS sized
                WHERE running - size < $\(bindings.count)) AS p ON true
            """
        let statement = PostgresQuery(unsafeSQL: query, binds: bindings)
        let client = self.client
        let logger = options.logger
        let context = "reading '\(request.streamID)'"
        let rows = try await withTimeoutMapped(options.timeout, context, reachability: reachability) {
            try await client.query(statement, logger: logger).collect()
        }
        return try Self.page(from: rows, request: request, span: span)
    }

    /// Decodes the rows of a page query, checks their order, and says how far the page scanned.
    /// (Synchronous on collected rows: a loop over the rows as they arrived, with its state in
    /// local variables across each `await`, came back wrong in release builds: a page re-read
    /// again and again, or a read ended early, depending on the code around it.)
    private static func page(from rows: [PostgresRow], request: ReadRequest, span: Int64) throws -> ReadPage {
        let forward = request.direction == .forward
        var builder = PageBuilder(request: request)
        var headPosition: Int64 = 0
        var stopped = false
        var previous: Int64?
        for row in rows {
            let cells = row.makeRandomAccess()
            headPosition = try cells[0].decode(Int64.self)
            guard cells[1].bytes != nil, !stopped else { continue }  // an empty page's one row
            let event = try Self.event(from: cells, offset: 1)
            let current = request.position(of: event)
            if let previous, forward ? current <= previous : current >= previous {
                throw EventStoreError.io("the server returned events out of order in '\(request.streamID)'")
            }
            previous = current
            stopped = !builder.add(event)
        }
        return finish(builder, request: request, span: span, head: headPosition, last: previous, stopped: stopped)
    }

    /// The page `builder` holds, with how far it scanned: to its last event when it stopped
    /// early (the event limit or the byte budget), else to the end of its range.
    private static func finish(
        _ builder: PageBuilder, request: ReadRequest, span: Int64, head: Int64, last: Int64?, stopped: Bool
    ) -> ReadPage {
        if request.direction == .forward {
            let end = min(request.after > Int64.max - span ? Int64.max : request.after + span, head)
            guard !stopped || last == end else { return builder.finish(sourceExhausted: false) }
            var page = builder.finish(sourceExhausted: end >= head)
            if end > request.after { page.lastScanned = end }
            return page
        }
        let low = min(request.after, head + 1) - span
        guard !stopped || last == low else { return builder.finish(sourceExhausted: false) }
        var page = builder.finish(sourceExhausted: low <= 1)
        if low > 1 { page.lastScanned = low }
        return page
    }

    /// Decodes the event whose `eventColumns` start at `offset`.
    static func event(from row: PostgresRandomAccessRow, offset: Int) throws -> StoredEvent {
        let sequenceID = try row[offset].decode(Int64.self)
        var metadata: [String: JSONValue]?
        if let text = try row[offset + 6].decode(String?.self) {
            guard case .object(let members) = try? JSONValue.parse(Array(text.utf8)) else {
                throw EventStoreError.corruption("events row \(sequenceID): metadata is not a JSON object")
            }
            metadata = members
        }
        let key = try row[offset + 3].decode(String?.self)
        var data = try row[offset + 7].decode(ByteBuffer.self)
        return StoredEvent(
            id: key ?? String(sequenceID), streamID: try row[offset + 1].decode(String.self), sequenceID: sequenceID,
            version: try row[offset + 2].decode(Int64.self),
            timestamp: Timestamp.date(microseconds: try Self.microseconds(row[offset + 5])),
            type: try row[offset + 4].decode(String.self),
            data: data.readData(length: data.readableBytes) ?? Data(), metadata: metadata)
    }

    /// A `timestamptz` cell as microseconds since 1970, exactly: the binary value is microseconds
    /// since 2000-01-01 (decoding it as a `Date` would round through a `Double`).
    static func microseconds(_ cell: PostgresCell) throws -> Int64 {
        guard cell.format == .binary else { return Timestamp.microseconds(try cell.decode(Date.self)) }
        guard var bytes = cell.bytes, bytes.readableBytes == 8, let since2000 = bytes.readInteger(as: Int64.self) else {
            throw EventStoreError.corruption("a timestamp column holds \(cell.bytes?.readableBytes ?? 0) bytes, not 8")
        }
        return since2000 + 946_684_800_000_000
    }

    func head(of streamID: String) async throws -> StreamHead {
        let micros = "(extract(epoch FROM recorded_at) * 1000000)::bigint"
        let query: PostgresQuery
        if streamID == StreamName.all {
            query = PostgresQuery(
                unsafeSQL: """
                    SELECT h.sequence_id, (SELECT \(micros) FROM \(schema.table("events"))
                        WHERE sequence_id = h.sequence_id) FROM \(schema.table("head")) h
                    """)
        } else {
            var bindings = PostgresBindings()
            bindings.append(streamID)
            query = PostgresQuery(
                unsafeSQL: """
                    SELECT version, (extract(epoch FROM last_recorded_at) * 1000000)::bigint
                        FROM \(schema.table("streams")) WHERE stream_id = $1
                    """, binds: bindings)
        }
        let rows = try await run("reading the head of '\(streamID)'") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        guard let row = rows.first else { return .empty }
        let version = try row.makeRandomAccess()[0].decode(Int64.self)
        let timestamp = try row.makeRandomAccess()[1].decode(Int64?.self).map(Timestamp.date(microseconds:))
        // Versions and sequence ids are gap-free, so the head is also the count.
        return StreamHead(version: version, eventCount: version, lastTimestamp: version > 0 ? timestamp : nil)
    }

    func saveSnapshot(_ snapshot: Snapshot) async throws {
        guard !options.readOnly else { throw EventStoreError.readOnly }
        var bindings = PostgresBindings()
        bindings.append(snapshot.streamID)
        bindings.append(snapshot.projectionName)
        bindings.append(snapshot.version)
        bindings.append(ByteBuffer(bytes: snapshot.state))
        bindings.append(Timestamp.microseconds(snapshot.timestamp))
        let query = PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(schema.table("snapshots")) (stream_id, projection, version, state, recorded_at)
                VALUES ($1, $2, $3, $4, timestamptz 'epoch' + $5 * interval '1 microsecond')
                ON CONFLICT (stream_id, projection) DO UPDATE SET version = excluded.version,
                    state = excluded.state, recorded_at = excluded.recorded_at
                """, binds: bindings)
        _ = try await run("saving a snapshot of '\(snapshot.streamID)'") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
    }

    private var snapshotColumns: String {
        "stream_id, projection, version, state, (extract(epoch FROM recorded_at) * 1000000)::bigint"
    }

    func loadSnapshot(streamID: String, projection: String) async throws -> Snapshot? {
        var bindings = PostgresBindings()
        bindings.append(streamID)
        bindings.append(projection)
        let query = PostgresQuery(
            unsafeSQL:
                "SELECT \(snapshotColumns) FROM \(schema.table("snapshots")) WHERE stream_id = $1 AND projection = $2",
            binds: bindings)
        let rows = try await run("loading a snapshot of '\(streamID)'") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        return try rows.first.map(Self.snapshot)
    }

    private static func snapshot(_ row: PostgresRow) throws -> Snapshot {
        let cells = row.makeRandomAccess()
        var state = try cells[3].decode(ByteBuffer.self)
        return Snapshot(
            streamID: try cells[0].decode(String.self), projectionName: try cells[1].decode(String.self),
            version: try cells[2].decode(Int64.self), state: state.readData(length: state.readableBytes) ?? Data(),
            timestamp: Timestamp.date(microseconds: try cells[4].decode(Int64.self)))
    }

    func snapshots() async throws -> [Snapshot] {
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(snapshotColumns) FROM \(schema.table("snapshots")) ORDER BY stream_id, projection")
        let rows = try await run("listing snapshots") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        return try rows.map(Self.snapshot)
    }

    func statistics() async throws -> StoreStatistics {
        let head = try await head(of: StreamName.all)
        // to_regclass: a read-only open of an older layout has no subscriptions table (NULL, not counted).
        let tables = ["events", "streams", "snapshots", "subscriptions", "head", "schema_version"].map {
            "'\(schema.table($0))'"
        }
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT (SELECT count(*) FROM \(schema.table("streams")) WHERE version > 0),
                    (SELECT count(*) FROM \(schema.table("snapshots"))),
                    (SELECT sum(pg_total_relation_size(to_regclass(t))) FROM unnest(ARRAY[\(tables.joined(separator: ", "))]) AS t)::bigint
                """)
        let rows = try await run("reading statistics") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        let cells = rows.first.map { $0.makeRandomAccess() }
        return StoreStatistics(
            streams: Int(try cells?[0].decode(Int64.self) ?? 0), events: head.eventCount, segments: nil,
            bytesOnDisk: try cells?[2].decode(Int64?.self) ?? 0, snapshots: Int(try cells?[1].decode(Int64.self) ?? 0))
    }

    /// Runs `body` with the client, bounded by the timeout, mapping errors.
    private func run<T: Sendable>(
        _ context: String, _ body: @escaping @Sendable (PostgresClient, Logger) async throws -> T
    ) async throws -> T {
        let client = self.client
        let logger = options.logger
        return try await withTimeoutMapped(options.timeout, context, reachability: reachability) {
            try await body(client, logger)
        }
    }

    /// Waits for queued appends (each bounded by the timeout) and releases any subscription hold
    /// still open (each bounded too), then stops listening and closes the pool's connections,
    /// waiting for that at most `Options.timeout`: a connection stuck on a server that went away
    /// must not hang the close.
    func close() async throws {
        await writer?.close()
        await postgresSubscriptions.close()
        let listener = self.listener
        let clientTask = self.clientTask
        clientTask.cancel()
        do {
            try await withTimeout(options.timeout, "closing the store's connections") {
                await listener.stop()
                await clientTask.value
            }
        } catch {
            options.logger.warning(
                "closing the PostgreSQL store did not finish; its connections are left to close by themselves",
                metadata: ["error": "\(error)"])
        }
    }
}


// WORK IN PROGRESS (branch lifecycle): replaced by the real implementation before merging to main.
extension PostgresStorage {
    func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle {
        throw EventStoreError.invalidArgument("lifecycle: not implemented yet")
    }
    func lifecycle(of streamID: String) async throws -> StreamLifecycle {
        throw EventStoreError.invalidArgument("lifecycle: not implemented yet")
    }
    func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String] {
        throw EventStoreError.invalidArgument("lifecycle: not implemented yet")
    }
    func compact(progress: CompactionProgress?) async throws -> CompactionReport {
        throw EventStoreError.invalidArgument("lifecycle: not implemented yet")
    }
}
