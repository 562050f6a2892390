import EventSourcing
import Foundation

/// Building blocks several workloads share.
enum Phases {
    /// W1's events `range`: type `Increment`, idempotency key `event-N`, empty data.
    static func keyedEvents(_ range: Range<Int>) -> [CandidateEvent] {
        range.map { CandidateEvent(type: "Increment", idempotencyKey: "event-\($0)") }
    }

    /// Writes events `range` (see `keyedEvents`) to `stream` in writes of `batch`.
    /// - Returns: the time spent inside `write` calls, and the whole time including building the
    ///   `CandidateEvent` values.
    static func writeKeyed(_ stream: EventStream, range: Range<Int>, batch: Int) async throws
        -> (inWrites: Duration, total: Duration)
    {
        let clock = Timing.clock
        var inWrites = Duration.zero
        let start = clock.now
        var next = range.lowerBound
        while next < range.upperBound {
            let end = min(next + batch, range.upperBound)
            let events = keyedEvents(next..<end)
            let before = clock.now
            try await stream.write(events)
            inWrites += clock.now - before
            next = end
        }
        return (inWrites, clock.now - start)
    }

    /// Reads `stream` from the start and counts its events, as a replay into a counter does.
    static func replay(_ stream: EventStream, from position: Int64 = 0) async throws -> Int {
        var counter = 0
        for try await _ in stream.read(from: position) { counter += 1 }
        return counter
    }

    /// Opens the store, runs `body`, and closes it even when `body` throws.
    static func withStore<R>(
        _ setup: StoreSetup, in directory: String, readOnly: Bool = false,
        _ body: (any EventStore) async throws -> R
    ) async throws -> R {
        let store = try await setup.open(in: directory, readOnly: readOnly)
        do {
            let result = try await body(store)
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Throws when a count differs from what the workload wrote: a figure over the wrong number
    /// of events is worse than none.
    static func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BenchmarkError(message()) }
    }
}

/// A workload that could not produce its figures.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
