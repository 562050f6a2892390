import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A second event-bench process (this same binary, re-executed with a hidden subcommand), whose
/// standard output is read line by line into a mailbox. Every wait on it is bounded.
final class ChildProcess: Sendable {
    /// The lines the child printed, without their newline; closed at end of file.
    let lines = Mailbox<String>()
    private let process: Process
    /// The child's standard input: closing it asks the child to finish (see `closeInput`).
    private let input: FileHandle

    /// Starts this executable with `arguments`.
    init(arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executablePath)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        let input = Pipe()
        process.standardInput = input
        try process.run()
        self.process = process
        self.input = input.fileHandleForWriting
        let descriptor = pipe.fileHandleForReading.fileDescriptor
        let lines = self.lines
        // A plain thread: blocking reads must not occupy Swift's cooperative pool.
        let reader = Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
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
            _ = pipe  // the pipe stays open as long as the reader runs
            lines.close()
        }
        reader.name = "event-bench-child-reader"
        reader.start()
    }

    /// The running binary, so the child is exactly this build.
    static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 { return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }

    var processIdentifier: Int32 { process.processIdentifier }

    /// The next line that starts with `prefix` (others are skipped), or `nil` after `timeout`
    /// or at end of output.
    func line(startingWith prefix: String, timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let line = await lines.receive(timeout: left) else { return nil }
            if line.hasPrefix(prefix) { return line }
        }
    }

    /// Writes `line` and a newline to the child's standard input (how the parent gives a child
    /// waiting on it the go-ahead).
    func send(line: String) throws {
        try input.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Closes the child's standard input, which a child that reads it takes as a request to stop
    /// cleanly (a watcher closes its store, which removes a read-only store's private files).
    func closeInput() {
        try? input.close()
    }

    /// Sends `signal` to the child.
    func send(signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits at most `timeout` for the child to exit, then kills it; returns its termination status
    /// when it exited by itself.
    @discardableResult
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
            return nil
        }
        return process.terminationStatus
    }
}

/// Writes lines to standard output unbuffered, for a child whose parent reads them as they come.
enum ChildOutput {
    static func send(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
