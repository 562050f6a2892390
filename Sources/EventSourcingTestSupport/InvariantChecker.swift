import EventSourcingCore
import Foundation

/// Checks a recovered store against what its writers reported (shared/spec/RELIABILITY.md,
/// "Invariants checked after every recovery"):
/// - sequence ids run 1...n; every event traces back to an attempted write; each write is stored
///   whole, exactly once, or not at all, byte for byte as the workload made it (less the events
///   whose key the stream already held), and a refused write not at all;
/// - a write to several streams (`store.write([StreamWrite])`) is one run too: every stream's
///   events that its keys leave, at consecutive sequence ids in the order of the call, or none of
///   them (a part alone, or parts apart, is a torn write); each stream's expected version held;
/// - every acknowledged write is present (or, where a power loss may take unsynced
///   acknowledgements, only a newest suffix of them is missing); the order respects the order of
///   acknowledgements; the log starts with what the previous check confirmed;
/// - each stream's versions run 1...n, and reading a stream forward, backward and from the
///   middle through the indexes gives exactly its events in the log; heads and metrics agree;
/// - retrying stored keys stores nothing;
/// - a snapshot is one that was saved (never older than the last acknowledged one, never mixed),
///   and its state matches a replay of the recovered log up to its version.
///
/// Thread-safety: a value type.
package struct InvariantChecker: Sendable {
    /// What a check may assume.
    package struct Options: Sendable {
        /// Writes were issued one at a time (operation ids in log order), not by concurrent writers.
        package var isSequential = true
        /// A power loss hit `.buffered` writes: acknowledgements not yet known durable may be lost
        /// (a newest suffix of them).
        package var mayLoseUndurableAcknowledgements = false
        /// How many stored keys to write again (nothing may be stored); 0 for a read-only check.
        package var keyRetries = 8
        /// Snapshot files may have been deleted, replaced by older ones or damaged (damage rounds).
        package var snapshotsMayBeDamaged = false

        package init() {}
    }

    package let workload: Workload
    package var options: Options

    package init(workload: Workload, options: Options = Options()) {
        self.workload = workload
        self.options = options
    }

    /// The outcome of a check.
    package struct Report: Sendable {
        package var violations: [String] = []
        package var runs: [History.Run] = []
        package var absent: Set<Int> = []
        package var eventCount = 0
        /// A digest of every event, to compare two recoveries.
        package var digest: UInt64 = 0
    }

    /// Checks `store` against `history`. On success the caller settles the history with the report.
    package func check(_ store: any EventStore, history: History) async -> Report {
        var report = Report()
        do {
            try await checkLog(store, history: history, report: &report)
        } catch {
            report.violations.append("reading the recovered store failed: \(error)")
        }
        return report
    }

    private func checkLog(_ store: any EventStore, history: History, report: inout Report) async throws {
        var events: [StoredEvent] = []
        for try await event in try await store.stream("@all").read() { events.append(event) }
        report.eventCount = events.count
        report.digest = EventDigest.of(events: events)
        func fail(_ message: String) { if report.violations.count < 20 { report.violations.append(message) } }

        for (index, event) in events.enumerated() where event.sequenceID != Int64(index + 1) {
            fail("event \(index + 1) of @all has sequence id \(event.sequenceID): sequence ids must run 1...n")
            return
        }

        // Runs of one operation each, checked against what the workload made.
        var runs: [History.Run] = []
        var seen: Set<Int> = []
        var versions: [String: Int64] = [:]
        var keys: [String: Set<String>] = [:]
        var streamEvents: [String: [StoredEvent]] = [:]
        var start = 0
        while start < events.count {
            guard let (operationID, _) = Workload.origin(of: events[start].data) else {
                fail("event \(events[start].sequenceID) was written by no harness operation")
                return
            }
            var end = start + 1
            while end < events.count, Workload.origin(of: events[end].data)?.operation == operationID { end += 1 }
            let run = Array(events[start..<end])
            defer { start = end }
            guard seen.insert(operationID).inserted else {
                fail("operation \(operationID) is stored twice (again at sequence id \(run[0].sequenceID))")
                continue
            }
            guard let write = history.writes[operationID] else {
                fail("operation \(operationID) at sequence id \(run[0].sequenceID) was never attempted")
                continue
            }
            if write.isRejected {
                fail("operation \(operationID) was refused (expected version) but is stored at \(run[0].sequenceID)")
            }
            if history.confirmedAbsent.contains(operationID) {
                fail(
                    "operation \(operationID) was absent after an earlier recovery but is stored now at \(run[0].sequenceID)"
                )
            }
            let operation = workload.operation(operationID)
            // What each stream must hold of the write: its part's events less those whose key the
            // stream already held, the parts in the order of the call.
            var expected: [(part: Int, index: Int, event: CandidateEvent)] = []
            for (partIndex, part) in operation.parts.enumerated() {
                let streamKeys = keys[part.streamID, default: []]
                for (index, event) in operation.eventsAfterBatchDeduplication(of: part)
                where event.idempotencyKey.map({ !streamKeys.contains($0) }) ?? true {
                    expected.append((partIndex, index, event))
                }
            }
            if expected.count != run.count {
                let shape =
                    operation.isMultiStream
                    ? "a torn write to several streams (\(operation.streamIDs.map { "'\($0)'" }.joined(separator: ", ")))"
                    : "a partial or padded batch"
                fail(
                    "operation \(operationID) at sequence id \(run[0].sequenceID) stored \(run.count) events; "
                        + "the write holds \(expected.count) whose keys \(operation.isMultiStream ? "their streams" : "'\(operation.streamID)'") lacked: \(shape)"
                )
            }
            var offset = 0
            var endVersions: [Int64] = []
            for (partIndex, part) in operation.parts.enumerated() {
                let wanted = expected.filter { $0.part == partIndex }.count
                // The last part takes what is left, so that a padded run is counted where it lies.
                let count =
                    partIndex == operation.parts.count - 1 ? run.count - offset : min(wanted, run.count - offset)
                let version = versions[part.streamID, default: 0]
                let partEvents = Array(run[offset..<offset + count])
                if !partEvents.isEmpty {
                    let stream =
                        operation.isMultiStream ? "stream '\(part.streamID)' (part \(partIndex))" : "'\(part.streamID)'"
                    let expectedVersion =
                        partIndex < write.expectedVersions.count ? write.expectedVersions[partIndex] : .any
                    if case .exact(let wanted) = expectedVersion, version != wanted {
                        fail(
                            "operation \(operationID) expected version \(wanted) of \(stream) but follows version \(version)"
                        )
                    } else if case .noStream = expectedVersion, version != 0 {
                        fail("operation \(operationID) expected no stream \(stream) but follows version \(version)")
                    }
                }
                for (partOffset, event) in partEvents.enumerated() {
                    guard offset + partOffset < expected.count else { break }
                    let (_, position, candidate) = expected[offset + partOffset]
                    let wantedVersion = version + Int64(partOffset) + 1
                    var problems: [String] = []
                    if event.streamID != part.streamID {
                        problems.append("stream '\(event.streamID)', not '\(part.streamID)'")
                    }
                    if event.version != wantedVersion {
                        problems.append("version \(event.version), not \(wantedVersion)")
                    }
                    if Workload.origin(of: event.data)?.position != position { problems.append("batch position") }
                    if event.type != candidate.type { problems.append("type") }
                    if event.data != candidate.data { problems.append("data") }
                    if event.metadata != candidate.metadata { problems.append("metadata") }
                    if event.id != (candidate.idempotencyKey ?? String(event.sequenceID)) {
                        problems.append("id '\(event.id)'")
                    }
                    if !problems.isEmpty {
                        fail(
                            "event \(event.sequenceID) (operation \(operationID), event \(position)) differs from what was written: "
                                + problems.joined(separator: ", "))
                    }
                }
                versions[part.streamID] = version + Int64(partEvents.count)
                for event in partEvents {
                    if let origin = Workload.origin(of: event.data), origin.position < operation.events.count,
                        let key = operation.events[origin.position].idempotencyKey
                    {
                        keys[part.streamID, default: []].insert(key)
                    }
                }
                streamEvents[part.streamID, default: []] += partEvents
                endVersions.append(version + Int64(partEvents.count))
                offset += count
            }
            runs.append(
                History.Run(
                    operation: operationID, streamID: run.last!.streamID, firstSequenceID: run[0].sequenceID,
                    count: run.count, lastVersion: run.last!.version))
            if let acknowledged = write.acknowledgedVersions, acknowledged != endVersions {
                fail(
                    "operation \(operationID) was acknowledged with version\(acknowledged.count > 1 ? "s" : "") "
                        + "\(acknowledged.map(String.init).joined(separator: ", ")), but its events end at "
                        + endVersions.map(String.init).joined(separator: ", "))
            }
        }
        report.runs = runs
        guard report.violations.isEmpty else { return }

        // What the previous check confirmed stays, in place.
        if runs.count < history.confirmedRuns.count
            || Array(runs.prefix(history.confirmedRuns.count)) != history.confirmedRuns
        {
            let index =
                Array(zip(runs, history.confirmedRuns)).firstIndex { $0.0 != $0.1 }
                ?? min(runs.count, history.confirmedRuns.count)
            fail(
                "the log no longer starts with what the previous recovery held: it differs from run \(index) on "
                    + "(\(index < history.confirmedRuns.count ? "\(history.confirmedRuns[index])" : "end") vs "
                    + "\(index < runs.count ? "\(runs[index])" : "end"))")
        }

        // Acknowledged writes.
        let present = Dictionary(uniqueKeysWithValues: runs.map { ($0.operation, $0) })
        var lost: [(order: Int, operation: Int)] = []
        var latestPresentAcknowledgement = -1
        for (operationID, write) in history.writes.sorted(by: { $0.key < $1.key }) {
            guard let acknowledged = write.acknowledgedVersions, let order = write.acknowledgementOrder else {
                if present[operationID] == nil { report.absent.insert(operationID) }
                continue
            }
            if present[operationID] != nil {
                latestPresentAcknowledgement = max(latestPresentAcknowledgement, order)
                continue
            }
            let operation = workload.operation(operationID)
            let everyKeyStored = operation.parts.allSatisfy { part in
                let streamKeys = keys[part.streamID, default: []]
                return operation.eventsAfterBatchDeduplication(of: part).allSatisfy {
                    $0.event.idempotencyKey.map(streamKeys.contains) ?? false
                }
            }
            if everyKeyStored {
                // Every key was stored already: the write stored nothing, and said so with each stream's
                // version then (unless the power loss took the writes that version counted).
                let pastPart = zip(operation.parts, acknowledged).first { part, version in
                    version > versions[part.streamID, default: 0]
                }
                if let (part, acknowledged) = pastPart, !history.confirmedAbsent.contains(operationID) {
                    if write.isDurable || !options.mayLoseUndurableAcknowledgements {
                        let others = history.writes.filter {
                            workload.operation($0.key).streamIDs.contains(part.streamID)
                        }
                        .sorted { $0.key < $1.key }.suffix(12)
                        .map {
                            "\($0.key):\($0.value.acknowledgedVersion.map(String.init) ?? "-")\($0.value.isDurable ? "d" : "")\(present[$0.key] != nil ? "p" : "")"
                        }
                        fail(
                            "operation \(operationID) stored nothing (its keys were stored) but was acknowledged with version "
                                + "\(acknowledged) of '\(part.streamID)', past the stream's \(versions[part.streamID, default: 0]) "
                                + "[\(others.joined(separator: " "))]"
                        )
                    } else {
                        // The writes that version counted were lost with it.
                        report.absent.insert(operationID)
                    }
                }
                continue
            }
            if history.confirmedAbsent.contains(operationID) { continue }
            if write.isDurable || !options.mayLoseUndurableAcknowledgements {
                let streams = zip(operation.streamIDs, acknowledged).map { "version \($1) of '\($0)'" }
                fail(
                    "acknowledged operation \(operationID) (\(streams.joined(separator: ", "))) is missing"
                        + (operation.isMultiStream ? ": a write to several streams must be whole" : "")
                )
            } else {
                lost.append((order, operationID))
                report.absent.insert(operationID)
            }
        }
        if let firstLost = lost.min(by: { $0.order < $1.order }), firstLost.order < latestPresentAcknowledgement {
            fail(
                "acknowledged operation \(firstLost.operation) was lost but a later acknowledged write survived: "
                    + "a power loss may only take the newest unsynced writes")
        }

        // Order: sequential writers in id order; concurrent ones in acknowledgement-before-attempt order.
        if options.isSequential {
            for (earlier, later) in zip(runs, runs.dropFirst()) where earlier.operation > later.operation {
                fail(
                    "operation \(later.operation) is stored after operation \(earlier.operation), but was issued before it"
                )
            }
        } else {
            var latestByWriter: [Int: Int] = [:]
            for run in runs {
                let writer = workload.writer(of: run.operation)
                if let previous = latestByWriter[writer], previous > run.operation {
                    fail(
                        "writer \(writer)'s operation \(run.operation) is stored after its later operation \(previous)")
                }
                latestByWriter[writer] = run.operation
            }
            var acknowledgedEnd: Int64 = 0
            var acknowledgedBy = -1
            for event in history.reports {
                if let operationID = event.attemptedWrite, let run = present[operationID],
                    run.firstSequenceID <= acknowledgedEnd
                {
                    fail(
                        "operation \(operationID) was attempted after operation \(acknowledgedBy) was acknowledged, "
                            + "but is stored before its end (\(run.firstSequenceID) <= \(acknowledgedEnd))")
                }
                if let operationID = event.acknowledgedWrite, let run = present[operationID],
                    run.lastSequenceID > acknowledgedEnd
                {
                    acknowledgedEnd = run.lastSequenceID
                    acknowledgedBy = operationID
                }
            }
        }
        guard report.violations.isEmpty else { return }

        try await checkStreams(store, events: events, streamEvents: streamEvents, report: &report)
        guard report.violations.isEmpty else { return }
        try await checkSnapshots(store, history: history, streamEvents: streamEvents, report: &report)
        guard report.violations.isEmpty else { return }
        if options.keyRetries > 0 { try await retryKeys(store, streamEvents: streamEvents, report: &report) }
    }

    /// Reads through the indexes agree with the log.
    private func checkStreams(
        _ store: any EventStore, events: [StoredEvent], streamEvents: [String: [StoredEvent]], report: inout Report
    ) async throws {
        func fail(_ message: String) { if report.violations.count < 20 { report.violations.append(message) } }
        let all = try await store.stream("@all")
        let allMetrics = try await all.metrics()
        if allMetrics.currentVersion != Int64(events.count) || allMetrics.eventCount != Int64(events.count) {
            fail(
                "@all reports version \(allMetrics.currentVersion) and \(allMetrics.eventCount) events; the log has \(events.count)"
            )
        }
        var backward: [StoredEvent] = []
        for try await event in all.read(direction: .backward) { backward.append(event) }
        if backward != events.reversed() { fail("reading @all backward does not give the log reversed") }
        var random = SeededRandom(seed: workload.seed, stream: UInt64(events.count))
        if events.count > 2 {
            let from = random.int(1..<events.count)
            var window: [StoredEvent] = []
            for try await event in all.read(from: Int64(from), limit: 7) { window.append(event) }
            if window != Array(events[from..<min(events.count, from + 7)]) {
                fail("reading @all from \(from) differs from the log")
            }
        }
        // Streams the workload may touch but the log lacks must read as empty.
        var names = Set(streamEvents.keys)
        for index in 0..<min(workload.profile.streamCount, 64) { names.insert(workload.streamName(index)) }
        for name in names.sorted() {
            let expected = streamEvents[name] ?? []
            let stream = try await store.stream(name)
            let metrics = try await stream.metrics()
            if metrics.currentVersion != Int64(expected.count) || metrics.eventCount != Int64(expected.count)
                || metrics.lastTimestamp != expected.last?.timestamp
            {
                fail(
                    "stream '\(name)' reports version \(metrics.currentVersion) (\(metrics.eventCount) events, "
                        + "last at \(String(describing: metrics.lastTimestamp))); the log has \(expected.count)")
            }
            var forward: [StoredEvent] = []
            for try await event in stream.read() { forward.append(event) }
            if forward != expected {
                fail(
                    "reading stream '\(name)' through its index gives \(forward.count) events that differ from its \(expected.count) in the log"
                )
                continue
            }
            guard !expected.isEmpty else { continue }
            var reversed: [StoredEvent] = []
            for try await event in stream.read(direction: .backward) { reversed.append(event) }
            if reversed != expected.reversed() { fail("reading stream '\(name)' backward differs from the log") }
            let from = random.int(0..<expected.count)
            let limit = random.int(1...9)
            var window: [StoredEvent] = []
            for try await event in stream.read(from: Int64(from), limit: limit) { window.append(event) }
            if window != Array(expected[from..<min(expected.count, from + limit)]) {
                fail("reading stream '\(name)' from version \(from) differs from the log")
            }
            var before: [StoredEvent] = []
            let upper = Int64(random.int(1...expected.count + 1))
            for try await event in stream.read(from: upper, direction: .backward, limit: limit) { before.append(event) }
            if before != Array(expected[max(0, Int(upper) - 1 - limit)..<Int(upper) - 1].reversed()) {
                fail("reading stream '\(name)' backward from version \(upper) differs from the log")
            }
        }
    }

    /// Each snapshot is one that was saved, not older than the last acknowledged one, and agrees
    /// with a replay of the log.
    private func checkSnapshots(
        _ store: any EventStore, history: History, streamEvents: [String: [StoredEvent]], report: inout Report
    ) async throws {
        func fail(_ message: String) { if report.violations.count < 20 { report.violations.append(message) } }
        var pairs: [String: [Int]] = [:]
        for operationID in history.snapshots.keys.sorted() {
            let operation = workload.operation(operationID)
            pairs[operation.streamID + "\u{0}" + operation.projection, default: []].append(operationID)
        }
        for (pair, saves) in pairs.sorted(by: { $0.key < $1.key }) {
            let parts = pair.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            let (streamID, projection) = (parts[0], parts[1])
            let lastAcknowledged = saves.filter { history.snapshots[$0]!.isAcknowledged }.max()
            let snapshot: Snapshot?
            do {
                snapshot = try await store.stream(streamID).loadSnapshot(projection: projection)
            } catch EventStoreError.corruption(let message) where options.snapshotsMayBeDamaged {
                _ = message
                continue
            } catch {
                fail("loading snapshot '\(projection)' of '\(streamID)' failed: \(error)")
                continue
            }
            guard let snapshot else {
                if let lastAcknowledged, !options.snapshotsMayBeDamaged {
                    fail("snapshot '\(projection)' of '\(streamID)' is missing; operation \(lastAcknowledged) saved it")
                }
                continue
            }
            guard let operationID = Workload.snapshotOperation(of: snapshot.state),
                let save = history.snapshots[operationID],
                saves.contains(operationID)
            else {
                fail("snapshot '\(projection)' of '\(streamID)' holds a state no save of that pair wrote")
                continue
            }
            if snapshot.state
                != workload.snapshotState(operation: operationID, version: save.version, digest: save.digest)
                || snapshot.version != save.version || snapshot.streamID != streamID
                || snapshot.projectionName != projection
            {
                fail(
                    "snapshot '\(projection)' of '\(streamID)' differs from what operation \(operationID) saved (a mixed or damaged file)"
                )
                continue
            }
            if let lastAcknowledged, operationID < lastAcknowledged, !options.snapshotsMayBeDamaged {
                fail(
                    "snapshot '\(projection)' of '\(streamID)' is operation \(operationID)'s, older than the acknowledged \(lastAcknowledged)'s"
                )
            }
            let events = streamEvents[streamID] ?? []
            guard snapshot.version <= Int64(events.count) else {
                fail(
                    "snapshot '\(projection)' of '\(streamID)' is at version \(snapshot.version), past the recovered stream's \(events.count)"
                )
                continue
            }
            if EventDigest.of(events: Array(events.prefix(Int(snapshot.version)))) != save.digest {
                fail(
                    "snapshot '\(projection)' of '\(streamID)' at version \(snapshot.version) does not match a replay of the log"
                )
            }
        }
    }

    /// Writing stored keys again stores nothing.
    private func retryKeys(_ store: any EventStore, streamEvents: [String: [StoredEvent]], report: inout Report)
        async throws
    {
        var random = SeededRandom(seed: workload.seed, stream: 0x4B4B)
        let keyed = streamEvents.values.flatMap { $0 }.filter { $0.id != String($0.sequenceID) }.sorted {
            $0.sequenceID < $1.sequenceID
        }
        guard !keyed.isEmpty else { return }
        let head = try await store.stream("@all").metrics().currentVersion
        for _ in 0..<options.keyRetries {
            let event = random.pick(keyed)
            let stream = try await store.stream(event.streamID)
            let before = try await stream.metrics().currentVersion
            let version = try await stream.write(
                CandidateEvent(
                    type: event.type, data: event.data, metadata: event.metadata, idempotencyKey: event.id))
            if version != before {
                report.violations.append(
                    "writing stored key '\(event.id)' of '\(event.streamID)' again returned version \(version), not \(before)"
                )
                return
            }
        }
        let after = try await store.stream("@all").metrics().currentVersion
        if after != head { report.violations.append("writing stored keys again appended \(after - head) events") }
    }
}
