import Synchronization

/// What a hang guard throws when the work it guards has not finished in time.
public struct TimedOut: Error, CustomStringConvertible {
    public let seconds: Double
    public var description: String { "gave up after \(seconds) s (a hang guard, not a timing assertion)" }
}

/// Waits for `task`, but not longer than `seconds`: then cancels it and throws `TimedOut` at once,
/// without waiting for it to notice, so that a call that ignores cancellation fails the test
/// instead of hanging the suite. A hang guard, not a timing assertion: give it minutes.
public func withHangGuard<T: Sendable>(seconds: Double = 120, cancelling task: Task<T, any Error>) async throws -> T {
    let waiter = Waiter<T>()
    return try await withCheckedThrowingContinuation { continuation in
        waiter.continuation.withLock { $0 = continuation }
        let timer = Task {
            try await Task.sleep(for: .seconds(seconds))
            task.cancel()
            waiter.continuation.withLock { $0.take() }?.resume(throwing: TimedOut(seconds: seconds))
        }
        Task {
            let result = await task.result
            timer.cancel()
            waiter.continuation.withLock { $0.take() }?.resume(with: result)
        }
    }
}

/// Runs `body` in a task of its own under `withHangGuard(seconds:cancelling:)`.
public func withHangGuard<T: Sendable>(
    seconds: Double = 120, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withHangGuard(seconds: seconds, cancelling: Task { try await body() })
}

/// The continuation that whichever of the task and the timer ends first resumes.
private final class Waiter<T: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)
}
