/// How `EventStore.subscribe(_:options:)` creates a subscription the first time its name is used.
/// The stream and filter are fixed then: subscribing again with other ones is an error.
public struct SubscriptionOptions: Sendable, Hashable {
    /// Where a new subscription begins.
    public enum Start: Sendable, Hashable {
        /// Before the first event: every event is delivered.
        case beginning
        /// At the stream's head when the subscription is created: only later events.
        case end
        /// After this position (a sequence id for `"@all"`, a version otherwise).
        case after(Int64)
    }

    /// The stream to follow; `"@all"` by default.
    public var stream: String
    /// The events to deliver; `nil` delivers every event.
    public var filter: EventFilter?
    /// Where a new subscription begins; `.beginning` by default.
    public var start: Start

    /// Creates options; every parameter has a default.
    public init(stream: String = "@all", filter: EventFilter? = nil, start: Start = .beginning) {
        self.stream = stream
        self.filter = filter
        self.start = start
    }
}
