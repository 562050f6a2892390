import EventSourcingCore
import EventSourcingTestSupport
import Foundation
import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// The kill harness (RELIABILITY.md, fault 1): a child process writes to a store with concurrent
/// writers (single events, batches, many streams, writes to several streams in one call,
/// idempotent retries, snapshots, segment rolls) and reports every acknowledged write; the parent
/// sends it SIGKILL at a random moment (after some acknowledgements, or while it is still
/// recovering), recovers a copy of the store, checks every invariant against the reports, and
/// starts the next child on the killed store, which recovers it itself. Whatever a killed process wrote survives, so every acknowledged write must
/// be there, with `.buffered` durability too.
///
/// A round is one store through several kills. Its workload and kill schedule come from the seed;
/// the instant a signal lands depends on the scheduler, so a failing round is replayed by its seed
/// as closely as processes allow.
struct KillHarness {
    let seed: UInt64
    let workDirectory: String
    let executable: String
    var killsPerRound = 6

    func runRound(_ round: Int) async -> FaultHarness.RoundResult {
        var random = SeededRandom(seed: seed, stream: UInt64(round) ^ 0x4B11_0000_0000)
        let directory = workDirectory + "/kill-\(round)"
        return await FaultHarness.RoundResult.run(in: directory) { counters in
            try await run(&random, directory: directory, counters: &counters)
        }
    }

    private func run(_ random: inout SeededRandom, directory: String, counters: inout HarnessCounters) async throws
        -> String?
    {
        let writers = random.int(1...4)
        let profile = random.weighted(
            Workload.Profile.all(writers: writers).map { ($0, $0.name == "many streams" ? 1 : 3) })
        var options = LogEventStore.Options(
            durability: random.chance(0.5) ? .fsync : .buffered, segmentBytesMax: random.pick([4096, 8192, 65536]),
            checkpointBytesInterval: random.pick([2048, 65536, 1 << 20]))
        options.keyIndexInitialCapacity = random.pick([16, 256, 4096])
        let workload = Workload(seed: random.next(), profile: profile)
        let context =
            "profile \(profile), \(options.durability), segments of \(options.segmentBytesMax) bytes, "
            + "checkpoint every \(options.checkpointBytesInterval) bytes, key table of \(options.keyIndexInitialCapacity) slots"
        let store = directory + "/store"
        var history = History()
        var checker = InvariantChecker(workload: workload)
        checker.options.isSequential = false
        checker.options.keyRetries = 4
        var nextOperation = 0
        var log: [String] = [context]

        for kill in 0..<killsPerRound {
            let duringRecovery = kill > 0 && random.chance(0.2)
            let acknowledgements = random.int(1...60)
            let delayMicroseconds = UInt32(random.int(0...3000))
            let recoveryDelayMicroseconds = UInt32(random.int(0...30000))
            let configuration = KillChild.Configuration(
                store: store, workload: workload, options: options, firstOperation: nextOperation, operations: 100_000)
            let child = try ChildProcess(
                executable: executable, arguments: ["child"] + configuration.arguments,
                stderrPath: directory + "/child-\(kill).stderr")
            var opened = false
            var acknowledged = 0
            var killed = false
            var errorLine: String?
            // Writes to several streams attempted and not yet answered: in flight when the kill lands.
            var multiStreamInFlight: Set<Int> = []
            let started = Date()
            while true {
                if !killed {
                    if duringRecovery && !opened
                        && Date().timeIntervalSince(started) * 1e6 >= Double(recoveryDelayMicroseconds)
                    {
                        child.kill()
                        killed = true
                    } else if acknowledged >= acknowledgements {
                        usleep(delayMicroseconds)
                        child.kill()
                        killed = true
                    } else if Date().timeIntervalSince(started) > 120 {
                        child.kill()
                        return "\(context)\n  kill \(kill): the child made no progress for 120 s (a hang)"
                    }
                }
                guard let lines = child.readLines(timeoutMilliseconds: killed ? 1000 : 2) else { break }
                for line in lines {
                    guard let event = HistoryEvent(line: line) else {
                        return "\(context)\n  kill \(kill): the child printed '\(line)'"
                    }
                    history.apply(event)
                    counters.countMultiStream(event, in: history)
                    switch event {
                    case .opened: opened = true
                    case .acknowledged, .unitAcknowledged:
                        acknowledged += 1
                        counters.acknowledgedWrites += 1
                    case .attempt, .snapshotAttempt: counters.operations += 1
                    case .unitAttempt(let operation, _):
                        counters.operations += 1
                        multiStreamInFlight.insert(operation)
                    case .failed: errorLine = line
                    default: break
                    }
                    if case .unitAcknowledged(let operation, _) = event { multiStreamInFlight.remove(operation) }
                    if case .rejected(let operation) = event { multiStreamInFlight.remove(operation) }
                }
            }
            let status = child.wait()
            if let errorLine {
                return
                    "\(context)\n  kill \(kill): the child failed without a fault: \(errorLine)\n  its stderr: \(child.stderr())"
            }
            if !killed || !status.wasKilled {
                return "\(context)\n  kill \(kill): the child ended by itself (\(status)): \(child.stderr())"
            }
            counters.processKills += 1
            if !opened { counters.processKillsInRecovery += 1 }
            if !multiStreamInFlight.isEmpty { counters.multiStreamCrashes += 1 }
            log.append("kill \(kill): " + (opened ? "after \(acknowledged) acknowledgements" : "while recovering"))
            let attempted = history.writes.keys.max() ?? -1
            nextOperation = max(nextOperation, max(attempted, history.snapshots.keys.max() ?? -1) + 1)

            // Recover a copy and check it; the next child recovers the store itself.
            let copy = directory + "/check"
            StoreDirectory.remove(copy)
            try StoreDirectory.copy(store, to: copy)
            let recovered: LogEventStore
            do {
                recovered = try await LogEventStore.open(directory: copy, options: options)
            } catch {
                return log.joined(separator: "\n  ") + "\n  recovery failed: \(error)"
            }
            counters.recoveries += 1
            let report = await checker.check(recovered, history: history)
            try await recovered.close()
            if !report.violations.isEmpty {
                return log.joined(separator: "\n  ") + "\n  after recovery: "
                    + report.violations.joined(separator: "\n  ")
            }
            history.settle(runs: report.runs, absent: report.absent)
            let problems = try await LogVerifier.verify(directory: copy)
            if !problems.isEmpty {
                return log.joined(separator: "\n  ") + "\n  verify after recovery reports: "
                    + problems.joined(separator: "; ")
            }
            StoreDirectory.remove(copy)
        }
        return nil
    }
}
