import EventSourcingCore

/// The log engine's own limits, in one place, and the relations between them, checked once when
/// a store opens (`check(_:)`). The limits every store shares (event and batch sizes) are
/// `Limits`, in the core.
enum EngineLimits {
    /// The highest segment ordinal: 24 bits of a `LogPosition`.
    static let segmentOrdinalMax = (1 << 24) - 1
    /// The highest byte offset in a segment: 40 bits of a `LogPosition`.
    static let segmentOffsetMax = (1 << 40) - 1
    /// `Options.segmentBytesMax` lies in this range (a segment also holds one frame past it).
    static let segmentBytesRange = 4096...(segmentOffsetMax / 2)
    /// The highest sequence id the key table can name: 40 bits of a slot.
    static let keySequenceIDMax: Int64 = (1 << 40) - 1
    /// The largest index file (the checkpoint and headers are checked against it).
    static let indexFileBytesMax = 1 << 38
    /// The address space an index file's mapping reserves at least when it opens (more for a
    /// larger file); the reservation doubles when the file outgrows it.
    static let indexReservationBytesMin = 1 << 30
    /// The most batch entries in one block of a stream's chain in `blocks.idx`.
    static let streamBlockCapacityMax = 65_536
    /// The longest commit delay of a group (`LogWriter`).
    static let commitDelayMaxNanoseconds: UInt64 = 200_000

    /// Checks `options` against the limits (throwing `invalidArgument` a user can act on) and, once,
    /// that the limits fit together (a broken relation is a bug: it traps).
    static func check(_ options: LogEventStore.Options) throws {
        _ = relationsHold
        guard segmentBytesRange.contains(options.segmentBytesMax) else {
            throw EventStoreError.invalidArgument(
                "segmentBytesMax must be between \(segmentBytesRange.lowerBound) bytes and 512 GiB")
        }
        guard options.checkpointBytesInterval > 0 else {
            throw EventStoreError.invalidArgument("checkpointBytesInterval must be positive")
        }
        if let maxBytes = options.retention?.maxBytes, maxBytes < 1 {
            throw EventStoreError.invalidArgument(
                "Options.retention.maxBytes must be at least 1, got \(maxBytes): leave it nil to keep every segment")
        }
        if let maxAge = options.retention?.maxAge, maxAge <= .zero {
            throw EventStoreError.invalidArgument("Options.retention.maxAge must be more than zero, got \(maxAge)")
        }
        let capacity = options.keyIndexInitialCapacity
        guard capacity >= 16, capacity & (capacity - 1) == 0 else {
            throw EventStoreError.invalidArgument("the key table's initial capacity must be a power of two, at least 16")
        }
    }

    /// The relations between the limits, checked the first time a store opens.
    private static let relationsHold: Void = {
        Limits.check()
        // A full segment plus one largest frame and a footer still has offsets that fit 40 bits.
        precondition(
            segmentBytesRange.upperBound + Limits.frameBytesMax + Segment.footerBytes <= segmentOffsetMax,
            "segment offsets fit a LogPosition")
        // Frame lengths are 32-bit fields; a frame of the largest batch fits one.
        precondition(Limits.frameBytesMax < Int(UInt32.max), "frame lengths fit 32 bits")
        // The key table's slots hold sequence ids up to 2^40 - 1; a store refuses writes past it
        // long before (2^40 events), and its fingerprint takes the other 24 bits.
        precondition(keySequenceIDMax == Int64(KeyIndex.sequenceMask), "key slots hold 40-bit sequence ids")
        // The batch index's size limit bounds a store to 2^32 batches (of up to a million events each).
        precondition(
            indexFileBytesMax >= IndexFile.headerBytes + (1 << 32) * BatchIndex.entryBytes,
            "the batch index holds 2^32 batches")
        precondition(
            streamBlockCapacityMax * StreamIndex.entryBytes + StreamIndex.blockHeaderBytes <= 1 << 21,
            "a stream's largest block is small beside the blocks file's growth step")
    }()
}
