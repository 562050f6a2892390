import EventSourcingCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The lifecycle table of an open store (`LifecycleFile`): what reads, heads and key checks hide.
///
/// The writer changes it (on its thread, between groups) by saving the file first; every other
/// open of the store, in this process or another, sees the change at its next read, which checks
/// the file's identity with one `stat` and loads the file again when it was replaced.
///
/// Thread-safety: safe to use from any thread; the table is behind a mutex.
final class LogLifecycles: Sendable {
    /// What identifies one version of the file: a rename gives a new inode.
    private struct Identity: Equatable {
        let inode: UInt64
        let size: Int64
        let seconds: Int
        let nanoseconds: Int
    }

    private struct Loaded {
        var table: LifecycleTable
        var identity: Identity?
        /// A save failed: the file may have been renamed into place without the directory sync,
        /// so what `current()` loads from it may not survive a power loss until it is saved again.
        var isUnsettled = false
    }

    private let directory: String
    private let io: any FileIO
    private let loaded: Mutex<Loaded>
    /// Held while a change reads the table and saves the file, so that two changes never lose
    /// one another.
    private let changing = Mutex(())

    init(directory: String, io: any FileIO) throws {
        self.directory = directory
        self.io = io
        let identity = Self.identity(of: LifecycleFile.path(directory))
        let table = identity == nil ? LifecycleTable() : try LifecycleFile.load(directory: directory, io: io)
        loaded = Mutex(Loaded(table: table, identity: identity))
    }

    /// The table as of now (empty for a store where nothing was ever hidden).
    func current() throws -> LifecycleTable {
        let identity = Self.identity(of: LifecycleFile.path(directory))
        return try loaded.withLock { loaded in
            if identity != loaded.identity {
                loaded.table = identity == nil ? LifecycleTable() : try LifecycleFile.load(directory: directory, io: io)
                loaded.identity = identity
            }
            return loaded.table
        }
    }

    /// The table as this process last saw it, without checking the file: what the writer uses,
    /// since it is the only process that changes the file (it holds the store's lock).
    func cached() -> LifecycleTable { loaded.withLock { $0.table } }

    /// What is hidden of one stream now.
    func lifecycle(of streamID: String) throws -> StreamLifecycle { try current()[streamID] ?? .none }

    /// Replaces one stream's entry: the file is saved (durably) before anyone sees the change.
    /// Called by the writer thread only.
    func set(_ lifecycle: StreamLifecycle, of streamID: String, fileMode: mode_t) throws {
        try changing.withLock { _ in
            var table = try current()
            table.streams[streamID] = lifecycle.isNone ? nil : lifecycle
            try save(table, fileMode: fileMode)
        }
    }

    /// Raises the store's floor (sequence ids below it are hidden). Called by the writable open's
    /// compactions (`SegmentCompactor`), beside the writer thread's changes.
    func raiseFloor(to floor: Int64, fileMode: mode_t) throws {
        try changing.withLock { _ in
            var table = try current()
            guard floor > table.floor else { return }
            table.floor = floor
            try save(table, fileMode: fileMode)
        }
    }

    /// Makes the file durable again after a failed save (a no-op otherwise): it is saved again
    /// as it is now, so that nothing is judged against a change a power loss could take back
    /// (a change acknowledged as a no-op, a compaction's plan). Called by the writable open.
    func settle(fileMode: mode_t) throws {
        try changing.withLock { _ in
            guard loaded.withLock({ $0.isUnsettled }) else { return }
            try save(try current(), fileMode: fileMode)
        }
    }

    private func save(_ table: LifecycleTable, fileMode: mode_t) throws {
        do {
            try LifecycleFile.save(table, directory: directory, fileMode: fileMode, io: io)
        } catch {
            loaded.withLock { $0.isUnsettled = true }
            throw error
        }
        let identity = Self.identity(of: LifecycleFile.path(directory))
        loaded.withLock { $0 = Loaded(table: table, identity: identity) }
    }

    private static func identity(of path: String) -> Identity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Identity(
            inode: UInt64(info.st_ino), size: Int64(info.st_size), seconds: info.st_mtim.tv_sec,
            nanoseconds: info.st_mtim.tv_nsec)
    }
}

/// The hiding rule applied to the events of one read: the table, the versions of the streams
/// whose `maxCount` depends on them, and the time now.
///
/// Thread-safety: a value type, used by one read.
struct HiddenEvents {
    let table: LifecycleTable
    /// Stream versions of the streams in `table` with a `maxCount`.
    let versions: [String: Int64]
    let nowMicros: Int64

    /// Whether the read hides nothing (no stream has a lifecycle).
    var isEmpty: Bool { table.isEmpty }

    /// Whether every event of a batch of `streamID` is hidden (a batch shares one timestamp).
    func hidesAll(of header: BatchHeader, streamID: String) -> Bool {
        if header.lastSequenceID < table.floor { return true }
        guard let lifecycle = table[streamID] else { return false }
        let version = versions[streamID] ?? header.lastVersion
        if header.lastVersion <= lifecycle.hiddenThrough(streamVersion: version) { return true }
        if let cutoff = lifecycle.ageCutoff(nowMicros: nowMicros), header.timestampMicros < cutoff { return true }
        return false
    }

    /// Whether `event` is hidden.
    func hides(_ event: StoredEvent) -> Bool {
        if event.sequenceID < table.floor { return true }
        guard let lifecycle = table[event.streamID] else { return false }
        return lifecycle.hides(
            version: event.version, timestampMicros: Timestamp.microseconds(event.timestamp),
            streamVersion: versions[event.streamID] ?? event.version, nowMicros: nowMicros)
    }
}
