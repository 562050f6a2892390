import EventSourcingCore
import Foundation
import LogStore

/// The damage harness (RELIABILITY.md, fault 3): builds a store with a workload (snapshots,
/// sealed segments, grown tables), closes it cleanly, then damages copies of it, one file each:
/// every kind of file, every kind of damage. For each it runs the verifier and opens the store:
/// - damage to a segment or to a snapshot's bytes must be reported (open refuses with
///   `corruption`, or `verify` names it); it is all below the durable point of a clean close;
/// - damage to an index, the checkpoint or the head file must not stop the store: they are
///   rebuilt from the log;
/// - whenever open succeeds, every acknowledged write is there byte for byte
///   (`InvariantChecker`), and a second open gives the same log.
///
/// Thread-safety: a value type; rounds run one at a time.
package struct DamageHarness: Sendable {
    package let seed: UInt64
    package let workDirectory: String
    /// Damaged copies per round (each round builds one store).
    package var damagesPerRound = 6

    package init(seed: UInt64, workDirectory: String) {
        self.seed = seed
        self.workDirectory = workDirectory
    }

    /// Runs round `round`; on failure its directory is kept and named.
    package func runRound(_ round: Int) async -> FaultHarness.RoundResult {
        var random = SeededRandom(seed: seed, stream: UInt64(round) ^ 0xDA4A_6E00_0000)
        let directory = workDirectory + "/damage-\(round)"
        return await FaultHarness.RoundResult.run(in: directory) { counters in
            try await run(&random, directory: directory, counters: &counters)
        }
    }

    private func run(_ random: inout SeededRandom, directory: String, counters: inout HarnessCounters) async throws
        -> String?
    {
        let profile = random.weighted([
            (Workload.Profile.mixed(), 5), (.oneStream, 1), (.manyKeys(), 2), (.largeEvents(), 2), (.manyStreams(), 1),
        ])
        var options = LogEventStore.Options(
            durability: random.chance(0.5) ? .fsync : .buffered, segmentBytesMax: random.pick([4096, 8192, 16384]),
            checkpointBytesInterval: random.pick([4096, 1 << 20]))
        options.keyIndexInitialCapacity = random.pick([16, 256, 4096])
        let workload = Workload(seed: random.next(), profile: profile)
        let context =
            "profile \(profile), \(options.durability), segments of \(options.segmentBytesMax) bytes, "
            + "key table of \(options.keyIndexInitialCapacity) slots"
        let pristine = directory + "/pristine"
        let stale = directory + "/stale"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        // Build: half the workload, a clean close (the stale copy), the rest, a clean close.
        var history = History()
        var runner = WorkloadRunner(workload: workload)
        let total = profile.name == "many streams" ? random.int(200...1200) : random.int(10...90)
        var operation = 0
        for phase in 0..<2 {
            let store = try await LogEventStore.open(directory: pristine, options: options)
            let end = phase == 0 ? total / 2 : total
            while operation < end {
                var events: [HistoryEvent] = []
                let outcome = await runner.run(operation, on: store) { events.append($0) }
                for event in events {
                    history.apply(event)
                    counters.countMultiStream(event, in: history)
                }
                operation += 1
                counters.operations += 1
                switch outcome {
                case .done: break
                case .failed(let error): return "\(context): operation \(operation - 1) failed: \(error)"
                case .violation(let message): return "\(context): \(message)"
                }
            }
            try await store.close()
            if phase == 0 { try StoreDirectory.copy(pristine, to: stale) }
        }
        history.markAcknowledgedDurable()
        counters.acknowledgedWrites += history.writes.values.filter { $0.acknowledgedVersion != nil }.count

        let files = StoreDirectory.files(in: pristine).filter { StoreFileKind(fileName: $0) != .lock }
        let segments = files.filter { StoreFileKind(fileName: $0) == .segment }
        for index in 0..<damagesPerRound {
            // Every kind of file gets its turn: a sealed segment, the active one, each index, ...
            let target = random.pick(files)
            var kind = random.pick(DamageInjector.Kind.allCases)
            if kind == .staleCopy, !FaultInjectingIO.exists(stale + "/" + target) { kind = .bitFlips }
            let copy = directory + "/damaged-\(index)"
            try StoreDirectory.copy(pristine, to: copy)
            guard
                let damage = DamageInjector.damage(
                    copy + "/" + target, kind: kind, stalePath: stale + "/" + target, random: &random)
            else {
                StoreDirectory.remove(copy)
                continue
            }
            let fileKind = StoreFileKind(fileName: target)
            let label =
                fileKind == .segment
                ? (target == segments.last ? "active segment" : "sealed segment") : fileKind.rawValue
            counters.damage["\(kind.rawValue) in \(label)", default: 0] += 1
            counters.bytesDamaged += damage.bytesChanged
            counters.bitsFlipped += damage.bitsFlipped
            let what = "\(context); \(damage) (\(label))"
            if let failure = try await check(
                copy, damage: damage, fileKind: fileKind, isSealed: label == "sealed segment", workload: workload,
                history: history, options: options, counters: &counters)
            {
                return "\(what): \(failure)"
            }
            StoreDirectory.remove(copy)
        }
        return nil
    }

    /// Verifies, opens and checks one damaged copy.
    private func check(
        _ store: String, damage: DamageInjector.Outcome, fileKind: StoreFileKind, isSealed: Bool, workload: Workload,
        history: History,
        options: LogEventStore.Options, counters: inout HarnessCounters
    ) async throws -> String? {
        var problems: [String]
        do {
            problems = try await LogVerifier.verify(directory: store)
        } catch {
            problems = ["verify failed: \(error)"]
        }
        var opened: LogEventStore?
        var refusal: String?
        do {
            opened = try await LogEventStore.open(directory: store, options: options)
        } catch EventStoreError.corruption(let message) {
            refusal = message
            counters.opensRefused += 1
        } catch {
            return "open failed with an error that is not corruption: \(error)"
        }
        // Junk after a sealed segment's footer breaks its seal; after the active one it is a torn tail to cut.
        let isDataDamage = fileKind == .segment && (damage.kind.changesHeldBytes || isSealed)
        let isSnapshotContentDamage = fileKind == .snapshot && ![.deletion, .staleCopy].contains(damage.kind)
        if refusal != nil || !problems.isEmpty { counters.damageReported += 1 }
        if isDataDamage || isSnapshotContentDamage, refusal == nil, problems.isEmpty {
            try? await opened?.close()
            return "the damage was neither refused at open nor reported by verify"
        }
        if let refusal {
            if !isDataDamage {
                return "open refused a store whose log is intact (\(fileKind.rawValue) can be rebuilt): \(refusal)"
            }
            return nil
        }
        guard let opened else { return nil }
        var checker = InvariantChecker(workload: workload)
        checker.options.snapshotsMayBeDamaged = fileKind == .snapshot
        checker.options.keyRetries = 4
        let report = await checker.check(opened, history: history)
        try await opened.close()
        counters.recoveries += 1
        if !report.violations.isEmpty {
            return "open succeeded but: " + report.violations.joined(separator: "\n  ")
        }
        // A second recovery gives the same log, and the rebuilt indexes verify.
        let again = try await LogEventStore.open(directory: store, options: options)
        let events = try await FaultHarness.allEvents(again)
        try await again.close()
        if EventDigest.of(events: events) != report.digest { return "a second open gave a different log" }
        let after = try await LogVerifier.verify(directory: store).filter { !$0.contains("snapshot-") }
        if !after.isEmpty { return "verify after recovery reports: " + after.joined(separator: "; ") }
        return nil
    }
}
