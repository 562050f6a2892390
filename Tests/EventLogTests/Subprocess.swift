import EventSourcingTestSupport
import Foundation
import Testing

/// The built `eventlog` executable, beside the test bundle.
let eventlogPath: String = {
    let bundle = URL(
        fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
    var directory = bundle.deletingLastPathComponent()
    while !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("eventlog").path),
        directory.path != "/"
    {
        directory.deleteLastPathComponent()
    }
    let candidate = directory.appendingPathComponent("eventlog").path
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    // Fall back to the package's default build folder.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/eventlog").path
}()

/// What a finished run printed and returned.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

/// Runs `eventlog` with `arguments` (and `input` on stdin) to completion.
@discardableResult
func eventlog(_ arguments: [String], input: Data? = nil, in directory: String) async throws -> RunResult {
    let process = EventlogProcess(arguments, in: directory)
    try process.start()
    if let input { try await process.send(input) }
    process.closeInput()
    return await process.wait()
}

/// Runs `body` on a thread of its own and returns what it returns. The tests' blocking waits run
/// here, off the concurrency pool (as many threads as cores), so the async tests beside them keep
/// running and their hang guards measure their own work.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A running `eventlog`, with its output read as it comes.
final class EventlogProcess: @unchecked Sendable {  // safe: output buffers and flags are guarded by `lock`
    private let arguments: [String]
    private let directory: String
    private var child: ChildProcess?
    private let lock = NSCondition()
    private var stdoutData = Data()
    private var stderrData = Data()
    private var outputClosed = false
    private var errorsClosed = false

    init(_ arguments: [String], in directory: String) {
        self.arguments = arguments
        self.directory = directory
    }

    private var running: ChildProcess {
        guard let child else { preconditionFailure("the process has not been started") }
        return child
    }

    func start() throws {
        let child = try ChildProcess(executable: eventlogPath, arguments: arguments, directory: directory)
        self.child = child
        // Each pipe is drained by a thread of its own with blocking reads until end of file.
        drain(child.output!) { [self] data in
            if let data { stdoutData.append(data) } else { outputClosed = true }
        }
        drain(child.errors!) { [self] data in
            if let data { stderrData.append(data) } else { errorsClosed = true }
        }
    }

    /// Reads `descriptor` on a new thread until end of file, passing each chunk and then nil to
    /// `deliver` under `lock`.
    private func drain(_ descriptor: Int32, deliver: @escaping @Sendable (Data?) -> Void) {
        let lock = self.lock
        Thread {
            while true {
                let chunk = ChildProcess.readChunk(descriptor)
                lock.lock()
                deliver(chunk.map { Data($0) })
                lock.broadcast()
                lock.unlock()
                if chunk == nil { return }
            }
        }.start()
    }

    /// Writes to the child's stdin. A child that has exited makes this throw (not crash) an error
    /// that carries what the child said.
    func send(_ data: Data) async throws {
        let child = running
        do {
            try await onOwnThread { try child.write(Array(data)) }
        } catch {
            closeInput()
            let result = await wait()
            throw ChildStoppedReading(cause: error, status: result.status, stderr: result.stderr)
        }
    }
    func send(_ text: String) async throws { try await send(Data(text.utf8)) }
    func closeInput() { running.closeInput() }

    /// The complete lines of stdout so far (a line still being written is left out); call under `lock`.
    private func completeLines() -> [String] {
        let end = stdoutData.lastIndex(of: UInt8(ascii: "\n")) ?? stdoutData.startIndex
        return String(decoding: stdoutData[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits until stdout holds at least `count` lines (or `seconds` pass: a hang guard).
    func waitForLines(_ count: Int, seconds: Double = 120) async -> [String] {
        (try? await onOwnThread { self.blockingWaitForLines(count, seconds: seconds) }) ?? []
    }

    private func blockingWaitForLines(_ count: Int, seconds: Double) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        lock.lock()
        defer { lock.unlock() }
        while completeLines().count < count, !outputClosed {
            if !lock.wait(until: deadline) { break }
        }
        return completeLines()
    }

    /// Waits for the process to exit and its output to drain; after `seconds` (a hang guard) it is
    /// killed.
    func wait(seconds: Double = 300) async -> RunResult {
        // The body cannot throw, so neither can this.
        (try? await onOwnThread { self.blockingWait(seconds: seconds) })!
    }

    private func blockingWait(seconds: Double) -> RunResult {
        let termination = running.wait(seconds: seconds)
        // The child has exited, so end of file follows its last write; the deadline only guards
        // against a grandchild that keeps the pipe open.
        lock.lock()
        while !(outputClosed && errorsClosed), lock.wait(until: Date().addingTimeInterval(60)) {}
        defer { lock.unlock() }
        let status: Int32 =
            switch termination {
            case .exited(let code): code
            case .signalled(let signal): signal
            }
        return RunResult(
            status: status, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }

    func kill() async {
        running.signal(SIGKILL)
        _ = try? await onOwnThread { self.running.wait() }
    }
}

/// A child that stopped reading its stdin (it exited), with what it said.
struct ChildStoppedReading: Error, CustomStringConvertible {
    let cause: any Error, status: Int32, stderr: String
    var description: String { "the child stopped reading stdin (\(cause)); it exited with \(status): \(stderr)" }
}

/// A temporary working directory.
final class WorkDirectory: Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("eventlog-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The JSON objects of `lines`; a line that is not one is thrown as an error naming it and its place.
func jsonObjects(_ lines: [String]) throws -> [[String: Any]] {
    try lines.enumerated().map { index, line in
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw NotJSONLine(index: index, count: lines.count, line: line)
        }
        return object
    }
}

/// A printed line that is not a JSON object.
struct NotJSONLine: Error, CustomStringConvertible {
    let index: Int, count: Int, line: String
    var description: String {
        "line \(index + 1) of \(count) is not a JSON object: \(line.count > 200 ? line.prefix(200) + "…" : line)"
    }
}

/// Expects a failed run: the status, and one sentence (one line) on stderr, no backtrace.
func expectFailure(
    _ result: RunResult, status: Int32, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        result.status == status, "status \(result.status), stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.contains(text), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(
        !result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump")
            && !result.stderr.contains("backtrace"),
        "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    if status == 1 {
        #expect(
            result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)",
            sourceLocation: sourceLocation)
    }
}
