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

/// One thread that runs short blocking calls (a file read that may wait for the disk) for a store,
/// off Swift's cooperative thread pool. The thread is started with the store and waits between
/// calls, so a call costs a hand-over, not a thread's creation.
///
/// Thread-safety: `@unchecked Sendable` because `jobs` and `isStopping` are only touched while
/// holding `condition`.
package final class BlockingWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var isStopping = false

    /// Starts the thread, named `name`.
    package init(name: String) {
        let thread = Thread { [self] in self.work() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the worker's thread and returns its result.
    /// - Throws: what `body` throws, or `EventStoreError.storeClosed` after `stop`.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            condition.lock()
            guard !isStopping else {
                condition.unlock()
                continuation.resume(throwing: EventStoreError.storeClosed)
                return
            }
            jobs.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the thread finish the calls already queued, then end.
    package func stop() {
        condition.lock()
        isStopping = true
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty, !isStopping { condition.wait() }
            let taken = jobs
            jobs.removeAll()
            let done = isStopping && taken.isEmpty
            condition.unlock()
            if done { return }
            for job in taken { job() }
        }
    }
}
