import EventSourcing
import EventSourcingTestSupport
import Foundation
import LogStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The fault layer models what a power loss leaves: what was synced, and only that, for sure.
@Suite("Fault-injecting file layer") struct FaultInjectingIOTests {
    let work: String

    init() throws { work = try StoreDirectory.work(named: "reliability-layer") }

    func removeWork() { StoreDirectory.remove(work) }

    /// A store directory with a layer over it.
    func makeLayer(_ name: String) throws -> (String, FaultInjectingIO) {
        let root = work + "/" + name
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return (root, FaultInjectingIO(root: root))
    }

    func write(_ io: FaultInjectingIO, _ descriptor: Int32, _ text: String, at offset: Int) -> Int {
        Array(text.utf8).withUnsafeBytes { io.pwrite(descriptor, $0.baseAddress!, $0.count, offset) }
    }

    func syncDirectory(_ io: FaultInjectingIO, _ root: String) {
        let directory = io.open(root, flags: O_RDONLY | O_DIRECTORY, mode: 0)
        #expect(io.fsync(directory) == 0)
        io.close(directory)
    }

    func text(_ path: String) -> String? { StoreDirectory.read(path).map { String(decoding: $0, as: UTF8.self) } }

    @Test func unsyncedWritesAreLostAndSyncedOnesKept() throws {
        defer { removeWork() }
        for (mode, expected) in [(PowerLossMode.dropUnsynced, "abc"), (.keepAll, "abcdef")] {
            let (root, io) = try makeLayer("writes-\(mode)")
            let file = io.open(root + "/data", flags: O_RDWR | O_CREAT, mode: 0o644)
            #expect(write(io, file, "abc", at: 0) == 3)
            #expect(io.fdatasync(file) == 0)
            syncDirectory(io, root)
            #expect(write(io, file, "def", at: 3) == 3)
            io.simulatePowerLoss(into: root + "-image", mode: mode, seed: 1)
            #expect(text(root + "-image/data") == expected)
            // The process is dead: nothing more changes.
            #expect(write(io, file, "g", at: 6) == -1)
            #expect(errno == EIO)
            io.close(file)
        }
    }

    @Test func aFileWhoseDirectoryWasNotSyncedMayVanish() throws {
        defer { removeWork() }
        let (root, io) = try makeLayer("create")
        let file = io.open(root + "/new", flags: O_RDWR | O_CREAT, mode: 0o644)
        #expect(write(io, file, "synced", at: 0) == 6)
        #expect(io.fdatasync(file) == 0)
        io.close(file)
        #expect(io.rename(root + "/new", root + "/renamed") == 0)
        io.simulatePowerLoss(into: root + "-dropped", mode: .dropUnsynced, seed: 1)
        #expect(StoreDirectory.files(in: root + "-dropped").isEmpty)

        let (root2, io2) = try makeLayer("create-kept")
        let file2 = io2.open(root2 + "/new", flags: O_RDWR | O_CREAT, mode: 0o644)
        #expect(write(io2, file2, "synced", at: 0) == 6)
        #expect(io2.fdatasync(file2) == 0)
        syncDirectory(io2, root2)
        #expect(io2.rename(root2 + "/new", root2 + "/renamed") == 0)
        io2.simulatePowerLoss(into: root2 + "-image", mode: .dropUnsynced, seed: 1)
        // The rename was not synced: the old name, with the synced bytes.
        #expect(StoreDirectory.files(in: root2 + "-image") == ["new"])
        #expect(text(root2 + "-image/new") == "synced")
        io2.close(file2)
    }

    /// A subdirectory (the log store's `subscriptions/`) is a name of its parent, and its files are
    /// names of its own: each survives a power loss only once the directory holding it was synced.
    @Test func aSubdirectoryAndItsFilesSurviveOnlyOnceTheirDirectoriesWereSynced() throws {
        defer { removeWork() }
        for (syncsParent, syncsSubdirectory) in [(false, true), (true, false), (true, true)] {
            let (root, io) = try makeLayer("subdirectory-\(syncsParent)-\(syncsSubdirectory)")
            #expect(io.mkdir(root + "/subscriptions", 0o755) == 0)
            if syncsParent { syncDirectory(io, root) }
            let file = io.open(root + "/subscriptions/a.sub", flags: O_RDWR | O_CREAT, mode: 0o644)
            #expect(write(io, file, "synced", at: 0) == 6)
            #expect(io.fdatasync(file) == 0)
            if syncsSubdirectory { syncDirectory(io, root + "/subscriptions") }
            #expect(write(io, file, "unsync", at: 0) == 6)
            let image = root + "-image"
            io.simulatePowerLoss(into: image, mode: .dropUnsynced, seed: 1)
            io.close(file)
            let directoryKept = FileManager.default.fileExists(atPath: image + "/subscriptions")
            #expect(directoryKept == syncsParent)
            #expect(text(image + "/subscriptions/a.sub") == (syncsParent && syncsSubdirectory ? "synced" : nil))
        }
        // Files already there when the layer starts count as durable, in subdirectories too; a
        // copy of a store keeps them.
        let (root, _) = try makeLayer("existing")
        try FileManager.default.createDirectory(atPath: root + "/subscriptions", withIntermediateDirectories: true)
        StoreDirectory.write(root + "/subscriptions/b.sub", Array("old".utf8))
        let io = FaultInjectingIO(root: root)
        let file = io.open(root + "/subscriptions/b.sub", flags: O_RDWR, mode: 0)
        #expect(write(io, file, "new", at: 0) == 3)
        io.simulatePowerLoss(into: root + "-image", mode: .dropUnsynced, seed: 1)
        io.close(file)
        #expect(text(root + "-image/subscriptions/b.sub") == "old")
        try StoreDirectory.copy(root + "-image", to: root + "-copy")
        #expect(text(root + "-copy/subscriptions/b.sub") == "old")
    }

