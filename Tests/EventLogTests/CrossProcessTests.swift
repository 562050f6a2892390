import EventSourcing
import Foundation
import Testing

/// A writer process and reader processes on one log store.
@Suite("Cross-process reading and watching", .serialized) struct CrossProcessTests {
    /// JSON lines of `count` events with keys `k<first>`... over a few streams.
    static func eventLines(_ range: Range<Int>) -> String {
        range.map { #"{"type":"E","key":"k\#($0)","data":"\#($0)"}"# }.joined(separator: "\n") + "\n"
    }

    /// Checks that a watcher's JSON lines are sequence ids 1...count, each key once.
    static func expectComplete(_ lines: [String], count: Int, sourceLocation: SourceLocation = #_sourceLocation) throws
    {
        let events = try jsonObjects(lines)
        let sequenceIDs = events.map { $0["sequence_id"] as! Int }
        #expect(sequenceIDs == Array(1...count), "\(sequenceIDs.count) events", sourceLocation: sourceLocation)
        let ids = Set(events.map { $0["id"] as! String })
        #expect(ids.count == count, sourceLocation: sourceLocation)
    }

    @Test func readersSeeEveryEventInOrderThroughSegmentRolls() async throws {
        let work = try WorkDirectory()
        let total = 100_000
        #expect(
            try await eventlog(["append", "store", "s0", "--type", "Start", "--segment-bytes", "65536"], in: work.path)
                .status
                == 0)
        let readers = (0..<3).map { index in
            EventlogProcess(
                [
                    "watch", "store", index == 2 ? "s1" : "@all", "--from", "0", "--json", "--count",
                    String(index == 2 ? total / 2 : total + 1),
                ],
                in: work.path)
        }
        for reader in readers { try reader.start() }
        // One writer process at a time (the store has one writer): stream s0, then s1, in writes of
        // 500 events; segments of 256 KiB roll many times.
        for stream in 0..<2 {
            let writer = EventlogProcess(
                ["append", "store", "s\(stream)", "--stdin", "--batch", "500", "--segment-bytes", "65536"],
                in: work.path)
            try writer.start()
            try await writer.send(Self.eventLines(stream * total / 2..<(stream + 1) * total / 2))
            writer.closeInput()
            let result = await writer.wait()
            #expect(result.status == 0, "\(result.stderr)")
        }
        let all0 = await readers[0].wait()
        let all1 = await readers[1].wait()
        let one = await readers[2].wait()
        #expect(all0.status == 0 && all1.status == 0 && one.status == 0, "\(all0.stderr) \(one.stderr)")
        try Self.expectComplete(all0.lines, count: total + 1)
        try Self.expectComplete(all1.lines, count: total + 1)
        let versions = try jsonObjects(one.lines).map { $0["version"] as! Int }
        #expect(versions == Array(1...total / 2))
        let segments = try FileManager.default.contentsOfDirectory(atPath: work.path + "/store").filter {
            $0.hasPrefix("segment-")
        }
        #expect(segments.count > 5)
    }

    @Test func readersContinueAcrossAKilledAndRestartedWriter() async throws {
        let work = try WorkDirectory()
        let total = 20_000
        let readers = (0..<2).map { _ in
            EventlogProcess(
                ["watch", "store", "@all", "--from", "0", "--json", "--count", String(total)], in: work.path)
        }
        #expect(
            try await eventlog(
                ["append", "store", "s", "--stdin", "--segment-bytes", "65536"],
                input: Data(Self.eventLines(0..<1).utf8), in: work.path
            ).status == 0)
        for reader in readers { try reader.start() }
        var acknowledged = 1
        for round in 0..<3 {
            let writer = EventlogProcess(
                ["append", "store", "s", "--stdin", "--batch", "50", "--segment-bytes", "65536"], in: work.path)
            try writer.start()
            if round < 2 {
                // Everything from the last acknowledged event on, again: keys make the resend safe.
                try await writer.send(Self.eventLines(acknowledged..<min(total, acknowledged + 3_000)))
                // Killed mid-run, with writes acknowledged and more in flight.
                let seen = await writer.waitForLines(5 + round * 5)
                await writer.kill()
                let acks = try jsonObjects(seen)
                acknowledged = max(acknowledged, (acks.last?["version"] as? Int) ?? acknowledged)
            } else {
                try await writer.send(Self.eventLines(acknowledged..<total))
                writer.closeInput()
                let result = await writer.wait()
                #expect(result.status == 0, "\(result.stderr)")
            }
        }
        for reader in readers {
            let result = await reader.wait()
            #expect(result.status == 0, "\(result.stderr)")
            try Self.expectComplete(result.lines, count: total)
        }
        let stored = try jsonObjects(try await eventlog(["read", "store", "s", "--json"], in: work.path).lines)
        #expect(stored.map { $0["id"] as! String } == (0..<total).map { "k\($0)" })
    }
}
