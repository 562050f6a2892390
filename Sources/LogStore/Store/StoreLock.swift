import EventSourcingCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The one-writer rule: a writer holds `LOCK` exclusively (`flock(2)`) while its store is open;
/// readers probe it to learn whether a writer runs.
///
/// The lock belongs to the open file description, which a child process spawned at that moment
/// shares until its `exec` closes it. So the lock is released explicitly (`LOCK_UN`) when this
/// object goes, not only by closing the descriptor: a store closed while another thread spawns
/// a process is free again when `close()` returns.
final class StoreLock: Sendable {
    static let fileName = "LOCK"

    private let file: SystemFile

    private init(file: SystemFile) { self.file = file }

    deinit { file.unlock() }

    /// How long an open waits for readers' probes (shared holders) to pass.
    static let probePatience = Duration.seconds(5)

    /// How long an open waits for an exclusive holder to let go: a writer closing at that moment,
    /// or a process spawned by one that has not reached `exec` yet.
    static let writerPatience = Duration.milliseconds(200)

    /// Takes the writer's lock of the store in `directory`, creating `LOCK` if needed.
    /// - Throws: `EventStoreError.storeLocked` when another writer holds it.
    static func acquire(directory: String, options: LogEventStore.Options) throws -> StoreLock {
        let file = try SystemFile.open(
            directory + "/" + fileName, flags: O_RDWR | O_CREAT, mode: options.fileMode, io: options.io)
        let start = ContinuousClock.now
        // Since when an exclusive holder has been seen without a break.
        var heldExclusivelySince: ContinuousClock.Instant?
        while try !file.tryLockExclusive() {
            // Held shared: only readers probing, for an instant each. Held exclusively: a writer.
            let isProbed = try file.tryLockShared()
            if isProbed { file.unlock() }
            let now = ContinuousClock.now
            if isProbed {
                heldExclusivelySince = nil
                if now - start >= probePatience {
                    throw EventStoreError.storeLocked(
                        "'\(directory)' could not be locked for writing: readers held its LOCK file for \(now - start)")
                }
            } else {
                let since = heldExclusivelySince ?? now
                heldExclusivelySince = since
                if now - since >= writerPatience {
                    throw EventStoreError.storeLocked("'\(directory)' is open for writing in another process")
                }
            }
            usleep(1_000)
        }
        return StoreLock(file: file)
    }

    /// Whether a writer holds the lock of the store in `directory` (a shared probe, released at once).
    static func isHeld(directory: String, io: any FileIO) throws -> Bool {
        guard let file = try SystemFile.openIfExists(directory + "/" + fileName, io: io) else { return false }
        guard try file.tryLockShared() else { return true }
        file.unlock()
        return false
    }
}
