import Synchronization

/// What a subscription's event iterators have learned about positions that hold no event its
/// filter accepts, so that acknowledging an event can move the position past the filtered-out
/// events that follow it.
///
/// The one fact kept: after the last delivered event, up to `clearThrough`, nothing matched.
/// Each iterator reports what it hands out and what it scans, and acknowledging the event at
/// `delivered` records `clearThrough` instead. Every report is a fact about the stored log (a
/// scanned range held no accepted event), so several iterators of one subscription cannot make
/// it wrong; the latest report wins.
///
/// Thread-safety: state is behind a mutex.
package final class SubscriptionProgress: Sendable {
    private struct State {
        var delivered: Int64 = -1
        var clearThrough: Int64 = -1
        var isClosed = false
    }

    private let state = Mutex(State())

    package init() {}

    /// An iterator hands out the event at `position`; nothing the filter accepts lies in
    /// `(position, clearThrough]`.
    func delivered(_ position: Int64, clearThrough: Int64) {
        state.withLock { state in
            state.delivered = position
            state.clearThrough = Swift.max(position, clearThrough)
        }
    }

    /// An iterator, with every event it read handed out, scanned `(from, through]` and found
    /// nothing the filter accepts.
    func scannedNothing(from: Int64, through: Int64) {
        state.withLock { state in
            if state.delivered >= 0, state.clearThrough == from, through > from { state.clearThrough = through }
        }
    }

    /// The position acknowledging the event at `position` may record.
    func acknowledgeable(_ position: Int64) -> Int64 {
        state.withLock { state in state.delivered == position ? state.clearThrough : position }
    }

    /// Whether the subscription was closed: its iterators then end.
    var isClosed: Bool { state.withLock { $0.isClosed } }

    func close() { state.withLock { $0.isClosed = true } }
}
