import EventSourcing
import Foundation
import LogStore
import Testing

@Suite("Log recovery") struct RecoveryTests {
    /// Writes `batches` batches of 1-3 small events over a few streams, leaving the store open.
    static func populate(_ store: LogEventStore, batches: Int) async throws -> [Int] {
        var sizes: [Int] = []
        for index in 0..<batches {
            let size = index % 3 + 1
            sizes.append(size)
            try await store.stream("s\(index % 4)").write(
                (0..<size).map {
                    CandidateEvent(
                        type: "E\(index)", data: Data("\(index)-\($0)".utf8), idempotencyKey: "k\(index)-\($0)")
                })
        }
        return sizes
    }

    @Test func tornTailAtEveryOffsetOfTheLastBatchIsCut() async throws {
        let root = try TemporaryDirectory("torn")
        let live = root.sub("live")
        let store = try await LogEventStore.open(directory: live, options: smallOptions(segmentBytes: 1 << 20))
        let sizes = try await Self.populate(store, batches: 12)
        let segment = try #require(try segmentFiles(live).last)
        let sizeBefore = try fileSize(segment)
        // The last batch: 3 events of stream s3, after the checkpoint taken at open.
        try await store.stream("last").write([CandidateEvent(type: "Last", data: Data([1, 2, 3]), metadata: ["m": 1])])
        let image = root.sub("image")
        try crashImage(of: live, to: image)
        try await store.close()
        let sizeAfter = try fileSize(image + "/" + URL(fileURLWithPath: segment).lastPathComponent)
        let wholeBatches = sizes.reduce(0, +)
        let lastFrame = try readBytes(segment, at: sizeBefore, count: sizeAfter - sizeBefore)
        #expect(lastFrame.count > 52)

        for cut in sizeBefore..<sizeAfter {
            let trial = root.sub("cut-\(cut)")
            try FileManager.default.copyItem(atPath: image, toPath: trial)
            try truncateFile(trial + "/" + URL(fileURLWithPath: segment).lastPathComponent, to: cut)
            let events = try await readAll(trial, options: smallOptions(segmentBytes: 1 << 20))
            #expect(events.count == wholeBatches, "cut at \(cut)")
            #expect(events.map(\.sequenceID) == Array(1...Int64(wholeBatches)))
            // Recovery is idempotent and the store writes on from the cut.
            let again = try await LogEventStore.withStore(
                directory: trial, options: smallOptions(segmentBytes: 1 << 20)
            ) { store in
                try await store.stream("after").write(CandidateEvent(type: "After"))
                return try await allEvents(store)
            }
            #expect(again.count == wholeBatches + 1)
            #expect(again.last?.sequenceID == Int64(wholeBatches + 1))
            try FileManager.default.removeItem(atPath: trial)
        }

        for appended in 1..<lastFrame.count {
            let trial = root.sub("append-\(appended)")
            try FileManager.default.copyItem(atPath: image, toPath: trial)
            let file = trial + "/" + URL(fileURLWithPath: segment).lastPathComponent
            // A partial copy of a frame, or junk, after the last whole batch.
            try appendBytes(
                file,
                appended % 2 == 0
                    ? Array(lastFrame.prefix(appended)) : (0..<appended).map { UInt8(truncatingIfNeeded: $0 &* 37) })
            let events = try await readAll(trial, options: smallOptions(segmentBytes: 1 << 20))
            #expect(events.count == wholeBatches + 1, "appended \(appended)")
            #expect(events.last?.type == "Last")
            #expect(events.last?.metadata == ["m": 1])
            try FileManager.default.removeItem(atPath: trial)
        }
    }

    @Test func crashImageReopensWithEverythingWrittenAndKeysStillDeduplicate() async throws {
        let root = try TemporaryDirectory("crash")
        let live = root.sub("live")
        let store = try await LogEventStore.open(directory: live, options: smallOptions(durability: .buffered))
        let sizes = try await Self.populate(store, batches: 200)
        try await store.stream("@all").snapshot(Data("g".utf8), version: 5)
        let expected = try await allEvents(store)
        try crashImage(of: live, to: root.sub("image"))
        try await store.close()
        let recovered = try await LogEventStore.withStore(directory: root.sub("image"), options: smallOptions()) {
            store in
            let events = try await allEvents(store)
            // Retrying acknowledged keys stores nothing new.
            let version = try await store.stream("s0").write(CandidateEvent(type: "E0", idempotencyKey: "k0-0"))
            #expect(version == Int64(try await collectStream(store, "s0").count))
            #expect(try await store.stream("@all").loadSnapshot()?.version == 5)
            return events
        }
        #expect(recovered == expected)
        #expect(recovered.count == sizes.reduce(0, +))
    }

