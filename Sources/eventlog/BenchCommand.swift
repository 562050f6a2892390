import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog bench`: the W1 reference workload of BENCHMARKS.md on each store, side by side.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the W1 workload (write, replay, snapshot, restore) on the log and SQLite stores.",
        discussion: """
            W1: EVENTS events to one stream in writes of BATCH, each with idempotency key event-N and \
            empty data; replay them all into a counter; snapshot; write 100 more; restore from the \
            snapshot. Stores run at matching durability (log fsync with SQLite FULL, log buffered \
            with SQLite NORMAL) on temporary directories. Build with -c release for real figures.

            Example:
              eventlog bench --events 1000000 --batch 10000 --store all
            """
    )

    enum StoreChoice: String, ExpressibleByArgument, CaseIterable { case log, sqlite, all }
    enum DurabilityChoice: String, ExpressibleByArgument, CaseIterable { case fsync, buffered }

    @Option(help: "Events written in the main phase.") var events = 1_000_000
    @Option(help: "Events per write.") var batch = 10_000
    @Option(help: "Which store to run: log, sqlite or all.") var store: StoreChoice = .all
    @Option(help: "fsync (with SQLite FULL) or buffered (with SQLite NORMAL).") var durability: DurabilityChoice =
        .fsync
    @Flag(help: "Print one JSON object per store instead of a table.") var json = false

    func validate() throws {
        guard events > 0, batch > 0, batch <= Limits.batchEventsMax else {
            throw ValidationError("--events and --batch must be positive, --batch at most \(Limits.batchEventsMax)")
        }
    }

    func run() async throws {
        var results: [W1Result] = []
        if store != .sqlite {
            results.append(try await W1.run(.log, events: events, batch: batch, durability: durability))
        }
        if store != .log {
            results.append(try await W1.run(.sqlite, events: events, batch: batch, durability: durability))
        }
        if json {
            for result in results { print(result.json) }
        } else {
            print(W1Result.table(results))
        }
    }
}

/// One store's W1 figures.
struct W1Result {
    var store: String
    var events: Int
    var writeEventsPerSecond: Double
    var replayEventsPerSecond: Double
    var restoreMilliseconds: Double
    var bytesPerEvent: Double

    var json: String {
        JSONValue.object([
            "workload": "W1", "store": .string(store), "events": .int(Int64(events)),
            "write_events_per_s": .double(writeEventsPerSecond.rounded()),
            "replay_events_per_s": .double(replayEventsPerSecond.rounded()),
            "restore_ms": .double((restoreMilliseconds * 1000).rounded() / 1000),
            "bytes_per_event": .double((bytesPerEvent * 100).rounded() / 100),
        ]).jsonText
    }

    static func table(_ results: [W1Result]) -> String {
        var lines = ["store     events     write ev/s    replay ev/s   restore ms   bytes/event"]
        for result in results {
            lines.append(
                result.store.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(result.events).leftPadded(to: 7)
                    + String(Int(result.writeEventsPerSecond)).leftPadded(to: 15)
                    + String(Int(result.replayEventsPerSecond)).leftPadded(to: 15)
                    + String(format: "%.3f", result.restoreMilliseconds).leftPadded(to: 13)
                    + String(format: "%.1f", result.bytesPerEvent).leftPadded(to: 14))
        }
        if results.count == 2, results[1].writeEventsPerSecond > 0, results[1].replayEventsPerSecond > 0 {
            let (log, sqlite) = (results[0], results[1])
            lines.append(
                String(
                    format: "log/sqlite: write %.1fx, replay %.1fx, bytes %.2fx",
                    log.writeEventsPerSecond / sqlite.writeEventsPerSecond,
                    log.replayEventsPerSecond / sqlite.replayEventsPerSecond, log.bytesPerEvent / sqlite.bytesPerEvent))
        }
        return lines.joined(separator: "\n")
    }
}

/// The W1 workload.
enum W1 {
    enum Kind: String { case log, sqlite }

    static func run(_ kind: Kind, events: Int, batch: Int, durability: BenchCommand.DurabilityChoice) async throws
        -> W1Result
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "eventlog-bench-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store: any EventStore
        switch kind {
        case .log:
            store = try await LogEventStore.open(
                directory: directory + "/log", options: .init(durability: durability == .fsync ? .fsync : .buffered))
        case .sqlite:
            store = try await SQLiteEventStore.open(
                path: directory + "/events.db", options: .init(synchronous: durability == .fsync ? .full : .normal))
        }
        let result = try await measure(store, kind: kind, events: events, batch: batch, directory: directory)
        return result
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func measure(_ store: any EventStore, kind: Kind, events: Int, batch: Int, directory: String)
        async throws -> W1Result
    {
        let clock = ContinuousClock()
        let stream = try await store.stream("w1")
        let writing = ProgressBar("bench \(kind.rawValue) write", total: Int64(events))
        let writeTime = try await clock.measure {
            var written = 0
            while written < events {
                let size = min(batch, events - written)
                try await stream.write(
                    (written..<written + size).map { CandidateEvent(type: "Increment", idempotencyKey: "event-\($0)") })
                written += size
                writing.advance(by: Int64(size))
            }
        }
        writing.finish()
        var counter = 0
        let replaying = ProgressBar("bench \(kind.rawValue) replay", total: Int64(events))
        let replayTime = try await clock.measure {
            for try await _ in stream.read() {
                counter += 1
                if counter & 1023 == 0 { replaying.advance(by: 1024) }
            }
        }
        replaying.set(done: Int64(counter))
        replaying.finish()
        precondition(counter == events, "replay saw \(counter) of \(events) events")
        try await stream.snapshot(Data(String(counter).utf8))
        try await stream.write(
            (events..<events + 100).map { CandidateEvent(type: "Increment", idempotencyKey: "event-\($0)") })
        var restored = 0
        let restoreTime = try await clock.measure {
            let reopened = try await store.stream("w1")
            guard let snapshot = try await reopened.loadSnapshot() else { return }
            restored = Int(String(decoding: snapshot.state, as: UTF8.self)) ?? 0
            for try await _ in reopened.read(from: snapshot.version) { restored += 1 }
        }
        precondition(restored == events + 100, "restore counted \(restored)")
        try await store.close()
        return W1Result(
            store: kind.rawValue, events: events, writeEventsPerSecond: Double(events) / seconds(writeTime),
            replayEventsPerSecond: Double(events) / seconds(replayTime),
            restoreMilliseconds: seconds(restoreTime) * 1000,
            bytesPerEvent: Double(try directoryBytes(directory)) / Double(events + 100))
    }

    /// The bytes the files under `path` occupy.
    static func directoryBytes(_ path: String) throws -> Int {
        var total = 0
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: path + "/" + name)
            if attributes[.type] as? FileAttributeType == .typeRegular {
                total += (attributes[.size] as? NSNumber)?.intValue ?? 0
            }
        }
        return total
    }
}
