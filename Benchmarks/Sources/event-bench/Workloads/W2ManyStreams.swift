import EventSourcing
import Foundation

/// W2: many streams × 10 events from 64 concurrent writers (tasks) in writes of 1–10 events
/// (seeded random sizes); then reads of one random stream, then an `@all` replay.
enum W2ManyStreams {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        try await ScratchDirectory.with("w2-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                try await measure(store, kind: setup.kind, sizes: sizes)
            }
        }
    }

    private static func streamID(_ index: Int) -> String { "stream-\(index)" }

    private static func measure(_ store: any EventStore, kind: StoreKind, sizes: Sizes) async throws -> WorkloadResult {
        let streams = sizes.w2Streams
        let perStream = sizes.w2EventsPerStream
        let writers = sizes.w2Writers
        let total = streams * perStream

        let writeTime = try await Timing.measure {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        try await writeStreams(
                            store, writer: writer, writers: writers, streams: streams, perStream: perStream)
                    }
                }
                var writes = 0
                for try await count in group { writes += count }
                _ = writes
            }
        }

        var generator = SeededGenerator(seed: 0x5732)
        var latencies: [Double] = []
        latencies.reserveCapacity(sizes.w2ReadSamples)
        let warmUp = min(100, sizes.w2ReadSamples)
        for sample in 0..<(warmUp + sizes.w2ReadSamples) {
            let index = Int.random(in: 0..<streams, using: &generator)
            let start = Timing.clock.now
            let stream = try await store.stream(streamID(index))
            let count = try await Phases.replay(stream)
            let elapsed = Timing.clock.now - start
            try Phases.check(count == perStream, "W2 read \(count) events of stream \(index), expected \(perStream)")
            if sample >= warmUp { latencies.append(Timing.microseconds(elapsed)) }
        }
        let reads = LatencySummary(latencies)

        let all = try await store.stream("@all")
        var replayed = 0
        let replayTime = try await Timing.measure { replayed = try await Phases.replay(all) }
        try Phases.check(replayed == total, "W2 @all replay counted \(replayed) of \(total) events")

        return WorkloadResult(
            workload: .w2, store: kind,
            figures: [
                Figure(
                    "write_events_per_s", "write, 64 writers", "events/s", Double(total) / Timing.seconds(writeTime),
                    .higherIsBetter),
                Figure("read_stream_p50_us", "read one random stream p50", "µs", reads.p50, .lowerIsBetter),
                Figure("read_stream_p99_us", "read one random stream p99", "µs", reads.p99, .lowerIsBetter),
                Figure(
                    "all_replay_events_per_s", "@all replay", "events/s", Double(total) / Timing.seconds(replayTime),
                    .higherIsBetter),
            ],
            parameters: [
                ("streams", String(streams)), ("events per stream", String(perStream)), ("writers", String(writers)),
                ("read samples", String(sizes.w2ReadSamples)),
            ],
            notes: [
                "A read sample is `store.stream(id)` plus reading its \(perStream) events, after \(warmUp) warm-up reads."
            ])
    }

    /// One writer: the streams whose index ≡ `writer` (mod `writers`), each filled with
    /// `perStream` events in writes of 1–10 events.
    /// - Returns: how many writes it made.
    private static func writeStreams(
        _ store: any EventStore, writer: Int, writers: Int, streams: Int, perStream: Int
    ) async throws -> Int {
        var generator = SeededGenerator(seed: 0x5732_0000 &+ UInt64(writer))
        var writes = 0
        for index in stride(from: writer, to: streams, by: writers) {
            let stream = try await store.stream(streamID(index))
            var remaining = perStream
            while remaining > 0 {
                let size = min(Int.random(in: 1...10, using: &generator), remaining)
                try await stream.write((0..<size).map { _ in CandidateEvent(type: "Item") })
                remaining -= size
                writes += 1
            }
        }
        return writes
    }
}
