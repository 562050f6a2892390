import Synchronization

/// A named, durable position in a stream: a consumer that restarts, or crashes, carries on after
/// the last position it acknowledged. Open one with `EventStore.subscribe(_:options:)`.
///
/// ```swift
/// let subscription = try await store.subscribe("billing-projector")
/// for try await event in subscription.events() {
///     try apply(event)
///     try await subscription.acknowledge(event)    // durable when it returns
/// }
/// ```
///
/// Delivery is at least once: events after the acknowledged position come again after a crash,
/// and no event comes again once its acknowledgement has returned. One `Subscription` of a name
/// is open at a time, across every process using the store; `close()` (or closing the store, or
/// the end of the process) lets go of the name.
///
/// A filtered subscription moves its position past the events the filter drops: acknowledging
/// the last event an iterator handed out records the last position that iterator has scanned
/// without finding another accepted event, so a rare event type does not make a restart re-read
/// everything.
///
/// Thread-safety: safe to use from many tasks at once; acknowledgements are applied one at a time.
public final class Subscription: Sendable {
    /// The events of `events()`: history after the acknowledged position, then live ones.
    public typealias Events = EventStream.Events

    /// The subscription's name.
    public let name: String
    /// The stream it follows.
    public let stream: String
    /// The events it delivers; `nil` for all.
    public let filter: EventFilter?

    private let runtime: StoreRuntime
    private let hold: any SubscriptionHold
    private let progress = SubscriptionProgress()
    private let acknowledgements = AsyncSerialLock()
    private struct State {
        var position: Int64
        var isClosed = false
    }
    private let state: Mutex<State>

    init(record: SubscriptionRecord, hold: any SubscriptionHold, runtime: StoreRuntime) {
        name = record.name
        stream = record.stream
        filter = record.filter
        self.hold = hold
        self.runtime = runtime
        state = Mutex(State(position: record.position))
    }

    /// The last acknowledged position: a sequence id for `"@all"`, a version otherwise.
    public var position: Int64 { get async { state.withLock { $0.position } } }

    /// The events after the acknowledged position (as it is now): history, then live events as
    /// they are written, like `EventStream.watch(from:filter:)`. The sequence ends when the
    /// subscription or the store closes.
    public func events() -> Events {
        let from = state.withLock { $0.position }
        return Events(mode: .watch, streamID: stream, from: from, filter: filter, runtime: runtime, progress: progress)
    }

    /// Records that `event` and every event before it are handled: a restart resumes after it.
    /// Durable when it returns. An event at or before the position changes nothing.
    /// - Throws: `EventStoreError.invalidArgument` for an event of another stream or after the
    ///   subscription closed, `.storeClosed`, or a storage error (the position is then the old
    ///   one or the new one).
    public func acknowledge(_ event: StoredEvent) async throws {
        let position: Int64
        if stream == StreamName.all {
            position = event.sequenceID
        } else {
            guard event.streamID == stream else {
                throw EventStoreError.invalidArgument(
                    "subscription '\(name)' follows stream '\(stream)'; it cannot acknowledge an event of '\(event.streamID)'")
            }
            position = event.version
        }
        try await advance(to: progress.acknowledgeable(position))
    }

    /// Records that every event up to `position` is handled (a sequence id for `"@all"`, a version
    /// otherwise). Durable when it returns. A position at or below the current one changes nothing.
    /// - Throws: `EventStoreError.invalidArgument` for a negative position, one past the stream's
    ///   head, or after the subscription closed; `.storeClosed`, or a storage error.
    public func acknowledge(upTo position: Int64) async throws {
        guard position >= 0 else {
            throw EventStoreError.invalidArgument("'position' is at least 0, not \(position)")
        }
        let storage = runtime.storage
        let head = try await runtime.gate.run { try await storage.head(of: stream) }.version
        guard position <= head else {
            throw EventStoreError.invalidArgument(
                "subscription '\(name)' cannot acknowledge position \(position): stream '\(stream)' ends at \(head)")
        }
        try await advance(to: position)
    }

    private func advance(to target: Int64) async throws {
        try await acknowledgements.run {
            let current = try state.withLock { state -> Int64 in
                guard !state.isClosed else {
                    throw EventStoreError.invalidArgument(
                        "subscription '\(name)' is closed: subscribe again to acknowledge")
                }
                return state.position
            }
            guard target > current else { return }
            try await runtime.gate.run { try await hold.record(position: target) }
            runtime.metrics.acknowledgements.increment()
            state.withLock { $0.position = target }
        }
    }

    /// Lets go of the name, so that another consumer can subscribe with it; ends the iterations of
    /// `events()`. Waits for an acknowledgement in flight. Calling it again does nothing.
    public func close() async throws {
        let wasOpen = state.withLock { state in
            defer { state.isClosed = true }
            return !state.isClosed
        }
        guard wasOpen else { return }
        progress.close()
        runtime.hub.notify(streamID: nil)
        runtime.forget(self)
        await acknowledgements.run { await hold.release() }
    }
}
