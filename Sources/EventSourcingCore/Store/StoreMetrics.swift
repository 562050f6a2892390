import CoreMetrics

/// What a store reports through swift-metrics: nothing leaves the process unless the application
/// bootstraps a metrics backend (`MetricsSystem.bootstrap`), and then every metric carries the
/// dimension `store` (`log`, `sqlite`, `postgres` or `memory`).
///
/// | label | kind | what |
/// |---|---|---|
/// | `eventsourcing_writes` | counter | calls of `write` (one stream or several) that stored events |
/// | `eventsourcing_events_written` | counter | events stored |
/// | `eventsourcing_write_duration` | timer | how long each `write` took, failed ones included |
/// | `eventsourcing_sync_duration` | timer | each `fdatasync` of the log (log store, one per group) |
/// | `eventsourcing_watch_lag` | timer | for each page a watch or subscription delivers, the age of its newest event |
/// | `eventsourcing_acknowledgements` | counter | subscription positions stored |
///
/// Thread-safety: the metric objects are thread-safe.
package final class StoreMetrics: Sendable {
    package static let writesLabel = "eventsourcing_writes"
    package static let eventsWrittenLabel = "eventsourcing_events_written"
    package static let writeDurationLabel = "eventsourcing_write_duration"
    package static let syncDurationLabel = "eventsourcing_sync_duration"
    package static let watchLagLabel = "eventsourcing_watch_lag"
    package static let acknowledgementsLabel = "eventsourcing_acknowledgements"

    let writes: Counter
    let eventsWritten: Counter
    let writeDuration: Timer
    let watchLag: Timer
    let acknowledgements: Counter

    /// The metrics of a store of kind `store`, made by `factory` (the bootstrapped one when `nil`).
    package init(store: String, factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        let dimensions = [("store", store)]
        writes = Counter(label: Self.writesLabel, dimensions: dimensions, factory: factory)
        eventsWritten = Counter(label: Self.eventsWrittenLabel, dimensions: dimensions, factory: factory)
        writeDuration = Timer(label: Self.writeDurationLabel, dimensions: dimensions, factory: factory)
        watchLag = Timer(label: Self.watchLagLabel, dimensions: dimensions, factory: factory)
        acknowledgements = Counter(label: Self.acknowledgementsLabel, dimensions: dimensions, factory: factory)
    }

    /// The log store's sync timer.
    package static func syncDuration(store: String, factory: (any MetricsFactory)?) -> Timer {
        Timer(label: syncDurationLabel, dimensions: [("store", store)], factory: factory ?? MetricsSystem.factory)
    }

    /// Runs a write, timing it and counting what it stored.
    func timeWrite<T>(_ body: () async throws -> T, appended: (T) -> Int) async throws -> T {
        let start = ContinuousClock.now
        do {
            let result = try await body()
            writeDuration.recordDuration(ContinuousClock.now - start)
            let count = appended(result)
            if count > 0 {
                writes.increment()
                eventsWritten.increment(by: Int64(count))
            }
            return result
        } catch {
            writeDuration.recordDuration(ContinuousClock.now - start)
            throw error
        }
    }
}

extension Timer {
    fileprivate func recordDuration(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
