import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog demo`: the walkthrough on a temporary store.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Walk through writing, reading, projecting, watching, snapshots and filters.",
        discussion: """
            Runs on a temporary store that is removed afterwards, then writes the same events to \
            every kind of store side by side.

            Example:
              eventlog demo
            """
    )

    @Option(help: "How many events the side-by-side comparison writes to each store.")
    var compareEvents = 20_000

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "eventlog-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("demo-store").path
        print("Store: LogEventStore in \(path)\n")
        try await LogEventStore.withStore(directory: path) { store in try await Walkthrough(store: store).run() }
        try await SideBySide(directory: directory.path, eventCount: compareEvents).run()
    }
}

/// The walkthrough's steps, on any store.
struct Walkthrough {
    let store: any EventStore

    func run() async throws {
        print("1. Write three events to 'counter-1'")
        let counter = try await store.stream("counter-1")
        let version = try await counter.write([
            CandidateEvent(type: "Increment", metadata: ["region": "EMEA"]),
            CandidateEvent(type: "Increment", metadata: ["region": "EMEA"]),
            CandidateEvent(type: "Decrement", metadata: ["region": "APAC"]),
        ])
        print("   stream 'counter-1' is now at version \(version)")
        let retried = try await counter.write(CandidateEvent(type: "Increment", idempotencyKey: "once"))
        let again = try await counter.write(CandidateEvent(type: "Increment", idempotencyKey: "once"))
        print("   an idempotent write twice: version \(retried), then still \(again)\n")

        print("2. Read them back")
        for try await event in counter.read() {
            print("   v\(event.version)  seq \(event.sequenceID)  \(event.type)")
        }

        print("\n3. Rebuild a counter from the events")
        var count = 0
        for try await event in counter.read() { count += event.type == "Increment" ? 1 : -1 }
        print("   counter = \(count)\n")

        print("4. Watch: history from version 2, then live events")
        let watcher = Task {
            var seen: [String] = []
            for try await event in counter.watch(from: 2) {
                seen.append("v\(event.version) \(event.type)")
                if event.version == 6 { break }
            }
            return seen
        }
        try await counter.write([CandidateEvent(type: "Increment"), CandidateEvent(type: "Decrement")])
        for line in try await watcher.value { print("   watched \(line)") }

        print("\n5. Snapshot and restore")
        count = 0
        for try await event in counter.read() { count += event.type == "Increment" ? 1 : -1 }
        try await counter.snapshot(Data(String(count).utf8), projection: "counter")
        try await counter.write(CandidateEvent(type: "Increment"))
        let snapshot = try await counter.loadSnapshot(projection: "counter")!
        var restored = Int(String(decoding: snapshot.state, as: UTF8.self)) ?? 0
        print("   snapshot at version \(snapshot.version) holds counter = \(restored)")
        for try await event in counter.read(from: snapshot.version) {
            restored += event.type == "Increment" ? 1 : -1
            print("   replayed v\(event.version) \(event.type)")
        }
        print("   restored counter = \(restored)\n")

        print("6. Filter @all across streams")
        try await store.stream("order-1").write(
            CandidateEvent(type: "Placed", data: Data(#"{"total":30}"#.utf8), metadata: ["region": "EMEA"]))
        try await store.stream("order-2").write(
            CandidateEvent(type: "Placed", data: Data(#"{"total":12}"#.utf8), metadata: ["region": "APAC"]))
        let all = try await store.stream("@all")
        let filter = EventFilter([.like("stream_id", "order-%"), .equals("metadata.region", "EMEA")])
        for try await event in all.read(filter: filter) {
            print(
                "   seq \(event.sequenceID)  \(event.streamID)  \(event.type)  \(String(decoding: event.data, as: UTF8.self))"
            )
        }
        let metrics = try await all.metrics()
        print("   @all holds \(metrics.eventCount) events\n")
    }
}

/// Writes and replays the same events on every store and prints the rates side by side.
struct SideBySide {
    let directory: String
    let eventCount: Int

    func run() async throws {
        print("7. Side by side: \(eventCount) events in writes of 1,000 (fsync / SQLite FULL), then a replay")
        try await measure("LogEventStore", try await LogEventStore.open(directory: directory + "/compare-log"))
        try await measure("SQLiteEventStore", try await SQLiteEventStore.open(path: directory + "/compare.db"))
        try await measure("InMemoryEventStore", InMemoryEventStore())
        print("   (eventlog bench runs the full W1 workload of docs/BENCHMARKS.md)")
    }

    private func measure(_ name: String, _ store: any EventStore) async throws {
        let stream = try await store.stream("bench")
        let clock = ContinuousClock()
        let batch = 1_000
        let writeTime = try await clock.measure {
            var written = 0
            while written < eventCount {
                let size = min(batch, eventCount - written)
                try await stream.write(
                    (written..<written + size).map {
                        CandidateEvent(type: "Tick", idempotencyKey: "event-\($0)")
                    })
                written += size
            }
        }
        var replayed = 0
        let readTime = try await clock.measure {
            for try await _ in stream.read() { replayed += 1 }
        }
        try await store.close()
        print(
            "   \(name.padding(toLength: 20, withPad: " ", startingAt: 0))"
                + "write \(Self.rate(eventCount, writeTime)) events/s   replay \(Self.rate(replayed, readTime)) events/s"
        )
    }

    static func rate(_ count: Int, _ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(Int(Double(count) / max(seconds, 1e-9))).leftPadded(to: 10)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
