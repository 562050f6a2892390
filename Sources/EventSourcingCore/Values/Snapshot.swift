import Foundation

/// The saved state of one projection of a stream.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct Snapshot: Sendable, Hashable {
    /// The stream the snapshot belongs to (`"@all"` for the global stream).
    public let streamID: String
    /// The projection the state belongs to; one stream can have many.
    public let projectionName: String
    /// The stream version the state reflects, or for `"@all"` a global sequence id.
    public let version: Int64
    /// Exactly the bytes that were saved.
    public let state: Data
    /// When the snapshot was saved, with microsecond precision.
    public let timestamp: Date

    /// Creates a snapshot value.
    public init(streamID: String, projectionName: String, version: Int64, state: Data, timestamp: Date) {
        self.streamID = streamID
        self.projectionName = projectionName
        self.version = version
        self.state = state
        self.timestamp = timestamp
    }
}
