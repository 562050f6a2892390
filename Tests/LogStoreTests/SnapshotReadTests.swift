import EventSourcing
import Foundation
import Testing

@testable import LogStore

@Suite("Snapshot reads") struct SnapshotReadTests {
    /// A snapshot the page cache holds is read on the caller's task (`preadv2` with `RWF_NOWAIT`),
    /// and gives the same snapshot as the read that may wait (on the store's blocking-reads thread).
    @Test func aCachedSnapshotIsReadWithoutWaitingAndReadsTheSame() async throws {
        let root = try TemporaryDirectory("snapshot-read")
        let path = root.sub("store")
        let state = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try await LogEventStore.withStore(directory: path) { store in
            try await store.stream("a").write(CandidateEvent(type: "E"))
            try await store.stream("a").snapshot(state, projection: "p")
        }
        let waiting = try SnapshotFile.load(directory: path, streamID: "a", projection: "p", io: SystemIO.shared)
        #expect(waiting?.state == state)
        let cached = try SnapshotFile.load(
            directory: path, streamID: "a", projection: "p", io: SystemIO.shared, onlyIfCached: true)
        // Just written, the file is in the page cache: no read waits (where the kernel can tell).
        if !cached.wouldWait { #expect(cached.snapshot == waiting) }
        let missing = try SnapshotFile.load(
            directory: path, streamID: "b", projection: "p", io: SystemIO.shared, onlyIfCached: true)
        #expect(missing.snapshot == nil && !missing.wouldWait)
        let loaded = try await LogEventStore.withStore(directory: path) {
            try await $0.stream("a").loadSnapshot(projection: "p")
        }
        #expect(loaded?.state == state)
    }
}
