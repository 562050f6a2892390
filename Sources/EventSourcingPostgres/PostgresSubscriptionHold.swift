import EventSourcingCore
import PostgresNIO
import Synchronization

/// One consumer's hold on a subscription of the PostgreSQL store: a session-level advisory lock
/// on the subscription's row id, taken on a dedicated connection that the hold keeps open until
/// `release()`. The server drops the lock with the session, so a consumer whose process or
/// connection dies lets go of the name by itself.
///
/// Positions are written on the same connection: while it is open, the lock is held, so a
/// consumer that lost its lock (a server restart, a terminated backend) can never write over a
/// position that another consumer, who took the name since, has moved. Such a hold fails every
/// `record(position:)` with `unavailable`, and its owner subscribes again.
///
/// Thread-safety: immutable apart from the released flag, behind a mutex; the core calls
/// `record` one at a time.
final class PostgresSubscriptionHold: SubscriptionHold {
    /// The subscription's name.
    let name: String
    /// The subscription's row id, whose lock this hold owns.
    let id: Int64
    private let connection: PostgresDedicatedConnection
    private let schema: PostgresSchema
    private let lockClass: Int32
    private let released = Mutex(false)
    private let onRelease: @Sendable (PostgresSubscriptionHold) -> Void

    /// Wraps a connection that holds the lock `(lockClass, id)`.
    init(
        name: String, id: Int64, connection: PostgresDedicatedConnection, schema: PostgresSchema, lockClass: Int32,
        onRelease: @escaping @Sendable (PostgresSubscriptionHold) -> Void
    ) {
        self.name = name
        self.id = id
        self.connection = connection
        self.schema = schema
        self.lockClass = lockClass
        self.onRelease = onRelease
    }

    /// Stores `position` with one `UPDATE`, committed when it returns.
    /// - Throws: `EventStoreError.unavailable` when the connection (and the hold with it) is lost
    ///   or the server does not answer in time; `.invalidArgument` when the row was deleted behind
    ///   the store's back.
    func record(position: Int64) async throws {
        let context = "acknowledging position \(position) of subscription '\(name)'"
        guard !connection.isClosed else { throw lost(context) }
        var bindings = PostgresBindings()
        bindings.append(position)
        bindings.append(id)
        let query = PostgresQuery(
            unsafeSQL: "UPDATE \(schema.table("subscriptions")) SET position = $1 WHERE id = $2 RETURNING id",
            binds: bindings)
        let rows: [PostgresRow]
        do {
            rows = try await connection.query(query, context)
        } catch {
            if connection.isClosed { throw lost(context) }
            throw error
        }
        guard rows.count == 1 else {
            throw EventStoreError.invalidArgument(
                "\(context): its row is gone from \(schema.table("subscriptions")) (deleted outside this store); "
                    + "close the subscription and subscribe again")
        }
    }

    private func lost(_ context: String) -> EventStoreError {
        .unavailable(
            "\(context): the connection that held the subscription was lost, and the name with it; "
                + "close this subscription and subscribe again")
    }

    /// Unlocks, so that the name is free when this returns, and closes the connection; each step
    /// bounded by the store's timeout. When the server is gone the unlock fails, and closing the
    /// connection is enough: the server ends the session, and its locks, by itself.
    func release() async {
        let wasHeld = released.withLock { released in
            defer { released = true }
            return !released
        }
        guard wasHeld else { return }
        if !connection.isClosed {
            var bindings = PostgresBindings()
            bindings.append(lockClass)
            bindings.append(Int32(truncatingIfNeeded: id))
            _ = try? await connection.query(
                PostgresQuery(unsafeSQL: "SELECT pg_advisory_unlock($1, $2)", binds: bindings),
                "releasing subscription '\(name)'")
        }
        await connection.close()
        onRelease(self)
    }
}
