import EventSourcing
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// W4: watch latency from the start of an append to the watcher receiving the event. A writer
/// writes single events one at a time and waits for each to be delivered before the next.
///
/// - In-process: a watcher task on the same store handle.
/// - Cross-process: this binary re-executed as `watch-child`, which opens the store read-only,
///   watches the stream and prints each event's receive time on `CLOCK_MONOTONIC` (one clock
///   for every process on the machine), so both sides' timestamps compare directly.
///
/// Every wait is bounded: an event not delivered within `deliveryTimeout` ends the measurement,
/// and a read-only watcher that sees no new event at all is reported as not supported yet.
enum W4WatchLatency {
    static let deliveryTimeout: Duration = .seconds(5)
    static let childStartTimeout: Duration = .seconds(60)

    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        try await ScratchDirectory.with("w4-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                let local = try await inProcess(
                    store, samples: sizes.w4Samples, warmUp: sizes.w4WarmUpSamples, budget: sizes.w4PhaseBudget)
                let remote = try await crossProcess(
                    store, setup: setup, path: setup.storePath(in: directory), samples: sizes.w4Samples,
                    warmUp: sizes.w4WarmUpSamples, budget: sizes.w4PhaseBudget)
                var figures = [
                    Figure("inprocess_p50_us", "in-process p50", "µs", local.delivery.p50, .lowerIsBetter),
                    Figure("inprocess_p99_us", "in-process p99", "µs", local.delivery.p99, .lowerIsBetter),
                    Figure("inprocess_max_us", "in-process max", "µs", local.delivery.max, .lowerIsBetter),
                    Figure(
                        "inprocess_write_p50_us", "in-process: the write call alone, p50", "µs", local.write.p50,
                        .lowerIsBetter, isCharted: false),
                ]
                var notes: [String] = []
                if let note = local.note { notes.append("In-process: \(note)") }
                switch remote {
                case .measured(let delivery, let note):
                    if let note { notes.append("Cross-process: \(note)") }
                    figures += [
                        Figure("crossprocess_p50_us", "cross-process p50", "µs", delivery.p50, .lowerIsBetter),
                        Figure("crossprocess_p99_us", "cross-process p99", "µs", delivery.p99, .lowerIsBetter),
                        Figure("crossprocess_max_us", "cross-process max", "µs", delivery.max, .lowerIsBetter),
                    ]
                case .unavailable(let reason):
                    notes.append("Cross-process: \(reason)")
                    figures += ["p50", "p99", "max"].map {
                        Figure("crossprocess_\($0)_us", "cross-process \($0)", "µs", nil, .lowerIsBetter, note: reason)
                    }
                }
                return WorkloadResult(
                    workload: .w4, store: setup.kind, figures: figures,
                    parameters: [
                        ("samples", String(sizes.w4Samples)), ("warm-up samples", String(sizes.w4WarmUpSamples)),
                        ("time budget per phase", "\(Int(Timing.seconds(sizes.w4PhaseBudget))) s"),
                        ("durability", setup.durability.rawValue),
                    ],
                    notes: notes)
            }
        }
    }

    /// Single-event writes with a watcher in the same process.
    private static func inProcess(_ store: any EventStore, samples: Int, warmUp: Int, budget: Duration) async throws
        -> (delivery: LatencySummary, write: LatencySummary, note: String?)
    {
        let deadline = Timing.clock.now + budget
        let stream = try await store.stream("w4")
        try await stream.write(CandidateEvent(type: "Ping"))
        let start = try await stream.metrics().currentVersion
        let total = warmUp + samples
        let deliveries = Mailbox<(version: Int64, nanoseconds: UInt64)>()
        let watcher = Task {
            do {
                for try await event in stream.watch(from: start) {
                    deliveries.send((event.version, Timing.monotonicNanoseconds()))
                    if event.version >= start + Int64(total) { break }
                }
            } catch {}
            deliveries.close()
        }
        defer { watcher.cancel() }
        var delivery: [Double] = []
        var write: [Double] = []
        var warmUpDelivery: [Double] = []
        for sample in 0..<total {
            guard Timing.clock.now < deadline else { break }
            let before = Timing.monotonicNanoseconds()
            let version = try await stream.write(CandidateEvent(type: "Ping"))
            let written = Timing.monotonicNanoseconds()
            guard let received = await deliveries.receive(timeout: deliveryTimeout) else {
                throw BenchmarkError("W4 in-process: version \(version) was not delivered within \(deliveryTimeout)")
            }
            try Phases.check(
                received.version == version, "W4 in-process: delivered \(received.version), wrote \(version)")
            let latency = Double(Int64(received.nanoseconds) - Int64(before)) / 1000
            if sample >= warmUp {
                delivery.append(latency)
                write.append(Double(written - before) / 1000)
            } else {
                warmUpDelivery.append(latency)
            }
        }
        let note = truncationNote(measured: delivery.count, samples: samples, budget: budget)
        return (LatencySummary(delivery.isEmpty ? warmUpDelivery : delivery), LatencySummary(write), note)
    }

    enum CrossProcessOutcome {
        case measured(LatencySummary, note: String?)
        case unavailable(String)
    }

    /// Single-event writes here, a read-only watcher in a child process.
    private static func crossProcess(
        _ store: any EventStore, setup: StoreSetup, path: String, samples: Int, warmUp: Int, budget: Duration
    ) async throws -> CrossProcessOutcome {
        let stream = try await store.stream("w4x")
        // The stream exists and is durable before the reader opens the store.
        try await stream.write(CandidateEvent(type: "Ping"))
        let total = warmUp + samples
        let child = try ChildProcess(arguments: [
            "watch-child", "--store", setup.kind.rawValue, "--path", path, "--stream", "w4x", "--count", String(total),
        ])
        guard let ready = await child.line(startingWith: "READY", timeout: childStartTimeout) else {
            child.closeInput()
            await child.waitForExit(timeout: .seconds(5))
            return .unavailable("the read-only watcher process did not start (no READY within \(childStartTimeout))")
        }
        let head = Int64(ready.split(separator: " ").last ?? "") ?? -1
        var delivery: [Double] = []
        var warmUpDelivery: [Double] = []
        let deadline = Timing.clock.now + budget
        for sample in 0..<total {
            guard Timing.clock.now < deadline else { break }
            let before = Timing.monotonicNanoseconds()
            let version = try await stream.write(CandidateEvent(type: "Ping"))
            guard let line = await child.line(startingWith: "EVENT", timeout: deliveryTimeout) else {
                child.closeInput()
                await child.waitForExit(timeout: .seconds(10))
                if sample == 0 {
                    return .unavailable(
                        "not supported yet: a watch on a store opened read-only in another process received no new "
                            + "event within \(deliveryTimeout) (its head at open was \(head))")
                }
                return .unavailable("delivery stopped after \(sample) events (version \(version) not received)")
            }
            let parts = line.split(separator: " ")
            guard parts.count == 3, let received = Int64(parts[1]), let at = UInt64(parts[2]) else {
                throw BenchmarkError("W4 cross-process: unreadable line from the watcher: \(line)")
            }
            try Phases.check(
                received == version, "W4 cross-process: the watcher received \(received), wrote \(version)")
            let latency = Double(Int64(at) - Int64(before)) / 1000
            if sample >= warmUp { delivery.append(latency) } else { warmUpDelivery.append(latency) }
        }
        let note = truncationNote(measured: delivery.count, samples: samples, budget: budget)
        if note == nil { _ = await child.line(startingWith: "DONE", timeout: .seconds(10)) }
        child.closeInput()
        await child.waitForExit(timeout: .seconds(10))
        return .measured(LatencySummary(delivery.isEmpty ? warmUpDelivery : delivery), note: note)
    }

    /// Says so when the time budget cut a phase short (deliveries slower than a few milliseconds).
    private static func truncationNote(measured: Int, samples: Int, budget: Duration) -> String? {
        guard measured < samples else { return nil }
        if measured == 0 {
            return "the \(Int(Timing.seconds(budget))) s time budget ended during the warm-up; the figures are "
                + "over the warm-up deliveries"
        }
        return "only \(measured) of \(samples) samples within the \(Int(Timing.seconds(budget))) s time budget"
    }
}
