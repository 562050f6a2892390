import ArgumentParser
import Foundation

/// The workloads of shared/spec/BENCHMARKS.md.
enum Workload: String, CaseIterable, Sendable, Comparable {
    case w1 = "W1"
    case w2 = "W2"
    case w3 = "W3"
    case w4 = "W4"
    case w5 = "W5"
    case w6 = "W6"
    case w7 = "W7"
    case w8 = "W8"
    case w9 = "W9"
    case w10 = "W10"
    case w11 = "W11"
    case w12 = "W12"

    /// In the spec's order (W9 and W10 after W8, not between W1 and W2 as W10's name sorts).
    static func < (lhs: Workload, rhs: Workload) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// One line on what the workload does.
    var title: String {
        switch self {
        case .w1: return "reference: one stream, writes of 10,000 keyed events; replay; snapshot; restore"
        case .w2: return "many streams: 10 events each, 64 concurrent writers, writes of 1-10 events"
        case .w3: return "durable single-event writes from 1, 8 and 64 concurrent writers"
        case .w4: return "watch latency, append to delivery, in-process and to another process"
        case .w5: return "open time after a clean close and after SIGKILL of the writer"
        case .w6: return "idempotent retry: rewrite keys already stored (all dropped)"
        case .w7: return "filtered @all read selecting 1% by metadata.region"
        case .w8: return "growth: W1 write and replay at two sizes; memory during the larger replay"
        case .w9: return "a durable subscription of @all acknowledging every 1,000 events, against a plain watch"
        case .w10: return "writes to several streams: 2 events to 2 of 10,000 streams per write, 8 writers"
        case .w11:
            return "compaction of a store of W1's size with half its streams deleted, with a writer during it; "
                + "and W1's write with the log's store retention dropping segments"
        case .w12: return "typed events: W1 with CandidateEvent(payload) and decode, against raw events of the same bytes"
        }
    }

    /// Parses `W1,W3` (case-insensitive).
    static func parseList(_ text: String) throws -> [Workload] {
        try text.split(separator: ",").map { part in
            let name = part.trimmingCharacters(in: .whitespaces).uppercased()
            guard let workload = Workload(rawValue: name) else {
                throw ValidationError("unknown workload '\(part)'; use W1 to W12, comma-separated")
            }
            return workload
        }
    }
}

/// The sizes of every workload: the spec's full sizes, or a scaled-down `--quick` run that takes
/// a few minutes for everything on every store.
struct Sizes: Sendable {
    var w1Events: Int
    var batchEvents = 10_000
    var w2Streams: Int
    var w2EventsPerStream = 10
    var w2Writers = 64
    var w2ReadSamples: Int
    var w3Concurrencies = [1, 8, 64]
    var w3MeasureDuration: Duration
    var w3WarmUpDuration: Duration
    /// W3's floor (issue 17): a bare `fdatasync` of one append of this many bytes, ...
    var w3SyncProbeRecordBytes = 100
    /// ... timed this many times after this many warm-up appends.
    var w3SyncProbeSamples: Int
    var w3SyncProbeWarmUp = 100
    /// W3's scale-out (stores written by many processes at once): this many writer processes
    /// together against one, ...
    var w3ScaleOutProcesses = 4
    /// ... each with this many writer tasks (one measurement per entry).
    var w3ScaleOutWritersPerProcess = [1, 8]
    var w4Samples: Int
    var w4WarmUpSamples: Int
    /// The most time each W4 phase may take: a store whose deliveries take a second still ends.
    var w4PhaseBudget: Duration
    var w5Events: Int
    var w5CleanOpenRepeats = 3
    var w6Events: Int
    var w7Events: Int
    var w7Streams = 100
    var w8Events: [Int]
    var w9Events: Int
    /// W9 alternates this many watch and subscription rounds and takes the median of each.
    var w9Rounds = 3
    var w10Writes: Int
    var w10Streams = 10_000
    var w10Writers = 8
    /// W11: the store of `w1Events` events is spread over this many streams, ...
    var w11Streams: Int
    /// ... in writes of this many streams at once, each with this many events (at most the stream's share).
    var w11StreamsPerWrite = 10
    var w11EventsPerStreamWrite = 1_000
    /// The writer's rate without compaction: this many writes of `batchEvents`, just before it.
    var w11BaselineWrites = 20
    /// W1 with store retention: alternating rounds without and with it (the median of each reported).
    var w11RetentionRounds = 3

    static let full = Sizes(
        w1Events: 1_000_000, w2Streams: 100_000, w2ReadSamples: 10_000, w3MeasureDuration: .seconds(3),
        w3WarmUpDuration: .milliseconds(500), w3SyncProbeSamples: 2_000, w4Samples: 5_000, w4WarmUpSamples: 100,
        w4PhaseBudget: .seconds(60), w5Events: 1_000_000,
        w6Events: 1_000_000, w7Events: 1_000_000, w8Events: [1_000_000, 10_000_000], w9Events: 1_000_000,
        w10Writes: 100_000, w11Streams: 1_000)

    static let quick = Sizes(
        w1Events: 100_000, w2Streams: 10_000, w2ReadSamples: 2_000, w3MeasureDuration: .seconds(1),
        w3WarmUpDuration: .milliseconds(200), w3SyncProbeSamples: 500, w4Samples: 1_000, w4WarmUpSamples: 50,
        w4PhaseBudget: .seconds(20), w5Events: 100_000,
        w6Events: 100_000, w7Events: 100_000, w8Events: [1_000_000, 2_000_000], w9Events: 100_000,
        w10Writes: 10_000, w11Streams: 100)
}
