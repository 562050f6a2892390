import EventSourcingCore

/// Where the compaction of one segment starts: what the writer thread saw between two groups.
struct CompactionStart {
    let segment: Segment
    /// Where the segment's durable bytes ended: the compaction looks at `[0, end)` only.
    let end: Int
    /// Whether the writer still appended to the segment (it had no footer).
    let isActive: Bool
    let table: LifecycleTable
    /// The versions of the streams whose `maxCount` depends on them, durable ones.
    let versions: [String: Int64]
    let nowMicros: Int64
}

/// The compaction of one segment, planned off the writer thread: the journal of its changes,
/// the body checksum they leave, and what they free.
struct CompactionPlan {
    let start: CompactionStart
    var journal: CompactionJournal
    /// The CRC-32C of the segment's bytes `[0, start.end)` once the changes are made.
    let body: UInt32
    let events: Int64
    let bytes: Int64
}

extension WriterContext {
    /// The first step of a segment's compaction (`SegmentCompactor`), on the writer thread
    /// between groups: a compaction a failure left half done is finished, a `.buffered` log is
    /// synced (the rule is judged against durable versions, and a journal redone after a power
    /// loss must never turn bytes that never reached the disk into a batch), and the table and
    /// the versions are taken.
    /// - Returns: `nil` when there is nothing the compaction could remove.
    func startCompaction(of ordinal: Int) throws -> CompactionStart? {
        recordDurableEnd()
        if let failure { throw Self.stopped(after: failure) }
        // A compaction whose changes failed partway left its journal: it is finished first, so
        // that this one's journal never replaces it (its changes may not be durable yet).
        try finishLeftoverCompaction()
        // Nothing is removed for a change that a power loss could take back.
        try lifecycles.settle(fileMode: options.fileMode)
        let table = try lifecycles.current()
        guard !table.isEmpty, let segment = state.withLock({ state.segmentIfPresent(ordinal) }) else { return nil }
        // Format-1 segments keep their batches: compacted frames are of format 2.
        guard segment.formatVersion >= 2 else { return nil }
        if options.durability == .buffered { try synchronizeBufferedLog() }
        let versions = try state.withLock {
            var versions: [String: Int64] = [:]
            for (streamID, lifecycle) in table.streams where lifecycle.retention?.maxCount != nil {
                versions[streamID] = try state.slot(of: streamID, hash: StableHash.stream(streamID))?.version ?? 0
            }
            return versions
        }
        return CompactionStart(
            segment: segment, end: segment.endOffset, isActive: !segment.isSealed, table: table, versions: versions,
            nowMicros: Timestamp.nowMicroseconds())
    }

    /// Finishes a compaction whose changes failed partway (its journal is still there), on the
    /// writer thread, before anything could plan again or show hidden events again (a new
    /// retention): the journal's plan was made with what was hidden then. When it was the
    /// segment the writer appends to, its running checksum is taken again from the file, so that
    /// its footer, when it is sealed, covers the body as changed.
    func finishLeftoverCompaction() throws {
        guard let redone = try CompactionJournal.redo(directory: directory, io: options.io, logger: logger) else {
            return
        }
        forgetKeyFrames()
        if let segment = state.segments.last, redone == segment.ordinal, !segment.isSealed {
            segment.runningChecksum = segment.withBytes(offset: 0, count: segment.endOffset) { Checksum.crc32c($0) }
        }
    }

    /// The step on the writer thread once the plan's journal is durable (or, for the segment the
    /// writer appends to, saved here first): from here the journal makes the changes happen (now,
    /// at the next compaction, or at the next open). The keys read back from frames are
    /// forgotten, key checks wait while the segment's bytes change, and the running checksum of
    /// the active segment covers its body as changed, so that the footer it gets when sealed does.
    /// - Returns: The journal to apply.
    func adoptCompaction(_ plan: CompactionPlan) throws -> CompactionJournal {
        let segment = plan.start.segment
        if plan.start.isActive {
            if segment.isSealed {
                // Sealed since the plan was made: its footer covers the body as it was, so the
                // journal takes the footer as it will be.
                throw CompactionRetry()
            }
            do {
                try plan.journal.save(directory: directory, fileMode: options.fileMode, io: options.io)
            } catch {
                abandonJournal(of: segment, after: error)
                throw error
            }
            segment.runningChecksum = segment.withBytes(
                offset: plan.start.end, count: segment.endOffset - plan.start.end
            ) { Checksum.crc32c($0, continuing: plan.body) }
        }
        forgetKeyFrames()
        compactions.begin(segment.ordinal)
        return plan.journal
    }