    @Test func flippedBitInASealedSegmentIsCorruption() async throws {
        let root = try TemporaryDirectory("flip-sealed")
        let live = root.sub("live")
        try await LogEventStore.withStore(directory: live, options: smallOptions(segmentBytes: 4096)) { store in
            _ = try await Self.populate(store, batches: 300)
        }
        let segments = try segmentFiles(live)
        #expect(segments.count >= 3)
        for (index, offset) in [(0, 200), (1, 64 + 30), (0, 20)] {
            let trial = root.sub("trial-\(index)-\(offset)")
            try FileManager.default.copyItem(atPath: live, toPath: trial)
            let file = trial + "/" + URL(fileURLWithPath: segments[index]).lastPathComponent
            var byte = try readBytes(file, at: offset, count: 1)
            byte[0] ^= 0x10
            try overwrite(file, at: offset, with: byte)
            await expectCorruption(trial)
        }
    }

    @Test func damageMidLogFollowedByValidBatchesIsCorruption() async throws {
        let root = try TemporaryDirectory("flip-mid")
        let live = root.sub("live")
        let store = try await LogEventStore.open(directory: live, options: smallOptions(segmentBytes: 1 << 20))
        _ = try await Self.populate(store, batches: 20)
        try crashImage(of: live, to: root.sub("image"))
        try await store.close()
        let segment = try #require(try segmentFiles(root.sub("image")).last)
        // A bit in the middle of the batches: below the end, with whole batches after it.
        var byte = try readBytes(segment, at: 300, count: 1)
        byte[0] ^= 0x01
        try overwrite(segment, at: 300, with: byte)
        await expectCorruption(root.sub("image"))
        // The same damage after a clean close is below the durable point: also refused.
        let closedSegment = try #require(try segmentFiles(live).last)
        try overwrite(closedSegment, at: 300, with: byte)
        await expectCorruption(live)
    }

    @Test func missingSegmentIsCorruption() async throws {
        let root = try TemporaryDirectory("missing")
        let live = root.sub("live")
        try await LogEventStore.withStore(directory: live, options: smallOptions(segmentBytes: 4096)) { store in
            _ = try await Self.populate(store, batches: 300)
        }
        let segments = try segmentFiles(live)
        try FileManager.default.removeItem(atPath: segments[1])
        await expectCorruption(live)
    }

