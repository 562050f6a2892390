import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog stats`: streams, events, segments, bytes on disk, snapshots.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a store's streams, events, segments, bytes on disk and snapshots.",
        discussion: """
            Example:
              eventlog stats ./orders --json
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Flag(help: "One JSON object.") var json = false
    @OptionGroup var options: StoreOptions

    func run() async throws {
        let statistics = try await withStore(store, forWriting: false, options: options) { store in
            try await runtime(of: store).statistics()
        }
        if json {
            EventOutput.emit(
                JSONValue.object([
                    "streams": .int(Int64(statistics.streams)), "events": .int(statistics.events),
                    "segments": statistics.segments.map { .int(Int64($0)) } ?? .null,
                    "bytes_on_disk": .int(statistics.bytesOnDisk), "snapshots": .int(Int64(statistics.snapshots)),
                ]).jsonText)
        } else {
            EventOutput.emit(
                """
                streams       \(statistics.streams)
                events        \(statistics.events)
                segments      \(statistics.segments.map(String.init) ?? "-")
                bytes on disk \(statistics.bytesOnDisk)
                snapshots     \(statistics.snapshots)
                """)
        }
    }
}

/// `eventlog verify`: every checksum and index against the log.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every checksum and index against the log; exit 1 with one line per problem.",
        discussion: """
            Each problem is printed as one line naming the file, the byte offset and what is wrong. \
            It never modifies the store, and works beside a running writer.

            Example:
              eventlog verify ./orders
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @OptionGroup var options: StoreOptions

    func run() async throws {
        guard store.exists else { throw CommandError("no store at '\(store.path)'") }
        var problems: [String]
        switch store {
        case .log(let directory):
            problems = try await LogVerifier.verify(directory: directory)
        case .sqlite:
            problems = try await withStore(store, forWriting: false, options: options) { store in
                var found = try await (store as! SQLiteEventStore).integrityProblems()
                do {
                    var count = 0
                    for try await _ in try await store.stream("@all").read() { count += 1 }
                } catch {
                    found.append("\(error)")
                }
                return found
            }
        }
        for problem in problems { print(problem) }
        fflush(nil)
        if !problems.isEmpty { throw ExitCode(1) }
        EventOutput.emit("sound: every checksum and index matches the log")
    }
}

/// `eventlog copy`: a whole store into an empty one of any kind.
struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy every event and snapshot of a store into an empty store of any kind.",
        discussion: """
            Keeps streams, versions, global order, ids, timestamps, metadata and snapshots. A \
            database written by the Python py-event-sourcing package is a valid source.

            Example:
              eventlog copy ./orders orders.db
            """
    )

    @Argument(help: "The store to copy from (opened read-only).") var source: StoreLocation
    @Argument(help: "The store to copy into (created when missing; must hold no events).") var target: StoreLocation
    @OptionGroup var options: StoreOptions

    func validate() throws {
        guard source.path != target.path else { throw ValidationError("the source and the target are the same store") }
    }

    func run() async throws {
        let (events, snapshots) = try await withStore(source, forWriting: false, options: options) { source in
            try await withStore(target, forWriting: true, options: options) { target in
                try await Self.copy(from: source, to: target)
            }
        }
        EventOutput.emit("copied \(events) events and \(snapshots) snapshots")
    }

    /// Copies in global order, one write per run of events of one stream sharing a timestamp.
    static func copy(from source: any EventStore, to target: any EventStore) async throws -> (Int64, Int) {
        guard try await target.stream("@all").metrics().eventCount == 0 else {
            throw CommandError("the target store already holds events; copy into an empty store")
        }
        var run: [StoredEvent] = []
        var copied: Int64 = 0
        var handles: [String: EventStream] = [:]
        func flush() async throws {
            guard let first = run.first else { return }
            if handles[first.streamID] == nil { handles[first.streamID] = try await target.stream(first.streamID) }
            let events = run.map { event in
                CandidateEvent(
                    type: event.type, data: event.data, metadata: event.metadata,
                    idempotencyKey: event.id == String(event.sequenceID) ? nil : event.id)
            }
            let version = try await handles[first.streamID]!.importEvents(
                events, timestamp: first.timestamp, expectedVersion: .exact(first.version - 1))
            copied += Int64(run.count)
            guard version == run.last!.version, copied == run.last!.sequenceID else {
                throw CommandError(
                    "the source's positions have a gap before sequence id \(run.last!.sequenceID) "
                        + "(stream '\(first.streamID)', version \(run.last!.version)); a copy cannot keep them")
            }
            run.removeAll(keepingCapacity: true)
        }
        for try await event in try await source.stream("@all").read() {
            if let last = run.last,
                last.streamID != event.streamID || last.timestamp != event.timestamp || run.count >= 10_000
            {
                try await flush()
            }
            run.append(event)
        }
        try await flush()
        let snapshots = try await runtime(of: source).snapshots()
        for snapshot in snapshots { try await runtime(of: target).saveSnapshot(snapshot) }
        return (copied, snapshots.count)
    }
}
