import EventSourcingCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Subscriptions of the log store: one record file each in `subscriptions/` (see
/// `SubscriptionFile`), and one consumer per name held by an exclusive `flock(2)` on that file,
/// which the OS releases when the holder's process dies. Read-only opens subscribe too: the record
/// of a subscription they hold is the one file such a process writes (they cannot delete one).
///
/// Creating a record takes a `flock` of the `subscriptions` directory itself, so that two
/// processes never both create one; deleting it holds the record's own lock while it unlinks the
/// file, and a holder checks after locking that its file is still the one at the name.
///
/// Thread-safety: the blocking file calls run on a thread of their own.
final class LogSubscriptions: SubscriptionStorage {
    static let directoryName = "subscriptions"

    private let storeDirectory: String
    private let directory: String
    private let io: any FileIO
    private let fileMode: mode_t
    private let syncsPositions: Bool
    private let isReadOnly: Bool
    private let worker = BlockingWorker(name: "eventlog-subscriptions")

    init(storeDirectory: String, options: LogEventStore.Options) {
        self.storeDirectory = storeDirectory
        directory = storeDirectory + "/" + Self.directoryName
        io = options.io
        fileMode = options.fileMode
        syncsPositions = options.durability == .fsync
        isReadOnly = options.readOnly
    }

    /// Ends the worker thread (at the store's close, after every hold was released).
    func stop() { worker.stop() }

    func acquire(
        _ name: String, creating: @Sendable () async throws -> SubscriptionRecord
    ) async throws -> (record: SubscriptionRecord, hold: any SubscriptionHold) {
        let path = directory + "/" + SubscriptionFile.fileName(of: name)
        while true {
            if let held = try await run({ [self] in try self.lock(path: path, name: name, settles: true) }) {
                return (held.record, held)
            }
            let record = try await creating()
            try await run { [self] in try self.create(record, at: path) }
        }
    }

    func records() async throws -> [SubscriptionRecord] {
        try await run { [self] in
            guard Directory.exists(directory) else { return [] }
            var records: [SubscriptionRecord] = []
            for name in try Directory.names(in: directory) where name.hasSuffix(SubscriptionFile.suffix) {
                let path = directory + "/" + name
                guard let file = try SystemFile.openIfExists(path, io: io) else { continue }
                records.append(try SubscriptionFile.decode(try file.readAll(), path: path).file.record)
            }
            return records.sorted { $0.name < $1.name }
        }
    }

    func delete(_ name: String) async throws {
        // A read-only open writes only the records of the subscriptions it holds.
        guard !isReadOnly else { throw EventStoreError.readOnly }
        let path = directory + "/" + SubscriptionFile.fileName(of: name)
        try await run { [self] in
            guard let held = try lock(path: path, name: name) else {
                throw EventStoreError.invalidArgument("there is no subscription named '\(name)'")
            }
            try Directory.remove(path, io: io)
            try Directory.synchronize(directory, io: io)
            held.releaseNow()
        }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await worker.run { try SystemError.mapped(body) }
    }

    /// Opens and locks the record at `path`: `nil` when there is none.
    ///
    /// With `settles` (a consumer's hold), what was read is made durable before it is used, since
    /// it may be in the page cache only (a failed sync in this boot, a process that died before
    /// its sync, `.buffered` acknowledgements that are never synced), and the hold writes only the
    /// other slot:
    /// - the record's name and the `subscriptions` directory's (a creation whose directory sync
    ///   failed, or whose process died first, leaves a record that a power loss takes, with every
    ///   position acknowledged in it since): both directories are synced;
    /// - the slot read, written again unchanged and synced. After a failed sync (an
    ///   acknowledgement that threw) a Linux kernel marks the unwritten pages clean, so the newest
    ///   slot can be visible yet not on disk, while the other slot holds the last position that
    ///   reached it; and `.buffered` acknowledgements may have left unsynced writes in both slots.
    ///   The next acknowledgement overwrites the other slot, and torn by a power loss it would
    ///   leave an older position on disk than one read here, or no valid slot at all.
    /// - Throws: `EventStoreError.subscriptionBusy` when another holder has it.
    private func lock(path: String, name: String, settles: Bool = false) throws -> Hold? {
        while true {
            guard let file = try SystemFile.openIfExists(path, writable: true, io: io) else { return nil }
            guard try file.tryLockExclusive() else { throw EventStoreError.subscriptionBusy(name) }
            // Deleted (and perhaps created again) between the open and the lock: try the name again.
            guard try file.isStillLinked(at: path) else {
                file.unlock()
                continue
            }
            let (decoded, slotsOffset) = try SubscriptionFile.decode(try file.readAll(), path: path)
            if settles {
                do {
                    let slot = SubscriptionFile.encodeSlot(
                        generation: decoded.generation, position: decoded.record.position)
                    try file.write(slot, at: SubscriptionFile.slotOffset(slot: decoded.slot, slotsOffset: slotsOffset))
                    try file.synchronizeData()
                    try Directory.synchronize(directory, io: io)
                    try Directory.synchronize(storeDirectory, io: io)
                } catch {
                    file.unlock()
                    throw error
                }
            }
            return Hold(
                file: file, decoded: decoded, slotsOffset: slotsOffset, syncsEachPosition: syncsPositions,
                worker: worker)
        }
    }

    /// Writes a new record at `path` unless one exists: temporary file, sync, rename, sync of the
    /// directory, all under the directory's lock.
    private func create(_ record: SubscriptionRecord, at path: String) throws {
        if !Directory.exists(directory) {
            try Directory.create(directory, io: io)
            try Directory.synchronize(storeDirectory, io: io)
        }
        let directoryFile = try SystemFile.open(directory, flags: O_RDONLY | O_DIRECTORY, io: io)
        try directoryFile.lockExclusive()
        defer { directoryFile.unlock() }
        guard !Directory.fileExists(path) else { return }
        let temporary = path + ".tmp"
        try Directory.remove(temporary, io: io)
        let file = try SystemFile.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: fileMode, io: io)
        try file.write(SubscriptionFile.encodeNew(record), at: 0)
        try file.synchronize()
        try Directory.rename(temporary, to: path, io: io)
        try Directory.synchronize(directory, io: io)
    }

    /// The hold on one record: its open, locked file.
    ///
    /// The slot read at the start is durable (`lock` settled it). An acknowledgement writes the
    /// next generation into the other slot with one `pwrite`:
    /// - under `.fsync` it syncs it before returning, and that slot becomes the durable one, so
    ///   the next acknowledgement writes the first slot again;
    /// - under `.buffered` it does not sync, and keeps writing the same slot; at most once a
    ///   second, and at the release, it syncs it and the two slots swap roles.
    /// Either way a crash at any instant leaves the durable slot whole, and the other slot holding
    /// a newer position or failing its checksum.
    final class Hold: SubscriptionHold, @unchecked Sendable {
        // safe: the variables change only in `record` and `release`, which the core calls one at a
        // time, and on the worker thread.
        let record: SubscriptionRecord
        private let file: SystemFile
        private let slotsOffset: Int
        private let syncsEachPosition: Bool
        private let worker: BlockingWorker
        /// The generation of the newest position written (durable or not).
        private var generation: UInt64
        /// The slot (0 or 1) whose content is on stable storage.
        private var durableSlot: Int
        /// Whether the other slot holds a position written since the last sync (`.buffered`).
        private var hasUnsyncedPosition = false
        private var lastSync = ContinuousClock.now
        private var isReleased = false

        /// How often, at most, a `.buffered` hold syncs its newest position.
        static let bufferedSyncInterval = Duration.seconds(1)

        init(
            file: SystemFile, decoded: SubscriptionFile, slotsOffset: Int, syncsEachPosition: Bool,
            worker: BlockingWorker
        ) {
            self.file = file
            self.record = decoded.record
            self.generation = decoded.generation
            self.durableSlot = decoded.slot
            self.slotsOffset = slotsOffset
            self.syncsEachPosition = syncsEachPosition
            self.worker = worker
        }

        deinit { if !isReleased { file.unlock() } }

        func record(position: Int64) async throws {
            try await worker.run { [self] in
                try SystemError.mapped {
                    let next = generation + 1
                    let slot = SubscriptionFile.encodeSlot(generation: next, position: position)
                    try file.write(slot, at: SubscriptionFile.slotOffset(slot: 1 - durableSlot, slotsOffset: slotsOffset))
                    generation = next
                    hasUnsyncedPosition = true
                    if syncsEachPosition || ContinuousClock.now - lastSync >= Self.bufferedSyncInterval {
                        try synchronize()
                    }
                }
            }
        }

        /// Syncs the slot written since the last sync, which becomes the durable one.
        /// On failure the roles stay: the durable slot is untouched, and the next position is
        /// written over the one that failed.
        private func synchronize() throws {
            guard hasUnsyncedPosition else { return }
            try file.synchronizeData()
            durableSlot = 1 - durableSlot
            hasUnsyncedPosition = false
            lastSync = .now
        }

        func release() async {
            guard !isReleased else { return }
            // A `.buffered` hold's newest position, best effort: the next hold settles it anyway.
            try? await worker.run { [self] in try SystemError.mapped { try synchronize() } }
            releaseNow()
        }

        func releaseNow() {
            guard !isReleased else { return }
            isReleased = true
            file.unlock()
        }
    }
}
