/// One target against the figure reached: the log engine's (BENCHMARKS.md, "Targets (log engine,
/// same run)") and the PostgreSQL store's (POSTGRES.md, "Measured", with the aims against its peer).
struct TargetCheck: Sendable {
    /// The store the target is for: `.log` or `.postgres`.
    let store: StoreKind
    let workload: Workload
    let text: String
    /// The figure reached, as a reader would quote it.
    let reached: String
    /// `nil` when the figure was not measured in this run.
    let isMet: Bool?

    var status: String {
        switch isMet {
        case .some(true): return "met"
        case .some(false): return "missed"
        case .none: return "not measured"
        }
    }

    /// The targets of `store` that the report shows: those of the workloads the run measured on it.
    static func shown(_ run: BenchmarkRun, store: StoreKind) -> [TargetCheck] {
        evaluate(run).filter { check in
            check.store == store
                && run.results.contains { $0.workload == check.workload && $0.store == store && $0.exclusion == nil }
        }
    }

    /// Every target, checked against `run`.
    static func evaluate(_ run: BenchmarkRun) -> [TargetCheck] {
        logTargets(run) + postgresTargets(run)
    }

    private static func logTargets(_ run: BenchmarkRun) -> [TargetCheck] {
        let rows = run.comparisons
        func row(_ workload: Workload, _ key: String) -> Comparison? {
            rows.first { $0.workload == workload && $0.figure.key == key }
        }
        func ratioTarget(_ workload: Workload, _ key: String, _ text: String, met: (Double) -> Bool) -> TargetCheck {
            guard let comparison = row(workload, key), let ratio = comparison.ratio else {
                return TargetCheck(store: .log, workload: workload, text: text, reached: "n/a", isMet: nil)
            }
            let reached =
                "\(Format.ratio(ratio)) (log \(Format.value(comparison.log, unit: comparison.figure.unit)), "
                + "SQLite \(Format.value(comparison.sqlite, unit: comparison.figure.unit)) \(comparison.figure.unit))"
            return TargetCheck(store: .log, workload: workload, text: text, reached: reached, isMet: met(ratio))
        }
        func logTarget(_ workload: Workload, _ key: String, _ text: String, met: (Double) -> Bool) -> TargetCheck {
            guard let comparison = row(workload, key), let value = comparison.log else {
                let reason = row(workload, key)?.note.map { "n/a: \($0)" } ?? "n/a"
                return TargetCheck(store: .log, workload: workload, text: text, reached: reason, isMet: nil)
            }
            let unit = comparison.figure.unit
            let reached = unit == "x" ? Format.ratio(value) : "\(Format.value(value, unit: unit)) \(unit)"
            return TargetCheck(store: .log, workload: workload, text: text, reached: reached, isMet: met(value))
        }
        /// A ratio of the log's figure to the machine's reference (issue 17), both of one run.
        func machineTarget(
            _ workload: Workload, _ ratioKey: String, log logKey: String, reference referenceKey: String,
            _ reference: String, _ text: String, met: (Double) -> Bool
        ) -> TargetCheck {
            let result = run.result(workload, .log)
            guard let ratio = result?.value(ratioKey), let log = result?.figure(logKey),
                let machine = result?.figure(referenceKey)
            else {
                let reason = run.durability == .fsync ? "n/a" : "n/a: the reference is measured under .fsync only"
                return TargetCheck(store: .log, workload: workload, text: text, reached: reason, isMet: nil)
            }
            let reached =
                "\(Format.ratio(ratio)) (log \(Format.value(log.value, unit: log.unit)), \(reference) "
                + "\(Format.value(machine.value, unit: machine.unit)) \(machine.unit))"
            return TargetCheck(store: .log, workload: workload, text: text, reached: reached, isMet: met(ratio))
        }
        let largest =
            run.results.first { $0.workload == .w8 && $0.store == .log }?
            .figures.last { $0.key.hasPrefix("replay_peak_rss_mb_") }?.key ?? "replay_peak_rss_mb_10M"
        let growth = largest.replacingOccurrences(of: "replay_peak_rss_mb_", with: "")
        /// Adds the anonymous part to the resident figure: mapped file pages count as resident too.
        func memoryTarget(_ check: TargetCheck) -> TargetCheck {
            let anonymousKey = largest.replacingOccurrences(of: "_rss_", with: "_anon_")
            guard check.isMet != nil, let anonymous = row(.w8, anonymousKey)?.log else { return check }
            return TargetCheck(
                store: .log, workload: check.workload, text: check.text,
                reached: check.reached + " (VmHWM; of which anonymous memory at most \(Format.fixed(anonymous, 1)) MB, "
                    + "the rest pages of mapped files)",
                isMet: check.isMet)
        }
        return [
            ratioTarget(.w1, "write_events_per_s", "W1 write ≥ 10× SQLite") { $0 >= 10 },
            ratioTarget(.w1, "replay_events_per_s", "W1 replay ≥ 5× SQLite") { $0 >= 5 },
            ratioTarget(.w1, "bytes_per_event", "W1 bytes per event ≤ 1/3 of SQLite's") { $0 <= 1.0 / 3.0 },
            logTarget(.w1, "write_events_per_s", "W1 write ≥ 2,000,000 events/s") { $0 >= 2_000_000 },
            logTarget(.w1, "replay_events_per_s", "W1 replay ≥ 8,000,000 events/s") { $0 >= 8_000_000 },
            machineTarget(
                .w1, "write_over_c_loop", log: "write_events_per_s", reference: "c_loop_write_events_per_s", "C loop",
                "W1 write ≥ 0.8× the C loop (issue 17)"
            ) { $0 >= 0.8 },
            machineTarget(
                .w1, "replay_over_c_loop", log: "replay_events_per_s", reference: "c_loop_scan_events_per_s",
                "C loop scan", "W1 replay ≥ 0.8× the C loop's scan (issue 17)"
            ) { $0 >= 0.8 },
            machineTarget(
                .w1, "replay_over_c_loop", log: "replay_events_per_s", reference: "c_loop_scan_events_per_s",
                "C loop scan", "W1 replay with for try await ≥ 0.5× the C scan (issue 17)"
            ) { $0 >= 0.5 },
            logTarget(.w3, "ratio_64_to_1", "W3 64 writers ≥ 20× the single-writer rate") { $0 >= 20 },
            machineTarget(
                .w3, "writers_1_p50_over_fdatasync", log: "writers_1_p50_us", reference: "fdatasync_p50_us",
                "bare fdatasync", "W3 1-writer p50 ≤ 1.3× a bare fdatasync (issue 17)"
            ) { $0 <= 1.3 },
            logTarget(.w4, "crossprocess_p99_us", "W4 cross-process p99 ≤ 1 ms") { $0 <= 1000 },
            logTarget(.w5, "clean_open_ms", "W5 clean open ≤ 50 ms") { $0 <= 50 },
            logTarget(.w5, "killed_open_ms", "W5 open after a kill ≤ 500 ms") { $0 <= 500 },
            logTarget(.w5, "killed_open_ms", "W5 open after SIGKILL ≤ 10 ms (issue 17)") { $0 <= 10 },
            ratioTarget(.w7, "scanned_events_per_s", "W7 ≥ 10× SQLite (issue 17)") { $0 >= 10 },
            logTarget(.w8, "write_ratio", "W8 write rate at \(growth) within 20% of 1M (ratio ≥ 0.80)") { $0 >= 0.8 },
            logTarget(.w8, "replay_ratio", "W8 replay rate at \(growth) within 20% of 1M (ratio ≥ 0.80)") { $0 >= 0.8 },
            memoryTarget(
                logTarget(.w8, largest, "W8 replay memory ≤ 100 MB (peak resident, \(growth) replay)") { $0 <= 100 }),
            logTarget(
                .w9, "subscription_over_watch",
                "W9 a subscription acknowledging every 1,000 reads ≥ 0.8× a plain watch's rate (issue 14)"
            ) { $0 >= 0.8 },
            logTarget(
                .w11, "write_ratio_during_compaction",
                "W11 write rate during compaction ≥ 0.5× without (issue 15)"
            ) { $0 >= 0.5 },
            logTarget(
                .w11, "retention_write_ratio",
                "W1 write with store retention dropping segments within 10% of without (ratio ≥ 0.9, issue 15)"
            ) { $0 >= 0.9 },
            logTarget(.w12, "typed_over_raw_write", "W12 typed write within 2× of raw (ratio ≥ 0.5, issue 16)") {
                $0 >= 0.5
            },
            logTarget(.w12, "typed_over_raw_replay", "W12 typed replay within 2× of raw (ratio ≥ 0.5, issue 16)") {
                $0 >= 0.5
            },
        ]
    }

