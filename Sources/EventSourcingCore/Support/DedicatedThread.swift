import Foundation

/// Runs blocking work (file I/O at open, SQLite calls) on a thread of its own, so it never
/// occupies Swift's cooperative thread pool.
package enum DedicatedThread {
    /// Runs `body` on a new thread and returns its result.
    package static func run<T: Sendable>(
        name: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = name
            thread.start()
        }
    }
}

/// Runs short blocking calls (a file read that may wait for the disk) off Swift's cooperative
/// thread pool, on threads that Dispatch keeps (no thread is started per call, so a call costs a
/// hand-over, not a thread's creation).
package enum BlockingCalls {
    private static let queue = DispatchQueue(label: "eventsourcing.blocking", attributes: .concurrent)

    /// Runs `body` on a Dispatch thread and returns its result.
    package static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
