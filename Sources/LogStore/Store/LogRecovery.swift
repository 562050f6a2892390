import EventSourcingCore
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Opening a store: take the writer's lock, check every segment, cut a torn tail (and only a torn
/// tail), and bring each index up to the log from its last durable checkpoint, rebuilding any index
/// that is missing, stale or damaged.
enum LogRecovery {
    /// - Parameter usingStoreIndexes: `false` builds every index afresh from the log in the private
    ///   directory of a read-only open (the verifier's reference); only with `options.readOnly`.
    static func open(
        directory: String, options: LogEventStore.Options, usingStoreIndexes: Bool = true
    ) throws -> (LogState, WriterContext) {
        let io = options.io
        let writable = !options.readOnly
        var lock: StoreLock?
        if writable {
            try Directory.create(directory, io: io)
            lock = try StoreLock.acquire(directory: directory, options: options)
        } else if !Directory.exists(directory) {
            throw EventStoreError.io("no store at '\(directory)': the directory does not exist")
        }
        let names = try Directory.names(in: directory)
        if writable {
            for name in names where name.hasSuffix(".grow") || name.hasSuffix(".tmp") {
                try Directory.remove(directory + "/" + name, io: io)
            }
            // A compaction that a crash interrupted is finished before any segment is checked.
            try CompactionJournal.redo(directory: directory, io: io, logger: options.logger)
        }
        // A read-only open builds what it needs in a private directory and never touches the store's files.
        let indexDirectory =
            writable ? directory : try privateCopy(of: directory, names: usingStoreIndexes ? names : [], io: io)
        let checkpoint = try Checkpoint.load(directory: indexDirectory, io: io)
        // The segments the store's retention removed: the log starts at the first one kept. A file
        // below it is one a crash left between the record and the unlink.
        var removed = try RemovedSegments.load(directory: directory, io: io)
        var firstOrdinal = removed.firstKeptOrdinal
        var ordinals = names.compactMap(Segment.ordinal(fromFileName:)).sorted()
        let leftovers = ordinals.filter { $0 < firstOrdinal }
        ordinals.removeAll { $0 < firstOrdinal }
        if writable, !leftovers.isEmpty {
            for ordinal in leftovers { try Directory.remove(directory + "/" + Segment.fileName(ordinal: ordinal), io: io) }
            try Directory.synchronize(directory, io: io)
            options.logger.notice(
                "removed segments that the store's retention had dropped", metadata: ["count": "\(leftovers.count)"])
        }
        if writable, ordinals == [1], (checkpoint?.headSequenceID ?? 0) == 0,
            try isTornCreation(directory: directory, ordinal: 1, io: io)
        {
            // A crash while a new store created its first segment: it never held a frame; make it again.
            options.logger.warning("removed a segment whose creation was torn", metadata: ["ordinal": "1"])
            try Directory.remove(directory + "/" + Segment.fileName(ordinal: 1), io: io)
            try Directory.synchronize(directory, io: io)
            ordinals = []
        }

        var segments: [Segment]
        if ordinals.isEmpty {
            if firstOrdinal > 1 {
                throw EventStoreError.corruption(
                    "'\(directory)/\(Segment.fileName(ordinal: firstOrdinal))' offset 0: the segment is missing from the "
                        + "log (segments before it were removed by the store's retention)")
            }
            if let checkpoint, checkpoint.headSequenceID > 0 {
                throw EventStoreError.corruption(
                    "'\(directory)': the checkpoint records \(checkpoint.headSequenceID) events but no segment file exists"
                )
            }
            guard writable else { throw EventStoreError.io("no store at '\(directory)': it holds no segment files") }
            segments = [
                try Segment.create(
                    directory: directory, ordinal: 1, firstSequenceID: 1, segmentBytesMax: options.segmentBytesMax,
                    fileMode: options.fileMode, io: io)
            ]
        } else {
            guard ordinals == Array(firstOrdinal..<(firstOrdinal + ordinals.count)) else {
                let missing = (firstOrdinal...ordinals.last!).first { !ordinals.contains($0) } ?? firstOrdinal
                throw EventStoreError.corruption(
                    "'\(directory)/\(Segment.fileName(ordinal: missing))' offset 0: the segment is missing from the log"
                )
            }
            var names = ordinals
            if writable, names.count > 1, try isTornCreation(directory: directory, ordinal: names.last!, io: io) {
                // A crash while a roll created the next segment: it holds no frame yet; make it again.
                options.logger.warning(
                    "removed a segment whose creation was torn", metadata: ["ordinal": "\(names.last!)"])
                try Directory.remove(directory + "/" + Segment.fileName(ordinal: names.removeLast()), io: io)
                try Directory.synchronize(directory, io: io)
            }
            segments = []
            for ordinal in names {
                do {
                    segments.append(
                        try Segment.open(
                            path: directory + "/" + Segment.fileName(ordinal: ordinal), ordinal: ordinal,
                            // A reader maps room for whatever size the writer's segments reach.
                            segmentBytesMax: writable ? options.segmentBytesMax : max(options.segmentBytesMax, 1 << 32),
                            writable: writable, io: io))
                } catch where !writable {
                    // The running writer's retention removed the segment meanwhile: its new record
                    // (saved before any file goes) says the log now starts later.
                    let again = try RemovedSegments.load(directory: directory, io: io)
                    guard again.firstKeptOrdinal > ordinal else { throw error }
                    (removed, firstOrdinal) = (again, again.firstKeptOrdinal)
                    segments.removeAll()
                }
            }
            guard !segments.isEmpty else {
                throw EventStoreError.io("no store at '\(directory)': it holds no segment files")
            }
        }
        // A read-only open beside a running writer stops at the end the writer has committed; every
        // open in the boot of a failed sync stops where the log was last known durable.
        var bound: LogPosition?
        let syncFailure = SyncFailureRecord.read(directory: directory, io: io)
        if !writable {
            bound = try committedBound(directory: directory, io: io)
        } else if let syncFailure {
            options.logger.warning(
                "a sync failed in this boot: the log is taken to end where it was last durable",
                metadata: ["durable end": "\(syncFailure.durableEnd)"])
            bound = syncFailure.durableEnd
        }
        if let committed = bound, committed.segment < segments.last!.ordinal {
            guard committed.segment >= firstOrdinal else {
                throw EventStoreError.corruption(
                    "'\(directory)': the log's durable end is in segment \(committed.segment), which was removed")
            }
            let kept = committed.segment - firstOrdinal + 1
            let later = segments[kept...]
            segments.removeLast(segments.count - kept)
            if writable {
                // Made after the durable end (only lost writes are in them): they go.
                for segment in later { try Directory.remove(segment.path, io: io) }
            }
        }
        let headSequenceID = try checkSegments(
            segments, checkpoint: checkpoint, writable: writable,
            bound: bound?.segment == segments.last!.ordinal ? bound?.offset : nil, firstSequenceID: removed.firstKeptSequenceID,
            cutsAtBound: writable && syncFailure != nil,
            mayCutUnsyncedWrites: options.durability == .buffered, logger: options.logger, io: io)
        if let checkpoint, checkpoint.headSequenceID > headSequenceID || checkpoint.logEnd.segment > segments.last!.ordinal {
            throw EventStoreError.corruption(
                "'\(directory)': the log ends at sequence id \(headSequenceID), but the checkpoint records "
                    + "\(checkpoint.headSequenceID) as durable")
        }
        if writable {
            // What this open takes for the log is made durable before anything is built on it (the
            // checkpoint below, a next segment): reopened after a failed sync without a reboot, the
            // OS may still show batches or a seal that never reached the disk, in any segment past
            // the checkpoint, and segment names never synced into the directory.
            let firstUncovered = checkpoint?.logEnd.segment ?? 1
            for segment in segments where segment.ordinal >= firstUncovered { try segment.file.synchronizeData() }
            try Directory.synchronize(directory, io: io)
        }
        if writable, let last = segments.last, last.formatVersion < Segment.currentFormatVersion, !last.isSealed {
            // A store of an earlier format: its active segment is sealed as it is, and the log goes
            // on in a segment of the current format (made below). A crash in between leaves a sealed
            // last segment, which the next open goes on from in the same way.
            options.logger.notice(
                "upgrading the log to format \(Segment.currentFormatVersion): sealing the last segment of format \(last.formatVersion)",
                metadata: ["segment": "\(last.path)"])
            try last.seal(end: last.endOffset, lastSequenceID: headSequenceID)
        }
        if writable, segments.last!.isSealed {
            // A crash between sealing a segment and creating the next one.
            let last = segments.last!
            segments.append(
                try Segment.create(
                    directory: directory, ordinal: last.ordinal + 1, firstSequenceID: headSequenceID + 1,
                    segmentBytesMax: options.segmentBytesMax, fileMode: options.fileMode, io: io))
        }
        // The verifier's reference (`usingStoreIndexes: false`) builds the key index too: that reads
        // every record of every frame, which is how `verify` checks the payloads.
        let (state, keys) = try openIndexes(
            segments: segments, removed: removed, headSequenceID: headSequenceID, checkpoint: checkpoint,
            indexDirectory: indexDirectory,
            buildsKeys: writable || !usingStoreIndexes, options: options, io: io)
        let checkpointFile = try SystemFile.open(
            Checkpoint.path(indexDirectory), flags: O_RDWR | O_CREAT, mode: options.fileMode, io: io)
        let context = WriterContext(
            state: state, directory: directory, options: options, keys: keys,
            lifecycles: try LogLifecycles(directory: directory, io: io), checkpointFile: checkpointFile,
            lock: lock, lastCheckpoint: checkpoint ?? Checkpoint())
        context.privateDirectory = writable ? nil : indexDirectory
        // Everything above was synced (a writable open syncs what it takes for the log).
        let last = segments.last!
        context.syncedEnd = LogPosition(segment: last.ordinal, offset: last.endOffset)
        // Mark the store open (not clean) at the recovered point, so a crash from here on is seen as one.
        try context.checkpoint(clean: false)
        if writable {
            let headFile = try SystemFile.open(
                HeadRecord.path(directory), flags: O_RDWR | O_CREAT, mode: options.fileMode, io: io)
            // Start above any generation a previous writer reached, so followers never see it go back.
            context.seedHeadGeneration(HeadRecord.read(directory: directory, io: io)?.generation ?? 0)
            context.headFile = headFile
            context.publishHead()
            if Directory.fileExists(SyncFailureRecord.path(directory)) {
                // Handled (or from an earlier boot): the log above is what the disk holds, and the
                // head now says where it ends, so readers no longer need the record.
                try Directory.remove(SyncFailureRecord.path(directory), io: io)
            }
        }
        return (state, context)
    }

