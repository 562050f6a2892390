import EventSourcingCore
import LogStore

/// The subscription of the fault harness: one consumer of `@all` that acknowledges positions
/// between the workload's steps, and what a recovered store's position of it may be.
///
/// With `.fsync` durability, after a crash the position must be the last one whose `acknowledge`
/// returned, or one that was being acknowledged since (in flight at the crash, or failed by an
/// injected error): never older than the last returned one, never a value no acknowledgement
/// asked for, never past the recovered log's head; and the record must parse. With `.buffered`
/// durability an acknowledgement is not synced, so a power loss may take any of them: the position
/// may be any one asked for in the round (or the start), and the record must still parse.
///
/// Thread-safety: a value type, used by one round.
package struct SubscriptionAcknowledgements: Sendable {
    /// The subscription's name.
    package static let name = "harness-subscription"

    /// Whether a `subscribe` returned, so that the record is durable (its creation is synced).
    private(set) var isRecordDurable = false
    /// The last position whose `acknowledge` returned, or that a recovery from a power-loss image
    /// found (0 before the record exists).
    private(set) var lastReturned: Int64 = 0
    /// Positions asked for since the last returned acknowledgement (in flight, or failed).
    private(set) var unanswered: [Int64] = []
    /// Every position asked for in the round, and the start.
    private(set) var everAsked: Set<Int64> = [0]

    package init() {}

    /// `subscribe` returned: the record exists, durably.
    package mutating func subscribed() { isRecordDurable = true }

    /// An acknowledgement of `position` is about to be called.
    package mutating func asking(_ position: Int64) {
        unanswered.append(position)
        everAsked.insert(position)
    }

    /// The acknowledgement of `position` returned (before any crash).
    package mutating func returned(_ position: Int64) {
        lastReturned = max(lastReturned, position)
        unanswered.removeAll()
    }

    /// Checks the position of a recovered store, or a problem.
    /// - Parameters:
    ///   - position: the recovered store's position, `nil` when it lists no such subscription.
    ///   - isDurable: whether acknowledgements are synced (`.fsync`).
    ///   - head: the recovered log's head: a synced acknowledgement never points past it.
    ///   - isImage: whether the store was recovered from the image of a power loss (then what it
    ///     holds is durable, and becomes the starting point); `false` for a reopen in place, in
    ///     the same boot, where what a failed sync left in the page cache is read but not durable.
    package mutating func check(position: Int64?, isDurable: Bool, head: Int64, isImage: Bool) -> String? {
        guard let position else {
            return isRecordDurable
                ? "the subscription '\(Self.name)' was created (subscribe returned) but is gone after recovery" : nil
        }
        if isDurable {
            if position != lastReturned && !unanswered.contains(position) {
                return "the subscription's position is \(position) after recovery; the last acknowledgement that "
                    + "returned was \(lastReturned)"
                    + (unanswered.isEmpty
                        ? "" : ", and \(unanswered.map(String.init).joined(separator: ", ")) were asked for since")
            }
            if position > head {
                return "the subscription's position \(position) is past the recovered log's head \(head)"
            }
        } else if !everAsked.contains(position) {
            return "the subscription's position is \(position) after recovery, which no acknowledgement asked for"
        }
        if isImage {
            isRecordDurable = true
            lastReturned = position
            unanswered = []
        }
        return nil
    }

    /// Reads the recovered store's position and checks it (see `check(position:isDurable:head:isImage:)`).
    package mutating func check(_ store: LogEventStore, isDurable: Bool, isImage: Bool) async -> String? {
        let infos: [SubscriptionInfo]
        let head: Int64
        do {
            infos = try await store.subscriptions()
            head = try await store.stream("@all").version
        } catch {
            return "listing subscriptions after recovery failed (a record that does not parse?): \(error)"
        }
        return check(
            position: infos.first(where: { $0.name == Self.name })?.position, isDurable: isDurable, head: head,
            isImage: isImage)
    }
}
