import Foundation
import Synchronization

/// Storage in memory, behind one mutex: appends are atomic and visible in sequence order because
/// they happen under the lock.
///
/// Thread-safety: safe to use from any task.
final class InMemoryStorage: EventStorage {
    private struct StreamState {
        var sequenceIDs: [Int64] = []  // index = version - 1
        var keys: Set<String> = []
    }

    private struct SnapshotKey: Hashable {
        let streamID: String
        let projection: String
    }

    private struct State {
        var log: [StoredEvent] = []  // index = sequence id - 1
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
        let stream = state.streams[request.streamID]
        return try request.resolve(currentVersion: Int64(stream?.sequenceIDs.count ?? 0)) {
            stream?.keys.contains($0) ?? false
        }
    }

    /// Appends `events` (what `resolve` kept of `request`) at the end of the log.
    private static func store(_ events: [CandidateEvent], of request: AppendRequest, in state: inout State)
        -> AppendResult
    {
        var stream = state.streams[request.streamID] ?? StreamState()
        let current = Int64(stream.sequenceIDs.count)
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
            if let key = event.idempotencyKey { stream.keys.insert(key) }
        }
        state.streams[request.streamID] = stream
        return AppendResult(version: version, appendedCount: events.count)
    }

    func read(_ request: ReadRequest) async throws -> ReadPage {
        state.withLock { state in
            var builder = PageBuilder(request: request)
            let positions: [Int64]
            let lookup: (Int64) -> StoredEvent
            if request.isAll {
                let count = Int64(state.log.count)
                positions = InMemoryStorage.positions(count: count, request: request)
                lookup = { [log = state.log] in log[Int($0 - 1)] }
            } else {
                let sequenceIDs = state.streams[request.streamID]?.sequenceIDs ?? []
                positions = InMemoryStorage.positions(count: Int64(sequenceIDs.count), request: request)
                lookup = { [log = state.log] in log[Int(sequenceIDs[Int($0 - 1)] - 1)] }
            }
            var stoppedEarly = false
            for (offset, position) in positions.enumerated() where !builder.add(lookup(position)) {
                stoppedEarly = offset < positions.count - 1
                break
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
            if streamID == StreamName.all {
                return StreamHead(
                    version: Int64(state.log.count), eventCount: Int64(state.log.count),
                    lastTimestamp: state.log.last?.timestamp)
            }
            guard let last = state.streams[streamID]?.sequenceIDs.last else { return .empty }
            let event = state.log[Int(last - 1)]
            return StreamHead(version: event.version, eventCount: event.version, lastTimestamp: event.timestamp)
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
                streams: $0.streams.count, events: Int64($0.log.count), segments: nil, bytesOnDisk: 0,
                snapshots: $0.snapshots.count)
        }
    }

    func close() async throws {
        state.withLock { $0 = State() }
    }
}
