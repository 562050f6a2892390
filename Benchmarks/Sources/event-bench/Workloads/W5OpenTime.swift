import EventSourcing
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// W5: the time to open a store of N events and answer a first query (the `@all` head), after a
/// clean close and after SIGKILL of the writing process. Timing includes the first query so that
/// a store that defers its recovery to first use is charged for it.
enum W5OpenTime {
    static let writerTimeout: Duration = .seconds(600)

    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w5Events
        let clean = try await ScratchDirectory.with("w5-clean-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                _ = try await Phases.writeKeyed(
                    try await store.stream("w5"), range: 0..<events, batch: sizes.batchEvents)
            }
            var samples: [Double] = []
            for _ in 0..<sizes.w5CleanOpenRepeats {
                samples.append(try await timeOpen(setup, directory: directory, events: events))
            }
            return samples
        }
        let (killed, leftover) = try await ScratchDirectory.with("w5-killed-\(setup.kind)") { directory in
            let child = try ChildProcess(arguments: [
                "kill-writer", "--store", setup.kind.rawValue, "--durability", setup.durability.rawValue,
                "--path", setup.storePath(in: directory), "--events", String(events), "--batch",
                String(sizes.batchEvents),
            ])
            guard await child.line(startingWith: "WRITTEN", timeout: writerTimeout) != nil else {
                await child.waitForExit(timeout: .zero)
                throw BenchmarkError("W5: the writer process did not report its \(events) events")
            }
            child.send(signal: SIGKILL)
            await child.waitForExit(timeout: .seconds(30))
            let leftover = ScratchDirectory.bytes(under: setup.storePath(in: directory))
            return (try await timeOpen(setup, directory: directory, events: events), leftover)
        }
        let median = clean.sorted()[clean.count / 2]
        return WorkloadResult(
            workload: .w5, store: setup.kind,
            figures: [
                Figure("clean_open_ms", "open after clean close", "ms", median, .lowerIsBetter),
                Figure("killed_open_ms", "open after SIGKILL", "ms", killed, .lowerIsBetter),
            ],
            parameters: [("events", String(events)), ("clean opens (median reported)", String(clean.count))],
            notes: [
                "Open = `open` + `stream(\"@all\").metrics()`; the page cache is warm (files just written). "
                    + "Clean opens: " + clean.map { Format.fixed($0, 2) }.joined(separator: ", ") + " ms. "
                    + "The killed writer had written \(events) events (\(Format.grouped(Double(leftover.apparent))) bytes of files) "
                    + "and was idle when SIGKILL arrived."
            ])
    }

    /// Opens the store, reads the `@all` head, and returns the milliseconds that took.
    private static func timeOpen(_ setup: StoreSetup, directory: String, events: Int) async throws -> Double {
        let start = Timing.clock.now
        let store = try await setup.open(in: directory)
        let head: Int64
        do {
            head = try await store.stream("@all").metrics().currentVersion
        } catch {
            try? await store.close()
            throw error
        }
        let elapsed = Timing.clock.now - start
        try await store.close()
        try Phases.check(head == Int64(events), "W5: the reopened store holds \(head) events, expected \(events)")
        return Timing.milliseconds(elapsed)
    }
}
