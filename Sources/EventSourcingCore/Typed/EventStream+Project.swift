import Foundation

extension EventStream {
    /// The state of projection `P` over this stream, and the version it reflects (a sequence id
    /// for `"@all"`): the latest snapshot of `P.name`, then every event after it.
    ///
    /// The result is the same as a replay from version 0: a snapshot that does not decode as
    /// `P.State`, or that claims a version past the stream's end, is ignored (and replaced).
    /// A new snapshot is saved when more than `snapshotEvery` events were replayed (`nil`: never);
    /// on a read-only store, saving is skipped.
    /// - Throws: `EventStoreError.invalidArgument` for a `snapshotEvery` below 1 or a bad
    ///   projection name, what `P.apply` throws, `.storeClosed`, or a storage error.
    public func project<P: Projection>(
        _ projection: P.Type, snapshotEvery: Int64? = 1_000
    ) async throws -> (state: P.State, version: Int64) {
        if let snapshotEvery, snapshotEvery < 1 {
            throw EventStoreError.invalidArgument("'snapshotEvery' is at least 1 (or nil), not \(snapshotEvery)")
        }
        try Validation.checkProjection(P.name)
        var state = P.initialState
        var version: Int64 = 0
        var snapshotIsBad = false
        let head = try await metrics().currentVersion
        if let snapshot = try await loadSnapshot(projection: P.name) {
            if snapshot.version <= head, let cached = try? PayloadDecoder.decode(P.State.self, from: snapshot.state) {
                state = cached
                version = snapshot.version
            } else {
                snapshotIsBad = true
            }
        }
        var replayed: Int64 = 0
        for try await event in read(from: version) {
            try P.apply(&state, event)
            version = isAll ? event.sequenceID : event.version
            replayed += 1
        }
        if let snapshotEvery, replayed > snapshotEvery || snapshotIsBad,
            let encoded = try? PayloadEncoder.encode(state)
        {
            do {
                try await snapshot(encoded, version: version, projection: P.name)
            } catch EventStoreError.readOnly {
                // A read-only store keeps no cache; the state is right all the same.
            }
        }
        return (state, version)
    }
}
