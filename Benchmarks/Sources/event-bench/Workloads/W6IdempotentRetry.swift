import EventSourcing
import Foundation

/// W6: write N keyed events as W1 does, then write the same N keys again in writes of 10,000;
/// every event is dropped as a duplicate, and the rate of that retry is the figure.
enum W6IdempotentRetry {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w6Events
        let batch = sizes.batchEvents
        return try await ScratchDirectory.with("w6-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                let stream = try await store.stream("w6")
                _ = try await Phases.writeKeyed(stream, range: 0..<events, batch: batch)
                var inWrites = Duration.zero
                var next = 0
                while next < events {
                    let end = min(next + batch, events)
                    let candidates = Phases.keyedEvents(next..<end)
                    let before = Timing.clock.now
                    let version = try await stream.write(candidates)
                    inWrites += Timing.clock.now - before
                    try Phases.check(version == Int64(events), "W6: a retry moved the stream to version \(version)")
                    next = end
                }
                let stored = try await stream.metrics().eventCount
                try Phases.check(stored == Int64(events), "W6: the stream holds \(stored) events after the retry")
                return WorkloadResult(
                    workload: .w6, store: setup.kind,
                    figures: [
                        Figure(
                            "retry_events_per_s", "retry of stored keys", "events/s",
                            Double(events) / Timing.seconds(inWrites), .higherIsBetter)
                    ],
                    parameters: [("events", String(events)), ("batch", String(batch))])
            }
        }
    }
}
