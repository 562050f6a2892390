import Synchronization

/// Hands values from any number of senders to one receiver, who waits with a time limit, so a
/// benchmark never hangs on a delivery that does not come.
///
/// Thread-safety: `send` and `close` from any thread; `receive` from one task at a time.
final class Mailbox<Element: Sendable>: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Element?, Never>
        var timeout: Task<Void, Never>?
    }

    private struct State {
        var queue: [Element] = []
        var head = 0
        var waiter: Waiter?
        var nextWaiterID: UInt64 = 0
        var isClosed = false
    }

    private enum Outcome {
        case ready(Element?)
        case waiting(UInt64)
    }

    private let state = Mutex(State())

    /// Delivers `element` to the waiting receiver, or queues it.
    func send(_ element: Element) {
        let waiter: Waiter? = state.withLock { state in
            guard !state.isClosed else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.queue.append(element)
            return nil
        }
        waiter?.timeout?.cancel()
        waiter?.continuation.resume(returning: element)
    }

    /// Ends the mailbox: the receiver gets `nil` once the queue is empty.
    func close() {
        let waiter: Waiter? = state.withLock { state in
            state.isClosed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.timeout?.cancel()
        waiter?.continuation.resume(returning: nil)
    }

    /// The next element, or `nil` when `timeout` passes first or the mailbox is closed and empty.
    func receive(timeout: Duration) async -> Element? {
        await withCheckedContinuation { continuation in
            let outcome: Outcome = state.withLock { state in
                if state.head < state.queue.count {
                    let element = state.queue[state.head]
                    state.head += 1
                    if state.head == state.queue.count {
                        state.queue.removeAll(keepingCapacity: true)
                        state.head = 0
                    }
                    return .ready(element)
                }
                if state.isClosed { return .ready(nil) }
                precondition(state.waiter == nil, "Mailbox has one receiver")
                state.nextWaiterID += 1
                state.waiter = Waiter(id: state.nextWaiterID, continuation: continuation)
                return .waiting(state.nextWaiterID)
            }
            switch outcome {
            case .ready(let element):
                continuation.resume(returning: element)
            case .waiting(let id):
                let timer = Task { [weak self] in
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    self?.expire(id)
                }
                let isPending = state.withLock { state -> Bool in
                    guard state.waiter?.id == id else { return false }
                    state.waiter?.timeout = timer
                    return true
                }
                if !isPending { timer.cancel() }
            }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
    }
}
