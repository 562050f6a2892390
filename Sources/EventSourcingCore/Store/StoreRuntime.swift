import Logging
import Synchronization

/// What every store shares: its storage backend, the watch hub and the gate that `close` shuts.
/// Each public store type owns one and forwards to it.
///
/// Thread-safety: immutable references to thread-safe parts.
package final class StoreRuntime: Sendable {
    package let storage: any EventStorage
    package let hub: WatchHub
    package let gate = OperationGate()
    package let logger: Logger
    /// What the store reports through swift-metrics.
    package let metrics: StoreMetrics
    /// The subscriptions open through this store, closed with it.
    private let openSubscriptions = Mutex<[ObjectIdentifier: Subscription]>([:])

    package init(storage: any EventStorage, hub: WatchHub, logger: Logger, metrics: StoreMetrics) {
        self.storage = storage
        self.hub = hub
        self.logger = logger
        self.metrics = metrics
    }

    /// Opens a handle on `streamID`.
    package func stream(_ streamID: String) async throws -> EventStream {
        try Validation.checkStreamID(streamID)
        let head = try await gate.run { try await storage.head(of: streamID) }
        return EventStream(streamID: streamID, runtime: self, version: head.version)
    }

    /// `EventStore.write(_:)`: checks every write before storage sees any, then appends them as one
    /// unit and wakes the watchers of the streams that changed.
    package func write(_ writes: [StreamWrite]) async throws -> [Int64] {
        guard !writes.isEmpty else { return [] }
        let requests = try Validation.prepareWrites(writes)
        let results = try await metrics.timeWrite {
            try await gate.run { try await storage.appendAtomically(requests) }
        } appended: { $0.reduce(0) { $0 + $1.appendedCount } }
        for (request, result) in zip(requests, results) where result.appendedCount > 0 {
            hub.notify(streamID: request.streamID)
        }
        return results.map(\.version)
    }

    /// `EventStore.subscribe(_:options:)`: takes the name (creating its record at `options.start`
    /// the first time), and checks that the stored stream and filter are the ones asked for.
    package func subscribe(_ name: String, options: SubscriptionOptions) async throws -> Subscription {
        try Validation.checkSubscriptionName(name)
        try Validation.checkStreamID(options.stream)
        if let filter = options.filter { _ = try CompiledFilter(filter) }
        if case .after(let position) = options.start, position < 0 {
            throw EventStoreError.invalidArgument("a subscription starts after a position of at least 0, not \(position)")
        }
        let storage = self.storage
        let (record, hold) = try await gate.run {
            try await storage.subscriptions.acquire(name) {
                let head = try await storage.head(of: options.stream).version
                let position: Int64
                switch options.start {
                case .beginning: position = 0
                case .end: position = head
                case .after(let after):
                    guard after <= head else {
                        throw EventStoreError.invalidArgument(
                            "subscription '\(name)' cannot start after \(after): stream '\(options.stream)' ends at \(head)")
                    }
                    position = after
                }
                return SubscriptionRecord(name: name, stream: options.stream, filter: options.filter, position: position)
            }
        }
        guard record.stream == options.stream, record.filter == options.filter else {
            await hold.release()
            let filter = record.filter.map { "filter \($0.storedText)" } ?? "no filter"
            throw EventStoreError.invalidArgument(
                "subscription '\(name)' follows '\(record.stream)' with \(filter); subscribe with those, "
                    + "or delete the subscription first")
        }
        let subscription = Subscription(record: record, hold: hold, runtime: self)
        openSubscriptions.withLock { $0[ObjectIdentifier(subscription)] = subscription }
        if gate.isClosed {
            try await subscription.close()
            throw EventStoreError.storeClosed
        }
        return subscription
    }

    /// Forgets a closed subscription.
    func forget(_ subscription: Subscription) {
        _ = openSubscriptions.withLock { $0.removeValue(forKey: ObjectIdentifier(subscription)) }
    }

    /// `EventStore.subscriptions()`: every subscription, with its lag.
    package func subscriptions() async throws -> [SubscriptionInfo] {
        let storage = self.storage
        return try await gate.run {
            var infos: [SubscriptionInfo] = []
            var heads: [String: Int64] = [:]
            for record in try await storage.subscriptions.records() {
                let head: Int64
                if let known = heads[record.stream] {
                    head = known
                } else {
                    head = try await storage.head(of: record.stream).version
                    heads[record.stream] = head
                }
                infos.append(
                    SubscriptionInfo(
                        name: record.name, stream: record.stream, position: record.position,
                        lag: Swift.max(0, head - record.position)))
            }
            return infos
        }
    }

    /// `EventStore.deleteSubscription(_:)`.
    package func deleteSubscription(_ name: String) async throws {
        try Validation.checkSubscriptionName(name)
        let storage = self.storage
        try await gate.run { try await storage.subscriptions.delete(name) }
    }

    /// Every snapshot of the store.
    package func snapshots() async throws -> [Snapshot] { try await gate.run { try await storage.snapshots() } }

    /// Stores a snapshot as it is, timestamp included (for copies).
    package func saveSnapshot(_ snapshot: Snapshot) async throws {
        try await gate.run { try await storage.saveSnapshot(snapshot) }
    }

    /// Counts for `eventlog stats`.
    package func statistics() async throws -> StoreStatistics { try await gate.run { try await storage.statistics() } }

    /// Closes once: refuses new operations, finishes watches, waits for operations in flight,
    /// then closes storage. Later calls return at once.
    package func close() async throws {
        guard gate.close() else { return }
        hub.close()
        await gate.drain()
        for subscription in openSubscriptions.withLock({ Array($0.values) }) { try? await subscription.close() }
        try await storage.close()
    }
}
