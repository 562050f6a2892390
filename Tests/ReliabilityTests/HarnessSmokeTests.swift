import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@Suite("Crash harness budgets") struct HarnessSmokeTests {
    /// `FAULT_ROUNDS=a,b` replays only those rounds.
    static var selectedRounds: [Int]? {
        ProcessInfo.processInfo.environment["FAULT_ROUNDS"].map { $0.split(separator: ",").compactMap { Int($0) } }
    }

    @Test func faultHarnessRoundsFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-fault")
        let harness = FaultHarness(
            seed: UInt64(ProcessInfo.processInfo.environment["FAULT_SEED"] ?? "") ?? 1, workDirectory: work)
        var counters = HarnessCounters()
        var failures: [String] = []
        for round in Self.selectedRounds
            ?? Array(0..<(Int(ProcessInfo.processInfo.environment["FAULT_ROUND_COUNT"] ?? "") ?? 30))
        {
            let result = await harness.runRound(round)
            counters.merge(result.counters)
            if let failure = result.failure { failures.append("round \(round): \(failure)") }
        }
        print(counters.lines.joined(separator: "\n"))
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }

    @Test func damageHarnessRoundsFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-damage")
        let harness = DamageHarness(
            seed: UInt64(ProcessInfo.processInfo.environment["DAMAGE_SEED"] ?? "") ?? 1, workDirectory: work)
        var counters = HarnessCounters()
        var failures: [String] = []
        let rounds = ProcessInfo.processInfo.environment["DAMAGE_ROUNDS"].map {
            $0.split(separator: ",").compactMap { Int($0) }
        }
        for round in rounds ?? Array(0..<(Int(ProcessInfo.processInfo.environment["DAMAGE_ROUND_COUNT"] ?? "") ?? 10)) {
            let result = await harness.runRound(round)
            counters.merge(result.counters)
            if let failure = result.failure { failures.append("round \(round): \(failure)") }
        }
        print(counters.lines.joined(separator: "\n"))
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }

    @Test func crashPointsEnumeratedAroundEverySyncAndRenameFindNothing() async throws {
        let work = try StoreDirectory.work(named: "reliability-enumerate")
        var harness = EnumerationHarness(seed: 1, workDirectory: work)
        harness.operationCount = Int(ProcessInfo.processInfo.environment["ENUMERATE_OPERATIONS"] ?? "") ?? 8
        var counters = HarnessCounters()
        var failures: [String] = []
        for round in 0..<(Int(ProcessInfo.processInfo.environment["ENUMERATE_ROUND_COUNT"] ?? "") ?? 1) {
            let result = await harness.runRound(round)
            counters.merge(result.counters)
            if let failure = result.failure { failures.append("round \(round): \(failure)") }
        }
        print(counters.lines.joined(separator: "\n"))
        #expect(counters.powerLosses > 40, "every sync point of the workload is a crash point")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        if failures.isEmpty { StoreDirectory.remove(work) }
    }
}
