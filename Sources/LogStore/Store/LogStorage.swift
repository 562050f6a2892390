import EventSourcingCore
import Foundation
import Logging
import Synchronization

/// The storage protocol on the log engine. Reads run on the caller's task against memory-mapped
/// segments and indexes (they take the index lock only to find positions); writes and snapshot
/// saves go to the single writer thread, which groups concurrent writes into one disk write and
/// one sync.
///
/// Thread-safety: safe to use from any task.
final class LogStorage: EventStorage {
    let state: LogState
    let writer: LogWriter
    let follower: LogFollower?
    let directory: String
    let isReadOnly: Bool
    /// The last few decompressed payloads: a page that ends inside a large compressed batch does
    /// not make the next page decompress it again.
    private let payloadCache = Mutex<[(segment: Int, offset: Int, bytes: [UInt8])]>([])
    /// Runs the blocking file reads that are not of mapped memory: snapshot files, the directory.
    private let blockingReads = BlockingWorker(name: "eventlog-reads")
    private static let payloadCacheEntries = 4

    let subscriptions: any SubscriptionStorage
    private let subscriptionFiles: LogSubscriptions
    /// What is hidden of each stream (`LifecycleFile`).
    let lifecycles: LogLifecycles
    /// Compacts segments beside the writer.
    private let compactor: SegmentCompactor

    init(
        state: LogState, writer: LogWriter, follower: LogFollower?, lifecycles: LogLifecycles, directory: String,
        options: LogEventStore.Options
    ) {
        self.lifecycles = lifecycles
        subscriptionFiles = LogSubscriptions(storeDirectory: directory, options: options)
        subscriptions = subscriptionFiles
        let isReadOnly = options.readOnly
        self.state = state
        self.writer = writer
        self.follower = follower
        self.directory = directory
        self.isReadOnly = isReadOnly
        compactor = SegmentCompactor(writer: writer, lifecycles: lifecycles, directory: directory, options: options)
    }

