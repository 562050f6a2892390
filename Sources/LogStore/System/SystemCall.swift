import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// An OS call that failed: which call, on which path, and its errno. The engine throws it as it
/// is, so that code in between can act on the errno (a full disk fails one write, an I/O error
/// after a sync stops the store), and turns it into `EventStoreError.io` where an error leaves
/// the engine (`SystemError.mapped`).
///
/// Thread-safety: a value type.
struct SystemError: Error, Equatable, CustomStringConvertible {
    let call: String
    let path: String
    let code: Int32

    var description: String { "\(call)(\"\(path)\") failed: \(String(cString: strerror(code))) (errno \(code))" }

    /// What users see.
    var storeError: EventStoreError { .io(description) }

    /// The file system has no room (or the user no quota) left: the write can be tried again later.
    var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }

    /// The typed error for `error` as it leaves the engine.
    static func storeError(_ error: Error) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if let error = error as? SystemError { return error.storeError }
        return .io("\(error)")
    }

    /// Runs `body`, turning a `SystemError` it throws into `EventStoreError.io`.
    static func mapped<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as SystemError { throw error.storeError }
    }

    /// Runs `body`, turning a `SystemError` it throws into `EventStoreError.io`.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as SystemError { throw error.storeError }
    }

    /// Whether `error` is a full disk.
    static func isDiskFull(_ error: Error) -> Bool { (error as? SystemError)?.isDiskFull ?? false }
}

/// Every system call of the engine goes through here once: EINTR is retried, and a failure becomes
/// a `SystemError` naming the call, the path and the errno. Operating errors (ENOSPC, EIO, a
/// damaged file) throw; broken invariants trap with `precondition`.
enum SystemCall {
    /// Runs `body` until it does not fail with EINTR.
    /// - Throws: `SystemError` when it returns -1 with another errno.
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
    static func error(_ call: String, path: String, code: Int32) -> SystemError {
        SystemError(call: call, path: path, code: code)
    }
}
