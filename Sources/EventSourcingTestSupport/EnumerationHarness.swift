import EventSourcingCore
import Foundation
import LogStore

/// Crash points enumerated, not sampled (RELIABILITY.md, faults 2 and 5): a small workload (store
/// creation, single events and batches, segment rolls, index checkpoints, snapshots, a clean close)
/// is run once to count its sync points (every `fsync`, `fdatasync`, `msync` and `rename`); then
/// once per sync point with the power cut just before it and once just after it, each image
/// recovered and checked. Then one image whose recovery has work to do (a torn tail to cut,
/// indexes to rebuild) is recovered with the power cut around each sync point of that recovery,
/// and recovering what that left must give what recovering the image directly gives.
///
/// A round is one workload; everything in it follows from the seed and the round number.
package struct EnumerationHarness: Sendable {
    package let seed: UInt64
    package let workDirectory: String
    /// Operations of a round's workload.
    package var operationCount = 14

    package init(seed: UInt64, workDirectory: String) {
        self.seed = seed
        self.workDirectory = workDirectory
    }

    package func runRound(_ round: Int) async -> FaultHarness.RoundResult {
        var random = SeededRandom(seed: seed, stream: UInt64(round) ^ 0xE7E7_0000_0000)
        let directory = workDirectory + "/enumerate-\(round)"
        return await FaultHarness.RoundResult.run(in: directory) { counters in
            try await run(&random, directory: directory, counters: &counters)
        }
    }

    private struct Setup: Sendable {
        var workload: Workload
        var options: LogEventStore.Options
        var operations: Int
        /// The operations of each step, run as one group write when they are several writers'.
        var steps: [[Int]]
    }

    private func run(_ random: inout SeededRandom, directory: String, counters: inout HarnessCounters) async throws
        -> String?
    {
        // Two or three writers in most rounds: their writes form group writes, whose every sync
        // point is a crash point (so power losses tear and reorder sectors inside them).
        let writers = random.pick([1, 2, 2, 3, 3])
        let profile = random.pick([
            Workload.Profile.mixed(writers: writers), .largeEvents(writers: writers),
            writers == 1 ? .oneStream : .mixed(writers: writers), .manyKeys(writers: writers),
        ])
        var storeOptions = LogEventStore.Options(
            durability: random.chance(0.6) ? .fsync : .buffered, segmentBytesMax: 4096,
            checkpointBytesInterval: random.pick([1024, 4096]))
        // A small key table grows within the round, so the renames of a growth and of the checkpoint
        // that settles it are among the sync points (4,096 slots: no growth).
        storeOptions.keyIndexInitialCapacity = random.pick([16, 64, 4096])
        var steps: [[Int]] = []
        var next = 0
        while next < operationCount {
            let size = writers > 1 && random.chance(0.7) ? min(random.int(2...writers), operationCount - next) : 1
            steps.append(Array(next..<next + size))
            next += size
        }
        let setup = Setup(
            workload: Workload(seed: random.next(), profile: profile), options: storeOptions, operations: operationCount,
            steps: steps)
        let context =
            "profile \(profile), \(setup.options.durability), segments of 4096 bytes, "
            + "checkpoint every \(setup.options.checkpointBytesInterval) bytes, key table of \(storeOptions.keyIndexInitialCapacity) slots, "
            + "\(setup.operations) operations"

        // The dry run counts the sync points.
        let dry = directory + "/dry"
        let dryLayer = FaultInjectingIO(root: dry)
        var groupSyncs: Set<Int> = []
        _ = try await execute(setup, store: dry, layer: dryLayer, counters: &counters, groupSyncs: &groupSyncs)
        counters.multiWriterGroups += setup.steps.filter { GroupedWrites(workload: setup.workload).isGroup($0) }.count
        let syncPoints = dryLayer.syncPointCount

        // Every sync point, with the power cut just before and just after it (the loss mode
        // rotating); then just before every sync of a segment (a group write in the page cache, not
        // yet synced), with modes that drop, tear or reorder its sectors: each of them, and the
        // reordering one several times over, for the syncs of group writes of several writers.
        let segmentSyncs = dryLayer.segmentSyncCount
        var crashPoints: [(point: CrashPlan.Point, mode: PowerLossMode?, name: String)] = []
        for point in 0..<syncPoints {
            crashPoints.append((.beforeSyncPoint(point), nil, "sync point \(point) (before)"))
            crashPoints.append((.afterSyncPoint(point), nil, "sync point \(point) (after)"))
        }
        let tearing: [PowerLossMode] = [
            .dropUnsynced, .keepPrefix, .keepPrefixTornSector, .keepRandomSubset, .keepRandomSubset,
        ]
        for sync in 0..<segmentSyncs {
            let modes =
                groupSyncs.contains(sync) ? tearing + [.keepRandomSubset, .keepRandomSubset, .keepPrefixTornSector] : [.keepRandomSubset]
            for mode in modes { crashPoints.append((.beforeSegmentSync(sync), mode, "segment sync \(sync) (before)")) }
        }
        for (index, (crashPoint, chosenMode, name)) in crashPoints.enumerated() {
            do {
                let store = directory + "/s\(index)"
                let image = store + "-image"
                let layer = FaultInjectingIO(root: store)
                let rotating = PowerLossMode.allCases[(index + Int(random.next() % 5)) % PowerLossMode.allCases.count]
                let mode = chosenMode ?? rotating
                layer.setCrashPlan(CrashPlan(point: crashPoint, mode: mode, imageDirectory: image, seed: random.next()))
                let (history, crashedInGroup, crashedInMultiStream) = try await execute(
                    setup, store: store, layer: layer, counters: &counters)
                guard let crash = layer.crashRecord else {
                    return "\(context): \(name) of \(syncPoints) was not reached again: the run is not deterministic"
                }
                counters.record(crash, inRecovery: false)
                if crashedInGroup, crash.unsyncedSegmentWrites > 0 { counters.multiWriterGroupCrashes += 1 }
                if crashedInMultiStream, crash.unsyncedSegmentWrites > 0 { counters.multiStreamCrashes += 1 }
                if !FaultInjectingIO.exists(image) {
                    try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
                }
                if let failure = try await recoverAndCheck(image, setup: setup, history: history, counters: &counters) {
                    return "\(context); \(crash) at \(name): \(failure)"
                }
                StoreDirectory.remove(store)
                StoreDirectory.remove(image)
            }
        }

        // One recovery with work to do, cut around each of its own sync points.
        let torn = directory + "/torn"
        let tornImage = torn + "-image"
        let tornLayer = FaultInjectingIO(root: torn)
        tornLayer.setCrashPlan(
            CrashPlan(
                point: .beforeSyncPoint(syncPoints * 2 / 3), mode: .keepPrefixTornSector, imageDirectory: tornImage,
                seed: random.next()))
        let (history, _, _) = try await execute(setup, store: torn, layer: tornLayer, counters: &counters)
        if let crash = tornLayer.crashRecord { counters.record(crash, inRecovery: false) }
        if !FaultInjectingIO.exists(tornImage) {
            try FileManager.default.createDirectory(atPath: tornImage, withIntermediateDirectories: true)
        }
        let reference = directory + "/reference"
        try StoreDirectory.copy(tornImage, to: reference)
        let expected = try await LogEventStore.withStore(directory: reference, options: setup.options) {
            EventDigest.of(events: try await FaultHarness.allEvents($0))
        }
        let recoveryLayer = FaultInjectingIO(root: reference + "-again")
        try StoreDirectory.copy(tornImage, to: reference + "-again")
        var options = setup.options
        options.io = recoveryLayer
        try? await LogEventStore.open(directory: reference + "-again", options: options).close()
        let recoveryPoints = recoveryLayer.syncPointCount
        StoreDirectory.remove(reference + "-again")
        for point in 0..<recoveryPoints {
            for after in [false, true] {
                let copy = directory + "/r\(point)\(after ? "a" : "b")"
                let image = copy + "-image"
                try StoreDirectory.copy(tornImage, to: copy)
                let layer = FaultInjectingIO(root: copy)
                layer.setCrashPlan(
                    CrashPlan(
                        point: after ? .afterSyncPoint(point) : .beforeSyncPoint(point),
                        mode: random.pick(PowerLossMode.allCases),
                        imageDirectory: image, seed: random.next()))
                var crashing = setup.options
                crashing.io = layer
                let opened = try? await LogEventStore.open(directory: copy, options: crashing)
                if !layer.hasCrashed { layer.simulatePowerLoss(into: image, mode: .dropUnsynced, seed: random.next()) }
                try? await opened?.close()
                if let crash = layer.crashRecord { counters.record(crash, inRecovery: true) }
                if let failure = try await recoverAndCheck(image, setup: setup, history: history, counters: &counters) {
                    return
                        "\(context); recovery cut at its sync point \(point) (\(after ? "after" : "before")): \(failure)"
                }
                let digest = try await LogEventStore.withStore(directory: image, options: setup.options) {
                    EventDigest.of(events: try await FaultHarness.allEvents($0))
                }
                if digest != expected {
                    return
                        "\(context); recovery cut at its sync point \(point): recovering again gave a different log than recovering once"
                }
                StoreDirectory.remove(copy)
                StoreDirectory.remove(image)
            }
        }
        return nil
    }

    /// Creates the store under `layer`, runs the workload and closes it; a crash plan on the layer
    /// cuts it short. - Returns: what the writers saw acknowledged before the power went, and
    /// whether it went during a group write of several writers, or during a step holding a write
    /// to several streams.
    private func execute(_ setup: Setup, store path: String, layer: FaultInjectingIO, counters: inout HarnessCounters)
        async throws -> (History, crashedInGroup: Bool, crashedInMultiStream: Bool)
    {
        var ignored: Set<Int> = []
        return try await execute(setup, store: path, layer: layer, counters: &counters, groupSyncs: &ignored)
    }

    /// `execute`, noting which segment syncs (by number) belonged to group writes of several writers.
    private func execute(
        _ setup: Setup, store path: String, layer: FaultInjectingIO, counters: inout HarnessCounters,
        groupSyncs: inout Set<Int>
    ) async throws -> (History, crashedInGroup: Bool, crashedInMultiStream: Bool) {
        var options = setup.options
        options.io = layer
        var history = History()
        guard let store = try? await LogEventStore.open(directory: path, options: options) else {
            return (history, false, false)
        }
        var runner = GroupedWrites(workload: setup.workload)
        var crashedInGroup = false
        var crashedInMultiStream = false
        for step in setup.steps {
            let crashedBefore = layer.hasCrashed
            let syncsBefore = layer.segmentSyncCount
            let results = await runner.run(step, on: store)
            await FaultHarness.drainWriter(store)
            if runner.isGroup(step) { groupSyncs.formUnion(syncsBefore..<layer.segmentSyncCount) }
            counters.operations += step.count
            let crashed = layer.hasCrashed
            if crashed, !crashedBefore, runner.isGroup(step) { crashedInGroup = true }
            if crashed, !crashedBefore, step.contains(where: { setup.workload.operation($0).isMultiStream }) {
                crashedInMultiStream = true
            }
            for event in runner.orderedEvents(results) {
                // Past the power loss the process is dead: it acknowledges nothing.
                if event.acknowledgedWrite != nil, crashed { continue }
                if case .snapshotAcknowledged = event, crashed { continue }
                if event.acknowledgedWrite != nil { counters.acknowledgedWrites += 1 }
                history.apply(event, isDurable: options.durability == .fsync)
                counters.countMultiStream(event, in: history)
            }
        }
        do {
            try await store.close()
            if !layer.hasCrashed { history.markAcknowledgedDurable() }
        } catch {
            _ = error
        }
        return (history, crashedInGroup, crashedInMultiStream)
    }

    /// Recovers an image, checks it against `history`, closes it and verifies it.
    private func recoverAndCheck(_ image: String, setup: Setup, history: History, counters: inout HarnessCounters)
        async throws -> String?
    {
        let store: LogEventStore
        do {
            store = try await LogEventStore.open(directory: image, options: setup.options)
        } catch {
            return "recovery failed: \(error)"
        }
        counters.recoveries += 1
        var checker = InvariantChecker(workload: setup.workload)
        checker.options.isSequential = setup.workload.profile.writerCount == 1
        checker.options.mayLoseUndurableAcknowledgements = setup.options.durability == .buffered
        checker.options.keyRetries = 2
        let report = await checker.check(store, history: history)
        try await store.close()
        if !report.violations.isEmpty { return "after recovery: " + report.violations.joined(separator: "\n  ") }
        let problems = try await LogVerifier.verify(directory: image)
        if !problems.isEmpty { return "verify after a clean close reports: " + problems.joined(separator: "; ") }
        return nil
    }
}
