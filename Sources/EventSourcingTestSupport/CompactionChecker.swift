import EventSourcingCore
import Foundation
import LogStore

/// Checks a log store recovered after a power loss in a compaction round (`CompactionHarness`)
/// against a model: an `InMemoryEventStore` (which applies the same lifecycle rule, from the core)
/// that replays the populating batches and the steps that took effect.
///
/// A step that returned before the power went took effect (a `.buffered` write only once a later
/// sync of the log covered it: of those not covered, the log keeps a prefix); a step refused for
/// what the store held changed nothing; a step in flight at the crash, or failed by an I/O error,
/// may or may not have taken effect (a deletion that did not may still have removed the stream's
/// snapshots, which it removes first). Every combination of those is tried, and the recovered store
/// must equal the model of one of them:
/// - `@all` shows exactly the model's visible events (sequence ids, streams, versions, types, data,
///   metadata, ids): nothing visible lost, nothing hidden visible again, no sequence id renumbered;
/// - every stream's head (version, visible count) and retention, and `streamIDs()`, are the model's;
/// - its reads agree with each other (`StoreView.read`): each stream forward, backward and from the
///   middle through its index gives exactly its events in `@all`, so the indexes match the log.
///
/// Then, on the recovered store: writing again the keys of visible events stores nothing; after a
/// close `LogVerifier` reports nothing; and a reopen, a second `compact()`, and a further reopen
/// change no read.
///
/// Thread-safety: a value type.
package struct CompactionChecker: Sendable {
    /// A step that ran, and what it told its caller.
    package struct Record: Sendable {
        package var index: Int
        package var status: LifecycleStep.Status

        package init(index: Int, status: LifecycleStep.Status) {
            self.index = index
            self.status = status
        }
    }

    package let round: CompactionRound
    /// The most steps of unknown outcome (in flight, failed, or `.buffered` and unsynced) a check
    /// accepts; the harness stops a round's steps before it has more.
    package static let uncertainMax = 12
    /// How many keys of visible events the check writes again.
    package var keyRetries = 6

    package init(round: CompactionRound) {
        self.round = round
    }

    /// What a check found: a violation (nil when none) and how many steps were of unknown outcome.
    package struct Outcome: Sendable {
        package var violation: String?
        package var uncertainSteps = 0
        /// The recovered store's floor (1 when its retention dropped nothing).
        package var floor: Int64 = 1
        /// Whether the recovered store's retention had removed segments (before or as it opened).
        package var removedSegments = false
    }

    /// Recovers `image`, checks it against the model of `records`, and checks that a close,
    /// verify, reopen and second compaction keep it.
    package func check(image: String, records: [Record]) async -> Outcome {
        var outcome = Outcome()
        outcome.uncertainSteps = records.count { record in
            switch record.status {
            case .uncertain, .unsynced: !round.steps[record.index].isCompaction
            case .done, .refused: false
            }
        }
        do {
            outcome.violation = try await checkImage(
                image, records: records, floor: &outcome.floor, removedSegments: &outcome.removedSegments)
        } catch {
            outcome.violation = "the check failed: \(error)"
        }
        return outcome
    }

    private func checkImage(
        _ image: String, records: [Record], floor: inout Int64, removedSegments: inout Bool
    ) async throws -> String? {
        let options = round.options
        let store: LogEventStore
        do {
            store = try await LogEventStore.open(directory: image, options: options)
        } catch {
            return "recovery failed (the store does not open): \(error)"
        }
        let view: StoreView
        do {
            // What the store's retention drops on opening is hidden and compacted before the reads.
            await store.settleRetention()
            floor = try store.retentionFloor()
            removedSegments = store.removedSegments().firstKeptOrdinal > 1
            if let problem = retentionProblem(image, floor: floor, removed: store.removedSegments()) {
                try? await store.close()
                return "after recovery: " + problem
            }
            let (read, problems) = try await StoreView.read(store, streams: round.touchedStreamIDs)
            view = read
            if !problems.isEmpty {
                try? await store.close()
                return "after recovery the reads disagree (an index does not match the log): "
                    + problems.prefix(6).joined(separator: "; ")
            }
            if let mismatch = try await match(view, records: records, floor: floor) {
                try? await store.close()
                return "after recovery: " + mismatch
            }
            if let problem = try await rewriteKeys(store, view: view) {
                try? await store.close()
                return "after recovery: " + problem
            }
        } catch {
            try? await store.close()
            return "reading the recovered store failed: \(error)"
        }
        do {
            try await store.close()
        } catch {
            return "closing the recovered store failed: \(error)"
        }
        let problems = try await LogVerifier.verify(directory: image)
        if !problems.isEmpty { return "verify after recovery reports: " + problems.prefix(6).joined(separator: "; ") }
        // A second compaction, then a reopen, change no read.
        for compacts in [true, false] {
            let again: LogEventStore
            do {
                again = try await LogEventStore.open(directory: image, options: options)
            } catch {
                return "reopening the recovered store failed: \(error)"
            }
            do {
                if compacts { _ = try await again.compact() }
                await again.settleRetention()
                let floorAgain = try again.retentionFloor()
                let (read, problems) = try await StoreView.read(again, streams: round.touchedStreamIDs)
                try await again.close()
                let what = compacts ? "a second compact()" : "reopening after a second compact()"
                if floorAgain < floor {
                    return "after \(what) the store's floor is \(floorAgain), lower than \(floor): hidden events show again"
                }
                if !problems.isEmpty {
                    return "after \(what) the reads disagree: " + problems.prefix(6).joined(separator: "; ")
                }
                // The retention may drop more as the store opens again, never less.
                let expected = view.hiding(below: floorAgain)
                if read != expected {
                    return "\(what) changed what the store shows: "
                        + read.differences(from: expected).joined(separator: "; ")
                }
            } catch {
                try? await again.close()
                return "compacting and reading the recovered store again failed: \(error)"
            }
        }
        let verified = try await LogVerifier.verify(directory: image)
        if !verified.isEmpty {
            return "verify after a second compaction reports: " + verified.prefix(6).joined(separator: "; ")
        }
        return nil
    }

    /// Compares `view` with the model of every combination of the steps of unknown outcome.
    /// - Returns: nil when one matches, else what differs.
    /// - Parameter floor: The recovered store's floor: the model's events below it are hidden.
    package func match(_ view: StoreView, records: [Record], floor: Int64 = 1) async throws -> String? {
        // A compaction changes nothing the model shows: whether it happened is of no account.
        let uncertain = records.filter { $0.status == .uncertain && !round.steps[$0.index].isCompaction }.map(\.index)
        let unsynced = records.compactMap { record -> Int? in
            if case .unsynced = record.status { record.index } else { nil }
        }
        guard uncertain.count + unsynced.count <= Self.uncertainMax else {
            return
                "the harness let \(uncertain.count + unsynced.count) steps end uncertain, more than the checker tries"
        }
        var tried = 0
        var firstDifferences: [String] = []
        // The newest unsynced writes are lost first; every subset of the uncertain steps, all of them first.
        for kept in stride(from: unsynced.count, through: 0, by: -1) {
            for mask in stride(from: (1 << uncertain.count) - 1, through: 0, by: -1) {
                var taken = Set(unsynced.prefix(kept))
                for (bit, index) in uncertain.enumerated() where mask & (1 << bit) != 0 { taken.insert(index) }
                tried += 1
                // A deletion not taken may still have removed the stream's snapshots (first).
                let snapshotsMayBeAbsent = Set(
                    uncertain.filter { !taken.contains($0) }.compactMap { index -> String? in
                        switch round.steps[index] {
                        case .delete(let id, _), .tombstone(let id, _): id
                        default: nil
                        }
                    })
                switch try await model(records: records, taken: taken) {
                case .success(let expected):
                    let differences = view.differences(
                        from: expected.hiding(below: floor), snapshotsMayBeAbsent: snapshotsMayBeAbsent)
                    if differences.isEmpty { return nil }
                    if firstDifferences.isEmpty {
                        firstDifferences = ["taking steps \(taken.sorted())"] + differences.prefix(6)
                    }
                case .failure(let inconsistency):
                    if firstDifferences.isEmpty {
                        firstDifferences = ["taking steps \(taken.sorted())", inconsistency.reason]
                    }
                }
            }
        }
        let ambiguity =
            uncertain.isEmpty && unsynced.isEmpty
            ? "every step's outcome is known"
            : "none of \(tried) combinations of the steps of unknown outcome (uncertain \(uncertain), unsynced \(unsynced)) matches"
        return "the store differs from its model (\(ambiguity)); " + firstDifferences.joined(separator: "; ")
    }

    /// Why a combination cannot be what happened.
    package struct Inconsistency: Error {
        package var reason: String
    }

    /// The model's view after the populating batches and the steps of `records` that took effect
    /// (the certain ones, and of the others those in `taken`).
    package func model(records: [Record], taken: Set<Int>) async throws -> Result<StoreView, Inconsistency> {
        let model = InMemoryEventStore()
        do {
            let result = try await replay(records, taken: taken, on: model)
            try await model.close()
            return result
        } catch {
            try? await model.close()
            throw error
        }
    }

    private func replay(_ records: [Record], taken: Set<Int>, on model: InMemoryEventStore) async throws
        -> Result<StoreView, Inconsistency>
    {
        try await round.populate(model)
        // A step is judged strictly while every step before it is known: after one of unknown
        // outcome, what the store saw when it answered may not be what this combination holds.
        var isAnchored = true
        for record in records {
            let step = round.steps[record.index]
            switch record.status {
            case .done(let returned):
                do {
                    let value = try await step.run(on: model)
                    if isAnchored, step.isWrite, value != returned {
                        return .failure(
                            Inconsistency(
                                reason:
                                    "step \(record.index) (\(step)) returned version \(returned.map(String.init) ?? "nil"), the model's \(value.map(String.init) ?? "nil")"
                            ))
                    }
                } catch {
                    if isAnchored {
                        return .failure(
                            Inconsistency(
                                reason: "step \(record.index) (\(step)) returned, but the model refuses it: \(error)"))
                    }
                }
            case .unsynced(let returned):
                guard taken.contains(record.index) else {
                    isAnchored = false
                    continue
                }
                let value = try? await step.run(on: model)
                if isAnchored, value != returned {
                    return .failure(
                        Inconsistency(
                            reason:
                                "step \(record.index) (\(step)) returned version \(returned), the model's \(value.map(String.init) ?? "a refusal")"
                        ))
                }
            case .refused:
                guard isAnchored else { continue }
                do {
                    _ = try await step.run(on: model)
                    return .failure(
                        Inconsistency(reason: "step \(record.index) (\(step)) was refused, but the model takes it"))
                } catch {
                    guard LifecycleStep.isRefusal(error) else { throw error }
                }
            case .uncertain:
                if taken.contains(record.index) || step.isCompaction { _ = try? await step.run(on: model) }
                if !step.isCompaction { isAnchored = false }
            }
        }
        return .success(try await StoreView.read(model, streams: round.touchedStreamIDs).0)
    }

    /// Whether the floor the store's retention kept is one it could have chosen: the first
    /// sequence id of a segment, and (with `.fsync`, where no acknowledged byte is ever taken back)
    /// not past what the retention allows: the segments from the last one dropped to the end were
    /// more than `maxBytes` when it was dropped, and they only grew since.
    /// - Returns: the problem, or nil.
    /// - Parameter removed: the store's first segment still on disk, and the size of the last one
    ///   it removed (those below the floor are removed once the retention settled).
    func retentionProblem(
        _ image: String, floor: Int64, removed: (firstKeptOrdinal: Int, lastRemovedBytes: Int64) = (1, 0)
    ) -> String? {
        guard floor > 1 else { return nil }
        guard let maxBytes = round.options.retention?.maxBytes else {
            return "the store's floor is \(floor), yet the round sets no retention"
        }
        let segments = Self.segments(in: image)
        guard let kept = segments.firstIndex(where: { $0.firstSequenceID == floor }) else {
            return "the store's floor \(floor) is not the first sequence id of a segment "
                + "(segments begin at \(segments.map(\.firstSequenceID)))"
        }
        // The last segment dropped: still on disk, or removed (its size recorded).
        let lastDropped: (ordinal: Int, bytes: Int64)
        if kept > 0 {
            lastDropped = (segments[kept - 1].ordinal, segments[kept - 1].bytes)
        } else if removed.firstKeptOrdinal > 1, removed.firstKeptOrdinal == segments[0].ordinal {
            lastDropped = (removed.firstKeptOrdinal - 1, removed.lastRemovedBytes)
        } else {
            return "the store's floor \(floor) hides nothing of a segment"
        }
        if let stray = segments.first(where: { $0.ordinal < removed.firstKeptOrdinal }) {
            return "segment \(stray.ordinal) is still on disk, below the first one kept (\(removed.firstKeptOrdinal))"
        }
        guard round.options.durability == .fsync else { return nil }
        let last = segments.count - 1
        let total = lastDropped.bytes + segments[kept...].enumerated().reduce(Int64(0)) { sum, element in
            // The active segment was counted with room for its footer.
            sum + element.element.bytes + (kept + element.offset == last && !element.element.isSealed ? 32 : 0)
        }
        if total <= maxBytes {
            return "the retention dropped too much: from segment \(lastDropped.ordinal), the last dropped, "
                + "the log holds \(total) bytes, within its maxBytes \(maxBytes)"
        }
        return nil
    }

    /// The segment files of a store: ordinal, first sequence id, size, and whether a footer ends it.
    static func segments(in directory: String) -> [(ordinal: Int, firstSequenceID: Int64, bytes: Int64, isSealed: Bool)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.sorted()
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: directory + "/" + name), data.count >= 64,
                let ordinal = Int(name.dropFirst("segment-".count).dropLast(".log".count))
            else { return nil }
            let bytes = [UInt8](data)
            func load(_ offset: Int, _ count: Int) -> UInt64 {
                (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
            }
            let isSealed = bytes.count >= 96 && load(bytes.count - 32, 8) == 0x444E_4547_4553_5645  // "EVSEGEND"
            return (ordinal, Int64(load(24, 8)), Int64(bytes.count), isSealed)
        }
    }

    /// Writes again the keys of some visible events: each must store nothing and return the
    /// stream's version. - Returns: the first problem, or nil.
    private func rewriteKeys(_ store: LogEventStore, view: StoreView) async throws -> String? {
        let keyed = view.events.filter { $0.id.hasPrefix("k-") }
        guard !keyed.isEmpty else { return nil }
        let stride = max(1, keyed.count / keyRetries)
        for event in Swift.stride(from: 0, to: keyed.count, by: stride).prefix(keyRetries).map({ keyed[$0] }) {
            let version = try await store.stream(event.streamID).write(
                CandidateEvent(type: event.type, data: event.data, metadata: event.metadata, idempotencyKey: event.id))
            let head = view.heads[event.streamID]?.version ?? -1
            if version != head {
                return
                    "writing again the key '\(event.id)' of \(event) returned version \(version); the stream is at \(head)"
            }
        }
        let head = try await store.stream("@all").metrics().currentVersion
        if head != view.heads["@all"]?.version {
            return "writing again the keys of visible events stored \(head - (view.heads["@all"]?.version ?? 0)) events"
        }
        return nil
    }
}
