import Synchronization

/// The one notification path between writers and every watcher of a store.
///
/// A notification carries no events: it only says that a stream (or, with `nil`, possibly any
/// stream) changed. Watchers treat it as a hint and re-read storage from their own position, so
/// memory stays bounded whatever a watcher's speed, and merged or spurious notifications are
/// harmless. Cost per notification: O(waiting watchers).
///
/// Thread-safety: safe to use from any task; state is behind a mutex.
package final class WatchHub: Sendable {
    private struct Waiter {
        let streamID: String?
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var generation: UInt64 = 0
        var isClosed = false
        var nextWaiterID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var cancelledBeforeWaiting: Set<UInt64> = []
    }

    private let state = Mutex(State())

    package init() {}

    /// Increases with every notification; read it before reading storage, then wait after it.
    package var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes the watchers of `streamID` and of `"@all"`; `nil` wakes every watcher.
    package func notify(streamID: String?) {
        let woken: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            state.generation &+= 1
            var woken: [CheckedContinuation<Bool, Never>] = []
            for (id, waiter) in state.waiters
            where streamID == nil || waiter.streamID == nil || waiter.streamID == streamID {
                woken.append(waiter.continuation)
                state.waiters[id] = nil
            }
            return woken
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Waits for a notification newer than `generation` that concerns `streamID` (`nil`: any stream).
    /// - Returns: `true` on a change, `false` when the hub closed or the task was cancelled.
    package func waitForChange(after generation: UInt64, streamID: String?) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        let changed = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    if state.isClosed { return false }
                    if state.cancelledBeforeWaiting.remove(id) != nil { return false }
                    if state.generation != generation { return true }
                    state.waiters[id] = Waiter(streamID: streamID, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelledBeforeWaiting.insert(id)
                return nil
            }
            waiter?.continuation.resume(returning: false)
        }
        // A cancellation that raced with a notification leaves its mark; drop it.
        state.withLock { _ = $0.cancelledBeforeWaiting.remove(id) }
        return changed
    }

    /// Finishes every wait; later waits return `false` at once.
    package func close() {
        let woken: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            state.isClosed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(returning: false) }
    }

    /// The number of watchers waiting now (for tests and stats).
    package var waitingCount: Int { state.withLock { $0.waiters.count } }
}