    /// The committed end published by a running writer, or `nil` when no writer runs (then all
    /// that is on disk counts) or it has published none.
    static func committedBound(directory: String, io: any FileIO) throws -> LogPosition? {
        let failed = SyncFailureRecord.read(directory: directory, io: io)?.durableEnd
        guard try StoreLock.isHeld(directory: directory, io: io),
            let published = HeadRecord.read(directory: directory, io: io)?.logEnd
        else { return failed }
        return min(published, failed ?? published)
    }

    // MARK: Segments

    /// Whether the last segment is no more than a header whose write was torn: the roll that created
    /// it syncs the header before any frame is written, so such a file never held data.
    private static func isTornCreation(directory: String, ordinal: Int, io: any FileIO) throws -> Bool {
        let path = directory + "/" + Segment.fileName(ordinal: ordinal)
        guard let file = try SystemFile.openIfExists(path, io: io), try file.size() <= Segment.headerBytes else {
            return false
        }
        do {
            _ = try Segment.open(
                path: path, ordinal: ordinal, segmentBytesMax: Segment.headerBytes, writable: false, io: io)
            return false
        } catch EventStoreError.corruption {
            return true
        }
    }

    /// Checks every segment: sealed ones by their footer checksum, the last one frame by frame,
    /// cutting a torn tail. Sets each segment's end. Returns the head sequence id.
    /// - Parameter mayCutUnsyncedWrites: `.buffered` durability, where nothing past the checkpoint's
    ///   log end was synced, so a power loss may have kept a later write of the last segment (a
    ///   batch, its seal) without an earlier one: the log is then cut at the first damaged batch
    ///   past that point, losing only the newest unsynced writes. With `.fsync`, batches past the
    ///   checkpoint were acknowledged durable, and damage followed by valid batches is refused.
    private static func checkSegments(
        _ segments: [Segment], checkpoint: Checkpoint?, writable: Bool, bound: Int?, firstSequenceID: Int64,
        cutsAtBound: Bool, mayCutUnsyncedWrites: Bool, logger: Logger, io: any FileIO
    ) throws -> Int64 {
        var expectedFirst = firstSequenceID
        for (index, segment) in segments.enumerated() {
            guard segment.firstSequenceID == expectedFirst else {
                throw EventStoreError.corruption(
                    "'\(segment.path)' offset 24: the segment starts at sequence id \(segment.firstSequenceID), "
                        + "but the log before it ends at \(expectedFirst - 1)")
            }
            let size = try segment.fileSize()
            try segment.noteFileSize(size)
            // A seal past the durable end of a failed sync is no seal: the segment is walked to there.
            let sealIsPastBound = cutsAtBound && index == segments.count - 1 && (bound ?? size) < size
            if !sealIsPastBound, let footer = segment.footer(at: size - Segment.footerBytes, fileSize: size) {
                let bodyEnd = size - Segment.footerBytes
                let checksum = segment.withBytes(offset: 0, count: bodyEnd) { Checksum.crc32c($0) }
                if checksum == footer.bodyChecksum {
                    // The footer's checksum covers every byte, so its counts are trusted as written.
                    guard footer.lastSequenceID >= expectedFirst - 1 else {
                        throw EventStoreError.corruption(
                            "'\(segment.path)' offset \(bodyEnd): footer's last sequence id goes backwards")
                    }
                    segment.publishEnd(bodyEnd)
                    segment.markSealed()
                    segment.runningChecksum = checksum
                    segment.frameCount = footer.frameCount
                    expectedFirst = footer.lastSequenceID + 1
                    continue
                }
                guard (mayCutUnsyncedWrites || segment.formatVersion >= 2) && index == segments.count - 1 else {
                    let (badOffset, reason) = firstBadFrame(in: segment, end: bodyEnd, expectedFirst: expectedFirst)
                    throw EventStoreError.corruption(
                        "'\(segment.path)' offset \(badOffset): sealed segment is damaged (\(reason))")
                }
                // A seal that a power loss kept without every frame before it (a seal is synced
                // with its frames, so only the last segment's can be): the segment is walked as the
                // unsealed last one, the damage judged as there, and the cut removes the seal.
            }
            guard index == segments.count - 1 else {
                throw EventStoreError.corruption(
                    "'\(segment.path)' offset \(size): the segment has no footer, but a later segment follows")
            }
            let end = min(size, bound ?? size)
            var cursor = FrameCursor(segment: segment, end: end, nextSequenceID: expectedFirst)
            var stop = segment.withBytes(offset: 0, count: end) { cursor.skipFrames($0) } ?? ""
            // A write is kept whole or cut whole: the cut goes where the last whole write ended.
            let cut = cursor.whole.offset
            if cut < end {
                if stop.isEmpty { stop = "the write's last frame is missing" }
                try judgeDamage(
                    in: segment, at: cut, reason: stop, size: size, checkpoint: checkpoint,
                    mayCutUnsyncedWrites: mayCutUnsyncedWrites, logger: logger)
                if writable {
                    logger.warning(
                        "cut a torn tail",
                        metadata: ["file": "\(segment.path)", "offset": "\(cut)", "bytes": "\(size - cut)"])
                    try segment.truncate(to: cut)
                }
            }
            if cutsAtBound, writable, case let tail = try segment.fileSize() - cut, tail > 0 {
                // After a failed sync in this boot: what the OS shows past the durable end never
                // reached the disk. It is zeroed (and synced), not cut off, so that a reader process
                // still mapping those pages reads a damaged batch rather than faulting.
                logger.warning(
                    "zeroed what a failed sync left past the durable end",
                    metadata: ["file": "\(segment.path)", "offset": "\(cut)", "bytes": "\(tail)"])
                try segment.file.writeZeros(at: cut, count: tail)
                try segment.file.synchronizeData()
            }
            segment.publishEnd(cut)
            segment.runningChecksum = try segment.file.checksum(offset: 0, count: cut)
            segment.frameCount = cursor.whole.count
            expectedFirst = cursor.whole.nextSequenceID
        }
        return expectedFirst - 1
    }

