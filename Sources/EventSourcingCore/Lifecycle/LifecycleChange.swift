/// A change to what is hidden of one stream, validated by the core; the backend applies it with
/// `resolve` inside the critical section its appends take, and keeps the result durably.
///
/// Thread-safety: a value type; safe to share between tasks.
package struct LifecycleChange: Sendable, Hashable {
    package enum Kind: Sendable, Hashable {
        /// Hide every event; later writes continue from the version.
        case delete(ExpectedVersion)
        /// Hide every event for good; later writes throw `streamDeleted`.
        case tombstone(ExpectedVersion)
        /// Hide the versions below this one.
        case truncate(before: Int64)
        /// Replace the retention (`nil` removes it).
        case setRetention(Retention?)
    }

    package let streamID: String
    package let kind: Kind

    package init(streamID: String, kind: Kind) {
        self.streamID = streamID
        self.kind = kind
    }

    /// Whether the change also removes the stream's snapshots (a deletion hides them with the events).
    package var removesSnapshots: Bool {
        switch kind {
        case .delete, .tombstone: true
        case .truncate, .setRetention: false
        }
    }

    /// The stream's lifecycle after the change.
    /// - Parameters:
    ///   - currentVersion: The stream's committed version.
    ///   - current: What is hidden of it now.
    /// - Throws: `EventStoreError.streamDeleted` for a tombstoned stream (a second tombstone
    ///   changes nothing and succeeds), `.concurrencyConflict` when the expected version does not
    ///   hold, `.invalidArgument` for a truncation past the next version.
    package func resolve(currentVersion: Int64, current: StreamLifecycle) throws -> StreamLifecycle {
        if current.isTombstoned {
            if case .tombstone = kind { return current }
            throw EventStoreError.streamDeleted(streamID)
        }
        var next = current
        switch kind {
        case .delete(let expected), .tombstone(let expected):
            guard expected.isSatisfied(by: currentVersion) else {
                throw EventStoreError.concurrencyConflict(
                    streamID: streamID, expected: expected, actual: currentVersion)
            }
            next.hiddenThrough = Swift.max(current.hiddenThrough, currentVersion)
            if case .tombstone = kind { next.isTombstoned = true }
        case .truncate(let before):
            guard before <= currentVersion + 1 else {
                throw EventStoreError.invalidArgument(
                    "truncate(before: \(before)) on stream '\(streamID)', which is at version \(currentVersion): "
                        + "truncate before a version the stream has, at most \(currentVersion + 1)")
            }
            next.hiddenThrough = Swift.max(current.hiddenThrough, before - 1)
        case .setRetention(let retention):
            // What maxCount hid stays hidden (a version bound is cheap to keep; an age is not).
            next.hiddenThrough = current.hiddenThrough(streamVersion: currentVersion)
            next.retention = retention
        }
        return next
    }
}
