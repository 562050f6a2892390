extension EventStream {
    /// Hides every event of the stream and its snapshots, at once and durably; the version stays,
    /// and a later write continues from it. `compact()` reclaims the space.
    /// - Parameter expectedVersion: The version the stream must be at; `.any` skips the check.
    /// - Throws: `EventStoreError.concurrencyConflict`, `.streamDeleted` for a tombstoned stream,
    ///   `.invalidArgument` for `"@all"`, `.readOnly`, `.storeClosed`, or a storage error.
    public func delete(expectedVersion: ExpectedVersion = .any) async throws {
        _ = try await runtime.changeLifecycle(LifecycleChange(streamID: streamID, kind: .delete(expectedVersion)))
    }

    /// Deletes the stream for good: its events and snapshots are hidden, later writes throw
    /// `EventStoreError.streamDeleted`, and `streamIDs` omits it. A second tombstone succeeds.
    /// - Parameter expectedVersion: The version the stream must be at; `.any` skips the check.
    /// - Throws: `EventStoreError.concurrencyConflict`, `.invalidArgument` for `"@all"`,
    ///   `.readOnly`, `.storeClosed`, or a storage error.
    public func tombstone(expectedVersion: ExpectedVersion = .any) async throws {
        _ = try await runtime.changeLifecycle(LifecycleChange(streamID: streamID, kind: .tombstone(expectedVersion)))
    }

    /// Hides the versions below `version`, at once and durably (versions already hidden stay hidden).
    /// - Parameter version: The first version to keep: from 1 to the stream's version + 1.
    /// - Throws: `EventStoreError.invalidArgument` for a version out of that range or `"@all"`,
    ///   `.streamDeleted`, `.readOnly`, `.storeClosed`, or a storage error.
    public func truncate(before version: Int64) async throws {
        _ = try await runtime.changeLifecycle(LifecycleChange(streamID: streamID, kind: .truncate(before: version)))
    }

    /// Keeps at most `retention.maxCount` newest events and none older than `retention.maxAge`,
    /// for the events stored and those written later; survives reopening. `nil` keeps everything
    /// from now on: events that `maxCount` hid stay hidden, while those only `maxAge` hid show
    /// again unless `compact()` has removed them.
    /// - Throws: `EventStoreError.invalidArgument` for a bound below 1 or `"@all"`,
    ///   `.streamDeleted`, `.readOnly`, `.storeClosed`, or a storage error.
    public func setRetention(_ retention: Retention?) async throws {
        _ = try await runtime.changeLifecycle(LifecycleChange(streamID: streamID, kind: .setRetention(retention)))
    }

    /// The stream's retention, `nil` when it has none.
    /// - Throws: `EventStoreError.storeClosed`, or a storage error.
    public func retention() async throws -> Retention? {
        try await runtime.lifecycle(of: streamID).retention
    }
}
