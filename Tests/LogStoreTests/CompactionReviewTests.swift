import EventSourcing
import EventSourcingTestSupport
import Foundation
import Synchronization
import Testing

@testable import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// The system's files, with delays and faults for the compaction's and the retention's file
/// operations. (Thread names cannot tell them apart on Linux: every thread reports the name of
/// the dispatch worker that started it.) A compaction's changes go through a segment descriptor
/// opened write-only (`CompactionJournal.apply`); the writer's are read-write.
final class ReviewIO: FileIO, @unchecked Sendable {
    let system = SystemIO.shared
    /// Microseconds slept after each pwrite of a compaction's changes.
    let compactionWriteDelay = Atomic<Int>(0)
    /// Fails (EIO) a compaction's write of a segment header (the run of changes from offset 0), its first change.
    let failCompactionHeaderWrite = Atomic<Bool>(false)
    /// Microseconds slept before each unlink of "lifecycle.tmp" (the first step of saving the lifecycle file).
    let lifecycleUnlinkDelay = Atomic<Int>(0)
    /// Microseconds slept before each sync.
    let syncDelay = Atomic<Int>(0)
    private let compactionDescriptors = Mutex<Set<Int32>>([])

    private func isCompaction(_ descriptor: Int32) -> Bool { compactionDescriptors.withLock { $0.contains(descriptor) } }

    private func delaySync() {
        let delay = syncDelay.load(ordering: .relaxed)
        if delay > 0 { usleep(UInt32(delay)) }
    }

    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        let descriptor = system.open(path, flags: flags, mode: mode)
        if descriptor >= 0 {
            let isCompaction = path.contains("/segment-") && flags & O_ACCMODE == O_WRONLY
            compactionDescriptors.withLock { set in
                if isCompaction { set.insert(descriptor) } else { set.remove(descriptor) }
            }
        }
        return descriptor
    }
    func close(_ descriptor: Int32) {
        compactionDescriptors.withLock { _ = $0.remove(descriptor) }
        system.close(descriptor)
    }
    func pread(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int) -> Int {
        system.pread(descriptor, buffer, count, offset)
    }
    func pwrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ offset: Int) -> Int {
        guard isCompaction(descriptor) else { return system.pwrite(descriptor, bytes, count, offset) }
        if offset == 0, count >= Segment.headerBytes, failCompactionHeaderWrite.load(ordering: .relaxed) {
            errno = EIO
            return -1
        }
        let written = system.pwrite(descriptor, bytes, count, offset)
        let delay = compactionWriteDelay.load(ordering: .relaxed)
        if delay > 0 { usleep(UInt32(delay)) }
        return written
    }
    func fdatasync(_ descriptor: Int32) -> Int32 {
        delaySync()
        return system.fdatasync(descriptor)
    }
    func fsync(_ descriptor: Int32) -> Int32 {
        delaySync()
        return system.fsync(descriptor)
    }
    func ftruncate(_ descriptor: Int32, _ size: Int) -> Int32 { system.ftruncate(descriptor, size) }
    func fallocate(_ descriptor: Int32, _ size: Int) -> Int32 { system.fallocate(descriptor, size) }
    func msync(_ descriptor: Int32, _ address: UnsafeMutableRawPointer, _ count: Int) -> Int32 {
        system.msync(descriptor, address, count)
    }
    func rename(_ from: String, _ to: String) -> Int32 { system.rename(from, to) }
    func unlink(_ path: String) -> Int32 {
        let delay = lifecycleUnlinkDelay.load(ordering: .relaxed)
        if delay > 0, path.hasSuffix("/lifecycle.tmp") {
            if ProcessInfo.processInfo.environment["REVIEW_DEBUG"] != nil { print("\(Date().timeIntervalSince1970) lifecycle save begins (delayed)") }
            usleep(UInt32(delay))
            if ProcessInfo.processInfo.environment["REVIEW_DEBUG"] != nil { print("\(Date().timeIntervalSince1970) lifecycle save goes on") }
        }
        return system.unlink(path)
    }
    func mkdir(_ path: String, _ mode: mode_t) -> Int32 { system.mkdir(path, mode) }
    func punchHole(_ descriptor: Int32, _ offset: Int, _ count: Int) -> Int32 {
        system.punchHole(descriptor, offset, count)
    }
}

