import EventSourcingCore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Group commit for PostgreSQL: appends from every task of this process queue here, and one
/// call of `append_batch` (one statement, so one transaction and one commit flush) stores
/// everything queued, up to `Options.groupEventsMax` events, while the next group gathers.
///
/// A group whose statement fails on the server for a reason of its own (not a lost connection)
/// is run again one append at a time, so that one bad append fails alone. A lost connection fails
/// the whole group with `unavailable`: its commit may or may not have happened, and a retry with
/// the same idempotency keys is safe.
///
/// Thread-safety: the queue is behind a mutex; one drain task runs at a time.
final class PostgresWriter: Sendable {
    /// One call waiting: a single append, or the appends of a write to several streams, which
    /// go to the server alone, as one unit (`atomic`).
    private struct Pending {
        let requests: [AppendRequest]
        let atomic: Bool
        let continuation: CheckedContinuation<[AppendResult], any Error>

        var eventCount: Int { requests.reduce(0) { $0 + $1.events.count } }
    }

    private struct State {
        var queue: [Pending] = []
        var isDraining = false
        var isClosed = false
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let client: PostgresClient
    private let schema: PostgresSchema
    private let options: PostgresEventStore.Options
    private let state = Mutex(State())
    private let reachability: PostgresReachability

    init(
        client: PostgresClient, schema: PostgresSchema, options: PostgresEventStore.Options,
        reachability: PostgresReachability
    ) {
        self.reachability = reachability
        self.client = client
        self.schema = schema
        self.options = options
    }

    func append(_ request: AppendRequest) async throws -> AppendResult {
        try await enqueue([request], atomic: false)[0]
    }

    /// Appends to several streams as one unit: one call of `append_batch` of its own, which stores
    /// all of it or, when any append fails its check, nothing (that append's conflict is thrown).
    func appendAtomically(_ requests: [AppendRequest]) async throws -> [AppendResult] {
        try await enqueue(requests, atomic: true)
    }

    private func enqueue(_ requests: [AppendRequest], atomic: Bool) async throws -> [AppendResult] {
        try await withCheckedThrowingContinuation { continuation in
            let startDrain: Bool? = state.withLock { state in
                if state.isClosed { return nil }
                state.queue.append(Pending(requests: requests, atomic: atomic, continuation: continuation))
                if state.isDraining { return false }
                state.isDraining = true
                return true
            }
            switch startDrain {
            case nil: continuation.resume(throwing: EventStoreError.storeClosed)
            case true?: Task { await self.drain() }
            case false?: break
            }
        }
    }

