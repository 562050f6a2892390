import CoreMetrics
import Logging

/// An event store that keeps everything in memory: the whole behaviour, no persistence.
/// Useful in tests and as the reference the other stores are checked against.
///
/// Thread-safety: safe to use from many tasks at once.
public final class InMemoryEventStore: EventStore, RuntimeBackedStore {
    package let runtime: StoreRuntime

    /// Creates an empty store.
    public init() {
        runtime = StoreRuntime(
            storage: InMemoryStorage(), hub: WatchHub(), logger: Logger(label: "EventSourcing.InMemory"),
            metrics: StoreMetrics(store: "memory"))
    }

    /// A store that reports its metrics to `metricsFactory` (tests).
    package init(metricsFactory: any MetricsFactory) {
        runtime = StoreRuntime(
            storage: InMemoryStorage(), hub: WatchHub(), logger: Logger(label: "EventSourcing.InMemory"),
            metrics: StoreMetrics(store: "memory", factory: metricsFactory))
    }

    /// Opens a handle on a stream (`"@all"` for the global stream); see `EventStore.stream(_:)`.
    public func stream(_ id: String) async throws -> EventStream { try await runtime.stream(id) }

    /// Writes to several streams, all or nothing; see `EventStore.write(_:)`.
    @discardableResult
    public func write(_ writes: [StreamWrite]) async throws -> [Int64] { try await runtime.write(writes) }

    /// Opens a durable subscription; see `EventStore.subscribe(_:options:)`.
    public func subscribe(_ name: String, options: SubscriptionOptions) async throws -> Subscription {
        try await runtime.subscribe(name, options: options)
    }

    /// Every subscription with its position and lag; see `EventStore.subscriptions()`.
    public func subscriptions() async throws -> [SubscriptionInfo] { try await runtime.subscriptions() }

    /// Removes a subscription; see `EventStore.deleteSubscription(_:)`.
    public func deleteSubscription(_ name: String) async throws { try await runtime.deleteSubscription(name) }

    /// Finishes open watches, waits for writes in flight and releases the store; see `EventStore.close()`.
    public func close() async throws { try await runtime.close() }
}
