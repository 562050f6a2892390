/// The events for one stream in a write that spans several streams (`EventStore.write(_:)`).
public struct StreamWrite: Sendable, Hashable {
    /// The stream to append to; not `"@all"`.
    public var streamID: String
    /// The events to append to it, in order.
    public var events: [CandidateEvent]
    /// The version the stream must be at, as in `EventStream.write(_:expectedVersion:)`.
    public var expectedVersion: ExpectedVersion

    /// Creates one stream's part of a write to several streams.
    /// - Parameters:
    ///   - streamID: The stream to append to; not `"@all"`.
    ///   - events: The events to append to it, in order.
    ///   - expectedVersion: The version the stream must be at; `.any` skips the check.
    public init(_ streamID: String, _ events: [CandidateEvent], expectedVersion: ExpectedVersion = .any) {
        self.streamID = streamID
        self.events = events
        self.expectedVersion = expectedVersion
    }
}