    @Test(arguments: ["batches.idx", "streams.idx", "blocks.idx", "keys.idx", "checkpoint"])
    func damagedIndexFilesAreRebuilt(file: String) async throws {
        let root = try TemporaryDirectory("index-\(file)")
        let live = root.sub("live")
        let (expected, perStream) = try await LogEventStore.withStore(
            directory: live, options: smallOptions(segmentBytes: 4096)
        ) { store in
            _ = try await Self.populate(store, batches: 400)
            var perStream: [String: [StoredEvent]] = [:]
            for stream in ["s0", "s1", "s2", "s3"] { perStream[stream] = try await collectStream(store, stream) }
            return (try await allEvents(store), perStream)
        }
        let size = try fileSize(live + "/" + file)
        let damages: [(String, (String) throws -> Void)] = [
            ("deleted", { try FileManager.default.removeItem(atPath: $0) }),
            ("truncated", { try truncateFile($0, to: size / 3) }),
            ("emptied", { try truncateFile($0, to: 0) }),
            (
                "garbled",
                {
                    try overwrite(
                        $0, at: min(size - 64, 96), with: (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
                }
            ),
            ("header garbled", { try overwrite($0, at: 3, with: [0xAB, 0xCD]) }),
        ]
        for (name, damage) in damages {
            let trial = root.sub(name.replacingOccurrences(of: " ", with: "-"))
            try FileManager.default.copyItem(atPath: live, toPath: trial)
            try damage(trial + "/" + file)
            try await LogEventStore.withStore(directory: trial, options: smallOptions(segmentBytes: 4096)) { store in
                #expect(try await allEvents(store) == expected, "\(file) \(name)")
                for (stream, events) in perStream {
                    #expect(try await collectStream(store, stream) == events, "\(file) \(name) \(stream)")
                    #expect(try await store.stream(stream).metrics().currentVersion == events.last?.version)
                }
                // Keys are still known: a retry stores nothing.
                let s1 = try await store.stream("s1")
                let before = try await s1.metrics().currentVersion
                #expect(try await s1.write(CandidateEvent(type: "E1", idempotencyKey: "k1-0")) == before)
                #expect(try await s1.write(CandidateEvent(type: "New", idempotencyKey: "fresh")) == before + 1)
            }
            // And the rebuilt files serve a second open as they are.
            #expect(try await readAll(trial, options: smallOptions(segmentBytes: 4096)).count == expected.count + 1)
        }
    }

    @Test func secondWriterGetsStoreLocked() async throws {
        let root = try TemporaryDirectory("lock")
        let store = try await LogEventStore.open(directory: root.sub("store"))
        do {
            let second = try await LogEventStore.open(directory: root.sub("store"))
            try? await second.close()
            Issue.record("a second writer opened the store")
        } catch EventStoreError.storeLocked(let message) {
            #expect(message.contains(root.sub("store")))
        }
        try await store.close()
        // Once the first closes, the lock is free.
        try await LogEventStore.open(directory: root.sub("store")).close()
    }

    /// A reader probing for a writer holds `LOCK` shared for an instant; a writer opening then waits
    /// for the probe to pass instead of failing. Held here for 300 ms, longer than the writer once
    /// waited in all.
    @Test func writerWaitsOutAReadersProbeOfTheLock() async throws {
        let root = try TemporaryDirectory("probe")
        try await LogEventStore.open(directory: root.sub("store")).close()
        let probe = open(root.sub("store") + "/LOCK", O_RDONLY)
        #expect(flock(probe, LOCK_SH | LOCK_NB) == 0)
        // The thread owns the descriptor: it releases and closes it, whatever the open does.
        Thread {
            usleep(300_000)
            flock(probe, LOCK_UN)
            close(probe)
        }.start()
        let store = try await LogEventStore.open(directory: root.sub("store"))
        try await store.stream("s").write(CandidateEvent(type: "T"))
        try await store.close()
    }

    /// A process spawned while a store is open shares the open file description of `LOCK` (and so
    /// its lock) until its `exec`; a duplicate descriptor stands in for one here. Closing the store
    /// releases the lock all the same.
    @Test func closeReleasesTheLockThatASpawnedProcessStillShares() async throws {
        let root = try TemporaryDirectory("shared-lock")
        let store = try await LogEventStore.open(directory: root.sub("store"))
        let lockPath = URL(fileURLWithPath: root.sub("store") + "/LOCK").resolvingSymlinksInPath().path
        let held = try #require(
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap(Int32.init).first {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == lockPath
            })
        let duplicate = dup(held)
        defer { close(duplicate) }
        try await store.close()
        try await LogEventStore.open(directory: root.sub("store")).close()
    }

    @Test func readOnlyOpenReadsAndRefusesWritesWithoutChangingFiles() async throws {
        let root = try TemporaryDirectory("readonly")
        let live = root.sub("live")
        let writer = try await LogEventStore.open(directory: live, options: smallOptions(segmentBytes: 4096))
        _ = try await Self.populate(writer, batches: 50)
        let expected = try await allEvents(writer)
        let before = try FileManager.default.contentsOfDirectory(atPath: live).sorted().map { name in
            (name, try Data(contentsOf: URL(fileURLWithPath: live + "/" + name)))
        }
        let reader = try await LogEventStore.open(
            directory: live, options: LogEventStore.Options(readOnly: true, segmentBytesMax: 4096))
        #expect(try await allEvents(reader) == expected)
        await #expect(throws: EventStoreError.readOnly) {
            try await reader.stream("x").write(CandidateEvent(type: "T"))
        }
        await #expect(throws: EventStoreError.readOnly) { try await reader.stream("x").snapshot(Data(), version: 0) }
        try await reader.close()
        let after = try FileManager.default.contentsOfDirectory(atPath: live).sorted().map { name in
            (name, try Data(contentsOf: URL(fileURLWithPath: live + "/" + name)))
        }
        #expect(before.map(\.0) == after.map(\.0))
        #expect(before.map(\.1) == after.map(\.1))
        try await writer.close()
    }
}

