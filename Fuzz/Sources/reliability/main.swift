import EventSourcingTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// reliability: the crash-recovery harnesses and fuzz targets of docs/RELIABILITY.md.
let usage = """
    usage: reliability COMMAND [OPTIONS]
      fault  [--seed N] [--rounds N | --seconds S | --round R] [--work DIR]   power loss, I/O errors, crashes in recovery
      damage [--seed N] [--rounds N | --seconds S | --round R] [--work DIR]   damage to closed stores
      enumerate [--seed N] [--rounds N | --seconds S | --round R] [--operations N]   a crash at every sync point
      compaction-enumerate [--seed N] [--rounds N | --seconds S | --round R] [--steps 12] [--points 320]
                                                                              a crash at every sync point of lifecycle changes and compactions
      compaction-fault [--seed N] [--rounds N | --seconds S | --round R] [--steps 12]
                                                                              I/O errors and a power loss in lifecycle changes and compactions
      kill   [--seed N] [--rounds N | --seconds S | --round R] [--work DIR]   SIGKILL of a writer process
      subscription-kill [--store log|sqlite|postgres] [--steps 20] [--races 2] [--seed N] [--rounds N | --seconds S | --round R]
                                                                              SIGKILL of subscription consumers, takeover races
      fuzz TARGET [LIBFUZZER OPTIONS] [CORPUS DIRECTORIES]                   libFuzzer; targets: \
    \(FuzzTargets.all.keys.sorted().joined(separator: ", "))
      corpus TARGET DIRECTORY                                                 write the seed inputs of a target
      summary FILE...                                                         add up the counts printed by runs
    A harness prints its counts, and on a failure the seed, the round and the command that replays it.
    """

let arguments = CommandLine.arguments
let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
guard arguments.count >= 2 else {
    print(usage)
    exit(2)
}
let options = Arguments(arguments.dropFirst(2))
switch arguments[1] {
case "fault":
    exit(
        await HarnessLoop(name: "fault", arguments: options, executable: executable).run { seed, work, round in
            await FaultHarness(seed: seed, workDirectory: work).runRound(round)
        })
case "damage":
    exit(
        await HarnessLoop(name: "damage", arguments: options, executable: executable).run { seed, work, round in
            await DamageHarness(seed: seed, workDirectory: work).runRound(round)
        })
case "enumerate":
    exit(
        await HarnessLoop(name: "enumerate", arguments: options, executable: executable).run { seed, work, round in
            var harness = EnumerationHarness(seed: seed, workDirectory: work)
            harness.operationCount = options.int("operations") ?? harness.operationCount
            return await harness.runRound(round)
        })
case "compaction-enumerate", "compaction-fault":
    let mode: CompactionHarness.Mode = arguments[1] == "compaction-enumerate" ? .enumerate : .fault
    let steps = options.int("steps") ?? 12
    let points = options.int("points") ?? 320
    var loop = HarnessLoop(name: arguments[1], arguments: options, executable: executable)
    loop.replay = "\(arguments[1]) --steps \(steps)" + (mode == .enumerate ? " --points \(points)" : "")
    exit(
        await loop.run { seed, work, round in
            var harness = CompactionHarness(seed: seed, workDirectory: work, mode: mode)
            harness.stepsMax = steps
            harness.crashPointsMax = points
            return await harness.runRound(round)
        })
case "kill":
    exit(
        await HarnessLoop(name: "kill", arguments: options, executable: executable).run { seed, work, round in
            await KillHarness(seed: seed, workDirectory: work, executable: executable).runRound(round)
        })
case "subscription-kill":
    let store = options.string("store") ?? "log"
    guard let kind = SubscriptionStoreKind(rawValue: store) else {
        print("error: --store is log, sqlite or postgres, not '\(store)'")
        exit(2)
    }
    if let reason = kind.unavailableReason {
        print("== subscription-kill-\(store) skipped: \(reason)")
        exit(0)
    }
    let steps = options.int("steps") ?? 20
    let races = options.int("races") ?? 2
    var loop = HarnessLoop(name: "subscription-kill-\(store)", arguments: options, executable: executable)
    loop.replay = "subscription-kill --store \(store) --steps \(steps) --races \(races)"
    exit(
        await loop.run { seed, work, round in
            var harness = SubscriptionKillHarness(seed: seed, workDirectory: work, executable: executable, kind: kind)
            harness.steps = steps
            harness.races = races
            return await harness.runRound(round)
        })
case "subscription-consumer":
    exit(await SubscriptionConsumer.run(options))
case "child":
    exit(await KillChild.run(options))
case "fuzz" where arguments.count >= 3:
    exit(FuzzDriver.run(target: arguments[2], arguments: Array(arguments.dropFirst(3))))
case "corpus" where arguments.count == 4:
    do {
        print("\(try SeedCorpus.write(target: arguments[2], to: arguments[3])) seeds for \(arguments[2])")
    } catch {
        print("error: \(error)")
        exit(1)
    }
case "summary":
    Summary.print(files: Array(arguments.dropFirst(2)))
default:
    print(usage)
    exit(2)
}
