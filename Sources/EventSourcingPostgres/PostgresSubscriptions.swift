import EventSourcingCore
import PostgresNIO
import Synchronization

/// Subscriptions of the PostgreSQL store: one row each in the `subscriptions` table (see
/// `PostgresSchema`), and one consumer per name, across every process and machine, held by a
/// session-level advisory lock `pg_try_advisory_lock(lockClass, id)` on the row's id.
///
/// The lock lives as long as the session that took it, so each hold has a connection of its own
/// (`PostgresDedicatedConnection`; pooled connections serve other callers between queries), kept
/// open until the hold is released; the server drops the lock when the holder's process or
/// connection dies. `lockClass` is derived from the schema's name, so that stores in other
/// schemas of one database, whose row ids repeat, never share a lock; ids above 2^31 wrap into
/// the int4 key (two names would share a lock only after four billion subscriptions were created).
/// Operators see each hold in `pg_stat_activity`, its `application_name` naming the subscription.
///
/// Creating a row is `INSERT ... ON CONFLICT (name) DO NOTHING`, so two creators never both
/// create one. A holder locks the id it read and then reads the row again by name: a row deleted
/// (and perhaps created again) in between has another id or none, and the holder unlocks and tries
/// again. Deleting takes the same lock first, so a held subscription cannot be deleted.
///
/// A read-only open lists subscriptions (an older layout without the table has none) but neither
/// subscribes nor deletes: both write.
///
/// Thread-safety: immutable apart from the open holds and the connection counter, each behind a
/// mutex.
final class PostgresSubscriptions: SubscriptionStorage {
    private let configuration: PostgresConnection.Configuration
    private let client: PostgresClient
    private let schema: PostgresSchema
    private let options: PostgresEventStore.Options
    private let reachability: PostgresReachability
    /// The first key of every subscription lock of this schema.
    let lockClass: Int32
    private let holds = Mutex<[ObjectIdentifier: PostgresSubscriptionHold]>([:])
    private let connectionCount = Mutex(0)

    init(
        configuration: PostgresConnection.Configuration, client: PostgresClient, schema: PostgresSchema,
        options: PostgresEventStore.Options, reachability: PostgresReachability
    ) {
        self.configuration = configuration
        self.client = client
        self.schema = schema
        self.options = options
        self.reachability = reachability
        lockClass = Int32(truncatingIfNeeded: StableHash.hash("subscriptions in " + schema.quoted))
    }

    private var table: String { schema.table("subscriptions") }

