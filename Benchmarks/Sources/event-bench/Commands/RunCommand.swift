import ArgumentParser
import EventSourcing
import Foundation

/// `event-bench run` (the default): every selected workload on every store, in one process, at
/// matching durability, printing a table as it goes and writing the requested reports.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the benchmark workloads (the default subcommand).",
        discussion: """
            Each workload runs on a fresh temporary directory (under $TMPDIR, else /tmp), removed \
            afterwards, first on LogEventStore and then on SQLiteEventStore. Build with -c release.

            Examples:
              event-bench --quick
              event-bench --only W1,W3 --json results.json
              event-bench --markdown docs/BENCHMARKS.md --svg docs/benchmarks.svg
            """)

    @Flag(help: "Scaled-down sizes (W1 100,000 events, W2 10,000 streams, W8 1M and 2M, ...): a few minutes in all.")
    var quick = false

    @Option(help: "Only these workloads, comma-separated (for example W1,W3).")
    var only: String?

    @Option(help: "Only these stores, comma-separated: log, sqlite.")
    var stores = "log,sqlite"

    @Option(help: "fsync (log .fsync vs SQLite FULL) or buffered (log .buffered vs SQLite NORMAL).")
    var durability: DurabilityChoice = .fsync

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    @Option(help: "Write the Markdown report (docs/BENCHMARKS.md) to this file.")
    var markdown: String?

    @Option(help: "Write the SVG bar chart of the log/SQLite ratios to this file.")
    var svg: String?

    @Option(help: "The chart file name the Markdown report links to (default: --svg's file name).")
    var svgLink: String?

    func validate() throws {
        _ = try selectedWorkloads()
        _ = try selectedStores()
    }

    private func selectedWorkloads() throws -> [Workload] {
        guard let only else { return Workload.allCases }
        return try Workload.parseList(only).sorted()
    }

    private func selectedStores() throws -> [StoreKind] {
        try stores.split(separator: ",").map { name in
            guard let kind = StoreKind(rawValue: name.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ValidationError("unknown store '\(name)'; use log and/or sqlite")
            }
            return kind
        }
    }

    func run() async throws {
        let sizes = quick ? Sizes.quick : Sizes.full
        let workloads = try selectedWorkloads()
        let kinds = try selectedStores()
        let started = Date()
        let clockStart = Timing.clock.now
        var run = BenchmarkRun(
            command: CommandLine.arguments.joined(separator: " "), isQuick: quick, durability: durability,
            started: started, machine: MachineInfo.current(scratchDirectory: ScratchDirectory.root))
        ConsoleTable.printHeader(run)
        for workload in workloads {
            var results: [WorkloadResult] = []
            for kind in kinds {
                let setup = StoreSetup(kind: kind, durability: durability)
                ConsoleTable.progress("\(workload.rawValue) on \(kind.displayName)…")
                let start = Timing.clock.now
                var result: WorkloadResult
                do {
                    result = try await Self.run(workload, setup: setup, sizes: sizes)
                } catch {
                    result = WorkloadResult(
                        workload: workload, store: kind, figures: [], parameters: [],
                        notes: ["FAILED: \(error)"])
                    ConsoleTable.progress("\(workload.rawValue) on \(kind.displayName) failed: \(error)")
                }
                result.elapsedSeconds = Timing.seconds(Timing.clock.now - start)
                results.append(result)
            }
            ConsoleTable.printWorkload(workload, results: results)
            run.results += results
        }
        run.totalSeconds = Timing.seconds(Timing.clock.now - clockStart)
        ConsoleTable.printTargets(run)
        if let json { try write(JSONReport.text(run), to: json) }
        if let markdown {
            let link = svgLink ?? svg.map { URL(fileURLWithPath: $0).lastPathComponent }
            try write(MarkdownReport.text(run, chartLink: link), to: markdown)
        }
        if let svg { try write(SVGChart.text(run), to: svg) }
        ConsoleTable.progress("done in \(Format.fixed(run.totalSeconds / 60, 1)) min")
    }

    private func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        ConsoleTable.progress("wrote \(path)")
    }

    private static func run(_ workload: Workload, setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        switch workload {
        case .w1: return try await W1Reference.run(setup, sizes: sizes)
        case .w2: return try await W2ManyStreams.run(setup, sizes: sizes)
        case .w3: return try await W3DurableWrites.run(setup, sizes: sizes)
        case .w4: return try await W4WatchLatency.run(setup, sizes: sizes)
        case .w5: return try await W5OpenTime.run(setup, sizes: sizes)
        case .w6: return try await W6IdempotentRetry.run(setup, sizes: sizes)
        case .w7: return try await W7FilteredRead.run(setup, sizes: sizes)
        case .w8: return try await W8Growth.run(setup, sizes: sizes)
        }
    }
}
