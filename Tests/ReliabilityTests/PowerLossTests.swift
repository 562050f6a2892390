import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@testable import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// Power loss never needs a person (shared/spec/ENGINE.md): format 2 tells damage that a crash
/// explains from damage that none does; a failed sync fails its writes and nobody reads them; a
/// full disk fails one write and the store takes writes again once there is room.
@Suite("Power loss, failed syncs, full disks") struct PowerLossTests {
    static func options(
        _ durability: LogEventStore.Durability = .fsync, io: (any FileIO)? = nil, segmentBytes: Int = 1 << 20
    ) -> LogEventStore.Options {
        var options = LogEventStore.Options(
            durability: durability, segmentBytesMax: segmentBytes, checkpointBytesInterval: 1 << 30)
        if let io { options.io = io }
        return options
    }

    static func event(_ index: Int, bytes: Int = 700) -> CandidateEvent {
        CandidateEvent(type: "E\(index)", data: noise(bytes, seed: UInt64(index)))
    }

    /// Bytes that do not compress (a frame keeps its size).
    static func noise(_ count: Int, seed: UInt64) -> Data {
        var random = SeededRandom(seed: seed, stream: 77)
        return Data(random.bytes(count))
    }

    /// Frames of segment 1 of `image`: (offset, length), in order.
    static func frames(_ segmentPath: String) throws -> [(offset: Int, length: Int)] {
        let bytes = try #require(StoreDirectory.read(segmentPath))
        var frames: [(Int, Int)] = []
        var offset = Segment.headerBytes
        while offset + 4 <= bytes.count {
            let length = Int(bytes[offset..<offset + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard length > 0, offset + length <= bytes.count else { break }
            frames.append((offset, length))
            offset += length
        }
        return frames
    }

    /// Writes `writers` one-event batches as one group (one `pwrite`, one sync), after `before`
    /// single writes, and cuts the power before that group's sync: the image holds the group unsynced.
    static func groupImage(_ work: String, before: Int, writers: Int) async throws -> String {
        let layer = FaultInjectingIO(root: work + "/store")
        let store = try await LogEventStore.open(directory: work + "/store", options: options(io: layer))
        for index in 0..<before { try await store.stream("w\(index % writers)").write(event(index)) }
        // The next fdatasync of a segment is the group's: the power goes just before it.
        layer.setCrashPlan(
            CrashPlan(
                point: .beforeSyncPoint(layer.syncPointCount), mode: .keepAll, imageDirectory: work + "/image",
                seed: 7))
        store.holdWrites()
        var tasks: [Task<Void, Never>] = []
        for writer in 0..<writers {
            tasks.append(Task { _ = try? await store.stream("w\(writer)").write(event(before + writer)) })
            while store.queuedWriteCount < writer + 1 { try await Task.sleep(nanoseconds: 100_000) }
        }
        store.releaseWrites()
        for task in tasks { await task.value }
        #expect(layer.hasCrashed)
        try? await store.close()
        return work + "/image"
    }

    @Test func aGroupWriteTornOutOfOrderByAPowerLossIsCutWithoutAPerson() async throws {
        let work = try StoreDirectory.work(named: "power-group")
        defer { StoreDirectory.remove(work) }
        let image = try await Self.groupImage(work, before: 3, writers: 4)
        let segment = image + "/" + Segment.fileName(ordinal: 1)
        let frames = try Self.frames(segment)
        #expect(frames.count == 7, "3 synced batches and a group of 4")
        // The disk kept the group's later batches but not its second one.
        var bytes = try #require(StoreDirectory.read(segment))
        let hole = frames[4]
        bytes.replaceSubrange(hole.offset..<hole.offset + hole.length, with: [UInt8](repeating: 0, count: hole.length))
        StoreDirectory.write(segment, bytes)
        for durability in [LogEventStore.Durability.fsync, .buffered] {
            let copy = work + "/\(durability)"
            try StoreDirectory.copy(image, to: copy)
            let events = try await LogEventStore.withStore(directory: copy, options: Self.options(durability)) { store in
                let events = try await FaultHarness.allEvents(store)
                try await store.stream("after").write(CandidateEvent(type: "After"))
                return events
            }
            // The three acknowledged batches and the whole batch before the hole; the rest is cut.
            #expect(events.map(\.type) == ["E0", "E1", "E2", "E3"], "\(durability)")
            let again = try await LogEventStore.withStore(directory: copy, options: Self.options()) {
                try await FaultHarness.allEvents($0)
            }
            #expect(again.map(\.type) == ["E0", "E1", "E2", "E3", "After"])
            #expect(try await LogVerifier.verify(directory: copy).isEmpty)
        }
    }

    @Test func damageBelowASyncedEndThatALaterBatchRecordsIsRefused() async throws {
        let work = try StoreDirectory.work(named: "power-synced")
        defer { StoreDirectory.remove(work) }
        let image = try await Self.groupImage(work, before: 3, writers: 2)
        let segment = image + "/" + Segment.fileName(ordinal: 1)
        let frames = try Self.frames(segment)
        // Batch 2 was synced before batch 3 was written (it records so): damage to it is no crash's.
        var bytes = try #require(StoreDirectory.read(segment))
        bytes[frames[1].offset + 60] ^= 0x40
        StoreDirectory.write(segment, bytes)
        for durability in [LogEventStore.Durability.fsync, .buffered] {
            do {
                let store = try await LogEventStore.open(directory: image, options: Self.options(durability))
                try? await store.close()
                Issue.record("open cut a batch that a sync had covered (\(durability))")
            } catch EventStoreError.corruption(let message) {
                #expect(message.contains("synced end"), "\(message)")
                #expect(message.contains("offset \(frames[1].offset)"), "\(message)")
            }
        }
        let problems = try await LogVerifier.verify(directory: image)
        #expect(problems.contains { $0.contains("offset \(frames[1].offset)") }, "\(problems)")
    }

    @Test func aWriteWhoseLastFrameIsMissingIsCutWhole() async throws {
        // The frames of one write across several streams are flagged `continues` up to the last:
        // recovery keeps the write only with its last frame.
        let work = try StoreDirectory.work(named: "power-continues")
        defer { StoreDirectory.remove(work) }
        let store = work + "/store"
        _ = try await LogEventStore.withStore(directory: store, options: Self.options()) {
            try await $0.stream("a").write(Self.event(0))
        }
        let segment = store + "/" + Segment.fileName(ordinal: 1)
        let before = try #require(StoreDirectory.read(segment))
        let footerless = before.count  // the store was closed: the active segment has no footer
        let synced = LogPosition(segment: 1, offset: footerless)
        var tail: [UInt8] = []
        for (index, stream) in ["b", "c"].enumerated() {
            tail += BatchFrame.encode(
                streamID: stream, firstSequenceID: Int64(2 + index), firstVersion: 1, timestampMicros: 1,
                events: [Self.event(index + 1)], syncedEnd: synced, continues: true)
        }
        StoreDirectory.write(segment, before + tail)
        let events = try await LogEventStore.withStore(directory: store, options: Self.options()) {
            try await FaultHarness.allEvents($0)
        }
        #expect(events.map(\.type) == ["E0"])
        #expect(try #require(StoreDirectory.read(segment)).count == footerless, "the torn write is cut")
    }

    @Test func aFailedSyncFailsItsWritesAndNobodyReadsThem() async throws {
        let work = try StoreDirectory.work(named: "power-fsyncgate")
        defer { StoreDirectory.remove(work) }
        let path = work + "/store"
        let layer = FaultInjectingIO(root: path)
        let store = try await LogEventStore.open(directory: path, options: Self.options(io: layer))
        try await store.stream("s").write(Self.event(0))
        // The next segment sync fails; the modelled kernel drops the pages and reports success later.
        layer.addFault(FaultRule(operation: .sync, errorNumber: EIO, pathContains: "segment"))
        await #expect(throws: EventStoreError.self) { try await store.stream("s").write(Self.event(1)) }
        #expect(layer.changesDroppedBySyncFailures > 0)
        // Not read as stored by this process ...
        #expect(try await FaultHarness.allEvents(store).map(\.type) == ["E0"])
        #expect(try await store.stream("s").version == 1)
        // ... by a reader process (a read-only open) ...
        #expect(try await Self.typesReadOnly(path) == ["E0"])
        // ... and the store goes on: the next write is stored where the failed one was.
        #expect(try await store.stream("s").write(Self.event(2)) == 2)
        try await store.close()
        // A reopen in the same boot, and a power loss, agree.
        #expect(try await PowerLossTests.types(path) == ["E0", "E2"])
        let image = work + "/image"
        layer.simulatePowerLoss(into: image, mode: .keepRandomSubset, seed: 3)
        #expect(try await PowerLossTests.types(image) == ["E0", "E2"])
    }

    @Test func aFailedBufferedSyncStopsTheStoreAndTheSameBootNeverReadsItsPages() async throws {
        let work = try StoreDirectory.work(named: "power-buffered-sync")
        defer { StoreDirectory.remove(work) }
        let path = work + "/store"
        let layer = FaultInjectingIO(root: path)
        let store = try await LogEventStore.open(directory: path, options: Self.options(.buffered, io: layer))
        try await store.stream("s").write(Self.event(0))
        try await store.stream("s").snapshot(Data("at 1".utf8))  // syncs the log: E0 is durable
        try await store.stream("s").write(Self.event(1))  // acknowledged, never synced
        layer.addFault(FaultRule(operation: .sync, errorNumber: EIO, pathContains: "segment"))
        await #expect(throws: EventStoreError.self) { try await store.stream("s").snapshot(Data("at 2".utf8)) }
        await #expect(throws: EventStoreError.self) { try await store.stream("s").write(Self.event(2)) }
        // A reader in the same boot stops where the log was last durable.
        #expect(try await Self.typesReadOnly(path) == ["E0"])
        try? await store.close()
        layer.clearFaults()
        // The dropped pages are still in the page cache: a reopen in the same boot must not take them.
        #expect(Directory.fileExists(SyncFailureRecord.path(path)))
        var reopened = try await LogEventStore.open(directory: path, options: Self.options(.buffered, io: layer))
        #expect(try await FaultHarness.allEvents(reopened).map(\.type) == ["E0"])
        // Closed without a write, the cut holds: the record is gone, but so are the lost pages.
        try await reopened.close()
        #expect(!Directory.fileExists(SyncFailureRecord.path(path)))
        #expect(try await Self.typesReadOnly(path) == ["E0"])
        reopened = try await LogEventStore.open(directory: path, options: Self.options(.buffered, io: layer))
        #expect(try await FaultHarness.allEvents(reopened).map(\.type) == ["E0"])
        #expect(try await reopened.stream("s").write(Self.event(3)) == 2)
        try await reopened.close()
        let image = work + "/image"
        layer.simulatePowerLoss(into: image, mode: .dropUnsynced, seed: 1)
        #expect(try await PowerLossTests.types(image) == ["E0", "E3"])
    }

    @Test func aSyncFailureRecordOfAnotherBootIsIgnored() async throws {
        let work = try StoreDirectory.work(named: "power-other-boot")
        defer { StoreDirectory.remove(work) }
        let path = work + "/store"
        try await LogEventStore.withStore(directory: path, options: Self.options()) { store in
            for index in 0..<3 { try await store.stream("s").write(Self.event(index)) }
        }
        let record = SyncFailureRecord(
            durableEnd: LogPosition(segment: 1, offset: Segment.headerBytes),
            bootID: Array("00000000-0000-0000-0000-000000000000".utf8))
        try record.write(directory: path, fileMode: 0o644, io: SystemIO.shared)
        #expect(try await PowerLossTests.types(path) == ["E0", "E1", "E2"])
        #expect(!Directory.fileExists(SyncFailureRecord.path(path)))
    }

    @Test(arguments: ["write", "allocate", "short write", "segment roll"])
    func aFullDiskFailsOneWriteAndTheStoreWritesAgainWithoutARestart(_ where: String) async throws {
        let work = try StoreDirectory.work(named: "power-enospc")
        defer { StoreDirectory.remove(work) }
        let path = work + "/store"
        let layer = FaultInjectingIO(root: path)
        var options = Self.options(io: layer, segmentBytes: 8192)
        options.keyIndexInitialCapacity = 16
        let store = try await LogEventStore.open(directory: path, options: options)
        try await store.stream("s").write(Self.event(0))
        let rule: FaultRule
        switch `where` {
        case "write": rule = FaultRule(operation: .write, errorNumber: ENOSPC, isPersistent: true, pathContains: "segment")
        case "allocate": rule = FaultRule(operation: .allocate, errorNumber: ENOSPC, isPersistent: true)
        case "short write":
            rule = FaultRule(
                operation: .write, errorNumber: ENOSPC, isPersistent: true, isShortWrite: true, pathContains: "segment")
        default:
            // The batch does not fit the first segment: the roll seals it, and creating the next one fails.
            rule = FaultRule(operation: .any, errorNumber: ENOSPC, isPersistent: true, pathContains: "segment-0000000002")
        }
        layer.addFault(rule)
        // Enough to need new index space (keys, blocks, a segment roll) in every case.
        let batch = (0..<40).map { CandidateEvent(type: "Big", data: Self.noise(300, seed: UInt64($0)), idempotencyKey: "k\($0)") }
        do {
            _ = try await store.stream("t").write(batch)
            Issue.record("a write on a full disk succeeded")
        } catch EventStoreError.io(let message) {
            #expect(message.contains("disk is full"), "\(message)")
        }
        // Reads go on; nothing of the failed write is there.
        #expect(try await FaultHarness.allEvents(store).map(\.type).first == "E0")
        let storedBefore = try await FaultHarness.allEvents(store).count
        layer.clearFaults()
        // Space freed: the same store takes the write, no restart.
        _ = try await store.stream("t").write(batch)
        try await store.stream("s").write(Self.event(1))
        let all = try await FaultHarness.allEvents(store)
        #expect(all.count == storedBefore + 41)
        try await store.close()
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
        #expect(try await PowerLossTests.types(path).count == all.count)
    }

    @Test func everyRequestPlannedOnAFailedFrameFailsToo() async throws {
        // Two writers retry the same key in one group: the second is dropped as the first's pending
        // key. When the first's frame meets a full disk, the second must fail too, not succeed.
        let work = try StoreDirectory.work(named: "power-dependent")
        defer { StoreDirectory.remove(work) }
        let path = work + "/store"
        let layer = FaultInjectingIO(root: path)
        let store = try await LogEventStore.open(directory: path, options: Self.options(io: layer))
        layer.addFault(FaultRule(operation: .write, errorNumber: ENOSPC, isPersistent: true, pathContains: "segment"))
        let event = CandidateEvent(type: "Paid", data: Data([1]), idempotencyKey: "payment-1")
        store.holdWrites()
        let first = Task { try await store.stream("s").write(event) }
        while store.queuedWriteCount < 1 { try await Task.sleep(nanoseconds: 100_000) }
        let second = Task { try await store.stream("s").write(event) }
        while store.queuedWriteCount < 2 { try await Task.sleep(nanoseconds: 100_000) }
        store.releaseWrites()
        await #expect(throws: EventStoreError.self) { try await first.value }
        await #expect(throws: EventStoreError.self) { try await second.value }
        layer.clearFaults()
        #expect(try await store.stream("s").write(event) == 1)
        #expect(try await store.stream("s").write(event) == 1, "the key is stored once")
        try await store.close()
    }

    /// The types of every event, as a read-only open (a reader process) sees them.
    static func typesReadOnly(_ directory: String) async throws -> [String] {
        try await LogEventStore.withStore(directory: directory, options: LogEventStore.Options(readOnly: true)) {
            try await FaultHarness.allEvents($0).map(\.type)
        }
    }

    static func types(_ directory: String) async throws -> [String] {
        try await LogEventStore.withStore(directory: directory, options: Self.options()) {
            try await FaultHarness.allEvents($0).map(\.type)
        }
    }
}
