import EventSourcingCore
import EventSourcingTestSupport
import Foundation

@testable import LogStore

/// Starting inputs for each fuzz target, made from real stores, frames and snapshots (and crash
/// images of the fault layer), so that libFuzzer begins from valid structure. They are made
/// afresh on each run, the same from one run to the next; nothing binary is committed.
enum SeedCorpus {
    /// Writes the seeds of `target` into `directory` (created). - Returns: how many.
    static func write(target: String, to directory: String) throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let seeds: [[UInt8]]
        switch target {
        case "frames": seeds = frames()
        case "recovery": seeds = recovery()
        case "index": seeds = index()
        case "snapshot": seeds = snapshots()
        case "metadata": seeds = metadata()
        case "filter": seeds = filters()
        default: throw EventStoreError.invalidArgument("no fuzz target '\(target)'")
        }
        for (index, seed) in seeds.enumerated() where !seed.isEmpty {
            StoreDirectory.write(directory + "/seed-\(index)", seed)
        }
        return seeds.count
    }

    static func frames() -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for profile in [Workload.Profile.mixed(), .manyKeys(), .largeEvents()] {
            let workload = Workload(seed: 5, profile: profile)
            for id in 0..<12 {
                let operation = workload.operation(id)
                guard !operation.events.isEmpty else { continue }
                let frame = BatchFrame.encode(
                    streamID: operation.streamID, firstSequenceID: Int64(id + 1), firstVersion: 1,
                    timestampMicros: 1_700_000_000_000_000,
                    events: operation.eventsAfterBatchDeduplication.map(\.event))
                seeds.append([UInt8(id % 2)] + frame)
            }
        }
        return seeds
    }

    static func recovery() -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for seed in UInt64(1)...6 {
            let directory = FuzzTargets.scratchDirectory()
            let layer = FaultInjectingIO(root: directory)
            var settings = LogEventStore.Options(durability: seed % 2 == 0 ? .buffered : .fsync, segmentBytesMax: 4096)
            settings.io = layer
            let options = settings
            let image = directory + "-image"
            StoreDirectory.remove(image)
            StoreImage.blocking {
                let store = try await LogEventStore.open(directory: directory, options: options)
                var runner = WorkloadRunner(
                    workload: Workload(seed: seed, profile: seed % 3 == 0 ? .largeEvents() : .mixed()))
                for operation in 0..<Int(seed * 7) { _ = await runner.run(operation, on: store) { _ in } }
                if seed == 1 {
                    try await store.close()
                } else {
                    layer.simulatePowerLoss(
                        into: image, mode: PowerLossMode.allCases[Int(seed) % PowerLossMode.allCases.count], seed: seed)
                    try? await store.close()
                }
            }
            seeds.append(StoreImage.encode(directory: seed == 1 ? directory : image, buffered: seed % 2 == 0))
            StoreDirectory.remove(image)
        }
        return seeds
    }

    static func index() -> [[UInt8]] {
        let (files, _) = StoreImage.makeReference()
        var seeds: [[UInt8]] = []
        for (index, name) in ["checkpoint", "batches.idx", "streams.idx", "blocks.idx", "keys.idx", "head"].enumerated()
        {
            guard let bytes = files[name] else { continue }
            seeds.append([UInt8(index), 0, 0, 0] + bytes)
            seeds.append([UInt8(index), 3, 8, 0] + bytes[8..<min(bytes.count, 200)])
            seeds.append([UInt8(index), 2, 100, 0] + [0xFF, 0xFF, 0xFF, 0xFF])
        }
        // A keys.idx.grown (name 6 of the target) that copies keys.idx, and one that damages the copy.
        if let keys = files["keys.idx"] {
            seeds.append([6, 0, 0, 0] + keys)
            seeds.append([6, 1, 0, 0] + keys.prefix(IndexFile.headerBytes) + [0xFF, 0, 0, 0, 0, 0, 0, 0])
        }
        return seeds
    }

    static func snapshots() -> [[UInt8]] {
        let workload = Workload(seed: 3, profile: .mixed())
        return (0..<8).map { id in
            let snapshot = Snapshot(
                streamID: workload.streamName(id), projectionName: id % 2 == 0 ? "default" : "p2", version: Int64(id),
                state: workload.snapshotState(operation: id, version: Int64(id), digest: UInt64(id)),
                timestamp: Date(timeIntervalSince1970: 1))
            return [UInt8(id % 2)] + SnapshotFile.encode(snapshot)
        }
    }

    static func metadata() -> [[UInt8]] {
        [
            #"{"user":"ann","n":3,"f":-0.125,"b":true,"z":null}"#, #"{"deep":{"x":[1,"y",{"z":[]}]},"e":{}}"#,
            #"{"u":"\u00e9\ud83d\ude00\n\"","big":12345678901234567890,"exp":1e308}"#, #"{"nan":NaN,"inf":-Infinity}"#,
            #"[1,2,3]"#, #""text""#, "  {\"a\" : [ ] }  ",
        ].enumerated().map { index, text in [UInt8(index == 3 ? 1 : 0)] + Array(text.utf8) }
    }

    static func filters() -> [[UInt8]] {
        [
            "event_type=Placed", "metadata.user~a%", "version:in:1,2,3", "stream_id~ström\\_%\nmetadata.deep.x=1",
            "sequence_id=2\nmetadata.n=3.0", "metadata.b=true\nmetadata.z=null", "event_type~_n_",
            "metadata.f:in:2.5,x,null",
        ].map { Array($0.utf8) }
    }
}
