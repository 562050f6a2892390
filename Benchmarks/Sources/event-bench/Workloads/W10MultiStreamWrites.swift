import EventSourcing
import Foundation

/// W10: writes to several streams at once. 8 writer tasks make 100,000 writes, each of 2 events
/// to 2 streams (a debit and a credit) drawn from 10,000, through `store.write([StreamWrite])`; then
/// the same events again as single-stream writes of one event each, by 8 tasks, on a fresh store.
/// The figures: the multi-stream write rate, its event rate, and that event rate against the
/// single-stream one.
enum W10MultiStreamWrites {
    static func run(_ setup: StoreSetup, sizes: Sizes) async throws -> WorkloadResult {
        let writes = sizes.w10Writes
        let writers = sizes.w10Writers
        let streams = sizes.w10Streams
        let plan = Self.plan(writes: writes, streams: streams)
        let multi = try await ScratchDirectory.with("w10-multi-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                let time = try await Timing.measure {
                    try await inTasks(writers, count: writes) { index in
                        let (from, to) = plan[index]
                        try await store.write([
                            StreamWrite(streamID(from), [event("Debited", index)]),
                            StreamWrite(streamID(to), [event("Credited", index)]),
                        ])
                    }
                }
                let stored = try await Phases.replay(try await store.stream("@all"))
                try Phases.check(stored == 2 * writes, "W10 stored \(stored) of \(2 * writes) events")
                return time
            }
        }
        let single = try await ScratchDirectory.with("w10-single-\(setup.kind)") { directory in
            try await Phases.withStore(setup, in: directory) { store in
                let time = try await Timing.measure {
                    try await inTasks(writers, count: 2 * writes) { index in
                        let (from, to) = plan[index / 2]
                        let stream = try await store.stream(streamID(index % 2 == 0 ? from : to))
                        try await stream.write(event(index % 2 == 0 ? "Debited" : "Credited", index / 2))
                    }
                }
                let stored = try await Phases.replay(try await store.stream("@all"))
                try Phases.check(stored == 2 * writes, "W10 single-stream writes stored \(stored) of \(2 * writes)")
                return time
            }
        }
        let multiEvents = Double(2 * writes) / Timing.seconds(multi)
        let singleEvents = Double(2 * writes) / Timing.seconds(single)
        return WorkloadResult(
            workload: .w10, store: setup.kind,
            figures: [
                Figure(
                    "multi_writes_per_s", "writes to 2 streams", "writes/s", Double(writes) / Timing.seconds(multi),
                    .higherIsBetter),
                Figure("multi_events_per_s", "events in writes to 2 streams", "events/s", multiEvents, .higherIsBetter),
                Figure(
                    "single_events_per_s", "the same events in single-stream writes", "events/s", singleEvents,
                    .higherIsBetter),
                Figure(
                    "multi_over_single", "event rate, 2-stream writes / single-stream writes", "x",
                    multiEvents / singleEvents, .higherIsBetter, isCharted: false),
            ],
            parameters: [
                ("writes", String(writes)), ("events per write", "2"), ("streams", String(streams)),
                ("writers", String(writers)),
            ])
    }

    private static func streamID(_ index: Int) -> String { "account-\(index)" }

    private static func event(_ type: String, _ index: Int) -> CandidateEvent {
        CandidateEvent(type: type, data: Data("transfer-\(index)".utf8))
    }

    /// Each write's two distinct streams, seeded.
    private static func plan(writes: Int, streams: Int) -> [(Int, Int)] {
        var generator = SeededGenerator(seed: 0x5710)
        return (0..<writes).map { _ in
            let from = Int.random(in: 0..<streams, using: &generator)
            let to = (from + Int.random(in: 1..<streams, using: &generator)) % streams
            return (from, to)
        }
    }

    /// Runs `body` for every index below `count`, spread over `tasks` tasks (task t takes t, t + tasks, ...).
    private static func inTasks(_ tasks: Int, count: Int, _ body: @escaping @Sendable (Int) async throws -> Void)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var index = task
                    while index < count {
                        try await body(index)
                        index += tasks
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