private final class Flag: Sendable {
    let value = Atomic(false)
}

@Suite("Compaction review") struct CompactionReviewTests {
    /// The writer looks a stream up by its slot, which confirms the stream by reading its first
    /// batch with its checksum (`LogState.isStream`). A compaction beside the writer that removes
    /// that batch writes its new header and then its new trailer: in between the frame's checksum
    /// does not match, and an append to the stream fails with `corruption` (or, when the lookup
    /// in `publish` meets it, the store stops). Before, compaction ran on the writer thread.
    @Test func appendsToAStreamWhoseFirstBatchIsBeingCompactedDoNotFail() async throws {
        let directory = try TemporaryDirectory("review-first-batch")
        let path = directory.sub("store")
        let io = ReviewIO()
        var options = LogEventStore.Options()
        options.io = io
        try await LogEventStore.withStore(directory: path, options: options) { store in
            let stream = try await store.stream("s")
            for batch in 0..<20 {
                try await stream.write(
                    (0..<5).map { CandidateEvent(type: "s/\(batch)/\($0)", data: Data(repeating: UInt8(batch), count: 200)) })
            }
            try await stream.truncate(before: 51)
            // A slow disk: each write of the compaction takes 20 ms.
            io.compactionWriteDelay.store(20_000, ordering: .relaxed)
            let done = Flag()
            let compaction = Task {
                defer { done.value.store(true, ordering: .releasing) }
                return try await store.compact()
            }
            var errors: [String] = []
            var appended = 0
            while !done.value.load(ordering: .acquiring), errors.count < 3 {
                do {
                    try await stream.write(CandidateEvent(type: "more", data: Data(count: 10)))
                    appended += 1
                } catch {
                    errors.append("\(error)")
                }
            }
            let report = try await compaction.value
            io.compactionWriteDelay.store(0, ordering: .relaxed)
            #expect(report.eventsRemoved == 50)
            #expect(errors.isEmpty, "\(appended) appended; failed: \(errors)")
            // The store still takes writes.
            try await stream.write(CandidateEvent(type: "after"))
        }
    }

