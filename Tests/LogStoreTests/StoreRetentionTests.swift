import EventSourcing
import Foundation
import EventSourcingTestSupport
import LogStore
import Testing

/// `LogEventStore.Options.retention`: the oldest segments go as the writer rolls.
@Suite("Store-wide retention of the log store") struct StoreRetentionTests {
    static func options(_ retention: LogEventStore.StoreRetention?, segmentBytes: Int = 64 * 1024)
        -> LogEventStore.Options
    {
        LogEventStore.Options(segmentBytesMax: segmentBytes, checkpointBytesInterval: 32 * 1024, retention: retention)
    }

    /// The bytes the store's segments take on disk (holes excluded).
    static func allocatedSegmentBytes(_ directory: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }.reduce(0) {
            var info = stat()
            guard stat(directory + "/" + $1, &info) == 0 else { return $0 }
            return $0 + Int(info.st_blocks) * 512
        }
    }

    /// Event `index`: 900 bytes that do not compress.
    static func event(_ index: Int) -> CandidateEvent {
        var random = SeededRandom(seed: UInt64(index), stream: 5)
        return CandidateEvent(type: "E\(index)", data: Data(random.bytes(900)), idempotencyKey: "k\(index)")
    }

    @Test func maxBytesDropsTheOldestSegmentsAsTheLogRolls() async throws {
        let directory = try TemporaryDirectory("store-retention")
        let path = directory.sub("store")
        let retention = LogEventStore.StoreRetention(maxBytes: 128 * 1024)
        try await LogEventStore.withStore(directory: path, options: Self.options(retention)) { store in
            // Batches of 40 (about 36 KiB), so that a dropped batch's payload spans whole blocks.
            for batch in 0..<15 {
                try await store.stream("s\(batch % 4)").write((batch * 40..<batch * 40 + 40).map(Self.event))
            }
            // Retention is applied just after the write that rolled returns, beside the writer.
            await store.settleRetention()
            let events = try await collect(store.stream("@all").read())
            // The newest events are all there, in order, without a gap; the oldest are gone.
            #expect(events.last?.type == "E599")
            let first = try #require(events.first).sequenceID
            #expect(first > 1 && events.map(\.sequenceID) == Array(first...600))
            #expect(try await store.stream("@all").metrics().eventCount == Int64(events.count))
            // Bounded: about 128 KiB of batches kept of the 540 KiB written; the dropped segments
            // are removed.
            #expect(events.count <= 200)
            // A dropped event's key is forgotten: the write stores a new event.
            let version = try await store.stream("s0").metrics().currentVersion
            #expect(try await store.stream("s0").write(Self.event(0)) == version + 1)
            // Stream reads and versions: versions go on, the oldest are hidden.
            let s1 = try await collect(store.stream("s1").read())
            #expect(s1.last?.version == 160 && s1.count <= 40)
        }
        // The dropped segments are removed beside the writer; settling (and closing) waits for that.
        let allocated = try Self.allocatedSegmentBytes(path)
        #expect(allocated < 300 * 1024, "\(allocated) bytes allocated")
        // After reopening (and in a read-only open) the same events are hidden.
        let reopened = try await LogEventStore.withStore(directory: path, options: Self.options(retention)) {
            try await collect($0.stream("@all").read()).map(\.sequenceID)
        }
        let readOnly = try await LogEventStore.withStore(directory: path, options: .init(readOnly: true)) {
            try await collect($0.stream("@all").read()).map(\.sequenceID)
        }
        #expect(reopened == readOnly && reopened.first! > 1 && reopened.last == 601)
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
    }

    /// The store's segment files, by name.
    static func segmentNames(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }.sorted()
    }

    // Small events: a dropped segment is removed whole (its file unlinked), so the disk stays
    // bounded whatever the batch size; what outlives it (the streams that had batches there, their
    // versions) is kept in the record 'removed', which every open and every rebuild starts from.
    @Test func droppedSegmentsAreRemovedAndVersionsGoOnAfterARebuild() async throws {
        let directory = try TemporaryDirectory("store-retention-remove")
        let path = directory.sub("store")
        let options = Self.options(LogEventStore.StoreRetention(maxBytes: 48 * 1024), segmentBytes: 16 * 1024)
        func small(_ index: Int) -> CandidateEvent {
            var random = SeededRandom(seed: UInt64(index), stream: 9)
            return CandidateEvent(type: "E\(index)", data: Data(random.bytes(100)), idempotencyKey: "k\(index)")
        }
        let (earlyVersion, streamVersions) = try await LogEventStore.withStore(directory: path, options: options) {
            store in
            // A stream written only at first: every event of it goes with the oldest segments.
            try await store.stream("early").write((0..<5).map(small))
            for write in 0..<400 {
                let first = 5 + write * 5
                try await store.stream("s\(write % 7)").write((first..<first + 5).map(small))
            }
            await store.settleRetention()
            let names = try Self.segmentNames(path)
            #expect(!names.contains("segment-0000000001.log") && names.count <= 6, "\(names)")
            #expect(FileManager.default.fileExists(atPath: path + "/removed"))
            let allocated = try Self.allocatedSegmentBytes(path)
            #expect(allocated < 120 * 1024, "\(allocated) bytes allocated of about 260 KiB written")
            let events = try await collect(store.stream("@all").read())
            let first = try #require(events.first).sequenceID
            #expect(first > 1 && events.map(\.sequenceID) == Array(first...2005))
            #expect(try await store.stream("@all").metrics().eventCount == Int64(events.count))
            // Every event of 'early' is gone; its version stays, and its keys are forgotten.
            let early = try await store.stream("early")
            #expect(try await collect(early.read()).isEmpty)
            #expect(try await early.metrics().currentVersion == 5)
            #expect(try await early.metrics().eventCount == 0)
            #expect(try await early.write(small(0)) == 6)
            var versions: [String: Int64] = [:]
            for index in 0..<7 {
                let stream = try await store.stream("s\(index)")
                let read = try await collect(stream.read())
                let head = try await stream.metrics()
                #expect(read.map(\.version) == Array(((read.first?.version ?? 1))...head.currentVersion))
                #expect(head.eventCount == Int64(read.count))
                let backward = try await collect(stream.read(direction: .backward))
                #expect(backward.map(\.version) == read.map(\.version).reversed())
                versions["s\(index)"] = head.currentVersion
            }
            return (Int64(6), versions)
        }
        // A reopen, then one whose indexes are all gone (rebuilt from the log and the record).
        for rebuild in [false, true] {
            if rebuild {
                for name in ["checkpoint", "batches.idx", "streams.idx", "blocks.idx", "keys.idx"] {
                    try? FileManager.default.removeItem(atPath: path + "/" + name)
                }
            }
            try await LogEventStore.withStore(directory: path, options: options) { store in
                #expect(try await store.stream("early").metrics().currentVersion == earlyVersion)
                for (streamID, version) in streamVersions {
                    #expect(try await store.stream(streamID).metrics().currentVersion == version, "\(streamID)")
                }
                let listed = try await store.streamIDs()
                #expect(Set(streamVersions.keys).isSubset(of: Set(listed)))
            }
            #expect(try await LogVerifier.verify(directory: path).isEmpty, "rebuild \(rebuild)")
        }
        let readOnly = try await LogEventStore.withStore(directory: path, options: .init(readOnly: true)) {
            try await collect($0.stream("@all").read()).map(\.sequenceID)
        }
        let writable = try await LogEventStore.withStore(directory: path, options: options) { store in
            // Versions go on after the rebuild too.
            #expect(try await store.stream("early").write(small(1)) == earlyVersion + 1)
            return try await collect(store.stream("@all").read()).map(\.sequenceID)
        }
        #expect(readOnly == writable.dropLast())
    }

    @Test func maxAgeDropsSegmentsWhoseEventsAreAllOlder() async throws {
        let directory = try TemporaryDirectory("store-retention-age")
        let path = directory.sub("store")
        let retention = LogEventStore.StoreRetention(maxAge: .seconds(3_600))
        try await LogEventStore.withStore(directory: path, options: Self.options(retention, segmentBytes: 16 * 1024)) {
            store in
            // Copied events keep their timestamps: two hours old.
            let old = Date(timeIntervalSinceNow: -7_200)
            for index in 0..<60 {
                try await store.stream("old").importEvents([Self.event(index)], timestamp: old, expectedVersion: .any)
            }
            for index in 60..<120 { try await store.stream("new").write(Self.event(index)) }
            await store.settleRetention()
            // Whole segments go: the old events of the segment where the new ones begin stay.
            let types = try await collect(store.stream("@all").read()).map(\.type)
            #expect(Array(types.suffix(60)) == (60..<120).map { "E\($0)" })
            let kept = try await collect(store.stream("old").read())
            #expect(kept.count < 20 && kept.last?.type == "E59")
        }
    }

    @Test func badStoreRetentionIsRefusedAtOpen() async throws {
        let directory = try TemporaryDirectory("store-retention-bad")
        for retention in [LogEventStore.StoreRetention(maxBytes: 0), LogEventStore.StoreRetention(maxAge: .seconds(-1))] {
            await #expect(throws: EventStoreError.self) {
                try await LogEventStore.open(directory: directory.sub("store"), options: Self.options(retention))
            }
        }
    }

    // Found in review: the writer kept the keys it had read back from a batch after compaction
    // removed the batch; once the events no longer counted as hidden (the retention removed), a
    // write with the same key was taken for a retry and dropped, acknowledged but never stored.
    @Test func aKeyOfACompactedBatchIsNotTakenForAStoredOne() async throws {
        let directory = try TemporaryDirectory("compacted-key")
        try await LogEventStore.withStore(directory: directory.sub("store")) { store in
            let stream = try await store.stream("s")
            try await stream.importEvents(
                [CandidateEvent(type: "Old", idempotencyKey: "k")], timestamp: Date(timeIntervalSinceNow: -7_200),
                expectedVersion: .any)
            // A retry reads the key back (and the writer keeps the batch's keys).
            #expect(try await stream.write(CandidateEvent(type: "Old", idempotencyKey: "k")) == 1)
            try await stream.setRetention(Retention(maxAge: .seconds(3_600)))
            #expect(try await store.compact().eventsRemoved == 1)
            try await stream.setRetention(nil)
            #expect(try await stream.write(CandidateEvent(type: "New", idempotencyKey: "k")) == 2)
            #expect(try await collect(stream.read()).map(\.type) == ["New"])
        }
    }
}