    /// Waits for every queued append to finish; later appends throw `storeClosed`.
    func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                state.isClosed = true
                if state.isDraining { state.drained.append(done) }
                return !state.isDraining
            }
            if idle { done.resume() }
        }
    }

    private func drain() async {
        while true {
            let (group, closeWaiters) = state.withLock { state -> ([Pending], [CheckedContinuation<Void, Never>]) in
                if state.queue.isEmpty {
                    state.isDraining = false
                    defer { state.drained = [] }
                    return ([], state.drained)
                }
                // Single appends group up to the limit; a unit of several streams goes alone.
                var events = 0
                var taken = 0
                while taken < state.queue.count,
                    taken == 0
                        || (!state.queue[0].atomic && !state.queue[taken].atomic
                            && events + state.queue[taken].eventCount <= options.groupEventsMax)
                {
                    events += state.queue[taken].eventCount
                    taken += 1
                }
                defer { state.queue.removeFirst(taken) }
                return (Array(state.queue.prefix(taken)), [])
            }
            if group.isEmpty {
                for continuation in closeWaiters { continuation.resume() }
                return
            }
            await commit(group)
        }
    }

    private func commit(_ group: [Pending]) async {
        let atomic = group.count == 1 && group[0].atomic
        let requests = group.flatMap(\.requests)
        do {
            let results = try await run(requests, atomic: atomic)
            if atomic {
                group[0].continuation.resume(with: Result { try results.map { try $0.get() } })
            } else {
                for (pending, result) in zip(group, results) { pending.continuation.resume(with: result.map { [$0] }) }
            }
        } catch let error where group.count > 1 && PostgresErrors.isStatementError(error) {
            // One append broke the statement (text PostgreSQL cannot hold, say): each alone.
            for pending in group { await commit([pending]) }
        } catch {
            let mapped = PostgresErrors.map(error, "appending to '\(requests[0].streamID)'")
            for pending in group { pending.continuation.resume(throwing: mapped) }
        }
    }

    /// Runs `append_batch` for `requests`: the per-request results, in order (a conflict, or
    /// `streamDeleted` for a tombstoned stream, fails that request). Deadlocks and
    /// serialization failures (which roll back everything) are retried a few times.
    private func run(_ requests: [AppendRequest], atomic: Bool) async throws -> [Result<AppendResult, any Error>] {
        let query = Self.query(requests, atomic: atomic, schema: schema)
        let client = self.client
        let logger = options.logger
        var attempt = 0
        while true {
            do {
                let rows = try await withTimeout(
                    options.timeout, "appending to '\(requests[0].streamID)'", reachability: reachability
                ) {
                    try await client.query(query, logger: logger).collect()
                }
                guard rows.count == requests.count else {
                    throw EventStoreError.io(
                        "append_batch returned \(rows.count) results for \(requests.count) appends")
                }
                return try zip(requests, rows).map { request, row in
                    let cells = row.makeRandomAccess()
                    let outcome = try cells[0].decode(Int32.self)
                    let version = try cells[1].decode(Int64.self)
                    if outcome == 2 { return .failure(EventStoreError.streamDeleted(request.streamID)) }
                    guard outcome == 0 else {
                        return .failure(
                            EventStoreError.concurrencyConflict(
                                streamID: request.streamID, expected: request.expectedVersion, actual: version))
                    }
                    return .success(AppendResult(version: version, appendedCount: Int(try cells[2].decode(Int32.self))))
                }
            } catch  where PostgresErrors.isRetryable(error) && attempt < 5 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(attempt * 5))
            }
        }
    }

    /// The call of `append_batch` with every request's events bound as arrays.
    static func query(_ requests: [AppendRequest], atomic: Bool, schema: PostgresSchema) -> PostgresQuery {
        var streams: [String] = []
        var expected: [Int64] = []
        var counts: [Int32] = []
        var micros: [Int64] = []
        var requestOfEvent: [Int32] = []
        var types: [String] = []
        var hasKey: [Bool] = []
        var keys: [String] = []
        var metadata: [String] = []
        var data: [ByteBuffer] = []
        let total = requests.reduce(0) { $0 + $1.events.count }
        types.reserveCapacity(total)
        requestOfEvent.reserveCapacity(total)
        hasKey.reserveCapacity(total)
        keys.reserveCapacity(total)
        metadata.reserveCapacity(total)
        data.reserveCapacity(total)
        var metadataBytes: [UInt8] = []
        for (number, request) in requests.enumerated() {
            streams.append(request.streamID)
            switch request.expectedVersion {
            case .any: expected.append(-1)
            case .streamExists: expected.append(-2)
            case .noStream: expected.append(0)
            case .exact(let version): expected.append(version)
            }
            counts.append(Int32(request.events.count))
            micros.append(request.timestampMicros ?? -1)
            for event in request.events {
                requestOfEvent.append(Int32(number + 1))
                types.append(event.type)
                hasKey.append(event.idempotencyKey != nil)
                keys.append(event.idempotencyKey ?? "")
                if let members = event.metadata {
                    metadataBytes.removeAll(keepingCapacity: true)
                    JSONValue.writeObject(members, to: &metadataBytes)
                    metadata.append(String(decoding: metadataBytes, as: UTF8.self))
                } else {
                    metadata.append("")
                }
                data.append(ByteBuffer(bytes: event.data))
            }
        }
        var bindings = PostgresBindings(capacity: 11)
        bindings.append(streams)
        bindings.append(expected)
        bindings.append(counts)
        bindings.append(micros)
        bindings.append(requestOfEvent)
        bindings.append(types)
        bindings.append(hasKey)
        bindings.append(keys)
        bindings.append(metadata)
        bindings.append(data)
        bindings.append(atomic)
        return PostgresQuery(
            unsafeSQL:
                "SELECT outcome, stream_version, appended FROM \(schema.table("append_batch"))($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            binds: bindings)
    }
}
