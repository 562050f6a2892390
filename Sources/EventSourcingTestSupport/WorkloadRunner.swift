import EventSourcingCore
import Foundation

/// Issues the operations of one writer of a `Workload` against a store, one at a time, reporting
/// each attempt before the store is called and each outcome after it returns. It keeps the
/// versions its acknowledgements gave, for writes that expect a version and for snapshots.
///
/// Thread-safety: a value type; one writer task owns it.
package struct WorkloadRunner: Sendable {
    /// How an operation ended.
    package enum Outcome: Sendable {
        /// Acknowledged or, for a wrong expected version, refused as it must be.
        case done
        /// The store threw (an injected fault, a stopped store): the writer stops.
        case failed(EventStoreError)
        /// The store broke a rule the harness can see at once (a refusal of a right expected
        /// version, an acknowledgement of a wrong one, a stream shorter than acknowledged).
        case violation(String)
    }

    package let workload: Workload
    /// The stream versions the writer's acknowledgements gave.
    package private(set) var versions: [String: Int64] = [:]

    package init(workload: Workload) { self.workload = workload }

    /// Reads the current version of each stream in `streams` (after a restart or a recovery).
    package mutating func refreshVersions(from store: any EventStore, streams: [String]) async throws {
        for streamID in streams {
            versions[streamID] = try await store.stream(streamID).metrics().currentVersion
        }
    }

    /// Runs operation `id` on `store`, calling `report` before the store is called and after it returns.
    package mutating func run(_ id: Int, on store: any EventStore, report: (HistoryEvent) -> Void) async -> Outcome {
        let operation = workload.operation(id)
        if operation.isMultiStream { return await runMultiStream(operation, on: store, report: report) }
        let known = versions[operation.streamID] ?? 0
        do {
            let stream = try await store.stream(operation.streamID)
            if operation.kind == .snapshot {
                var events: [StoredEvent] = []
                if known > 0 {
                    for try await event in stream.read(from: 0, limit: Int(known)) { events.append(event) }
                }
                guard events.count == Int(known), events.last?.version ?? 0 == known else {
                    return .violation(
                        "stream '\(operation.streamID)' reads \(events.count) events, but its writes were acknowledged up to version \(known)"
                    )
                }
                let digest = EventDigest.of(events: events)
                report(.snapshotAttempt(operation: id, version: known, digest: digest))
                let state = workload.snapshotState(operation: id, version: known, digest: digest)
                try await stream.snapshot(state, version: known, projection: operation.projection)
                report(.snapshotAcknowledged(operation: id))
                return .done
            }
            let expected: ExpectedVersion
            switch operation.kind {
            case .expectedVersion: expected = known == 0 && id % 2 == 0 ? .noStream : .exact(known)
            case .wrongExpectedVersion: expected = .exact(known + 1 + Int64(id % 3))
            default: expected = known > 0 && id % 7 == 0 ? .streamExists : .any
            }
            report(.attempt(operation: id, expected: expected))
            do {
                let version = try await stream.write(operation.events, expectedVersion: expected)
                report(.acknowledged(operation: id, version: version))
                versions[operation.streamID] = version
                if operation.kind == .wrongExpectedVersion {
                    return .violation(
                        "operation \(id) expected version \(expected) of '\(operation.streamID)' at \(known) and was acknowledged"
                    )
                }
                return .done
            } catch EventStoreError.concurrencyConflict(_, _, let actual) {
                report(.rejected(operation: id))
                if operation.kind == .wrongExpectedVersion { return .done }
                return .violation(
                    "operation \(id) expected \(expected) of '\(operation.streamID)', whose writes were acknowledged up to \(known), "
                        + "and was refused: the store says \(actual)")
            }
        } catch {
            let storeError = (error as? EventStoreError) ?? .io("\(error)")
            report(.failed(operation: id, message: "\(storeError)"))
            return .failed(storeError)
        }
    }

    /// Runs a write to several streams as one `store.write([StreamWrite])` call.
    private mutating func runMultiStream(
        _ operation: Workload.Operation, on store: any EventStore, report: (HistoryEvent) -> Void
    ) async -> Outcome {
        let id = operation.id
        let expected: [ExpectedVersion] = operation.parts.map { part in
            let known = versions[part.streamID] ?? 0
            switch part.expectation {
            case .any: return .any
            case .known: return known == 0 ? .noStream : .exact(known)
            case .wrong: return .exact(known + 1 + Int64(id % 3))
            }
        }
        let isWrong = operation.parts.contains { $0.expectation == .wrong }
        let writes = zip(operation.parts, expected).map { part, expected in
            StreamWrite(part.streamID, Array(operation.events[part.range]), expectedVersion: expected)
        }
        let known = operation.parts.map { "'\($0.streamID)' at \(versions[$0.streamID] ?? 0)" }.joined(separator: ", ")
        report(.unitAttempt(operation: id, expected: expected))
        do {
            let stored = try await store.write(writes)
            report(.unitAcknowledged(operation: id, versions: stored))
            guard stored.count == operation.parts.count else {
                return .violation(
                    "operation \(id) wrote \(operation.parts.count) streams and was acknowledged with \(stored.count) versions"
                )
            }
            for (part, version) in zip(operation.parts, stored) { versions[part.streamID] = version }
            if isWrong {
                return .violation(
                    "operation \(id) (several streams: \(known)) expected versions \(expected), one of them wrong, "
                        + "and was acknowledged")
            }
            return .done
        } catch EventStoreError.concurrencyConflict(let streamID, _, let actual) {
            report(.rejected(operation: id))
            if isWrong { return .done }
            return .violation(
                "operation \(id) (several streams: \(known)) expected versions \(expected) and was refused: "
                    + "the store says '\(streamID)' is at \(actual)")
        } catch {
            let storeError = (error as? EventStoreError) ?? .io("\(error)")
            report(.failed(operation: id, message: "\(storeError)"))
            return .failed(storeError)
        }
    }
}
