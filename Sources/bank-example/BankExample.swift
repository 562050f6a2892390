import EventSourcing
import Foundation

/// A small bank: accounts as streams, typed events, transfers written to two streams at once, a
/// balance projection with snapshots, and a ledger projector on a durable subscription that
/// carries on where it stopped when the program runs again on the same store.
///
///     bank-example [STORE-DIRECTORY]
@main
struct BankExample {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let directory =
            arguments.first
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("bank-\(UUID().uuidString)").path
        try await LogEventStore.withStore(directory: directory) { store in
            let bank = Bank(store: store)
            try await bank.open("alice", deposit: 100)
            try await bank.open("bob", deposit: 20)
            let run = try await store.stream("@all").metrics().currentVersion
            try await bank.transfer(30, from: "alice", to: "bob", id: "transfer-\(run)")
            do {
                try await bank.transfer(1_000, from: "bob", to: "alice", id: "too-much-\(run)")
            } catch let refusal as Bank.Refusal {
                print("refused: \(refusal)")
            }
            for account in ["alice", "bob"] {
                let (balance, version) = try await bank.balance(account)
                print("\(account): \(balance) at version \(version)")
            }
            try await runLedger(store)
        }
    }

    /// The ledger projector: totals every deposit and withdrawal of every account, acknowledging
    /// as it goes, until it has caught up with the store's head.
    static func runLedger(_ store: any EventStore) async throws {
        let subscription = try await store.subscribe(
            "ledger", options: .init(filter: EventFilter([.like("stream_id", "account-%")])))
        let head = try await store.stream("@all").metrics().currentVersion
        let resumedAfter = await subscription.position
        var deposited = 0
        var withdrawn = 0
        if resumedAfter < head {
            for try await event in subscription.events() {
                switch event.type {
                case Deposited.eventType: deposited += try event.decode(Deposited.self).amount
                case Withdrawn.eventType: withdrawn += try event.decode(Withdrawn.self).amount
                default: break
                }
                try await subscription.acknowledge(event)
                if event.sequenceID >= head { break }
            }
        }
        print("ledger: resumed after \(resumedAfter), deposited \(deposited), withdrawn \(withdrawn), now at \(await subscription.position)")
        try await subscription.close()
    }
}
