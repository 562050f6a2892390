import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@Suite("Concurrency") struct ConcurrencyTests {
    @Test(arguments: StoreKind.allCases)
    func fiveWritersOnOneHandleWithReadersAndAWatcher(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("shared")
            let watcher = WatchTests.take(100, of: stream.watch(from: 0))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<5 {
                    group.addTask {
                        for index in 0..<20 {
                            try await stream.write(CandidateEvent(type: "W\(writer)", data: Data("\(index)".utf8)))
                        }
                    }
                }
                for _ in 0..<5 {
                    group.addTask {
                        for _ in 0..<10 {
                            let read = try await collect(stream.read())
                            // Every read is a gap-free prefix.
                            #expect(read.map(\.version) == Array(stride(from: 1, through: Int64(read.count), by: 1)))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seen = try await withHangGuard(cancelling: watcher)
            #expect(seen.map(\.version) == Array(1...100))
            for writer in 0..<5 {
                // Each writer's events keep its own order.
                let mine = seen.filter { $0.type == "W\(writer)" }.map { String(decoding: $0.data, as: UTF8.self) }
                #expect(mine == (0..<20).map(String.init))
            }
            let handleVersion = await stream.version
            #expect(handleVersion >= 1 && handleVersion <= 100)
            #expect(try await stream.metrics().currentVersion == 100)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentWritersOnDifferentStreams(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        let stream = try await store.stream("stream-\(writer)")
                        for index in 0..<25 {
                            try await stream.write([
                                CandidateEvent(type: "A\(index)"), CandidateEvent(type: "B\(index)"),
                            ])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let all = try await collect(store.stream("@all").read())
            #expect(all.map(\.sequenceID) == Array(1...400))
            for writer in 0..<8 {
                let stream = try await collect(store.stream("stream-\(writer)").read())
                #expect(stream.map(\.version) == Array(1...50))
                // The two events of a write are adjacent in the global order.
                for pair in stride(from: 0, to: 50, by: 2) {
                    #expect(stream[pair + 1].sequenceID == stream[pair].sequenceID + 1)
                }
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func optimisticConcurrencyLetsExactlyOneWriterWin(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("race")
            try await stream.write(events("Start"))
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        do {
                            try await stream.write(CandidateEvent(type: "Attempt\(index)"), expectedVersion: 1)
                            return true
                        } catch EventStoreError.concurrencyConflict {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await stream.metrics().currentVersion == 2)
        }
    }
}
