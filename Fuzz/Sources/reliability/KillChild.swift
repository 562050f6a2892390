import EventSourcingCore
import EventSourcingTestSupport
import Foundation
import LogStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The writer process of the kill harness (`reliability child ...`): opens the store (recovering
/// it after the last kill), reports `O` when it is open, then runs the workload's writers
/// concurrently, each reporting every attempt before calling the store and every acknowledgement
/// after it returned, one line each on standard output (`HistoryEvent.line`), until killed.
enum KillChild {
    private static let output = Mutex(())

    /// Writes one report line, whole, with one `write(2)`.
    static func report(_ event: HistoryEvent) {
        let bytes = Array((event.line + "\n").utf8)
        output.withLock { _ in
            var done = 0
            bytes.withUnsafeBytes { buffer in
                while done < bytes.count {
                    let wrote = write(1, buffer.baseAddress! + done, bytes.count - done)
                    if wrote < 0 && errno == EINTR { continue }
                    if wrote <= 0 { exit(4) }
                    done += wrote
                }
            }
        }
    }

    /// The options of a child, as the parent passes them.
    struct Configuration {
        var store: String
        var workload: Workload
        var options: LogEventStore.Options
        var firstOperation: Int
        var operations: Int

        var arguments: [String] {
            [
                "--store", store, "--seed", String(workload.seed), "--profile", workload.profile.name,
                "--writers", String(workload.profile.writerCount),
                "--durability", options.durability == .fsync ? "fsync" : "buffered",
                "--segment-bytes", String(options.segmentBytesMax), "--checkpoint-bytes",
                String(options.checkpointBytesInterval), "--key-slots", String(options.keyIndexInitialCapacity),
                "--first-op", String(firstOperation), "--ops", String(operations),
            ]
        }

        init(store: String, workload: Workload, options: LogEventStore.Options, firstOperation: Int, operations: Int) {
            self.store = store
            self.workload = workload
            self.options = options
            self.firstOperation = firstOperation
            self.operations = operations
        }

        init?(_ arguments: Arguments) {
            guard let store = arguments.string("store"), let seed = arguments.string("seed").flatMap({ UInt64($0) }),
                let writers = arguments.int("writers"),
                let profile = Workload.Profile.named(arguments.string("profile") ?? "", writers: writers)
            else { return nil }
            self.store = store
            workload = Workload(seed: seed, profile: profile)
            options = LogEventStore.Options(
                durability: arguments.string("durability") == "buffered" ? .buffered : .fsync,
                segmentBytesMax: arguments.int("segment-bytes") ?? 1 << 16,
                checkpointBytesInterval: arguments.int("checkpoint-bytes") ?? 1 << 20)
            options.keyIndexInitialCapacity = arguments.int("key-slots") ?? options.keyIndexInitialCapacity
            firstOperation = arguments.int("first-op") ?? 0
            operations = arguments.int("ops") ?? 1_000_000
        }
    }

    /// Runs the child. - Returns: its exit status: 0 when every operation ran, 3 when one failed.
    static func run(_ arguments: Arguments) async -> Int32 {
        guard let configuration = Configuration(arguments) else {
            FileHandle.standardError.write(Data("child: bad arguments\n".utf8))
            return 2
        }
        let workload = configuration.workload
        let store: LogEventStore
        do {
            store = try await LogEventStore.open(directory: configuration.store, options: configuration.options)
            report(.opened(headSequenceID: try await store.stream("@all").metrics().currentVersion))
        } catch {
            report(.failed(operation: -1, message: "open: \(error)"))
            return 3
        }
        let writers = workload.profile.writerCount
        let first = configuration.firstOperation
        let end = first + configuration.operations
        let failed = await withTaskGroup(of: Bool.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var runner = WorkloadRunner(workload: workload)
                    do {
                        try await runner.refreshVersions(from: store, streams: workload.streams(ofWriter: writer))
                    } catch {
                        report(.failed(operation: -1, message: "reading versions: \(error)"))
                        return true
                    }
                    var operation = first + (writer - first % writers + writers) % writers
                    while operation < end {
                        switch await runner.run(operation, on: store, report: report) {
                        case .done:
                            break
                        case .failed:
                            return true
                        case .violation(let message):
                            report(.failed(operation: operation, message: message))
                            return true
                        }
                        operation += writers
                    }
                    return false
                }
            }
            var failed = false
            for await result in group { failed = failed || result }
            return failed
        }
        do {
            try await store.close()
        } catch {
            report(.failed(operation: -1, message: "close: \(error)"))
            return 3
        }
        return failed ? 3 : 0
    }
}
