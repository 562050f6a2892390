/// What a harness did, for its summary and for docs/RELIABILITY.md: rounds, operations, crashes
/// simulated (by where they struck and what they dropped), faults injected by kind, damage done.
///
/// Thread-safety: a value type.
package struct HarnessCounters: Sendable {
    package var rounds = 0
    package var operations = 0
    package var acknowledgedWrites = 0
    package var recoveries = 0
    /// Power losses simulated by the fault layer.
    package var powerLosses = 0
    /// Of them, those that struck while a store was opening (inside recovery).
    package var powerLossesInRecovery = 0
    /// Child processes killed with SIGKILL.
    package var processKills = 0
    /// Of them, those killed before the store finished opening.
    package var processKillsInRecovery = 0
    /// Where power losses struck: "fdatasync on segment", "rename on snapshot", ...
    package var crashSites: [String: Int] = [:]
    package var lossModes: [String: Int] = [:]
    package var unsyncedUnitsDropped = 0
    package var unsyncedUnitsKept = 0
    package var tornSectors = 0
    package var reorderedUnits = 0
    /// Injected I/O errors by kind ("ENOSPC on write (transient)", ...).
    package var faults: [String: Int] = [:]
    /// Damage done to closed stores by kind ("bit flip in segment", ...).
    package var damage: [String: Int] = [:]
    /// Bytes changed by damage (flipped, zeroed, overwritten with junk, cut off).
    package var bytesDamaged = 0
    /// Single bits flipped.
    package var bitsFlipped = 0
    /// Damage that open or `verify` reported (the rest was harmless: an index rebuilt, ...).
    package var damageReported = 0
    /// Opens refused with `corruption` (after damage).
    package var opensRefused = 0
    /// Stores used again after injected errors were cleared.
    package var reopenedAfterFaults = 0
    /// Group writes holding several writers' batches.
    package var multiWriterGroups = 0
    /// Power losses that struck while a group write of several writers' batches was not yet
    /// synced (its sectors kept, dropped, torn or reordered by the loss).
    package var multiWriterGroupCrashes = 0
    /// Writes to several streams in one call (`store.write([StreamWrite])`) attempted.
    package var multiStreamWrites = 0
    /// Of them, those acknowledged, and those refused for a wrong expected version.
    package var multiStreamAcknowledged = 0
    package var multiStreamRefused = 0
    /// Power losses that struck while a write to several streams was not yet synced, or kills
    /// while one was in flight (attempted, not yet answered).
    package var multiStreamCrashes = 0
    /// Writes failed by a failed sync (whose pages the modelled kernel dropped) or a full disk,
    /// then checked absent from every read in the same boot.
    package var failedWritesCheckedAbsent = 0
    /// Stores that took writes again after a full disk was cleared, without a restart.
    package var writableAgainWithoutRestart = 0
    /// Subscription acknowledgements that returned (fault harness: between the workload's steps;
    /// subscription kill harness: by consumer processes).
    package var subscriptionAcks = 0
    /// Recovered subscription positions checked against the acknowledgements (fault harness).
    package var subscriptionChecks = 0
    /// Power losses that struck while an acknowledgement was in flight (fault harness).
    package var subscriptionAckCrashes = 0
    /// Events written while consumers ran (subscription kill harness).
    package var eventsWritten = 0
    /// Events delivered to consumers, and of them those delivered again (at least once: an event
    /// after the last acknowledged position comes again after a kill).
    package var subscriptionDeliveries = 0
    package var subscriptionRedeliveries = 0
    /// Consumers killed before they held the name, and while an acknowledgement was in flight
    /// (asked for, not yet returned).
    package var subscriptionKillsBeforeHold = 0
    package var subscriptionKillsDuringAck = 0
    /// `subscriptionBusy` answers to a second consumer of a held name.
    package var subscriptionBusy = 0
    /// Acknowledgements of a filtered subscription that moved its position past filtered-out events.
    package var subscriptionFilteredSkips = 0
    /// Takeovers of a name by a waiting consumer after its holder was killed, and how long each
    /// took (from the SIGKILL to the survivor holding the name), in microseconds.
    package var subscriptionTakeovers = 0
    package var subscriptionTakeoverMicroseconds: [Int] = []
    /// Lifecycle changes (delete, tombstone, truncate, retention) and `compact()` calls that
    /// returned (compaction harness), and the events those compactions removed.
    package var lifecycleChanges = 0
    package var compactions = 0
    package var eventsRemoved = 0
    /// Power losses that struck while a `compact()` was in flight, and while a lifecycle change was.
    package var compactionCrashes = 0
    package var lifecycleChangeCrashes = 0
    /// Recovered stores checked whose retention (`Options.retention`) had raised the floor.
    package var floorChecks = 0
    /// Of those, the ones whose retention had removed segments (their files unlinked).
    package var removalChecks = 0
    /// Steps whose outcome a check did not know (in flight at a power loss, failed by an injected
    /// error, or `.buffered` and not yet synced): each combination of them was tried against the model.
    package var uncertainSteps = 0
    package var failures = 0

    package init() {}

    package mutating func record(_ crash: CrashRecord, inRecovery: Bool) {
        powerLosses += 1
        if inRecovery { powerLossesInRecovery += 1 }
        let site = crash.operation.map { "\($0) on \(crash.fileKind?.rawValue ?? "?")" } ?? "between operations"
        crashSites[site, default: 0] += 1
        lossModes[crash.mode.rawValue, default: 0] += 1
        unsyncedUnitsDropped += crash.droppedUnits
        unsyncedUnitsKept += crash.keptUnits
        tornSectors += crash.tornSectors
        reorderedUnits += crash.reorderedUnits
    }

    /// Counts `event` if it concerns a write to several streams; `history` has applied it.
    package mutating func countMultiStream(_ event: HistoryEvent, in history: History) {
        switch event {
        case .unitAttempt: multiStreamWrites += 1
        case .unitAcknowledged: multiStreamAcknowledged += 1
        case .rejected(let operation) where history.writes[operation]?.isMultiStream == true: multiStreamRefused += 1
        default: break
        }
    }

    package mutating func merge(_ other: HarnessCounters) {
        rounds += other.rounds
        operations += other.operations
        acknowledgedWrites += other.acknowledgedWrites
        recoveries += other.recoveries
        powerLosses += other.powerLosses
        powerLossesInRecovery += other.powerLossesInRecovery
        processKills += other.processKills
        processKillsInRecovery += other.processKillsInRecovery
        crashSites.merge(other.crashSites, uniquingKeysWith: +)
        lossModes.merge(other.lossModes, uniquingKeysWith: +)
        unsyncedUnitsDropped += other.unsyncedUnitsDropped
        unsyncedUnitsKept += other.unsyncedUnitsKept
        tornSectors += other.tornSectors
        reorderedUnits += other.reorderedUnits
        faults.merge(other.faults, uniquingKeysWith: +)
        damage.merge(other.damage, uniquingKeysWith: +)
        bytesDamaged += other.bytesDamaged
        bitsFlipped += other.bitsFlipped
        damageReported += other.damageReported
        opensRefused += other.opensRefused
        reopenedAfterFaults += other.reopenedAfterFaults
        multiWriterGroups += other.multiWriterGroups
        multiWriterGroupCrashes += other.multiWriterGroupCrashes
        multiStreamWrites += other.multiStreamWrites
        multiStreamAcknowledged += other.multiStreamAcknowledged
        multiStreamRefused += other.multiStreamRefused
        multiStreamCrashes += other.multiStreamCrashes
        failedWritesCheckedAbsent += other.failedWritesCheckedAbsent
        writableAgainWithoutRestart += other.writableAgainWithoutRestart
        subscriptionAcks += other.subscriptionAcks
        subscriptionChecks += other.subscriptionChecks
        subscriptionAckCrashes += other.subscriptionAckCrashes
        eventsWritten += other.eventsWritten
        subscriptionDeliveries += other.subscriptionDeliveries
        subscriptionRedeliveries += other.subscriptionRedeliveries
        subscriptionBusy += other.subscriptionBusy
        subscriptionKillsBeforeHold += other.subscriptionKillsBeforeHold
        subscriptionKillsDuringAck += other.subscriptionKillsDuringAck
        subscriptionFilteredSkips += other.subscriptionFilteredSkips
        subscriptionTakeovers += other.subscriptionTakeovers
        subscriptionTakeoverMicroseconds += other.subscriptionTakeoverMicroseconds
        lifecycleChanges += other.lifecycleChanges
        compactions += other.compactions
        eventsRemoved += other.eventsRemoved
        compactionCrashes += other.compactionCrashes
        lifecycleChangeCrashes += other.lifecycleChangeCrashes
        floorChecks += other.floorChecks
        removalChecks += other.removalChecks
        uncertainSteps += other.uncertainSteps
        failures += other.failures
    }

    /// The counts as `name value` lines; nested counts as `name[key] value`. Zero counts are left out.
    package var lines: [String] {
        var lines: [String] = []
        func add(_ name: String, _ value: Int) { if value != 0 { lines.append("\(name) \(value)") } }
        add("rounds", rounds)
        add("operations", operations)
        add("acknowledged_writes", acknowledgedWrites)
        add("recoveries", recoveries)
        add("power_losses", powerLosses)
        add("power_losses_in_recovery", powerLossesInRecovery)
        add("process_kills", processKills)
        add("process_kills_in_recovery", processKillsInRecovery)
        for (key, value) in crashSites.sorted(by: { $0.key < $1.key }) { add("crash_site[\(key)]", value) }
        for (key, value) in lossModes.sorted(by: { $0.key < $1.key }) { add("loss_mode[\(key)]", value) }
        add("unsynced_units_dropped", unsyncedUnitsDropped)
        add("unsynced_units_kept", unsyncedUnitsKept)
        add("torn_sectors", tornSectors)
        add("reordered_units", reorderedUnits)
        for (key, value) in faults.sorted(by: { $0.key < $1.key }) { add("fault[\(key)]", value) }
        add("reopened_after_faults", reopenedAfterFaults)
        add("multi_writer_groups", multiWriterGroups)
        add("multi_writer_group_crashes", multiWriterGroupCrashes)
        add("multi_stream_writes", multiStreamWrites)
        add("multi_stream_acknowledged", multiStreamAcknowledged)
        add("multi_stream_refused", multiStreamRefused)
        add("multi_stream_crashes", multiStreamCrashes)
        add("failed_writes_checked_absent", failedWritesCheckedAbsent)
        add("writable_again_without_restart", writableAgainWithoutRestart)
        add("events_written", eventsWritten)
        add("subscription_deliveries", subscriptionDeliveries)
        add("subscription_redeliveries", subscriptionRedeliveries)
        add("subscription_acks", subscriptionAcks)
        add("subscription_checks", subscriptionChecks)
        add("subscription_ack_crashes", subscriptionAckCrashes)
        add("subscription_filtered_skips", subscriptionFilteredSkips)
        add("subscription_kills_before_hold", subscriptionKillsBeforeHold)
        add("subscription_kills_during_ack", subscriptionKillsDuringAck)
        add("subscription_busy", subscriptionBusy)
        add("subscription_takeovers", subscriptionTakeovers)
        if !subscriptionTakeoverMicroseconds.isEmpty {
            let sorted = subscriptionTakeoverMicroseconds.sorted()
            lines.append("subscription_takeover_us[min] \(sorted.first!)")
            lines.append("subscription_takeover_us[median] \(sorted[sorted.count / 2])")
            lines.append("subscription_takeover_us[max] \(sorted.last!)")
        }
        add("lifecycle_changes", lifecycleChanges)
        add("compactions", compactions)
        add("events_removed", eventsRemoved)
        add("compaction_crashes", compactionCrashes)
        add("lifecycle_change_crashes", lifecycleChangeCrashes)
        add("recoveries_with_a_floor", floorChecks)
        add("recoveries_with_removed_segments", removalChecks)
        add("uncertain_steps", uncertainSteps)
        for (key, value) in damage.sorted(by: { $0.key < $1.key }) { add("damage[\(key)]", value) }
        add("bytes_damaged", bytesDamaged)
        add("bits_flipped", bitsFlipped)
        add("damage_reported", damageReported)
        add("opens_refused", opensRefused)
        lines.append("failures \(failures)")
        return lines
    }

    /// Parses `lines` back (to add up the summaries of several runs).
    package init(lines: [String]) {
        self.init()
        for line in lines {
            guard let space = line.lastIndex(of: " "), let value = Int(line[line.index(after: space)...]) else {
                continue
            }
            let name = String(line[..<space])
            if let open = name.firstIndex(of: "["), name.hasSuffix("]") {
                let key = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
                switch name[..<open] {
                case "crash_site": crashSites[key, default: 0] += value
                case "loss_mode": lossModes[key, default: 0] += value
                case "fault": faults[key, default: 0] += value
                case "damage": damage[key, default: 0] += value
                // The figures of one run come back exactly; several runs' give their extremes.
                case "subscription_takeover_us": subscriptionTakeoverMicroseconds.append(value)
                default: break
                }
                continue
            }
            switch name {
            case "rounds": rounds += value
            case "operations": operations += value
            case "acknowledged_writes": acknowledgedWrites += value
            case "recoveries": recoveries += value
            case "power_losses": powerLosses += value
            case "power_losses_in_recovery": powerLossesInRecovery += value
            case "process_kills": processKills += value
            case "process_kills_in_recovery": processKillsInRecovery += value
            case "unsynced_units_dropped": unsyncedUnitsDropped += value
            case "unsynced_units_kept": unsyncedUnitsKept += value
            case "torn_sectors": tornSectors += value
            case "reordered_units": reorderedUnits += value
            case "reopened_after_faults": reopenedAfterFaults += value
            case "multi_writer_groups": multiWriterGroups += value
            case "multi_writer_group_crashes": multiWriterGroupCrashes += value
            case "multi_stream_writes": multiStreamWrites += value
            case "multi_stream_acknowledged": multiStreamAcknowledged += value
            case "multi_stream_refused": multiStreamRefused += value
            case "multi_stream_crashes": multiStreamCrashes += value
            case "failed_writes_checked_absent": failedWritesCheckedAbsent += value
            case "writable_again_without_restart": writableAgainWithoutRestart += value
            case "events_written": eventsWritten += value
            case "subscription_deliveries": subscriptionDeliveries += value
            case "subscription_redeliveries": subscriptionRedeliveries += value
            case "subscription_acks": subscriptionAcks += value
            case "subscription_checks": subscriptionChecks += value
            case "subscription_ack_crashes": subscriptionAckCrashes += value
            case "subscription_filtered_skips": subscriptionFilteredSkips += value
            case "subscription_busy": subscriptionBusy += value
            case "subscription_kills_before_hold": subscriptionKillsBeforeHold += value
            case "subscription_kills_during_ack": subscriptionKillsDuringAck += value
            case "subscription_takeovers": subscriptionTakeovers += value
            case "lifecycle_changes": lifecycleChanges += value
            case "compactions": compactions += value
            case "events_removed": eventsRemoved += value
            case "compaction_crashes": compactionCrashes += value
            case "lifecycle_change_crashes": lifecycleChangeCrashes += value
            case "recoveries_with_a_floor": floorChecks += value
            case "recoveries_with_removed_segments": removalChecks += value
            case "uncertain_steps": uncertainSteps += value
            case "bytes_damaged": bytesDamaged += value
            case "bits_flipped": bitsFlipped += value
            case "damage_reported": damageReported += value
            case "opens_refused": opensRefused += value
            case "failures": failures += value
            default: break
            }
        }
    }
}
