import ArgumentParser
import EventSourcing
import Foundation

/// Where a store is, and which kind: a directory is a log store; `*.db`, `*.sqlite` or a
/// `sqlite:` prefix is a SQLite store.
enum StoreLocation: Equatable {
    case log(directory: String)
    case sqlite(path: String)

    init(_ argument: String) {
        if argument.hasPrefix("sqlite:") {
            self = .sqlite(path: String(argument.dropFirst("sqlite:".count)))
        } else if argument.hasSuffix(".db") || argument.hasSuffix(".sqlite") {
            self = .sqlite(path: argument)
        } else {
            self = .log(directory: argument)
        }
    }

    var path: String {
        switch self {
        case .log(let directory): return directory
        case .sqlite(let path): return path
        }
    }

    var exists: Bool {
        var isDirectory: ObjCBool = false
        let found = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        switch self {
        case .log: return found && isDirectory.boolValue
        case .sqlite: return found && !isDirectory.boolValue
        }
    }

    /// Opens the store. Reading commands (`forWriting == false`) open it read-only and never create it.
    func open(forWriting: Bool, options: StoreOptions) async throws -> any EventStore {
        let readOnly = !forWriting || options.readOnly
        if readOnly, !exists {
            throw CommandError("no store at '\(path)'")
        }
        switch self {
        case .log(let directory):
            var logOptions = LogEventStore.Options(
                durability: options.durability == .buffered ? .buffered : .fsync, readOnly: readOnly)
            if let segmentBytes = options.segmentBytes { logOptions.segmentBytesMax = segmentBytes }
            return try await LogEventStore.open(directory: directory, options: logOptions)
        case .sqlite(let path):
            return try await SQLiteEventStore.open(
                path: path,
                options: .init(synchronous: options.durability == .buffered ? .normal : .full, readOnly: readOnly))
        }
    }
}

extension StoreLocation: ExpressibleByArgument {
    init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        self.init(argument)
    }
}

/// Options every command accepts.
struct StoreOptions: ParsableArguments {
    enum Durability: String, ExpressibleByArgument, CaseIterable { case fsync, buffered }

    @Flag(help: "Open the store read-only: a writing command then fails with the read-only error.")
    var readOnly = false

    @Option(help: "For log stores: fsync (a write returns once durable) or buffered. SQLite: FULL or NORMAL.")
    var durability: Durability = .fsync

    /// Segment size of a log store, for tests that want many segment rolls.
    @Option(help: .hidden) var segmentBytes: Int?
}

/// Runs `body` with an open store and closes it afterwards, also when `body` throws.
func withStore<R>(
    _ location: StoreLocation, forWriting: Bool, options: StoreOptions, _ body: (any EventStore) async throws -> R
) async throws -> R {
    try await closing(try await location.open(forWriting: forWriting, options: options), body)
}

/// The package-internal side of a store (statistics, snapshots, copies).
func runtime(of store: any EventStore) -> StoreRuntime {
    guard let backed = store as? any RuntimeBackedStore else {
        preconditionFailure("every store of this package is runtime-backed")
    }
    return backed.runtime
}
