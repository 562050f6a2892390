import Foundation

/// An event to be written to a stream.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct CandidateEvent: Sendable, Hashable {
    /// The event's type, for example `"OrderPlaced"`. Must not be empty.
    public var type: String
    /// The payload, stored and returned byte for byte.
    public var data: Data
    /// Optional JSON metadata; `nil` stays `nil` and an empty object stays empty.
    public var metadata: [String: JSONValue]?
    /// When set, a write drops this event if its stream already holds the key (or an earlier
    /// event of the same batch carries it). The stored event's `id` is then the key.
    public var idempotencyKey: String?

    /// Creates an event to write.
    /// - Parameters:
    ///   - type: The event's type; must not be empty.
    ///   - data: The payload.
    ///   - metadata: Optional JSON metadata, filterable as `metadata.<key>`.
    ///   - idempotencyKey: Optional key that makes the write of this event idempotent.
    public init(
        type: String, data: Data = Data(),
        metadata: [String: JSONValue]? = nil, idempotencyKey: String? = nil
    ) {
        self.type = type
        self.data = data
        self.metadata = metadata
        self.idempotencyKey = idempotencyKey
    }
}