    /// A journal of the segment the writer appends to whose save failed (after its rename, say)
    /// may still be under its name: redone later, once the writer has sealed the segment with a
    /// footer of the body as it is, its changes would no longer match that footer (compaction-fault
    /// seed 20261217 round 8191). So it is removed, durably; if that fails too, the writer stops,
    /// so that the segment stays unsealed and the next open redoes the journal, if there is one,
    /// on the last segment, which it walks frame by frame.
    private func abandonJournal(of segment: Segment, after error: Error) {
        do {
            try CompactionJournal.remove(directory: directory, io: options.io)
        } catch {
            stop(after: error, durableEnd: LogPosition(segment: segment.ordinal, offset: segment.endOffset))
        }
    }

    /// The segment was sealed after its compaction was planned: the compaction plans it again.
    struct CompactionRetry: Error {}
}

extension CompactionPlan {
    /// Plans the compaction of `start.segment` (any thread; the segment's bytes below
    /// `start.end` change only by compaction, which runs one at a time): every batch whose
    /// events are all hidden loses its payload (see `CompactionJournal`).
    /// - Returns: `nil` when no batch is all hidden.
    static func make(_ start: CompactionStart) throws -> CompactionPlan? {
        let segment = start.segment
        let hidden = HiddenEvents(table: start.table, versions: start.versions, nowMicros: start.nowMicros)
        var writes: [(offset: Int, bytes: [UInt8])] = []
        var holes: [(offset: Int, count: Int)] = []
        var events: Int64 = 0
        var bytes: Int64 = 0
        var offset = Segment.headerBytes
        while offset < start.end {
            offset += try LogState.withFrame(in: segment, at: offset) { frame, header -> Int in
                guard header.codec != .compacted else { return header.frameLength }
                let streamID = BatchFrame.streamID(frame, header)
                guard hidden.hidesAll(of: header, streamID: streamID) else { return header.frameLength }
                let (head, trailer) = BatchFrame.compactedPatches(frame, header)
                writes.append((offset, head))
                holes.append((offset + header.payloadOffset, header.payloadStoredLength))
                writes.append((offset + header.frameLength - BatchHeader.trailerBytes, trailer))
                events += Int64(header.eventCount)
                bytes += Int64(header.payloadStoredLength)
                return header.frameLength
            }
        }
        guard events > 0 else { return nil }
        // The header takes format 3, and the footer the checksum of the body as it will be.
        var header = segment.withBytes(offset: 0, count: Segment.headerBytes) { Array($0) }
        store(Segment.compactedFormatVersion, in: &header, at: 8)
        store(Checksum.crc32c(Array(header[0..<60])), in: &header, at: 60)
        writes.insert((0, header), at: 0)
        let body = bodyChecksum(of: segment, end: start.end, writes: writes, holes: holes)
        if !start.isActive {
            var footer = segment.withBytes(offset: start.end, count: Segment.footerBytes) { Array($0) }
            store(body, in: &footer, at: 24)
            store(Checksum.crc32c(Array(footer[0..<28])), in: &footer, at: 28)
            writes.append((start.end, footer))
        }
        return CompactionPlan(
            start: start, journal: CompactionJournal(ordinal: segment.ordinal, writes: writes, holes: holes),
            body: body, events: events, bytes: bytes)
    }

    /// The CRC-32C of the segment's bytes `[0, end)` with `writes` and `holes` (sorted, apart,
    /// within the body) made.
    private static func bodyChecksum(
        of segment: Segment, end: Int, writes: [(offset: Int, bytes: [UInt8])], holes: [(offset: Int, count: Int)]
    ) -> UInt32 {
        let zeros = [UInt8](repeating: 0, count: 1 << 16)
        let changes =
            (writes.map { (offset: $0.offset, count: $0.bytes.count, bytes: Optional($0.bytes)) }
            + holes.map { (offset: $0.offset, count: $0.count, bytes: [UInt8]?.none) })
            .filter { $0.offset < end }
            .sorted { $0.offset < $1.offset }
        var crc: UInt32 = 0
        var position = 0
        for change in changes {
            if change.offset > position {
                crc = segment.withBytes(offset: position, count: change.offset - position) {
                    Checksum.crc32c($0, continuing: crc)
                }
            }
            if let bytes = change.bytes {
                crc = Checksum.crc32c(bytes, continuing: crc)
            } else {
                var left = change.count
                while left > 0 {
                    let chunk = min(left, zeros.count)
                    crc = zeros.withUnsafeBytes { Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<chunk]), continuing: crc) }
                    left -= chunk
                }
            }
            position = change.offset + change.count
        }
        if position < end {
            crc = segment.withBytes(offset: position, count: end - position) { Checksum.crc32c($0, continuing: crc) }
        }
        return crc
    }

    private static func store<T: FixedWidthInteger>(_ value: T, in bytes: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
        }
    }
}