    @Test func storesThroughAMappingCountOnlyOnceSynced() throws {
        defer { removeWork() }
        for isSynced in [false, true] {
            let (root, io) = try makeLayer("mapped-\(isSynced)")
            let file = io.open(root + "/index", flags: O_RDWR | O_CREAT, mode: 0o644)
            #expect(io.fallocate(file, 8192) == 0)
            #expect(io.fdatasync(file) == 0)
            syncDirectory(io, root)
            let base = try #require(mmap(nil, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0))
            defer { munmap(base, 8192) }
            base.storeBytes(of: 0xAB, toByteOffset: 5000, as: UInt8.self)
            if isSynced {
                #expect(io.msync(file, base, 8192) == 0)
                #expect(io.fdatasync(file) == 0)
            }
            io.simulatePowerLoss(into: root + "-image", mode: .dropUnsynced, seed: 1)
            let bytes = try #require(StoreDirectory.read(root + "-image/index"))
            #expect(bytes.count == 8192)
            #expect(bytes[5000] == (isSynced ? 0xAB : 0))
            io.close(file)
        }
    }

    @Test func aTornSectorKeepsAPrefixThenGarbage() throws {
        defer { removeWork() }
        var torn = 0
        for seed in UInt64(1)...20 {
            let (root, io) = try makeLayer("torn-\(seed)")
            let file = io.open(root + "/log", flags: O_RDWR | O_CREAT, mode: 0o644)
            #expect(io.fdatasync(file) == 0)
            syncDirectory(io, root)
            let payload = String(repeating: "x", count: 2048)
            #expect(write(io, file, payload, at: 0) == 2048)
            let record = io.simulatePowerLoss(into: root + "-image", mode: .keepPrefixTornSector, seed: seed)
            let bytes = try #require(StoreDirectory.read(root + "-image/log"))
            // Whole sectors of the write, in order, then at most one sector of new bytes and garbage.
            let intact = bytes.prefix { $0 == UInt8(ascii: "x") }.count
            #expect(bytes.count <= 2048 && bytes.count % 512 == 0)
            #expect(intact >= bytes.count - 512)
            torn += record.tornSectors
            io.close(file)
        }
        #expect(torn > 0)
    }

    @Test func injectedErrorsFireAsRuled() throws {
        defer { removeWork() }
        let (root, io) = try makeLayer("errors")
        let file = io.open(root + "/f", flags: O_RDWR | O_CREAT, mode: 0o644)
        io.addFault(FaultRule(operation: .write, errorNumber: ENOSPC, skip: 1))
        #expect(write(io, file, "a", at: 0) == 1)
        #expect(write(io, file, "b", at: 1) == -1)
        #expect(errno == ENOSPC)
        #expect(write(io, file, "b", at: 1) == 1, "a transient fault fires once")
        io.addFault(FaultRule(operation: .write, errorNumber: EIO, isShortWrite: true))
        #expect(write(io, file, "cdef", at: 2) == 2, "a short write writes part")
        #expect(write(io, file, "ef", at: 4) == -1)
        #expect(errno == EIO)
        io.addFault(FaultRule(operation: .sync, errorNumber: EIO, isPersistent: true))
        #expect(io.fdatasync(file) == -1)
        #expect(io.fsync(file) == -1)
        io.addFault(FaultRule(operation: .allocate, errorNumber: ENOSPC))
        #expect(io.fallocate(file, 1 << 20) == ENOSPC)
        io.clearFaults()
        #expect(io.fdatasync(file) == 0)
        io.addFault(FaultRule(operation: .any, errorNumber: EIO, skip: 2, isPersistent: true))
        #expect(write(io, file, "g", at: 6) == 1)
        #expect(io.fdatasync(file) == 0)
        #expect(write(io, file, "h", at: 7) == -1)
        #expect(io.rename(root + "/f", root + "/g") == -1)
        #expect(io.faultCounts.values.reduce(0, +) == 7)
        io.close(file)
    }

