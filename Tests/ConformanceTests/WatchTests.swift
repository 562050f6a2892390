import EventSourcing
import EventSourcingTestSupport
import Foundation
import Synchronization
import Testing

@Suite("Watching") struct WatchTests {
    /// Collects `count` events of `events`, in a task of its own.
    static func take(_ count: Int, of events: EventStream.Events) -> Task<[StoredEvent], Error> {
        Task {
            var taken: [StoredEvent] = []
            for try await event in events {
                taken.append(event)
                if taken.count == count { break }
            }
            return taken
        }
    }

    @Test(arguments: StoreKind.allCases)
    func historyThenLiveWithoutGapOrDuplicate(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("H1", "H2", "H3"))
            let watcher = Self.take(7, of: stream.watch(from: 1))
            try await stream.write(events("L1", "L2"))
            try await stream.write(events("L3"))
            try await store.stream("other").write(events("X"))
            try await stream.write(events("L4", "L5"))
            let seen = try await withHangGuard(cancelling: watcher)
            #expect(seen.map(\.type) == ["H2", "H3", "L1", "L2", "L3", "L4", "L5"])
            #expect(seen.map(\.version) == Array(2...8))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func watchFromZeroReplaysEverything(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A", "B"))
            let watcher = Self.take(4, of: stream.watch(from: 0))
            try await stream.write(events("C", "D"))
            let seen = try await withHangGuard(cancelling: watcher)
            #expect(seen.map(\.type) == ["A", "B", "C", "D"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func watchWithoutFromYieldsOnlyNewEvents(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("Old1", "Old2"))
            let watcher = Self.take(3, of: stream.watch())
            // The watch starts when its task first iterates; write until it has seen something.
            let writer = Task {
                var written = 0
                while !Task.isCancelled {
                    try await stream.write(CandidateEvent(type: "New"))
                    written += 1
                    try await Task.sleep(nanoseconds: 20_000_000)
                }
                return written
            }
            let seen = try await withHangGuard(cancelling: watcher)
            writer.cancel()
            _ = try? await writer.value
            #expect(seen.allSatisfy { $0.type == "New" })
            let first = try #require(seen.first).version
            #expect(first > 2)
            #expect(seen.map(\.version) == [first, first + 1, first + 2])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func watchFiltersHistoryAndLiveEvents(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let all = try await store.stream("@all")
            try await store.stream("order-1").write(events("Placed", "Paid"))
            try await store.stream("user-1").write(events("Registered"))
            let watcher = Self.take(3, of: all.watch(from: 0, filter: EventFilter([.like("stream_id", "order-%")])))
            try await store.stream("user-2").write(events("Registered"))
            try await store.stream("order-2").write(events("Placed"))
            let seen = try await withHangGuard(cancelling: watcher)
            #expect(seen.map(\.streamID) == ["order-1", "order-1", "order-2"])
            #expect(seen.map(\.sequenceID) == [1, 2, 5])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func allWatchSeesEveryStreamInSequenceOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let all = try await store.stream("@all")
            let watcher = Self.take(30, of: all.watch(from: 0))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<3 {
                    group.addTask {
                        let stream = try await store.stream("s\(index)")
                        for _ in 0..<10 { try await stream.write(CandidateEvent(type: "E\(index)")) }
                    }
                }
                try await group.waitForAll()
            }
            let seen = try await withHangGuard(cancelling: watcher)
            #expect(seen.map(\.sequenceID) == Array(1...30))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func closeFinishesOpenWatches(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        let store = try await fixture.open()
        let stream = try await store.stream("s")
        try await stream.write(events("A"))
        final class Seen: Sendable { let stream = Atomic(0), all = Atomic(0) }
        let seen = Seen()
        let watcher = Task {
            var count = 0
            for try await _ in stream.watch(from: 0) {
                count += 1
                seen.stream.add(1, ordering: .relaxed)
            }
            return count
        }
        let allWatcher = Task {
            var count = 0
            for try await _ in try await store.stream("@all").watch() {
                count += 1
                seen.all.add(1, ordering: .relaxed)
            }
            return count
        }
        // Write until both watchers have had an event, so they are surely iterating when the store
        // closes (the @all watch sees only events written after it registered).
        let written = try await withHangGuard {
            var written = 1
            while seen.stream.load(ordering: .relaxed) == 0 || seen.all.load(ordering: .relaxed) == 0 {
                try await stream.write(events("B"))
                written += 1
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            return written
        }
        try await store.close()
        let count = try await withHangGuard(cancelling: watcher)
        let allCount = try await withHangGuard(cancelling: allWatcher)
        #expect(count >= 1 && count <= written)
        #expect(allCount >= 1 && allCount < written)
        var iterator = stream.watch(from: 0).makeAsyncIterator()
        #expect(try await iterator.next() == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func cancellingTheTaskEndsTheWatch(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let started = Mutex(false)
            let watcher = Task {
                var count = 0
                for try await _ in stream.watch(from: 0) {
                    count += 1
                    started.withLock { $0 = true }
                }
                return count
            }
            try await stream.write(events("A"))
            while !started.withLock({ $0 }) { try await Task.sleep(nanoseconds: 5_000_000) }
            watcher.cancel()
            let count = try await withHangGuard(cancelling: watcher)
            #expect(count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func breakingOutReleasesTheWatcherAndManyWatchersShareOnePath(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A"))
            for _ in 0..<200 {
                for try await event in stream.watch(from: 0) { if event.version == 1 { break } }
            }
            let watchers = (0..<100).map { _ in Self.take(2, of: stream.watch(from: 1)) }
            try await stream.write(events("B", "C"))
            for watcher in watchers {
                #expect(try await withHangGuard(cancelling: watcher).map(\.type) == ["B", "C"])
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func slowWatcherGetsEverythingFromStorage(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            let events = stream.watch(from: 0)
            var iterator = events.makeAsyncIterator()
            try await stream.write(CandidateEvent(type: "First"))
            #expect(try await iterator.next()?.version == 1)
            // The watcher stalls while many writes land, then resumes.
            for batch in 0..<10 { try await stream.write((0..<1000).map { _ in CandidateEvent(type: "B\(batch)") }) }
            var versions: [Int64] = []
            while versions.count < 10_000, let event = try await iterator.next() { versions.append(event.version) }
            #expect(versions == Array(2...10_001))
        }
    }

    /// A watch catching up reads its next page ahead while it hands out the current one: every
    /// event still comes once, in order, also when writes land between pages and the consumer
    /// awaits other work between events.
    @Test(arguments: StoreKind.allCases)
    func aWatchReadingAheadHandsOutEveryEventOnceInOrder(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            for batch in 0..<3 { try await stream.write((0..<4000).map { _ in CandidateEvent(type: "H\(batch)") }) }
            var sequenceIDs: [Int64] = []
            for try await event in try await store.stream("@all").watch(from: 0) {
                sequenceIDs.append(event.sequenceID)
                if sequenceIDs.count % 2500 == 0 {
                    try await store.stream("other").write(CandidateEvent(type: "Live"))
                    await Task.yield()
                }
                if sequenceIDs.count == 12_004 { break }
            }
            #expect(sequenceIDs == Array(1...12_004))
        }
    }
}
