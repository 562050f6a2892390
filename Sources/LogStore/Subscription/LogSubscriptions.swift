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
    /// it may be in the page cache only, after a failed sync in this boot or a process that died
    /// before its sync:
    /// - the record's name and the `subscriptions` directory's (a creation whose directory sync
    ///   failed, or whose process died first, leaves a record that a power loss takes, with every
    ///   position acknowledged in it since): both directories are synced;
    /// - under `.fsync`, the slot read, written again unchanged and synced: after a failed sync
    ///   (an acknowledgement that threw) a Linux kernel marks the unwritten pages clean, so the
    ///   newest slot can be visible yet not on disk, while the other slot holds the last position
    ///   that reached it; the next acknowledgement overwrites that other slot, and torn by a power
    ///   loss it would leave an older position on disk than an acknowledgement that returned.
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
                    if syncsPositions {
                        let slot = SubscriptionFile.encodeSlot(
                            generation: decoded.generation, position: decoded.record.position)
                        try file.write(
                            slot,
                            at: SubscriptionFile.slotOffset(generation: decoded.generation, slotsOffset: slotsOffset))
                        try file.synchronizeData()
                    }
                    try Directory.synchronize(directory, io: io)
                    try Directory.synchronize(storeDirectory, io: io)
                } catch {
                    file.unlock()
                    throw error
                }
            }
            return Hold(
                file: file, generation: decoded.generation, slotsOffset: slotsOffset, record: decoded.record,
                syncs: syncsPositions, worker: worker)
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
    final class Hold: SubscriptionHold, @unchecked Sendable {
        // safe: `generation` and `isReleased` change only in `record` and `release`, which the
        // core calls one at a time, and on the worker thread.
        let record: SubscriptionRecord
        private let file: SystemFile
        private let slotsOffset: Int
        private let syncs: Bool
        private let worker: BlockingWorker
        private var generation: UInt64
        private var isReleased = false

        init(
            file: SystemFile, generation: UInt64, slotsOffset: Int, record: SubscriptionRecord, syncs: Bool,
            worker: BlockingWorker
        ) {
            self.file = file
            self.generation = generation
            self.slotsOffset = slotsOffset
            self.record = record
            self.syncs = syncs
            self.worker = worker
        }

        deinit { if !isReleased { file.unlock() } }

        func record(position: Int64) async throws {
            try await worker.run { [self] in
                try SystemError.mapped {
                    let next = generation + 1
                    let slot = SubscriptionFile.encodeSlot(generation: next, position: position)
                    try file.write(slot, at: SubscriptionFile.slotOffset(generation: next, slotsOffset: slotsOffset))
                    if syncs { try file.synchronizeData() }
                    generation = next
                }
            }
        }

        func release() async { releaseNow() }

        func releaseNow() {
            guard !isReleased else { return }
            isReleased = true
            file.unlock()
        }
    }
}
