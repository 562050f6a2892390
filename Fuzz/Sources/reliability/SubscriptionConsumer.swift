import EventSourcingCore
import EventSourcingTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A consumer process of the subscription kill harness (`reliability subscription-consumer ...`):
/// opens the store, subscribes to a name on `@all` (retrying every 20 ms while another consumer
/// holds it), and for each delivered event logs it, acknowledges it (by event, or up to its
/// position every few events), and logs the position once the acknowledgement returned: one line
/// each (`ConsumerLine`), one `write(2)` each, in its log file. Runs until killed, or, given
/// `--final-head H`, until it has delivered and acknowledged the event at `H`.
///
///     --kind log|sqlite|postgres --location PATH --name NAME --log FILE --seed N
///     --ack each|upto|mixed --every K [--filter TYPE] [--final-head H] [--synced 0|1]
enum SubscriptionConsumer {
    /// The event type a filtered subscription keeps (`event_type = Kept`).
    static let keptType = "Kept"

    static func filter(keeping type: String?) -> EventFilter? {
        type.map { EventFilter([.equals("event_type", .string($0))]) }
    }

    /// The monotonic clock, shared by every process of the machine (`CLOCK_MONOTONIC`).
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Runs the consumer. - Returns: its exit status (0 after `--final-head`, 2 for bad
    /// arguments, 3 on an error, 5 when the name stayed busy for a minute).
    static func run(_ arguments: Arguments) async -> Int32 {
        guard let kind = arguments.string("kind").flatMap(SubscriptionStoreKind.init(rawValue:)),
            let location = arguments.string("location"), let name = arguments.string("name"),
            let logPath = arguments.string("log")
        else {
            FileHandle.standardError.write(Data("subscription-consumer: bad arguments\n".utf8))
            return 2
        }
        let log = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            FileHandle.standardError.write(Data("subscription-consumer: cannot open \(logPath)\n".utf8))
            return 2
        }
        func write(_ line: ConsumerLine) {
            let bytes = Array((line.line + "\n").utf8)
            bytes.withUnsafeBytes { buffer in
                var done = 0
                while done < bytes.count {
                    let wrote = Glibc.write(log, buffer.baseAddress! + done, bytes.count - done)
                    if wrote < 0 && errno == EINTR { continue }
                    if wrote <= 0 { exit(4) }
                    done += wrote
                }
            }
        }
        var random = SeededRandom(seed: UInt64(arguments.string("seed") ?? "") ?? 1, stream: 0xC0)
        let mode = arguments.string("ack") ?? "each"
        let every = max(1, arguments.int("every") ?? 1)
        let finalHead = arguments.string("final-head").flatMap { Int64($0) }
        let options = SubscriptionOptions(filter: filter(keeping: arguments.string("filter")))
        do {
            let store = try await kind.openConsumer(at: location, synced: arguments.string("synced") != "0")
            var subscription: Subscription?
            let started = now()
            while subscription == nil {
                do {
                    subscription = try await store.subscribe(name, options: options)
                } catch EventStoreError.subscriptionBusy {
                    write(.busy)
                    if now() - started > 60_000_000_000 {
                        FileHandle.standardError.write(Data("subscription-consumer: '\(name)' busy for 60 s\n".utf8))
                        return 5
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            guard let subscription else { return 3 }
            write(.held(nanoseconds: now(), position: await subscription.position))
            var unacknowledged = 0
            for try await event in subscription.events() {
                write(
                    .delivered(
                        sequenceID: event.sequenceID, streamID: event.streamID, version: event.version, type: event.type
                    ))
                unacknowledged += 1
                let isLast = finalHead.map { event.sequenceID >= $0 } ?? false
                let byEvent: Bool
                switch mode {
                case "upto":
                    guard isLast || unacknowledged >= every else { continue }
                    byEvent = false
                case "mixed":
                    guard isLast || random.chance(0.5) else { continue }
                    byEvent = random.chance(0.5)
                default:
                    byEvent = true
                }
                write(.acknowledging(event.sequenceID))
                if byEvent {
                    try await subscription.acknowledge(event)
                } else {
                    try await subscription.acknowledge(upTo: event.sequenceID)
                }
                write(.acknowledged(await subscription.position))
                unacknowledged = 0
                if isLast {
                    write(.finished)
                    try await subscription.close()
                    try await store.close()
                    return 0
                }
            }
            FileHandle.standardError.write(Data("subscription-consumer: the events ended\n".utf8))
            return 3
        } catch {
            FileHandle.standardError.write(Data("subscription-consumer: \(error)\n".utf8))
            return 3
        }
    }
}
