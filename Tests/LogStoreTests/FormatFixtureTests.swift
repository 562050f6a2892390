import EventSourcing
import Foundation
@testable import LogStore
import EventSourcingTestSupport
import Testing

/// Stores written by earlier releases keep opening. Tests/Fixtures/ holds small stores of each
/// earlier log format, made by the code of that format (FormatFixture.generate, run with
/// `FORMAT_FIXTURE_OUT=<dir> swift test --filter generateFixture`), with the events of
/// `FormatFixture.writes`; a test opens a copy of each, reads every event and snapshot, writes on,
/// reopens and verifies.
enum FormatFixture {
    /// The fixtures of earlier formats, by name: a cleanly closed store, and the image of a store
    /// whose writer crashed (no clean close, a torn frame at the end of its last segment).
    static let names = ["format1-clean", "format1-crashed"]

    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").path
    }

    static let options = LogEventStore.Options(segmentBytesMax: 4096, checkpointBytesInterval: 1 << 30)

    /// One write of the fixture: a stream and its events (keys, metadata, an LZ4-compressed batch,
    /// a retry of stored keys).
    struct Write {
        let streamID: String
        let events: [CandidateEvent]
    }

    static let writes: [Write] = (0..<60).map(write(_:))

    private static func write(_ index: Int) -> Write {
        let streamID = index % 5 == 4 ? "orders/\(index % 3)" : "account-\(index % 4)"
        var events: [CandidateEvent] = []
        for event in 0..<(index % 4 + 1) {
            let data: Data
            if index == 17 {
                data = Data(String(repeating: "compressible payload \(event) ", count: 60).utf8)
            } else {
                data = Data("{\"amount\":\(index * 10 + event)}".utf8)
            }
            var metadata: [String: JSONValue]?
            if index % 3 == 0 { metadata = ["user": .string("u\(index)"), "n": .int(Int64(event))] }
            events.append(
                CandidateEvent(
                    type: index % 2 == 0 ? "Deposited" : "Withdrawn", data: data, metadata: metadata,
                    idempotencyKey: index % 2 == 0 ? "key-\(index)-\(event)" : nil))
        }
        return Write(streamID: streamID, events: events)
    }

    /// What reading the fixture must give: the writes in order, without the retried keys.
    static func expectedEvents() -> [(streamID: String, version: Int64, event: CandidateEvent)] {
        var versions: [String: Int64] = [:]
        var result: [(String, Int64, CandidateEvent)] = []
        for write in writes {
            for event in write.events {
                let version = (versions[write.streamID] ?? 0) + 1
                versions[write.streamID] = version
                result.append((write.streamID, version, event))
            }
        }
        return result
    }

    /// Writes the fixture with the code of the current format.
    static func generate(into directory: String) async throws {
        let clean = directory + "/format1-clean"
        let live = directory + "/format1-live"
        for target in [clean, live] {
            let store = try await LogEventStore.open(directory: target, options: options)
            for write in writes {
                try await store.stream(write.streamID).write(write.events)
                if write.streamID == "account-1" {
                    // A retry of stored keys stores nothing.
                    try await store.stream(write.streamID).write(write.events.filter { $0.idempotencyKey != nil })
                }
            }
            try await store.stream("account-0").snapshot(Data("state of account-0".utf8), projection: "balance")
            if target == live {
                let image = directory + "/format1-crashed"
                try FileManager.default.copyItem(atPath: live, toPath: image)
                let last = try FileManager.default.contentsOfDirectory(atPath: image).filter {
                    $0.hasPrefix("segment-")
                }.sorted().last!
                // A torn frame: a length and half a header, as a crash in the middle of a write leaves.
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image + "/" + last))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data([120, 0, 0, 0, 0x45, 0x56, 0x42, 0x31, 9, 9, 9]))
                try handle.close()
                try await store.close()
                try FileManager.default.removeItem(atPath: live)
            } else {
                try await store.close()
            }
        }
    }
}