    // A failed sync that dropped a file's unsynced writes is recorded as such: a later sync that
    // succeeds does not make them durable, and the compaction harness counts a `.buffered` write
    // as durable only when the first sync of its segment after it succeeded (compaction-fault seed
    // 20261216 round 55 took lost writes for durable before this).
    @Test func aSyncAfterOneThatDroppedPagesDoesNotBringThemBack() throws {
        defer { removeWork() }
        let (root, io) = try makeLayer("dropped")
        let file = io.open(root + "/segment-0000000001.log", flags: O_RDWR | O_CREAT, mode: 0o644)
        syncDirectory(io, root)
        #expect(write(io, file, "abc", at: 0) == 3)
        io.addFault(FaultRule(operation: .sync, errorNumber: EIO))
        #expect(io.fdatasync(file) == -1)
        #expect(io.fdatasync(file) == 0)
        #expect(io.syncOutcomes(ofFileNamed: "segment-0000000001.log") == [false, true])
        #expect(io.synchronizedCount(ofFileNamed: "segment-0000000001.log") == 1)
        io.simulatePowerLoss(into: root + "-image", mode: .keepAll, seed: 1)
        #expect(text(root + "-image/segment-0000000001.log") == "")
        io.close(file)
    }

    @Test func aCrashPlanStrikesAtItsSyncPoint() throws {
        defer { removeWork() }
        let (root, io) = try makeLayer("plan")
        io.setCrashPlan(
            CrashPlan(point: .afterSyncPoint(1), mode: .dropUnsynced, imageDirectory: root + "-image", seed: 1))
        let file = io.open(root + "/f", flags: O_RDWR | O_CREAT, mode: 0o644)
        syncDirectory(io, root)
        #expect(write(io, file, "first", at: 0) == 5)
        #expect(io.fdatasync(file) == 0, "the sync the power goes after completes")
        #expect(io.hasCrashed)
        #expect(write(io, file, "second", at: 5) == -1)
        #expect(text(root + "-image/f") == "first")
        #expect(io.crashRecord?.operation == "fdatasync")
        io.close(file)
    }
}

/// The harness catches what a broken engine or disk would do: lost, duplicated or foreign events.
@Suite("Invariant checker") struct InvariantCheckerTests {
    @Test func aDiskThatLiesAboutSyncsLosesAcknowledgedWritesAndTheCheckerSaysSo() async throws {
        let work = try StoreDirectory.work(named: "reliability-checker")
        defer { StoreDirectory.remove(work) }
        let layer = FaultInjectingIO(root: work + "/store")
        layer.setLyingAboutSyncs(true)
        var options = LogEventStore.Options(segmentBytesMax: 4096)
        options.io = layer
        let workload = Workload(seed: 7, profile: .mixed())
        var runner = WorkloadRunner(workload: workload)
        var history = History()
        let store = try await LogEventStore.open(directory: work + "/store", options: options)
        for operation in 0..<20 {
            var events: [HistoryEvent] = []
            _ = await runner.run(operation, on: store) { events.append($0) }
            for event in events { history.apply(event) }
        }
        layer.simulatePowerLoss(into: work + "/image", mode: .dropUnsynced, seed: 3)
        try? await store.close()
        let recovered = try await LogEventStore.open(directory: work + "/image")
        let report = await InvariantChecker(workload: workload).check(recovered, history: history)
        try await recovered.close()
        #expect(report.violations.contains { $0.contains("is missing") }, "\(report.violations)")
    }

