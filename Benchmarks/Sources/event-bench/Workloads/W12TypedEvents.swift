import EventSourcing
import Foundation

/// W12: typed events. W1's shape (one stream, writes of 10,000 keyed events, then a replay) twice
/// on fresh stores: once with `CandidateEvent(payload)` of a `Codable` payload and `decode` on
/// replay, once with raw events carrying the very same JSON bytes, prebuilt, and no decoding.
/// Both write rates include building the events (that is where encoding happens). The time of
/// encoding alone and of decoding alone, outside the store, shows where the difference goes.
enum W12TypedEvents {
    /// The payload: a counter increment, as W1's events are.
    struct Increment: EventPayload {
        static let eventType = "Increment"
        var amount: Int
        var account: String
    }

    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w1Events
        let batch = sizes.batchEvents
        let payload = Increment(amount: 1, account: "account-42")
        let rawData = try JSONEncoder().encode(payload)

        let typed = try await ScratchDirectory.with("w12-typed-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                let stream = try await store.stream("w12")
                let write = try await Timing.measure {
                    try await writeAll(stream, events: events, batch: batch) {
                        try CandidateEvent(payload, idempotencyKey: "event-\($0)")
                    }
                }
                var total = 0
                let replay = try await Timing.measure {
                    for try await event in stream.read() { total += try event.decode(Increment.self).amount }
                }
                try Phases.check(total == events, "W12 typed replay summed \(total) of \(events)")
                return (write, replay)
            }
        }
        let raw = try await ScratchDirectory.with("w12-raw-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                let stream = try await store.stream("w12")
                let write = try await Timing.measure {
                    try await writeAll(stream, events: events, batch: batch) {
                        CandidateEvent(type: Increment.eventType, data: rawData, idempotencyKey: "event-\($0)")
                    }
                }
                var total = 0
                let replay = try await Timing.measure {
                    for try await event in stream.read() { total += event.data.isEmpty ? 0 : 1 }
                }
                try Phases.check(total == events, "W12 raw replay counted \(total) of \(events)")
                return (write, replay)
            }
        }
        // Outside any store: building the typed events alone, and decoding stored ones alone.
        let sample = min(events, 100_000)
        let encode = try await Timing.measure {
            for index in 0..<sample { _ = try CandidateEvent(payload, idempotencyKey: "event-\(index)") }
        }
        let stored = StoredEvent(
            id: "event-0", streamID: "w12", sequenceID: 1, version: 1, timestamp: Date(), type: Increment.eventType,
            data: rawData, metadata: nil)
        let decode = try await Timing.measure {
            for _ in 0..<sample { _ = try stored.decode(Increment.self) }
        }
        let typedWrite = Double(events) / Timing.seconds(typed.0)
        let rawWrite = Double(events) / Timing.seconds(raw.0)
        let typedReplay = Double(events) / Timing.seconds(typed.1)
        let rawReplay = Double(events) / Timing.seconds(raw.1)
        let encodeNanoseconds = Timing.seconds(encode) * 1e9 / Double(sample)
        let decodeNanoseconds = Timing.seconds(decode) * 1e9 / Double(sample)
        return WorkloadResult(
            workload: .w12, store: setup.kind,
            figures: [
                Figure("typed_write_events_per_s", "typed write, incl. encoding", "events/s", typedWrite, .higherIsBetter),
                Figure("raw_write_events_per_s", "raw write of the same bytes", "events/s", rawWrite, .higherIsBetter),
                Figure(
                    "typed_over_raw_write", "write rate, typed / raw", "x", typedWrite / rawWrite, .higherIsBetter,
                    isCharted: false),
                Figure("typed_replay_events_per_s", "typed replay, incl. decoding", "events/s", typedReplay, .higherIsBetter),
                Figure("raw_replay_events_per_s", "raw replay", "events/s", rawReplay, .higherIsBetter),
                Figure(
                    "typed_over_raw_replay", "replay rate, typed / raw", "x", typedReplay / rawReplay, .higherIsBetter,
                    isCharted: false),
                Figure(
                    "encode_ns_per_event", "building one typed event (JSON encoding)", "ns", encodeNanoseconds,
                    .lowerIsBetter, isCharted: false),
                Figure(
                    "decode_ns_per_event", "decoding one stored event", "ns", decodeNanoseconds, .lowerIsBetter,
                    isCharted: false),
            ],
            parameters: [
                ("events", String(events)), ("batch", String(batch)), ("payload JSON bytes", String(rawData.count)),
            ],
            notes: [
                "Where the time goes: per event, encoding takes \(Format.fixed(encodeNanoseconds, 0)) ns and decoding "
                    + "\(Format.fixed(decodeNanoseconds, 0)) ns (each measured alone over \(sample) events), against "
                    + "\(Format.fixed(1e9 / rawWrite, 0)) ns per raw written event and "
                    + "\(Format.fixed(1e9 / rawReplay, 0)) ns per raw replayed event."
            ])
    }

    /// Writes events `0..<events`, built by `event`, to `stream` in writes of `batch`.
    private static func writeAll(
        _ stream: EventStream, events: Int, batch: Int, _ event: (Int) throws -> CandidateEvent
    ) async throws {
        var next = 0
        while next < events {
            let end = min(next + batch, events)
            try await stream.write(try (next..<end).map(event))
            next = end
        }
    }
}
