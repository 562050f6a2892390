/// A store of event streams.
///
/// Thread-safety: every store is safe to use from many tasks at once.
public protocol EventStore: AnyObject, Sendable {
    /// Opens a handle on a stream; `"@all"` is the global stream. A stream with no events opens
    /// at version 0.
    /// - Throws: `EventStoreError.invalidStreamID`, `EventStoreError.storeClosed`, or a storage error.
    func stream(_ id: String) async throws -> EventStream

    /// Writes to several streams at once, all or nothing: every stream's rules hold (keys drop
    /// events already stored, expected versions are checked) and every remaining event is stored,
    /// or nothing is. The call's events take consecutive sequence ids in the order given, and
    /// readers and watchers, in this process or another, see all of them or none.
    ///
    /// - Returns: Each stream's version after the write, in the order of `writes` (`[]` for none).
    /// - Throws: `EventStoreError.invalidArgument` when a stream appears twice,
    ///   `.writeToAllStream` for `"@all"`, `.invalidStreamID`, `.invalidEvent`,
    ///   `.concurrencyConflict` naming the first stream whose check failed, `.readOnly`,
    ///   `.storeClosed`, or a storage error; in every case nothing of the call is stored.
    @discardableResult
    func write(_ writes: [StreamWrite]) async throws -> [Int64]

    /// Opens the subscription `name`, creating it at `options.start` the first time; its stream
    /// and filter are fixed then. Only one consumer holds a name at a time, across processes.
    /// - Throws: `EventStoreError.subscriptionBusy` while another consumer holds it,
    ///   `.invalidArgument` for a bad name or other stream or filter than the stored ones,
    ///   `.invalidStreamID`, `.invalidFilter`, `.storeClosed`, or a storage error.
    func subscribe(_ name: String, options: SubscriptionOptions) async throws -> Subscription

    /// Every subscription, in name order, with its position and lag.
    func subscriptions() async throws -> [SubscriptionInfo]

    /// Removes a subscription.
    /// - Throws: `EventStoreError.subscriptionBusy` while a consumer holds it, `.invalidArgument`
    ///   when there is none of that name, `.readOnly`, or a storage error.
    func deleteSubscription(_ name: String) async throws

    /// Finishes every open watch, waits for in-flight writes and releases files. Calling it again
    /// does nothing; every other call on the store or its streams then throws
    /// `EventStoreError.storeClosed`.
    func close() async throws
}

extension EventStore {
    /// Opens the subscription `name` with the default options: every event of `"@all"`, from the
    /// beginning; see `subscribe(_:options:)`.
    public func subscribe(_ name: String) async throws -> Subscription {
        try await subscribe(name, options: SubscriptionOptions())
    }
}

/// Runs `body` with `store`, then closes the store, also when `body` throws (the close error is
/// then dropped in favour of the body's).
package nonisolated(nonsending) func closing<Store: EventStore, R>(_ store: Store, _ body: (Store) async throws -> R) async throws -> R {
    do {
        let result = try await body(store)
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}
