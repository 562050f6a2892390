import Foundation

/// What every backend implements: it only stores, finds and reports. The rules (validation,
/// idempotency, expected versions, filters, watch ordering) live in the core, which calls this.
///
/// The protocol is async throughout so that a networked backend fits behind it without blocking
/// a thread. Implementations must be safe to call from many tasks at once.
package protocol EventStorage: Sendable {
    /// Appends `request.events` atomically to `request.streamID`, after calling
    /// `request.resolve(currentVersion:isKeyStored:)` inside the same critical section as the append.
    /// Commits must become visible in sequence order.
    func append(_ request: AppendRequest) async throws -> AppendResult

    /// Appends several requests (to distinct streams) as one unit: inside one critical section it
    /// resolves each in order, and if any throws, stores nothing and rethrows that error; else it
    /// stores every request's remaining events with consecutive sequence ids in the order given,
    /// visible to readers all at once, and durable (or lost to a crash) as a whole. A request
    /// without events only reports its stream's version.
    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult]

    /// Reads one page of events: see `ReadRequest`.
    func read(_ request: ReadRequest) async throws -> ReadPage

    /// The committed head of a stream, or of the whole store for `StreamName.all`.
    func head(of streamID: String) async throws -> StreamHead

    /// Stores `snapshot`, replacing the one of the same stream and projection atomically.
    func saveSnapshot(_ snapshot: Snapshot) async throws

    /// The latest snapshot of a stream and projection, or `nil`.
    func loadSnapshot(streamID: String, projection: String) async throws -> Snapshot?

    /// Every snapshot, of every stream and projection (for copying a store).
    func snapshots() async throws -> [Snapshot]

    /// Counts for `eventlog stats`.
    func statistics() async throws -> StoreStatistics

    /// Applies `change` with `change.resolve(currentVersion:current:)` inside the critical section
    /// appends take, keeps the result durably before returning, and from then on hides what it
    /// hides from every read, head, key lookup and listing (`StreamLifecycle.hides`), in this
    /// process and others. With `change.removesSnapshots` the stream's snapshots go too.
    /// - Returns: The stream's lifecycle after the change.
    func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle

    /// What is hidden of a stream (`.none` for a stream without a change).
    func lifecycle(of streamID: String) async throws -> StreamLifecycle

    /// At most `limit` stream ids in UTF-8 byte order, greater than `after`, starting with
    /// `prefix`, of streams `StreamLifecycle.isListed` accepts.
    func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String]

    /// Removes the stored bytes of every hidden event, while reads and writes carry on; calls
    /// `progress` now and then with the work done and the work in all (in units of its choice).
    func compact(progress: CompactionProgress?) async throws -> CompactionReport

    /// Where the store keeps its subscriptions.
    var subscriptions: any SubscriptionStorage { get }

    /// Releases files and connections. The core calls it once, after every operation has finished.
    func close() async throws
}

/// How far a compaction is: work done and work in all, in units the backend chooses.
package typealias CompactionProgress = @Sendable (_ done: Int64, _ total: Int64) -> Void

/// What `eventlog stats` shows of a store.
package struct StoreStatistics: Sendable, Hashable {
    package var streams: Int
    package var events: Int64
    /// Log segments (`nil` for stores without segments).
    package var segments: Int?
    package var bytesOnDisk: Int64
    package var snapshots: Int

    package init(streams: Int, events: Int64, segments: Int?, bytesOnDisk: Int64, snapshots: Int) {
        self.streams = streams
        self.events = events
        self.segments = segments
        self.bytesOnDisk = bytesOnDisk
        self.snapshots = snapshots
    }
}

/// The stores of this package, for tools inside it (`eventlog`) that need more than the public API.
package protocol RuntimeBackedStore: EventStore {
    var runtime: StoreRuntime { get }
}

/// Names with a meaning of their own.
package enum StreamName {
    /// The global stream.
    package static let all = "@all"
}

