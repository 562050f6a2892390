import EventSourcing

/// A small bank on an event store: one stream per account (`account-<name>`).
struct Bank {
    let store: any EventStore

    enum Refusal: Error, CustomStringConvertible {
        case insufficientFunds(account: String, balance: Int, wanted: Int)
        var description: String {
            switch self {
            case .insufficientFunds(let account, let balance, let wanted):
                return "\(account) has \(balance), not \(wanted)"
            }
        }
    }

    static func streamID(_ account: String) -> String { "account-\(account)" }

    /// Opens an account with a first deposit; opening it again does nothing (idempotency keys).
    func open(_ account: String, deposit: Int) async throws {
        let stream = try await store.stream(Self.streamID(account))
        try await stream.write([
            try CandidateEvent(AccountOpened(owner: account), idempotencyKey: "open"),
            try CandidateEvent(Deposited(amount: deposit), idempotencyKey: "first-deposit"),
        ])
    }

    /// The balance and the version it reflects, from the latest snapshot and the events after it.
    func balance(_ account: String) async throws -> (balance: Int, version: Int64) {
        let (balance, version) = try await store.stream(Self.streamID(account)).project(Balance.self, snapshotEvery: 2)
        return (balance, version)
    }

    /// Moves `amount` between two accounts in one write to both streams: both halves are stored or
    /// neither. The expected versions make a concurrent change of either account a conflict, and
    /// the transfer is tried again on fresh balances. `id` makes a retried call idempotent.
    func transfer(_ amount: Int, from: String, to: String, id: String) async throws {
        while true {
            let (balance, version) = try await self.balance(from)
            let toVersion = try await store.stream(Self.streamID(to)).metrics().currentVersion
            guard balance >= amount else { throw Refusal.insufficientFunds(account: from, balance: balance, wanted: amount) }
            do {
                try await store.write([
                    StreamWrite(
                        Self.streamID(from), [try CandidateEvent(Withdrawn(amount: amount, transfer: id), idempotencyKey: id)],
                        expectedVersion: .exact(version)),
                    StreamWrite(
                        Self.streamID(to), [try CandidateEvent(Deposited(amount: amount, transfer: id), idempotencyKey: id)],
                        expectedVersion: .exact(toVersion)),
                ])
                return
            } catch EventStoreError.concurrencyConflict {
                continue
            }
        }
    }
}
