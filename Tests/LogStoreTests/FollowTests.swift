import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@Suite("Following a writer") struct FollowTests {
    @Test func readOnlyStoreFollowsTheWriter() async throws {
        let root = try TemporaryDirectory("follow")
        let directory = root.sub("store")
        let writer = try await LogEventStore.open(directory: directory, options: smallOptions(segmentBytes: 4096))
        try await writer.stream("s").write(CandidateEvent(type: "First"))
        let readerOptions = LogEventStore.Options(readOnly: true)
        let reader = try await LogEventStore.open(directory: directory, options: readerOptions)
        let all = try await reader.stream("@all")
        async let watched: [Int64] = withHangGuard(seconds: 120) {
            var seen: [Int64] = []
            for try await event in all.watch(from: 0) {
                seen.append(event.sequenceID)
                if seen.count == 300 { break }
            }
            return seen
        }
        for index in 0..<299 {
            try await writer.stream("s\(index % 5)").write(CandidateEvent(type: "E", data: Data(count: index)))
        }
        let seen = try await watched
        #expect(seen == Array(1...300))
        #expect(try await collect(try await reader.stream("s3").read()).count == 60)
        try await reader.close()
        try await writer.close()
    }
}
