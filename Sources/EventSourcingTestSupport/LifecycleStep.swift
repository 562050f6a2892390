import EventSourcingCore
import Foundation

/// One step of a compaction round (`CompactionHarness`): a write to a stream, a snapshot of it, a
/// lifecycle change of a stream (delete, tombstone, truncate, a retention by count), or a
/// compaction of the store.
/// The same step runs on the log store under test and on the in-memory model of it.
///
/// Thread-safety: a value type.
package enum LifecycleStep: Sendable, CustomStringConvertible {
    case write(String, [CandidateEvent])
    case delete(String, ExpectedVersion)
    case tombstone(String, ExpectedVersion)
    case truncate(String, before: Int64)
    /// `setRetention(Retention(maxCount:))`, or `setRetention(nil)` for `nil`. Never a `maxAge`:
    /// what an age hides depends on the clock, and the model could not replay it.
    case setRetention(String, maxCount: Int64?)
    /// A snapshot (projection "default") at the stream's version as a new handle reads it.
    case snapshot(String, Data)
    case compact

    /// What a step that ran told its caller, and how sure the check is of its effect.
    package enum Status: Sendable, Equatable {
        /// It returned before any power loss (a write: with this version), and it is durable.
        case done(Int64?)
        /// A `.buffered` write returned with this version, and no later sync of the log covered it:
        /// a power loss may take it (with every later such write: the log keeps a prefix).
        case unsynced(Int64)
        /// It was refused for what the store held (`streamDeleted`, `concurrencyConflict`,
        /// `invalidArgument`): it changed nothing, and the model must refuse it too.
        case refused
        /// It was in flight when the power went, or it failed with an I/O error: it may or may
        /// not have taken effect.
        case uncertain
    }

    /// The stream the step changes (`nil` for a compaction).
    package var streamID: String? {
        switch self {
        case .write(let id, _), .delete(let id, _), .tombstone(let id, _), .truncate(let id, _),
            .setRetention(let id, _), .snapshot(let id, _):
            id
        case .compact: nil
        }
    }

    package var isWrite: Bool { if case .write = self { true } else { false } }

    package var isCompaction: Bool { if case .compact = self { true } else { false } }

    package var isSnapshot: Bool { if case .snapshot = self { true } else { false } }

    /// Whether the step is a lifecycle change (not a write, a snapshot or a compaction).
    package var isLifecycleChange: Bool { !isWrite && !isCompaction && !isSnapshot }

    /// Runs the step.
    /// - Returns: a write's version, a compaction's count of events removed, `nil` for a change.
    /// - Throws: what the store throws.
    package func run(on store: any EventStore) async throws -> Int64? {
        switch self {
        case .write(let id, let events):
            return try await store.stream(id).write(events)
        case .delete(let id, let expected):
            try await store.stream(id).delete(expectedVersion: expected)
        case .tombstone(let id, let expected):
            try await store.stream(id).tombstone(expectedVersion: expected)
        case .truncate(let id, let before):
            try await store.stream(id).truncate(before: before)
        case .setRetention(let id, let maxCount):
            try await store.stream(id).setRetention(maxCount.map { Retention(maxCount: $0) })
        case .snapshot(let id, let state):
            try await store.stream(id).snapshot(state)
        case .compact:
            return try await store.compact().eventsRemoved
        }
        return nil
    }

    /// Whether `error` refuses the step for what the store holds (so it changed nothing), rather
    /// than reporting a failure of the storage.
    package static func isRefusal(_ error: any Error) -> Bool {
        switch error as? EventStoreError {
        case .streamDeleted, .concurrencyConflict, .invalidArgument: true
        default: false
        }
    }

    package var description: String {
        switch self {
        case .write(let id, let events):
            let keys = events.compactMap(\.idempotencyKey)
            return "write \(events.count) to '\(id)'" + (keys.isEmpty ? "" : " (keys \(keys.joined(separator: ", ")))")
        case .delete(let id, let expected): return "delete '\(id)' expecting \(expected)"
        case .tombstone(let id, let expected): return "tombstone '\(id)' expecting \(expected)"
        case .truncate(let id, let before): return "truncate '\(id)' before \(before)"
        case .setRetention(let id, let maxCount):
            return "setRetention(\(maxCount.map { "maxCount: \($0)" } ?? "nil")) on '\(id)'"
        case .snapshot(let id, let state): return "snapshot of '\(id)' (\(state.count) bytes)"
        case .compact: return "compact()"
        }
    }
}
