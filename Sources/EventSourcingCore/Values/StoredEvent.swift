import Foundation

/// An event as the store holds it.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct StoredEvent: Sendable, Hashable {
    /// The idempotency key when one was given, else `String(sequenceID)`.
    public let id: String
    /// The stream the event belongs to.
    public let streamID: String
    /// Position in the global log: 1-based and gap-free, in commit order.
    public let sequenceID: Int64
    /// Position in its stream: 1-based and gap-free.
    public let version: Int64
    /// When the event was stored, with microsecond precision.
    public let timestamp: Date
    /// The event's type.
    public let type: String
    /// The payload, byte for byte as written.
    public let data: Data
    /// The metadata as written (`nil` when none was given).
    public let metadata: [String: JSONValue]?

    /// Creates a stored event. Stores and tools that copy events between stores use this.
    public init(
        id: String, streamID: String, sequenceID: Int64, version: Int64, timestamp: Date,
        type: String, data: Data, metadata: [String: JSONValue]?
    ) {
        self.id = id
        self.streamID = streamID
        self.sequenceID = sequenceID
        self.version = version
        self.timestamp = timestamp
        self.type = type
        self.data = data
        self.metadata = metadata
    }
}