    /// POSTGRES.md's targets for the PostgreSQL store, and its aims against the peer.
    private static func postgresTargets(_ run: BenchmarkRun) -> [TargetCheck] {
        let rows = run.comparisons
        func row(_ workload: Workload, _ key: String) -> Comparison? {
            rows.first { $0.workload == workload && $0.figure.key == key }
        }
        func notMeasured(_ workload: Workload, _ key: String, _ text: String) -> TargetCheck {
            let reason = row(workload, key)?.note.map { "n/a: \($0)" } ?? "n/a"
            return TargetCheck(store: .postgres, workload: workload, text: text, reached: reason, isMet: nil)
        }
        func ratioTarget(_ workload: Workload, _ key: String, _ text: String, met: (Double) -> Bool) -> TargetCheck {
            guard let comparison = row(workload, key), let ratio = comparison.postgresRatio else {
                return notMeasured(workload, key, text)
            }
            let unit = comparison.figure.unit
            let reached =
                "\(Format.ratio(ratio)) (PostgreSQL \(Format.value(comparison.postgres, unit: unit)), "
                + "SQLite \(Format.value(comparison.sqlite, unit: unit)) \(unit))"
            return TargetCheck(store: .postgres, workload: workload, text: text, reached: reached, isMet: met(ratio))
        }
        func valueTarget(_ workload: Workload, _ key: String, _ text: String, met: (Double) -> Bool) -> TargetCheck {
            guard let comparison = row(workload, key), let value = comparison.postgres else {
                return notMeasured(workload, key, text)
            }
            let unit = comparison.figure.unit
            let reached = unit == "x" ? Format.ratio(value) : "\(Format.value(value, unit: unit)) \(unit)"
            return TargetCheck(store: .postgres, workload: workload, text: text, reached: reached, isMet: met(value))
        }
        func peerAim(_ key: String, aim: Double) -> TargetCheck {
            let peer = PostgresPeer.reference(key)
            let text =
                "\(peer.ours) ≥ \(Format.ratio(aim)) the peer's \(Format.grouped(peer.eventsPerSecond)) events/s "
                + "(≥ \(Format.grouped(peer.eventsPerSecond * aim)))"
            guard let value = row(peer.workload, key)?.postgres else { return notMeasured(peer.workload, key, text) }
            let reached =
                "\(Format.grouped(value)) events/s, \(Format.ratio(value / peer.eventsPerSecond)) the peer's"
            return TargetCheck(
                store: .postgres, workload: peer.workload, text: text, reached: reached,
                isMet: value >= peer.eventsPerSecond * aim)
        }
        return [
            ratioTarget(.w1, "write_events_per_s", "W1 write ≥ 0.3× SQLite") { $0 >= 0.3 },
            ratioTarget(.w1, "replay_events_per_s", "W1 replay ≥ 0.3× SQLite") { $0 >= 0.3 },
            valueTarget(.w3, "ratio_64_to_1", "W3 64 writers ≥ 10× the single-writer rate") { $0 >= 10 },
            valueTarget(.w4, "crossprocess_p99_us", "W4 cross-process p99 ≤ 10 ms") { $0 <= 10_000 },
            peerAim("write_events_per_s", aim: PostgresPeer.writeAim),
            peerAim("writers_8_events_per_s", aim: PostgresPeer.eightWritersAim),
        ]
    }
}
