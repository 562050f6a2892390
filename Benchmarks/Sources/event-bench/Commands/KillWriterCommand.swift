import ArgumentParser
import EventSourcing
import Foundation

/// `event-bench kill-writer` (hidden; W5): writes W1's events to a store, prints `WRITTEN <n>`,
/// and waits, store open, for the parent's SIGKILL (exiting by itself after `--lifetime-seconds`).
struct KillWriterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill-writer", abstract: "W5's writer that is killed (used by event-bench itself).",
        shouldDisplay: false)

    @Option var store: StoreKind
    @Option var durability: DurabilityChoice = .fsync
    @Option var path: String
    @Option var events: Int
    @Option var batch = 10_000
    @Option var lifetimeSeconds = 300

    func run() async throws {
        let opened = try await StoreSetup.open(kind: store, durability: durability, path: path, readOnly: false)
        let stream = try await opened.stream("w5")
        _ = try await Phases.writeKeyed(stream, range: 0..<events, batch: batch)
        ChildOutput.send("WRITTEN \(events)")
        try await Task.sleep(for: .seconds(lifetimeSeconds))
        try await opened.close()
    }
}
