import CoreMetrics
import EventSourcingCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The event store on the custom append-only log engine: segmented log files hold the global
/// sequence, memory-mapped indexes find each stream's events and each idempotency key, snapshots
/// sit beside the segments, LZ4-compressed. One process writes (a lock file enforces it); any
/// number may open the store read-only. See docs/DESIGN.md and docs/FORMAT.md.
///
/// Thread-safety: safe to use from many tasks at once.
public final class LogEventStore: EventStore, RuntimeBackedStore {
    /// When a write returns.
    public enum Durability: Sendable, Hashable {
        /// After its bytes are on stable storage (`fdatasync`); concurrent writers share one sync.
        case fsync
        /// Once the OS has its bytes: a process crash loses nothing, a power loss may lose the newest writes.
        case buffered
    }

    /// How much of the whole log to keep: once it passes `maxBytes`, or its oldest segment holds
    /// only events older than `maxAge`, the oldest sealed segments are dropped as the writer rolls
    /// to a new segment: their events are hidden from every reader (sequence ids below the first
    /// kept one) and their files removed, beside the writer, just after the write that rolled
    /// returns. Streams keep their versions and their keys are forgotten. The active segment is
    /// never dropped.
    public struct StoreRetention: Sendable, Hashable {
        /// Keep the log's segments within about this many bytes (at least one segment's worth).
        public var maxBytes: Int64?
        /// Drop segments whose newest event is older than this.
        public var maxAge: Duration?

        /// Creates a retention; `StoreRetention()` keeps everything.
        public init(maxBytes: Int64? = nil, maxAge: Duration? = nil) {
            self.maxBytes = maxBytes
            self.maxAge = maxAge
        }
    }

    /// How to open a store.
    public struct Options: Sendable {
        /// When a write returns; `.fsync` by default.
        public var durability: Durability
        /// Open without the writer's lock and never modify a file; writes throw `EventStoreError.readOnly`.
        public var readOnly: Bool
        /// A segment is sealed and a new one begun once it would pass this size (a single larger
        /// batch still fits in one segment of its own). 64 MiB by default.
        public var segmentBytesMax: Int
        /// How much log is written between index checkpoints; recovery after a crash rescans at
        /// most this much of the log. 64 MiB by default.
        public var checkpointBytesInterval: Int
        /// Create files readable by the owner only (0600) instead of 0644.
        public var isOwnerOnly: Bool
        /// Bounds the whole log by size and age, dropping whole oldest segments; `nil` keeps all.
        public var retention: StoreRetention?
        /// Where the store logs (a torn tail it cut, a failure that stopped writes); silent by default.
        public var logger: Logger
        /// The seam every file operation goes through: the system's, or a fault-injecting layer in tests.
        package var io: any FileIO = SystemIO.shared
        /// The slots of a new key table (a power of two, at least 16). The reliability harnesses
        /// make it small, so that the table grows (`keys.idx.grown`) within their small workloads.
        package var keyIndexInitialCapacity = 4096
        /// Where metrics go; `nil`: the bootstrapped `MetricsSystem` (tests pass their own).
        package var metricsFactory: (any MetricsFactory)? = nil

        /// Creates options; every parameter has a default.
        public init(
            durability: Durability = .fsync, readOnly: Bool = false, segmentBytesMax: Int = 64 * 1024 * 1024,
            checkpointBytesInterval: Int = 64 * 1024 * 1024, isOwnerOnly: Bool = false,
            retention: StoreRetention? = nil,
            logger: Logger = Logger(label: "EventSourcing.Log", factory: { _ in SwiftLogNoOpLogHandler() })
        ) {
            self.retention = retention
            self.durability = durability
            self.readOnly = readOnly
            self.segmentBytesMax = segmentBytesMax
            self.checkpointBytesInterval = checkpointBytesInterval
            self.isOwnerOnly = isOwnerOnly
            self.logger = logger
        }

        var fileMode: mode_t { isOwnerOnly ? 0o600 : 0o644 }
    }

    package let runtime: StoreRuntime
    let writer: LogWriter
    private let storage: LogStorage

    /// The store's directory.
    public let directory: String

    private init(directory: String, runtime: StoreRuntime, storage: LogStorage, writer: LogWriter) {
        self.directory = directory
        self.runtime = runtime
        self.storage = storage
        self.writer = writer
    }

