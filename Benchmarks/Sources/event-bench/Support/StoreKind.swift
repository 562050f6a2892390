import ArgumentParser
import EventSourcing
import Foundation

/// The stores under test.
enum StoreKind: String, CaseIterable, Sendable, ExpressibleByArgument {
    case log
    case sqlite

    /// The name used in tables and charts.
    var displayName: String { self == .log ? "LogEventStore" : "SQLiteEventStore" }
}

/// Matching durability levels: `.fsync` runs the log with `.fsync` and SQLite with
/// `synchronous=FULL`; `.buffered` runs `.buffered` against `NORMAL`.
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

    /// Where the store lives inside a workload's directory: a directory for the log, a file for SQLite.
    func storePath(in directory: String) -> String {
        kind == .log ? directory + "/log" : directory + "/events.db"
    }

    /// Opens (creating) the store in `directory`.
    func open(in directory: String, readOnly: Bool = false) async throws -> any EventStore {
        try await Self.open(kind: kind, durability: durability, path: storePath(in: directory), readOnly: readOnly)
    }

    /// Opens the store of `kind` at `path` (a directory for the log, a database file for SQLite).
    static func open(kind: StoreKind, durability: DurabilityChoice, path: String, readOnly: Bool) async throws
        -> any EventStore
    {
        switch kind {
        case .log:
            return try await LogEventStore.open(
                directory: path,
                options: .init(durability: durability == .fsync ? .fsync : .buffered, readOnly: readOnly))
        case .sqlite:
            return try await SQLiteEventStore.open(
                path: path, options: .init(synchronous: durability == .fsync ? .full : .normal, readOnly: readOnly))
        }
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
