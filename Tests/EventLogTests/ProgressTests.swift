import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Progress on stderr: drawn through a terminal, absent otherwise.
@Suite("eventlog progress") struct ProgressTests {
    /// Runs `eventlog` with stderr on `stderr` and waits for it.
    static func run(_ arguments: [String], stderr: ChildProcess.Stream, in directory: String) async throws
        -> ChildProcess.Termination
    {
        let child = try ChildProcess(
            executable: eventlogPath, arguments: arguments, directory: directory, stdin: .null,
            stdout: .file(directory + "/stdout-\(UUID().uuidString)"), stderr: stderr)
        return try await onOwnThread { child.wait(seconds: 120) }
    }

    @Test func copyVerifyAndCompactDrawProgressOnATerminalAndNothingElsewhere() async throws {
        let directory = try WorkDirectory()
        let source = directory.path + "/source"
        try await LogEventStore.withStore(directory: source) { store in
            for batch in 0..<20 {
                try await store.stream("s-\(batch % 3)").write((0..<500).map { _ in CandidateEvent(type: "E") })
            }
        }
        let terminal = try PseudoTerminal()
        #expect(try await Self.run(["copy", source, directory.path + "/copy.db"], stderr: .file(terminal.devicePath), in: directory.path) == .exited(0))
        let drawn = terminal.drain()
        #expect(drawn.contains("\r"), "copy drew no progress line: \(drawn.debugDescription)")
        #expect(drawn.contains("10,000/10,000 events"), "copy's final line: \(drawn.debugDescription)")
        #expect(drawn.contains("/s"))

        #expect(try await Self.run(["verify", source], stderr: .file(terminal.devicePath), in: directory.path) == .exited(0))
        let verified = terminal.drain()
        #expect(verified.contains("verify") && verified.contains("segments"), "verify: \(verified.debugDescription)")

        let file = directory.path + "/stderr.txt"
        #expect(try await Self.run(["copy", source, directory.path + "/copy2.db"], stderr: .file(file), in: directory.path) == .exited(0))
        #expect(try String(contentsOfFile: file, encoding: .utf8).isEmpty, "progress written to a file")

        try await LogEventStore.withStore(directory: source) { try await $0.stream("s-0").tombstone() }
        #expect(try await Self.run(["compact", source], stderr: .file(terminal.devicePath), in: directory.path) == .exited(0))
        let compacted = terminal.drain()
        #expect(compacted.contains("compact") && compacted.contains("segments"), "compact: \(compacted.debugDescription)")
    }
}
