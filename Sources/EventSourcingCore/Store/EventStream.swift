import Foundation
import Synchronization

/// A handle on one stream, or on the global stream `"@all"`.
///
/// The handle caches the stream's version: set when opened and after each of its writes. Two
/// handles on one stream can disagree until one of them writes or is reopened.
///
/// Thread-safety: safe to use from many tasks at once; the cached version is behind a mutex.
public final class EventStream: Sendable {
    /// The stream's id (`"@all"` for the global stream).
    public let streamID: String
    let runtime: StoreRuntime
    private let cachedVersion: Mutex<Int64>

    package init(streamID: String, runtime: StoreRuntime, version: Int64) {
        self.streamID = streamID
        self.runtime = runtime
        self.cachedVersion = Mutex(version)
    }

    var isAll: Bool { streamID == StreamName.all }

    /// This handle's last known version; for `"@all"` the store's head sequence id, read now.
    public var version: Int64 {
        get async {
            if isAll, let head = try? await runtime.gate.run({ try await runtime.storage.head(of: streamID) }) {
                return head.version
            }
            return cachedVersion.withLock { $0 }
        }
    }

    /// Appends `events` atomically and returns the stream's new version.
    ///
    /// Events whose idempotency key the stream already holds, or that an earlier event of the batch
    /// carries, are dropped. When every event is dropped the write succeeds with the current version
    /// whatever `expectedVersion` says, so retrying after a lost reply is safe. Otherwise the stream
    /// must be at `expectedVersion`, checked atomically with the append. An empty list returns the
    /// current version without checking.
    /// - Parameters:
    ///   - events: The events, in order.
    ///   - expectedVersion: The version the stream must be at; `.any` skips the check.
    /// - Returns: The stream's version after the write.
    /// - Throws: `EventStoreError.concurrencyConflict`, `.writeToAllStream`, `.invalidEvent`,
    ///   `.invalidArgument` (a negative exact version), `.readOnly`, `.storeClosed`, or a storage error.
    @discardableResult
    public func write(_ events: [CandidateEvent], expectedVersion: ExpectedVersion = .any) async throws -> Int64 {
        guard !isAll else { throw EventStoreError.writeToAllStream }
        try Validation.checkExpectedVersion(expectedVersion)
        return try await append(Validation.prepareBatch(events), expectedVersion: expectedVersion, timestampMicros: nil)
    }

    /// Appends events that keep the timestamp they had in another store (`eventlog copy`), with
    /// every rule of `write`.
    @discardableResult
    package func importEvents(
        _ events: [CandidateEvent], timestamp: Date, expectedVersion: ExpectedVersion
    ) async throws -> Int64 {
        guard !isAll else { throw EventStoreError.writeToAllStream }
        return try await append(
            Validation.prepareBatch(events), expectedVersion: expectedVersion,
            timestampMicros: Timestamp.microseconds(timestamp))
    }

    /// Appends validated events (or, for none, reads the version) and caches the new version.
    private func append(
        _ prepared: [CandidateEvent], expectedVersion: ExpectedVersion, timestampMicros: Int64?
    ) async throws -> Int64 {
        let newVersion: Int64 = try await runtime.gate.run {
            if prepared.isEmpty { return try await runtime.storage.head(of: streamID).version }
            let request = AppendRequest(
                streamID: streamID, events: prepared, expectedVersion: expectedVersion, timestampMicros: timestampMicros
            )
            let result = try await runtime.metrics.timeWrite {
                try await runtime.storage.append(request)
            } appended: { $0.appendedCount }
            if result.appendedCount > 0 { runtime.hub.notify(streamID: streamID) }
            return result.version
        }
        cachedVersion.withLock { $0 = newVersion }
        return newVersion
    }

    /// Appends one event: `write([event], expectedVersion:)`.
    @discardableResult
    public func write(_ event: CandidateEvent, expectedVersion: ExpectedVersion = .any) async throws -> Int64 {
        try await write([event], expectedVersion: expectedVersion)
    }

    /// The stream's events strictly after `from`, in order, at most `limit` of them, filtered.
    ///
    /// Positions are versions, or sequence ids for `"@all"`. Backward reads start at the newest
    /// event, or just below `from` when `from > 0`. Errors (a bad filter, a negative argument, a
    /// closed store) are thrown by the iteration.
    /// - Complexity: proportional to the events scanned; pages are read lazily as iteration goes.
    public func read(
        from: Int64 = 0, direction: ReadDirection = .forward, limit: Int? = nil,
        filter: EventFilter? = nil
    ) -> Events {
        Events(
            mode: .read(direction: direction, limit: limit), streamID: streamID, from: from,
            filter: filter, runtime: runtime)
    }

    /// History after `from`, then live events, with no gap and no duplicate, in order, until the
    /// consumer stops iterating, its task is cancelled, or the store closes.
    ///
    /// With `from == nil` only events written after iteration starts are yielded.
    public func watch(from: Int64? = nil, filter: EventFilter? = nil) -> Events {
        Events(mode: .watch, streamID: streamID, from: from, filter: filter, runtime: runtime)
    }

    /// Saves `state` as the latest snapshot of `projection`, replacing the previous one atomically.
    /// - Parameters:
    ///   - state: The bytes to save; `loadSnapshot` returns exactly them.
    ///   - version: The version the state reflects; defaults to this handle's version. Required for
    ///     `"@all"`, where it is a global sequence id.
    ///   - projection: The projection's name.
    /// - Throws: `EventStoreError.snapshotVersionRequired`, `.invalidArgument`, `.readOnly`,
    ///   `.storeClosed`, or a storage error.
    public func snapshot(_ state: Data, version: Int64? = nil, projection: String = "default") async throws {
        if isAll, version == nil { throw EventStoreError.snapshotVersionRequired }
        try Validation.checkProjection(projection)
        let snapshotVersion = version ?? cachedVersion.withLock { $0 }
        guard snapshotVersion >= 0 else {
            throw EventStoreError.invalidArgument("a snapshot version is at least 0, not \(snapshotVersion)")
        }
        guard state.count <= Limits.snapshotStateBytesMax else {
            throw EventStoreError.invalidArgument(
                "a snapshot state is at most \(Limits.snapshotStateBytesMax) bytes, this one has \(state.count)")
        }
        let snapshot = Snapshot(
            streamID: streamID, projectionName: projection, version: snapshotVersion, state: state,
            timestamp: Timestamp.date(microseconds: Timestamp.nowMicroseconds()))
        try await runtime.gate.run { try await runtime.storage.saveSnapshot(snapshot) }
    }

    /// The latest snapshot of `projection`, or `nil` when none was saved.
    public func loadSnapshot(projection: String = "default") async throws -> Snapshot? {
        try Validation.checkProjection(projection)
        return try await runtime.gate.run {
            try await runtime.storage.loadSnapshot(streamID: streamID, projection: projection)
        }
    }

    /// The stream's current version, event count and newest timestamp (for `"@all"`: the head
    /// sequence id, the total number of events, the newest timestamp), read from storage now.
    public func metrics() async throws -> StreamMetrics {
        let head = try await runtime.gate.run { try await runtime.storage.head(of: streamID) }
        return StreamMetrics(
            currentVersion: head.version, eventCount: head.eventCount, lastTimestamp: head.lastTimestamp)
    }
}
