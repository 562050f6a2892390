import EventSourcingCore

/// The hashes of the log store's tables (docs/FORMAT.md), built on the core's `StableHash`.
extension StableHash {
    /// The hash of a stream id.
    static func stream(_ streamID: String) -> UInt64 { hash(streamID) }

    /// The hash of an idempotency key within a stream.
    static func key(_ key: String, streamHash: UInt64) -> UInt64 { hash(key, seed: streamHash) }
}
