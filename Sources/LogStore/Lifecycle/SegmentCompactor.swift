import EventSourcingCore
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Compacts segments beside the writer (ENGINE.md, "Compaction and retention"): the writer
/// thread takes two short steps per segment (`startCompaction`, `adoptCompaction`), and
/// everything else, reading the segment, planning, saving the journal and making the changes
/// with their syncs, runs on a thread of its own while writes go on. One segment at a time.
///
/// A lifecycle change can only hide more while a compaction is under way, except one that
/// replaces a retention (an age bound removed shows older events again): `setRetention` takes
/// the same lock, so that no plan removes an event a change made visible again.
///
/// Thread-safety: safe to use from any task.
final class SegmentCompactor: Sendable {
    private let writer: LogWriter
    private let lifecycles: LogLifecycles
    private let directory: String
    private let options: LogEventStore.Options
    /// One compaction (of one segment) or retention change at a time.
    let lock = AsyncSerialLock()
    /// The segments the store's retention dropped, each with the floor that hides it, the task
    /// that raises the floor and compacts them in the background, and whether the store closes
    /// (then nothing more is taken or started: the next open judges the retention again).
    private let background = Mutex<Background>(Background())

    private struct Background {
        var pending: [(floor: Int64, ordinal: Int)] = []
        var task: Task<Void, Never>?
        var isClosing = false
    }

    init(writer: LogWriter, lifecycles: LogLifecycles, directory: String, options: LogEventStore.Options) {
        self.writer = writer
        self.lifecycles = lifecycles
        self.directory = directory
        self.options = options
        writer.compactions.onDropped { [weak self] floor, ordinals in self?.dropInBackground(floor: floor, ordinals) }
    }

    /// Compacts one segment. - Returns: The events removed and the payload bytes freed.
    func compact(_ ordinal: Int) async throws -> (events: Int64, bytes: Int64) {
        try await lock.run {
            while true {
                do {
                    return try await compactOnce(ordinal)
                } catch is WriterContext.CompactionRetry {
                    continue
                }
            }
        }
    }

    private func compactOnce(_ ordinal: Int) async throws -> (events: Int64, bytes: Int64) {
        guard let start = try await writer.perform({ try $0.startCompaction(of: ordinal) }) else { return (0, 0) }
        let (directory, options) = (directory, options)
        let planned = try await DedicatedThread.run(name: "eventlog-compaction") { () throws -> CompactionPlan? in
            try SystemError.mapped {
                guard let plan = try CompactionPlan.make(start) else { return nil }
                // The writer saves the journal of the segment it appends to, between its groups.
                if !start.isActive {
                    try plan.journal.save(directory: directory, fileMode: options.fileMode, io: options.io)
                }
                return plan
            }
        }
        guard let plan = planned else { return (0, 0) }
        let journal = try await writer.perform { try $0.adoptCompaction(plan) }
        let compactions = writer.compactions
        try await DedicatedThread.run(name: "eventlog-compaction") {
            // Key checks wait only while the bytes change, not for the syncs after.
            var isChanged = false
            defer { if !isChanged { compactions.end(ordinal) } }
            let changed = {
                compactions.end(ordinal)
                isChanged = true
            }
            // Each part once more after a moment (a passing error), so that frames are rarely left
            // half changed until the next compaction or open redoes the journal. Once the changes
            // are durable, only the journal's removal is tried again: the segment is never written
            // again without a journal that a power loss leaves (a torn sector of even the same
            // bytes would be damage nothing repairs; compaction-fault seed 20261213 round 2503).
            do {
                try SystemError.mapped { try journal.makeChanges(directory: directory, io: options.io, changed: changed) }
            } catch {
                usleep(10_000)
                try SystemError.mapped { try journal.makeChanges(directory: directory, io: options.io, changed: changed) }
            }
            do {
                try SystemError.mapped { try CompactionJournal.remove(directory: directory, io: options.io) }
            } catch {
                usleep(10_000)
                try SystemError.mapped { try CompactionJournal.remove(directory: directory, io: options.io) }
            }
        }
        return (plan.events, plan.bytes)
    }

    /// Removes the oldest segments whose every event is below the store's floor (ENGINE.md,
    /// "Compaction and retention"): the writer thread takes them between groups, their streams
    /// are recorded durably (`RemovedSegments`, off the writer thread), the writer thread lets
    /// them go from the log, and their files are unlinked. A crash after the record leaves files
    /// that the next writable open unlinks; before it, the segments are all still there.
    func removeBelowFloor() async throws {
        try await lock.run {
            guard let start = try await writer.perform({ try $0.startRemoval() }) else { return }
            let (directory, options) = (directory, options)
            let record = try await DedicatedThread.run(name: "eventlog-retention") { () throws -> RemovedSegments in
                try SystemError.mapped {
                    let record = try start.record()
                    try record.save(directory: directory, fileMode: options.fileMode, io: options.io)
                    return record
                }
            }
            try await writer.perform { $0.adoptRemoval(record) }
            try await DedicatedThread.run(name: "eventlog-retention") {
                try SystemError.mapped {
                    for segment in start.segments { try Directory.remove(segment.path, io: options.io) }
                    try Directory.synchronize(directory, io: options.io)
                }
            }
        }
    }

    /// Drops segments the store's retention chose, after those queued before (called on the
    /// writer thread, so it only queues them): the floor is raised (the lifecycle file saved,
    /// its syncs off the writer thread), then every segment wholly below it is removed
    /// (`removeBelowFloor`). A failure is logged; the next roll raises the floor again and
    /// removes what is left.
    private func dropInBackground(floor: Int64, _ ordinals: [Int]) {
        background.withLock { background in
            guard !background.isClosing else { return }
            background.pending += ordinals.map { (floor, $0) }
            guard background.task == nil else { return }
            background.task = Task { [self] in
                while let (floor, ordinal) = nextPending() {
                    do {
                        let (lifecycles, fileMode) = (lifecycles, options.fileMode)
                        try await lock.run {
                            try await DedicatedThread.run(name: "eventlog-retention") {
                                try SystemError.mapped { try lifecycles.raiseFloor(to: floor, fileMode: fileMode) }
                            }
                        }
                        try await removeBelowFloor()
                    } catch {
                        options.logger.warning(
                            "could not drop a segment past the store's retention; the next roll tries again",
                            metadata: ["segment": "\(Segment.fileName(ordinal: ordinal))", "error": "\(error)"])
                        // The writer judges the next roll by the floor in the file again.
                        _ = try? await writer.perform { $0.retentionFloor = 0 }
                    }
                }
            }
        }
    }

    /// The next dropped segment, or `nil` (then the background task ends).
    private func nextPending() -> (floor: Int64, ordinal: Int)? {
        background.withLock { background in
            guard !background.pending.isEmpty, !background.isClosing else {
                background.pending = []
                background.task = nil
                return nil
            }
            return background.pending.removeFirst()
        }
    }

    /// Waits for the segments dropped so far to be hidden and compacted (a test hook).
    func finishBackground() async {
        while let task = background.withLock({ $0.task }) { await task.value }
    }

    /// Before the store closes: takes no more dropped segments, lets the one being worked on
    /// finish, and drops the rest (their floor not raised: the next open judges the retention
    /// again), so that nothing writes to the store's files once `close()` returned.
    func close() async {
        background.withLock { $0.isClosing = true }
        await finishBackground()
    }
}
