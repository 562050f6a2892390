import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@Suite("Crash harness budgets") struct HarnessSmokeTests {
    static func environment(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }

    /// The rounds named in `listVariable` (`a,b`), else rounds 0 ..< `countVariable` (default `count`).
    static func rounds(list listVariable: String, count countVariable: String, default count: Int) -> [Int] {
        environment(listVariable).map { $0.split(separator: ",").compactMap { Int($0) } }
            ?? Array(0..<(Int(environment(countVariable) ?? "") ?? count))
    }

    /// Runs `rounds` of a harness, prints the merged counters, and returns them with the failures.
    static func run(
        _ rounds: [Int], _ round: (Int) async -> FaultHarness.RoundResult
    ) async -> (counters: HarnessCounters, failures: [String]) {
        var counters = HarnessCounters()
        var failures: [String] = []
        for index in rounds {
            let result = await round(index)
            counters.merge(result.counters)
            if let failure = result.failure { failures.append("round \(index): \(failure)") }
        }
        print(counters.lines.joined(separator: "\n"))
        return (counters, failures)
    }

    @Test func faultHarnessRoundsFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-fault")
        let harness = FaultHarness(seed: UInt64(Self.environment("FAULT_SEED") ?? "") ?? 1, workDirectory: work)
        let (_, failures) = await Self.run(Self.rounds(list: "FAULT_ROUNDS", count: "FAULT_ROUND_COUNT", default: 30)) {
            await harness.runRound($0)
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }

    @Test func damageHarnessRoundsFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-damage")
        let harness = DamageHarness(seed: UInt64(Self.environment("DAMAGE_SEED") ?? "") ?? 1, workDirectory: work)
        let (_, failures) = await Self.run(Self.rounds(list: "DAMAGE_ROUNDS", count: "DAMAGE_ROUND_COUNT", default: 10))
        {
            await harness.runRound($0)
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }

    @Test func crashPointsEnumeratedAroundEverySyncAndRenameFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-enumerate")
        var harness = EnumerationHarness(seed: 1, workDirectory: work)
        harness.operationCount = Int(Self.environment("ENUMERATE_OPERATIONS") ?? "") ?? 8
        let (counters, failures) = await Self.run(
            Array(0..<(Int(Self.environment("ENUMERATE_ROUND_COUNT") ?? "") ?? 1))
        ) {
            [harness] in await harness.runRound($0)
        }
        #expect(counters.powerLosses > 40, "every sync point of the workload is a crash point")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }

    @Test func compactionCrashPointsEnumeratedFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-compaction-enumerate")
        var harness = CompactionHarness(
            seed: UInt64(Self.environment("COMPACTION_SEED") ?? "") ?? 1, workDirectory: work, mode: .enumerate)
        harness.crashPointsMax = Int(Self.environment("COMPACTION_POINTS") ?? "") ?? 30
        harness.redoImagesMax = 1
        let (counters, failures) = await Self.run(
            Self.rounds(list: "COMPACTION_ROUNDS", count: "COMPACTION_ROUND_COUNT", default: 1)
        ) { [harness] in await harness.runRound($0) }
        #expect(counters.compactionCrashes > 0, "power losses struck inside compactions")
        #expect(counters.lifecycleChangeCrashes > 0, "power losses struck inside lifecycle changes")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }

    @Test func compactionFaultRoundsFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-compaction-fault")
        let harness = CompactionHarness(
            seed: UInt64(Self.environment("COMPACTION_SEED") ?? "") ?? 1, workDirectory: work, mode: .fault)
        let (counters, failures) = await Self.run(
            Self.rounds(list: "COMPACTION_FAULT_ROUNDS", count: "COMPACTION_FAULT_ROUND_COUNT", default: 12)
        ) { await harness.runRound($0) }
        #expect(counters.powerLosses == counters.rounds, "every fault round ends in a power loss")
        #expect(!counters.faults.isEmpty, "injected errors fired")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }
}
