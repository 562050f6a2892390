import EventSourcingCore

/// Which segments to remove, taken on the writer thread: the oldest ones whose every event is below
/// the store's (durable) floor, and the record of those removed before.
struct RemovalStart: Sendable {
    let segments: [Segment]
    let removed: RemovedSegments
    /// The first sequence id of the segment after the last one removed.
    let firstKeptSequenceID: Int64
}

extension WriterContext {
    /// The first step of removing the segments the store's retention dropped (`SegmentCompactor`),
    /// on the writer thread between groups: a compaction a failure left half done is finished (its
    /// journal may name one of them), the lifecycle file is made durable (the floor that hides
    /// them must never be taken back by a power loss once they are gone), and the sealed segments
    /// wholly below the floor are taken. The segment the writer appends to is never removed.
    /// - Returns: `nil` when no segment is wholly below the floor.
    func startRemoval() throws -> RemovalStart? {
        recordDurableEnd()
        if let failure { throw Self.stopped(after: failure) }
        try finishLeftoverCompaction()
        try lifecycles.settle(fileMode: options.fileMode)
        let floor = try lifecycles.current().floor
        let below = state.sealedSegments(below: floor)
        guard let last = below.last else { return nil }
        return RemovalStart(
            segments: Array(below), removed: state.removed, firstKeptSequenceID: state.firstSequenceID(after: last))
    }

    /// The step on the writer thread once the record is durable: the segments leave the log (reads
    /// planned from now on skip their positions; a read planned before still holds their mapped
    /// bytes), and the keys read back from their frames are forgotten.
    func adoptRemoval(_ removed: RemovedSegments) {
        state.withLock {
            let count = removed.firstKeptOrdinal - state.removed.firstKeptOrdinal
            state.segments.removeFirst(max(0, min(count, state.segments.count - 1)))
            state.removed = removed
        }
        forgetKeyFrames()
    }
}

extension RemovalStart {
    /// The record with `segments` removed too: what their frames say of each stream (any thread:
    /// the bytes of sealed segments below the floor change only by compaction, which waits for
    /// this under the same lock).
    func record() throws -> RemovedSegments {
        var record = removed
        for segment in segments {
            var offset = Segment.headerBytes
            while offset < segment.endOffset {
                offset += try LogState.withFrame(in: segment, at: offset, verifyChecksum: false) { frame, header in
                    record.note(
                        streamID: BatchFrame.streamID(frame, header),
                        position: LogPosition(segment: segment.ordinal, offset: offset),
                        lastVersion: header.firstVersion + Int64(header.eventCount) - 1,
                        timestampMicros: header.timestampMicros)
                    return header.frameLength
                }
            }
        }
        record.firstKeptOrdinal = segments.last!.ordinal + 1
        record.firstKeptSequenceID = firstKeptSequenceID
        record.lastRemovedBytes = Int64(segments.last!.endOffset + Segment.footerBytes)
        return record
    }
}
