import EventSourcingCore
import Synchronization

/// Subscriptions of a SQLite store: rows of the `subscriptions` table (`SQLiteSchema`), written
/// by the writer connection in committed transactions, and one consumer per name held by a
/// `SubscriptionLock` on the row's id. A read-only open lists them but cannot hold one.
///
/// Thread-safety: SQLite calls run on the store's connection threads.
final class SQLiteSubscriptions: SubscriptionStorage {
    private let path: String
    private let writer: ConnectionWorkers?
    private let readers: ConnectionWorkers
    private let hasTable = Mutex(false)

    init(path: String, writer: ConnectionWorkers?, readers: ConnectionWorkers) {
        self.path = path
        self.writer = writer
        self.readers = readers
    }

    func acquire(
        _ name: String, creating: @Sendable () async throws -> SubscriptionRecord
    ) async throws -> (record: SubscriptionRecord, hold: any SubscriptionHold) {
        let writer = try writable()
        while true {
            let found = try await writer.run { [self] connection in
                try ensureTable(connection)
                return try Self.row(named: name, on: connection)
            }
            guard let (id, _) = found else {
                let record = try await creating()
                try await writer.run { connection in
                    let insert = try connection.statement(SQLiteSchema.insertSubscription)
                    defer { insert.reset() }
                    insert.bind(1, record.name)
                    insert.bind(2, record.stream)
                    insert.bind(3, record.filterText)
                    insert.bind(4, record.position)
                    try insert.run()
                }
                continue
            }
            guard let lock = try SubscriptionLock.acquire(databasePath: path, id: id) else {
                throw EventStoreError.subscriptionBusy(name)
            }
            // Deleted, or deleted and created again, between the read and the lock: read it again.
            let current = try await writer.run { connection in try Self.row(named: name, on: connection) }
            guard let current, current.id == id else {
                lock.release()
                continue
            }
            return (current.record, Hold(id: id, lock: lock, writer: writer))
        }
    }

    func records() async throws -> [SubscriptionRecord] {
        try await readers.run { connection in
            let exists = try connection.statement(SQLiteSchema.subscriptionsExist)
            defer { exists.reset() }
            guard try exists.step() else { return [] }
            let query = try connection.statement(SQLiteSchema.allSubscriptions)
            defer { query.reset() }
            var records: [SubscriptionRecord] = []
            while try query.step() { records.append(try Self.record(from: query, path: connection.path)) }
            return records
        }
    }

    func delete(_ name: String) async throws {
        let writer = try writable()
        let path = self.path
        try await writer.run { [self] connection in
            try ensureTable(connection)
            guard let (id, _) = try Self.row(named: name, on: connection) else {
                throw EventStoreError.invalidArgument("there is no subscription named '\(name)'")
            }
            guard let lock = try SubscriptionLock.acquire(databasePath: path, id: id) else {
                throw EventStoreError.subscriptionBusy(name)
            }
            defer { lock.release() }
            let delete = try connection.statement(SQLiteSchema.deleteSubscription)
            defer { delete.reset() }
            delete.bind(1, id)
            try delete.run()
        }
    }

    private func writable() throws -> ConnectionWorkers {
        guard let writer else { throw EventStoreError.readOnly }
        return writer
    }

    /// Creates the table the first time (on the writer's thread).
    private func ensureTable(_ connection: SQLiteConnection) throws {
        guard !hasTable.withLock({ $0 }) else { return }
        try connection.execute(SQLiteSchema.createSubscriptions)
        hasTable.withLock { $0 = true }
    }

    private static func row(named name: String, on connection: SQLiteConnection) throws -> (
        id: Int64, record: SubscriptionRecord
    )? {
        let query = try connection.statement(SQLiteSchema.subscriptionByName)
        defer { query.reset() }
        query.bind(1, name)
        guard try query.step() else { return nil }
        return (query.int64(0), try record(from: query, path: connection.path))
    }

    /// Decodes the current row of a query selecting `SQLiteSchema.subscriptionColumns`.
    private static func record(from row: SQLiteStatement, path: String) throws -> SubscriptionRecord {
        guard let name = row.string(1), let stream = row.string(2) else {
            throw EventStoreError.corruption("'\(path)', subscriptions row id \(row.int64(0)): no name or stream")
        }
        let filter = try row.string(3).map { try EventFilter(storedText: $0) }
        return SubscriptionRecord(name: name, stream: stream, filter: filter, position: row.int64(4))
    }

    /// The hold on one row: its lock; positions go through the writer connection.
    private final class Hold: SubscriptionHold {
        private let id: Int64
        private let lock: SubscriptionLock
        private let writer: ConnectionWorkers

        init(id: Int64, lock: SubscriptionLock, writer: ConnectionWorkers) {
            self.id = id
            self.lock = lock
            self.writer = writer
        }

        func record(position: Int64) async throws {
            let id = self.id
            try await writer.run { connection in
                let update = try connection.statement(SQLiteSchema.recordSubscriptionPosition)
                defer { update.reset() }
                update.bind(1, id)
                update.bind(2, position)
                try update.run()
            }
        }

        func release() async { lock.release() }
    }
}
