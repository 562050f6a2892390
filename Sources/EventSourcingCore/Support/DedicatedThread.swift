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
