import EventSourcingCore
import Synchronization

/// Whether the server answered the listener's last attempt to connect. While it does not, calls
/// fail at once with `EventStoreError.unavailable`, and calls already waiting for the server (for
/// a connection the pool cannot make, or for the answer of one that died) fail as soon as the
/// listener finds it gone, instead of each waiting out `Options.timeout`. The listener tries again
/// every second at most, so calls succeed again within about a second of the server's return.
///
/// Thread-safety: its state is behind a mutex; waiters are called outside it.
final class PostgresReachability: Sendable {
    private struct State {
        var outage: String?
        var waiters: [UInt64: @Sendable (String) -> Void] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Records a failed attempt to connect (`reason` says why) or, with `nil`, a successful one.
    /// An outage calls every waiter.
    func update(_ reason: String?) {
        let waiters = state.withLock { state -> [@Sendable (String) -> Void] in
            state.outage = reason
            guard reason != nil else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        if let reason { for waiter in waiters { waiter(reason) } }
    }

    /// Throws `unavailable` while the server is known to be unreachable.
    func check(_ context: String) throws {
        if let reason = state.withLock({ $0.outage }) { throw Self.error(context, reason) }
    }

    /// The error of a call that `context` describes, failed because of `reason`.
    static func error(_ context: String, _ reason: String) -> EventStoreError {
        .unavailable(
            "\(context): the server is unreachable (\(reason)); the store connects again by itself when it returns")
    }

    /// Calls `waiter` (once) when an outage is found, until `cancel` is called with the returned
    /// token; when the server is unreachable already, calls it at once.
    func onOutage(_ waiter: @escaping @Sendable (String) -> Void) -> UInt64? {
        let (token, outage) = state.withLock { state -> (UInt64?, String?) in
            if let outage = state.outage { return (nil, outage) }
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = waiter
            return (state.nextWaiter, nil)
        }
        if let outage { waiter(outage) }
        return token
    }

    func cancel(_ token: UInt64?) {
        guard let token else { return }
        _ = state.withLock { $0.waiters.removeValue(forKey: token) }
    }
}
