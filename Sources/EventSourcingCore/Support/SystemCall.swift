#if canImport(Glibc)
    import Glibc
#endif

/// An OS call that failed: which call, on which path, and its errno. The engine throws it as it
/// is, so that code in between can act on the errno (a full disk fails one write, an I/O error
/// after a sync stops the store), and turns it into `EventStoreError.io` where an error leaves
/// the engine (`SystemError.mapped`).
///
/// Thread-safety: a value type.
package struct SystemError: Error, Equatable, CustomStringConvertible {
    package let call: String
    package let path: String
    package let code: Int32

    package init(call: String, path: String, code: Int32) {
        self.call = call
        self.path = path
        self.code = code
    }

    package var description: String { "\(call)(\"\(path)\") failed: \(String(cString: strerror(code))) (errno \(code))" }

    /// What users see.
    package var storeError: EventStoreError { .io(description) }

    /// The file system has no room (or the user no quota) left: the write can be tried again later.
    package var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }

    /// The typed error for `error` as it leaves the engine.
    package static func storeError(_ error: Error) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if let error = error as? SystemError { return error.storeError }
        return .io("\(error)")
    }

    /// Runs `body`, turning a `SystemError` it throws into `EventStoreError.io`.
    package static func mapped<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as SystemError { throw error.storeError }
    }

    /// Runs `body`, turning a `SystemError` it throws into `EventStoreError.io`.
    package static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as SystemError { throw error.storeError }
    }

    /// Whether `error` is a failed `fsync`/`fdatasync`/`msync` (whose pages the kernel may have dropped).
    package static func isSyncFailure(_ error: Error) -> Bool {
        guard let error = error as? SystemError else { return false }
        return error.call == "fdatasync" || error.call == "fsync" || error.call == "msync"
    }

    /// Whether `error` is a full disk.
    package static func isDiskFull(_ error: Error) -> Bool { (error as? SystemError)?.isDiskFull ?? false }
}

/// Every system call of the stores goes through here once: EINTR is retried, and a failure becomes
/// a `SystemError` naming the call, the path and the errno. Operating errors (ENOSPC, EIO, a
/// damaged file) throw; broken invariants trap with `precondition`.
package enum SystemCall {
    /// Runs `body` until it does not fail with EINTR.
    /// - Throws: `SystemError` when it returns -1 with another errno.
    @discardableResult
    package static func run<T: BinaryInteger>(_ call: String, path: String, _ body: () -> T) throws -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw error(call, path: path, code: code)
        }
    }

    /// The typed error for `code` (an errno value).
    package static func error(_ call: String, path: String, code: Int32) -> SystemError {
        SystemError(call: call, path: path, code: code)
    }
}

extension SystemCall {
    /// Whether a process with `pid` runs (`kill(2)` with signal 0); `true` when it cannot be told
    /// (it runs as another user).
    package static func processExists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    /// Creates a new directory `prefix` + six random characters (`mkdtemp(3)`), mode 0700.
    package static func makeTemporaryDirectory(prefix: String) throws -> String {
        // mkdtemp replaces the template's last six characters, which must be "X".
        var template = Array((prefix + String(repeating: "X", count: 6)).utf8CString)
        while true {
            if let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) {
                return String(cString: created)
            }
            let code = errno
            if code != EINTR { throw error("mkdtemp", path: prefix, code: code) }
        }
    }

    /// Removes an empty directory (`rmdir(2)`); a missing one is fine.
    package static func removeDirectory(_ path: String) throws {
        do {
            try run("rmdir", path: path) { rmdir(path) }
        } catch let error as SystemError where error.code == ENOENT {
            return
        }
    }
}
