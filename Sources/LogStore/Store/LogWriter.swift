import CoreMetrics
import EventSourcingCore
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The store's single writer: a dedicated thread that takes every queued write at once, applies
/// the idempotency and expected-version rules to each in order, writes all their frames with one
/// `pwrite` per segment and one `fdatasync`, then publishes them to the indexes. With `.fsync`
/// durability, one sync thus serves every writer that was waiting (group commit).
///
/// Thread-safety: `@unchecked Sendable` because the job queue is only touched under `condition`
/// and the writer context only on the writer thread.
final class LogWriter: @unchecked Sendable {
    enum Job {
        case append(AppendRequest, CheckedContinuation<AppendResult, Error>)
        /// A write to several streams: its frames are stored, and lost to a crash, as one unit.
        case appendUnit([AppendRequest], CheckedContinuation<[AppendResult], Error>)
        case snapshot(Snapshot, CheckedContinuation<Void, Error>)
        /// A deletion, tombstone, truncation or retention, serialized with the appends.
        case lifecycle(LifecycleChange, CheckedContinuation<StreamLifecycle, Error>)
        /// A short step of work that must run between groups (a compaction's, see
        /// `SegmentCompactor`): called with the context, or with the error that failed the job.
        case step((Result<WriterContext, Error>) -> Void)
        case close(CheckedContinuation<Void, Error>)
    }

    private let condition = MonotonicCondition()
    private var jobs: [Job] = []
    private var isStopped = false
    /// How many queued jobs wake the writer (under `condition`): 1 when it idles, more while it
    /// gathers a group.
    private var wakeAt = 1
    /// A test hook (under `condition`): while held, the writer takes no job, so that the writes
    /// submitted meanwhile form one group.
    private var isHeld = false
    private let context: WriterContext

    init(context: WriterContext) {
        self.context = context
        let thread = Thread { [self] in self.run() }
        thread.name = "eventlog-writer"
        thread.start()
    }

    /// Queues a job; after close, jobs fail with `storeClosed`.
    func submit(_ job: Job) {
        condition.lock()
        if isStopped {
            condition.unlock()
            Self.fail(job, with: EventStoreError.storeClosed)
            return
        }
        jobs.append(job)
        if jobs.count >= wakeAt { condition.signal() }
        condition.unlock()
    }

    /// Runs `body` on the writer thread between groups (a `.step` job).
    /// - Throws: what `body` throws (a `SystemError` as `EventStoreError`), or `storeClosed`.
    func perform<T: Sendable>(_ body: @escaping (WriterContext) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            submit(.step { context in
                continuation.resume(with: context.flatMap { context in Result { try SystemError.mapped { try body(context) } } })
            })
        }
    }

    /// What the writer and the compactions beside it share.
    var compactions: CompactingSegments { context.compactions }

    /// Holds or releases the writer thread (`isHeld`).
    func setHeld(_ held: Bool) {
        condition.lock()
        isHeld = held
        if !held { condition.signal() }
        condition.unlock()
    }

    /// Jobs queued and not yet taken by the writer thread.
    var queuedJobCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count
    }

    private static func fail(_ job: Job, with error: Error) {
        switch job {
        case .append(_, let continuation): continuation.resume(throwing: error)
        case .appendUnit(_, let continuation): continuation.resume(throwing: error)
        case .snapshot(_, let continuation): continuation.resume(throwing: error)
        case .lifecycle(_, let continuation): continuation.resume(throwing: error)
        case .step(let body): body(.failure(error))
        case .close(let continuation): continuation.resume()
        }
    }

    private func run() {
        var lastGroupCount = 0
        while true {
            condition.lock()
            waitForGroup(expected: lastGroupCount)
            let taken = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()

            var group: [WriteUnit] = []
            for job in taken {
                switch job {
                case .append(let request, let continuation):
                    group.append(WriteUnit(requests: [request]) { continuation.resume(with: $0.map { $0[0] }) })
                case .appendUnit(let requests, let continuation):
                    group.append(WriteUnit(requests: requests) { continuation.resume(with: $0) })
                case .snapshot(let snapshot, let continuation):
                    context.commit(group)
                    group.removeAll()
                    continuation.resume(
                        with: Result { try context.save(snapshot) }.mapError { SystemError.storeError($0) })
                case .lifecycle(let change, let continuation):
                    context.commit(group)
                    group.removeAll()
                    continuation.resume(
                        with: Result { try context.changeLifecycle(change) }.mapError { SystemError.storeError($0) })
                case .step(let body):
                    context.commit(group)
                    group.removeAll()
                    body(.success(context))
                case .close(let continuation):
                    context.commit(group)
                    group.removeAll()
                    condition.lock()
                    isStopped = true
                    let late = jobs
                    jobs.removeAll()
                    condition.unlock()
                    let result = Result { try context.close() }.mapError { SystemError.storeError($0) }
                    for job in late { Self.fail(job, with: EventStoreError.storeClosed) }
                    continuation.resume(with: result)
                    return
                }
            }
            context.commit(group)
            lastGroupCount = group.count
            context.applyStoreRetention()
        }
    }

    /// Waits (holding `condition`) until a job is queued. With `.fsync` durability, after a group
    /// of `expected` writes it also waits for up to `expected` jobs, at most half the last sync's
    /// time: writers resumed together usually write again at once, and one sync then serves them
    /// all instead of the first few (a commit delay, bounded so a lone writer never waits).
    private func waitForGroup(expected: Int) {
        if expected > 1, context.options.durability == .fsync, jobs.count < expected {
            let deadline =
                MonotonicCondition.now() + min(context.lastSyncNanoseconds / 2, Self.commitDelayMaxNanoseconds)
            wakeAt = expected
            while jobs.count < expected || isHeld, condition.wait(until: deadline) {}
            wakeAt = 1
        }
        while jobs.isEmpty || isHeld { condition.wait() }
    }

    /// The longest commit delay.
    static let commitDelayMaxNanoseconds = EngineLimits.commitDelayMaxNanoseconds
}

