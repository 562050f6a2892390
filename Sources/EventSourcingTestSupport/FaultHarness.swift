import EventSourcingCore
import Foundation
import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// The in-process crash harness: a store under `FaultInjectingIO` runs a workload through a few
/// cycles, each ending in a power loss (at a sync point, a rename or any operation, including
/// inside recovery, segment rolls, index checkpoints and snapshot writes), in injected I/O errors
/// (EIO, ENOSPC, short writes, fail after N operations) or in a clean close. After each cycle the
/// store is recovered and checked (`InvariantChecker`), closed, verified (`eventlog verify`'s
/// checks), and the next cycle goes on from it. Some recoveries are first run on a copy that
/// crashes inside its own recovery: recovering that must give the same log.
///
/// Every choice comes from the seed and the round number, so a round replays exactly.
///
/// Thread-safety: a value type; rounds run one at a time.
package struct FaultHarness: Sendable {
    /// What a cycle ends in.
    enum Scenario: String {
        case powerLoss = "power loss"
        case ioError = "I/O errors"
        case cleanClose = "clean close"
    }

    package let seed: UInt64
    package let workDirectory: String
    /// The most operations a cycle issues.
    package var operationsPerCycleMax = 40
    /// The most cycles of a round.
    package var cyclesMax = 4

    package init(seed: UInt64, workDirectory: String) {
        self.seed = seed
        self.workDirectory = workDirectory
    }

    /// What a round did, and its failure (with the context to reproduce it) if any.
    package struct RoundResult: Sendable {
        package var counters = HarnessCounters()
        package var failure: String?

        package init() {}

        /// Runs one round of a harness in `directory`, made afresh: `body` counts into the round's
        /// counters and returns a failure (with its context) or `nil`. A failed round keeps its
        /// directory and names it in the failure; a passed one removes it.
        package static func run(
            in directory: String, _ body: (inout HarnessCounters) async throws -> String?
        ) async -> RoundResult {
            StoreDirectory.remove(directory)
            var result = RoundResult()
            result.counters.rounds = 1
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                if let failure = try await body(&result.counters) {
                    result.counters.failures += 1
                    result.failure = failure + "\n  directories kept in \(directory)"
                    return result
                }
            } catch {
                result.counters.failures += 1
                result.failure = "the harness itself failed: \(error)\n  directories kept in \(directory)"
                return result
            }
            StoreDirectory.remove(directory)
            return result
        }
    }

    /// Runs round `round`. On failure the round's directory is kept and named in the failure.
    package func runRound(_ round: Int) async -> RoundResult {
        var random = SeededRandom(seed: seed, stream: UInt64(round))
        let directory = workDirectory + "/fault-\(round)"
        return await RoundResult.run(in: directory) { counters in
            var log: [String] = []
            guard
                let failure = try await run(
                    &random, round: round, directory: directory, counters: &counters, log: &log)
            else {
                return nil
            }
            return failure + "\n  " + log.joined(separator: "\n  ")
        }
    }

    private func run(
        _ random: inout SeededRandom, round: Int, directory: String, counters: inout HarnessCounters,
        log: inout [String]
    ) async throws -> String? {
        // Several writers in most rounds, so that group writes hold several writers' batches.
        let writers = random.weighted([(1, 1), (2, 2), (3, 2), (4, 2)])
        let profile = random.weighted([
            (Workload.Profile.mixed(writers: writers), 5), (writers == 1 ? .oneStream : .mixed(writers: writers), 2),
            (.manyKeys(writers: writers), 2), (.largeEvents(writers: writers), 2), (.manyStreams(writers: writers), 1),
        ])
        var options = LogEventStore.Options(
            durability: random.chance(0.7) ? .fsync : .buffered,
            segmentBytesMax: random.pick([4096, 8192, 16384, 65536]),
            checkpointBytesInterval: random.pick([256, 4096, 32768, 1 << 20]))
        options.keyIndexInitialCapacity = random.pick([16, 256, 4096])
        let workload = Workload(seed: random.next(), profile: profile)
        let operationsMax = profile.name == "many streams" ? operationsPerCycleMax * 8 : operationsPerCycleMax
        log.append(
            "profile \(profile), \(options.durability), segments of \(options.segmentBytesMax) bytes, "
                + "checkpoint every \(options.checkpointBytesInterval) bytes, key table of \(options.keyIndexInitialCapacity) slots"
        )
        var history = History()
        var runner = GroupedWrites(workload: workload)
        var checker = InvariantChecker(workload: workload)
        checker.options.isSequential = workload.profile.writerCount == 1
        // How a failed sync is modelled: mostly as Linux does it (the pages are dropped).
        let syncFailureKeepsPages = random.chance(0.2)
        if syncFailureKeepsPages { log.append("a failed sync keeps its pages pending") }
        var nextOperation = 0
        var storePath = directory + "/c0"
        var layer = FaultInjectingIO(root: storePath)
        // In two rounds of three a subscription acknowledges positions between the steps. Its
        // choices come from a random stream of their own, so that the workload's stay as they were.
        var subscriptionRandom = SeededRandom(seed: seed, stream: UInt64(round) ^ 0x5B5C_0000_0000)
        let usesSubscription = subscriptionRandom.int(0..<3) > 0
        var acknowledgements = SubscriptionAcknowledgements()
        if usesSubscription { log.append("a subscription acknowledges positions between the steps") }

        for cycle in 0..<random.int(1...cyclesMax) {
            let scenario = random.weighted([(Scenario.powerLoss, 6), (.ioError, 3), (.cleanClose, 1)])
            let operationCount = random.int(1...operationsMax)
            let imagePath = directory + "/c\(cycle + 1)"
            let mode = random.weighted([
                (PowerLossMode.dropUnsynced, 3), (.keepAll, 1), (.keepPrefix, 2), (.keepPrefixTornSector, 2),
                (.keepRandomSubset, 2),
            ])
            var cycleLog = "cycle \(cycle): \(scenario.rawValue), \(operationCount) operations from \(nextOperation)"
            // -1: while the store opens (inside recovery, or its creation).
            let crashArmedAt = scenario == .powerLoss ? random.int(-1..<operationCount) : Int.min
            func armCrash(_ random: inout SeededRandom) {
                let point: CrashPlan.Point
                switch random.int(0..<12) {
                case 0, 1: point = .beforeSyncPoint(layer.syncPointCount + random.int(0..<12))
                case 2, 3: point = .afterSyncPoint(layer.syncPointCount + random.int(0..<12))
                case 4: point = .beforeOperation(layer.operationCount + random.int(0..<30))
                // While a group write is in the page cache, before its sync: the sectors of several
                // writers' batches are dropped, torn or reordered.
                default: point = .beforeSegmentSync(layer.segmentSyncCount + random.int(0..<3))
                }
                layer.setCrashPlan(CrashPlan(point: point, mode: mode, imageDirectory: imagePath, seed: random.next()))
                cycleLog += ", crash \(point) \(mode.rawValue)"
            }
            if crashArmedAt == -1 { armCrash(&random) }
            layer.setFailedSyncKeepsPages(syncFailureKeepsPages)
            options.io = layer
            // -1: before the store opens.
            let faultAt = scenario == .ioError ? random.int(-1..<operationCount) : Int.min
            var rule: FaultRule?
            if faultAt == -1 {
                rule = Self.randomRule(&random)
                layer.addFault(rule!)
                cycleLog += ", before open: \(rule!)"
            }
            var store: LogEventStore?
            var openError: Error?
            do {
                store = try await LogEventStore.open(directory: storePath, options: options)
            } catch {
                openError = error
            }
            if let crash = layer.crashRecord {
                counters.record(crash, inRecovery: true)
                cycleLog += "; \(crash) while opening"
            }
            if let openError, !layer.hasCrashed, rule == nil {
                log.append(cycleLog)
                return "opening the store failed without a fault: \(openError)"
            }

            var failedAt: Int?
            var failedOperations: [Int] = []
            var lastStepWasGroup = false
            var lastStepHadMultiStream = false
            var subscription: Subscription?
            var acknowledgedInCycle = false
            if usesSubscription, let store {
                do {
                    subscription = try await store.subscribe(SubscriptionAcknowledgements.name)
                    if !layer.hasCrashed { acknowledgements.subscribed() }
                } catch {
                    if !layer.hasCrashed && rule == nil {
                        log.append(cycleLog)
                        return "subscribing failed without a fault: \(error)"
                    }
                }
            }
            if let store {
                // After a crash the operations go on failing, so that a round draws the same numbers.
                var index = 0
                while index < operationCount {
                    let writers = workload.profile.writerCount
                    let size =
                        writers > 1 && random.chance(0.6) ? min(random.int(2...writers), operationCount - index) : 1
                    let ids = Array(nextOperation..<nextOperation + size)
                    if (index..<index + size).contains(crashArmedAt) { armCrash(&random) }
                    if (index..<index + size).contains(faultAt) {
                        rule = Self.randomRule(&random)
                        layer.addFault(rule!)
                        cycleLog += ", before operation \(nextOperation): \(rule!)"
                    }
                    let syncsBefore = layer.synchronizedCount(of: .segment)
                    let orderBefore = history.reportCount
                    let crashedBefore = layer.hasCrashed
                    let results = await runner.run(ids, on: store)
                    let isGroup = runner.isGroup(ids)
                    lastStepWasGroup = isGroup
                    let hasMultiStream = ids.contains { workload.operation($0).isMultiStream }
                    lastStepHadMultiStream = hasMultiStream
                    if isGroup { counters.multiWriterGroups += 1 }
                    nextOperation += size
                    index += size
                    counters.operations += size
                    await Self.drainWriter(store)
                    let crashed = layer.hasCrashed
                    if crashed, !crashedBefore, isGroup, let crash = layer.crashRecord, crash.unsyncedSegmentWrites > 0
                    {
                        counters.multiWriterGroupCrashes += 1
                    }
                    if crashed, !crashedBefore, hasMultiStream, let crash = layer.crashRecord,
                        crash.unsyncedSegmentWrites > 0
                    {
                        counters.multiStreamCrashes += 1
                    }
                    for event in runner.orderedEvents(results) {
                        switch event {
                        case .acknowledged, .unitAcknowledged, .snapshotAcknowledged:
                            // Past the power loss the process is dead: it acknowledges nothing.
                            guard !crashed else { continue }
                            if event.acknowledgedWrite != nil { counters.acknowledgedWrites += 1 }
                        default:
                            break
                        }
                        history.apply(event, isDurable: options.durability == .fsync)
                        counters.countMultiStream(event, in: history)
                    }
                    if options.durability == .buffered, layer.synchronizedCount(of: .segment) > syncsBefore {
                        history.markAcknowledgedDurable(before: orderBefore)
                    }
                    for result in results {
                        switch result.outcome {
                        case .done:
                            break
                        case .violation(let message):
                            if !crashed && rule == nil {
                                log.append(cycleLog)
                                return message
                            }
                        case .failed(let error):
                            if !crashed && rule == nil {
                                log.append(cycleLog)
                                return "operation \(result.operation) failed without a fault: \(error)"
                            }
                            if failedAt == nil { failedAt = result.operation }
                            if !crashed, workload.operation(result.operation).kind != .snapshot {
                                failedOperations.append(result.operation)
                            }
                        }
                    }
                    if let subscription, subscriptionRandom.chance(0.6) {
                        // In a power-loss cycle, now and then the power goes inside this acknowledgement
                        // (more often in the first one of a hold, which writes over what it read); in
                        // an I/O-error cycle, now and then it fails (more often in the last step, so
                        // that a reopen in place follows a failed acknowledgement).
                        let crashChance = scenario == .powerLoss ? (acknowledgedInCycle ? 0.2 : 0.5) : 0
                        let faultChance = scenario == .ioError ? (index >= operationCount ? 0.5 : 1.0 / 6) : 0
                        acknowledgedInCycle = true
                        if let problem = await Self.acknowledge(
                            subscription, in: store, layer: layer, isFaulty: rule != nil,
                            crashTarget: (mode, imagePath), crashChance: crashChance, faultChance: faultChance,
                            isSynced: options.durability == .fsync, random: &subscriptionRandom,
                            acknowledgements: &acknowledgements, counters: &counters, log: &cycleLog)
                        {
                            log.append(cycleLog)
                            return problem
                        }
                    }
                }
                // A write that failed is never read as stored, in this process or by a reopen in this boot.
                if !layer.hasCrashed, !failedOperations.isEmpty {
                    if let problem = await Self.failedWritesPresent(failedOperations, in: store) {
                        log.append(cycleLog)
                        return problem
                    }
                    counters.failedWritesCheckedAbsent += failedOperations.count
                }
            }
            if let crash = layer.crashRecord, store != nil {
                counters.record(crash, inRecovery: false)
                cycleLog += "; \(crash)"
            }
            // A full disk fails the writes it hit and nothing more: once space is freed the same
            // open store takes writes again, without a restart.
            if scenario == .ioError, let store, let rule, rule.errorNumber == ENOSPC, rule.operation != .sync,
                !layer.hasCrashed
            {
                layer.clearFaults()
                var events: [HistoryEvent] = []
                let outcome = await runner.run([nextOperation], on: store).first!
                events = outcome.events
                nextOperation += 1
                counters.operations += 1
                await Self.drainWriter(store)
                for event in events {
                    history.apply(event, isDurable: options.durability == .fsync)
                    counters.countMultiStream(event, in: history)
                }
                if case .failed(let error) = outcome.outcome, !layer.hasCrashed {
                    // A store stopped by an earlier failed sync (in the same round) may still refuse.
                    if !"\(error)".contains("stopped accepting writes") {
                        log.append(cycleLog)
                        return "the store did not take writes again after the disk had room: \(error)"
                    }
                } else if case .done = outcome.outcome {
                    counters.writableAgainWithoutRestart += 1
                    cycleLog += "; writable again without a restart"
                }
            }
            if let failedAt { cycleLog += "; writes failed from operation \(failedAt)" }

            // End of the cycle: the power goes (if it has not), or the store closes.
            if let store { await Self.drainWriter(store) }
            var inPlace = false
            var powerLost = layer.hasCrashed
            if scenario == .ioError {
                layer.clearFaults()
                counters.faults.merge(layer.faultCounts, uniquingKeysWith: +)
                if !layer.hasCrashed, random.chance(0.5) {
                    // The disk has room again: close what is left and reopen in place.
                    try? await store?.close()
                    inPlace = true
                    counters.reopenedAfterFaults += 1
                    cycleLog += "; faults cleared, reopened in place"
                }
            } else if scenario == .cleanClose, !layer.hasCrashed, let store {
                do {
                    try await store.close()
                } catch {
                    log.append(cycleLog)
                    return "closing the store failed without a fault: \(error)"
                }
                history.markAcknowledgedDurable()
                inPlace = true
                cycleLog += "; closed cleanly"
            }
            if !inPlace && !layer.hasCrashed {
                let crash = layer.simulatePowerLoss(into: imagePath, mode: mode, seed: random.next())
                if lastStepWasGroup, crash.unsyncedSegmentWrites > 0 { counters.multiWriterGroupCrashes += 1 }
                if lastStepHadMultiStream, crash.unsyncedSegmentWrites > 0 { counters.multiStreamCrashes += 1 }
                counters.record(crash, inRecovery: false)
                cycleLog += "; \(crash) after the operations"
            }
            powerLost = powerLost || !inPlace
            try? await store?.close()
            store = nil
            log.append(cycleLog)

            let target = inPlace ? storePath : imagePath
            if !inPlace, !FaultInjectingIO.exists(target) {
                // The power went before the store's directory was made: nothing of it survives.
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            }

            // Recovering twice gives what recovering once gives: a copy crashes inside its recovery first.
            var twinDigest: UInt64?
            if powerLost, random.chance(0.35) {
                let twin = target + "-twin"
                try StoreDirectory.copy(target, to: twin)
                let twinLayer = FaultInjectingIO(root: twin)
                let twinImage = target + "-twin-crashed"
                let point: CrashPlan.Point =
                    random.chance(0.5)
                    ? .beforeOperation(random.int(0..<60)) : .afterSyncPoint(random.int(0..<16))
                twinLayer.setCrashPlan(
                    CrashPlan(
                        point: point, mode: random.pick(PowerLossMode.allCases), imageDirectory: twinImage,
                        seed: random.next()))
                var twinOptions = options
                twinOptions.io = twinLayer
                let twinStore = try? await LogEventStore.open(directory: twin, options: twinOptions)
                if !twinLayer.hasCrashed {
                    twinLayer.simulatePowerLoss(
                        into: twinImage, mode: random.pick(PowerLossMode.allCases), seed: random.next())
                }
                if let crash = twinLayer.crashRecord { counters.record(crash, inRecovery: true) }
                try? await twinStore?.close()
                twinOptions.io = FaultInjectingIO(root: twinImage)
                do {
                    let recovered = try await LogEventStore.open(directory: twinImage, options: twinOptions)
                    counters.recoveries += 1
                    twinDigest = EventDigest.of(events: try await Self.allEvents(recovered))
                    try await recovered.close()
                } catch {
                    return
                        "recovering a store whose recovery crashed (\(twinLayer.crashRecord.map { "\($0)" } ?? "")) failed: \(error)"
                }
                StoreDirectory.remove(twin)
                StoreDirectory.remove(twinImage)
            }

            // Recover and check.
            layer.clearFaults()
            let checkLayer = inPlace ? layer : FaultInjectingIO(root: target)
            options.io = checkLayer
            let recovered: LogEventStore
            do {
                recovered = try await LogEventStore.open(directory: target, options: options)
            } catch {
                return "recovery failed: \(error)"
            }
            counters.recoveries += 1
            // A failed `.buffered` sync stops the store, and an open in the same boot takes the log
            // to end where it was last synced: acknowledgements no sync covered may be lost then too.
            checker.options.mayLoseUndurableAcknowledgements =
                (powerLost || scenario == .ioError) && options.durability == .buffered
            let report = await checker.check(recovered, history: history)
            if !report.violations.isEmpty {
                try? await recovered.close()
                return "after recovery: " + report.violations.joined(separator: "\n  ")
            }
            if usesSubscription {
                if let problem = await acknowledgements.check(
                    recovered, isDurable: options.durability == .fsync, isImage: !inPlace)
                {
                    try? await recovered.close()
                    return "after recovery: " + problem
                }
                counters.subscriptionChecks += 1
            }
            if inPlace, scenario == .ioError {
                let present = Set(report.runs.map(\.operation)).intersection(failedOperations)
                if !present.isEmpty {
                    try? await recovered.close()
                    return
                        "writes that failed were read as stored after a reopen in the same boot: operations \(present.sorted())"
                }
            }
            if let twinDigest, twinDigest != report.digest {
                try? await recovered.close()
                return "recovering a copy whose first recovery crashed gave a different log than recovering once"
            }
            history.settle(runs: report.runs, absent: report.absent)
            // Writes in flight at the crash may or may not have survived: the writer reads its versions again.
            let touched = Set(history.writes.keys.flatMap { workload.operation($0).streamIDs })
            try await runner.refreshVersions(from: recovered, streams: touched.sorted())
            if scenario == .ioError {
                // The store accepts writes again once the faults are gone.
                for _ in 0..<2 {
                    let step = await runner.run([nextOperation], on: recovered).first!
                    let (events, outcome) = (step.events, step.outcome)
                    nextOperation += 1
                    counters.operations += 1
                    for event in events {
                        history.apply(event, isDurable: options.durability == .fsync)
                        counters.countMultiStream(event, in: history)
                    }
                    if case .failed(let error) = outcome {
                        try? await recovered.close()
                        return "the store did not accept writes after its faults were cleared: \(error)"
                    }
                    if case .violation(let message) = outcome {
                        try? await recovered.close()
                        return message
                    }
                }
            }
            do {
                try await recovered.close()
            } catch {
                return "closing the recovered store failed: \(error)"
            }
            history.markAcknowledgedDurable()
            let problems = try await LogVerifier.verify(directory: target)
            if !problems.isEmpty { return "verify after a clean close reports: " + problems.joined(separator: "; ") }
            if !inPlace { StoreDirectory.remove(storePath) }
            storePath = target
            layer = checkLayer
        }
        return nil
    }

    /// Acknowledges a position of the harness's subscription between two steps: up to the head or
    /// short of it, by position or by event, and now and then one at or below the position (which
    /// changes nothing). With `crashChance` it cuts the power inside the acknowledgement (in
    /// `crashTarget`'s mode, to its image): before its write, before its sync, or just after its
    /// sync (before it returns). With `faultChance` the acknowledgement's write or sync fails (a
    /// short write, EIO or ENOSPC).
    /// - Returns: a problem when an acknowledgement failed with no fault injected and no crash.
    static func acknowledge(
        _ subscription: Subscription, in store: LogEventStore, layer: FaultInjectingIO, isFaulty: Bool,
        crashTarget: (mode: PowerLossMode, image: String), crashChance: Double, faultChance: Double,
        isSynced: Bool, random: inout SeededRandom,
        acknowledgements: inout SubscriptionAcknowledgements, counters: inout HarnessCounters, log: inout String
    ) async -> String? {
        // Past the power loss the process is dead: it asks for nothing more.
        guard !layer.hasCrashed else { return nil }
        let current = await subscription.position
        guard let head = try? await store.stream("@all").version else { return nil }
        var injected = false
        do {
            if head <= current || random.chance(0.1) {
                // At or below the position: nothing is written, and nothing asked for.
                try await subscription.acknowledge(upTo: Int64(random.int(0...Int(min(current, head)))))
                return nil
            }
            let target = random.chance(0.5) ? head : Int64(random.int(Int(current) + 1...Int(head)))
            acknowledgements.asking(target)
            if crashChance > 0, random.chance(crashChance) {
                let point: CrashPlan.Point =
                    switch isSynced ? random.int(0..<3) : 0 {
                    case 0: .beforeOperation(layer.operationCount)
                    case 1: .beforeSyncPoint(layer.syncPointCount)
                    default: .afterSyncPoint(layer.syncPointCount)
                    }
                layer.setCrashPlan(
                    CrashPlan(
                        point: point, mode: crashTarget.mode, imageDirectory: crashTarget.image, seed: random.next()))
                log += ", crash \(point) \(crashTarget.mode.rawValue) inside the acknowledgement of \(target)"
            }
            if faultChance > 0, random.chance(faultChance) {
                // Transient, on this record: it fires inside this acknowledgement (a sync only under .fsync).
                let onSync = isSynced && random.chance(0.6)
                let rule = FaultRule(
                    operation: onSync ? .sync : .write, errorNumber: random.chance(0.5) ? EIO : ENOSPC, skip: 0,
                    isPersistent: false, isShortWrite: !onSync && random.chance(0.5), pathContains: "subscriptions/")
                layer.addFault(rule)
                injected = true
                log += ", \(rule) inside the acknowledgement of \(target)"
            }
            if random.chance(0.3),
                let event = try await FaultHarness.first(
                    try await store.stream("@all").read(from: target - 1, limit: 1))
            {
                try await subscription.acknowledge(event)
            } else {
                try await subscription.acknowledge(upTo: target)
            }
            if !layer.hasCrashed {
                acknowledgements.returned(target)
                counters.subscriptionAcks += 1
            }
        } catch {
            if !layer.hasCrashed && !isFaulty && !injected {
                return "acknowledging the subscription failed without a fault: \(error)"
            }
        }
        if layer.hasCrashed { counters.subscriptionAckCrashes += 1 }
        return nil
    }

    /// The first event of a read.
    static func first(_ events: EventStream.Events) async throws -> StoredEvent? {
        for try await event in events { return event }
        return nil
    }

    /// Waits until the store's writer thread has finished everything queued before (the checkpoint
    /// that may follow a commit): a write refused for its expected version passes through the
    /// writer's queue without touching a file.
    static func drainWriter(_ store: LogEventStore) async {
        _ = try? await store.stream("harness-barrier").write(
            CandidateEvent(type: "Barrier"), expectedVersion: .exact(Int64.max))
    }

    /// A problem when any event of `store` was written by one of `operations` (writes that failed).
    static func failedWritesPresent(_ operations: [Int], in store: any EventStore) async -> String? {
        let failed = Set(operations)
        do {
            for event in try await allEvents(store) {
                if let origin = Workload.origin(of: event.data), failed.contains(origin.operation) {
                    return "operation \(origin.operation) failed, but its event \(event.sequenceID) is read as stored"
                }
            }
        } catch {
            return "reading the store after writes failed: \(error)"
        }
        return nil
    }

    /// Every event of `@all`, in order.
    package static func allEvents(_ store: any EventStore) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        for try await event in try await store.stream("@all").read() { events.append(event) }
        return events
    }

    /// An I/O error to inject: the operation, the errno, transient or persistent, maybe a short
    /// write, maybe only on one kind of file.
    static func randomRule(_ random: inout SeededRandom) -> FaultRule {
        let operation = random.weighted([
            (FaultRule.Operation.write, 4), (.sync, 4), (.allocate, 2), (.rename, 1), (.any, 3),
        ])
        let path = random.weighted([
            (String?.none, 5), ("segment", 2), (".idx", 2), ("checkpoint", 1), ("snapshot", 1), ("head", 1),
        ])
        return FaultRule(
            operation: operation, errorNumber: random.chance(0.5) ? EIO : ENOSPC,
            skip: random.int(0...(operation == .any ? 80 : 8)), isPersistent: random.chance(0.5),
            isShortWrite: operation == .write && random.chance(0.35), pathContains: operation == .any ? nil : path)
    }
}
