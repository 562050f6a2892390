import EventSourcingTestSupport
import Foundation

/// Runs the rounds of a harness within a budget (a number of rounds, a number of seconds, or one
/// given round), prints the counts, and on a failure prints the seed, the round and the command
/// that replays it.
struct HarnessLoop {
    let name: String
    let arguments: Arguments
    let executable: String
    /// The command and options that replay a round, before `--seed`; `name` by default.
    var replay: String?

    /// Runs `body` for each round in the budget. - Returns: the exit status (1 on a failure).
    func run(_ body: (UInt64, String, Int) async -> FaultHarness.RoundResult) async -> Int32 {
        let seed = arguments.seed()
        let seconds = arguments.double("seconds")
        let single = arguments.int("round")
        let first = single ?? arguments.int("first-round") ?? 0
        let last = single.map { $0 + 1 } ?? first + (arguments.int("rounds") ?? (seconds == nil ? 20 : Int.max))
        let work: String
        do {
            work = try arguments.string("work") ?? StoreDirectory.work(named: "reliability-\(name)")
        } catch {
            print("error: cannot make a work directory: \(error)")
            return 2
        }
        CrashReporter.install()
        let start = Date()
        var counters = HarnessCounters()
        var round = first
        var failure: (Int, String)?
        while round < last {
            if let seconds, Date().timeIntervalSince(start) >= seconds, round > first { break }
            CrashReporter.set(
                "CRASHED \(name) seed=\(seed) round=\(round)\nreproduce: \(executable) \(replay ?? name) --seed \(seed) --round \(round)"
            )
            let result = await body(seed, work, round)
            counters.merge(result.counters)
            if let message = result.failure {
                failure = (round, message)
                break
            }
            round += 1
        }
        let elapsed = Date().timeIntervalSince(start)
        print("== \(name) seed=\(seed) rounds=\(counters.rounds) seconds=\(String(format: "%.1f", elapsed))")
        for line in counters.lines { print("\(name).\(line)") }
        if let (round, message) = failure {
            print("FAILED \(name) seed=\(seed) round=\(round): \(message)")
            print("reproduce: \(executable) \(replay ?? name) --seed \(seed) --round \(round)")
            return 1
        }
        if arguments.string("work") == nil { StoreDirectory.remove(work) }
        return 0
    }
}