/// The writer thread's state: everything only the writer touches, and its view of the shared state.
final class WriterContext {
    let state: LogState
    let directory: String
    let options: LogEventStore.Options
    let logger: Logger
    var keys: KeyIndex
    /// What is hidden of each stream; the writer changes it between groups.
    let lifecycles: LogLifecycles
    var checkpointFile: SystemFile?
    var lock: StoreLock?
    /// The `head` file readers follow (writable opens only).
    var headFile: SystemFile?
    private var headGeneration: UInt64 = 0
    var lastCheckpoint: Checkpoint
    var bytesSinceCheckpoint = 0
    var needsCheckpoint = false
    /// How long the last group's `fdatasync` took (bounds the commit delay).
    var lastSyncNanoseconds: UInt64 = 0
    /// Each group sync's duration, for swift-metrics.
    lazy var syncDuration = StoreMetrics.syncDuration(store: "log", factory: options.metricsFactory)
    /// Where a read-only open keeps its own index files; removed at close.
    var privateDirectory: String?
    /// Set when the store can no longer write safely (a failed sync whose unsynced writes could
    /// not be taken back): it then refuses writes until reopened. A full disk, or a failed write
    /// or sync whose group was taken back, fails only that group.
    var failure: EventStoreError?
    /// Where the log is known durable: every byte before it was covered by a successful sync.
    /// Each frame records it (format 2), so recovery can tell what a crash explains.
    var syncedEnd = LogPosition(segment: 1, offset: Segment.headerBytes)
    /// Whether the head file could not be written last time (it is written again after the next group).
    private var headIsStale = false
    /// The durable end of a stop whose `sync-failed` record is not written yet.
    private var unrecordedDurableEnd: LogPosition?
    /// How many segments the log had when `Options.retention` was last applied.
    var retentionCheckedSegments = 0
    /// The floor the store's retention last asked for (`SegmentCompactor` raises it soon after).
    var retentionFloor: Int64 = 0
    /// The segments being compacted beside the writer (`SegmentCompactor`).
    let compactions = CompactingSegments()
    private var keyCache: [Int64: KeyFrame] = [:]
    private var lastKeyFrame: KeyFrame?

    /// Forgets the keys read back from frames (after a compaction changed some of those frames).
    func forgetKeyFrames() {
        keyCache.removeAll()
        lastKeyFrame = nil
    }

    init(
        state: LogState, directory: String, options: LogEventStore.Options, keys: KeyIndex, lifecycles: LogLifecycles,
        checkpointFile: SystemFile?, lock: StoreLock?, lastCheckpoint: Checkpoint
    ) {
        self.lifecycles = lifecycles
        self.state = state
        self.directory = directory
        self.options = options
        self.logger = options.logger
        self.keys = keys
        self.checkpointFile = checkpointFile
        self.lock = lock
        self.lastCheckpoint = lastCheckpoint
    }

    private var active: Segment { state.segments[state.segments.count - 1] }

    // MARK: Group commit

    private struct PlannedFrame {
        /// The unit (of the group) whose write this frame belongs to.
        let unitIndex: Int
        let bytes: [UInt8]
        let streamID: String
        let streamHash: UInt64
        let timestampMicros: Int64
        let firstVersion: Int64
        let firstSequenceID: Int64
        let eventCount: Int
        /// The key hash of each event that has a key, with its index in the batch.
        let keyHashes: [(index: Int, hash: UInt64)]
        /// The stream's slot before the group (`nil`: a new stream).
        let slotBefore: StreamIndex.Slot?
        /// The unit's write goes on in the next frame (the segment must not roll before it).
        let continues: Bool
        var position = LogPosition(rawValue: 0)
        /// Where the frame ends in the log (once written).
        var end: LogPosition { LogPosition(segment: position.segment, offset: position.offset + bytes.count) }
    }

    private struct StreamKey: Hashable {
        let streamID: String
        let key: String
    }

