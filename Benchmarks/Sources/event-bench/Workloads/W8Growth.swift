import EventSourcing
import Foundation

/// W8: W1's write and replay at each size of `Sizes.w8Events` (1M and 10M in a full run), each
/// on a fresh store, and resident memory during the replays.
///
/// The replay runs on a reopened store (the writer's state released, `malloc_trim` called), so
/// the memory figures show what replay itself holds. Memory is measured twice: the kernel's
/// peak (`VmHWM`, reset through /proc/self/clear_refs just before the replay) and a sampler
/// thread reading `VmRSS` and `RssAnon` every 5 ms.
enum W8Growth {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        var figures: [Figure] = []
        var rates: [(events: Int, write: Double, replay: Double)] = []
        var notes: [String] = []
        let megabyte = 1024.0 * 1024.0
        for (index, events) in sizes.w8Events.enumerated() {
            let label = sizeLabel(events)
            let isLargest = index == sizes.w8Events.count - 1
            let measured = try await ScratchDirectory.with("w8-\(label)-\(setup.kind)") { directory in
                let (write, _) = try await Phases.withStore(setup, in: directory) { store in
                    try await Phases.writeKeyed(
                        try await store.stream("w8"), range: 0..<events, batch: sizes.batchEvents)
                }
                ResidentMemory.trimHeap()
                let openStart = Timing.clock.now
                return try await Phases.withStore(setup, in: directory) { store in
                    _ = try await store.stream("@all").metrics()
                    let open = Timing.clock.now - openStart
                    let stream = try await store.stream("w8")
                    ResidentMemory.trimHeap()
                    let isPeakReset = ResidentMemory.resetPeak()
                    let baseline = ResidentMemory.now()
                    let sampler = MemorySampler()
                    var counter = 0
                    let replay = try await Timing.measure { counter = try await Phases.replay(stream) }
                    let sampled = sampler.stop()
                    let after = ResidentMemory.now()
                    try Phases.check(counter == events, "W8 replay counted \(counter) of \(events) events")
                    return (
                        write: write, open: open, replay: replay, baseline: baseline, sampled: sampled,
                        kernelPeak: isPeakReset ? after.peakResidentBytes : nil, after: after
                    )
                }
            }
            let writeRate = Double(events) / Timing.seconds(measured.write)
            let replayRate = Double(events) / Timing.seconds(measured.replay)
            rates.append((events, writeRate, replayRate))
            figures += [
                Figure("write_events_per_s_\(label)", "write at \(label)", "events/s", writeRate, .higherIsBetter),
                Figure("replay_events_per_s_\(label)", "replay at \(label)", "events/s", replayRate, .higherIsBetter),
                Figure(
                    "open_ms_\(label)", "open before the replay at \(label)", "ms", Timing.milliseconds(measured.open),
                    .lowerIsBetter, isCharted: false),
            ]
            let peak = Double(measured.kernelPeak ?? measured.sampled.resident) / megabyte
            figures += [
                Figure(
                    "replay_peak_rss_mb_\(label)", "peak resident memory, replay at \(label)", "MB", peak,
                    .lowerIsBetter, isCharted: isLargest),
                Figure(
                    "replay_peak_anon_mb_\(label)", "peak anonymous memory, replay at \(label)", "MB",
                    Double(measured.sampled.anonymous) / megabyte, .lowerIsBetter, isCharted: isLargest),
                Figure(
                    "replay_baseline_rss_mb_\(label)", "resident memory before the replay at \(label)", "MB",
                    Double(measured.baseline.residentBytes) / megabyte, .lowerIsBetter, isCharted: false),
            ]
            notes.append(
                "\(label): peak RSS \(measured.kernelPeak == nil ? "sampled (VmHWM could not be reset)" : "is VmHWM after a reset")"
                    + "; \(measured.sampled.samples) samples, sampled peak VmRSS "
                    + Format.fixed(Double(measured.sampled.resident) / megabyte, 1)
                    + " MB, of which file-backed pages at the end "
                    + Format.fixed(Double(measured.after.fileBytes) / megabyte, 1) + " MB.")
        }
        if let small = rates.first, let large = rates.last, rates.count > 1 {
            let name = "\(sizeLabel(large.events))/\(sizeLabel(small.events))"
            figures += [
                Figure(
                    "write_ratio", "write rate \(name)", "x", large.write / small.write, .higherIsBetter,
                    isCharted: false),
                Figure(
                    "replay_ratio", "replay rate \(name)", "x", large.replay / small.replay, .higherIsBetter,
                    isCharted: false),
            ]
        }
        return WorkloadResult(
            workload: .w8, store: setup.kind, figures: figures,
            parameters: [
                ("events", sizes.w8Events.map(String.init).joined(separator: ", ")),
                ("batch", String(sizes.batchEvents)),
            ],
            notes: notes)
    }

    /// `1000000` as `1M`, `2500000` as `2.5M`.
    static func sizeLabel(_ events: Int) -> String {
        if events % 1_000_000 == 0 { return "\(events / 1_000_000)M" }
        if events >= 1_000_000 { return Format.fixed(Double(events) / 1e6, 1) + "M" }
        if events % 1_000 == 0 { return "\(events / 1_000)k" }
        return String(events)
    }
}
