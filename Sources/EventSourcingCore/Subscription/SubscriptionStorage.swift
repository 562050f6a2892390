/// The durable part of subscriptions that every backend implements: records of name, stream,
/// filter and position, and the hold that makes one consumer per name, across processes. The
/// rules (validation, positions that only move forward, filtered positions) live in the core.
package protocol SubscriptionStorage: Sendable {
    /// Takes `name` for the caller until the hold is released: creates the record with `creating()`
    /// first when none exists (atomically: two callers never both create it).
    /// - Throws: `EventStoreError.subscriptionBusy` when another holder, in this process or
    ///   another, has the name; what `creating` throws; or a storage error.
    func acquire(
        _ name: String, creating: @Sendable () async throws -> SubscriptionRecord
    ) async throws -> (record: SubscriptionRecord, hold: any SubscriptionHold)

    /// Every record, in name order.
    func records() async throws -> [SubscriptionRecord]

    /// Removes the record of `name`.
    /// - Throws: `EventStoreError.subscriptionBusy` when it is held, `.invalidArgument` when there
    ///   is no such subscription, or a storage error.
    func delete(_ name: String) async throws
}

/// One consumer's hold on a subscription name.
package protocol SubscriptionHold: AnyObject, Sendable {
    /// Stores `position` as the subscription's position, durably (per the store's durability)
    /// when it returns; the record is the old one or the new one after any crash. The core calls
    /// it with increasing positions, one call at a time.
    func record(position: Int64) async throws

    /// Lets go of the name. Called once.
    func release() async
}

/// A subscription as stored.
package struct SubscriptionRecord: Sendable, Hashable {
    package var name: String
    package var stream: String
    package var filter: EventFilter?
    package var position: Int64

    package init(name: String, stream: String, filter: EventFilter?, position: Int64) {
        self.name = name
        self.stream = stream
        self.filter = filter
        self.position = position
    }

    /// The filter as stored: JSON text (`EventFilter.storedText`), `nil` for none.
    package var filterText: String? { filter?.storedText }
}
