import EventSourcing
import Foundation

/// W9: a durable subscription against a plain watch. N events over 100 streams in writes of
/// 10,000; then, in alternating rounds, a plain `stream("@all").watch(from: 0)` reading all N,
/// and a new subscription of `@all` (`store.subscribe`, from the beginning) reading all N and
/// acknowledging every 1,000th event (`acknowledge(event)`, durable at the store's durability
/// when it returns). Each rate is the median of its rounds; the ratio is subscription ÷ watch.
///
/// The subscription's time runs from `subscribe` to the return of the last acknowledgement; its
/// time inside `acknowledge` calls is listed too, to show what the acknowledgements cost.
///
/// A store whose subscriptions are not written yet (`subscriptions()` throws "does not support
/// subscriptions yet") is reported as not applicable.
enum W9Subscription {
    static let acknowledgeEvery = 1_000
    static let streams = 100

    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w9Events
        let batch = sizes.batchEvents
        let rounds = sizes.w9Rounds
        return try await ScratchDirectory.with("w9-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                if let reason = try await unsupported(store) {
                    return WorkloadResult(
                        workload: .w9, store: setup.kind, figures: [], parameters: [], exclusion: reason)
                }
                try await write(events, batch: batch, to: store)
                var watches: [Double] = []
                var subscriptions: [Double] = []
                var acknowledging: [Double] = []
                var acknowledgements: [Double] = []
                var splits: [(watch: Duration, subscribe: Duration, inAcknowledge: Duration, total: Duration)] = []
                for round in 0..<rounds {
                    let watch = try await watchAll(store, events: events)
                    watches.append(Double(events) / Timing.seconds(watch))
                    let subscription = try await subscribeAll(store, name: "w9-\(round)", events: events)
                    subscriptions.append(Double(events) / Timing.seconds(subscription.total))
                    acknowledging.append(
                        Timing.seconds(subscription.inAcknowledge) / Timing.seconds(subscription.total))
                    acknowledgements += subscription.acknowledgeMicroseconds
                    splits.append((watch, subscription.subscribe, subscription.inAcknowledge, subscription.total))
                }
                let watchRate = median(watches)
                let subscriptionRate = median(subscriptions)
                let latency = LatencySummary(acknowledgements)
                let split = splits.sorted { $0.total < $1.total }[splits.count / 2]
                let milliseconds = { (duration: Duration) in Format.fixed(Timing.milliseconds(duration), 1) }
                let note =
                    "Where the time goes (the subscription round of median length): subscribe "
                    + "\(milliseconds(split.subscribe)) ms, iterating "
                    + "\(milliseconds(split.total - split.subscribe - split.inAcknowledge)) ms, inside acknowledge "
                    + "\(milliseconds(split.inAcknowledge)) ms (\(events / acknowledgeEvery) calls), in all "
                    + "\(milliseconds(split.total)) ms; the plain watch of that round took \(milliseconds(split.watch)) ms."
                return WorkloadResult(
                    workload: .w9, store: setup.kind,
                    figures: [
                        Figure("watch_events_per_s", "plain watch of @all", "events/s", watchRate, .higherIsBetter),
                        Figure(
                            "subscription_events_per_s", "subscription, acknowledging every 1,000", "events/s",
                            subscriptionRate, .higherIsBetter),
                        Figure(
                            "subscription_over_watch", "event rate, subscription / plain watch", "x",
                            subscriptionRate / watchRate, .higherIsBetter, isCharted: false),
                        Figure(
                            "acknowledge_p50_us", "acknowledge p50", "µs", latency.p50, .lowerIsBetter,
                            isCharted: false),
                        Figure(
                            "acknowledge_p99_us", "acknowledge p99", "µs", latency.p99, .lowerIsBetter,
                            isCharted: false),
                        Figure(
                            "acknowledge_share", "share of the subscription's time inside acknowledge", "x",
                            median(acknowledging), .lowerIsBetter, isCharted: false),
                    ],
                    parameters: [
                        ("events", String(events)), ("streams", String(streams)),
                        ("acknowledge every", String(acknowledgeEvery)), ("rounds", String(rounds)),
                        ("durability", setup.durability.rawValue),
                    ],
                    notes: [note])
            }
        }
    }

    /// Why `store` cannot run W9, or `nil` when it can.
    private static func unsupported(_ store: any EventStore) async throws -> String? {
        do {
            _ = try await store.subscriptions()
            return nil
        } catch EventStoreError.invalidArgument(let reason) where reason.contains("does not support subscriptions") {
            return "not applicable yet: \(reason)"
        }
    }

    /// Events `0..<count` of type `Tick`, empty data, in writes of `batch` rotating over the streams.
    private static func write(_ count: Int, batch: Int, to store: any EventStore) async throws {
        var next = 0
        var writeIndex = 0
        while next < count {
            let end = min(next + batch, count)
            let stream = try await store.stream("w9-\(writeIndex % streams)")
            try await stream.write((next..<end).map { _ in CandidateEvent(type: "Tick") })
            next = end
            writeIndex += 1
        }
    }

    /// A plain watch of `@all` from the beginning, until it has delivered `events`.
    private static func watchAll(_ store: any EventStore, events: Int) async throws -> Duration {
        var seen = 0
        let time = try await Timing.measure {
            for try await _ in try await store.stream("@all").watch(from: 0) {
                seen += 1
                if seen == events { break }
            }
        }
        try Phases.check(seen == events, "W9: the watch delivered \(seen) of \(events) events")
        return time
    }

    /// A new subscription of `@all` reading `events`, acknowledging every 1,000th.
    private static func subscribeAll(_ store: any EventStore, name: String, events: Int) async throws
        -> (total: Duration, subscribe: Duration, inAcknowledge: Duration, acknowledgeMicroseconds: [Double])
    {
        let clock = Timing.clock
        var seen = 0
        var inAcknowledge = Duration.zero
        var samples: [Double] = []
        samples.reserveCapacity(events / acknowledgeEvery)
        let start = clock.now
        let subscription = try await store.subscribe(name)
        let subscribed = clock.now - start
        for try await event in subscription.events() {
            seen += 1
            if seen % acknowledgeEvery == 0 || seen == events {
                let before = clock.now
                try await subscription.acknowledge(event)
                let took = clock.now - before
                inAcknowledge += took
                samples.append(Timing.microseconds(took))
            }
            if seen == events { break }
        }
        let total = clock.now - start
        let position = await subscription.position
        try await subscription.close()
        try Phases.check(seen == events, "W9: the subscription delivered \(seen) of \(events) events")
        try Phases.check(position == Int64(events), "W9: the subscription acknowledged \(position) of \(events)")
        return (total, subscribed, inAcknowledge, samples)
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}
