/// Walks the frames of one segment in log order: each frame's bounds, magic, lengths and checksum
/// (`BatchFrame.probe`), its format (the segment's), its synced end (never past the frame itself)
/// and its sequence ids (following the frame before). The one frame walker of recovery, the
/// verifier and the follower.
///
/// A write may span several frames (each but the last flagged `continues`); the cursor also keeps
/// where the last whole write ended, which is where a torn write is cut.
///
/// Thread-safety: a value type; the bytes it walks are lent for each step.
struct FrameCursor {
    /// What the next step found.
    enum Step: Equatable {
        /// A valid frame at `offset`; the cursor has moved past it.
        case frame(BatchHeader, offset: Int)
        /// The walk reached its end.
        case end
        /// No valid frame at the cursor (it stays there): a torn or damaged frame, or one that
        /// does not follow the frame before.
        case damaged(String)
    }

    let ordinal: Int
    let formatVersion: Int
    /// Where the walk stops: the bytes lent to `next` must reach at least this far.
    let end: Int
    private(set) var offset: Int
    private(set) var nextSequenceID: Int64
    /// Frames passed.
    private(set) var count = 0
    /// The end of the last whole write, with the frame count and next sequence id there.
    private(set) var whole: (offset: Int, count: Int, nextSequenceID: Int64)

    init(segment: Segment, from offset: Int = Segment.headerBytes, end: Int, nextSequenceID: Int64) {
        self.ordinal = segment.ordinal
        self.formatVersion = segment.frameFormatVersion
        self.end = end
        self.offset = offset
        self.nextSequenceID = nextSequenceID
        self.whole = (offset, 0, nextSequenceID)
    }

    /// Whether the walk stands at the end of a whole write.
    var isWhole: Bool { whole.offset == offset }

    /// Steps to the next frame. `bytes` are the segment's bytes from offset 0, at least to `end`.
    mutating func next(_ bytes: UnsafeRawBufferPointer, verifyChecksum: Bool = true) -> Step {
        guard offset < end else { return .end }
        let window = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        switch BatchFrame.probe(window, at: offset, verifyChecksum: verifyChecksum) {
        case .truncated:
            return .damaged("truncated")
        case .invalid(let reason):
            return .damaged(reason)
        case .frame(let header):
            if let problem = problem(with: header, at: offset) { return .damaged(problem) }
            guard header.firstSequenceID == nextSequenceID else {
                return .damaged("batch starts at sequence id \(header.firstSequenceID), expected \(nextSequenceID)")
            }
            let at = offset
            offset += header.frameLength
            nextSequenceID = header.lastSequenceID + 1
            count += 1
            if !header.continues { whole = (offset, count, nextSequenceID) }
            return .frame(header, offset: at)
        }
    }

    /// Steps over valid frames to the end or to the first damage.
    /// - Returns: why the walk stopped short (the damage), or `nil` when it reached the end.
    mutating func skipFrames(_ bytes: UnsafeRawBufferPointer) -> String? {
        while true {
            switch next(bytes) {
            case .frame: continue
            case .end: return nil
            case .damaged(let reason): return reason
            }
        }
    }

    /// Why a checksummed frame cannot stand at `offset` of this segment, if it cannot.
    private func problem(with header: BatchHeader, at offset: Int) -> String? {
        if header.formatVersion != formatVersion {
            return "a format-\(header.formatVersion) frame in a format-\(formatVersion) segment"
        }
        if formatVersion >= 2, header.syncedEnd > LogPosition(segment: ordinal, offset: offset) {
            return "synced end \(header.syncedEnd) lies past the frame"
        }
        return nil
    }

    /// What lies past damage at `offset`: the first valid frame of the segment's format after it
    /// (searched byte by byte, then frame by frame), and the furthest synced end any of them
    /// records. A frame found inside another frame's payload is skipped with it.
    static func framesAfterDamage(
        in bytes: UnsafeRawBufferPointer, segment: Segment, after offset: Int, end: Int
    ) -> (first: Int?, furthestSyncedEnd: LogPosition?) {
        let window = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        let magic = segment.formatVersion == 1 ? BatchHeader.magicV1 : BatchHeader.magicV2
        var first: Int?
        var furthest: LogPosition?
        var candidate = offset + 1
        while candidate + BatchHeader.minimumFrameBytes <= end {
            if window.loadUnaligned(fromByteOffset: candidate + 4, as: UInt32.self).littleEndian == magic,
                case .frame(let header) = BatchFrame.probe(window, at: candidate),
                header.formatVersion == segment.frameFormatVersion
            {
                let position = LogPosition(segment: segment.ordinal, offset: candidate)
                if header.formatVersion == 1 || header.syncedEnd <= position {
                    if first == nil { first = candidate }
                    if header.formatVersion >= 2 { furthest = max(furthest ?? header.syncedEnd, header.syncedEnd) }
                }
                candidate += header.frameLength
                continue
            }
            candidate += 1
        }
        return (first, furthest)
    }
}
