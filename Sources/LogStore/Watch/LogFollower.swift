import EventSourcingCore
import Foundation
import Logging

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
    private(set) var overflowCount = 0
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
                overflowCount += masks.filter { $0 & UInt32(IN_Q_OVERFLOW) != 0 }.count
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
            var offset = segment.endOffset
            var next = state.headSequenceID + 1
            while offset < limit {
                let found: (BatchHeader, String)? = segment.withBytes(offset: 0, count: limit) { bytes in
                    guard case .frame(let header) = BatchFrame.probe(bytes, at: offset) else { return nil }
                    let frame = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + header.frameLength])
                    return (header, BatchFrame.streamID(frame, header))
                }
                // The committed end never stops inside a frame; anything else waits for the next look.
                guard let (header, streamID) = found, header.firstSequenceID == next else { break }
                let position = LogPosition(segment: segment.ordinal, offset: offset)
                segment.publishEnd(offset + header.frameLength)
                try state.withLock {
                    let hash = StableHash.stream(streamID)
                    try state.batches.append(
                        BatchIndex.Entry(
                            firstSequenceID: header.firstSequenceID, position: position, streamHash: hash,
                            firstVersion: header.firstVersion))
                    let slot = try state.streams.find(hash: hash, isStream: { try state.isStream(streamID, at: $0) })
                    try state.streams.record(
                        existing: slot, hash: hash, firstVersion: header.firstVersion, eventCount: header.eventCount,
                        position: position, timestampMicros: header.timestampMicros)
                    state.headSequenceID = header.lastSequenceID
                    state.headTimestampMicros = header.timestampMicros
                }
                offset += header.frameLength
                next = header.lastSequenceID + 1
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