    @Test func duplicatedAndForeignEventsAreFound() async throws {
        let work = try StoreDirectory.work(named: "reliability-checker")
        defer { StoreDirectory.remove(work) }
        let workload = Workload(seed: 9, profile: .oneStream)
        var runner = WorkloadRunner(workload: workload)
        var history = History()
        let store = try await LogEventStore.open(directory: work + "/store")
        var written: Workload.Operation?
        for operation in 0..<10 {
            var events: [HistoryEvent] = []
            _ = await runner.run(operation, on: store) { events.append($0) }
            for event in events { history.apply(event) }
            if case .acknowledged = events.last, written == nil { written = workload.operation(operation) }
        }
        let clean = await InvariantChecker(workload: workload).check(store, history: history)
        #expect(clean.violations.isEmpty, "\(clean.violations)")
        // The same write again, keys removed: a duplicate.
        let duplicate = try #require(written)
        try await store.stream(duplicate.streamID).write(
            duplicate.events.map {
                CandidateEvent(type: $0.type, data: $0.data, metadata: $0.metadata)
            })
        let twice = await InvariantChecker(workload: workload).check(store, history: history)
        #expect(
            twice.violations.contains { $0.contains("stored twice") || $0.contains("differs") }, "\(twice.violations)")
        try await store.stream("s0").write(CandidateEvent(type: "Foreign", data: Data("not a harness event".utf8)))
        let foreign = await InvariantChecker(workload: workload).check(store, history: history)
        #expect(!foreign.violations.isEmpty)
        try await store.close()
    }

    /// Runs operations `0..<count` of `workload` on `store`, returning the history and each operation's reports.
    static func run(_ workload: Workload, _ count: Int, on store: any EventStore) async
        -> (History, [[HistoryEvent]])
    {
        var runner = WorkloadRunner(workload: workload)
        var history = History()
        var reports: [[HistoryEvent]] = []
        for operation in 0..<count {
            var events: [HistoryEvent] = []
            _ = await runner.run(operation, on: store) { events.append($0) }
            for event in events { history.apply(event) }
            reports.append(events)
        }
        return (history, reports)
    }

    @Test func aWriteToSeveralStreamsFoundTornIsReported() async throws {
        let workload = Workload(seed: 11, profile: .mixed())
        let count = 60
        let whole = InMemoryEventStore()
        let (history, reports) = await Self.run(workload, count, on: whole)
        let clean = await InvariantChecker(workload: workload).check(whole, history: history)
        #expect(clean.violations.isEmpty, "\(clean.violations)")
        // An acknowledged write to several streams that stored events in two of them at least.
        let all = try await FaultHarness.allEvents(whole)
        func events(of operation: Int) -> [StoredEvent] {
            all.filter { Workload.origin(of: $0.data)?.operation == operation }
        }
        let torn = try #require(
            (0..<count).first { operation in
                workload.operation(operation).isMultiStream && history.writes[operation]?.acknowledgedVersions != nil
                    && Set(events(of: operation).map(\.streamID)).count >= 2
            })
        #expect(clean.runs.contains { $0.operation == torn && $0.count == events(of: torn).count })
        // The operations before it, then only its first stream's events, or only the others'.
        for keepsFirstStream in [true, false] {
            let store = InMemoryEventStore()
            var (partial, _) = await Self.run(workload, torn, on: store)
            let stored = events(of: torn)
            for event in stored where (event.streamID == stored[0].streamID) == keepsFirstStream {
                let key = event.id == String(event.sequenceID) ? nil : event.id
                try await store.stream(event.streamID).write(
                    CandidateEvent(type: event.type, data: event.data, metadata: event.metadata, idempotencyKey: key))
            }
            for event in reports[torn] { partial.apply(event) }
            let report = await InvariantChecker(workload: workload).check(store, history: partial)
            #expect(
                report.violations.contains {
                    $0.contains("operation \(torn)") && $0.contains("torn write to several streams")
                },
                "\(report.violations)")
        }
        // Or none of its events, though it was acknowledged.
        let store = InMemoryEventStore()
        var (partial, _) = await Self.run(workload, torn, on: store)
        for event in reports[torn] { partial.apply(event) }
        let missing = await InvariantChecker(workload: workload).check(store, history: partial)
        #expect(
            missing.violations.contains { $0.contains("acknowledged operation \(torn)") && $0.contains("is missing") },
            "\(missing.violations)")
    }

    @Test func aRefusedWriteToSeveralStreamsFoundStoredIsReported() async throws {
        let workload = Workload(seed: 11, profile: .mixed())
        let count = 300
        let (history, reports) = await Self.run(workload, count, on: InMemoryEventStore())
        // A write to several streams refused for a wrong expected version: it stored nothing.
        let refused = try #require(
            (0..<count).first { history.writes[$0]?.isMultiStream == true && history.writes[$0]?.isRejected == true })
        #expect(workload.operation(refused).parts.contains { $0.expectation == .wrong })
        let store = InMemoryEventStore()
        var (partial, _) = await Self.run(workload, refused, on: store)
        let operation = workload.operation(refused)
        try await store.write(operation.parts.map { StreamWrite($0.streamID, Array(operation.events[$0.range])) })
        for event in reports[refused] { partial.apply(event) }
        let report = await InvariantChecker(workload: workload).check(store, history: partial)
        #expect(
            report.violations.contains { $0.contains("operation \(refused) was refused") }, "\(report.violations)")
    }

    @Test func reportsOfWritesToSeveralStreamsRoundTripAsLines() {
        let events: [HistoryEvent] = [
            .unitAttempt(operation: 7, expected: [.any, .exact(3), .noStream]),
            .unitAcknowledged(operation: 7, versions: [4, 1, 2]), .rejected(operation: 8),
        ]
        for event in events { #expect(HistoryEvent(line: event.line) == event, "\(event.line)") }
        #expect(HistoryEvent(line: "U 7 any,,3") == nil)
    }
}
