import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog streams`: stream ids, with version and event count.
struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "List a store's streams (id, version, visible events), in byte order.",
        discussion: """
            Deleted, truncated-away and tombstoned streams are left out. Opens the store read-only.

            Examples:
              eventlog streams ./orders
              eventlog streams ./orders --prefix customer- --json
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Option(help: "Only ids starting with this.") var prefix = ""
    @Flag(help: "One JSON object per line.") var json = false
    @OptionGroup var options: StoreOptions

    func run() async throws {
        let rows: [(id: String, metrics: StreamMetrics)] = try await withStore(
            store, forWriting: false, options: options
        ) { store in
            var rows: [(String, StreamMetrics)] = []
            var after: String?
            while true {
                let ids = try await store.streamIDs(prefix: prefix, after: after, limit: 1_000)
                for id in ids { rows.append((id, try await store.stream(id).metrics())) }
                guard let last = ids.last, ids.count == 1_000 else { break }
                after = last
            }
            return rows
        }
        if json {
            for row in rows {
                var out: [UInt8] = []
                out.append(contentsOf: #"{"stream_id":"#.utf8)
                JSONValue.string(row.id).write(to: &out)
                out.append(contentsOf: #","version":\#(row.metrics.currentVersion),"events":\#(row.metrics.eventCount)}"#.utf8)
                print(String(decoding: out, as: UTF8.self))
            }
        } else {
            let table = [["STREAM", "VERSION", "EVENTS"]]
                + rows.map { [$0.id, String($0.metrics.currentVersion), String($0.metrics.eventCount)] }
            let widths = (0..<3).map { column in table.map { $0[column].count }.max()! }
            for row in table {
                let id = row[0].padding(toLength: widths[0], withPad: " ", startingAt: 0)
                let numbers = (1..<3).map { String(repeating: " ", count: widths[$0] - row[$0].count) + row[$0] }
                print(([id] + numbers).joined(separator: "  "))
            }
        }
        fflush(nil)
    }
}

/// `eventlog delete`: a soft deletion or a tombstone.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a stream: hide its events and snapshots (--tombstone: for good).",
        discussion: """
            A deleted stream can be written again, from its version; a tombstoned one refuses every \
            later write. The events' bytes stay on disk until `eventlog compact`. Opens the store for \
            writing (a log store's writer must not be running).

            Examples:
              eventlog delete ./orders customer-42
              eventlog delete ./orders customer-42 --tombstone --expected-version 17
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Argument(help: "The stream.") var stream: String
    @Flag(help: "Delete for good: later writes fail.") var tombstone = false
    @Option(help: "The version the stream must be at.") var expectedVersion: Int64?
    @OptionGroup var options: StoreOptions

    func run() async throws {
        guard !store.isMissing else { throw CommandError("no store at '\(store.path)'") }
        let expected: ExpectedVersion = expectedVersion.map { .exact($0) } ?? .any
        try await withStore(store, forWriting: true, options: options) { store in
            let handle = try await store.stream(stream)
            if tombstone {
                try await handle.tombstone(expectedVersion: expected)
            } else {
                try await handle.delete(expectedVersion: expected)
            }
        }
        EventOutput.emit("\(tombstone ? "tombstoned" : "deleted") stream '\(stream)'")
    }
}

/// `eventlog truncate`: hides the versions below one.
struct TruncateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "truncate",
        abstract: "Hide the versions of a stream below --before.",
        discussion: """
            Example:
              eventlog truncate ./orders customer-42 --before 100
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Argument(help: "The stream.") var stream: String
    @Option(help: "The first version to keep.") var before: Int64
    @OptionGroup var options: StoreOptions

    func run() async throws {
        guard !store.isMissing else { throw CommandError("no store at '\(store.path)'") }
        try await withStore(store, forWriting: true, options: options) { store in
            try await store.stream(stream).truncate(before: before)
        }
        EventOutput.emit("truncated stream '\(stream)' before version \(before)")
    }
}

/// `eventlog retention`: shows, sets or clears a stream's retention.
struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Show or set a stream's retention (newest N events, none older than an age).",
        discussion: """
            Without options, prints the stream's retention. Ages are a number and a unit: s, m, h or d.

            Examples:
              eventlog retention ./orders sensor-1 --max-count 10000 --max-age 7d
              eventlog retention ./orders sensor-1 --clear
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Argument(help: "The stream.") var stream: String
    @Option(help: "Keep at most this many newest events.") var maxCount: Int64?
    @Option(help: ArgumentHelp("Keep no event older than this (e.g. 90s, 30m, 12h, 7d).", valueName: "age"))
    var maxAge: String?
    @Flag(help: "Remove the retention.") var clear = false
    @OptionGroup var options: StoreOptions

    func validate() throws {
        if clear, maxCount != nil || maxAge != nil {
            throw ValidationError("--clear cannot be combined with --max-count or --max-age")
        }
        if let maxAge { _ = try Self.duration(maxAge) }
    }

    /// `7d`, `12h`, `30m`, `90s` as a duration.
    static func duration(_ text: String) throws -> Duration {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = text.last, let seconds = units[unit], let count = Int64(text.dropLast()), count > 0 else {
            throw ValidationError("'\(text)' is not an age: write a positive number and s, m, h or d (e.g. 7d)")
        }
        return .seconds(count * seconds)
    }

    func run() async throws {
        guard !store.isMissing else { throw CommandError("no store at '\(store.path)'") }
        let changes = clear || maxCount != nil || maxAge != nil
        let retention = try await withStore(store, forWriting: changes, options: options) { store in
            let handle = try await store.stream(stream)
            if changes {
                try await handle.setRetention(
                    clear ? nil : Retention(maxCount: maxCount, maxAge: try maxAge.map(Self.duration)))
            }
            return try await handle.retention()
        }
        var parts: [String] = []
        if let count = retention?.maxCount { parts.append("max count \(count)") }
        if let micros = retention?.maxAgeMicros { parts.append("max age \(micros / 1_000_000) s") }
        EventOutput.emit("stream '\(stream)': " + (parts.isEmpty ? "no retention" : parts.joined(separator: ", ")))
    }
}

/// `eventlog compact`: removes the bytes of hidden events.
struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Remove the bytes of every hidden event (deleted, truncated, past retention).",
        discussion: """
            Prints how many events were removed and how many bytes were reclaimed. Shows progress \
            on stderr when it is a terminal.

            Example:
              eventlog compact ./orders
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @OptionGroup var options: StoreOptions

    func run() async throws {
        guard !store.isMissing else { throw CommandError("no store at '\(store.path)'") }
        // The log store compacts segment by segment; the databases in steps of their own.
        let unit: String
        if case .log = store { unit = "segments" } else { unit = "steps" }
        let progress = ProgressBar("compact", total: nil, unit: unit)
        let report = try await withStore(store, forWriting: true, options: options) { store in
            try await runtime(of: store).compact { done, total in progress.set(done: done, total: total) }
        }
        progress.finish()
        EventOutput.emit("removed \(report.eventsRemoved) events, reclaimed \(report.bytesReclaimed) bytes")
    }
}
