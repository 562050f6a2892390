import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog read`: a stream's events (or `@all`'s), as a table or JSON lines.
struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read a stream's events, or every event with @all.",
        discussion: """
            --from is exclusive: events after that version (sequence id for @all). Filters: \
            field=value, field~pattern (SQL LIKE) or field:in:a,b,c on stream_id, event_type, \
            version, sequence_id or metadata.<key>; all must hold.

            Examples:
              eventlog read ./orders order-1
              eventlog read ./orders @all --filter 'stream_id~order-%' --filter metadata.region=EMEA --json
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Argument(help: "The stream, or @all.") var stream: String
    @Option(help: "Read after this position (exclusive).") var from: Int64 = 0
    @Option(help: "At most this many events.") var limit: Int?
    @Flag(help: "Newest first.") var backward = false
    @Option(name: .customLong("filter"), help: "field=value, field~pattern or field:in:a,b,c (repeatable).")
    var filters: [FilterExpression] = []
    @Flag(help: "One JSON object per line.") var json = false
    @OptionGroup var options: StoreOptions

    func run() async throws {
        try filters.check()
        try await withStore(store, forWriting: false, options: options) { store in
            let handle = try await store.stream(stream)
            if !json { EventOutput.emit(EventOutput.tableHeader) }
            for try await event in handle.read(
                from: from, direction: backward ? .backward : .forward, limit: limit, filter: filters.eventFilter)
            {
                print(json ? EventOutput.jsonLine(event) : EventOutput.tableRow(event))
            }
            fflush(nil)
        }
    }
}

/// `eventlog watch`: history after --from, then live events, also from other processes.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a stream (or @all): history after --from, then live appends, until --count or Ctrl-C.",
        discussion: """
            Without --from, only events appended from now on are shown. Appends by other processes \
            are followed too.

            Example:
              eventlog watch ./orders @all --from 0 --json --count 10
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Argument(help: "The stream, or @all.") var stream: String
    @Option(help: "Start after this position (exclusive); default: from now.") var from: Int64?
    @Option(name: .customLong("filter"), help: "field=value, field~pattern or field:in:a,b,c (repeatable).")
    var filters: [FilterExpression] = []
    @Flag(help: "One JSON object per line.") var json = false
    @Option(help: "Stop after this many events.") var count: Int?
    @OptionGroup var options: StoreOptions

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try filters.check()
        try await withStore(store, forWriting: false, options: options) { store in
            let handle = try await store.stream(stream)
            if !json { EventOutput.emit(EventOutput.tableHeader) }
            var seen = 0
            for try await event in handle.watch(from: from, filter: filters.eventFilter) {
                EventOutput.emit(json ? EventOutput.jsonLine(event) : EventOutput.tableRow(event))
                seen += 1
                if let count, seen >= count { break }
            }
        }
    }
}
