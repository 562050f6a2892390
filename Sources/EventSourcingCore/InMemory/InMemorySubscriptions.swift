import Synchronization

/// Subscriptions of the in-memory store: records in a dictionary; a hold is a flag on its record.
///
/// Thread-safety: state is behind a mutex.
final class InMemorySubscriptions: SubscriptionStorage {
    private struct Entry {
        /// `nil` while the first holder creates it.
        var record: SubscriptionRecord?
        var isHeld: Bool
    }

    private let entries = Mutex<[String: Entry]>([:])

    func acquire(
        _ name: String, creating: @Sendable () async throws -> SubscriptionRecord
    ) async throws -> (record: SubscriptionRecord, hold: any SubscriptionHold) {
        let existing: SubscriptionRecord? = try entries.withLock { entries in
            if let entry = entries[name] {
                guard !entry.isHeld else { throw EventStoreError.subscriptionBusy(name) }
                entries[name]!.isHeld = true
                return entry.record
            }
            entries[name] = Entry(record: nil, isHeld: true)
            return nil
        }
        if let existing { return (existing, Hold(name: name, owner: self)) }
        do {
            let record = try await creating()
            entries.withLock { $0[name]!.record = record }
            return (record, Hold(name: name, owner: self))
        } catch {
            _ = entries.withLock { $0.removeValue(forKey: name) }
            throw error
        }
    }

    func records() async throws -> [SubscriptionRecord] {
        entries.withLock { $0.values.compactMap(\.record) }.sorted { $0.name < $1.name }
    }

    func delete(_ name: String) async throws {
        try entries.withLock { entries in
            guard let entry = entries[name] else {
                throw EventStoreError.invalidArgument("there is no subscription named '\(name)'")
            }
            guard !entry.isHeld else { throw EventStoreError.subscriptionBusy(name) }
            entries[name] = nil
        }
    }

    private final class Hold: SubscriptionHold {
        let name: String
        let owner: InMemorySubscriptions

        init(name: String, owner: InMemorySubscriptions) {
            self.name = name
            self.owner = owner
        }

        func record(position: Int64) async throws {
            owner.entries.withLock { $0[name]?.record?.position = position }
        }

        func release() async {
            owner.entries.withLock { $0[name]?.isHeld = false }
        }
    }
}
