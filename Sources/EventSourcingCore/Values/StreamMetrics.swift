import Foundation

/// Counters of a stream, or of the whole store for `"@all"`.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct StreamMetrics: Sendable, Hashable {
    /// The stream's version, or for `"@all"` the head sequence id.
    public let currentVersion: Int64
    /// The number of stored events (in the stream, or in the store for `"@all"`).
    public let eventCount: Int64
    /// The timestamp of the newest event, `nil` when there is none.
    public let lastTimestamp: Date?

    /// Creates a metrics value.
    public init(currentVersion: Int64, eventCount: Int64, lastTimestamp: Date?) {
        self.currentVersion = currentVersion
        self.eventCount = eventCount
        self.lastTimestamp = lastTimestamp
    }
}
