import Benchmark
import EventSourcingCore
import Foundation

@testable import LogStore

// Micro-benchmarks of the log engine's hot paths: framing a write, reading a frame back, CRC-32C,
// idempotency-key hashing, and the key table (Benchmarks/Micro/README.md says what each measures).
// `swift package --package-path Benchmarks/Micro benchmark`, or `make bench-micro`.
//
// Every input is built once, in a benchmark's setup hook, outside the measured iterations. Besides
// the wall-clock time and allocations of one iteration, each benchmark records a per-item rate
// (events/s, bytes/s or keys/s; see `Benchmark.measureRate`).

/// The benchmarks of this executable, registered when the benchmark runner starts it.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(1))
    registerFrameBenchmarks()
    registerChecksumBenchmarks()
    registerKeyHashBenchmark()
    registerKeyIndexBenchmarks()
}

/// The default metrics, and `rate` when the benchmark records one.
private func configuration(
    rate: BenchmarkMetric? = nil, scalingFactor: BenchmarkScalingFactor = .one
) -> Benchmark.Configuration {
    .init(
        metrics: Benchmark.defaultConfiguration.metrics + (rate.map { [$0] } ?? []), units: Benchmark.Rate.units,
        scalingFactor: scalingFactor)
}

/// Registers benchmark `name`: `setup` builds its input once, and each iteration calls `run` with
/// it `scalingFactor` times, recording `items(input)` items per call as `rate`.
private func register<Input>(
    _ name: String, rate: BenchmarkMetric, scalingFactor: BenchmarkScalingFactor = .one,
    items: @escaping (Input) -> Int, setup: @escaping () throws -> Input, run: @escaping (Input) throws -> Void
) {
    Benchmark(name, configuration: configuration(rate: rate, scalingFactor: scalingFactor)) { benchmark, input in
        let calls = benchmark.scaledIterations
        try benchmark.measureRate(rate, items: items(input) * calls.count) {
            for _ in calls { try run(input) }
        }
    } setup: {
        try setup()
    }
}

// MARK: Frames

/// Encoding a write's frame (records, LZ4 when it pays, header, CRC-32C) and reading it back.
private func registerFrameBenchmarks() {
    let batches: [(name: String, events: @Sendable () -> [CandidateEvent])] = [
        ("10k keyed events (W1)", { BenchmarkInputs.keyedEvents(count: 10_000) }),
        ("100 events with 200 B data + metadata", { BenchmarkInputs.documentEvents(count: 100) }),
    ]
    for batch in batches {
        register(
            "Frame encode \(batch.name)", rate: Benchmark.Rate.events, items: \.count, setup: batch.events,
            run: { events in blackHole(BenchmarkInputs.frame(of: events)) })
        register(
            "Frame decode \(batch.name)", rate: Benchmark.Rate.events, items: \.eventCount,
            setup: { () -> (frame: [UInt8], eventCount: Int) in
                let events = batch.events()
                return (BenchmarkInputs.frame(of: events), events.count)
            },
            run: { input in
                let decoded = try BenchmarkInputs.decodeFrame(input.frame)
                precondition(decoded == input.eventCount, "a frame decodes to the events it was encoded from")
            })
    }
    // The check alone (bounds, magic, lengths, and the CRC-32C over the whole frame), as recovery
    // and the verifier run it over every frame of a log.
    register(
        "Frame probe 10k keyed events (W1)", rate: Benchmark.Rate.bytes, items: \.count,
        setup: { BenchmarkInputs.frame(of: BenchmarkInputs.keyedEvents(count: 10_000)) },
        run: { frame in
            frame.withUnsafeBytes { bytes in
                guard case .frame(let header) = BatchFrame.probe(bytes, at: 0) else {
                    preconditionFailure("a frame this benchmark encoded probes as a frame")
                }
                blackHole(header)
            }
        })
}

// MARK: Checksums

