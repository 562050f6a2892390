import EventSourcing
import Foundation

/// W1, the reference workload: events to one stream in writes of 10,000 with keys `event-N` and
/// empty data; replay all into a counter; snapshot; 100 more; restore from the snapshot. On the
/// log store, the C loop over the same events follows (`MachineReference`, issue 17): the log's
/// write and replay are reported as ratios to the machine's.
enum W1Reference {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w1Events
        return try await ScratchDirectory.with("w1-\(setup.kind)") { directory in
            let measured = try await Phases.withStore(setup, in: directory) { store in
                try await measure(store, events: events, batch: sizes.batchEvents)
            }
            // After close, so that SQLite's WAL is checkpointed and the log's files are final.
            let bytes = try await setup.bytesOnDisk(in: directory)
            let stored = Double(events + 100)
            var result = WorkloadResult(
                workload: .w1, store: setup.kind,
                figures: [
                    Figure(
                        "write_events_per_s", "write", "events/s", Double(events) / Timing.seconds(measured.write),
                        .higherIsBetter),
                    Figure(
                        "replay_events_per_s", "replay", "events/s", Double(events) / Timing.seconds(measured.replay),
                        .higherIsBetter),
                    Figure(
                        "restore_ms", "restore from snapshot", "ms", Timing.milliseconds(measured.restore),
                        .lowerIsBetter),
                    Figure(
                        "bytes_per_event", "bytes on disk per event", "bytes", Double(bytes.allocated) / stored,
                        .lowerIsBetter),
                    Figure(
                        "write_events_per_s_with_construction", "write, incl. building the events", "events/s",
                        Double(events) / Timing.seconds(measured.writeTotal), .higherIsBetter, isCharted: false),
                    Figure(
                        "bytes_per_event_apparent", "file size per event", "bytes", Double(bytes.apparent) / stored,
                        .lowerIsBetter, isCharted: false),
                ],
                parameters: [
                    ("events", String(events)), ("batch", String(sizes.batchEvents)),
                    ("replays (median reported)", String(replayRuns)),
                ],
                notes: setup.kind == .postgres
                    ? [
                        "Bytes on disk: `pg_total_relation_size` of the schema's tables (heap, indexes, TOAST) "
                            + "right after the run; the server's write-ahead log is not counted."
                    ] : [])
            // The C loop syncs every batch, so it matches the log's `.fsync` only.
            if setup.kind == .log && setup.durability == .fsync {
                try await addMachineReference(to: &result, events: events, sizes: sizes)
            }
            return result
        }
    }

    /// Runs the C loop over the same events right after the log store's figures (issue 17) and adds
    /// its rates, and the log's write and replay as ratios to them, to the log's result.
    private static func addMachineReference(to result: inout WorkloadResult, events: Int, sizes: Sizes) async throws {
        let loop = try await ScratchDirectory.with("w1-c-loop") { directory in
            try MachineReference.logLoop(
                in: directory, records: events, batch: sizes.batchEvents, scans: Self.replayRuns)
        }
        let write = result.value("write_events_per_s") ?? 0
        let replay = result.value("replay_events_per_s") ?? 0
        result.figures += [
            Figure(
                "c_loop_write_events_per_s", "C loop write (the machine's reference)", "events/s",
                loop.writeEventsPerSecond, .higherIsBetter, isCharted: false),
            Figure(
                "c_loop_scan_events_per_s", "C loop scan (the machine's reference)", "events/s",
                loop.scanEventsPerSecond, .higherIsBetter, isCharted: false),
            Figure(
                "write_over_c_loop", "write / C loop write", "x", write / loop.writeEventsPerSecond, .higherIsBetter,
                isCharted: false),
            Figure(
                "replay_over_c_loop", "replay (for try await) / C loop scan", "x", replay / loop.scanEventsPerSecond,
                .higherIsBetter, isCharted: false),
        ]
        result.parameters += [
            ("C loop bytes per record", Format.fixed(loop.bytesPerRecord, 1)),
            ("C loop CRC-32C", MachineReference.isHardwareChecksum ? "SSE4.2" : "table"),
        ]
        let scans = loop.scanTimes.map { Format.fixed(Timing.milliseconds($0), 1) }.joined(separator: ", ")
        result.notes.append(
            "C loop (the machine's reference, right after the log store, same filesystem): \(events) records of "
                + "\(Format.fixed(loop.bytesPerRecord, 1)) bytes on average, one write(2) and one fdatasync(2) per "
                + "\(sizes.batchEvents); scans \(scans) ms (median reported).")
    }

    /// Replays timed; the median is reported.
    static let replayRuns = 3

    private static func measure(_ store: any EventStore, events: Int, batch: Int) async throws
        -> (write: Duration, writeTotal: Duration, replay: Duration, restore: Duration)
    {
        let stream = try await store.stream("w1")
        let (write, writeTotal) = try await Phases.writeKeyed(stream, range: 0..<events, batch: batch)
        // The median of three replays: one replay of 1M events takes a tenth of a second here, short
        // enough for a single pause of a shared machine to move it by a third.
        var replays: [Duration] = []
        var counter = 0
        for _ in 0..<Self.replayRuns {
            replays.append(try await Timing.measure { counter = try await Phases.replay(stream) })
            try Phases.check(counter == events, "W1 replay counted \(counter) of \(events) events")
        }
        let replay = replays.sorted()[replays.count / 2]
        try await stream.snapshot(Data(String(counter).utf8))
        try await stream.write(Phases.keyedEvents(events..<events + 100))
        var restored = 0
        let restore = try await Timing.measure {
            let reopened = try await store.stream("w1")
            guard let snapshot = try await reopened.loadSnapshot() else { return }
            restored = Int(String(decoding: snapshot.state, as: UTF8.self)) ?? 0
            restored += try await Phases.replay(reopened, from: snapshot.version)
        }
        try Phases.check(restored == events + 100, "W1 restore counted \(restored) of \(events + 100) events")
        return (write, writeTotal, replay, restore)
    }
}
