import EventSourcingCore
import Foundation
import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// The compaction harness (issue 15; RELIABILITY.md, "Deleting, truncating, retention and
/// compaction"): a log store of small segments (8-32 KiB) is populated with several streams
/// (random payloads, some idempotency keys and metadata) and closed; then, under
/// `FaultInjectingIO`, it runs 4-12 steps (`CompactionRound`): writes to live, deleted and
/// tombstoned streams, snapshots, `delete`, `tombstone`, `truncate(before:)`, `setRetention` by count and
/// `setRetention(nil)`, and one to three `compact()` calls, each rewriting several segments, then
/// closes. Two modes:
/// - `enumerate`: the steps run once without a crash (the reference, checked too), counting their
///   sync points (every `fsync`, `fdatasync`, `msync` and `rename`, the close's included); then once
///   per sync point with the power cut just before it and once just after it, the loss mode
///   rotating among dropped, a random subset kept, and a prefix kept with a torn sector; the first
///   two images of a round that hold an unfinished compaction are also recovered with the power
///   cut around each of the first sync points of that recovery (those of finishing the compaction
///   from its journal, which comes first);
/// - `fault`: injected I/O errors (EIO, ENOSPC on write, sync, allocate, rename, short writes, fail
///   after N operations; on any file or on the segments, the lifecycle file, the compaction journal,
///   temporary files, indexes or the checkpoint; some cleared again two steps later), then a power
///   loss at a random moment (a sync point, any operation, or after the steps).
///
/// Every image is recovered and checked by `CompactionChecker`: the recovered store must equal an
/// in-memory model of the steps that took effect (nothing visible lost, nothing hidden shown again,
/// no sequence id renumbered, indexes that match the log, idempotency keys), verify clean, and read
/// the same after a second `compact()` and a reopen.
///
/// Every choice comes from the seed and the round number, so a round replays exactly.
///
/// Thread-safety: a value type; rounds run one at a time.
package struct CompactionHarness: Sendable {
    package enum Mode: String, Sendable {
        case enumerate
        case fault
    }

    package let seed: UInt64
    package let workDirectory: String
    package let mode: Mode
    /// The most steps of a round (at least 4).
    package var stepsMax = 12
    /// The most crash points of an enumerate round: beyond, they are taken at an even stride (a
    /// round then stays within seconds).
    package var crashPointsMax = 320
    /// How many images of an enumerate round holding an unfinished compaction are also recovered
    /// with the power cut at each sync point of that recovery.
    package var redoImagesMax = 2
    /// The first sync points of such a recovery that are crash points.
    package var redoSyncPointsMax = 10
    /// A fault round stops issuing steps once this many have failed, so that the checker's
    /// combinations of uncertain outcomes stay few.
    static let failedStepsMax = 6

    package init(seed: UInt64, workDirectory: String, mode: Mode) {
        self.seed = seed
        self.workDirectory = workDirectory
        self.mode = mode
    }

    /// Runs round `round`. On failure the round's directory is kept and named in the failure.
    package func runRound(_ round: Int) async -> FaultHarness.RoundResult {
        var random = SeededRandom(
            seed: seed, stream: UInt64(round) ^ (mode == .enumerate ? 0xC0E0_0000_0000 : 0xC0F0_0000_0000))
        let directory = workDirectory + "/compaction-\(mode.rawValue)-\(round)"
        return await FaultHarness.RoundResult.run(in: directory) { counters in
            let plan = CompactionRound(&random, stepsMax: stepsMax)
            let base = directory + "/base"
            try await LogEventStore.withStore(directory: base, options: plan.options) { try await plan.populate($0) }
            let failure =
                switch mode {
                case .enumerate:
                    try await enumerate(plan, base: base, directory: directory, random: &random, counters: &counters)
                case .fault:
                    try await fault(plan, base: base, directory: directory, random: &random, counters: &counters)
                }
            return failure.map { "\($0)\n  round: \(plan.description)" }
        }
    }

    // MARK: Modes

    private func enumerate(
        _ plan: CompactionRound, base: String, directory: String, random: inout SeededRandom,
        counters: inout HarnessCounters
    ) async throws -> String? {
        // The reference: no crash. It counts the sync points, and its store must equal the model
        // of every step.
        let reference = directory + "/reference"
        try StoreDirectory.copy(base, to: reference)
        let referenceLayer = FaultInjectingIO(root: reference)
        let run = try await execute(plan, at: reference, layer: referenceLayer, faults: nil, counters: &counters)
        if let problem = run.problem { return "reference run: \(problem)" }
        let check = await CompactionChecker(round: plan).check(image: reference, records: run.records)
        counters.recoveries += 1
        if check.floor > 1 { counters.floorChecks += 1 }
        if check.removedSegments { counters.removalChecks += 1 }
        if let violation = check.violation { return "reference run (no crash): \(violation)" }
        StoreDirectory.remove(reference)

        var points: [(point: CrashPlan.Point, name: String)] = []
        for point in run.firstSyncPoint..<referenceLayer.syncPointCount {
            points.append((.beforeSyncPoint(point), "sync point \(point) (before)"))
            points.append((.afterSyncPoint(point), "sync point \(point) (after)"))
        }
        if points.count > crashPointsMax {
            let stride = Double(points.count) / Double(crashPointsMax)
            let offset = Double(random.int(0..<1000)) / 1000 * stride
            points = (0..<crashPointsMax).map { points[min(points.count - 1, Int(offset + Double($0) * stride))] }
        }
        let modes: [PowerLossMode] = [.dropUnsynced, .keepRandomSubset, .keepPrefixTornSector]
        let rotation = random.int(0..<modes.count)
        var redone = 0
        for (index, (point, name)) in points.enumerated() {
            let path = directory + "/run-\(index)"
            let image = path + "-image"
            try StoreDirectory.copy(base, to: path)
            let layer = FaultInjectingIO(root: path)
            let mode = modes[(index + rotation) % modes.count]
            layer.setCrashPlan(CrashPlan(point: point, mode: mode, imageDirectory: image, seed: random.next()))
            var ignored = HarnessCounters()
            let run = try await execute(plan, at: path, layer: layer, faults: nil, counters: &ignored)
            counters.operations += ignored.operations
            guard let crash = layer.crashRecord else {
                return "\(name) of \(referenceLayer.syncPointCount) was not reached again: the run is not deterministic"
            }
            if let problem = run.problem { return "\(crash) at \(name): \(problem)" }
            counters.record(crash, inRecovery: false)
            let context = "\(crash) at \(name), " + Self.describe(run.crashedStep, in: plan)
            count(run.crashedStep, in: plan, counters: &counters)
            if !FaultInjectingIO.exists(image) {
                try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
            }
            // The first images of a round that hold an unfinished compaction are also recovered
            // with the power cut inside that recovery, around each of its sync points (the redo).
            if redone < redoImagesMax, FaultInjectingIO.exists(image + "/compaction") {
                redone += 1
                if let failure = try await crashRecovery(
                    of: image, plan, records: run.records, directory: directory, random: &random, counters: &counters)
                {
                    return "\(context): \(failure)"
                }
            }
            let check = await CompactionChecker(round: plan).check(image: image, records: run.records)
            counters.recoveries += 1
            if check.floor > 1 { counters.floorChecks += 1 }
            if check.removedSegments { counters.removalChecks += 1 }
            counters.uncertainSteps += check.uncertainSteps
            if let violation = check.violation { return "\(context): \(violation)" }
            StoreDirectory.remove(path)
            StoreDirectory.remove(image)
        }
        return nil
    }

    /// Recovers copies of `image` (which holds an unfinished compaction's journal) with the power
    /// cut just before and just after each sync point of the recovery, and checks what each leaves
    /// as `image` itself is checked.
    private func crashRecovery(
        of image: String, _ plan: CompactionRound, records: [CompactionChecker.Record], directory: String,
        random: inout SeededRandom, counters: inout HarnessCounters
    ) async throws -> String? {
        let probe = directory + "/recovery-probe"
        try StoreDirectory.copy(image, to: probe)
        let probeLayer = FaultInjectingIO(root: probe)
        var options = plan.options
        options.io = probeLayer
        try? await LogEventStore.open(directory: probe, options: options).close()
        // The journal is redone first (before the segments are checked): its sync points are among
        // the first; those after belong to the recovery the enumeration harness covers.
        let syncPoints = min(probeLayer.syncPointCount, redoSyncPointsMax)
        StoreDirectory.remove(probe)
        let modes: [PowerLossMode] = [.dropUnsynced, .keepRandomSubset, .keepPrefixTornSector]
        for point in 0..<syncPoints {
            for isAfter in [false, true] {
                let copy = directory + "/recovery-\(point)\(isAfter ? "a" : "b")"
                let crashed = copy + "-image"
                try StoreDirectory.copy(image, to: copy)
                let layer = FaultInjectingIO(root: copy)
                layer.setCrashPlan(
                    CrashPlan(
                        point: isAfter ? .afterSyncPoint(point) : .beforeSyncPoint(point), mode: random.pick(modes),
                        imageDirectory: crashed, seed: random.next()))
                options.io = layer
                let opened = try? await LogEventStore.open(directory: copy, options: options)
                try? await opened?.close()
                guard let crash = layer.crashRecord else {
                    return
                        "recovery's sync point \(point) of \(syncPoints) was not reached again: it is not deterministic"
                }
                counters.record(crash, inRecovery: true)
                let check = await CompactionChecker(round: plan).check(image: crashed, records: records)
                counters.recoveries += 1
                if check.floor > 1 { counters.floorChecks += 1 }
                if check.removedSegments { counters.removalChecks += 1 }
                if let violation = check.violation {
                    return
                        "recovering it with a \(crash) at its sync point \(point) (\(isAfter ? "after" : "before")), then "
                        + "recovering that: \(violation)"
                }
                StoreDirectory.remove(copy)
                StoreDirectory.remove(crashed)
            }
        }
        return nil
    }

    private func fault(
        _ plan: CompactionRound, base: String, directory: String, random: inout SeededRandom,
        counters: inout HarnessCounters
    ) async throws -> String? {
        let image = directory + "/image"
        let layer = FaultInjectingIO(root: base)
        // How a failed sync is modelled: mostly as Linux does it (the pages are dropped).
        let keepsPages = random.chance(0.2)
        layer.setFailedSyncKeepsPages(keepsPages)
        let stepCount = plan.steps.count
        let faultAt = random.int(0..<stepCount)
        let rule = Self.randomRule(&random)
        let clearAt = random.chance(0.5) ? faultAt + random.int(1...2) : nil
        // The power goes a step or more after the fault (so that the fault has a chance to fire
        // first), or after the steps.
        let crashAt = faultAt + 1 < stepCount && random.chance(0.6) ? random.int(faultAt + 1..<stepCount) : nil
        let faults = FaultPlan(
            rule: rule, faultAt: faultAt, clearAt: clearAt, crashAt: crashAt,
            crashPoint: random.int(0..<5), crashOffset: random.int(0..<12),
            mode: random.weighted([
                (PowerLossMode.dropUnsynced, 3), (.keepRandomSubset, 2), (.keepPrefixTornSector, 2), (.keepPrefix, 1),
                (.keepAll, 1),
            ]),
            image: image, seed: random.next())
        let run = try await execute(plan, at: base, layer: layer, faults: faults, counters: &counters)
        counters.faults.merge(layer.faultCounts, uniquingKeysWith: +)
        if let problem = run.problem { return "\(faults): \(problem)" }
        guard let crash = layer.crashRecord else { return "\(faults): the power loss did not happen" }
        counters.record(crash, inRecovery: false)
        count(run.crashedStep, in: plan, counters: &counters)
        let context =
            "\(faults)" + (keepsPages ? ", a failed sync keeps its pages" : "") + "; \(crash), "
            + Self.describe(run.crashedStep, in: plan)
        if !FaultInjectingIO.exists(image) {
            try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        }
        let check = await CompactionChecker(round: plan).check(image: image, records: run.records)
        counters.recoveries += 1
        if check.floor > 1 { counters.floorChecks += 1 }
        if check.removedSegments { counters.removalChecks += 1 }
        counters.uncertainSteps += check.uncertainSteps
        if let violation = check.violation { return "\(context): \(violation)" }
        return nil
    }

    // MARK: Running the steps

    /// The faults of a fault round, and where its power loss is armed.
    struct FaultPlan: CustomStringConvertible {
        var rule: FaultRule
        /// The step before which the rule is added.
        var faultAt: Int
        /// The step before which the faults are cleared (the disk has room again), if any.
        var clearAt: Int?
        /// The step before which the power loss is armed; nil: the power goes after the steps.
        var crashAt: Int?
        /// Where, from the counts when it is armed: 0-1 before a sync point, 2-3 after one, 4 before
        /// an operation of any kind; and how many of them later.
        var crashPoint: Int
        var crashOffset: Int
        var mode: PowerLossMode
        var image: String
        var seed: UInt64

        var description: String {
            "\(rule) from step \(faultAt)" + (clearAt.map { ", cleared before step \($0)" } ?? "")
                + (crashAt.map { ", power loss armed before step \($0)" } ?? ", power loss after the steps")
        }

        func arm(_ layer: FaultInjectingIO) {
            let point: CrashPlan.Point
            switch crashPoint {
            case 0, 1: point = .beforeSyncPoint(layer.syncPointCount + crashOffset)
            case 2, 3: point = .afterSyncPoint(layer.syncPointCount + crashOffset)
            default: point = .beforeOperation(layer.operationCount + crashOffset * 3)
            }
            layer.setCrashPlan(CrashPlan(point: point, mode: mode, imageDirectory: image, seed: seed))
        }
    }

    /// What running a round's steps did.
    struct Execution {
        var records: [CompactionChecker.Record] = []
        /// The step in flight when the power went (`steps.count`: while closing); nil without a crash.
        var crashedStep: Int?
        /// A step that failed with no fault injected and no crash.
        var problem: String?
        /// The sync points the open made: the crash window starts after them.
        var firstSyncPoint = 0
    }

    /// Opens the store at `path` under `layer`, runs the steps of `plan` (with `faults`, if any),
    /// and closes it; a crash plan on the layer cuts it short. In a fault round the power goes
    /// after the steps if it has not before.
    private func execute(
        _ plan: CompactionRound, at path: String, layer: FaultInjectingIO, faults: FaultPlan?,
        counters: inout HarnessCounters
    ) async throws -> Execution {
        var execution = Execution()
        var options = plan.options
        options.io = layer
        let store: LogEventStore
        do {
            store = try await LogEventStore.open(directory: path, options: options)
        } catch {
            execution.problem = "opening the populated store failed: \(error)"
            return execution
        }
        execution.firstSyncPoint = layer.syncPointCount
        // For each unsynced write, its segment and how often that segment was synced when it returned.
        var syncsAtReturn: [Int: (segment: String, count: Int)] = [:]
        var failed = 0
        for (index, step) in plan.steps.enumerated() {
            guard !layer.hasCrashed, failed < Self.failedStepsMax else { break }
            if let faults {
                if faults.clearAt == index { layer.clearFaults() }
                if faults.faultAt == index { layer.addFault(faults.rule) }
                if faults.crashAt == index { faults.arm(layer) }
            }
            counters.operations += 1
            let status: LifecycleStep.Status
            do {
                let value = try await step.run(on: store)
                if layer.hasCrashed {
                    status = .uncertain
                } else if step.isWrite, plan.options.durability == .buffered, let version = value {
                    status = .unsynced(version)
                } else {
                    status = .done(value)
                    if step.isCompaction {
                        counters.compactions += 1
                        counters.eventsRemoved += Int(value ?? 0)
                    } else if step.isLifecycleChange {
                        counters.lifecycleChanges += 1
                    } else if step.isWrite {
                        counters.acknowledgedWrites += 1
                    }
                }
            } catch {
                if layer.hasCrashed {
                    status = .uncertain
                } else if LifecycleStep.isRefusal(error) {
                    status = .refused
                } else if faults.map({ $0.faultAt <= index }) == true {
                    status = .uncertain
                    failed += 1
                } else {
                    execution.problem = "step \(index) (\(step)) failed without a fault: \(error)"
                    try? await store.close()
                    return execution
                }
            }
            if case .unsynced = status {
                // The write is in the newest segment (a roll makes the new one before writing).
                let segment = FaultInjectingIO.names(in: path).filter { $0.hasPrefix("segment-") }.max() ?? ""
                syncsAtReturn[index] = (segment, layer.syncOutcomes(ofFileNamed: segment).count)
            }
            execution.records.append(CompactionChecker.Record(index: index, status: status))
            await FaultHarness.drainWriter(store)
            // What the store's retention dropped is hidden and compacted before the next step, so
            // that the sync points come in the same order at every run of the round.
            if plan.options.retention != nil { await store.settleRetention() }
            if layer.hasCrashed, execution.crashedStep == nil { execution.crashedStep = index }
        }
        let crashedInSteps = layer.hasCrashed
        if let faults, !layer.hasCrashed {
            layer.simulatePowerLoss(into: faults.image, mode: faults.mode, seed: faults.seed)
        }
        do {
            try await store.close()
        } catch {
            if !layer.hasCrashed && faults == nil { execution.problem = "closing the store failed: \(error)" }
        }
        if layer.hasCrashed, !crashedInSteps, faults == nil { execution.crashedStep = plan.steps.count }
        // A `.buffered` write is durable once a later sync of its segment (a roll, a lifecycle
        // change, a compaction, the close) succeeded before the power went; not when a compaction
        // only synced an older segment it rewrote, nor when a failed sync of its segment that
        // dropped its pages came first (a sync that succeeds after that, such as the one that
        // makes a taken-back write's cut durable, does not bring them back).
        for (position, record) in execution.records.enumerated() {
            if case .unsynced(let version) = record.status, let (segment, count) = syncsAtReturn[record.index],
                layer.syncOutcomes(ofFileNamed: segment).dropFirst(count).first == true
            {
                execution.records[position].status = .done(version)
            }
        }
        return execution
    }

    /// Counts a power loss by the kind of step it struck in.
    private func count(_ step: Int?, in plan: CompactionRound, counters: inout HarnessCounters) {
        guard let step, step < plan.steps.count else { return }
        if plan.steps[step].isCompaction {
            counters.compactionCrashes += 1
        } else if plan.steps[step].isLifecycleChange {
            counters.lifecycleChangeCrashes += 1
        }
    }

    private static func describe(_ step: Int?, in plan: CompactionRound) -> String {
        guard let step else { return "no step in flight" }
        return step < plan.steps.count ? "in step \(step) (\(plan.steps[step]))" : "while closing"
    }

    /// An I/O error to inject: the operation, the errno, transient or persistent, maybe a short
    /// write, maybe only on one kind of file: mostly those that lifecycle changes and compactions
    /// write (the lifecycle file and the compaction journal, through temporary files and renames,
    /// and the segments a compaction rewrites).
    static func randomRule(_ random: inout SeededRandom) -> FaultRule {
        let operation = random.weighted([
            (FaultRule.Operation.write, 3), (.sync, 4), (.rename, 2), (.allocate, 1), (.any, 2),
        ])
        let paths: [(String?, Int)] =
            switch operation {
            case .write: [(nil, 2), ("segment", 2), (".tmp", 2), (".idx", 1)]
            case .sync: [(nil, 2), ("segment", 2), (".tmp", 2), ("checkpoint", 1)]
            case .rename: [(nil, 1), ("lifecycle", 2), ("compaction", 2), ("checkpoint", 1)]
            case .allocate: [(nil, 1), ("segment", 1), (".idx", 1)]
            case .any: [(nil, 1)]
            }
        return FaultRule(
            operation: operation, errorNumber: random.chance(0.5) ? EIO : ENOSPC,
            skip: random.int(0...(operation == .any ? 30 : 3)), isPersistent: random.chance(0.4),
            isShortWrite: operation == .write && random.chance(0.35), pathContains: random.weighted(paths))
    }
}
