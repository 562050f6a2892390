import EventSourcingCore
import Foundation

/// Dedicated threads, each owning one SQLite connection, that run blocking SQLite calls so they
/// never occupy Swift's cooperative thread pool. Jobs wait in one queue; any idle thread takes the
/// next, with its own connection.
///
/// Thread-safety: `@unchecked Sendable` is sound because `jobs` and `isStopping` are only touched
/// while holding `condition`, and each connection is only used by the thread that owns it.
final class ConnectionWorkers: @unchecked Sendable {
    private typealias Job = (SQLiteConnection) -> Void

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var jobHead = 0
    private var isStopping = false
    private var runningThreads = 0
    private var stopped: CheckedContinuation<Void, Never>?

    /// Starts one thread per connection.
    init(name: String, connections: [SQLiteConnection]) {
        runningThreads = connections.count
        for (index, connection) in connections.enumerated() {
            let box = ConnectionBox(connection)
            let thread = Thread { [self] in self.work(box.connection) }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Runs `body` on a worker thread with its connection and returns its result.
    /// - Throws: what `body` throws, or `EventStoreError.storeClosed` after `shutdown`.
    func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            condition.lock()
            guard !isStopping else {
                condition.unlock()
                continuation.resume(throwing: EventStoreError.storeClosed)
                return
            }
            jobs.append { connection in continuation.resume(with: Result { try body(connection) }) }
            condition.signal()
            condition.unlock()
        }
    }

    private func work(_ connection: SQLiteConnection) {
        while true {
            condition.lock()
            while jobHead == jobs.count, !isStopping { condition.wait() }
            guard jobHead < jobs.count else {
                runningThreads -= 1
                let last = runningThreads == 0 ? stopped : nil
                condition.unlock()
                connection.close()
                last?.resume()
                return
            }
            let job = jobs[jobHead]
            jobHead += 1
            if jobHead == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                jobHead = 0
            }
            condition.unlock()
            job(connection)
        }
    }

    /// Runs the jobs already queued, then stops every thread and closes its connection.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            isStopping = true
            if runningThreads == 0 {
                condition.unlock()
                continuation.resume()
                return
            }
            stopped = continuation
            condition.broadcast()
            condition.unlock()
        }
    }
}

/// Carries a connection into the thread that will own it.
/// `@unchecked Sendable`: handed over once, before the thread starts, and never used by the sender again.
private final class ConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