    /// Decides whether damage at `offset` of the last segment is what a crash leaves, and throws
    /// `corruption` when it is not (see `unexplainedDamage`).
    private static func judgeDamage(
        in segment: Segment, at offset: Int, reason: String, size: Int, checkpoint: Checkpoint?,
        mayCutUnsyncedWrites: Bool, logger: Logger
    ) throws {
        let verdict = unexplainedDamage(
            in: segment, at: offset, reason: reason, size: size, checkpoint: checkpoint,
            mayCutUnsyncedWrites: mayCutUnsyncedWrites)
        if let problem = verdict.problem { throw EventStoreError.corruption(problem) }
        if let later = verdict.laterFrame {
            logger.warning(
                "a power loss kept unsynced writes out of order; the later ones are cut too",
                metadata: ["file": "\(segment.path)", "offset": "\(offset)", "later batch": "\(later)"])
        }
    }

    /// Whether damage at `offset` of the last segment is more than a crash explains.
    ///
    /// Format 2: a crash explains damage only where no sync had reached: at or past the durable
    /// point of the checkpoint and past the synced end that every later valid frame records (a
    /// frame written after a sync that covered the damaged bytes records an end past them).
    /// Format 1 frames record no synced end: with `.fsync`, damage followed by a valid frame is
    /// refused (it cannot be told from damage to acknowledged writes); with `.buffered`, it is cut.
    /// - Returns: the problem (a `corruption` message naming file and offset), or `nil` when a
    ///   crash explains the damage; and the first valid frame after it, if any.
    static func unexplainedDamage(
        in segment: Segment, at offset: Int, reason: String, size: Int, checkpoint: Checkpoint?,
        mayCutUnsyncedWrites: Bool
    ) -> (problem: String?, laterFrame: Int?) {
        let here = LogPosition(segment: segment.ordinal, offset: offset)
        if let checkpoint, here < checkpoint.logEnd {
            return (
                "'\(segment.path)' offset \(offset): damaged batch (\(reason)) below the durable point "
                    + "\(checkpoint.logEnd.offset) that the checkpoint records", nil
            )
        }
        let later = segment.withBytes(offset: 0, count: size) {
            FrameCursor.framesAfterDamage(in: $0, segment: segment, after: offset, end: size)
        }
        guard let first = later.first else { return (nil, nil) }
        if segment.formatVersion >= 2 {
            if let synced = later.furthestSyncedEnd, synced > here {
                return (
                    "'\(segment.path)' offset \(offset): damaged batch (\(reason)) below the synced end "
                        + "\(synced.offset) that a later batch records", first
                )
            }
        } else if !mayCutUnsyncedWrites {
            return (
                "'\(segment.path)' offset \(offset): damaged batch (\(reason)) followed by a valid batch at offset \(first)",
                first
            )
        }
        return (nil, first)
    }