    /// `close()` waits for the background compaction only if the writer handed the dropped
    /// segments over before it looked; the writer hands them over after it has answered the write
    /// that rolled (and after that group's checkpoint). The background task then raises the floor
    /// (saves the lifecycle file) after close returned and the store's lock is free, over what
    /// another open saved meanwhile: here, a deletion.
    @Test func nothingIsWrittenToTheStoreAfterCloseReturns() async throws {
        let directory = try TemporaryDirectory("review-close-race")
        let path = directory.sub("store")
        let io = ReviewIO()
        var options = LogEventStore.Options(
            segmentBytesMax: 16 * 1024, checkpointBytesInterval: 16 * 1024,
            retention: LogEventStore.StoreRetention(maxBytes: 40 * 1024))
        options.io = io
        func segments() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: path)
                .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.count
        }
        func batch(_ index: Int) -> [CandidateEvent] {
            var random = SeededRandom(seed: UInt64(index), stream: 3)
            return (0..<4).map { CandidateEvent(type: "w/\(index)/\($0)", data: Data(random.bytes(500))) }
        }
        let store = try await LogEventStore.open(directory: path, options: options)
        let w = try await store.stream("w")
        for index in 0..<60 { try await w.write(batch(index)) }
        await store.settleRetention()
        // In the newest segment, never dropped.
        try await store.stream("x").write(CandidateEvent(type: "X"))
        // A slow disk (the writer's syncs, the retention's first file operation).
        io.syncDelay.store(30_000, ordering: .relaxed)
        io.lifecycleUnlinkDelay.store(600_000, ordering: .relaxed)
        let before = try segments()
        func stamp() -> String { ((try? FileManager.default.attributesOfItem(atPath: path + "/lifecycle")[.modificationDate]) as? Date).map { "\($0.timeIntervalSince1970)" } ?? "none" }
        if ProcessInfo.processInfo.environment["REVIEW_DEBUG"] != nil { print("segments \(before), lifecycle saved \(stamp())") }
        var index = 1_000
        while try segments() == before {
            try await w.write(batch(index))
            index += 1
        }
        try await store.close()
        if ProcessInfo.processInfo.environment["REVIEW_DEBUG"] != nil { print("\(Date().timeIntervalSince1970) closed") }
        // The lock is free: another open deletes x.
        let plain = LogEventStore.Options(segmentBytesMax: 16 * 1024, checkpointBytesInterval: 16 * 1024)
        try await LogEventStore.withStore(directory: path, options: plain) { other in
            try await other.stream("x").delete()
            if ProcessInfo.processInfo.environment["REVIEW_DEBUG"] != nil { print("\(Date().timeIntervalSince1970) deleted in the other open") }
            #expect(try await collect(other.stream("x").read()).isEmpty)
            try await Task.sleep(for: .milliseconds(1_500))
            if ProcessInfo.processInfo.environment["REVIEW_DEBUG"] != nil { print("segments \(try segments()), lifecycle saved \(stamp())") }
            #expect(try await collect(other.stream("x").read()).isEmpty, "x was deleted; the closed store's retention undid it")
        }
    }

    /// A compaction whose changes failed leaves its journal, and releases the compaction lock; a
    /// retention change then showed the events again (they were intact: nothing was written), and
    /// the next compaction redid the old journal: visible events lost their payloads (found in
    /// review). The change now finishes the journal first: the compaction, planned while the
    /// events were hidden, takes effect before the change, and nothing shown is removed later.
    @Test func aJournalLeftByAFailedCompactionNeverRemovesEventsShownAgain() async throws {
        let directory = try TemporaryDirectory("review-stale-journal")
        let path = directory.sub("store")
        let io = ReviewIO()
        var options = LogEventStore.Options()
        options.io = io
        try await LogEventStore.withStore(directory: path, options: options) { store in
            let old = Date(timeIntervalSinceNow: -7_200)
            for index in 0..<20 {
                try await store.stream("old").importEvents(
                    [CandidateEvent(type: "old/\(index)", data: Data(repeating: 7, count: 300))], timestamp: old,
                    expectedVersion: .any)
            }
            for index in 0..<5 { try await store.stream("new").write(CandidateEvent(type: "new/\(index)")) }
            try await store.stream("old").setRetention(Retention(maxAge: .seconds(3_600)))
            #expect(try await collect(store.stream("old").read()).isEmpty)
            // The compaction's first change fails (EIO): nothing of the segment changed.
            io.failCompactionHeaderWrite.store(true, ordering: .relaxed)
            await #expect(throws: (any Error).self) { try await store.compact() }
            io.failCompactionHeaderWrite.store(false, ordering: .relaxed)
            #expect(FileManager.default.fileExists(atPath: path + "/compaction"))
            try await store.stream("old").setRetention(nil)
            #expect(!FileManager.default.fileExists(atPath: path + "/compaction"))
            let shown = try await collect(store.stream("old").read())
            #expect(shown.isEmpty, "the failed compaction is finished before the retention changes")
            _ = try await store.compact()
            let after = try await collect(store.stream("old").read())
            #expect(after.map(\.type) == shown.map(\.type), "compact() removed \(shown.count - after.count) visible events")
            let newer = try await collect(store.stream("new").read())
            #expect(newer.count == 5)
        }
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
    }
}
