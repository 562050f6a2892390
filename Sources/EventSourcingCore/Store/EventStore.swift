/// A store of event streams.
///
/// Thread-safety: every store is safe to use from many tasks at once.
public protocol EventStore: AnyObject, Sendable {
    /// Opens a handle on a stream; `"@all"` is the global stream. A stream with no events opens
    /// at version 0.
    /// - Throws: `EventStoreError.invalidStreamID`, `EventStoreError.storeClosed`, or a storage error.
    func stream(_ id: String) async throws -> EventStream

    /// Finishes every open watch, waits for in-flight writes and releases files. Calling it again
    /// does nothing; every other call on the store or its streams then throws
    /// `EventStoreError.storeClosed`.
    func close() async throws
}
