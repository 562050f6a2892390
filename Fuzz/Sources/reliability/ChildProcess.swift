import EventSourcingCore
import EventSourcingTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A child process with its standard output on a pipe and its standard error in a file.
final class ChildProcess {
    let pid: pid_t
    private let output: Int32
    private let stderrPath: String
    private var pending: [UInt8] = []

    struct Status: CustomStringConvertible {
        var raw: Int32
        var wasKilled: Bool { (raw & 0x7F) == SIGKILL }
        var description: String {
            (raw & 0x7F) == 0 ? "exit status \((raw >> 8) & 0xFF)" : "signal \(raw & 0x7F)"
        }
    }

    init(executable: String, arguments: [String], stderrPath: String) throws {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw EventStoreError.io("pipe failed: errno \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard code == 0 else {
            close(pipeEnds[0])
            throw EventStoreError.io("posix_spawn '\(executable)' failed: errno \(code)")
        }
        self.pid = pid
        self.output = pipeEnds[0]
        self.stderrPath = stderrPath
    }

    deinit { close(output) }

    func kill() { _ = Glibc.kill(pid, SIGKILL) }

    /// The complete lines that arrived within `timeoutMilliseconds`; `nil` at the end of output.
    func readLines(timeoutMilliseconds: Int32) -> [String]? {
        var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        guard ready > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress!, $0.count) }
        if count < 0 && errno == EINTR { return [] }
        guard count > 0 else { return nil }
        pending += buffer[0..<count]
        var lines: [String] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[0..<newline], as: UTF8.self))
            pending.removeSubrange(0...newline)
        }
        return lines
    }

    /// The status once the child has ended (it is then reaped), `nil` while it runs.
    func exitStatus() -> Status? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
        return result == pid ? Status(raw: status) : nil
    }

    func wait() -> Status {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Status(raw: status)
    }

    func stderr() -> String {
        StoreDirectory.read(stderrPath).map { String(decoding: $0.suffix(4000), as: UTF8.self) } ?? ""
    }
}
