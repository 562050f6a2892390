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
            A PostgreSQL store, whose server keeps the checksums, is read whole instead: the problems \
            are gaps or repeats in the sequence ids of @all or in a stream's versions, and stream heads \
            that disagree with the events. It never modifies the store, and works beside a running writer.

            Examples:
              eventlog verify ./orders
              eventlog verify 'postgres://app@db.example.com:5432/shop?schema=orders'
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @OptionGroup var options: StoreOptions

    func run() async throws {
        guard !store.isMissing else { throw CommandError("no store at '\(store.path)'") }
        var problems: [String]
        switch store {
        case .log(let directory):
            let progress = ProgressBar("verify", total: nil, unit: "segments")
            problems = try await LogVerifier.verify(directory: directory) { done, total in
                progress.set(done: done, total: total)
            }
            progress.finish()
        case .sqlite:
            problems = try await withStore(store, forWriting: false, options: options) { store in
                var found = try await (store as! SQLiteEventStore).integrityProblems()
                let all = try await store.stream("@all")
                let progress = ProgressBar("verify", total: try await all.metrics().eventCount)
                do {
                    for try await _ in all.read() { progress.advance() }
                } catch {
                    found.append("\(error)")
                }
                progress.finish()
                return found
            }
        case .postgres:
            problems = try await withStore(store, forWriting: false, options: options, Self.positionProblems)
        }
        for problem in problems { print(problem) }
        fflush(nil)
        if !problems.isEmpty { throw ExitCode(1) }
        switch store {
        case .log, .sqlite: EventOutput.emit("sound: every checksum and index matches the log")
        case .postgres: EventOutput.emit("sound: every sequence id, version and stream head matches the events")
        }
    }

    /// Reads every event of `@all` and checks that sequence ids run 1, 2, 3... without a gap or a
    /// repeat, that each stream's versions do too, and that the stream heads agree with the events.
    /// Events appended while it reads are checked as well; a head that moved on meanwhile is not
    /// a problem.
    /// - Returns: One line per problem.
    /// - Complexity: O(n) in the events, plus one head query per stream.
    static func positionProblems(of store: any EventStore) async throws -> [String] {
        let all = try await store.stream("@all")
        let headBefore = try await all.metrics().currentVersion
        let progress = ProgressBar("verify", total: headBefore)
        defer { progress.finish() }
        let streamsBefore = try await runtime(of: store).statistics().streams
        var problems: [String] = []
        var lastSequenceID: Int64 = 0
        var versions: [String: Int64] = [:]
        do {
            for try await event in all.read() {
                progress.advance()
                if event.sequenceID != lastSequenceID + 1 {
                    problems.append(
                        "sequence id \(event.sequenceID) follows \(lastSequenceID) (stream '\(event.streamID)', "
                            + "version \(event.version))")
                }
                lastSequenceID = event.sequenceID
                let previous = versions[event.streamID] ?? 0
                if event.version != previous + 1 {
                    problems.append(
                        "stream '\(event.streamID)': version \(event.version) follows \(previous) "
                            + "(sequence id \(event.sequenceID))")
                }
                versions[event.streamID] = event.version
            }
        } catch {
            problems.append("reading @all after sequence id \(lastSequenceID) failed: \(error)")
            return problems
        }
        if lastSequenceID < headBefore {
            problems.append("the head is at sequence id \(headBefore), but @all ends at \(lastSequenceID)")
        }
        if versions.count < streamsBefore {
            problems.append("\(streamsBefore) streams hold events, but @all holds events of only \(versions.count)")
        }
        // The stream heads first, then the head of @all: when that has not moved past the last
        // event read, no append came in between, so every stream head must equal its last version.
        var heads: [(stream: String, head: Int64, read: Int64)] = []
        for (stream, version) in versions.sorted(by: { $0.key < $1.key }) {
            heads.append((stream, try await store.stream(stream).metrics().currentVersion, version))
        }
        let isQuiet = try await all.metrics().currentVersion == lastSequenceID
        for (stream, head, read) in heads where head < read || (isQuiet && head != read) {
            problems.append("stream '\(stream)': its head is at version \(head), but its events end at \(read)")
        }
        return problems
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
        let progress = ProgressBar("copy", total: try await source.stream("@all").metrics().eventCount)
        defer { progress.finish() }
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
            progress.advance(by: Int64(run.count))
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
