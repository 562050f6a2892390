import Synchronization

/// Counts operations in flight so that `close` can refuse new ones and wait for the rest.
///
/// Thread-safety: safe to use from any task; state is behind a mutex.
package final class OperationGate: Sendable {
    private struct State {
        var isClosed = false
        var inFlight = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// Whether `close` has begun.
    package var isClosed: Bool { state.withLock { $0.isClosed } }

    /// Runs `body` as an operation in flight.
    /// - Throws: `EventStoreError.storeClosed` once `close` has begun, or what `body` throws.
    package func run<T>(_ body: () async throws -> T) async throws -> T {
        try state.withLock { state in
            guard !state.isClosed else { throw EventStoreError.storeClosed }
            state.inFlight += 1
        }
        defer { leave() }
        return try await body()
    }

    private func leave() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.inFlight -= 1
            precondition(state.inFlight >= 0, "operation gate left more often than entered")
            guard state.inFlight == 0 else { return [] }
            defer { state.drainWaiters.removeAll() }
            return state.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Refuses new operations.
    /// - Returns: `false` when the gate was already closed.
    package func close() -> Bool {
        state.withLock { state in
            defer { state.isClosed = true }
            return !state.isClosed
        }
    }

    /// Waits until no operation is in flight.
    package func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isIdle = state.withLock { state in
                if state.inFlight == 0 { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if isIdle { continuation.resume() }
        }
    }
}
