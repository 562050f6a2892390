/// A subscription as `EventStore.subscriptions()` lists it.
public struct SubscriptionInfo: Sendable, Hashable {
    /// The subscription's name.
    public let name: String
    /// The stream it follows.
    public let stream: String
    /// The last acknowledged position: a sequence id for `"@all"`, a version otherwise.
    public let position: Int64
    /// How many events of its stream follow `position` (before filtering).
    public let lag: Int64

    /// Creates a subscription's listing.
    public init(name: String, stream: String, position: Int64, lag: Int64) {
        self.name = name
        self.stream = stream
        self.position = position
        self.lag = lag
    }
}
