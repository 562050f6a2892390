import EventSourcing
import Foundation
import Testing

@testable import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// A mapping reserves address space near what its file needs and grows past it, so a process can
/// hold many stores (a store once reserved 1 TiB of the 128 TiB a process has).
@Suite("Mapped files") struct MappedRegionTests {
    @Test func aFileGrowsPastItsReservationAndKeepsItsBytes() throws {
        let root = try TemporaryDirectory("mapped-grow")
        let path = root.sub("file")
        let file = try SystemFile.open(path, flags: O_RDWR | O_CREAT | O_EXCL, io: SystemIO.shared)
        try file.allocate(size: 4096)
        let region = try MappedRegion(file: file, reservedBytes: 4096, writable: true)
        region.store(UInt64(0xfeed), at: 4088)
        // A reader opened before the growth keeps reading, and follows the file past its reservation.
        let reader = try MappedRegion(
            file: try SystemFile.open(path, flags: O_RDONLY, io: SystemIO.shared), reservedBytes: 4096, writable: false)
        for size in [8192, 3 * 4096 + 100, 1 << 20] {
            try region.grow(to: size)
            #expect(region.reservedBytes >= size)
            region.store(UInt64(size), at: size - 8)
        }
        #expect(region.load(UInt64.self, at: 4088) == 0xfeed)
        #expect(region.load(UInt64.self, at: 8184) == 8192)
        try reader.refreshSize()
        #expect(reader.size == 1 << 20)
        #expect(reader.load(UInt64.self, at: 4088) == 0xfeed)
        #expect(reader.load(UInt64.self, at: (1 << 20) - 8) == UInt64(1 << 20))
        #expect(try file.size() == 1 << 20)
    }

    @Test func aProcessHoldsHundredsOfOpenStores() async throws {
        // Each store holds a few descriptors; raise the soft limit as far as the hard one allows.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let count = min(300, Int(limit.rlim_cur) / 16)
        try #require(count >= 130, "the descriptor limit (\(limit.rlim_cur)) is too low for this test")
        let root = try TemporaryDirectory("many-stores")
        var stores: [LogEventStore] = []
        for index in 0..<count {
            let store = try await LogEventStore.open(directory: root.sub("store-\(index)"), options: smallOptions())
            try await store.stream("s").write(CandidateEvent(type: "E\(index)"))
            stores.append(store)
        }
        for (index, store) in stores.enumerated() {
            #expect(try await allEvents(store).map(\.type) == ["E\(index)"])
            try await store.close()
        }
    }
}
