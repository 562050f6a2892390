import CSpawn
import EventSourcingCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run `eventlog`, Python or a
/// database server.
///
/// Foundation's `Process` is not used: on Linux its `run()` copies each `/proc/self/fd` entry's
/// whole `d_name` out of `readdir`'s buffer and can read past the buffer's end. With the many
/// descriptors a test process holds, that crashed the suite (SIGSEGV in `memcpy`). Here the child
/// closes every descriptor from 3 up (`closefrom`), so it inherits only its own stdin, stdout and
/// stderr: no store's lock and no other test's pipe.
///
/// Thread-safety: `@unchecked Sendable`; the descriptors are fixed at spawn, the exit status is
/// guarded by a lock, and each end of a pipe is used by one thread at a time.
package final class ChildProcess: @unchecked Sendable {
    /// Where one of the child's standard descriptors goes.
    package enum Stream: Sendable {
        /// A pipe to this process (`input`, `output` or `errors`).
        case pipe
        /// `/dev/null`.
        case null
        /// A file, created or truncated (for stdout and stderr) or read (for stdin).
        case file(String)
    }

    /// How the child ended.
    package enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        /// The exit status, or 128 plus the signal (as a shell reports it).
        package var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            }
        }

        package var description: String {
            switch self {
            case .exited(let code): "exit status \(code)"
            case .signalled(let signal): "signal \(signal)"
            }
        }
    }

    package let pid: pid_t
    /// The write end of the child's stdin, when it is a pipe.
    package let input: Int32?
    /// The read end of the child's stdout, when it is a pipe.
    package let output: Int32?
    /// The read end of the child's stderr, when it is a pipe.
    package let errors: Int32?
    private let state = Mutex<(termination: Termination?, inputOpen: Bool)>((nil, true))

    /// Starts `executable` (a path; `/usr/bin/env` finds a program on PATH) with `arguments`, in
    /// `directory` (or this process's), with `environment` (or this process's).
    package init(
        executable: String, arguments: [String], directory: String? = nil, environment: [String: String]? = nil,
        stdin: Stream = .pipe, stdout: Stream = .pipe, stderr: Stream = .pipe
    ) throws {
        _ = Self.ignoresBrokenPipes
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32?] = [nil, nil, nil]
        var childEnds: [Int32] = []
        defer { for descriptor in childEnds { close(descriptor) } }
        do {
            for (target, stream) in [stdin, stdout, stderr].enumerated() {
                switch stream {
                case .pipe:
                    var ends: [Int32] = [-1, -1]
                    guard cspawn_pipe(&ends) == 0 else { throw Self.failure("pipe2", errno) }
                    // stdin: the child reads end 0; stdout and stderr: the child writes end 1.
                    let (childEnd, parentEnd) = target == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                    childEnds.append(childEnd)
                    parentEnds[target] = parentEnd
                    posix_spawn_file_actions_adddup2(&actions, childEnd, Int32(target))
                case .null:
                    posix_spawn_file_actions_addopen(&actions, Int32(target), "/dev/null", O_RDWR, 0)
                case .file(let path):
                    let flags = target == 0 ? O_RDONLY : (O_WRONLY | O_CREAT | O_TRUNC)
                    posix_spawn_file_actions_addopen(&actions, Int32(target), path, flags, 0o644)
                }
            }
            cspawn_add_close_from(&actions, 3)
            if let directory { cspawn_add_chdir(&actions, directory) }
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            let environmentStrings = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
            defer { for pointer in environmentStrings ?? [] { free(pointer) } }
            var pid: pid_t = 0
            let code =
                if let environmentStrings {
                    posix_spawn(&pid, executable, &actions, nil, argv, environmentStrings)
                } else {
                    posix_spawn(&pid, executable, &actions, nil, argv, environ)
                }
            guard code == 0 else { throw Self.failure("posix_spawn '\(executable)'", code) }
            self.pid = pid
        } catch {
            for case let descriptor? in parentEnds { close(descriptor) }
            throw error
        }
        (input, output, errors) = (parentEnds[0], parentEnds[1], parentEnds[2])
    }

    deinit {
        for case let descriptor? in [output, errors] { close(descriptor) }
        closeInput()
    }

    /// A child that exits early must fail a test, not kill the test process with SIGPIPE.
    private static let ignoresBrokenPipes: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    private static func failure(_ call: String, _ code: Int32) -> EventStoreError {
        .io("\(call) failed: \(String(cString: strerror(code))) (errno \(code))")
    }

    /// Writes all of `bytes` to the child's stdin; throws when the child stopped reading.
    package func write(_ bytes: [UInt8]) throws {
        guard let input else { preconditionFailure("the child's stdin is not a pipe") }
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress! + done, bytes.count - done) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Self.failure("write to the child's stdin", errno)
            }
            done += count
        }
    }

    /// Closes the child's stdin (it reads end of file); once.
    package func closeInput() {
        guard let input else { return }
        let wasOpen = state.withLock { state in
            defer { state.inputOpen = false }
            return state.inputOpen
        }
        if wasOpen { close(input) }
    }

    /// Reads what is available of `descriptor` (blocking until something is); nil at end of file.
    package static func readChunk(_ descriptor: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            return Array(buffer[0..<count])
        }
    }

    /// Everything `descriptor` delivers until end of file.
    package static func readToEnd(_ descriptor: Int32) -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = readChunk(descriptor) { all += chunk }
        return all
    }

    /// How the child ended, if it has (without waiting).
    package func termination() -> Termination? {
        state.withLock { state in
            if let termination = state.termination { return termination }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            state.termination = Self.termination(status)
            return state.termination
        }
    }

    /// Waits for the child to end: polls every 2 ms, and after `seconds` (a hang guard) sends
    /// SIGKILL and waits for that.
    package func wait(seconds: Double = 300) -> Termination {
        var waited = 0.0
        while waited < seconds {
            if let termination = termination() { return termination }
            usleep(2_000)
            waited += 0.002
        }
        signal(SIGKILL)
        while true {
            if let termination = termination() { return termination }
            usleep(2_000)
        }
    }

    /// Sends `signal` to the child, unless it has been waited for (its pid may be reused).
    package func signal(_ signal: Int32) {
        state.withLock { state in
            if state.termination == nil { _ = kill(pid, signal) }
        }
    }

    private static func termination(_ status: Int32) -> Termination {
        (status & 0x7F) == 0 ? .exited((status >> 8) & 0xFF) : .signalled(status & 0x7F)
    }
}

/// A pseudo-terminal, for tests of what a program does when its output is a terminal: the child
/// writes to `devicePath` (as `.file(devicePath)`), the test reads `controller`.
package final class PseudoTerminal: Sendable {
    package let controller: Int32
    package let devicePath: String

    package init() throws {
        var path = [CChar](repeating: 0, count: 256)
        controller = cspawn_open_pty(&path, UInt(path.count))
        guard controller >= 0 else { throw EventStoreError.io("no pseudo-terminal: \(String(cString: strerror(errno)))") }
        devicePath = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { close(controller) }

    /// What was written so far: reads until nothing more comes for half a second.
    package func drain() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: controller, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 500) > 0 else { break }
            let count = read(controller, &buffer, buffer.count)
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
