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
    /// Whether the schema has the `stream_lifecycle` table (layout 4 or later): a read-only open
    /// of an older layout hides nothing, as that layout cannot (until it is opened again after a
    /// writable open has moved it on).
    let hasLifecycle: Bool
    private let clientTask: Task<Void, Never>
    private let writer: PostgresWriter?
    private let listener: PostgresListener
    private let reachability: PostgresReachability
    private let postgresSubscriptions: PostgresSubscriptions

    /// Where the store keeps its subscriptions: the `subscriptions` table, held by advisory locks.
    var subscriptions: any SubscriptionStorage { postgresSubscriptions }

    private init(
        client: PostgresClient, clientTask: Task<Void, Never>, schema: PostgresSchema,
        options: PostgresEventStore.Options, hasLifecycle: Bool, writer: PostgresWriter?,
        listener: PostgresListener, reachability: PostgresReachability, subscriptions: PostgresSubscriptions
    ) {
        self.hasLifecycle = hasLifecycle
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
        let layout = try await prepare(configuration: direct, schema: schema, options: options)
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
            client: client, clientTask: clientTask, schema: schema, options: options,
            hasLifecycle: layout >= PostgresSchema.lifecycleVersion, writer: writer, listener: listener,
            reachability: reachability, subscriptions: subscriptions)
    }

    /// Checks the layout's version and, when the schema is missing or older (and the store is
    /// writable), creates what is missing, under an advisory lock so that stores opening at once do
    /// not race. Returns the layout version the schema holds then.
    private static func prepare(
        configuration: PostgresConnection.Configuration, schema: PostgresSchema, options: PostgresEventStore.Options
    ) async throws -> Int {
        let context = "opening the event store in schema \(schema.quoted)"
        return try await withTimeoutMapped(options.timeout, context) {
            let connection = try await PostgresConnection.connect(
                configuration: configuration, id: 0, logger: options.logger)
            do {
                let current = try await version(connection, schema: schema, options: options)
                if !options.readOnly, current != PostgresSchema.version {
                    try await create(connection, schema: schema, options: options)
                }
                let layout = try await checkVersion(connection, schema: schema, options: options, mayBeMissing: false)
                try? await connection.close()
                return layout
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

    /// The schema's layout version, checked to be one this release reads (0 when missing and
    /// `mayBeMissing`).
    @discardableResult
    private static func checkVersion(
        _ connection: PostgresConnection, schema: PostgresSchema, options: PostgresEventStore.Options,
        mayBeMissing: Bool
    ) async throws -> Int {
        guard let version = try await version(connection, schema: schema, options: options) else {
            if mayBeMissing { return 0 }
            throw EventStoreError.invalidArgument(
                "the database holds no event store in schema \(schema.quoted): open it once without readOnly to create one"
            )
        }
        guard version <= PostgresSchema.version else {
            throw EventStoreError.corruption(
                "schema \(schema.quoted) has layout version \(version); this release reads up to "
                    + "\(PostgresSchema.version): a later release wrote it")
        }
        return version
    }

    // MARK: EventStorage

    func append(_ request: AppendRequest) async throws -> AppendResult {
        guard let writer else { throw EventStoreError.readOnly }
        return try await writer.append(request)
    }

    /// How many positions a filtered read's page may cover, in pages' worth of events: a
    /// filter that selects few events still fills pages, in a bounded scan.
    static let filteredSpanPages: Int64 = 256

    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult] {
        guard let writer else { throw EventStoreError.readOnly }
        return try await writer.appendAtomically(requests)
    }

    /// Reads one page: the events at the next positions, by the index, in a range of positions
    /// that bounds the scan whatever plan the server picks (positions are gap-free, so a page of
    /// `limit` positions without a filter holds `limit` events).
    ///
    /// The range ends at the head read in the same statement (so in the same snapshot, which holds
    /// every event up to it, since ids are taken in commit order): a page that covered its range
    /// reports the range's end as scanned, which moves a filtered read past what it skipped. The
    /// byte budget is a running sum of the sizes PageBuilder counts (a window over the limited rows
    /// in index order), so the server sends no event the page would drop.
    ///
    /// Hidden events are left out in SQL, like events the filter skips, read from
    /// `stream_lifecycle` in the same statement (so a change another process committed shows at
    /// once): a stream's range starts past its hidden versions (`floor`), and its events past
    /// `maxAge` are dropped by timestamp; `@all` drops each event its stream's lifecycle hides.
    /// Where hiding (or compaction, which leaves gaps) can thin a range out, it covers as many
    /// positions as a filtered page does. A store with no `stream_lifecycle` row, or a stream
    /// without one, reads as before: one more primary-key lookup per page, nothing per event.
    func read(_ request: ReadRequest) async throws -> ReadPage {
        let isAll = request.isAll
        let position = isAll ? "e.sequence_id" : "e.version"
        let forward = request.direction == .forward
        let order = forward ? "ASC" : "DESC"
        var bindings = PostgresBindings()
        var sql = "SELECT \(schema.eventColumns), octet_length(e.data) + octet_length(e.event_type) + 64 AS size, "
        sql += "\(position) AS position FROM \(schema.table("events")) e WHERE "
        if !isAll {
            bindings.append(request.streamID)
            sql += "e.stream_id = $\(bindings.count) AND "
        }
        bindings.append(request.after)
        let after = "$\(bindings.count)"
        bindings.append(Int64(request.limit) * (request.filter == nil ? 1 : Self.filteredSpanPages))
        let narrow = "$\(bindings.count)"
        bindings.append(Int64(request.limit) * Self.filteredSpanPages)
        let wide = "$\(bindings.count)"
        let bounds = self.bounds(isAll: isAll, narrow: narrow, wide: wide)
        // The range, clamped to the head: (start, start + span] forward, where start is `after` or
        // the last hidden version; [start - span, start) backward, where start is `after` or, reading
        // from the newest, just past the head, and above the last hidden version.
        if forward {
            let start = "greatest(\(after), h.floor)"
            sql += "\(position) > \(start) AND "
            sql += "\(position) <= least(\(start) + least(h.span, \(Int64.max) - \(start)), h.head)"
        } else {
            let start = "least(\(after), h.head + 1)"
            sql += "\(position) < \(start) AND \(position) >= greatest(\(start) - h.span, h.floor + 1)"
        }
        if hasLifecycle {
            sql +=
                isAll
                ? " AND (NOT h.hides OR NOT \(schema.isHidden("e")))"
                : " AND (h.cutoff IS NULL OR \(schema.microseconds("e.recorded_at")) >= h.cutoff)"
        }
        if let filter = request.filter { sql += PostgresFilterSQL(filter, bindings: &bindings).sql }
        bindings.append(Int64(request.limit))
        sql += " ORDER BY \(position) \(order) LIMIT $\(bindings.count)"
        bindings.append(Int64(request.byteBudget))
        let query = """
            SELECT h.head, h.floor, h.span, p.* FROM (\(bounds)) AS h LEFT JOIN LATERAL (
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
        return try Self.page(from: rows, request: request)
    }

    /// The one-row query a page's range starts from: `head` (the stream's version, or the last
    /// sequence id), `floor` (versions up to it are hidden by position; 0 for `@all`), `hides`
    /// (whether a lifecycle applies: the stream's row, or any row for `@all`), `cutoff` (a
    /// stream's `maxAge` bound, NULL for none) and `span` (positions a page covers: `wide` where
    /// something may be hidden). A stream's parameter is `$1`.
    private func bounds(isAll: Bool, narrow: String, wide: String) -> String {
        let lifecycle = schema.table("stream_lifecycle")
        let inner: String
        switch (isAll, hasLifecycle) {
        case (true, true):
            inner = """
                SELECT coalesce((SELECT sequence_id FROM \(schema.table("head"))), 0) AS head, 0::bigint AS floor,
                    EXISTS (SELECT 1 FROM \(lifecycle)) AS hides, NULL::numeric AS cutoff
                """
        case (false, true):
            inner = """
                SELECT coalesce(s.version, 0) AS head,
                    coalesce(\(schema.hiddenThrough("l", streamVersion: "s.version")), 0) AS floor,
                    l.stream_id IS NOT NULL AS hides, \(schema.ageCutoff("l")) AS cutoff
                FROM (SELECT 1) AS one LEFT JOIN \(schema.table("streams")) s ON s.stream_id = $1
                    LEFT JOIN \(lifecycle) l ON l.stream_id = $1
                """
        case (true, false):
            inner = """
                SELECT coalesce((SELECT sequence_id FROM \(schema.table("head"))), 0) AS head, 0::bigint AS floor,
                    false AS hides, NULL::numeric AS cutoff
                """
        case (false, false):
            inner = """
                SELECT coalesce((SELECT version FROM \(schema.table("streams")) WHERE stream_id = $1), 0) AS head,
                    0::bigint AS floor, false AS hides, NULL::numeric AS cutoff
                """
        }
        return "SELECT *, CASE WHEN b.hides THEN \(wide) ELSE \(narrow) END AS span FROM (\(inner)) AS b"
    }

    /// Decodes the rows of a page query, checks their order, and says how far the page scanned.
    /// (Synchronous on collected rows: a loop over the rows as they arrived, with its state in
    /// local variables across each `await`, came back wrong in release builds: a page re-read
    /// again and again, or a read ended early, depending on the code around it.)
    private static func page(from rows: [PostgresRow], request: ReadRequest) throws -> ReadPage {
        let forward = request.direction == .forward
        var builder = PageBuilder(request: request)
        var range = PageRange(head: 0, floor: 0, span: 1)
        var stopped = false
        var previous: Int64?
        for row in rows {
            let cells = row.makeRandomAccess()
            range = PageRange(
                head: try cells[0].decode(Int64.self), floor: try cells[1].decode(Int64.self),
                span: try cells[2].decode(Int64.self))
            guard cells[3].bytes != nil, !stopped else { continue }  // an empty page's one row
            let event = try Self.event(from: cells, offset: 3)
            let current = request.position(of: event)
            if let previous, forward ? current <= previous : current >= previous {
                throw EventStoreError.io("the server returned events out of order in '\(request.streamID)'")
            }
            previous = current
            stopped = !builder.add(event)
        }
        return finish(builder, request: request, range: range, last: previous, stopped: stopped)
    }

    /// What a page query's first columns say of its range.
    private struct PageRange {
        /// The stream's version, or the last sequence id.
        let head: Int64
        /// Positions up to this are hidden (0 for none).
        let floor: Int64
        /// How many positions the range covers at most.
        let span: Int64
    }

    /// The page `builder` holds, with how far it scanned: to its last event when it stopped
    /// early (the event limit or the byte budget), else to the end of its range.
    private static func finish(
        _ builder: PageBuilder, request: ReadRequest, range: PageRange, last: Int64?, stopped: Bool
    ) -> ReadPage {
        let (head, floor, span) = (range.head, range.floor, range.span)
        if request.direction == .forward {
            let start = max(request.after, floor)
            let end = min(start > Int64.max - span ? Int64.max : start + span, head)
            guard !stopped || last == end else { return builder.finish(sourceExhausted: false) }
            var page = builder.finish(sourceExhausted: end >= head)
            if end > request.after { page.lastScanned = end }
            return page
        }
        let low = max(min(request.after, head + 1) - span, floor + 1)
        guard !stopped || last == low else { return builder.finish(sourceExhausted: false) }
        var page = builder.finish(sourceExhausted: low <= floor + 1)
        if low > floor + 1 { page.lastScanned = low }
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

    /// The head: the version (or last sequence id) and its newest timestamp, with the count of
    /// events that are not hidden. Versions and sequence ids are gap-free, so without a
    /// `stream_lifecycle` row the head is also the count; a stream with one counts its visible
    /// events by the index, and `@all` takes from its head, per stream with a row, the events
    /// that are hidden or compacted away (O(visible events of those streams)).
    func head(of streamID: String) async throws -> StreamHead {
        let query = hasLifecycle ? headQuery(of: streamID) : legacyHeadQuery(of: streamID)
        let rows = try await run("reading the head of '\(streamID)'") { client, logger in
            try await client.query(query, logger: logger).collect()
        }
        guard let row = rows.first else { return .empty }
        let cells = row.makeRandomAccess()
        let version = try cells[0].decode(Int64.self)
        let count = try cells[1].decode(Int64.self)
        let timestamp = try cells[2].decode(Int64?.self).map(Timestamp.date(microseconds:))
        return StreamHead(version: version, eventCount: count, lastTimestamp: count > 0 ? timestamp : nil)
    }

    /// `head`'s query on a layout with `stream_lifecycle`: version, visible count, newest
    /// visible timestamp in microseconds.
    private func headQuery(of streamID: String) -> PostgresQuery {
        let events = schema.table("events")
        let lifecycle = schema.table("stream_lifecycle")
        let streams = schema.table("streams")
        let micros = "\(schema.microseconds("e.recorded_at"))::bigint"
        if streamID == StreamName.all {
            let visible = schema.isVisible(event: "e", lifecycle: "l", streamVersion: "s.version")
            return PostgresQuery(
                unsafeSQL: """
                    SELECT h.sequence_id,
                        CASE WHEN NOT EXISTS (SELECT 1 FROM \(lifecycle)) THEN h.sequence_id
                        ELSE h.sequence_id - (SELECT coalesce(sum(s.version - (SELECT count(*) FROM \(events) e
                                WHERE e.stream_id = l.stream_id AND \(visible))), 0)
                            FROM \(lifecycle) l JOIN \(streams) s ON s.stream_id = l.stream_id)::bigint END,
                        CASE WHEN NOT EXISTS (SELECT 1 FROM \(lifecycle))
                        THEN (SELECT \(micros) FROM \(events) e WHERE e.sequence_id = h.sequence_id)
                        ELSE (SELECT \(micros) FROM \(events) e WHERE NOT \(schema.isHidden("e"))
                            ORDER BY e.sequence_id DESC LIMIT 1) END
                    FROM \(schema.table("head")) h
                    """)
        }
        let visible = schema.isVisible(event: "e", lifecycle: "l", streamVersion: "s.version")
        var bindings = PostgresBindings()
        bindings.append(streamID)
        return PostgresQuery(
            unsafeSQL: """
                SELECT s.version,
                    CASE WHEN l.stream_id IS NULL THEN s.version
                    ELSE (SELECT count(*) FROM \(events) e WHERE e.stream_id = s.stream_id AND \(visible)) END,
                    CASE WHEN l.stream_id IS NULL THEN \(schema.microseconds("s.last_recorded_at"))::bigint
                    ELSE (SELECT \(micros) FROM \(events) e WHERE e.stream_id = s.stream_id AND \(visible)
                        ORDER BY e.version DESC LIMIT 1) END
                FROM \(streams) s LEFT JOIN \(lifecycle) l ON l.stream_id = s.stream_id WHERE s.stream_id = $1
                """, binds: bindings)
    }

    /// `head`'s query on a layout without `stream_lifecycle`, where nothing is hidden.
    private func legacyHeadQuery(of streamID: String) -> PostgresQuery {
        let micros = "(extract(epoch FROM recorded_at) * 1000000)::bigint"
        if streamID == StreamName.all {
            return PostgresQuery(
                unsafeSQL: """
                    SELECT h.sequence_id, h.sequence_id, (SELECT \(micros) FROM \(schema.table("events"))
                        WHERE sequence_id = h.sequence_id) FROM \(schema.table("head")) h
                    """)
        }
        var bindings = PostgresBindings()
        bindings.append(streamID)
        return PostgresQuery(
            unsafeSQL: """
                SELECT version, version, (extract(epoch FROM last_recorded_at) * 1000000)::bigint
                    FROM \(schema.table("streams")) WHERE stream_id = $1
                """, binds: bindings)
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
        let names = ["events", "streams", "snapshots", "subscriptions", "stream_lifecycle", "head", "schema_version"]
        let tables = names.map { "'\(schema.table($0))'" }
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
    func run<T: Sendable>(
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
