import EventSourcing
import Foundation
import Synchronization

/// W11: compaction. A store of W1's size (1M events) spread over 1,000 streams, half of them
/// deleted (`delete()`, every other stream); then `compact()` while a writer writes batches of
/// 10,000 keyed events to a stream of its own, against the same writer on the same store just
/// before. The figures: compact's time and report (events removed, bytes reclaimed), the store's
/// bytes on disk before and after, and the writer's rate during compaction over its rate without
/// (target ≥ 0.5). Every event left visible is counted back through `@all` afterwards.
///
/// Then, on the log store only, W1 with store retention: W1's write phase on a store whose
/// `Options.retention` drops several whole segments while it writes, against the same write with
/// the same segment size and no retention (target: within 10%).
enum W11Compaction {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        // A store whose lifecycle is not written yet (`compact()` throws "not implemented") is
        // reported as not applicable at once, before a 1M-event store is built for nothing.
        do {
            try await ScratchDirectory.with("w11-probe-\(setup.kind)") { directory in
                try await Phases.withStore(setup, in: directory) { store in _ = try await store.compact() }
            }
        } catch EventStoreError.invalidArgument(let reason) where reason.contains("not implemented") {
            return WorkloadResult(
                workload: .w11, store: setup.kind, figures: [], parameters: [],
                exclusion: "not applicable yet: `compact()` throws \"\(reason)\"")
        }
        var result = try await compaction(setup, sizes: sizes)
        if setup.kind == .log {
            let retention = try await w1WithRetention(setup, sizes: sizes)
            result.figures += retention.figures
            result.parameters += retention.parameters
        }
        return result
    }

    // MARK: - Compaction with a writer

    private static func compaction(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w1Events
        let streams = sizes.w11Streams
        let perStream = events / streams
        try Phases.check(perStream * streams == events, "W11: \(events) events do not spread over \(streams) streams")
        let perWrite = min(sizes.w11EventsPerStreamWrite, perStream)
        let batch = sizes.batchEvents
        return try await ScratchDirectory.with("w11-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                // Build: rounds over the streams, each write `w11StreamsPerWrite` streams of `perWrite` events.
                let build = try await Timing.measure {
                    var written = 0
                    while written < perStream {
                        let count = min(perWrite, perStream - written)
                        var first = 0
                        while first < streams {
                            let group = first..<min(first + sizes.w11StreamsPerWrite, streams)
                            try await store.write(
                                group.map { index in
                                    StreamWrite(
                                        streamID(index),
                                        keyedEvents("s\(index)", written..<written + count))
                                })
                            first = group.upperBound
                        }
                        written += count
                    }
                }
                // Delete every other stream, from 8 tasks (deletions are durable one by one).
                let deleted = Array(stride(from: 1, to: streams, by: 2))
                let deletion = try await Timing.measure {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for task in 0..<8 {
                            group.addTask {
                                for index in stride(from: task, to: deleted.count, by: 8) {
                                    try await store.stream(streamID(deleted[index])).delete()
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                let kept = events - deleted.count * perStream
                let visible = try await Phases.replay(try await store.stream("@all"))
                try Phases.check(visible == kept, "W11 saw \(visible) of \(kept) events after the deletions")

                // The writer alone, just before.
                let path = setup.storePath(in: directory)
                let bytesBeforeBaseline = storeBytes(setup, path: path)
                let baselineEvents = sizes.w11BaselineWrites * batch
                let baselineStream = try await store.stream("writer-alone")
                var baselineTime = Duration.zero
                for write in 0..<sizes.w11BaselineWrites {
                    let batchEvents = keyedEvents("alone", write * batch..<(write + 1) * batch)
                    baselineTime += try await Timing.measure { try await baselineStream.write(batchEvents) }
                }
                let bytesBefore = storeBytes(setup, path: path)
                // The writer's own bytes per event, to take its writes during compaction out of the figure.
                let writerBytesPerEvent = Double(max(0, bytesBefore - bytesBeforeBaseline)) / Double(baselineEvents)

                // The same writer while compact() runs; it stops after the write in flight when compact returns.
                let stop = StopFlag()
                let duringStream = try await store.stream("writer-during")
                let writer = Task { () throws -> (events: Int, time: Duration) in
                    var written = 0
                    var time = Duration.zero
                    while !stop.isSet {
                        let batchEvents = keyedEvents("during", written..<written + batch)
                        time += try await Timing.measure { try await duringStream.write(batchEvents) }
                        written += batch
                    }
                    return (written, time)
                }
                var report = CompactionReport(eventsRemoved: 0, bytesReclaimed: 0)
                let compactTime: Duration
                do {
                    compactTime = try await Timing.measure { report = try await store.compact() }
                    stop.set()
                } catch {
                    stop.set()
                    _ = try? await writer.value
                    throw error
                }
                let during = try await writer.value
                let bytesAfter = storeBytes(setup, path: path)

                // Everything visible is still there, and nothing deleted shows again.
                let expected = kept + baselineEvents + during.events
                let after = try await Phases.replay(try await store.stream("@all"))
                try Phases.check(after == expected, "W11 @all read \(after) of \(expected) events after compact()")
                let keptStream = try await Phases.replay(try await store.stream(streamID(0)))
                try Phases.check(keptStream == perStream, "W11 stream 0 read \(keptStream) of \(perStream) events")
                let deletedStream = try await Phases.replay(try await store.stream(streamID(deleted[0])))
                try Phases.check(deletedStream == 0, "W11 a deleted stream read \(deletedStream) events")
                try Phases.check(
                    report.eventsRemoved == Int64(events - kept),
                    "W11 compact() removed \(report.eventsRemoved) of \(events - kept) hidden events")

                let alone = Double(baselineEvents) / Timing.seconds(baselineTime)
                let whileCompacting = during.events > 0 ? Double(during.events) / Timing.seconds(during.time) : nil
                let reclaimed = Double(bytesBefore) + Double(during.events) * writerBytesPerEvent - Double(bytesAfter)
                let megabyte = 1_048_576.0
                let scope = setup.kind == .log ? "segment files" : "store files"
                return WorkloadResult(
                    workload: .w11, store: setup.kind,
                    figures: [
                        Figure("compact_s", "compact()", "s", Timing.seconds(compactTime), .lowerIsBetter),
                        Figure(
                            "events_removed", "events removed (compact()'s report)", "events",
                            Double(report.eventsRemoved), .higherIsBetter, isCharted: false),
                        Figure(
                            "bytes_reclaimed_mb", "bytes reclaimed (compact()'s report)", "MB",
                            Double(report.bytesReclaimed) / megabyte, .higherIsBetter, isCharted: false),
                        Figure(
                            "disk_before_mb", "\(scope) on disk before compact() (allocated)", "MB",
                            Double(bytesBefore) / megabyte, .lowerIsBetter, isCharted: false),
                        Figure(
                            "disk_after_mb", "\(scope) on disk after compact() (allocated, with the writer's events)",
                            "MB", Double(bytesAfter) / megabyte, .lowerIsBetter, isCharted: false),
                        Figure(
                            "disk_reclaimed_mb", "\(scope) on disk reclaimed (allocated, net of the writer's events)",
                            "MB", reclaimed / megabyte, .higherIsBetter, isCharted: false),
                        Figure(
                            "write_events_per_s_alone", "writer alone, writes of 10,000", "events/s", alone,
                            .higherIsBetter),
                        Figure(
                            "write_events_per_s_during", "the same writer during compact()", "events/s",
                            whileCompacting, .higherIsBetter,
                            note: during.events > 0 ? nil : "no write was made while compact() ran"),
                        Figure(
                            "write_ratio_during_compaction", "write rate during compact() / without", "x",
                            whileCompacting.map { $0 / alone }, .higherIsBetter, isCharted: false),
                    ],
                    parameters: [
                        ("events", String(events)), ("streams", String(streams)),
                        ("streams deleted", String(deleted.count)), ("events per stream write", String(perWrite)),
                        ("streams per write", String(sizes.w11StreamsPerWrite)),
                        ("build s", Format.fixed(Timing.seconds(build), 2)),
                        ("deletions s", Format.fixed(Timing.seconds(deletion), 2)),
                        ("writer batch", String(batch)), ("writer writes alone", String(sizes.w11BaselineWrites)),
                        ("writer writes during compact()", String(during.events / batch)),
                    ],
                    notes: during.events / batch < 3
                        ? [
                            "Only \(during.events / batch) of the writer's writes overlapped compact() "
                                + "(\(Format.fixed(Timing.seconds(compactTime), 2)) s): a write waits while compact() holds "
                                + "the store, so the rate during it is the wait of that write."
                        ] : [])
            }
        }
    }

    /// The store's allocated bytes: the log's segment files (compaction punches holes in them; the
    /// indexes keep their size), or every file of the store.
    private static func storeBytes(_ setup: StoreSetup, path: String) -> Int {
        guard setup.kind == .log else { return ScratchDirectory.bytes(under: path).allocated }
        return segmentFiles(in: path).reduce(0) { $0 + $1.allocated }
    }

    /// The log's segment files: allocated and apparent bytes of each.
    private static func segmentFiles(in path: String) -> [(ordinal: Int, allocated: Int, apparent: Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }.sorted().map { name in
            let bytes = ScratchDirectory.bytes(under: path + "/" + name)
            return (Int(name.dropFirst("segment-".count).dropLast(".log".count)) ?? 0, bytes.allocated, bytes.apparent)
        }
    }

    private static func streamID(_ index: Int) -> String { "stream-\(index)" }

    /// W1's events (type `Increment`, empty data) with keys `<prefix>-N`.
    private static func keyedEvents(_ prefix: String, _ range: Range<Int>) -> [CandidateEvent] {
        range.map { CandidateEvent(type: "Increment", idempotencyKey: "\(prefix)-\($0)") }
    }

    // MARK: - W1 with store retention (log only)

    /// W1's write on stores with segments of half a byte per event (W1's events take about 5 bytes
    /// of log each, LZ4-compressed, so about 10 segments), alternately without retention and with
    /// `StoreRetention(maxBytes: 2 segments)`, which drops the oldest segments as the writer rolls.
    private static func w1WithRetention(_ setup: StoreSetup, sizes: Sizes) async throws
        -> (figures: [Figure], parameters: [(String, String)])
    {
        let events = sizes.w1Events
        let unit = 4096
        let segmentBytes = max(unit, (events / 2 + unit - 1) / unit * unit)
        let maxBytes = Int64(2 * segmentBytes)
        var without: [Double] = []
        var with: [Double] = []
        var dropped: [Int] = []
        var segments = 0
        var visible = 0
        for _ in 0..<sizes.w11RetentionRounds {
            for retained in [false, true] {
                let configured = setup.withLogOptions(
                    segmentBytesMax: segmentBytes,
                    retention: retained ? LogEventStore.StoreRetention(maxBytes: maxBytes) : nil)
                let label = "w11-retention-\(retained ? "on" : "off")"
                let rate = try await ScratchDirectory.with(label) { directory in
                    try await Phases.withStore(configured, in: directory) { store in
                        let stream = try await store.stream("w1")
                        let (write, _) = try await Phases.writeKeyed(stream, range: 0..<events, batch: sizes.batchEvents)
                        let files = segmentFiles(in: configured.storePath(in: directory))
                        // A dropped segment is removed: the lowest segment file left says how many went.
                        let removed = (files.map(\.ordinal).min() ?? 1) - 1
                        let read = try await Phases.replay(try await store.stream("@all"))
                        if retained {
                            dropped.append(removed)
                            segments = files.count
                            visible = read
                            try Phases.check(
                                read < events, "W1 with retention: all \(events) events still visible, nothing dropped")
                        } else {
                            try Phases.check(read == events, "W1 without retention read \(read) of \(events) events")
                            try Phases.check(removed == 0, "W1 without retention: \(removed) segments removed")
                        }
                        return Double(events) / Timing.seconds(write)
                    }
                }
                if retained { with.append(rate) } else { without.append(rate) }
            }
        }
        let fewest = dropped.min() ?? 0
        try Phases.check(fewest >= 3, "W1 with retention dropped only \(fewest) segments; make them smaller")
        let median = { (rates: [Double]) in rates.sorted()[rates.count / 2] }
        let rateWithout = median(without)
        let rateWith = median(with)
        return (
            [
                Figure(
                    "retention_write_events_per_s_without", "W1 write, segments of \(segmentBytes / 1024) KiB",
                    "events/s", rateWithout, .higherIsBetter),
                Figure(
                    "retention_write_events_per_s_with", "the same with store retention dropping segments",
                    "events/s", rateWith, .higherIsBetter),
                Figure(
                    "retention_write_ratio", "W1 write with store retention / without", "x", rateWith / rateWithout,
                    .higherIsBetter, isCharted: false),
                Figure(
                    "retention_segments_dropped", "segments dropped during the W1 write with retention", "segments",
                    Double(fewest), .higherIsBetter, isCharted: false),
            ],
            [
                ("retention: W1 events", String(events)), ("segmentBytesMax", String(segmentBytes)),
                ("retention maxBytes", String(maxBytes)), ("segments written", String(segments)),
                ("segments dropped", dropped.map(String.init).joined(separator: "/")),
                ("events still visible", String(visible)),
                ("rounds (median reported)", String(sizes.w11RetentionRounds)),
            ]
        )
    }
}

/// Tells a task looping in the background to stop.
private final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