func collectStream(_ store: any EventStore, _ stream: String) async throws -> [StoredEvent] {
    var events: [StoredEvent] = []
    for try await event in try await store.stream(stream).read() { events.append(event) }
    return events
}

@Suite("Log recovery: rolls") struct RollRecoveryTests {
    @Test func aTornSegmentCreationIsRemovedAndTheLogGoesOn() async throws {
        let root = try TemporaryDirectory("torn-create")
        let live = root.sub("live")
        let options = smallOptions(segmentBytes: 4096)
        try await LogEventStore.withStore(directory: live, options: options) { store in
            _ = try await RecoveryTests.populate(store, batches: 100)
        }
        let expected = try await readAll(live, options: options)
        let segments = try segmentFiles(live)
        let next = String(format: "%@/segment-%010d.log", live, segments.count + 1)
        // The start of a header, as a crash during creation leaves it.
        #expect(FileManager.default.createFile(atPath: next, contents: Data("EVSEGMNT".utf8 + [1, 0, 0])))
        try await LogEventStore.withStore(directory: live, options: options) { store in
            #expect(try await allEvents(store) == expected)
            try await store.stream("after").write(CandidateEvent(type: "After"))
        }
        #expect(try await readAll(live, options: options).count == expected.count + 1)
    }
}

@Suite("Log recovery: key index") struct KeyIndexRecoveryTests {
    /// Regression: after a crash, keys written since the checkpoint were trimmed from the key table
    /// and subtracted from the checkpoint's count a second time, so the table later filled up and an
    /// insert probed forever.
    @Test func keysAfterTheCheckpointAreCountedOnceAfterACrash() async throws {
        let root = try TemporaryDirectory("key-count")
        let live = root.sub("live")
        let store = try await LogEventStore.open(
            directory: live, options: smallOptions(durability: .buffered, segmentBytes: 1 << 20))
        let stream = try await store.stream("s")
        for start in stride(from: 0, to: 3_000, by: 100) {
            try await stream.write((start..<start + 100).map { CandidateEvent(type: "E", idempotencyKey: "k\($0)") })
        }
        try crashImage(of: live, to: root.sub("image"))
        try await store.close()
        let version = try await LogEventStore.withStore(
            directory: root.sub("image"), options: smallOptions(segmentBytes: 1 << 20)
        ) { store in
            let stream = try await store.stream("s")
            for start in stride(from: 0, to: 20_000, by: 500) {
                try await stream.write(
                    (start..<start + 500).map { CandidateEvent(type: "E", idempotencyKey: "k\($0)") })
            }
            return await stream.version
        }
        #expect(version == 20_000)
        #expect(try await readAll(root.sub("image"), options: smallOptions(segmentBytes: 1 << 20)).count == 20_000)
    }
}

@Suite("Log recovery: key checksums") struct KeyChecksumTests {
    /// keys.idx of a crashed writer holds keys newer than its checkpoint: the verifier must count
    /// them out (a table opened from disk has no known highest sequence id), and open must keep them.
    @Test func keysNewerThanTheCheckpointAreNotDamage() async throws {
        let root = try TemporaryDirectory("key-verify")
        let live = root.sub("live")
        let store = try await LogEventStore.open(directory: live, options: smallOptions(segmentBytes: 1 << 20))
        try await store.stream("s").write((0..<500).map { CandidateEvent(type: "E", idempotencyKey: "k\($0)") })
        try crashImage(of: live, to: root.sub("image"))
        try await store.close()
        #expect(try await LogVerifier.verify(directory: root.sub("image")).isEmpty)
        #expect(try await LogVerifier.verify(directory: live).isEmpty)
        let version = try await LogEventStore.withStore(
            directory: root.sub("image"), options: smallOptions(segmentBytes: 1 << 20)
        ) {
            store in
            let stream = try await store.stream("s")
            try await stream.write((0..<600).map { CandidateEvent(type: "E", idempotencyKey: "k\($0)") })
            return await stream.version
        }
        #expect(version == 600)
        #expect(try await LogVerifier.verify(directory: root.sub("image")).isEmpty)
    }
}

