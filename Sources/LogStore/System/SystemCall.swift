import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// Every system call of the engine goes through here once: EINTR is retried, and a failure becomes
/// an `EventStoreError.io` naming the call, the path and the errno text. Operating errors (ENOSPC,
/// EIO, a damaged file) throw; broken invariants trap with `precondition`.
enum SystemCall {
    /// Runs `body` until it does not fail with EINTR.
    /// - Throws: `EventStoreError.io` when it returns -1 with another errno.
    @discardableResult
    static func run<T: BinaryInteger>(_ call: String, path: String, _ body: () -> T) throws -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw error(call, path: path, code: code)
        }
    }

    /// The typed error for `code` (an errno value).
    static func error(_ call: String, path: String, code: Int32) -> EventStoreError {
        .io("\(call)(\"\(path)\") failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}
