import ArgumentParser
import EventSourcing
import Foundation

/// `event-bench run` (the default): every selected workload on every store, in one process, at
/// matching durability, printing a table as it goes and writing the requested reports.
///
/// The PostgreSQL column needs a server (`--postgres-url`, else `EVENTSOURCING_POSTGRES_URL`);
/// without one, or when it cannot be reached, the column is skipped with a line saying so and the
/// run carries on with the file stores.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the benchmark workloads (the default subcommand).",
        discussion: """
            Each workload runs on a fresh temporary directory (under $TMPDIR, else /tmp), removed \
            afterwards, first on LogEventStore, then on SQLiteEventStore, then on PostgresEventStore \
            in a fresh schema of the server (bench_<workload>_<random>; nothing is dropped). The \
            PostgreSQL column runs when a server is given (--postgres-url or \
            EVENTSOURCING_POSTGRES_URL; `make bench` starts a private one) and is skipped otherwise; \
            W5 and W8 do not apply to it, nor W9 while its subscriptions are not written. Build with \
            -c release.

            Examples:
              event-bench --quick
              event-bench --only W1,W3 --json results.json
              event-bench --markdown docs/BENCHMARKS.md --svg docs/benchmarks.svg
            """)

    @Flag(help: "Scaled-down sizes (W1 100,000 events, W2 10,000 streams, W8 1M and 2M, ...): a few minutes in all.")
    var quick = false

    @Option(help: "Only these workloads, comma-separated (for example W1,W3).")
    var only: String?

    @Option(help: "Only these stores, comma-separated: log, sqlite, postgres.")
    var stores = "log,sqlite,postgres"

    @Option(help: "The PostgreSQL server (postgres://user@host:port/database); default: $EVENTSOURCING_POSTGRES_URL.")
    var postgresURL: String?

    @Option(help: "fsync (log .fsync vs SQLite FULL) or buffered (log .buffered vs SQLite NORMAL).")
    var durability: DurabilityChoice = .fsync

    @Option(help: "Write every figure as JSON to this file.")
    var json: String?

    @Option(help: "Write the Markdown report (docs/BENCHMARKS.md) to this file.")
    var markdown: String?

    @Option(help: "Write the SVG bar chart of the ratios to SQLite to this file.")
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
                throw ValidationError("unknown store '\(name)'; use log, sqlite and/or postgres")
            }
            return kind
        }
    }

    func run() async throws {
        let sizes = quick ? Sizes.quick : Sizes.full
        let workloads = try selectedWorkloads()
        var kinds = try selectedStores()
        let started = Date()
        let clockStart = Timing.clock.now
        var run = BenchmarkRun(
            command: CommandLine.arguments.joined(separator: " "), isQuick: quick, durability: durability,
            started: started, machine: MachineInfo.current(scratchDirectory: ScratchDirectory.root))
        let serverURL = postgresURL ?? PostgresServer.environmentURL
        if kinds.contains(.postgres) {
            run.postgres = await Self.postgresColumn(url: serverURL, durability: durability)
            if case .skipped = run.postgres { kinds.removeAll { $0 == .postgres } }
        }
        ConsoleTable.printHeader(run)
        for workload in workloads {
            var results: [WorkloadResult] = []
            for kind in kinds {
                if let reason = kind.exclusion(workload) {
                    results.append(
                        WorkloadResult(
                            workload: workload, store: kind, figures: [], parameters: [], exclusion: reason))
                    continue
                }
                let setup = StoreSetup(kind: kind, durability: durability, postgresURL: serverURL)
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

    /// Whether the PostgreSQL column can run: a server given, reachable, and its settings read.
    private static func postgresColumn(url: String?, durability: DurabilityChoice) async -> PostgresColumn {
        guard let url else {
            return .skipped(
                reason: "\(PostgresServer.environmentVariable) is not set (`make bench` starts a private server; "
                    + "or pass --postgres-url)")
        }
        do {
            let settings = try await PostgresServer.settings(url: url)
            if durability == .fsync && !settings.isDurable {
                ConsoleTable.progress(
                    "warning: the server's commits are not durable (\(settings.description)); the PostgreSQL "
                        + "column does not match .fsync")
            }
            return .measured(settings)
        } catch {
            // PostgresNIO's errors describe themselves only when reflected.
            return .skipped(
                reason: "the server at \(PostgresServer.redacted(url)) could not be reached: \(String(reflecting: error))")
        }
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
        case .w9: return try await W9Subscription.run(setup, sizes: sizes)
        case .w10: return try await W10MultiStreamWrites.run(setup, sizes: sizes)
        case .w11: return try await W11Compaction.run(setup, sizes: sizes)
        case .w12: return try await W12TypedEvents.run(setup, sizes: sizes)
        }
    }
}
