import EventSourcingCore
import Synchronization

/// What readers and the writer share: the segments, the batch and stream indexes, and the head.
///
/// The locking rule: one thread mutates (the writer thread of a writable store, the follower
/// thread of a read-only one, or the opening thread before either starts), and it mutates only
/// inside `withLock`; readers read only inside `withLock`. The mutating thread may read without
/// the lock, since nobody else writes. The writer takes the lock only to look up versions and to
/// publish a committed group, so readers wait at most for an index update, never for a disk write.
///
/// Thread-safety: `@unchecked Sendable` because of the rule above.
final class LogState: @unchecked Sendable {
    private let lock = Mutex(())
    /// The file seam the store was opened with.
    let io: any FileIO
    /// The segments on disk, oldest first: ordinals `removed.firstKeptOrdinal` and up.
    var segments: [Segment]
    /// The segments the store's retention removed, and the streams that had batches in them.
    var removed = RemovedSegments()
    var batches: BatchIndex
    var streams: StreamIndex
    var headSequenceID: Int64
    var headTimestampMicros: Int64?
    /// Set when publishing a write to several streams failed partway (a damaged index): the
    /// indexes then hold part of one write, so every read fails with this until a reopen rebuilds
    /// them from the log, where the write is whole.
    var unreadable: EventStoreError?

    init(
        io: any FileIO, segments: [Segment], batches: BatchIndex, streams: StreamIndex, headSequenceID: Int64,
        headTimestampMicros: Int64?
    ) {
        self.io = io
        self.segments = segments
        self.batches = batches
        self.streams = streams
        self.headSequenceID = headSequenceID
        self.headTimestampMicros = headTimestampMicros
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in try body() }
    }

    /// The segment with `ordinal` (inside the lock).
    /// - Throws: `EventStoreError.corruption` when the log has no such segment (a removed one
    ///   included: callers skip removed positions first, `isRemoved`).
    func segment(_ ordinal: Int) throws -> Segment {
        let index = ordinal - removed.firstKeptOrdinal
        guard index >= 0, index < segments.count else {
            throw EventStoreError.corruption(
                "an index points at segment \(ordinal), but the log has segments \(removed.firstKeptOrdinal) to "
                    + "\(removed.firstKeptOrdinal + segments.count - 1)")
        }
        return segments[index]
    }

    /// The segment with `ordinal`, or `nil` when the log has none (removed, or not made yet).
    func segmentIfPresent(_ ordinal: Int) -> Segment? {
        let index = ordinal - removed.firstKeptOrdinal
        return index >= 0 && index < segments.count ? segments[index] : nil
    }

    /// Whether `position` lies in a segment the store's retention removed: every event there is
    /// below the store's floor, so hidden; readers skip it without reading.
    func isRemoved(_ position: LogPosition) -> Bool { removed.isRemoved(position) }

    /// The first sequence id after `segment`: the next segment's first, or past the head.
    func firstSequenceID(after segment: Segment) -> Int64 {
        segmentIfPresent(segment.ordinal + 1)?.firstSequenceID ?? headSequenceID + 1
    }

    /// The oldest sealed segments whose every sequence id is below `floor`: those the store's
    /// retention removes (the segment the writer appends to is never among them).
    func sealedSegments(below floor: Int64) -> ArraySlice<Segment> {
        segments.dropLast().prefix { firstSequenceID(after: $0) <= floor }
    }

    /// The stream's slot in the stream index, or `nil` for a stream with no events (inside the
    /// lock, or on the mutating thread). A hash match is confirmed by the stream id of its first frame
    /// (or of the record of removed segments, when that frame was in one).
    func slot(of streamID: String, hash: UInt64) throws -> StreamIndex.Slot? {
        try streams.find(hash: hash, isStream: { try isStream(streamID, at: $0) })
    }

    /// Records a committed frame in the batch and stream indexes and moves the head past it
    /// (inside the lock, on the mutating thread): the one place a frame enters the indexes.
    func record(
        streamID: String, streamHash: UInt64, position: LogPosition, firstSequenceID: Int64, firstVersion: Int64,
        eventCount: Int, timestampMicros: Int64
    ) throws {
        try batches.append(
            BatchIndex.Entry(
                firstSequenceID: firstSequenceID, position: position, streamHash: streamHash,
                firstVersion: firstVersion))
        try streams.record(
            existing: try slot(of: streamID, hash: streamHash), hash: streamHash, firstVersion: firstVersion,
            eventCount: eventCount, position: position, timestampMicros: timestampMicros)
        headSequenceID = firstSequenceID + Int64(eventCount) - 1
        headTimestampMicros = timestampMicros
    }

    /// Whether the frame at `position` belongs to `streamID` (inside the lock). The frame's
    /// structure is checked, not its checksum: a compaction beside the writer may be rewriting
    /// the frame (its header, then its trailer), and it never changes the length, magic or stream
    /// id that this reads. (Damage is what opens and reads check.)
    func isStream(_ streamID: String, at position: LogPosition) throws -> Bool {
        if isRemoved(position) { return removed.stream(firstAt: position)?.id == streamID }
        return try Self.withFrame(in: segment(position.segment), at: position.offset, verifyChecksum: false) { frame, header in
            BatchFrame.hasStreamID(frame, header, streamID)
        }
    }

    /// The stream id of the stream whose first frame is at `position` (inside the lock).
    func streamID(firstAt position: LogPosition) throws -> String {
        if isRemoved(position) {
            guard let stream = removed.stream(firstAt: position) else {
                throw EventStoreError.corruption(
                    "'\(RemovedSegments.name)': no stream recorded at \(position), where a stream's first batch was")
            }
            return stream.id
        }
        return try Self.withFrame(in: segment(position.segment), at: position.offset) { frame, header in
            BatchFrame.streamID(frame, header)
        }
    }

    /// Lends the checked frame at `offset` of `segment`: its bytes and header.
    /// - Throws: `EventStoreError.corruption` naming the file and offset when no valid frame is there.
    static func withFrame<T>(
        in segment: Segment, at offset: Int, verifyChecksum: Bool = true,
        _ body: (UnsafeRawBufferPointer, BatchHeader) throws -> T
    ) throws -> T {
        let end = segment.endOffset
        guard offset >= Segment.headerBytes, offset < end else {
            throw EventStoreError.corruption(
                "'\(segment.path)' offset \(offset): an index points past the committed end \(end)")
        }
        return try segment.withBytes(offset: offset, count: end - offset) { bytes in
            guard case .frame(let header) = BatchFrame.probe(bytes, at: 0, verifyChecksum: verifyChecksum) else {
                throw EventStoreError.corruption(
                    "'\(segment.path)' offset \(offset): no valid batch where an index points")
            }
            return try body(UnsafeRawBufferPointer(rebasing: bytes[0..<header.frameLength]), header)
        }
    }
}
