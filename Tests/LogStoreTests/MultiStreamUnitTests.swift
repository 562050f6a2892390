import EventSourcing
import EventSourcingTestSupport
import Foundation
import LogStore
import Testing

/// A write to several streams in the log: consecutive frames, each but the last flagged
/// `continues`, that recovery keeps or cuts as a whole and that never straddle a segment roll.
@Suite("Log writes to several streams") struct MultiStreamUnitTests {
    static let unit = [
        StreamWrite("from", [CandidateEvent(type: "Debited", data: Data("30".utf8), idempotencyKey: "t1")]),
        StreamWrite("to", [CandidateEvent(type: "Credited", data: Data("30".utf8), idempotencyKey: "t1")]),
        StreamWrite("audit", [CandidateEvent(type: "Moved", metadata: ["amount": 30]), CandidateEvent(type: "Noted")]),
    ]

    /// Cut at every offset of the unit's three frames: each recovered store holds all of the unit
    /// (only when the cut is at its end) or none of it, and writes on.
    @Test func aTornUnitIsCutWhole() async throws {
        let root = try TemporaryDirectory("unit-torn")
        let live = root.sub("live")
        let options = smallOptions(segmentBytes: 1 << 20)
        let store = try await LogEventStore.open(directory: live, options: options)
        try await store.stream("before").write([CandidateEvent(type: "Before")])
        let segment = try #require(try segmentFiles(live).last)
        let name = URL(fileURLWithPath: segment).lastPathComponent
        let sizeBefore = try fileSize(segment)
        #expect(try await store.write(Self.unit) == [1, 1, 2])
        let image = root.sub("image")
        try crashImage(of: live, to: image)
        try await store.close()
        let sizeAfter = try fileSize(image + "/" + name)
        for cut in sizeBefore...sizeAfter {
            let trial = root.sub("cut-\(cut)")
            try FileManager.default.copyItem(atPath: image, toPath: trial)
            try truncateFile(trial + "/" + name, to: cut)
            let types = try await LogEventStore.withStore(directory: trial, options: options) { store in
                let types = try await allEvents(store).map(\.type)
                // The streams take the same unit again: none of it or all of it was there.
                // (The keyed events are dropped when stored; the audit events have no keys.)
                let versions = try await store.write(Self.unit)
                #expect(versions == (cut == sizeAfter ? [1, 1, 4] : [1, 1, 2]), "cut at \(cut)")
                return types
            }
            if cut == sizeAfter {
                #expect(types == ["Before", "Debited", "Credited", "Moved", "Noted"])
            } else {
                #expect(types == ["Before"], "cut at \(cut) kept part of the unit")
            }
            try FileManager.default.removeItem(atPath: trial)
        }
    }

    /// Units that do not fit what is left of a segment start the next one: every segment ends
    /// with a whole write, and every unit reads back whole after a reopen.
    @Test func aUnitNeverStraddlesASegmentRoll() async throws {
        let root = try TemporaryDirectory("unit-roll")
        let directory = root.sub("store")
        let options = smallOptions(segmentBytes: 4096)
        try await LogEventStore.withStore(directory: directory, options: options) { store in
            for index in 0..<60 {
                try await store.write([
                    StreamWrite("a\(index % 3)", [CandidateEvent(type: "A", data: Data(count: 300 + index))]),
                    StreamWrite("b\(index % 5)", [CandidateEvent(type: "B", data: Data(count: 200))]),
                ])
            }
        }
        #expect(try segmentFiles(directory).count > 5)
        let events = try await readAll(directory, options: options)
        #expect(events.count == 120)
        #expect(events.map(\.type) == Array(repeating: ["A", "B"], count: 60).flatMap { $0 })
        // A sealed segment that ended inside a write would be damage to the verifier.
        #expect(try await LogVerifier.verify(directory: directory).isEmpty)
    }

    /// A read-only store following the writer (as another process does) sees whole units only.
    @Test func aFollowerSeesWholeUnits() async throws {
        let root = try TemporaryDirectory("unit-follow")
        let directory = root.sub("store")
        let writer = try await LogEventStore.open(directory: directory, options: smallOptions(segmentBytes: 8192))
        try await writer.stream("start").write(CandidateEvent(type: "Start"))
        let reader = try await LogEventStore.open(directory: directory, options: .init(readOnly: true))
        let all = try await reader.stream("@all")
        let watching = Task {
            var types: [String] = []
            for try await event in all.watch(from: 1) {
                types.append(event.type)
                if types.count == 200 { break }
            }
            return types
        }
        // Reads of the follower's @all meanwhile: "Start" and whole pairs, never an X alone.
        let reading = Task {
            var reads = 0
            while !Task.isCancelled {
                let count = try await allEvents(reader).count
                guard count % 2 == 1 else { throw EventStoreError.io("a read saw \(count) events: part of a unit") }
                reads += 1
                if count == 201 { return reads }
                try await Task.sleep(for: .milliseconds(1))
            }
            return reads
        }
        for _ in 0..<100 {
            try await writer.write([
                StreamWrite("x", [CandidateEvent(type: "X")]), StreamWrite("y", [CandidateEvent(type: "Y")]),
            ])
        }
        #expect(try await withHangGuard(seconds: 120, cancelling: reading) > 0)
        let types = try await withHangGuard(seconds: 120, cancelling: watching)
        #expect(types == Array(repeating: ["X", "Y"], count: 100).flatMap { $0 })
        try await reader.close()
        try await writer.close()
    }
}