    /// Where a damaged sealed segment first fails, for the error message.
    private static func firstBadFrame(in segment: Segment, end: Int, expectedFirst: Int64) -> (Int, String) {
        var cursor = FrameCursor(segment: segment, end: end, nextSequenceID: expectedFirst)
        let reason = segment.withBytes(offset: 0, count: end) { cursor.skipFrames($0) } ?? "checksum mismatch"
        return (cursor.offset, reason)
    }

    // MARK: Indexes

    private static func openIndexes(
        segments: [Segment], removed: RemovedSegments, headSequenceID: Int64, checkpoint: Checkpoint?,
        indexDirectory: String, buildsKeys: Bool, options: LogEventStore.Options, io: any FileIO
    ) throws -> (LogState, KeyIndex) {
        let start = LogPosition(segment: segments[0].ordinal, offset: Segment.headerBytes)
        let last = segments.last!
        let logEnd = LogPosition(segment: last.ordinal, offset: last.endOffset)
        let usable = checkpoint.flatMap { $0.logEnd <= logEnd && $0.logEnd >= start ? $0 : nil }
        // Index files are always writable: a read-only open works on private copies.
        let writable = true
        let batchesPath = indexDirectory + "/batches.idx"

        var batches: BatchIndex?
        var batchesFrom = start
        if let usable,
            let candidate = try BatchIndex.open(
                path: batchesPath, count: usable.batchCount, writable: writable, io: io),
            try candidate.checksum() == usable.batchChecksum,
            try lastEntryMatches(candidate, segments: segments, start: start, checkpoint: usable)
        {
            batches = candidate
            batchesFrom = usable.logEnd
        }
        let batchIndex = try batches ?? BatchIndex.create(path: batchesPath, fileMode: options.fileMode, io: io)
        if batches == nil { batchesFrom = start }

        var keys: KeyIndex?
        var keysFrom = start
        // A read-only store never writes, so it never asks the key index: it neither copies nor
        // reads keys.idx, and an empty table stands in. A writer trusts the key index's checkpoint
        // only where the batch index's was: that one is checked against the log, so
        // `usable.logEnd` is where the log really stood.
        if !buildsKeys {
            keysFrom = logEnd
        } else if let usable, batches != nil,
            let candidate = try KeyIndex.openCheckpointed(
                directory: indexDirectory, count: usable.keyCount, capacity: usable.keyCapacity,
                upTo: usable.headSequenceID, checksum: usable.keyChecksum, fileMode: options.fileMode, io: io)
        {
            keys = candidate
            keysFrom = usable.logEnd
        }
        let keyIndex =
            try keys
            ?? KeyIndex.create(
                directory: indexDirectory, capacity: options.keyIndexInitialCapacity, fileMode: options.fileMode, io: io
            )
        if usable != nil {
            for (name, rebuilt) in [("batches.idx", batches == nil), ("keys.idx", keys == nil && buildsKeys)]
            where rebuilt {
                options.logger.notice(
                    "an index did not match the checkpoint; rebuilding it from the log", metadata: ["index": "\(name)"])
            }
        }

        // One walk over the frames that some index has not seen yet.
        var headTimestamp: Int64?
        let from = min(batchesFrom, keysFrom)
        for segment in segments where segment.ordinal >= from.segment {
            var offset = segment.ordinal == from.segment ? from.offset : Segment.headerBytes
            while offset < segment.endOffset {
                try LogState.withFrame(in: segment, at: offset, verifyChecksum: false) { frame, header in
                    let position = LogPosition(segment: segment.ordinal, offset: offset)
                    let streamHash = StableHash.stream(BatchFrame.streamID(frame, header))
                    if position >= batchesFrom {
                        try batchIndex.append(
                            BatchIndex.Entry(
                                firstSequenceID: header.firstSequenceID, position: position, streamHash: streamHash,
                                firstVersion: header.firstVersion))
                    }
                    if position >= keysFrom {
                        let hashes = try EventRecord.keyHashes(
                            frame: frame, header: header, streamHash: streamHash,
                            context: "'\(segment.path)' offset \(offset)")
                        try keyIndex.insert(hashes.map { ($0.hash, header.firstSequenceID + Int64($0.index)) })
                    }
                    offset += header.frameLength
                }
            }
        }
        guard batchIndex.count == 0 || batchIndex.entry(at: batchIndex.count - 1).firstSequenceID <= headSequenceID
        else {
            throw EventStoreError.corruption("'\(batchesPath)': the index is ahead of the log")
        }

        // The stream index is trusted only after a clean close with nothing since; else rebuilt.
        var streams: StreamIndex?
        if let usable, usable.isClean, usable.logEnd == logEnd, batchesFrom == logEnd,
            let candidate = try StreamIndex.open(
                directory: indexDirectory, count: usable.streamCount, capacity: usable.streamCapacity,
                blocksUsed: usable.blocksUsed, writable: writable, fileMode: options.fileMode, io: io),
            try candidate.checksum() == usable.streamChecksum
        {
            streams = candidate
        }
        let state = LogState(
            io: io, segments: segments, batches: batchIndex,
            streams: try streams ?? StreamIndex.create(directory: indexDirectory, fileMode: options.fileMode, io: io),
            headSequenceID: headSequenceID, headTimestampMicros: nil)
        state.removed = removed
        if streams == nil { try rebuildStreams(state) }
        if batchIndex.count > 0, !removed.isRemoved(batchIndex.entry(at: batchIndex.count - 1).position) {
            let entry = batchIndex.entry(at: batchIndex.count - 1)
            headTimestamp = try LogState.withFrame(in: state.segment(entry.position.segment), at: entry.position.offset)
            { $1.timestampMicros }
        }
        state.headTimestampMicros = headTimestamp
        return (state, keyIndex)
    }

