extension StoreRuntime {
    /// `EventStore.streamIDs(prefix:after:limit:)`.
    package func streamIDs(prefix: String, after: String?, limit: Int) async throws -> [String] {
        guard limit > 0 else {
            throw EventStoreError.invalidArgument("streamIDs limit must be at least 1, got \(limit)")
        }
        return try await gate.run { try await storage.streamIDs(prefix: prefix, after: after, limit: limit) }
    }

    /// `EventStore.compact()`, with `progress` for `eventlog compact`.
    package func compact(progress: CompactionProgress? = nil) async throws -> CompactionReport {
        try await gate.run { try await storage.compact(progress: progress) }
    }

    /// Validates and applies a lifecycle change of a named stream.
    package func changeLifecycle(_ change: LifecycleChange) async throws -> StreamLifecycle {
        try Validation.checkStreamID(change.streamID)
        guard change.streamID != StreamName.all else {
            throw EventStoreError.invalidArgument(
                "'@all' cannot be deleted, truncated or given a retention: change a named stream, or set "
                    + "LogEventStore.Options.retention for the whole log")
        }
        switch change.kind {
        case .delete(let expected), .tombstone(let expected):
            try Validation.checkExpectedVersion(expected)
        case .truncate(let before):
            guard before >= 1 else {
                throw EventStoreError.invalidArgument(
                    "truncate(before: \(before)): versions start at 1, so truncate before 1 or later")
            }
        case .setRetention(let retention):
            if let count = retention?.maxCount, count < 1 {
                throw EventStoreError.invalidArgument(
                    "Retention.maxCount must be at least 1, got \(count): use delete() to hide every event")
            }
            if let age = retention?.maxAge, age <= .zero {
                throw EventStoreError.invalidArgument("Retention.maxAge must be more than zero, got \(age)")
            }
        }
        var change = change
        if case .setRetention(let retention) = change.kind, retention == Retention() {
            change = LifecycleChange(streamID: change.streamID, kind: .setRetention(nil))
        }
        return try await gate.run { try await storage.changeLifecycle(change) }
    }

    /// What is hidden of a named stream.
    package func lifecycle(of streamID: String) async throws -> StreamLifecycle {
        try Validation.checkStreamID(streamID)
        guard streamID != StreamName.all else { return .none }
        return try await gate.run { try await storage.lifecycle(of: streamID) }
    }
}

extension EventStore {
    /// Stream ids in UTF-8 byte order, after `after`, starting with `prefix`: streams with events
    /// not deleted, truncated away or tombstoned (streams hidden only by retention are listed).
    /// Page through every stream by passing the last id of one call as `after` of the next.
    /// - Parameters:
    ///   - prefix: Only ids starting with this ("" for all).
    ///   - after: Only ids greater than this, `nil` from the first.
    ///   - limit: At most this many (at least 1).
    /// - Throws: `EventStoreError.invalidArgument` for a limit below 1, `.storeClosed`, or a storage error.
    public func streamIDs(prefix: String = "", after: String? = nil, limit: Int = 1_000) async throws -> [String] {
        try await Self.runtime(of: self).streamIDs(prefix: prefix, after: after, limit: limit)
    }

    /// Removes the bytes of every hidden event (deleted, truncated, past retention) from storage,
    /// while writers, readers and watchers carry on; a crash at any instant of it loses no visible
    /// event. After a `tombstone` and a `compact()`, no byte of that stream's events is left in
    /// the store's files or tables.
    /// - Returns: How many events were removed and how many bytes the store shrank by.
    /// - Throws: `EventStoreError.readOnly`, `.storeClosed`, or a storage error.
    @discardableResult
    public func compact() async throws -> CompactionReport {
        try await Self.runtime(of: self).compact()
    }

    /// The runtime of a store of this package.
    private static func runtime(of store: Self) throws -> StoreRuntime {
        guard let backed = store as? any RuntimeBackedStore else {
            throw EventStoreError.invalidArgument(
                "\(Self.self) does not support stream listing or compaction: use a store of this package")
        }
        return backed.runtime
    }
}