@Suite("Log recovery: a grown key table") struct GrownKeyTableTests {
    static func keyed(_ range: Range<Int>) -> [CandidateEvent] {
        range.map { CandidateEvent(type: "E", idempotencyKey: "k\($0)") }
    }

    static func names(_ directory: String) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: directory))
    }

    /// The table grows (4,096 slots hold 3,072 keys) without a checkpoint: it lives in
    /// keys.idx.grown while keys.idx stays as the checkpoint described it. A crash then recovers
    /// from keys.idx, and every key still deduplicates.
    @Test func aCrashAfterGrowthBeforeACheckpointKeepsEveryKey() async throws {
        let root = try TemporaryDirectory("grown-crash")
        let live = root.sub("live")
        let store = try await LogEventStore.open(directory: live, options: smallOptions(segmentBytes: 1 << 20))
        try await store.stream("s").write(Self.keyed(0..<100))
        try await store.close()
        let reopened = try await LogEventStore.open(directory: live, options: smallOptions(segmentBytes: 1 << 20))
        let stream = try await reopened.stream("s")
        for start in stride(from: 100, to: 5_000, by: 700) {
            try await stream.write(Self.keyed(start..<min(start + 700, 5_000)))
        }
        #expect(try Self.names(live).contains("keys.idx.grown"))
        try crashImage(of: live, to: root.sub("image"))
        try await reopened.close()
        #expect(try !Self.names(live).contains("keys.idx.grown"), "a clean close settles the grown table")

        let image = root.sub("image")
        #expect(try await LogVerifier.verify(directory: image).isEmpty)
        let recorder = LogRecorder()
        var options = smallOptions(segmentBytes: 1 << 20)
        options.logger = recorder.logger
        let version = try await LogEventStore.withStore(directory: image, options: options) { store in
            #expect(try !Self.names(image).contains("keys.idx.grown"), "open settles or removes the grown table")
            #expect(
                !recorder.messages.contains { $0.contains("rebuilding") },
                "caught up, not rebuilt: \(recorder.messages)")
            let stream = try await store.stream("s")
            try await stream.write(Self.keyed(0..<6_000))
            return await stream.version
        }
        #expect(version == 6_000)
        #expect(try await LogVerifier.verify(directory: image).isEmpty)
    }

    /// A crash between the checkpoint that describes a grown table and the rename that follows it:
    /// the checkpoint matches keys.idx.grown, which open then puts in keys.idx's place.
    @Test func aCrashBetweenTheCheckpointAndTheRenameUsesTheGrownTable() async throws {
        let root = try TemporaryDirectory("grown-rename")
        let live = root.sub("live")
        _ = try await LogEventStore.withStore(directory: live, options: smallOptions(segmentBytes: 1 << 20)) { store in
            try await store.stream("s").write(Self.keyed(0..<100))
        }
        let small = try Data(contentsOf: URL(fileURLWithPath: live + "/keys.idx"))
        _ = try await LogEventStore.withStore(directory: live, options: smallOptions(segmentBytes: 1 << 20)) { store in
            try await store.stream("s").write(Self.keyed(100..<5_000))
        }
        // As the crash leaves it: the grown table under its temporary name, the older one as keys.idx.
        try FileManager.default.moveItem(atPath: live + "/keys.idx", toPath: live + "/keys.idx.grown")
        try small.write(to: URL(fileURLWithPath: live + "/keys.idx"))
        #expect(try await LogVerifier.verify(directory: live).isEmpty)
        let grown = try Data(contentsOf: URL(fileURLWithPath: live + "/keys.idx.grown"))

        let recorder = LogRecorder()
        var options = smallOptions(segmentBytes: 1 << 20)
        options.logger = recorder.logger
        try await LogEventStore.withStore(directory: live, options: options) { store in
            #expect(try !Self.names(live).contains("keys.idx.grown"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: live + "/keys.idx")) == grown)
            #expect(
                !recorder.messages.contains { $0.contains("rebuilding") },
                "the grown table was used, not rebuilt: \(recorder.messages)")
            let stream = try await store.stream("s")
            try await stream.write(Self.keyed(0..<5_500))
            #expect(await stream.version == 5_500)
        }
        #expect(try await LogVerifier.verify(directory: live).isEmpty)
    }
}