    /// Test hook: waits until the segments `Options.retention` dropped so far are hidden (the floor
    /// raised) and compacted; both happen beside the writer, just after the write that rolled.
    package func settleRetention() async { await storage.settleRetention() }

    /// Test hook: the store's floor, the first sequence id `Options.retention` keeps (1 when it
    /// dropped nothing).
    package func retentionFloor() throws -> Int64 { try storage.lifecycles.current().floor }
    /// The first segment still on disk and the size of the last one the store's retention
    /// removed (0 when none was): a test hook.
    package func removedSegments() -> (firstKeptOrdinal: Int, lastRemovedBytes: Int64) {
        storage.state.withLock { (storage.state.removed.firstKeptOrdinal, storage.state.removed.lastRemovedBytes) }
    }

    /// Test hook for the reliability harnesses: while held, the writer thread takes no write, so
    /// that the writes submitted meanwhile form one group (one `pwrite`, one sync) in the order
    /// they were submitted. Release before closing.
    package func holdWrites() { writer.setHeld(true) }

    /// Lets the writer thread go on (see `holdWrites`).
    package func releaseWrites() { writer.setHeld(false) }

    /// Writes and snapshots submitted and not yet taken by the writer thread.
    package var queuedWriteCount: Int { writer.queuedJobCount }

    /// Opens the store in `directory`, creating it (unless `options.readOnly`), and recovers it
    /// after a crash: a torn batch at the end of the log is cut, indexes are brought up to date.
    /// - Throws: `EventStoreError.storeLocked` when another process writes it,
    ///   `.corruption` naming the file and offset when stored bytes are damaged, `.invalidArgument`
    ///   for options out of range, `.io` for an OS error.
    public static func open(directory: String, options: Options = .init()) async throws -> LogEventStore {
        try EngineLimits.check(options)
        let (state, writer, lifecycles) = try await DedicatedThread.run(name: "eventlog-open") {
            let (state, context) = try SystemError.mapped { try LogRecovery.open(directory: directory, options: options) }
            return (state, LogWriter(context: context), context.lifecycles)
        }
        let hub = WatchHub()
        // A read-only store follows the writer process; a writable one is the writer.
        let follower =
            options.readOnly ? LogFollower(state: state, directory: directory, hub: hub, logger: options.logger) : nil
        let storage = LogStorage(
            state: state, writer: writer, follower: follower, lifecycles: lifecycles, directory: directory,
            options: options)
        return LogEventStore(
            directory: directory, runtime: StoreRuntime(
                storage: storage, hub: hub, logger: options.logger,
                metrics: StoreMetrics(store: "log", factory: options.metricsFactory)),
            storage: storage, writer: writer)
    }

    /// Opens, runs `body`, and closes even when `body` throws.
    public nonisolated(nonsending) static func withStore<R: Sendable>(
        directory: String, options: Options = .init(), _ body: (LogEventStore) async throws -> R
    ) async throws -> R {
        try await closing(try await open(directory: directory, options: options), body)
    }

    /// Opens a handle on a stream (`"@all"` for the global stream); see `EventStore.stream(_:)`.
    public func stream(_ id: String) async throws -> EventStream { try await runtime.stream(id) }

    /// Writes to several streams, all or nothing; see `EventStore.write(_:)`.
    @discardableResult
    public func write(_ writes: [StreamWrite]) async throws -> [Int64] { try await runtime.write(writes) }

    /// Opens a durable subscription; see `EventStore.subscribe(_:options:)`.
    public func subscribe(_ name: String, options: SubscriptionOptions) async throws -> Subscription {
        try await runtime.subscribe(name, options: options)
    }

    /// Every subscription with its position and lag; see `EventStore.subscriptions()`.
    public func subscriptions() async throws -> [SubscriptionInfo] { try await runtime.subscriptions() }

    /// Removes a subscription; see `EventStore.deleteSubscription(_:)`.
    public func deleteSubscription(_ name: String) async throws { try await runtime.deleteSubscription(name) }

    /// Finishes open watches, waits for writes in flight and releases the store; see `EventStore.close()`.
    public func close() async throws { try await runtime.close() }
}