@Suite("Stores of earlier formats") struct FormatFixtureTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FORMAT_FIXTURE_OUT"] != nil))
    func generateFixture() async throws {
        let out = ProcessInfo.processInfo.environment["FORMAT_FIXTURE_OUT"]!
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try await FormatFixture.generate(into: out)
    }

    @Test(arguments: FormatFixture.names)
    func earlierFormatOpensReadsAndWritesOn(_ name: String) async throws {
        let root = try TemporaryDirectory("fixture")
        let store = root.sub(name)
        try FileManager.default.copyItem(atPath: FormatFixture.root + "/" + name, toPath: store)
        let expected = FormatFixture.expectedEvents()

        try await LogEventStore.withStore(directory: store, options: FormatFixture.options) { store in
            let events = try await allEvents(store)
            #expect(events.count == expected.count)
            for (index, (event, want)) in zip(events, expected).enumerated() {
                #expect(event.sequenceID == Int64(index + 1))
                #expect(event.streamID == want.streamID && event.version == want.version)
                #expect(event.type == want.event.type && event.data == want.event.data)
                #expect(event.metadata == want.event.metadata)
                #expect(event.id == (want.event.idempotencyKey ?? String(index + 1)))
            }
            let snapshot = try await store.stream("account-0").loadSnapshot(projection: "balance")
            #expect(snapshot?.state == Data("state of account-0".utf8))
            // Keys stored by the earlier format still drop retries.
            let keyed = try #require(FormatFixture.writes.first { $0.events.first?.idempotencyKey != nil })
            let before = try await store.stream(keyed.streamID).version
            #expect(try await store.stream(keyed.streamID).write(keyed.events) == before)
            try await store.stream("after-upgrade").write(CandidateEvent(type: "Written", data: Data([7])))
        }
        // Reopened (after the upgrade), everything is still there, and the store verifies clean.
        let events = try await readAll(store, options: FormatFixture.options)
        #expect(events.count == expected.count + 1)
        #expect(events.last?.streamID == "after-upgrade")
        let problems = try await LogVerifier.verify(directory: store)
        #expect(problems.isEmpty, "\(problems)")
    }

    /// The upgrade of a format-1 store is crash-safe: the power cut before each sync point of the
    /// first writable open (the seal of the format-1 segment, the new segment, the checkpoint),
    /// losing what was not synced in any order, leaves a store that opens with every event.
    @Test(arguments: FormatFixture.names)
    func anUpgradeCutByAPowerLossAtAnyOfItsSyncPointsOpens(_ name: String) async throws {
        let root = try TemporaryDirectory("fixture-crash")
        let expected = FormatFixture.expectedEvents().count
        var point = 0
        var crashed = true
        while crashed {
            let store = root.sub("\(name)-\(point)")
            try FileManager.default.copyItem(atPath: FormatFixture.root + "/" + name, toPath: store)
            let layer = FaultInjectingIO(root: store)
            let image = store + "-image"
            layer.setCrashPlan(
                CrashPlan(
                    point: .beforeSyncPoint(point), mode: point % 2 == 0 ? .keepRandomSubset : .dropUnsynced,
                    imageDirectory: image, seed: UInt64(point)))
            var options = FormatFixture.options
            options.io = layer
            let opened = try? await LogEventStore.open(directory: store, options: options)
            try? await opened?.close()
            crashed = layer.hasCrashed
            guard crashed else { break }
            let events = try await readAll(image, options: FormatFixture.options)
            #expect(events.count == expected, "power cut before sync point \(point)")
            #expect(events.map(\.sequenceID) == Array(1...Int64(expected)))
            let problems = try await LogVerifier.verify(directory: image)
            #expect(problems.isEmpty, "sync point \(point): \(problems)")
            point += 1
        }
        #expect(point > 3, "the upgrade has sync points to cut at")
    }
}
