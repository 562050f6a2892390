import EventSourcingCore

extension WriterContext {
    /// Applies `Options.retention` after the log rolled to a new segment (a no-op otherwise): the
    /// oldest sealed segments past the size or age bound are dropped. `SegmentCompactor` raises
    /// the store's floor to the first sequence id kept (durably, in the lifecycle file), so their
    /// events are hidden from every reader at once, then compacts each away, beside the writer.
    /// A failure is logged; it never fails a write.
    func applyStoreRetention() {
        guard let retention = options.retention, failure == nil, state.segments.last!.ordinal > retentionCheckedSegments
        else { return }
        do {
            // Segments already dropped hold nothing more to drop, and their bytes are (being) freed.
            let floor = max(try lifecycles.current().floor, retentionFloor)
            let sealed = state.segments.dropLast().filter { state.firstSequenceID(after: $0) > floor }
            var total = state.segments.filter { state.firstSequenceID(after: $0) > floor }
                .reduce(Int64(0)) { $0 + Int64($1.endOffset + Segment.footerBytes) }
            let cutoff = retention.maxAge.map { Timestamp.nowMicroseconds() - Retention(maxAge: $0).maxAgeMicros! }
            var dropped: [Segment] = []
            for segment in sealed {
                let tooBig = retention.maxBytes.map { total > $0 } ?? false
                let tooOld = try cutoff.map { try newestTimestamp(of: segment) < $0 } ?? false
                guard tooBig || tooOld else { break }
                dropped.append(segment)
                total -= Int64(segment.endOffset + Segment.footerBytes)
            }
            if let last = dropped.last {
                let floor = state.firstSequenceID(after: last)
                compactions.dropped(floor: floor, ordinals: dropped.map(\.ordinal))
                retentionFloor = floor
            } else if let stale = state.sealedSegments(below: floor).last {
                // Dropped before, but not removed yet (a crash or a failure came between): removed now.
                compactions.dropped(floor: floor, ordinals: [stale.ordinal])
            }
            retentionCheckedSegments = state.segments.last!.ordinal
        } catch {
            logger.warning("could not apply the store's retention; trying again at the next segment",
                metadata: ["error": "\(error)"])
        }
    }

    /// The timestamp of a sealed segment's last batch.
    private func newestTimestamp(of segment: Segment) throws -> Int64 {
        let last = state.firstSequenceID(after: segment) - 1
        guard let index = state.batches.lastEntry(atOrBefore: last) else { return Int64.max }
        let entry = state.batches.entry(at: index)
        return try LogState.withFrame(
            in: try state.segment(entry.position.segment), at: entry.position.offset, verifyChecksum: false
        ) { _, header in header.timestampMicros }
    }
}
