import EventSourcing
import EventSourcingTestSupport
import Foundation
import LogStore
import Testing

/// The compaction harness's checker (`CompactionChecker`) reports a store that differs from its
/// model: a lifecycle change the store made and the model did not, hidden events shown again
/// (the lifecycle file lost), a damaged visible event; and it accepts either outcome of a step
/// of unknown outcome.
@Suite("Compaction checker self-tests") struct CompactionCheckTests {
    struct NotFound: Error {
        var reason: String
    }

    /// A round run to the end without a crash, closed cleanly, with the record of each step.
    static func cleanRun(seed: UInt64, in directory: String) async throws -> (
        CompactionRound, [CompactionChecker.Record]
    ) {
        var random = SeededRandom(seed: seed, stream: 0xC4EC)
        let round = CompactionRound(&random)
        let records = try await LogEventStore.withStore(directory: directory, options: round.options) { store in
            try await round.populate(store)
            var records: [CompactionChecker.Record] = []
            for (index, step) in round.steps.enumerated() {
                do {
                    records.append(.init(index: index, status: .done(try await step.run(on: store))))
                } catch  where LifecycleStep.isRefusal(error) {
                    records.append(.init(index: index, status: .refused))
                }
            }
            return records
        }
        return (round, records)
    }

    /// The first round from `seed` on whose store a lifecycle change returned that hides events the
    /// model would otherwise show, with the position of that change's record.
    static func roundWithAHidingChange(in work: String) async throws -> (
        String, CompactionRound, [CompactionChecker.Record], Int
    ) {
        for seed in UInt64(1)...40 {
            let directory = work + "/store-\(seed)"
            let (round, records) = try await cleanRun(seed: seed, in: directory)
            let checker = CompactionChecker(round: round)
            let all = try await checker.model(records: records, taken: []).get()
            for (position, record) in records.enumerated()
            where round.steps[record.index].isLifecycleChange && record.status == .done(nil) {
                var without = records
                without.remove(at: position)
                // Only where the steps after it stay consistent without it.
                guard case .success(let view) = try await checker.model(records: without, taken: []),
                    view.events.count > all.events.count
                else { continue }
                return (directory, round, records, position)
            }
        }
        throw NotFound(reason: "no round of seeds 1...40 has a lifecycle change that hides events")
    }

    @Test func aStoreThatMatchesItsModelPasses() async throws {
        let work = try StoreDirectory.work(named: "compaction-check-clean")
        defer { StoreDirectory.remove(work) }
        for seed in UInt64(1)...4 {
            let directory = work + "/store-\(seed)"
            let (round, records) = try await Self.cleanRun(seed: seed, in: directory)
            let outcome = await CompactionChecker(round: round).check(image: directory, records: records)
            #expect(outcome.violation == nil, "seed \(seed): \(outcome.violation ?? "")")
        }
    }

    @Test func aChangeTheModelMissesIsReported() async throws {
        let work = try StoreDirectory.work(named: "compaction-check-missed")
        defer { StoreDirectory.remove(work) }
        let (directory, round, records, position) = try await Self.roundWithAHidingChange(in: work)
        var missing = records
        missing.remove(at: position)
        let outcome = await CompactionChecker(round: round).check(image: directory, records: missing)
        let violation = try #require(outcome.violation)
        #expect(violation.contains("differs from its model"), "\(violation)")
        // Of unknown outcome, the change may have happened: then the store passes.
        var uncertain = records
        uncertain[position].status = .uncertain
        let accepted = await CompactionChecker(round: round).check(image: directory, records: uncertain)
        #expect(accepted.violation == nil, "\(accepted.violation ?? "")")
        #expect(accepted.uncertainSteps == 1)
    }

    @Test func hiddenEventsShownAgainAreReported() async throws {
        let work = try StoreDirectory.work(named: "compaction-check-lifecycle")
        defer { StoreDirectory.remove(work) }
        let (directory, round, records, _) = try await Self.roundWithAHidingChange(in: work)
        // Without the lifecycle file every event not compacted away shows again (and the heads,
        // which count the compacted events again, disagree with the reads).
        StoreDirectory.remove(directory + "/lifecycle")
        let outcome = await CompactionChecker(round: round).check(image: directory, records: records)
        let violation = try #require(outcome.violation)
        #expect(
            violation.contains("differs from its model") || violation.contains("the reads disagree"), "\(violation)")
    }

    @Test func aDamagedVisibleEventIsReported() async throws {
        let work = try StoreDirectory.work(named: "compaction-check-damage")
        defer { StoreDirectory.remove(work) }
        let directory = work + "/store"
        let (round, records) = try await Self.cleanRun(seed: 3, in: directory)
        let visible = try await LogEventStore.withStore(directory: directory, options: round.options) {
            try await FaultHarness.allEvents($0)
        }
        // One byte of a visible event's payload (stored raw: random bytes do not compress), flipped.
        var damaged = false
        search: for event in visible where event.data.count >= 100 && Set(event.data).count > 50 {
            let needle = Array(event.data.prefix(32))
            for name in StoreDirectory.files(in: directory) where name.hasPrefix("segment-") {
                guard var bytes = StoreDirectory.read(directory + "/" + name) else { continue }
                guard
                    let at = (0...(bytes.count - needle.count)).first(where: {
                        bytes[$0..<$0 + needle.count].elementsEqual(needle)
                    })
                else { continue }
                bytes[at + 20] ^= 0x10
                StoreDirectory.write(directory + "/" + name, bytes)
                damaged = true
                break search
            }
        }
        try #require(damaged, "a visible event's payload was found in a segment")
        let outcome = await CompactionChecker(round: round).check(image: directory, records: records)
        #expect(outcome.violation != nil)
    }
}
