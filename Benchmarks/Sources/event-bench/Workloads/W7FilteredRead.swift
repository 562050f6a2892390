import EventSourcing
import Foundation

/// W7: N events over 100 streams in writes of 10,000, with metadata `{"region": "EMEA"}` on every
/// 100th event and `"APAC"` on the rest; then an `@all` read filtered on `metadata.region ==
/// "EMEA"`. The figure is events scanned (all N) per second.
enum W7FilteredRead {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let events = sizes.w7Events
        let batch = sizes.batchEvents
        return try await ScratchDirectory.with("w7-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                var next = 0
                var writeIndex = 0
                while next < events {
                    let end = min(next + batch, events)
                    let stream = try await store.stream("w7-\(writeIndex % sizes.w7Streams)")
                    try await stream.write(
                        (next..<end).map { index in
                            CandidateEvent(type: "Sale", metadata: ["region": index % 100 == 0 ? "EMEA" : "APAC"])
                        })
                    next = end
                    writeIndex += 1
                }
                let expected = (events + 99) / 100
                let all = try await store.stream("@all")
                let filter = EventFilter([.equals("metadata.region", "EMEA")])
                for try await _ in all.read(limit: 10, filter: filter) {}  // warm-up
                var matched = 0
                let scan = try await Timing.measure {
                    for try await _ in all.read(filter: filter) { matched += 1 }
                }
                try Phases.check(matched == expected, "W7: the filter matched \(matched) events, expected \(expected)")
                return WorkloadResult(
                    workload: .w7, store: setup.kind,
                    figures: [
                        Figure(
                            "scanned_events_per_s", "filtered @all read, 1% selected", "events/s",
                            Double(events) / Timing.seconds(scan), .higherIsBetter)
                    ],
                    parameters: [
                        ("events", String(events)), ("streams", String(sizes.w7Streams)), ("matched", String(matched)),
                    ])
            }
        }
    }
}
