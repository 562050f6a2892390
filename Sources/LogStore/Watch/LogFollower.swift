import EventSourcingCore
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps a read-only store up to date with the writer process: a thread waits on inotify for the
/// writer's `head` file (and the directory, for a head file that appears), and on every wake-up,
/// or once a second as a safety net, reads the committed end and reads the log up to it, adding
/// the new batches to the store's private indexes and waking its watchers. Only batches below the
/// committed end are ever read, so a reader never sees a partly written batch nor one that the
/// store's durability does not yet promise.
///
/// Thread-safety: `@unchecked Sendable` because its mutable state is touched only by its thread,
/// and the shared state only under `LogState`'s lock.
final class LogFollower: @unchecked Sendable {
    private let state: LogState
    private let directory: String
    private let hub: WatchHub
    private let logger: Logger
    private let inotify: Inotify?
    private let stopped = NSCondition()
    private var isStopping = false
    private var isRunning = true
    /// How many times the inotify queue overflowed (harmless: every wake-up re-reads the head).
    var overflowCount: Int { overflows.load(ordering: .relaxed) }
    private let overflows = Atomic<Int>(0)
    /// Milliseconds between checks when no inotify event arrives.
    static let safetyNetMilliseconds: Int32 = 1000

    init(state: LogState, directory: String, hub: WatchHub, logger: Logger) {
        self.state = state
        self.directory = directory
        self.hub = hub
        self.logger = logger
        var inotify: Inotify?
        do {
            inotify = try Inotify()
        } catch {
            logger.warning(
                "inotify is unavailable; following the writer once a second", metadata: ["error": "\(error)"])
        }
        self.inotify = inotify
        let thread = Thread { [self] in self.run() }
        thread.name = "eventlog-follower"
        thread.start()
    }

    private func run() {
        var watchingHead = false
        if let inotify {
            _ = try? inotify.watch(directory, mask: UInt32(IN_CREATE | IN_MOVED_TO))
        }
        while true {
            stopped.lock()
            let stop = isStopping
            stopped.unlock()
            if stop { break }
            if !watchingHead, let inotify {
                watchingHead =
                    (try? inotify.watch(HeadRecord.path(directory), mask: UInt32(IN_MODIFY | IN_CLOSE_WRITE))) ?? false
            }
            do {
                if try catchUp() { hub.notify(streamID: nil) }
            } catch {
                logger.error("following the writer failed", metadata: ["error": "\(error)"])
            }
            if let inotify {
                let masks = inotify.wait(timeoutMilliseconds: Self.safetyNetMilliseconds)
                if masks.contains(where: { $0 & UInt32(IN_IGNORED) != 0 }) { watchingHead = false }
                overflows.add(masks.filter { $0 & UInt32(IN_Q_OVERFLOW) != 0 }.count, ordering: .relaxed)
            } else {
                usleep(UInt32(Self.safetyNetMilliseconds) * 1000)
            }
        }
        stopped.lock()
        isRunning = false
        stopped.broadcast()
        stopped.unlock()
    }

    /// Reads the log from the store's end up to the writer's committed end.
    /// - Returns: whether anything new was added.
    private func catchUp() throws -> Bool {
        let target: LogPosition
        if let committed = try LogRecovery.committedBound(directory: directory, io: state.io) {
            target = committed
        } else if let record = HeadRecord.read(directory: directory, io: state.io) {
            // No writer runs: what it last published is all there is.
            target = record.logEnd
        } else {
            return false
        }
        var added = false
        while true {
            let segment = state.segments[state.segments.count - 1]
            let here = LogPosition(segment: segment.ordinal, offset: segment.endOffset)
            guard here < target else { return added }
            let size = try segment.fileSize()
            try segment.noteFileSize(size)
            let limit = segment.ordinal == target.segment ? min(target.offset, size) : size
            // Only whole writes below the committed end are taken; anything else waits for the next look.
            var cursor = FrameCursor(
                segment: segment, from: segment.endOffset, end: limit, nextSequenceID: state.headSequenceID + 1)
            var pending: [(BatchHeader, String, LogPosition)] = []
            while case .frame(let header, let offset) = segment.withBytes(
                offset: 0, count: limit, { cursor.next($0) })
            {
                let position = LogPosition(segment: segment.ordinal, offset: offset)
                let streamID = segment.withBytes(offset: offset, count: header.frameLength) {
                    BatchFrame.streamID($0, header)
                }
                pending.append((header, streamID, position))
                guard cursor.isWhole else { continue }
                segment.publishEnd(cursor.offset)
                try state.withLock {
                    for (header, streamID, position) in pending {
                        try state.record(
                            streamID: streamID, streamHash: StableHash.stream(streamID), position: position,
                            firstSequenceID: header.firstSequenceID, firstVersion: header.firstVersion,
                            eventCount: header.eventCount, timestampMicros: header.timestampMicros)
                    }
                }
                pending.removeAll()
                added = true
            }
            guard segment.ordinal < target.segment else { return added }
            // The writer sealed this segment and moved on: open the next one.
            let nextPath = directory + "/" + Segment.fileName(ordinal: segment.ordinal + 1)
            let nextSegment = try Segment.open(
                path: nextPath, ordinal: segment.ordinal + 1, segmentBytesMax: 1 << 32, writable: false, io: state.io)
            guard nextSegment.firstSequenceID == state.headSequenceID + 1 else {
                throw EventStoreError.corruption(
                    "'\(nextPath)' offset 24: does not continue the log at \(state.headSequenceID + 1)")
            }
            state.withLock { state.segments.append(nextSegment) }
        }
    }

    /// Stops the thread and waits for it.
    func stop() {
        stopped.lock()
        isStopping = true
        stopped.unlock()
        inotify?.wake()
        stopped.lock()
        while isRunning { _ = stopped.wait(until: Date().addingTimeInterval(2)) }
        stopped.unlock()
    }
}
