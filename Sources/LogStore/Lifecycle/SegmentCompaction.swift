import EventSourcingCore

extension WriterContext {
    /// Compacts one segment in place (see `CompactionJournal`): every batch whose events are all
    /// hidden loses its payload. Runs on the writer thread between groups, one segment per job, so
    /// writes go on between segments; the active segment too (this thread is its only writer), once
    /// what it holds is durable.
    /// - Returns: The events removed and the payload bytes freed.
    func compactSegment(_ ordinal: Int) throws -> (events: Int64, bytes: Int64) {
        recordDurableEnd()
        if let failure { throw Self.stopped(after: failure) }
        // A compaction whose changes failed partway left its journal: it is finished first, so
        // that this one's journal never replaces it (its changes may not be durable yet).
        try CompactionJournal.redo(directory: directory, io: options.io, logger: logger)
        let table = try lifecycles.current()
        guard !table.isEmpty, ordinal >= 1, ordinal <= state.segments.count else { return (0, 0) }
        let segment = state.segments[ordinal - 1]
        // Format-1 segments keep their batches: compacted frames are of format 2.
        guard segment.formatVersion >= 2 else { return (0, 0) }
        let isActive = !segment.isSealed
        // A `.buffered` store's newest batches may not be durable yet, and the rule is judged
        // against the streams' versions now (`maxCount`): what compaction removes must stay hidden
        // whatever a power loss takes of them, and a journal redone after a power loss must never
        // turn bytes that never reached the disk into a batch.
        if options.durability == .buffered { try synchronizeBufferedLog() }
        let now = Timestamp.nowMicroseconds()
        var versions: [String: Int64] = [:]
        var writes: [(offset: Int, bytes: [UInt8])] = []
        var holes: [(offset: Int, count: Int)] = []
        var events: Int64 = 0
        var bytes: Int64 = 0
        let end = segment.endOffset
        var offset = Segment.headerBytes
        while offset < end {
            offset += try LogState.withFrame(in: segment, at: offset) { frame, header -> Int in
                guard header.codec != .compacted else { return header.frameLength }
                let streamID = BatchFrame.streamID(frame, header)
                guard table[streamID] != nil || header.lastSequenceID < table.floor else { return header.frameLength }
                let version: Int64
                if let known = versions[streamID] {
                    version = known
                } else {
                    version = try state.slot(of: streamID, hash: StableHash.stream(streamID))?.version ?? 0
                    versions[streamID] = version
                }
                let hidden = HiddenEvents(table: table, versions: [streamID: version], nowMicros: now)
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
        guard events > 0 else { return (0, 0) }
        // The header takes format 3, and the footer the checksum of the body as it will be.
        var header = segment.withBytes(offset: 0, count: Segment.headerBytes) { Array($0) }
        Self.store(Segment.compactedFormatVersion, in: &header, at: 8)
        Self.store(Checksum.crc32c(Array(header[0..<60])), in: &header, at: 60)
        writes.insert((0, header), at: 0)
        let body = Self.bodyChecksum(of: segment, end: end, writes: writes, holes: holes)
        if !isActive {
            var footer = segment.withBytes(offset: end, count: Segment.footerBytes) { Array($0) }
            Self.store(body, in: &footer, at: 24)
            Self.store(Checksum.crc32c(Array(footer[0..<28])), in: &footer, at: 28)
            writes.append((end, footer))
        }
        let journal = CompactionJournal(ordinal: ordinal, writes: writes, holes: holes)
        try journal.save(directory: directory, fileMode: options.fileMode, io: options.io)
        // From here the journal makes the changes happen (now, at the next compaction, or at the
        // next open): the active segment's footer, when it is sealed, covers the body as changed,
        // and the keys read back from its frames are forgotten, even if applying fails partway.
        if isActive { segment.runningChecksum = body }
        forgetKeyFrames()
        try journal.apply(directory: directory, io: options.io)
        return (events, bytes)
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