    func append(_ request: AppendRequest) async throws -> AppendResult {
        guard !isReadOnly else { throw EventStoreError.readOnly }
        return try await withCheckedThrowingContinuation { continuation in
            writer.submit(.append(request, continuation))
        }
    }

    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult] {
        guard !isReadOnly else { throw EventStoreError.readOnly }
        return try await withCheckedThrowingContinuation { continuation in
            writer.submit(.appendUnit(requests, continuation))
        }
    }

    func saveSnapshot(_ snapshot: Snapshot) async throws {
        guard !isReadOnly else { throw EventStoreError.readOnly }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writer.submit(.snapshot(snapshot, continuation))
        }
    }

    // Snapshot files and the directory are read with blocking calls: off the cooperative pool, on
    // the store's own thread for them (`blockingReads`), as the SQLite store reads on threads of its own.

    func loadSnapshot(streamID: String, projection: String) async throws -> Snapshot? {
        let (directory, io) = (directory, state.io)
        // A snapshot the page cache holds is read here at once; only a read that would wait for
        // the disk goes to the blocking-reads thread.
        let cached = try SystemError.mapped {
            try SnapshotFile.load(directory: directory, streamID: streamID, projection: projection, io: io, onlyIfCached: true)
        }
        guard cached.wouldWait else { return cached.snapshot }
        return try await blockingReads.run {
            try SystemError.mapped {
                try SnapshotFile.load(directory: directory, streamID: streamID, projection: projection, io: io)
            }
        }
    }

    func snapshots() async throws -> [Snapshot] {
        let (directory, io) = (directory, state.io)
        return try await blockingReads.run {
            try SystemError.mapped { try SnapshotFile.all(directory: directory, io: io) }
        }
    }

    func statistics() async throws -> StoreStatistics {
        try await blockingReads.run { [self] in
            try SystemError.mapped { try statisticsNow() }
        }
    }

    private func statisticsNow() throws -> StoreStatistics {
        let (streams, events, segments) = state.withLock {
            (state.streams.count, state.headSequenceID, state.segments.count)
        }
        var bytes: Int64 = 0
        var snapshots = 0
        for name in try Directory.names(in: directory) {
            let path = directory + "/" + name
            if name == LogSubscriptions.directoryName, Directory.exists(path) {
                for record in try Directory.names(in: path) {
                    guard let file = try SystemFile.openIfExists(path + "/" + record, io: state.io) else { continue }
                    bytes += Int64(try file.size())
                }
                continue
            }
            guard let file = try SystemFile.openIfExists(path, io: state.io) else { continue }
            bytes += Int64(try file.size())
            if name.hasPrefix("snapshot-"), name.hasSuffix(".snap") { snapshots += 1 }
        }
        return StoreStatistics(
            streams: streams, events: events, segments: segments, bytesOnDisk: bytes, snapshots: snapshots)
    }

    /// Waits for what the store's retention dropped so far to be hidden and compacted: the writer
    /// hands it over once it has run the jobs it took with the group that rolled (or, after an
    /// open, with its first jobs), so two jobs on the writer thread come first: the second runs
    /// only after the first one's hand-over.
    func settleRetention() async {
        _ = try? await writer.perform { _ in }
        _ = try? await writer.perform { _ in }
        await compactor.finishBackground()
    }

    func close() async throws {
        await compactor.close()
        blockingReads.stop()
        subscriptionFiles.stop()
        if let follower { try await DedicatedThread.run(name: "eventlog-follower-stop") { follower.stop() } }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writer.submit(.close(continuation))
        }
    }

    func head(of streamID: String) async throws -> StreamHead {
        try SystemError.mapped { try headNow(of: streamID) }
    }

    private func headNow(of streamID: String) throws -> StreamHead {
        let table = try lifecycles.current()
        var head = try state.withLock {
            if let unreadable = state.unreadable { throw unreadable }
            if streamID == StreamName.all {
                return StreamHead(
                    version: state.headSequenceID, eventCount: state.headSequenceID,
                    lastTimestamp: state.headTimestampMicros.map(Timestamp.date(microseconds:)))
            }
            let hash = StableHash.stream(streamID)
            guard let slot = try state.slot(of: streamID, hash: hash) else { return .empty }
            return StreamHead(
                version: slot.version, eventCount: slot.version,
                lastTimestamp: Timestamp.date(microseconds: slot.lastTimestampMicros))
        }
        guard !table.isEmpty else { return head }
        // Hidden events are not counted: the streams with a lifecycle (and with a floor, for a
        // stream's head, the stream itself) are counted by reading them; for `@all`, the events
        // below the floor are counted at once and the streams' hidden events only from there.
        let isAll = streamID == StreamName.all
        let streams =
            isAll ? Array(table.streams.keys) : table[streamID] != nil || table.floor > 1 ? [streamID] : []
        if isAll { head.eventCount -= min(table.floor - 1, head.version) }
        for stream in streams {
            var hidden: Int64 = 0
            var visibleLast: Date?
            var after: Int64 = 0
            while true {
                let page = try readNow(
                    ReadRequest(streamID: stream, after: after, direction: .forward, limit: 4_096, filter: nil),
                    countingHidden: &hidden, from: isAll ? table.floor : 1)
                if let last = page.events.last { visibleLast = last.timestamp }
                guard let lastScanned = page.lastScanned, !page.isEnd else { break }
                after = lastScanned
            }
            head.eventCount -= hidden
            if !isAll { head.lastTimestamp = visibleLast }
        }
        return head
    }

    /// A batch to decode: its segment, offset, and the positions of its events (versions or
    /// sequence ids) that the page wants.
    private struct PlannedBatch {
        let segment: Segment
        let offset: Int
        let wanted: ClosedRange<Int64>
    }

    func read(_ request: ReadRequest) async throws -> ReadPage {
        try SystemError.mapped { try readNow(request) }
    }

    private func readNow(_ request: ReadRequest) throws -> ReadPage {
        var hidden: Int64 = 0
        return try readNow(request, countingHidden: &hidden, from: 1)
    }

    /// A page of `request`, adding to `hiddenCount` the hidden events it scanned whose sequence
    /// id is at least `countedFrom`.
    ///
    /// A compaction (beside the writer, or in the writer process) may change a batch while it is
    /// read: its bytes are then half changed, or zeros where events were. Such a batch is hidden
    /// by the lifecycle table saved before the compaction began, so the page is read again, with
    /// the table as it is then, after a short wait; only damage that stays (about a quarter of a
    /// second) is reported.
    private func readNow(_ request: ReadRequest, countingHidden hiddenCount: inout Int64, from countedFrom: Int64)
        throws -> ReadPage
    {
        var wait: UInt32 = 200
        var attempt = 0
        while true {
            var counted = hiddenCount
            do {
                let page = try readOnce(request, countingHidden: &counted, from: countedFrom)
                hiddenCount = counted
                return page
            } catch let error as EventStoreError {
                guard case .corruption = error, attempt < Self.readAttemptsAfterDamage else { throw error }
                attempt += 1
                usleep(wait)
                wait = min(wait * 2, 50_000)
            }
        }
    }

    /// How many times a page that read as damaged is read again before the damage is reported.
    private static let readAttemptsAfterDamage = 12

    private func readOnce(_ request: ReadRequest, countingHidden hiddenCount: inout Int64, from countedFrom: Int64)
        throws -> ReadPage
    {
        let table = try lifecycles.current()
        // Under the lock: where the wanted events are, the committed end they stop at, and the
        // versions the hiding rule needs.
        let (plan, end, hidden) = try state.withLock { () throws -> ([PlannedBatch], Int64, HiddenEvents?) in
            if let unreadable = state.unreadable { throw unreadable }
            let (plan, end, removed) = request.isAll ? try planAll(request) : try planStream(request)
            // A stream's events in removed segments are hidden ones passed over (their sequence
            // ids are below the first kept one).
            if countedFrom < state.removed.firstKeptSequenceID { hiddenCount += removed }
            return (plan, end, try hiddenEvents(table, request: request, streamVersion: end))
        }
        var builder = PageBuilder(request: request)
        // Records the filter cannot match are counted as scanned without being decoded.
        let prefilter = request.direction == .forward ? RecordPrefilter(request.filter) : nil
        var stoppedEarly = false
        var lastScanned: Int64?
        var isCompactedMeanwhile = false
        scan: for batch in plan {
            try LogState.withFrame(in: batch.segment, at: batch.offset) { frame, header in
                let streamID = BatchFrame.streamID(frame, header)
                let first = request.isAll ? header.firstSequenceID : header.firstVersion
                // A batch compacted away, whose every event is hidden, or of a stream the filter
                // excludes, is passed over undecoded.
                if header.codec == .compacted || hidden?.hidesAll(of: header, streamID: streamID) == true
                    || prefilter?.mayMatch(streamID: streamID) == false
                {
                    // The wanted events' sequence ids, counted from `countedFrom`.
                    let shift = request.isAll ? 0 : header.firstSequenceID - header.firstVersion
                    hiddenCount += max(
                        0, batch.wanted.upperBound + shift - max(batch.wanted.lowerBound + shift, countedFrom) + 1)
                    let position =
                        request.direction == .forward ? batch.wanted.upperBound : batch.wanted.lowerBound
                    lastScanned = position
                    if !builder.skip(position: position) { stoppedEarly = true }
                    return
                }
                defer { isCompactedMeanwhile = frame[36] == Codec.compacted.rawValue }
                try withPayload(of: batch, frame: frame, header: header) { payload in
                    let context = "'\(batch.segment.path)' offset \(batch.offset)"
                    let firstWanted = Int(batch.wanted.lowerBound - first)
                    if request.direction == .forward {
                        // Straight into the page: no intermediate array.
                        try EventRecord.decode(
                            payload: payload, header: header, streamID: streamID, context: context,
                            firstWanted: firstWanted, prefilter: prefilter,
                            rejected: { index in
                                let position = first + Int64(index)
                                lastScanned = position
                                guard builder.skip(position: position) else {
                                    stoppedEarly = true
                                    return false
                                }
                                return position < batch.wanted.upperBound
                            }
                        ) { event in
                            let position = request.position(of: event)
                            lastScanned = position
                            let isHidden = hidden?.hides(event) ?? false
                            if isHidden, event.sequenceID >= countedFrom { hiddenCount += 1 }
                            guard builder.add(event, isHidden: isHidden) else {
                                stoppedEarly = true
                                return false
                            }
                            return position < batch.wanted.upperBound
                        }
                    } else {
                        var events: [StoredEvent] = []
                        try EventRecord.decode(
                            payload: payload, header: header, streamID: streamID, context: context,
                            firstWanted: firstWanted
                        ) { event in
                            events.append(event)
                            return request.position(of: event) < batch.wanted.upperBound
                        }
                        for event in events.reversed() {
                            lastScanned = request.position(of: event)
                            let isHidden = hidden?.hides(event) ?? false
                            if isHidden, event.sequenceID >= countedFrom { hiddenCount += 1 }
                            guard builder.add(event, isHidden: isHidden) else {
                                stoppedEarly = true
                                return
                            }
                        }
                    }
                }
            }
            // A compaction (of a batch this read's lifecycle table did not yet hide) rewrote the
            // batch while it was decoded: its header changes before its payload is zeroed, so
            // what was decoded may be zeros. The page is read again (`readNow`).
            if isCompactedMeanwhile {
                throw EventStoreError.corruption(
                    "'\(batch.segment.path)' offset \(batch.offset): the batch was compacted while it was read; "
                        + "read again")
            }
            if stoppedEarly { break scan }
        }
        // Without a full page, the plan reached the committed end in its direction.
        let reachedEnd: Bool
        switch request.direction {
        case .forward: reachedEnd = plan.isEmpty || (lastScanned ?? request.after) >= end
        case .backward: reachedEnd = plan.isEmpty || (lastScanned ?? request.after) <= 1
        }
        return builder.finish(sourceExhausted: !stoppedEarly && reachedEnd)
    }

    /// The hiding rule for one read (inside the lock), `nil` when it hides nothing.
    private func hiddenEvents(_ table: LifecycleTable, request: ReadRequest, streamVersion: Int64) throws
        -> HiddenEvents?
    {
        guard !table.isEmpty else { return nil }
        var versions: [String: Int64] = [:]
        if request.isAll {
            for (streamID, lifecycle) in table.streams where lifecycle.retention?.maxCount != nil {
                versions[streamID] = try state.slot(of: streamID, hash: StableHash.stream(streamID))?.version ?? 0
            }
        } else {
            guard table[request.streamID] != nil || table.floor > 1 else { return nil }
            versions[request.streamID] = streamVersion
        }
        return HiddenEvents(table: table, versions: versions, nowMicros: Timestamp.nowMicroseconds())
    }

    /// Lends the raw payload of a planned batch, decompressing a compressed one at most once while
    /// it stays among the last few read.
    private func withPayload<T>(
        of batch: PlannedBatch, frame: UnsafeRawBufferPointer, header: BatchHeader,
        _ body: (UnsafeRawBufferPointer) throws -> T
    ) throws -> T {
        guard header.codec == .lz4 else {
            return try BatchFrame.withRawPayload(frame, header, context: "", body)
        }
        let ordinal = batch.segment.ordinal
        if let cached = payloadCache.withLock({ cache in
            cache.first { $0.segment == ordinal && $0.offset == batch.offset }?.bytes
        }) {
            return try cached.withUnsafeBytes(body)
        }
        let stored = UnsafeRawBufferPointer(
            rebasing: frame[header.payloadOffset..<header.payloadOffset + header.payloadStoredLength])
        let raw = try LZ4.decompress(
            stored, rawCount: header.payloadRawLength, context: "'\(batch.segment.path)' offset \(batch.offset)")
        payloadCache.withLock { cache in
            if cache.count >= Self.payloadCacheEntries { cache.removeFirst() }
            cache.append((ordinal, batch.offset, raw))
        }
        return try raw.withUnsafeBytes(body)
    }

    /// Plans a read of a named stream (inside the lock). Returns the batches, the stream's version,
    /// and how many of the stream's events the read passes over unread in removed segments.
    private func planStream(_ request: ReadRequest) throws -> ([PlannedBatch], Int64, Int64) {
        let hash = StableHash.stream(request.streamID)
        guard let slot = try state.slot(of: request.streamID, hash: hash) else { return ([], 0, 0) }
        // The stream's first versions may be in removed segments (below the store's floor): a
        // forward read starts past them, and a backward one stops at them, without reading them.
        let removedThrough = state.removed.stream(firstAt: slot.firstPosition)?.version ?? 0
        let refs: [StreamIndex.BatchRef]
        var passedOver: Int64 = 0
        switch request.direction {
        case .forward:
            passedOver = max(0, removedThrough - request.after)
            refs = state.streams.batches(
                of: slot, after: max(request.after, removedThrough), eventLimit: request.limit)
        case .backward:
            refs = state.streams.batches(of: slot, before: request.after, eventLimit: request.limit)
        }
        let plan = try refs.filter { !state.isRemoved($0.position) }.map { ref -> PlannedBatch in
            let wanted: ClosedRange<Int64>
            switch request.direction {
            case .forward: wanted = max(ref.firstVersion, request.after + 1)...ref.lastVersion
            case .backward: wanted = ref.firstVersion...min(ref.lastVersion, request.after - 1)
            }
            return PlannedBatch(
                segment: try state.segment(ref.position.segment), offset: ref.position.offset, wanted: wanted)
        }
        return (plan, slot.version, passedOver)
    }

    /// Plans a read of `@all` (inside the lock). Returns the batches, the head sequence id, and 0
    /// (what a read passes over in removed segments is below the store's floor, counted with it).
    private func planAll(_ request: ReadRequest) throws -> ([PlannedBatch], Int64, Int64) {
        let head = state.headSequenceID
        let batches = state.batches
        var plan: [PlannedBatch] = []
        var covered = 0
        func lastSequenceID(ofEntry index: Int) -> Int64 {
            index + 1 < batches.count ? batches.entry(at: index + 1).firstSequenceID - 1 : head
        }
        switch request.direction {
        case .forward:
            // Sequence ids in removed segments are below the store's floor: the read starts past them.
            let target = max(request.after + 1, state.removed.firstKeptSequenceID)
            guard target <= head, var index = batches.lastEntry(atOrBefore: target) else { return ([], head, 0) }
            while index < batches.count, covered < request.limit {
                let entry = batches.entry(at: index)
                let last = lastSequenceID(ofEntry: index)
                let wanted = max(entry.firstSequenceID, target)...last
                plan.append(
                    PlannedBatch(
                        segment: try state.segment(entry.position.segment), offset: entry.position.offset,
                        wanted: wanted))
                covered += wanted.count
                index += 1
            }
        case .backward:
            let target = min(request.after - 1, head)
            guard target >= 1, var index = batches.lastEntry(atOrBefore: target) else { return ([], head, 0) }
            while index >= 0, covered < request.limit {
                let entry = batches.entry(at: index)
                if state.isRemoved(entry.position) { break }
                let wanted = entry.firstSequenceID...min(lastSequenceID(ofEntry: index), target)
                plan.append(
                    PlannedBatch(
                        segment: try state.segment(entry.position.segment), offset: entry.position.offset,
                        wanted: wanted))
                covered += wanted.count
                index -= 1
            }
        }
        return (plan, head, 0)
    }
}

