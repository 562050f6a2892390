import ArgumentParser
import EventSourcing
import EventSourcingPostgres
import Foundation

/// The stores under test.
enum StoreKind: String, CaseIterable, Sendable, ExpressibleByArgument {
    case log
    case sqlite
    /// `PostgresEventStore`, the third column: measured when a server is given
    /// (`EVENTSOURCING_POSTGRES_URL`), on the workloads where it applies.
    case postgres

    /// The name used in tables and charts.
    var displayName: String {
        switch self {
        case .log: return "LogEventStore"
        case .sqlite: return "SQLiteEventStore"
        case .postgres: return "PostgresEventStore"
        }
    }

    /// Why `workload` is not measured on this store, or `nil` when it is.
    func exclusion(_ workload: Workload) -> String? {
        guard self == .postgres else { return nil }
        switch workload {
        case .w5:
            return "does not apply: opening a PostgreSQL store is connecting to a server, and recovery after a "
                + "killed writer is the server's own crash recovery, not the store's"
        case .w8:
            return "does not apply: W8 checks that an embedded store's rates and the memory of its process do not "
                + "grow with its files; with PostgreSQL the data and its cache live in the server's processes"
        default:
            return nil
        }
    }
}

/// Matching durability levels: `.fsync` runs the log with `.fsync` and SQLite with
/// `synchronous=FULL`; `.buffered` runs `.buffered` against `NORMAL`. PostgreSQL commits as its
/// server is configured (the benchmark server: `fsync=on`, `synchronous_commit=on`), which
/// matches `.fsync`.
enum DurabilityChoice: String, CaseIterable, Sendable, ExpressibleByArgument {
    case fsync
    case buffered

    var description: String {
        self == .fsync ? "log .fsync vs SQLite synchronous=FULL" : "log .buffered vs SQLite synchronous=NORMAL"
    }
}

/// How to open one store for a workload.
struct StoreSetup: Sendable {
    let kind: StoreKind
    let durability: DurabilityChoice
    /// The PostgreSQL server (`postgres://user@host:port/database`); used by `.postgres` only.
    var postgresURL: String? = nil
    /// The log store's segment size (`LogEventStore.Options.segmentBytesMax`); `nil`: its default.
    var segmentBytesMax: Int? = nil
    /// The log store's `LogEventStore.Options.retention`; `nil`: keep everything.
    var retention: LogEventStore.StoreRetention? = nil

    /// This setup with the log store opened with `segmentBytesMax` and `retention`.
    func withLogOptions(segmentBytesMax: Int?, retention: LogEventStore.StoreRetention?) -> StoreSetup {
        var setup = self
        setup.segmentBytesMax = segmentBytesMax
        setup.retention = retention
        return setup
    }

    /// Where the store lives for a workload whose scratch directory is `directory`: a directory
    /// for the log, a file for SQLite, and for PostgreSQL the server's URL with a schema named
    /// after the directory (`?schema=bench_w1_postgres_1a2b3c4d`), so every workload run starts
    /// on an empty schema of its own and every open within the run finds the same one.
    func storePath(in directory: String) -> String {
        switch kind {
        case .log: return directory + "/log"
        case .sqlite: return directory + "/events.db"
        case .postgres:
            guard let postgresURL else {
                preconditionFailure("StoreSetup for PostgreSQL without a server URL")
            }
            return PostgresServer.url(postgresURL, schema: PostgresServer.schemaName(forDirectory: directory))
        }
    }

    /// Opens (creating) the store in `directory`.
    func open(in directory: String, readOnly: Bool = false) async throws -> any EventStore {
        try await Self.open(
            kind: kind, durability: durability, path: storePath(in: directory), readOnly: readOnly,
            segmentBytesMax: segmentBytesMax, retention: retention)
    }

    /// Opens the store of `kind` at `path` (a directory for the log, a database file for SQLite,
    /// a `postgres://` URL with its schema for PostgreSQL); `segmentBytesMax` and `retention` are
    /// the log store's options (`nil`: its defaults), ignored by the other stores.
    static func open(
        kind: StoreKind, durability: DurabilityChoice, path: String, readOnly: Bool, segmentBytesMax: Int? = nil,
        retention: LogEventStore.StoreRetention? = nil
    ) async throws -> any EventStore {
        switch kind {
        case .log:
            var options = LogEventStore.Options(
                durability: durability == .fsync ? .fsync : .buffered, readOnly: readOnly, retention: retention)
            if let segmentBytesMax { options.segmentBytesMax = segmentBytesMax }
            return try await LogEventStore.open(directory: path, options: options)
        case .sqlite:
            return try await SQLiteEventStore.open(
                path: path, options: .init(synchronous: durability == .fsync ? .full : .normal, readOnly: readOnly))
        case .postgres:
            return try await PostgresEventStore.open(url: path, options: .init(readOnly: readOnly))
        }
    }

    /// The space the store takes after close: its files (allocated as `du` counts, and apparent as
    /// `ls` counts), or for PostgreSQL the size of its schema's tables with their indexes and TOAST
    /// (`pg_total_relation_size`, both figures the same; the write-ahead log is not counted).
    func bytesOnDisk(in directory: String) async throws -> (allocated: Int, apparent: Int) {
        guard kind == .postgres else { return ScratchDirectory.bytes(under: storePath(in: directory)) }
        let size = try await PostgresServer.schemaBytes(url: storePath(in: directory))
        return (size, size)
    }
}

/// A fresh directory for one workload, removed afterwards.
enum ScratchDirectory {
    /// The parent of every workload's directory (`TMPDIR`, else /tmp).
    static var root: String {
        let path = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        return path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    /// Creates a new directory, runs `body` with its path, and removes it even when `body` throws.
    static func with<R>(_ label: String, _ body: (String) async throws -> R) async throws -> R {
        let path = root + "/event-bench-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do {
            let result = try await body(path)
            try? FileManager.default.removeItem(atPath: path)
            return result
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// The bytes the regular files under `path` occupy on disk (allocated blocks, as `du` counts)
    /// and their apparent size (as `ls` counts).
    static func bytes(under path: String) -> (allocated: Int, apparent: Int) {
        var allocated = 0
        var apparent = 0
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return (0, 0) }
        let files: [String]
        if isDirectory.boolValue {
            let enumerator = FileManager.default.enumerator(atPath: path)
            var names: [String] = []
            while let name = enumerator?.nextObject() as? String { names.append(path + "/" + name) }
            files = names
        } else {
            // SQLite: the database and whatever -wal / -shm files sit beside it.
            files = [path, path + "-wal", path + "-shm"]
        }
        for file in files {
            var info = stat()
            guard stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            allocated += Int(info.st_blocks) * 512
            apparent += Int(info.st_size)
        }
        return (allocated, apparent)
    }
}