/// An atomic append, already validated by the core: no `"@all"`, events within the limits, and
/// no key repeated within the batch.
package struct AppendRequest: Sendable {
    package let streamID: String
    package let events: [CandidateEvent]
    package let expectedVersion: ExpectedVersion
    /// The timestamp to store, microseconds since the epoch; `nil` for now. Only copies set it.
    package let timestampMicros: Int64?

    package init(
        streamID: String, events: [CandidateEvent], expectedVersion: ExpectedVersion, timestampMicros: Int64? = nil
    ) {
        self.streamID = streamID
        self.events = events
        self.expectedVersion = expectedVersion
        self.timestampMicros = timestampMicros
    }

    /// The idempotency and expected-version rules, applied by a backend inside its critical section.
    ///
    /// - Parameters:
    ///   - currentVersion: The stream's committed version.
    ///   - isKeyStored: Whether the stream already holds an idempotency key.
    /// - Returns: The events to append; empty when every event was already stored (the write then
    ///   succeeds at `currentVersion` whatever the expected version says).
    ///   - lifecycle: What is hidden of the stream: a tombstoned stream takes no events, and the
    ///     backend's `isKeyStored` answers `false` for the keys of hidden events.
    /// - Throws: `EventStoreError.concurrencyConflict` when events remain and the stream is not at
    ///   the expected version; `.streamDeleted` for a tombstoned stream.
    package func resolve(
        currentVersion: Int64, lifecycle: StreamLifecycle = .none, isKeyStored: (String) throws -> Bool
    ) throws -> [CandidateEvent] {
        if lifecycle.isTombstoned, !events.isEmpty { throw EventStoreError.streamDeleted(streamID) }
        // Usually nothing is dropped: then the request's own array is the answer, not a copy.
        var dropped: [Int] = []
        for (index, event) in events.enumerated() {
            if let key = event.idempotencyKey, try isKeyStored(key) { dropped.append(index) }
        }
        var remaining = events
        if !dropped.isEmpty {
            var next = 0
            remaining = []
            remaining.reserveCapacity(events.count - dropped.count)
            for (index, event) in events.enumerated() {
                if next < dropped.count, dropped[next] == index {
                    next += 1
                    continue
                }
                remaining.append(event)
            }
        }
        if !remaining.isEmpty, !expectedVersion.isSatisfied(by: currentVersion) {
            throw EventStoreError.concurrencyConflict(
                streamID: streamID, expected: expectedVersion, actual: currentVersion)
        }
        return remaining
    }
}

/// The outcome of an append.
package struct AppendResult: Sendable {
    /// The stream's version after the append.
    package let version: Int64
    /// How many events were appended (0 when all were already stored).
    package let appendedCount: Int

    package init(version: Int64, appendedCount: Int) {
        self.version = version
        self.appendedCount = appendedCount
    }
}

/// One page of a read.
///
/// Forward pages hold events with positions greater than `after`, ascending; backward pages hold
/// events with positions less than `after`, descending (`Int64.max` for "from the newest").
/// A position is a version, or a sequence id for `"@all"`. The backend scans at most `limit`
/// events (fewer when they pass `byteBudget`, but always at least one), keeps those `filter`
/// accepts, and reports how far it scanned.
package struct ReadRequest: Sendable {
    package let streamID: String
    package let after: Int64
    package let direction: ReadDirection
    package let limit: Int
    package let filter: CompiledFilter?
    package let byteBudget: Int

    package init(
        streamID: String, after: Int64, direction: ReadDirection, limit: Int,
        filter: CompiledFilter?, byteBudget: Int = 4 * 1024 * 1024
    ) {
        precondition(limit > 0, "a page holds at least one event")
        self.streamID = streamID
        self.after = after
        self.direction = direction
        self.limit = limit
        self.filter = filter
        self.byteBudget = byteBudget
    }

    /// Whether the request reads the global stream.
    package var isAll: Bool { streamID == StreamName.all }

    /// The position of `event` in the stream this request reads.
    package func position(of event: StoredEvent) -> Int64 { isAll ? event.sequenceID : event.version }
}

/// What a backend returns for a `ReadRequest`.
package struct ReadPage: Sendable {
    /// The scanned events that the filter accepts, in the request's direction.
    package var events: [StoredEvent]
    /// The position of the last event scanned, `nil` when none was.
    package var lastScanned: Int64?
    /// True when the scan reached the end of what was committed (so fewer than `limit` were scanned,
    /// or the budget was not what stopped it).
    package var isEnd: Bool

    package init(events: [StoredEvent], lastScanned: Int64?, isEnd: Bool) {
        self.events = events
        self.lastScanned = lastScanned
        self.isEnd = isEnd
    }
}

/// The committed head of a stream or of the store.
package struct StreamHead: Sendable, Hashable {
    /// The stream's version, or the head sequence id for `"@all"`.
    package var version: Int64
    /// The number of events.
    package var eventCount: Int64
    /// The newest event's timestamp.
    package var lastTimestamp: Date?

    package init(version: Int64, eventCount: Int64, lastTimestamp: Date?) {
        self.version = version
        self.eventCount = eventCount
        self.lastTimestamp = lastTimestamp
    }

    package static let empty = StreamHead(version: 0, eventCount: 0, lastTimestamp: nil)
}
