import Logging

/// What every store shares: its storage backend, the watch hub and the gate that `close` shuts.
/// Each public store type owns one and forwards to it.
///
/// Thread-safety: immutable references to thread-safe parts.
package final class StoreRuntime: Sendable {
    package let storage: any EventStorage
    package let hub: WatchHub
    package let gate = OperationGate()
    package let logger: Logger

    package init(storage: any EventStorage, hub: WatchHub, logger: Logger) {
        self.storage = storage
        self.hub = hub
        self.logger = logger
    }

    /// Opens a handle on `streamID`.
    package func stream(_ streamID: String) async throws -> EventStream {
        try Validation.checkStreamID(streamID)
        let head = try await gate.run { try await storage.head(of: streamID) }
        return EventStream(streamID: streamID, runtime: self, version: head.version)
    }

    /// `EventStore.write(_:)`: checks every write before storage sees any, then appends them as one
    /// unit and wakes the watchers of the streams that changed.
    package func write(_ writes: [StreamWrite]) async throws -> [Int64] {
        guard !writes.isEmpty else { return [] }
        let requests = try Validation.prepareWrites(writes)
        let results = try await gate.run { try await storage.appendAtomically(requests) }
        for (request, result) in zip(requests, results) where result.appendedCount > 0 {
            hub.notify(streamID: request.streamID)
        }
        return results.map(\.version)
    }

    /// Every snapshot of the store.
    package func snapshots() async throws -> [Snapshot] { try await gate.run { try await storage.snapshots() } }

    /// Stores a snapshot as it is, timestamp included (for copies).
    package func saveSnapshot(_ snapshot: Snapshot) async throws {
        try await gate.run { try await storage.saveSnapshot(snapshot) }
    }

    /// Counts for `eventlog stats`.
    package func statistics() async throws -> StoreStatistics { try await gate.run { try await storage.statistics() } }

    /// Closes once: refuses new operations, finishes watches, waits for operations in flight,
    /// then closes storage. Later calls return at once.
    package func close() async throws {
        guard gate.close() else { return }
        hub.close()
        await gate.drain()
        try await storage.close()
    }
}
