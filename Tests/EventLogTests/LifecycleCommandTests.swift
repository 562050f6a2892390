import EventSourcing
import Foundation
import Testing

/// `eventlog streams`, `delete`, `truncate`, `retention` and `compact` (shared/spec/CLI.md).
@Suite("eventlog lifecycle commands") struct LifecycleCommandTests {
    @Test(arguments: ["store", "store.db"])
    func streamsDeleteTruncateRetentionAndCompact(store: String) async throws {
        let work = try WorkDirectory()
        for command in [["streams", store], ["delete", store, "a"], ["compact", store]] {
            expectFailure(try await eventlog(command, in: work.path), status: 1, mentioning: "no store at")
        }
        for stream in ["b", "a", "a", "c", "a", "b", "c", "c"] {
            #expect(try await eventlog(["append", store, stream, "--type", "T"], in: work.path).status == 0)
        }
        let listed = try await eventlog(["streams", store, "--json"], in: work.path)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(
            listed.lines == [
                #"{"stream_id":"a","version":3,"events":3}"#, #"{"stream_id":"b","version":2,"events":2}"#,
                #"{"stream_id":"c","version":3,"events":3}"#,
            ])
        let table = try await eventlog(["streams", store, "--prefix", "c"], in: work.path)
        #expect(table.lines.map { $0.split(separator: " ") } == [["STREAM", "VERSION", "EVENTS"], ["c", "3", "3"]])

        expectFailure(
            try await eventlog(["delete", store, "a", "--expected-version", "2"], in: work.path), status: 1,
            mentioning: "expected version 2")
        #expect(try await eventlog(["delete", store, "a", "--expected-version", "3"], in: work.path).status == 0)
        #expect(try await eventlog(["delete", store, "b", "--tombstone"], in: work.path).status == 0)
        #expect(try await eventlog(["truncate", store, "c", "--before", "3"], in: work.path).status == 0)
        expectFailure(
            try await eventlog(["append", store, "b", "--type", "T"], in: work.path), status: 1, mentioning: "tombstoned")
        let retention = try await eventlog(
            ["retention", store, "c", "--max-count", "10", "--max-age", "7d"], in: work.path)
        #expect(retention.status == 0 && retention.lines == ["stream 'c': max count 10, max age 604800 s"])
        #expect(try await eventlog(["retention", store, "c"], in: work.path).lines == retention.lines)
        expectFailure(
            try await eventlog(["retention", store, "c", "--max-age", "7w"], in: work.path), status: 2,
            mentioning: "not an age")
        #expect(
            try await eventlog(["retention", store, "c", "--clear"], in: work.path).lines == [
                "stream 'c': no retention"
            ])
        #expect(
            try await eventlog(["streams", store, "--json"], in: work.path).lines == [
                #"{"stream_id":"c","version":3,"events":1}"#
            ])

        let compacted = try await eventlog(["compact", store], in: work.path)
        #expect(compacted.status == 0, "\(compacted.stderr)")
        #expect(compacted.lines.count == 1 && compacted.lines[0].hasPrefix("removed 7 events, reclaimed "))
        #expect(compacted.stderr.isEmpty, "no progress when stderr is not a terminal")
        let read = try await eventlog(["read", store, "@all", "--json"], in: work.path)
        #expect(read.lines.count == 1 && read.lines[0].contains(#""stream_id":"c","version":3"#))
    }
}
