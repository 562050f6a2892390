/// The limits every store enforces, in one place. Exceeding one throws
/// `EventStoreError.invalidEvent` (or `invalidStreamID` / `invalidArgument`), never a crash.
public enum Limits {
    /// Longest stream id, in UTF-8 bytes.
    public static let streamIDBytesMax = 1024
    /// Longest event type, in UTF-8 bytes.
    public static let eventTypeBytesMax = 1024
    /// Longest idempotency key, in UTF-8 bytes.
    public static let idempotencyKeyBytesMax = 1024
    /// Longest projection name, in UTF-8 bytes.
    public static let projectionNameBytesMax = 1024
    /// Longest subscription name, in UTF-8 bytes (a log store names a file after it, each byte
    /// taking up to three characters).
    public static let subscriptionNameBytesMax = 80
    /// Largest event: data plus type, key and metadata JSON, in bytes. 16 MiB of data fits.
    public static let eventBytesMax = 32 * 1024 * 1024
    /// Largest batch: the sum of its events' sizes, in bytes.
    public static let batchBytesMax = 128 * 1024 * 1024
    /// Most events in one write.
    public static let batchEventsMax = 1_000_000
    /// Largest snapshot state, in bytes.
    public static let snapshotStateBytesMax = 256 * 1024 * 1024
    /// Deepest nesting of metadata JSON.
    public static let metadataDepthMax = 64
    /// Largest stored frame of one batch (header, stream id, records, trailer), in bytes: a full
    /// batch plus the per-event record overhead. Readers refuse larger length fields.
    public static let frameBytesMax = batchBytesMax + 32 * 1024 * 1024

    package static func check() {
        precondition(eventBytesMax <= batchBytesMax, "an event must fit in a batch")
        precondition(
            eventBytesMax > 16 * 1024 * 1024 + eventTypeBytesMax + idempotencyKeyBytesMax,
            "an event with 16 MiB of data must be within the limits")
        precondition(batchBytesMax < Int(Int32.max), "batch sizes must fit 32-bit length fields")
        precondition(frameBytesMax >= batchBytesMax + batchEventsMax * 16, "record overhead must fit a frame")
        precondition(frameBytesMax < Int(UInt32.max), "frame lengths are 32-bit")
    }
}
