/// How much of a stream to keep: its newest `maxCount` events, none older than `maxAge`, or both.
/// Events past either bound are hidden from every reader at once; `compact()` reclaims their bytes.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct Retention: Sendable, Hashable {
    /// Keep the newest `maxCount` events of the stream (at least 1), `nil` for no bound.
    public var maxCount: Int64?
    /// Keep events younger than this (more than zero), `nil` for no bound.
    public var maxAge: Duration?

    /// Creates a retention; `Retention()` keeps everything.
    public init(maxCount: Int64? = nil, maxAge: Duration? = nil) {
        self.maxCount = maxCount
        self.maxAge = maxAge
    }

    /// `maxAge` in whole microseconds (stored timestamps have that precision), `nil` for none;
    /// ages too long to count in microseconds are `Int64.max`.
    package var maxAgeMicros: Int64? {
        guard let maxAge else { return nil }
        let (seconds, attoseconds) = maxAge.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        let (micros, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000)
        return overflow || carry ? Int64.max : micros
    }

    /// A retention from stored microseconds.
    package init(maxCount: Int64?, maxAgeMicros: Int64?) {
        self.init(maxCount: maxCount, maxAge: maxAgeMicros.map { Duration.microseconds($0) })
    }
}

/// What `compact()` removed.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct CompactionReport: Sendable, Hashable {
    /// Hidden events whose bytes were removed from storage.
    public let eventsRemoved: Int64
    /// How many bytes the store's files or tables shrank by (0 where the database does not say).
    public let bytesReclaimed: Int64

    /// Creates a report.
    public init(eventsRemoved: Int64, bytesReclaimed: Int64) {
        self.eventsRemoved = eventsRemoved
        self.bytesReclaimed = bytesReclaimed
    }
}
