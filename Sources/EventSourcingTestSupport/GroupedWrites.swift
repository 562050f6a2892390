import EventSourcingCore
import Foundation
import LogStore

/// Runs a step of a workload's operations as concurrent writers whose writes form one group write
/// (one `pwrite` of several writers' batches, one sync), so that a power loss can tear and reorder
/// the sectors inside it. The writer thread is held while the writers submit, one after another,
/// so the group and its order follow from the operation ids alone and a round replays exactly.
///
/// Thread-safety: a value type; one harness owns it.
package struct GroupedWrites: Sendable {
    /// One operation's reports and outcome.
    package struct Result: Sendable {
        package var operation: Int
        package var events: [HistoryEvent]
        package var outcome: WorkloadRunner.Outcome
    }

    package let workload: Workload
    /// One runner per writer of the workload (each knows the versions of its own streams).
    package private(set) var runners: [WorkloadRunner]

    package init(workload: Workload) {
        self.workload = workload
        runners = Array(repeating: WorkloadRunner(workload: workload), count: workload.profile.writerCount)
    }

    /// Reads the versions of `streams` again in every writer's runner (after a recovery).
    package mutating func refreshVersions(from store: any EventStore, streams: [String]) async throws {
        for index in runners.indices { try await runners[index].refreshVersions(from: store, streams: streams) }
    }

    /// Whether `ids` run as one group: several operations of distinct writers, none a snapshot
    /// (which reads its stream first and writes no batch).
    package func isGroup(_ ids: [Int]) -> Bool {
        ids.count > 1 && Set(ids.map(workload.writer(of:))).count == ids.count
            && !ids.contains { workload.operation($0).kind == .snapshot }
    }

    /// Runs `ids` on `store`: as one group write when `isGroup(ids)`, else one after another.
    /// - Returns: each operation's reports and outcome, in the order of `ids`. The reports of a
    ///   group are to be applied as every attempt first, then every outcome (`orderedEvents`).
    package mutating func run(_ ids: [Int], on store: LogEventStore) async -> [Result] {
        guard isGroup(ids) else {
            var results: [Result] = []
            for id in ids {
                var events: [HistoryEvent] = []
                let writer = workload.writer(of: id)
                let outcome = await runners[writer].run(id, on: store) { events.append($0) }
                results.append(Result(operation: id, events: events, outcome: outcome))
            }
            return results
        }
        store.holdWrites()
        let queuedBefore = store.queuedWriteCount
        var tasks: [Task<(WorkloadRunner, Result), Never>] = []
        for (index, id) in ids.enumerated() {
            let runner = runners[workload.writer(of: id)]
            tasks.append(
                Task {
                    var runner = runner
                    var events: [HistoryEvent] = []
                    let outcome = await runner.run(id, on: store) { events.append($0) }
                    return (runner, Result(operation: id, events: events, outcome: outcome))
                })
            // The next writer submits only once this one's write is queued: the group's order is fixed.
            let deadline = Date().addingTimeInterval(5)
            while store.queuedWriteCount < queuedBefore + index + 1, Date() < deadline {
                try? await Task.sleep(nanoseconds: 20_000)
            }
        }
        store.releaseWrites()
        var results: [Result] = []
        for task in tasks {
            let (runner, result) = await task.value
            runners[workload.writer(of: result.operation)] = runner
            results.append(result)
        }
        return results
    }

    /// The reports of a step in an order that happened: for a group, every attempt (in the order
    /// of the operations), then every outcome; else each operation's reports in turn.
    package func orderedEvents(_ results: [Result]) -> [HistoryEvent] {
        guard isGroup(results.map(\.operation)) else { return results.flatMap(\.events) }
        var attempts: [HistoryEvent] = []
        var outcomes: [HistoryEvent] = []
        for result in results {
            for event in result.events {
                switch event {
                case .attempt, .unitAttempt, .snapshotAttempt: attempts.append(event)
                default: outcomes.append(event)
                }
            }
        }
        return attempts + outcomes
    }
}
