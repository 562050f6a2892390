import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@testable import LogStore

#if canImport(Glibc)
    import Glibc
#endif

/// A real full disk: a store on a small tmpfs mount (as root, where the machine allows mounting),
/// filled up by another file. A write that finds no room fails alone; the open store serves reads
/// and takes writes again once the other file is gone, with no restart.
@Suite("A real full disk") struct FullDiskTests {
    /// A tmpfs of `bytes` mounted on a new directory, or `nil` (with why) where this cannot be done.
    final class SmallFileSystem {
        let path: String

        init(bytes: Int) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("full-disk-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            guard mount("tmpfs", path, "tmpfs", 0, "size=\(bytes)") == 0 else {
                let code = errno
                rmdir(path)
                throw EventStoreError.io("mount tmpfs: \(String(cString: strerror(code)))")
            }
        }

        deinit {
            umount2(path, Int32(MNT_DETACH))
            rmdir(path)
        }

        /// Writes `path` with zeros until the file system is full. - Returns: the bytes written.
        @discardableResult
        static func fill(_ path: String) -> Int {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { return 0 }
            defer { close(descriptor) }
            let chunk = [UInt8](repeating: 0, count: 4096)
            var total = 0
            while true {
                let wrote = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
                if wrote <= 0 { return total }
                total += wrote
            }
        }
    }

    /// Whether this machine lets the test mount a tmpfs (root, with the capability); else why not.
    static let mountable: String? = {
        guard geteuid() == 0 else { return "not root: cannot mount a small file system" }
        do {
            _ = try SmallFileSystem(bytes: 1 << 20)
            return nil
        } catch {
            return "cannot mount a small tmpfs here (\(error))"
        }
    }()

    @Test(
        .enabled(if: Self.mountable == nil, "needs root and mount(2) for a size-limited tmpfs; skipped where either is missing")
    )
    func aFullDiskFailsOneWriteAndTheStoreWritesAgainOnceThereIsRoom() async throws {
        let disk = try SmallFileSystem(bytes: 3 << 20)
        let path = disk.path + "/store"
        let options = LogEventStore.Options(segmentBytesMax: 64 * 1024, checkpointBytesInterval: 1 << 30)
        let store = try await LogEventStore.open(directory: path, options: options)
        var random = SeededRandom(seed: 11, stream: 1)
        func batch(_ index: Int, count: Int = 20) -> [CandidateEvent] {
            (0..<count).map {
                CandidateEvent(type: "E\(index)", data: Data(random.bytes(400)), idempotencyKey: "k\(index)-\($0)")
            }
        }
        var stored = 0
        for index in 0..<5 {
            _ = try await store.stream("s\(index % 2)").write(batch(index))
            stored += 20
        }
        // Another file takes every byte left.
        let filler = disk.path + "/filler"
        #expect(SmallFileSystem.fill(filler) > 0)
        var failures = 0
        for index in 5..<15 {
            do {
                _ = try await store.stream("s\(index % 2)").write(batch(index))
                stored += 20
            } catch EventStoreError.io(let message) {
                #expect(message.contains("disk is full"), "\(message)")
                failures += 1
            }
        }
        #expect(failures > 0, "the disk never filled up")
        // The open store serves reads, and holds exactly what it acknowledged.
        #expect(try await FaultHarness.allEvents(store).count == stored)
        // Room again: the same store takes writes, no restart.
        unlink(filler)
        for index in 15..<25 {
            _ = try await store.stream("s\(index % 2)").write(batch(index))
            stored += 20
        }
        #expect(try await FaultHarness.allEvents(store).count == stored)
        try await store.close()
        let reopened = try await LogEventStore.withStore(directory: path, options: options) {
            try await FaultHarness.allEvents($0)
        }
        #expect(reopened.count == stored)
        #expect(reopened.map(\.sequenceID) == Array(1...Int64(stored)))
        #expect(try await LogVerifier.verify(directory: path).isEmpty)
    }
}