    /// Whether the last batch entry points at a frame with its sequence id.
    /// Whether the last batch entry points at a frame with its sequence id, and the entries end where
    /// the checkpoint says the log ended (so a checkpoint that disagrees with its own counts, which
    /// only a forged or buggy one can, never makes the replay skip batches).
    private static func lastEntryMatches(
        _ batches: BatchIndex, segments: [Segment], start: LogPosition, checkpoint: Checkpoint
    ) throws -> Bool {
        guard batches.count > 0 else {
            return checkpoint.headSequenceID == 0 && checkpoint.logEnd == start
        }
        let entry = batches.entry(at: batches.count - 1)
        let index = entry.position.segment - segments[0].ordinal
        guard index >= 0, index < segments.count else { return false }
        return
            (try? LogState.withFrame(in: segments[index], at: entry.position.offset) {
                frame, header in
                let end = LogPosition(
                    segment: entry.position.segment, offset: entry.position.offset + header.frameLength)
                let nextSegment = LogPosition(segment: entry.position.segment + 1, offset: Segment.headerBytes)
                return header.firstSequenceID == entry.firstSequenceID && header.firstVersion == entry.firstVersion
                    && StableHash.stream(BatchFrame.streamID(frame, header)) == entry.streamHash
                    && header.lastSequenceID == checkpoint.headSequenceID
                    && (checkpoint.logEnd == end || checkpoint.logEnd == nextSegment)
            }) ?? false
    }

