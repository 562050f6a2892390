import ArgumentParser
import EventSourcing
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `event-bench watch-child` (hidden; W4): opens a store read-only, watches one stream from its
/// head at open, and prints `READY <head>`, then `EVENT <version> <CLOCK_MONOTONIC ns>` per
/// event received, then `DONE`. It stops after `--count` events or when its standard input
/// closes (the parent's way to stop it cleanly), and exits on its own after `--lifetime-seconds`
/// whatever happens.
struct WatchChildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch-child", abstract: "W4's cross-process watcher (used by event-bench itself).",
        shouldDisplay: false)

    @Option var store: StoreKind
    @Option var path: String
    @Option var stream: String
    @Option var count: Int
    @Option var lifetimeSeconds = 900

    func run() async throws {
        let lifetime = lifetimeSeconds
        let watchdog = Task.detached {
            try? await Task.sleep(for: .seconds(lifetime))
            Glibc.exit(3)
        }
        let opened = try await StoreSetup.open(kind: store, durability: .fsync, path: path, readOnly: true)
        let handle = try await opened.stream(stream)
        let head = try await handle.metrics().currentVersion
        ChildOutput.send("READY \(head)")
        let count = count
        let watching = Task {
            var seen = 0
            for try await event in handle.watch(from: head) {
                let now = Timing.monotonicNanoseconds()
                ChildOutput.send("EVENT \(event.version) \(now)")
                seen += 1
                if seen >= count { break }
            }
        }
        // A plain thread blocks on standard input; end of file cancels the watch.
        let stopper = Thread {
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let got = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if got < 0, errno == EINTR { continue }
                if got <= 0 { break }
            }
            watching.cancel()
        }
        stopper.start()
        _ = await watching.result
        ChildOutput.send("DONE")
        try await opened.close()
        watchdog.cancel()
    }
}
