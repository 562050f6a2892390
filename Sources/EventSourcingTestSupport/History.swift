import EventSourcingCore

/// Everything the writers of one store reported, across crashes and recoveries, and what the
/// last check of the recovered log confirmed: the checker's model of what the store must hold.
///
/// Thread-safety: a value type; one harness owns it.
package struct History: Sendable {
    /// What became of one write (to one stream, or to several in one call).
    package struct Write: Sendable {
        /// What it expected of each stream's version, in the order of the call (one for a write
        /// to one stream).
        package var expectedVersions: [ExpectedVersion]
        /// Whether it was one `store.write([StreamWrite])` call.
        package var isMultiStream = false
        /// Its place among all reports.
        package var attemptOrder: Int
        package var acknowledgementOrder: Int?
        /// The version of each stream it returned, in the order of the call.
        package var acknowledgedVersions: [Int64]?
        package var isRejected = false
        package var failure: String?
        /// Whether its bytes are known to be on stable storage (acknowledged with `.fsync`, or
        /// synced since): only those must survive a power loss.
        package var isDurable = false

        package init(expectedVersions: [ExpectedVersion], attemptOrder: Int) {
            self.expectedVersions = expectedVersions
            self.attemptOrder = attemptOrder
        }

        /// What it expected of its (first) stream's version.
        package var expected: ExpectedVersion { expectedVersions.first ?? .any }

        /// The version it returned for its (last) stream, `nil` until it is acknowledged.
        package var acknowledgedVersion: Int64? { acknowledgedVersions.map { $0.last ?? 0 } }
    }

    /// One snapshot save.
    package struct SnapshotSave: Sendable {
        package var version: Int64
        package var digest: UInt64
        package var attemptOrder: Int
        package var isAcknowledged = false
    }

    /// A maximal run of consecutive log events written by one operation.
    package struct Run: Sendable, Equatable {
        package var operation: Int
        /// The stream of its last event (a write to several streams spans several).
        package var streamID: String
        package var firstSequenceID: Int64
        package var count: Int
        /// The version of its last event.
        package var lastVersion: Int64
        package var lastSequenceID: Int64 { firstSequenceID + Int64(count) - 1 }
    }

    package private(set) var writes: [Int: Write] = [:]
    package private(set) var snapshots: [Int: SnapshotSave] = [:]
    /// Every report, in order.
    package private(set) var reports: [HistoryEvent] = []
    /// The runs of the log as the last check found them: a later log must start with them.
    package var confirmedRuns: [Run] = []
    /// Operations the last check found absent: they can never appear later.
    package var confirmedAbsent: Set<Int> = []

    package init() {}

    /// Records a report. `isDurable`: an acknowledgement whose bytes are already on stable storage.
    package mutating func apply(_ event: HistoryEvent, isDurable: Bool = true) {
        let order = reports.count
        reports.append(event)
        switch event {
        case .attempt(let operation, let expected):
            writes[operation] = Write(expectedVersions: [expected], attemptOrder: order)
        case .unitAttempt(let operation, let expected):
            writes[operation] = Write(expectedVersions: expected, attemptOrder: order)
            writes[operation]!.isMultiStream = true
        case .acknowledged(let operation, let version):
            acknowledge(operation, versions: [version], order: order, isDurable: isDurable)
        case .unitAcknowledged(let operation, let versions):
            acknowledge(operation, versions: versions, order: order, isDurable: isDurable)
        case .rejected(let operation):
            writes[operation, default: Write(expectedVersions: [.any], attemptOrder: order)].isRejected = true
        case .failed(let operation, let message):
            if snapshots[operation] == nil {
                writes[operation, default: Write(expectedVersions: [.any], attemptOrder: order)].failure = message
            }
        case .snapshotAttempt(let operation, let version, let digest):
            snapshots[operation] = SnapshotSave(version: version, digest: digest, attemptOrder: order)
        case .snapshotAcknowledged(let operation):
            snapshots[operation]?.isAcknowledged = true
        case .opened:
            break
        }
    }

    private mutating func acknowledge(_ operation: Int, versions: [Int64], order: Int, isDurable: Bool) {
        writes[operation, default: Write(expectedVersions: [.any], attemptOrder: order)].acknowledgementOrder = order
        writes[operation]!.acknowledgedVersions = versions
        writes[operation]!.isDurable = isDurable
    }

    /// Every acknowledged write so far is on stable storage (a sync covered it, or a clean close).
    package mutating func markAcknowledgedDurable(before order: Int? = nil) {
        for (operation, write) in writes
        where write.acknowledgementOrder != nil && !write.isDurable && !confirmedAbsent.contains(operation) {
            if let order, write.acknowledgementOrder! >= order { continue }
            writes[operation]!.isDurable = true
        }
    }

    /// Acknowledgements that were not durable when the power went are lost or kept; once a check
    /// has seen the recovered log, what it holds is durable (recovery syncs it) and what it lacks
    /// is gone for good.
    package mutating func settle(runs: [Run], absent: Set<Int>) {
        confirmedRuns = runs
        confirmedAbsent.formUnion(absent)
        let present = Set(runs.map(\.operation))
        for operation in present { writes[operation]?.isDurable = true }
    }

    /// The number of reports so far (the order the next one gets).
    package var reportCount: Int { reports.count }
}
