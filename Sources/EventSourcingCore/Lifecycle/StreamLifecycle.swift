/// What is hidden of one stream: the rule every store applies to reads, heads, keys and listings,
/// written once here. Backends keep it durably and apply `hides` wherever they return events.
///
/// A stream's events are hidden when their version is at or below `hiddenThrough` (deletion,
/// tombstone, truncation), below its newest `retention.maxCount`, or older than `retention.maxAge`.
///
/// Thread-safety: a value type; safe to share between tasks.
package struct StreamLifecycle: Sendable, Hashable {
    /// Versions at or below this are hidden (`delete`, `tombstone`, `truncate`).
    package var hiddenThrough: Int64
    /// Whether the stream is gone for good: writes throw `streamDeleted`, listings omit it.
    package var isTombstoned: Bool
    /// The stream's retention, `nil` for none.
    package var retention: Retention?

    package init(hiddenThrough: Int64 = 0, isTombstoned: Bool = false, retention: Retention? = nil) {
        self.hiddenThrough = hiddenThrough
        self.isTombstoned = isTombstoned
        self.retention = retention
    }

    /// A stream nothing was ever hidden of.
    package static let none = StreamLifecycle()

    /// Whether this hides nothing (so a backend need not keep it).
    package var isNone: Bool { self == .none }

    /// The highest version hidden by position for a stream at `streamVersion`: deletion and
    /// truncation, and the events below the newest `maxCount`.
    package func hiddenThrough(streamVersion: Int64) -> Int64 {
        guard let maxCount = retention?.maxCount else { return hiddenThrough }
        return Swift.max(hiddenThrough, streamVersion - maxCount)
    }

    /// Events stored before this (microseconds since the epoch) are past `maxAge`; `nil` for no age bound.
    package func ageCutoff(nowMicros: Int64) -> Int64? {
        guard let age = retention?.maxAgeMicros else { return nil }
        return nowMicros.subtractingReportingOverflow(age).overflow ? Int64.min : nowMicros - age
    }

    /// Whether the event at `version`, stored at `timestampMicros`, of a stream at `streamVersion`
    /// is hidden at `nowMicros`.
    package func hides(version: Int64, timestampMicros: Int64, streamVersion: Int64, nowMicros: Int64) -> Bool {
        if version <= hiddenThrough(streamVersion: streamVersion) { return true }
        if let cutoff = ageCutoff(nowMicros: nowMicros), timestampMicros < cutoff { return true }
        return false
    }

    /// Whether `streamIDs` lists the stream: not tombstoned, and not deleted or truncated past its
    /// last version.
    package func isListed(streamVersion: Int64) -> Bool { !isTombstoned && streamVersion > hiddenThrough }
}