    /// Takes the name on a connection of its own, creating the row first when there is none.
    /// - Throws: `EventStoreError.readOnly` for a read-only store, `.subscriptionBusy` when another
    ///   connection holds the name, what `creating` throws, or the typed error of a failed call.
    func acquire(
        _ name: String, creating: @Sendable () async throws -> SubscriptionRecord
    ) async throws -> (record: SubscriptionRecord, hold: any SubscriptionHold) {
        guard !options.readOnly else { throw EventStoreError.readOnly }
        let context = "subscribing '\(name)'"
        let connection = try await connect(label: "subscription '\(name)' of \(schema.name)", context: context)
        do {
            while true {
                guard let (id, isGranted) = try await lock(name, on: connection, context) else {
                    let record = try await creating()
                    try await insert(record, on: connection, context)
                    continue
                }
                guard isGranted else { throw EventStoreError.subscriptionBusy(name) }
                // Read under the lock: the position the last holder recorded, and the proof that
                // the row locked is still the one at this name.
                if let (currentID, record) = try await read(name, on: connection, context), currentID == id {
                    let hold = PostgresSubscriptionHold(
                        name: name, id: id, connection: connection, schema: schema, lockClass: lockClass
                    ) { [weak self] hold in
                        _ = self?.holds.withLock { $0.removeValue(forKey: ObjectIdentifier(hold)) }
                    }
                    holds.withLock { $0[ObjectIdentifier(hold)] = hold }
                    return (record, hold)
                }
                try await unlock(id, on: connection, context)
            }
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Every row, in name order (bytewise).
    func records() async throws -> [SubscriptionRecord] {
        let context = "listing subscriptions"
        let client = self.client
        let logger = options.logger
        if options.readOnly {
            // A layout older than version 3 has no table: no subscriptions.
            var bindings = PostgresBindings()
            bindings.append(table)
            let exists = PostgresQuery(unsafeSQL: "SELECT to_regclass($1) IS NOT NULL", binds: bindings)
            let rows = try await withTimeoutMapped(options.timeout, context, reachability: reachability) {
                try await client.query(exists, logger: logger).collect()
            }
            guard try Self.decoding(context, { try rows.first?.decode(Bool.self) }) == true else { return [] }
        }
        let query = PostgresQuery(unsafeSQL: "SELECT id, name, stream_id, filter, position FROM \(table) ORDER BY name")
        let rows = try await withTimeoutMapped(options.timeout, context, reachability: reachability) {
            try await client.query(query, logger: logger).collect()
        }
        return try rows.map { try Self.record(from: $0, context).record }
    }

    /// Deletes the row under its lock, on a short-lived connection of its own.
    /// - Throws: `EventStoreError.readOnly` for a read-only store, `.invalidArgument` when there is
    ///   no such subscription, `.subscriptionBusy` while a consumer holds it, or the typed error of
    ///   a failed call.
    func delete(_ name: String) async throws {
        guard !options.readOnly else { throw EventStoreError.readOnly }
        let context = "deleting subscription '\(name)'"
        let connection = try await connect(label: "deleting subscription '\(name)' of \(schema.name)", context: context)
        do {
            while true {
                guard let (id, isGranted) = try await lock(name, on: connection, context) else {
                    throw EventStoreError.invalidArgument("there is no subscription named '\(name)'")
                }
                guard isGranted else { throw EventStoreError.subscriptionBusy(name) }
                var bindings = PostgresBindings()
                bindings.append(id)
                let deleted = try await connection.query(
                    PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE id = $1 RETURNING id", binds: bindings),
                    context)
                // A row created again at this name has a new id, so the lock on the old one blocks
                // no one; closing the connection drops it in any case.
                if !deleted.isEmpty { break }
                // None deleted: another deleter removed that row before this lock; look at the name again.
                try await unlock(id, on: connection, context)
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }

    /// Releases every hold still open (the core releases them before it closes storage; this is
    /// the backstop that keeps any connection from outliving the store), all at once, each
    /// bounded by the timeout.
    func close() async {
        let open = holds.withLock { Array($0.values) }
        await withTaskGroup(of: Void.self) { group in
            for hold in open { group.addTask { await hold.release() } }
        }
    }

    // MARK: Statements

    private func connect(label: String, context: String) async throws -> PostgresDedicatedConnection {
        let id = connectionCount.withLock { count in
            count += 1
            return count
        }
        return try await PostgresDedicatedConnection.open(
            configuration: configuration, label: "event_sourcing " + label, id: id, options: options,
            reachability: reachability, context: context)
    }

    /// Tries to lock the row at `name`: its id and whether the lock was granted, `nil` when there
    /// is no row. (`id::bit(32)::int4` keeps the low 32 bits, as `Int32(truncatingIfNeeded:)` does.)
    private func lock(_ name: String, on connection: PostgresDedicatedConnection, _ context: String) async throws
        -> (id: Int64, isGranted: Bool)?
    {
        var bindings = PostgresBindings()
        bindings.append(name)
        bindings.append(lockClass)
        let query = PostgresQuery(
            unsafeSQL: "SELECT id, pg_try_advisory_lock($2, id::bit(32)::int4) FROM \(table) WHERE name = $1",
            binds: bindings)
        guard let row = try await connection.query(query, context).first else { return nil }
        return try Self.decoding(context) {
            let cells = row.makeRandomAccess()
            return (try cells[0].decode(Int64.self), try cells[1].decode(Bool.self))
        }
    }

    private func unlock(_ id: Int64, on connection: PostgresDedicatedConnection, _ context: String) async throws {
        var bindings = PostgresBindings()
        bindings.append(lockClass)
        bindings.append(Int32(truncatingIfNeeded: id))
        _ = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT pg_advisory_unlock($1, $2)", binds: bindings), context)
    }

    /// The row at `name`, `nil` when there is none.
    private func read(_ name: String, on connection: PostgresDedicatedConnection, _ context: String) async throws
        -> (id: Int64, record: SubscriptionRecord)?
    {
        var bindings = PostgresBindings()
        bindings.append(name)
        let query = PostgresQuery(
            unsafeSQL: "SELECT id, name, stream_id, filter, position FROM \(table) WHERE name = $1", binds: bindings)
        return try await connection.query(query, context).first.map { try Self.record(from: $0, context) }
    }

    /// Creates the row of `record` unless one has its name already.
    private func insert(_ record: SubscriptionRecord, on connection: PostgresDedicatedConnection, _ context: String)
        async throws
    {
        var bindings = PostgresBindings()
        bindings.append(record.name)
        bindings.append(record.stream)
        bindings.append(record.filterText)
        bindings.append(record.position)
        let query = PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(table) (name, stream_id, filter, position) VALUES ($1, $2, $3, $4)
                ON CONFLICT (name) DO NOTHING
                """, binds: bindings)
        _ = try await connection.query(query, context)
    }

    /// Decodes a row of `id, name, stream_id, filter, position`.
    /// - Throws: `EventStoreError.corruption` when the row is not one this release writes.
    private static func record(from row: PostgresRow, _ context: String) throws
        -> (id: Int64, record: SubscriptionRecord)
    {
        try decoding(context) {
            let cells = row.makeRandomAccess()
            let filter = try cells[3].decode(String?.self).map { try EventFilter(storedText: $0) }
            return (
                try cells[0].decode(Int64.self),
                SubscriptionRecord(
                    name: try cells[1].decode(String.self), stream: try cells[2].decode(String.self), filter: filter,
                    position: try cells[4].decode(Int64.self))
            )
        }
    }

    /// Runs `body`, turning a cell that does not decode into `EventStoreError.corruption`.
    private static func decoding<T>(_ context: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError.corruption(
                "\(context): the subscriptions table holds a value of another type: \(error)")
        }
    }
}
