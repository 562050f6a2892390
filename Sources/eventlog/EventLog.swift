import ArgumentParser

/// The `eventlog` command: one executable for people and scripts.
@main
struct EventLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventlog",
        abstract: "Write, read, watch and inspect event stores.",
        discussion: """
            STORE is a directory (a log store) or a file ending in .db/.sqlite, or any path prefixed \
            sqlite: (a SQLite store).

            Example:
              eventlog demo
            """,
        subcommands: [DemoCommand.self, BenchCommand.self]
    )
}
