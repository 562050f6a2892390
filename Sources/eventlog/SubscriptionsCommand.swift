import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog subscriptions`: a store's durable subscriptions with their positions and lag, or
/// `--delete NAME` to remove one.
struct SubscriptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "List a store's subscriptions (name, stream, position, lag), or delete one.",
        discussion: """
            POSITION is the last acknowledged position (a sequence id for @all, a version otherwise); \
            LAG counts the events of the stream after it, before any filter. Listing opens the store \
            read-only and works beside a running writer. --delete opens it for writing (so a log \
            store's writer must not be running), and fails while a consumer, in any process, holds \
            the subscription.

            Examples:
              eventlog subscriptions ./orders
              eventlog subscriptions ./orders --json
              eventlog subscriptions ./orders --delete billing-projector
            """
    )

    @Argument(help: "The store.") var store: StoreLocation
    @Flag(help: "One JSON object per line.") var json = false
    @Option(help: ArgumentHelp("Delete this subscription instead of listing.", valueName: "name"))
    var delete: String?
    @OptionGroup var options: StoreOptions

    func run() async throws {
        if let delete {
            try await remove(delete)
        } else {
            try await list()
        }
    }

    private func list() async throws {
        let subscriptions = try await withStore(store, forWriting: false, options: options) { store in
            try await store.subscriptions()
        }
        if json {
            for subscription in subscriptions { print(Self.jsonLine(subscription)) }
        } else {
            print(Self.table(subscriptions))
        }
        fflush(nil)
    }

    private func remove(_ name: String) async throws {
        // Deleting from a store that is not there would create an empty one just to fail.
        guard !store.isMissing else { throw CommandError("no store at '\(store.path)'") }
        try await withStore(store, forWriting: true, options: options) { store in
            try await store.deleteSubscription(name)
        }
        if json {
            var out: [UInt8] = []
            out.append(contentsOf: #"{"deleted":"#.utf8)
            JSONValue.string(name).write(to: &out)
            out.append(UInt8(ascii: "}"))
            EventOutput.emit(String(decoding: out, as: UTF8.self))
        } else {
            EventOutput.emit("deleted subscription '\(name)'")
        }
    }

    /// `{"name":"billing","stream":"@all","position":1000,"lag":0}`, in that field order.
    static func jsonLine(_ subscription: SubscriptionInfo) -> String {
        var out: [UInt8] = []
        out.append(contentsOf: #"{"name":"#.utf8)
        JSONValue.string(subscription.name).write(to: &out)
        out.append(contentsOf: #","stream":"#.utf8)
        JSONValue.string(subscription.stream).write(to: &out)
        out.append(contentsOf: #","position":"#.utf8)
        JSONValue.int(subscription.position).write(to: &out)
        out.append(contentsOf: #","lag":"#.utf8)
        JSONValue.int(subscription.lag).write(to: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// A header and one row per subscription, each column as wide as its longest cell; the
    /// numbers right-aligned.
    static func table(_ subscriptions: [SubscriptionInfo]) -> String {
        let rows =
            [["NAME", "STREAM", "POSITION", "LAG"]]
            + subscriptions.map { [$0.name, $0.stream, String($0.position), String($0.lag)] }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max()! }
        return rows.map { row in
            let name = row[0].padding(toLength: widths[0], withPad: " ", startingAt: 0)
            let stream = row[1].padding(toLength: widths[1], withPad: " ", startingAt: 0)
            let position = String(repeating: " ", count: widths[2] - row[2].count) + row[2]
            let lag = String(repeating: " ", count: widths[3] - row[3].count) + row[3]
            return [name, stream, position, lag].joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
