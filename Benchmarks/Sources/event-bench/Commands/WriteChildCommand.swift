import ArgumentParser
import EventSourcing
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `event-bench write-child` (hidden; W3's scale-out): one writer process of several that write
/// to one store at once. It opens the store, writes a first event to each of its `--writers`
/// streams, prints `READY`, and waits for `GO <start>` on standard input (`start` in
/// `CLOCK_MONOTONIC` nanoseconds, the same clock in every process, so that all children measure
/// the same period). From `GO` on, `--writers` tasks write single events, each to its own stream,
/// until `start` + `--measure-milliseconds`; the time before `start` is the warm-up. It prints
/// `RESULT <writes that started at or after start and ended by the end>`, closes the store and
/// exits, and exits on its own after `--lifetime-seconds` whatever happens.
struct WriteChildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-child", abstract: "W3's scale-out writer process (used by event-bench itself).",
        shouldDisplay: false)

    @Option var store: StoreKind
    @Option var path: String
    @Option var streamPrefix: String
    @Option var writers: Int
    @Option var measureMilliseconds: Int
    @Option var lifetimeSeconds = 300

    func run() async throws {
        let lifetime = lifetimeSeconds
        let watchdog = Task.detached {
            // Cancelled when the work is done: then the process ends normally.
            guard (try? await Task.sleep(for: .seconds(lifetime))) != nil else { return }
            Glibc.exit(3)
        }
        let opened = try await StoreSetup.open(kind: store, durability: .fsync, path: path, readOnly: false)
        var streams: [EventStream] = []
        for writer in 0..<writers {
            let stream = try await opened.stream("\(streamPrefix)-\(writer)")
            try await stream.write(CandidateEvent(type: "Tick"))
            streams.append(stream)
        }
        let commands = Self.readStandardInput()
        ChildOutput.send("READY")
        guard let go = await commands.receive(timeout: .seconds(lifetime)) else {
            ChildOutput.send("ABORTED no GO before end of input")
            try await opened.close()
            return
        }
        let parts = go.split(separator: " ")
        guard parts.count == 2, parts[0] == "GO", let start = UInt64(parts[1]) else {
            throw BenchmarkError("write-child: expected `GO <nanoseconds>`, read '\(go)'")
        }
        let end = start + UInt64(measureMilliseconds) * 1_000_000
        let counted = try await withThrowingTaskGroup(of: Int.self) { group in
            for stream in streams {
                group.addTask {
                    var count = 0
                    while true {
                        let before = Timing.monotonicNanoseconds()
                        guard before < end else { break }
                        try await stream.write(CandidateEvent(type: "Tick"))
                        if before >= start && Timing.monotonicNanoseconds() <= end { count += 1 }
                    }
                    return count
                }
            }
            var total = 0
            for try await count in group { total += count }
            return total
        }
        ChildOutput.send("RESULT \(counted)")
        try await opened.close()
        watchdog.cancel()
    }

    /// The lines of standard input, read by a plain thread (a blocking read must not occupy
    /// Swift's cooperative pool); the mailbox closes at end of input.
    private static func readStandardInput() -> Mailbox<String> {
        let lines = Mailbox<String>()
        let reader = Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                for byte in buffer[0..<count] {
                    if byte == UInt8(ascii: "\n") {
                        lines.send(String(decoding: pending, as: UTF8.self))
                        pending.removeAll(keepingCapacity: true)
                    } else {
                        pending.append(byte)
                    }
                }
            }
            lines.close()
        }
        reader.name = "event-bench-write-child-input"
        reader.start()
        return lines
    }
}
