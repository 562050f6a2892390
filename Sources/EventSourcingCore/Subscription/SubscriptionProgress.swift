import Synchronization

/// What a subscription's event iterators have learned about positions that hold no event its
/// filter accepts, so that acknowledging an event can move the position past the filtered-out
/// events that follow it.
///
/// The one fact kept: after the last event of the latest page handed out, up to `clearThrough`,
/// nothing matched. Each iterator reports each page it hands out and what it scans, and
/// acknowledging the event at `lastDelivered` records `clearThrough` instead. Every report is a
/// fact about the stored log (a scanned range held no accepted event), so several iterators of
/// one subscription cannot make it wrong; the latest report wins.
///
/// Reports come once per page, not per event, so that iterating costs no lock per event.
///
/// Thread-safety: state is behind a mutex; the closed flag is atomic.
package final class SubscriptionProgress: Sendable {
    private struct State {
        var lastDelivered: Int64 = -1
        var clearThrough: Int64 = -1
    }

    private let state = Mutex(State())
    private let closed = Atomic<Bool>(false)

    package init() {}

    /// An iterator hands out a page whose last event is at `last`; nothing the filter accepts
    /// lies in `(last, clearThrough]`. (Acknowledging an event before it is handed out is
    /// impossible, and would record a true fact all the same.)
    func delivered(pageEndingAt last: Int64, clearThrough: Int64) {
        state.withLock { state in
            state.lastDelivered = last
            state.clearThrough = Swift.max(last, clearThrough)
        }
    }

    /// An iterator, with every event it read handed out, scanned `(from, through]` and found
    /// nothing the filter accepts.
    func scannedNothing(from: Int64, through: Int64) {
        state.withLock { state in
            if state.lastDelivered >= 0, state.clearThrough == from, through > from { state.clearThrough = through }
        }
    }

    /// The position acknowledging the event at `position` may record.
    func acknowledgeable(_ position: Int64) -> Int64 {
        state.withLock { state in state.lastDelivered == position ? state.clearThrough : position }
    }

    /// Whether the subscription was closed: its iterators then end. Checked before every event.
    var isClosed: Bool { closed.load(ordering: .acquiring) }

    func close() { closed.store(true, ordering: .releasing) }
}
