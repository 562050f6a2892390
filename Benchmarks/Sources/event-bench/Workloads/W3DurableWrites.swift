import EventSourcing
import Foundation

/// W3: single-event writes at full durability from 1, 8 and 64 concurrent writers (tasks), each
/// on its own stream, for a fixed time after a warm-up. Concurrent writers share a sync only if
/// the store commits in groups, so the 64/1 ratio shows group commit. On the log store, a bare
/// `fdatasync` of one small append is timed first (`MachineReference`, issue 17): the floor of a
/// durable write, against which the single writer's p50 is read.
///
/// On PostgreSQL, which many processes write at once, the scale-out figure follows: several
/// writer processes together against one (`W3ScaleOut`).
enum W3DurableWrites {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        try await ScratchDirectory.with("w3-\(setup.kind)") { directory in
            var result = try await Phases.withStore(setup, in: directory) { store in
                var figures: [Figure] = []
                var rates: [Int: Double] = [:]
                // The floor of a durable write, measured just before the writers on the same
                // filesystem, while the store is open and idle (under `.buffered` no write is durable).
                let floor =
                    setup.kind == .log && setup.durability == .fsync
                    ? try MachineReference.syncLatency(
                        in: directory, warmUp: sizes.w3SyncProbeWarmUp, samples: sizes.w3SyncProbeSamples,
                        recordBytes: sizes.w3SyncProbeRecordBytes) : nil
                for writers in sizes.w3Concurrencies {
                    let (rate, latency) = try await measure(
                        store, writers: writers, warmUp: sizes.w3WarmUpDuration, duration: sizes.w3MeasureDuration)
                    rates[writers] = rate
                    figures += [
                        Figure(
                            "writers_\(writers)_events_per_s", "\(writers) writer\(writers == 1 ? "" : "s")",
                            "events/s", rate, .higherIsBetter),
                        Figure(
                            "writers_\(writers)_p50_us", "\(writers) writer\(writers == 1 ? "" : "s") p50 latency",
                            "µs", latency.p50, .lowerIsBetter),
                        Figure(
                            "writers_\(writers)_p99_us", "\(writers) writer\(writers == 1 ? "" : "s") p99 latency",
                            "µs", latency.p99, .lowerIsBetter),
                    ]
                }
                if let floor {
                    figures += [
                        Figure(
                            "fdatasync_p50_us", "bare fdatasync of a \(sizes.w3SyncProbeRecordBytes)-byte append p50",
                            "µs", floor.p50, .lowerIsBetter, isCharted: false),
                        Figure(
                            "fdatasync_p99_us", "bare fdatasync of a \(sizes.w3SyncProbeRecordBytes)-byte append p99",
                            "µs", floor.p99, .lowerIsBetter, isCharted: false),
                    ]
                    if let single = figures.first(where: { $0.key == "writers_1_p50_us" })?.value, floor.p50 > 0 {
                        figures.append(
                            Figure(
                                "writers_1_p50_over_fdatasync", "1 writer p50 / bare fdatasync p50", "x",
                                single / floor.p50, .lowerIsBetter, isCharted: false))
                    }
                }
                if let single = rates[1], let many = rates[64], single > 0 {
                    figures.append(
                        Figure(
                            "ratio_64_to_1", "64 writers / 1 writer", "x", many / single, .higherIsBetter,
                            isCharted: false))
                }
                var parameters = [
                    ("writers", sizes.w3Concurrencies.map(String.init).joined(separator: ", ")),
                    ("measured seconds per level", Format.fixed(Timing.seconds(sizes.w3MeasureDuration), 1)),
                    ("warm-up seconds per level", Format.fixed(Timing.seconds(sizes.w3WarmUpDuration), 1)),
                    ("durability", setup.durability.rawValue),
                ]
                if floor != nil {
                    parameters.append(
                        (
                            "bare fdatasync probe",
                            "\(sizes.w3SyncProbeSamples) appends of \(sizes.w3SyncProbeRecordBytes) bytes after "
                                + "\(sizes.w3SyncProbeWarmUp) warm-up"
                        ))
                }
                return WorkloadResult(workload: .w3, store: setup.kind, figures: figures, parameters: parameters)
            }
            if setup.kind == .postgres {
                do {
                    result.figures += try await W3ScaleOut.figures(
                        setup, path: setup.storePath(in: directory), sizes: sizes)
                } catch {
                    // The in-process figures stand on their own; the scale-out says why it is missing.
                    result.notes.append("Scale-out FAILED: \(error)")
                    ConsoleTable.progress("W3 scale-out on \(setup.kind.displayName) failed: \(error)")
                }
                result.parameters += [
                    ("scale-out processes", "1 and \(sizes.w3ScaleOutProcesses)"),
                    (
                        "scale-out writers per process",
                        sizes.w3ScaleOutWritersPerProcess.map(String.init).joined(separator: ", ")
                    ),
                ]
                result.notes.append(
                    "Scale-out: each writer process (`event-bench write-child`) opens its own store on the same "
                        + "schema and writes single events from its writer tasks, each to a stream of its own; all "
                        + "processes measure the same \(Format.fixed(Timing.seconds(sizes.w3MeasureDuration), 1)) s "
                        + "of CLOCK_MONOTONIC after the warm-up. The server and the writer processes share the "
                        + "machine's \(ProcessInfo.processInfo.activeProcessorCount) cores.")
            }
            return result
        }
    }

    /// Runs `writers` tasks writing one event at a time for `warmUp + duration`, counting only
    /// the writes that start and end within the measured period.
    private static func measure(_ store: any EventStore, writers: Int, warmUp: Duration, duration: Duration)
        async throws
        -> (eventsPerSecond: Double, latency: LatencySummary)
    {
        let measureStart = Timing.clock.now + warmUp
        let end = measureStart + duration
        var latencies: [Double] = []
        var count = 0
        try await withThrowingTaskGroup(of: [Double].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let stream = try await store.stream("w3-\(writers)-\(writer)")
                    var samples: [Double] = []
                    while true {
                        let start = Timing.clock.now
                        guard start < end else { break }
                        try await stream.write(CandidateEvent(type: "Tick"))
                        let finish = Timing.clock.now
                        if start >= measureStart && finish <= end {
                            samples.append(Timing.microseconds(finish - start))
                        }
                    }
                    return samples
                }
            }
            for try await samples in group {
                count += samples.count
                latencies += samples
            }
        }
        return (Double(count) / Timing.seconds(duration), LatencySummary(latencies))
    }
}