/// CRC-32C, the checksum of every frame, index and snapshot, over a page and over a large frame.
private func registerChecksumBenchmarks() {
    // A 4 KiB checksum takes well under a microsecond: 1,000 per iteration keep the clock's cost
    // out of the figures, which are shown per checksum.
    register(
        "CRC-32C 4 KiB", rate: Benchmark.Rate.bytes, scalingFactor: .kilo, items: \.count,
        setup: { BenchmarkInputs.checksumInput(count: 4 << 10) }, run: { bytes in blackHole(Checksum.crc32c(bytes)) })
    register(
        "CRC-32C 1 MiB", rate: Benchmark.Rate.bytes, items: \.count,
        setup: { BenchmarkInputs.checksumInput(count: 1 << 20) }, run: { bytes in blackHole(Checksum.crc32c(bytes)) })
}

// MARK: Key hashing

/// The hash of every idempotency key of a write, which the writer computes once per key.
private func registerKeyHashBenchmark() {
    register(
        "StableHash.key 10k keys", rate: Benchmark.Rate.keys, items: \.count,
        setup: { (0..<10_000).map(BenchmarkInputs.key) },
        run: { keys in
            // Folded into one value, so no hash can be skipped and nothing else is measured.
            var folded: UInt64 = 0
            for key in keys { folded ^= StableHash.key(key, streamHash: BenchmarkInputs.streamHash) }
            blackHole(folded)
        })
}

// MARK: Key table

/// The key table (`keys.idx`): creating it, filling it as the writer does, and the batched lookup
/// every keyed write starts with.
private func registerKeyIndexBenchmarks() {
    let fileMode: mode_t = 0o644
    let entryCount = 1_000_000
    let batchSize = 10_000

    // Includes closing it (unmapping and closing the file), as each iteration's table is released.
    let createDirectory = ScratchDirectory()
    Benchmark("KeyIndex.create and close (4096 slots)", configuration: configuration()) { benchmark in
        guard let path = createDirectory.path else { preconditionFailure("the setup hook creates the directory") }
        for _ in benchmark.scaledIterations {
            blackHole(try KeyIndex.create(directory: path, fileMode: fileMode, io: SystemIO.shared))
        }
    } setup: {
        try createDirectory.create()
    } teardown: {
        createDirectory.remove()
    }

    // Growing from the initial capacity, as a new store's table does (2^12 to 2^21 slots); and in
    // a table created at its final size, which leaves the probing and the page faults alone.
    let tables: [(name: String, capacity: Int)] = [
        ("growing from 4096 slots", KeyIndex.initialCapacity), ("presized to 2^21 slots", 1 << 21),
    ]
    for table in tables {
        let directory = ScratchDirectory()
        let name = "KeyIndex.insert 1M keys in batches of 10k \(table.name)"
        Benchmark(name, configuration: configuration(rate: Benchmark.Rate.keys)) {
            (benchmark: Benchmark, batches: [BenchmarkInputs.KeyBatch]) in
            guard let path = directory.path else { preconditionFailure("the setup hook creates the directory") }
            let index = try KeyIndex.create(
                directory: path, capacity: table.capacity, fileMode: fileMode, io: SystemIO.shared)
            benchmark.startMeasurement()
            try benchmark.measureRate(Benchmark.Rate.keys, items: entryCount) {
                for batch in batches { try index.insert(batch) }
            }
            benchmark.stopMeasurement()
            precondition(index.count == entryCount, "every key is in the table")
        } setup: {
            try directory.create()
            return BenchmarkInputs.keyEntries(0..<entryCount, batchSize: batchSize)
        } teardown: {
            directory.remove()
        }
    }

    for isPresent in [true, false] {
        let fixture = KeyTableFixture(entryCount: entryCount, lookupCount: batchSize)
        Benchmark(
            "KeyIndex.firstCandidates 10k \(isPresent ? "present" : "absent") keys of 1M",
            configuration: configuration(rate: Benchmark.Rate.keys)
        ) { benchmark in
            guard let index = fixture.index else { preconditionFailure("the setup hook loads the table") }
            let hashes = isPresent ? fixture.presentHashes : fixture.absentHashes
            let calls = benchmark.scaledIterations
            benchmark.measureRate(Benchmark.Rate.keys, items: hashes.count * calls.count) {
                for _ in calls { blackHole(index.firstCandidates(hashes)) }
            }
        } setup: {
            try fixture.load()
        } teardown: {
            fixture.unload()
        }
    }
}