extension LogStorage {
    func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle {
        guard !isReadOnly else { throw EventStoreError.readOnly }
        let submit = { [writer] in
            try await withCheckedThrowingContinuation { continuation in
                writer.submit(.lifecycle(change, continuation))
            }
        }
        // Only a new retention can show hidden events again (an age bound removed): never while a
        // compaction's plan, made with the old one, is being carried out.
        guard case .setRetention = change.kind else { return try await submit() }
        return try await compactor.lock.run { try await submit() }
    }

    func lifecycle(of streamID: String) async throws -> StreamLifecycle {
        try SystemError.mapped { try lifecycles.lifecycle(of: streamID) }
    }

    func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String] {
        try SystemError.mapped {
            let table = try lifecycles.current()
            let streams: [(id: String, version: Int64)] = try state.withLock {
                if let unreadable = state.unreadable { throw unreadable }
                return try state.streams.allSlots().map { slot in
                    (try state.streamID(firstAt: slot.firstPosition), slot.version)
                }
            }
            let prefixBytes = Array(prefix.utf8)
            return
                streams
                .filter { stream in
                    stream.id.utf8.starts(with: prefixBytes)
                        && (after.map { $0.utf8.lexicographicallyPrecedes(stream.id.utf8) } ?? true)
                        && (table[stream.id] ?? .none).isListed(streamVersion: stream.version)
                }
                .map(\.id)
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .prefix(limit).map { $0 }
        }
    }

    /// Compacts the segments one at a time beside the writer (`SegmentCompactor`), so writes go
    /// on meanwhile, then removes those wholly below the store's floor; progress counts segments.
    func compact(progress: CompactionProgress?) async throws -> CompactionReport {
        guard !isReadOnly else { throw EventStoreError.readOnly }
        let ordinals = state.withLock { state.segments.map(\.ordinal) }
        var events: Int64 = 0
        var bytes: Int64 = 0
        progress?(0, Int64(ordinals.count))
        for (index, ordinal) in ordinals.enumerated() {
            let done = try await compactor.compact(ordinal)
            events += done.events
            bytes += done.bytes
            progress?(Int64(index + 1), Int64(ordinals.count))
        }
        // Segments wholly below the store's floor that a crash or a failure left are removed too.
        try await compactor.removeBelowFloor()
        return CompactionReport(eventsRemoved: events, bytesReclaimed: bytes)
    }
}
