import Foundation
import Synchronization

/// Storage in memory, behind one mutex: appends are atomic and visible in sequence order because
/// they happen under the lock.
///
/// Thread-safety: safe to use from any task.
final class InMemoryStorage: EventStorage {
    private struct StreamState {
        var sequenceIDs: [Int64] = []  // index = version - 1; 0 once compacted away
        var keys: [String: Int64] = [:]  // key -> version
        var lifecycle = StreamLifecycle.none

        var version: Int64 { Int64(sequenceIDs.count) }
    }

    private struct SnapshotKey: Hashable {
        let streamID: String
        let projection: String
    }

    private struct State {
        var log: [StoredEvent?] = []  // index = sequence id - 1; nil once compacted away
        var streams: [String: StreamState] = [:]
        var snapshots: [SnapshotKey: Snapshot] = [:]
    }

    private let state = Mutex(State())
    let subscriptions: any SubscriptionStorage = InMemorySubscriptions()

    func append(_ request: AppendRequest) async throws -> AppendResult {
        try state.withLock { state in
            let events = try Self.resolve(request, in: state)
            return Self.store(events, of: request, in: &state)
        }
    }

    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult] {
        try state.withLock { state in
            // The streams are distinct, so each resolves against the state as it is; any conflict
            // throws before anything is stored.
            let resolved = try requests.map { try Self.resolve($0, in: state) }
            return zip(requests, resolved).map { request, events in Self.store(events, of: request, in: &state) }
        }
    }

    private static func resolve(_ request: AppendRequest, in state: State) throws -> [CandidateEvent] {
        let stream = state.streams[request.streamID] ?? StreamState()
        let now = Timestamp.nowMicroseconds()
        return try request.resolve(currentVersion: stream.version, lifecycle: stream.lifecycle) { key in
            guard let version = stream.keys[key] else { return false }
            return !isHidden(version: version, of: stream, in: state, now: now)
        }
    }

    /// Whether the event at `version` of `stream` is hidden now (or compacted away).
    private static func isHidden(version: Int64, of stream: StreamState, in state: State, now: Int64) -> Bool {
        let sequenceID = stream.sequenceIDs[Int(version - 1)]
        guard sequenceID > 0, let event = state.log[Int(sequenceID - 1)] else { return true }
        return isHidden(event, in: state, now: now)
    }

    /// Whether `event` is hidden now by its stream's lifecycle.
    private static func isHidden(_ event: StoredEvent, in state: State, now: Int64) -> Bool {
        guard let stream = state.streams[event.streamID], !stream.lifecycle.isNone else { return false }
        return stream.lifecycle.hides(
            version: event.version, timestampMicros: Timestamp.microseconds(event.timestamp),
            streamVersion: stream.version, nowMicros: now)
    }

    /// Appends `events` (what `resolve` kept of `request`) at the end of the log.
    private static func store(_ events: [CandidateEvent], of request: AppendRequest, in state: inout State)
        -> AppendResult
    {
        var stream = state.streams[request.streamID] ?? StreamState()
        let current = stream.version
        guard !events.isEmpty else { return AppendResult(version: current, appendedCount: 0) }
        let timestamp = Timestamp.date(microseconds: request.timestampMicros ?? Timestamp.nowMicroseconds())
        var version = current
        for event in events {
            version += 1
            let sequenceID = Int64(state.log.count) + 1
            state.log.append(
                StoredEvent(
                    id: event.idempotencyKey ?? String(sequenceID), streamID: request.streamID,
                    sequenceID: sequenceID, version: version, timestamp: timestamp, type: event.type,
                    data: event.data, metadata: event.metadata))
            stream.sequenceIDs.append(sequenceID)
            if let key = event.idempotencyKey { stream.keys[key] = version }
        }
        state.streams[request.streamID] = stream
        return AppendResult(version: version, appendedCount: events.count)
    }

    func read(_ request: ReadRequest) async throws -> ReadPage {
        state.withLock { state in
            var builder = PageBuilder(request: request)
            let now = Timestamp.nowMicroseconds()
            let positions: [Int64]
            let lookup: (Int64) -> StoredEvent?
            if request.isAll {
                let count = Int64(state.log.count)
                positions = InMemoryStorage.positions(count: count, request: request)
                lookup = { [log = state.log] in log[Int($0 - 1)] }
            } else {
                let sequenceIDs = state.streams[request.streamID]?.sequenceIDs ?? []
                positions = InMemoryStorage.positions(count: Int64(sequenceIDs.count), request: request)
                lookup = { [log = state.log] in
                    let sequenceID = sequenceIDs[Int($0 - 1)]
                    return sequenceID > 0 ? log[Int(sequenceID - 1)] : nil
                }
            }
            var stoppedEarly = false
            for (offset, position) in positions.enumerated() {
                let more =
                    if let event = lookup(position) {
                        builder.add(event, isHidden: Self.isHidden(event, in: state, now: now))
                    } else {
                        builder.skip(position: position)
                    }
                if !more {
                    stoppedEarly = offset < positions.count - 1
                    break
                }
            }
            return builder.finish(sourceExhausted: !stoppedEarly && positions.count < request.limit)
        }
    }

    /// The positions (1...count) a request scans, in its order, at most `limit` of them.
    private static func positions(count: Int64, request: ReadRequest) -> [Int64] {
        let window = Int64(request.limit)
        switch request.direction {
        case .forward:
            let first = max(request.after, 0) + 1
            guard first <= count else { return [] }
            return Array(first...min(count, first + window - 1))
        case .backward:
            let last = min(request.after - 1, count)
            guard last >= 1 else { return [] }
            return Array(stride(from: last, through: max(1, last - window + 1), by: -1))
        }
    }

    func head(of streamID: String) async throws -> StreamHead {
        state.withLock { state in
            let now = Timestamp.nowMicroseconds()
            let visible: [StoredEvent]
            let version: Int64
            if streamID == StreamName.all {
                version = Int64(state.log.count)
                visible = state.log.compactMap { $0 }.filter { !Self.isHidden($0, in: state, now: now) }
            } else {
                guard let stream = state.streams[streamID] else { return .empty }
                version = stream.version
                visible = stream.sequenceIDs.compactMap { $0 > 0 ? state.log[Int($0 - 1)] : nil }
                    .filter { !Self.isHidden($0, in: state, now: now) }
            }
            return StreamHead(version: version, eventCount: Int64(visible.count), lastTimestamp: visible.last?.timestamp)
        }
    }

    func saveSnapshot(_ snapshot: Snapshot) async throws {
        state.withLock {
            $0.snapshots[SnapshotKey(streamID: snapshot.streamID, projection: snapshot.projectionName)] = snapshot
        }
    }

    func loadSnapshot(streamID: String, projection: String) async throws -> Snapshot? {
        state.withLock { $0.snapshots[SnapshotKey(streamID: streamID, projection: projection)] }
    }

    func snapshots() async throws -> [Snapshot] {
        state.withLock { Array($0.snapshots.values) }
    }

    func statistics() async throws -> StoreStatistics {
        state.withLock {
            StoreStatistics(
                streams: $0.streams.count, events: Int64($0.log.count { $0 != nil }), segments: nil,
                bytesOnDisk: 0, snapshots: $0.snapshots.count)
        }
    }

    func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle {
        try state.withLock { state in
            var stream = state.streams[change.streamID] ?? StreamState()
            stream.lifecycle = try change.resolve(currentVersion: stream.version, current: stream.lifecycle)
            state.streams[change.streamID] = stream
            if change.removesSnapshots {
                state.snapshots = state.snapshots.filter { $0.key.streamID != change.streamID }
            }
            return stream.lifecycle
        }
    }

    func lifecycle(of streamID: String) async throws -> StreamLifecycle {
        state.withLock { $0.streams[streamID]?.lifecycle ?? .none }
    }

    func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String] {
        state.withLock { state in
            state.streams.filter { id, stream in
                id.hasPrefix(prefix) && (after.map { $0.utf8.lexicographicallyPrecedes(id.utf8) } ?? true)
                    && stream.lifecycle.isListed(streamVersion: stream.version)
            }
            .keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .prefix(limit).map { $0 }
        }
    }

    func compact(progress: CompactionProgress?) async throws -> CompactionReport {
        state.withLock { state in
            let now = Timestamp.nowMicroseconds()
            var removed: Int64 = 0
            var bytes: Int64 = 0
            let total = Int64(state.log.count)
            for index in state.log.indices {
                guard let event = state.log[index], Self.isHidden(event, in: state, now: now) else { continue }
                state.log[index] = nil
                state.streams[event.streamID]!.sequenceIDs[Int(event.version - 1)] = 0
                if let key = state.streams[event.streamID]!.keys.first(where: { $0.value == event.version })?.key {
                    state.streams[event.streamID]!.keys[key] = nil
                }
                removed += 1
                bytes += Int64(event.data.count + event.type.utf8.count)
                if removed % 10_000 == 0 { progress?(Int64(index + 1), total) }
            }
            progress?(total, total)
            return CompactionReport(eventsRemoved: removed, bytesReclaimed: bytes)
        }
    }

    func close() async throws {
        state.withLock { $0 = State() }
    }
}
