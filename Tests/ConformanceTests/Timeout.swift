import Foundation
import Testing

struct TimedOut: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "gave up after \(seconds) s (a hang guard, not a timing assertion)" }
}

/// Runs `body`, failing with `TimedOut` if it has not finished after `seconds`, so a watch that
/// never delivers fails the test instead of hanging the suite.
func withHangGuard<T: Sendable>(
    seconds: Double = 120, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
            throw TimedOut(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Waits for `task`, cancelling it when it has not finished after `seconds`, and then failing with
/// `TimedOut`: a cancelled watch ends quietly, so what it saw alone would not show the hang.
func withHangGuard<T: Sendable>(seconds: Double = 120, cancelling task: Task<T, Error>) async throws -> T {
    let timer = Task {
        try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
        task.cancel()
    }
    let result = await task.result
    timer.cancel()
    if case .success = await timer.result { throw TimedOut(seconds: seconds) }
    return try result.get()
}