    /// Resolves, writes, syncs and publishes a group of appends, then answers each of them.
    ///
    /// A unit of several requests (a write to several streams) is resolved whole before any of it
    /// is planned: one failed check fails the unit and plans nothing of it. Its frames are
    /// consecutive, each but the last flagged `continues`, so that recovery keeps or cuts them
    /// together, and `write` never rolls a segment between them.
    func commit(_ group: [WriteUnit]) {
        guard !group.isEmpty else { return }
        recordDurableEnd()
        if let failure {
            for unit in group { unit.finish(.failure(Self.stopped(after: failure))) }
            return
        }
        var results = [Result<[AppendResult], Error>](
            repeating: .failure(EventStoreError.storeClosed), count: group.count)
        var frames: [PlannedFrame] = []
        var planning = GroupPlan(nextSequenceID: state.headSequenceID + 1)
        // Keys must be remembered across units only for a stream that a later unit writes too.
        if group.count > 1 {
            for unit in group { for request in unit.requests { planning.requestsPerStream[request.streamID, default: 0] += 1 } }
        }
        let timestamp = Timestamp.nowMicroseconds()
        for (unitIndex, unit) in group.enumerated() {
            do {
                // Resolve every request first: nothing of the unit is planned unless all pass.
                let resolved = try unit.requests.map { try resolve($0, plan: &planning) }
                var unitResults: [AppendResult] = []
                let lastWithEvents = resolved.lastIndex { !$0.events.isEmpty }
                for (index, (request, outcome)) in zip(unit.requests, resolved).enumerated() {
                    planning.versions[request.streamID] = outcome.current + Int64(outcome.events.count)
                    unitResults.append(
                        AppendResult(version: outcome.current + Int64(outcome.events.count), appendedCount: outcome.events.count))
                    guard !outcome.events.isEmpty else { continue }
                    if planning.requestsPerStream[request.streamID, default: 1] > 1 {
                        for event in outcome.events {
                            if let key = event.idempotencyKey {
                                planning.keys.insert(StreamKey(streamID: request.streamID, key: key))
                            }
                        }
                    }
                    let stamp = request.timestampMicros ?? timestamp
                    frames.append(
                        PlannedFrame(
                            unitIndex: unitIndex,
                            bytes: BatchFrame.encode(
                                streamID: request.streamID, firstSequenceID: planning.nextSequenceID,
                                firstVersion: outcome.current + 1, timestampMicros: stamp, events: outcome.events,
                                syncedEnd: syncedEnd, continues: index != lastWithEvents),
                            streamID: request.streamID, streamHash: outcome.streamHash, timestampMicros: stamp,
                            firstVersion: outcome.current + 1, firstSequenceID: planning.nextSequenceID,
                            eventCount: outcome.events.count,
                            keyHashes: Self.pair(outcome.events, withKeptHashes: outcome.keptHashes),
                            slotBefore: planning.slotsBefore[request.streamID], continues: index != lastWithEvents))
                    planning.nextSequenceID += Int64(outcome.events.count)
                }
                results[unitIndex] = .success(unitResults)
            } catch {
                results[unitIndex] = .failure(error)
            }
        }
        if !frames.isEmpty {
            let stored = writeAndPublish(&frames)
            if stored.count < frames.count, let error = stored.error {
                // Every unit from the first failed frame on fails: a later unit may have been planned
                // on it (a key it dropped as pending, a version it expected or conflicted with).
                for index in frames[stored.count].unitIndex..<group.count { results[index] = .failure(error) }
            }
        }
        for (index, unit) in group.enumerated() {
            unit.finish(results[index].mapError { SystemError.storeError($0) })
        }
        if failure == nil, needsCheckpoint || bytesSinceCheckpoint >= options.checkpointBytesInterval {
            do {
                try checkpoint(clean: false)
            } catch {
                // Only recovery time depends on checkpoints: the next group tries again. A failed
                // log sync inside it (`.buffered`) has stopped the store already.
                needsCheckpoint = true
                logger.warning("a checkpoint failed; the next write tries again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// What the planning of a group has decided so far.
    private struct GroupPlan {
        var nextSequenceID: Int64
        /// Each stream's version after the units planned so far.
        var versions: [String: Int64] = [:]
        /// Keys stored by the units planned so far, for streams that several units write.
        var keys: Set<StreamKey> = []
        /// Each stream's slot before the group (absent: a new stream), for reserving index space.
        var slotsBefore: [String: StreamIndex.Slot] = [:]
        var requestsPerStream: [String: Int] = [:]
    }

    /// What `resolve` kept of a request.
    private struct Resolved {
        let current: Int64
        let streamHash: UInt64
        let events: [CandidateEvent]
        /// The hashes of the keys kept, in order: each keyed event that stays takes the next.
        let keptHashes: [UInt64]
    }

    /// Applies the core's rules to `request` against the store and the units planned before it.
    private func resolve(_ request: AppendRequest, plan: inout GroupPlan) throws -> Resolved {
        let streamHash = StableHash.stream(request.streamID)
        let current: Int64
        if let pending = plan.versions[request.streamID] {
            current = pending
        } else {
            let slot = try state.withLock { try state.slot(of: request.streamID, hash: streamHash) }
            plan.slotsBefore[request.streamID] = slot
            current = slot?.version ?? 0
        }
        // Every key of the request probes the key index in one pass; `resolve` asks in the same order.
        let hashes = request.events.compactMap {
            $0.idempotencyKey.map { StableHash.key($0, streamHash: streamHash) }
        }
        let firstCandidates = keys.firstCandidates(hashes)
        var asked = 0
        var keptHashes: [UInt64] = []
        keptHashes.reserveCapacity(hashes.count)
        let pendingKeys = plan.keys
        let table = lifecycles.cached()
        let lifecycle = table[request.streamID] ?? .none
        // A key whose event is hidden is forgotten.
        let now = lifecycle.isNone ? 0 : Timestamp.nowMicroseconds()
        let isVisible: (Int64, Int64, Int64) -> Bool = { sequenceID, version, timestamp in
            sequenceID >= table.floor
                && (lifecycle.isNone
                    || !lifecycle.hides(
                        version: version, timestampMicros: timestamp, streamVersion: current, nowMicros: now))
        }
        let events = try request.resolve(currentVersion: current, lifecycle: lifecycle) { key in
            defer { asked += 1 }
            if !pendingKeys.isEmpty, pendingKeys.contains(StreamKey(streamID: request.streamID, key: key)) {
                return true
            }
            if firstCandidates[asked] != 0,
                try isKeyStored(
                    key, hash: hashes[asked], firstCandidate: firstCandidates[asked], streamID: request.streamID,
                    isVisible: isVisible)
            {
                return true
            }
            keptHashes.append(hashes[asked])
            return false
        }
        return Resolved(current: current, streamHash: streamHash, events: events, keptHashes: keptHashes)
    }

    /// Writes the frames, syncs them per the durability and publishes those that are stored.
    /// - Returns: how many frames (a prefix) are stored and published, and the error that failed
    ///   the others. A failure takes back what it can, so that nobody reads a failed write.
    private func writeAndPublish(_ frames: inout [PlannedFrame]) -> (count: Int, error: EventStoreError?) {
        do {
            try reserveIndexSpace(for: frames)
        } catch {
            // Nothing was written: a full disk fails this group only.
            return (0, groupFailed(error, stored: 0))
        }
        var stored = frames.count
        var writeError: Error?
        do {
            try write(&frames)
        } catch let error as GroupWriteError {
            stored = error.storedFrames
            writeError = error.underlying
            // What could not be taken back is past every published byte: the log ends there.
            if !error.isTakenBack { stop(after: error.underlying, durableEnd: publishedEnd) }
        } catch {
            stored = 0
            writeError = error
            stop(after: error, durableEnd: publishedEnd)
        }
        let recorded = publish(frames[..<stored])
        if let error = recorded.error {
            // Space was reserved, so only a damaged index gets here. The frames recorded are
            // stored and answered; the store stops, and reopening rebuilds the indexes.
            let end = recorded.count == 0 ? frames[0].position : frames[recorded.count - 1].end
            stop(after: error, durableEnd: end)
            publishHead()
            return (recorded.count, groupFailed(error, stored: recorded.count))
        }
        publishHead()
        guard let writeError else { return (frames.count, nil) }
        return (stored, groupFailed(writeError, stored: stored))
    }

    /// Where the published log ends: every frame before it is stored and answered.
    private var publishedEnd: LogPosition { LogPosition(segment: active.ordinal, offset: active.endOffset) }

    /// The error a failed group's writes get, logged once.
    private func groupFailed(_ error: Error, stored: Int) -> EventStoreError {
        let storeError = SystemError.storeError(error)
        if failure != nil {
            return .io("\(storeError); the store stopped accepting writes: reopen it to recover")
        }
        logger.warning(
            SystemError.isDiskFull(error) ? "a write failed: the disk is full" : "a write failed and was taken back",
            metadata: ["error": "\(storeError)", "stored": "\(stored)"])
        if SystemError.isDiskFull(error) {
            return .io("the disk is full; nothing of this write was stored, and the store accepts writes again once space is freed (\(storeError))")
        }
        return storeError
    }

    /// Stops the store: writes are refused until it is reopened. Unsynced frames the OS may still
    /// show (a failed sync's pages) are never read as stored: `sync-failed` tells every open in this
    /// boot that the log ends at `durableEnd`.
    func stop(after error: Error, durableEnd: LogPosition) {
        guard failure == nil else { return }
        failure = SystemError.storeError(error)
        logger.error("writes stopped after a failure", metadata: ["error": "\(failure!)"])
        unrecordedDurableEnd = durableEnd
        recordDurableEnd()
    }

    /// Writes `sync-failed` for a stop whose record could not be written yet (the disk failing
    /// still): tried at the stop, at every later group and at close, until it is written.
    func recordDurableEnd() {
        guard let durableEnd = unrecordedDurableEnd else { return }
        do {
            try SyncFailureRecord(durableEnd: durableEnd).write(
                directory: directory, fileMode: options.fileMode, io: options.io)
            unrecordedDurableEnd = nil
        } catch {
            logger.error("could not record where the log ends; trying again later", metadata: ["error": "\(error)"])
        }
    }

    /// (index in `events`, key hash) for every keyed event, the hashes taken in order.
    static func pair(_ events: [CandidateEvent], withKeptHashes hashes: [UInt64]) -> [(Int, UInt64)] {
        var pairs: [(Int, UInt64)] = []
        pairs.reserveCapacity(hashes.count)
        for (index, event) in events.enumerated() where event.idempotencyKey != nil {
            pairs.append((index, hashes[pairs.count]))
        }
        precondition(pairs.count == hashes.count, "every kept key has its event")
        return pairs
    }

    static func stopped(after failure: EventStoreError) -> EventStoreError {
        .io("the store stopped accepting writes after an earlier failure (\(failure)); reopen it to recover")
    }

    /// Whether the stream holds `key`: the key index names candidates, the log confirms. The first
    /// candidate (found by the batch probe) is usually the only one, so it is tried before the
    /// table is probed again.
    /// `isVisible` tells, from an event's sequence id, version and timestamp, whether it is not hidden.
    private func isKeyStored(
        _ key: String, hash: UInt64, firstCandidate: Int64, streamID: String, isVisible: (Int64, Int64, Int64) -> Bool
    ) throws -> Bool {
        if try storedKey(at: firstCandidate, streamID: streamID, is: key, isVisible: isVisible) { return true }
        for sequenceID in keys.candidates(hash: hash) where sequenceID != firstCandidate {
            if try storedKey(at: sequenceID, streamID: streamID, is: key, isVisible: isVisible) { return true }
        }
        return false
    }

    /// The keys of a frame read back for key checks.
    private final class KeyFrame {
        let firstSequenceID: Int64
        let firstVersion: Int64
        let timestampMicros: Int64
        let streamID: String
        let keys: [String?]

        init(firstSequenceID: Int64, firstVersion: Int64, timestampMicros: Int64, streamID: String, keys: [String?]) {
            self.firstSequenceID = firstSequenceID
            self.firstVersion = firstVersion
            self.timestampMicros = timestampMicros
            self.streamID = streamID
            self.keys = keys
        }

        func contains(_ sequenceID: Int64) -> Bool {
            sequenceID >= firstSequenceID && sequenceID - firstSequenceID < Int64(keys.count)
        }

        /// Whether the event at `sequenceID` (which the frame contains) is of `streamID`, carries
        /// `key`, and is visible.
        func holds(_ sequenceID: Int64, streamID: String, key: String, isVisible: (Int64, Int64, Int64) -> Bool)
            -> Bool
        {
            let index = sequenceID - firstSequenceID
            return self.streamID == streamID && keys[Int(index)] == key
                && isVisible(sequenceID, firstVersion + index, timestampMicros)
        }
    }

    /// Whether the event at `sequenceID` belongs to `streamID` and carries `key`. A retried write
    /// asks for the keys of one stored frame after another, so the last frame read answers first,
    /// without the index lock; then a few recent frames, by first sequence id.
    private func storedKey(
        at sequenceID: Int64, streamID: String, is key: String, isVisible: (Int64, Int64, Int64) -> Bool
    ) throws -> Bool {
        if let frame = lastKeyFrame, frame.contains(sequenceID) {
            return frame.holds(sequenceID, streamID: streamID, key: key, isVisible: isVisible)
        }
        let located: (Segment, Int, Int64)? = try state.withLock {
            guard sequenceID <= state.headSequenceID, let index = state.batches.lastEntry(atOrBefore: sequenceID) else {
                return nil
            }
            let entry = state.batches.entry(at: index)
            // A removed segment's keys are forgotten with it.
            if state.isRemoved(entry.position) { return nil }
            return (try state.segment(entry.position.segment), entry.position.offset, entry.firstSequenceID)
        }
        guard let (segment, offset, firstSequenceID) = located else { return false }
        let frame: KeyFrame
        if let cached = keyCache[firstSequenceID] {
            frame = cached
        } else {
            // A compaction beside the writer may be changing the frame's bytes.
            compactions.waitWhileChanging(segment.ordinal)
            frame = try LogState.withFrame(in: segment, at: offset) { bytes, header in
                KeyFrame(
                    firstSequenceID: firstSequenceID, firstVersion: header.firstVersion,
                    timestampMicros: header.timestampMicros, streamID: BatchFrame.streamID(bytes, header),
                    keys: try EventRecord.keys(
                        frame: bytes, header: header, context: "'\(segment.path)' offset \(offset)"))
            }
            if keyCache.count >= 16 { keyCache.removeAll(keepingCapacity: true) }
            keyCache[firstSequenceID] = frame
        }
        lastKeyFrame = frame
        guard frame.contains(sequenceID) else { return false }
        return frame.holds(sequenceID, streamID: streamID, key: key, isVisible: isVisible)
    }

    /// A group write that failed partway: the frames before `storedFrames` are stored (a seal
    /// synced them), the rest are not, and `isTakenBack` tells whether their bytes were removed.
    private struct GroupWriteError: Error {
        let storedFrames: Int
        let underlying: Error
        let isTakenBack: Bool
    }

    /// Grows the index files for the frames before any of them is written, so that a full disk
    /// fails the group before the log holds it (publishing then needs no new space).
    private func reserveIndexSpace(for frames: [PlannedFrame]) throws {
        let keyCount = frames.reduce(0) { $0 + $1.keyHashes.count }
        let streams = frames.map { (hash: $0.streamHash, slot: $0.slotBefore) }
        // The stream table may be replaced by a bigger one: readers see it only under the lock.
        try state.withLock {
            try state.batches.reserve(additional: frames.count)
            try state.streams.reserve(for: streams)
        }
        try keys.reserve(additional: keyCount)
    }

    /// Writes the frames, rolling segments as they fill, and syncs them per the durability. On a
    /// failure, the frames of the segment being written are taken back (the file is cut where the
    /// group began in it), so a failed sync's pages, which the OS may still show, are never read.
    /// - Throws: `GroupWriteError`.
    private func write(_ frames: inout [PlannedFrame]) throws {
        if active.isSealed {
            // A roll whose new segment could not be made (a full disk): make it now.
            do {
                try createNextSegment(after: active, firstSequenceID: frames[0].firstSequenceID)
            } catch {
                throw GroupWriteError(storedFrames: 0, underlying: error, isTakenBack: true)
            }
        }
        var segment = active
        var buffer: [UInt8] = []
        var bufferStart = segment.endOffset
        var bufferedFrames = 0
        // Where this group began in the segment being written: a failure takes it back to there.
        var groupStart = (offset: bufferStart, checksum: segment.runningChecksum, frameCount: segment.frameCount)
        var storedFrames = 0
        func flush() throws {
            guard !buffer.isEmpty else { return }
            try buffer.withUnsafeBytes { try segment.append($0, at: bufferStart) }
            segment.frameCount += bufferedFrames
            bufferStart += buffer.count
            bytesSinceCheckpoint += buffer.count
            buffer.removeAll(keepingCapacity: true)
            bufferedFrames = 0
        }
        func takeBack(_ error: Error) -> GroupWriteError {
            do {
                try segment.rollBack(
                    to: groupStart.offset, checksum: groupStart.checksum, frameCount: groupStart.frameCount)
                return GroupWriteError(storedFrames: storedFrames, underlying: error, isTakenBack: true)
            } catch {
                logger.error("a failed write could not be taken back", metadata: ["error": "\(error)"])
                return GroupWriteError(storedFrames: storedFrames, underlying: error, isTakenBack: false)
            }
        }
        for index in frames.indices {
            let frame = frames[index]
            // A segment rolls only between whole writes, judged by the whole write's size.
            let startsWrite = index == 0 || !frames[index - 1].continues
            if startsWrite, bufferStart + buffer.count + Self.writeBytes(frames, from: index) > options.segmentBytesMax,
                segment.frameCount + bufferedFrames > 0
            {
                do {
                    try flush()
                    try segment.seal(end: bufferStart, lastSequenceID: frame.firstSequenceID - 1)
                } catch {
                    throw syncFailed(error, takeBack: takeBack)
                }
                // The seal synced the segment: its frames are stored.
                storedFrames = index
                syncedEnd = LogPosition(segment: segment.ordinal, offset: bufferStart)
                do {
                    segment = try createNextSegment(after: segment, firstSequenceID: frame.firstSequenceID)
                } catch {
                    throw GroupWriteError(storedFrames: storedFrames, underlying: error, isTakenBack: true)
                }
                bufferStart = segment.endOffset
                groupStart = (bufferStart, segment.runningChecksum, segment.frameCount)
            }
            frames[index].position = LogPosition(segment: segment.ordinal, offset: bufferStart + buffer.count)
            buffer.append(contentsOf: frame.bytes)
            bufferedFrames += 1
        }
        do {
            try flush()
        } catch {
            throw takeBack(error)
        }
        if options.durability == .fsync {
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                try segment.file.synchronizeData()
            } catch {
                throw syncFailed(error, takeBack: takeBack)
            }
            lastSyncNanoseconds = DispatchTime.now().uptimeNanoseconds - start
            syncDuration.recordNanoseconds(Int64(lastSyncNanoseconds))
            syncedEnd = LogPosition(segment: segment.ordinal, offset: bufferStart)
        }
        segment.publishEnd(bufferStart)
    }

    /// The bytes of the write whose first frame is `frames[index]` (it ends at a frame that does
    /// not continue).
    private static func writeBytes(_ frames: [PlannedFrame], from index: Int) -> Int {
        var bytes = 0
        for frame in frames[index...] {
            bytes += frame.bytes.count
            if !frame.continues { break }
        }
        return bytes
    }

    /// A failed write, seal or sync of the segment being written. Its group is taken back; when a
    /// sync failed with `.buffered` durability, earlier acknowledged writes that no sync covered yet
    /// may be lost with the failed pages too, so the store stops (`stop(after:durableEnd:)`). A
    /// failed `pwrite` (of a seal's footer, say) drops no page: only its group fails.
    private func syncFailed(_ error: Error, takeBack: (Error) -> GroupWriteError) -> GroupWriteError {
        let result = takeBack(error)
        if options.durability == .buffered, SystemError.isSyncFailure(error) {
            stop(after: error, durableEnd: syncedEnd)
        }
        return result
    }

    /// Creates the segment after `segment` (sealed) and makes it the active one.
    @discardableResult
    private func createNextSegment(after segment: Segment, firstSequenceID: Int64) throws -> Segment {
        let next = try Segment.create(
            directory: directory, ordinal: segment.ordinal + 1, firstSequenceID: firstSequenceID,
            segmentBytesMax: options.segmentBytesMax, fileMode: options.fileMode, io: options.io)
        state.withLock { state.segments.append(next) }
        syncedEnd = LogPosition(segment: next.ordinal, offset: next.endOffset)
        needsCheckpoint = true
        return next
    }

    /// Adds stored frames to the indexes and moves the head, one frame at a time so a failure
    /// midway leaves a consistent prefix. - Returns: how many frames are recorded, and the error
    /// that stopped the others (then the keys of the recorded ones may be missing from `keys.idx`,
    /// and the caller stops the store: a reopen rebuilds it).
    private func publish(_ frames: ArraySlice<PlannedFrame>) -> (count: Int, error: Error?) {
        guard !frames.isEmpty else { return (0, nil) }
        var recorded = 0
        do {
            try state.withLock {
                for frame in frames {
                    do {
                        try state.record(
                            streamID: frame.streamID, streamHash: frame.streamHash, position: frame.position,
                            firstSequenceID: frame.firstSequenceID, firstVersion: frame.firstVersion,
                            eventCount: frame.eventCount, timestampMicros: frame.timestampMicros)
                    } catch {
                        // Part of a write to several streams is in the indexes: nobody may read it.
                        if recorded > 0, frames[frames.startIndex + recorded - 1].continues {
                            state.unreadable = .corruption(
                                "the index failed while recording a write to several streams, and holds part of it; reopen the store, which rebuilds its indexes from the log (\(SystemError.storeError(error)))"
                            )
                        }
                        throw error
                    }
                    recorded += 1
                }
            }
            var entries: [(hash: UInt64, sequenceID: Int64)] = []
            for frame in frames {
                for (index, hash) in frame.keyHashes { entries.append((hash, frame.firstSequenceID + Int64(index))) }
            }
            if !entries.isEmpty { try keys.insert(entries) }
            return (recorded, nil)
        } catch {
            return (recorded, error)
        }
    }

    func seedHeadGeneration(_ generation: UInt64) { headGeneration = generation }

    /// Tells read-only processes where the committed log ends now (one `pwrite` of the head file;
    /// inotify wakes them). A failure is logged and the next group writes it again: readers then
    /// wait for it (or for their once-a-second look), but nothing stored is at risk.
    func publishHead() {
        guard let headFile else { return }
        headGeneration &+= 1
        let segment = active
        let record = HeadRecord(
            generation: headGeneration, logEnd: LogPosition(segment: segment.ordinal, offset: segment.endOffset),
            headSequenceID: state.headSequenceID)
        do {
            try headFile.write(record.encoded(), at: 0)
            headIsStale = false
        } catch {
            if !headIsStale {
                logger.warning("the head file could not be written", metadata: ["error": "\(error)"])
            }
            headIsStale = true
        }
    }

    // MARK: Checkpoints, snapshots, close

    /// Makes the log and the indexes durable and records where they stand.
    func checkpoint(clean: Bool) throws {
        guard let checkpointFile else { return }
        let segment = active
        if options.durability == .buffered { try synchronizeBufferedLog() }
        try keys.synchronize()
        // The grown table's name, from its rename at growth, is made durable before a checkpoint
        // describes it (ENGINE.md: renames are followed by a sync of the directory).
        if keys.isGrown { try Directory.synchronize(directory, io: options.io) }
        try state.batches.file.synchronize()
        try state.streams.synchronize()
        var next = Checkpoint()
        next.number = lastCheckpoint.number &+ 1
        next.isClean = clean
        next.logEnd = LogPosition(segment: segment.ordinal, offset: segment.endOffset)
        next.headSequenceID = state.headSequenceID
        next.segmentPrefixChecksum = segment.runningChecksum
        next.batchCount = state.batches.count
        next.batchChecksum = try state.batches.checksum()
        next.streamCount = state.streams.count
        next.streamCapacity = state.streams.capacity
        next.blocksUsed = state.streams.blocksUsed
        next.streamChecksum = clean ? try state.streams.checksum() : 0
        next.keyCount = keys.count
        next.keyCapacity = keys.capacity
        next.keyChecksum = try keys.checksum(upTo: state.headSequenceID)
        try next.write(to: checkpointFile)
        try keys.settle()
        lastCheckpoint = next
        bytesSinceCheckpoint = 0
        needsCheckpoint = false
    }

    /// Applies a lifecycle change between groups: resolved against the stream's committed
    /// version, saved durably, then visible to every read; a deletion also removes the stream's
    /// snapshots.
    func changeLifecycle(_ change: LifecycleChange) throws -> StreamLifecycle {
        recordDurableEnd()
        if let failure { throw Self.stopped(after: failure) }
        // A new retention may show hidden events again: a compaction that failed partway, planned
        // when they were hidden, is finished first (no compaction runs now: this holds its lock).
        if case .setRetention = change.kind { try finishLeftoverCompaction() }
        // After a failed save, the file may hold a change that is not durable: it is made so
        // before this change is judged against it (and acknowledged, even as a no-op).
        try lifecycles.settle(fileMode: options.fileMode)
        let hash = StableHash.stream(change.streamID)
        let version = try state.withLock { try state.slot(of: change.streamID, hash: hash)?.version ?? 0 }
        let current = try lifecycles.lifecycle(of: change.streamID)
        var next = try change.resolve(currentVersion: version, current: current)
        if case .setRetention = change.kind, current.retention?.maxAge != nil {
            // An age bound removed (or changed) shows what it hid again, but not what a
            // compaction removed meanwhile: that is hidden by version from now on, so that heads
            // (which count a stream without a lifecycle by its version) agree with reads.
            next.hiddenThrough = max(next.hiddenThrough, try compactedVersions(of: change.streamID, hash: hash))
        }
        // A deletion's snapshots go first (durably): a power loss between the two then leaves the
        // stream with its events and without a snapshot, which is only a cache, never a deleted
        // stream whose snapshot still loads.
        if change.removesSnapshots {
            try SnapshotFile.removeAll(of: change.streamID, directory: directory, io: options.io)
        }
        if next != current {
            if options.durability == .buffered {
                // What a change hides is durable before the change is, as for snapshots.
                try synchronizeBufferedLog()
            }
            try lifecycles.set(next, of: change.streamID, fileMode: options.fileMode)
        }
        return next
    }

    /// The last version of the stream's first batches that compaction removed, 0 when its first
    /// batch is whole. (Compaction holds no segment's bytes changing now: a retention change
    /// holds its lock, and a journal a failure left was finished first.)
    private func compactedVersions(of streamID: String, hash: UInt64) throws -> Int64 {
        // The versions in removed segments were removed whole.
        var through: Int64 = try state.withLock {
            guard let slot = try state.slot(of: streamID, hash: hash) else { return 0 }
            return state.removed.stream(firstAt: slot.firstPosition)?.version ?? 0
        }
        while true {
            let batches = try state.withLock { () -> [StreamIndex.BatchRef] in
                guard let slot = try state.slot(of: streamID, hash: hash) else { return [] }
                return state.streams.batches(of: slot, after: through, eventLimit: 4_096)
            }
            guard !batches.isEmpty else { return through }
            for batch in batches {
                let isCompacted = try state.withLock {
                    if state.isRemoved(batch.position) { return true }
                    return try LogState.withFrame(
                        in: try state.segment(batch.position.segment), at: batch.position.offset, verifyChecksum: false
                    ) { _, header in header.codec == .compacted }
                }
                guard isCompacted else { return through }
                through = batch.lastVersion
            }
        }
    }

    func save(_ snapshot: Snapshot) throws {
        // A stopped store saves no snapshot: after a failed sync, a later sync that succeeds says
        // nothing of the pages the kernel dropped, and the snapshot could reflect events the next
        // open no longer has.
        recordDurableEnd()
        if let failure { throw Self.stopped(after: failure) }
        if options.durability == .buffered {
            // The events a snapshot reflects are made durable before it is, so a power loss never
            // leaves a snapshot ahead of the log.
            try synchronizeBufferedLog()
        }
        try SnapshotFile.save(snapshot, directory: directory, fileMode: options.fileMode, io: options.io)
    }

    /// Syncs the active segment of a `.buffered` store, moving the synced end. A failure stops the
    /// store: the OS may have dropped the pages of acknowledged writes that no sync covered yet.
    func synchronizeBufferedLog() throws {
        let segment = active
        let end = segment.endOffset
        do {
            try segment.file.synchronizeData()
            syncedEnd = LogPosition(segment: segment.ordinal, offset: end)
        } catch {
            stop(after: error, durableEnd: syncedEnd)
            throw error
        }
    }

    /// A clean close: a final checkpoint marked clean (unless writes failed), then the lock goes.
    func close() throws {
        recordDurableEnd()
        defer {
            lock = nil
            if let privateDirectory {
                for name in (try? Directory.names(in: privateDirectory)) ?? [] {
                    try? Directory.remove(privateDirectory + "/" + name, io: options.io)
                }
                try? SystemCall.removeDirectory(privateDirectory)
            }
        }
        guard failure == nil, checkpointFile != nil, !options.readOnly else { return }
        try checkpoint(clean: true)
    }
}

/// A call waiting in a group: one append, or the appends of a write to several streams (all are
/// stored or none), answered with one result per request.
struct WriteUnit {
    let requests: [AppendRequest]
    let finish: (Result<[AppendResult], Error>) -> Void
}
