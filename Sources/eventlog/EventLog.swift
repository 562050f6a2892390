import ArgumentParser
import EventSourcing
import Foundation

/// The `eventlog` command: one executable for people and scripts.
struct EventLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventlog",
        abstract: "Write, read, watch and inspect event stores.",
        discussion: """
            STORE is a directory (a log store, created when a writing command finds none), or a file \
            whose name ends in .db or .sqlite, or any path prefixed sqlite: (a SQLite store), or a \
            postgres://user:password@host:port/database URL (or postgresql://; ?schema=name chooses \
            the schema) for a PostgreSQL store, whose tables the first writing command creates.

            Example:
              eventlog append ./orders order-1 --type Placed --data '{"total": 30}'
              eventlog read ./orders order-1 --json
              eventlog copy ./orders 'postgres://app@db.example.com:5432/shop?schema=orders'
            """,
        subcommands: [
            AppendCommand.self, ReadCommand.self, WatchCommand.self, StatsCommand.self, VerifyCommand.self,
            CopyCommand.self, SubscriptionsCommand.self, StreamsCommand.self, DeleteCommand.self,
            TruncateCommand.self, RetentionCommand.self, CompactCommand.self, BenchCommand.self, DemoCommand.self,
        ]
    )
}

/// The entry point: runs the command and maps every failure to one sentence on stderr, exit 1 for
/// errors and 2 for usage errors, never a backtrace.
@main
enum Main {
    static func main() async {
        let code: Int32
        do {
            var command = try EventLog.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            code = 0
        } catch let error as EventStoreError {
            code = fail(error.description)
        } catch let error as CommandError {
            code = fail(error.message)
        } catch {
            let exitCode = EventLog.exitCode(for: error)
            let message = EventLog.fullMessage(for: error)
            if exitCode == .success {
                if !message.isEmpty { print(message) }
                code = 0
            } else if exitCode.rawValue == 1 || error is ExitCode {
                if !message.isEmpty { printError(message) }
                code = exitCode.rawValue
            } else {
                if !message.isEmpty { printError(message) }
                code = 2
            }
        }
        fflush(nil)
        exit(code)
    }

    static func fail(_ message: String) -> Int32 {
        printError("eventlog: " + message.trimmingCharacters(in: .whitespacesAndNewlines))
        return 1
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data((message + (message.hasSuffix("\n") ? "" : "\n")).utf8))
    }
}

/// A failure of the tool itself (not of a store), reported as one sentence with exit status 1.
struct CommandError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
