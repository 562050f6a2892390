/// Every error a store throws.
///
/// `description` reads as a sentence a user can act on.
public enum EventStoreError: Error, Equatable, CustomStringConvertible {
    /// The stream was not at the version the write expected; nothing was appended.
    case concurrencyConflict(streamID: String, expected: ExpectedVersion, actual: Int64)
    /// `"@all"` is read-only: it is the global sequence of every stream's events.
    case writeToAllStream
    /// A snapshot of `"@all"` needs an explicit version (a global sequence id).
    case snapshotVersionRequired
    /// A filter named a field that does not exist.
    case unsupportedFilterField(String)
    /// A filter was malformed (for example `oneOf` with an empty list).
    case invalidFilter(String)
    /// A stream id was empty, longer than 1024 UTF-8 bytes, held a NUL, or began with `@`
    /// without being `"@all"`.
    case invalidStreamID(String)
    /// An event or batch broke a rule: an empty type, a size limit, non-finite metadata numbers...
    case invalidEvent(String)
    /// An argument other than an event was out of range (a negative position or limit,
    /// an empty projection name, ...).
    case invalidArgument(String)
    /// Another process holds the write lock on this store.
    case storeLocked(String)
    /// A write through a store that was opened read-only.
    case readOnly
    /// The store was closed.
    case storeClosed
    /// Stored bytes are damaged; names the file and byte offset.
    case corruption(String)
    /// An operating-system error, with its errno text (e.g. "No space left on device").
    case io(String)
    /// A database server cannot be reached, or stopped answering within its timeout; retry later.
    /// A write that failed this way may or may not have been stored: retry it with its keys.
    case unavailable(String)
    /// Another consumer, in this process or another, holds the subscription: close it first, or
    /// wait for its process to end.
    case subscriptionBusy(String)
    /// The stream was tombstoned: it takes no more writes, deletions, truncations or retention.
    case streamDeleted(String)

    /// A sentence that says what went wrong and what to do.
    public var description: String {
        switch self {
        case .concurrencyConflict(let streamID, let expected, let actual):
            return "Concurrency conflict on stream '\(streamID)': expected \(expected), but stream is at \(actual)"
        case .writeToAllStream:
            return "The '@all' stream is read-only: write to a named stream instead"
        case .snapshotVersionRequired:
            return "A snapshot of '@all' needs an explicit version: pass the sequence id the state reflects"
        case .unsupportedFilterField(let field):
            return "Unsupported filter field '\(field)': use stream_id, event_type, version, sequence_id "
                + "or metadata.<key>"
        case .invalidFilter(let reason):
            return "Invalid filter: \(reason)"
        case .invalidStreamID(let reason):
            return "Invalid stream id: \(reason)"
        case .invalidEvent(let reason):
            return "Invalid event: \(reason)"
        case .invalidArgument(let reason):
            return "Invalid argument: \(reason)"
        case .storeLocked(let reason):
            return "The store is locked by another writer: \(reason)"
        case .readOnly:
            return "The store was opened read-only: open it without readOnly to write"
        case .storeClosed:
            return "The store is closed: open it again to use it"
        case .corruption(let reason):
            return "The store is damaged: \(reason)"
        case .io(let reason):
            return "I/O error: \(reason)"
        case .unavailable(let reason):
            return "The database server is unavailable: \(reason); retry later"
        case .subscriptionBusy(let name):
            return "Subscription '\(name)' is held by another consumer: close that one first, or wait until its process ends"
        case .streamDeleted(let streamID):
            return "Stream '\(streamID)' was tombstoned: it is deleted for good; write to another stream"
        }
    }
}
