import EventSourcingCore
import Foundation
import LogStore

/// What one round of `CompactionHarness` does, drawn from the seed and the round number: the
/// store's options (small segments, so that a compaction rewrites several; `.fsync` mostly,
/// `.buffered` sometimes), the batches that populate its streams before the crash window opens,
/// and the 4-12 steps run in the window (writes, snapshots, lifecycle changes, one to three
/// compactions).
///
/// Thread-safety: a value type.
package struct CompactionRound: Sendable {
    /// One batch written while populating the store.
    package struct Batch: Sendable {
        package var streamID: String
        package var events: [CandidateEvent]
    }

    package var options: LogEventStore.Options
    package var streamIDs: [String]
    package var populate: [Batch]
    package var steps: [LifecycleStep]

    /// Draws a round.
    package init(_ random: inout SeededRandom, stepsMax: Int = 12) {
        options = LogEventStore.Options(
            durability: random.chance(0.75) ? .fsync : .buffered,
            segmentBytesMax: random.pick([8192, 16384, 32768]),
            checkpointBytesInterval: random.pick([2048, 8192, 65536]))
        options.keyIndexInitialCapacity = random.pick([16, 256, 4096])
        // Some rounds bound the log by size: the writer drops the oldest segments as it rolls, and
        // they are hidden and compacted beside it. The check takes the floor the store kept.
        if random.chance(0.3) {
            options.retention = LogEventStore.StoreRetention(
                maxBytes: Int64(options.segmentBytesMax * random.int(2...3)))
        }
        // With a retention, which events (and so which keys) are hidden when a write runs depends
        // on when the writer rolled: keys are never repeated then, so that the model need not know.
        let repeatsKeys = options.retention == nil
        let prefixes = ["account", "cart", "order", "ledger", "user"]
        streamIDs = (0..<random.int(3...5)).map { "\(prefixes[$0])-\(random.int(0..<100))" }
        var versions: [String: Int64] = [:]
        var keys: [String: [String]] = [:]
        var nextKey = 0
        func events(for streamID: String, count: Int, random: inout SeededRandom) -> [CandidateEvent] {
            (0..<count).map { index in
                var key: String?
                if repeatsKeys, let stored = keys[streamID], !stored.isEmpty, random.chance(0.1) {
                    // A key the stream may hold still (stored nothing), or whose event was hidden
                    // (stored again), or a key repeated within the batch.
                    key = random.pick(stored)
                } else if random.chance(0.4) {
                    key = "k-\(nextKey)"
                    nextKey += 1
                    keys[streamID, default: []].append(key!)
                }
                let size = random.weighted([
                    (random.int(8...64), 2), (random.int(100...900), 5), (random.int(1000...2500), 2),
                ])
                // Some payloads compress (LZ4), most do not.
                let data =
                    random.chance(0.25)
                    ? Data(repeating: UInt8(truncatingIfNeeded: random.next()), count: size)
                    : Data(random.bytes(size))
                let metadata: [String: JSONValue]? =
                    random.chance(0.3) ? ["n": .int(Int64(index)), "tag": .string("t\(random.int(0..<4))")] : nil
                return CandidateEvent(
                    type: random.pick(["Opened", "Added", "Removed", "Renamed", "Closed"]), data: data,
                    metadata: metadata,
                    idempotencyKey: key)
            }
        }
        populate = []
        for _ in 0..<random.int(15...40) {
            // The first stream takes more, so that a retention by count has something to hide.
            let streamID = random.chance(0.35) ? streamIDs[0] : random.pick(streamIDs)
            let count = random.int(1...5)
            populate.append(Batch(streamID: streamID, events: events(for: streamID, count: count, random: &random)))
            versions[streamID, default: 0] += Int64(count)
        }
        // The steps; their arguments follow the versions as the plan sees them (it does not know
        // which keys repeat), so that most changes apply and some are refused.
        var steps: [LifecycleStep] = []
        let stepCount = random.int(4...max(4, stepsMax))
        var compactions = Set((0..<random.int(1...3)).map { _ in random.int(0..<stepCount) })
        if random.chance(0.7) { compactions.insert(stepCount - 1) }
        var newStreams = 0
        for index in 0..<stepCount {
            if compactions.contains(index) {
                steps.append(.compact)
                continue
            }
            var streamID = random.pick(streamIDs)
            let version = versions[streamID, default: 0]
            switch random.weighted([(0, 4), (1, 1), (2, 2), (3, 2), (4, 2), (5, 1), (6, 1)]) {
            case 0:
                if random.chance(0.15) {
                    streamID = "new-\(newStreams)"
                    newStreams += 1
                }
                let count = random.int(1...4)
                steps.append(.write(streamID, events(for: streamID, count: count, random: &random)))
                versions[streamID, default: 0] += Int64(count)
            case 1:
                steps.append(.tombstone(streamID, random.chance(0.85) ? .any : .exact(version)))
            case 2:
                steps.append(.delete(streamID, random.chance(0.8) ? .any : .exact(version - Int64(random.int(0...1)))))
            case 3:
                let before = random.chance(0.1) ? version + 3 : Int64(random.int(1...Int(version) + 1))
                steps.append(.truncate(streamID, before: before))
            case 4:
                steps.append(.setRetention(streamID, maxCount: Int64(random.int(1...max(1, Int(version) / 2)))))
            case 5:
                steps.append(.setRetention(streamID, maxCount: nil))
            default:
                steps.append(.snapshot(streamID, Data(random.bytes(random.int(16...600)))))
            }
        }
        self.steps = steps
    }

    /// Every stream a round may touch: those populated and those its steps write to.
    package var touchedStreamIDs: [String] {
        Array(Set(streamIDs + steps.compactMap(\.streamID))).sorted()
    }

    package var description: String {
        "\(options.durability), segments of \(options.segmentBytesMax) bytes, "
            + ((options.retention?.maxBytes).map { "store retention of \($0) bytes, " } ?? "")
            + "checkpoint every \(options.checkpointBytesInterval) bytes, key table of \(options.keyIndexInitialCapacity) slots, "
            + "\(populate.count) batches in \(streamIDs.count) streams, steps: "
            + steps.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: "; ")
    }

    /// Writes the populating batches to `store`.
    package func populate(_ store: any EventStore) async throws {
        for batch in populate { try await store.stream(batch.streamID).write(batch.events) }
    }
}
