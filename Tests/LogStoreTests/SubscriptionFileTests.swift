import EventSourcing
import Foundation
import LogStore
import Testing

/// The log store's subscription record (`subscriptions/<name>.sub`, docs/FORMAT.md): a write torn
/// in a position slot leaves the other slot's position; damage elsewhere is reported, never read
/// as a position.
@Suite("Log store subscription records") struct SubscriptionFileTests {
    /// Writes 10 events and acknowledges positions 5, then 9, in subscription "s".
    private static func storeWithTwoAcknowledgements(in directory: TemporaryDirectory) async throws -> String {
        let store = directory.sub("store")
        try await LogEventStore.withStore(directory: store, options: smallOptions()) { store in
            try await store.stream("a").write((1...10).map { CandidateEvent(type: "E\($0)") })
            let subscription = try await store.subscribe("s")
            try await subscription.acknowledge(upTo: 5)
            try await subscription.acknowledge(upTo: 9)
            try await subscription.close()
        }
        return store
    }

    /// The record's bytes, and where its slots start (after the header, rounded up to 64).
    private static func record(_ store: String) throws -> (path: String, bytes: [UInt8], slots: Int) {
        let path = store + "/subscriptions/s.sub"
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerBytes = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        return (path, bytes, (headerBytes + 63) & ~63)
    }

    private static func position(_ store: String) async throws -> Int64 {
        try await LogEventStore.withStore(directory: store, options: smallOptions()) { store in
            try await store.subscriptions().first!.position
        }
    }

    @Test func aTornSlotLeavesThePreviousPosition() async throws {
        let directory = try TemporaryDirectory("sub-torn")
        let store = try await Self.storeWithTwoAcknowledgements(in: directory)
        #expect(try await Self.position(store) == 9)
        #expect(try await LogVerifier.verify(directory: store).isEmpty)
        // Generation 3 (position 9) is in slot 1; generation 2 (position 5) in slot 0.
        var (path, bytes, slots) = try Self.record(store)
        bytes[slots + 32 + 8] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try await Self.position(store) == 5)
        // The next acknowledgement goes to the slot after the surviving generation, and reads back.
        try await LogEventStore.withStore(directory: store, options: smallOptions()) { store in
            let subscription = try await store.subscribe("s")
            #expect(await subscription.position == 5)
            try await subscription.acknowledge(upTo: 7)
            try await subscription.close()
        }
        #expect(try await Self.position(store) == 7)
    }

    @Test func damageOutsideOneSlotIsReportedAsCorruption() async throws {
        for damage in ["header", "both slots"] {
            let directory = try TemporaryDirectory("sub-damaged")
            let store = try await Self.storeWithTwoAcknowledgements(in: directory)
            var (path, bytes, slots) = try Self.record(store)
            if damage == "header" {
                bytes[20] ^= 0x01
            } else {
                bytes[slots] ^= 0x01
                bytes[slots + 32] ^= 0x01
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let problems = try await LogVerifier.verify(directory: store)
            #expect(problems.count == 1 && problems[0].contains("s.sub"), "verify: \(problems)")
            try await LogEventStore.withStore(directory: store, options: smallOptions()) { store in
                await #expect(throws: EventStoreError.self, "\(damage)") { try await store.subscriptions() }
                do {
                    _ = try await store.subscribe("s")
                    Issue.record("a damaged record (\(damage)) opened")
                } catch let error as EventStoreError {
                    if case .corruption(let message) = error {
                        #expect(message.contains("s.sub"), "the message names the file: \(message)")
                    } else {
                        Issue.record("expected corruption, got \(error)")
                    }
                }
            }
        }
    }

    @Test func aCreationCutShortLeavesNoSubscription() async throws {
        let directory = try TemporaryDirectory("sub-created")
        let store = directory.sub("store")
        _ = try await LogEventStore.withStore(directory: store, options: smallOptions()) { store in
            try await store.stream("a").write(CandidateEvent(type: "E"))
        }
        // A crash before the rename leaves only the temporary file.
        try FileManager.default.createDirectory(atPath: store + "/subscriptions", withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: store + "/subscriptions/s.sub.tmp"))
        try await LogEventStore.withStore(directory: store, options: smallOptions()) { store in
            #expect(try await store.subscriptions().isEmpty)
            let subscription = try await store.subscribe("s", options: .init(start: .end))
            #expect(await subscription.position == 1)
            try await subscription.close()
        }
        #expect(!FileManager.default.fileExists(atPath: store + "/subscriptions/s.sub.tmp"))
    }
}
