import ArgumentParser
import EventSourcing
import EventSourcingPostgres
import Foundation

/// Where a store is, and which kind: a directory is a log store; `*.db`, `*.sqlite` or a
/// `sqlite:` prefix is a SQLite store; a `postgres://` or `postgresql://` URL is a PostgreSQL store.
enum StoreLocation: Equatable {
    case log(directory: String)
    case sqlite(path: String)
    case postgres(url: String)

    init(_ argument: String) {
        let lowercased = argument.lowercased()
        if lowercased.hasPrefix("postgres://") || lowercased.hasPrefix("postgresql://") {
            self = .postgres(url: argument)
        } else if argument.hasPrefix("sqlite:") {
            self = .sqlite(path: String(argument.dropFirst("sqlite:".count)))
        } else if argument.hasSuffix(".db") || argument.hasSuffix(".sqlite") {
            self = .sqlite(path: argument)
        } else {
            self = .log(directory: argument)
        }
    }

    /// The directory, the file, or the URL (as given: it may hold a password, so messages name a
    /// PostgreSQL store by the server and schema the store reports, not by this).
    var path: String {
        switch self {
        case .log(let directory): return directory
        case .sqlite(let path): return path
        case .postgres(let url): return url
        }
    }

    /// True when a file store's directory or file is not there. Never for a PostgreSQL store:
    /// whether its schema holds a store only the server can say, and opening it says so.
    var isMissing: Bool {
        var isDirectory: ObjCBool = false
        let found = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        switch self {
        case .log: return !(found && isDirectory.boolValue)
        case .sqlite: return !(found && !isDirectory.boolValue)
        case .postgres: return false
        }
    }

    /// Opens the store. Reading commands (`forWriting == false`) open it read-only and never create it.
    func open(forWriting: Bool, options: StoreOptions) async throws -> any EventStore {
        let readOnly = !forWriting || options.readOnly
        if readOnly, isMissing {
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
        case .postgres(let url):
            // Durability is the server's (synchronous_commit), not the client's to choose.
            return try await PostgresEventStore.open(url: url, options: .init(readOnly: readOnly))
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

    @Option(
        help: ArgumentHelp(
            "For log stores: fsync (a write returns once durable) or buffered. SQLite: FULL or NORMAL. "
                + "PostgreSQL: not used (the server's settings decide)."))
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
