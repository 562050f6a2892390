import ArgumentParser

/// `event-bench`: the benchmark runner of shared/spec/BENCHMARKS.md.
@main
struct EventBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event-bench",
        abstract:
            "Run the workloads W1-W8 of BENCHMARKS.md on LogEventStore, SQLiteEventStore and PostgresEventStore.",
        subcommands: [RunCommand.self, WatchChildCommand.self, KillWriterCommand.self, WriteChildCommand.self],
        defaultSubcommand: RunCommand.self)
}