    /// Rebuilds the per-stream index from the batch index, reading only frame headers, starting
    /// from what the record of removed segments keeps of each stream that had batches there.
    private static func rebuildStreams(_ state: LogState) throws {
        for stream in state.removed.streams.values.sorted(by: { $0.firstPosition < $1.firstPosition }) {
            let hash = StableHash.stream(stream.id)
            guard try state.slot(of: stream.id, hash: hash) == nil else {
                throw EventStoreError.corruption(
                    "'\(RemovedSegments.name)': stream '\(stream.id)' is recorded twice")
            }
            try state.streams.seed(
                hash: hash, firstPosition: stream.firstPosition, version: stream.version,
                timestampMicros: stream.timestampMicros)
        }
        for index in 0..<state.batches.count {
            let entry = state.batches.entry(at: index)
            if state.isRemoved(entry.position) { continue }
            let segment = try state.segment(entry.position.segment)
            try LogState.withFrame(in: segment, at: entry.position.offset, verifyChecksum: false) { frame, header in
                let streamID = BatchFrame.streamID(frame, header)
                let slot = try state.slot(of: streamID, hash: entry.streamHash)
                guard header.firstVersion == (slot?.version ?? 0) + 1 else {
                    throw EventStoreError.corruption(
                        "'\(segment.path)' offset \(entry.position.offset): stream '\(streamID)' jumps from version "
                            + "\(slot?.version ?? 0) to \(header.firstVersion)")
                }
                try state.streams.record(
                    existing: slot, hash: entry.streamHash, firstVersion: header.firstVersion,
                    eventCount: header.eventCount,
                    position: entry.position, timestampMicros: header.timestampMicros)
            }
        }
    }

