import EventSourcing
import Foundation
import Testing

@Suite("SQLite watching other connections") struct CrossConnectionWatchTests {
    @Test func aSecondStoreOnTheSameFileWakesItsWatchers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sqlite-cross-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/events.db"
        let writer = try await SQLiteEventStore.open(path: path)
        try await writer.stream("s").write(CandidateEvent(type: "First"))
        let reader = try await SQLiteEventStore.open(path: path, options: .init(readOnly: true))
        let all = try await reader.stream("@all")
        let watcher = Task {
            var seen: [Int64] = []
            for try await event in all.watch(from: 0) {
                seen.append(event.sequenceID)
                if seen.count == 20 { break }
            }
            return seen
        }
        for index in 0..<19 {
            try await writer.stream("s").write(CandidateEvent(type: "E\(index)"))
        }
        let timer = Task {
            try await Task.sleep(nanoseconds: 120_000_000_000)
            watcher.cancel()
        }
        let seen = try await watcher.value
        timer.cancel()
        #expect(seen == Array(1...20))
        try await reader.close()
        try await writer.close()
    }
}
