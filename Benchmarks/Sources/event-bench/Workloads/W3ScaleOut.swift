import EventSourcing
import Foundation

/// W3's scale-out figure, for a store that many processes write at once (PostgreSQL: the
/// application on several machines): single durable writes from several writer processes
/// together, each on streams of its own, against one such process.
///
/// The writers are this binary re-executed as `event-bench write-child`. Every child opens the
/// store and reports `READY`; then all are sent one start time on `CLOCK_MONOTONIC` (a warm-up
/// from now), so that they measure the same period, and each reports the writes it completed
/// within it. The rate is their sum over the period. Only this store has the figures, so they have
/// no ratio to SQLite and stay out of the chart.
enum W3ScaleOut {
    static let childStartTimeout: Duration = .seconds(60)

    /// The figures for 1 process and `sizes.w3ScaleOutProcesses` processes, at each number of
    /// writers per process of `sizes.w3ScaleOutWritersPerProcess`, with the ratio of each pair.
    static func figures(_ setup: StoreSetup, path: String, sizes: Sizes) async throws -> [Figure] {
        let many = sizes.w3ScaleOutProcesses
        var figures: [Figure] = []
        for writers in sizes.w3ScaleOutWritersPerProcess {
            let perProcess = "\(writers) writer\(writers == 1 ? "" : "s")"
            let single = try await rate(
                setup, path: path, processes: 1, writersPerProcess: writers, warmUp: sizes.w3WarmUpDuration,
                duration: sizes.w3MeasureDuration)
            let together = try await rate(
                setup, path: path, processes: many, writersPerProcess: writers, warmUp: sizes.w3WarmUpDuration,
                duration: sizes.w3MeasureDuration)
            figures += [
                Figure(
                    "scaleout_1_process_\(writers)_writers_events_per_s", "1 writer process × \(perProcess)",
                    "events/s", single, .higherIsBetter, isCharted: false),
                Figure(
                    "scaleout_\(many)_processes_\(writers)_writers_events_per_s",
                    "\(many) writer processes × \(perProcess), together", "events/s", together, .higherIsBetter,
                    isCharted: false),
                Figure(
                    "scaleout_ratio_\(writers)_writers", "\(many) processes / 1 process, \(perProcess) each", "x",
                    single > 0 ? together / single : nil, .higherIsBetter, isCharted: false),
            ]
        }
        return figures
    }

    /// The events per second that `processes` children with `writersPerProcess` tasks each wrote
    /// together during `duration`, after `warmUp`.
    private static func rate(
        _ setup: StoreSetup, path: String, processes: Int, writersPerProcess: Int, warmUp: Duration,
        duration: Duration
    ) async throws -> Double {
        var children: [ChildProcess] = []
        defer {
            for child in children { child.closeInput() }
        }
        for process in 0..<processes {
            children.append(
                try ChildProcess(arguments: [
                    "write-child", "--store", setup.kind.rawValue, "--path", path,
                    "--stream-prefix", "w3x-\(processes)p-\(writersPerProcess)w-\(process)",
                    "--writers", String(writersPerProcess),
                    "--measure-milliseconds", String(Int(Timing.milliseconds(duration))),
                ]))
        }
        for child in children {
            guard await child.line(startingWith: "READY", timeout: childStartTimeout) != nil else {
                for child in children { await child.waitForExit(timeout: .zero) }
                throw BenchmarkError(
                    "W3 scale-out: a writer process did not start (no READY within \(childStartTimeout))")
            }
        }
        let start = Timing.monotonicNanoseconds() + UInt64(Timing.seconds(warmUp) * 1e9)
        for child in children { try child.send(line: "GO \(start)") }
        var total = 0
        let resultTimeout = warmUp + duration + .seconds(60)
        for child in children {
            guard let line = await child.line(startingWith: "RESULT", timeout: resultTimeout),
                let count = Int(line.split(separator: " ").last ?? "")
            else {
                for child in children { await child.waitForExit(timeout: .zero) }
                throw BenchmarkError("W3 scale-out: a writer process reported no result")
            }
            total += count
        }
        for child in children {
            child.closeInput()
            let status = await child.waitForExit(timeout: .seconds(30))
            try Phases.check(
                status == 0,
                "W3 scale-out: a writer process exited with status \(status.map(String.init) ?? "none (killed)")")
        }
        return Double(total) / Timing.seconds(duration)
    }
}