    /// A private directory holding copies of the store's index files, for a read-only open. Its
    /// name carries this process's id, so directories left by killed readers are found and removed.
    private static func privateCopy(of directory: String, names: [String], io: any FileIO) throws -> String {
        let temporary = NSTemporaryDirectory()
        removeAbandonedPrivateDirectories(in: temporary)
        let privateDirectory = try SystemCall.makeTemporaryDirectory(
            prefix: temporary + "/eventlog-readonly-\(getpid())-")
        for name in ["checkpoint", "batches.idx", "streams.idx", "blocks.idx"] where names.contains(name) {
            guard let source = try SystemFile.openIfExists(directory + "/" + name, io: io) else { continue }
            let copy = try SystemFile.open(
                privateDirectory + "/" + name, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o600, io: io)
            try source.forEachChunk(offset: 0, count: try source.size()) { chunk in
                try copy.write(chunk, at: try copy.size())
            }
        }
        return privateDirectory
    }

    /// Removes the private directories of read-only processes that no longer run.
    private static func removeAbandonedPrivateDirectories(in temporary: String) {
        let prefix = "eventlog-readonly-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix)
        {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]), pid > 0 else { continue }
            if !SystemCall.processExists(pid) {
                try? FileManager.default.removeItem(atPath: temporary + "/" + name)
            }
        }
    }
}
